//! The engine: remap table, spare pool, metadata store and error policy
//! behind one handle that the kernel keeps under its own mutex.
//!
//! Typical kernel flow for a failed write of block `b` to the main device:
//!
//! ```text
//! let ticket = engine.on_write_error(b, IoTarget::Main, true)?;  // b is BUSY
//! write the bio's data to ticket.spare_sector (synchronously)
//! engine.complete_remap_busy(ticket)?;  // or fail_remap(ticket, true) and retry
//! engine.commit()?;                 // durable when this returns
//! engine.publish_remap(b)?;         // b routes to the spare from now on
//! acknowledge the bio
//! ```
//!
//! Lookups in the I/O path never touch the engine itself: they use a
//! lock-free [`RemapTable`] view of the table words, either
//! [`Engine::table`] or, for a reader that cannot borrow the engine (it sits
//! behind the caller's mutex), [`RemapTable::view`] over the reader's own
//! handle to the same words.
//!
//! The engine owns its memory through handles chosen by the caller (see
//! [`Storage`]): borrowed slices on the host, owned (and, for the table,
//! reference-counted) kernel buffers in the module.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::AtomicU64;

use super::allocator::{allocator_words_for, SpareAllocator};
use super::device::MetaDevice;
use super::error::{MetaError, PolicyError};
use super::layout::{DeviceBinding, Expected, FormatParams, Layout};
use super::log::Record;
use super::policy::{
    check_blank, open_decision, Event, EventTracker, FormatPolicy, IoTarget, Mode, OpenDecision,
    ReadErrorAction, RemapTicket, Status,
};
use super::recovery::{first_nonzero_metadata, load, probe};
use super::scanner::{ScanWindow, Scanner};
use super::store::{split_buffer, StateRef, Store, STORE_BUFFER_BYTES};
use super::superblock::Superblock;
use super::table::{table_words_for, Entry, RemapTable, TableError, TableWriter};

/// Runtime settings (from the target's table line); not persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Count errors but never remap (real_device_mode=0).
    pub observe_only: bool,
    /// Read retries the caller makes before reporting a read error
    /// (informational: the engine does not retry I/O itself).
    pub read_retries: u32,
    /// Scanner rate in blocks per second (0 = scanner off).
    pub scan_rate: u64,
    /// Scanner burst in blocks.
    pub scan_burst: u64,
    /// Record the scanner cursor every this many blocks.
    pub scan_checkpoint_blocks: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            observe_only: false,
            read_retries: 3,
            scan_rate: 0,
            scan_burst: 64,
            scan_checkpoint_blocks: 4096,
        }
    }
}

/// The handle types through which an [`Engine`] owns its memory, chosen by
/// the caller. A storage type is only a name for three handle types; it is
/// never instantiated.
///
/// Every handle must deref to the same memory for as long as it lives (any
/// box, vector, reference or reference-counted buffer does). The engine
/// keeps the handles until it is dropped; the table handle may be shared
/// (a reference-counted buffer) so that lock-free readers elsewhere can
/// view the same words with [`RemapTable::view`].
///
/// ```text
/// struct KernelStorage;
/// impl Storage for KernelStorage {
///     type Table = KvShared<AtomicU64>;   // refcounted, cloned for the map path
///     type Bitmaps = KvBuf<u64>;
///     type Buffer = KvBuf<u8>;
/// }
/// ```
pub trait Storage {
    /// The remap table words ([`MemoryRequirements::table_words`] of them),
    /// shared with lock-free readers, hence only `Deref`.
    type Table: Deref<Target = [AtomicU64]>;
    /// The spare allocator bitmaps ([`MemoryRequirements::bitmap_words`]).
    type Bitmaps: DerefMut<Target = [u64]>;
    /// The metadata I/O buffer ([`MemoryRequirements::buffer_bytes`] =
    /// [`STORE_BUFFER_BYTES`] bytes).
    type Buffer: DerefMut<Target = [u8]>;
}

/// Storage borrowed for `'a`: plain slices (host tools and tests). Build
/// the memory with [`EngineMemory::borrowed`].
pub struct BorrowedStorage<'a>(PhantomData<&'a mut [u8]>);

impl<'a> Storage for BorrowedStorage<'a> {
    type Table = &'a [AtomicU64];
    type Bitmaps = &'a mut [u64];
    type Buffer = &'a mut [u8];
}

/// Memory the caller provides and the engine keeps, zero-initialised or
/// not (the engine clears what it uses), sized by [`MemoryRequirements`].
pub struct EngineMemory<S: Storage> {
    /// Remap table words, shared with lock-free readers.
    pub table: S::Table,
    /// Spare bitmap words.
    pub bitmaps: S::Bitmaps,
    /// Metadata I/O buffer of at least [`STORE_BUFFER_BYTES`] bytes.
    pub buffer: S::Buffer,
}

