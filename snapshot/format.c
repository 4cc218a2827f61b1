/*
 * format.c -- record codec, checksums and zstd dictionaries (format.h).
 * No LMDB here (format_env.c, format_txn.c), no storage, no threads.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zdict.h>
#include <zstd.h>

/* Field offsets of the record header; see format.h and the spec. */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 1,
    OFF_CODEC = 2,
    OFF_RFLAGS = 3,
    OFF_DICT = 4,
    OFF_FLAGS = 8,
    OFF_EXPTIME = 12,
    OFF_CAS = 16,
    OFF_ATIME = 24,
    OFF_RAWLEN = 28,
    OFF_PAYLEN = 32,
    OFF_RCHECK = 36,
    OFF_VCHECK = 40,
};

struct snapfmt_codec {
    int level;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    const struct snapfmt_dict *dict;
};

struct snapfmt_dict {
    uint32_t id;
    void *data;
    size_t n;
    ZSTD_CDict *cdict;
    ZSTD_DDict *ddict;
};

struct snapfmt_dicts {
    struct snapfmt_dict **v;
    unsigned n;
    unsigned cap;
};

const char *
snapfmt_strerror(int rc)
{
    switch (rc) {
    case SNAPFMT_OK: return "ok";
    case SNAPFMT_END: return "end of records";
    case SNAPFMT_ECORRUPT: return "snapshot data is corrupt";
    case SNAPFMT_EVERSION: return "unknown snapshot format version";
    case SNAPFMT_ENODICT: return "compression dictionary missing";
    case SNAPFMT_ENOSPC: return "buffer too small";
    case SNAPFMT_EFOREIGN: return "not an ember snapshot";
    case SNAPFMT_ENOENT: return "no snapshot found";
    case SNAPFMT_EMAPFULL: return "LMDB map full";
    case SNAPFMT_ELMDB: return "LMDB error";
    case SNAPFMT_ENOMEM: return "out of memory";
    case SNAPFMT_EINVAL: return "invalid argument";
    case SNAPFMT_EZSTD: return "zstd error";
    default: return "unknown snapfmt error";
    }
}

/*
 * The record check covers header, key and payload, so a damaged byte is
 * found before any of it reaches zstd (an entropy coder can decode a
 * flipped bit to the same output; we still call that record corrupt).
 */
static uint32_t
record_check(const unsigned char *hdr, const void *key, size_t nkey,
             const void *payload, size_t npayload)
{
    XXH64_hash_t h = XXH3_64bits(hdr, OFF_RCHECK);

    h = XXH3_64bits_withSeed(key, nkey, h);
    return (uint32_t)XXH3_64bits_withSeed(payload, npayload, h);
}

/* ---- messages --------------------------------------------------------- */

