#!/bin/bash
# selftest.sh host | vm KDIR KO — the test harness tested: failures planted on
# purpose must be counted by the very code that counts the real suites
# (tests/harness.sh, tests/vm/run-vm.sh, tests/vm/verdict.sh,
# tests/vm/guest/runner.sh).  Each expectation is one test here; the last
# line is `N passed, N failed`.
#
#   host: a failing `cargo test` on a fresh (not yet created) cache; counts
#         that are missing or not numbers; a runner that exits non-zero with
#         nothing counted failed; a suite with no tests.
#   vm:   the throw-away suite tests/harness/vm-suite on the given kernel
#         (the debug kernel in run-all.sh): a splat early in a noisy test, a
#         splat outside every test, a test hung in D state (named, failed
#         within its 20 s timeout, task stacks on the console), a suite file
#         with a syntax error (the error and the tests before and after it
#         counted), and
#         a leak of a module that was then unloaded (kmemleak).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/vm/lib.sh"
set +e
mode=${1:?usage: selftest.sh host | vm KDIR KO}

passed=0 failed=0
expect() { # expect WHAT CMD... — one self-test
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		log "ok   harness: $what"
	else
		failed=$((failed + 1))
		log "FAIL harness: $what"
	fi
}
# In a subshell, with the harness's own counters: counts NAME... prints
# "PASSED FAILED" after running the commands.
counts() { (
	. "$REPO/tests/harness.sh"
	"$@" >/dev/null 2>&1
	echo "$total_passed $total_failed"
); }

host_tests() {
	local tmp
	tmp=$(mktemp -d)
	# 1. A failing cargo test, run the way run-all.sh runs it, with a cache
	#    directory that does not exist yet (as on a fresh machine).
	local fresh=$tmp/fresh-cache/logs
	expect "a failing cargo test on a fresh cache is counted (1 passed, 1 failed)" \
		test "$(cd "$REPO/tests/harness/failing-crate" && CARGO_TARGET_DIR=$tmp/target \
			counts run_cargo_test "cargo test" "$fresh/cargo-test.log")" = "1 1"
	expect "the cargo log was written to the fresh cache" test -s "$fresh/cargo-test.log"
	# A cargo test that cannot even build is a failure, not 0 passed.
	mkdir -p "$tmp/broken/src"
	printf '[package]\nname = "broken"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' >"$tmp/broken/Cargo.toml"
	echo 'fn broken( {' >"$tmp/broken/src/lib.rs"
	expect "a cargo test that does not build is a failure" \
		test "$(cd "$tmp/broken" && CARGO_TARGET_DIR=$tmp/target counts run_cargo_test "broken" "$tmp/broken.log")" = "0 1"
	# 2. Counts that are missing or not numbers.
	expect "empty counts are a failure" test "$(counts record "empty" "" "")" = "0 1"
	expect "non-numeric counts are a failure" test "$(counts record "junk" 3 abc)" = "0 1"
	# 3. A runner that exits non-zero with "0 failed" on its last line.
	printf 'noise\n5 passed, 0 failed\n' >"$tmp/runner.log"
	expect "a non-zero exit with nothing counted failed adds a failure" \
		test "$(counts record_run "runner" 1 "$tmp/runner.log")" = "5 1"
	printf 'no summary at all\n' >"$tmp/none.log"
	expect "a runner that printed no summary is a failure" \
		test "$(counts record_run "runner" 0 "$tmp/none.log")" = "0 1"
	# 4. A suite with no tests (the verdict needs no VM for that).
	mkdir -p "$tmp/empty-suite" "$tmp/empty-out"
	echo "# nothing here" >"$tmp/empty-suite/none.sh"
	printf 'done 0 passed, 0 failed\n' >"$tmp/empty-out/stream.log"
	: >"$tmp/empty-out/console.log"
	expect "a suite with no tests is a failure" \
		bash -c '! "$1/tests/vm/verdict.sh" "$2/empty-suite" "$2/empty-out" 0 >/dev/null 2>&1 &&
			grep -q "^FAIL suite empty-suite has no tests" "$2/empty-out/verdict"' _ "$REPO" "$tmp"
	rm -rf "$tmp"
}

