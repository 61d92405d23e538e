# Device lifecycle: create, table round-trip, status, deps, suspend/resume.

devnum() { echo "$(($(stat -L -c '0x%t' "$1"))):$(($(stat -L -c '0x%T' "$1")))"; }

test_table_is_canonical_and_round_trips() {
	local ram=$(devnum /dev/ram0)
	dm_create t1 "0 4096 remap /dev/ram0 2048"
	assert_eq "0 4096 remap $ram 2048" "$(dmsetup table t1)" "table"
	# Feed the printed table back in: the result must be identical.
	dm_create t2 "$(dmsetup table t1)"
	assert_eq "$(dmsetup table t1)" "$(dmsetup table t2)" "round trip"
}

test_status_has_version() {
	dm_create s1 "0 4096 remap /dev/ram0 0"
	assert_eq "0 4096 remap $(cat /etc/dm-remap-version) passthrough" "$(dmsetup status s1)" "status"
	dmsetup targets | grep -E '^remap +v0\.1\.0$' || fail "dmsetup targets: $(dmsetup targets)"
}

test_deps_lists_main_device() {
	dm_create d1 "0 4096 remap /dev/ram2 0"
	local ram=$(devnum /dev/ram2)
	assert_eq "1 dependencies	: (${ram%%:*}, ${ram#*:})" "$(dmsetup deps d1)" "deps"
	local dm=$(dm_sysname d1)
	assert_eq "ram2" "$(ls /sys/block/$dm/slaves)" "sysfs slaves"
}

test_suspend_resume_keeps_data() {
	brd_wipe /dev/ram0
	dm_create sr "0 8192 remap /dev/ram0 0"
	pattern_file /tmp/p 1024 7
	dd if=/tmp/p of=/dev/mapper/sr bs=64k oflag=direct status=none
	dmsetup suspend sr
	dmsetup info sr | grep -q 'State: *SUSPENDED' || fail "not suspended"
	dmsetup resume sr
	dmsetup info sr | grep -q 'State: *ACTIVE' || fail "not active"
	dd if=/dev/mapper/sr of=/tmp/r bs=64k count=16 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_reload_table_swap() {
	brd_wipe /dev/ram0
	brd_wipe /dev/ram1
	echo -n "on-ram0" | dd of=/dev/ram0 bs=512 seek=100 conv=notrunc status=none
	echo -n "on-ram1" | dd of=/dev/ram1 bs=512 seek=100 conv=notrunc status=none
	dm_create sw "0 4096 remap /dev/ram0 0"
	assert_eq "on-ram0" "$(dd if=/dev/mapper/sw bs=512 skip=100 count=1 iflag=direct status=none | tr -d '\0')" "before swap"
	dmsetup load sw --table "0 4096 remap /dev/ram1 0"
	dmsetup suspend sw
	dmsetup resume sw
	assert_eq "on-ram1" "$(dd if=/dev/mapper/sw bs=512 skip=100 count=1 iflag=direct status=none | tr -d '\0')" "after swap"
}

test_offset_maps_to_right_sectors() {
	brd_wipe /dev/ram3
	dm_create off "0 2048 remap /dev/ram3 10240"
	pattern_file /tmp/p 1024 11
	dd if=/tmp/p of=/dev/mapper/off bs=4k oflag=direct status=none
	# The same bytes must sit at sector 10240 of the raw device, nothing before.
	dd if=/dev/ram3 of=/tmp/r bs=512 skip=10240 count=2048 status=none
	cmp /tmp/p /tmp/r
	assert_eq 0 "$(dd if=/dev/ram3 bs=512 count=10240 status=none | tr -d '\0' | wc -c)" "bytes before offset"
}

test_remove_twice_fails_cleanly() {
	dm_create rm1 "0 2048 remap /dev/ram0 0"
	dmsetup remove rm1
	if dmsetup remove rm1 2>/dev/null; then fail "second remove succeeded"; fi
	return 0
}
