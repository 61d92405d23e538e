# Device lifecycle: create, table round-trip, status, deps, suspend/resume.

devnum() { echo "$(($(stat -L -c '0x%t' "$1"))):$(($(stat -L -c '0x%T' "$1")))"; }

test_table_is_canonical_and_round_trips() {
	spare_wipe /dev/ram1
	local ram0=$(devnum /dev/ram0) ram1=$(devnum /dev/ram1)
	dm_create t1 "0 4096 remap /dev/ram0 2048 /dev/ram1 0 8192 4 read_retries 3 block_size 4096"
	local line="0 4096 remap $ram0 2048 $ram1 0 8192 4 block_size 4096 read_retries 3"
	assert_eq "$line" "$(dmsetup table t1)" "table"
	dmsetup remove t1
	# Feed the printed table back in: the result must be identical.
	dm_create t2 "$line"
	assert_eq "$line" "$(dmsetup table t2)" "round trip"
}

test_status_fields_of_a_fresh_device() {
	spare_wipe /dev/ram1
	dm_create s1 "0 4096 remap /dev/ram0 0 /dev/ram1 0 8192"
	local total
	total=$(formatted_spare_blocks)
	[ -n "$total" ] && [ "$total" -gt 0 ] || fail "no format message"
	# <version> <mode> <remapped>/<spare> <pending> <bad> <rerr> <werr> <gen> <cursor>/<blocks> <scan>
	local st
	st=$(dmsetup status s1)
	echo "$st" | grep -Eq "^0 4096 remap $(cat /etc/dm-remap-version) ok 0/$total 0 0 0 0 [0-9]+ 0/4096 idle\$" ||
		fail "status: $st"
	dmsetup targets | grep -E "^remap +v$(cat /etc/dm-remap-version)\$" || fail "dmsetup targets: $(dmsetup targets)"
}

test_deps_lists_both_devices() {
	spare_wipe /dev/ram3
	dm_create d1 "0 4096 remap /dev/ram2 0 /dev/ram3 0 8192"
	local r2=$(devnum /dev/ram2) r3=$(devnum /dev/ram3)
	dmsetup deps d1
	dmsetup deps d1 | grep -q "^2 dependencies" || fail "deps count"
	dmsetup deps d1 | grep -qF "(${r2%%:*}, ${r2#*:})" || fail "main missing"
	dmsetup deps d1 | grep -qF "(${r3%%:*}, ${r3#*:})" || fail "spare missing"
	assert_eq "ram2 ram3" "$(ls /sys/block/$(dm_sysname d1)/slaves | xargs)" "sysfs slaves"
}

test_suspend_resume_keeps_data_and_remaps() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dm_create sr "0 8192 remap /dev/ram0 0 /dev/ram1 0 8192"
	pattern_file /tmp/p 1024 7
	dd if=/tmp/p of=/dev/mapper/sr bs=64k oflag=direct status=none
	dmsetup message sr 0 remap 10
	dmsetup suspend sr
	dmsetup info sr | grep -q 'State: *SUSPENDED' || fail "not suspended"
	dmsetup resume sr
	dmsetup info sr | grep -q 'State: *ACTIVE' || fail "not active"
	dd if=/dev/mapper/sr of=/tmp/r bs=64k count=16 iflag=direct status=none
	cmp /tmp/p /tmp/r
	assert_eq "R 10 0" "$(dmsetup message sr 0 list)" "remaps after resume"
}

test_reload_same_devices_keeps_remaps() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	local t="0 8192 remap /dev/ram0 0 /dev/ram1 0 8192"
	dm_create rl "$t"
	pattern_file /tmp/p 4096 8
	dd if=/tmp/p of=/dev/mapper/rl bs=1M oflag=direct status=none
	dmsetup message rl 0 remap 3
	dmsetup message rl 0 remap 4000
	dmsetup load rl --table "$t"
	dmsetup suspend rl
	dmsetup resume rl
	assert_eq "R 3 0 R 4000 1" "$(dmsetup message rl 0 list | sort -n -k2 | xargs)" "remaps after reload"
	dd if=/dev/mapper/rl of=/tmp/r bs=1M count=4 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_offsets_map_to_right_sectors() {
	brd_wipe /dev/ram3
	spare_wipe /dev/ram2
	dm_create off "0 2048 remap /dev/ram3 10240 /dev/ram2 4096 8192"
	pattern_file /tmp/p 1024 11
	dd if=/tmp/p of=/dev/mapper/off bs=4k oflag=direct status=none
	# The same bytes must sit at sector 10240 of the raw device, nothing before.
	dd if=/dev/ram3 of=/tmp/r bs=512 skip=10240 count=2048 status=none
	cmp /tmp/p /tmp/r
	assert_eq 0 "$(dd if=/dev/ram3 bs=512 count=10240 status=none | tr -d '\0' | wc -c)" "bytes before offset"
	# The metadata lives inside the spare region only.
	assert_eq 0 "$(dd if=/dev/ram2 bs=512 count=4096 status=none | tr -d '\0' | wc -c)" "spare bytes before spare_offset"
}

test_spare_region_on_the_main_disk() {
	brd_wipe /dev/ram0
	# Map the first 48 MiB, keep the last 16 MiB of the same disk as spare.
	dm_create same "0 98304 remap /dev/ram0 0 /dev/ram0 98304 32768"
	pattern_file /tmp/p 2048 12
	dd if=/tmp/p of=/dev/mapper/same bs=1M oflag=direct status=none
	dmsetup message same 0 remap 1
	dd if=/dev/mapper/same of=/tmp/r bs=1M count=2 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_remove_twice_fails_cleanly() {
	spare_wipe /dev/ram1
	dm_create rm1 "0 2048 remap /dev/ram0 0 /dev/ram1 0 4096"
	dmsetup remove rm1
	if dmsetup remove rm1 2>/dev/null; then fail "second remove succeeded"; fi
	return 0
}
