/*
 * snap_journal.c -- the journal for embersnap (snap_journal.h): scanning
 * every segment through format.h, then folding the changes above the
 * snapshot's journal_seq into one overlay entry per key.
 *
 * The fold sorts the changes by (key, seq): a key's changes touch only
 * that key, so each key's run is applied in seq order on its own, and
 * the keyless changes (FLUSH, FLUSH_AT, CAS_RESERVE) sort first, in seq
 * order, giving the flush state. A FLUSH is a threshold that only rises
 * (as in the store), so whether an item survives the journal's flushes
 * is decided once at the end, from its CAS order.
 */
#include "config.h"

#include "tools/embersnap/snap_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A change above journal_seq, until folded: borrowed from the map. */
struct es_jpend {
    const void *rec;          /* the whole record (verified by the scan) */
    const void *key;
    uint64_t seq;
    uint32_t len;
    uint32_t nkey;
};

/* snapfmt_jseg_scan() callback: count, and keep what is above from_seq. */
struct scan_arg {
    struct es_journal *j;
    struct es_jseg *sg;
    bool collect;
};

static int
scan_one(void *arg, const struct snapfmt_jrec *r, const void *rec,
         size_t len)
{
    struct scan_arg *a = arg;
    struct es_journal *j = a->j;
    struct es_jpend *p;

    if (r->kind == SNAPFMT_J_SYNCED || r->seq <= j->from_seq) {
        return 0;           /* a note on the file, or in the snapshot */
    }
    a->sg->above++;
    if (!a->collect) {
        return 0;
    }
    if (j->npend == j->cappend) {
        size_t cap = j->cappend ? j->cappend * 2 : 1024;

        p = realloc(j->pend, cap * sizeof(*p));
        if (p == NULL) {
            return SNAPFMT_ENOMEM;
        }
        j->pend = p;
        j->cappend = cap;
    }
    p = &j->pend[j->npend++];
    p->rec = rec;
    p->key = r->key;
    p->seq = r->seq;
    p->len = (uint32_t)len;
    p->nkey = (uint32_t)r->nkey;
    return 0;
}

/* Add segment SG's counts to the totals. */
static void
add_totals(struct es_journal *j, const struct es_jseg *sg)
{
    j->bytes += sg->bytes;
    j->torn += sg->scan.torn_bytes;
    j->dropped += sg->scan.dropped;
    j->above += sg->above;
    if (sg->rc != SNAPFMT_OK) {
        j->damaged++;
    }
    j->records += sg->scan.records;
    if (sg->scan.max_seq == 0) {
        return;             /* no change in it (SYNCED notes at most) */
    }
    if (j->max_seq == 0 || sg->scan.min_seq < j->min_seq) {
        j->min_seq = sg->scan.min_seq;
    }
    if (sg->scan.max_seq > j->max_seq) {
        j->max_seq = sg->scan.max_seq;
    }
}

/* Map and scan segment SG (its segno set) of DIR. Only out of memory
 * is returned; everything else is recorded in SG. */
static int
scan_segment(struct es_journal *j, const char *dir, struct es_jseg *sg,
             bool collect)
{
    struct scan_arg a = { j, sg, collect };
    char path[4200];
    const void *map;
    size_t len;
    int rc;

    snapfmt_jseg_path(dir, sg->segno, path, sizeof(path));
    rc = snapfmt_jseg_map(path, &map, &len, sg->msg, sizeof(sg->msg));
    if (rc == SNAPFMT_ENOENT) {
        sg->vanished = true;
        sg->msg[0] = '\0';
        return SNAPFMT_OK;
    }
    if (rc != SNAPFMT_OK) {
        sg->rc = rc;
        return SNAPFMT_OK;
    }
    j->maps[j->nsegs] = map;
    j->lens[j->nsegs] = len;
    sg->bytes = len;
    if (len < SNAPFMT_JSEG_HDR) {
        /* created, then the process died before its header was written:
         * emberd's replay takes it as holding nothing */
        sg->headerless = true;
        sg->scan.torn_bytes = len;
        return SNAPFMT_OK;
    }
    rc = snapfmt_jseg_scan(map, len, path, scan_one, &a, &sg->scan, sg->msg,
                           sizeof(sg->msg));
    if (rc == SNAPFMT_ENOMEM) {
        return rc;
    }
    sg->rc = rc;
    if (rc == SNAPFMT_OK) {
        sg->msg[0] = '\0';
    }
    return SNAPFMT_OK;
}

