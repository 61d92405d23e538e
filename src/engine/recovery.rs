//! Recovery: find the newest complete state on the spare region and load
//! it into caller memory. Read-only; used by `Engine::open` and by tools.
//!
//! 1. Read both superblock slots. Both all-zero → blank. Neither valid →
//!    the first rejection (or "foreign data" if neither carries our magic).
//!    Otherwise take the valid slot with the highest generation and check
//!    it belongs to the device pair the caller expects.
//! 2. Load that generation's snapshot; every block must be valid.
//! 3. Replay the log: blocks at positions 0, 1, ... that are valid *for
//!    this generation*, grouped into commits; only commits whose
//!    `COMMIT_END` block is present are applied. The first invalid block
//!    ends the log (a torn or unflushed write, or a stale block from an
//!    older generation) — unless the log proves that committed state lies
//!    beyond it: a later `COMMIT_END` block of this generation (the block
//!    was damaged in place; a crash only loses the tail) or a sound block
//!    of a newer generation (the newest superblock is damaged). Loading
//!    would then silently drop acknowledged remaps, so it is refused.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::AtomicU64;

use super::allocator::SpareAllocator;
use super::block::{as_block_mut, MetaBlock, META_BLOCK_BYTES, META_BLOCK_SECTORS, SECTOR_BYTES};
use super::device::MetaDevice;
use super::error::{LogFault, MetaError, SuperblockSlot};
use super::layout::{Expected, Layout};
use super::log::{decode_log_header, get_record, newer_generation, Record};
use super::policy::MetaArea;
use super::snapshot::{format_residue, load_snapshot};
use super::store::LogPosition;
use super::superblock::{read_slot, SlotState, Superblock};
use super::table::{TableError, TableWriter};

/// Both slots as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    /// Slot A.
    pub a: SlotState,
    /// Slot B.
    pub b: SlotState,
}

/// Reads both superblock slots.
pub fn read_slots<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
) -> Result<Slots, MetaError> {
    Ok(Slots {
        a: read_slot(device, block, SuperblockSlot::A)?,
        b: read_slot(device, block, SuperblockSlot::B)?,
    })
}

/// Picks the newest valid superblock, or says why there is none.
pub fn choose_superblock(slots: &Slots) -> Result<Superblock, MetaError> {
    match (slots.a, slots.b) {
        (SlotState::Valid(a), SlotState::Valid(b)) => {
            Ok(if b.generation > a.generation { b } else { a })
        }
        (SlotState::Valid(a), _) => Ok(a),
        (_, SlotState::Valid(b)) => Ok(b),
        (SlotState::Blank, SlotState::Blank) => Err(MetaError::Blank),
        (SlotState::Invalid(fault), _) => Err(MetaError::Superblock {
            slot: SuperblockSlot::A,
            fault,
        }),
        (_, SlotState::Invalid(fault)) => Err(MetaError::Superblock {
            slot: SuperblockSlot::B,
            fault,
        }),
        _ => Err(MetaError::ForeignData),
    }
}

/// Checks that `superblock` belongs to the devices described by `expected`.
pub fn check_binding(superblock: &Superblock, expected: &Expected) -> Result<(), MetaError> {
    let binding = &superblock.binding;
    if expected
        .main_uuid
        .is_some_and(|uuid| uuid != binding.main_uuid)
    {
        return Err(MetaError::MainUuidMismatch);
    }
    if expected
        .spare_uuid
        .is_some_and(|uuid| uuid != binding.spare_uuid)
    {
        return Err(MetaError::SpareUuidMismatch);
    }
    if expected
        .main_sectors
        .is_some_and(|sectors| sectors != binding.main_sectors)
    {
        return Err(MetaError::MainSizeMismatch);
    }
    if expected
        .spare_offset
        .is_some_and(|offset| offset != binding.spare_offset)
    {
        return Err(MetaError::SpareOffsetMismatch);
    }
    if superblock.layout.spare_sectors > expected.spare_sectors {
        return Err(MetaError::SpareRegionShrunk);
    }
    Ok(())
}

/// Step 1: the superblock to load, checked against `expected`.
pub fn probe<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
    expected: &Expected,
) -> Result<Superblock, MetaError> {
    let slots = read_slots(device, block)?;
    let superblock = choose_superblock(&slots)?;
    check_binding(&superblock, expected)?;
    Ok(superblock)
}

