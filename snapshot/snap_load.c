/*
 * snap_load.c -- warm restart: the journal scanned first, the snapshot
 * loaded (format 3: snap_load3.c; formats 1 and 2 here), the journal's
 * changes applied, the CAS counter set. Formats 1 and 2, in one read
 * transaction: walk the records in key order verifying each (checksum
 * over header, key and payload) and skipping the expired, sort what is
 * left by last access (newest first), then decode straight into store
 * items in several threads. Records stay in the LMDB map (no copies)
 * until the transaction ends.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define LOAD_THREADS_MAX 8

/* A record to load; pointers into the read transaction's map. */
struct lentry {
    const void *key;
    const void *rec;
    uint32_t nrec;
    uint32_t atime;
    uint32_t nkey;
    uint32_t size;            /* nkey + raw length: picks the thread */
};

struct lvec {
    struct lentry *v;
    size_t n;
    size_t cap;
    uint64_t expired;
    uint64_t cas_max;         /* over every record, expired too */
    const void *prev;         /* salvage: the last key walked */
    size_t nprev;
    uint32_t cut[LOAD_THREADS_MAX + 1]; /* thread i: cut[i] <= size < next */
};

struct loader {
    struct snap *sn;
    const struct lvec *lv;
    unsigned idx;
    unsigned nthreads;
    struct snapfmt_codec *codec;
    atomic_bool *abort;
    bool reporter;            /* logs progress (the loading thread's) */
    uint64_t loaded;
    uint64_t dropped;         /* memory full */
    uint64_t too_large;       /* larger than -I */
    int rc;
    char err[SNAP_ERR_MAX];
};

