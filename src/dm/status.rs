// SPDX-License-Identifier: GPL-2.0

//! The kernel's block-layer completion statuses (`BLK_STS_*`), from the
//! bindings generated for the kernel being built for.  The engine repeats
//! them to classify errors on the host (`crate::engine::policy::blk_sts`);
//! the target checks at build time that both agree.

use super::bindings;

/// `BLK_STS_NOTSUPP`.
pub const NOTSUPP: u8 = bindings::DM_REMAP_BLK_STS_NOTSUPP as u8;
/// `BLK_STS_TIMEOUT`.
pub const TIMEOUT: u8 = bindings::DM_REMAP_BLK_STS_TIMEOUT as u8;
/// `BLK_STS_NOSPC`.
pub const NOSPC: u8 = bindings::DM_REMAP_BLK_STS_NOSPC as u8;
/// `BLK_STS_TRANSPORT`.
pub const TRANSPORT: u8 = bindings::DM_REMAP_BLK_STS_TRANSPORT as u8;
/// `BLK_STS_TARGET`.
pub const TARGET: u8 = bindings::DM_REMAP_BLK_STS_TARGET as u8;
/// `BLK_STS_RESV_CONFLICT`.
pub const RESV_CONFLICT: u8 = bindings::DM_REMAP_BLK_STS_RESV_CONFLICT as u8;
/// `BLK_STS_MEDIUM`.
pub const MEDIUM: u8 = bindings::DM_REMAP_BLK_STS_MEDIUM as u8;
/// `BLK_STS_PROTECTION`.
pub const PROTECTION: u8 = bindings::DM_REMAP_BLK_STS_PROTECTION as u8;
/// `BLK_STS_RESOURCE`.
pub const RESOURCE: u8 = bindings::DM_REMAP_BLK_STS_RESOURCE as u8;
/// `BLK_STS_IOERR`.
pub const IOERR: u8 = bindings::DM_REMAP_BLK_STS_IOERR as u8;
/// `BLK_STS_DM_REQUEUE`.
pub const DM_REQUEUE: u8 = bindings::DM_REMAP_BLK_STS_DM_REQUEUE as u8;
/// `BLK_STS_AGAIN`.
pub const AGAIN: u8 = bindings::DM_REMAP_BLK_STS_AGAIN as u8;
/// `BLK_STS_DEV_RESOURCE`.
pub const DEV_RESOURCE: u8 = bindings::DM_REMAP_BLK_STS_DEV_RESOURCE as u8;
/// `BLK_STS_ZONE_OPEN_RESOURCE`.
pub const ZONE_OPEN_RESOURCE: u8 = bindings::DM_REMAP_BLK_STS_ZONE_OPEN_RESOURCE as u8;
/// `BLK_STS_ZONE_ACTIVE_RESOURCE`.
pub const ZONE_ACTIVE_RESOURCE: u8 = bindings::DM_REMAP_BLK_STS_ZONE_ACTIVE_RESOURCE as u8;
/// `BLK_STS_OFFLINE`.
pub const OFFLINE: u8 = bindings::DM_REMAP_BLK_STS_OFFLINE as u8;
/// `BLK_STS_DURATION_LIMIT`.
pub const DURATION_LIMIT: u8 = bindings::DM_REMAP_BLK_STS_DURATION_LIMIT as u8;
