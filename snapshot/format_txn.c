/*
 * format_txn.c -- transactions on the snapshot's LMDB environment: the
 * one LMDB-to-snapfmt error mapping, begin/commit/abort, the grow-and-
 * retry runner, and the writes of records, meta keys and dictionaries
 * (format.h).
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW_TRIES 16         /* doublings of the map per transaction */
#define KEY_TEXT 80           /* a key as printed in a message */

/* ---- the one error mapping ------------------------------------------- */

int
snapfmt_lmdb_rc(int mrc)
{
    switch (mrc) {
    case MDB_SUCCESS: return SNAPFMT_OK;
    case MDB_NOTFOUND: return SNAPFMT_END;
    case MDB_MAP_FULL: return SNAPFMT_EMAPFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
    case MDB_PAGE_FULL: return SNAPFMT_ECORRUPT;
    case MDB_VERSION_MISMATCH: return SNAPFMT_EVERSION;
    case MDB_BAD_VALSIZE:
    case MDB_KEYEXIST: return SNAPFMT_EINVAL;
    case ENOMEM: return SNAPFMT_ENOMEM;
    default: return SNAPFMT_ELMDB;
    }
}

int
snapfmt_lmdb_fail(int mrc, char *err, size_t errlen, const char *fmt, ...)
{
    char what[SNAPFMT_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return snapfmt_fail(snapfmt_lmdb_rc(mrc), err, errlen, "%s: %s", what,
                        mdb_strerror(mrc));
}

int
snapfmt_txn_fail(struct snapfmt_txn *t, int mrc, const char *fmt, ...)
{
    char what[SNAPFMT_ERR_MAX];
    va_list ap;

    if (mrc == MDB_SUCCESS) {
        return SNAPFMT_OK;
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return snapfmt_lmdb_fail(mrc, t->err, sizeof(t->err), "%s: %s",
                             t->env->dir, what);
}

/* ---- begin, commit, abort -------------------------------------------- */

int
snapfmt_txn_begin(struct snapfmt_env *e, bool rdonly,
                  struct snapfmt_txn **out, char *err, size_t errlen)
{
    struct snapfmt_txn *t;
    unsigned f = rdonly ? MDB_RDONLY : 0;
    int mrc, dead = 0;

    if (!rdonly && e->rdonly) {
        return snapfmt_fail(SNAPFMT_EINVAL, err, errlen,
                            "%s: opened read-only, cannot write", e->dir);
    }
    if (e->env == NULL) {
        return snapfmt_fail(SNAPFMT_ELMDB, err, errlen, "%s: closed after "
                            "a failed commit and not reopened yet", e->dir);
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    t->env = e;
    t->rdonly = rdonly;
    if (!rdonly) {
        /* A reader that died with its transaction open (kill -9 of an
         * embersnap, the loader's precheck child) keeps its slot, and LMDB
         * then never reuses the pages freed after that snapshot: the file
         * would grow by a whole snapshot per full rewrite. Free such slots
         * before every write (a scan of the small reader table). */
        (void)mdb_reader_check(e->env, &dead);
    }
    mrc = mdb_txn_begin(e->env, NULL, f, &t->txn);
    if (mrc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size and retry. */
        mdb_env_set_mapsize(e->env, 0);
        mrc = mdb_txn_begin(e->env, NULL, f, &t->txn);
    }
    if (mrc != 0) {
        free(t);
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: begin transaction",
                                 e->dir);
    }
    if (rdonly) {
        uint64_t map;

        /* the newest snapshot's pages, so also this one's: the file
         * never gives back pages */
        snapfmt_env_sizes(e, &t->used, &map);
    }
    *out = t;
    return SNAPFMT_OK;
}

int
fmt_val_check(struct snapfmt_txn *t, const char *what, const MDB_val *k,
              const MDB_val *d)
{
    if (k != NULL && (k->mv_size == 0 || k->mv_size > LMDB_KEY_MAX)) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, t->err, sizeof(t->err),
                            "%s/data.mdb: a key of %zu bytes in %s (LMDB "
                            "keys have 1..%d): damaged page", t->env->dir,
                            k->mv_size, what, LMDB_KEY_MAX);
    }
    if (t->used != 0 && d->mv_size > t->used) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, t->err, sizeof(t->err),
                            "%s/data.mdb: a value of %zu bytes in %s, "
                            "larger than the %llu bytes of the file in use: "
                            "damaged page", t->env->dir, d->mv_size, what,
                            (unsigned long long)t->used);
    }
    return SNAPFMT_OK;
}

