//! Spare block allocator: two bitmaps over the spare data blocks, in caller
//! memory.
//!
//! * `used`: the block holds (or is being filled with) data of a remapped
//!   main block. Not persisted as such — it is rebuilt from the remap
//!   entries at load time, so it can never disagree with them.
//! * `bad`: the block failed; it is never handed out again. Persisted in
//!   every snapshot and by `spare-bad` log records.
//!
//! * `in_flight`: handed out by a remap that has not completed or failed
//!   yet, so a ticket can be redeemed exactly once. Memory only.
//!
//! All-zero memory is an empty pool. Allocation is next-fit over whole
//! words, so it skips 64 taken blocks per step.

/// Why an allocator operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The bitmap memory is too small for the number of blocks.
    MemoryTooSmall,
    /// The index is outside the pool.
    OutOfRange,
    /// The block is already in use.
    AlreadyUsed,
}

use core::ops::DerefMut;

/// Bitmaps kept per spare block (used, bad, in flight).
const BITMAPS: u64 = 3;

/// u64 words of caller memory an allocator over `blocks` spare blocks needs
/// (all bitmaps).
pub fn allocator_words_for(blocks: u64) -> u64 {
    blocks.div_ceil(64).saturating_mul(BITMAPS)
}

/// The spare pool.
///
/// `B` gives access to the bitmap words: a borrowed slice (`&mut [u64]`,
/// [`SpareAllocator::new`]) or an owned buffer
/// ([`SpareAllocator::with_memory`]), which the allocator keeps. `B` must
/// deref to the same words every time.
pub struct SpareAllocator<B: DerefMut<Target = [u64]>> {
    /// `used`, `bad` and `in_flight` bitmaps of `map_words` words each, in
    /// that order.
    words: B,
    map_words: usize,
    blocks: u64,
    used_count: u64,
    bad_count: u64,
    next_word: usize,
}

fn bit(words: &[u64], index: u64) -> bool {
    words
        .get((index / 64) as usize)
        .is_some_and(|word| word & (1u64 << (index % 64)) != 0)
}

/// Sets or clears a bit; returns the previous value.
fn put_bit(words: &mut [u64], index: u64, value: bool) -> bool {
    match words.get_mut((index / 64) as usize) {
        Some(word) => {
            let mask = 1u64 << (index % 64);
            let old = *word & mask != 0;
            if value {
                *word |= mask;
            } else {
                *word &= !mask;
            }
            old
        }
        None => false,
    }
}

/// The three bitmaps of `map_words` words each in `words` (empty slices if
/// `words` is too short, which `with_memory` rules out).
struct Maps<'w> {
    used: &'w mut [u64],
    bad: &'w mut [u64],
    in_flight: &'w mut [u64],
}

fn split_maps(words: &mut [u64], map_words: usize) -> Maps<'_> {
    let map_words = if words.len() / (BITMAPS as usize) >= map_words {
        map_words
    } else {
        0
    };
    // Cannot panic: each split point is at most the remaining length.
    let (used, rest) = words.split_at_mut(map_words);
    let (bad, rest) = rest.split_at_mut(map_words);
    let (in_flight, _) = rest.split_at_mut(map_words);
    Maps {
        used,
        bad,
        in_flight,
    }
}

/// Bitmap `map` (0 used, 1 bad, 2 in flight) of `map_words` words.
fn map(words: &[u64], map_words: usize, map: usize) -> &[u64] {
    let start = map_words.saturating_mul(map);
    words
        .get(start..start.saturating_add(map_words))
        .unwrap_or(&[])
}

impl<'a> SpareAllocator<&'a mut [u64]> {
    /// Builds an allocator over `blocks` spare blocks in the borrowed
    /// `words` (at least [`allocator_words_for`]`(blocks)` words). The
    /// memory is cleared: the state is rebuilt by the metadata loader.
    pub fn new(words: &'a mut [u64], blocks: u64) -> Result<Self, AllocError> {
        Self::with_memory(words, blocks)
    }
}

