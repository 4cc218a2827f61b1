/*
 * check_store.c -- storage/ commands, expiry, flush, CAS, change log,
 * foreach, load, limits and errors. LRU and eviction: check_lru.c.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/store.h"
#include "tests/store_short.h"

#define T0 1700000000u

static struct store *st;

static void
setup_cfg(size_t mem, unsigned hash_power, size_t changelog_max)
{
    struct store_config cfg;
    int err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = mem;
    cfg.hash_power = hash_power;
    cfg.changelog_max = changelog_max;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    store_clock_set(st, T0);
}

static void
setup(void)
{
    setup_cfg((size_t)8 << 20, 0, (size_t)1 << 20);
}

static void
teardown(void)
{
    store_destroy(&st);
    ck_assert_ptr_null(st);
}

static int
put(const char *key, const char *val, uint32_t flags, uint32_t exptime,
    enum store_mode mode, uint64_t cas_in, uint64_t *cas_out)
{
    int rc;
    size_t n = strlen(val);
    struct item *it = store_alloc(st, key, strlen(key), flags, exptime, n, false,
                                  &rc);

    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), val, n);
    rc = t_store(st, it, mode, cas_in, cas_out);
    item_unref(it);
    return rc;
}

static int
set(const char *key, const char *val)
{
    return put(key, val, 0, 0, STORE_SET, 0, NULL);
}

/* Value of KEY into BUF (NUL-terminated), or NULL on a miss. */
static char *
get(const char *key, char *buf, size_t len)
{
    struct item *it;

    if (t_get(st, key, strlen(key), &it, NULL) != STORE_OK) {
        return NULL;
    }
    ck_assert_uint_lt(item_nvalue(it), len);
    memcpy(buf, item_value(it), item_nvalue(it));
    buf[item_nvalue(it)] = '\0';
    ck_assert(memcmp(item_value(it) + item_nvalue(it), "\r\n", 2) == 0);
    item_unref(it);
    return buf;
}

static bool
present(const char *key)
{
    char buf[64];

    return get(key, buf, sizeof(buf)) != NULL;
}

static uint64_t
cas_of(const char *key)
{
    struct item *it;
    uint64_t cas;

    ck_assert_int_eq(t_get(st, key, strlen(key), &it, NULL), STORE_OK);
    cas = item_cas(it);
    item_unref(it);
    return cas;
}

/* ---- core ------------------------------------------------------------ */

START_TEST(test_set_get)
{
    char buf[64];
    struct item *it;
    uint64_t c1, c2;

    ck_assert_ptr_null(get("a", buf, sizeof(buf)));
    ck_assert_int_eq(put("a", "hello", 42, 0, STORE_SET, 0, &c1), STORE_OK);
    ck_assert_str_eq(get("a", buf, sizeof(buf)), "hello");
    ck_assert_int_eq(t_get(st, "a", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_flags(it), 42);
    ck_assert_uint_eq(item_nkey(it), 1);
    ck_assert(memcmp(item_key(it), "a", 1) == 0);
    ck_assert_uint_eq(item_cas(it), c1);
    ck_assert_uint_ge(item_total_size(it), 5 + 1 + 2);
    item_unref(it);
    ck_assert_int_eq(put("a", "world!", 1, 0, STORE_SET, 0, &c2), STORE_OK);
    ck_assert_uint_gt(c2, c1);
    ck_assert_str_eq(get("a", buf, sizeof(buf)), "world!");
    ck_assert_int_eq(set("empty", ""), STORE_OK);
    ck_assert_str_eq(get("empty", buf, sizeof(buf)), "");
}
END_TEST

START_TEST(test_add_replace)
{
    char buf[64];

    ck_assert_int_eq(put("k", "1", 0, 0, STORE_REPLACE, 0, NULL),
                     STORE_NOT_STORED);
    ck_assert(!present("k"));
    ck_assert_int_eq(put("k", "1", 0, 0, STORE_ADD, 0, NULL), STORE_OK);
    ck_assert_int_eq(put("k", "2", 0, 0, STORE_ADD, 0, NULL),
                     STORE_NOT_STORED);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "1");
    ck_assert_int_eq(put("k", "3", 0, 0, STORE_REPLACE, 0, NULL), STORE_OK);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "3");
}
END_TEST

START_TEST(test_cas)
{
    char buf[64];
    uint64_t c1, c2;

    ck_assert_int_eq(put("k", "v", 0, 0, T_CAS, 5, NULL), STORE_MISS);
    ck_assert_int_eq(put("k", "v1", 0, 0, STORE_SET, 0, &c1), STORE_OK);
    ck_assert_int_eq(put("k", "v2", 0, 0, T_CAS, c1 + 1, NULL),
                     STORE_EXISTS);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "v1");
    ck_assert_int_eq(put("k", "v2", 0, 0, T_CAS, c1, &c2), STORE_OK);
    ck_assert_uint_gt(c2, c1);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "v2");
    /* a stale CAS fails after the item changed */
    ck_assert_int_eq(put("k", "v3", 0, 0, T_CAS, c1, NULL),
                     STORE_EXISTS);
    /* non-zero cas_in on SET (meta) must match too */
    ck_assert_int_eq(put("k", "v4", 0, 0, STORE_SET, c1, NULL),
                     STORE_EXISTS);
    ck_assert_int_eq(put("k", "v4", 0, 0, STORE_SET, c2, NULL), STORE_OK);
    ck_assert_int_eq(put("nokey", "v", 0, 0, STORE_SET, 7, NULL),
                     STORE_MISS);
    ck_assert_uint_eq(store_cas_current(st), cas_of("k"));
}
END_TEST

START_TEST(test_delete)
{
    uint64_t c;

    ck_assert_int_eq(t_delete(st, "k", 1, 0), STORE_MISS);
    ck_assert_int_eq(put("k", "v", 0, 0, STORE_SET, 0, &c), STORE_OK);
    ck_assert_int_eq(t_delete(st, "k", 1, c + 1), STORE_EXISTS);
    ck_assert(present("k"));
    ck_assert_int_eq(t_delete(st, "k", 1, c), STORE_OK);
    ck_assert(!present("k"));
    ck_assert_int_eq(t_delete(st, "k", 1, 0), STORE_MISS);
    ck_assert_int_eq(set("k", "again"), STORE_OK);
    ck_assert_int_eq(t_delete(st, "k", 1, 0), STORE_OK);
}
END_TEST

