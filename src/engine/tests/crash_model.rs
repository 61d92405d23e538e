//! Property test: random sequences of I/O errors, spare failures and
//! commits, checked against a simple model after every step, with a crash
//! simulated after every individual metadata block write of every commit
//! (unflushed writes dropped, kept, partly kept or torn).
//!
//! After recovery the state must equal the last completed commit or the
//! one being committed; no acknowledged remap is lost; no main block maps
//! to two spares; no spare block is used twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use dm_remap_engine::table::Entry;
use dm_remap_engine::{
    BorrowedStorage, Engine, IoTarget, MemoryRequirements, PolicyError, ReadErrorAction, Route,
};
use proptest::prelude::*;

const MAIN_BLOCKS: u64 = 64;
const MAIN_SECTORS: u64 = MAIN_BLOCKS * 8;
/// 12 spare data blocks with a 3-block log: snapshots happen often.
const SPARE_SECTORS: u64 = 184;
const LOG_BLOCKS: u32 = 3;

#[derive(Clone, Debug)]
enum Action {
    WriteError { block: u64, spare_failures: u8 },
    ReadError { block: u64 },
    ReadOk { block: u64 },
    WeakRead { block: u64 },
    WholeWrite { block: u64 },
    Flap { block: u64, times: u16 },
    Scan { blocks: u64 },
    Commit,
}

fn action() -> impl Strategy<Value = Action> {
    let block = 0..24u64;
    prop_oneof![
        4 => (block.clone(), 0..3u8).prop_map(|(block, spare_failures)| Action::WriteError { block, spare_failures }),
        3 => block.clone().prop_map(|block| Action::ReadError { block }),
        2 => block.clone().prop_map(|block| Action::ReadOk { block }),
        1 => block.clone().prop_map(|block| Action::WeakRead { block }),
        2 => block.clone().prop_map(|block| Action::WholeWrite { block }),
        1 => (block, 1..200u16).prop_map(|(block, times)| Action::Flap { block, times }),
        1 => (0..80u64).prop_map(|blocks| Action::Scan { blocks }),
        4 => Just(Action::Commit),
    ]
}

fn read_target(route: Route) -> IoTarget {
    match route {
        Route::Spare(spare) => IoTarget::Spare(spare),
        _ => IoTarget::Main,
    }
}

struct Harness<'e, 'a> {
    engine: Engine<BorrowedStorage<'a>, &'e mut MemDevice>,
    model: State,
    /// Spares each block was mapped to since the last commit (for the
    /// "no acknowledged remap lost" check when a snapshot happened between
    /// commits).
    seen_spares: BTreeMap<u64, BTreeSet<u64>>,
}

impl Harness<'_, '_> {
    fn spare_in_use(&self, spare: u64) -> bool {
        self.model.entries.values().any(|(_, s)| *s == Some(spare))
    }

    fn check_ticket_spare(&self, spare: u64) {
        assert!(
            !self.model.bad.contains(&spare),
            "bad spare {spare} handed out"
        );
        assert!(!self.spare_in_use(spare), "spare {spare} handed out twice");
    }

