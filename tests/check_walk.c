/*
 * check_walk.c -- the store's walks for the key listings: the resumable
 * walk of lru_crawler metadump (store_walk_step: every live item exactly
 * once, a few at a time, while the table grows) and one class's LRU for
 * stats cachedump (store_class_lru).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store.h"
#include "tests/store_short.h"

#define T0 1700000000u
#define NKEYS 6000

static struct store *st;
static unsigned char seen[NKEYS * 4];

static void
setup_power(unsigned hash_power)
{
    struct store_config cfg;
    int err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = (size_t)32 << 20;
    cfg.hash_power = hash_power;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    store_clock_set(st, T0);
    memset(seen, 0, sizeof(seen));
}

static void
setup(void)
{
    setup_power(0);
}

static void
teardown(void)
{
    store_destroy(&st);
}

static void
put(const char *key, size_t nvalue, uint32_t exptime)
{
    int rc;
    struct item *it = store_alloc(st, key, strlen(key), 0, exptime, nvalue,
                                  false, &rc);

    ck_assert_ptr_nonnull(it);
    memset(item_value_mut(it), 'v', nvalue);
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_OK);
    item_unref(it);
}

static void
put_n(int from, int to)
{
    char key[16];
    int i;

    for (i = from; i < to; i++) {
        snprintf(key, sizeof(key), "w%d", i);
        put(key, 10, 0);
    }
}

/* Count a visit of key "w<N>". */
static int
mark_seen(void *arg, struct item *it)
{
    char key[16];
    int idx;

    (void)arg;
    ck_assert_uint_lt(item_nkey(it), sizeof(key));
    memcpy(key, item_key(it), item_nkey(it));
    key[item_nkey(it)] = '\0';
    idx = atoi(key + 1);
    ck_assert_int_lt(idx, NKEYS * 4);
    seen[idx]++;
    return 0;
}

static unsigned
hash_power(void)
{
    struct store_stats ss;

    store_stats(st, &ss);
    return (unsigned)ss.hash_power;
}

/* Every item there for the whole walk is visited exactly once, a few at
 * a time, while writes make the table grow twice between steps. */
START_TEST(test_walk_once_while_growing)
{
    struct store_walk w;
    unsigned power0;
    int i, steps = 0, added = NKEYS;

    store_destroy(&st);
    setup_power(10);                /* one bucket per stripe at first */
    put_n(0, NKEYS);
    power0 = hash_power();
    store_walk_init(&w);
    while (!store_walk_done(&w)) {
        ck_assert_int_eq(store_walk_step(st, &w, 7, mark_seen, NULL), 0);
        if (++steps % 40 == 0 && added < NKEYS * 4) {
            put_n(added, added + 300);  /* new keys: seen at most once */
            added += 300;
        }
        /* a step holds about MAX references, not the stripe */
        ck_assert_uint_le(w.cap, 128);
    }
    ck_assert_uint_gt(hash_power(), power0 + 1);
    for (i = 0; i < NKEYS; i++) {
        ck_assert_msg(seen[i] == 1, "w%d seen %u times", i, seen[i]);
    }
    for (i = NKEYS; i < added; i++) {
        ck_assert_uint_le(seen[i], 1);
    }
    ck_assert_int_gt(steps, NKEYS / 7 / 2);
    store_walk_release(&w);
}
END_TEST

/* Expired, flushed and deleted items are not visited. */
START_TEST(test_walk_skips_dead)
{
    struct store_walk w;
    struct store_session ses;
    int i, n = 0;

    put_n(0, 100);
    put("w100", 5, T0 + 10);
    put("w101", 5, T0 + 1);
    ck_assert_int_eq(t_delete(st, "w5", 2, 0), STORE_OK);
    store_clock_set(st, T0 + 5);
    store_walk_init(&w);
    while (!store_walk_done(&w)) {
        ck_assert_int_eq(store_walk_step(st, &w, 1000, mark_seen, NULL), 0);
    }
    for (i = 0; i < 102; i++) {
        n += seen[i];
        ck_assert_uint_eq(seen[i], i == 5 || i == 101 ? 0 : 1);
    }
    ck_assert_int_eq(n, 100);
    store_walk_release(&w);
    /* after flush_all nothing */
    store_session_init(&ses, st, NULL, NULL);
    store_flush(&ses, 0);
    memset(seen, 0, sizeof(seen));
    store_walk_init(&w);
    while (!store_walk_done(&w)) {
        ck_assert_int_eq(store_walk_step(st, &w, 1000, mark_seen, NULL), 0);
    }
    for (i = 0; i < 102; i++) {
        ck_assert_uint_eq(seen[i], 0);
    }
    store_walk_release(&w);
}
END_TEST

