#!/usr/bin/python3
"""Rolling restart of a three-node pool behind nutcracker, under load.

For each server kind (emberd, then Debian's memcached, in the same run):
start three nodes and nutcracker in front of them (ketama, fnv1a_64),
fill a known key set through the proxy, then run a cache-aside load
(get; on a miss set it again; a share of updates) from several client
threads while, on a fixed schedule, each node in turn gets SIGTERM, is
started again on the same port (emberd: the same --snapshot-dir) and
rejoins.  Every second it records gets, hits, misses and errors.

With --takeover, emberd's nodes are not restarted: a new emberd with the
same options and --takeover takes each one over (memcached is restarted
as before, in the same run).  A probe thread per node connects to it
directly every few milliseconds: refused connects are counted, and the
longest time without an answered connect is the time no process
accepted.  "to serving" is from the SIGTERM (restart) or the start of
the new emberd (takeover) until the node answers from its new process.

hit ratio = hits / (hits + misses), over the gets the proxy answered.  While
a node is down nutcracker answers requests for its keys with
"SERVER_ERROR ..." (auto_eject_hosts: false, its documented behaviour);
those are counted as errors, separately.  Any other reply, or a hit with a
value that is not the key's, fails the run.

Writes OUT/rolling.tsv (one row per second, both kinds side by side) and
OUT/events.txt, prints a Markdown table, and exits 1 when ember's hit
ratio fell below --target of its level before the first restart.
Used by tools/bench/rolling-restart.sh; see docs/DEPLOYMENT.md.
"""

import argparse
import hashlib
import multiprocessing
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

import ember                                    # noqa: E402
from test_nutcracker import Pool, Proxy      # noqa: E402


def value_for(key, rnd):
    """A value that names its key, 100-400 bytes."""
    return key + b"=" + b"v" * rnd.randint(100, 400)


class KeySpace:
    """spread_keys(PREFIX, N) made on demand: millions of keys without a
    list of them (random.choice indexes it)."""

    def __init__(self, prefix, n):
        self.prefix, self.n = prefix, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return b"%s:%s" % (self.prefix, hashlib.md5(b"%d" % i).hexdigest()
                           [:12].encode())


