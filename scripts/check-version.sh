#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# check-version.sh — VERSION is the single source of truth for dm-remap's
# version (Kbuild reads it for MODULE_VERSION).  Check that the packaging
# files that must carry it literally agree: dkms.conf's PACKAGE_VERSION, the
# top entry of debian-dkms/changelog (<version>-<debian revision>), and the
# spec's Version and top %changelog entry.  scripts/set-version.sh changes
# all of them at once.  Prints one line per disagreement; exit 1 if any.
cd "$(dirname "$0")/.." || exit 1
v=$(cat VERSION)
bad=0
err() { echo "check-version: $*" >&2; bad=1; }

echo "$v" | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+([~+][0-9A-Za-z.]+)?' || err "VERSION '$v' is not a version"
d=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' dkms.conf)
[ "$d" = "$v" ] || err "dkms.conf PACKAGE_VERSION is '$d', VERSION is '$v'"
deb=$(sed -n '1s/^dm-remap (\([^)]*\)).*/\1/p' debian-dkms/changelog)
[ "${deb%-*}" = "$v" ] || err "debian-dkms/changelog top entry is '$deb', VERSION is '$v'"
sv=$(sed -n 's/^Version:[ \t]*//p' dm-remap-dkms.spec)
sr=$(sed -n 's/^Release:[ \t]*\([^%]*\).*/\1/p' dm-remap-dkms.spec)
[ "$sv" = "$v" ] || err "dm-remap-dkms.spec Version is '$sv', VERSION is '$v'"
sc=$(sed -n '/^%changelog/,${/^\* /{s/.* - //p;q}}' dm-remap-dkms.spec)
[ "$sc" = "$v-$sr" ] || err "dm-remap-dkms.spec top %changelog entry is '$sc', expected '$v-$sr'"
[ $bad = 0 ] && echo "version $v: VERSION, dkms.conf, debian-dkms/changelog ($deb), dm-remap-dkms.spec ($sv-$sr) agree"
exit $bad
