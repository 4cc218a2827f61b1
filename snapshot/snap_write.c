/*
 * snap_write.c -- one snapshot. Collect the changed keys (or every item,
 * for a full rewrite) in chunks of item references; compress each chunk
 * outside every store lock, spill its records to a temporary file and
 * drop the references (snap_spill.c); sort the records by key; then
 * commit them with the meta in one LMDB write transaction, growing the
 * map when it is full. At most one chunk of items is referenced at a
 * time, so the store can go on evicting during a snapshot.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define ARENA_CHUNK (64u << 10)
#define GATHER_ITEMS 8192u          /* items referenced at once, at most */
#define GATHER_BYTES (8u << 20)     /* ... and about this many value bytes, */
#define GATHER_SHARE 64             /* ... or 1/64 of the store's memory
                                     * (two batches: one walked, one
                                     * compressed) */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    char data[ARENA_CHUNK];
};

/* One chunk of referenced items and tombstones, in log or walk order. */
struct batch {
    struct wentry *v;
    size_t n;
    size_t cap;
    size_t bytes;             /* value bytes referenced */
    struct arena_chunk *keys; /* tombstone keys */
    bool oom;
};

struct gather;

/* What a compressor thread works on. */
struct drive {
    struct gather *g;
    struct batch *b;
    int rc;
};

/*
 * The collection of one snapshot. The walker (store_changes_take or
 * store_foreach, on the writer thread) fills one batch while a compressor
 * thread encodes the other into the spill and releases its items, so
 * walking the store and compressing overlap.
 */
struct gather {
    struct snap *sn;
    struct batch b[2];
    struct batch *fill;       /* the walker's */
    struct spill *sp;         /* the compressor's while it runs */
    size_t max_bytes;         /* value bytes referenced per batch */
    pthread_t tid;
    bool busy;                /* a compressor thread runs (walker's view) */
    bool discard;             /* a full rewrite follows: ignore the log */
    uint64_t covered;         /* change sequence when it began */
    struct drive d;           /* its work; read back after joining it */
    int rc;                   /* first failure, snapfmt rc */
};


/* What a committed snapshot did, for stats. */
struct wresult {
    uint64_t written;
    uint64_t removed;
    uint64_t bytes;
    uint64_t commit_us;       /* time in the commit */
    bool full;
};

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
    b->v[b->n].key = key;
    b->v[b->n].it = it;
    b->v[b->n].nkey = (uint32_t)nkey;
    b->n++;
    b->bytes += it ? item_nvalue(it) : 0;
    return 0;
}

