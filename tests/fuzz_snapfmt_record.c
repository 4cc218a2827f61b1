/*
 * fuzz_snapfmt_record.c -- libFuzzer harness for the snapshot record
 * decoder (snapshot/format.c), what embersnap and the warm-restart loader
 * run on every record read from disk. Built and run by `make
 * fuzz-snapfmt`; not part of `make check`.
 *
 * Input: byte 0 = key length K (at least 1), then K key bytes, then the
 * record bytes. Each input is tried three ways:
 *  1. as is: snapfmt_rec_parse/value must fail cleanly or decode;
 *  2. resealed: the record checksum is recomputed (as the spec in
 *     docs/SNAPSHOT-FORMAT.md says), so that the fields and zstd frames
 *     behind it are reached, not just the checksum test;
 *  3. as a value: encoded raw, with zstd and with a dictionary, it must
 *     decode to the same bytes; with one byte flipped it must not crash;
 *     and embersnap's text helpers (UTF-8 check, JSON string, base64,
 *     key rules), which see every value `dump` writes, must cope with it;
 *  4. as a format 3 block (format_block.c: what the loader, embersnap and
 *     the incremental writer's lookups decode): the key bytes padded to a
 *     block key, the record bytes as its value, parsed, decoded and
 *     walked record by record as is and resealed (bcheck, and rcheck of
 *     a raw payload, recomputed as the spec says), so that the header's
 *     fields, the zstd frame and every record's sizes are reached.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tools/embersnap/embersnap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define VALUE_CAP ((size_t)1 << 20)

struct harness {
    struct snapfmt_codec *raw, *zstd, *zdict;
    struct snapfmt_dicts *dicts;
    unsigned char *value;     /* VALUE_CAP bytes */
    unsigned char *rec;       /* snapfmt_encode_bound(VALUE_CAP) bytes */
    unsigned char *copy;
    FILE *sink;               /* /dev/null for the text helpers */
};

/* libFuzzer gives no context pointer: one harness per process. */
static struct harness *h;

static void
harness_init(void)
{
    static const char text[] = "{\"id\":1,\"name\":\"alice\",\"tags\":"
                               "[\"admin\",\"beta\"],\"score\":12.5}";
    unsigned char dict[4096];
    struct snapfmt_dict *d = NULL, *d2 = NULL;

    h = calloc(1, sizeof(*h));
    for (size_t i = 0; i < sizeof(dict); i++) {
        dict[i] = (unsigned char)text[i % (sizeof(text) - 1)];
    }
    h->raw = snapfmt_codec_create(0);
    h->zstd = snapfmt_codec_create(1);
    h->zdict = snapfmt_codec_create(1);
    h->dicts = snapfmt_dicts_create();
    h->value = malloc(VALUE_CAP);
    h->rec = malloc(snapfmt_encode_bound(VALUE_CAP));
    h->copy = malloc(snapfmt_encode_bound(VALUE_CAP));
    h->sink = fopen("/dev/null", "w");
    /* id 1 is in the set; the codec's copy (same bytes) encodes with it */
    if (snapfmt_dict_create(1, dict, sizeof(dict), 1, &d, NULL, 0) != 0 ||
        snapfmt_dict_create(1, dict, sizeof(dict), 1, &d2, NULL, 0) != 0 ||
        h->raw == NULL || h->zstd == NULL || h->zdict == NULL ||
        h->dicts == NULL || h->value == NULL || h->rec == NULL ||
        h->copy == NULL || h->sink == NULL || snapfmt_dicts_add(h->dicts, d) != 0 ||
        snapfmt_codec_set_dict(h->zdict, d2) != 0) {
        abort();              /* the harness itself is broken */
    }
}

/* Parse and decode REC (N bytes) under KEY; never crash. */
static int
try_decode(const unsigned char *key, size_t nkey, const unsigned char *rec,
           size_t n)
{
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_rec r;
    int rc;

    rc = snapfmt_rec_parse(key, nkey, rec, n, &r, err, sizeof(err));
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    if (r.raw_len > VALUE_CAP) {
        return SNAPFMT_ENOSPC;
    }
    return snapfmt_rec_value(h->zstd, h->dicts, &r, key, nkey, h->value,
                             r.raw_len, err, sizeof(err));
}

/* The record checksum of the spec, written at byte 36. */
static void
reseal(const unsigned char *key, size_t nkey, unsigned char *rec, size_t n)
{
    XXH64_hash_t x = XXH3_64bits(rec, 36);
    uint32_t v;

    x = XXH3_64bits_withSeed(key, nkey, x);
    x = XXH3_64bits_withSeed(rec + SNAPFMT_HDR_SIZE, n - SNAPFMT_HDR_SIZE, x);
    v = (uint32_t)x;
    for (int i = 0; i < 4; i++) {
        rec[36 + i] = (unsigned char)(v >> (8 * i));
    }
}

