// SPDX-License-Identifier: GPL-2.0

//! A view of a `struct bio` handed to a target's `map`/`end_io`.

use super::bindings;
use super::device::DmDevice;
use core::cell::UnsafeCell;

/// Words of per-bio data a target gets (see [`Bio::per_bio`]).
pub const PER_BIO_WORDS: usize = 4;
/// Bytes of per-bio data to ask for.
pub const PER_BIO_BYTES: usize = PER_BIO_WORDS * 8;

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

    /// The bio's per-target data (`dm_per_bio_data()`): [`PER_BIO_WORDS`]
    /// `u64` cells.  The target must ask for [`PER_BIO_BYTES`] with
    /// `CtrContext::set_per_io_data_size`.
    pub fn per_bio(&self) -> &[core::sync::atomic::AtomicU64; PER_BIO_WORDS] {
        // SAFETY: dm core reserves `per_io_data_size` bytes in front of every
        // clone, 8-byte aligned, private to the target for the bio's life;
        // the target asked for PER_BIO_BYTES.
        unsafe {
            &*bindings::dm_remap_per_bio_data(self.raw(), PER_BIO_BYTES)
                .cast::<[core::sync::atomic::AtomicU64; PER_BIO_WORDS]>()
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

/// A saved copy of a bio's position (`struct bvec_iter`): where its data
/// starts and how much of it there is.  Saved in `map`, because a completed
/// bio's iterator has been advanced to its end.
#[derive(Clone, Copy)]
pub struct SavedIter(bindings::bvec_iter);

impl SavedIter {
    /// Pack into three words (for per-bio data).  `struct bvec_iter`
    /// differs between kernel versions, so its bytes are copied as they are.
    pub fn to_words(&self) -> [u64; 3] {
        const { assert!(core::mem::size_of::<bindings::bvec_iter>() <= 24) };
        let mut words = [0u64; 3];
        // SAFETY: `bvec_iter` is plain integers and at most 24 bytes
        // (checked above); the destination is 24 writable bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (&self.0 as *const bindings::bvec_iter).cast::<u8>(),
                words.as_mut_ptr().cast::<u8>(),
                core::mem::size_of::<bindings::bvec_iter>(),
            )
        };
        words
    }

    /// Unpack what [`SavedIter::to_words`] packed.
    pub fn from_words(words: [u64; 3]) -> Self {
        let mut iter = bindings::bvec_iter::default();
        // SAFETY: as in `to_words`; any bytes are a valid `bvec_iter`
        // (integers only), and these came from a real one.
        unsafe {
            core::ptr::copy_nonoverlapping(
                words.as_ptr().cast::<u8>(),
                (&mut iter as *mut bindings::bvec_iter).cast::<u8>(),
                core::mem::size_of::<bindings::bvec_iter>(),
            )
        };
        Self(iter)
    }

    /// First sector.
    pub fn sector(&self) -> u64 {
        self.0.bi_sector
    }

    /// Size in bytes.
    pub fn size(&self) -> u32 {
        self.0.bi_size
    }
}

impl Bio {
    /// Save the bio's current position.
    pub fn save_iter(&self) -> SavedIter {
        // SAFETY: valid bio (see `from_raw`); plain copy of a field.
        SavedIter(unsafe { (*self.raw()).bi_iter })
    }

    /// Point the bio at `bytes` of the data described by `saved`, starting
    /// `skip` bytes in (both within `saved`).  Used to hand sub-ranges of a
    /// bio the target owns (after `end_io` returned `Incomplete`) to dm-io.
    pub fn set_range(&self, saved: &SavedIter, skip: u32, bytes: u32) {
        let skip = skip.min(saved.size());
        let bytes = bytes.min(saved.size() - skip);
        // SAFETY: the target owns the bio (see `from_raw`); `bio_advance`
        // stays within the data `saved` describes, which the bio still holds.
        unsafe {
            (*self.raw()).bi_iter = saved.0;
            bindings::dm_remap_bio_advance(self.raw(), skip);
            (*self.raw()).bi_iter.bi_size = bytes;
        }
    }

