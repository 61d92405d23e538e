//! Every reason the engine rejects metadata or refuses an operation.
//!
//! Each reason is its own variant with a fixed message naming the structure
//! and field (`as_str`), so tools like `dm-remap check` can tell an operator
//! exactly what is wrong; `Display` adds where (slot, block index, sector).

use core::fmt;

use super::block::FrameFault;
use super::device::IoError;
use super::layout::LayoutError;
use super::policy::MetaArea;

/// One of the two superblock slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuperblockSlot {
    /// Slot A, at sector 0 (even generations).
    A,
    /// Slot B, at sector 8 (odd generations).
    B,
}

impl SuperblockSlot {
    /// The slot holding `generation`.
    pub fn for_generation(generation: u64) -> SuperblockSlot {
        if generation & 1 == 0 {
            SuperblockSlot::A
        } else {
            SuperblockSlot::B
        }
    }

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            SuperblockSlot::A => 0,
            SuperblockSlot::B => 1,
        }
    }

    /// "A" or "B".
    pub fn as_str(self) -> &'static str {
        match self {
            SuperblockSlot::A => "A",
            SuperblockSlot::B => "B",
        }
    }
}

/// Why a superblock slot was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuperblockFault {
    /// `magic` is not "DMRMSUPR".
    BadMagic,
    /// `checksum` does not match.
    BadChecksum,
    /// `version` is not 1.
    UnsupportedVersion,
    /// `location` is not the slot's sector.
    WrongLocation,
    /// `flags` has unknown bits.
    UnknownFlags,
    /// `generation` parity does not match the slot.
    GenerationSlot,
    /// `block_size` invalid.
    BadBlockSize,
    /// `log_blocks` invalid.
    BadLogBlocks,
    /// `spare_sectors` gives no layout, or not the stored one.
    SpareSectors,
    /// `log_start` disagrees with the computed layout.
    LogStart,
    /// `data_start` disagrees with the computed layout.
    DataStart,
    /// `data_blocks` disagrees with the computed layout.
    DataBlocks,
    /// `snapshot_blocks` disagrees with the computed layout.
    SnapshotBlocks,
    /// `snapshot_a_start` disagrees with the computed layout.
    SnapshotAStart,
    /// `snapshot_b_start` disagrees with the computed layout.
    SnapshotBStart,
    /// `max_entries` disagrees with the computed layout.
    MaxEntries,
    /// `snapshot_used_blocks` disagrees with `snapshot_entries`/`data_blocks`.
    SnapshotUsedBlocks,
    /// `snapshot_entries` exceeds `max_entries`.
    SnapshotEntries,
    /// Reserved bytes are not zero.
    ReservedNotZero,
}

impl SuperblockFault {
    fn from_frame(fault: FrameFault) -> SuperblockFault {
        match fault {
            FrameFault::BadMagic => SuperblockFault::BadMagic,
            FrameFault::BadChecksum => SuperblockFault::BadChecksum,
            FrameFault::UnsupportedVersion => SuperblockFault::UnsupportedVersion,
            FrameFault::WrongLocation => SuperblockFault::WrongLocation,
        }
    }

    /// Message naming the field.
    pub fn as_str(&self) -> &'static str {
        match self {
            SuperblockFault::BadMagic => "superblock: bad magic",
            SuperblockFault::BadChecksum => "superblock: bad checksum",
            SuperblockFault::UnsupportedVersion => "superblock: unsupported format version",
            SuperblockFault::WrongLocation => "superblock: wrong location",
            SuperblockFault::UnknownFlags => "superblock: unknown flags",
            SuperblockFault::GenerationSlot => {
                "superblock: generation does not belong to this slot"
            }
            SuperblockFault::BadBlockSize => "superblock: invalid block_size",
            SuperblockFault::BadLogBlocks => "superblock: invalid log_blocks",
            SuperblockFault::SpareSectors => {
                "superblock: spare_sectors inconsistent with the stored layout"
            }
            SuperblockFault::LogStart => "superblock: log_start does not match the layout",
            SuperblockFault::DataStart => "superblock: data_start does not match the layout",
            SuperblockFault::DataBlocks => "superblock: data_blocks does not match the layout",
            SuperblockFault::SnapshotBlocks => {
                "superblock: snapshot_blocks does not match the layout"
            }
            SuperblockFault::SnapshotAStart => {
                "superblock: snapshot_a_start does not match the layout"
            }
            SuperblockFault::SnapshotBStart => {
                "superblock: snapshot_b_start does not match the layout"
            }
            SuperblockFault::MaxEntries => "superblock: max_entries does not match the layout",
            SuperblockFault::SnapshotUsedBlocks => {
                "superblock: snapshot_used_blocks does not match snapshot_entries and data_blocks"
            }
            SuperblockFault::SnapshotEntries => "superblock: snapshot_entries exceeds max_entries",
            SuperblockFault::ReservedNotZero => "superblock: reserved bytes not zero",
        }
    }
}

