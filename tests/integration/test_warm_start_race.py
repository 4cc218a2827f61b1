"""A client that connects the very instant emberd's port opens after a
restart finds every persisted key: the snapshot is loaded before listen(),
so there is no window in which a connection sees a cold or half-loaded
cache. (ember only: memcached has no persistence.)"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import ember

ITEMS = 60000           # enough that loading takes a noticeable while
VALUE = b'{"user": %06d, "plan": "pro", "flags": [1, 2, 3], "pad": "%s"}'


def setUpModule():
    ember.skip_unless_ember("warm restart")
    ember.require_server()


def value_of(i):
    return VALUE % (i, b"x" * (i % 200))


class WarmStartRace(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ember-race-")
        self.snap = os.path.join(self.dir, "snap")
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def fill_and_stop(self):
        srv = ember.Server("--snapshot-dir=" + self.snap, "-m", "128")
        srv.start()
        with srv.connect() as c:
            batch = []
            for i in range(ITEMS):
                v = value_of(i)
                batch.append(b"set k:%06d %d 0 %d noreply\r\n%s\r\n"
                             % (i, i, len(v), v))
                if len(batch) == 500:
                    c.send(b"".join(batch))
                    batch = []
            c.send(b"".join(batch))
            # a reply after the noreply sets: all of them were executed
            self.assertTrue(c.request(b"version\r\n").startswith(b"VERSION"))
        srv.stop()          # SIGTERM: final snapshot, exit status 0
        return srv.port

    def connect_at_once(self, port, deadline):
        """Connect in a tight loop; return the first socket that gets in."""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("emberd exited %d during start-up"
                          % self.proc.returncode)
            try:
                return socket.create_connection(("127.0.0.1", port),
                                                timeout=5)
            except OSError:
                time.sleep(0.001)
        self.fail("port %d never opened" % port)

    def test_first_connection_sees_every_key(self):
        port = self.fill_and_stop()
        argv = ember.server_argv("emberd", port,
                                 ["--snapshot-dir=" + self.snap, "-m", "128"])
        started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        sock = self.connect_at_once(port, started + 60)
        # the first request on the first connection: the last key written,
        # the first, and a spread in between
        probe = [ITEMS - 1, 0] + list(range(7, ITEMS, ITEMS // 97))
        keys = b" ".join(b"k:%06d" % i for i in probe)
        c = ember.Conn.__new__(ember.Conn)     # adopt the raced socket
        c.sock, c.buf, c.timeout = sock, b"", ember.IO_TIMEOUT
        c.send(b"get " + keys + b"\r\n")
        items, tail = c.read_values()
        self.assertEqual(tail, b"END\r\n")
        got = {k: (f, v) for k, f, v, _ in items}
        missing = [i for i in probe if b"k:%06d" % i not in got]
        self.assertEqual(missing, [], "keys missing on the first connection")
        for i in probe:
            self.assertEqual(got[b"k:%06d" % i], (i, value_of(i)))
        stats = c.stats()
        self.assertEqual(int(stats["warm_restart_items_loaded"]), ITEMS)
        self.assertEqual(int(stats["curr_items"]), ITEMS)
        sock.close()
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=60), 0)


if __name__ == "__main__":
    ember.run_tests()
