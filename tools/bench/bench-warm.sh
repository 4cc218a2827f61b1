#!/bin/bash
# bench-warm.sh -- issue 12: a full snapshot and a warm restart after a
# graceful stop, for two emberd builds in alternating rounds. Each round
# starts from an empty snapshot directory: N items of SIZE bytes are set
# (emberbench --prefill), `snapshot` is timed (a full snapshot: the first
# one), SIGTERM, then the time from exec to the port accepting, and
# curr_items is checked. Prints every round, then the medians per build.
#
#   tools/bench/bench-warm.sh [-r ROUNDS] [-n ITEMS] [-s BYTES] [-t THREADS]
#                             EMBERD_A EMBERD_B
# EMBERBENCH: the build directory's emberbench unless set.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
ROUNDS=3 ITEMS=1000000 SIZE=100 THREADS=4
while getopts "r:n:s:t:h" o; do
    case $o in
    r) ROUNDS=$OPTARG ;;
    n) ITEMS=$OPTARG ;;
    s) SIZE=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { sed -n '2,12p' "$0"; exit 2; }
EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
PORT=${PORT:-23530}
DIR=$(mktemp -d /tmp/bench-warm.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
ARGS=(-p "$PORT" -t "$THREADS" -m 2048 -U 0 --snapshot-dir="$DIR/snap"
      --snapshot-interval=3600)

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# round EMBERD: one line of results
round() {
    local emberd=$1 pid t0 snap_ms restart_ms items
    rm -rf "$DIR/snap"
    "$emberd" "${ARGS[@]}" 2>"$DIR/e1" &
    pid=$!
    wait_port "$PORT" "$pid" || { cat "$DIR/e1" >&2; exit 1; }
    "$EMBERBENCH" -S 127.0.0.1:"$PORT" -k "$ITEMS" -s "$SIZE" --prefill \
        -d 0 --prefix w: --seed 1 >/dev/null || exit 1
    t0=$(date +%s%N)
    mc_snapshot "$PORT" 300 || exit 1
    snap_ms=$(ms_since "$t0")
    kill "$pid"
    wait "$pid"
    t0=$(date +%s%N)
    "$emberd" "${ARGS[@]}" 2>"$DIR/e2" &
    pid=$!
    until port_open "$PORT"; do
        kill -0 "$pid" 2>/dev/null || { cat "$DIR/e2" >&2; exit 1; }
        sleep 0.002
    done
    restart_ms=$(ms_since "$t0")
    items=$(mc_stats "$PORT" | awk '$2 == "curr_items" {print $3}')
    kill "$pid"
    wait "$pid"
    [ "$items" = "$ITEMS" ] || { echo "curr_items $items" >&2; exit 1; }
    echo "build=$2 snapshot_ms=$snap_ms restart_ms=$restart_ms"
}

echo "# A=$1 B=$2; ${ARGS[*]}; $ITEMS items of $SIZE B"
for r in $(seq "$ROUNDS"); do
    round "$1" A
    round "$2" B
done | tee "$DIR/runs"
for b in A B; do
    printf 'median %s: full snapshot %s ms, warm restart %s ms\n' "$b" \
        "$(grep "build=$b " "$DIR/runs" | field snapshot_ms | median)" \
        "$(grep "build=$b " "$DIR/runs" | field restart_ms | median)"
done
