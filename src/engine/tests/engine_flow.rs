//! End-to-end flows through the engine on an in-memory device.

mod common;

use common::*;
use dm_remap_engine::error::LogFault;
use dm_remap_engine::layout::Layout;
use dm_remap_engine::{
    BorrowedStorage, Engine, Event, FormatPlan, FormatPolicy, IoTarget, MemoryRequirements,
    MetaArea, MetaDevice, MetaError, Mode, OpenPlan, PolicyError, ReadErrorAction, Route, Storage,
};

const MAIN_SECTORS: u64 = 8 * 1024; // 1024 blocks of 4 KiB
const SPARE_SECTORS: u64 = 2048;

fn format(device: &mut MemDevice, memory: &mut Memory, log_blocks: u32) {
    let engine = Engine::format(
        device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(log_blocks),
        config(),
    )
    .unwrap();
    drop(engine);
}

fn requirements(spare_sectors: u64, log_blocks: u32) -> MemoryRequirements {
    MemoryRequirements::for_format(spare_sectors, params(log_blocks)).unwrap()
}

#[test]
fn write_error_remap_survives_reopen() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    format(&mut device, &mut memory, 16);
    // The reader's own view of the table words, as the kernel map path
    // keeps one while the engine (behind a mutex) mutates the table.
    let (engine_memory, table) = memory.engine_memory_and_view();
    let mut engine = Engine::open(
        &mut device,
        engine_memory,
        &expected(MAIN_SECTORS, SPARE_SECTORS),
        config(),
    )
    .unwrap();
    assert_eq!(table.route_read(5), Route::Main);
    let ticket = engine.on_write_error(5, IoTarget::Main, true).unwrap();
    assert_eq!(table.route_read(5), Route::Defer);
    assert_eq!(
        ticket.spare_sector,
        engine.layout().data_start + ticket.spare * 8
    );
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
    assert_eq!(table.route_read(5), Route::Spare(ticket.spare));
    let status = engine.status();
    assert_eq!(status.remapped_blocks, 1);
    assert_eq!(status.write_errors, 1);
    assert_eq!(status.spare_used, 1);
    let generation = status.generation;
    drop(engine);

    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine.table().route_read(5), Route::Spare(ticket.spare));
    assert!(engine.status().generation > generation);
    assert_eq!(engine.status().spare_used, 1);
}

#[test]
fn pending_block_is_remapped_by_whole_write_and_never_served_stale() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let (engine_memory, table) = memory.engine_memory_and_view();
    let mut engine = Engine::format(
        &mut device,
        engine_memory,
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(16),
        config(),
    )
    .unwrap();
    assert_eq!(
        engine.on_read_error(9, IoTarget::Main),
        Ok(ReadErrorAction::MarkedPending)
    );
    // Reads still go to main (which fails honestly), writes must remap.
    assert_eq!(table.route_read(9), Route::Main);
    assert_eq!(table.route_write(9), Route::Remap);
    assert_eq!(engine.status().mode, Mode::Degraded);
    assert_eq!(engine.begin_remap(9, false), Err(PolicyError::PartialBlock));
    let ticket = engine.begin_remap(9, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
    assert_eq!(table.route_read(9), Route::Spare(ticket.spare));
    assert_eq!(engine.status().pending_blocks, 0);
    assert_eq!(engine.status().mode, Mode::Ok);

    // A pending block that reads fine again is cleared.
    engine.on_read_error(10, IoTarget::Main).unwrap();
    assert_eq!(engine.on_read_ok(10), Ok(true));
    assert_eq!(table.route_write(10), Route::Main);
}

#[test]
fn failing_spares_are_retired_and_never_reused() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let first = engine.on_write_error(1, IoTarget::Main, true).unwrap();
    engine.fail_remap(first, true).unwrap();
    let second = engine.begin_remap(1, true).unwrap();
    assert_ne!(first.spare, second.spare);
    engine.complete_remap(second).unwrap();
    // The spare now fails a write: it is retired, a new one is chosen.
    let third = engine
        .on_write_error(1, IoTarget::Spare(second.spare), true)
        .unwrap();
    assert!(engine.spares().is_bad(second.spare));
    engine.complete_remap(third).unwrap();
    // A read error on the spare makes the block pending again.
    assert_eq!(
        engine.on_read_error(1, IoTarget::Spare(third.spare)),
        Ok(ReadErrorAction::MarkedPending)
    );
    assert_eq!(engine.table().route_read(1), Route::Spare(third.spare));
    assert_eq!(engine.table().route_write(1), Route::Remap);
    engine.commit().unwrap();
    let status = engine.status();
    assert_eq!(status.spare_bad, 3);
    // Stale reports are refused.
    assert_eq!(
        engine.on_write_error(1, IoTarget::Main, true),
        Err(PolicyError::Stale)
    );
}

