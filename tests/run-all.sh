#!/bin/bash
# run-all.sh [--full] — every test of dm-remap, from a fresh machine.
#
# Default (`make test`, .ci/run; about an hour on a fresh machine, see
# README): what must pass before anything lands.
#   1. host: `cargo test` (engine, CLI) and the harness's self-test on the
#      host (tests/harness/);
#   2. test kernels (cached): 7.2 debug (KASAN, lockdep, kmemleak, hung-task
#      and soft-lockup detectors) and 7.3 perf (6.12 perf in --full);
#      dm-remap.ko built against each, its modinfo checked;
#   3. VM suites under QEMU TCG.  On 7.2 debug: the harness self-test suite
#      (a throw-away suite whose failures must be counted), `foundation` and
#      the reboot story; on 7.3 perf: `smoke` and `crash` (8 power cuts);
#   4. packaging (tests/pkg/run.sh): DKMS, DEB and RPM end to end.
# --full (`make test-full`): the same, plus 60 s of cargo fuzz on the
# metadata decoder, the stress suites `proof`, `crash`, `corrupt` and
# `campaign` on 7.2 debug (smaller counts: 40 campaign trials, 8 power cuts,
# 120 generated lines and messages, 20 cycles) and at full counts on 7.3
# perf, and the 6.12 line (kernel, module, `smoke`).
#
# Every VM run is judged on the host (tests/vm/verdict.sh): the suite's
# manifest of test names, the live results stream, the whole serial console
# (splats anywhere) and QEMU's exit status.  The last line is the total,
# `N passed, N failed`; the exit status is non-zero if anything failed.
# DM_REMAP_SKIP="7.3 6.12 pkg fuzz" skips kernel lines or steps while
# iterating (never in CI).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. tests/vm/lib.sh
. tests/harness.sh
set +e
full=
[ "${1:-}" != --full ] || full=1
skip=" ${DM_REMAP_SKIP:-${DM_REMAP_SKIP_KERNELS:-}} "
skipped() { case $skip in *" $1 "*) log "skipping $1 (DM_REMAP_SKIP)"; return 0 ;; esac; return 1; }
LOGS=$CACHE/logs
mkdir -p "$CACHE" "$LOGS"
run_started=$SECONDS

# 1. Host.
if check_cargo; then
	run_cargo_test "cargo test" "$LOGS/cargo-test.log" --workspace
	# cargo fuzz needs cargo-fuzz built and libFuzzer compiled (minutes on
	# a fresh machine); `cargo test` already pushes >100 000 generated
	# images through the same decoder (decoder_fuzz.rs), so CI keeps that
	# and the full run adds the fuzzer.
	[ -z "$full" ] || skipped fuzz ||
		run_step "cargo fuzz decode (60 s)" "$LOGS/fuzz.log" tests/fuzz/run.sh 60
else
	record "cargo test" 0 1
fi
run_step "harness self-test (host)" "$LOGS/harness-host.log" tests/harness/selftest.sh host

# 2-3. Kernels, module builds, VM suites.
check_modinfo() { # check_modinfo KO
	local info
	info=$(in_chroot modinfo "/cache/${1#"$CACHE"/}") || return 1
	echo "$info" | grep -qx "alias: *dm-remap" || { echo "modinfo: no alias dm-remap"; return 1; }
	echo "$info" | grep -qx "license: *GPL" || { echo "modinfo: license"; return 1; }
	echo "$info" | grep -qx "version: *$(cat VERSION)" || { echo "modinfo: version"; return 1; }
	local p
	for p in dm_remap_debug enable_background_scanning scan_interval_hours real_device_mode \
		spare_overhead_percent strict_spare_sizing; do
		echo "$info" | grep -q "^parm: *$p:" || { echo "modinfo: parameter $p missing"; return 1; }
	done
	echo "$info"
}
step_ok() { # step_ok NAME CMD... — a step that counts as one test
	local name=$1
	shift
	if "$@"; then record "$name" 1 0; else record "$name" 0 1; fi
}

