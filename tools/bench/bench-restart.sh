#!/bin/bash
# bench-restart.sh -- a warm restart after kill -9 with a journal to replay:
# N items set and snapshotted, then N overwrites (journal only), kill -9,
# and the time from exec to the port accepting, with emberd's own figures
# (journal records replayed and their replay time, items loaded). Each
# round starts from an empty snapshot directory; prints every round, then
# the medians. Run from a build directory (or set EMBERD and EMBERBENCH).
#
#   tools/bench/bench-restart.sh [-r ROUNDS] [-n ITEMS] [-s BYTES]
#                                [-t THREADS] [-f FSYNC]
# Issue 10's goals: replay >= 2 M records/s; 1 M + 1 M restart <= 1 s.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
ROUNDS=5 ITEMS=1000000 SIZE=100 THREADS=4 FSYNC=everysec
while getopts "r:n:s:t:f:h" o; do
    case $o in
    r) ROUNDS=$OPTARG ;;
    n) ITEMS=$OPTARG ;;
    s) SIZE=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    f) FSYNC=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
EMBERD=${EMBERD:-./daemon/emberd}
EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
PORT=${PORT:-23520}
DIR=$(mktemp -d /tmp/bench-restart.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
ARGS=(-p "$PORT" -t "$THREADS" -m 2048 -U 0 --snapshot-dir="$DIR/snap"
      --snapshot-interval=3600 --journal-fsync="$FSYNC")

# fill SEED: set every key once (values change with the seed)
fill() {
    "$EMBERBENCH" -S 127.0.0.1:"$PORT" -k "$ITEMS" -s "$SIZE" --prefill \
        -d 0 --prefix r: --seed "$1" >/dev/null
}

# round: one kill -9 restart -> one line of results
round() {
    rm -rf "$DIR/snap"
    "$EMBERD" "${ARGS[@]}" 2>"$DIR/e1" &
    local pid=$!
    wait_port "$PORT" "$pid" || { cat "$DIR/e1" >&2; exit 1; }
    fill 1 && mc_snapshot "$PORT" && fill 7 || exit 1
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    local t0 t1
    t0=$(now_ns)
    "$EMBERD" "${ARGS[@]}" 2>"$DIR/e2" &
    pid=$!
    wait_port "$PORT" "$pid" 3600 0.005 || { cat "$DIR/e2" >&2; exit 1; }
    t1=$(now_ns)
    local st
    st=$(mc_stats "$PORT")
    kill "$pid"
    wait "$pid"
    stat() { echo "$st" | awk -v k="$1" '$2 == k {print $3}'; }
    local rec us items
    rec=$(stat journal_replayed_records)
    us=$(stat journal_replay_us)
    items=$(stat curr_items)
    [ "$items" = "$ITEMS" ] || { echo "curr_items $items != $ITEMS" >&2; exit 1; }
    awk -v w=$(((t1 - t0) / 1000)) -v r="$rec" -v u="$us" 'BEGIN {
        printf "restart_ms=%.0f replayed=%d replay_ms=%.0f replay_per_s=%.0f\n",
               w / 1000, r, u / 1000, (u > 0 ? r / (u / 1e6) : 0) }'
}

echo "# $EMBERD ${ARGS[*]}"
echo "# $ITEMS items of $SIZE B snapshotted, $ITEMS overwrites journaled, kill -9"
for r in $(seq "$ROUNDS"); do
    round
done | tee "$DIR/runs"
printf 'median: restart %s ms, replay %s records/s\n' \
    "$(field restart_ms <"$DIR/runs" | median)" \
    "$(field replay_per_s <"$DIR/runs" | median)"
