"""Three servers behind Debian's nutcracker (twemproxy 0.5.0).

The pool is what docs/DEPLOYMENT.md recommends: ketama distribution,
fnv1a_64 hashing, memcache protocol.  Clients talk to the proxy only; the
test checks that keys land on every node (each node's own curr_items) and
that every classic command nutcracker forwards answers exactly as one
server does when asked directly.  nutcracker speaks only the classic text
protocol, so the meta commands are not tried here.

The pool helpers (Pool, Proxy) are also used by test_client_hashing.py and
tools/bench/rolling-restart.py.  Skips (77) when nutcracker is not installed.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import ember

NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"
NODES = 3


def have_nutcracker():
    return os.access(NUTCRACKER, os.X_OK)


def require_nutcracker():
    if not have_nutcracker():
        raise unittest.SkipTest("nutcracker (Debian package nutcracker) "
                                "is not installed")


def pool_yaml(listen_port, node_ports, timeout_ms=2000, eject=False):
    """nutcracker's configuration for one pool over NODE_PORTS."""
    lines = [
        "ember:",
        "  listen: %s:%d" % (ember.LOOPBACK, listen_port),
        "  hash: fnv1a_64",
        "  distribution: ketama",
        "  timeout: %d" % timeout_ms,
        "  preconnect: false",
        "  server_retry_timeout: 500",
        "  server_failure_limit: 1",
        "  auto_eject_hosts: %s" % ("true" if eject else "false"),
        "  servers:",
    ]
    for i, port in enumerate(node_ports):
        lines.append("   - %s:%d:1 node%d" % (ember.LOOPBACK, port, i))
    return "\n".join(lines) + "\n"


