/*
 * check_journal_io.c -- the journal through the snapshot layer: a child
 * process opens a store with its snapshot directory, makes changes
 * through a worker's channel, commits them (the moment emberd would send
 * the replies) and dies without a final snapshot, as after kill -9; the
 * test then restarts on the same directory and checks that every
 * committed change is back and nothing it undid is. Faults are injected
 * into the journal's system calls (ENOSPC, EIO, short writes).
 * Children use no Check macro (a dying child must not write into Check's
 * message stream); they report by exit status.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/check_journal.h"
#include "tests/fmt_fixture.h"
#include "tests/store_short.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1800000000u

static struct {
    char root[64];
    char dir[400];
    struct store *st;
    struct snap *sn;
    struct snap_jchan *ch;
    struct store_session ses;
    struct snap_settings cfg;
    char log[16384];
} jx;

/* ---- the fixture for check_journal_takeover.c (check_journal.h) ------- */

const struct snap_settings *
jfix_settings(void)
{
    return &jx.cfg;
}

const char *
jfix_log(void)
{
    return jx.log;
}

/* ---- fault injection -------------------------------------------------- */

static int fail_errno;          /* errno the next failing call sets */
static int fail_writes;         /* writes to fail, -1: all */
static size_t short_by;         /* write at most this much (0: all) */
static int fail_syncs;

static ssize_t
io_write(int fd, const void *buf, size_t n)
{
    if (short_by > 0 && n > short_by) {
        size_t k = short_by;

        if (fail_writes != 0) {
            short_by = 0;   /* part of it goes through, then errors */
        }
        return write(fd, buf, k);
    }
    if (fail_writes != 0) {
        if (fail_writes > 0) {
            fail_writes--;
        }
        errno = fail_errno;
        return -1;
    }
    return write(fd, buf, n);
}

static int
io_fdatasync(int fd)
{
    if (fail_syncs > 0) {
        fail_syncs--;
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static const struct snap_jio test_io = { io_write, io_fdatasync, NULL };

/* ---- fixture ---------------------------------------------------------- */

static void
log_capture(void *arg, enum snap_log_level level, const char *msg)
{
    size_t n = strlen(jx.log);

    (void)arg;
    (void)level;
    snprintf(jx.log + n, sizeof(jx.log) - n, "%s\n", msg);
}

static void
jsetup(void)
{
    memset(&jx, 0, sizeof(jx));
    fail_errno = fail_writes = fail_syncs = 0;
    short_by = 0;
    snprintf(jx.root, sizeof(jx.root), "/tmp/check_journal.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(jx.root));
    snprintf(jx.dir, sizeof(jx.dir), "%s/snap", jx.root);
    snap_settings_default(&jx.cfg);
    jx.cfg.dir = jx.dir;
    jx.cfg.interval = 0;
    jx.cfg.journal = true;
    jx.cfg.journal_fsync = SNAP_FSYNC_NO;
    jx.cfg.journal_io = &test_io;
    jx.cfg.load_precheck = false;
    /* two appliers whatever the machine: the parallel replay is what
     * these tests must cover (emberd uses one on 2 CPUs) */
    jx.cfg.replay_threads = 2;
    jx.cfg.log = log_capture;
}

static void
close_all(void)
{
    char err[SNAP_ERR_MAX];

    snap_jchan_close(&jx.ch);
    snap_close(&jx.sn, err, sizeof(err));
    store_destroy(&jx.st);
}

static void
jteardown(void)
{
    close_all();
    fmt_fixture_rmtree(jx.root);
}

/* Store, snapshot, load (snapshot + journal), a worker's channel.
 * Returns snap_load's result. Usable in children (no Check macro). */
static int
open_all(uint32_t now)
{
    struct store_config c;
    char err[SNAP_ERR_MAX];
    int e = 0, rc;

    store_config_default(&c);
    c.mem_limit = (size_t)16 << 20;
    c.changelog_max = (size_t)1 << 20;
    jx.st = store_create(&c, &e);
    if (jx.st == NULL) {
        return -100;
    }
    store_clock_set(jx.st, now);
    rc = snap_open(&jx.cfg, jx.st, &jx.sn, err, sizeof(err));
    if (rc == SNAP_OK) {
        rc = snap_load(jx.sn, err, sizeof(err));
    }
    if (rc != SNAP_OK) {
        log_capture(NULL, SNAP_LOG_ERROR, err);
        return rc;
    }
    if (snap_jchan_open(jx.sn, &jx.ch) != SNAP_OK) {
        return -101;
    }
    store_session_init(&jx.ses, jx.st, snap_jchan_sink, jx.ch);
    return SNAP_OK;
}

static int
jset(const char *key, const char *val, uint32_t exptime)
{
    size_t n = strlen(val);
    int rc;
    struct item *it = store_alloc(jx.st, key, strlen(key), 3, exptime, n,
                                  false, &rc);

    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), val, n);
    rc = store_set(&jx.ses, it, NULL, NULL);
    item_unref(it);
    return rc;
}

static int
jcommit(void)
{
    char err[SNAP_ERR_MAX];

    return snap_jchan_commit(jx.ch, err, sizeof(err));
}

/* Run FN in a child that dies afterwards without a final snapshot. */
static void
in_child_then_crash(void (*fn)(void))
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        CHILD_CHECK(open_all(T0) == SNAP_OK, 90);
        fn();
        _exit(0);       /* what stays is what a kill -9 leaves */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed at step %d", WEXITSTATUS(status));
}

