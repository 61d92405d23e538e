# Power cut in the middle of commits: the spare sits on dm-flakey, and at a
# random moment of a workload that commits remaps without pause (manual
# remaps, and writes to bad blocks that remap themselves) its table is
# swapped for `drop_writes`: from then on nothing reaches the disk, exactly
# as if the power had gone.  The target is then torn down and loaded again
# over the bare disks.  Every remap acknowledged before the cut must be
# there, `dm-remap check` must pass, and every block must read back the
# data written before the cut.  Seeded: DMREMAP_SEED (printed) and
# DMREMAP_POWERCUT_TRIALS (default 20).

# Slow on the debug kernel (KASAN under TCG): a generous per-test limit.
TEST_TIMEOUT=2400

SPARE_SECTORS=16384 # 8 MiB: a 32-block log, so cuts also land in snapshots
MAIN_SECTORS=8192   # 4 MiB of known data, 1024 blocks

powercut_trial() {
	local trial=$1 delay bad b
	brd_wipe /dev/ram0
	brd_wipe /dev/ram1
	dd if=/tmp/data of=/dev/ram0 bs=1M oflag=direct status=none
	dmsetup create pdust --table "0 $MAIN_SECTORS dust /dev/ram0 0 4096"
	dmsetup create pspare --table "0 $SPARE_SECTORS linear /dev/ram1 0"
	dmsetup mknodes
	dm_create pc "0 $MAIN_SECTORS remap /dev/mapper/pdust 0 /dev/mapper/pspare 0 $SPARE_SECTORS 2 block_size 4096"
	# Bad blocks in 512..1023; blocks 0..511 are remapped by hand.
	bad=$(awk -v s=$((SEED + trial)) 'BEGIN { srand(s); for (i = 0; i < 60; i++) print 512 + int(rand() * 512) }' | sort -un)
	for b in $bad; do dmsetup message pdust 0 addbadblock "$b" 255; done
	dmsetup message pdust 0 enable
	(
		for b in $(awk -v s=$((SEED + trial)) 'BEGIN { srand(s); for (i = 0; i < 512; i++) print int(rand() * 512) }'); do
			dmsetup message pc 0 remap "$b" 2>/dev/null || true
		done
	) &
	local manual=$!
	(
		for b in $bad; do
			dd if=/tmp/data of=/dev/mapper/pc bs=4096 skip="$b" seek="$b" count=1 oflag=direct conv=notrunc status=none || true
		done
	) &
	local writer=$!
	delay=$(awk -v s=$((SEED * 7 + trial)) 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 4 }')
	sleep "$delay"
	# Acknowledged before the cut: everything the target lists now.
	dmsetup message pc 0 list | awk '$1 == "R" {print $2}' | sort -n >/tmp/acked
	dmsetup load pspare --table "0 $SPARE_SECTORS flakey /dev/ram1 0 0 3600 1 drop_writes"
	dmsetup suspend --noflush pspare
	dmsetup resume pspare
	kill "$manual" "$writer" 2>/dev/null || true
	wait "$manual" "$writer" 2>/dev/null || true
	dmsetup remove pc
	dmsetup remove pspare
	dmsetup remove pdust
	# Power back: the bare disks.
	dm-remap check /dev/ram1 --main-size "$MAIN_SECTORS" >/tmp/check.out 2>&1 ||
		fail "trial $trial (cut after ${delay}s): check: $(cat /tmp/check.out)"
	dm_create pc "0 $MAIN_SECTORS remap /dev/ram0 0 /dev/ram1 0 $SPARE_SECTORS 2 block_size 4096" ||
		fail "trial $trial: the target does not load after the cut"
	dmsetup message pc 0 list | awk '$1 == "R" {print $2}' | sort -n >/tmp/have
	grep -vxF -f /tmp/have /tmp/acked >/tmp/missing || true
	[ ! -s /tmp/missing ] || fail "trial $trial (cut after ${delay}s): acknowledged remaps lost: $(xargs </tmp/missing)"
	dd if=/dev/mapper/pc bs=1M iflag=direct status=none | cmp - /tmp/data ||
		fail "trial $trial (cut after ${delay}s): data differs"
	dmsetup remove pc
	echo "trial $trial: cut after ${delay}s, $(wc -l </tmp/acked) remaps acknowledged before it, $(wc -l </tmp/have) after reload"
	ACKED=$((ACKED + $(wc -l </tmp/acked)))
}

test_power_cut_at_random_moments_keeps_every_acknowledged_remap() {
	command -v dm-remap >/dev/null || fail "needs the dm-remap CLI in the guest (DM_REMAP_GUEST_CLI)"
	SEED=${DMREMAP_SEED:-$((RANDOM * 32768 + RANDOM))}
	local trials=${DMREMAP_POWERCUT_TRIALS:-20} t
	echo "seed $SEED, $trials trials"
	pattern_file /tmp/data 4096 $((SEED % 1000))
	ACKED=0
	for t in $(seq 1 "$trials"); do powercut_trial "$t"; done
	echo "$trials power cuts, $ACKED acknowledged remaps checked, 0 lost"
	[ "$ACKED" -gt 0 ] || fail "no remap was acknowledged before any cut"
}
