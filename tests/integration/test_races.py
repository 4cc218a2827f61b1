"""Races that had no test (issue 15):

- flush_all, immediate, while a snapshot is being written: after a
  graceful restart nothing flushed is back and everything written after
  the flush is (the delayed form, and kill -9, need the journal: see
  test_crash_consistency.py);
- TTLs that run out while a warm restart is loading: nothing is served
  past its expiry, loaded + expired is every record, and the items
  without a TTL all come back;
- gets/cas from several threads through the daemon: exactly one STORED
  per CAS value, and no increment lost;
- embersnap ls and dump beside a live writer: each run shows one
  committed snapshot, never a mix of two.

ember only except the CAS contention, which memcached passes too."""

import base64
import json
import os
import threading
import time
import unittest

import ember


class Persisting(ember.SnapshotDirCase):
    def setUp(self):
        ember.skip_unless_ember("persistence")
        ember.require_server()
        super().setUp()

    def start(self, *extra):
        return self.server("--snapshot-dir=" + self.dir,
                           "--snapshot-interval=3600", *extra)


class FlushDuringSnapshot(Persisting):
    ITEMS = 40000

    def fill(self, c, prefix):
        value = b"v" * 1000
        for i in range(0, self.ITEMS, 500):
            c.send(b"".join(b"set %s%06d 0 0 %d noreply\r\n%s\r\n"
                            % (prefix, j, len(value), value)
                            for j in range(i, i + 500)))
        self.assertTrue(c.is_open())

    def test_flush_all_while_snapshotting(self):
        srv = self.start("-m", "128")
        with srv.connect(timeout=60) as a, srv.connect(timeout=60) as b:
            for attempt in range(3):
                self.fill(a, b"old%d:" % attempt)
                a.send(b"snapshot\r\n")     # a full write of ~40 MB
                raced = ember.wait_for(lambda: int(
                    b.stats()["snapshot_in_progress"]) == 1, 30, 0.001)
                self.assertTrue(raced, "snapshot never seen in progress")
                self.assertEqual(b.request(b"flush_all\r\n"), b"OK\r\n")
                during = int(b.stats()["snapshot_in_progress"])
                self.assertEqual(a.read_line(timeout=60), b"OK\r\n")
                if during:
                    break       # the flush landed inside the snapshot
            print("flush inside a snapshot on attempt %d: %s"
                  % (attempt, bool(during)))
            self.assertEqual(during, 1, "never raced in 3 attempts")
            self.assertEqual(a.set(b"after", b"kept"), b"STORED\r\n")
        srv.stop()
        srv = self.start("-m", "128")
        with srv.connect() as c:
            st = c.stats()
            self.assertEqual(int(st["warm_restart_items_loaded"]), 1)
            self.assertEqual(c.get(b"after"), {b"after": b"kept"})
            for attempt in range(3):
                keys = [b"old%d:%06d" % (attempt, j)
                        for j in range(0, self.ITEMS, 397)]
                self.assertEqual(c.get(*keys), {}, "flushed items back")


