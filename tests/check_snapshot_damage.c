/*
 * check_snapshot_damage.c -- damaged snapshots at start: a record's
 * checksum, a missing dictionary, garbage, a truncated file, LMDB pages
 * that make a reader fault or abort, impossible sizes in LMDB's nodes,
 * a meta page read before anything else. emberd never crashes: the
 * corrupt policy applies (fail: refuse, touching nothing; cold: move
 * aside, start empty). Part of check_snapshot.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/check_snapshot.h"
#include "tests/fmt_fixture.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One bit of a block's last byte flipped (fmt_fixture_edit_block). */
static void
flip_last(unsigned char *val, size_t *n)
{
    val[*n - 1] ^= 0x40;
}

/* A block cut short by one byte. */
static void
cut_last(unsigned char *val, size_t *n)
{
    (*n)--;
    (void)val;
}

/* Damage the block that holds KEY in place; its last key into LAST. */
static void
damage_block(const char *key, void (*how)(unsigned char *, size_t *),
             char *last, size_t cap)
{
    fmt_fixture_edit_block(fx.dir, key, how, last, cap);
}

/* The bytes of FILE under DIR (caller frees), *N its size. */
static unsigned char *
slurp(const char *dir, const char *file, size_t *n)
{
    char path[600];
    unsigned char *buf;
    FILE *f;
    long size;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

START_TEST(test_corrupt_record_fail_then_cold)
{
    char err[SNAP_ERR_MAX], moved[600], last[256], want[300];
    unsigned char *before, *after;
    size_t nbefore, nafter;
    glob_t gl;

    open_snap();
    put(fx.st, "good", "g", 1, 0, 0);
    put(fx.st, "bad", "some value", 10, 0, 0);
    snapshot();
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    damage_block("bad", flip_last, last, sizeof(last));
    snprintf(want, sizeof(want), "ending at key '%s'", last);
    before = slurp(fx.dir, "data.mdb", &nbefore);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_int_eq(snap_load(fx.sn, err, sizeof(err)), SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "block checksum"));
    ck_assert_ptr_nonnull(strstr(err, "--snapshot-on-corrupt=cold"));
    snap_close(&fx.sn, err, sizeof(err));
    ck_assert_uint_eq(count_glob(".corrupt-*"), 0);
    /* not one byte of the damaged snapshot changed */
    after = slurp(fx.dir, "data.mdb", &nafter);
    ck_assert_uint_eq(nafter, nbefore);
    ck_assert(memcmp(after, before, nbefore) == 0);
    free(after);

    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0);
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert(!has(fx.st, "good", "g", NULL));
    ck_assert_ptr_nonnull(strstr(fx.log, "moved"));
    /* ... nor in the copy moved aside */
    snprintf(moved, sizeof(moved), "%s.corrupt-*", fx.dir);
    ck_assert_int_eq(glob(moved, 0, NULL, &gl), 0);
    after = slurp(gl.gl_pathv[0], "data.mdb", &nafter);
    globfree(&gl);
    ck_assert_uint_eq(nafter, nbefore);
    ck_assert(memcmp(after, before, nbefore) == 0);
    free(after);
    free(before);
    put(fx.st, "again", "a", 1, 0, 0);
    restart(16 << 20, T0 + 1);
    ck_assert(has(fx.st, "again", "a", NULL));
}
END_TEST

START_TEST(test_corrupt_in_parallel_load)
{
    char err[SNAP_ERR_MAX], last[256];

    open_snap();
    for (unsigned i = 0; i < 30000; i++) {
        put_num(fx.st, i, 40);
    }
    restart(16 << 20, T0 + 1);
    ck_assert(exists(fx.st, "key:012345"));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    damage_block("key:020000", cut_last, last, sizeof(last));
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_int_eq(snap_load(fx.sn, err, sizeof(err)), SNAP_ECORRUPT);
    ck_assert_msg(strstr(err, last) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "truncated or damaged") != NULL, "%s", err);
    snap_close(&fx.sn, err, sizeof(err));
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 3);
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    /* what was loaded before the damage was found is gone again */
    ck_assert(!exists(fx.st, "key:012345"));
    ck_assert(!exists(fx.st, "key:000001"));
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    put(fx.st, "fresh", "f", 1, 0, 0);
    restart(16 << 20, T0 + 4);
    ck_assert(has(fx.st, "fresh", "f", NULL));
    ck_assert(!exists(fx.st, "key:012345"));
}
END_TEST

