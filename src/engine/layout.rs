//! Where everything lives in the spare region, computed from its length.
//!
//! ```text
//! sector 0        superblock slot A (one 4 KiB block)
//! sector 8        superblock slot B
//! sector 16       log area: `log_blocks` blocks
//! data_start      spare data blocks (aligned to the remap block size)
//! ...             (alignment gap)
//! snapshot A      `snapshot_blocks` blocks
//! snapshot B      `snapshot_blocks` blocks, ending at or just before spare_sectors
//! ```
//!
//! The snapshot areas sit at the *end* so that growing the spare region
//! (reloading with a larger `spare_sectors`) never moves a data block: the
//! data area keeps its start, the new snapshot areas go into the new tail
//! and the old snapshot areas become ordinary data blocks.

use super::block::{META_BLOCK_SECTORS, RECORDS_PER_BLOCK, WORDS_PER_BLOCK};
use super::policy::MetaArea;

/// Smallest remap block size in bytes.
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest remap block size in bytes.
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Fewest log blocks a layout may have.
pub const MIN_LOG_BLOCKS: u32 = 2;
/// Most log blocks a layout may have.
pub const MAX_LOG_BLOCKS: u32 = 1 << 16;
/// Most spare data blocks (spare indexes are stored in 56 bits; the table
/// and bitmaps must also stay addressable on 32-bit hosts' `usize`).
pub const MAX_SPARE_BLOCKS: u64 = 1 << 40;
/// Sector of superblock slot A and B.
pub const SUPERBLOCK_SECTORS: [u64; 2] = [0, META_BLOCK_SECTORS];
/// First sector of the log area.
pub const LOG_START: u64 = 2 * META_BLOCK_SECTORS;

/// Why a layout cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// Block size not a power of two in 512..=1 MiB.
    BadBlockSize,
    /// Log block count outside 2..=65536.
    BadLogBlocks,
    /// Spare region too small for metadata and at least one data block.
    SpareTooSmall,
    /// Spare region holds more data blocks than the engine supports.
    SpareTooLarge,
    /// The spare region is smaller than the one recorded (shrinking is not
    /// supported: it would drop spare blocks that may hold data).
    SpareShrunk,
}

impl LayoutError {
    /// Human-readable reason, naming the parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            LayoutError::BadBlockSize => {
                "layout: block_size must be a power of two between 512 and 1048576"
            }
            LayoutError::BadLogBlocks => "layout: log_blocks must be between 2 and 65536",
            LayoutError::SpareTooSmall => {
                "layout: spare_sectors too small for metadata and one data block"
            }
            LayoutError::SpareTooLarge => "layout: spare_sectors holds too many data blocks",
            LayoutError::SpareShrunk => {
                "layout: spare_sectors is smaller than recorded (shrinking unsupported)"
            }
        }
    }
}

/// Parameters chosen once at format time and kept for the life of the
/// metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatParams {
    /// Remap block size in bytes (the kernel exports it as logical block
    /// size, so every bio covers whole remap blocks).
    pub block_size: u32,
    /// Number of 4 KiB log blocks between snapshots.
    pub log_blocks: u32,
}

impl FormatParams {
    /// Default block size: 4 KiB, the common physical sector size.
    pub const DEFAULT_BLOCK_SIZE: u32 = 4096;

    /// Defaults for a spare region of `spare_sectors`: 4 KiB blocks and a
    /// log of about 1/64 of the region, between 16 and 1024 blocks, so a
    /// snapshot (O(table)) is amortised over many O(1) commits.
    pub fn defaults_for(spare_sectors: u64) -> Self {
        let log = (spare_sectors / META_BLOCK_SECTORS / 64).clamp(16, 1024);
        FormatParams {
            block_size: Self::DEFAULT_BLOCK_SIZE,
            log_blocks: log as u32,
        }
    }
}

