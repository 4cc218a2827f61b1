/*
 * set.c -- the storage verb: set, add, replace, append, prepend, cas and
 * ms are one call with different options. Under the key's stripe lock:
 * look the old item up, decide by mode and CAS, build the combined item
 * for append/prepend, give the new item its CAS and link it. Allocating
 * under a stripe lock is allowed by the lock order (stripe -> class ->
 * pool), and eviction only tries stripe locks.
 */
#include "config.h"

#include <string.h>

#include "storage/store_int.h"

/*
 * The CAS check. STALE_OK (set and replace modes): with I, an older CAS
 * (never 0, as 1.6.18) is accepted as a stale store.
 */
static int
check_cas(const struct store_set_opt *o, const struct item *old,
          bool stale_ok, bool *stale)
{
    if (!o->has_cas) {
        return STORE_OK;
    }
    if (old == NULL) {
        return STORE_MISS;
    }
    if (old->cas != o->cas) {
        if (!stale_ok || !o->invalidate || o->cas == 0 ||
            o->cas > old->cas) {
            return STORE_EXISTS;
        }
        *stale = true;
    }
    return STORE_OK;
}

/*
 * Whether O may replace OLD (NULL: absent). The order is memcached
 * 1.6.18's: add ignores the CAS; append/prepend answer NOT_STORED on a
 * miss before looking at it and compare the CAS exactly (I or not);
 * replace without a CAS needs the key.
 */
static int
check_mode(const struct store_set_opt *o, const struct item *old,
           bool *stale)
{
    *stale = false;
    switch (o->mode) {
    case STORE_ADD:
        return old != NULL ? STORE_NOT_STORED : STORE_OK;
    case STORE_APPEND:
    case STORE_PREPEND:
        if (old == NULL) {
            return o->vivify ? STORE_OK : STORE_NOT_STORED;
        }
        return check_cas(o, old, false, stale);
    case STORE_REPLACE:
        if (old == NULL && !o->has_cas) {
            return STORE_NOT_STORED;
        }
        return check_cas(o, old, true, stale);
    default:
        return check_cas(o, old, true, stale);
    }
}

/* append/prepend: a new item holding OLD's value and IT's. */
static struct item *
concat(struct store *st, const struct item *old, const struct item *it,
       const struct store_set_opt *o, int *rc)
{
    bool append = o->mode == STORE_APPEND;
    const struct item *first = append ? old : it;
    const struct item *second = append ? it : old;
    struct item *nit;

    nit = store_alloc(st, it->data, it->nkey, old->flags,
                      atomic_load(&old->exptime),
                      (size_t)old->nvalue + it->nvalue, o->new_cas != 0, rc);
    if (nit != NULL) {
        memcpy(item_value_mut(nit), item_value(first), first->nvalue);
        memcpy(item_value_mut(nit) + first->nvalue, item_value(second),
               second->nvalue);
    }
    return nit;
}

/* Decide, build and link; on STORE_OK *OLDP is what to unref. */
static int
set_locked(struct keyref *k, struct item *it, const struct store_set_opt *o,
           struct item **oldp, struct item **nitp, struct store_set_res *res)
{
    struct item *old = *oldp, *target = it;
    bool stale, concatenating;
    uint8_t bits;
    int rc = check_mode(o, old, &stale);

    if (rc != STORE_OK) {
        return rc;
    }
    concatenating = o->mode == STORE_APPEND || o->mode == STORE_PREPEND;
    if (concatenating && old != NULL) {
        target = *nitp = concat(k->st, old, it, o, &rc);
        if (target == NULL) {
            return rc;
        }
    } else if (concatenating) {
        atomic_store(&it->exptime, o->vivify_exptime);
    }
    if (stale) {
        /* the late writer's value, but the old expiry (1.6.18) */
        atomic_store(&target->exptime, atomic_load(&old->exptime));
    }
    store_assign_cas(k->st, target, o->new_cas);
    /* a stale store keeps the old item's win token (1.6.18) */
    bits = (stale ? ITEM_STALE | (atomic_load(&old->bits) & ITEM_WON) : 0)
           | (o->key_binary ? ITEM_KEY_BINARY : 0);
    if (bits != 0) {
        atomic_fetch_or(&target->bits, bits);
    }
    *oldp = mut_link_locked(k, old, target, false);
    if (res != NULL) {
        res->cas = target->cas;
        res->size = target->nvalue;
    }
    return STORE_OK;
}

int
store_set(struct store_session *ses, struct item *it,
          const struct store_set_opt *opt, struct store_set_res *res)
{
    static const struct store_set_opt plain;
    struct store *st = ses->st;
    struct item *old, *nit = NULL;
    struct keyref k;
    int rc;

    if (it == NULL || (atomic_load(&it->bits) & ITEM_LINKED)) {
        return STORE_EINVAL;
    }
    if (opt == NULL) {
        opt = &plain;
    }
    store_flush_due(st, ses, store_now(st));
    old = key_lock_lookup(&k, st, ses, MUT_CLIENT, it->data, it->nkey, NULL);
    rc = set_locked(&k, it, opt, &old, &nit, res);
    key_unlock(&k);
    if (rc == STORE_OK) {
        item_unref(old);
        store_after_write(st);
    }
    item_unref(nit);
    return rc;
}
