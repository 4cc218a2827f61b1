/*
 * format_env.c -- the snapshot's LMDB environment: open/check, map size,
 * meta, loading dictionaries and the read cursor (format.h). Transactions
 * and writes are in format_txn.c.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAPSIZE ((size_t)64 << 20)

struct snapfmt_iter {
    struct snapfmt_txn *txn;
    MDB_cursor *cur;
    bool own_txn;
    bool started;
};

/* ---- LMDB's assertions ------------------------------------------------ */

/* Process-wide, like a signal disposition: set once at start, before
 * any environment is opened (snapfmt_set_assert_handler()). */
static snapfmt_assert_fn assert_handler;

void
snapfmt_set_assert_handler(snapfmt_assert_fn fn)
{
    assert_handler = fn;
}

/* LMDB's MDB_assert_func: called instead of printing, before abort(). */
static void
lmdb_assert(MDB_env *env, const char *msg)
{
    snapfmt_assert_fn fn = assert_handler;
    const char *dir = mdb_env_get_userctx(env);

    if (fn != NULL) {
        fn(dir != NULL ? dir : "", msg);
    }
    /* returned (or no handler): LMDB prints MSG and aborts */
}

void
fmt_env_hooks(MDB_env *env, const char *dir)
{
    mdb_env_set_userctx(env, (void *)dir);
    mdb_env_set_assert(env, lmdb_assert);
}

/* ---- opening ---------------------------------------------------------- */

/*
 * True when DIR has entries other than LMDB's lock file, journal
 * segments, emberd's running marker and snapshots moved aside inside it
 * (data.mdb.<why>-<time>, lock.mdb.<why>-<time>, journal-...<why>-<time>:
 * what emberd does when it cannot rename DIR itself).
 */
static bool
dir_has_strangers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    if (d == NULL) {
        return false;
    }
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
            strcmp(n, "lock.mdb") != 0 && strncmp(n, "data.mdb.", 9) != 0 &&
            strncmp(n, "lock.mdb.", 9) != 0 &&
            strncmp(n, SNAPFMT_JSEG_PREFIX,
                    sizeof(SNAPFMT_JSEG_PREFIX) - 1) != 0 &&
            strcmp(n, SNAPFMT_RUNNING_FILE) != 0) {
            found = true;
            break;
        }
    }
    closedir(d);
    return found;
}

/* Check DIR before a read-write open; *IS_NEW when there is no data yet. */
static int
prepare_dir(const char *dir, bool rdonly, bool *is_new, off_t *fsize,
            char *err, size_t errlen)
{
    char path[4200];
    struct stat st;

    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || rdonly) {
            return snapfmt_fail(errno == ENOENT ? SNAPFMT_ENOENT
                                                : SNAPFMT_ELMDB,
                                err, errlen, "%s: %s", dir, strerror(errno));
        }
        if (mkdir(dir, 0700) != 0) {
            return snapfmt_fail(SNAPFMT_ELMDB, err, errlen,
                                "cannot create %s: %s", dir, strerror(errno));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        return snapfmt_fail(SNAPFMT_EFOREIGN, err, errlen,
                    "%s is not a directory", dir);
    }
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &st) == 0) {
        *is_new = false;
        *fsize = st.st_size;
        return SNAPFMT_OK;
    }
    if (rdonly) {
        return snapfmt_fail(SNAPFMT_ENOENT, err, errlen, "%s: no data.mdb (%s)",
                    dir, strerror(errno));
    }
    if (dir_has_strangers(dir)) {
        return snapfmt_fail(SNAPFMT_EFOREIGN, err, errlen,
                    "%s holds files but no data.mdb: not an ember snapshot "
                    "directory; refusing to write into it", dir);
    }
    *is_new = true;
    *fsize = 0;
    return SNAPFMT_OK;
}

