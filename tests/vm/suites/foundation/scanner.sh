# The background scanner: finds unreadable blocks (pending) and rescues weak
# ones before a user reads them; rate-limited, controlled by messages and
# parameters, cursor persisted.

# scan_disk NAME SIZE_MB [FEATURES...]: remap over dust over a null_blk whose
# bad sectors fail once (weak), with a blank ram1 spare; /tmp/p holds the
# first MiB written.
scan_disk() {
	local name=$1 mb=$2 d=/sys/kernel/config/nullb/sweak
	shift 2
	mkdir "$d"
	echo "$mb" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo 512 >"$d/blocksize"
	echo 1 >"$d/badblocks_once"
	echo 1 >"$d/power"
	pattern_file /tmp/p 1024 41
	dd if=/tmp/p of=/dev/sweak bs=64k oflag=direct status=none
	spare_wipe /dev/ram1
	dmsetup create sdusty --table "0 $(sectors /dev/sweak) dust /dev/sweak 0 512"
	dmsetup mknodes sdusty
	dm_create "$name" "$(remap_table /dev/mapper/sdusty /dev/ram1 "$@")"
}

scan_state() { status_field "$1" 10; }
scan_cursor() { status_field "$1" 9 | cut -d/ -f1; }

# wait_scan_idle NAME SECONDS: wait until a started pass has finished.
wait_scan_idle() {
	local i
	for i in $(seq "$2"); do
		[ "$(scan_state "$1")" = idle ] && return 0
		sleep 1
	done
	fail "scan did not finish in $2 s: $(dmsetup status "$1")"
}

test_scan_finds_unreadable_blocks_and_rescues_weak_ones() {
	scan_disk sc1 4 2 scan_rate 1000000
	assert_eq idle "$(scan_state sc1)" "no pass before the interval"
	echo "+200-200" >/sys/kernel/config/nullb/sweak/badblocks
	dmsetup message sdusty 0 addbadblock 300
	dmsetup message sdusty 0 enable
	mark
	dmsetup message sc1 0 scan start
	wait_scan_idle sc1 120
	assert_eq "P 300
R 200 0" "$(dmsetup message sc1 0 list | sort)" "list"
	# remapped pending bad_spares read_errors write_errors
	assert_eq "1 1 0 2 0" "$(status_field sc1 3 | cut -d/ -f1) $(status_field sc1 4) $(status_field sc1 5) $(status_field sc1 6) $(status_field sc1 7)" "counters"
	assert_eq "0/8192" "$(status_field sc1 9)" "cursor wrapped after the pass"
	since_mark | grep -q "weak block 200 rescued to spare block 0" || fail "no rescue message"
	# The rescued block reads from the spare with its data; the unreadable
	# one fails until it is written.
	blk_read /dev/mapper/sc1 200 512 | cmp - <(dd if=/tmp/p bs=512 skip=200 count=1 status=none)
	grep -q 200 /sys/kernel/config/nullb/sweak/badblocks && fail "main block 200 still marked bad" || true
	! blk_read /dev/mapper/sc1 300 512 >/dev/null 2>&1 || fail "unreadable block read"
	head -c 512 /dev/urandom >/tmp/q
	blk_write /dev/mapper/sc1 300 512 </tmp/q
	blk_read /dev/mapper/sc1 300 512 | cmp - /tmp/q
	assert_eq 0 "$(status_field sc1 4)" "no pending block left"
}

test_scan_cursor_is_persisted_and_the_pass_resumes_after_reload() {
	scan_disk sc2 64 2 scan_rate 5000
	dmsetup message sc2 0 scan start
	sleep 3
	dmsetup message sc2 0 scan stop
	local cursor
	cursor=$(scan_cursor sc2)
	assert_eq stopped "$(scan_state sc2)" "state"
	[ "$cursor" -gt 0 ] && [ "$cursor" -lt 131072 ] || fail "cursor $cursor"
	sleep 1
	assert_eq "$cursor" "$(scan_cursor sc2)" "a stopped scan does not move"
	dmsetup suspend sc2
	dmsetup remove sc2
	dm_create sc2 "$(remap_table /dev/mapper/sdusty /dev/ram1 2 scan_rate 5000)"
	# An interrupted pass continues at once, from the recorded block.
	local now
	now=$(scan_cursor sc2)
	[ "$now" -ge "$cursor" ] || fail "cursor went back: $cursor -> $now"
	assert_eq running "$(scan_state sc2)" "an interrupted pass continues"
	sleep 2
	[ "$(scan_cursor sc2)" -gt "$now" ] || fail "scan did not continue"
	dmsetup message sc2 0 scan stop
}

test_scan_is_rate_limited() {
	scan_disk sc3 64 2 scan_rate 500
	dmsetup message sc3 0 scan start
	sleep 4
	dmsetup message sc3 0 scan stop
	local cursor
	cursor=$(scan_cursor sc3)
	# 4 s at 500 blocks/s plus one burst of 512: at most ~2600 blocks.
	[ "$cursor" -ge 500 ] && [ "$cursor" -le 3100 ] || fail "cursor $cursor after 4 s at 500 blocks/s"
}

test_enable_background_scanning_is_live() {
	scan_disk sc4 64 2 scan_rate 5000
	dmsetup message sc4 0 scan start
	sleep 1
	echo 0 >/sys/module/dm_remap/parameters/enable_background_scanning
	assert_eq off "$(scan_state sc4)" "state with scanning disabled"
	sleep 1
	local a
	a=$(scan_cursor sc4)
	sleep 2
	assert_eq "$a" "$(scan_cursor sc4)" "cursor moved while disabled"
	expect_bad_message sc4 "scan start" "scan start: background scanning is disabled (enable_background_scanning=0)"
	echo 1 >/sys/module/dm_remap/parameters/enable_background_scanning
	sleep 4
	[ "$(scan_cursor sc4)" -gt "$a" ] || fail "scan did not resume when re-enabled"
	dmsetup message sc4 0 scan stop
}

test_scan_rate_zero_turns_the_scanner_off() {
	scan_disk sc5 4 2 scan_rate 0
	assert_eq off "$(scan_state sc5)" "state"
	expect_bad_message sc5 "scan start" "scan start: this device's scan_rate is 0"
}

test_bad_scan_messages_are_refused() {
	scan_disk sc6 4
	expect_bad_message sc6 "scan" "'scan' takes one argument: start or stop"
	expect_bad_message sc6 "scan go" "'scan go': expected start or stop"
	expect_bad_message sc6 "scan start now" "'scan' takes one argument: start or stop"
	assert_eq idle "$(scan_state sc6)" "state unchanged"
}
