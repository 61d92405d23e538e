#!/bin/bash
# run.sh — `make bench`: fio on null_blk in the VM on a perf-flavour kernel,
# raw / dm-linear / remap with 0, 1 000 and 100 000 remaps, RUNS runs of each
# job (default 5, interleaved so drift hits every configuration alike).
# Prints a table of median IOPS and the ratio to dm-linear, writes it to
# $CACHE/results/bench/bench.txt and plots it to bench.png.
#
#   BENCH_LINE=7.3 BENCH_RUNS=5 BENCH_RUNTIME=3 tests/bench/run.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/vm/lib.sh"
line=${BENCH_LINE:-7.3}
runs=${BENCH_RUNS:-5}
runtime=${BENCH_RUNTIME:-3}
out=$CACHE/results/bench
kdir=$("$REPO/tests/vm/build-kernel.sh" "$line" perf)
ko=$("$REPO/tests/vm/build-module.sh" "$kdir")
"$REPO/tests/vm/run-vm.sh" --kernel "$kdir" --ko "$ko" --suite "$REPO/tests/vm/suites/bench" --out "$out" \
	--timeout 5400 --append "dmremap.runs=$runs dmremap.runtime=$runtime" >&2
csv=$out/results/bench.csv
[ -s "$csv" ] || die "no results from the VM ($out)"

table=$out/bench.txt
python3 - "$csv" "$table" "$out/bench.dat" "$(cat "$kdir/include/config/kernel.release")" "$runs" "$runtime" <<'PY'
import csv, statistics, sys
src, table, dat, release, runs, runtime = sys.argv[1:]
rows = list(csv.reader(open(src)))
configs = []
jobs = []
iops = {}
for config, job, _run, value in rows:
    if config not in configs:
        configs.append(config)
    if job not in jobs:
        jobs.append(job)
    iops.setdefault((config, job), []).append(int(value))
med = {k: statistics.median(v) for k, v in iops.items()}
lines = [f"fio on null_blk, kernel {release} (perf), QEMU TCG; median IOPS of {runs} runs of {runtime} s; ratio to dm-linear",
         "", "%-24s" % "config" + "".join("%22s" % j for j in jobs)]
for c in configs:
    cells = []
    for j in jobs:
        v = med.get((c, j))
        base = med.get(("linear", j))
        cells.append("%22s" % (f"{v:.0f} ({v / base:.3f})" if v is not None and base else "-"))
    lines.append("%-24s" % c + "".join(cells))
open(table, "w").write("\n".join(lines) + "\n")
with open(dat, "w") as f:
    f.write("job " + " ".join(configs) + "\n")
    for j in jobs:
        f.write(j + " " + " ".join("%.4f" % (med[(c, j)] / med[("linear", j)]) if (c, j) in med else "NaN" for c in configs) + "\n")
PY
cat "$table"
cat "$out/results/bench-extra.txt"
# The plot: ratio to dm-linear per job and configuration (gnuplot in the
# chroot; the data and the PNG live in the cache).
ncfg=$(head -1 "$out/bench.dat" | wc -w)
in_chroot gnuplot -e "
set terminal pngcairo size 1200,600;
set output '/cache/results/bench/bench.png';
set title 'dm-remap: IOPS relative to dm-linear (median of $runs runs)';
set style data histograms; set style histogram clustered gap 1; set style fill solid border -1;
set yrange [0:1.2]; set ytics 0.1; set grid ytics; set key outside right;
set xtics rotate by -20;
plot for [i=2:$ncfg] '/cache/results/bench/bench.dat' using i:xtic(1) title columnheader(i)
" || log "gnuplot failed; the table above has the numbers"
[ -s "$out/bench.png" ] && log "plot: $out/bench.png"
echo "table: $table"
