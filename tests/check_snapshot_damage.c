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
#include "tests/store_short.h"

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

/* ---- --snapshot-on-corrupt=salvage ------------------------------------ */

/* put_num()'s value of I, N bytes, into VAL (N + 1 bytes). */
static void
num_val(unsigned i, size_t n, char *val)
{
    for (size_t j = 0; j < n; j++) {
        val[j] = (char)('a' + (i + j) % 26);
    }
    val[n] = '\0';
}

/* A new store at NOW and the salvage policy: open_snap() loads. */
static void
salvage_start(uint32_t now)
{
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, now);
    fx.cfg.on_corrupt = SNAP_CORRUPT_SALVAGE;
    fx.log[0] = '\0';
    open_snap();
}

/* Every "key:%06u" below N present with put_num()'s value or absent;
 * the number absent. */
static unsigned
count_missing(unsigned n)
{
    char key[32], val[64];
    unsigned missing = 0;

    for (unsigned i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key:%06u", i);
        num_val(i, 40, val);
        if (!has(fx.st, key, val, NULL)) {
            ck_assert_msg(!exists(fx.st, key), "%s: a wrong value", key);
            missing++;
        }
    }
    return missing;
}

START_TEST(test_salvage_block_flip)
{
    char err[SNAP_ERR_MAX], last[256];
    struct snap_stats ss;
    unsigned missing;

    open_snap();
    for (unsigned i = 0; i < 30000; i++) {
        put_num(fx.st, i, 40);
    }
    restart(16 << 20, T0 + 1);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    damage_block("key:020000", flip_last, last, sizeof(last));
    salvage_start(T0 + 2);
    missing = count_missing(30000);
    /* one block of about 1,300 records, and the two records at its
     * neighbours' edges that share its range */
    ck_assert(!exists(fx.st, "key:020000"));
    ck_assert(!exists(fx.st, last));
    ck_assert_uint_gt(missing, 100);
    ck_assert_uint_lt(missing, 3000);
    snap_stats(fx.sn, &ss);
    ck_assert_uint_eq(ss.warm_restart_salvaged, 1);
    ck_assert_uint_eq(ss.warm_restart_blocks_damaged, 1);
    ck_assert_uint_eq(ss.warm_restart_records_damaged, missing);
    ck_assert_uint_eq(ss.warm_restart_items_loaded, 30000 - missing);
    ck_assert_msg(strstr(fx.log, "records skipped (1 damaged block)") !=
                      NULL, "%s", fx.log);
    ck_assert_msg(strstr(fx.log, last) != NULL, "%s", fx.log);
    /* the damaged snapshot kept aside, whole; the next one is full, in
     * a fresh environment */
    ck_assert_uint_eq(count_glob(".damaged-*"), 1);
    restart(16 << 20, T0 + 3);
    ck_assert_uint_eq(count_missing(30000), missing);
    snap_stats(fx.sn, &ss);
    ck_assert_uint_eq(ss.warm_restart_salvaged, 0);
    ck_assert_uint_eq(ss.warm_restart_items_loaded, 30000 - missing);
}
END_TEST

/* The last byte of a record flipped: its checksum fails. */
static void
flip_rec_last(unsigned char *rec, size_t *n)
{
    rec[*n - 1] ^= 0x01;
}

START_TEST(test_salvage_record_flip_format2)
{
    char err[SNAP_ERR_MAX];
    struct snap_stats ss;

    open_snap();
    put(fx.st, "good", "g", 1, 0, 0);
    put(fx.st, "bad", "some value", 10, 0, 0);
    put(fx.st, "zzz", "z", 1, 0, 0);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    fmt_fixture_to_items(fx.dir, 2, NULL);
    fmt_fixture_edit_record(fx.dir, "bad", flip_rec_last);
    salvage_start(T0 + 1);
    ck_assert(has(fx.st, "good", "g", NULL));
    ck_assert(has(fx.st, "zzz", "z", NULL));
    ck_assert(!exists(fx.st, "bad"));
    snap_stats(fx.sn, &ss);
    ck_assert_uint_eq(ss.warm_restart_salvaged, 1);
    ck_assert_uint_eq(ss.warm_restart_records_damaged, 1);
    ck_assert_uint_eq(ss.warm_restart_items_loaded, 2);
    ck_assert_msg(strstr(fx.log, "'bad'") != NULL, "%s", fx.log);
    ck_assert_uint_eq(count_glob(".damaged-*"), 1);
    restart(16 << 20, T0 + 2);
    ck_assert(has(fx.st, "good", "g", NULL));
    ck_assert(!exists(fx.st, "bad"));
}
END_TEST

