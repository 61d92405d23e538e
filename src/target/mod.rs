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
    EndIoResult, Errno, HeldBio, KvBuf, KvShared, MapIo, MapResult, MessageResult, Mutex,
    MutexGuard, OwnedBio, QueueLimits, ReqOp, SavedIter, SpinLock, StatusKind, TableEvent, Target,
    Ti, WorkBox, WorkItem, WorkRef,
};
use crate::dm_err;
use crate::engine::{is_media_error, Engine, Layout, PolicyError, RemapTable, Route};
use core::ffi::CStr;
use core::ops::{Deref, Range};
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
    /// Writes in flight (to main or to a spare block), counted per epoch
    /// so that a block marked busy can be copied once the writes that may
    /// have been routed before the mark have landed (see
    /// [`State::drain_writes`]).
    writes_in_flight: [AtomicU64; 2],
    write_epoch: AtomicU64,
    /// Set from presuspend to resume: the scanner issues no I/O.
    suspended: AtomicBool,
    events: TableEvent,
    /// What the metadata must match (for the engine's deferred start).
    expected: crate::engine::Expected,
}

/// [`State`] and the bios held for busy blocks.
///
/// A block is busy from the moment a remap of it begins until the commit
/// that records its new place has completed (or the remap was abandoned):
/// I/O to it must neither reach the old place (the copy could miss a
/// write) nor the new one (it is not durable yet).  `map` holds such bios
/// here instead of asking dm core to requeue them, which dm core only does
/// during a noflush suspend (otherwise it fails them with
/// `BLK_STS_IOERR`).  Whoever ends a busy window ([`Core::settle`], with
/// the worker locked) re-issues them where their block lives by then.
pub struct Core {
    state: State,
    /// Bios held by `map` for busy blocks, one block each.  The lock is
    /// only taken for busy blocks, never on the path of other I/O.
    held: SpinLock<BioQueue<HeldBio>>,
}

