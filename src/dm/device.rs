// SPDX-License-Identifier: GPL-2.0

//! Block devices opened by a target through `dm_get_device()`.

use super::bindings;
use core::ffi::CStr;

/// Where a block device lies on its disk (see [`DmDevice::disk_position`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskPosition {
    /// `dev_t` of the whole disk.
    pub disk: u32,
    /// First sector of the device on that disk.
    pub start: u64,
}

/// A device referenced by a table line, released with `dm_put_device()` on
/// drop.  Valid for as long as the target that opened it.
pub struct DmDevice {
    ti: *mut bindings::dm_target,
    dev: *mut bindings::dm_dev,
}

// SAFETY: a `dm_dev` is reference-counted by device-mapper core and may be
// used and released from any thread; the target pointer is only used to
// release it, which core allows from the target's destructor on any CPU.
unsafe impl Send for DmDevice {}
// SAFETY: all methods take `&self` and only read immutable fields.
unsafe impl Sync for DmDevice {}

impl DmDevice {
    /// Wrap a device returned by `dm_get_device()`.
    ///
    /// # Safety
    ///
    /// `dev` must have been obtained with `dm_get_device(ti, ...)` and not
    /// yet released; the returned value takes over that reference.
    pub(crate) unsafe fn from_raw(
        ti: *mut bindings::dm_target,
        dev: *mut bindings::dm_dev,
    ) -> Self {
        Self { ti, dev }
    }

    pub(crate) fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: `dev` is valid while we hold the reference (type invariant).
        unsafe { (*self.dev).bdev }
    }

    /// Size of the device in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        // SAFETY: the block device stays valid while we hold the reference.
        unsafe { bindings::dm_remap_bdev_nr_sectors(self.bdev()) }
    }

    /// Logical block size in bytes.
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: as for `sectors`.
        unsafe { bindings::dm_remap_bdev_logical_block_size(self.bdev()) }
    }

    /// The `dev_t` of the device.
    pub fn devt(&self) -> u32 {
        // SAFETY: as for `sectors`.
        unsafe { bindings::dm_remap_bdev_devt(self.bdev()) }
    }

    /// `major:minor`, the canonical form used in tables.
    pub fn name(&self) -> &CStr {
        // SAFETY: `name` is a NUL-terminated array filled in by
        // `dm_get_device()` and never changed while we hold the reference.
        unsafe { CStr::from_ptr((*self.dev).name.as_ptr()) }
    }

    /// Where the device lies on its disk: the `dev_t` of the whole disk
    /// and the device's first sector on it (0 for a whole disk).  Two
    /// sector ranges of two devices can only overlap if the disks match,
    /// and then they overlap on the disk: a partition against the disk
    /// that holds it, or two partitions of one disk.
    pub fn disk_position(&self) -> DiskPosition {
        let bdev = self.bdev();
        DiskPosition {
            // SAFETY: the block device stays valid while we hold the
            // reference (type invariant); a partition's whole-disk device
            // lives as long as the partition.
            disk: unsafe { bindings::dm_remap_bdev_whole_devt(bdev) },
            // SAFETY: as above.
            start: unsafe { bindings::dm_remap_bdev_start_sect(bdev) },
        }
    }

    pub(crate) fn raw(&self) -> *mut bindings::dm_dev {
        self.dev
    }
}

impl Drop for DmDevice {
    fn drop(&mut self) {
        // SAFETY: we own one reference obtained with `dm_get_device(ti)`;
        // the target (and so `ti`) is still alive while its private data
        // is being dropped in `dtr`.
        unsafe { bindings::dm_put_device(self.ti, self.dev) }
    }
}
