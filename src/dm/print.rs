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

/// Messages allowed per [`RATELIMIT_INTERVAL_NS`] by [`ratelimit`]
/// (the kernel's `DEFAULT_RATELIMIT_BURST`).
pub const RATELIMIT_BURST: u64 = 10;
/// Interval of [`ratelimit`] (the kernel's `DEFAULT_RATELIMIT_INTERVAL`).
pub const RATELIMIT_INTERVAL_NS: u64 = 5_000_000_000;

static WINDOW_START: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static WINDOW_COUNT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static SUPPRESSED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// True if one more I/O-path message may be printed now: at most
/// [`RATELIMIT_BURST`] per [`RATELIMIT_INTERVAL_NS`] for the whole module,
/// like C's `DMERR_LIMIT`.  Lock-free, callable from any context.
pub fn ratelimit() -> bool {
    use core::sync::atomic::Ordering::Relaxed;
    let now = super::misc::now_ns();
    let start = WINDOW_START.load(Relaxed);
    if now.wrapping_sub(start) >= RATELIMIT_INTERVAL_NS
        && WINDOW_START
            .compare_exchange(start, now, Relaxed, Relaxed)
            .is_ok()
    {
        WINDOW_COUNT.store(0, Relaxed);
        let missed = SUPPRESSED.swap(0, Relaxed);
        if missed != 0 {
            emit(WARN, format_args!("{missed} messages suppressed"));
        }
    }
    if WINDOW_COUNT.fetch_add(1, Relaxed) < RATELIMIT_BURST {
        true
    } else {
        SUPPRESSED.fetch_add(1, Relaxed);
        false
    }
}

/// [`dm_err!`] limited by [`ratelimit`], for messages the I/O path can
/// produce at high rates (C's `DMERR_LIMIT`).
#[macro_export]
macro_rules! dm_err_limit {
    ($($arg:tt)*) => {
        if $crate::dm::print::ratelimit() {
            $crate::dm::print::emit($crate::dm::print::ERR, format_args!($($arg)*))
        }
    };
}

/// [`dm_info!`] limited by [`ratelimit`] (C's `DMINFO_LIMIT`).
#[macro_export]
macro_rules! dm_info_limit {
    ($($arg:tt)*) => {
        if $crate::dm::print::ratelimit() {
            $crate::dm::print::emit($crate::dm::print::INFO, format_args!($($arg)*))
        }
    };
}

/// [`dm_warn!`] limited by [`ratelimit`] (C's `DMWARN_LIMIT`).
#[macro_export]
macro_rules! dm_warn_limit {
    ($($arg:tt)*) => {
        if $crate::dm::print::ratelimit() {
            $crate::dm::print::emit($crate::dm::print::WARN, format_args!($($arg)*))
        }
    };
}
