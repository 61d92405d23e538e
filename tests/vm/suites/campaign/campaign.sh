# Seeded fault-injection campaign: each trial runs fio with verify over a
# remap device while the disk fails under it at random times and places:
# bad blocks on main (dm-dust), weak sectors that fail once (null_blk
# badblocks_once), failures of spare blocks in use (dm-dust under the
# spare), and small spares that run out.  No trial may read back wrong data:
# errors must be honest I/O errors, counted in the status.
#
# DMREMAP_SEED (default: from the clock, printed) and DMREMAP_TRIALS
# (default 200) reproduce a campaign: tests/soak/run.sh passes both.

SEED=${DMREMAP_SEED:-$(($(date +%s) % 100000))}
TRIALS=${DMREMAP_TRIALS:-200}
TEST_TIMEOUT=$((600 + TRIALS * 30))

# trial_setup SPARE_SECTORS: main = dust over a 16 MiB null_blk with
# weak-once bad sectors, spare = dust over ram1.
trial_setup() {
	local d=/sys/kernel/config/nullb/cmain
	mkdir "$d"
	echo 16 >"$d/size"
	echo 1 >"$d/memory_backed"
	echo 4096 >"$d/blocksize"
	echo 1 >"$d/badblocks_once"
	echo 1 >"$d/power"
	spare_wipe /dev/ram1
	dmsetup create cm --table "0 32768 dust /dev/cmain 0 4096"
	dmsetup create cs --table "0 $1 dust /dev/ram1 0 4096"
	dmsetup mknodes
	dm_create ct "0 32768 remap /dev/mapper/cm 0 /dev/mapper/cs 0 $1 2 block_size 4096"
}

# fail_a_used_spare PID: make the spare block of a remapped block fail
# writes and reads, while fio (PID) runs.  The block comes from the
# committed metadata, read through the spare device once the kernel has
# remapped something (the page cache is dropped before each read, so the
# dump sees what is on the disk).  Fails the trial if fio ends before any
# block was remapped: a spare-failure trial always has bad blocks from the
# start, so that would be a bug.
fail_a_used_spare() {
	local pid=$1 s pick=$((1 + RANDOM % 3)) i
	for i in $(seq 1 100); do
		blockdev --flushbufs /dev/mapper/cs
		s=$(dm-remap dump --json /dev/mapper/cs 2>/dev/null | grep -o '"spare_sector": *[0-9]*' | grep -o '[0-9]*$' | head -$pick | tail -1) || true
		[ -z "$s" ] || break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	[ -n "$s" ] || fail "spare-failure trial: nothing remapped while fio ran"
	dmsetup message cs 0 addbadblock $((s / 8)) 255
	dmsetup message cs 0 enable
	SPARE_FAILS=$((SPARE_FAILS + 1))
}