#[test]
fn exhaustion_events_and_observe_only() {
    let spare_sectors = 40 + 16 * 8 + 48 + 8; // a handful of data blocks
    let mut device = MemDevice::new(spare_sectors);
    let mut memory = Memory::new(requirements(spare_sectors, 3));
    let mut engine = Engine::format(
        &mut device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        spare_sectors,
        params(3),
        config(),
    )
    .unwrap();
    let total = engine.status().spare_total;
    assert!(total >= 4, "{total}");
    let mut levels = Vec::new();
    let mut modes = Vec::new();
    for block in 0..total {
        let ticket = engine.on_write_error(block, IoTarget::Main, true).unwrap();
        engine.complete_remap(ticket).unwrap();
        engine.commit().unwrap();
        while let Some(event) = engine.poll_event() {
            match event {
                Event::SpareUsage(level) => levels.push(level),
                Event::ModeChanged(mode) => modes.push(mode),
            }
        }
    }
    assert_eq!(levels, vec![75, 90, 100]);
    assert_eq!(modes.last(), Some(&Mode::SpareExhausted));
    assert_eq!(
        engine.on_write_error(total, IoTarget::Main, true),
        Err(PolicyError::SpareExhausted)
    );
    engine.set_observe_only(true);
    assert_eq!(
        engine.on_write_error(total + 1, IoTarget::Main, true),
        Err(PolicyError::ObserveOnly)
    );
    assert_eq!(
        engine.on_read_error(total + 1, IoTarget::Main),
        Ok(ReadErrorAction::Recorded)
    );
    assert_eq!(
        engine.poll_event(),
        Some(Event::ModeChanged(Mode::ObserveOnly))
    );
    assert_eq!(engine.status().read_errors, 1);
}

#[test]
fn many_commits_cycle_through_generations() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 4));
    let mut engine = Engine::format(
        &mut device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(4),
        config(),
    )
    .unwrap();
    for block in 0..100u64 {
        engine.on_read_error(block, IoTarget::Main).unwrap();
        if block % 3 == 0 {
            engine.on_read_ok(block).unwrap();
        }
        engine.commit().unwrap();
    }
    // Also one commit larger than a log block (multi-block commit).
    for block in 200..700u64 {
        engine.on_read_error(block, IoTarget::Main).unwrap();
        engine.on_read_ok(block).unwrap();
    }
    engine.commit().unwrap();
    let state = engine_state(&engine);
    assert!(engine.status().generation >= 20);
    drop(engine);
    let (recovered, _, _) =
        recover_image(&device.durable, &expected(MAIN_SECTORS, SPARE_SECTORS)).unwrap();
    assert_eq!(recovered, state);
}

#[test]
fn multi_block_commit_replays_from_log() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    for block in 0..600u64 {
        engine.on_read_error(block % 300, IoTarget::Main).unwrap();
        engine.on_read_ok(block % 300).unwrap();
    }
    engine.on_read_error(3, IoTarget::Main).unwrap();
    engine.commit().unwrap();
    assert_eq!(
        engine.status().generation,
        0,
        "fits in the log, no snapshot"
    );
    let state = engine_state(&engine);
    drop(engine);
    let (recovered, _, loaded) =
        recover_image(&device.durable, &expected(MAIN_SECTORS, SPARE_SECTORS)).unwrap();
    assert_eq!(recovered, state);
    assert_eq!(loaded.position.next_block, 5);
    assert_eq!(loaded.position.next_commit, 1);
}

