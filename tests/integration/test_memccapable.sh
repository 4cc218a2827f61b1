#!/bin/sh
# memccapable (libmemcached-tools) ASCII conformance: the server under test
# must pass exactly the tests that memcached passes.  Also checks that each
# server exits 0 on SIGTERM afterwards.
# Exit: 0 pass, 1 fail, 77 skip (automake).  Each memccapable test is one
# case; the last line is the tally .ci/run reads ("ember-tests: ...").

MEMCCAPABLE=/usr/bin/memccapable
MEMCACHED=/usr/bin/memcached
PY=/usr/bin/python3
here=$(dirname "$0")
kind=${EMBER_TEST_SERVER:-emberd}
emberd=${EMBERD:-$here/../../daemon/emberd}
tmp=$(mktemp -d) || exit 99
pids=
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# skip REASON / fail REASON: end the file as one case
skip() {
    echo "ember-skip: test_memccapable: $1"
    echo "ember-tests: 0 passed, 0 failed, 1 skipped: test_memccapable"
    exit 77
}
fail() {
    echo "FAIL: $1"
    echo "ember-tests: 0 passed, 1 failed, 0 skipped"
    exit 1
}

[ -x "$MEMCCAPABLE" ] || skip "$MEMCCAPABLE missing"
[ -x "$MEMCACHED" ] || skip "$MEMCACHED missing"
if [ "$kind" = emberd ] && [ ! -x "$emberd" ]; then
    skip "emberd not built ($emberd)"
fi

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_port PORT PID: up to 15 s for a listener; fails if PID died
wait_port() {
    "$PY" - "$1" "$2" <<'EOF'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
end = time.monotonic() + 15
while time.monotonic() < end:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# run NAME ARGV...: start the server, run memccapable, stop; passed test
# names go to $tmp/NAME.pass
run() {
    name=$1
    shift
    port=$(free_port)
    "$@" -p "$port" -l 127.0.0.1 -U 0 >"$tmp/$name.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    if ! wait_port "$port" "$pid"; then
        echo "FAIL: $name did not start:"; cat "$tmp/$name.log"
        return 1
    fi
    timeout 120 "$MEMCCAPABLE" -a -t 5 -h 127.0.0.1 -p "$port" \
        >"$tmp/$name.out" 2>&1
    echo "== memccapable -a against $name (exit $?)"
    cat "$tmp/$name.out"
    grep '\[pass\]' "$tmp/$name.out" | sed 's/ *\[pass\]//' | sort \
        >"$tmp/$name.pass"
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "FAIL: $name ignored SIGTERM for 15 s"
        return 1
    fi
    wait "$pid"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL: $name exited $rc on SIGTERM"; cat "$tmp/$name.log"
        return 1
    fi
    return 0
}

root_user=
[ "$(id -u)" = 0 ] && root_user="-u root"
# shellcheck disable=SC2086
run memcached "$MEMCACHED" -B ascii $root_user || fail "memcached run"
if [ "$kind" = memcached ]; then
    # shellcheck disable=SC2086
    run server "$MEMCACHED" -B ascii $root_user || fail "server run"
else
    run server "$emberd" || fail "server run"
fi

n=$(wc -l <"$tmp/memcached.pass")
[ "$n" -ge 20 ] || fail "memcached passed only $n tests: memccapable broken?"
# a case: one memccapable test; it passes when the server passes it
# exactly where memcached does (a test only one of them passes fails)
same=$(comm -12 "$tmp/memcached.pass" "$tmp/server.pass" | wc -l)
differ=$(comm -3 "$tmp/memcached.pass" "$tmp/server.pass" | wc -l)
if [ "$differ" -ne 0 ]; then
    diff -u "$tmp/memcached.pass" "$tmp/server.pass"
    echo "FAIL: passed tests differ from memcached's (- memcached, + $kind)"
    echo "ember-tests: $same passed, $differ failed, 0 skipped"
    exit 1
fi
echo "ok: $kind passes the same $n memccapable -a tests as memcached"
echo "ember-tests: $same passed, 0 failed, 0 skipped"
exit 0
