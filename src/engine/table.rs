//! The remap table: main block number → [`Entry`], in caller memory.
//!
//! Readers (the kernel's bio map path) never block and never take a lock: the
//! table is an open-addressing hash table over `&[AtomicU64]` guarded by a
//! sequence counter (a seqlock). A writer makes the counter odd, mutates,
//! and makes it even again; a reader reads the counter, probes with plain
//! atomic loads, and retries if the counter was odd or has changed. Writers
//! are serialised by the caller, which the API enforces by handing out at
//! most one [`TableWriter`] at a time (its mutation methods take `&mut
//! self`).
//!
//! The table geometry is a pure function of the length of the word slice,
//! so any number of owners of the same words (a reference-counted buffer,
//! say) can each build a [`RemapTable`] view in O(1) with
//! [`RemapTable::view`], and all of them see what the single writer does.
//!
//! Slot placement uses Robin Hood linear probing: an entry that is farther
//! from its home slot displaces one that is closer. That bounds the probe
//! length of a *miss* (the common case: most blocks are not remapped) even
//! at a load factor of 0.8, because a reader stops as soon as it meets an
//! entry closer to its own home than the reader's current distance.
//! Deletion shifts following entries back (no tombstones), so the table
//! never degrades.
//!
//! Misses are made cheap with a presence filter: one 64-bit word per 8
//! slots, in which each key sets 3 bits chosen by its hash. A lookup reads
//! one filter word first and stops if any of its bits is clear, so a miss
//! on a table far larger than the CPU caches usually costs one access to a
//! structure 17 times smaller. Bits are never cleared on removal (a stale bit
//! only costs a probe), and the filter is reset with the table.
//!
//! Memory: [`TABLE_HEADER_WORDS`] header words (sequence counter, writer
//! claim; one cache line), the filter words, then 2 words per slot: word 0
//! is the key (main block + 1, so all-zero memory is an empty table), word 1
//! the entry value. The slot count is not a power of two: `capacity * 5/4 +
//! 1` slots and multiply-shift range reduction keep memory at about 21 bytes
//! per entry (plus the header) at full capacity.

use core::hint::spin_loop;
use core::ops::Deref;
use core::sync::atomic::{fence, AtomicU64, Ordering};

/// Words at the start of the table memory before the slots.
pub const TABLE_HEADER_WORDS: usize = 8;
/// Header word holding the sequence counter.
const SEQ_WORD: usize = 0;
/// Header word that is 1 while a [`TableWriter`] exists.
const CLAIM_WORD: usize = 1;
/// Header word holding the number of entries, published by the writer after
/// each change so that readers can skip lookups on an empty table.
const COUNT_WORD: usize = 2;
/// Words per slot.
const SLOT_WORDS: usize = 2;
/// Slots covered by one filter word.
const SLOTS_PER_FILTER_WORD: u64 = 8;
/// Words of a full group of [`SLOTS_PER_FILTER_WORD`] slots and their
/// filter word.
const GROUP_WORDS: u64 = SLOT_WORDS as u64 * SLOTS_PER_FILTER_WORD + 1;

/// Largest spare index an entry can hold (56 bits).
pub const MAX_SPARE_INDEX: u64 = (1 << 56) - 1;
const FLAGS_SHIFT: u32 = 56;

/// Why a table operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The memory is too small for even one slot.
    MemoryTooSmall,
    /// The table already holds its capacity of entries.
    Full,
    /// Block number `u64::MAX` cannot be stored (keys are block + 1).
    BadBlock,
    /// Spare index above [`MAX_SPARE_INDEX`].
    BadSpare,
    /// Another [`TableWriter`] holds the table.
    Claimed,
}

/// The state of one remapped or suspicious main block.
///
/// Packed in one u64: bits 0..56 spare block index, bits 56..64 flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    value: u64,
}

impl Entry {
    /// Reads and writes go to the spare block.
    pub const REMAPPED: u8 = 1;
    /// A read failed; waiting for a whole-block write to remap it.
    pub const PENDING: u8 = 2;
    /// A remap is in progress: the caller must defer I/O to this block.
    pub const BUSY: u8 = 4;
    /// Flags that are persisted (BUSY never reaches the disk).
    pub const PERSISTENT_FLAGS: u8 = Self::REMAPPED | Self::PENDING;

