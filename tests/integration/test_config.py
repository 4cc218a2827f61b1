"""Starting emberd the way memcached is started: Debian's stock
/etc/memcached.conf through --config, a unix socket (-s, -a), and
memcached's options ember accepts and ignores (-k, -L, -e) or honours
(-r)."""

import os
import re
import resource
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import ember


def debian_stock_conf():
    """Debian's own memcached.conf as the memcached package installs it:
    the pristine copy (dpkg -L memcached), else /etc/memcached.conf."""
    try:
        listing = subprocess.run(["dpkg", "-L", "memcached"],
                                 capture_output=True, text=True,
                                 timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listing = []
    for path in [p for p in listing if p.endswith("memcached.conf.default")] \
            + ["/etc/memcached.conf"]:
        if os.path.isfile(path):
            return path
    raise unittest.SkipTest("Debian's memcached package (its "
                            "memcached.conf) is not installed")


def warnings(output):
    return [line for line in output.splitlines() if "warning:" in line]


class DebianStockConf(unittest.TestCase):
    """emberd --config=<Debian's memcached.conf>: -m 64, -p, -u memcache,
    -l, -P are used, -d gets one warning, logfile is --log-file, the
    command line wins (a free port, a pid file and a log file where the
    test can write)."""

    def test_stock_file_starts_and_serves(self):
        conf = debian_stock_conf()
        with open(conf) as f:
            text = f.read()
        # the file is the one the issue is about
        for line in ("-d", "logfile /var/log/memcached.log", "-m 64",
                     "-u memcache", "-l 127.0.0.1",
                     "-P /var/run/memcached/memcached.pid"):
            self.assertIn("\n" + line + "\n", text)
        with tempfile.TemporaryDirectory() as tmp:
            pidfile = os.path.join(tmp, "emberd.pid")
            log = os.path.join(tmp, "emberd.log")
            os.chmod(tmp, 0o777)    # -u memcache removes it at the end
            server = ember.Server("--config=" + conf, "-P", pidfile,
                                  "--log-file=" + log, kind="emberd")
            with server:
                with server.connect() as c:
                    self.assertEqual(c.set(b"k", b"v"), b"STORED\r\n")
                    self.assertEqual(c.get(b"k"), {b"k": b"v"})
                    st = c.stats("settings")
                self.assertEqual(st["maxbytes"], str(64 << 20))
                self.assertEqual(st["tcpport"], str(server.port))
                self.assertEqual(st["inter"], "127.0.0.1")
                with open(pidfile) as f:
                    self.assertEqual(int(f.read()), server.pid)
                if os.geteuid() == 0:
                    uid = int(ember.proc_status_field(server.pid,
                                                      "Uid")[0])
                    self.assertNotEqual(uid, 0, "-u memcache not applied")
            with open(log) as f:
                logged = f.read()
            self.assertIn("serving on 127.0.0.1:%d" % server.port, logged)
            self.assertIn("stopped (exit status 0)", logged)
        out = server.output()
        got = warnings(out)
        self.assertEqual(len(got), 1, out)
        self.assertRegex(got[0], r":\d+: '-d' ignored")
        self.assertNotIn("serving on", out)     # the log went to the file

    def test_stock_logfile_line_is_log_file(self):
        """The stock file with only its logfile line's path changed (the
        test does not write /var/log): emberd logs there, as memcached's
        output goes there under Debian's wrapper, and says nothing of it
        on stderr."""
        conf = debian_stock_conf()
        with open(conf) as f:
            text = f.read()
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o777)
            log = os.path.join(tmp, "memcached.log")
            copy = os.path.join(tmp, "memcached.conf")
            changed = text.replace("\nlogfile /var/log/memcached.log\n",
                                   "\nlogfile %s\n" % log)
            self.assertNotEqual(changed, text)
            with open(copy, "w") as f:
                f.write(changed)
            server = ember.Server("--config=" + copy, "-P",
                                  os.path.join(tmp, "emberd.pid"),
                                  kind="emberd")
            with server:
                self.assertTrue(server.connect().is_open())
                server.stop()
            with open(log) as f:
                logged = f.read()
            self.assertRegex(logged, r"emberd\[%d\]: version .* starting"
                             % server.pid)
            self.assertIn("serving on 127.0.0.1:%d" % server.port, logged)
            self.assertIn("SIGTERM: shutting down", logged)
        out = server.output()
        self.assertEqual(len(warnings(out)), 1, out)
        self.assertNotIn("logfile", out)
        self.assertNotIn("serving on", out)

    def test_bad_line_names_file_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("-m 64\n# fine\n-c 0\n")
            f.flush()
            proc = subprocess.run([ember.emberd_path(), "--config=" + f.name,
                                   "-p", str(ember.free_port())],
                                  capture_output=True, text=True,
                                  timeout=ember.START_TIMEOUT)
        self.assertEqual(proc.returncode, 64, proc.stderr)
        self.assertIn("invalid value '0' for -c", proc.stderr)
        self.assertIn("(at %s line 3)" % f.name, proc.stderr)


