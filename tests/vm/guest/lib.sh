# Helpers for VM tests (sourced by runner.sh and every test).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export DM_DISABLE_UDEV=1

# dmesg lines that fail a test (SPLAT_PATTERN).
. /splats.sh

fail() { echo "FAIL: $*" >&2; exit 1; }

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
	echo "ok: $3 = '$2'"
}

# Sizes in 512-byte sectors of a block device.
sectors() { blockdev --getsz "$1"; }

# A fresh zeroed brd disk (/dev/ram0..3 are 64 MiB each).
brd_wipe() { blkdiscard "$1" 2>/dev/null || dd if=/dev/zero of="$1" bs=1M status=none; }

# Memory-backed null_blk through configfs: nullb_create NAME SIZE_MB [BS]
nullb_create() {
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d"
	echo "$2" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo "${3:-512}" >"$d/blocksize"
	echo 1 >"$d/power"
	echo "/dev/$1"
}
nullb_remove() {
	local d=/sys/kernel/config/nullb/$1
	[ -d "$d" ] || return 0
	echo 0 >"$d/power" 2>/dev/null
	rmdir "$d"
}

dm_create() { # dm_create NAME TABLE
	dmsetup create "$1" --table "$2" && dmsetup mknodes "$1"
}

# Remove every dm device and null_blk device left by a test, so the next
# test starts clean even after a failure.
cleanup_all() {
	local n pass
	# A device left suspended would hold its I/O (and a remove) forever.
	for n in $(dmsetup info -c --noheadings -o name,suspended 2>/dev/null | awk -F: '$2 == "Suspended" { print $1 }'); do
		dmsetup resume "$n" 2>/dev/null
	done
	# Stacked devices (remap over dust) go top first: retry until none is
	# left or a pass removes nothing.
	for pass in 1 2 3 4; do
		for n in $(dmsetup ls 2>/dev/null | awk '$1 != "No" {print $1}'); do
			dmsetup remove "$n" 2>/dev/null
		done
		[ -z "$(dmsetup ls 2>/dev/null | awk '$1 != "No"')" ] && break
	done
	for n in $(dmsetup ls 2>/dev/null | awk '$1 != "No" {print $1}'); do
		dmsetup remove --force "$n"
	done
	for n in /sys/kernel/config/nullb/*; do
		[ -d "$n" ] && nullb_remove "$(basename "$n")"
	done
	reset_params
	return 0
}

# Put the live module parameters back to their defaults (a test that
# changes one and fails half-way must not change the next test).
reset_params() {
	local p=/sys/module/dm_remap/parameters kv
	[ -d $p ] || return 0
	for kv in dm_remap_debug=0 enable_background_scanning=1 scan_interval_hours=24 \
		real_device_mode=1 spare_overhead_percent=2 strict_spare_sizing=0; do
		echo "${kv#*=}" >"$p/${kv%%=*}"
	done
}

# The last kernel message lines since a marker: mark; ...; since_mark
mark() { MARK="dm-remap-test-mark-$RANDOM$RANDOM"; echo "$MARK" >/dev/kmsg; }
since_mark() { dmesg | sed -n "/$MARK/,\$p"; }

# Deterministic pattern data: pattern_file FILE SIZE_KIB SEED
pattern_file() {
	local f=$1 kib=$2 seed=$3
	awk -v n=$((kib * 1024 / 16)) -v s="$seed" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%08x%08x", int(rand() * 4294967295), i }' >"$f"
}

# The kernel name of a dm device (dm-N): dm_sysname NAME
dm_sysname() { echo "dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')"; }

# Make DEV a blank spare: zero all of it.  dm-remap formats a spare on first
# use only if its whole metadata footprint (superblock slots, log, and the
# snapshot areas at the end of the region) reads as zero.
# A brd disk is zeroed by discarding it (brd frees the pages; a missing page
# reads as zeros), much faster than writing 64 MiB under KASAN.
spare_wipe() {
	case $1 in
	/dev/ram*) blkdiscard "$1" && return 0 ;;
	esac
	head -c $(($(sectors "$1") * 512)) /dev/zero | dd of="$1" bs=1M iflag=fullblock oflag=direct status=none
}

# remap_table MAIN SPARE [FEATURE ARGS...]: all of MAIN mapped, all of SPARE
# as the spare region.
remap_table() {
	local m=$1 s=$2
	shift 2
	echo "0 $(sectors "$m") remap $m 0 $s 0 $(sectors "$s")${1:+ $*}"
}

# status_field NAME N: the Nth word of the remap status (after "0 len remap").
status_field() { dmsetup status "$1" | awk -v n="$2" '{ print $(n + 3) }'; }

# The number of spare blocks the last format announced in the kernel log.
formatted_spare_blocks() { dmesg | sed -n 's/.*formatted blank spare .* (\([0-9]*\) spare blocks.*/\1/p' | tail -1; }

# Read/write one 512-byte-aligned block of BS bytes: blk_read DEV BLOCK BS
blk_read() { dd if="$1" bs="$3" skip="$2" count=1 iflag=direct status=none; }
blk_write() { dd of="$1" bs="$3" seek="$2" count=1 oflag=direct conv=notrunc status=none; }

# The reboot story's disk: /dev/vdb (a file the host keeps between boots).
# Main is dm-dust over its first 64 MiB (so blocks can fail), the spare is
# its last 16 MiB — a spare region on the same disk.  persist_main BAD...
# creates the dust device with dust blocks BAD (512 bytes each; "N:w" fails
# writes of block N, "N" fails reads and writes) failing from the start, as
# a disk whose bad sectors are still bad after a reboot.
PERSIST_MAIN_SECTORS=131072
PERSIST_SPARE="/dev/vdb 131072 32768"
persist_main() {
	local b
	dmsetup create pdust --table "0 $PERSIST_MAIN_SECTORS dust /dev/vdb 0 512"
	dmsetup mknodes pdust
	for b in "$@"; do
		case $b in
		*:w) dmsetup message pdust 0 addbadblock "${b%:w}" 255 ;;
		*) dmsetup message pdust 0 addbadblock "$b" ;;
		esac
	done
	[ $# -eq 0 ] || dmsetup message pdust 0 enable
}
persist_table() { echo "0 $PERSIST_MAIN_SECTORS remap /dev/mapper/pdust 0 $PERSIST_SPARE"; }

