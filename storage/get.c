/*
 * get.c -- the read verb: get, gets, gat, gats, touch, mg and me are one
 * call with different options. A plain get takes the stripe lock only to
 * find the item and reference it; the options (touch, the one-winner
 * recache logic, vivify on a miss) are applied under the same lock, so
 * they are atomic with the lookup.
 */
#include "config.h"

#include <string.h>

#include "storage/store_int.h"

/* Record a read: access time, "fetched", the LRU's second-chance bit. */
static void
mark_access(struct store *st, struct item *it)
{
    uint8_t want = ITEM_ACTIVE | ITEM_FETCHED;
    uint32_t now = store_now(st);

    if ((atomic_load_explicit(&it->bits, memory_order_relaxed) & want) !=
        want) {
        atomic_fetch_or_explicit(&it->bits, want, memory_order_relaxed);
    }
    if (atomic_load_explicit(&it->atime, memory_order_relaxed) != now) {
        atomic_store_explicit(&it->atime, now, memory_order_relaxed);
    }
}

/* The one-winner logic of a hit: stale, or R's TTL window, wins once. */
static void
win_locked(struct keyref *k, struct item *it, const struct store_get_opt *o,
           struct store_get_res *res)
{
    uint8_t bits = atomic_load(&it->bits);
    uint32_t exp = atomic_load(&it->exptime);
    uint32_t now = store_now(k->st);

    res->stale = (bits & ITEM_STALE) != 0;
    if (bits & ITEM_WON) {
        res->already_won = true;
        return;
    }
    if (res->stale || (o->recache && exp != 0 && exp > now
                       && exp - now < o->recache_below)) {
        /* a restart must not hand out a second win: it is a change */
        mut_mark_locked(k, it, ITEM_WON);
        res->won = true;
    }
}

/* mg N on a miss: link an empty item and make this client the winner. */
static int
vivify_locked(struct keyref *k, const char *key, size_t nkey,
              const struct store_get_opt *o, struct store_get_res *res)
{
    struct store *st = k->st;
    struct item *it;
    int rc;

    it = store_alloc(st, key, nkey, 0, o->vivify_exptime, 0,
                     o->new_cas != 0, &rc);
    if (it == NULL) {
        return rc;
    }
    store_assign_cas(st, it, o->new_cas);
    /* the creator counts as a fetch (unless u): the next mg sees h1;
     * the key is not marked binary, so k echoes it raw (as 1.6.18) */
    atomic_fetch_or(&it->bits, ITEM_WON | (o->no_bump ? 0 : ITEM_FETCHED));
    (void)mut_link_locked(k, NULL, it, false);
    res->it = it;       /* the caller's reference; the table has its own */
    res->won = true;
    res->vivified = true;
    res->atime_before = store_now(st);
    res->exptime_before = 0;        /* no TTL before N created it */
    return STORE_OK;
}

/* A hit with options: touch and recache in the order the client gave. */
static void
hit_locked(struct keyref *k, struct item *it, const struct store_get_opt *o,
           struct store_get_res *res)
{
    res->fetched_before = (atomic_load(&it->bits) & ITEM_FETCHED) != 0;
    res->atime_before = atomic_load(&it->atime);
    res->exptime_before = atomic_load(&it->exptime);
    if (o->peek) {
        /* me: memcached's debug view leaves the win to the next mg */
        res->stale = (atomic_load(&it->bits) & ITEM_STALE) != 0;
        return;
    }
    if (!o->recache_after_touch) {
        win_locked(k, it, o, res);
    }
    if (o->touch) {
        mut_touch_locked(k, it, o->exptime);
    }
    if (o->recache_after_touch) {
        win_locked(k, it, o, res);
    }
}

int
store_get(struct store_session *ses, const char *key, size_t nkey,
          const struct store_get_opt *opt, struct store_get_res *res)
{
    static const struct store_get_opt plain;
    struct store *st = ses->st;
    struct keyref k;
    struct item *it;
    int rc = STORE_OK;

    memset(res, 0, sizeof(*res));
    if (!key_valid(key, nkey)) {
        return STORE_MISS;
    }
    if (opt == NULL) {
        opt = &plain;
    }
    store_flush_due(st, ses, store_now(st));
    it = key_lock_lookup(&k, st, ses, MUT_CLIENT, key, nkey, &res->expired);
    if (it == NULL) {
        rc = opt->vivify ? vivify_locked(&k, key, nkey, opt, res)
                         : STORE_MISS;
        key_unlock(&k);
        if (rc == STORE_OK) {
            store_after_write(st);
        }
        return rc;
    }
    atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
    res->it = it;
    if (opt == &plain) {
        key_unlock(&k);
        mark_access(st, it);
        return STORE_OK;
    }
    hit_locked(&k, it, opt, res);
    if (!opt->no_bump && !opt->peek) {
        /* inside the lock: the next mg must see h1 */
        mark_access(st, it);
    }
    key_unlock(&k);
    return STORE_OK;
}