class TtlDuringLoad(Persisting):
    """200,000 records, a tenth of them with TTLs ending over 4 seconds
    (BASE - 1 .. BASE + 2); the restart starts 0.15 s before BASE, so one
    quarter has expired before the load (skipped, counted), the next ends
    while the loader runs (a record read as live, inserted after its
    expiry), the rest after it."""

    ITEMS = 200000
    WINDOW = 4

    def test_ttls_run_out_while_loading(self):
        srv = self.start("-m", "256")
        deadline = {}
        with srv.connect(timeout=60) as c:
            base = int(c.stats()["time"]) + 8
            for i in range(0, self.ITEMS, 1000):
                batch = []
                for j in range(i, i + 1000):
                    exp = base - 1 + j % self.WINDOW if j % 10 == 0 else 0
                    if exp:
                        deadline[b"t%06d" % j] = exp
                    batch.append(b"set t%06d %d %d 8 noreply\r\n%08d\r\n"
                                 % (j, j % 7, exp, j))
                c.send(b"".join(batch))
            self.assertTrue(c.is_open())
        srv.stop()
        info = json.loads(ember.embersnap_ok("info", "--json", self.dir))
        self.assertEqual(info["records"], self.ITEMS)
        # restart just before the second boundary at which some expire
        ember.wait_for(lambda: time.time() >= base - 0.15, 30, 0.005)
        srv = self.start("-m", "256")
        with srv.connect(timeout=60) as c:
            st = c.stats()
            loaded = int(st["warm_restart_items_loaded"])
            expired = int(st["warm_restart_items_expired"])
            print("loaded %d, skipped %d expired, in %s us"
                  % (loaded, expired, st["warm_restart_duration_us"]))
            self.assertEqual(loaded + expired, self.ITEMS)
            self.assertGreaterEqual(expired, self.ITEMS // 40)
            self.assertEqual(int(st["warm_restart_items_dropped"]), 0)
            # nothing served past its expiry (the server's wall clock may
            # read a second ahead of the clock expiry is judged by), while
            # they run out
            while int(c.stats()["time"]) <= base + self.WINDOW:
                self.check_served(c, deadline)
            # all gone after the window; every other item is back
            ember.wait_for(lambda: int(c.stats()["time"])
                           >= base + self.WINDOW + 1, 30)
            self.assertEqual(self.check_served(c, deadline), 0)
            keys = [b"t%06d" % j for j in range(self.ITEMS)
                    if j % 10 != 0]
            for i in range(0, len(keys), 1000):
                got = c.get(*keys[i:i + 1000])
                self.assertEqual(len(got), len(keys[i:i + 1000]))
                for k, v in got.items():
                    self.assertEqual(v, b"%08d" % int(k[1:]))

    def check_served(self, c, deadline):
        """Every TTL key present has time left by the server's clock;
        returns how many were present."""
        keys = sorted(deadline)
        present = 0
        for i in range(0, len(keys), 500):
            before = int(c.stats()["time"])
            c.send(b"".join(b"mg %s t\r\n" % k for k in keys[i:i + 500]))
            for k in keys[i:i + 500]:
                line = c.read_line()
                if line == b"EN\r\n":
                    continue
                present += 1
                self.assertTrue(line.startswith(b"HD t"), line)
                # served: the server's clock had not reached the expiry
                self.assertLess(before, deadline[k] + 1, (k, line))
                self.assertGreaterEqual(int(line.split()[1][1:]), 0,
                                        (k, line))
        return present


class CasContention(unittest.TestCase):
    """8 threads increment one counter with gets + cas: each CAS value is
    accepted (STORED) exactly once, and the count adds up."""

    THREADS = 8
    TRIES = 300

    def test_one_stored_per_cas_value(self):
        ember.require_server()
        with ember.Server("-t", "4") as srv:
            with srv.connect() as c:
                self.assertEqual(c.set(b"ctr", b"0"), b"STORED\r\n")
            barrier = threading.Barrier(self.THREADS)

            def worker():
                stored = []     # (cas used, value stored)
                exists = 0
                with srv.connect() as c:
                    barrier.wait(timeout=30)
                    for _ in range(self.TRIES):
                        value, cas = c.gets(b"ctr")
                        new = b"%d" % (int(value) + 1)
                        reply = c.store(b"cas", b"ctr", new, cas=cas)
                        if reply == b"STORED\r\n":
                            stored.append((cas, new))
                        elif reply == b"EXISTS\r\n":
                            exists += 1
                        else:
                            raise AssertionError("cas: %r" % reply)
                return stored, exists
            threads = [ember.Background(worker)
                       for _ in range(self.THREADS)]
            for t in threads:
                t.start()
            results = [t.finish(120) for t in threads]
            stored = [s for r in results for s in r[0]]
            exists = sum(r[1] for r in results)
            cas_values = [cas for cas, _ in stored]
            print("%d STORED, %d EXISTS" % (len(stored), exists))
            self.assertEqual(len(stored) + exists,
                             self.THREADS * self.TRIES)
            self.assertGreater(exists, 0, "no contention happened")
            self.assertEqual(len(set(cas_values)), len(cas_values),
                             "a CAS value was accepted twice")
            # each STORED value is one more than the one it replaced
            self.assertEqual(sorted(int(v) for _, v in stored),
                             list(range(1, len(stored) + 1)))
            with srv.connect() as c:
                self.assertEqual(c.get(b"ctr"),
                                 {b"ctr": b"%d" % len(stored)})


class EmbersnapPointInTime(Persisting):
    """A writer sets all KEYS to generation N, then commits a snapshot,
    over and over; embersnap ls and dump, run meanwhile, must each show
    every key at one generation (sizes depend on the generation)."""

    KEYS = 300

    def value(self, gen):
        return b"gen%06d:" % gen + b"x" * (gen % 7 * 100)

    def test_ls_and_dump_see_one_snapshot(self):
        srv = self.start()
        stop = threading.Event()

        def writer():
            gen = 0
            with srv.connect(timeout=60) as c:
                while not stop.is_set():
                    gen += 1
                    v = self.value(gen)
                    c.send(b"".join(b"set g%04d 0 0 %d noreply\r\n%s\r\n"
                                    % (i, len(v), v)
                                    for i in range(self.KEYS)))
                    self.assertEqual(c.request(b"snapshot\r\n",
                                               timeout=60), b"OK\r\n")
            return gen
        with srv.connect() as c:
            v = self.value(0)
            for i in range(self.KEYS):
                c.send(b"set g%04d 0 0 %d noreply\r\n%s\r\n" % (i, len(v), v))
            self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                             b"OK\r\n")
        t = ember.Background(writer)
        t.start()
        seen = set()
        try:
            deadline = time.monotonic() + 60
            while len(seen) < 6 and time.monotonic() < deadline:
                seen.add(self.one_ls())
                seen.add(self.one_dump())
                self.one_journal_dump()
        finally:
            stop.set()
            t.join(60)
        gens = t.finish()
        print("writer reached generation %d; embersnap saw %s"
              % (gens, sorted(seen)))
        self.assertGreaterEqual(len(seen), 3, "embersnap never saw the "
                                "writer move on: %s" % sorted(seen))

    def one_ls(self):
        # the snapshot alone: the journal holds the writer's batch in
        # progress, a view of a moment between two of its sets
        out = ember.embersnap_ok("ls", "-H", "--snapshot-only",
                                 self.dir).splitlines()
        self.assertEqual(len(out), self.KEYS)
        sizes = {line.split()[0] for line in out}
        self.assertEqual(len(sizes), 1, "ls mixed snapshots: sizes %s"
                         % sorted(sizes))
        return ("size", int(sizes.pop()))

    def one_journal_dump(self):
        """With the journal: one moment of the writer's, which sets the
        keys in order, batch after batch: keys 0..j of generation N+1,
        the rest of N (a view that loses or reorders changes breaks it)."""
        out = ember.embersnap_ok("dump", self.dir).splitlines()
        self.assertEqual(len(out), self.KEYS)
        # format 3 dumps in snapshot (hash) order: the writer's is the keys'
        recs = sorted((json.loads(line) for line in out),
                      key=lambda r: r["key"])
        gens = [int(base64.b64decode(r["value"])[3:9]) for r in recs]
        runs = [g for i, g in enumerate(gens) if i == 0 or g != gens[i - 1]]
        self.assertTrue(len(runs) == 1 or
                        (len(runs) == 2 and runs[0] == runs[1] + 1),
                        "not one moment of the writer: generations %s"
                        % runs)

    def one_dump(self):
        out = ember.embersnap_ok("dump", "--snapshot-only",
                                 self.dir).splitlines()
        self.assertEqual(len(out), self.KEYS)
        values = {base64.b64decode(json.loads(line)["value"])
                  for line in out}
        self.assertEqual(len(values), 1, "dump mixed snapshots: %s"
                         % sorted(v[:10] for v in values))
        value = values.pop()
        gen = int(value[3:9])
        self.assertEqual(value, self.value(gen))
        return ("gen", gen)


