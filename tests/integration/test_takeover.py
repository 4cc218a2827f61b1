"""emberd --takeover (issue 13), black box against the real emberd: a new
emberd takes the listening sockets and the data over from the one
serving the same --snapshot-dir, with no refused connect and nothing
lost, and every failure leaves one emberd serving.

- under a load of clients that check every value and of clients that
  open a new connection for every request: no connect refused, no wrong
  value, every key on the new emberd, the old one exits 0; twice in a
  row (a takeover of a taken-over emberd), then a snapshot retires the
  journal segments the first emberd wrote, and a kill -9 loses nothing;
- CAS values go on above the old emberd's; the pid file names the new
  one and stays; the new one tells systemd MAINPID= (before the old one
  may exit) and READY=1, the old one no STOPPING=1 ($NOTIFY_SOCKET, a
  datagram socket of the test's); `-d --takeover`
  returns 0 once the new one serves (what `systemctl reload` runs);
- refused before anything is touched: no emberd on the directory,
  other ports, -m too small for the data, MemAvailable too small for a
  second copy (EMBERD_TAKEOVER_TEST_MEMINFO), -I smaller, a second takeover
  while one runs, --takeover without --snapshot-dir;
- the new one dies after the old one paused (kill -9): the old one
  resumes at once, connects that waited are answered, nothing lost;
- the new one does not finish in time: the old one resumes after its
  10 s, and the new one exits non-zero saying why (and names the old one
  MAINPID again);
- the old one dies (kill -9) while the new one loads, or after it handed
  the sockets over: the new one goes on as after a crash;
- SIGTERM to the old one while the new one loads: the new one exits
  non-zero saying so, the old one stops as usual, nothing is lost.

EMBERD_TAKEOVER_TEST_STOP=loaded|handed makes the new emberd stop itself
(SIGSTOP) at that point of the takeover, so that the test can act
between two steps.  ember only."""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import ember

PAUSE_S = 10        # TAKEOVER_PAUSE_MS: how long the old one waits


def setUpModule():
    ember.skip_unless_ember("takeover")
    ember.require_server()


class New:
    """A `--takeover` emberd started with the old one's command line."""

    def __init__(self, old, *extra, env=None):
        self.out = tempfile.TemporaryFile()
        self.argv = old.argv + ["--takeover"] + list(extra)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        self.pid = self.proc.pid
        self.port = old.port

    def output(self):
        self.out.flush()
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_output(self, text, timeout=30):
        if not ember.wait_for(lambda: text in self.output(), timeout):
            raise AssertionError("no %r from the new emberd:\n%s"
                                 % (text, self.output()))

    def wait_stopped(self, timeout=30):
        """Until the process stopped itself (EMBERD_TAKEOVER_TEST_STOP)."""
        def stopped():
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        if not ember.wait_for(stopped, timeout):
            raise AssertionError("the new emberd did not stop:\n"
                                 + self.output())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM; it must exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait()
        if rc != 0:
            raise AssertionError("new emberd exited %s\n%s"
                                 % (rc, self.output()))

    def stats(self):
        with ember.Conn(self.port) as c:
            return c.stats()


