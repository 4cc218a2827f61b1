/*
 * check_snapfmt_damage.c -- damaged bytes read from a snapshot: nothing
 * read from the file (a record's length, a zstd frame's sizes, the key
 * and value sizes in LMDB's nodes, a dictionary's size) is used before it
 * is checked against the real length, and a page LMDB itself finds broken
 * goes to the assertion handler instead of abort(). Each test damages the
 * bytes the way a disk or a bad copy would and fails (or dies of a
 * signal) without the check it proves. Part of check_snapfmt.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/check_snapfmt.h"
#include "tests/fmt_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

/* ---- helpers ---------------------------------------------------------- */

/* A new snapshot in the fixture's directory: N records PREFIX + i as 5
 * digits, of NVALUE bytes, stored raw, plus dictionary DICT_ID (0: none)
 * of 6000 bytes (on LMDB overflow pages). */
static void
write_snapshot(const char *prefix, unsigned n, size_t nvalue,
               uint32_t dict_id)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    struct snapfmt_meta m = { .format_version = SNAPFMT_VERSION };
    struct snapfmt_dict *d = NULL;
    unsigned char rec[4096], val[4000], dict[6000];
    char key[64], err[SNAPFMT_ERR_MAX];
    size_t len;

    ck_assert(nvalue <= sizeof(val));
    memset(val, 'v', sizeof(val));
    ck_assert_msg(snapfmt_env_open(snapfmt_fx_dir(), 0, 0, &e, err,
                                   sizeof(err)) == SNAPFMT_OK, "%s", err);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    for (unsigned i = 0; i < n; i++) {
        struct snapfmt_item it = { .key = key, .value = val,
                                   .nvalue = (uint32_t)nvalue, .cas = i + 1 };

        snprintf(key, sizeof(key), "%s%05u", prefix, i);
        it.nkey = strlen(key);
        ck_assert_int_eq(snapfmt_encode(c, &it, rec, sizeof(rec), &len),
                         SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_put(txn, key, it.nkey, rec, len, false),
                         SNAPFMT_OK);
        m.items++;
    }
    if (dict_id != 0) {
        for (size_t i = 0; i < sizeof(dict); i++) {
            dict[i] = (unsigned char)(i * 131 + i / 7);
        }
        ck_assert_int_eq(snapfmt_dict_create(dict_id, dict, sizeof(dict), 3,
                                             &d, err, sizeof(err)),
                         SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_dict_put(txn, d), SNAPFMT_OK);
        snapfmt_dict_destroy(&d);
    }
    ck_assert_int_eq(snapfmt_meta_write(txn, &m), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, err, sizeof(err)), SNAPFMT_OK);
    snapfmt_env_close(&e);
    snapfmt_codec_destroy(&c);
}

/* The whole of DIR/data.mdb in a new buffer (*N bytes). */
static unsigned char *
read_data(size_t *n)
{
    char path[512];
    unsigned char *buf;
    FILE *f;
    long size;

    snprintf(path, sizeof(path), "%s/data.mdb", snapfmt_fx_dir());
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void
write_data(const unsigned char *buf, size_t n)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/data.mdb", snapfmt_fx_dir());
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/*
 * LMDB's leaf node (0.9, little-endian): mn_lo, mn_hi (the data size),
 * mn_flags, mn_ksize, all u16, then the key. Set, in every node whose key
 * is the NKEY bytes KEY (old copies of the page too), the data size to
 * DSIZE and the key size to KSIZE. Returns the number of nodes changed.
 */
static unsigned
patch_nodes(const void *key, size_t nkey, uint32_t dsize, uint16_t ksize)
{
    size_t n, changed = 0;
    unsigned char *buf = read_data(&n);

    for (size_t off = 8; off + nkey <= n; off++) {
        unsigned char *node = buf + off - 8;

        if (memcmp(buf + off, key, nkey) != 0 ||
            (node[6] | node[7] << 8) != (int)nkey) {
            continue;
        }
        node[0] = (unsigned char)dsize;
        node[1] = (unsigned char)(dsize >> 8);
        node[2] = (unsigned char)(dsize >> 16);
        node[3] = (unsigned char)(dsize >> 24);
        node[6] = (unsigned char)ksize;
        node[7] = (unsigned char)(ksize >> 8);
        changed++;
    }
    write_data(buf, n);
    free(buf);
    return (unsigned)changed;
}

static struct snapfmt_env *
open_rdonly(void)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];

    ck_assert_msg(snapfmt_env_open(snapfmt_fx_dir(), SNAPFMT_RDONLY, 0, &e,
                                   err, sizeof(err)) == SNAPFMT_OK, "%s",
                  err);
    return e;
}