def rss_anon_kb(pid):
    return ember.proc_status_kb(pid, "RssAnon")


class SnapshotMemory(Persisting):
    """Memory while a snapshot is written (docs/SNAPSHOT-OPERATIONS.md
    "Sizing"): the snapshot copies items as it meets them and references
    none, so a full cache keeps accepting writes; sealed blocks wait in a
    temporary file; LMDB keeps a write transaction's dirty pages in
    memory until the commit, so every snapshot commits in transactions of
    at most 1/64 of -m and costs no more than a few % of -m."""

    MB = 1 << 20
    SIZE = 2000         # values that do not compress

    def fill_full(self, c, mb):
        """Write 2 x MB of incompressible values: the cache is full."""
        rng = ember.rng(3)
        pool = rng.randbytes(self.SIZE * 64)
        n = 2 * mb * self.MB // self.SIZE
        for i in range(0, n, 200):
            c.send(b"".join(b"set m%07d 0 0 %d noreply\r\n%s\r\n"
                            % (j, self.SIZE, pool[j % 63 * self.SIZE:
                                                  (j % 63 + 1) * self.SIZE])
                            for j in range(i, i + 200)))
        self.assertTrue(c.is_open())
        st = c.stats()
        self.assertGreater(int(st["evictions"]), 0, "cache not full")
        return n

    def test_full_cache_accepts_writes_while_snapshotting(self):
        """Three full snapshots (the first, then one after each flush_all)
        of a full cache, with sets of the same size running throughout."""
        srv = self.start("-m", "32")
        with srv.connect(timeout=60) as a, srv.connect(timeout=60) as b:
            for r in range(3):
                if r:
                    self.assertEqual(a.request(b"flush_all\r\n"), b"OK\r\n")
                n = self.fill_full(a, 32)
                a.send(b"snapshot\r\n")
                self.assertTrue(ember.wait_for(lambda: int(
                    b.stats()["snapshot_in_progress"]) == 1, 30, 0.001))
                refused = written = 0
                while int(b.stats()["snapshot_in_progress"]) == 1 or \
                        written < 200:
                    for j in range(50):
                        reply = b.set(b"m%07d" % (n + written),
                                      b"w" * self.SIZE)
                        refused += reply != b"STORED\r\n"
                        written += 1
                self.assertEqual(a.read_line(timeout=60), b"OK\r\n")
                print("snapshot %d: %d sets during it, %d refused"
                      % (r, written, refused))
                self.assertEqual(refused, 0, "sets refused while a "
                                 "snapshot ran (full cache)")

    def test_anon_memory_bounded_while_snapshotting(self):
        if ember.is_sanitized():
            self.skipTest("sanitizer build: ASan's shadow memory and "
                          "quarantine make RSS meaningless")
        mb = 64
        srv = self.start("-m", str(mb))
        with srv.connect(timeout=60) as a, srv.connect(timeout=60) as b:
            n = self.fill_full(a, mb)
            items = int(b.stats()["curr_items"])
            before = rss_anon_kb(srv.pid)
            a.send(b"snapshot\r\n")
            peak = before
            while True:
                peak = max(peak, rss_anon_kb(srv.pid))
                try:
                    reply = a.read_line(timeout=0.005)
                    break
                except TimeoutError:
                    continue
            self.assertEqual(reply, b"OK\r\n")
            written = int(b.stats()["snapshot_last_bytes"])
        # issue 12's bound: extra memory <= 5 % of -m. The writer commits
        # every 1/64 of -m (1 MiB here), so LMDB's malloc'd dirty pages
        # stay near that; the block pipeline's buffers and the zstd
        # contexts come from memory the fill already made the allocator
        # keep (measured: +0.9 MB; format 2, one transaction: +95 MB)
        bound = mb * self.MB * 5 // 100 // 1024
        print("RssAnon %d kB before a full snapshot of %d items (%d kB of "
              "records), peak %d kB (+%d kB, bound +%d kB); %d sets" % (
                  before, items, written // 1024, peak, peak - before,
                  bound, n))
        self.assertLessEqual(peak - before, bound)


if __name__ == "__main__":
    ember.run_tests()
