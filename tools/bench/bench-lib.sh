# shellcheck shell=bash
# bench-lib.sh -- shell helpers the bench-*.sh scripts share; sourced, not
# run. Talks to servers with bash's /dev/tcp (no netcat needed).

# field NAME: the value of NAME=... in the key=value line on stdin
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# median: the middle of the numbers on stdin, one per line
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# port_open PORT: whether something accepts on 127.0.0.1:PORT
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# wait_port PORT PID: until PORT accepts (0), PID died or 10 s passed (1)
wait_port() {
    local _
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        port_open "$1" && return 0
        sleep 0.1
    done
    return 1
}

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

# bench_binaries: set EMBERD, MEMCACHED and EMBERBENCH (the environment's,
# else the build directory's and Debian's); exit 2 when one is missing
bench_binaries() {
    EMBERD=${EMBERD:-./daemon/emberd}
    MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
    EMBERBENCH=${EMBERBENCH:-./tools/bench/emberbench}
    for b in "$EMBERD" "$MEMCACHED" "$EMBERBENCH"; do
        [ -x "$b" ] || { echo "$0: $b is not an executable" >&2; exit 2; }
    done
}
