#!/bin/bash
# run-reboot.sh KDIR KO SUITE1 SUITE2 [OUT] — a reboot story: boot KDIR with
# SUITE1, power off, boot again with SUITE2 on the same persistent disk
# (/dev/vdb in the guest, 81 MiB, blank at the start).  Prints each boot's
# summary and, last, the total `N passed, N failed`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/vm/lib.sh"
kdir=$1 ko=$2 suite1=$3 suite2=$4
out=${5:-$CACHE/results/reboot}
mkdir -p "$out"
disk=$out/disk.img
rm -f "$disk"
truncate -s 81M "$disk"
passed=0 failed=0
for boot in 1 2; do
	suite=$suite1
	[ $boot = 1 ] || suite=$suite2
	rc=0
	line=$("$REPO/tests/vm/run-vm.sh" --kernel "$kdir" --ko "$ko" --suite "$suite" \
		--out "$out/boot$boot" --disk "$disk" --append "dmremap.phase=$boot" | tail -1) || rc=$?
	log "boot $boot ($(basename "$suite")): $line (exit $rc)"
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	# A boot that exits non-zero has failed, whatever its last line says.
	[ "$rc" = 0 ] || [ "${f:-0}" != 0 ] || f=1
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
done
echo "$passed passed, $failed failed"
((failed == 0))
