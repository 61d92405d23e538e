# Remapping by message, persistence of remaps, messages and their errors.

setup_r() { # setup_r NAME [FEATURES...]: remap over ram0 with ram1 as spare
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	local name=$1
	shift
	dm_create "$name" "$(remap_table /dev/ram0 /dev/ram1 "$@")"
}

test_message_remap_counts_and_lists_exactly() {
	setup_r m1
	local total
	total=$(formatted_spare_blocks)
	dmsetup message m1 0 remap 0
	dmsetup message m1 0 remap 77
	dmsetup message m1 0 remap 131071
	assert_eq "3/$total" "$(status_field m1 3)" "remapped/spare"
	assert_eq "R 0 0 R 77 1 R 131071 2" "$(dmsetup message m1 0 list | sort -n -k2 | xargs)" "list"
	assert_eq ok "$(status_field m1 2)" "mode"
	assert_eq 0 "$(status_field m1 4)" "pending"
}

test_remapped_block_reads_and_writes_the_spare() {
	setup_r m2
	pattern_file /tmp/p 64 1
	dd if=/tmp/p of=/dev/mapper/m2 bs=64k oflag=direct status=none
	dmsetup message m2 0 remap 9
	# The copy carried the data over.
	cmp <(blk_read /dev/mapper/m2 9 512) <(dd if=/tmp/p bs=512 skip=9 count=1 status=none)
	# New data goes to the spare; main keeps the old block.
	pattern_file /tmp/q 1 2
	dd if=/tmp/q bs=512 count=1 status=none | blk_write /dev/mapper/m2 9 512
	cmp <(blk_read /dev/mapper/m2 9 512) <(dd if=/tmp/q bs=512 count=1 status=none)
	cmp <(blk_read /dev/ram0 9 512) <(dd if=/tmp/p bs=512 skip=9 count=1 status=none)
	# Neighbours are untouched.
	cmp <(dd if=/dev/mapper/m2 bs=512 skip=10 count=100 iflag=direct status=none) <(dd if=/tmp/p bs=512 skip=10 count=100 status=none)
}

test_remaps_survive_remove_rmmod_and_recreate() {
	setup_r m3
	pattern_file /tmp/p 2048 3
	dd if=/tmp/p of=/dev/mapper/m3 bs=1M oflag=direct status=none
	dmsetup message m3 0 remap 12
	dmsetup message m3 0 remap 2000
	pattern_file /tmp/q 1 4
	dd if=/tmp/q bs=512 count=1 status=none | blk_write /dev/mapper/m3 12 512
	dd if=/tmp/q of=/tmp/p bs=512 seek=12 count=1 conv=notrunc status=none
	local gen
	gen=$(status_field m3 8)
	dmsetup remove m3
	rmmod dm_remap
	modprobe dm_remap
	dm_create m3 "$(remap_table /dev/ram0 /dev/ram1)"
	assert_eq "R 12 0 R 2000 1" "$(dmsetup message m3 0 list | sort -n -k2 | xargs)" "remaps restored"
	assert_eq "2/$(status_field m3 3 | cut -d/ -f2)" "$(status_field m3 3)" "remapped count"
	[ "$(status_field m3 8)" -gt "$gen" ] || fail "generation did not grow: $gen -> $(status_field m3 8)"
	dd if=/dev/mapper/m3 of=/tmp/r bs=1M count=2 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_remap_while_fio_verifies() {
	setup_r m4
	fio --name=bg --filename=/dev/mapper/m4 --direct=1 --rw=randwrite --bs=4k --size=8M \
		--verify=crc32c --verify_fatal=1 --numjobs=1 --iodepth=1 --output=/tmp/fio.out &
	local pid=$! b
	for b in 8 16 24 800 1600 3200 6400 9000 12000 15000; do
		dmsetup message m4 0 remap $b
	done
	wait $pid || { cat /tmp/fio.out; fail "fio failed"; }
	grep -q 'err= 0' /tmp/fio.out || fail "fio errors"
	assert_eq 10 "$(dmsetup message m4 0 list | grep -c '^R ')" "remaps"
}

test_message_remap_of_unreadable_block_fails_cleanly() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create dusty --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 512"
	dmsetup message dusty 0 addbadblock 30
	dmsetup message dusty 0 enable
	dm_create m5 "0 $(sectors /dev/ram0) remap /dev/mapper/dusty 0 /dev/ram1 0 $(sectors /dev/ram1)"
	mark
	local out
	if out=$(dmsetup message m5 0 remap 30 2>&1); then fail "remap of unreadable block succeeded"; fi
	echo "$out" | grep -q "Input/output error" || fail "not EIO: $out"
	since_mark | grep -F "remap 30: its data cannot be read; pending until rewritten" || fail "no message"
	# Nothing was copied; the block waits for a write, which remaps it.
	assert_eq "P 30" "$(dmsetup message m5 0 list)" "pending"
	assert_eq "0 1" "$(status_field m5 3 | cut -d/ -f1) $(status_field m5 4)" "remapped, pending"
	head -c 512 /dev/urandom >/tmp/q
	blk_write /dev/mapper/m5 30 512 </tmp/q || fail "write to the pending block failed"
	assert_eq "R 30 0" "$(dmsetup message m5 0 list)" "remapped by the write"
	blk_read /dev/mapper/m5 30 512 | cmp - /tmp/q
}

