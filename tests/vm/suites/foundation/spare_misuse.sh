# Spare misuse: a table load never writes to a spare region it must not
# format (anything but a blank metadata footprint, unless the feature
# `format` asks for it), nor before the table is known to be usable
# (block_size above the page size), and a spare region on a partition of
# the main disk that overlaps the mapped range is refused.
#
# Every refusal must be -EINVAL with a reason in the kernel log, and leave
# the spare's bytes exactly as they were (sha256 before and after).

SPARE=/dev/ram1
MAIN=/dev/ram0

# Zero the whole spare device, exactly its size (dd past the end fails).
zero_spare() { dd if=/dev/zero of="$SPARE" bs=1M count=$(($(sectors "$SPARE") / 2048)) oflag=direct status=none; }

# sha256 of a device read with O_DIRECT: a write that bypassed the page
# cache (dm-io does) must not hide behind cached pages.
device_sha() { dd if="$1" bs=1M iflag=direct status=none | sha256sum; }

table() { echo "0 $(sectors $MAIN) remap $MAIN 0 $SPARE 0 $(sectors $SPARE)${1:+ $*}"; }

# expect_refused NAME TABLE "DMESG TEXT": the load fails with EINVAL, the
# kernel log says TEXT, and the spare device is unchanged.
expect_refused() {
	local name=$1 line=$2 text=$3 before after out
	before=$(device_sha "$SPARE")
	mark
	if out=$(dmsetup create "$name" --table "$line" 2>&1); then
		fail "table '$line' was accepted"
	fi
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	since_mark | grep -F -- "$text" || fail "dmesg lacks '$text': $(since_mark | tail -5)"
	after=$(device_sha "$SPARE")
	assert_eq "$before" "$after" "spare bytes after the refused load"
	dmsetup info "$name" >/dev/null 2>&1 && fail "$name exists after a refused load"
	return 0
}

test_btrfs_superblock_beyond_the_slots_is_refused() {
	zero_spare
	# btrfs: superblock at 64 KiB, magic "_BHRfS_M" at offset 64 in it.
	printf '_BHRfS_M' | dd of=$SPARE bs=1 seek=$((65536 + 64)) conv=notrunc status=none
	sync
	expect_refused b1 "$(table)" "non-zero bytes at sector 128 (metadata log area); refusing to format"
	since_mark | grep -F "pass feature 'format' to overwrite" || fail "no hint at 'format'"
}

test_zfs_label_after_zeros_is_refused() {
	zero_spare
	# ZFS label 0: 16 KiB of zeros (blank space, boot header), then the
	# name/value list.
	printf '\001\001\000\000\000\000\000\000' | dd of=$SPARE bs=1 seek=16384 conv=notrunc status=none
	sync
	expect_refused z1 "$(table)" "non-zero bytes at sector 32 (metadata log area)"
}

test_partition_table_is_refused() {
	zero_spare
	# An MBR with one Linux partition (2048 + 32768 sectors) at sector 0.
	{
		printf '\000\040\041\000\203\376\377\377'
		printf '\000\010\000\000\000\200\000\000'
	} | dd of=$SPARE bs=1 seek=446 conv=notrunc status=none
	printf '\125\252' | dd of=$SPARE bs=1 seek=510 conv=notrunc status=none
	sync
	expect_refused p1 "$(table)" "spare holds foreign data"
}

test_random_data_with_zeroed_slots_is_refused() {
	dd if=/dev/urandom of=$SPARE bs=1M count=$(($(sectors "$SPARE") / 2048)) oflag=direct status=none
	dd if=/dev/zero of=$SPARE bs=8k count=1 oflag=direct conv=notrunc status=none
	expect_refused r1 "$(table)" "non-zero bytes at sector 16 (metadata log area)"
}

