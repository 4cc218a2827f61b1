#!/bin/bash
# bench-scale.sh -- emberd's restart and snapshots at scale (issue 12),
# with Redis 7 loading and saving the same data in the same run.
#
# For each item count N and each kind of value (fixed: 200 random letters;
# corpus: JSON-like records from a word list, see scale_corpus.h), first
# emberd, then Redis, never both at once:
#
# emberd (-M: a fill that does not fit fails instead of evicting;
# --snapshot-interval=0 and a --journal-max of 4 x -m: snapshots only when
# asked for, so the first one is the full one measured):
#   fill N items (scalefill, 4 connections, 64-deep) -> RSS
#   `snapshot` (the first one is full)   -> full s, data.mdb, RSS peak
#   rewrite 1 % of the items, `snapshot` -> 1 % incremental s
#   SIGTERM, restart                     -> restart s (exec -> accepting);
#                                           every item there, 2 % checked
#   rewrite 1 % again (journal only), kill -9, restart -> kill -9 restart s
#   emberbench 1:10 load, D s, no snapshot -> ops/s, p99
#   the same while the snapshot after the journal replay (full) runs
#   the same load without again (the baseline is the mean of the two)
#   the same load with a `snapshot` every second (incremental ones)
#   SIGTERM -> stop s (the last of those snapshots < 1 s before)
# Redis (no persistence but BGSAVE):
#   fill the same items -> RSS; BGSAVE -> s, dump.rdb; restart -> RDB
#   load s (exec -> PONG), items checked; the same loads without and
#   during a BGSAVE.
#
# D (-d) defaults to emberd's idle full snapshot time, 3..30 s, so that
# the snapshot covers the window; "cover" says which share it did.
# Prints one markdown table per N, the ratios to Redis and the issue's
# goals, met or missed by how much. Raw key=value lines: -o DIR/raw.kv.
#
# Exit status: 0 done (goals are reported, not enforced), 1 a server or
# a check failed, 2 bad usage.
set -u
# shellcheck source=tools/bench/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

usage() {
    cat <<EOF
usage: $0 [options]
  -n LIST   item counts, k/M suffixes allowed (default 1M,4M)
  -V LIST   value kinds: fixed,corpus (default both)
  -s BYTES  fixed value size and the load's set size (default 200)
  -d SEC    load window (default: emberd's full snapshot time, 3..30 s)
  -w SEC    load warm-up (default 1)
  -t N      emberd threads (default 4)
  -p PORT   loopback port (default 24711)
  -o DIR    keep raw results (raw.kv) and the server and tool logs
            (emberd-N-KIND.log, redis-N-KIND.log) here (default: a temp dir)
  -R        emberd only, no Redis (also when redis-server is missing)
Environment: EMBERD, EMBERBENCH, SCALEFILL (default: this build's),
REDIS_SERVER, REDIS_CLI (default: redis-server, redis-cli in PATH),
WORDS (word list, default /usr/share/dict/words), EMBERD_ARGS.
At 1M and 4M a run took 25 minutes on a busy 2-core machine; 16M (fixed,
emberd only) 23 minutes, emberd's RSS 5 GB after the fill and 9 GB after
the restart (data.mdb's mapped pages); Redis's RSS was level with
emberd's after the fill at 1M and 4M.
EOF
}

items="1M,4M"
kinds="fixed,corpus"
size=200
dur_opt=""
warm=1
threads=4
port=24711
outdir=""
use_redis=1
prefix="scale:user:profile:cache:"    # + index: keys of 30-32 bytes
cmdline="$0 $*"
while getopts "n:V:s:d:w:t:p:o:Rh" opt; do
    case $opt in
    n) items=$OPTARG ;;
    V) kinds=$OPTARG ;;
    s) size=$OPTARG ;;
    d) dur_opt=$OPTARG ;;
    w) warm=$OPTARG ;;
    t) threads=$OPTARG ;;
    p) port=$OPTARG ;;
    o) outdir=$OPTARG ;;
    R) use_redis=0 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
case "$size$threads$port" in
    *[!0-9]*) echo "$0: -s, -t and -p take integers" >&2; exit 2 ;;