START_TEST(test_missing_dictionary_policies)
{
    struct snapfmt_env *e = NULL;
    char err[SNAP_ERR_MAX];
    struct snapfmt_txn *txn = NULL;

    open_snap();
    put(fx.st, "a", "b", 1, 0, 0);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "dict_id", 7), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, NULL, 0), SNAPFMT_OK);
    snapfmt_env_close(&e);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "dictionary 7"));
    ck_assert_ptr_nonnull(strstr(err, "--snapshot-on-corrupt=cold"));
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert(!exists(fx.st, "a"));
}
END_TEST

START_TEST(test_garbage_file_policies)
{
    char err[SNAP_ERR_MAX], path[512], junk[4096];
    struct stat st;
    FILE *f;

    memset(junk, 'J', sizeof(junk));
    ck_assert_int_eq(mkdir(fx.dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
    fclose(f);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_ECORRUPT);
    ck_assert_ptr_null(fx.sn);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, sizeof(junk));
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    /* a trailing slash must not matter when moving the directory */
    snprintf(path, sizeof(path), "%s//", fx.dir);
    fx.cfg.dir = path;
    open_snap();
    fx.cfg.dir = fx.dir;
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    snprintf(path, sizeof(path), "%s.corrupt-*/data.mdb", fx.dir);
    ck_assert_uint_eq(count_glob(".corrupt-*/data.mdb"), 1);
}
END_TEST

START_TEST(test_cold_when_dir_cannot_move)
{
    char err[SNAP_ERR_MAX], path[512], junk[4096];
    FILE *f;

    /* a last component so long that DIR.corrupt-<time> is not a valid
     * name: rename(DIR) fails as it would on a mount point */
    snprintf(fx.dir, sizeof(fx.dir), "%s/%0240d", fx.root, 7);
    fx.cfg.dir = fx.dir;
    ck_assert_int_eq(mkdir(fx.dir, 0700), 0);
    memset(junk, 'J', sizeof(junk));
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
    fclose(f);
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob("/data.mdb.corrupt-*"), 1);
    ck_assert_ptr_nonnull(strstr(fx.log, "moving its files instead"));
    put(fx.st, "x", "y", 1, 0, 0);
    restart(16 << 20, T0 + 1);
    ck_assert(has(fx.st, "x", "y", NULL));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
}
END_TEST

void
said_once(const char *err, const char *needle)
{
    const char *at = strstr(err, needle);

    ck_assert_msg(at != NULL, "no '%s' in: %s", needle, err);
    ck_assert_msg(strstr(at + 1, needle) == NULL, "'%s' twice in: %s",
                  needle, err);
}

START_TEST(test_truncated_file_policies)
{
    char err[SNAP_ERR_MAX], path[512];
    struct stat st;

    open_snap();
    for (unsigned i = 0; i < 3000; i++) {
        put_num(fx.st, i, 500);
    }
    restart(16 << 20, T0 + 1);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    /* a copy cut short: LMDB would fault on the missing pages */
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    said_once(err, "--snapshot-on-corrupt=cold");
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert(!exists(fx.st, "key:000001"));
}
END_TEST

enum page_damage {
    PAGE_ZERO,                /* every byte 0 */
    PAGE_FF,                  /* every byte 0xff */
    PAGE_LOWER,               /* mp_lower 0xfff0 */
};

/*
 * Damage every LMDB page holding the bytes NEEDLE (the live one and any
 * old copy): PAGE_ZERO makes a leaf a page of no type (LMDB's cursor
 * fails its IS_LEAF assertion and aborts); PAGE_LOWER makes NUMKEYS =
 * (mp_lower - 16) / 2 run far beyond the page (node offsets and sizes
 * are whatever follows); PAGE_FF does both, and more.
 */