/* Whether KEY is there holding VAL (any value when VAL is NULL: so
 * !has(KEY, NULL) says it is absent). */
static bool
has(const char *key, const char *val)
{
    struct item *it = NULL;
    bool ok;

    if (t_get(jx.st, key, strlen(key), &it, NULL) != STORE_OK) {
        return false;
    }
    ok = val == NULL || (item_nvalue(it) == strlen(val) &&
                         memcmp(item_value(it), val, strlen(val)) == 0);
    item_unref(it);
    return ok;
}

/* The segment a worker's channel wrote: the biggest one (the others hold
 * the CAS reservation made at start). */
static void
worker_segment(char *path, size_t cap)
{
    char pat[512];
    glob_t g;
    off_t best = -1;
    struct stat sb;

    snprintf(pat, sizeof(pat), "%s/journal-*.ejl", jx.dir);
    ck_assert_int_eq(glob(pat, 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ck_assert_int_eq(stat(g.gl_pathv[i], &sb), 0);
        if (sb.st_size > best) {
            best = sb.st_size;
            snprintf(path, cap, "%s", g.gl_pathv[i]);
        }
    }
    globfree(&g);
}

static unsigned
segments_on_disk(void)
{
    char pat[512];
    glob_t g;
    unsigned n;

    snprintf(pat, sizeof(pat), "%s/journal-*.ejl", jx.dir);
    if (glob(pat, 0, NULL, &g) != 0) {
        return 0;
    }
    n = (unsigned)g.gl_pathc;
    globfree(&g);
    return n;
}

/* ---- core ------------------------------------------------------------- */

/* The example: what a snapshot holds, then deleted/replaced. */
static void
example_child(void)
{
    char err[SNAP_ERR_MAX];

    CHILD_CHECK(jset("a", "old", 0) == STORE_OK, 1);
    CHILD_CHECK(jset("b", "old", 0) == STORE_OK, 2);
    CHILD_CHECK(jcommit() == SNAP_OK, 3);
    CHILD_CHECK(snap_request(jx.sn, err, sizeof(err)) == SNAP_OK, 4);
    CHILD_CHECK(store_delete(&jx.ses, "a", 1, NULL) == STORE_OK, 5);
    CHILD_CHECK(jset("b", "new", 0) == STORE_OK, 6);
    CHILD_CHECK(jset("c", "fresh", 0) == STORE_OK, 7);
    CHILD_CHECK(jcommit() == SNAP_OK, 8);
    /* changed but never committed: never acknowledged, may be lost */
    CHILD_CHECK(jset("z", "unacked", 0) == STORE_OK, 9);
}

START_TEST(test_crash_after_snapshot)
{
    struct snap_stats ss;

    in_child_then_crash(example_child);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(!has("a", NULL));
    ck_assert(has("b", "new"));
    ck_assert(has("c", "fresh"));
    ck_assert(!has("z", NULL));
    snap_stats(jx.sn, &ss);
    ck_assert_uint_eq(ss.journal_replayed_records, 3);
    ck_assert_uint_eq(ss.journal_enabled, 1);
}
END_TEST

static void
journal_many_child(void)
{
    char key[32];

    for (unsigned i = 0; i < 40000; i++) {
        snprintf(key, sizeof(key), "many:%06u", i);
        CHILD_CHECK(jset(key, "v", 0) == STORE_OK, 1);
        if (i % 1000 == 999) {
            CHILD_CHECK(jcommit() == SNAP_OK, 2);
        }
    }
}

/* A long replay says how far it is (at most every progress_ms), and
 * what it replayed, at NOTICE: the level an operator sees by default. */
START_TEST(test_replay_progress)
{
    in_child_then_crash(journal_many_child);
    jx.cfg.progress_ms = 1;
    jx.log[0] = '\0';
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("many:039999", "v"));
    ck_assert_msg(strstr(jx.log, "replaying journal changes ") != NULL &&
                  strstr(jx.log, " of 400") != NULL, "%s", jx.log);
    ck_assert_msg(strstr(jx.log, "journal: replayed 40000 change(s)") !=
                  NULL, "%s", jx.log);
}
END_TEST

