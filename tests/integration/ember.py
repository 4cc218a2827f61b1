"""Harness for ember's end-to-end tests.

Starts either the real emberd ($EMBERD) or Debian's memcached on a free
loopback port, talks to it over raw sockets, and stops it again checking
its exit status.  Every blocking step has a deadline: a broken server makes
a test fail, never hang.

Which server: EMBER_TEST_SERVER=emberd (default) or EMBER_TEST_SERVER=
memcached.  Running the suite against memcached validates the tests
themselves: memcached is the behavioural oracle, so a test that fails
against it is a wrong test (unless it is marked ember-only).

Exit codes follow automake: 0 pass, 1 fail, 77 skip (see run_tests()).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

MEMCACHED = "/usr/bin/memcached"
LOOPBACK = "127.0.0.1"

# ASan builds start and run slower; deadlines are generous but finite.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
IO_TIMEOUT = 5.0


def server_kind():
    """'emberd' or 'memcached', from EMBER_TEST_SERVER."""
    kind = os.environ.get("EMBER_TEST_SERVER", "emberd")
    if kind not in ("emberd", "memcached"):
        raise unittest.SkipTest("EMBER_TEST_SERVER must be emberd or "
                                "memcached, not %r" % kind)
    return kind


def is_memcached(kind=None):
    return (kind or server_kind()) == "memcached"


def have_memcached():
    return os.access(MEMCACHED, os.X_OK)


def emberd_path():
    path = os.environ.get("EMBERD", "")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "daemon", "emberd")
    return path


def require_server(kind=None):
    """Raise SkipTest when the server binary of KIND is missing."""
    kind = kind or server_kind()
    if kind == "memcached":
        if not have_memcached():
            raise unittest.SkipTest("memcached not installed at "
                                    + MEMCACHED)
    elif not os.access(emberd_path(), os.X_OK):
        raise unittest.SkipTest("emberd not built (EMBERD=%s)"
                                % emberd_path())


def skip_unless_ember(what):
    """Skip a test of an ember-only behaviour when running on memcached."""
    if is_memcached():
        raise unittest.SkipTest("ember-only: " + what)


def free_port():
    """A port that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def server_argv(kind, port, args, listen=LOOPBACK):
    """Command line for KIND listening on PORT at LISTEN (memcached's -l
    list; it must include 127.0.0.1, where readiness is probed), plus the
    caller's ARGS."""
    common = ["-p", str(port), "-l", listen, "-U", "0"]
    if kind == "memcached":
        argv = [MEMCACHED] + common
        # ember speaks only the text protocol; make the oracle match.
        argv += ["-B", "ascii"]
        if os.geteuid() == 0 and "-u" not in args:
            argv += ["-u", "root"]
        return argv + list(args)
    return [emberd_path()] + common + list(args)


class ServerError(AssertionError):
    pass


