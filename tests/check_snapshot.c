/*
 * check_snapshot.c -- the snapshot writer and the warm-restart loader
 * against a real store: incremental snapshots, tombstones, full rewrites
 * on overflow and flush, restarts with expiry, memory limits and CAS
 * safety after a crash, and the corrupt / foreign / stale policies
 * (damaged files: check_snapshot_damage.c, which shares the fixture
 * through check_snapshot.h). Store clocks are frozen so that time is
 * under the test's control.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/check_snapshot.h"
#include "tests/fmt_fixture.h"
#include "tests/store_short.h"

#include <check.h>
#include <glob.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

struct fx fx;

static void
log_capture(void *arg, enum snap_log_level level, const char *msg)
{
    size_t n = strlen(fx.log);

    (void)arg;
    (void)level;
    snprintf(fx.log + n, sizeof(fx.log) - n, "%s\n", msg);
}

struct store *
new_store(size_t mem, size_t changelog, uint32_t now)
{
    struct store_config c;
    struct store *st;
    int e = 0;

    store_config_default(&c);
    c.mem_limit = mem;
    c.changelog_max = changelog;
    st = store_create(&c, &e);
    ck_assert_ptr_nonnull(st);
    store_clock_set(st, now);
    return st;
}

static void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.root, sizeof(fx.root), "/tmp/check_snapshot.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.root));
    snprintf(fx.dir, sizeof(fx.dir), "%s/snap", fx.root);
    snap_settings_default(&fx.cfg);
    fx.cfg.dir = fx.dir;
    fx.cfg.interval = 0;
    fx.cfg.log = log_capture;
    fx.st = new_store(16 << 20, 1 << 20, T0);
}

static void
teardown(void)
{
    char err[SNAP_ERR_MAX];

    snap_close(&fx.sn, err, sizeof(err));
    store_destroy(&fx.st);
    fmt_fixture_rmtree(fx.root);
}

void
put(struct store *st, const char *key, const char *val, size_t n,
    uint32_t flags, uint32_t exptime)
{
    int rc;
    struct item *it = store_alloc(st, key, strlen(key), flags, exptime, n, false,
                                  &rc);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), val, n);
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_OK);
    item_unref(it);
}

void
put_num(struct store *st, unsigned i, size_t n)
{
    char key[32], val[4096];

    snprintf(key, sizeof(key), "key:%06u", i);
    for (size_t j = 0; j < n; j++) {
        val[j] = (char)('a' + (i + j) % 26);
    }
    put(st, key, val, n, i, 0);
}

/* Has KEY with exactly VAL; *CAS gets its CAS. */
bool
has(struct store *st, const char *key, const char *val, uint64_t *cas)
{
    struct item *it = NULL;
    bool ok;

    if (t_get(st, key, strlen(key), &it, NULL) != STORE_OK) {
        return false;
    }
    ok = item_nvalue(it) == strlen(val) &&
         memcmp(item_value(it), val, strlen(val)) == 0;
    if (cas != NULL) {
        *cas = item_cas(it);
    }
    item_unref(it);
    return ok;
}

bool
exists(struct store *st, const char *key)
{
    struct item *it = NULL;

    if (t_get(st, key, strlen(key), &it, NULL) != STORE_OK) {
        return false;
    }
    item_unref(it);
    return true;
}

void
open_snap(void)
{
    char err[SNAP_ERR_MAX];

    ck_assert_msg(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)) ==
                      SNAP_OK, "%s", err);
    ck_assert_msg(snap_load(fx.sn, err, sizeof(err)) == SNAP_OK, "%s", err);
}

void
snapshot(void)
{
    char err[SNAP_ERR_MAX];

    ck_assert_msg(snap_request(fx.sn, err, sizeof(err)) == SNAP_OK, "%s",
                  err);
}

/* Graceful restart: final snapshot, new store at NOW with MEM bytes. */
void
restart(size_t mem, uint32_t now)
{
    char err[SNAP_ERR_MAX];

    ck_assert_msg(snap_close(&fx.sn, err, sizeof(err)) == SNAP_OK, "%s", err);
    store_destroy(&fx.st);
    fx.st = new_store(mem, 1 << 20, now);
    open_snap();
}

void
disk_meta(struct snapfmt_meta *m, uint64_t *last_run)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *t = NULL;
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, NULL, m, err, sizeof(err)),
                     SNAPFMT_OK);
    if (last_run != NULL) {
        ck_assert_int_eq(snapfmt_txn_begin(e, true, &t, err, sizeof(err)),
                         SNAPFMT_OK);
        ck_assert_int_eq(snapfmt_blocks_last_run(t, last_run), SNAPFMT_OK);
        snapfmt_txn_abort(&t);
    }
    snapfmt_env_close(&e);
}

static uint64_t
disk_items(void)
{
    struct snapfmt_meta m;

    disk_meta(&m, NULL);
    return m.items;
}

