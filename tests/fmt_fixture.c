/*
 * fmt_fixture.c -- test-only helpers on the snapshot format API
 * (fmt_fixture.h).
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/fmt_fixture.h"

#include <check.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

void
fmt_fixture_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

void
fmt_fixture_reseal(const char *key, unsigned char *rec, size_t n)
{
    XXH64_hash_t h = XXH3_64bits(rec, 36);

    h = XXH3_64bits_withSeed(key, strlen(key), h);
    h = XXH3_64bits_withSeed(rec + SNAPFMT_HDR_SIZE, n - SNAPFMT_HDR_SIZE, h);
    fmt_fixture_put32(rec + 36, (uint32_t)h);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void
fmt_fixture_rmtree(const char *path)
{
    nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

void
fmt_fixture_edit_record(const char *dir, const char *key,
                        void (*edit)(unsigned char *rec, size_t *n))
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char err[SNAPFMT_ERR_MAX];
    unsigned char *copy;
    const void *rec;
    size_t n;

    ck_assert_msg(snapfmt_env_open(dir, 0, 0, &e, err, sizeof(err)) ==
                      SNAPFMT_OK, "%s", err);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_get(txn, key, strlen(key), &rec, &n),
                     SNAPFMT_OK);
    copy = malloc(n);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, rec, n);
    edit(copy, &n);
    ck_assert_int_eq(snapfmt_put(txn, key, strlen(key), copy, n, false),
                     SNAPFMT_OK);
    ck_assert_msg(snapfmt_txn_commit(&txn, err, sizeof(err)) == SNAPFMT_OK,
                  "%s", err);
    snapfmt_env_close(&e);
    free(copy);
}

void
fmt_fixture_remove(const char *dir)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
}

/*
 * In a fresh environment of MAP bytes (false when creating it needed a
 * bigger map), one write transaction putting cas_reserved: *PUT_RC gets
 * the put's result, the return value the commit's (or the put's).
 */
static bool
probe(const char *dir, size_t map, int *put_rc, int *rc)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char err[SNAPFMT_ERR_MAX];
    uint64_t used, size;

    fmt_fixture_remove(dir);
    ck_assert_msg(snapfmt_env_open(dir, 0, map, &e, err, sizeof(err)) ==
                      SNAPFMT_OK, "%s", err);
    snapfmt_env_sizes(e, &used, &size);
    if (size != map) {
        snapfmt_env_close(&e);
        return false;
    }
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    *put_rc = snapfmt_meta_put_u64(txn, "cas_reserved", 1000);
    if (*put_rc == SNAPFMT_OK) {
        *rc = snapfmt_txn_commit(&txn, err, sizeof(err));
    } else {
        *rc = *put_rc;
        snapfmt_txn_abort(&txn);
    }
    snapfmt_env_close(&e);
    return true;
}

size_t
fmt_fixture_commit_full_map(const char *dir)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int put_rc, rc;

    for (size_t pages = 2; pages <= 64; pages++) {
        if (probe(dir, pages * page, &put_rc, &rc) &&
            put_rc == SNAPFMT_OK && rc == SNAPFMT_EMAPFULL) {
            fmt_fixture_remove(dir);
            return pages * page;
        }
    }
    ck_abort_msg("no map size where the put fits and the commit does not");
    return 0;
}

/* ---- format 3 ---------------------------------------------------------- */

/* Whether the block KEY/VAL holds KNAME; C decodes. */
static bool
block_holds(struct snapfmt_codec *c, const void *key, size_t nkey,
            const void *val, size_t nval, const char *kname)
{
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_block b;
    struct snapfmt_bwalk w;
    struct snapfmt_brec r;
    unsigned char *raw;
    bool found = false;

    ck_assert_msg(snapfmt_block_parse(key, nkey, val, nval, &b, err,
                                      sizeof(err)) == SNAPFMT_OK, "%s", err);
    raw = malloc(b.raw_len);
    ck_assert_ptr_nonnull(raw);
    ck_assert_int_eq(snapfmt_block_decode(c, &b, raw, b.raw_len, err,
                                          sizeof(err)), SNAPFMT_OK);
    snapfmt_bwalk_init(&w, &b, raw);
    while (!found && snapfmt_bwalk_next(&w, &r, err, sizeof(err)) ==
                         SNAPFMT_OK) {
        found = r.nkey == strlen(kname) &&
                memcmp(r.key, kname, r.nkey) == 0;
    }
    free(raw);
    return found;
}