void
snapfmt_key_print(const void *key, size_t nkey, char *dst, size_t cap)
{
    const unsigned char *k = key;
    size_t o = 0;

    if (cap == 0) {
        return;
    }
    for (size_t i = 0; i < nkey; i++) {
        if (o + 8 >= cap) {
            if (o + 4 <= cap) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (k[i] >= 0x21 && k[i] < 0x7f && k[i] != '\\' && k[i] != '\'') {
            dst[o++] = (char)k[i];
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", k[i]);
        }
    }
    dst[o < cap ? o : cap - 1] = '\0';
}

/* Format "record 'KEY': <fmt>" into ERR; returns RC. */
static int
rec_fail(int rc, char *err, size_t errlen, const void *key, size_t nkey,
         const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
rec_fail(int rc, char *err, size_t errlen, const void *key, size_t nkey,
         const char *fmt, ...)
{
    char kbuf[80];
    va_list ap;
    int n;

    if (err == NULL || errlen == 0) {
        return rc;
    }
    snapfmt_key_print(key, nkey, kbuf, sizeof(kbuf));
    n = snprintf(err, errlen, "record '%s': ", kbuf);
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        util_verrf(rc, err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- codec ------------------------------------------------------------ */

struct snapfmt_codec *
snapfmt_codec_create(int level)
{
    struct snapfmt_codec *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->level = level < 0 ? 0 : (level > 19 ? 19 : level);
    c->dctx = ZSTD_createDCtx();
    if (c->dctx == NULL) {
        goto fail_codec;
    }
    if (c->level > 0) {
        c->cctx = ZSTD_createCCtx();
        if (c->cctx == NULL) {
            goto fail_dctx;
        }
        /* Our header holds the raw length, the dictionary id and a
         * checksum, so the frame need not repeat the last two. */
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, c->level);
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0);
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_dictIDFlag, 0);
    }
    return c;

fail_dctx:
    ZSTD_freeDCtx(c->dctx);
fail_codec:
    free(c);
    return NULL;
}

void
snapfmt_codec_destroy(struct snapfmt_codec **cp)
{
    struct snapfmt_codec *c;

    if (cp == NULL || *cp == NULL) {
        return;
    }
    c = *cp;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
    *cp = NULL;
}

int
snapfmt_codec_set_dict(struct snapfmt_codec *c,
                       const struct snapfmt_dict *dict)
{
    if (c->cctx == NULL) {
        c->dict = NULL;
        return SNAPFMT_OK;
    }
    ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
    if (ZSTD_isError(ZSTD_CCtx_refCDict(c->cctx,
                                        dict ? dict->cdict : NULL))) {
        return SNAPFMT_EZSTD;
    }
    c->dict = dict;
    return SNAPFMT_OK;
}

ZSTD_CCtx *
fmt_codec_cctx(struct snapfmt_codec *c)
{
    return c->cctx;
}

ZSTD_DCtx *
fmt_codec_dctx(struct snapfmt_codec *c)
{
    return c->dctx;
}

bool
fmt_codec_has_dict(const struct snapfmt_codec *c)
{
    return c->dict != NULL;
}

size_t
snapfmt_encode_bound(size_t nvalue)
{
    size_t z = ZSTD_compressBound(nvalue);

    return SNAPFMT_HDR_SIZE + (z > nvalue ? z : nvalue);
}

/* Compress IN's value behind the header; 0 when raw is as good. */
static size_t
compress_payload(struct snapfmt_codec *c, const struct snapfmt_item *in,
                 unsigned char *dst, size_t cap)
{
    size_t z;

    if (c->cctx == NULL || in->nvalue == 0) {
        return 0;
    }
    /* A frame that is not smaller than the value gains nothing: asking
     * zstd for at most nvalue - 1 bytes makes it give up early. */
    if (cap > (size_t)in->nvalue - 1) {
        cap = (size_t)in->nvalue - 1;
    }
    z = ZSTD_compress2(c->cctx, dst, cap, in->value, in->nvalue);
    if (ZSTD_isError(z)) {
        /* dstSize_tooSmall is the usual case: the value does not shrink.
         * Reset the session so the context starts clean next time. */
        ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
        return 0;
    }
    return z;
}

int
snapfmt_encode(struct snapfmt_codec *c, const struct snapfmt_item *in,
               void *out, size_t cap, size_t *outlen)
{
    unsigned char *h = out;
    unsigned codec = SNAPFMT_RAW;
    uint32_t dict_id = 0;
    size_t plen = 0;

    if (in->nkey == 0 || (in->nvalue > 0 && in->value == NULL) ||
        (in->rflags & ~(unsigned)SNAPFMT_RF_ALL) != 0) {
        return SNAPFMT_EINVAL;
    }
    if (cap < SNAPFMT_HDR_SIZE) {
        return SNAPFMT_ENOSPC;
    }
    plen = compress_payload(c, in, h + SNAPFMT_HDR_SIZE,
                            cap - SNAPFMT_HDR_SIZE);
    if (plen > 0) {
        codec = c->dict ? SNAPFMT_ZSTD_DICT : SNAPFMT_ZSTD;
        dict_id = c->dict ? c->dict->id : 0;
    } else {
        if (cap - SNAPFMT_HDR_SIZE < in->nvalue) {
            return SNAPFMT_ENOSPC;
        }
        plen = in->nvalue;
        if (plen > 0) {
            memcpy(h + SNAPFMT_HDR_SIZE, in->value, plen);
        }
    }
    h[OFF_MAGIC] = SNAPFMT_MAGIC;
    h[OFF_VERSION] = SNAPFMT_REC_VERSION;
    h[OFF_CODEC] = (unsigned char)codec;
    h[OFF_RFLAGS] = (unsigned char)in->rflags;
    fmt_put32(h + OFF_DICT, dict_id);
    fmt_put32(h + OFF_FLAGS, in->flags);
    fmt_put32(h + OFF_EXPTIME, in->exptime);
    fmt_put64(h + OFF_CAS, in->cas);
    fmt_put32(h + OFF_ATIME, in->atime);
    fmt_put32(h + OFF_RAWLEN, in->nvalue);
    fmt_put32(h + OFF_PAYLEN, (uint32_t)plen);
    fmt_put64(h + OFF_VCHECK, XXH3_64bits(in->value, in->nvalue));
    fmt_put32(h + OFF_RCHECK, record_check(h, in->key, in->nkey,
                                       h + SNAPFMT_HDR_SIZE, plen));
    *outlen = SNAPFMT_HDR_SIZE + plen;
    return SNAPFMT_OK;
}

int
fmt_zstd_frame_check(const void *payload, size_t n, uint32_t raw,
                     bool require_size, char *why, size_t whylen)
{
    unsigned long long content;
    size_t frame;

    frame = ZSTD_findFrameCompressedSize(payload, n);
    if (ZSTD_isError(frame) || frame != n) {
        snprintf(why, whylen, "payload of %zu bytes is not one zstd frame "
                 "(%s)", n, ZSTD_isError(frame) ? ZSTD_getErrorName(frame)
                                                : "bytes after it");
        return -1;
    }
    content = ZSTD_getFrameContentSize(payload, n);
    if (content == ZSTD_CONTENTSIZE_UNKNOWN && !require_size) {
        return 0;
    }
    if (content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(why, whylen, "zstd frame states no size, header says %u",
                 (unsigned)raw);
        return -1;
    }
    if (content != raw) {
        snprintf(why, whylen, "zstd frame holds %llu bytes, header says %u",
                 content, (unsigned)raw);
        return -1;
    }
    return 0;
}

/* A record's zstd payload: one frame that holds raw_len bytes. */
static int
frame_sane(const struct snapfmt_rec *r, const void *key, size_t nkey,
           char *err, size_t errlen)
{
    char why[160];

    if (fmt_zstd_frame_check(r->payload, r->payload_len, r->raw_len, false,
                             why, sizeof(why)) != 0) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey, "%s", why);
    }
    return SNAPFMT_OK;
}

