// SPDX-License-Identifier: GPL-2.0

//! The argument vector of a table line or a `dmsetup message`.

use core::ffi::{c_char, CStr};

/// A cursor over the `argv` that device-mapper core hands to `ctr` and
/// `message`.  Every argument is a NUL-terminated string owned by the caller
/// for the duration of the hook.
pub struct Args<'a> {
    argv: &'a [*mut c_char],
    next: usize,
}

impl<'a> Args<'a> {
    /// Wrap `argc`/`argv` as passed by device-mapper core.
    ///
    /// # Safety
    ///
    /// `argv` must point to `argc` valid pointers to NUL-terminated strings
    /// (or be null when `argc` is 0), all valid and unchanged for `'a`.
    pub(crate) unsafe fn from_raw(argc: core::ffi::c_uint, argv: *mut *mut c_char) -> Self {
        let argv = if argc == 0 || argv.is_null() {
            &[][..]
        } else {
            // SAFETY: the caller guarantees `argv` holds `argc` pointers that
            // stay valid for `'a`.
            unsafe { core::slice::from_raw_parts(argv, argc as usize) }
        };
        Self { argv, next: 0 }
    }

    /// Number of arguments not yet consumed.
    pub fn remaining(&self) -> usize {
        self.argv.len() - self.next
    }

    /// Total number of arguments.
    pub fn len(&self) -> usize {
        self.argv.len()
    }

    /// True if there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.argv.is_empty()
    }

    /// The next argument as a C string.
    pub fn next_cstr(&mut self) -> Option<&'a CStr> {
        let ptr = *self.argv.get(self.next)?;
        self.next += 1;
        // SAFETY: `from_raw`'s contract: every pointer in `argv` is a valid
        // NUL-terminated string for `'a`.
        Some(unsafe { CStr::from_ptr(ptr) })
    }

    /// The next argument as UTF-8 text; `Some(Err(()))` if it is not UTF-8.
    pub fn next_str(&mut self) -> Option<Result<&'a str, ()>> {
        self.next_cstr().map(|s| s.to_str().map_err(|_| ()))
    }
}
