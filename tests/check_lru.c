/*
 * check_lru.c -- storage/ memory bound, LRU order and second chance,
 * eviction within a class and page reassignment across classes, large
 * items, no-evict and loading modes, and a multi-threaded stress test.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"
#include "tests/store_short.h"

#define T0 1700000000u
#define MEM ((size_t)4 << 20)

static struct store *st;

static void
setup_with(bool no_evict, size_t mem)
{
    struct store_config cfg;
    int err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = mem;
    cfg.no_evict = no_evict;
    cfg.changelog_max = (size_t)1 << 20;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    store_clock_set(st, T0);
}

static void
setup(void)
{
    setup_with(false, MEM);
}

static void
teardown(void)
{
    store_destroy(&st);
}

static int
put_n(const char *key, size_t n, char fill, uint32_t exptime)
{
    int rc;
    struct item *it = store_alloc(st, key, strlen(key), 0, exptime, n, false, &rc);

    if (it == NULL) {
        return rc;
    }
    memset(item_value_mut(it), fill, n);
    rc = t_store(st, it, STORE_SET, 0, NULL);
    item_unref(it);
    return rc;
}

static bool
present(const char *key)
{
    struct item *it;

    if (t_get(st, key, strlen(key), &it, NULL) != STORE_OK) {
        return false;
    }
    item_unref(it);
    return true;
}

static struct store_stats
stats(void)
{
    struct store_stats ss;

    store_stats(st, &ss);
    ck_assert_uint_le(ss.mem_pages, ss.limit_maxbytes);
    return ss;
}

/* ---- core ------------------------------------------------------------ */

START_TEST(test_second_chance)
{
    char key[32];
    int i, fills = 0;

    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'o', 0), STORE_OK);
    }
    ck_assert(present("old0"));     /* read once: second chance */
    while (stats().evictions < 99) {
        snprintf(key, sizeof(key), "fill%d", fills++);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
        ck_assert_int_lt(fills, 100000);
    }
    ck_assert_uint_eq(stats().evictions, 99);
    ck_assert_uint_eq(stats().evicted_unfetched, 99);
    ck_assert(present("old0"));
    for (i = 1; i < 100; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        ck_assert_msg(!present(key), "%s should be evicted", key);
    }
    for (i = 0; i < fills; i++) {
        snprintf(key, sizeof(key), "fill%d", i);
        ck_assert_msg(present(key), "%s evicted before older keys", key);
    }
}
END_TEST

START_TEST(test_lru_order)
{
    char key[32];
    int i, fills = 0, first_alive = -1;

    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(put_n(key, 2000, 'k', 0), STORE_OK);
    }
    /* with no reads eviction is FIFO: a prefix is gone, the rest alive */
    while (stats().evictions < 500) {
        snprintf(key, sizeof(key), "f%d", fills++);
        ck_assert_int_eq(put_n(key, 2000, 'f', 0), STORE_OK);
    }
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (present(key)) {
            if (first_alive < 0) {
                first_alive = i;
            }
        } else {
            ck_assert_msg(first_alive < 0, "%s gone after k%d alive", key,
                          first_alive);
        }
    }
    ck_assert_int_ge(first_alive, 1);
}
END_TEST

START_TEST(test_expired_reclaimed_first)
{
    char key[32];
    int i, fills = 0;
    struct store_stats ss;

    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "exp%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'e', T0 + 5), STORE_OK);
    }
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "live%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'l', 0), STORE_OK);
    }
    store_clock_set(st, T0 + 5);
    do {
        snprintf(key, sizeof(key), "fill%d", fills++);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
        ss = stats();
    } while (ss.evictions == 0);
    /* expired memory is reclaimed, not counted as evictions */
    ck_assert_uint_eq(ss.reclaimed, 100);
    ck_assert_uint_eq(ss.expired_unfetched, 100);
    ck_assert_uint_eq(ss.evictions, 1);
    ck_assert(!present("live0"));
    ck_assert(present("live1"));
    ck_assert(present("live99"));
}
END_TEST

static int
count_tombstone(void *arg, const char *key, size_t nkey, struct item *it)
{
    int *n = arg;

    if (it == NULL && nkey > 3 && memcmp(key, "old", 3) == 0) {
        (*n)++;
    }
    return 0;
}