#[test]
fn blank_foreign_and_mismatched_devices_are_refused() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let exp = expected(MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &exp, config()).err(),
        Some(MetaError::Blank)
    );
    // Foreign data: never formatted over, never opened.
    device.durable[100] = 0x55;
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &exp, config()).err(),
        Some(MetaError::ForeignData)
    );
    assert_eq!(
        Engine::format(
            &mut device,
            memory.engine_memory(),
            binding(MAIN_SECTORS),
            SPARE_SECTORS,
            params(16),
            config()
        )
        .err(),
        Some(MetaError::NotBlank {
            sector: 0,
            area: MetaArea::SuperblockA
        })
    );
    device.durable[100] = 0;
    format(&mut device, &mut memory, 16);
    let mut wrong = exp;
    wrong.main_uuid = Some(*b"another-main-dev");
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &wrong, config()).err(),
        Some(MetaError::MainUuidMismatch)
    );
    let mut wrong = exp;
    wrong.spare_uuid = Some(*b"another-spare-dv");
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &wrong, config()).err(),
        Some(MetaError::SpareUuidMismatch)
    );
    let mut wrong = exp;
    wrong.main_sectors = Some(MAIN_SECTORS * 2);
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &wrong, config()).err(),
        Some(MetaError::MainSizeMismatch)
    );
    let mut wrong = exp;
    wrong.spare_offset = Some(8);
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &wrong, config()).err(),
        Some(MetaError::SpareOffsetMismatch)
    );
    let mut wrong = exp;
    wrong.spare_sectors = SPARE_SECTORS - 8;
    assert_eq!(
        Engine::open(&mut device, memory.engine_memory(), &wrong, config()).err(),
        Some(MetaError::SpareRegionShrunk)
    );
    // Not enough memory is refused, not a panic.
    let mut small = Memory::new(requirements(SPARE_SECTORS / 2, 16));
    assert!(Engine::open(&mut device, small.engine_memory(), &exp, config()).is_err());
}

#[test]
fn spare_region_growth_keeps_remaps_and_adds_blocks() {
    let grown_sectors = SPARE_SECTORS * 4;
    let mut device = MemDevice::new(grown_sectors);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let ticket = engine.on_write_error(77, IoTarget::Main, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.on_read_error(78, IoTarget::Main).unwrap();
    let bad = engine.begin_remap(79, true).unwrap();
    engine.fail_remap(bad, true).unwrap();
    engine.commit().unwrap();
    let before = engine_state(&engine);
    let old_blocks = engine.status().spare_total;
    let old_layout = *engine.layout();
    drop(engine);

    let exp = expected(MAIN_SECTORS, grown_sectors);
    let (req, _) = MemoryRequirements::for_open(&mut device, &mut [0u8; 4096], &exp).unwrap();
    let mut memory = Memory::new(req);
    let mut engine = Engine::open(&mut device, memory.engine_memory(), &exp, config()).unwrap();
    assert!(engine.status().spare_total > old_blocks);
    assert_eq!(engine.layout().data_start, old_layout.data_start);
    assert_eq!(engine_state(&engine), before);
    // The new blocks (including the old snapshot areas) are usable.
    let mut spares = Vec::new();
    while let Ok(ticket) = engine.begin_remap(1000 + spares.len() as u64 % 20, true) {
        engine.complete_remap(ticket).unwrap();
        spares.push(ticket.spare);
        if spares.len() as u64 >= engine.status().spare_total {
            break;
        }
    }
    let layout: Layout = *engine.layout();
    for spare in &spares {
        let sector = layout.spare_block_sector(*spare).unwrap();
        assert!(sector + 8 <= layout.snapshot_start[0]);
        assert!(sector >= layout.data_start);
    }
    engine.commit().unwrap();
    drop(engine);
    let (recovered, superblock, _) = recover_image(&device.durable, &exp).unwrap();
    assert_eq!(superblock.layout.spare_sectors, grown_sectors);
    assert!(recovered.entries.contains_key(&77));
}

#[test]
fn scanner_cursor_is_persisted() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    engine.scan_window(0, 0);
    let window = engine.scan_window(1_000_000_000, 300).unwrap();
    assert_eq!((window.start, window.count), (0, 300));
    // Block 10 was weak: rescue it while its data is still readable.
    let ticket = engine.on_read_retry_succeeded(10, IoTarget::Main).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.scan_advance(window.count).unwrap();
    engine.commit().unwrap();
    drop(engine);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine.status().scanner_cursor, 300);
    assert_eq!(engine.table().route_read(10), Route::Spare(ticket.spare));
    engine.scan_window(0, 0);
    assert_eq!(engine.scan_window(1_000_000_000, 5).unwrap().start, 300);
}