START_TEST(test_append_prepend)
{
    char buf[64];
    struct item *it;
    uint32_t exp = T0 + 100;

    ck_assert_int_eq(put("k", "x", 0, 0, STORE_APPEND, 0, NULL),
                     STORE_NOT_STORED);
    ck_assert_int_eq(put("k", "x", 0, 0, STORE_PREPEND, 0, NULL),
                     STORE_NOT_STORED);
    ck_assert(!present("k"));
    ck_assert_int_eq(put("k", "mid", 7, exp, STORE_SET, 0, NULL), STORE_OK);
    ck_assert_int_eq(put("k", "END", 9, 0, STORE_APPEND, 0, NULL), STORE_OK);
    ck_assert_int_eq(put("k", "pre", 9, 0, STORE_PREPEND, 0, NULL),
                     STORE_OK);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "premidEND");
    ck_assert_int_eq(t_get(st, "k", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_flags(it), 7);
    ck_assert_uint_eq(item_exptime(it), exp);
    item_unref(it);
    ck_assert_int_eq(put("k", "z", 0, 0, STORE_APPEND, cas_of("k") + 1,
                         NULL), STORE_EXISTS);
    ck_assert_int_eq(put("k", "!", 0, 0, STORE_APPEND, cas_of("k"), NULL),
                     STORE_OK);
    ck_assert_str_eq(get("k", buf, sizeof(buf)), "premidEND!");
}
END_TEST

static int
arith(const char *key, bool incr, uint64_t delta, uint64_t *out)
{
    return t_arith(st, key, strlen(key), incr, delta, out);
}

START_TEST(test_incr_decr)
{
    char buf[64];
    uint64_t v = 0;

    ck_assert_int_eq(arith("n", true, 1, &v), STORE_MISS);
    ck_assert_int_eq(set("n", "10"), STORE_OK);
    ck_assert_int_eq(arith("n", true, 5, &v), STORE_OK);
    ck_assert_uint_eq(v, 15);
    ck_assert_str_eq(get("n", buf, sizeof(buf)), "15");
    /* shrinking keeps the length, space padded, as memcached 1.6 */
    ck_assert_int_eq(arith("n", false, 6, &v), STORE_OK);
    ck_assert_uint_eq(v, 9);
    ck_assert_str_eq(get("n", buf, sizeof(buf)), "9 ");
    ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
    ck_assert_str_eq(get("n", buf, sizeof(buf)), "10");
    ck_assert_int_eq(arith("n", true, 90, &v), STORE_OK);
    ck_assert_str_eq(get("n", buf, sizeof(buf)), "100");
    /* decr stops at 0 */
    ck_assert_int_eq(arith("n", false, 1000, &v), STORE_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_str_eq(get("n", buf, sizeof(buf)), "0  ");
    /* incr wraps modulo 2^64 */
    ck_assert_int_eq(set("w", "18446744073709551615"), STORE_OK);
    ck_assert_int_eq(arith("w", true, 2, &v), STORE_OK);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(set("w", "100"), STORE_OK);
    ck_assert_int_eq(arith("w", true, UINT64_MAX, &v), STORE_OK);
    ck_assert_uint_eq(v, 99);
    /* leading zeros beyond 20 digits are still a number (memcached) */
    ck_assert_int_eq(set("z", "000000000000000000000000000001"), STORE_OK);
    ck_assert_int_eq(arith("z", true, 1, &v), STORE_OK);
    ck_assert_uint_eq(v, 2);
    ck_assert_uint_eq(strlen(get("z", buf, sizeof(buf))), 30);
}
END_TEST

START_TEST(test_incr_non_numeric)
{
    static const char *bad[] = {
        "", " ", "abc", "5a", "-12", "18446744073709551616",
        "99999999999999999999999", "1.5",
    };
    char buf[64];
    uint64_t v = 7;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(set("n", bad[i]), STORE_OK);
        ck_assert_int_eq(arith("n", true, 1, &v), STORE_NON_NUMERIC);
        ck_assert_int_eq(arith("n", false, 1, &v), STORE_NON_NUMERIC);
        ck_assert_str_eq(get("n", buf, sizeof(buf)), bad[i]);
    }
    /* what memcached's strtoull accepts */
    ck_assert_int_eq(set("n", " 12"), STORE_OK);
    ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
    ck_assert_uint_eq(v, 13);
    ck_assert_int_eq(set("n", "1 2 "), STORE_OK);
    ck_assert_int_eq(arith("n", true, 1, &v), STORE_OK);
    ck_assert_uint_eq(v, 2);
    ck_assert_uint_eq(v, 2);
}
END_TEST