static int
ignore_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    (void)arg;
    (void)key;
    (void)nkey;
    (void)it;
    return 0;
}

START_TEST(test_eviction_tombstones)
{
    char key[32];
    int i, fills = 0, tombs = 0;

    for (i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'o', 0), STORE_OK);
    }
    ck_assert_int_eq(store_changes_take(st, ignore_change, NULL), 0);
    while (stats().evictions < 50) {
        snprintf(key, sizeof(key), "f%d", fills++);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
    }
    /* the snapshot must learn that the evicted keys are gone */
    ck_assert_int_eq(store_changes_take(st, count_tombstone, &tombs), 0);
    ck_assert_int_eq(tombs, 50);
}
END_TEST

START_TEST(test_referenced_not_evicted)
{
    struct item *held;
    char key[32];
    int i;

    ck_assert_int_eq(put_n("held", 1000, 'h', 0), STORE_OK);
    ck_assert_int_eq(t_get(st, "held", 4, &held, NULL), STORE_OK);
    for (i = 0; stats().evictions < 2000; i++) {
        snprintf(key, sizeof(key), "fill%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
    }
    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(item_value(held)[i], 'h');
    }
    ck_assert(present("held"));
    item_unref(held);
}
END_TEST

START_TEST(test_page_reassign)
{
    char key[32];
    int i;
    struct store_stats ss;

    for (i = 0; stats().evictions < 1000; i++) {
        snprintf(key, sizeof(key), "small%d", i);
        ck_assert_int_eq(put_n(key, 100, 's', 0), STORE_OK);
    }
    /* only big items now: their class has no page; they must succeed */
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "mid%d", i);
        ck_assert_int_eq(put_n(key, 300 * 1024, 'm', 0), STORE_OK);
        ck_assert(present(key));
    }
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "large%d", i);
        ck_assert_int_eq(put_n(key, 900 * 1024, 'L', 0), STORE_OK);
        ck_assert(present(key));
    }
    ss = stats();
    ck_assert_uint_gt(ss.slab_reassigns, 0);
    ck_assert(present("large9"));
    ck_assert(present("large8"));
    /* and back to small ones: they get pages back */
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "again%d", i);
        ck_assert_int_eq(put_n(key, 100, 'a', 0), STORE_OK);
    }
    ck_assert(present("again4999"));
}
END_TEST

START_TEST(test_mixed_sizes_bound)
{
    char key[32];
    unsigned seed = 1;
    size_t written = 0, n;
    int i;
    struct store_stats ss;

    /* a realistic page count: 64 pages for ~60 classes in use */
    store_destroy(&st);
    setup_with(false, (size_t)64 << 20);
    for (i = 0; written < 3 * ((size_t)64 << 20); i++) {
        n = 50 + (size_t)rand_r(&seed) % (10 * 1024 - 50);
        snprintf(key, sizeof(key), "m%d", i);
        ck_assert_int_eq(put_n(key, n, 'm', 0), STORE_OK);
        written += n;
        if (i % 64 == 0) {
            (void)stats();
        }
    }
    ss = stats();
    ck_assert_uint_gt(ss.evictions, 0);
    ck_assert_uint_le(ss.bytes, ss.mem_pages);
    /* little slack: linked item memory fills most of the pages */
    ck_assert_uint_gt(ss.bytes, ss.limit_maxbytes * 9 / 10);
}
END_TEST

struct cls_acc {
    unsigned last_id;
    uint32_t last_size;
    uint64_t items;
    uint64_t pages;
};

static void
class_cb(void *arg, const struct store_class_stats *cs)
{
    struct cls_acc *a = arg;

    ck_assert_uint_gt(cs->id, a->last_id);
    ck_assert_uint_gt(cs->chunk_size, a->last_size);
    ck_assert(cs->page_size == (1u << 16) || cs->page_size == (1u << 20));
    ck_assert_uint_ge(cs->chunk_size * cs->chunks_per_page,
                      cs->page_size * 9 / 10);
    ck_assert_uint_lt(cs->chunk_size * cs->chunks_per_page, cs->page_size);
    ck_assert_uint_eq(cs->used_chunks + cs->free_chunks,
                      cs->total_pages * cs->chunks_per_page);
    ck_assert_uint_le(cs->mem_requested, cs->number * cs->chunk_size);
    a->last_id = cs->id;
    a->last_size = cs->chunk_size;
    a->items += cs->number;
    a->pages += cs->total_pages * cs->page_size;
}

