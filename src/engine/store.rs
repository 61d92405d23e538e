//! The write side of the metadata: log appends, commits, snapshots.
//!
//! Commit protocol (see `docs/engine.md`):
//!
//! * Each change is appended as a record to an in-memory log block. When
//!   the block is full it is written (not flushed) and a new one started.
//! * `commit` writes the last block with the `COMMIT_END` flag and flushes.
//!   A commit is durable, and may be acknowledged, only when that flush
//!   returns.
//! * When the log area has no room, the whole state is written as a
//!   snapshot of generation `g + 1` into snapshot area `(g + 1) % 2`,
//!   flushed, then the superblock of `g + 1` is written into slot
//!   `(g + 1) % 2` and flushed. The log then restarts at position 0 for the
//!   new generation; old log blocks carry the old generation and are never
//!   replayed again.

use core::ops::DerefMut;

use super::block::{as_block_mut, MetaBlock, META_BLOCK_BYTES, RECORDS_PER_BLOCK};
use super::device::MetaDevice;
use super::error::MetaError;
use super::layout::{DeviceBinding, Layout};
use super::log::{finish_log_block, put_record, start_log_block, Record};
use super::snapshot::write_snapshot;
use super::superblock::Superblock;
use super::table::RemapTable;

/// Bytes of I/O buffer the store needs: one block for the log block being
/// built, one for reads and snapshot writes.
pub const STORE_BUFFER_BYTES: usize = 2 * META_BLOCK_BYTES;

/// The in-memory state a snapshot is taken of (read on the writer's side).
#[derive(Clone, Copy)]
pub struct StateRef<'s> {
    /// The remap table.
    pub table: RemapTable<'s>,
    /// The spare pool's bad-block bitmap words.
    pub bad_spares: &'s [u64],
    /// The scanner cursor.
    pub scanner_cursor: u64,
}

/// Log position and commit numbering after loading a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogPosition {
    /// Next log block to write.
    pub next_block: u64,
    /// Number of the next commit.
    pub next_commit: u64,
}

/// Metadata writer state. `U` gives access to an I/O buffer of
/// [`STORE_BUFFER_BYTES`] bytes, which the store keeps: the log block being
/// built, then a scratch block for reads and snapshot writes.
pub struct Store<U: DerefMut<Target = [u8]>, D: MetaDevice> {
    device: D,
    buffer: U,
    superblock: Superblock,
    position: LogPosition,
    buffered: usize,
    dirty: bool,
    failed: bool,
    commits: u64,
    snapshots: u64,
}

/// Splits a caller buffer of [`STORE_BUFFER_BYTES`] into two blocks.
pub fn split_buffer(buffer: &mut [u8]) -> Result<(&mut MetaBlock, &mut MetaBlock), MetaError> {
    if buffer.len() < STORE_BUFFER_BYTES {
        return Err(MetaError::BufferTooSmall);
    }
    let (first, second) = buffer.split_at_mut(META_BLOCK_BYTES);
    let first = as_block_mut(first).ok_or(MetaError::BufferTooSmall)?;
    let second = as_block_mut(second).ok_or(MetaError::BufferTooSmall)?;
    Ok((first, second))
}

impl<U: DerefMut<Target = [u8]>, D: MetaDevice> Store<U, D> {
    /// Resumes writing after `superblock` and its log up to `position`.
    /// The caller normally follows with [`Store::snapshot`] so the log
    /// restarts in a fresh generation (see `Engine::open`).
    pub fn resume(
        device: D,
        mut buffer: U,
        superblock: Superblock,
        position: LogPosition,
    ) -> Result<Store<U, D>, MetaError> {
        split_buffer(&mut buffer)?;
        Ok(Store {
            device,
            buffer,
            superblock,
            position,
            buffered: 0,
            dirty: false,
            failed: false,
            commits: 0,
            snapshots: 0,
        })
    }

    /// Writes generation 0 (empty state) on a blank spare region.
    pub fn format(
        mut device: D,
        mut buffer: U,
        binding: DeviceBinding,
        layout: Layout,
        state: &StateRef<'_>,
    ) -> Result<Store<U, D>, MetaError> {
        let (_, scratch) = split_buffer(&mut buffer)?;
        let summary = write_snapshot(
            &mut device,
            scratch,
            &layout,
            0,
            0,
            state.table,
            state.bad_spares,
            state.scanner_cursor,
        )?;
        // Slot B must not hold anything a later probe could mistake for a
        // newer generation, and the log must hold nothing of an earlier
        // format: recovery treats a sound block of the current or a newer
        // generation anywhere in the log as proof of committed state.
        scratch.fill(0);
        device.write(Layout::superblock_sector(1), &scratch[..])?;
        let mut position = 0;
        while let Some(sector) = layout.log_block_sector(position) {
            device.write(sector, &scratch[..])?;
            position += 1;
        }
        device.flush()?;
        let superblock = Superblock {
            generation: 0,
            binding,
            layout,
            snapshot_used_blocks: summary.used_blocks,
            snapshot_entries: summary.entries,
            snapshot_checksum: summary.checksum,
        };
        superblock.encode(scratch);
        device.write(Layout::superblock_sector(0), &scratch[..])?;
        device.flush()?;
        Ok(Store {
            device,
            buffer,
            superblock,
            position: LogPosition {
                next_block: 0,
                next_commit: 0,
            },
            buffered: 0,
            dirty: false,
            failed: false,
            commits: 0,
            snapshots: 1,
        })
    }

    /// The superblock of the current generation.
    pub fn superblock(&self) -> &Superblock {
        &self.superblock
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.superblock.generation
    }

    /// The layout in force.
    pub fn layout(&self) -> &Layout {
        &self.superblock.layout
    }