unsigned
count_glob(const char *suffix)
{
    char pat[512];
    glob_t g;
    unsigned n;

    snprintf(pat, sizeof(pat), "%s%s", fx.dir, suffix);
    if (glob(pat, 0, NULL, &g) != 0) {
        return 0;
    }
    n = (unsigned)g.gl_pathc;
    globfree(&g);
    return n;
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_incremental_and_tombstones)
{
    struct snap_stats s;
    struct stat st;
    char path[512];

    open_snap();
    for (unsigned i = 0; i < 100; i++) {
        put_num(fx.st, i, 50);
    }
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_count, 1);
    ck_assert_uint_eq(s.snapshot_last_items_written, 100);
    ck_assert_uint_eq(disk_items(), 100);
    put(fx.st, "key:000001", "new1", 4, 0, 0);
    put(fx.st, "key:000002", "new2", 4, 0, 0);
    put(fx.st, "fresh", "fresh", 5, 0, 0);
    ck_assert_int_eq(t_delete(fx.st, "key:000003", 10, 0), STORE_OK);
    ck_assert_int_eq(t_delete(fx.st, "key:000004", 10, 0), STORE_OK);
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_count, 2);
    ck_assert_uint_eq(s.snapshot_last_full, 0);
    ck_assert_uint_eq(s.snapshot_last_items_written, 3);
    ck_assert_uint_eq(s.snapshot_last_keys_removed, 2);
    ck_assert_uint_eq(s.snapshot_items, 99);
    ck_assert_uint_eq(disk_items(), 99);
    /* nothing changed: nothing written */
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_items_written, 0);
    ck_assert_uint_eq(stat(fx.dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    ck_assert_uint_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0077, 0);

    ck_assert_uint_eq(snap_close(&fx.sn, path, sizeof(path)), SNAP_OK);
    ck_assert_uint_eq(snap_peek_items(fx.dir), 99);
    snprintf(path, sizeof(path), "%s/none", fx.root);
    ck_assert_uint_eq(snap_peek_items(path), 0);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 10);
    open_snap();
    ck_assert(has(fx.st, "key:000001", "new1", NULL));
    ck_assert(has(fx.st, "fresh", "fresh", NULL));
    ck_assert(!exists(fx.st, "key:000003"));
    ck_assert(!exists(fx.st, "key:000004"));
    ck_assert(exists(fx.st, "key:000099"));
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 99);
    ck_assert_uint_eq(s.warm_restart_snapshot_age, 10);
}
END_TEST

START_TEST(test_restart_keeps_fields_and_cas)
{
    struct item *it = NULL;
    uint64_t cas_before = 0, cas_after = 0;

    open_snap();
    put(fx.st, "k", "value", 5, 0xabcdef01, T0 + 500);
    put(fx.st, "forever", "v2", 2, 7, 0);
    ck_assert(has(fx.st, "forever", "v2", &cas_before));
    restart(16 << 20, T0 + 100);
    ck_assert_int_eq(t_get(fx.st, "k", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_flags(it), 0xabcdef01);
    ck_assert_uint_eq(item_exptime(it), T0 + 500);
    ck_assert(memcmp(item_value(it), "value", 5) == 0);
    item_unref(it);
    ck_assert(has(fx.st, "forever", "v2", &cas_after));
    ck_assert_uint_eq(cas_before, cas_after);
    /* new CAS values are above everything loaded */
    put(fx.st, "n", "x", 1, 0, 0);
    ck_assert(has(fx.st, "n", "x", &cas_after));
    ck_assert_uint_gt(cas_after, cas_before);
}
END_TEST

/* ms KEY VAL through the meta path: E CAS (0: the counter), b key. */
static uint64_t
meta_put(const char *key, const char *val, uint64_t cas, bool binary)
{
    struct store_session ses = t_ses(fx.st);
    struct store_set_opt req = { .mode = STORE_SET, .new_cas = cas,
                                 .key_binary = binary };
    struct store_set_res res;
    int rc;
    struct item *it = store_alloc(fx.st, key, strlen(key), 0, 0,
                                  strlen(val), cas != 0, &rc);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), val, strlen(val));
    ck_assert_int_eq(store_set(&ses, it, &req, &res), STORE_OK);
    item_unref(it);
    return res.cas;
}

/* mg KEY: the state bits the item has after this access. */
static unsigned
meta_bits_of(const char *key, struct store_get_res *res)
{
    struct store_session ses = t_ses(fx.st);
    struct store_get_opt req = { .no_bump = true };
    unsigned bits;

    ck_assert_int_eq(store_get(&ses, key, strlen(key), &req, res),
                     STORE_OK);
    bits = item_state_bits(res->it);
    item_unref(res->it);
    return bits;
}

/* stale (md I), won (the mg after it), fetched, binary key: all of it
 * comes back after a restart, in full and incremental snapshots. */
START_TEST(test_meta_state_survives_restart)
{
    struct store_session ses = t_ses(fx.st);
    struct store_del_opt inval = { .invalidate = true };
    struct store_get_res res;
    struct snap_stats st;
    struct item *it = NULL;
    char err[SNAP_ERR_MAX];

    open_snap();
    meta_put("plain", "p", 0, false);
    meta_put("stale", "s", 0, false);
    meta_put("bin\x01", "b", 0, true);
    ck_assert_int_eq(store_delete(&ses, "stale", 5, &inval), STORE_OK);
    ck_assert_uint_eq(meta_bits_of("stale", &res), STORE_STATE_STALE |
                                                   STORE_STATE_WON);
    ck_assert(res.won && res.stale);
    meta_put("late", "w", 0, false);
    ck_assert_int_eq(store_delete(&ses, "late", 4, &inval), STORE_OK);
    snapshot();
    /* won after the snapshot that saved it stale: the win is a change */
    ck_assert_uint_eq(meta_bits_of("late", &res), STORE_STATE_STALE |
                                                  STORE_STATE_WON);
    snapshot();
    snap_stats(fx.sn, &st);
    ck_assert_uint_eq(st.snapshot_last_items_written, 1);
    meta_put("later", "l", 0, true);
    ck_assert_int_eq(t_get(fx.st, "later", 5, &it, NULL), STORE_OK);
    item_unref(it);
    restart(16 << 20, T0 + 1);
    ck_assert_uint_eq(meta_bits_of("plain", &res), 0);
    ck_assert_uint_eq(meta_bits_of("stale", &res), STORE_STATE_STALE |
                                                   STORE_STATE_WON);
    /* the win was handed out before the restart: no second winner */
    ck_assert(res.stale && res.already_won && !res.won);
    ck_assert_uint_eq(meta_bits_of("late", &res), STORE_STATE_STALE |
                                                  STORE_STATE_WON);
    ck_assert(res.already_won && !res.won);
    ck_assert_uint_eq(meta_bits_of("bin\x01", &res),
                      STORE_STATE_KEY_BINARY);
    ck_assert_uint_eq(meta_bits_of("later", &res),
                      STORE_STATE_KEY_BINARY | STORE_STATE_FETCHED);
    ck_assert(has(fx.st, "stale", "s", NULL));
    /* a full rewrite (no change log) saves the loaded state as it is */
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 0, T0 + 2);
    open_snap();
    snapshot();
    snap_stats(fx.sn, &st);
    ck_assert_uint_eq(st.snapshot_last_full, 1);
    restart(16 << 20, T0 + 3);
    ck_assert_uint_eq(meta_bits_of("late", &res), STORE_STATE_STALE |
                                                  STORE_STATE_WON);
    ck_assert_uint_eq(meta_bits_of("bin\x01", &res),
                      STORE_STATE_KEY_BINARY);
    ck_assert_uint_eq(meta_bits_of("later", &res),
                      STORE_STATE_KEY_BINARY | STORE_STATE_FETCHED);
}
END_TEST