test_spare_with_zeroed_superblocks_is_not_reformatted() {
	zero_spare
	brd_wipe $MAIN
	dm_create m1 "$(table)"
	dmsetup message m1 0 remap 10
	dmsetup message m1 0 remap 20
	assert_eq "2" "$(dmsetup message m1 0 list | grep -c '^R')" "remaps before"
	dmsetup remove m1
	# Someone zeroes the superblock slots (the first 8 KiB): the log and
	# the snapshots still describe two remaps.
	dd if=/dev/zero of=$SPARE bs=8k count=1 oflag=direct conv=notrunc status=none
	expect_refused m2 "$(table)" "spare is not blank: non-zero bytes at sector"
	# The explicit request formats it (dropping the remaps, as asked).
	mark
	dm_create m3 "$(table 1 format)"
	since_mark | grep -F "as asked by feature 'format'" || fail "no format message"
	assert_eq "" "$(dmsetup message m3 0 list)" "remaps after the explicit format"
	# `format` acted once: it is not printed back, and the next load finds
	# the metadata it wrote.
	dmsetup table m3 | grep -q format && fail "format printed in the table: $(dmsetup table m3)"
	dmsetup message m3 0 remap 5
	dmsetup remove m3
	mark
	dm_create m4 "$(table)"
	since_mark | grep -F "loaded metadata generation" || fail "not loaded"
	assert_eq "R 5 0" "$(dmsetup message m4 0 list)" "remap after reload"
	# Valid metadata is loaded, never re-formatted, even with `format`.
	dmsetup remove m4
	dm_create m5 "$(table 1 format)"
	assert_eq "R 5 0" "$(dmsetup message m5 0 list)" "remap kept with 'format'"
}

test_explicit_format_overwrites_foreign_data() {
	zero_spare
	printf '_BHRfS_M' | dd of=$SPARE bs=1 seek=$((65536 + 64)) conv=notrunc status=none
	sync
	mark
	dm_create f1 "$(table 1 format)"
	since_mark | grep -F "as asked by feature 'format'" || fail "no format message"
	assert_eq "ok" "$(status_field f1 2)" "mode"
	dd if=$SPARE bs=4k skip=16 count=1 iflag=direct status=none | grep -q '_BHRfS_M' &&
		fail "btrfs magic survived the format (log not zeroed)"
	return 0
}

test_block_size_above_page_size_is_refused_before_any_write() {
	zero_spare
	expect_refused k1 "$(table 2 block_size 8192)" "larger than the page size"
	# The blank spare was not formatted: still all zero.
	assert_eq "0" "$(dd if=$SPARE bs=1M iflag=direct status=none | tr -d '\000' | wc -c)" \
		"non-zero bytes on the spare"
}

# A whole disk and one of its partitions are different devices over the
# same sectors: the overlap is on the disk.
test_spare_on_an_overlapping_partition_is_refused() {
	local img=/tmp/disk.img loop
	truncate -s 64M $img
	{
		printf '\000\040\041\000\203\376\377\377'
		printf '\000\010\000\000\000\200\000\000' # start 2048, 32768 sectors
	} | dd of=$img bs=1 seek=446 conv=notrunc status=none
	printf '\125\252' | dd of=$img bs=1 seek=510 conv=notrunc status=none
	loop=$(losetup -f)
	losetup -P "$loop" $img || fail "losetup -P (partition scan) failed"
	trap 'losetup -d '"$loop"' 2>/dev/null' EXIT
	local i
	for i in $(seq 1 50); do [ -b "${loop}p1" ] && break; sleep 0.1; done
	[ -b "${loop}p1" ] || fail "no ${loop}p1 after losetup -P"
	assert_eq "32768" "$(sectors "${loop}p1")" "partition size"
	local before after out
	before=$(device_sha "${loop}p1")
	# Disk sectors 0..65535 mapped; the spare (the partition) is disk
	# sectors 2048..34815.
	mark
	if out=$(dmsetup create ov1 --table "0 65536 remap $loop 0 ${loop}p1 0 32768" 2>&1); then
		fail "overlapping partition accepted"
	fi
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	# The block layer refuses to claim a partition of a disk that is claimed
	# whole (EBUSY, "opened exclusively") before the target's own check of
	# the ranges on the disk can run; either refusal names the spare.
	since_mark | grep -E "overlaps the mapped range|cannot open spare device ${loop}p1: device is busy" ||
		fail "dmesg lacks the reason: $(since_mark | tail -5)"
	after=$(device_sha "${loop}p1")
	assert_eq "$before" "$after" "partition bytes after the refused load"
}
