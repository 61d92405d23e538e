// SPDX-License-Identifier: GPL-2.0

//! Small kernel services: random UUIDs and the monotonic clock.

use super::bindings;

/// A random (version 4) UUID.
pub fn random_uuid() -> [u8; 16] {
    let mut uuid = [0u8; 16];
    // SAFETY: `generate_random_uuid` writes exactly 16 bytes.
    unsafe { bindings::generate_random_uuid(uuid.as_mut_ptr()) };
    uuid
}

/// Monotonic time in nanoseconds (`ktime_get_ns()`).
pub fn now_ns() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::dm_remap_ktime_get_ns() }
}

/// Sleep for at least `ms` milliseconds (process context only).
pub fn sleep_ms(ms: u32) {
    // SAFETY: callers run in process context, where sleeping is allowed.
    unsafe { bindings::msleep(ms) };
}