impl<'a> EngineMemory<BorrowedStorage<'a>> {
    /// Memory made of borrowed slices.
    pub fn borrowed(table: &'a [AtomicU64], bitmaps: &'a mut [u64], buffer: &'a mut [u8]) -> Self {
        EngineMemory {
            table,
            bitmaps,
            buffer,
        }
    }
}

/// How much memory an engine needs for a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRequirements {
    /// Length of [`EngineMemory::table`] in u64 words.
    pub table_words: usize,
    /// Length of [`EngineMemory::bitmaps`] in u64 words.
    pub bitmap_words: usize,
    /// Length of [`EngineMemory::buffer`] in bytes.
    pub buffer_bytes: usize,
}

impl MemoryRequirements {
    /// Memory for an engine using `layout`.
    pub fn for_layout(layout: &Layout) -> MemoryRequirements {
        MemoryRequirements {
            table_words: usize::try_from(table_words_for(layout.max_entries)).unwrap_or(usize::MAX),
            bitmap_words: usize::try_from(allocator_words_for(layout.data_blocks))
                .unwrap_or(usize::MAX),
            buffer_bytes: STORE_BUFFER_BYTES,
        }
    }

    /// Memory to format a spare region of `spare_sectors`.
    pub fn for_format(spare_sectors: u64, params: FormatParams) -> Result<Self, MetaError> {
        Ok(Self::for_layout(&Layout::compute(spare_sectors, params)?))
    }

    /// Memory to open existing metadata: reads the superblock (using
    /// `buffer`, at least 4096 bytes) and sizes for the layout after any
    /// growth to `expected.spare_sectors`. Also returns the superblock.
    pub fn for_open<D: MetaDevice + ?Sized>(
        device: &mut D,
        buffer: &mut [u8],
        expected: &Expected,
    ) -> Result<(Self, Superblock), MetaError> {
        let block = super::block::as_block_mut(buffer).ok_or(MetaError::BufferTooSmall)?;
        let superblock = probe(device, block, expected)?;
        let layout = superblock.layout.grow(expected.spare_sectors)?;
        Ok((Self::for_layout(&layout), superblock))
    }
}

/// Permission to format a spare region with a layout: the region's whole
/// metadata footprint read as zero, or the operator asked to overwrite it
/// ([`FormatPolicy`]). Only [`FormatPlan::check`] (directly or through
/// [`Engine::plan_open`]) makes one, so [`Engine::format_planned`] cannot
/// be reached without that decision. Use it on the device it was checked
/// on, before anything else writes there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatPlan {
    layout: Layout,
}

impl FormatPlan {
    /// Decides whether the spare region on `device` may be formatted with
    /// `params` under `policy`. With [`FormatPolicy::IfBlank`] it reads the
    /// whole metadata footprint of that layout, in chunks of `buffer`
    /// (at least 4096 bytes; a larger one means fewer reads), and refuses
    /// with [`MetaError::NotBlank`], naming the first non-zero sector and
    /// its area, unless every byte is zero. Writes nothing.
    pub fn check<D: MetaDevice + ?Sized>(
        device: &mut D,
        buffer: &mut [u8],
        spare_sectors: u64,
        params: FormatParams,
        policy: FormatPolicy,
    ) -> Result<FormatPlan, MetaError> {
        let layout = Layout::compute(spare_sectors, params)?;
        let first_nonzero = match policy {
            FormatPolicy::IfBlank => first_nonzero_metadata(device, buffer, &layout)?,
            FormatPolicy::Overwrite => None,
        };
        check_blank(policy, first_nonzero)?;
        Ok(FormatPlan { layout })
    }

    /// The layout the region will be formatted with.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Memory an engine formatted with this plan needs.
    pub fn requirements(&self) -> MemoryRequirements {
        MemoryRequirements::for_layout(&self.layout)
    }
}

/// What [`Engine::plan_open`] decided for a spare region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenPlan {
    /// Load the metadata under `superblock` ([`Engine::open`] or
    /// [`Engine::open_deferred`]) with `requirements`.
    Load {
        /// Memory the engine needs (after any growth).
        requirements: MemoryRequirements,
        /// The superblock that will be loaded.
        superblock: Superblock,
    },
    /// Format the region ([`Engine::format_planned`]).
    Format(FormatPlan),
}

/// The dm-remap engine for one main/spare pair. It owns its memory (through
/// the handles of `S`) and the metadata device `D`; it has no lifetime of
/// its own unless the handles borrow.
///
/// The engine is the table's only writer: it holds the table's writer
/// claim from construction until it is dropped.
pub struct Engine<S: Storage, D: MetaDevice> {
    table: TableWriter<S::Table>,
    spares: SpareAllocator<S::Bitmaps>,
    store: Store<S::Buffer, D>,
    config: Config,
    main_blocks: u64,
    scanner: Scanner,
    remapped_blocks: u64,
    pending_blocks: u64,
    pending_unmapped: u64,
    read_errors: u64,
    write_errors: u64,
    events: EventTracker,
    /// False between [`Engine::open_deferred`] and [`Engine::start`]: the
    /// metadata may still belong to another engine, so nothing is written.
    started: bool,
}

