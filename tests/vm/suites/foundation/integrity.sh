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

# Flushes and FUA writes must reach the disks, for remapped blocks too: main
# and spare are null_blk disks with a volatile write cache, and power is cut
# under the live device.  What was written with fsync or O_DSYNC (FUA) must
# read back after power returns; without the flush or FUA passed through it
# would still be in the lost cache.
test_flush_and_fua_reach_both_disks_across_a_power_cut() {
	nullb_cached fm 32 32 >/dev/null
	nullb_cached fs 8 8 >/dev/null
	dm_create ff "0 $(sectors /dev/fm) remap /dev/fm 0 /dev/fs 0 $(sectors /dev/fs) 2 block_size 4096"
	local b
	for b in 5 6 7 40 41; do dmsetup message ff 0 remap $b; done
	assert_eq "R 5 R 6 R 7 R 40 R 41" "$(remap_list ff | awk '{ print $1, $2 }' | sort -k2 -n | xargs)" "remapped blocks"
	pattern_file /tmp/p 256 71
	# Blocks 0-31 (5, 6, 7 remapped) with one flush at the end (fsync) ...
	dd if=/tmp/p of=/dev/mapper/ff bs=4k count=32 oflag=direct conv=fsync status=none
	# ... blocks 32-63 (40, 41 remapped) as FUA writes (O_DIRECT|O_DSYNC).
	dd if=/tmp/p of=/dev/mapper/ff bs=4k skip=32 seek=32 count=32 oflag=direct,dsync status=none
	# The power goes, with both caches, under the live device.
	power_cut fm
	power_cut fs
	dmsetup remove ff
	power_on fm
	power_on fs
	dm_create ff "0 $(sectors /dev/fm) remap /dev/fm 0 /dev/fs 0 $(sectors /dev/fs) 2 block_size 4096"
	assert_eq "R 5 R 6 R 7 R 40 R 41" "$(remap_list ff | awk '{ print $1, $2 }' | sort -k2 -n | xargs)" "remaps after the power cut"
	dd if=/dev/mapper/ff of=/tmp/r bs=4k count=64 iflag=direct status=none
	cmp /tmp/p /tmp/r || fail "flushed or FUA data lost in the power cut"
}

# Discard through the target reaches the disk that holds each block: main
# for plain blocks, the spare for remapped ones (null_blk reads discarded
# sectors back as zeros, so old data read back means a discard went to the
# wrong disk).
test_discard_reaches_main_and_the_spare() {
	local d
	for d in nbd:64 nbsp:16; do
		mkdir /sys/kernel/config/nullb/${d%:*}
		echo ${d#*:} >/sys/kernel/config/nullb/${d%:*}/size
		echo 1 >/sys/kernel/config/nullb/${d%:*}/memory_backed
		echo 1 >/sys/kernel/config/nullb/${d%:*}/discard
		echo 1 >/sys/kernel/config/nullb/${d%:*}/power
	done
	dm_create fd "0 $(sectors /dev/nbd) remap /dev/nbd 0 /dev/nbsp 0 $(sectors /dev/nbsp) 2 block_size 4096"
	[ "$(cat /sys/block/$(dm_sysname fd)/queue/discard_max_bytes)" -gt 0 ] || fail "discard not exposed"
	pattern_file /tmp/p 1024 5
	dd if=/tmp/p of=/dev/mapper/fd bs=1M oflag=direct status=none
	local b
	for b in 3 4 100 200; do dmsetup message fd 0 remap $b; done
	assert_eq 4 "$(remap_list fd | grep -c '^R ')" "remapped blocks"
	blkdiscard -o 0 -l 1048576 /dev/mapper/fd
	assert_eq 0 "$(dd if=/dev/mapper/fd bs=1M count=1 iflag=direct status=none | tr -d '\0' | wc -c)" "non-zero bytes read back after discard"
	assert_eq 0 "$(dd if=/dev/nbd bs=4k skip=5 count=95 iflag=direct status=none | tr -d '\0' | wc -c)" "non-zero bytes on main after discard"
}