static void
damage_page_of(const char *needle, enum page_damage how)
{
    unsigned char page[4096];
    char path[512];
    long size, last = -1;
    unsigned char *buf;
    FILE *f;

    memset(page, how == PAGE_FF ? 0xff : 0, sizeof(page));
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    buf = malloc((size_t)size);
    ck_assert_ptr_nonnull(buf);
    rewind(f);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    for (long off = 0; off + (long)strlen(needle) <= size; off++) {
        long at = off / 4096 * 4096;
        uint64_t pgno = 0;

        if (at == last || memcmp(buf + off, needle, strlen(needle)) != 0) {
            continue;
        }
        /* a leaf page (its header: its own number, flags P_LEAF), not a
         * block's bytes in an overflow page that happen to hold NEEDLE */
        for (int i = 7; i >= 0; i--) {
            pgno = pgno << 8 | buf[at + i];
        }
        if (pgno != (uint64_t)at / 4096 ||
            (buf[at + 10] | buf[at + 11] << 8) != 0x02) {
            continue;
        }
        last = at;
        fseek(f, how == PAGE_LOWER ? at + 12 : at, SEEK_SET);
        if (how == PAGE_LOWER) {
            fputc(0xf0, f);
            fputc(0xff, f);
        } else {
            ck_assert_uint_eq(fwrite(page, 1, 4096, f), 4096);
        }
    }
    ck_assert_int_ge(last, 0);
    free(buf);
    fclose(f);
}

/* A closed snapshot of N items "key:000000".. of 500 bytes, stored raw;
 * the store destroyed. */
static void
write_closed(unsigned n)
{
    char err[SNAP_ERR_MAX];

    fx.cfg.compression = 0;
    open_snap();
    for (unsigned i = 0; i < n; i++) {
        put_num(fx.st, i, 500);
    }
    restart(16 << 20, T0 + 1);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    store_destroy(&fx.st);
}

/*
 * The damaged snapshot in fx.dir (store destroyed) is refused by
 * snap_open(): the precheck child died of a signal before this process
 * read a byte of it (opening reads the meta and main database pages).
 * An error naming the directory and, once, the policy that moves it
 * aside, not a crash; with that policy emberd starts without GONE.
 */
static void
refused_by_precheck_then_cold(const char *gone)
{
    char err[SNAP_ERR_MAX];

    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_ECORRUPT);
    ck_assert_ptr_null(fx.sn);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_ptr_nonnull(strstr(err, "damaged (a reader died of signal"));
    said_once(err, "--snapshot-on-corrupt=cold");
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 3);
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert(!exists(fx.st, gone));
}

START_TEST(test_damaged_lmdb_page)
{
    char last[256];

    write_closed(15000);
    /* the leaf page of the last block's key zeroed: walking into it, LMDB
     * fails its IS_LEAF assertion and aborts */
    fmt_fixture_last_block(fx.dir, last, sizeof(last));
    damage_page_of(last, PAGE_ZERO);
    refused_by_precheck_then_cold("key:000001");
}
END_TEST

START_TEST(test_damaged_meta_page)
{
    write_closed(1);
    /* the meta database's leaf in a small file: its node offsets, 0xffff,
     * point past the end of the file, and opening reads meta: SIGBUS.
     * The peek for the hash table and snap_open() read it in children */
    damage_page_of("format_version", PAGE_FF);
    ck_assert_uint_eq(snap_peek_items(fx.dir), 0);
    refused_by_precheck_then_cold("key:000000");
}
END_TEST

