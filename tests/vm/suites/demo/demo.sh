# The README demo: dm-remap over a disk that has bad blocks (dm-dust).
# This version of the target passes I/O through; later versions remap.

say() { printf '\n### %s\n' "$*"; }
run() { echo "# $*"; "$@"; }

test_demo() {
	say "A 64 MiB disk (brd) with dm-dust on top, so blocks can be made to fail"
	brd_wipe /dev/ram0
	run dmsetup create dusty --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup mknodes
	say "dm-remap over it; the module loads by itself"
	run dmsetup create demo --table "0 $(sectors /dev/ram0) remap /dev/mapper/dusty 0"
	dmsetup mknodes
	run dmsetup table demo
	run dmsetup status demo
	say "Write 4 MiB of patterned data and read it back"
	pattern_file /tmp/data 4096 2026
	run dd if=/tmp/data of=/dev/mapper/demo bs=1M oflag=direct status=none
	run dd if=/dev/mapper/demo of=/tmp/back bs=1M count=4 iflag=direct status=none
	run cmp /tmp/data /tmp/back && echo "data reads back byte for byte"
	say "Status after I/O"
	run dmsetup status demo
	run dmsetup remove demo
	run dmsetup remove dusty
}
