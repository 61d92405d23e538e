# Malformed table lines: each is refused with EINVAL and a message in dmesg
# that names the problem; no device is left behind.

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

MAIN_ERR="Main device lookup failed"

test_bad_no_arguments() { expect_bad_table b01 "" "remap: Missing arguments"; }
test_bad_only_device() { expect_bad_table b02 "/dev/ram0" "remap: Missing <main_offset>"; }
test_bad_too_many_arguments() { expect_bad_table b03 "/dev/ram0 0 extra" "remap: Too many arguments"; }
test_bad_offset_letters() { expect_bad_table b04 "/dev/ram0 abc" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_negative() { expect_bad_table b05 "/dev/ram0 -8" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_trailing_junk() { expect_bad_table b06 "/dev/ram0 12x" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_hex() { expect_bad_table b07 "/dev/ram0 0x10" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_plus_sign() { expect_bad_table b08 "/dev/ram0 +8" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_fraction() { expect_bad_table b09 "/dev/ram0 1.5" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_exponent() { expect_bad_table b10 "/dev/ram0 1e3" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_overflow() { expect_bad_table b11 "/dev/ram0 99999999999999999999999" "remap: Invalid <main_offset>: not a decimal"; }
test_bad_offset_u64_max() { expect_bad_table b12 "/dev/ram0 18446744073709551615" "exceeds main device"; }
test_bad_offset_beyond_device() {
	expect_bad_table b13 "/dev/ram0 $(sectors /dev/ram0)" "remap: Invalid <main_offset>: mapped range goes beyond the main device"
}
test_bad_range_past_end() {
	expect_bad_table b14 "/dev/ram0 1" "mapped range goes beyond the main device" "$(sectors /dev/ram0)"
}
test_bad_length_larger_than_device() {
	expect_bad_table b15 "/dev/ram0 0" "mapped range goes beyond the main device" "$(($(sectors /dev/ram0) + 8))"
}
test_bad_missing_device_path() { expect_bad_table b16 "/dev/does-not-exist 0" "cannot open main device /dev/does-not-exist: no such file"; }
test_bad_missing_major_minor() { expect_bad_table b17 "250:4095 0" "cannot open main device 250:4095: no such device"; }
test_bad_not_a_block_device() { expect_bad_table b18 "/dev/null 0" "cannot open main device /dev/null: not a block device"; }
test_bad_directory_as_device() { expect_bad_table b19 "/dev 0" "cannot open main device /dev: not a block device"; }
test_bad_device_garbage_name() { expect_bad_table b20 "::: 0" "cannot open main device :::: no such file"; }
test_bad_unaligned_offset_4k_device() {
	local dev
	dev=$(nullb_create nb4k 64 4096)
	expect_bad_table b21 "$dev 3" "not aligned to the logical block size" 1024
}

test_bad_self_as_main_device() {
	dmsetup create self --notable
	local mm
	mm=$(dmsetup info -c --noheadings -o major,minor --separator : self)
	mark
	if out=$(dmsetup load self --table "0 2048 remap $mm 0" 2>&1); then fail "self-reference accepted"; fi
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	since_mark | grep -F "$MAIN_ERR" || fail "no message"
	since_mark | grep -F "invalid device, or the remap device itself" || fail "no reason"
	dmsetup table self | grep -q remap && fail "table was loaded"
	dmsetup remove self
}

test_bad_lines_leave_module_usable() {
	expect_bad_table b22 "/dev/ram0 zz" "not a decimal"
	dm_create good "0 2048 remap /dev/ram0 0"
	dd if=/dev/mapper/good of=/dev/null bs=4k count=1 iflag=direct status=none
}
