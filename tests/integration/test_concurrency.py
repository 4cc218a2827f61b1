"""50 concurrent clients, each on its own keys: no cross-talk, and the
server's counters add up to what the clients did."""

import threading
import time

import ember

CLIENTS = 50
KEYS_PER_CLIENT = 4
DURATION = 2.0


class Client(threading.Thread):
    def __init__(self, server, cid, stop_at):
        super().__init__(daemon=True)
        self.server = server
        self.cid = cid
        self.stop_at = stop_at
        self.sets = self.gets = self.hits = self.incrs = 0
        self.errors = []

    def run(self):
        try:
            self.work()
        except Exception as e:      # reported by the test, not lost
            self.errors.append("client %d: %r" % (self.cid, e))

    def work(self):
        last = {}
        keys = [b"c%02d_k%d" % (self.cid, i) for i in range(KEYS_PER_CLIENT)]
        with self.server.connect(timeout=10) as c:
            n = 0
            while time.monotonic() < self.stop_at or n < 2 * len(keys):
                k = keys[n % len(keys)]
                if n % 5 == 4:
                    # everybody bumps one shared counter: no lost updates
                    reply = c.request(b"incr shared 1\r\n")
                    if not reply[:-2].isdigit():
                        self.errors.append("incr -> %r" % reply)
                        return
                    self.incrs += 1
                elif k not in last or n % 3 == 0:
                    # vary the size so items move between size classes
                    v = (b"%d:%d:" % (self.cid, n)) * (1 + n % 40)
                    reply = c.set(k, v, flags=self.cid)
                    if reply != b"STORED\r\n":
                        self.errors.append("set %r -> %r" % (k, reply))
                        return
                    last[k] = v
                    self.sets += 1
                else:
                    c.send(b"get %s\r\n" % k)
                    items, tail = c.read_values()
                    self.gets += 1
                    want = [(k, self.cid, last[k], None)]
                    if items != want or tail != b"END\r\n":
                        self.errors.append("get %r: want %r got %r %r"
                                           % (k, want, items, tail))
                        return
                    self.hits += 1
                n += 1


class Concurrency(ember.TestCase):
    SERVER_ARGS = ("-m", "64", "-t", "4", "-c", "1024")

    def test_fifty_clients_no_cross_talk(self):
        with self.server.connect() as c:
            self.assertEqual(c.set(b"shared", b"0"), b"STORED\r\n")
        before = self.server.stats()
        stop_at = time.monotonic() + DURATION
        clients = [Client(self.server, i, stop_at) for i in range(CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(DURATION + 30)
            self.assertFalse(t.is_alive(), "client %d hung" % t.cid)
        errors = [e for t in clients for e in t.errors]
        self.assertEqual(errors, [])
        after = self.server.stats()

        def delta(name):
            return int(after[name]) - int(before[name])
        sets = sum(t.sets for t in clients)
        gets = sum(t.gets for t in clients)
        self.assertGreater(gets, CLIENTS)
        self.assertEqual(delta("cmd_set"), sets)
        self.assertEqual(delta("cmd_get"), gets)
        self.assertEqual(delta("get_hits"), gets)
        self.assertEqual(delta("get_misses"), 0)
        self.assertEqual(delta("curr_items"), CLIENTS * KEYS_PER_CLIENT)
        self.assertEqual(delta("total_connections"), CLIENTS + 1)
        self.assertEqual(int(after["evictions"]), 0)
        incrs = sum(t.incrs for t in clients)
        self.assertEqual(delta("incr_hits"), incrs)
        with self.server.connect() as c:
            self.assertEqual(int(c.get(b"shared")[b"shared"]), incrs,
                             "lost increments")
        print("%d sets, %d gets in %.1fs" % (sets, gets, DURATION))


class EvictionRace(ember.TestCase):
    SERVER_ARGS = ("-m", "8", "-t", "4")

    def test_no_corruption_while_evicting(self):
        before = self.server.stats()
        stop_at = time.monotonic() + DURATION
        clients = [EvictingClient(self.server, i, stop_at)
                   for i in range(20)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(DURATION + 30)
            self.assertFalse(t.is_alive(), "client %d hung" % t.cid)
        self.assertEqual([e for t in clients for e in t.errors], [])
        after = self.server.stats()
        self.assertGreater(int(after["evictions"]), 0,
                           "the test did not reach eviction")
        self.assertEqual(int(after["get_hits"]) - int(before["get_hits"]),
                         sum(t.hits for t in clients))
        self.assertLessEqual(int(after["bytes"]),
                             int(after["limit_maxbytes"]))


class EvictingClient(Client):
    """Writes values of 1-40 KB into a cache that is far too small and
    checks every hit: a miss is fine (evicted), a wrong byte is not."""

    def work(self):
        last = {}
        keys = [b"e%02d_k%d" % (self.cid, i) for i in range(8)]
        with self.server.connect(timeout=10) as c:
            n = 0
            while time.monotonic() < self.stop_at:
                k = keys[n % len(keys)]
                if n % 2 == 0:
                    v = (b"%d:%d|" % (self.cid, n)) * (100 + n * 37 % 4000)
                    if c.set(k, v, flags=n) != b"STORED\r\n":
                        self.errors.append("set %r failed" % k)
                        return
                    last[k] = (n, v)
                    self.sets += 1
                elif k in last:
                    c.send(b"get %s\r\n" % k)
                    items, tail = c.read_values()
                    self.gets += 1
                    want = (k, last[k][0], last[k][1], None)
                    if tail != b"END\r\n" or items not in ([], [want]):
                        self.errors.append("get %r: wrong item" % k)
                        return
                    self.hits += len(items)
                n += 1


if __name__ == "__main__":
    ember.run_tests()
