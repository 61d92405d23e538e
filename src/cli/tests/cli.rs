//! CLI tests: format an image, dump it, check it; then corrupt every
//! documented superblock and log field (one case per field, taken from
//! docs/metadata-format.md) and require `check` to fail naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dm_remap_engine::crc32c::crc32c;

const BIN: &str = env!("CARGO_BIN_EXE_dm-remap");
const SPARE_LEN: u64 = 4096;
const MAIN_SIZE: u64 = 65536;
const MAIN_UUID: &str = "11111111-2222-4333-8444-555555555555";
const SPARE_UUID: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run dm-remap")
}

fn temp_image(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-remap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn format_image(path: &Path) {
    let out = run(&[
        "format",
        "--spare",
        path.to_str().unwrap(),
        "--spare-len",
        &SPARE_LEN.to_string(),
        "--main-size",
        &MAIN_SIZE.to_string(),
        "--main-uuid",
        MAIN_UUID,
        "--spare-uuid",
        SPARE_UUID,
        "--log-blocks",
        "16",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(path: &Path) -> Output {
    run(&[
        "check",
        path.to_str().unwrap(),
        "--main-size",
        &MAIN_SIZE.to_string(),
        "--main-uuid",
        MAIN_UUID,
        "--spare-uuid",
        SPARE_UUID,
    ])
}

/// field → (offset, size) from a table of the format document.
fn doc_table(heading: &str) -> BTreeMap<String, (usize, usize)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metadata-format.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut current = String::new();
    let mut table = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            current = line.trim_start_matches('#').trim().to_string();
            continue;
        }
        if current != heading {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 || !cells[1].trim_start_matches('+').starts_with("0x") {
            continue;
        }
        let offset = usize::from_str_radix(
            cells[1].trim_start_matches('+').trim_start_matches("0x"),
            16,
        )
        .unwrap();
        if let Ok(size) = cells[2].parse() {
            table.insert(cells[4].to_string(), (offset, size));
        }
    }
    assert!(!table.is_empty(), "no table '{heading}'");
    table
}

fn get(image: &[u8], at: usize, size: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..size.min(8)].copy_from_slice(&image[at..at + size.min(8)]);
    u64::from_le_bytes(bytes)
}

fn put(image: &mut [u8], at: usize, size: usize, value: u64) {
    image[at..at + size.min(8)].copy_from_slice(&value.to_le_bytes()[..size.min(8)]);
}

fn reseal(image: &mut [u8], block_start: usize) {
    let crc = crc32c(&image[block_start..block_start + 0xFFC]);
    image[block_start + 0xFFC..block_start + 0x1000].copy_from_slice(&crc.to_le_bytes());
}

/// Applies `change` to a copy of `pristine`, re-seals the block unless
/// told not to, runs check and returns its stderr (asserting failure).
fn corrupt_and_check(
    pristine: &[u8],
    name: &str,
    block_start: usize,
    reseal_block: bool,
    change: impl FnOnce(&mut Vec<u8>),
) -> String {
    let mut image = pristine.to_vec();
    change(&mut image);
    if reseal_block {
        reseal(&mut image, block_start);
    }
    let path = temp_image(&format!("corrupt-{name}.img"));
    std::fs::write(&path, &image).unwrap();
    let out = check(&path);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "{name}: check passed on a corrupted image"
    );
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    stderr
}

