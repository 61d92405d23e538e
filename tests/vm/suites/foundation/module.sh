# Module lifecycle: modinfo, modprobe with parameters, sysfs, rmmod.

PARAMS="dm_remap_debug enable_background_scanning scan_interval_hours real_device_mode spare_overhead_percent strict_spare_sizing"

unload() { ! lsmod | grep -q '^dm_remap' || rmmod dm_remap; }

test_modinfo_fields() {
	assert_eq "$(cat /etc/dm-remap-version)" "$(modinfo -F version dm_remap)" "modinfo version"
	assert_eq "GPL" "$(modinfo -F license dm_remap)" "modinfo license"
	assert_eq "dm-remap" "$(modinfo -F alias dm_remap)" "modinfo alias"
	modinfo -F description dm_remap | grep -q 'remaps bad blocks' || fail "description missing"
	local parms
	parms=$(modinfo -F parm dm_remap | cut -d: -f1 | sort | xargs)
	assert_eq "$(echo $PARAMS | tr ' ' '\n' | sort | xargs)" "$parms" "modinfo parameters"
}

test_modprobe_with_parameters_visible_in_sysfs() {
	unload
	modprobe dm_remap dm_remap_debug=2 enable_background_scanning=0 scan_interval_hours=12 \
		real_device_mode=0 spare_overhead_percent=7 strict_spare_sizing=1
	local d=/sys/module/dm_remap/parameters
	assert_eq 2 "$(cat $d/dm_remap_debug)" dm_remap_debug
	assert_eq 0 "$(cat $d/enable_background_scanning)" enable_background_scanning
	assert_eq 12 "$(cat $d/scan_interval_hours)" scan_interval_hours
	assert_eq 0 "$(cat $d/real_device_mode)" real_device_mode
	assert_eq 7 "$(cat $d/spare_overhead_percent)" spare_overhead_percent
	assert_eq 1 "$(cat $d/strict_spare_sizing)" strict_spare_sizing
	local p
	for p in $PARAMS; do
		assert_eq "-rw-r--r--" "$(ls -l $d/$p | cut -c1-10)" "permissions of $p"
	done
	rmmod dm_remap
	lsmod | grep -q '^dm_remap' && fail "still loaded after rmmod"
	return 0
}

test_parameter_defaults() {
	unload
	modprobe dm_remap
	local d=/sys/module/dm_remap/parameters
	assert_eq "0 1 24 1 2 0" "$(cd $d && cat $PARAMS | xargs)" "defaults"
	rmmod dm_remap
}

# expect_param_refused PARAM=VALUE RANGE-TEXT
expect_param_refused() {
	unload
	mark
	if modprobe dm_remap "$1" 2>/tmp/err; then fail "modprobe accepted $1"; fi
	lsmod | grep -q '^dm_remap' && fail "module loaded despite $1"
	since_mark | grep -F "parameter ${1%%=*}: '${1#*=}' is not a whole number in the range $2" ||
		fail "no clear message for $1: $(since_mark | tail -3)"
}

test_param_debug_out_of_range() { expect_param_refused dm_remap_debug=4 "0..3"; }
test_param_debug_not_a_number() { expect_param_refused dm_remap_debug=abc "0..3"; }
test_param_scan_interval_zero() { expect_param_refused scan_interval_hours=0 "1..168"; }
test_param_scan_interval_too_big() { expect_param_refused scan_interval_hours=169 "1..168"; }
test_param_spare_overhead_too_big() { expect_param_refused spare_overhead_percent=21 "0..20"; }
test_param_real_device_mode_not_bool() { expect_param_refused real_device_mode=2 "0..1"; }
test_param_scanning_not_bool() { expect_param_refused enable_background_scanning=-1 "0..1"; }
test_param_strict_not_bool() { expect_param_refused strict_spare_sizing=5 "0..1"; }

test_param_sysfs_write_checked() {
	unload
	modprobe dm_remap
	local d=/sys/module/dm_remap/parameters
	echo 3 >$d/dm_remap_debug
	assert_eq 3 "$(cat $d/dm_remap_debug)" "after writing 3"
	if echo 9 >$d/dm_remap_debug 2>/dev/null; then fail "sysfs accepted 9"; fi
	assert_eq 3 "$(cat $d/dm_remap_debug)" "unchanged after refused write"
	echo 168 >$d/scan_interval_hours
	assert_eq 168 "$(cat $d/scan_interval_hours)" "scan_interval_hours"
	rmmod dm_remap
}

test_rmmod_refused_while_device_exists() {
	unload
	modprobe dm_remap
	spare_wipe /dev/ram1
	dm_create busy "$(remap_table /dev/ram0 /dev/ram1)"
	if rmmod dm_remap 2>/dev/null; then fail "rmmod succeeded with a device present"; fi
	lsmod | grep -q '^dm_remap' || fail "module gone"
	dmsetup remove busy
	rmmod dm_remap
}

test_autoload_by_dmsetup_create() {
	unload
	lsmod | grep -q '^dm_remap' && fail "precondition: module loaded"
	spare_wipe /dev/ram2
	dm_create auto "0 2048 remap /dev/ram1 0 /dev/ram2 0 4096"
	lsmod | grep -q '^dm_remap' || fail "dmsetup create did not load dm_remap"
	dmsetup targets | grep -q '^remap ' || fail "target remap not registered"
	dmsetup remove auto
	rmmod dm_remap
}
