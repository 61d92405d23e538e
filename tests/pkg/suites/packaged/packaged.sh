# Suite for a packaged dm-remap.ko (tests/pkg/run.sh): the module DKMS (or
# `make kmod-deb`) built for a packaged kernel, booted from that kernel's
# package.  The host passes what it expects on the kernel command line:
#   dmremap.ko_sha256=  sha256 of the .ko the package installed
#   dmremap.version=    the module version the package carries

# cmdline NAME: the value of dmremap.NAME= on the kernel command line.
cmdline() { tr ' ' '\n' </proc/cmdline | sed -n "s/^dmremap\.$1=//p"; }

# The one place that makes a remap device: NAME over MAIN, with SPARE as its
# spare area (blanked first).  The table line itself comes from the guest
# library's remap_table, shared with the other suites.
remap_create() { # remap_create NAME MAIN SPARE
	spare_wipe "$3"
	dm_create "$1" "$(remap_table "$2" "$3")"
}

test_packaged_module_loads_with_parameters() {
	local ko
	# Nothing may have autoloaded it yet; parameters apply at load time.
	! lsmod | grep -q '^dm_remap' || rmmod dm_remap
	ko=$(modinfo -n dm_remap)
	echo "modprobe resolves dm_remap to $ko"
	assert_eq "$(cmdline ko_sha256)" "$(sha256sum "$ko" | cut -d' ' -f1)" "sha256 of the module modprobe loads"
	modprobe dm_remap dm_remap_debug=1 scan_interval_hours=48
	assert_eq "$(cmdline version)" "$(cat /sys/module/dm_remap/version)" "loaded module version"
	assert_eq "$(modinfo -F srcversion "$ko")" "$(cat /sys/module/dm_remap/srcversion)" "loaded srcversion"
	assert_eq 48 "$(cat /sys/module/dm_remap/parameters/scan_interval_hours)" "parameter scan_interval_hours"
	assert_eq "$(uname -r)" "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" "vermagic release"
	rmmod dm_remap
}

test_packaged_module_device_io() {
	modprobe dm_remap
	brd_wipe /dev/ram0
	remap_create pkg /dev/ram0 /dev/ram1
	dmsetup table pkg
	dmsetup status pkg
	dmsetup status pkg | grep -q " remap $(cmdline version) " || fail "status: $(dmsetup status pkg)"
	pattern_file /tmp/p 4096 7
	dd if=/tmp/p of=/dev/mapper/pkg bs=64k oflag=direct status=none
	dd if=/dev/mapper/pkg of=/tmp/r bs=64k count=64 iflag=direct status=none
	cmp /tmp/p /tmp/r
	fio --name=v --filename=/dev/mapper/pkg --direct=1 --rw=randwrite --bs=4k --size=8M \
		--verify=crc32c --verify_fatal=1 --output=/tmp/fio.out
	grep -q 'err= 0' /tmp/fio.out || fail "fio failed: $(cat /tmp/fio.out)"
	dmsetup remove pkg
	rmmod dm_remap
}
