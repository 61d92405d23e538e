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

/// Bitmaps kept per spare block (used, bad, in flight).
const BITMAPS: u64 = 3;

/// u64 words of caller memory an allocator over `blocks` spare blocks needs
/// (all bitmaps).
pub fn allocator_words_for(blocks: u64) -> u64 {
    blocks.div_ceil(64).saturating_mul(BITMAPS)
}

/// The spare pool.
pub struct SpareAllocator<'a> {
    used: &'a mut [u64],
    bad: &'a mut [u64],
    in_flight: &'a mut [u64],
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

impl<'a> SpareAllocator<'a> {
    /// Builds an allocator over `blocks` spare blocks in `words` (at least
    /// [`allocator_words_for`]`(blocks)` words). The memory is cleared: the
    /// state is rebuilt by the metadata loader.
    pub fn new(words: &'a mut [u64], blocks: u64) -> Result<SpareAllocator<'a>, AllocError> {
        let per_map =
            usize::try_from(blocks.div_ceil(64)).map_err(|_| AllocError::MemoryTooSmall)?;
        if words.len() / (BITMAPS as usize) < per_map {
            return Err(AllocError::MemoryTooSmall);
        }
        let (used, rest) = words.split_at_mut(per_map);
        let (bad, rest) = rest.split_at_mut(per_map);
        let in_flight = rest.get_mut(..per_map).ok_or(AllocError::MemoryTooSmall)?;
        used.fill(0);
        bad.fill(0);
        in_flight.fill(0);
        Ok(SpareAllocator {
            used,
            bad,
            in_flight,
            blocks,
            used_count: 0,
            bad_count: 0,
            next_word: 0,
        })
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
        for (used, bad) in self.used.iter().zip(self.bad.iter()) {
            taken += u64::from((used | bad).count_ones());
        }
        self.blocks.saturating_sub(taken)
    }

    /// True if `index` is in use.
    pub fn is_used(&self, index: u64) -> bool {
        bit(self.used, index)
    }

    /// True if `index` is marked bad.
    pub fn is_bad(&self, index: u64) -> bool {
        bit(self.bad, index)
    }

    /// Hands out a free, good block and marks it used; `None` when the pool
    /// is exhausted.
    pub fn allocate(&mut self) -> Option<u64> {
        let words = self.used.len();
        for step in 0..words {
            let word_index = (self.next_word + step) % words;
            let taken = self.used.get(word_index).copied().unwrap_or(u64::MAX)
                | self.bad.get(word_index).copied().unwrap_or(u64::MAX);
            if taken == u64::MAX {
                continue;
            }
            let index = word_index as u64 * 64 + u64::from((!taken).trailing_zeros());
            if index >= self.blocks {
                continue;
            }
            put_bit(self.used, index, true);
            self.used_count += 1;
            self.next_word = word_index;
            return Some(index);
        }
        None
    }

    /// Marks an allocated block as handed to a remap in progress.
    pub fn set_in_flight(&mut self, index: u64) {
        if index < self.blocks {
            put_bit(self.in_flight, index, true);
        }
    }

    /// True if `index` belongs to a remap in progress.
    pub fn is_in_flight(&self, index: u64) -> bool {
        bit(self.in_flight, index)
    }

    /// Ends the in-progress state of `index`; false if it was not in flight.
    pub fn clear_in_flight(&mut self, index: u64) -> bool {
        index < self.blocks && put_bit(self.in_flight, index, false)
    }

    /// Marks a specific block used (loading metadata). Bad blocks may be
    /// marked used: a remapped block keeps its spare after the spare failed
    /// until it is remapped again.
    pub fn mark_used(&mut self, index: u64) -> Result<(), AllocError> {
        if index >= self.blocks {
            return Err(AllocError::OutOfRange);
        }
        if put_bit(self.used, index, true) {
            return Err(AllocError::AlreadyUsed);
        }
        self.used_count += 1;
        Ok(())
    }

    /// Returns a block to the pool (it stays excluded if it is bad).
    pub fn release(&mut self, index: u64) {
        if index < self.blocks && put_bit(self.used, index, false) {
            self.used_count = self.used_count.saturating_sub(1);
        }
    }

    /// Marks a block bad: it is never handed out again.
    pub fn mark_bad(&mut self, index: u64) -> Result<(), AllocError> {
        if index >= self.blocks {
            return Err(AllocError::OutOfRange);
        }
        if !put_bit(self.bad, index, true) {
            self.bad_count += 1;
        }
        Ok(())
    }

    /// The bad-block bitmap words (persisted in snapshots).
    pub fn bad_words(&self) -> &[u64] {
        self.bad
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
        let word = self.bad.get_mut(word_index).ok_or(AllocError::OutOfRange)?;
        self.bad_count = self
            .bad_count
            .saturating_sub(u64::from(word.count_ones()))
            .saturating_add(u64::from(value.count_ones()));
        *word = value;
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
