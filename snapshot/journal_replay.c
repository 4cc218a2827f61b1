/*
 * journal_replay.c -- a warm restart's second half: after the snapshot is
 * loaded, the changes the journal holds beyond it are applied in the
 * order they happened (their sequence numbers), so the store is what the
 * clients were last told: nothing acknowledged lost, nothing deleted,
 * replaced or flushed brought back.
 *
 * Every segment in the directory is mapped and scanned; a torn last
 * record (the process died inside a write) is cut and reported, damage
 * in the middle of a segment is an error (the corrupt policy applies).
 * The changes above the snapshot's journal_seq are sorted by seq and
 * applied with store_restore(), which reports and logs nothing: they are
 * on disk already. The segments stay until a snapshot covers them.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define SNAP_REPLAY_PARTS_MAX 8   /* as snap_settings.load_threads */

struct rentry {
    uint64_t seq;
    const unsigned char *rec;
    uint8_t part;               /* the applier thread of its key */
    bool barrier;               /* FLUSH, FLUSH_AT: all keys at once */
    bool touch;                 /* TOUCH: see touched_build() */
};

struct jrn_replay {
    struct jrn *j;
    struct store *st;
    uint64_t from_seq;
    unsigned nparts;            /* applier threads */
    struct rentry *v;
    size_t n;
    size_t cap;
    uint64_t max_seq;           /* over every record, covered ones too */
    uint64_t max_cas;           /* every CAS value the journal names */
    uint64_t applied;
    uint64_t dropped;           /* did not fit: the key is emptied */
    uint64_t torn;
    const void **maps;          /* kept mapped until the changes applied */
    size_t *lens;
    size_t nmaps;
    size_t nsegs;
    size_t ntouch;              /* TOUCH changes kept */
    uint64_t *touched;          /* key hashes of TOUCHes (| 1; 0 = free) */
    size_t touched_mask;        /* slots - 1 */
    uint64_t scan_us;
};

/* snapfmt_jseg_scan() callback: note what the record says of counters,
 * keep it when the snapshot does not cover it. */
static int
collect(void *arg, const struct snapfmt_jrec *r, const void *rec, size_t len)
{
    struct jrn_replay *rp = arg;
    uint64_t cas = r->cas;

    if (r->kind == SNAPFMT_J_LINK && (r->rflags & SNAPFMT_RF_CAS_EXPLICIT)) {
        cas = r->order;     /* a client's CAS is no counter value */
    }
    if (r->kind == SNAPFMT_J_SYNCED) {
        return 0;           /* a note on the file, not a change */
    }
    if (r->kind != SNAPFMT_J_UNLINK && r->kind != SNAPFMT_J_TOUCH &&
        r->kind != SNAPFMT_J_MARK && r->kind != SNAPFMT_J_FLUSH_AT &&
        cas > rp->max_cas) {
        rp->max_cas = cas;
    }
    if (r->seq > rp->max_seq) {
        rp->max_seq = r->seq;
    }
    if (r->seq <= rp->from_seq) {
        return 0;
    }
    if (rp->n == rp->cap) {
        size_t cap = rp->cap ? rp->cap * 2 : 4096;
        struct rentry *v = realloc(rp->v, cap * sizeof(*v));

        if (v == NULL) {
            return SNAPFMT_ENOMEM;
        }
        rp->v = v;
        rp->cap = cap;
    }
    (void)len;
    rp->v[rp->n].seq = r->seq;
    rp->v[rp->n].rec = rec;
    rp->v[rp->n].touch = r->kind == SNAPFMT_J_TOUCH;
    rp->ntouch += r->kind == SNAPFMT_J_TOUCH;
    rp->v[rp->n].barrier = r->kind == SNAPFMT_J_FLUSH ||
                           r->kind == SNAPFMT_J_FLUSH_AT;
    /* a key's changes all go to one applier, so they stay in order */
    rp->v[rp->n].part =
        r->nkey == 0 ? 0
                     : (uint8_t)(XXH3_64bits(r->key, r->nkey) % rp->nparts);
    rp->n++;
    return 0;
}

