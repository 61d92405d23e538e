// SPDX-License-Identifier: GPL-2.0

//! A view of a `struct bio` handed to a target's `map`/`end_io`.

use super::bindings;
use super::device::DmDevice;
use core::cell::UnsafeCell;

/// The operation of a bio (`REQ_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqOp {
    /// `REQ_OP_READ`.
    Read,
    /// `REQ_OP_WRITE`.
    Write,
    /// `REQ_OP_FLUSH` (never seen by bio-based targets as such: an empty
    /// write with `REQ_PREFLUSH` is used instead).
    Flush,
    /// `REQ_OP_DISCARD`.
    Discard,
    /// `REQ_OP_WRITE_ZEROES`.
    WriteZeroes,
    /// `REQ_OP_SECURE_ERASE`.
    SecureErase,
    /// Anything else (zone operations, driver-private).
    Other(u32),
}

/// A bio owned by device-mapper and lent to the target for one hook call.
///
/// `#[repr(transparent)]` over the C struct so that a `*mut bio` can be
/// viewed as `&Bio` without copying.
#[repr(transparent)]
pub struct Bio(UnsafeCell<bindings::bio>);

impl Bio {
    /// View a raw bio pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid bio that the caller may access (and
    /// modify through the returned reference) for `'a`; device-mapper core
    /// guarantees this for the clone passed to `map` and `end_io`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Bio {
        // SAFETY: `Bio` is `repr(transparent)` over `bindings::bio`, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast::<Bio>() }
    }

    fn raw(&self) -> *mut bindings::bio {
        self.0.get()
    }

    /// The first sector (in 512-byte units, relative to the device the bio
    /// currently targets).
    pub fn sector(&self) -> u64 {
        // SAFETY: the bio is valid for the lifetime of `&self` (see
        // `from_raw`); reading a plain field is fine.
        unsafe { (*self.raw()).bi_iter.bi_sector }
    }

    /// Set the first sector.
    pub fn set_sector(&self, sector: u64) {
        // SAFETY: the target owns the bio during `map` (see `from_raw`).
        unsafe { (*self.raw()).bi_iter.bi_sector = sector }
    }

    /// Remaining size in bytes.
    pub fn size(&self) -> u32 {
        // SAFETY: as for `sector`.
        unsafe { (*self.raw()).bi_iter.bi_size }
    }

    /// Remaining size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        (self.size() >> bindings::SECTOR_SHIFT) as u64
    }

    fn opf(&self) -> u32 {
        // SAFETY: as for `sector`.
        unsafe { (*self.raw()).bi_opf }
    }

    /// The operation (`bio_op()`).
    pub fn op(&self) -> ReqOp {
        let op = self.opf() & bindings::DM_REMAP_REQ_OP_MASK;
        match op {
            bindings::req_op_REQ_OP_READ => ReqOp::Read,
            bindings::req_op_REQ_OP_WRITE => ReqOp::Write,
            bindings::req_op_REQ_OP_FLUSH => ReqOp::Flush,
            bindings::req_op_REQ_OP_DISCARD => ReqOp::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => ReqOp::WriteZeroes,
            bindings::req_op_REQ_OP_SECURE_ERASE => ReqOp::SecureErase,
            other => ReqOp::Other(other),
        }
    }

    /// True if the bio carries `REQ_PREFLUSH`.
    pub fn is_preflush(&self) -> bool {
        self.opf() & bindings::DM_REMAP_REQ_PREFLUSH != 0
    }

    /// True if the bio carries `REQ_FUA`.
    pub fn is_fua(&self) -> bool {
        self.opf() & bindings::DM_REMAP_REQ_FUA != 0
    }

    /// Redirect the bio to `dev` (`bio_set_dev()`).
    pub fn set_dev(&self, dev: &DmDevice) {
        // SAFETY: the bio is owned by the target during `map`, and `dev`
        // holds a reference on its block device for as long as the target
        // exists, which outlives every bio mapped through it.
        unsafe { bindings::dm_remap_bio_set_dev(self.raw(), dev.bdev()) }
    }

    /// Which of the target's duplicate bios this is (for flushes: one per
    /// `num_flush_bios`), `dm_bio_get_target_bio_nr()`.
    pub fn target_bio_nr(&self) -> u32 {
        // SAFETY: valid for clones handed to `map` (see `from_raw`).
        unsafe { bindings::dm_bio_get_target_bio_nr(self.raw()) }
    }

    /// The bio's per-target data (`dm_per_bio_data()`), as a `u64` cell.
    /// The target must have asked for at least 8 bytes with
    /// `CtrContext::set_per_io_data_size`.
    pub fn per_bio_u64(&self) -> &core::sync::atomic::AtomicU64 {
        // SAFETY: dm core reserves `per_io_data_size` bytes in front of every
        // clone, 8-byte aligned, private to the target for the bio's life;
        // the caller asked for at least 8 bytes.
        unsafe {
            &*bindings::dm_remap_per_bio_data(self.raw(), 8).cast::<core::sync::atomic::AtomicU64>()
        }
    }

    /// Accept only the first `sectors` of the bio; device-mapper core
    /// resubmits the rest (`dm_accept_partial_bio()`).  Only valid in `map`
    /// for bios that are not flushes.
    pub fn accept_partial(&self, sectors: u32) {
        // SAFETY: called from `map` on the clone device-mapper core handed
        // us; core checks the remaining preconditions with a WARN.
        unsafe { bindings::dm_accept_partial_bio(self.raw(), sectors) }
    }
}