/*
 * ms E with a CAS near 2^64 keeps that CAS across a restart, but it is no
 * counter value: the counter stays low (a snapshot must not exhaust it),
 * cas_max on disk ignores it, and flush_all still orders the item.
 */
START_TEST(test_explicit_cas_keeps_counter)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_meta m;
    char err[SNAPFMT_ERR_MAX];
    struct item *it = NULL;
    uint64_t cas = 0, before;

    open_snap();
    meta_put("a", "1", 0, false);
    ck_assert_uint_eq(meta_put("huge", "h", UINT64_MAX, false), UINT64_MAX);
    meta_put("b", "2", 0, false);
    before = store_cas_current(fx.st);
    ck_assert_uint_lt(before, (uint64_t)1 << 32);
    restart(16 << 20, T0 + 1);
    ck_assert(has(fx.st, "huge", "h", &cas));
    ck_assert_uint_eq(cas, UINT64_MAX);
    ck_assert_int_eq(t_get(fx.st, "huge", 4, &it, NULL), STORE_OK);
    ck_assert(item_cas_explicit(it));
    item_unref(it);
    ck_assert_uint_lt(store_cas_current(fx.st), (uint64_t)1 << 32);
    put(fx.st, "n", "x", 1, 0, 0);
    ck_assert(has(fx.st, "n", "x", &cas));
    ck_assert_uint_gt(cas, before);
    ck_assert_uint_lt(cas, (uint64_t)1 << 32);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, NULL, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    snapfmt_env_close(&e);
    ck_assert_uint_eq(m.format_version, SNAPFMT_VERSION);
    ck_assert_uint_lt(m.cas_max, (uint64_t)1 << 32);
    ck_assert_uint_ge(m.cas_max, cas);
    open_snap();
    ck_assert(has(fx.st, "huge", "h", &cas));
    ck_assert_uint_eq(cas, UINT64_MAX);
    /* its order CAS is a counter value below the flush: it dies too */
    t_flush(fx.st, 0);
    ck_assert(!exists(fx.st, "huge"));
    ck_assert(!exists(fx.st, "n"));
    ck_assert_uint_eq(meta_put("huge", "h2", UINT64_MAX, false), UINT64_MAX);
    ck_assert(has(fx.st, "huge", "h2", NULL));
}
END_TEST

/* meta format_version of the closed snapshot */
static unsigned
disk_format(void)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_meta m;
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, err,
                                      sizeof(err)), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_read(e, NULL, &m, err, sizeof(err)),
                     SNAPFMT_OK);
    snapfmt_env_close(&e);
    return m.format_version;
}

/* A format 1 snapshot loads (no state, counter CAS values as before);
 * the first snapshot after it rewrites the directory in format 3. */
START_TEST(test_format1_snapshot_loads)
{
    char err[SNAP_ERR_MAX];
    uint64_t cas = 0, cas1 = 0;

    open_snap();
    put(fx.st, "a", "1", 1, 5, 0);
    meta_put("b", "2", 0, true);
    ck_assert(has(fx.st, "a", "1", &cas1));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    /* what a format 1 writer left: version 1 records in items */
    fmt_fixture_to_items(fx.dir, 1, NULL);
    ck_assert_uint_eq(disk_format(), 1);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 1);
    open_snap();
    ck_assert(has(fx.st, "a", "1", &cas));
    ck_assert_uint_eq(cas, cas1);
    ck_assert(has(fx.st, "b", "2", NULL));
    put(fx.st, "c", "3", 1, 0, 0);
    snapshot();
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_uint_eq(disk_format(), SNAPFMT_VERSION);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    open_snap();
    ck_assert(has(fx.st, "a", "1", NULL));
    ck_assert(has(fx.st, "c", "3", NULL));
}
END_TEST

START_TEST(test_flush_reaches_snapshot)
{
    struct snap_stats s;

    open_snap();
    for (unsigned i = 0; i < 50; i++) {
        put_num(fx.st, i, 20);
    }
    snapshot();
    ck_assert_uint_eq(disk_items(), 50);
    t_flush(fx.st, 0);
    put(fx.st, "after", "flush", 5, 0, 0);
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(disk_items(), 1);
    restart(16 << 20, T0 + 1);
    ck_assert(!exists(fx.st, "key:000001"));
    ck_assert(has(fx.st, "after", "flush", NULL));
}
END_TEST

