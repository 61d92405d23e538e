// SPDX-License-Identifier: GPL-2.0

//! Synchronous metadata I/O through device-mapper's `dm-io` service.
//!
//! `dm_io()` is what C targets (dm-log, dm-snapshot, dm-integrity) use for
//! their metadata: it takes a kernel buffer, splits and submits bios and, with
//! no notify function, waits for them.

use super::bindings;
use super::device::DmDevice;
use super::Errno;
use core::ffi::{c_uint, c_ulong, c_void};
use core::ptr::NonNull;

/// A dm-io client (its private mempools); one per target.
pub struct DmIo {
    client: NonNull<bindings::dm_io_client>,
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
        // SAFETY: no preconditions; returns an ERR_PTR on failure.
        let client = unsafe { bindings::dm_io_client_create() };
        if client.is_null() || (client as usize) > (-4096isize) as usize {
            return Err(Errno::ENOMEM);
        }
        Ok(Self {
            // SAFETY: checked non-null above.
            client: unsafe { NonNull::new_unchecked(client) },
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
    /// `sector` of `dev`, synchronously; the bio itself is not submitted.
    /// The caller must own the bio (e.g. an [`OwnedBio`](super::OwnedBio)).
    pub fn write_bio(
        &self,
        dev: &DmDevice,
        sector: u64,
        bio: &super::Bio,
        fua: bool,
    ) -> Result<(), Errno> {
        let mut opf = bindings::req_op_REQ_OP_WRITE | bindings::DM_REMAP_REQ_SYNC;
        if fua {
            opf |= bindings::DM_REMAP_REQ_FUA;
        }
        self.bio_io(dev, opf, sector, bio)
    }

    /// Read `sector` of `dev` into the pages the bio's iterator points at,
    /// synchronously (the bio itself is not submitted).  The caller must
    /// own the bio.
    pub fn read_bio(&self, dev: &DmDevice, sector: u64, bio: &super::Bio) -> Result<(), Errno> {
        self.bio_io(
            dev,
            bindings::req_op_REQ_OP_READ | bindings::DM_REMAP_REQ_SYNC,
            sector,
            bio,
        )
    }

    fn bio_io(&self, dev: &DmDevice, opf: u32, sector: u64, bio: &super::Bio) -> Result<(), Errno> {
        let mut mem = bindings::dm_io_memory::default();
        mem.type_ = bindings::dm_io_mem_type_DM_IO_BIO;
        mem.ptr.bio = bio.as_raw();
        self.submit(dev, opf, sector, mem, bio.size() as usize)
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
