#!/bin/sh
# check_dist.sh -- the source tarball is complete and builds (issue 14):
# `make distcheck` passes (the tarball unpacked read-only, configured out
# of tree, built, its packaging tests run, installed, uninstalled leaving
# nothing, distcleaned leaving nothing, and made into a tarball again);
# the tarball holds every file git tracks and what an operator and a
# packager need (contrib/, docs/, man/, examples/, build.sh, LICENSE,
# .ci/), and nothing built.
# Inside distcheck only check_layering.sh and check_install.sh run (the
# whole suite would run twice, and this test again within itself).
# Runs in $EMBER_BUILDDIR. Output: one line per failed case, then the
# ember-tests tally.
set -u
: "${EMBER_BUILDDIR:?set by make check}"
: "${EMBER_SRCDIR:?set by make check}"
. "$EMBER_SRCDIR/tests/check_lib.sh"

archive=$($MAKE -s -C "$EMBER_BUILDDIR" print-dist-archive)
if $MAKE -C "$EMBER_BUILDDIR" -j2 distcheck \
        TESTS="tests/check_layering.sh tests/check_install.sh" \
        >"$tmp/distcheck.log" 2>&1; then
    ok
else
    tail -n 60 "$tmp/distcheck.log"
    bad "make distcheck (log above)"
fi
if [ ! -f "$EMBER_BUILDDIR/$archive" ]; then
    bad "no $archive after make distcheck"
    finish
fi
tar -tzf "$EMBER_BUILDDIR/$archive" | sed 's|^[^/]*/||' | grep -v '/$' |
    sort > "$tmp/listed"
rm -f "$EMBER_BUILDDIR/$archive"

# what the operator, the packager and the developer need
for f in LICENSE README.md build.sh configure Makefile.in .ci/run \
        .ci/allowed-skips contrib/emberd.service.in contrib/emberd.conf \
        man/emberd.8.in man/embersnap.1.in docs/DEPLOYMENT.md \
        docs/STATS.md examples/cache_aside.py examples/restart_demo.py \
        tests/check_dist.sh tests/integration/test_examples.py; do
    check "$f in $archive" grep -qx -- "$f" "$tmp/listed"
done
# nothing built, no version control
built=$(grep -E '\.(o|a|so|trs|log)$|(^|/)\.git/|^daemon/emberd$' \
        "$tmp/listed")
check "built files in $archive: $built" test -z "$built"
# every file git tracks (.gitignore aside); the dist-hook refuses a
# tarball without one, this checks the tarball that came out
if git -C "$EMBER_SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1
then
    git -C "$EMBER_SRCDIR" ls-files | grep -v '\.gitignore$' | sort \
        > "$tmp/tracked"
    missing=$(comm -23 "$tmp/tracked" "$tmp/listed" | tr '\n' ' ')
    check "tracked but not in $archive: $missing" test -z "$missing"
else
    skipped check_dist.tracked "$EMBER_SRCDIR is not a git tree"
fi

finish