/// The first sector of `layout`'s metadata footprint (both superblock
/// slots, the log, both snapshot areas) that holds a non-zero byte, and the
/// area it lies in; `None` if the whole footprint reads as zero, or holds
/// nothing but the empty snapshot a format interrupted before its
/// superblock left in area A.
///
/// Reads in chunks of `buffer` (its length rounded down to whole metadata
/// blocks, at least one block): the footprint of a large region is far
/// bigger than any buffer the caller should need, and the kernel calls
/// this from the table constructor.
pub fn first_nonzero_metadata<D: MetaDevice + ?Sized>(
    device: &mut D,
    buffer: &mut [u8],
    layout: &Layout,
) -> Result<Option<(u64, MetaArea)>, MetaError> {
    let chunk_bytes = buffer.len() / META_BLOCK_BYTES * META_BLOCK_BYTES;
    if chunk_bytes == 0 {
        return Err(MetaError::BufferTooSmall);
    }
    let chunk_sectors = chunk_bytes as u64 / SECTOR_BYTES;
    for (area, start, sectors) in layout.metadata_areas() {
        let end = start.saturating_add(sectors);
        let mut sector = start;
        // What a format interrupted before its superblock left in area A
        // (see `format_residue`) counts as blank: it holds no remap.  Only
        // looked at when area A does not start with zeros.
        let mut residue_checked = area != MetaArea::SnapshotA;
        while sector < end {
            let count = chunk_sectors.min(end - sector);
            // `count <= chunk_sectors`, so this fits in the buffer.
            let Some(chunk) = buffer.get_mut(..(count * SECTOR_BYTES) as usize) else {
                return Err(MetaError::BufferTooSmall);
            };
            device.read(sector, chunk)?;
            if let Some(offset) = chunk.iter().position(|&byte| byte != 0) {
                if !residue_checked {
                    residue_checked = true;
                    let block = as_block_mut(buffer).ok_or(MetaError::BufferTooSmall)?;
                    if let Some(blocks) = format_residue(device, block, layout)? {
                        sector = start.saturating_add(blocks.saturating_mul(META_BLOCK_SECTORS));
                        continue;
                    }
                }
                return Ok(Some((sector + offset as u64 / SECTOR_BYTES, area)));
            }
            residue_checked = true;
            sector += count;
        }
    }
    Ok(None)
}

/// What loading found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Where the log continues.
    pub position: LogPosition,
    /// Scanner cursor.
    pub scanner_cursor: u64,
    /// The first log position holding no valid block of this generation,
    /// and why it was rejected (`None` if every log block was valid). A
    /// never-written block reports `BadMagic`, a block from an older
    /// generation `Generation`, a torn block `BadChecksum`.
    pub first_invalid: Option<(u64, LogFault)>,
    /// Valid blocks after the last complete commit that belong to a commit
    /// whose `COMMIT_END` block is missing (ignored; normal after a crash).
    pub incomplete_blocks: u64,
}

/// Steps 2 and 3: loads `superblock`'s snapshot and log into `table` and
/// `spares` (both cleared first).
pub fn load<D, T, B>(
    device: &mut D,
    block: &mut MetaBlock,
    superblock: &Superblock,
    table: &mut TableWriter<T>,
    spares: &mut SpareAllocator<B>,
) -> Result<Loaded, MetaError>
where
    D: MetaDevice + ?Sized,
    T: Deref<Target = [AtomicU64]>,
    B: DerefMut<Target = [u64]>,
{
    let layout = &superblock.layout;
    if spares.blocks() < layout.data_blocks {
        return Err(MetaError::BitmapMemoryTooSmall);
    }
    if table.table().capacity() < layout.max_entries {
        return Err(MetaError::TableMemoryTooSmall);
    }
    table.clear();
    table.set_limit(layout.max_entries);
    let main_blocks = layout.main_blocks(superblock.binding.main_sectors);
    let mut cursor = load_snapshot(device, block, superblock, main_blocks, table, spares)?;

    // Pass 1: find the end of the last complete commit.
    let mut next_commit = 0u64;
    let mut complete_end = 0u64;
    let mut position = 0u64;
    let mut first_invalid = None;
    while let Some(sector) = layout.log_block_sector(position) {
        device.read(sector, block)?;
        match decode_log_header(block, sector, position, superblock.generation) {
            Ok(header) => {
                if header.commit != next_commit {
                    return Err(MetaError::Log {
                        index: position,
                        sector,
                        fault: LogFault::CommitSequence,
                    });
                }
                position += 1;
                if header.commit_end {
                    next_commit += 1;
                    complete_end = position;
                }
            }
            Err(fault) => {
                if let Some(found) = newer_generation(block, sector, superblock.generation) {
                    return Err(MetaError::NewerGenerationLost {
                        index: position,
                        sector,
                        found,
                        chosen: superblock.generation,
                    });
                }
                first_invalid = Some((position, fault));
                break;
            }
        }
    }
    if let Some((end, fault)) = first_invalid {
        check_nothing_committed_after(device, block, superblock, end, fault)?;
    }

    // Pass 2: apply the complete commits.
    for index in 0..complete_end {
        let Some(sector) = layout.log_block_sector(index) else {
            break;
        };
        let fail = |fault| MetaError::Log {
            index,
            sector,
            fault,
        };
        device.read(sector, block)?;
        let header =
            decode_log_header(block, sector, index, superblock.generation).map_err(fail)?;
        for slot in 0..header.record_count {
            let record = get_record(block, slot).map_err(fail)?;
            apply(&record, superblock, main_blocks, table, spares, &mut cursor).map_err(fail)?;
        }
    }
    Ok(Loaded {
        position: LogPosition {
            next_block: complete_end,
            next_commit,
        },
        scanner_cursor: cursor,
        first_invalid,
        incomplete_blocks: position - complete_end,
    })
}