/// Identity of the device pair the metadata belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceBinding {
    /// UUID of the main device, chosen by the formatter.
    pub main_uuid: [u8; 16],
    /// UUID of the spare region, chosen by the formatter.
    pub spare_uuid: [u8; 16],
    /// Size of the main device in sectors.
    pub main_sectors: u64,
    /// Offset of the spare region on the spare device, in sectors.
    pub spare_offset: u64,
}

/// What the caller knows about the devices when loading metadata; every
/// `Some` field must match the superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Main device size in sectors.
    pub main_sectors: Option<u64>,
    /// Spare region offset in sectors.
    pub spare_offset: Option<u64>,
    /// Length of the spare region available now, in sectors. The recorded
    /// length must not exceed it; if it is larger, the region grows.
    pub spare_sectors: u64,
    /// Expected main device UUID.
    pub main_uuid: Option<[u8; 16]>,
    /// Expected spare UUID.
    pub spare_uuid: Option<[u8; 16]>,
}

/// Most table entries a layout with `data_blocks` spare blocks holds: one
/// per spare block (remapped) plus room for pending blocks that have no
/// spare yet (a quarter of the pool, at least 64).
pub fn max_entries_for(data_blocks: u64) -> u64 {
    data_blocks
        .saturating_add(data_blocks / 4)
        .saturating_add(64)
}

/// u64 words of one bitmap over `blocks` spare blocks.
pub fn bitmap_words_for(blocks: u64) -> u64 {
    blocks.div_ceil(64)
}

/// Metadata blocks of one snapshot for `data_blocks` spare blocks: an info
/// block, the entry blocks and the bad-spare bitmap blocks.
pub fn snapshot_blocks_for(data_blocks: u64) -> u64 {
    let entry_blocks = max_entries_for(data_blocks).div_ceil(RECORDS_PER_BLOCK as u64);
    let bitmap_blocks = bitmap_words_for(data_blocks).div_ceil(WORDS_PER_BLOCK as u64);
    1 + entry_blocks + bitmap_blocks
}

/// The regions of one spare region. All positions are sectors relative to
/// the start of the spare region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Length of the spare region in use.
    pub spare_sectors: u64,
    /// Remap block size in bytes.
    pub block_size: u32,
    /// Remap block size in sectors.
    pub block_sectors: u64,
    /// Number of log blocks.
    pub log_blocks: u32,
    /// First sector of the log area.
    pub log_start: u64,
    /// First sector of spare data block 0.
    pub data_start: u64,
    /// Number of spare data blocks.
    pub data_blocks: u64,
    /// Blocks in each snapshot area.
    pub snapshot_blocks: u64,
    /// First sector of snapshot area A and B.
    pub snapshot_start: [u64; 2],
    /// Capacity of the remap table in entries.
    pub max_entries: u64,
}