START_TEST(test_writer_thread_and_request)
{
    struct snap_stats s;
    char err[SNAP_ERR_MAX];

    fx.cfg.interval = 1;
    open_snap();
    ck_assert_int_eq(snap_start(fx.sn), SNAP_OK);
    put(fx.st, "a", "1", 1, 0, 0);
    /* the interval alone writes it (slowly on a loaded machine) */
    for (int i = 0; i < 150; i++) {
        snap_stats(fx.sn, &s);
        if (s.snapshot_count > 0 && disk_items() == 1) {
            break;
        }
        usleep(100 * 1000);
    }
    ck_assert_uint_eq(disk_items(), 1);
    put(fx.st, "b", "2", 1, 0, 0);
    ck_assert_int_eq(snap_request(fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_uint_eq(disk_items(), 2);
    restart(16 << 20, T0 + 1);
    ck_assert(has(fx.st, "b", "2", NULL));
}
END_TEST

struct done {
    int calls;
    int rc;
    pthread_mutex_t lock;
};

static void
on_done(void *arg, int rc, const char *err)
{
    struct done *d = arg;

    ck_assert_ptr_nonnull(err);
    pthread_mutex_lock(&d->lock);
    d->calls++;
    d->rc = rc;
    pthread_mutex_unlock(&d->lock);
}

static int
done_calls(struct done *d)
{
    int n;

    pthread_mutex_lock(&d->lock);
    n = d->calls;
    pthread_mutex_unlock(&d->lock);
    return n;
}

START_TEST(test_request_async)
{
    struct done d = { 0, 1, PTHREAD_MUTEX_INITIALIZER };
    char err[SNAP_ERR_MAX];

    open_snap();
    /* no thread: done before the call returns */
    put(fx.st, "s", "1", 1, 0, 0);
    ck_assert_int_eq(snap_request_async(fx.sn, on_done, &d), SNAP_OK);
    ck_assert_int_eq(done_calls(&d), 1);
    ck_assert_int_eq(d.rc, SNAP_OK);
    ck_assert_uint_eq(disk_items(), 1);
    /* with the thread: the caller goes on, the callback comes later */
    ck_assert_int_eq(snap_start(fx.sn), SNAP_OK);
    put(fx.st, "t", "2", 1, 0, 0);
    ck_assert_int_eq(snap_request_async(fx.sn, on_done, &d), SNAP_OK);
    for (int i = 0; i < 300 && done_calls(&d) < 2; i++) {
        usleep(20 * 1000);
    }
    ck_assert_int_eq(done_calls(&d), 2);
    ck_assert_int_eq(d.rc, SNAP_OK);
    ck_assert_uint_eq(disk_items(), 2);
    /* asked just before close: served exactly once, by whichever comes */
    put(fx.st, "u", "3", 1, 0, 0);
    ck_assert_int_eq(snap_request_async(fx.sn, on_done, &d), SNAP_OK);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(done_calls(&d), 3);
    ck_assert_int_eq(d.rc, SNAP_OK);
    ck_assert_uint_eq(disk_items(), 3);
}
END_TEST

struct writer_arg {
    struct store *st;
    struct done *d;
    unsigned ok;
    unsigned enomem;
};

/* Writes as a client would until the snapshot is done. */
static void *
busy_writer(void *arg)
{
    struct writer_arg *w = arg;
    char key[32], val[1000];
    unsigned i = 100000;
    int rc;

    memset(val, 'w', sizeof(val));
    while (done_calls(w->d) == 0 || i < 100000 + 3000) {
        struct item *it;
        snprintf(key, sizeof(key), "w:%u", i++);
        it = store_alloc(w->st, key, strlen(key), 0, 0, sizeof(val), false, &rc);
        if (it == NULL) {
            w->enomem++;
            continue;
        }
        memcpy(item_value_mut(it), val, sizeof(val));
        if (t_store(w->st, it, STORE_SET, 0, NULL) == STORE_OK) {
            w->ok++;
        }
        item_unref(it);
    }
    return NULL;
}

START_TEST(test_full_cache_keeps_evicting_during_snapshot)
{
    struct done d = { 0, 1, PTHREAD_MUTEX_INITIALIZER };
    struct writer_arg w = { NULL, &d, 0, 0 };
    pthread_t tid;

    /* a full 4 MiB cache: every new item needs an eviction */
    store_destroy(&fx.st);
    fx.st = new_store(4 << 20, 1 << 20, T0);
    w.st = fx.st;
    open_snap();
    for (unsigned i = 0; i < 8000; i++) {
        put_num(fx.st, i, 1000);
    }
    ck_assert_int_eq(snap_start(fx.sn), SNAP_OK);
    ck_assert_int_eq(pthread_create(&tid, NULL, busy_writer, &w), 0);
    /* the first snapshot rewrites everything */
    ck_assert_int_eq(snap_request_async(fx.sn, on_done, &d), SNAP_OK);
    pthread_join(tid, NULL);
    ck_assert_int_eq(d.rc, SNAP_OK);
    ck_assert_uint_ge(w.ok, 3000);
    ck_assert_uint_eq(w.enomem, 0);
}
END_TEST

/* A dictionary of 32 KiB of JSON-like text, id 1 (what a format 2
 * writer trained and stored; format 3 compresses whole blocks instead). */
static struct snapfmt_dict *
json_dict(void)
{
    static const char text[] = "{\"id\":1,\"name\":\"user_7\",\"email\":"
                               "\"u1@example.com\",\"active\":true,"
                               "\"plan\":\"pro\",\"visits\":13}";
    struct snapfmt_dict *d = NULL;
    char *buf = malloc(32768), err[SNAPFMT_ERR_MAX];

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < 32768; i++) {
        buf[i] = text[i % (sizeof(text) - 1)];
    }
    ck_assert_int_eq(snapfmt_dict_create(1, buf, 32768, 3, &d, err,
                                         sizeof(err)), SNAPFMT_OK);
    free(buf);
    return d;
}

/* The JSON value of user I. */
static int
json_value(unsigned i, char *val, size_t cap)
{
    return snprintf(val, cap,
                    "{\"id\":%u,\"name\":\"user_%u\",\"email\":\"u%u@exa"
                    "mple.com\",\"active\":%s,\"plan\":\"%s\",\"visits\":"
                    "%u,\"tags\":[\"a%u\",\"b\"]}",
                    i, i * 7, i, i % 3 ? "true" : "false",
                    i % 2 ? "pro" : "free", i * 13 % 1000, i % 17);
}

/* Format 3 compresses blocks of records (no dictionary is trained);
 * a format 2 snapshot whose records need a dictionary still loads, and
 * the next snapshot rewrites it in format 3. */
START_TEST(test_block_compression_and_format2_dictionary)
{
    struct snap_stats s;
    struct snapfmt_dict *d;
    char key[32], val[512], err[SNAP_ERR_MAX];
    int n;

    open_snap();
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "user:%u", i);
        n = json_value(i, val, sizeof(val));
        put(fx.st, key, val, (size_t)n, 0, 0);
    }
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_ptr_null(strstr(fx.log, "trained dictionary"));
    /* one frame per ~64 KiB of alike values: far better than per value */
    ck_assert_msg(s.snapshot_raw_to_stored_ratio > 4.0, "ratio %f",
                  s.snapshot_raw_to_stored_ratio);
    restart(16 << 20, T0 + 1);
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 3000);
    n = json_value(42, val, sizeof(val));
    ck_assert(has(fx.st, "user:42", val, NULL));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    d = json_dict();
    fmt_fixture_to_items(fx.dir, 2, d);
    snapfmt_dict_destroy(&d);
    restart(16 << 20, T0 + 2);
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 3000);
    ck_assert(has(fx.st, "user:42", val, NULL));
    put(fx.st, "user:1", val, (size_t)n, 0, 0);
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    restart(16 << 20, T0 + 3);
    ck_assert(has(fx.st, "user:1", val, NULL));
    ck_assert(has(fx.st, "user:42", val, NULL));
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 3000);
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

