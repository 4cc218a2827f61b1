#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/*/), from what
the real emberd writes. Run by hand when the formats change, never by the
build:

    EMBERD=build/daemon/emberd tests/fuzz/make_seeds.py tests/fuzz

Needs lmdb-utils (mdb_copy -c compacts a snapshot to a few pages, mdb_dump
lists its records). Seeds are small on purpose: libFuzzer mutates them,
and a large seed dilutes every mutation. See tests/fuzz/README.md for the
input layout of each target."""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import ember  # noqa: E402


def ok(c, line, want=b"STORED\r\n"):
    got = c.request(line)
    if got != want:
        raise SystemExit("%r: %r, expected %r" % (line, got, want))


def json_value(r, i):
    return json.dumps({"id": i, "name": "user%d" % i, "tags":
                       ["admin", "beta", "ops"][: i % 4],
                       "score": round(r.random() * 100, 2)}).encode()


def dict_snapshot(tmp):
    """A snapshot with a trained dictionary and records of every codec,
    and the journal of changes made after it (kill -9: not replayed)."""
    d = os.path.join(tmp, "dict")
    r = random.Random(11)
    s = ember.Server("--snapshot-dir=" + d, "--snapshot-interval=0",
                     "--journal-fsync=everysec").start()
    with s.connect() as c:
        for i in range(1100):              # enough samples to train
            v = json_value(r, i)
            ok(c, b"set j%d %d 0 %d\r\n%s\r\n" % (i, i, len(v), v))
        ok(c, b"snapshot\r\n", b"OK\r\n")
        for i in range(12, 1100):
            ok(c, b"delete j%d\r\n" % i, b"DELETED\r\n")
        ok(c, b"set raw 1 0 5\r\nshort\r\n")
        big = b"z" * 3000                  # plain zstd, no dictionary gain
        ok(c, b"set big 0 0 %d\r\n%s\r\n" % (len(big), big))
        ok(c, b"set soon 0 1 1\r\nx\r\n")
        ok(c, b"mg j1\r\n", b"HD\r\n")      # fetched: a state bit
        ok(c, b"snapshot\r\n", b"OK\r\n")
        # the journal: every kind of change
        v = json_value(r, 5000)
        ok(c, b"set j2 7 0 %d\r\n%s\r\n" % (len(v), v))
        ok(c, b"delete j3\r\n", b"DELETED\r\n")
        ok(c, b"touch j4 100000\r\n", b"TOUCHED\r\n")
        ok(c, b"set n 0 0 2\r\n10\r\n")
        ok(c, b"incr n 5\r\n", b"15\r\n")
        ok(c, b"ms e 1 E999999 T0\r\nq\r\n", b"HD\r\n")
        ok(c, b"md j5 I T30\r\n", b"HD\r\n")
        ok(c, b"flush_all 1000000\r\n", b"OK\r\n")
        time.sleep(1.3)                    # a SYNCED note from the syncer
        ok(c, b"set after 0 0 1\r\ny\r\n")
    s.kill()
    return d


def raw_snapshot(tmp):
    """Compression off: five raw records, nothing else."""
    d = os.path.join(tmp, "raw")
    s = ember.Server("--snapshot-dir=" + d, "--snapshot-interval=0",
                     "--snapshot-compression=0").start()
    with s.connect() as c:
        for i in range(5):
            ok(c, b"set r%d %d 0 %d\r\n%s\r\n" % (i, i, 3 + i, b"v" * (3 + i)))
    s.stop()                               # the final snapshot
    return d


def compact(d, tmp, name):
    out = os.path.join(tmp, name + ".compact")
    os.mkdir(out)
    subprocess.run(["mdb_copy", "-c", d, out], check=True)
    with open(os.path.join(out, "data.mdb"), "rb") as f:
        return f.read()


def segment(d):
    """The largest journal segment in D."""
    segs = [os.path.join(d, n) for n in os.listdir(d)
            if n.startswith("journal-")]
    with open(max(segs, key=os.path.getsize), "rb") as f:
        return f.read()


def records(d, tmp):
    """(key, record) of snapshot D's items database, via mdb_dump."""
    out = subprocess.run(["mdb_dump", "-s", "items", d], check=True,
                         capture_output=True, text=True).stdout
    lines = out.split("HEADER=END\n", 1)[1].splitlines()
    pairs = [bytes.fromhex(x.strip()) for x in lines if x.startswith(" ")]
    return list(zip(pairs[0::2], pairs[1::2]))


