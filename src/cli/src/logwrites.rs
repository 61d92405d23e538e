//! `dm-remap replay-log`: list and replay a dm-log-writes log, like
//! xfstests' src/log-writes/replay-log, for crash-consistency tests.
//!
//! On-disk format (drivers/md/dm-log-writes.c).  `ss` is the super's
//! `sectorsize`: the logical block size of the logged device.  All
//! integers are little-endian, and every unit below is `ss` bytes, not 512:
//! the kernel stores `bio_to_dev_sectors()` values in the entries and
//! advances `next_sector` by `dev_to_bio_sectors()` of them.
//!
//! ```text
//! byte 0        super: magic u64, version u64, nr_entries u64,
//!               sectorsize u32 (+4 bytes of struct padding, not zeroed),
//!               zero-filled to ss bytes
//! byte ss       entry 0
//! entry at P    header block of ss bytes: sector u64, nr_sectors u64,
//!               flags u64, data_len u64, then for MARK entries the
//!               data_len bytes of mark text, then zeros
//!               P + ss: nr_sectors * ss bytes of data, except for DISCARD
//!               entries, which carry none
//! next entry    P + ss + (DISCARD ? 0 : nr_sectors * ss)
//! ```
//!
//! `data_len` never moves the next entry: a mark's text lives inside its
//! header block (the kernel caps it at ss - 33 bytes), and the kernel's
//! `next_sector` only counts `nr_sectors`.  A write goes to target byte
//! `sector * ss`.  `nr_entries` is only rewritten on FUA and MARK entries
//! (and by the end mark at teardown), so any entries after it are ignored,
//! as replay-log does.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const MAGIC: u64 = 0x6a736677736872; // bytes on disk: "rhswfsj\0"
pub const VERSION: u64 = 1;
pub const FLUSH: u64 = 1 << 0;
pub const FUA: u64 = 1 << 1;
pub const DISCARD: u64 = 1 << 2;
pub const MARK: u64 = 1 << 3;
pub const METADATA: u64 = 1 << 4;

/// Size of `struct log_write_entry`.
const ENTRY_HEADER: usize = 32;
/// Chunk size for copying data and writing zeros, so a huge entry (a
/// whole-device discard from mkfs) never needs a huge buffer.
const CHUNK: usize = 1 << 20;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// dm-log-writes log device or image file.
    #[arg(long)]
    log: PathBuf,
    /// Device or image to replay onto (must exist; written in place).
    #[arg(
        long,
        required_unless_present_any = ["list", "fua_points"],
        conflicts_with_all = ["list", "fua_points"]
    )]
    target: Option<PathBuf>,
    /// Stop after entry N (counted from 0, inclusive).
    #[arg(long, value_name = "N", conflicts_with = "until_mark")]
    until_entry: Option<u64>,
    /// Stop after the first MARK entry with this text.
    #[arg(long, value_name = "NAME")]
    until_mark: Option<String>,
    /// Print one line per entry: index sector nr_sectors flags [mark]
    /// (sector and nr_sectors in the log's sectorsize units); no replay.
    #[arg(long, conflicts_with_all = ["until_entry", "until_mark", "fua_points"])]
    list: bool,
    /// Print the indices of FLUSH or FUA entries, one per line: the points
    /// a crash test replays to; no replay.
    #[arg(long, conflicts_with_all = ["until_entry", "until_mark"])]
    fua_points: bool,
}

/// One log entry, with where its data is in the log.
pub struct Entry {
    pub sector: u64,
    pub nr_sectors: u64,
    pub flags: u64,
    /// Mark text (MARK entries only).
    pub mark: Option<String>,
    /// Byte offset of the entry's data in the log.
    data_pos: u64,
}