class Probe(threading.Thread):
    """Connects to PORT directly, again and again, and asks `version`:
    (time, answered) per attempt, refused connects counted."""

    def __init__(self, port, stop, every=0.002):
        super().__init__(daemon=True)
        self.port, self.stop, self.every = port, stop, every
        self.answered = []      # monotonic times of answered connects
        self.refused = 0
        self.other = 0          # timeouts, resets

    def run(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection((ember.LOOPBACK, self.port),
                                              timeout=30) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(64).startswith(b"VERSION"):
                        self.answered.append(time.monotonic())
            except ConnectionRefusedError:
                self.refused += 1
            except OSError:
                self.other += 1
            time.sleep(self.every)

    def longest_gap(self, t0, t1):
        """Longest time between two answered connects within [t0, t1]."""
        ts = [t for t in self.answered if t0 <= t <= t1]
        return max((b - a for a, b in zip(ts, ts[1:])), default=float("nan"))


class Counters:
    """Per-second counters shared by the client threads."""

    def __init__(self, seconds):
        self.lock = threading.Lock()
        # gets, hits, misses, SERVER_ERROR replies, connection failures
        self.rows = [[0, 0, 0, 0, 0] for _ in range(seconds + 1)]
        self.bad = []
        self.proxy_replies = set()      # the SERVER_ERROR texts seen

    def add(self, sec, col, n=1):
        with self.lock:
            if 0 <= sec < len(self.rows):
                self.rows[sec][col] += n


class Client(threading.Thread):
    """Cache-aside load through the proxy until STOP is set."""

    def __init__(self, port, keys, counters, t0, stop, seed, update_share):
        super().__init__(daemon=True)
        self.port, self.keys, self.c = port, keys, counters
        self.t0, self.stop, self.rnd = t0, stop, random.Random(seed)
        self.update_share = update_share
        self.conn = None

    def connect(self):
        if self.conn is None:
            self.conn = ember.Conn(self.port, timeout=5.0)
        return self.conn

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def run(self):
        while not self.stop.is_set():
            sec = int(time.monotonic() - self.t0)
            key = self.rnd.choice(self.keys)
            try:
                self.one(sec, key)
            except (OSError, ember.Closed, TimeoutError):
                # the proxy closed or did not answer: not its documented
                # behaviour, counted apart; reconnect
                self.c.add(sec, 4)
                self.drop()
                time.sleep(0.01)

    def one(self, sec, key):
        c = self.connect()
        if self.rnd.random() < self.update_share:
            self.store(sec, c, key)
            return
        c.send(b"get " + key + b"\r\n")
        items, tail = c.read_values()
        if tail.startswith(b"SERVER_ERROR"):
            self.c.proxy_replies.add(tail.strip().decode())
            self.c.add(sec, 3)
            return
        if tail != b"END\r\n":
            self.c.bad.append("get %r: %r" % (key, tail))
            return
        self.c.add(sec, 0)
        if items:
            if items[0][0] != key or not items[0][2].startswith(key + b"="):
                self.c.bad.append("get %r: wrong value %r"
                                  % (key, items[0][2][:60]))
            self.c.add(sec, 1)
        else:
            self.c.add(sec, 2)
            self.store(sec, c, key)

    def store(self, sec, c, key):
        r = c.store(b"set", key, value_for(key, self.rnd))
        if r.startswith(b"SERVER_ERROR"):
            self.c.proxy_replies.add(r.strip().decode())
            self.c.add(sec, 3)
        elif r != b"STORED\r\n":
            self.c.bad.append("set %r: %r" % (key, r))


def node_args(kind, snapdir, i, mem_mb):
    args = ["-m", str(mem_mb), "-t", "2"]
    if kind == "emberd":
        d = os.path.join(snapdir, "node%d" % i)
        os.makedirs(d, exist_ok=True)
        args += ["--snapshot-dir=" + d, "--snapshot-interval=30"]
    return args


def restart(node, kind, args, events, t0, i):
    t = time.monotonic() - t0
    node.stop()             # SIGTERM; emberd writes its final snapshot
    t_down = time.monotonic() - t0
    fresh = ember.Server(*args, kind=kind, port=node.port)
    fresh.start()
    t_up = time.monotonic() - t0
    events.append("node%d SIGTERM at %.2f s, exited at %.2f s, answering "
                  "again at %.2f s" % (i, t, t_down, t_up))
    return fresh, t, t_up


class Taken:
    """A node's emberd after a takeover: a child of ours, stopped as a
    Server is (SIGTERM, exit 0 expected)."""

    def __init__(self, proc, port, old):
        self.proc, self.port, self._old = proc, port, old

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=ember.STOP_TIMEOUT * 8)
        if rc != 0:
            raise ember.ServerError("emberd after takeover exited %d" % rc)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stats(self):
        with ember.Conn(self.port) as c:
            return c.stats()


def serving_pid(port):
    try:
        with ember.Conn(port, timeout=30) as c:
            return int(c.stats()["pid"])
    except (OSError, ember.Closed, KeyError):
        return None