/* Copy a tombstone's key (borrowed from the store's log) into the arena. */
static const char *
arena_copy(struct batch *b, const char *key, size_t nkey)
{
    struct arena_chunk *c = b->keys;
    char *p;

    if (nkey > ARENA_CHUNK) {
        return NULL;        /* the store's keys are far shorter */
    }
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

/* Drop the chunk's references and keys; keep its array for the next. */
static void
batch_reset(struct batch *b)
{
    struct arena_chunk *c, *next;

    for (size_t i = 0; i < b->n; i++) {
        item_unref(b->v[i].it);
    }
    for (c = b->keys; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    b->keys = NULL;
    b->n = 0;
    b->bytes = 0;
}

static void
batch_release(struct batch *b)
{
    batch_reset(b);
    free(b->v);
    memset(b, 0, sizeof(*b));
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
    char err[SNAPFMT_ERR_MAX] = "out of memory";
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
        snap_log(sn, SNAP_LOG_WARN, "no dictionary: %s", err);
        sn->dict_failed = true;
    } else {
        sn->dict = snapfmt_dicts_get(sn->dicts, id);
        sn->dict_unsaved = true;
        snapfmt_codec_set_dict(sn->codec, sn->dict);
        snap_log(sn, SNAP_LOG_INFO,
                 "trained dictionary %u from %u values in %llu ms",
                 (unsigned)id, sn->nsamples,
                 (unsigned long long)(snap_now_us() - t0) / 1000);
    }
    free(sn->samples);
    sn->samples = NULL;
    sn->samples_len = 0;
    sn->nsamples = 0;
}

/* ---- collecting ------------------------------------------------------ */

/* snap_encode_run() callback: spill one record (or tombstone), in order. */
static int
spill_put(void *arg, size_t idx, const unsigned char *rec, size_t n)
{
    struct drive *d = arg;
    const struct wentry *e = &d->b->v[idx];

    return spill_add(d->g->sp, e->key, e->nkey, rec, n) == 0
               ? 0
               : SNAPFMT_ELMDB;
}

/* Train if due, compress batch D->b into the spill, release its items. */
static void *
drive_main(void *arg)
{
    struct drive *d = arg;

    dict_maybe_train(d->g->sn, d->b);
    d->rc = snap_encode_run(d->g->sn, d->b->v, d->b->n, spill_put, d);
    batch_reset(d->b);
    return NULL;
}

/* Wait for the compressor thread, if one runs; keep its failure. */
static int
gather_wait(struct gather *g)
{
    if (g->busy) {
        pthread_join(g->tid, NULL);
        g->busy = false;
        if (g->d.rc != SNAPFMT_OK && g->rc == SNAPFMT_OK) {
            g->rc = g->d.rc;
        }
    }
    return g->rc;
}

/*
 * Hand the walker's full batch to a compressor thread (after the previous
 * one finished) and give the walker the other, empty batch.
 */
static int
gather_flush(struct gather *g)
{
    struct batch *full = g->fill;

    if (gather_wait(g) != SNAPFMT_OK || full->n == 0) {
        return g->rc;
    }
    g->fill = full == &g->b[0] ? &g->b[1] : &g->b[0];
    g->d = (struct drive){ .g = g, .b = full, .rc = SNAPFMT_OK };
    if (pthread_create(&g->tid, NULL, drive_main, &g->d) == 0) {
        g->busy = true;
        return SNAPFMT_OK;
    }
    drive_main(&g->d);  /* no thread: compress here */
    if (g->d.rc != SNAPFMT_OK && g->rc == SNAPFMT_OK) {
        g->rc = g->d.rc;
    }
    return g->rc;
}

/* Compress what is left and wait for it. */
static int
gather_finish(struct gather *g)
{
    int rc = gather_flush(g);

    return rc == SNAPFMT_OK ? gather_flush(g) : rc;
}

/* store_changes_take() callback: runs without store locks held. */
static int
on_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct gather *g = arg;
    struct batch *b = g->fill;

    if (g->discard) {
        return 0;
    }
    if (it != NULL) {
        item_ref(it);
        if (batch_push(b, item_key(it), item_nkey(it), it) != 0) {
            item_unref(it);
            return -1;
        }
    } else {
        key = arena_copy(b, key, nkey);
        if (key == NULL || batch_push(b, key, nkey, NULL) != 0) {
            b->oom = true;
            return -1;
        }
    }
    if (b->n >= GATHER_ITEMS || b->bytes >= g->max_bytes) {
        return gather_flush(g) == SNAPFMT_OK ? 0 : -1;
    }
    return 0;
}

/* store_foreach() callback. */
static int
on_item(void *arg, struct item *it)
{
    return on_change(arg, item_key(it), item_nkey(it), it);
}

/*
 * Gather what to write into the spill: the change log, or every item.
 * On failure the changes taken are lost, so the next snapshot must be a
 * full rewrite (the caller sets need_full).
 */
static int
collect(struct snap *sn, struct gather *g, bool *full, char *err,
        size_t errlen)
{
    bool oom;
    int rc;

    /* into an empty snapshot, sorted appends are the fast way; when a full
     * rewrite is due anyway, the log is taken (a new epoch) and ignored */
    g->discard = sn->need_full || sn->meta.items == 0;
    rc = store_changes_take(sn->st, on_change, g);
    *full = rc == 1 || g->discard;
    g->discard = false;
    rc = rc == 1 ? 0 : rc;
    if (rc == 0 && *full) {
        /* start over from the store: drop what the log gave */
        gather_finish(g);
        batch_reset(g->fill);
        spill_reset(g->sp);
        rc = g->b[0].oom || g->b[1].oom ? -1 : store_foreach(sn->st, on_item,
                                                               g);
    }
    if (gather_finish(g) != SNAPFMT_OK) {
        rc = -1;
    }
    oom = g->b[0].oom || g->b[1].oom;
    if (rc != 0 || oom || g->rc != SNAPFMT_OK) {
        snprintf(err, errlen, "collecting changes: %s",
                 oom ? "out of memory"
                     : g->sp->sys_err ? strerror(g->sp->sys_err)
                                      : snapfmt_strerror(g->rc));
        return -1;
    }
    return 0;
}

