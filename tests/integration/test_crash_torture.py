"""Crash torture with the real binary: emberd is killed with SIGKILL at a
random moment while clients write and interval snapshots run, over and
over. After every kill, `embersnap verify` proves each record on disk
intact, and after every restart every item acknowledged before the last
completed `snapshot` is back with its flags and value.

EMBER_TORTURE_ROUNDS sets the number of kills (default 20, what
`make check` runs); `make torture` runs hundreds. (ember only.)"""

import os
import random
import shutil
import tempfile
import threading
import time
import unittest

import ember


def setUpModule():
    ember.skip_unless_ember("crash recovery")
    ember.require_server()


def rounds():
    try:
        n = int(os.environ.get("EMBER_TORTURE_ROUNDS", "20"))
    except ValueError:
        n = 20
    return max(1, n)


class Writer(threading.Thread):
    """Sets keys with noreply until told to stop or the server dies.  An
    error before KILLING is set (the server went away on its own, or a
    bug in here) is kept in .error for the test to report."""

    def __init__(self, port, tag, seed, killing):
        super().__init__(daemon=True)
        self.port, self.tag = port, tag
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.killing = killing
        self.error = None
        self.sent = 0

    def run(self):
        try:
            with ember.Conn(self.port) as c:
                while not self.stop.is_set():
                    v = b"w" * self.rng.choice((10, 300, 3000, 40000))
                    c.send(b"set %s:%d 0 0 %d noreply\r\n%s\r\n"
                           % (self.tag, self.sent % 4000, len(v), v))
                    self.sent += 1
        except (OSError, TimeoutError, AssertionError) as e:
            if not self.killing.is_set():
                self.error = "writer %r after %d sets: %r" % (
                    self.tag, self.sent, e)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = "writer %r: %r" % (self.tag, e)


class CrashTorture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-torture-")
        self.dir = os.path.join(self.tmp, "snap")
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        # room for everything the writers can write (4000 keys each, up
        # to 40 KB): what is checked is durability, not LRU order (with
        # the journal, their changes after the last snapshot come back
        # too, and at -m 64 would rightly evict the oldest keys)
        self.server = ember.Server("--snapshot-dir=" + self.dir,
                                   "--snapshot-interval=1", "-m", "512")
        return self.server.start()

    def check_durable(self, c, durable):
        keys = sorted(durable)
        for i in range(0, len(keys), 100):
            chunk = keys[i:i + 100]
            c.send(b"get " + b" ".join(chunk) + b"\r\n")
            items, tail = c.read_values()
            self.assertEqual(tail, b"END\r\n")
            got = {k: (f, v) for k, f, v, _ in items}
            for k in chunk:
                self.assertIn(k, got, "acknowledged %r lost" % k)
                self.assertEqual(got[k], durable[k], "%r changed" % k)

    def test_kill9_at_random_moments(self):
        rng = ember.rng(20261125)
        durable = {}
        for r in range(rounds()):
            srv = self.start()
            with srv.connect(timeout=30) as c:
                self.check_durable(c, durable)
                self.assertEqual(c.stats()["evictions"], "0")
                batch = {}
                for i in range(200):
                    key = b"d%d:%d" % (r, i)
                    val = b"%d:%d:" % (r, i) * rng.randint(1, 60)
                    batch[key] = (r % 65536, val)
                    c.send(b"set %s %d 0 %d noreply\r\n%s\r\n"
                           % (key, r % 65536, len(val), val))
                self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                                 b"OK\r\n")
                durable.update(batch)
                killing = threading.Event()
                writers = [Writer(srv.port, b"n%d" % w, rng.random(),
                                  killing) for w in range(2)]
                for w in writers:
                    w.start()
                # land somewhere in the next interval snapshots
                time.sleep(rng.random() * 1.5)
                killing.set()
                srv.kill()
                for w in writers:
                    w.stop.set()
                    w.join(timeout=10)
                    self.assertFalse(w.is_alive(), "writer did not stop")
                    self.assertIsNone(w.error)
            status, out, err = ember.embersnap("verify", "-q", self.dir)
            self.assertEqual(status, 0, "round %d: verify: %s %s"
                             % (r, out.decode(errors="replace"), err))
        srv = self.start()
        with srv.connect(timeout=30) as c:
            self.check_durable(c, durable)
        srv.stop()
        self.server = None


if __name__ == "__main__":
    ember.run_tests()