int
es_journal_scan(const char *dir, uint64_t from_seq, bool collect,
                struct es_journal **out, char *err, size_t errlen)
{
    struct es_journal *j = calloc(1, sizeof(*j));
    uint64_t *segnos = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    if (j == NULL) {
        snprintf(err, errlen, "out of memory reading the journal");
        return SNAPFMT_ENOMEM;
    }
    j->from_seq = from_seq;
    rc = snapfmt_jseg_list(dir, &segnos, &n, err, errlen);
    if (rc == SNAPFMT_OK && n > 0) {
        j->segs = calloc(n, sizeof(*j->segs));
        j->maps = calloc(n, sizeof(*j->maps));
        j->lens = calloc(n, sizeof(*j->lens));
        rc = j->segs && j->maps && j->lens ? SNAPFMT_OK : SNAPFMT_ENOMEM;
    }
    for (size_t i = 0; rc == SNAPFMT_OK && i < n; i++) {
        struct es_jseg *sg = &j->segs[j->nsegs];

        sg->segno = segnos[i];
        rc = scan_segment(j, dir, sg, collect);
        add_totals(j, sg);
        j->nsegs++;
    }
    free(segnos);
    if (rc != SNAPFMT_OK) {
        if (rc == SNAPFMT_ENOMEM) {
            snprintf(err, errlen, "out of memory reading the journal "
                     "(%zu changes kept)", j->npend);
        }
        es_journal_free(&j);
        return rc;
    }
    *out = j;
    return SNAPFMT_OK;
}

void
es_journal_free(struct es_journal **jp)
{
    struct es_journal *j = *jp;

    if (j == NULL) {
        return;
    }
    for (size_t i = 0; i < j->nsegs; i++) {
        snapfmt_jseg_unmap(j->maps[i], j->lens[i]);
    }
    free(j->maps);
    free(j->lens);
    free(j->segs);
    free(j->pend);
    for (size_t i = 0; j->ents != NULL && i < j->nents; i++) {
        free(j->ents[i].own);
    }
    free(j->ents);
    free(j);
    *jp = NULL;
}

/* ---- the overlay ------------------------------------------------------ */

int
es_key_cmp(const void *a, size_t na, const void *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n > 0 ? memcmp(a, b, n) : 0;   /* A or B may be NULL when 0 */

    if (c != 0) {
        return c;
    }
    return na < nb ? -1 : (na > nb ? 1 : 0);
}

