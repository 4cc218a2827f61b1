# check_lib.sh -- sourced by the shell tests that drive make themselves
# (check_install.sh, check_dist.sh): their case counting and tally, in
# the form .ci/run reads, and a scratch directory removed at exit.
#   check NAME COMMAND...   one case: passes when COMMAND succeeds
#   ok / bad MESSAGE        count a case that passed / failed (printed)
#   skipped NAME REASON     count a skipped case ("ember-skip:" line)
#   finish                  print "ember-tests: P passed, F failed, S
#                           skipped" and exit 1, 77 or 0 as automake wants
# Sets $tmp (the scratch directory) and $MAKE; unsets MAKEFLAGS so that
# their make is one of its own, not a job of the `make check` running
# them.
MAKE=${MAKE:-make}
unset MAKEFLAGS MFLAGS
pass=0 fail=0 skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() {
    name=$1; shift
    if "$@"; then ok; else bad "$name"; fi
}
skipped() {
    echo "ember-skip: $1: $2"
    skip=$((skip + 1))
}
finish() {
    echo "ember-tests: $pass passed, $fail failed, $skip skipped"
    [ "$fail" -eq 0 ] || exit 1
    [ "$skip" -eq 0 ] || exit 77
    exit 0
}
