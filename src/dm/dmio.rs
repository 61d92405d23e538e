// SPDX-License-Identifier: GPL-2.0

//! Synchronous metadata I/O through device-mapper's `dm-io` service.
//!
//! `dm_io()` is what C targets (dm-log, dm-snapshot, dm-integrity) use for
//! their metadata: it takes a kernel buffer, splits and submits bios and, with
//! no notify function, waits for them.
//!
//! dm-io reports only *that* a region failed, not the block-layer status,
//! so the target's own data I/O (rewrites, retries and copies of blocks on
//! behalf of a bio) goes through [`DmIo::write_bio`], [`DmIo::read_bio`],
//! [`DmIo::read_block`] and [`DmIo::write_block`] instead: one bio from
//! the client's own bioset, submitted and waited for, whose `bi_status`
//! is returned, so that only media errors remap blocks (see
//! `crate::engine::classify_status`).

use super::bindings;
use super::device::DmDevice;
use super::kvbuf::KvBuf;
use super::mem::KzBox;
use super::Errno;
use core::ffi::{c_uint, c_ulong, c_void};
use core::ptr::NonNull;

/// A failed I/O's block-layer completion status (`BLK_STS_*`, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlkStatus(pub u8);

impl BlkStatus {
    /// `BLK_STS_IOERR`: what a dm-io failure, which carries no status,
    /// is reported as.
    pub const IOERR: BlkStatus = BlkStatus(bindings::DM_REMAP_BLK_STS_IOERR as u8);
}

/// A `struct bio_set`, initialised, at a fixed address (its mempools link
/// to themselves) until it is dropped.
struct BioSet(KzBox<bindings::bio_set>);

impl BioSet {
    /// A bioset of `pool` bios with room for one inline bio_vec each.
    fn new(pool: u32) -> Result<Self, Errno> {
        let mut set = KzBox::new(bindings::bio_set::default())?;
        // SAFETY: `set` is zeroed memory for a `struct bio_set` that no one
        // else uses and that does not move while the box lives.
        let r = unsafe {
            bindings::bioset_init(
                &mut *set,
                pool,
                0,
                bindings::DM_REMAP_BIOSET_NEED_BVECS as core::ffi::c_int,
            )
        };
        if r != 0 {
            // bioset_init undoes its partial work on failure; the zeroed
            // box is just freed.
            return Err(Errno(r));
        }
        Ok(Self(set))
    }

    fn as_ptr(&self) -> *mut bindings::bio_set {
        (&*self.0 as *const bindings::bio_set).cast_mut()
    }
}