int
snapfmt_txn_commit(struct snapfmt_txn **tp, char *err, size_t errlen)
{
    struct snapfmt_txn *t = *tp;
    int mrc, rc = SNAPFMT_OK;

    if (t->cur != NULL) {
        mdb_cursor_close(t->cur);
    }
    /* LMDB frees the transaction whatever the result */
    mrc = mdb_txn_commit(t->txn);
    if (mrc != 0) {
        rc = snapfmt_lmdb_fail(mrc, err, errlen, "%s: commit", t->env->dir);
    }
    free(t);
    *tp = NULL;
    return rc;
}

void
snapfmt_txn_abort(struct snapfmt_txn **tp)
{
    if (tp == NULL || *tp == NULL) {
        return;
    }
    if ((*tp)->cur != NULL) {
        mdb_cursor_close((*tp)->cur);
    }
    mdb_txn_abort((*tp)->txn);
    free(*tp);
    *tp = NULL;
}

const char *
snapfmt_txn_error(const struct snapfmt_txn *t)
{
    return t->err;
}

/* One try of snapfmt_txn_run(): begin, fill, commit. */
static int
run_once(struct snapfmt_env *e, snapfmt_fill_fn fill, void *arg, char *err,
         size_t errlen)
{
    struct snapfmt_txn *t = NULL;
    int rc;

    rc = snapfmt_txn_begin(e, false, &t, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    rc = fill(t, arg, err, errlen);
    if (rc != SNAPFMT_OK) {
        if (err != NULL && errlen > 0 && err[0] == '\0') {
            snprintf(err, errlen, "%s", t->err[0] ? t->err
                                                  : snapfmt_strerror(rc));
        }
        snapfmt_txn_abort(&t);
        return rc;
    }
    return snapfmt_txn_commit(&t, err, errlen);
}

int
snapfmt_txn_run(struct snapfmt_env *e, size_t map_max, snapfmt_fill_fn fill,
                void *arg, char *err, size_t errlen)
{
    char last[SNAPFMT_ERR_MAX] = "";
    uint64_t used, map;
    int rc = SNAPFMT_EMAPFULL;

    for (int i = 0; i < GROW_TRIES && rc == SNAPFMT_EMAPFULL; i++) {
        rc = run_once(e, fill, arg, err, errlen);
        if (rc != SNAPFMT_EMAPFULL) {
            break;
        }
        if (err != NULL && errlen > 0) {
            snprintf(last, sizeof(last), "%s", err);
        }
        /* a map-full anywhere, in a put or in the commit's own page
         * allocations, leaves nothing written: grow and run it all again */
        if (snapfmt_env_grow(e, map_max) != SNAPFMT_OK) {
            snapfmt_env_sizes(e, &used, &map);
            return snapfmt_fail(SNAPFMT_EMAPFULL, err, errlen,
                                "LMDB map full at its limit of %llu bytes: "
                                "%s", (unsigned long long)map, last);
        }
    }
    if (rc == SNAPFMT_EMAPFULL) {
        return snapfmt_fail(rc, err, errlen, "LMDB map still full after %d "
                            "doublings: %s", GROW_TRIES, last);
    }
    return rc;
}

/* ---- items ------------------------------------------------------------ */

/* KEY printable, for messages. */
static const char *
key_text(const void *key, size_t nkey, char buf[KEY_TEXT])
{
    snapfmt_key_print(key, nkey, buf, KEY_TEXT);
    return buf;
}

int
snapfmt_put(struct snapfmt_txn *t, const void *key, size_t nkey,
            const void *rec, size_t nrec, bool append)
{
    MDB_val k = { nkey, (void *)key };
    MDB_val d = { nrec, (void *)rec };
    char kt[KEY_TEXT];
    int mrc;

    if (nkey == 0 || nkey > LMDB_KEY_MAX) {
        return snapfmt_fail(SNAPFMT_EINVAL, t->err, sizeof(t->err),
                            "%s: key of %zu bytes cannot be stored (1..%d)",
                            t->env->dir, nkey, LMDB_KEY_MAX);
    }
    mrc = mdb_put(t->txn, t->env->items, &k, &d, append ? MDB_APPEND : 0);
    return snapfmt_txn_fail(t, mrc, "put '%s'", key_text(key, nkey, kt));
}

int
snapfmt_del(struct snapfmt_txn *t, const void *key, size_t nkey)
{
    MDB_val k = { nkey, (void *)key };
    char kt[KEY_TEXT];
    int mrc;

    if (nkey == 0 || nkey > LMDB_KEY_MAX) {
        return SNAPFMT_OK;
    }
    mrc = mdb_del(t->txn, t->env->items, &k, NULL);
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_OK;
    }
    return snapfmt_txn_fail(t, mrc, "delete '%s'", key_text(key, nkey, kt));
}

