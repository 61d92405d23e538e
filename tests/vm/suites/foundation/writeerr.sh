# Automatic remapping of failed writes: the caller never sees the error,
# the data lands on a spare block, and the mapping is durable first.

dusty_remap() { # dusty_remap NAME [FEATURES...]: remap over dust(ram0) with ram1 spare
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create dusty --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 512"
	dmsetup mknodes dusty
	local name=$1
	shift
	dm_create "$name" "$(remap_table /dev/mapper/dusty /dev/ram1 "$@")"
}

events() { dmsetup info "$1" | sed -n 's/^Event number: *//p'; }

# holey_disk START LEN: /dev/mapper/holey is a blank ram0 whose sectors
# START..START+LEN-1 fail every read and write (the `error` target), with
# ram1 wiped as a blank spare.
holey_disk() {
	local start=$1 len=$2 n
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	n=$(sectors /dev/ram0)
	dmsetup create holey --table "0 $start linear /dev/ram0 0
$start $len error
$((start + len)) $((n - start - len)) linear /dev/ram0 $((start + len))"
	dmsetup mknodes holey
}

test_failed_write_is_remapped_and_succeeds() {
	dusty_remap w1
	pattern_file /tmp/p 256 21
	dd if=/tmp/p of=/dev/mapper/w1 bs=64k oflag=direct status=none
	dmsetup message dusty 0 addbadblock 40 255
	dmsetup message dusty 0 enable
	pattern_file /tmp/q 1 22
	dd if=/tmp/q bs=512 count=1 status=none | blk_write /dev/mapper/w1 40 512 || fail "write error reached the caller"
	assert_eq "R 40 0" "$(dmsetup message w1 0 list)" "list"
	assert_eq "1/$(formatted_spare_blocks)" "$(status_field w1 3)" "remapped/spare"
	assert_eq "0 1" "$(status_field w1 6) $(status_field w1 7)" "read/write errors"
	dd if=/tmp/q of=/tmp/p bs=512 seek=40 count=1 conv=notrunc status=none
	dd if=/dev/mapper/w1 of=/tmp/r bs=64k count=4 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_only_the_failing_block_of_a_large_write_is_remapped() {
	dusty_remap w2
	dmsetup message dusty 0 addbadblock 150 255
	dmsetup message dusty 0 enable
	pattern_file /tmp/p 1024 23
	dd if=/tmp/p of=/dev/mapper/w2 bs=64k oflag=direct status=none || fail "write failed"
	assert_eq "R 150 0" "$(dmsetup message w2 0 list)" "list"
	assert_eq 1 "$(status_field w2 7)" "write errors"
	dd if=/dev/mapper/w2 of=/tmp/r bs=64k count=16 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

test_persistent_write_errors_on_a_range_survive_recreate() {
	holey_disk 1000 24
	dm_create w3 "$(remap_table /dev/mapper/holey /dev/ram1)"
	pattern_file /tmp/p 1024 24
	dd if=/tmp/p of=/dev/mapper/w3 bs=64k oflag=direct status=none || fail "write failed"
	assert_eq 24 "$(dmsetup message w3 0 list | grep -c '^R ')" "remapped blocks"
	assert_eq "$(seq 1000 1023 | xargs)" "$(dmsetup message w3 0 list | awk '{print $2}' | sort -n | xargs)" "which blocks"
	dmsetup remove w3
	dm_create w3 "$(remap_table /dev/mapper/holey /dev/ram1)"
	dd if=/dev/mapper/w3 of=/tmp/r bs=64k count=16 iflag=direct status=none
	cmp /tmp/p /tmp/r
	dmsetup remove w3
	dmsetup remove holey
}

test_spare_exhaustion_passes_the_error_up_and_raises_events() {
	holey_disk 2048 8192
	dm_create w4 "0 $(sectors /dev/ram0) remap /dev/mapper/holey 0 /dev/ram1 0 2048 2 block_size 4096"
	local total ev
	total=$(formatted_spare_blocks)
	[ "$total" -lt 1024 ] || fail "spare too big for this test: $total"
	ev=$(events w4)
	# The error range has 1024 blocks of 4 KiB, more than the spare holds.
	if dd if=/dev/zero of=/dev/mapper/w4 bs=4k seek=512 count=1024 oflag=direct status=none 2>/dev/null; then
		fail "writes beyond the spare pool succeeded"
	fi
	assert_eq spare-exhausted "$(status_field w4 2)" "mode"
	assert_eq "$total/$total" "$(status_field w4 3)" "remapped/spare"
	[ "$(events w4)" -gt "$ev" ] || fail "no table event"
	dmesg | grep -q "spare pool exhausted" || fail "no exhaustion message"
	dmsetup remove w4
	dmsetup remove holey
}

test_failing_spare_block_is_retired_and_the_block_remapped_again() {
	command -v dm-remap >/dev/null || fail "needs the dm-remap CLI in the guest (DM_REMAP_GUEST_CLI)"
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create mdust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup create sdust --table "0 $(sectors /dev/ram1) dust /dev/ram1 0 4096"
	dmsetup mknodes
	dm_create sf "$(remap_table /dev/mapper/mdust /dev/mapper/sdust 2 block_size 4096)"
	dmsetup message mdust 0 addbadblock 10 255
	dmsetup message mdust 0 enable
	head -c 4096 /dev/urandom >/tmp/a
	blk_write /dev/mapper/sf 10 4096 </tmp/a || fail "first write failed"
	assert_eq "R 10 0" "$(dmsetup message sf 0 list)" "remapped to spare block 0"
	# Now spare block 0 fails too (found through the committed metadata).
	local s
	s=$(dm-remap dump --json /dev/mapper/sdust | grep -o '"spare_sector": *[0-9]*' | grep -o '[0-9]*$')
	[ -n "$s" ] || fail "no spare sector in the dump"
	dmsetup message sdust 0 addbadblock $((s / 8)) 255
	dmsetup message sdust 0 enable
	head -c 4096 /dev/urandom >/tmp/b
	blk_write /dev/mapper/sf 10 4096 </tmp/b || fail "write with a failing spare block reached the caller"
	assert_eq "R 10 1" "$(dmsetup message sf 0 list)" "remapped again to spare block 1"
	# remapped, bad spares, write errors (main once, spare once)
	assert_eq "1 1 2" "$(status_field sf 3 | cut -d/ -f1) $(status_field sf 5) $(status_field sf 7)" "counters"
	blk_read /dev/mapper/sf 10 4096 | cmp - /tmp/b
	# And after a reload the bad spare block stays retired.
	dmsetup remove sf
	dm_create sf "$(remap_table /dev/mapper/mdust /dev/mapper/sdust 2 block_size 4096)"
	assert_eq "1 1" "$(status_field sf 3 | cut -d/ -f1) $(status_field sf 5)" "after reload"
	blk_read /dev/mapper/sf 10 4096 | cmp - /tmp/b
}

test_observe_only_passes_write_errors_up() {
	! lsmod | grep -q '^dm_remap' || rmmod dm_remap
	modprobe dm_remap real_device_mode=0
	dusty_remap w5
	dmsetup message dusty 0 addbadblock 7 255
	dmsetup message dusty 0 enable
	if dd if=/dev/zero of=/dev/mapper/w5 bs=512 seek=7 count=1 oflag=direct status=none 2>/dev/null; then
		fail "write error hidden in observe-only mode"
	fi
	assert_list_empty w5 "nothing remapped"
	assert_eq 1 "$(status_field w5 7)" "write errors recorded"
	dmsetup remove w5
	dmsetup remove dusty
	rmmod dm_remap
}

test_fio_verify_two_jobs_over_bad_blocks() {
	dusty_remap w6
	# Bad blocks (512-byte blocks, both 8 MiB job regions) before the run: the
	# first write to each fails, is remapped, and the data is read back from
	# the spare during verification.  (Blocks that go bad *after* being
	# written fail reads honestly with EIO; that is the read-error path.)
	local b
	for b in 100 2000 4000 8000 12000 16000 20000 24000 28000 32000; do
		dmsetup message dusty 0 addbadblock $b 255
	done
	dmsetup message dusty 0 enable
	fio --name=v --filename=/dev/mapper/w6 --direct=1 --rw=randwrite --bs=4k --size=8M --offset_increment=8M \
		--numjobs=2 --iodepth=1 --verify=crc32c --verify_fatal=1 --group_reporting \
		--output=/tmp/fio.out || { cat /tmp/fio.out; fail "fio failed"; }
	grep -q 'err= 0' /tmp/fio.out || { cat /tmp/fio.out; fail "fio errors"; }
	assert_eq "100 2000 4000 8000 12000 16000 20000 24000 28000 32000" \
		"$(dmsetup message w6 0 list | awk '{print $2}' | sort -n | xargs)" "remapped blocks"
	assert_eq 10 "$(status_field w6 7)" "write errors"
}

test_fio_verify_while_writes_fail_intermittently() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	# dm-flakey: writes fail during every other second, reads always work.
	dmsetup create flaky --table "0 $(sectors /dev/ram0) flakey /dev/ram0 0 1 1 1 error_writes"
	dmsetup mknodes flaky
	dm_create w7 "$(remap_table /dev/mapper/flaky /dev/ram1 2 block_size 4096)"
	# Rate-limited so that the run spans several up and down intervals.
	fio --name=v --filename=/dev/mapper/w7 --direct=1 --rw=randwrite --bs=4k --size=8M --offset_increment=8M \
		--rate=2m --numjobs=2 --iodepth=1 --verify=crc32c --verify_fatal=1 --group_reporting \
		--output=/tmp/fio.out || { cat /tmp/fio.out; fail "fio failed"; }
	grep -q 'err= 0' /tmp/fio.out || { cat /tmp/fio.out; fail "fio errors"; }
	local remapped
	remapped=$(status_field w7 3 | cut -d/ -f1)
	echo "remapped during the run: $remapped"
	[ "$remapped" -gt 0 ] || fail "no write failed: the test did not test anything"
	assert_eq "$remapped" "$(dmsetup message w7 0 list | grep -c '^R ')" "list matches status"
	assert_eq "$remapped" "$(status_field w7 7)" "one write error per remapped block"
}
