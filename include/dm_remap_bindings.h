/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the build-time bindgen run (see Kbuild): everything the Rust
 * device-mapper abstraction in src/dm/ uses from the kernel.  The bindings are
 * generated against the headers of the kernel being built for, because the
 * layouts of struct bio, dm_target, queue_limits, ... differ between kernel
 * versions and configurations.
 */
#include "dm_remap_helpers.h"

#include <linux/kstrtox.h>
#include <linux/kdev_t.h>

/* bindgen does not expand function-like macros; export what we need. */
const dev_t DM_REMAP_MINORBITS = MINORBITS;
const blk_opf_t DM_REMAP_REQ_OP_MASK = REQ_OP_MASK;
const blk_opf_t DM_REMAP_REQ_PREFLUSH = REQ_PREFLUSH;
const blk_opf_t DM_REMAP_REQ_FUA = REQ_FUA;
const blk_opf_t DM_REMAP_REQ_SYNC = REQ_SYNC;
/* Completion statuses (src/dm/status.rs checks them against the engine's). */
const blk_status_t DM_REMAP_BLK_STS_NOTSUPP = BLK_STS_NOTSUPP;
const blk_status_t DM_REMAP_BLK_STS_TIMEOUT = BLK_STS_TIMEOUT;
const blk_status_t DM_REMAP_BLK_STS_NOSPC = BLK_STS_NOSPC;
const blk_status_t DM_REMAP_BLK_STS_TRANSPORT = BLK_STS_TRANSPORT;
const blk_status_t DM_REMAP_BLK_STS_TARGET = BLK_STS_TARGET;
const blk_status_t DM_REMAP_BLK_STS_RESV_CONFLICT = BLK_STS_RESV_CONFLICT;
const blk_status_t DM_REMAP_BLK_STS_MEDIUM = BLK_STS_MEDIUM;
const blk_status_t DM_REMAP_BLK_STS_PROTECTION = BLK_STS_PROTECTION;
const blk_status_t DM_REMAP_BLK_STS_RESOURCE = BLK_STS_RESOURCE;
const blk_status_t DM_REMAP_BLK_STS_IOERR = BLK_STS_IOERR;
const blk_status_t DM_REMAP_BLK_STS_DM_REQUEUE = BLK_STS_DM_REQUEUE;
const blk_status_t DM_REMAP_BLK_STS_AGAIN = BLK_STS_AGAIN;
const blk_status_t DM_REMAP_BLK_STS_DEV_RESOURCE = BLK_STS_DEV_RESOURCE;
const blk_status_t DM_REMAP_BLK_STS_ZONE_OPEN_RESOURCE = BLK_STS_ZONE_OPEN_RESOURCE;
const blk_status_t DM_REMAP_BLK_STS_ZONE_ACTIVE_RESOURCE = BLK_STS_ZONE_ACTIVE_RESOURCE;
const blk_status_t DM_REMAP_BLK_STS_OFFLINE = BLK_STS_OFFLINE;
const blk_status_t DM_REMAP_BLK_STS_DURATION_LIMIT = BLK_STS_DURATION_LIMIT;
/* The bioset of the worker's own data I/O (src/dm/dmio.rs). */
const int DM_REMAP_BIOSET_NEED_BVECS = BIOSET_NEED_BVECS;
/* Allocations on the I/O path must not recurse into the block layer. */
const gfp_t DM_REMAP_GFP_NOIO = GFP_NOIO;
/* The largest logical block size a dm device may have (src/dm/limits.rs). */
const unsigned long DM_REMAP_PAGE_SIZE = PAGE_SIZE;