    /// The next log position.
    pub fn position(&self) -> LogPosition {
        self.position
    }

    /// True if changes were recorded since the last commit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// True once a metadata write has failed.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Commits made (log commits and snapshots) since this store was built.
    pub fn commit_count(&self) -> u64 {
        self.commits
    }

    /// Snapshots written since this store was built.
    pub fn snapshot_count(&self) -> u64 {
        self.snapshots
    }

    /// The metadata device and the I/O buffer, for reloading in place.
    pub fn parts_mut(&mut self) -> (&mut D, &mut U) {
        (&mut self.device, &mut self.buffer)
    }

    /// Continues from `superblock` and `position` (as [`Store::resume`],
    /// keeping the device and buffer).
    pub fn resume_in_place(&mut self, superblock: Superblock, position: LogPosition) {
        self.superblock = superblock;
        self.position = position;
        self.buffered = 0;
        self.dirty = false;
        self.failed = false;
    }

    /// The metadata device.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Gives the device back.
    pub fn into_device(self) -> D {
        self.device
    }

    fn check_usable(&self) -> Result<(), MetaError> {
        if self.failed {
            Err(MetaError::Failed)
        } else {
            Ok(())
        }
    }

    /// Marks the store failed if `result` is an error.
    fn guard<T>(&mut self, result: Result<T, MetaError>) -> Result<T, MetaError> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Appends `record`, which the caller has already applied to `state`.
    /// May write a full log block (not flushed) or, if the log is full,
    /// take a snapshot that already contains the change.
    pub fn record(&mut self, record: &Record, state: &StateRef<'_>) -> Result<(), MetaError> {
        self.check_usable()?;
        if self.buffered == RECORDS_PER_BLOCK {
            // A full block may only be written if a later block can still
            // end the commit.
            let next = self.position.next_block;
            if next.saturating_add(1) < u64::from(self.layout().log_blocks) {
                let result = self.write_log_block(false);
                self.guard(result)?;
            } else {
                return self.snapshot(None, state);
            }
        }
        let index = self.position.next_block;
        let start = if self.buffered == 0 {
            let Some(sector) = self.layout().log_block_sector(index) else {
                // The log is full and the change is already in memory.
                return self.snapshot(None, state);
            };
            Some(sector)
        } else {
            None
        };
        let (generation, commit) = (self.superblock.generation, self.position.next_commit);
        let (log_block, _) = split_buffer(&mut self.buffer)?;
        if let Some(sector) = start {
            start_log_block(log_block, sector, index, generation, commit);
        }
        put_record(log_block, self.buffered, record);
        self.buffered += 1;
        self.dirty = true;
        Ok(())
    }

    fn write_log_block(&mut self, commit_end: bool) -> Result<(), MetaError> {
        let index = self.position.next_block;
        let sector = self
            .layout()
            .log_block_sector(index)
            .ok_or(MetaError::Failed)?;
        let (log_block, _) = split_buffer(&mut self.buffer)?;
        finish_log_block(log_block, self.buffered, commit_end);
        self.device.write(sector, &log_block[..])?;
        self.position.next_block += 1;
        self.buffered = 0;
        Ok(())
    }

    /// Makes every recorded change durable. Returns only after the flush
    /// that makes the commit durable has returned.
    pub fn commit(&mut self, state: &StateRef<'_>) -> Result<(), MetaError> {
        self.check_usable()?;
        if !self.dirty {
            return Ok(());
        }
        if self.buffered == 0 {
            return self.snapshot(None, state);
        }
        // Flush first: data the caller wrote to spare blocks for these
        // remaps must be stable before the block that ends the commit (and
        // so publishes the remaps) can be.
        let result = self
            .device
            .flush()
            .map_err(MetaError::from)
            .and_then(|()| self.write_log_block(true))
            .and_then(|()| self.device.flush().map_err(MetaError::from));
        self.guard(result)?;
        self.position.next_commit += 1;
        self.dirty = false;
        self.commits += 1;
        Ok(())
    }

    /// Writes the whole state as a new generation (optionally with a new,
    /// grown layout) and restarts the log. This is also a commit.
    pub fn snapshot(
        &mut self,
        new_layout: Option<Layout>,
        state: &StateRef<'_>,
    ) -> Result<(), MetaError> {
        self.check_usable()?;
        let result = self.write_generation(new_layout, state);
        self.guard(result)
    }

    fn write_generation(
        &mut self,
        new_layout: Option<Layout>,
        state: &StateRef<'_>,
    ) -> Result<(), MetaError> {
        let generation = self
            .superblock
            .generation
            .checked_add(1)
            .ok_or(MetaError::Failed)?;
        let layout = new_layout.unwrap_or(self.superblock.layout);
        let area = (generation % 2) as usize;
        let (_, scratch) = split_buffer(&mut self.buffer)?;
        let summary = write_snapshot(
            &mut self.device,
            scratch,
            &layout,
            area,
            generation,
            state.table,
            state.bad_spares,
            state.scanner_cursor,
        )?;
        self.device.flush()?;
        let superblock = Superblock {
            generation,
            binding: self.superblock.binding,
            layout,
            snapshot_used_blocks: summary.used_blocks,
            snapshot_entries: summary.entries,
            snapshot_checksum: summary.checksum,
        };
        superblock.encode(scratch);
        self.device.write(
            Layout::superblock_sector(superblock.slot().index()),
            &scratch[..],
        )?;
        self.device.flush()?;
        self.superblock = superblock;
        self.position = LogPosition {
            next_block: 0,
            next_commit: 0,
        };
        self.buffered = 0;
        self.dirty = false;
        self.commits += 1;
        self.snapshots += 1;
        Ok(())
    }
}
