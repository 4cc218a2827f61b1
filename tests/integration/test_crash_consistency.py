"""Crash consistency (issue 10), black box against the real emberd: a
crash never brings back a deleted, replaced or flushed value, and loses
no acknowledged write.

- the issue's example: set a, set b, snapshot, delete a, set b new,
  kill -9, restart: a is gone, b is new;
- flush_all, immediate and delayed, across kill -9 and across SIGTERM (a
  delayed flush_all still takes effect after a graceful restart);
- incr and append after a snapshot, then kill -9;
- CAS values after a restart are above every CAS seen before it;
- a touch or gat after the snapshot keeps a key whose old deadline
  passed while emberd was down; flush_all reaches an item stored with
  a client-set CAS (meta E);
- a randomised torture: client threads do random set/delete/incr/append/
  touch over a few thousand keys (values name their writer and sequence),
  kill -9 at a random moment, restart on the same directory; every key
  holds its last acknowledged value, or the result of the one request
  that was in flight at the kill; several rounds.  The seed is printed;
  EMBER_SEED replays it, EMBER_CRASH_ROUNDS sets the rounds (default 4).

These need the mutation journal of issue 10: without it, everything since
the last snapshot is rolled back and they fail.  ember only."""

import os
import random
import signal
import threading
import time
import unittest

import ember

KEYS_PER_WRITER = 800
WRITERS = 4


def rounds():
    return max(1, int(os.environ.get("EMBER_CRASH_ROUNDS", "4")))


def setUpModule():
    ember.skip_unless_ember("persistence")
    ember.require_server()


class Base(ember.SnapshotDirCase):
    def start(self, interval=3600):
        return self.server("--snapshot-dir=" + self.dir,
                           "--snapshot-interval=%d" % interval, "-m", "64")

    def restart(self, srv, how):
        """Stop SRV by HOW ("kill9" or "sigterm") and start again."""
        if how == "kill9":
            srv.kill()
        else:
            srv.stop(signal.SIGTERM)
        return self.start()

    def snapshot(self, c):
        self.assertEqual(c.request(b"snapshot\r\n", timeout=60), b"OK\r\n")

    def ok(self, c, line, want):
        self.assertEqual(c.request(line), want, line)


class Example(Base):
    def test_issue_example(self):
        srv = self.start()
        with srv.connect() as c:
            self.ok(c, b"set a 0 0 3\r\nold\r\n", b"STORED\r\n")
            self.ok(c, b"set b 0 0 3\r\nold\r\n", b"STORED\r\n")
            self.snapshot(c)
            self.ok(c, b"delete a\r\n", b"DELETED\r\n")
            self.ok(c, b"set b 0 0 3\r\nnew\r\n", b"STORED\r\n")
        srv = self.restart(srv, "kill9")
        with srv.connect() as c:
            self.assertEqual(c.get(b"a", b"b"), {b"b": b"new"},
                             "a deleted or replaced value came back")

    def test_incr_and_append_after_snapshot(self):
        srv = self.start()
        with srv.connect() as c:
            self.ok(c, b"set n 0 0 2\r\n10\r\n", b"STORED\r\n")
            self.ok(c, b"set s 5 0 3\r\nabc\r\n", b"STORED\r\n")
            self.ok(c, b"set p 0 0 3\r\nxyz\r\n", b"STORED\r\n")
            self.snapshot(c)
            self.ok(c, b"incr n 5\r\n", b"15\r\n")
            self.ok(c, b"decr n 3\r\n", b"12\r\n")
            self.ok(c, b"append s 0 0 3\r\ndef\r\n", b"STORED\r\n")
            self.ok(c, b"prepend p 0 0 3\r\nuvw\r\n", b"STORED\r\n")
        srv = self.restart(srv, "kill9")
        with srv.connect() as c:
            self.assertEqual(c.get(b"n", b"s", b"p"),
                             {b"n": b"12", b"s": b"abcdef", b"p": b"uvwxyz"})

    def test_cas_above_every_cas_seen(self):
        """Many writes after the last snapshot, their CAS values seen by
        clients, then kill -9: no CAS is handed out twice."""
        srv = self.start()
        seen = 0
        with srv.connect() as c:
            self.ok(c, b"set k0 0 0 1\r\nx\r\n", b"STORED\r\n")
            self.snapshot(c)
            for i in range(2000):
                c.send(b"set k%d 0 0 1 noreply\r\ny\r\n" % (i % 50))
            for i in range(50):
                seen = max(seen, c.gets(b"k%d" % i)[1])
        srv = self.restart(srv, "kill9")
        with srv.connect() as c:
            self.ok(c, b"set fresh 0 0 1\r\nz\r\n", b"STORED\r\n")
            self.assertGreater(c.gets(b"fresh")[1], seen,
                               "a CAS value was handed out twice")
            # an old CAS matches nothing now
            self.ok(c, b"cas k1 0 0 1 %d\r\nq\r\n" % seen,
                    b"EXISTS\r\n" if c.get(b"k1") else b"NOT_FOUND\r\n")

    def test_touch_revives_a_record_expired_by_the_restart(self):
        """A key with 3 s to live is snapshotted, then touched for 100 s;
        emberd is down past the old deadline: the key is served (its
        snapshot record has expired, the journal's TOUCH has not)."""
        srv = self.start()
        with srv.connect() as c:
            self.ok(c, b"set tk 0 3 1\r\nx\r\n", b"STORED\r\n")
            self.ok(c, b"set gk 0 3 1\r\ny\r\n", b"STORED\r\n")
            self.ok(c, b"set gone 0 3 1\r\nz\r\n", b"STORED\r\n")
            self.snapshot(c)
            self.ok(c, b"touch tk 100\r\n", b"TOUCHED\r\n")
            self.assertEqual(c.request(b"gat 100 gk\r\n", term=b"END\r\n"),
                             b"VALUE gk 0 1\r\ny\r\nEND\r\n")
        srv.kill()
        time.sleep(4)
        srv = self.start()
        with srv.connect() as c:
            self.assertEqual(c.get(b"tk", b"gk", b"gone"),
                             {b"tk": b"x", b"gk": b"y"},
                             "a touch after the snapshot was lost, or an "
                             "expired item came back")


