/*
 * format_merge.c -- format 3's runs merged into one view (format.h): for
 * each key in snapshot order, the record of the newest run that holds
 * it. One source per run, each a cursor over its blocks and the decoded
 * block it is in; a key range (LO .. HI of the hash) lets several
 * threads each merge a part of the key space. Memory: one decoded block
 * per run.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One run being read. */
struct msrc {
    uint64_t run;
    struct snapfmt_bcur *cur;
    struct snapfmt_block blk;   /* the block being read */
    struct snapfmt_bwalk walk;
    unsigned char *raw;         /* its decoded bytes */
    size_t rawcap;
    bool in_block;              /* walk is on */
    bool big;                   /* blk is one record too large to decode */
    struct snapfmt_brec rec;    /* the current record, when has */
    bool has;
    bool done;
    bool advance;               /* rec was handed out: move on first */
    bool have_last;             /* the previous block's last key: */
    uint64_t last_hash;         /* the next block must start after it */
    const void *last_key;
    size_t last_nkey;
};

struct snapfmt_merge {
    struct snapfmt_merge_cfg cfg;
    struct snapfmt_codec *codec;
    struct msrc *src;
    size_t nsrc;
    struct snapfmt_merge_stats st;
    int failed;                 /* the error that ended the merge, or 0 */
};

int
snapfmt_merge_open(const struct snapfmt_merge_cfg *cfg,
                   struct snapfmt_merge **out, char *err, size_t errlen)
{
    struct snapfmt_merge *m = calloc(1, sizeof(*m));
    int rc = SNAPFMT_OK;

