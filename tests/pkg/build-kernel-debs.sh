#!/bin/bash
# build-kernel-debs.sh LINE [FLAVOUR] — Debian packages of a test kernel, the
# way a user's machine gets its kernels, for the packaging tests
# (tests/pkg/run.sh).  Prints the directory that holds them:
#
#   linux-image-<kver>_<ver>_amd64.deb     } `make bindeb-pkg`, with the
#   linux-headers-<kver>_<ver>_amd64.deb   } kernel's own maintainer scripts
#   linux-lib-rust-<kver>_<ver>_amd64.deb  the Rust build artifacts the headers
#                                          package lacks (see docs/DKMS.md)
#   build/                                 the O= build tree (bzImage, .config)
#
# The kernel is configured like tests/vm/build-kernel.sh does (tinyconfig +
# tests/kernel/base.config + <FLAVOUR>.config, perf by default) and cached
# under $CACHE/pkgkernels/<line>-<pkgversion>-<flavour>-<hash>, where <hash>
# covers the fragments and the bindeb-pkg recipe (the linux-lib-rust package is
# remade whenever this script changes).  If build-kernel.sh has a finished
# build of the same line, flavour and fragments, its tree seeds ours, so
# bindeb-pkg only relinks what the package build changes.
. "$(dirname "$0")/../vm/lib.sh"

line=${1:?usage: build-kernel-debs.sh LINE [FLAVOUR]}
flavour=${2:-perf}
case $line in 7.2 | 7.3) ;; *) die "packaging tests use kernel lines 7.2 and 7.3, not '$line'" ;; esac
case $flavour in debug | perf) ;; *) die "unknown flavour '$flavour'" ;; esac

"$REPO/tests/vm/setup-chroot.sh" >&2