run_trial() { # run_trial N
	# fio's region: 1-2 MiB at a random MiB of the 16 MiB disk; faults are
	# placed inside it.  One trial in five has a tiny spare and a burst of
	# bad blocks, so the pool runs out.
	local off=$((RANDOM % 8 * 256)) len=$(((1 + RANDOM % 2) * 256)) i b
	local spare_len=$((2048 * (1 + RANDOM % 4))) nbad=$((RANDOM % 6))
	# Every fifth trial exhausts a tiny spare; every third fails a spare
	# block in use (and so starts with bad blocks to remap).
	local exhaust=$(($1 % 5 == 0)) spare_fail=$(($1 % 3 == 0))
	[ $exhaust = 0 ] || spare_len=1024 nbad=150
	[ $spare_fail = 0 ] || [ $nbad -ge 2 ] || nbad=2
	trial_setup $spare_len
	# Bad blocks present from the start (writes fail) and weak sectors.
	for i in $(seq 1 $nbad); do
		dmsetup message cm 0 addbadblock $((off + RANDOM % len)) 255 2>/dev/null || true # may exist already
	done
	dmsetup message cm 0 enable
	for i in $(seq 1 $((RANDOM % 4))); do
		b=$((off + RANDOM % len))
		echo "+$((b * 8))-$((b * 8 + 7))" >/sys/kernel/config/nullb/cmain/badblocks
	done
	fio --name=t --filename=/dev/mapper/ct --direct=1 --ioengine=libaio --iodepth=$((1 + RANDOM % 8)) \
		--rw=randwrite --bs=4k --size=$((len * 4096)) --offset=$((off * 4096)) \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --randseed=$RANDOM --output=/tmp/fio.$1 &
	local pid=$!
	# While it runs: more bad blocks at random moments, and a spare failure.
	for i in $(seq 1 $((RANDOM % 5))); do
		sleep 0.$((RANDOM % 5))
		dmsetup message cm 0 addbadblock $((off + RANDOM % len)) 255 2>/dev/null || true # may exist already
	done
	[ $spare_fail = 0 ] || fail_a_used_spare $pid
	local rc=0
	wait $pid || rc=$?
	# Never wrong data: fio's verify reports a mismatch as a crc/header
	# error; I/O errors are allowed only with a reason the status shows.
	if fio_mismatch /tmp/fio.$1; then
		cat /tmp/fio.$1
		fail "trial $1: data mismatch"
	fi
	local mode st
	st=$(dmsetup status ct)
	mode=$(status_field ct 2)
	if [ $rc -ne 0 ]; then
		grep -q "Input/output error" /tmp/fio.$1 || { cat /tmp/fio.$1; fail "trial $1: fio failed without EIO"; }
		case $mode in
		spare-exhausted | degraded) ;;
		*)
			# A block that went bad after fio wrote it reads back EIO: the
			# read error count must show it.
			[ "$(status_field ct 6)" -gt 0 ] || fail "trial $1: I/O error but status '$st'"
			;;
		esac
		EIO_TRIALS=$((EIO_TRIALS + 1))
	fi
	# Counters agree with the list.
	local list
	list=$(remap_list ct)
	assert_eq "$(echo "$list" | grep -c '^R ' || true)" "$(status_field ct 3 | cut -d/ -f1)" "trial $1: remapped count" >/dev/null
	assert_eq "$(echo "$list" | grep -c '^P ' || true)" "$(status_field ct 4)" "trial $1: pending count" >/dev/null
	[ "$mode" != spare-exhausted ] || EXHAUSTED=$((EXHAUSTED + 1))
	REMAPS=$((REMAPS + $(status_field ct 3 | cut -d/ -f1)))
	dmsetup remove ct
	dmsetup remove cm
	dmsetup remove cs
	nullb_remove cmain
}

test_fault_injection_campaign() {
	echo "campaign seed $SEED, $TRIALS trials (rerun: DMREMAP_SEED=$SEED DMREMAP_TRIALS=$TRIALS)"
	RANDOM=$SEED
	EIO_TRIALS=0 EXHAUSTED=0 SPARE_FAILS=0 REMAPS=0
	local t
	for t in $(seq 1 "$TRIALS"); do
		run_trial "$t"
	done
	echo "$TRIALS trials, 0 data mismatches: $REMAPS remaps, $SPARE_FAILS spare failures injected, $EXHAUSTED ended spare-exhausted, $EIO_TRIALS saw honest I/O errors (seed $SEED)"
	# A campaign that never remapped, never failed a spare, never ran out
	# or never saw an honest error did not test what it claims.
	if [ "$TRIALS" -ge 20 ]; then
		[ "$REMAPS" -gt 0 ] || fail "no trial remapped a block"
		assert_eq $((TRIALS / 3)) "$SPARE_FAILS" "spare failures injected"
		[ "$EXHAUSTED" -gt 0 ] || fail "no trial exhausted the spare"
		[ "$EIO_TRIALS" -gt 0 ] || fail "no trial saw an honest I/O error"
	fi
}
