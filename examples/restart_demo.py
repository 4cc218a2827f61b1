#!/usr/bin/python3
"""What a cache restart costs the database: memcached against ember.

An application reads products through the cache-aside code of
cache_aside.py (pymemcache, SQLite, JSON values) at a steady rate. Every
product is read once before the clock starts, so the cache is warm. At
--restart-at seconds the cache is restarted, once with kill -9 (a crash,
an OOM kill) and once with SIGTERM (a deploy, `systemctl restart`), and
the script counts the database queries per second against time:

  - while the cache is down every read goes to the database, whichever
    cache it is;
  - memcached comes back empty: every product is a miss again until a
    reader has refilled it, so the database takes a second storm;
  - ember (emberd --snapshot-dir) reloads its snapshot and journal before
    it listens: it comes back warm, and the database goes back to ~0.

  /usr/bin/python3 examples/restart_demo.py [--svg restart.svg]

prints a table (database queries per second, one column per run) and a
summary, and with --svg draws the same as a line chart. emberd is taken
from $EMBERD, ./build/daemon/emberd or $PATH; memcached from $MEMCACHED
or $PATH (its runs are left out when it is not installed).
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cache_aside  # noqa: E402  (beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM}
SIGNAL_NAMES = {"kill": "kill -9", "term": "SIGTERM"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(kind):
    if kind == "ember":
        cands = [os.environ.get("EMBERD"),
                 os.path.join(HERE, "..", "build", "daemon", "emberd"),
                 shutil.which("emberd")]
    else:
        cands = [os.environ.get("MEMCACHED"), shutil.which("memcached")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


class Cache:
    """One cache server process on a fixed loopback port; restartable."""

    def __init__(self, kind, binary, port, workdir):
        self.kind, self.binary, self.port = kind, binary, port
        self.log = open(os.path.join(workdir, kind + ".log"), "ab")
        self.argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-m", "64"]
        if kind == "ember":
            self.argv.append("--snapshot-dir=" + os.path.join(workdir,
                                                              "snap"))
        else:
            self.argv += ["-U", "0"]
            if os.geteuid() == 0:
                self.argv += ["-u", "root"]     # memcached refuses root
        self.proc = None

    def start(self, timeout=60.0):
        """Start and wait until it answers `version` (ember: after its
        warm load)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen(self.argv, stdout=self.log,
                                             stderr=self.log,
                                             stdin=subprocess.DEVNULL)
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1.0) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(64).startswith(b"VERSION"):
                        return
            except OSError:
                time.sleep(0.02)    # not listening yet (or port busy)
        raise RuntimeError("%s did not start: %s" % (self.kind,
                                                     " ".join(self.argv)))

    def stop(self, sig=signal.SIGTERM, timeout=60.0):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)

    def close(self):
        self.stop()
        self.log.close()


def run(kind, binary, how, seconds=30.0, restart_at=10.0, rate=1000,
        rows=5000, bucket=0.5, seed=1):
    """One run: warm the cache, read RATE products a second for SECONDS,
    restart the cache (HOW: "kill" or "term") at RESTART_AT. Returns a
    dict: per-bucket database queries per second ("qps"), when the cache
    went down and was back ("down_at", "up_at", seconds), the reads and
    database queries meanwhile ("reads_while_down", "db_while_down") and
    after it was back ("reads_after_up", "db_after_up"), and the server's
    process ids before and after ("pids")."""
    with tempfile.TemporaryDirectory(prefix="restart-demo-") as tmp:
        cache = Cache(kind, binary, free_port(), tmp)
        try:
            cache.start()
            return timeline(cache, how, seconds, restart_at, rate, rows,
                            bucket, seed)
        finally:
            cache.close()


def timeline(cache, how, seconds, restart_at, rate, rows, bucket, seed):
    db = cache_aside.ProductDB(rows=rows)
    client = cache_aside.connect(port=cache.port)
    for pid in range(1, rows + 1):          # warm: every product cached
        cache_aside.get_product(client, db, pid)
    events = {}

    def restart():
        time.sleep(restart_at)
        events["pids"] = [cache.proc.pid]
        events["down_at"] = time.monotonic()
        cache.stop(SIGNALS[how])
        cache.start()
        events["up_at"] = time.monotonic()
        events["pids"].append(cache.proc.pid)

    rng = random.Random(seed)
    nbuckets = int(seconds / bucket + 0.5)
    queries = [0] * nbuckets
    while_down = [0, 0]         # reads, database queries
    after_up = [0, 0]
    restarter = threading.Thread(target=restart, daemon=True)
    t0 = time.monotonic()
    restarter.start()
    n = 0
    # SECONDS of reads at RATE, and on until the cache is back if its
    # restart took longer (those reads count in the last row)
    while n < seconds * rate or "up_at" not in events:
        wait = t0 + n / rate - time.monotonic()
        n += 1
        if wait > 0:
            time.sleep(wait)
        now = time.monotonic()
        before = db.queries
        cache_aside.get_product(client, db, rng.randint(1, rows))
        queries[min(int((now - t0) / bucket), nbuckets - 1)] += \
            db.queries - before
        if "up_at" in events and now >= events["up_at"]:
            after_up[0] += 1
            after_up[1] += db.queries - before
        elif "down_at" in events and now >= events["down_at"]:
            while_down[0] += 1
            while_down[1] += db.queries - before
    restarter.join()
    client.close()
    return {"kind": cache.kind, "how": how, "bucket": bucket,
            "qps": [q / bucket for q in queries],
            "down_at": events["down_at"] - t0, "up_at": events["up_at"] - t0,
            "reads_while_down": while_down[0], "db_while_down": while_down[1],
            "reads_after_up": after_up[0], "db_after_up": after_up[1],
            "pids": events["pids"],
            "rows": rows, "rate": rate}


