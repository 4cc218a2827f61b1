"""The scale benchmark's tools at tiny N (issue 12), against the real
emberd (and Debian's redis-server when it is installed).

ScaleFill: scalefill fills emberd and --check finds every value again;
a value of another generation, or a missing key, fails the check by name;
the corpus values are JSON records of the documented shape built from the
word list, the same for the same seed and different for another one; a
missing word list and bad options exit 2.

BenchScale: tools/bench/bench-scale.sh end to end at 3,000 items: emberd
alone (both kinds of value), and with Redis when it is installed (skipped
visibly otherwise); its table has one row per server and kind with
numbers in every column that applies (for emberd also the load with a
snapshot every second), the ratios to Redis and the goals.
It fails (exit 1, naming the check) when emberd loses the changes of a
kill -9 (--journal=off), and exits 2 on bad usage.

ember-only: skips on memcached.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import ember

ITEMS = 3000
PREFIX = "t:"


def builddir():
    return os.path.join(os.path.dirname(ember.emberd_path()), "..")


def scalefill_path():
    return os.path.join(builddir(), "tools", "bench", "scalefill")


def script_path():
    src = os.environ.get("EMBER_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.join(src, "tools", "bench", "bench-scale.sh")


def have_redis():
    return shutil.which("redis-server") and shutil.which("redis-cli")


def scalefill(port, *args, timeout=60):
    argv = [scalefill_path(), "-S", "127.0.0.1:%d" % port, "-n",
            str(ITEMS), "--prefix", PREFIX, "--kv"] + list(args)
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)


def kv(line):
    return dict(f.split("=", 1) for f in line.split())


class ScaleFill(ember.TestCase):
    SERVER_ARGS = ("-m", "64")

    @classmethod
    def setUpClass(cls):
        ember.skip_unless_ember("scalefill fills emberd")
        if not os.access(scalefill_path(), os.X_OK):
            raise unittest.SkipTest("scalefill not built")
        super().setUpClass()

    def fill(self, *args):
        r = scalefill(self.server.port, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return kv(r.stdout)

    def test_fill_then_check_every_key(self):
        before = int(self.conn().stats()["curr_items"])
        for kind in ("fixed", "corpus"):
            got = self.fill("-V", kind, "--prefix", kind + ":")
            self.assertEqual(int(got["items"]), ITEMS)
            self.assertEqual(int(got["server_errors"]), 0)
            back = self.fill("-V", kind, "--prefix", kind + ":", "--check")
            self.assertEqual(back["value_bytes"], got["value_bytes"])
            self.assertEqual(int(back["mismatches"]), 0)
        self.assertEqual(int(self.conn().stats()["curr_items"]),
                         before + 2 * ITEMS)

    def test_check_fails_on_wrong_or_missing_values(self):
        self.fill("-V", "corpus")
        self.fill("-V", "corpus", "--step", "100", "--gen", "1")
        r = scalefill(self.server.port, "-V", "corpus", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(int(kv(r.stdout)["mismatches"]), ITEMS // 100)
        self.assertIn("key %s0:" % PREFIX, r.stderr)
        r = scalefill(self.server.port, "-V", "corpus", "--check",
                      "--prefix", "never-set:")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(int(kv(r.stdout)["misses"]), ITEMS)

    def test_corpus_records(self):
        self.fill("-V", "corpus", "--seed", "7")
        c = self.conn()
        with open("/usr/share/dict/words") as f:
            words = {w.strip().lower() for w in f}
        for i in (0, 1, 2999):
            key = (PREFIX + str(i)).encode()
            rec = json.loads(c.get(key)[key])
            self.assertEqual(rec["id"], i)
            self.assertEqual(set(rec), {"id", "name", "email", "age", "tags",
                                        "bio", "created", "active"})
            bio = rec["bio"].rstrip(".").lower().split()
            self.assertTrue(10 <= len(bio) <= 30, rec["bio"])
            self.assertTrue(set(bio) <= words, rec["bio"])
            first, last = rec["name"].lower().split()
            self.assertTrue(rec["email"].startswith(first + "." + last))
        # deterministic by seed, and the seed matters
        one = self.fill("-V", "corpus", "--seed", "7", "--dry")
        two = self.fill("-V", "corpus", "--seed", "7", "--dry")
        other = self.fill("-V", "corpus", "--seed", "8", "--dry")
        self.assertEqual(one["value_bytes"], two["value_bytes"])
        self.assertNotEqual(one["value_bytes"], other["value_bytes"])

    def test_bad_usage_exits_2(self):
        for args in (["--words", "/nonexistent/words", "-V", "corpus"],
                     ["-V", "pictures"], ["-P", "100000"], ["-c", "0"],
                     ["--step", "0"], ["-s", "99999"]):
            r = scalefill(self.server.port, *args)
            self.assertEqual(r.returncode, 2, args)
        r = scalefill(self.server.port, "--words", "/nonexistent/words",
                      "-V", "corpus")
        self.assertIn("/nonexistent/words", r.stderr)


class BenchScale(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ember.skip_unless_ember("bench-scale.sh measures emberd")
        ember.require_server()

    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="bench-scale-test.")

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def run_script(self, *args, env=None):
        e = dict(os.environ)
        bench = os.path.join(builddir(), "tools", "bench")
        e.update(EMBERBENCH=os.path.join(bench, "emberbench"),
                 SCALEFILL=os.path.join(bench, "scalefill"))
        e.update(env or {})
        argv = ["/bin/bash", script_path(), "-n", "3k", "-d", "0.3",
                "-w", "0.1", "-p", str(ember.free_port()), "-o",
                self.out] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, env=e,
                              timeout=180)

    def rows(self, out):
        return [[c.strip() for c in l.strip("|").split("|")]
                for l in out.splitlines()
                if re.match(r"\| (fixed|corpus) \| (emberd|redis) ", l)]

    def check_row(self, row, server):
        self.assertEqual(row[1], server)
        cells = row[2:]
        na = {"emberd": (), "redis": (3, 5, 17, 18, 20)}[server]
        for i, cell in enumerate(cells):
            if i in na:
                self.assertEqual(cell, "-", row)
            else:
                self.assertRegex(cell, r"^[0-9]+(\.[0-9]+)?$", row)

    def test_emberd_alone(self):
        r = self.run_script("-R")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        rows = self.rows(r.stdout)
        self.assertEqual([x[0] for x in rows], ["fixed", "corpus"])
        for row in rows:
            self.check_row(row, "emberd")
        raw = [kv(l) for l in open(os.path.join(self.out, "raw.kv"))]
        self.assertEqual([x["items"] for x in raw], ["3000", "3000"])
        for x in raw:
            self.assertEqual(int(x["inc_items"]), ITEMS // 100)
            self.assertGreaterEqual(int(x["replayed"]), ITEMS // 100)
            self.assertGreaterEqual(int(x["inc_snaps"]), 1)
        self.assertIn("- warm restart: ", r.stdout)
        self.assertIn("- snapshot / raw bytes: ", r.stdout)
        self.assertIn("- ops/s with a snapshot every second: ", r.stdout)
        self.assertNotIn("Redis", r.stdout.split("#### ")[-1])

    def test_with_redis(self):
        if not have_redis():
            self.skipTest("redis-server/redis-cli not installed")
        r = self.run_script("-V", "fixed")
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        rows = self.rows(r.stdout)
        self.assertEqual([x[1] for x in rows], ["emberd", "redis"])
        self.check_row(rows[1], "redis")
        self.assertRegex(r.stdout, r"emberd / Redis: restart [0-9.]+x, "
                         r"full snapshot / BGSAVE [0-9.]+x")
        self.assertIn("- restart / Redis RDB load: ", r.stdout)

    def test_lost_changes_fail_the_run(self):
        r = self.run_script("-R", "-V", "fixed",
                            env={"EMBERD_ARGS": "--journal=off"})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("scalefill --check --step 100 --gen 2 failed",
                      r.stderr)

    def test_bad_usage(self):
        for args in (["-V", "pictures"], ["-n", "many"], ["-t", "x"],
                     ["extra"]):
            self.assertEqual(self.run_script(*args).returncode, 2, args)


if __name__ == "__main__":
    ember.run_tests()