/* Every block of TXN, copied: keys and values, N of them. */
struct blocks {
    unsigned char **key, **val;
    size_t *nkey, *nval;
    size_t n;
};

static void
blocks_copy(struct snapfmt_txn *txn, struct blocks *bl)
{
    struct snapfmt_bcur *cur = NULL;
    const void *k, *v;
    size_t nk, nv, cap = 0;
    char err[SNAPFMT_ERR_MAX];

    memset(bl, 0, sizeof(*bl));
    ck_assert_int_eq(snapfmt_bcur_open(txn, SNAPFMT_RUN_ALL, 0, NULL, 0,
                                       &cur, err, sizeof(err)), SNAPFMT_OK);
    while (snapfmt_bcur_next(cur, &k, &nk, &v, &nv) == SNAPFMT_OK) {
        if (bl->n == cap) {
            cap = cap ? cap * 2 : 64;
            bl->key = realloc(bl->key, cap * sizeof(*bl->key));
            bl->val = realloc(bl->val, cap * sizeof(*bl->val));
            bl->nkey = realloc(bl->nkey, cap * sizeof(*bl->nkey));
            bl->nval = realloc(bl->nval, cap * sizeof(*bl->nval));
            ck_assert(bl->key && bl->val && bl->nkey && bl->nval);
        }
        bl->key[bl->n] = malloc(nk);
        bl->val[bl->n] = malloc(nv);
        ck_assert(bl->key[bl->n] != NULL && bl->val[bl->n] != NULL);
        memcpy(bl->key[bl->n], k, nk);
        memcpy(bl->val[bl->n], v, nv);
        bl->nkey[bl->n] = nk;
        bl->nval[bl->n++] = nv;
    }
    snapfmt_bcur_close(&cur);
}

static void
blocks_free(struct blocks *bl)
{
    for (size_t i = 0; i < bl->n; i++) {
        free(bl->key[i]);
        free(bl->val[i]);
    }
    free(bl->key);
    free(bl->val);
    free(bl->nkey);
    free(bl->nval);
}

void
fmt_fixture_edit_block(const char *dir, const char *kname,
                       void (*edit)(unsigned char *val, size_t *n),
                       char *lastkey, size_t cap)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_meta m;
    struct blocks bl;
    size_t at = SIZE_MAX;

    ck_assert_msg(snapfmt_env_open(dir, 0, 0, &e, err, sizeof(err)) ==
                      SNAPFMT_OK, "%s", err);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, txn, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(m.format_version, 3);
    blocks_copy(txn, &bl);
    /* the newest run's block holding KNAME */
    for (size_t i = bl.n; at == SIZE_MAX && i-- > 0;) {
        if (block_holds(c, bl.key[i], bl.nkey[i], bl.val[i], bl.nval[i],
                        kname)) {
            at = i;
        }
    }
    ck_assert_msg(at != SIZE_MAX, "no block holds '%s'", kname);
    snprintf(lastkey, cap, "%.*s", (int)(bl.nkey[at] - 16),
             (const char *)bl.key[at] + 16);
    edit(bl.val[at], &bl.nval[at]);
    ck_assert_int_eq(snapfmt_blocks_del_runs(txn, 0, UINT64_MAX, NULL),
                     SNAPFMT_OK);
    for (size_t i = 0; i < bl.n; i++) {
        ck_assert_int_eq(snapfmt_block_put(txn, bl.key[i], bl.nkey[i],
                                           bl.val[i], bl.nval[i]),
                         SNAPFMT_OK);
    }
    ck_assert_msg(snapfmt_txn_commit(&txn, err, sizeof(err)) == SNAPFMT_OK,
                  "%s", err);
    snapfmt_env_close(&e);
    blocks_free(&bl);
    snapfmt_codec_destroy(&c);
}