#[test]
fn stopped_scan_resumes_at_the_exact_block() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let config = dm_remap_engine::Config {
        scan_checkpoint_blocks: 1000,
        ..config()
    };
    let mut engine = Engine::format(
        &mut device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(16),
        config,
    )
    .unwrap();
    engine.commit().unwrap();
    engine.scan_window(0, 0);
    let window = engine.scan_window(1_000_000_000, 37).unwrap();
    // 37 blocks is below the checkpoint interval: nothing recorded yet.
    engine.scan_advance(window.count).unwrap();
    assert!(
        !engine.needs_commit(),
        "37 blocks must not reach a checkpoint"
    );
    engine.checkpoint_scan().unwrap();
    assert!(engine.needs_commit());
    engine.commit().unwrap();
    drop(engine);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine.status().scanner_cursor, 37);
}

#[test]
fn metadata_write_failure_enters_failed_mode() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    engine.device_mut().fail_after_writes = Some(0);
    let ticket = engine.on_write_error(3, IoTarget::Main, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    assert!(matches!(
        engine.commit(),
        Err(PolicyError::Metadata(MetaError::Io(_)))
    ));
    assert_eq!(engine.status().mode, Mode::Failed);
    assert_eq!(
        engine.begin_remap(4, true),
        Err(PolicyError::Metadata(MetaError::Failed))
    );
    // The remap stays visible to readers: its data is on the spare.
    assert_eq!(engine.table().route_read(3), Route::Spare(ticket.spare));
}

/// A dm-remap spare whose superblock slots were zeroed by mistake still
/// holds its log and snapshots: it is not blank, and formatting it would
/// drop every remap. Refused (nothing written) unless explicitly asked for;
/// the explicit format then disowns the old log.
#[test]
fn zeroed_superblocks_over_metadata_are_not_blank() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    // Generation-0 log commits straight after format.
    let ticket = engine.on_write_error(5, IoTarget::Main, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
    drop(engine);
    device.durable[..8192].fill(0);
    let before = device.durable.clone();
    let writes = device.journal.len();
    let refused = MetaError::NotBlank {
        sector: 16,
        area: MetaArea::Log,
    };
    let exp = expected(MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 4096],
            &exp,
            params(16),
            FormatPolicy::IfBlank
        )
        .err(),
        Some(refused)
    );
    assert_eq!(
        Engine::format(
            &mut device,
            memory.engine_memory(),
            binding(MAIN_SECTORS),
            SPARE_SECTORS,
            params(16),
            config()
        )
        .err(),
        Some(refused)
    );
    assert_eq!(
        refused.to_string(),
        "spare is not blank: non-zero bytes at sector 16 (metadata log area); refusing to format"
    );
    assert_eq!(device.journal.len(), writes, "a refused format wrote");
    assert!(
        device.durable == before,
        "a refused format changed the image"
    );

    let plan = match Engine::<BorrowedStorage<'_>, _>::plan_open(
        &mut device,
        &mut [0u8; 4096],
        &exp,
        params(16),
        FormatPolicy::Overwrite,
    ) {
        Ok(OpenPlan::Format(plan)) => plan,
        other => panic!("explicit format not planned: {other:?}"),
    };
    let engine = Engine::format_planned(
        &mut device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        plan,
        config(),
    )
    .unwrap();
    drop(engine);
    let (state, _, _) = recover_image(&device.durable, &exp).unwrap();
    assert!(state.entries.is_empty(), "old log replayed: {state:?}");
}

