"""What an operator of memcached points at emberd: live key listings
(`lru_crawler metadump`, `stats cachedump`) with Debian's memcached-tool
and libmemcached's memcdump, and the details of `stats` they read, each
beside a real memcached started by the test where its output is
deterministic."""

import ember


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


if __name__ == "__main__":
    ember.run_tests()
