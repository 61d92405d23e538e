// SPDX-License-Identifier: GPL-2.0

//! Constructing a `remap` target: validate the table line, open both
//! devices, and open (or, on a blank spare or on request, format) the
//! metadata.  Every check that can refuse the table runs before the first
//! write to the spare.

use super::meta::{KernelStorage, SpareMeta};
use super::params;
use super::table::{TableLine, DEFAULT_READ_RETRIES};
use super::{State, Worker};
use crate::dm::limits::MAX_LOGICAL_BLOCK_SIZE;
use crate::dm::misc::random_uuid;
use crate::dm::param;
use crate::dm::{Args, BioQueue, CtrContext, CtrError, DmDevice, KvBuf, KvShared, Mutex, SpinLock};
use crate::engine::{
    Config, DeviceBinding, Engine, EngineMemory, Expected, FormatParams, FormatPolicy, Layout,
    MetaError, OpenPlan,
};
use crate::{dm_err, dm_info, dm_warn};
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, AtomicU64};

/// Bytes read at a time while checking that a spare region is blank
/// before formatting it: the whole metadata footprint is read (about 14 MiB
/// for a 1 GiB region), and 4 KiB synchronous reads would take long.
const BLANK_CHECK_CHUNK: usize = 128 * 1024;

fn name(dev: &DmDevice) -> &str {
    dev.name().to_str().unwrap_or("?")
}

fn path(p: &CStr) -> &str {
    p.to_str().unwrap_or("(not UTF-8)")
}

fn open_device(
    ctx: &mut CtrContext<'_>,
    p: &CStr,
    role: &str,
    fail: &'static CStr,
) -> Result<DmDevice, CtrError> {
    ctx.get_device(p).map_err(|e| {
        dm_err!(
            "cannot open {role} device {}: {} ({})",
            path(p),
            lookup_error_reason(e),
            e.0
        );
        CtrError::invalid(fail)
    })
}

/// Why `dm_get_device()` failed, in words (its errno alone is cryptic).
fn lookup_error_reason(e: crate::dm::Errno) -> &'static str {
    match -e.0 {
        2 => "no such file",
        6 | 19 => "no such device",
        15 => "not a block device",
        13 | 1 => "permission denied",
        16 => "device is busy (opened exclusively)",
        22 => "invalid device, or the remap device itself",
        _ => "cannot open device",
    }
}

fn overlaps(a_start: u64, a_len: u64, b_start: u64, b_len: u64) -> bool {
    a_start < b_start.saturating_add(b_len) && b_start < a_start.saturating_add(a_len)
}

fn metadata_error(spare: &DmDevice, e: MetaError) -> CtrError {
    match e {
        MetaError::NotBlank { .. } => {
            dm_err!(
                "spare {}: {} (sector relative to <spare_offset>); pass feature 'format' to overwrite",
                name(spare),
                e
            );
            CtrError::invalid(
                c"Spare region is not blank; refusing to format it (feature 'format' overwrites it)",
            )
        }
        MetaError::ForeignData => {
            dm_err!(
                "spare {}: {}; pass feature 'format' to overwrite",
                name(spare),
                e
            );
            CtrError::invalid(
                c"Spare region holds foreign data; refusing to overwrite it (feature 'format' overwrites it)",
            )
        }
        _ => {
            dm_err!("spare {}: {}", name(spare), e);
            CtrError::invalid(c"Spare metadata rejected (reason in the kernel log)")
        }
    }
}

