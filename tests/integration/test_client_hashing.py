"""Three servers used directly by clients that hash keys themselves.

pymemcache's HashClient (rendezvous hashing) and pylibmc with
behaviors {"ketama": True} (libmemcached's consistent hashing) each pick
the node for a key; the test checks every node gets keys (its own
curr_items), each key is on exactly one node, and values and flags
round-trip through the client's serialisation."""

import unittest

import ember
from test_nutcracker import Pool, spread_keys

try:
    from pymemcache.client.hash import HashClient
except ImportError:     # Debian: python3-pymemcache
    HashClient = None

try:
    import pylibmc
except ImportError:     # Debian: python3-pylibmc
    pylibmc = None

KEYS = 600


class Base:
    """The checks, for one client library (make_client, close_client)."""

    @classmethod
    def setUpClass(cls):
        ember.require_server()
        cls.pool = Pool().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.pool.__exit__(None, None, None)

    def setUp(self):
        for s in self.pool.nodes:
            if not s.alive():
                self.fail("a node died:\n" + s.output())
            with s.connect() as c:
                self.assertEqual(c.request(b"flush_all\r\n"), b"OK\r\n")
        self.mc = self.make_client(self.pool.ports)

    def tearDown(self):
        self.close_client(self.mc)

    def holders(self, key):
        n = []
        for i, s in enumerate(self.pool.nodes):
            with s.connect() as c:
                if c.get(key):
                    n.append(i)
        return n

    def test_keys_spread_and_round_trip(self):
        keys = [k.decode() for k in spread_keys(b"ch", KEYS)]
        for k in keys:
            self.assertTrue(self.mc.set(k, k[::-1]), k)
        for k in keys:
            self.assertEqual(self.mc.get(k), k[::-1], k)
        per_node = self.pool.curr_items()
        self.assertEqual(sum(per_node), KEYS, per_node)
        for n in per_node:
            self.assertGreater(n, KEYS // 10, per_node)
        for k in keys[:40]:
            self.assertEqual(len(self.holders(k.encode())), 1, k)

    def test_typed_values_and_multi(self):
        values = {"int": 42, "str": "text", "bytes": b"raw\r\nEND\r\n",
                  "list": [1, "two", 3.0], "big": "x" * 200000}
        for k, v in values.items():
            self.assertTrue(self.mc.set("typed:" + k, v))
        for k, v in values.items():
            self.assertEqual(self.mc.get("typed:" + k), v, k)
        many = {"multi:%d" % i: "m%d" % i for i in range(100)}
        self.set_many(many)
        got = self.mc.get_multi(list(many) + ["multi:missing"])
        self.assertEqual(got, many)
        self.assertEqual(self.mc.incr("typed:int", 8), 50)
        self.assertEqual(self.mc.decr("typed:int", 60), 0)
        self.assertTrue(self.mc.delete("typed:str"))
        self.assertIsNone(self.mc.get("typed:str"))


@unittest.skipIf(HashClient is None, "python3-pymemcache is not installed")
class PymemcacheHashClient(Base, unittest.TestCase):

    def make_client(self, ports):
        from pymemcache import serde
        return HashClient([(ember.LOOPBACK, p) for p in ports],
                          serde=serde.pickle_serde,
                          connect_timeout=5, timeout=5,
                          use_pooling=False, ignore_exc=False)

    def close_client(self, mc):
        mc.close()

    def set_many(self, values):
        self.assertEqual(self.mc.set_many(values), [])


@unittest.skipIf(pylibmc is None, "python3-pylibmc is not installed")
class PylibmcKetama(Base, unittest.TestCase):

    def make_client(self, ports):
        return pylibmc.Client(["%s:%d" % (ember.LOOPBACK, p) for p in ports],
                              binary=False,
                              behaviors={"ketama": True,
                                         "connect_timeout": 5000,
                                         "receive_timeout": 5000000,
                                         "send_timeout": 5000000})

    def close_client(self, mc):
        mc.disconnect_all()

    def set_many(self, values):
        self.assertEqual(self.mc.set_multi(values), [])

    def test_ketama_is_on(self):
        self.assertTrue(self.mc.behaviors["ketama"])


if __name__ == "__main__":
    ember.run_tests()
