# Boot 1 of the reboot story (tests/vm/suites/reboot2 is boot 2, on the same
# disk file): remaps and a pending block are created, then the VM powers off.

test_boot1_remaps_and_a_pending_block_before_the_reboot() {
	dd if=/dev/zero of=/dev/vdb bs=512 seek=131072 count=2048 oflag=direct status=none
	persist_main
	dm_create story "$(persist_table)"
	pattern_file /tmp/p 4096 61
	dd if=/tmp/p of=/dev/mapper/story bs=1M oflag=direct status=none
	# The disk starts failing: writes of blocks 100 and 2000, reads of 3000.
	dmsetup message pdust 0 addbadblock 100 255
	dmsetup message pdust 0 addbadblock 2000 255
	dmsetup message pdust 0 addbadblock 3000
	dmsetup message pdust 0 enable
	pattern_file /tmp/q 1 62
	head -c 512 /tmp/q | blk_write /dev/mapper/story 100 512 || fail "write to block 100 failed"
	tail -c 512 /tmp/q | blk_write /dev/mapper/story 2000 512 || fail "write to block 2000 failed"
	! blk_read /dev/mapper/story 3000 512 >/dev/null 2>&1 || fail "read of block 3000 succeeded"
	assert_eq "R 100 0 R 2000 1 P 3000" "$(dmsetup message story 0 list | sort -k2 -n | xargs)" "list"
	# remapped pending bad_spares read_errors write_errors
	assert_eq "2 1 0 1 2" "$(status_field story 3 | cut -d/ -f1) $(status_field story 4) $(status_field story 5) $(status_field story 6) $(status_field story 7)" "counters"
	# Remember the generation past the end of the spare region.
	status_field story 8 | dd of=/dev/vdb bs=512 seek=163840 conv=sync status=none
	dmsetup remove story
	dmsetup remove pdust
	sync
}
