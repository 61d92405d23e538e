#!/bin/bash
# mkinitramfs.sh KDIR KO SUITE_DIR OUT — make the VM's initramfs: busybox,
# bash, dmsetup, fio, kmod, e2fsprogs from the sid chroot (with their shared
# libraries), the module installed under /lib/modules/<release>/extra with
# depmod run (so that `dmsetup create ... remap` can autoload it), the guest
# scripts and the test suite.
. "$(dirname "$0")/lib.sh"

kdir=${1:?} ko=${2:?} suite=${3:?} out=${4:?}
release=$(cat "$kdir/include/config/kernel.release")
stage=$(mktemp -d "$CACHE/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,mnt,etc,results}
bins=(/bin/busybox /bin/bash /sbin/dmsetup /usr/bin/fio /bin/kmod /sbin/mkfs.ext4
	/sbin/e2fsck /usr/bin/cmp /usr/bin/timeout /usr/bin/dd
	# util-linux fallocate: --punch-hole on a block device is the one way
	# to issue REQ_OP_WRITE_ZEROES from a shell (foundation/errclass.sh).
	/usr/bin/fallocate)
for b in "${bins[@]}"; do
	[ -e "$CHROOT$b" ] || die "missing $b in chroot"
	mkdir -p "$stage$(dirname "$b")"
	cp -L "$CHROOT$b" "$stage$b"
	# Static binaries make ldd fail; they need no libraries.
	{ in_chroot ldd "$b" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		mkdir -p "$stage$(dirname "$lib")"
		cp -Ln "$CHROOT$lib" "$stage$lib"
	done
done
# The dm-remap CLI (host build) for suites that check metadata offline
# (DM_REMAP_GUEST_CLI=path); the guest's newer glibc runs it.
if [ -n "${DM_REMAP_GUEST_CLI:-}" ]; then
	cp "$DM_REMAP_GUEST_CLI" "$stage/usr/bin/dm-remap"
	ldd "$DM_REMAP_GUEST_CLI" | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		[ -e "$stage$lib" ] || [ -e "$CHROOT$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
fi
# busybox applets for everything else; real tools win where both exist.
for applet in $(in_chroot /bin/busybox --list); do
	[ -e "$stage/bin/$applet" ] || [ -e "$stage/sbin/$applet" ] || [ -e "$stage/usr/bin/$applet" ] ||
		ln -s /bin/busybox "$stage/bin/$applet"
done
for k in modprobe insmod rmmod lsmod depmod modinfo; do
	rm -f "$stage/bin/$k"
	ln -s /bin/kmod "$stage/sbin/$k"
done

moddir=$stage/lib/modules/$release
mkdir -p "$moddir/extra"
cp "$ko" "$moddir/extra/dm-remap.ko"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$kdir/$f" ] && cp "$kdir/$f" "$moddir/"
done
cstage=/cache/$(basename "$stage")
in_chroot depmod -b "$cstage" "$release"

cp "$REPO"/tests/vm/guest/* "$stage/"
chmod +x "$stage/init" "$stage/runner.sh"
mkdir -p "$stage/tests"
cp -r "$suite"/. "$stage/tests/"
echo "$release" >"$stage/etc/kernel-release"
cp "$REPO/VERSION" "$stage/etc/dm-remap-version"

(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
