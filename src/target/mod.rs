// SPDX-License-Identifier: GPL-2.0

//! The `remap` target: safe glue between the device-mapper abstraction
//! (`crate::dm`) and the remap engine (`crate::engine`).
//!
//! Bios are routed block by block through the engine's lock-free remap
//! table: unremapped ranges go to the main device, remapped blocks to their
//! spare block.  Everything that needs the engine runs on the target's
//! worker ([`State::run`]): reads and writes that failed are taken over in
//! `end_io` ([`recover`]), writes to pending blocks are taken over in `map`,
//! and the background scanner ([`scan`]) runs between them.  A bio the
//! worker finishes is acknowledged only after the metadata that its result
//! depends on is committed.

mod copy;
mod ctr;
mod message;
pub mod meta;
pub mod params;
mod recover;
mod scan;
mod status;
pub mod table;

use crate::dm::{
    Args, Bio, BioQueue, CtrContext, CtrError, DeviceIterator, DmDevice, Emitter, EndIo,
    EndIoResult, Errno, KvBuf, KvShared, MapIo, MapResult, MessageResult, Mutex, MutexGuard,
    OwnedBio, QueueLimits, ReqOp, SavedIter, SpinLock, StatusKind, TableEvent, Target, Ti, WorkBox,
    WorkItem, WorkRef,
};
use crate::dm_err;
use crate::engine::{Engine, Layout, RemapTable, Route};
use core::ffi::CStr;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use meta::{KernelStorage, SpareMeta};
use table::Features;

/// The engine with the buffer used to copy block data and the scanner's
/// state, behind one mutex.
pub struct Worker {
    /// The remap engine (metadata, policy).
    pub engine: Engine<KernelStorage, SpareMeta>,
    /// One remap block of data, for copies between main and spare.
    pub block_buf: KvBuf<u8>,
    /// Background scanner: read buffer and control state.
    pub scan: scan::ScanControl,
}

/// Everything a `remap` target shares between its hooks and its worker.
pub struct State {
    main: DmDevice,
    main_offset: u64,
    spare: DmDevice,
    spare_offset: u64,
    spare_len: u64,
    features: Features,
    /// Remap block size in bytes and as a shift of 512-byte sectors.
    block_size: u32,
    block_shift: u32,
    /// The spare region's layout (fixed for the life of the engine).
    layout: Layout,
    /// Second handle to the engine's table words, read lock-free by `map`.
    table: KvShared<AtomicU64>,
    worker: Mutex<Worker>,
    /// Bios the worker must finish (filled by `map` and `end_io`).
    deferred: SpinLock<BioQueue>,
    /// Writes in flight to the main device, counted per epoch so that a
    /// block marked busy can be copied once the writes that may have been
    /// routed before the mark have landed (see [`State::drain_writes`]).
    writes_in_flight: [AtomicU64; 2],
    write_epoch: AtomicU64,
    /// Set from presuspend to resume: the scanner issues no I/O.
    suspended: AtomicBool,
    events: TableEvent,
    /// What the metadata must match (for the engine's deferred start).
    expected: crate::engine::Expected,
}

/// State of one `remap` target: [`State`] plus its work item.
pub struct RemapTarget {
    state: WorkBox<State>,
}

impl Deref for RemapTarget {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

/// Per-bio data, word 0: flags.  The write was counted in
/// `writes_in_flight[EPOCH bit]`.
const COUNTED_WRITE: u64 = 1;
/// The bio is a read or write whose failure the worker can recover from.
const RECOVERABLE: u64 = 2;
/// The worker finished the bio; its `end_io` must leave it alone.
const HANDLED: u64 = 4;
/// The write carried REQ_FUA.
const FUA: u64 = 8;
/// The write goes to a pending block: `map` handed it to the worker.
const PENDING_WRITE: u64 = 16;
/// Which `writes_in_flight` counter a counted write is in.
const EPOCH: u64 = 32;

impl State {
    fn table(&self) -> RemapTable<'_> {
        RemapTable::view(&self.table).unwrap_or_else(RemapTable::empty)
    }