impl Deref for Core {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

/// State of one `remap` target: [`Core`] plus its work item.
pub struct RemapTarget {
    state: WorkBox<Core>,
}

impl Deref for RemapTarget {
    type Target = Core;
    fn deref(&self) -> &Core {
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

/// `BLK_STS_IOERR`, from the kernel's bindings.
const IOERR: u8 = crate::dm::status::IOERR;

// The engine classifies errors with its own copy of the `BLK_STS_*` values
// (it is host-tested and cannot see kernel headers); refuse to build
// against a kernel whose values differ rather than misclassify its errors.
const _: () = {
    use crate::dm::status as k;
    use crate::engine::policy::blk_sts as e;
    let pairs = [
        (k::NOTSUPP, e::NOTSUPP),
        (k::TIMEOUT, e::TIMEOUT),
        (k::NOSPC, e::NOSPC),
        (k::TRANSPORT, e::TRANSPORT),
        (k::TARGET, e::TARGET),
        (k::RESV_CONFLICT, e::RESV_CONFLICT),
        (k::MEDIUM, e::MEDIUM),
        (k::PROTECTION, e::PROTECTION),
        (k::RESOURCE, e::RESOURCE),
        (k::IOERR, e::IOERR),
        (k::DM_REQUEUE, e::DM_REQUEUE),
        (k::AGAIN, e::AGAIN),
        (k::DEV_RESOURCE, e::DEV_RESOURCE),
        (k::ZONE_OPEN_RESOURCE, e::ZONE_OPEN_RESOURCE),
        (k::ZONE_ACTIVE_RESOURCE, e::ZONE_ACTIVE_RESOURCE),
        (k::OFFLINE, e::OFFLINE),
        (k::DURATION_LIMIT, e::DURATION_LIMIT),
    ];
    let mut i = 0;
    while i < pairs.len() {
        assert!(
            pairs[i].0 == pairs[i].1,
            "BLK_STS_* value differs from the engine's"
        );
        i += 1;
    }
};

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

    /// Count a write in the current epoch; returns its flags.  The
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

    /// Wait until every write that may have been routed before the caller
    /// marked a block busy has completed (bounded), so the
    /// block can be copied safely.  Call with the worker locked (one drain
    /// at a time), after the busy mark.
    ///
    /// Writers count themselves in the current epoch's counter and then
    /// read the table; the drainer marks the block busy, flips the epoch
    /// and waits for the old epoch's counter to empty.  Either a writer's
    /// count is seen here, or the writer sees the busy mark.  Writes of the
    /// new epoch cannot starve the wait.
    ///
    /// A drain that timed out leaves writes in the counter that is about to
    /// become current again: they were routed before *this* block was
    /// marked busy too, so the counter must be empty before the flip, or
    /// the flip would mix them with new writes and nothing would wait for
    /// them.  No new write enters it while it is not current.
    fn drain_writes(&self) -> Result<(), Errno> {
        core::sync::atomic::fence(Ordering::SeqCst);
        let current = (self.write_epoch.load(Ordering::SeqCst) & 1) as usize;
        if !self.wait_for_writes(current ^ 1) {
            return Err(Errno::EBUSY);
        }
        let old = (self.write_epoch.fetch_add(1, Ordering::SeqCst) & 1) as usize;
        if !self.wait_for_writes(old) {
            return Err(Errno::EBUSY);
        }
        Ok(())
    }

    /// Wait (at most about 5 s) for `writes_in_flight[epoch]` to empty.
    fn wait_for_writes(&self, epoch: usize) -> bool {
        for _ in 0..5000 {
            if self.writes_in_flight[epoch].load(Ordering::SeqCst) == 0 {
                return true;
            }
            crate::dm::misc::sleep_ms(1);
        }
        false
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
}

/// Where I/O of kind `op` to `block` goes.  Discard and write-zeroes are
/// not data writes: they never remap a pending block, and go where the
/// block's data lives now, which is what reads return: main for a block
/// that is only pending, its spare for a remapped one (also when that
/// spare block is pending).  `map_data` splits such a bio wherever this
/// changes, so remapped blocks get their part on the spare.
fn route_of(table: &RemapTable<'_>, op: ReqOp, block: u64) -> Route {
    match op {
        ReqOp::Read => table.route_read(block),
        ReqOp::Write => table.route_write(block),
        _ => match table.route_write(block) {
            Route::Remap => table.route_read(block),
            other => other,
        },
    }
}

impl Core {
    /// Route a data bio: split it at the first block whose route differs
    /// from its first block's, and send it where that block lives.
    fn map_data(&self, ti: &Ti, mut io: MapIo<'_>, work: &WorkRef<'_>) -> MapResult {
        let bio = io.bio();
        let rel = bio.sector() - ti.begin();
        let op = bio.op();
        let is_write = !matches!(op, ReqOp::Read);
        // Counted before the lookup: a block marked busy after this point
        // waits for this write before it is copied.
        let flags = if is_write { self.count_write() } else { 0 };
        let table = self.table();
        let route = |block| route_of(&table, op, block);
        let first = rel >> self.block_shift;
        let last = (rel + bio.sectors() - 1) >> self.block_shift;
        let mut first_route = if table.is_empty() {
            Route::Main
        } else {
            route(first)
        };
        if first_route == Route::Defer {
            // A remap of this block is in progress: hold the bio until it
            // ends.  Rare, so the lock is only taken here.
            match self.hold(io, rel, first, last, op) {
                Ok(()) => {
                    self.uncount_write(flags);
                    return MapResult::Submitted;
                }
                // The remap ended meanwhile: route the bio as usual.
                Err((back, now)) => (io, first_route) = (back, now),
            }
        }
        let bio = io.bio();
        // Writes stay counted wherever they go, to the spare too: a block
        // remapped again is copied from its spare, after writes routed
        // there have landed.
        match first_route {
            // A pending block (its last read failed): a data write remaps
            // it, in the worker.
            Route::Remap if matches!(op, ReqOp::Write) => {
                if last > first {
                    bio.accept_partial((((first + 1) << self.block_shift) - rel) as u32);
                }
                // The worker writes it, engine locked: no copy can race.
                self.uncount_write(flags);
                self.remember(bio, rel, PENDING_WRITE);
                self.defer(io.take(), work);
                return MapResult::Submitted;
            }
            // Main (`route_of` gives `Remap` to data writes only, handled
            // above): split at the first block that lives elsewhere, so
            // that remapped blocks further on get their part on the spare.
            Route::Main | Route::Remap => {
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
                    self.uncount_write(flags);
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
            // Not after `hold`, which only gives a bio back with another
            // route; kill rather than requeue, which would fail it anyway.
            Route::Defer => {
                self.uncount_write(flags);
                return MapResult::Kill;
            }
        }
        if matches!(op, ReqOp::Read | ReqOp::Write) {
            // Remember where the data is, in case the I/O fails.
            self.remember(bio, rel, flags | RECOVERABLE);
        } else {
            bio.per_bio()[0].store(flags, Ordering::Relaxed);
        }
        MapResult::Remapped
    }

    /// Hold a bio whose first block is busy: split off that block (dm core
    /// maps the rest again) and keep it in `held`.  The route is read again
    /// under the lock: a busy window ends by clearing the busy mark and
    /// only then emptying `held` under this lock ([`Core::settle`]), so
    /// either it empties `held` after the push below, or the route read
    /// here already sees the block free and the bio is given back with its
    /// new route.
    #[allow(clippy::type_complexity)]
    fn hold<'a>(
        &self,
        io: MapIo<'a>,
        rel: u64,
        first: u64,
        last: u64,
        op: ReqOp,
    ) -> Result<(), (MapIo<'a>, Route)> {
        let mut held = self.held.lock();
        let table = self.table();
        let route = route_of(&table, op, first);
        if route != Route::Defer {
            return Err((io, route));
        }
        let bio = io.bio();
        if last > first {
            bio.accept_partial((((first + 1) << self.block_shift) - rel) as u32);
        }
        // No flags: if the bio is failed while held, `end_io` leaves it be.
        bio.per_bio()[0].store(0, Ordering::Relaxed);
        bio.per_bio()[1].store(rel, Ordering::Relaxed);
        held.push(io.hold());
        Ok(())
    }

    /// End a busy window (worker locked, at the end of the operation that
    /// began the remaps of `blocks`, whether they completed or failed):
    /// commit, make the completed remaps visible now that they are durable,
    /// and re-issue the bios held meanwhile.  Returns the commit's result.
    ///
    /// Held bios go where their block lives now, except when a remap could
    /// not be made durable (the metadata failed): their I/O would depend on
    /// a mapping a crash loses, so they fail with `BLK_STS_IOERR`, as the
    /// I/O that caused the remap does.
    pub(super) fn settle(
        &self,
        worker: &mut Worker,
        blocks: Range<u64>,
        work: &WorkRef<'_>,
    ) -> Result<(), PolicyError> {
        let committed = if worker.engine.needs_commit() {
            worker.engine.commit()
        } else {
            Ok(())
        };
        let mut durable = true;
        for block in blocks {
            // NotBusy: not remapped in this window (or the remap failed and
            // the block is back in its previous state).
            if let Ok(published) = worker.engine.publish_remap(block) {
                durable &= published;
            }
        }
        self.release_held(!durable, false, work);
        committed
    }

    /// Re-issue every held bio whose block is no longer busy (all of them,
    /// when called with the worker locked outside an operation); `fail`:
    /// complete them with `BLK_STS_IOERR` instead.  `stuck`: no busy window
    /// can be open (the caller holds the worker lock outside an operation),
    /// so a block still busy never will be freed: fail its bios rather than
    /// hang the suspend that waits for them.
    fn release_held(&self, fail: bool, stuck: bool, work: &WorkRef<'_>) {
        // Taken as a whole, then dispatched without the lock: submitting
        // may sleep.
        let mut list = core::mem::take(&mut *self.held.lock());
        while let Some(bio) = list.pop() {
            if fail {
                bio.complete(IOERR);
            } else {
                self.dispatch(bio, stuck, work);
            }
        }
    }

    /// Send a held bio (one block) where its block lives now, as `map`
    /// would have: main, the spare, the worker (a write to a pending
    /// block), or back to `held` if the block is busy again.
    fn dispatch(&self, bio: HeldBio, stuck: bool, work: &WorkRef<'_>) {
        let rel = bio.bio().per_bio()[1].load(Ordering::Relaxed);
        let block = rel >> self.block_shift;
        let op = bio.bio().op();
        let is_write = !matches!(op, ReqOp::Read);
        loop {
            // Counted before the lookup, as in `map_data`.
            let flags = if is_write { self.count_write() } else { 0 };
            let table = self.table();
            let route = route_of(&table, op, block);
            // Counted wherever it goes (see `map_data`), except to the
            // worker or back to `held`.
            let (dev, sector) = match route {
                Route::Main => (&self.main, self.main_offset + rel),
                Route::Remap if !matches!(op, ReqOp::Write) => (&self.main, self.main_offset + rel),
                Route::Spare(index) => {
                    let Some(base) = self.layout.spare_block_sector(index) else {
                        crate::dm_err_limit!(
                            "block {block} maps to spare {index}, outside the spare area"
                        );
                        self.uncount_write(flags);
                        bio.complete(IOERR);
                        return;
                    };
                    let offset = rel - (block << self.block_shift);
                    (&self.spare, self.spare_offset + base + offset)
                }
                Route::Remap => {
                    self.uncount_write(flags);
                    self.remember(bio.bio(), rel, PENDING_WRITE);
                    self.defer(bio.into_owned(), work);
                    return;
                }
                Route::Defer if stuck => {
                    self.uncount_write(flags);
                    crate::dm_err_limit!("block {block} stayed busy; failing its held I/O");
                    bio.complete(IOERR);
                    return;
                }
                Route::Defer => {
                    self.uncount_write(flags);
                    let mut held = self.held.lock();
                    // Read again under the lock (see `hold`).
                    let table = self.table();
                    let again = route_of(&table, op, block);
                    if again == Route::Defer {
                        held.push(bio);
                        return;
                    }
                    continue;
                }
            };
            if matches!(op, ReqOp::Read | ReqOp::Write) {
                self.remember(bio.bio(), rel, flags | RECOVERABLE);
            } else {
                bio.bio().per_bio()[0].store(flags, Ordering::Relaxed);
            }
            bio.submit(dev, sector);
            return;
        }
    }

    /// Finish one bio handed to the worker.
    fn finish(&self, bio: OwnedBio, work: &WorkRef<'_>) {
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
            recover::pending_write(self, bio.bio(), &saved, rel, fua, work)
        } else if matches!(bio.bio().op(), ReqOp::Read) {
            recover::failed_read(self, bio.bio(), &saved, rel, work)
        } else {
            recover::failed_write(self, bio.bio(), &saved, rel, fua, work)
        };
        words[0].fetch_or(HANDLED, Ordering::Relaxed);
        bio.bio().restore_iter(&saved);
        bio.complete(status);
    }

    /// Release whatever is still held when no busy window can be open
    /// (see [`Core::release_held`]); before a suspend waits for all I/O.
    fn release_stuck(&self, work: &WorkRef<'_>) {
        // The plain lock, not `lock_worker`: no events from presuspend.
        let worker = self.worker.lock();
        self.release_held(false, true, work);
        drop(worker);
    }
}

impl WorkItem for Core {
    fn run(&self, work: &WorkRef<'_>) {
        loop {
            let Some(bio) = self.deferred.lock().pop() else {
                break;
            };
            self.finish(bio, work);
        }
        scan::step(self, work);
    }
}

impl Target for RemapTarget {
    const NAME: &'static CStr = c"remap";
    const VERSION: [u32; 3] = crate::VERSION_TRIPLE;