START_TEST(test_class_stats)
{
    struct cls_acc acc = { 0, 0, 0, 0 };
    char key[32];
    int i;

    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        ck_assert_int_eq(put_n(key, (size_t)(i * 37 % 9000), 'c', 0),
                         STORE_OK);
    }
    store_class_stats(st, class_cb, &acc);
    ck_assert_uint_eq(acc.items, stats().curr_items);
    ck_assert_uint_eq(acc.pages, stats().mem_pages);
    ck_assert_uint_ge(acc.last_id, 2);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_no_evict)
{
    char key[32];
    int i, rc = STORE_OK;
    struct store_stats ss;

    store_destroy(&st);
    setup_with(true, MEM);
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "n%d", i);
        rc = put_n(key, 1000, 'n', 0);
        if (rc != STORE_OK) {
            break;
        }
    }
    ck_assert_int_eq(rc, STORE_ENOMEM);
    ss = stats();
    ck_assert_uint_eq(ss.evictions, 0);
    ck_assert_uint_eq(ss.curr_items, (uint64_t)i);
    ck_assert(present("n0"));
    ck_assert_int_eq(put_n("big", 800 * 1024, 'b', 0), STORE_ENOMEM);
    /* deleting makes room again */
    ck_assert_int_eq(t_delete(st, "n0", 2, 0), STORE_OK);
    ck_assert_int_eq(put_n("n0", 1000, 'n', 0), STORE_OK);
}
END_TEST

START_TEST(test_no_evict_reuses_expired)
{
    char key[32];
    int i, rc = STORE_OK;
    struct store_stats ss;

    store_destroy(&st);
    setup_with(true, MEM);
    for (i = 0; i < 100000 && rc == STORE_OK; i++) {
        snprintf(key, sizeof(key), "x%d", i);
        rc = put_n(key, 1000, 'x', T0 + 5);
    }
    ck_assert_int_eq(rc, STORE_ENOMEM);
    ck_assert_int_eq(put_n("big", 700 * 1024, 'b', T0 + 5), STORE_ENOMEM);
    store_clock_set(st, T0 + 5);
    /* -M never evicts a live item, but expired memory is free memory */
    ck_assert_int_eq(put_n("after", 1000, 'a', 0), STORE_OK);
    ck_assert_int_eq(put_n("big", 700 * 1024, 'b', 0), STORE_OK);
    ss = stats();
    ck_assert_uint_eq(ss.evictions, 0);
    ck_assert_uint_ge(ss.reclaimed, 1);
    ck_assert(present("after"));
}
END_TEST

START_TEST(test_loading_mode)
{
    char key[32];
    int i, loaded, rc, fills = 0;
    struct item *it;

    store_set_loading(st, true);
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "L%d", i);
        it = store_alloc(st, key, strlen(key), 0, 0, 1000, false, &rc);
        if (it == NULL) {
            break;
        }
        memset(item_value_mut(it), 'l', 1000);
        ck_assert_int_eq(t_load(st, it, (uint64_t)i + 1, T0), STORE_OK);
        item_unref(it);
    }
    ck_assert_int_eq(rc, STORE_ENOMEM);
    loaded = i;
    ck_assert_uint_eq(stats().evictions, 0);
    store_set_loading(st, false);
    /* loaded in MRU-first order: the last loaded is evicted first */
    while (stats().evictions < 10) {
        snprintf(key, sizeof(key), "f%d", fills++);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
    }
    ck_assert(present("L0"));
    snprintf(key, sizeof(key), "L%d", loaded - 1);
    ck_assert(!present(key));
    snprintf(key, sizeof(key), "L%d", loaded - 11);
    ck_assert(present(key));
}
END_TEST

/* ---- stress ---------------------------------------------------------- */

#define NKEYS 2000
#define NTHREADS 4

struct stress {
    atomic_bool stop;
    atomic_int errors;
    atomic_uint next;       /* hands each thread its own seed */
    unsigned seed;
};

/*
 * The seed of a randomised test: $EMBER_SEED when set (to replay a run),
 * else the clock. Printed either way. Each thread's sequence of operations
 * follows from it (seed + thread number); the interleaving does not.
 */
