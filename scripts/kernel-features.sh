#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kernel-features.sh SRCTREE OBJTREE
#
# Print the rustc `--cfg` flags that describe how the target kernel's Rust API
# differs from the newest one we know.  Each probe looks at the kernel's own
# source where it is there; packaged headers trees (the linux-lib-rust
# layout) have no rust/ sources, so every probe falls back to the kernel
# version when a file is absent.
#
#   dm_remap_module_author_single  `module!` takes `author: "x"` (<= 6.12)
#                                  instead of `authors: ["x"]`.
#   dm_remap_dm_io_unsup_bits      dm_io() takes `sync_unsup_bits` (7.x;
#                                  6.12 has one argument less).
srctree=$1
objtree=$2

version_code() {
	# VERSION and PATCHLEVEL of the target kernel as one number, e.g. 612.
	sed -n 's/^VERSION = \([0-9]*\)$/\1/p; s/^PATCHLEVEL = \([0-9]*\)$/\1/p' \
		"$srctree/Makefile" | paste -sd' ' | awk '{ printf "%d", $1 * 100 + $2 }'
}

modmacro=$srctree/rust/macros/module.rs
if [ -r "$modmacro" ]; then
	grep -q '"author" =>' "$modmacro" && echo "--cfg dm_remap_module_author_single"
elif [ "$(version_code)" -lt 613 ]; then
	echo "--cfg dm_remap_module_author_single"
fi

dmio=$srctree/include/linux/dm-io.h
if [ -r "$dmio" ]; then
	grep -q 'sync_unsup_bits' "$dmio" && echo "--cfg dm_remap_dm_io_unsup_bits"
elif [ "$(version_code)" -ge 700 ]; then
	echo "--cfg dm_remap_dm_io_unsup_bits"
fi
exit 0
