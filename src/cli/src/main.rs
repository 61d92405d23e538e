//! `dm-remap`: format, dump and check the metadata of a dm-remap spare
//! device or image file, using the same engine code as the kernel module;
//! also replays dm-log-writes logs for crash-consistency tests.

mod device;
mod inspect;
mod logwrites;
mod uuid;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;

use clap::{Parser, Subcommand};
use dm_remap_engine::superblock::{SlotState, Superblock};
use dm_remap_engine::table::Entry;
use dm_remap_engine::{
    Config, DeviceBinding, Engine, EngineMemory, Expected, FormatParams, FormatPlan, FormatPolicy,
    IoTarget, MemoryRequirements, MetaError, Storage,
};
use serde_json::json;

use device::FileDevice;
use inspect::{inspect, Report};

#[derive(Parser)]
#[command(name = "dm-remap", version, about = "Manage dm-remap spare metadata")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Initialise the metadata of a spare device or image file.
    Format {
        /// Spare block device or image file (created if missing).
        #[arg(long)]
        spare: PathBuf,
        /// Start of the spare region on the device, in sectors.
        #[arg(long, default_value_t = 0)]
        spare_offset: u64,
        /// Length of the spare region, in sectors.
        #[arg(long)]
        spare_len: u64,
        /// Size of the main device, in sectors.
        #[arg(long)]
        main_size: u64,
        /// Remap block size in bytes (power of two, 512..=1048576).
        #[arg(long, default_value_t = FormatParams::DEFAULT_BLOCK_SIZE)]
        block_size: u32,
        /// Log blocks (default: about 1/64 of the region, 16..=1024).
        #[arg(long)]
        log_blocks: Option<u32>,
        /// Main device UUID (random if omitted).
        #[arg(long)]
        main_uuid: Option<String>,
        /// Spare device UUID (random if omitted).
        #[arg(long)]
        spare_uuid: Option<String>,
        /// Format even if the region's metadata footprint is not all zero:
        /// overwrites whatever is there (data, or dm-remap metadata, whose
        /// remaps are then lost).
        #[arg(long)]
        force: bool,
    },
    /// Print superblocks, layout, remaps, pending blocks, bad spares and
    /// the scanner cursor.
    Dump {
        /// Spare block device or image file.
        path: PathBuf,
        /// Start of the spare region on the device, in sectors.
        #[arg(long, default_value_t = 0)]
        spare_offset: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Verify the metadata; exit 0 when clean, 1 with the reason when not.
    Check {
        /// Spare block device or image file.
        path: PathBuf,
        #[command(flatten)]
        expect: ExpectArgs,
    },
    /// Apply simulated I/O errors through the engine and commit each one
    /// (for tests and demonstrations; changes the metadata).
    #[command(hide = true)]
    DebugApply {
        /// Spare block device or image file.
        path: PathBuf,
        #[command(flatten)]
        expect: ExpectArgs,
        /// Main blocks that get a write error (remapped).
        #[arg(long = "write-error")]
        write_errors: Vec<u64>,
        /// Main blocks that get a read error (pending).
        #[arg(long = "read-error")]
        read_errors: Vec<u64>,
        /// Spare blocks that fail (marked bad) during the first remap.
        #[arg(long = "fail-spare", default_value_t = 0)]
        fail_spares: u32,
    },
    /// Replay a dm-log-writes log onto a device or image, or list it
    /// (like xfstests' replay-log).
    ReplayLog(logwrites::ReplayArgs),
}

#[derive(clap::Args)]
struct ExpectArgs {
    /// Start of the spare region on the device, in sectors.
    #[arg(long, default_value_t = 0)]
    spare_offset: u64,
    /// Length of the spare region in sectors (default: to the device end).
    #[arg(long)]
    spare_len: Option<u64>,
    /// Expected main device size in sectors.
    #[arg(long)]
    main_size: Option<u64>,
    /// Expected main device UUID.
    #[arg(long)]
    main_uuid: Option<String>,
    /// Expected spare device UUID.
    #[arg(long)]
    spare_uuid: Option<String>,
}

