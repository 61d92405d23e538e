// SPDX-License-Identifier: GPL-2.0

//! The `remap` target: safe glue between the device-mapper abstraction
//! (`crate::dm`) and the remap engine (`crate::engine`).
//!
//! Bios are routed block by block through the engine's lock-free remap
//! table: unremapped ranges go to the main device, remapped blocks to their
//! spare block.  Metadata changes (manual remaps, commits) happen in process
//! context under the engine mutex.

mod ctr;
mod message;
pub mod meta;
pub mod params;
mod status;
pub mod table;

use crate::dm::{
    Args, Bio, CtrContext, CtrError, DeviceIterator, DmDevice, Emitter, EndIoResult, Errno, KvBuf, KvShared,
    MapResult, MessageResult, Mutex, QueueLimits, ReqOp, StatusKind, Target, Ti,
};
use crate::dm_err;
use crate::engine::{Engine, Layout, RemapTable, Route};
use core::ffi::CStr;
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

/// State of one `remap` target.
pub struct RemapTarget {
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
    /// Writes currently in flight to the main device, so that a block can
    /// be copied only after writes that raced with marking it busy landed.
    writes_in_flight: AtomicU64,
}

/// Per-bio data: set in `map` for writes that count in `writes_in_flight`.
const COUNTED_WRITE: u64 = 1;

impl RemapTarget {
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
        match first_route {
            // Pending blocks still live on main: reads get the honest error
            // (or the data, if the sector recovered); writes go there too
            // until the error worker remaps whole-block writes.
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
                    bio.per_bio_u64().store(COUNTED_WRITE, Ordering::Relaxed);
                }
                bio.set_dev(&self.main);
                bio.set_sector(self.main_offset + rel);
                MapResult::Remapped
            }
            Route::Spare(index) => {
                let Some(base) = self.layout.spare_block_sector(index) else {
                    dm_err!("block {first} maps to spare {index}, outside the spare area");
                    return MapResult::Kill;
                };
                if last > first {
                    bio.accept_partial((((first + 1) << self.block_shift) - rel) as u32);
                }
                bio.set_dev(&self.spare);
                bio.set_sector(self.spare_offset + base + (rel - (first << self.block_shift)));
                MapResult::Remapped
            }
            // A remap of this block is in progress: dm core retries shortly.
            Route::Defer => MapResult::Requeue,
        }
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
    fn raise_events(&self, ti: &Ti, worker: &mut Worker) {
        let mut raised = false;
        while let Some(event) = worker.engine.poll_event() {
            crate::dm_info!("{}: {}", self.main.name().to_str().unwrap_or("?"), status::event_text(event));
            raised = true;
        }
        if raised {
            ti.table_event();
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

impl Target for RemapTarget {
    const NAME: &'static CStr = c"remap";
    const VERSION: [u32; 3] = crate::VERSION_TRIPLE;

    fn ctr(ctx: &mut CtrContext<'_>, args: &mut Args<'_>) -> Result<Self, CtrError> {
        ctr::construct(ctx, args)
    }

    fn map(&self, ti: &Ti, bio: &Bio) -> MapResult {
        bio.per_bio_u64().store(0, Ordering::Relaxed);
        if bio.sectors() == 0 {
            // An empty flush, once per device (num_flush_bios = 2).
            let dev = if bio.target_bio_nr() == 0 { &self.main } else { &self.spare };
            bio.set_dev(dev);
            return MapResult::Remapped;
        }
        self.map_data(ti, bio)
    }

    fn end_io(&self, _ti: &Ti, bio: &Bio, _status: &mut u8) -> EndIoResult {
        if bio.per_bio_u64().load(Ordering::Relaxed) == COUNTED_WRITE {
            self.writes_in_flight.fetch_sub(1, Ordering::AcqRel);
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
        self.commit_if_dirty("suspend");
    }
}

impl Drop for RemapTarget {
    fn drop(&mut self) {
        self.commit_if_dirty("table unload");
    }
}