START_TEST(test_full_rewrite_on_overflow)
{
    struct snap_stats s;

    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 2048, T0);
    open_snap();
    put(fx.st, "x", "1", 1, 0, 0);
    snapshot();
    put(fx.st, "y", "2", 1, 0, 0);
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 0);
    ck_assert_int_eq(t_delete(fx.st, "x", 1, 0), STORE_OK);
    for (unsigned i = 0; i < 1000; i++) {
        put_num(fx.st, i, 10);
    }
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(s.snapshot_last_items_written, 1001);
    ck_assert_uint_eq(disk_items(), 1001);
    restart(16 << 20, T0 + 1);
    ck_assert(!has(fx.st, "x", "1", NULL));
    ck_assert(has(fx.st, "y", "2", NULL));
}
END_TEST

START_TEST(test_more_than_memory_keeps_recent)
{
    struct snap_stats s;
    char key[32];
    unsigned recent = 0, old = 0;

    fx.cfg.compression = 0;
    open_snap();
    for (unsigned i = 0; i < 8000; i++) {
        store_clock_set(fx.st, T0 + i / 10);
        put_num(fx.st, i, 1000);
    }
    snapshot();
    restart(2 << 20, T0 + 1000);
    snap_stats(fx.sn, &s);
    ck_assert_uint_gt(s.warm_restart_items_dropped, 0);
    ck_assert_uint_gt(s.warm_restart_items_loaded, 500);
    ck_assert_uint_eq(s.warm_restart_items_loaded +
                          s.warm_restart_items_dropped, 8000);
    for (unsigned i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "key:%06u", 7999 - i);
        recent += exists(fx.st, key);
        snprintf(key, sizeof(key), "key:%06u", i);
        old += exists(fx.st, key);
    }
    ck_assert_uint_eq(recent, 500);
    ck_assert_uint_eq(old, 0);
    /* what did not fit leaves the snapshot too, so it cannot come back */
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(disk_items(), s.warm_restart_items_loaded);
}
END_TEST

START_TEST(test_expiry_while_down)
{
    struct snap_stats s;

    open_snap();
    put(fx.st, "short", "s", 1, 0, T0 + 100);
    put(fx.st, "long", "l", 1, 0, T0 + 1000);
    put(fx.st, "never", "n", 1, 0, 0);
    restart(16 << 20, T0 + 200);
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 2);
    ck_assert_uint_eq(s.warm_restart_items_expired, 1);
    ck_assert(!has(fx.st, "short", "s", NULL));
    ck_assert(has(fx.st, "long", "l", NULL));
    ck_assert(has(fx.st, "never", "n", NULL));
}
END_TEST

START_TEST(test_map_grows)
{
    struct snap_stats s;

    fx.cfg.compression = 0;
    fx.cfg.map_initial = 1 << 20;
    open_snap();
    for (unsigned i = 0; i < 3000; i++) {
        put_num(fx.st, i, 2000);
    }
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_gt(s.snapshot_map_size, 4 << 20);
    ck_assert_uint_eq(disk_items(), 3000);
}
END_TEST

START_TEST(test_big_full_rewrite)
{
    struct snap_stats s;
    char key[32];

    open_snap();
    for (unsigned i = 0; i < 70000; i++) {
        put_num(fx.st, i, 8);
    }
    snapshot();     /* sorted on two threads, written with MDB_APPEND */
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(s.snapshot_last_items_written, 70000);
    restart(32 << 20, T0 + 1);
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 70000);
    for (unsigned i = 0; i < 70000; i += 997) {
        snprintf(key, sizeof(key), "key:%06u", i);
        ck_assert(exists(fx.st, key));
    }
}
END_TEST

