# Generated bad input: malformed table lines and invalid messages
# (DMREMAP_GENERATED of each, default 520), each refused with -EINVAL and a
# kernel log line naming the problem; the module stays usable.  Seeded:
# DMREMAP_SEED (default 1).

SEED=${DMREMAP_SEED:-1}
GENERATED=${DMREMAP_GENERATED:-520}
TEST_TIMEOUT=1800

# Tokens that are never a valid value for the field they replace.
BAD_NUMBERS=(abc -1 +1 0x10 1.5 1e3 "" 18446744073709551616 99999999999999999999999 12x " " 0b1 ０ 1,000)
BAD_DEVICES=(/dev/nope /dev/null /dev /tmp 999:999 abc:def 1:1:1 "" /dev/ram9)
BAD_FEATURES=("1 turbo" "2 block_size 3000" "2 block_size 131072" "2 block_size 256" "1 block_size"
	"2 read_retries 17" "2 read_retries x" "2 scan_rate 1000001" "2 scan_rate fast" "1 scan_rate"
	"2 no_auto_remap no_auto_remap" "3 block_size 4096" "two block_size 4096" "4 read_retries 1 read_retries 2"
	"-1" "1" "5 no_auto_remap" "2 block_size 4096 extra" "1 NO_AUTO_REMAP" "2 Block_size 4096")

pick() { # pick ARRAY_NAME -> a random element
	local -n a=$1
	echo "${a[RANDOM % ${#a[@]}]}"
}

# One malformed line: a valid line with one or two fields broken.
bad_line() {
	local main=/dev/ram0 moff=0 spare=/dev/ram1 soff=0 slen=8192 feat="" len=131072
	case $((RANDOM % 8)) in
	0) moff=$(pick BAD_NUMBERS) ;;
	1) soff=$(pick BAD_NUMBERS) ;;
	2) slen=$(pick BAD_NUMBERS) ;;
	3) main=$(pick BAD_DEVICES) ;;
	4) spare=$(pick BAD_DEVICES) ;;
	5) feat=" $(pick BAD_FEATURES)" ;;
	6) moff=$((131072 + RANDOM)) ;;                 # beyond the device
	7) soff=$((RANDOM % 8192)) spare=/dev/ram0 ;;  # spare inside the mapped range
	esac
	[ $((RANDOM % 4)) -ne 0 ] || feat="$feat $(pick BAD_FEATURES)"
	echo "0 $len remap $main $moff $spare $soff $slen$feat"
}

test_generated_malformed_table_lines_are_refused() {
	RANDOM=$SEED
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	local i line tried=0 out
	for i in $(seq 1 "$GENERATED"); do
		line=$(bad_line)
		mark_quiet
		if dmsetup create badgen --table "$line" >/dev/null 2>&1; then
			dmsetup remove badgen
			fail "accepted: $line"
		fi
		out=$(dmesg | sed -n "/$MARK/,\$p")
		echo "$out" | grep -Eq "remap: .*(-22|Invalid|invalid|refused|cannot|Unknown|too|beyond|overlap|twice|not|Too|Missing)|table: .*: (Invalid argument|unknown)" ||
			fail "no clear error for: $line"$'\n'"$out"
		tried=$((tried + 1))
	done
	echo "$tried malformed table lines refused (seed $SEED)"
	# Nothing was written to the blank spare, and a good line still works.
	assert_eq 0 "$(dd if=/dev/ram1 bs=1M count=1 status=none | tr -d '\0' | wc -c)" "spare untouched"
	dm_create good "$(remap_table /dev/ram0 /dev/ram1)"
}

BAD_COMMANDS=(frobnicate REMAP Remap "" "remap" "remap x" "remap -1" "remap 1 2 3" "remap 1 0" "remap 1 x"
	"remap 99999999999999999999" "remap 131072" "remap 131071 2" "list all" "commit now" "help me"
	"reset_stats 1" "scan" "scan go" "scan start now" "scan START" "scan stop 1" "start" "stop"
	"remap 0x10" "remap +5" "remap 1.0" "list -v" "status" "clear" "remap 5 99999999999")

test_generated_invalid_messages_are_refused() {
	RANDOM=$SEED
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dm_create msgs "$(remap_table /dev/ram0 /dev/ram1)"
	local i msg out tried=0
	for i in $(seq 1 "$GENERATED"); do
		msg=$(pick BAD_COMMANDS)
		# Sometimes add junk words after it.
		[ $((RANDOM % 3)) -ne 0 ] || msg="$msg junk$RANDOM"
		[ -n "$msg" ] || msg="remap"
		mark_quiet
		# `--`: words such as -1 are message arguments, not dmsetup options.
		if out=$(dmsetup message msgs 0 -- $msg 2>&1); then fail "accepted: '$msg'"; fi
		echo "$out" | grep -q "Invalid argument" || fail "not EINVAL for '$msg': $out"
		dmesg | sed -n "/$MARK/,\$p" | grep -q "remap: message: " || fail "no kernel message for '$msg'"
		tried=$((tried + 1))
	done
	echo "$tried invalid messages refused (seed $SEED)"
	assert_list_empty msgs "nothing remapped"
	assert_eq "0 0 0 0" "$(status_field msgs 4) $(status_field msgs 5) $(status_field msgs 6) $(status_field msgs 7)" "counters"
}

# mark without the ~1 s cost of a fresh random name per call.
mark_quiet() { MARK="dm-remap-gen-mark-$RANDOM-$SECONDS-$((++MARKS))"; echo "$MARK" >/dev/kmsg; }
MARKS=0