impl<B: DerefMut<Target = [u64]>> SpareAllocator<B> {
    /// Builds an allocator over `blocks` spare blocks in `words` (at least
    /// [`allocator_words_for`]`(blocks)` words), which it keeps. The memory
    /// is cleared: the state is rebuilt by the metadata loader.
    pub fn with_memory(mut words: B, blocks: u64) -> Result<Self, AllocError> {
        let map_words =
            usize::try_from(blocks.div_ceil(64)).map_err(|_| AllocError::MemoryTooSmall)?;
        if words.len() / (BITMAPS as usize) < map_words {
            return Err(AllocError::MemoryTooSmall);
        }
        let maps = split_maps(&mut words, map_words);
        maps.used.fill(0);
        maps.bad.fill(0);
        maps.in_flight.fill(0);
        Ok(SpareAllocator {
            words,
            map_words,
            blocks,
            used_count: 0,
            bad_count: 0,
            next_word: 0,
        })
    }

    /// Forgets every allocation, bad mark and in-flight mark (before the
    /// metadata loader rebuilds the state).
    pub fn reset(&mut self) {
        let maps = split_maps(&mut self.words, self.map_words);
        maps.used.fill(0);
        maps.bad.fill(0);
        maps.in_flight.fill(0);
        self.used_count = 0;
        self.bad_count = 0;
        self.next_word = 0;
    }

    fn used(&self) -> &[u64] {
        map(&self.words, self.map_words, 0)
    }

    fn bad(&self) -> &[u64] {
        map(&self.words, self.map_words, 1)
    }

    fn in_flight(&self) -> &[u64] {
        map(&self.words, self.map_words, 2)
    }

