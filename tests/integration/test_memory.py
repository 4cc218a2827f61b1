"""Memory limit: -m 8 holds, LRU evicts the cold keys, -M refuses."""

import random

import ember

MB = 1024 * 1024
LIMIT_MB = 8
HOT = 40            # keys read again and again while the cache churns
BATCH = 50


def sizes(seed, total):
    """Mixed value sizes (100 B .. 16 KB) adding up to TOTAL bytes."""
    rng = random.Random(seed)
    out, n = [], 0
    while n < total:
        s = rng.choice((100, 300, 1000, 3000, 8000, 16000))
        out.append(s)
        n += s
    return out


def set_batch(conn, items):
    """Pipelined sets of (key, value); return the reply lines."""
    conn.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v)
                       for k, v in items))
    return [conn.read_line() for _ in items]


def value_for(key, size):
    return (key + b":") * (size // (len(key) + 1)) + b"x" * (
        size % (len(key) + 1))


class MixedSizes(ember.TestCase):
    SERVER_ARGS = ("-m", str(LIMIT_MB))

    def fill(self, c):
        """Three times -m of mixed sizes; every set must be STORED.
        Returns (keys, plan)."""
        plan = sizes(1, 3 * LIMIT_MB * MB)
        keys = [b"key%06d" % i for i in range(len(plan))]
        for i in range(0, len(keys), BATCH):
            batch = [(k, value_for(k, plan[j]))
                     for j, k in enumerate(keys[i:i + BATCH], i)]
            replies = set_batch(c, batch)
            self.assertEqual(replies, [b"STORED\r\n"] * len(batch))
        return keys, plan

    def test_limit_holds(self):
        c = self.conn()
        keys, plan = self.fill(c)
        st = c.stats()
        self.assertGreater(int(st["evictions"]), 0)
        self.assertLessEqual(int(st["bytes"]), int(st["limit_maxbytes"]))
        self.assertEqual(int(st["limit_maxbytes"]), LIMIT_MB * MB)
        # curr_items counts exactly the items that can be read
        present = 0
        for i in range(0, len(keys), 500):
            present += len(c.get(*keys[i:i + 500]))
        self.assertEqual(present, int(c.stats()["curr_items"]))
        # the newest items are there and intact
        recent = c.get(*keys[-100:])
        self.assertGreater(len(recent), 50)
        for k, v in recent.items():
            self.assertEqual(v, value_for(k, plan[keys.index(k)]))

    def test_rss_within_bound(self):
        if is_sanitized(self.server):
            self.skipTest("sanitizer build: ASan's shadow memory and "
                          "quarantine make RSS meaningless")
        c = self.conn()
        self.fill(c)
        rss = self.server.rss_kb() * 1024
        bound = 1.1 * LIMIT_MB * MB + 16 * MB
        print("RSS %.1f MB (bound %.1f MB)" % (rss / MB, bound / MB))
        self.assertLessEqual(rss, bound)


class Lru(ember.TestCase):
    """One value size: memcached evicts per size class, so only with a
    single class is its LRU order comparable to a global one."""

    SERVER_ARGS = ("-m", str(LIMIT_MB))

    def test_read_keys_survive_cold_keys_go(self):
        c = self.conn()
        size = 2000
        count = 3 * LIMIT_MB * MB // size
        keys = [b"lru%06d" % i for i in range(count)]
        hot = keys[:HOT]
        for i in range(0, count, BATCH):
            batch = [(k, value_for(k, size)) for k in keys[i:i + BATCH]]
            self.assertEqual(set_batch(c, batch),
                             [b"STORED\r\n"] * len(batch))
            got = c.get(*hot)           # keep the hot keys recent
            if i >= HOT:
                self.assertEqual(sorted(got), hot,
                                 "hot keys evicted after %d sets" % i)
        self.assertGreater(int(c.stats()["evictions"]), 0)
        cold = keys[HOT:count // 3]
        survivors = c.get(*cold)
        self.assertLess(len(survivors), len(cold) // 20,
                        "%d of %d never-read early keys survived"
                        % (len(survivors), len(cold)))
        self.assertGreater(len(c.get(*keys[-100:])), 90)


def is_sanitized(server):
    return ember.is_sanitized(server.argv[0])


class NoEvict(ember.TestCase):
    SERVER_ARGS = ("-m", str(LIMIT_MB), "-M")

    def test_out_of_memory_instead_of_evicting(self):
        c = self.conn()
        value = b"m" * 4000
        first = b"noevict000000"
        self.assertEqual(c.set(first, value), b"STORED\r\n")
        refused = 0
        for i in range(1, 3 * LIMIT_MB * MB // len(value), BATCH):
            batch = [(b"noevict%06d" % j, value) for j in range(i, i + BATCH)]
            for r in set_batch(c, batch):
                if r == b"SERVER_ERROR out of memory storing object\r\n":
                    refused += 1
                else:
                    self.assertEqual(r, b"STORED\r\n")
            if refused > BATCH:
                break
        self.assertGreater(refused, 0, "-M never refused a write")
        st = c.stats()
        self.assertEqual(int(st["evictions"]), 0)
        self.assertEqual(c.get(first), {first: value},
                         "-M must not evict the oldest item")
        self.assertTrue(c.is_open())


if __name__ == "__main__":
    ember.run_tests()
