"""What an operator sees (ember only): the log at its default level and
under journald (syslog priorities), --log-file and its reopening on SIGHUP,
-vv's command trace, the health figures of `stats` (every one documented in
docs/STATS.md), and readiness for systemd's Type=notify over NOTIFY_SOCKET.

Skipped on memcached: these are ember's own."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import ember


def setUpModule():
    ember.skip_unless_ember("ember's logs, health stats and sd_notify")
    ember.require_server()


def srcdir():
    return os.environ.get("EMBER_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Raw:
    """emberd started by hand: its own -p/-l, environment and output file
    (ember.Server picks those itself). Waits until PROBE_PORT answers."""

    def __init__(self, args, out, env=None, probe_port=None):
        full = dict(os.environ)
        full.update(env or {})
        self.proc = subprocess.Popen([ember.emberd_path()] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=full)
        self.port = probe_port

    def wait_ready(self):
        def answers():
            if self.proc.poll() is not None:
                raise AssertionError("emberd exited with %s"
                                     % self.proc.returncode)
            try:
                with socket.create_connection((ember.LOOPBACK, self.port),
                                              timeout=1):
                    return True
            except OSError:
                return False
        if not ember.wait_for(answers, ember.START_TIMEOUT):
            raise AssertionError("emberd never listened on %d" % self.port)
        return self

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=ember.STOP_TIMEOUT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=ember.STOP_TIMEOUT)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-ops-")
        self.dir = os.path.join(self.tmp, "snap")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        subprocess.run(["rm", "-rf", self.tmp])

    def server(self, *args):
        s = ember.Server("--snapshot-dir=" + self.dir, *args)
        self.procs.append(s)
        return s.start()

    def raw(self, args, out, env=None, probe_port=None):
        r = Raw(args, out, env, probe_port)
        self.procs.append(r)
        return r

    def fill(self, s, n, prefix=b"k"):
        with s.connect() as c:
            for i in range(n):
                c.send(b"set %s%05d 0 0 20 noreply\r\n%s\r\n"
                       % (prefix, i, b"v" * 20))
            self.assertEqual(c.request(b"version\r\n")[:7], b"VERSION")

    def damaged(self, values=1):
        """A snapshot whose record 'victim' has one byte flipped."""
        rng = random.Random(5)
        value = bytes(rng.getrandbits(8) for _ in range(4000))
        s = self.server()
        with s.connect() as c:
            c.set(b"victim", value)
            for i in range(values):
                c.set(b"more%d" % i, bytes(rng.getrandbits(8)
                                           for _ in range(4000)))
        s.stop()
        path = os.path.join(self.dir, "data.mdb")
        with open(path, "r+b") as f:
            data = f.read()
            at = data.find(value[1000:1100])
            self.assertGreaterEqual(at, 0)
            f.seek(at + 50)
            f.write(bytes([data[at + 50] ^ 0xFF]))
        return path


class Logs(Base):
    def test_default_level_tells_the_story(self):
        """Without -v: the settings, where it serves, the warm restart
        (what was loaded and skipped), shutdown and the final snapshot."""
        s = self.server()
        self.fill(s, 100)
        with s.connect() as c:
            self.assertEqual(c.set(b"short", b"x", exptime=1),
                             b"STORED\r\n")
        s.stop()
        log = s.output()
        for want in ("version ", " starting: -m 64 MB",
                     "persistence: --snapshot-dir=%s" % self.dir,
                     "serving on 127.0.0.1:%d with 4 threads" % s.port,
                     "SIGTERM: shutting down",
                     "final snapshot 1 of %s committed" % self.dir,
                     "101 items on disk", "stopped (exit status 0)"):
            self.assertIn(want, log)
        # one line per snapshot is -v's, not the default's
        self.assertNotIn("snapshot 1: full", log)
        time.sleep(2.2)         # "short" expires while emberd is down
        s2 = self.server()
        s2.stop()
        log = s2.output()
        self.assertIn("loading snapshot 1 of %s: 101 records" % self.dir, log)
        self.assertRegex(log, r"warm restart from %s: 100 items loaded in "
                              r"\d+ ms from snapshot 1 \(\d+ s old\); "
                              r"skipped: 1 expired, 0 did not fit in "
                              r"memory \(-m\), 0 larger than -I"
                         % re.escape(self.dir))

    def journal_run(self, out_path, args, ino_delta=0, probe_port=None):
        """emberd ARGS with its output in OUT_PATH and JOURNAL_STREAM naming
        that file (its inode + INO_DELTA); returns the Raw, started."""
        out = open(out_path, "wb")
        self.addCleanup(out.close)
        st = os.fstat(out.fileno())
        env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino + ino_delta)}
        r = self.raw(args, out, env, probe_port)
        return r.wait_ready() if probe_port else r

    def test_journald_priorities(self):
        """When JOURNAL_STREAM names stderr, every line carries its syslog
        priority (<3> error, <4> warning, <5> notice), so journalctl -p
        selects by level; otherwise plain text."""
        out_path = os.path.join(self.tmp, "journal")
        port = ember.free_port()
        r = self.journal_run(out_path, ["-p", str(port), "-U", "1",
                                        "--snapshot-dir=" + self.dir],
                             probe_port=port)
        self.assertEqual(r.stop(), 0)
        with open(out_path) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3-7]>", "unprefixed: %r" % line)
        text = "\n".join(lines)
        self.assertIn("<4>warning: -U 1: UDP is not supported", text)
        self.assertIn("<5>serving on 127.0.0.1:%d" % port, text)
        self.assertIn("<5>snapshot: final snapshot", text)
        # an error: a directory that is not a snapshot
        os.makedirs(os.path.join(self.tmp, "foreign"))
        with open(os.path.join(self.tmp, "foreign", "x"), "w") as f:
            f.write("mine\n")
        r = self.journal_run(out_path, ["-p", str(port), "--snapshot-dir=" +
                                        os.path.join(self.tmp, "foreign")])
        self.assertEqual(r.proc.wait(timeout=ember.START_TIMEOUT), 65)
        with open(out_path) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^<3>error: .*foreign")
        # JOURNAL_STREAM naming another file: stderr is not the journal
        r = self.journal_run(out_path, ["-p", str(port), "--snapshot-dir=" +
                                        self.dir], 1, port)
        self.assertEqual(r.stop(), 0)
        with open(out_path) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertTrue(line.startswith("emberd: "), line)

    def test_log_file_reopened_on_sighup(self):
        """--log-file: lines go there (not to stderr), with a timestamp;
        after logrotate renames it, SIGHUP makes emberd write a new one."""
        path = os.path.join(self.tmp, "emberd.log")
        s = self.server("--log-file=" + path)
        self.fill(s, 10)
        self.assertEqual(s.output(), "")
        os.rename(path, path + ".1")
        s.send_signal(signal.SIGHUP)
        self.assertTrue(ember.wait_for(lambda: os.path.exists(path), 10),
                        "no new log file after SIGHUP")
        s.stop()
        with open(path + ".1") as f:
            old = f.read()
        with open(path) as f:
            new = f.read()
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} emberd\[%d\]: "
        stamp %= s.pid
        self.assertRegex(old, r"^%sversion .* starting" % stamp)
        self.assertIn("serving on", old)
        self.assertNotIn("shutting down", old)
        self.assertRegex(new, r"^%sSIGHUP: reopened log file %s"
                         % (stamp, re.escape(path)))
        self.assertIn("SIGTERM: shutting down", new)
        self.assertIn("stopped (exit status 0)", new)
        for line in (old + new).splitlines():
            self.assertRegex(line, "^" + stamp)

    def test_log_file_with_daemon(self):
        """-d no longer sends the log to /dev/null when --log-file names
        a file: what happens after the detach is there."""
        path = os.path.join(self.tmp, "emberd.log")
        pidfile = os.path.join(self.tmp, "emberd.pid")
        port = ember.free_port()
        rc = subprocess.run([ember.emberd_path(), "-d", "-p", str(port),
                             "-P", pidfile, "--log-file=" + path,
                             "--snapshot-dir=" + self.dir],
                            capture_output=True, timeout=30)
        self.assertEqual(rc.returncode, 0, rc.stderr)
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            with ember.Conn(port) as c:
                c.set(b"k", b"v")
        finally:
            os.kill(pid, signal.SIGTERM)
        ember.wait_for(lambda: not os.path.exists(pidfile), 15)
        with open(path) as f:
            log = f.read()
        self.assertIn("serving on 127.0.0.1:%d" % port, log)
        self.assertIn("SIGTERM: shutting down", log)
        self.assertIn("final snapshot 1 of", log)
        self.assertIn("stopped (exit status 0)", log)

    def test_log_file_cannot_be_opened(self):
        path = os.path.join(self.tmp, "no", "such", "dir", "emberd.log")
        rc = subprocess.run([ember.emberd_path(), "-p",
                             str(ember.free_port()), "--log-file=" + path],
                            capture_output=True, timeout=30)
        self.assertEqual(rc.returncode, 73)     # EX_CANTCREAT
        self.assertIn(b"log file %s: No such file" % path.encode(),
                      rc.stderr)

    def test_vv_logs_every_command(self):
        """-vv as memcached's: "<FD command" and ">FD reply" per request."""
        s = self.server("-vv")
        with s.connect() as c:
            c.set(b"k", b"v")
            c.get(b"k")
            c.request(b"bogus\x01\r\n")
            c.send(b"set q 0 0 1 noreply\r\nx\r\n")
            c.request(b"version\r\n")
        s.stop()
        log = s.output()
        m = re.search(r"<(\d+) set k 0 0 1\n", log)
        self.assertIsNotNone(m, log)
        fd = m.group(1)
        for want in (">%s STORED", "<%s get k", ">%s VALUE k 0 1", "<%s "
                     "bogus\\x01", ">%s ERROR", "<%s set q 0 0 1 noreply",
                     "<%s version", "<%s new client connection",
                     "<%s connection closed"):
            self.assertIn(want % fd, log)
        # noreply: no reply line between it and the next request
        self.assertRegex(log, r"<%s set q 0 0 1 noreply\n[^\n]*<%s version"
                         % (fd, fd))

    def test_listen_address_port_logged(self):
        """-l HOST:PORT wins over -p: the log says where it listens."""
        p1, p2 = ember.free_port(), ember.free_port()
        out_path = os.path.join(self.tmp, "out")
        with open(out_path, "wb") as out:
            r = self.raw(["-p", str(p1), "-l", "127.0.0.1:%d" % p2], out,
                         probe_port=p2)
            r.wait_ready()
            self.assertEqual(r.stop(), 0)
        with open(out_path) as f:
            log = f.read()
        self.assertIn("serving on 127.0.0.1:%d with" % p2, log)
        self.assertNotIn("port %d" % p1, log)
        self.assertNotIn(":%d" % p1, log)

    def test_refused_snapshot_says_it_once(self):
        """A damaged record: one error with the hint, and no misleading
        "final snapshot failed" after it."""
        self.damaged()
        s = ember.Server("--snapshot-dir=" + self.dir,
                         "--snapshot-on-corrupt=fail")
        self.procs.append(s)
        with self.assertRaises(ember.ServerError):
            s.start()
        log = s.output()
        self.assertEqual(log.count("--snapshot-on-corrupt=cold"), 1, log)
        # format 3: the damaged block, named by its run and last key
        self.assertRegex(log, r"block of run 1 ending at key "
                              r"'(victim|more0)': block checksum")
        self.assertNotIn("final snapshot", log)
        self.assertNotIn("snap_load", log)
        self.assertIn("stopped (exit status 65)", log)

    def test_truncated_snapshot_says_it_once(self):
        path = self.damaged(values=60)
        os.truncate(path, 16384)
        s = ember.Server("--snapshot-dir=" + self.dir,
                         "--snapshot-on-corrupt=fail")
        self.procs.append(s)
        with self.assertRaises(ember.ServerError):
            s.start()
        log = s.output()
        self.assertIn("is truncated", log)
        self.assertEqual(log.count("--snapshot-on-corrupt=cold"), 1, log)
        self.assertNotIn("final snapshot", log)

    def test_empty_data_mdb_is_not_silent(self):
        os.makedirs(self.dir, mode=0o700)
        open(os.path.join(self.dir, "data.mdb"), "wb").close()
        s = self.server()
        s.stop()
        self.assertIn("warning: snapshot: %s/data.mdb is empty (0 bytes): "
                      "starting with an empty snapshot" % self.dir,
                      s.output())


