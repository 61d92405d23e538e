#!/bin/bash
# Create (or refresh) the Debian sid build chroot used to build the test
# kernels, the module and the VM's userland.  Idempotent: a finished chroot is
# marked with a stamp that records the package list it was made with.
. "$(dirname "$0")/lib.sh"

# Host tools: debootstrap to make the chroot, QEMU (TCG) to boot test kernels.
host_pkgs=(debootstrap qemu-system-x86 rsync cpio)
missing=()
for p in "${host_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
	log "installing host packages: ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Kernel build toolchain (sid's rustc/bindgen are what Debian builds its own
# Rust-enabled kernels with), the VM userland, and the packaging tools.
chroot_pkgs=(
	linux-source-7.2 build-essential rustc rust-src bindgen libclang-dev clang lld llvm
	flex bison bc libelf-dev libssl-dev cpio kmod python3 xz-utils zstd rsync
	dwarves gzip
	busybox-static dmsetup fio e2fsprogs util-linux
	dkms debhelper dh-dkms lintian rpm rpmlint fakeroot
	gnuplot-nox
)
stamp=$CHROOT/.dm-remap-stamp
want=$(printf '%s\n' "${chroot_pkgs[@]}" experimental:linux-source-7.3 trixie:linux-source-6.12 | sha256sum | cut -c1-16)

[ -n "$MIRROR" ] || die "no Debian mirror: set DM_REMAP_MIRROR, or name one in the host's apt sources"
mkdir -p "$CACHE"
if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
	log "debootstrap sid into $CHROOT"
	rm -rf "$CHROOT"
	debootstrap --variant=minbase sid "$CHROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap.log"; die "debootstrap failed"; }
fi
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	log "chroot up to date ($CHROOT)"
	exit 0
fi

# The mirror's sid Release file can be past its Valid-Until; the packages are
# still the ones we want, so do not let apt refuse them.
cat >"$CHROOT/etc/apt/apt.conf.d/99dm-remap" <<APT
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT
cat >"$CHROOT/etc/apt/sources.list" <<SRC
deb $MIRROR sid main
deb $MIRROR experimental main
SRC
# trixie only serves the 6.12 LTS source package; pin it so nothing else moves.
cat >"$CHROOT/etc/apt/sources.list.d/trixie.list" <<SRC
deb $MIRROR trixie main
SRC
cat >"$CHROOT/etc/apt/preferences.d/trixie" <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true

log "installing chroot packages"
in_chroot apt-get update -qq
in_chroot apt-get install -y -qq "${chroot_pkgs[@]}" >"$CACHE/apt.log" 2>&1 ||
	{ tail -30 "$CACHE/apt.log"; die "apt-get install in chroot failed"; }
in_chroot apt-get install -y -qq -t experimental linux-source-7.3 >>"$CACHE/apt.log" 2>&1 ||
	{ tail -30 "$CACHE/apt.log"; die "linux-source-7.3 from experimental failed"; }
# 6.12's linux-source is arch:all; download it rather than install, so its
# trixie dependencies never enter the sid chroot.
in_chroot sh -c 'mkdir -p /var/cache/dm-remap-debs && cd /var/cache/dm-remap-debs &&
	apt-get download -t trixie linux-source-6.12' >>"$CACHE/apt.log" 2>&1 ||
	{ tail -30 "$CACHE/apt.log"; die "downloading linux-source-6.12 failed"; }

log "toolchain: $(in_chroot rustc --version) / $(in_chroot bindgen --version) / $(in_chroot gcc --version | head -1)"
echo "$want" >"$stamp"
