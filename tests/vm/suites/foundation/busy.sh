# I/O to blocks while they are being remapped ("busy" blocks).  The target
# holds such I/O until the remap has ended and its metadata commit has
# completed, then sends it where the block lives: it never fails it (dm
# core fails a requeued bio with EIO outside a noflush suspend) and never
# lets it reach a new spare block whose mapping a crash could still lose.
#
# Each test runs verified fio (crc32c, fatal) on a small region while the
# region's blocks are remapped again and again, and expects no I/O error
# and no mismatch.

TEST_TIMEOUT=300

# fio's region: blocks 0..BUSY_BLOCKS-1 of 4 KiB (the remap block size).
# Few blocks, so that every block always has I/O queued or in flight and
# each remap's busy window (drain, copy, commit) is hit by some of it.
BUSY_BLOCKS=4

# busy_fio DEV RW OUT: verified fio on the region of DEV for 10 s, in the
# background (pid in FIO_PID).  serialize_overlap keeps fio from racing its
# own I/O to one block, so a mismatch can only come from the target.
busy_fio() {
	fio --name=busy --filename="$1" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw="$2" --bs=4k --size=$((BUSY_BLOCKS * 4096)) --time_based --runtime=10 \
		--verify=crc32c --verify_fatal=1 --verify_backlog=16 --serialize_overlap=1 \
		--output="$3" &
	FIO_PID=$!
}

stop_fio() {
	kill "$FIO_PID" 2>/dev/null || true
	wait "$FIO_PID" 2>/dev/null || true
}

# busy_fio_done OUT: wait for fio; it must have succeeded with no I/O error
# and no mismatch, and read data back.
busy_fio_done() {
	local rc=0
	wait "$FIO_PID" || rc=$?
	fio_verified "$1"
	[ $rc -eq 0 ] || { cat "$1"; fail "fio exited with status $rc"; }
	grep -E "err=|READ:|WRITE:" "$1"
}

# busy_remap_loop DEV SKIP...: while fio runs, remap random blocks of the
# region by message (not the blocks SKIP); prints how many were remapped.
busy_remap_loop() {
	local dev=$1 n=0 b
	shift
	local skip=" $* "
	while kill -0 "$FIO_PID" 2>/dev/null; do
		b=$((RANDOM % BUSY_BLOCKS))
		case $skip in *" $b "*) continue ;; esac
		if ! dmsetup message "$dev" 0 remap $b >&2; then
			stop_fio
			fail "remap $b failed"
		fi
		n=$((n + 1))
	done
	echo $n
}

# busy_setup NAME MAIN: NAME is a remap target with 4 KiB blocks over MAIN
# with ram1 (wiped) as its spare.
busy_setup() {
	brd_wipe /dev/ram1
	dm_create "$1" "$(remap_table "$2" /dev/ram1 2 block_size 4096)"
}

# The same blocks are remapped again and again (a remapped block is copied
# from its spare to a new one) while fio reads and writes them.
test_remap_messages_under_verified_fio_fail_no_io() {
	brd_wipe /dev/ram0
	busy_setup bz1 /dev/ram0
	busy_fio /dev/mapper/bz1 randrw /tmp/fio.bz1
	local n
	n=$(busy_remap_loop bz1)
	busy_fio_done /tmp/fio.bz1
	echo "$n remaps while fio ran"
	[ "$n" -ge 10 ] || fail "only $n remaps while fio ran"
	assert_eq ok "$(status_field bz1 2)" "mode"
	assert_eq 0 "$(status_field bz1 4)" "pending"
	local remapped
	remapped=$(status_field bz1 3 | cut -d/ -f1)
	[ "$remapped" -le $BUSY_BLOCKS ] || fail "$remapped blocks remapped, region has $BUSY_BLOCKS"
	# Every remap of a remapped block retired its old spare.
	assert_eq $((n - remapped)) "$(status_field bz1 5)" "bad spares"
	# Nothing is left held: a suspend would wait for it forever.
	timeout 60 dmsetup suspend bz1 || fail "suspend did not finish"
	dmsetup resume bz1
	# Held bios are accounted once: nothing is left "in flight" (a bio
	# accounted twice, at map and at its later submission, leaks a count).
	assert_eq "0 0" "$(xargs <"/sys/block/$(dm_sysname bz1)/inflight")" "in-flight I/O of the idle device"
}

# Write errors remap blocks of the region (dm-dust: each bad block fails
# the write and the target's retry) while fio writes and verifies, and the
# region's good blocks are remapped by message meanwhile.  fio does not
# read at random here: a read of a dust bad block not written yet fails
# for real.
test_write_error_remaps_under_verified_fio_fail_no_io() {
	BUSY_BLOCKS=8
	brd_wipe /dev/ram0
	dmsetup create bzdust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup mknodes bzdust
	busy_setup bz2 /dev/mapper/bzdust
	local bad="1 3 5 7" b n
	for b in $bad; do
		dmsetup message bzdust 0 addbadblock $b 2
	done
	dmsetup message bzdust 0 enable
	busy_fio /dev/mapper/bz2 randwrite /tmp/fio.bz2
	n=$(busy_remap_loop bz2 $bad)
	busy_fio_done /tmp/fio.bz2
	echo "$n remaps by message while fio ran"
	assert_eq 4 "$(status_field bz2 7)" "write errors"
	local list
	list=$(remap_list bz2)
	for b in $bad; do
		echo "$list" | grep -q "^R $b " || fail "bad block $b not remapped: $list"
	done
	assert_eq 0 "$(status_field bz2 4)" "pending"
	timeout 60 dmsetup suspend bz2 || fail "suspend did not finish"
	dmsetup resume bz2
	dmsetup remove bz2
	dmsetup remove bzdust
}

# Suspends and resumes while blocks are remapped under fio: held I/O is
# released for the suspend to finish, and the I/O that waited through a
# suspend still succeeds.
test_suspend_while_remapping_under_verified_fio() {
	brd_wipe /dev/ram0
	rm -f /tmp/bz3.err
	busy_setup bz3 /dev/ram0
	busy_fio /dev/mapper/bz3 randrw /tmp/fio.bz3
	(
		while kill -0 "$FIO_PID" 2>/dev/null; do
			sleep 0.$((RANDOM % 5))
			timeout 60 dmsetup suspend bz3 || { echo "suspend did not finish" >/tmp/bz3.err; break; }
			dmsetup resume bz3
		done
	) &
	local cycler=$! n
	n=$(busy_remap_loop bz3)
	wait $cycler
	[ ! -e /tmp/bz3.err ] || { stop_fio; fail "$(cat /tmp/bz3.err)"; }
	busy_fio_done /tmp/fio.bz3
	echo "$n remaps while fio ran"
	[ "$n" -ge 1 ] || fail "no remap while fio ran"
	assert_eq ok "$(status_field bz3 2)" "mode"
	assert_eq "0 0" "$(xargs <"/sys/block/$(dm_sysname bz3)/inflight")" "in-flight I/O of the idle device"
}