#[test]
fn format_dump_check_clean() {
    let path = temp_image("clean.img");
    format_image(&path);
    let out = check(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("clean"));

    let out = run(&[
        "debug-apply",
        path.to_str().unwrap(),
        "--write-error",
        "3",
        "--write-error",
        "4",
        "--read-error",
        "7",
        "--fail-spare",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["dump", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "superblock A: valid, generation 0",
        "superblock B: valid, generation 1",
        "main 3 -> spare",
        "main 4 -> spare",
        "pending: 1",
        "bad spares: 1",
        "scanner cursor: 0",
        MAIN_UUID,
    ] {
        assert!(text.contains(needle), "dump lacks '{needle}':\n{text}");
    }
    let out = run(&["dump", path.to_str().unwrap(), "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["remaps"].as_array().unwrap().len(), 2);
    assert_eq!(value["pending"][0], 7);
    assert_eq!(value["superblock"]["generation"], 1);
    assert_eq!(value["superblock"]["main_uuid"], MAIN_UUID);
    assert_eq!(value["superblock"]["layout"]["data_start"], 16 + 16 * 8);
    assert!(check(&path).status.success());

    // Refuses to format over existing metadata without --force.
    let out = run(&[
        "format",
        "--spare",
        path.to_str().unwrap(),
        "--spare-len",
        "4096",
        "--main-size",
        "65536",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not blank"));

    // --force reformats, and nothing of the old log comes back.
    let out = run(&[
        "format",
        "--spare",
        path.to_str().unwrap(),
        "--spare-len",
        "4096",
        "--main-size",
        "65536",
        "--log-blocks",
        "16",
        "--force",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["dump", path.to_str().unwrap(), "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["remaps"].as_array().unwrap().len(), 0, "{value}");
    assert_eq!(value["pending"].as_array().unwrap().len(), 0);
    assert_eq!(value["superblock"]["generation"], 0);
}

#[test]
fn blank_and_foreign_images_are_refused() {
    let path = temp_image("blank.img");
    std::fs::write(&path, vec![0u8; 4096 * 512]).unwrap();
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("blank"));
    let mut foreign = vec![0u8; 4096 * 512];
    foreign[1000] = 0xEB;
    std::fs::write(&path, foreign).unwrap();
    let out = check(&path);
    assert!(String::from_utf8_lossy(&out.stderr).contains("foreign"));
    let out = run(&[
        "format",
        "--spare",
        path.to_str().unwrap(),
        "--spare-len",
        "4096",
        "--main-size",
        "100",
    ]);
    assert!(
        !out.status.success(),
        "foreign data must not be overwritten"
    );
}

/// `format` refuses a region whose superblock slots are zero but whose
/// metadata footprint holds something (here a btrfs superblock at 64 KiB),
/// names where, and leaves the file untouched; `--force` formats it.
#[test]
fn data_beyond_the_superblock_slots_is_not_formatted_over() {
    let path = temp_image("btrfs.img");
    let mut image = vec![0u8; 4096 * 512];
    image[65536 + 64..65536 + 72].copy_from_slice(b"_BHRfS_M");
    std::fs::write(&path, &image).unwrap();
    let format = |force: bool| {
        let mut args = vec![
            "format",
            "--spare",
            path.to_str().unwrap(),
            "--spare-len",
            "4096",
            "--main-size",
            "65536",
            "--log-blocks",
            "16",
        ];
        if force {
            args.push("--force");
        }
        run(&args)
    };
    let out = format(false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("non-zero bytes at sector 128 (metadata log area)")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        std::fs::read(&path).unwrap() == image,
        "a refused format wrote"
    );
    let out = format(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let formatted = std::fs::read(&path).unwrap();
    assert_eq!(&formatted[..8], b"DMRMSUPR");
    assert!(formatted[65536..65536 + 4096].iter().all(|&b| b == 0));
}

#[test]
fn spare_offset_is_honoured() {
    let path = temp_image("offset.img");
    let out = run(&[
        "format",
        "--spare",
        path.to_str().unwrap(),
        "--spare-offset",
        "2048",
        "--spare-len",
        "4096",
        "--main-size",
        "65536",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = std::fs::read(&path).unwrap();
    assert!(image[..2048 * 512].iter().all(|&b| b == 0));
    assert_eq!(&image[2048 * 512..2048 * 512 + 8], b"DMRMSUPR");
    let ok = run(&["check", path.to_str().unwrap(), "--spare-offset", "2048"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&["check", path.to_str().unwrap()]);
    assert!(!bad.status.success());
}

#[test]
fn every_superblock_field_corruption_is_named() {
    let path = temp_image("sb-base.img");
    format_image(&path);
    let pristine = std::fs::read(&path).unwrap();
    let fields = doc_table("Superblock fields");
    let mut covered = Vec::new();
    for (field, &(offset, size)) in &fields {
        let original = get(&pristine, offset, size);
        // (new value or None for special handling, reseal, expected text)
        let (value, reseal_block, expect): (Option<u64>, bool, &str) = match field.as_str() {
            "magic" => (Some(u64::from_le_bytes(*b"NOTMAGIC")), true, "magic"),
            "version" => (Some(2), true, "version"),
            "flags" => (Some(1), true, "flags"),
            "location" => (Some(8), true, "location"),
            "generation" => (Some(1), true, "generation"),
            "main_uuid" | "spare_uuid" => (None, true, field.as_str()),
            "main_sectors" => (Some(original + 8), true, "main_sectors"),
            "spare_offset" => (Some(8), true, "spare_offset"),
            "spare_sectors" => (Some(original * 2), true, "spare_sectors"),
            "block_size" => (Some(1000), true, "block_size"),
            "log_blocks" => (Some(1), true, "log_blocks"),
            "snapshot_entries" => (Some(1 << 40), true, "snapshot_entries"),
            "snapshot_checksum" => (Some(original ^ 1), true, "snapshot_checksum"),
            "reserved" => (None, true, "reserved"),
            "checksum" => (Some(original ^ 1), false, "checksum"),
            // Derived layout fields and snapshot_used_blocks.
            _ => (Some(original + 1), true, field.as_str()),
        };
        let stderr = corrupt_and_check(&pristine, field, 0, reseal_block, |image| match value {
            Some(value) => put(image, offset, size, value),
            None => image[offset + size / 2] ^= 0x5A,
        });
        assert!(
            stderr.contains(expect),
            "corrupting superblock field {field}: message does not name it: {stderr}"
        );
        assert!(stderr.contains("superblock"), "{field}: {stderr}");
        covered.push(field.clone());
    }
    assert_eq!(covered.len(), fields.len());
    assert!(covered.len() >= 24);
}

#[test]
fn every_log_field_corruption_is_named() {
    let path = temp_image("log-base.img");
    format_image(&path);
    let out = run(&[
        "debug-apply",
        path.to_str().unwrap(),
        "--write-error",
        "3",
        "--write-error",
        "4",
        "--read-error",
        "7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pristine = std::fs::read(&path).unwrap();
    assert!(check(&path).status.success());
    // Log block 0 of generation 1 is at sector 16; blocks 1 and 2 follow
    // and are valid, so damage to block 0 cannot be a torn tail.
    let block = 16 * 512;
    let header = doc_table("Log block header");
    for (field, &(offset, size)) in &header {
        let original = get(&pristine, block + offset, size);
        let (value, reseal_block) = match field.as_str() {
            "magic" => (u64::from_le_bytes(*b"NOTALOG1"), true),
            "version" => (7, true),
            "flags" => (original | 4, true),
            "location" => (24, true),
            "generation" => (original + 2, true),
            "index" => (5, true),
            "commit" => (3, true),
            "record_count" => (0, true),
            "reserved" => (1, true),
            "checksum" => (original ^ 1, false),
            other => panic!("no corruption recipe for documented log field {other}"),
        };
        let stderr = corrupt_and_check(
            &pristine,
            &format!("log-{field}"),
            block,
            reseal_block,
            |image| put(image, block + offset, size.min(8), value),
        );
        assert!(
            stderr.contains("log block 0 at sector 16"),
            "{field}: {stderr}"
        );
        assert!(
            stderr.contains(field.as_str()),
            "log field {field} not named: {stderr}"
        );
    }
    let records = doc_table("Log records");
    for (field, &(offset, size)) in &records {
        let at = block + 0x40 + offset;
        let (value, expect) = match field.as_str() {
            "record_main_block" => (1 << 40, "main block"),
            "record_spare_block" => (1 << 40, "spare block"),
            "record_op" => (0x7F, "op"),
            other => panic!("no corruption recipe for documented record field {other}"),
        };
        let stderr = corrupt_and_check(&pristine, field, block, true, |image| {
            put(image, at, size, value)
        });
        assert!(stderr.contains("log record"), "{field}: {stderr}");
        assert!(
            stderr.contains(expect),
            "record field {field} not named: {stderr}"
        );
    }
}