static unsigned
test_seed(const char *what)
{
    const char *env = getenv("EMBER_SEED");
    unsigned seed = env != NULL && *env != '\0'
                        ? (unsigned)strtoul(env, NULL, 0)
                        : (unsigned)time(NULL) ^ (unsigned)getpid();

    fprintf(stderr, "check_lru %s: seed %u (EMBER_SEED=%u replays it)\n",
            what, seed, seed);
    return seed;
}

/* A thread's own seed: the test's, plus the order the thread started in. */
static unsigned
thread_seed(atomic_uint *next, unsigned seed)
{
    return seed + 7919u * (atomic_fetch_add(next, 1) + 1);
}

static char
fill_of(int k)
{
    return (char)('a' + k % 26);
}

static bool
value_ok(int k, struct item *it)
{
    const char *v = item_value(it);
    uint32_t i;

    if (k % 10 == 0) {      /* counters: digits then spaces */
        return item_nvalue(it) > 0 && v[0] >= '0' && v[0] <= '9';
    }
    for (i = 0; i < item_nvalue(it); i++) {
        if (v[i] != fill_of(k)) {
            return false;
        }
    }
    return memcmp(v + item_nvalue(it), "\r\n", 2) == 0;
}

static void
stress_op(struct stress *s, unsigned *seed)
{
    int k = rand_r(seed) % NKEYS, op = rand_r(seed) % 10;
    char key[32];
    struct item *it;
    struct store_session ses = t_ses(st);
    struct store_arith_opt ar = { .delta = 1, .vivify = true };
    struct store_arith_res res;

    snprintf(key, sizeof(key), "key%d", k);
    if (k % 10 == 0) {
        ar.decr = op >= 7;
        (void)store_arith(&ses, key, strlen(key), &ar, &res);
    } else if (op < 4) {
        if (t_get(st, key, strlen(key), &it, NULL) == STORE_OK) {
            if (!value_ok(k, it)) {
                fprintf(stderr, "bad value %d\n", k);
                atomic_fetch_add(&s->errors, 1);
            }
            item_unref(it);
        }
    } else if (op < 7) {
        size_t n = (size_t)rand_r(seed) % (op == 6 ? 200000 : 3000);

        int rc = put_n(key, n, fill_of(k), 0);

        if (rc != STORE_OK) {
            fprintf(stderr, "put %zu: %s\n", n, store_strerror(rc));
            atomic_fetch_add(&s->errors, 1);
        }
    } else if (op == 7) {
        (void)t_delete(st, key, strlen(key), 0);
    } else if (op == 8) {
        (void)t_touch(st, key, strlen(key), 0, NULL);
    } else {
        int rc;

        it = store_alloc(st, key, strlen(key), 0, 0, 10, false, &rc);
        if (it != NULL) {
            memset(item_value_mut(it), fill_of(k), 10);
            (void)t_store(st, it, STORE_APPEND, 0, NULL);
            item_unref(it);
        }
    }
}

static void *
stress_worker(void *arg)
{
    struct stress *s = arg;
    unsigned seed = thread_seed(&s->next, s->seed);

    while (!atomic_load(&s->stop)) {
        stress_op(s, &seed);
    }
    return NULL;
}

static int
snap_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    (void)arg;
    (void)key;
    (void)nkey;
    (void)it;
    return 0;
}

static int
check_item(void *arg, struct item *it)
{
    uint64_t *acc = arg;
    char key[32];
    int k;

    /* keys are not NUL-terminated: the value follows */
    memcpy(key, item_key(it), item_nkey(it));
    key[item_nkey(it)] = '\0';
    k = atoi(key + 3);

    acc[0]++;
    acc[1] += item_total_size(it);
    if (!value_ok(k, it)) {
        fprintf(stderr, "foreach: bad value for key %d (%u bytes)\n", k,
                item_nvalue(it));
        acc[2]++;
    }
    return 0;
}

static void *
stress_snapshotter(void *arg)
{
    struct stress *s = arg;
    uint64_t acc[3];
    unsigned seed = s->seed;

    while (!atomic_load(&s->stop)) {
        if (store_changes_take(st, snap_change, NULL) == 1) {
            memset(acc, 0, sizeof(acc));
            (void)store_foreach(st, check_item, acc);
            if (acc[2] != 0) {
                atomic_fetch_add(&s->errors, 1);
            }
        }
        if (rand_r(&seed) % 4 == 0) {
            t_flush(st, 0);
        }
        usleep(10000);
    }
    return NULL;
}

