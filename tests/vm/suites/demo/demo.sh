# The README demo: dm-remap over a disk that has bad blocks (dm-dust).

say() { printf '\n### %s\n' "$*"; }
run() { echo "# $*"; "$@"; }

test_demo() {
	say "A 64 MiB disk (brd) with dm-dust on top, so blocks can be made to fail; a 16 MiB spare"
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	run dmsetup create dusty --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 512"
	dmsetup mknodes
	say "dm-remap over it; the module loads by itself and formats the blank spare"
	run dmsetup create demo --table "0 $(sectors /dev/ram0) remap /dev/mapper/dusty 0 /dev/ram1 0 32768"
	dmsetup mknodes
	run dmsetup table demo
	run dmsetup status demo
	say "Write 4 MiB of patterned data"
	pattern_file /tmp/data 4096 2026
	run dd if=/tmp/data of=/dev/mapper/demo bs=1M oflag=direct status=none
	say "SMART says blocks 100 and 101 are weak: remap them by hand (data is copied)"
	run dmsetup message demo 0 remap 100
	run dmsetup message demo 0 remap 101
	run dmsetup message demo 0 list
	say "Now the disk really fails there: reads of blocks 100-101 on the raw disk error out"
	dmsetup message dusty 0 addbadblock 100
	dmsetup message dusty 0 addbadblock 101
	run dmsetup message dusty 0 enable
	run dd if=/dev/mapper/dusty of=/dev/null bs=512 skip=100 count=1 iflag=direct || echo "(raw disk: read error, as expected)"
	say "Through dm-remap everything still reads back byte for byte"
	run dd if=/dev/mapper/demo of=/tmp/back bs=1M count=4 iflag=direct status=none
	run cmp /tmp/data /tmp/back && echo "data reads back byte for byte"
	say "Remove and recreate (as after a reboot): the remaps come back from the spare's metadata"
	run dmsetup remove demo
	run dmsetup create demo --table "0 $(sectors /dev/ram0) remap /dev/mapper/dusty 0 /dev/ram1 0 32768"
	dmsetup mknodes
	run dmsetup message demo 0 list
	run dd if=/dev/mapper/demo of=/tmp/back bs=1M count=4 iflag=direct status=none
	run cmp /tmp/data /tmp/back && echo "still byte for byte after recreate"
	say "Status: <version> <mode> <remapped>/<spare> <pending> <bad spares> <read errs> <write errs> <generation> <scan>"
	run dmsetup status demo
	run dmsetup remove demo
	run dmsetup remove dusty
}
