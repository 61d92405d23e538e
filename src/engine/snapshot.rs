//! Snapshots: the whole persistent state, written into the snapshot area
//! of a new generation when the log is full (and at format and load time).
//!
//! A snapshot is block 0 (info), then the entry blocks, then the bad-spare
//! bitmap blocks. The superblock records how many blocks were written and a
//! CRC32C over their checksums, so a snapshot is only trusted whole.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::AtomicU64;

use super::allocator::SpareAllocator;
use super::block::{
    check_frame, get_u32, get_u64, put_u32, put_u64, record_offset, seal, start_block, word_offset,
    MetaBlock, MAGIC_SNAPSHOT, OFF_CHECKSUM, OFF_FLAGS, OFF_GENERATION, OFF_PAYLOAD,
    RECORDS_PER_BLOCK, WORDS_PER_BLOCK,
};
use super::crc32c::Crc32c;
use super::device::MetaDevice;
use super::error::{MetaError, SnapshotFault};
use super::layout::{bitmap_words_for, Layout};
use super::superblock::Superblock;
use super::table::{Entry, RemapTable, TableError, TableWriter};

/// Offset of the u64 block index inside the snapshot.
pub const OFF_SNAP_INDEX: usize = 0x20;
/// Offset of the u32 block kind.
pub const OFF_SNAP_KIND: usize = 0x28;
/// Offset of the u32 count of entries or words in the block.
pub const OFF_SNAP_COUNT: usize = 0x2C;
/// First reserved header byte (zero up to the payload).
pub const OFF_SNAP_RESERVED: usize = 0x30;
/// Info block: offset of u64 entry_count.
pub const OFF_INFO_ENTRY_COUNT: usize = 0x40;
/// Info block: offset of u64 data_blocks.
pub const OFF_INFO_DATA_BLOCKS: usize = 0x48;
/// Info block: offset of u64 scanner_cursor.
pub const OFF_INFO_SCANNER_CURSOR: usize = 0x50;
/// Info block: offset of u64 bitmap_words.
pub const OFF_INFO_BITMAP_WORDS: usize = 0x58;
/// Info block: first reserved payload byte.
const OFF_INFO_END: usize = 0x60;

/// Kind of block 0.
pub const KIND_INFO: u32 = 0;
/// Kind of an entry block.
pub const KIND_ENTRIES: u32 = 1;
/// Kind of a bad-spare bitmap block.
pub const KIND_BITMAP: u32 = 2;

/// What a snapshot write produced, for the superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// Blocks written.
    pub used_blocks: u64,
    /// Entries written.
    pub entries: u64,
    /// CRC32C over the block checksums.
    pub checksum: u32,
}

/// Blocks a snapshot of `entries` entries over `data_blocks` spare blocks
/// takes.
pub fn used_blocks_for(entries: u64, data_blocks: u64) -> u64 {
    1 + entries.div_ceil(RECORDS_PER_BLOCK as u64)
        + bitmap_words_for(data_blocks).div_ceil(WORDS_PER_BLOCK as u64)
}

/// The persistent form of a table entry: BUSY stripped; `None` when the
/// entry only exists because a remap is in progress.
pub fn persistent_entry(entry: Entry) -> Option<Entry> {
    let stripped = entry.without(Entry::BUSY);
    if stripped.flags() & Entry::PERSISTENT_FLAGS == 0 {
        None
    } else {
        Some(stripped)
    }
}

struct SnapshotWriter<'b, D: MetaDevice + ?Sized> {
    device: &'b mut D,
    block: &'b mut MetaBlock,
    layout: &'b Layout,
    area: usize,
    generation: u64,
    next_index: u64,
    checksum: Crc32c,
}

impl<D: MetaDevice + ?Sized> SnapshotWriter<'_, D> {
    fn start(&mut self, kind: u32) -> Result<u64, MetaError> {
        let index = self.next_index;
        let sector = self
            .layout
            .snapshot_block_sector(self.area, index)
            .ok_or(MetaError::Layout(super::layout::LayoutError::SpareTooSmall))?;
        start_block(self.block, MAGIC_SNAPSHOT, 0, sector, self.generation);
        put_u64(self.block, OFF_SNAP_INDEX, index);
        put_u32(self.block, OFF_SNAP_KIND, kind);
        Ok(sector)
    }

    fn finish(&mut self, sector: u64, count: usize) -> Result<(), MetaError> {
        put_u32(self.block, OFF_SNAP_COUNT, count as u32);
        seal(self.block);
        self.checksum
            .update(&get_u32(self.block, OFF_CHECKSUM).to_le_bytes());
        self.device.write(sector, &self.block[..])?;
        self.next_index += 1;
        Ok(())
    }
}