/* Field checks after the checksum matched: what a writer never writes. */
static int
rec_sane(const struct snapfmt_rec *r, const void *key,
         size_t nkey, char *err, size_t errlen)
{
    unsigned known = r->version == 1 ? 0 : SNAPFMT_RF_ALL;

    if ((r->rflags & ~known) != 0) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "reserved bits 0x%02x set in byte 3 (version %u)",
                        r->rflags & ~known, r->version);
    }
    if (r->codec > SNAPFMT_ZSTD_DICT) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "unknown codec %u at byte 2", r->codec);
    }
    if ((r->codec == SNAPFMT_ZSTD_DICT) != (r->dict_id != 0)) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "dictionary id %u does not fit codec %u",
                        (unsigned)r->dict_id, r->codec);
    }
    if (r->codec == SNAPFMT_RAW && r->raw_len != r->payload_len) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "raw record with raw length %u != payload %u",
                        (unsigned)r->raw_len, (unsigned)r->payload_len);
    }
    return r->codec == SNAPFMT_RAW ? SNAPFMT_OK
                                   : frame_sane(r, key, nkey, err, errlen);
}

int
snapfmt_rec_parse(const void *key, size_t nkey, const void *rec,
                  size_t nrec, struct snapfmt_rec *out, char *err,
                  size_t errlen)
{
    const unsigned char *h = rec;
    uint32_t stored, computed;

    if (nrec < SNAPFMT_HDR_SIZE) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "truncated: %zu bytes, header needs %u", nrec,
                        SNAPFMT_HDR_SIZE);
    }
    if (h[OFF_MAGIC] != SNAPFMT_MAGIC) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "bad magic 0x%02x at byte 0", h[OFF_MAGIC]);
    }
    /* before the checksum reads them: are there as many bytes as the
     * header says? (NREC comes from LMDB's node, which nothing checks) */
    if ((size_t)fmt_get32(h + OFF_PAYLEN) != nrec - SNAPFMT_HDR_SIZE) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "payload length %u at byte 32, but %zu bytes "
                        "follow the header (truncated or damaged)",
                        (unsigned)fmt_get32(h + OFF_PAYLEN),
                        nrec - SNAPFMT_HDR_SIZE);
    }
    stored = fmt_get32(h + OFF_RCHECK);
    computed = record_check(h, key, nkey, h + SNAPFMT_HDR_SIZE,
                            nrec - SNAPFMT_HDR_SIZE);
    if (stored != computed) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "record checksum 0x%08x at byte 36, computed 0x%08x "
                        "(header, key or payload damaged, or truncated)",
                        (unsigned)stored, (unsigned)computed);
    }
    if (h[OFF_VERSION] < SNAPFMT_VERSION_MIN ||
        h[OFF_VERSION] > SNAPFMT_REC_VERSION) {
        return rec_fail(h[OFF_VERSION] > SNAPFMT_REC_VERSION
                            ? SNAPFMT_EVERSION
                            : SNAPFMT_ECORRUPT,
                        err, errlen, key, nkey,
                        "record format version %u, this build reads %u to "
                        "%u", h[OFF_VERSION], SNAPFMT_VERSION_MIN,
                        SNAPFMT_REC_VERSION);
    }
    out->version = h[OFF_VERSION];
    out->rflags = h[OFF_RFLAGS];
    out->codec = h[OFF_CODEC];
    out->dict_id = fmt_get32(h + OFF_DICT);
    out->flags = fmt_get32(h + OFF_FLAGS);
    out->exptime = fmt_get32(h + OFF_EXPTIME);
    out->cas = fmt_get64(h + OFF_CAS);
    out->atime = fmt_get32(h + OFF_ATIME);
    out->raw_len = fmt_get32(h + OFF_RAWLEN);
    out->payload_len = fmt_get32(h + OFF_PAYLEN);
    out->vcheck = fmt_get64(h + OFF_VCHECK);
    out->payload = h + SNAPFMT_HDR_SIZE;
    return rec_sane(out, key, nkey, err, errlen);
}

