//! Test support: an in-memory metadata device that can simulate crashes,
//! and caller memory for engines.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;

use dm_remap_engine::allocator::SpareAllocator;
use dm_remap_engine::layout::{DeviceBinding, Expected, FormatParams};
use dm_remap_engine::recovery::{load, probe, Loaded};
use dm_remap_engine::snapshot::persistent_entry;
use dm_remap_engine::superblock::Superblock;
use dm_remap_engine::{
    BorrowedStorage, Config, Engine, EngineMemory, IoError, MemoryRequirements, MetaDevice,
    MetaError, RemapTable, Storage,
};

pub const SECTOR: usize = 512;

/// One operation seen by the device since the journal was last cleared.
#[derive(Clone, Debug)]
pub enum Op {
    Write(u64, Vec<u8>),
    Flush,
}

/// In-memory device: `durable` is what survives a crash; writes since
/// the last flush are `volatile` until flushed. Every operation is also
/// appended to `journal` so tests can replay a crash at any point.
#[derive(Clone, Debug)]
pub struct MemDevice {
    pub durable: Vec<u8>,
    pub volatile: Vec<(u64, Vec<u8>)>,
    pub journal: Vec<Op>,
    /// After this many more writes, every operation fails (power cut).
    pub fail_after_writes: Option<u64>,
    pub fail_reads: bool,
}

impl MemDevice {
    pub fn new(sectors: u64) -> Self {
        Self::from_image(vec![0u8; sectors as usize * SECTOR])
    }

    pub fn from_image(image: Vec<u8>) -> Self {
        MemDevice {
            durable: image,
            volatile: Vec::new(),
            journal: Vec::new(),
            fail_after_writes: None,
            fail_reads: false,
        }
    }

    fn range(&self, sector: u64, len: usize) -> Result<std::ops::Range<usize>, IoError> {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(SECTOR))
            .ok_or(IoError { errno: -22 })?;
        let end = start.checked_add(len).ok_or(IoError { errno: -22 })?;
        if end > self.durable.len() {
            return Err(IoError { errno: -5 });
        }
        Ok(start..end)
    }

    /// The image as the running system sees it (durable + volatile).
    pub fn current_image(&self) -> Vec<u8> {
        let mut image = self.durable.clone();
        for (sector, data) in &self.volatile {
            let start = *sector as usize * SECTOR;
            image[start..start + data.len()].copy_from_slice(data);
        }
        image
    }
}

impl MetaDevice for MemDevice {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        if self.fail_reads {
            return Err(IoError { errno: -5 });
        }
        let range = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.durable[range.clone()]);
        for (written, data) in &self.volatile {
            let start = *written as usize * SECTOR;
            let end = start + data.len();
            let lo = start.max(range.start);
            let hi = end.min(range.end);
            if lo < hi {
                buf[lo - range.start..hi - range.start]
                    .copy_from_slice(&data[lo - start..hi - start]);
            }
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError> {
        if let Some(left) = self.fail_after_writes {
            if left == 0 {
                return Err(IoError { errno: -5 });
            }
            self.fail_after_writes = Some(left - 1);
        }
        self.range(sector, buf.len())?;
        self.volatile.push((sector, buf.to_vec()));
        self.journal.push(Op::Write(sector, buf.to_vec()));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.fail_after_writes == Some(0) {
            return Err(IoError { errno: -5 });
        }
        for (sector, data) in std::mem::take(&mut self.volatile) {
            let start = sector as usize * SECTOR;
            self.durable[start..start + data.len()].copy_from_slice(&data);
        }
        self.journal.push(Op::Flush);
        Ok(())
    }
}

/// How unflushed writes fare in a simulated crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    DropAll,
    KeepAll,
    KeepOnlyLast,
    KeepAllButLast,
    TearLast,
    KeepEveryOther,
}

pub const CRASH_MODES: [CrashMode; 6] = [
    CrashMode::DropAll,
    CrashMode::KeepAll,
    CrashMode::KeepOnlyLast,
    CrashMode::KeepAllButLast,
    CrashMode::TearLast,
    CrashMode::KeepEveryOther,
];

/// The image after a crash right after the `writes`-th write of `journal`
/// (applied on top of `base`): flushes up to that point are durable,
/// later-unflushed writes are treated per `mode`.
pub fn crash_image(base: &[u8], journal: &[Op], writes: usize, mode: CrashMode) -> Vec<u8> {
    let mut image = base.to_vec();
    let mut pending: Vec<(u64, &[u8])> = Vec::new();
    let mut seen = 0;
    for op in journal {
        if seen == writes {
            break;
        }
        match op {
            Op::Flush => {
                for (sector, data) in pending.drain(..) {
                    let start = sector as usize * SECTOR;
                    image[start..start + data.len()].copy_from_slice(data);
                }
            }
            Op::Write(sector, data) => {
                pending.push((*sector, data));
                seen += 1;
            }
        }
    }
    let count = pending.len();
    for (i, (sector, data)) in pending.into_iter().enumerate() {
        let last = i + 1 == count;
        let keep = match mode {
            CrashMode::DropAll => 0,
            CrashMode::KeepAll => data.len(),
            CrashMode::KeepOnlyLast => {
                if last {
                    data.len()
                } else {
                    0
                }
            }
            CrashMode::KeepAllButLast => {
                if last {
                    0
                } else {
                    data.len()
                }
            }
            CrashMode::TearLast => {
                if last {
                    (data.len() / SECTOR / 2).max(1) * SECTOR - SECTOR / 2
                } else {
                    data.len()
                }
            }
            CrashMode::KeepEveryOther => {
                if i % 2 == 0 {
                    data.len()
                } else {
                    0
                }
            }
        };
        let start = sector as usize * SECTOR;
        image[start..start + keep].copy_from_slice(&data[..keep]);
    }
    image
}

