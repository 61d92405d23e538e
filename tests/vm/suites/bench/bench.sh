# `make bench` inside the VM (perf kernel): fio on null_blk through raw,
# dm-linear and remap with 0, 1 000 and 100 000 remaps.  Writes
# /results/bench.csv (config,job,run,iops) and /results/bench-extra.txt;
# tests/bench/run.sh turns them into the table and the plot.

RUNS=${DMREMAP_RUNS:-5}
RUNTIME=${DMREMAP_RUNTIME:-3}
MAIN_MB=8192 SPARE_MB=1024

# A null_blk that stores nothing: the fastest block device there is, so
# the target's own cost shows.  The spare stores nothing either (main and
# spare are the same kind of device, so remapped I/O is comparable); the
# target never reads its metadata back while it runs, and a spare that
# reads as zeros is formatted on load.
nb() { # nb NAME SIZE_MB MEMORY_BACKED
	local d=/sys/kernel/config/nullb/$1
	mkdir "$d"
	echo "$2" >"$d/size"
	echo "$3" >"$d/memory_backed"
	echo 4096 >"$d/blocksize"
	echo 0 >"$d/irqmode"
	echo 2 >"$d/queue_mode"
	echo 2 >"$d/submit_queues"
	echo 64 >"$d/hw_queue_depth"
	echo 1 >"$d/power"
}

# fio_iops DEV JOB OFFSET SIZE -> IOPS (read + write), from terse output.
fio_iops() {
	local dev=$1 job=$2 off=$3 size=$4 args
	case $job in
	randread4k) args="--rw=randread --bs=4k --iodepth=32" ;;
	randwrite4k) args="--rw=randwrite --bs=4k --iodepth=32" ;;
	seqread128k) args="--rw=read --bs=128k --iodepth=32" ;;
	seqwrite128k) args="--rw=write --bs=128k --iodepth=32" ;;
	fsyncwrite4k) args="--rw=randwrite --bs=4k --iodepth=1 --fsync=1" ;;
	esac
	fio --name=b --filename="$dev" --direct=1 --ioengine=libaio $args --offset="$off" --size="$size" \
		--time_based --runtime="$RUNTIME" --norandommap --randrepeat=0 --minimal |
		awk -F';' '{ printf "%d\n", $8 + $49 }'
}

mem_kib() { awk -v k="$1" '$1 == k":" { print $2 }' /proc/meminfo; }

test_bench() {
	nb nbmain $MAIN_MB 0
	nb nbspare $SPARE_MB 0
	local main=/dev/nbmain spare=/dev/nbspare n
	n=$(sectors $main)
	dmsetup create lin --table "0 $n linear $main 0"
	spare_wipe $spare
	local vb sb
	vb=$(mem_kib VmallocUsed) sb=$(mem_kib Slab)
	dm_create rm0 "0 $n remap $main 0 $spare 0 $(sectors $spare) 2 block_size 4096"
	local capacity
	capacity=$(status_field rm0 3 | cut -d/ -f2)
	{
		echo "spare blocks (table capacity): $capacity"
		echo "vmalloc+slab for one remap target: $(($(mem_kib VmallocUsed) - vb + $(mem_kib Slab) - sb)) KiB"
	} >/results/bench-extra.txt
	dmsetup remove rm0
	# Three remap devices over the same disks would share the spare: build
	# them one after another instead, and keep the remaps of each stage.
	spare_wipe $spare
	dm_create rm "0 $n remap $main 0 $spare 0 $(sectors $spare) 2 block_size 4096"
	local blocks=$((n / 8)) tail_off=$((200000 * 4096)) tail_size=$(((n / 8 - 200000) * 4096))
	local stage remaps job run
	for stage in 0 1000 100000; do
		if [ "$stage" -gt 0 ]; then
			local have
			have=$(status_field rm 3 | cut -d/ -f1)
			vb=$(mem_kib VmallocUsed) sb=$(mem_kib Slab)
			local t0=${EPOCHREALTIME/./}
			dmsetup message rm 0 remap "$have" $((stage - have))
			local t1=${EPOCHREALTIME/./}
			echo "remap message for $((stage - have)) blocks: $(((t1 - t0) / 1000)) ms; vmalloc+slab change: $(($(mem_kib VmallocUsed) - vb + $(mem_kib Slab) - sb)) KiB" >>/results/bench-extra.txt
		fi
		assert_eq "$stage" "$(status_field rm 3 | cut -d/ -f1)" "remaps at stage $stage"
		for run in $(seq "$RUNS"); do
			for job in randread4k randwrite4k seqread128k seqwrite128k fsyncwrite4k; do
				if [ "$stage" = 0 ]; then
					echo "raw,$job,$run,$(fio_iops $main $job $tail_off $tail_size)" >>/results/bench.csv
					echo "linear,$job,$run,$(fio_iops /dev/mapper/lin $job $tail_off $tail_size)" >>/results/bench.csv
				fi
				echo "remap-$stage,$job,$run,$(fio_iops /dev/mapper/rm $job $tail_off $tail_size)" >>/results/bench.csv
				if [ "$stage" = 100000 ]; then
					echo "remap-100000-remapped,$job,$run,$(fio_iops /dev/mapper/rm $job 0 $((100000 * 4096)))" >>/results/bench.csv
				fi
			done
		done
	done
	# Latency of one write that triggers a remap, against a plain write.
	dmsetup remove rm
	brd_wipe /dev/ram0
	spare_wipe /dev/ram1
	dmsetup create ldust --table "0 $(sectors /dev/ram0) dust /dev/ram0 0 4096"
	dm_create lat "$(remap_table /dev/mapper/ldust /dev/ram1 2 block_size 4096)"
	local i t0 t1 plain=() remapping=()
	for i in $(seq 1 9); do
		dmsetup message ldust 0 addbadblock $((1000 + i)) 255
	done
	dmsetup message ldust 0 enable
	head -c 4096 /dev/urandom >/tmp/blk
	for i in $(seq 1 9); do
		t0=${EPOCHREALTIME/./}
		dd if=/tmp/blk of=/dev/mapper/lat bs=4096 seek=$((2000 + i)) oflag=direct conv=notrunc status=none
		t1=${EPOCHREALTIME/./}
		plain+=($((t1 - t0)))
		t0=${EPOCHREALTIME/./}
		dd if=/tmp/blk of=/dev/mapper/lat bs=4096 seek=$((1000 + i)) oflag=direct conv=notrunc status=none
		t1=${EPOCHREALTIME/./}
		remapping+=($((t1 - t0)))
	done
	assert_eq 9 "$(status_field lat 3 | cut -d/ -f1)" "remaps by failed writes"
	echo "dd of one 4 KiB block, median of 9 (us): plain write $(printf '%s\n' "${plain[@]}" | sort -n | sed -n 5p), write that triggers a remap $(printf '%s\n' "${remapping[@]}" | sort -n | sed -n 5p)" >>/results/bench-extra.txt
	cat /results/bench-extra.txt
}
