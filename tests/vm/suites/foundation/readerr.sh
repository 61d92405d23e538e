# Read errors: an unreadable block returns EIO and becomes pending; the next
# write remaps it; a weak block (readable only on retry) is rescued.  Never
# stale or unwritten spare data.

# dust_remap NAME [FEATURES...]: remap over dust(ram0) with a blank ram1
# spare; ram0 holds 1 MiB of pattern /tmp/p (seed 31) at its start.
dust_remap() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	pattern_file /tmp/p 1024 31
	dd if=/tmp/p of=/dev/ram0 bs=64k oflag=direct status=none
	dmsetup create dusty --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 512"
	dmsetup mknodes dusty
	local name=$1
	shift
	dm_create "$name" "$(remap_table /dev/mapper/dusty /dev/ram1 "$@")"
}

# weak_nullb NAME: a 64 MiB memory-backed null_blk whose bad sectors fail
# only their first I/O (badblocks_once), with 1 MiB of /tmp/p written.
weak_nullb() {
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d"
	echo 64 >"$d/size"
	echo 1 >"$d/memory_backed"
	echo 512 >"$d/blocksize"
	echo 1 >"$d/badblocks_once"
	echo 1 >"$d/power"
	pattern_file /tmp/p 1024 32
	dd if=/tmp/p of="/dev/$1" bs=64k oflag=direct status=none
}

# status_counts NAME: "remapped pending bad_spares read_errors write_errors"
status_counts() {
	echo "$(status_field "$1" 3 | cut -d/ -f1) $(status_field "$1" 4) $(status_field "$1" 5) $(status_field "$1" 6) $(status_field "$1" 7)"
}

test_unreadable_block_fails_with_eio_and_becomes_pending() {
	dust_remap r1
	dmsetup message dusty 0 addbadblock 40
	dmsetup message dusty 0 enable
	mark
	if blk_read /dev/mapper/r1 40 512 >/tmp/r 2>/dev/null; then
		fail "read of an unreadable block succeeded"
	fi
	assert_eq "P 40" "$(dmsetup message r1 0 list)" "list"
	assert_eq "0 1 0 1 0" "$(status_counts r1)" "remapped pending bad read write"
	assert_eq degraded "$(status_field r1 2)" "mode"
	since_mark | grep -q "read of block 40 failed after 2 retries: pending until rewritten" ||
		fail "no kernel message for the read error"
	# The neighbours are untouched, and a second read fails again.
	blk_read /dev/mapper/r1 41 512 | cmp - <(dd if=/tmp/p bs=512 skip=41 count=1 status=none)
	! blk_read /dev/mapper/r1 40 512 >/dev/null 2>&1 || fail "second read succeeded"
	assert_eq "0 1 0 2 0" "$(status_counts r1)" "counters after the second read"
}

test_write_to_a_pending_block_remaps_it_and_reads_back_the_new_data() {
	dust_remap r2
	dmsetup message dusty 0 addbadblock 40
	dmsetup message dusty 0 enable
	! blk_read /dev/mapper/r2 40 512 >/dev/null 2>&1 || fail "read succeeded"
	pattern_file /tmp/q 1 33
	head -c 512 /tmp/q | blk_write /dev/mapper/r2 40 512 || fail "write to the pending block failed"
	assert_eq "R 40 0" "$(dmsetup message r2 0 list)" "list"
	assert_eq "1 0 0 1 0" "$(status_counts r2)" "remapped pending bad read write"
	assert_eq ok "$(status_field r2 2)" "mode"
	# dust still fails block 40: the data must come from the spare.
	blk_read /dev/mapper/r2 40 512 | cmp - <(head -c 512 /tmp/q)
	head -c 512 /tmp/q | dd of=/tmp/p bs=512 seek=40 conv=notrunc status=none
	dd if=/dev/mapper/r2 bs=64k count=16 iflag=direct status=none | cmp - /tmp/p
	# And after a reload from the metadata.
	dmsetup remove r2
	dm_create r2 "$(remap_table /dev/mapper/dusty /dev/ram1)"
	dd if=/dev/mapper/r2 bs=64k count=16 iflag=direct status=none | cmp - /tmp/p
}

test_a_read_of_several_blocks_fails_only_for_the_bad_one() {
	dust_remap r3
	dmsetup message dusty 0 addbadblock 100
	dmsetup message dusty 0 enable
	! dd if=/dev/mapper/r3 of=/tmp/r bs=64k count=1 iflag=direct status=none 2>/dev/null ||
		fail "64 KiB read over a bad block succeeded"
	assert_eq "P 100" "$(dmsetup message r3 0 list)" "only the bad block is pending"
	assert_eq "0 1 0 1 0" "$(status_counts r3)" "counters"
}

test_read_retries_zero_marks_pending_at_once() {
	dust_remap r4 2 read_retries 0
	dmsetup message dusty 0 addbadblock 7
	dmsetup message dusty 0 enable
	mark
	! blk_read /dev/mapper/r4 7 512 >/dev/null 2>&1 || fail "read succeeded"
	assert_eq "P 7" "$(dmsetup message r4 0 list)" "list"
	since_mark | grep -q "read of block 7 failed after 0 retries" || fail "message"
}

test_weak_block_is_rescued_on_read_and_the_read_succeeds() {
	weak_nullb weak1
	spare_wipe /dev/ram1
	dm_create r5 "$(remap_table /dev/weak1 /dev/ram1)"
	echo "+96-96" >/sys/kernel/config/nullb/weak1/badblocks
	blk_read /dev/mapper/r5 96 512 >/tmp/r || fail "read of a weak block failed"
	cmp /tmp/r <(dd if=/tmp/p bs=512 skip=96 count=1 status=none)
	assert_eq "R 96 0" "$(dmsetup message r5 0 list)" "list"
	assert_eq "1 0 0 1 0" "$(status_counts r5)" "remapped pending bad read write"
	# Arm main's sector again: reads must now come from the spare and
	# leave it armed.
	echo "+96-96" >/sys/kernel/config/nullb/weak1/badblocks
	dd if=/dev/mapper/r5 bs=64k count=16 iflag=direct status=none | cmp - /tmp/p
	grep -q "96" /sys/kernel/config/nullb/weak1/badblocks || fail "main's block 96 was read after the rescue"
}

test_observe_only_counts_read_errors_and_marks_nothing() {
	dust_remap r6 1 no_auto_remap
	dmsetup message dusty 0 addbadblock 12
	dmsetup message dusty 0 enable
	! blk_read /dev/mapper/r6 12 512 >/dev/null 2>&1 || fail "read succeeded"
	assert_list_empty r6 "list"
	assert_eq "0 0 0 1 0" "$(status_counts r6)" "counters"
	assert_eq observe-only "$(status_field r6 2)" "mode"
}
