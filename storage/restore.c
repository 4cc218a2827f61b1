/*
 * restore.c -- changes read back from disk (a snapshot's records, a
 * journal's changes) applied to the store as they happened, without
 * recording or reporting them again: they are on disk already.
 */
#include "config.h"

#include <string.h>

#include "storage/store_int.h"

/* LINK: link R->it over whatever the key holds, unless it is dead. */
static int
restore_link(struct store *st, const struct store_restore *r)
{
    struct item *it = r->it, *old;
    struct keyref k;

    if (it == NULL || (atomic_load(&it->bits) & ITEM_LINKED)) {
        return STORE_EINVAL;
    }
    atomic_fetch_or(&it->bits, (uint8_t)(r->bits & ITEM_STATE_BITS));
    atomic_store(&it->atime, r->atime);
    if (atomic_load(&it->bits) & ITEM_CAS_EXPLICIT) {
        /* a client's CAS (meta E) is no counter value: do not raise the
         * counter to it (one E near 2^64 would exhaust it) */
        uint64_t order = r->order != 0 ? r->order : store_next_cas(st);

        store_cas_floor(st, order);
        memcpy(item_valp(it) + it->nvalue + 2, &order, sizeof(order));
        it->cas = r->cas != 0 ? r->cas : order;
    } else {
        store_cas_floor(st, r->cas);
        it->cas = r->cas != 0 ? r->cas : store_next_cas(st);
    }
    old = key_lock_lookup(&k, st, NULL, MUT_RESTORE, it->data, it->nkey,
                          NULL);
    if (item_order_cas(it) <= atomic_load(&st->flush_cas)) {
        /* flushed by a FLUSH replayed before it: what the key held before
         * is gone as well. (An expired one is linked: a later TOUCH may
         * apply to it; lookups reclaim it otherwise.) */
        if (old != NULL) {
            mut_unlink_locked(&k, old, MUT_RESTORE, false);
        }
        key_unlock(&k);
        return STORE_MISS;
    }
    old = mut_link_locked(&k, old, it, r->lru_tail);
    key_unlock(&k);
    item_unref(old);
    store_after_write(st);
    return STORE_OK;
}

/* UNLINK, TOUCH, MARK: the key's live item (TOUCH/MARK: with R->cas). */
static int
restore_key(struct store *st, const struct store_restore *r)
{
    struct keyref k;
    struct item *it;
    int rc = STORE_OK;

    if (!key_valid(r->key, r->nkey)) {
        return STORE_EINVAL;
    }
    it = key_lock_lookup(&k, st, NULL, MUT_RESTORE, r->key, r->nkey, NULL);
    if (it == NULL || (r->kind != STORE_CHANGE_UNLINK && it->cas != r->cas)) {
        rc = STORE_MISS;
    } else if (r->kind == STORE_CHANGE_UNLINK) {
        mut_unlink_locked(&k, it, MUT_RESTORE, false);
    } else if (r->kind == STORE_CHANGE_TOUCH) {
        mut_touch_locked(&k, it, r->exptime);
    } else {
        mut_mark_locked(&k, it, (uint8_t)(r->bits & ITEM_STATE_BITS));
    }
    key_unlock(&k);
    return rc;
}

int
store_restore(struct store *st, const struct store_restore *r)
{
    switch (r->kind) {
    case STORE_CHANGE_LINK:
        return restore_link(st, r);
    case STORE_CHANGE_UNLINK:
    case STORE_CHANGE_TOUCH:
    case STORE_CHANGE_MARK:
        return restore_key(st, r);
    case STORE_CHANGE_FLUSH:
        store_cas_floor(st, r->cas);
        atomic_store(&st->flush_when, 0);
        store_atomic_max(&st->flush_cas, r->cas);
        return STORE_OK;
    case STORE_CHANGE_FLUSH_AT:
        atomic_store(&st->flush_when, r->when);
        return STORE_OK;
    default:
        return STORE_EINVAL;
    }
}

void
store_prefetch_bucket(struct store *st, uint64_t hv)
{
    hash_prefetch(&st->hash, hv, false);
}

void
store_prefetch_item(struct store *st, uint64_t hv)
{
    hash_prefetch(&st->hash, hv, true);
}

void
store_set_loading(struct store *st, bool on)
{
    atomic_store(&st->loading, on);
}