esac
for k in ${kinds//,/ }; do
    case $k in fixed | corpus) ;; *) echo "$0: no kind $k" >&2; exit 2 ;; esac
done

# count_of 4M -> 4000000
count_of() {
    case $1 in
    *[kK]) echo $((${1%?} * 1000)) ;;
    *M) echo $((${1%?} * 1000000)) ;;
    *) echo "$1" ;;
    esac
}
for n in ${items//,/ }; do
    case $(count_of "$n") in
    '' | *[!0-9]* | 0) echo "$0: bad item count $n" >&2; exit 2 ;;
    esac
done

bench_defaults
require_exec "$EMBERD" "$EMBERBENCH" "$SCALEFILL"
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server)}
REDIS_CLI=${REDIS_CLI:-$(command -v redis-cli)}
if [ $use_redis = 1 ] && { [ ! -x "$REDIS_SERVER" ] || [ ! -x "$REDIS_CLI" ]; }; then
    echo "# redis-server/redis-cli not found: emberd only" \
         "(Debian: apt-get install redis-server redis-tools)"
    use_redis=0
fi
[ -n "$outdir" ] || outdir=$(mktemp -d /tmp/bench-scale.XXXXXX)
mkdir -p "$outdir" || exit 2
raw=$outdir/raw.kv
: >"$raw"
work=$outdir/work
pid=""
line=""

cleanup() {
    if [ -n "$pid" ]; then
        kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    fi
    pid=""
    rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

die() {
    echo "$0: $*" >&2
    [ -f "$work/log" ] && tail -n 5 "$work/log" >&2
    exit 1
}

rec() { line="$line $*"; }
say() { echo "# $(date -u +%T) $*" >&2; }

# fill ARGS: scalefill over this run's keys and values; prints its kv line
fill() {
    "$SCALEFILL" -S 127.0.0.1:"$port" -n "$n" -V "$kind" -s "$size" \
        ${WORDS:+--words "$WORDS"} --prefix "$prefix" --kv "$@" \
        2>>"$work/log" || die "scalefill $* failed"
}

# fill_all ARGS: the N items; records the rate and the raw bytes
fill_all() {
    fill "$@" >"$work/fill.kv"
    rec "fill_ips=$(field items_per_sec <"$work/fill.kv")"
    rec "raw_mb=$(field raw_bytes <"$work/fill.kv" |
        awk '{printf "%.1f", $1 / 1048576}')"
}

# load ARGS: the client load of both servers (1 set : 10 gets over the N
# keys, 4 connections, unpipelined); prints emberbench's kv line
load() {
    "$EMBERBENCH" -S 127.0.0.1:"$port" -c 4 -r 1:10 -s "$size" -k "$n" \
        --prefix "$prefix" --no-verify --value-max 4096 -w "$warm" \
        -d "$dur" --pid "$pid" --kv "$@" 2>>"$work/log" ||
        die "emberbench failed"
}

# rec_load TAG FILE: ops/s and p99 of a load's kv line
rec_load() {
    rec "ops_$1=$(field ops_per_sec <"$2") p99_$1=$(field p99_us <"$2")"
}

# during TAG START WAIT [ARGS]: a load, with START run after its warm-up
# and WAIT until what START began is over; records its time and cover
during() {
    local lp t0 s
    load "${@:4}" >"$work/load.kv" &
    lp=$!
    sleep "$warm"
    t0=$(now_ns)
    $2 || die "$2 failed"
    $3 || die "$3 failed"
    s=$(secs_since "$t0")
    wait "$lp" || die "emberbench failed"
    rec_load "$1" "$work/load.kv"
    rec "$1_s=$s cover=$(awk -v a="$s" -v d="$dur" \
        'BEGIN {printf "%.2f", a < d ? a / d : 1}')"
}

# mean_base FILE FILE: the mean ops/s and p99 of two loads without
mean_base() {
    cat "$@" | awk '{
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "ops_per_sec") { o += kv[2] }
            if (kv[1] == "p99_us") { p += kv[2] }
        }
    } END { printf "ops_base=%.0f p99_base=%.1f", o / NR, p / NR }'
}