static int
stop_at_five(void *arg, struct item *it)
{
    int *n = arg;

    (void)it;
    return ++*n == 5 ? 42 : 0;
}

START_TEST(test_walk_stop)
{
    struct store_walk w;
    int n = 0;

    put_n(0, 50);
    store_walk_init(&w);
    ck_assert_int_eq(store_walk_step(st, &w, 1000, stop_at_five, &n), 42);
    ck_assert_int_eq(n, 5);
    /* every reference of the step was dropped: the items can go */
    ck_assert_int_eq(t_delete(st, "w1", 2, 0), STORE_OK);
    store_walk_release(&w);
    store_walk_release(&w);     /* twice is harmless */
}
END_TEST

/* ---- store_class_lru --------------------------------------------- */

struct lru_seen {
    char keys[8][16];
    unsigned cls[8];
    int n;
};

static int
lru_collect(void *arg, const struct item *it)
{
    struct lru_seen *s = arg;

    if (s->n == 8) {
        return 1;
    }
    memcpy(s->keys[s->n], item_key(it), item_nkey(it));
    s->keys[s->n][item_nkey(it)] = '\0';
    s->cls[s->n] = item_class_id(it);
    s->n++;
    return 0;
}

START_TEST(test_class_lru_order)
{
    struct lru_seen s;
    struct item *it;
    unsigned cls;

    put("a", 10, 0);
    put("b", 10, T0 + 1);
    put("c", 10, 0);
    put("d", 10, 0);
    ck_assert_int_eq(t_delete(st, "d", 1, 0), STORE_OK);
    ck_assert_int_eq(t_get(st, "a", 1, &it, NULL), STORE_OK);
    cls = item_class_id(it);
    item_unref(it);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_class_lru(st, cls, lru_collect, &s), 0);
    /* most recently linked first (a read does not move an item: the
     * LRU learns of reads at eviction time) */
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.keys[0], "c");
    ck_assert_str_eq(s.keys[1], "b");
    ck_assert_str_eq(s.keys[2], "a");
    store_clock_set(st, T0 + 2);    /* b expired: not listed */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_class_lru(st, cls, lru_collect, &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.keys[1], "a");
    /* a class with nothing, and ids past the last */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_class_lru(st, cls + 1, lru_collect, &s), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(store_class_lru(st, STORE_CLASS_IDS, lru_collect, &s),
                     STORE_EINVAL);
}
END_TEST

START_TEST(test_class_lru_large_and_stop)
{
    struct lru_seen s;
    struct item *it;
    unsigned cls;
    int i;
    char key[16];

    put("big", 700 * 1024, 0);          /* a large item: class 0 */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_class_lru(st, 0, lru_collect, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.keys[0], "big");
    ck_assert_uint_eq(s.cls[0], 0);
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(key, 10, 0);
    }
    ck_assert_int_eq(t_get(st, "k0", 2, &it, NULL), STORE_OK);
    cls = item_class_id(it);
    item_unref(it);
    ck_assert_uint_gt(cls, 0);
    /* FN's non-zero result stops the walk and is returned */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(store_class_lru(st, cls, lru_collect, &s), 1);
    ck_assert_int_eq(s.n, 8);
    ck_assert_str_eq(s.keys[0], "k19");
}
END_TEST

static Suite *
walk_suite(void)
{
    Suite *su = suite_create("walk");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_walk_skips_dead);
    tcase_add_test(core, test_walk_stop);
    tcase_add_test(core, test_class_lru_order);
    suite_add_tcase(su, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_walk_once_while_growing);
    tcase_add_test(limits, test_class_lru_large_and_stop);
    suite_add_tcase(su, limits);
    return su;
}

int
main(void)
{
    SRunner *sr = srunner_create(walk_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
