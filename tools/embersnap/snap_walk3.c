/*
 * snap_walk3.c -- embersnap over a format 3 snapshot (embersnap.h): the
 * walk, which merges the runs (each key as its newest run has it,
 * tombstones hidden: snapfmt_merge) with the journal's overlay, both in
 * snapshot order (hash, then key); single-key lookups, one seek per run
 * from the newest; and a block record shown as an es_rec.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_journal.h"

#include <stdlib.h>
#include <string.h>

void
es_brec_rec(const struct snapfmt_brec *b, struct es_rec *out)
{
    memset(out, 0, sizeof(*out));
    out->key = b->key;
    out->nkey = b->nkey;
    out->r.version = SNAPFMT_VERSION;
    out->r.rflags = b->rflags;
    out->r.codec = SNAPFMT_RAW;   /* decoded with its block */
    out->r.flags = b->flags;
    out->r.exptime = b->exptime;
    out->r.atime = b->atime;
    out->r.cas = b->cas;
    out->r.raw_len = b->nvalue;
    out->r.payload_len = b->nvalue;
    out->r.payload = b->value;
    out->value = b->value;
    out->parse_rc = SNAPFMT_OK;
    if (b->value == NULL) {
        out->parse_rc = SNAPFMT_ENOSPC;
        snapfmt_key_print(b->key, b->nkey, out->msg, sizeof(out->msg) / 2);
        snprintf(out->msg + strlen(out->msg),
                 sizeof(out->msg) - strlen(out->msg), ": value of %u bytes "
                 "is larger than embersnap decodes (%u)",
                 (unsigned)b->nvalue, (unsigned)ES_VALUE_MAX);
    }
}

/* ---- the walk --------------------------------------------------------- */

struct walk3 {
    struct es_snap *s;
    struct snapfmt_merge *m;
    const void *prefix;
    size_t nprefix;
    struct snapfmt_brec b;    /* the snapshot's next record, when has */
    bool has;
    bool taken;               /* b was delivered (or passed over): the */
                              /* merge moves on at the next step, not */
                              /* before (b points into its buffers) */
    int rc;                   /* SNAPFMT_END, or why the merge ended */
    size_t ent;               /* the overlay's next entry */
    char *err;
    size_t errlen;
};

static bool
prefixed(const struct walk3 *w, const void *key, size_t nkey)
{
    return nkey >= w->nprefix &&
           (w->nprefix == 0 || memcmp(key, w->prefix, w->nprefix) == 0);
}

/* The merge's next item (tombstones and other prefixes passed over). */
static void
walk3_next_snap(struct walk3 *w)
{
    uint64_t run;

    do {
        w->rc = snapfmt_merge_next(w->m, &w->b, &run, w->err, w->errlen);
    } while (w->rc == SNAPFMT_OK &&
             (w->b.type == SNAPFMT_B_TOMB ||
              !prefixed(w, w->b.key, w->b.nkey)));
    w->has = w->rc == SNAPFMT_OK;
}

/* The overlay's next entry with the prefix, or NULL. */
static const struct es_jent *
walk3_ent(struct walk3 *w)
{
    const struct es_journal *j = w->s->jrn;

    if (!w->s->overlay) {
        return NULL;
    }
    while (w->ent < j->nents &&
           !prefixed(w, j->ents[w->ent].key, j->ents[w->ent].nkey)) {
        w->ent++;
    }
    return w->ent < j->nents ? &j->ents[w->ent] : NULL;
}

/* The next record into *OUT; false when the walk is over. */
static bool
walk3_step(struct walk3 *w, struct es_rec *out)
{
    const struct es_jent *e;
    int c;

    for (;;) {
        if (w->taken) {
            w->taken = false;
            walk3_next_snap(w);
        }
        e = walk3_ent(w);
        if (!w->has && e == NULL) {
            return false;
        }
        c = e == NULL ? -1 : !w->has ? 1
            : snapfmt_key_order(w->b.hash, w->b.key, w->b.nkey, e->hash,
                                e->key, e->nkey);
        if (c < 0) {
            es_brec_rec(&w->b, out);
            w->taken = true;
            if (out->parse_rc != SNAPFMT_OK || !w->s->overlay ||
                !es_journal_flushes(w->s->jrn, es_snap_order(&out->r))) {
                return true;
            }
            continue;
        }
        if (c == 0) {
            w->taken = true;      /* the journal's version replaces it */
        }
        w->ent++;
        if (e->state != ES_J_GONE &&
            !es_journal_flushes(w->s->jrn, e->order)) {
            es_journal_rec(e, out);
            return true;
        }
    }
}