static int
pend_cmp(const void *x, const void *y)
{
    const struct es_jpend *a = x, *b = y;
    int c = es_key_cmp(a->key, a->nkey, b->key, b->nkey);

    if (c != 0) {
        return c;
    }
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/* The keyless changes, in seq order: the flush state at the end. */
static void
fold_flushes(struct es_journal *j, const struct es_jpend *p, size_t n,
             uint64_t flush_pending, int64_t now)
{
    struct snapfmt_jrec r;

    j->flush_when = (uint32_t)flush_pending;
    for (size_t i = 0; i < n; i++) {
        snapfmt_jrec_decode(p[i].rec, &r);   /* verified by the scan */
        if (r.kind == SNAPFMT_J_FLUSH) {
            j->flushed = true;
            j->flush_cas = r.cas > j->flush_cas ? r.cas : j->flush_cas;
            j->flush_when = 0;
        } else if (r.kind == SNAPFMT_J_FLUSH_AT) {
            j->flush_when = r.exptime;
        }
    }
    j->flush_due = j->flush_when != 0 && (int64_t)j->flush_when <= now;
}

uint64_t
es_snap_order(const struct snapfmt_rec *r)
{
    /* a client's CAS says nothing of when the item was stored; the
     * snapshot's items were stored before any flush above journal_seq */
    return (r->rflags & SNAPFMT_RF_CAS_EXPLICIT) ? 0 : r->cas;
}

bool
es_journal_flushes(const struct es_journal *j, uint64_t order)
{
    return j->flush_due || (j->flushed && order <= j->flush_cas);
}

/* E starts as format 3's item of its key (a copy of its value). */
static int
fold_base3(struct es_jent *e, struct es_snap *s)
{
    struct es_rec rec;
    char err[SNAPFMT_ERR_MAX];
    void *copy;
    int rc;

    memset(&rec, 0, sizeof(rec));
    rc = es_find3(s, e->key, e->nkey, &rec, err, sizeof(err));
    if (rc != SNAPFMT_OK || rec.parse_rc != SNAPFMT_OK) {
        return 0;   /* absent, or damaged (the walk reports it) */
    }
    copy = malloc(rec.r.raw_len + 1);
    if (copy == NULL) {
        return SNAPFMT_ENOMEM;
    }
    memcpy(copy, rec.value, rec.r.raw_len);
    e->own = copy;
    e->value = copy;
    e->nvalue = rec.r.raw_len;
    e->cas = rec.r.cas;
    e->order = es_snap_order(&rec.r);
    e->exptime = rec.r.exptime;
    e->rflags = (uint8_t)rec.r.rflags;
    e->flags = rec.r.flags;
    e->time = rec.r.atime;
    return 1;
}

/* E starts as the snapshot's item of its key, for a TOUCH or MARK.
 * Returns 1 when there is one, 0 when not (absent or damaged: the walk
 * reports a damaged one), or a negative snapfmt_rc. */
static int
fold_base(struct es_jent *e, struct es_snap *s)
{
    struct snapfmt_rec r;
    const void *rec;
    size_t nrec;
    int rc;

    if (s->blocks) {
        return fold_base3(e, s);
    }
    rc = snapfmt_get(s->txn, e->key, e->nkey, &rec, &nrec);

    if (rc == SNAPFMT_END) {
        return 0;
    }
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (snapfmt_rec_parse(e->key, e->nkey, rec, nrec, &r, NULL, 0) !=
        SNAPFMT_OK) {
        return 0;
    }
    e->rec = rec;
    e->nrec = (uint32_t)nrec;
    e->cas = r.cas;
    e->order = es_snap_order(&r);
    e->exptime = r.exptime;
    e->rflags = (uint8_t)r.rflags;
    e->flags = r.flags;
    return 1;
}

/* Apply change R to E (state 0: nothing known yet). Returns 0, or a
 * negative snapfmt_rc from reading the snapshot. */
static int
fold_change(struct es_jent *e, const struct snapfmt_jrec *r,
            const void *rec, size_t len, struct es_snap *s)
{
    bool has = e->state == ES_J_LINKED || e->state == ES_J_CHANGED;
    int rc;

    if (r->kind == SNAPFMT_J_LINK) {
        free(e->own);
        e->own = NULL;
        e->state = ES_J_LINKED;
        e->rec = rec;
        e->nrec = (uint32_t)len;
        e->value = r->value;
        e->nvalue = r->nvalue;
        e->rflags = (uint8_t)r->rflags;
        e->flags = r->flags;
        e->exptime = r->exptime;
        e->time = r->time;
        e->cas = r->cas;
        e->order = (r->rflags & SNAPFMT_RF_CAS_EXPLICIT) ? r->order : r->cas;
    } else if (r->kind == SNAPFMT_J_UNLINK) {
        free(e->own);
        e->own = NULL;
        e->state = ES_J_GONE;
    } else if (r->kind == SNAPFMT_J_TOUCH || r->kind == SNAPFMT_J_MARK) {
        if (e->state == 0) {
            rc = fold_base(e, s);
            if (rc < 0) {
                return rc;
            }
            has = rc == 1;
        }
        if (!has || e->cas != r->cas) {
            return 0;     /* not the item it changed: nothing to do */
        }
        if (e->state == 0) {
            e->state = ES_J_CHANGED;
        }
        if (r->kind == SNAPFMT_J_TOUCH) {
            e->exptime = r->exptime;
        } else {
            e->rflags |= (uint8_t)r->rflags;
        }
    }
    e->seq = r->seq;
    return 0;
}

/* Fold the run P[0..N) of one key into J->ents (when it changed it). */
static int
fold_key(struct es_journal *j, const struct es_jpend *p, size_t n,
         struct es_snap *s)
{
    struct es_jent *e = &j->ents[j->nents];
    struct snapfmt_jrec r;
    int rc;

    memset(e, 0, sizeof(*e));
    e->key = p[0].key;
    e->nkey = (uint8_t)p[0].nkey;
    e->hash = snapfmt_key_hash(e->key, e->nkey);
    for (size_t i = 0; i < n; i++) {
        snapfmt_jrec_decode(p[i].rec, &r);   /* verified by the scan */
        rc = fold_change(e, &r, p[i].rec, p[i].len, s);
        if (rc < 0) {
            return rc;
        }
    }
    if (e->state != 0) {
        j->nents++;
    } else {
        free(e->own);
    }
    return 0;
}

/* The overlay's order: LMDB's key order, or format 3's. */
static int
ent_order(const struct es_journal *j, uint64_t ha, const void *a, size_t na,
          uint64_t hb, const void *b, size_t nb)
{
    return j->hash_order ? snapfmt_key_order(ha, a, na, hb, b, nb)
                         : es_key_cmp(a, na, b, nb);
}

static int
ent_cmp3(const void *x, const void *y)
{
    const struct es_jent *a = x, *b = y;

    return snapfmt_key_order(a->hash, a->key, a->nkey, b->hash, b->key,
                             b->nkey);
}

int
es_journal_fold(struct es_journal *j, struct es_snap *s,
                uint64_t flush_pending, int64_t now, char *err,
                size_t errlen)
{
    size_t i = 0, k;
    int rc = 0;

    if (j->npend > 1) {
        qsort(j->pend, j->npend, sizeof(*j->pend), pend_cmp);
    }
    while (i < j->npend && j->pend[i].nkey == 0) {
        i++;
    }
    fold_flushes(j, j->pend, i, flush_pending, now);
    j->ents = calloc(j->npend - i + 1, sizeof(*j->ents));
    if (j->ents == NULL) {
        snprintf(err, errlen, "out of memory folding %zu journal changes",
                 j->npend);
        return SNAPFMT_ENOMEM;
    }
    for (; rc == 0 && i < j->npend; i = k) {
        for (k = i + 1; k < j->npend &&
                        es_key_cmp(j->pend[k].key, j->pend[k].nkey,
                                   j->pend[i].key, j->pend[i].nkey) == 0;
             k++) {
        }
        rc = fold_key(j, j->pend + i, k - i, s);
    }
    free(j->pend);
    j->pend = NULL;
    j->npend = j->cappend = 0;
    if (j->nents > 0) {
        /* one entry per change was reserved; keep one per key */
        struct es_jent *v = realloc(j->ents, j->nents * sizeof(*v));

        j->ents = v != NULL ? v : j->ents;
    }
    if (rc != 0) {
        snprintf(err, errlen, "reading the snapshot for the journal's "
                 "changes: %s", rc == SNAPFMT_ENOMEM ? "out of memory"
                 : snapfmt_txn_error(s->txn));
        return rc;
    }
    j->hash_order = s->blocks;
    if (j->hash_order && j->nents > 1) {
        qsort(j->ents, j->nents, sizeof(*j->ents), ent_cmp3);
    }
    return SNAPFMT_OK;
}

size_t
es_journal_lower(const struct es_journal *j, const void *key, size_t nkey)
{
    uint64_t h = j->hash_order ? snapfmt_key_hash(key, nkey) : 0;
    size_t lo = 0, hi = j->nents;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ent_order(j, j->ents[mid].hash, j->ents[mid].key,
                      j->ents[mid].nkey, h, key, nkey) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const struct es_jent *
es_journal_find(const struct es_journal *j, const void *key, size_t nkey)
{
    size_t i = es_journal_lower(j, key, nkey);

    if (i < j->nents &&
        es_key_cmp(j->ents[i].key, j->ents[i].nkey, key, nkey) == 0) {
        return &j->ents[i];
    }
    return NULL;
}

void
es_journal_rec(const struct es_jent *e, struct es_rec *rec)
{
    rec->key = e->key;
    rec->nkey = e->nkey;
    rec->rec = e->rec;
    rec->nrec = e->nrec;
    rec->jseq = e->seq;
    rec->msg[0] = '\0';
    if (e->state == ES_J_CHANGED && e->own == NULL) {
        rec->value = NULL;
        rec->parse_rc = snapfmt_rec_parse(e->key, e->nkey, e->rec, e->nrec,
                                          &rec->r, rec->msg,
                                          sizeof(rec->msg));
    } else {
        /* the journal's value, or (format 3) the snapshot's item copied
         * by the fold */
        memset(&rec->r, 0, sizeof(rec->r));
        rec->value = e->value;
        rec->parse_rc = SNAPFMT_OK;
        rec->r.version = e->state == ES_J_CHANGED ? SNAPFMT_VERSION
                                                  : SNAPFMT_JOURNAL_VERSION;
        rec->r.codec = SNAPFMT_RAW;
        rec->r.flags = e->flags;
        rec->r.atime = e->time;
        rec->r.cas = e->cas;
        rec->r.raw_len = e->nvalue;
        rec->r.payload_len = e->nvalue;
        rec->r.payload = e->value;
    }
    rec->r.exptime = e->exptime;
    rec->r.rflags = e->rflags;
}