/* Encode VAL with C; decode must give VAL back; then flip one byte. */
static void
round_trip(struct snapfmt_codec *c, const unsigned char *key, size_t nkey,
           const unsigned char *val, size_t n, size_t flip)
{
    struct snapfmt_item it = { key, nkey, val, (uint32_t)n, 7, 1900000000,
                               1800000000, 42, 0 };
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_rec r;
    size_t len;

    if (snapfmt_encode(c, &it, h->rec, snapfmt_encode_bound(n), &len) != 0 ||
        snapfmt_decode(h->raw, h->dicts, key, nkey, h->rec, len, &r,
                       h->value, VALUE_CAP, err, sizeof(err)) != 0 ||
        r.raw_len != n || memcmp(h->value, val, n) != 0 || r.flags != 7 ||
        r.cas != 42) {
        abort();              /* a round trip that loses data is a bug */
    }
    h->rec[flip % len] ^= (unsigned char)(1 + flip / len % 255);
    (void)try_decode(key, nkey, h->rec, len);
}

/* Parse, decode and walk block VAL under KEY; never crash. */
static void
try_block(const unsigned char *key, size_t nkey, const unsigned char *val,
          size_t nval)
{
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_block b;
    struct snapfmt_bwalk w;
    struct snapfmt_brec r;

    if (snapfmt_block_parse(key, nkey, val, nval, &b, err, sizeof(err)) !=
            SNAPFMT_OK ||
        snapfmt_block_decode(h->zstd, &b, h->value, VALUE_CAP, err,
                             sizeof(err)) != SNAPFMT_OK) {
        return;
    }
    snapfmt_bwalk_init(&w, &b, h->value);
    while (snapfmt_bwalk_next(&w, &r, err, sizeof(err)) == SNAPFMT_OK) {
        if (r.nkey == 0 || r.nkey > SNAPFMT_BKEY_NMAX ||
            (const unsigned char *)r.value + r.nvalue >
                h->value + b.raw_len) {
            abort();          /* a record handed out past the block */
        }
    }
}

static void
put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* The input as a block: KEY padded to a block key, REC as its value. */
static void
fuzz_block(const unsigned char *key, size_t nkey, const unsigned char *rec,
           size_t n)
{
    unsigned char bkey[SNAPFMT_BKEY_MAX];
    size_t nb = nkey < SNAPFMT_BKEY_MIN ? SNAPFMT_BKEY_MIN : nkey;
    XXH64_hash_t x;

    memset(bkey, 0, sizeof(bkey));
    memcpy(bkey, key, nkey < sizeof(bkey) ? nkey : sizeof(bkey));
    nb = nb < sizeof(bkey) ? nb : sizeof(bkey);
    try_block(bkey, nb, rec, n);
    if (n < SNAPFMT_BLOCK_HDR || n > snapfmt_encode_bound(VALUE_CAP)) {
        return;
    }
    memcpy(h->copy, rec, n);
    /* the header's payload length what follows, the checksums the spec's */
    for (int i = 0; i < 4; i++) {
        h->copy[12 + i] = (unsigned char)((n - SNAPFMT_BLOCK_HDR) >> (8 * i));
    }
    if (h->copy[2] == SNAPFMT_RAW) {
        put64(h->copy + 24, XXH3_64bits(h->copy + SNAPFMT_BLOCK_HDR,
                                        n - SNAPFMT_BLOCK_HDR));
    }
    x = XXH3_64bits(h->copy, 40);
    x = XXH3_64bits_withSeed(bkey, nb, x);
    x = XXH3_64bits_withSeed(h->copy + SNAPFMT_BLOCK_HDR,
                             n - SNAPFMT_BLOCK_HDR, x);
    put64(h->copy + 40, x);
    try_block(bkey, nb, h->copy, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nkey, n;
    const unsigned char *key, *rec;

    if (h == NULL) {
        harness_init();
    }
    if (size < 2) {
        return 0;
    }
    nkey = data[0] ? data[0] : 1;
    if (1 + nkey > size) {
        return 0;
    }
    key = data + 1;
    rec = data + 1 + nkey;
    n = size - 1 - nkey;
    (void)try_decode(key, nkey, rec, n);
    if (n >= SNAPFMT_HDR_SIZE) {
        memcpy(h->copy, rec, n);
        reseal(key, nkey, h->copy, n);
        (void)try_decode(key, nkey, h->copy, n);
    }
    fuzz_block(key, nkey, rec, n);
    if (n <= VALUE_CAP) {
        size_t flip = n ? data[size - 1] * 131u + n : 0;

        round_trip(h->raw, key, nkey, rec, n, flip);
        round_trip(h->zstd, key, nkey, rec, n, flip);
        round_trip(h->zdict, key, nkey, rec, n, flip);
        if (es_text_ok(rec, n) && !es_utf8_ok(rec, n)) {
            abort();          /* text is a subset of UTF-8 */
        }
        (void)es_key_ok(key, nkey);
        es_json_str(h->sink, rec, n);
        es_base64(h->sink, rec, n);
    }
    return 0;
}
