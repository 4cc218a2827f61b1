/*
 * check_snapfmt.c -- the snapshot format (libsnapfmt.a only): record
 * round trips for every codec, corruption and truncation at every byte,
 * versions, dictionaries, and the LMDB environment with meta and cursor.
 * Damaged bytes under the record checksum or in LMDB's pages:
 * check_snapfmt_damage.c.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/check_snapfmt.h"
#include "tests/fmt_fixture.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#define NSAMPLES 2000

struct fx {
    char dir[64];
    struct snapfmt_codec *raw;
    struct snapfmt_codec *zstd;
    unsigned char *rec;
    size_t cap;
    char *samples;
    size_t sizes[NSAMPLES];
    size_t nsamples_bytes;
};

static struct fx fx;

const char *
snapfmt_fx_dir(void)
{
    return fx.dir;
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A JSON-like value of 100..500 bytes, as a cache holds. */
static size_t
json_value(uint64_t *seed, char *out, size_t cap)
{
    static const char *names[] = { "alice", "bob", "carol", "dave", "erin" };
    static const char *tags[] = { "admin", "beta", "paid", "trial", "eu" };
    size_t n = 0, target = 100 + rnd(seed) % 401;
    unsigned i = 0;

    n += (size_t)snprintf(out + n, cap - n,
                          "{\"id\":%llu,\"name\":\"%s_%llu\",\"active\":%s,"
                          "\"score\":%llu.%02llu,\"tags\":[",
                          (unsigned long long)(rnd(seed) % 1000000),
                          names[rnd(seed) % 5],
                          (unsigned long long)(rnd(seed) % 10000),
                          rnd(seed) % 2 ? "true" : "false",
                          (unsigned long long)(rnd(seed) % 100),
                          (unsigned long long)(rnd(seed) % 100));
    while (n + 40 < target && n + 40 < cap) {
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\",\"x%llu\"",
                              i++ ? "," : "", tags[rnd(seed) % 5],
                              (unsigned long long)(rnd(seed) % 1000));
    }
    n += (size_t)snprintf(out + n, cap - n, "]}");
    return n;
}

static void
setup(void)
{
    uint64_t seed = 42;
    size_t off = 0;

    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/check_snapfmt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    fx.raw = snapfmt_codec_create(0);
    fx.zstd = snapfmt_codec_create(3);
    ck_assert_ptr_nonnull(fx.raw);
    ck_assert_ptr_nonnull(fx.zstd);
    fx.cap = snapfmt_encode_bound(2 << 20);
    fx.rec = malloc(fx.cap);
    fx.samples = malloc(NSAMPLES * 512);
    ck_assert_ptr_nonnull(fx.rec);
    ck_assert_ptr_nonnull(fx.samples);
    for (unsigned i = 0; i < NSAMPLES; i++) {
        fx.sizes[i] = json_value(&seed, fx.samples + off, 512);
        off += fx.sizes[i];
    }
    fx.nsamples_bytes = off;
}

static void
teardown(void)
{
    snapfmt_codec_destroy(&fx.raw);
    snapfmt_codec_destroy(&fx.zstd);
    ck_assert_ptr_null(fx.raw);
    free(fx.rec);
    free(fx.samples);
    fmt_fixture_rmtree(fx.dir);
}

static struct snapfmt_item
item_of(const char *key, const void *value, size_t n)
{
    struct snapfmt_item it = {
        .key = key, .nkey = strlen(key), .value = value,
        .nvalue = (uint32_t)n, .flags = 0xdeadbeef, .exptime = 1900000000,
        .atime = 1800000000, .cas = 0x0123456789abcdefULL,
    };
    return it;
}

/* Encode IT with C, decode it back and compare every field. */
static size_t
round_trip(struct snapfmt_codec *c, const struct snapfmt_dicts *dicts,
           const struct snapfmt_item *it, int want_codec)
{
    struct snapfmt_rec r;
    char err[SNAPFMT_ERR_MAX];
    char *out = malloc(it->nvalue + 1);
    size_t n = 0;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(snapfmt_encode(c, it, fx.rec, fx.cap, &n), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_decode(c, dicts, it->key, it->nkey, fx.rec, n,
                                    &r, out, it->nvalue, err, sizeof(err)),
                     SNAPFMT_OK);
    if (want_codec >= 0) {
        ck_assert_uint_eq(r.codec, (unsigned)want_codec);
    } else {
        ck_assert(r.codec == SNAPFMT_RAW || r.codec == SNAPFMT_ZSTD);
    }
    ck_assert_uint_eq(r.version, SNAPFMT_VERSION);
    ck_assert_uint_eq(r.flags, it->flags);
    ck_assert_uint_eq(r.exptime, it->exptime);
    ck_assert_uint_eq(r.atime, it->atime);
    ck_assert_uint_eq(r.cas, it->cas);
    ck_assert_uint_eq(r.rflags, it->rflags);
    ck_assert_uint_eq(r.raw_len, it->nvalue);
    ck_assert_uint_eq(r.payload_len, n - SNAPFMT_HDR_SIZE);
    ck_assert(memcmp(out, it->value, it->nvalue) == 0);
    free(out);
    return n;
}

