# Crash consistency, the xfstests generic/482 way: dm-log-writes under the
# spare records every write of a workload with many remaps; the log is then
# replayed onto a blank disk up to every FLUSH/FUA point, and at each point
# the metadata must check clean, the target must load over it, every remap
# acknowledged before that point must be there, and remapped blocks must
# hold their data.  Needs the dm-remap CLI in the guest (run-crash in
# tests/run-all.sh passes DM_REMAP_GUEST_CLI).
#
# ram0: main (under dust), ram1: spare (under log-writes), ram2: the log,
# ram3: where the log is replayed.

# Slow on the debug kernel (KASAN under TCG): a generous per-test limit.
TEST_TIMEOUT=2400

MAIN_BLOCKS=16384 # 64 MiB in 4 KiB blocks

# Expected content of main block B after the workload's first write.
block_data() { pattern_file /tmp/blk.$1 4 $((1000 + $1)); cat /tmp/blk.$1; }

test_every_flush_point_of_a_remap_workload_recovers() {
	brd_wipe /dev/ram0
	brd_wipe /dev/ram1
	brd_wipe /dev/ram2
	dmsetup create cdust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dmsetup create lw --table "0 $(sectors /dev/ram1) log-writes /dev/ram1 /dev/ram2"
	dmsetup mknodes
	local table="0 $(sectors /dev/ram0) remap /dev/mapper/cdust 0 /dev/mapper/lw 0 $(sectors /dev/ram1) 2 block_size 4096"
	dm_create rm "$table"
	dmsetup message lw 0 mark created
	# 1. The first 8 MiB get known data; then blocks fail under fio.
	pattern_file /tmp/p 8192 81
	dd if=/tmp/p of=/dev/mapper/rm bs=1M oflag=direct status=none
	local b
	for b in 300 301 700 1500 1900; do dmsetup message cdust 0 addbadblock $b 255; done
	dmsetup message cdust 0 enable
	fio --name=w --filename=/dev/mapper/rm --direct=1 --ioengine=libaio --iodepth=4 --rw=randwrite \
		--bs=4k --offset=1M --size=7M --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=1 \
		--output=/tmp/fio.out || { cat /tmp/fio.out; fail "fio verify failed"; }
	# Blocks remapped by now are acknowledged before this mark.
	dmsetup message lw 0 mark fio-done
	dmsetup message rm 0 list | awk '{print $2}' >/tmp/acked.fio
	# 2. Manual remaps of blocks with known data, each marked once acked.
	for b in $(seq 10 7 250); do
		dmsetup message rm 0 remap $b
		dmsetup message lw 0 mark "ack-$b"
	done
	local remapped
	remapped=$(status_field rm 3 | cut -d/ -f1)
	dmsetup remove rm
	dmsetup remove lw
	# The replay points.
	dm-remap replay-log --log /dev/ram2 --list >/tmp/log.list
	dm-remap replay-log --log /dev/ram2 --fua-points >/tmp/points
	local created fio_done
	created=$(awk '$5 == "created" {print $1}' /tmp/log.list)
	fio_done=$(awk '$5 == "fio-done" {print $1}' /tmp/log.list)
	[ -n "$created" ] && [ -n "$fio_done" ] || fail "marks missing from the log"
	local n=0 point expect list
	for point in $(cat /tmp/points); do
		blkdiscard /dev/ram3 2>/dev/null || brd_wipe /dev/ram3
		dm-remap replay-log --log /dev/ram2 --target /dev/ram3 --until-entry "$point" >/dev/null
		if [ "$point" -gt "$created" ]; then
			dm-remap check /dev/ram3 --main-size "$(sectors /dev/ram0)" >/tmp/check.out 2>&1 ||
				fail "point $point: check failed: $(cat /tmp/check.out)"
		elif ! dm-remap check /dev/ram3 >/tmp/check.out 2>&1; then
			# Before the target finished loading the spare may still be blank.
			grep -q "blank" /tmp/check.out || fail "point $point (before load): $(cat /tmp/check.out)"
		fi
		dm_create rp "0 $(sectors /dev/ram0) remap /dev/mapper/cdust 0 /dev/ram3 0 $(sectors /dev/ram3) 2 block_size 4096" ||
			fail "point $point: the target does not load"
		dmsetup message rp 0 list | awk '{print $2}' | sort -n >/tmp/have
		# Acknowledged before this point: fio's remaps if past its mark,
		# and each manual remap whose ack mark is before the point.
		{
			[ "$point" -gt "$fio_done" ] && cat /tmp/acked.fio
			awk -v p="$point" '$4 ~ /MARK/ && $5 ~ /^ack-/ && $1 < p { sub("ack-", "", $5); print $5 }' /tmp/log.list
		} | sort -n >/tmp/expect
		grep -vxF -f /tmp/have /tmp/expect >/tmp/missing || true
		[ ! -s /tmp/missing ] || fail "point $point: acknowledged remaps missing: $(xargs </tmp/missing)"
		# Manually remapped blocks hold the data written in step 1.
		for b in $(awk -v p="$point" '$4 ~ /MARK/ && $5 ~ /^ack-/ && $1 < p { sub("ack-", "", $5); print $5 }' /tmp/log.list); do
			cmp <(blk_read /dev/mapper/rp "$b" 4096) <(dd if=/tmp/p bs=4096 skip="$b" count=1 status=none) ||
				fail "point $point: data of remapped block $b"
		done
		dmsetup remove rp
		n=$((n + 1))
	done
	[ "$n" -ge 20 ] || fail "only $n replay points"
	echo "$n replay points checked ($remapped remaps in the workload, $(wc -l </tmp/log.list) log entries)"
}
