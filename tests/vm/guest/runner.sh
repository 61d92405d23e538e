#!/bin/bash
# runner.sh SUITE — run every test of /tests, one after another.
#
# A test file defines shell functions named test_*; each runs in its own
# subshell with `set -e -o pipefail` and /lib.sh loaded, with its output in
# /results/logs/<name>.log.  A test fails if it exits non-zero or if dmesg
# grows a KASAN, lockdep, WARNING, BUG or Oops line while it runs.  The last
# line is the summary `N passed, N failed`.
suite=$1
. /lib.sh
mkdir -p /results/logs /results/failed
passed=0 failed=0 failed_names=()
echo "suite $suite on $(uname -r)"

splats() { dmesg | grep -E "$SPLAT_PATTERN" || true; }

for file in /tests/*.sh; do
	[ -e "$file" ] || continue
	for t in $(bash -c ". /lib.sh; . '$file'; declare -F" | awk '$3 ~ /^test_/ {print $3}'); do
		log=/results/logs/$t.log
		before=$(splats | wc -l)
		start=$(date +%s)
		(
			set -e -o pipefail
			. "$file"
			"$t"
		) >"$log" 2>&1
		rc=$?
		cleanup_all >>"$log" 2>&1
		after=$(splats | wc -l)
		if [ "$after" -gt "$before" ]; then
			echo "dmesg gained $((after - before)) splat line(s):" >>"$log"
			splats | tail -n $((after - before)) >>"$log"
			rc=1
		fi
		secs=$(($(date +%s) - start))
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1))
			echo "ok   $t (${secs}s)"
		else
			failed=$((failed + 1))
			failed_names+=("$t")
			cp "$log" /results/failed/
			echo "FAIL $t (${secs}s)"
			tail -5 "$log" | sed 's/^/     | /'
		fi
	done
done

# kmemleak, where the kernel has it: scan twice (a leak must survive two
# scans to be reported) and count what it found.
if [ -w /sys/kernel/debug/kmemleak ] || { mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null && [ -w /sys/kernel/debug/kmemleak ]; }; then
	echo scan >/sys/kernel/debug/kmemleak; sleep 1; echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >/results/kmemleak.txt
	if grep -q 'dm_remap\|dm-remap' /results/kmemleak.txt; then
		echo "FAIL kmemleak reports leaks from dm_remap (see kmemleak.txt)"
		failed=$((failed + 1))
	fi
fi

dmesg >/results/dmesg.txt
splats >/results/splats
if [ -s /results/splats ]; then
	echo "dmesg has $(wc -l </results/splats) KASAN/lockdep/WARNING/BUG/Oops line(s)"
fi
((failed == 0)) || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed" | tee /results/summary