/* One item of a merge, copied, encoded as a record of VERSION. */
static void
put_as_record(struct snapfmt_txn *txn, struct snapfmt_codec *c,
              const struct snapfmt_brec *r, unsigned version,
              uint64_t *stored)
{
    char key[256];
    struct snapfmt_item it = { r->key, r->nkey, r->value, r->nvalue,
                               r->flags, r->exptime, r->atime, r->cas,
                               version == 1 ? 0 : r->rflags };
    size_t cap = snapfmt_encode_bound(r->nvalue), n;
    unsigned char *rec = malloc(cap);

    ck_assert_ptr_nonnull(rec);
    ck_assert_int_eq(snapfmt_encode(c, &it, rec, cap, &n), SNAPFMT_OK);
    if (version == 1) {
        snprintf(key, sizeof(key), "%.*s", (int)r->nkey,
                 (const char *)r->key);
        rec[1] = 1;
        fmt_fixture_reseal(key, rec, n);
    }
    ck_assert_int_eq(snapfmt_put(txn, r->key, r->nkey, rec, n, false),
                     SNAPFMT_OK);
    *stored += r->nkey + n;
    free(rec);
}

void
fmt_fixture_to_items(const char *dir, unsigned version,
                     struct snapfmt_dict *dict)
{
    struct snapfmt_codec *c = snapfmt_codec_create(dict != NULL ? 3 : 0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    struct snapfmt_merge *mg = NULL;
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_meta m;
    struct snapfmt_brec r;
    uint64_t run, stored = 0;
    int rc;

    ck_assert_msg(snapfmt_env_open(dir, 0, 0, &e, err, sizeof(err)) ==
                      SNAPFMT_OK, "%s", err);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, txn, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    if (dict != NULL) {
        ck_assert_int_eq(snapfmt_dict_put(txn, dict), SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_codec_set_dict(c, dict), SNAPFMT_OK);
        m.dict_id = snapfmt_dict_id(dict);
    }
    {
        struct snapfmt_merge_cfg cfg = { txn, m.base_run, m.run_end, 0,
                                         UINT64_MAX, SNAPFMT_BLOCK_MAX, NULL };

        ck_assert_int_eq(snapfmt_merge_open(&cfg, &mg, err, sizeof(err)),
                         SNAPFMT_OK);
    }
    /* items go to another database: the merge's blocks stay put */
    while ((rc = snapfmt_merge_next(mg, &r, &run, err, sizeof(err))) ==
           SNAPFMT_OK) {
        if (r.type == SNAPFMT_B_ITEM) {
            put_as_record(txn, c, &r, version, &stored);
        }
    }
    ck_assert_msg(rc == SNAPFMT_END, "%s", err);
    snapfmt_merge_close(&mg);
    ck_assert_int_eq(snapfmt_blocks_del_runs(txn, 0, UINT64_MAX, NULL),
                     SNAPFMT_OK);
    m.format_version = version;
    m.stored_bytes = stored;
    m.base_run = m.run_end = m.blocks = m.records = m.base_records = 0;
    ck_assert_int_eq(snapfmt_meta_write(txn, &m), SNAPFMT_OK);
    ck_assert_msg(snapfmt_txn_commit(&txn, err, sizeof(err)) == SNAPFMT_OK,
                  "%s", err);
    snapfmt_env_close(&e);
    snapfmt_codec_destroy(&c);
}

void
fmt_fixture_last_block(const char *dir, char *lastkey, size_t cap)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char err[SNAPFMT_ERR_MAX];
    struct blocks bl;

    ck_assert_msg(snapfmt_env_open(dir, SNAPFMT_RDONLY, 0, &e, err,
                                   sizeof(err)) == SNAPFMT_OK, "%s", err);
    ck_assert_int_eq(snapfmt_txn_begin(e, true, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    blocks_copy(txn, &bl);
    ck_assert_uint_gt(bl.n, 0);
    snprintf(lastkey, cap, "%.*s", (int)(bl.nkey[bl.n - 1] - 16),
             (const char *)bl.key[bl.n - 1] + 16);
    blocks_free(&bl);
    snapfmt_txn_abort(&txn);
    snapfmt_env_close(&e);
}
