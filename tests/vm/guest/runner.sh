#!/bin/bash
# runner.sh SUITE — run every test of /tests, one after another, and report
# each result the moment it is known.
#
# A test file defines shell functions named test_*; each runs in its own
# bash with `set -e -o pipefail` and /lib.sh loaded, under `timeout` (the
# file may set TEST_TIMEOUT in seconds; default DMREMAP_TEST_TIMEOUT or 600),
# with its output in /results/logs/<name>.log.  A test that runs past its
# limit fails, and the runner dumps the blocked tasks and all task stacks to
# the console (sysrq w and t) before cleaning up.
#
# Standard output is the host's live stream (init sends it to the second
# serial port): `start NAME`, `ok NAME (Ns)`, `FAIL NAME (Ns): why` followed
# by the tail of the test's log as `| ` lines, `check ok|FAIL NAME: ...` for
# checks of the whole run (kmemleak), `ABORT ...`, and last `done N passed,
# N failed`.  The runner also writes `dm-remap-harness: start|end NAME` to
# /dev/kmsg, so the host can tell which test each console line belongs to.
# Splats are judged on the host over the whole console log
# (tests/vm/verdict.sh); a suite's `before-tests` file, if any, runs first,
# outside every test.
suite=$1
. /lib.sh
mkdir -p /results/logs /results/failed
passed=0 failed=0 failed_names=()
default_timeout=${DMREMAP_TEST_TIMEOUT:-600}
kmsg() { echo "dm-remap-harness: $*" >/dev/kmsg; }
echo "suite $suite on $(uname -r)"

# kmemleak: forget what the kernel itself leaked before the suite (boot-time
# reports are not ours), so that every report at the end is the suite's.
kmemleak=/sys/kernel/debug/kmemleak
[ -e $kmemleak ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
kmemleak_scan() { echo scan >$kmemleak && sleep 6 && echo scan >$kmemleak; }
if [ -w $kmemleak ]; then
	kmemleak_scan && echo clear >$kmemleak
fi

if [ -f /tests/before-tests ]; then
	kmsg "before-tests hook (outside every test)"
	bash /tests/before-tests >/results/logs/before-tests.log 2>&1
fi

aborted=
for file in /tests/*.sh; do
	[ -e "$file" ] || continue
	[ -z "$aborted" ] || break
	names=$(bash -c ". /lib.sh; . '$file' >/dev/null 2>&1; declare -F" | awk '$3 ~ /^test_/ { print $3 }')
	limit=$(bash -c ". /lib.sh; . '$file' >/dev/null 2>&1; echo \${TEST_TIMEOUT:-$default_timeout}")
	for t in $names; do
		log=/results/logs/$t.log
		echo "start $t"
		kmsg "start $t"
		start=$(date +%s)
		timeout -k 10 "$limit" bash -c 'set -e -o pipefail; . /lib.sh; . "$1"; "$2"' _ "$file" "$t" >"$log" 2>&1
		rc=$?
		why="exit status $rc"
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			why="timed out after ${limit}s (task stacks on the console)"
			echo "TIMEOUT: $why" >>"$log"
			kmsg "timeout in $t after ${limit}s: blocked tasks and all task stacks follow"
			echo w >/proc/sysrq-trigger
			echo t >/proc/sysrq-trigger
		fi
		# Cleanup belongs to the test: its kernel messages are in its window.
		if ! timeout -k 10 120 bash -c '. /lib.sh; cleanup_all' >>"$log" 2>&1; then
			kmsg "cleanup after $t did not finish in 120 s"
			echo w >/proc/sysrq-trigger
			aborted="cleanup after $t did not finish in 120 s; the tests after it did not run"
		fi
		kmsg "end $t"
		secs=$(($(date +%s) - start))
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1))
			echo "ok $t (${secs}s)"
		else
			failed=$((failed + 1))
			failed_names+=("$t")
			cp "$log" /results/failed/
			echo "FAIL $t (${secs}s): $why"
			tail -n 40 "$log" | sed 's/^/| /'
		fi
		[ -z "$aborted" ] || break
	done
done
[ -z "$aborted" ] || echo "ABORT $aborted"

# kmemleak, where the kernel has it: unload the module (a leak of an
# unloaded module shows as raw addresses, so every report counts), scan
# twice (an object must be unreferenced through two scans to be reported)
# and fail on any unreferenced object.  On a kernel built with kmemleak
# (DMREMAP_KMEMLEAK=required) a scan that cannot run is a failure too.
if [ -z "$aborted" ]; then
	modprobe -r dm_remap 2>/dev/null
	if [ -w $kmemleak ] && kmemleak_scan; then
		cat $kmemleak >/results/kmemleak.txt
		n=$(grep -c '^unreferenced object' /results/kmemleak.txt)
		if [ "$n" -gt 0 ]; then
			echo "check FAIL kmemleak: $n unreferenced object(s) after the suite"
			head -n 60 /results/kmemleak.txt | sed 's/^/| /'
			failed=$((failed + 1))
		else
			echo "check ok kmemleak: scanned after unloading dm_remap, no leaks"
		fi
	elif [ "${DMREMAP_KMEMLEAK:-}" = required ]; then
		echo "check FAIL kmemleak: the kernel has kmemleak but the scan did not run"
		failed=$((failed + 1))
	fi
fi

dmesg >/results/dmesg.txt
((failed == 0)) || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed" >/results/summary
echo "done $passed passed, $failed failed"