# A message refused with -EINVAL and a kernel log line containing TEXT.
expect_bad_message() { # expect_bad_message DEV "MESSAGE" "DMESG TEXT"
	mark
	local out
	if out=$(dmsetup message "$1" 0 $2 2>&1); then fail "message '$2' was accepted"; fi
	echo "$out" | grep -q 'Invalid argument' || fail "not EINVAL: $out"
	since_mark | grep -F -- "$3" || fail "dmesg lacks '$3'"
}

# ---------------------------------------------------------------------------
# fio results.  fio reports a data mismatch as "<type>: verify failed at
# file ...", "Expected CRC: ..." / "Received CRC: ...", "bad magic header",
# "verify type mismatch" or "verify: bad ..."; FIO_MISMATCH matches each.
FIO_MISMATCH='verify failed|Expected CRC|Received CRC|bad magic|verify: bad|verify type mismatch'
fio_mismatch() { grep -Eiq "$FIO_MISMATCH" "$1"; }
# fio_verified OUT: fio read back everything it wrote with no error and no
# mismatch (also after a SIGINT, which makes its exit status non-zero).
fio_verified() {
	! fio_mismatch "$1" || { cat "$1"; fail "fio: data mismatch"; }
	grep -q "err= 0" "$1" || { cat "$1"; fail "fio: I/O errors"; }
	! grep -q "err= *[1-9]" "$1" || { cat "$1"; fail "fio: I/O errors"; }
	grep -q "READ:" "$1" || { cat "$1"; fail "fio did not read back (verify)"; }
}

# The kernel's remap list of NAME; the message must succeed (a failing
# `list` inside "$(...)" would otherwise read as an empty list).
remap_list() {
	local out
	out=$(dmsetup message "$1" 0 list) || fail "'list' on $1 failed"
	printf '%s\n' "$out"
}
assert_list_empty() { # assert_list_empty NAME WHAT
	local out
	out=$(dmsetup message "$1" 0 list) || fail "$2: 'list' on $1 failed"
	assert_eq "" "$out" "$2"
}

