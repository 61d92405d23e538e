// SPDX-License-Identifier: GPL-2.0

//! Recovery of a failed write (worker context): every block of the bio is
//! written again where it belongs; blocks that still fail are remapped to a
//! new spare block (again if that spare fails too), and the metadata is
//! committed before the bio completes, so a successful completion always
//! means the data and its mapping are durable.

use super::State;
use crate::dm::{Bio, SavedIter};
use crate::engine::{IoTarget, PolicyError, RemapTicket, Route};

/// `BLK_STS_IOERR`.
const IOERR: u8 = 10;

/// Handle one failed write of `saved.size()` bytes at target sector `rel`;
/// returns the bio's final status.
pub(super) fn failed_write(s: &State, bio: &Bio, saved: &SavedIter, rel: u64, fua: bool) -> u8 {
    let mut worker = s.worker.lock();
    let block_bytes = s.block_size;
    let sectors = u64::from(saved.size() >> 9);
    let (first, last) = (rel >> s.block_shift, (rel + sectors.max(1) - 1) >> s.block_shift);
    let mut ok = true;
    for block in first..=last {
        let skip = (((block << s.block_shift).max(rel) - rel) << 9) as u32;
        bio.set_range(saved, skip, block_bytes);
        // Where does the block live now?  (Another failed write may have
        // remapped it meanwhile.)
        let route = worker.engine.table().route_write(block);
        let spare_sector = match route {
            Route::Spare(index) => worker.engine.spare_sector(index),
            _ => None,
        };
        let io = worker.engine.device_mut().io();
        let failed_on = match route {
            Route::Spare(index) => match spare_sector {
                Some(sector) if io.write_bio(&s.spare, s.spare_offset + sector, bio, false).is_ok() => continue,
                _ => IoTarget::Spare(index),
            },
            _ => {
                // Try main once more: the error may have covered only some
                // of the bio's blocks.
                if io.write_bio(&s.main, s.main_offset + (block << s.block_shift), bio, fua).is_ok() {
                    continue;
                }
                IoTarget::Main
            }
        };
        let first_try = worker.engine.on_write_error(block, failed_on, true);
        if !remap_block(s, &mut worker, bio, block, first_try) {
            ok = false;
        }
    }
    if worker.engine.needs_commit() {
        if let Err(e) = worker.engine.commit() {
            crate::dm_err_limit!("metadata commit after write error failed: {}", e.as_str());
            ok = false;
        }
    }
    s.raise_events(&mut worker);
    if ok {
        0
    } else {
        IOERR
    }
}

/// Write the block's data to a new spare block, trying further spares if
/// one fails; false if the block could not be remapped.
fn remap_block(
    s: &State,
    worker: &mut super::Worker,
    bio: &Bio,
    block: u64,
    mut ticket: Result<RemapTicket, PolicyError>,
) -> bool {
    loop {
        let t = match ticket {
            Ok(t) => t,
            Err(e) => {
                crate::dm_err_limit!("write error on block {block} not remapped: {}", e.as_str());
                return false;
            }
        };
        let io = worker.engine.device_mut().io();
        match io.write_bio(&s.spare, s.spare_offset + t.spare_sector, bio, false) {
            Ok(()) => {
                return match worker.engine.complete_remap(t) {
                    Ok(()) => {
                        if crate::dm::param::get(&super::params::dm_remap_debug) >= 1 {
                            crate::dm_info_limit!("block {block} remapped to spare block {}", t.spare);
                        }
                        true
                    }
                    Err(e) => {
                        crate::dm_err_limit!("remap of block {block}: {}", e.as_str());
                        false
                    }
                };
            }
            Err(e) => {
                crate::dm_err_limit!("spare block {} failed ({}); trying another", t.spare, e.0);
                let _ = worker.engine.fail_remap(t, true);
                ticket = worker.engine.begin_remap(block, true);
            }
        }
    }
}
