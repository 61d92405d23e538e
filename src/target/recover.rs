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
//! The metadata is committed before the bio completes, so a successful
//! completion always means the data and its mapping are durable.

use super::State;
use crate::dm::{Bio, SavedIter};
use crate::engine::{IoTarget, PolicyError, RemapTicket, Route};

/// `BLK_STS_IOERR`.
const IOERR: u8 = 10;

/// Handle one failed write of `saved.size()` bytes at target sector `rel`;
/// returns the bio's final status.
pub(super) fn failed_write(s: &State, bio: &Bio, saved: &SavedIter, rel: u64, fua: bool) -> u8 {
    let mut worker = s.lock_worker();
    let block_bytes = s.block_size;
    let sectors = u64::from(saved.size() >> 9);
    let (first, last) = (
        rel >> s.block_shift,
        (rel + sectors.max(1) - 1) >> s.block_shift,
    );
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
                Some(sector)
                    if io
                        .write_bio(&s.spare, s.spare_offset + sector, bio, false)
                        .is_ok() =>
                {
                    continue
                }
                _ => IoTarget::Spare(index),
            },
            _ => {
                // Try main once more: the error may have covered only some
                // of the bio's blocks.
                if io
                    .write_bio(&s.main, s.main_offset + (block << s.block_shift), bio, fua)
                    .is_ok()
                {
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
    finish(s, &mut worker, ok, "write error")
}

/// Commit what the bio's handling changed and raise events; the bio's
/// status: success only if `ok` and the commit succeeded.
fn finish(s: &State, worker: &mut super::Worker, mut ok: bool, what: &str) -> u8 {
    if worker.engine.needs_commit() {
        if let Err(e) = worker.engine.commit() {
            crate::dm_err_limit!("metadata commit after {what} failed: {}", e.as_str());
            ok = false;
        }
    }
    s.raise_events(worker);
    if ok {
        0
    } else {
        IOERR
    }
}

/// Handle one failed read of `saved.size()` bytes at target sector `rel`;
/// returns the bio's final status.  The bio's pages receive the data of
/// every block that could be read.
pub(super) fn failed_read(s: &State, bio: &Bio, saved: &SavedIter, rel: u64) -> u8 {
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
    let mut ok = true;
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
                Err(_) => failures += 1,
            }
        };
        match result {
            Ok(false) => {
                if matches!(target, IoTarget::Main) {
                    // A pending block that reads again is healthy.
                    let _ = worker.engine.on_read_ok(block);
                }
            }
            Ok(true) => rescue_weak(s, &mut worker, block, target),
            Err(()) => {
                ok = false;
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
    finish(s, &mut worker, ok, "read error")
}

/// `block` read only after a retry: copy it to a spare block while it is
/// still readable.  If it cannot be read any more, it becomes pending.
pub(super) fn rescue_weak(s: &State, worker: &mut super::Worker, block: u64, target: IoTarget) {
    let ticket = match worker.engine.on_read_retry_succeeded(block, target) {
        Ok(ticket) => ticket,
        Err(e) => {
            crate::dm_warn_limit!("weak block {block} not rescued: {}", e.as_str());
            return;
        }
    };
    match s.copy_remap(worker, ticket) {
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
pub(super) fn pending_write(s: &State, bio: &Bio, saved: &SavedIter, rel: u64, fua: bool) -> u8 {
    let mut worker = s.lock_worker();
    let block = rel >> s.block_shift;
    bio.set_range(saved, 0, s.block_size);
    let route = worker.engine.table().route_write(block);
    let ok = match route {
        Route::Remap => match worker.engine.begin_remap(block, true) {
            Ok(ticket) => remap_block(s, &mut worker, bio, block, Ok(ticket)),
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
    finish(s, &mut worker, ok, "remap of a pending block")
}

fn write_in_place(s: &State, worker: &mut super::Worker, bio: &Bio, block: u64, fua: bool) -> bool {
    let route = worker.engine.table().route_read(block);
    let (dev, sector, _) = s.location(worker, block, route);
    worker
        .engine
        .device_mut()
        .io()
        .write_bio(dev, sector, bio, fua)
        .is_ok()
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
                            crate::dm_info_limit!(
                                "block {block} remapped to spare block {}",
                                t.spare
                            );
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