def dict_size_flip(mdb):
    """The issue 11 item 1 damage: bit 24 of the dictionary's size field
    (LMDB's leaf node: size lo u16, hi u16, flags F_BIGDATA, key size 4,
    key = id 1) flipped, so 32768 reads as 16809984."""
    for size in range(32768, 256, -1):
        node = struct.pack("<HHHH", size & 0xffff, size >> 16, 1, 4)
        at = mdb.find(node + b"\x01\x00\x00\x00")
        if at >= 0:
            b = bytearray(mdb)
            b[at + 2] ^= 0x01
            return bytes(b)
    raise SystemExit("no dictionary node found")


def psize_zero(mdb):
    """LMDB's page size (the free database's md_pad in the meta page,
    offset 16 + 24 of page 0) zeroed: mdb_env_open divides by it."""
    b = bytearray(mdb)
    b[40:44] = b"\0\0\0\0"
    return bytes(b)


TEXT_SEEDS = {
    "storage": b"\0set a 0 0 1\r\nx\r\nadd b 5 0 2\r\nyy\r\nget a b\r\n",
    "cas": b"\0gets a\r\ncas a 0 0 1 5\r\ny\r\nappend a 0 0 1\r\nz\r\n",
    "arith": b"\0incr n 5\r\ndecr n 1\r\ntouch a 10\r\ngat 10 a b\r\n",
    "admin": b"\0delete a noreply\r\nflush_all 10\r\nversion\r\nstats "
             b"items\r\nverbosity 1\r\nsnapshot\r\n",
    "too-large": b"\1set big 0 0 100\r\n" + b"v" * 100 + b"\r\nget big\r\n",
    "meta": b"\0mg a v k c f t\r\nms b 2 T10 F5 I\r\nhi\r\nmd a q x\r\n"
            b"ma n D5 MI N0 J7\r\nmn\r\nme a\r\n",
}


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def load_seed(mode, mdb, seg=b""):
    return bytes([mode]) + struct.pack("<I", len(mdb)) + mdb + seg


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else HERE
    tmp = tempfile.mkdtemp(prefix="ember-seeds-")
    try:
        d = dict_snapshot(tmp)
        seg = segment(d)
        mdb = compact(d, tmp, "dict")
        raw = compact(raw_snapshot(tmp), tmp, "raw")
        out = os.path.join(top, "snap_load")
        write(out, "dict-journal", load_seed(1, mdb, seg))
        write(out, "dict-cold", load_seed(2, mdb))
        write(out, "raw", load_seed(4, raw))
        write(out, "journal-only", load_seed(1, b"", seg))
        write(out, "issue11-dict-size-flip", load_seed(0, dict_size_flip(mdb)))
        write(out, "lmdb-psize-zero", load_seed(4, psize_zero(raw)))
        out = os.path.join(top, "journal")
        write(out, "segment", bytes([0]) + seg)
        write(out, "segment-resealed", bytes([1]) + seg)
        out = os.path.join(top, "snapfmt_record")
        for i, (key, rec) in enumerate(records(os.path.join(
                tmp, "dict.compact"), tmp)):
            write(out, "record-%d" % i, bytes([len(key)]) + key + rec)
        for name, data in TEXT_SEEDS.items():
            write(os.path.join(top, "proto_text"), name, data)
        r = random.Random(7)
        for i in range(8):
            write(os.path.join(top, "proto_meta"), "choices-%d" % i,
                  bytes(r.randrange(256) for _ in range(96)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