class Base(ember.SnapshotDirCase):
    ARGS = ("-m", "64", "-t", "2", "--snapshot-interval=3600")

    def setUp(self):
        super().setUp()
        self.news = []

    def tearDown(self):
        for n in self.news:
            n.kill()
        super().tearDown()

    def start_old(self, *extra):
        return self.server("--snapshot-dir=" + self.dir, *self.ARGS,
                           *extra)

    def takeover(self, old, *extra, env=None):
        n = New(old, *extra, env=env)
        self.news.append(n)
        return n

    def fill(self, srv, n, prefix=b"k"):
        with srv.connect() as c:
            for i in range(n):
                c.send(b"set %s%d 0 0 8 noreply\r\n%08d\r\n" % (prefix, i, i))
                if i % 2000 == 1999:
                    c.request(b"version\r\n")
            c.request(b"version\r\n")

    def check_fill(self, port, n, prefix=b"k"):
        with ember.Conn(port) as c:
            for base in range(0, n, 100):
                keys = [b"%s%d" % (prefix, i)
                        for i in range(base, min(n, base + 100))]
                got = c.get(*keys)
                for k in keys:
                    self.assertEqual(got.get(k), b"%08d" % int(k[len(prefix):]),
                                     "key %r after the takeover" % k)

    def pid_serving(self, port):
        with ember.Conn(port) as c:
            return int(c.stats()["pid"])

    GAP_LINE = re.compile(r"takeover: no process accepted for ([0-9.]+) ms: "
                          r"old drained ([0-9.]+) ms, journal durable "
                          r"([0-9.]+) ms, sockets passed ([0-9.]+) ms, new "
                          r"applied ([0-9]+) change\(s\) in ([0-9.]+) ms")

    def check_gap(self, old_output, new, started):
        """The new emberd logged how long no process accepted, and shows
        it in `stats`; the old one logged its part.  Both come from the
        two processes' clocks: the gap lies within the takeover as seen
        from here (from starting the new one until now), and its parts
        within the gap."""
        elapsed_us = (time.monotonic() - started) * 1e6
        self.assertRegex(old_output, r"takeover: journal synced in [0-9.]+ "
                         r"ms while serving, then stopped accepting for pid "
                         r"%d; " % new.pid)
        found = self.GAP_LINE.findall(new.output())
        self.assertEqual(len(found), 1, new.output())
        gap, drained, durable, passed, _applied, apply = \
            [float(x) for x in found[0]]
        shown = int(new.stats()["takeover_accept_gap_us"])
        self.assertGreater(shown, 0)
        self.assertLess(shown, elapsed_us, "gap longer than the takeover")
        self.assertAlmostEqual(shown / 1000.0, gap, delta=0.06)
        # five figures printed to 0.1 ms: 0.25 ms of rounding at most
        self.assertLessEqual(drained + durable + passed + apply, gap + 0.3,
                             "parts longer than the whole")
        return shown

    def handed_over(self, old, new, timeout=60):
        """The old emberd exits 0 and the new one serves."""
        rc = old.wait_exit(timeout)
        self.assertEqual(rc, 0, "old emberd: exit %s\n%s\nnew:\n%s"
                         % (rc, old.output(), new.output()))
        self.assertIsNone(new.proc.poll(), new.output())
        self.assertEqual(self.pid_serving(new.port), new.pid)


# ---- the load ---------------------------------------------------------------