START_TEST(test_arith_cas_vivify)
{
    struct store_session ses = t_ses(st);
    struct store_arith_opt req = { .delta = 3 };
    struct store_arith_res res;
    char buf[64];
    uint64_t cas, cas2;
    struct item *it;

    req.vivify = true;
    req.initial = 40;
    req.vivify_exptime = T0 + 50;
    ck_assert_int_eq(store_arith(&ses, "v", 1, &req, &res), STORE_OK);
    ck_assert_uint_eq(res.value, 40);
    ck_assert(res.vivified);
    cas = res.cas;
    ck_assert_str_eq(get("v", buf, sizeof(buf)), "40");
    ck_assert_int_eq(t_get(st, "v", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_exptime(it), T0 + 50);
    ck_assert_uint_eq(item_cas(it), cas);
    item_unref(it);
    ck_assert_int_eq(store_arith(&ses, "v", 1, &req, &res), STORE_OK);
    ck_assert_uint_eq(res.value, 43);
    ck_assert(!res.vivified);
    cas2 = res.cas;
    ck_assert_uint_gt(cas2, cas);
    req.has_cas = true;
    req.cas = cas;   /* stale */
    ck_assert_int_eq(store_arith(&ses, "v", 1, &req, &res), STORE_EXISTS);
    req.cas = cas2;
    ck_assert_int_eq(store_arith(&ses, "v", 1, &req, &res), STORE_OK);
    ck_assert_uint_eq(res.value, 46);
}
END_TEST

START_TEST(test_touch)
{
    struct item *it;

    ck_assert_int_eq(t_touch(st, "t", 1, T0 + 5, NULL), STORE_MISS);
    ck_assert_int_eq(put("t", "v", 0, T0 + 5, STORE_SET, 0, NULL),
                     STORE_OK);
    ck_assert_int_eq(t_touch(st, "t", 1, T0 + 100, &it), STORE_OK);
    ck_assert_uint_eq(item_exptime(it), T0 + 100);
    item_unref(it);
    store_clock_set(st, T0 + 50);
    ck_assert(present("t"));
    ck_assert_int_eq(t_touch(st, "t", 1, 0, NULL), STORE_OK);
    store_clock_set(st, T0 + 5000);
    ck_assert(present("t"));
}
END_TEST

START_TEST(test_exptime_conversion)
{
    ck_assert_uint_eq(store_exptime(st, 0), 0);
    ck_assert_uint_eq(store_exptime(st, 1), T0 + 1);
    ck_assert_uint_eq(store_exptime(st, 2592000), T0 + 2592000);
    ck_assert_uint_eq(store_exptime(st, 2592001), 2592001);
    ck_assert_uint_eq(store_exptime(st, T0 + 77), T0 + 77);
    ck_assert_uint_le(store_exptime(st, -1), T0 - 1);
    ck_assert_uint_ne(store_exptime(st, -1), 0);
    ck_assert_uint_eq(store_exptime(st, (int64_t)1 << 40), UINT32_MAX);
}
END_TEST

START_TEST(test_expiry)
{
    bool expired = false;
    struct item *it;

    ck_assert_int_eq(put("never", "v", 0, store_exptime(st, 0), STORE_SET, 0,
                         NULL), STORE_OK);
    ck_assert_int_eq(put("rel", "v", 0, store_exptime(st, 10), STORE_SET, 0,
                         NULL), STORE_OK);
    ck_assert_int_eq(put("30d", "v", 0, store_exptime(st, 2592000),
                         STORE_SET, 0, NULL), STORE_OK);
    ck_assert_int_eq(put("abs", "v", 0, store_exptime(st, 2592001),
                         STORE_SET, 0, NULL), STORE_OK);
    ck_assert_int_eq(put("neg", "v", 0, store_exptime(st, -1), STORE_SET, 0,
                         NULL), STORE_OK);
    ck_assert(present("never"));
    ck_assert(present("30d"));
    ck_assert_int_eq(t_get(st, "abs", 3, &it, &expired), STORE_MISS);
    ck_assert(expired);
    ck_assert(!present("neg"));
    store_clock_set(st, T0 + 9);
    ck_assert(present("rel"));
    store_clock_set(st, T0 + 10);   /* expires at its second */
    expired = false;
    ck_assert_int_eq(t_get(st, "rel", 3, &it, &expired), STORE_MISS);
    ck_assert(expired);
    expired = true;
    ck_assert_int_eq(t_get(st, "rel", 3, &it, &expired), STORE_MISS);
    ck_assert(!expired);    /* gone now, not expired again */
    store_clock_set(st, T0 + 2592000 - 1);
    ck_assert(present("30d"));
    store_clock_set(st, T0 + 2592000);
    ck_assert(!present("30d"));
    ck_assert(present("never"));
}
END_TEST

START_TEST(test_expired_not_replaceable)
{
    ck_assert_int_eq(put("k", "v", 0, T0 + 1, STORE_SET, 0, NULL), STORE_OK);
    store_clock_set(st, T0 + 1);
    ck_assert_int_eq(put("k", "w", 0, 0, STORE_REPLACE, 0, NULL),
                     STORE_NOT_STORED);
    ck_assert_int_eq(put("k", "w", 0, 0, STORE_ADD, 0, NULL), STORE_OK);
    ck_assert_int_eq(t_touch(st, "nope", 4, 0, NULL), STORE_MISS);
}
END_TEST

START_TEST(test_flush_now)
{
    struct store_stats ss;

    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert_int_eq(set("b", "2"), STORE_OK);
    t_flush(st, 0);
    ck_assert(!present("a"));
    ck_assert(!present("b"));
    /* stored in the same second, after the flush: alive */
    ck_assert_int_eq(set("c", "3"), STORE_OK);
    ck_assert(present("c"));
    ck_assert_int_eq(put("b", "x", 0, 0, STORE_ADD, 0, NULL), STORE_OK);
    store_stats(st, &ss);
    ck_assert_uint_eq(ss.curr_items, 2);
}
END_TEST

START_TEST(test_flush_delayed)
{
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    t_flush(st, T0 + 10);
    ck_assert_int_eq(set("b", "2"), STORE_OK);
    store_clock_set(st, T0 + 9);
    ck_assert(present("a"));
    ck_assert(present("b"));
    store_clock_set(st, T0 + 10);
    ck_assert(!present("a"));
    ck_assert(!present("b"));
    ck_assert_int_eq(set("c", "3"), STORE_OK);
    ck_assert(present("c"));
    store_clock_set(st, T0 + 20);
    ck_assert(present("c"));
    /* a later immediate flush replaces a pending delayed one */
    t_flush(st, T0 + 100);
    t_flush(st, 0);
    ck_assert(!present("c"));
    ck_assert_int_eq(set("d", "4"), STORE_OK);
    store_clock_set(st, T0 + 200);
    ck_assert(present("d"));
}
END_TEST

START_TEST(test_ref_survives)
{
    struct item *it, *it2;

    ck_assert_int_eq(set("k", "first"), STORE_OK);
    ck_assert_int_eq(t_get(st, "k", 1, &it, NULL), STORE_OK);
    ck_assert_int_eq(set("k", "second"), STORE_OK);
    ck_assert_int_eq(t_get(st, "k", 1, &it2, NULL), STORE_OK);
    ck_assert(memcmp(item_value(it), "first\r\n", 7) == 0);
    ck_assert_int_eq(t_delete(st, "k", 1, 0), STORE_OK);
    ck_assert(memcmp(item_value(it2), "second\r\n", 8) == 0);
    /* fresh writes must not reuse the referenced chunks */
    ck_assert_int_eq(set("x", "XXXXX"), STORE_OK);
    ck_assert_int_eq(set("y", "YYYYYY"), STORE_OK);
    ck_assert(memcmp(item_value(it), "first\r\n", 7) == 0);
    ck_assert(memcmp(item_value(it2), "second\r\n", 8) == 0);
    item_ref(it);
    item_unref(it);
    item_unref(it);
    item_unref(it2);
}
END_TEST

struct seen {
    int count[200];
    int total;
};

static int
count_item(void *arg, struct item *it)
{
    struct seen *s = arg;
    char key[16];
    int idx;

    memcpy(key, item_key(it), item_nkey(it));
    key[item_nkey(it)] = '\0';
    idx = atoi(key + 1);

    s->count[idx]++;
    s->total++;
    return 0;
}

START_TEST(test_foreach)
{
    struct seen s;
    char key[16];
    int i;

    memset(&s, 0, sizeof(s));
    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(set(key, "v"), STORE_OK);
    }
    ck_assert_int_eq(t_delete(st, "k7", 2, 0), STORE_OK);
    ck_assert_int_eq(put("k8", "v", 0, T0, STORE_SET, 0, NULL), STORE_OK);
    ck_assert_int_eq(store_foreach(st, count_item, &s), 0);
    ck_assert_int_eq(s.total, 198);
    for (i = 0; i < 200; i++) {
        ck_assert_int_eq(s.count[i], (i == 7 || i == 8) ? 0 : 1);
    }
}
END_TEST