rss_mb() { awk -v k="$(proc_kb "$pid" "$1")" 'BEGIN {printf "%.0f", k / 1024}'; }
disk_mb() { du -k "$1" | awk '{printf "%.1f", $1 / 1024}'; }

# ---- emberd ------------------------------------------------------------

# ember_start: exec emberd on this run's snapshot dir; records TAG_s, the
# time from exec to accepting (emberd listens once the load is done)
ember_start() {
    local t0
    port_open "$port" && die "port $port is taken (-p)"
    t0=$(now_ns)
    # shellcheck disable=SC2086
    "$EMBERD" -p "$port" -l 127.0.0.1 -U 0 -t "$threads" -m "$mb" -M \
        --snapshot-dir="$work/snap" --snapshot-interval=0 \
        --journal-max=$((mb * 4))m ${EMBERD_ARGS:-} >>"$work/log" 2>&1 &
    pid=$!
    wait_port "$port" "$pid" 3600 0.01 || die "emberd did not start"
    rec "$1_s=$(secs_since "$t0")"
}

# ember_stop SIGNAL [TAG]: signal emberd, wait for it; TAG_s: how long
ember_stop() {
    local t0 st
    t0=$(now_ns)
    kill -"$1" "$pid"
    { wait "$pid"; } 2>/dev/null     # no "Killed" from the shell
    st=$?
    [ -n "${2:-}" ] && rec "$2_s=$(secs_since "$t0")"
    [ "$1" = KILL ] || [ $st = 0 ] || die "emberd exited $st after SIG$1"
    pid=""
}

# snapshot: `snapshot` (OK once it is durable)
snapshot() { [ "$(mc_cmd "$port" snapshot 3600)" = OK ]; }
no_wait() { :; }

# expect_items: curr_items is N
expect_items() {
    local got
    got=$(mc_stat "$port" curr_items)
    [ "$got" = "$n" ] || die "emberd holds $got items, not $n"
}

# anon_peak PID FILE: until killed, keep in FILE the largest RssAnon (kB)
# of PID seen at 20 ms intervals (the snapshot's own memory: VmHWM would
# count data.mdb's mapped pages too)
anon_peak() {
    local top=0 kb
    while kb=$(proc_kb "$1" RssAnon 2>/dev/null) && [ -n "$kb" ]; do
        [ "$kb" -gt "$top" ] && top=$kb && echo "$top" >"$2"
        sleep 0.02
    done
}

# ember_snapshots: the full and the 1 % incremental snapshot, idle
ember_snapshots() {
    local t0 base sp
    base=$(proc_kb "$pid" RssAnon)
    echo "$base" >"$work/anon"
    anon_peak "$pid" "$work/anon" &
    sp=$!
    t0=$(now_ns)
    snapshot || die "full snapshot failed"
    rec "full_s=$(secs_since "$t0")"
    kill "$sp"
    wait "$sp" 2>/dev/null
    rec "snap_extra_mb=$(awk -v b="$base" '{printf "%.0f", ($1 - b) / 1024}' \
        "$work/anon")"
    [ "$(mc_stat "$port" snapshot_last_full)" = 1 ] ||
        die "the first snapshot was not full"
    rec "disk_mb=$(disk_mb "$work/snap/data.mdb")"
    fill --step 100 --gen 1 >/dev/null
    t0=$(now_ns)
    snapshot || die "incremental snapshot failed"
    rec "inc_s=$(secs_since "$t0")"
    rec "inc_items=$(mc_stat "$port" snapshot_last_items_written)"
    [ "$(mc_stat "$port" snapshot_last_full)" = 0 ] ||
        die "the 1 % snapshot was a full one"
}

# snap_loop FLAG: `snapshot`, then 1 s of rest, while FLAG exists
snap_loop() {
    while [ -e "$1" ]; do
        snapshot || return 1
        sleep 1
    done
}