impl ExpectArgs {
    fn expected(&self, device: &mut FileDevice) -> Result<Expected, String> {
        let available = device.available_sectors().map_err(|e| e.to_string())?;
        Ok(Expected {
            main_sectors: self.main_size,
            spare_offset: Some(self.spare_offset),
            spare_sectors: self.spare_len.unwrap_or(available).min(available),
            main_uuid: self.main_uuid.as_deref().map(uuid::parse).transpose()?,
            spare_uuid: self.spare_uuid.as_deref().map(uuid::parse).transpose()?,
        })
    }
}

/// The engine owns its memory as plain vectors.
struct VecStorage;

impl Storage for VecStorage {
    type Table = Vec<AtomicU64>;
    type Bitmaps = Vec<u64>;
    type Buffer = Vec<u8>;
}

fn engine_memory(req: MemoryRequirements) -> EngineMemory<VecStorage> {
    EngineMemory {
        table: (0..req.table_words).map(|_| AtomicU64::new(0)).collect(),
        bitmaps: vec![0; req.bitmap_words],
        buffer: vec![0; req.buffer_bytes],
    }
}

/// Bytes read at a time when checking that a region is blank (the
/// metadata footprint of a large region is hundreds of MiB).
const BLANK_CHECK_CHUNK: usize = 1 << 20;

#[allow(clippy::too_many_arguments)]
fn format(
    spare: PathBuf,
    spare_offset: u64,
    spare_len: u64,
    main_size: u64,
    block_size: u32,
    log_blocks: Option<u32>,
    main_uuid: Option<String>,
    spare_uuid: Option<String>,
    force: bool,
) -> Result<(), String> {
    let mut params = FormatParams::defaults_for(spare_len);
    params.block_size = block_size;
    if let Some(log_blocks) = log_blocks {
        params.log_blocks = log_blocks;
    }
    let random = || uuid::random().map_err(|e| format!("cannot read /dev/urandom: {e}"));
    let binding = DeviceBinding {
        main_uuid: match main_uuid {
            Some(text) => uuid::parse(&text)?,
            None => random()?,
        },
        spare_uuid: match spare_uuid {
            Some(text) => uuid::parse(&text)?,
            None => random()?,
        },
        main_sectors: main_size,
        spare_offset,
    };
    let mut device = FileDevice::create(&spare, spare_offset, spare_len)
        .map_err(|e| format!("{}: {e}", spare.display()))?;
    let available = device.available_sectors().map_err(|e| e.to_string())?;
    if available < spare_len {
        return Err(format!(
            "{}: only {available} sectors after the offset, --spare-len is {spare_len}",
            spare.display()
        ));
    }
    // Refuse (writing nothing) unless the whole metadata footprint is
    // zero or --force asks to overwrite it: the engine's rule, the same
    // the kernel applies to a table load.
    let policy = if force {
        FormatPolicy::Overwrite
    } else {
        FormatPolicy::IfBlank
    };
    let mut chunk = vec![0u8; BLANK_CHECK_CHUNK];
    let plan =
        FormatPlan::check(&mut device, &mut chunk, spare_len, params, policy).map_err(|e| {
            if matches!(e, MetaError::NotBlank { .. }) {
                format!("{e} (use --force to overwrite)")
            } else {
                e.to_string()
            }
        })?;
    let engine = Engine::format_planned(
        device,
        engine_memory(plan.requirements()),
        binding,
        plan,
        Config::default(),
    )
    .map_err(|e| e.to_string())?;
    let layout = *engine.layout();
    println!(
        "formatted {}: {} spare blocks of {} bytes, main {} ({}), spare {}",
        spare.display(),
        layout.data_blocks,
        layout.block_size,
        main_size,
        uuid::format(&binding.main_uuid),
        uuid::format(&binding.spare_uuid)
    );
    Ok(())
}

fn slot_text(state: &SlotState) -> String {
    match state {
        SlotState::Blank => "blank".into(),
        SlotState::Foreign => "foreign data".into(),
        SlotState::Valid(sb) => format!("valid, generation {}", sb.generation),
        SlotState::Invalid(fault) => format!("invalid: {}", fault.as_str()),
    }
}

fn slot_json(state: &SlotState) -> serde_json::Value {
    match state {
        SlotState::Blank => json!({"state": "blank"}),
        SlotState::Foreign => json!({"state": "foreign"}),
        SlotState::Valid(sb) => json!({"state": "valid", "generation": sb.generation}),
        SlotState::Invalid(fault) => json!({"state": "invalid", "reason": fault.as_str()}),
    }
}