/// A log whose layout has been checked from the super to the last entry.
pub struct Log {
    file: File,
    sectorsize: u64,
    entries: Vec<Entry>,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

impl Log {
    /// Reads the super and walks every entry header, so a bad or truncated
    /// log is refused before anything is written to the target.
    pub fn open(path: &Path) -> Result<Log, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Seeking to the end sizes block devices too (their metadata
        // length is 0).
        let len = (&file)
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let read = |at: u64, buf: &mut [u8], what: &str| -> Result<(), String> {
            let end = at.checked_add(buf.len() as u64);
            if end.is_none_or(|end| end > len) {
                return Err(format!(
                    "log truncated: {what} at byte {at} needs {} bytes, the log has {len}",
                    buf.len()
                ));
            }
            file.read_exact_at(buf, at)
                .map_err(|e| format!("reading {what} at byte {at}: {e}"))
        };

        // Only the first 28 bytes of the super are fields; the compiler's
        // padding after `sectorsize` is not initialised by the kernel.
        let mut sup = [0u8; 28];
        read(0, &mut sup, "super")?;
        let magic = u64_at(&sup, 0);
        if magic != MAGIC {
            return Err(format!(
                "bad magic {magic:#x} (want {MAGIC:#x}): not a dm-log-writes log"
            ));
        }
        let version = u64_at(&sup, 8);
        if version != VERSION {
            return Err(format!(
                "unsupported log version {version} (want {VERSION})"
            ));
        }
        let nr_entries = u64_at(&sup, 16);
        let sectorsize = u64::from(u32::from_le_bytes([sup[24], sup[25], sup[26], sup[27]]));
        // A logical block size: a power of two from 512 to the kernel's
        // BLK_MAX_BLOCK_SIZE (64 KiB).
        if !sectorsize.is_power_of_two() || !(512..=65536).contains(&sectorsize) {
            return Err(format!("bad sectorsize {sectorsize} in the log super"));
        }

        let ss = sectorsize as usize;
        let mut block = vec![0u8; ss];
        let mut entries = Vec::new();
        let mut pos = sectorsize; // the super fills block 0
        for index in 0..nr_entries {
            read(pos, &mut block, &format!("entry {index}"))?;
            let sector = u64_at(&block, 0);
            let nr_sectors = u64_at(&block, 8);
            let flags = u64_at(&block, 16);
            let data_len = u64_at(&block, 24);
            let bad = |why: &str| format!("malformed entry {index} at byte {pos}: {why}");
            // The kernel never logs a write of no sectors without a flag:
            // an all-zero header means we are not reading a header.
            if flags == 0 && nr_sectors == 0 {
                return Err(bad("empty header"));
            }
            let mark = if flags & MARK != 0 {
                let text = usize::try_from(data_len)
                    .ok()
                    .and_then(|n| block.get(ENTRY_HEADER..ENTRY_HEADER.checked_add(n)?))
                    .ok_or_else(|| bad(&format!("mark length {data_len}")))?;
                let text = text.split(|&b| b == 0).next().unwrap_or_default();
                Some(String::from_utf8_lossy(text).into_owned())
            } else {
                // write_metadata() zero-fills the block after the header.
                if block[ENTRY_HEADER..].iter().any(|&b| b != 0) {
                    return Err(bad("bytes after the header are not zero"));
                }
                None
            };
            // Checked here so that replay() can compute plainly.
            let bytes = nr_sectors
                .checked_mul(sectorsize)
                .filter(|&b| {
                    sector
                        .checked_mul(sectorsize)
                        .and_then(|start| start.checked_add(b))
                        .is_some()
                })
                .ok_or_else(|| bad("sector range overflows"))?;
            let data_pos = pos + sectorsize;
            // Discards log only their range, no data.
            let data = if flags & DISCARD != 0 { 0 } else { bytes };
            let next = data_pos
                .checked_add(data)
                .ok_or_else(|| bad("data overflows"))?;
            if next > len {
                return Err(format!(
                    "log truncated: entry {index} data at byte {data_pos} needs {data} bytes, the log has {len}"
                ));
            }
            entries.push(Entry {
                sector,
                nr_sectors,
                flags,
                mark,
                data_pos,
            });
            pos = next;
        }
        Ok(Log {
            file,
            sectorsize,
            entries,
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Replays entries `0..=last` onto `target`.
    fn replay(&self, target: &File, last: usize) -> Result<(), String> {
        let mut buf = vec![0u8; CHUNK];
        for (index, entry) in self.entries[..=last].iter().enumerate() {
            let mut offset = entry.sector * self.sectorsize;
            let mut left = entry.nr_sectors * self.sectorsize;
            let mut from = entry.data_pos;
            let io = |e: std::io::Error| format!("entry {index}: {e}");
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                if entry.flags & DISCARD != 0 {
                    // Discarded blocks read back as zeros (what replay-log
                    // writes when the target cannot discard); a filesystem
                    // that trusts them being zero gets that, and one that
                    // wrongly reads discarded blocks sees no stale data.
                    buf[..n].fill(0);
                } else {
                    self.file.read_exact_at(&mut buf[..n], from).map_err(io)?;
                }
                target.write_all_at(&buf[..n], offset).map_err(io)?;
                offset += n as u64;
                from += n as u64;
                left -= n as u64;
            }
        }
        // The caller mounts or checks the target next; make the replay durable.
        target
            .sync_all()
            .map_err(|e| format!("syncing the target: {e}"))
    }
}

/// `FLUSH|FUA|MARK`, `NONE` for a plain write, unknown bits in hex.
pub fn flags_text(flags: u64) -> String {
    let names = [
        (FLUSH, "FLUSH"),
        (FUA, "FUA"),
        (DISCARD, "DISCARD"),
        (MARK, "MARK"),
        (METADATA, "METADATA"),
    ];
    let mut words: Vec<String> = names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect();
    let unknown = flags & !names.iter().fold(0, |all, (bit, _)| all | bit);
    if unknown != 0 {
        words.push(format!("UNKNOWN.{unknown:#x}"));
    }
    if words.is_empty() {
        "NONE".into()
    } else {
        words.join("|")
    }
}

pub fn run(args: ReplayArgs) -> Result<(), String> {
    let log = Log::open(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let entries = log.entries();
    if args.list {
        for (index, e) in entries.iter().enumerate() {
            let mark = e
                .mark
                .as_deref()
                .map(|m| format!(" {m}"))
                .unwrap_or_default();
            println!(
                "{index} {} {} {}{mark}",
                e.sector,
                e.nr_sectors,
                flags_text(e.flags)
            );
        }
        return Ok(());
    }
    if args.fua_points {
        for (index, e) in entries.iter().enumerate() {
            if e.flags & (FLUSH | FUA) != 0 {
                println!("{index}");
            }
        }
        return Ok(());
    }

    let last = if let Some(n) = args.until_entry {
        if n >= entries.len() as u64 {
            return Err(format!(
                "--until-entry {n}: the log has {} entries",
                entries.len()
            ));
        }
        n as usize
    } else if let Some(name) = &args.until_mark {
        entries
            .iter()
            .position(|e| e.mark.as_deref() == Some(name))
            .ok_or_else(|| format!("mark '{name}' not found in the log"))?
    } else if entries.is_empty() {
        println!("log has no entries, nothing replayed");
        return Ok(());
    } else {
        entries.len() - 1
    };

    // clap guarantees a target when neither listing option is given.
    let path = args.target.unwrap_or_default();
    // No create: a typo must not make a new file instead of a device.
    let target = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    log.replay(&target, last)?;
    println!(
        "replayed entries 0..={last} of {} onto {}",
        entries.len(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_words() {
        assert_eq!(flags_text(0), "NONE");
        assert_eq!(flags_text(FLUSH | FUA | MARK), "FLUSH|FUA|MARK");
        assert_eq!(flags_text(DISCARD | METADATA), "DISCARD|METADATA");
        assert_eq!(flags_text(FUA | 1 << 7), "FUA|UNKNOWN.0x80");
    }
}