class Proxy:
    """nutcracker on a free loopback port, its stats port also free.

    Context manager: leaving the block kills it (nutcracker has no state to
    save) and removes its temporary directory."""

    def __init__(self, node_ports, **yaml_args):
        self.node_ports = list(node_ports)
        self.yaml_args = yaml_args
        self.dir = None
        self.proc = None
        self.port = None

    def start(self):
        require_nutcracker()
        self.dir = tempfile.mkdtemp(prefix="ember-nc-")
        last = ""
        for _ in range(5):
            self.port = ember.free_port()
            stats_port = ember.free_port()
            conf = os.path.join(self.dir, "nutcracker.yml")
            with open(conf, "w") as f:
                f.write(pool_yaml(self.port, self.node_ports,
                                  **self.yaml_args))
            self.log = os.path.join(self.dir, "nutcracker.log")
            argv = [NUTCRACKER, "-c", conf, "-s", str(stats_port),
                    "-a", ember.LOOPBACK, "-o", self.log,
                    "-p", os.path.join(self.dir, "nutcracker.pid")]
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if self._wait_listening():
                return self
            last = self.output()
            self.kill()
            if "address already in use" not in last.lower():
                break
        raise ember.ServerError("nutcracker did not start:\n" + last)

    def _wait_listening(self):
        deadline = time.monotonic() + ember.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection((ember.LOOPBACK, self.port),
                                         timeout=1.0).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def output(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def connect(self, timeout=ember.IO_TIMEOUT):
        return ember.Conn(self.port, timeout=timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=ember.STOP_TIMEOUT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


class Pool:
    """NODES servers of one kind on free ports; stops them all on exit
    (checking each exits 0 unless an exception is already on its way)."""

    def __init__(self, *args, kind=None, n=NODES):
        self.nodes = [ember.Server(*args, kind=kind) for _ in range(n)]

    @property
    def ports(self):
        return [s.port for s in self.nodes]

    def __enter__(self):
        try:
            for s in self.nodes:
                s.start()
        except BaseException:
            self.kill()
            raise
        return self

    def kill(self):
        for s in self.nodes:
            s.kill()

    def __exit__(self, etype, evalue, tb):
        if etype is not None:
            self.kill()
            return False
        errors = []
        for s in self.nodes:
            try:
                s.stop()
            except ember.ServerError as e:
                errors.append(str(e))
        if errors:
            raise ember.ServerError("\n".join(errors))
        return False

    def curr_items(self):
        return [int(s.stats()["curr_items"]) for s in self.nodes]


def spread_keys(prefix, n):
    """N distinct keys that differ in many bytes.

    nutcracker's fnv1a_64 keeps only the low 32 bits, and keys that differ
    only in a short trailing counter ("k:1", "k:2", ...) cluster on the
    ketama ring (300 such keys put 0 on one of three nodes); real key sets
    are more varied, and so are these."""
    return [b"%s:%s" % (prefix, hashlib.md5(b"%d" % i).hexdigest()[:12]
                        .encode()) for i in range(n)]


def classic_script(tag):
    """Every classic command nutcracker forwards, over keys under TAG.

    A list of steps for ember.script_replies(); callables use the CAS
    value of the previous step's gets reply."""
    k = lambda name: (tag + name).encode()
    cas_step = lambda prev: (b"cas %s 0 0 3 %d\r\nnew\r\n"
                             % (k("c"), ember.cas_of(prev)))
    stale_cas = lambda prev: (b"cas %s 0 0 3 %d\r\nold\r\n"
                              % (k("c"), ember.cas_of(prev) + 1000))
    return [
        b"set %s 5 0 3\r\none\r\n" % k("a"),
        b"get %s\r\n" % k("a"),
        b"set %s 0 0 3\r\ntwo\r\nset %s 7 0 5\r\nthree\r\n"
        % (k("b"), k("x")),
        b"get %s %s %s %s\r\n" % (k("a"), k("nope"), k("b"), k("x")),
        b"gets %s %s\r\n" % (k("a"), k("b")),
        b"add %s 0 0 1\r\nz\r\n" % k("a"),
        b"add %s 0 0 3\r\nnew\r\n" % k("n"),
        b"replace %s 0 0 1\r\nz\r\n" % k("missing"),
        b"replace %s 1 0 4\r\nrepl\r\n" % k("n"),
        b"append %s 0 0 4\r\n-end\r\n" % k("n"),
        b"prepend %s 0 0 6\r\nstart-\r\n" % k("n"),
        b"append %s 0 0 1\r\nz\r\n" % k("missing"),
        b"get %s\r\n" % k("n"),
        b"set %s 0 0 3\r\nold\r\n" % k("c"),
        b"gets %s\r\n" % k("c"),
        cas_step,
        b"gets %s\r\n" % k("c"),
        stale_cas,
        b"cas %s 0 0 1 1\r\nz\r\n" % k("missing"),
        b"set %s 0 0 2\r\n10\r\n" % k("i"),
        b"incr %s 5\r\n" % k("i"),
        b"decr %s 100\r\n" % k("i"),
        b"incr %s 18446744073709551615\r\n" % k("i"),
        b"incr %s 1\r\n" % k("missing"),
        b"incr %s 1\r\n" % k("a"),
        b"touch %s 1000\r\n" % k("a"),
        b"touch %s 1000\r\n" % k("missing"),
        b"set %s 0 0 1 noreply\r\nq\r\nget %s\r\n" % (k("q"), k("q")),
        b"delete %s\r\n" % k("b"),
        b"delete %s\r\n" % k("b"),
        b"get %s %s\r\n" % (k("a"), k("b")),
    ]


class Nutcracker(unittest.TestCase):
    """One pool and its proxy for the whole class."""

    @classmethod
    def setUpClass(cls):
        require_nutcracker()
        ember.require_server()
        cls.pool = Pool()
        cls.pool.__enter__()
        try:
            cls.proxy = Proxy(cls.pool.ports).__enter__()
        except BaseException:
            cls.pool.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.pool.__exit__(None, None, None)

    def setUp(self):
        for s in self.pool.nodes:
            if not s.alive():
                self.fail("a node died:\n" + s.output())
        if not self.proxy.alive():
            self.fail("nutcracker died:\n" + self.proxy.output())

    def test_keys_spread_over_every_node(self):
        before = self.pool.curr_items()
        keys = spread_keys(b"spread", 300)
        with self.proxy.connect() as c:
            for k in keys:
                self.assertEqual(c.set(k, k[::-1]), b"STORED\r\n")
            got = {}
            for j in range(0, 300, 50):
                got.update(c.get(*keys[j:j + 50]))
        self.assertEqual(got, {k: k[::-1] for k in keys})
        added = [a - b for a, b in zip(self.pool.curr_items(), before)]
        self.assertEqual(sum(added), 300, added)
        for n in added:
            # ketama over three equal nodes: far from empty or all
            self.assertGreater(n, 30, added)

    def test_each_key_lives_on_exactly_one_node(self):
        keys = spread_keys(b"one", 60)
        with self.proxy.connect() as c:
            for k in keys:
                self.assertEqual(c.set(k, b"x"), b"STORED\r\n")
        seen = [0, 0, 0]
        for k in keys:
            holders = 0
            for n, s in enumerate(self.pool.nodes):
                with s.connect() as d:
                    if d.get(k):
                        holders += 1
                        seen[n] += 1
            self.assertEqual(holders, 1, k)
        self.assertNotIn(0, seen)

    def test_classic_commands_as_on_one_node(self):
        with ember.Server() as single:
            direct = ember.script_replies(single, classic_script("cl:"))
        via = ember.script_replies(self.proxy, classic_script("cl:"))
        for step, (a, b) in enumerate(zip(direct, via)):
            self.assertEqual(b, a, "step %d" % step)
        self.assertEqual(len(via), len(direct))

    def test_large_value_and_many_keys_in_one_get(self):
        big = os.urandom(300 * 1024)
        keys = [b"mg:%d" % i for i in range(200)]
        with self.proxy.connect() as c:
            self.assertEqual(c.set(b"mg:big", big), b"STORED\r\n")
            for k in keys:
                c.store(b"set", k, k[::-1], noreply=True)
            got = c.get(b"mg:big", *keys)
        self.assertEqual(got.pop(b"mg:big"), big)
        self.assertEqual(got, {k: k[::-1] for k in keys})


class RollingRestart(unittest.TestCase):
    """Each node in turn gets SIGTERM and is started again on its port and
    snapshot dir, under a light load through the proxy: afterwards every
    key is there again, and meanwhile the only failure a client saw is
    nutcracker's SERVER_ERROR for the node that was down.  (The benchmark
    with hit ratio per second, and memcached for comparison, is
    tools/bench/rolling-restart.sh.)"""

    KEYS = 3000

    def setUp(self):
        require_nutcracker()
        ember.skip_unless_ember("warm restart from --snapshot-dir")
        ember.require_server()
        self.dir = tempfile.mkdtemp(prefix="ember-rolling-")
        self.args = [["--snapshot-dir=%s/n%d" % (self.dir, i),
                      "--snapshot-interval=0"] for i in range(NODES)]
        for i in range(NODES):
            os.mkdir("%s/n%d" % (self.dir, i))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    MIN_CHECKED = 100       # gets whose value was checked, at least

    def load(self, port, keys, stop, seen):
        """gets and sets over KEYS until STOP; SEEN counts the checked
        replies and collects odd ones.  Any exception ends the thread and
        fails the test (ember.Background)."""
        i = 0
        with ember.Conn(port, timeout=10.0) as c:
            while not stop.is_set():
                k = keys[i % len(keys)]
                i += 1
                c.send(b"get " + k + b"\r\n")
                items, tail = c.read_values()
                if tail.startswith(b"SERVER_ERROR"):
                    seen["proxy_errors"] += 1
                elif tail != b"END\r\n" or not items or \
                        items[0][2] != k[::-1]:
                    seen["bad"].append((k, items, tail))
                else:
                    seen["checked"] += 1
                r = c.store(b"set", k, k[::-1])
                if r.startswith(b"SERVER_ERROR"):
                    seen["proxy_errors"] += 1
                elif r != b"STORED\r\n":
                    seen["bad"].append((k, r))

    def served_a_while(self, seen, loader):
        """Wait until the load has checked MIN_CHECKED more gets (every
        node up): each restart happens under load that is known to run."""
        want = seen["checked"] + self.MIN_CHECKED
        ok = ember.wait_for(lambda: seen["checked"] >= want or
                            not loader.is_alive(), 30, 0.01)
        self.assertTrue(ok and loader.is_alive(), "load stalled: %r, %s"
                        % (seen, loader.error))

    def test_every_key_survives_a_rolling_restart(self):
        keys = spread_keys(b"roll", self.KEYS)
        pool = Pool()
        for node, args in zip(pool.nodes, self.args):
            node.args = args
        with pool, Proxy(pool.ports) as proxy:
            with proxy.connect() as c:
                for k in keys:
                    self.assertEqual(c.set(k, k[::-1]), b"STORED\r\n")
            before = pool.curr_items()
            self.assertNotIn(0, before)
            stop = threading.Event()
            seen = {"proxy_errors": 0, "bad": [], "checked": 0}
            loader = ember.Background(self.load, proxy.port, keys, stop,
                                      seen)
            loader.start()
            try:
                for i in range(NODES):
                    self.served_a_while(seen, loader)
                    pool.nodes[i].stop()
                    pool.nodes[i] = ember.Server(*self.args[i],
                                                 port=pool.nodes[i].port)
                    pool.nodes[i].start()
                    st = pool.nodes[i].stats()
                    self.assertEqual(int(st["warm_restart_items_loaded"]),
                                     before[i], "node%d" % i)
                self.served_a_while(seen, loader)
            finally:
                stop.set()
                loader.join(timeout=30)
            loader.finish()
            self.assertEqual(seen["bad"], [])
            self.assertGreaterEqual(seen["checked"], self.MIN_CHECKED,
                                    "too few checked gets: %r" % seen)
            with proxy.connect() as c:
                got = {}
                for j in range(0, len(keys), 100):
                    got.update(c.get(*keys[j:j + 100]))
            self.assertEqual(got, {k: k[::-1] for k in keys})
            self.assertEqual(pool.curr_items(), before)


if __name__ == "__main__":
    ember.run_tests()