static int
env_lmdb_open(struct snapfmt_env *e, size_t mapsize, char *err,
              size_t errlen)
{
    unsigned flags = e->rdonly ? MDB_RDONLY : 0;
    int mrc;

    mrc = mdb_env_create(&e->env);
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: mdb_env_create",
                                 e->dir);
    }
    fmt_env_hooks(e->env, e->dir);
    mdb_env_set_maxdbs(e->env, 4);
    if (mapsize > 0) {
        mdb_env_set_mapsize(e->env, mapsize);
    }
    mrc = mdb_env_open(e->env, e->dir, flags, 0600);
    if (mrc == MDB_INVALID || mrc == MDB_CORRUPTED) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                    "%s/data.mdb is damaged or not an LMDB file (%s)",
                    e->dir, mdb_strerror(mrc));
    }
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: cannot open LMDB",
                                 e->dir);
    }
    return SNAPFMT_OK;
}

/* Entries in the main database (one per named database). */
static int
main_entries(MDB_txn *txn, size_t *n)
{
    MDB_dbi dbi;
    MDB_stat st;
    int mrc = mdb_dbi_open(txn, NULL, 0, &dbi);

    if (mrc == 0) {
        mrc = mdb_stat(txn, dbi, &st);
    }
    *n = mrc == 0 ? st.ms_entries : 0;
    return mrc;
}

/* Open (creating when CREATE) the three databases in TXN. */
static int
open_dbis(struct snapfmt_env *e, MDB_txn *txn, bool create, char *err,
          size_t errlen)
{
    unsigned f = create ? MDB_CREATE : 0;
    int mrc;

    mrc = mdb_dbi_open(txn, "meta", f, &e->meta);
    if (mrc == MDB_NOTFOUND) {
        return snapfmt_fail(SNAPFMT_EFOREIGN, err, errlen,
                    "%s/data.mdb is an LMDB file without ember's meta "
                    "database: not an ember snapshot", e->dir);
    }
    if (mrc == 0) {
        mrc = mdb_dbi_open(txn, "items", f, &e->items);
    }
    if (mrc == 0) {
        mrc = mdb_dbi_open(txn, "dicts", f, &e->dicts);
    }
    if (mrc == MDB_NOTFOUND || mrc == MDB_INCOMPATIBLE) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                    "%s: ember snapshot lacks its items or dicts database",
                    e->dir);
    }
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: opening databases",
                                 e->dir);
    }
    return SNAPFMT_OK;
}

/*
 * Create or check the databases and meta, in transaction T (a write
 * transaction of snapfmt_txn_run(), which grows a map too small for a
 * new environment, or a read transaction). ARG: bool *is_new.
 */
static int
env_check_fill(struct snapfmt_txn *t, void *arg, char *err, size_t errlen)
{
    struct snapfmt_env *e = t->env;
    struct snapfmt_meta m;
    bool is_new = *(bool *)arg;
    size_t n = 0;
    int rc, mrc;

    mrc = main_entries(t->txn, &n);
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s", e->dir);
    }
    if (n == 0 && !is_new) {
        MDB_envinfo info;

        /* A file of just its two meta pages is what a crash during
         * creation leaves behind: a new snapshot. More pages and no
         * database is damage, and damage is never written into. */
        if (mdb_env_info(e->env, &info) != 0 || info.me_last_pgno > 1) {
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                        "%s/data.mdb: its main database is empty but the "
                        "file holds %zu pages: damaged", e->dir,
                        (size_t)info.me_last_pgno + 1);
        }
        is_new = true;
    }
    if (is_new && e->rdonly) {
        return snapfmt_fail(SNAPFMT_ENOENT, err, errlen,
                            "%s: empty snapshot", e->dir);
    }
    rc = open_dbis(e, t->txn, is_new, err, errlen);
    if (rc == SNAPFMT_OK && is_new) {
        memset(&m, 0, sizeof(m));
        m.format_version = SNAPFMT_VERSION;
        snprintf(m.writer_version, sizeof(m.writer_version), "%s %s",
                 PACKAGE_NAME, PACKAGE_VERSION);
        rc = snapfmt_meta_write(t, &m);
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_meta_read(e, t, &m, err, errlen);
    }
    return rc;
}

