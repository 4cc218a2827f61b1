"""What an operator of memcached points at emberd: live key listings
(`lru_crawler metadump`, `stats cachedump`) with Debian's memcached-tool
and libmemcached's memcdump, and the details of `stats` they read, each
beside a real memcached started by the test where its output is
deterministic (byte for byte, but for the last access time, the class
and the item size, which are each server's own)."""

import os
import re
import subprocess
import time
import unittest

import ember

MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"
MEMCDUMP = "/usr/bin/memcdump"
TOOL_TIMEOUT = 60

LINE = re.compile(rb"^key=(\S+) exp=(-?\d+) la=(\d+) cas=(\d+) "
                  rb"fetch=(yes|no) cls=(\d+) size=(\d+)$")


def stat_names(conn):
    """The names `stats` prints, in order."""
    conn.send(b"stats\r\n")
    names = []
    while True:
        line = conn.read_line()
        if line == b"END\r\n":
            return names
        names.append(line.split()[1].decode())


class IdleKicks(ember.OracleTestCase):
    """memcached 1.6.18 prints idle_kicks, right after auth_errors, from
    the start once -o idle_timeout is set (and never without it)."""

    ARGS = ("-o", "idle_timeout=600")

    def test_present_from_the_start_where_memcached_has_it(self):
        for server in (self.oracle, self.server):
            with server.connect() as c:
                names = stat_names(c)
                self.assertIn("idle_kicks", names, server.kind)
                at = names.index("idle_kicks")
                self.assertEqual(names[at - 1], "auth_errors", server.kind)
                self.assertEqual(c.stats()["idle_kicks"], "0", server.kind)


class IdleKicksCounted(ember.OracleTestCase):
    ARGS = ("-o", "idle_timeout=2")

    def test_counts_kicks(self):
        for server in (self.oracle, self.server):
            before = int(server.stats()["idle_kicks"])
            with server.connect() as idle:
                self.assertTrue(idle.is_open())
                idle.wait_closed(timeout=10)
            after = int(server.stats()["idle_kicks"])
            self.assertGreater(after, before, server.kind)


class NoIdleKicks(ember.OracleTestCase):
    ARGS = ()

    def test_absent_without_idle_timeout(self):
        for server in (self.oracle, self.server):
            with server.connect() as c:
                self.assertNotIn("idle_kicks", stat_names(c), server.kind)


def metadump(server, arg=b"all"):
    """The lines of `lru_crawler metadump ARG` on a fresh connection (the
    command alone: memcached drops what is pipelined after it). While
    memcached's crawler still finishes the previous dump it answers
    "ERROR an unknown error happened" or BUSY: asked again then."""
    deadline = time.monotonic() + 10
    while True:
        with server.connect(timeout=30) as c:
            c.send(b"lru_crawler metadump " + arg + b"\r\n")
            # the dump's lines end in "\n": the first "\r\n" is END's,
            # or an error line's
            data = c.read_line(timeout=30)
        if (data.startswith((b"ERROR an unknown", b"BUSY"))
                and server.kind == "memcached"
                and time.monotonic() < deadline):
            time.sleep(0.1)
            continue
        break
    assert data.endswith(b"\nEND\r\n") or data == b"END\r\n", data[-200:]
    return data[:-len(b"END\r\n")].split(b"\n")[:-1]


def normalise_dump(lines, started, now):
    """LINES with la checked (a unix time of this run) and replaced, cls
    and size replaced (ember's classes and item sizes are its own), CAS
    values replaced by their rank, sorted by key."""
    parsed = []
    for line in lines:
        m = LINE.match(line)
        assert m, "not a metadump line: %r" % line
        la = int(m.group(3))
        assert started - 2 <= la <= now + 2, (la, started, now)
        assert int(m.group(7)) > len(m.group(1)), line
        parsed.append(m.groups())
    rank = {cas: i for i, cas in enumerate(sorted({int(p[3])
                                                   for p in parsed}))}
    return sorted(b"key=%s exp=%s la=<t> cas=<%d> fetch=%s cls=<n> "
                  b"size=<n>" % (p[0], p[1], rank[int(p[3])], p[4])
                  for p in parsed)