START_TEST(test_large_values)
{
    size_t n = 300 << 10;
    char *v = malloc(n), key[32];
    struct item *it;

    ck_assert_ptr_nonnull(v);
    open_snap();
    for (unsigned i = 0; i < 30; i++) {
        for (size_t j = 0; j < n; j++) {
            v[j] = (char)('A' + (j * 31 + i + j / 4096) % 53);
        }
        snprintf(key, sizeof(key), "big:%u", i);
        put(fx.st, key, v, n, i, 0);
    }
    restart(32 << 20, T0 + 1);
    for (unsigned i = 0; i < 30; i++) {
        for (size_t j = 0; j < n; j++) {
            v[j] = (char)('A' + (j * 31 + i + j / 4096) % 53);
        }
        snprintf(key, sizeof(key), "big:%u", i);
        it = NULL;
        ck_assert_int_eq(t_get(fx.st, key, strlen(key), &it, NULL),
                         STORE_OK);
        ck_assert_uint_eq(item_nvalue(it), n);
        ck_assert(memcmp(item_value(it), v, n) == 0);
        item_unref(it);
    }
    free(v);
}
END_TEST

/*
 * put() for a child that will be killed: no Check macro, because each one
 * (even a passing one) writes a location record into Check's message
 * stream, and a SIGKILL in the middle of that write corrupts the stream
 * for the whole suite ("Bad message type").
 */
static bool
child_put(struct store *st, const char *key, const char *val, size_t n,
          uint32_t flags)
{
    int rc;
    struct item *it = store_alloc(st, key, strlen(key), flags, 0, n, false, &rc);

    if (it == NULL) {
        return false;
    }
    memcpy(item_value_mut(it), val, n);
    rc = t_store(st, it, STORE_SET, 0, NULL);
    item_unref(it);
    return rc == STORE_OK;
}

/*
 * Child of the torture test: load what the last incarnation left, then
 * rewrite every key with a new generation and snapshot, forever; after
 * each durable snapshot tell the parent its generation. Uses no Check
 * macro (see child_put).
 */
static void
torture_child(int fd, size_t changelog)
{
    char err[SNAP_ERR_MAX], key[32], val[64];
    struct store_config c;
    struct store *st;
    struct snap *sn = NULL;
    int e = 0;

    store_config_default(&c);
    c.mem_limit = 16 << 20;
    c.changelog_max = changelog;
    st = store_create(&c, &e);
    if (st == NULL) {
        _exit(2);
    }
    store_clock_set(st, T0);
    if (snap_open(&fx.cfg, st, &sn, err, sizeof(err)) != SNAP_OK ||
        snap_load(sn, err, sizeof(err)) != SNAP_OK) {
        fprintf(stderr, "torture child: %s\n", err);
        _exit(2);
    }
    for (uint32_t gen = 1;; gen++) {
        for (unsigned i = 0; i < 2000; i++) {
            int n;
            snprintf(key, sizeof(key), "t:%u", i);
            n = snprintf(val, sizeof(val), "gen %u key %u", gen, i);
            if (!child_put(st, key, val, (size_t)n, gen)) {
                _exit(3);
            }
        }
        if (snap_request(sn, err, sizeof(err)) != SNAP_OK ||
            write(fd, &gen, sizeof(gen)) != sizeof(gen)) {
            _exit(3);
        }
    }
}

/* After a crash: every key present, intact, at least generation MIN. */
static void
torture_check(uint32_t min_gen)
{
    char key[32], want[64];
    struct item *it;
    unsigned gen, idx;

    for (unsigned i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "t:%u", i);
        it = NULL;
        ck_assert_msg(t_get(fx.st, key, strlen(key), &it, NULL) ==
                          STORE_OK, "%s lost (acked gen %u)", key, min_gen);
        ck_assert_uint_lt(item_nvalue(it), sizeof(want));
        memcpy(want, item_value(it), item_nvalue(it));
        want[item_nvalue(it)] = '\0';
        ck_assert_int_eq(sscanf(want, "gen %u key %u", &gen, &idx), 2);
        ck_assert_uint_eq(idx, i);
        ck_assert_uint_ge(gen, min_gen);
        ck_assert_uint_eq(item_flags(it), gen);
        item_unref(it);
    }
}

/*
 * Rounds of the kill -9 torture: EMBER_TORTURE_ROUNDS, default 24 (what
 * `make check` runs); `make torture` runs hundreds.
 */
static unsigned
torture_rounds(void)
{
    const char *env = getenv("EMBER_TORTURE_ROUNDS");
    unsigned long n = env != NULL ? strtoul(env, NULL, 10) : 0;

    return n > 0 && n < 100000 ? (unsigned)n : 24;
}

START_TEST(test_kill9_torture)
{
    unsigned rounds = torture_rounds();
    uint32_t acked = 0, g;
    char err[SNAP_ERR_MAX];
    int fds[2], status;
    unsigned checked = 0;
    pid_t pid;

    for (unsigned round = 0; round < rounds; round++) {
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            /* odd rounds: a tiny change log, so every snapshot is full */
            torture_child(fds[1], round % 2 ? 512 : 1 << 20);
        }
        close(fds[1]);
        /* let it commit once (however loaded the machine is), then kill
         * it at a random moment of its next snapshots */
        if (read(fds[0], &g, sizeof(g)) == sizeof(g)) {
            acked = g;
        }
        usleep((useconds_t)(random() % 200000));
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "child exited %d",
                      WEXITSTATUS(status));
        while (read(fds[0], &g, sizeof(g)) == sizeof(g)) {
            acked = g;
        }
        close(fds[0]);
        if (acked > 0) {
            checked++;
            open_snap();
            torture_check(acked);
            ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
            store_destroy(&fx.st);
            fx.st = new_store(16 << 20, 1 << 20, T0);
        }
        /* each child starts again from generation 1 over what it loaded */
        acked = 0;
    }
    ck_assert_uint_eq(checked, rounds);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

