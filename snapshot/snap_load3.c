/*
 * snap_load3.c -- warm restart from a format 3 snapshot. The key space
 * is cut into one hash range per loader thread; each thread merges the
 * runs over its range (snapfmt_merge: every block verified and decoded
 * once, each key once, as its newest run has it) and inserts the items
 * straight from the decoded blocks. Records come in hash order, which is
 * the order of the store's table (storage/hash.c), so the inserts walk
 * the table sequentially, and two threads never share a hash stripe.
 *
 * When the snapshot may not fit in -m, a first pass over the same merge
 * counts the bytes each access time would need, and the load keeps the
 * most recently used items: everything accessed after a cutoff, then, in
 * a last pass, what fits of the items accessed at the cutoff (loading
 * never evicts, so they must come after every newer item).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_int.h"

#define LOAD_THREADS_MAX 8
#define SMALL_LOAD 20000u         /* records: one thread is enough */

/*
 * Access ages for the cutoff: one bucket per second up to AGE_FINE
 * seconds, then one per 2^AGE_SHIFT seconds; the last takes the rest.
 */
#define AGE_FINE (1u << 16)
#define AGE_SHIFT 8
#define AGE_BUCKETS (2u * AGE_FINE)

struct bloader {
    struct snap *sn;
    uint64_t lo;
    uint64_t hi;
    uint32_t now;
    size_t raw_cap;
    bool count_only;          /* first pass: fill hist, insert nothing */
    bool at_cutoff;           /* last pass: only the cutoff's bucket */
    bool reporter;            /* logs progress (the loading thread's) */
    _Atomic uint64_t *done;   /* records merged by every loader */
    uint32_t cutoff;          /* load ages below this bucket only */
    uint64_t *hist;           /* count_only: bytes per age bucket */
    atomic_bool *abort;
    struct snap_loadres res;
    struct snapfmt_merge_stats st;
    int rc;
    char err[SNAP_ERR_MAX];
};

static uint32_t
age_bucket(uint32_t now, uint32_t atime)
{
    uint32_t age = now > atime ? now - atime : 0;

    if (age < AGE_FINE) {
        return age;
    }
    age = AGE_FINE + ((age - AGE_FINE) >> AGE_SHIFT);
    return age < AGE_BUCKETS ? age : AGE_BUCKETS - 1;
}

/* Memory an item of R's sizes takes in the store, about: its chunk
 * (header, key, value, CRLF) with a size class's slack. */
static uint64_t
item_cost(const struct snapfmt_brec *r)
{
    uint64_t need = 64 + r->nkey + (uint64_t)r->nvalue + 2;

    return need + need / 12 + 8;
}

/* Insert item record R into the store. */
static void
load_item(struct bloader *ld, const struct snapfmt_brec *r)
{
    struct snap *sn = ld->sn;
    bool explicit_cas = (r->rflags & SNAPFMT_RF_CAS_EXPLICIT) != 0;
    struct item *it;
    int src;

    if (r->value == NULL) {
        ld->res.too_large++;  /* larger than this emberd's -I */
        return;
    }
    it = store_alloc(sn->st, r->key, r->nkey, r->flags, r->exptime,
                     r->nvalue, explicit_cas, &src);
    if (it == NULL) {
        /* memory full (loading never evicts) or larger than -I now */
        if (src == STORE_ETOOLARGE) {
            ld->res.too_large++;
        } else {
            ld->res.dropped++;
        }
        return;
    }
    memcpy(item_value_mut(it), r->value, r->nvalue);
    {
        struct store_restore rs = {
            .kind = STORE_CHANGE_LINK, .it = it, .cas = r->cas,
            .bits = snap_state_bits(r->rflags), .atime = r->atime,
            .lru_tail = true,
            /* a client-set CAS says nothing of when the item was stored:
             * the oldest order, so a flush the journal replays reaches it
             * (see snap_load.c) */
            .order = explicit_cas ? 1 : 0,
        };

        if (store_restore(sn->st, &rs) == STORE_OK) {
            ld->res.loaded++;
        } else {
            ld->res.dropped++;
        }
    }
    item_unref(it);
}

/* One record the merge handed over: count it, or load it. */
static void
load_rec(struct bloader *ld, const struct snapfmt_brec *r)
{
    uint32_t b;

    if (r->type == SNAPFMT_B_TOMB) {
        return;
    }
    if (!(r->rflags & SNAPFMT_RF_CAS_EXPLICIT) && r->cas > ld->res.cas_max) {
        ld->res.cas_max = r->cas;
    }
    if (r->exptime != 0 && r->exptime <= ld->now &&
        !snap_journal_touches(ld->sn, r->key, r->nkey)) {
        ld->res.expired += !ld->at_cutoff;  /* counted by one pass */
        return;
    }
    b = age_bucket(ld->now, r->atime);
    if (ld->count_only) {
        ld->hist[b] += item_cost(r);
    } else if (ld->at_cutoff) {
        if (b == ld->cutoff) {
            load_item(ld, r);   /* while memory lasts */
        }
    } else if (b > ld->cutoff) {
        ld->res.dropped++;    /* older than what fits */
    } else if (b < ld->cutoff) {
        load_item(ld, r);
    }                         /* b == cutoff: the last pass's */
}

