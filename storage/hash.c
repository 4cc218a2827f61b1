/*
 * hash.c -- chained hash table with striped locks and incremental growth.
 *
 * Buckets and stripes come from the top bits of the key's hash: in a
 * table of 2^p buckets a key's bucket is hv >> (64 - p) and its stripe
 * hv >> (64 - HASH_STRIPE_BITS). Table sizes are powers of two >=
 * HASH_NSTRIPES, so a stripe owns one contiguous run of buckets in every
 * table size (bucket >> (p - HASH_STRIPE_BITS) == stripe): it owns the
 * same keys before and after growth and can be migrated alone, under its
 * own lock, while the other stripes keep serving. Each stripe records the
 * generation of the table its chains live in; tables[gen & 1] holds the
 * two live generations.
 *
 * Why the top bits: walking the stripes in order, and each stripe's
 * buckets in order, visits keys in ascending hash order, which is the
 * order snapshots store them in; a loader inserting in that order touches
 * the table sequentially (store_foreach, store_changes_take).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "storage/store_int.h"

uint64_t
hash_key(const char *key, size_t nkey)
{
    return XXH3_64bits(key, nkey);
}

uint64_t
store_key_hash(const char *key, size_t nkey)
{
    return hash_key(key, nkey);
}

int
hash_init(struct hash *h, unsigned power)
{
    size_t i;

    if (power == 0) {
        power = 16;
    }
    if (power < HASH_MIN_POWER) {
        power = HASH_MIN_POWER;
    }
    if (power > HASH_MAX_POWER) {
        return EINVAL;
    }
    h->stripes = aligned_alloc(64, sizeof(*h->stripes) * HASH_NSTRIPES);
    if (h->stripes == NULL) {
        return ENOMEM;
    }
    memset(h->stripes, 0, sizeof(*h->stripes) * HASH_NSTRIPES);
    atomic_init(&h->tables[0], calloc((size_t)1 << power, sizeof(void *)));
    atomic_init(&h->tables[1], NULL);
    if (atomic_load(&h->tables[0]) == NULL) {
        free(h->stripes);
        return ENOMEM;
    }
    for (i = 0; i < HASH_NSTRIPES; i++) {
        pthread_mutex_init(&h->stripes[i].lock, NULL);
        h->stripes[i].epoch = 1;
    }
    atomic_init(&h->power[0], power);
    atomic_init(&h->power[1], 0);
    atomic_init(&h->gen, 0);
    atomic_init(&h->expanding, false);
    pthread_mutex_init(&h->grow_lock, NULL);
    h->migrate_next = HASH_NSTRIPES;
    return 0;
}

void
hash_release(struct hash *h)
{
    size_t i;

    if (h->stripes == NULL) {
        return;
    }
    for (i = 0; i < HASH_NSTRIPES; i++) {
        pthread_mutex_destroy(&h->stripes[i].lock);
    }
    free(h->stripes);
    h->stripes = NULL;
    free(atomic_load(&h->tables[0]));
    free(atomic_load(&h->tables[1]));
    pthread_mutex_destroy(&h->grow_lock);
}

struct stripe *
hash_stripe(struct hash *h, uint64_t hv)
{
    return &h->stripes[hv >> (64 - HASH_STRIPE_BITS)];
}

/* HV's bucket in a table of 2^POWER buckets (POWER >= HASH_MIN_POWER). */
static inline size_t
bucket_of(uint64_t hv, uint32_t power)
{
    return (size_t)(hv >> (64 - power));
}

/* The table S's chains live in. Caller holds S's lock. */
static struct item **
stripe_table(struct hash *h, struct stripe *s, uint32_t *power)
{
    unsigned g = s->gen & 1;

    *power = atomic_load_explicit(&h->power[g], memory_order_acquire);
    return atomic_load_explicit(&h->tables[g], memory_order_acquire);
}

struct item **
hash_find_locked(struct hash *h, struct stripe *s, uint64_t hv,
                 const char *key, size_t nkey)
{
    uint32_t power;
    struct item **tab = stripe_table(h, s, &power);
    struct item **slot = &tab[bucket_of(hv, power)];

    while (*slot != NULL) {
        struct item *it = *slot;

        if (it->nkey == nkey && memcmp(it->data, key, nkey) == 0) {
            return slot;
        }
        slot = &it->hnext;
    }
    return slot;
}

/* Without the stripe lock: the table pointer and power are atomics, the
 * chain head is read atomically, and whatever it points to is only
 * prefetched (a prefetch never faults: a stale pointer is merely a
 * wasted hint). */
void
hash_prefetch(struct hash *h, uint64_t hv, bool chain)
{
    unsigned g = atomic_load_explicit(&h->gen, memory_order_acquire) & 1;
    uint32_t power = atomic_load_explicit(&h->power[g], memory_order_acquire);
    struct item **tab = atomic_load_explicit(&h->tables[g],
                                             memory_order_acquire);
    struct item **slot;

    if (tab == NULL || power < HASH_MIN_POWER) {
        return;     /* a growth in between: a wasted hint */
    }
    slot = &tab[bucket_of(hv, power)];
    if (chain) {
        __builtin_prefetch(__atomic_load_n(slot, __ATOMIC_RELAXED), 0, 3);
    } else {
        __builtin_prefetch(slot, 1, 3);
    }
}

