/*
 * lru.c -- per-class LRU lists, eviction with a second chance for items
 * read since the last pass (CLOCK-like, so reads never take a class
 * lock), and moving whole pages between classes: when a class has
 * nothing evictable, or when another class's LRU tail is much cheaper to
 * drop (rebalance).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

#define LRU_WALK_MAX 200     /* items looked at per eviction attempt */
#define REASSIGN_TRIES 8     /* victim classes tried per reassignment */
#define REASSIGN_PAGES 4     /* pages tried per victim class */

static void
lru_tail_changed_locked(struct slab_class *c)
{
    atomic_store_explicit(&c->tail_cas, c->tail ? c->tail->cas : 0,
                          memory_order_relaxed);
}

static void
lru_add_locked(struct slab_class *c, struct item *it, bool at_tail)
{
    if (c->tail == NULL) {
        c->head = c->tail = it;
        it->prev = it->next = NULL;
        lru_tail_changed_locked(c);
        return;
    }
    if (at_tail) {
        it->next = NULL;
        it->prev = c->tail;
        c->tail->next = it;
        c->tail = it;
        lru_tail_changed_locked(c);
        return;
    }
    it->prev = NULL;
    it->next = c->head;
    c->head->prev = it;
    c->head = it;
}

void
lru_remove_locked(struct slab_class *c, struct item *it)
{
    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        c->head = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    } else {
        c->tail = it->prev;
        lru_tail_changed_locked(c);
    }
    it->prev = it->next = NULL;
}

/* Counters for an item leaving the LRU. Caller holds C's lock. */
static void
account_unlink_locked(struct slab_class *c, struct item *it, bool dead,
                      bool evicted)
{
    bool fetched = atomic_load(&it->bits) & ITEM_FETCHED;

    c->nitems--;
    c->bytes -= it->chunk;
    c->requested -= item_need(it->nkey, it->nvalue);
    if (dead) {
        if (evicted) {
            c->reclaimed++;
        }
        if (!fetched) {
            c->expired_unfetched++;
        }
    } else if (evicted) {
        c->evicted++;
        if (atomic_load(&it->exptime) != 0) {
            c->evicted_nonzero++;
        }
        if (!fetched) {
            c->evicted_unfetched++;
        }
    }
}

/*
 * Evict IT (linked, on C's LRU) if its stripe lock is free and nobody
 * holds a reference. On success the chunk is ours (refcount 0, off the
 * LRU). Caller holds C's lock.
 */
static bool
evict_item_locked(struct store *st, struct slab_class *c, struct item *it)
{
    uint64_t hv = hash_key(it->data, it->nkey);
    struct stripe *s = hash_stripe(&st->hash, hv);
    bool dead;

    if (pthread_mutex_trylock(&s->lock) != 0) {
        return false;
    }
    if (!(atomic_load(&it->bits) & ITEM_LINKED) ||
        atomic_load(&it->refcount) != 1) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    dead = store_item_dead(st, it, store_now(st));
    hash_remove_locked(&st->hash, s, hv, it);
    atomic_fetch_and(&it->bits, (uint8_t)~ITEM_LINKED);
    atomic_store(&it->refcount, 0);
    mut_evicted_locked(st, s, it);
    pthread_mutex_unlock(&s->lock);
    lru_remove_locked(c, it);
    account_unlink_locked(c, it, dead, true);
    atomic_fetch_sub(&st->curr_items, 1);
    return true;
}

/*
 * Walk C's LRU from the tail for a victim. Recently read items get a
 * second chance (ACTIVE cleared, moved to the head); expired and flushed
 * items are reclaimed as they come. When a whole walk only found ACTIVE
 * items, a second walk ignores the bit, so a read-heavy class still makes
 * progress. DEAD_ONLY (-M, loading): reclaim expired or flushed items
 * only, never evict a live one. Returns the freed chunk or NULL. Caller
 * holds C's lock.
 */
struct item *
lru_evict_locked(struct store *st, struct slab_class *c, bool dead_only)
{
    uint32_t now = store_now(st);
    unsigned pass, steps;

    for (pass = 0; pass < 2; pass++) {
        struct item *it = c->tail;

        for (steps = 0; it != NULL && steps < LRU_WALK_MAX; steps++) {
            struct item *prev = it->prev;
            bool dead;

            if (atomic_load(&it->refcount) != 1) {
                /* in use (a reply being written, a snapshot batch): move
                 * it out of the way, or items pinned for a while gather
                 * at the tail and, once LRU_WALK_MAX of them line up
                 * there, nothing can be evicted (a full cache refusing
                 * sets during a full snapshot) */
                lru_remove_locked(c, it);
                lru_add_locked(c, it, false);
                it = prev;
                continue;
            }
            dead = store_item_dead(st, it, now);
            if (dead_only && !dead) {
                it = prev;
                continue;
            }
            if (pass == 0 && !dead &&
                (atomic_load(&it->bits) & ITEM_ACTIVE)) {
                atomic_fetch_and(&it->bits, (uint8_t)~ITEM_ACTIVE);
                lru_remove_locked(c, it);
                lru_add_locked(c, it, false);
            } else if (evict_item_locked(st, c, it)) {
                return it;
            }
            it = prev;
        }
        if (dead_only) {
            break;
        }
    }
    return NULL;
}

/* Remove the chunks of PG from C's free list. Caller holds C's lock. */
static void
free_list_drop_page_locked(struct slab_class *c, struct slab_page *pg)
{
    struct item **pp = &c->free;
    char *lo = (char *)pg, *hi = lo + c->pagesize;

    while (*pp != NULL) {
        char *p = (char *)*pp;

        if (p >= lo && p < hi) {
            *pp = (*pp)->next;
            c->nfree--;
        } else {
            pp = &(*pp)->next;
        }
    }
}

