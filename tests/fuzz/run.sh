#!/bin/bash
# run.sh [SECONDS] — fuzz the metadata decoder (src/engine/fuzz, cargo fuzz /
# libFuzzer) for a bounded time (default 60 s), from a seed image with log
# records.  Installs cargo-fuzz if missing.  Last line: `N passed, N failed`
# (1 passed: no crash; 1 failed: a crash, its input under target/fuzz-artifacts).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
cd "$REPO"
if ! command -v cargo-fuzz >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
	echo "installing cargo-fuzz"
	cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz || { echo "0 passed, 1 failed"; exit 1; }
fi
export PATH=$HOME/.cargo/bin:$PATH
corpus=$REPO/target/fuzz-corpus/decode
artifacts=$REPO/target/fuzz-artifacts/
mkdir -p "$corpus" "$artifacts"
cli() { cargo run -q -p dm-remap-cli -- "$@"; }
rm -f "$corpus/seed"
cli format --spare "$corpus/seed" --spare-len 120 --main-size 4096 --block-size 512 --log-blocks 3 >/dev/null
cli debug-apply "$corpus/seed" --write-error 3 --read-error 5 --fail-spare 1 >/dev/null
cd src/engine/fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir "$REPO/target/fuzz" decode "$corpus" -- \
	-max_total_time="$secs" -artifact_prefix="$artifacts" >"$REPO/target/fuzz.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "Done [0-9]* runs" "$REPO/target/fuzz.log"; then
	echo "fuzzed for ${secs} s: $(grep -o 'Done [0-9]* runs' "$REPO/target/fuzz.log"), 0 crashes"
	echo "1 passed, 0 failed"
else
	tail -20 "$REPO/target/fuzz.log"
	echo "0 passed, 1 failed"
	exit 1
fi
