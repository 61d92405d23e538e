//! Feeds 100 000+ random and mutated images to the decoders and to
//! recovery: every input must give `Ok` or an error, never a panic (debug
//! builds check arithmetic overflow, so an overflow is a failure too).

mod common;

use common::*;
use dm_remap_engine::allocator::SpareAllocator;
use dm_remap_engine::block::{seal, MetaBlock, META_BLOCK_BYTES};
use dm_remap_engine::log::{decode_log_header, get_record, Record};
use dm_remap_engine::recovery::{load, probe};
use dm_remap_engine::superblock::{classify_slot, Superblock};
use dm_remap_engine::{
    Engine, Expected, IoError, IoTarget, MemoryRequirements, MetaDevice, RemapTable, SuperblockSlot,
};

/// xorshift64*: fast, deterministic randomness for the test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A read-only device over a borrowed image.
struct SliceDevice<'a>(&'a [u8]);

impl MetaDevice for SliceDevice<'_> {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let start = (sector as usize)
            .checked_mul(512)
            .ok_or(IoError { errno: -5 })?;
        let src = self
            .0
            .get(start..start.saturating_add(buf.len()))
            .ok_or(IoError { errno: -5 })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), IoError> {
        Err(IoError { errno: -30 })
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

const MAIN_SECTORS: u64 = 64 * 8;

fn expected_for(image: &[u8]) -> Expected {
    Expected {
        main_sectors: None,
        spare_offset: None,
        spare_sectors: (image.len() / 512) as u64,
        main_uuid: None,
        spare_uuid: None,
    }
}

/// Runs read-only recovery on `image`; returns whether it succeeded.
fn recover(image: &[u8]) -> bool {
    let mut device = SliceDevice(image);
    let mut block = [0u8; META_BLOCK_BYTES];
    let Ok(superblock) = probe(&mut device, &mut block, &expected_for(image)) else {
        return false;
    };
    let req = MemoryRequirements::for_layout(&superblock.layout);
    assert!(
        req.table_words < 1 << 24,
        "layout bounded by the image size"
    );
    let mut memory = Memory::new(req);
    let table = RemapTable::new(&memory.table).unwrap();
    let mut writer = table.writer().unwrap();
    let mut spares =
        SpareAllocator::new(&mut memory.bitmaps, superblock.layout.data_blocks).unwrap();
    match load(
        &mut device,
        &mut block,
        &superblock,
        &mut writer,
        &mut spares,
    ) {
        Ok(_) => {
            for (_, entry) in writer.iter() {
                let _ = entry.spare();
            }
            true
        }
        Err(error) => {
            let _ = error.as_str();
            let _ = format!("{error}");
            false
        }
    }
}

/// A few valid images with log records, snapshots and bad spares.
fn base_images() -> Vec<Vec<u8>> {
    let mut images = Vec::new();
    for (spare_sectors, log_blocks, commits) in [(184u64, 3u32, 7u64), (400, 8, 3), (184, 3, 0)] {
        let mut device = MemDevice::new(spare_sectors);
        let req = MemoryRequirements::for_format(spare_sectors, params(log_blocks)).unwrap();
        let mut memory = Memory::new(req);
        let mut engine = Engine::format(
            &mut device,
            memory.engine_memory(),
            binding(MAIN_SECTORS),
            spare_sectors,
            params(log_blocks),
            config(),
        )
        .unwrap();
        for round in 0..commits {
            engine.on_read_error(round + 30, IoTarget::Main).unwrap();
            if let Ok(ticket) = engine.on_write_error(round, IoTarget::Main, true) {
                engine.fail_remap(ticket, round % 2 == 0).unwrap();
                if let Ok(ticket) = engine.begin_remap(round, true) {
                    engine.complete_remap(ticket).unwrap();
                }
            }
            engine.scan_advance(3).unwrap();
            engine.commit().unwrap();
        }
        drop(engine);
        images.push(device.durable);
    }
    images
}

fn mutate(rng: &mut Rng, image: &mut [u8], undo: &mut Vec<(usize, u8)>) {
    let blocks = image.len() / META_BLOCK_BYTES;
    let mutations = 1 + rng.below(4);
    for _ in 0..mutations {
        // Mostly metadata blocks near the start (superblocks, log) and the
        // snapshot areas at the end.
        let block = match rng.below(4) {
            0 => rng.below(2),
            1 => 2 + rng.below(3),
            2 => blocks as u64 - 1 - rng.below(6.min(blocks as u64)),
            _ => rng.below(blocks as u64),
        } as usize;
        let base = block * META_BLOCK_BYTES;
        let offset = match rng.below(3) {
            0 => rng.below(0xC0),
            1 => 0x40 + rng.below(64) * 8,
            _ => rng.below(META_BLOCK_BYTES as u64),
        } as usize;
        let len = [1usize, 2, 4, 8][rng.below(4) as usize];
        let value = match rng.below(5) {
            0 => 0,
            1 => u64::MAX,
            2 => rng.below(256),
            3 => 1u64 << rng.below(64),
            _ => rng.next(),
        };
        for (i, byte) in value.to_le_bytes().iter().take(len).enumerate() {
            if let Some(slot) = image.get_mut(base + offset + i) {
                undo.push((base + offset + i, *slot));
                *slot = *byte;
            }
        }
        // Usually re-seal so the decoder's semantic checks are reached.
        if rng.below(4) != 0 {
            if let Some(slice) = image.get_mut(base..base + META_BLOCK_BYTES) {
                let block: &mut MetaBlock = slice.try_into().unwrap();
                let before = *block;
                seal(block);
                for (i, (old, new)) in before.iter().zip(block.iter()).enumerate() {
                    if old != new {
                        undo.push((base + i, *old));
                    }
                }
            }
        }
    }
}

#[test]
fn hundred_thousand_mutated_and_random_images_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut images = base_images();
    for image in &images {
        assert!(recover(image), "base images must recover");
    }
    let mut recovered = 0u64;
    let mut total = 0u64;
    let mut undo = Vec::new();
    for round in 0..90_000u64 {
        let index = (round % images.len() as u64) as usize;
        let image = &mut images[index];
        undo.clear();
        mutate(&mut rng, image, &mut undo);
        recovered += u64::from(recover(image));
        total += 1;
        for &(offset, byte) in undo.iter().rev() {
            image[offset] = byte;
        }
    }
    // Fully random images of random sizes, and random single blocks fed to
    // the block decoders.
    let mut block = [0u8; META_BLOCK_BYTES];
    for _ in 0..10_000u64 {
        let sectors = 16 + rng.below(200) as usize;
        let mut image = vec![0u8; sectors * 512];
        for chunk in image.chunks_mut(8).take(1024 + rng.below(2048) as usize) {
            let bytes = rng.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        recovered += u64::from(recover(&image));
        total += 1;
        for chunk in block.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        if rng.below(2) == 0 {
            seal(&mut block);
        }
        let _ = Superblock::decode(&block, SuperblockSlot::A);
        let _ = classify_slot(&block, SuperblockSlot::B);
        let _ = decode_log_header(&block, rng.next(), rng.next(), rng.next());
        for slot in 0..300 {
            let _ = get_record(&block, slot);
        }
        let _ = Record::decode(rng.next(), rng.next());
    }
    assert!(total >= 100_000);
    // Sanity: the mutations are not all rejected at the first check.
    assert!(recovered > 1000, "only {recovered} of {total} recovered");
}
