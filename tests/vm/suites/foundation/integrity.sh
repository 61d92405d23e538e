# Pass-through integrity: data written through remap reads back byte for
# byte, through fio's crc32c verification and through plain dd patterns.

fio_verify() { # fio_verify DEV [extra fio args]
	local dev=$1
	shift
	fio --name=verify --filename="$dev" --direct=1 --ioengine=psync --rw=randwrite \
		--bs=4k --size=16M --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=1 --numjobs=1 "$@" --output=/tmp/fio.out
	cat /tmp/fio.out
	grep -q 'err= 0' /tmp/fio.out || fail "fio reported errors"
}

test_fio_verify_on_brd() {
	dm_create fb "0 $(sectors /dev/ram0) remap /dev/ram0 0"
	fio_verify /dev/mapper/fb
}

test_fio_verify_on_null_blk() {
	local dev
	dev=$(nullb_create nbv 64)
	dm_create fn "0 $(sectors "$dev") remap $dev 0"
	fio_verify /dev/mapper/fn --bs=16k --rw=randrw
}

test_fio_verify_mixed_sizes_with_offset() {
	dm_create fo "0 40960 remap /dev/ram1 8192"
	fio_verify /dev/mapper/fo --bssplit=4k/50:64k/30:128k/20 --size=16M
}

test_dd_pattern_round_trip() {
	brd_wipe /dev/ram2
	dm_create dp "0 $(sectors /dev/ram2) remap /dev/ram2 0"
	pattern_file /tmp/p 8192 42
	dd if=/tmp/p of=/dev/mapper/dp bs=1M oflag=direct status=none
	dd if=/dev/mapper/dp of=/tmp/r bs=1M count=8 iflag=direct status=none
	cmp /tmp/p /tmp/r
	# And the raw device holds the very same bytes.
	dd if=/dev/ram2 of=/tmp/raw bs=1M count=8 status=none
	cmp /tmp/p /tmp/raw
}

test_flush_and_fua_pass_through() {
	dm_create ff "0 $(sectors /dev/ram3) remap /dev/ram3 0"
	fio --name=fsync --filename=/dev/mapper/ff --direct=1 --rw=randwrite --bs=4k --size=4M \
		--fsync=1 --verify=crc32c --verify_fatal=1 --output=/tmp/fio.out
	grep -q 'err= 0' /tmp/fio.out || { cat /tmp/fio.out; fail "fio fsync run failed"; }
	dd if=/dev/zero of=/dev/mapper/ff bs=4k count=16 oflag=direct conv=fsync status=none
}

test_discard_and_write_zeroes_pass_through() {
	local d=/sys/kernel/config/nullb/nbd
	mkdir $d
	echo 64 >$d/size; echo 1 >$d/memory_backed; echo 1 >$d/discard; echo 1 >$d/power
	dm_create fd "0 $(sectors /dev/nbd) remap /dev/nbd 0"
	local dm=$(dm_sysname fd)
	[ "$(cat /sys/block/$dm/queue/discard_max_bytes)" -gt 0 ] || fail "discard not exposed"
	pattern_file /tmp/p 1024 5
	dd if=/tmp/p of=/dev/mapper/fd bs=1M oflag=direct status=none
	blkdiscard -o 0 -l 1048576 /dev/mapper/fd
	assert_eq 0 "$(dd if=/dev/nbd bs=1M count=1 iflag=direct status=none | tr -d '\0' | wc -c)" "non-zero bytes after discard"
}
