//! Log blocks and log records: the O(changes) part of a commit.
//!
//! Every commit appends one or more log blocks; the last block of a commit
//! carries the `COMMIT_END` flag, and recovery applies a commit only when
//! all of its blocks, up to and including that one, are valid. A log block
//! is valid only in the generation named in its header, at the position
//! named in its header, so blocks left over from an earlier log cycle (an
//! older generation) are never replayed.

use super::block::{
    check_frame, get_u32, get_u64, put_u32, put_u64, record_offset, seal, start_block, MetaBlock,
    MAGIC_LOG, OFF_CHECKSUM, OFF_FLAGS, OFF_GENERATION, RECORDS_PER_BLOCK,
};
use super::error::LogFault;
use super::table::{Entry, MAX_SPARE_INDEX};

/// Block flag: this block ends a commit.
pub const FLAG_COMMIT_END: u32 = 1;
/// Offset of the u64 index (position in the log area).
pub const OFF_LOG_INDEX: usize = 0x20;
/// Offset of the u64 commit number (0 for the first commit of a generation).
pub const OFF_LOG_COMMIT: usize = 0x28;
/// Offset of the u32 record count.
pub const OFF_LOG_RECORD_COUNT: usize = 0x30;
/// First reserved header byte (zero up to the payload).
pub const OFF_LOG_RESERVED: usize = 0x34;

/// Op byte of an entry record with flags REMAPPED.
pub const OP_ENTRY_REMAPPED: u8 = 0x01;
/// Op byte of an entry record with flags PENDING.
pub const OP_ENTRY_PENDING: u8 = 0x02;
/// Op byte of an entry record with flags REMAPPED | PENDING.
pub const OP_ENTRY_REMAPPED_PENDING: u8 = 0x03;
/// Op byte of a clear record (the block is healthy again).
pub const OP_CLEAR: u8 = 0x10;
/// Op byte of a spare-bad record.
pub const OP_SPARE_BAD: u8 = 0x20;
/// Op byte of a scanner-cursor record.
pub const OP_SCANNER_CURSOR: u8 = 0x30;

/// One change to the persistent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Main block `block` now has `entry` (persistent flags only).
    Entry {
        /// Main block.
        block: u64,
        /// New entry.
        entry: Entry,
    },
    /// Main block `block` has no entry any more.
    Clear {
        /// Main block.
        block: u64,
    },
    /// Spare block `spare` failed and is never used again.
    SpareBad {
        /// Spare block index.
        spare: u64,
    },
    /// The background scanner reached main block `position`.
    ScannerCursor {
        /// Next main block to scan.
        position: u64,
    },
}

impl Record {
    /// The two little-endian words stored on disk.
    pub fn encode(&self) -> (u64, u64) {
        let op = |op: u8| u64::from(op) << 56;
        match *self {
            Record::Entry { block, entry } => {
                let flags = entry.flags() & Entry::PERSISTENT_FLAGS;
                (block, entry.spare().unwrap_or(0) | op(flags))
            }
            Record::Clear { block } => (block, op(OP_CLEAR)),
            Record::SpareBad { spare } => (0, (spare & MAX_SPARE_INDEX) | op(OP_SPARE_BAD)),
            Record::ScannerCursor { position } => (position, op(OP_SCANNER_CURSOR)),
        }
    }

    /// Decodes the two words of a record.
    pub fn decode(first: u64, second: u64) -> Result<Record, LogFault> {
        let op = (second >> 56) as u8;
        let low = second & MAX_SPARE_INDEX;
        match op {
            OP_ENTRY_REMAPPED | OP_ENTRY_REMAPPED_PENDING => Ok(Record::Entry {
                block: first,
                entry: Entry::new(op, low),
            }),
            OP_ENTRY_PENDING | OP_CLEAR | OP_SCANNER_CURSOR if low != 0 => {
                Err(LogFault::ReservedNotZero)
            }
            OP_ENTRY_PENDING => Ok(Record::Entry {
                block: first,
                entry: Entry::new(Entry::PENDING, 0),
            }),
            OP_CLEAR => Ok(Record::Clear { block: first }),
            OP_SCANNER_CURSOR => Ok(Record::ScannerCursor { position: first }),
            OP_SPARE_BAD if first != 0 => Err(LogFault::ReservedNotZero),
            OP_SPARE_BAD => Ok(Record::SpareBad { spare: low }),
            _ => Err(LogFault::UnknownOp),
        }
    }
}

/// The header fields of a valid log block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogHeader {
    /// Commit number.
    pub commit: u64,
    /// Records in the block.
    pub record_count: usize,
    /// True if the block ends its commit.
    pub commit_end: bool,
}

/// Starts a log block at `index`/`sector` for `generation` and `commit`.
pub fn start_log_block(
    block: &mut MetaBlock,
    sector: u64,
    index: u64,
    generation: u64,
    commit: u64,
) {
    start_block(block, MAGIC_LOG, 0, sector, generation);
    put_u64(block, OFF_LOG_INDEX, index);
    put_u64(block, OFF_LOG_COMMIT, commit);
}