int
snapfmt_update(struct snapfmt_txn *t, const void *key, size_t nkey,
               const void *rec, size_t nrec, struct snapfmt_prev *prev)
{
    /* MDB_SET leaves K pointing at our key: a pointer into the page would
     * move under the put when the record changes size */
    MDB_val k = { nkey, (void *)key }, d;
    MDB_val nd = { nrec, (void *)rec };
    char kt[KEY_TEXT];
    uint32_t exptime, atime;
    uint64_t cas;
    int mrc = 0;

    memset(prev, 0, sizeof(*prev));
    if (nkey == 0 || nkey > LMDB_KEY_MAX) {
        return rec == NULL ? SNAPFMT_OK
                           : snapfmt_put(t, key, nkey, rec, nrec, false);
    }
    if (t->cur == NULL) {
        mrc = mdb_cursor_open(t->txn, t->env->items, &t->cur);
    }
    if (mrc == 0) {
        mrc = mdb_cursor_get(t->cur, &k, &d, MDB_SET);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return snapfmt_txn_fail(t, mrc, "find '%s'", key_text(key, nkey, kt));
    }
    if (mrc == 0) {
        prev->found = true;
        prev->nrec = d.mv_size;
        prev->peeked = snapfmt_rec_peek(d.mv_data, d.mv_size, &exptime,
                                        &atime, &cas, &prev->raw_len) ==
                       SNAPFMT_OK;
    }
    if (rec == NULL) {
        mrc = prev->found ? mdb_cursor_del(t->cur, 0) : 0;
    } else {
        mrc = mdb_cursor_put(t->cur, &k, &nd, prev->found ? MDB_CURRENT : 0);
    }
    return snapfmt_txn_fail(t, mrc, "%s '%s'", rec ? "put" : "delete",
                            key_text(key, nkey, kt));
}

int
snapfmt_get(struct snapfmt_txn *t, const void *key, size_t nkey,
            const void **rec, size_t *nrec)
{
    MDB_val k = { nkey, (void *)key };
    MDB_val d;
    char kt[KEY_TEXT];
    int mrc;

    if (nkey == 0 || nkey > LMDB_KEY_MAX) {
        return SNAPFMT_END;
    }
    mrc = mdb_get(t->txn, t->env->items, &k, &d);
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_END;
    }
    if (mrc != 0) {
        return snapfmt_txn_fail(t, mrc, "get '%s'", key_text(key, nkey, kt));
    }
    if (fmt_val_check(t, "items", NULL, &d) != SNAPFMT_OK) {
        return SNAPFMT_ECORRUPT;
    }
    *rec = d.mv_data;
    *nrec = d.mv_size;
    return SNAPFMT_OK;
}

int
snapfmt_items_clear(struct snapfmt_txn *t)
{
    if (t->cur != NULL) {
        mdb_cursor_close(t->cur);
        t->cur = NULL;
    }
    return snapfmt_txn_fail(t, mdb_drop(t->txn, t->env->items, 0),
                            "clear items");
}

/* ---- meta keys and dictionaries --------------------------------------- */

int
snapfmt_meta_put_u64(struct snapfmt_txn *t, const char *name, uint64_t v)
{
    unsigned char buf[8];
    MDB_val k = { strlen(name), (void *)name };
    MDB_val d = { 8, buf };

    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)(v >> (8 * i));
    }
    return snapfmt_txn_fail(t, mdb_put(t->txn, t->env->meta, &k, &d, 0),
                            "meta %s", name);
}

/* The 4-byte little-endian key of dictionary ID. */
static void
dict_key(uint32_t id, unsigned char out[4])
{
    for (int i = 0; i < 4; i++) {
        out[i] = (unsigned char)(id >> (8 * i));
    }
}

int
snapfmt_dict_put(struct snapfmt_txn *t, const struct snapfmt_dict *d)
{
    unsigned char id[4];
    MDB_val k = { 4, id };
    MDB_val data;

    dict_key(snapfmt_dict_id(d), id);
    data.mv_data = (void *)snapfmt_dict_data(d, &data.mv_size);
    return snapfmt_txn_fail(t, mdb_put(t->txn, t->env->dicts, &k, &data, 0),
                            "put dictionary %u", (unsigned)snapfmt_dict_id(d));
}

int
snapfmt_dict_del(struct snapfmt_txn *t, uint32_t id)
{
    unsigned char key[4];
    MDB_val k = { 4, key };
    int mrc;

    dict_key(id, key);
    mrc = mdb_del(t->txn, t->env->dicts, &k, NULL);
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_OK;
    }
    return snapfmt_txn_fail(t, mrc, "delete dictionary %u", (unsigned)id);
}
