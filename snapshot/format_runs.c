/*
 * format_runs.c -- format 3's "blocks" database (format.h): appending
 * blocks, finding the newest run, deleting runs, and a cursor over one
 * run's blocks from a key on. Blocks are keyed run | hash | last key, so
 * a run is one contiguous range of keys in LMDB's order.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdlib.h>
#include <string.h>

struct snapfmt_bcur {
    struct snapfmt_txn *txn;
    MDB_cursor *cur;
    uint64_t run;
    bool started;
    bool done;
    size_t nseek;
    unsigned char seek[SNAPFMT_BKEY_MAX];
};

int
fmt_blocks_dbi(struct snapfmt_txn *t, bool create, MDB_dbi *dbi)
{
    int mrc;

    if (t->has_blocks) {
        *dbi = t->blocks;
        return SNAPFMT_OK;
    }
    if (!create || t->rdonly) {
        return SNAPFMT_END;
    }
    mrc = mdb_dbi_open(t->txn, "blocks", MDB_CREATE, &t->blocks);
    if (mrc != 0) {
        return snapfmt_txn_fail(t, mrc, "create the blocks database");
    }
    t->has_blocks = true;
    *dbi = t->blocks;
    return SNAPFMT_OK;
}

int
snapfmt_block_put(struct snapfmt_txn *t, const void *key, size_t nkey,
                  const void *val, size_t nval)
{
    MDB_val k = { nkey, (void *)key };
    MDB_val d = { nval, (void *)val };
    MDB_dbi dbi;
    int rc;

    if (nkey < SNAPFMT_BKEY_MIN || nkey > SNAPFMT_BKEY_MAX) {
        return snapfmt_fail(SNAPFMT_EINVAL, t->err, sizeof(t->err),
                            "%s: a block key of %zu bytes", t->env->dir,
                            nkey);
    }
    rc = fmt_blocks_dbi(t, true, &dbi);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    fmt_txn_wrote(t, k.mv_size + d.mv_size);
    return snapfmt_txn_fail(t, mdb_put(t->txn, dbi, &k, &d, MDB_APPEND),
                            "put block of run %llu",
                            (unsigned long long)fmt_get_be64(key));
}

int
snapfmt_blocks_last_run(struct snapfmt_txn *t, uint64_t *run)
{
    MDB_cursor *cur;
    MDB_val k, d;
    MDB_dbi dbi;
    int mrc;

    *run = 0;
    if (fmt_blocks_dbi(t, false, &dbi) != SNAPFMT_OK) {
        return SNAPFMT_OK;
    }
    mrc = mdb_cursor_open(t->txn, dbi, &cur);
    if (mrc != 0) {
        return snapfmt_txn_fail(t, mrc, "blocks cursor");
    }
    mrc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
    mdb_cursor_close(cur);
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_OK;
    }
    if (mrc != 0) {
        return snapfmt_txn_fail(t, mrc, "last block");
    }
    if (k.mv_size < 8) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, t->err, sizeof(t->err),
                            "%s: a block key of %zu bytes", t->env->dir,
                            k.mv_size);
    }
    *run = fmt_get_be64(k.mv_data);
    return SNAPFMT_OK;
}

int
snapfmt_blocks_del_runs(struct snapfmt_txn *t, uint64_t first, uint64_t end,
                        uint64_t *ndel)
{
    unsigned char from[8];
    MDB_val k = { 8, from }, d;
    MDB_cursor *cur;
    MDB_dbi dbi;
    uint64_t n = 0;
    int mrc;

    if (ndel != NULL) {
        *ndel = 0;
    }
    if (first >= end || fmt_blocks_dbi(t, false, &dbi) != SNAPFMT_OK) {
        return SNAPFMT_OK;
    }
    mrc = mdb_cursor_open(t->txn, dbi, &cur);
    if (mrc != 0) {
        return snapfmt_txn_fail(t, mrc, "blocks cursor");
    }
    fmt_put_be64(from, first);
    for (;;) {
        /* a fresh seek each time: where a cursor stands after a delete
         * is LMDB's business (the first key sought is the same) */
        k.mv_size = 8;
        k.mv_data = from;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        if (mrc != 0 || k.mv_size < 8 || fmt_get_be64(k.mv_data) >= end) {
            break;
        }
        fmt_txn_wrote(t, 0);
        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0) {
            break;
        }
        n++;
    }
    mdb_cursor_close(cur);
    if (ndel != NULL) {
        *ndel = n;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return snapfmt_txn_fail(t, mrc, "delete runs %llu..%llu",
                                (unsigned long long)first,
                                (unsigned long long)end - 1);
    }
    return SNAPFMT_OK;
}