/// Writes record `slot` of a block being built; false if the block is full.
pub fn put_record(block: &mut MetaBlock, slot: usize, record: &Record) -> bool {
    match record_offset(slot) {
        Some(offset) => {
            let (first, second) = record.encode();
            put_u64(block, offset, first);
            put_u64(block, offset + 8, second);
            true
        }
        None => false,
    }
}

/// Finishes a block holding `record_count` records.
pub fn finish_log_block(block: &mut MetaBlock, record_count: usize, commit_end: bool) {
    put_u32(block, OFF_LOG_RECORD_COUNT, record_count as u32);
    put_u32(
        block,
        OFF_FLAGS,
        if commit_end { FLAG_COMMIT_END } else { 0 },
    );
    seal(block);
}

/// Validates the header of the block read from log position `index` at
/// `sector`, which must belong to `generation`.
pub fn decode_log_header(
    block: &MetaBlock,
    sector: u64,
    index: u64,
    generation: u64,
) -> Result<LogHeader, LogFault> {
    check_frame(block, MAGIC_LOG, sector)?;
    let flags = get_u32(block, OFF_FLAGS);
    if flags & !FLAG_COMMIT_END != 0 {
        return Err(LogFault::UnknownFlags);
    }
    if get_u64(block, OFF_GENERATION) != generation {
        return Err(LogFault::Generation);
    }
    if get_u64(block, OFF_LOG_INDEX) != index {
        return Err(LogFault::Index);
    }
    let record_count = get_u32(block, OFF_LOG_RECORD_COUNT) as usize;
    if record_count == 0 || record_count > RECORDS_PER_BLOCK {
        return Err(LogFault::RecordCount);
    }
    let unused_from = record_offset(record_count).unwrap_or(super::block::PAYLOAD_END);
    let header_reserved = block.get(OFF_LOG_RESERVED..super::block::OFF_PAYLOAD);
    let tail = block.get(unused_from..OFF_CHECKSUM);
    if header_reserved.is_some_and(|bytes| bytes.iter().any(|&b| b != 0))
        || tail.is_some_and(|bytes| bytes.iter().any(|&b| b != 0))
    {
        return Err(LogFault::ReservedNotZero);
    }
    Ok(LogHeader {
        commit: get_u64(block, OFF_LOG_COMMIT),
        record_count,
        commit_end: flags & FLAG_COMMIT_END != 0,
    })
}

/// The generation of a sound log block (valid frame at `sector`) written by
/// a generation newer than `generation`, if `block` is one.
///
/// Generation `g + 1` writes its log only after its superblock is durable,
/// so such a block proves that a newer superblock existed and is now
/// damaged: the older state must not be loaded in its place.
pub fn newer_generation(block: &MetaBlock, sector: u64, generation: u64) -> Option<u64> {
    check_frame(block, MAGIC_LOG, sector).ok()?;
    let found = get_u64(block, OFF_GENERATION);
    (found > generation).then_some(found)
}

/// Decodes record `slot` of a validated block.
pub fn get_record(block: &MetaBlock, slot: usize) -> Result<Record, LogFault> {
    let offset = record_offset(slot).ok_or(LogFault::RecordCount)?;
    Record::decode(get_u64(block, offset), get_u64(block, offset + 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let records = [
            Record::Entry {
                block: 7,
                entry: Entry::new(Entry::REMAPPED, 3),
            },
            Record::Entry {
                block: 8,
                entry: Entry::new(Entry::PENDING, 0),
            },
            Record::Entry {
                block: 9,
                entry: Entry::new(Entry::REMAPPED | Entry::PENDING, 4),
            },
            Record::Clear { block: 10 },
            Record::SpareBad { spare: 11 },
            Record::ScannerCursor { position: 12 },
        ];
        for record in records {
            let (first, second) = record.encode();
            assert_eq!(Record::decode(first, second), Ok(record));
        }
        assert_eq!(Record::decode(1, 0x7F << 56), Err(LogFault::UnknownOp));
        assert_eq!(Record::decode(1, 0), Err(LogFault::UnknownOp));
    }

    #[test]
    fn block_round_trip_and_staleness() {
        let mut block = [0u8; 4096];
        start_log_block(&mut block, 24, 1, 5, 9);
        assert!(put_record(&mut block, 0, &Record::Clear { block: 3 }));
        finish_log_block(&mut block, 1, true);
        let header = decode_log_header(&block, 24, 1, 5).unwrap();
        assert_eq!(header.commit, 9);
        assert!(header.commit_end);
        assert_eq!(get_record(&block, 0), Ok(Record::Clear { block: 3 }));
        assert_eq!(
            decode_log_header(&block, 24, 1, 6),
            Err(LogFault::Generation)
        );
        assert_eq!(decode_log_header(&block, 24, 2, 5), Err(LogFault::Index));
        assert_eq!(
            decode_log_header(&block, 32, 1, 5),
            Err(LogFault::WrongLocation)
        );
    }
}