/* ---- the transaction ------------------------------------------------ */

/*
 * State of the transaction, the argument of its fill (txn_body), which
 * snapfmt_txn_run() may call again after growing the map: every call
 * starts over from the committed meta.
 */
struct fill {
    struct snap *sn;
    const struct spill *sp;
    bool full;
    uint64_t covered;         /* journal changes up to this are in it */
    struct snapfmt_txn *txn;  /* the current try's */
    struct snapfmt_meta m;    /* meta as this transaction leaves it */
    struct wresult *res;
    uint64_t filled_us;       /* when the fill ended: the commit follows */
};

/* Subtract the record a put or delete replaced (KEY's) from the totals. */
static void
totals_forget(struct snapfmt_meta *m, size_t nkey,
              const struct snapfmt_prev *prev)
{
    uint64_t raw = prev->peeked ? prev->raw_len : prev->nrec;

    m->items -= m->items ? 1 : 0;
    m->bytes -= m->bytes >= nkey + raw ? nkey + raw : m->bytes;
    m->stored_bytes -= m->stored_bytes >= nkey + prev->nrec
                           ? nkey + prev->nrec
                           : m->stored_bytes;
}

/*
 * Incremental: one tree descent per key (snapfmt_update), which finds
 * the old record (for the totals) and replaces or deletes it in place.
 */
static int
fill_update(struct fill *f, const unsigned char *key, size_t nkey,
            const unsigned char *rec, size_t n)
{
    struct snapfmt_prev prev;
    int rc = snapfmt_update(f->txn, key, nkey, rec, n, &prev);

    if (rc == SNAPFMT_OK && prev.found) {
        totals_forget(&f->m, nkey, &prev);
        f->res->removed += rec == NULL;
    }
    return rc;
}

/* Write spilled entry E: its record, or a deletion. */
static int
fill_one(struct fill *f, const struct spill_entry *e)
{
    const unsigned char *key = f->sp->map + e->off;
    const unsigned char *rec = e->nrec ? key + e->nkey : NULL;
    uint32_t exptime, atime, raw_len;
    uint64_t cas;
    int rc;

    if (f->full) {
        rc = rec == NULL ? SNAPFMT_OK
                         : snapfmt_put(f->txn, key, e->nkey, rec, e->nrec,
                                       true);
    } else {
        rc = fill_update(f, key, e->nkey, rec, e->nrec);
    }
    if (rc == SNAPFMT_OK && rec != NULL &&
        snapfmt_rec_peek(rec, e->nrec, &exptime, &atime, &cas, &raw_len) ==
            SNAPFMT_OK) {
        f->m.items++;
        f->m.bytes += e->nkey + raw_len;
        f->m.stored_bytes += e->nkey + e->nrec;
        f->m.cas_max = cas > f->m.cas_max ? cas : f->m.cas_max;
        f->res->written++;
        f->res->bytes += e->nrec;
    }
    return rc;
}

/* The records (and a new dictionary) of the transaction. */
static int
fill_records(struct fill *f)
{
    const struct spill *sp = f->sp;
    struct snap *sn = f->sn;
    int rc = SNAPFMT_OK;

    if (f->full) {
        rc = snapfmt_items_clear(f->txn);
        f->m.items = f->m.bytes = f->m.stored_bytes = f->m.cas_max = 0;
    }
    if (rc == SNAPFMT_OK && sn->dict_unsaved) {
        rc = snapfmt_dict_put(f->txn, sn->dict);
        f->m.dict_id = snapfmt_dict_id(sn->dict);
    }
    for (size_t i = 0; rc == SNAPFMT_OK && i < sp->n; i++) {
        /* the log may name a key twice: both saw its current state */
        if (i > 0 && spill_cmp(sp, &sp->v[i], &sp->v[i - 1]) == 0) {
            continue;
        }
        rc = fill_one(f, &sp->v[i]);
    }
    return rc;
}