/* Create or check the databases and meta; one transaction. */
static int
env_check(struct snapfmt_env *e, bool is_new, char *err, size_t errlen)
{
    struct snapfmt_txn *t = NULL;
    int rc;

    if (!e->rdonly) {
        return snapfmt_txn_run(e, 0, env_check_fill, &is_new, err, errlen);
    }
    rc = snapfmt_txn_begin(e, true, &t, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = env_check_fill(t, &is_new, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        snapfmt_txn_abort(&t);
        return rc;
    }
    return snapfmt_txn_commit(&t, err, errlen);
}

int
snapfmt_env_open(const char *dir, unsigned flags, size_t mapsize,
                 struct snapfmt_env **out, char *err, size_t errlen)
{
    struct snapfmt_env *e;
    bool is_new = false;
    off_t fsize = 0;
    int rc;

    if (dir == NULL || strlen(dir) >= sizeof(e->dir) - 16) {
        return snapfmt_fail(SNAPFMT_EINVAL, err, errlen,
                            "bad snapshot directory");
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    e->rdonly = (flags & SNAPFMT_RDONLY) != 0;
    snprintf(e->dir, sizeof(e->dir), "%s", dir);
    rc = prepare_dir(dir, e->rdonly, &is_new, &fsize, err, errlen);
    if (rc != SNAPFMT_OK) {
        goto fail_env;
    }
    if (e->rdonly) {
        mapsize = 0;
    } else {
        mapsize = mapsize ? mapsize : DEFAULT_MAPSIZE;
        /* room for a full rewrite next to the current pages */
        if ((uint64_t)fsize * 2 > mapsize) {
            mapsize = (size_t)fsize * 2;
        }
    }
    rc = env_lmdb_open(e, mapsize, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = env_check(e, is_new, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        goto fail_env;
    }
    *out = e;
    return SNAPFMT_OK;

fail_env:
    snapfmt_env_close(&e);
    return rc;
}

void
snapfmt_env_close(struct snapfmt_env **ep)
{
    if (ep == NULL || *ep == NULL) {
        return;
    }
    if ((*ep)->env != NULL) {
        mdb_env_close((*ep)->env);
    }
    free(*ep);
    *ep = NULL;
}

int
snapfmt_env_recover(struct snapfmt_env *e, bool *reopened, char *err,
                    size_t errlen)
{
    size_t mapsize = 0;
    MDB_envinfo info;
    MDB_txn *t;
    int mrc, rc;

    *reopened = false;
    if (e->env != NULL) {
        mrc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t);
        if (mrc == 0) {
            mdb_txn_abort(t);
            return SNAPFMT_OK;
        }
        if (mrc != MDB_PANIC) {
            return snapfmt_lmdb_fail(mrc, err, errlen, "%s", e->dir);
        }
        if (mdb_env_info(e->env, &info) == 0) {
            mapsize = info.me_mapsize;
        }
        mdb_env_close(e->env);
        e->env = NULL;
    }
    rc = env_lmdb_open(e, mapsize, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = env_check(e, false, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        if (e->env != NULL) {
            mdb_env_close(e->env);
            e->env = NULL;
        }
        return rc;
    }
    *reopened = true;
    return SNAPFMT_OK;
}

int
snapfmt_env_grow(struct snapfmt_env *e, size_t max_bytes)
{
    MDB_envinfo info;
    size_t next;

    if (e->env == NULL || mdb_env_info(e->env, &info) != 0) {
        return SNAPFMT_ELMDB;
    }
    if (max_bytes != 0 && info.me_mapsize >= max_bytes) {
        return SNAPFMT_EMAPFULL;
    }
    next = info.me_mapsize * 2;
    if (max_bytes != 0 && next > max_bytes) {
        next = max_bytes;
    }
    return snapfmt_lmdb_rc(mdb_env_set_mapsize(e->env, next));
}

int
snapfmt_env_reserve(struct snapfmt_env *e, uint64_t need, size_t max_bytes)
{
    MDB_envinfo info;
    uint64_t next;

    if (e->env == NULL || mdb_env_info(e->env, &info) != 0) {
        return SNAPFMT_ELMDB;
    }
    if (info.me_mapsize >= need) {
        return SNAPFMT_OK;
    }
    next = info.me_mapsize;
    while (next < need) {
        next *= 2;
    }
    if (max_bytes != 0 && next > max_bytes) {
        next = max_bytes;
    }
    if (next <= info.me_mapsize) {
        return SNAPFMT_OK;   /* at the limit: the transaction will tell */
    }
    return snapfmt_lmdb_rc(mdb_env_set_mapsize(e->env, (size_t)next));
}

void
snapfmt_env_sizes(struct snapfmt_env *e, uint64_t *used, uint64_t *mapsize)
{
    MDB_envinfo info;
    MDB_stat st;

    *used = 0;
    *mapsize = 0;
    if (e->env != NULL && mdb_env_info(e->env, &info) == 0 &&
        mdb_env_stat(e->env, &st) == 0) {
        *used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
        *mapsize = info.me_mapsize;
    }
}

/* ---- meta ------------------------------------------------------------- */

static int
meta_get_u64(struct snapfmt_txn *t, const char *name, uint64_t *v,
             char *err, size_t errlen)
{
    MDB_val k = { strlen(name), (void *)name };
    MDB_val d;
    const unsigned char *p;
    int mrc = mdb_get(t->txn, t->env->meta, &k, &d);

    *v = 0;
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_END;
    }
    if (mrc != 0) {
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: meta %s",
                                 t->env->dir, name);
    }
    if (d.mv_size != 8) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                    "%s: meta key %s has %zu bytes, expected 8", t->env->dir,
                    name, d.mv_size);
    }
    p = d.mv_data;
    for (int i = 7; i >= 0; i--) {
        *v = *v << 8 | p[i];
    }
    return SNAPFMT_OK;
}