static struct snapfmt_dict *
train(uint32_t id)
{
    struct snapfmt_dict *d = NULL;
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_dict_train(fx.samples, fx.sizes, NSAMPLES,
                                        16384, id, 3, &d, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(snapfmt_dict_id(d), id);
    return d;
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_raw_round_trip)
{
    const char v[] = "hello, world";
    struct snapfmt_item it = item_of("k1", v, sizeof(v) - 1);
    size_t n = round_trip(fx.raw, NULL, &it, SNAPFMT_RAW);

    ck_assert_uint_eq(n, SNAPFMT_HDR_SIZE + sizeof(v) - 1);
    ck_assert_uint_eq(fx.rec[0], SNAPFMT_MAGIC);
    ck_assert_uint_eq(fx.rec[1], SNAPFMT_VERSION);
    /* little-endian CAS at byte 16 */
    ck_assert_uint_eq(fx.rec[16], 0xef);
    ck_assert_uint_eq(fx.rec[23], 0x01);
    ck_assert(memcmp(fx.rec + SNAPFMT_HDR_SIZE, v, sizeof(v) - 1) == 0);
}
END_TEST

START_TEST(test_zstd_round_trip)
{
    char v[4000];
    struct snapfmt_item it;
    size_t n;

    for (size_t i = 0; i < sizeof(v); i++) {
        v[i] = "abcabcabd"[i % 9];
    }
    it = item_of("zkey", v, sizeof(v));
    n = round_trip(fx.zstd, NULL, &it, SNAPFMT_ZSTD);
    ck_assert_uint_lt(n, 200);
}
END_TEST

START_TEST(test_incompressible_stored_raw)
{
    unsigned char v[300];
    uint64_t s = 7;
    struct snapfmt_item it;

    for (size_t i = 0; i < sizeof(v); i++) {
        v[i] = (unsigned char)rnd(&s);
    }
    it = item_of("rand", v, sizeof(v));
    round_trip(fx.zstd, NULL, &it, SNAPFMT_RAW);
}
END_TEST

START_TEST(test_empty_value)
{
    struct snapfmt_item it = item_of("empty", "", 0);

    ck_assert_uint_eq(round_trip(fx.zstd, NULL, &it, SNAPFMT_RAW),
                      SNAPFMT_HDR_SIZE);
}
END_TEST

START_TEST(test_dict_round_trip_and_gain)
{
    struct snapfmt_dicts *ds = snapfmt_dicts_create();
    struct snapfmt_dict *d = train(5);
    size_t plain = 0, dict = 0, raw = 0, off = 0;
    struct snapfmt_item it;

    ck_assert_int_eq(snapfmt_dicts_add(ds, d), SNAPFMT_OK);
    for (unsigned i = 0; i < 200; i++) {
        it = item_of("json", fx.samples + off, fx.sizes[i]);
        off += fx.sizes[i];
        raw += fx.sizes[i];
        ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, NULL), SNAPFMT_OK);
        plain += round_trip(fx.zstd, NULL, &it, -1) -
                 SNAPFMT_HDR_SIZE;
        ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, d), SNAPFMT_OK);
        dict += round_trip(fx.zstd, ds, &it, SNAPFMT_ZSTD_DICT) -
                SNAPFMT_HDR_SIZE;
        ck_assert_uint_eq(fx.rec[4], 5);
    }
    /* a trained dictionary must beat per-value zstd by far */
    ck_assert_uint_lt(dict * 2, plain);
    ck_assert_uint_lt(dict * 2, raw);
    snapfmt_dicts_destroy(&ds);
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_env_records_meta_dicts)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_meta m, r;
    struct snapfmt_iter *itr = NULL;
    struct snapfmt_dict *d = train(9);
    struct snapfmt_dicts *ds = NULL;
    char err[SNAPFMT_ERR_MAX], key[16];
    const void *k, *rec;
    size_t nk, nrec, n;
    struct snapfmt_txn *txn = NULL;
    struct stat st;
    unsigned count = 0;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    for (unsigned i = 0; i < 100; i++) {
        struct snapfmt_item it;
        snprintf(key, sizeof(key), "key%03u", i);
        it = item_of(key, key, strlen(key));
        ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec, fx.cap, &n),
                         SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_put(txn, key, strlen(key), fx.rec, n,
                                     true), SNAPFMT_OK);
    }
    ck_assert_int_eq(snapfmt_del(txn, "key050", 6), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_del(txn, "nokey", 5), SNAPFMT_OK);
    memset(&m, 0, sizeof(m));
    m.format_version = SNAPFMT_VERSION;
    snprintf(m.writer_version, sizeof(m.writer_version), "test 1");
    m.sequence = 7;
    m.last_commit = 1800000001;
    m.items = 99;
    m.bytes = 12345;
    m.stored_bytes = 6789;
    m.cas_max = 1ULL << 40;
    m.cas_reserved = (1ULL << 40) + 1000;
    m.dict_id = 9;
    ck_assert_int_eq(snapfmt_meta_write(txn, &m), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_dict_put(txn, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, NULL, 0), SNAPFMT_OK);
    snapfmt_dict_destroy(&d);
    snapfmt_env_close(&e);
    ck_assert_ptr_null(e);

    ck_assert_int_eq(stat(fx.dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(key, sizeof(key), "%s", "/data.mdb");

    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, NULL, &r, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_mem_eq(&r, &m, sizeof(m));
    ck_assert_int_eq(snapfmt_dicts_load(e, NULL, 3, &ds, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(snapfmt_dicts_count(ds), 1);
    ck_assert_uint_eq(snapfmt_dicts_max_id(ds), 9);
    ck_assert_int_eq(snapfmt_iter_open(e, NULL, &itr, err, sizeof(err)),
                     SNAPFMT_OK);
    while (snapfmt_iter_next(itr, &k, &nk, &rec, &nrec) == SNAPFMT_OK) {
        struct snapfmt_rec pr;
        char v[16];
        ck_assert_int_eq(snapfmt_decode(fx.raw, ds, k, nk, rec, nrec, &pr, v,
                                        sizeof(v), err, sizeof(err)),
                         SNAPFMT_OK);
        ck_assert(nk == pr.raw_len && memcmp(k, v, nk) == 0);
        ck_assert(memcmp(k, "key050", 6) != 0);
        count++;
    }
    ck_assert_uint_eq(count, 99);
    snapfmt_iter_close(&itr);
    snapfmt_dicts_destroy(&ds);
    snapfmt_env_close(&e);
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

/* Flip every byte of a record in turn: every flip must be detected. */
static void
flip_every_byte(struct snapfmt_codec *c, const struct snapfmt_dicts *ds,
                const struct snapfmt_item *it)
{
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_rec r;
    char *out = malloc(it->nvalue + 1);
    size_t n;

    ck_assert_int_eq(snapfmt_encode(c, it, fx.rec, fx.cap, &n), SNAPFMT_OK);
    for (size_t i = 0; i < n; i++) {
        for (unsigned mask = 1; mask < 256; mask <<= 3) {
            fx.rec[i] ^= (unsigned char)mask;
            err[0] = '\0';
            ck_assert_int_eq(snapfmt_decode(c, ds, it->key, it->nkey, fx.rec,
                                            n, &r, out, it->nvalue, err,
                                            sizeof(err)),
                             SNAPFMT_ECORRUPT);
            ck_assert_ptr_nonnull(strstr(err, it->key));
            fx.rec[i] ^= (unsigned char)mask;
        }
    }
    /* a record under another key is not valid either */
    ck_assert_int_eq(snapfmt_decode(c, ds, "other", 5, fx.rec, n, &r, out,
                                    it->nvalue, err, sizeof(err)),
                     SNAPFMT_ECORRUPT);
    free(out);
}

START_TEST(test_flip_every_byte_raw)
{
    struct snapfmt_item it = item_of("flip", fx.samples, fx.sizes[0]);

    flip_every_byte(fx.raw, NULL, &it);
}
END_TEST

START_TEST(test_flip_every_byte_zstd)
{
    struct snapfmt_item it = item_of("flipz", fx.samples, fx.sizes[0]);

    flip_every_byte(fx.zstd, NULL, &it);
}
END_TEST

START_TEST(test_flip_every_byte_dict)
{
    struct snapfmt_dicts *ds = snapfmt_dicts_create();
    struct snapfmt_dict *d = train(3);
    struct snapfmt_item it = item_of("flipd", fx.samples, fx.sizes[0]);

    ck_assert_int_eq(snapfmt_dicts_add(ds, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, d), SNAPFMT_OK);
    flip_every_byte(fx.zstd, ds, &it);
    snapfmt_dicts_destroy(&ds);
}
END_TEST

/* Re-sign a tampered record, as a forger (or a bug) would. */
static void
resign(unsigned char *rec, size_t n, const char *key)
{
    uint32_t h = (uint32_t)XXH3_64bits_withSeed(
        rec + SNAPFMT_HDR_SIZE, n - SNAPFMT_HDR_SIZE,
        XXH3_64bits_withSeed(key, strlen(key), XXH3_64bits(rec, 36)));

    for (int i = 0; i < 4; i++) {
        rec[36 + i] = (unsigned char)(h >> (8 * i));
    }
}

/*
 * Records with a valid checksum but random fields and payload: past the
 * checksum the decoder must still never crash, overrun or accept a wrong
 * value (ASan/UBSan builds run this too).
 */
START_TEST(test_resigned_garbage)
{
    struct snapfmt_dicts *ds = snapfmt_dicts_create();
    struct snapfmt_dict *d = train(2);
    struct snapfmt_item it = item_of("forged", fx.samples, fx.sizes[5]);
    unsigned char *orig = malloc(fx.cap);
    char err[SNAPFMT_ERR_MAX], out[600];
    struct snapfmt_rec r;
    uint64_t seed = 99;
    size_t n;
    int rc;

    ck_assert_int_eq(snapfmt_dicts_add(ds, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_encode(fx.zstd, &it, orig, fx.cap, &n),
                     SNAPFMT_OK);
    for (unsigned round = 0; round < 20000; round++) {
        memcpy(fx.rec, orig, n);
        for (unsigned k = 1 + rnd(&seed) % 4; k > 0; k--) {
            size_t at = rnd(&seed) % n;
            if (at >= 36 && at < 40) {
                continue;
            }
            fx.rec[at] = (unsigned char)rnd(&seed);
        }
        resign(fx.rec, n, "forged");
        rc = snapfmt_decode(fx.zstd, ds, "forged", 6, fx.rec, n, &r, out,
                            sizeof(out), err, sizeof(err));
        ck_assert(rc == SNAPFMT_OK || rc == SNAPFMT_ECORRUPT ||
                  rc == SNAPFMT_ENODICT || rc == SNAPFMT_EVERSION ||
                  rc == SNAPFMT_ENOSPC);
        if (rc == SNAPFMT_OK) {
            /* only fields outside the value may differ */
            ck_assert_uint_eq(r.raw_len, it.nvalue);
            ck_assert(memcmp(out, it.value, it.nvalue) == 0);
        }
    }
    free(orig);
    snapfmt_dicts_destroy(&ds);
}
END_TEST

START_TEST(test_truncate_every_length)
{
    struct snapfmt_item it = item_of("trunc", fx.samples, fx.sizes[1]);
    char err[SNAPFMT_ERR_MAX], out[600];
    struct snapfmt_rec r;
    size_t n;

    for (int pass = 0; pass < 2; pass++) {
        struct snapfmt_codec *c = pass ? fx.zstd : fx.raw;
        ck_assert_int_eq(snapfmt_encode(c, &it, fx.rec, fx.cap, &n),
                         SNAPFMT_OK);
        for (size_t len = 0; len < n; len++) {
            ck_assert_int_eq(snapfmt_decode(c, NULL, "trunc", 5, fx.rec, len,
                                            &r, out, sizeof(out), err,
                                            sizeof(err)),
                             SNAPFMT_ECORRUPT);
        }
        ck_assert_int_eq(snapfmt_decode(c, NULL, "trunc", 5, fx.rec, n, &r,
                                        out, sizeof(out), err, sizeof(err)),
                         SNAPFMT_OK);
    }
}
END_TEST

START_TEST(test_buffer_caps)
{
    struct snapfmt_item it = item_of("cap", fx.samples, fx.sizes[2]);
    char err[SNAPFMT_ERR_MAX], out[600];
    struct snapfmt_rec r;
    size_t n;

    /* raw record needs header + value: one byte less does not fit */
    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec,
                                    SNAPFMT_HDR_SIZE + it.nvalue - 1, &n),
                     SNAPFMT_ENOSPC);
    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec,
                                    SNAPFMT_HDR_SIZE + it.nvalue, &n),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec, 10, &n),
                     SNAPFMT_ENOSPC);
    /* decompression never goes past the caller's cap */
    ck_assert_int_eq(snapfmt_encode(fx.zstd, &it, fx.rec, fx.cap, &n),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_decode(fx.zstd, NULL, "cap", 3, fx.rec, n, &r,
                                    out, it.nvalue - 1, err, sizeof(err)),
                     SNAPFMT_ENOSPC);
    ck_assert_int_eq(snapfmt_decode(fx.zstd, NULL, "cap", 3, fx.rec, n, &r,
                                    out, it.nvalue, err, sizeof(err)),
                     SNAPFMT_OK);
}
END_TEST

