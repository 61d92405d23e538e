#!/bin/bash
# run.sh — `make soak`: the fault-injection campaign
# (tests/vm/suites/campaign) with 1 000 trials on the perf kernel.
#
#   SOAK_TRIALS=1000 SOAK_SEED=<n> SOAK_LINE=7.3 tests/soak/run.sh
# The seed is printed at the start and in the summary; pass it back to
# reproduce a campaign.  Last line: `N passed, N failed`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/vm/lib.sh"
trials=${SOAK_TRIALS:-1000}
seed=${SOAK_SEED:-$(($(date +%s) % 100000))}
line=${SOAK_LINE:-7.3}
log "soak: $trials trials, seed $seed"
kdir=$("$REPO/tests/vm/build-kernel.sh" "$line" perf)
ko=$("$REPO/tests/vm/build-module.sh" "$kdir")
(cd "$REPO" && cargo build -q -p dm-remap-cli)
DM_REMAP_GUEST_CLI=$REPO/target/debug/dm-remap "$REPO/tests/vm/run-vm.sh" --kernel "$kdir" --ko "$ko" \
	--suite "$REPO/tests/vm/suites/campaign" --out "$CACHE/results/soak" --timeout 36000 \
	--append "dmremap.seed=$seed dmremap.trials=$trials" | tail -1 >"$CACHE/results/soak.summary" || true
grep -h "trials, 0 data mismatches" "$CACHE/results/soak/results/logs/"*.log || true
cat "$CACHE/results/soak.summary"
grep -q ' 0 failed' "$CACHE/results/soak.summary"
