//! Keeps `docs/metadata-format.md` and the encoder in step: parses the
//! field tables of the document and checks every documented field of
//! blocks the engine wrote for a known state, at the documented offset and
//! size. A field added to the doc without a check here, or checked here but
//! missing from the doc, fails the test.

mod common;

use std::collections::BTreeMap;

use common::*;
use dm_remap_engine::block::compute_checksum;
use dm_remap_engine::crc32c::crc32c;
use dm_remap_engine::{Engine, IoTarget, MemoryRequirements};

const MAIN_SECTORS: u64 = 8 * 1000;
const SPARE_SECTORS: u64 = 2048;

/// field → (offset, size), per documented table (keyed by heading).
type Tables = BTreeMap<String, BTreeMap<String, (usize, usize)>>;

fn parse_doc() -> Tables {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metadata-format.md");
    let text = std::fs::read_to_string(path).expect("docs/metadata-format.md");
    let mut tables = Tables::new();
    let mut heading = String::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            heading = title.trim().to_string();
            continue;
        }
        if let Some(title) = line.strip_prefix("## ") {
            heading = title.trim().to_string();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 {
            continue;
        }
        let offset = cells[1];
        let hex = offset.trim_start_matches('+').trim_start_matches("0x");
        if !offset.trim_start_matches('+').starts_with("0x") {
            continue;
        }
        let offset = usize::from_str_radix(hex, 16).unwrap();
        let Ok(size) = cells[2].parse::<usize>() else {
            continue; // not a field table (e.g. the op table)
        };
        let field = cells[4].to_string();
        let table = tables.entry(heading.clone()).or_default();
        assert!(
            table.insert(field.clone(), (offset, size)).is_none(),
            "{field} twice"
        );
    }
    tables
}

fn le(value: u64, size: usize) -> Vec<u8> {
    value.to_le_bytes()[..size.min(8)].to_vec()
}

fn check(tables: &Tables, heading: &str, block: &[u8], base: usize, expected: &[(&str, Vec<u8>)]) {
    let table = tables
        .get(heading)
        .unwrap_or_else(|| panic!("no table under '### {heading}'"));
    let named: BTreeMap<&str, &Vec<u8>> = expected.iter().map(|(k, v)| (*k, v)).collect();
    let documented: Vec<&str> = table.keys().map(String::as_str).collect();
    let tested: Vec<&str> = named.keys().copied().collect();
    assert_eq!(documented, tested, "fields of '{heading}': doc vs test");
    for (field, &(offset, size)) in table {
        let value = named[field.as_str()];
        let value: Vec<u8> = if value.len() == size {
            value.clone()
        } else {
            assert!(value.iter().all(|&b| b == 0), "{field}: size {size}");
            vec![0; size]
        };
        let start = base + offset;
        assert_eq!(
            &block[start..start + size],
            &value[..],
            "{heading}: field {field} at offset {offset:#x}"
        );
    }
}

fn block_at(image: &[u8], sector: u64) -> &[u8] {
    &image[sector as usize * 512..sector as usize * 512 + 4096]
}