/* Map and scan segment SEGNO; keep its map for the apply phase. */
static int
scan_segment(struct jrn_replay *rp, uint64_t segno, char *err, size_t errlen)
{
    char path[4200];
    struct snapfmt_jscan sc;
    const void *map;
    size_t len;
    int rc;

    snapfmt_jseg_path(jrn_dir(rp->j), segno, path, sizeof(path));
    rc = snapfmt_jseg_map(path, &map, &len, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    rp->maps[rp->nmaps] = map;
    rp->lens[rp->nmaps++] = len;
    if (len < SNAPFMT_JSEG_HDR) {
        /* created, then the process died before its header was on disk */
        snap_log(jrn_snap(rp->j), SNAP_LOG_WARN, "journal: %s holds no "
                 "header (%zu bytes): nothing in it", path, len);
        rp->torn += len;
        return jrn_adopt(rp->j, segno, len, 0) == 0 ? SNAPFMT_OK
                                                     : SNAPFMT_ENOMEM;
    }
    rc = snapfmt_jseg_scan(map, len, path, collect, rp, &sc, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (sc.torn_bytes > 0) {
        snap_log(jrn_snap(rp->j), SNAP_LOG_WARN, "journal: %s: cut %" PRIu64
                 " byte(s) after its last good record at offset %" PRIu64
                 " (%" PRIu64 " whole record(s) after the cut not used): "
                 "what was being written when the process or the machine "
                 "stopped, past the last fdatasync", path, sc.torn_bytes,
                 sc.good_bytes, sc.dropped);
        rp->torn += sc.torn_bytes;
    }
    return jrn_adopt(rp->j, segno, len, sc.max_seq) == 0 ? SNAPFMT_OK
                                                          : SNAPFMT_ENOMEM;
}

/* Stable LSD radix sort by seq, 16 bits a pass, skipping equal digits. */
static int
sort_by_seq(struct jrn_replay *rp)
{
    struct rentry *tmp = malloc(rp->n * sizeof(*tmp) + 1);
    size_t *count = malloc((65536 + 1) * sizeof(*count));
    struct rentry *src = rp->v, *dst = tmp;

    if (tmp == NULL || count == NULL) {
        free(tmp);
        free(count);
        return -1;
    }
    for (unsigned shift = 0; shift < 64; shift += 16) {
        uint64_t first = (src[0].seq >> shift) & 0xffff;
        bool same = true;

        memset(count, 0, (65536 + 1) * sizeof(*count));
        for (size_t i = 0; i < rp->n; i++) {
            uint64_t d = (src[i].seq >> shift) & 0xffff;

            same = same && d == first;
            count[d + 1]++;
        }
        if (same) {
            continue;
        }
        for (size_t d = 1; d <= 65536; d++) {
            count[d] += count[d - 1];
        }
        for (size_t i = 0; i < rp->n; i++) {
            dst[count[(src[i].seq >> shift) & 0xffff]++] = src[i];
        }
        src = dst;
        dst = src == tmp ? rp->v : tmp;
    }
    if (src != rp->v) {
        memcpy(rp->v, src, rp->n * sizeof(*src));
    }
    free(tmp);
    free(count);
    return 0;
}

/* One applier thread's share of a run of changes. */
struct applier {
    struct jrn_replay *rp;
    size_t from, to;            /* entries [from, to) of rp->v */
    unsigned part;              /* the keys it applies; UINT32_MAX: all */
    bool reporter;              /* logs progress (the loading thread's) */
    uint64_t applied;
    uint64_t dropped;
    pthread_t tid;
};

/* LINK: the item as it was linked (or, when it cannot be, the key gone:
 * an older value must not survive a newer one that did not fit). */
static void
apply_link(struct applier *a, const struct snapfmt_jrec *r)
{
    struct store_restore rs = { .kind = STORE_CHANGE_UNLINK,
                                .key = r->key, .nkey = r->nkey };
    struct item *it;
    int rc;

    /* linked even when expired since: a later TOUCH may extend it */
    it = store_alloc(a->rp->st, r->key, r->nkey, r->flags, r->exptime,
                     r->nvalue, (r->rflags & SNAPFMT_RF_CAS_EXPLICIT) != 0,
                     &rc);
    if (it == NULL) {
        a->dropped++;
    } else {
        memcpy(item_value_mut(it), r->value, r->nvalue);
        rs.kind = STORE_CHANGE_LINK;
        rs.it = it;
        rs.cas = r->cas;
        rs.order = r->order;
        rs.bits = snap_state_bits(r->rflags);
        rs.atime = r->time;
    }
    (void)store_restore(a->rp->st, &rs);
    item_unref(it);
}

static void
apply(struct applier *a, const struct snapfmt_jrec *r)
{
    struct store_restore rs;

    memset(&rs, 0, sizeof(rs));
    rs.key = r->key;
    rs.nkey = r->nkey;
    rs.cas = r->cas;
    switch (r->kind) {
    case SNAPFMT_J_LINK:
        apply_link(a, r);
        return;
    case SNAPFMT_J_UNLINK:
        rs.kind = STORE_CHANGE_UNLINK;
        break;
    case SNAPFMT_J_TOUCH:
        rs.kind = STORE_CHANGE_TOUCH;
        rs.exptime = r->exptime;
        break;
    case SNAPFMT_J_MARK:
        rs.kind = STORE_CHANGE_MARK;
        rs.bits = snap_state_bits(r->rflags);
        break;
    case SNAPFMT_J_FLUSH:
        rs.kind = STORE_CHANGE_FLUSH;
        break;
    case SNAPFMT_J_FLUSH_AT:
        rs.kind = STORE_CHANGE_FLUSH_AT;
        rs.when = r->exptime;
        break;
    default:
        return;     /* CAS_RESERVE: counted by collect() */
    }
    (void)store_restore(a->rp->st, &rs);
}

static bool
applier_owns(const struct applier *a, const struct rentry *e)
{
    return a->part == UINT32_MAX || e->barrier || e->part == a->part;
}

/*
 * The records are read in order, but their keys are all over the hash
 * table: each lookup misses its bucket, then the item in it. Prefetched
 * some changes of ours ahead (bucket first, item later), the misses
 * overlap instead of adding up.
 */
enum { AHEAD_BUCKET = 16, AHEAD_ITEM = 8 };

/* Prefetch (CHAIN: the items, else the buckets) of A's changes from *AT
 * up to DIST entries past I. */
static void
prefetch_upto(struct applier *a, size_t *at, size_t i, size_t dist,
              bool chain)
{
    size_t end = i + dist < a->to ? i + dist : a->to;
    struct snapfmt_jrec r;

    for (size_t c = *at > i ? *at : i + 1; c < end; c++) {
        const struct rentry *e = &a->rp->v[c];

        if (e->barrier || !applier_owns(a, e)) {
            continue;
        }
        snapfmt_jrec_decode(e->rec, &r);
        if (chain) {
            store_prefetch_item(a->rp->st, r.key, r.nkey);
        } else {
            store_prefetch_bucket(a->rp->st, r.key, r.nkey);
        }
    }
    if (end > *at) {
        *at = end;
    }
}

/* Apply the entries of A's part in [from, to), in order. */
static void *
applier_main(void *arg)
{
    struct applier *a = arg;
    struct snapfmt_jrec r;
    size_t pf_bucket = a->from, pf_item = a->from;

    for (size_t i = a->from; i < a->to; i++) {
        const struct rentry *e = &a->rp->v[i];

        if (a->reporter && (i & 4095) == 0) {
            /* every applier walks the whole run: this one's place in it
             * is the replay's */
            snap_progress(jrn_snap(a->rp->j), "replaying journal changes",
                          i, a->rp->n);
        }
        if (applier_owns(a, e)) {
            prefetch_upto(a, &pf_bucket, i, AHEAD_BUCKET, false);
            prefetch_upto(a, &pf_item, i, AHEAD_ITEM, true);
            /* verified by the scan: decoded, not checked again */
            snapfmt_jrec_decode(e->rec, &r);
            apply(a, &r);
            a->applied++;
        }
    }
    return NULL;
}

/*
 * Entries [FROM, TO) hold no barrier: each key's changes go to one
 * applier, so appliers may run side by side (one per part). A barrier
 * (a flush) is applied alone, between such runs.
 */
static void
apply_run(struct jrn_replay *rp, size_t from, size_t to)
{
    struct applier a[SNAP_REPLAY_PARTS_MAX];
    unsigned n = to - from < 4096 ? 1 : rp->nparts, started = 0;

    for (unsigned p = 0; p < n; p++) {
        a[p] = (struct applier){ .rp = rp, .from = from, .to = to,
                                 .part = n == 1 ? UINT32_MAX : p,
                                 .reporter = p == 0 };
    }
    for (unsigned p = 1; p < n; p++) {
        if (pthread_create(&a[p].tid, NULL, applier_main, &a[p]) == 0) {
            started = p;
        } else {
            applier_main(&a[p]);    /* no thread: apply it here */
        }
    }
    applier_main(&a[0]);
    for (unsigned p = 1; p < n; p++) {
        if (p <= started) {
            pthread_join(a[p].tid, NULL);
        }
        a[0].applied += a[p].applied;
        a[0].dropped += a[p].dropped;
    }
    rp->applied += a[0].applied;
    rp->dropped += a[0].dropped;
}

static int
apply_all(struct jrn_replay *rp)
{
    size_t i = 0, j;

    while (i < rp->n) {
        for (j = i; j < rp->n && !rp->v[j].barrier; j++) {
        }
        if (j > i) {
            apply_run(rp, i, j);
        }
        if (j < rp->n) {
            apply_run(rp, j, j + 1);
            j++;
        }
        i = j;
    }
    return SNAPFMT_OK;
}

/* The hash of KEY as the touched set keeps it (never 0: free slot). */
static uint64_t
touch_hash(const void *key, size_t nkey)
{
    return XXH3_64bits(key, nkey) | 1;
}

/*
 * The set of keys the changes TOUCH: a snapshot record that has expired
 * by now is loaded all the same when a later TOUCH (touch, gat) gave it
 * more time, or the replayed TOUCH would find nothing to extend. Hashes
 * only: a collision merely loads an expired item, which reads as a miss.
 */
static int
touched_build(struct jrn_replay *rp)
{
    size_t n = rp->ntouch, cap = 16;
    struct snapfmt_jrec r;

    if (n == 0) {
        return 0;
    }
    while (cap < 2 * n) {
        cap *= 2;
    }
    rp->touched = calloc(cap, sizeof(*rp->touched));
    if (rp->touched == NULL) {
        return -1;
    }
    rp->touched_mask = cap - 1;
    for (size_t i = 0; i < rp->n; i++) {
        uint64_t h;
        size_t at;

        if (!rp->v[i].touch) {
            continue;
        }
        snapfmt_jrec_decode(rp->v[i].rec, &r);
        h = touch_hash(r.key, r.nkey);
        for (at = h & rp->touched_mask;
             rp->touched[at] != 0 && rp->touched[at] != h;
             at = (at + 1) & rp->touched_mask) {
        }
        rp->touched[at] = h;
    }
    return 0;
}

bool
jrn_replay_touches(const struct jrn_replay *rp, const void *key,
                   size_t nkey)
{
    uint64_t h;

    if (rp == NULL || rp->touched == NULL) {
        return false;
    }
    h = touch_hash(key, nkey);
    for (size_t at = h & rp->touched_mask; rp->touched[at] != 0;
         at = (at + 1) & rp->touched_mask) {
        if (rp->touched[at] == h) {
            return true;
        }
    }
    return false;
}

void
jrn_replay_free(struct jrn_replay **rpp)
{
    struct jrn_replay *rp = *rpp;

    if (rp == NULL) {
        return;
    }
    for (size_t i = 0; i < rp->nmaps; i++) {
        snapfmt_jseg_unmap(rp->maps[i], rp->lens[i]);
    }
    free(rp->maps);
    free(rp->lens);
    free(rp->v);
    free(rp->touched);
    free(rp);
    *rpp = NULL;
}

static int
scan_all(struct jrn_replay *rp, char *err, size_t errlen)
{
    uint64_t *segs = NULL;
    int rc;

    rc = snapfmt_jseg_list(jrn_dir(rp->j), &segs, &rp->nsegs, err, errlen);
    if (rc != SNAPFMT_OK || rp->nsegs == 0) {
        free(segs);
        return rc;
    }
    rp->maps = calloc(rp->nsegs, sizeof(*rp->maps));
    rp->lens = calloc(rp->nsegs, sizeof(*rp->lens));
    if (rp->maps == NULL || rp->lens == NULL) {
        rc = SNAPFMT_ENOMEM;
    }
    for (size_t i = 0; i < rp->nsegs && rc == SNAPFMT_OK; i++) {
        snap_progress(jrn_snap(rp->j), "reading journal segment", i,
                      rp->nsegs);
        rc = scan_segment(rp, segs[i], err, errlen);
    }
    free(segs);
    if (rc == SNAPFMT_OK && rp->n > 1 && sort_by_seq(rp) != 0) {
        rc = SNAPFMT_ENOMEM;
    }
    if (rc == SNAPFMT_OK && touched_build(rp) != 0) {
        rc = SNAPFMT_ENOMEM;
    }
    return rc;
}

int
jrn_replay_scan(struct jrn *j, uint64_t from_seq, struct jrn_replay **out,
                char *err, size_t errlen)
{
    struct jrn_replay *rp = calloc(1, sizeof(*rp));
    unsigned threads = jrn_snap(j)->cfg.load_threads;
    uint64_t t0 = snap_now_us();
    int rc;

    err[0] = '\0';
    if (rp == NULL) {
        snprintf(err, errlen, "out of memory replaying the journal");
        return SNAPFMT_ENOMEM;
    }
    rp->j = j;
    rp->st = jrn_store(j);
    rp->from_seq = from_seq;
    rp->nparts = threads < 1 ? 1 : threads > SNAP_REPLAY_PARTS_MAX
                                       ? SNAP_REPLAY_PARTS_MAX
                                       : threads;
    rc = scan_all(rp, err, errlen);
    if (rc == SNAPFMT_ENOMEM && err[0] == '\0') {
        snprintf(err, errlen, "out of memory replaying the journal");
    }
    if (rc != SNAPFMT_OK) {
        jrn_replay_free(&rp);
        return rc;
    }
    rp->scan_us = snap_now_us() - t0;
    *out = rp;
    return SNAPFMT_OK;
}

int
jrn_replay_apply(struct jrn_replay **rpp)
{
    struct jrn_replay *rp = *rpp;
    uint64_t t0 = snap_now_us(), us;

    if (rp == NULL) {
        return SNAPFMT_OK;
    }
    if (rp->nsegs > 0) {
        (void)apply_all(rp);
        /* nothing handed out before the crash may be handed out again */
        store_seq_floor(rp->st, rp->max_seq);
        store_cas_floor(rp->st, rp->max_cas);
        us = rp->scan_us + (snap_now_us() - t0);
        jrn_replayed(rp->j, rp->applied, rp->nsegs, rp->torn, us);
        snap_log(jrn_snap(rp->j), SNAP_LOG_NOTICE, "journal: replayed %"
                 PRIu64 " change(s) from %zu segment(s) in %" PRIu64
                 " ms (%" PRIu64 " did not fit; %" PRIu64 " torn byte(s) "
                 "cut)", rp->applied, rp->nsegs, us / 1000, rp->dropped,
                 rp->torn);
    }
    jrn_replay_free(rpp);
    return SNAPFMT_OK;
}
