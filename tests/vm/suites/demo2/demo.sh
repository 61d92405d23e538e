# The README demo, second boot (after tests/vm/suites/demo): the remaps and
# the data are still there.

say() { printf '\n### %s\n' "$*"; }
run() { echo "# $*"; "$@"; }

test_demo_boot2() {
	say "Boot 2: a fresh kernel. The disk's bad blocks are still bad (dm-dust set up the same way)"
	persist_main 100:w 101:w 3000
	say "dm-remap over it again: the remaps come back from the spare's metadata"
	run dmsetup create demo --table "$(persist_table)"
	dmsetup mknodes
	run dmsetup message demo 0 list
	assert_eq "R 100 0 R 101 1 P 3000" "$(dmsetup message demo 0 list | sort -k2 -n | xargs)" "list"
	say "Everything except the unreadable block reads back byte for byte (blocks 100-101 from the spare)"
	pattern_file /tmp/data 4096 2026
	pattern_file /tmp/new 1 7
	head -c 1024 /tmp/new | dd of=/tmp/data bs=512 seek=100 conv=notrunc status=none
	run dd if=/dev/mapper/demo of=/tmp/back bs=512 count=3000 iflag=direct status=none
	run cmp /tmp/back <(head -c $((3000 * 512)) /tmp/data) && echo "blocks 0-2999 read back byte for byte"
	run dd if=/dev/mapper/demo of=/tmp/back bs=512 skip=3001 count=5191 iflag=direct status=none
	run cmp /tmp/back <(tail -c +$((3001 * 512 + 1)) /tmp/data) && echo "blocks 3001-8191 read back byte for byte"
	say "Writing the pending block remaps it"
	run dd if=/tmp/new of=/dev/mapper/demo bs=512 seek=3000 count=1 oflag=direct status=none
	run dmsetup message demo 0 list
	say "Status"
	run dmsetup status demo
	assert_eq "3 0 ok" "$(status_field demo 3 | cut -d/ -f1) $(status_field demo 4) $(status_field demo 2)" "remapped, pending, mode"
	run dmsetup remove demo
	dmsetup remove pdust
}
