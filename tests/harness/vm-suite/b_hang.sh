# Harness self-test: a test stuck in the kernel (I/O to a suspended device,
# task in D state) must fail within its timeout, named, with task stacks on
# the console, and the runner must go on.
TEST_TIMEOUT=20

test_hangs_in_d_state() {
	dmsetup create hhang --table "0 8192 linear /dev/ram1 0"
	dmsetup mknodes hhang
	dmsetup suspend hhang
	dd if=/dev/mapper/hhang of=/dev/null bs=4k count=1 iflag=direct status=none
}
