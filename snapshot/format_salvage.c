/*
 * format_salvage.c -- format 3 salvage (format.h): which blocks of a
 * damaged snapshot verify, and which hash ranges cannot be trusted.
 *
 * A damaged block may hold a newer version or a tombstone of keys whose
 * older records live in older runs; skipping it alone could bring those
 * back. Its place is known only from the blocks around it (its own key
 * may be what was damaged, and LMDB walks a leaf in the order its nodes
 * lie, not by their keys): the records it can have held lie between the
 * last hash of the intact block before it and the first hash of the
 * intact block after it, in the same run. That range is dropped in every
 * run. Where a damaged stretch crosses a run boundary, both ends are
 * dropped; where it may hold a whole run, everything is.
 *
 * Structure checks that make salvage give up (SNAPFMT_ECORRUPT, the
 * caller starts cold): the cursor failing, intact blocks out of order,
 * a block count other than meta's (a damaged branch page can hide whole
 * subtrees, or point at freed pages holding older blocks).
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scan's state between blocks. */
struct sscan {
    struct snapfmt_salvage *s;
    const struct snapfmt_meta *m;
    struct snapfmt_codec *codec;
    unsigned char *raw;
    size_t rawcap;
    bool have_prev;           /* an intact block before */
    uint64_t prev_run;
    uint64_t prev_hash;       /* its last hash */
    uint64_t bad_streak;      /* damaged blocks since it */
};

static int
add_range(struct snapfmt_salvage *s, uint64_t lo, uint64_t hi)
{
    if (s->ndrop == s->capdrop) {
        size_t cap = s->capdrop ? s->capdrop * 2 : 8;
        struct snapfmt_hrange *v = realloc(s->drop, cap * sizeof(*v));

        if (v == NULL) {
            return SNAPFMT_ENOMEM;
        }
        s->drop = v;
        s->capdrop = cap;
    }
    s->drop[s->ndrop].lo = lo;
    s->drop[s->ndrop].hi = hi;
    s->ndrop++;
    return SNAPFMT_OK;
}

/*
 * A damaged stretch ends: before it the intact block of the scan's prev
 * (if any), after it the intact block of run RUN starting at FIRST
 * (AT_END: none). Drop what the stretch may have held.
 */
static int
close_streak(struct sscan *sc, bool at_end, uint64_t run, uint64_t first)
{
    const struct snapfmt_meta *m = sc->m;
    uint64_t lo_run = sc->have_prev ? sc->prev_run : m->base_run;
    uint64_t hi_run = at_end ? (m->run_end ? m->run_end - 1 : 0) : run;
    int rc = SNAPFMT_OK;

    if (sc->bad_streak == 0) {
        return SNAPFMT_OK;
    }
    sc->bad_streak = 0;
    if (hi_run == lo_run) {
        /* within one run: from the intact block before (or the run's
         * start) to the one after (or the run's end) */
        return add_range(sc->s, sc->have_prev ? sc->prev_hash : 0,
                         at_end ? UINT64_MAX : first);
    }
    if (hi_run != lo_run + 1 || !sc->have_prev || at_end) {
        /* a whole run may lie in the stretch */
        return add_range(sc->s, 0, UINT64_MAX);
    }
    /* the end of lo_run's blocks and the start of hi_run's */
    rc = add_range(sc->s, sc->prev_hash, UINT64_MAX);
    if (rc == SNAPFMT_OK) {
        rc = add_range(sc->s, 0, first);
    }
    return rc;
}

/* Note one damaged block: WHY into the details while there is room. */
static void
note_bad(struct sscan *sc, const char *why)
{
    struct snapfmt_salvage *s = sc->s;

    if (s->nwhy < SNAPFMT_SALVAGE_WHY) {
        snprintf(s->why[s->nwhy++], sizeof(s->why[0]), "%s", why);
    }
    s->bad_blocks++;
    sc->bad_streak++;
}

/* Parse, decode and walk one block; its record count into *NREC. */
static int
check_block(struct sscan *sc, const void *key, size_t nkey, const void *val,
            size_t nval, struct snapfmt_block *b, char *why, size_t whylen)
{
    struct snapfmt_bwalk w;
    struct snapfmt_brec r;
    int rc;

    rc = snapfmt_block_parse(key, nkey, val, nval, b, why, whylen);
    if (rc != SNAPFMT_OK) {
        return rc == SNAPFMT_EVERSION ? SNAPFMT_ECORRUPT : rc;
    }
    if (b->raw_len > SNAPFMT_BLOCK_MAX) {
        /* one large value, its payload checked by parse: not decoded
         * here (a loader that decodes it and fails skips it, and the
         * intact-block count sends the load cold) */
        return SNAPFMT_OK;
    }
    if (b->raw_len > sc->rawcap) {
        unsigned char *p = realloc(sc->raw, b->raw_len);

        if (p == NULL) {
            return snapfmt_fail(SNAPFMT_ENOMEM, why, whylen, "out of "
                                "memory for a block of %u bytes",
                                (unsigned)b->raw_len);
        }
        sc->raw = p;
        sc->rawcap = b->raw_len;
    }
    rc = snapfmt_block_decode(sc->codec, b, sc->raw, sc->rawcap, why,
                              whylen);
    if (rc != SNAPFMT_OK) {
        return rc == SNAPFMT_ENOSPC ? SNAPFMT_ECORRUPT : rc;
    }
    snapfmt_bwalk_init(&w, b, sc->raw);
    while ((rc = snapfmt_bwalk_next(&w, &r, why, whylen)) == SNAPFMT_OK) {
    }
    return rc == SNAPFMT_END ? SNAPFMT_OK : rc;
}