# ember_inc_load: the load with a snapshot every second (incremental: a
# full one ran before); records ops_inc/p99_inc, how many were taken and
# whether the last one was full after all
ember_inc_load() {
    local lp sl c0
    c0=$(mc_stat "$port" snapshot_count)
    : >"$work/inc.on"
    load >"$work/inc.kv" &
    lp=$!
    snap_loop "$work/inc.on" &
    sl=$!
    wait "$lp" || die "emberbench failed"
    rm -f "$work/inc.on"
    wait "$sl" || die "a snapshot every second failed"
    rec_load inc "$work/inc.kv"
    rec "inc_snaps=$(($(mc_stat "$port" snapshot_count) - c0))"
    rec "inc_last_full=$(mc_stat "$port" snapshot_last_full)"
}

# ember_restarts: SIGTERM and restart; 1 % more, kill -9 and restart
ember_restarts() {
    ember_stop TERM stop_idle
    ember_start restart
    expect_items
    rec "restart_rss_mb=$(rss_mb VmRSS)"
    rec "warm_us=$(mc_stat "$port" warm_restart_duration_us)"
    fill --check --first 1 --step 50 >/dev/null
    fill --check --step 100 --gen 1 >/dev/null
    fill --step 100 --gen 2 >/dev/null
    ember_stop KILL
    ember_start kill_restart
    expect_items
    rec "replayed=$(mc_stat "$port" journal_replayed_records)"
    fill --check --step 100 --gen 2 >/dev/null
}

ember_run() {
    local est
    mkdir -p "$work"
    est=$(fill --dry -n $((n < 20000 ? n : 20000)) | field raw_bytes)
    [ -n "$est" ] || die "scalefill --dry failed"
    mb=$(awk -v e="$est" -v n="$n" -v s=$((n < 20000 ? n : 20000)) \
        'BEGIN {printf "%d", n * (e / s + 120) * 1.25 / 1048576 + 64}')
    say "$n $kind: emberd -m $mb: fill"
    line="server=emberd items=$n kind=$kind m=$mb"
    ember_start start
    fill_all
    expect_items
    rec "rss_mb=$(rss_mb VmRSS)"
    say "$n $kind: emberd snapshots"
    ember_snapshots
    dur=${dur_opt:-$(echo "$line" | field full_s |
        awk '{d = int($1 + 0.999); print (d < 3 ? 3 : (d > 30 ? 30 : d))}')}
    say "$n $kind: emberd restarts"
    ember_restarts
    say "$n $kind: emberd loads, $dur s each"
    load >"$work/b1.kv"
    during snap snapshot no_wait
    [ "$(mc_stat "$port" snapshot_last_full)" = 1 ] || rec "snap_was=inc"
    load >"$work/b2.kv"
    rec "$(mean_base "$work/b1.kv" "$work/b2.kv") dur=$dur"
    say "$n $kind: emberd load with a snapshot every second"
    ember_inc_load
    ember_stop TERM stop
    echo "$line" >>"$raw"
    mv "$work/log" "$outdir/emberd-$n-$kind.log"
    rm -rf "$work"
}

# ---- Redis -------------------------------------------------------------

rcli() { "$REDIS_CLI" -p "$port" "$@"; }

# redis_start TAG: exec redis-server; TAG_s: exec -> PING answered PONG
# (Redis accepts while it loads the RDB but answers -LOADING until done)
redis_start() {
    local t0 end
    port_open "$port" && die "port $port is taken (-p)"
    t0=$(now_ns)
    "$REDIS_SERVER" "$work/redis.conf" >>"$work/log" 2>&1 &
    pid=$!
    end=$(($(now_ns) + 3600000000000))
    until [ "$(rcli ping 2>/dev/null)" = PONG ]; do
        { kill -0 "$pid" 2>/dev/null && [ "$(now_ns)" -lt "$end" ]; } ||
            die "redis-server did not start"
        sleep 0.01
    done
    rec "$1_s=$(secs_since "$t0")"
}

redis_stop() {
    rcli shutdown nosave >/dev/null 2>&1
    wait "$pid"
    pid=""
}

# bgsave / bgsave_wait: start a BGSAVE; wait until it is over and ok
bgsave() { rcli bgsave >/dev/null; }
bgsave_wait() {
    while rcli info persistence | grep -q '^rdb_bgsave_in_progress:1'; do
        sleep 0.01
    done
    rcli info persistence | grep -q '^rdb_last_bgsave_status:ok'
}

