//! `dm-remap replay-log` tests: build dm-log-writes logs byte for byte the
//! way drivers/md/dm-log-writes.c lays them out (4096- and 512-byte log
//! sectorsize), replay them to several stop points and compare the target
//! with a model, check --list and --fua-points, and refuse damaged logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dm-remap");

const MAGIC: u64 = 0x6a736677736872;
const FLUSH: u64 = 1 << 0;
const FUA: u64 = 1 << 1;
const DISCARD: u64 = 1 << 2;
const MARK: u64 = 1 << 3;
const METADATA: u64 = 1 << 4;

/// Target size in log sectors, and the byte it starts filled with (so that
/// discards, which replay as zeros, are visible).
const TARGET_SECTORS: u64 = 16;
const TARGET_FILL: u8 = 0xEE;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run dm-remap")
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-remap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One logged request: (sector, nr_sectors) in log sectors, flags, mark.
struct Op {
    sector: u64,
    nr_sectors: u64,
    flags: u64,
    mark: &'static str,
}

const fn op(sector: u64, nr_sectors: u64, flags: u64) -> Op {
    Op {
        sector,
        nr_sectors,
        flags,
        mark: "",
    }
}

const fn mark(name: &'static str) -> Op {
    Op {
        sector: 0,
        nr_sectors: 0,
        flags: MARK,
        mark: name,
    }
}

/// What a filesystem on dm-log-writes could produce: writes, a flush, a
/// mark, a FUA overwrite, a discard inside an earlier write, a PREFLUSH|FUA
/// journal commit, and the end mark the target adds at teardown.
const OPS: [Op; 9] = [
    op(2, 1, METADATA),
    op(5, 3, 0),
    op(0, 0, FLUSH),
    mark("mkfs"),
    op(2, 2, FUA),
    op(6, 1, DISCARD),
    op(10, 1, METADATA),
    op(0, 1, FLUSH | FUA),
    mark("dm-log-writes-end"),
];

/// Data of entry `index`: a pattern that differs per entry and per byte.
fn data(index: usize, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (index as u64 * 53 + i * 7 + i / 509) as u8 | 1)
        .collect()
}

/// Writes a log the way the kernel does; `next_sector` is in 512-byte
/// units like `lc->next_sector`.
struct LogBuilder {
    ss: u64,
    image: Vec<u8>,
    next_sector: u64,
    /// Byte offset of each entry's header block.
    positions: Vec<u64>,
}

impl LogBuilder {
    fn new(ss: u64) -> LogBuilder {
        LogBuilder {
            ss,
            image: vec![0; ss as usize],
            // log_writes_ctr(): lc->next_sector = lc->sectorsize >> SECTOR_SHIFT
            next_sector: ss >> 9,
            positions: Vec::new(),
        }
    }

    fn dev_to_bio_sectors(&self, sectors: u64) -> u64 {
        sectors << (self.ss.trailing_zeros() - 9)
    }

    /// log_writes_kthread() + log_one_block().
    fn log(&mut self, index: usize, op: &Op) {
        let sector = self.next_sector;
        if op.flags & DISCARD == 0 {
            self.next_sector += self.dev_to_bio_sectors(op.nr_sectors);
        }
        self.next_sector += self.dev_to_bio_sectors(1);

        let at = (sector * 512) as usize;
        let ss = self.ss as usize;
        self.image.resize((self.next_sector * 512) as usize, 0);
        // write_metadata(): the entry, the mark text, zeros to sectorsize.
        let block = &mut self.image[at..at + ss];
        block[0..8].copy_from_slice(&op.sector.to_le_bytes());
        block[8..16].copy_from_slice(&op.nr_sectors.to_le_bytes());
        block[16..24].copy_from_slice(&op.flags.to_le_bytes());
        block[24..32].copy_from_slice(&(op.mark.len() as u64).to_le_bytes());
        block[32..32 + op.mark.len()].copy_from_slice(op.mark.as_bytes());
        // The bio's pages follow the entry block.
        if op.flags & (DISCARD | MARK) == 0 && op.nr_sectors > 0 {
            let bytes = data(index, op.nr_sectors * self.ss);
            self.image[at + ss..at + ss + bytes.len()].copy_from_slice(&bytes);
        }
        self.positions.push(at as u64);
    }