/// Writes the snapshot of generation `generation` into area `area`: the
/// entries of `table` (read on the writer's side, so without seqlock) and
/// the bad-spare bitmap words `bad_spares`. Does not flush: the caller
/// flushes before writing the superblock.
#[allow(clippy::too_many_arguments)]
pub fn write_snapshot<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
    layout: &Layout,
    area: usize,
    generation: u64,
    table: RemapTable<'_>,
    bad_spares: &[u64],
    scanner_cursor: u64,
) -> Result<SnapshotSummary, MetaError> {
    let entries = table
        .entries()
        .filter(|(_, entry)| persistent_entry(*entry).is_some())
        .count() as u64;
    let bitmap_words = bitmap_words_for(layout.data_blocks);
    let used_blocks = used_blocks_for(entries, layout.data_blocks);
    let mut writer = SnapshotWriter {
        device,
        block,
        layout,
        area,
        generation,
        next_index: 0,
        checksum: Crc32c::new(),
    };

    let sector = writer.start(KIND_INFO)?;
    put_u64(writer.block, OFF_INFO_ENTRY_COUNT, entries);
    put_u64(writer.block, OFF_INFO_DATA_BLOCKS, layout.data_blocks);
    put_u64(writer.block, OFF_INFO_SCANNER_CURSOR, scanner_cursor);
    put_u64(writer.block, OFF_INFO_BITMAP_WORDS, bitmap_words);
    writer.finish(sector, 0)?;

    let mut in_block = 0usize;
    let mut sector = 0;
    for (main, entry) in table.entries() {
        let Some(entry) = persistent_entry(entry) else {
            continue;
        };
        if in_block == 0 {
            sector = writer.start(KIND_ENTRIES)?;
        }
        if let Some(offset) = record_offset(in_block) {
            put_u64(writer.block, offset, main);
            put_u64(writer.block, offset + 8, entry.raw());
        }
        in_block += 1;
        if in_block == RECORDS_PER_BLOCK {
            writer.finish(sector, in_block)?;
            in_block = 0;
        }
    }
    if in_block > 0 {
        writer.finish(sector, in_block)?;
    }

    let bad = bad_spares;
    let mut word = 0u64;
    while word < bitmap_words {
        let sector = writer.start(KIND_BITMAP)?;
        let count = (bitmap_words - word).min(WORDS_PER_BLOCK as u64) as usize;
        for slot in 0..count {
            let value = bad.get(word as usize + slot).copied().unwrap_or(0);
            if let Some(offset) = word_offset(slot) {
                put_u64(writer.block, offset, value);
            }
        }
        writer.finish(sector, count)?;
        word += count as u64;
    }
    debug_assert_eq!(writer.next_index, used_blocks);
    Ok(SnapshotSummary {
        used_blocks: writer.next_index,
        entries,
        checksum: writer.checksum.finish(),
    })
}