/* 5,000 keys written twice in a row in each of three rounds, a flush_all
 * after the first round, and a set then a delete of every seventh key at
 * the end: runs long enough (>= 4,096 changes) for two appliers, and a
 * key's changes next to each other, so that appliers that split them
 * other than by key would race on them, and a replay that re-sorts a run
 * (by key hash) without keeping each key's changes in order applies the
 * delete before the set. */
#define ORD_KEYS 5000u

static void
ordered_child(void)
{
    char key[32], val[32];

    for (unsigned i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "gone:%u", i);
        CHILD_CHECK(jset(key, "x", 0) == STORE_OK, 1);
    }
    for (unsigned r = 0; r < 3; r++) {
        if (r == 1) {
            store_flush(&jx.ses, 0);
        }
        for (unsigned k = 0; k < ORD_KEYS; k++) {
            snprintf(key, sizeof(key), "o:%u", k);
            snprintf(val, sizeof(val), "a%u", r);
            CHILD_CHECK(jset(key, val, 0) == STORE_OK, 2);
            val[0] = 'b';
            CHILD_CHECK(jset(key, val, 0) == STORE_OK, 2);
        }
        CHILD_CHECK(jcommit() == SNAP_OK, 3);
    }
    for (unsigned k = 0; k < ORD_KEYS; k += 7) {
        snprintf(key, sizeof(key), "o:%u", k);
        CHILD_CHECK(jset(key, "c", 0) == STORE_OK, 4);
        CHILD_CHECK(store_delete(&jx.ses, key, strlen(key), NULL) ==
                    STORE_OK, 4);
    }
    CHILD_CHECK(jcommit() == SNAP_OK, 5);
}

/* Every key ends as its last change left it, whichever applier had it;
 * nothing from before the flush comes back. */
START_TEST(test_parallel_replay_keeps_order)
{
    char key[32];

    in_child_then_crash(ordered_child);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    for (unsigned i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "gone:%u", i);
        ck_assert_msg(!has(key, NULL), "%s came back past the flush", key);
    }
    for (unsigned k = 0; k < ORD_KEYS; k++) {
        snprintf(key, sizeof(key), "o:%u", k);
        if (k % 7 == 0) {
            ck_assert_msg(!has(key, NULL), "%s deleted, yet present", key);
        } else {
            ck_assert_msg(has(key, "b2"), "%s is not b2", key);
        }
    }
}
END_TEST