/* One block of the walk: verified, ordered after the intact one before. */
static int
scan_block(struct sscan *sc, const void *key, size_t nkey, const void *val,
           size_t nval, char *err, size_t errlen)
{
    char why[SNAPFMT_ERR_MAX];
    struct snapfmt_block b;
    int rc;

    rc = check_block(sc, key, nkey, val, nval, &b, why, sizeof(why));
    if (rc == SNAPFMT_ENOMEM) {
        return snapfmt_fail(rc, err, errlen, "%s", why);
    }
    if (rc == SNAPFMT_OK && (b.run < sc->m->base_run ||
                             b.run >= sc->m->run_end)) {
        snprintf(why, sizeof(why), "a block of run %llu, outside the "
                 "snapshot's runs", (unsigned long long)b.run);
        rc = SNAPFMT_ECORRUPT;
    }
    if (rc != SNAPFMT_OK) {
        note_bad(sc, why);
        return SNAPFMT_OK;
    }
    if (sc->have_prev &&
        (b.run < sc->prev_run ||
         (b.run == sc->prev_run && b.first_hash < sc->prev_hash))) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s: run %llu: "
                            "intact blocks out of order: the tree is "
                            "damaged", sc->s->dir,
                            (unsigned long long)b.run);
    }
    rc = close_streak(sc, false, b.run, b.first_hash);
    sc->have_prev = true;
    sc->prev_run = b.run;
    sc->prev_hash = b.last_hash;
    sc->s->good_records += b.nrec;
    return rc;
}

static int
range_cmp(const void *a, const void *b)
{
    const struct snapfmt_hrange *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort the ranges and join those that overlap or touch. */
static void
join_ranges(struct snapfmt_salvage *s)
{
    size_t out = 0;

    if (s->ndrop == 0) {
        return;
    }
    qsort(s->drop, s->ndrop, sizeof(*s->drop), range_cmp);
    for (size_t i = 1; i < s->ndrop; i++) {
        struct snapfmt_hrange *o = &s->drop[out];

        if (o->hi == UINT64_MAX || s->drop[i].lo <= o->hi + 1) {
            o->hi = s->drop[i].hi > o->hi ? s->drop[i].hi : o->hi;
        } else {
            s->drop[++out] = s->drop[i];
        }
    }
    s->ndrop = out + 1;
}

/* Walk every block of TXN in the order LMDB keeps them. */
static int
scan_all(struct sscan *sc, struct snapfmt_txn *txn, char *err,
         size_t errlen)
{
    struct snapfmt_bcur *cur = NULL;
    const void *key, *val;
    size_t nkey, nval;
    int rc;

    rc = snapfmt_bcur_open(txn, SNAPFMT_RUN_ALL, 0, NULL, 0, &cur, err,
                           errlen);
    while (rc == SNAPFMT_OK &&
           (rc = snapfmt_bcur_next(cur, &key, &nkey, &val, &nval)) ==
               SNAPFMT_OK) {
        sc->s->blocks++;
        rc = scan_block(sc, key, nkey, val, nval, err, errlen);
    }
    snapfmt_bcur_close(&cur);
    if (rc == SNAPFMT_ECORRUPT || rc == SNAPFMT_ELMDB) {
        if (err != NULL && errlen > 0 && err[0] == '\0') {
            snprintf(err, errlen, "%s", snapfmt_txn_error(txn));
        }
        return rc;
    }
    return rc == SNAPFMT_END ? SNAPFMT_OK : rc;
}

int
snapfmt_salvage_scan(struct snapfmt_txn *txn, const struct snapfmt_meta *m,
                     struct snapfmt_salvage **out, char *err, size_t errlen)
{
    struct sscan sc;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    memset(&sc, 0, sizeof(sc));
    sc.m = m;
    sc.s = calloc(1, sizeof(*sc.s));
    sc.codec = snapfmt_codec_create(0);
    if (sc.s == NULL || sc.codec == NULL) {
        rc = snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
        goto fail;
    }
    snprintf(sc.s->dir, sizeof(sc.s->dir), "%s", txn->env->dir);
    rc = scan_all(&sc, txn, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = close_streak(&sc, true, 0, 0);
    }
    if (rc == SNAPFMT_OK && sc.s->blocks != m->blocks) {
        /* a damaged branch page hides blocks, or shows freed ones */
        rc = snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s: %llu blocks "
                          "found, meta says %llu: the tree is damaged",
                          sc.s->dir, (unsigned long long)sc.s->blocks,
                          (unsigned long long)m->blocks);
    }
    if (rc != SNAPFMT_OK) {
        goto fail;
    }
    join_ranges(sc.s);
    sc.s->bad_records = m->records > sc.s->good_records
                            ? m->records - sc.s->good_records : 0;
    free(sc.raw);
    snapfmt_codec_destroy(&sc.codec);
    *out = sc.s;
    return SNAPFMT_OK;
fail:
    free(sc.raw);
    snapfmt_codec_destroy(&sc.codec);
    snapfmt_salvage_free(&sc.s);
    return rc;
}

bool
snapfmt_salvage_drops(const struct snapfmt_salvage *s, uint64_t hash)
{
    size_t lo = 0, hi = s->ndrop;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (hash < s->drop[mid].lo) {
            hi = mid;
        } else if (hash > s->drop[mid].hi) {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    return false;
}

void
snapfmt_salvage_free(struct snapfmt_salvage **sp)
{
    if (sp == NULL || *sp == NULL) {
        return;
    }
    free((*sp)->drop);
    free(*sp);
    *sp = NULL;
}