REL_TTL = 1000      # "n"'s relative exptime in POPULATE
POPULATE = [b"set a:b/c%d~e_f-g.h 5 ABS 3\r\nabc\r\n",
            b"set plain 0 0 2\r\nhi\r\n", b"get plain\r\n",
            b"set gone 0 -1 1\r\nx\r\n",
            b"set n 7 %d 5\r\n12345\r\n" % REL_TTL, b"incr n 1\r\n",
            b"ms Zm9vAGJhcg== 2 b\r\nhi\r\n"]


def populate(server, absolute):
    """POPULATE into SERVER; returns the wall clock seconds it took, as
    (first, last): a relative exptime lands in between."""
    first = int(time.time())
    with server.connect() as c:
        for step in POPULATE:
            ember.read_step(c, step.replace(b"ABS", b"%d" % absolute),
                            server)
    return first, int(time.time())


def relative_exp(lines, window):
    """LINES with an exp of REL_TTL seconds after a moment of WINDOW
    (one second either side: each server's clock ticks on its own) shown
    as exp=<rel>; any other exp stays, and fails the comparison."""
    lo, hi = window[0] + REL_TTL - 1, window[1] + REL_TTL + 1

    def sub(m):
        return b"exp=<rel>" if lo <= int(m.group(1)) <= hi else m.group(0)
    return [re.sub(rb"exp=(\d+)", sub, line) for line in lines]


class Metadump(ember.OracleTestCase):
    """`lru_crawler metadump` beside memcached: the same lines but for
    what is ember's own (last access time, class, size), the same
    errors."""

    def test_lines_match_memcached(self):
        started = int(time.time())
        absolute = started + 100000
        window = {}
        for server in (self.oracle, self.server):
            window[server.kind] = populate(server, absolute)
        dumps = {}
        for server in (self.oracle, self.server):
            for arg in (b"all", b"hash"):
                dumps[server.kind, arg] = relative_exp(normalise_dump(
                    metadump(server, arg), started, int(time.time())),
                    window[server.kind])
        want = dumps["memcached", b"all"]
        self.assertEqual(len(want), 4, want)    # "gone" expired
        self.assertEqual(len([w for w in want if b"exp=<rel>" in w]), 1)
        self.assertEqual(dumps["memcached", b"hash"], want)
        self.assertEqual(dumps["emberd", b"all"], want)
        self.assertEqual(dumps["emberd", b"hash"], want)

    def test_classes_are_the_ones_stats_items_shows(self):
        populate(self.server, int(time.time()) + 1000)
        with self.server.connect() as c:
            classes = {int(k.split(":")[1]) for k in c.stats("items")}
        for line in metadump(self.server):
            cls = int(LINE.match(line).group(6))
            self.assertIn(cls, classes, line)
            one = metadump(self.server, b"%d" % cls)
            self.assertIn(line, one)
            self.assertTrue(all(b" cls=%d " % cls in x for x in one))

    def test_errors_match_memcached(self):
        steps = [b"lru_crawler metadump\r\n",
                 b"lru_crawler metadump foo\r\n",
                 b"lru_crawler metadump 1,x\r\n",
                 b"lru_crawler metadump -1\r\n",
                 b"lru_crawler metadump ALL\r\n",
                 b"lru_crawler metadump hash,1\r\n",
                 b"lru_crawler metadump 1 2\r\n",
                 b"lru_crawler metadump all noreply\r\n",
                 # not ",": memcached 1.6.18 answers NOTSTARTED and its
                 # crawler then refuses every later metadump
                 b"lru_crawler\r\n", b"lru_crawler foo\r\n",
                 b"lru_crawler mgdump all\r\n",
                 b"stats cachedump\r\n", b"stats cachedump 1\r\n",
                 b"stats cachedump x 1\r\n", b"stats cachedump 1 x\r\n",
                 b"stats cachedump 1 -1\r\n",
                 b"stats cachedump 300 1\r\n"]
        want = ember.script_replies(self.oracle, steps)
        got = ember.script_replies(self.server, steps)
        for step, w, g in zip(steps, want, got):
            self.assertEqual(g, w, step)

    def test_empty_cache(self):
        for server in (self.oracle, self.server):
            with server.connect() as c:
                self.assertEqual(c.request(b"flush_all\r\n"), b"OK\r\n")
            self.assertEqual(metadump(server), [], server.kind)


