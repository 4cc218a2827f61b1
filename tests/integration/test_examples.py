"""The application developer's examples (examples/, linked from the
README) run as written against the real emberd and Debian's memcached:
cache_aside.py's pattern, and restart_demo.py's measurement, briefly.

The restart test is the one a broken persistence fails: after kill -9 and
after SIGTERM, ember comes back warm, so the database answers (almost) no
read once it is back; memcached, run the same way, comes back empty and
the database answers most products again (which shows the measurement
can tell the two apart)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import ember


def examples_dir():
    src = os.environ.get("EMBER_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.join(src, "examples")


def example(name):
    return os.path.join(examples_dir(), name)


ROWS = 300


def readme_session():
    """examples/README.md's cache_aside.py command line (its arguments)
    and the output it shows."""
    with open(example("README.md")) as f:
        text = f.read()
    m = re.search(r"examples/cache_aside\.py([^\n]*)\n```\n+```text\n"
                  r"(.*?)```", text, re.S)
    return m.group(1).split(), m.group(2).splitlines()


class CacheAside(ember.TestCase):
    def test_runs_as_the_readme_shows(self):
        args, want = readme_session()
        self.assertTrue(want)
        proc = subprocess.run([sys.executable, example("cache_aside.py"),
                               "--port", str(self.server.port)] + args,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(), want)
        with self.server.connect() as c:
            got = c.get(b"product:7")
            self.assertEqual(json.loads(got[b"product:7"]),
                             {"id": 7, "name": "product 7",
                              "price_cents": 359, "stock": 7})
            # the update deleted product 1 and the next read refilled it
            got = c.get(b"product:1")
            self.assertEqual(json.loads(got[b"product:1"])["stock"], 0)


class RestartDemo(unittest.TestCase):
    """restart_demo.py for 6 s (restart at 1.5 s, 400 reads/s over
    300 products), each cache restarted with kill -9 and with SIGTERM.
    The script starts its own servers."""

    def setUp(self):
        ember.require_server("emberd")

    def run_demo(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "runs.json")
            out_svg = os.path.join(tmp, "chart.svg")
            env = dict(os.environ, EMBERD=ember.emberd_path(),
                       MEMCACHED=ember.MEMCACHED)
            proc = subprocess.run(
                [sys.executable, example("restart_demo.py"), "--seconds",
                 "6", "--restart-at", "1.5", "--rate", "400", "--rows",
                 str(ROWS), "--json", out_json, "--svg", out_svg] +
                list(args), capture_output=True, text=True, timeout=180,
                env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(out_json) as f:
                runs = json.load(f)
            with open(out_svg) as f:
                chart = f.read()
        return proc.stdout, runs, chart

    def test_ember_comes_back_warm(self):
        out, runs, chart = self.run_demo("--only", "ember")
        self.assertEqual([(r["kind"], r["how"]) for r in runs],
                         [("ember", "kill"), ("ember", "term")])
        for r in runs:
            self.assertGreater(r["reads_after_up"], 200, r)
            # it was restarted: a new process, and while it was away
            # the database answered reads ...
            self.assertNotEqual(r["pids"][0], r["pids"][1], r)
            self.assertGreater(r["db_while_down"], 0, r)
            # ... once back, (almost) none: the items were all there
            self.assertLessEqual(r["db_after_up"], ROWS // 50, r)
            self.assertRegex(out, r"\n%s: +down [0-9.]+ s " % (
                "ember kill -9" if r["how"] == "kill" else "ember SIGTERM"))
        self.assertTrue(chart.startswith("<svg "), chart[:80])
        self.assertEqual(chart.count("<polyline"), 2)

    def test_memcached_comes_back_cold(self):
        ember.require_memcached("the demo's contrast")
        out, runs, chart = self.run_demo("--only", "memcached", "--how",
                                         "kill")
        self.assertEqual(len(runs), 1)
        r = runs[0]
        # 400 reads/s for ~4 s over 300 products: most are missed once
        self.assertGreater(r["db_after_up"], ROWS // 2, r)
        self.assertIn("memcached kill -9:", out)


if __name__ == "__main__":
    ember.run_tests()
