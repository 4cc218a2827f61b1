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

#define SNAP_REPLAY_PARTS_MAX 8   /* as snap_settings.replay_threads */

struct rentry {
    uint64_t seq;
    const unsigned char *rec;
    uint32_t hi;                /* the top half of its key's hash */
    uint8_t part;               /* the applier thread of its key */
    bool barrier;               /* FLUSH, FLUSH_AT: all keys at once */
    bool touch;                 /* TOUCH: see touched_build() */
    bool reserve;               /* CAS_RESERVE: no change, seq not its own */
};

/* A segment as far as it was scanned (a live one grows meanwhile). */
struct rseg {
    uint64_t segno;
    uint64_t good;              /* its records up to here were collected */
    uint64_t synced;            /* highest SYNCED offset seen in it */
    uint64_t max_seq;
};

struct jrn_replay {
    struct jrn *j;
    struct store *st;
    uint64_t from_seq;
    bool live;                  /* another process still writes them */
    uint64_t complete;          /* live: every change up to it is in v */
                                /* or applied (see complete_upto()) */
    unsigned nparts;            /* applier threads */
    struct rentry *v;
    size_t n;
    size_t cap;
    uint64_t max_seq;           /* over every record, covered ones too */
    uint64_t max_cas;           /* every CAS value the journal names */
    uint64_t applied;
    uint64_t dropped;           /* did not fit: the key is emptied */
    uint64_t torn;
    uint64_t late;              /* seen after later changes were applied */
    const void **maps;          /* kept mapped until the changes applied */
    size_t *lens;
    size_t nmaps;
    size_t mapcap;
    struct rseg *segs;          /* every segment scanned so far */
    size_t nsegs;
    size_t segcap;
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
    if (r->seq <= rp->complete && r->kind != SNAPFMT_J_CAS_RESERVE) {
        rp->late++;         /* see complete_upto(): should not happen */
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
    rp->v[rp->n].reserve = r->kind == SNAPFMT_J_CAS_RESERVE;
    rp->ntouch += r->kind == SNAPFMT_J_TOUCH;
    rp->v[rp->n].barrier = r->kind == SNAPFMT_J_FLUSH ||
                           r->kind == SNAPFMT_J_FLUSH_AT;
    /* a key's changes all go to one applier, so they stay in order; an
     * applier owns a contiguous range of the hash, so appliers do not
     * share the store's lock stripes (store_key_hash()) */
    rp->v[rp->n].hi =
        r->nkey == 0 ? 0 : (uint32_t)(store_key_hash(r->key, r->nkey) >> 32);
    rp->v[rp->n].part = (uint8_t)(((uint64_t)rp->v[rp->n].hi *
                                   rp->nparts) >> 32);
    rp->n++;
    return 0;
}

/* Keep MAP (LEN bytes) mapped until the changes in it are applied. */
static int
keep_map(struct jrn_replay *rp, const void *map, size_t len)
{
    if (rp->nmaps == rp->mapcap) {
        size_t cap = rp->mapcap ? rp->mapcap * 2 : 16;
        const void **m = realloc(rp->maps, cap * sizeof(*m));
        size_t *l = m != NULL ? realloc(rp->lens, cap * sizeof(*l)) : NULL;

        if (m != NULL) {
            rp->maps = m;
        }
        if (l == NULL) {
            return SNAPFMT_ENOMEM;
        }
        rp->lens = l;
        rp->mapcap = cap;
    }
    rp->maps[rp->nmaps] = map;
    rp->lens[rp->nmaps++] = len;
    return SNAPFMT_OK;
}

/* The scan state of segment SEGNO, added when new; NULL: no memory. */
static struct rseg *
seg_state(struct jrn_replay *rp, uint64_t segno)
{
    for (size_t i = 0; i < rp->nsegs; i++) {
        if (rp->segs[i].segno == segno) {
            return &rp->segs[i];
        }
    }
    if (rp->nsegs == rp->segcap) {
        size_t cap = rp->segcap ? rp->segcap * 2 : 16;
        struct rseg *v = realloc(rp->segs, cap * sizeof(*v));

        if (v == NULL) {
            return NULL;
        }
        rp->segs = v;
        rp->segcap = cap;
    }
    rp->segs[rp->nsegs] = (struct rseg){ .segno = segno };
    return &rp->segs[rp->nsegs++];
}

/* A torn tail: in a live segment the record being written, else what a
 * crash left (logged, counted). */
static void
note_torn(struct jrn_replay *rp, const char *path,
          const struct snapfmt_jscan *sc)
{
    if (rp->live || sc->torn_bytes == 0) {
        return;
    }
    snap_log(jrn_snap(rp->j), SNAP_LOG_WARN, "journal: %s: cut %" PRIu64
             " byte(s) after its last good record at offset %" PRIu64
             " (%" PRIu64 " whole record(s) after the cut not used): "
             "what was being written when the process or the machine "
             "stopped, past the last fdatasync", path, sc->torn_bytes,
             sc->good_bytes, sc->dropped);
    rp->torn += sc->torn_bytes;
}

/*
 * Map segment SG and collect its records past SG->good (all of them the
 * first time); keep the map for the apply phase.
 */
static int
scan_segment(struct jrn_replay *rp, struct rseg *sg, char *err,
             size_t errlen)
{
    char path[4200];
    struct snapfmt_jscan sc;
    const void *map;
    size_t len;
    int rc;

    snapfmt_jseg_path(jrn_dir(rp->j), sg->segno, path, sizeof(path));
    rc = snapfmt_jseg_map(path, &map, &len, err, errlen);
    if (rc == SNAPFMT_ENOENT && sg->good > 0) {
        return SNAPFMT_OK;      /* its records were collected before */
    }
    if (rc != SNAPFMT_OK || keep_map(rp, map, len) != SNAPFMT_OK) {
        if (rc == SNAPFMT_OK) {
            snapfmt_jseg_unmap(map, len);
            rc = SNAPFMT_ENOMEM;
        }
        return rc;
    }
    if (len < SNAPFMT_JSEG_HDR) {
        /* created, and its header not (yet) written */
        if (!rp->live) {
            snap_log(jrn_snap(rp->j), SNAP_LOG_WARN, "journal: %s holds no "
                     "header (%zu bytes): nothing in it", path, len);
            rp->torn += len;
        }
        return jrn_adopt(rp->j, sg->segno, len, 0) == 0 ? SNAPFMT_OK
                                                         : SNAPFMT_ENOMEM;
    }
    if (len <= sg->good) {
        return SNAPFMT_OK;      /* nothing new */
    }
    sc.synced = sg->synced;
    rc = snapfmt_jseg_scan_from(map, len, sg->good, path, collect, rp, &sc,
                                err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    note_torn(rp, path, &sc);
    sg->good = sc.good_bytes;
    sg->synced = sc.synced;
    sg->max_seq = sc.max_seq > sg->max_seq ? sc.max_seq : sg->max_seq;
    return jrn_adopt(rp->j, sg->segno, len, sg->max_seq) == 0
               ? SNAPFMT_OK
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
 * Even in hash order (sort_by_hash()) each change misses the cache three
 * times: its record (the journal, read out of order now), its hash
 * bucket, then the item in it. Prefetched some changes of ours ahead
 * (record and bucket first, item later), the misses overlap instead of
 * adding up. The entry's hash serves, so the record is not read early.
 */
enum { AHEAD_BUCKET = 16, AHEAD_ITEM = 8 };

/* Prefetch (CHAIN: the items, else the records and buckets) of A's
 * changes from *AT up to DIST entries past I. */
static void
prefetch_upto(struct applier *a, size_t *at, size_t i, size_t dist,
              bool chain)
{
    size_t end = i + dist < a->to ? i + dist : a->to;

    for (size_t c = *at > i ? *at : i + 1; c < end; c++) {
        const struct rentry *e = &a->rp->v[c];
        uint64_t hv = (uint64_t)e->hi << 32;

        if (e->barrier || !applier_owns(a, e)) {
            continue;
        }
        if (chain) {
            store_prefetch_item(a->rp->st, hv);
        } else {
            __builtin_prefetch(e->rec);
            __builtin_prefetch(e->rec + 64);
            store_prefetch_bucket(a->rp->st, hv);
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

/* Below this many changes a run is applied as it is, by one applier. */
enum { RUN_SPLIT_MIN = 4096 };

/*
 * Sort entries [FROM, TO) by their key's hash, stably: a key's changes
 * keep their order, and what the order of changes to different keys was
 * does not matter between two barriers. In hash order the lookups walk
 * the table from one end to the other, and meet the items a format 3
 * snapshot loaded (in hash order) and their LRU neighbours in the order
 * they lie in memory, instead of missing the cache at every step. The
 * replayed items take the LRU's head in hash order: most recent as a
 * group, as a loaded snapshot's items are oldest as one. Without memory
 * for it the run is applied in journal order: slower, as correct.
 */
static void
sort_by_hash(struct jrn_replay *rp, size_t from, size_t to)
{
    size_t n = to - from;
    struct rentry *tmp = malloc(n * sizeof(*tmp));
    size_t *count = calloc(65536 + 1, sizeof(*count));

    if (tmp != NULL && count != NULL) {
        for (size_t i = from; i < to; i++) {
            count[(rp->v[i].hi >> 16) + 1]++;
        }
        for (size_t d = 1; d <= 65536; d++) {
            count[d] += count[d - 1];
        }
        for (size_t i = from; i < to; i++) {
            tmp[count[rp->v[i].hi >> 16]++] = rp->v[i];
        }
        memcpy(rp->v + from, tmp, n * sizeof(*tmp));
    }
    free(tmp);
    free(count);
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
    unsigned n = to - from < RUN_SPLIT_MIN ? 1 : rp->nparts, started = 0;

    if (to - from >= RUN_SPLIT_MIN) {
        sort_by_hash(rp, from, to);
    }

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

/* Apply entries [0, END) of RP->v in order. */
static int
apply_all(struct jrn_replay *rp, size_t end)
{
    size_t i = 0, j;

    while (i < end) {
        for (j = i; j < end && !rp->v[j].barrier; j++) {
        }
        if (j > i) {
            apply_run(rp, i, j);
        }
        if (j < end) {
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
    free(rp->segs);
    free(rp->v);
    free(rp->touched);
    free(rp);
    *rpp = NULL;
}

/*
 * Live: raise rp->complete over the changes numbered one after the
 * other from it. Every change of the writer is numbered from one
 * counter, but the workers write them to their segments each in its
 * own time: change 7 may be on disk while 6 still waits in another
 * worker's buffer. Only up to the first gap is it known that nothing
 * before is missing, so only that far may changes be applied (a later
 * one of the same key must not be overtaken). A gap that never fills
 * (a change the journal dropped) only leaves the rest for later.
 */
static void
complete_upto(struct jrn_replay *rp)
{
    uint64_t w = rp->complete;

    for (size_t i = 0; i < rp->n; i++) {
        const struct rentry *e = &rp->v[i];

        if (e->reserve || e->seq <= w) {
            continue;       /* a reservation shares its seq */
        }
        if (e->seq != w + 1) {
            break;
        }
        w++;
    }
    rp->complete = w;
}

/* Scan every segment in the directory (the new part of those scanned
 * before), then sort everything collected and not yet applied. */
static int
scan_all(struct jrn_replay *rp, char *err, size_t errlen)
{
    uint64_t *segs = NULL;
    size_t n = 0;
    int rc;

    rc = snapfmt_jseg_list(jrn_dir(rp->j), &segs, &n, err, errlen);
    for (size_t i = 0; i < n && rc == SNAPFMT_OK; i++) {
        struct rseg *sg = seg_state(rp, segs[i]);

        snap_progress(jrn_snap(rp->j), "reading journal segment", i, n);
        rc = sg != NULL ? scan_segment(rp, sg, err, errlen)
                        : SNAPFMT_ENOMEM;
    }
    free(segs);
    if (rc == SNAPFMT_OK && rp->n > 1 && sort_by_seq(rp) != 0) {
        rc = SNAPFMT_ENOMEM;
    }
    if (rc == SNAPFMT_OK && rp->live) {
        complete_upto(rp);
    }
    return rc;
}

int
jrn_replay_scan(struct jrn *j, uint64_t from_seq, bool live,
                struct jrn_replay **out, char *err, size_t errlen)
{
    struct jrn_replay *rp = calloc(1, sizeof(*rp));
    unsigned threads = jrn_snap(j)->cfg.replay_threads;
    uint64_t t0 = snap_now_us();
    int rc;

    err[0] = '\0';
    if (rp == NULL) {
        snprintf(err, errlen, "out of memory replaying the journal");
        return SNAPFMT_ENOMEM;
    }
    rp->j = j;
    rp->st = jrn_store(j);
    rp->from_seq = rp->complete = from_seq;
    rp->live = live;
    rp->nparts = threads < 1 ? 1 : threads > SNAP_REPLAY_PARTS_MAX
                                       ? SNAP_REPLAY_PARTS_MAX
                                       : threads;
    rc = scan_all(rp, err, errlen);
    if (rc == SNAPFMT_OK && touched_build(rp) != 0) {
        rc = SNAPFMT_ENOMEM;
    }
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
jrn_replay_follow(struct jrn_replay *rp, bool live, char *err, size_t errlen)
{
    uint64_t t0 = snap_now_us();
    int rc;

    err[0] = '\0';
    rp->live = live;
    rc = scan_all(rp, err, errlen);
    if (rc == SNAPFMT_ENOMEM && err[0] == '\0') {
        snprintf(err, errlen, "out of memory following the journal");
    }
    rp->scan_us += snap_now_us() - t0;
    return rc;
}

uint64_t
jrn_replay_apply_complete(struct jrn_replay *rp)
{
    uint64_t t0 = snap_now_us(), before;
    size_t k = 0;

    while (k < rp->n && rp->v[k].seq <= rp->complete) {
        k++;
    }
    before = rp->applied;
    (void)apply_all(rp, k);
    if (k > 0) {    /* an empty journal has no array: memmove(NULL) */
        memmove(rp->v, rp->v + k, (rp->n - k) * sizeof(*rp->v));
        rp->n -= k;
    }
    rp->scan_us += snap_now_us() - t0;
    return rp->applied - before;
}

uint64_t
jrn_replay_applied(const struct jrn_replay *rp)
{
    return rp->applied;
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
        (void)apply_all(rp, rp->n);
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
    if (rp->late > 0) {
        snap_log(jrn_snap(rp->j), SNAP_LOG_WARN, "journal: %" PRIu64
                 " change(s) reached the disk after a later one that was "
                 "already applied (a change number used twice?)", rp->late);
    }
    jrn_replay_free(rpp);
    return SNAPFMT_OK;
}
