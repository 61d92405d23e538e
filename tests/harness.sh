# tests/harness.sh — how tests/run-all.sh counts results; sourced by it and
# by the harness's own self-test (tests/harness/selftest.sh), so the code
# that is tested is the code that counts.
#
# Every step ends in `record NAME PASSED FAILED`.  A count that is missing or
# not a number is a failure, never a zero: a step that could not even say
# what it ran has failed.

total_passed=0 total_failed=0 failures=()
record() { # record NAME PASSED FAILED
	local name=$1 p=${2:-} f=${3:-}
	if ! [[ $p =~ ^[0-9]+$ && $f =~ ^[0-9]+$ ]]; then
		log "== $name: no usable counts (passed '$p', failed '$f'): counted as a failure"
		p=0 f=1
	fi
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	((f == 0)) || failures+=("$name")
	log "== $name: $p passed, $f failed"
}

# record_run NAME RC LOG — a runner that ends with `N passed, N failed`: its
# last such line counts, and a non-zero exit with no failure counted adds one
# (a splat outside every test, a crashed VM, a runner that died).
record_run() {
	local name=$1 rc=$2 logf=$3 line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logf" | tail -n 1)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	if [[ $rc != 0 && $f == 0 ]]; then
		log "== $name exited $rc with no failure counted: one more failure"
		f=1
	fi
	record "$name" "$p" "$f"
}

# run_step NAME LOG CMD... — run a runner, its output to LOG (and stderr),
# and record it.
run_step() {
	local name=$1 logf=$2 rc
	shift 2
	mkdir -p "$(dirname "$logf")"
	"$@" 2>&1 | tee "$logf" >&2
	rc=${PIPESTATUS[0]}
	record_run "$name" "$rc" "$logf"
}

# run_cargo_test NAME LOG [CARGO TEST ARGS...] — cargo test, counted from its
# `test result:` lines; a build failure (non-zero exit, nothing failed) is a
# failure, and so is a run that reports no test at all.
run_cargo_test() {
	local name=$1 logf=$2 rc p f
	shift 2
	mkdir -p "$(dirname "$logf")"
	cargo test --color never "$@" 2>&1 | tee "$logf" >&2
	rc=${PIPESTATUS[0]}
	p=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) s += $i } END { print s + 0 }' "$logf")
	f=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }' "$logf")
	if ((rc != 0 && f == 0)); then f=1; fi
	if ((p + f == 0)); then f=1; fi
	record "$name" "$p" "$f"
}

# Rust toolchain on the host: the lock file (version 4) needs cargo >= 1.78.
check_cargo() {
	local v
	v=$(cargo --version 2>/dev/null | awk '{ print $2 }')
	if [ -z "$v" ]; then
		log "cargo is not installed: install rustup (apt-get install rustup, or from the rustup"
		log "project), then 'rustup default stable'; cargo 1.78 or newer is needed"
		return 1
	fi
	if [ "$(printf '%s\n' 1.78.0 "$v" | sort -V | head -n 1)" != 1.78.0 ]; then
		log "cargo $v is too old for Cargo.lock (version 4 needs cargo >= 1.78): run 'rustup update stable'"
		return 1
	fi
}
