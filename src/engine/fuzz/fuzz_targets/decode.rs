//! Fuzzes the metadata decoders and read-only recovery: the input is a
//! spare-region image; any outcome but a panic (or a sanitizer report) is
//! fine.
#![no_main]

use std::sync::atomic::AtomicU64;

use dm_remap_engine::allocator::SpareAllocator;
use dm_remap_engine::block::{MetaBlock, META_BLOCK_BYTES};
use dm_remap_engine::log::{decode_log_header, get_record};
use dm_remap_engine::recovery::{load, probe};
use dm_remap_engine::superblock::Superblock;
use dm_remap_engine::{
    Expected, IoError, MemoryRequirements, MetaDevice, RemapTable, SuperblockSlot,
};
use libfuzzer_sys::fuzz_target;

/// Read-only device over the fuzz input, padded with zeros to whole
/// sectors.
struct Image<'a>(&'a [u8]);

impl MetaDevice for Image<'_> {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let start = usize::try_from(sector)
            .ok()
            .and_then(|s| s.checked_mul(512))
            .ok_or(IoError { errno: 5 })?;
        if start >= self.0.len() {
            return Err(IoError { errno: 5 });
        }
        buf.fill(0);
        let end = self.0.len().min(start + buf.len());
        buf[..end - start].copy_from_slice(&self.0[start..end]);
        Ok(())
    }

    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), IoError> {
        Err(IoError { errno: 30 })
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // Single-block decoders on the first block.
    let mut first: MetaBlock = [0u8; META_BLOCK_BYTES];
    let n = data.len().min(META_BLOCK_BYTES);
    first[..n].copy_from_slice(&data[..n]);
    let _ = Superblock::decode(&first, SuperblockSlot::A);
    let _ = decode_log_header(&first, 16, 0, 1);
    for slot in 0..260 {
        let _ = get_record(&first, slot);
    }

    // Whole recovery, with the image size as the available region.
    let mut device = Image(data);
    let mut block: MetaBlock = [0u8; META_BLOCK_BYTES];
    let expected = Expected {
        main_sectors: None,
        spare_offset: None,
        spare_sectors: (data.len() / 512) as u64,
        main_uuid: None,
        spare_uuid: None,
    };
    let Ok(superblock) = probe(&mut device, &mut block, &expected) else {
        return;
    };
    let req = MemoryRequirements::for_layout(&superblock.layout);
    let table_words: Vec<AtomicU64> = (0..req.table_words).map(|_| AtomicU64::new(0)).collect();
    let mut bitmaps = vec![0u64; req.bitmap_words];
    let table = RemapTable::new(&table_words).expect("sized by the layout");
    let mut writer = table.writer().expect("fresh table");
    let mut spares = SpareAllocator::new(&mut bitmaps, superblock.layout.data_blocks)
        .expect("sized by the layout");
    if load(&mut device, &mut block, &superblock, &mut writer, &mut spares).is_ok() {
        for (_, entry) in writer.iter() {
            let _ = entry.spare();
        }
    }
});