START_TEST(test_large_value)
{
    size_t n = 1 << 20;
    char *v = malloc(n);
    struct snapfmt_item it;

    for (size_t i = 0; i < n; i++) {
        v[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    }
    it = item_of("big", v, n);
    round_trip(fx.zstd, NULL, &it, SNAPFMT_ZSTD);
    round_trip(fx.raw, NULL, &it, SNAPFMT_RAW);
    free(v);
}
END_TEST

START_TEST(test_key_print)
{
    char buf[16];
    char big[300];

    snapfmt_key_print("a b\x01", 4, buf, sizeof(buf));
    ck_assert_str_eq(buf, "a\\x20b\\x01");
    memset(big, 'k', sizeof(big));
    snapfmt_key_print(big, sizeof(big), buf, sizeof(buf));
    ck_assert_uint_lt(strlen(buf), sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "..."));
}
END_TEST

/* Record flags travel in byte 3; an explicit CAS stays out of peek's CAS
 * (the one cas_max is made of) but not out of the record. */
START_TEST(test_rflags_round_trip)
{
    struct snapfmt_item it = item_of("state", "v", 1);
    uint32_t exptime, atime, raw_len;
    uint64_t cas;

    for (unsigned rf = 0; rf <= SNAPFMT_RF_ALL; rf++) {
        it.rflags = rf;
        (void)round_trip(fx.raw, NULL, &it, SNAPFMT_RAW);
        ck_assert_uint_eq(fx.rec[3], rf);
        ck_assert_int_eq(snapfmt_rec_peek(fx.rec, SNAPFMT_HDR_SIZE + 1,
                                          &exptime, &atime, &cas, &raw_len),
                         SNAPFMT_OK);
        ck_assert_uint_eq(cas, (rf & SNAPFMT_RF_CAS_EXPLICIT) ? 0 : it.cas);
        ck_assert_uint_eq(atime, it.atime);
    }
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

/* Set byte AT of the record in fx.rec (N bytes, key KEY) to V and sign it
 * again, as a writer of that content would have. */
static void
set_byte(const char *key, size_t n, size_t at, unsigned char v)
{
    fx.rec[at] = v;
    resign(fx.rec, n, key);
}

/* Version 1 records (reserved byte 3 = 0) are still read; version 1 with
 * flags, or bits no version defines, are damage, never guessed at. */
START_TEST(test_rflags_versions)
{
    struct snapfmt_item it = item_of("old", "v", 1);
    char err[SNAPFMT_ERR_MAX], out[4];
    struct snapfmt_rec r;
    size_t n;

    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec, fx.cap, &n),
                     SNAPFMT_OK);
    set_byte("old", n, 1, 1);
    ck_assert_int_eq(snapfmt_decode(fx.raw, NULL, "old", 3, fx.rec, n, &r,
                                    out, sizeof(out), err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(r.version, 1);
    ck_assert_uint_eq(r.rflags, 0);
    ck_assert_uint_eq(r.cas, it.cas);
    set_byte("old", n, 3, SNAPFMT_RF_STALE);
    ck_assert_int_eq(snapfmt_rec_parse("old", 3, fx.rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "reserved bits 0x02"));
    set_byte("old", n, 1, SNAPFMT_VERSION);
    ck_assert_int_eq(snapfmt_rec_parse("old", 3, fx.rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(r.rflags, SNAPFMT_RF_STALE);
    set_byte("old", n, 3, SNAPFMT_RF_ALL + 1);
    ck_assert_int_eq(snapfmt_rec_parse("old", 3, fx.rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    set_byte("old", n, 1, 0);
    ck_assert_int_eq(snapfmt_rec_parse("old", 3, fx.rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    it.rflags = SNAPFMT_RF_ALL + 1;
    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec, fx.cap, &n),
                     SNAPFMT_EINVAL);
}
END_TEST

START_TEST(test_future_record_version)
{
    struct snapfmt_item it = item_of("future", "v", 1);
    char err[SNAPFMT_ERR_MAX], out[4], want[32];
    struct snapfmt_rec r;
    uint32_t h;
    size_t n;

    ck_assert_int_eq(snapfmt_encode(fx.raw, &it, fx.rec, fx.cap, &n),
                     SNAPFMT_OK);
    fx.rec[1] = SNAPFMT_VERSION + 1;
    /* a genuine newer writer signs its record: recompute the check */
    h = (uint32_t)XXH3_64bits_withSeed(
        fx.rec + SNAPFMT_HDR_SIZE, n - SNAPFMT_HDR_SIZE,
        XXH3_64bits_withSeed("future", 6, XXH3_64bits(fx.rec, 36)));
    for (int i = 0; i < 4; i++) {
        fx.rec[36 + i] = (unsigned char)(h >> (8 * i));
    }
    ck_assert_int_eq(snapfmt_decode(fx.raw, NULL, "future", 6, fx.rec, n, &r,
                                    out, sizeof(out), err, sizeof(err)),
                     SNAPFMT_EVERSION);
    snprintf(want, sizeof(want), "version %u", SNAPFMT_VERSION + 1);
    ck_assert_ptr_nonnull(strstr(err, want));
}
END_TEST

START_TEST(test_missing_dict)
{
    struct snapfmt_dict *d = train(77);
    struct snapfmt_dicts *ds = snapfmt_dicts_create();
    struct snapfmt_item it = item_of("nodict", fx.samples, fx.sizes[3]);
    char err[SNAPFMT_ERR_MAX], out[600];
    struct snapfmt_rec r;
    size_t n;

    ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_encode(fx.zstd, &it, fx.rec, fx.cap, &n),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_decode(fx.zstd, NULL, "nodict", 6, fx.rec, n,
                                    &r, out, sizeof(out), err, sizeof(err)),
                     SNAPFMT_ENODICT);
    ck_assert_ptr_nonnull(strstr(err, "77"));
    ck_assert_int_eq(snapfmt_decode(fx.zstd, ds, "nodict", 6, fx.rec, n, &r,
                                    out, sizeof(out), err, sizeof(err)),
                     SNAPFMT_ENODICT);
    ck_assert_int_eq(snapfmt_codec_set_dict(fx.zstd, NULL), SNAPFMT_OK);
    snapfmt_dict_destroy(&d);
    snapfmt_dicts_destroy(&ds);
}
END_TEST

START_TEST(test_dict_errors)
{
    struct snapfmt_dict *d = NULL;
    struct snapfmt_dicts *ds = snapfmt_dicts_create();
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_dict_train(fx.samples, fx.sizes, 3, 16384, 1, 3,
                                        &d, err, sizeof(err)),
                     SNAPFMT_EZSTD);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(snapfmt_dict_create(0, "x", 1, 3, &d, err, sizeof(err)),
                     SNAPFMT_EINVAL);
    d = train(4);
    ck_assert_int_eq(snapfmt_dicts_add(ds, d), SNAPFMT_OK);
    d = train(4);
    ck_assert_int_eq(snapfmt_dicts_add(ds, d), SNAPFMT_EINVAL);
    ck_assert_uint_eq(snapfmt_dicts_count(ds), 1);
    snapfmt_dicts_destroy(&ds);
}
END_TEST

static void
write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

START_TEST(test_env_future_version)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_txn *txn = NULL;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "format_version", 99),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, NULL, 0), SNAPFMT_OK);
    snapfmt_env_close(&e);
    for (int ro = 0; ro < 2; ro++) {
        ck_assert_int_eq(snapfmt_env_open(fx.dir, ro ? SNAPFMT_RDONLY : 0, 0,
                                          &e, err, sizeof(err)),
                         SNAPFMT_EVERSION);
        ck_assert_ptr_null(e);
        ck_assert_ptr_nonnull(strstr(err, fx.dir));
        ck_assert_ptr_nonnull(strstr(err, "99"));
    }
}
END_TEST