/// Applies one log record to the in-memory state.
pub fn apply<T, B>(
    record: &Record,
    superblock: &Superblock,
    main_blocks: u64,
    table: &mut TableWriter<T>,
    spares: &mut SpareAllocator<B>,
    cursor: &mut u64,
) -> Result<(), LogFault>
where
    T: Deref<Target = [AtomicU64]>,
    B: DerefMut<Target = [u64]>,
{
    let data_blocks = superblock.layout.data_blocks;
    match *record {
        Record::Entry { block, entry } => {
            if block >= main_blocks {
                return Err(LogFault::MainOutOfRange);
            }
            let old_spare = table.get(block).and_then(|old| old.spare());
            let new_spare = entry.spare();
            if let Some(spare) = new_spare {
                if spare >= data_blocks {
                    return Err(LogFault::SpareOutOfRange);
                }
            }
            if old_spare != new_spare {
                if let Some(spare) = new_spare {
                    spares
                        .mark_used(spare)
                        .map_err(|_| LogFault::SpareUsedTwice)?;
                }
            }
            if let Err(error) = table.set(block, entry) {
                if let Some(spare) = new_spare.filter(|&spare| Some(spare) != old_spare) {
                    spares.release(spare);
                }
                return Err(match error {
                    TableError::Full => LogFault::TableFull,
                    _ => LogFault::MainOutOfRange,
                });
            }
            if let Some(spare) = old_spare.filter(|&spare| Some(spare) != new_spare) {
                spares.release(spare);
            }
        }
        Record::Clear { block } => {
            if block >= main_blocks {
                return Err(LogFault::MainOutOfRange);
            }
            if let Some(spare) = table.remove(block).and_then(|old| old.spare()) {
                spares.release(spare);
            }
        }
        Record::SpareBad { spare } => {
            if spare >= data_blocks {
                return Err(LogFault::SpareOutOfRange);
            }
            spares
                .mark_bad(spare)
                .map_err(|_| LogFault::SpareOutOfRange)?;
        }
        Record::ScannerCursor { position } => {
            if position > main_blocks {
                return Err(LogFault::CursorOutOfRange);
            }
            *cursor = position;
        }
    }
    Ok(())
}

/// Refuses a log whose first invalid block `end` has a complete commit
/// after it. A commit's last block is written only after the blocks before
/// it are flushed, so a crash can leave stray blocks of the one unfinished
/// commit after a torn block, but never a `COMMIT_END`: finding one means
/// `end` was damaged in place and committed records would be lost.
fn check_nothing_committed_after<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
    superblock: &Superblock,
    end: u64,
    fault: LogFault,
) -> Result<(), MetaError> {
    let layout = &superblock.layout;
    let mut later = end + 1;
    while let Some(sector) = layout.log_block_sector(later) {
        device.read(sector, block)?;
        let header = decode_log_header(block, sector, later, superblock.generation);
        if header.is_ok_and(|header| header.commit_end) {
            return Err(MetaError::LogDamaged {
                index: end,
                sector: layout.log_block_sector(end).unwrap_or(0),
                fault,
            });
        }
        later += 1;
    }
    Ok(())
}