/* Child: write, snapshot, write past the reservation, then die hard. */
static void
crash_child(int fd)
{
    char err[SNAP_ERR_MAX];
    uint64_t cas = 0;

    fx.cfg.cas_step = 100;
    if (snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)) != SNAP_OK ||
        snap_load(fx.sn, err, sizeof(err)) != SNAP_OK) {
        _exit(2);
    }
    for (unsigned i = 0; i < 50; i++) {
        put_num(fx.st, i, 10);
    }
    if (snap_request(fx.sn, err, sizeof(err)) != SNAP_OK) {
        _exit(3);
    }
    for (unsigned i = 0; i < 1000; i++) {
        put_num(fx.st, i, 10);
    }
    has(fx.st, "key:000999", "", &cas);
    if (write(fd, &cas, sizeof(cas)) != sizeof(cas)) {
        _exit(4);
    }
    _exit(0);   /* kill -9: no final snapshot */
}

START_TEST(test_cas_never_reused_after_crash)
{
    uint64_t handed = 0, now_cas = 0;
    int fds[2], status;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(fds[1]);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &handed, sizeof(handed)), sizeof(handed));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_gt(handed, 1000);
    fx.cfg.cas_step = 100;
    open_snap();
    /* the last snapshot had 50 items; the later writes were lost */
    ck_assert(exists(fx.st, "key:000049"));
    ck_assert(!exists(fx.st, "key:000999"));
    put(fx.st, "new", "v", 1, 0, 0);
    ck_assert(has(fx.st, "new", "v", &now_cas));
    ck_assert_uint_gt(now_cas, handed);
    ck_assert_uint_gt(store_cas_current(fx.st), handed);
}
END_TEST

/* JSON-like values: enough alike for a dictionary to be trained. */
static void
put_json(unsigned n)
{
    char key[32], val[512];
    int len;

    for (unsigned i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "user:%u", i);
        len = snprintf(val, sizeof(val),
                       "{\"id\":%u,\"name\":\"user_%u\",\"plan\":\"%s\","
                       "\"visits\":%u}", i, i * 7, i % 2 ? "pro" : "free",
                       i * 13 % 1000);
        put(fx.st, key, val, (size_t)len, 0, 0);
    }
}

/*
 * A bit flipped in the size LMDB keeps for a stored dictionary (its leaf
 * node: size low 16 bits, size high 16 bits, flags F_BIGDATA, key size
 * 4, key id 1; bit 24 of the size: 32768 -> 16809984): reading that much ran past the file and
 * crashed emberd with SIGBUS while opening, whatever the policy (issue
 * 11). Now: the corrupt policy.
 */
START_TEST(test_flipped_dictionary_size)
{
    static const unsigned char node[] = { 0x00, 0x80, 0x00, 0x00, 0x01,
                                          0x00, 0x04, 0x00, 0x01, 0x00,
                                          0x00, 0x00 };
    char err[SNAP_ERR_MAX], path[512];
    unsigned char *buf;
    long n, at = -1;
    FILE *f;

    struct snapfmt_dict *d = json_dict();

    open_snap();
    put_json(3000);
    snapshot();
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    /* a format 2 snapshot with its dictionary */
    fmt_fixture_to_items(fx.dir, 2, d);
    snapfmt_dict_destroy(&d);
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    buf = malloc((size_t)n);
    rewind(f);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    /* every copy (LMDB keeps older copies of pages in the file) */
    for (long i = 0; i + (long)sizeof(node) <= n; i++) {
        if (memcmp(buf + i, node, sizeof(node)) == 0) {
            at = i;
            fseek(f, at + 3, SEEK_SET);
            fputc(0x01, f);
        }
    }
    ck_assert_msg(at >= 0, "dictionary node not found");
    fclose(f);
    free(buf);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 1);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    open_snap();
    ck_assert_uint_eq(count_glob(".corrupt-*"), 1);
    ck_assert(!exists(fx.st, "user:1"));
}
END_TEST

START_TEST(test_foreign_dir_untouched)
{
    char err[SNAP_ERR_MAX], path[512];
    struct stat st;
    FILE *f;

    ck_assert_int_eq(mkdir(fx.dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", fx.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("mine", f);
    fclose(f);
    fx.cfg.on_corrupt = SNAP_CORRUPT_COLD;
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_EFOREIGN);
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(count_glob(".corrupt-*"), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

START_TEST(test_future_version_refused)
{
    struct snapfmt_env *e = NULL;
    char err[SNAP_ERR_MAX];
    struct snapfmt_txn *txn = NULL;

    open_snap();
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "format_version", 5),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, NULL, 0), SNAPFMT_OK);
    snapfmt_env_close(&e);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_EVERSION);
    ck_assert_ptr_nonnull(strstr(err, "version 5"));
    ck_assert_ptr_nonnull(strstr(err, fx.dir));
    said_once(err, "--snapshot-on-corrupt=cold");
}
END_TEST

START_TEST(test_stale_snapshot_starts_cold)
{
    struct snap_stats s;

    fx.cfg.max_age = 60;
    open_snap();
    put(fx.st, "old", "o", 1, 0, 0);
    restart(16 << 20, T0 + 30);
    ck_assert(has(fx.st, "old", "o", NULL));
    ck_assert_uint_eq(count_glob(".stale-*"), 0);
    restart(16 << 20, T0 + 1000);
    ck_assert(!has(fx.st, "old", "o", NULL));
    ck_assert_uint_eq(count_glob(".stale-*"), 1);
    ck_assert_ptr_nonnull(strstr(fx.log, "starting cold"));
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, 0);
}
END_TEST

