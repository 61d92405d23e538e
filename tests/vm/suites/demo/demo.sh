# The README demo, first boot: dm-remap over a disk that fails (dm-dust over
# the persistent virtio disk /dev/vdb, spare on the same disk).  The second
# boot is tests/vm/suites/demo2.

say() { printf '\n### %s\n' "$*"; }
run() { echo "# $*"; "$@"; }

test_demo_boot1() {
	say "Boot 1. A disk (/dev/vdb): 64 MiB of data under dm-dust (so blocks can be made to fail), and a 16 MiB spare region at its end"
	dd if=/dev/zero of=/dev/vdb bs=512 seek=131072 count=2048 oflag=direct status=none
	persist_main
	say "dm-remap over it; the module loads by itself and formats the blank spare region"
	run dmsetup create demo --table "$(persist_table)"
	dmsetup mknodes
	run dmsetup table demo
	run dmsetup status demo
	say "Write 4 MiB of patterned data"
	pattern_file /tmp/data 4096 2026
	run dd if=/tmp/data of=/dev/mapper/demo bs=1M oflag=direct status=none
	say "The disk starts failing: writes to blocks 100 and 101 fail, block 3000 cannot be read"
	run dmsetup message pdust 0 addbadblock 100 255
	run dmsetup message pdust 0 addbadblock 101 255
	run dmsetup message pdust 0 addbadblock 3000
	run dmsetup message pdust 0 enable
	say "New data for blocks 100-101: the writes fail on the disk, dm-remap puts them on spare blocks; the caller sees success"
	pattern_file /tmp/new 1 7
	head -c 1024 /tmp/new | dd of=/tmp/data bs=512 seek=100 conv=notrunc status=none
	run dd if=/tmp/new of=/dev/mapper/demo bs=512 seek=100 count=2 oflag=direct status=none
	say "Reading block 3000 fails honestly (EIO); the block is now pending: its next write remaps it"
	run dd if=/dev/mapper/demo of=/dev/null bs=512 skip=3000 count=1 iflag=direct status=none || echo "(read error, as expected)"
	run dmsetup message demo 0 list
	say "Status: <version> <mode> <remapped>/<spare> <pending> <bad spares> <read errs> <write errs> <generation> <scan cursor>/<blocks> <scanner>"
	run dmsetup status demo
	assert_eq "2 1" "$(status_field demo 3 | cut -d/ -f1) $(status_field demo 4)" "remapped, pending"
	say "Power off"
	run dmsetup remove demo
	dmsetup remove pdust
	sync
}
