// SPDX-License-Identifier: GPL-2.0

//! The `remap` target: safe glue between the device-mapper abstraction
//! (`crate::dm`) and the remap engine (`crate::engine`).
//!
//! Bios are routed block by block through the engine's lock-free remap
//! table: unremapped ranges go to the main device, remapped blocks to their
//! spare block.  A write that fails is taken over in `end_io` and handed to
//! the worker ([`recover`]), which remaps the failing blocks and commits the
//! metadata before the write is completed successfully.

mod ctr;
mod message;
pub mod meta;
pub mod params;
mod recover;
mod status;
pub mod table;

use crate::dm::{
    Args, Bio, BioQueue, CtrContext, CtrError, DeviceIterator, DmDevice, Emitter, EndIo, EndIoResult, Errno, KvBuf,
    KvShared, MapResult, MessageResult, Mutex, QueueLimits, ReqOp, SavedIter, SpinLock, StatusKind, TableEvent,
    Target, Ti, WorkBox, WorkItem,
};
use crate::dm_err;
use crate::engine::{Engine, Layout, RemapTable, Route};
use core::ffi::CStr;
use core::ops::Deref;
use core::sync::atomic::{AtomicU64, Ordering};
use meta::{KernelStorage, SpareMeta};
use table::Features;

/// The engine with the buffer used to copy block data, behind one mutex.
pub struct Worker {
    /// The remap engine (metadata, policy).
    pub engine: Engine<KernelStorage, SpareMeta>,
    /// One remap block of data, for copies between main and spare.
    pub block_buf: KvBuf<u8>,
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
    /// Writes that failed, waiting for the worker (filled in `end_io`).
    failed_writes: SpinLock<BioQueue>,
    /// Writes currently in flight to the main device, so that a block can
    /// be copied only after writes that raced with marking it busy landed.
    writes_in_flight: AtomicU64,
    events: TableEvent,
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

/// Per-bio data, word 0: flags.
const COUNTED_WRITE: u64 = 1;
/// The bio is a write whose failure the worker can recover from.
const RECOVERABLE: u64 = 2;
/// The worker finished the bio; its second `end_io` must leave it alone.
const HANDLED: u64 = 4;
/// The write carried REQ_FUA.
const FUA: u64 = 8;

impl State {
    fn table(&self) -> RemapTable<'_> {
        RemapTable::view(&self.table).unwrap_or_else(RemapTable::empty)
    }

    /// Route a data bio: split it at the first block whose route differs
    /// from its first block's, and send it where that block lives.
    fn map_data(&self, ti: &Ti, bio: &Bio) -> MapResult {
        let rel = bio.sector() - ti.begin();
        let op = bio.op();
        let is_write = !matches!(op, ReqOp::Read);
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
        let first_route = if table.is_empty() { Route::Main } else { route(first) };
        let target = match first_route {
            // Pending blocks still live on main: reads get the honest error
            // (or the data, if the sector recovered).
            Route::Main | Route::Remap => {
                if !table.is_empty() {
                    for block in first + 1..=last {
                        if !matches!(route(block), Route::Main | Route::Remap) {
                            bio.accept_partial(((block << self.block_shift) - rel) as u32);
                            break;
                        }
                    }
                }
                if is_write {
                    self.writes_in_flight.fetch_add(1, Ordering::AcqRel);
                }
                bio.set_dev(&self.main);
                bio.set_sector(self.main_offset + rel);
                if is_write { COUNTED_WRITE } else { 0 }
            }
            Route::Spare(index) => {
                let Some(base) = self.layout.spare_block_sector(index) else {
                    crate::dm_err_limit!("block {first} maps to spare {index}, outside the spare area");
                    return MapResult::Kill;
                };
                if last > first {
                    bio.accept_partial((((first + 1) << self.block_shift) - rel) as u32);
                }
                bio.set_dev(&self.spare);
                bio.set_sector(self.spare_offset + base + (rel - (first << self.block_shift)));
                0
            }
            // A remap of this block is in progress: dm core retries shortly.
            Route::Defer => return MapResult::Requeue,
        };
        let mut flags = target;
        if matches!(op, ReqOp::Write) {
            // Remember where the data is, in case the write fails.
            let words = bio.per_bio();
            let saved = bio.save_iter().to_words();
            words[1].store(rel, Ordering::Relaxed);
            words[2].store(saved[1], Ordering::Relaxed);
            words[3].store(saved[2], Ordering::Relaxed);
            // saved[0] (the sector) is not kept: `rel` says where the data goes.
            flags |= RECOVERABLE;
            if bio.is_fua() {
                flags |= FUA;
            }
        }
        bio.per_bio()[0].store(flags, Ordering::Relaxed);
        MapResult::Remapped
    }

    /// Wait until every write that was in flight to main has completed
    /// (bounded), so a block marked busy can be copied safely.
    fn drain_writes(&self) -> Result<(), Errno> {
        for _ in 0..5000 {
            if self.writes_in_flight.load(Ordering::Acquire) == 0 {
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
            crate::dm_info!("{}: {}", self.main.name().to_str().unwrap_or("?"), status::event_text(event));
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

impl WorkItem for State {
    fn run(&self) {
        loop {
            let Some(bio) = self.failed_writes.lock().pop() else {
                break;
            };
            let words = bio.bio().per_bio();
            let saved = SavedIter::from_words([0, words[2].load(Ordering::Relaxed), words[3].load(Ordering::Relaxed)]);
            let rel = words[1].load(Ordering::Relaxed);
            let fua = words[0].load(Ordering::Relaxed) & FUA != 0;
            let status = recover::failed_write(self, bio.bio(), &saved, rel, fua);
            words[0].fetch_or(HANDLED, Ordering::Relaxed);
            bio.bio().restore_iter(&saved);
            bio.complete(status);
        }
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

    fn map(&self, ti: &Ti, bio: &Bio) -> MapResult {
        if bio.sectors() == 0 {
            // An empty flush, once per device (num_flush_bios = 2).
            bio.per_bio()[0].store(0, Ordering::Relaxed);
            let dev = if bio.target_bio_nr() == 0 { &self.main } else { &self.spare };
            bio.set_dev(dev);
            return MapResult::Remapped;
        }
        self.map_data(ti, bio)
    }

    fn end_io(&self, _ti: &Ti, io: EndIo<'_>, status: &mut u8) -> EndIoResult {
        let flags = io.bio().per_bio()[0].load(Ordering::Relaxed);
        if flags & HANDLED != 0 {
            return EndIoResult::Done;
        }
        if flags & COUNTED_WRITE != 0 {
            self.writes_in_flight.fetch_sub(1, Ordering::AcqRel);
        }
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
            // Keep the bio; the worker remaps and completes it.
            let bio = io.take();
            self.failed_writes.lock().push(bio);
            self.state.queue();
        }
        EndIoResult::Done
    }

    fn status(&self, ti: &Ti, kind: StatusKind, out: &mut Emitter<'_>) {
        status::emit(self, ti, kind, out);
    }

    fn message(&self, ti: &Ti, args: &mut Args<'_>, out: &mut Emitter<'_>) -> Result<MessageResult, Errno> {
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

    fn postsuspend(&self, _ti: &Ti) {
        // No bio is in flight now (dm core waited for all of them, including
        // those the worker held); make the metadata current.
        self.state.flush();
        self.commit_if_dirty("suspend");
    }
}

impl Drop for RemapTarget {
    fn drop(&mut self) {
        self.commit_if_dirty("table unload");
    }
}
