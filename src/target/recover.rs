// SPDX-License-Identifier: GPL-2.0

//! The worker's handling of bios (process context, engine locked):
//!
//! - a failed write: every block of the bio is written again where it
//!   belongs; blocks that still fail are remapped to a new spare block
//!   (again if that spare fails too);
//! - a failed read: every block is read again, up to `read_retries` times;
//!   a block that reads only after a retry is weak and is rescued to a
//!   spare block, one that never reads becomes pending and the bio fails;
//! - a write to a pending block: written to a new spare block.
//!
//! Only media errors (`crate::engine::classify_status`) get here from
//! `end_io`, and the worker's own I/O is judged the same way: a retry or a
//! spare write that fails with anything else (the path, a full thin pool,
//! resources) ends the bio with that status at once and changes nothing,
//! so a device outage never remaps blocks nor retires spare blocks.
//!
//! Every write the worker issues for a bio carries the bio's `REQ_FUA`:
//! where no commit follows (a block rewritten in place or on its existing
//! spare block), that is what makes the data durable before the bio is
//! acknowledged.  (A `REQ_PREFLUSH` never reaches a target with data: dm
//! core sends it as an empty flush, to both devices, before mapping the
//! data.)
//!
//! The metadata is committed before the bio completes, so a successful
//! completion always means the data and its mapping are durable.  A
//! remapped block stays busy (other I/O to it held) until that commit has
//! completed: only then does it route to its new spare block.

use super::{Core, IOERR};
use crate::dm::{Bio, BlkStatus, SavedIter, WorkRef};
use crate::engine::{is_media_error, IoTarget, PolicyError, RemapTicket, Route};

/// Handle one failed write of `saved.size()` bytes at target sector `rel`;
/// returns the bio's final status.
pub(super) fn failed_write(
    s: &Core,
    bio: &Bio,
    saved: &SavedIter,
    rel: u64,
    fua: bool,
    work: &WorkRef<'_>,
) -> u8 {
    let mut worker = s.lock_worker();
    let block_bytes = s.block_size;
    let sectors = u64::from(saved.size() >> 9);
    let (first, last) = (
        rel >> s.block_shift,
        (rel + sectors.max(1) - 1) >> s.block_shift,
    );
    // The bio's status: 0, or the first failure.
    let mut status = 0;
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
        let (written, failed_on) = match route {
            Route::Spare(index) => match spare_sector {
                // The bio's FUA: no commit follows a rewrite that succeeds
                // on the block's existing spare block.
                Some(sector) => (
                    io.write_bio(&s.spare, s.spare_offset + sector, bio, fua),
                    IoTarget::Spare(index),
                ),
                None => (Err(BlkStatus::IOERR), IoTarget::Spare(index)),
            },
            // Try main once more: the error may have covered only some of
            // the bio's blocks.
            _ => (
                io.write_bio(&s.main, s.main_offset + (block << s.block_shift), bio, fua),
                IoTarget::Main,
            ),
        };
        match written {
            Ok(()) => continue,
            Err(e) if !is_media_error(e.0) => {
                // Not this block's fault: pass it up, remap nothing.
                crate::dm_err_limit!(
                    "write of block {block} failed with status {} (not a media error); passed up",
                    e.0
                );
                status = e.0;
                break;
            }
            Err(_) => {}
        }
        let first_try = worker.engine.on_write_error(block, failed_on, true);
        if let Err(e) = remap_block(s, &mut worker, bio, block, first_try, fua) {
            status = e;
            if !is_media_error(e) {
                break;
            }
        }
    }
    finish(s, &mut worker, first..last + 1, status, "write error", work)
}

/// Commit what the bio's handling changed, end the busy window of its
/// `blocks` (see [`Core::settle`]) and raise events; the bio's status:
/// `status` (0: success), or `BLK_STS_IOERR` if the commit failed.
fn finish(
    s: &Core,
    worker: &mut super::Worker,
    blocks: core::ops::Range<u64>,
    mut status: u8,
    what: &str,
    work: &WorkRef<'_>,
) -> u8 {
    if let Err(e) = s.settle(worker, blocks, work) {
        crate::dm_err_limit!("metadata commit after {what} failed: {}", e.as_str());
        if status == 0 {
            status = IOERR;
        }
    }
    s.raise_events(worker);
    status
}