static void
verbs_child(void)
{
    struct store_arith_opt inc = { .delta = 5 };
    struct store_arith_res ares;
    struct store_set_opt app = { .mode = STORE_APPEND };
    struct store_get_opt touch = { .touch = true, .exptime = T0 + 100 };
    struct store_get_res gres;
    struct item *it;
    int rc;

    CHILD_CHECK(jset("n", "10", 0) == STORE_OK, 1);
    CHILD_CHECK(store_arith(&jx.ses, "n", 1, &inc, &ares) == STORE_OK, 2);
    CHILD_CHECK(jset("s", "ab", 0) == STORE_OK, 3);
    it = store_alloc(jx.st, "s", 1, 0, 0, 2, false, &rc);
    CHILD_CHECK(it != NULL, 4);
    memcpy(item_value_mut(it), "cd", 2);
    CHILD_CHECK(store_set(&jx.ses, it, &app, NULL) == STORE_OK, 5);
    item_unref(it);
    CHILD_CHECK(jset("t", "tt", T0 + 10) == STORE_OK, 6);
    CHILD_CHECK(store_get(&jx.ses, "t", 1, &touch, &gres) == STORE_OK, 7);
    item_unref(gres.it);
    CHILD_CHECK(jcommit() == SNAP_OK, 8);
}

