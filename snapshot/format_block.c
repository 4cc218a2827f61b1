/*
 * format_block.c -- format 3's block codec (format.h): records written
 * back to back in snapshot order, sealed into one compressed block with
 * its checksums and LMDB key; parsing, decoding and walking a block with
 * every size, count and order checked against the real lengths. No LMDB
 * here (format_runs.c), no storage, no threads.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

/* Field offsets of the block header and of a record (format.h). */
enum {
    B_MAGIC = 0,
    B_VERSION = 1,
    B_CODEC = 2,
    B_FLAGS = 3,
    B_NREC = 4,
    B_RAWLEN = 8,
    B_PAYLEN = 12,
    B_FIRST = 16,
    B_RCHECK = 24,
    B_ZERO = 32,
    B_BCHECK = 40,
};

enum {
    R_TYPE = 0,
    R_RFLAGS = 1,
    R_NKEY = 2,
    R_ZERO = 3,
    R_FLAGS = 4,
    R_EXPTIME = 8,
    R_ATIME = 12,
    R_CAS = 16,
    R_NVALUE = 24,
};

uint64_t
snapfmt_key_hash(const void *key, size_t nkey)
{
    return XXH3_64bits(key, nkey);
}

int
snapfmt_key_order(uint64_t ha, const void *a, size_t na, uint64_t hb,
                  const void *b, size_t nb)
{
    int c;

    if (ha != hb) {
        return ha < hb ? -1 : 1;
    }
    c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return na < nb ? -1 : (na > nb);
}

/* Format "block of run R ending at key 'K': <fmt>" into ERR; returns RC.
 * KEY is the block's LMDB key (NKEY bytes, any length). */