redis_items() {
    local got
    got=$(rcli dbsize)
    [ "$got" = "$n" ] || die "redis holds $got keys, not $n"
}

redis_run() {
    local t0
    mkdir -p "$work"
    cat >"$work/redis.conf" <<CONF
port $port
bind 127.0.0.1
dir $work
dbfilename dump.rdb
save ""
appendonly no
logfile $work/redis.log
daemonize no
CONF
    say "$n $kind: redis fill"
    line="server=redis items=$n kind=$kind dur=$dur"
    redis_start start
    fill_all --redis
    redis_items
    rec "rss_mb=$(rss_mb VmRSS)"
    say "$n $kind: redis BGSAVE and restart"
    t0=$(now_ns)
    { bgsave && bgsave_wait; } || die "BGSAVE failed"
    rec "full_s=$(secs_since "$t0") disk_mb=$(disk_mb "$work/dump.rdb")"
    rec "snap_extra_mb=$(rcli info persistence |
        awk -F: '/^rdb_last_cow_size:/ {printf "%.0f", $2 / 1048576}')"
    redis_stop
    redis_start restart
    redis_items
    rec "restart_rss_mb=$(rss_mb VmRSS)"
    rec "warm_us=$(sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' \
        "$work/redis.log" | awk '{printf "%.0f", $1 * 1e6}')"
    fill --redis --check --first 1 --step 50 >/dev/null
    say "$n $kind: redis loads, $dur s each"
    load --redis >"$work/b1.kv"
    during snap bgsave bgsave_wait --redis
    load --redis >"$work/b2.kv"
    rec "$(mean_base "$work/b1.kv" "$work/b2.kv")"
    redis_stop
    echo "$line" >>"$raw"
    cat "$work/log" "$work/redis.log" >"$outdir/redis-$n-$kind.log"
    rm -rf "$work"
}

# ---- report ------------------------------------------------------------