static int
stop_at_three(void *arg, struct item *it)
{
    int *n = arg;

    (void)it;
    return ++*n == 3 ? 42 : 0;
}

START_TEST(test_foreach_stop)
{
    int n = 0, i;
    char key[16];

    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(set(key, "v"), STORE_OK);
    }
    ck_assert_int_eq(store_foreach(st, stop_at_three, &n), 42);
    ck_assert_int_eq(n, 3);
}
END_TEST

/* Keys of a walk, checked to come in store_key_hash order (ties: key
 * bytes, shorter first), each once. */
struct order {
    uint64_t hv;
    char key[STORE_KEY_MAX + 1];
    size_t nkey;
    unsigned n;
    unsigned dups;
    unsigned bad;
};

static void
order_see(struct order *o, const char *key, size_t nkey)
{
    uint64_t hv = store_key_hash(key, nkey);
    size_t m = nkey < o->nkey ? nkey : o->nkey;
    int c = memcmp(key, o->key, m);

    if (o->n > 0) {
        if (hv == o->hv && c == 0 && nkey == o->nkey) {
            o->dups++;
        } else if (hv < o->hv ||
                   (hv == o->hv && (c < 0 || (c == 0 && nkey < o->nkey)))) {
            o->bad++;
        }
    }
    o->hv = hv;
    memcpy(o->key, key, nkey);
    o->nkey = nkey;
    o->n++;
}

static int
order_item(void *arg, struct item *it)
{
    order_see(arg, item_key(it), item_nkey(it));
    return 0;
}

static int
order_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    (void)it;
    order_see(arg, key, nkey);
    return 0;
}

/* store_foreach and store_changes_take hand keys over in hash order,
 * across a table growth, and a key the log holds twice once */
START_TEST(test_walk_order)
{
    struct order o;
    char key[32];

    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "order:%d", i);
        ck_assert_int_eq(set(key, "v"), STORE_OK);
    }
    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(store_foreach(st, order_item, &o), 0);
    ck_assert_uint_eq(o.n, 20000);
    ck_assert_uint_eq(o.bad, 0);
    ck_assert_uint_eq(o.dups, 0);
    memset(&o, 0, sizeof(o));
    (void)store_changes_take(st, order_change, &o);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "order:%d", i * 6);
        ck_assert_int_eq(t_delete(st, key, strlen(key), 0), STORE_OK);
        ck_assert_int_eq(set(key, "w"), STORE_OK);
    }
    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(store_changes_take(st, order_change, &o), 0);
    ck_assert_uint_eq(o.n, 3000);
    ck_assert_uint_eq(o.bad, 0);
    ck_assert_uint_eq(o.dups, 0);
}
END_TEST

struct changes {
    char keys[32][16];
    bool live[32];
    char val[32][16];
    int n;
};

static int
collect_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct changes *c = arg;

    ck_assert_int_lt(c->n, 32);
    memcpy(c->keys[c->n], key, nkey);
    c->keys[c->n][nkey] = '\0';
    c->live[c->n] = it != NULL;
    c->val[c->n][0] = '\0';
    if (it != NULL) {
        memcpy(c->val[c->n], item_value(it), item_nvalue(it));
        c->val[c->n][item_nvalue(it)] = '\0';
    }
    c->n++;
    return 0;
}

static int
find_change(const struct changes *c, const char *key)
{
    int i, at = -1;

    for (i = 0; i < c->n; i++) {
        if (strcmp(c->keys[i], key) == 0) {
            ck_assert_int_eq(at, -1);   /* once per epoch */
            at = i;
        }
    }
    return at;
}

START_TEST(test_changes)
{
    struct changes c;
    uint64_t v;
    int i;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(set("gone", "x"), STORE_OK);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    memset(&c, 0, sizeof(c));
    ck_assert_uint_eq(store_changes_bytes(st), 0);
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert_int_eq(set("a", "2"), STORE_OK);
    ck_assert_int_eq(set("b", "5"), STORE_OK);
    ck_assert_int_eq(arith("b", true, 1, &v), STORE_OK);
    ck_assert_int_eq(t_touch(st, "b", 1, T0 + 99, NULL), STORE_OK);
    ck_assert_int_eq(t_delete(st, "gone", 4, 0), STORE_OK);
    ck_assert_uint_gt(store_changes_bytes(st), 0);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 3);
    i = find_change(&c, "a");
    ck_assert(i >= 0 && c.live[i]);
    ck_assert_str_eq(c.val[i], "2");
    i = find_change(&c, "b");
    ck_assert(i >= 0 && c.live[i]);
    ck_assert_str_eq(c.val[i], "6");
    i = find_change(&c, "gone");
    ck_assert(i >= 0 && !c.live[i]);
    /* a new epoch: nothing until something changes */
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 0);
    ck_assert_int_eq(set("a", "3"), STORE_OK);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.val[0], "3");
}
END_TEST

START_TEST(test_changes_expiry_tombstone)
{
    struct changes c;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(put("e", "v", 0, T0 + 2, STORE_SET, 0, NULL), STORE_OK);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 1);
    memset(&c, 0, sizeof(c));
    store_clock_set(st, T0 + 3);
    ck_assert(!present("e"));
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.keys[0], "e");
    ck_assert(!c.live[0]);
}
END_TEST

