# Damaged and truncated metadata, loaded by the kernel.  A spare with a
# known committed state (a full log compacted into a snapshot, then single
# and multi-block commits) is damaged one byte at a time across both
# superblock slots, the log (written blocks, the last one, blocks past the
# end) and both snapshot areas, and cut short in several ways.  Every load
# must either refuse with a reason in the kernel log (EINVAL, nothing
# written to the spare) or come up with the committed state, minus at most
# the last commit when the damaged block is the log's last block (a torn
# write looks the same), with every block's data intact.  The runner adds:
# no KASAN/lockdep/WARN/BUG line.  Needs the dm-remap CLI in the guest.

# Slow on the debug kernel (KASAN under TCG): a generous per-test limit.
TEST_TIMEOUT=2400

SPARE_SECTORS=16384 # 8 MiB: a 32-block log that fills and compacts
DATA_BLOCKS=1024    # 4 MiB of known data at the start of main

# Field of the good image's `dm-remap dump --json`.
layout_field() { grep -o "\"$1\": *[0-9]*" /tmp/good.json | head -1 | grep -o '[0-9]*$'; }

# Builds /tmp/good.img (the spare), /tmp/good.list (its remaps, sorted),
# /tmp/data (main's first 4 MiB) and /tmp/last (the block of the last
# commit).
make_good_spare() {
	command -v dm-remap >/dev/null || fail "needs the dm-remap CLI in the guest (DM_REMAP_GUEST_CLI)"
	brd_wipe /dev/ram0
	brd_wipe /dev/ram1
	dm_create sp "0 $SPARE_SECTORS linear /dev/ram1 0"
	dm_create rm "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/mapper/sp 0 $SPARE_SECTORS 2 block_size 4096"
	pattern_file /tmp/data 4096 77
	dd if=/tmp/data of=/dev/mapper/rm bs=1M oflag=direct status=none
	local b
	# 41 one-block commits overflow the 32-block log into a snapshot.
	for b in $(seq 3 11 443); do dmsetup message rm 0 remap "$b"; done
	# A commit of 300 records spans two log blocks.
	dmsetup message rm 0 remap 600 300
	for b in 450 460 470; do dmsetup message rm 0 remap "$b"; done
	echo 470 >/tmp/last
	dmsetup message rm 0 list | awk '$1 == "R" {print $2}' | sort -n >/tmp/good.list
	assert_eq 344 "$(wc -l </tmp/good.list)" "remaps in the good state"
	dmsetup remove rm
	dd if=/dev/mapper/sp of=/tmp/good.img bs=1M iflag=direct status=none
	dmsetup remove sp
	dm-remap check /tmp/good.img --main-size "$(sectors /dev/ram0)" || fail "good image does not check"
	dm-remap dump --json /tmp/good.img >/tmp/good.json
	[ "$(layout_field snapshot_entries)" -gt 0 ] || fail "no snapshot in the good state: $(cat /tmp/good.json)"
}

# load_damaged NAME: writes /tmp/bad.img to the spare and loads it; checks
# the outcome as described at the top.  Prints "refused" or "loaded".
load_damaged() {
	local name=$1 table out
	dd if=/tmp/bad.img of=/dev/ram1 bs=1M oflag=direct status=none
	dm_create sp "0 $SPARE_SECTORS linear /dev/ram1 0"
	table="0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/mapper/sp 0 $SPARE_SECTORS 2 block_size 4096"
	mark
	if ! out=$(dmsetup create rm --table "$table" 2>&1); then
		echo "$out" | grep -q "Invalid argument" || fail "$name: refused without EINVAL: $out"
		since_mark | grep -q "device-mapper: remap: spare .*: " ||
			fail "$name: refused without a reason in the kernel log: $(since_mark | tail -5)"
		dd if=/dev/mapper/sp bs=1M iflag=direct status=none | cmp -s - /tmp/bad.img ||
			fail "$name: a refused load wrote to the spare"
		dm-remap check /dev/mapper/sp --main-size "$(sectors /dev/ram0)" >/dev/null 2>&1 &&
			fail "$name: the kernel refused what dm-remap check accepts"
		echo "$name: refused: $(since_mark | grep -o 'device-mapper: remap: spare .*' | head -1)"
		dmsetup remove sp
		echo refused >/tmp/outcome
		: >/tmp/lost
		return 0
	fi
	dmsetup mknodes rm
	dmsetup message rm 0 list | awk '$1 == "R" {print $2}' | sort -n >/tmp/have
	grep -vxF -f /tmp/good.list /tmp/have >/tmp/extra || true
	[ ! -s /tmp/extra ] || fail "$name: loaded remaps that were never made: $(head -5 /tmp/extra | xargs)"
	grep -vxF -f /tmp/have /tmp/good.list >/tmp/lost || true
	if [ -s /tmp/lost ] && ! cmp -s /tmp/lost /tmp/last; then
		fail "$name: loaded without committed remaps: $(head -5 /tmp/lost | xargs)"
	fi
	dd if=/dev/mapper/rm bs=1M count=4 iflag=direct status=none | cmp - /tmp/data ||
		fail "$name: data differs after loading"
	dmsetup remove rm
	dm-remap check /dev/mapper/sp --main-size "$(sectors /dev/ram0)" >/dev/null ||
		fail "$name: metadata does not check after the load"
	dmsetup remove sp
	echo "$name: loaded, $(wc -l </tmp/have) remaps"
	echo loaded >/tmp/outcome
}