int
snapfmt_rec_peek(const void *rec, size_t nrec, uint32_t *exptime,
                 uint32_t *atime, uint64_t *cas, uint32_t *raw_len)
{
    const unsigned char *h = rec;

    if (nrec < SNAPFMT_HDR_SIZE || h[OFF_MAGIC] != SNAPFMT_MAGIC ||
        (size_t)fmt_get32(h + OFF_PAYLEN) != nrec - SNAPFMT_HDR_SIZE) {
        return SNAPFMT_ECORRUPT;
    }
    *exptime = fmt_get32(h + OFF_EXPTIME);
    *atime = fmt_get32(h + OFF_ATIME);
    /* a client's CAS (meta E) is no counter value: keep it out of cas_max */
    *cas = (h[OFF_RFLAGS] & SNAPFMT_RF_CAS_EXPLICIT) ? 0
                                                      : fmt_get64(h + OFF_CAS);
    *raw_len = fmt_get32(h + OFF_RAWLEN);
    return SNAPFMT_OK;
}

/* Decompress R's payload into exactly R->raw_len bytes of OUT. */
static int
rec_inflate(struct snapfmt_codec *c, const struct snapfmt_dicts *dicts,
            const struct snapfmt_rec *r, const void *key, size_t nkey,
            void *out, char *err, size_t errlen)
{
    const struct snapfmt_dict *d = NULL;
    size_t n;

    if (r->codec == SNAPFMT_ZSTD_DICT) {
        d = dicts ? snapfmt_dicts_get(dicts, r->dict_id) : NULL;
        if (d == NULL) {
            return rec_fail(SNAPFMT_ENODICT, err, errlen, key, nkey,
                            "dictionary %u is not in the snapshot",
                            (unsigned)r->dict_id);
        }
        n = ZSTD_decompress_usingDDict(c->dctx, out, r->raw_len, r->payload,
                                       r->payload_len, d->ddict);
    } else {
        n = ZSTD_decompressDCtx(c->dctx, out, r->raw_len, r->payload,
                                r->payload_len);
    }
    if (ZSTD_isError(n)) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "payload does not decompress: %s",
                        ZSTD_getErrorName(n));
    }
    if (n != r->raw_len) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "payload decompresses to %zu bytes, header says %u",
                        n, (unsigned)r->raw_len);
    }
    return SNAPFMT_OK;
}

