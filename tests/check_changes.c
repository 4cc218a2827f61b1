/*
 * check_changes.c -- the store's one mutation path: every verb that
 * changes what a key holds reports that change to the session's sink
 * (what the journal is built on) and records the key in the change log
 * (what incremental snapshots are built on); reads, misses and refused
 * commands report nothing; the store's own changes (expiry, eviction)
 * reach the change log only; restoring from disk reaches neither.
 */
#include "config.h"

#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"

#define T0 1700000000u
#define MAXREC 64

struct rec {
    enum store_change_kind kind;
    uint64_t seq;
    char key[STORE_KEY_MAX + 1];
    char value[64];
    uint64_t cas;           /* LINK/UNLINK/TOUCH/MARK: the item's */
    uint64_t threshold;     /* FLUSH */
    uint32_t exptime;
    unsigned bits;
    uint32_t when;
};

static struct store *st;
static struct store_session ses;
static struct rec recs[MAXREC];
static unsigned nrecs;

static void
sink(void *arg, const struct store_change *ch)
{
    struct rec *r = &recs[nrecs < MAXREC ? nrecs : MAXREC - 1];

    (void)arg;
    memset(r, 0, sizeof(*r));
    r->kind = ch->kind;
    r->seq = ch->seq;
    if (ch->it != NULL) {
        size_t nv = item_nvalue(ch->it);

        memcpy(r->key, item_key(ch->it), item_nkey(ch->it));
        memcpy(r->value, item_value(ch->it), nv < 63 ? nv : 63);
        r->cas = item_cas(ch->it);
    }
    r->threshold = ch->cas;
    r->exptime = ch->exptime;
    r->bits = ch->bits;
    r->when = ch->when;
    nrecs++;
}

static void
setup_mem(size_t mem)
{
    struct store_config cfg;
    int err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = mem;
    cfg.changelog_max = (size_t)1 << 20;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    store_clock_set(st, T0);
    store_session_init(&ses, st, sink, NULL);
    nrecs = 0;
}

static void
setup(void)
{
    setup_mem((size_t)8 << 20);
}

static void
teardown(void)
{
    store_destroy(&st);
}

/* Keys the change log holds since the last take, sorted, space separated
 * (the log's own order is by stripe). */
struct logged {
    char keys[16][STORE_KEY_MAX + 1];
    unsigned n;
    char joined[1024];
};

static int
take_fn(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct logged *l = arg;

    (void)it;
    ck_assert_uint_lt(l->n, 16);
    memcpy(l->keys[l->n], key, nkey);
    l->keys[l->n++][nkey] = '\0';
    return 0;
}

static int
cmp_key(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char *
take(struct logged *l)
{
    size_t off = 0;

    l->n = 0;
    ck_assert_int_eq(store_changes_take(st, take_fn, l), 0);
    qsort(l->keys, l->n, sizeof(l->keys[0]), cmp_key);
    l->joined[0] = '\0';
    for (unsigned i = 0; i < l->n; i++) {
        off += (size_t)snprintf(l->joined + off, sizeof(l->joined) - off,
                                "%s%s", i ? " " : "", l->keys[i]);
    }
    return l->joined;
}

static int
set_mode(const char *key, const char *val, const struct store_set_opt *o,
         uint64_t *cas)
{
    struct store_set_res res;
    size_t n = strlen(val);
    int rc;
    struct item *it = store_alloc(st, key, strlen(key), 5, 0, n,
                                  o != NULL && o->new_cas != 0, &rc);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), val, n);
    rc = store_set(&ses, it, o, &res);
    item_unref(it);
    if (rc == STORE_OK && cas != NULL) {
        *cas = res.cas;
    }
    return rc;
}

