/*
 * format_read.c -- read-side helpers of the snapshot format for offline
 * readers (embersnap): a truncation check before the map is touched,
 * prefix ranges over items inside a caller's read transaction, LMDB
 * statistics of the named databases, and clearing stale reader slots
 * (format.h).
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>

struct snapfmt_range {
    struct snapfmt_txn *txn;
    MDB_cursor *cur;
    bool started;
    bool done;
    size_t nprefix;
    unsigned char prefix[];  /* nprefix bytes */
};

int
snapfmt_range_open(struct snapfmt_txn *txn, const void *prefix,
                   size_t nprefix, struct snapfmt_range **out, char *err,
                   size_t errlen)
{
    struct snapfmt_range *r;
    int mrc;

    if (txn == NULL || (prefix == NULL && nprefix > 0)) {
        return snapfmt_fail(SNAPFMT_EINVAL, err, errlen,
                          "range: no transaction or prefix");
    }
    r = calloc(1, sizeof(*r) + nprefix);
    if (r == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    if (nprefix > 0) {
        memcpy(r->prefix, prefix, nprefix);
    }
    r->nprefix = nprefix;
    r->txn = txn;
    mrc = mdb_cursor_open(txn->txn, txn->env->items, &r->cur);
    if (mrc != 0) {
        free(r);
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: cursor",
                                 txn->env->dir);
    }
    *out = r;
    return SNAPFMT_OK;
}

int
snapfmt_range_next(struct snapfmt_range *r, const void **key, size_t *nkey,
                   const void **rec, size_t *nrec)
{
    MDB_val k, d;
    int mrc;

    if (r->done) {
        return SNAPFMT_END;
    }
    if (r->started) {
        mrc = mdb_cursor_get(r->cur, &k, &d, MDB_NEXT);
    } else if (r->nprefix > 0) {
        k.mv_size = r->nprefix;
        k.mv_data = r->prefix;
        mrc = mdb_cursor_get(r->cur, &k, &d, MDB_SET_RANGE);
    } else {
        mrc = mdb_cursor_get(r->cur, &k, &d, MDB_FIRST);
    }
    r->started = true;
    if (mrc == 0 && fmt_val_check(r->txn, "items", &k, &d) != SNAPFMT_OK) {
        r->done = true;
        return SNAPFMT_ECORRUPT;
    }
    if (mrc == 0 && r->nprefix > 0 &&
        (k.mv_size < r->nprefix ||
         memcmp(k.mv_data, r->prefix, r->nprefix) != 0)) {
        /* Keys sort byte-wise, so the first miss ends the prefix. */
        mrc = MDB_NOTFOUND;
    }
    if (mrc != 0) {
        r->done = true;
        /* MDB_NOTFOUND: SNAPFMT_END; else LMDB's words for the caller */
        return mrc == MDB_NOTFOUND ? SNAPFMT_END
                                   : snapfmt_txn_fail(r->txn, mrc,
                                                      "items cursor");
    }
    *key = k.mv_data;
    *nkey = k.mv_size;
    *rec = d.mv_data;
    *nrec = d.mv_size;
    return SNAPFMT_OK;
}

void
snapfmt_range_close(struct snapfmt_range **rp)
{
    if (rp == NULL || *rp == NULL) {
        return;
    }
    mdb_cursor_close((*rp)->cur);
    free(*rp);
    *rp = NULL;
}

int
snapfmt_db_stats(struct snapfmt_txn *txn, enum snapfmt_db_id which,
                 struct snapfmt_db_stats *out)
{
    MDB_stat st;
    MDB_dbi dbi;
    int mrc;

    if (txn == NULL) {
        return SNAPFMT_EINVAL;
    }
    switch (which) {
    case SNAPFMT_DB_ITEMS: dbi = txn->env->items; break;
    case SNAPFMT_DB_META: dbi = txn->env->meta; break;
    case SNAPFMT_DB_DICTS: dbi = txn->env->dicts; break;
    default: return SNAPFMT_EINVAL;
    }
    mrc = mdb_stat(txn->txn, dbi, &st);
    if (mrc != 0) {
        return snapfmt_txn_fail(txn, mrc, "database statistics");
    }
    out->entries = st.ms_entries;
    out->branch_pages = st.ms_branch_pages;
    out->leaf_pages = st.ms_leaf_pages;
    out->overflow_pages = st.ms_overflow_pages;
    out->depth = st.ms_depth;
    out->page_size = st.ms_psize;
    return SNAPFMT_OK;
}

int
snapfmt_env_check_file(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    struct stat st;
    MDB_envinfo info;
    MDB_stat ms;
    MDB_env *env;
    uint64_t need;
    int mrc, rc = SNAPFMT_OK;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &st) != 0) {
        return snapfmt_fail(SNAPFMT_ENOENT, err, errlen, "%s: no data.mdb",
                          dir);
    }
    if (st.st_size == 0) {
        return snapfmt_fail(SNAPFMT_ENOENT, err, errlen, "%s/data.mdb is "
                          "empty: no snapshot was ever committed", dir);
    }
    mrc = mdb_env_create(&env);
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s", dir);
    }
    fmt_env_hooks(env, dir);
    /* mdb_env_open reads the meta pages with pread, not through the map;
     * env_info and env_stat only look at those. */
    mrc = mdb_env_open(env, dir, MDB_RDONLY, 0600);
    if (mrc == 0) {
        mrc = mdb_env_info(env, &info);
    }
    if (mrc == 0) {
        mrc = mdb_env_stat(env, &ms);
    }
    if (mrc == MDB_INVALID || mrc == MDB_CORRUPTED) {
        rc = snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s/data.mdb is "
                        "damaged or not an LMDB file (%s)", dir,
                        mdb_strerror(mrc));
    } else if (mrc != 0) {
        rc = snapfmt_lmdb_fail(mrc, err, errlen, "%s: cannot open LMDB", dir);
    } else {
        need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
        if ((uint64_t)st.st_size < need) {
            rc = snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s/data.mdb is "
                            "truncated: %lld bytes, its last snapshot uses "
                            "%llu", dir, (long long)st.st_size,
                            (unsigned long long)need);
        }
    }
    mdb_env_close(env);
    return rc;
}

int
snapfmt_env_clear_stale_readers(struct snapfmt_env *e, int *dead)
{
    int n = 0;

    if (e == NULL || e->env == NULL || mdb_reader_check(e->env, &n) != 0) {
        return SNAPFMT_ELMDB;
    }
    if (dead != NULL) {
        *dead = n;
    }
    return SNAPFMT_OK;
}

/* mdb_reader_list callback: one text line per slot, "pid thread txnid". */
static int
reader_line(const char *msg, void *ctx)
{
    struct snapfmt_readers *r = ctx;
    unsigned long long txn;
    unsigned long thread;
    int pid;

    /* the header line and idle slots ("-") do not parse: skip them */
    if (sscanf(msg, "%d %lx %llu", &pid, &thread, &txn) != 3 || pid <= 0) {
        return 0;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        if (r->stale == 0 || txn < r->stale_txn) {
            r->stale_txn = txn;
            r->stale_pid = pid;
        }
        r->stale++;
    } else {
        r->active++;
    }
    return 0;
}

int
snapfmt_env_readers(struct snapfmt_env *e, struct snapfmt_readers *out)
{
    memset(out, 0, sizeof(*out));
    if (e == NULL || e->env == NULL ||
        mdb_reader_list(e->env, reader_line, out) < 0) {
        return SNAPFMT_ELMDB;
    }
    return SNAPFMT_OK;
}
