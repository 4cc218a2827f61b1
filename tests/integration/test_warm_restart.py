"""Warm restart (ember only): items, flags, TTLs and CAS survive a graceful
restart and a kill -9 after a durable snapshot; damaged or foreign snapshot
directories are refused (or moved aside), never silently overwritten.

Skipped on memcached (no persistence).  On emberd persistence is required:
a build that cannot snapshot fails here, it is not skipped."""

import glob
import hashlib
import os
import pwd
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import ember


def setUpModule():
    ember.skip_unless_ember("snapshots and warm restart")
    ember.require_server()


def make_items(seed, n):
    """N (key, flags, value) with mixed sizes, compressible or not."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        size = rng.choice((0, 1, 50, 300, 2000, 20000, 200000))
        if i % 2:
            value = bytes(rng.getrandbits(8) for _ in range(min(size, 3000)))
            value = (value * (size // max(len(value), 1) + 1))[:size]
        else:
            value = (b'{"id": %d, "name": "user%d", "tags": ["a", "b"]}'
                     % (i, i) * (size // 40 + 1))[:size]
        out.append((b"wr%d:%05d" % (seed, i), i * 7919 % 2 ** 32, value))
    return out


def store_all(conn, items, exptime=0):
    for k, f, v in items:
        if conn.set(k, v, flags=f, exptime=exptime) != b"STORED\r\n":
            raise AssertionError("set %r failed" % k)


class WarmRestart(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-wr-")
        self.dir = os.path.join(self.tmp, "snap")
        self.servers = []
        self.mounts = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *extra, interval=3600):
        s = ember.Server("--snapshot-dir=" + self.dir,
                         "--snapshot-interval=%d" % interval, *extra)
        self.servers.append(s)
        return s.start()

    def assert_items(self, conn, items):
        for k, f, v in items:
            conn.send(b"get %s\r\n" % k)
            got, tail = conn.read_values()
            self.assertEqual(tail, b"END\r\n")
            self.assertEqual(len(got), 1, "%r lost across restart" % k)
            self.assertEqual(got[0][1], f, "flags of %r" % k)
            self.assertTrue(got[0][2] == v, "value of %r changed" % k)

    def cas_map(self, conn, items):
        return {k: conn.gets(k)[1] for k, _, _ in items}

    def test_graceful_restart(self):
        items = make_items(1, 200)
        gone = items[:20]
        keep = items[20:]
        s1 = self.start()
        with s1.connect() as c:
            store_all(c, items)
            short = [(b"short%d" % i, 0, b"s") for i in range(5)]
            medium = [(b"medium%d" % i, 1, b"m") for i in range(5)]
            t0 = time.monotonic()
            store_all(c, short, exptime=2)
            store_all(c, medium, exptime=6)
            for k, _, _ in gone:
                self.assertEqual(c.request(b"delete %s\r\n" % k),
                                 b"DELETED\r\n")
            cas_before = self.cas_map(c, keep)
        s1.stop()
        # a 1 s clock may keep a TTL 2 item until 3 s after it was set
        time.sleep(max(0, t0 + 3.1 - time.monotonic()))
        s2 = self.start()
        with s2.connect() as c:
            self.assert_items(c, keep)
            self.assertEqual(c.get(*[k for k, _, _ in gone]), {})
            self.assertEqual(c.get(*[k for k, _, _ in short]), {},
                             "expired while down, yet loaded")
            self.assertEqual(len(c.get(*[k for k, _, _ in medium])), 5)
            self.assertEqual(self.cas_map(c, keep), cas_before,
                             "an unchanged item's CAS changed")
            c.set(b"fresh", b"x")
            self.assertGreater(c.gets(b"fresh")[1], max(cas_before.values()))
            st = c.stats()
            self.assertEqual(int(st["warm_restart_items_loaded"]),
                             len(keep) + len(medium))
            self.assertEqual(int(st["curr_items"]), len(keep) + 6)
            # the remaining TTL was kept, not reset to "never"
            time.sleep(max(0, t0 + 7.1 - time.monotonic()))
            self.assertEqual(c.get(*[k for k, _, _ in medium]), {})
        s2.stop()

    def test_kill9_after_snapshot_command(self):
        durable = make_items(2, 100)
        later = make_items(3, 20)
        s1 = self.start()
        with s1.connect() as c:
            store_all(c, durable)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            store_all(c, later)
            max_cas = max(self.cas_map(c, durable + later).values())
        s1.kill()
        s2 = self.start()
        with s2.connect() as c:
            self.assert_items(c, durable)
            c.set(b"fresh", b"x")
            self.assertGreater(c.gets(b"fresh")[1], max_cas,
                               "a CAS value was handed out twice")
        s2.stop()

    def test_interval_snapshot_survives_kill9(self):
        items = make_items(4, 50)
        s1 = self.start(interval=1)
        with s1.connect() as c:
            store_all(c, items)
            written = int(time.time())

            def committed():
                st = c.stats()
                return (int(st["snapshot_count"]) > 0 and
                        int(st["snapshot_last_time"]) > written)
            self.assertTrue(ember.wait_for(committed, 5, 0.2),
                            "no interval snapshot within 5 s")
        s1.kill()
        s2 = self.start()
        with s2.connect() as c:
            self.assert_items(c, items)
        s2.stop()

    def test_flush_all_persists(self):
        items = make_items(5, 30)
        s1 = self.start()
        with s1.connect() as c:
            store_all(c, items)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            c.request(b"flush_all\r\n")
        s1.stop()
        s2 = self.start()
        with s2.connect() as c:
            self.assertEqual(c.get(*[k for k, _, _ in items]), {})
            self.assertEqual(int(c.stats()["curr_items"]), 0)
        s2.stop()

    def test_second_daemon_on_same_dir_refused(self):
        s1 = self.start()
        s2 = ember.Server("--snapshot-dir=" + self.dir)
        self.servers.append(s2)
        with self.assertRaises(ember.ServerError):
            s2.start()
        self.assertTrue(s1.alive())
        s1.stop()

    def corrupt_snapshot(self):
        """Write an incompressible value, snapshot, stop; flip one byte of
        the stored value. Returns the digest of the damaged file."""
        rng = random.Random(6)
        value = bytes(rng.getrandbits(8) for _ in range(4000))
        s1 = self.start()
        with s1.connect() as c:
            c.set(b"victim", value)
            c.set(b"other", b"o")
        s1.stop()
        path = os.path.join(self.dir, "data.mdb")
        with open(path, "r+b") as f:
            data = f.read()
            at = data.find(value[1000:1100])
            self.assertGreaterEqual(at, 0, "value not stored raw in "
                                    "data.mdb; cannot aim the damage")
            f.seek(at + 50)
            f.write(bytes([data[at + 50] ^ 0xFF]))
        return digest_dir(self.dir)

    def test_corrupt_snapshot_refused(self):
        before = self.corrupt_snapshot()
        s = ember.Server("--snapshot-dir=" + self.dir,
                         "--snapshot-on-corrupt=fail")
        self.servers.append(s)
        with self.assertRaises(ember.ServerError):
            s.start()
        self.assertIn(self.dir, s.output(), "message must name the dir")
        self.assertEqual(digest_dir(self.dir), before,
                         "the damaged snapshot was modified")

    def test_corrupt_snapshot_salvaged_by_default(self):
        # the default policy: what verifies loads (here nothing: the one
        # block holds both keys), the damaged snapshot is kept aside whole
        before = self.corrupt_snapshot()
        s = self.start()
        with s.connect() as c:
            self.assertEqual(c.get(b"victim", b"other"), {})
            self.assertEqual(c.stats()["warm_restart_blocks_damaged"], "1")
        moved = glob.glob(self.dir + ".damaged-*")
        self.assertEqual(len(moved), 1, os.listdir(self.tmp))
        self.assertEqual(digest_dir(moved[0]), before)
        self.assertIn("0 items loaded, 2 records skipped (1 damaged block)",
                      s.output())
        s.stop()

    def test_corrupt_snapshot_moved_aside(self):
        before = self.corrupt_snapshot()
        s = self.start("--snapshot-on-corrupt=cold")
        with s.connect() as c:
            self.assertEqual(c.get(b"victim", b"other"), {})
        moved = glob.glob(self.dir + ".corrupt-*")
        self.assertEqual(len(moved), 1, os.listdir(self.tmp))
        self.assertEqual(digest_dir(moved[0]), before)
        s.stop()

    def test_corrupt_record_named_by_embersnap(self):
        self.corrupt_snapshot()
        rc, out, err = embersnap("verify", self.dir)
        self.assertEqual(rc, 1, err)
        # format 3: the damaged block (both keys are in it) is named by
        # its run and last key; a lookup of either key says so
        self.assertRegex(out, rb"corrupt: block of run 1 ending at key "
                         rb"'(victim|other)': block checksum")
        for key in ("victim", "other"):
            rc, out, err = embersnap("get", key, self.dir)
            self.assertNotEqual(rc, 0)
            self.assertEqual(out, b"")
            self.assertIn("block checksum", err)

    def test_embersnap_reads_what_emberd_wrote(self):
        items = make_items(8, 60)
        s1 = self.start()
        with s1.connect() as c:
            store_all(c, items)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            # embersnap is safe beside a running writer
            rc, out, err = embersnap("verify", self.dir)
            self.assertEqual(rc, 0, err + out.decode(errors="replace"))
        s1.stop()
        rc, out, err = embersnap("verify", self.dir)
        self.assertEqual(rc, 0, err + out.decode(errors="replace"))
        for k, _, v in items[:5]:
            rc, out, err = embersnap("get", k.decode(), self.dir)
            self.assertEqual(rc, 0, err)
            self.assertTrue(out == v, "embersnap get %r differs" % k)
        self.assertEqual(embersnap("get", "no-such-key", self.dir)[0], 1)
        # warm a memcached from ember's snapshot
        ember.require_memcached("embersnap load into memcached")
        with ember.Server(kind="memcached") as mc:
            rc, out, err = embersnap("load", "127.0.0.1:%d" % mc.port,
                                     self.dir)
            self.assertEqual(rc, 0, err)
            with mc.connect() as c:
                self.assert_items(c, items)

    def test_future_format_version_refused(self):
        s1 = self.start()
        with s1.connect() as c:
            c.set(b"k", b"v")
        s1.stop()
        # meta `format_version` is a u64 LE right after its key in the
        # LMDB leaf (docs/SNAPSHOT-FORMAT.md); patch every copy to 99
        path = os.path.join(self.dir, "data.mdb")
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            name = b"format_version"
            known = [(n).to_bytes(8, "little") for n in (1, 2, 3)]
            at, patched = data.find(name), 0
            while at >= 0:
                v = at + len(name)
                if data[v:v + 8] in known:
                    data[v:v + 8] = (99).to_bytes(8, "little")
                    patched += 1
                at = data.find(name, at + 1)
            self.assertGreater(patched, 0, "format_version not found")
            f.seek(0)
            f.write(data)
        before = digest_dir(self.dir)
        for policy in ("fail", "cold"):
            s = ember.Server("--snapshot-dir=" + self.dir,
                             "--snapshot-on-corrupt=" + policy)
            self.servers.append(s)
            if policy == "fail":
                with self.assertRaises(ember.ServerError):
                    s.start()
                self.assertIn("version", s.output().lower())
                self.assertEqual(digest_dir(self.dir), before)
            else:
                # docs/SNAPSHOT-OPERATIONS.md: `cold` keeps a newer format
                # as DIR.newer-..., untouched, and starts empty
                s.start()
                with s.connect() as c:
                    self.assertEqual(c.get(b"k"), {})
                s.stop()
                moved = glob.glob(self.dir + ".*")
                self.assertEqual(len(moved), 1, os.listdir(self.tmp))
                self.assertRegex(os.path.basename(moved[0]),
                                 r"^snap\.newer-\d{8}T\d{6}Z$")
                self.assertEqual(digest_dir(moved[0]), before)
                self.assertIn("moved %s aside to %s" % (self.dir, moved[0]),
                              s.output())

    def test_foreign_directory_untouched(self):
        os.makedirs(self.dir)
        note = os.path.join(self.dir, "notes.txt")
        with open(note, "w") as f:
            f.write("not a snapshot\n")
        before = digest_dir(self.dir)
        for policy in ("fail", "cold"):
            s = ember.Server("--snapshot-dir=" + self.dir,
                             "--snapshot-on-corrupt=" + policy)
            self.servers.append(s)
            with self.assertRaises(ember.ServerError):
                s.start()
            self.assertEqual(digest_dir(self.dir), before)
            self.assertEqual(glob.glob(self.dir + ".*"), [])

    def test_kill9_at_random_moments(self):
        """A crash at any instant leaves the previous snapshot whole: every
        item a `snapshot` acknowledged is back after each of several
        kill -9s landing while writes and interval snapshots run."""
        rng = ember.rng(9)
        durable = []
        for round_ in range(3):
            s = self.start(interval=1)
            with s.connect() as c:
                self.assert_items(c, durable)
                batch = [(b"r%d:%04d" % (round_, i), round_, b"d" * 1000)
                         for i in range(1500)]
                store_all(c, batch)
                self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                                 b"OK\r\n")
                durable += batch
                noise = [(b"n%d:%04d" % (round_, i), 0, b"n" * 3000)
                         for i in range(3000)]
                for k, f, v in noise:
                    c.send(b"set %s %d 0 %d noreply\r\n%s\r\n"
                           % (k, f, len(v), v))
                # somewhere within the next interval snapshot
                time.sleep(rng.random() * 1.2)
            s.kill()
        s = self.start()
        with s.connect() as c:
            self.assert_items(c, durable)
        s.stop()

    def test_incremental_snapshots_in_stats(self):
        items = make_items(10, 50)
        s = self.start()
        with s.connect() as c:
            store_all(c, items)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            st = c.stats()
            self.assertEqual(int(st["snapshot_count"]), 1)
            self.assertEqual(int(st["snapshot_items"]), 50)
            self.assertEqual(int(st["snapshot_last_items_written"]), 50)
            self.assertLess(abs(int(st["snapshot_last_time"]) - time.time()),
                            5)
            self.assertGreater(int(st["snapshot_bytes_on_disk"]), 0)
            for k, _, _ in items[:3]:
                c.request(b"delete %s\r\n" % k)
            c.set(items[3][0], b"changed")
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            st = c.stats()
            self.assertEqual(int(st["snapshot_count"]), 2)
            self.assertEqual(int(st["snapshot_items"]), 47)
            # only what changed is written: one item and three deletions
            self.assertEqual(int(st["snapshot_last_items_written"]), 1)
            self.assertEqual(int(st["snapshot_last_keys_removed"]), 3)
            self.assertEqual(int(st["snapshot_last_full"]), 0)
            self.assertEqual(int(st["snapshot_failures"]), 0)
        s.stop()

    def test_snapshot_command_without_persistence(self):
        with ember.Server() as s, s.connect() as c:
            reply = c.request(b"snapshot\r\n")
            self.assertTrue(reply.startswith(b"SERVER_ERROR "), reply)
            self.assertTrue(c.is_open())

    def test_snapshot_noreply_answers_nothing(self):
        """`snapshot noreply` takes the snapshot and sends nothing (it
        used to answer OK, so every later reply was out of step); its
        errors are silent too, as noreply makes them for other commands."""
        s = self.start()
        with s.connect(timeout=30) as c:
            c.set(b"k", b"v")
            before = int(c.stats()["snapshot_count"])
            c.send(b"snapshot noreply\r\n")
            self.assertTrue(c.request(b"version\r\n", timeout=30)
                            .startswith(b"VERSION "))
            self.assertEqual(int(c.stats()["snapshot_count"]), before + 1)
            c.send(b"snapshot now noreply\r\n")
            c.expect_nothing()
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
        with ember.Server() as s2, s2.connect() as c:
            c.send(b"snapshot noreply\r\n")      # SERVER_ERROR, silenced
            c.expect_nothing()
            self.assertTrue(c.request(b"version\r\n")
                            .startswith(b"VERSION "))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to test -u")
    def test_snapshot_as_unprivileged_user(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        os.chmod(self.tmp, 0o777)
        s1 = self.start("-u", "nobody")
        with s1.connect() as c:
            c.set(b"k", b"v")
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
        s1.stop()
        owners = {os.stat(os.path.join(self.dir, f)).st_uid
                  for f in os.listdir(self.dir)}
        self.assertEqual(owners, {nobody}, "snapshot files not the user's")
        self.assertEqual(os.stat(self.dir).st_mode & 0o077, 0,
                         "snapshot dir readable by others")
        s2 = self.start("-u", "nobody")
        with s2.connect() as c:
            self.assertEqual(c.get(b"k"), {b"k": b"v"})
        s2.stop()
        # a directory the user cannot create: a clear refusal
        os.chmod(self.tmp, 0o700)
        self.dir = os.path.join(self.tmp, "other")
        s3 = ember.Server("-u", "nobody", "--snapshot-dir=" + self.dir)
        self.servers.append(s3)
        with self.assertRaises(ember.ServerError):
            s3.start()
        self.assertIn(self.dir, s3.output())

    def test_evicted_item_not_resurrected_stale(self):
        """K=v1 is snapshotted, then K=v2 is written and evicted before
        the next snapshot: after a restart K must be v2 or gone, never the
        stale v1 (an eviction must reach the snapshot as a removal)."""
        keys = [b"stale%d" % i for i in range(20)]
        # filler of the same size: eviction works per size class
        v1, v2, filler = b"1" * 4000, b"2" * 4000, b"f" * 4000
        s1 = self.start("-m", "8")
        with s1.connect() as c:
            for k in keys:
                c.set(k, v1)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            for k in keys:
                c.set(k, v2)
            for i in range(0, 8000, 100):
                c.send(b"".join(b"set fill%05d 0 0 %d noreply\r\n%s\r\n"
                                % (j, len(filler), filler)
                                for j in range(i, i + 100)))
            self.assertTrue(c.is_open())
            left = c.get(*keys)
            self.assertLess(len(left), len(keys), "nothing was evicted")
            self.assertEqual(set(left.values()) - {v2}, set())
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
        s1.stop()
        s2 = self.start("-m", "8")
        with s2.connect() as c:
            back = c.get(*keys)
            self.assertNotIn(v1, back.values(),
                             "a stale value came back for %d keys" %
                             sum(v == v1 for v in back.values()))
        s2.stop()

    def test_expired_item_not_resurrected_stale(self):
        """K=v1 is snapshotted, then rewritten with a 1 s TTL that runs
        out before the next snapshot: after a restart K is gone, with or
        without a get having noticed the expiry first."""
        s1 = self.start()
        with s1.connect() as c:
            for k in (b"seen", b"unseen"):
                c.set(k, b"v1")
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
            before = int(c.stats()["time"])
            for k in (b"seen", b"unseen"):
                c.set(k, b"v2", exptime=1)
            # past the TTL by the server's clock (which may read a second
            # ahead of the one expiry is judged by)
            ember.wait_server_time(c, before + 3)
            self.assertEqual(c.get(b"seen"), {})
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
        s1.kill()
        s2 = self.start()
        with s2.connect() as c:
            self.assertEqual(c.get(b"seen", b"unseen"), {})
        s2.stop()

    @unittest.skipUnless(os.geteuid() == 0, "needs root to mount a tmpfs")
    def small_disk(self, size="2m"):
        small = os.path.join(self.tmp, "small")
        os.mkdir(small)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                           "tmpfs", small],
                          capture_output=True).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        self.mounts.append(small)
        self.dir = os.path.join(small, "snap")
        return small

    def test_disk_full_fails_the_snapshot_not_the_server(self):
        """Without the journal, a full disk fails snapshots, not serving."""
        self.small_disk()
        rng = random.Random(11)
        items = [(b"r%04d" % i, 0, bytes(rng.getrandbits(8)
                                         for _ in range(1000)))
                 for i in range(3000)]     # 3 MB that zstd cannot shrink
        s1 = self.start("--journal=off")
        with s1.connect() as c:
            store_all(c, items)
            reply = c.request(b"snapshot\r\n", timeout=30)
            self.assertTrue(reply.startswith(b"SERVER_ERROR"), reply)
            self.assertEqual(int(c.stats()["snapshot_failures"]), 1)
            self.assertTrue(c.is_open())
            self.assert_items(c, items[-10:])       # still serving
            for k, _, _ in items[500:]:
                c.send(b"delete %s noreply\r\n" % k)
            self.assertEqual(c.request(b"snapshot\r\n", timeout=30),
                             b"OK\r\n")
        s1.stop()
        s2 = self.start("--journal=off")
        with s2.connect() as c:
            self.assert_items(c, items[:500])
            self.assertEqual(int(c.stats()["curr_items"]), 500)
        s2.stop()

    def test_disk_full_refuses_writes_until_space_returns(self):
        """With the journal a full disk means a change cannot be made safe:
        no write is acknowledged (SERVER_ERROR, or for the writes in flight
        when it filled, the connection closed unanswered), reads go on,
        the log says so once, writes are accepted again by themselves
        once there is space, and every acknowledged write survives kill
        -9."""
        small = self.small_disk()
        rng = random.Random(13)
        acked, refusal = [], None
        s1 = self.start()
        c = s1.connect()
        for i in range(4000):
            k, v = b"f%04d" % i, bytes(rng.getrandbits(8) for _ in range(1000))
            try:
                reply = c.set(k, v)
            except (OSError, ember.Closed):
                c.close()          # in flight as the disk filled: closed
                c = s1.connect()
                continue
            if reply == b"STORED\r\n":
                acked.append((k, 0, v))
                continue
            refusal = reply
            break
        self.assertTrue(refusal is not None and len(acked) > 100,
                        "never refused (%d stored)" % len(acked))
        self.assertEqual(refusal, b"SERVER_ERROR cannot write the journal: "
                                  b"No space left on device\r\n")
        # every write is refused, every read served
        self.assertEqual(c.request(b"delete %s\r\n" % acked[0][0]), refusal)
        self.assertEqual(c.request(b"touch %s 100\r\n" % acked[0][0]),
                         refusal)
        self.assertEqual(c.request(b"flush_all\r\n"), refusal)
        self.assert_items(c, acked[:3] + acked[-3:])
        st = c.stats()
        self.assertEqual(st["journal_ok"], "0")
        self.assertGreaterEqual(int(st["journal_refused"]), 4)
        # space comes back: writes are accepted without any operator step
        subprocess.run(["mount", "-o", "remount,size=64m", small],
                       check=True)
        deadline = time.monotonic() + 10
        while c.set(b"after", b"space") != b"STORED\r\n":
            self.assertLess(time.monotonic(), deadline, "never recovered")
            time.sleep(0.05)
        self.assertEqual(c.stats()["journal_ok"], "1")
        c.close()
        log = s1.output()
        self.assertEqual(log.count("refusing changes until it can be "
                                   "written"), 1, log)
        self.assertEqual(log.count("is written again"), 1, log)
        s1.kill()
        s2 = self.start()
        with s2.connect() as c:
            self.assert_items(c, acked + [(b"after", 0, b"space")])
        s2.stop()

    def test_small_json_values_round_trip(self):
        """Many small similar values: the case zstd dictionaries are for.
        Every byte must come back, whatever the codec chose."""
        rng = random.Random(12)
        items = []
        for i in range(20000):
            v = (b'{"id":%d,"user":"u%d","email":"u%d@example.org",'
                 b'"roles":["reader"%s],"score":%d}'
                 % (i, rng.randrange(10 ** 6), i,
                    b',"writer"' if i % 3 else b"", rng.randrange(1000)))
            items.append((b"json:%05d" % i, i % 7, v))
        s1 = self.start()
        with s1.connect() as c:
            for i in range(0, len(items), 500):
                c.send(b"".join(b"set %s %d 0 %d noreply\r\n%s\r\n"
                                % (k, f, len(v), v)
                                for k, f, v in items[i:i + 500]))
            for _ in range(2):      # a second snapshot after training
                self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                                 b"OK\r\n")
                for k, f, v in items[::10]:
                    c.send(b"set %s %d 0 %d noreply\r\n%s\r\n"
                           % (k, f, len(v), v))
            print("snapshot_raw_to_stored_ratio",
                  c.stats()["snapshot_raw_to_stored_ratio"])
        s1.stop()
        s2 = self.start()
        with s2.connect() as c:
            for i in range(0, len(items), 1000):
                chunk = items[i:i + 1000]
                c.send(b"get %s\r\n" % b" ".join(k for k, _, _ in chunk))
                got, tail = c.read_values()
                self.assertEqual(tail, b"END\r\n")
                self.assertEqual([(k, f, v) for k, f, v, _ in got], chunk)
        s2.stop()

    def test_disk_use_bounded_across_incremental_snapshots(self):
        """Rewriting a tenth of 20,000 items between snapshots touches
        every leaf page (copy-on-write); LMDB reuses the freed pages two
        transactions later, so data.mdb must level off, not grow by a
        whole copy of the data per snapshot."""
        items = [(b"json:%05d" % i, 0, b'{"id":%d,"email":"u%d@example.org"}'
                  % (i, i)) for i in range(20000)]
        s = self.start()
        sizes = []
        with s.connect() as c:
            for k, _, v in items:
                c.send(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k, len(v), v))
            for _ in range(10):
                self.assertEqual(c.request(b"snapshot\r\n", timeout=60),
                                 b"OK\r\n")
                sizes.append(os.path.getsize(
                    os.path.join(self.dir, "data.mdb")) // 1024)
                for k, _, v in items[::10]:
                    c.send(b"set %s 0 0 %d noreply\r\n%s\r\n"
                           % (k, len(v), v))
        s.stop()
        self.assertLess(sizes[-1], 3 * sizes[1],
                        "data.mdb kB after each snapshot: %s" % sizes)

    def test_sigterm_under_load_keeps_every_acknowledged_write(self):
        """SIGTERM while clients write and interval snapshots run: every
        write the server answered STORED is in the final snapshot."""
        s1 = self.start(interval=1)
        acked = [{} for _ in range(4)]
        stopping = threading.Event()

        def writer(n):
            """Sets until the server goes away; any failure before the
            SIGTERM (an error reply, a closed connection) fails the test."""
            try:
                with s1.connect() as c:
                    for i in range(100000):
                        k, v = b"w%d:%06d" % (n, i), b"%d" % i * 50
                        reply = c.set(k, v)
                        if reply != b"STORED\r\n":
                            self.assertTrue(stopping.is_set(), reply)
                            return
                        acked[n][k] = v
            except (ember.Closed, OSError, TimeoutError):
                # the server went away mid-request: only after SIGTERM
                if not stopping.is_set():
                    raise
        threads = [ember.Background(writer, n) for n in range(4)]
        for t in threads:
            t.start()
        # under way (interval snapshots too), then SIGTERM at a random
        # moment of the next second
        ember.wait_for(lambda: sum(len(a) for a in acked) >= 400, 30)
        time.sleep(ember.rng(13).random())
        stopping.set()
        s1.stop()
        for t in threads:
            t.finish(10)
        total = sum(len(a) for a in acked)
        self.assertGreater(total, 100, "too few writes to mean anything")
        s2 = self.start()
        with s2.connect() as c:
            for a in acked:
                keys = sorted(a)
                for i in range(0, len(keys), 500):
                    got = c.get(*keys[i:i + 500])
                    missing = [k for k in keys[i:i + 500] if k not in got]
                    self.assertEqual(missing, [], "%d acknowledged writes "
                                     "lost" % len(missing))
                    self.assertTrue(all(got[k] == a[k] for k in got))
        s2.stop()

    def test_stale_snapshot_moved_aside(self):
        s1 = self.start()
        with s1.connect() as c:
            c.set(b"old", b"o")
        s1.stop()
        before = digest_dir(self.dir)
        time.sleep(2.2)
        s2 = self.start("--snapshot-max-age=1")
        with s2.connect() as c:
            self.assertEqual(c.get(b"old"), {}, "a stale snapshot was loaded")
        s2.stop()
        stale = glob.glob(self.dir + ".stale-*")
        self.assertEqual(len(stale), 1, os.listdir(self.tmp))
        self.assertEqual(digest_dir(stale[0]), before)

    def test_restart_with_less_memory_keeps_newest(self):
        value = b"v" * 2000
        old = [b"old%05d" % i for i in range(2500)]
        new = [b"new%05d" % i for i in range(2500)]
        s1 = self.start("-m", "32")
        with s1.connect() as c:
            store_all(c, [(k, 0, value) for k in old])
            # access times have one-second resolution: the newer half is
            # accessed in later seconds than all of the older (storing
            # may take seconds on a loaded machine)
            ember.wait_server_time(c, int(c.stats()["time"]) + 2)
            store_all(c, [(k, 0, value) for k in new])
        s1.stop()
        s2 = self.start("-m", "4")
        with s2.connect() as c:
            st = c.stats()
            loaded = int(st["warm_restart_items_loaded"])
            dropped = int(st["warm_restart_items_dropped"])
            self.assertGreater(dropped, 0)
            self.assertEqual(loaded + dropped, len(old) + len(new))
            self.assertLessEqual(int(st["bytes"]), 4 * 1024 * 1024)
            got_new = sum(len(c.get(*new[i:i + 500]))
                          for i in range(0, len(new), 500))
            got_old = sum(len(c.get(*old[i:i + 500]))
                          for i in range(0, len(old), 500))
            print("after -m 4: %d new, %d old items" % (got_new, got_old))
            self.assertGreater(got_new, got_old,
                               "the older half was loaded rather than "
                               "the newer")
            if got_new < len(new):
                self.assertEqual(got_old, 0, "older items loaded while "
                                 "newer ones were dropped")
            self.assertEqual(got_new + got_old, int(st["curr_items"]))
            for k, v in c.get(*new[-50:]).items():
                self.assertTrue(v == value, "value of %r damaged" % k)
        s2.stop()

    def test_sigint_takes_final_snapshot(self):
        items = make_items(7, 40)
        s1 = self.start()
        with s1.connect() as c:
            store_all(c, items)
        s1.stop(signal.SIGINT)
        s2 = self.start()
        with s2.connect() as c:
            self.assert_items(c, items)
        s2.stop()


embersnap = ember.embersnap    # (status, stdout bytes, stderr text)


def digest_dir(path):
    """SHA-256 over the names and contents of the files in PATH (lock
    files excluded: LMDB rewrites its reader table on every open)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        if name.endswith("lock.mdb"):
            continue
        h.update(name.encode() + b"\0")
        with open(os.path.join(path, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


if __name__ == "__main__":
    ember.run_tests()