int
snapfmt_rec_value(struct snapfmt_codec *c, const struct snapfmt_dicts *dicts,
                  const struct snapfmt_rec *r, const void *key, size_t nkey,
                  void *out, size_t cap, char *err, size_t errlen)
{
    uint64_t sum;
    int rc;

    if (cap < r->raw_len) {
        return rec_fail(SNAPFMT_ENOSPC, err, errlen, key, nkey,
                        "value of %u bytes does not fit %zu",
                        (unsigned)r->raw_len, cap);
    }
    if (r->codec == SNAPFMT_RAW) {
        if (r->raw_len > 0) {
            memcpy(out, r->payload, r->raw_len);
        }
    } else {
        rc = rec_inflate(c, dicts, r, key, nkey, out, err, errlen);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
    }
    sum = XXH3_64bits(out, r->raw_len);
    if (sum != r->vcheck) {
        return rec_fail(SNAPFMT_ECORRUPT, err, errlen, key, nkey,
                        "value checksum 0x%016llx at byte 40, computed "
                        "0x%016llx (payload damaged)",
                        (unsigned long long)r->vcheck,
                        (unsigned long long)sum);
    }
    return SNAPFMT_OK;
}

int
snapfmt_decode(struct snapfmt_codec *c, const struct snapfmt_dicts *dicts,
               const void *key, size_t nkey, const void *rec, size_t nrec,
               struct snapfmt_rec *out, void *value, size_t cap, char *err,
               size_t errlen)
{
    int rc = snapfmt_rec_parse(key, nkey, rec, nrec, out, err, errlen);

    if (rc != SNAPFMT_OK) {
        return rc;
    }
    return snapfmt_rec_value(c, dicts, out, key, nkey, value, cap, err,
                             errlen);
}

/* ---- dictionaries ----------------------------------------------------- */

int
snapfmt_dict_create(uint32_t id, const void *data, size_t n, int level,
                    struct snapfmt_dict **out, char *err, size_t errlen)
{
    struct snapfmt_dict *d;