static int
blk_fail(int rc, char *err, size_t errlen, const void *key, size_t nkey,
         const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
blk_fail(int rc, char *err, size_t errlen, const void *key, size_t nkey,
         const char *fmt, ...)
{
    char kbuf[80];
    va_list ap;
    int n;

    if (err == NULL || errlen == 0) {
        return rc;
    }
    if (nkey >= SNAPFMT_BKEY_MIN) {
        snapfmt_key_print((const unsigned char *)key + 16, nkey - 16, kbuf,
                          sizeof(kbuf));
        n = snprintf(err, errlen, "block of run %llu ending at key '%s': ",
                     (unsigned long long)fmt_get_be64(key), kbuf);
    } else {
        n = snprintf(err, errlen, "block with a key of %zu bytes: ", nkey);
    }
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        util_verrf(rc, err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- writing ---------------------------------------------------------- */

size_t
snapfmt_brec_size(size_t nkey, size_t nvalue)
{
    return SNAPFMT_BREC_HDR + nkey + nvalue;
}

size_t
snapfmt_brec_put(const struct snapfmt_brec *r, void *out)
{
    unsigned char *p = out;
    bool tomb = r->type == SNAPFMT_B_TOMB;
    uint32_t nvalue = tomb ? 0 : r->nvalue;

    memset(p, 0, SNAPFMT_BREC_HDR);
    p[R_TYPE] = (unsigned char)r->type;
    p[R_NKEY] = (unsigned char)r->nkey;
    if (!tomb) {
        p[R_RFLAGS] = (unsigned char)r->rflags;
        fmt_put32(p + R_FLAGS, r->flags);
        fmt_put32(p + R_EXPTIME, r->exptime);
        fmt_put32(p + R_ATIME, r->atime);
        fmt_put64(p + R_CAS, r->cas);
        fmt_put32(p + R_NVALUE, nvalue);
    }
    memcpy(p + SNAPFMT_BREC_HDR, r->key, r->nkey);
    if (nvalue > 0) {
        memcpy(p + SNAPFMT_BREC_HDR + r->nkey, r->value, nvalue);
    }
    return SNAPFMT_BREC_HDR + r->nkey + nvalue;
}

size_t
snapfmt_block_bound(size_t raw_len)
{
    size_t z = ZSTD_compressBound(raw_len);

    return SNAPFMT_BLOCK_HDR + (z > raw_len ? z : raw_len);
}

/* bcheck: header bytes before it, the LMDB key, the payload. */
static uint64_t
block_check(const unsigned char *hdr, const void *key, size_t nkey,
            const void *payload, size_t npayload)
{
    XXH64_hash_t h = XXH3_64bits(hdr, B_BCHECK);

    h = XXH3_64bits_withSeed(key, nkey, h);
    return XXH3_64bits_withSeed(payload, npayload, h);
}

/* Compress S's raw bytes behind the header; 0 when raw is as good. */
static size_t
block_compress(struct snapfmt_codec *c, const struct snapfmt_bseal *s,
               unsigned char *dst, size_t cap)
{
    ZSTD_CCtx *cctx = fmt_codec_cctx(c);
    size_t z;

    if (cctx == NULL || s->raw_len < 64) {
        return 0;
    }
    if (cap > s->raw_len - 1) {
        cap = s->raw_len - 1;   /* no smaller: zstd gives up early */
    }
    /* the codec's parameters: its level, no frame checksum (rcheck is
     * ours), the content size stated (the reader insists on it) */
    z = ZSTD_compress2(cctx, dst, cap, s->raw, s->raw_len);
    if (ZSTD_isError(z)) {
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
        return 0;
    }
    return z;
}

int
snapfmt_block_seal(struct snapfmt_codec *c, const struct snapfmt_bseal *s,
                   void *out, size_t cap, size_t *outlen, void *key,
                   size_t *nkey)
{
    unsigned char *h = out, *k = key;
    unsigned codec = SNAPFMT_ZSTD;
    size_t plen;

    if (fmt_codec_has_dict(c)) {
        return SNAPFMT_EINVAL;  /* blocks are compressed without one */
    }
    if (s->nrec == 0 || s->raw_len > UINT32_MAX ||
        (s->nrec > 1 && s->raw_len > SNAPFMT_BLOCK_MAX) ||
        s->last_nkey == 0 || s->last_nkey > SNAPFMT_BKEY_NMAX) {
        return SNAPFMT_EINVAL;
    }
    if (cap < SNAPFMT_BLOCK_HDR) {
        return SNAPFMT_ENOSPC;
    }
    plen = block_compress(c, s, h + SNAPFMT_BLOCK_HDR,
                          cap - SNAPFMT_BLOCK_HDR);
    if (plen == 0) {
        if (cap - SNAPFMT_BLOCK_HDR < s->raw_len) {
            return SNAPFMT_ENOSPC;
        }
        codec = SNAPFMT_RAW;
        plen = s->raw_len;
        memcpy(h + SNAPFMT_BLOCK_HDR, s->raw, plen);
    }
    fmt_put_be64(k, s->run);
    fmt_put_be64(k + 8, s->last_hash);
    memcpy(k + 16, s->last_key, s->last_nkey);
    *nkey = 16 + s->last_nkey;
    memset(h, 0, SNAPFMT_BLOCK_HDR);
    h[B_MAGIC] = SNAPFMT_BLOCK_MAGIC;
    h[B_VERSION] = SNAPFMT_VERSION;
    h[B_CODEC] = (unsigned char)codec;
    fmt_put32(h + B_NREC, s->nrec);
    fmt_put32(h + B_RAWLEN, (uint32_t)s->raw_len);
    fmt_put32(h + B_PAYLEN, (uint32_t)plen);
    fmt_put64(h + B_FIRST, s->first_hash);
    fmt_put64(h + B_RCHECK, XXH3_64bits(s->raw, s->raw_len));
    fmt_put64(h + B_BCHECK, block_check(h, k, *nkey, h + SNAPFMT_BLOCK_HDR,
                                        plen));
    *outlen = SNAPFMT_BLOCK_HDR + plen;
    return SNAPFMT_OK;
}

/* ---- reading ---------------------------------------------------------- */

/* The payload is one zstd frame, all of it, stating raw_len. */
static int
block_frame_sane(const struct snapfmt_block *b, const void *key, size_t nkey,
                 char *err, size_t errlen)
{
    char why[160];

    if (fmt_zstd_frame_check(b->payload, b->payload_len, b->raw_len, true,
                             why, sizeof(why)) != 0) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey, "%s", why);
    }
    return SNAPFMT_OK;
}

/* Field checks after bcheck matched: what no writer writes. */
static int
block_sane(const unsigned char *h, const struct snapfmt_block *b,
           const void *key, size_t nkey, char *err, size_t errlen)
{
    if (h[B_VERSION] != SNAPFMT_VERSION) {
        return blk_fail(h[B_VERSION] > SNAPFMT_VERSION ? SNAPFMT_EVERSION
                                                      : SNAPFMT_ECORRUPT,
                        err, errlen, key, nkey,
                        "block format version %u, this build reads %u",
                        h[B_VERSION], SNAPFMT_VERSION);
    }
    if (h[B_FLAGS] != 0 || fmt_get64(h + B_ZERO) != 0) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "reserved header bytes are not zero");
    }
    if (b->codec > SNAPFMT_ZSTD) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "unknown codec %u at byte 2", b->codec);
    }
    if (b->nrec == 0 || (b->nrec > 1 && b->raw_len > SNAPFMT_BLOCK_MAX) ||
        (uint64_t)b->nrec * (SNAPFMT_BREC_HDR + 1) > b->raw_len) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "%u records cannot be %u raw bytes",
                        (unsigned)b->nrec, (unsigned)b->raw_len);
    }
    if (b->codec == SNAPFMT_RAW && b->raw_len != b->payload_len) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "raw block with raw length %u != payload %u",
                        (unsigned)b->raw_len, (unsigned)b->payload_len);
    }
    return b->codec == SNAPFMT_RAW
               ? SNAPFMT_OK
               : block_frame_sane(b, key, nkey, err, errlen);
}

