/*
 * snap_write.c -- one snapshot, in format 3. The store hands its items
 * (a full snapshot) or the keys changed since the last take (an
 * incremental one) in snapshot order; each is copied into the block
 * pipeline at once (no reference is kept, so nothing is pinned), blocks
 * are sealed on other cores and spilled to a temporary file, and then
 * put into LMDB as one run, appended in key order.
 *
 * Memory: LMDB keeps every page a write transaction dirties in malloc'd
 * memory until its commit, so a snapshot writes its run in several
 * transactions of at most batch_max bytes of blocks each (1/64 of -m,
 * within BATCH_MIN..BATCH_MAX), full or incremental alike. The run is
 * invisible until the last transaction: for an incremental that one
 * writes meta run_end past the run; for a full one it also deletes every
 * other run and makes the new run the base. A crash at any moment leaves
 * the previous snapshot whole: blocks of an unfinished run lie past meta
 * run_end, the loader ignores them, and the next snapshot, seeing them
 * (next_run), is a full one, which deletes them before meta names any
 * run past them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define BATCH_SHARE 64              /* a snapshot commits every 1/64 */
#define BATCH_MIN (1u << 20)        /* of -m, at least this, */
#define BATCH_MAX (64u << 20)       /* at most this */

/* The record flags of an item's state (snapfmt knows nothing of items). */
unsigned
snap_rflags(unsigned state_bits, bool explicit_cas)
{
    unsigned rf = 0;

    rf |= (state_bits & STORE_STATE_FETCHED) ? SNAPFMT_RF_FETCHED : 0;
    rf |= (state_bits & STORE_STATE_STALE) ? SNAPFMT_RF_STALE : 0;
    rf |= (state_bits & STORE_STATE_WON) ? SNAPFMT_RF_WON : 0;
    rf |= (state_bits & STORE_STATE_KEY_BINARY) ? SNAPFMT_RF_KEY_BINARY : 0;
    rf |= explicit_cas ? SNAPFMT_RF_CAS_EXPLICIT : 0;
    return rf;
}

unsigned
snap_state_bits(unsigned rf)
{
    unsigned bits = 0;

    bits |= (rf & SNAPFMT_RF_FETCHED) ? STORE_STATE_FETCHED : 0;
    bits |= (rf & SNAPFMT_RF_STALE) ? STORE_STATE_STALE : 0;
    bits |= (rf & SNAPFMT_RF_WON) ? STORE_STATE_WON : 0;
    bits |= (rf & SNAPFMT_RF_KEY_BINARY) ? STORE_STATE_KEY_BINARY : 0;
    return bits;
}

/* What the run being written adds up to. */
struct totals {
    uint64_t blocks;
    uint64_t records;
    uint64_t items;
    uint64_t tombs;
    uint64_t gone;            /* items of the snapshot these replace */
    uint64_t bytes;           /* key + raw value of every item */
    uint64_t gone_bytes;      /* ... of the items they replace */
    uint64_t stored;          /* LMDB key + value of every block */
    uint64_t cas_max;
};

/* One snapshot being written. */
struct wctx {
    struct snap *sn;
    struct spill *sp;         /* sealed blocks not yet in a transaction */
    struct bpipe *pipe;
    struct snapfmt_txn *rtxn; /* an incremental's view of the snapshot */
    struct snapfmt_probe *probe; /* ... where it looks its keys up */
    uint64_t run;
    bool full;
    bool discard;             /* the change log's take is ignored */
    uint64_t covered;         /* journal changes up to this are in it */
    uint64_t batch_max;       /* spilled bytes that make a full commit */
    struct totals t;
    unsigned commits;         /* transactions so far */
    uint64_t commit_us;       /* time in them */
    uint64_t txn_max;         /* the most block bytes one of them put */
    int rc;                   /* a failed batch commit's */
    char *err;
    size_t errlen;
};

/* The transaction's argument: which blocks, and what meta to write. */
struct fill {
    struct wctx *w;
    bool last;                /* the snapshot's last transaction */
    struct snapfmt_meta m;    /* meta as this transaction leaves it */
};

/* ---- the walk --------------------------------------------------------- */

/*
 * An incremental's record of KEY (hash H) replaces what the snapshot
 * holds of it: count the item it replaces, so that meta's items and
 * bytes stay what the snapshot holds (not what its runs hold).
 */
