/*
 * check_snap_status.c -- what the snapshot layer tells an operator: the
 * health figures of snap_stats() (last status and error, changes since
 * the last snapshot, an age that grows when none was ever committed, the
 * on-disk figures from the load on), the log lines and their levels
 * (one ERROR when snapshots start failing, one NOTICE when they work
 * again, the warm restart and its progress), and snap_close() after a
 * refused load. Store clocks are frozen: time is the test's.
 */
#include "config.h"

#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/fmt_fixture.h"
#include "tests/store_short.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1800000000u

static struct {
    char root[64];
    char dir[400];
    struct store *st;
    struct snap *sn;
    struct snap_settings cfg;
    char err[SNAP_ERR_MAX]; /* snap_load()'s message (start_opts) */
    char log[65536];        /* "LEVEL message\n" per line */
} sx;

static void
capture(void *arg, enum snap_log_level level, const char *msg)
{
    size_t n = strlen(sx.log);

    (void)arg;
    snprintf(sx.log + n, sizeof(sx.log) - n, "%d %s\n", (int)level, msg);
}

/* Lines of the log at LEVEL that contain WHAT. */
static unsigned
lines_with(enum snap_log_level level, const char *what)
{
    char head[8];
    unsigned n = 0;

    snprintf(head, sizeof(head), "%d ", (int)level);
    for (const char *l = sx.log; *l != '\0';) {
        const char *end = strchr(l, '\n');
        size_t len = end != NULL ? (size_t)(end - l) : strlen(l);
        char line[1024];

        snprintf(line, sizeof(line), "%.*s", (int)len, l);
        n += strncmp(line, head, strlen(head)) == 0 &&
             strstr(line, what) != NULL;
        l += len + (end != NULL);
    }
    return n;
}

/* A new store at NOW with -I ITEM_MAX (0: the default), the snapshot
 * opened and loaded on it. With RC, *RC gets the first failure of
 * snap_open() or snap_load() (sx.err why), or SNAP_OK; without, both
 * must succeed. */
static void
start_opts(uint32_t now, size_t item_max, int *rc_out)
{
    struct store_config c;
    char err[SNAP_ERR_MAX];
    int e = 0, rc;

    store_config_default(&c);
    c.mem_limit = (size_t)16 << 20;
    c.changelog_max = (size_t)1 << 20;
    if (item_max != 0) {
        c.item_size_max = item_max;
    }
    sx.st = store_create(&c, &e);
    ck_assert_ptr_nonnull(sx.st);
    store_clock_set(sx.st, now);
    rc = snap_open(&sx.cfg, sx.st, &sx.sn, err, sizeof(err));
    if (rc == SNAP_OK) {
        rc = snap_load(sx.sn, err, sizeof(err));
    }
    if (rc_out != NULL) {
        *rc_out = rc;
        snprintf(sx.err, sizeof(sx.err), "%s", rc == SNAP_OK ? "" : err);
    } else {
        ck_assert_msg(rc == SNAP_OK, "%s", err);
    }
}

static void
start(uint32_t now)
{
    start_opts(now, 0, NULL);
}

static void
stop(void)
{
    char err[SNAP_ERR_MAX];

    ck_assert_msg(snap_close(&sx.sn, err, sizeof(err)) == SNAP_OK, "%s",
                  err);
    store_destroy(&sx.st);
}