# ---------------------------------------------------------------------------
# A disk with a volatile write cache that loses power (null_blk, configfs).
# nullb_cached NAME SIZE_MB CACHE_MB [BS]: memory-backed, writes land in a
# CACHE_MB cache until a flush or FUA moves them to the store.
nullb_cached() {
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d"
	echo "$2" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo "$3" >"$d/cache_size"
	echo "${4:-512}" >"$d/blocksize"
	echo 1 >"$d/power"
	echo "/dev/$1"
}
# power_cut NAME: the disk goes away and its cache with it (what was flushed
# stays); the dm devices above it must be removed before power_on.
power_cut() { echo 0 >"/sys/kernel/config/nullb/$1/power"; }
# power_on NAME: the same disk comes back with its flushed contents.
power_on() {
	echo 1 >"/sys/kernel/config/nullb/$1/power"
	local i
	for i in $(seq 1 50); do [ -b "/dev/$1" ] && return 0; sleep 0.1; done
	fail "/dev/$1 did not come back after power on"
}

# A disk that grows bad ranges (null_blk badblocks: I/O to the range fails
# with an I/O error until cleared; unlike dm-dust, a write does not clear it).
# nullb_bad NAME +START-END | -START-END (sectors); badblocks_once and
# badblocks_partial_io are set on the device directory directly.
nullb_bad() { echo "$2" >"/sys/kernel/config/nullb/$1/badblocks"; }

# A linear table over DEV with error (or write-failing) ranges stitched in,
# loaded live under a dm device: errtable DEV LEN RANGE... where RANGE is
# START:COUNT (reads and writes fail: dm `error`) or START:COUNT:w (writes
# fail: dm-flakey error_writes, always down).  Sectors.  errdev_load NAME
# DEV LEN RANGE... reloads NAME (created by errdev_create) with that table
# while everything above it keeps running.
errtable() {
	local dev=$1 len=$2 pos=0 r s c
	shift 2
	for r in $(printf '%s\n' "$@" | sort -t: -k1,1n); do
		IFS=: read -r s c w <<<"$r"
		[ "$s" -ge "$pos" ] || fail "errtable: ranges overlap at $s"
		[ "$s" -eq "$pos" ] || echo "$pos $((s - pos)) linear $dev $pos"
		if [ "${w:-}" = w ]; then
			echo "$s $c flakey $dev $s 0 1 1 error_writes"
		else
			echo "$s $c error"
		fi
		pos=$((s + c))
		w=
	done
	[ "$pos" -ge "$len" ] || echo "$pos $((len - pos)) linear $dev $pos"
}
errdev_create() { # errdev_create NAME DEV [RANGE...]
	local name=$1 dev=$2
	shift 2
	errtable "$dev" "$(sectors "$dev")" "$@" | dmsetup create "$name"
	dmsetup mknodes "$name"
}
errdev_load() { # errdev_load NAME DEV [RANGE...]
	local name=$1 dev=$2
	shift 2
	errtable "$dev" "$(sectors "$dev")" "$@" | dmsetup load "$name"
	dmsetup suspend --noflush "$name"
	dmsetup resume "$name"
}

# I/O at busy blocks: busy_fio DEV FIRST_BLOCK NBLOCKS BS SECONDS OUT starts
# verified fio (random reads and writes, qd 16, crc32c, every error fatal)
# on a small region in the background, its pid in BUSY_PID; busy_fio_check
# OUT PID waits for it and fails on any I/O or verify error.
busy_fio() {
	local dev=$1 first=$2 n=$3 bs=$4 secs=$5 out=$6
	fio --name=busy --filename="$dev" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randrw --bs="$bs" --offset=$((first * bs)) --size=$((n * bs)) \
		--verify=crc32c --verify_fatal=1 --verify_backlog=16 --verify_state_save=0 \
		--time_based --runtime="$secs" --output="$out" >/dev/null 2>&1 &
	BUSY_PID=$!
}
busy_fio_check() {
	local rc=0
	wait "$2" || rc=$?
	! fio_mismatch "$1" || { cat "$1"; fail "busy fio: data mismatch"; }
	[ $rc -eq 0 ] && grep -q "err= 0" "$1" || { cat "$1"; fail "busy fio: exit $rc, I/O errors"; }
}
