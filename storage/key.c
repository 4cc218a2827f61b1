/*
 * key.c -- the opening every command shares: validate a key, lock its
 * stripe, find its live item (unlinking a dead one on the way).
 */
#include "config.h"

#include "storage/store_int.h"

bool
key_valid(const char *key, size_t nkey)
{
    return key != NULL && nkey > 0 && nkey <= STORE_KEY_MAX;
}

struct item *
key_lock_lookup(struct keyref *k, struct store *st,
                const struct store_session *ses, enum mut_how how,
                const char *key, size_t nkey, bool *expired)
{
    struct item *it;

    k->st = st;
    k->ses = ses;
    k->how = how;
    k->hv = hash_key(key, nkey);
    k->s = hash_stripe(&st->hash, k->hv);
    pthread_mutex_lock(&k->s->lock);
    k->slot = hash_find_locked(&st->hash, k->s, k->hv, key, nkey);
    it = *k->slot;
    if (it != NULL && store_item_dead(st, it, store_now(st))) {
        /* the store's own change, whoever noticed it */
        mut_unlink_locked(k, it, MUT_STORE, true);
        if (expired != NULL) {
            *expired = true;
        }
        return NULL;
    }
    return it;
}

void
key_unlock(struct keyref *k)
{
    pthread_mutex_unlock(&k->s->lock);
}
