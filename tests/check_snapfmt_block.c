/*
 * check_snapfmt_block.c -- format 3's blocks (format_block.c): records
 * sealed into a block and read back (raw and zstd), and damaged blocks:
 * every byte flipped, every length cut, and sizes, counts, codecs and
 * records made wrong behind valid checksums (resealed, as a writer with
 * a bug would leave them) -- each an SNAPFMT_ECORRUPT (or EVERSION) with
 * a message naming the block, never a crash or a read past the bytes.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/check_snapfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define NREC 40

/* A block being built: its records' raw bytes and what seals it. */
struct bfx {
    unsigned char raw[64 << 10];
    size_t nraw;
    char keys[NREC][16];
    size_t order[NREC];       /* indexes of keys in snapshot order */
    unsigned char val[SNAPFMT_BLOCK_HDR + (80 << 10)];
    size_t nval;
    unsigned char key[SNAPFMT_BKEY_MAX];
    size_t nkey;
    unsigned char out[64 << 10];
};

static struct bfx *bx;

static int
by_order(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;

    return snapfmt_key_order(snapfmt_key_hash(bx->keys[a],
                                              strlen(bx->keys[a])),
                             bx->keys[a], strlen(bx->keys[a]),
                             snapfmt_key_hash(bx->keys[b],
                                              strlen(bx->keys[b])),
                             bx->keys[b], strlen(bx->keys[b]));
}

/* NREC records (the 5th a tombstone) sealed with a codec of LEVEL. */
static void
build(int level)
{
    struct snapfmt_codec *c = snapfmt_codec_create(level);
    struct snapfmt_bseal s = { .run = 7, .raw = NULL };
    const char *last;

    bx = calloc(1, sizeof(*bx));
    ck_assert_ptr_nonnull(bx);
    ck_assert_ptr_nonnull(c);
    for (size_t i = 0; i < NREC; i++) {
        snprintf(bx->keys[i], sizeof(bx->keys[i]), "user:%zu", i);
        bx->order[i] = i;
    }
    qsort(bx->order, NREC, sizeof(bx->order[0]), by_order);
    for (size_t j = 0; j < NREC; j++) {
        size_t i = bx->order[j];
        char v[64];
        struct snapfmt_brec r = {
            .type = i == 4 ? SNAPFMT_B_TOMB : SNAPFMT_B_ITEM,
            .rflags = SNAPFMT_RF_FETCHED, .flags = (uint32_t)i,
            .exptime = 1900000000, .atime = 1800000000, .cas = 100 + i,
            .key = bx->keys[i], .nkey = strlen(bx->keys[i]), .value = v,
        };

        r.nvalue = (uint32_t)snprintf(v, sizeof(v), "{\"id\":%zu,\"name\":"
                                      "\"value of a user\"}", i);
        bx->nraw += snapfmt_brec_put(&r, bx->raw + bx->nraw);
    }
    last = bx->keys[bx->order[NREC - 1]];
    s.raw = bx->raw;
    s.raw_len = bx->nraw;
    s.nrec = NREC;
    s.first_hash = snapfmt_key_hash(bx->keys[bx->order[0]],
                                    strlen(bx->keys[bx->order[0]]));
    s.last_hash = snapfmt_key_hash(last, strlen(last));
    s.last_key = last;
    s.last_nkey = strlen(last);
    ck_assert_int_eq(snapfmt_block_seal(c, &s, bx->val, sizeof(bx->val),
                                        &bx->nval, bx->key, &bx->nkey),
                     SNAPFMT_OK);
    ck_assert_uint_eq(bx->val[2], level > 0 ? SNAPFMT_ZSTD : SNAPFMT_RAW);
    snapfmt_codec_destroy(&c);
}

static void
unbuild(void)
{
    free(bx);
    bx = NULL;
}

/* Parse, decode and walk VAL under KEY; the first failure's rc (ERR),
 * SNAPFMT_OK when every record came out, *NREC how many did. */
