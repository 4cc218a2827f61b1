"""Harness for ember's end-to-end tests.

Starts either the real emberd ($EMBERD) or Debian's memcached on a free
loopback port, talks to it over raw sockets, and stops it again checking
its exit status.  Every blocking step has a deadline: a broken server makes
a test fail, never hang.

Which server: EMBER_TEST_SERVER=emberd (default) or EMBER_TEST_SERVER=
memcached.  Running the suite against memcached validates the tests
themselves: memcached is the behavioural oracle, so a test that fails
against it is a wrong test (unless it is marked ember-only).

Each file ends with ember.run_tests(), which reports every case and exits
with automake's codes: 0 only when every case passed, 1 fail, 77 when any
case was skipped (see run_tests()).
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

MEMCACHED = "/usr/bin/memcached"
LOOPBACK = "127.0.0.1"

# ASan builds start and run slower; deadlines are generous but finite.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
IO_TIMEOUT = 5.0
PORT_RETRY = 10.0       # a fixed port still held by a process going away


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


def require_memcached(what):
    """Skip (visibly: .ci/run fails on a skip not on its allow-list) when
    Debian's memcached, the oracle of WHAT, is missing."""
    if not have_memcached():
        raise unittest.SkipTest("memcached not installed at %s: %s not "
                                "checked" % (MEMCACHED, what))


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
    SIGTERM and fails if it does not exit 0 in time (then kill -9).
    ENV (None: this process's) is the server's environment."""

    def __init__(self, *args, kind=None, check_exit=True, port=None,
                 listen=LOOPBACK, env=None):
        self.kind = kind or server_kind()
        self.env = env
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
        """Start and wait until it answers.  A lost race for the port is
        retried: a free port is picked again, or a fixed port (a restart
        on the same port) is tried again until PORT_RETRY seconds pass."""
        require_server(self.kind)
        last = ""
        tries = 0
        deadline = time.monotonic() + PORT_RETRY
        while True:
            tries += 1
            self.port = self.fixed_port or free_port()
            self.argv = server_argv(self.kind, self.port, self.args,
                                    self.listen)
            self._errfile = tempfile.TemporaryFile()
            env = None
            if self.env is not None:
                env = dict(os.environ)
                env.update(self.env)
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=self._errfile,
                                         stderr=subprocess.STDOUT,
                                         env=self.env)
            if self._wait_listening():
                return self
            last = self.output()
            self.kill()
            if "address already in use" not in last.lower():
                break       # only a lost race for the port is retried
            if self.fixed_port is None and tries >= 5:
                break
            if self.fixed_port is not None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)     # the port's holder is going away
        raise ServerError("%s did not start (%d tries): %s\noutput:\n%s"
                          % (self.kind, tries, " ".join(self.argv), last))

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
POLL = 0.02             # how often a silent step looks at the server


class Quiescence:
    """Tells, from a side connection's `stats`, when SERVER has read every
    byte a step sent and everything it wrote back has arrived: the
    observable condition for "this step's replies are complete" when the
    sentinel after it was swallowed (an unfinished data block).

    bytes_read counts a request before it is executed, bytes_written a
    reply after it is sent, on both emberd and memcached; the side
    connection's own requests and replies are subtracted.  The condition
    must hold on two polls in a row with nothing moved in between (a
    worker that read our bytes may still be executing them for a few
    microseconds).  Another client of the same server makes the counts
    never match: the step then ends at its deadline, slower, never
    early."""

    STATS = b"stats\r\n"

    def __init__(self, server):
        self.side = server.connect()
        self.polls = 0
        self.replies = 0    # bytes of the side connection's stats replies
        self.base = self._counts()
        self.last = None

    def _counts(self):
        self.side.send(self.STATS)
        size, out = 0, {}
        while True:
            line = self.side.read_line()
            size += len(line)
            if line == b"END\r\n":
                break
            parts = line.split()
            if len(parts) == 3 and parts[1] in (b"bytes_read",
                                                b"bytes_written"):
                out[parts[1]] = int(parts[2])
        counts = (out[b"bytes_read"], out[b"bytes_written"], self.replies)
        self.replies += size
        self.polls += 1
        return counts

    def settled(self, sent, received):
        """True when SENT bytes were read and RECEIVED bytes are all the
        server wrote to the step's connection, twice in a row."""
        br, bw, replies = self._counts()
        read = br - self.base[0] - len(self.STATS) * (self.polls - 1)
        written = bw - self.base[1] - (replies - self.base[2])
        now = (read, written)
        done = read == sent and written == received and self.last == now
        self.last = now if read == sent and written == received else None
        return done

    def close(self):
        self.side.close()


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
    sentinel (an unfinished data block) ends once the server has read it
    all and sent nothing more (see read_step).  Each reply is normalised
    (CAS values, version) so that two servers' replies can be compared."""
    out = []
    prev = b""
    cas_names = {}
    with server.connect() as c:
        for step in steps:
            data = step(prev) if callable(step) else step
            prev = read_step(c, data, server)
            out.append(normalise(prev, cas_names))
            if prev.endswith(b"<closed>"):
                break
    return out


def read_step(c, data, server=None):
    """Send DATA and the sentinel on C; return the raw replies up to and
    including the sentinel's.  When the sentinel does not come back, the
    step ends as soon as SERVER (something with stats(), e.g. a Server)
    is seen to have read every byte sent and to have nothing more on its
    way (Quiescence), marked "<no sentinel>"; without SERVER, or when
    that is not seen within IO_TIMEOUT, at the deadline."""
    probe = Quiescence(server) if hasattr(server, "stats") else None
    try:
        sent = len(data)
        c.send(data)
        try:
            c.send(SENTINEL)
            sent += len(SENTINEL)
        except OSError:
            pass
        return _read_step_replies(c, sent, probe)
    finally:
        if probe is not None:
            probe.close()


def _read_step_replies(c, sent, probe):
    got = b""
    quiet = False
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = c.read_line(timeout=POLL)
            got += line
            quiet = False
        except Closed:
            return _take(c, got) + b"<closed>"
        except TimeoutError:
            quiet = True
            if probe is not None and probe.settled(sent,
                                                   len(got) + len(c.buf)):
                return _take(c, got) + b"<no sentinel>"
            continue
        # LINE alone (GOT ended with a newline before it): searching all
        # of GOT each time was quadratic, seconds on a 7,000-line reply
        if re.search(rb"(^|\n)VERSION \S+\r\n$", line):
            return got
    return _take(c, got) + (b"<no sentinel>" if quiet
                            else b"<still talking>")


def _take(c, got):
    """GOT plus the unfinished line in C's buffer, which is consumed."""
    out, c.buf = got + c.buf, b""
    return out


def read_stats_int(stats, name):
    v = stats[name]
    if not re.fullmatch(r"-?\d+(\.\d+)?", v):
        raise AssertionError("stat %s=%r is not numeric" % (name, v))
    return float(v) if "." in v else int(v)


def seed(default=None, _depth=1):
    """The seed for a randomised test: $EMBER_SEED when set (to replay a
    run), else DEFAULT, else a fresh one.  Printed with the caller's name
    either way, so that every failure can be replayed."""
    env = os.environ.get("EMBER_SEED", "")
    if env:
        value = int(env, 0)
    elif default is not None:
        value = default
    else:
        value = random.SystemRandom().randrange(2 ** 32)
    print("%s: seed %d (EMBER_SEED=%d replays it)"
          % (sys._getframe(_depth).f_code.co_name, value, value),
          file=sys.stderr)
    return value


def rng(default=None):
    """random.Random(seed(DEFAULT)), the seed printed under the caller's
    name."""
    return random.Random(seed(default, _depth=2))


def wait_server_time(conn, at, timeout=30):
    """Wait until the server's clock (stats `time` on CONN) reads AT or
    later: expiry and access times go by that clock, not by ours."""
    if not wait_for(lambda: int(conn.stats()["time"]) >= at, timeout):
        raise AssertionError("server clock %s never reached %d"
                             % (conn.stats()["time"], at))


class Background(threading.Thread):
    """FN(*ARGS) in a daemon thread that keeps the exception ending it, so
    that a load thread never dies unnoticed: finish() joins it and fails
    the test with that exception (or when it does not stop in time)."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException:   # noqa: BLE001 - handed to finish()
            self.error = traceback.format_exc()

    def finish(self, timeout=30):
        """Join; FN's return value.  Raises AssertionError when the thread
        still runs after TIMEOUT seconds or ended with an exception."""
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("%s still running after %.0f s"
                                 % (self.fn.__name__, timeout))
        if self.error is not None:
            raise AssertionError("%s failed:\n%s" % (self.fn.__name__,
                                                      self.error))
        return self.result


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

    def wait_connections(self, conn, count, timeout=10):
        """Wait until the server counts COUNT open connections (those this
        test holds, CONN among them): every earlier connection's close,
        the start-up probe's included, has been noticed."""
        ok = wait_for(lambda: int(conn.stats()["curr_connections"]) == count,
                      timeout)
        self.assertTrue(ok, "curr_connections %s, expected %d"
                        % (conn.stats()["curr_connections"], count))

    def wait_server_time(self, conn, at, timeout=30):
        wait_server_time(conn, at, timeout)

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
    """unittest.main() that reports every case, for automake and .ci/run.

    Prints, after unittest's own report, one line per skipped case
    ("ember-skip: NAME: reason") and, last, the tally that .ci/run reads:

        ember-tests: P passed, F failed, S skipped[: NAME, NAME, ...]

    NAME is file.Class.test.  A case that never ran because its class or
    module was skipped counts as skipped (under the fixture's reason), one
    that never ran for any other reason as failed, and so does an error in
    a class or module fixture.  Exit status (automake): 1 when a case
    failed or none ran, 77 when any case was skipped (a partial run is not
    a pass), 0 only when every case passed."""
    print("server: %s" % server_kind(), file=sys.stderr)
    # keep the cases in the suite after they ran: the tally walks it
    unittest.suite.BaseTestSuite._cleanup = False
    runner = unittest.TextTestRunner(resultclass=_CountingResult,
                                     verbosity=2)
    prog = unittest.main(exit=False, testRunner=runner)
    passed, failed, skipped = _tally(prog.test, prog.result)
    sys.stdout.flush()
    for name, reason in skipped:
        print("ember-skip: %s: %s" % (name, reason), file=sys.stderr)
    line = "ember-tests: %d passed, %d failed, %d skipped" % (
        len(passed), len(failed), len(skipped))
    if skipped:
        line += ": " + ", ".join(name for name, _ in skipped)
    print(line, file=sys.stderr)
    sys.stderr.flush()
    if failed or not (passed or skipped):
        sys.exit(1)
    sys.exit(77 if skipped else 0)


def _case_name(test_id):
    """file.Class.test for a unittest id (the file runs as __main__)."""
    stem = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    if test_id.startswith("__main__."):
        return stem + test_id[len("__main__"):]
    return test_id


def _all_ids(suite):
    if isinstance(suite, unittest.TestSuite):
        for t in suite:
            yield from _all_ids(t)
    else:
        yield suite.id()


def _tally(suite, result):
    """(passed names, failed names, [(skipped name, reason)])."""
    passed, failed, skipped = [], [], []
    for tid in _all_ids(suite):
        outcome = result.outcomes.get(tid)
        if outcome is None:
            # never ran: its class or module fixture was skipped or failed
            holder = next((h for h in result.fixtures
                           if tid.startswith(h[0] + ".")), None)
            if holder is not None and holder[1] == "skip":
                outcome = ("skip", holder[2])
            else:
                outcome = ("fail", "did not run")
        if outcome[0] == "pass":
            passed.append(_case_name(tid))
        elif outcome[0] == "skip":
            skipped.append((_case_name(tid), outcome[1]))
        else:
            failed.append(_case_name(tid))
    for parent, kind, why in result.fixtures:
        if kind == "fail":
            failed.append(_case_name(parent) + " (" + why + ")")
    return passed, failed, skipped


class _CountingResult(unittest.TextTestResult):
    """Records each case's outcome by id, and errors or skips raised by
    class and module fixtures (unittest's _ErrorHolder) apart."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}      # test id -> (pass|fail|skip, reason)
        self.fixtures = []      # (class or module id, fail|skip, what)

    def _fixture(self, test, kind, why):
        """True when TEST is a fixture's placeholder: recorded here."""
        if isinstance(test, unittest.TestCase):
            return False
        desc = test.id()        # "setUpClass (__main__.Class)"
        method, _, parent = desc.partition(" (")
        self.fixtures.append((parent.rstrip(")"), kind,
                              why if kind == "skip" else method))
        return True

    def _set(self, test, outcome, why=""):
        if self.outcomes.get(test.id(), ("",))[0] != "fail":
            self.outcomes[test.id()] = (outcome, why)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if not self._fixture(test, "fail", ""):
            self._set(test, "fail")

    def addError(self, test, err):
        super().addError(test, err)
        if not self._fixture(test, "fail", ""):
            self._set(test, "fail")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if not self._fixture(test, "skip", reason):
            self._set(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._set(test, "fail")

    def addExpectedFailure(self, test, err):
        # a case that asserts a known bug proves nothing here
        super().addExpectedFailure(test, err)
        self._set(test, "fail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "fail")


def is_sanitized(path=None):
    """True when the emberd binary (or PATH) carries AddressSanitizer,
    whose shadow memory and quarantine make RSS meaningless."""
    with open(path or emberd_path(), "rb") as f:
        return b"__asan_init" in f.read()


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


def embersnap_ok(*args, timeout=120):
    """embersnap ARGS, which must exit 0; its stdout (bytes)."""
    rc, out, err = embersnap(*args, timeout=timeout)
    if rc != 0:
        raise AssertionError("embersnap %s: exit %d\n%s%s"
                             % (" ".join(map(str, args)), rc, err,
                                out[-2000:].decode(errors="replace")))
    return out


class SnapshotDirCase(unittest.TestCase):
    """A test with a fresh temporary directory (self.tmp; self.dir is the
    snapshot directory inside it, not created) and servers started through
    self.server(), all killed and removed after the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-%s-"
                                    % type(self).__name__.lower())
        self.dir = os.path.join(self.tmp, "snap")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, *args, kind=None):
        """A started Server with ARGS, killed after the test."""
        s = Server(*args, kind=kind)
        self.servers.append(s)
        return s.start()


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
