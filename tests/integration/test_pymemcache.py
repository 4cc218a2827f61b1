"""The pymemcache walkthrough, against the server and against memcached:
each step's result is asserted, and both servers must agree."""

import json
import time
import unittest

import ember

try:
    import pymemcache
    from pymemcache.client.base import Client
    from pymemcache import serde
except ImportError:     # Debian: python3-pymemcache
    pymemcache = None


class JsonSerde:
    """Dicts as JSON (flag 2), bytes as is (flag 1)."""

    def serialize(self, key, value):
        if isinstance(value, bytes):
            return value, 1
        return json.dumps(value, sort_keys=True), 2

    def deserialize(self, key, value, flags):
        if flags == 1:
            return value
        if flags == 2:
            return json.loads(value)
        raise ValueError("unknown flags %d" % flags)


DATABASE = {"user:1": {"name": "ada", "langs": ["c", "ml"]},
            "user:2": {"name": "linus", "langs": ["c"]}}


def walkthrough(port):
    """Run the walkthrough on PORT; return what each step observed."""
    out = []
    client = Client((ember.LOOPBACK, port), connect_timeout=5, timeout=5)
    try:
        client.flush_all()
        out.append(("set", client.set("some_key", "some value")))
        got = client.get("some_key")
        out.append(("get", got, got.decode()))
        out.append(("get_miss", client.get("nope"),
                    client.get("nope", default=b"dflt")))
        out.append(("add", client.add("temp", "1", expire=1, noreply=False),
                    client.add("temp", "2", noreply=False)))
        out.append(("set_many", client.set_many(
            {"m1": "a", "m2": "b", "m3": "c"}, expire=1)))
        out.append(("get_many", client.get_many(["m1", "m2", "m3", "mx"])))
        time.sleep(2.2)
        out.append(("expired", client.get("temp"),
                    client.get_many(["m1", "m2", "m3"])))
        client.set("counter", "10")
        out.append(("incr", client.incr("counter", 5),
                    client.decr("counter", 20), client.incr("missing", 1)))
        out.append(("replace_append", client.replace("counter", "x",
                                                      noreply=False),
                    client.append("counter", "y", noreply=False),
                    client.prepend("counter", "w", noreply=False),
                    client.get("counter")))
        value, cas = client.gets("counter")
        out.append(("gets", value))
        out.append(("cas", client.cas("counter", "new", cas),
                    client.cas("counter", "newer", cas),
                    client.cas("nokey", "v", 12345)))
        out.append(("touch", client.touch("counter", 100, noreply=False),
                    client.touch("nokey", 100, noreply=False)))
        out.append(("delete", client.delete("counter", noreply=False),
                    client.delete("counter", noreply=False),
                    client.get("counter")))
        out.append(("stats_has", sorted(
            k for k in client.stats() if k in (b"curr_items", b"cmd_get"))))
        out.append(("version", bool(client.version())))
    finally:
        client.close()
    out.extend(serde_steps(port))
    return out


def serde_steps(port):
    out = []
    js = Client((ember.LOOPBACK, port), serde=JsonSerde(), timeout=5)
    pk = Client((ember.LOOPBACK, port), serde=serde.pickle_serde, timeout=5)
    try:
        doc = {"a": [1, 2, {"b": None}], "c": "\u00e9t\u00e9"}
        js.set("doc", doc)
        out.append(("json", js.get("doc"), js.get("doc") == doc))
        pk.set("tuple", (1, "two", 3.0))
        pk.set("int", 42)
        out.append(("pickle", pk.get("tuple"), pk.get("int")))
        # cache-aside: miss -> "database" -> set -> hit
        reads = []

        def fetch(uid):
            hit = js.get(uid)
            if hit is not None:
                return hit, "hit"
            reads.append(uid)
            js.set(uid, DATABASE[uid], expire=60)
            return DATABASE[uid], "miss"
        out.append(("aside", fetch("user:1"), fetch("user:1"),
                    fetch("user:2"), fetch("user:1"), list(reads)))
    finally:
        js.close()
        pk.close()
    return out


@unittest.skipIf(pymemcache is None, "python3-pymemcache not installed")
class PyMemcache(ember.TestCase):
    def test_walkthrough(self):
        steps = walkthrough(self.server.port)
        got = dict((step[0], step[1:]) for step in steps)
        self.assertEqual(got["get"], (b"some value", "some value"))
        self.assertEqual(got["get_miss"], (None, b"dflt"))
        self.assertEqual(got["add"], (True, False))
        self.assertEqual(got["get_many"], ({"m1": b"a", "m2": b"b",
                                            "m3": b"c"},))
        self.assertEqual(got["expired"], (None, {}))
        self.assertEqual(got["incr"], (15, 0, None))
        self.assertEqual(got["replace_append"], (True, True, True, b"wxy"))
        self.assertEqual(got["gets"], (b"wxy",))
        self.assertEqual(got["cas"], (True, False, None))
        self.assertEqual(got["touch"], (True, False))
        self.assertEqual(got["delete"], (True, False, None))
        self.assertEqual(got["json"][1], True)
        self.assertEqual(got["pickle"], ((1, "two", 3.0), 42))
        self.assertEqual(got["aside"][-1], ["user:1", "user:2"])
        self.assertEqual(got["aside"][1][1], "hit")
        self.assertEqual(got["aside"][3][1], "hit")
        if not ember.is_memcached():
            ember.require_memcached("the comparison with memcached")
            with ember.Server(kind="memcached") as oracle:
                want = walkthrough(oracle.port)
            for mine, theirs in zip(steps, want):
                self.assertEqual(mine, theirs, "differs from memcached")
            self.assertEqual(len(steps), len(want))


if __name__ == "__main__":
    ember.run_tests()
