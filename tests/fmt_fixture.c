/*
 * fmt_fixture.c -- test-only helpers on the snapshot format API
 * (fmt_fixture.h).
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/fmt_fixture.h"

#include <check.h>
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