fn claim_table<T: Deref<Target = [AtomicU64]>>(
    words: T,
    layout: &Layout,
) -> Result<TableWriter<T>, MetaError> {
    let capacity = RemapTable::new(&words)
        .map_err(|_| MetaError::TableMemoryTooSmall)?
        .capacity();
    if capacity < layout.max_entries {
        return Err(MetaError::TableMemoryTooSmall);
    }
    let mut writer = TableWriter::claim(words).map_err(|error| match error {
        TableError::Claimed => MetaError::TableClaimed,
        _ => MetaError::TableMemoryTooSmall,
    })?;
    writer.clear();
    writer.set_limit(layout.max_entries);
    Ok(writer)
}

impl<S: Storage, D: MetaDevice> Engine<S, D> {
    /// The open path's one decision, shared by the kernel target, the CLI
    /// and the tests: load the metadata on `device`, format the region, or
    /// refuse (the error says why) — see [`open_decision`] for the rules.
    /// `params` is the geometry a format would use; `buffer` (at least
    /// 4096 bytes) is the read buffer, also the chunk size of the blank
    /// check. Reads only; nothing is written whatever it decides.
    pub fn plan_open(
        device: &mut D,
        buffer: &mut [u8],
        expected: &Expected,
        params: FormatParams,
        policy: FormatPolicy,
    ) -> Result<OpenPlan, MetaError> {
        let probed = {
            let block = super::block::as_block_mut(buffer).ok_or(MetaError::BufferTooSmall)?;
            probe(device, block, expected)
        };
        let checked_policy = match open_decision(&probed, policy) {
            OpenDecision::Load => {
                let superblock = probed?;
                let layout = superblock.layout.grow(expected.spare_sectors)?;
                return Ok(OpenPlan::Load {
                    requirements: MemoryRequirements::for_layout(&layout),
                    superblock,
                });
            }
            OpenDecision::FormatIfBlank => FormatPolicy::IfBlank,
            OpenDecision::Format => FormatPolicy::Overwrite,
            // Only decided on an error, which is the reason to report.
            OpenDecision::Refuse => return Err(probed.err().unwrap_or(MetaError::Failed)),
        };
        FormatPlan::check(
            device,
            buffer,
            expected.spare_sectors,
            params,
            checked_policy,
        )
        .map(OpenPlan::Format)
    }

    /// Formats a blank spare region and returns an engine on it, which
    /// keeps `memory`. Blank means the whole metadata footprint of the
    /// layout reads as zero ([`FormatPlan::check`] with
    /// [`FormatPolicy::IfBlank`], reading with `memory.buffer`); anything
    /// else is refused and left unwritten.
    pub fn format(
        mut device: D,
        mut memory: EngineMemory<S>,
        binding: DeviceBinding,
        spare_sectors: u64,
        params: FormatParams,
        config: Config,
    ) -> Result<Engine<S, D>, MetaError> {
        let plan = FormatPlan::check(
            &mut device,
            &mut memory.buffer,
            spare_sectors,
            params,
            FormatPolicy::IfBlank,
        )?;
        Self::format_planned(device, memory, binding, plan, config)
    }

    /// Formats the spare region as `plan` allows and returns an engine on
    /// it, which keeps `memory`.
    pub fn format_planned(
        device: D,
        memory: EngineMemory<S>,
        binding: DeviceBinding,
        plan: FormatPlan,
        config: Config,
    ) -> Result<Engine<S, D>, MetaError> {
        let EngineMemory {
            table,
            bitmaps,
            buffer,
        } = memory;
        let layout = plan.layout;
        let table = claim_table(table, &layout)?;
        let spares = SpareAllocator::with_memory(bitmaps, layout.data_blocks)
            .map_err(|_| MetaError::BitmapMemoryTooSmall)?;
        let store = {
            let state = StateRef {
                table: table.table(),
                bad_spares: spares.bad_words(),
                scanner_cursor: 0,
            };
            Store::format(device, buffer, binding, layout, &state)?
        };
        Ok(Self::assemble(table, spares, store, config, 0))
    }

    /// Opens formatted metadata: recovers the newest complete state, grows
    /// the layout if the spare region grew, and writes it as a fresh
    /// generation (so the log restarts clean after any crash).
    pub fn open(
        device: D,
        memory: EngineMemory<S>,
        expected: &Expected,
        config: Config,
    ) -> Result<Engine<S, D>, MetaError> {
        let mut engine = Self::open_deferred(device, memory, expected, config)?;
        engine.start(expected)?;
        Ok(engine)
    }