static int
read_all(const void *key, size_t nkey, const void *val, size_t nval,
         unsigned *nrec, char *err, size_t errlen)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_block b;
    struct snapfmt_bwalk w;
    struct snapfmt_brec r;
    int rc;

    *nrec = 0;
    rc = snapfmt_block_parse(key, nkey, val, nval, &b, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_block_decode(c, &b, bx->out, sizeof(bx->out), err,
                                  errlen);
    }
    if (rc == SNAPFMT_OK) {
        snapfmt_bwalk_init(&w, &b, bx->out);
        while ((rc = snapfmt_bwalk_next(&w, &r, err, errlen)) ==
               SNAPFMT_OK) {
            (*nrec)++;
        }
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
    }
    snapfmt_codec_destroy(&c);
    return rc;
}

/* bcheck (format.h): bytes 0..39, seeding the key's hash, the payload's. */
static void
reseal(unsigned char *val, size_t nval)
{
    XXH64_hash_t x = XXH3_64bits(val, 40);

    x = XXH3_64bits_withSeed(bx->key, bx->nkey, x);
    x = XXH3_64bits_withSeed(val + SNAPFMT_BLOCK_HDR,
                             nval - SNAPFMT_BLOCK_HDR, x);
    for (int i = 0; i < 8; i++) {
        val[40 + i] = (unsigned char)(x >> (8 * i));
    }
}

static void
put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* A raw block's payload changed: rcheck and bcheck made to match it. */
static void
reseal_raw(unsigned char *val, size_t nval)
{
    XXH64_hash_t x = XXH3_64bits(val + SNAPFMT_BLOCK_HDR,
                                 nval - SNAPFMT_BLOCK_HDR);

    for (int i = 0; i < 8; i++) {
        val[24 + i] = (unsigned char)(x >> (8 * i));
    }
    reseal(val, nval);
}

/* Expect RC and WANT in the message, which names the block. */
static void
expect(int got, int rc, const char *err, const char *want)
{
    ck_assert_msg(got == rc, "rc %d, want %d: %s", got, rc, err);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' not in '%s'", want, err);
    ck_assert_msg(strstr(err, "block") != NULL, "no block named: %s", err);
}

START_TEST(test_block_round_trip)
{
    char err[SNAPFMT_ERR_MAX] = "";
    unsigned n;

    for (int level = 0; level <= 3; level += 3) {
        struct snapfmt_codec *c = snapfmt_codec_create(0);
        struct snapfmt_block b;
        struct snapfmt_bwalk w;
        struct snapfmt_brec r;
        size_t j = 0;

        build(level);
        ck_assert_int_eq(read_all(bx->key, bx->nkey, bx->val, bx->nval, &n,
                                  err, sizeof(err)), SNAPFMT_OK);
        ck_assert_uint_eq(n, NREC);
        ck_assert_int_eq(snapfmt_block_parse(bx->key, bx->nkey, bx->val,
                                             bx->nval, &b, err, sizeof(err)),
                         SNAPFMT_OK);
        ck_assert_uint_eq(b.run, 7);
        ck_assert_uint_eq(b.nrec, NREC);
        ck_assert_uint_eq(b.raw_len, bx->nraw);
        if (level > 0) {
            ck_assert_uint_lt(bx->nval, bx->nraw);   /* it compressed */
        }
        ck_assert_int_eq(snapfmt_block_decode(c, &b, bx->out,
                                              sizeof(bx->out), err,
                                              sizeof(err)), SNAPFMT_OK);
        snapfmt_bwalk_init(&w, &b, bx->out);
        while (snapfmt_bwalk_next(&w, &r, err, sizeof(err)) == SNAPFMT_OK) {
            size_t i = bx->order[j++];

            ck_assert_uint_eq(r.nkey, strlen(bx->keys[i]));
            ck_assert(memcmp(r.key, bx->keys[i], r.nkey) == 0);
            ck_assert_uint_eq(r.type, i == 4 ? SNAPFMT_B_TOMB
                                             : SNAPFMT_B_ITEM);
            ck_assert_uint_eq(r.cas, i == 4 ? 0 : 100 + i);
            ck_assert_uint_eq(r.flags, i == 4 ? 0 : i);
            ck_assert_uint_eq(r.nvalue == 0, i == 4);
        }
        ck_assert_uint_eq(j, NREC);
        /* a buffer one byte short is refused, not overrun */
        ck_assert_int_eq(snapfmt_block_decode(c, &b, bx->out, b.raw_len - 1,
                                              err, sizeof(err)),
                         SNAPFMT_ENOSPC);
        snapfmt_codec_destroy(&c);
        unbuild();
    }
}
END_TEST