    if (id == 0 || n == 0) {
        return util_errf(SNAPFMT_EINVAL, err, errlen,
                         "dictionary id %u with %zu bytes", (unsigned)id, n);
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL || (d->data = malloc(n)) == NULL) {
        free(d);
        return util_errf(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    memcpy(d->data, data, n);
    d->n = n;
    d->id = id;
    d->cdict = ZSTD_createCDict(d->data, n, level < 1 ? 1 : level);
    d->ddict = ZSTD_createDDict(d->data, n);
    if (d->cdict == NULL || d->ddict == NULL) {
        snapfmt_dict_destroy(&d);
        return util_errf(SNAPFMT_EZSTD, err, errlen,
                         "dictionary %u (%zu bytes) is not usable by zstd",
                         (unsigned)id, n);
    }
    *out = d;
    return SNAPFMT_OK;
}

int
snapfmt_dict_train(const void *samples, const size_t *sizes,
                   unsigned nsamples, size_t capacity, uint32_t id,
                   int level, struct snapfmt_dict **out, char *err,
                   size_t errlen)
{
    void *buf;
    size_t n;
    int rc;

    if (capacity < 256 || nsamples == 0) {
        return util_errf(SNAPFMT_EINVAL, err, errlen,
                         "dictionary training: %u samples, capacity %zu",
                         nsamples, capacity);
    }
    buf = malloc(capacity);
    if (buf == NULL) {
        return util_errf(SNAPFMT_ENOMEM, err, errlen, "out of memory");
    }
    n = ZDICT_trainFromBuffer(buf, capacity, samples, sizes, nsamples);
    if (ZDICT_isError(n)) {
        free(buf);
        return util_errf(SNAPFMT_EZSTD, err, errlen,
                         "dictionary training on %u samples failed: %s",
                         nsamples, ZDICT_getErrorName(n));
    }
    rc = snapfmt_dict_create(id, buf, n, level, out, err, errlen);
    free(buf);
    return rc;
}

void
snapfmt_dict_destroy(struct snapfmt_dict **dp)
{
    struct snapfmt_dict *d;

    if (dp == NULL || *dp == NULL) {
        return;
    }
    d = *dp;
    ZSTD_freeCDict(d->cdict);
    ZSTD_freeDDict(d->ddict);
    free(d->data);
    free(d);
    *dp = NULL;
}

uint32_t
snapfmt_dict_id(const struct snapfmt_dict *d)
{
    return d->id;
}

const void *
snapfmt_dict_data(const struct snapfmt_dict *d, size_t *n)
{
    *n = d->n;
    return d->data;
}

struct snapfmt_dicts *
snapfmt_dicts_create(void)
{
    return calloc(1, sizeof(struct snapfmt_dicts));
}

void
snapfmt_dicts_destroy(struct snapfmt_dicts **sp)
{
    struct snapfmt_dicts *s;

    if (sp == NULL || *sp == NULL) {
        return;
    }
    s = *sp;
    for (unsigned i = 0; i < s->n; i++) {
        snapfmt_dict_destroy(&s->v[i]);
    }
    free(s->v);
    free(s);
    *sp = NULL;
}

int
snapfmt_dicts_add(struct snapfmt_dicts *s, struct snapfmt_dict *d)
{
    struct snapfmt_dict **v;

    if (snapfmt_dicts_get(s, d->id) != NULL) {
        snapfmt_dict_destroy(&d);
        return SNAPFMT_EINVAL;
    }
    if (s->n == s->cap) {
        v = realloc(s->v, (s->cap ? s->cap * 2 : 4) * sizeof(*v));
        if (v == NULL) {
            snapfmt_dict_destroy(&d);
            return SNAPFMT_ENOMEM;
        }
        s->v = v;
        s->cap = s->cap ? s->cap * 2 : 4;
    }
    s->v[s->n++] = d;
    return SNAPFMT_OK;
}

const struct snapfmt_dict *
snapfmt_dicts_get(const struct snapfmt_dicts *s, uint32_t id)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (s->v[i]->id == id) {
            return s->v[i];
        }
    }
    return NULL;
}

unsigned
snapfmt_dicts_count(const struct snapfmt_dicts *s)
{
    return s->n;
}

uint32_t
snapfmt_dicts_max_id(const struct snapfmt_dicts *s)
{
    uint32_t m = 0;

    for (unsigned i = 0; i < s->n; i++) {
        if (s->v[i]->id > m) {
            m = s->v[i]->id;
        }
    }
    return m;
}
