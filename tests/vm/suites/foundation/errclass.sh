# Which errors remap blocks, and what the target writes on a bio's behalf.
#
# - Only media errors (BLK_STS_IOERR, BLK_STS_MEDIUM) may consume spare
#   blocks or mark blocks pending; anything else goes up unchanged.  The
#   one non-media error the guest can produce is BLK_STS_NOSPC, from a full
#   dm-thin pool with error_if_no_space (dm `error`, dust, flakey and
#   null_blk badblocks all report BLK_STS_IOERR); the rest of the
#   classification is covered by the engine's host tests
#   (src/engine/policy.rs).
# - A write rewritten on its block's existing spare block (the spare failed
#   it once) carries the bio's FUA: no commit follows that would flush it.
# - Write-zeroes starting at a pending block is split like any write, so
#   remapped blocks further on are zeroed on the spare.

# nullb_cached_once NAME SIZE_MB CACHE_MB BS: as nullb_cached, with
# badblocks_once set (it can only be set while the device is off): each
# bad range fails one I/O and is then cleared.
nullb_cached_once() {
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d"
	echo "$2" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo "$3" >"$d/cache_size"
	echo "$4" >"$d/blocksize"
	echo 1 >"$d/badblocks_once"
	echo 1 >"$d/power"
}

test_nospc_from_a_full_thin_main_goes_up_and_uses_no_spare() {
	brd_wipe /dev/ram2
	brd_wipe /dev/ram3
	spare_wipe /dev/ram1
	# An 8 MiB pool (128 data blocks of 64 KiB) under a 64 MiB thin volume;
	# error_if_no_space: a write that needs a new block once the pool is
	# full fails at once with BLK_STS_NOSPC.
	dmsetup create ecpool --table "0 16384 thin-pool /dev/ram2 /dev/ram3 128 0 1 error_if_no_space"
	dmsetup message ecpool 0 "create_thin 0"
	dmsetup create ecthin --table "0 131072 thin /dev/mapper/ecpool 0"
	dmsetup mknodes ecthin
	dm_create ecn "$(remap_table /dev/mapper/ecthin /dev/ram1)"
	local out rc=0
	out=$(dd if=/dev/zero of=/dev/mapper/ecn bs=64k count=256 oflag=direct 2>&1) || rc=$?
	echo "$out"
	[ $rc -ne 0 ] || fail "16 MiB written to a thin volume whose pool holds 8 MiB: NOSPC was remapped away"
	echo "$out" | grep -q "No space left on device" || fail "dd did not fail with ENOSPC"
	assert_eq 0 "$(status_field ecn 3 | cut -d/ -f1)" "remapped blocks"
	assert_list_empty ecn "remap list"
	assert_eq 0 "$(status_field ecn 4)" "pending blocks"
	assert_eq 0 "$(status_field ecn 5)" "bad spare blocks"
	assert_eq "0 0" "$(status_field ecn 6) $(status_field ecn 7)" "read/write errors"
	assert_eq ok "$(status_field ecn 2)" "mode"
	# Reads of what fitted still work, and the device stays usable.
	dd if=/dev/mapper/ecn of=/dev/null bs=64k count=128 iflag=direct status=none
	dmsetup remove ecn
	dmsetup remove ecthin
	dmsetup remove ecpool
}

test_fua_write_rewritten_on_its_spare_block_survives_a_power_cut() {
	command -v dm-remap >/dev/null || fail "needs the dm-remap CLI in the guest (DM_REMAP_GUEST_CLI)"
	nullb_cached fq 16 16 4096 >/dev/null
	nullb_cached_once fqs 8 8 4096
	local table="0 $(sectors /dev/fq) remap /dev/fq 0 /dev/fqs 0 $(sectors /dev/fqs) 2 block_size 4096"
	dm_create fqr "$table"
	dmsetup message fqr 0 remap 5
	assert_eq "R 5 0" "$(remap_list fqr)" "remapped block"
	# Where block 5 lives on the spare (the remap was committed: flushed).
	blockdev --flushbufs /dev/fqs
	local s
	s=$(dm-remap dump --json /dev/fqs | grep -o '"spare_sector": *[0-9]*' | grep -o '[0-9]*$' | sed -n 1p)
	[ -n "$s" ] || fail "no spare_sector in the dump"
	# The next write to that spare block fails once (a media error): the
	# worker writes it again on the same spare block, and no commit follows.
	nullb_bad fqs "+$s-$((s + 7))"
	pattern_file /tmp/p 4 81
	# O_DIRECT|O_DSYNC: one FUA write, acknowledged only once durable.
	dd if=/tmp/p of=/dev/mapper/fqr bs=4k seek=5 count=1 oflag=direct,dsync conv=notrunc status=none ||
		fail "FUA write to the remapped block failed"
	assert_eq "R 5 0" "$(remap_list fqr)" "still on its spare block"
	power_cut fq
	power_cut fqs
	dmsetup remove fqr
	power_on fq
	power_on fqs
	dm_create fqr "$table"
	assert_eq "R 5 0" "$(remap_list fqr)" "remap after the power cut"
	blk_read /dev/mapper/fqr 5 4096 >/tmp/r
	cmp /tmp/p /tmp/r || fail "acknowledged FUA write lost in the power cut (rewritten without FUA)"
	dmsetup remove fqr
}