/* Every byte of the value and of the key flipped: refused. */
START_TEST(test_block_flip_every_byte)
{
    char err[SNAPFMT_ERR_MAX];
    unsigned n;

    for (int level = 0; level <= 3; level += 3) {
        build(level);
        for (size_t i = 0; i < bx->nval; i++) {
            bx->val[i] ^= 0x20;
            err[0] = '\0';
            ck_assert_msg(read_all(bx->key, bx->nkey, bx->val, bx->nval, &n,
                                   err, sizeof(err)) == SNAPFMT_ECORRUPT,
                          "byte %zu flipped was read", i);
            ck_assert_ptr_nonnull(strstr(err, "block"));
            bx->val[i] ^= 0x20;
        }
        for (size_t i = 0; i < bx->nkey; i++) {
            bx->key[i] ^= 0x01;
            ck_assert_int_eq(read_all(bx->key, bx->nkey, bx->val, bx->nval,
                                      &n, err, sizeof(err)),
                             SNAPFMT_ECORRUPT);
            bx->key[i] ^= 0x01;
        }
        unbuild();
    }
}
END_TEST

/* Every length short of the whole value, and the key cut: refused. */
START_TEST(test_block_truncated)
{
    char err[SNAPFMT_ERR_MAX];
    unsigned n;

    build(3);
    for (size_t len = 0; len < bx->nval; len++) {
        ck_assert_int_eq(read_all(bx->key, bx->nkey, bx->val, len, &n, err,
                                  sizeof(err)), SNAPFMT_ECORRUPT);
    }
    expect(read_all(bx->key, bx->nkey, bx->val, 47, &n, err, sizeof(err)),
           SNAPFMT_ECORRUPT, err, "truncated: 47 bytes");
    expect(read_all(bx->key, bx->nkey, bx->val, bx->nval - 1, &n, err,
                    sizeof(err)), SNAPFMT_ECORRUPT, err,
           "bytes follow the header (truncated or damaged)");
    expect(read_all(bx->key, 16, bx->val, bx->nval, &n, err, sizeof(err)),
           SNAPFMT_ECORRUPT, err, "block keys have 17 to 271 bytes");
    unbuild();
}
END_TEST

/* Header fields wrong behind a valid bcheck. */
START_TEST(test_block_bad_header_resealed)
{
    char err[SNAPFMT_ERR_MAX];
    unsigned char *v;
    unsigned n;

    build(3);
    v = malloc(bx->nval);
    ck_assert_ptr_nonnull(v);
#define EDIT(stmt, rc, want) do {                                           \
        memcpy(v, bx->val, bx->nval);                                      \
        stmt;                                                               \
        reseal(v, bx->nval);                                                \
        expect(read_all(bx->key, bx->nkey, v, bx->nval, &n, err,            \
                        sizeof(err)), rc, err, want);                       \
    } while (0)
    EDIT(v[1] = SNAPFMT_VERSION + 1, SNAPFMT_EVERSION,
         "block format version 4, this build reads 3");
    EDIT(v[1] = 2, SNAPFMT_ECORRUPT, "block format version 2");
    EDIT(v[2] = 9, SNAPFMT_ECORRUPT, "unknown codec 9");
    EDIT(v[3] = 1, SNAPFMT_ECORRUPT, "reserved header bytes");
    EDIT(v[33] = 1, SNAPFMT_ECORRUPT, "reserved header bytes");
    EDIT(put32(v + 4, 0), SNAPFMT_ECORRUPT, "0 records cannot be");
    EDIT(put32(v + 4, 100000), SNAPFMT_ECORRUPT,
         "100000 records cannot be");
    EDIT(put32(v + 4, NREC + 1), SNAPFMT_ECORRUPT,
         "records and raw length disagree with the header");
    EDIT(put32(v + 4, NREC - 1), SNAPFMT_ECORRUPT,
         "records and raw length disagree with the header");
    EDIT(put32(v + 8, (uint32_t)bx->nraw + 1), SNAPFMT_ECORRUPT,
         "zstd frame holds");
    EDIT(put32(v + 8, SNAPFMT_BLOCK_MAX + 1), SNAPFMT_ECORRUPT,
         "records cannot be");
    EDIT(v[2] = SNAPFMT_RAW, SNAPFMT_ECORRUPT,
         "raw block with raw length");
    EDIT(v[16] ^= 1, SNAPFMT_ECORRUPT, "not the header's first_hash");
    EDIT(v[24] ^= 1, SNAPFMT_ECORRUPT, "raw checksum at byte 24");
    /* the zstd frame damaged, its checksum made to match */
    EDIT(v[SNAPFMT_BLOCK_HDR + 10] ^= 0x55, SNAPFMT_ECORRUPT, "block");