/// What other software leaves beyond the first 8 KiB (both superblock
/// slots zero) makes a region non-blank: each case is refused, naming the
/// first non-zero sector and its area, and the image is left untouched.
#[test]
fn foreign_data_beyond_the_superblock_slots_is_not_blank() {
    let layout = Layout::compute(SPARE_SECTORS, params(16)).unwrap();
    let last_snapshot_sector = layout.snapshot_start[1] + layout.snapshot_blocks * 8 - 1;
    let mut random = vec![0u8; SPARE_SECTORS as usize * 512];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for byte in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = (x >> 24) as u8 | 1;
    }
    random[..8192].fill(0);
    // (what, bytes written at offsets, first non-zero sector, its area)
    type Case = (&'static str, Vec<(usize, Vec<u8>)>, u64, MetaArea);
    let cases: Vec<Case> = vec![
        // btrfs: superblock at 64 KiB, magic at +64.
        (
            "btrfs",
            vec![(65536 + 64, b"_BHRfS_M".to_vec())],
            128,
            MetaArea::Log,
        ),
        // ZFS: label 0 keeps its first 16 KiB zero, then the name/value list.
        ("zfs", vec![(16384 + 20, vec![1, 2, 3])], 32, MetaArea::Log),
        // A backup GPT header in the last sector of the metadata.
        (
            "backup gpt",
            vec![(last_snapshot_sector as usize * 512, b"EFI PART".to_vec())],
            last_snapshot_sector,
            MetaArea::SnapshotB,
        ),
        (
            "snapshot A",
            vec![(layout.snapshot_start[0] as usize * 512 + 4095, vec![7])],
            layout.snapshot_start[0] + 7,
            MetaArea::SnapshotA,
        ),
        (
            "slot B",
            vec![(4096 + 600, vec![0xFF])],
            9,
            MetaArea::SuperblockB,
        ),
    ];
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    for (what, patches, sector, area) in cases {
        let mut device = MemDevice::new(SPARE_SECTORS);
        for (at, bytes) in &patches {
            device.durable[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        let before = device.durable.clone();
        let result = Engine::format(
            &mut device,
            memory.engine_memory(),
            binding(MAIN_SECTORS),
            SPARE_SECTORS,
            params(16),
            config(),
        );
        assert_eq!(
            result.err(),
            Some(MetaError::NotBlank { sector, area }),
            "{what}"
        );
        assert!(device.journal.is_empty(), "{what}: a refused format wrote");
        assert!(device.durable == before, "{what}");
    }
    // Random data with zeroed superblock slots.
    let mut device = MemDevice::new(SPARE_SECTORS);
    device.durable.copy_from_slice(&random);
    assert_eq!(
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 8192],
            &expected(MAIN_SECTORS, SPARE_SECTORS),
            params(16),
            FormatPolicy::IfBlank,
        )
        .err(),
        Some(MetaError::NotBlank {
            sector: 16,
            area: MetaArea::Log
        })
    );
    assert!(device.journal.is_empty());
    assert!(device.durable == random);
    // Spare data blocks are not metadata: what lies there does not stop a
    // format (it is only ever read back through a remap written first).
    let mut device = MemDevice::new(SPARE_SECTORS);
    device.durable[layout.data_start as usize * 512] = 0x42;
    assert!(matches!(
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 4096],
            &expected(MAIN_SECTORS, SPARE_SECTORS),
            params(16),
            FormatPolicy::IfBlank,
        ),
        Ok(OpenPlan::Format(_))
    ));
}

/// The blank check reads the footprint in chunks of the caller's buffer,
/// never more: the kernel must not need a buffer the size of the footprint.
#[test]
fn blank_check_reads_in_chunks_of_the_buffer() {
    struct LargestRead<'a>(&'a mut MemDevice, usize, u64);
    impl MetaDevice for LargestRead<'_> {
        fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), dm_remap_engine::IoError> {
            self.1 = self.1.max(buf.len());
            self.2 += buf.len() as u64;
            self.0.read(sector, buf)
        }
        fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), dm_remap_engine::IoError> {
            self.0.write(sector, buf)
        }
        fn flush(&mut self) -> Result<(), dm_remap_engine::IoError> {
            self.0.flush()
        }
    }
    let spare = 64 * 2048; // 64 MiB: a footprint of about 1.7 MiB
    let params = dm_remap_engine::FormatParams::defaults_for(spare);
    let layout = Layout::compute(spare, params).unwrap();
    let footprint: u64 = layout.metadata_areas().iter().map(|a| a.2 * 512).sum();
    assert!(footprint > 1 << 20, "{footprint}");
    let mut device = MemDevice::new(spare);
    for chunk in [4096usize, 8192 + 100, 65536] {
        let mut counting = LargestRead(&mut device, 0, 0);
        let plan = FormatPlan::check(
            &mut counting,
            &mut vec![0u8; chunk],
            spare,
            params,
            FormatPolicy::IfBlank,
        )
        .unwrap();
        assert_eq!(plan.layout(), &layout);
        assert!(
            counting.1 <= chunk / 4096 * 4096,
            "read {} bytes",
            counting.1
        );
        assert_eq!(counting.2, footprint, "the whole footprint is read");
    }
    assert_eq!(
        FormatPlan::check(
            &mut device,
            &mut [0u8; 4000],
            spare,
            params,
            FormatPolicy::IfBlank
        )
        .err(),
        Some(MetaError::BufferTooSmall)
    );
    // An explicit format reads nothing of the footprint.
    let mut counting = LargestRead(&mut device, 0, 0);
    FormatPlan::check(
        &mut counting,
        &mut [0u8; 4096],
        spare,
        params,
        FormatPolicy::Overwrite,
    )
    .unwrap();
    assert_eq!(counting.2, 0);
}

