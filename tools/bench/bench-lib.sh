# shellcheck shell=bash
# bench-lib.sh -- shell helpers the bench-*.sh scripts share; sourced, not
# run. Talks to servers with bash's /dev/tcp (no netcat needed).

# field NAME: the value of NAME=... in the key=value line on stdin
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# median: the middle of the numbers on stdin, one per line
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# port_open PORT: whether something accepts on 127.0.0.1:PORT
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# now_ns: the wall clock in nanoseconds
now_ns() { date +%s%N; }

# secs_since T0: seconds from T0 (now_ns) to now, 3 decimals
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.3f", (b - a) / 1e9}'; }

# wait_port PORT PID [SECS] [STEP]: poll every STEP seconds (default 0.1)
# until PORT accepts (0), PID died or SECS (default 10) passed (1)
wait_port() {
    local end=$(($(now_ns) + ${3:-10} * 1000000000))
    while [ "$(now_ns)" -lt "$end" ]; do
        kill -0 "$2" 2>/dev/null || return 1
        port_open "$1" && return 0
        sleep "${4:-0.1}"
    done
    return 1
}

# mc_cmd PORT LINE [SECS]: send LINE, print the first reply line (CR
# removed); fails when nothing came within SECS (default 10)
mc_cmd() {
    (
        exec 3<>/dev/tcp/127.0.0.1/"$1" || exit 1
        printf '%s\r\n' "$2" >&3
        IFS= read -r -t "${3:-10}" line <&3 || exit 1
        printf '%s\n' "${line%$'\r'}"
    )
}

# mc_stat PORT NAME: one value of the server's `stats`
mc_stat() { mc_stats "$1" | awk -v k="$2" '$1 == "STAT" && $2 == k {print $3}'; }

# proc_kb PID FIELD: FIELD (VmRSS, VmHWM...) of /proc/PID/status in kB
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# mc_stats PORT: the server's `stats` reply, CRs removed
mc_stats() {
    (
        exec 3<>/dev/tcp/127.0.0.1/"$1" || exit 1
        printf 'stats\r\n' >&3
        while IFS= read -r -t 5 line <&3; do
            line=${line%$'\r'}
            printf '%s\n' "$line"
            [ "$line" = END ] && break
        done
    )
}

# bench_defaults: set EMBERD, MEMCACHED, EMBERBENCH and SCALEFILL (the
# environment's, else the build directory's and Debian's)
bench_defaults() {
    EMBERD=${EMBERD:-./daemon/emberd}
    MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
    EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
    SCALEFILL=${SCALEFILL:-./tools/bench/scalefill}
}

# require_exec PATH...: exit 2 when one is not an executable
require_exec() {
    local b
    for b in "$@"; do
        [ -x "$b" ] || { echo "$0: $b is not an executable" >&2; exit 2; }
    done
}

# mc_snapshot PORT [SECONDS]: ask for a snapshot and wait (120 s unless
# given) for its OK; 1 with the reply on stderr otherwise
mc_snapshot() {
    local line
    line=$(mc_cmd "$1" snapshot "${2:-120}")
    [ "$line" = OK ] || { echo "snapshot: $line" >&2; return 1; }
}

# bench_binaries: bench_defaults, and exit 2 when emberd, memcached or
# emberbench is missing
bench_binaries() {
    bench_defaults
    require_exec "$EMBERD" "$MEMCACHED" "$EMBERBENCH"
}