test_observe_only_refuses_remaps() {
	! lsmod | grep -q '^dm_remap' || rmmod dm_remap
	modprobe dm_remap real_device_mode=0
	setup_r m6
	assert_eq observe-only "$(status_field m6 2)" "mode"
	mark
	if dmsetup message m6 0 remap 1 2>/dev/null; then fail "remap accepted in observe-only mode"; fi
	since_mark | grep -F "message: remap 1:" || fail "no message"
	dmsetup remove m6
	rmmod dm_remap
}

test_no_auto_remap_feature_is_observe_only() {
	setup_r m7 1 no_auto_remap
	assert_eq observe-only "$(status_field m7 2)" "mode"
}

test_message_help_and_commit() {
	setup_r m8
	local help
	help=$(dmsetup message m8 0 help)
	local c
	for c in "help " "list " "remap <block> \[<n>\]" "commit " "reset_stats " "scan start " "scan stop "; do
		echo "$help" | grep -q "^  $c" || fail "help lacks '$c': $help"
	done
	dmsetup message m8 0 commit
	dmsetup message m8 0 reset_stats
	assert_eq "0 0" "$(status_field m8 6) $(status_field m8 7)" "error counters"
}

test_bad_messages_are_refused() {
	setup_r m9
	expect_bad_message m9 "frobnicate" "unknown command 'frobnicate'"
	expect_bad_message m9 "remap" "'remap' takes a block number and an optional count"
	expect_bad_message m9 "remap 1 2 3" "'remap' takes a block number and an optional count"
	expect_bad_message m9 "remap 1 0" "'remap': count is not a positive decimal number"
	expect_bad_message m9 "remap 1 x" "'remap': count is not a positive decimal number"
	expect_bad_message m9 "remap 131070 3" "'remap': blocks 131070+3 go beyond the last block 131071"
	expect_bad_message m9 "remap x" "'remap': block is not a decimal number"
	expect_bad_message m9 "remap +1" "'remap': block is not a decimal number"
	expect_bad_message m9 "remap 131072" "'remap': blocks 131072+1 go beyond the last block 131071"
	expect_bad_message m9 "list all" "'list' takes no arguments"
	expect_bad_message m9 "commit now" "'commit' takes no arguments"
	expect_bad_message m9 "help me" "'help' takes no arguments"
	expect_bad_message m9 "reset_stats 1" "'reset_stats' takes no arguments"
	assert_list_empty m9 "nothing remapped"
}

test_message_remap_of_a_range() {
	setup_r m11
	pattern_file /tmp/p 64 6
	dd if=/tmp/p of=/dev/mapper/m11 bs=64k oflag=direct status=none
	dmsetup message m11 0 remap 10 5
	assert_eq "R 10 0 R 11 1 R 12 2 R 13 3 R 14 4" "$(dmsetup message m11 0 list | sort -k2 -n | xargs)" "list"
	assert_eq 5 "$(status_field m11 3 | cut -d/ -f1)" "remapped"
	cmp <(dd if=/dev/mapper/m11 bs=64k count=1 iflag=direct status=none) /tmp/p
	dmsetup remove m11
	dm_create m11 "$(remap_table /dev/ram0 /dev/ram1)"
	assert_eq 5 "$(status_field m11 3 | cut -d/ -f1)" "remapped after reload"
}

test_remap_same_block_twice_moves_it() {
	setup_r m10
	pattern_file /tmp/p 64 5
	dd if=/tmp/p of=/dev/mapper/m10 bs=64k oflag=direct status=none
	dmsetup message m10 0 remap 4
	dmsetup message m10 0 remap 4
	assert_eq 1 "$(dmsetup message m10 0 list | grep -c '^R 4 ')" "one entry for block 4"
	cmp <(dd if=/dev/mapper/m10 bs=64k count=1 iflag=direct status=none) /tmp/p
}
