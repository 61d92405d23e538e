// SPDX-License-Identifier: GPL-2.0

//! Module parameters with range-checked setters.
//!
//! The Rust `module!` macro's parameters are not visible in sysfs on 7.2
//! (registered with permission 0) and do not exist on 6.12, so parameters are
//! declared with C's `module_param_cb()` in `src/helpers.c`, which refers to
//! two symbols per parameter defined here by [`uint_param!`]: the storage
//! (`<name>`, an `AtomicU32` with the layout of `unsigned int`) and the ops
//! (`<name>_ops`), whose `set` refuses values outside the declared range with
//! a message naming the parameter, and whose `get` is the kernel's
//! `param_get_uint`.

use super::bindings;
use core::ffi::{c_char, c_int, c_uint, CStr};
use core::sync::atomic::{AtomicU32, Ordering};

/// `struct kernel_param_ops`, shareable between CPUs.
#[repr(transparent)]
pub struct ParamOps(bindings::kernel_param_ops);

impl ParamOps {
    /// Ops for an `unsigned int` parameter that accepts `MIN..=MAX` only.
    pub const fn uint_in_range<const MIN: u32, const MAX: u32>() -> Self {
        Self(bindings::kernel_param_ops {
            flags: 0,
            set: Some(set_uint_in_range::<MIN, MAX>),
            get: Some(bindings::param_get_uint),
            free: None,
        })
    }
}

/// Parse `val` and store it in the parameter's `AtomicU32` if it lies in
/// `MIN..=MAX`; otherwise log why and return `-EINVAL`, which makes modprobe
/// (or the sysfs write) fail.
///
/// # Safety
///
/// Called by the kernel's parameter code with `kp` pointing to a parameter
/// declared in helpers.c, whose `arg` is the `AtomicU32` storage defined by
/// [`uint_param!`], and `val` either null or a NUL-terminated string.
unsafe extern "C" fn set_uint_in_range<const MIN: u32, const MAX: u32>(
    val: *const c_char,
    kp: *const bindings::kernel_param,
) -> c_int {
    // SAFETY: `kp` is valid (function contract) and `name` is a static
    // NUL-terminated string set up by `module_param_cb()`.
    let name = unsafe { CStr::from_ptr((*kp).name) };
    let name = name.to_str().unwrap_or("?");
    let name = name.strip_prefix("dm_remap.").unwrap_or(name);
    if val.is_null() {
        crate::dm_err!("parameter {name} needs a value in {MIN}..{MAX}");
        return super::Errno::EINVAL.0;
    }
    let mut parsed: c_uint = 0;
    // SAFETY: `val` is a NUL-terminated string (function contract) and
    // `parsed` is a valid output location.
    let r = unsafe { bindings::kstrtouint(val, 10, &mut parsed) };
    if r != 0 || !(MIN..=MAX).contains(&parsed) {
        // SAFETY: `val` is a NUL-terminated string (function contract).
        let text = unsafe { CStr::from_ptr(val) };
        let text = text.to_str().unwrap_or("(not UTF-8)").trim_end();
        crate::dm_err!(
            "parameter {name}: '{text}' is not a whole number in the range {MIN}..{MAX}"
        );
        return super::Errno::EINVAL.0;
    }
    // SAFETY: `arg` points to the parameter's `AtomicU32` (function
    // contract), a static that lives as long as the module.
    let storage = unsafe { &*((*kp).__bindgen_anon_1.arg as *const AtomicU32) };
    storage.store(parsed, Ordering::Relaxed);
    0
}

/// Define the storage and ops of an `unsigned int` module parameter declared
/// in helpers.c with `DM_REMAP_PARAM(name, ...)`.
///
/// `uint_param!(name, default, min, max)` defines `pub static name:
/// AtomicU32` and `name_ops`; read the value with `name.load(Relaxed)`.
#[macro_export]
macro_rules! uint_param {
    ($name:ident, $ops:ident, $default:expr, $min:expr, $max:expr) => {
        /// Storage of the module parameter of the same name.
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static $name: core::sync::atomic::AtomicU32 =
            core::sync::atomic::AtomicU32::new($default);
        /// Range-checking ops of the module parameter.
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static $ops: $crate::dm::param::ParamOps =
            $crate::dm::param::ParamOps::uint_in_range::<{ $min }, { $max }>();
        const _: () = assert!($min <= $default && $default <= $max);
    };
}

/// Read a parameter declared with [`uint_param!`].
pub fn get(param: &AtomicU32) -> u32 {
    param.load(Ordering::Relaxed)
}