static int
meta_check_version(struct snapfmt_txn *t, struct snapfmt_meta *out,
                   char *err, size_t errlen)
{
    const char *dir = t->env->dir;
    uint64_t v;
    int rc = meta_get_u64(t, "format_version", &v, err, errlen);

    if (rc == SNAPFMT_END) {
        return snapfmt_fail(SNAPFMT_EFOREIGN, err, errlen,
                    "%s: no format_version in meta: not an ember snapshot",
                    dir);
    }
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (v > SNAPFMT_VERSION) {
        return snapfmt_fail(SNAPFMT_EVERSION, err, errlen,
                    "%s: snapshot format version %llu is newer than this "
                    "build reads (%u); run a newer emberd or move the "
                    "directory aside", dir, (unsigned long long)v,
                    SNAPFMT_VERSION);
    }
    if (v == 0) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                    "%s: snapshot format version 0 is invalid", dir);
    }
    out->format_version = (uint32_t)v;
    return SNAPFMT_OK;
}

static const struct meta_field {
    const char *name;
    size_t off;
} meta_fields[] = {
    { "sequence", offsetof(struct snapfmt_meta, sequence) },
    { "last_commit", offsetof(struct snapfmt_meta, last_commit) },
    { "items", offsetof(struct snapfmt_meta, items) },
    { "bytes", offsetof(struct snapfmt_meta, bytes) },
    { "stored_bytes", offsetof(struct snapfmt_meta, stored_bytes) },
    { "cas_max", offsetof(struct snapfmt_meta, cas_max) },
    { "cas_reserved", offsetof(struct snapfmt_meta, cas_reserved) },
    { "journal_seq", offsetof(struct snapfmt_meta, journal_seq) },
    { "flush_pending", offsetof(struct snapfmt_meta, flush_pending) },
};