class Server:
    """One server process on a free loopback port.

    Use as a context manager: leaving the block stops the server with
    SIGTERM and fails if it does not exit 0 in time (then kill -9)."""

    def __init__(self, *args, kind=None, check_exit=True, port=None,
                 listen=LOOPBACK):
        self.kind = kind or server_kind()
        self.listen = listen
        self.args = list(args)
        self.check_exit = check_exit
        self.proc = None
        self.fixed_port = port      # None: pick a free one
        self.port = None
        self.argv = None
        self._errfile = None

    # -- life cycle ------------------------------------------------------
    def start(self):
        require_server(self.kind)
        last = ""
        for _ in range(1 if self.fixed_port else 5):
            self.port = self.fixed_port or free_port()
            self.argv = server_argv(self.kind, self.port, self.args,
                                    self.listen)
            self._errfile = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=self._errfile,
                                         stderr=subprocess.STDOUT)
            if self._wait_listening():
                return self
            last = self.output()
            self.kill()
            if "address already in use" not in last.lower():
                break       # only a lost race for the port is retried
        raise ServerError("%s did not start: %s\noutput:\n%s"
                          % (self.kind, " ".join(self.argv), last))

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((LOOPBACK, self.port),
                                              timeout=1.0) as s:
                    # one answered request: the server has fully registered
                    # this probe before any test reads its counters
                    s.settimeout(IO_TIMEOUT)
                    s.sendall(b"version\r\n")
                    s.recv(256)
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Exit status, or None when the process is still running."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM):
        """Stop with SIG; raise ServerError unless it exits 0 in time."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            if rc not in (None, 0):
                raise ServerError("%s had already exited with %s\n%s"
                                  % (self.kind, rc, self.output()))
            return
        self.proc.send_signal(sig)
        rc = self.wait_exit()
        if rc is None:
            self.kill()
            raise ServerError("%s ignored signal %d for %.0fs; killed\n%s"
                              % (self.kind, sig, STOP_TIMEOUT,
                                 self.output()))
        if rc != 0:
            raise ServerError("%s exited with status %d on signal %d\n%s"
                              % (self.kind, rc, sig, self.output()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """Everything the server wrote to stdout and stderr so far."""
        if self._errfile is None:
            return ""
        self._errfile.flush()
        self._errfile.seek(0)
        return self._errfile.read().decode("utf-8", "replace")

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, etype, evalue, tb):
        if etype is not None or not self.check_exit:
            self.kill()
            return False
        self.stop()
        return False

    # -- inspection ------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        return proc_status_kb(self.pid, "VmRSS")

    def connect(self, timeout=IO_TIMEOUT):
        return Conn(self.port, timeout=timeout)

    def stats(self, arg=""):
        with self.connect() as c:
            return c.stats(arg)

    def request(self, data, term=b"\r\n"):
        """One short exchange on a fresh connection."""
        with self.connect() as c:
            return c.request(data, term)


def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ServerError("no %s in /proc/%d/status" % (field, pid))


def proc_status_field(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].split()
    raise ServerError("no %s in /proc/%d/status" % (field, pid))


class Closed(AssertionError):
    """The server closed the connection while a reply was expected."""


class Conn:
    """A raw text-protocol client.  Every read has a deadline."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((LOOPBACK, port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def send_bytewise(self, data, pause=0.0):
        """Send DATA one byte per send() (and segment, with NODELAY)."""
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if pause:
                time.sleep(pause)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out; have %r" % self.buf[-300:])
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out; have %r" % self.buf[-300:])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed("connection closed; have %r" % self.buf[-300:])
        self.buf += chunk

    def read_until(self, term=b"\r\n", timeout=None):
        """Bytes up to and including TERM."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(term)
            if i >= 0:
                out, self.buf = self.buf[:i + len(term)], \
                    self.buf[i + len(term):]
                return out
            self._fill(deadline)

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self, timeout=None):
        return self.read_until(b"\r\n", timeout)

    def request(self, data, term=b"\r\n", timeout=None):
        self.send(data)
        return self.read_until(term, timeout)

    def read_values(self, timeout=None):
        """Parse one retrieval reply.

        Returns (items, tail): items is a list of (key, flags, value, cas)
        (cas None for get/gat), tail the terminating line (b'END\\r\\n' or
        an error line).  Values are read by their declared length, so a
        value containing "END" cannot confuse it."""
        items = []
        while True:
            line = self.read_line(timeout)
            if not line.startswith(b"VALUE "):
                return items, line
            parts = line.split()
            if len(parts) not in (4, 5):
                raise AssertionError("bad VALUE line %r" % line)
            n = int(parts[3])
            data = self.read_exact(n + 2, timeout)
            if data[-2:] != b"\r\n":
                raise AssertionError("value of %r not ended by CRLF: %r"
                                     % (parts[1], data[-10:]))
            cas = int(parts[4]) if len(parts) == 5 else None
            items.append((parts[1], int(parts[2]), data[:-2], cas))

    def get(self, *keys, cmd=b"get"):
        """Values of KEYS as a dict key -> value (misses absent)."""
        self.send(cmd + b" " + b" ".join(keys) + b"\r\n")
        items, tail = self.read_values()
        if tail != b"END\r\n":
            raise AssertionError("%s ended with %r" % (cmd, tail))
        return {k: v for k, _, v, _ in items}

    def gets(self, key):
        """(value, cas) of KEY, or None on a miss."""
        self.send(b"gets " + key + b"\r\n")
        items, tail = self.read_values()
        if tail != b"END\r\n":
            raise AssertionError("gets ended with %r" % tail)
        if not items:
            return None
        return items[0][2], items[0][3]

    def store(self, cmd, key, value, flags=0, exptime=0, cas=None,
              noreply=False):
        line = b"%s %s %d %d %d" % (cmd, key, flags, exptime, len(value))
        if cas is not None:
            line += b" %d" % cas
        if noreply:
            line += b" noreply"
        self.send(line + b"\r\n" + value + b"\r\n")
        if noreply:
            return None
        return self.read_line()

    def set(self, key, value, flags=0, exptime=0):
        return self.store(b"set", key, value, flags, exptime)

    def stats(self, arg=""):
        """`stats ARG` as a dict of str -> str."""
        cmd = b"stats" + (b" " + arg.encode() if arg else b"") + b"\r\n"
        self.send(cmd)
        out = {}
        while True:
            line = self.read_line()
            if line == b"END\r\n":
                return out
            parts = line.decode().split(" ", 2)
            if parts[0] != "STAT" or len(parts) != 3:
                raise AssertionError("bad stats line %r" % line)
            out[parts[1]] = parts[2].rstrip("\r\n")

    def expect_nothing(self, wait=0.3):
        """Assert no byte arrives within WAIT seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        if not self.buf and not chunk:
            raise Closed("connection closed while expecting silence")
        raise AssertionError("unexpected reply %r" % (self.buf + chunk))

    def wait_closed(self, timeout=None):
        """Read until EOF; return every byte received before it.

        Raises TimeoutError when the server keeps the connection open."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            out, self.buf = self.buf, b""
            return out

    def is_open(self):
        """True if a `version` request still gets its answer."""
        try:
            return self.request(b"version\r\n").startswith(b"VERSION ")
        except (Closed, OSError):
            return False


SENTINEL = b"version\r\n"
QUIET = 0.5


def normalise(reply, cas_names):
    """REPLY with the version replaced by <v> and each CAS value by
    <casN>, N counting distinct values in order of appearance (CAS_NAMES
    keeps the mapping across a script), so that whether an operation
    changed an item's CAS stays visible while the numbers do not."""
    def cas(m):
        name = cas_names.setdefault(m.group(2), len(cas_names) + 1)
        return m.group(1) + b" <cas%d>\r" % name
    reply = re.sub(rb"(?m)^(VALUE \S+ \d+ \d+) (\d+)\r$", cas, reply)
    return re.sub(rb"(?m)^VERSION \S+\r$", b"VERSION <v>\r", reply)


