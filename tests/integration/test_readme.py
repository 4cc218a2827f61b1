"""The README's client example runs as written, with what build.sh
installs (bash's /dev/tcp: no netcat), against a real emberd, and prints
what the README shows."""

import os
import re
import subprocess
import unittest

import ember


def readme():
    src = os.environ.get("EMBER_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "README.md")) as f:
        return f.read()


def shell_examples(text):
    """Each ```sh block of TEXT written as a session: (commands, output),
    the commands being the lines after "$ ", the output the other lines."""
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("$ "):
            continue
        cmds = [line[2:] for line in lines if line.startswith("$ ")]
        out = [line for line in lines if not line.startswith("$ ")]
        yield cmds, out


class ReadmeExamples(ember.TestCase):
    def test_client_example(self):
        sessions = [(cmds, out) for cmds, out in shell_examples(readme())
                    if any("127.0.0.1/11211" in c for c in cmds)]
        self.assertEqual(len(sessions), 1, "the README's client example")
        cmds, want = sessions[0]
        self.assertTrue(want, "the example shows its output")
        script = "\n".join(c.replace("/11211", "/%d" % self.server.port)
                           for c in cmds)
        self.assertNotIn("nc ", script)
        proc = subprocess.run(["bash", "-c", "set -e\n" + script],
                              capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = proc.stdout.decode().replace("\r\n", "\n").splitlines()
        self.assertEqual(got, want)

    def test_no_netcat_in_readme(self):
        # build.sh does not install netcat: no example may need it
        self.assertIsNone(re.search(r"\|\s*nc\b|\bnc -q", readme()))


if __name__ == "__main__":
    ember.run_tests()