    fn ctr(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<Self, CtrError> {
        let state = ctr::construct(ctx, args)?;
        let held = SpinLock::new(BioQueue::default()).map_err(|e| CtrError {
            message: c"Cannot allocate target state",
            errno: e,
        })?;
        let state = WorkBox::new(c"dm-remap", Core { state, held }).map_err(|e| CtrError {
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
        // Only a media error says the block is bad; anything else (a
        // path or device outage, a full thin pool, ...) goes up unchanged
        // and costs no spare block (docs/dm-remap.rst, "Errors").
        if *status != 0 && flags & RECOVERABLE != 0 && is_media_error(*status) {
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
        // dm core now waits for every bio, held ones included.  Each busy
        // window re-issues what it held when it ends; this only catches a
        // block left busy by mistake, whose bios would hang the suspend.
        self.state.release_stuck(&self.state.work_ref());
    }

    fn presuspend_undo(&self, _ti: &Ti) {
        self.suspended.store(false, Ordering::SeqCst);
        self.state.work_ref().queue();
    }

    fn postsuspend(&self, _ti: &Ti) {
        // No bio is in flight now (dm core waited for all of them, including
        // those the worker held and those held for busy blocks), so no run
        // is needed for bios: wait for a scanner step and drop the next one.  Then make the metadata
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
        // dtr runs on a suspended (or never resumed) device, so nothing is
        // held (were anything left, dropping `held` fails it rather than
        // losing it); make sure no scanner step runs while the last commit
        // is written.
        self.state.cancel();
        self.commit_if_dirty("table unload");
    }
}