/* Exactly one change since N0, of KIND on KEY; returns it. */
static const struct rec *
one(unsigned n0, enum store_change_kind kind, const char *key)
{
    ck_assert_uint_eq(nrecs, n0 + 1);
    ck_assert_int_eq(recs[n0].kind, kind);
    ck_assert_str_eq(recs[n0].key, key);
    if (n0 > 0) {
        ck_assert_uint_gt(recs[n0].seq, recs[n0 - 1].seq);
    }
    ck_assert_uint_eq(recs[n0].seq, store_seq_current(st));
    return &recs[n0];
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_set_family)
{
    struct store_set_opt add = { .mode = STORE_ADD };
    struct store_set_opt rep = { .mode = STORE_REPLACE };
    struct store_set_opt app = { .mode = STORE_APPEND };
    struct store_set_opt pre = { .mode = STORE_PREPEND };
    struct store_set_opt cas = { .has_cas = true };
    struct logged l;
    uint64_t c1, c2;

    ck_assert_int_eq(set_mode("k", "a", NULL, &c1), STORE_OK);
    ck_assert_uint_eq(one(0, STORE_CHANGE_LINK, "k")->cas, c1);
    ck_assert_str_eq(recs[0].value, "a");
    ck_assert_str_eq(take(&l), "k");
    ck_assert_int_eq(set_mode("k", "b", &add, NULL), STORE_NOT_STORED);
    ck_assert_int_eq(set_mode("n", "b", &rep, NULL), STORE_NOT_STORED);
    ck_assert_int_eq(set_mode("n", "b", &app, NULL), STORE_NOT_STORED);
    cas.cas = c1 + 100;
    ck_assert_int_eq(set_mode("k", "b", &cas, NULL), STORE_EXISTS);
    ck_assert_uint_eq(nrecs, 1);                /* refused: nothing */
    ck_assert_str_eq(take(&l), "");
    ck_assert_int_eq(set_mode("a", "x", &add, NULL), STORE_OK);
    one(1, STORE_CHANGE_LINK, "a");
    ck_assert_int_eq(set_mode("k", "r", &rep, NULL), STORE_OK);
    one(2, STORE_CHANGE_LINK, "k");
    ck_assert_int_eq(set_mode("k", "s", &app, NULL), STORE_OK);
    ck_assert_str_eq(one(3, STORE_CHANGE_LINK, "k")->value, "rs");
    ck_assert_int_eq(set_mode("k", "p", &pre, &c2), STORE_OK);
    ck_assert_str_eq(one(4, STORE_CHANGE_LINK, "k")->value, "prs");
    cas.cas = c2;
    ck_assert_int_eq(set_mode("k", "c", &cas, &c1), STORE_OK);
    ck_assert_uint_eq(one(5, STORE_CHANGE_LINK, "k")->cas, c1);
    ck_assert_str_eq(take(&l), "a k");
}
END_TEST

START_TEST(test_meta_set_and_delete)
{
    struct store_set_opt inval = { .has_cas = true, .invalidate = true };
    struct store_set_opt ecas = { .new_cas = 777 };
    struct store_del_opt mdi = { .invalidate = true };
    struct store_del_opt mdx = { .strip = true };
    struct store_del_opt badcas = { .has_cas = true, .cas = 1 };
    struct logged l;
    uint64_t c1, c2;

    ck_assert_int_eq(set_mode("k", "v1", NULL, &c1), STORE_OK);
    ck_assert_int_eq(set_mode("k", "v2", NULL, &c2), STORE_OK);
    inval.cas = c1;             /* older: stored stale */
    ck_assert_int_eq(set_mode("k", "v3", &inval, NULL), STORE_OK);
    ck_assert(one(2, STORE_CHANGE_LINK, "k") != NULL);
    ck_assert_int_eq(set_mode("e", "v", &ecas, NULL), STORE_OK);
    ck_assert_uint_eq(one(3, STORE_CHANGE_LINK, "e")->cas, 777);
    (void)take(&l);
    ck_assert_int_eq(store_delete(&ses, "k", 1, &badcas), STORE_EXISTS);
    ck_assert_int_eq(store_delete(&ses, "none", 4, NULL), STORE_MISS);
    ck_assert_uint_eq(nrecs, 4);
    ck_assert_int_eq(store_delete(&ses, "k", 1, &mdi), STORE_OK);
    ck_assert_str_eq(one(4, STORE_CHANGE_LINK, "k")->value, "v3");
    ck_assert_int_eq(store_delete(&ses, "k", 1, &mdx), STORE_OK);
    ck_assert_str_eq(one(5, STORE_CHANGE_LINK, "k")->value, "");
    ck_assert_int_eq(store_delete(&ses, "k", 1, NULL), STORE_OK);
    ck_assert_uint_gt(one(6, STORE_CHANGE_UNLINK, "k")->cas, 0);
    ck_assert_str_eq(take(&l), "k");
}
END_TEST

