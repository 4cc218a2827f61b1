"""memcached flags that change protocol behaviour: -F, -C, -A, -I, -t.

Replies are compared with memcached started with the same flag (a test
skips, visibly, when memcached is missing); each test also asserts the
behaviour itself."""

import socket
import unittest

import ember

BIG = 1536 * 1024


class FlagCase(unittest.TestCase):
    def differential(self, args, steps):
        """Run STEPS on the server with ARGS; compare with memcached."""
        with ember.Server(*args) as srv:
            got = ember.script_replies(srv, steps)
        if not ember.is_memcached():
            ember.require_memcached("the comparison with memcached")
            with ember.Server(*args, kind="memcached") as oracle:
                want = ember.script_replies(oracle, steps)
            for i, (w, g) in enumerate(zip(want, got)):
                self.assertEqual(g, w, "step %d %r" % (i, steps[i][:60]))
            self.assertEqual(len(got), len(want))
        return got

    def test_disable_flush_all(self):
        got = self.differential(("-F",), [
            b"set k 0 0 1\r\nx\r\n", b"flush_all\r\n", b"flush_all 0\r\n",
            b"get k\r\n"])
        self.assertEqual(got[1], b"CLIENT_ERROR flush_all not allowed\r\n"
                         b"VERSION <v>\r\n")
        self.assertIn(b"VALUE k 0 1\r\nx\r\n", got[3])

    def test_disable_cas(self):
        got = self.differential(("-C",), [
            b"set k 0 0 1\r\nx\r\n", b"gets k\r\n", b"set k 0 0 1\r\ny\r\n",
            b"gets k\r\n", b"get k\r\n"])
        # the replies above hide CAS values: check the raw one
        with ember.Server("-C") as srv, srv.connect() as c:
            c.set(b"k", b"v")
            self.assertEqual(c.gets(b"k"), (b"v", 0))
            self.assertEqual(c.stats("settings")["cas_enabled"], "no")
        self.assertIn(b"VALUE k 0 1", got[3])

    def test_shutdown_enabled(self):
        srv = ember.Server("-A").start()
        try:
            with srv.connect() as c:
                c.send(b"shutdown\r\n")
                c.wait_closed()
            rc = srv.wait_exit()
            self.assertEqual(rc, 0, "exit status after shutdown: %r\n%s"
                             % (rc, srv.output()))
        finally:
            srv.kill()

    def test_shutdown_disabled(self):
        with ember.Server() as srv, srv.connect() as c:
            self.assertEqual(c.request(b"shutdown\r\n"),
                             b"ERROR: shutdown not enabled\r\n")
            self.assertTrue(c.is_open())

    def test_max_item_size(self):
        value = b"i" * BIG
        with ember.Server("-I", "2m") as srv, srv.connect() as c:
            self.assertEqual(c.set(b"k", value), b"STORED\r\n")
            self.assertEqual(c.get(b"k"), {b"k": value})
            self.assertEqual(int(c.stats("settings")["item_size_max"]),
                             2 * 1024 * 1024)
        with ember.Server() as srv, srv.connect() as c:
            self.assertEqual(c.set(b"k", value),
                             b"SERVER_ERROR object too large for cache\r\n")
            self.assertTrue(c.is_open())

    def test_verbose_logs(self):
        quiet = ember.Server()
        with quiet, quiet.connect() as c:
            c.set(b"k", b"v")
        with ember.Server("-vv") as srv, srv.connect() as c:
            c.set(b"k", b"v")
            c.get(b"k")
        self.assertGreater(len(srv.output()), len(quiet.output()),
                           "-vv logged nothing more than the default")

    def test_stats_settings_reflect_flags(self):
        args = ("-m", "16", "-c", "200", "-t", "3", "-M", "-F", "-C",
                "-o", "idle_timeout=30", "-I", "2m", "-f", "1.5", "-b", "100",
                "-R", "7", "-v")
        want = {"maxbytes": "16777216", "maxconns": "200", "num_threads": "3",
                "evictions": "off", "flush_enabled": "no",
                "cas_enabled": "no", "idle_timeout": "30",
                "item_size_max": "2097152", "growth_factor": "1.50",
                "tcp_backlog": "100", "reqs_per_event": "7",
                "verbosity": "1", "inter": "127.0.0.1", "udpport": "0"}
        with ember.Server(*args) as srv:
            st = srv.stats("settings")
            self.assertEqual(st["tcpport"], str(srv.port))
        self.assertEqual({k: st.get(k) for k in want}, want)

    def test_listen_list(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        with ember.Server(listen="127.0.0.1,::1") as srv:
            for addr in ("127.0.0.1", "::1"):
                with socket.create_connection((addr, srv.port), 5) as s:
                    s.sendall(b"version\r\n")
                    self.assertTrue(s.recv(100).startswith(b"VERSION "),
                                    addr)

    def test_one_thread(self):
        with ember.Server("-t", "1") as srv, srv.connect() as c:
            self.assertEqual(int(c.stats()["threads"]), 1)
            conns = [srv.connect() for _ in range(5)]
            for i, d in enumerate(conns):
                d.set(b"t%d" % i, b"%d" % i)
            self.assertEqual(len(c.get(*[b"t%d" % i for i in range(5)])), 5)
            for d in conns:
                d.close()


if __name__ == "__main__":
    ember.run_tests()