    /// Restore a saved position.
    pub fn restore_iter(&self, saved: &SavedIter) {
        // SAFETY: the target owns the bio (see `from_raw`).
        unsafe { (*self.raw()).bi_iter = saved.0 }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::bio {
        self.raw()
    }
}

/// A bio whose completion the target took over in `map`
/// ([`MapIo::take`](super::MapIo::take)) or `end_io`
/// ([`EndIo::take`](super::EndIo::take)).  It must be
/// finished with [`OwnedBio::complete`]; dm core then calls `end_io` again.
/// Dropping it completes it with `BLK_STS_IOERR`: a bio that is never
/// completed would hang the device's suspend.
pub struct OwnedBio(core::ptr::NonNull<bindings::bio>);

// SAFETY: a bio taken over by the target may be completed from any context
// and any CPU.
unsafe impl Send for OwnedBio {}

/// `BLK_STS_IOERR`, for bios dropped without being completed.
const IOERR: u8 = bindings::DM_REMAP_BLK_STS_IOERR as u8;

/// Complete `bio` with `status`.
///
/// # Safety
///
/// The caller owns `bio` (as an [`OwnedBio`] or a [`HeldBio`]) and never
/// touches it again.
unsafe fn endio(bio: core::ptr::NonNull<bindings::bio>, status: u8) {
    // SAFETY: the caller owns the bio; after `bio_endio` it is dm core's.
    unsafe {
        (*bio.as_ptr()).bi_status = status;
        bindings::bio_endio(bio.as_ptr());
    }
}

impl OwnedBio {
    /// Take over `bio`.
    ///
    /// # Safety
    ///
    /// Only in `map`, for a bio for which `map` then returns
    /// `DM_MAPIO_SUBMITTED` (see `target::MapIo::take`), or in `end_io`, for
    /// a bio for which `end_io` then returns `DM_ENDIO_INCOMPLETE` (see
    /// `target::EndIo::take`).
    pub(crate) unsafe fn take(bio: &Bio) -> Self {
        // SAFETY: `bio` is a reference, hence non-null.
        Self(unsafe { core::ptr::NonNull::new_unchecked(bio.as_raw()) })
    }

    /// The bio.
    pub fn bio(&self) -> &Bio {
        // SAFETY: the target owns the bio until `complete` (type invariant).
        unsafe { Bio::from_raw(self.0.as_ptr()) }
    }

    /// Complete the bio with `status` (0 = success, else a `BLK_STS_*`).
    pub fn complete(self, status: u8) {
        let bio = core::mem::ManuallyDrop::new(self).0;
        // SAFETY: we own the bio and `self` is consumed without its `Drop`.
        unsafe { endio(bio, status) }
    }
}

impl Drop for OwnedBio {
    fn drop(&mut self) {
        // SAFETY: we own the bio (type invariant); `self` goes away.
        unsafe { endio(self.0, IOERR) }
    }
}

/// A bio that `map` took before sending it anywhere
/// ([`MapIo::hold`](super::MapIo::hold)), e.g. because the block it
/// addresses is being remapped.  The target later sends it on with
/// [`HeldBio::submit`] (dm core then calls `end_io` when it completes, as
/// for a bio `map` remapped) or finishes it with [`HeldBio::complete`] or,
/// to handle it in a worker, [`HeldBio::into_owned`].  Dropping it
/// completes it with `BLK_STS_IOERR`, so no held bio can be forgotten (a
/// bio that never completes hangs the device's suspend).
pub struct HeldBio(core::ptr::NonNull<bindings::bio>);

// SAFETY: as for `OwnedBio`; a held bio may also be submitted from any
// process context.
unsafe impl Send for HeldBio {}

impl HeldBio {
    /// Hold `bio`.
    ///
    /// # Safety
    ///
    /// Only in `map`, for the bio `map` was given, for which it then returns
    /// `DM_MAPIO_SUBMITTED` (see `target::MapIo::hold`).
    pub(crate) unsafe fn hold(bio: &Bio) -> Self {
        // SAFETY: `bio` is a reference, hence non-null.
        Self(unsafe { core::ptr::NonNull::new_unchecked(bio.as_raw()) })
    }

    /// The bio.
    pub fn bio(&self) -> &Bio {
        // SAFETY: the target owns the bio while it holds it (type
        // invariant).
        unsafe { Bio::from_raw(self.0.as_ptr()) }
    }

