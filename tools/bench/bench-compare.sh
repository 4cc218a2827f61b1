#!/bin/bash
# bench-compare.sh -- emberd against memcached, same machine, same load.
#
# Starts emberd and memcached with the same -t and -m on two loopback
# ports, drives them ALTERNATELY with identical emberbench runs for N
# rounds (the first server of each round alternates too, so slow drift in
# the machine's load hits both alike), and prints per scenario the median
# ops/s, the ratio emberd/memcached, the median p99 latency, and the
# median server CPU time per operation (utime+stime from /proc/PID/stat
# over the timed window only, divided by the ops in it) and its ratio.
#
# Scenarios (100-byte values, 1 set per 10 gets, 100k keys prefilled):
#   a  4 connections, unpipelined        target ratio >= 1.0, CPU/op <= 0.9x
#   b  50 connections, unpipelined       target ratio >= 1.0
#   c  50 connections, 1 KB values       target ratio >= 1.0
#   d  4 connections x 16-deep pipeline  target ratio >= 2.5
#   l  1 connection, unpipelined: plain round-trip latency (not run
#      unless asked for with -s; no target)
#
# Exit status: 0 all runs completed (targets are reported, not enforced),
# 1 a run or a server failed, 2 bad usage.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

usage() {
    cat <<EOF
usage: $0 [options]
  -s LIST   scenarios, e.g. "a,d" (default a,b,c,d)
  -t LIST   server thread counts (default 1,4)
  -r N      rounds per scenario (default 5)
  -d SEC    measured seconds per run (default 6)
  -w SEC    warm-up seconds per run (default 1.5)
  -m MB     -m for both servers (default 1024: every scenario fits)
  -T N      emberbench worker threads (default 1)
  -p PORT   first of two loopback ports (default 23511)
  -o DIR    keep raw results and server logs here (default: a temp dir)
  -A        pin: servers on CPU 1, emberbench on CPU 0 (taskset); steadier
            CPU/op figures, but -t 4 then shares one CPU
  -q        quick: -r 3 -d 1 -w 0.5 (about 1.5 minutes for a-d x 1,4)
Environment: EMBERD (default ./daemon/emberd), MEMCACHED
(/usr/bin/memcached), EMBERBENCH (./tools/bench/emberbench), EMBERD_ARGS and
MEMCACHED_ARGS (extra flags for one server).
A full run (defaults) takes about 10 minutes.
EOF
}

scenarios="a,b,c,d"
srv_threads="1,4"
rounds=5
dur=6
warm=1.5
mem=1024
drv_threads=1
port=23511
outdir=""
pin_srv=""
pin_drv=""
cmdline="$0 $*"
while getopts "s:t:r:d:w:m:T:p:o:Aqh" opt; do
    case $opt in
    s) scenarios=$OPTARG ;;
    t) srv_threads=$OPTARG ;;
    r) rounds=$OPTARG ;;
    d) dur=$OPTARG ;;
    w) warm=$OPTARG ;;
    m) mem=$OPTARG ;;
    T) drv_threads=$OPTARG ;;
    p) port=$OPTARG ;;
    o) outdir=$OPTARG ;;
    q) rounds=3 dur=1 warm=0.5 ;;
    A) pin_srv="taskset -c 1" pin_drv="taskset -c 0" ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case "$rounds$port$mem$drv_threads" in
    *[!0-9]*) echo "$0: -r, -p, -m and -T take integers" >&2; exit 2 ;;
esac

bench_binaries
if [ -z "$outdir" ]; then
    outdir=$(mktemp -d /tmp/bench-compare.XXXXXX)
fi
mkdir -p "$outdir" || exit 2
raw=$outdir/raw.kv
: >"$raw"

# memcached refuses to run as root without -u; give both the same flag
as_user=""
[ "$(id -u)" = 0 ] && as_user="-u nobody"

port_mc=$port
port_em=$((port + 1))
pid_mc=""
pid_em=""
failed=0