def cas_of(reply):
    """The CAS of the first VALUE line of a gets/gats REPLY, else 0."""
    m = re.search(rb"^VALUE \S+ \d+ \d+ (\d+)\r\n", reply, re.M)
    return int(m.group(1)) if m else 0


def script_replies(server, steps):
    """Replies to STEPS from a fresh connection, normalised, one per step.

    A step is bytes, or a function of the previous step's raw reply that
    returns bytes (e.g. to use a CAS value).  After each step a `version`
    sentinel marks the end of its replies; a step that swallows the
    sentinel (an unfinished data block) ends after QUIET seconds.  Each
    reply is normalised (CAS values, version) so that two servers'
    replies can be compared."""
    out = []
    prev = b""
    cas_names = {}
    with server.connect() as c:
        for step in steps:
            data = step(prev) if callable(step) else step
            prev = read_step(c, data)
            out.append(normalise(prev, cas_names))
            if prev.endswith(b"<closed>"):
                break
    return out


def read_step(c, data):
    c.send(data)
    try:
        c.send(SENTINEL)
    except OSError:
        pass
    got = b""
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            got += c.read_line(timeout=QUIET)
        except Closed:
            return got + c.buf + b"<closed>"
        except TimeoutError:
            return got + c.buf + b"<no sentinel>"
        if re.search(rb"(^|\n)VERSION \S+\r\n$", got):
            return got
    return got + b"<still talking>"


