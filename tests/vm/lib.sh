# Shared settings for the test-kernel and VM scripts.  Sourced, not executed.
#
# Everything heavy (the sid chroot, kernel source trees and builds) lives in a
# cache outside the repository so that a fresh clone reuses it; the cache key
# of a kernel build is its source package version plus a hash of its config
# fragment(s), so editing a fragment rebuilds exactly the kernels it affects.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${DM_REMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dm-remap}
CHROOT=$CACHE/chroot-sid
# The Debian mirror: DM_REMAP_MIRROR, else the first Debian archive the
# host's own apt sources name (deb822 .sources or one-line .list files).  No
# host name is written here: the machine's configuration says where apt goes.
host_debian_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /=/) { print $i; break } }' "$f"
	done
} 2>/dev/null
MIRROR=${DM_REMAP_MIRROR:-$(host_debian_mirror | grep -E '/debian/?$' | head -n 1)}
MIRROR=${MIRROR%/}
JOBS=${JOBS:-$(nproc)}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a command inside the chroot with /proc, /dev and the cache (as /cache)
# mounted.  Sources are copied into the cache rather than bind-mounted, so a
# later run from another clone never sees a stale mount.
# The mounts are made once and left in place; in_chroot is re-entrant.
chroot_mount() {
	mkdir -p "$CHROOT/proc" "$CHROOT/dev"
	mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"
	mountpoint -q "$CHROOT/dev" || mount --rbind /dev "$CHROOT/dev"
	mkdir -p "$CHROOT/cache"
	mountpoint -q "$CHROOT/cache" || mount --bind "$CACHE" "$CHROOT/cache"
}

in_chroot() {
	chroot_mount
	chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
}
