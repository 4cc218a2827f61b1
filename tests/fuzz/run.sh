#!/bin/sh
# run.sh TESTS_SRCDIR NAME... -- run libFuzzer targets, as `make fuzz`
# does (tests/fuzz.mk), from the build directory: each NAME for
# FUZZ_SECONDS (default 60) on its seeds (TESTS_SRCDIR/fuzz/NAME/, read
# only) and the corpus earlier runs grew (tests/fuzz-out/NAME/corpus/,
# where new inputs go). A target passes when libFuzzer exits 0 (no crash,
# leak, timeout or sanitizer report). A failing one prints the end of
# libFuzzer's report (the stack) and each reproducer: its path, size, a
# hex dump and the command that replays it. Last line, for .ci/run:
#   ember-tests: P passed, F failed, 0 skipped
set -u
src=$1
shift
secs=${FUZZ_SECONDS:-60}
pass=0
fail=0

# opts NAME: the binary and the libFuzzer options of target NAME
opts() {
    case $1 in
    proto_text)
        echo "tests/fuzz_proto_text -max_len=4096" \
             "-dict=$src/fuzz_proto_text.dict" ;;
    proto_meta) echo "tests/fuzz_proto_meta -max_len=2048" ;;
    snapfmt_record) echo "tests/fuzz_snapfmt_record -max_len=65536" ;;
    journal) echo "tests/fuzz_journal -max_len=65536" ;;
    snap_load) echo "tests/fuzz_snap_load -max_len=131072" ;;
    *) return 1 ;;
    esac
}

# report NAME OUT: what a failed run left, for whoever reads the CI log
report() {
    echo "--- fuzz $1: the end of libFuzzer's report ($2/log):"
    grep -v '^#[0-9]' "$2/log" | tail -n 45 | sed 's/^/    /'
    for f in "$2"/crashes/*; do
        [ -f "$f" ] || continue
        echo "--- fuzz $1: reproducer $(pwd)/$f ($(wc -c < "$f") bytes);" \
             "replay: $(pwd)/$bin $(pwd)/$f"
        od -A x -t x1z -v "$f" | head -n 32 | sed 's/^/    /'
        [ "$(wc -c < "$f")" -gt 512 ] && echo "    ... (hex dump cut)"
    done
    # libFuzzer stops at the first crash: say which other seeds fail too
    echo "--- fuzz $1: each seed alone:"
    for f in "$src/fuzz/$1"/*; do
        r=$(./$bin -timeout=30 "$f" 2>&1 | grep -E '^SUMMARY|ERROR: libFuzzer' |
            head -n 1 | sed 's/ (BuildId: [0-9a-f]*)//')
        echo "    $(basename "$f"): ${r:-ok}"
    done
}

for name in "$@"; do
    if ! o=$(opts "$name"); then
        echo "FAIL: fuzz $name: no such target"
        fail=$((fail + 1))
        continue
    fi
    set -- $o
    bin=$1
    shift
    out=tests/fuzz-out/$name
    mkdir -p "$out/corpus" "$out/crashes"
    rm -f "$out"/crashes/*
    if [ ! -x "$bin" ]; then
        echo "FAIL: fuzz $name: $bin not built"
        fail=$((fail + 1))
        continue
    fi
    start=$(date +%s)
    ./$bin -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$out/crashes/" "$@" \
        "$out/corpus" "$src/fuzz/$name" > "$out/log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
    took=$(( $(date +%s) - start ))
    found=$(ls "$out/corpus" | wc -l)
    seeds=$(ls "$src/fuzz/$name" | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "PASS: fuzz $name: ${runs:-?} inputs in ${took} s," \
             "corpus $found + $seeds seeds"
        pass=$((pass + 1))
    else
        echo "FAIL: fuzz $name: libFuzzer exit $rc after ${runs:-?}" \
             "inputs in ${took} s"
        report "$name" "$out"
        fail=$((fail + 1))
    fi
done
echo "ember-tests: $pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
