#!/bin/bash
# bench-persist.sh -- what persistence costs clients: emberd with snapshots
# back to back (--snapshot-interval=1) against the same emberd without
# persistence, alternating, ROUNDS times; prints ops/s and p50/p99 per run
# and the medians' ratios. Run from a build directory (or set EMBERD and
# EMBERBENCH). Loopback only; each run is bounded by -d.
#   tools/bench/bench-persist.sh [ROUNDS] [extra emberbench args]
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
ROUNDS=${1:-5}
[ $# -gt 0 ] && shift
EMBERD=${EMBERD:-./daemon/emberd}
EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
PORT=${PORT:-23470}
DIR=$(mktemp -d /tmp/bench-persist.XXXXXX)
LOAD=(-c 50 -r 1:10 -k 100000 -s 300 --prefill -d 5 -w 1 "$@")
trap 'rm -rf "$DIR"' EXIT


echo "# $EMBERD -t 4 -m 256 [--snapshot-dir=DIR --snapshot-interval=1]"
echo "# $EMBERBENCH ${LOAD[*]}"
for round in $(seq "$ROUNDS"); do
    for mode in plain snap; do
        rm -rf "$DIR/snap"
        args=()
        [ $mode = snap ] && args=(--snapshot-dir="$DIR/snap" --snapshot-interval=1)
        "$EMBERD" -p "$PORT" -t 4 -m 256 "${args[@]}" 2>/dev/null &
        pid=$!
        sleep 0.5
        out=$("$EMBERBENCH" -S 127.0.0.1:"$PORT" "${LOAD[@]}" --kv 2>&1)
        snaps=$(mc_stats "$PORT" | awk '$2 == "snapshot_count" {print $3}')
        kill "$pid"; wait "$pid"
        echo "$round $mode ops=$(echo "$out" | field ops_per_sec)" \
             "p50=$(echo "$out" | field p50_us) p99=$(echo "$out" | field p99_us)" \
             "snapshots=$snaps"
    done
done | tee "$DIR/runs"
for m in plain snap; do
    ops=$(awk -v m=$m '$2==m {sub("ops=","",$3); print $3}' "$DIR/runs" | median)
    p99=$(awk -v m=$m '$2==m {sub("p99=","",$5); print $5}' "$DIR/runs" | median)
    echo "median $m ops/s $ops p99_us $p99"
    eval "${m}_ops=$ops ${m}_p99=$p99"
done
awk -v a="$snap_ops" -v b="$plain_ops" -v c="$snap_p99" -v d="$plain_p99" \
    'BEGIN {printf "ratio snapshots/plain: ops %.2f (target >= 0.95), p99 %.2f (target <= 1.2)\n", a/b, c/d}'
