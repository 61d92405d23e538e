#!/bin/bash
# verdict.sh SUITE_DIR OUT QEMU_RC — judge one VM run on the host, from what
# the host itself saw, never from the guest's own summary alone:
#
#   - the manifest: every test_* function the suite's files define (found in
#     the text, so a file that stops parsing half-way still lists the tests
#     after the error), each file checked with `bash -n` first;
#   - OUT/stream.log, the runner's live report (tests/vm/guest/runner.sh);
#   - OUT/console.log, the whole serial console: every kernel line, even
#     those that scrolled out of the dmesg ring.  A splat (guest/splats.sh)
#     fails the test whose `dm-remap-harness: start`/`end` window holds it,
#     and one outside every window (boot, late work, kmemleak) is a failure
#     of its own;
#   - QEMU's exit status (124: the VM hit its time limit).
#
# A test passes only if it is in the manifest, reported `ok`, and no splat
# fell in its window.  A test of the manifest that never reported, one that
# reported without being in it, a suite with no tests, a syntax error, a
# failed check (kmemleak), an ABORT, a VM that did not finish: each is a
# failure.  Writes OUT/verdict (`ok NAME` / `FAIL NAME: why`, one a line)
# and prints `N passed, N failed` last; exits non-zero on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/guest/splats.sh"
suite=${1:?usage: verdict.sh SUITE_DIR OUT QEMU_RC} out=${2:?} qemu_rc=${3:?}
verdict=$out/verdict
: >"$verdict"
ok() { echo "ok $*" >>"$verdict"; }
bad() { echo "FAIL $*" >>"$verdict"; }

# The manifest.
expected=()
for f in "$suite"/*.sh; do
	[ -e "$f" ] || continue
	if ! err=$(bash -n "$f" 2>&1); then
		bad "$(basename "$f"): syntax error: $(echo "$err" | head -n 1)"
	fi
	expected+=($(sed -n 's/^\(function[ \t]\+\)\?\(test_[A-Za-z0-9_]\+\)[ \t]*()[ \t]*{\?.*$/\2/p' "$f"))
done
((${#expected[@]} > 0)) || bad "suite $(basename "$suite") has no tests"
dups=$(printf '%s\n' "${expected[@]}" | sort | uniq -d)
[ -z "$dups" ] || bad "test names defined twice: $dups"

stream=$(tr -d '\r' <"$out/stream.log" 2>/dev/null)
console=$(tr -d '\r' <"$out/console.log" 2>/dev/null)

# Splats on the console, by test window.
declare -A splat_in=()
outside=0 outside_first=
while IFS=$'\t' read -r where line; do
	if [ "$where" = - ]; then
		outside=$((outside + 1))
		[ -n "$outside_first" ] || outside_first=$line
	elif [ -z "${splat_in[$where]:-}" ]; then
		splat_in[$where]=$line
	fi
done < <(echo "$console" | awk -v pat="$SPLAT_PATTERN" '
	# Kernel lines only: "[    1.234567] ..." (the runner writes nothing
	# else to the console).
	!/^\[ *[0-9]+\.[0-9]+\]/ { next }
	/dm-remap-harness: start / { cur = $NF; next }
	/dm-remap-harness: end / { cur = ""; next }
	$0 ~ pat { print (cur == "" ? "-" : cur) "\t" $0 }')

# Results as reported.
declare -A reported=()
while read -r word name rest; do
	case $word in
	ok | FAIL) reported[$name]="$word $rest" ;;
	esac
done < <(echo "$stream" | grep -E '^(ok|FAIL) test_')
started_last=$(echo "$stream" | sed -n 's/^start //p' | tail -n 1)

for t in "${expected[@]}"; do
	r=${reported[$t]:-}
	if [ -z "$r" ]; then
		if [ "$t" = "$started_last" ]; then
			bad "$t: started and never finished (hang or crash; see console.log)"
		else
			bad "$t: did not run"
		fi
	elif [ "${r%% *}" = FAIL ]; then
		bad "$t: ${r#FAIL }"
	elif [ -n "${splat_in[$t]:-}" ]; then
		bad "$t: kernel splat on the console: ${splat_in[$t]}"
	else
		ok "$t ${r#ok }"
	fi
done
for t in "${!reported[@]}"; do
	printf '%s\n' "${expected[@]}" | grep -qx "$t" || bad "$t: reported but not in the manifest"
done
((outside == 0)) || bad "$outside splat line(s) on the console outside every test, first: $outside_first"
while read -r _ word rest; do
	if [ "$word" = ok ]; then ok "check $rest"; else bad "check $rest"; fi
done < <(echo "$stream" | grep -E '^check (ok|FAIL) ')
echo "$stream" | grep '^ABORT ' | while read -r _ why; do bad "runner aborted: $why"; done
echo "$stream" | grep -q '^done ' || bad "the runner did not finish (no 'done' line in the stream)"
case $qemu_rc in
0) ;;
124) bad "the VM hit its time limit" ;;
*) bad "QEMU exited with status $qemu_rc" ;;
esac

passed=$(grep -c '^ok ' "$verdict")
failed=$(grep -c '^FAIL ' "$verdict")
grep '^FAIL ' "$verdict" >&2
echo "$passed passed, $failed failed"
((failed == 0))