static void
no_chunk_used(void *arg, const struct store_class_stats *cs)
{
    (void)arg;
    ck_assert_msg(cs->used_chunks == 0, "class %u: %llu chunks in use",
                  cs->id, (unsigned long long)cs->used_chunks);
}

START_TEST(test_stress)
{
    pthread_t th[NTHREADS + 1];
    struct stress s;
    uint64_t acc[3] = { 0, 0, 0 };
    struct store_stats ss;
    int i;

    /* 16 big pages for ~100 classes: page moves race all the time, but
     * there is always some page no thread has an item in flight on */
    store_destroy(&st);
    setup_with(false, (size_t)16 << 20);
    store_clock_set(st, 0);
    ck_assert_int_eq(store_maintenance_start(st), 0);
    atomic_init(&s.stop, false);
    atomic_init(&s.errors, 0);
    atomic_init(&s.next, 0);
    s.seed = test_seed("stress");
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, stress_worker, &s), 0);
    }
    ck_assert_int_eq(pthread_create(&th[NTHREADS], NULL, stress_snapshotter,
                                    &s), 0);
    for (i = 0; i < 30; i++) {
        usleep(100 * 1000);
        (void)stats();
    }
    atomic_store(&s.stop, true);
    for (i = 0; i <= NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    store_maintenance_stop(st);
    ck_assert_int_eq(atomic_load(&s.errors), 0);
    for (i = 0; i < NKEYS; i++) {   /* unlink what the last flush killed */
        char key[32];

        snprintf(key, sizeof(key), "key%d", i);
        (void)present(key);
    }
    ck_assert_int_eq(store_foreach(st, check_item, acc), 0);
    ss = stats();
    ck_assert_uint_eq(acc[2], 0);
    ck_assert_uint_eq(acc[0], ss.curr_items);
    ck_assert_uint_eq(acc[1], ss.bytes);
    ck_assert_uint_le(ss.bytes, ss.mem_pages);
    ck_assert_uint_gt(ss.total_items, 1000);
    /* no reference leaked: once every key is deleted no chunk is used */
    for (i = 0; i < NKEYS; i++) {
        char key[32];

        snprintf(key, sizeof(key), "key%d", i);
        (void)t_delete(st, key, strlen(key), 0);
    }
    ss = stats();
    ck_assert_uint_eq(ss.curr_items, 0);
    ck_assert_uint_eq(ss.bytes, 0);
    store_class_stats(st, no_chunk_used, NULL);
}
END_TEST

/* Growth of the hash table while four threads write, read and evict. */
struct gstress {
    atomic_bool stop;
    atomic_int errors;
    atomic_uint next;
    unsigned seed;
};

static void *
gstress_worker(void *arg)
{
    struct gstress *g = arg;
    unsigned seed = thread_seed(&g->next, g->seed);
    char key[32];
    struct item *it;

    while (!atomic_load(&g->stop)) {
        int k = rand_r(&seed) % 100000, op = rand_r(&seed) % 10;

        snprintf(key, sizeof(key), "key%d", k);
        if (op < 5) {
            if (put_n(key, 10 + (size_t)(k % 40), fill_of(k), 0) != STORE_OK) {
                atomic_fetch_add(&g->errors, 1);
            }
        } else if (op < 9) {
            if (t_get(st, key, strlen(key), &it, NULL) == STORE_OK) {
                uint32_t n = item_nvalue(it), j;

                if (n != 10 + (uint32_t)(k % 40) ||
                    item_nkey(it) != strlen(key) ||
                    memcmp(item_key(it), key, strlen(key)) != 0) {
                    atomic_fetch_add(&g->errors, 1);
                }
                for (j = 0; j < n; j++) {
                    if (item_value(it)[j] != fill_of(k)) {
                        atomic_fetch_add(&g->errors, 1);
                        break;
                    }
                }
                item_unref(it);
            }
        } else {
            (void)t_delete(st, key, strlen(key), 0);
        }
    }
    return NULL;
}

static int
count_items(void *arg, struct item *it)
{
    uint64_t *acc = arg;

    acc[0]++;
    acc[1] += item_total_size(it);
    return 0;
}