    /// Lock the worker state.  Applies `real_device_mode` first, so the
    /// parameter is live.
    fn lock_worker(&self) -> MutexGuard<'_, Worker> {
        let mut worker = self.worker.lock();
        let observe_only =
            self.features.no_auto_remap || crate::dm::param::get(&params::real_device_mode) == 0;
        if worker.engine.config().observe_only != observe_only {
            worker.engine.set_observe_only(observe_only);
            self.raise_events(&mut worker);
        }
        worker
    }

    /// Count a write to main in the current epoch; returns its flags.  The
    /// count is taken *before* the table is read (see `drain_writes`).
    fn count_write(&self) -> u64 {
        let epoch = self.write_epoch.load(Ordering::SeqCst) & 1;
        self.writes_in_flight[epoch as usize].fetch_add(1, Ordering::SeqCst);
        crate::dm::sync::mb_after_atomic();
        COUNTED_WRITE | if epoch == 1 { EPOCH } else { 0 }
    }

    fn uncount_write(&self, flags: u64) {
        if flags & COUNTED_WRITE != 0 {
            let epoch = usize::from(flags & EPOCH != 0);
            self.writes_in_flight[epoch].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Route a data bio: split it at the first block whose route differs
    /// from its first block's, and send it where that block lives.
    fn map_data(&self, ti: &Ti, io: MapIo<'_>, work: &WorkRef<'_>) -> MapResult {
        let bio = io.bio();
        let rel = bio.sector() - ti.begin();
        let op = bio.op();
        let is_write = !matches!(op, ReqOp::Read);
        // Counted before the lookup: a block marked busy after this point
        // waits for this write before it is copied.
        let mut flags = if is_write { self.count_write() } else { 0 };
        let table = self.table();
        let route = |block| {
            if is_write {
                table.route_write(block)
            } else {
                table.route_read(block)
            }
        };
        let first = rel >> self.block_shift;
        let last = (rel + bio.sectors() - 1) >> self.block_shift;
        let first_route = if table.is_empty() {
            Route::Main
        } else {
            route(first)
        };
        if !matches!(first_route, Route::Main) {
            self.uncount_write(flags);
            flags = 0;
        }
        match first_route {
            Route::Main => {
                if !table.is_empty() {
                    for block in first + 1..=last {
                        if !matches!(route(block), Route::Main) {
                            bio.accept_partial(((block << self.block_shift) - rel) as u32);
                            break;
                        }
                    }
                }
                bio.set_dev(&self.main);
                bio.set_sector(self.main_offset + rel);
            }
            Route::Spare(index) => {
                let Some(base) = self.layout.spare_block_sector(index) else {
                    crate::dm_err_limit!(
                        "block {first} maps to spare {index}, outside the spare area"
                    );
                    return MapResult::Kill;
                };
                // Consecutive blocks remapped to consecutive spare blocks
                // (a range remap) go as one bio.
                let mut end = first + 1;
                while end <= last {
                    let k = end - first;
                    let next = index + k;
                    if route(end) != Route::Spare(next)
                        || self.layout.spare_block_sector(next)
                            != Some(base + (k << self.block_shift))
                    {
                        break;
                    }
                    end += 1;
                }
                if end <= last {
                    bio.accept_partial(((end << self.block_shift) - rel) as u32);
                }
                bio.set_dev(&self.spare);
                bio.set_sector(self.spare_offset + base + (rel - (first << self.block_shift)));
            }
            // A pending block (its last read failed): a data write remaps
            // it, in the worker.  Discards and write-zeroes stay on main.
            Route::Remap if matches!(op, ReqOp::Write) => {
                if last > first {
                    bio.accept_partial((((first + 1) << self.block_shift) - rel) as u32);
                }
                self.remember(bio, rel, PENDING_WRITE);
                self.defer(io.take(), work);
                return MapResult::Submitted;
            }
            Route::Remap => {
                bio.set_dev(&self.main);
                bio.set_sector(self.main_offset + rel);
            }
            // A remap of this block is in progress: dm core retries shortly.
            Route::Defer => return MapResult::Requeue,
        }
        if matches!(op, ReqOp::Read | ReqOp::Write) {
            // Remember where the data is, in case the I/O fails.
            self.remember(bio, rel, flags | RECOVERABLE);
        } else {
            bio.per_bio()[0].store(flags, Ordering::Relaxed);
        }
        MapResult::Remapped
    }

    /// Store the flags, the target-relative sector and the data iterator
    /// in the bio's per-bio data, for the worker.
    fn remember(&self, bio: &Bio, rel: u64, mut flags: u64) {
        if bio.is_fua() {
            flags |= FUA;
        }
        let words = bio.per_bio();
        let saved = bio.save_iter().to_words();
        words[1].store(rel, Ordering::Relaxed);
        words[2].store(saved[1], Ordering::Relaxed);
        words[3].store(saved[2], Ordering::Relaxed);
        // saved[0] (the sector) is not kept: `rel` says where the data goes.
        words[0].store(flags, Ordering::Relaxed);
    }

    /// Hand a bio to the worker.
    fn defer(&self, bio: OwnedBio, work: &WorkRef<'_>) {
        self.deferred.lock().push(bio);
        work.queue();
    }

    /// Wait until every write to main that may have been routed before
    /// the caller marked a block busy has completed (bounded), so the
    /// block can be copied safely.  Call with the worker locked (one drain
    /// at a time), after the busy mark.
    ///
    /// Writers count themselves in the current epoch's counter and then
    /// read the table; the drainer marks the block busy, flips the epoch
    /// and waits for the old epoch's counter to empty.  Either a writer's
    /// count is seen here, or the writer sees the busy mark.  Writes of the
    /// new epoch cannot starve the wait.
    fn drain_writes(&self) -> Result<(), Errno> {
        core::sync::atomic::fence(Ordering::SeqCst);
        let old = (self.write_epoch.fetch_add(1, Ordering::SeqCst) & 1) as usize;
        for _ in 0..5000 {
            if self.writes_in_flight[old].load(Ordering::SeqCst) == 0 {
                return Ok(());
            }
            crate::dm::misc::sleep_ms(1);
        }
        Err(Errno::EBUSY)
    }

    /// Raise a table event for every threshold or mode change the engine
    /// reports (process context only).
    fn raise_events(&self, worker: &mut Worker) {
        let mut raised = false;
        while let Some(event) = worker.engine.poll_event() {
            crate::dm_info!(
                "{}: {}",
                self.main.name().to_str().unwrap_or("?"),
                status::event_text(event)
            );
            raised = true;
        }
        if raised {
            self.events.raise();
        }
    }

    fn commit_if_dirty(&self, why: &str) {
        let mut worker = self.worker.lock();
        if worker.engine.needs_commit() {
            if let Err(e) = worker.engine.commit() {
                dm_err!("metadata commit at {why} failed: {}", e.as_str());
            }
        }
    }

    /// Finish one bio handed to the worker.
    fn finish(&self, bio: OwnedBio) {
        let words = bio.bio().per_bio();
        let flags = words[0].load(Ordering::Relaxed);
        let saved = SavedIter::from_words([
            0,
            words[2].load(Ordering::Relaxed),
            words[3].load(Ordering::Relaxed),
        ]);
        let rel = words[1].load(Ordering::Relaxed);
        let fua = flags & FUA != 0;
        let status = if flags & PENDING_WRITE != 0 {
            recover::pending_write(self, bio.bio(), &saved, rel, fua)
        } else if matches!(bio.bio().op(), ReqOp::Read) {
            recover::failed_read(self, bio.bio(), &saved, rel)
        } else {
            recover::failed_write(self, bio.bio(), &saved, rel, fua)
        };
        words[0].fetch_or(HANDLED, Ordering::Relaxed);
        bio.bio().restore_iter(&saved);
        bio.complete(status);
    }
}

impl WorkItem for State {
    fn run(&self, work: &WorkRef<'_>) {
        loop {
            let Some(bio) = self.deferred.lock().pop() else {
                break;
            };
            self.finish(bio);
        }
        scan::step(self, work);
    }
}

impl Target for RemapTarget {
    const NAME: &'static CStr = c"remap";
    const VERSION: [u32; 3] = crate::VERSION_TRIPLE;

    fn ctr(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<Self, CtrError> {
        let state = ctr::construct(ctx, args)?;
        let state = WorkBox::new(c"dm-remap", state).map_err(|e| CtrError {
            message: c"Cannot allocate workqueue",
            errno: e,
        })?;
        Ok(Self { state })
    }

    fn map(&self, ti: &Ti, io: MapIo<'_>) -> MapResult {
        let bio = io.bio();
        if bio.sectors() == 0 {
            // An empty flush, once per device (num_flush_bios = 2).
            bio.per_bio()[0].store(0, Ordering::Relaxed);
            let dev = if bio.target_bio_nr() == 0 {
                &self.main
            } else {
                &self.spare
            };
            bio.set_dev(dev);
            return MapResult::Remapped;
        }
        self.state.map_data(ti, io, &self.state.work_ref())
    }

    fn end_io(&self, _ti: &Ti, io: EndIo<'_>, status: &mut u8) -> EndIoResult {
        let flags = io.bio().per_bio()[0].load(Ordering::Relaxed);
        if flags & HANDLED != 0 {
            return EndIoResult::Done;
        }
        self.uncount_write(flags);
        if *status != 0 && crate::dm::param::get(&params::dm_remap_debug) >= 2 {
            crate::dm_info_limit!(
                "{:?} of {} bytes at sector {} failed (status {})",
                io.bio().op(),
                io.bio().size(),
                io.bio().sector(),
                *status
            );
        }
        if *status != 0 && flags & RECOVERABLE != 0 {
            // Keep the bio; the worker retries, remaps and completes it.
            self.defer(io.take(), &self.state.work_ref());
        }
        EndIoResult::Done
    }

    fn status(&self, ti: &Ti, kind: StatusKind, out: &mut Emitter<'_>) {
        status::emit(self, ti, kind, out);
    }

    fn message(
        &self,
        ti: &Ti,
        args: &mut Args<'_>,
        out: &mut Emitter<'_>,
    ) -> Result<MessageResult, Errno> {
        message::handle(self, ti, args, out)
    }

    fn iterate_devices(&self, ti: &Ti, it: &mut DeviceIterator<'_>) -> i32 {
        let r = it.visit(&self.main, self.main_offset, ti.len());
        if r != 0 {
            return r;
        }
        it.visit(&self.spare, self.spare_offset, self.spare_len)
    }

    fn io_hints(&self, _ti: &Ti, limits: &QueueLimits) {
        // Every bio covers whole remap blocks: no partial-block remaps.
        limits.raise_logical_block_size(self.block_size);
    }

    fn presuspend(&self, _ti: &Ti) {
        // The scanner starts no new I/O from now on; I/O from above may
        // still arrive and be recovered until postsuspend.
        self.suspended.store(true, Ordering::SeqCst);
    }

    fn presuspend_undo(&self, _ti: &Ti) {
        self.suspended.store(false, Ordering::SeqCst);
        self.state.work_ref().queue();
    }

    fn postsuspend(&self, _ti: &Ti) {
        // No bio is in flight now (dm core waited for all of them, including
        // those the worker held), so no run is needed for bios: wait for a
        // scanner step and drop the next one.  Then make the metadata
        // current, so the next table sees everything.
        self.state.cancel();
        self.commit_if_dirty("suspend");
    }

    fn preresume(&self, _ti: &Ti) -> Result<(), Errno> {
        // The first resume of this table: the table it replaces (if any)
        // is suspended and destroyed by now, its last commit is on disk.
        // Read the metadata again and take it over.
        let mut worker = self.worker.lock();
        if worker.engine.is_started() {
            return Ok(());
        }
        worker.engine.start(&self.expected).map_err(|e| {
            dm_err!(
                "{}: cannot take over the metadata: {}",
                self.main.name().to_str().unwrap_or("?"),
                e
            );
            Errno::EIO
        })?;
        let cursor = worker.engine.status().scanner_cursor;
        worker.scan = scan::ScanControl::new(cursor);
        crate::dm_info!(
            "{}: metadata generation {} ({} remapped, {} pending)",
            self.main.name().to_str().unwrap_or("?"),
            worker.engine.superblock().generation,
            worker.engine.status().remapped_blocks,
            worker.engine.status().pending_blocks
        );
        Ok(())
    }

    fn resume(&self, _ti: &Ti) {
        self.suspended.store(false, Ordering::SeqCst);
        // Let the scanner look at its schedule.
        self.state.work_ref().queue();
    }
}

impl Drop for RemapTarget {
    fn drop(&mut self) {
        // dtr runs on a suspended (or never resumed) device; make sure no
        // scanner step runs while the last commit is written.
        self.state.cancel();
        self.commit_if_dirty("table unload");
    }
}
