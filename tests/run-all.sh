#!/bin/bash
# run-all.sh — every test of dm-remap, from a fresh machine:
#
#   1. host: `cargo test` for the workspace (engine, CLI), and 60 s of
#      cargo fuzz on the metadata decoder;
#   2. test kernels (cached): 7.2 debug (KASAN, lockdep, kmemleak, ...),
#      7.3 and 6.12 (perf flavour);
#   3. dm-remap.ko built against each, and its modinfo checked;
#   4. VM suites under QEMU TCG: `foundation` and the reboot story (two
#      boots on one disk file) on 7.2 debug; `smoke`, `proof` (generated bad
#      input, load cycles), `crash` (dm-log-writes replay) and the 200-trial
#      fault `campaign` on 7.3 perf (fast enough for CI); `smoke` on 6.12;
#   5. packaging tests (tests/pkg/run.sh): DKMS, DEB and RPM end to end on
#      packaged 7.2 and 7.3 kernels.
#
# The last line is the total, `N passed, N failed`; the exit status is
# non-zero if anything failed.  Set DM_REMAP_SKIP_KERNELS="7.3 6.12 pkg" to
# skip kernel lines or the packaging tests while iterating (never in CI).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. tests/vm/lib.sh
set +e

total_passed=0 total_failed=0 failures=()
record() { # record NAME PASSED FAILED
	total_passed=$((total_passed + $2))
	total_failed=$((total_failed + $3))
	((${3} == 0)) || failures+=("$1")
	log "== $1: $2 passed, $3 failed"
}
vm_counts() { # vm_counts NAME "N passed, N failed" — record a runner's summary
	local vp vf
	vp=$(echo "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	vf=$(echo "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	record "$1" "${vp:-0}" "${vf:-1}"
}
step_ok() { # step_ok NAME CMD... — a step that counts as one test
	local name=$1
	shift
	if "$@"; then record "$name" 1 0; else record "$name" 0 1; fi
}

# 1. Host tests.
log "== cargo test (host)"
cargo test --workspace --color never 2>&1 | tee "$CACHE/cargo-test.log"
cargo_rc=${PIPESTATUS[0]}
p=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) s += $i } END { print s + 0 }' "$CACHE/cargo-test.log")
f=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }' "$CACHE/cargo-test.log")
((cargo_rc == 0 || f > 0)) || f=1 # a build failure is a failure too
record "cargo test" "$p" "$f"
vm_counts "cargo fuzz decode (60 s)" "$(tests/fuzz/run.sh 60 | tail -n 1)"

# 2-4. Kernels, module builds, VM suites.
skip=" ${DM_REMAP_SKIP_KERNELS:-} "
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
run_line() { # run_line LINE FLAVOUR SUITE [SUITE...]
	local line=$1 flavour=$2 kdir ko out suite
	shift 2
	case $skip in *" $line "*) log "skipping kernel $line"; return ;; esac
	if ! kdir=$(tests/vm/build-kernel.sh "$line" "$flavour"); then
		record "kernel $line $flavour build" 0 1
		return
	fi
	if ! ko=$(tests/vm/build-module.sh "$kdir"); then
		record "module build for $line" 0 1
		return
	fi
	record "module build for $line" 1 0
	step_ok "modinfo on $line" check_modinfo "$ko"
	for suite in "$@"; do
		if [ "$suite" = reboot ]; then
			out=$(tests/vm/run-reboot.sh "$kdir" "$ko" tests/vm/suites/reboot1 tests/vm/suites/reboot2 | tail -1)
		else
			out=$(tests/vm/run-vm.sh --kernel "$kdir" --ko "$ko" --suite "tests/vm/suites/$suite" | tail -1)
		fi
		vm_counts "VM suite $suite on $line $flavour" "$out"
	done
}

# The crash suite checks metadata in the guest with the CLI built above.
export DM_REMAP_GUEST_CLI=$REPO/target/debug/dm-remap
run_line 7.2 debug foundation reboot
run_line 7.3 perf smoke proof crash corrupt campaign
run_line 6.12 perf smoke

# 5. Packaging: DKMS, DEB and RPM end to end (tests/pkg/run.sh, docs/PACKAGING.md).
case $skip in
*" pkg "*) log "skipping packaging tests" ;;
*)
	out=$(tests/pkg/run.sh | tail -n 1)
	pp=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	pf=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	record "packaging (tests/pkg/run.sh)" "${pp:-0}" "${pf:-1}"
	;;
esac

((${#failures[@]} == 0)) || log "failed: ${failures[*]}"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
