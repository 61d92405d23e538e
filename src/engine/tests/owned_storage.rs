//! The engine owning its memory through handle types (as the kernel target
//! does with kvzalloc buffers), while a reader holding its own handle to the
//! same table words (as the bio map path does) builds lock-free views.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use dm_remap_engine::{
    Engine, EngineMemory, IoTarget, MemoryRequirements, MetaError, ReadErrorAction, RemapTable,
    Route, Storage,
};

const MAIN_SECTORS: u64 = 8 * 1024; // 1024 blocks of 4 KiB
const SPARE_SECTORS: u64 = 2048;

/// Owned handles: a shared table (the reader keeps a clone), boxed bitmaps
/// and buffer. Nothing is borrowed, so the engine is `'static`.
struct Owned;

impl Storage for Owned {
    type Table = Arc<[AtomicU64]>;
    type Bitmaps = Box<[u64]>;
    type Buffer = Box<[u8]>;
}

/// Fresh owned memory plus the reader's own handle to the table words.
fn owned_memory(req: MemoryRequirements) -> (EngineMemory<Owned>, Arc<[AtomicU64]>) {
    let table: Arc<[AtomicU64]> = (0..req.table_words).map(|_| AtomicU64::new(0)).collect();
    let memory = EngineMemory {
        table: Arc::clone(&table),
        bitmaps: vec![0u64; req.bitmap_words].into_boxed_slice(),
        buffer: vec![0u8; req.buffer_bytes].into_boxed_slice(),
    };
    (memory, table)
}

fn requirements() -> MemoryRequirements {
    MemoryRequirements::for_format(SPARE_SECTORS, params(16)).unwrap()
}

fn format_owned(device: MemDevice) -> (Engine<Owned, MemDevice>, Arc<[AtomicU64]>) {
    let (memory, reader) = owned_memory(requirements());
    let engine = Engine::format(
        device,
        memory,
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(16),
        config(),
    )
    .unwrap();
    (engine, reader)
}

#[test]
fn owned_engine_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_static::<Engine<Owned, MemDevice>>();
}

#[test]
fn reader_handle_sees_remaps_made_through_the_engine() {
    let (mut engine, reader) = format_owned(MemDevice::new(SPARE_SECTORS));
    let view = RemapTable::view(&reader).expect("sized by MemoryRequirements");
    assert_eq!(view.slot_count(), engine.table().slot_count());
    assert_eq!(view.capacity(), engine.table().capacity());
    // The engine holds the table's only writer claim.
    assert!(view.writer().is_none());

    assert_eq!(view.route_read(5), Route::Main);
    let ticket = engine.on_write_error(5, IoTarget::Main, true).unwrap();
    assert_eq!(view.route_read(5), Route::Defer);
    assert_eq!(view.route_write(5), Route::Defer);
    engine.complete_remap(ticket).unwrap();
    engine.commit().unwrap();
    assert_eq!(view.route_read(5), Route::Spare(ticket.spare));
    assert_eq!(view.route_write(5), Route::Spare(ticket.spare));
    assert_eq!(engine.table().route_read(5), Route::Spare(ticket.spare));

    assert_eq!(
        engine.on_read_error(9, IoTarget::Main),
        Ok(ReadErrorAction::MarkedPending)
    );
    assert_eq!(view.route_write(9), Route::Remap);
    assert_eq!(engine.on_read_ok(9), Ok(true));
    assert_eq!(view.route_write(9), Route::Main);

    // Tearing the engine down releases the claim; the reader's handle keeps
    // the words alive and still sees the last state.
    let device = engine.into_device();
    assert_eq!(view.route_read(5), Route::Spare(ticket.spare));
    assert!(view.writer().is_some(), "claim released with the engine");

    // The remap is durable: a new engine on new owned memory finds it.
    let (memory, reader) = owned_memory(requirements());
    let engine = Engine::open(
        device,
        memory,
        &expected(MAIN_SECTORS, SPARE_SECTORS),
        config(),
    )
    .unwrap();
    let view = RemapTable::view(&reader).unwrap();
    assert_eq!(view.route_read(5), Route::Spare(ticket.spare));
    assert_eq!(engine.status().remapped_blocks, 1);
}

#[test]
fn memory_already_claimed_is_refused() {
    let (engine, reader) = format_owned(MemDevice::new(SPARE_SECTORS));
    // A second engine handed the same (shared) table words while the first
    // one runs must not become a second writer.
    let req = requirements();
    let memory = EngineMemory::<Owned> {
        table: Arc::clone(&reader),
        bitmaps: vec![0u64; req.bitmap_words].into_boxed_slice(),
        buffer: vec![0u8; req.buffer_bytes].into_boxed_slice(),
    };
    let result = Engine::format(
        MemDevice::new(SPARE_SECTORS),
        memory,
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(16),
        config(),
    );
    assert_eq!(result.err(), Some(MetaError::TableClaimed));
    drop(engine);
}

