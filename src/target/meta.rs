// SPDX-License-Identifier: GPL-2.0

//! The engine's view of the kernel: metadata I/O on the spare region and
//! the memory the engine owns.

use crate::dm::{DmDevice, DmIo, Errno, KvBuf, KvShared};
use crate::engine::{IoError, MetaDevice, Storage};
use core::sync::atomic::AtomicU64;

/// Engine memory in kernel allocations.  The table is shared: the bio map
/// path holds a second handle and reads it lock-free.
pub struct KernelStorage;

impl Storage for KernelStorage {
    type Table = KvShared<AtomicU64>;
    type Bitmaps = KvBuf<u64>;
    type Buffer = KvBuf<u8>;
}

/// Metadata I/O on the spare region through dm-io.  Sectors from the
/// engine are relative to the region start.
pub struct SpareMeta {
    io: DmIo,
    dev: DmDevice,
    offset: u64,
    len: u64,
}

impl SpareMeta {
    /// Metadata on `len` sectors of `dev` from `offset`.
    pub fn new(dev: DmDevice, offset: u64, len: u64) -> Result<Self, Errno> {
        Ok(Self {
            io: DmIo::new()?,
            dev,
            offset,
            len,
        })
    }

    /// The spare device.
    pub fn device(&self) -> &DmDevice {
        &self.dev
    }

    /// The dm-io client, for data copies done by the target.
    pub fn io(&self) -> &DmIo {
        &self.io
    }

    fn absolute(&self, sector: u64, bytes: usize) -> Result<u64, IoError> {
        let sectors = (bytes as u64).div_ceil(512);
        match sector.checked_add(sectors) {
            // Never touch anything outside the region the table line gave.
            Some(end) if end <= self.len => Ok(self.offset + sector),
            _ => Err(IoError {
                errno: Errno::EIO.0,
            }),
        }
    }
}

fn io_error(e: Errno) -> IoError {
    IoError { errno: e.0 }
}

impl MetaDevice for SpareMeta {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let at = self.absolute(sector, buf.len())?;
        self.io.read(&self.dev, at, buf).map_err(io_error)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError> {
        let at = self.absolute(sector, buf.len())?;
        self.io.write(&self.dev, at, buf, false).map_err(io_error)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.io.flush(&self.dev).map_err(io_error)
    }
}
