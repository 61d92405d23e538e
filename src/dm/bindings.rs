// SPDX-License-Identifier: GPL-2.0

//! Raw bindings to the device-mapper, block and module-parameter C API.
//!
//! `bindings_generated.rs` is written by bindgen at build time (see Kbuild)
//! from `include/dm_remap_bindings.h`, against the headers of the kernel the
//! module is being built for.  Nothing outside `src/dm/` may use these.

#![allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    unnecessary_transmutes
)]

include!("bindings_generated.rs");