/// Validate the line and build the target (see `docs/dm-remap.rst`).
pub(super) fn construct(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<State, CtrError> {
    let line = TableLine::parse(args)?;
    let len = ctx.ti().len();

    let main = open_device(ctx, line.main_path, "main", c"Main device lookup failed")?;
    let spare = open_device(ctx, line.spare_path, "spare", c"Spare device lookup failed")?;

    let main_size = main.sectors();
    if line
        .main_offset
        .checked_add(len)
        .is_none_or(|end| end > main_size)
    {
        dm_err!(
            "main_offset {} + length {} exceeds main device {} ({} sectors)",
            line.main_offset,
            len,
            name(&main),
            main_size
        );
        return Err(CtrError::invalid(
            c"Invalid <main_offset>: mapped range goes beyond the main device",
        ));
    }
    if line.spare_len == 0 {
        return Err(CtrError::invalid(c"Invalid <spare_len>: must not be zero"));
    }
    let spare_size = spare.sectors();
    if line
        .spare_offset
        .checked_add(line.spare_len)
        .is_none_or(|end| end > spare_size)
    {
        dm_err!(
            "spare_offset {} + spare_len {} exceeds spare device {} ({} sectors)",
            line.spare_offset,
            line.spare_len,
            name(&spare),
            spare_size
        );
        return Err(CtrError::invalid(
            c"Invalid <spare_len>: spare region goes beyond the spare device",
        ));
    }
    // Compare sector ranges on the whole disk, not device numbers: a
    // partition and the disk that holds it (or two partitions of one disk,
    // should they overlap) are different devices over the same sectors.
    let main_disk = main.disk_position();
    let spare_disk = spare.disk_position();
    if main_disk.disk == spare_disk.disk
        && overlaps(
            main_disk.start.saturating_add(line.main_offset),
            len,
            spare_disk.start.saturating_add(line.spare_offset),
            line.spare_len,
        )
    {
        dm_err!(
            "spare region {}+{} of {} overlaps the mapped range {}+{} of {} (disk sectors {}+{} and {}+{})",
            line.spare_offset,
            line.spare_len,
            name(&spare),
            line.main_offset,
            len,
            name(&main),
            spare_disk.start.saturating_add(line.spare_offset),
            line.spare_len,
            main_disk.start.saturating_add(line.main_offset),
            len
        );
        return Err(CtrError::invalid(
            c"Spare region overlaps the mapped range of the main device",
        ));
    }

    // Block size: by default the larger logical block size of the two
    // devices; a larger one may be asked for, and is then also the mapped
    // device's logical block size, so no bio ever covers part of a block.
    let lbs = main
        .logical_block_size()
        .max(spare.logical_block_size())
        .max(512);
    let block_size = line.features.block_size.unwrap_or(lbs);
    if block_size < lbs {
        dm_err!("block_size {block_size} is smaller than the devices' logical block size {lbs}");
        return Err(CtrError::invalid(
            c"Invalid block_size: smaller than the devices' logical block size",
        ));
    }
    // A logical block size the kernel does not accept for the mapped
    // device fails the table only at resume, after the spare was formatted:
    // refuse it here, before anything is written.
    if u64::from(block_size) > MAX_LOGICAL_BLOCK_SIZE {
        dm_err!(
            "block_size {block_size} is larger than the page size ({MAX_LOGICAL_BLOCK_SIZE}), the largest logical block size of a device-mapper device"
        );
        return Err(CtrError::invalid(
            c"Invalid block_size: larger than the page size (the largest logical block size the mapped device can have)",
        ));
    }
    let block_sectors = u64::from(block_size / 512);
    let block_shift = block_sectors.trailing_zeros();
    for (what, value, msg) in [
        (
            "main_offset",
            line.main_offset,
            c"Invalid <main_offset>: not a multiple of the block size",
        ),
        (
            "spare_offset",
            line.spare_offset,
            c"Invalid <spare_offset>: not a multiple of the block size",
        ),
        (
            "target length",
            len,
            c"Invalid target length: not a multiple of the block size",
        ),
    ] {
        if value % block_sectors != 0 {
            dm_err!("{what} {value} is not a multiple of the block size ({block_size} bytes)");
            return Err(CtrError::invalid(msg));
        }
    }

    // The spare must hold at least the metadata and one data block (the
    // engine's own layout rule, checked before any metadata I/O).
    if let Err(e) = Layout::compute(
        line.spare_len,
        FormatParams {
            block_size,
            ..FormatParams::defaults_for(line.spare_len)
        },
    ) {
        dm_err!("spare_len {}: {}", line.spare_len, e.as_str());
        return Err(CtrError::invalid(
            c"Invalid <spare_len>: too small for the metadata and one spare block",
        ));
    }

    // Spare sizing policy (module parameters).
    let percent = u64::from(param::get(&params::spare_overhead_percent));
    let minimum = len.saturating_mul(percent) / 100;
    if line.spare_len < minimum {
        if param::get(&params::strict_spare_sizing) == 1 {
            dm_err!(
                "spare_len {} is below spare_overhead_percent={}% of the mapped length ({} sectors)",
                line.spare_len,
                percent,
                minimum
            );
            return Err(CtrError::invalid(
                c"Spare region too small (strict_spare_sizing=1)",
            ));
        }
        dm_warn!(
            "spare_len {} is below spare_overhead_percent={}% of the mapped length ({} sectors)",
            line.spare_len,
            percent,
            minimum
        );
    }

    let config = Config {
        observe_only: line.features.no_auto_remap || param::get(&params::real_device_mode) == 0,
        read_retries: line.features.read_retries.unwrap_or(DEFAULT_READ_RETRIES),
        scan_rate: line
            .features
            .scan_rate
            .unwrap_or(super::scan::DEFAULT_SCAN_RATE),
        // A worker run may scan up to 8 full windows.
        scan_burst: super::scan::WINDOWS_PER_RUN * super::scan::WINDOW_BLOCKS,
        ..Config::default()
    };

    // The engine owns a second reference to the spare for its metadata I/O.
    let meta_dev = open_device(ctx, line.spare_path, "spare", c"Spare device lookup failed")?;
    let mut meta = SpareMeta::new(meta_dev, line.spare_offset, line.spare_len)
        .map_err(|_| CtrError::invalid(c"Cannot allocate metadata I/O client"))?;
    let nomem = || CtrError {
        message: c"Cannot allocate remap table",
        errno: crate::dm::Errno::ENOMEM,
    };
    let expected = Expected {
        main_sectors: Some(len),
        spare_offset: Some(line.spare_offset),
        spare_sectors: line.spare_len,
        main_uuid: None,
        spare_uuid: None,
    };
    // Load, format or refuse: the engine's one decision (the CLI and the
    // tests use the same).  A region is formatted only if its whole
    // metadata footprint reads as zero, or on the feature `format`.
    let format_params = FormatParams {
        block_size,
        ..FormatParams::defaults_for(line.spare_len)
    };
    let format_policy = if line.features.format {
        FormatPolicy::Overwrite
    } else {
        FormatPolicy::IfBlank
    };
    let plan = {
        // Only for this decision: the probe and the chunks of the blank
        // check.  The engine gets a buffer of its own size below.
        let mut scratch = KvBuf::<u8>::new(BLANK_CHECK_CHUNK).map_err(|_| nomem())?;
        Engine::<KernelStorage, SpareMeta>::plan_open(
            &mut meta,
            &mut scratch,
            &expected,
            format_params,
            format_policy,
        )
        .map_err(|e| metadata_error(&spare, e))?
    };
    let (engine, table) = match plan {
        OpenPlan::Load {
            requirements,
            superblock,
        } => {
            if superblock.layout.block_size != block_size {
                dm_err!(
                    "spare {} was formatted with block_size {}, the table asks for {}",
                    name(&spare),
                    superblock.layout.block_size,
                    block_size
                );
                return Err(CtrError::invalid(
                    c"Invalid block_size: differs from the spare's metadata",
                ));
            }
            let table =
                KvShared::<AtomicU64>::new(requirements.table_words).map_err(|_| nomem())?;
            let memory = EngineMemory::<KernelStorage> {
                table: table.clone(),
                bitmaps: KvBuf::new(requirements.bitmap_words).map_err(|_| nomem())?,
                buffer: KvBuf::new(requirements.buffer_bytes).map_err(|_| nomem())?,
            };
            // Read-only until the first resume: the table this one replaces
            // may still be writing the metadata (see `State::preresume`).
            let engine = Engine::open_deferred(meta, memory, &expected, config)
                .map_err(|e| metadata_error(&spare, e))?;
            dm_info!(
                "{}: loaded metadata generation {} on {} ({} remapped, {} pending)",
                name(&main),
                engine.superblock().generation,
                name(&spare),
                engine.status().remapped_blocks,
                engine.status().pending_blocks
            );
            (engine, table)
        }
        OpenPlan::Format(plan) => {
            let requirements = plan.requirements();
            let table =
                KvShared::<AtomicU64>::new(requirements.table_words).map_err(|_| nomem())?;
            let memory = EngineMemory::<KernelStorage> {
                table: table.clone(),
                bitmaps: KvBuf::new(requirements.bitmap_words).map_err(|_| nomem())?,
                buffer: KvBuf::new(requirements.buffer_bytes).map_err(|_| nomem())?,
            };
            let binding = DeviceBinding {
                main_uuid: random_uuid(),
                spare_uuid: random_uuid(),
                main_sectors: len,
                spare_offset: line.spare_offset,
            };
            let engine = Engine::format_planned(meta, memory, binding, plan, config)
                .map_err(|e| metadata_error(&spare, e))?;
            if line.features.format {
                dm_warn!(
                    "{}: formatted spare {} as asked by feature 'format', over whatever it held ({} spare blocks of {} bytes)",
                    name(&main),
                    name(&spare),
                    engine.layout().data_blocks,
                    block_size
                );
            } else {
                dm_info!(
                    "{}: formatted blank spare {} ({} spare blocks of {} bytes)",
                    name(&main),
                    name(&spare),
                    engine.layout().data_blocks,
                    block_size
                );
            }
            (engine, table)
        }
    };

    let layout = *engine.layout();
    let scan = super::scan::ScanControl::new(engine.status().scanner_cursor);
    let worker = Worker {
        engine,
        block_buf: KvBuf::new(block_size as usize).map_err(|_| nomem())?,
        scan,
    };
    ctx.set_num_flush_bios(2);
    ctx.set_num_discard_bios(1);
    ctx.set_num_write_zeroes_bios(1);
    ctx.set_per_io_data_size(crate::dm::PER_BIO_BYTES as u32);
    ctx.set_accounts_remapped_io();
    Ok(State {
        main,
        main_offset: line.main_offset,
        spare,
        spare_offset: line.spare_offset,
        spare_len: line.spare_len,
        features: line.features,
        block_size,
        block_shift,
        layout,
        table,
        worker: Mutex::new(worker).map_err(|_| nomem())?,
        deferred: SpinLock::new(BioQueue::default()).map_err(|_| nomem())?,
        writes_in_flight: [AtomicU64::new(0), AtomicU64::new(0)],
        write_epoch: AtomicU64::new(0),
        // Until the first resume.
        suspended: AtomicBool::new(true),
        events: ctx.table_event(),
        expected,
    })
}
