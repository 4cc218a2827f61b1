#!/bin/sh
# soak.sh -- hours of mixed load on one emberd (-m 8: eviction all the
# time; sets expiring in 1-3 s; snapshots every 2 s; clients connecting
# and disconnecting), sampling RSS, open fds, data.mdb size and stats
# every SOAK_SAMPLE seconds; fails when any of them grows without bound
# (last third of the samples against the middle third). The engine is
# tests/integration/test_soak_short.py, which CI runs for 75 s.
#
#   tools/bench/soak.sh [HOURS]          (default 2; `make soak` runs it)
#
# EMBERD defaults to ./daemon/emberd (run from a build directory). The
# samples go to SOAK_TSV (default soak-YYYYmmddTHHMMSS.tsv here) as they
# are taken, so a long run can be watched: `column -t soak-*.tsv | tail`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
hours=${1:-2}
EMBERD=${EMBERD:-./daemon/emberd}
[ -x "$EMBERD" ] || { echo "soak.sh: no emberd at $EMBERD" >&2; exit 2; }
EMBERD=$(cd "$(dirname "$EMBERD")" && pwd)/$(basename "$EMBERD")
SOAK_SECONDS=$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')
SOAK_TSV=${SOAK_TSV:-$(pwd)/soak-$(date -u +%Y%m%dT%H%M%S).tsv}
SOAK_SAMPLE=${SOAK_SAMPLE:-10}
export EMBERD SOAK_SECONDS SOAK_TSV SOAK_SAMPLE
echo "soak.sh: $EMBERD for $SOAK_SECONDS s, samples every $SOAK_SAMPLE s" \
     "in $SOAK_TSV"
exec /usr/bin/python3 "$here/../../tests/integration/test_soak_short.py"
