#!/bin/bash
# build-module.sh KDIR — build dm-remap.ko against the kernel build tree KDIR
# (a directory made by build-kernel.sh) inside the sid chroot, in a private
# copy of the sources so builds for several kernels never share objects.
# Prints the path of the resulting dm-remap.ko.
. "$(dirname "$0")/lib.sh"

kdir=${1:?usage: build-module.sh KDIR}
[ -f "$kdir/.built" ] || die "$kdir is not a finished kernel build"
key=$(basename "$kdir")
# One build directory per kernel *and* per checkout: two clones building at
# once must never share objects (rsync keeps source mtimes, so a shared
# directory could keep objects newer than the sources they came from).
work=$CACHE/modbuild/$key-$(echo "$REPO" | sha256sum | cut -c1-8)
mkdir -p "$work"
# Sources only: objects and generated files of a build in the repo itself
# must not leak into this one.
rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
	--exclude 'bindings_generated.rs' --exclude '*.mod*' \
	--exclude 'fuzz' --exclude 'benches' --exclude 'tests' \
	"$REPO"/{Kbuild,Makefile,VERSION,src,include,scripts,dkms} "$work/"
cwork=/cache/modbuild/$(basename "$work")
ckdir=/cache/kernels/$key
log "toolchain: $(in_chroot rustc --version) / $(in_chroot bindgen --version)"
log "building dm-remap.ko for $key ($(cat "$kdir/include/config/kernel.release"))"
if ! in_chroot make -C "$cwork" KDIR="$ckdir" >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "module build failed for $key"
fi
grep -E '^(warning|error)' "$work/build.log" >&2 || true
echo "$work/dm-remap.ko"