/* Walk every record of E: the rc the walk ended with; *SEEN records. */
static int
walk_all(struct snapfmt_env *e, unsigned *seen, char *why, size_t cap)
{
    struct snapfmt_iter *it = NULL;
    const void *k, *rec;
    size_t nk, nrec;
    int rc;

    *seen = 0;
    ck_assert_int_eq(snapfmt_iter_open(e, NULL, &it, NULL, 0), SNAPFMT_OK);
    while ((rc = snapfmt_iter_next(it, &k, &nk, &rec, &nrec)) ==
           SNAPFMT_OK) {
        (*seen)++;
    }
    snprintf(why, cap, "%s", snapfmt_txn_error(snapfmt_iter_txn(it)));
    snapfmt_iter_close(&it);
    return rc;
}

/* ---- a record's own lengths ------------------------------------------ */

/*
 * NREC comes from LMDB's node, which nothing checks: a record must be
 * found short or long from its header before the checksum reads it. The
 * record ends right before a page nobody may read; without the check the
 * checksum runs into it (SIGSEGV).
 */
START_TEST(test_record_length_before_reading)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_item it = { .key = "guard", .nkey = 5, .value = "0123456789",
                               .nvalue = 10, .cas = 1 };
    unsigned char *map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_rec r;
    uint32_t e32, a32, raw;
    uint64_t cas;
    unsigned char *rec;
    size_t n;

    ck_assert(map != MAP_FAILED);
    ck_assert_int_eq(snapfmt_encode(c, &it, map, PAGE, &n), SNAPFMT_OK);
    rec = map + PAGE - n;
    memmove(rec, map, n);
    ck_assert_int_eq(mprotect(map + PAGE, PAGE, PROT_NONE), 0);
    ck_assert_int_eq(snapfmt_rec_parse("guard", 5, rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_OK);
    for (size_t more = 1; more <= 2 * PAGE; more *= 2) {
        err[0] = '\0';
        ck_assert_int_eq(snapfmt_rec_parse("guard", 5, rec, n + more, &r,
                                           err, sizeof(err)),
                         SNAPFMT_ECORRUPT);
        ck_assert_msg(strstr(err, "payload length 10 at byte 32, but") !=
                          NULL, "%s", err);
        ck_assert_int_eq(snapfmt_rec_peek(rec, n + more, &e32, &a32, &cas,
                                          &raw), SNAPFMT_ECORRUPT);
    }
    /* shorter than the header says: found the same way */
    ck_assert_int_eq(snapfmt_rec_parse("guard", 5, rec, n - 1, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "but 9 bytes follow the header"));
    ck_assert_int_eq(snapfmt_rec_peek(rec, n - 1, &e32, &a32, &cas, &raw),
                     SNAPFMT_ECORRUPT);
    ck_assert_int_eq(snapfmt_rec_peek(rec, n, &e32, &a32, &cas, &raw),
                     SNAPFMT_OK);
    munmap(map, 2 * PAGE);
    snapfmt_codec_destroy(&c);
}
END_TEST

/*
 * Behind a valid record checksum (a forger, or a writer's bug): the zstd
 * frame must be all of the payload, and the raw length the header
 * promises -- what a reader allocates -- the size the frame states. Found
 * by snapfmt_rec_parse(), before anyone allocates or decompresses.
 */