#[test]
fn reader_thread_sees_remaps_while_the_engine_writes() {
    const REMAPS: u64 = 48;
    const CHURN_START: u64 = 600;
    let (engine, reader) = format_owned(MemDevice::new(SPARE_SECTORS));
    // Kernel shape: the engine behind a mutex, driven by a worker thread;
    // the map path on another thread with only its own table handle.
    let engine = Arc::new(Mutex::new(engine));
    let done = Arc::new(AtomicBool::new(false));
    // Number of blocks 0.. the reader has seen remapped, in order.
    let progress = Arc::new(AtomicU64::new(0));

    let map_path = {
        let done = Arc::clone(&done);
        let progress = Arc::clone(&progress);
        thread::spawn(move || {
            let view = RemapTable::view(&reader).unwrap();
            let mut seen: Vec<Option<u64>> = vec![None; REMAPS as usize];
            let mut lookups = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                for block in 0..REMAPS {
                    let route = view.route_read(block);
                    lookups += 1;
                    let slot = &mut seen[block as usize];
                    match route {
                        Route::Main | Route::Defer => {
                            assert_eq!(*slot, None, "block {block} lost its remap: {route:?}")
                        }
                        Route::Spare(spare) => match *slot {
                            Some(known) => assert_eq!(known, spare, "block {block} moved"),
                            None => *slot = Some(spare),
                        },
                        Route::Remap => panic!("reads never route to Remap"),
                    }
                }
                let in_order = seen.iter().take_while(|spare| spare.is_some()).count();
                progress.store(in_order as u64, Ordering::Release);
                // Churn blocks are inserted and removed concurrently (entries
                // shift around them); lookups must never fail or loop.
                for block in CHURN_START..CHURN_START + 16 {
                    let _ = view.route_write(block);
                }
                if finished {
                    return (seen, lookups);
                }
            }
        })
    };

    let worker = {
        let engine = Arc::clone(&engine);
        let progress = Arc::clone(&progress);
        thread::spawn(move || {
            let mut spares = Vec::new();
            let mut churn = CHURN_START;
            for block in 0..REMAPS {
                {
                    let mut engine = engine.lock().unwrap();
                    let ticket = engine.on_write_error(block, IoTarget::Main, true).unwrap();
                    engine.complete_remap(ticket).unwrap();
                    engine.commit().unwrap();
                    spares.push(ticket.spare);
                }
                // Keep mutating the table until the reader has seen this
                // remap, so lookups and writes really overlap.
                let deadline = Instant::now() + Duration::from_secs(30);
                while progress.load(Ordering::Acquire) <= block {
                    assert!(Instant::now() < deadline, "reader never saw block {block}");
                    {
                        let mut engine = engine.lock().unwrap();
                        engine.on_read_error(churn, IoTarget::Main).unwrap();
                        assert_eq!(engine.on_read_ok(churn), Ok(true));
                        engine.commit().unwrap();
                    }
                    churn = CHURN_START + (churn + 1 - CHURN_START) % 16;
                    thread::yield_now();
                }
            }
            spares
        })
    };

    let spares = worker.join().unwrap();
    done.store(true, Ordering::Release);
    let (seen, lookups) = map_path.join().unwrap();
    assert!(lookups >= REMAPS * 2);
    for (block, spare) in spares.iter().enumerate() {
        assert_eq!(seen[block], Some(*spare), "block {block}");
    }
    let engine = engine.lock().unwrap();
    assert_eq!(engine.status().remapped_blocks, REMAPS);
    assert_eq!(engine.status().pending_blocks, 0);
}

#[test]
fn readers_see_emptiness_published_by_the_writer() {
    use dm_remap_engine::table::{table_words_for, Entry, RemapTable, TableWriter};
    use std::sync::atomic::AtomicU64;
    let words: Vec<AtomicU64> = (0..table_words_for(64))
        .map(|_| AtomicU64::new(0))
        .collect();
    let view = RemapTable::view(&words).unwrap();
    assert!(view.is_empty());
    let mut writer = TableWriter::claim(&words[..]).unwrap();
    writer.set(7, Entry::new(Entry::REMAPPED, 3)).unwrap();
    assert!(!view.is_empty());
    writer.remove(7);
    assert!(view.is_empty());
    writer.set(9, Entry::new(Entry::PENDING, 0)).unwrap();
    drop(writer);
    // A new writer over memory that already holds entries republishes them.
    let _again = TableWriter::claim(&words[..]).unwrap();
    assert!(!view.is_empty());
}