def read_stats_int(stats, name):
    v = stats[name]
    if not re.fullmatch(r"-?\d+(\.\d+)?", v):
        raise AssertionError("stat %s=%r is not numeric" % (name, v))
    return float(v) if "." in v else int(v)


def wait_for(pred, timeout, step=0.05):
    """Poll PRED until true or TIMEOUT seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class TestCase(unittest.TestCase):
    """A TestCase with one server per class (started in setUpClass).

    Subclasses set SERVER_ARGS; tests use self.server and self.conn()."""

    SERVER_ARGS = ()
    server = None

    @classmethod
    def setUpClass(cls):
        require_server()
        cls.server = Server(*cls.SERVER_ARGS)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            server, cls.server = cls.server, None
            server.stop()

    def setUp(self):
        self._conns = []
        if self.server is not None and not self.server.alive():
            self.fail("server died earlier:\n" + self.server.output())

    def tearDown(self):
        for c in self._conns:
            c.close()

    def conn(self, timeout=IO_TIMEOUT):
        c = self.server.connect(timeout)
        self._conns.append(c)
        return c

    def key(self, suffix=""):
        """A key unique to this test."""
        name = self.id().rsplit(".", 1)[-1]
        return (name + suffix).encode()

    def assertReply(self, conn, data, expected):
        """Send DATA and assert the reply is exactly EXPECTED."""
        conn.send(data)
        got = conn.read_exact(len(expected))
        self.assertEqual(got, expected, "reply to %r" % data[:200])


def run_tests():
    """unittest.main() with automake exit codes: 0 pass, 1 fail, 77 skip."""
    print("server: %s" % server_kind(), file=sys.stderr)
    runner = unittest.TextTestRunner(resultclass=_CountingResult,
                                     verbosity=2)
    prog = unittest.main(exit=False, testRunner=runner)
    res = prog.result
    if not res.wasSuccessful():
        sys.exit(1)
    sys.exit(0 if res.passed else 77)


class _CountingResult(unittest.TextTestResult):
    """Counts passes, so a run where everything skipped exits 77."""

    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def embersnap(*args, timeout=120):
    """Run the built embersnap: (status, stdout bytes, stderr text).
    Skips the calling test when the tool is not built."""
    path = os.environ.get("EMBERSNAP") or os.path.join(
        os.path.dirname(emberd_path()), "..", "tools", "embersnap",
        "embersnap")
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("embersnap not built (%s)" % path)
    p = subprocess.run([path] + [str(a) for a in args], capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


class OracleTestCase(unittest.TestCase):
    """The server under test and Debian's memcached (the oracle), started
    once per class with the same ARGS as cls.server and cls.oracle; the
    class is skipped with a clear message where memcached is missing."""

    ARGS = ("-m", "64")

    @classmethod
    def setUpClass(cls):
        if not have_memcached():
            raise unittest.SkipTest("memcached not installed at %s: this "
                                    "comparison needs it as the oracle"
                                    % MEMCACHED)
        require_server()
        cls.oracle = Server(*cls.ARGS, kind="memcached").start()
        cls.server = Server(*cls.ARGS)
        try:
            cls.server.start()
        except Exception:
            cls.oracle.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.oracle.stop()