/// Valid metadata of this device pair is loaded even when formatting was
/// asked for (a table line that keeps `format` must not drop every remap at
/// its next load); an I/O error never leads to a format.
#[test]
fn explicit_format_never_replaces_loadable_metadata() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    format(&mut device, &mut memory, 16);
    let exp = expected(MAIN_SECTORS, SPARE_SECTORS);
    for policy in [FormatPolicy::IfBlank, FormatPolicy::Overwrite] {
        let plan = Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 4096],
            &exp,
            params(16),
            policy,
        );
        assert!(
            matches!(plan, Ok(OpenPlan::Load { superblock, .. }) if superblock.generation == 0),
            "{policy:?}: {plan:?}"
        );
    }
    // Metadata of another device pair: refused, or replaced on request.
    let mut other = exp;
    other.main_sectors = Some(MAIN_SECTORS * 2);
    let mut plan = |policy| {
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 4096],
            &other,
            params(16),
            policy,
        )
    };
    assert_eq!(
        plan(FormatPolicy::IfBlank).err(),
        Some(MetaError::MainSizeMismatch)
    );
    assert!(matches!(
        plan(FormatPolicy::Overwrite),
        Ok(OpenPlan::Format(_))
    ));
    device.fail_reads = true;
    assert!(matches!(
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            &mut device,
            &mut [0u8; 4096],
            &exp,
            params(16),
            FormatPolicy::Overwrite,
        ),
        Err(MetaError::Io(_))
    ));
}

#[test]
fn tickets_are_redeemed_exactly_once() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let a = engine.begin_remap(1, true).unwrap();
    let b = engine.begin_remap(2, true).unwrap();
    assert_eq!(engine.begin_remap(1, true), Err(PolicyError::Busy));
    // A forged ticket pointing at another remap's spare, or at a spare in
    // use, is refused; so is redeeming a ticket twice.
    let forged = dm_remap_engine::RemapTicket { block: 1, ..b };
    engine.complete_remap(a).unwrap();
    assert_eq!(engine.complete_remap(a), Err(PolicyError::NotBusy));
    assert_eq!(engine.complete_remap(forged), Err(PolicyError::NotBusy));
    let stolen = dm_remap_engine::RemapTicket { block: 2, ..a };
    assert_eq!(engine.complete_remap(stolen), Err(PolicyError::NotBusy));
    engine.fail_remap(b, false).unwrap();
    assert_eq!(engine.fail_remap(b, false), Err(PolicyError::NotBusy));
    assert_eq!(engine.table().route_read(2), Route::Main);
    assert_eq!(engine.table().route_read(1), Route::Spare(a.spare));
}

