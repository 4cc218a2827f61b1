/*
 * foreach.c -- the resumable walk of every live item (store_walk_step: a
 * few buckets per step, by position in the hash space, for the key
 * listings), the same walk in ascending order of (store_key_hash(key),
 * key) for full snapshots (store_foreach), and the walk of one class's
 * LRU (stats cachedump).
 *
 * The order is nearly free: stripes and each stripe's buckets hold
 * ascending ranges of the hash's top bits (hash.c), so only the items of
 * one bucket's chain need sorting among themselves.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

/* Items store_foreach() references per step (and never more than one
 * stripe's): a stripe's lock is held for this many at most, so a worker
 * waits microseconds, not the milliseconds a whole stripe of a large
 * table takes; and a small cache has no more items pinned (unevictable)
 * at a time than before. */
#define FOREACH_STEP 512

/* Buckets ahead whose first item a walk loads into the cache: the
 * buckets are read in order, but the items lie anywhere in memory, so
 * their misses overlap instead of adding up (at 16 M items the walk was
 * two thirds of a full snapshot's CPU) and the lock is held less. */
#define WALK_AHEAD 8

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
    size_t b = bucket_at(w->cursor, bits);
    struct item *it = *hash_stripe_bucket(&st->hash, s, b);

    if (b + WALK_AHEAD < ((size_t)1 << bits)) {
        __builtin_prefetch(*hash_stripe_bucket(&st->hash, s,
                                               b + WALK_AHEAD), 1);
    }
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

/* Reference about MAX more items into W's batch (*N of them), from one
 * stripe only with ONE_STRIPE. STORE_ENOMEM only when none could be. */
static int
walk_fill(struct store *st, struct store_walk *w, size_t max, bool one_stripe,
          size_t *n)
{
    int rc = STORE_OK;

    *n = 0;
    while (!store_walk_done(w)) {
        rc = walk_collect(st, w, max, n);
        if (one_stripe || rc != STORE_OK || *n >= max) {
            break;
        }
    }
    return rc == STORE_ENOMEM && *n > 0 ? STORE_OK : rc;
}

/* FN (if any) for the N items of W's batch, until it returns non-zero;
 * drops their references. */
static int
walk_visit(struct store_walk *w, size_t n, store_item_fn fn, void *arg)
{
    int rc = STORE_OK;

    for (size_t k = 0; k < n; k++) {
        if (rc == STORE_OK && fn != NULL) {
            rc = fn(arg, w->batch[k]);
        }
        item_unref(w->batch[k]);
    }
    return rc;
}

int
store_walk_step(struct store *st, struct store_walk *w, size_t max,
                store_item_fn fn, void *arg)
{
    size_t n;
    int rc = walk_fill(st, w, max, false, &n);

    /* what was taken is visited; what could not be is retried later */
    return rc == STORE_OK ? walk_visit(w, n, fn, arg) : rc;
}

/* Sort the N items of BATCH by (hash, key): an insertion sort, since
 * they come in bucket order and only a chain's items can be out of
 * order. HV: room for their hashes. */
static void
walk_sort(struct item **batch, uint64_t *hv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hv[i] = hash_key(batch[i]->data, batch[i]->nkey);
    }
    for (size_t i = 1; i < n; i++) {
        struct item *x = batch[i];
        uint64_t xh = hv[i];
        size_t j = i;

        while (j > 0 && store_key_order(xh, x->data, x->nkey, hv[j - 1],
                                        batch[j - 1]->data,
                                        batch[j - 1]->nkey) < 0) {
            batch[j] = batch[j - 1];
            hv[j] = hv[j - 1];
            j--;
        }
        batch[j] = x;
        hv[j] = xh;
    }
}

/*
 * The resumable walk in steps of whole buckets, each step sorted: steps
 * hold ascending ranges of the hash, so the whole walk comes out in
 * order. The walk's position in the hash space keeps an item from being
 * seen twice or skipped across a concurrent table growth.
 */
int
store_foreach(struct store *st, store_item_fn fn, void *arg)
{
    struct store_walk w;
    uint64_t *hv = NULL;
    size_t hvcap = 0, n;
    int rc = STORE_OK;

    store_walk_init(&w);
    while (rc == STORE_OK && !store_walk_done(&w)) {
        rc = walk_fill(st, &w, FOREACH_STEP, true, &n);
        if (rc == STORE_OK && n > hvcap) {
            uint64_t *h = realloc(hv, w.cap * sizeof(*h));

            if (h == NULL) {
                (void)walk_visit(&w, n, NULL, NULL);
                rc = STORE_ENOMEM;
                break;
            }
            hv = h;
            hvcap = w.cap;
        }
        if (rc == STORE_OK) {
            walk_sort(w.batch, hv, n);
            rc = walk_visit(&w, n, fn, arg);
        }
    }
    free(hv);
    store_walk_release(&w);
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