    if (m == NULL) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    m->cfg = *cfg;
    if (m->cfg.raw_cap < SNAPFMT_BLOCK_MAX) {
        m->cfg.raw_cap = SNAPFMT_BLOCK_MAX;
    }
    m->nsrc = cfg->end > cfg->first ? (size_t)(cfg->end - cfg->first) : 0;
    m->codec = snapfmt_codec_create(0);
    m->src = calloc(m->nsrc + 1, sizeof(*m->src));
    if (m->codec == NULL || m->src == NULL) {
        snapfmt_merge_close(&m);
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    for (size_t i = 0; rc == SNAPFMT_OK && i < m->nsrc; i++) {
        m->src[i].run = cfg->first + i;
        rc = snapfmt_bcur_open(cfg->txn, m->src[i].run, cfg->lo, NULL, 0,
                               &m->src[i].cur, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        snapfmt_merge_close(&m);
        return rc;
    }
    *out = m;
    return SNAPFMT_OK;
}

/* Room for N raw bytes in S's buffer. */
static int
src_room(struct msrc *s, size_t n)
{
    unsigned char *p;
    size_t cap = s->rawcap ? s->rawcap : SNAPFMT_BLOCK_TARGET;

    if (n <= s->rawcap) {
        return SNAPFMT_OK;
    }
    while (cap < n) {
        cap *= 2;
    }
    p = realloc(s->raw, cap);
    if (p == NULL) {
        return SNAPFMT_ENOMEM;
    }
    s->raw = p;
    s->rawcap = cap;
    return SNAPFMT_OK;
}

/*
 * Salvage: S's block, parsed, is damaged after all (decode, a record):
 * not counted among the intact blocks (snap_load3.c checks those
 * against the scan's).
 */
static void
skip_block(struct snapfmt_merge *m, const struct msrc *s)
{
    m->st.skipped_blocks++;
    if (s->blk.first_hash >= m->cfg.lo) {
        m->st.blocks--;
    }
}

/*
 * S's next block in range: parsed and decoded (or, too large to decode,
 * kept as one record). SNAPFMT_END when the run has no more.
 */
static int
src_block(struct snapfmt_merge *m, struct msrc *s, char *err, size_t errlen)
{
    const void *key, *val;
    size_t nkey, nval;
    int rc;

    if (s->in_block || s->big) {
        s->have_last = true;    /* the block just finished */
        s->last_hash = s->blk.last_hash;
        s->last_key = s->blk.last_key;
        s->last_nkey = s->blk.last_nkey;
    }
again:
    s->in_block = s->big = false;
    for (;;) {
        rc = snapfmt_bcur_next(s->cur, &key, &nkey, &val, &nval);
        if (rc == SNAPFMT_END || rc == SNAPFMT_ECORRUPT ||
            rc == SNAPFMT_ELMDB) {
            if (rc != SNAPFMT_END) {
                snprintf(err, errlen, "%s", snapfmt_txn_error(m->cfg.txn));
            }
            return rc;
        }
        rc = snapfmt_block_parse(key, nkey, val, nval, &s->blk, err,
                                 errlen);
        if (rc == SNAPFMT_OK || m->cfg.salvage == NULL) {
            break;
        }
        m->st.skipped_blocks++;   /* salvage: its range is dropped */
    }
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (s->blk.first_hash > m->cfg.hi) {
        return SNAPFMT_END;     /* blocks are in order: the range is over */
    }
    if (s->blk.first_hash >= m->cfg.lo) {
        m->st.blocks++;
    }
    if (s->blk.raw_len > m->cfg.raw_cap) {
        s->big = true;          /* nrec == 1: parse allows no more */
        return SNAPFMT_OK;
    }
    if (src_room(s, s->blk.raw_len) != SNAPFMT_OK) {
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory "
                            "for a block of %u bytes",
                            (unsigned)s->blk.raw_len);
    }
    rc = snapfmt_block_decode(m->codec, &s->blk, s->raw, s->rawcap, err,
                              errlen);
    if (rc != SNAPFMT_OK && m->cfg.salvage != NULL) {
        skip_block(m, s);
        goto again;
    }
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    m->st.raw_bytes += s->blk.raw_len;
    snapfmt_bwalk_init(&s->walk, &s->blk, s->raw);
    s->in_block = true;
    return SNAPFMT_OK;
}

/* The record of a block too large to decode: what its key tells. */
static void
src_big_rec(struct msrc *s)
{
    memset(&s->rec, 0, sizeof(s->rec));
    s->rec.type = SNAPFMT_B_ITEM;
    s->rec.hash = s->blk.last_hash;
    s->rec.key = s->blk.last_key;
    s->rec.nkey = s->blk.last_nkey;
    s->rec.value = NULL;
    s->rec.nvalue = s->blk.raw_len - SNAPFMT_BREC_HDR -
                    (uint32_t)s->blk.last_nkey;
}

/* S's next record in block or from the next block, unchecked for range. */
static int
src_step(struct snapfmt_merge *m, struct msrc *s, char *err, size_t errlen)
{
    int rc;

    for (;;) {
        if (s->in_block) {
            rc = snapfmt_bwalk_next(&s->walk, &s->rec, err, errlen);
            if (rc == SNAPFMT_ECORRUPT && m->cfg.salvage != NULL) {
                /* its range is dropped: what came of it is left out */
                skip_block(m, s);
                s->in_block = false;
            } else if (rc != SNAPFMT_END) {
                return rc;
            }
        } else if (s->big) {
            s->big = false;
            s->have_last = true;
            s->last_hash = s->blk.last_hash;
            s->last_key = s->blk.last_key;
            s->last_nkey = s->blk.last_nkey;
        }
        rc = src_block(m, s, err, errlen);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        if (s->big) {
            src_big_rec(s);
            return SNAPFMT_OK;
        }
    }
}

/* Move S to its next record within LO .. HI; S->has says if there is one. */
static int
src_fill(struct snapfmt_merge *m, struct msrc *s, char *err, size_t errlen)
{
    bool first_of_block;
    int rc;

    s->has = false;
    while (!s->done) {
        first_of_block = !s->in_block || s->walk.seen == s->blk.nrec;
        rc = src_step(m, s, err, errlen);
        if (rc == SNAPFMT_END) {
            s->done = true;
            break;
        }
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        if (first_of_block && s->have_last &&
            snapfmt_key_order(s->last_hash, s->last_key, s->last_nkey,
                              s->rec.hash, s->rec.key, s->rec.nkey) >= 0) {
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen, "%s: run "
                                "%llu: a block starts before the previous "
                                "one ends", m->cfg.txn->env->dir,
                                (unsigned long long)s->run);
        }
        if (s->rec.hash < m->cfg.lo) {
            continue;
        }
        if (s->rec.hash > m->cfg.hi) {
            s->done = true;
            break;
        }
        if (m->cfg.salvage != NULL &&
            snapfmt_salvage_drops(m->cfg.salvage, s->rec.hash)) {
            m->st.dropped++;
            continue;
        }
        m->st.records++;
        s->has = true;
        break;
    }
    return SNAPFMT_OK;
}