START_TEST(test_get_family)
{
    struct store_get_opt touch = { .touch = true, .exptime = T0 + 50 };
    struct store_get_opt viv = { .vivify = true, .vivify_exptime = 9 };
    struct store_get_opt rec = { .recache = true, .recache_below = 100 };
    struct store_get_res res;
    struct logged l;
    uint64_t c;

    ck_assert_int_eq(set_mode("k", "v", NULL, &c), STORE_OK);
    (void)take(&l);
    ck_assert_int_eq(store_get(&ses, "k", 1, NULL, &res), STORE_OK);
    item_unref(res.it);
    ck_assert_int_eq(store_get(&ses, "x", 1, NULL, &res), STORE_MISS);
    ck_assert_uint_eq(nrecs, 1);                /* reads: nothing */
    ck_assert_str_eq(take(&l), "");
    ck_assert_int_eq(store_get(&ses, "k", 1, &touch, &res), STORE_OK);
    item_unref(res.it);
    ck_assert_uint_eq(one(1, STORE_CHANGE_TOUCH, "k")->exptime, T0 + 50);
    ck_assert_uint_eq(recs[1].cas, c);
    ck_assert_str_eq(take(&l), "k");
    ck_assert_int_eq(store_get(&ses, "k", 1, &rec, &res), STORE_OK);
    ck_assert(res.won);
    item_unref(res.it);
    ck_assert_uint_eq(one(2, STORE_CHANGE_MARK, "k")->bits & STORE_STATE_WON,
                      STORE_STATE_WON);
    ck_assert_int_eq(store_get(&ses, "k", 1, &rec, &res), STORE_OK);
    ck_assert(res.already_won);                 /* no second win */
    item_unref(res.it);
    ck_assert_uint_eq(nrecs, 3);
    ck_assert_int_eq(store_get(&ses, "n", 1, &viv, &res), STORE_OK);
    ck_assert(res.vivified);
    item_unref(res.it);
    ck_assert_uint_eq(one(3, STORE_CHANGE_LINK, "n")->cas,
                      store_cas_current(st));
    ck_assert_str_eq(take(&l), "k n");
}
END_TEST

START_TEST(test_arith)
{
    struct store_arith_opt inc = { .delta = 5 };
    struct store_arith_opt dec = { .decr = true, .delta = 1 };
    struct store_arith_opt viv = { .delta = 1, .vivify = true,
                                   .initial = 10 };
    struct store_arith_res res;
    struct logged l;

    ck_assert_int_eq(set_mode("n", "10", NULL, NULL), STORE_OK);
    ck_assert_int_eq(set_mode("s", "abc", NULL, NULL), STORE_OK);
    (void)take(&l);
    ck_assert_int_eq(store_arith(&ses, "s", 1, &inc, &res),
                     STORE_NON_NUMERIC);
    ck_assert_int_eq(store_arith(&ses, "m", 1, &inc, &res), STORE_MISS);
    ck_assert_uint_eq(nrecs, 2);
    ck_assert_int_eq(store_arith(&ses, "n", 1, &inc, &res), STORE_OK);
    ck_assert_str_eq(one(2, STORE_CHANGE_LINK, "n")->value, "15");
    ck_assert_int_eq(store_arith(&ses, "n", 1, &dec, &res), STORE_OK);
    ck_assert_str_eq(one(3, STORE_CHANGE_LINK, "n")->value, "14");
    ck_assert_uint_eq(recs[3].cas, res.cas);
    ck_assert_int_eq(store_arith(&ses, "v", 1, &viv, &res), STORE_OK);
    ck_assert_str_eq(one(4, STORE_CHANGE_LINK, "v")->value, "10");
    ck_assert_str_eq(take(&l), "n v");
}
END_TEST

