/*
 * check_embersnap3.c -- embersnap over a format 3 snapshot: the known
 * data set of check_embersnap.c rewritten as blocks of runs (three
 * records a block, so keys span blocks), read by the same commands
 * (ls, get, load run from check_embersnap.c's core tests) and the views
 * that differ from format 2 (verify, info, dump order, an incremental
 * run with a tombstone and a replaced key).
 */
#include "config.h"

#include "tests/check_embersnap.h"
#include "tests/fmt_fixture.h"

#include <stdlib.h>

/* One item of the data set, decoded and copied. */
struct item3 {
    struct snapfmt_brec r;
    unsigned char key[256];
    unsigned char *val;
};

static int
item3_cmp(const void *pa, const void *pb)
{
    const struct item3 *a = pa, *b = pb;

    return snapfmt_key_order(a->r.hash, a->r.key, a->r.nkey, b->r.hash,
                             b->r.key, b->r.nkey);
}

/* The items of the fixture's "items", decoded, in snapshot order. */
static struct item3 *
read_items(struct snapfmt_env *e, struct snapfmt_txn *txn, size_t *n)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_dicts *ds = NULL;
    struct snapfmt_range *rg = NULL;
    struct item3 *v = calloc(64, sizeof(*v));
    char err[SNAPFMT_ERR_MAX];
    const void *key, *rec;
    size_t nkey, nrec;
    struct snapfmt_rec r;

    ck_assert(c != NULL && v != NULL);
    ck_assert_int_eq(snapfmt_dicts_load(e, txn, 3, &ds, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_range_open(txn, NULL, 0, &rg, err, sizeof(err)),
                     SNAPFMT_OK);
    *n = 0;
    while (snapfmt_range_next(rg, &key, &nkey, &rec, &nrec) == SNAPFMT_OK) {
        struct item3 *it = &v[(*n)++];

        ck_assert_uint_lt(*n, 64);
        ck_assert_int_eq(snapfmt_rec_parse(key, nkey, rec, nrec, &r, err,
                                           sizeof(err)), SNAPFMT_OK);
        it->val = malloc(r.raw_len + 1);
        ck_assert_int_eq(snapfmt_rec_value(c, ds, &r, key, nkey, it->val,
                                           r.raw_len, err, sizeof(err)),
                         SNAPFMT_OK);
        memcpy(it->key, key, nkey);
        it->r = (struct snapfmt_brec){
            .type = SNAPFMT_B_ITEM, .rflags = r.rflags, .flags = r.flags,
            .exptime = r.exptime, .atime = r.atime, .cas = r.cas,
            .hash = snapfmt_key_hash(key, nkey), .key = it->key,
            .nkey = nkey, .value = it->val, .nvalue = r.raw_len,
        };
    }
    snapfmt_range_close(&rg);
    snapfmt_dicts_destroy(&ds);
    snapfmt_codec_destroy(&c);
    qsort(v, *n, sizeof(*v), item3_cmp);
    for (size_t i = 0; i < *n; i++) {
        v[i].r.key = v[i].key;  /* the structs moved */
    }
    return v;
}

/* Seal V[0..N) as blocks of run RUN, three records a block, into TXN;
 * adds to M's blocks, records and stored_bytes. */
static void
put_run(struct snapfmt_txn *txn, uint64_t run, const struct item3 *v,
        size_t n, struct snapfmt_meta *m)
{
    struct snapfmt_codec *z = snapfmt_codec_create(3);
    unsigned char raw[8192], val[9000], key[SNAPFMT_BKEY_MAX];
    size_t nval, nkey;

    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3, off = 0;
        struct snapfmt_bseal s = { .run = run, .raw = raw, .nrec = k };

        for (size_t j = i; j < i + k; j++) {
            off += snapfmt_brec_put(&v[j].r, raw + off);
        }
        s.raw_len = off;
        s.first_hash = v[i].r.hash;
        s.last_hash = v[i + k - 1].r.hash;
        s.last_key = v[i + k - 1].r.key;
        s.last_nkey = v[i + k - 1].r.nkey;
        ck_assert_int_eq(snapfmt_block_seal(z, &s, val, sizeof(val), &nval,
                                            key, &nkey), SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_block_put(txn, key, nkey, val, nval),
                         SNAPFMT_OK);
        m->blocks++;
        m->records += k;
        m->stored_bytes += nkey + nval;
    }
    snapfmt_codec_destroy(&z);
}

