#!/bin/bash
# run-vm.sh [options] — boot a test kernel under QEMU TCG with an initramfs
# holding the module and a test suite, run the suite, collect the results.
#
#   --kernel KDIR     kernel build directory (from build-kernel.sh)
#   --ko PATH         dm-remap.ko built for it (from build-module.sh)
#   --suite DIR       directory of test files (tests/vm/suites/<name>)
#   --out DIR         where logs and dmesg go (default: $CACHE/results/<suite>)
#   --append ARGS     extra kernel command line (e.g. guest variables)
#   --timeout SECS    wall-clock limit for the VM (default 1800)
#   --disk FILE       attach FILE as a persistent virtio disk (repeatable)
#
# Exit status: 0 only if tests/vm/verdict.sh finds every test of the suite's
# manifest passed, no splat on the whole console and a VM that finished.  The
# last line printed is its `N passed, N failed`.
. "$(dirname "$0")/lib.sh"

kdir= ko= suite= out= append= timeout=1800 disks=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kdir=$2; shift 2 ;;
	--ko) ko=$2; shift 2 ;;
	--suite) suite=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--disk) disks+=("$2"); shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
[ -n "$kdir" ] && [ -n "$ko" ] && [ -n "$suite" ] || die "need --kernel, --ko and --suite"
name=$(basename "$suite")
out=${out:-$CACHE/results/$name}
rm -rf "$out"
mkdir -p "$out"

# The suite as it is packed now: the guest runs it and verdict.sh reads its
# manifest from this copy, so an edit during the run cannot change either.
mkdir -p "$out/suite"
cp -r "$suite"/. "$out/suite/"
suite=$out/suite
initrd=$out/initramfs.cpio.gz
"$REPO/tests/vm/mkinitramfs.sh" "$kdir" "$ko" "$suite" "$initrd"

# The guest writes a tar of its results to this raw disk before powering off.
results=$out/results.img
truncate -s 0 "$results"
truncate -s 64M "$results"
drives=(-drive "file=$results,if=virtio,format=raw")
for d in "${disks[@]}"; do drives+=(-drive "file=$d,if=virtio,format=raw"); done

# Kernels with kmemleak: the runner must be able to scan (a scan that cannot
# run is a failure, not a skipped check).
grep -qsx 'CONFIG_DEBUG_KMEMLEAK=y' "$kdir/.config" && append="dmremap.kmemleak=required $append"

log "booting $(cat "$kdir/include/config/kernel.release") for suite '$name' (TCG, limit ${timeout}s)"
start=$SECONDS
set +e
# First serial port: the console (every kernel line, checked whole by
# verdict.sh); second: the runner's live results stream.  log_buf_len keeps
# the guest's own dmesg (results/dmesg.txt) whole for noisy suites too.
timeout --foreground "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 3G \
	-display none -monitor none -no-reboot -kernel "$kdir/arch/x86/boot/bzImage" -initrd "$initrd" \
	"${drives[@]}" -serial stdio -serial "file:$out/stream.log" \
	-append "console=ttyS0 log_buf_len=32M panic=-1 null_blk.nr_devices=0 brd.rd_nr=4 brd.rd_size=65536 loglevel=7 dmremap.suite=$name $append" \
	</dev/null >"$out/console.log" 2>&1
qemu_rc=$?
set -e
log "VM finished in $((SECONDS - start)) s (qemu exit $qemu_rc)"

# The results archive (logs, dmesg.txt, kmemleak.txt) sits at the start of
# the results disk; the verdict does not depend on it.
tar -C "$out" -xf "$results" 2>/dev/null || log "no results archive from the guest"
for f in "$out"/results/failed/*.log; do
	[ -e "$f" ] || continue
	log "---- failed: $(basename "$f" .log)"
	tail -30 "$f" >&2
done
if ! grep -q '^done ' "$out/stream.log" 2>/dev/null; then
	log "the guest did not finish the suite; console tail:"
	tail -40 "$out/console.log" >&2
fi
log "logs: $out (console.log, stream.log, verdict, results/)"
"$REPO/tests/vm/verdict.sh" "$suite" "$out" "$qemu_rc"
