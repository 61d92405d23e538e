//! dm-remap engine: the policy and metadata core of the dm-remap
//! device-mapper target.
//!
//! The same source files are compiled twice: as the host crate
//! `dm-remap-engine` (used by the `dm-remap` CLI and the tests) and inside the
//! kernel module through `#[path = "engine/lib.rs"] mod engine;`. That is why
//! the engine
//!
//! * uses only `core` (no `alloc`, no `std`, no external crates),
//! * never allocates: every table, bitmap and I/O buffer is memory the caller
//!   hands in, sized by [`MemoryRequirements`], through handle types it
//!   chooses ([`Storage`]: borrowed slices, vectors, kernel buffers) and
//!   that the engine keeps for its lifetime,
//! * never panics on any input (checked arithmetic, `get` instead of
//!   indexing, no floating point, no 128-bit division),
//! * refers to its own items with relative paths (`super::`), because inside
//!   the kernel it is not the crate root.
//!
//! Entry points: [`Engine`] (format / open / error policy / commit),
//! [`RemapTable`] (lock-free lookups for the I/O path, [`RemapTable::view`]
//! over a reader's own handle to the table words), [`MetaDevice`]
//! (metadata I/O implemented by the caller), [`recovery`] and
//! [`superblock`] for read-only inspection tools. See `docs/engine.md` and
//! `docs/metadata-format.md` in the repository.

#![no_std]

pub mod allocator;
pub mod block;
pub mod crc32c;
pub mod device;
pub mod engine;
pub mod error;
pub mod layout;
pub mod log;
pub mod policy;
pub mod recovery;
pub mod scanner;
pub mod snapshot;
pub mod store;
pub mod superblock;
pub mod table;

pub use allocator::SpareAllocator;
pub use device::{IoError, MetaDevice};
pub use engine::{
    BorrowedStorage, Config, Engine, EngineMemory, FormatPlan, MemoryRequirements, OpenPlan,
    Storage,
};
pub use error::{MetaError, PolicyError, SuperblockSlot};
pub use layout::{DeviceBinding, Expected, FormatParams, Layout, LayoutError};
pub use policy::{
    classify_status, is_media_error, ErrorClass, Event, FormatPolicy, IoTarget, MetaArea, Mode,
    OpenDecision, ReadErrorAction, RemapTicket, Status,
};
pub use scanner::{ScanWindow, Scanner};
pub use table::{Entry, RemapTable, Route, TableError, TableWriter};
