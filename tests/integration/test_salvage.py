"""Salvage (ember only): one flipped byte in one block of a 100 k-item
snapshot. emberd, with the default --snapshot-on-corrupt (salvage),
serves; every key outside the damaged block's range is there with its
value, the journal written after the snapshot is applied on top, the
damaged snapshot is kept aside, one log line says how much was skipped,
and `embersnap verify` of the damaged copy counts what emberd then holds.
"""

import glob
import os
import re
import time

import ember

N = 100000


def setUpModule():
    ember.skip_unless_ember("snapshot salvage")
    ember.require_server()


def key(i):
    return b"s:%06d" % i


def value(i):
    return b"v%06d-" % i * 4


def bulk_set(c, lo, hi):
    """Set keys LO..HI-1 pipelined (noreply), then wait for all of them."""
    for at in range(lo, hi, 5000):
        c.send(b"".join(b"set %s 0 0 %d noreply\r\n%s\r\n"
                        % (key(i), len(value(i)), value(i))
                        for i in range(at, min(at + 5000, hi))))
        if c.request(b"mn\r\n") != b"MN\r\n":
            raise AssertionError("the sets were not all taken")


def flip_in_block(path, i):
    """Flip one byte of key I's value inside its (raw) block, in every
    copy of it in PATH; returns the number of copies."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        k, v = key(i), value(i)[:4]
        at, n = data.find(k), 0
        while at >= 0:
            if data[at + len(k):at + len(k) + 4] == v:
                data[at + len(k) + 2] ^= 0x20
                n += 1
            at = data.find(k, at + 1)
        f.seek(0)
        f.write(data)
    return n


class Salvage(ember.SnapshotDirCase):
    def present(self, c):
        """Which of the N keys are there; a wrong value fails."""
        have = set()
        for at in range(0, N, 100):
            got = c.get(*[key(i) for i in range(at, min(at + 100, N))])
            for k, v in got.items():
                i = int(k[2:])
                self.assertEqual(v, value(i), k)
                have.add(i)
        return have

    def test_one_flipped_block_byte(self):
        s = self.server("--snapshot-dir=" + self.dir,
                        "--snapshot-compression=0", "-m", "256")
        with s.connect() as c:
            bulk_set(c, 0, N)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                             b"OK\r\n")
            # after the snapshot: only in the journal
            self.assertEqual(c.set(b"j:new", b"journal"), b"STORED\r\n")
            self.assertEqual(c.request(b"delete %s\r\n" % key(123)),
                             b"DELETED\r\n")
        s.kill()
        self.assertGreater(flip_in_block(os.path.join(self.dir, "data.mdb"),
                                         50000), 0)

        s = self.server("--snapshot-dir=" + self.dir, "-m", "256")
        log = s.output()
        m = re.search(r"salvaged the damaged snapshot in \S+: (\d+) items "
                      r"loaded, (\d+) records skipped \(1 damaged block\)",
                      log)
        self.assertIsNotNone(m, log)
        loaded, skipped = int(m.group(1)), int(m.group(2))
        self.assertEqual(log.count("salvage skipped: "), 1, log)
        with s.connect() as c:
            have = self.present(c)
            st = c.stats()
            self.assertEqual(c.get(b"j:new"), {b"j:new": b"journal"})
        missing = set(range(N)) - have
        self.assertNotIn(50000, have)
        self.assertNotIn(123, have)            # the journal's delete
        missing.discard(123)
        self.assertGreater(len(missing), 100)
        self.assertLess(len(missing), 3000)    # one block, ~1.3 k records
        self.assertIn(skipped, (len(missing), len(missing) + 1))
        self.assertEqual(loaded, N - len(missing) - (skipped - len(missing)))
        self.assertEqual(st["warm_restart_salvaged"], "1")
        self.assertEqual(st["warm_restart_records_damaged"], str(skipped))
        self.assertEqual(st["warm_restart_blocks_damaged"], "1")
        self.assertEqual(s.stats("settings")["snapshot_on_corrupt"],
                         "salvage")
        self.assertEqual(int(st["curr_items"]), len(have) + 1)

        # the damaged snapshot kept aside, as it was
        aside = glob.glob(self.dir + ".damaged-*")
        self.assertEqual(len(aside), 1, os.listdir(self.tmp))
        self.assertIn("moved %s aside to %s" % (self.dir, aside[0]), log)
        rc, out, err = ember.embersnap("verify", "-q", aside[0])
        self.assertEqual(rc, 1, err)
        self.assertIn(b"fail: refuses to start; cold: 0 items; salvage: "
                      b"%d live items of the %d in meta (%d records "
                      b"skipped, 1 damaged block" % (loaded, N, skipped),
                      out)

        # a full snapshot into a fresh directory, as soon as it serves
        deadline = time.monotonic() + 30
        while s.stats()["snapshot_count"] == "0":
            self.assertLess(time.monotonic(), deadline, "no snapshot")
            time.sleep(0.1)
        self.assertEqual(s.stats()["snapshot_last_full"], "1")
        self.assertEqual(s.stats()["snapshot_last_status"], "ok")
        s.stop()
        s = self.server("--snapshot-dir=" + self.dir, "-m", "256")
        with s.connect() as c:
            self.assertEqual(self.present(c), have)
            self.assertEqual(c.stats()["warm_restart_salvaged"], "0")
        s.stop()
        rc, out, err = ember.embersnap("verify", "-q", self.dir)
        self.assertEqual(rc, 0, out + err.encode())
        self.assertIn(b"every policy loads the %d live items" % (len(have) + 1),
                      out)


if __name__ == "__main__":
    ember.run_tests()