    /// Drives a remap whose first ticket came from `first`, failing the
    /// spare `spare_failures` times, and updates the model.
    fn drive_remap(
        &mut self,
        block: u64,
        first: Result<dm_remap_engine::RemapTicket, PolicyError>,
        mut spare_failures: u8,
    ) {
        let mut result = first;
        loop {
            match result {
                Ok(ticket) => {
                    self.check_ticket_spare(ticket.spare);
                    if spare_failures > 0 {
                        spare_failures -= 1;
                        self.engine.fail_remap(ticket, true).unwrap();
                        self.model.bad.insert(ticket.spare);
                        result = self.engine.begin_remap(block, true);
                    } else {
                        self.engine.complete_remap(ticket).unwrap();
                        if let Some((_, Some(old))) = self.model.entries.get(&block) {
                            self.model.bad.insert(*old);
                        }
                        self.model
                            .entries
                            .insert(block, (Entry::REMAPPED, Some(ticket.spare)));
                        self.seen_spares
                            .entry(block)
                            .or_default()
                            .insert(ticket.spare);
                        return;
                    }
                }
                Err(PolicyError::SpareExhausted) => return,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    fn apply(&mut self, action: &Action) {
        let table = self.engine.table();
        match *action {
            Action::WriteError {
                block,
                spare_failures,
            } => {
                let target = match table.route_write(block) {
                    Route::Main => IoTarget::Main,
                    Route::Spare(spare) => IoTarget::Spare(spare),
                    _ => return,
                };
                let first = self.engine.on_write_error(block, target, true);
                if let IoTarget::Spare(spare) = target {
                    self.model.bad.insert(spare);
                }
                self.drive_remap(block, first, spare_failures);
            }
            Action::ReadError { block } => {
                let target = read_target(table.route_read(block));
                let action = self.engine.on_read_error(block, target).unwrap();
                assert_eq!(action, ReadErrorAction::MarkedPending);
                if let IoTarget::Spare(spare) = target {
                    self.model.bad.insert(spare);
                }
                let entry = self.model.entries.entry(block).or_insert((0, None));
                entry.0 |= Entry::PENDING;
            }
            Action::ReadOk { block } => {
                if table.route_read(block) != Route::Main {
                    return;
                }
                let cleared = self.engine.on_read_ok(block).unwrap();
                let was_pending = self.model.entries.get(&block) == Some(&(Entry::PENDING, None));
                assert_eq!(cleared, was_pending);
                if was_pending {
                    self.model.entries.remove(&block);
                }
            }
            Action::WeakRead { block } => {
                let target = read_target(table.route_read(block));
                let first = self.engine.on_read_retry_succeeded(block, target);
                if let IoTarget::Spare(spare) = target {
                    self.model.bad.insert(spare);
                }
                self.drive_remap(block, first, 0);
            }
            Action::WholeWrite { block } => {
                if table.route_write(block) == Route::Remap {
                    let first = self.engine.begin_remap(block, true);
                    self.drive_remap(block, first, 0);
                }
            }
            Action::Flap { block, times } => {
                if self.model.entries.contains_key(&block) {
                    return;
                }
                for _ in 0..times {
                    self.engine.on_read_error(block, IoTarget::Main).unwrap();
                    assert!(self.engine.on_read_ok(block).unwrap());
                }
            }
            Action::Scan { blocks } => {
                self.engine.scan_advance(blocks).unwrap();
                let next = self.model.cursor + blocks;
                self.model.cursor = if next >= MAIN_BLOCKS { 0 } else { next };
            }
            Action::Commit => self.engine.commit().unwrap(),
        }
    }
}

/// Checks every crash point of `journal` applied on `base`.
fn check_crashes(
    base: &[u8],
    journal: &[Op],
    committed: &State,
    new_state: Option<&State>,
    snapshot_between: bool,
    seen_spares: &BTreeMap<u64, BTreeSet<u64>>,
) {
    let exp = expected(MAIN_SECTORS, SPARE_SECTORS);
    let writes = journal
        .iter()
        .filter(|op| matches!(op, Op::Write(..)))
        .count();
    for point in 0..=writes {
        for mode in CRASH_MODES {
            let image = crash_image(base, journal, point, mode);
            let (state, _, _) = recover_image(&image, &exp).unwrap_or_else(|error| {
                panic!("recovery failed after write {point}/{writes} ({mode:?}): {error}")
            });
            state.check_invariants();
            let exact = &state == committed || new_state.is_some_and(|new| &state == new);
            if exact {
                continue;
            }
            assert!(
                snapshot_between,
                "crash after write {point}/{writes} ({mode:?}) recovered\n{state:?}\nexpected\n{committed:?}\nor\n{new_state:?}"
            );
            // A snapshot taken between commits made an intermediate state
            // durable: it must still hold every acknowledged remap.
            for spare in &committed.bad {
                assert!(state.bad.contains(spare), "bad spare {spare} forgotten");
            }
            for (block, (flags, spare)) in &committed.entries {
                if flags & Entry::REMAPPED != 0 {
                    let (_, now) = state.entries.get(block).expect("acknowledged remap lost");
                    let now = now.expect("acknowledged remap lost");
                    assert!(
                        Some(now) == *spare
                            || seen_spares.get(block).is_some_and(|s| s.contains(&now)),
                        "block {block} mapped to unrelated spare {now}"
                    );
                }
            }
        }
    }
}

fn run(actions: &[Action]) {
    let mut device = MemDevice::new(SPARE_SECTORS);
    let req = MemoryRequirements::for_format(SPARE_SECTORS, params(LOG_BLOCKS)).unwrap();
    let mut memory = Memory::new(req);
    let engine = Engine::format(
        &mut device,
        memory.engine_memory(),
        binding(MAIN_SECTORS),
        SPARE_SECTORS,
        params(LOG_BLOCKS),
        config(),
    )
    .unwrap();
    let mut harness = Harness {
        engine,
        model: State::default(),
        seen_spares: BTreeMap::new(),
    };
    let mut base = harness.engine.device_mut().durable.clone();
    harness.engine.device_mut().journal.clear();
    let mut committed = State::default();
    let mut snapshots_at_commit = harness.engine.snapshot_count();
    for action in actions {
        let snapshots_before = harness.engine.snapshot_count();
        harness.apply(action);
        assert_eq!(
            engine_state(&harness.engine),
            harness.model,
            "after {action:?}"
        );
        harness.model.check_invariants();
        if matches!(action, Action::Commit) {
            let journal = std::mem::take(&mut harness.engine.device_mut().journal);
            let snapshot_between = snapshots_before > snapshots_at_commit;
            check_crashes(
                &base,
                &journal,
                &committed,
                Some(&harness.model),
                snapshot_between,
                &harness.seen_spares,
            );
            // The completed commit itself must recover exactly.
            let durable = harness.engine.device_mut().durable.clone();
            let (state, _, _) =
                recover_image(&durable, &expected(MAIN_SECTORS, SPARE_SECTORS)).unwrap();
            assert_eq!(state, harness.model, "completed commit not recovered");
            base = durable;
            committed = harness.model.clone();
            snapshots_at_commit = harness.engine.snapshot_count();
            harness.seen_spares.clear();
        }
    }
    // Crash with uncommitted work in flight: the last commit survives.
    let journal = std::mem::take(&mut harness.engine.device_mut().journal);
    let snapshot_between = harness.engine.snapshot_count() > snapshots_at_commit;
    check_crashes(
        &base,
        &journal,
        &committed,
        None,
        snapshot_between,
        &harness.seen_spares,
    );
    // Reopening continues from the state the running engine had.
    let final_state = harness.model.clone();
    harness.engine.commit().unwrap();
    drop(harness);
    let mut memory = Memory::new(req);
    let engine = memory.open_engine(&mut device, MAIN_SECTORS, SPARE_SECTORS);
    assert_eq!(engine_state(&engine), final_state);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn crash_at_every_write_recovers_a_committed_state(actions in prop::collection::vec(action(), 1..64)) {
        run(&actions);
    }
}

#[test]
fn crash_during_snapshot_heavy_sequence() {
    // A deterministic long run: many commits through small logs.
    let mut actions = Vec::new();
    for round in 0..40u64 {
        actions.push(Action::ReadError { block: round % 20 });
        actions.push(Action::WriteError {
            block: (round * 7) % 24,
            spare_failures: (round % 3) as u8,
        });
        actions.push(Action::Commit);
        actions.push(Action::WholeWrite { block: round % 20 });
        actions.push(Action::Flap {
            block: 23,
            times: 130,
        });
        actions.push(Action::Scan { blocks: 9 });
        actions.push(Action::Commit);
    }
    run(&actions);
}