/// Handle one failed read of `saved.size()` bytes at target sector `rel`;
/// returns the bio's final status.  The bio's pages receive the data of
/// every block that could be read.
pub(super) fn failed_read(
    s: &Core,
    bio: &Bio,
    saved: &SavedIter,
    rel: u64,
    work: &WorkRef<'_>,
) -> u8 {
    let mut worker = s.lock_worker();
    let retries = s.read_retries();
    let sectors = u64::from(saved.size() >> 9);
    let (first, last) = (
        rel >> s.block_shift,
        (rel + sectors.max(1) - 1) >> s.block_shift,
    );
    // The bio failed as a whole: with one block, that block failed once
    // already; with several, the first read of each block finds out which.
    let failed_before = u32::from(first == last);
    let mut status = 0;
    for block in first..=last {
        let skip = (((block << s.block_shift).max(rel) - rel) << 9) as u32;
        bio.set_range(saved, skip, s.block_size);
        let route = worker.engine.table().route_read(block);
        let (dev, sector, target) = s.location(&worker, block, route);
        let io = worker.engine.device_mut().io();
        let mut failures = failed_before;
        let result = loop {
            if failures > retries {
                break Err(());
            }
            match io.read_bio(dev, sector, bio) {
                Ok(()) => break Ok(failures > 0),
                Err(e) if !is_media_error(e.0) => {
                    // The device, not the block: no verdict, nothing marked.
                    crate::dm_err_limit!(
                        "read of block {block} failed with status {} (not a media error); passed up",
                        e.0
                    );
                    status = e.0;
                    break Err(());
                }
                Err(_) => failures += 1,
            }
        };
        if status != 0 {
            break;
        }
        match result {
            Ok(false) => {
                if matches!(target, IoTarget::Main) {
                    // A pending block that reads again is healthy.
                    let _ = worker.engine.on_read_ok(block);
                }
            }
            Ok(true) => rescue_weak(s, &mut worker, block, target, work),
            Err(()) => {
                status = IOERR;
                match worker.engine.on_read_error(block, target) {
                    Ok(action) => crate::dm_err_limit!(
                        "read of block {block} failed after {retries} retries: {}",
                        match action {
                            crate::engine::ReadErrorAction::MarkedPending =>
                                "pending until rewritten",
                            crate::engine::ReadErrorAction::Recorded => "recorded",
                        }
                    ),
                    Err(e) => crate::dm_err_limit!("read of block {block} failed: {}", e.as_str()),
                }
            }
        }
    }
    finish(s, &mut worker, first..last + 1, status, "read error", work)
}

/// `block` read only after a retry: copy it to a spare block while it is
/// still readable.  If it cannot be read any more, it becomes pending.
pub(super) fn rescue_weak(
    s: &Core,
    worker: &mut super::Worker,
    block: u64,
    target: IoTarget,
    work: &WorkRef<'_>,
) {
    let ticket = match worker.engine.on_read_retry_succeeded(block, target) {
        Ok(ticket) => ticket,
        Err(e) => {
            crate::dm_warn_limit!("weak block {block} not rescued: {}", e.as_str());
            return;
        }
    };
    match s.copy_remap(worker, ticket, work) {
        Ok(()) => crate::dm_info_limit!(
            "weak block {block} rescued to spare block {}",
            worker_spare(worker, block)
        ),
        Err(super::copy::CopyError::Unreadable(_)) => {
            crate::dm_err_limit!("weak block {block} became unreadable; pending until rewritten");
            let _ = worker.engine.on_read_error(block, target);
        }
        Err(e) => crate::dm_err_limit!("weak block {block} not rescued: {}", e.text()),
    }
}

fn worker_spare(worker: &super::Worker, block: u64) -> u64 {
    worker
        .engine
        .table()
        .get(block)
        .and_then(|entry| entry.spare())
        .unwrap_or(u64::MAX)
}