/// Why a snapshot block was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotFault {
    /// `magic` is not "DMRMSNAP".
    BadMagic,
    /// `checksum` does not match.
    BadChecksum,
    /// `version` is not 1.
    UnsupportedVersion,
    /// `location` is not the block's sector.
    WrongLocation,
    /// `flags` has unknown bits.
    UnknownFlags,
    /// `generation` is not the superblock's.
    Generation,
    /// `index` is not the block's position.
    Index,
    /// `kind` is not what this position holds.
    Kind,
    /// `count` out of range for this block.
    Count,
    /// The superblock's `snapshot_checksum` does not match the blocks.
    SetChecksum,
    /// The info block's `entry_count` disagrees with the superblock.
    EntryCount,
    /// The info block's `data_blocks` disagrees with the superblock.
    DataBlocks,
    /// The info block's `scanner_cursor` is past the main device.
    CursorOutOfRange,
    /// An entry has invalid flags.
    EntryFlags,
    /// An entry's main block is past the main device.
    MainOutOfRange,
    /// An entry's spare block is past the spare pool.
    SpareOutOfRange,
    /// Two entries for the same main block.
    DuplicateEntry,
    /// Two entries share a spare block.
    SpareUsedTwice,
    /// More entries than the table can hold.
    TooManyEntries,
    /// The bad-spare bitmap has bits past the end of the pool.
    BitmapBeyondPool,
    /// Reserved bytes are not zero.
    ReservedNotZero,
}

impl SnapshotFault {
    fn from_frame(fault: FrameFault) -> SnapshotFault {
        match fault {
            FrameFault::BadMagic => SnapshotFault::BadMagic,
            FrameFault::BadChecksum => SnapshotFault::BadChecksum,
            FrameFault::UnsupportedVersion => SnapshotFault::UnsupportedVersion,
            FrameFault::WrongLocation => SnapshotFault::WrongLocation,
        }
    }

    /// Message naming the field.
    pub fn as_str(&self) -> &'static str {
        match self {
            SnapshotFault::BadMagic => "snapshot block: bad magic",
            SnapshotFault::BadChecksum => "snapshot block: bad checksum",
            SnapshotFault::UnsupportedVersion => "snapshot block: unsupported format version",
            SnapshotFault::WrongLocation => "snapshot block: wrong location",
            SnapshotFault::UnknownFlags => "snapshot block: unknown flags",
            SnapshotFault::Generation => "snapshot block: generation does not match the superblock",
            SnapshotFault::Index => "snapshot block: index does not match its position",
            SnapshotFault::Kind => "snapshot block: wrong kind for its position",
            SnapshotFault::Count => "snapshot block: count out of range",
            SnapshotFault::SetChecksum => {
                "snapshot: blocks do not match the superblock snapshot_checksum"
            }
            SnapshotFault::EntryCount => "snapshot info: entry_count does not match the superblock",
            SnapshotFault::DataBlocks => "snapshot info: data_blocks does not match the superblock",
            SnapshotFault::CursorOutOfRange => "snapshot info: scanner_cursor out of range",
            SnapshotFault::EntryFlags => "snapshot entry: invalid flags",
            SnapshotFault::MainOutOfRange => "snapshot entry: main block out of range",
            SnapshotFault::SpareOutOfRange => "snapshot entry: spare block out of range",
            SnapshotFault::DuplicateEntry => "snapshot entry: main block listed twice",
            SnapshotFault::SpareUsedTwice => "snapshot entry: spare block used twice",
            SnapshotFault::TooManyEntries => "snapshot: more entries than the table holds",
            SnapshotFault::BitmapBeyondPool => "snapshot bitmap: bad-spare bit past the pool",
            SnapshotFault::ReservedNotZero => "snapshot block: reserved bytes not zero",
        }
    }
}

