/*
 * delete.c -- the delete verb: delete and md. A plain delete unlinks the
 * key; md I (invalidate) and md x (strip) instead link a copy of the item
 * that is stale and/or empty under a new CAS, as memcached marks it.
 */
#include "config.h"

#include <string.h>

#include "storage/store_int.h"

/* md I / md x: a copy of OLD, stale and/or empty, under a new CAS. */
static int
replace_locked(struct keyref *k, struct item **oldp,
               const struct store_del_opt *o)
{
    struct item *old = *oldp;
    uint32_t exp = o->touch ? o->exptime : atomic_load(&old->exptime);
    size_t nvalue = o->strip ? 0 : old->nvalue;
    struct item *nit;
    int rc;

    nit = store_alloc(k->st, old->data, old->nkey, old->flags, exp, nvalue,
                      o->new_cas != 0, &rc);
    if (nit == NULL) {
        return rc;
    }
    memcpy(item_value_mut(nit), item_value(old), nvalue);
    store_assign_cas(k->st, nit, o->new_cas);
    /* memcached marks in place: fetched stays, the win is open again */
    atomic_fetch_or(&nit->bits,
                    (atomic_load(&old->bits)
                     & (ITEM_FETCHED | ITEM_KEY_BINARY))
                        | (o->invalidate ? ITEM_STALE : 0));
    *oldp = mut_link_locked(k, old, nit, false);
    item_unref(nit);    /* the table keeps its own reference */
    return STORE_OK;
}

int
store_delete(struct store_session *ses, const char *key, size_t nkey,
             const struct store_del_opt *opt)
{
    static const struct store_del_opt plain;
    struct store *st = ses->st;
    struct item *it, *old = NULL;
    struct keyref k;
    int rc = STORE_OK;

    if (!key_valid(key, nkey)) {
        return STORE_MISS;
    }
    if (opt == NULL) {
        opt = &plain;
    }
    store_flush_due(st, ses, store_now(st));
    it = key_lock_lookup(&k, st, ses, MUT_CLIENT, key, nkey, NULL);
    if (it == NULL) {
        rc = STORE_MISS;
    } else if (opt->has_cas && it->cas != opt->cas) {
        rc = STORE_EXISTS;
    } else if (opt->invalidate || opt->strip) {
        old = it;
        rc = replace_locked(&k, &old, opt);
        if (rc != STORE_OK) {
            old = NULL;
        }
    } else {
        mut_unlink_locked(&k, it, MUT_CLIENT, false);
    }
    key_unlock(&k);
    item_unref(old);
    if (rc == STORE_OK) {
        store_after_write(st);
    }
    return rc;
}