pkgver=$(in_chroot dpkg-query -W -f '${Version}' "linux-source-$line")
frags=("$REPO/tests/kernel/base.config" "$REPO/tests/kernel/$flavour.config")
fraghash=$(cat "${frags[@]}" | sha256sum | cut -c1-12)
# Bump when the bindeb-pkg command line below changes.
recipe="bindeb-pkg nokerneldbg -d v1"
hash=$( (cat "${frags[@]}"; echo "$recipe") | sha256sum | cut -c1-12)
src=$CACHE/src/$line-${pkgver//[~:]/_}
seed=$CACHE/kernels/$line-${pkgver//[~:]/_}-$flavour-$fraghash
key="$line-${pkgver//[~:]/_}-$flavour-$hash"
out=$CACHE/pkgkernels/$key
csrc=/cache/src/$(basename "$src")
cout=/cache/pkgkernels/$key/build
llvm=()
[ "$flavour" = debug ] && llvm=(LLVM=1)

build_kernel_debs() {
if [ ! -f "$src/.extracted" ]; then
	log "extracting linux-source $line ($pkgver)"
	rm -rf "$src"
	mkdir -p "$src"
	tar -C "$src" --strip-components=1 -xf "$CHROOT/usr/src/linux-source-$line.tar.xz"
	touch "$src/.extracted"
fi

# One kernel build at a time on this machine (another job may be building
# test kernels in the same chroot).
while pgrep -f 'make -C /cache/src' >/dev/null; do
	log "waiting for another kernel build to finish"
	sleep 30
done

rm -rf "$out"
mkdir -p "$out/build"
buildlog=$out/build.log
{
	echo "kernel packages: line $line, linux-source-$line $pkgver, flavour $flavour"
	in_chroot rustc --version
	in_chroot bindgen --version
	in_chroot gcc --version | head -1
} >"$buildlog"
if [ -f "$seed/.built" ]; then
	log "seeding $key from $seed"
	echo "seeded from $seed" >>"$buildlog"
	cp -a "$seed/." "$out/build/"
	rm -f "$out/build/.built" "$out/build/build.log"
else
	log "configuring $key (log: $buildlog)"
	cp "${frags[@]}" "$out/build/"
	in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" tinyconfig >>"$buildlog" 2>&1
	in_chroot env "${llvm[@]}" sh -c "cd $cout && $csrc/scripts/kconfig/merge_config.sh -m .config $(printf '%s ' "${frags[@]/#$REPO\/tests\/kernel\//$cout/}")" >>"$buildlog" 2>&1
	in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" olddefconfig >>"$buildlog" 2>&1
fi
for f in "${frags[@]}"; do
	while IFS= read -r opt; do
		name=${opt%%=*} want=${opt#*=}
		if [ "$want" = n ]; then
			! grep -q "^$name=" "$out/build/.config" || die "config: $name is set but $f says n"
		else
			grep -qx "$opt" "$out/build/.config" || die "config: $opt from $f did not stick"
		fi
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$f")
done

# bindeb-pkg writes the packages into the parent of the build tree ($out).
log "make bindeb-pkg for $key with -j$JOBS"
start=$SECONDS
if ! in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" -j"$JOBS" KDEB_CHANGELOG_DIST=unstable \
	DEB_BUILD_PROFILES=pkg.linux-upstream.nokerneldbg DPKG_FLAGS=-d bindeb-pkg >>"$buildlog" 2>&1; then
	grep -E 'error|Error' "$buildlog" | tail -20 >&2
	die "bindeb-pkg failed for $key (see $buildlog)"
fi
log "built kernel packages for $(cat "$out/build/include/config/kernel.release") in $((SECONDS - start)) s"
rm -f "$out"/linux-libc-dev_*.deb
touch "$out/.built"
}

if [ -f "$out/.built" ]; then
	log "kernel packages $key cached: $(cat "$out/build/include/config/kernel.release")"
else
	build_kernel_debs
fi
kver=$(cat "$out/build/include/config/kernel.release")

# linux-lib-rust-<kver>: what an out-of-tree Rust module needs from the
# kernel's build tree beyond the headers package, installed into the headers
# tree (/lib/modules/<kver>/build -> /usr/src/linux-headers-<kver>):
#   rust/*.rmeta   metadata of core, compiler_builtins, ffi, kernel, ... crates
#   rust/*.so      the proc-macro crates (macros, pin_init_internal, ...)
#   rust/Makefile  how the kernel derives bindgen's flags (dm-remap's Kbuild
#                  reuses that block, see scripts/extract-bindgen-flags.sh)
# (include/generated/rustc_cfg and scripts/target.json are in the headers
# package already.)  Its postinst runs the header hooks, like the headers
# packages of Debian's kernels, so DKMS builds modules when it is installed.
librust_stamp=$(sha256sum <"$0" | cut -c1-16)
if [ "$(cat "$out/.lib-rust" 2>/dev/null)" != "$librust_stamp" ]; then
rm -f "$out"/linux-lib-rust-*.deb
headers=$(ls "$out"/linux-headers-"$kver"_*.deb)
debver=$(dpkg-deb -f "$headers" Version)
arch=$(dpkg-deb -f "$headers" Architecture)
pkg=linux-lib-rust-$kver
stage=$out/lib-rust
rm -rf "$stage"
dest=$stage/usr/src/linux-headers-$kver/rust
mkdir -p "$dest" "$stage/DEBIAN" "$stage/usr/share/doc/$pkg"
cp "$out"/build/rust/*.rmeta "$out"/build/rust/*.so "$dest/"
cp "$src/rust/Makefile" "$dest/Makefile"
cp "$src/COPYING" "$stage/usr/share/doc/$pkg/copyright"
cat >"$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $debver
Architecture: $arch
Section: kernel
Priority: optional
Maintainer: dm-remap test kernels <maintainers@users.noreply.b-seed-ea9edc86.example>
Installed-Size: $(du -k -s "$stage/usr" | cut -f1)
Depends: linux-headers-$kver (= $debver)
Description: Rust build artifacts of Linux $kver, for out-of-tree Rust modules
 The rust/ directory of the kernel build tree (crate metadata, proc-macro
 libraries, rust/Makefile), installed into the linux-headers-$kver tree.
EOF
cat >"$stage/DEBIAN/postinst" <<EOF
#!/bin/sh
set -e
if [ "\$1" = configure ] && [ -d /etc/kernel/header_postinst.d ]; then
	DEB_MAINT_PARAMS="\$*" run-parts --report --exit-on-error --arg=$kver /etc/kernel/header_postinst.d
fi
EOF
chmod 755 "$stage/DEBIAN/postinst"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$stage" "$out/${pkg}_${debver}_$arch.deb" >/dev/null
rm -rf "$stage"
echo "$librust_stamp" >"$out/.lib-rust"
fi
echo "$kver" >"$out/kernel.release"
ls -1 "$out"/*.deb >&2
echo "$out"