    /// Opens formatted metadata read-only: validates it and recovers the
    /// state into memory, but writes nothing until [`Engine::start`]. For a
    /// device-mapper table load, where the table being replaced may still
    /// be writing the same metadata until it is suspended.
    pub fn open_deferred(
        mut device: D,
        memory: EngineMemory<S>,
        expected: &Expected,
        config: Config,
    ) -> Result<Engine<S, D>, MetaError> {
        let EngineMemory {
            table,
            bitmaps,
            mut buffer,
        } = memory;
        let (superblock, layout) = {
            let (_, scratch) = split_buffer(&mut buffer)?;
            let superblock = probe(&mut device, scratch, expected)?;
            let layout = superblock.layout.grow(expected.spare_sectors)?;
            (superblock, layout)
        };
        let mut table = claim_table(table, &layout)?;
        let mut spares = SpareAllocator::with_memory(bitmaps, layout.data_blocks)
            .map_err(|_| MetaError::BitmapMemoryTooSmall)?;
        let loaded = {
            let (_, scratch) = split_buffer(&mut buffer)?;
            load(&mut device, scratch, &superblock, &mut table, &mut spares)?
        };
        // Replay checked against the recorded layout; the table may now
        // hold the grown layout's capacity.
        table.set_limit(layout.max_entries);
        let store = Store::resume(device, buffer, superblock, loaded.position)?;
        let mut engine = Self::assemble(table, spares, store, config, loaded.scanner_cursor);
        engine.started = false;
        Ok(engine)
    }

    /// True once the engine may write (always, except between
    /// [`Engine::open_deferred`] and [`Engine::start`]).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Starts a deferred engine: reads the metadata again (the previous
    /// owner may have committed since the deferred open), grows the layout
    /// if the spare region grew, and writes the state as a fresh generation.
    /// A no-op on a started engine.
    pub fn start(&mut self, expected: &Expected) -> Result<(), MetaError> {
        if self.started {
            return Ok(());
        }
        let (superblock, layout, loaded) = {
            let (device, buffer) = self.store.parts_mut();
            let (_, scratch) = split_buffer(buffer)?;
            let superblock = probe(device, scratch, expected)?;
            let layout = superblock.layout.grow(expected.spare_sectors)?;
            if layout.data_blocks != self.spares.blocks()
                || layout.max_entries > self.table.capacity()
            {
                return Err(MetaError::LayoutChanged);
            }
            self.table.clear();
            self.spares.reset();
            let loaded = load(
                device,
                scratch,
                &superblock,
                &mut self.table,
                &mut self.spares,
            )?;
            (superblock, layout, loaded)
        };
        self.table.set_limit(layout.max_entries);
        self.store.resume_in_place(superblock, loaded.position);
        let state = StateRef {
            table: self.table.table(),
            bad_spares: self.spares.bad_words(),
            scanner_cursor: loaded.scanner_cursor,
        };
        self.store.snapshot(Some(layout), &state)?;
        self.scanner = Scanner::new(
            self.main_blocks,
            loaded.scanner_cursor,
            self.config.scan_rate,
            self.config.scan_burst,
            self.config.scan_checkpoint_blocks,
        );
        self.recount();
        self.started = true;
        Ok(())
    }

    fn assemble(
        table: TableWriter<S::Table>,
        spares: SpareAllocator<S::Bitmaps>,
        store: Store<S::Buffer, D>,
        config: Config,
        cursor: u64,
    ) -> Engine<S, D> {
        let superblock = *store.superblock();
        let main_blocks = superblock
            .layout
            .main_blocks(superblock.binding.main_sectors);
        let mut engine = Engine {
            table,
            spares,
            store,
            config,
            main_blocks,
            scanner: Scanner::new(
                main_blocks,
                cursor,
                config.scan_rate,
                config.scan_burst,
                config.scan_checkpoint_blocks,
            ),
            remapped_blocks: 0,
            pending_blocks: 0,
            pending_unmapped: 0,
            read_errors: 0,
            write_errors: 0,
            started: true,
            events: EventTracker::new(&Status {
                mode: Mode::Ok,
                remapped_blocks: 0,
                pending_blocks: 0,
                spare_total: 0,
                spare_used: 0,
                spare_bad: 0,
                spare_free: 0,
                read_errors: 0,
                write_errors: 0,
                generation: 0,
                main_blocks: 0,
                scanner_cursor: 0,
                scanner_passes: 0,
            }),
        };
        engine.recount();
        engine
    }