static void
setup(void)
{
    memset(&sx, 0, sizeof(sx));
    snprintf(sx.root, sizeof(sx.root), "/tmp/check_snap_status.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sx.root));
    snprintf(sx.dir, sizeof(sx.dir), "%s/snap", sx.root);
    snap_settings_default(&sx.cfg);
    sx.cfg.dir = sx.dir;
    sx.cfg.interval = 0;
    sx.cfg.log = capture;
}

static void
teardown(void)
{
    char err[SNAP_ERR_MAX];

    snap_close(&sx.sn, err, sizeof(err));
    store_destroy(&sx.st);
    fmt_fixture_rmtree(sx.root);
}

/* Set keys FROM..TO-1 ("k:NNNNNN") to SIZE bytes of text. */
static void
fill(unsigned from, unsigned to, size_t size)
{
    char key[32], val[8192];
    struct item *it;
    int rc;

    for (size_t j = 0; j < size; j++) {
        val[j] = (char)('a' + j % 7);
    }
    for (unsigned i = from; i < to; i++) {
        snprintf(key, sizeof(key), "k:%06u", i);
        it = store_alloc(sx.st, key, strlen(key), 0, 0, size, false, &rc);
        ck_assert_ptr_nonnull(it);
        memcpy(item_value_mut(it), val, size);
        ck_assert_int_eq(t_store(sx.st, it, STORE_SET, 0, NULL), STORE_OK);
        item_unref(it);
    }
}

static int
request(void)
{
    char err[SNAP_ERR_MAX];

    return snap_request(sx.sn, err, sizeof(err));
}

/* ---- core ------------------------------------------------------------- */

/* After a restart, the figures of the snapshot on disk are there before
 * any snapshot of the new process: not 0 until the next interval. */
START_TEST(test_disk_figures_from_the_load)
{
    struct snap_stats a, b;

    start(T0);
    fill(0, 500, 300);
    ck_assert_int_eq(request(), SNAP_OK);
    snap_stats(sx.sn, &a);
    ck_assert_int_eq(a.snapshot_last_status, SNAP_STATUS_OK);
    ck_assert_uint_eq(a.snapshot_items, 500);
    ck_assert_uint_gt(a.snapshot_raw_bytes, 500 * 300);
    ck_assert_uint_gt(a.snapshot_stored_bytes, 0);
    /* the text compresses: the ratio is raw over stored */
    ck_assert_double_eq_tol(a.snapshot_raw_to_stored_ratio,
                            (double)a.snapshot_raw_bytes /
                                (double)a.snapshot_stored_bytes, 1e-9);
    ck_assert(a.snapshot_raw_to_stored_ratio > 1.5);
    stop();
    start(T0 + 10);
    snap_stats(sx.sn, &b);
    ck_assert_uint_eq(b.snapshot_count, 0);
    ck_assert_int_eq(b.snapshot_last_status, SNAP_STATUS_NONE);
    ck_assert_str_eq(b.snapshot_last_error, "");
    ck_assert_uint_eq(b.snapshot_items, 500);
    ck_assert_uint_eq(b.snapshot_raw_bytes, a.snapshot_raw_bytes);
    ck_assert_uint_eq(b.snapshot_stored_bytes, a.snapshot_stored_bytes);
    ck_assert_double_eq_tol(b.snapshot_raw_to_stored_ratio,
                            a.snapshot_raw_to_stored_ratio, 1e-9);
    ck_assert_uint_gt(b.snapshot_bytes_on_disk, a.snapshot_stored_bytes);
    ck_assert_uint_gt(b.snapshot_map_size, 0);
    /* the final snapshot of the first run, at T0 */
    ck_assert_uint_eq(b.snapshot_last_time, T0);
    ck_assert_uint_eq(b.snapshot_age, 10);
    ck_assert_uint_eq(b.warm_restart_items_loaded, 500);
}
END_TEST

START_TEST(test_changes_since_last)
{
    struct snap_stats s;

    start(T0);
    fill(0, 10, 20);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_changes_since_last, 10);
    ck_assert_int_eq(request(), SNAP_OK);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_changes_since_last, 0);
    fill(3, 6, 20);
    ck_assert_int_eq(t_delete(sx.st, "k:000009", 8, 0), STORE_OK);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_changes_since_last, 4);
    /* a restart: the final snapshot holds them all */
    stop();
    start(T0 + 1);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_changes_since_last, 0);
    fill(0, 2, 20);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_changes_since_last, 2);
}
END_TEST

/* No snapshot ever committed: the age counts from the start, so that an
 * alert on it fires instead of reading 0 ("fresh") forever. */