int
snapfmt_bcur_open(struct snapfmt_txn *txn, uint64_t run, uint64_t hash,
                  const void *key, size_t nkey, struct snapfmt_bcur **out,
                  char *err, size_t errlen)
{
    struct snapfmt_bcur *c = calloc(1, sizeof(*c));
    MDB_dbi dbi;
    int mrc;

    if (c == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    c->txn = txn;
    c->run = run;
    if (nkey > SNAPFMT_BKEY_NMAX) {
        nkey = SNAPFMT_BKEY_NMAX;  /* no block key holds a longer one */
    }
    fmt_put_be64(c->seek, run);
    fmt_put_be64(c->seek + 8, hash);
    if (nkey > 0) {
        memcpy(c->seek + 16, key, nkey);
    }
    c->nseek = run == SNAPFMT_RUN_ALL ? 0 : 16 + nkey;
    if (fmt_blocks_dbi(txn, false, &dbi) != SNAPFMT_OK) {
        c->done = true;         /* no blocks database: an empty run */
        *out = c;
        return SNAPFMT_OK;
    }
    mrc = mdb_cursor_open(txn->txn, dbi, &c->cur);
    if (mrc != 0) {
        free(c);
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: blocks cursor",
                                 txn->env->dir);
    }
    *out = c;
    return SNAPFMT_OK;
}

int
snapfmt_bcur_next(struct snapfmt_bcur *c, const void **key, size_t *nkey,
                  const void **val, size_t *nval)
{
    MDB_val k, d;
    int mrc;

    if (c->done) {
        return SNAPFMT_END;
    }
    if (c->started) {
        mrc = mdb_cursor_get(c->cur, &k, &d, MDB_NEXT);
    } else if (c->nseek == 0) {
        mrc = mdb_cursor_get(c->cur, &k, &d, MDB_FIRST);
        c->started = true;
    } else {
        k.mv_size = c->nseek;
        k.mv_data = c->seek;
        mrc = mdb_cursor_get(c->cur, &k, &d, MDB_SET_RANGE);
        c->started = true;
    }
    if (mrc == 0 && fmt_val_check(c->txn, "blocks", &k, &d) != SNAPFMT_OK) {
        c->done = true;
        return SNAPFMT_ECORRUPT;
    }
    if (mrc == 0 && c->run != SNAPFMT_RUN_ALL &&
        (k.mv_size < 8 || fmt_get_be64(k.mv_data) != c->run)) {
        mrc = MDB_NOTFOUND;     /* past the run (keys sort by run) */
    }
    if (mrc != 0) {
        c->done = true;
        return mrc == MDB_NOTFOUND ? SNAPFMT_END
                                   : snapfmt_txn_fail(c->txn, mrc,
                                                      "blocks cursor");
    }
    *key = k.mv_data;
    *nkey = k.mv_size;
    *val = d.mv_data;
    *nval = d.mv_size;
    return SNAPFMT_OK;
}

void
snapfmt_bcur_close(struct snapfmt_bcur **cp)
{
    if (cp == NULL || *cp == NULL) {
        return;
    }
    if ((*cp)->cur != NULL) {
        mdb_cursor_close((*cp)->cur);
    }
    free(*cp);
    *cp = NULL;
}
