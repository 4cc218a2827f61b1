"""Every classic text-protocol command over a raw socket, exact replies."""

import time

import ember

GENERAL_STATS = """pid uptime time version curr_connections total_connections
    cmd_get cmd_set cmd_flush cmd_touch get_hits get_misses get_expired
    delete_hits delete_misses incr_hits incr_misses decr_hits decr_misses
    cas_hits cas_misses cas_badval touch_hits touch_misses bytes_read
    bytes_written limit_maxbytes threads bytes curr_items total_items
    evictions reclaimed""".split()


class Storage(ember.TestCase):
    SERVER_ARGS = ("-m", "64")

    def test_set_get(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"set %s 5 0 3\r\nabc\r\n" % k, b"STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 5 3\r\nabc\r\nEND\r\n" % k)
        # overwrite, largest flags, a value holding CRLF and "END"
        v = b"a\r\nEND\r\nb"
        self.assertReply(c, b"set %s 4294967295 0 %d\r\n%s\r\n"
                         % (k, len(v), v), b"STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k, b"VALUE %s 4294967295 %d\r\n"
                         b"%s\r\nEND\r\n" % (k, len(v), v))
        self.assertReply(c, b"set %s 0 0 0\r\n\r\n" % k, b"STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 0 0\r\n\r\nEND\r\n" % k)

    def test_get_many_and_misses(self):
        c = self.conn()
        a, b, m = self.key("a"), self.key("b"), self.key("missing")
        c.set(a, b"1")
        c.set(b, b"22", flags=3)
        self.assertReply(c, b"get %s %s %s %s\r\n" % (m, b, a, a),
                         b"VALUE %s 3 2\r\n22\r\nVALUE %s 0 1\r\n1\r\n"
                         b"VALUE %s 0 1\r\n1\r\nEND\r\n" % (b, a, a))
        self.assertReply(c, b"get %s\r\n" % m, b"END\r\n")

    def test_add(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"add %s 1 0 1\r\nx\r\n" % k, b"STORED\r\n")
        self.assertReply(c, b"add %s 2 0 1\r\ny\r\n" % k, b"NOT_STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 1 1\r\nx\r\nEND\r\n" % k)

    def test_replace(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"replace %s 0 0 1\r\nx\r\n" % k,
                         b"NOT_STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k, b"END\r\n")
        c.set(k, b"old")
        self.assertReply(c, b"replace %s 9 0 3\r\nnew\r\n" % k,
                         b"STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 9 3\r\nnew\r\nEND\r\n" % k)

    def test_append_prepend(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"append %s 0 0 1\r\nx\r\n" % k,
                         b"NOT_STORED\r\n")
        self.assertReply(c, b"prepend %s 0 0 1\r\nx\r\n" % k,
                         b"NOT_STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k, b"END\r\n")
        c.set(k, b"mid", flags=7)
        # the flags of append/prepend are ignored: the item keeps its own
        self.assertReply(c, b"append %s 1 0 4\r\n_end\r\n" % k,
                         b"STORED\r\n")
        self.assertReply(c, b"prepend %s 2 0 6\r\nstart_\r\n" % k,
                         b"STORED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 7 13\r\nstart_mid_end\r\nEND\r\n" % k)

    def test_cas_and_gets(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"cas %s 0 0 1 1\r\nx\r\n" % k,
                         b"NOT_FOUND\r\n")
        c.set(k, b"v1")
        v, cas1 = c.gets(k)
        self.assertEqual(v, b"v1")
        self.assertEqual(c.gets(k), (b"v1", cas1), "gets changed the cas")
        self.assertReply(c, b"cas %s 4 0 2 %d\r\nv2\r\n" % (k, cas1),
                         b"STORED\r\n")
        v, cas2 = c.gets(k)
        self.assertEqual(v, b"v2")
        self.assertNotEqual(cas1, cas2)
        self.assertReply(c, b"cas %s 0 0 2 %d\r\nv3\r\n" % (k, cas1),
                         b"EXISTS\r\n")
        self.assertReply(c, b"gets %s\r\n" % k,
                         b"VALUE %s 4 2 %d\r\nv2\r\nEND\r\n" % (k, cas2))
        # any write gives a new, distinct cas; other keys differ too
        c.set(k, b"v2")
        self.assertNotIn(c.gets(k)[1], (cas1, cas2))
        k2 = self.key("2")
        c.set(k2, b"v")
        self.assertNotEqual(c.gets(k2)[1], c.gets(k)[1])

    def test_gat_gats(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"gat 100 %s\r\n" % k, b"END\r\n")
        self.assertReply(c, b"gats 100 %s\r\n" % k, b"END\r\n")
        c.set(k, b"val", flags=3)
        self.assertReply(c, b"gat 100 %s\r\n" % k,
                         b"VALUE %s 3 3\r\nval\r\nEND\r\n" % k)
        cas = c.gets(k)[1]
        self.assertReply(c, b"gats 100 %s\r\n" % k,
                         b"VALUE %s 3 3 %d\r\nval\r\nEND\r\n" % (k, cas))
        # gat returns the item, then the new (past) exptime applies
        self.assertReply(c, b"gat -1 %s\r\n" % k,
                         b"VALUE %s 3 3\r\nval\r\nEND\r\n" % k)
        self.assertReply(c, b"get %s\r\n" % k, b"END\r\n")

    def test_touch(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"touch %s 10\r\n" % k, b"NOT_FOUND\r\n")
        c.set(k, b"x")
        self.assertReply(c, b"touch %s 100\r\n" % k, b"TOUCHED\r\n")
        self.assertReply(c, b"get %s\r\n" % k,
                         b"VALUE %s 0 1\r\nx\r\nEND\r\n" % k)
        self.assertReply(c, b"touch %s -1\r\n" % k, b"TOUCHED\r\n")
        self.assertReply(c, b"get %s\r\n" % k, b"END\r\n")

    def test_incr_decr(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"incr %s 1\r\n" % k, b"NOT_FOUND\r\n")
        self.assertReply(c, b"decr %s 1\r\n" % k, b"NOT_FOUND\r\n")
        c.set(k, b"10")
        self.assertReply(c, b"incr %s 5\r\n" % k, b"15\r\n")
        self.assertReply(c, b"decr %s 3\r\n" % k, b"12\r\n")
        self.assertEqual(int(c.get(k)[k]), 12)
        self.assertReply(c, b"decr %s 100\r\n" % k, b"0\r\n")
        self.assertReply(c, b"incr %s 18446744073709551615\r\n" % k,
                         b"18446744073709551615\r\n")
        self.assertReply(c, b"incr %s 2\r\n" % k, b"1\r\n")
        self.assertEqual(int(c.get(k)[k]), 1)
        c.set(k, b"abc")
        self.assertReply(c, b"incr %s 1\r\n" % k, b"CLIENT_ERROR cannot "
                         b"increment or decrement non-numeric value\r\n")
        self.assertEqual(c.get(k), {k: b"abc"})

    def test_delete(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"delete %s\r\n" % k, b"NOT_FOUND\r\n")
        c.set(k, b"x")
        self.assertReply(c, b"delete %s\r\n" % k, b"DELETED\r\n")
        self.assertReply(c, b"get %s\r\n" % k, b"END\r\n")
        self.assertReply(c, b"delete %s\r\n" % k, b"NOT_FOUND\r\n")


class Admin(ember.TestCase):
    SERVER_ARGS = ("-m", "64")

    def test_version(self):
        line = self.conn().request(b"version\r\n")
        self.assertRegex(line, rb"^VERSION [0-9]+\.[0-9]+\.[0-9]+\S*\r\n$")

    def test_verbosity(self):
        c = self.conn()
        self.assertReply(c, b"verbosity 1\r\n", b"OK\r\n")
        self.assertReply(c, b"verbosity 0\r\n", b"OK\r\n")

    def test_flush_all(self):
        c = self.conn()
        keys = [self.key(str(i)) for i in range(10)]
        for k in keys:
            c.set(k, b"x")
        self.assertReply(c, b"flush_all\r\n", b"OK\r\n")
        self.assertEqual(c.get(*keys), {})
        c.set(keys[0], b"y")
        self.assertReply(c, b"flush_all 0\r\n", b"OK\r\n")
        self.assertEqual(c.get(keys[0]), {})
        # the cache works normally after a flush
        c.set(keys[1], b"z")
        self.assertEqual(c.get(keys[1]), {keys[1]: b"z"})

    def test_quit(self):
        c = self.conn()
        c.set(self.key(), b"x")
        c.send(b"quit\r\n")
        self.assertEqual(c.wait_closed(), b"")
        self.assertTrue(self.server.alive())

    def test_noreply(self):
        c = self.conn()
        k, k2 = self.key(), self.key("2")
        cas_probe = self.key("cas")
        c.set(cas_probe, b"c")
        cas = c.gets(cas_probe)[1]
        c.send(b"set %s 0 0 2 noreply\r\n10\r\n" % k
               + b"add %s 0 0 1 noreply\r\nx\r\n" % k
               + b"add %s 0 0 1 noreply\r\nn\r\n" % k2
               + b"replace %s 0 0 1 noreply\r\nr\r\n" % k2
               + b"append %s 0 0 1 noreply\r\na\r\n" % k2
               + b"prepend %s 0 0 1 noreply\r\np\r\n" % k2
               + b"incr %s 5 noreply\r\n" % k
               + b"decr %s 2 noreply\r\n" % k
               + b"touch %s 100 noreply\r\n" % k
               + b"cas %s 0 0 2 %d noreply\r\nc2\r\n" % (cas_probe, cas)
               + b"incr %s 1 noreply\r\n" % self.key("missing")
               + b"delete %s noreply\r\n" % self.key("missing")
               + b"verbosity 0 noreply\r\n"
               + b"version\r\n")
        self.assertRegex(c.read_line(), rb"^VERSION ")
        c.expect_nothing(0.2)
        self.assertEqual(int(c.get(k)[k]), 13)
        self.assertEqual(c.get(k2), {k2: b"pra"})
        self.assertEqual(c.get(cas_probe), {cas_probe: b"c2"})
        c.send(b"delete %s noreply\r\nversion\r\n" % k2)
        self.assertRegex(c.read_line(), rb"^VERSION ")
        self.assertEqual(c.get(k2), {})
        c.send(b"flush_all noreply\r\nflush_all 0 noreply\r\nversion\r\n")
        self.assertRegex(c.read_line(), rb"^VERSION ")
        self.assertEqual(c.get(k, cas_probe), {})

    def test_pipelining(self):
        """100 mixed commands in one send; answers come back in order."""
        c = self.conn()
        model = {}
        req, want = [], []
        for i in range(100):
            k = self.key(str(i % 7))
            op = i % 5
            if op == 0:
                v = b"v%d" % i
                req.append(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v))
                want.append(b"STORED\r\n")
                model[k] = v
            elif op == 1:
                req.append(b"get %s\r\n" % k)
                want.append(b"" if k not in model else
                            b"VALUE %s 0 %d\r\n%s\r\n"
                            % (k, len(model[k]), model[k]))
                want.append(b"END\r\n")
            elif op == 2:
                req.append(b"delete %s\r\n" % k)
                want.append(b"DELETED\r\n" if model.pop(k, None)
                            else b"NOT_FOUND\r\n")
            elif op == 3:
                req.append(b"add %s 0 0 1\r\na\r\n" % k)
                want.append(b"NOT_STORED\r\n" if k in model
                            else b"STORED\r\n")
                model.setdefault(k, b"a")
            else:
                req.append(b"version\r\n")
                want.append(None)
        c.send(b"".join(req))
        for w in want:
            if w is None:
                self.assertRegex(c.read_line(), rb"^VERSION ")
            elif w:
                self.assertEqual(c.read_exact(len(w)), w)
        c.expect_nothing(0.2)

    def test_bytewise(self):
        """One request split into 1-byte sends."""
        c = self.conn()
        k = self.key()
        c.send_bytewise(b"set %s 3 0 5\r\nhello\r\n" % k)
        self.assertEqual(c.read_line(), b"STORED\r\n")
        c.send_bytewise(b"get %s\r\n" % k)
        want = b"VALUE %s 3 5\r\nhello\r\nEND\r\n" % k
        self.assertEqual(c.read_exact(len(want)), want)


class DelayedFlush(ember.TestCase):
    """Own server: memcached also drops items written within a second of
    the delayed flush time, which would disturb other tests."""

    def test_flush_all_delayed(self):
        c = self.conn()
        k = self.key()
        c.set(k, b"x")
        delay = 3
        self.assertReply(c, b"flush_all %d\r\n" % delay, b"OK\r\n")
        start = time.monotonic()
        self.assertEqual(c.get(k), {k: b"x"}, "flushed before the delay")
        gone = ember.wait_for(lambda: not c.get(k), delay + 1.5)
        took = time.monotonic() - start
        self.assertTrue(gone, "still there %.1fs after flush_all %d"
                        % (took, delay))
        # memcached's clock ticks once a second: allow that much early
        self.assertGreaterEqual(took, delay - 2.1,
                                "flushed after %.1fs, before the delay" % took)


class ExpiryStats(ember.TestCase):
    """Own server, so no earlier flush is still being reaped."""

    def test_expiry_counted(self):
        c = self.conn()
        k = self.key()
        before = c.stats()
        c.set(k, b"x", exptime=1)
        # TTL 1 set at server time T (>= before) ends by T + 1; the
        # server's clock may read a second ahead of the one it expires by
        self.wait_server_time(c, int(before["time"]) + 3)
        self.assertEqual(c.get(k), {})
        after = c.stats()

        def delta(name):
            return int(after[name]) - int(before[name])
        # found expired by the get, or reclaimed by a background sweep first
        self.assertIn(delta("get_expired") + delta("reclaimed"), (1, 2))
        self.assertEqual(delta("get_misses"), 1)
        self.assertEqual(delta("curr_items"), 0)


class Stats(ember.TestCase):
    SERVER_ARGS = ("-m", "64", "-t", "2")

    def test_general_fields(self):
        st = self.conn().stats()
        for name in GENERAL_STATS:
            self.assertIn(name, st)
            if name != "version":
                ember.read_stats_int(st, name)
        self.assertEqual(int(st["pid"]), self.server.pid)
        self.assertLess(abs(int(st["time"]) - time.time()), 5)
        self.assertGreaterEqual(int(st["uptime"]), 0)
        self.assertLess(int(st["uptime"]), 600)
        self.assertEqual(int(st["limit_maxbytes"]), 64 * 1024 * 1024)
        self.assertEqual(int(st["threads"]), 2)
        self.assertGreaterEqual(int(st["curr_connections"]), 1)
        self.assertRegex(st["version"], r"^[0-9]+\.[0-9]+\.[0-9]+")

    def test_counters_move(self):
        c = self.conn()
        k, n = self.key(), self.key("num")
        m = self.key("missing")
        before = c.stats()
        c.set(k, b"abc")
        c.set(n, b"5")
        c.get(k, m)
        c.get(k)
        c.request(b"delete %s\r\n" % m)
        c.request(b"incr %s 1\r\n" % n)
        c.request(b"incr %s 1\r\n" % m)
        c.request(b"decr %s 1\r\n" % n)
        c.request(b"decr %s 1\r\n" % m)
        cas = c.gets(k)[1]
        c.request(b"cas %s 0 0 1 %d\r\nx\r\n" % (k, cas))
        c.request(b"cas %s 0 0 1 %d\r\ny\r\n" % (k, cas))
        c.request(b"cas %s 0 0 1 1\r\ny\r\n" % m)
        c.request(b"touch %s 100\r\n" % k)
        c.request(b"touch %s 100\r\n" % m)
        c.request(b"delete %s\r\n" % k)
        after = c.stats()

        def delta(name):
            return int(after[name]) - int(before[name])
        self.assertEqual(delta("cmd_set"), 5)      # 2 set + 3 cas
        self.assertEqual(delta("cmd_get"), 4)      # 3 keys of get + gets
        self.assertEqual(delta("get_hits"), 3)
        self.assertEqual(delta("get_misses"), 1)
        self.assertEqual(delta("delete_hits"), 1)
        self.assertEqual(delta("delete_misses"), 1)
        self.assertEqual(delta("incr_hits"), 1)
        self.assertEqual(delta("incr_misses"), 1)
        self.assertEqual(delta("decr_hits"), 1)
        self.assertEqual(delta("decr_misses"), 1)
        self.assertEqual(delta("cas_hits"), 1)
        self.assertEqual(delta("cas_badval"), 1)
        self.assertEqual(delta("cas_misses"), 1)
        self.assertEqual(delta("cmd_touch"), 2)
        self.assertEqual(delta("touch_hits"), 1)
        self.assertEqual(delta("touch_misses"), 1)
        self.assertEqual(delta("curr_items"), 1)   # n remains
        # 2 sets and a cas; memcached changes numbers in place when it can
        self.assertIn(delta("total_items"), (3, 4, 5))
        self.assertGreater(delta("bytes"), 0)
        self.assertGreater(delta("bytes_read"), 200)
        self.assertGreater(delta("bytes_written"), 100)
        c.request(b"flush_all\r\n")
        self.assertEqual(int(c.stats()["cmd_flush"]),
                         int(after["cmd_flush"]) + 1)

    def test_bytes_return_after_delete(self):
        c = self.conn()
        keys = [self.key(str(i)) for i in range(10)]
        base = int(c.stats()["bytes"])
        for i, k in enumerate(keys):
            c.set(k, b"v" * (100 * i))
        grown = int(c.stats()["bytes"])
        self.assertGreater(grown - base, sum(100 * i for i in range(10)))
        for k in keys:
            self.assertEqual(c.request(b"delete %s\r\n" % k), b"DELETED\r\n")
        self.assertEqual(int(c.stats()["bytes"]), base)

    def test_connection_counts(self):
        c = self.conn()
        self.wait_connections(c, 1)     # earlier tests' closes noticed
        before = c.stats()
        extra = [self.conn() for _ in range(3)]
        for e in extra:
            self.assertTrue(e.is_open())
        mid = c.stats()
        self.assertEqual(int(mid["curr_connections"]),
                         int(before["curr_connections"]) + 3)
        self.assertEqual(int(mid["total_connections"]),
                         int(before["total_connections"]) + 3)
        for e in extra:
            e.close()
        ok = ember.wait_for(lambda: int(c.stats()["curr_connections"])
                            == int(before["curr_connections"]), 3)
        self.assertTrue(ok, "curr_connections did not drop after close")

    def test_stats_settings(self):
        st = self.conn().stats("settings")
        self.assertEqual(int(st["maxbytes"]), 64 * 1024 * 1024)
        self.assertEqual(int(st["tcpport"]), self.server.port)
        self.assertEqual(int(st["num_threads"]), 2)
        self.assertEqual(int(st["item_size_max"]), 1024 * 1024)
        self.assertIn("maxconns", st)
        self.assertIn("evictions", st)

    def test_stats_items_and_slabs(self):
        c = self.conn()
        for i in range(5):
            c.set(self.key(str(i)), b"x" * (10 ** (i % 4)))
        st = c.stats()
        items = c.stats("items")
        total = 0
        for name, val in items.items():
            self.assertRegex(name, r"^items:\d+:\w+$")
            self.assertRegex(val, r"^-?\d+(\.\d+)?$")
            if name.endswith(":number"):
                total += int(val)
        self.assertEqual(total, int(st["curr_items"]))
        slabs = c.stats("slabs")
        self.assertGreaterEqual(int(slabs["active_slabs"]), 1)
        self.assertGreater(int(slabs["total_malloced"]), 0)
        for name in slabs:
            self.assertRegex(name, r"^(\d+:\w+|active_slabs|"
                             r"total_malloced)$")

    def test_stats_reset(self):
        c = self.conn()
        k = self.key()
        c.set(k, b"x")
        c.get(k)
        items = int(c.stats()["curr_items"])
        self.assertReply(c, b"stats reset\r\n", b"RESET\r\n")
        st = c.stats()
        for name in ("cmd_get", "get_hits", "get_misses", "cmd_set",
                     "total_items", "evictions"):
            self.assertEqual(int(st[name]), 0, name)
        self.assertEqual(int(st["curr_items"]), items)
        c.get(k)
        self.assertEqual(int(c.stats()["get_hits"]), 1)


if __name__ == "__main__":
    ember.run_tests()