int
es_walk3(struct es_snap *s, const void *prefix, size_t nprefix,
         es_walk_fn fn, void *arg, char *err, size_t errlen)
{
    struct snapfmt_merge_cfg cfg = {
        .txn = s->txn, .first = s->meta.base_run, .end = s->meta.run_end,
        .lo = 0, .hi = UINT64_MAX,
        .raw_cap = ES_VALUE_MAX + SNAPFMT_BREC_HDR + SNAPFMT_BKEY_NMAX,
    };
    struct walk3 w = { .s = s, .prefix = prefix, .nprefix = nprefix,
                       .err = err, .errlen = errlen };
    struct es_rec rec;
    int rc, stop = 0;

    err[0] = '\0';
    rc = snapfmt_merge_open(&cfg, &w.m, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    walk3_next_snap(&w);
    while (stop == 0 && walk3_step(&w, &rec)) {
        stop = fn(s, &rec, arg);
        if (stop == 0 && ((s->stop != NULL && *s->stop) || ferror(s->out))) {
            stop = ES_WALK_STOPPED;
        }
    }
    snapfmt_merge_close(&w.m);
    if (stop != 0) {
        return stop;
    }
    if (s->stop != NULL && *s->stop) {
        return ES_WALK_STOPPED;
    }
    if (w.rc != SNAPFMT_END) {
        return w.rc;            /* the merge's message is in ERR */
    }
    return 0;
}

/* ---- lookups ---------------------------------------------------------- */

int
es_block_decode(struct es_snap *s, const struct snapfmt_block *b, char *msg,
                size_t msglen)
{
    size_t cap = s->lcap ? s->lcap : SNAPFMT_BLOCK_TARGET;
    unsigned char *p;

    if (b->raw_len > (size_t)ES_VALUE_MAX + SNAPFMT_BREC_HDR +
                         SNAPFMT_BKEY_NMAX) {
        snprintf(msg, msglen, "a block of %u raw bytes is larger than "
                 "embersnap decodes", (unsigned)b->raw_len);
        return SNAPFMT_ENOSPC;
    }
    while (cap < b->raw_len) {
        cap *= 2;
    }
    if (cap > s->lcap) {
        p = realloc(s->lbuf, cap);
        if (p == NULL) {
            snprintf(msg, msglen, "out of memory for a block of %u bytes",
                     (unsigned)b->raw_len);
            return SNAPFMT_ENOMEM;
        }
        s->lbuf = p;
        s->lcap = cap;
    }
    return snapfmt_block_decode(s->codec, b, s->lbuf, s->lcap, msg, msglen);
}

/*
 * KEY (hash H) in run RUN: 1 found (into *B, pointers into S->lbuf), 0
 * not in the run, or a negative snapfmt_rc with why in MSG (ERR: LMDB).
 */
static int
find3_run(struct es_snap *s, uint64_t run, uint64_t h, const void *key,
          size_t nkey, struct snapfmt_brec *b, char *msg, size_t msglen)
{
    struct snapfmt_bcur *c = NULL;
    struct snapfmt_block blk;
    struct snapfmt_bwalk walk;
    const void *bk, *bv;
    size_t nbk, nbv;
    int rc, order = 1;

    rc = snapfmt_bcur_open(s->txn, run, h, key, nkey, &c, msg, msglen);
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_bcur_next(c, &bk, &nbk, &bv, &nbv);
        if (rc == SNAPFMT_ECORRUPT || rc == SNAPFMT_ELMDB) {
            snprintf(msg, msglen, "%s", snapfmt_txn_error(s->txn));
        }
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_block_parse(bk, nbk, bv, nbv, &blk, msg, msglen);
    }
    if (rc == SNAPFMT_OK) {
        rc = es_block_decode(s, &blk, msg, msglen);
    }
    if (rc == SNAPFMT_OK) {
        snapfmt_bwalk_init(&walk, &blk, s->lbuf);
        while ((rc = snapfmt_bwalk_next(&walk, b, msg, msglen)) ==
                   SNAPFMT_OK &&
               (order = snapfmt_key_order(b->hash, b->key, b->nkey, h, key,
                                          nkey)) < 0) {
        }
    }
    snapfmt_bcur_close(&c);
    if (rc == SNAPFMT_END) {
        return 0;               /* past the run's end, or not in it */
    }
    return rc == SNAPFMT_OK ? order == 0 : rc;
}

int
es_find3(struct es_snap *s, const void *key, size_t nkey,
         struct es_rec *rec, char *err, size_t errlen)
{
    uint64_t h = snapfmt_key_hash(key, nkey);
    struct snapfmt_brec b;
    int rc;

    (void)err;
    (void)errlen;
    for (uint64_t run = s->meta.run_end; run-- > s->meta.base_run;) {
        rc = find3_run(s, run, h, key, nkey, &b, rec->msg,
                       sizeof(rec->msg));
        if (rc < 0) {
            /* the block that would hold KEY is damaged: shown as such */
            rec->key = key;
            rec->nkey = nkey;
            rec->parse_rc = rc;
            return SNAPFMT_OK;
        }
        if (rc == 1 && b.type == SNAPFMT_B_TOMB) {
            snprintf(rec->msg, sizeof(rec->msg), "deleted in run %llu (an "
                     "incremental snapshot)", (unsigned long long)run);
            return SNAPFMT_END;
        }
        if (rc == 1) {
            es_brec_rec(&b, rec);
            rec->key = key;     /* the caller's, not the buffer's */
            return SNAPFMT_OK;
        }
    }
    snprintf(rec->msg, sizeof(rec->msg), "not in the snapshot");
    return SNAPFMT_END;
}