/* The fixture's data set, as format 3: one run, no records in items. */
void
setup3(void)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn;
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_meta m;
    struct item3 *v;
    size_t n;

    setup();
    txn = begin_rw(&e);
    ck_assert_int_eq(snapfmt_meta_read(e, txn, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    v = read_items(e, txn, &n);
    ck_assert_uint_eq(n, 10);
    m.format_version = 3;
    m.base_run = 1;
    m.run_end = 2;
    m.blocks = m.records = m.stored_bytes = 0;
    put_run(txn, 1, v, n, &m);
    m.base_records = m.records;
    ck_assert_int_eq(snapfmt_items_clear(txn), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_write(txn, &m), SNAPFMT_OK);
    done(&e, txn);
    fx.meta = m;
    for (size_t i = 0; i < n; i++) {
        free(v[i].val);
    }
    free(v);
}

START_TEST(test_format3_verify_info)
{
    char want[256];

    snprintf(want, sizeof(want), "verify: %s: 10 records (9 live, 1 "
             "expired), 10 stored in 4 blocks of 1 runs, 0 problems\n"
             "verify: on start: every policy loads the 9 live items\n",
             fx.dir);
    ck_assert_msg(run("verify", "@", NULL) == ES_EXIT_OK, "%s%s", fx.out,
                  fx.err);
    ck_assert_str_eq(fx.out, want);
    ck_assert_str_eq(fx.err, "");
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "format:        3 (written by ember test)\n");
    HAS(fx.out, "items:         10 (meta 10): 9 live, 1 expired\n");
    HAS(fx.out, "runs:          1 (base 1, incremental 2..1), 4 blocks, "
                "10 records (10 in the base, 10 items)\n");
    HAS(fx.out, "raw/stored:    ");
}
END_TEST

/* get: each key found by one seek per run, its block decoded. */
START_TEST(test_format3_get)
{
    char big[1000];

    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 5);
    ck_assert(memcmp(fx.out, "hello", 5) == 0);
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(run("get", "user:2", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, sizeof(big));
    ck_assert(memcmp(fx.out, big, sizeof(big)) == 0);
    for (unsigned i = 0; i < NDOCS; i++) {
        char key[16];

        snprintf(key, sizeof(key), "doc:%u", i);
        ck_assert_int_eq(run("get", key, "@", NULL), ES_EXIT_OK);
        ck_assert_uint_eq(fx.nout, fx.ndoc[i]);
        ck_assert(memcmp(fx.out, fx.docs[i], fx.ndoc[i]) == 0);
    }
    ck_assert_int_eq(run("get", "--meta", "user:2", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "key:       user:2\nsize:      1000\nflags:     0\n"
                "exptime:   1700003600\nttl:       3600\ncas:       12\n");
    ck_assert_int_eq(run("get", "nope", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_uint_eq(fx.nout, 0);
    HAS(fx.err, "nope: not in the snapshot");
    ck_assert_int_eq(run("get", "session:abc", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "expired 10 s ago");
}
END_TEST

/* dump: every live item, in snapshot order (not key order). */
START_TEST(test_format3_dump)
{
    ck_assert_msg(run("dump", "--prefix=user:", "@", NULL) == ES_EXIT_OK,
                  "%s%s", fx.out, fx.err);
    ck_assert_uint_eq(count_lines(fx.out), 3);
    HAS(fx.out, "{\"key\":\"user:1\",\"flags\":7,\"exptime\":0,"
                "\"cas\":11,\"value\":\"aGVsbG8=\"}\n");
    HAS(fx.out, "{\"key\":\"user:3\",\"flags\":0,\"exptime\":1700000100,"
                "\"cas\":13,\"value\":\"\"}\n");
    ck_assert_int_eq(run("dump", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 9);      /* session:abc expired */
    HASNT(fx.out, "session:abc");
}
END_TEST

/* An incremental run over the base: user:1 replaced, plain deleted. */
START_TEST(test_format3_incremental_run)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);
    struct item3 v[2];
    char want[256];

    memset(v, 0, sizeof(v));
    v[0].r = (struct snapfmt_brec){ .type = SNAPFMT_B_ITEM, .cas = 50,
                                    .key = "user:1", .nkey = 6,
                                    .value = "HELLO", .nvalue = 5 };
    v[1].r = (struct snapfmt_brec){ .type = SNAPFMT_B_TOMB,
                                    .key = "plain", .nkey = 5 };
    for (int i = 0; i < 2; i++) {
        v[i].r.hash = snapfmt_key_hash(v[i].r.key, v[i].r.nkey);
    }
    qsort(v, 2, sizeof(v[0]), item3_cmp);
    for (size_t i = 0; i < 2; i++) {
        put_run(txn, 2, &v[i], 1, &fx.meta);  /* one a block */
    }
    fx.meta.run_end = 3;
    fx.meta.items = 9;                  /* plain gone, user:1 replaced */
    fx.meta.bytes -= 5 + 12;            /* plain's key and value */
    fx.meta.cas_max = 50;
    fx.meta.cas_reserved = 1000;
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    done(&e, txn);
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 5);
    ck_assert(memcmp(fx.out, "HELLO", 5) == 0);
    ck_assert_int_eq(run("get", "plain", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "deleted in run 2");
    ck_assert_int_eq(run("ls", "--prefix=plain", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "      SIZE      FLAGS        TTL"
                             "                  CAS  KEY\n");
    snprintf(want, sizeof(want), "verify: %s: 9 records (8 live, 1 "
             "expired), 12 stored in 6 blocks of 2 runs, 0 problems\n"
             "verify: on start: every policy loads the 8 live items\n",
             fx.dir);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, want);
}
END_TEST

void
add_format3_tests(TCase *tc)
{
    tcase_add_test(tc, test_format3_verify_info);
    tcase_add_test(tc, test_format3_get);
    tcase_add_test(tc, test_format3_dump);
    tcase_add_test(tc, test_format3_incremental_run);
}
