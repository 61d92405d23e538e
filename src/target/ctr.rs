// SPDX-License-Identifier: GPL-2.0

//! Constructing a `remap` target: validate the table line, open both
//! devices, and open (or, on a blank spare, format) the metadata.

use super::meta::{KernelStorage, SpareMeta};
use super::params;
use super::table::{TableLine, DEFAULT_READ_RETRIES};
use super::{State, Worker};
use crate::dm::misc::random_uuid;
use crate::dm::param;
use crate::dm::{Args, BioQueue, CtrContext, CtrError, DmDevice, KvBuf, KvShared, Mutex, SpinLock};
use crate::engine::{
    Config, DeviceBinding, Engine, EngineMemory, Expected, FormatParams, Layout,
    MemoryRequirements, MetaError,
};
use crate::{dm_err, dm_info, dm_warn};
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, AtomicU64};

/// Bytes of the engine's I/O buffer (two metadata blocks).
const ENGINE_BUFFER: usize = 8192;

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
    dm_err!("spare {}: {}", name(spare), e);
    match e {
        MetaError::ForeignData => CtrError::invalid(
            c"Spare region holds foreign data; refusing to overwrite it (wipe it or pick another)",
        ),
        _ => CtrError::invalid(c"Spare metadata rejected (reason in the kernel log)"),
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
    if main.same_device(&spare)
        && overlaps(line.main_offset, len, line.spare_offset, line.spare_len)
    {
        dm_err!(
            "spare region {}+{} overlaps the mapped range {}+{} of {}",
            line.spare_offset,
            line.spare_len,
            line.main_offset,
            len,
            name(&main)
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
    let mut buffer = KvBuf::<u8>::new(ENGINE_BUFFER).map_err(|_| nomem())?;
    let expected = Expected {
        main_sectors: Some(len),
        spare_offset: Some(line.spare_offset),
        spare_sectors: line.spare_len,
        main_uuid: None,
        spare_uuid: None,
    };
    let (engine, table) = match MemoryRequirements::for_open(&mut meta, &mut buffer, &expected) {
        Ok((req, superblock)) => {
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
            let table = KvShared::<AtomicU64>::new(req.table_words).map_err(|_| nomem())?;
            let memory = EngineMemory::<KernelStorage> {
                table: table.clone(),
                bitmaps: KvBuf::new(req.bitmap_words).map_err(|_| nomem())?,
                buffer: grow(buffer, req.buffer_bytes)?,
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
        Err(MetaError::Blank) => {
            let params = FormatParams {
                block_size,
                ..FormatParams::defaults_for(line.spare_len)
            };
            let req = MemoryRequirements::for_format(line.spare_len, params)
                .map_err(|e| metadata_error(&spare, e))?;
            let table = KvShared::<AtomicU64>::new(req.table_words).map_err(|_| nomem())?;
            let memory = EngineMemory::<KernelStorage> {
                table: table.clone(),
                bitmaps: KvBuf::new(req.bitmap_words).map_err(|_| nomem())?,
                buffer: grow(buffer, req.buffer_bytes)?,
            };
            let binding = DeviceBinding {
                main_uuid: random_uuid(),
                spare_uuid: random_uuid(),
                main_sectors: len,
                spare_offset: line.spare_offset,
            };
            let engine = Engine::format(meta, memory, binding, line.spare_len, params, config)
                .map_err(|e| metadata_error(&spare, e))?;
            dm_info!(
                "{}: formatted blank spare {} ({} spare blocks of {} bytes)",
                name(&main),
                name(&spare),
                engine.layout().data_blocks,
                block_size
            );
            (engine, table)
        }
        Err(e) => return Err(metadata_error(&spare, e)),
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

/// The engine may ask for a bigger buffer than the probe needed.
fn grow(buffer: KvBuf<u8>, bytes: usize) -> Result<KvBuf<u8>, CtrError> {
    if buffer.len() >= bytes {
        return Ok(buffer);
    }
    KvBuf::new(bytes).map_err(|_| CtrError {
        message: c"Cannot allocate metadata buffer",
        errno: crate::dm::Errno::ENOMEM,
    })
}
