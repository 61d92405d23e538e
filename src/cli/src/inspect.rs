//! Read-only inspection of spare metadata, shared by `dump` and `check`.

use std::sync::atomic::AtomicU64;

use dm_remap_engine::allocator::SpareAllocator;
use dm_remap_engine::block::META_BLOCK_BYTES;
use dm_remap_engine::recovery::{
    check_binding, choose_superblock, load, read_slots, Loaded, Slots,
};
use dm_remap_engine::superblock::Superblock;
use dm_remap_engine::table::Entry;
use dm_remap_engine::{Expected, MemoryRequirements, MetaDevice, MetaError, RemapTable};

/// Everything recovery found.
pub struct Report {
    /// Both superblock slots as read.
    pub slots: Slots,
    /// The superblock recovery chose.
    pub superblock: Superblock,
    /// Log replay results.
    pub loaded: Loaded,
    /// Remap table entries, sorted by main block.
    pub entries: Vec<(u64, Entry)>,
    /// Bad spare blocks.
    pub bad: Vec<u64>,
}

/// Recovers the metadata read-only.
pub fn inspect<D: MetaDevice>(device: &mut D, expected: &Expected) -> Result<Report, MetaError> {
    let mut block = [0u8; META_BLOCK_BYTES];
    let slots = read_slots(device, &mut block)?;
    let superblock = choose_superblock(&slots)?;
    check_binding(&superblock, expected)?;
    let layout = superblock.layout;
    let req = MemoryRequirements::for_layout(&layout);
    let table_words: Vec<AtomicU64> = (0..req.table_words).map(|_| AtomicU64::new(0)).collect();
    let mut bitmap_words = vec![0u64; req.bitmap_words];
    let table = RemapTable::new(&table_words).map_err(|_| MetaError::TableMemoryTooSmall)?;
    let mut writer = table.writer().ok_or(MetaError::TableClaimed)?;
    let mut spares = SpareAllocator::new(&mut bitmap_words, layout.data_blocks)
        .map_err(|_| MetaError::BitmapMemoryTooSmall)?;
    let loaded = load(device, &mut block, &superblock, &mut writer, &mut spares)?;
    let mut entries: Vec<(u64, Entry)> = writer.iter().collect();
    entries.sort_by_key(|(main, _)| *main);
    let bad = (0..layout.data_blocks)
        .filter(|&spare| spares.is_bad(spare))
        .collect();
    Ok(Report {
        slots,
        superblock,
        loaded,
        entries,
        bad,
    })
}
