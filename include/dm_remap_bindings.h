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
const blk_status_t DM_REMAP_BLK_STS_IOERR = BLK_STS_IOERR;