/* One try of the whole transaction (snapfmt_fill_fn). ARG: struct fill. */
static int
txn_body(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    struct fill *f = arg;
    struct snap *sn = f->sn;
    uint64_t reserve;
    int rc;

    (void)err;
    (void)errlen;
    f->txn = txn;
    f->m = sn->meta;
    memset(f->res, 0, sizeof(*f->res));
    f->res->full = f->full;
    rc = fill_records(f);
    if (rc == SNAPFMT_OK) {
        /* reserve ahead here too: the hook may not write while we do */
        reserve = store_cas_current(sn->st) + sn->cfg.cas_step;
        if (reserve < atomic_load(&sn->cas_reserved)) {
            reserve = atomic_load(&sn->cas_reserved);
        }
        f->m.cas_reserved = reserve;
        /* what the journal may now forget, and a flush yet to come */
        f->m.journal_seq = f->covered;
        f->m.flush_pending = store_flush_pending(sn->st);
        f->m.sequence++;
        f->m.last_commit = store_now(sn->st);
        /* records are written in this build's format from now on: an
         * older reader of a version 1 snapshot must refuse it */
        f->m.format_version = SNAPFMT_VERSION;
        rc = snapfmt_meta_write(txn, &f->m);
    }
    f->filled_us = snap_now_us();
    return rc;
}

/*
 * Grow the map before a big transaction rather than failing it half way:
 * LMDB keeps the old pages until commit, so a full rewrite needs room for
 * both copies, plus LMDB's per-node overhead.
 */
static void
map_prepare(struct snap *sn, const struct spill *sp, bool full)
{
    uint64_t used, map, est = 0;

    for (size_t i = 0; i < sp->n; i++) {
        est += sp->v[i].nkey + sp->v[i].nrec + 64;
    }
    snapfmt_env_sizes(sn->env, &used, &map);
    est = used + est + est / 4 + (full ? used : 0);
    snapfmt_env_reserve(sn->env, est, sn->cfg.map_max);
}

/*
 * The transaction: snapfmt_txn_run() grows the map and runs it again when
 * it is full, in a put or in the commit. Caller holds run_lock.
 */
static int
txn_write(struct snap *sn, const struct spill *sp, bool full,
          uint64_t covered, struct wresult *res, char *err, size_t errlen)
{
    struct fill f = { .sn = sn, .sp = sp, .full = full, .res = res,
                      .covered = covered };
    char why[SNAP_ERR_MAX];
    int rc;

    pthread_mutex_lock(&sn->txn_lock);
    /* workers cannot reserve CAS values while our transaction is open:
     * make sure half a step of headroom is durable before it starts */
    if (atomic_load(&sn->cas_reserved) <
        store_cas_current(sn->st) + sn->cfg.cas_step / 2) {
        snap_reserve_locked(sn, store_cas_current(sn->st) + sn->cfg.cas_step,
                            why, sizeof(why));
    }
    atomic_store(&sn->writing, true);
    map_prepare(sn, sp, full);
    err[0] = '\0';
    rc = snapfmt_txn_run(sn->env, sn->cfg.map_max, txn_body, &f, err,
                         errlen);
    if (rc == SNAPFMT_OK) {
        res->commit_us = snap_now_us() - f.filled_us;
        sn->meta = f.m;
        atomic_store(&sn->cas_reserved, f.m.cas_reserved);
        sn->dict_unsaved = false;
    } else {
        if (err[0] == '\0') {
            snprintf(err, errlen, "%s", snapfmt_strerror(rc));
        }
        snap_env_recover(sn);
    }
    atomic_store(&sn->writing, false);
    pthread_mutex_unlock(&sn->txn_lock);
    return rc;
}

static void
stats_done(struct snap *sn, const struct wresult *res, uint64_t t0,
           uint64_t covered, int rc, const char *err)
{
    if (rc == SNAPFMT_OK) {
        snap_stats_disk(sn, covered);
    }
    pthread_mutex_lock(&sn->stats_lock);
    if (rc == SNAPFMT_OK) {
        sn->stats.snapshot_count++;
        sn->stats.snapshot_last_duration_us = snap_now_us() - t0;
        sn->stats.snapshot_last_items_written = res->written;
        sn->stats.snapshot_last_keys_removed = res->removed;
        sn->stats.snapshot_last_bytes = res->bytes;
        sn->stats.snapshot_last_full = res->full;
        sn->stats.snapshot_last_status = SNAP_STATUS_OK;
        sn->stats.snapshot_last_error[0] = '\0';
    } else {
        sn->stats.snapshot_failures++;
        sn->stats.snapshot_last_status = SNAP_STATUS_FAILED;
        snprintf(sn->stats.snapshot_last_error,
                 sizeof(sn->stats.snapshot_last_error), "%s", err);
    }
    sn->stats.snapshot_in_progress = 0;
    pthread_mutex_unlock(&sn->stats_lock);
}

