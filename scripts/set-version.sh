#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# set-version.sh NEW_VERSION "CHANGE"
#
# Change dm-remap's version everywhere it is written: VERSION, dkms.conf, a
# new top entry in debian-dkms/changelog (NEW_VERSION-1) and in the spec's
# %changelog (Version: NEW_VERSION, Release: 1), each saying CHANGE.  The
# maintainer line is the one of the current top changelog entry.  Then runs
# scripts/check-version.sh.
set -eu
cd "$(dirname "$0")/.."
new=${1:?usage: set-version.sh NEW_VERSION "CHANGE"}
change=${2:?usage: set-version.sh NEW_VERSION "CHANGE"}
echo "$new" | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+([~+][0-9A-Za-z.]+)?' || { echo "not a version: $new" >&2; exit 1; }

maint=$(sed -n '0,/^ -- /s/^ -- \(.*>\)  .*/\1/p' debian-dkms/changelog)
echo "$new" >VERSION
sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$new\"/" dkms.conf

tmp=$(mktemp)
{
	printf 'dm-remap (%s-1) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n\n' \
		"$new" "$change" "$maint" "$(LC_ALL=C date -R)"
	cat debian-dkms/changelog
} >"$tmp"
cat "$tmp" >debian-dkms/changelog
rm -f "$tmp"

sed -i -e "s/^Version:\([ \t]*\).*/Version:\1$new/" -e "s/^Release:\([ \t]*\)[^%]*/Release:\11/" \
	-e "/^%changelog/a * $(LC_ALL=C date '+%a %b %d %Y') $maint - $new-1\n- $change\n" dm-remap-dkms.spec
scripts/check-version.sh