static int
count_replaced(struct wctx *w, uint64_t h, const char *key, size_t nkey)
{
    struct snapfmt_brec old;
    uint64_t run;
    int rc;

    rc = snapfmt_probe_find(w->probe, h, key, nkey, &old, &run, w->err,
                            w->errlen);
    if (rc == SNAPFMT_OK && old.type == SNAPFMT_B_ITEM) {
        w->t.gone++;
        w->t.gone_bytes += old.nkey + old.nvalue;
    }
    return rc == SNAPFMT_END ? SNAPFMT_OK : rc;
}

/* Add IT, or KEY's tombstone when IT is NULL, to the pipeline. */
static int
add_record(struct wctx *w, const char *key, size_t nkey, struct item *it)
{
    int rc;

    struct snapfmt_brec r = { .type = SNAPFMT_B_TOMB, .key = key,
                              .nkey = nkey };

    if (it != NULL) {
        r.type = SNAPFMT_B_ITEM;
        r.rflags = snap_rflags(item_state_bits(it), item_cas_explicit(it));
        r.flags = item_flags(it);
        r.exptime = item_exptime(it);
        r.atime = item_atime(it);
        r.cas = item_cas(it);
        r.value = item_value(it);
        r.nvalue = item_nvalue(it);
        w->t.items++;
        if (!item_cas_explicit(it) && r.cas > w->t.cas_max) {
            w->t.cas_max = r.cas;
        }
        w->t.bytes += nkey + r.nvalue;
    } else {
        w->t.tombs++;
    }
    r.hash = snapfmt_key_hash(key, nkey);
    w->t.records++;
    if (w->probe != NULL) {
        rc = count_replaced(w, r.hash, key, nkey);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
    }
    return bpipe_add(w->pipe, &r);
}

/* store_changes_take() callback: runs without store locks held. */
static int
on_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct wctx *w = arg;

    return w->discard ? 0 : add_record(w, key, nkey, it);
}

/* store_foreach() callback. */
static int
on_item(void *arg, struct item *it)
{
    return add_record(arg, item_key(it), item_nkey(it), it);
}

/* ---- transactions ----------------------------------------------------- */

/* Meta every snapshot transaction ends with: CAS reservation, journal,
 * sequence, time, format. */
static void
meta_common(struct snap *sn, struct snapfmt_meta *m, uint64_t covered)
{
    /* reserve ahead here too: the hook may not write while we do */
    uint64_t reserve = store_cas_current(sn->st) + sn->cfg.cas_step;

    if (reserve < atomic_load(&sn->cas_reserved)) {
        reserve = atomic_load(&sn->cas_reserved);
    }
    m->cas_reserved = reserve;
    /* what the journal may now forget, and a flush yet to come */
    m->journal_seq = covered;
    m->flush_pending = store_flush_pending(sn->st);
    m->sequence++;
    m->last_commit = store_now(sn->st);
    /* an older build must refuse what it cannot read */
    m->format_version = SNAPFMT_VERSION;
}

/* The meta of the snapshot's last transaction. */
static void
meta_final(struct wctx *w, struct snapfmt_meta *m)
{
    const struct totals *t = &w->t;

    if (w->full) {
        m->base_run = w->run;
        m->run_end = w->run + 1;
        m->blocks = m->records = m->base_records = 0;
        m->items = m->bytes = m->stored_bytes = m->cas_max = 0;
        m->dict_id = 0;
    } else if (t->blocks > 0) {
        m->run_end = w->run + 1;
    }
    m->blocks += t->blocks;
    m->records += t->records;
    m->base_records += w->full ? t->records : 0;
    /* an incremental's records replace what the snapshot held of them */
    m->items = m->items + t->items > t->gone ? m->items + t->items - t->gone
                                             : 0;
    m->bytes = m->bytes + t->bytes > t->gone_bytes
                   ? m->bytes + t->bytes - t->gone_bytes : 0;
    m->stored_bytes += t->stored;
    m->cas_max = t->cas_max > m->cas_max ? t->cas_max : m->cas_max;
    meta_common(w->sn, m, w->covered);
}

/* One try of a transaction (snapfmt_fill_fn): the spilled blocks, and
 * for the last one the other runs' deletion and the meta. */