START_TEST(test_write_failure_counted_and_recovered)
{
    struct snap_stats s;
    char err[SNAP_ERR_MAX];

    fx.cfg.compression = 0;
    fx.cfg.map_initial = 1 << 20;
    fx.cfg.map_max = 2 << 20;
    open_snap();
    put(fx.st, "small", "s", 1, 0, 0);
    snapshot();
    for (unsigned i = 0; i < 2000; i++) {
        put_num(fx.st, i, 3000);
    }
    ck_assert_int_eq(snap_request(fx.sn, err, sizeof(err)), SNAP_EWRITE);
    ck_assert_ptr_nonnull(strstr(err, "full"));
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_failures, 1);
    ck_assert_uint_eq(s.snapshot_count, 1);
    /* still serving everything */
    ck_assert(has(fx.st, "small", "s", NULL));
    ck_assert(exists(fx.st, "key:001999"));
    for (unsigned i = 100; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key:%06u", i);
        t_delete(fx.st, key, strlen(key), 0);
    }
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(disk_items(), 101);
}
END_TEST

/*
 * The CAS reservation commits a transaction of its own (at load, and
 * whenever the counter nears the reserved limit). A map-full in that
 * commit -- not in its put -- grows the map and commits again, and at
 * map_max it is SNAP_EWRITE saying so.
 */
START_TEST(test_cas_reservation_commit_map_full)
{
    char err[SNAP_ERR_MAX];
    struct snap_stats s;

    fx.cfg.compression = 0;
    fx.cfg.map_initial = fmt_fixture_commit_full_map(fx.dir);
    open_snap();    /* snap_load() reserves: the commit needs the growth */
    put(fx.st, "kept", "k", 1, 0, 0);
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_gt(s.snapshot_map_size, fx.cfg.map_initial);
    restart(16 << 20, T0 + 1);
    ck_assert(has(fx.st, "kept", "k", NULL));
    snap_close(&fx.sn, err, sizeof(err));

    /* the same at the limit: refused, with a message that says why */
    fmt_fixture_remove(fx.dir);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    fx.cfg.map_max = fx.cfg.map_initial;
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_int_eq(snap_load(fx.sn, err, sizeof(err)), SNAP_EWRITE);
    ck_assert_msg(strstr(err, "CAS reservation") != NULL &&
                  strstr(err, "map full at its limit") != NULL &&
                  strstr(err, "commit: MDB_MAP_FULL") != NULL, "%s", err);
}
END_TEST

START_TEST(test_dir_in_use)
{
    struct store *other = new_store(4 << 20, 1 << 20, T0);
    struct snap *sn2 = NULL;
    char err[SNAP_ERR_MAX];

    open_snap();
    ck_assert_int_eq(snap_open(&fx.cfg, other, &sn2, err, sizeof(err)),
                     SNAP_ESYS);
    ck_assert_ptr_null(sn2);
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(snap_open(&fx.cfg, other, &sn2, err, sizeof(err)),
                     SNAP_OK);
    snap_close(&sn2, err, sizeof(err));
    store_destroy(&other);
}
END_TEST

START_TEST(test_no_write_before_load)
{
    char err[SNAP_ERR_MAX];

    open_snap();
    put(fx.st, "kept", "k", 1, 0, 0);
    restart(16 << 20, T0 + 1);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    store_destroy(&fx.st);
    fx.st = new_store(16 << 20, 1 << 20, T0 + 2);
    ck_assert_int_eq(snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)),
                     SNAP_OK);
    /* an empty store that was not loaded must not replace the snapshot;
     * closing it writes nothing (and so has nothing to report) */
    ck_assert_int_eq(snap_request(fx.sn, err, sizeof(err)), SNAP_EINVAL);
    ck_assert_int_eq(snap_close(&fx.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_uint_eq(disk_items(), 1);
}
END_TEST

static Suite *
snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(core, 30);
    /* the torture runs many rounds (make torture: hundreds) */
    tcase_set_timeout(limits, 60 + 2 * torture_rounds());
    tcase_set_timeout(errors, 30);
    tcase_add_test(core, test_incremental_and_tombstones);
    tcase_add_test(core, test_restart_keeps_fields_and_cas);
    tcase_add_test(core, test_meta_state_survives_restart);
    tcase_add_test(core, test_explicit_cas_keeps_counter);
    tcase_add_test(core, test_format1_snapshot_loads);
    tcase_add_test(core, test_flush_reaches_snapshot);
    tcase_add_test(core, test_writer_thread_and_request);
    tcase_add_test(core, test_request_async);
    tcase_add_test(core, test_block_compression_and_format2_dictionary);
    tcase_add_test(limits, test_full_rewrite_on_overflow);
    tcase_add_test(limits, test_more_than_memory_keeps_recent);
    tcase_add_test(limits, test_expiry_while_down);
    tcase_add_test(limits, test_map_grows);
    tcase_add_test(limits, test_kill9_torture);
    tcase_add_test(limits, test_big_full_rewrite);
    tcase_add_test(limits, test_large_values);
    tcase_add_test(limits, test_full_cache_keeps_evicting_during_snapshot);
    add_mem_tests(limits);
    tcase_add_test(errors, test_cas_never_reused_after_crash);
    tcase_add_test(errors, test_flipped_dictionary_size);
    tcase_add_test(errors, test_foreign_dir_untouched);
    add_damage_tests(errors);
    tcase_add_test(errors, test_future_version_refused);
    tcase_add_test(errors, test_stale_snapshot_starts_cold);
    tcase_add_test(errors, test_write_failure_counted_and_recovered);
    tcase_add_test(errors, test_dir_in_use);
    tcase_add_test(errors, test_cas_reservation_commit_map_full);
    tcase_add_test(errors, test_no_write_before_load);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(snapshot_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
