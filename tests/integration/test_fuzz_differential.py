"""Seeded random command streams, sent to the server and to memcached.

Commands come from a small grammar over a few keys: every storage,
retrieval and arithmetic command with random flags, exptimes that do not
depend on timing (0, far future, negative, 1970), noreply, numbers at the
edges, and now and then a wrong data length, a malformed line or a bare
"\\n".  Values stay under 2000 bytes: after a bad data chunk a value may be
read as a command line, and what memcached does with a line over 2048
bytes depends on how its reads split the stream (test_differential's
long_complete_line pins down the one-read case).

Each stream runs twice per server: one step at a time
(ember.script_replies) and all at once, cut at random points.  The seeds
are fixed, so a failure is reproducible (the test names carry them);
EMBER_SEED=N runs seed N instead."""

import os
import random

import ember

KEYS = (b"a", b"b", b"c", b"n", b"k" * 250)
VALUES = (b"", b"1", b"42", b"18446744073709551615", b"abc", b" 7", b"007")
EXPTIMES = (b"0", b"0", b"1000", b"-1", b"2592001")
FLAGS = (b"0", b"1", b"4294967295")


def storage_cmd(rng, k, nr, ex, fl):
    if rng.random() < 0.3:
        v = b"x" * rng.randrange(1, 2000)
    else:
        v = rng.choice(VALUES)
    n = len(v)
    if rng.random() < 0.05:
        n += rng.choice((-1, 1))        # a bad data chunk
    if rng.random() < 0.15:
        # CAS values are each server's own: use the one the gets just
        # returned (stepwise), or 0, which matches no item (pipelined)
        return [b"gets %s\r\n" % k,
                lambda prev: b"cas %s %s %s %d %d%s\r\n%s\r\n" % (
                    k, fl, ex, n, ember.cas_of(prev), nr, v)]
    cmd = rng.choice((b"set", b"add", b"replace", b"append", b"prepend"))
    return [b"%s %s %s %s %d%s\r\n%s\r\n" % (cmd, k, fl, ex, n, nr, v)]


def other_cmd(rng, k, nr, ex):
    op = rng.randrange(8)
    if op == 0:
        return b"get %s %s\r\n" % (k, rng.choice(KEYS))
    if op == 1:
        return b"gets %s\r\n" % k
    if op == 2:
        return b"%s %s %s%s\r\n" % (
            rng.choice((b"incr", b"decr")), k,
            rng.choice((b"1", b"0", b"5", b"18446744073709551615", b"x")), nr)
    if op == 3:
        return b"delete %s%s\r\n" % (k, nr)
    if op == 4:
        return b"touch %s %s%s\r\n" % (k, ex, nr)
    if op == 5:
        return b"%s %s %s\r\n" % (rng.choice((b"gat", b"gats")), ex, k)
    if op == 6:
        line = b"%s %s %s" % (rng.choice((b"set", b"get", b"incr", b"delete",
                                          b"touch", b"cas")), k, ex)
        return line + rng.choice((b"\r\n", b" 1 2 3 4 5 6\r\n", b"\n"))
    return rng.choice((b"flush_all\r\n", b"version\r\n", b"verbosity 1\r\n",
                       b"\r\n", b"bogus\r\n", b"flush_all 0 noreply\r\n"))


def stream(seed, n):
    rng = random.Random(seed)
    steps = []
    for _ in range(n):
        k = rng.choice(KEYS)
        nr = b" noreply" if rng.random() < 0.15 else b""
        ex = rng.choice(EXPTIMES)
        if rng.random() < 0.4:
            steps.extend(storage_cmd(rng, k, nr, ex, rng.choice(FLAGS)))
        else:
            steps.append(other_cmd(rng, k, nr, ex))
    return steps


def bytes_of(steps):
    """STEPS as one byte string (a CAS step gets CAS 0)."""
    return b"".join(s(b"") if callable(s) else s for s in steps)


def pipelined(server, data, seed):
    """Send DATA cut at random points, then quit; all reply bytes."""
    rng = random.Random(seed)
    with server.connect(timeout=10) as c:
        try:
            i = 0
            while i < len(data):
                j = min(len(data), i + rng.choice((1, 7, 100, 1000, 20000)))
                c.send(data[i:j])
                i = j
            c.send(b"quit\r\n")
        except OSError:
            pass            # closed early: what came back is compared
        try:
            return ember.normalise(c.wait_closed(timeout=10), {})
        except TimeoutError:
            return ember.normalise(c.buf, {}) + b"<still open>"


class FuzzDifferential(ember.OracleTestCase):
    def setUp(self):
        for s in (self.server, self.oracle):
            self.assertEqual(s.request(b"flush_all\r\n"), b"OK\r\n")

    def check_stepwise(self, seed):
        steps = stream(seed, 250)
        want = ember.script_replies(self.oracle, steps)
        got = ember.script_replies(self.server, steps)
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                sent = bytes_of(steps[i:i + 1])[:120]
                self.fail("seed %d step %d: %r\nmemcached: %r\nserver:    %r"
                          % (seed, i, sent, w[:300], g[:300]))
        self.assertEqual(len(got), len(want))

    def check_pipelined(self, seed):
        data = bytes_of(stream(seed, 300))
        want = pipelined(self.oracle, data, seed)
        got = pipelined(self.server, data, seed)
        if want != got:
            wl, gl = want.split(b"\r\n"), got.split(b"\r\n")
            i = next((i for i, (w, g) in enumerate(zip(wl, gl)) if w != g),
                     min(len(wl), len(gl)))
            self.fail("seed %d: reply line %d differs\nmemcached: %r\n"
                      "server:    %r" % (seed, i, wl[max(0, i - 3):i + 2],
                                         gl[max(0, i - 3):i + 2]))
        self.assertTrue(self.server.alive())


# fixed seeds, so that a failure is reproducible; EMBER_SEED=N runs seed N
# instead (to replay or explore)
STEPWISE_SEEDS, PIPELINED_SEEDS = (1, 2), (1, 2, 3, 4, 5, 6)
if os.environ.get("EMBER_SEED"):
    STEPWISE_SEEDS = PIPELINED_SEEDS = (ember.seed(),)
for _seed in STEPWISE_SEEDS:
    setattr(FuzzDifferential, "test_stepwise_seed%d" % _seed,
            lambda self, s=_seed: self.check_stepwise(s))
for _seed in PIPELINED_SEEDS:
    setattr(FuzzDifferential, "test_pipelined_seed%d" % _seed,
            lambda self, s=_seed: self.check_pipelined(s))


if __name__ == "__main__":
    ember.run_tests()