cleanup() {
    for p in $pid_mc $pid_em; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    pid_mc="" pid_em=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# start_server NAME BINARY PORT THREADS EXTRA -> sets $started_pid
start_server() {
    local name=$1 bin=$2 p=$3 t=$4 extra=$5
    local log=$outdir/$name-t$t.log
    # shellcheck disable=SC2086
    $pin_srv "$bin" -p "$p" -l 127.0.0.1 -U 0 -t "$t" -m "$mem" -c 4096 \
        $as_user $extra >"$log" 2>&1 &
    started_pid=$!
    echo "# started: ${pin_srv:+$pin_srv }$bin -p $p -l 127.0.0.1 -U 0" \
        "-t $t -m $mem -c 4096 $as_user $extra   (pid $started_pid," \
        "log $log)"
    if ! wait_port "$p" "$started_pid"; then
        echo "$0: $name did not start listening on $p; log:" >&2
        cat "$log" >&2
        return 1
    fi
}

start_servers() {  # threads
    start_server memcached "$MEMCACHED" "$port_mc" "$1" \
        "${MEMCACHED_ARGS:-}" || return 1
    pid_mc=$started_pid
    start_server emberd "$EMBERD" "$port_em" "$1" "${EMBERD_ARGS:-}" ||
        return 1
    pid_em=$started_pid
}

scenario_args() {
    case $1 in
    a) echo "-c 4 -P 1 -s 100" ;;
    b) echo "-c 50 -P 1 -s 100" ;;
    c) echo "-c 50 -P 1 -s 1024" ;;
    d) echo "-c 4 -P 16 -s 100" ;;
    l) echo "-c 1 -P 1 -s 100" ;;
    *) return 1 ;;
    esac
}

# run_one SCENARIO THREADS ROUND SERVER PORT PID
run_one() {
    local s=$1 t=$2 r=$3 name=$4 p=$5 pid=$6 line cmd
    cmd="${pin_drv:+$pin_drv }$EMBERBENCH -S 127.0.0.1:$p"
    cmd="$cmd $(scenario_args "$s") -r 1:10"
    cmd="$cmd -k 100000 --prefill --prefix $s: -d $dur -w $warm"
    cmd="$cmd -T $drv_threads --pid $pid --kv"
    [ "$r" = 1 ] && echo "# run: $cmd"
    if ! line=$($cmd 2>"$outdir/last.err"); then
        echo "$0: scenario $s -t $t round $r: $name run failed:" >&2
        cat "$outdir/last.err" >&2
        failed=1
        return 1
    fi
    echo "scenario=$s srv_threads=$t round=$r target=$name $line" >>"$raw"
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "$0: $name (pid $pid) died during scenario $s" >&2
        failed=1
        return 1
    fi
}

run_scenario() {  # scenario threads
    local s=$1 t=$2 r
    scenario_args "$s" >/dev/null || { echo "$0: no scenario $s" >&2; exit 2; }
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then
            run_one "$s" "$t" "$r" memcached "$port_mc" "$pid_mc" || return
            run_one "$s" "$t" "$r" emberd "$port_em" "$pid_em" || return
        else
            run_one "$s" "$t" "$r" emberd "$port_em" "$pid_em" || return
            run_one "$s" "$t" "$r" memcached "$port_mc" "$pid_mc" || return
        fi
    done
}