START_TEST(test_zstd_frame_against_header)
{
    struct snapfmt_codec *c = snapfmt_codec_create(3);
    char val[2000], err[SNAPFMT_ERR_MAX];
    struct snapfmt_item it = { .key = "zf", .nkey = 2, .value = val,
                               .nvalue = sizeof(val), .cas = 1 };
    unsigned char rec[4096];
    struct snapfmt_rec r;
    size_t n;

    for (size_t i = 0; i < sizeof(val); i++) {
        val[i] = (char)('a' + i % 7);
    }
    ck_assert_int_eq(snapfmt_encode(c, &it, rec, sizeof(rec) - 8, &n),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_rec_parse("zf", 2, rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(r.codec, SNAPFMT_ZSTD);
    /* a raw length that is not the frame's */
    fmt_fixture_put32(rec + 28, 1u << 30);
    fmt_fixture_reseal("zf", rec, n);
    ck_assert_int_eq(snapfmt_rec_parse("zf", 2, rec, n, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    ck_assert_msg(strstr(err, "zstd frame holds 2000 bytes, header says "
                              "1073741824") != NULL, "%s", err);
    /* bytes after the frame */
    fmt_fixture_put32(rec + 28, sizeof(val));
    memset(rec + n, 0, 8);
    fmt_fixture_put32(rec + 32, (uint32_t)(n + 8 - SNAPFMT_HDR_SIZE));
    fmt_fixture_reseal("zf", rec, n + 8);
    ck_assert_int_eq(snapfmt_rec_parse("zf", 2, rec, n + 8, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    ck_assert_msg(strstr(err, "is not one zstd frame (bytes after it)") !=
                      NULL, "%s", err);
    /* a frame cut short */
    fmt_fixture_put32(rec + 32, (uint32_t)(n - 4 - SNAPFMT_HDR_SIZE));
    fmt_fixture_reseal("zf", rec, n - 4);
    ck_assert_int_eq(snapfmt_rec_parse("zf", 2, rec, n - 4, &r, err,
                                       sizeof(err)), SNAPFMT_ECORRUPT);
    ck_assert_msg(strstr(err, "is not one zstd frame") != NULL, "%s", err);
    snapfmt_codec_destroy(&c);
}
END_TEST

/* ---- sizes in LMDB's nodes -------------------------------------------- */

/*
 * A record's size in its LMDB node damaged to 8 MiB in a file of a few
 * pages: the walk, a lookup and a prefix range refuse it before anyone
 * reads a byte of it (the checksum would run off the end of the map).
 */
START_TEST(test_lmdb_value_size_past_the_file)
{
    struct snapfmt_env *e;
    struct snapfmt_txn *txn = NULL;
    struct snapfmt_range *rg = NULL;
    const void *k, *rec;
    size_t nk, nrec;
    char why[SNAPFMT_ERR_MAX];
    unsigned seen;

    write_snapshot("node:", 50, 40, 0);
    ck_assert_uint_ge(patch_nodes("node:00025", 10, 8u << 20, 10), 1);
    e = open_rdonly();
    ck_assert_int_eq(walk_all(e, &seen, why, sizeof(why)), SNAPFMT_ECORRUPT);
    ck_assert_uint_eq(seen, 25);
    ck_assert_msg(strstr(why, "a value of 8388608 bytes in items, larger "
                              "than the") != NULL, "%s", why);
    ck_assert_ptr_nonnull(strstr(why, snapfmt_fx_dir()));
    ck_assert_int_eq(snapfmt_txn_begin(e, true, &txn, NULL, 0), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_get(txn, "node:00025", 10, &rec, &nrec),
                     SNAPFMT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(snapfmt_txn_error(txn), "8388608"));
    ck_assert_int_eq(snapfmt_get(txn, "node:00024", 10, &rec, &nrec),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_range_open(txn, "node:0002", 9, &rg, NULL, 0),
                     SNAPFMT_OK);
    for (seen = 0; snapfmt_range_next(rg, &k, &nk, &rec, &nrec) ==
                   SNAPFMT_OK;
         seen++) {
    }
    ck_assert_uint_eq(seen, 5);
    ck_assert_int_eq(snapfmt_range_next(rg, &k, &nk, &rec, &nrec),
                     SNAPFMT_END);
    snapfmt_range_close(&rg);
    snapfmt_txn_abort(&txn);
    snapfmt_env_close(&e);
}
END_TEST

/* A key size out of LMDB's range (0, or past the 511 bytes it allows). */
START_TEST(test_lmdb_key_size_out_of_range)
{
    static const uint16_t bad[] = { 0, 600, 0xffff };
    struct snapfmt_env *e;
    char why[SNAPFMT_ERR_MAX], want[64];
    unsigned seen;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fmt_fixture_remove(snapfmt_fx_dir());
        write_snapshot("kk:", 40, 20, 0);
        ck_assert_uint_ge(patch_nodes("kk:00030", 8, 20 + SNAPFMT_HDR_SIZE,
                                      bad[i]), 1);
        e = open_rdonly();
        ck_assert_int_eq(walk_all(e, &seen, why, sizeof(why)),
                         SNAPFMT_ECORRUPT);
        ck_assert_uint_eq(seen, 30);
        snprintf(want, sizeof(want), "a key of %u bytes in items",
                 (unsigned)bad[i]);
        ck_assert_msg(strstr(why, want) != NULL, "%s", why);
        snapfmt_env_close(&e);
    }
}
END_TEST

/*
 * A dictionary's size damaged to 600 KB: under the 1 MiB any dictionary
 * may have, but past the end of a file of a few pages. Copying it would
 * raise SIGBUS (issue 11 item 1, in a smaller file).
 */
START_TEST(test_dict_size_past_the_file)
{
    static const unsigned char id7[4] = { 7, 0, 0, 0 };
    struct snapfmt_dicts *ds = NULL;
    struct snapfmt_env *e;
    char err[SNAPFMT_ERR_MAX];

    write_snapshot("d:", 10, 20, 7);
    ck_assert_uint_eq(patch_nodes(id7, 4, 600000, 4), 1);
    e = open_rdonly();
    ck_assert_int_eq(snapfmt_dicts_load(e, NULL, 3, &ds, err, sizeof(err)),
                     SNAPFMT_ECORRUPT);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err, "a value of 600000 bytes in dicts, larger "
                              "than the") != NULL, "%s", err);
    snapfmt_env_close(&e);
}
END_TEST

/* ---- pages LMDB finds broken ------------------------------------------ */

static void
exit_42_on_is_leaf(const char *dir, const char *what)
{
    /* the test's verdict is its exit status: 42 only when LMDB's own
     * words and the environment's directory arrived */
    _exit(strcmp(dir, snapfmt_fx_dir()) == 0 &&
                  strstr(what, "IS_LEAF") != NULL
              ? 42
              : 43);
}

/*
 * A leaf page zeroed: walking into it, LMDB fails its IS_LEAF assertion.
 * With a handler set, LMDB calls it (naming the directory) instead of
 * printing and calling abort(). Registered as an exit test: the handler
 * ends the process with 42; without the hook the test dies of SIGABRT.
 */
START_TEST(test_lmdb_assert_goes_to_handler)
{
    static const unsigned char zeros[PAGE];
    struct snapfmt_env *e;
    unsigned char *buf;
    char why[SNAPFMT_ERR_MAX];
    unsigned seen;
    size_t n;

    write_snapshot("leaf:", 2000, 100, 0);
    buf = read_data(&n);
    for (size_t off = 0; off + 10 <= n; off++) {
        if (memcmp(buf + off, "leaf:01999", 10) == 0) {
            memcpy(buf + off / PAGE * PAGE, zeros, PAGE);
        }
    }
    write_data(buf, n);
    free(buf);
    snapfmt_set_assert_handler(exit_42_on_is_leaf);
    e = open_rdonly();
    (void)walk_all(e, &seen, why, sizeof(why));
    ck_abort_msg("the walk into a zeroed leaf ended (%u records): %s", seen,
                 why);
}
END_TEST

void
add_damage_tests(TCase *errors)
{
    tcase_add_test(errors, test_record_length_before_reading);
    tcase_add_test(errors, test_zstd_frame_against_header);
    tcase_add_test(errors, test_lmdb_value_size_past_the_file);
    tcase_add_test(errors, test_lmdb_key_size_out_of_range);
    tcase_add_test(errors, test_dict_size_past_the_file);
    tcase_add_exit_test(errors, test_lmdb_assert_goes_to_handler, 42);
}