/*
 * Empty page PG of class C: evict every item on it (with -M or while
 * loading: only if all are expired or flushed). Items it cannot evict
 * (referenced, or stripe busy) keep the page where it is; what it did
 * evict goes to the free list. Caller holds C's lock.
 */
static bool
page_evacuate_locked(struct store *st, struct slab_class *c,
                     struct slab_page *pg)
{
    bool busy = false, dead_only = !slab_may_evict(st);
    uint32_t now = store_now(st), i;

    for (i = 0; i < pg->carved; i++) {
        struct item *it = (struct item *)((char *)pg + SLAB_HDR +
                                          (size_t)i * c->size);
        uint8_t bits = atomic_load(&it->bits);

        if (bits & ITEM_FREE) {
            continue;
        }
        if (!(bits & ITEM_LINKED) ||
            (dead_only && !store_item_dead(st, it, now)) ||
            !evict_item_locked(st, c, it)) {
            busy = true;
            continue;
        }
        c->used--;
        slab_chunk_put_locked(c, it);
    }
    if (busy) {
        return false;
    }
    free_list_drop_page_locked(c, pg);
    return true;
}

/* Take one whole page from class ID, or NULL. */
struct slab_page *
lru_give_page(struct store *st, unsigned id)
{
    struct slab_class *c = &st->classes[id];
    struct slab_page *pg = NULL;
    size_t n, k, idx;

    pthread_mutex_lock(&c->lock);
    n = atomic_load(&c->npages);
    for (k = 0; k < REASSIGN_PAGES && k < n && pg == NULL; k++) {
        idx = c->reassign_cursor++ % n;
        if (page_evacuate_locked(st, c, c->pages[idx])) {
            pg = c->pages[idx];
            /* keep order: the last page is the one being carved */
            memmove(&c->pages[idx], &c->pages[idx + 1],
                    (n - idx - 1) * sizeof(*c->pages));
            atomic_store(&c->npages, n - 1);
            c->reassigned++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return pg;
}

/*
 * Memory follows demand: when class ID must evict but another class's
 * LRU tail is much cheaper to drop, moving a page from there beats
 * evicting here. "Cheaper" weighs a tail's age (write order distance
 * from the newest CAS) by its chunk size, as GreedyDual-Size does: an old
 * big item frees more memory for less lost value than a young small one.
 * A victim must score over twice ID's own tail and keep at least one
 * page. Returns that class, or 0 to evict locally.
 */
unsigned
lru_rebalance_victim(struct store *st, unsigned id)
{
    uint64_t now = atomic_load_explicit(&st->cas, memory_order_relaxed);
    uint64_t mine = atomic_load_explicit(&st->classes[id].tail_cas,
                                         memory_order_relaxed);
    double best, score;
    unsigned v, victim = 0;

    if (mine == 0) {
        return 0;
    }
    best = 2.0 * (double)(now - mine) *
           (id == SLAB_LARGE ? (double)SLAB_PAGE_SIZE
                             : (double)st->classes[id].size);
    for (v = 1; v <= st->nclasses; v++) {
        const struct slab_class *c = &st->classes[v];
        uint64_t t = atomic_load_explicit(&c->tail_cas, memory_order_relaxed);

        if (v == id || t == 0 || t > now ||
            atomic_load_explicit(&c->npages, memory_order_relaxed) < 2 ||
            (id != SLAB_LARGE && c->pagesize < st->classes[id].pagesize)) {
            continue;   /* small pages would not add up to a big one */
        }
        score = (double)(now - t) * (double)c->size;
        if (score > best) {
            best = score;
            victim = v;
        }
    }
    return victim;
}

/*
 * Take a page from the class holding the most page bytes other than
 * EXCEPT; *from receives that class.
 */
struct slab_page *
lru_reassign_page(struct store *st, unsigned except, unsigned *from)
{
    bool tried[SLAB_MAX_CLASSES] = { false };
    size_t want = except == SLAB_LARGE ? SLAB_PAGE_SIZE
                                       : st->classes[except].pagesize;
    unsigned t, id;

    for (t = 0; t < REASSIGN_TRIES; t++) {
        unsigned best = 0;
        size_t most = 0;
        struct slab_page *pg;

        for (id = 1; id <= st->nclasses; id++) {
            const struct slab_class *c = &st->classes[id];
            /* pages of the size wanted first: they move without the
             * pool, so other threads cannot take the budget meanwhile */
            size_t n = atomic_load(&c->npages) * c->pagesize *
                       (c->pagesize == want ? 16 : 1);

            if (id != except && !tried[id] && n > most) {
                most = n;
                best = id;
            }
        }
        if (best == 0) {
            return NULL;
        }
        tried[best] = true;
        pg = lru_give_page(st, best);
        if (pg != NULL) {
            *from = best;
            return pg;
        }
    }
    return NULL;
}

void
lru_link(struct store *st, struct item *it, bool at_tail)
{
    struct slab_class *c = &st->classes[it->clsid];

    pthread_mutex_lock(&c->lock);
    lru_add_locked(c, it, at_tail);
    c->nitems++;
    c->bytes += it->chunk;
    c->requested += item_need(it->nkey, it->nvalue);
    pthread_mutex_unlock(&c->lock);
}

void
lru_unlink(struct store *st, struct item *it, bool expired)
{
    struct slab_class *c = &st->classes[it->clsid];

    pthread_mutex_lock(&c->lock);
    lru_remove_locked(c, it);
    account_unlink_locked(c, it, expired, false);
    if (expired) {
        c->reclaimed++;
    }
    pthread_mutex_unlock(&c->lock);
}