/* One INFO line per committed snapshot, with where the time went. */
static void
log_done(struct snap *sn, const struct wresult *res, const uint64_t t[3])
{
    uint64_t now = snap_now_us();

    snap_log(sn, SNAP_LOG_INFO,
             "snapshot %llu: %s, %llu written, %llu removed, %llu ms "
             "(collect+compress %llu, sort %llu, write %llu, commit "
             "%llu)",
             (unsigned long long)sn->meta.sequence,
             res->full ? "full" : "incremental",
             (unsigned long long)res->written,
             (unsigned long long)res->removed,
             (unsigned long long)(now - t[0]) / 1000,
             (unsigned long long)(t[1] - t[0]) / 1000,
             (unsigned long long)(t[2] - t[1]) / 1000,
             (unsigned long long)(now - t[2] - res->commit_us) / 1000,
             (unsigned long long)res->commit_us / 1000);
}

/* Collect, spill, sort, write. Returns a snapfmt rc with ERR filled. */
static int
write_once(struct snap *sn, struct gather *g, struct wresult *res,
           char *err, size_t errlen)
{
    uint64_t t[3];
    bool full = false;
    int rc;

    t[0] = snap_now_us();
    if (collect(sn, g, &full, err, errlen) != 0) {
        return SNAPFMT_ENOMEM;
    }
    t[1] = snap_now_us();
    rc = spill_finish(g->sp, err, errlen);
    t[2] = snap_now_us();
    if (rc == SNAPFMT_OK) {
        rc = txn_write(sn, g->sp, full, g->covered, res, err, errlen);
    }
    if (rc == SNAPFMT_OK) {
        log_done(sn, res, t);
    }
    return rc;
}

/*
 * How much of the store a snapshot may pin at once: what it references
 * cannot be evicted, so keep it to a small share of -m.
 */
static size_t
gather_max_bytes(struct snap *sn)
{
    struct store_stats ss;
    uint64_t share;

    store_stats(sn->st, &ss);
    share = ss.limit_maxbytes / GATHER_SHARE;
    if (share > GATHER_BYTES) {
        share = GATHER_BYTES;
    }
    return share < 4096 ? 4096 : (size_t)share;
}

int
snap_write_locked(struct snap *sn, char *err, size_t errlen)
{
    struct spill sp;
    struct gather g;
    struct wresult res;
    uint64_t t0 = snap_now_us(), covered;
    int rc;

    if (!sn->loaded) {
        /* writing an unloaded store would erase the snapshot on disk */
        snprintf(err, errlen, "snap_load() was not called for %s", sn->dir);
        return SNAP_EINVAL;
    }
    if (sn->refused) {
        snprintf(err, errlen, "the snapshot in %s is damaged and kept as "
                 "it is; not writing over it", sn->dir);
        return SNAP_EWRITE;
    }
    memset(&res, 0, sizeof(res));
    pthread_mutex_lock(&sn->stats_lock);
    sn->stats.snapshot_in_progress = 1;
    pthread_mutex_unlock(&sn->stats_lock);
    /* the journal moves to new segments first: the ones it leaves hold
     * changes up to COVERED at most, which this snapshot will hold */
    if (sn->jrn != NULL) {
        jrn_rotate(sn->jrn);
    }
    covered = store_seq_current(sn->st);
    rc = spill_open(&sp, sn->dir, err, errlen);
    if (rc == SNAPFMT_OK) {
        g = (struct gather){ .sn = sn, .sp = &sp, .covered = covered,
                             .max_bytes = gather_max_bytes(sn) };
        g.fill = &g.b[0];
        rc = write_once(sn, &g, &res, err, errlen);
        batch_release(&g.b[0]);
        batch_release(&g.b[1]);
        spill_close(&sp);
    }
    if (rc == SNAPFMT_OK && sn->jrn != NULL) {
        jrn_retire(sn->jrn, covered);
    }
    /* changes taken but not on disk: only a full rewrite is right now */
    sn->need_full = rc != SNAPFMT_OK;
    stats_done(sn, &res, t0, covered, rc, err);
    snap_note_result(sn, rc == SNAPFMT_OK, err);
    return rc == SNAPFMT_OK ? SNAP_OK : SNAP_EWRITE;
}

void
snap_write_release(struct snap *sn)
{
    snap_encode_release(sn);
    free(sn->samples);
    sn->samples = NULL;
}