static void *
bloader_main(void *arg)
{
    struct bloader *ld = arg;
    struct snap *sn = ld->sn;
    struct snapfmt_merge_cfg cfg = {
        .first = sn->meta.base_run, .end = sn->meta.run_end, .lo = ld->lo,
        .hi = ld->hi, .raw_cap = ld->raw_cap,
        .salvage = sn->salvaging ? sn->salv.scan : NULL,
    };
    struct snapfmt_merge *m = NULL;
    struct snapfmt_brec r;
    uint64_t run, n = 0;
    int rc;

    rc = snapfmt_txn_begin(sn->env, true, &cfg.txn, ld->err,
                           sizeof(ld->err));
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_merge_open(&cfg, &m, ld->err, sizeof(ld->err));
    }
    while (rc == SNAPFMT_OK) {
        rc = snapfmt_merge_next(m, &r, &run, ld->err, sizeof(ld->err));
        if (rc == SNAPFMT_OK && (++n & 1023) == 0) {
            atomic_fetch_add_explicit(ld->done, 1024, memory_order_relaxed);
            if (ld->reporter) {
                snap_progress(sn, ld->count_only ? "sizing records"
                                                 : "loading records",
                              atomic_load(ld->done), sn->meta.records);
            }
            if (atomic_load(ld->abort)) {
                break;
            }
        }
        if (rc != SNAPFMT_OK) {
            break;
        }
        load_rec(ld, &r);
    }
    if (m != NULL) {
        snapfmt_merge_stats(m, &ld->st);
    }
    snapfmt_merge_close(&m);
    snapfmt_txn_abort(&cfg.txn);
    ld->rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
    if (ld->rc != SNAPFMT_OK) {
        atomic_store(ld->abort, true);
    }
    return NULL;
}

/*
 * Run N loaders made from TMPL over ranges of the hash space, loader I
 * with HISTS[I] (HISTS may be NULL); the first error wins. LD gets them
 * back, with their results.
 */