/// Blocks of snapshot area A that hold exactly what a format writes there
/// before its superblock: the empty snapshot of generation 0 (an info
/// block with no entries and the scanner at 0, then an all-zero bad-spare
/// bitmap) for `layout`.  Returns that snapshot's block count if every one
/// of its blocks is sound and as a format writes it, `None` otherwise.
///
/// A power cut during the first format leaves this and zero superblock
/// slots.  It holds no remap (a format records none, and anything later
/// writes the log, a newer snapshot or a superblock), so the region is as
/// good as blank: the open path may format it again without asking.
pub fn format_residue<D: MetaDevice + ?Sized>(
    device: &mut D,
    block: &mut MetaBlock,
    layout: &Layout,
) -> Result<Option<u64>, MetaError> {
    let used_blocks = used_blocks_for(0, layout.data_blocks);
    let bitmap_words = bitmap_words_for(layout.data_blocks);
    for index in 0..used_blocks {
        let Some(sector) = layout.snapshot_block_sector(0, index) else {
            return Ok(None);
        };
        device.read(sector, block)?;
        let sound = check_frame(block, MAGIC_SNAPSHOT, sector).is_ok()
            && get_u32(block, OFF_FLAGS) == 0
            && get_u64(block, OFF_GENERATION) == 0
            && get_u64(block, OFF_SNAP_INDEX) == index;
        if !sound {
            return Ok(None);
        }
        let as_formatted = if index == 0 {
            get_u32(block, OFF_SNAP_KIND) == KIND_INFO
                && get_u32(block, OFF_SNAP_COUNT) == 0
                && get_u64(block, OFF_INFO_ENTRY_COUNT) == 0
                && get_u64(block, OFF_INFO_DATA_BLOCKS) == layout.data_blocks
                && get_u64(block, OFF_INFO_SCANNER_CURSOR) == 0
                && get_u64(block, OFF_INFO_BITMAP_WORDS) == bitmap_words
        } else {
            // Every bad-spare word zero: nothing retired yet.
            get_u32(block, OFF_SNAP_KIND) == KIND_BITMAP
                && block
                    .get(OFF_PAYLOAD..OFF_CHECKSUM)
                    .is_some_and(|bytes| bytes.iter().all(|&b| b == 0))
        };
        if !as_formatted {
            return Ok(None);
        }
    }
    Ok(Some(used_blocks))
}

/// Reads the snapshot of `superblock` into `table` and `spares` (which the
/// caller has cleared). `main_blocks` bounds entry block numbers. Returns
/// the scanner cursor.
pub fn load_snapshot<D, T, B>(
    device: &mut D,
    block: &mut MetaBlock,
    superblock: &Superblock,
    main_blocks: u64,
    table: &mut TableWriter<T>,
    spares: &mut SpareAllocator<B>,
) -> Result<u64, MetaError>
where
    D: MetaDevice + ?Sized,
    T: Deref<Target = [AtomicU64]>,
    B: DerefMut<Target = [u64]>,
{
    let layout = &superblock.layout;
    let area = superblock.snapshot_area();
    let entries = superblock.snapshot_entries;
    let bitmap_words = bitmap_words_for(layout.data_blocks);
    let entry_blocks = entries.div_ceil(RECORDS_PER_BLOCK as u64);
    let used_blocks = used_blocks_for(entries, layout.data_blocks);
    let mut checksum = Crc32c::new();
    let mut cursor = 0;
    let mut entries_seen = 0u64;
    let mut words_seen = 0u64;
    for index in 0..superblock.snapshot_used_blocks {
        let sector = layout
            .snapshot_block_sector(area, index)
            .ok_or(MetaError::Snapshot {
                index,
                sector: 0,
                fault: SnapshotFault::Index,
            })?;
        let fail = |fault| MetaError::Snapshot {
            index,
            sector,
            fault,
        };
        device.read(sector, block)?;
        check_frame(block, MAGIC_SNAPSHOT, sector).map_err(|f| fail(f.into()))?;
        if get_u32(block, OFF_FLAGS) != 0 {
            return Err(fail(SnapshotFault::UnknownFlags));
        }
        if get_u64(block, OFF_GENERATION) != superblock.generation {
            return Err(fail(SnapshotFault::Generation));
        }
        if get_u64(block, OFF_SNAP_INDEX) != index {
            return Err(fail(SnapshotFault::Index));
        }
        checksum.update(&get_u32(block, OFF_CHECKSUM).to_le_bytes());
        let kind = get_u32(block, OFF_SNAP_KIND);
        let count = get_u32(block, OFF_SNAP_COUNT) as usize;
        let expected_kind = if index == 0 {
            KIND_INFO
        } else if index <= entry_blocks {
            KIND_ENTRIES
        } else {
            KIND_BITMAP
        };
        if kind != expected_kind {
            return Err(fail(SnapshotFault::Kind));
        }
        let payload_end = match kind {
            KIND_INFO => OFF_INFO_END,
            KIND_ENTRIES => record_offset(count).unwrap_or(super::block::PAYLOAD_END),
            _ => word_offset(count).unwrap_or(super::block::PAYLOAD_END),
        };
        let reserved = block
            .get(OFF_SNAP_RESERVED..OFF_PAYLOAD)
            .is_some_and(|bytes| bytes.iter().any(|&b| b != 0))
            || block
                .get(payload_end..OFF_CHECKSUM)
                .is_some_and(|bytes| bytes.iter().any(|&b| b != 0));
        match kind {
            KIND_INFO => {
                if count != 0 {
                    return Err(fail(SnapshotFault::Count));
                }
                if reserved {
                    return Err(fail(SnapshotFault::ReservedNotZero));
                }
                if get_u64(block, OFF_INFO_ENTRY_COUNT) != entries {
                    return Err(fail(SnapshotFault::EntryCount));
                }
                if get_u64(block, OFF_INFO_DATA_BLOCKS) != layout.data_blocks
                    || get_u64(block, OFF_INFO_BITMAP_WORDS) != bitmap_words
                {
                    return Err(fail(SnapshotFault::DataBlocks));
                }
                cursor = get_u64(block, OFF_INFO_SCANNER_CURSOR);
                if cursor > main_blocks {
                    return Err(fail(SnapshotFault::CursorOutOfRange));
                }
            }
            KIND_ENTRIES => {
                let expected = (entries - entries_seen).min(RECORDS_PER_BLOCK as u64) as usize;
                if count != expected {
                    return Err(fail(SnapshotFault::Count));
                }
                if reserved {
                    return Err(fail(SnapshotFault::ReservedNotZero));
                }
                for slot in 0..count {
                    let offset = record_offset(slot).ok_or(fail(SnapshotFault::Count))?;
                    let main = get_u64(block, offset);
                    let entry = Entry::from_raw(get_u64(block, offset + 8));
                    load_entry(main, entry, main_blocks, layout, table, spares).map_err(fail)?;
                }
                entries_seen += count as u64;
            }
            _ => {
                let expected = (bitmap_words - words_seen).min(WORDS_PER_BLOCK as u64) as usize;
                if count != expected {
                    return Err(fail(SnapshotFault::Count));
                }
                if reserved {
                    return Err(fail(SnapshotFault::ReservedNotZero));
                }
                for slot in 0..count {
                    let offset = word_offset(slot).ok_or(fail(SnapshotFault::Count))?;
                    let value = get_u64(block, offset);
                    let word_index = words_seen + slot as u64;
                    let valid_bits = layout.data_blocks.saturating_sub(word_index * 64);
                    if valid_bits < 64 && value >> valid_bits != 0 {
                        return Err(fail(SnapshotFault::BitmapBeyondPool));
                    }
                    spares
                        .load_bad_word(word_index as usize, value)
                        .map_err(|_| fail(SnapshotFault::BitmapBeyondPool))?;
                }
                words_seen += count as u64;
            }
        }
    }
    if superblock.snapshot_used_blocks != used_blocks
        || checksum.finish() != superblock.snapshot_checksum
    {
        return Err(MetaError::Snapshot {
            index: 0,
            sector: layout.snapshot_block_sector(area, 0).unwrap_or(0),
            fault: SnapshotFault::SetChecksum,
        });
    }
    Ok(cursor)
}