static int
txn_body(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    struct fill *f = arg;
    struct wctx *w = f->w;
    const struct spill *sp = w->sp;
    int rc = SNAPFMT_OK;

    (void)err;
    (void)errlen;
    for (size_t i = 0; rc == SNAPFMT_OK && i < sp->n; i++) {
        const unsigned char *key = sp->map + sp->v[i].off;

        rc = snapfmt_block_put(txn, key, sp->v[i].nkey, key + sp->v[i].nkey,
                               sp->v[i].nrec);
    }
    if (rc != SNAPFMT_OK || !f->last) {
        return rc;
    }
    f->m = w->sn->meta;
    if (w->full) {
        rc = snapfmt_blocks_del_runs(txn, 0, w->run, NULL);
        if (rc == SNAPFMT_OK) {
            rc = snapfmt_blocks_del_runs(txn, w->run + 1, UINT64_MAX, NULL);
        }
        if (rc == SNAPFMT_OK) {
            rc = snapfmt_items_clear(txn);  /* format 2's records */
        }
    }
    meta_final(w, &f->m);
    return rc == SNAPFMT_OK ? snapfmt_meta_write(txn, &f->m) : rc;
}

/*
 * Grow the map before a big transaction rather than failing it half way:
 * the blocks, plus LMDB's overhead; the old run's pages are freed only
 * by the last transaction of a full snapshot.
 */
static void
map_prepare(struct snap *sn, const struct spill *sp)
{
    uint64_t used, map, est;

    snapfmt_env_sizes(sn->env, &used, &map);
    est = used + sp->size + sp->size / 4 + ((uint64_t)1 << 20);
    snapfmt_env_reserve(sn->env, est, sn->cfg.map_max);
}

/*
 * Put the spilled blocks (and for LAST the meta) in one transaction,
 * grown and run again when the map is full; then forget them.
 */
static int
txn_commit(struct wctx *w, bool last)
{
    struct snap *sn = w->sn;
    struct fill f = { .w = w, .last = last };
    char why[SNAP_ERR_MAX];
    uint64_t t0;
    int rc = spill_finish(w->sp, w->err, w->errlen);

    if (rc != SNAPFMT_OK) {
        return rc;
    }
    pthread_mutex_lock(&sn->txn_lock);
    /* workers cannot reserve CAS values while our transaction is open:
     * make sure half a step of headroom is durable before it starts */
    if (atomic_load(&sn->cas_reserved) <
        store_cas_current(sn->st) + sn->cfg.cas_step / 2) {
        snap_reserve_locked(sn, store_cas_current(sn->st) + sn->cfg.cas_step,
                            why, sizeof(why));
    }
    atomic_store(&sn->writing, true);
    map_prepare(sn, w->sp);
    if (w->sp->size > w->txn_max) {
        w->txn_max = w->sp->size;
    }
    w->err[0] = '\0';
    t0 = snap_now_us();
    rc = snapfmt_txn_run(sn->env, sn->cfg.map_max, txn_body, &f, w->err,
                         w->errlen);
    w->commit_us += snap_now_us() - t0;
    w->commits++;
    if (rc == SNAPFMT_OK && last) {
        sn->meta = f.m;
        atomic_store(&sn->cas_reserved, f.m.cas_reserved);
    } else if (rc != SNAPFMT_OK) {
        if (w->err[0] == '\0') {
            snprintf(w->err, w->errlen, "%s", snapfmt_strerror(rc));
        }
        /* a failed meta-page write leaves LMDB refusing every later
         * transaction: reopen the environment */
        snap_env_recover(sn);
    }
    atomic_store(&sn->writing, false);
    pthread_mutex_unlock(&sn->txn_lock);
    spill_reset(w->sp);
    return rc;
}

/* An incremental looks its keys up in the snapshot it adds to. Its own
 * read transaction is closed around every write transaction (batch()):
 * growing the map or reopening the environment after a failed commit
 * unmaps what an open transaction points into. The probe sees the runs
 * of meta, which the new run joins only at the last commit. */
static int
probe_open(struct wctx *w)
{
    struct snap *sn = w->sn;
    int rc;

    rc = snapfmt_txn_begin(sn->env, true, &w->rtxn, w->err, w->errlen);
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_probe_open(w->rtxn, sn->meta.base_run,
                                sn->meta.run_end, &w->probe, w->err,
                                w->errlen);
    }
    return rc;
}

static void
probe_close(struct wctx *w)
{
    snapfmt_probe_close(&w->probe);
    snapfmt_txn_abort(&w->rtxn);
}

