#!/bin/bash
# demo.sh — the main job, from a fresh machine: build the test kernel and
# dm-remap.ko, boot the kernel in QEMU twice on the same disk file and show
# dm-remap at work over a failing disk simulated with dm-dust: writes that
# get remapped, a read error, the reboot, and the status.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tests/vm/lib.sh"
kdir=$("$REPO/tests/vm/build-kernel.sh" 7.2 debug)
ko=$("$REPO/tests/vm/build-module.sh" "$kdir")
out=$CACHE/results/demo
rc=0
"$REPO/tests/vm/run-reboot.sh" "$kdir" "$ko" "$REPO/tests/vm/suites/demo" "$REPO/tests/vm/suites/demo2" "$out" >/dev/null || rc=$?
for boot in 1 2; do
	cat "$out/boot$boot/results/logs/"*.log
done
echo
echo "demo: boot 1 $(tail -1 "$out/boot1/results/summary"), boot 2 $(tail -1 "$out/boot2/results/summary")"
exit $rc
