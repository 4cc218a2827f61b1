"""Fault injection sweep (issue 11), black box against the real emberd.

emberd runs with tests/faultinject.so preloaded (LD_PRELOAD; after ASan's
runtime in a sanitizer build), which fails the Nth call of a family of
file system calls (writes, syncs, truncs, maps; see tests/faultinject.c)
on files in the snapshot directory only, with ENOSPC, EIO, ENOMEM or a
short write. For each family and error the sweep runs an operation once
per N, for a snapshot (full and incremental, and one that must grow
LMDB's map), for journal writes, and for a warm restart, and asserts:

- never a crash: emberd is alive after every fault (or, at start-up,
  exits with a status and a message), never dies of a signal, never
  prints a sanitizer report;
- never a half-written snapshot taken for a good one, and never a reply
  of success for something that was lost: after kill -9 and a restart
  without faults, every key holds exactly what the test's own record of
  acknowledged replies allows (STORED/DELETED: that; SERVER_ERROR: the
  value before; no reply: either), and embersnap verify accepts the
  directory;
- the daemon recovers by itself once the fault clears: writes are
  accepted again and the next snapshot succeeds.

make check samples N (the first calls, the last calls and a spread
between them, from a traced dry run of the operation); `make faults`
(EMBER_FAULTS_FULL=1) tries every N. EMBER_FAULTS_N=N stops each sweep
after N (the N before it run too: each leaves its state, e.g. a failed
snapshot makes the next one a full rewrite).
Every failure names the plan (calls, N, error), so the shim can replay
it. ember only."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import ember

FULL = os.environ.get("EMBER_FAULTS_FULL", "") == "1"
UPTO_N = int(os.environ.get("EMBER_FAULTS_N", "0") or 0)
N_MAX = 5000            # a guard: no operation here makes more calls
REPLY_TIMEOUT = 20.0    # a reply deferred while the journal fails
SNAP_TIMEOUT = 120.0
SANITIZER_REPORT = re.compile(r"(AddressSanitizer|LeakSanitizer|"
                              r"UndefinedBehaviorSanitizer|runtime error:)")


def setUpModule():
    ember.skip_unless_ember("persistence, the fault shim")
    ember.require_server()


def shim_path():
    """tests/faultinject.so of this build (make check builds it)."""
    path = os.environ.get("EMBER_FAULTINJECT") or os.path.join(
        os.path.dirname(ember.emberd_path()), "..", "tests",
        "faultinject.so")
    if not os.path.exists(path):
        raise AssertionError("fault shim not built: %s (make check builds "
                             "it)" % path)
    return os.path.abspath(path)


def preload():
    """LD_PRELOAD for emberd: the shim, after ASan's runtime when emberd
    is sanitized (ASan must come first in the library list; its
    interceptors then call the shim's functions, which call libc's)."""
    libs = []
    if ember.is_sanitized():
        out = subprocess.run(["ldd", ember.emberd_path()],
                             capture_output=True, text=True).stdout
        m = re.search(r"libasan\.so\S* => (\S+)", out)
        if m is None:
            raise AssertionError("sanitized emberd without a shared "
                                 "libasan:\n" + out)
        libs.append(m.group(1))
    return " ".join(libs + [shim_path()])


def points(calls):
    """The N to try for an operation that made CALLS matching calls in a
    dry run (a run may make a few more): all of them under `make
    faults`; else the first four, the last four and a spread between."""
    top = min(N_MAX, calls + 2)
    if FULL:
        pts = set(range(1, top + 1))
    else:
        pts = set(range(1, min(top, 4) + 1))
        pts |= set(range(max(1, top - 3), top + 1))
        pts |= set(range(5, top, max(1, top // 8)))
    return sorted(p for p in pts if not UPTO_N or p <= UPTO_N)


class Died(AssertionError):
    pass


class Rig:
    """One snapshot directory, the shim's control file and log, the emberd
    under test, and the test's record of what the server acknowledged:
    MODEL maps each key ever written to the set of states it may hold
    (a value, or None: absent)."""

    def __init__(self, case, *args):
        self.case = case
        self.tmp = tempfile.mkdtemp(prefix="ember-faults-")
        self.dir = os.path.join(self.tmp, "snap")
        self.ctl = os.path.join(self.tmp, "fi.ctl")
        self.log = os.path.join(self.tmp, "fi.log")
        self.args = ["--snapshot-dir=" + self.dir, "--snapshot-interval=0",
                     "-m", "64"] + list(args)
        self.model = {}
        self.seq = 0
        self.srv = None
        self.conn = None
        self.plan = ""
        self.armed = ""             # the last plan armed, for reports
        self.tried = []             # (N, whether a fault was injected)
        self.env = dict(os.environ, LD_PRELOAD=preload(),
                        EMBER_FI_CTL=self.ctl, EMBER_FI_PATH=self.dir,
                        EMBER_FI_LOG=self.log)

    def close(self):
        self.drop_conn()
        if self.srv is not None:
            self.srv.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the shim --------------------------------------------------------
    def arm(self, plan):
        """Make PLAN the shim's plan (counting starts again)."""
        self.plan = plan
        if "trace=1" not in plan:
            self.armed = plan
        tmp = self.ctl + ".new"
        with open(tmp, "w") as f:
            f.write(plan + "\n")
        os.replace(tmp, self.ctl)       # a new inode: the shim rereads

    def clear(self):
        self.plan = ""
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)

    def log_lines(self, kind):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [ln for ln in f if ln.startswith(kind + " ")]

    def injected(self):
        return len(self.log_lines("inject"))

    def hit(self, n, before):
        """Whether a fault was injected since the log had BEFORE of them;
        recorded for the combination's summary."""
        hit = self.injected() > before
        self.tried.append((n, hit))
        return hit

    def sweep(self, combo, calls, op, before=None, after=None):
        """For each N of points(CALLS): BEFORE(N), arm COMBO's plan with
        N, run OP(N) under it, AFTER(N, HIT). Stops after the calls the
        operation makes (no fault injected past them)."""
        for n in points(calls):
            if before is not None:
                before(n)
            had = self.injected()
            self.arm(plan(combo["calls"], n, combo["err"],
                          combo.get("count", 1)))
            op(n)
            hit = self.hit(n, had)
            if after is not None:
                after(n, hit)
            if not hit and n > calls:
                break

    def recover(self, snapshot=True):
        """Clear the fault: writes are accepted again and (SNAPSHOT) the
        next snapshot succeeds."""
        self.clear()
        self.writes_resume()
        self.ops(3, must=True)
        if snapshot:
            self.snapshot_ok("the first snapshot after the fault cleared")

    def count_calls(self, calls, op):
        """How many CALLS matching calls OP() makes (a traced dry run)."""
        before = len(self.log_lines("call"))
        self.arm("calls=%s nth=0 trace=1" % calls)
        op()
        self.clear()
        return len(self.log_lines("call")) - before

    # -- emberd ------------------------------------------------------------
    def what(self):
        """The context of a failure: plan, faults injected, emberd's
        output."""
        out = self.srv.output() if self.srv is not None else ""
        inj = "".join(self.log_lines("inject")[-5:])
        return ("\nplan now: %s; last armed: %s\nlast faults injected:\n%s"
                "emberd output (tail):\n%s"
                % (self.plan or "(none)", self.armed or "(none)", inj,
                   out[-3000:]))

    def check_output(self):
        if self.srv is not None and SANITIZER_REPORT.search(
                self.srv.output()):
            raise Died("sanitizer report" + self.what())

    def check_alive(self):
        self.check_output()
        if not self.srv.alive():
            raise Died("emberd died (status %s)%s"
                       % (self.srv.proc.returncode, self.what()))

    def start(self):
        """Start emberd; it must come up (the shim is loaded, faults are
        whatever the control file says)."""
        self.srv = ember.Server(*self.args, env=self.env)
        try:
            self.srv.start()
        except ember.ServerError as e:
            raise AssertionError("emberd did not start: %s%s"
                                 % (e, self.what()))
        self.check_output()
        return self.srv

    def try_start(self):
        """Start emberd under a fault at start-up: True when it serves;
        False when it refused to start, which it must do by exiting with
        a status and a message, never by a signal."""
        self.srv = ember.Server(*self.args, env=self.env)
        try:
            self.srv.start()
        except ember.ServerError:
            rc = self.srv.proc.returncode
            out = self.srv.output()
            if rc is None or rc <= 0 or SANITIZER_REPORT.search(out):
                raise Died("emberd failed to start with status %s%s"
                           % (rc, self.what()))
            if "error" not in out:
                raise AssertionError("emberd exited %d without saying why%s"
                                     % (rc, self.what()))
            return False
        self.check_output()
        return True

    def kill9(self):
        """kill -9 the server, which must still be running."""
        self.drop_conn()
        self.check_alive()
        self.srv.kill()
        self.check_output()

    def stop_term(self):
        """SIGTERM: emberd must exit by itself, with a status (0, or an
        error for a final snapshot that failed), never by a signal."""
        self.drop_conn()
        self.check_alive()
        self.srv.send_signal(signal.SIGTERM)
        rc = self.srv.wait_exit()
        if rc is None:
            self.srv.kill()
            raise AssertionError("emberd ignored SIGTERM%s" % self.what())
        self.check_output()
        if rc < 0:
            raise Died("emberd died of signal %d on SIGTERM%s"
                       % (-rc, self.what()))

    def restart_clean(self):
        """kill -9 (when running), clear the faults, start, and check
        that every key holds what was acknowledged."""
        if self.srv is not None and self.srv.alive():
            self.kill9()
        self.clear()
        self.verify_offline()
        self.start()
        self.verify("after kill -9 and a restart")

    def verify_offline(self):
        """embersnap verify: the snapshot on disk is whole."""
        if not os.path.exists(os.path.join(self.dir, "data.mdb")):
            return
        rc, out, err = ember.embersnap("verify", self.dir)
        if rc != 0:
            raise AssertionError("embersnap verify: exit %d\n%s%s%s"
                                 % (rc, err, out[-1000:].decode(
                                     errors="replace"), self.what()))

    # -- the client --------------------------------------------------------
    def c(self):
        if self.conn is None:
            self.conn = self.srv.connect(timeout=REPLY_TIMEOUT)
        return self.conn

    def drop_conn(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, data, timeout=REPLY_TIMEOUT):
        """One request: its reply line, or None when the connection was
        closed first (emberd closes connections whose changes it could not
        journal within 2 s, without a reply)."""
        try:
            return self.c().request(data, timeout=timeout)
        except (ember.Closed, ConnectionError):
            self.drop_conn()
            return None

    def change(self, key, value):
        """Set KEY to VALUE (None: delete it) and record the outcome."""
        if value is None:
            reply = self.send(b"delete " + key + b"\r\n")
            done = (b"DELETED\r\n", b"NOT_FOUND\r\n")
        else:
            reply = self.send(b"set %s 0 0 %d\r\n%s\r\n"
                              % (key, len(value), value))
            done = (b"STORED\r\n",)
        states = self.model.setdefault(key, {None})
        if reply in done:
            if reply == b"NOT_FOUND\r\n" and None not in states:
                raise AssertionError("delete %r: NOT_FOUND, but it holds "
                                     "one of %r%s" % (key, states,
                                                      self.what()))
            self.model[key] = {value}
        elif reply is None:
            states.add(value)       # applied or not: unknown
        elif not reply.startswith(b"SERVER_ERROR "):
            raise AssertionError("unexpected reply %r%s"
                                 % (reply, self.what()))
        return reply

    def ops(self, n, must=False, size=None):
        """N changes: new keys, overwrites and deletes. MUST: each has to
        succeed."""
        for _ in range(n):
            self.seq += 1
            keys = sorted(self.model)
            kind = self.seq % 4
            if kind == 3 and keys:
                key, value = keys[self.seq % len(keys)], None
            else:
                key = (keys[self.seq % len(keys)] if kind == 2 and keys
                       else b"k%06d" % self.seq)
                value = b"v%d-" % self.seq
                if size:
                    value += bytes([48 + self.seq % 10]) * (size - len(value))
            reply = self.change(key, value)
            if must and reply not in (b"STORED\r\n", b"DELETED\r\n",
                                      b"NOT_FOUND\r\n"):
                raise AssertionError("change refused after the fault "
                                     "cleared: %r%s" % (reply, self.what()))

    def writes_resume(self, deadline=10.0):
        """Once the fault cleared, a write is accepted within DEADLINE."""
        end = time.monotonic() + deadline
        while True:
            self.check_alive()
            self.seq += 1
            if self.change(b"probe", b"p%d" % self.seq) == b"STORED\r\n":
                return
            if time.monotonic() > end:
                raise AssertionError("writes still refused %.0f s after "
                                     "the fault cleared%s"
                                     % (deadline, self.what()))
            time.sleep(0.1)

    def snapshot(self):
        """`snapshot`: True on OK, False on SERVER_ERROR."""
        reply = self.send(b"snapshot\r\n", timeout=SNAP_TIMEOUT)
        if reply == b"OK\r\n":
            return True
        if reply is None or not reply.startswith(b"SERVER_ERROR"):
            raise AssertionError("snapshot: %r%s" % (reply, self.what()))
        return False

    def snapshot_ok(self, why):
        if not self.snapshot():
            raise AssertionError("%s: snapshot failed%s" % (why, self.what()))

    def verify(self, when):
        """Every key holds a state the model allows; then that state is
        what the model knows."""
        self.check_alive()
        keys = sorted(self.model)
        got = {}
        for i in range(0, len(keys), 40):
            got.update(self.c().get(*keys[i:i + 40]))
        bad = []
        for k in keys:
            v = got.get(k)
            if v not in self.model[k]:
                bad.append("%r holds %s, acknowledged: %s"
                           % (k, short(v), sorted(map(short,
                                                      self.model[k]))))
            self.model[k] = {v}
        if bad:
            raise AssertionError("%s: %d key(s) differ from what was "
                                 "acknowledged:\n  %s%s"
                                 % (when, len(bad), "\n  ".join(bad[:10]),
                                    self.what()))


