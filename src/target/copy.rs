// SPDX-License-Identifier: GPL-2.0

//! Remapping a block whose current data is still readable (a weak block
//! found by a read or the scanner, or a block named by a `remap` message):
//! the block is marked busy, writes that raced with the mark are drained,
//! the data is read again from where it lives and written to a new spare
//! block, and the remap is committed.  Reading again after the drain is what
//! makes this safe against a concurrent write: the copy always holds the
//! newest acknowledged data.  The block stays busy (I/O to it held) until
//! the commit that records the remap has completed.

use super::{Core, State, Worker};
use crate::dm::{BlkStatus, DmDevice, Errno, WorkRef};
use crate::engine::{is_media_error, IoTarget, PolicyError, RemapTicket, Route};

/// Why a copy-remap did not happen.  The block keeps its previous state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyError {
    /// In-flight writes did not drain in time.
    Busy,
    /// The block's data could not be read, even with retries (a media
    /// error).
    Unreadable(BlkStatus),
    /// A read or the spare write failed with an error that is not a media
    /// error (path, transport, space, resources): nothing was marked.
    Device(BlkStatus),
    /// The policy refused (observe-only, spare pool exhausted, ...).
    Policy(PolicyError),
    /// The metadata commit failed.
    Commit(PolicyError),
}

impl CopyError {
    /// The errno for a message reply.
    pub(super) fn errno(&self) -> Errno {
        match self {
            CopyError::Busy => Errno::EBUSY,
            CopyError::Unreadable(_) | CopyError::Device(_) | CopyError::Commit(_) => Errno::EIO,
            CopyError::Policy(PolicyError::SpareExhausted) => Errno::ENOSPC,
            CopyError::Policy(PolicyError::Busy) => Errno::EBUSY,
            CopyError::Policy(_) => Errno::EINVAL,
        }
    }

    /// In words, for the kernel log.
    pub(super) fn text(&self) -> &'static str {
        match self {
            CopyError::Busy => "writes to the device did not drain; try again",
            CopyError::Unreadable(_) => "its data cannot be read",
            CopyError::Device(_) => "a device failed the I/O with a non-media error",
            CopyError::Policy(e) | CopyError::Commit(e) => e.as_str(),
        }
    }
}

impl State {
    /// Where `block` lives now: device, absolute sector and policy target.
    pub(super) fn location(
        &self,
        worker: &Worker,
        block: u64,
        route: Route,
    ) -> (&DmDevice, u64, IoTarget) {
        match route {
            Route::Spare(index) => match worker.engine.spare_sector(index) {
                Some(sector) => (
                    &self.spare,
                    self.spare_offset + sector,
                    IoTarget::Spare(index),
                ),
                // Unreachable for a table the engine validated; reading
                // main then fails or returns main's data, never garbage.
                None => (
                    &self.main,
                    self.main_offset + (block << self.block_shift),
                    IoTarget::Main,
                ),
            },
            _ => (
                &self.main,
                self.main_offset + (block << self.block_shift),
                IoTarget::Main,
            ),
        }
    }

    /// Read retries (the `read_retries` feature).
    pub(super) fn read_retries(&self) -> u32 {
        self.features
            .read_retries
            .unwrap_or(super::table::DEFAULT_READ_RETRIES)
    }

    /// [`Core::copy_remap`] without the commit: the block stays busy, and
    /// the caller ends its busy window with [`Core::settle`] (which
    /// commits) before it reports success to anyone.
    pub(super) fn copy_remap_uncommitted(
        &self,
        worker: &mut Worker,
        mut ticket: RemapTicket,
    ) -> Result<(), CopyError> {
        let block = ticket.block;
        loop {
            if self.drain_writes().is_err() {
                let _ = worker.engine.fail_remap(ticket, false);
                return Err(CopyError::Busy);
            }
            // The route of a busy block is Defer; the entry's spare (if
            // any) still holds the data.
            let route = match worker
                .engine
                .table()
                .get(block)
                .and_then(|entry| entry.spare())
            {
                Some(spare) => Route::Spare(spare),
                None => Route::Main,
            };
            let (dev, sector, _) = self.location(worker, block, route);
            let Worker {
                engine, block_buf, ..
            } = &mut *worker;
            let io = engine.device_mut().io();
            let mut read = io.read_block(dev, sector, block_buf);
            for _ in 0..self.read_retries() {
                match read {
                    // Retrying cannot make a non-media error say anything
                    // about the block.
                    Err(e) if is_media_error(e.0) => {}
                    _ => break,
                }
                read = io.read_block(dev, sector, block_buf);
            }
            if let Err(e) = read {
                let _ = worker.engine.fail_remap(ticket, false);
                return Err(if is_media_error(e.0) {
                    CopyError::Unreadable(e)
                } else {
                    CopyError::Device(e)
                });
            }
            let to = self.spare_offset + ticket.spare_sector;
            // No FUA: the commit that ends the busy window flushes the
            // spare before its log block (and nothing is acknowledged
            // before that commit).
            if let Err(e) = io.write_block(&self.spare, to, block_buf, false) {
                if !is_media_error(e.0) {
                    // A spare outage says nothing about this spare block:
                    // give it back, retire nothing.
                    crate::dm_err_limit!(
                        "spare write failed (status {}, not a media error); spare block {} kept",
                        e.0,
                        ticket.spare
                    );
                    let _ = worker.engine.fail_remap(ticket, false);
                    return Err(CopyError::Device(e));
                }
                crate::dm_err_limit!(
                    "spare block {} failed (status {}); trying another",
                    ticket.spare,
                    e.0
                );
                let _ = worker.engine.fail_remap(ticket, true);
                ticket = worker
                    .engine
                    .begin_remap(block, true)
                    .map_err(CopyError::Policy)?;
                continue;
            }
            return worker.engine.complete_remap_busy(ticket).map_err(|e| {
                // Back to its previous state, unless only the record of
                // the change failed (then `settle` publishes it as not
                // durable).
                let _ = worker.engine.fail_remap(ticket, false);
                CopyError::Policy(e)
            });
        }
    }
}

impl Core {
    /// Copy `block` to the spare block of `ticket` (from `begin_remap` or
    /// `on_read_retry_succeeded`, so the block is busy), commit, and end
    /// the block's busy window.  A failing spare block is retired and
    /// another one tried.  On error the block is back in its previous
    /// state.
    pub(super) fn copy_remap(
        &self,
        worker: &mut Worker,
        ticket: RemapTicket,
        work: &WorkRef<'_>,
    ) -> Result<(), CopyError> {
        let copied = self.copy_remap_uncommitted(worker, ticket);
        let block = ticket.block;
        let committed = self.settle(worker, block..block + 1, work);
        copied?;
        committed.map_err(CopyError::Commit)
    }
}
