/*
 * foreach.c -- every live item, a stripe at a time, in ascending order of
 * (store_key_hash(key), key), for full snapshots: a stripe's items are
 * referenced under its lock (one pass, so a concurrent table growth
 * cannot make the walk see an item twice), then sorted and handed to the
 * callback without any store lock.
 *
 * The order is nearly free: stripes and each stripe's buckets hold
 * ascending ranges of the hash's top bits (hash.c), so only the items of
 * one bucket's chain need sorting among themselves.
 *
 * Also the resumable walk of the key listings (store_walk_step: a few
 * buckets per step, by position in the hash space) and the walk of one
 * class's LRU (stats cachedump).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

struct hashed {
    uint64_t hv;
    struct item *it;
};

struct itemvec {
    struct hashed *v;
    size_t n;
    size_t cap;
};

int
store_key_order(uint64_t ha, const void *a, size_t na, uint64_t hb,
                const void *b, size_t nb)
{
    int c;

    if (ha != hb) {
        return ha < hb ? -1 : 1;
    }
    c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return na < nb ? -1 : (na > nb);
}

/* Buckets ahead whose first item the walk loads into the cache. */
#define COLLECT_AHEAD 8

/*
 * Reference every live item of S into VEC (one pass under the lock, so a
 * concurrent table growth cannot make the walk see an item twice).
 * Returns false when VEC could not grow (references taken are kept).
 * The buckets are read in order, but the items lie anywhere in memory:
 * fetched a few buckets ahead, their cache misses overlap instead of
 * adding up (at 16 M items the walk was two thirds of a full snapshot),
 * and the stripe's lock is held that much less.
 */
static bool
foreach_collect(struct store *st, struct stripe *s, struct itemvec *vec)
{
    uint32_t now = store_now(st);
    size_t b, nb;
    bool ok = true;

    pthread_mutex_lock(&s->lock);
    nb = hash_stripe_nbuckets(&st->hash, s);
    for (b = 0; b < nb && b < COLLECT_AHEAD; b++) {
        __builtin_prefetch(*hash_stripe_bucket(&st->hash, s, b), 1);
    }
    for (b = 0; ok && b < nb; b++) {
        struct item *it = *hash_stripe_bucket(&st->hash, s, b);

        if (b + COLLECT_AHEAD < nb) {
            __builtin_prefetch(*hash_stripe_bucket(&st->hash, s,
                                                   b + COLLECT_AHEAD), 1);
        }

        for (; it != NULL; it = it->hnext) {
            if (store_item_dead(st, it, now)) {
                continue;
            }
            if (vec->n == vec->cap) {
                size_t cap = vec->cap ? vec->cap * 2 : 256;
                struct hashed *v = realloc(vec->v, cap * sizeof(*v));

                if (v == NULL) {
                    ok = false;
                    break;
                }
                vec->v = v;
                vec->cap = cap;
            }
            item_ref(it);
            vec->v[vec->n++].it = it;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Hash the collected items and sort them: an insertion sort, since they
 * come in bucket order and only a chain's items can be out of order. */
static void
foreach_sort(struct itemvec *vec)
{
    for (size_t i = 0; i < vec->n; i++) {
        struct item *it = vec->v[i].it;

        vec->v[i].hv = hash_key(it->data, it->nkey);
    }
    for (size_t i = 1; i < vec->n; i++) {
        struct hashed x = vec->v[i];
        size_t j = i;

        while (j > 0 && store_key_order(x.hv, x.it->data, x.it->nkey,
                                        vec->v[j - 1].hv,
                                        vec->v[j - 1].it->data,
                                        vec->v[j - 1].it->nkey) < 0) {
            vec->v[j] = vec->v[j - 1];
            j--;
        }
        vec->v[j] = x;
    }
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
        foreach_sort(&vec);
        for (k = 0; k < vec.n; k++) {
            if (rc == 0) {
                rc = fn(arg, vec.v[k].it);
            }
            item_unref(vec.v[k].it);
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

/*
 * W's cursor is a position in its stripe's share of the hash space, left
 * aligned: in a stripe of 2^B buckets, bucket i covers the positions from
 * i << (64 - B). hash.c takes buckets from the hash's top bits, so a table
 * that doubled between two steps splits bucket i into 2i and 2i + 1: the
 * buckets before the cursor then hold exactly the items already visited,
 * and none is seen twice or skipped.
 */
static unsigned
stripe_bits(size_t nbuckets)
{
    return (unsigned)__builtin_ctzll((unsigned long long)nbuckets);
}

/* The bucket of a stripe of 2^BITS buckets that holds POS. */
static size_t
bucket_at(uint64_t pos, unsigned bits)
{
    return bits == 0 ? 0 : (size_t)(pos >> (64 - bits));
}

/* The position after POS's bucket; false after the stripe's last. */
static bool
next_bucket(uint64_t *pos, unsigned bits)
{
    uint64_t step;

    if (bits == 0) {
        return false;
    }
    step = (uint64_t)1 << (64 - bits);
    *pos = (*pos & ~(step - 1)) + step;
    return *pos != 0;
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
 * Reference the live items of W's current bucket (of S's 2^BITS) into its
 * batch from *N on. Caller holds the stripe's lock. False when the batch cannot
 * grow (the references taken stay in the batch, counted in *N).
 */
static bool
walk_bucket_locked(struct store *st, struct store_walk *w,
                   struct stripe *s, unsigned bits, uint32_t now, size_t *n)
{
    struct item *it = *hash_stripe_bucket(&st->hash, s,
                                          bucket_at(w->cursor, bits));

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
    unsigned bits;
    int rc = STORE_OK;

    pthread_mutex_lock(&s->lock);
    bits = stripe_bits(hash_stripe_nbuckets(&st->hash, s));
    while (*n < max) {
        size_t before = *n;

        if (!walk_bucket_locked(st, w, s, bits, now, n)) {
            while (*n > before) {       /* the bucket again, next time */
                item_unref(w->batch[--*n]);
            }
            rc = STORE_ENOMEM;
            break;
        }
        if (!next_bucket(&w->cursor, bits)) {
            w->cursor = 0;
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