struct item **
hash_insert_locked(struct hash *h, struct stripe *s, uint64_t hv,
                   struct item *it)
{
    uint32_t power;
    struct item **tab = stripe_table(h, s, &power);
    size_t b = bucket_of(hv, power);

    it->hnext = tab[b];
    tab[b] = it;
    return &tab[b];
}

void
hash_remove_locked(struct hash *h, struct stripe *s, uint64_t hv,
                   struct item *it)
{
    uint32_t power;
    struct item **tab = stripe_table(h, s, &power);
    struct item **slot = &tab[bucket_of(hv, power)];

    while (*slot != NULL && *slot != it) {
        slot = &(*slot)->hnext;
    }
    if (*slot == it) {
        *slot = it->hnext;
        it->hnext = NULL;
    }
}

size_t
hash_stripe_nbuckets(struct hash *h, struct stripe *s)
{
    uint32_t power;

    (void)stripe_table(h, s, &power);
    return ((size_t)1 << power) / HASH_NSTRIPES;
}

struct item **
hash_stripe_bucket(struct hash *h, struct stripe *s, size_t i)
{
    uint32_t power;
    struct item **tab = stripe_table(h, s, &power);
    size_t idx = (size_t)(s - h->stripes);

    return &tab[(idx << (power - HASH_STRIPE_BITS)) + i];
}

/* Allocate the next generation's table. Caller holds grow_lock. */
static void
grow_start_locked(struct hash *h)
{
    uint32_t g = atomic_load(&h->gen);
    uint32_t p = atomic_load(&h->power[g & 1]);
    struct item **tab;

    if (p >= HASH_MAX_POWER) {
        return;
    }
    tab = calloc((size_t)1 << (p + 1), sizeof(*tab));
    if (tab == NULL) {
        return;     /* stay at this size; chains just get longer */
    }
    atomic_store_explicit(&h->tables[(g + 1) & 1], tab, memory_order_release);
    atomic_store_explicit(&h->power[(g + 1) & 1], p + 1,
                          memory_order_release);
    h->migrate_next = 0;
    atomic_store_explicit(&h->gen, g + 1, memory_order_release);
    atomic_store(&h->expanding, true);
}

/* Move stripe IDX's chains into the newest table. Caller holds grow_lock. */
static void
migrate_stripe(struct hash *h, uint32_t idx)
{
    struct stripe *s = &h->stripes[idx];
    uint32_t ng = atomic_load(&h->gen);
    uint32_t op, np;
    struct item **old, **new;
    size_t b, first, end;

    pthread_mutex_lock(&s->lock);
    old = stripe_table(h, s, &op);
    new = atomic_load(&h->tables[ng & 1]);
    np = atomic_load(&h->power[ng & 1]);
    first = (size_t)idx << (op - HASH_STRIPE_BITS);
    end = (size_t)(idx + 1) << (op - HASH_STRIPE_BITS);
    for (b = first; s->gen != ng && b < end; b++) {
        struct item *it = old[b];

        while (it != NULL) {
            struct item *next = it->hnext;
            size_t nb = bucket_of(hash_key(it->data, it->nkey), np);

            it->hnext = new[nb];
            new[nb] = it;
            it = next;
        }
        old[b] = NULL;
    }
    s->gen = ng;
    pthread_mutex_unlock(&s->lock);
}

bool
hash_needs_growth(struct hash *h, uint64_t nitems)
{
    uint32_t p = atomic_load(&h->power[atomic_load(&h->gen) & 1]);

    return p < HASH_MAX_POWER && nitems > ((uint64_t)3 << p) / 2;
}

void
hash_maybe_grow(struct hash *h, uint64_t nitems, unsigned n)
{
    uint32_t g;

    if (!atomic_load(&h->expanding) && !hash_needs_growth(h, nitems)) {
        return;
    }
    if (pthread_mutex_trylock(&h->grow_lock) != 0) {
        return;     /* another thread is growing it */
    }
    if (!atomic_load(&h->expanding)) {
        grow_start_locked(h);
    }
    while (n-- > 0 && h->migrate_next < HASH_NSTRIPES) {
        migrate_stripe(h, h->migrate_next++);
    }
    if (atomic_load(&h->expanding) && h->migrate_next == HASH_NSTRIPES) {
        g = atomic_load(&h->gen);
        /* every stripe now reads tables[g & 1]: nobody sees the old one */
        free(atomic_load(&h->tables[(g + 1) & 1]));
        atomic_store(&h->tables[(g + 1) & 1], NULL);
        atomic_store(&h->power[(g + 1) & 1], 0);
        atomic_store(&h->expanding, false);
    }
    pthread_mutex_unlock(&h->grow_lock);
}

size_t
hash_bytes(struct hash *h)
{
    size_t total = 0;
    unsigned i;

    for (i = 0; i < 2; i++) {
        if (atomic_load(&h->tables[i]) != NULL) {
            total += ((size_t)1 << atomic_load(&h->power[i])) *
                     sizeof(void *);
        }
    }
    return total;
}