/* Every field of OUT from meta in T. */
static int
meta_read_txn(struct snapfmt_txn *t, struct snapfmt_meta *out, char *err,
              size_t errlen)
{
    MDB_val k = { 14, "writer_version" }, d;
    uint64_t v;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = meta_check_version(t, out, err, errlen);
    for (size_t i = 0; rc == SNAPFMT_OK && i < sizeof(meta_fields) /
                                                   sizeof(meta_fields[0]);
         i++) {
        rc = meta_get_u64(t, meta_fields[i].name,
                          (uint64_t *)((char *)out + meta_fields[i].off),
                          err, errlen);
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
    }
    if (rc == SNAPFMT_OK) {
        rc = meta_get_u64(t, "dict_id", &v, err, errlen);
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
        out->dict_id = (uint32_t)v;
    }
    if (rc == SNAPFMT_OK && mdb_get(t->txn, t->env->meta, &k, &d) == 0) {
        size_t n = d.mv_size < SNAPFMT_WRITER_MAX ? d.mv_size
                                                  : SNAPFMT_WRITER_MAX - 1;
        memcpy(out->writer_version, d.mv_data, n);
        out->writer_version[n] = '\0';
    }
    return rc;
}

int
snapfmt_meta_read(struct snapfmt_env *e, struct snapfmt_txn *txn,
                  struct snapfmt_meta *out, char *err, size_t errlen)
{
    struct snapfmt_txn *own = NULL;
    int rc;

    if (txn == NULL) {
        rc = snapfmt_txn_begin(e, true, &own, err, errlen);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        txn = own;
    }
    rc = meta_read_txn(txn, out, err, errlen);
    snapfmt_txn_abort(&own);
    return rc;
}

int
snapfmt_meta_write(struct snapfmt_txn *t, const struct snapfmt_meta *m)
{
    MDB_val k = { 14, "writer_version" };
    MDB_val d = { strlen(m->writer_version), (void *)m->writer_version };
    int rc;

    rc = snapfmt_meta_put_u64(t, "format_version", m->format_version);
    for (size_t i = 0; rc == SNAPFMT_OK && i < sizeof(meta_fields) /
                                                   sizeof(meta_fields[0]);
         i++) {
        rc = snapfmt_meta_put_u64(
            t, meta_fields[i].name,
            *(const uint64_t *)((const char *)m + meta_fields[i].off));
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_meta_put_u64(t, "dict_id", m->dict_id);
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_txn_fail(t, mdb_put(t->txn, t->env->meta, &k, &d, 0),
                              "meta writer_version");
    }
    return rc;
}

/* ---- dictionaries ----------------------------------------------------- */

/* Add every dictionary reachable by cursor CUR (of TXN) to S. */
static int
dicts_fill(struct snapfmt_txn *txn, MDB_cursor *cur, int level,
           struct snapfmt_dicts *s, char *err, size_t errlen)
{
    struct snapfmt_env *e = txn->env;
    struct snapfmt_dict *d;
    const unsigned char *p;
    MDB_val k, v;
    uint32_t id;
    int mrc, rc;

    while ((mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        p = k.mv_data;
        if (fmt_val_check(txn, "dicts", &k, &v) != SNAPFMT_OK) {
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s",
                                txn->err);
        }
        if (v.mv_size > SNAPFMT_DICT_MAX) {
            /* a damaged size: reading it could run past the file */
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                        "%s: a dictionary of %zu bytes (at most %u): "
                        "damaged", e->dir, v.mv_size, SNAPFMT_DICT_MAX);
        }
        if (k.mv_size != 4) {
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                        "%s: dictionary key of %zu bytes", e->dir,
                        k.mv_size);
        }
        id = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
             (uint32_t)p[3] << 24;
        rc = snapfmt_dict_create(id, v.mv_data, v.mv_size, level, &d, err,
                                 errlen);
        if (rc == SNAPFMT_OK) {
            rc = snapfmt_dicts_add(s, d);
        }
        if (rc != SNAPFMT_OK) {
            return rc == SNAPFMT_ENOMEM ? rc : SNAPFMT_ECORRUPT;
        }
    }
    if (mrc == MDB_NOTFOUND) {
        return SNAPFMT_OK;
    }
    return snapfmt_lmdb_fail(mrc, err, errlen, "%s: reading dictionaries",
                             e->dir);
}