class DumpingDisabled(ember.OracleTestCase):
    """-X refuses both listings with memcached's words."""

    ARGS = ("-X",)

    def test_refused_like_memcached(self):
        steps = [b"lru_crawler metadump all\r\n",
                 b"lru_crawler metadump hash\r\n",
                 b"lru_crawler metadump x\r\n",
                 b"lru_crawler metadump\r\n", b"stats cachedump\r\n",
                 b"stats cachedump 1 0\r\n", b"stats cachedump x y\r\n"]
        self.assertEqual(ember.script_replies(self.server, steps),
                         ember.script_replies(self.oracle, steps))
        for server in (self.oracle, self.server):
            self.assertEqual(server.stats("settings")["dump_enabled"], "no")


class Cachedump(ember.OracleTestCase):
    """`stats cachedump <class> <limit>`: memcached's line for the same
    item (each server's own class for it), most recent first."""

    def test_line_matches_memcached(self):
        absolute = int(time.time()) + 5000
        lines = {}
        for server in (self.oracle, self.server):
            with server.connect() as c:
                c.store(b"set", b"cd:1", b"abcd", flags=3, exptime=absolute)
                c.store(b"set", b"cd:2", b"xy")
            cls = {LINE.match(line).group(1): int(LINE.match(line).group(6))
                   for line in metadump(server)}[b"cd%3A1"]

            def dump():
                with server.connect() as c:
                    c.send(b"stats cachedump %d 0\r\n" % cls)
                    return c.read_until(b"END\r\n")
            # memcached lists only its cold LRU: wait for the move there
            ember.wait_for(lambda: b"cd:1" in dump() and b"cd:2" in dump(),
                           10, step=0.2)
            lines[server.kind] = dump()
        self.assertEqual(lines["emberd"], lines["memcached"])
        self.assertEqual(lines["emberd"],
                         b"ITEM cd:2 [2 b; 0 s]\r\nITEM cd:1 [4 b; %d s]\r\n"
                         b"END\r\n" % absolute)


def require_tool(path, what):
    if not os.access(path, os.X_OK if not path.endswith("tool") else os.R_OK):
        raise unittest.SkipTest("%s not installed: %s not checked"
                                % (path, what))


TOOL_KEYS = [b"user:%d" % i for i in range(40)] + [b"a/b%c", b"x-y.z_~"]


def tool_populate(server, absolute):
    with server.connect() as c:
        for i, key in enumerate(TOOL_KEYS):
            exptime = absolute if i % 3 == 0 else 0
            value = b"value of %s" % key * (1 + i % 4)
            self_check = c.store(b"set", key, value, flags=i, exptime=exptime)
            assert self_check == b"STORED\r\n", self_check


