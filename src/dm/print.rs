// SPDX-License-Identifier: GPL-2.0

//! `DMERR`/`DMWARN`/`DMINFO`/`DMDEBUG`-style logging for Rust.
//!
//! Messages carry the same prefix as the C macros with `DM_MSG_PREFIX
//! "remap"`, i.e. `device-mapper: remap: ...`, so they read like every other
//! target's.  Formatting is done by `core::fmt` through printk's `%pA`
//! extension, which the kernel provides for Rust.

use super::bindings;
use core::ffi::{c_void, CStr};
use core::fmt;

/// printk format strings, one per level (`KERN_*` is "\x01" + digit).
pub const ERR: &CStr = c"\x013device-mapper: remap: %pA\n";
/// Warning level.
pub const WARN: &CStr = c"\x014device-mapper: remap: %pA\n";
/// Info level.
pub const INFO: &CStr = c"\x016device-mapper: remap: %pA\n";
/// Debug level (printed at KERN_INFO when `dm_remap_debug` asks for it, so
/// that it shows without dynamic debug).
pub const DEBUG: &CStr = c"\x016device-mapper: remap: debug: %pA\n";

/// Print `args` with the given printk format (one of the constants above).
pub fn emit(format: &'static CStr, args: fmt::Arguments<'_>) {
    // SAFETY: `format` is a NUL-terminated printk format with exactly one
    // `%pA` conversion, whose argument must point to a `fmt::Arguments`; we
    // pass a pointer to `args`, which lives until `_printk` returns.
    unsafe {
        bindings::_printk(
            format.as_ptr(),
            &args as *const fmt::Arguments<'_> as *const c_void,
        );
    }
}

/// Log an error, like C's `DMERR`.
#[macro_export]
macro_rules! dm_err {
    ($($arg:tt)*) => {
        $crate::dm::print::emit($crate::dm::print::ERR, format_args!($($arg)*))
    };
}

/// Log a warning, like C's `DMWARN`.
#[macro_export]
macro_rules! dm_warn {
    ($($arg:tt)*) => {
        $crate::dm::print::emit($crate::dm::print::WARN, format_args!($($arg)*))
    };
}

/// Log an informational message, like C's `DMINFO`.
#[macro_export]
macro_rules! dm_info {
    ($($arg:tt)*) => {
        $crate::dm::print::emit($crate::dm::print::INFO, format_args!($($arg)*))
    };
}