fn flags_text(entry: &Entry) -> &'static str {
    match (entry.is_remapped(), entry.is_pending()) {
        (true, true) => "remapped+pending",
        (true, false) => "remapped",
        (false, true) => "pending",
        (false, false) => "none",
    }
}

fn superblock_json(sb: &Superblock) -> serde_json::Value {
    let l = &sb.layout;
    json!({
        "generation": sb.generation,
        "slot": sb.slot().as_str(),
        "main_uuid": uuid::format(&sb.binding.main_uuid),
        "spare_uuid": uuid::format(&sb.binding.spare_uuid),
        "main_sectors": sb.binding.main_sectors,
        "spare_offset": sb.binding.spare_offset,
        "spare_sectors": l.spare_sectors,
        "block_size": l.block_size,
        "log_blocks": l.log_blocks,
        "layout": {
            "log_start": l.log_start,
            "data_start": l.data_start,
            "data_blocks": l.data_blocks,
            "snapshot_blocks": l.snapshot_blocks,
            "snapshot_a_start": l.snapshot_start[0],
            "snapshot_b_start": l.snapshot_start[1],
            "max_entries": l.max_entries,
        },
        "snapshot_used_blocks": sb.snapshot_used_blocks,
        "snapshot_entries": sb.snapshot_entries,
    })
}

