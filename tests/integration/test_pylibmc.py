"""pylibmc (libmemcached, text protocol) against the server and memcached.

pylibmc stores ints, str and pickled objects under different flags, so a
server that loses or mangles flags breaks the round trips."""

import unittest

import ember

try:
    import pylibmc
except ImportError:     # Debian: python3-pylibmc
    pylibmc = None


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)


def session(port):
    """Every operation once; return the list of observed results."""
    mc = pylibmc.Client(["%s:%d" % (ember.LOOPBACK, port)], binary=False,
                        behaviors={"connect_timeout": 5000,
                                   "receive_timeout": 5000000,
                                   "send_timeout": 5000000})
    out = []
    try:
        out.append(("flush_all", mc.flush_all()))
        out.append(("set", mc.set("s", "text"), mc.set("i", 7),
                    mc.set("b", b"raw\r\nbytes"), mc.set("big", 2 ** 70),
                    mc.set("obj", Point(1, [2, 3])), mc.set("t", True)))
        out.append(("get", mc.get("s"), mc.get("i"), mc.get("b"),
                    mc.get("big"), mc.get("obj"), mc.get("t"),
                    mc.get("nope")))
        out.append(("add", mc.add("s", "other"), mc.add("new", "n"),
                    mc.get("s"), mc.get("new")))
        out.append(("replace", mc.replace("s", "replaced"),
                    mc.replace("nope", "x"), mc.get("s")))
        out.append(("append", mc.append("s", "+end"),
                    mc.prepend("s", "start+"), mc.get("s"),
                    mc.append("nope", "x")))
        out.append(("incr", mc.incr("i", 5), mc.decr("i", 2),
                    mc.decr("i", 100), mc.get("i")))
        try:
            mc.incr("nope")
            out.append(("incr_missing", "no error"))
        except pylibmc.NotFound:
            out.append(("incr_missing", "NotFound"))
        out.append(("delete", mc.delete("new"), mc.delete("new"),
                    mc.get("new")))
        out.append(("set_multi", sorted(mc.set_multi(
            {"m1": 1, "m2": "two", "m3": [3]}, key_prefix="p_"))))
        out.append(("get_multi", mc.get_multi(["m1", "m2", "m3", "mx"],
                                              key_prefix="p_")))
        out.append(("delete_multi", mc.delete_multi(["m1", "mx"],
                                                    key_prefix="p_"),
                    sorted(mc.get_multi(["p_m1", "p_m2", "p_m3"]))))
        out.append(("touch", mc.touch("s", 100), mc.touch("nope", 100),
                    mc.get("s")))
        out.append(cas_steps(mc))
        out.append(("flush", mc.flush_all(), mc.get("s"),
                    mc.get_multi(["i", "b", "obj"])))
    finally:
        mc.disconnect_all()
    return out


def cas_steps(mc):
    cas_mc = mc.clone()
    cas_mc.behaviors = dict(mc.behaviors, cas=True)
    value, token = cas_mc.gets("s")
    first = cas_mc.cas("s", "cas1", token)
    second = cas_mc.cas("s", "cas2", token)
    return ("cas", value, first, second, cas_mc.get("s"))


@unittest.skipIf(pylibmc is None, "python3-pylibmc not installed")
class PyLibmc(ember.TestCase):
    def test_session(self):
        steps = session(self.server.port)
        got = dict((s[0], s[1:]) for s in steps)
        self.assertEqual(got["set"], (True,) * 6)
        self.assertEqual(got["get"], ("text", 7, b"raw\r\nbytes", 2 ** 70,
                                      Point(1, [2, 3]), True, None))
        self.assertEqual(got["add"], (False, True, "text", "n"))
        self.assertEqual(got["replace"], (True, False, "replaced"))
        self.assertEqual(got["append"], (True, True, "start+replaced+end",
                                         False))
        self.assertEqual(got["incr"], (12, 10, 0, 0))
        self.assertEqual(got["incr_missing"], ("NotFound",))
        self.assertEqual(got["delete"], (True, False, None))
        self.assertEqual(got["set_multi"], ([],))
        self.assertEqual(got["get_multi"], ({"m1": 1, "m2": "two",
                                             "m3": [3]},))
        self.assertEqual(got["delete_multi"], (False, ["p_m2", "p_m3"]))
        self.assertEqual(got["touch"], (True, False, "start+replaced+end"))
        self.assertEqual(got["cas"], ("start+replaced+end", True, False,
                                      "cas1"))
        self.assertEqual(got["flush"], (True, None, {}))
        if not ember.is_memcached():
            ember.require_memcached("the comparison with memcached")
            with ember.Server(kind="memcached") as oracle:
                want = session(oracle.port)
            for mine, theirs in zip(steps, want):
                self.assertEqual(mine, theirs, "differs from memcached")
            self.assertEqual(len(steps), len(want))


if __name__ == "__main__":
    ember.run_tests()