/// A table reload: the new table's engine is opened (deferred) while the old
/// one still remaps and commits; started after the old one stopped, it must
/// see everything, and until then it must write nothing.
#[test]
fn deferred_open_writes_nothing_and_start_sees_later_commits() {
    let shared = SharedDevice(std::rc::Rc::new(std::cell::RefCell::new(MemDevice::new(
        SPARE_SECTORS,
    ))));
    let mut old_memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut old = old_memory.format_engine(shared.clone(), MAIN_SECTORS, SPARE_SECTORS);
    let first = old.on_write_error(5, IoTarget::Main, true).unwrap();
    old.complete_remap(first).unwrap();
    old.commit().unwrap();

    let writes_before = shared.0.borrow().journal.len();
    let mut new_memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut new = Engine::open_deferred(
        shared.clone(),
        new_memory.engine_memory(),
        &expected(MAIN_SECTORS, SPARE_SECTORS),
        config(),
    )
    .unwrap();
    assert!(!new.is_started());
    assert_eq!(
        shared.0.borrow().journal.len(),
        writes_before,
        "deferred open wrote"
    );
    assert!(matches!(
        new.commit(),
        Err(PolicyError::Metadata(MetaError::NotStarted))
    ));

    // The old table keeps working until it is suspended.
    let second = old.on_write_error(9, IoTarget::Main, true).unwrap();
    old.complete_remap(second).unwrap();
    old.commit().unwrap();
    drop(old);

    new.start(&expected(MAIN_SECTORS, SPARE_SECTORS)).unwrap();
    assert!(new.is_started());
    assert_eq!(new.table().route_read(5), Route::Spare(first.spare));
    assert_eq!(new.table().route_read(9), Route::Spare(second.spare));
    assert_eq!(new.status().remapped_blocks, 2);
    // Its allocator knows both spares are taken.
    let third = new.on_write_error(11, IoTarget::Main, true).unwrap();
    assert!(third.spare != first.spare && third.spare != second.spare);
    new.complete_remap(third).unwrap();
    new.commit().unwrap();
    drop(new);

    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let reopened = memory.open_engine(shared.clone(), MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(reopened.status().remapped_blocks, 3);
}

/// Remaps `block` after a write error and commits it (one log block).
fn commit_remap<S: Storage, D: MetaDevice>(engine: &mut Engine<S, D>, block: u64) {
    let ticket = engine.on_write_error(block, IoTarget::Main, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
}

/// Flips one byte of the 4 KiB metadata block at `sector`.
fn damage(image: &mut [u8], sector: u64) {
    image[sector as usize * 512 + 100] ^= 0x5A;
}

#[test]
fn damaged_log_block_before_a_complete_commit_is_refused_not_skipped() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    for block in [5, 6, 7] {
        commit_remap(&mut engine, block);
    }
    let log = *engine.layout();
    drop(engine);
    let expected = expected(MAIN_SECTORS, SPARE_SECTORS);
    // The middle commit damaged: the third is complete after it, so loading
    // the first alone would drop acknowledged remaps.
    let mut image = device.durable.clone();
    damage(&mut image, log.log_block_sector(1).unwrap());
    match recover_image(&image, &expected) {
        Err(MetaError::LogDamaged {
            index: 1,
            sector,
            fault: LogFault::BadChecksum,
        }) => assert_eq!(Some(sector), log.log_block_sector(1)),
        other => panic!("damaged middle log block: {other:?}"),
    }
    // The last commit damaged looks like a torn write: the first two load.
    let mut image = device.durable.clone();
    damage(&mut image, log.log_block_sector(2).unwrap());
    let (state, _, loaded) = recover_image(&image, &expected).unwrap();
    assert_eq!(
        state.entries.keys().copied().collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert_eq!(loaded.first_invalid, Some((2, LogFault::BadChecksum)));
}

#[test]
fn damaged_newest_superblock_is_refused_once_its_log_was_written() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    commit_remap(&mut engine, 5);
    drop(engine);
    // Generation 1 (slot B) after a reopen, with nothing logged yet.
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine.status().generation, 1);
    let before = engine_state(&engine);
    drop(engine);
    let expected = expected(MAIN_SECTORS, SPARE_SECTORS);
    let slot_b = Layout::superblock_sector(1);
    // Slot B damaged before generation 1 logged anything: generation 0 and
    // its log still describe the same state, so it loads.
    let mut image = device.durable.clone();
    damage(&mut image, slot_b);
    let (state, superblock, _) = recover_image(&image, &expected).unwrap();
    assert_eq!(superblock.generation, 0);
    assert_eq!(state, before);
    // Once generation 1 has logged a commit, generation 0's log is gone:
    // loading it would lose remap 6 (and 5's log record), so it is refused.
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let generation = engine.status().generation;
    commit_remap(&mut engine, 6);
    drop(engine);
    let mut image = device.durable.clone();
    damage(
        &mut image,
        Layout::superblock_sector((generation % 2) as usize),
    );
    match recover_image(&image, &expected) {
        Err(MetaError::NewerGenerationLost {
            index: 0,
            found,
            chosen,
            ..
        }) => assert_eq!((found, chosen), (generation, generation - 1)),
        other => panic!("damaged newest superblock: {other:?}"),
    }
}

