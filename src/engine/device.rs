//! The metadata I/O interface the caller implements.

/// A failed metadata I/O. `errno` is whatever the implementation reports
/// (a negative kernel errno in the kernel, `raw_os_error` on the host, or 0
/// when unknown); the engine only passes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError {
    /// Implementation-defined error number, for log messages only.
    pub errno: i32,
}

/// Synchronous block I/O on the spare region, implemented by the caller.
///
/// Sectors are 512-byte units relative to the start of the spare region
/// (the caller adds the region's offset on the real device). The engine
/// transfers whole 4096-byte metadata blocks at sectors that are multiples
/// of 8: one block per call, except the blank check before a format, which
/// reads as many consecutive blocks per call as the buffer the caller
/// handed it holds.
///
/// Ordering contract: a `write` may be reordered with other writes and may
/// be lost or torn by a crash until a later `flush` has returned `Ok`. The
/// engine only treats data as durable after `flush` returns, so `flush` must
/// be a real cache flush (REQ_PREFLUSH in the kernel, `fdatasync` on the
/// host). In the kernel these calls are made from process context and may
/// sleep.
pub trait MetaDevice {
    /// Reads `buf.len()` bytes starting at `sector`.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes `buf` starting at `sector`; not durable until `flush`.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), IoError>;
}

impl<T: MetaDevice + ?Sized> MetaDevice for &mut T {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read(sector, buf)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError> {
        (**self).write(sector, buf)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        (**self).flush()
    }
}