START_TEST(test_changes_flush_overflow)
{
    struct changes c;
    char key[48];
    int i;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    t_flush(st, 0);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 1);
    ck_assert_int_eq(c.n, 0);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    /* a delayed flush overflows the log when it comes due */
    t_flush(st, T0 + 5);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    store_clock_set(st, T0 + 5);
    ck_assert(!present("a"));
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 1);
    /* byte bound: 1 MiB of keys at ~ 30 bytes each */
    for (i = 0; i < 40000; i++) {
        snprintf(key, sizeof(key), "overflow-key-%020d", i);
        ck_assert_int_eq(set(key, "v"), STORE_OK);
    }
    ck_assert_uint_le(store_changes_bytes(st), (size_t)1 << 20);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 1);
    ck_assert_uint_eq(store_changes_bytes(st), 0);
    ck_assert_int_eq(c.n, 0);
    ck_assert_int_eq(set("after", "v"), STORE_OK);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 1);
}
END_TEST

static int
fail_change(void *arg, const char *key, size_t nkey, struct item *it)
{
    (void)arg;
    (void)key;
    (void)nkey;
    (void)it;
    return -7;
}

START_TEST(test_changes_fn_error)
{
    struct changes c;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert_int_eq(store_changes_take(st, fail_change, NULL), -7);
    /* what was lost forces a full rewrite next time */
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 1);
}
END_TEST

START_TEST(test_load)
{
    struct changes c;
    struct item *it;
    int rc;

    memset(&c, 0, sizeof(c));
    it = store_alloc(st, "L", 1, 3, T0 + 60, 4, false, &rc);
    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), "load", 4);
    ck_assert_int_eq(t_load(st, it, 5000, T0 - 30), STORE_OK);
    item_unref(it);
    ck_assert_uint_ge(store_cas_current(st), 5000);
    ck_assert_int_eq(store_changes_take(st, collect_change, &c), 0);
    ck_assert_int_eq(c.n, 0);   /* loading records nothing */
    ck_assert_int_eq(t_get(st, "L", 1, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_cas(it), 5000);
    ck_assert_uint_eq(item_flags(it), 3);
    ck_assert_uint_eq(item_exptime(it), T0 + 60);
    item_unref(it);
    /* new CAS values continue above the loaded one */
    ck_assert_int_eq(set("n", "v"), STORE_OK);
    ck_assert_uint_gt(cas_of("n"), 5000);
}
END_TEST

static uint64_t reserve_calls, reserve_want;

static uint64_t
reserve_hook(void *arg, uint64_t want)
{
    (void)arg;
    reserve_calls++;
    reserve_want = want;
    return want;
}

START_TEST(test_cas_floor_reserve)
{
    uint64_t c;

    ck_assert_int_eq(set("a", "1"), STORE_OK);
    c = store_cas_current(st);
    store_cas_floor(st, 1000);
    ck_assert_uint_eq(store_cas_current(st), 1000);
    store_cas_floor(st, 10);   /* never lowers */
    ck_assert_uint_eq(store_cas_current(st), 1000);
    ck_assert_int_eq(set("a", "2"), STORE_OK);
    ck_assert_uint_eq(cas_of("a"), 1001);
    ck_assert_uint_gt(1001, c);
    store_cas_set_reserve(st, reserve_hook, NULL, 1003, 100);
    ck_assert_int_eq(set("a", "3"), STORE_OK);   /* 1002 */
    ck_assert_int_eq(set("a", "4"), STORE_OK);   /* 1003 */
    ck_assert_uint_eq(reserve_calls, 0);
    ck_assert_int_eq(set("a", "5"), STORE_OK);   /* 1004: passes */
    ck_assert_uint_eq(reserve_calls, 1);
    ck_assert_uint_eq(reserve_want, 1104);
    ck_assert_int_eq(set("a", "6"), STORE_OK);
    ck_assert_uint_eq(reserve_calls, 1);
    store_cas_floor(st, 1104);
    ck_assert_int_eq(set("a", "7"), STORE_OK);   /* 1105 */
    ck_assert_uint_eq(reserve_calls, 2);
    store_cas_set_reserve(st, NULL, NULL, 0, 0);
    ck_assert_int_eq(set("a", "8"), STORE_OK);
    ck_assert_uint_eq(reserve_calls, 2);
}
END_TEST

START_TEST(test_stats)
{
    struct store_stats ss;
    struct item *it;
    size_t sz;

    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert_int_eq(set("b", "22"), STORE_OK);
    ck_assert_int_eq(set("a", "333"), STORE_OK);
    ck_assert_int_eq(t_get(st, "a", 1, &it, NULL), STORE_OK);
    sz = item_total_size(it);
    item_unref(it);
    ck_assert_int_eq(t_get(st, "b", 1, &it, NULL), STORE_OK);
    sz += item_total_size(it);
    item_unref(it);
    store_stats(st, &ss);
    ck_assert_uint_eq(ss.curr_items, 2);
    ck_assert_uint_eq(ss.total_items, 3);
    ck_assert_uint_eq(ss.bytes, sz);
    ck_assert_uint_eq(ss.limit_maxbytes, (size_t)8 << 20);
    ck_assert_uint_eq(ss.mem_pages, (size_t)64 << 10);  /* 1 small page */
    ck_assert_uint_eq(ss.hash_power, 16);
    ck_assert_uint_eq(ss.hash_bytes, ((size_t)1 << 16) * sizeof(void *));
    store_stats_reset(st);
    store_stats(st, &ss);
    ck_assert_uint_eq(ss.total_items, 0);
    ck_assert_uint_eq(ss.curr_items, 2);
}
END_TEST

/* Callbacks run with no store lock held: they may call the store. */
static uint64_t
reserve_reenter(void *arg, uint64_t want)
{
    struct item *it;

    (void)arg;
    ck_assert_int_eq(t_get(st, "a", 1, &it, NULL), STORE_OK);
    item_unref(it);
    ck_assert_int_eq(set("b", "from the hook"), STORE_OK);
    return want;
}

static int
change_reenter(void *arg, const char *key, size_t nkey, struct item *it)
{
    struct item *again;

    (void)arg;
    (void)it;
    if (t_get(st, key, nkey, &again, NULL) == STORE_OK) {
        item_unref(again);
    }
    return set("other", "x") == STORE_OK ? 0 : -1;
}

static int
foreach_delete(void *arg, struct item *it)
{
    int *n = arg;

    ck_assert_int_eq(t_delete(st, item_key(it), item_nkey(it), 0),
                     STORE_OK);
    (*n)++;
    return 0;
}