# Medians per scenario and server threads from the raw key=value lines.
summarize() {
    awk '
    function median(a, k, n,    i, j, v, t) {
        for (i = 1; i <= n; i++) {
            t[i] = a[k, i] + 0
        }
        for (i = 2; i <= n; i++) {
            v = t[i]
            for (j = i - 1; j >= 1 && t[j] > v; j--) {
                t[j + 1] = t[j]
            }
            t[j + 1] = v
        }
        if (n == 0) {
            return -1
        }
        return n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
    }
    function verdict(s, ratio, cpur) {
        if (ratio < 0) {
            return "n/a"
        }
        if (s == "a") {
            return (ratio >= 1.0 && cpur >= 0 && cpur <= 0.9) ? "met" : "MISSED"
        }
        if (s == "d") {
            return ratio >= 2.5 ? "met" : "MISSED"
        }
        if (s != "b" && s != "c") {
            return "-"
        }
        return ratio >= 1.0 ? "met" : "MISSED"
    }
    {
        delete f
        for (i = 1; i <= NF; i++) {
            eq = index($i, "=")
            f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
        }
        k = f["scenario"] " " f["srv_threads"] " " f["target"]
        n = ++cnt[k]
        ops[k, n] = f["ops_per_sec"]
        p99[k, n] = f["p99_us"]
        cpu[k, n] = f["server_cpu_us_per_op"]
        usr[k, n] = f["server_user_us_per_op"]
        drv[k, n] = f["window_s"] > 0 ? f["driver_cpu_s"] / f["window_s"] : 0
        row = f["scenario"] " " f["srv_threads"]
        rops[row, f["round"], f["target"]] = f["ops_per_sec"]
        if (f["window_s"] > 0 && f["machine_busy_cores"] != "") {
            oth[row, ++noth[row]] = f["machine_busy_cores"] - \
                (f["server_cpu_s"] + f["driver_cpu_s"]) / f["window_s"]
        }
        if (f["round"] + 0 > maxround[row]) {
            maxround[row] = f["round"] + 0
        }
        if (!(row in seen)) {
            seen[row] = 1
            rows[++nrows] = row
        }
    }
    END {
        tgt["a"] = ">=1.0, cpu<=0.9"
        tgt["b"] = ">=1.0"
        tgt["c"] = ">=1.0"
        tgt["d"] = ">=2.5"
        printf "\n%-3s %3s %5s %10s %10s %6s %-9s %8s %8s %7s %7s %6s " \
            "%6s %6s %5s %5s %5s  %-16s %s\n", "scn", "-t", "runs",
            "mc_ops/s", "em_ops/s", "ratio", "(range)", "mc_p99", "em_p99",
            "mc_cpu", "em_cpu", "cpu_r", "mc_usr", "em_usr", "mc_dr",
            "em_dr", "other", "target", "verdict"
        for (r = 1; r <= nrows; r++) {
            split(rows[r], p, " ")
            km = rows[r] " memcached"
            ke = rows[r] " emberd"
            nm = cnt[km] + 0
            ne = cnt[ke] + 0
            mo = median(ops, km, nm); eo = median(ops, ke, ne)
            mp = median(p99, km, nm); ep = median(p99, ke, ne)
            mc = median(cpu, km, nm); ec = median(cpu, ke, ne)
            md = median(drv, km, nm); ed = median(drv, ke, ne)
            mu = median(usr, km, nm); eu = median(usr, ke, ne)
            ot = median(oth, rows[r], noth[rows[r]] + 0)
            ratio = (mo > 0 && eo >= 0) ? eo / mo : -1
            # paired per-round ratios: how much the rounds disagree
            lo = -1; hi = -1
            for (q = 1; q <= maxround[rows[r]]; q++) {
                a = rops[rows[r], q, "emberd"]
                b = rops[rows[r], q, "memcached"]
                if (a == "" || b == "" || b + 0 <= 0) {
                    continue
                }
                x = a / b
                if (lo < 0 || x < lo) { lo = x }
                if (x > hi) { hi = x }
            }
            cpur = (mc > 0 && ec >= 0) ? ec / mc : -1
            printf "%-3s %3s %2d/%-2d %10.0f %10.0f %6.2f %-9s %8.1f " \
                "%8.1f %7.2f %7.2f %6.2f %6.2f %6.2f %5.2f %5.2f %5.2f  " \
                "%-16s %s\n", p[1], p[2], nm, ne, mo, eo, ratio,
                sprintf("%.2f-%.2f", lo, hi), mp, ep, mc, ec, cpur, mu, eu,
                md, ed, ot, (p[1] in tgt) ? tgt[p[1]] : "-",
                verdict(p[1], ratio, cpur)
        }
        print "ops/s, p99 (us), server CPU (us/op; usr = its user-space" \
            " part), driver CPU (dr, cores) and"
        print "CPU taken by other processes during the windows (other," \
            " cores of 2)"
        print "are medians over the rounds; ratio and cpu_r are" \
            " emberd/memcached;"
        print "(range) is the lowest and highest ratio of one round'"'"'s" \
            " back-to-back pair."
    }' "$1"
}

echo "# command: $cmdline"
echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')  host: $(nproc) CPUs," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# emberd: $EMBERD  memcached: $($MEMCACHED -V 2>/dev/null)"
echo "# raw results: $raw"
for t in ${srv_threads//,/ }; do
    start_servers "$t" || { failed=1; cleanup; continue; }
    for s in ${scenarios//,/ }; do
        run_scenario "$s" "$t"
        # a dead server cannot serve the next scenario: start both again
        if ! kill -0 "$pid_mc" 2>/dev/null || ! kill -0 "$pid_em" 2>/dev/null
        then
            cleanup
            start_servers "$t" || { failed=1; break; }
        fi
    done
    cleanup
done

summarize "$raw"
exit $failed
