/*
 * changes.c -- the change log: the keys changed since the snapshot
 * writer's last take (dirty keys and tombstones). Only mutate.c records
 * into it.
 *
 * Each stripe keeps a log of keys, guarded by its lock, and an epoch
 * number. A key is appended when an item of it changes and its epoch
 * differs from the stripe's: the item then takes the stripe's epoch, and
 * an item replacing it inherits the epoch, so a key rewritten a thousand
 * times between two snapshots is logged once. (A key deleted and then
 * re-added in one epoch is logged twice; takers see its current state
 * both times, which is harmless.) The logs share one byte budget,
 * changelog_max; past it, logging stops and the next take reports an
 * overflow so the writer does a full rewrite instead.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

void
changes_record_locked(struct store *st, struct stripe *s, struct item *it)
{
    struct changelog *log = &s->log;
    size_t need = 1 + (size_t)it->nkey;

    if (st->cfg.changelog_max == 0 || it->epoch == s->epoch ||
        atomic_load_explicit(&st->changes_overflow, memory_order_relaxed)) {
        return;
    }
    if (atomic_fetch_add(&st->changes_bytes, need) + need >
        st->cfg.changelog_max) {
        atomic_fetch_sub(&st->changes_bytes, need);
        atomic_store(&st->changes_overflow, true);
        return;
    }
    if (log->len + need > log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 256;
        char *buf;

        while (cap < log->len + need) {
            cap *= 2;
        }
        buf = realloc(log->buf, cap);
        if (buf == NULL) {
            atomic_fetch_sub(&st->changes_bytes, need);
            atomic_store(&st->changes_overflow, true);
            return;
        }
        log->buf = buf;
        log->cap = cap;
    }
    log->buf[log->len] = (char)it->nkey;
    memcpy(log->buf + log->len + 1, it->data, it->nkey);
    log->len += need;
    it->epoch = s->epoch;
}

void
changes_release(struct store *st)
{
    unsigned i;

    for (i = 0; i < HASH_NSTRIPES; i++) {
        free(st->hash.stripes[i].log.buf);
        st->hash.stripes[i].log.buf = NULL;
    }
}

size_t
store_changes_bytes(const struct store *st)
{
    return atomic_load(&st->changes_bytes);
}

/* A logged key: its hash and where it is in the log. */
struct logkey {
    uint64_t hv;
    const char *key;
    size_t nkey;
};

static int
logkey_cmp(const void *pa, const void *pb)
{
    const struct logkey *a = pa, *b = pb;

    return store_key_order(a->hv, a->key, a->nkey, b->hv, b->key, b->nkey);
}

/*
 * LOG's keys in ascending (hash, key) order without repeats, into a new
 * array *OUT of *N (free() it). False when out of memory.
 */
static bool
changes_sorted(const struct changelog *log, struct logkey **out, size_t *n)
{
    struct logkey *v;
    size_t off = 0, k = 0, cap = log->len / 2 + 1;

    v = malloc(cap * sizeof(*v));   /* an entry is >= 2 bytes of log */
    if (v == NULL) {
        return false;
    }
    while (off < log->len) {
        v[k].nkey = (unsigned char)log->buf[off];
        v[k].key = log->buf + off + 1;
        v[k].hv = hash_key(v[k].key, v[k].nkey);
        off += 1 + v[k].nkey;
        k++;
    }
    qsort(v, k, sizeof(*v), logkey_cmp);
    *n = 0;
    for (size_t i = 0; i < k; i++) {
        /* a key deleted and re-added in one epoch is logged twice */
        if (*n == 0 || logkey_cmp(&v[*n - 1], &v[i]) != 0) {
            v[(*n)++] = v[i];
        }
    }
    *out = v;
    return true;
}

enum { CHANGES_AHEAD_BUCKET = 16, CHANGES_AHEAD_ITEM = 8 };

/*
 * Call FN for each key in LOG, in ascending (hash, key) order and once
 * each, with its current live item.
 */
static int
changes_replay(struct store *st, struct stripe *s, const struct changelog *log,
               store_change_fn fn, void *arg)
{
    struct logkey *v;
    size_t n;
    int rc = 0;

    if (log->len == 0) {
        return 0;
    }
    if (!changes_sorted(log, &v, &n)) {
        return STORE_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct item *it;

        /* the buckets are walked in order, but the items in them were
         * written at random: overlap their cache misses */
        if (i + CHANGES_AHEAD_BUCKET < n) {
            hash_prefetch(&st->hash, v[i + CHANGES_AHEAD_BUCKET].hv, false);
        }
        if (i + CHANGES_AHEAD_ITEM < n) {
            hash_prefetch(&st->hash, v[i + CHANGES_AHEAD_ITEM].hv, true);
        }
        pthread_mutex_lock(&s->lock);
        it = *hash_find_locked(&st->hash, s, v[i].hv, v[i].key, v[i].nkey);
        if (it != NULL && store_item_dead(st, it, store_now(st))) {
            it = NULL;
        }
        if (it != NULL) {
            item_ref(it);
        }
        pthread_mutex_unlock(&s->lock);
        rc = fn(arg, v[i].key, v[i].nkey, it);
        item_unref(it);
    }
    free(v);
    return rc;
}

int
store_changes_take(struct store *st, store_change_fn fn, void *arg)
{
    bool overflow;
    unsigned i;
    int rc = 0;

    if (st->cfg.changelog_max == 0) {
        return 1;           /* nothing is tracked: always rewrite */
    }
    overflow = atomic_exchange(&st->changes_overflow, false);
    for (i = 0; i < HASH_NSTRIPES; i++) {
        struct stripe *s = &st->hash.stripes[i];
        struct changelog log;

        pthread_mutex_lock(&s->lock);
        log = s->log;
        memset(&s->log, 0, sizeof(s->log));
        if (++s->epoch == 0) {
            s->epoch = 1;   /* 0 is the epoch of never-logged items */
        }
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_sub(&st->changes_bytes, log.len);
        if (!overflow && rc == 0) {
            rc = changes_replay(st, s, &log, fn, arg);
            if (rc != 0) {
                /* the rest of this epoch is lost: force a full rewrite */
                atomic_store(&st->changes_overflow, true);
            }
        }
        free(log.buf);
    }
    return overflow ? 1 : rc;
}
