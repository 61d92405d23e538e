# A filesystem on a failing disk, suspend/resume/reload under load, and the
# live module parameters.

# fail_disk NAME [FEATURES...]: remap over dust(ram0), blank ram1 spare.
fail_disk() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create ldust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup mknodes ldust
	local name=$1
	shift
	dm_create "$name" "$(remap_table /dev/mapper/ldust /dev/ram1 "$@")"
}

test_ext4_on_a_disk_with_bad_blocks_copies_and_checks_clean() {
	fail_disk fs1 2 block_size 4096
	# Blocks that fail writes (wr_fail_cnt): in the inode tables, the
	# journal and the data area.
	local b
	for b in 5 40 300 1030 2047 4000 9000 15000; do
		dmsetup message ldust 0 addbadblock $b 255
	done
	dmsetup message ldust 0 enable
	mkfs.ext4 -q -F -b 4096 /dev/mapper/fs1 || fail "mkfs failed"
	mkdir -p /mnt/fs1
	mount -t ext4 /dev/mapper/fs1 /mnt/fs1
	pattern_file /tmp/big 8192 51
	cp /tmp/big /mnt/fs1/big
	cp /bin/bash /mnt/fs1/bash
	umount /mnt/fs1
	e2fsck -f -n /dev/mapper/fs1 || fail "fsck found errors"
	mount -t ext4 -o ro /dev/mapper/fs1 /mnt/fs1
	cmp /tmp/big /mnt/fs1/big
	cmp /bin/bash /mnt/fs1/bash
	umount /mnt/fs1
	local remapped
	remapped=$(status_field fs1 3 | cut -d/ -f1)
	[ "$remapped" -ge 1 ] && [ "$remapped" -le 8 ] || fail "remapped $remapped of 8 bad blocks: $(dmsetup status fs1)"
	assert_eq 0 "$(status_field fs1 4)" "no pending block"
	# The same after a reload from the metadata.
	dmsetup remove fs1
	dm_create fs1 "$(remap_table /dev/mapper/ldust /dev/ram1 2 block_size 4096)"
	e2fsck -f -n /dev/mapper/fs1 || fail "fsck after reload found errors"
}

test_suspend_resume_and_reload_under_fio_verify_lose_nothing() {
	fail_disk sr1 2 block_size 4096
	dmsetup message ldust 0 addbadblock 500 255
	dmsetup message ldust 0 addbadblock 12000 255
	dmsetup message ldust 0 enable
	local table i
	table=$(dmsetup table sr1)
	fio --name=sr --filename=/dev/mapper/sr1 --direct=1 --ioengine=libaio --iodepth=8 \
		--rw=randwrite --bs=4k --size=48M --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --randrepeat=1 --numjobs=1 --output=/tmp/fio.out &
	local pid=$!
	for i in $(seq 1 10); do
		sleep 0.3
		dmsetup suspend sr1
		dmsetup resume sr1
		sleep 0.3
		dmsetup reload sr1 --table "$table"
		dmsetup suspend sr1
		dmsetup resume sr1
	done
	wait $pid || { cat /tmp/fio.out; fail "fio verify failed"; }
	grep -q "err= 0" /tmp/fio.out || fail "fio reported errors"
	assert_eq 2 "$(status_field sr1 3 | cut -d/ -f1)" "both bad blocks remapped"
	assert_eq "R 500 R 12000" "$(dmsetup message sr1 0 list | sort -k2 -n | awk '{print $1, $2}' | xargs)" "list"
}

test_real_device_mode_is_live() {
	fail_disk rd1 2 block_size 4096
	assert_eq ok "$(status_field rd1 2)" "mode"
	echo 0 >/sys/module/dm_remap/parameters/real_device_mode
	assert_eq observe-only "$(status_field rd1 2)" "mode with real_device_mode=0"
	dmsetup message ldust 0 addbadblock 10 255
	dmsetup message ldust 0 enable
	local rc=0
	head -c 4096 /dev/urandom | blk_write /dev/mapper/rd1 10 4096 || rc=$?
	echo 1 >/sys/module/dm_remap/parameters/real_device_mode
	[ $rc -ne 0 ] || fail "observe-only write error was hidden"
	assert_list_empty rd1 "nothing remapped while observing"
	assert_eq ok "$(status_field rd1 2)" "mode back"
	head -c 4096 /dev/urandom >/tmp/q
	blk_write /dev/mapper/rd1 10 4096 </tmp/q || fail "write not remapped after real_device_mode=1"
	blk_read /dev/mapper/rd1 10 4096 | cmp - /tmp/q
	assert_eq "R 10 0" "$(dmsetup message rd1 0 list)" "remapped"
}

test_dm_remap_debug_levels_log_remaps_and_failed_bios() {
	fail_disk dbg1 2 block_size 4096
	dmsetup message ldust 0 addbadblock 3 255
	dmsetup message ldust 0 addbadblock 4 255
	dmsetup message ldust 0 enable
	mark
	echo 0 >/sys/module/dm_remap/parameters/dm_remap_debug
	head -c 4096 /dev/urandom | blk_write /dev/mapper/dbg1 3 4096
	if since_mark | grep -q "block 3 remapped"; then fail "level 0 logged a remap"; fi
	echo 2 >/sys/module/dm_remap/parameters/dm_remap_debug
	head -c 4096 /dev/urandom | blk_write /dev/mapper/dbg1 4 4096
	echo 0 >/sys/module/dm_remap/parameters/dm_remap_debug
	since_mark | grep -q "block 4 remapped to spare block 1" || fail "level 2 did not log the remap"
	since_mark | grep -q "Write of 4096 bytes at sector 32 failed" || fail "level 2 did not log the failed bio"
}

test_strict_spare_sizing_refuses_and_lax_only_warns() {
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	echo 20 >/sys/module/dm_remap/parameters/spare_overhead_percent
	echo 1 >/sys/module/dm_remap/parameters/strict_spare_sizing
	mark
	local rc=0
	dmsetup create sz1 --table "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/ram1 0 8192" 2>/dev/null || rc=$?
	echo 0 >/sys/module/dm_remap/parameters/strict_spare_sizing
	[ $rc -ne 0 ] || { echo 2 >/sys/module/dm_remap/parameters/spare_overhead_percent; fail "small spare accepted with strict sizing"; }
	since_mark | grep -q "Spare region too small (strict_spare_sizing=1)" || fail "no error"
	mark
	dm_create sz1 "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/ram1 0 8192"
	echo 2 >/sys/module/dm_remap/parameters/spare_overhead_percent
	since_mark | grep -q "spare_len 8192 is below spare_overhead_percent=20%" || fail "no warning"
}