/// One `MemDevice` opened by two engines at once (an old and a new
/// device-mapper table over the same spare).
#[derive(Clone)]
pub struct SharedDevice(pub std::rc::Rc<std::cell::RefCell<MemDevice>>);

impl MetaDevice for SharedDevice {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.borrow_mut().read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.borrow_mut().write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.borrow_mut().flush()
    }
}

/// Caller memory for one engine.
pub struct Memory {
    pub table: Vec<AtomicU64>,
    pub bitmaps: Vec<u64>,
    pub buffer: Vec<u8>,
}

impl Memory {
    pub fn new(req: MemoryRequirements) -> Self {
        Memory {
            table: (0..req.table_words).map(|_| AtomicU64::new(0)).collect(),
            bitmaps: vec![0; req.bitmap_words],
            buffer: vec![0; req.buffer_bytes],
        }
    }

    pub fn engine_memory(&mut self) -> EngineMemory<BorrowedStorage<'_>> {
        EngineMemory::borrowed(&self.table, &mut self.bitmaps, &mut self.buffer)
    }

    /// Formats `device` for a main device of `main_sectors` with 16 log
    /// blocks and the test config: the common start of most tests.
    pub fn format_engine<D: MetaDevice>(
        &mut self,
        device: D,
        main_sectors: u64,
        spare_sectors: u64,
    ) -> Engine<BorrowedStorage<'_>, D> {
        Engine::format(
            device,
            self.engine_memory(),
            binding(main_sectors),
            spare_sectors,
            params(16),
            config(),
        )
        .unwrap()
    }

    /// Opens `device` as the same main/spare pair, with the test config.
    pub fn open_engine<D: MetaDevice>(
        &mut self,
        device: D,
        main_sectors: u64,
        spare_sectors: u64,
    ) -> Engine<BorrowedStorage<'_>, D> {
        Engine::open(
            device,
            self.engine_memory(),
            &expected(main_sectors, spare_sectors),
            config(),
        )
        .unwrap()
    }

    /// The engine memory plus a reader's own view of the same table words
    /// (as the kernel's map path keeps one), usable while the engine runs.
    pub fn engine_memory_and_view(
        &mut self,
    ) -> (EngineMemory<BorrowedStorage<'_>>, RemapTable<'_>) {
        let view = RemapTable::view(&self.table).expect("sized by MemoryRequirements");
        (
            EngineMemory::borrowed(&self.table, &mut self.bitmaps, &mut self.buffer),
            view,
        )
    }
}

/// The persistent state: entries (BUSY stripped, busy-only dropped), bad
/// spares and scanner cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub entries: BTreeMap<u64, (u8, Option<u64>)>,
    pub bad: BTreeSet<u64>,
    pub cursor: u64,
}

impl State {
    pub fn check_invariants(&self) {
        let mut spares = BTreeSet::new();
        for (block, (_, spare)) in &self.entries {
            if let Some(spare) = spare {
                assert!(
                    spares.insert(*spare),
                    "spare {spare} used twice (block {block})"
                );
            }
        }
    }
}

pub fn engine_state<S: Storage, D: MetaDevice>(engine: &Engine<S, D>) -> State {
    let mut state = State::default();
    for (block, entry) in engine.entries() {
        if let Some(entry) = persistent_entry(entry) {
            state.entries.insert(block, (entry.flags(), entry.spare()));
        }
    }
    for spare in 0..engine.spares().blocks() {
        if engine.spares().is_bad(spare) {
            state.bad.insert(spare);
        }
    }
    state.cursor = engine.status().scanner_cursor;
    state
}

/// Read-only recovery of `image` into fresh memory.
pub fn recover_image(
    image: &[u8],
    expected: &Expected,
) -> Result<(State, Superblock, Loaded), MetaError> {
    let mut device = MemDevice::from_image(image.to_vec());
    let mut block = [0u8; 4096];
    let superblock = probe(&mut device, &mut block, expected)?;
    let req = MemoryRequirements::for_layout(&superblock.layout);
    let mut memory = Memory::new(req);
    let table = RemapTable::new(&memory.table).unwrap();
    let mut writer = table.writer().unwrap();
    let mut spares =
        SpareAllocator::new(&mut memory.bitmaps, superblock.layout.data_blocks).unwrap();
    let loaded = load(
        &mut device,
        &mut block,
        &superblock,
        &mut writer,
        &mut spares,
    )?;
    let mut state = State::default();
    for (block, entry) in writer.iter() {
        state.entries.insert(block, (entry.flags(), entry.spare()));
    }
    for spare in 0..spares.blocks() {
        if spares.is_bad(spare) {
            state.bad.insert(spare);
        }
    }
    state.cursor = loaded.scanner_cursor;
    Ok((state, superblock, loaded))
}

pub fn binding(main_sectors: u64) -> DeviceBinding {
    DeviceBinding {
        main_uuid: *b"main-uuid-000001",
        spare_uuid: *b"spare-uuid-00001",
        main_sectors,
        spare_offset: 0,
    }
}

pub fn expected(main_sectors: u64, spare_sectors: u64) -> Expected {
    Expected {
        main_sectors: Some(main_sectors),
        spare_offset: Some(0),
        spare_sectors,
        main_uuid: Some(*b"main-uuid-000001"),
        spare_uuid: Some(*b"spare-uuid-00001"),
    }
}

pub fn params(log_blocks: u32) -> FormatParams {
    FormatParams {
        block_size: 4096,
        log_blocks,
    }
}

pub fn config() -> Config {
    Config {
        scan_rate: 1000,
        scan_burst: 1000,
        scan_checkpoint_blocks: 1,
        ..Config::default()
    }
}