START_TEST(test_damaged_lmdb_node_sizes)
{
    char err[SNAP_ERR_MAX], last[256];

    write_closed(15000);
    fmt_fixture_last_block(fx.dir, last, sizeof(last));
    damage_page_of(last, PAGE_LOWER);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    /* node offsets past the page: the sizes LMDB hands out are checked
     * before anything reads the bytes (a key of 1..511 bytes, a block
     * no larger than the file), and the nodes they pass are blocks out
     * of order, so nothing faults and the load refuses the snapshot with
     * the corrupt policy's message. Which of the two checks meets the
     * first bad node depends on where the writer's transactions left
     * the leaf's nodes (its batch size) */
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_int_eq(snap_load(fx.sn, err, sizeof(err)), SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_msg(strstr(err, "run 1: a block starts before the previous "
                             "one ends") != NULL ||
                      strstr(err, "data.mdb: a key of 0 bytes in blocks "
                             "(LMDB keys have 1..511): damaged page") != NULL,
                  "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "--snapshot-on-corrupt=cold"));
    snap_close(&fx.sn, err, sizeof(err));
    ck_assert_uint_eq(count_glob(".corrupt-*"), 0);
}
END_TEST

/*
 * What the fuzzer's snap_load target found crashing emberd (SIGFPE,
 * SIGBUS, SIGABRT in LMDB, a write into a damaged file), replayed through
 * the start-up path: the peek for the hash table, then snap_open() with
 * the fail policy, must refuse each as damaged. The seed's layout: mode
 * byte, u32 LE length N, N bytes of data.mdb (the journal part is not
 * used here). The hang seed is left to the fuzz run (its watchdog takes
 * SNAP_CHILD_STALL_S twice).
 */
START_TEST(test_fuzz_crashes_refused)
{
    static const char *const seeds[] = {
        "crash-lmdb-abort-open", "crash-lmdb-sigbus-check-file",
        "crash-lmdb-sigbus-dbi-open", "crash-lmdb-sigbus-dicts-cursor",
        "crash-lmdb-sigbus-meta-read", "crash-writes-into-damaged-file",
        "issue11-dict-size-flip", "lmdb-psize-zero",
    };
    const char *src = getenv("EMBER_SRCDIR");
    char dir[600], err[SNAP_ERR_MAX];
    unsigned char *seed;
    size_t n, len;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/tests/fuzz/snap_load",
             src != NULL ? src : "..");
    fx.cfg.on_corrupt = SNAP_CORRUPT_FAIL;
    store_destroy(&fx.st);
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        seed = slurp(dir, seeds[i], &n);
        ck_assert_uint_ge(n, 5);
        len = (size_t)seed[1] | (size_t)seed[2] << 8 |
              (size_t)seed[3] << 16 | (size_t)seed[4] << 24;
        len = len < n - 5 ? len : n - 5;  /* as the harness reads it */
        fmt_fixture_rmtree(fx.dir);
        ck_assert_int_eq(mkdir(fx.dir, 0700), 0);
        snprintf(err, sizeof(err), "%s/data.mdb", fx.dir);
        f = fopen(err, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(seed + 5, 1, len, f), len);
        fclose(f);
        free(seed);
        (void)snap_peek_items(fx.dir);
        fx.st = new_store(16 << 20, 1 << 20, T0 + 1);
        ck_assert_msg(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)) ==
                          SNAP_ECORRUPT, "%s: %s", seeds[i], err);
        ck_assert_ptr_nonnull(strstr(err, "damaged"));
        store_destroy(&fx.st);
    }
    fx.st = new_store(16 << 20, 1 << 20, T0);  /* for the teardown */
}
END_TEST

void
add_damage_tests(TCase *errors)
{
    tcase_add_test(errors, test_corrupt_record_fail_then_cold);
    tcase_add_test(errors, test_corrupt_in_parallel_load);
    tcase_add_test(errors, test_missing_dictionary_policies);
    tcase_add_test(errors, test_garbage_file_policies);
    tcase_add_test(errors, test_cold_when_dir_cannot_move);
    tcase_add_test(errors, test_truncated_file_policies);
    tcase_add_test(errors, test_damaged_lmdb_page);
    tcase_add_test(errors, test_fuzz_crashes_refused);
    tcase_add_test(errors, test_damaged_meta_page);
    tcase_add_test(errors, test_damaged_lmdb_node_sizes);
}