vm_tests() {
	local kdir=${1:?} ko=${2:?} suite out v rc
	suite=$(mktemp -d "$CACHE/harness-suite.XXXXXX")
	out=$CACHE/results/harness-selftest
	cp -r "$REPO/tests/harness/vm-suite/." "$suite/"
	# The leaking module, built for this kernel like dm-remap.ko is.
	rm -rf "$CACHE/harness-leak"
	cp -r "$REPO/tests/harness/leak" "$CACHE/harness-leak"
	local llvm=
	grep -qsx 'CONFIG_CC_IS_CLANG=y' "$kdir/.config" && llvm=LLVM=1
	if ! in_chroot make -C "/cache/${kdir#"$CACHE"/}" M=/cache/harness-leak $llvm modules >"$CACHE/harness-leak/build.log" 2>&1; then
		cat "$CACHE/harness-leak/build.log" >&2
		expect "the leaking module builds" false
		return
	fi
	cp "$CACHE/harness-leak/harness_leak.ko" "$suite/"
	"$REPO/tests/vm/run-vm.sh" --kernel "$kdir" --ko "$ko" --suite "$suite" --out "$out" --timeout 900 >&2
	rc=$?
	rm -rf "$suite"
	v=$out/verdict
	log "verdict of the throw-away suite (failures expected):"
	cat "$v" >&2
	expect "the VM run exits non-zero" test "$rc" != 0
	expect "a passing test still passes" grep -q '^ok test_a_passing_test ' "$v"
	expect "an early splat in a noisy test fails that test" \
		grep -q '^FAIL test_early_splat_in_a_noisy_test: kernel splat on the console: .*an early splat in a noisy test' "$v"
	expect "a splat outside every test is a failure" \
		grep -q '^FAIL 1 splat line(s) on the console outside every test, first: .*a splat outside every test' "$v"
	expect "a hung test fails, named, within its timeout" \
		grep -q '^FAIL test_hangs_in_d_state: ([0-9]*s): timed out after 20s' "$v"
	expect "the hung task's stack is on the console" \
		bash -c 'sed -n "/dm-remap-harness: timeout in test_hangs_in_d_state/,/dm-remap-harness: end test_hangs_in_d_state/p" "$1" |
			grep -A30 "task:dd " | grep -q "Call Trace"' _ "$out/console.log"
	expect "the tests after the hung one still ran" grep -q '^[A-Za-z]* test_before_the_syntax_error: *([0-9]*s)\|^ok test_before_the_syntax_error ([0-9]*s)' "$v"
	# Sourcing a file with a syntax error fails under set -e: even the test
	# defined before the error fails.
	expect "a test in a file with a syntax error fails" grep -q '^FAIL test_before_the_syntax_error: ([0-9]*s): exit status 2' "$v"
	expect "a syntax error in a suite file is a failure" grep -q '^FAIL z_syntax.sh: syntax error' "$v"
	expect "the test after the syntax error is missing, and counted" \
		grep -q '^FAIL test_after_the_syntax_error: did not run' "$v"
	expect "a leak of an unloaded module fails the kmemleak check" \
		grep -q '^FAIL check kmemleak: [0-9]* unreferenced object' "$v"
	expect "nothing else failed (7 failures, 2 passes)" \
		test "$(grep -c '^FAIL ' "$v") $(grep -c '^ok ' "$v")" = "7 2"
}

case $mode in
host) host_tests ;;
vm) vm_tests "${2:-}" "${3:-}" ;;
*) die "usage: selftest.sh host | vm KDIR KO" ;;
esac
echo "$passed passed, $failed failed"
((failed == 0))