/*
 * Replace every FROM in DIR/FILE by TO (same length), byte by byte, as a
 * program writing its own LMDB file would differ; returns the count.
 */
static unsigned
patch_file(const char *dir, const char *file, const char *from,
           const char *to)
{
    char path[256];
    unsigned char *buf;
    size_t n = strlen(from);
    unsigned count = 0;
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    for (size_t i = 0; i + n <= (size_t)st.st_size; i++) {
        if (memcmp(buf + i, from, n) == 0) {
            ck_assert_int_eq(pwrite(fd, to, n, (off_t)i), (ssize_t)n);
            count++;
        }
    }
    free(buf);
    close(fd);
    return count;
}

START_TEST(test_env_foreign_lmdb)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];

    /* a valid LMDB file whose databases are not ember's: ours with the
     * meta database renamed in LMDB's main database (keys stay sorted) */
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    snapfmt_env_close(&e);
    ck_assert_uint_gt(patch_file(fx.dir, "data.mdb", "meta", "mota"), 0);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_EFOREIGN);
    ck_assert_ptr_nonnull(strstr(err, "not an ember snapshot"));
    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_EFOREIGN);
    ck_assert_ptr_nonnull(strstr(err, "not an ember snapshot"));
    ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_env_garbage_and_strangers)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX], junk[8192];
    char sub[128];
    struct stat st;

    memset(junk, 0x5a, sizeof(junk));
    write_file(fx.dir, "data.mdb", junk, sizeof(junk));
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_ECORRUPT);
    /* nothing was written over */
    ck_assert_int_eq(stat(fx.dir, &st), 0);
    snprintf(sub, sizeof(sub), "%s/data.mdb", fx.dir);
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_int_eq(st.st_size, sizeof(junk));
    unlink(sub);
    write_file(fx.dir, "precious.txt", "x", 1);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_EFOREIGN);
    ck_assert_int_ne(stat(sub, &st), 0);
    snprintf(sub, sizeof(sub), "%s/none", fx.dir);
    ck_assert_int_eq(snapfmt_env_open(sub, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_ENOENT);
    ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_map_full_and_grow)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX], key[16], val[2000];
    uint64_t used, map1, map2;
    struct snapfmt_txn *txn = NULL;
    int rc = SNAPFMT_OK;
    unsigned i;

    memset(val, 'v', sizeof(val));
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 1 << 20, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    snapfmt_env_sizes(e, &used, &map1);
    ck_assert_uint_eq(map1, 1 << 20);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    for (i = 0; i < 2000 && rc == SNAPFMT_OK; i++) {
        snprintf(key, sizeof(key), "k%05u", i);
        rc = snapfmt_put(txn, key, strlen(key), val, sizeof(val), true);
    }
    ck_assert_int_eq(rc, SNAPFMT_EMAPFULL);
    snapfmt_txn_abort(&txn);
    ck_assert_int_eq(snapfmt_env_grow(e, 2 << 20), SNAPFMT_OK);
    snapfmt_env_sizes(e, &used, &map2);
    ck_assert_uint_eq(map2, 2 << 20);
    ck_assert_int_eq(snapfmt_env_grow(e, 2 << 20), SNAPFMT_EMAPFULL);
    ck_assert_int_eq(snapfmt_env_grow(e, 0), SNAPFMT_OK);
    snapfmt_env_sizes(e, &used, &map2);
    ck_assert_uint_eq(map2, 4 << 20);
    snapfmt_env_close(&e);
}
END_TEST

