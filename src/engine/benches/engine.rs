//! Benchmarks: table lookup latency at 1k, 100k and 1M entries (hits and
//! misses, random keys so caches are not flattered), and commit cost as a
//! function of the number of changes in the commit.

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dm_remap_engine::table::{table_words_for, Entry, RemapTable};
use dm_remap_engine::{
    Config, DeviceBinding, Engine, EngineMemory, FormatParams, IoError, IoTarget,
    MemoryRequirements, MetaDevice,
};

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `next[i]` for a single random cycle through `0..len` (Sattolo's
/// algorithm), so following it touches every element in random order.
fn random_cycle(len: usize, state: &mut u64) -> Vec<usize> {
    let mut next: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (splitmix(state) % i as u64) as usize;
        next.swap(i, j);
    }
    next
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for entries in [1_000u64, 100_000, 1_000_000] {
        let words: Vec<AtomicU64> = (0..table_words_for(entries))
            .map(|_| AtomicU64::new(0))
            .collect();
        let table = RemapTable::new(&words).unwrap();
        let mut writer = table.writer().unwrap();
        // Fill to capacity with blocks spread over a 1 TiB device.
        let mut state = 1u64;
        let mut keys = Vec::with_capacity(entries as usize);
        while writer.len() < entries {
            let block = splitmix(&mut state) % (1 << 28);
            if writer.get(block).is_none() {
                writer
                    .set(block, Entry::new(Entry::REMAPPED, writer.len()))
                    .unwrap();
                keys.push(block);
            }
        }
        // Hot: 4096 probe keys (a localized I/O working set; the touched
        // slots stay in cache). Cold: 1M random probes over the whole table
        // (20 MiB at 1M entries, larger than the last-level cache), read
        // sequentially so only the table accesses miss.
        for (name, count) in [("hot", 4096usize), ("cold", 1 << 20)] {
            let probes: Vec<u64> = (0..count as u64)
                .map(|i| keys[(splitmix(&mut state) % entries) as usize] + (i & 1) * (1 << 30))
                .collect();
            let mask = count - 1;
            let mut i = 0usize;
            group.bench_function(format!("{entries}_entries_{name}_half_hits"), |b| {
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(table.get(black_box(probes[i])))
                })
            });
            let mut j = 0usize;
            group.bench_function(format!("{entries}_entries_{name}_misses"), |b| {
                b.iter(|| {
                    j = (j + 1) & mask;
                    black_box(table.get(black_box(probes[j] | (1 << 31))))
                })
            });
        }
        // The floor under every cold figure: one dependent load at a random
        // place in a plain array as large as the table (a random cyclic
        // pointer chase). No structure of this size can answer a random key
        // faster than this machine's memory answers one load.
        let chase = random_cycle(words.len(), &mut state);
        let mut at = 0usize;
        group.bench_function(format!("{entries}_entries_memory_floor"), |b| {
            b.iter(|| {
                at = chase[at];
                black_box(at)
            })
        });
    }
    group.finish();
}

/// A device that keeps nothing: measures the engine's own cost per commit
/// (encoding, checksums, bookkeeping), not a disk.
struct NullDevice {
    writes: u64,
}

impl MetaDevice for NullDevice {
    fn read(&mut self, _: u64, buf: &mut [u8]) -> Result<(), IoError> {
        buf.fill(0);
        Ok(())
    }

    fn write(&mut self, _: u64, buf: &[u8]) -> Result<(), IoError> {
        self.writes += black_box(buf.len() as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    // 64 GiB spare region of 4 KiB blocks (~16M spare blocks), big log so
    // the measurement shows log commits, not snapshots.
    let spare_sectors = 64u64 << 21;
    let params = FormatParams {
        block_size: 4096,
        log_blocks: 65536,
    };
    let req = MemoryRequirements::for_format(spare_sectors, params).unwrap();
    let table: Vec<AtomicU64> = (0..req.table_words).map(|_| AtomicU64::new(0)).collect();
    let mut bitmaps = vec![0u64; req.bitmap_words];
    let mut buffer = vec![0u8; req.buffer_bytes];
    let mut engine = Engine::format(
        NullDevice { writes: 0 },
        EngineMemory::borrowed(&table, &mut bitmaps, &mut buffer),
        DeviceBinding {
            main_uuid: [1; 16],
            spare_uuid: [2; 16],
            main_sectors: 1 << 40,
            spare_offset: 0,
        },
        spare_sectors,
        params,
        Config::default(),
    )
    .unwrap();
    let mut next_block = 0u64;
    for changes in [1u64, 10, 100, 1000] {
        group.bench_function(format!("{changes}_changes"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    // Each change: a read error marks a block pending and a
                    // successful re-read clears it, so the table stays small
                    // and only the log grows.
                    for _ in 0..changes / 2 {
                        engine.on_read_error(next_block, IoTarget::Main).unwrap();
                        engine.on_read_ok(next_block).unwrap();
                        next_block = (next_block + 1) % (1 << 30);
                    }
                    if changes % 2 == 1 {
                        engine.on_read_error(next_block, IoTarget::Main).unwrap();
                        next_block = (next_block + 1) % (1 << 30);
                    }
                    engine.commit().unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// The CPU cost the target's map path pays per 128 KiB bio with 4 KiB
/// blocks: one route lookup per block (32), as `map_data` does to find
/// where the bio must be split. 100 000 blocks remapped as one range
/// (blocks 0..100 000 to spare blocks 0..100 000, as `make bench` builds
/// them); bios walk sequentially through the remapped range or through
/// unremapped blocks beyond it.
fn route_bio(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_128k_bio");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    let remaps = 100_000u64;
    let words: Vec<AtomicU64> = (0..table_words_for(258_496))
        .map(|_| AtomicU64::new(0))
        .collect();
    let table = RemapTable::new(&words).unwrap();
    let mut writer = table.writer().unwrap();
    for block in 0..remaps {
        writer
            .set(block, Entry::new(Entry::REMAPPED, block))
            .unwrap();
    }
    for (name, base) in [("remapped", 0u64), ("unremapped", 1u64 << 20)] {
        let mut bio = 0u64;
        group.bench_function(format!("{remaps}_remaps_{name}"), |b| {
            b.iter(|| {
                let first = base + (bio % (remaps / 32)) * 32;
                bio += 1;
                let mut same = 0u32;
                let first_route = table.route_read(first);
                for block in first + 1..first + 32 {
                    if black_box(table.route_read(block)) == first_route {
                        same += 1;
                    }
                }
                black_box(same)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookup, commit, route_bio);
criterion_main!(benches);
