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