    /// Send the bio to `sector` of `dev`, as `map` returning
    /// `DM_MAPIO_REMAPPED` would have (`dm_submit_bio_remap()`).  Any
    /// process context; not from `map`.
    pub fn submit(self, dev: &DmDevice, sector: u64) {
        let bio = core::mem::ManuallyDrop::new(self).0;
        // The target holds a reference on `dev` that outlives every bio
        // mapped through it (dm core drains them before the destructor).
        // With a NULL `tgt_clone`, dm core submits the clone itself and
        // accounts the I/O once; its completion runs `end_io`.
        // SAFETY: we own the clone, which `map` neither submitted nor
        // completed (type invariant); it now targets `dev` (see above).
        unsafe {
            bindings::dm_remap_bio_set_dev(bio.as_ptr(), dev.bdev());
            (*bio.as_ptr()).bi_iter.bi_sector = sector;
            bindings::dm_submit_bio_remap(bio.as_ptr(), core::ptr::null_mut());
        }
    }

    /// Complete the bio with `status` without doing its I/O.
    pub fn complete(self, status: u8) {
        let bio = core::mem::ManuallyDrop::new(self).0;
        // SAFETY: we own the bio and `self` is consumed without its `Drop`.
        unsafe { endio(bio, status) }
    }

    /// Keep the bio to complete it later (it will not be submitted).
    pub fn into_owned(self) -> OwnedBio {
        // An `OwnedBio` may be any bio `map` took: the same ownership.
        OwnedBio(core::mem::ManuallyDrop::new(self).0)
    }
}

impl Drop for HeldBio {
    fn drop(&mut self) {
        // SAFETY: we own the bio (type invariant); `self` goes away.
        unsafe { endio(self.0, IOERR) }
    }
}

mod sealed {
    /// A handle that owns a bio and can be linked into a [`super::BioQueue`].
    pub trait Linkable {
        /// Give up the handle, keeping the bio owned.
        fn into_raw(self) -> core::ptr::NonNull<super::bindings::bio>;
        /// Rebuild the handle.
        ///
        /// # Safety
        ///
        /// `bio` came from `into_raw` of the same type.
        unsafe fn from_raw(bio: core::ptr::NonNull<super::bindings::bio>) -> Self;
    }
}

impl sealed::Linkable for OwnedBio {
    fn into_raw(self) -> core::ptr::NonNull<bindings::bio> {
        core::mem::ManuallyDrop::new(self).0
    }
    unsafe fn from_raw(bio: core::ptr::NonNull<bindings::bio>) -> Self {
        Self(bio)
    }
}

impl sealed::Linkable for HeldBio {
    fn into_raw(self) -> core::ptr::NonNull<bindings::bio> {
        core::mem::ManuallyDrop::new(self).0
    }
    unsafe fn from_raw(bio: core::ptr::NonNull<bindings::bio>) -> Self {
        Self(bio)
    }
}

/// A FIFO of bios the target owns ([`OwnedBio`] or [`HeldBio`]), e.g.
/// handed from completion context to a worker.  Dropping it drops (and so
/// fails) the bios still on it.
pub struct BioQueue<T: sealed::Linkable = OwnedBio> {
    list: bindings::bio_list,
    _owns: core::marker::PhantomData<T>,
}

// SAFETY: the list only links bios the target owns, which may be completed
// or submitted from any thread; it is used under a `SpinLock`.
unsafe impl<T: sealed::Linkable> Send for BioQueue<T> {}

impl<T: sealed::Linkable> Default for BioQueue<T> {
    fn default() -> Self {
        Self {
            list: bindings::bio_list {
                head: core::ptr::null_mut(),
                tail: core::ptr::null_mut(),
            },
            _owns: core::marker::PhantomData,
        }
    }
}

impl<T: sealed::Linkable> BioQueue<T> {
    /// Append a bio.
    pub fn push(&mut self, bio: T) {
        // SAFETY: the list links bios through `bi_next`, which is free while
        // the target owns the bio; ownership moves into the list.
        unsafe { bindings::dm_remap_bio_list_add(&mut self.list, bio.into_raw().as_ptr()) };
    }

    /// Take the first bio.
    pub fn pop(&mut self) -> Option<T> {
        // SAFETY: every bio on the list was pushed as a `T`.
        let bio = unsafe { bindings::dm_remap_bio_list_pop(&mut self.list) };
        // SAFETY: as above.
        core::ptr::NonNull::new(bio).map(|bio| unsafe { T::from_raw(bio) })
    }

    /// True if no bio is queued.
    pub fn is_empty(&self) -> bool {
        self.list.head.is_null()
    }
}

impl<T: sealed::Linkable> Drop for BioQueue<T> {
    fn drop(&mut self) {
        while let Some(bio) = self.pop() {
            drop(bio);
        }
    }
}