#[test]
fn documented_offsets_match_encoded_blocks() {
    let tables = parse_doc();
    let mut device = MemDevice::new(SPARE_SECTORS);
    let req = MemoryRequirements::for_format(SPARE_SECTORS, params(16)).unwrap();
    let mut memory = Memory::new(req);
    drop(
        Engine::format(
            &mut device,
            memory.engine_memory(),
            binding(MAIN_SECTORS),
            SPARE_SECTORS,
            params(16),
            config(),
        )
        .unwrap(),
    );
    // Generation 1 (slot B) with one commit holding every record op.
    let mut memory = Memory::new(req);
    let mut engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let remap = engine.on_write_error(5, IoTarget::Main, true).unwrap(); // no record yet
    engine.complete_remap(remap).unwrap(); // 0: remap 5 -> s
    engine.on_read_error(9, IoTarget::Main).unwrap(); // 1: pending 9
    engine.on_read_ok(9).unwrap(); // 2: clear 9
    let failed = engine.begin_remap(11, true).unwrap();
    engine.fail_remap(failed, true).unwrap(); // 3: spare-bad
    engine.scan_advance(7).unwrap(); // 4: scanner-cursor 7
    engine
        .on_read_error(5, IoTarget::Spare(remap.spare))
        .unwrap(); // 5: spare-bad s, 6: remap-pending 5 -> s
    engine.commit().unwrap();
    let superblock = *engine.superblock();
    let layout = superblock.layout;
    drop(engine);
    let image = device.durable.clone();

    // Superblock, slot B.
    let sb = block_at(&image, 8);
    assert_eq!(superblock.generation, 1);
    let zero = |n: usize| vec![0u8; n];
    check(
        &tables,
        "Superblock fields",
        sb,
        0,
        &[
            ("magic", b"DMRMSUPR".to_vec()),
            ("version", le(1, 4)),
            ("flags", le(0, 4)),
            ("location", le(8, 8)),
            ("generation", le(1, 8)),
            ("main_uuid", b"main-uuid-000001".to_vec()),
            ("spare_uuid", b"spare-uuid-00001".to_vec()),
            ("main_sectors", le(MAIN_SECTORS, 8)),
            ("spare_offset", le(0, 8)),
            ("spare_sectors", le(SPARE_SECTORS, 8)),
            ("block_size", le(4096, 4)),
            ("log_blocks", le(16, 4)),
            ("log_start", le(16, 8)),
            ("data_start", le(layout.data_start, 8)),
            ("data_blocks", le(layout.data_blocks, 8)),
            ("snapshot_blocks", le(layout.snapshot_blocks, 8)),
            ("snapshot_a_start", le(layout.snapshot_start[0], 8)),
            ("snapshot_b_start", le(layout.snapshot_start[1], 8)),
            ("max_entries", le(layout.max_entries, 8)),
            (
                "snapshot_used_blocks",
                le(superblock.snapshot_used_blocks, 8),
            ),
            ("snapshot_entries", le(0, 8)),
            (
                "snapshot_checksum",
                le(u64::from(superblock.snapshot_checksum), 4),
            ),
            ("reserved", zero(3920)),
            ("checksum", le(u64::from(crc32c(&sb[..0xFFC])), 4)),
        ],
    );
    assert_eq!(layout.data_start, 16 + 16 * 8);

    // Log block 0 of generation 1.
    let log = block_at(&image, 16);
    check(
        &tables,
        "Log block header",
        log,
        0,
        &[
            ("magic", b"DMRMLOG1".to_vec()),
            ("version", le(1, 4)),
            ("flags", le(1, 4)),
            ("location", le(16, 8)),
            ("generation", le(1, 8)),
            ("index", le(0, 8)),
            ("commit", le(0, 8)),
            ("record_count", le(7, 4)),
            ("reserved", zero(12)),
            ("checksum", le(u64::from(crc32c(&log[..0xFFC])), 4)),
        ],
    );
    check(
        &tables,
        "Common block frame",
        log,
        0,
        &[
            ("magic", b"DMRMLOG1".to_vec()),
            ("version", le(1, 4)),
            ("flags", le(1, 4)),
            ("location", le(16, 8)),
            ("generation", le(1, 8)),
            ("checksum", le(u64::from(crc32c(&log[..0xFFC])), 4)),
        ],
    );
    let records: [(u64, u64, u8); 7] = [
        (5, remap.spare, 0x01),
        (9, 0, 0x02),
        (9, 0, 0x10),
        (0, failed.spare, 0x20),
        (7, 0, 0x30),
        (0, remap.spare, 0x20),
        (5, remap.spare, 0x03),
    ];
    for (k, (main, spare, op)) in records.iter().enumerate() {
        check(
            &tables,
            "Log records",
            log,
            0x40 + 16 * k,
            &[
                ("record_main_block", le(*main, 8)),
                ("record_spare_block", le(*spare, 7)),
                ("record_op", vec![*op]),
            ],
        );
    }
    assert!(log[0x40 + 16 * 7..0xFFC].iter().all(|&b| b == 0));

    // Reopen: generation 2 writes a snapshot into area A.
    let mut memory = Memory::new(req);
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let superblock = *engine.superblock();
    drop(engine);
    let image = device.durable.clone();
    assert_eq!(superblock.generation, 2);
    assert_eq!(superblock.snapshot_entries, 1);
    let area = layout.snapshot_start[0];
    let bitmap_words = layout.data_blocks.div_ceil(64);
    let mut set_checksum = dm_remap_engine::crc32c::Crc32c::new();
    for index in 0..3u64 {
        let block = block_at(&image, area + index * 8);
        let (kind, count) = match index {
            0 => (0, 0),
            1 => (1, 1),
            _ => (2, bitmap_words),
        };
        check(
            &tables,
            "Snapshot block header",
            block,
            0,
            &[
                ("magic", b"DMRMSNAP".to_vec()),
                ("version", le(1, 4)),
                ("flags", le(0, 4)),
                ("location", le(area + index * 8, 8)),
                ("generation", le(2, 8)),
                ("index", le(index, 8)),
                ("kind", le(kind, 4)),
                ("count", le(count, 4)),
                ("reserved", zero(16)),
                (
                    "checksum",
                    le(u64::from(compute_checksum(block.try_into().unwrap())), 4),
                ),
            ],
        );
        set_checksum.update(&block[0xFFC..0x1000]);
    }
    assert_eq!(set_checksum.finish(), superblock.snapshot_checksum);
    check(
        &tables,
        "Snapshot info block payload (kind 0)",
        block_at(&image, area),
        0,
        &[
            ("entry_count", le(1, 8)),
            ("info_data_blocks", le(layout.data_blocks, 8)),
            ("scanner_cursor", le(7, 8)),
            ("bitmap_words", le(bitmap_words, 8)),
        ],
    );
    check(
        &tables,
        "Snapshot entry blocks (kind 1)",
        block_at(&image, area + 8),
        0x40,
        &[
            ("entry_main_block", le(5, 8)),
            ("entry_spare_block", le(remap.spare, 7)),
            ("entry_flags", vec![3]),
        ],
    );
    // Bitmap: both failed spares are bad.
    let bitmap = block_at(&image, area + 16);
    let word = u64::from_le_bytes(bitmap[0x40..0x48].try_into().unwrap());
    assert_eq!(word, (1 << remap.spare) | (1 << failed.spare));
}