impl Drop for BioSet {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`; every bio allocated from it was put
        // before the synchronous call that allocated it returned.
        unsafe { bindings::bioset_exit(self.as_ptr()) };
    }
}

// SAFETY: a bioset may be allocated from on any thread (mempools lock
// themselves); the `DmIo` that owns it is shared only as `&DmIo`.
unsafe impl Send for BioSet {}
// SAFETY: as above.
unsafe impl Sync for BioSet {}

/// A dm-io client (its private mempools) and a bioset for the target's
/// own data I/O; one per target.
pub struct DmIo {
    client: NonNull<bindings::dm_io_client>,
    bioset: BioSet,
}

// SAFETY: dm-io clients may be used from any thread; each call is
// self-contained.
unsafe impl Send for DmIo {}
// SAFETY: as above.
unsafe impl Sync for DmIo {}

/// One 512-byte sector.
const SECTOR: usize = 512;

impl DmIo {
    /// Create a client.
    pub fn new() -> Result<Self, Errno> {
        // The worker has one data bio in flight at a time; a pool of two
        // (BIO_POOL_SIZE) guarantees forward progress under memory
        // pressure.
        let bioset = BioSet::new(2)?;
        // SAFETY: no preconditions; returns an ERR_PTR on failure.
        let client = unsafe { bindings::dm_io_client_create() };
        if client.is_null() || (client as usize) > (-4096isize) as usize {
            return Err(Errno::ENOMEM);
        }
        Ok(Self {
            // SAFETY: checked non-null above.
            client: unsafe { NonNull::new_unchecked(client) },
            bioset,
        })
    }

    fn io(
        &self,
        dev: &DmDevice,
        opf: u32,
        sector: u64,
        buf: *mut u8,
        len: usize,
    ) -> Result<(), Errno> {
        if len % SECTOR != 0 {
            return Err(Errno::EINVAL);
        }
        let mut mem = bindings::dm_io_memory::default();
        // SAFETY: any address may be tested.
        mem.type_ = if unsafe { bindings::dm_remap_is_vmalloc_addr(buf as *const c_void) } {
            bindings::dm_io_mem_type_DM_IO_VMA
        } else {
            bindings::dm_io_mem_type_DM_IO_KMEM
        };
        mem.ptr.addr = buf.cast::<c_void>();
        self.submit(dev, opf, sector, mem, len)
    }

    /// Write the data the bio currently points at (its iterator) to
    /// `sector` of `dev`, synchronously, through a clone that shares its
    /// pages; the bio itself is not submitted.  With `fua`, the data is on
    /// stable media when this returns.  The caller must own the bio (e.g.
    /// an [`OwnedBio`](super::OwnedBio), the only way to get a `&Bio`
    /// outside `map` and `end_io`).
    pub fn write_bio(
        &self,
        dev: &DmDevice,
        sector: u64,
        bio: &super::Bio,
        fua: bool,
    ) -> Result<(), BlkStatus> {
        let mut opf = bindings::req_op_REQ_OP_WRITE | bindings::DM_REMAP_REQ_SYNC;
        if fua {
            opf |= bindings::DM_REMAP_REQ_FUA;
        }
        self.clone_io(dev, opf, sector, bio)
    }

    /// Read `sector` of `dev` into the pages the bio's iterator points at,
    /// synchronously, through a clone (the bio itself is not submitted).
    /// The caller must own the bio.
    pub fn read_bio(&self, dev: &DmDevice, sector: u64, bio: &super::Bio) -> Result<(), BlkStatus> {
        self.clone_io(
            dev,
            bindings::req_op_REQ_OP_READ | bindings::DM_REMAP_REQ_SYNC,
            sector,
            bio,
        )
    }

    fn clone_io(
        &self,
        dev: &DmDevice,
        opf: u32,
        sector: u64,
        bio: &super::Bio,
    ) -> Result<(), BlkStatus> {
        if bio.size() == 0 || bio.size() % SECTOR as u32 != 0 {
            return Err(BlkStatus::IOERR);
        }
        // No device yet: `__bio_clone` would copy BIO_REMAPPED from the
        // source (whose sector a partition already remapped) if the
        // devices matched; `bio_set_dev` below clears it.
        // GFP_NOIO from a mempool-backed bioset never fails, but NULL is
        // checked anyway.
        // SAFETY: the caller owns `bio` (see `write_bio`), so its bio_vecs
        // stay valid and unchanged until the clone sharing them is put.
        let clone = unsafe {
            bindings::bio_alloc_clone(
                core::ptr::null_mut(),
                bio.as_raw(),
                bindings::DM_REMAP_GFP_NOIO,
                self.bioset.as_ptr(),
            )
        };
        if clone.is_null() {
            return Err(BlkStatus(bindings::DM_REMAP_BLK_STS_RESOURCE as u8));
        }
        // SAFETY: `clone` is a fresh bio we own; `dev` holds a reference on
        // its block device for the life of the target.  submit_bio_wait()
        // returns once the clone completed; it is put exactly once.
        unsafe { self.submit_wait(clone, dev, opf, sector) }
    }

    /// Submit `bio` to `sector` of `dev` with `opf`, wait, put it and
    /// return its status.
    ///
    /// # Safety
    ///
    /// `bio` was allocated from `self.bioset`, is owned by the caller and
    /// describes memory that stays valid until this returns; it is not
    /// used afterwards.
    unsafe fn submit_wait(
        &self,
        bio: *mut bindings::bio,
        dev: &DmDevice,
        opf: u32,
        sector: u64,
    ) -> Result<(), BlkStatus> {
        // SAFETY: see the function's contract; `dev` outlives the call.
        let status = unsafe {
            bindings::dm_remap_bio_set_dev(bio, dev.bdev());
            (*bio).bi_opf = opf;
            (*bio).bi_iter.bi_sector = sector;
            bindings::submit_bio_wait(bio);
            let status = (*bio).bi_status;
            bindings::bio_put(bio);
            status
        };
        if status == 0 {
            Ok(())
        } else {
            Err(BlkStatus(status))
        }
    }

    /// Read `buf.len()` bytes (a multiple of 512, within one page, as a
    /// block buffer of at most a page is) at `sector` of `dev` into `buf`,
    /// returning the block-layer status on failure.
    pub fn read_block(
        &self,
        dev: &DmDevice,
        sector: u64,
        buf: &mut KvBuf<u8>,
    ) -> Result<(), BlkStatus> {
        let len = buf.len();
        self.page_io(
            dev,
            bindings::req_op_REQ_OP_READ | bindings::DM_REMAP_REQ_SYNC,
            sector,
            buf.as_mut_ptr(),
            len,
        )
    }

    /// Write `buf` (a multiple of 512 bytes within one page) at `sector`
    /// of `dev`; with `fua`, on stable media when this returns.
    pub fn write_block(
        &self,
        dev: &DmDevice,
        sector: u64,
        buf: &KvBuf<u8>,
        fua: bool,
    ) -> Result<(), BlkStatus> {
        let mut opf = bindings::req_op_REQ_OP_WRITE | bindings::DM_REMAP_REQ_SYNC;
        if fua {
            opf |= bindings::DM_REMAP_REQ_FUA;
        }
        // The bio only reads from the buffer for a write.
        self.page_io(dev, opf, sector, buf.as_ptr().cast_mut(), buf.len())
    }

    fn page_io(
        &self,
        dev: &DmDevice,
        opf: u32,
        sector: u64,
        buf: *mut u8,
        len: usize,
    ) -> Result<(), BlkStatus> {
        let page_size = bindings::DM_REMAP_PAGE_SIZE as usize;
        let offset = buf as usize & (page_size - 1);
        if len == 0 || len % SECTOR != 0 || offset + len > page_size {
            // Not one page's worth: dm-io handles any buffer, without a
            // status (so any failure reads as a media error).
            return self
                .io(dev, opf, sector, buf, len)
                .map_err(|_| BlkStatus::IOERR);
        }
        // SAFETY: `buf` is the start of a live kvzalloc buffer (a `KvBuf`
        // borrowed by the caller for this call): direct-mapped (kmalloc)
        // memory or vmalloc memory, told apart by `is_vmalloc_addr`.
        let page = unsafe {
            if bindings::dm_remap_is_vmalloc_addr(buf as *const c_void) {
                bindings::vmalloc_to_page(buf as *const c_void)
            } else {
                bindings::dm_remap_virt_to_page(buf as *const c_void)
            }
        };
        if page.is_null() {
            return Err(BlkStatus::IOERR);
        }
        // SAFETY: the bioset has bio_vec pools (BIOSET_NEED_BVECS); with
        // GFP_NOIO the mempool allocation waits rather than fails.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                dev.bdev(),
                1,
                opf,
                bindings::DM_REMAP_GFP_NOIO,
                self.bioset.as_ptr(),
            )
        };
        if bio.is_null() {
            return Err(BlkStatus(bindings::DM_REMAP_BLK_STS_RESOURCE as u8));
        }
        // SAFETY: `bio` is ours with room for one bio_vec; `page`, `offset`
        // and `len` describe the caller's buffer, which lies within that
        // page (checked above) and outlives the synchronous I/O.
        let added = unsafe { bindings::bio_add_page(bio, page, len as u32, offset as u32) };
        if added as usize != len {
            // SAFETY: never submitted; put once.
            unsafe { bindings::bio_put(bio) };
            return Err(BlkStatus::IOERR);
        }
        // SAFETY: `bio` came from our bioset and points at the caller's
        // buffer, valid until this returns.
        unsafe { self.submit_wait(bio, dev, opf, sector) }
    }

    fn submit(
        &self,
        dev: &DmDevice,
        opf: u32,
        sector: u64,
        mem: bindings::dm_io_memory,
        len: usize,
    ) -> Result<(), Errno> {
        if len % SECTOR != 0 {
            return Err(Errno::EINVAL);
        }
        let mut req = bindings::dm_io_request {
            bi_opf: opf,
            mem,
            client: self.client.as_ptr(),
            ..Default::default()
        };
        let mut region = bindings::dm_io_region {
            bdev: dev.bdev(),
            sector,
            count: (len / SECTOR) as u64,
        };
        let mut error_bits: c_ulong = 0;
        // SAFETY: `req.mem` describes `len` bytes that the callers guarantee
        // are valid (heap memory, or a bio they own) for this synchronous
        // call; `region` names a device we hold a reference on.
        let r = unsafe {
            #[cfg(dm_remap_dm_io_unsup_bits)]
            {
                bindings::dm_io(
                    &mut req,
                    1 as c_uint,
                    &mut region,
                    &mut error_bits,
                    core::ptr::null_mut(),
                    bindings::dm_remap_ioprio_default(),
                )
            }
            #[cfg(not(dm_remap_dm_io_unsup_bits))]
            {
                bindings::dm_io(
                    &mut req,
                    1 as c_uint,
                    &mut region,
                    &mut error_bits,
                    bindings::dm_remap_ioprio_default(),
                )
            }
        };
        if r != 0 {
            Err(Errno(r))
        } else if error_bits != 0 {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    /// Read `buf.len()` bytes (a multiple of 512) at `sector` of `dev`.
    /// `buf` must be heap memory (kmalloc or vmalloc), never the stack.
    pub fn read(&self, dev: &DmDevice, sector: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.io(
            dev,
            bindings::req_op_REQ_OP_READ | bindings::DM_REMAP_REQ_SYNC,
            sector,
            buf.as_mut_ptr(),
            buf.len(),
        )
    }

    /// Write `buf` (a multiple of 512 bytes, heap memory) at `sector`.
    /// With `fua`, the data is on stable media when this returns.
    pub fn write(&self, dev: &DmDevice, sector: u64, buf: &[u8], fua: bool) -> Result<(), Errno> {
        let mut opf = bindings::req_op_REQ_OP_WRITE | bindings::DM_REMAP_REQ_SYNC;
        if fua {
            opf |= bindings::DM_REMAP_REQ_FUA;
        }
        // dm-io only reads from the buffer for writes.
        self.io(dev, opf, sector, buf.as_ptr() as *mut u8, buf.len())
    }

    /// Flush the device's volatile write cache (an empty `REQ_PREFLUSH`).
    pub fn flush(&self, dev: &DmDevice) -> Result<(), Errno> {
        let opf = bindings::req_op_REQ_OP_WRITE
            | bindings::DM_REMAP_REQ_PREFLUSH
            | bindings::DM_REMAP_REQ_SYNC;
        self.io(dev, opf, 0, core::ptr::null_mut(), 0)
    }
}

impl Drop for DmIo {
    fn drop(&mut self) {
        // SAFETY: created in `new`; all synchronous I/O has finished.
        unsafe { bindings::dm_io_client_destroy(self.client.as_ptr()) };
    }
}