class AfterACleanStart(Base):
    """A start that finds no journal segment (the last stop was graceful,
    or a snapshot retired them all) must still journal what follows so
    that a replay takes it: its changes are numbered above the snapshot's
    journal_seq (found by the fault sweep, issue 11)."""

    def check(self, how):
        srv = self.start()
        with srv.connect() as c:
            self.ok(c, b"set a 0 0 3\r\nold\r\n", b"STORED\r\n")
            self.ok(c, b"set b 0 0 3\r\nold\r\n", b"STORED\r\n")
            if how == "snapshot":
                self.snapshot(c)
        srv = self.restart(srv, "sigterm" if how == "sigterm" else "kill9")
        with srv.connect() as c:
            self.ok(c, b"set b 0 0 3\r\nnew\r\n", b"STORED\r\n")
            self.ok(c, b"set c 0 0 3\r\nnew\r\n", b"STORED\r\n")
            self.ok(c, b"delete a\r\n", b"DELETED\r\n")
        srv = self.restart(srv, "kill9")
        with srv.connect() as c:
            self.assertEqual(c.get(b"a", b"b", b"c"),
                             {b"b": b"new", b"c": b"new"},
                             "changes acknowledged after a start without "
                             "journal segments were lost by kill -9")

    def test_after_graceful_stop(self):
        self.check("sigterm")

    def test_after_a_snapshot_retired_the_journal(self):
        self.check("snapshot")


class FlushAll(Base):
    """flush_all after a snapshot, then a restart."""

    KEYS = [b"f%03d" % i for i in range(100)]

    def fill_and_snapshot(self, c):
        for k in self.KEYS:
            c.send(b"set %s 0 0 5 noreply\r\nvalue\r\n" % k)
        self.snapshot(c)

    def immediate(self, how):
        srv = self.start()
        with srv.connect() as c:
            self.fill_and_snapshot(c)
            self.ok(c, b"flush_all\r\n", b"OK\r\n")
            self.ok(c, b"set after 0 0 4\r\nkept\r\n", b"STORED\r\n")
        srv = self.restart(srv, how)
        with srv.connect() as c:
            self.assertEqual(c.get(*self.KEYS), {}, "flushed items back")
            self.assertEqual(c.get(b"after"), {b"after": b"kept"})

    def delayed(self, how):
        """flush_all 3: the items set before it are still there until the
        deadline, and gone after it, restart or not."""
        srv = self.start()
        with srv.connect() as c:
            self.fill_and_snapshot(c)
            at = int(c.stats()["time"])
            self.ok(c, b"flush_all 3\r\n", b"OK\r\n")
        srv = self.restart(srv, how)
        with srv.connect() as c:
            self.assertLess(int(c.stats()["time"]), at + 3,
                            "the restart took past the deadline")
            self.assertEqual(len(c.get(*self.KEYS)), len(self.KEYS),
                             "flushed before the deadline")
            # the server's clock may read a second ahead of the one that
            # judges the flush (test_text_protocol allows as much)
            ember.wait_for(lambda: int(c.stats()["time"]) >= at + 5, 30)
            self.assertEqual(c.get(*self.KEYS), {},
                             "a delayed flush_all was forgotten")

    def test_immediate_kill9(self):
        self.immediate("kill9")

    def test_flush_reaches_a_client_set_cas(self):
        """An item stored with a client-chosen CAS (ms E) before the
        snapshot is flushed like any other after a kill -9."""
        srv = self.start()
        with srv.connect() as c:
            self.ok(c, b"ms ek 3 E12345\r\nabc\r\n", b"HD\r\n")
            self.ok(c, b"set plain 0 0 1\r\nx\r\n", b"STORED\r\n")
            self.snapshot(c)
            self.ok(c, b"flush_all\r\n", b"OK\r\n")
            self.ok(c, b"ms later 1 E777\r\nb\r\n", b"HD\r\n")
        srv = self.restart(srv, "kill9")
        with srv.connect() as c:
            self.ok(c, b"mg ek v c\r\n", b"EN\r\n")
            self.ok(c, b"mg plain v\r\n", b"EN\r\n")
            self.assertEqual(c.request(b"mg later v c\r\n", term=b"b\r\n"),
                             b"VA 1 c777\r\nb\r\n")

    def test_immediate_sigterm(self):
        self.immediate("sigterm")

    def test_delayed_kill9(self):
        self.delayed("kill9")

    def test_delayed_sigterm(self):
        self.delayed("sigterm")