class Health(Base):
    def stats(self, s):
        with s.connect() as c:
            return c.stats()

    def test_fresh_and_failing_cannot_look_fresh(self):
        """No snapshot yet: status none, and an age that grows (it read 0,
        "fresh", for ever when snapshots never succeeded)."""
        s = self.server("--snapshot-interval=0")
        st = self.stats(s)
        self.assertEqual(st["snapshot_last_status"], "none")
        self.assertEqual(st["snapshot_last_error"], "none")
        self.assertEqual(st["snapshot_last_time"], "0")
        self.assertTrue(ember.wait_for(
            lambda: int(self.stats(s)["snapshot_age"]) >= 2, 10),
            "snapshot_age stays at %s" % self.stats(s)["snapshot_age"])
        s.stop()

    def test_after_a_snapshot_and_after_a_restart(self):
        s = self.server("--snapshot-interval=0")
        self.fill(s, 200)
        with s.connect() as c:
            self.assertEqual(int(c.stats()["snapshot_changes_since_last"]),
                             200)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            st = c.stats()
            self.assertEqual(st["snapshot_last_status"], "ok")
            self.assertEqual(st["snapshot_changes_since_last"], "0")
            for k in (b"a", b"b", b"c"):
                c.set(k, b"1")
            c.request(b"delete a\r\n")
            self.assertEqual(c.stats()["snapshot_changes_since_last"], "4")
        s.stop()
        first = self.stats(self.server("--snapshot-interval=0"))
        s2 = self.procs[-1]
        raw = int(first["snapshot_raw_bytes"])
        stored = int(first["snapshot_stored_bytes"])
        # the figures of the snapshot on disk from the start, not 0
        self.assertEqual(first["snapshot_items"], "202")
        self.assertGreater(raw, 202 * 20)
        self.assertGreater(stored, 0)
        self.assertGreater(int(first["snapshot_bytes_on_disk"]), stored)
        self.assertAlmostEqual(float(first["snapshot_raw_to_stored_ratio"]),
                               raw / stored, places=2)
        self.assertEqual(first["snapshot_last_status"], "none")
        self.assertNotEqual(first["snapshot_last_time"], "0")
        self.assertNotIn("snapshot_compression_ratio", first)
        s2.stop()
        # embersnap info names its ratio: a format 3 snapshot compresses
        # keys and values together in blocks, so there is one, the stats'
        text = ember.embersnap_ok("info", self.dir).decode()
        m = re.search(r"(?m)^raw/stored: +([0-9.]+)x \(keys \+ raw values "
                      r"/ block keys \+ blocks as stored: (\d+) -> (\d+) "
                      r"bytes; emberd's snapshot_raw_to_stored_ratio\)$",
                      text)
        self.assertIsNotNone(m, text)
        self.assertAlmostEqual(float(m.group(1)), raw / stored, places=2)
        self.assertEqual((int(m.group(2)), int(m.group(3))), (raw, stored))
        self.assertNotIn("value ratio:", text)
        self.assertNotIn("compression:", text)
        info = json.loads(ember.embersnap_ok("info", "--json", self.dir))
        self.assertAlmostEqual(info["raw_to_stored_ratio"], raw / stored,
                               places=3)
        self.assertIn("value_ratio", info)

    def test_without_persistence_fields_are_there(self):
        s = ember.Server()
        self.procs.append(s)
        s.start()
        st = self.stats(s)
        self.assertEqual(st["snapshot_last_status"], "none")
        self.assertEqual(st["snapshot_last_error"], "none")
        self.assertEqual(st["snapshot_changes_since_last"], "0")
        s.stop()

    @unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
    def test_full_disk_status_error_and_one_log_line(self):
        """Snapshots failing every second: status failed with the reason,
        the age grows, ONE error line (not one per interval); when space
        returns, one notice that they work again."""
        small = os.path.join(self.tmp, "small")
        os.mkdir(small)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                           small], capture_output=True).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        try:
            self.dir = os.path.join(small, "snap")
            self._full_disk()
        finally:
            subprocess.run(["umount", "-l", small], capture_output=True)

    def _full_disk(self):
        s = self.server("--snapshot-interval=1", "--journal=off")
        self.assertTrue(ember.wait_for(
            lambda: self.stats(s)["snapshot_last_status"] == "ok", 10))
        rng = random.Random(3)
        with s.connect() as c:
            for i in range(3000):       # 3 MB zstd cannot shrink
                c.send(b"set r%04d 0 0 1000 noreply\r\n%s\r\n"
                       % (i, bytes(rng.getrandbits(8) for _ in range(1000))))
            c.request(b"version\r\n")
        self.assertTrue(ember.wait_for(
            lambda: int(self.stats(s)["snapshot_failures"]) >= 3, 30))
        st = self.stats(s)
        self.assertEqual(st["snapshot_last_status"], "failed")
        self.assertNotEqual(st["snapshot_last_error"], "none")
        # one word, as every STAT value: libmemcached and exporters split
        # the line on spaces
        with s.connect() as c:
            raw = c.request(b"stats\r\n", term=b"END\r\n")
        for line in raw.split(b"\r\n")[:-2]:
            self.assertEqual(len(line.split(b" ")), 3, line)
        self.assertGreaterEqual(int(st["snapshot_age"]), 2)
        log = s.output()
        self.assertEqual(len(re.findall(r"error: snapshot: snapshot to .* "
                                        r"failed", log)), 1, log)
        with s.connect() as c:
            for i in range(200, 3000):
                c.send(b"delete r%04d noreply\r\n" % i)
            c.request(b"version\r\n")
        self.assertTrue(ember.wait_for(
            lambda: self.stats(s)["snapshot_last_status"] == "ok", 30))
        st = self.stats(s)
        self.assertEqual(st["snapshot_last_error"], "none")
        s.stop()
        self.assertEqual(s.output().count("snapshots work again after"), 1)

    def test_every_stat_is_documented(self):
        """docs/STATS.md has a row for every line of `stats`."""
        with open(os.path.join(srcdir(), "docs", "STATS.md")) as f:
            doc = f.read()
        rows = set(re.findall(r"(?m)^\| `([a-z_0-9]+)`", doc))
        for args in ((), ("--snapshot-dir=" + self.dir,)):
            s = ember.Server(*args)
            self.procs.append(s)
            s.start()
            names = set(self.stats(s))
            s.stop()
            self.assertEqual(sorted(names - rows), [],
                             "stats not documented in docs/STATS.md")