int
snapfmt_dicts_load(struct snapfmt_env *e, struct snapfmt_txn *txn, int level,
                   struct snapfmt_dicts **out, char *err, size_t errlen)
{
    struct snapfmt_dicts *s = NULL;
    struct snapfmt_txn *own = NULL;
    MDB_cursor *cur = NULL;
    int rc, mrc;

    if (txn == NULL) {
        rc = snapfmt_txn_begin(e, true, &own, err, errlen);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        txn = own;
    }
    s = snapfmt_dicts_create();
    if (s == NULL) {
        rc = snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
        goto fail_txn;
    }
    mrc = mdb_cursor_open(txn->txn, e->dicts, &cur);
    rc = mrc == 0 ? SNAPFMT_OK
                  : snapfmt_lmdb_fail(mrc, err, errlen, "%s: dictionaries",
                                      e->dir);
    if (rc == SNAPFMT_OK) {
        rc = dicts_fill(txn, cur, level, s, err, errlen);
        mdb_cursor_close(cur);
    }
    if (rc != SNAPFMT_OK) {
        snapfmt_dicts_destroy(&s);
        goto fail_txn;
    }
    *out = s;
fail_txn:
    snapfmt_txn_abort(&own);
    return rc;
}

/* ---- cursor ----------------------------------------------------------- */

int
snapfmt_iter_open(struct snapfmt_env *e, struct snapfmt_txn *txn,
                  struct snapfmt_iter **out, char *err, size_t errlen)
{
    struct snapfmt_iter *it = calloc(1, sizeof(*it));
    int rc, mrc;

    if (it == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    it->txn = txn;
    if (txn == NULL) {
        rc = snapfmt_txn_begin(e, true, &it->txn, err, errlen);
        if (rc != SNAPFMT_OK) {
            free(it);
            return rc;
        }
        it->own_txn = true;
    }
    mrc = mdb_cursor_open(it->txn->txn, e->items, &it->cur);
    if (mrc != 0) {
        snapfmt_iter_close(&it);
        return snapfmt_lmdb_fail(mrc, err, errlen, "%s: cursor", e->dir);
    }
    *out = it;
    return SNAPFMT_OK;
}

int
snapfmt_iter_next(struct snapfmt_iter *it, const void **key, size_t *nkey,
                  const void **rec, size_t *nrec)
{
    MDB_val k, d;
    int mrc;

    mrc = mdb_cursor_get(it->cur, &k, &d, it->started ? MDB_NEXT : MDB_FIRST);
    it->started = true;
    if (mrc != 0) {
        /* MDB_NOTFOUND: SNAPFMT_END; else LMDB's words for the caller */
        return mrc == MDB_NOTFOUND ? SNAPFMT_END
                                   : snapfmt_txn_fail(it->txn, mrc,
                                                      "items cursor");
    }
    if (fmt_val_check(it->txn, "items", &k, &d) != SNAPFMT_OK) {
        return SNAPFMT_ECORRUPT;
    }
    *key = k.mv_data;
    *nkey = k.mv_size;
    *rec = d.mv_data;
    *nrec = d.mv_size;
    return SNAPFMT_OK;
}

struct snapfmt_txn *
snapfmt_iter_txn(struct snapfmt_iter *it)
{
    return it->txn;
}

void
snapfmt_iter_close(struct snapfmt_iter **itp)
{
    struct snapfmt_iter *it;

    if (itp == NULL || *itp == NULL) {
        return;
    }
    it = *itp;
    if (it->cur != NULL) {
        mdb_cursor_close(it->cur);
    }
    if (it->own_txn) {
        snapfmt_txn_abort(&it->txn);
    }
    free(it);
    *itp = NULL;
}
