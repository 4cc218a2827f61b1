/*
 * format_probe.c -- lookups of keys in format 3's runs in ascending
 * snapshot order (format.h): for each key, the record the newest run
 * holding it has. Per run one seek to the block that may hold the key,
 * and that block decoded once for every later key it covers, so a
 * sorted batch of keys costs one decode per block touched, not per key.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One run's block in use. */
struct psrc {
    struct snapfmt_block blk;   /* parsed (pointers into the map) */
    bool valid;                 /* blk is the block for the last key */
    bool big;                   /* one record too large: not decoded */
    unsigned char *raw;
    size_t rawcap;
    struct snapfmt_bwalk walk;
    struct snapfmt_brec rec;    /* the walk's current record */
    bool has;                   /* rec is set; false: the walk is over */
};

struct snapfmt_probe {
    struct snapfmt_txn *txn;
    uint64_t first;
    size_t nsrc;
    struct psrc *src;
    struct snapfmt_codec *codec;
    bool any;                   /* a key was looked up */
    uint64_t prev_hash;         /* ... and this was the last one */
    unsigned char prev_key[SNAPFMT_BKEY_NMAX];
    size_t prev_nkey;
};

int
snapfmt_probe_open(struct snapfmt_txn *txn, uint64_t first, uint64_t end,
                   struct snapfmt_probe **out, char *err, size_t errlen)
{
    struct snapfmt_probe *p = calloc(1, sizeof(*p));

    if (p != NULL) {
        p->txn = txn;
        p->first = first;
        p->nsrc = end > first ? (size_t)(end - first) : 0;
        p->src = calloc(p->nsrc + 1, sizeof(*p->src));
        p->codec = snapfmt_codec_create(0);
    }
    if (p == NULL || p->src == NULL || p->codec == NULL) {
        snapfmt_probe_close(&p);
        return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    *out = p;
    return SNAPFMT_OK;
}

/* Seek run RUN's block that may hold (H, KEY) into S, decoded. */
static int
probe_seek(struct snapfmt_probe *p, struct psrc *s, uint64_t run,
           uint64_t h, const void *key, size_t nkey, char *err,
           size_t errlen)
{
    struct snapfmt_bcur *c = NULL;
    const void *bk, *bv;
    size_t nbk, nbv;
    int rc;

    s->valid = s->has = s->big = false;
    rc = snapfmt_bcur_open(p->txn, run, h, key, nkey, &c, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_bcur_next(c, &bk, &nbk, &bv, &nbv);
        if (rc == SNAPFMT_ECORRUPT || rc == SNAPFMT_ELMDB) {
            snprintf(err, errlen, "%s", snapfmt_txn_error(p->txn));
        }
    }
    snapfmt_bcur_close(&c);     /* BK, BV stay valid: the map's */
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_block_parse(bk, nbk, bv, nbv, &s->blk, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    s->valid = true;
    if (s->blk.nrec == 1 && s->blk.raw_len > SNAPFMT_BLOCK_MAX) {
        s->big = true;          /* an item: a tombstone is never big */
        return SNAPFMT_OK;
    }
    if (s->rawcap < s->blk.raw_len) {
        unsigned char *np = realloc(s->raw, s->blk.raw_len);

        if (np == NULL) {
            s->valid = false;
            return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen, "out of "
                                "memory for a block of %u bytes",
                                (unsigned)s->blk.raw_len);
        }
        s->raw = np;
        s->rawcap = s->blk.raw_len;
    }
    rc = snapfmt_block_decode(p->codec, &s->blk, s->raw, s->rawcap, err,
                              errlen);
    if (rc == SNAPFMT_OK) {
        snapfmt_bwalk_init(&s->walk, &s->blk, s->raw);
        rc = snapfmt_bwalk_next(&s->walk, &s->rec, err, errlen);
        s->has = rc == SNAPFMT_OK;
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
    }
    s->valid = rc == SNAPFMT_OK;
    return rc;
}

/* (H, KEY) in run RUN (source S): 1 found (into *OUT), 0 not, or < 0. */
static int
probe_run(struct snapfmt_probe *p, struct psrc *s, uint64_t run, uint64_t h,
          const void *key, size_t nkey, struct snapfmt_brec *out, char *err,
          size_t errlen)
{
    int rc, order = 1;

    /* keys ascend: the block in use still covers every key up to its
     * last one (the blocks before it end before the previous key) */
    if (!s->valid || snapfmt_key_order(h, key, nkey, s->blk.last_hash,
                                       s->blk.last_key,
                                       s->blk.last_nkey) > 0) {
        rc = probe_seek(p, s, run, h, key, nkey, err, errlen);
        if (rc == SNAPFMT_END) {
            return 0;           /* every block of the run is before KEY */
        }
        if (rc != SNAPFMT_OK) {
            return rc;
        }
    }
    if (s->big) {
        memset(out, 0, sizeof(*out));
        out->type = SNAPFMT_B_ITEM;
        out->hash = s->blk.last_hash;
        out->key = s->blk.last_key;
        out->nkey = s->blk.last_nkey;
        out->nvalue = s->blk.raw_len - SNAPFMT_BREC_HDR -
                      (uint32_t)s->blk.last_nkey;
        return snapfmt_key_order(h, key, nkey, out->hash, out->key,
                                 out->nkey) == 0;
    }
    while (s->has && (order = snapfmt_key_order(s->rec.hash, s->rec.key,
                                                s->rec.nkey, h, key,
                                                nkey)) < 0) {
        rc = snapfmt_bwalk_next(&s->walk, &s->rec, err, errlen);
        if (rc != SNAPFMT_OK && rc != SNAPFMT_END) {
            s->valid = false;
            return rc;
        }
        s->has = rc == SNAPFMT_OK;
    }
    if (s->has && order == 0) {
        *out = s->rec;
        return 1;
    }
    return 0;
}

int
snapfmt_probe_find(struct snapfmt_probe *p, uint64_t hash, const void *key,
                   size_t nkey, struct snapfmt_brec *out, uint64_t *run,
                   char *err, size_t errlen)
{
    int rc;

    if (nkey == 0 || nkey > SNAPFMT_BKEY_NMAX ||
        (p->any && snapfmt_key_order(hash, key, nkey, p->prev_hash,
                                     p->prev_key, p->prev_nkey) <= 0)) {
        return snapfmt_fail(SNAPFMT_EINVAL, err, errlen, "probe: keys must "
                            "ascend in snapshot order");
    }
    p->any = true;
    p->prev_hash = hash;
    memcpy(p->prev_key, key, nkey);
    p->prev_nkey = nkey;
    for (size_t i = p->nsrc; i-- > 0;) {
        rc = probe_run(p, &p->src[i], p->first + i, hash, key, nkey, out,
                       err, errlen);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            *run = p->first + i;
            return SNAPFMT_OK;
        }
    }
    return SNAPFMT_END;
}

void
snapfmt_probe_close(struct snapfmt_probe **pp)
{
    struct snapfmt_probe *p;

    if (pp == NULL || *pp == NULL) {
        return;
    }
    p = *pp;
    for (size_t i = 0; p->src != NULL && i < p->nsrc; i++) {
        free(p->src[i].raw);
    }
    free(p->src);
    snapfmt_codec_destroy(&p->codec);
    free(p);
    *pp = NULL;
}