class Notify(Base):
    def listen(self, name):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(name)
        sock.settimeout(1.0)
        self.addCleanup(sock.close)
        return sock

    def messages_until(self, sock, want, proc, timeout=30):
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                if proc.poll() is not None:
                    break
                continue
            if want in got[-1].split("\n"):
                return got
        self.fail("no %s in %r" % (want, got))

    def test_ready_after_the_load(self):
        """STATUS= lines while the snapshot loads, READY=1 once it
        listens (the data is there), STOPPING=1 at SIGTERM."""
        s = self.server()
        self.fill(s, 3000)
        s.stop()
        path = os.path.join(self.tmp, "notify")
        sock = self.listen(path)
        port = ember.free_port()
        out = open(os.path.join(self.tmp, "out"), "wb")
        self.addCleanup(out.close)
        r = self.raw(["-p", str(port), "--snapshot-dir=" + self.dir], out,
                     {"NOTIFY_SOCKET": path}, port)
        got = self.messages_until(sock, "READY=1", r.proc)
        # at READY=1 the port is open and everything is loaded
        with ember.Conn(port) as c:
            self.assertEqual(c.stats()["curr_items"], "3000")
        before = got[:-1]
        self.assertTrue(all(m.startswith("STATUS=") for m in before), got)
        self.assertTrue(any("loading snapshot 1 of %s: 3000 records"
                            % self.dir in m for m in before), got)
        self.assertTrue(any("warm restart from %s: 3000 items loaded"
                            % self.dir in m for m in before), got)
        self.assertIn("STATUS=serving on 127.0.0.1:%d" % port,
                      got[-1].split("\n"))
        r.proc.send_signal(signal.SIGTERM)
        self.messages_until(sock, "STOPPING=1", r.proc)
        self.assertEqual(r.proc.wait(timeout=ember.STOP_TIMEOUT), 0)

    def test_abstract_socket(self):
        name = "ember-test-%d-%d" % (os.getpid(), random.getrandbits(32))
        sock = self.listen("\0" + name)
        port = ember.free_port()
        out = open(os.path.join(self.tmp, "out"), "wb")
        self.addCleanup(out.close)
        r = self.raw(["-p", str(port)], out, {"NOTIFY_SOCKET": "@" + name},
                     port)
        self.messages_until(sock, "READY=1", r.proc)
        self.assertEqual(r.stop(), 0)

    def test_bad_notify_socket_warns_and_serves(self):
        s = ember.Server(env=dict(os.environ, NOTIFY_SOCKET="relative/path"))
        self.procs.append(s)
        s.start()
        s.stop()
        self.assertIn("warning: NOTIFY_SOCKET=relative/path", s.output())


if __name__ == "__main__":
    ember.run_tests()