static int
run_loaders(const struct bloader *tmpl, struct bloader *ld, unsigned n,
            uint64_t **hists, char *err, size_t errlen)
{
    pthread_t tid[LOAD_THREADS_MAX];
    bool started[LOAD_THREADS_MAX] = { false };
    uint64_t span = UINT64_MAX / n;
    _Atomic uint64_t done;
    int rc = SNAPFMT_OK;

    atomic_init(&done, 0);
    for (unsigned i = 0; i < n; i++) {
        ld[i] = *tmpl;
        ld[i].done = &done;
        ld[i].reporter = i == 0;
        ld[i].hist = hists != NULL ? hists[i] : NULL;
        ld[i].lo = i == 0 ? 0 : i * span + 1;
        ld[i].hi = i + 1 == n ? UINT64_MAX : (i + 1) * span;
        if (i > 0) {
            started[i] = pthread_create(&tid[i], NULL, bloader_main,
                                        &ld[i]) == 0;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (i == 0 || !started[i]) {
            bloader_main(&ld[i]);   /* no thread of its own: here */
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (started[i]) {
            pthread_join(tid[i], NULL);
        }
        if (rc == SNAPFMT_OK && ld[i].rc != SNAPFMT_OK) {
            rc = ld[i].rc;
            snprintf(err, errlen, "%s", ld[i].err);
        }
    }
    return rc;
}

/* Whether the snapshot may not fit: meta's totals, as items would cost. */
static bool
may_not_fit(const struct snapfmt_meta *m, const struct store_stats *ss)
{
    uint64_t need = m->bytes + m->items * (64 + 2);

    need += need / 12 + m->items * 8;
    return ss->mem_pages > ss->limit_maxbytes ||
           need > ss->limit_maxbytes - ss->mem_pages;
}

/*
 * First pass (TMPL in count mode): what each access age would cost; set
 * TMPL->cutoff to the first age bucket that no longer fits BUDGET.
 */
static int
find_cutoff(struct bloader *tmpl, struct bloader *ld, unsigned n,
            uint64_t budget, char *err, size_t errlen)
{
    uint64_t *hists[LOAD_THREADS_MAX] = { NULL }, sum = 0;
    int rc = SNAPFMT_OK;

    for (unsigned i = 0; i < n && rc == SNAPFMT_OK; i++) {
        hists[i] = calloc(AGE_BUCKETS, sizeof(uint64_t));
        rc = hists[i] == NULL ? SNAPFMT_ENOMEM : SNAPFMT_OK;
    }
    tmpl->count_only = true;
    if (rc == SNAPFMT_OK) {
        rc = run_loaders(tmpl, ld, n, hists, err, errlen);
    }
    tmpl->count_only = false;
    tmpl->cutoff = 0;
    for (uint32_t b = 0; rc == SNAPFMT_OK && b < AGE_BUCKETS; b++) {
        for (unsigned i = 0; i < n; i++) {
            sum += hists[i][b];
        }
        if (sum > budget) {
            break;
        }
        tmpl->cutoff = b + 1;
    }
    for (unsigned i = 0; i < n; i++) {
        free(hists[i]);
    }
    return rc;
}

/* The sums of the loaders' results, checked against meta. */
static int
sum_results(struct snap *sn, const struct bloader *ld, unsigned n,
            struct snap_loadres *res, char *err, size_t errlen)
{
    const struct snapfmt_salvage *sv = sn->salvaging ? sn->salv.scan
                                                      : NULL;
    uint64_t blocks = 0, records = 0;

    memset(res, 0, sizeof(*res));
    for (unsigned i = 0; i < n; i++) {
        res->loaded += ld[i].res.loaded;
        res->expired += ld[i].res.expired;
        res->dropped += ld[i].res.dropped;
        res->too_large += ld[i].res.too_large;
        if (ld[i].res.cas_max > res->cas_max) {
            res->cas_max = ld[i].res.cas_max;
        }
        blocks += ld[i].st.blocks;
        records += ld[i].st.records;
        res->damaged += ld[i].st.dropped;
    }
    if (sv != NULL) {
        /* every intact block once: a cursor cut short by a damaged key
         * would leave older runs' records of its range unsuperseded */
        res->damaged += sv->bad_records;
        if (blocks == sv->blocks - sv->bad_blocks) {
            return SNAPFMT_OK;
        }
        snprintf(err, errlen, "%s: %llu intact blocks read, the scan found "
                 "%llu", sn->dir, (unsigned long long)blocks,
                 (unsigned long long)(sv->blocks - sv->bad_blocks));
        return SNAPFMT_ECORRUPT;
    }
    if (blocks != sn->meta.blocks || records != sn->meta.records) {
        /* a damaged branch page can hide whole subtrees without error */
        snprintf(err, errlen, "%s: %llu blocks of %llu records found, meta "
                 "says %llu of %llu", sn->dir, (unsigned long long)blocks,
                 (unsigned long long)records,
                 (unsigned long long)sn->meta.blocks,
                 (unsigned long long)sn->meta.records);
        return SNAPFMT_ECORRUPT;
    }
    return SNAPFMT_OK;
}

int
snap_load_blocks(struct snap *sn, struct snap_loadres *res, char *err,
                 size_t errlen)
{
    struct bloader ld[LOAD_THREADS_MAX], tmpl;
    struct store_stats ss;
    atomic_bool abort_flag;
    unsigned n = sn->cfg.load_threads;
    int rc = SNAPFMT_OK;

    atomic_init(&abort_flag, false);
    store_stats(sn->st, &ss);
    n = sn->meta.records < SMALL_LOAD ? 1
        : n > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : n;
    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.sn = sn;
    tmpl.now = sn->load_now;    /* fixed when the journal was read */
    tmpl.abort = &abort_flag;
    tmpl.cutoff = AGE_BUCKETS;
    tmpl.raw_cap = ss.item_size_max + SNAPFMT_BREC_HDR + SNAPFMT_BKEY_NMAX;
    if (tmpl.raw_cap < SNAPFMT_BLOCK_MAX) {
        tmpl.raw_cap = SNAPFMT_BLOCK_MAX;
    }
    if (may_not_fit(&sn->meta, &ss)) {
        rc = find_cutoff(&tmpl, ld, n, ss.limit_maxbytes - ss.mem_pages,
                         err, errlen);
        snap_log(sn, SNAP_LOG_INFO, "warm restart: %s may not fit in "
                 "memory; keeping items accessed in the last %u s",
                 sn->dir, tmpl.cutoff < AGE_FINE ? tmpl.cutoff
                 : AGE_FINE + ((tmpl.cutoff - AGE_FINE) << AGE_SHIFT));
    }
    if (rc == SNAPFMT_OK) {
        rc = run_loaders(&tmpl, ld, n, NULL, err, errlen);
    }
    if (rc == SNAPFMT_OK) {
        rc = sum_results(sn, ld, n, res, err, errlen);
    }
    if (rc == SNAPFMT_OK && tmpl.cutoff < AGE_BUCKETS) {
        struct snap_loadres first = *res;

        tmpl.at_cutoff = true;
        rc = run_loaders(&tmpl, ld, n, NULL, err, errlen);
        if (rc == SNAPFMT_OK) {
            rc = sum_results(sn, ld, n, res, err, errlen);
        }
        res->loaded += first.loaded;
        res->expired += first.expired;
        res->dropped += first.dropped;
        res->too_large += first.too_large;
        res->cas_max = first.cas_max > res->cas_max ? first.cas_max
                                                    : res->cas_max;
    }
    return rc;
}