/// Why a log block or record was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFault {
    /// `magic` is not "DMRMLOG1".
    BadMagic,
    /// `checksum` does not match.
    BadChecksum,
    /// `version` is not 1.
    UnsupportedVersion,
    /// `location` is not the block's sector.
    WrongLocation,
    /// `flags` has unknown bits.
    UnknownFlags,
    /// `generation` is not the superblock's (a stale block).
    Generation,
    /// `index` is not the block's position in the log.
    Index,
    /// `commit` is out of sequence.
    CommitSequence,
    /// `record_count` is 0 or larger than a block holds.
    RecordCount,
    /// A record has an unknown op.
    UnknownOp,
    /// A record's main block is past the main device.
    MainOutOfRange,
    /// A record's spare block is past the spare pool.
    SpareOutOfRange,
    /// A record maps a spare block that another entry uses.
    SpareUsedTwice,
    /// A record needs more table entries than exist.
    TableFull,
    /// A scanner-cursor record is past the main device.
    CursorOutOfRange,
    /// Reserved bytes are not zero.
    ReservedNotZero,
}

impl LogFault {
    fn from_frame(fault: FrameFault) -> LogFault {
        match fault {
            FrameFault::BadMagic => LogFault::BadMagic,
            FrameFault::BadChecksum => LogFault::BadChecksum,
            FrameFault::UnsupportedVersion => LogFault::UnsupportedVersion,
            FrameFault::WrongLocation => LogFault::WrongLocation,
        }
    }

    /// Message naming the field.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogFault::BadMagic => "log block: bad magic",
            LogFault::BadChecksum => "log block: bad checksum",
            LogFault::UnsupportedVersion => "log block: unsupported format version",
            LogFault::WrongLocation => "log block: wrong location",
            LogFault::UnknownFlags => "log block: unknown flags",
            LogFault::Generation => "log block: generation does not match the superblock",
            LogFault::Index => "log block: index does not match its position",
            LogFault::CommitSequence => "log block: commit out of sequence",
            LogFault::RecordCount => "log block: record_count out of range",
            LogFault::UnknownOp => "log record: unknown op",
            LogFault::MainOutOfRange => "log record: main block out of range",
            LogFault::SpareOutOfRange => "log record: spare block out of range",
            LogFault::SpareUsedTwice => "log record: spare block used twice",
            LogFault::TableFull => "log record: more entries than the table holds",
            LogFault::CursorOutOfRange => "log record: scanner cursor out of range",
            LogFault::ReservedNotZero => "log block: reserved bytes not zero",
        }
    }
}

impl From<FrameFault> for SuperblockFault {
    fn from(fault: FrameFault) -> Self {
        SuperblockFault::from_frame(fault)
    }
}

impl From<FrameFault> for SnapshotFault {
    fn from(fault: FrameFault) -> Self {
        SnapshotFault::from_frame(fault)
    }
}

impl From<FrameFault> for LogFault {
    fn from(fault: FrameFault) -> Self {
        LogFault::from_frame(fault)
    }
}

