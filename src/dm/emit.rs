// SPDX-License-Identifier: GPL-2.0

//! Writing into the `result` buffer of `status` and `message` (C's `DMEMIT`).

use core::ffi::c_char;
use core::fmt;

/// A bounded writer over a device-mapper result buffer.
///
/// Like `DMEMIT`, output that does not fit is cut off; the buffer is always
/// NUL-terminated.  Device-mapper core notices a full buffer (the string
/// fills it completely) and retries the ioctl with a bigger one.
pub struct Emitter<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflowed: bool,
}

impl<'a> Emitter<'a> {
    /// Wrap `result`/`maxlen` as passed to `status` or `message`.
    ///
    /// # Safety
    ///
    /// `result` must be valid for writes of `maxlen` bytes for `'a`, and not
    /// accessed by anyone else meanwhile.
    pub(crate) unsafe fn from_raw(result: *mut c_char, maxlen: core::ffi::c_uint) -> Self {
        let buf = if result.is_null() || maxlen == 0 {
            &mut [][..]
        } else {
            // SAFETY: the caller guarantees `result` is writable for `maxlen`
            // bytes for `'a`.
            unsafe { core::slice::from_raw_parts_mut(result.cast::<u8>(), maxlen as usize) }
        };
        let mut emitter = Self {
            buf,
            len: 0,
            overflowed: false,
        };
        emitter.terminate();
        emitter
    }

    fn terminate(&mut self) {
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0;
        }
    }

    /// Bytes written so far (without the NUL).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if some output did not fit.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl fmt::Write for Emitter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the terminating NUL.
        let room = self.buf.len().saturating_sub(self.len + 1);
        let n = s.len().min(room);
        if n < s.len() {
            self.overflowed = true;
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + n) {
            dst.copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
        }
        self.terminate();
        Ok(())
    }
}