class Load:
    """Writers that each own their keys, set new versions and read them
    back checking every value, and connectors that open a new connection
    for every request; all count refused connects and wrong values.  A
    request whose connection closed under it may or may not have been
    applied: its key's value may then be either."""

    def __init__(self, port, writers=3, connectors=2, keys=200, seed=None):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.refused = 0
        self.wrong = []
        self.requests = 0
        self.reconnects = 0
        self.acked = {}         # key -> last acknowledged value
        self.maybe = {}         # key -> value whose set may have applied
        self.rnd = ember.rng(seed)
        self.threads = [ember.Background(self.writer, i, keys)
                        for i in range(writers)]
        self.threads += [ember.Background(self.connector, i)
                         for i in range(connectors)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.finish(60)

    def connect(self):
        while not self.stop.is_set():
            try:
                return ember.Conn(self.port, timeout=20)
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                time.sleep(0.005)
        return None

    def bad(self, what):
        with self.lock:
            self.wrong.append(what)

    def writer(self, w, nkeys):
        rnd = random.Random(self.rnd.randrange(2 ** 32))
        version = 0
        c = self.connect()
        while c is not None and not self.stop.is_set():
            key = b"w%dk%d" % (w, rnd.randrange(nkeys))
            version += 1
            value = b"%s:%d:" % (key, version) + b"x" * rnd.randrange(200)
            try:
                self.set_and_check(c, key, value)
            except (OSError, ember.Closed):
                c.close()
                with self.lock:
                    self.reconnects += 1
                c = self.connect()
        if c is not None:
            c.close()

    def set_and_check(self, c, key, value):
        with self.lock:
            self.maybe[key] = value
        r = c.set(key, value)
        if r != b"STORED\r\n":
            self.bad("set %r: %r" % (key, r))
            return
        with self.lock:
            self.acked[key] = value
            self.maybe.pop(key, None)
            self.requests += 1
        got = c.get(key).get(key)
        if got != value:
            self.bad("get %r: %r, acknowledged %r" % (key, got, value))

    def connector(self, n):
        while not self.stop.is_set():
            c = self.connect()
            if c is None:
                return
            try:
                r = c.request(b"version\r\n")
                if not r.startswith(b"VERSION "):
                    self.bad("version: %r" % r)
                with self.lock:
                    self.requests += 1
            except (OSError, ember.Closed):
                with self.lock:
                    self.reconnects += 1
            finally:
                c.close()

    def check_final(self, port):
        """Every key holds its last acknowledged value (or the one whose
        set was cut off)."""
        with ember.Conn(port) as c:
            for key, value in sorted(self.acked.items()):
                got = c.get(key).get(key)
                if got != value and got != self.maybe.get(key):
                    self.bad("after: %r holds %r, acknowledged %r"
                             % (key, got, value))


class UnderLoad(Base):
    def test_takeover_under_load_twice(self):
        old = self.start_old()
        self.fill(old, 20000)
        load = Load(old.port).start()
        time.sleep(1.0)
        self.assertEqual(old.stats()["takeover_accept_gap_us"], "0")
        started = time.monotonic()
        first = self.takeover(old)
        self.handed_over(old, first)
        gaps = [self.check_gap(old.output(), first, started)]
        time.sleep(1.0)
        # and again: the first new one is taken over in its turn
        first_as_old = _AsServer(first)
        started = time.monotonic()
        second = self.takeover(first_as_old)
        rc = first.wait(60)
        self.assertEqual(rc, 0, first.output())
        self.assertEqual(self.pid_serving(old.port), second.pid)
        gaps.append(self.check_gap(first.output(), second, started))
        print("takeover_accept_gap_us: %s" % gaps)
        time.sleep(1.0)
        load.finish()
        print("load: %d requests, %d reconnects, %d refused"
              % (load.requests, load.reconnects, load.refused))
        load.check_final(old.port)
        self.check_fill(old.port, 20000)
        self.assertEqual(load.refused, 0, "connects refused")
        self.assertEqual(load.wrong, [], "wrong values")
        self.assertGreater(load.requests, 1000)
        # the journal the first emberd wrote is retired by our snapshot
        segs = set(f for f in os.listdir(self.dir)
                   if f.startswith("journal-"))
        self.assertTrue(segs)
        with ember.Conn(old.port) as c:
            self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                             b"OK\r\n")
            c.set(b"after-snapshot", b"1")
        left = set(f for f in os.listdir(self.dir)
                   if f.startswith("journal-"))
        self.assertFalse(segs & left, "segments before the snapshot kept")
        # a crash of the taken-over emberd loses nothing acknowledged
        second.kill()
        again = self.start_old()
        load.port = again.port
        load.check_final(again.port)
        self.check_fill(again.port, 20000)
        with again.connect() as c:
            self.assertEqual(c.get(b"after-snapshot"),
                             {b"after-snapshot": b"1"})
        self.assertEqual(load.wrong, [])


class Notify:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET: every
    message with the pid of the process that sent it."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.got = []           # (sender pid, [lines])

    def close(self):
        self.sock.close()

    def read(self, timeout):
        """Every message that arrives within TIMEOUT s of the last one."""
        self.sock.settimeout(timeout)
        while True:
            try:
                msg, anc, _, _ = self.sock.recvmsg(4096, 64)
            except TimeoutError:
                return self.got
            pid = None
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and \
                        kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", data[:12])[0]
            self.got.append((pid, msg.decode().split("\n")))

    def until(self, pid, line, timeout=30):
        """Read until PID sent a message with LINE; its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (who, lines) in enumerate(self.got):
                if who == pid and line in lines:
                    return i
            self.read(0.5)
        raise AssertionError("no %s from %d in %r" % (line, pid, self.got))

    def sent(self, pid, prefix):
        """Indexes of PID's messages with a line starting with PREFIX."""
        return [i for i, (who, lines) in enumerate(self.got) if who == pid
                and any(l.startswith(prefix) for l in lines)]