    /// Builds an entry; `spare` is ignored unless `REMAPPED` is set.
    pub const fn new(flags: u8, spare: u64) -> Entry {
        let spare = if flags & Self::REMAPPED != 0 {
            spare & MAX_SPARE_INDEX
        } else {
            0
        };
        Entry {
            value: spare | ((flags as u64) << FLAGS_SHIFT),
        }
    }

    /// Decodes the packed form.
    pub const fn from_raw(value: u64) -> Entry {
        Entry { value }
    }

    /// The packed form (also the on-disk form of the second record word).
    pub const fn raw(&self) -> u64 {
        self.value
    }

    /// All flags.
    pub const fn flags(&self) -> u8 {
        (self.value >> FLAGS_SHIFT) as u8
    }

    /// The spare block, if the entry is remapped.
    pub const fn spare(&self) -> Option<u64> {
        if self.flags() & Self::REMAPPED != 0 {
            Some(self.value & MAX_SPARE_INDEX)
        } else {
            None
        }
    }

    /// True if the block is remapped to a spare.
    pub const fn is_remapped(&self) -> bool {
        self.flags() & Self::REMAPPED != 0
    }

    /// True if a read failed and the block awaits a whole-block write.
    pub const fn is_pending(&self) -> bool {
        self.flags() & Self::PENDING != 0
    }

    /// True while a remap is in progress.
    pub const fn is_busy(&self) -> bool {
        self.flags() & Self::BUSY != 0
    }

    /// The same entry with `flags` set.
    pub const fn with(&self, flags: u8) -> Entry {
        Entry::new(self.flags() | flags, self.value & MAX_SPARE_INDEX)
    }

    /// The same entry with `flags` cleared.
    pub const fn without(&self, flags: u8) -> Entry {
        Entry::new(self.flags() & !flags, self.value & MAX_SPARE_INDEX)
    }
}

/// Where the caller should send I/O for a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the main device, unchanged.
    Main,
    /// To spare data block `index`.
    Spare(u64),
    /// Hold the bio until the remap in progress finishes.
    Defer,
    /// (Writes only) the block is pending: hand the write to the error
    /// worker, which remaps the block and writes the data to the new spare.
    Remap,
}

/// Mixes a key into a well-distributed 64-bit hash (the SplitMix64
/// finaliser): block numbers are sequential, and range reduction by
/// multiply-shift uses the high bits, so every input bit must reach them.
#[inline]
fn mix(key: u64) -> u64 {
    let mut z = key;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Slots needed for `capacity` entries (load factor at most 0.8).
pub fn slots_for(capacity: u64) -> u64 {
    capacity.saturating_add(capacity / 4).saturating_add(1)
}

/// Filter words for `slots` slots.
fn filter_words_for(slots: u64) -> u64 {
    slots.div_ceil(SLOTS_PER_FILTER_WORD)
}

/// Words for `slots` slots and their filter (without the header).
fn body_words_for(slots: u64) -> u64 {
    slots
        .saturating_mul(SLOT_WORDS as u64)
        .saturating_add(filter_words_for(slots))
}

/// u64 words of memory a table of `capacity` entries needs.
pub fn table_words_for(capacity: u64) -> u64 {
    body_words_for(slots_for(capacity)).saturating_add(TABLE_HEADER_WORDS as u64)
}

/// The most slots whose filter and slot words fit in `body` words, in O(1):
/// every full group of 8 slots takes 17 words; a partial group of `r`
/// slots takes `2r + 1`.
fn slots_fitting(body: u64) -> u64 {
    let rest = body % GROUP_WORDS;
    let partial = if rest == 0 {
        0
    } else {
        ((rest - 1) / SLOT_WORDS as u64).min(SLOTS_PER_FILTER_WORD - 1)
    };
    (body / GROUP_WORDS)
        .saturating_mul(SLOTS_PER_FILTER_WORD)
        .saturating_add(partial)
}

/// The words behind [`RemapTable::empty`]: a valid table of one slot that
/// no writer ever claims.
static EMPTY_TABLE: [AtomicU64; TABLE_HEADER_WORDS + 3] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// A read-only, lock-free view of the table; cheap to copy and share.
///
/// A view is only a set of borrowed slices plus two counts: building one
/// ([`RemapTable::view`]) is O(1) and lookups do not depend on how it was
/// built. Views of the same words always agree on the geometry, so a reader
/// that holds its own handle to the words the engine owns (the kernel's bio
/// map path) sees every change the engine's single [`TableWriter`] makes.
#[derive(Clone, Copy)]
pub struct RemapTable<'a> {
    /// All words (the header is `words[..TABLE_HEADER_WORDS]`).
    words: &'a [AtomicU64],
    filter: &'a [AtomicU64],
    slots: &'a [AtomicU64],
    slot_count: u64,
    filter_count: u64,
}

