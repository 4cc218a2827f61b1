#!/bin/bash
# bench-memory.sh -- how well emberd and memcached use the memory -m gives.
#
# For each -m value and each server: start it alone, write 3 x the -m
# limit worth of values with unique keys and sizes uniform in 50 B..10 KB
# (emberbench --prefill, 16-deep pipelining), then report the resident
# set (VmRSS and its peak VmHWM from /proc/PID/status), curr_items,
# evictions and the bytes the server says it holds.
#
# Targets: emberd VmRSS <= 1.1 x m + 16 MB; emberd curr_items >= memcached's.
#
# Exit status: 0 all runs completed (targets are reported, not enforced),
# 1 a run or a server failed, 2 bad usage.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

usage() {
    cat <<EOF
usage: $0 [options]
  -m LIST   -m values in MB (default 64,256)
  -t N      server threads (default 4)
  -x N      write N x the -m limit (default 3)
  -p PORT   loopback port (default 23521)
  -o DIR    keep raw results and server logs here (default: a temp dir)
Environment: EMBERD (default ./daemon/emberd), MEMCACHED
(/usr/bin/memcached), EMBERBENCH (./tools/bench/emberbench), EMBERD_ARGS and
MEMCACHED_ARGS (extra flags for one server).
EOF
}

mems="64,256"
threads=4
times=3
port=23521
outdir=""
cmdline="$0 $*"
while getopts "m:t:x:p:o:h" opt; do
    case $opt in
    m) mems=$OPTARG ;;
    t) threads=$OPTARG ;;
    x) times=$OPTARG ;;
    p) port=$OPTARG ;;
    o) outdir=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case "$threads$times$port${mems//,/}" in
    *[!0-9]*) echo "$0: -m, -t, -x and -p take integers" >&2; exit 2 ;;
esac

bench_binaries
[ -n "$outdir" ] || outdir=$(mktemp -d /tmp/bench-memory.XXXXXX)
mkdir -p "$outdir" || exit 2
raw=$outdir/raw.kv
: >"$raw"
as_user=""
[ "$(id -u)" = 0 ] && as_user="-u nobody"
size_min=50
size_max=10240
pid=""
failed=0

cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    fi
    pid=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

stat_of() {  # stats-file name
    awk -v k="$2" '$1 == "STAT" && $2 == k { v = $3 } END {
        sub(/\r$/, "", v); print (v == "" ? "?" : v) }' "$1"
}

status_kb() {  # pid field
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# measure NAME BINARY EXTRA MB
measure() {
    local name=$1 bin=$2 extra=$3 m=$4 keys cmd st line
    local log=$outdir/$name-m$m.log
    # shellcheck disable=SC2086
    "$bin" -p "$port" -l 127.0.0.1 -U 0 -t "$threads" -m "$m" $as_user \
        $extra >"$log" 2>&1 &
    pid=$!
    echo "# started: $bin -p $port -l 127.0.0.1 -U 0 -t $threads -m $m" \
        "$as_user $extra   (pid $pid)"
    if ! wait_port "$port" "$pid"; then
        echo "$0: $name did not start; log:" >&2
        cat "$log" >&2
        failed=1
        pid=""
        return 1
    fi
    keys=$((times * m * 1048576 / ((size_min + size_max) / 2)))
    cmd="$EMBERBENCH -S 127.0.0.1:$port -c 4 -P 16 -d 0 --prefill -k $keys"
    cmd="$cmd --size-range $size_min-$size_max --prefix mem: --kv"
    echo "# run: $cmd"
    if ! line=$($cmd 2>"$outdir/last.err"); then
        echo "$0: $name -m $m: fill failed:" >&2
        cat "$outdir/last.err" >&2
        failed=1
        cleanup
        return 1
    fi
    st=$outdir/$name-m$m.stats
    mc_stats "$port" >"$st"
    echo "m=$m target=$name rss_kb=$(status_kb "$pid" VmRSS)" \
         "hwm_kb=$(status_kb "$pid" VmHWM)" \
         "curr_items=$(stat_of "$st" curr_items)" \
         "evictions=$(stat_of "$st" evictions)" \
         "bytes=$(stat_of "$st" bytes)" \
         "limit_maxbytes=$(stat_of "$st" limit_maxbytes) keys_written=$keys" \
         "$line" >>"$raw"
    cleanup
}

summarize() {
    awk '
    {
        delete f
        for (i = 1; i <= NF; i++) {
            eq = index($i, "=")
            f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
        }
        k = f["m"] " " f["target"]
        rss[k] = f["rss_kb"] / 1024; hwm[k] = f["hwm_kb"] / 1024
        items[k] = f["curr_items"]; ev[k] = f["evictions"]
        bytes[k] = f["bytes"] / 1048576; written[k] = f["keys_written"]
        errs[k] = f["server_errors"]
        if (!(f["m"] in seen)) { seen[f["m"]] = 1; ms[++nm] = f["m"] }
    }
    END {
        printf "\n%5s %-9s %8s %8s %9s %10s %9s %8s %7s  %s\n", "-m",
            "server", "RSS_MB", "peak_MB", "data_MB", "curr_items",
            "evictions", "written", "errors", "verdict"
        for (i = 1; i <= nm; i++) {
            m = ms[i]
            for (j = 0; j < 2; j++) {
                t = j ? "emberd" : "memcached"
                k = m " " t
                if (!(k in rss)) {
                    continue
                }
                v = ""
                if (t == "emberd") {
                    lim = 1.1 * m + 16
                    v = rss[k] <= lim ? "RSS met" : "RSS MISSED"
                    v = v sprintf(" (<= %.0f MB)", lim)
                    mk = m " memcached"
                    if (mk in items) {
                        v = v ((items[k] + 0 >= items[mk] + 0) ? \
                            ", items met" : ", items MISSED")
                    }
                }
                printf "%5s %-9s %8.1f %8.1f %9.1f %10s %9s %8s %7s  %s\n",
                    m, t, rss[k], hwm[k], bytes[k], items[k], ev[k],
                    written[k], errs[k], v
            }
        }
        print "(RSS = VmRSS after the fill; data_MB = the server'"'"'s own" \
            " \"bytes\" stat; errors = SERVER_ERROR replies to sets)"
    }' "$1"
}

echo "# command: $cmdline"
echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')  host: $(nproc) CPUs," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# raw results: $raw"
for m in ${mems//,/ }; do
    measure memcached "$MEMCACHED" "${MEMCACHED_ARGS:-}" "$m"
    measure emberd "$EMBERD" "${EMBERD_ARGS:-}" "$m"
done
summarize "$raw"
exit $failed
