#!/usr/bin/env python3
"""Meta-protocol item state across a warm restart (ember only): stale (md
I), the one recache winner (W, then Z for everybody else), fetched (h),
base64 keys (b) and explicit CAS values (ms E) come back as they were,
after a graceful stop and after kill -9 following `snapshot`. A CAS a
client chose near 2^64 must not move the server's CAS counter: the next
ms still gets a small CAS.

Skipped on memcached (no snapshots)."""

import shutil
import tempfile
import unittest

import ember

BIG = 18446744073709551615      # 2^64 - 1, as ms E sends it


def setUpModule():
    ember.skip_unless_ember("snapshots and warm restart")
    ember.require_server()


def embersnap(*args):
    """Run embersnap: (status, stdout and stderr as one text)."""
    status, out, err = ember.embersnap(*args)
    return status, out.decode(errors="replace") + err


def cas_of(line):
    for tok in line.split()[1:]:
        if tok.startswith(b"c"):
            return int(tok[1:])
    raise AssertionError("no CAS in %r" % line)


class MetaRestart(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-mr-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        s = ember.Server("--snapshot-dir=" + self.tmp + "/snap",
                         "--snapshot-interval=3600")
        self.servers.append(s)
        return s.start()

    def ok(self, c, cmd, want=b"HD\r\n"):
        got = c.request(cmd)
        self.assertEqual(got, want, cmd)
        return got

    def populate(self, c):
        """Every kind of state; returns what the checks compare against."""
        self.ok(c, b"ms plain 1\r\np\r\n")
        self.ok(c, b"ms stale 1\r\ns\r\n")
        self.ok(c, b"md stale I\r\n")
        won = c.request(b"mg stale c\r\n")
        self.assertTrue(won.endswith(b" X W\r\n"), won)
        self.ok(c, b"ms stale2 1\r\nt\r\n")
        self.ok(c, b"md stale2 I\r\n")
        self.ok(c, b"ms Ymlu 1 b\r\nb\r\n")          # key "bin"
        self.ok(c, b"ms e 1 E%d\r\ne\r\n" % BIG)
        self.ok(c, b"mg e c\r\n", b"HD c%d\r\n" % BIG)
        self.ok(c, b"ms f 1\r\nf\r\n")
        self.ok(c, b"mg f\r\n")                       # now fetched
        last = cas_of(c.request(b"ms n0 1 c\r\nn\r\n"))
        self.assertLess(last, 2 ** 32)
        return {"stale_cas": cas_of(won), "last_cas": last}

    def check(self, c, before, stale2_won):
        # the win was handed out before the restart: nobody wins again
        self.ok(c, b"mg stale c\r\n",
                b"HD c%d Z X\r\n" % before["stale_cas"])
        if not stale2_won:
            self.ok(c, b"mg stale2\r\n", b"HD X W\r\n")
        self.ok(c, b"mg stale2\r\n", b"HD Z X\r\n")
        self.ok(c, b"mg bin k\r\n", b"HD kYmlu b\r\n")
        self.ok(c, b"mg Ymlu b k v\r\n", b"VA 1 kYmlu b\r\n")
        self.assertEqual(c.read_line(), b"b\r\n")
        self.ok(c, b"mg e c v\r\n", b"VA 1 c%d\r\n" % BIG)
        self.assertEqual(c.read_line(), b"e\r\n")
        self.ok(c, b"mg f h\r\n", b"HD h1\r\n")
        self.ok(c, b"mg plain h\r\n", b"HD h0\r\n")
        # the counter went on from the counter's values, not from 2^64 - 1
        new = cas_of(c.request(b"ms n 1 c\r\nx\r\n"))
        self.assertGreater(new, before["last_cas"])
        self.assertLess(new, 2 ** 32)
        self.ok(c, b"mg n c\r\n", b"HD c%d\r\n" % new)
        # an explicit CAS still matches, and is still the client's
        self.ok(c, b"ms e 1 C%d\r\nE\r\n" % BIG)
        self.assertNotEqual(cas_of(c.request(b"mg e c\r\n")), BIG)

    def test_graceful_restart(self):
        s1 = self.start()
        with s1.connect() as c:
            before = self.populate(c)
        s1.stop()
        s2 = self.start()
        with s2.connect() as c:
            self.check(c, before, stale2_won=False)
        s2.stop()

    def test_kill9_after_snapshot(self):
        s1 = self.start()
        with s1.connect() as c:
            before = self.populate(c)
            self.ok(c, b"snapshot\r\n", b"OK\r\n")
            # won after the snapshot that saved it stale, then saved again
            self.ok(c, b"mg stale2\r\n", b"HD X W\r\n")
            self.ok(c, b"snapshot\r\n", b"OK\r\n")
        s1.kill()
        s2 = self.start()
        with s2.connect() as c:
            self.check(c, before, stale2_won=True)
        s2.stop()

    def test_embersnap_verify_accepts_explicit_cas(self):
        """A client's CAS above cas_reserved is no damage, and cas_max
        (the counter's highest value) leaves it out."""
        s1 = self.start()
        with s1.connect() as c:
            self.populate(c)
        s1.stop()
        rc, out = embersnap("verify", self.tmp + "/snap")
        self.assertEqual(rc, 0, out)
        self.assertIn(" 0 problems", out)

    def test_restart_twice(self):
        """A start that changes nothing keeps the state for the next one."""
        s1 = self.start()
        with s1.connect() as c:
            before = self.populate(c)
        s1.stop()
        s2 = self.start()
        s2.stop()
        s3 = self.start()
        with s3.connect() as c:
            self.check(c, before, stale2_won=False)
        s3.stop()


if __name__ == "__main__":
    ember.run_tests()
