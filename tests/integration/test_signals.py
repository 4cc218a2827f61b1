"""Process life cycle: SIGTERM/SIGINT, -d with -P, -u, -V, -h, bad flags."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import ember


def port_closed(port):
    try:
        socket.create_connection((ember.LOOPBACK, port), timeout=1).close()
    except OSError:
        return True
    return False


def process_gone(pid):
    """True once PID has exited (a zombie counts: it no longer runs)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1] in ("Z", "X")
    except OSError:
        return True
    return False


def run_cli(*args):
    """Run the server binary with ARGS only; (status, stdout, stderr)."""
    ember.require_server()
    binary = ember.server_argv(ember.server_kind(), 0, [])[0]
    p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


class Signals(unittest.TestCase):
    def stop_with(self, sig):
        srv = ember.Server().start()
        try:
            with srv.connect() as c:
                self.assertEqual(c.set(b"k", b"v"), b"STORED\r\n")
                idle = srv.connect()    # an open client must not block exit
                srv.stop(sig)
                idle.close()
        finally:
            srv.kill()
        self.assertTrue(port_closed(srv.port), "port still open")

    def test_sigterm_exits_0(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint_exits_0(self):
        self.stop_with(signal.SIGINT)

    def test_sigterm_with_stuck_clients(self):
        """A half-sent request and a client that never reads its replies
        must not keep the server from exiting."""
        srv = ember.Server().start()
        try:
            with srv.connect() as c:
                c.set(b"big", b"b" * 500000)
            half = srv.connect()
            half.send(b"set k 0 0 100\r\nonly part of it")
            deaf = srv.connect()
            deaf.send(b"get big\r\n" * 200)
            line = srv.connect()
            line.send(b"get k")
            time.sleep(0.3)
            start = time.monotonic()
            srv.stop(signal.SIGTERM)
            self.assertLess(time.monotonic() - start, 10)
            for c in (half, deaf, line):
                c.close()
        finally:
            srv.kill()
        self.assertTrue(port_closed(srv.port))

    def test_restart_on_same_port_at_once(self):
        """SO_REUSEADDR: a restart must not wait for TIME_WAIT to pass."""
        first = ember.Server().start()
        try:
            with first.connect() as c:
                # the server closes first: its side goes to TIME_WAIT
                c.send(b"quit\r\n")
                c.wait_closed()
            first.stop()
        finally:
            first.kill()
        with ember.Server(port=first.port) as second:
            with second.connect() as c:
                self.assertTrue(c.is_open())

    def test_daemonize_with_pidfile(self):
        ember.require_server()
        with tempfile.TemporaryDirectory() as d:
            pidfile = os.path.join(d, "emberd.pid")
            port = ember.free_port()
            argv = ember.server_argv(ember.server_kind(), port,
                                     ["-d", "-P", pidfile])
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=15)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(ember.wait_for(
                lambda: os.path.exists(pidfile) and
                open(pidfile).read().strip(), 5), "no pid file")
            pid = int(open(pidfile).read().strip())
            try:
                self.assertFalse(process_gone(pid))
                self.assertTrue(ember.wait_for(
                    lambda: not port_closed(port), 10), "daemon not listening")
                with ember.Conn(port) as c:
                    self.assertTrue(c.is_open())
                # daemonized: not in our session, stdin not a terminal
                self.assertNotEqual(os.getsid(pid), os.getsid(0))
                os.kill(pid, signal.SIGTERM)
                self.assertTrue(ember.wait_for(lambda: process_gone(pid), 15),
                                "daemon ignored SIGTERM")
            finally:
                if not process_gone(pid):
                    os.kill(pid, signal.SIGKILL)
            self.assertTrue(port_closed(port))
            self.assertTrue(ember.wait_for(
                lambda: not os.path.exists(pidfile), 2),
                "pid file left behind after a clean exit")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to test -u")
    def test_drop_privileges(self):
        nobody = pwd.getpwnam("nobody")
        with ember.Server("-u", "nobody") as srv:
            uids = ember.proc_status_field(srv.pid, "Uid")
            gids = ember.proc_status_field(srv.pid, "Gid")
            self.assertEqual(uids, [str(nobody.pw_uid)] * 4)
            self.assertEqual(gids, [str(nobody.pw_gid)] * 4)
            with srv.connect() as c:
                self.assertEqual(c.set(b"k", b"v"), b"STORED\r\n")

    def test_version_flag(self):
        rc, out, err = run_cli("-V")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"\b[0-9]+\.[0-9]+\.[0-9]+")

    def test_help_flag(self):
        rc, out, err = run_cli("-h")
        self.assertEqual(rc, 0, err)
        self.assertIn("-p", out)
        self.assertRegex(out.lower(), r"port")
        self.assertGreater(len(out.splitlines()), 10)

    def test_bad_flag(self):
        rc, out, err = run_cli("--no-such-flag")
        self.assertNotEqual(rc, 0)
        self.assertIn("no-such-flag", err)

    def test_bad_values(self):
        for args in (("-p", "notaport"), ("-o", "no_such_option"),
                     ("-t", "0"), ("-m", "abc"), ("-c", "-5")):
            rc, out, err = run_cli(*args)
            self.assertNotEqual(rc, 0, "%r accepted" % (args,))
            self.assertTrue(err.strip(), "no message for %r" % (args,))