class IgnoredOptions(unittest.TestCase):
    """memcached's -k, -L, -e start emberd with one warning each; -r
    raises the core file limit (it exited 64 on all of them)."""

    def test_accepted_with_one_warning_each(self):
        server = ember.Server("-k", "-L", "-e", "/dev/shm/memcached",
                              "-k", kind="emberd")
        with server:
            self.assertTrue(server.connect().is_open())
        got = warnings(server.output())
        got = [w for w in got if "root" not in w]
        self.assertEqual(len(got), 3, server.output())
        for opt in ("-k", "-L", "-e"):
            self.assertEqual(len([w for w in got if " %s: " % opt in w]), 1,
                             got)

    def test_r_raises_core_limit(self):
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        if hard == 0:
            raise unittest.SkipTest("hard core limit is 0 here")

        def soft_zero():
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))

        port = ember.free_port()
        for args, want_zero in (([], True), (["-r"], False)):
            argv = ember.server_argv("emberd", port, args)
            proc = subprocess.Popen(argv, preexec_fn=soft_zero,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                self.assertTrue(ember.wait_for(
                    lambda: self._core_limit(proc.pid) is not None
                    and self._listening(port), ember.START_TIMEOUT))
                soft = self._core_limit(proc.pid)
                self.assertEqual(soft == "0", want_zero, (args, soft))
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=ember.STOP_TIMEOUT), 0)

    @staticmethod
    def _core_limit(pid):
        try:
            with open("/proc/%d/limits" % pid) as f:
                for line in f:
                    if line.startswith("Max core file size"):
                        return line.split()[4]
        except OSError:
            return None
        return None

    @staticmethod
    def _listening(port):
        try:
            with socket.create_connection((ember.LOOPBACK, port), 1):
                return True
        except OSError:
            return False


class UnixConn(ember.Conn):
    """ember.Conn over a unix socket."""

    def __init__(self, path, timeout=ember.IO_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""


class UnixServer:
    """emberd or memcached on a unix socket (-s PATH -a MODE)."""

    def __init__(self, kind, path, mode="0770", extra=()):
        self.kind, self.path = kind, path
        if kind == "memcached":
            argv = [ember.MEMCACHED, "-U", "0", "-B", "ascii"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
        else:
            argv = [ember.emberd_path()]
        self.argv = argv + ["-s", path, "-a", mode] + list(extra)
        self.errfile = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.errfile,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                return True
            try:
                with UnixConn(self.path, timeout=1) as c:
                    return c.is_open()
            except OSError:
                return False
        ember.wait_for(ready, ember.START_TIMEOUT, step=0.02)
        if self.proc.poll() is not None:
            raise AssertionError("%s exited %s: %s" % (
                self.kind, self.proc.returncode, self.output()))
        return self

    def connect(self):
        return UnixConn(self.path)

    def output(self):
        self.errfile.seek(0)
        return self.errfile.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=ember.STOP_TIMEOUT)


SCRIPT = [b"set a 5 0 3\r\nabc\r\n", b"get a\r\n", b"append a 0 0 1\r\nd\r\n",
          b"gets a\r\n", b"delete a\r\n", b"get a\r\n", b"incr n 1\r\n",
          b"bogus\r\n"]


class UnixSocket(unittest.TestCase):
    def setUp(self):
        ember.require_server("emberd")
        self.tmp = tempfile.mkdtemp()
        os.chmod(self.tmp, 0o755)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)

    def start(self, kind, name, mode="0770", extra=()):
        s = UnixServer(kind, os.path.join(self.tmp, name), mode, extra)
        self.servers.append(s)
        return s.wait_ready()

    def test_serves_like_memcached(self):
        ember.require_memcached("the unix socket's replies and settings")
        mc = self.start("memcached", "mc.sock")
        em = self.start("emberd", "em.sock")
        for s in (mc, em):
            mode = stat.S_IMODE(os.lstat(s.path).st_mode)
            self.assertEqual(mode, 0o770, s.kind)
        replies = []
        for s in (mc, em):
            with s.connect() as c:
                got = [ember.normalise(ember.read_step(c, step), {})
                       for step in SCRIPT]
                replies.append(got)
                st = c.stats("settings")
                self.assertEqual(st["domain_socket"], s.path)
                self.assertEqual(st["umask"], "770", s.kind)
        self.assertEqual(replies[1], replies[0])
        self.assertEqual(em.stop(), 0, em.output())
        self.assertFalse(os.path.exists(em.path), "socket file left")

    def test_no_tcp_with_a_socket(self):
        port = ember.free_port()
        self.start("emberd", "em.sock", extra=("-p", str(port)))
        with self.assertRaises(OSError):
            socket.create_connection((ember.LOOPBACK, port), 1).close()

    def test_stale_socket_replaced_live_one_refused(self):
        path = os.path.join(self.tmp, "em.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)        # a crash leaves the file behind
        stale.close()
        em = self.start("emberd", "em.sock", mode="0700")
        self.assertEqual(stat.S_IMODE(os.lstat(path).st_mode), 0o700)
        second = UnixServer("emberd", path)
        self.servers.append(second)
        self.assertEqual(second.proc.wait(timeout=ember.START_TIMEOUT), 71)
        self.assertIn("Address already in use", second.output())
        with em.connect() as c:     # the first one still serves
            self.assertTrue(c.is_open())
        self.assertEqual(em.stop(), 0)

    def test_not_a_socket_refused(self):
        path = os.path.join(self.tmp, "file")
        with open(path, "w") as f:
            f.write("precious")
        s = UnixServer("emberd", path)
        self.servers.append(s)
        self.assertEqual(s.proc.wait(timeout=ember.START_TIMEOUT), 71)
        self.assertIn("is not a socket", s.output())
        with open(path) as f:
            self.assertEqual(f.read(), "precious")


if __name__ == "__main__":
    ember.run_tests()
