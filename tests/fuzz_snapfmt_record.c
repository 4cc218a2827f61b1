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
 *     key rules), which see every value `dump` writes, must cope with it.
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