class PidFile(unittest.TestCase):
    """Issue 11: -P is written by root before -u drops privileges, never
    through a symlink, whole (a temporary file renamed over it), and it
    is removed at a clean exit -- by the unprivileged user too, when its
    directory lets that user; when not, the log says so."""

    def setUp(self):
        ember.skip_unless_ember("memcached writes -P only with -d, as "
                                "its user, following symlinks")
        ember.require_server()
        self.tmp = tempfile.mkdtemp(prefix="ember-pid-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.as_nobody = ["-u", "nobody"] if os.geteuid() == 0 else []

    def start(self, *args):
        srv = ember.Server(*args)
        self.addCleanup(srv.kill)
        return srv.start()

    def refused(self, *args):
        srv = ember.Server(*args)
        self.addCleanup(srv.kill)
        with self.assertRaises(ember.ServerError):
            srv.start()
        self.assertEqual(srv.proc.returncode, 73)     # EX_CANTCREAT
        return srv.output()

    def test_symlink_refused_target_untouched(self):
        target = os.path.join(self.tmp, "precious")
        with open(target, "w") as f:
            f.write("root's data\n")
        os.chmod(target, 0o600)
        link = os.path.join(self.tmp, "emberd.pid")
        os.symlink(target, link)
        out = self.refused("-P", link, *self.as_nobody)
        self.assertIn(link, out)
        self.assertIn("symbolic link", out)
        with open(target) as f:
            self.assertEqual(f.read(), "root's data\n")
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o600)
        self.assertEqual(os.readlink(link), target)
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         ["emberd.pid", "precious"])

    @unittest.skipUnless(os.geteuid() == 0, "needs root to chown a link")
    def test_symlinked_directory_of_another_user_refused(self):
        nobody = pwd.getpwnam("nobody")
        real = os.path.join(self.tmp, "real")
        os.mkdir(real)
        via = os.path.join(self.tmp, "via")
        os.symlink(real, via)
        os.lchown(via, nobody.pw_uid, nobody.pw_gid)
        out = self.refused("-P", os.path.join(via, "emberd.pid"))
        self.assertIn("not root", out)
        self.assertEqual(os.listdir(real), [])
        # root's own symlink (as /var/run -> /run) is followed
        os.lchown(via, 0, 0)
        srv = self.start("-P", os.path.join(via, "emberd.pid"))
        self.assertEqual(os.listdir(real), ["emberd.pid"])
        srv.stop()
        self.assertEqual(os.listdir(real), [])

    def check_removed(self, pid_dir, *args):
        path = os.path.join(pid_dir, "emberd.pid")
        with open(path, "w") as f:
            f.write("99999\n")          # stale: replaced
        srv = self.start("-P", path, *args)
        with open(path) as f:
            self.assertEqual(f.read(), "%d\n" % srv.pid)
        st = os.lstat(path)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (os.geteuid(),
                                                          0o644))
        self.assertEqual(os.listdir(pid_dir), ["emberd.pid"])
        srv.stop(signal.SIGTERM)
        self.assertFalse(os.path.lexists(path),
                         "pid file left behind after SIGTERM:\n"
                         + srv.output())
        self.assertEqual(os.listdir(pid_dir), [])

    def test_removed_at_sigterm(self):
        self.check_removed(self.tmp)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to test -u")
    def test_removed_at_sigterm_after_dropping_root(self):
        """Written by root, removed by nobody: its directory is
        nobody's (the directories above it need not be)."""
        nobody = pwd.getpwnam("nobody")
        run = os.path.join(self.tmp, "run")
        os.mkdir(run)
        os.chown(run, nobody.pw_uid, nobody.pw_gid)
        self.check_removed(run, "-u", "nobody")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to test -u")
    def test_left_behind_is_logged(self):
        """A directory only root may write: the file stays at exit, and
        the log says so at start-up and at exit, naming it."""
        os.chmod(self.tmp, 0o755)      # as /run
        path = os.path.join(self.tmp, "emberd.pid")
        srv = self.start("-P", path, "-u", "nobody")
        self.assertIn("pid file %s: uid" % path, srv.output())
        srv.stop()
        self.assertTrue(os.path.exists(path))
        self.assertIn("pid file %s left behind" % path, srv.output())


if __name__ == "__main__":
    ember.run_tests()
