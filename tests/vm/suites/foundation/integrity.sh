# Data integrity through the target: fio's crc32c verification and plain dd
# patterns compared byte for byte, with and without remapped blocks.

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
	spare_wipe /dev/ram1
	dm_create fb "$(remap_table /dev/ram0 /dev/ram1)"
	fio_verify /dev/mapper/fb
}

test_fio_verify_on_null_blk() {
	local dev sp
	dev=$(nullb_create nbv 64)
	sp=$(nullb_create nbs 16)
	dm_create fn "$(remap_table "$dev" "$sp")"
	fio_verify /dev/mapper/fn --bs=16k --rw=randrw
}

test_fio_verify_across_remapped_blocks() {
	spare_wipe /dev/ram2
	dm_create fr "0 40960 remap /dev/ram1 8192 /dev/ram2 0 16384 2 block_size 4096"
	local b
	for b in 0 1 7 100 101 1023 4000 5119; do dmsetup message fr 0 remap $b; done
	assert_eq 8 "$(dmsetup message fr 0 list | grep -c '^R ')" "remapped blocks"
	fio_verify /dev/mapper/fr --bssplit=4k/50:64k/30:128k/20 --size=20M
}

test_dd_pattern_round_trip_with_remaps() {
	brd_wipe /dev/ram2
	spare_wipe /dev/ram3
	dm_create dp "$(remap_table /dev/ram2 /dev/ram3)"
	pattern_file /tmp/p 8192 42
	dd if=/tmp/p of=/dev/mapper/dp bs=1M oflag=direct status=none
	dmsetup message dp 0 remap 5
	dmsetup message dp 0 remap 6
	# Remapped blocks keep their data (the message copies it) ...
	dd if=/dev/mapper/dp of=/tmp/r bs=1M count=8 iflag=direct status=none
	cmp /tmp/p /tmp/r
	# ... and new writes to them land on the spare, not on main.
	pattern_file /tmp/q 8192 43
	dd if=/tmp/q of=/dev/mapper/dp bs=1M oflag=direct status=none
	dd if=/dev/mapper/dp of=/tmp/r bs=1M count=8 iflag=direct status=none
	cmp /tmp/q /tmp/r
	# Main still holds the old bytes of blocks 5 and 6 (512-byte blocks).
	cmp <(dd if=/dev/ram2 bs=512 skip=5 count=2 status=none) <(dd if=/tmp/p bs=512 skip=5 count=2 status=none)
	cmp <(dd if=/dev/ram2 bs=512 skip=7 count=100 status=none) <(dd if=/tmp/q bs=512 skip=7 count=100 status=none)
}

test_flush_and_fua_pass_through() {
	spare_wipe /dev/ram0
	dm_create ff "$(remap_table /dev/ram3 /dev/ram0)"
	fio --name=fsync --filename=/dev/mapper/ff --direct=1 --rw=randwrite --bs=4k --size=4M \
		--fsync=1 --verify=crc32c --verify_fatal=1 --output=/tmp/fio.out
	grep -q 'err= 0' /tmp/fio.out || { cat /tmp/fio.out; fail "fio fsync run failed"; }
	dd if=/dev/zero of=/dev/mapper/ff bs=4k count=16 oflag=direct conv=fsync status=none
}

test_discard_passes_through() {
	local d=/sys/kernel/config/nullb/nbd sp
	mkdir $d
	echo 64 >$d/size; echo 1 >$d/memory_backed; echo 1 >$d/discard; echo 1 >$d/power
	# Discards to remapped blocks go to the spare, so both must support it.
	mkdir /sys/kernel/config/nullb/nbsp
	echo 16 >/sys/kernel/config/nullb/nbsp/size; echo 1 >/sys/kernel/config/nullb/nbsp/memory_backed
	echo 1 >/sys/kernel/config/nullb/nbsp/discard; echo 1 >/sys/kernel/config/nullb/nbsp/power
	sp=/dev/nbsp
	dm_create fd "$(remap_table /dev/nbd "$sp")"
	[ "$(cat /sys/block/$(dm_sysname fd)/queue/discard_max_bytes)" -gt 0 ] || fail "discard not exposed"
	pattern_file /tmp/p 1024 5
	dd if=/tmp/p of=/dev/mapper/fd bs=1M oflag=direct status=none
	blkdiscard -o 0 -l 1048576 /dev/mapper/fd
	assert_eq 0 "$(dd if=/dev/nbd bs=1M count=1 iflag=direct status=none | tr -d '\0' | wc -c)" "non-zero bytes after discard"
}