#[test]
fn remap_stays_busy_until_published_after_commit() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    // A block remapped before, remapped again: the new spare must not be
    // reachable before the commit that records it.
    let first = engine.begin_remap(7, true).unwrap();
    engine.complete_remap_busy(first).unwrap();
    assert_eq!(engine.table().route_read(7), Route::Defer);
    assert_eq!(engine.table().route_write(7), Route::Defer);
    // Completed but unpublished: no second remap, no second completion.
    assert_eq!(engine.begin_remap(7, true), Err(PolicyError::Busy));
    assert_eq!(engine.complete_remap_busy(first), Err(PolicyError::NotBusy));
    assert_eq!(engine.fail_remap(first, false), Err(PolicyError::NotBusy));
    assert!(engine.needs_commit());
    engine.commit().unwrap();
    assert_eq!(engine.table().route_read(7), Route::Defer);
    assert_eq!(engine.publish_remap(7), Ok(true));
    assert_eq!(engine.publish_remap(7), Err(PolicyError::NotBusy));
    assert_eq!(engine.table().route_write(7), Route::Spare(first.spare));

    let second = engine.begin_remap(7, true).unwrap();
    // In progress (not completed): nothing to publish.
    assert_eq!(engine.publish_remap(7), Err(PolicyError::NotBusy));
    assert_eq!(engine.table().route_read(7), Route::Defer);
    engine.complete_remap_busy(second).unwrap();
    // Published without a commit: visible, but reported as not durable.
    assert_eq!(engine.publish_remap(7), Ok(false));
    assert_eq!(engine.table().route_read(7), Route::Spare(second.spare));
    assert!(engine.spares().is_bad(first.spare));
    engine.commit().unwrap();
    let status = engine.status();
    assert_eq!(status.remapped_blocks, 1);
    assert_eq!(status.spare_used, 1);
    drop(engine);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine.table().route_read(7), Route::Spare(second.spare));
}

#[test]
fn publish_after_failed_commit_is_not_durable() {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    engine.device_mut().fail_after_writes = Some(0);
    let ticket = engine.on_write_error(3, IoTarget::Main, true).unwrap();
    engine.complete_remap_busy(ticket).unwrap();
    assert!(engine.commit().is_err());
    assert_eq!(engine.table().route_read(3), Route::Defer);
    assert_eq!(engine.publish_remap(3), Ok(false));
    assert_eq!(engine.table().route_read(3), Route::Spare(ticket.spare));
}

/// A power cut during the first format, after the empty snapshot and before
/// the superblock: the region holds nothing but that snapshot, no remap, so
/// the next open formats it again instead of refusing it as not blank.  One
/// committed remap in the log (or a retired spare block in the snapshot)
/// makes it real metadata again, which stays refused.
#[test]
fn a_format_torn_before_its_superblock_is_formatted_again() {
    let exp = expected(MAIN_SECTORS, SPARE_SECTORS);
    let plan = |device: &mut MemDevice| {
        Engine::<BorrowedStorage<'_>, _>::plan_open(
            device,
            &mut [0u8; 4096],
            &exp,
            params(16),
            FormatPolicy::IfBlank,
        )
    };

    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    drop(memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS));
    // What the format wrote before its superblock: slot A is the last write.
    device.durable[..8192].fill(0);
    assert!(
        device.durable.iter().any(|&b| b != 0),
        "the torn format left its empty snapshot"
    );
    match plan(&mut device) {
        Ok(OpenPlan::Format(_)) => {}
        other => panic!("torn format not formatted again: {other:?}"),
    }

    // The same, but with the snapshot's info block changed (a scanner
    // cursor): not what a format writes, so not blank.
    let mut device = MemDevice::new(SPARE_SECTORS);
    let mut memory = Memory::new(requirements(SPARE_SECTORS, 16));
    let mut engine = memory.format_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    let ticket = engine.on_write_error(5, IoTarget::Main, true).unwrap();
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
    drop(engine);
    device.durable[..8192].fill(0);
    match plan(&mut device) {
        Err(MetaError::NotBlank { .. }) => {}
        other => panic!("metadata with a committed remap planned as blank: {other:?}"),
    }
}
