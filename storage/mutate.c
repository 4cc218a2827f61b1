/*
 * mutate.c -- the one path every change of a key takes.
 *
 * Linking an item, unlinking one, and changing an item's expiry or state
 * bits in place happen here and nowhere else, with the key's stripe lock
 * held. Each records the key in its stripe's change log (what the next
 * incremental snapshot writes) and, when a client asked for the change,
 * reports it to the session's sink (the journal) with a sequence number
 * taken under the same lock (numbered also without a sink while the
 * change log is on, so that changes can be counted). The verbs (get.c,
 * set.c, delete.c, arith.c) decide *what* changes; this file is *how*, so
 * a new verb cannot forget to record what it did.
 *
 * What is recorded how:
 *   client's link, unlink, touch, mark   change log + sink
 *   expiry, flush, eviction (unlinks)    change log only: replaying a
 *                                        journal re-derives them
 *   restore from disk                    neither: it is on disk already
 */
#include "config.h"

#include "storage/store_int.h"

/* Record IT's key for snapshots; report CH to the session's sink. */
static void
record_locked(struct keyref *k, enum mut_how how, struct item *it,
              struct store_change *ch)
{
    struct store *st = k->st;
    bool sink;

    if (how == MUT_RESTORE) {
        return;
    }
    changes_record_locked(st, k->s, it);
    if (how != MUT_CLIENT) {
        return;
    }
    sink = k->ses != NULL && k->ses->sink != NULL;
    if (sink || st->cfg.changelog_max > 0) {
        /* numbered without a journal too: the snapshot layer counts the
         * changes since its last snapshot by the sequence */
        ch->seq = atomic_fetch_add_explicit(&st->seq, 1,
                                            memory_order_relaxed) + 1;
    }
    if (sink) {
        ch->it = it;
        k->ses->sink(k->ses->sink_arg, ch);
    }
}

struct item *
mut_link_locked(struct keyref *k, struct item *old, struct item *it,
                bool at_tail)
{
    struct store *st = k->st;
    struct store_change ch = { .kind = STORE_CHANGE_LINK };

    if (old != NULL) {
        it->hnext = old->hnext;
        *k->slot = it;
        old->hnext = NULL;
        it->epoch = old->epoch;
        atomic_fetch_and(&old->bits, (uint8_t)~ITEM_LINKED);
        lru_unlink(st, old, false);
        atomic_fetch_sub(&st->curr_items, 1);
    } else {
        k->slot = hash_insert_locked(&st->hash, k->s, k->hv, it);
    }
    atomic_fetch_or(&it->bits, ITEM_LINKED);
    atomic_fetch_add(&it->refcount, 1);     /* the table's reference */
    lru_link(st, it, at_tail);
    atomic_fetch_add(&st->curr_items, 1);
    atomic_fetch_add(&st->total_items, 1);
    record_locked(k, k->how, it, &ch);
    return old;
}

void
mut_unlink_locked(struct keyref *k, struct item *it, enum mut_how how,
                  bool expired)
{
    struct store *st = k->st;
    struct store_change ch = { .kind = STORE_CHANGE_UNLINK };

    *k->slot = it->hnext;
    it->hnext = NULL;
    atomic_fetch_and(&it->bits, (uint8_t)~ITEM_LINKED);
    lru_unlink(st, it, expired);
    atomic_fetch_sub(&st->curr_items, 1);
    record_locked(k, how, it, &ch);
    item_unref(it);     /* the table's reference */
}

void
mut_touch_locked(struct keyref *k, struct item *it, uint32_t exptime)
{
    struct store_change ch = { .kind = STORE_CHANGE_TOUCH,
                               .exptime = exptime };

    atomic_store(&it->exptime, exptime);
    record_locked(k, k->how, it, &ch);
}

void
mut_mark_locked(struct keyref *k, struct item *it, uint8_t bits)
{
    struct store_change ch = { .kind = STORE_CHANGE_MARK };

    ch.bits = (atomic_fetch_or(&it->bits, bits) | bits) & ITEM_STATE_BITS;
    record_locked(k, k->how, it, &ch);
}

void
mut_evicted_locked(struct store *st, struct stripe *s, struct item *it)
{
    struct keyref k = { .st = st, .s = s, .how = MUT_STORE };
    struct store_change ch = { .kind = STORE_CHANGE_UNLINK };

    record_locked(&k, MUT_STORE, it, &ch);
}

void
mut_sweep_locked(struct store *st, struct stripe *s, struct item **slot,
                 struct item *it)
{
    struct keyref k = { .st = st, .s = s, .how = MUT_STORE, .slot = slot };

    mut_unlink_locked(&k, it, MUT_STORE, true);
}
