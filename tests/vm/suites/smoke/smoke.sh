# Smoke test for the other kernel lines: load with parameters, create, I/O,
# remove, unload.
test_smoke_load_create_io_remove() {
	# Another test may have autoloaded the module with default parameters.
	! lsmod | grep -q '^dm_remap' || rmmod dm_remap
	modprobe dm_remap dm_remap_debug=1 scan_interval_hours=48
	assert_eq 48 "$(cat /sys/module/dm_remap/parameters/scan_interval_hours)" "param"
	if modprobe -r dm_remap && modprobe dm_remap scan_interval_hours=0 2>/dev/null; then
		fail "out-of-range parameter accepted"
	fi
	modprobe dm_remap
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dm_create smoke "$(remap_table /dev/ram0 /dev/ram1)"
	assert_eq "$(cat /etc/dm-remap-version) ok" "$(dmsetup status smoke | cut -d' ' -f4,5)" "status"
	dmsetup message smoke 0 remap 7
	assert_eq "R 7 0" "$(dmsetup message smoke 0 list)" "remap list"
	pattern_file /tmp/p 4096 3
	dd if=/tmp/p of=/dev/mapper/smoke bs=64k oflag=direct status=none
	dd if=/dev/mapper/smoke of=/tmp/r bs=64k count=64 iflag=direct status=none
	cmp /tmp/p /tmp/r
	fio --name=v --filename=/dev/mapper/smoke --direct=1 --rw=randwrite --bs=4k --size=8M \
		--verify=crc32c --verify_fatal=1 --output=/tmp/fio.out
	grep -q 'err= 0' /tmp/fio.out || fail "fio failed"
	dmsetup remove smoke
	rmmod dm_remap
}

test_smoke_bad_table_refused() {
	mark
	if dmsetup create bad --table "0 2048 remap /dev/ram0 x /dev/ram1 0 2048" 2>/dev/null; then fail "accepted"; fi
	since_mark | grep -q "Invalid <main_offset>" || fail "no message"
}