def memcached_tool(server, mode):
    proc = subprocess.run(["perl", MEMCACHED_TOOL,
                           "%s:%d" % (ember.LOOPBACK, server.port), mode],
                          capture_output=True, timeout=TOOL_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def tool_records(out):
    """memcached-tool dump's "add KEY FLAGS EXP LEN\r\nVALUE\r\n" records,
    sorted."""
    records, pos = [], 0
    while pos < len(out):
        m = re.compile(rb"add (\S+) (\d+) (\d+) (\d+)\r\n").match(out, pos)
        assert m, out[pos:pos + 100]
        end = m.end() + int(m.group(4))
        records.append((m.group(1), int(m.group(2)), int(m.group(3)),
                        out[m.end():end]))
        assert out[end:end + 2] == b"\r\n"
        pos = end + 2
    return sorted(records)


class Tools(ember.OracleTestCase):
    """Debian's memcached-tool (dump, keys) and libmemcached's memcdump
    against emberd give what they give against memcached."""

    def test_memcached_tool_dump(self):
        require_tool(MEMCACHED_TOOL, "memcached-tool dump")
        absolute = int(time.time()) + 100000
        dumps = []
        for server in (self.oracle, self.server):
            tool_populate(server, absolute)
            dumps.append(tool_records(memcached_tool(server, "dump")))
        self.assertEqual(len(dumps[0]), len(TOOL_KEYS))
        self.assertEqual(dumps[1], dumps[0])
        # and the dump loads back: replayed into a flushed emberd
        with self.server.connect() as c:
            self.assertEqual(c.request(b"flush_all\r\n"), b"OK\r\n")
            out = memcached_tool(self.oracle, "dump")
            c.send(out)
            for _ in TOOL_KEYS:
                self.assertEqual(c.read_line(), b"STORED\r\n")
        self.assertEqual(tool_records(memcached_tool(self.server, "dump")),
                         dumps[0])

    def test_memcached_tool_keys(self):
        require_tool(MEMCACHED_TOOL, "memcached-tool keys")
        started = int(time.time())
        keys = []
        for server in (self.oracle, self.server):
            tool_populate(server, started + 1000)
            out = memcached_tool(server, "keys")
            keys.append(normalise_dump(out.splitlines(), started,
                                       int(time.time())))
        self.assertEqual(len(keys[0]), len(TOOL_KEYS))
        self.assertEqual(keys[1], keys[0])

    def test_memcdump(self):
        require_tool(MEMCDUMP, "memcdump")
        tool_populate(self.server, int(time.time()) + 1000)
        tool_populate(self.oracle, int(time.time()) + 1000)

        def listed(server):
            proc = subprocess.run([MEMCDUMP, "--servers=%s:%d" % (
                ember.LOOPBACK, server.port)], capture_output=True,
                timeout=TOOL_TIMEOUT)
            assert proc.returncode == 0, proc.stderr
            return sorted(proc.stdout.split())
        want = sorted(TOOL_KEYS)
        # memcached lists its cold LRUs only: wait until all moved there
        ember.wait_for(lambda: listed(self.oracle) == want, 10, step=0.3)
        self.assertEqual(listed(self.oracle), want)
        self.assertEqual(listed(self.server), want)


class MetadumpStreams(ember.TestCase):
    """A metadump of many keys is produced as the socket drains: while
    its client reads nothing, emberd's memory stays put and another
    client of the same (only) worker is served; then every key comes,
    once."""

    SERVER_ARGS = ("-t", "1", "-m", "256")
    NKEYS = 300000

    def load(self, c):
        batch = []
        for i in range(self.NKEYS):
            batch.append(b"set k%07d 0 0 10 noreply\r\n0123456789\r\n" % i)
            if len(batch) == 5000:
                c.send(b"".join(batch))
                batch = []
        c.send(b"".join(batch))
        self.assertTrue(c.is_open())
        self.assertEqual(c.stats()["curr_items"], str(self.NKEYS))

    def test_stalled_reader(self):
        other = self.conn()
        self.load(other)
        rss0 = self.server.rss_kb()
        dumper = self.conn(timeout=60)
        dumper.sock.setsockopt(ember.socket.SOL_SOCKET,
                               ember.socket.SO_RCVBUF, 65536)
        dumper.send(b"lru_crawler metadump all\r\n")
        time.sleep(1.0)
        # the dumper reads nothing: others are served, memory stays put
        for i in range(0, self.NKEYS, self.NKEYS // 20):
            key = b"k%07d" % i
            self.assertEqual(other.get(key), {key: b"0123456789"})
        self.assertEqual(other.set(b"new", b"v"), b"STORED\r\n")
        grown = self.server.rss_kb() - rss0
        if not ember.is_sanitized():    # ASan's quarantine keeps what
            # the dump freed: RSS says nothing there (the plain build
            # checks it; the rest of this test runs in both)
            self.assertLess(grown, 12 * 1024, "RSS grew %d KB during a "
                            "stalled metadump of %d keys"
                            % (grown, self.NKEYS))
        data = dumper.read_until(b"END\r\n", timeout=120)
        keys = re.findall(rb"^key=k(\d+) ", data, re.M)
        self.assertEqual(len(keys), self.NKEYS, data[-200:])
        self.assertEqual(len(set(keys)), self.NKEYS)
        self.assertTrue(data.endswith(b"\nEND\r\n"))
        self.assertTrue(dumper.is_open())


if __name__ == "__main__":
    ember.run_tests()
