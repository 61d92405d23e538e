#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dkms-pre-build.sh KERNELRELEASE KDIR
#
# DKMS PRE_BUILD check (see dkms.conf), run in DKMS's build directory before
# `make`.  It checks that the kernel build tree KDIR and this machine's tools
# can build a Rust module, and picks the rustc and bindgen to build it with:
#
#   1. the build tree has the kernel's configuration, and CONFIG_RUST=y
#      (BUILD_EXCLUSIVE_CONFIG in dkms.conf already skips kernels without it
#      when their tree has a configuration);
#   2. the Rust build artifacts an out-of-tree Rust module needs are present
#      (they are not part of Debian's linux-headers nor Fedora's kernel-devel
#      packages; see docs/DKMS.md);
#   3. a rustc whose `--version` is exactly the one the kernel was built with
#      (the version recorded in the kernel's Rust metadata, rust/libkernel.rmeta,
#      which rustc refuses to mix with any other, and CONFIG_RUSTC_VERSION_TEXT);
#      tried in order: `rustc`, then `rustc-MAJOR.MINOR` (versioned packages);
#   4. likewise a bindgen matching CONFIG_BINDGEN_VERSION_TEXT: `bindgen`, then
#      `bindgen-MAJOR.MINOR`; and that it can load libclang;
#   5. the compiler tools the kernel was built with: clang, ld.lld and llvm-*
#      for a clang-built kernel (the module is built with LLVM=1), its gcc
#      otherwise; pahole if the build tree has a vmlinux and
#      CONFIG_DEBUG_INFO_BTF_MODULES (Kbuild then makes the module's BTF).
#
# Exit status:
#   0   all there: writes dkms-toolchain.mk (RUSTC := ..., BINDGEN := ...),
#       which the MAKE line of dkms.conf hands to the Makefile, and prints one
#       "dm-remap: ... using ..." line.
#   77  the module cannot be built for this kernel for a reason outside
#       dm-remap's code (the kernel's configuration or build tree, or a tool
#       this machine lacks).  DKMS (3.1.5 or newer) then skips this kernel
#       the way it skips a BUILD_EXCLUSIVE one: `dkms build` exits 77, and the
#       package managers' DKMS scripts and kernel hooks carry on, so apt and
#       dnf succeed.  One line starting with "dm-remap:" says what is missing
#       and what to install or do.
# Compile errors in dm-remap's own code are not decided here: they fail
# `make`, and so `dkms build` (exit 10), loudly.
#
# DKMS keeps this script's output in the build's make.log
# (/var/lib/dkms/dm-remap/<version>/build/make.log after a skipped build).
set -u

kver=${1:?usage: dkms-pre-build.sh KERNELRELEASE KDIR}
kdir=${2:?usage: dkms-pre-build.sh KERNELRELEASE KDIR}
doc=/usr/share/doc/dm-remap-dkms/DKMS.md

# skip REASON: the one line, with the step that builds the module once the
# reason is gone, and DKMS's "skipped" status.
skip() {
	echo "dm-remap: $*, then run 'dkms autoinstall -k $kver'"
	exit 77
}

if [ -r "$kdir/include/config/auto.conf" ]; then
	config=$kdir/include/config/auto.conf
elif [ -r "$kdir/.config" ]; then
	config=$kdir/.config
else
	skip "kernel $kver: its build tree $kdir has no configuration (include/config/auto.conf or .config); install the kernel's headers (Debian, Ubuntu: linux-headers-$kver; Fedora: kernel-devel-$kver)"
fi

# conf NAME: the value of CONFIG_NAME (quotes removed), empty if unset.
conf() { sed -n "s/^CONFIG_$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$config" | head -n 1; }

# 1. Nothing to do about a kernel without Rust support: no "then run".
if [ "$(conf RUST)" != y ]; then
	echo "dm-remap: kernel $kver is built without CONFIG_RUST; dm-remap is a Rust module and cannot be built for it, skipping this kernel"
	exit 77
fi

# 2. The files of a kernel build tree that an out-of-tree Rust module needs
#    and that linux-headers packages built by `make bindeb-pkg` or Debian do
#    not ship (Ubuntu ships them as linux-lib-rust-<kver>).  docs/DKMS.md has
#    the full list; these are the ones whose absence we can name.
#    rust/Makefile is a source file: in a build tree made with O= it is in the
#    source tree, which $kdir/source points to, or (Debian's split headers,
#    no such link) the one $kdir/Makefile includes.  scripts/target.json is
#    rustc's target specification on x86.
srctree=$(sed -n 's|^include \(/.*\)/Makefile$|\1|p' "$kdir/Makefile" 2>/dev/null | head -n 1)
need="rust/libcore.rmeta rust/libcompiler_builtins.rmeta rust/libkernel.rmeta rust/libmacros.so rust/Makefile include/generated/rustc_cfg"
[ "$(conf X86)" != y ] || need="$need scripts/target.json"
missing=
for f in $need; do
	[ -e "$kdir/$f" ] || { [ "$f" = rust/Makefile ] &&
		{ [ -e "$kdir/source/$f" ] || { [ -n "$srctree" ] && [ -e "$srctree/$f" ]; }; }; } ||
		missing="$missing $f"
