// SPDX-License-Identifier: GPL-2.0

//! The `remap` target: safe glue between the device-mapper abstraction
//! (`crate::dm`) and the remap engine.
//!
//! This version is a pass-through: every bio goes to the main device at
//! `main_offset + (sector - ti->begin)`.

pub mod params;
pub mod table;

use crate::dm::{
    Args, Bio, CtrContext, CtrError, DeviceIterator, DmDevice, Emitter, MapResult, StatusKind, Target, Ti,
};
use crate::{dm_err, VERSION};
use core::ffi::CStr;
use core::fmt::Write;
use table::TableLine;

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

/// State of one `remap` target.
pub struct RemapTarget {
    main: DmDevice,
    main_offset: u64,
}

impl Target for RemapTarget {
    const NAME: &'static CStr = c"remap";
    const VERSION: [u32; 3] = [0, 1, 0];

    fn ctr(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<Self, CtrError> {
        let line = TableLine::parse(args)?;
        let main = ctx.get_device(line.main_path).map_err(|e| {
            dm_err!(
                "cannot open main device {}: {} ({})",
                line.main_path.to_str().unwrap_or("(not UTF-8)"),
                lookup_error_reason(e),
                e.0
            );
            // dm core itself refuses the mapped device as its own member.
            CtrError::invalid(c"Main device lookup failed (missing, not a block device, or the remap device itself)")
        })?;
        let len = ctx.ti().len();
        let dev_sectors = main.sectors();
        let end = line.main_offset.checked_add(len);
        if end.is_none_or(|end| end > dev_sectors) {
            dm_err!(
                "main_offset {} + length {} exceeds main device {} ({} sectors)",
                line.main_offset,
                len,
                main.name().to_str().unwrap_or("?"),
                dev_sectors
            );
            return Err(CtrError::invalid(c"Invalid <main_offset>: mapped range goes beyond the main device"));
        }
        let lbs_sectors = u64::from(main.logical_block_size() >> 9).max(1);
        if line.main_offset % lbs_sectors != 0 {
            dm_err!(
                "main_offset {} is not a multiple of the main device's logical block size ({} bytes)",
                line.main_offset,
                main.logical_block_size()
            );
            return Err(CtrError::invalid(c"Invalid <main_offset>: not aligned to the logical block size"));
        }
        ctx.set_num_flush_bios(1);
        ctx.set_num_discard_bios(1);
        ctx.set_num_write_zeroes_bios(1);
        Ok(Self {
            main,
            main_offset: line.main_offset,
        })
    }

    fn map(&self, ti: &Ti, bio: &Bio) -> MapResult {
        bio.set_dev(&self.main);
        // An empty flush has no sector; everything else is shifted.
        if bio.sectors() != 0 {
            bio.set_sector(self.main_offset + (bio.sector() - ti.begin()));
        }
        MapResult::Remapped
    }

    fn status(&self, _ti: &Ti, kind: StatusKind, out: &mut Emitter<'_>) {
        // Output that does not fit is cut off by `Emitter`, like DMEMIT.
        let _ = match kind {
            StatusKind::Info => write!(out, "{VERSION} passthrough"),
            StatusKind::Table => write!(out, "{} {}", self.main.name().to_str().unwrap_or("?"), self.main_offset),
            StatusKind::Ima => write!(
                out,
                "target_name=remap,target_version={VERSION},main_dev={},main_offset={};",
                self.main.name().to_str().unwrap_or("?"),
                self.main_offset
            ),
        };
    }

    fn iterate_devices(&self, ti: &Ti, it: &mut DeviceIterator<'_>) -> i32 {
        it.visit(&self.main, self.main_offset, ti.len())
    }
}