int
snapfmt_block_parse(const void *key, size_t nkey, const void *val,
                    size_t nval, struct snapfmt_block *out, char *err,
                    size_t errlen)
{
    const unsigned char *h = val, *k = key;
    uint64_t stored, computed;

    if (nkey < SNAPFMT_BKEY_MIN || nkey > SNAPFMT_BKEY_MAX) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "block keys have %u to %u bytes", SNAPFMT_BKEY_MIN,
                        SNAPFMT_BKEY_MAX);
    }
    if (nval < SNAPFMT_BLOCK_HDR || h[B_MAGIC] != SNAPFMT_BLOCK_MAGIC) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        nval < SNAPFMT_BLOCK_HDR ? "truncated: %zu bytes"
                                                 : "bad magic (%zu bytes)",
                        nval);
    }
    /* NVAL is LMDB's, unchecked: the header's length must agree before
     * the checksum reads that many bytes */
    if ((size_t)fmt_get32(h + B_PAYLEN) != nval - SNAPFMT_BLOCK_HDR) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "payload length %u at byte 12, but %zu bytes follow "
                        "the header (truncated or damaged)",
                        (unsigned)fmt_get32(h + B_PAYLEN),
                        nval - SNAPFMT_BLOCK_HDR);
    }
    stored = fmt_get64(h + B_BCHECK);
    computed = block_check(h, key, nkey, h + SNAPFMT_BLOCK_HDR,
                           nval - SNAPFMT_BLOCK_HDR);
    if (stored != computed) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "block checksum 0x%016llx at byte 40, computed "
                        "0x%016llx (header, key or payload damaged)",
                        (unsigned long long)stored,
                        (unsigned long long)computed);
    }
    out->run = fmt_get_be64(k);
    out->last_hash = fmt_get_be64(k + 8);
    out->last_key = k + 16;
    out->last_nkey = nkey - 16;
    out->codec = h[B_CODEC];
    out->nrec = fmt_get32(h + B_NREC);
    out->raw_len = fmt_get32(h + B_RAWLEN);
    out->payload_len = fmt_get32(h + B_PAYLEN);
    out->first_hash = fmt_get64(h + B_FIRST);
    out->rcheck = fmt_get64(h + B_RCHECK);
    out->payload = h + SNAPFMT_BLOCK_HDR;
    return block_sane(h, out, key, nkey, err, errlen);
}

/* The block's LMDB key rebuilt for messages. */
static size_t
block_key(const struct snapfmt_block *b, unsigned char out[SNAPFMT_BKEY_MAX])
{
    size_t n = b->last_nkey < SNAPFMT_BKEY_NMAX ? b->last_nkey
                                                 : SNAPFMT_BKEY_NMAX;

    fmt_put_be64(out, b->run);
    fmt_put_be64(out + 8, b->last_hash);
    memcpy(out + 16, b->last_key, n);
    return 16 + n;
}

int
snapfmt_block_decode(struct snapfmt_codec *c, const struct snapfmt_block *b,
                     void *raw, size_t cap, char *err, size_t errlen)
{
    unsigned char key[SNAPFMT_BKEY_MAX];
    size_t nkey = block_key(b, key), n;

    if (cap < b->raw_len) {
        return blk_fail(SNAPFMT_ENOSPC, err, errlen, key, nkey,
                        "%u raw bytes, more than the %zu taken",
                        (unsigned)b->raw_len, cap);
    }
    if (b->codec == SNAPFMT_RAW) {
        memcpy(raw, b->payload, b->raw_len);
    } else {
        n = ZSTD_decompressDCtx(fmt_codec_dctx(c), raw, b->raw_len,
                                b->payload, b->payload_len);
        if (ZSTD_isError(n) || n != b->raw_len) {
            return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                            "payload does not decompress to %u bytes: %s",
                            (unsigned)b->raw_len,
                            ZSTD_isError(n) ? ZSTD_getErrorName(n)
                                            : "short");
        }
    }
    if (XXH3_64bits(raw, b->raw_len) != b->rcheck) {
        return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "raw checksum at byte 24 does not match "
                        "(payload damaged)");
    }
    return SNAPFMT_OK;
}