START_TEST(test_flush)
{
    uint64_t c;

    ck_assert_int_eq(set_mode("k", "v", NULL, &c), STORE_OK);
    store_flush(&ses, 0);
    ck_assert_uint_eq(nrecs, 2);
    ck_assert_int_eq(recs[1].kind, STORE_CHANGE_FLUSH);
    /* a fresh CAS value, as memcached's flush_all takes one */
    ck_assert_uint_eq(recs[1].threshold, c + 1);
    ck_assert_uint_eq(store_cas_current(st), c + 1);
    ck_assert_uint_gt(recs[1].seq, recs[0].seq);
    store_flush(&ses, T0 + 10);
    ck_assert_uint_eq(nrecs, 3);
    ck_assert_int_eq(recs[2].kind, STORE_CHANGE_FLUSH_AT);
    ck_assert_uint_eq(recs[2].when, T0 + 10);
    ck_assert_uint_eq(store_flush_pending(st), T0 + 10);
    ck_assert_uint_eq(store_cas_current(st), c + 1);    /* none taken */
    ck_assert_int_eq(set_mode("k", "w", NULL, &c), STORE_OK);
    store_clock_set(st, T0 + 10);
    /* the next command brings it due, reported before it acts */
    ck_assert_int_eq(set_mode("j", "x", NULL, NULL), STORE_OK);
    ck_assert_uint_eq(nrecs, 6);
    ck_assert_int_eq(recs[4].kind, STORE_CHANGE_FLUSH);
    ck_assert_uint_eq(recs[4].threshold, c + 1);
    ck_assert_int_eq(recs[5].kind, STORE_CHANGE_LINK);
    ck_assert_uint_eq(store_flush_pending(st), 0);
}
END_TEST

/* ---- limits: changes the store makes on its own ---------------------- */

START_TEST(test_expiry_logs_but_does_not_report)
{
    struct store_get_res res;
    struct logged l;
    struct item *it;
    int rc;

    it = store_alloc(st, "e", 1, 0, T0 + 2, 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(store_set(&ses, it, NULL, NULL), STORE_OK);
    item_unref(it);
    (void)take(&l);
    store_clock_set(st, T0 + 2);
    ck_assert_int_eq(store_get(&ses, "e", 1, NULL, &res), STORE_MISS);
    ck_assert(res.expired);
    ck_assert_uint_eq(nrecs, 1);        /* a replay knows it expired */
    ck_assert_str_eq(take(&l), "e");    /* a snapshot drops it */
}
END_TEST

static int
count_gone(void *arg, const char *key, size_t nkey, struct item *it)
{
    (void)key;
    (void)nkey;
    *(uint64_t *)arg += it == NULL;
    return 0;
}

START_TEST(test_eviction_logs_but_does_not_report)
{
    char key[32], val[1000];
    struct store_stats before, after;
    uint64_t gone = 0;
    unsigned i;

    teardown();
    setup_mem((size_t)1 << 20);
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (i = 0; i < 2000; i++) {    /* 2 MB into 1 MiB: evicting */
        snprintf(key, sizeof(key), "a%u", i);
        ck_assert_int_eq(set_mode(key, val, NULL, NULL), STORE_OK);
    }
    store_stats(st, &before);
    ck_assert_uint_gt(before.evictions, 0);
    ck_assert_int_eq(store_changes_take(st, count_gone, &gone), 0);
    nrecs = 0;
    gone = 0;
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "b%u", i);
        ck_assert_int_eq(set_mode(key, val, NULL, NULL), STORE_OK);
    }
    store_stats(st, &after);
    /* the sink heard only the 500 links; each eviction is a tombstone
     * for the next snapshot */
    ck_assert_uint_eq(nrecs, 500);
    for (i = 0; i < MAXREC; i++) {
        ck_assert_int_eq(recs[i].kind, STORE_CHANGE_LINK);
    }
    ck_assert_int_eq(store_changes_take(st, count_gone, &gone), 0);
    ck_assert_uint_gt(after.evictions, before.evictions);
    ck_assert_uint_eq(gone, after.evictions - before.evictions);
}
END_TEST

static _Atomic unsigned bg_flushes;
static _Atomic uint64_t bg_threshold;

static void
bg_sink(void *arg, const struct store_change *ch)
{
    (void)arg;
    if (ch->kind == STORE_CHANGE_FLUSH) {
        atomic_store(&bg_threshold, ch->cas);
        atomic_fetch_add(&bg_flushes, 1);
    }
}

/* A delayed flush nobody touches the store for comes due in the
 * maintenance thread, reported to the background sink. */
START_TEST(test_delayed_flush_in_maintenance)
{
    struct timespec nap = { 0, 10 * 1000 * 1000 };
    struct store_get_res res;
    uint64_t c;
    int i;

    store_set_background_sink(st, bg_sink, NULL);
    ck_assert_int_eq(set_mode("k", "v", NULL, &c), STORE_OK);
    store_flush(&ses, T0 + 5);
    store_clock_set(st, T0 + 5);
    ck_assert_int_eq(store_maintenance_start(st), 0);
    for (i = 0; i < 500 && atomic_load(&bg_flushes) == 0; i++) {
        nanosleep(&nap, NULL);
    }
    store_maintenance_stop(st);
    ck_assert_uint_eq(atomic_load(&bg_flushes), 1);
    ck_assert_uint_eq(atomic_load(&bg_threshold), c + 1);
    ck_assert_uint_eq(nrecs, 2);        /* the link and the FLUSH_AT */
    ck_assert_int_eq(store_get(&ses, "k", 1, NULL, &res), STORE_MISS);
}
END_TEST

