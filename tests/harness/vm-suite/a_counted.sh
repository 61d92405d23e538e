# Harness self-test suite (tests/harness/selftest.sh): each test here is
# judged by the harness, and the self-test checks the verdicts.

# Passes: the harness must not fail everything.
test_a_passing_test() {
	dmsetup create hpass --table "0 8192 linear /dev/ram0 0"
	dmsetup mknodes hpass
	pattern_file /tmp/p 1024 7
	dd if=/tmp/p of=/dev/mapper/hpass bs=64k oflag=direct status=none
	dd if=/dev/mapper/hpass of=/tmp/r bs=64k count=16 iflag=direct status=none
	cmp /tmp/p /tmp/r
}

# A splat early in a test that then floods the log (more than the kernel's
# default 128 KiB ring): the test itself exits 0; the harness must fail it.
test_early_splat_in_a_noisy_test() {
	echo "WARNING: harness self-test: an early splat in a noisy test" >/dev/kmsg
	local i
	for i in $(seq 1 3000); do
		echo "harness self-test noise line $i: the quick brown fox jumps over the lazy dog, again and again" >/dev/kmsg
	done
}

# Leaks memory from a module that is then unloaded: the test passes, the
# runner's kmemleak check at the end must fail.
test_module_leaks_after_unload() {
	insmod /tests/harness_leak.ko
	rmmod harness_leak
}