/* Commit the blocks spilled so far, the probe closed meanwhile. */
static int
batch(struct wctx *w)
{
    bool probing = w->probe != NULL;
    int rc;

    probe_close(w);
    rc = txn_commit(w, false);
    return rc == SNAPFMT_OK && probing ? probe_open(w) : rc;
}

/* The pipeline's sink: spill a sealed block; commit what was spilled
 * once it is a batch (the run stays invisible until the last commit). */
static int
on_block(void *arg, const void *key, size_t nkey, const void *val,
         size_t nval, uint32_t nrec, size_t raw_len)
{
    struct wctx *w = arg;

    (void)nrec;
    (void)raw_len;
    if (spill_add(w->sp, key, nkey, val, nval) != 0) {
        snprintf(w->err, w->errlen, "temporary file: %s",
                 strerror(w->sp->sys_err));
        return SNAPFMT_ELMDB;
    }
    w->t.blocks++;
    w->t.stored += nkey + nval;
    if (w->sp->size >= w->batch_max) {
        w->rc = batch(w);
        return w->rc;
    }
    return SNAPFMT_OK;
}

/* ---- one snapshot ----------------------------------------------------- */

/* The run a new snapshot writes: after meta's and after any block left
 * on disk by a snapshot that did not finish; *LEFT says there are such
 * blocks. Read in a write transaction, which has no reader slot tied to
 * this thread. */
static int
next_run(struct snap *sn, uint64_t *run, bool *left, char *err,
         size_t errlen)
{
    struct snapfmt_txn *t = NULL;
    uint64_t last = 0;
    int rc;

    pthread_mutex_lock(&sn->txn_lock);
    rc = snapfmt_txn_begin(sn->env, false, &t, err, errlen);

    if (rc == SNAPFMT_OK) {
        rc = snapfmt_blocks_last_run(t, &last);
        if (rc != SNAPFMT_OK) {
            snprintf(err, errlen, "%s", snapfmt_txn_error(t));
        }
    }
    snapfmt_txn_abort(&t);
    pthread_mutex_unlock(&sn->txn_lock);
    *run = last + 1 > sn->meta.run_end ? last + 1 : sn->meta.run_end;
    *left = last >= sn->meta.run_end;
    return rc;
}

/* Whether the next snapshot must be a full one: asked for, another
 * format on disk, or the runs past the base have grown too many or too
 * large (each costs the loader a merge input; their records a rewrite
 * of the base would drop). */
static bool
full_due(const struct snap *sn)
{
    const struct snapfmt_meta *m = &sn->meta;
    uint64_t delta = m->records - m->base_records;

    return sn->need_full || m->format_version < SNAPFMT_VERSION ||
           m->run_end <= m->base_run ||
           m->run_end - m->base_run >= SNAP_RUNS_MAX ||
           (delta > 1024 && delta > m->base_records / 4);
}

/* Walk the store into the pipeline: the change log, or every item. */
static int
walk(struct wctx *w)
{
    struct snap *sn = w->sn;
    int rc;

    w->discard = w->full;
    rc = w->full ? SNAPFMT_OK : probe_open(w);
    if (rc == SNAPFMT_OK) {
        rc = store_changes_take(sn->st, on_change, w);
    }
    probe_close(w);
    w->discard = false;
    if (rc == 1) {
        if (!w->full) {
            return 1;   /* the log overflowed (or a flush_all): all */
        }
        rc = 0;         /* ignored anyway */
    }
    if (rc == 0 && w->full) {
        rc = store_foreach(sn->st, on_item, w);
    }
    if (rc == 0) {
        rc = bpipe_finish(w->pipe);
    }
    return rc;
}

/* Set W up for a snapshot of RUN (FULL or not) and write it. */
static int
write_run(struct wctx *w)
{
    int rc = bpipe_open(w->sn, w->run, on_block, w, &w->pipe);

    if (rc != SNAPFMT_OK) {
        snprintf(w->err, w->errlen, "out of memory");
        return rc;
    }
    rc = walk(w);
    bpipe_close(&w->pipe);
    if (rc == 1) {
        return 1;
    }
    if (rc != 0 && w->err[0] == '\0') {
        snprintf(w->err, w->errlen, "collecting items: %s",
                 w->rc != 0 ? "a transaction failed"
                 : rc < 0 && rc >= SNAPFMT_EZSTD ? snapfmt_strerror(rc)
                                                 : "out of memory");
    }
    if (rc != 0) {
        return rc < 0 ? rc : SNAPFMT_ENOMEM;
    }
    return txn_commit(w, true);
}