/* A transaction for snapfmt_txn_run(): put meta cas_reserved = P->v. */
struct reserve_probe {
    unsigned calls;
    uint64_t v;
};

static int
reserve_fill(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    struct reserve_probe *p = arg;

    (void)err;
    (void)errlen;
    p->calls++;
    return snapfmt_meta_put_u64(txn, "cas_reserved", p->v);
}

static uint64_t
disk_cas_reserved(struct snapfmt_env *e)
{
    struct snapfmt_meta m;
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_meta_read(e, NULL, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    return m.cas_reserved;
}

START_TEST(test_commit_map_full_grows_and_retries)
{
    size_t map = fmt_fixture_commit_full_map(fx.dir);
    struct reserve_probe p = { 0, 4242 };
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char err[SNAPFMT_ERR_MAX];
    uint64_t used, size;

    /* the put fits, the commit's own pages do not: LMDB's words */
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, map, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "cas_reserved", 1),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, err, sizeof(err)),
                     SNAPFMT_EMAPFULL);
    ck_assert_ptr_null(txn);
    ck_assert_ptr_nonnull(strstr(err, "commit"));
    ck_assert_ptr_nonnull(strstr(err, "MDB_MAP_FULL"));
    /* the runner grows the map and runs the whole transaction again */
    ck_assert_int_eq(snapfmt_txn_run(e, 0, reserve_fill, &p, err,
                                     sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(p.calls, 2);
    snapfmt_env_sizes(e, &used, &size);
    ck_assert_uint_eq(size, 2 * map);
    ck_assert_uint_eq(disk_cas_reserved(e), 4242);
    snapfmt_env_close(&e);

    /* at the limit: SNAPFMT_EMAPFULL naming it, nothing committed */
    fmt_fixture_remove(fx.dir);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, map, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    p.calls = 0;
    ck_assert_int_eq(snapfmt_txn_run(e, map, reserve_fill, &p, err,
                                     sizeof(err)), SNAPFMT_EMAPFULL);
    ck_assert_uint_eq(p.calls, 1);
    ck_assert_msg(strstr(err, "map full at its limit") != NULL &&
                  strstr(err, "commit: MDB_MAP_FULL") != NULL, "%s", err);
    ck_assert_uint_eq(disk_cas_reserved(e), 0);
    snapfmt_env_close(&e);
}
END_TEST

/* A transaction for snapfmt_txn_run() that puts an empty key. */
static int
bad_key_fill(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    return snapfmt_put(txn, "", 0, "v", 1, false);
}

/* A transaction for snapfmt_txn_run(): *ARG records of 2000 bytes. */
static int
many_fill(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    unsigned *calls = arg;
    char key[16], val[2000];
    int rc = SNAPFMT_OK;

    (void)err;
    (void)errlen;
    (*calls)++;
    memset(val, 'v', sizeof(val));
    for (unsigned i = 0; i < 1000 && rc == SNAPFMT_OK; i++) {
        snprintf(key, sizeof(key), "k%05u", i);
        rc = snapfmt_put(txn, key, strlen(key), val, sizeof(val), true);
    }
    return rc;
}

START_TEST(test_txn_run_errors_and_put_map_full)
{
    struct snapfmt_db_stats db;
    unsigned calls = 0;
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];
    uint64_t used, size;
    struct snapfmt_txn *txn = NULL;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 1 << 20, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    /* a fill's failure is returned with the transaction's message */
    ck_assert_int_eq(snapfmt_txn_run(e, 0, bad_key_fill, NULL, err,
                                     sizeof(err)), SNAPFMT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "key of 0 bytes"));
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    snapfmt_env_sizes(e, &used, &size);
    ck_assert_uint_eq(size, 1 << 20);
    /* puts that do not fit: grown and run again until they do */
    ck_assert_int_eq(snapfmt_txn_run(e, 0, many_fill, &calls, err,
                                     sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_ge(calls, 2);
    snapfmt_env_sizes(e, &used, &size);
    ck_assert_uint_ge(size, 2 << 20);
    /* a read-only transaction cannot write */
    ck_assert_int_eq(snapfmt_txn_begin(e, true, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_lt(snapfmt_meta_put_u64(txn, "x", 1), 0);
    ck_assert_ptr_nonnull(strstr(snapfmt_txn_error(txn), "meta x"));
    ck_assert_int_eq(snapfmt_db_stats(txn, SNAPFMT_DB_ITEMS, &db),
                     SNAPFMT_OK);
    ck_assert_uint_eq(db.entries, 1000);
    snapfmt_txn_abort(&txn);
    ck_assert_ptr_null(txn);
    snapfmt_txn_abort(&txn);
    snapfmt_env_close(&e);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "read-only"));
    snapfmt_env_close(&e);
}
END_TEST

static Suite *
snapfmt_suite(void)
{
    Suite *s = suite_create("snapfmt");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(core, test_raw_round_trip);
    tcase_add_test(core, test_zstd_round_trip);
    tcase_add_test(core, test_incompressible_stored_raw);
    tcase_add_test(core, test_empty_value);
    tcase_add_test(core, test_dict_round_trip_and_gain);
    tcase_add_test(core, test_env_records_meta_dicts);
    tcase_add_test(core, test_rflags_round_trip);
    tcase_add_test(limits, test_flip_every_byte_raw);
    tcase_add_test(limits, test_flip_every_byte_zstd);
    tcase_add_test(limits, test_flip_every_byte_dict);
    tcase_add_test(limits, test_truncate_every_length);
    tcase_add_test(limits, test_resigned_garbage);
    tcase_add_test(limits, test_buffer_caps);
    tcase_add_test(limits, test_large_value);
    tcase_add_test(limits, test_key_print);
    tcase_add_test(errors, test_future_record_version);
    tcase_add_test(errors, test_rflags_versions);
    tcase_add_test(errors, test_missing_dict);
    tcase_add_test(errors, test_dict_errors);
    tcase_add_test(errors, test_env_future_version);
    tcase_add_test(errors, test_env_foreign_lmdb);
    tcase_add_test(errors, test_env_garbage_and_strangers);
    tcase_add_test(errors, test_map_full_and_grow);
    tcase_add_test(errors, test_commit_map_full_grows_and_retries);
    tcase_add_test(errors, test_txn_run_errors_and_put_map_full);
    add_damage_tests(errors);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(snapfmt_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