void
snapfmt_bwalk_init(struct snapfmt_bwalk *w, const struct snapfmt_block *b,
                   const void *raw)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->raw = raw;
}

/* Format a record's problem: the block, the record's number and offset. */
static int
rec_fail(const struct snapfmt_bwalk *w, char *err, size_t errlen,
         const char *what)
{
    unsigned char key[SNAPFMT_BKEY_MAX];

    return blk_fail(SNAPFMT_ECORRUPT, err, errlen, key,
                    block_key(w->b, key), "record %u at raw byte %zu: %s",
                    (unsigned)w->seen + 1, w->off, what);
}

/* The record at W->off into OUT, its fields checked; its size or 0. */
static size_t
bwalk_read(struct snapfmt_bwalk *w, struct snapfmt_brec *out,
           const char **why)
{
    const unsigned char *p = w->raw + w->off;
    size_t left = w->b->raw_len - w->off, need;

    if (left < SNAPFMT_BREC_HDR) {
        *why = "header runs past the block";
        return 0;
    }
    out->type = p[R_TYPE];
    out->rflags = p[R_RFLAGS];
    out->nkey = p[R_NKEY];
    out->flags = fmt_get32(p + R_FLAGS);
    out->exptime = fmt_get32(p + R_EXPTIME);
    out->atime = fmt_get32(p + R_ATIME);
    out->cas = fmt_get64(p + R_CAS);
    out->nvalue = fmt_get32(p + R_NVALUE);
    need = SNAPFMT_BREC_HDR + out->nkey + (size_t)out->nvalue;
    if (out->type != SNAPFMT_B_ITEM && out->type != SNAPFMT_B_TOMB) {
        *why = "unknown record type";
    } else if (p[R_ZERO] != 0 || (out->rflags & ~SNAPFMT_RF_ALL) != 0) {
        *why = "reserved bits set";
    } else if (out->nkey == 0) {
        *why = "empty key";
    } else if (need > left) {
        *why = "key and value run past the block";
    } else if (out->type == SNAPFMT_B_TOMB &&
               (out->rflags | out->flags | out->exptime | out->atime |
                out->cas | out->nvalue) != 0) {
        *why = "tombstone with item fields";
    } else {
        out->key = p + SNAPFMT_BREC_HDR;
        out->value = p + SNAPFMT_BREC_HDR + out->nkey;
        out->hash = snapfmt_key_hash(out->key, out->nkey);
        return need;
    }
    return 0;
}

/* After the last record: the counts and the block key agree. */
static int
bwalk_end(struct snapfmt_bwalk *w, char *err, size_t errlen)
{
    if (w->off != w->b->raw_len || w->seen != w->b->nrec) {
        return rec_fail(w, err, errlen, "records and raw length disagree "
                        "with the header");
    }
    if (snapfmt_key_order(w->prev_hash, w->prev_key, w->prev_nkey,
                          w->b->last_hash, w->b->last_key,
                          w->b->last_nkey) != 0) {
        return rec_fail(w, err, errlen, "the last record is not the one "
                        "the block key names");
    }
    return SNAPFMT_END;
}

int
snapfmt_bwalk_next(struct snapfmt_bwalk *w, struct snapfmt_brec *out,
                   char *err, size_t errlen)
{
    const char *why = NULL;
    size_t n;

    if (w->seen == w->b->nrec || w->off == w->b->raw_len) {
        return bwalk_end(w, err, errlen);
    }
    n = bwalk_read(w, out, &why);
    if (n == 0) {
        return rec_fail(w, err, errlen, why);
    }
    if (w->seen == 0 ? out->hash != w->b->first_hash
                     : snapfmt_key_order(w->prev_hash, w->prev_key,
                                         w->prev_nkey, out->hash, out->key,
                                         out->nkey) >= 0) {
        return rec_fail(w, err, errlen, w->seen == 0
                            ? "its hash is not the header's first_hash"
                            : "out of order");
    }
    w->prev_hash = out->hash;
    w->prev_key = out->key;
    w->prev_nkey = out->nkey;
    w->off += n;
    w->seen++;
    return SNAPFMT_OK;
}
