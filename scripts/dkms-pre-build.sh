#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dkms-pre-build.sh KERNELRELEASE KDIR
#
# DKMS PRE_BUILD check (see dkms.conf), run in DKMS's build directory before
# `make`.  It checks that the kernel build tree KDIR can build a Rust module
# and picks the rustc and bindgen to build it with:
#
#   1. the kernel has CONFIG_RUST (else exit 77: DKMS's "skipped", like
#      BUILD_EXCLUSIVE -- which already covers this when KDIR has a config);
#   2. the Rust build artifacts an out-of-tree Rust module needs are present
#      (they are not part of Debian's linux-headers packages; see docs/DKMS.md);
#   3. a rustc whose `--version` is exactly the one the kernel was built with
#      (the version recorded in the kernel's Rust metadata, rust/libkernel.rmeta,
#      which rustc refuses to mix with any other, and CONFIG_RUSTC_VERSION_TEXT);
#      tried in order: `rustc`, then `rustc-MAJOR.MINOR` (versioned packages);
#   4. likewise a bindgen matching CONFIG_BINDGEN_VERSION_TEXT: `bindgen`, then
#      `bindgen-MAJOR.MINOR`.
#
# On success it writes dkms-toolchain.mk (RUSTC := ..., BINDGEN := ...), which
# the MAKE line of dkms.conf hands to the top-level Makefile.  On failure it
# prints one line starting with "dm-remap:" that says what was expected, what
# was found and what to install, and exits 1.  DKMS keeps this script's output
# in the build's make.log.
set -u

kver=${1:?usage: dkms-pre-build.sh KERNELRELEASE KDIR}
kdir=${2:?usage: dkms-pre-build.sh KERNELRELEASE KDIR}

fail() { echo "dm-remap: $*"; exit 1; }

if [ -r "$kdir/include/config/auto.conf" ]; then
	config=$kdir/include/config/auto.conf
elif [ -r "$kdir/.config" ]; then
	config=$kdir/.config
else
	fail "kernel $kver: no configuration in $kdir (include/config/auto.conf or .config); install the kernel's headers package (linux-headers-$kver)"
fi

# conf NAME: the value of CONFIG_NAME (quotes removed), empty if unset.
conf() { sed -n "s/^CONFIG_$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$config" | head -n 1; }

if [ "$(conf RUST)" != y ]; then
	echo "dm-remap: kernel $kver is built without CONFIG_RUST; dm-remap is a Rust module, skipping this kernel"
	exit 77
fi

# 2. The files of a kernel build tree that an out-of-tree Rust module needs
#    and that linux-headers packages built by `make bindeb-pkg` or Debian do
#    not ship (Ubuntu ships them as linux-lib-rust-<kver>).  docs/DKMS.md has
#    the full list; these are the ones whose absence we can name.
#    rust/Makefile is a source file: in a build tree made with O= it is in the
#    source tree, which $kdir/source points to.
missing=
for f in rust/libcore.rmeta rust/libcompiler_builtins.rmeta rust/libkernel.rmeta \
	rust/libmacros.so rust/Makefile include/generated/rustc_cfg; do
	[ -e "$kdir/$f" ] || { [ $f = rust/Makefile ] && [ -e "$kdir/source/$f" ]; } || missing="$missing $f"
done
if [ -n "$missing" ]; then
	fail "kernel $kver has CONFIG_RUST but its build tree $kdir lacks the Rust build artifacts (missing:$missing); install linux-lib-rust-$kver, the package with the kernel's rust/ directory, or copy rust/*.rmeta, rust/*.so and rust/Makefile from the kernel's build tree (see docs/DKMS.md)"
fi

# The rustc version string embedded in a .rmeta file: after the 16-byte header
# comes its length (one byte, < 128) and the text, "rustc 1.97.1 (...) ...".
rmeta_rustc() {
	off=$(head -c 512 "$1" | grep -abo -m 1 'rustc [0-9]' | head -n 1 | cut -d: -f1)
	[ -n "$off" ] && [ "$off" -gt 0 ] || return 1
	len=$(od -An -tu1 -j $((off - 1)) -N 1 "$1" | tr -d ' ')
	[ -n "$len" ] && [ "$len" -lt 128 ] || return 1
	dd if="$1" bs=1 skip="$off" count="$len" 2>/dev/null
}

# mm "TOOL X.Y.Z ...": X.Y
mm() { echo "$1" | sed -n 's/^[^ ]* \([0-9]*\.[0-9]*\).*/\1/p'; }

# pick TOOL EXPECTED: print the first of TOOL, TOOL-MAJOR.MINOR whose
# `--version` is EXPECTED (any TOOL if EXPECTED is empty).
pick() {
	tool=$1 want=$2
	v=$(mm "$want")
	for cand in "$tool" ${v:+"$tool-$v"}; do
		path=$(command -v "$cand" 2>/dev/null) || continue
		have=$("$path" --version 2>/dev/null | head -n 1)
		if [ -z "$want" ] || [ "$have" = "$want" ]; then
			echo "$path"
			return 0
		fi
	done
	return 1
}

# found TOOL: what is there instead, for the message.
found() {
	path=$(command -v "$1" 2>/dev/null) || { echo "no $1 in PATH"; return; }
	echo "$path is '$("$path" --version 2>/dev/null | head -n 1)'"
}

# 3. rustc: the metadata's version is authoritative (rustc checks exactly that).
want_rustc=$(rmeta_rustc "$kdir/rust/libkernel.rmeta") || want_rustc=$(conf RUSTC_VERSION_TEXT)
[ -n "$want_rustc" ] || fail "kernel $kver: cannot tell which rustc built it (no version in rust/libkernel.rmeta nor CONFIG_RUSTC_VERSION_TEXT in $config)"
rustc=$(pick rustc "$want_rustc") ||
	fail "kernel $kver was built with '$want_rustc' but $(found rustc); install rustc $(echo "$want_rustc" | cut -d' ' -f2) (as rustc-$(mm "$want_rustc"), or as the first rustc in PATH)"

# 4. bindgen: the kernel records its version since 6.12 (CONFIG_BINDGEN_VERSION_TEXT).
want_bindgen=$(conf BINDGEN_VERSION_TEXT)
bindgen=$(pick bindgen "$want_bindgen") ||
	if [ -n "$want_bindgen" ]; then
		fail "kernel $kver was built with '$want_bindgen' but $(found bindgen); install bindgen $(echo "$want_bindgen" | cut -d' ' -f2) (as bindgen-$(mm "$want_bindgen"), or as the first bindgen in PATH)"
	else
		fail "kernel $kver: no bindgen in PATH; install bindgen (the version the kernel was built with)"
	fi

printf 'RUSTC := %s\nBINDGEN := %s\n' "$rustc" "$bindgen" >dkms-toolchain.mk
echo "dm-remap: kernel $kver: Rust artifacts present; using $rustc ($want_rustc) and $bindgen${want_bindgen:+ ($want_bindgen)}"
exit 0
