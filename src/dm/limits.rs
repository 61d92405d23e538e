// SPDX-License-Identifier: GPL-2.0

//! The queue limits a target may adjust in `io_hints`.

use super::bindings;
use core::cell::UnsafeCell;

/// The largest logical block size a device-mapper device can be given on
/// this kernel: `PAGE_SIZE`.  The block layer accepts larger ones only from
/// drivers that declare large-block support, which device-mapper does not:
/// a larger one passes the constructor and fails the table at resume.
pub const MAX_LOGICAL_BLOCK_SIZE: u64 = bindings::DM_REMAP_PAGE_SIZE as u64;

/// `struct queue_limits`, as handed to `io_hints`.
#[repr(transparent)]
pub struct QueueLimits(UnsafeCell<bindings::queue_limits>);

impl QueueLimits {
    /// # Safety
    ///
    /// `ptr` must be valid for reads and writes for `'a` and not accessed by
    /// anyone else meanwhile (true for the `io_hints` argument).
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::queue_limits) -> &'a QueueLimits {
        // SAFETY: `repr(transparent)` and the caller's guarantee.
        unsafe { &*ptr.cast::<QueueLimits>() }
    }

    fn raw(&self) -> *mut bindings::queue_limits {
        self.0.get()
    }

    /// The logical block size in bytes.
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: valid for the duration of `io_hints` (see `from_raw`).
        unsafe { (*self.raw()).logical_block_size }
    }

    /// Raise the logical (and, if smaller, physical and minimum I/O) block
    /// size to `bytes`.  Never lowers any of them.
    pub fn raise_logical_block_size(&self, bytes: u32) {
        // SAFETY: valid and exclusively ours during `io_hints`.
        unsafe {
            let l = &mut *self.raw();
            l.logical_block_size = l.logical_block_size.max(bytes);
            l.physical_block_size = l.physical_block_size.max(bytes);
            l.io_min = l.io_min.max(bytes);
        }
    }
}