/// Why metadata could not be read, written or trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// The metadata device reported an I/O error.
    Io(IoError),
    /// Both superblock slots are all zero: the spare was never formatted.
    Blank,
    /// The superblock area is not zero and carries no dm-remap magic.
    ForeignData,
    /// Formatting was asked for a spare region whose metadata footprint is
    /// not all zero, without an explicit request to overwrite it.
    NotBlank {
        /// First non-zero sector found, relative to the spare region.
        sector: u64,
        /// The metadata area it lies in.
        area: MetaArea,
    },
    /// A superblock slot was rejected.
    Superblock {
        /// Which slot.
        slot: SuperblockSlot,
        /// Why.
        fault: SuperblockFault,
    },
    /// A snapshot block was rejected.
    Snapshot {
        /// Block index inside the snapshot area.
        index: u64,
        /// Sector of the block.
        sector: u64,
        /// Why.
        fault: SnapshotFault,
    },
    /// A log block or record was rejected.
    Log {
        /// Block index inside the log area.
        index: u64,
        /// Sector of the block.
        sector: u64,
        /// Why.
        fault: LogFault,
    },
    /// A log block before the end of the log is invalid although a later
    /// commit is complete: damaged in place, not torn by a crash.
    LogDamaged {
        /// Block index inside the log area.
        index: u64,
        /// Sector of the block.
        sector: u64,
        /// Why the block was rejected.
        fault: LogFault,
    },
    /// The log holds blocks of a generation newer than every valid
    /// superblock: the newest superblock is damaged.
    NewerGenerationLost {
        /// Block index inside the log area.
        index: u64,
        /// Sector of the block.
        sector: u64,
        /// The generation found in the log.
        found: u64,
        /// The generation of the superblock that would have been loaded.
        chosen: u64,
    },
    /// The superblock names another main device.
    MainUuidMismatch,
    /// The superblock names another spare device.
    SpareUuidMismatch,
    /// The superblock records another main device size.
    MainSizeMismatch,
    /// The superblock records another spare offset.
    SpareOffsetMismatch,
    /// The recorded spare region is larger than the one available.
    SpareRegionShrunk,
    /// A layout could not be computed.
    Layout(LayoutError),
    /// The table memory handed in is too small for the layout.
    TableMemoryTooSmall,
    /// The bitmap memory handed in is too small for the layout.
    BitmapMemoryTooSmall,
    /// The I/O buffer handed in is too small.
    BufferTooSmall,
    /// The table memory already has a writer (another engine uses it).
    TableClaimed,
    /// An earlier metadata write failed; nothing more is written until the
    /// metadata is reloaded.
    Failed,
    /// The engine was opened with [`crate::Engine::open_deferred`] and not
    /// started: it may not write yet.
    NotStarted,
    /// The metadata's layout changed between a deferred open and its start.
    LayoutChanged,
}

impl MetaError {
    /// Message naming the structure and field.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetaError::Io(_) => "metadata: I/O error",
            MetaError::Blank => "superblock: spare device is blank (not formatted)",
            MetaError::ForeignData => {
                "superblock: spare holds foreign data (no dm-remap magic); refusing to touch it"
            }
            MetaError::NotBlank { .. } => "spare: region is not blank; refusing to format it",
            MetaError::Superblock { fault, .. } => fault.as_str(),
            MetaError::Snapshot { fault, .. } => fault.as_str(),
            MetaError::Log { fault, .. } => fault.as_str(),
            MetaError::LogDamaged { .. } => {
                "log: a block before a complete commit is invalid (damaged in place, not a torn write)"
            }
            MetaError::NewerGenerationLost { .. } => {
                "superblock: the log holds a newer generation than any valid superblock (the newest slot is damaged)"
            }
            MetaError::MainUuidMismatch => {
                "superblock: main_uuid mismatch (metadata belongs to another main device)"
            }
            MetaError::SpareUuidMismatch => {
                "superblock: spare_uuid mismatch (metadata belongs to another spare device)"
            }
            MetaError::MainSizeMismatch => {
                "superblock: main_sectors does not match the main device"
            }
            MetaError::SpareOffsetMismatch => {
                "superblock: spare_offset does not match the spare region"
            }
            MetaError::SpareRegionShrunk => {
                "superblock: spare_sectors larger than the spare region (shrinking unsupported)"
            }
            MetaError::Layout(fault) => fault.as_str(),
            MetaError::TableMemoryTooSmall => "memory: remap table memory too small",
            MetaError::BitmapMemoryTooSmall => "memory: spare bitmap memory too small",
            MetaError::BufferTooSmall => "memory: metadata I/O buffer too small",
            MetaError::TableClaimed => "memory: remap table already has a writer",
            MetaError::Failed => "metadata: an earlier metadata write failed; reload required",
            MetaError::NotStarted => "metadata: opened but not started; nothing may be written yet",
            MetaError::LayoutChanged => "superblock: layout changed since the table was loaded",
        }
    }
}