# damage_byte NAME SECTOR OFFSET EXPECT: flips the byte at OFFSET of the
# metadata block at SECTOR and loads; EXPECT is refused, loaded or either.
damage_byte() {
	local name=$1 sector=$2 offset=$3 expect=$4 pos old
	pos=$((sector * 512 + offset))
	cp /tmp/good.img /tmp/bad.img
	old=$(od -An -tu1 -j "$pos" -N1 /tmp/bad.img | tr -d ' ')
	printf "\\$(printf %03o $((old ^ 0xff)))" | dd of=/tmp/bad.img bs=1 seek="$pos" conv=notrunc status=none
	load_damaged "$name+$offset"
	[ "$expect" = either ] || assert_eq "$expect" "$(cat /tmp/outcome)" "$name+$offset"
	if [ "$expect" = loaded ] && [ -s /tmp/lost ]; then
		fail "$name+$offset: damage outside the state lost remaps: $(xargs </tmp/lost)"
	fi
	CASES=$((CASES + 1))
}

test_every_damaged_metadata_byte_is_refused_or_recovered() {
	make_good_spare
	local generation slot other log_start next snap other_snap used b off
	generation=$(layout_field generation)
	log_start=$(layout_field log_start)
	next=$(layout_field next_block)
	used=$(layout_field snapshot_used_blocks)
	if [ $((generation % 2)) -eq 0 ]; then
		slot=0 other=8 snap=$(layout_field snapshot_a_start) other_snap=$(layout_field snapshot_b_start)
	else
		slot=8 other=0 snap=$(layout_field snapshot_b_start) other_snap=$(layout_field snapshot_a_start)
	fi
	[ "$next" -ge 4 ] || fail "log too short for the test: $next blocks"
	CASES=0
	# The superblock in use: every documented field, reserved bytes and the
	# checksum.  Its generation has logged, so the older slot must not load.
	for off in 0 8 12 16 24 32 48 64 80 96 104 112 120 128 136 144 152 160 168 512 4092; do
		damage_byte "superblock-in-use" "$slot" "$off" refused
	done
	# The older slot is not used: damage to it changes nothing.
	for off in 0 24 4092; do damage_byte "superblock-older" "$other" "$off" loaded; done
	# Log blocks before the last one: a later commit follows, so refused.
	for b in 0 1 $((next / 2)) $((next - 2)); do
		for off in 0 16 24 40 48 64 72 256 4092; do
			damage_byte "log-$b" $((log_start + 8 * b)) "$off" refused
		done
	done
	# The last log block: indistinguishable from a torn last commit.
	for off in 0 24 40 64 4092; do
		damage_byte "log-last" $((log_start + 8 * (next - 1))) "$off" either
	done
	# Past the end of the log: stale blocks, never read as state.
	for off in 0 24 4092; do damage_byte "log-past-end" $((log_start + 8 * next)) "$off" loaded; done
	# The snapshot in use: its info block, first entry block, last block.
	for b in 0 1 $((used - 1)); do
		for off in 0 24 64 256 4092; do
			damage_byte "snapshot-$b" $((snap + 8 * b)) "$off" refused
		done
	done
	# The other snapshot area belongs to an older generation.
	for off in 0 64; do damage_byte "snapshot-older" "$other_snap" "$off" loaded; done
	echo "$CASES damaged-byte loads checked"
	[ "$CASES" -ge 80 ] || fail "only $CASES cases"
}

test_truncated_spares_are_refused_with_a_reason() {
	make_good_spare
	local data_start snap_a snap_b len cases=0
	data_start=$(layout_field data_start)
	snap_a=$(layout_field snapshot_a_start)
	snap_b=$(layout_field snapshot_b_start)
	dd if=/tmp/good.img of=/dev/ram1 bs=1M oflag=direct status=none
	for len in 8 16 64 "$data_start" $((data_start + 8)) "$snap_a" "$snap_b" $((SPARE_SECTORS - 8)); do
		# The spare device itself is shorter, and the table says so.
		dm_create spt "0 $len linear /dev/ram1 0"
		mark
		if out=$(dmsetup create rt --table "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/mapper/spt 0 $len 2 block_size 4096" 2>&1); then
			fail "a spare cut to $len sectors loaded"
		fi
		echo "$out" | grep -q "Invalid argument" || fail "cut to $len: not EINVAL: $out"
		since_mark | grep -q "device-mapper: remap: " || fail "cut to $len: no reason in the kernel log"
		echo "cut to $len sectors: $(since_mark | grep -o 'device-mapper: remap: .*' | head -1)"
		# The table claims the old length on the shorter device: dm core
		# or the target refuses it too.
		mark
		if out=$(dmsetup create rt --table "0 $(sectors /dev/ram0) remap /dev/ram0 0 /dev/mapper/spt 0 $SPARE_SECTORS 2 block_size 4096" 2>&1); then
			fail "a spare cut to $len sectors loaded with the old length"
		fi
		echo "$out" | grep -q "Invalid argument" || fail "cut to $len, old length: not EINVAL: $out"
		since_mark | grep -qE "device-mapper: (remap|table): " || fail "cut to $len, old length: no reason logged"
		dmsetup remove spt
		cases=$((cases + 2))
	done
	# A copy cut short: the tail (both snapshot areas) reads as zeros.
	for len in "$snap_a" "$snap_b"; do
		cp /tmp/good.img /tmp/bad.img
		dd if=/dev/zero of=/tmp/bad.img bs=512 seek="$len" count=$((SPARE_SECTORS - len)) conv=notrunc status=none
		load_damaged "copy-cut-at-$len"
		assert_eq refused "$(cat /tmp/outcome)" "copy cut at $len"
		cases=$((cases + 1))
	done
	# Nothing was written to the spare by any refusal.
	dd if=/dev/ram1 bs=512 count="$SPARE_SECTORS" iflag=direct status=none | cmp - /tmp/bad.img ||
		fail "the spare changed"
	echo "$cases truncated-spare loads refused"
}