KDIR= KO=
kernel() { # kernel LINE FLAVOUR — build (or reuse) the kernel and the module
	local line=$1 flavour=$2
	KDIR= KO=
	if ! KDIR=$(tests/vm/build-kernel.sh "$line" "$flavour"); then
		record "kernel $line $flavour build" 0 1
		return 1
	fi
	if ! KO=$(tests/vm/build-module.sh "$KDIR"); then
		record "module build for $line $flavour" 0 1
		return 1
	fi
	record "module build for $line $flavour" 1 0
	step_ok "modinfo on $line $flavour" check_modinfo "$KO"
}
suite() { # suite LABEL SUITE [RUN-VM OPTIONS...] — one VM run, judged by verdict.sh
	local label=$1 name=$2
	shift 2
	run_step "VM suite $name on $label" "$LOGS/vm-$name-${label// /-}.log" \
		tests/vm/run-vm.sh --kernel "$KDIR" --ko "$KO" --suite "tests/vm/suites/$name" \
		--out "$CACHE/results/$name-${label// /-}" "$@"
}

# The crash suite checks metadata in the guest with the CLI.
cargo build -q -p dm-remap-cli
export DM_REMAP_GUEST_CLI=$REPO/target/debug/dm-remap

# Stress suites.  CI (about an hour on a fresh machine) runs the crash suite
# (dm-log-writes replay, power cuts) at a CI count on the perf kernel; `make
# test-full` runs proof, crash, corrupt and campaign at full counts on the
# debug kernel (KASAN, lockdep, kmemleak; several times slower) and again on
# 7.3 perf, and the 6.12 line.
# On the debug kernel the counts are smaller (each trial is several times
# slower under KASAN and TCG): the sanitizers need the paths, not the count.
full_append="dmremap.trials=200 dmremap.powercut_trials=20 dmremap.generated=520 dmremap.cycles=100"
debug_append="dmremap.trials=40 dmremap.powercut_trials=8 dmremap.generated=120 dmremap.cycles=20"
ci_append="dmremap.powercut_trials=8"

if ! skipped 7.2 && kernel 7.2 debug; then
	run_step "harness self-test (VM, 7.2 debug)" "$LOGS/harness-vm.log" \
		tests/harness/selftest.sh vm "$KDIR" "$KO"
	suite "7.2 debug" foundation --timeout 3600
	run_step "VM reboot story on 7.2 debug" "$LOGS/vm-reboot.log" \
		tests/vm/run-reboot.sh "$KDIR" "$KO" tests/vm/suites/reboot1 tests/vm/suites/reboot2
	if [ -n "$full" ]; then
		for s in proof crash corrupt campaign; do
			suite "7.2 debug" $s --timeout 5400 --append "$debug_append"
		done
	fi
fi
if ! skipped 7.3 && kernel 7.3 perf; then
	suite "7.3 perf" smoke
	if [ -n "$full" ]; then
		for s in proof crash corrupt campaign; do
			suite "7.3 perf" $s --timeout 5400 --append "$full_append"
		done
	else
		suite "7.3 perf" crash --timeout 2400 --append "$ci_append"
	fi
fi
if [ -n "$full" ] && ! skipped 6.12 && kernel 6.12 perf; then
	suite "6.12 perf" smoke
fi

# 4. Packaging: DKMS, DEB and RPM end to end (tests/pkg/run.sh, docs/PACKAGING.md).
skipped pkg || run_step "packaging (tests/pkg/run.sh)" "$LOGS/pkg.log" tests/pkg/run.sh

((${#failures[@]} == 0)) || log "failed: ${failures[*]}"
log "run-all${full:+ --full} took $(((SECONDS - run_started) / 60)) min $(((SECONDS - run_started) % 60)) s"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
