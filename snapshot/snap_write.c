/*
 * snap_write.c -- one snapshot: collect the changed keys (or every item,
 * for a full rewrite) as item references, sort them by key, encode each
 * value outside every store lock and commit everything with the meta in
 * one LMDB write transaction, growing the map when it is full.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_int.h"

#define GROW_TRIES 16
#define ARENA_CHUNK (64u << 10)

/* A key to write (IT != NULL, referenced) or to delete (IT == NULL). */
struct wentry {
    uint64_t prefix;          /* first 8 key bytes, big-endian: sort key */
    const char *key;          /* item_key(it), or a copy in the arena */
    struct item *it;
    uint32_t nkey;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    char data[ARENA_CHUNK];
};

struct batch {
    struct wentry *v;
    size_t n;
    size_t cap;
    struct arena_chunk *keys; /* tombstone keys */
    bool oom;
};

/* What a committed snapshot did, for stats. */
struct wresult {
    uint64_t written;
    uint64_t removed;
    uint64_t bytes;
    bool full;
};

static uint64_t
key_prefix(const char *key, size_t nkey)
{
    uint64_t p = 0;

    for (size_t i = 0; i < 8; i++) {
        p = p << 8 | (i < nkey ? (unsigned char)key[i] : 0);
    }
    return p;
}

static int
batch_push(struct batch *b, const char *key, size_t nkey, struct item *it)
{
    struct wentry *v;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        v = realloc(b->v, cap * sizeof(*v));
        if (v == NULL) {
            b->oom = true;
            return -1;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n].prefix = key_prefix(key, nkey);
    b->v[b->n].key = key;
    b->v[b->n].it = it;
    b->v[b->n].nkey = (uint32_t)nkey;
    b->n++;
    return 0;
}

/* Copy a tombstone's key (borrowed from the store's log) into the arena. */
static const char *
arena_copy(struct batch *b, const char *key, size_t nkey)
{
    struct arena_chunk *c = b->keys;
    char *p;

    if (c == NULL || c->used + nkey > ARENA_CHUNK) {
        c = malloc(sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
        c->next = b->keys;
        c->used = 0;
        b->keys = c;
    }
    p = c->data + c->used;
    memcpy(p, key, nkey);
    c->used += nkey;
    return p;
}

/* store_changes_take() callback: runs without store locks held. */
static int
on_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct batch *b = arg;

    if (it != NULL) {
        item_ref(it);
        if (batch_push(b, item_key(it), item_nkey(it), it) != 0) {
            item_unref(it);
            return -1;
        }
        return 0;
    }
    key = arena_copy(b, key, nkey);
    if (key == NULL || batch_push(b, key, nkey, NULL) != 0) {
        b->oom = true;
        return -1;
    }
    return 0;
}

/* store_foreach() callback. */
static int
on_item(void *arg, struct item *it)
{
    return on_change(arg, item_key(it), item_nkey(it), it);
}