fn print_dump(report: &Report, as_json: bool) {
    let sb = &report.superblock;
    let remaps: Vec<_> = report
        .entries
        .iter()
        .filter(|(_, e)| e.is_remapped())
        .collect();
    let pending: Vec<u64> = report
        .entries
        .iter()
        .filter(|(_, e)| e.is_pending())
        .map(|(main, _)| *main)
        .collect();
    if as_json {
        let value = json!({
            "superblock_slots": {
                "A": slot_json(&report.slots.a),
                "B": slot_json(&report.slots.b),
            },
            "superblock": superblock_json(sb),
            "log": {
                "next_block": report.loaded.position.next_block,
                "commits": report.loaded.position.next_commit,
                "incomplete_blocks": report.loaded.incomplete_blocks,
            },
            "scanner_cursor": report.loaded.scanner_cursor,
            "remaps": remaps.iter().map(|(main, e)| json!({
                "main_block": main,
                "spare_block": e.spare(),
                "spare_sector": e.spare().and_then(|s| sb.layout.spare_block_sector(s)),
                "flags": flags_text(e),
            })).collect::<Vec<_>>(),
            "pending": pending,
            "bad_spares": report.bad,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    let l = &sb.layout;
    println!("superblock A: {}", slot_text(&report.slots.a));
    println!("superblock B: {}", slot_text(&report.slots.b));
    println!(
        "generation: {} (slot {})",
        sb.generation,
        sb.slot().as_str()
    );
    println!("main uuid: {}", uuid::format(&sb.binding.main_uuid));
    println!("spare uuid: {}", uuid::format(&sb.binding.spare_uuid));
    println!("main sectors: {}", sb.binding.main_sectors);
    println!("spare offset: {} sectors", sb.binding.spare_offset);
    println!("spare sectors: {}", l.spare_sectors);
    println!("block size: {} bytes", l.block_size);
    println!(
        "layout: log {}+{} blocks, data {}+{} blocks, snapshot A {} B {} ({} blocks each), max entries {}",
        l.log_start,
        l.log_blocks,
        l.data_start,
        l.data_blocks,
        l.snapshot_start[0],
        l.snapshot_start[1],
        l.snapshot_blocks,
        l.max_entries
    );
    println!(
        "snapshot: {} entries in {} blocks",
        sb.snapshot_entries, sb.snapshot_used_blocks
    );
    println!(
        "log: {} blocks in {} commits replayed{}",
        report.loaded.position.next_block,
        report.loaded.position.next_commit,
        if report.loaded.incomplete_blocks > 0 {
            format!(
                ", {} blocks of an incomplete commit ignored",
                report.loaded.incomplete_blocks
            )
        } else {
            String::new()
        }
    );
    println!("scanner cursor: {}", report.loaded.scanner_cursor);
    println!("remaps: {}", remaps.len());
    for (main, entry) in &remaps {
        println!(
            "  main {} -> spare {} ({})",
            main,
            entry.spare().unwrap_or(0),
            flags_text(entry)
        );
    }
    println!("pending: {}", pending.len());
    for main in &pending {
        println!("  main {main}");
    }
    println!("bad spares: {}", report.bad.len());
    for spare in &report.bad {
        println!("  spare {spare}");
    }
}

fn dump(path: PathBuf, spare_offset: u64, as_json: bool) -> Result<(), String> {
    let mut device = FileDevice::open(&path, spare_offset, false)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let available = device.available_sectors().map_err(|e| e.to_string())?;
    let expected = Expected {
        main_sectors: None,
        spare_offset: Some(spare_offset),
        spare_sectors: available,
        main_uuid: None,
        spare_uuid: None,
    };
    let report = inspect(&mut device, &expected).map_err(|e| e.to_string())?;
    print_dump(&report, as_json);
    Ok(())
}

fn check(path: PathBuf, expect: ExpectArgs) -> Result<(), String> {
    let mut device = FileDevice::open(&path, expect.spare_offset, false)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let expected = expect.expected(&mut device)?;
    let report = inspect(&mut device, &expected).map_err(|e| e.to_string())?;
    for (name, state) in [("A", &report.slots.a), ("B", &report.slots.b)] {
        if let SlotState::Invalid(fault) = state {
            eprintln!(
                "warning: superblock {name}: {} (older or torn slot; slot {} is in use)",
                fault.as_str().trim_start_matches("superblock: "),
                report.superblock.slot().as_str()
            );
        }
    }
    println!(
        "{}: clean (generation {}, {} remapped, {} pending, {} bad spares)",
        path.display(),
        report.superblock.generation,
        report
            .entries
            .iter()
            .filter(|(_, e)| e.is_remapped())
            .count(),
        report
            .entries
            .iter()
            .filter(|(_, e)| e.is_pending())
            .count(),
        report.bad.len()
    );
    Ok(())
}

fn debug_apply(
    path: PathBuf,
    expect: ExpectArgs,
    write_errors: Vec<u64>,
    read_errors: Vec<u64>,
    fail_spares: u32,
) -> Result<(), String> {
    let mut device = FileDevice::open(&path, expect.spare_offset, true)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let expected = expect.expected(&mut device)?;
    let mut buffer = [0u8; 4096];
    let (req, _) = MemoryRequirements::for_open(&mut device, &mut buffer, &expected)
        .map_err(|e| e.to_string())?;
    let mut engine = Engine::open(device, engine_memory(req), &expected, Config::default())
        .map_err(|e| e.to_string())?;
    let mut failures_left = fail_spares;
    for block in write_errors {
        let mut ticket = engine
            .on_write_error(block, IoTarget::Main, true)
            .map_err(|e| e.to_string())?;
        while failures_left > 0 {
            failures_left -= 1;
            engine.fail_remap(ticket, true).map_err(|e| e.to_string())?;
            ticket = engine.begin_remap(block, true).map_err(|e| e.to_string())?;
        }
        engine.complete_remap(ticket).map_err(|e| e.to_string())?;
        engine.commit().map_err(|e| e.to_string())?;
    }
    for block in read_errors {
        engine
            .on_read_error(block, IoTarget::Main)
            .map_err(|e| e.to_string())?;
        engine.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Format {
            spare,
            spare_offset,
            spare_len,
            main_size,
            block_size,
            log_blocks,
            main_uuid,
            spare_uuid,
            force,
        } => format(
            spare,
            spare_offset,
            spare_len,
            main_size,
            block_size,
            log_blocks,
            main_uuid,
            spare_uuid,
            force,
        ),
        Command::Dump {
            path,
            spare_offset,
            json,
        } => dump(path, spare_offset, json),
        Command::Check { path, expect } => check(path, expect),
        Command::DebugApply {
            path,
            expect,
            write_errors,
            read_errors,
            fail_spares,
        } => debug_apply(path, expect, write_errors, read_errors, fail_spares),
        Command::ReplayLog(args) => logwrites::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dm-remap: {message}");
            ExitCode::FAILURE
        }
    }
}
