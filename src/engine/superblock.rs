//! Superblock encoding, decoding and slot probing.
//!
//! Two slots (A at sector 0, B at sector 8) are written alternately:
//! generation `g` always lives in slot `g % 2` and its snapshot in snapshot
//! area `g % 2`, so writing generation `g + 1` never touches the blocks
//! generation `g` depends on. Byte layout: `docs/metadata-format.md`.

use super::block::{
    check_frame, get_bytes16, get_u32, get_u64, is_zero, put_bytes16, put_u32, put_u64, seal,
    start_block, MetaBlock, MAGIC_SUPERBLOCK, OFF_CHECKSUM, OFF_FLAGS, OFF_GENERATION,
};
use super::device::MetaDevice;
use super::error::{MetaError, SuperblockFault, SuperblockSlot};
use super::layout::{DeviceBinding, FormatParams, Layout};
use super::snapshot::used_blocks_for;

/// Offset of the main device UUID (16 bytes).
pub const OFF_MAIN_UUID: usize = 0x20;
/// Offset of the spare device UUID (16 bytes).
pub const OFF_SPARE_UUID: usize = 0x30;
/// Offset of u64 main_sectors.
pub const OFF_MAIN_SECTORS: usize = 0x40;
/// Offset of u64 spare_offset.
pub const OFF_SPARE_OFFSET: usize = 0x48;
/// Offset of u64 spare_sectors.
pub const OFF_SPARE_SECTORS: usize = 0x50;
/// Offset of u32 block_size.
pub const OFF_BLOCK_SIZE: usize = 0x58;
/// Offset of u32 log_blocks.
pub const OFF_LOG_BLOCKS: usize = 0x5C;
/// Offset of u64 log_start.
pub const OFF_LOG_START: usize = 0x60;
/// Offset of u64 data_start.
pub const OFF_DATA_START: usize = 0x68;
/// Offset of u64 data_blocks.
pub const OFF_DATA_BLOCKS: usize = 0x70;
/// Offset of u64 snapshot_blocks.
pub const OFF_SNAPSHOT_BLOCKS: usize = 0x78;
/// Offset of u64 snapshot_a_start.
pub const OFF_SNAPSHOT_A_START: usize = 0x80;
/// Offset of u64 snapshot_b_start.
pub const OFF_SNAPSHOT_B_START: usize = 0x88;
/// Offset of u64 max_entries.
pub const OFF_MAX_ENTRIES: usize = 0x90;
/// Offset of u64 snapshot_used_blocks.
pub const OFF_SNAPSHOT_USED_BLOCKS: usize = 0x98;
/// Offset of u64 snapshot_entries.
pub const OFF_SNAPSHOT_ENTRIES: usize = 0xA0;
/// Offset of u32 snapshot_checksum.
pub const OFF_SNAPSHOT_CHECKSUM: usize = 0xA8;
/// First reserved byte (zero up to the block checksum).
pub const OFF_RESERVED: usize = 0xAC;

/// A decoded superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Generation: grows by one with every snapshot, never reused.
    pub generation: u64,
    /// The device pair this metadata belongs to.
    pub binding: DeviceBinding,
    /// The layout in force for this generation.
    pub layout: Layout,
    /// Blocks of the snapshot area written for this generation.
    pub snapshot_used_blocks: u64,
    /// Remap entries in the snapshot.
    pub snapshot_entries: u64,
    /// CRC32C over the checksums of the snapshot blocks, in order.
    pub snapshot_checksum: u32,
}

impl Superblock {
    /// The slot this generation is written to.
    pub fn slot(&self) -> SuperblockSlot {
        SuperblockSlot::for_generation(self.generation)
    }

    /// The snapshot area (0 = A, 1 = B) this generation's snapshot is in.
    pub fn snapshot_area(&self) -> usize {
        self.slot().index()
    }

    /// Encodes into `block`, checksum included.
    pub fn encode(&self, block: &mut MetaBlock) {
        let layout = &self.layout;
        start_block(
            block,
            MAGIC_SUPERBLOCK,
            0,
            Layout::superblock_sector(self.slot().index()),
            self.generation,
        );
        put_bytes16(block, OFF_MAIN_UUID, &self.binding.main_uuid);
        put_bytes16(block, OFF_SPARE_UUID, &self.binding.spare_uuid);
        put_u64(block, OFF_MAIN_SECTORS, self.binding.main_sectors);
        put_u64(block, OFF_SPARE_OFFSET, self.binding.spare_offset);
        put_u64(block, OFF_SPARE_SECTORS, layout.spare_sectors);
        put_u32(block, OFF_BLOCK_SIZE, layout.block_size);
        put_u32(block, OFF_LOG_BLOCKS, layout.log_blocks);
        put_u64(block, OFF_LOG_START, layout.log_start);
        put_u64(block, OFF_DATA_START, layout.data_start);
        put_u64(block, OFF_DATA_BLOCKS, layout.data_blocks);
        put_u64(block, OFF_SNAPSHOT_BLOCKS, layout.snapshot_blocks);
        put_u64(block, OFF_SNAPSHOT_A_START, layout.snapshot_start[0]);
        put_u64(block, OFF_SNAPSHOT_B_START, layout.snapshot_start[1]);
        put_u64(block, OFF_MAX_ENTRIES, layout.max_entries);
        put_u64(block, OFF_SNAPSHOT_USED_BLOCKS, self.snapshot_used_blocks);
        put_u64(block, OFF_SNAPSHOT_ENTRIES, self.snapshot_entries);
        put_u32(block, OFF_SNAPSHOT_CHECKSUM, self.snapshot_checksum);
        seal(block);
    }