fn load_entry<T, B>(
    main: u64,
    entry: Entry,
    main_blocks: u64,
    layout: &Layout,
    table: &mut TableWriter<T>,
    spares: &mut SpareAllocator<B>,
) -> Result<(), SnapshotFault>
where
    T: Deref<Target = [AtomicU64]>,
    B: DerefMut<Target = [u64]>,
{
    let flags = entry.flags();
    if flags == 0 || flags & !Entry::PERSISTENT_FLAGS != 0 {
        return Err(SnapshotFault::EntryFlags);
    }
    if entry.spare().is_none() && entry.raw() & super::table::MAX_SPARE_INDEX != 0 {
        return Err(SnapshotFault::ReservedNotZero);
    }
    if main >= main_blocks {
        return Err(SnapshotFault::MainOutOfRange);
    }
    if table.get(main).is_some() {
        return Err(SnapshotFault::DuplicateEntry);
    }
    if let Some(spare) = entry.spare() {
        if spare >= layout.data_blocks {
            return Err(SnapshotFault::SpareOutOfRange);
        }
        spares
            .mark_used(spare)
            .map_err(|_| SnapshotFault::SpareUsedTwice)?;
    }
    table.set(main, entry).map_err(|error| match error {
        TableError::Full => SnapshotFault::TooManyEntries,
        _ => SnapshotFault::MainOutOfRange,
    })
}