static void
batch_release(struct batch *b)
{
    struct arena_chunk *c, *next;

    for (size_t i = 0; i < b->n; i++) {
        item_unref(b->v[i].it);
    }
    for (c = b->keys; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(b->v);
    memset(b, 0, sizeof(*b));
}

/* LMDB's default order: bytes, then the shorter key first. */
static int
wentry_cmp(const void *pa, const void *pb)
{
    const struct wentry *a = pa, *b = pb;
    size_t n;
    int c;

    if (a->prefix != b->prefix) {
        return a->prefix < b->prefix ? -1 : 1;
    }
    n = a->nkey < b->nkey ? a->nkey : b->nkey;
    c = memcmp(a->key, b->key, n);
    if (c != 0) {
        return c;
    }
    return a->nkey < b->nkey ? -1 : (a->nkey > b->nkey);
}

/* ---- dictionary training -------------------------------------------- */

/* Copy some of the batch's values as training samples. */
static void
dict_sample(struct snap *sn, const struct batch *b)
{
    size_t stride = b->n / SNAP_SAMPLES_MAX + 1;

    if (sn->samples == NULL) {
        sn->samples = malloc(SNAP_SAMPLE_BYTES_MAX);
        if (sn->samples == NULL) {
            return;
        }
    }
    for (size_t i = 0; i < b->n && sn->nsamples < SNAP_SAMPLES_MAX;
         i += stride) {
        struct item *it = b->v[i].it;
        size_t n = it ? item_nvalue(it) : 0;

        if (n < 16 || n > 16384 ||
            sn->samples_len + n > SNAP_SAMPLE_BYTES_MAX) {
            continue;
        }
        memcpy(sn->samples + sn->samples_len, item_value(it), n);
        sn->samples_len += n;
        sn->sample_sizes[sn->nsamples++] = n;
    }
}

/* Train the first dictionary once enough samples were seen. */
static void
dict_maybe_train(struct snap *sn, const struct batch *b)
{
    struct snapfmt_dict *d = NULL;
    char err[SNAPFMT_ERR_MAX];
    uint32_t id;
    uint64_t t0;

    if (sn->cfg.compression == 0 || sn->dict != NULL || sn->dict_failed) {
        return;
    }
    dict_sample(sn, b);
    if (sn->nsamples < SNAP_SAMPLES_MIN) {
        return;
    }
    t0 = snap_now_us();
    id = snapfmt_dicts_max_id(sn->dicts) + 1;
    if (snapfmt_dict_train(sn->samples, sn->sample_sizes, sn->nsamples,
                           SNAP_DICT_CAPACITY, id, sn->cfg.compression, &d,
                           err, sizeof(err)) != SNAPFMT_OK ||
        snapfmt_dicts_add(sn->dicts, d) != SNAPFMT_OK) {
        snap_log(sn, SNAP_LOG_WARN, "snapshot: no dictionary: %s", err);
        sn->dict_failed = true;
    } else {
        sn->dict = snapfmt_dicts_get(sn->dicts, id);
        sn->dict_unsaved = true;
        snapfmt_codec_set_dict(sn->codec, sn->dict);
        snap_log(sn, SNAP_LOG_INFO,
                 "snapshot: trained dictionary %u from %u values in %llu ms",
                 (unsigned)id, sn->nsamples,
                 (unsigned long long)(snap_now_us() - t0) / 1000);
    }
    free(sn->samples);
    sn->samples = NULL;
    sn->samples_len = 0;
    sn->nsamples = 0;
}

/* ---- the transaction ------------------------------------------------ */

/* Subtract the record under KEY (if any) from the totals in M. */
static void
totals_forget(struct snap *sn, MDB_txn *txn, const struct wentry *e,
              struct snapfmt_meta *m)
{
    struct snapfmt_rec r;
    const void *rec;
    size_t nrec;
    uint64_t raw;

    if (snapfmt_get(sn->env, txn, e->key, e->nkey, &rec, &nrec) !=
        SNAPFMT_OK) {
        return;
    }
    raw = snapfmt_rec_parse(e->key, e->nkey, rec, nrec, &r, NULL, 0) ==
                  SNAPFMT_OK ? r.raw_len : nrec;
    m->items -= m->items ? 1 : 0;
    m->bytes -= m->bytes >= e->nkey + raw ? e->nkey + raw : m->bytes;
    m->stored_bytes -= m->stored_bytes >= e->nkey + nrec ? e->nkey + nrec
                                                        : m->stored_bytes;
}

/* Encode and put one item. */
static int
put_item(struct snap *sn, MDB_txn *txn, const struct wentry *e, bool full,
         struct snapfmt_meta *m, struct wresult *res)
{
    struct item *it = e->it;
    struct snapfmt_item in = {
        .key = e->key, .nkey = e->nkey, .value = item_value(it),
        .nvalue = item_nvalue(it), .flags = item_flags(it),
        .exptime = item_exptime(it), .atime = item_atime(it),
        .cas = item_cas(it),
    };
    size_t need = snapfmt_encode_bound(in.nvalue), n;
    int rc;

    if (need > sn->scratch_cap) {
        unsigned char *p = realloc(sn->scratch, need);
        if (p == NULL) {
            return SNAPFMT_ENOMEM;
        }
        sn->scratch = p;
        sn->scratch_cap = need;
    }
    rc = snapfmt_encode(sn->codec, &in, sn->scratch, sn->scratch_cap, &n);
    if (rc == SNAPFMT_OK && !full) {
        totals_forget(sn, txn, e, m);
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_put(sn->env, txn, e->key, e->nkey, sn->scratch, n, full);
    }
    if (rc == SNAPFMT_OK) {
        m->items++;
        m->bytes += e->nkey + in.nvalue;
        m->stored_bytes += e->nkey + n;
        m->cas_max = in.cas > m->cas_max ? in.cas : m->cas_max;
        res->written++;
        res->bytes += n;
    }
    return rc;
}

static int
txn_fill(struct snap *sn, MDB_txn *txn, const struct batch *b, bool full,
         struct snapfmt_meta *m, struct wresult *res)
{
    int rc = SNAPFMT_OK;

    if (full) {
        rc = snapfmt_items_clear(sn->env, txn);
        m->items = m->bytes = m->stored_bytes = m->cas_max = 0;
    }
    if (rc == SNAPFMT_OK && sn->dict_unsaved) {
        rc = snapfmt_dict_put(sn->env, txn, sn->dict);
        m->dict_id = snapfmt_dict_id(sn->dict);
    }
    for (size_t i = 0; rc == SNAPFMT_OK && i < b->n; i++) {
        const struct wentry *e = &b->v[i];
        /* the log may name a key twice: keep the first, sorted next */
        if (i > 0 && wentry_cmp(e, &b->v[i - 1]) == 0) {
            continue;
        }
        if (e->it != NULL) {
            rc = put_item(sn, txn, e, full, m, res);
        } else if (!full) {
            totals_forget(sn, txn, e, m);
            rc = snapfmt_del(sn->env, txn, e->key, e->nkey);
            res->removed++;
        }
    }
    return rc;
}

/* One attempt at the whole transaction. Caller holds txn_lock. */
static int
txn_once(struct snap *sn, const struct batch *b, bool full,
         struct snapfmt_meta *m, struct wresult *res, char *err,
         size_t errlen)
{
    MDB_txn *txn;
    uint64_t reserve;
    int rc, mrc;

    rc = snapfmt_txn_begin(sn->env, false, &txn, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    rc = txn_fill(sn, txn, b, full, m, res);
    if (rc == SNAPFMT_OK) {
        /* reserve ahead here too: the hook may not write while we do */
        reserve = store_cas_current(sn->st) + sn->cfg.cas_step;
        if (reserve < atomic_load(&sn->cas_reserved)) {
            reserve = atomic_load(&sn->cas_reserved);
        }
        m->cas_reserved = reserve;
        m->sequence++;
        m->last_commit = store_now(sn->st);
        rc = snapfmt_meta_write(sn->env, txn, m);
    }
    if (rc != SNAPFMT_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    mrc = mdb_txn_commit(txn);
    if (mrc == MDB_MAP_FULL) {
        return SNAPFMT_EMAPFULL;
    }
    if (mrc != 0) {
        snprintf(err, errlen, "commit: %s", mdb_strerror(mrc));
        return SNAPFMT_ELMDB;
    }
    atomic_store(&sn->cas_reserved, m->cas_reserved);
    return SNAPFMT_OK;
}

/* The transaction, retried after growing the map when it is full. */
static int
txn_write(struct snap *sn, const struct batch *b, bool full,
          struct wresult *res, char *err, size_t errlen)
{
    struct snapfmt_meta m;
    int rc = SNAPFMT_EMAPFULL;

    pthread_mutex_lock(&sn->txn_lock);
    atomic_store(&sn->writing, true);
    for (int i = 0; i < GROW_TRIES && rc == SNAPFMT_EMAPFULL; i++) {
        m = sn->meta;
        memset(res, 0, sizeof(*res));
        res->full = full;
        err[0] = '\0';
        rc = txn_once(sn, b, full, &m, res, err, errlen);
        if (rc == SNAPFMT_EMAPFULL &&
            snapfmt_env_grow(sn->env, sn->cfg.map_max) != SNAPFMT_OK) {
            snprintf(err, errlen, "LMDB map full at its limit");
            break;
        }
    }
    if (rc == SNAPFMT_OK) {
        sn->meta = m;
        sn->dict_unsaved = false;
    } else if (err[0] == '\0') {
        snprintf(err, errlen, "%s", snapfmt_strerror(rc));
    }
    atomic_store(&sn->writing, false);
    pthread_mutex_unlock(&sn->txn_lock);
    return rc;
}

static void
stats_done(struct snap *sn, const struct wresult *res, uint64_t t0, int rc)
{
    uint64_t used, map;

    snapfmt_env_sizes(sn->env, &used, &map);
    pthread_mutex_lock(&sn->stats_lock);
    if (rc == SNAPFMT_OK) {
        sn->stats.snapshot_count++;
        sn->stats.snapshot_last_duration_us = snap_now_us() - t0;
        sn->stats.snapshot_last_items_written = res->written;
        sn->stats.snapshot_last_keys_removed = res->removed;
        sn->stats.snapshot_last_bytes = res->bytes;
        sn->stats.snapshot_last_time = sn->meta.last_commit;
        sn->stats.snapshot_last_full = res->full;
        sn->stats.snapshot_items = sn->meta.items;
        sn->stats.snapshot_compression_ratio =
            sn->meta.stored_bytes ? (double)sn->meta.bytes /
                                        (double)sn->meta.stored_bytes
                                  : 0.0;
    } else {
        sn->stats.snapshot_failures++;
    }
    sn->stats.snapshot_bytes_on_disk = used;
    sn->stats.snapshot_map_size = map;
    sn->stats.snapshot_in_progress = 0;
    pthread_mutex_unlock(&sn->stats_lock);
}

/* Gather what to write: the change log, or every item. */
static int
collect(struct snap *sn, struct batch *b, bool *full)
{
    int rc = store_changes_take(sn->st, on_change, b);

    *full = rc == 1 || sn->need_full;
    if (rc < 0 || b->oom) {
        /* part of the log is gone: only a full rewrite is correct now */
        batch_release(b);
        sn->need_full = true;
        return -1;
    }
    if (*full) {
        batch_release(b);
        if (store_foreach(sn->st, on_item, b) != 0 || b->oom) {
            batch_release(b);
            sn->need_full = true;
            return -1;
        }
    }
    if (b->n > 1) {
        qsort(b->v, b->n, sizeof(b->v[0]), wentry_cmp);
    }
    return 0;
}

int
snap_write_locked(struct snap *sn, char *err, size_t errlen)
{
    struct batch b;
    struct wresult res;
    uint64_t t0 = snap_now_us();
    bool full = false;
    int rc;

    if (sn->refused) {
        snprintf(err, errlen, "the snapshot in %s is damaged and kept as "
                 "it is; not writing over it", sn->dir);
        return SNAP_EWRITE;
    }
    memset(&b, 0, sizeof(b));
    memset(&res, 0, sizeof(res));
    pthread_mutex_lock(&sn->stats_lock);
    sn->stats.snapshot_in_progress = 1;
    pthread_mutex_unlock(&sn->stats_lock);
    if (collect(sn, &b, &full) != 0) {
        snprintf(err, errlen, "out of memory collecting changes");
        rc = SNAPFMT_ENOMEM;
    } else {
        dict_maybe_train(sn, &b);
        rc = txn_write(sn, &b, full, &res, err, errlen);
        if (rc == SNAPFMT_OK) {
            sn->need_full = false;
        } else {
            /* the changes taken are not on disk: rewrite all next time */
            sn->need_full = true;
        }
    }
    batch_release(&b);
    stats_done(sn, &res, t0, rc);
    if (rc != SNAPFMT_OK) {
        snap_log(sn, SNAP_LOG_ERROR, "snapshot to %s failed: %s", sn->dir,
                 err);
        return SNAP_EWRITE;
    }
    return SNAP_OK;
}

void
snap_write_release(struct snap *sn)
{
    free(sn->scratch);
    sn->scratch = NULL;
    sn->scratch_cap = 0;
    free(sn->samples);
    sn->samples = NULL;
}