    /// log_super() with `nr_entries`; the 4 bytes of struct padding after
    /// sectorsize are stack garbage in the kernel.
    fn finish(mut self, nr_entries: u64) -> (Vec<u8>, Vec<u64>) {
        let s = &mut self.image;
        s[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        s[8..16].copy_from_slice(&1u64.to_le_bytes());
        s[16..24].copy_from_slice(&nr_entries.to_le_bytes());
        s[24..28].copy_from_slice(&(self.ss as u32).to_le_bytes());
        s[28..32].copy_from_slice(&[0xAB; 4]);
        (self.image, self.positions)
    }
}

fn build_log(ss: u64, nr_entries: u64) -> (Vec<u8>, Vec<u64>) {
    let mut builder = LogBuilder::new(ss);
    for (index, op) in OPS.iter().enumerate() {
        builder.log(index, op);
    }
    builder.finish(nr_entries)
}

/// The target after replaying entries `0..=last`.
fn model(ss: u64, last: usize) -> Vec<u8> {
    let mut target = vec![TARGET_FILL; (TARGET_SECTORS * ss) as usize];
    for (index, op) in OPS[..=last].iter().enumerate() {
        let at = (op.sector * ss) as usize;
        let len = (op.nr_sectors * ss) as usize;
        if op.flags & DISCARD != 0 {
            target[at..at + len].fill(0);
        } else if op.flags & MARK == 0 {
            target[at..at + len].copy_from_slice(&data(index, len as u64));
        }
    }
    target
}

struct Files {
    log: PathBuf,
    target: PathBuf,
}

fn files(name: &str, log: &[u8]) -> Files {
    let files = Files {
        log: temp_path(&format!("{name}.log")),
        target: temp_path(&format!("{name}.target")),
    };
    std::fs::write(&files.log, log).unwrap();
    files
}

fn fresh_target(path: &Path, ss: u64) {
    std::fs::write(path, vec![TARGET_FILL; (TARGET_SECTORS * ss) as usize]).unwrap();
}

fn replay(f: &Files, stop: &[&str]) -> Output {
    let mut args = vec![
        "replay-log",
        "--log",
        f.log.to_str().unwrap(),
        "--target",
        f.target.to_str().unwrap(),
    ];
    args.extend_from_slice(stop);
    run(&args)
}

fn list(f: &Files, option: &str) -> String {
    let out = run(&["replay-log", "--log", f.log.to_str().unwrap(), option]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Replays with `stop` onto a fresh target and requires it to equal the
/// model after entry `last`.
fn replay_and_compare(f: &Files, ss: u64, stop: &[&str], last: usize) {
    fresh_target(&f.target, ss);
    let out = replay(f, stop);
    assert!(out.status.success(), "{stop:?}: {}", text(&out.stderr));
    let got = std::fs::read(&f.target).unwrap();
    assert!(
        got == model(ss, last),
        "ss {ss}, {stop:?}: target differs from the model after entry {last}"
    );
}

fn replay_log_with_sectorsize(ss: u64) {
    let (log, positions) = build_log(ss, OPS.len() as u64);
    // Hand-computed header blocks, in log sectors: super 0; entry 0 at 1
    // with 1 data sector; 1 at 3 with 3; flush at 7; mark at 8; FUA write
    // at 9 with 2; discard at 12 without data; 13 with 1; 15 with 1; end
    // mark at 17; the log ends at 18.
    let blocks: Vec<u64> = positions.iter().map(|p| p / ss).collect();
    assert_eq!(blocks, [1, 3, 7, 8, 9, 12, 13, 15, 17]);
    assert!(positions.iter().all(|p| p % ss == 0));
    assert_eq!(log.len() as u64, 18 * ss);

    let f = files(&format!("replay-{ss}"), &log);
    assert_eq!(
        list(&f, "--list"),
        "0 2 1 METADATA\n\
         1 5 3 NONE\n\
         2 0 0 FLUSH\n\
         3 0 0 MARK mkfs\n\
         4 2 2 FUA\n\
         5 6 1 DISCARD\n\
         6 10 1 METADATA\n\
         7 0 1 FLUSH|FUA\n\
         8 0 0 MARK dm-log-writes-end\n"
    );
    assert_eq!(list(&f, "--fua-points"), "2\n4\n7\n");

    for last in [0, 1, 2, 4, 5, 7, 8] {
        replay_and_compare(&f, ss, &["--until-entry", &last.to_string()], last);
    }
    replay_and_compare(&f, ss, &["--until-mark", "mkfs"], 3);
    replay_and_compare(&f, ss, &["--until-mark", "dm-log-writes-end"], 8);
    replay_and_compare(&f, ss, &[], 8);

    // Spot checks written out by hand, independent of the model: after
    // entry 5, sector 5 holds entry 1's first sector, sector 6 (discarded)
    // is zero, sector 7 holds entry 1's last sector, sectors 2-3 hold
    // entry 4 and sector 4 was never written.
    fresh_target(&f.target, ss);
    assert!(replay(&f, &["--until-entry", "5"]).status.success());
    let got = std::fs::read(&f.target).unwrap();
    let s = |n: u64| &got[(n * ss) as usize..((n + 1) * ss) as usize];
    let entry1 = data(1, 3 * ss);
    let entry4 = data(4, 2 * ss);
    assert_eq!(s(5), &entry1[..ss as usize]);
    assert!(s(6).iter().all(|&b| b == 0));
    assert_eq!(s(7), &entry1[2 * ss as usize..]);
    assert_eq!(s(2), &entry4[..ss as usize]);
    assert_eq!(s(3), &entry4[ss as usize..]);
    assert!(s(4).iter().all(|&b| b == TARGET_FILL));
    assert!(s(10).iter().all(|&b| b == TARGET_FILL));
}

#[test]
fn replay_log_4096_byte_sectors() {
    replay_log_with_sectorsize(4096);
}

#[test]
fn replay_log_512_byte_sectors() {
    replay_log_with_sectorsize(512);
}

/// The kernel rewrites nr_entries only on FUA and MARK entries, so a log
/// can hold more entries than its super counts: those are not replayed.
#[test]
fn entries_past_nr_entries_are_ignored() {
    let ss = 4096;
    let (log, _) = build_log(ss, 5);
    let f = files("short-count", &log);
    assert_eq!(list(&f, "--list").lines().count(), 5);
    assert_eq!(list(&f, "--fua-points"), "2\n4\n");
    replay_and_compare(&f, ss, &[], 4);
    // A log device is larger than its log: zeros follow the last entry.
    let mut padded = log.clone();
    padded.resize(padded.len() + 64 * 4096, 0);
    std::fs::write(&f.log, &padded).unwrap();
    replay_and_compare(&f, ss, &[], 4);
}

/// Runs a replay on a damaged log and returns its stderr, requiring
/// failure and an untouched target.
fn refused(name: &str, log: &[u8], ss: u64, stop: &[&str]) -> String {
    let f = files(name, log);
    fresh_target(&f.target, ss);
    let out = replay(&f, stop);
    assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
    // The whole log is checked before the first write.
    let target = std::fs::read(&f.target).unwrap();
    assert!(
        target.iter().all(|&b| b == TARGET_FILL),
        "{name}: target was written"
    );
    text(&out.stderr)
}

#[test]
fn damaged_logs_are_refused() {
    for ss in [4096u64, 512] {
        let (log, positions) = build_log(ss, OPS.len() as u64);
        let name = |what: &str| format!("{what}-{ss}");

        let mut bad = log.clone();
        bad[0] ^= 0x01;
        let err = refused(&name("magic"), &bad, ss, &[]);
        assert!(err.contains("bad magic"), "{err}");
        // Listing refuses it too.
        let magic_log = std::env::temp_dir()
            .join(format!("dm-remap-cli-{}", std::process::id()))
            .join(format!("{}.log", name("magic")));
        let out = run(&["replay-log", "--log", magic_log.to_str().unwrap(), "--list"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("bad magic"));

        let mut bad = log.clone();
        bad[8] = 2;
        let err = refused(&name("version"), &bad, ss, &[]);
        assert!(err.contains("unsupported log version 2"), "{err}");

        // Cut inside the super, inside entry 4's header block, and inside
        // entry 6's data.
        for (what, cut) in [
            ("super", 20),
            ("header", positions[4] as usize + 10),
            ("data", (positions[6] + ss + 100) as usize),
            ("last-byte", log.len() - 1),
        ] {
            let err = refused(&name(&format!("truncated-{what}")), &log[..cut], ss, &[]);
            assert!(err.contains("log truncated"), "{what}: {err}");
        }

        // An all-zero header where the super promises an entry.
        let mut bad = log.clone();
        let at = positions[3] as usize;
        bad[at..at + ss as usize].fill(0);
        let err = refused(&name("zero-entry"), &bad, ss, &[]);
        assert!(err.contains("malformed entry 3"), "{err}");

        let err = refused(&name("no-mark"), &log, ss, &["--until-mark", "nope"]);
        assert!(err.contains("mark 'nope' not found"), "{err}");
        let err = refused(&name("range"), &log, ss, &["--until-entry", "9"]);
        assert!(err.contains("the log has 9 entries"), "{err}");
    }
}

#[test]
fn option_conflicts() {
    let (log, _) = build_log(512, OPS.len() as u64);
    let f = files("options", &log);
    fresh_target(&f.target, 512);
    let l = f.log.to_str().unwrap();
    let t = f.target.to_str().unwrap();
    for args in [
        vec!["replay-log", "--log", l],
        vec!["replay-log", "--log", l, "--until-entry", "1"],
        vec!["replay-log", "--log", l, "--target", t, "--list"],
        vec!["replay-log", "--log", l, "--list", "--fua-points"],
        vec![
            "replay-log",
            "--log",
            l,
            "--target",
            t,
            "--until-entry",
            "1",
            "--until-mark",
            "mkfs",
        ],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?} accepted");
    }
    // The target must exist: a mistyped device path is not created.
    let missing = temp_path("missing.target");
    let out = run(&[
        "replay-log",
        "--log",
        l,
        "--target",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!missing.exists());
}