impl From<IoError> for MetaError {
    fn from(error: IoError) -> Self {
        MetaError::Io(error)
    }
}

impl From<LayoutError> for MetaError {
    fn from(error: LayoutError) -> Self {
        MetaError::Layout(error)
    }
}

/// Writes `message` with its leading "<structure>: " replaced by
/// "<structure> <where>: ".
fn write_located(
    f: &mut fmt::Formatter<'_>,
    message: &str,
    location: fmt::Arguments<'_>,
) -> fmt::Result {
    match message.split_once(": ") {
        Some((structure, rest)) => write!(f, "{structure} {location}: {rest}"),
        None => write!(f, "{message} ({location})"),
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Io(error) => write!(f, "{} (errno {})", self.as_str(), error.errno),
            MetaError::Superblock { slot, fault } => {
                write_located(f, fault.as_str(), format_args!("{}", slot.as_str()))
            }
            MetaError::Snapshot {
                index,
                sector,
                fault,
            } => write_located(
                f,
                fault.as_str(),
                format_args!("{index} at sector {sector}"),
            ),
            MetaError::Log {
                index,
                sector,
                fault,
            } => write_located(
                f,
                fault.as_str(),
                format_args!("{index} at sector {sector}"),
            ),
            MetaError::LogDamaged {
                index,
                sector,
                fault,
            } => {
                write_located(
                    f,
                    fault.as_str(),
                    format_args!("{index} at sector {sector}"),
                )?;
                f.write_str(", but a complete commit follows it: damaged in place, not a torn write")
            }
            MetaError::NotBlank { sector, area } => write!(
                f,
                "spare is not blank: non-zero bytes at sector {sector} ({}); refusing to format",
                area.as_str()
            ),
            MetaError::NewerGenerationLost {
                index,
                sector,
                found,
                chosen,
            } => write!(
                f,
                "log block {index} at sector {sector}: generation {found} is newer than the newest valid superblock (generation {chosen}): the newest superblock slot is damaged; refusing to load older state"
            ),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// Why the error policy refused an operation. The caller fails the bio
/// that triggered it (passes the original error up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// Observe-only mode: errors are counted, nothing is remapped.
    ObserveOnly,
    /// No free spare block is left.
    SpareExhausted,
    /// The I/O does not cover the whole remap block; remapping would leave
    /// the rest of the spare block with undefined contents.
    PartialBlock,
    /// The block is past the end of the main device.
    BlockOutOfRange,
    /// A remap of this block is already in progress.
    Busy,
    /// The ticket does not match a remap in progress.
    NotBusy,
    /// The block's route changed since the I/O was issued; retry the I/O.
    Stale,
    /// The remap table is full.
    TableFull,
    /// Too many pending blocks are recorded already.
    PendingLimit,
    /// Metadata could not be written; the engine is in failed mode.
    Metadata(MetaError),
}

impl PolicyError {
    /// Human-readable reason.
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyError::ObserveOnly => "policy: observe-only mode, nothing remapped",
            PolicyError::SpareExhausted => "policy: spare pool exhausted",
            PolicyError::PartialBlock => "policy: partial-block remap refused",
            PolicyError::BlockOutOfRange => "policy: block past the end of the main device",
            PolicyError::Busy => "policy: remap already in progress for this block",
            PolicyError::NotBusy => "policy: no matching remap in progress",
            PolicyError::Stale => "policy: block route changed; retry the I/O",
            PolicyError::TableFull => "policy: remap table full",
            PolicyError::PendingLimit => "policy: too many pending blocks",
            PolicyError::Metadata(error) => error.as_str(),
        }
    }
}

impl From<MetaError> for PolicyError {
    fn from(error: MetaError) -> Self {
        PolicyError::Metadata(error)
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Metadata(error) => write!(f, "{error}"),
            _ => f.write_str(self.as_str()),
        }
    }
}