    /// Recounts remapped and pending blocks from the table and restarts
    /// event tracking from the resulting status.
    fn recount(&mut self) {
        let (mut remapped, mut pending, mut pending_unmapped) = (0u64, 0u64, 0u64);
        for (_, entry) in self.table.iter() {
            remapped += u64::from(entry.is_remapped());
            pending += u64::from(entry.is_pending());
            pending_unmapped += u64::from(entry.is_pending() && !entry.is_remapped());
        }
        self.remapped_blocks = remapped;
        self.pending_blocks = pending;
        self.pending_unmapped = pending_unmapped;
        let status = self.status();
        self.events = EventTracker::new(&status);
    }

    fn count(&mut self, entry: Entry, add: bool) {
        let adjust = |counter: &mut u64, hit: bool| {
            if hit {
                *counter = if add {
                    counter.saturating_add(1)
                } else {
                    counter.saturating_sub(1)
                };
            }
        };
        adjust(&mut self.remapped_blocks, entry.is_remapped());
        adjust(&mut self.pending_blocks, entry.is_pending());
        adjust(
            &mut self.pending_unmapped,
            entry.is_pending() && !entry.is_remapped(),
        );
    }

    /// Replaces the table entry of `block` (None removes it), keeping the
    /// counters in step.
    fn put_entry(&mut self, block: u64, entry: Option<Entry>) -> Result<(), PolicyError> {
        let old = self.table.get(block);
        match entry {
            Some(entry) => self
                .table
                .set(block, entry)
                .map_err(|_| PolicyError::TableFull)?,
            None => {
                self.table.remove(block);
            }
        }
        if let Some(old) = old {
            self.count(old, false);
        }
        if let Some(entry) = entry {
            self.count(entry, true);
        }
        Ok(())
    }

    fn record(&mut self, record: Record) -> Result<(), PolicyError> {
        if !self.started {
            return Err(PolicyError::Metadata(MetaError::NotStarted));
        }
        let state = StateRef {
            table: self.table.table(),
            bad_spares: self.spares.bad_words(),
            scanner_cursor: self.scanner.cursor(),
        };
        self.store.record(&record, &state)?;
        Ok(())
    }

    fn mark_spare_bad(&mut self, spare: u64) -> Result<(), PolicyError> {
        if self.spares.is_bad(spare) {
            return Ok(());
        }
        self.spares
            .mark_bad(spare)
            .map_err(|_| PolicyError::BlockOutOfRange)?;
        self.record(Record::SpareBad { spare })
    }

    fn check_can_remap(&self) -> Result<(), PolicyError> {
        if self.store.has_failed() {
            return Err(PolicyError::Metadata(MetaError::Failed));
        }
        if self.config.observe_only {
            return Err(PolicyError::ObserveOnly);
        }
        Ok(())
    }

    fn check_block(&self, block: u64) -> Result<(), PolicyError> {
        if block >= self.main_blocks {
            Err(PolicyError::BlockOutOfRange)
        } else {
            Ok(())
        }
    }

