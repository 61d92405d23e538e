# Helpers for VM tests (sourced by runner.sh and every test).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export DM_DISABLE_UDEV=1

# dmesg lines that fail a test: sanitizers, lockdep, WARN/BUG/Oops.
SPLAT_PATTERN='KASAN|BUG:|WARNING:|Oops|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU|sleeping function called from invalid context|kernel BUG|Call Trace|UBSAN|general protection fault'

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

# Make DEV a blank spare: zero its first MiB (both superblock slots and the
# head of the metadata log).  dm-remap formats a blank spare on first use.
spare_wipe() { dd if=/dev/zero of="$1" bs=1M count=1 oflag=direct status=none; }

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