def short(value):
    """VALUE for a message: None, or its first 24 bytes and its length."""
    if value is None or len(value) <= 24:
        return value
    return value[:24] + b"...(%d bytes)" % len(value)


class Model:
    """One writer's keys and what it knows of them: the last acknowledged
    value of each (None: absent), and the request in flight, if any."""

    def __init__(self, wid, rng):
        self.wid, self.rng = wid, rng
        self.keys = [b"w%d:%04d" % (wid, i) for i in range(KEYS_PER_WRITER)]
        self.value = {k: None for k in self.keys}
        self.flight = None      # (key, value if it was executed)
        self.seq = 0
        self.acked = 0

    def counter(self, key):
        return int(key[-4:]) % 5 == 0

    def step(self, c):
        """One random request on C; the model follows the reply."""
        key = self.rng.choice(self.keys)
        old = self.value[key]
        self.seq += 1
        tag = b"w%d:s%d" % (self.wid, self.seq)
        op = self.rng.random()
        if self.counter(key) and old is not None and op < 0.5:
            new = b"%d" % (int(old) + 1)
            self.flight = (key, new)
            reply = c.request(b"incr %s 1\r\n" % key)
            want = new + b"\r\n"
        elif op < 0.45 or old is None:
            new = b"1000" if self.counter(key) else \
                tag + b":" + b"v" * self.rng.choice((0, 10, 200, 3000))
            self.flight = (key, new)
            reply = c.request(b"set %s 0 0 %d\r\n%s\r\n"
                              % (key, len(new), new))
            want = b"STORED\r\n"
        elif op < 0.65:
            new = None
            self.flight = (key, new)
            reply = c.request(b"delete %s\r\n" % key)
            want = b"DELETED\r\n"
        elif op < 0.85 and not self.counter(key):
            new = old + b"|" + tag
            self.flight = (key, new)
            reply = c.request(b"append %s 0 0 %d\r\n%s\r\n"
                              % (key, len(tag) + 1, b"|" + tag))
            want = b"STORED\r\n"
        else:
            new = old
            self.flight = (key, new)
            reply = c.request(b"touch %s 0\r\n" % key)
            want = b"TOUCHED\r\n"
        if reply != want:
            raise AssertionError("%r: %r, expected %r" % (key, reply, want))
        self.value[key] = new
        self.flight = None
        self.acked += 1

    def run(self, port, killing):
        """Requests until the server dies under us; any failure before
        KILLING is set is an error (Background reports it)."""
        try:
            with ember.Conn(port, timeout=10) as c:
                while True:
                    self.step(c)
        except (ember.Closed, OSError, TimeoutError):
            if not killing.is_set():
                raise

    def check(self, c):
        """Every key holds its last acknowledged value, or the in-flight
        request's result; the model then takes what is there.  Returns
        the list of problems."""
        problems = []
        for i in range(0, len(self.keys), 100):
            chunk = self.keys[i:i + 100]
            got = c.get(*chunk)
            for k in chunk:
                have = got.get(k)
                allowed = [self.value[k]]
                if self.flight is not None and self.flight[0] == k:
                    allowed.append(self.flight[1])
                if have not in allowed:
                    problems.append((k, short(have),
                                     [short(a) for a in allowed]))
                self.value[k] = have
        self.flight = None
        return problems


class Torture(Base):
    def test_kill9_random_mutations(self):
        rng = ember.rng()
        models = [Model(w, random.Random(rng.random()))
                  for w in range(WRITERS)]
        srv = self.start(interval=1)
        for r in range(rounds()):
            killing = threading.Event()
            threads = [ember.Background(m.run, srv.port, killing)
                       for m in models]
            for t in threads:
                t.start()
            before = sum(m.acked for m in models)
            # under way (an interval snapshot in between), then a random
            # moment of the next 1.5 s
            ember.wait_for(lambda: sum(m.acked for m in models)
                           >= before + 2000, 60, 0.01)
            time.sleep(rng.random() * 1.5)
            killing.set()
            srv.kill()
            for t in threads:
                t.finish(30)
            acked = sum(m.acked for m in models) - before
            srv = self.start(interval=1)
            with srv.connect(timeout=30) as c:
                problems = [p for m in models for p in m.check(c)]
            print("round %d: %d requests acknowledged, %d keys wrong"
                  % (r, acked, len(problems)))
            self.assertEqual(problems[:5], [],
                             "round %d: %d keys hold neither their last "
                             "acknowledged value nor the in-flight one "
                             "(key, found, allowed; first 5)"
                             % (r, len(problems)))


if __name__ == "__main__":
    ember.run_tests()
