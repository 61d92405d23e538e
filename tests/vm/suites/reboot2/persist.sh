# Boot 2 of the reboot story: a fresh kernel finds the remaps, the pending
# block and the data of boot 1 (tests/vm/suites/reboot1) on the same disk.

test_boot2_finds_the_remaps_the_pending_block_and_the_data() {
	# The bad sectors are still bad after the reboot.
	persist_main 100:w 2000:w 3000
	dm_create story "$(persist_table)"
	assert_eq "R 100 0 R 2000 1 P 3000" "$(dmsetup message story 0 list | sort -k2 -n | xargs)" "list after reboot"
	# Counters since load: no new errors; the generation grew.
	assert_eq "2 1 0 0 0" "$(status_field story 3 | cut -d/ -f1) $(status_field story 4) $(status_field story 5) $(status_field story 6) $(status_field story 7)" "counters"
	local before
	before=$(dd if=/dev/vdb bs=512 skip=163840 count=1 status=none | tr -dc 0-9)
	[ "$(status_field story 8)" -gt "$before" ] || fail "generation $(status_field story 8) not above boot 1's $before"
	# Every readable block reads back byte for byte; the remapped ones come
	# from the spare (dust fails them on main).
	pattern_file /tmp/p 4096 61
	pattern_file /tmp/q 1 62
	head -c 512 /tmp/q | dd of=/tmp/p bs=512 seek=100 conv=notrunc status=none
	tail -c 512 /tmp/q | dd of=/tmp/p bs=512 seek=2000 conv=notrunc status=none
	dd if=/dev/mapper/story bs=512 count=3000 iflag=direct status=none | cmp - <(head -c $((3000 * 512)) /tmp/p)
	dd if=/dev/mapper/story bs=512 skip=3001 count=$((8192 - 3001)) iflag=direct status=none |
		cmp - <(tail -c +$((3001 * 512 + 1)) /tmp/p)
	# The pending block still fails honestly, until it is written.
	! blk_read /dev/mapper/story 3000 512 >/dev/null 2>&1 || fail "pending block read"
	head -c 512 /dev/urandom >/tmp/n
	blk_write /dev/mapper/story 3000 512 </tmp/n || fail "write to the pending block failed"
	blk_read /dev/mapper/story 3000 512 | cmp - /tmp/n
	assert_eq "3 0" "$(status_field story 3 | cut -d/ -f1) $(status_field story 4)" "remapped, pending"
}
