#!/bin/sh
# bench-takeover-gap.sh -- how long no process accepts during an
# `emberd --takeover` (issue 13): fill one emberd with N items, write a
# snapshot, then take it over K times in a row under a light client load
# (one connection setting and getting its own keys), and print, per
# takeover, the new emberd's own figure (its log line "no process
# accepted for X ms: ...", the same as `stats` takeover_accept_gap_us)
# and a probe's from outside: a thread that connects every 2 ms and asks
# `version`; its longest wait for an answered connect around the
# takeover, next to the same in the 4 s before (what the machine alone
# costs it). Then the median and maximum of each.
#
#   tools/bench/bench-takeover-gap.sh [-e EMBERD] [-f SCALEFILL] [-n N]
#                                     [-k K] [-m MB] [-p PORT]
#
# Defaults: ./daemon/emberd and ./tools/bench/scalefill (run it from a
# build directory), N 1000000, K 3, -m 1024, port 21411. The directory
# is a temporary one, removed at the end. Needs python3.
set -eu
emberd=./daemon/emberd
scalefill=./tools/bench/scalefill
items=1000000
rounds=3
mem=1024
port=21411
while getopts e:f:n:k:m:p:h opt; do
    case $opt in
    e) emberd=$OPTARG ;;
    f) scalefill=$OPTARG ;;
    n) items=$OPTARG ;;
    k) rounds=$OPTARG ;;
    m) mem=$OPTARG ;;
    p) port=$OPTARG ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
    esac
done
for x in "$emberd" "$scalefill"; do
    [ -x "$x" ] || { echo "bench-takeover-gap.sh: no $x" >&2; exit 2; }
done
work=$(mktemp -d /tmp/takeover-gap.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM
echo "# emberd: $emberd ($("$emberd" -V 2>&1 | head -1)); $items items," \
     "$rounds takeovers"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average:" \
     "$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$emberd" "$scalefill" "$items" "$rounds" "$mem" \
    "$port" "$work" <<'EOF'
import os, re, socket, statistics, subprocess, sys, threading, time

emberd, scalefill, items, rounds, mem, port, work = sys.argv[1:]
items, rounds, port = int(items), int(rounds), int(port)
ARGV = [emberd, "-p", str(port), "-l", "127.0.0.1", "-m", mem, "-t", "2",
        "--snapshot-dir=" + os.path.join(work, "snap"),
        "--snapshot-interval=3600"]
GAP = re.compile(r"no process accepted for ([0-9.]+) ms: old drained "
                 r"([0-9.]+) ms, journal durable ([0-9.]+) ms, sockets "
                 r"passed ([0-9.]+) ms, new applied ([0-9]+) change\(s\) "
                 r"in ([0-9.]+) ms")


def request(data, timeout=120):
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        buf = b""
        while not buf.endswith(b"\r\n"):
            got = s.recv(65536)
            if not got:
                break
            buf += got
        return buf


def pid_serving():
    try:
        st = request(b"stats\r\n", 5)
    except OSError:
        return None
    m = re.search(rb"STAT pid (\d+)", st)
    return int(m.group(1)) if m else None


class Probe(threading.Thread):
    """Connect every 2 ms, ask `version`: when each connect began and
    when it was answered."""

    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop, self.done = stop, []

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", port), 10) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(64).startswith(b"VERSION"):
                        self.done.append((t, time.monotonic()))
            except OSError:
                pass
            time.sleep(0.002)

    def longest_wait(self, t0, t1):
        """Longest time in [t0, t1] from a probe's connect (or the last
        answer) to the next answer."""
        last, worst = t0, 0.0
        for start, end in self.done:
            if end < t0 or start > t1:
                continue
            worst = max(worst, end - max(last, start))
            last = max(last, end)
        return worst


class Client(threading.Thread):
    """A light load: set and get its own keys on one connection,
    reconnecting when a takeover closes it."""

    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop, self.requests = stop, 0

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), 5) as s:
                    while not self.stop.is_set():
                        k = b"load:%d" % (i % 5000)
                        s.sendall(b"set %s 0 0 6\r\n%06d\r\nget %s\r\n"
                                  % (k, i % 1000000, k))
                        buf = b""
                        while not buf.endswith(b"END\r\n"):
                            got = s.recv(4096)
                            if not got:
                                raise OSError("closed")
                            buf += got
                        i += 1
                        self.requests += 1
                        time.sleep(0.001)
            except OSError:
                time.sleep(0.01)


out = open(os.path.join(work, "old.log"), "wb")
old = subprocess.Popen(ARGV, stdout=out, stderr=subprocess.STDOUT)
while pid_serving() is None:
    time.sleep(0.05)
t = time.monotonic()
subprocess.run([scalefill, "-S", "127.0.0.1:%d" % port, "-n", str(items),
                "-c", "2"], check=True, stdout=subprocess.DEVNULL)
assert request(b"snapshot\r\n", 600) == b"OK\r\n"
print("# filled %d items and wrote a snapshot in %.1f s"
      % (items, time.monotonic() - t))

stop = threading.Event()
probe, client = Probe(stop), Client(stop)
probe.start()
client.start()
rows = []
for r in range(rounds):
    time.sleep(4.0)
    t0 = time.monotonic()
    log = os.path.join(work, "new%d.log" % r)
    new = subprocess.Popen(ARGV + ["--takeover"], stdout=open(log, "wb"),
                           stderr=subprocess.STDOUT)
    if old.wait(300) != 0:
        sys.exit("the old emberd exited %s" % old.returncode)
    while pid_serving() != new.pid:
        time.sleep(0.01)
    t1 = time.monotonic()
    time.sleep(0.5)
    with open(log) as f:
        m = GAP.search(f.read())
    if m is None:
        sys.exit("no gap line from the new emberd, see " + log)
    st = request(b"stats\r\n", 5)
    shown = int(re.search(rb"STAT takeover_accept_gap_us (\d+)",
                          st).group(1))
    row = [float(x) for x in m.groups()] + [
        shown / 1000.0, probe.longest_wait(t0, t1 + 0.5) * 1000,
        probe.longest_wait(t0 - 4.0, t0) * 1000, t1 - t0]
    rows.append(row)
    print("takeover %d: gap %.1f ms (stats %.1f): drained %.1f, durable "
          "%.1f, passed %.1f, applied %d in %.1f ms; probe longest wait "
          "%.0f ms (before: %.0f ms); to serving %.2f s"
          % (r + 1, row[0], row[6], row[1], row[2], row[3], int(row[4]),
             row[5], row[7], row[8], row[9]))
    old = new
stop.set()
print("client: %d requests" % client.requests)
for name, col in (("in-process gap ms", 0), ("probe longest wait ms", 7),
                  ("probe before ms", 8)):
    vals = [row[col] for row in rows]
    print("%s: median %.1f, max %.1f" % (name, statistics.median(vals),
                                           max(vals)))
old.terminate()
old.wait(120)
EOF