impl Layout {
    /// Computes the layout of a spare region of `spare_sectors` sectors.
    pub fn compute(spare_sectors: u64, params: FormatParams) -> Result<Layout, LayoutError> {
        let block_size = params.block_size;
        if !block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size)
        {
            return Err(LayoutError::BadBlockSize);
        }
        if !(MIN_LOG_BLOCKS..=MAX_LOG_BLOCKS).contains(&params.log_blocks) {
            return Err(LayoutError::BadLogBlocks);
        }
        let block_sectors = u64::from(block_size / 512);
        let log_end = LOG_START + u64::from(params.log_blocks) * META_BLOCK_SECTORS;
        let data_start = log_end.div_ceil(block_sectors) * block_sectors;
        let room = spare_sectors
            .checked_sub(data_start)
            .ok_or(LayoutError::SpareTooSmall)?;
        // Size the snapshots for the most data blocks the room could hold;
        // the real count is a little lower, so they are never too small.
        let bound = room / block_sectors;
        if bound > MAX_SPARE_BLOCKS {
            return Err(LayoutError::SpareTooLarge);
        }
        let snapshot_blocks = snapshot_blocks_for(bound);
        let snapshot_sectors = snapshot_blocks * META_BLOCK_SECTORS;
        let tail = spare_sectors
            .checked_sub(snapshot_sectors)
            .ok_or(LayoutError::SpareTooSmall)?;
        let snapshot_b = tail / META_BLOCK_SECTORS * META_BLOCK_SECTORS;
        let snapshot_a = snapshot_b
            .checked_sub(snapshot_sectors)
            .ok_or(LayoutError::SpareTooSmall)?;
        let data_blocks = snapshot_a.saturating_sub(data_start) / block_sectors;
        if data_blocks == 0 {
            return Err(LayoutError::SpareTooSmall);
        }
        Ok(Layout {
            spare_sectors,
            block_size,
            block_sectors,
            log_blocks: params.log_blocks,
            log_start: LOG_START,
            data_start,
            data_blocks,
            snapshot_blocks,
            snapshot_start: [snapshot_a, snapshot_b],
            max_entries: max_entries_for(data_blocks),
        })
    }

    /// The format parameters this layout was computed from.
    pub fn params(&self) -> FormatParams {
        FormatParams {
            block_size: self.block_size,
            log_blocks: self.log_blocks,
        }
    }

    /// The layout to use when the region is now `available` sectors long.
    ///
    /// The region grows only when the new tail can hold both new snapshot
    /// areas without touching anything in use (the current snapshot areas
    /// and data blocks); otherwise the layout stays as it is and the extra
    /// sectors stay unused until a larger growth.
    pub fn grow(&self, available: u64) -> Result<Layout, LayoutError> {
        if available < self.spare_sectors {
            return Err(LayoutError::SpareShrunk);
        }
        if available == self.spare_sectors {
            return Ok(*self);
        }
        match Layout::compute(available, self.params()) {
            Ok(grown)
                if grown.snapshot_start[0] >= self.spare_sectors
                    && grown.data_start == self.data_start
                    && grown.data_blocks >= self.data_blocks =>
            {
                Ok(grown)
            }
            _ => Ok(*self),
        }
    }

    /// Sector of superblock slot `slot` (0 = A, 1 = B).
    pub fn superblock_sector(slot: usize) -> u64 {
        SUPERBLOCK_SECTORS.get(slot).copied().unwrap_or(0)
    }

    /// The metadata footprint: every area the metadata of this layout
    /// occupies, as (area, first sector, sectors), in disk order. The
    /// spare data blocks and the alignment gaps are not part of it.
    pub fn metadata_areas(&self) -> [(MetaArea, u64, u64); 5] {
        let snapshot_sectors = self.snapshot_blocks.saturating_mul(META_BLOCK_SECTORS);
        [
            (
                MetaArea::SuperblockA,
                SUPERBLOCK_SECTORS[0],
                META_BLOCK_SECTORS,
            ),
            (
                MetaArea::SuperblockB,
                SUPERBLOCK_SECTORS[1],
                META_BLOCK_SECTORS,
            ),
            (
                MetaArea::Log,
                self.log_start,
                u64::from(self.log_blocks).saturating_mul(META_BLOCK_SECTORS),
            ),
            (
                MetaArea::SnapshotA,
                self.snapshot_start[0],
                snapshot_sectors,
            ),
            (
                MetaArea::SnapshotB,
                self.snapshot_start[1],
                snapshot_sectors,
            ),
        ]
    }

    /// Sector of log block `index`, if it exists.
    pub fn log_block_sector(&self, index: u64) -> Option<u64> {
        if index < u64::from(self.log_blocks) {
            Some(
                self.log_start
                    .saturating_add(index.saturating_mul(META_BLOCK_SECTORS)),
            )
        } else {
            None
        }
    }

    /// Sector of block `index` of snapshot area `area` (0 = A, 1 = B).
    pub fn snapshot_block_sector(&self, area: usize, index: u64) -> Option<u64> {
        let start = self.snapshot_start.get(area)?;
        if index < self.snapshot_blocks {
            Some(start.saturating_add(index.saturating_mul(META_BLOCK_SECTORS)))
        } else {
            None
        }
    }

    /// First sector of spare data block `index`, if it exists.
    pub fn spare_block_sector(&self, index: u64) -> Option<u64> {
        if index < self.data_blocks {
            Some(
                self.data_start
                    .saturating_add(index.saturating_mul(self.block_sectors)),
            )
        } else {
            None
        }
    }

    /// Number of whole remap blocks on a main device of `main_sectors`.
    pub fn main_blocks(&self, main_sectors: u64) -> u64 {
        main_sectors.checked_div(self.block_sectors).unwrap_or(0)
    }

    /// End (exclusive) of the spare data area.
    pub fn data_end(&self) -> u64 {
        self.data_start
            .saturating_add(self.data_blocks.saturating_mul(self.block_sectors))
    }

    /// True if every region lies inside the spare region and no two
    /// regions overlap. [`Layout::compute`] guarantees it; the decoder also
    /// checks it on layouts read from disk.
    pub fn is_consistent(&self) -> bool {
        let meta = META_BLOCK_SECTORS;
        let log_end = self
            .log_start
            .saturating_add(u64::from(self.log_blocks).saturating_mul(meta));
        let data_end = self
            .data_start
            .saturating_add(self.data_blocks.saturating_mul(self.block_sectors));
        let snapshot_len = self.snapshot_blocks.saturating_mul(meta);
        let [a, b] = self.snapshot_start;
        self.log_start >= 2 * meta
            && log_end <= self.data_start
            && self.data_blocks > 0
            && data_end <= a
            && a.saturating_add(snapshot_len) <= b
            && b.saturating_add(snapshot_len) <= self.spare_sectors
            && self.snapshot_blocks >= snapshot_blocks_for(self.data_blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(block_size: u32, log_blocks: u32) -> FormatParams {
        FormatParams {
            block_size,
            log_blocks,
        }
    }

    #[test]
    fn small_layout_regions_do_not_overlap() {
        let layout = Layout::compute(16384, params(4096, 16)).unwrap();
        assert!(layout.is_consistent());
        assert_eq!(layout.log_start, 16);
        assert_eq!(layout.data_start, 16 + 16 * 8);
        assert!(layout.data_end() <= layout.snapshot_start[0]);
        assert!(layout.snapshot_start[1] + layout.snapshot_blocks * 8 <= 16384);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(
            Layout::compute(1 << 20, params(1000, 16)),
            Err(LayoutError::BadBlockSize)
        );
        assert_eq!(
            Layout::compute(1 << 20, params(4096, 1)),
            Err(LayoutError::BadLogBlocks)
        );
        assert_eq!(
            Layout::compute(100, params(4096, 16)),
            Err(LayoutError::SpareTooSmall)
        );
        assert_eq!(
            Layout::compute(u64::MAX, params(512, 16)),
            Err(LayoutError::SpareTooLarge)
        );
    }

    #[test]
    fn exhaustive_small_sizes_are_consistent() {
        for block_size in [512u32, 4096, 65536] {
            for log_blocks in [2u32, 3, 16] {
                for spare in 0..4000u64 {
                    if let Ok(layout) = Layout::compute(spare * 7, params(block_size, log_blocks)) {
                        assert!(layout.is_consistent(), "{layout:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn growth_keeps_data_blocks_in_place() {
        let small = Layout::compute(20000, params(4096, 16)).unwrap();
        let big = small.grow(200000).unwrap();
        assert_eq!(big.data_start, small.data_start);
        assert!(big.data_blocks > small.data_blocks);
        assert!(big.snapshot_start[0] >= small.spare_sectors);
        // A growth too small to relocate the snapshots keeps the layout.
        assert_eq!(small.grow(20008).unwrap(), small);
        assert_eq!(small.grow(100), Err(LayoutError::SpareShrunk));
    }
}