START_TEST(test_callbacks_unlocked)
{
    char key[16];
    int i, n = 0;

    store_cas_set_reserve(st, reserve_reenter, NULL, 0, 10);
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert(present("b"));
    store_cas_set_reserve(st, NULL, NULL, 0, 0);
    ck_assert_int_eq(store_changes_take(st, change_reenter, NULL), 0);
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        ck_assert_int_eq(set(key, "v"), STORE_OK);
    }
    ck_assert_int_eq(store_foreach(st, foreach_delete, &n), 0);
    ck_assert_int_eq(n, 103);
    ck_assert(!present("f0"));
}
END_TEST

/* ---- model check: random commands against a reference model --------- */

#define MKEYS 24
#define MVAL 48

struct mitem {
    bool live;
    char val[MVAL * 4];
    size_t len;
    uint32_t flags;
    uint32_t exptime;
    uint64_t cas;
};

static bool
m_alive(const struct mitem *m, uint32_t now)
{
    return m->live && (m->exptime == 0 || m->exptime > now);
}

static void
m_check(struct mitem *model, int k, uint32_t now)
{
    char key[16];
    struct item *it;
    int rc;

    snprintf(key, sizeof(key), "m%d", k);
    rc = t_get(st, key, strlen(key), &it, NULL);
    if (!m_alive(&model[k], now)) {
        ck_assert_msg(rc == STORE_MISS, "%s should be gone", key);
        model[k].live = false;
        return;
    }
    ck_assert_msg(rc == STORE_OK, "%s should be there", key);
    ck_assert_uint_eq(item_nvalue(it), model[k].len);
    ck_assert(memcmp(item_value(it), model[k].val, model[k].len) == 0);
    ck_assert_uint_eq(item_flags(it), model[k].flags);
    ck_assert_uint_eq(item_exptime(it), model[k].exptime);
    ck_assert_uint_eq(item_cas(it), model[k].cas);
    item_unref(it);
}

/* A random value: digits (so incr/decr apply) or letters. */
static size_t
m_value(unsigned *seed, char *buf)
{
    size_t n = (size_t)rand_r(seed) % MVAL, i;
    bool digits = rand_r(seed) % 2;

    for (i = 0; i < n; i++) {
        buf[i] = digits ? (char)('0' + rand_r(seed) % 10)
                        : (char)('a' + rand_r(seed) % 26);
    }
    if (digits && n > 19) {
        n = 19;     /* stays below 2^64 */
    }
    return n;
}

static void
m_store(struct mitem *model, int k, unsigned *seed, uint32_t now)
{
    static const enum store_mode modes[] = {
        STORE_SET, STORE_ADD, STORE_REPLACE, T_CAS, STORE_APPEND,
        STORE_PREPEND,
    };
    enum store_mode mode = modes[rand_r(seed) % 6];
    struct mitem *m = &model[k];
    bool alive = m_alive(m, now), ok;
    char key[16], val[MVAL];
    size_t n = m_value(seed, val);
    uint32_t flags = (uint32_t)rand_r(seed), exp = 0;
    uint64_t cas_in = 0, cas_out = 0;
    struct item *it;
    int rc;

    snprintf(key, sizeof(key), "m%d", k);
    if (rand_r(seed) % 3 == 0) {
        exp = now + 1 + (uint32_t)(rand_r(seed) % 5);
    }
    if (mode == T_CAS) {
        cas_in = alive && rand_r(seed) % 2 ? m->cas : m->cas + 1;
    }
    it = store_alloc(st, key, strlen(key), flags, exp, n, false, &rc);
    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), val, n);
    rc = t_store(st, it, mode, cas_in, &cas_out);
    item_unref(it);
    ok = mode == STORE_SET || (mode == STORE_ADD && !alive) ||
         (mode != STORE_ADD && mode != STORE_SET && alive &&
          (mode != T_CAS || cas_in == m->cas));
    ck_assert_msg((rc == STORE_OK) == ok, "mode %d on %s: rc %d", mode, key,
                  rc);
    if (!ok) {
        return;
    }
    if (mode == STORE_APPEND || mode == STORE_PREPEND) {
        if (mode == STORE_APPEND) {
            memcpy(m->val + m->len, val, n);
        } else {
            memmove(m->val + n, m->val, m->len);
            memcpy(m->val, val, n);
        }
        m->len += n;
        if (m->len > MVAL * 2) {    /* keep values bounded */
            m->len = 0;
            ck_assert_int_eq(put(key, "", m->flags, m->exptime, STORE_SET, 0,
                                 &cas_out), STORE_OK);
        }
    } else {
        memcpy(m->val, val, n);
        m->len = n;
        m->flags = flags;
        m->exptime = exp;
    }
    m->live = true;
    m->cas = cas_out;
}

