// SPDX-License-Identifier: GPL-2.0

//! dm-remap: software bad-sector remapping as a device-mapper target.
//!
//! The crate has three layers, one directory each:
//!
//! - `engine/`: the remap engine, pure `#![no_std]` Rust without `unsafe`,
//!   shared unchanged with the host crate that tests it (`cargo test`);
//! - `dm/`: the device-mapper abstraction, the only layer with `unsafe`;
//! - `target/`: the `remap` target, safe code joining the two.

use kernel::prelude::*;

pub mod dm;
// The engine's sources are shared unchanged with the host crate
// `dm-remap-engine`; its crate-level attributes (`#![no_std]`) are redundant
// here, and the data path does not use all of it yet.
#[allow(unused_attributes, dead_code, unused_imports)]
#[forbid(unsafe_code)]
#[path = "engine/lib.rs"]
pub mod engine;
pub mod target;

/// The module version (from the VERSION file, via Kbuild).
pub const VERSION: &str = env!("DM_REMAP_VERSION");

/// [`VERSION`] as numbers, for the target type's version.
pub const VERSION_TRIPLE: [u32; 3] = {
    let text = VERSION.as_bytes();
    let mut parts = [0u32; 3];
    let (mut i, mut part) = (0, 0);
    while i < text.len() {
        match text[i] {
            b'.' => part += 1,
            d @ b'0'..=b'9' if part < 3 => parts[part] = parts[part] * 10 + (d - b'0') as u32,
            _ => panic!("VERSION must look like 1.2.3"),
        }
        i += 1;
    }
    assert!(part == 2, "VERSION must look like 1.2.3");
    parts
};

#[cfg(dm_remap_module_author_single)]
module! {
    type: DmRemapModule,
    name: "dm_remap",
    author: "dm-remap developers",
    description: "device-mapper target that remaps bad blocks to a spare area",
    license: "GPL",
    alias: ["dm-remap"],
}

#[cfg(not(dm_remap_module_author_single))]
module! {
    type: DmRemapModule,
    name: "dm_remap",
    authors: ["dm-remap developers"],
    description: "device-mapper target that remaps bad blocks to a spare area",
    license: "GPL",
    alias: ["dm-remap"],
}

struct DmRemapModule {
    _target: dm::Registration<target::RemapTarget>,
}

impl kernel::Module for DmRemapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registration = dm::Registration::new().map_err(|e| {
            dm_err!("cannot register target type 'remap': error {}", e.0);
            Error::from_errno(e.0)
        })?;
        dm_info!("version {VERSION} loaded");
        Ok(Self {
            _target: registration,
        })
    }
}
