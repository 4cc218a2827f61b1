"""Golden snapshots: real data.mdb files of format 1 and 2 (tests/fixtures/,
written once by the emberd of each format with tests/fixtures/
make_fixture.py) against the list of what their writer stored
(expected.jsonl beside each), never against embersnap's own output:

- today's emberd loads each and serves exactly those items: values,
  flags, CAS, TTLs, the meta protocol's item state (format 2); the expired
  record is skipped and counted; nothing else is there;
- embersnap info, verify, ls, get and dump agree with the list.

ember only (memcached has no snapshots)."""

import base64
import json
import os
import shutil
import tempfile
import time
import unittest

import ember


def fixtures_dir():
    top = os.environ.get("EMBER_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.join(top, "tests", "fixtures")


def load_expected(name):
    """(header, records): records as dicts with bytes key/value."""
    with open(os.path.join(fixtures_dir(), name, "expected.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    records = []
    for r in lines[1:]:
        r = dict(r)
        r["key"] = (r["key"].encode() if "key" in r
                    else base64.b64decode(r.pop("key_b64")))
        r["value"] = (r["value"].encode() if "value" in r
                      else base64.b64decode(r.pop("value_b64")))
        r.setdefault("state", [])
        records.append(r)
    return lines[0], records


def shown(key):
    """KEY as embersnap ls prints it: non-printable bytes as \\xHH."""
    return "".join(chr(b) if 32 <= b < 127 else "\\x%02x" % b
                   for b in key).encode()


def text_key(key):
    return all(32 < b < 127 for b in key)


def wire(key):
    """KEY and the mg flag that carries it: as it is when the text
    protocol can (a base64 key longer than 250 bytes is refused), else in
    base64 with b."""
    if text_key(key):
        return key, b""
    return base64.b64encode(key), b" b"


class Golden:
    """The checks, for the fixture NAME written in FORMAT."""

    NAME = FORMAT = None

    @classmethod
    def setUpClass(cls):
        ember.skip_unless_ember("snapshot fixtures")
        ember.require_server()
        cls.head, cls.records = load_expected(cls.NAME)
        cls.now = int(time.time())
        cls.live = [r for r in cls.records
                    if r["exptime"] == 0 or r["exptime"] > cls.now + 60]
        cls.expired = [r for r in cls.records
                       if r["exptime"] != 0 and r["exptime"] <= cls.now]
        cls.tmp = tempfile.mkdtemp(prefix="ember-golden-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, name):
        """A private copy of the fixture (emberd writes to its dir)."""
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        os.mkdir(d, 0o700)
        shutil.copyfile(os.path.join(fixtures_dir(), self.NAME, "data.mdb"),
                        os.path.join(d, "data.mdb"))
        os.chmod(os.path.join(d, "data.mdb"), 0o600)
        return d

    def test_fixture_is_what_it_claims(self):
        self.assertEqual(self.head["format_version"], self.FORMAT)
        self.assertEqual(len(self.records), self.head["records"])
        # every record is either live or expired by now, none in between
        self.assertEqual(len(self.live) + len(self.expired),
                         len(self.records))
        self.assertEqual(len(self.expired), self.head["expired"])

    def test_embersnap_info_and_verify(self):
        d = self.copy("info")
        info = json.loads(ember.embersnap_ok("info", "--json", d))
        self.assertEqual(info["format_version"], self.FORMAT)
        self.assertEqual((info["records"], info["meta_items"], info["live"],
                          info["expired"], info["dictionaries"]),
                         (len(self.records), len(self.records),
                          len(self.live), len(self.expired),
                          self.head["dicts"]))
        raw = sum(len(r["key"]) + len(r["value"]) for r in self.records)
        self.assertEqual((info["raw_bytes"], info["meta_bytes"]), (raw, raw))
        counter = [r["cas"] for r in self.records
                   if "explicit_cas" not in r["state"]]
        self.assertEqual(info["cas_max"], max(counter))
        codecs = {c["codec"] for c in info["codecs"]}
        self.assertEqual(codecs, {"raw", "zstd", "dict"})
        out = ember.embersnap_ok("verify", d)
        self.assertIn(b"%d records (%d live, %d expired), 0 problems"
                      % (len(self.records), len(self.live),
                         len(self.expired)), out)

    def test_embersnap_ls(self):
        d = self.copy("ls")
        out = ember.embersnap_ok("--now=%d" % self.now, "ls", "-H",
                                 "--expired", d)
        want = []
        for r in sorted(self.records, key=lambda r: r["key"]):
            if r["exptime"] == 0:
                ttl = b"never"
            elif r["exptime"] <= self.now:
                ttl = b"expired"
            else:
                ttl = b"%d" % (r["exptime"] - self.now)
            want.append([b"%d" % len(r["value"]), b"%d" % r["flags"], ttl,
                         b"%d" % r["cas"], shown(r["key"])])
        self.assertEqual([line.split() for line in out.splitlines()], want)
        # without --expired the expired record is left out
        out = ember.embersnap_ok("--now=%d" % self.now, "ls", "-H", d)
        self.assertEqual(len(out.splitlines()), len(self.live))

    def test_embersnap_get(self):
        d = self.copy("get")
        for r in self.records:
            if b"\0" in r["key"]:
                continue        # cannot be an argument
            key = r["key"].decode("latin-1")
            rc, out, err = ember.embersnap("get", key, d)
            if r in self.expired:
                self.assertEqual(rc, 1, (key, err))
                self.assertIn("expired", err)
                out = ember.embersnap_ok("get", "--expired", key, d)
            else:
                self.assertEqual(rc, 0, (key, err))
            self.assertTrue(out == r["value"], "value of %r" % key[:40])

    def test_embersnap_dump(self):
        d = self.copy("dump")
        got = []
        for line in ember.embersnap_ok("dump", d).splitlines():
            j = json.loads(line)
            key = (j["key"].encode() if "key" in j
                   else base64.b64decode(j["key_base64"]))
            got.append((key, j["flags"], j["exptime"], j["cas"],
                        base64.b64decode(j["value"])))
        want = [(r["key"], r["flags"], r["exptime"], r["cas"], r["value"])
                for r in sorted(self.live, key=lambda r: r["key"])]
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            self.assertTrue(g == w, "dump of %r differs: %r" % (
                w[0][:40], [(a, b) for a, b in zip(g[:4], w[:4]) if a != b]))

    def test_emberd_serves_exactly_what_was_written(self):
        d = self.copy("emberd")
        with ember.Server("--snapshot-dir=" + d, "--snapshot-interval=3600",
                          "-m", "64") as srv, srv.connect() as c:
            st = c.stats()
            self.assertEqual(
                (int(st["warm_restart_items_loaded"]),
                 int(st["warm_restart_items_expired"]),
                 int(st["warm_restart_items_dropped"]),
                 int(st["curr_items"])),
                (len(self.live), len(self.expired), 0, len(self.live)))
            self.check_state(c)
            for r in self.live:
                self.check_item(c, r)
            for r in self.expired:
                self.assertEqual(c.request(b"mg %s%s v\r\n" % wire(r["key"])),
                                 b"EN\r\n")
            # the counter goes on above every CAS the writer handed out
            counter = [r["cas"] for r in self.records
                       if "explicit_cas" not in r["state"]]
            c.set(b"golden:new", b"x")
            self.assertGreater(c.gets(b"golden:new")[1], max(counter))

    def check_item(self, c, r):
        """mg by base64 key: value, flags, CAS, TTL as written."""
        c.send(b"mg %s%s v f c t\r\n" % wire(r["key"]))
        line = c.read_line()
        parts = line.split()
        self.assertEqual(parts[0], b"VA", (r["key"][:40], line))
        value = c.read_exact(int(parts[1]) + 2)[:-2]
        self.assertTrue(value == r["value"], "value of %r" % r["key"][:40])
        flags = {p[:1]: p[1:] for p in parts[2:]}
        self.assertEqual(int(flags[b"f"]), r["flags"], r["key"][:40])
        self.assertEqual(int(flags[b"c"]), r["cas"], r["key"][:40])
        ttl = int(flags[b"t"])
        if r["exptime"] == 0:
            self.assertEqual(ttl, -1, r["key"][:40])
        else:
            self.assertLessEqual(abs(ttl - (r["exptime"] - time.time())), 2,
                                 r["key"][:40])
        if text_key(r["key"]):      # the classic protocol agrees
            c.send(b"gets %s\r\n" % r["key"])
            items, tail = c.read_values()
            self.assertEqual(tail, b"END\r\n")
            self.assertEqual([(k, f, cas) for k, f, _, cas in items],
                             [(r["key"], r["flags"], r["cas"])])
            self.assertTrue(items[0][2] == r["value"])

    def check_state(self, c):
        """Format 2's item state (stale, won, fetched, binary key); every
        record of format 1 comes back without any."""
        for r in self.live:
            state = set(r["state"]) - {"explicit_cas"}
            if not state and self.FORMAT >= 2 and r["key"] != b"plain":
                continue        # one stateless record is enough below
            key, flag = wire(r["key"])
            line = c.request(b"mg %s%s h k\r\n" % (key, flag))
            want = [b"HD", b"h1" if "fetched" in state else b"h0",
                    b"k" + key] + ([b"b"] if flag else [])
            if "stale" in state:
                # the recache win was handed out before the snapshot (Z),
                # or this first fetch since the invalidation gets it (W)
                want += [b"X", b"Z" if "won" in state else b"W"]
            self.assertEqual(sorted(line.split()), sorted(want),
                             (r["key"], r["state"]))


class Format1(Golden, unittest.TestCase):
    """Written by emberd at 4a4580d (c475529^, the last format-1 writer)."""
    NAME, FORMAT = "format1", 1


class Format2(Golden, unittest.TestCase):
    """Written by emberd at 1d359de (format 2)."""
    NAME, FORMAT = "format2", 2

    def test_fixture_has_every_state(self):
        states = {s for r in self.records for s in r["state"]}
        self.assertEqual(states, {"stale", "won", "fetched", "binary_key",
                                  "explicit_cas"})


if __name__ == "__main__":
    ember.run_tests()
