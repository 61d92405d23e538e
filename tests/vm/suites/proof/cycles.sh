# Lifecycle under load: suspend/resume/reload cycles while fio verifies
# (DMREMAP_CYCLES, default 100),
# table swaps that grow the spare, and 50 devices created and removed (the
# runner's kmemleak scan at the end of the suite must stay clean).

CYCLES=${DMREMAP_CYCLES:-100}
TEST_TIMEOUT=1800

test_suspend_resume_reload_cycles_under_fio_verify() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create cdust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup mknodes cdust
	local b
	for b in 7 300 1500 6000 12000; do dmsetup message cdust 0 addbadblock $b 255; done
	dmsetup message cdust 0 enable
	dm_create cyc "$(remap_table /dev/mapper/cdust /dev/ram1 2 block_size 4096)"
	local table i
	table=$(dmsetup table cyc)
	fio --name=cyc --filename=/dev/mapper/cyc --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bs=4k --size=60M --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--loops=1000 --time_based --runtime=600 --output=/tmp/fio.out &
	local pid=$! cycles=0
	for i in $(seq 1 "$CYCLES"); do
		dmsetup suspend cyc
		dmsetup resume cyc
		dmsetup reload cyc --table "$table"
		dmsetup suspend cyc
		dmsetup resume cyc
		cycles=$((cycles + 1))
		kill -0 $pid 2>/dev/null || break
	done
	# Stop the writes; fio then verifies what it wrote (SIGINT makes its
	# exit status non-zero, so judge by its report).
	kill -INT $pid 2>/dev/null
	wait $pid || true
	fio_verified /tmp/fio.out
	assert_eq "$CYCLES" "$cycles" "cycles run with fio alive"
	echo "$cycles suspend/resume/reload cycles under fio verify"
	assert_eq "R 7 R 300 R 1500 R 6000 R 12000" "$(dmsetup message cyc 0 list | sort -k2 -n | awk '{print $1, $2}' | xargs)" "remaps"
}

test_table_swaps_that_grow_the_spare_keep_everything() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dm_create grow "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/ram1 0 8192 2 block_size 4096"
	pattern_file /tmp/p 4096 71
	dd if=/tmp/p of=/dev/mapper/grow bs=1M oflag=direct status=none
	local total0 len
	total0=$(status_field grow 3 | cut -d/ -f2)
	dmsetup message grow 0 remap 0 $((total0 - 1))
	for len in 16384 32768 65536; do
		dmsetup reload grow --table "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/ram1 0 $len 2 block_size 4096"
		dmsetup suspend grow
		dmsetup resume grow
		assert_eq "$((total0 - 1))" "$(status_field grow 3 | cut -d/ -f1)" "remaps kept at spare_len $len"
		dd if=/dev/mapper/grow bs=1M count=4 iflag=direct status=none | cmp - /tmp/p
	done
	local total
	total=$(status_field grow 3 | cut -d/ -f2)
	[ "$total" -gt "$total0" ] || fail "spare did not grow: $total0 -> $total"
	# The new spare blocks are usable.
	dmsetup message grow 0 remap 2000 10
	assert_eq "$((total0 + 9))" "$(status_field grow 3 | cut -d/ -f1)" "remaps after growing"
	dd if=/dev/mapper/grow bs=1M count=4 iflag=direct status=none | cmp - /tmp/p
	# Shrinking is refused and the live table stays.
	! dmsetup reload grow --table "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/ram1 0 8192 2 block_size 4096" 2>/dev/null ||
		fail "shrinking the spare was accepted"
}

test_50_devices_created_and_removed() {
	local i
	for i in $(seq 1 50); do
		spare_wipe /dev/ram1
		dm_create "loop$i" "$(remap_table /dev/ram0 /dev/ram1)"
		dmsetup message "loop$i" 0 remap $i
		dmsetup remove "loop$i"
	done
	echo "50 devices created and removed"
	assert_eq "" "$(dmsetup ls | grep loop || true)" "all removed"
}
