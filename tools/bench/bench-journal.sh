#!/bin/bash
# bench-journal.sh -- what the journal costs clients: the same emberd with
# --snapshot-dir and the journal on (--journal-fsync=MODE) against
# --journal=off, alternating (which one goes first alternates too) for
# ROUNDS rounds per scenario; prints every run, then per scenario the
# median ops/s, p99 and server CPU per op of each and their ratios
# (journal / no journal; CPU per op is the steadiest on a shared machine).
# Snapshots are kept out of the window (--snapshot-interval=3600), so the
# figures are the journal's alone. Run from a build directory (or set
# EMBERD and EMBERBENCH). Loopback only. The snapshot directory (and
# so the journal) goes under TMPDIR (default /tmp): TMPDIR=/dev/shm
# takes the file system's write path out of the figures.
#
#   tools/bench/bench-journal.sh [-r ROUNDS] [-d SEC] [-s a,c,d,b] [-f MODE]
#                          [-t THREADS]
# Scenarios (1 set per 10 gets, 100k keys prefilled):
#   a  4 connections, 100 B, unpipelined    target ratio >= 0.95
#   b  50 connections, 100 B, unpipelined   (reported)
#   c  50 connections, 1 KB, unpipelined    target ratio >= 0.95
#   d  4 connections, 100 B, 16-deep        target ratio >= 0.85
# p99 target for all: <= 1.1x. MODE: everysec (default), always, no.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
ROUNDS=5 DUR=6 SCEN=a,c,d MODE=everysec THREADS=1
while getopts "r:d:s:f:t:h" o; do
    case $o in
    r) ROUNDS=$OPTARG ;;
    d) DUR=$OPTARG ;;
    s) SCEN=$OPTARG ;;
    f) MODE=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done
EMBERD=${EMBERD:-./daemon/emberd}
EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
PORT=${PORT:-23490}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-journal.XXXXXX")
trap 'rm -rf "$DIR"' EXIT


load_of() {
    case $1 in
    a) echo "-c 4 -s 100" ;;
    b) echo "-c 50 -s 100" ;;
    c) echo "-c 50 -s 1024" ;;
    d) echo "-c 4 -s 100 -P 16" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

# run SCENARIO MODE(on|off) -> one line of results
run() {
    local args=(--snapshot-dir="$DIR/snap" --snapshot-interval=3600)
    rm -rf "$DIR/snap"
    if [ "$2" = on ]; then
        args+=(--journal-fsync="$MODE")
    else
        args+=(--journal=off)
    fi
    "$EMBERD" -p "$PORT" -t "$THREADS" -m 1024 -U 0 "${args[@]}" \
        2>"$DIR/err" &
    local pid=$!
    wait_port "$PORT" "$pid" || { cat "$DIR/err" >&2; exit 1; }
    # shellcheck disable=SC2046
    out=$("$EMBERBENCH" -S 127.0.0.1:"$PORT" $(load_of "$1") -r 1:10 \
          -k 100000 --prefill -d "$DUR" -w 1 --pid "$pid" --kv 2>&1)
    local st=$?
    kill "$pid"
    wait "$pid"
    [ $st -eq 0 ] || { echo "run failed: $out" >&2; cat "$DIR/err" >&2; exit 1; }
    echo "$1 $2 ops=$(echo "$out" | field ops_per_sec)" \
         "p99=$(echo "$out" | field p99_us)" \
         "cpu_us_per_op=$(echo "$out" | field server_cpu_us_per_op)"
}

echo "# $EMBERD -t $THREADS -m 1024 --snapshot-dir=DIR --snapshot-interval=3600"
echo "#   on: --journal-fsync=$MODE   off: --journal=off"
echo "# $EMBERBENCH <scenario> -r 1:10 -k 100000 --prefill -d $DUR -w 1"
for s in ${SCEN//,/ }; do
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
        for m in $order; do
            run "$s" "$m"
        done
    done
done | tee "$DIR/runs"
for s in ${SCEN//,/ }; do
    for m in on off; do
        o=$(awk -v s="$s" -v m=$m '$1==s && $2==m {sub("ops=","",$3); print $3}' "$DIR/runs" | median)
        p=$(awk -v s="$s" -v m=$m '$1==s && $2==m {sub("p99=","",$4); print $4}' "$DIR/runs" | median)
        u=$(awk -v s="$s" -v m=$m '$1==s && $2==m {sub("cpu_us_per_op=","",$5); print $5}' "$DIR/runs" | median)
        eval "ops_$m=$o p99_$m=$p cpu_$m=$u"
    done
    awk -v s="$s" -v a="$ops_on" -v b="$ops_off" -v c="$p99_on" \
        -v d="$p99_off" -v e="$cpu_on" -v f="$cpu_off" -v m="$MODE" 'BEGIN {
        printf "scenario %s (%s): journal %.0f ops/s p99 %d us %.2f us CPU/op | off %.0f ops/s p99 %d us %.2f us CPU/op | ratio ops %.3f p99 %.2f CPU/op %.2f\n",
               s, m, a, c, e, b, d, f, a / b, c / d, (f > 0 ? e / f : 0) }'
done