#undef EDIT
    free(v);
    unbuild();
}
END_TEST

/* Records wrong inside a raw block whose checksums all match. */
START_TEST(test_block_bad_records_resealed)
{
    char err[SNAPFMT_ERR_MAX];
    unsigned char *v, *rec0;
    unsigned n;

    build(0);
    v = malloc(bx->nval);
    ck_assert_ptr_nonnull(v);
    rec0 = v + SNAPFMT_BLOCK_HDR;
#define EDIT(stmt, want) do {                                               \
        memcpy(v, bx->val, bx->nval);                                      \
        stmt;                                                               \
        reseal_raw(v, bx->nval);                                            \
        expect(read_all(bx->key, bx->nkey, v, bx->nval, &n, err,            \
                        sizeof(err)), SNAPFMT_ECORRUPT, err, want);         \
    } while (0)
    EDIT(rec0[0] = 3, "record 1 at raw byte 0: unknown record type");
    EDIT(rec0[3] = 1, "record 1 at raw byte 0: reserved bits set");
    EDIT(rec0[1] = 0x80, "record 1 at raw byte 0: reserved bits set");
    EDIT(rec0[2] = 0, "record 1 at raw byte 0: empty key");
    EDIT(put32(rec0 + 24, 0xffffffffu),
         "record 1 at raw byte 0: key and value run past the block");
    EDIT(put32(rec0 + 24, (uint32_t)bx->nraw),
         "record 1 at raw byte 0: key and value run past the block");
    /* a value one byte longer: the next record starts one byte late */
    EDIT(rec0[24]++, "record 2 at raw byte");
    /* the first key's last byte: out of its place, or not first_hash */
    EDIT(rec0[SNAPFMT_BREC_HDR + 5] ^= 1, "first_hash");
    /* an item made a tombstone keeps its fields: refused */
    EDIT(rec0[0] = SNAPFMT_B_TOMB, "tombstone with item fields");
#undef EDIT
    free(v);
    unbuild();
}
END_TEST

/* Blocks sealed wrong are refused by the writer's side too. */
START_TEST(test_block_seal_refuses)
{
    struct snapfmt_codec *c = snapfmt_codec_create(3);
    unsigned char raw[64], out[256], key[SNAPFMT_BKEY_MAX];
    struct snapfmt_bseal s = { .run = 1, .raw = raw, .raw_len = 40,
                               .nrec = 0, .last_key = "k", .last_nkey = 1 };
    size_t nout, nkey;

    memset(raw, 0, sizeof(raw));
    ck_assert_int_eq(snapfmt_block_seal(c, &s, out, sizeof(out), &nout, key,
                                        &nkey), SNAPFMT_EINVAL);
    s.nrec = 2;
    s.raw_len = SNAPFMT_BLOCK_MAX + 1;
    ck_assert_int_eq(snapfmt_block_seal(c, &s, out, sizeof(out), &nout, key,
                                        &nkey), SNAPFMT_EINVAL);
    s.raw_len = 40;
    s.last_nkey = 0;
    ck_assert_int_eq(snapfmt_block_seal(c, &s, out, sizeof(out), &nout, key,
                                        &nkey), SNAPFMT_EINVAL);
    s.last_nkey = 1;
    ck_assert_int_eq(snapfmt_block_seal(c, &s, out, 60, &nout, key, &nkey),
                     SNAPFMT_ENOSPC);
    snapfmt_codec_destroy(&c);
}
END_TEST

void
add_block_tests(TCase *limits, TCase *errors)
{
    tcase_add_test(limits, test_block_round_trip);
    tcase_add_test(limits, test_block_flip_every_byte);
    tcase_add_test(limits, test_block_truncated);
    tcase_add_test(errors, test_block_bad_header_resealed);
    tcase_add_test(errors, test_block_bad_records_resealed);
    tcase_add_test(errors, test_block_seal_refuses);
}