class Details(Base):
    def notify(self):
        n = Notify(os.path.join(self.tmp, "notify"))
        self.addCleanup(n.close)
        return n

    @staticmethod
    def backlog(port):
        """The listen queue's limit of the socket on PORT, as `ss` shows
        it (Send-Q of a listening socket)."""
        out = subprocess.run(["ss", "-ltnH", "sport = :%d" % port],
                             capture_output=True, text=True,
                             check=True).stdout.split()
        return int(out[2])

    @unittest.skipUnless(shutil.which("ss"), "ss (iproute2) not installed")
    def test_inherited_socket_gets_the_new_backlog(self):
        """The listening socket is never closed, so connects wait in its
        queue; the new emberd's -b applies to it once it accepts."""
        old = self.start_old("-b", "64")
        self.assertEqual(self.backlog(old.port), 64)
        new = self.takeover(old, "-b", "300")
        self.handed_over(old, new)
        self.assertEqual(self.backlog(old.port), 300)

    def test_cas_pidfile_and_systemd_notify(self):
        """CAS values go on above the old ones; -P names the new emberd and
        stays; $NOTIFY_SOCKET gets READY=1 from the old one, then
        MAINPID=new from the new one before it may exit, then READY=1
        from the new one; the old one says no STOPPING=1."""
        note = self.notify()
        pidfile = os.path.join(self.tmp, "emberd.pid")
        os.environ["NOTIFY_SOCKET"] = note.path
        try:
            old = self.start_old("-P", pidfile)
            note.until(old.proc.pid, "READY=1")
            with old.connect() as c:
                for i in range(50):
                    c.set(b"c%d" % i, b"v")
                seen = max(c.gets(b"c%d" % i)[1] for i in range(50))
            new = self.takeover(old)
            self.handed_over(old, new)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        ready = note.until(new.pid, "READY=1")
        note.read(0.5)
        mainpid = note.sent(new.pid, "MAINPID=")
        self.assertEqual(len(mainpid), 1, note.got)
        self.assertIn("MAINPID=%d" % new.pid, note.got[mainpid[0]][1])
        self.assertLess(mainpid[0], ready, note.got)
        self.assertEqual(note.sent(new.pid, "READY=1"), [ready], note.got)
        self.assertEqual(note.sent(old.proc.pid, "STOPPING=1"), [], note.got)
        self.assertEqual(note.sent(old.proc.pid, "MAINPID="), [], note.got)
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), new.pid)
        with old.connect() as c:
            c.set(b"fresh", b"x")
            self.assertGreater(c.gets(b"fresh")[1], seen)
            self.assertEqual(c.gets(b"c7")[1],
                             max(0, c.gets(b"c7")[1]))  # still there
        new.stop()
        self.assertFalse(os.path.exists(pidfile), "pid file left at exit")

    def test_daemonized_takeover_returns_once_serving(self):
        """What `systemctl reload` runs: `emberd ... --takeover -d` exits
        0 once the new emberd serves, which then runs detached."""
        pidfile = os.path.join(self.tmp, "emberd.pid")
        old = self.start_old("-P", pidfile)
        self.fill(old, 1000)
        argv = old.argv + ["--takeover", "-d"]
        p = subprocess.run(argv, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(old.wait_exit(30), 0, old.output())
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            self.assertEqual(self.pid_serving(old.port), pid)
            self.check_fill(old.port, 1000)
        finally:
            os.kill(pid, signal.SIGTERM)
        self.assertTrue(ember.wait_for(
            lambda: not os.path.exists("/proc/%d" % pid), 30))

    def test_daemonized_takeover_keeps_logging_to_the_journal(self):
        """Under systemd (JOURNAL_STREAM names stderr) the detached new
        emberd's lines after it serves still go to the journal, not to
        /dev/null: its SIGTERM and exit are there, with priorities."""
        old = self.start_old()
        self.fill(old, 100)
        path = os.path.join(self.tmp, "journal")
        with open(path, "wb") as out:
            st = os.fstat(out.fileno())
            env = dict(os.environ,
                       JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            p = subprocess.run(old.argv + ["--takeover", "-d"],
                               stdout=out, stderr=out, env=env,
                               timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(old.wait_exit(30), 0, old.output())
        pid = self.pid_serving(old.port)
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(ember.wait_for(
            lambda: not os.path.exists("/proc/%d" % pid), 30))
        with open(path) as f:
            text = f.read()
        self.assertIn("<5>serving on 127.0.0.1:%d" % old.port, text)
        self.assertIn("<5>SIGTERM: shutting down", text)
        self.assertIn("<5>stopped (exit status 0)", text)


class Refused(Base):
    """Refused with a clear message before anything is touched: the old
    emberd serves on, untouched (its files too)."""

    def refused(self, old, *extra, code=None, says="", env=None):
        before = sorted(os.listdir(self.dir))
        n = self.takeover(old, *extra, env=env)
        rc = n.wait(30)
        self.assertNotIn(rc, (None, 0), n.output())
        if code is not None:
            self.assertEqual(rc, code, n.output())
        self.assertIn(says, n.output())
        self.assertTrue(old.alive())
        self.assertEqual(self.pid_serving(old.port), old.proc.pid)
        self.assertEqual(sorted(os.listdir(self.dir)), before)
        return n

    def test_nobody_serves_the_directory(self):
        old = self.start_old()
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        n = New(old)
        n.argv = [a if not a.startswith("--snapshot-dir=") else
                  "--snapshot-dir=" + other for a in n.argv]
        n.kill()
        p = subprocess.run(n.argv, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 69, p.stderr)      # EX_UNAVAILABLE
        self.assertIn(b"no emberd serves", p.stderr)
        self.assertEqual(os.listdir(other), [])

    def test_other_port(self):
        old = self.start_old()
        argv_port = ember.free_port()
        n = New(old)
        n.kill()
        i = n.argv.index("-p")
        argv = n.argv[:i + 1] + [str(argv_port)] + n.argv[i + 2:]
        p = subprocess.run(argv, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 78, p.stderr)      # EX_CONFIG
        self.assertIn(b"different sockets", p.stderr)
        self.assertTrue(old.alive())

    def test_memory_limit_too_small(self):
        old = self.start_old()
        with old.connect() as c:
            for i in range(3000):
                c.send(b"set big%d 0 0 4000 noreply\r\n%s\r\n"
                       % (i, b"z" * 4000))
            c.request(b"version\r\n")
        self.refused(old, "-m", "8", code=78, says="raise -m")
        with old.connect() as c:
            self.assertEqual(len(c.get(b"big1")[b"big1"]), 4000)

    def test_not_enough_memory_for_two_copies(self):
        """MemAvailable (a meminfo file standing for the machine's) below
        the running one's items: refused, exit 75, nothing touched."""
        old = self.start_old()
        self.fill(old, 2000)
        meminfo = os.path.join(self.tmp, "meminfo")
        with open(meminfo, "w") as f:
            f.write("MemTotal:  1048576 kB\nMemFree:  4096 kB\n"
                    "MemAvailable:  8192 kB\n")
        n = self.refused(old, env={"EMBERD_TAKEOVER_TEST_MEMINFO": meminfo},
                         code=75, says="not enough memory for a second copy")
        self.assertIn("MemAvailable is 8 MB", n.output())
        self.check_fill(old.port, 2000)
        # with room, the same takeover goes through
        with open(meminfo, "w") as f:
            f.write("MemAvailable:  16777216 kB\n")
        new = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_MEMINFO":
                                      meminfo})
        self.handed_over(old, new)
        self.check_fill(old.port, 2000)

    def test_item_size_smaller(self):
        old = self.start_old("-I", "2m")
        self.refused(old, "-I", "1m", code=78, says="-I")

    def test_second_takeover_while_one_runs(self):
        old = self.start_old()
        self.fill(old, 1000)
        first = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP":
                                        "loaded"})
        first.wait_stopped()
        self.refused(old, says="in progress")
        os.kill(first.pid, signal.SIGCONT)
        self.handed_over(old, first)
        self.check_fill(old.port, 1000)

    def test_takeover_needs_snapshot_dir(self):
        p = subprocess.run([ember.emberd_path(), "--takeover"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 64)
        self.assertIn(b"--takeover needs --snapshot-dir", p.stderr)


class Failures(Base):
    def waiting_connect(self, port):
        """A connect that is accepted by the kernel (queued) while no
        emberd accepts: its `version` waits."""
        c = ember.Conn(port, timeout=30)
        c.send(b"version\r\n")
        return c

    def test_new_dies_after_the_old_paused(self):
        old = self.start_old()
        self.fill(old, 5000)
        n = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP": "handed"})
        n.wait_stopped()
        # paused: a connect is not refused, and waits
        c = self.waiting_connect(old.port)
        with self.assertRaises(TimeoutError):
            c.read_line(timeout=0.5)
        n.kill()
        t0 = time.monotonic()
        self.assertTrue(c.read_line(timeout=5).startswith(b"VERSION "))
        self.assertLess(time.monotonic() - t0, 3)
        c.close()
        self.assertTrue(old.alive())
        self.check_fill(old.port, 5000)
        with old.connect() as c:
            self.assertEqual(c.set(b"after", b"1"), b"STORED\r\n")
        old.stop()      # exit 0 with its final snapshot
        again = self.start_old()
        self.check_fill(again.port, 5000)
        with again.connect() as c:
            self.assertEqual(c.get(b"after"), {b"after": b"1"})

    def test_new_too_slow_old_takes_back(self):
        """The old one resumes after its 10 s; the new one's DONE is
        refused, it exits non-zero and gives systemd the old one back as
        MAINPID (it had named itself before its DONE)."""
        old = self.start_old()
        self.fill(old, 2000)
        note = Notify(os.path.join(self.tmp, "notify"))
        self.addCleanup(note.close)
        n = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP": "handed",
                                    "NOTIFY_SOCKET": note.path})
        n.wait_stopped()
        c = self.waiting_connect(old.port)
        # the old one gives up waiting and answers again
        self.assertTrue(c.read_line(timeout=PAUSE_S + 10)
                        .startswith(b"VERSION "))
        c.close()
        os.kill(n.pid, signal.SIGCONT)
        rc = n.wait(60)
        self.assertNotIn(rc, (None, 0), n.output())
        self.assertIn("took back", n.output())
        self.assertTrue(old.alive())
        self.assertEqual(self.pid_serving(old.port), old.proc.pid)
        self.check_fill(old.port, 2000)
        note.read(0.5)
        mainpid = [(i, l) for i, (who, lines) in enumerate(note.got)
                   if who == n.pid for l in lines if l.startswith("MAINPID=")]
        self.assertEqual([l for _, l in mainpid],
                         ["MAINPID=%d" % n.pid, "MAINPID=%d" % old.proc.pid],
                         note.got)
        self.assertEqual(note.sent(n.pid, "READY=1"), [], note.got)

    def test_old_dies_while_new_loads(self):
        old = self.start_old()
        self.fill(old, 5000)
        n = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP": "loaded"})
        n.wait_stopped()
        with old.connect() as c:      # after the new one's first scan
            self.assertEqual(c.set(b"late", b"1"), b"STORED\r\n")
            self.assertEqual(c.request(b"delete k7\r\n"),
                             b"DELETED\r\n")
        old.kill()
        os.kill(n.pid, signal.SIGCONT)
        n.wait_output("went away")
        self.assertTrue(ember.wait_for(
            lambda: self._answers(old.port), 30), n.output())
        self.assertEqual(self.pid_serving(old.port), n.pid)
        with ember.Conn(old.port) as c:
            self.assertEqual(c.get(b"late", b"k7", b"k8"),
                             {b"late": b"1", b"k8": b"%08d" % 8})
        n.stop()

    def test_sigterm_to_the_old_one_while_the_new_one_loads(self):
        """The operator stops the running emberd during a takeover: it
        tells the new one, which exits non-zero saying so (and does not
        go on as after a crash); the old one stops as at any SIGTERM (its
        final snapshot, exit 0), and a restart finds every key."""
        old = self.start_old()
        self.fill(old, 3000)
        n = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP": "loaded"})
        n.wait_stopped()
        with old.connect() as c:
            self.assertEqual(c.set(b"late", b"1"), b"STORED\r\n")
        old.proc.send_signal(signal.SIGTERM)
        self.assertEqual(old.wait_exit(60), 0, old.output())
        os.kill(n.pid, signal.SIGCONT)
        rc = n.wait(60)
        self.assertNotIn(rc, (None, 0), n.output())
        self.assertIn("shutting down", n.output())
        self.assertNotIn("went away", n.output())
        again = self.start_old()
        self.check_fill(again.port, 3000)
        with again.connect() as c:
            self.assertEqual(c.get(b"late"), {b"late": b"1"})

    def test_old_dies_after_handing_over(self):
        old = self.start_old()
        self.fill(old, 5000)
        n = self.takeover(old, env={"EMBERD_TAKEOVER_TEST_STOP": "handed"})
        n.wait_stopped()
        c = self.waiting_connect(old.port)
        old.kill()
        os.kill(n.pid, signal.SIGCONT)
        self.assertTrue(c.read_line(timeout=30).startswith(b"VERSION "),
                        n.output())
        c.close()
        self.assertEqual(self.pid_serving(old.port), n.pid)
        self.check_fill(old.port, 5000)
        n.stop()

    @staticmethod
    def _answers(port):
        try:
            with ember.Conn(port, timeout=2) as c:
                return c.request(b"version\r\n").startswith(b"VERSION")
        except (OSError, ember.Closed):
            return False


class _AsServer:
    """A New seen as the Server a further takeover starts from."""

    def __init__(self, n):
        self.argv = [a for a in n.argv if a != "--takeover"]
        self.port = n.port


if __name__ == "__main__":
    ember.run_tests()