impl<'a> RemapTable<'a> {
    /// Views `words` (all zero = empty table) as a table. Extra words beyond
    /// a whole number of slots are ignored. O(1): the geometry is computed
    /// from `words.len()` alone, nothing is read or written.
    pub fn new(words: &'a [AtomicU64]) -> Result<RemapTable<'a>, TableError> {
        if words.len() < TABLE_HEADER_WORDS {
            return Err(TableError::MemoryTooSmall);
        }
        let body = words.get(TABLE_HEADER_WORDS..).unwrap_or(&[]);
        let slot_count = slots_fitting(body.len() as u64);
        if slot_count == 0 {
            return Err(TableError::MemoryTooSmall);
        }
        let filter_count = filter_words_for(slot_count);
        let filter = body
            .get(..filter_count as usize)
            .ok_or(TableError::MemoryTooSmall)?;
        let slots = body
            .get(filter_count as usize..)
            .and_then(|rest| rest.get(..slot_count as usize * SLOT_WORDS))
            .ok_or(TableError::MemoryTooSmall)?;
        Ok(RemapTable {
            words,
            filter,
            slots,
            slot_count,
            filter_count,
        })
    }

    /// The reader's constructor: views the same words the engine was given
    /// (any handle to them, e.g. a clone of a reference-counted buffer).
    /// `None` if `words` is too small to be a table. O(1), never panics,
    /// reads and writes nothing.
    ///
    /// The engine is the only writer; a view stays valid (lookups are
    /// lock-free and always see complete entries) for as long as `words` is
    /// borrowed, including while the engine mutates the table. Build views
    /// from the very same slice (same start and length) the engine owns: a
    /// shorter or offset slice has a different geometry and would answer
    /// wrongly (though still without panics or undefined behaviour).
    #[inline]
    pub fn view(words: &'a [AtomicU64]) -> Option<RemapTable<'a>> {
        Self::new(words).ok()
    }

    /// A valid, permanently empty table (every lookup routes to `Main`) that
    /// no writer can ever claim.
    pub fn empty() -> RemapTable<'a> {
        match RemapTable::new(&EMPTY_TABLE) {
            Ok(table) => table,
            // Unreachable: EMPTY_TABLE holds a header and one slot. Fall back
            // to a view with no slots at all, which is still valid.
            Err(_) => RemapTable {
                words: &EMPTY_TABLE,
                filter: &[],
                slots: &[],
                slot_count: 0,
                filter_count: 0,
            },
        }
    }

    /// Number of slots.
    pub fn slot_count(&self) -> u64 {
        self.slot_count
    }

    /// Most entries the table accepts (keeps the load factor ≤ 0.8).
    pub fn capacity(&self) -> u64 {
        // The inverse of `slots_for`: the largest capacity whose slot count
        // fits. The estimate is at most a few below it.
        let mut capacity = self.slot_count.saturating_sub(1).saturating_mul(4) / 5;
        while slots_for(capacity + 1) <= self.slot_count {
            capacity += 1;
        }
        capacity
    }

    // The constructors guarantee `words.len() >= TABLE_HEADER_WORDS`.
    fn seq(&self) -> &AtomicU64 {
        &self.words[SEQ_WORD]
    }

    fn claim(&self) -> &AtomicU64 {
        &self.words[CLAIM_WORD]
    }

    fn count(&self) -> &AtomicU64 {
        &self.words[COUNT_WORD]
    }

    /// True if the table holds no entry at all: the I/O path's fast check
    /// before any per-block lookup. Like a lookup, it may miss an entry the
    /// writer is inserting at this very moment; callers that need to wait
    /// for such I/O drain it after marking a block busy.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count().load(Ordering::Acquire) == 0
    }