    /// Decodes and validates the block read from `slot`.
    pub fn decode(block: &MetaBlock, slot: SuperblockSlot) -> Result<Superblock, SuperblockFault> {
        check_frame(
            block,
            MAGIC_SUPERBLOCK,
            Layout::superblock_sector(slot.index()),
        )?;
        if get_u32(block, OFF_FLAGS) != 0 {
            return Err(SuperblockFault::UnknownFlags);
        }
        let generation = get_u64(block, OFF_GENERATION);
        if SuperblockSlot::for_generation(generation) != slot {
            return Err(SuperblockFault::GenerationSlot);
        }
        if block
            .get(OFF_RESERVED..OFF_CHECKSUM)
            .is_some_and(|reserved| reserved.iter().any(|&byte| byte != 0))
        {
            return Err(SuperblockFault::ReservedNotZero);
        }
        let params = FormatParams {
            block_size: get_u32(block, OFF_BLOCK_SIZE),
            log_blocks: get_u32(block, OFF_LOG_BLOCKS),
        };
        let spare_sectors = get_u64(block, OFF_SPARE_SECTORS);
        let layout = match Layout::compute(spare_sectors, params) {
            Ok(layout) => layout,
            Err(super::layout::LayoutError::BadBlockSize) => {
                return Err(SuperblockFault::BadBlockSize)
            }
            Err(super::layout::LayoutError::BadLogBlocks) => {
                return Err(SuperblockFault::BadLogBlocks)
            }
            Err(_) => return Err(SuperblockFault::SpareSectors),
        };
        // The derived fields are stored for tools and humans; they must
        // agree with the layout the engine computes.
        let checks = [
            (OFF_LOG_START, layout.log_start, SuperblockFault::LogStart),
            (
                OFF_DATA_START,
                layout.data_start,
                SuperblockFault::DataStart,
            ),
            (
                OFF_DATA_BLOCKS,
                layout.data_blocks,
                SuperblockFault::DataBlocks,
            ),
            (
                OFF_SNAPSHOT_BLOCKS,
                layout.snapshot_blocks,
                SuperblockFault::SnapshotBlocks,
            ),
            (
                OFF_SNAPSHOT_A_START,
                layout.snapshot_start[0],
                SuperblockFault::SnapshotAStart,
            ),
            (
                OFF_SNAPSHOT_B_START,
                layout.snapshot_start[1],
                SuperblockFault::SnapshotBStart,
            ),
            (
                OFF_MAX_ENTRIES,
                layout.max_entries,
                SuperblockFault::MaxEntries,
            ),
        ];
        let mut first_mismatch = None;
        let mut mismatches = 0;
        for (offset, expected, fault) in checks {
            if get_u64(block, offset) != expected {
                mismatches += 1;
                first_mismatch = first_mismatch.or(Some(fault));
            }
        }
        // One damaged derived field names itself; several at once (the
        // snapshot positions among them) mean spare_sectors itself changed.
        if mismatches > 1 && get_u64(block, OFF_SNAPSHOT_B_START) != layout.snapshot_start[1] {
            return Err(SuperblockFault::SpareSectors);
        }
        if let Some(fault) = first_mismatch {
            return Err(fault);
        }
        let snapshot_used_blocks = get_u64(block, OFF_SNAPSHOT_USED_BLOCKS);
        if snapshot_used_blocks == 0 || snapshot_used_blocks > layout.snapshot_blocks {
            return Err(SuperblockFault::SnapshotUsedBlocks);
        }
        let snapshot_entries = get_u64(block, OFF_SNAPSHOT_ENTRIES);
        if snapshot_entries > layout.max_entries {
            return Err(SuperblockFault::SnapshotEntries);
        }
        if snapshot_used_blocks != used_blocks_for(snapshot_entries, layout.data_blocks) {
            return Err(SuperblockFault::SnapshotUsedBlocks);
        }
        Ok(Superblock {
            generation,
            binding: DeviceBinding {
                main_uuid: get_bytes16(block, OFF_MAIN_UUID),
                spare_uuid: get_bytes16(block, OFF_SPARE_UUID),
                main_sectors: get_u64(block, OFF_MAIN_SECTORS),
                spare_offset: get_u64(block, OFF_SPARE_OFFSET),
            },
            layout,
            snapshot_used_blocks,
            snapshot_entries,
            snapshot_checksum: get_u32(block, OFF_SNAPSHOT_CHECKSUM),
        })
    }
}

/// What one superblock slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// All zero: never written.
    Blank,
    /// Not zero and no dm-remap magic.
    Foreign,
    /// A valid superblock.
    Valid(Superblock),
    /// Carries the dm-remap magic but was rejected.
    Invalid(SuperblockFault),
}

/// Reads and classifies one slot, using `block` as the read buffer.
pub fn read_slot<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
    slot: SuperblockSlot,
) -> Result<SlotState, MetaError> {
    device.read(Layout::superblock_sector(slot.index()), block)?;
    Ok(classify_slot(block, slot))
}

/// Classifies the contents of one slot.
pub fn classify_slot(block: &MetaBlock, slot: SuperblockSlot) -> SlotState {
    if is_zero(block) {
        return SlotState::Blank;
    }
    match Superblock::decode(block, slot) {
        Ok(superblock) => SlotState::Valid(superblock),
        Err(SuperblockFault::BadMagic) => SlotState::Foreign,
        Err(fault) => SlotState::Invalid(fault),
    }
}