START_TEST(test_verbs_survive)
{
    struct item *it;

    in_child_then_crash(verbs_child);
    ck_assert_int_eq(open_all(T0 + 20), SNAP_OK);
    ck_assert(has("n", "15"));
    ck_assert(has("s", "abcd"));
    /* the touch moved the expiry past T0 + 20 */
    ck_assert_int_eq(t_get(jx.st, "t", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_exptime(it), T0 + 100);
    item_unref(it);
}
END_TEST

static uint64_t child_cas_max;

static void
flush_child(void)
{
    char err[SNAP_ERR_MAX];

    CHILD_CHECK(jset("before", "x", 0) == STORE_OK, 1);
    CHILD_CHECK(snap_request(jx.sn, err, sizeof(err)) == SNAP_OK, 2);
    store_flush(&jx.ses, 0);
    CHILD_CHECK(jset("after", "y", 0) == STORE_OK, 3);
    store_flush(&jx.ses, T0 + 30);      /* pending across the crash */
    CHILD_CHECK(jset("later", "z", 0) == STORE_OK, 4);
    CHILD_CHECK(jcommit() == SNAP_OK, 5);
}

START_TEST(test_flush_survives)
{
    struct store_get_res res;

    in_child_then_crash(flush_child);
    ck_assert_int_eq(open_all(T0 + 10), SNAP_OK);
    ck_assert(!has("before", NULL));    /* flushed after the snapshot */
    ck_assert(has("after", "y"));
    ck_assert(has("later", "z"));
    ck_assert_uint_eq(store_flush_pending(jx.st), T0 + 30);
    /* the delayed flush still comes: */
    store_clock_set(jx.st, T0 + 30);
    ck_assert_int_eq(store_get(&jx.ses, "later", 5, NULL, &res), STORE_MISS);
}
END_TEST

/* A delayed flush that came due while emberd was down. */
START_TEST(test_delayed_flush_due_while_down)
{
    in_child_then_crash(flush_child);
    ck_assert_int_eq(open_all(T0 + 31), SNAP_OK);
    ck_assert(!has("after", NULL));
    ck_assert(!has("later", NULL));
}
END_TEST

static void
cas_child(void)
{
    struct store_get_res res;
    int i;

    for (i = 0; i < 100; i++) {
        CHILD_CHECK(jset("k", "v", 0) == STORE_OK, 1);
    }
    CHILD_CHECK(jcommit() == SNAP_OK, 2);
    CHILD_CHECK(store_get(&jx.ses, "k", 1, NULL, &res) == STORE_OK, 3);
    /* hand the highest CAS to the parent through the exit code's file */
    {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/cas", jx.root);
        f = fopen(path, "w");
        CHILD_CHECK(f != NULL, 4);
        fprintf(f, "%llu\n", (unsigned long long)item_cas(res.it));
        fclose(f);
    }
    item_unref(res.it);
}

START_TEST(test_cas_above_everything_seen)
{
    char path[512];
    unsigned long long seen = 0;
    FILE *f;

    in_child_then_crash(cas_child);
    snprintf(path, sizeof(path), "%s/cas", jx.root);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%llu", &seen), 1);
    fclose(f);
    ck_assert_uint_ge(seen, 100);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert_uint_ge(store_cas_current(jx.st), seen);
    ck_assert_int_eq(jset("k2", "v", 0), STORE_OK);
    ck_assert_uint_gt(store_cas_current(jx.st), seen);
    child_cas_max = seen;
}
END_TEST

/* A snapshot retires the segments it covers; a graceful close leaves no
 * journal at all. */
START_TEST(test_snapshot_retires_segments)
{
    char err[SNAP_ERR_MAX];

    ck_assert_int_eq(open_all(T0), SNAP_OK);
    /* the CAS reservation made at start has a segment of its own */
    ck_assert_uint_eq(segments_on_disk(), 1);
    ck_assert_int_eq(jset("a", "1", 0), STORE_OK);
    ck_assert_int_eq(jcommit(), SNAP_OK);
    ck_assert_uint_eq(segments_on_disk(), 2);
    ck_assert_int_eq(snap_request(jx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_uint_eq(segments_on_disk(), 0);
    ck_assert_int_eq(jset("a", "2", 0), STORE_OK);
    ck_assert_int_eq(jcommit(), SNAP_OK);
    ck_assert_uint_eq(segments_on_disk(), 1);
    close_all();
    ck_assert_uint_eq(segments_on_disk(), 0);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("a", "2"));
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

static void
many_child(void)
{
    char key[32], val[64];

    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        CHILD_CHECK(jset(key, val, 0) == STORE_OK, 1);
        CHILD_CHECK(jcommit() == SNAP_OK, 2);
    }
}

/* The last segment cut at every byte of its last two records: the
 * restart keeps every whole change and never applies a half one. */
START_TEST(test_torn_tail_at_every_byte)
{
    char path[512], copy[600];
    struct stat sb;
    off_t full;
    size_t rec = snapfmt_jrec_size(3, 8);   /* "kNN", "value-NN" */

    in_child_then_crash(many_child);
    worker_segment(path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    full = sb.st_size;
    snprintf(copy, sizeof(copy), "cp %s %s/seg.orig", path, jx.root);
    ck_assert_int_eq(system(copy), 0);
    for (off_t cut = full - 2 * (off_t)rec; cut <= full; cut++) {
        int whole = 50 - (int)((full - cut + (off_t)rec - 1) / (off_t)rec);

        snprintf(copy, sizeof(copy), "cp %s/seg.orig %s", jx.root, path);
        ck_assert_int_eq(system(copy), 0);
        ck_assert_int_eq(truncate(path, cut), 0);
        ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
        ck_assert(has("k47", "value-47"));
        ck_assert_int_eq(has("k48", "value-48"), whole >= 49);
        ck_assert_int_eq(has("k49", "value-49"), whole >= 50);
        ck_assert(!has("k48", "value-4"));      /* never half a value */
        /* closing snapshots and retires the journal: put it back */
        close_all();
        fmt_fixture_rmtree(jx.dir);
        ck_assert_int_eq(mkdir(jx.dir, 0700), 0);
    }
}
END_TEST

/* The journal passing its threshold starts a snapshot by itself. */
START_TEST(test_threshold_starts_a_snapshot)
{
    struct snap_stats ss;
    char val[1024];
    int i;

    jx.cfg.journal_max = 64 * 1024;
    jx.cfg.interval = 3600;
    ck_assert_int_eq(open_all(T0), SNAP_OK);
    ck_assert_int_eq(snap_start(jx.sn), SNAP_OK);
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (i = 0; i < 200; i++) {
        ck_assert_int_eq(jset("k", val, 0), STORE_OK);
        ck_assert_int_eq(jcommit(), SNAP_OK);
    }
    for (i = 0; i < 500; i++) {
        snap_stats(jx.sn, &ss);
        if (ss.snapshot_count > 0) {
            break;
        }
        usleep(10000);
    }
    ck_assert_uint_ge(ss.snapshot_count, 1);
    ck_assert_uint_lt(ss.journal_bytes, 200 * 1024);
}
END_TEST

/* ---- errors: faults --------------------------------------------------- */

static void
enospc_child(void)
{
    char why[256];

    CHILD_CHECK(jset("a", "1", 0) == STORE_OK, 1);
    CHILD_CHECK(jcommit() == SNAP_OK, 2);
    fail_errno = ENOSPC;
    fail_writes = -1;
    CHILD_CHECK(jset("b", "2", 0) == STORE_OK, 3);
    CHILD_CHECK(jcommit() == SNAP_EWRITE, 4);
    CHILD_CHECK(!snap_journal_ok(jx.sn, why, sizeof(why)), 5);
    CHILD_CHECK(strstr(why, "No space left") != NULL, 6);
    CHILD_CHECK(jcommit() == SNAP_EWRITE, 7);   /* still full: kept */
    fail_writes = 0;                            /* space came back */
    CHILD_CHECK(jcommit() == SNAP_OK, 8);
    CHILD_CHECK(snap_journal_ok(jx.sn, why, sizeof(why)), 9);
    CHILD_CHECK(jset("c", "3", 0) == STORE_OK, 10);
    CHILD_CHECK(jcommit() == SNAP_OK, 11);
}

START_TEST(test_enospc_then_recovery)
{
    struct snap_stats ss;

    in_child_then_crash(enospc_child);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("a", "1"));
    ck_assert(has("b", "2"));       /* written once space came back */
    ck_assert(has("c", "3"));
    snap_stats(jx.sn, &ss);
    ck_assert_uint_eq(ss.journal_replayed_records, 3);  /* none twice */
}
END_TEST

static void
partial_child(void)
{
    char val[200];

    memset(val, 'p', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    CHILD_CHECK(jset("a", "1", 0) == STORE_OK, 1);
    CHILD_CHECK(jcommit() == SNAP_OK, 2);
    /* 100 bytes go through, then the disk is full: cut back */
    fail_errno = ENOSPC;
    fail_writes = 1;
    short_by = 100;
    CHILD_CHECK(jset("b", val, 0) == STORE_OK, 3);
    CHILD_CHECK(jcommit() == SNAP_EWRITE, 4);
    /* the process dies here: nothing half-written may remain */
}

START_TEST(test_partial_write_is_cut_back)
{
    char path[512];
    struct stat sb;

    in_child_then_crash(partial_child);
    worker_segment(path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_size, SNAPFMT_JSEG_HDR +
                                  snapfmt_jrec_size(1, 1));
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("a", "1"));
    ck_assert(!has("b", NULL));
    ck_assert_ptr_null(strstr(jx.log, "after its last good record"));
    ck_assert_ptr_nonnull(strstr(jx.log, " 0 torn byte(s) cut"));
}
END_TEST

static void
short_child(void)
{
    char val[5000];

    memset(val, 's', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    short_by = 7;       /* every write moves 7 bytes at most */
    CHILD_CHECK(jset("big", val, 0) == STORE_OK, 1);
    CHILD_CHECK(jset("x", "y", 0) == STORE_OK, 2);
    CHILD_CHECK(jcommit() == SNAP_OK, 3);
}

START_TEST(test_short_writes_complete)
{
    struct item *it;

    in_child_then_crash(short_child);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert_int_eq(t_get(jx.st, "big", 3, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_nvalue(it), 4999);
    item_unref(it);
    ck_assert(has("x", "y"));
}
END_TEST

static void
eio_sync_child(void)
{
    char why[256];

    CHILD_CHECK(jset("a", "1", 0) == STORE_OK, 1);
    fail_syncs = 1;
    CHILD_CHECK(jcommit() == SNAP_EWRITE, 2);
    CHILD_CHECK(!snap_journal_ok(jx.sn, why, sizeof(why)), 3);
    CHILD_CHECK(strstr(why, "Input/output error") != NULL, 4);
    CHILD_CHECK(jcommit() == SNAP_OK, 5);
}

START_TEST(test_fsync_error_in_always_mode)
{
    struct snap_stats ss;

    jx.cfg.journal_fsync = SNAP_FSYNC_ALWAYS;
    in_child_then_crash(eio_sync_child);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("a", "1"));
    snap_stats(jx.sn, &ss);
    ck_assert_uint_eq(ss.journal_replayed_records, 1);
}
END_TEST

/* Damage in bytes that were on disk (fdatasync'ed, as noted in the
 * segment) is not a torn tail: the corrupt policy applies, and the files
 * are kept as they are. */
START_TEST(test_damaged_middle_refused)
{
    char path[512];
    struct stat sb;
    FILE *f;

    jx.cfg.journal_fsync = SNAP_FSYNC_ALWAYS;
    in_child_then_crash(many_child);
    worker_segment(path, sizeof(path));
    f = fopen(path, "r+");
    ck_assert_ptr_nonnull(f);
    fseek(f, SNAPFMT_JSEG_HDR + 3 * (long)snapfmt_jrec_size(3, 8) + 60,
          SEEK_SET);
    fputc('#', f);
    fclose(f);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(jx.log, strrchr(path, '/') + 1));
    ck_assert_int_eq(stat(path, &sb), 0);       /* untouched */
    close_all();
    /* the cold policy moves it aside and starts empty, with a CAS
     * counter above anything the lost data could have handed out */
    jx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    jx.log[0] = '\0';
    ck_assert_int_eq(open_all(T0 + 2), SNAP_OK);
    ck_assert(!has("k00", NULL));
    ck_assert_uint_gt(store_cas_current(jx.st), (uint64_t)1 << 32);
}
END_TEST

/* A hole past the last fdatasync (what a power cut can leave with
 * --journal-fsync=no or everysec): cut there, start, say so. */
START_TEST(test_hole_past_sync_is_cut)
{
    char path[512];
    FILE *f;

    in_child_then_crash(many_child);
    worker_segment(path, sizeof(path));
    f = fopen(path, "r+");
    ck_assert_ptr_nonnull(f);
    fseek(f, SNAPFMT_JSEG_HDR + 10 * (long)snapfmt_jrec_size(3, 8),
          SEEK_SET);
    for (int i = 0; i < 4096; i++) {
        fputc(0, f);
    }
    fclose(f);
    ck_assert_int_eq(open_all(T0 + 1), SNAP_OK);
    ck_assert(has("k09", "value-9"));
    ck_assert(!has("k10", NULL));
    ck_assert(!has("k49", NULL));       /* after the cut: not used */
    ck_assert_ptr_nonnull(strstr(jx.log, "after the cut not used"));
}
END_TEST

void
journal_test_core(TCase *tc)
{
    tcase_add_checked_fixture(tc, jsetup, jteardown);
    tcase_add_test(tc, test_crash_after_snapshot);
    tcase_add_test(tc, test_verbs_survive);
    tcase_add_test(tc, test_flush_survives);
    tcase_add_test(tc, test_delayed_flush_due_while_down);
    tcase_add_test(tc, test_cas_above_everything_seen);
    tcase_add_test(tc, test_snapshot_retires_segments);
}

void
journal_test_limits(TCase *tc)
{
    tcase_add_checked_fixture(tc, jsetup, jteardown);
    tcase_add_test(tc, test_torn_tail_at_every_byte);
    tcase_add_test(tc, test_replay_progress);
    tcase_add_test(tc, test_parallel_replay_keeps_order);
    tcase_add_test(tc, test_threshold_starts_a_snapshot);
}

void
journal_test_errors(TCase *tc)
{
    tcase_add_checked_fixture(tc, jsetup, jteardown);
    tcase_add_test(tc, test_enospc_then_recovery);
    tcase_add_test(tc, test_partial_write_is_cut_back);
    tcase_add_test(tc, test_short_writes_complete);
    tcase_add_test(tc, test_fsync_error_in_always_mode);
    tcase_add_test(tc, test_damaged_middle_refused);
    tcase_add_test(tc, test_hole_past_sync_is_cut);
}