# summarize RAW: one markdown table per item count, then per count and
# kind emberd's ratios to Redis and the issue's goals
summarize() {
    awk '
    function g(k, name) { return (k SUBSEP name) in v ? v[k, name] : "-" }
    function ratio(a, b) {
        return (a == "-" || b == "-" || b + 0 == 0) ? "-" \
            : sprintf("%.2f", a / b)
    }
    function goal(what, got, op, want, unit) {
        if (got == "-") { return }
        ok = op == ">=" ? got + 0 >= want : got + 0 <= want
        printf "- %s: %s%s (goal %s %s%s): %s\n", what, got, unit, op,
            want, unit, ok ? "met" : sprintf("missed by %.1fx",
            op == ">=" ? want / (got > 0 ? got : 1e-9) : got / want)
    }
    {
        delete f
        for (i = 1; i <= NF; i++) {
            eq = index($i, "=")
            f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
        }
        k = f["items"] SUBSEP f["kind"] SUBSEP f["server"]
        for (name in f) { v[k, name] = f[name] }
        if (!(f["items"] in seen_n)) { seen_n[f["items"]] = 1; ns[++nn] = f["items"] }
        if (!(f["kind"] in seen_k)) { seen_k[f["kind"]] = 1; ks[++nk] = f["kind"] }
    }
    END {
        for (a = 1; a <= nn; a++) {
            n = ns[a]
            printf "\n#### %d items\n\n", n
            print "| values | server | fill items/s | restart s | restart M items/s | kill -9 restart s | full snapshot s | 1 % incremental s | snapshot MB | raw MB | ratio | RSS MB | snapshot +MB | ops/s | p99 us | ops/s in snapshot | p99 in snapshot | ops x | p99 x | ops x, 1 s snapshots | p99 x, 1 s snapshots | cover | stop s |"
            print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            for (b = 1; b <= nk; b++) {
                for (c = 0; c < 2; c++) {
                    s = c ? "redis" : "emberd"
                    k = n SUBSEP ks[b] SUBSEP s
                    if (!((k, "items") in v)) { continue }
                    rs = g(k, "restart_s")
                    printf "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                        ks[b], s, g(k, "fill_ips"), rs,
                        rs == "-" ? "-" : sprintf("%.2f", n / rs / 1e6),
                        g(k, "kill_restart_s"), g(k, "full_s"), g(k, "inc_s"),
                        g(k, "disk_mb"), g(k, "raw_mb"),
                        ratio(g(k, "disk_mb"), g(k, "raw_mb")), g(k, "rss_mb"),
                        g(k, "snap_extra_mb"), g(k, "ops_base"),
                        g(k, "p99_base"), g(k, "ops_snap"), g(k, "p99_snap"),
                        ratio(g(k, "ops_snap"), g(k, "ops_base")),
                        ratio(g(k, "p99_snap"), g(k, "p99_base")),
                        ratio(g(k, "ops_inc"), g(k, "ops_base")),
                        ratio(g(k, "p99_inc"), g(k, "p99_base")),
                        g(k, "cover"), g(k, "stop_s")
                }
            }
            for (b = 1; b <= nk; b++) {
                e = n SUBSEP ks[b] SUBSEP "emberd"
                r = n SUBSEP ks[b] SUBSEP "redis"
                if (!((e, "items") in v)) { continue }
                printf "\n%d items, %s values, emberd", n, ks[b]
                if ((r, "items") in v) {
                    printf " / Redis: restart %sx, full snapshot / BGSAVE %sx, snapshot / dump.rdb %sx, RSS %sx",
                        ratio(g(e, "restart_s"), g(r, "restart_s")),
                        ratio(g(e, "full_s"), g(r, "full_s")),
                        ratio(g(e, "disk_mb"), g(r, "disk_mb")),
                        ratio(g(e, "rss_mb"), g(r, "rss_mb"))
                }
                print ""
                rs = g(e, "restart_s")
                goal("warm restart", sprintf("%.2f", n / rs / 1e6), ">=", 5, " M items/s")
                if ((r, "items") in v) {
                    goal("restart / Redis RDB load", ratio(rs, g(r, "restart_s")), "<=", 0.2, "x")
                }
                if (n == 1000000) { goal("restart of 1 M", rs, "<=", 0.2, " s") }
                if (n == 16000000) { goal("restart of 16 M", rs, "<=", 3.5, " s") }
                goal("full snapshot", sprintf("%.2f", n / g(e, "full_s") / 1e6), ">=", 2, " M items/s")
                if (n == 16000000) { goal("1 % incremental of 16 M", g(e, "inc_s"), "<=", 0.3, " s") }
                if (ks[b] == "corpus") {
                    goal("snapshot / raw bytes", ratio(g(e, "disk_mb"), g(e, "raw_mb")), "<=", 0.4, "x")
                }
                goal("ops/s during a full snapshot", ratio(g(e, "ops_snap"), g(e, "ops_base")), ">=", 0.95, "x")
                goal("p99 during a full snapshot", ratio(g(e, "p99_snap"), g(e, "p99_base")), "<=", 1.2, "x")
                goal("ops/s with a snapshot every second", ratio(g(e, "ops_inc"), g(e, "ops_base")), ">=", 0.95, "x")
                goal("p99 with a snapshot every second", ratio(g(e, "p99_inc"), g(e, "p99_base")), "<=", 1.2, "x")
                if (g(e, "inc_last_full") == 1) { print "  (the last of the snapshots every second was a full one)" }
                if (n == 16000000) { goal("graceful stop of 16 M", g(e, "stop_s"), "<=", 0.2, " s") }
            }
        }
    }' "$1"
}

echo "# command: $cmdline"
echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')  host: $(nproc) CPUs," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# emberd: $EMBERD ($("$EMBERD" -V 2>&1 | head -n 1))"
[ $use_redis = 1 ] && echo "# redis: $("$REDIS_SERVER" --version | cut -d' ' -f1-3)"
echo "# raw results: $raw"
for nn in ${items//,/ }; do
    n=$(count_of "$nn")
    for kind in ${kinds//,/ }; do
        ember_run
        [ $use_redis = 1 ] && redis_run
    done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
summarize "$raw"