def short(v):
    if v is None:
        return "(absent)"
    return repr(v[:24]) + ("...%d bytes" % len(v) if len(v) > 24 else "")


def plan(calls, n, err, count=1):
    return "calls=%s nth=%d count=%d err=%s" % (calls, n, count, err)


class Sweep(unittest.TestCase):
    """Each test sweeps one operation over N for a few (calls, error)
    combinations; the first failing N of a combination ends it (later N
    would only repeat the damage) and is reported with its plan."""

    def run_combos(self, combos, body):
        failures = []
        for combo in combos:
            rig = Rig(self, *combo.get("args", ()))
            try:
                body(rig, combo)
                if not any(hit for _, hit in rig.tried):
                    raise AssertionError("no N injected a fault: the "
                                         "sweep tested nothing")
            except AssertionError as e:
                failures.append("%s: %s" % (combo["name"], e))
            finally:
                rig.close()
            print("%s: %s: N = %s; a fault injected at %d of them"
                  % (self._testMethodName, combo["name"],
                     ",".join(str(n) for n, _ in rig.tried),
                     sum(hit for _, hit in rig.tried)), file=sys.stderr)
        if failures:
            self.fail("\n\n".join(failures))

    # -- snapshots ---------------------------------------------------------
    SNAP_COMBOS = [
        {"name": "writes ENOSPC, disk stays full until cleared",
         "calls": "writes", "err": "ENOSPC", "count": 0},
        {"name": "one short write", "calls": "writes", "err": "short"},
        {"name": "one EIO from fsync/fdatasync", "calls": "syncs",
         "err": "EIO"},
        {"name": "ftruncate/fallocate/mmap EIO until cleared",
         "calls": "truncs,maps", "err": "EIO", "count": 0},
    ]

    def snapshot_sweep(self, rig, combo, full):
        rig.args.append("--journal-fsync=no")
        rig.start()
        rig.ops(30, must=True)
        rig.snapshot_ok("the first snapshot")
        rig.restart_clean()

        def one():
            if not full:
                rig.ops(4, must=True)
                rig.snapshot_ok("the snapshot before the faulted one")
            rig.ops(8, must=True)

        def op():
            rig.snapshot_ok("dry run")

        def after(n, hit):
            rig.check_alive()
            if n % 2 == 0:              # odd N: kill -9 while it fails
                rig.recover()
            rig.restart_clean()

        one()
        rig.sweep(combo, rig.count_calls(combo["calls"], op),
                  lambda n: rig.snapshot(), lambda n: one(), after)

    def test_snapshot_full(self):
        self.run_combos(self.SNAP_COMBOS,
                        lambda rig, co: self.snapshot_sweep(rig, co, True))

    def test_snapshot_incremental(self):
        self.run_combos(self.SNAP_COMBOS,
                        lambda rig, co: self.snapshot_sweep(rig, co, False))

    def test_shutdown_snapshot(self):
        """SIGTERM's final snapshot fails: emberd still exits (with a
        status, not a signal), and the journal it could not retire brings
        everything back."""
        def body(rig, combo):
            rig.args.append("--journal-fsync=no")
            rig.start()
            rig.ops(20, must=True)
            rig.snapshot_ok("the first snapshot")

            def stop():
                rig.start()
                rig.ops(6, must=True)
                rig.stop_term()

            def before(n):
                rig.restart_clean()
                rig.ops(6, must=True)

            rig.kill9()
            rig.sweep(combo, rig.count_calls(combo["calls"], stop),
                      lambda n: rig.stop_term(), before,
                      lambda n, hit: rig.restart_clean())
        self.run_combos(self.SNAP_COMBOS[:3], body)

    def test_snapshot_map_growth(self):
        """A full snapshot of ~80 MB of raw values grows the 64 MiB map
        (mdb_env_set_mapsize: munmap + mmap); the mmap fails."""
        def body(rig, combo):
            rig.args += ["--snapshot-compression=0", "--journal-fsync=no",
                         "-m", "400"]
            rig.start()
            rig.ops(90, must=True, size=900000)
            rig.snapshot_ok("the first snapshot")
            def before(n):
                rig.restart_clean()
                rig.ops(2, must=True, size=900000)

            def after(n, hit):
                rig.check_alive()
                rig.recover()
                rig.restart_clean()

            # one mmap: the map's growth (nothing else maps in DIR)
            rig.sweep(combo, 1, lambda n: rig.snapshot(), before, after)
        self.run_combos([{"name": "mmap ENOMEM while growing the map",
                          "calls": "maps", "err": "ENOMEM"}], body)

    # -- the journal ---------------------------------------------------------
    JOURNAL_COMBOS = [
        {"name": "one write ENOSPC", "calls": "writes", "err": "ENOSPC"},
        {"name": "one short write, then its cut-back ftruncate fails",
         "calls": "writes,truncs", "err": "short", "count": 2},
        {"name": "one fdatasync EIO", "calls": "syncs", "err": "EIO"},
        {"name": "writes ENOSPC until cleared", "calls": "writes",
         "err": "ENOSPC", "count": 0},
    ]

    def journal_sweep(self, rig, combo):
        rig.args.append("--journal-fsync=always")
        rig.start()
        rig.ops(10, must=True)
        rig.snapshot_ok("the first snapshot")
        def after(n, hit):
            rig.check_alive()
            rig.recover(snapshot=n % 2 == 0)
            rig.restart_clean()

        rig.sweep(combo, rig.count_calls(combo["calls"],
                                         lambda: rig.ops(8, must=True)),
                  lambda n: rig.ops(8), None, after)

    def test_journal(self):
        self.run_combos(self.JOURNAL_COMBOS, self.journal_sweep)

    # -- warm restart ------------------------------------------------------
    RESTART_COMBOS = [
        {"name": "writes ENOSPC until cleared", "calls": "writes",
         "err": "ENOSPC", "count": 0},
        {"name": "one fsync/fdatasync EIO", "calls": "syncs", "err": "EIO"},
        {"name": "one mmap ENOMEM (LMDB's map, journal segments)",
         "calls": "maps", "err": "ENOMEM"},
        {"name": "policy cold: writes EIO until cleared", "calls": "writes",
         "err": "EIO", "count": 0,
         "args": ["--snapshot-on-corrupt=cold"]},
        {"name": "policy cold: one mmap ENOMEM", "calls": "maps",
         "err": "ENOMEM", "args": ["--snapshot-on-corrupt=cold"]},
    ]

    def restart_sweep(self, rig, combo):
        rig.start()
        rig.ops(40, must=True)
        rig.snapshot_ok("the first snapshot")
        rig.ops(20, must=True)          # in the journal only
        rig.kill9()
        pristine = os.path.join(rig.tmp, "pristine")
        shutil.copytree(rig.dir, pristine)
        model = {k: set(v) for k, v in rig.model.items()}

        def reset():
            shutil.rmtree(rig.dir)
            shutil.copytree(pristine, rig.dir)
            rig.model = {k: set(v) for k, v in model.items()}

        def dry():
            rig.start()
            rig.kill9()

        def op(n):
            if rig.try_start():
                rig.verify("serving after a fault at start-up")
                rig.ops(3)
                rig.recover(snapshot=n % 2 == 0)

        def after(n, hit):
            rig.restart_clean()
            rig.kill9()

        rig.sweep(combo, rig.count_calls(combo["calls"], dry), op,
                  lambda n: reset(), after)

    def test_warm_restart(self):
        self.run_combos(self.RESTART_COMBOS, self.restart_sweep)


if __name__ == "__main__":
    ember.run_tests()
