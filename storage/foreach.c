/*
 * foreach.c -- every live item, a stripe at a time, for full snapshots:
 * a stripe's items are referenced under its lock (one pass, so a
 * concurrent table growth cannot make the walk see an item twice), then
 * the callback runs without any store lock. Also the resumable walk of
 * the key listings (store_walk_step: a few buckets per step) and the walk
 * of one class's LRU (stats cachedump).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

struct itemvec {
    struct item **v;
    size_t n;
    size_t cap;
};

/*
 * Reference every live item of S into VEC (one pass under the lock, so a
 * concurrent table growth cannot make the walk see an item twice).
 * Returns false when VEC could not grow (references taken are kept).
 */
static bool
foreach_collect(struct store *st, struct stripe *s, struct itemvec *vec)
{
    uint32_t now = store_now(st);
    size_t b, nb;
    bool ok = true;

    pthread_mutex_lock(&s->lock);
    nb = hash_stripe_nbuckets(&st->hash, s);
    for (b = 0; ok && b < nb; b++) {
        struct item *it = *hash_stripe_bucket(&st->hash, s, b);

        for (; it != NULL; it = it->hnext) {
            if (store_item_dead(st, it, now)) {
                continue;
            }
            if (vec->n == vec->cap) {
                size_t cap = vec->cap ? vec->cap * 2 : 256;
                struct item **v = realloc(vec->v, cap * sizeof(*v));

                if (v == NULL) {
                    ok = false;
                    break;
                }
                vec->v = v;
                vec->cap = cap;
            }
            item_ref(it);
            vec->v[vec->n++] = it;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

int
store_foreach(struct store *st, store_item_fn fn, void *arg)
{
    struct itemvec vec = { NULL, 0, 0 };
    unsigned i;
    size_t k;
    int rc = 0;

    for (i = 0; rc == 0 && i < HASH_NSTRIPES; i++) {
        if (!foreach_collect(st, &st->hash.stripes[i], &vec)) {
            rc = STORE_ENOMEM;
        }
        for (k = 0; k < vec.n; k++) {
            if (rc == 0) {
                rc = fn(arg, vec.v[k]);
            }
            item_unref(vec.v[k]);
        }
        vec.n = 0;
    }
    free(vec.v);
    return rc;
}

/* ---- a resumable walk (store_walk_step) ------------------------------ */

_Static_assert(STORE_CLASS_IDS == SLAB_MAX_CLASSES, "class ids");

#define WALK_BATCH_MIN 64

void
store_walk_init(struct store_walk *w)
{
    memset(w, 0, sizeof(*w));
}

void
store_walk_release(struct store_walk *w)
{
    free(w->batch);
    memset(w, 0, sizeof(*w));
}

bool
store_walk_done(const struct store_walk *w)
{
    return w->stripe >= HASH_NSTRIPES;
}

/* V with its 64 bits in reverse order. */
static uint64_t
rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL)
                                              << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL)
                                              << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL)
                                              << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL)
                                              << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL)
                                               << 16);
    return (v >> 32) | (v << 32);
}

/*
 * The bucket after V among MASK + 1 (a power of two), counting with the
 * bits reversed; 0 after the last. A table that doubled meanwhile adds a
 * high bit to every index: the buckets already visited are then exactly
 * the ones the cursor's order has passed, so none is seen twice or
 * skipped (the argument of Redis's dictScan).
 */
static uint64_t
next_bucket(uint64_t v, uint64_t mask)
{
    v |= ~mask;
    return rev64(rev64(v) + 1);
}

/* Room for one more reference in W's batch. */
static bool
walk_room(struct store_walk *w, size_t n)
{
    struct item **b;
    size_t cap;

    if (n < w->cap) {
        return true;
    }
    cap = w->cap != 0 ? w->cap * 2 : WALK_BATCH_MIN;
    b = realloc(w->batch, cap * sizeof(*b));
    if (b == NULL) {
        return false;
    }
    w->batch = b;
    w->cap = cap;
    return true;
}

/*
 * Reference the live items of W's current bucket into its batch from
 * *N on. Caller holds the stripe's lock. False when the batch cannot
 * grow (the references taken stay in the batch, counted in *N).
 */
static bool
walk_bucket_locked(struct store *st, struct store_walk *w,
                   struct stripe *s, uint32_t now, size_t *n)
{
    struct item *it = *hash_stripe_bucket(&st->hash, s, w->cursor);

    for (; it != NULL; it = it->hnext) {
        if (store_item_dead(st, it, now)) {
            continue;
        }
        if (!walk_room(w, *n)) {
            return false;
        }
        item_ref(it);
        w->batch[(*n)++] = it;
    }
    return true;
}

/* Reference whole buckets until MAX items or the stripe's end. */
static int
walk_collect(struct store *st, struct store_walk *w, size_t max, size_t *n)
{
    struct stripe *s = &st->hash.stripes[w->stripe];
    uint32_t now = store_now(st);
    uint64_t mask;
    int rc = STORE_OK;

    pthread_mutex_lock(&s->lock);
    mask = hash_stripe_nbuckets(&st->hash, s) - 1;
    while (*n < max) {
        size_t before = *n;

        if (!walk_bucket_locked(st, w, s, now, n)) {
            while (*n > before) {       /* the bucket again, next time */
                item_unref(w->batch[--*n]);
            }
            rc = STORE_ENOMEM;
            break;
        }
        w->cursor = next_bucket(w->cursor, mask);
        if (w->cursor == 0) {
            w->stripe++;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int
store_walk_step(struct store *st, struct store_walk *w, size_t max,
                store_item_fn fn, void *arg)
{
    size_t n = 0;
    size_t k;
    int rc = STORE_OK;

    while (rc == STORE_OK && n < max && !store_walk_done(w)) {
        rc = walk_collect(st, w, max, &n);
    }
    if (rc == STORE_ENOMEM && n > 0) {
        rc = STORE_OK;      /* what was taken is visited; retried later */
    }
    for (k = 0; k < n; k++) {
        if (rc == STORE_OK) {
            rc = fn(arg, w->batch[k]);
        }
        item_unref(w->batch[k]);
    }
    return rc;
}

/* ---- one class's LRU (store_class_lru) ------------------------------- */

int
store_class_lru(struct store *st, unsigned id, store_lru_fn fn, void *arg)
{
    struct slab_class *c;
    struct item *it;
    uint32_t now = store_now(st);
    int rc = 0;

    if (id >= SLAB_MAX_CLASSES) {
        return STORE_EINVAL;
    }
    c = &st->classes[id];
    pthread_mutex_lock(&c->lock);
    for (it = c->head; it != NULL && rc == 0; it = it->next) {
        if (!store_item_dead(st, it, now)) {
            rc = fn(arg, it);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
