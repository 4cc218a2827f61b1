#!/bin/sh
# rolling-restart.sh -- rolling restart of a 3-node pool behind nutcracker
# under a cache-aside load, with emberd and then Debian's memcached as the
# nodes in the same run; hit ratio and proxy errors per second.
#
#   tools/bench/rolling-restart.sh [-e EMBERD] [-o OUTDIR] [-- PY-OPTIONS]
# (PY-OPTIONS: tools/bench/rolling-restart.py --help; --takeover: emberd's
# nodes are taken over by a new emberd instead of restarted)
#
# EMBERD defaults to ./daemon/emberd (run it from a build directory).
# Writes OUTDIR/rolling.tsv and OUTDIR/events.txt (default OUTDIR:
# rolling-out) and prints a Markdown table; exits 1 when ember's hit ratio
# falls below 95% of its level before the first restart. Plot the TSV
# with tools/bench/plot-rolling.sh. Needs nutcracker, memcached, python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
emberd=${EMBERD:-./daemon/emberd}
out=rolling-out
while getopts e:o:h opt; do
    case $opt in
    e) emberd=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -x "$emberd" ] || {
    echo "rolling-restart.sh: no emberd at $emberd" >&2
    exit 2
}
command -v nutcracker >/dev/null 2>&1 || [ -x /usr/sbin/nutcracker ] ||
    { echo "rolling-restart.sh: nutcracker not installed" >&2; exit 2; }
EMBERD=$(cd "$(dirname "$emberd")" && pwd)/$(basename "$emberd")
export EMBERD
echo "# emberd: $EMBERD ($("$EMBERD" -V 2>&1 | head -1)); memcached:" \
     "$(/usr/bin/memcached -V); $(nutcracker -V 2>&1 | head -1)"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average:" \
     "$(cut -d' ' -f1-3 /proc/loadavg)"
exec /usr/bin/python3 "$here/rolling-restart.py" --out "$out" "$@"
