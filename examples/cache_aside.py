#!/usr/bin/python3
"""Cache-aside ("lazy loading") in front of a database, with pymemcache.

The pattern every memcached tutorial teaches, and the one ember is made
for:

  read:   ask the cache; on a miss, ask the database and put the answer
          in the cache (with a TTL) for the next reader;
  write:  write the database, then delete the cache entry, so the next
          read loads the new row;
  outage: a cache that is down or restarting is a miss, never an error:
          the application keeps answering from the database.

The database is SQLite (a file or ":memory:"), the values JSON. Run it
against a cache on 127.0.0.1:11211 (`sh build.sh run`, or memcached):

  /usr/bin/python3 examples/cache_aside.py [--port 11211] [--rows 1000]

It reads every product twice and updates one, printing how many reads
the database answered. restart_demo.py (beside it) drives the same code
through cache restarts.
"""

import argparse
import json
import sqlite3

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

TTL = 3600          # seconds a cached row lives: a bound on staleness


class ProductDB:
    """The system of record: a products table in SQLite. Counts the
    queries it answers (what the cache is there to save)."""

    def __init__(self, path=":memory:", rows=1000):
        # check_same_thread=False: restart_demo.py reads from one thread
        # while another restarts the cache; only one thread uses it at once
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.queries = 0
        self.conn.execute("CREATE TABLE IF NOT EXISTS products ("
                          "id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                          "price_cents INTEGER NOT NULL, stock INTEGER)")
        have = self.conn.execute("SELECT COUNT(*) FROM products").fetchone()
        if have[0] < rows:
            self.conn.executemany(
                "INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?)",
                ((i, "product %d" % i, 100 + (i * 37) % 9900, i % 50)
                 for i in range(1, rows + 1)))
            self.conn.commit()

    def load(self, product_id):
        """One product as a dict, or None when there is no such id."""
        self.queries += 1
        row = self.conn.execute("SELECT id, name, price_cents, stock "
                                "FROM products WHERE id = ?",
                                (product_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "price_cents": row[2],
                "stock": row[3]}

    def update_stock(self, product_id, stock):
        self.conn.execute("UPDATE products SET stock = ? WHERE id = ?",
                          (stock, product_id))
        self.conn.commit()


def connect(host="127.0.0.1", port=11211):
    """A pymemcache client that gives up quickly when the cache is down
    (connect and reply within 1 s) and reconnects on the next call."""
    return Client((host, port), connect_timeout=1.0, timeout=1.0,
                  default_noreply=False)


def cache_key(product_id):
    return "product:%d" % product_id


def get_product(cache, db, product_id):
    """Cache-aside read: the cache first, the database on a miss (or when
    the cache cannot be reached), then fill the cache for the next read.
    Returns (product dict or None, True when the cache answered)."""
    key = cache_key(product_id)
    try:
        cached = cache.get(key)
    except (OSError, MemcacheError):
        cached = None       # cache down: behave as on a miss
    if cached is not None:
        return json.loads(cached), True
    product = db.load(product_id)
    if product is not None:
        try:
            cache.set(key, json.dumps(product), expire=TTL)
        except (OSError, MemcacheError):
            pass            # the next reader will try again
    return product, False


def set_stock(cache, db, product_id, stock):
    """Write-through the database, then invalidate: deleting (not
    updating) the cached copy means a racing reader can at worst cache
    the old row for one more miss, never overwrite a newer one for TTL."""
    db.update_stock(product_id, stock)
    try:
        cache.delete(cache_key(product_id))
    except (OSError, MemcacheError):
        pass    # a stale copy lives at most TTL; log it in a real service


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11211)
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    db = ProductDB(rows=args.rows)
    cache = connect(args.host, args.port)
    for rnd in (1, 2):
        before, hits = db.queries, 0
        for pid in range(1, args.rows + 1):
            hits += get_product(cache, db, pid)[1]
        print("pass %d: %d reads, %d from the cache, %d database queries"
              % (rnd, args.rows, hits, db.queries - before))
    set_stock(cache, db, 1, 0)
    product, from_cache = get_product(cache, db, 1)
    print("after the update: stock %d (%s)" % (
        product["stock"], "cache" if from_cache else "database"))


if __name__ == "__main__":
    main()
