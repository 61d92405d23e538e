#!/bin/bash
# demo.sh — the main job, from a fresh machine: build the test kernel and
# dm-remap.ko, boot the kernel in QEMU and show dm-remap at work over a
# disk simulated with dm-dust.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tests/vm/lib.sh"
kdir=$("$REPO/tests/vm/build-kernel.sh" 7.2 debug)
ko=$("$REPO/tests/vm/build-module.sh" "$kdir")
"$REPO/tests/vm/run-vm.sh" --kernel "$kdir" --ko "$ko" --suite "$REPO/tests/vm/suites/demo" >/dev/null || true
out=$CACHE/results/demo/results
cat "$out/logs/"*.log
tail -1 "$out/summary" 2>/dev/null
grep -q ' 0 failed' "$out/summary"