START_TEST(test_restore_reports_nothing)
{
    struct store_restore r;
    struct logged l;
    struct item *it;
    int rc;

    it = store_alloc(st, "r", 1, 0, 0, 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    memset(&r, 0, sizeof(r));
    r.kind = STORE_CHANGE_LINK;
    r.it = it;
    r.cas = 42;
    ck_assert_int_eq(store_restore(st, &r), STORE_OK);
    item_unref(it);
    memset(&r, 0, sizeof(r));
    r.kind = STORE_CHANGE_TOUCH;
    r.key = "r";
    r.nkey = 1;
    r.cas = 42;
    r.exptime = T0 + 9;
    ck_assert_int_eq(store_restore(st, &r), STORE_OK);
    r.cas = 41;                         /* another item: not applied */
    ck_assert_int_eq(store_restore(st, &r), STORE_MISS);
    r.kind = STORE_CHANGE_UNLINK;
    ck_assert_int_eq(store_restore(st, &r), STORE_OK);
    ck_assert_uint_eq(nrecs, 0);
    ck_assert_str_eq(take(&l), "");
    ck_assert_uint_ge(store_cas_current(st), 42);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(test_no_sink_is_a_pure_cache)
{
    struct store_session quiet;
    struct store_get_res res;
    struct logged l;
    struct item *it;
    int rc;

    store_session_init(&quiet, st, NULL, NULL);
    it = store_alloc(st, "q", 1, 0, 0, 1, false, &rc);
    ck_assert_int_eq(store_set(&quiet, it, NULL, NULL), STORE_OK);
    item_unref(it);
    ck_assert_int_eq(store_get(&quiet, "q", 1, NULL, &res), STORE_OK);
    item_unref(res.it);
    ck_assert_int_eq(store_delete(&quiet, "q", 1, NULL), STORE_OK);
    store_flush(&quiet, 0);
    ck_assert_uint_eq(nrecs, 0);
    /* numbered all the same while the change log is on: the snapshot
     * layer counts changes by it (set, delete, flush; not the get) */
    ck_assert_uint_eq(store_seq_current(st), 3);
    /* the change log still serves snapshots (the flush: a rewrite) */
    ck_assert_int_eq(store_changes_take(st, take_fn, &l), 1);
}
END_TEST

/* A pure cache (no change log, no sink) numbers nothing. */
START_TEST(test_pure_cache_numbers_nothing)
{
    struct store_config cfg;
    struct store_session quiet;
    struct store *pure;
    struct item *it;
    int rc = 0;

    store_config_default(&cfg);
    cfg.changelog_max = 0;
    pure = store_create(&cfg, &rc);
    ck_assert_ptr_nonnull(pure);
    store_session_init(&quiet, pure, NULL, NULL);
    it = store_alloc(pure, "q", 1, 0, 0, 1, false, &rc);
    ck_assert_int_eq(store_set(&quiet, it, NULL, NULL), STORE_OK);
    item_unref(it);
    ck_assert_int_eq(store_delete(&quiet, "q", 1, NULL), STORE_OK);
    store_flush(&quiet, 0);
    ck_assert_uint_eq(store_seq_current(pure), 0);
    store_destroy(&pure);
}
END_TEST

static Suite *
changes_suite(void)
{
    Suite *s = suite_create("changes");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_set_family);
    tcase_add_test(core, test_meta_set_and_delete);
    tcase_add_test(core, test_get_family);
    tcase_add_test(core, test_arith);
    tcase_add_test(core, test_flush);
    suite_add_tcase(s, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_expiry_logs_but_does_not_report);
    tcase_add_test(limits, test_eviction_logs_but_does_not_report);
    tcase_add_test(limits, test_restore_reports_nothing);
    tcase_add_test(limits, test_delayed_flush_in_maintenance);
    suite_add_tcase(s, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_no_sink_is_a_pure_cache);
    tcase_add_test(errors, test_pure_cache_numbers_nothing);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(changes_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