done
if [ -n "$missing" ]; then
	skip "kernel $kver has CONFIG_RUST=y but its build tree $kdir lacks the Rust build artifacts (missing:$missing); install linux-lib-rust-$kver (Ubuntu has it; Debian's and Fedora's kernel packages do not ship these files, see $doc)"
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
	path=$(command -v "$1" 2>/dev/null) || { echo "there is no $1 in PATH"; return; }
	echo "$path is '$("$path" --version 2>/dev/null | head -n 1)'"
}

# 3. rustc: the metadata's version is authoritative (rustc checks exactly that).
want_rustc=$(rmeta_rustc "$kdir/rust/libkernel.rmeta") || want_rustc=$(conf RUSTC_VERSION_TEXT)
[ -n "$want_rustc" ] ||
	skip "kernel $kver: cannot tell which rustc built it (no version in $kdir/rust/libkernel.rmeta nor CONFIG_RUSTC_VERSION_TEXT in $config); reinstall the kernel's headers and Rust build artifacts"
rustc=$(pick rustc "$want_rustc") ||
	skip "kernel $kver was built with '$want_rustc' but $(found rustc); install rustc $(echo "$want_rustc" | cut -d' ' -f2) (as rustc-$(mm "$want_rustc"), or as the first rustc in PATH)"

# 4. bindgen: the kernel records its version since 6.12 (CONFIG_BINDGEN_VERSION_TEXT).
want_bindgen=$(conf BINDGEN_VERSION_TEXT)
bindgen=$(pick bindgen "$want_bindgen") ||
	if [ -n "$want_bindgen" ]; then
		skip "kernel $kver was built with '$want_bindgen' but $(found bindgen); install bindgen $(echo "$want_bindgen" | cut -d' ' -f2) (as bindgen-$(mm "$want_bindgen"), or as the first bindgen in PATH)"
	else
		skip "kernel $kver: there is no bindgen in PATH; install bindgen (the version the kernel was built with)"
	fi
# bindgen loads libclang at run time: try it on a one-line header.
probe=$(mktemp -d) || skip "kernel $kver: mktemp -d failed; check that \$TMPDIR (or /tmp) is writable"
echo 'struct dm_remap_probe { int a; };' >"$probe/probe.h"
if ! "$bindgen" "$probe/probe.h" -o "$probe/probe.rs" >"$probe/out" 2>&1; then
	err=$(grep -m 1 . "$probe/out" | cut -c 1-200)
	rm -rf "$probe"
	skip "kernel $kver: $bindgen cannot run ('$err'); install libclang (Debian, Ubuntu: libclang-dev; Fedora: clang-devel)"
fi
rm -rf "$probe"

# 5. The kernel's compiler and tools.
if [ "$(conf CC_IS_CLANG)" = y ]; then
	for t in clang ld.lld llvm-ar llvm-nm llvm-objcopy; do
		command -v "$t" >/dev/null 2>&1 ||
			skip "kernel $kver was built with clang, so dm-remap is built with LLVM=1, but there is no $t in PATH; install clang, lld and llvm"
	done
else
	cc_text=$(conf CC_VERSION_TEXT)
	cc=${cc_text%% *}
	command -v "${cc:-gcc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 ||
		skip "kernel $kver was built with '$cc_text' but there is neither ${cc:-gcc} nor gcc in PATH; install gcc"
fi
if [ "$(conf DEBUG_INFO_BTF_MODULES)" = y ] && [ -e "$kdir/vmlinux" ]; then
	command -v pahole >/dev/null 2>&1 ||
		skip "kernel $kver has CONFIG_DEBUG_INFO_BTF_MODULES=y and its build tree has a vmlinux, so Kbuild runs pahole, but there is no pahole in PATH; install pahole (Debian, Ubuntu: pahole; Fedora: dwarves)"
fi

printf 'RUSTC := %s\nBINDGEN := %s\n' "$rustc" "$bindgen" >dkms-toolchain.mk
echo "dm-remap: kernel $kver: Rust artifacts present; using $rustc ($want_rustc) and $bindgen${want_bindgen:+ ($want_bindgen)}"
exit 0