def label(r):
    return "%s %s" % ("ember" if r["kind"] == "ember" else "memcached",
                      SIGNAL_NAMES[r["how"]])


def table(results):
    """Database queries per second, one row per time bucket."""
    names = [label(r) for r in results]
    width = max(12, max(len(n) for n in names) + 2)
    lines = ["%6s" % "t (s)" + "".join(n.rjust(width) for n in names)]
    for i in range(len(results[0]["qps"])):
        t = i * results[0]["bucket"]
        lines.append("%6.1f" % t + "".join(
            ("%d" % r["qps"][i]).rjust(width) for r in results))
    return "\n".join(lines)


def summary(r):
    return ("%-18s down %.1f s (%.2f..%.2f); after it was back: %d of %d "
            "reads went to the database" % (
                label(r) + ":", r["up_at"] - r["down_at"], r["down_at"],
                r["up_at"], r["db_after_up"], r["reads_after_up"]))


COLORS = {"memcached": "#d62728", "ember": "#1f77b4"}


def svg(results, title):
    """A line chart: database queries per second against time."""
    w, h, left, right, top, bottom = 760, 400, 60, 200, 40, 45
    pw, ph = w - left - right, h - top - bottom
    bucket = results[0]["bucket"]
    tmax = len(results[0]["qps"]) * bucket
    ymax = max(max(r["qps"]) for r in results) * 1.05 or 1.0
    mag = 10 ** math.floor(math.log10(ymax))
    ymax = math.ceil(ymax / mag) * mag      # one significant digit, up

    def x(t):
        return left + pw * t / tmax

    def y(v):
        return top + ph * (1 - min(v, ymax) / ymax)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14">%s</text>' % (left, title)]
    for i in range(6):
        v = ymax * i / 5
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#ddd"/><text x="%d" y="%.1f" '
                   'text-anchor="end">%g</text>'
                   % (left, left + pw, y(v), y(v), left - 6, y(v) + 4, v))
    step = max(1, int(tmax / 10))
    for t in range(0, int(tmax) + 1, step):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                   % (x(t), top + ph + 16, t))
    out.append('<text x="%d" y="%d" text-anchor="middle">seconds</text>'
               % (left + pw / 2, h - 8))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" '
               'text-anchor="middle">database queries / s</text>'
               % (top + ph / 2, top + ph / 2))
    down = results[0]["down_at"]
    out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888" '
               'stroke-dasharray="2,3"/><text x="%.1f" y="%d" fill="#555">'
               'restart</text>' % (x(down), x(down), top, top + ph,
                                   x(down) + 3, top + 12))
    for i, r in enumerate(results):
        pts = " ".join("%.1f,%.1f" % (x((k + 0.5) * bucket), y(v))
                       for k, v in enumerate(r["qps"]))
        dash = ' stroke-dasharray="6,4"' if r["how"] == "term" else ""
        color = COLORS[r["kind"]]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s '
                   'points="%s"/>' % (color, dash, pts))
        ly = top + 10 + 20 * i
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" '
                   'stroke-width="2"%s/><text x="%d" y="%d">%s</text>'
                   % (left + pw + 15, left + pw + 45, ly, ly, color, dash,
                      left + pw + 52, ly + 4, label(r)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(
        description="database queries per second across a cache restart, "
                    "memcached against ember")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--restart-at", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=1000,
                    help="product reads per second (default 1000)")
    ap.add_argument("--rows", type=int, default=5000,
                    help="products in the database (default 5000)")
    ap.add_argument("--bucket", type=float, default=0.5,
                    help="seconds per table row / chart point")
    ap.add_argument("--only", choices=["ember", "memcached"])
    ap.add_argument("--how", choices=["kill", "term"], action="append",
                    help="kill (-9) and/or term (SIGTERM); default both")
    ap.add_argument("--svg", help="write the chart to this file")
    ap.add_argument("--json", help="write the measurements to this file")
    args = ap.parse_args()
    if not 0 < args.restart_at < args.seconds:
        ap.error("--restart-at must be within --seconds")
    results = []
    for kind in ("memcached", "ember"):
        if args.only not in (None, kind):
            continue
        binary = find_binary(kind)
        if binary is None:
            print("(%s not found: its runs are left out)" % kind,
                  file=sys.stderr)
            continue
        for how in args.how or ["kill", "term"]:
            results.append(run(kind, binary, how, args.seconds,
                               args.restart_at, args.rate, args.rows,
                               args.bucket))
    if not results:
        ap.error("neither emberd nor memcached was found")
    print("database queries per second (%d reads/s over %d products; the "
          "cache restarts at %.1f s)\n" % (args.rate, args.rows,
                                            args.restart_at))
    print(table(results))
    print()
    for r in results:
        print(summary(r))
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg(results, "Database queries per second across a "
                                 "cache restart at %.0f s" % args.restart_at))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
