/*
 * foreach.c -- every live item, a stripe at a time, for full snapshots:
 * a stripe's items are referenced under its lock (one pass, so a
 * concurrent table growth cannot make the walk see an item twice), then
 * the callback runs without any store lock.
 */
#include "config.h"

#include <stdlib.h>

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
