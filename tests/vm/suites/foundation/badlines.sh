# Malformed table lines: each is refused with EINVAL and a message in dmesg
# that names the problem; no device is left behind and nothing is written.

# expect_bad_table NAME "ARGS" "MESSAGE" [LEN]
expect_bad_table() {
	local name=$1 args=$2 msg=$3 len=${4:-2048}
	mark
	local out
	if out=$(dmsetup create "$name" --table "0 $len remap $args" 2>&1); then
		fail "table '$args' was accepted"
	fi
	echo "$out"
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	since_mark | grep -F -- "$msg" || fail "dmesg lacks '$msg': $(since_mark | tail -3)"
	if dmsetup info "$name" >/dev/null 2>&1; then fail "device $name left behind"; fi
	return 0
}

SP="/dev/ram1 0 8192"
MAIN_ERR="Main device lookup failed"

test_bad_no_arguments() { expect_bad_table b01 "" "remap: Too few arguments"; }
test_bad_only_main() { expect_bad_table b02 "/dev/ram0 0" "remap: Too few arguments"; }
test_bad_missing_spare_len() { expect_bad_table b03 "/dev/ram0 0 /dev/ram1 0" "remap: Too few arguments"; }
test_bad_offset_letters() { expect_bad_table b04 "/dev/ram0 abc $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_negative() { expect_bad_table b05 "/dev/ram0 -8 $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_trailing_junk() { expect_bad_table b06 "/dev/ram0 12x $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_hex() { expect_bad_table b07 "/dev/ram0 0x10 $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_plus_sign() { expect_bad_table b08 "/dev/ram0 +8 $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_fraction() { expect_bad_table b09 "/dev/ram0 1.5 $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_overflow() { expect_bad_table b10 "/dev/ram0 99999999999999999999999 $SP" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_u64_max() { expect_bad_table b11 "/dev/ram0 18446744073709551615 $SP" "exceeds main device"; }
test_bad_offset_beyond_device() {
	expect_bad_table b12 "/dev/ram0 $(sectors /dev/ram0) $SP" "remap: Invalid <main_offset>: mapped range goes beyond the main device"
}
test_bad_length_larger_than_device() {
	expect_bad_table b13 "/dev/ram0 0 $SP" "mapped range goes beyond the main device" "$(($(sectors /dev/ram0) + 8))"
}
test_bad_missing_device_path() { expect_bad_table b14 "/dev/does-not-exist 0 $SP" "cannot open main device /dev/does-not-exist: no such file"; }
test_bad_missing_major_minor() { expect_bad_table b15 "250:4095 0 $SP" "cannot open main device 250:4095: no such device"; }
test_bad_not_a_block_device() { expect_bad_table b16 "/dev/null 0 $SP" "cannot open main device /dev/null: not a block device"; }
test_bad_directory_as_device() { expect_bad_table b17 "/dev 0 $SP" "cannot open main device /dev: not a block device"; }
test_bad_missing_spare_device() { expect_bad_table b18 "/dev/ram0 0 /dev/nope 0 8192" "cannot open spare device /dev/nope: no such file"; }
test_bad_spare_offset_letters() { expect_bad_table b19 "/dev/ram0 0 /dev/ram1 x 8192" "remap: Invalid <spare_offset>: not a decimal"; }
test_bad_spare_len_letters() { expect_bad_table b20 "/dev/ram0 0 /dev/ram1 0 8k" "remap: Invalid <spare_len>: not a decimal"; }
test_bad_spare_len_zero() { expect_bad_table b21 "/dev/ram0 0 /dev/ram1 0 0" "remap: Invalid <spare_len>: must not be zero"; }
test_bad_spare_beyond_device() {
	expect_bad_table b22 "/dev/ram0 0 /dev/ram1 8 $(sectors /dev/ram1)" "spare region goes beyond the spare device"
}
test_bad_spare_overlaps_mapped_range() {
	expect_bad_table b23 "/dev/ram0 0 /dev/ram0 1024 8192" "Spare region overlaps the mapped range"
}
test_bad_spare_too_small_for_metadata() {
	spare_wipe /dev/ram1
	expect_bad_table b24 "/dev/ram0 0 /dev/ram1 0 8" "Invalid <spare_len>: too small for the metadata"
}
test_bad_feature_count_mismatch() { expect_bad_table b25 "/dev/ram0 0 $SP 3 block_size 4096" "does not match the number of feature arguments"; }
test_bad_feature_count_letters() { expect_bad_table b26 "/dev/ram0 0 $SP two block_size 4096" "Invalid <#feature_args>"; }
test_bad_unknown_feature() { expect_bad_table b27 "/dev/ram0 0 $SP 1 turbo" "Unknown feature argument"; }
test_bad_block_size_not_power_of_two() { expect_bad_table b28 "/dev/ram0 0 $SP 2 block_size 3000" "Invalid block_size: must be a power of two"; }
test_bad_block_size_too_big() { expect_bad_table b29 "/dev/ram0 0 $SP 2 block_size 131072" "Invalid block_size: must be a power of two"; }
test_bad_block_size_missing_value() { expect_bad_table b30 "/dev/ram0 0 $SP 1 block_size" "Invalid block_size: not a decimal"; }
test_bad_read_retries_too_many() { expect_bad_table b31 "/dev/ram0 0 $SP 2 read_retries 17" "Invalid read_retries: at most 16"; }
test_bad_duplicate_feature() { expect_bad_table b32 "/dev/ram0 0 $SP 2 no_auto_remap no_auto_remap" "Feature no_auto_remap given twice"; }
test_bad_scan_rate_letters() { expect_bad_table b33 "/dev/ram0 0 $SP 2 scan_rate fast" "Invalid scan_rate"; }
test_bad_length_not_multiple_of_block() {
	expect_bad_table b34 "/dev/ram0 0 $SP 2 block_size 4096" "Invalid target length: not a multiple of the block size" 2052
}
test_bad_unaligned_offset_4k_device() {
	local dev
	dev=$(nullb_create nb4k 64 4096)
	expect_bad_table b35 "$dev 3 $SP" "Invalid <main_offset>: not a multiple of the block size" 1024
}
test_bad_block_size_below_logical_block_size() {
	local dev
	dev=$(nullb_create nb4kb 64 4096)
	expect_bad_table b36 "$dev 0 $SP 2 block_size 512" "Invalid block_size: smaller than the devices' logical block size" 1024
}

test_bad_self_as_main_device() {
	dmsetup create self --notable
	local mm out
	mm=$(dmsetup info -c --noheadings -o major,minor --separator : self)
	mark
	if out=$(dmsetup load self --table "0 2048 remap $mm 0 $SP" 2>&1); then fail "self-reference accepted"; fi
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	since_mark | grep -F "$MAIN_ERR" || fail "no message"
	since_mark | grep -F "invalid device, or the remap device itself" || fail "no reason"
	dmsetup table self | grep -q remap && fail "table was loaded"
	dmsetup remove self
}

test_bad_spare_with_foreign_data_is_never_overwritten() {
	pattern_file /tmp/junk 1024 99
	dd if=/tmp/junk of=/dev/ram1 bs=1M count=1 oflag=direct status=none
	expect_bad_table b37 "/dev/ram0 0 $SP" "Spare region holds foreign data"
	cmp /tmp/junk <(dd if=/dev/ram1 bs=1M count=1 iflag=direct status=none) || fail "spare was modified"
}

test_bad_spare_of_another_device_pair() {
	spare_wipe /dev/ram1
	dm_create pair "0 4096 remap /dev/ram0 0 $SP"
	dmsetup remove pair
	# Same spare, different mapped length: metadata belongs to another pair.
	expect_bad_table b38 "/dev/ram0 0 $SP" "superblock" 2048
	dm_create pair "0 4096 remap /dev/ram0 0 $SP"
}

test_bad_block_size_differs_from_metadata() {
	spare_wipe /dev/ram1
	dm_create bs "0 4096 remap /dev/ram0 0 $SP"
	dmsetup remove bs
	expect_bad_table b39 "/dev/ram0 0 $SP 2 block_size 4096" "Invalid block_size: differs from the spare's metadata" 4096
}

test_bad_lines_leave_module_usable() {
	expect_bad_table b40 "/dev/ram0 zz $SP" "not a decimal"
	spare_wipe /dev/ram1
	dm_create good "0 2048 remap /dev/ram0 0 $SP"
	dd if=/dev/mapper/good of=/dev/null bs=4k count=1 iflag=direct status=none
}