test_write_zeroes_from_a_pending_block_zeroes_remapped_blocks_after_it() {
	# Loop devices over tmpfs files: the only guest disks that take
	# REQ_OP_WRITE_ZEROES (a punched hole), so the target advertises it.
	mkdir -p /mnt/ecwz
	mount -t tmpfs -o size=64m tmpfs /mnt/ecwz
	dd if=/dev/zero of=/mnt/ecwz/main bs=1M count=16 status=none
	dd if=/dev/zero of=/mnt/ecwz/spare bs=1M count=8 status=none
	local lm ls
	lm=$(losetup -f)
	losetup "$lm" /mnt/ecwz/main
	ls=$(losetup -f)
	losetup "$ls" /mnt/ecwz/spare
	trap 'dmsetup remove ecwz 2>/dev/null; dmsetup remove ecwzm 2>/dev/null; losetup -d '"$lm"' 2>/dev/null; losetup -d '"$ls"' 2>/dev/null; umount /mnt/ecwz 2>/dev/null' EXIT
	# Main is a linear table over its loop device, reloaded live with an
	# error range to make one read fail.
	errdev_create ecwzm "$lm"
	dm_create ecwz "0 $(sectors "$lm") remap /dev/mapper/ecwzm 0 $ls 0 $(sectors "$ls") 2 block_size 4096"
	pattern_file /tmp/p 64 91
	dd if=/tmp/p of=/dev/mapper/ecwz bs=4k count=16 oflag=direct status=none
	# Blocks 3 and 5-6 remapped (their data copied to the spare) ...
	dmsetup message ecwz 0 remap 3
	dmsetup message ecwz 0 remap 5 2
	# ... and block 0 pending: its read fails (dm `error`, a media error).
	errdev_load ecwzm "$lm" 0:8
	if blk_read /dev/mapper/ecwz 0 4096 >/dev/null 2>&1; then fail "read of block 0 did not fail"; fi
	errdev_load ecwzm "$lm"
	assert_eq "P 0 R 3 R 5 R 6" "$(remap_list ecwz | awk '{ print $1, $2 }' | sort -k2 -n | xargs)" "pending and remapped blocks"
	# Write-zeroes over blocks 0-15 (fallocate --punch-hole on a block
	# device: REQ_OP_WRITE_ZEROES, no fallback to writing zero pages).
	fallocate -p -o 0 -l $((16 * 4096)) /dev/mapper/ecwz ||
		fail "write-zeroes through the target failed (not supported?)"
	dd if=/dev/zero of=/tmp/z bs=4k count=16 status=none
	dd if=/dev/mapper/ecwz of=/tmp/r bs=4k count=16 iflag=direct status=none
	local b
	for b in $(seq 0 15); do
		cmp <(dd if=/tmp/r bs=4k skip=$b count=1 status=none) <(dd if=/tmp/z bs=4k count=1 status=none) >/dev/null ||
			fail "block $b not zeroed by write-zeroes ($(remap_list ecwz | grep -w "$b" || echo on main))"
	done
	# Nothing was remapped or retired by it.
	assert_eq "R 3 R 5 R 6" "$(remap_list ecwz | awk '$1 == "R" { print $1, $2 }' | sort -k2 -n | xargs)" "remaps after write-zeroes"
	assert_eq 0 "$(status_field ecwz 5)" "bad spare blocks"
}