/* What a committed snapshot did, for stats. */
struct wresult {
    uint64_t written;
    uint64_t removed;
    uint64_t bytes;
    uint64_t commit_us;
    uint64_t commits;
    uint64_t txn_max;
    bool full;
};

/* A full or incremental snapshot into SP; with FULL false it may turn
 * full (the change log overflowed). */
static int
write_once(struct snap *sn, struct spill *sp, uint64_t covered,
           struct wresult *res, char *err, size_t errlen)
{
    struct store_stats ss;
    struct wctx w = { .sn = sn, .sp = sp, .covered = covered, .err = err,
                      .errlen = errlen };
    bool left = false;
    int rc;

    store_stats(sn->st, &ss);
    w.batch_max = ss.limit_maxbytes / BATCH_SHARE;
    w.batch_max = w.batch_max < BATCH_MIN ? BATCH_MIN
                  : w.batch_max > BATCH_MAX ? BATCH_MAX : w.batch_max;
    rc = next_run(sn, &w.run, &left, err, errlen);
    /* an unfinished run must go before meta names a run past it: only
     * a full snapshot deletes it (an incremental would make it visible,
     * and a crash may have taken what replaced its values) */
    w.full = full_due(sn) || left;
    if (rc == SNAPFMT_OK) {
        rc = write_run(&w);
    }
    if (rc == 1) {
        /* start over, everything */
        spill_reset(sp);
        memset(&w.t, 0, sizeof(w.t));
        w.full = true;
        err[0] = '\0';
        rc = write_run(&w);
    }
    res->written = w.t.records - w.t.tombs;
    res->removed = w.t.tombs;
    res->bytes = w.t.stored;
    res->commit_us = w.commit_us;
    res->commits = w.commits;
    res->txn_max = w.txn_max;
    res->full = w.full;
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
        sn->stats.snapshot_last_commits = res->commits;
        sn->stats.snapshot_last_txn_max_bytes = res->txn_max;
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
log_done(struct snap *sn, const struct wresult *res, uint64_t t0)
{
    uint64_t all = snap_now_us() - t0;

    snap_log(sn, SNAP_LOG_INFO,
             "snapshot %llu: %s, %llu written, %llu removed, %llu ms "
             "(collect+compress %llu, commit %llu)",
             (unsigned long long)sn->meta.sequence,
             res->full ? "full" : "incremental",
             (unsigned long long)res->written,
             (unsigned long long)res->removed,
             (unsigned long long)all / 1000,
             (unsigned long long)(all - res->commit_us) / 1000,
             (unsigned long long)res->commit_us / 1000);
}

int
snap_write_locked(struct snap *sn, char *err, size_t errlen)
{
    struct spill sp;
    struct wresult res;
    uint64_t t0 = snap_now_us(), covered;
    int rc;

    if (!sn->loaded) {
        /* writing an unloaded store would erase the snapshot on disk */
        snprintf(err, errlen, "snap_load() was not called for %s", sn->dir);
        return SNAP_EINVAL;
    }
    if (sn->shared || sn->handed_over) {
        snprintf(err, errlen, "%s belongs to another emberd", sn->dir);
        return SNAP_ECLOSED;
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
    err[0] = '\0';
    rc = spill_open(&sp, sn->dir, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = write_once(sn, &sp, covered, &res, err, errlen);
        spill_close(&sp);
    }
    if (rc == SNAPFMT_OK && sn->jrn != NULL) {
        jrn_retire(sn->jrn, covered);
    }
    /* changes taken but not on disk: only a full rewrite is right now */
    sn->need_full = rc != SNAPFMT_OK;
    stats_done(sn, &res, t0, covered, rc, err);
    snap_note_result(sn, rc == SNAPFMT_OK, err);
    if (rc != SNAPFMT_OK) {
        return SNAP_EWRITE;
    }
    log_done(sn, &res, t0);
    return SNAP_OK;
}

void
snap_write_release(struct snap *sn)
{
    for (unsigned i = 0; i < SNAP_ENCODERS; i++) {
        snapfmt_codec_destroy(&sn->codecs[i]);
    }
}