def takeover(node, events, t0, i):
    """emberd ... --takeover on NODE's port; returns once the new process
    answers and the old one exited 0."""
    t = time.monotonic() - t0
    argv = node.argv + ["--takeover"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while serving_pid(node.port) != proc.pid:
        if proc.poll() is not None:
            raise SystemExit("node%d: takeover failed (exit %d)"
                             % (i, proc.returncode))
        time.sleep(0.005)
    t_up = time.monotonic() - t0
    rc = node.proc.wait(timeout=60)
    if rc != 0:
        raise SystemExit("node%d: old emberd exited %d after the takeover"
                         % (i, rc))
    t_gone = time.monotonic() - t0
    events.append("node%d --takeover at %.2f s, the new one answering at "
                  "%.2f s, the old one exited 0 at %.2f s"
                  % (i, t, t_up, t_gone))
    taken = Taken(proc, node.port, node)
    taken.argv = node.argv
    return taken, t, t_up


def prefill_part(port, keys, first, step, seed):
    rnd = random.Random(seed)
    with ember.Conn(port, timeout=60) as c:
        batch = []
        for j in range(first, len(keys), step):
            k = keys[j]
            v = value_for(k, rnd)
            batch.append(b"set %s 0 0 %d noreply\r\n%s\r\n"
                         % (k, len(v), v))
            if len(batch) == 500:
                c.send(b"".join(batch) + b"get x\r\n")
                c.read_until(b"END\r\n", timeout=60)  # pace the pipeline
                batch = []
        c.send(b"".join(batch) + b"get x\r\n")
        c.read_until(b"END\r\n", timeout=60)


def prefill(proxy, keys, rnd, jobs=1):
    """Every key once, through the proxy (JOBS processes for millions)."""
    if jobs <= 1:
        prefill_part(proxy.port, keys, 0, 1, rnd.randrange(2 ** 32))
        return
    procs = [multiprocessing.Process(target=prefill_part,
                                     args=(proxy.port, keys, j, jobs,
                                           rnd.randrange(2 ** 32)))
             for j in range(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit("prefill failed")


def snapshot_all(pool):
    """Each emberd node writes what it holds into its snapshot (as a node
    that has run for a while has), so a takeover loads LMDB, not only a
    journal."""
    for node in pool.nodes:
        with node.connect(timeout=600) as c:
            if c.request(b"snapshot\r\n", timeout=600) != b"OK\r\n":
                raise SystemExit("snapshot failed")


def roll(pool, kind, opts, args, schedule, t0, events):
    """Restart (or take over) each node at its time; per node (start,
    answering again) in seconds since T0."""
    times = []
    for i, at in enumerate(schedule):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        if kind == "emberd" and opts.takeover:
            pool.nodes[i], t, t_up = takeover(pool.nodes[i], events, t0, i)
        else:
            pool.nodes[i], t, t_up = restart(pool.nodes[i], kind, args[i],
                                             events, t0, i)
        times.append((t, t_up))
    return times


def node_metrics(probes, times, t0):
    """Per node: (to serving s, longest time without an answered connect
    s around its event, connects refused, the same longest time in the
    4 s before the event: what the loaded machine alone costs the
    probe), from its probe."""
    out = []
    for p, (t, t_up) in zip(probes, times):
        out.append((t_up - t, p.longest_gap(t0 + t - 1.0, t0 + t_up + 1.0),
                    p.refused, p.longest_gap(t0 + t - 4.0, t0 + t - 0.01)))
    return out


def run_kind(kind, opts, schedule, seconds):
    """Per-second rows (see Counters), the events, and per node metrics."""
    snapdir = tempfile.mkdtemp(prefix="ember-rolling-")
    rnd = random.Random(opts.seed)
    keys = KeySpace(b"rr", opts.keys)
    events = []
    args = [node_args(kind, snapdir, i, opts.memory) for i in range(3)]
    pool = Pool(kind=kind)
    for i, a in enumerate(args):
        pool.nodes[i].args = a
    try:
        with pool, Proxy(pool.ports) as proxy:
            tf = time.monotonic()
            prefill(proxy, keys, rnd, opts.fill_jobs)
            if kind == "emberd":
                snapshot_all(pool)
            events.append("filled %d keys (%s per node) in %.0f s" % (
                opts.keys, "/".join(str(n) for n in pool.curr_items()),
                time.monotonic() - tf))
            counters = Counters(seconds)
            stop = threading.Event()
            probes = [Probe(port, stop) for port in pool.ports]
            t0 = time.monotonic()
            clients = [Client(proxy.port, keys, counters, t0, stop,
                              opts.seed + n, opts.updates)
                       for n in range(opts.clients)]
            for th in clients + probes:
                th.start()
            times = roll(pool, kind, opts, args, schedule, t0, events)
            time.sleep(max(0.0, t0 + seconds - time.monotonic()))
            stop.set()
            for th in clients + probes:
                th.join(timeout=40)
            for cl in clients:
                cl.drop()
            nodes = node_metrics(probes, times, t0)
            if kind == "emberd":
                # measured: the final snapshots of millions of items
                # (minutes on a loaded machine) are not the question
                pool.kill()
                pool.nodes = []
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)
    if counters.bad:
        raise SystemExit("%s: wrong replies:\n%s"
                         % (kind, "\n".join(counters.bad[:20])))
    events += ["proxy replied %r" % t for t in sorted(counters.proxy_replies)]
    return counters.rows[:seconds], events, nodes


def ratio(row):
    answered = row[1] + row[2]
    return row[1] / answered if answered else float("nan")


def baseline(rows, first_restart):
    """Hit ratio over the whole seconds before the first restart,
    skipping the first (threads starting)."""
    h = sum(r[1] for r in rows[1:first_restart])
    m = sum(r[2] for r in rows[1:first_restart])
    return h / (h + m) if h + m else float("nan")


def report(results, schedule, out, target, takeover):
    kinds = list(results)
    what = "emberd taken over, memcached restarted" if takeover \
        else "SIGTERM + restart"
    with open(os.path.join(out, "rolling.tsv"), "w") as f:
        f.write("# second" + "".join(
            "\t%s_hit_ratio\t%s_gets\t%s_errors" % (k, k, k) for k in kinds)
            + "".join("\t%s_conn_failures" % k for k in kinds)
            + "\tevent\n")
        for s in range(len(results[kinds[0]][0])):
            ev = ["node%d %s" % (i, what) for i, at in enumerate(schedule)
                  if int(at) == s]
            f.write("%d" % s + "".join(
                "\t%.4f\t%d\t%d" % (ratio(results[k][0][s]),
                                    results[k][0][s][0],
                                    results[k][0][s][3]) for k in kinds)
                + "".join("\t%d" % results[k][0][s][4] for k in kinds)
                + "\t%s\n" % (", ".join(ev) or "-"))
    with open(os.path.join(out, "events.txt"), "w") as f:
        for k in kinds:
            for e in results[k][1]:
                f.write("%s: %s\n" % (k, e))
    print("| s | " + " | ".join("%s hit %% | %s errors" % (k, k)
                                for k in kinds) + " | event |")
    print("|" + "---:|" * (1 + 2 * len(kinds)) + "---|")
    for s in range(len(results[kinds[0]][0])):
        ev = ", ".join("node%d %s" % (i, what)
                       for i, at in enumerate(schedule) if int(at) == s)
        print("| %d | " % s + " | ".join(
            "%.1f | %d" % (100 * ratio(results[k][0][s]),
                           results[k][0][s][3]) for k in kinds)
            + " | %s |" % ev)
    ok = True
    for k in kinds:
        rows = results[k][0]
        base = baseline(rows, int(schedule[0]))
        after = [ratio(r) for r in rows[int(schedule[0]):]]
        low = min(after)
        errs = sum(r[3] for r in rows)
        fails = sum(r[4] for r in rows)
        gets = sum(r[0] for r in rows)
        print("\n%s: before %.1f %%, lowest second after %.1f %% (%.1f %% of "
              "before), %d gets, %d proxy SERVER_ERROR, %d connection "
              "failures" % (k, 100 * base, 100 * low, 100 * low / base,
                            gets, errs, fails))
        for e in results[k][1]:
            print("  " + e)
        for i, (up, gap, refused, quiet) in enumerate(results[k][2]):
            print("  node%d: to serving %.3f s, longest time without an "
                  "answered connect %.3f s (%.3f s in the 4 s before), "
                  "connects refused %d" % (i, up, gap, quiet, refused))
        if k == "emberd" and low < target * base:
            ok = False
            print("emberd: below %.0f %% of the level before the restarts"
                  % (100 * target))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinds", default="emberd,memcached")
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--updates", type=float, default=0.1,
                    help="share of requests that are sets (default 0.1)")
    ap.add_argument("--memory", type=int, default=64, help="-m per node")
    ap.add_argument("--warmup", type=float, default=6.0,
                    help="seconds before the first restart")
    ap.add_argument("--gap", type=float, default=8.0,
                    help="seconds between restarts")
    ap.add_argument("--tail", type=float, default=8.0,
                    help="seconds after the last restart")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--takeover", action="store_true",
                    help="emberd nodes are taken over (--takeover), not "
                    "restarted")
    ap.add_argument("--fill-jobs", type=int, default=1,
                    help="processes filling the keys (default 1)")
    ap.add_argument("--out", default=".")
    opts = ap.parse_args()
    schedule = [opts.warmup + i * opts.gap for i in range(3)]
    seconds = int(schedule[-1] + opts.tail)
    os.makedirs(opts.out, exist_ok=True)
    results = {}
    for kind in opts.kinds.split(","):
        ember.require_server(kind)
        results[kind] = run_kind(kind, opts, schedule, seconds)
    return 0 if report(results, schedule, opts.out, opts.target,
                       opts.takeover) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ember.unittest.SkipTest as e:
        print("skipped: %s" % e, file=sys.stderr)
        sys.exit(77)
