// SPDX-License-Identifier: GPL-2.0

//! A safe Rust abstraction of the kernel's device-mapper target interface.
//!
//! This is the only layer of dm-remap that contains `unsafe` code.  It wraps
//! the C API from `<linux/device-mapper.h>` (bindings generated at build time
//! against the target kernel, see `bindings.rs`) in types whose methods cannot
//! be misused from safe code:
//!
//! - [`Target`]: the trait a target type implements (ctr/dtr/map/end_io/...),
//! - [`Registration`]: registers a [`Target`] with device-mapper core,
//! - [`Bio`], [`Ti`], [`DmDevice`], [`Args`], [`Emitter`], [`QueueLimits`]:
//!   views of the C objects handed to the hooks,
//! - [`param`]: module parameters with range-checked setters,
//! - [`dm_err!`], [`dm_warn!`], [`dm_info!`], [`dm_debug!`]: `DMERR`-style logging.
//!
//! It is written to be independent of the kernel crate's own (changing) Rust
//! APIs: only `module!` and the `Module` trait are taken from there.

pub mod args;
pub mod bindings;
pub mod bio;
pub mod device;
pub mod dmio;
pub mod emit;
pub mod kvbuf;
pub mod limits;
pub mod mem;
pub mod misc;
pub mod param;
pub mod print;
pub mod status;
pub mod sync;
pub mod target;
pub mod work;

pub use args::Args;
pub use bio::{Bio, BioQueue, HeldBio, OwnedBio, ReqOp, SavedIter, PER_BIO_BYTES};
pub use device::DmDevice;
pub use dmio::{BlkStatus, DmIo};
pub use emit::Emitter;
pub use kvbuf::{KvBuf, KvShared};
pub use limits::QueueLimits;
pub use sync::{Mutex, MutexGuard, SpinLock};
pub use target::{
    CtrContext, CtrError, DeviceIterator, EndIo, EndIoResult, MapIo, MapResult, MessageResult,
    Registration, StatusKind, TableEvent, Target, Ti,
};
pub use work::{WorkBox, WorkItem, WorkRef};

/// A negative errno value as returned to device-mapper core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub core::ffi::c_int);

impl Errno {
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(-(bindings::EINVAL as core::ffi::c_int));
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(-(bindings::ENOMEM as core::ffi::c_int));
    /// I/O error.
    pub const EIO: Errno = Errno(-(bindings::EIO as core::ffi::c_int));
    /// Device or resource busy.
    pub const EBUSY: Errno = Errno(-16);
    /// No space left (here: no spare block left).
    pub const ENOSPC: Errno = Errno(-28);
}