    fn maps_mut(&mut self) -> Maps<'_> {
        split_maps(&mut self.words, self.map_words)
    }

    /// Number of spare blocks in the pool.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Blocks in use.
    pub fn used_count(&self) -> u64 {
        self.used_count
    }

    /// Blocks marked bad.
    pub fn bad_count(&self) -> u64 {
        self.bad_count
    }

    /// Blocks that can still be handed out.
    pub fn free_count(&self) -> u64 {
        let mut taken = 0u64;
        for (used, bad) in self.used().iter().zip(self.bad().iter()) {
            taken += u64::from((used | bad).count_ones());
        }
        self.blocks.saturating_sub(taken)
    }

    /// True if `index` is in use.
    pub fn is_used(&self, index: u64) -> bool {
        bit(self.used(), index)
    }

    /// True if `index` is marked bad.
    pub fn is_bad(&self, index: u64) -> bool {
        bit(self.bad(), index)
    }

    /// Hands out a free, good block and marks it used; `None` when the pool
    /// is exhausted.
    pub fn allocate(&mut self) -> Option<u64> {
        let (blocks, next_word) = (self.blocks, self.next_word);
        let maps = split_maps(&mut self.words, self.map_words);
        let words = maps.used.len();
        for step in 0..words {
            let word_index = (next_word + step) % words;
            let taken = maps.used.get(word_index).copied().unwrap_or(u64::MAX)
                | maps.bad.get(word_index).copied().unwrap_or(u64::MAX);
            if taken == u64::MAX {
                continue;
            }
            let index = word_index as u64 * 64 + u64::from((!taken).trailing_zeros());
            if index >= blocks {
                continue;
            }
            put_bit(maps.used, index, true);
            self.used_count += 1;
            self.next_word = word_index;
            return Some(index);
        }
        None
    }

    /// Marks an allocated block as handed to a remap in progress.
    pub fn set_in_flight(&mut self, index: u64) {
        if index < self.blocks {
            put_bit(self.maps_mut().in_flight, index, true);
        }
    }

    /// True if `index` belongs to a remap in progress.
    pub fn is_in_flight(&self, index: u64) -> bool {
        bit(self.in_flight(), index)
    }

    /// Ends the in-progress state of `index`; false if it was not in flight.
    pub fn clear_in_flight(&mut self, index: u64) -> bool {
        index < self.blocks && put_bit(self.maps_mut().in_flight, index, false)
    }

    /// Marks a specific block used (loading metadata). Bad blocks may be
    /// marked used: a remapped block keeps its spare after the spare failed
    /// until it is remapped again.
    pub fn mark_used(&mut self, index: u64) -> Result<(), AllocError> {
        if index >= self.blocks {
            return Err(AllocError::OutOfRange);
        }
        if put_bit(self.maps_mut().used, index, true) {
            return Err(AllocError::AlreadyUsed);
        }
        self.used_count += 1;
        Ok(())
    }

    /// Returns a block to the pool (it stays excluded if it is bad).
    pub fn release(&mut self, index: u64) {
        if index < self.blocks && put_bit(self.maps_mut().used, index, false) {
            self.used_count = self.used_count.saturating_sub(1);
        }
    }

    /// Marks a block bad: it is never handed out again.
    pub fn mark_bad(&mut self, index: u64) -> Result<(), AllocError> {
        if index >= self.blocks {
            return Err(AllocError::OutOfRange);
        }
        if !put_bit(self.maps_mut().bad, index, true) {
            self.bad_count += 1;
        }
        Ok(())
    }

    /// The bad-block bitmap words (persisted in snapshots).
    pub fn bad_words(&self) -> &[u64] {
        self.bad()
    }

    /// Loads bad-block bitmap word `word_index` from a snapshot.
    pub fn load_bad_word(&mut self, word_index: usize, value: u64) -> Result<(), AllocError> {
        let valid_bits = self.blocks.saturating_sub(word_index as u64 * 64);
        let mask = if valid_bits >= 64 {
            u64::MAX
        } else {
            (1u64 << valid_bits) - 1
        };
        if value & !mask != 0 {
            return Err(AllocError::OutOfRange);
        }
        let bad_count = self.bad_count;
        let word = self
            .maps_mut()
            .bad
            .get_mut(word_index)
            .ok_or(AllocError::OutOfRange)?;
        let bad_count = bad_count
            .saturating_sub(u64::from(word.count_ones()))
            .saturating_add(u64::from(value.count_ones()));
        *word = value;
        self.bad_count = bad_count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn all_blocks_handed_out_once_and_bad_never() {
        let mut words = vec![0u64; allocator_words_for(130) as usize];
        let mut pool = SpareAllocator::new(&mut words, 130).unwrap();
        pool.mark_bad(5).unwrap();
        pool.mark_bad(129).unwrap();
        let mut seen = std::collections::HashSet::new();
        while let Some(index) = pool.allocate() {
            assert!(index < 130 && index != 5 && index != 129);
            assert!(seen.insert(index));
        }
        assert_eq!(seen.len(), 128);
        assert_eq!(pool.free_count(), 0);
        pool.release(7);
        assert_eq!(pool.allocate(), Some(7));
        assert_eq!(pool.mark_used(7), Err(AllocError::AlreadyUsed));
        assert_eq!(pool.mark_used(130), Err(AllocError::OutOfRange));
        assert_eq!(pool.bad_count(), 2);
    }

    #[test]
    fn bad_word_loading_rejects_bits_past_the_end() {
        let mut words = vec![0u64; allocator_words_for(70) as usize];
        let mut pool = SpareAllocator::new(&mut words, 70).unwrap();
        assert_eq!(pool.load_bad_word(1, 1 << 6), Err(AllocError::OutOfRange));
        pool.load_bad_word(1, 1 << 5).unwrap();
        assert!(pool.is_bad(69));
        assert_eq!(pool.bad_count(), 1);
        assert_eq!(pool.load_bad_word(2, 0), Err(AllocError::OutOfRange));
    }

    #[test]
    fn too_little_memory_is_refused() {
        let mut words = vec![0u64; 3];
        assert!(SpareAllocator::new(&mut words, 129).is_err());
    }
}