    #[inline]
    fn home(&self, key: u64) -> u64 {
        ((u128::from(mix(key)) * u128::from(self.slot_count)) >> 64) as u64
    }

    /// The filter word of a key and the 3 bits it sets there, from the
    /// same mixed hash as the home slot (word from the high bits by
    /// multiply-shift, bits from the low 18 bits).
    #[inline]
    fn filter_bits(&self, key: u64) -> (usize, u64) {
        let hash = mix(key);
        let word = ((u128::from(hash) * u128::from(self.filter_count)) >> 64) as usize;
        let bits =
            (1u64 << (hash & 63)) | (1u64 << ((hash >> 6) & 63)) | (1u64 << ((hash >> 12) & 63));
        (word, bits)
    }

    /// False if `key` is certainly absent.
    #[inline]
    fn may_contain(&self, key: u64) -> bool {
        let (word, bits) = self.filter_bits(key);
        match self.filter.get(word) {
            Some(filter) => filter.load(Ordering::Relaxed) & bits == bits,
            None => true,
        }
    }

    #[inline]
    fn next(&self, slot: u64) -> u64 {
        let next = slot + 1;
        if next >= self.slot_count {
            0
        } else {
            next
        }
    }

    /// Distance of the entry with `key` sitting in `slot` from its home.
    #[inline]
    fn displacement(&self, key: u64, slot: u64) -> u64 {
        let home = self.home(key);
        if slot >= home {
            slot - home
        } else {
            slot + self.slot_count - home
        }
    }

    #[inline]
    fn load_key(&self, slot: u64) -> u64 {
        self.slots
            .get(slot as usize * SLOT_WORDS)
            .map_or(0, |word| word.load(Ordering::Relaxed))
    }

    #[inline]
    fn load_value(&self, slot: u64) -> u64 {
        self.slots
            .get(slot as usize * SLOT_WORDS + 1)
            .map_or(0, |word| word.load(Ordering::Relaxed))
    }

    /// Probes for `key`; returns its slot and value. Bounded by the slot
    /// count even if it reads a half-written table (the seqlock retry then
    /// discards the answer).
    #[inline]
    fn probe(&self, key: u64) -> Option<(u64, u64)> {
        if !self.may_contain(key) {
            return None;
        }
        let mut slot = self.home(key);
        let mut distance = 0;
        while distance < self.slot_count {
            let found = self.load_key(slot);
            if found == 0 {
                return None;
            }
            if found == key {
                return Some((slot, self.load_value(slot)));
            }
            if self.displacement(found, slot) < distance {
                return None;
            }
            slot = self.next(slot);
            distance += 1;
        }
        None
    }

    /// Looks up `block`. Never blocks; retries only while a writer is in
    /// the middle of a mutation (a few hundred nanoseconds at most, as
    /// writers mutate with no I/O in between).
    #[inline]
    pub fn get(&self, block: u64) -> Option<Entry> {
        let key = block.checked_add(1)?;
        loop {
            let before = self.seq().load(Ordering::Acquire);
            if before & 1 == 0 {
                let found = self.probe(key);
                fence(Ordering::Acquire);
                if self.seq().load(Ordering::Relaxed) == before {
                    return found.map(|(_, value)| Entry::from_raw(value));
                }
            }
            spin_loop();
        }
    }

    /// Where a read of `block` should go. Pending blocks read from where
    /// their data is (main, or the spare that failed), so the device
    /// reports the honest error instead of returning stale data.
    #[inline]
    pub fn route_read(&self, block: u64) -> Route {
        match self.get(block) {
            None => Route::Main,
            Some(entry) if entry.is_busy() => Route::Defer,
            Some(entry) => match entry.spare() {
                Some(spare) => Route::Spare(spare),
                None => Route::Main,
            },
        }
    }

