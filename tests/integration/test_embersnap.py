"""embersnap end to end, on snapshots written by ember's real writer.

FromWriter: a snapshot made by tests/bench_snapshot (libsnapshot's writer
thread, dictionaries and all), which notes every item it stores
(BENCH_RECORD): `dump`, `ls`, `get` and every count agree with that note,
`dump --format=memcached` replayed into Debian's memcached and `load` into
a running server give back exactly those items.  (Golden files of each
format: test_fixtures.py.)

FromEmberd: the same through `emberd --snapshot-dir`: exact `ls`/`get`/
`info`, replay into memcached, `load` into a second emberd, and `verify`
passing again and again while the daemon snapshots in a loop.

FromJournal: changes made after a `snapshot` (delete, overwrite, incr,
touch, append, flush_all now and delayed), then kill -9: `ls`/`get`/`dump`/
`load` show what the test wrote, `--snapshot-only` the old values, and
`verify` tells a torn journal tail (fine) from a damaged record (exit 1).
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import ember

BENCH_ITEMS = 3000


def builddir():
    return os.path.join(os.path.dirname(ember.emberd_path()), "..")


embersnap = ember.embersnap    # (status, stdout bytes, stderr text)


ok = ember.embersnap_ok         # stdout of a run that must exit 0


def dump_items(snapdir):
    """key -> (flags, exptime, value) from `dump` (JSON lines)."""
    items = {}
    for line in ok("dump", snapdir).splitlines():
        d = json.loads(line)
        items[d["key"].encode()] = (d["flags"], d["exptime"],
                                    base64.b64decode(d["value"]))
    return items


def read_record(path):
    """key -> (flags, exptime, value) from bench_snapshot's BENCH_RECORD
    ("KEY FLAGS EXPTIME BYTES\nVALUE\n" per store; the last one wins)."""
    items = {}
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        nl = data.index(b"\n", at)
        key, flags, exptime, n = data[at:nl].split()
        value = data[nl + 1:nl + 1 + int(n)]
        if data[nl + 1 + int(n):nl + 2 + int(n)] != b"\n":
            raise AssertionError("bad record near %r" % key)
        items[key] = (int(flags), int(exptime), value)
        at = nl + 2 + int(n)
    return items


def replay(port, stream):
    """Send STREAM of storage commands as nc would; return the replies.
    A `version` after it marks the end, so the count of commands (set or
    ms) need not be known."""
    got = b""
    with socket.create_connection((ember.LOOPBACK, port), timeout=30) as s:
        sender = ember.Background(s.sendall, stream + b"version\r\n")
        sender.start()
        while not re.search(rb"(^|\n)VERSION [^\r]*\r\n$", got):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.finish()
    return re.sub(rb"VERSION [^\r]*\r\n$", b"", got)


def read_back(port, keys):
    """key -> (flags, value) for KEYS present on the server at PORT."""
    out = {}
    keys = sorted(keys)
    with ember.Conn(port) as c:
        for i in range(0, len(keys), 50):
            c.send(b"get " + b" ".join(keys[i:i + 50]) + b"\r\n")
            items, tail = c.read_values()
            if tail != b"END\r\n":
                raise AssertionError("get ended with %r" % tail)
            for k, f, v, _ in items:
                out[k] = (f, v)
    return out


class FromWriter(unittest.TestCase):
    """A snapshot written by libsnapshot's writer (tests/bench_snapshot)."""

    @classmethod
    def setUpClass(cls):
        bench = os.path.join(builddir(), "tests", "bench_snapshot")
        if not os.access(bench, os.X_OK):
            raise unittest.SkipTest("tests/bench_snapshot not built")
        cls.tmp = tempfile.mkdtemp(prefix="ember-es-")
        cls.dir = os.path.join(cls.tmp, "snap")
        record = os.path.join(cls.tmp, "record")
        subprocess.run([bench, str(BENCH_ITEMS), cls.dir, "1", "full"],
                       check=True, capture_output=True, timeout=300,
                       env=dict(os.environ, BENCH_RECORD=record))
        cls.items = read_record(record)     # what the writer stored

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_counts_agree(self):
        info = json.loads(ok("info", "--json", self.dir))
        self.assertEqual(info["records"], BENCH_ITEMS)
        self.assertEqual(info["meta_items"], BENCH_ITEMS)
        self.assertEqual(info["raw_bytes"], info["meta_bytes"])
        self.assertEqual(info["stored_bytes"], info["meta_stored_bytes"])
        self.assertEqual(info["cas_max"], info["meta_cas_max"])
        self.assertEqual(len(self.items), BENCH_ITEMS)
        ls = ok("ls", "-H", self.dir).splitlines()
        self.assertEqual(len(ls), BENCH_ITEMS)
        self.assertEqual([l.split()[-1] for l in ls], sorted(self.items))
        stats = json.loads(ok("stats", "--json", self.dir))
        self.assertEqual(stats["records"], BENCH_ITEMS)
        for hist in ("size", "ttl", "ratio"):
            self.assertEqual(sum(b["count"] for b in stats[hist]),
                             BENCH_ITEMS, hist)
            self.assertEqual(sum(b["bytes"] for b in stats[hist]),
                             stats["bytes"], hist)
        # format 3: the items loaded, then what the runs store
        self.assertRegex(ok("verify", self.dir),
                         rb"%d records \(%d live, 0 expired\), \d+ stored "
                         rb"in \d+ blocks of \d+ runs, 0 problems\n"
                         % (BENCH_ITEMS, BENCH_ITEMS))

    def test_dump_is_what_was_written(self):
        self.assertEqual(dump_items(self.dir), self.items)

    def test_get_is_what_was_written(self):
        for k in sorted(self.items)[::97]:
            flags, _, value = self.items[k]
            self.assertEqual(ok("get", k.decode(), self.dir), value)
            meta = ok("get", "--meta", k.decode(), self.dir)
            self.assertIn(b"flags:     %d\n" % flags, meta)
            self.assertIn(b"size:      %d\n" % len(value), meta)

    def test_prefix_and_sort(self):
        ls = ok("ls", "-H", "--prefix=user:0000001", self.dir).splitlines()
        self.assertEqual([l.split()[-1] for l in ls],
                         [b"user:%08d" % i for i in range(10, 20)])
        top = ok("ls", "-H", "--sort=size", "--limit=5", self.dir)
        sizes = sorted((len(v[2]) for v in self.items.values()),
                       reverse=True)[:5]
        self.assertEqual([int(l.split()[0]) for l in top.splitlines()],
                         sizes)

    def test_dump_replayed_into_memcached(self):
        ember.require_memcached("the replay into memcached")
        stream = ok("dump", "--format=memcached", self.dir)
        with ember.Server(kind="memcached") as mc:
            replies = replay(mc.port, stream)
            self.assertEqual(replies, b"STORED\r\n" * BENCH_ITEMS)
            got = read_back(mc.port, self.items)
        self.assertEqual(got, {k: (f, v) for k, (f, _, v)
                               in self.items.items()})

    def test_load_into_server(self):
        with ember.Server() as srv:
            out = ok("load", "--window=64", "127.0.0.1:%d" % srv.port,
                     self.dir)
            self.assertIn(b"%d sent, %d stored, 0 not stored"
                          % (BENCH_ITEMS, BENCH_ITEMS), out)
            got = read_back(srv.port, self.items)
        self.assertEqual(got, {k: (f, v) for k, (f, _, v)
                               in self.items.items()})

    def damaged_copy(self, name):
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(self.dir, d)
        return d

    def test_truncated_file_exit_2(self):
        size = os.path.getsize(os.path.join(self.dir, "data.mdb"))
        for keep in (0, 100, 8192, size // 2, size - 1):
            d = self.damaged_copy("cut")
            os.truncate(os.path.join(d, "data.mdb"), keep)
            for cmd in ("info", "verify", "ls", "dump", "stats"):
                rc, out, err = embersnap(cmd, d)
                self.assertEqual(rc, 2, (cmd, keep, err))
                self.assertEqual(len(err.strip().splitlines()), 1, err)
            if keep >= 8192:
                self.assertIn("truncated", err)

    def test_garbage_pages_never_crash(self):
        # LMDB trusts its pages; damaged ones must give exit 1 or 2 and a
        # message, never a signal (seeded: the same damage every run).
        rng = ember.rng(1)
        size = os.path.getsize(os.path.join(self.dir, "data.mdb"))
        seen = set()
        for trial in range(40):
            d = self.damaged_copy("garbage")
            with open(os.path.join(d, "data.mdb"), "r+b") as f:
                for _ in range(rng.choice((1, 1, 4))):
                    f.seek(rng.randrange(0, size - 64))
                    f.write(bytes(rng.getrandbits(8) for _ in
                                  range(rng.choice((1, 8, 64)))))
            rc, out, err = embersnap("verify", "-q", d)
            self.assertIn(rc, (0, 1, 2), (trial, err))
            if rc == 2:
                self.assertTrue(err.startswith("embersnap"), err)
            seen.add(rc)
        self.assertIn(1, seen)

    def test_bad_input_exit_2(self):
        rc, out, err = embersnap("info", os.path.join(self.tmp, "none"))
        self.assertEqual((rc, out), (2, b""))
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        rc, _, err = embersnap("ls", "--sort=colour", self.dir)
        self.assertEqual(rc, 2, err)


class EmberdDir(ember.SnapshotDirCase):
    """A snapshot directory written by a real emberd --snapshot-dir."""

    @classmethod
    def setUpClass(cls):
        ember.skip_unless_ember("emberd writes the snapshot")
        ember.require_server()

    def start(self, *args, kind=None):
        return self.server(*args, kind=kind)

    def snapshot(self, conn):
        self.assertEqual(conn.request(b"snapshot\r\n", timeout=30), b"OK\r\n")


class FromEmberd(EmberdDir):
    """Snapshots written by a running emberd --snapshot-dir."""

    def test_exact_listing(self):
        srv = self.start("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=3600")
        with srv.connect() as c:
            c.set(b"es:a", b"alpha", flags=5)
            c.set(b"es:b", b"bravo!", flags=0, exptime=100)
            # more than 30 days ahead: memcached wants an absolute time
            c.set(b"es:c", b"\x00\x01binary\r\n", flags=2 ** 32 - 1,
                  exptime=int(time.time()) + 40 * 86400)
            c.set(b"other", b"", flags=9)
            cas = {k: c.gets(k)[1] for k in (b"es:a", b"es:b", b"es:c",
                                             b"other")}
            self.snapshot(c)
        ls = ok("ls", "-H", "--prefix=es:", self.dir).splitlines()
        self.assertEqual(len(ls), 3)
        a, b, cc = [l.split() for l in ls]
        self.assertEqual(a, [b"5", b"5", b"never", b"%d" % cas[b"es:a"],
                             b"es:a"])
        self.assertEqual(b[:2] + b[3:], [b"6", b"0", b"%d" % cas[b"es:b"],
                                         b"es:b"])
        self.assertTrue(70 <= int(b[2]) <= 100, b)
        self.assertEqual(cc[:2], [b"10", b"4294967295"])
        self.assertTrue(40 * 86400 - 30 <= int(cc[2]) <= 40 * 86400, cc)
        self.assertEqual(ok("get", "es:c", self.dir), b"\x00\x01binary\r\n")
        self.assertEqual(ok("get", "other", self.dir), b"")
        info = json.loads(ok("info", "--json", self.dir))
        self.assertEqual((info["records"], info["live"], info["expired"]),
                         (4, 4, 0))
        self.assertGreaterEqual(info["sequence"], 1)
        self.assertLessEqual(abs(info["age"]), 30)
        mc_stream = ok("dump", "--format=memcached", "--prefix=es:b",
                       self.dir)
        self.assertTrue(mc_stream.startswith(b"set es:b 0 "), mc_stream)
        self.assertTrue(mc_stream.endswith(b" 6\r\nbravo!\r\n"), mc_stream)
        head = ok("dump", "--format=memcached", "--prefix=es:c",
                  self.dir).split(b"\r\n")[0].split()
        # more than 30 days left: sent as absolute unix time
        self.assertEqual(head[:3] + head[4:],
                         [b"set", b"es:c", b"4294967295", b"10"])
        self.assertTrue(abs(int(head[3]) - (time.time() + 40 * 86400)) < 30,
                        head)

    def items(self, n):
        return {b"k%04d" % i: (i * 31 % 1000, b"v%d-" % i * (i % 40 + 1))
                for i in range(n)}

    def test_dump_to_memcached_and_load_to_emberd(self):
        items = self.items(500)
        srv = self.start("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=3600")
        binkey = base64.b64encode(b"bin key\x01")
        with srv.connect() as c:
            for k, (f, v) in items.items():
                self.assertEqual(c.set(k, v, flags=f), b"STORED\r\n")
            # a meta-protocol binary key: stored decoded, sent back as ms b
            self.assertEqual(c.request(b"ms %s 3 b F7\r\nabc\r\n" % binkey),
                             b"HD\r\n")
            self.snapshot(c)
        ember.require_memcached("the replay into memcached")
        servers = [self.start(), self.start(kind="memcached")]
        for target in servers:
            if target.kind == "memcached":
                # the binary key travels as `ms ... b` (HD); format 3
                # dumps in snapshot (hash) order, so it is somewhere
                got = replay(target.port, ok("dump", "--format=memcached",
                                             self.dir))
                self.assertEqual(sorted(got.splitlines(True)),
                                 [b"HD\r\n"] + [b"STORED\r\n"] * 500)
            else:
                out = ok("load", "127.0.0.1:%d" % target.port, self.dir)
                self.assertIn(b"501 sent, 501 stored", out)
            self.assertEqual(read_back(target.port, items), items)
            with target.connect() as c:
                self.assertEqual(c.request(b"mg %s b v f\r\n" % binkey),
                                 b"VA 3 f7\r\n")
                self.assertEqual(c.read_line(), b"abc\r\n")

    def test_file_bounded_across_full_rewrites(self):
        """A reader slot left by a dead process -- the warm-restart
        precheck child, or an embersnap killed with -9 -- would pin the
        snapshot it read, and data.mdb would grow by a whole snapshot with
        every full rewrite; the writer clears stale slots before each write
        transaction, so the file stays bounded across flush+restart
        cycles."""
        srv = self.start("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=3600")
        sizes = []
        path = os.path.join(self.dir, "data.mdb")
        for cycle in range(5):
            with srv.connect() as c:
                c.request(b"flush_all\r\n")
                value = (b"%d" % cycle) * 300
                for i in range(3000):
                    c.send(b"set f%05d 0 0 300 noreply\r\n%s\r\n"
                           % (i, value))
                self.snapshot(c)
            sizes.append(os.path.getsize(path))
            if cycle == 0:
                # an embersnap killed in the middle of a read
                p = subprocess.Popen([os.environ.get("EMBERSNAP") or
                                      os.path.join(builddir(), "tools",
                                                   "embersnap", "embersnap"),
                                      "dump", self.dir],
                                     stdout=subprocess.PIPE)
                p.stdout.read(100)
                p.kill()
                p.wait()
                p.stdout.close()
        info = json.loads(ok("info", "--json", self.dir))
        self.assertEqual(info["readers_stale"], 0, sizes)
        self.assertLessEqual(sizes[-1], 3 * sizes[0], sizes)

    def test_verify_while_daemon_snapshots(self):
        srv = self.start("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=1")
        stop = threading.Event()

        def writer():
            """Sets, a delete and a snapshot, round after round; any
            unexpected reply ends it and fails the test (Background)."""
            with srv.connect() as c:
                i = 0
                while not stop.is_set():
                    for j in range(200):
                        reply = c.set(b"live%05d" % ((i * 200 + j) % 3000),
                                      b"x" * (j * 7 % 900), flags=j)
                        self.assertEqual(reply, b"STORED\r\n")
                    c.send(b"delete live%05d\r\n" % (i % 3000))
                    self.assertIn(c.read_line(), (b"DELETED\r\n",
                                                  b"NOT_FOUND\r\n"))
                    self.snapshot(c)
                    i += 1
            return i

        with srv.connect() as c:
            self.snapshot(c)
        first = json.loads(ok("info", "--json", self.dir))["sequence"]
        t = ember.Background(writer)
        t.start()
        try:
            start = time.monotonic()
            runs = 0
            last = first
            # at least 5 runs and 4 s, during which the daemon committed at
            # least 3 snapshots (slow machines: up to 60 s)
            while time.monotonic() - start < 60:
                rc, out, err = embersnap("verify", "-q", self.dir)
                self.assertEqual(rc, 0, err + out.decode(errors="replace"))
                runs += 1
                last = json.loads(ok("info", "--json", self.dir))["sequence"]
                if (runs >= 5 and time.monotonic() - start >= 4
                        and last - first >= 3):
                    break
        finally:
            stop.set()
            t.join(timeout=30)
        self.assertGreaterEqual(t.finish(), 3, "writer rounds")
        # the daemon really committed snapshots while verify was reading
        self.assertGreaterEqual(last - first, 3, (first, last, runs))
        srv.stop()
        self.assertEqual(embersnap("verify", self.dir)[0], 0)


def ls_map(*args):
    """`ls -H ARGS` as key -> (size, flags, ttl text, cas)."""
    out = {}
    for line in ok("ls", "-H", *args).splitlines():
        size, flags, ttl, cas, key = line.split()
        out[key] = (int(size), int(flags), ttl, int(cas))
    return out


class FromJournal(EmberdDir):
    """Changes made after the last snapshot live only in the journal; after
    a kill -9, embersnap must show what emberd serves after a restart.
    What each test expects is what it wrote itself (and the server's own
    replies to those writes), never embersnap's output."""

    def crash_after(self, before, after, *args):
        """Run BEFORE(conn), `snapshot`, AFTER(conn) on an emberd started
        with ARGS, then kill -9 it; AFTER's result is returned."""
        srv = self.start("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=3600", *args)
        with srv.connect() as c:
            before(c)
            self.snapshot(c)
            result = after(c)
        srv.kill()
        return result

    def check_items(self, model, prefix):
        """ls, get and dump of PREFIX show exactly MODEL: key -> (flags,
        value, cas, ttl) with ttl None for never, else (lo, hi)."""
        ls = ls_map("--prefix=" + prefix.decode(), self.dir)
        self.assertEqual(sorted(ls), sorted(model))
        for k, (flags, value, cas, ttl) in model.items():
            size, f, t, got_cas = ls[k]
            self.assertEqual((size, f, got_cas), (len(value), flags, cas), k)
            if ttl is None:
                self.assertEqual(t, b"never", k)
            else:
                self.assertTrue(ttl[0] <= int(t) <= ttl[1], (k, t, ttl))
            self.assertEqual(ok("get", k.decode(), self.dir), value, k)
        dumped = {k: (f, v) for k, (f, _, v) in dump_items(self.dir).items()
                  if k.startswith(prefix)}
        self.assertEqual(dumped, {k: (m[0], m[1]) for k, m in model.items()})

    def missing(self, key, why):
        rc, out, err = embersnap("get", key, self.dir)
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn(why, err)

    def test_delete_overwrite_incr_touch_after_crash(self):
        def before(c):
            for k, v, f, e in ((b"j:del", b"doomed", 1, 0),
                               (b"j:over", b"old", 2, 0),
                               (b"j:num", b"10", 3, 0),
                               (b"j:touch", b"t", 4, 100),
                               (b"j:app", b"a", 5, 0),
                               (b"j:keep", b"kept", 6, 0)):
                self.assertEqual(c.set(k, v, f, e), b"STORED\r\n")

        def after(c):
            self.assertEqual(c.request(b"delete j:del\r\n"), b"DELETED\r\n")
            self.assertEqual(c.set(b"j:over", b"new value", 7),
                             b"STORED\r\n")
            self.assertEqual(c.request(b"incr j:num 5\r\n"), b"15\r\n")
            self.assertEqual(c.request(b"touch j:touch 5000\r\n"),
                             b"TOUCHED\r\n")
            self.assertEqual(c.store(b"append", b"j:app", b"bc"),
                             b"STORED\r\n")
            self.assertEqual(c.set(b"j:new", b"fresh", 8), b"STORED\r\n")
            return {k: c.gets(k)[1] for k in (b"j:over", b"j:num",
                                              b"j:touch", b"j:app",
                                              b"j:keep", b"j:new")}

        cas = self.crash_after(before, after)
        model = {b"j:over": (7, b"new value", cas[b"j:over"], None),
                 b"j:num": (3, b"15", cas[b"j:num"], None),
                 b"j:touch": (4, b"t", cas[b"j:touch"], (4900, 5000)),
                 b"j:app": (5, b"abc", cas[b"j:app"], None),
                 b"j:keep": (6, b"kept", cas[b"j:keep"], None),
                 b"j:new": (8, b"fresh", cas[b"j:new"], None)}
        self.check_items(model, b"j:")
        self.missing("j:del", "deleted after the snapshot")
        # the snapshot alone still holds the old values
        for k, v in (("j:del", b"doomed"), ("j:over", b"old"),
                     ("j:num", b"10"), ("j:app", b"a")):
            self.assertEqual(ok("get", "--snapshot-only", k, self.dir), v)
        old = ls_map("--snapshot-only", "--prefix=j:", self.dir)
        self.assertNotIn(b"j:new", old)
        self.assertTrue(int(old[b"j:touch"][2]) <= 100, old)
        self.assertIn(b" 0 problems\n", ok("verify", self.dir))
        info = json.loads(ok("info", "--json", self.dir))
        self.assertGreaterEqual(info["journal"]["records_above"], 6)
        self.assertEqual(info["journal"]["damaged"], 0)
        # load sends the state after the journal
        target = self.start()
        self.assertIn(b"6 sent, 6 stored", ok("load", "127.0.0.1:%d"
                                              % target.port, self.dir))
        self.assertEqual(read_back(target.port, list(model) + [b"j:del"]),
                         {k: (m[0], m[1]) for k, m in model.items()})
        # and emberd, restarted on the directory, serves the same
        srv = self.start("--snapshot-dir=" + self.dir)
        self.assertEqual(read_back(srv.port, list(model) + [b"j:del"]),
                         {k: (m[0], m[1]) for k, m in model.items()})

    def test_flush_all_immediate_and_delayed(self):
        def before(c):
            for k in (b"f:a", b"f:b"):
                self.assertEqual(c.set(k, b"snap " + k), b"STORED\r\n")

        def after(c):
            self.assertEqual(c.set(b"f:c", b"flushed too"), b"STORED\r\n")
            self.assertEqual(c.request(b"flush_all\r\n"), b"OK\r\n")
            self.assertEqual(c.set(b"f:d", b"after"), b"STORED\r\n")
            self.assertEqual(c.set(b"f:b", b"b again"), b"STORED\r\n")
            self.assertEqual(c.request(b"flush_all 3600\r\n"), b"OK\r\n")
            when = int(time.time()) + 3600
            self.assertEqual(c.set(b"f:e", b"pending"), b"STORED\r\n")
            return when, {k: c.gets(k)[1] for k in (b"f:b", b"f:d", b"f:e")}

        when, cas = self.crash_after(before, after)
        model = {b"f:b": (0, b"b again", cas[b"f:b"], None),
                 b"f:d": (0, b"after", cas[b"f:d"], None),
                 b"f:e": (0, b"pending", cas[b"f:e"], None)}
        self.check_items(model, b"f:")
        self.missing("f:a", "flushed by a flush_all after the snapshot")
        self.missing("f:c", "flushed by a flush_all after the snapshot")
        self.assertEqual(ok("get", "--snapshot-only", "f:a", self.dir),
                         b"snap f:a")
        # the delayed flush_all, once due, leaves nothing
        for late in (when + 1, when + 5):
            self.assertEqual(ok("--now=%d" % late, "ls", "-H", "--expired",
                                self.dir), b"")
        self.assertEqual(len(ok("--now=%d" % (when - 5), "ls", "-H",
                                "--prefix=f:", self.dir).splitlines()),
                         len(model))

    def journal_file(self):
        """(path, bytes) of the segment holding the most records."""
        info = json.loads(ok("info", "--json", self.dir))
        f = max(info["journal"]["files"], key=lambda f: f["records"])
        self.assertGreaterEqual(f["records"], 3, info["journal"])
        with open(f["path"], "rb") as fh:
            return f["path"], fh.read()

    def test_torn_tail_and_damaged_record(self):
        def before(c):
            self.assertEqual(c.set(b"t:a", b"one"), b"STORED\r\n")

        def after(c):
            self.assertEqual(c.set(b"t:b", b"two"), b"STORED\r\n")
            self.assertEqual(c.request(b"delete t:a\r\n"), b"DELETED\r\n")
            self.assertEqual(c.set(b"t:c", b"three"), b"STORED\r\n")

        # fsync always: each reply waits for its fdatasync, and the next
        # write notes it (SYNCED), so a bad byte before that note is
        # damage, not a tail a power cut could have torn
        self.crash_after(before, after, "--journal-fsync=always")
        want = ls_map("--prefix=t:", self.dir)
        self.assertEqual(sorted(want), [b"t:b", b"t:c"])
        path, data = self.journal_file()
        # a torn tail: the start of a record whose write the crash cut
        with open(path, "ab") as f:
            f.write(data[64:64 + 40])
        out = ok("verify", self.dir)
        self.assertIn(b"torn: %s: 40 bytes from offset %d, 0 good records"
                      % (path.encode(), len(data)), out)
        self.assertIn(b" 0 problems\n", out)
        self.assertEqual(ls_map("--prefix=t:", self.dir), want)
        files = json.loads(ok("info", "--json", self.dir))["journal"]["files"]
        self.assertEqual([f["torn_bytes"] for f in files
                          if f["path"] == path], [40])
        # a damaged record with good ones after it
        bad = bytearray(data)
        bad[64 + 60] ^= 0x10
        with open(path, "wb") as f:
            f.write(bad)
        rc, out, err = embersnap("verify", self.dir)
        self.assertEqual(rc, 1, out)
        self.assertIn(b"journal: %s: damaged record at offset 64"
                      % path.encode(), out)
        rc, out, err = embersnap("ls", self.dir)
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn("journal unreadable", err)
        self.assertIn(b"t:a", ok("ls", "--snapshot-only", self.dir))


if __name__ == "__main__":
    ember.run_tests()