    /// The lock-free lookup view of the table (O(1), `Copy`). A reader
    /// that cannot borrow the engine builds the same view from its own
    /// handle to the table words with [`RemapTable::view`].
    pub fn table(&self) -> RemapTable<'_> {
        self.table.table()
    }

    /// The layout in force.
    pub fn layout(&self) -> &Layout {
        self.store.layout()
    }

    /// The current superblock.
    pub fn superblock(&self) -> &Superblock {
        self.store.superblock()
    }

    /// Whole remap blocks on the main device.
    pub fn main_blocks(&self) -> u64 {
        self.main_blocks
    }

    /// Runtime settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Switches observe-only mode on or off.
    pub fn set_observe_only(&mut self, observe_only: bool) {
        self.config.observe_only = observe_only;
    }

    /// The spare pool (read-only).
    pub fn spares(&self) -> &SpareAllocator<S::Bitmaps> {
        &self.spares
    }

    /// The metadata device.
    pub fn device_mut(&mut self) -> &mut D {
        self.store.device_mut()
    }

    /// Metadata commits (log commits and snapshots) since construction.
    pub fn commit_count(&self) -> u64 {
        self.store.commit_count()
    }

    /// Snapshots written since construction.
    pub fn snapshot_count(&self) -> u64 {
        self.store.snapshot_count()
    }

    /// First sector of spare block `spare`, relative to the spare region.
    pub fn spare_sector(&self, spare: u64) -> Option<u64> {
        self.layout().spare_block_sector(spare)
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode_with(self.spares.free_count())
    }

    fn mode_with(&self, free: u64) -> Mode {
        let total = self.spares.blocks();
        if self.store.has_failed() {
            Mode::Failed
        } else if self.config.observe_only {
            Mode::ObserveOnly
        } else if free == 0 {
            Mode::SpareExhausted
        } else if self.pending_blocks > 0 || super::policy::usage_level(total - free, total) >= 90 {
            Mode::Degraded
        } else {
            Mode::Ok
        }
    }

    /// Counters for the status line.
    pub fn status(&self) -> Status {
        let free = self.spares.free_count();
        Status {
            mode: self.mode_with(free),
            remapped_blocks: self.remapped_blocks,
            pending_blocks: self.pending_blocks,
            spare_total: self.spares.blocks(),
            spare_used: self.spares.used_count(),
            spare_bad: self.spares.bad_count(),
            spare_free: free,
            read_errors: self.read_errors,
            write_errors: self.write_errors,
            generation: self.store.generation(),
            main_blocks: self.main_blocks,
            scanner_cursor: self.scanner.cursor(),
            scanner_passes: self.scanner.passes(),
        }
    }

    /// The next event to raise (spare use crossing 75/90/100 %, or a mode
    /// change), if any. Call after each policy operation until `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        let status = self.status();
        self.events.poll(&status)
    }

    /// Starts remapping `block`: allocates a spare block and marks the
    /// block BUSY (the caller defers other I/O to it). `whole_block` says
    /// whether the caller holds the data of the entire block; partial
    /// remaps are refused because the rest of the new spare block would
    /// hold garbage.
    pub fn begin_remap(
        &mut self,
        block: u64,
        whole_block: bool,
    ) -> Result<RemapTicket, PolicyError> {
        self.check_can_remap()?;
        self.check_block(block)?;
        if !whole_block {
            return Err(PolicyError::PartialBlock);
        }
        let old = self.table.get(block);
        if old.is_some_and(|entry| entry.is_busy()) {
            return Err(PolicyError::Busy);
        }
        let spare = self.spares.allocate().ok_or(PolicyError::SpareExhausted)?;
        let Some(spare_sector) = self.layout().spare_block_sector(spare) else {
            self.spares.release(spare);
            return Err(PolicyError::SpareExhausted);
        };
        let busy = match old {
            Some(entry) => entry.with(Entry::BUSY),
            None => Entry::new(Entry::BUSY, 0),
        };
        if let Err(error) = self.put_entry(block, Some(busy)) {
            self.spares.release(spare);
            return Err(error);
        }
        self.spares.set_in_flight(spare);
        Ok(RemapTicket {
            block,
            spare,
            spare_sector,
        })
    }

    fn check_ticket(&self, ticket: &RemapTicket) -> Result<Entry, PolicyError> {
        match self.table.get(ticket.block) {
            Some(entry)
                if entry.is_busy()
                    && self.spares.is_in_flight(ticket.spare)
                    && self.spares.is_used(ticket.spare)
                    && entry.spare() != Some(ticket.spare) =>
            {
                Ok(entry)
            }
            _ => Err(PolicyError::NotBusy),
        }
    }

    /// Finishes a remap after the data was written to the spare block and
    /// makes it visible at once: the block now reads and writes from the
    /// spare. Any previous spare is retired (marked bad: it failed or was
    /// suspect). Call [`Engine::commit`] before acknowledging the I/O.
    ///
    /// Only for callers with no concurrent I/O to the block (host tools):
    /// until the commit, the new mapping is not durable, and I/O routed to
    /// the spare meanwhile could be acknowledged and then lost by a crash.
    /// A kernel target uses [`Engine::complete_remap_busy`], commits, then
    /// [`Engine::publish_remap`].
    pub fn complete_remap(&mut self, ticket: RemapTicket) -> Result<(), PolicyError> {
        let result = self.complete_remap_busy(ticket);
        // Also when recording failed after the entry changed: the mapping
        // stands in memory (NotBusy here if nothing changed).
        let _ = self.publish_remap(ticket.block);
        result
    }

    /// Finishes a remap after the data was written to the spare block, but
    /// keeps the block BUSY (its route stays [`Route::Defer`]) until
    /// [`Engine::publish_remap`]: the new mapping is recorded, not yet
    /// durable, and no I/O may reach the spare before it is. Any previous
    /// spare is retired (marked bad: it failed or was suspect).
    ///
    /// On an error before anything changed (failed metadata, a stale
    /// ticket) the remap is still in progress: end it with
    /// [`Engine::fail_remap`]. If recording the change fails (the metadata
    /// is then failed), the mapping stands in memory and
    /// [`Engine::publish_remap`] reports it as not durable.
    ///
    /// [`Route::Defer`]: super::table::Route::Defer
    pub fn complete_remap_busy(&mut self, ticket: RemapTicket) -> Result<(), PolicyError> {
        if self.store.has_failed() {
            return Err(PolicyError::Metadata(MetaError::Failed));
        }
        let old = self.check_ticket(&ticket)?;
        let entry = Entry::new(Entry::REMAPPED, ticket.spare);
        // The new spare stays in flight until `publish_remap`: a busy
        // entry whose own spare is in flight is a completed remap awaiting
        // publication (one in progress points at its old spare, or none).
        self.put_entry(ticket.block, Some(entry.with(Entry::BUSY)))?;
        if let Some(old_spare) = old.spare() {
            self.spares.release(old_spare);
            self.mark_spare_bad(old_spare)?;
        }
        self.record(Record::Entry {
            block: ticket.block,
            entry,
        })
    }

    /// Makes the completed remap of `block` ([`Engine::complete_remap_busy`])
    /// visible: the block stops being busy and routes to its new spare.
    /// Call it after the [`Engine::commit`] that made the remap durable.
    /// Returns whether the mapping is durable: false if the metadata has
    /// failed or changes await a commit (the mapping then holds in memory
    /// only, and I/O that depends on it must not be acknowledged).
    /// [`PolicyError::NotBusy`] if `block` has no completed remap awaiting
    /// publication.
    pub fn publish_remap(&mut self, block: u64) -> Result<bool, PolicyError> {
        let entry = self
            .table
            .get(block)
            .filter(|entry| entry.is_busy())
            .ok_or(PolicyError::NotBusy)?;
        let spare = entry
            .spare()
            .filter(|&spare| self.spares.is_in_flight(spare))
            .ok_or(PolicyError::NotBusy)?;
        self.put_entry(block, Some(entry.without(Entry::BUSY)))?;
        self.spares.clear_in_flight(spare);
        Ok(!self.store.has_failed() && !self.store.is_dirty())
    }

    /// Abandons a remap: the block returns to its previous state. If the
    /// spare block failed (`spare_failed`), it is marked bad; the caller
    /// may call [`Engine::begin_remap`] again for another spare.
    pub fn fail_remap(
        &mut self,
        ticket: RemapTicket,
        spare_failed: bool,
    ) -> Result<(), PolicyError> {
        let old = self.check_ticket(&ticket)?;
        self.spares.clear_in_flight(ticket.spare);
        let previous = old.without(Entry::BUSY);
        let restored = if previous.flags() == 0 {
            None
        } else {
            Some(previous)
        };
        self.put_entry(ticket.block, restored)?;
        self.spares.release(ticket.spare);
        if spare_failed {
            self.mark_spare_bad(ticket.spare)?;
        }
        Ok(())
    }

    /// A write of `block` to `target` failed. Returns the ticket of the
    /// remap to perform (see the module example). A failed spare is marked
    /// bad first.
    pub fn on_write_error(
        &mut self,
        block: u64,
        target: IoTarget,
        whole_block: bool,
    ) -> Result<RemapTicket, PolicyError> {
        self.write_errors = self.write_errors.saturating_add(1);
        self.check_can_remap()?;
        self.check_block(block)?;
        let entry = self.table.get(block);
        if entry.is_some_and(|entry| entry.is_busy()) {
            return Err(PolicyError::Stale);
        }
        match target {
            IoTarget::Main => {
                if entry.is_some_and(|entry| entry.is_remapped()) {
                    return Err(PolicyError::Stale);
                }
            }
            IoTarget::Spare(spare) => {
                if entry.and_then(|entry| entry.spare()) != Some(spare) {
                    return Err(PolicyError::Stale);
                }
                if !whole_block {
                    return Err(PolicyError::PartialBlock);
                }
                self.mark_spare_bad(spare)?;
            }
        }
        self.begin_remap(block, whole_block)
    }

    /// A read of `block` from `target` failed even after the caller's
    /// retries. The block becomes pending: reads keep going where the data
    /// is (and fail honestly) until a whole-block write remaps it.
    pub fn on_read_error(
        &mut self,
        block: u64,
        target: IoTarget,
    ) -> Result<ReadErrorAction, PolicyError> {
        self.read_errors = self.read_errors.saturating_add(1);
        if self.store.has_failed() || self.config.observe_only {
            return Ok(ReadErrorAction::Recorded);
        }
        self.check_block(block)?;
        let entry = self.table.get(block);
        match (target, entry) {
            (_, Some(entry)) if entry.is_busy() => Err(PolicyError::Stale),
            (IoTarget::Main, None) => {
                let limit = self
                    .layout()
                    .max_entries
                    .saturating_sub(self.layout().data_blocks);
                if self.pending_unmapped >= limit {
                    return Ok(ReadErrorAction::Recorded);
                }
                let pending = Entry::new(Entry::PENDING, 0);
                if self.put_entry(block, Some(pending)).is_err() {
                    return Ok(ReadErrorAction::Recorded);
                }
                self.record(Record::Entry {
                    block,
                    entry: pending,
                })?;
                Ok(ReadErrorAction::MarkedPending)
            }
            (IoTarget::Main, Some(entry)) if !entry.is_remapped() => {
                Ok(ReadErrorAction::MarkedPending)
            }
            (IoTarget::Spare(spare), Some(entry)) if entry.spare() == Some(spare) => {
                self.mark_spare_bad(spare)?;
                if !entry.is_pending() {
                    let pending = entry.with(Entry::PENDING);
                    self.put_entry(block, Some(pending))?;
                    self.record(Record::Entry {
                        block,
                        entry: pending,
                    })?;
                }
                Ok(ReadErrorAction::MarkedPending)
            }
            _ => Err(PolicyError::Stale),
        }
    }

    /// A read of `block` from `target` succeeded only after retries: the
    /// block is weak. The caller still holds the whole block's data, so it
    /// is rescued: returns the ticket of a remap to write that data to.
    pub fn on_read_retry_succeeded(
        &mut self,
        block: u64,
        target: IoTarget,
    ) -> Result<RemapTicket, PolicyError> {
        self.read_errors = self.read_errors.saturating_add(1);
        self.check_can_remap()?;
        self.check_block(block)?;
        let entry = self.table.get(block);
        match (target, entry) {
            (_, Some(entry)) if entry.is_busy() => return Err(PolicyError::Stale),
            (IoTarget::Main, Some(entry)) if entry.is_remapped() => return Err(PolicyError::Stale),
            (IoTarget::Spare(spare), entry) => {
                if entry.and_then(|entry| entry.spare()) != Some(spare) {
                    return Err(PolicyError::Stale);
                }
                self.mark_spare_bad(spare)?;
            }
            _ => {}
        }
        self.begin_remap(block, true)
    }

    /// A read of `block` from the main device succeeded. A pending block
    /// that reads fine again is healthy: its entry is cleared. Returns true
    /// if it was.
    pub fn on_read_ok(&mut self, block: u64) -> Result<bool, PolicyError> {
        if self.store.has_failed() {
            return Err(PolicyError::Metadata(MetaError::Failed));
        }
        match self.table.get(block) {
            Some(entry) if entry.is_pending() && !entry.is_remapped() && !entry.is_busy() => {
                self.put_entry(block, None)?;
                self.record(Record::Clear { block })?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Makes every change so far durable. Only acknowledge I/O that
    /// depended on a remap after this returns `Ok`.
    pub fn commit(&mut self) -> Result<(), PolicyError> {
        if !self.started {
            return Err(PolicyError::Metadata(MetaError::NotStarted));
        }
        let state = StateRef {
            table: self.table.table(),
            bad_spares: self.spares.bad_words(),
            scanner_cursor: self.scanner.cursor(),
        };
        self.store.commit(&state)?;
        Ok(())
    }

    /// Zeroes the read and write error counters (`reset_stats`); they are
    /// statistics since load and not persisted.
    pub fn reset_error_counters(&mut self) {
        self.read_errors = 0;
        self.write_errors = 0;
    }

    /// True if changes await a [`Engine::commit`].
    pub fn needs_commit(&self) -> bool {
        self.store.is_dirty()
    }

    /// The main blocks the scanner may read now (`now_ns` is a monotonic
    /// clock), at most `max_blocks`; `None` if the rate limit says wait.
    pub fn scan_window(&mut self, now_ns: u64, max_blocks: u64) -> Option<ScanWindow> {
        self.scanner.window(now_ns, max_blocks)
    }

    /// Moves the scanner past `blocks` scanned blocks (after their results
    /// were reported). Records the cursor in the metadata periodically.
    pub fn scan_advance(&mut self, blocks: u64) -> Result<(), PolicyError> {
        if self.scanner.advance(blocks) && !self.store.has_failed() {
            let position = self.scanner.cursor();
            self.record(Record::ScannerCursor { position })?;
        }
        Ok(())
    }

    /// Records the scanner cursor now (e.g. when a scan is stopped), so a
    /// later load resumes exactly here; takes effect at the next commit.
    pub fn checkpoint_scan(&mut self) -> Result<(), PolicyError> {
        if self.store.has_failed() {
            return Err(PolicyError::Metadata(MetaError::Failed));
        }
        let position = self.scanner.checkpoint();
        self.record(Record::ScannerCursor { position })
    }

    /// Changes the scanner rate.
    pub fn set_scan_rate(&mut self, blocks_per_second: u64, burst: u64) {
        self.config.scan_rate = blocks_per_second;
        self.config.scan_burst = burst;
        self.scanner.set_rate(blocks_per_second, burst);
    }

    /// Iterates over all table entries (for status dumps; writer side).
    pub fn entries(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.table.iter()
    }

    /// Tears the engine down and gives the metadata device back. The
    /// memory handles are dropped (the table's writer claim is released
    /// first, so borrowed memory can be given to a new engine).
    pub fn into_device(self) -> D {
        self.store.into_device()
    }
}
