#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kmod-deb.sh KERNELRELEASE KO OUTDIR — package a dm-remap.ko built for one
# kernel as a binary .deb (`make kmod-deb`), for images and appliances that
# have no compiler:
#
#   package  dm-remap-modules-<kernel release>
#   version  <module version>+<kernel release>   (e.g. 0.1.0+7.2.13)
#   file     /usr/lib/modules/<kernel release>/extra/dm-remap.ko (= /lib/... on
#            merged-/usr systems, which Debian has been since 12)
#
# It conflicts with dm-remap-dkms (one source of the module per system) and
# runs depmod for its kernel on install and removal.
set -eu
kver=${1:?usage: kmod-deb.sh KERNELRELEASE KO OUTDIR}
ko=${2:?usage: kmod-deb.sh KERNELRELEASE KO OUTDIR}
out=${3:?usage: kmod-deb.sh KERNELRELEASE KO OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(cat "$top/VERSION")

# The module must be for this kernel: its vermagic starts with the release.
vermagic=$(modinfo -F vermagic "$ko")
case "$vermagic " in
"$kver "*) ;;
*) echo "kmod-deb: $ko is built for '${vermagic%% *}', not $kver" >&2; exit 1 ;;
esac

# Debian package names: [a-z0-9+.-]; versions: [A-Za-z0-9.+~] here.
pkg=dm-remap-modules-$(echo "$kver" | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9+.-')
debver=$version+$(echo "$kver" | tr -c 'A-Za-z0-9.+~\n' '.')
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
moddir=usr/lib/modules/$kver/extra
mkdir -p "$root/DEBIAN" "$root/$moddir" "$root/usr/share/doc/$pkg"
install -m 644 "$ko" "$root/$moddir/dm-remap.ko"
strip --strip-debug "$root/$moddir/dm-remap.ko"

cp "$top/debian-dkms/copyright" "$root/usr/share/doc/$pkg/copyright"
{
	printf '%s (%s) unstable; urgency=medium\n\n' "$pkg" "$debver"
	printf '  * dm-remap %s built for kernel %s.\n\n' "$version" "$kver"
	printf ' -- %s  %s\n' "$(sed -n '0,/^ -- /s/^ -- \(.*>\)  .*/\1/p' "$top/debian-dkms/changelog")" \
		"$(LC_ALL=C date -R -d "@${SOURCE_DATE_EPOCH:-$(stat -c %Y "$top/VERSION")}")"
} | gzip -9n >"$root/usr/share/doc/$pkg/changelog.gz"

size=$(du -k -s "$root/usr" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $debver
Architecture: $arch
Section: kernel
Priority: optional
Maintainer: $(sed -n 's/^Maintainer: //p' "$top/debian-dkms/control")
Installed-Size: $size
Depends: kmod, linux-image-$kver | linux-image-$kver-unsigned
Conflicts: dm-remap-dkms
Description: dm-remap kernel module for Linux $kver
 dm-remap is a device-mapper target, written in Rust for Linux, that remaps
 the bad sectors of a failing disk to a spare area.
 .
 This package holds dm-remap $version built for the kernel $kver only.  Use
 dm-remap-dkms instead on systems that can build kernel modules.
EOF
for s in postinst postrm; do
	cat >"$root/DEBIAN/$s" <<EOF
#!/bin/sh
set -e
if [ -e /lib/modules/$kver/modules.order ] || [ -e /lib/modules/$kver/modules.builtin ]; then
	depmod -a $kver
fi
EOF
	chmod 755 "$root/DEBIAN/$s"
done
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 755 {} +
mkdir -p "$out"
deb=$out/${pkg}_${debver}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