    /// Where a write to `block` should go.
    #[inline]
    pub fn route_write(&self, block: u64) -> Route {
        match self.get(block) {
            None => Route::Main,
            Some(entry) if entry.is_busy() => Route::Defer,
            Some(entry) if entry.is_pending() => Route::Remap,
            Some(entry) => match entry.spare() {
                Some(spare) => Route::Spare(spare),
                None => Route::Main,
            },
        }
    }

    /// Claims the single writer handle over the borrowed words; `None` if
    /// one already exists (or this is [`RemapTable::empty`]).
    pub fn writer(&self) -> Option<TableWriter<&'a [AtomicU64]>> {
        if core::ptr::eq(self.words, &EMPTY_TABLE[..]) {
            return None;
        }
        TableWriter::claim(self.words).ok()
    }

    /// Number of occupied slots (O(slots)).
    fn occupied(&self) -> u64 {
        (0..self.slot_count)
            .filter(|&slot| self.load_key(slot) != 0)
            .count() as u64
    }

    /// Iterates over all `(block, entry)` pairs in slot order. Only
    /// meaningful on the writer's side: without the seqlock, a concurrent
    /// mutation could move an entry past the iterator.
    pub(super) fn entries(self) -> impl Iterator<Item = (u64, Entry)> + 'a {
        (0..self.slot_count).filter_map(move |slot| {
            let key = self.load_key(slot);
            if key == 0 {
                None
            } else {
                Some((key - 1, Entry::from_raw(self.load_value(slot))))
            }
        })
    }

    fn store(&self, slot: u64, key: u64, value: u64) {
        let index = slot as usize * SLOT_WORDS;
        if let Some(word) = self.slots.get(index) {
            word.store(key, Ordering::Relaxed);
        }
        if let Some(word) = self.slots.get(index + 1) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// Opens a write section: readers that overlap it will retry.
    fn begin_write(&self) -> u64 {
        let seq = self.seq().load(Ordering::Relaxed);
        self.seq().store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        seq
    }

    /// Closes the write section opened at `seq`.
    fn end_write(&self, seq: u64) {
        self.seq().store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// The one handle allowed to mutate a table. The caller serialises writer
/// calls (it owns the handle behind its own lock); readers keep working
/// concurrently through [`RemapTable`]. Mutations are short and do no I/O;
/// in the kernel, run them with preemption disabled (under a spinlock) so a
/// reader never spins behind a sleeping writer.
///
/// `T` is whatever gives access to the table words: a borrowed slice
/// (`&[AtomicU64]`, from [`RemapTable::writer`]) or an owned handle such as
/// a reference-counted buffer ([`TableWriter::claim`]), which the writer
/// then keeps. The writer holds the table's claim word until it is dropped.
/// `T` must deref to the same words every time.
pub struct TableWriter<T: Deref<Target = [AtomicU64]>> {
    words: T,
    len: u64,
    limit: u64,
}

impl<T: Deref<Target = [AtomicU64]>> Drop for TableWriter<T> {
    fn drop(&mut self) {
        if let Ok(table) = RemapTable::new(&self.words) {
            table.claim().store(0, Ordering::Release);
        }
    }
}

impl<T: Deref<Target = [AtomicU64]>> TableWriter<T> {
    /// Claims the single writer handle of the table in `words` and keeps
    /// `words`. Fails with [`TableError::MemoryTooSmall`] or, if another
    /// writer exists, [`TableError::Claimed`]. O(slots): counts the entries.
    pub fn claim(words: T) -> Result<TableWriter<T>, TableError> {
        let (len, limit) = {
            let table = RemapTable::new(&words)?;
            table
                .claim()
                .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .map_err(|_| TableError::Claimed)?;
            (table.occupied(), table.capacity())
        };
        let writer = TableWriter { words, len, limit };
        writer.publish_len();
        Ok(writer)
    }

    /// The view of the writer's words for mutations; `None` only if `T`
    /// broke its promise to deref to the same words every time. Borrows the
    /// `words` field alone, so callers can update `len` meanwhile.
    fn view(words: &T) -> Option<RemapTable<'_>> {
        RemapTable::new(words).ok()
    }

    /// The read-only view of the same table.
    pub fn table(&self) -> RemapTable<'_> {
        Self::view(&self.words).unwrap_or_else(RemapTable::empty)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn publish_len(&self) {
        self.table().count().store(self.len, Ordering::Release);
    }

    /// True if the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most entries the table accepts: the memory's capacity, or the lower
    /// limit set with [`TableWriter::set_limit`].
    pub fn capacity(&self) -> u64 {
        self.limit
    }

    /// Caps the number of entries (the metadata layout can only persist
    /// `max_entries`, even if the memory could hold more).
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit.min(self.table().capacity());
    }

    /// Looks up `block` (writers need no seqlock: nobody else mutates).
    pub fn get(&self, block: u64) -> Option<Entry> {
        let key = block.checked_add(1)?;
        Self::view(&self.words)?
            .probe(key)
            .map(|(_, value)| Entry::from_raw(value))
    }

    /// Inserts or replaces the entry of `block`.
    pub fn set(&mut self, block: u64, entry: Entry) -> Result<(), TableError> {
        let key = block.checked_add(1).ok_or(TableError::BadBlock)?;
        let table = Self::view(&self.words).ok_or(TableError::MemoryTooSmall)?;
        if let Some((slot, _)) = table.probe(key) {
            let seq = table.begin_write();
            table.store(slot, key, entry.raw());
            table.end_write(seq);
            return Ok(());
        }
        if self.len >= self.limit {
            return Err(TableError::Full);
        }
        let seq = table.begin_write();
        let (word, bits) = table.filter_bits(key);
        if let Some(filter) = table.filter.get(word) {
            filter.fetch_or(bits, Ordering::Relaxed);
        }
        // Robin Hood insertion: carry the entry forward; whenever the
        // resident entry is closer to its home than the carried one, swap.
        let mut carried_key = key;
        let mut carried_value = entry.raw();
        let mut slot = table.home(key);
        let mut distance = 0;
        let mut steps = 0;
        while steps < table.slot_count {
            let resident = table.load_key(slot);
            if resident == 0 {
                table.store(slot, carried_key, carried_value);
                break;
            }
            let resident_distance = table.displacement(resident, slot);
            if resident_distance < distance {
                let resident_value = table.load_value(slot);
                table.store(slot, carried_key, carried_value);
                carried_key = resident;
                carried_value = resident_value;
                distance = resident_distance;
            }
            slot = table.next(slot);
            distance += 1;
            steps += 1;
        }
        self.len += 1;
        self.publish_len();
        table.end_write(seq);
        Ok(())
    }

    /// Removes the entry of `block`; returns it if there was one.
    pub fn remove(&mut self, block: u64) -> Option<Entry> {
        let key = block.checked_add(1)?;
        let table = Self::view(&self.words)?;
        let (mut slot, value) = table.probe(key)?;
        let seq = table.begin_write();
        // Backward-shift deletion: pull each following displaced entry one
        // slot back so no probe sequence is broken and no tombstone is left.
        let mut steps = 0;
        while steps < table.slot_count {
            let next = table.next(slot);
            let next_key = table.load_key(next);
            if next_key == 0 || table.displacement(next_key, next) == 0 {
                break;
            }
            table.store(slot, next_key, table.load_value(next));
            slot = next;
            steps += 1;
        }
        table.store(slot, 0, 0);
        self.len = self.len.saturating_sub(1);
        self.publish_len();
        table.end_write(seq);
        Some(Entry::from_raw(value))
    }

    /// Removes every entry (O(slots)).
    pub fn clear(&mut self) {
        if let Some(table) = Self::view(&self.words) {
            let seq = table.begin_write();
            for slot in 0..table.slot_count {
                table.store(slot, 0, 0);
            }
            for filter in table.filter {
                filter.store(0, Ordering::Relaxed);
            }
            table.end_write(seq);
        }
        self.len = 0;
        self.publish_len();
    }

    /// Iterates over all `(block, entry)` pairs in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.table().entries()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    fn memory(capacity: u64) -> Vec<AtomicU64> {
        (0..table_words_for(capacity))
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    #[test]
    fn sizing_stays_under_24_bytes_per_entry() {
        for capacity in [1u64, 10, 1000, 1 << 20] {
            let bytes = table_words_for(capacity) * 8;
            assert!(bytes <= capacity * 24 + 128, "{capacity}: {bytes}");
            assert!(bytes <= capacity * 22 + 128, "{capacity}: {bytes}");
            let words = memory(capacity.min(5000));
            let table = RemapTable::new(&words).unwrap();
            assert!(table.capacity() >= capacity.min(5000));
        }
    }

    #[test]
    fn geometry_is_the_most_slots_that_fit() {
        let lengths = (0..20_000u64).chain([1 << 20, (1 << 20) + 5, 22_369_621, 1 << 40]);
        for body in lengths {
            let slots = slots_fitting(body);
            assert!(body_words_for(slots) <= body, "{body}: {slots}");
            assert!(body_words_for(slots + 1) > body, "{body}: {slots}");
        }
        // Views of the same words agree with the writer's geometry; views
        // of too little memory are refused without panicking.
        for capacity in [1u64, 7, 8, 100, 4096] {
            let words = memory(capacity);
            let lens = [words.len(), words.len() - 1, words.len().saturating_sub(17)];
            for len in lens
                .into_iter()
                .filter(|&len| len >= TABLE_HEADER_WORDS + 3)
            {
                let view = RemapTable::view(&words[..len]).unwrap();
                let table = RemapTable::new(&words[..len]).unwrap();
                assert_eq!(view.slot_count(), table.slot_count());
                assert_eq!(
                    slots_fitting((len - TABLE_HEADER_WORDS) as u64),
                    view.slot_count()
                );
            }
            assert!(RemapTable::view(&words).unwrap().capacity() >= capacity);
        }
        let words = memory(1);
        for len in 0..=TABLE_HEADER_WORDS + 2 {
            assert!(RemapTable::view(&words[..len]).is_none(), "{len}");
        }
        assert!(RemapTable::view(&words[..TABLE_HEADER_WORDS + 3]).is_some());
    }

    #[test]
    fn empty_table_routes_to_main_and_has_no_writer() {
        let table = RemapTable::empty();
        assert_eq!(table.route_read(0), Route::Main);
        assert_eq!(table.route_write(u64::MAX), Route::Main);
        assert!(table.writer().is_none());
    }

    #[test]
    fn owned_writer_claims_until_dropped() {
        use std::sync::Arc;
        let words: Arc<[AtomicU64]> = memory(64).into();
        let reader = Arc::clone(&words);
        let view = RemapTable::view(&reader).unwrap();
        let mut writer = TableWriter::claim(words).unwrap();
        assert!(view.writer().is_none());
        assert_eq!(
            TableWriter::claim(Arc::clone(&reader)).err(),
            Some(TableError::Claimed)
        );
        writer.set(3, Entry::new(Entry::REMAPPED, 7)).unwrap();
        assert_eq!(view.route_read(3), Route::Spare(7));
        assert_eq!(writer.table().route_read(3), Route::Spare(7));
        drop(writer);
        // A new writer counts the entries already there.
        let writer = view.writer().unwrap();
        assert_eq!(writer.len(), 1);
        assert_eq!(
            TableWriter::claim(&reader[..TABLE_HEADER_WORDS]).err(),
            Some(TableError::MemoryTooSmall)
        );
    }

    #[test]
    fn insert_lookup_remove_against_hashmap() {
        let words = memory(500);
        let table = RemapTable::new(&words).unwrap();
        let mut writer = table.writer().unwrap();
        assert!(table.writer().is_none(), "second writer must be refused");
        let mut model = HashMap::new();
        let mut state = 0x1234_5678_9ABC_DEF0u64;
        for step in 0..20000u64 {
            state = mix(state.wrapping_add(step));
            let block = state % 700;
            if state.wrapping_rem(3) == 0 {
                assert_eq!(writer.remove(block), model.remove(&block));
            } else {
                let entry = Entry::new(Entry::REMAPPED, state % 1000);
                match writer.set(block, entry) {
                    Ok(()) => {
                        model.insert(block, entry);
                    }
                    Err(TableError::Full) => assert!(model.len() as u64 >= writer.capacity()),
                    Err(other) => panic!("{other:?}"),
                }
            }
            assert_eq!(writer.len(), model.len() as u64);
            if step % 97 == 0 {
                for probe in 0..700 {
                    assert_eq!(table.get(probe), model.get(&probe).copied());
                }
            }
        }
        let mut seen: Vec<_> = writer.iter().collect();
        seen.sort_by_key(|(block, _)| *block);
        let mut expected: Vec<_> = model.into_iter().collect();
        expected.sort_by_key(|(block, _)| *block);
        assert_eq!(seen, expected);
        drop(writer);
        assert!(table.writer().is_some(), "claim is released on drop");
    }

    #[test]
    fn full_table_refuses_and_stays_consistent() {
        let words = memory(10);
        let table = RemapTable::new(&words).unwrap();
        let mut writer = table.writer().unwrap();
        let capacity = writer.capacity();
        for block in 0..capacity {
            writer
                .set(block * 1000, Entry::new(Entry::PENDING, 0))
                .unwrap();
        }
        assert_eq!(
            writer.set(5, Entry::new(Entry::PENDING, 0)),
            Err(TableError::Full)
        );
        // Updating an existing key still works when full.
        writer.set(0, Entry::new(Entry::REMAPPED, 3)).unwrap();
        assert_eq!(table.get(0).and_then(|e| e.spare()), Some(3));
        assert_eq!(table.get(5), None);
        assert_eq!(
            writer.set(u64::MAX, Entry::new(Entry::PENDING, 0)),
            Err(TableError::BadBlock)
        );
    }

    #[test]
    fn routes_follow_flags() {
        let words = memory(16);
        let table = RemapTable::new(&words).unwrap();
        let mut writer = table.writer().unwrap();
        writer.set(1, Entry::new(Entry::REMAPPED, 9)).unwrap();
        writer.set(2, Entry::new(Entry::PENDING, 0)).unwrap();
        writer.set(3, Entry::new(Entry::BUSY, 0)).unwrap();
        writer
            .set(4, Entry::new(Entry::REMAPPED | Entry::PENDING, 5))
            .unwrap();
        assert_eq!(table.route_read(0), Route::Main);
        assert_eq!(table.route_read(1), Route::Spare(9));
        assert_eq!(table.route_write(1), Route::Spare(9));
        assert_eq!(table.route_read(2), Route::Main);
        assert_eq!(table.route_write(2), Route::Remap);
        assert_eq!(table.route_read(3), Route::Defer);
        assert_eq!(table.route_write(3), Route::Defer);
        assert_eq!(table.route_read(4), Route::Spare(5));
        assert_eq!(table.route_write(4), Route::Remap);
    }

    #[test]
    fn concurrent_readers_see_only_committed_values() {
        use std::sync::atomic::AtomicBool;
        use std::thread;
        let words = memory(4096);
        let table = RemapTable::new(&words).unwrap();
        let stop = AtomicBool::new(false);
        let checks = AtomicU64::new(0);
        thread::scope(|scope| {
            let reader = scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    for block in 0..256u64 {
                        if let Some(entry) = table.get(block) {
                            // Writers only ever store spare == block * 2.
                            assert_eq!(entry.spare(), Some(block * 2));
                            checks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
            let mut writer = table.writer().unwrap();
            let mut round = 0u64;
            while round < 2000 || checks.load(Ordering::Relaxed) < 100_000 {
                for block in 0..256u64 {
                    if (block + round).wrapping_rem(3) == 0 {
                        writer.remove(block);
                    } else {
                        writer
                            .set(block, Entry::new(Entry::REMAPPED, block * 2))
                            .unwrap();
                    }
                }
                round += 1;
            }
            stop.store(true, Ordering::Relaxed);
            reader.join().unwrap();
        });
    }
}