static bool
m_number(const struct mitem *m, uint64_t *v)
{
    size_t i;

    *v = 0;
    if (m->len == 0 || m->val[0] < '0' || m->val[0] > '9') {
        return false;
    }
    for (i = 0; i < m->len && m->val[i] >= '0' && m->val[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(m->val[i] - '0');

        if (*v > (UINT64_MAX - d) / 10) {
            return false;   /* appends make long digit strings */
        }
        *v = *v * 10 + d;
    }
    /* as memcached: a number ends at white space, the rest is ignored */
    return i == m->len || m->val[i] == ' ';
}

static void
m_arith(struct mitem *model, int k, unsigned *seed, uint32_t now)
{
    struct mitem *m = &model[k];
    struct store_session ses = t_ses(st);
    struct store_arith_opt req = { .decr = rand_r(seed) % 2 == 0,
                                   .delta = (uint64_t)rand_r(seed) % 1000 };
    struct store_arith_res res;
    char key[16], buf[32];
    uint64_t v = 0, got = 0, cas = 0;
    int rc, len;

    snprintf(key, sizeof(key), "m%d", k);
    rc = store_arith(&ses, key, strlen(key), &req, &res);
    got = res.value;
    cas = res.cas;
    if (!m_alive(m, now)) {
        ck_assert_int_eq(rc, STORE_MISS);
        return;
    }
    if (!m_number(m, &v)) {
        ck_assert_int_eq(rc, STORE_NON_NUMERIC);
        return;
    }
    ck_assert_int_eq(rc, STORE_OK);
    v = !req.decr ? v + req.delta : (req.delta > v ? 0 : v - req.delta);
    ck_assert_uint_eq(got, v);
    len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    if ((size_t)len < m->len) {
        memset(m->val, ' ', m->len);
    } else {
        m->len = (size_t)len;
    }
    memcpy(m->val, buf, (size_t)len);
    m->cas = cas;
}

START_TEST(test_model_random)
{
    struct mitem model[MKEYS];
    unsigned seed = 42;
    uint32_t now = T0;
    char key[16];
    int i, k, op;
    uint64_t last_cas = 0;

    memset(model, 0, sizeof(model));
    for (i = 0; i < 30000; i++) {
        k = rand_r(&seed) % MKEYS;
        op = rand_r(&seed) % 20;
        snprintf(key, sizeof(key), "m%d", k);
        if (op < 8) {
            m_store(model, k, &seed, now);
        } else if (op < 11) {
            m_arith(model, k, &seed, now);
        } else if (op == 11) {
            bool alive = m_alive(&model[k], now);

            ck_assert_int_eq(t_delete(st, key, strlen(key), 0),
                             alive ? STORE_OK : STORE_MISS);
            model[k].live = false;
        } else if (op == 12) {
            uint32_t exp = rand_r(&seed) % 2 ? 0 : now + 3;

            bool alive = m_alive(&model[k], now);

            ck_assert_int_eq(t_touch(st, key, strlen(key), exp, NULL),
                             alive ? STORE_OK : STORE_MISS);
            model[k].live = alive;
            model[k].exptime = exp;
        } else if (op == 13) {
            store_clock_set(st, ++now);
        } else if (op == 14 && rand_r(&seed) % 50 == 0) {
            t_flush(st, 0);
            for (k = 0; k < MKEYS; k++) {
                model[k].live = false;
            }
        } else {
            m_check(model, k, now);
        }
        ck_assert_uint_ge(store_cas_current(st), last_cas);
        last_cas = store_cas_current(st);
    }
    for (k = 0; k < MKEYS; k++) {
        m_check(model, k, now);
    }
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_key_length)
{
    char key[STORE_KEY_MAX + 2];
    struct item *it;
    int rc;

    memset(key, 'k', sizeof(key));
    it = store_alloc(st, key, STORE_KEY_MAX, 0, 0, 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_OK);
    item_unref(it);
    ck_assert_int_eq(t_get(st, key, STORE_KEY_MAX, &it, NULL), STORE_OK);
    item_unref(it);
    ck_assert_ptr_null(store_alloc(st, key, STORE_KEY_MAX + 1, 0, 0, 1, false,
                                   &rc));
    ck_assert_int_eq(rc, STORE_EINVAL);
    ck_assert_ptr_null(store_alloc(st, key, 0, 0, 0, 1, false, &rc));
    ck_assert_int_eq(rc, STORE_EINVAL);
    ck_assert_int_eq(t_get(st, key, STORE_KEY_MAX + 1, &it, NULL),
                     STORE_MISS);
}
END_TEST

START_TEST(test_item_size_max)
{
    size_t max = (size_t)1 << 20, n;
    struct item *it;
    int rc;

    /* header + key + value + CRLF == item_size_max fits, one more not */
    for (n = max - 300; n < max; n++) {
        it = store_alloc(st, "big", 3, 0, 0, n, false, &rc);
        if (it == NULL) {
            break;
        }
        item_unref(it);
    }
    ck_assert_int_eq(rc, STORE_ETOOLARGE);
    ck_assert_uint_gt(n, max - 100);
    it = store_alloc(st, "big", 3, 0, 0, n - 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    memset(item_value_mut(it), 'x', n - 1);
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_OK);
    item_unref(it);
    ck_assert_int_eq(t_get(st, "big", 3, &it, NULL), STORE_OK);
    ck_assert_uint_eq(item_nvalue(it), n - 1);
    ck_assert_uint_ge(item_total_size(it), n - 1);
    item_unref(it);
    ck_assert_ptr_null(store_alloc(st, "k", 1, 0, 0, (size_t)UINT32_MAX + 5, false,
                                   &rc));
    ck_assert_int_eq(rc, STORE_ETOOLARGE);
}
END_TEST

START_TEST(test_append_too_large)
{
    size_t half = 600 * 1024;
    char *big = malloc(half + 1);

    memset(big, 'a', half);
    big[half] = '\0';
    ck_assert_int_eq(set("k", big), STORE_OK);
    ck_assert_int_eq(put("k", big, 0, 0, STORE_APPEND, 0, NULL),
                     STORE_ETOOLARGE);
    ck_assert_int_eq(put("k", "tail", 0, 0, STORE_APPEND, 0, NULL),
                     STORE_OK);
    ck_assert_int_eq(put("k", big, 0, 0, STORE_PREPEND, 0, NULL),
                     STORE_ETOOLARGE);
    free(big);
}
END_TEST

START_TEST(test_hash_growth)
{
    struct store_stats ss;
    char key[32], buf[64];
    int i;

    store_destroy(&st);
    setup_cfg((size_t)16 << 20, 10, 0);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        ck_assert_int_eq(set(key, key), STORE_OK);
        if (i % 997 == 0) {
            ck_assert_str_eq(get("g0", buf, sizeof(buf)), "g0");
        }
    }
    store_stats(st, &ss);
    ck_assert_uint_ge(ss.hash_power, 14);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        ck_assert_str_eq(get(key, buf, sizeof(buf)), key);
    }
    ck_assert_uint_eq(ss.curr_items, 20000);
}
END_TEST

struct grow_arg {
    int id;
    int n;
    int errors;
};

static void *
grow_writer(void *p)
{
    struct grow_arg *a = p;
    char key[32], buf[64];
    int i;

    for (i = 0; i < a->n; i++) {
        snprintf(key, sizeof(key), "t%d-%d", a->id, i);
        if (set(key, key) != STORE_OK) {
            a->errors++;
        }
        /* an older key of ours must stay visible during migration */
        snprintf(key, sizeof(key), "t%d-%d", a->id, i / 2);
        if (get(key, buf, sizeof(buf)) == NULL || strcmp(buf, key) != 0) {
            a->errors++;
        }
    }
    return NULL;
}