START_TEST(test_stress_growth_eviction)
{
    struct store_config cfg;
    pthread_t th[NTHREADS];
    struct gstress g;
    struct store_stats ss;
    uint64_t acc[3] = { 0, 0, 0 };
    int i, err = 0;

    store_destroy(&st);
    store_config_default(&cfg);
    cfg.mem_limit = MEM;
    cfg.hash_power = 10;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(store_maintenance_start(st), 0);
    atomic_init(&g.stop, false);
    atomic_init(&g.errors, 0);
    atomic_init(&g.next, 0);
    g.seed = test_seed("growth");
    for (i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, gstress_worker, &g),
                         0);
    }
    usleep(2000 * 1000);
    atomic_store(&g.stop, true);
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    store_maintenance_stop(st);
    ck_assert_int_eq(atomic_load(&g.errors), 0);
    ss = stats();
    ck_assert_uint_ge(ss.hash_power, 13);   /* grew, several times */
    ck_assert_uint_gt(ss.evictions, 0);
    ck_assert_int_eq(store_foreach(st, count_items, acc), 0);
    ck_assert_uint_eq(acc[0], ss.curr_items);
    ck_assert_uint_eq(acc[1], ss.bytes);
    for (i = 0; i < 100000; i++) {
        char key[32];

        snprintf(key, sizeof(key), "key%d", i);
        (void)t_delete(st, key, strlen(key), 0);
    }
    ss = stats();
    ck_assert_uint_eq(ss.curr_items, 0);
    store_class_stats(st, no_chunk_used, NULL);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_all_referenced_enomem)
{
    struct item *held[8192];
    char key[32];
    int i, n = 0, rc = STORE_OK;

    /* 1 MiB store; hold a reference to everything */
    store_destroy(&st);
    setup_with(false, (size_t)1 << 20);
    for (i = 0; i < 8192; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        rc = put_n(key, 500, 'r', 0);
        if (rc != STORE_OK) {
            break;
        }
        ck_assert_int_eq(t_get(st, key, strlen(key), &held[n], NULL),
                         STORE_OK);
        n++;
    }
    ck_assert_int_eq(rc, STORE_ENOMEM);
    ck_assert_int_gt(n, 100);
    ck_assert_uint_eq(stats().evictions, 0);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(item_value(held[i])[0], 'r');
        item_unref(held[i]);
    }
    ck_assert_int_eq(put_n("after", 500, 'a', 0), STORE_OK);
    ck_assert_uint_eq(stats().evictions, 1);
}
END_TEST

START_TEST(test_unlinked_alloc_not_evicted)
{
    struct item *pending;
    char key[32];
    int i, rc;

    /* an allocated, not yet stored item is not the store's to take */
    pending = store_alloc(st, "pending", 7, 0, 0, 1000, false, &rc);
    ck_assert_ptr_nonnull(pending);
    memset(item_value_mut(pending), 'p', 1000);
    for (i = 0; stats().evictions < 5000; i++) {
        snprintf(key, sizeof(key), "fill%d", i);
        ck_assert_int_eq(put_n(key, 1000, 'f', 0), STORE_OK);
    }
    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(item_value(pending)[i], 'p');
    }
    ck_assert_int_eq(t_store(st, pending, STORE_SET, 0, NULL), STORE_OK);
    item_unref(pending);
    ck_assert(present("pending"));
}
END_TEST

static Suite *
lru_suite(void)
{
    Suite *s = suite_create("lru");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_set_timeout(core, 60);
    tcase_add_test(core, test_second_chance);
    tcase_add_test(core, test_lru_order);
    tcase_add_test(core, test_expired_reclaimed_first);
    tcase_add_test(core, test_eviction_tombstones);
    tcase_add_test(core, test_referenced_not_evicted);
    tcase_add_test(core, test_page_reassign);
    tcase_add_test(core, test_mixed_sizes_bound);
    tcase_add_test(core, test_class_stats);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_no_evict);
    tcase_add_test(limits, test_no_evict_reuses_expired);
    tcase_add_test(limits, test_loading_mode);
    tcase_add_test(limits, test_stress);
    tcase_add_test(limits, test_stress_growth_eviction);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_all_referenced_enomem);
    tcase_add_test(errors, test_unlinked_alloc_not_evicted);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(lru_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
