#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# extract-bindgen-flags.sh RUST_MAKEFILE
#
# Print, as a makefile fragment, the part of the target kernel's rust/Makefile
# that derives bindgen's C flags from the C compiler's ($(c_flags)): from
# `ifdef CONFIG_CC_IS_CLANG` / `bindgen_c_flags = $(c_flags)` up to the
# definition of `bindgen_c_flags_final`.  Kbuild includes the result, so the
# GCC-only flags filtered out, the bindgen --target and any extra flags are
# exactly the ones this kernel uses for its own bindings.
#
# Fails (and so fails the build with a clear message) if that block is not
# found, e.g. in a kernel build tree that ships no rust/Makefile.
set -e
mk=$1
if [ ! -r "$mk" ]; then
	echo "\$(error dm-remap: $mk not found: this kernel build tree lacks the Rust build files (see docs/DKMS.md))"
	exit 0
fi
out=$(awk '
	/^ifdef CONFIG_CC_IS_CLANG$/ { start = NR; buf = "" }
	start { buf = buf $0 "\n" }
	start && /^bindgen_c_flags_final[ \t]*=/ {
		# Include the continuation lines of the final definition.
		while ($0 ~ /\\$/ && (getline line) > 0) { buf = buf line "\n"; $0 = line }
		print buf; found = 1; exit
	}
	END { if (!found) exit 1 }' "$mk") || {
	echo "\$(error dm-remap: cannot find the bindgen flag rules in $mk; this kernel version is not supported yet)"
	exit 0
}
printf '# Extracted from %s by %s\n%s\n' "$mk" "$0" "$out"