/// A write to a pending block (taken over in `map`, one block): write it
/// to a new spare block; if nothing can be remapped (observe-only, spare
/// pool exhausted), write it where the block lives, as before.
pub(super) fn pending_write(
    s: &Core,
    bio: &Bio,
    saved: &SavedIter,
    rel: u64,
    fua: bool,
    work: &WorkRef<'_>,
) -> u8 {
    let mut worker = s.lock_worker();
    let block = rel >> s.block_shift;
    bio.set_range(saved, 0, s.block_size);
    let route = worker.engine.table().route_write(block);
    let result = match route {
        Route::Remap => match worker.engine.begin_remap(block, true) {
            Ok(ticket) => remap_block(s, &mut worker, bio, block, Ok(ticket), fua),
            Err(e) => {
                crate::dm_warn_limit!(
                    "pending block {block} not remapped ({}); writing it in place",
                    e.as_str()
                );
                write_in_place(s, &mut worker, bio, block, fua)
            }
        },
        // The block changed state while the write was queued.
        _ => write_in_place(s, &mut worker, bio, block, fua),
    };
    finish(
        s,
        &mut worker,
        block..block + 1,
        result.err().unwrap_or(0),
        "remap of a pending block",
        work,
    )
}

/// Write the block where it lives (with the bio's FUA: no commit follows);
/// the failure's status.
fn write_in_place(
    s: &Core,
    worker: &mut super::Worker,
    bio: &Bio,
    block: u64,
    fua: bool,
) -> Result<(), u8> {
    let route = worker.engine.table().route_read(block);
    let (dev, sector, _) = s.location(worker, block, route);
    worker
        .engine
        .device_mut()
        .io()
        .write_bio(dev, sector, bio, fua)
        .map_err(|e| e.0)
}

/// Write the block's data to a new spare block, trying further spares if
/// one fails with a media error; the status to fail the bio with if the
/// block could not be remapped.  A spare write that fails with any other
/// error (the spare device, not the spare block) gives the spare block
/// back, retires nothing, and returns that status.  The block stays busy
/// until the caller's [`Core::settle`].
fn remap_block(
    s: &Core,
    worker: &mut super::Worker,
    bio: &Bio,
    block: u64,
    mut ticket: Result<RemapTicket, PolicyError>,
    fua: bool,
) -> Result<(), u8> {
    loop {
        let t = match ticket {
            Ok(t) => t,
            Err(e) => {
                crate::dm_err_limit!("write error on block {block} not remapped: {}", e.as_str());
                return Err(IOERR);
            }
        };
        let io = worker.engine.device_mut().io();
        // The bio's FUA, although the commit that follows flushes the
        // spare before the bio is acknowledged: every write issued for a
        // bio carries its durability request.
        match io.write_bio(&s.spare, s.spare_offset + t.spare_sector, bio, fua) {
            Ok(()) => {
                return match worker.engine.complete_remap_busy(t) {
                    Ok(()) => {
                        if crate::dm::param::get(&super::params::dm_remap_debug) >= 1 {
                            crate::dm_info_limit!(
                                "block {block} remapped to spare block {}",
                                t.spare
                            );
                        }
                        Ok(())
                    }
                    Err(e) => {
                        crate::dm_err_limit!("remap of block {block}: {}", e.as_str());
                        // Back to its previous state, unless the change
                        // was made and only its record failed: then
                        // `settle` publishes it as not durable.
                        let _ = worker.engine.fail_remap(t, false);
                        Err(IOERR)
                    }
                };
            }
            Err(e) if !is_media_error(e.0) => {
                crate::dm_err_limit!(
                    "spare write failed with status {} (not a media error); block {block} not remapped, spare block {} kept",
                    e.0,
                    t.spare
                );
                let _ = worker.engine.fail_remap(t, false);
                return Err(e.0);
            }
            Err(e) => {
                crate::dm_err_limit!(
                    "spare block {} failed (status {}); trying another",
                    t.spare,
                    e.0
                );
                let _ = worker.engine.fail_remap(t, true);
                ticket = worker.engine.begin_remap(block, true);
            }
        }
    }
}