START_TEST(test_age_without_any_snapshot)
{
    struct snap_stats s;

    start(T0);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_time, 0);
    ck_assert_uint_eq(s.snapshot_age, 0);
    store_clock_set(sx.st, T0 + 300);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_time, 0);
    ck_assert_uint_eq(s.snapshot_age, 300);
    ck_assert_int_eq(s.snapshot_last_status, SNAP_STATUS_NONE);
    ck_assert_int_eq(request(), SNAP_OK);
    store_clock_set(sx.st, T0 + 330);
    snap_stats(sx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_time, T0 + 300);
    ck_assert_uint_eq(s.snapshot_age, 30);
}
END_TEST

/* The load says what it loads and what it skipped, and why. */
START_TEST(test_warm_restart_lines)
{
    start(T0);
    ck_assert_uint_eq(lines_with(SNAP_LOG_NOTICE, "holds no snapshot yet"),
                      1);
    fill(0, 40, 100);
    fill(40, 41, 6000);         /* larger than the next -I */
    stop();
    sx.log[0] = '\0';
    start_opts(T0 + 5, 4096, NULL);
    ck_assert_uint_eq(lines_with(SNAP_LOG_NOTICE, "loading snapshot 1 of"),
                      1);
    ck_assert_msg(lines_with(SNAP_LOG_NOTICE, "warm restart from") == 1 &&
                  lines_with(SNAP_LOG_NOTICE, "40 items loaded") == 1 &&
                  lines_with(SNAP_LOG_NOTICE, "(5 s old)") == 1 &&
                  lines_with(SNAP_LOG_NOTICE, "1 larger than -I") == 1,
                  "%s", sx.log);
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

/* A long load says how far it is, at most every progress_ms. */
START_TEST(test_load_progress)
{
    start(T0);
    fill(0, 100000, 40);
    stop();
    sx.log[0] = '\0';
    sx.cfg.progress_ms = 1;
    start(T0 + 1);
    ck_assert_msg(lines_with(SNAP_LOG_NOTICE, "loading records ") > 0 &&
                  lines_with(SNAP_LOG_NOTICE, " of 100000 (") > 0,
                  "%s", sx.log);
    /* at most one line per interval: none in a minute */
    stop();
    sx.log[0] = '\0';
    sx.cfg.progress_ms = 60000;
    start(T0 + 2);
    ck_assert_uint_eq(lines_with(SNAP_LOG_NOTICE, "loading records "), 0);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

/* A full disk (here: the map's limit) logs one ERROR, not one per
 * attempt; stats carry the status and the reason; the first success
 * after it is a NOTICE. */
START_TEST(test_failures_logged_once_per_state_change)
{
    struct snap_stats s;
    char key[32];

    sx.cfg.compression = 0;
    sx.cfg.map_initial = 1 << 20;
    sx.cfg.map_max = 2 << 20;
    start(T0);
    fill(0, 1, 10);
    ck_assert_int_eq(request(), SNAP_OK);
    fill(0, 2000, 3000);
    for (int i = 0; i < 3; i++) {
        store_clock_set(sx.st, T0 + 60 * (uint32_t)(i + 1));
        ck_assert_int_eq(request(), SNAP_EWRITE);
    }
    ck_assert_msg(lines_with(SNAP_LOG_ERROR, "failed:") == 1, "%s", sx.log);
    ck_assert_msg(lines_with(SNAP_LOG_INFO, "failed again (3 in a row)") ==
                  1, "%s", sx.log);
    snap_stats(sx.sn, &s);
    ck_assert_int_eq(s.snapshot_last_status, SNAP_STATUS_FAILED);
    ck_assert_ptr_nonnull(strstr(s.snapshot_last_error, "full"));
    ck_assert_uint_eq(s.snapshot_failures, 3);
    ck_assert_uint_eq(s.snapshot_last_time, T0);
    ck_assert_uint_eq(s.snapshot_age, 180);
    for (unsigned i = 100; i < 2000; i++) {
        snprintf(key, sizeof(key), "k:%06u", i);
        ck_assert_int_eq(t_delete(sx.st, key, strlen(key), 0), STORE_OK);
    }
    store_clock_set(sx.st, T0 + 200);
    ck_assert_int_eq(request(), SNAP_OK);
    ck_assert_msg(lines_with(SNAP_LOG_NOTICE, "work again after 3 failed "
                             "attempt(s) over 140 s") == 1, "%s", sx.log);
    snap_stats(sx.sn, &s);
    ck_assert_int_eq(s.snapshot_last_status, SNAP_STATUS_OK);
    ck_assert_str_eq(s.snapshot_last_error, "");
    ck_assert_uint_eq(s.snapshot_age, 0);
    /* and failing again is a new state: one ERROR more */
    fill(0, 2000, 3000);
    ck_assert_int_eq(request(), SNAP_EWRITE);
    ck_assert_uint_eq(lines_with(SNAP_LOG_ERROR, "failed:"), 2);
}
END_TEST

/* A damaged snapshot refused: closing writes nothing and reports
 * nothing (no "final snapshot failed"), and the files stay as they are. */
static void
flip(unsigned char *rec, size_t *n)
{
    rec[*n - 1] ^= 0xff;
}

START_TEST(test_close_after_refused_load)
{
    char err[SNAP_ERR_MAX];
    struct stat before, after;
    char path[512];
    const char *hint;
    int rc;

    start(T0);
    fill(0, 20, 100);
    stop();
    fmt_fixture_edit_record(sx.dir, "k:000007", flip);
    snprintf(path, sizeof(path), "%s/data.mdb", sx.dir);
    ck_assert_int_eq(stat(path, &before), 0);
    start_opts(T0 + 1, 0, &rc);
    ck_assert_int_eq(rc, SNAP_ECORRUPT);
    /* the hint once */
    hint = strstr(sx.err, "--snapshot-on-corrupt=cold");
    ck_assert_msg(hint != NULL && strstr(hint + 1, "--snapshot-on-corrupt")
                  == NULL, "%s", sx.err);
    sx.log[0] = '\0';
    ck_assert_int_eq(snap_close(&sx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(sx.log, "");
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    ck_assert_int_eq(after.st_size, before.st_size);
}
END_TEST

/* A truncated data.mdb: refused at open, with the hint once. */
START_TEST(test_truncated_hint_once)
{
    char path[512];
    const char *hint;
    int rc;

    sx.cfg.compression = 0;
    start(T0);
    fill(0, 400, 300);
    stop();
    snprintf(path, sizeof(path), "%s/data.mdb", sx.dir);
    ck_assert_int_eq(truncate(path, 16384), 0);
    start_opts(T0 + 1, 0, &rc);
    ck_assert_int_eq(rc, SNAP_ECORRUPT);
    hint = strstr(sx.err, "--snapshot-on-corrupt=cold");
    ck_assert_msg(hint != NULL && strstr(hint + 1, "--snapshot-on-corrupt")
                  == NULL, "%s", sx.err);
}
END_TEST

static Suite *
status_suite(void)
{
    static const char *const names[] = { "core", "limits", "errors" };
    Suite *s = suite_create("snap_status");
    TCase *tc[3];

    for (int i = 0; i < 3; i++) {
        tc[i] = tcase_create(names[i]);
        tcase_add_checked_fixture(tc[i], setup, teardown);
        tcase_set_timeout(tc[i], 60);
        suite_add_tcase(s, tc[i]);
    }
    tcase_add_test(tc[0], test_disk_figures_from_the_load);
    tcase_add_test(tc[0], test_changes_since_last);
    tcase_add_test(tc[0], test_age_without_any_snapshot);
    tcase_add_test(tc[0], test_warm_restart_lines);
    tcase_add_test(tc[1], test_load_progress);
    tcase_add_test(tc[2], test_failures_logged_once_per_state_change);
    tcase_add_test(tc[2], test_close_after_refused_load);
    tcase_add_test(tc[2], test_truncated_hint_once);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(status_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