/*
 * Of the keys an incremental run holds (i % 10 == 0 or 5): the one with
 * the lowest (FIRST) or highest hash, so its block is the run's first or
 * last, into KEY.
 */
static void
run_edge_key(bool first, char *key, size_t cap)
{
    uint64_t best = first ? UINT64_MAX : 0, h;
    char k[32];

    for (unsigned i = 0; i < 30000; i += 5) {
        snprintf(k, sizeof(k), "key:%06u", i);
        h = snapfmt_key_hash(k, strlen(k));
        if (first ? h < best : h > best) {
            best = h;
            snprintf(key, cap, "%s", k);
        }
    }
}

/*
 * An incremental snapshot's run holds newer values and deletes of keys
 * whose older records are in the full snapshot's run; a block of the
 * newer run is damaged: one in the middle (_i 0), its first (1: the
 * damaged stretch starts at a run boundary), its last (2: it ends the
 * snapshot). Salvage must not bring back what it replaced or deleted:
 * every key is its newest value or absent.
 */
START_TEST(test_salvage_incremental_never_older)
{
    char err[SNAP_ERR_MAX], last[256], key[32], val[64], victim[32];
    unsigned missing = 0, old_kept = 0;

    open_snap();
    for (unsigned i = 0; i < 30000; i++) {
        put_num(fx.st, i, 40);
    }
    snapshot();                 /* the full one: run A */
    for (unsigned i = 0; i < 30000; i += 10) {
        snprintf(key, sizeof(key), "key:%06u", i);
        snprintf(val, sizeof(val), "v2-%u", i);
        put(fx.st, key, val, strlen(val), 0, 0);
    }
    for (unsigned i = 5; i < 30000; i += 10) {
        snprintf(key, sizeof(key), "key:%06u", i);
        ck_assert_int_eq(t_delete(fx.st, key, strlen(key), 0), STORE_OK);
    }
    snapshot();                 /* incremental: run B */
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    /* run B's block with the tombstone of key:020005, or its edges */
    snprintf(victim, sizeof(victim), "key:020005");
    if (_i > 0) {
        run_edge_key(_i == 1, victim, sizeof(victim));
    }
    damage_block(victim, flip_last, last, sizeof(last));
    salvage_start(T0 + 1);
    for (unsigned i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "key:%06u", i);
        if (i % 10 == 5) {
            ck_assert_msg(!exists(fx.st, key), "deleted %s is back", key);
            continue;
        }
        if (i % 10 == 0) {
            snprintf(val, sizeof(val), "v2-%u", i);
        } else {
            num_val(i, 40, val);
            old_kept++;
        }
        if (!has(fx.st, key, val, NULL)) {
            ck_assert_msg(!exists(fx.st, key), "%s: an older value", key);
            missing++;
        }
    }
    ck_assert(!exists(fx.st, victim));
    ck_assert_uint_gt(missing, 10);
    ck_assert_uint_lt(missing, 15000);  /* run B is sparse: wide blocks */
    ck_assert_uint_gt(old_kept, 10000);
}
END_TEST

/*
 * Meta damaged (its page unreadable): nothing says what was flushed or
 * how far CAS went, so salvage starts cold, and CAS values go on above
 * every value handed out before.
 */
START_TEST(test_salvage_meta_damage_goes_cold)
{
    char err[SNAP_ERR_MAX];
    uint64_t cas_before, cas_after;

    fx.cfg.compression = 0;
    open_snap();
    put_num(fx.st, 0, 500);
    put(fx.st, "before", "b", 1, 0, 0);
    ck_assert(has(fx.st, "before", "b", &cas_before));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    damage_page_of("format_version", PAGE_FF);
    salvage_start(T0 + 1);
    ck_assert(!exists(fx.st, "key:000000"));
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert_msg(strstr(fx.log, "(nothing to salvage: cold)") != NULL,
                  "%s", fx.log);
    put(fx.st, "after", "a", 1, 0, 0);
    ck_assert(has(fx.st, "after", "a", &cas_after));
    ck_assert_uint_gt(cas_after, cas_before);
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
    tcase_add_test(errors, test_salvage_block_flip);
    tcase_add_test(errors, test_salvage_record_flip_format2);
    tcase_add_loop_test(errors, test_salvage_incremental_never_older, 0, 3);
    tcase_add_test(errors, test_salvage_meta_damage_goes_cold);
}