/* Index of the newest source holding the smallest key, or NSRC. */
static size_t
merge_pick(const struct snapfmt_merge *m)
{
    size_t best = m->nsrc;

    for (size_t i = 0; i < m->nsrc; i++) {
        const struct msrc *s = &m->src[i];
        const struct msrc *b = &m->src[best];

        if (!s->has) {
            continue;
        }
        /* sources are in run order: a tie goes to the later (newer) one */
        if (best == m->nsrc ||
            snapfmt_key_order(s->rec.hash, s->rec.key, s->rec.nkey,
                              b->rec.hash, b->rec.key, b->rec.nkey) <= 0) {
            best = i;
        }
    }
    return best;
}

/* Fill every source not yet started and the one handed out last. */
static int
merge_refill(struct snapfmt_merge *m, char *err, size_t errlen)
{
    int rc;

    for (size_t i = 0; i < m->nsrc; i++) {
        struct msrc *s = &m->src[i];

        if (s->advance || (!s->has && !s->done)) {
            s->advance = false;
            rc = src_fill(m, s, err, errlen);
            if (rc != SNAPFMT_OK) {
                return rc;
            }
        }
    }
    return SNAPFMT_OK;
}

int
snapfmt_merge_next(struct snapfmt_merge *m, struct snapfmt_brec *out,
                   uint64_t *run, char *err, size_t errlen)
{
    struct msrc *w;
    size_t best;
    int rc;

    if (m->failed != 0) {
        return snapfmt_fail(m->failed, err, errlen, "the merge failed "
                            "before");
    }
    rc = merge_refill(m, err, errlen);
    best = rc == SNAPFMT_OK ? merge_pick(m) : m->nsrc;
    if (rc != SNAPFMT_OK) {
        m->failed = rc;
        return rc;
    }
    if (best == m->nsrc) {
        return SNAPFMT_END;
    }
    w = &m->src[best];
    /* older runs' records of the same key are replaced: skip them */
    for (size_t i = 0; i < best; i++) {
        struct msrc *s = &m->src[i];

        if (s->has && snapfmt_key_order(s->rec.hash, s->rec.key,
                                        s->rec.nkey, w->rec.hash,
                                        w->rec.key, w->rec.nkey) == 0) {
            m->st.superseded++;
            s->advance = true;
        }
    }
    *out = w->rec;
    *run = w->run;
    w->advance = true;          /* its buffer holds OUT until next call */
    return SNAPFMT_OK;
}

void
snapfmt_merge_stats(const struct snapfmt_merge *m,
                    struct snapfmt_merge_stats *out)
{
    *out = m->st;
}

void
snapfmt_merge_close(struct snapfmt_merge **mp)
{
    struct snapfmt_merge *m;

    if (mp == NULL || *mp == NULL) {
        return;
    }
    m = *mp;
    for (size_t i = 0; m->src != NULL && i < m->nsrc; i++) {
        snapfmt_bcur_close(&m->src[i].cur);
        free(m->src[i].raw);
    }
    free(m->src);
    snapfmt_codec_destroy(&m->codec);
    free(m);
    *mp = NULL;
}