START_TEST(test_hash_growth_concurrent)
{
    pthread_t th[4];
    struct grow_arg args[4];
    struct store_stats ss;
    char key[32], buf[64];
    int i, j;

    store_destroy(&st);
    setup_cfg((size_t)32 << 20, 10, 0);
    ck_assert_int_eq(store_maintenance_start(st), 0);
    for (i = 0; i < 4; i++) {
        args[i] = (struct grow_arg){ .id = i, .n = 15000 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, grow_writer, &args[i]),
                         0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].errors, 0);
    }
    for (i = 0; i < 100; i++) {     /* the thread finishes the growth */
        store_stats(st, &ss);
        if (!ss.hash_is_expanding && ss.hash_power >= 16) {
            break;
        }
        usleep(20 * 1000);
    }
    store_maintenance_stop(st);
    store_stats(st, &ss);
    ck_assert_uint_eq(ss.curr_items, 60000);
    ck_assert_uint_eq(ss.hash_power, 16);
    for (i = 0; i < 4; i++) {
        for (j = 0; j < 15000; j++) {
            snprintf(key, sizeof(key), "t%d-%d", i, j);
            ck_assert_str_eq(get(key, buf, sizeof(buf)), key);
        }
    }
}
END_TEST

START_TEST(test_maintenance_sweep)
{
    struct store_stats ss;
    char key[32];
    int i, waited;

    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "s%d", i);
        ck_assert_int_eq(put(key, "v", 0, i % 2 ? T0 + 5 : 0, STORE_SET, 0,
                             NULL), STORE_OK);
    }
    store_clock_set(st, T0 + 6);
    ck_assert_int_eq(store_maintenance_start(st), 0);
    ck_assert_int_eq(store_maintenance_start(st), 0);   /* idempotent */
    for (waited = 0; waited < 200; waited++) {
        store_stats(st, &ss);
        if (ss.curr_items == 250) {
            break;
        }
        usleep(50 * 1000);
    }
    store_maintenance_stop(st);
    store_maintenance_stop(st);
    ck_assert_uint_eq(ss.curr_items, 250);
    ck_assert_uint_eq(ss.expired_unfetched, 250);
    ck_assert_uint_ge(ss.reclaimed, 250);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_create_invalid)
{
    struct store_config cfg;
    struct store *bad;
    int err;

    store_config_default(&cfg);
    cfg.growth_factor = 1.0;
    err = 0;
    bad = store_create(&cfg, &err);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(err, EINVAL);
    store_config_default(&cfg);
    cfg.mem_limit = 1000;
    ck_assert_ptr_null(store_create(&cfg, &err));
    store_config_default(&cfg);
    cfg.item_size_max = 100;
    ck_assert_ptr_null(store_create(&cfg, &err));
    store_config_default(&cfg);
    cfg.item_size_max = cfg.mem_limit * 2;
    ck_assert_ptr_null(store_create(&cfg, &err));
    store_config_default(&cfg);
    cfg.hash_power = 40;
    ck_assert_ptr_null(store_create(&cfg, &err));
    store_destroy(&bad);    /* no-op on NULL */
    store_destroy(NULL);
}
END_TEST

START_TEST(test_store_errors)
{
    struct item *it;
    uint64_t v;
    int rc;

    it = store_alloc(st, "k", 1, 0, 0, 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    item_value_mut(it)[0] = '1';
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_OK);
    /* linking an item twice is refused */
    ck_assert_int_eq(t_store(st, it, STORE_SET, 0, NULL), STORE_EINVAL);
    ck_assert_int_eq(t_load(st, it, 1, 0), STORE_EINVAL);
    item_unref(it);
    ck_assert_int_eq(t_store(st, NULL, STORE_SET, 0, NULL),
                     STORE_EINVAL);
    ck_assert_int_eq(arith("", true, 1, &v), STORE_EINVAL);
    ck_assert_int_eq(t_get(st, "", 0, &it, NULL), STORE_MISS);
    ck_assert_ptr_null(it);
    ck_assert_int_eq(t_delete(st, "", 0, 0), STORE_MISS);
    ck_assert_int_eq(t_touch(st, "", 0, 0, NULL), STORE_MISS);
}
END_TEST

START_TEST(test_strerror)
{
    int codes[] = { STORE_OK, STORE_MISS, STORE_EXISTS, STORE_NOT_STORED,
                    STORE_NON_NUMERIC, STORE_ENOMEM, STORE_ETOOLARGE,
                    STORE_EINVAL, 12345 };
    size_t i, j;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ck_assert_ptr_nonnull(store_strerror(codes[i]));
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(store_strerror(codes[i]),
                             store_strerror(codes[j]));
        }
    }
}
END_TEST

START_TEST(test_changes_off)
{
    store_destroy(&st);
    setup_cfg((size_t)8 << 20, 0, 0);
    ck_assert_int_eq(set("a", "1"), STORE_OK);
    ck_assert_uint_eq(store_changes_bytes(st), 0);
    ck_assert_int_eq(store_changes_take(st, fail_change, NULL), 1);
}
END_TEST

static Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_set_get);
    tcase_add_test(core, test_add_replace);
    tcase_add_test(core, test_cas);
    tcase_add_test(core, test_delete);
    tcase_add_test(core, test_append_prepend);
    tcase_add_test(core, test_incr_decr);
    tcase_add_test(core, test_incr_non_numeric);
    tcase_add_test(core, test_arith_cas_vivify);
    tcase_add_test(core, test_touch);
    tcase_add_test(core, test_exptime_conversion);
    tcase_add_test(core, test_expiry);
    tcase_add_test(core, test_expired_not_replaceable);
    tcase_add_test(core, test_flush_now);
    tcase_add_test(core, test_flush_delayed);
    tcase_add_test(core, test_ref_survives);
    tcase_add_test(core, test_foreach);
    tcase_add_test(core, test_foreach_stop);
    tcase_add_test(core, test_walk_order);
    tcase_add_test(core, test_changes);
    tcase_add_test(core, test_changes_expiry_tombstone);
    tcase_add_test(core, test_changes_flush_overflow);
    tcase_add_test(core, test_changes_fn_error);
    tcase_add_test(core, test_load);
    tcase_add_test(core, test_cas_floor_reserve);
    tcase_add_test(core, test_stats);
    tcase_add_test(core, test_model_random);
    tcase_add_test(core, test_callbacks_unlocked);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_key_length);
    tcase_add_test(limits, test_item_size_max);
    tcase_add_test(limits, test_append_too_large);
    tcase_add_test(limits, test_hash_growth);
    tcase_add_test(limits, test_hash_growth_concurrent);
    tcase_add_test(limits, test_maintenance_sweep);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_create_invalid);
    tcase_add_test(errors, test_store_errors);
    tcase_add_test(errors, test_strerror);
    tcase_add_test(errors, test_changes_off);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