static int
lvec_push(struct lvec *lv, const void *key, size_t nkey, const void *rec,
          size_t nrec, uint32_t atime, uint32_t raw_len)
{
    if (lv->n == lv->cap) {
        size_t cap = lv->cap ? lv->cap * 2 : 4096;
        struct lentry *v = realloc(lv->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        lv->v = v;
        lv->cap = cap;
    }
    lv->v[lv->n].key = key;
    lv->v[lv->n].nkey = (uint32_t)nkey;
    lv->v[lv->n].rec = rec;
    lv->v[lv->n].nrec = (uint32_t)nrec;
    lv->v[lv->n].atime = atime;
    lv->v[lv->n].size = (uint32_t)nkey + raw_len;
    lv->n++;
    return 0;
}

/*
 * Newest first, in O(n): two stable counting passes over 16-bit halves
 * of ~atime (a comparison sort of millions of entries costs more than
 * the rest of the load).
 */
static int
sort_by_atime_desc(struct lvec *lv)
{
    struct lentry *tmp = malloc(lv->n * sizeof(*tmp) + 1);
    size_t *count = calloc(65536 + 1, sizeof(*count));

    if (tmp == NULL || count == NULL) {
        free(tmp);
        free(count);
        return -1;
    }
    for (unsigned shift = 0; shift < 32; shift += 16) {
        struct lentry *src = shift ? tmp : lv->v;
        struct lentry *dst = shift ? lv->v : tmp;

        memset(count, 0, (65536 + 1) * sizeof(*count));
        for (size_t i = 0; i < lv->n; i++) {
            count[((~src[i].atime >> shift) & 0xffff) + 1]++;
        }
        for (size_t d = 1; d <= 65536; d++) {
            count[d] += count[d - 1];
        }
        for (size_t i = 0; i < lv->n; i++) {
            dst[count[(~src[i].atime >> shift) & 0xffff]++] = src[i];
        }
    }
    free(tmp);
    free(count);
    return 0;
}

/* Salvage: whether KEY sorts after the previous key walked (LMDB's
 * order: bytes, then the shorter first), which it then becomes. */
static bool
key_after(struct lvec *lv, const void *key, size_t nkey)
{
    size_t n = nkey < lv->nprev ? nkey : lv->nprev;
    int c = lv->prev != NULL ? memcmp(lv->prev, key, n) : -1;
    bool after = c < 0 || (c == 0 && nkey > lv->nprev);

    lv->prev = key;
    lv->nprev = nkey;
    return after;
}

/*
 * Walk every record: skip the expired (unless the journal touched them
 * since), collect the rest. Each record is
 * verified exactly once: the expired ones here, the others by the decode
 * threads (so that the checksums are computed on both cores).
 */
static int
collect(struct snap *sn, struct snapfmt_iter *it, struct lvec *lv,
        char *err, size_t errlen)
{
    uint32_t now = sn->load_now, exptime, atime, raw_len;
    struct snapfmt_rec r;
    const void *key, *rec;
    size_t nkey, nrec;
    uint64_t cas;
    int rc;

    while ((rc = snapfmt_iter_next(it, &key, &nkey, &rec, &nrec)) ==
           SNAPFMT_OK) {
        if (sn->salvaging && !key_after(lv, key, nkey)) {
            /* a damaged tree (a stale page): no record can be trusted */
            snprintf(err, errlen, "%s: keys out of order: the tree is "
                     "damaged", sn->dir);
            return SNAPFMT_ECORRUPT;
        }
        if (((lv->n + lv->expired) & 0xffff) == 0) {
            snap_progress(sn, "reading records", lv->n + lv->expired,
                          sn->meta.items);
        }
        if (snapfmt_rec_peek(rec, nrec, &exptime, &atime, &cas, &raw_len) !=
                SNAPFMT_OK ||
            (exptime != 0 && exptime <= now &&
             !snap_journal_touches(sn, key, nkey))) {
            rc = snapfmt_rec_parse(key, nkey, rec, nrec, &r, err, errlen);
            if (rc != SNAPFMT_OK && sn->salvaging) {
                snap_salvage_note(sn, err);
                continue;
            }
            if (rc != SNAPFMT_OK) {
                return rc;
            }
            if (!(r.rflags & SNAPFMT_RF_CAS_EXPLICIT)) {
                lv->cas_max = r.cas > lv->cas_max ? r.cas : lv->cas_max;
            }
            lv->expired++;
            continue;
        }
        /* unverified until decoded; a damaged record fails the load */
        if (nrec > UINT32_MAX && sn->salvaging) {
            snap_salvage_note(sn, "a record of over 4 GiB");
            continue;
        }
        if (nrec > UINT32_MAX) {
            /* peek checked its framing: 4 GiB of payload, no value is */
            snprintf(err, errlen, "%s: a record of %zu bytes: damaged",
                     sn->dir, nrec);
            return SNAPFMT_ECORRUPT;
        }
        lv->cas_max = cas > lv->cas_max ? cas : lv->cas_max;
        if (lvec_push(lv, key, nkey, rec, nrec, atime, raw_len) != 0) {
            snprintf(err, errlen, "out of memory");
            return SNAPFMT_ENOMEM;
        }
    }
    if (rc != SNAPFMT_END) {
        const char *why = snapfmt_txn_error(snapfmt_iter_txn(it));

        if (why[0] != '\0') {  /* it names the directory */
            snprintf(err, errlen, "reading records: %s", why);
        } else {
            snprintf(err, errlen, "%s: reading records: %s", sn->dir,
                     snapfmt_strerror(rc));
        }
        return rc;
    }
    if (lv->n + lv->expired + sn->salv.records != sn->meta.items) {
        /* a damaged branch page can hide whole subtrees without error */
        snprintf(err, errlen, "%s: %zu records found, meta says %llu",
                 sn->dir, lv->n + (size_t)lv->expired,
                 (unsigned long long)sn->meta.items);
        return SNAPFMT_ECORRUPT;
    }
    return SNAPFMT_OK;
}

/* A record LD could not decode (RC, why in ld->err): salvage skips it,
 * anything else fails the load. */
static int
salvage_skip(struct loader *ld, int rc)
{
    if (!ld->sn->salvaging || rc == SNAPFMT_ENOMEM) {
        return rc;
    }
    snap_salvage_note(ld->sn, ld->err);
    return SNAPFMT_OK;
}

/* Decode one record into a new store item and link it. */
static int
load_one(struct loader *ld, const struct lentry *e)
{
    struct snap *sn = ld->sn;
    struct snapfmt_rec r;
    struct item *it;
    int rc, src;

    rc = snapfmt_rec_parse(e->key, e->nkey, e->rec, e->nrec, &r, ld->err,
                           sizeof(ld->err));
    if (rc != SNAPFMT_OK) {
        return salvage_skip(ld, rc);
    }
    /* an explicit CAS needs the room where the item keeps its order;
     * store_restore() then leaves the counter alone */
    it = store_alloc(sn->st, e->key, e->nkey, r.flags, r.exptime, r.raw_len,
                     (r.rflags & SNAPFMT_RF_CAS_EXPLICIT) != 0, &src);
    if (it == NULL) {
        /* memory full (loading never evicts) or larger than -I now */
        if (src == STORE_ETOOLARGE) {
            ld->too_large++;
        } else {
            ld->dropped++;
        }
        return SNAPFMT_OK;
    }
    rc = snapfmt_rec_value(ld->codec, sn->dicts, &r, e->key, e->nkey,
                           item_value_mut(it), r.raw_len, ld->err,
                           sizeof(ld->err));
    if (rc == SNAPFMT_OK) {
        struct store_restore rs = {
            .kind = STORE_CHANGE_LINK, .it = it, .cas = r.cas,
            .bits = snap_state_bits(r.rflags), .atime = r.atime,
            .lru_tail = true,   /* most recent first: each next is older */
        };

        if (r.rflags & SNAPFMT_RF_CAS_EXPLICIT) {
            /* a client-set CAS (meta E) says nothing of when the item
             * was stored, and a record keeps no other clock: the oldest
             * order there is. A flush the journal replays came after
             * this record (a value stored after the flush has its own
             * LINK there), so it must reach this item too; a fresh
             * order from the counter would let it survive the flush */
            rs.order = 1;
        }

        if (store_restore(sn->st, &rs) == STORE_OK) {
            ld->loaded++;
        } else {
            ld->dropped++;
        }
    }
    item_unref(it);
    return rc == SNAPFMT_OK ? rc : salvage_skip(ld, rc);
}

/* Whether E is loader LD's to load. */
static bool
loader_owns(const struct loader *ld, const struct lentry *e)
{
    return e->size >= ld->lv->cut[ld->idx] &&
           e->size < ld->lv->cut[ld->idx + 1];
}

/*
 * Records come in last-access order, scattered over the map and over the
 * hash table: each costs three cache misses in a row (the record, its
 * bucket, the item already in that bucket) that nothing overlaps. So each
 * is prefetched a few records of ours ahead, in that order, and all three
 * are in cache when its turn comes.
 */
enum { AHEAD_RECORD = 24, AHEAD_BUCKET = 16, AHEAD_ITEM = 8 };
enum prefetch_stage { PF_RECORD, PF_BUCKET, PF_ITEM };

/* Prefetch STAGE of LD's records from *AT up to DIST entries past I. */
static void
prefetch_upto(struct loader *ld, size_t *at, size_t i, size_t dist,
              enum prefetch_stage stage)
{
    const struct lentry *v = ld->lv->v;
    size_t end = i + dist < ld->lv->n ? i + dist : ld->lv->n;

    for (size_t c = *at > i ? *at : i + 1; c < end; c++) {
        if (!loader_owns(ld, &v[c])) {
            continue;
        }
        if (stage == PF_RECORD) {
            __builtin_prefetch(v[c].key);
            __builtin_prefetch(v[c].rec);
        } else if (stage == PF_BUCKET) {
            store_prefetch_bucket(ld->sn->st,
                                  store_key_hash(v[c].key, v[c].nkey));
        } else {
            store_prefetch_item(ld->sn->st,
                                store_key_hash(v[c].key, v[c].nkey));
        }
    }
    if (end > *at) {
        *at = end;
    }
}

static void *
loader_main(void *arg)
{
    struct loader *ld = arg;
    const struct lentry *v = ld->lv->v;
    size_t n = ld->lv->n, pf_rec = 0, pf_bucket = 0, pf_item = 0;

    for (size_t i = 0; i < n; i++) {
        const struct lentry *e = &v[i];

        if (!loader_owns(ld, e)) {
            continue;
        }
        prefetch_upto(ld, &pf_rec, i, AHEAD_RECORD, PF_RECORD);
        prefetch_upto(ld, &pf_bucket, i, AHEAD_BUCKET, PF_BUCKET);
        prefetch_upto(ld, &pf_item, i, AHEAD_ITEM, PF_ITEM);
        if ((i & 1023) == 0 && atomic_load(ld->abort)) {
            break;
        }
        if ((i & 4095) == 0 && ld->reporter) {
            /* every loader walks the whole list: this one's place in it
             * is the load's */
            snap_progress(ld->sn, "loading records", i, n);
        }
        ld->rc = load_one(ld, e);
        if (ld->rc != SNAPFMT_OK) {
            atomic_store(ld->abort, true);
            break;
        }
    }
    return NULL;
}

/*
 * Give each of N threads a range of item sizes holding about as many
 * items. Items of one size share a store size class (its lock and LRU),
 * so threads working on different sizes rarely wait for each other, and
 * each thread still inserts its items newest first, which is the order
 * that matters: LRUs are per class.
 */
static int
size_cuts(struct lvec *lv, unsigned n)
{
    enum { BUCKETS = 1 << 16, SHIFT = 4 };
    size_t *hist = calloc(BUCKETS, sizeof(*hist)), seen = 0;
    unsigned t = 1;

    if (hist == NULL) {
        return -1;
    }
    for (size_t i = 0; i < lv->n; i++) {
        size_t b = lv->v[i].size >> SHIFT;
        hist[b < BUCKETS ? b : BUCKETS - 1]++;
    }
    lv->cut[0] = 0;
    for (size_t b = 0; b < BUCKETS && t < n; b++) {
        seen += hist[b];
        if (seen * n >= lv->n * t) {
            lv->cut[t++] = (uint32_t)((b + 1) << SHIFT);
        }
    }
    while (t < n) {
        lv->cut[t++] = UINT32_MAX;
    }
    /* the last range is open: sizes beyond the histogram go there */
    lv->cut[n] = UINT32_MAX;
    free(hist);
    return 0;
}

/* What the loaders did, summed. */
struct lsum {
    uint64_t loaded;
    uint64_t dropped;
    uint64_t too_large;
};

/* Run the loaders; the first error wins. */
static int
decode_all(struct snap *sn, struct lvec *lv, struct lsum *sum, char *err,
           size_t errlen)
{
    struct loader ld[LOAD_THREADS_MAX];
    pthread_t tid[LOAD_THREADS_MAX];
    bool started[LOAD_THREADS_MAX] = { false };
    atomic_bool abort_flag;
    unsigned n = sn->cfg.load_threads, i;
    int rc = SNAPFMT_OK;

    atomic_init(&abort_flag, false);
    n = lv->n < 10000 ? 1 : (n > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : n);
    if (size_cuts(lv, n) != 0) {
        return SNAPFMT_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        memset(&ld[i], 0, sizeof(ld[i]));
        ld[i] = (struct loader){ .sn = sn, .lv = lv, .idx = i, .nthreads = n,
                                 .abort = &abort_flag, .reporter = i == 0 };
        ld[i].codec = snapfmt_codec_create(0);
        if (ld[i].codec == NULL) {
            ld[i].rc = SNAPFMT_ENOMEM;
            atomic_store(&abort_flag, true);
        } else if (i > 0) {
            started[i] = pthread_create(&tid[i], NULL, loader_main,
                                        &ld[i]) == 0;
        }
    }
    for (i = 0; i < n; i++) {
        /* shares without a thread of their own are done by this one */
        if (ld[i].codec != NULL && (i == 0 || !started[i])) {
            loader_main(&ld[i]);
        }
    }
    for (i = 0; i < n; i++) {
        if (i > 0 && started[i]) {
            pthread_join(tid[i], NULL);
        }
        sum->loaded += ld[i].loaded;
        sum->dropped += ld[i].dropped;
        sum->too_large += ld[i].too_large;
        if (rc == SNAPFMT_OK && ld[i].rc != SNAPFMT_OK) {
            rc = ld[i].rc;
            snprintf(err, errlen, "%s", ld[i].err[0] ? ld[i].err
                                                     : "out of memory");
        }
        snapfmt_codec_destroy(&ld[i].codec);
    }
    return rc;
}

/* A bad record: refuse, or with policy cold drop the load and restart. */
static int
load_corrupt(struct snap *sn, int frc, char *err, size_t errlen)
{
    char why[SNAP_ERR_MAX];

    jrn_replay_free(&sn->replay);
    snprintf(why, sizeof(why), "%s", err);
    if (frc != SNAPFMT_ECORRUPT && frc != SNAPFMT_EVERSION &&
        frc != SNAPFMT_ENODICT) {
        /* not damage: a read or a map that failed (EIO, ENOMEM). The
         * files may well be good: neither policy applies, nothing is
         * moved aside or written over, and emberd does not start */
        sn->refused = true;
        snprintf(err, errlen, "cannot read the snapshot in %s: %s (not "
                 "damage: the files are kept as they are)", sn->dir, why);
        return frc == SNAPFMT_ENOMEM ? SNAP_ENOMEM : SNAP_ESYS;
    }
    if (sn->cfg.on_corrupt == SNAP_CORRUPT_FAIL || sn->shared) {
        /* keep the damaged files as they are for the operator */
        sn->refused = true;
        snprintf(err, errlen,
                 "snapshot in %s is damaged: %s; start with "
                 "--snapshot-on-corrupt=salvage to keep what verifies, or "
                 "--snapshot-on-corrupt=cold to move it aside and start "
                 "empty", sn->dir, why);
        return frc == SNAPFMT_EVERSION ? SNAP_EVERSION : SNAP_ECORRUPT;
    }
    snap_log(sn, SNAP_LOG_WARN, "snapshot in %s is damaged: %s", sn->dir,
             why);
    /* drop what was loaded: nothing of a damaged snapshot is served */
    {
        struct store_session quiet;

        store_session_init(&quiet, sn->st, NULL, NULL);
        store_flush(&quiet, 0);
    }
    frc = snap_restart_cold(sn, "corrupt", err, errlen);
    if (frc == SNAP_OK && snap_journal_load(sn, err, errlen) != SNAPFMT_OK) {
        frc = SNAP_ESYS;    /* an empty new journal cannot be damaged */
    }
    sn->loaded = frc == SNAP_OK;
    if (sn->loaded) {
        snap_stats_disk(sn, store_seq_current(sn->st));
    }
    return frc;
}

/* Whether the journal brought back changes the snapshot does not hold. */
static bool
journal_replayed(struct snap *sn)
{
    struct snap_stats st;

    memset(&st, 0, sizeof(st));
    if (sn->jrn != NULL) {
        jrn_stats(sn->jrn, &st);
    }
    return st.journal_replayed_records > 0;
}

/* What a warm restart loaded and skipped: stats and one NOTICE line. */
static void
load_stats(struct snap *sn, const struct snap_loadres *res, uint64_t t0)
{
    uint64_t now = store_now(sn->st), last = sn->meta.last_commit;
    uint64_t age = last && now > last ? now - last : 0;

    pthread_mutex_lock(&sn->stats_lock);
    sn->stats.warm_restart_items_loaded = res->loaded;
    sn->stats.warm_restart_items_expired = res->expired;
    sn->stats.warm_restart_items_dropped = res->dropped;
    sn->stats.warm_restart_items_too_large = res->too_large;
    sn->stats.warm_restart_duration_us = snap_now_us() - t0;
    sn->stats.warm_restart_snapshot_age = age;
    pthread_mutex_unlock(&sn->stats_lock);
    if (sn->meta.items == 0 && last == 0) {
        return;     /* load_begins() said: no snapshot yet */
    }
    snap_log(sn, SNAP_LOG_NOTICE,
             "warm restart from %s: %llu items loaded in %llu ms from "
             "snapshot %llu (%llu s old); skipped: %llu expired, %llu did "
             "not fit in memory (-m), %llu larger than -I",
             sn->dir, (unsigned long long)res->loaded,
             (unsigned long long)(snap_now_us() - t0) / 1000,
             (unsigned long long)sn->meta.sequence, (unsigned long long)age,
             (unsigned long long)res->expired,
             (unsigned long long)res->dropped,
             (unsigned long long)res->too_large);
}

/* The first line of a load: what is about to be loaded. */
static void
load_begins(struct snap *sn)
{
    uint64_t now = store_now(sn->st), last = sn->meta.last_commit;

    if (sn->meta.items == 0 && last == 0) {
        snap_log(sn, SNAP_LOG_NOTICE, "%s holds no snapshot yet: starting "
                 "empty", sn->dir);
        return;
    }
    snap_log(sn, SNAP_LOG_NOTICE, "loading snapshot %llu of %s: %llu "
             "records, committed %llu s ago",
             (unsigned long long)sn->meta.sequence, sn->dir,
             (unsigned long long)sn->meta.items,
             (unsigned long long)(last && now > last ? now - last : 0));
}

/*
 * Format 1 and 2: walk the records of "items", sort them by access time,
 * decode and insert them (the functions above).
 */
int
snap_load_items(struct snap *sn, struct snap_loadres *res, char *err,
                size_t errlen)
{
    struct snapfmt_iter *it = NULL;
    struct lvec lv;
    struct lsum sum = { 0, 0, 0 };
    uint64_t t0 = snap_now_us(), t1, t2;
    int frc;

    memset(&lv, 0, sizeof(lv));
    frc = snapfmt_iter_open(sn->env, NULL, &it, err, errlen);
    if (frc == SNAPFMT_OK) {
        frc = collect(sn, it, &lv, err, errlen);
    }
    t1 = snap_now_us();
    if (frc == SNAPFMT_OK && sort_by_atime_desc(&lv) != 0) {
        frc = SNAPFMT_ENOMEM;
    }
    t2 = snap_now_us();
    if (frc == SNAPFMT_OK) {
        frc = decode_all(sn, &lv, &sum, err, errlen);
    }
    snap_log(sn, SNAP_LOG_INFO, "warm restart (format %u): read %llu ms, "
             "sort %llu ms, decode+insert %llu ms",
             (unsigned)sn->meta.format_version,
             (unsigned long long)(t1 - t0) / 1000,
             (unsigned long long)(t2 - t1) / 1000,
             (unsigned long long)(snap_now_us() - t2) / 1000);
    snapfmt_iter_close(&it);
    free(lv.v);
    res->loaded = sum.loaded;
    res->dropped = sum.dropped;
    res->too_large = sum.too_large;
    res->expired = lv.expired;
    res->cas_max = lv.cas_max;
    return frc;
}

int
snap_load(struct snap *sn, char *err, size_t errlen)
{
    struct snap_loadres res;
    uint64_t t0 = snap_now_us(), tp, seq;
    int frc;

    memset(&res, 0, sizeof(res));
    load_begins(sn);
    atomic_store(&sn->loading, true);
    store_set_loading(sn->st, true);
    /* records expired when the journal was read are skipped: a touch
     * after that point (an owner still serving, with --takeover) can
     * only have found a live item, so its record is loaded */
    sn->load_now = store_now(sn->st);
    /* the journal first: a record expired by now is still loaded when
     * a change there gave it more time */
    frc = snap_journal_scan(sn, err, errlen);
    tp = snap_now_us();
    if (frc == SNAPFMT_OK) {
        frc = sn->meta.format_version >= 3
                  ? snap_load_blocks(sn, &res, err, errlen)
                  : snap_load_items(sn, &res, err, errlen);
        /* the snapshot's damage only: a journal's lost delete would
         * bring a value back, so its damage goes cold */
        if (frc != SNAPFMT_OK && snap_salvage_applies(sn, frc)) {
            frc = snap_salvage_load(sn, &res, err, errlen);
        }
    }
    snap_log(sn, SNAP_LOG_INFO, "warm restart phases: precheck %llu ms, "
             "journal scan %llu ms, load %llu ms",
             (unsigned long long)sn->precheck_us / 1000,
             (unsigned long long)(tp - t0) / 1000,
             (unsigned long long)(snap_now_us() - tp) / 1000);
    store_set_loading(sn->st, false);
    atomic_store(&sn->loading, false);
    if (frc != SNAPFMT_OK) {
        return load_corrupt(sn, frc, err, errlen);
    }
    if (res.cas_max > sn->meta.cas_max) {
        sn->meta.cas_max = res.cas_max;
    }
    /* RAM now equals the snapshot, unless some did not fit: their records
     * must go at the next snapshot, or they would come back later */
    sn->need_full = res.dropped + res.too_large > 0;
    load_stats(sn, &res, t0);
    if (sn->salvaged) {
        snap_salvage_report(sn, &res);
    }
    frc = snap_journal_load(sn, err, errlen);
    if (frc != SNAPFMT_OK) {
        return load_corrupt(sn, frc, err, errlen);
    }
    if (sn->shared) {
        return SNAP_OK;     /* the rest is snap_takeover_load()'s */
    }
    /* the journal's changes count as made since the snapshot */
    seq = store_seq_current(sn->st);
    snap_stats_disk(sn, sn->meta.journal_seq < seq ? sn->meta.journal_seq
                                                   : seq);
    /* the journal's changes are in RAM, not in the snapshot */
    sn->need_full = sn->need_full || journal_replayed(sn);
    sn->loaded = true;
    if (sn->salvaged) {
        return snap_salvage_settle(sn, err, errlen);
    }
    if (snap_cas_install(sn, err, errlen) != SNAP_OK) {
        return SNAP_EWRITE;
    }
    return SNAP_OK;
}
