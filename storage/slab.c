/*
 * slab.c -- item memory: 1 MiB pages from mmap, size classes, free lists,
 * per-class LRU, eviction and page reassignment; large items in their own
 * mappings.
 *
 * Every byte of a page or large mapping counts against pool.limit, so the
 * class slack (allocator waste) is inside -m. Pages are carved lazily so
 * untouched parts of a page cost no RSS. When a class is out of chunks and
 * the budget is spent it evicts from its own LRU tail; when that holds
 * nothing evictable it takes a whole page from the class with the most
 * pages (evicting every item on it). Large items evict large items first,
 * then unmap pages taken from classes.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "storage/store_int.h"

#define LRU_WALK_MAX 200     /* items looked at per eviction attempt */
#define REASSIGN_TRIES 8     /* victim classes tried per reassignment */
#define REASSIGN_PAGES 4     /* pages tried per victim class */
#define ALLOC_TRIES 64       /* a 1 MiB page may need 16 small ones */

static size_t
round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static bool
may_evict(struct store *st)
{
    return !st->cfg.no_evict && !atomic_load(&st->loading);
}

int
slab_init(struct store *st)
{
    double size = SLAB_MIN_CHUNK;
    unsigned id = 1;
    size_t max = round_up((SLAB_PAGE_SIZE - SLAB_HDR) / 2 - 7, 8);

    pthread_mutex_init(&st->pool.lock, NULL);
    st->pool.limit = st->cfg.mem_limit;
    st->pool.used = 0;
    for (id = 0; id < SLAB_MAX_CLASSES; id++) {
        pthread_mutex_init(&st->classes[id].lock, NULL);
    }
    for (id = 1; id < SLAB_MAX_CLASSES && (size_t)size <= max; id++) {
        struct slab_class *c = &st->classes[id];
        size_t next;

        c->size = (uint32_t)round_up((size_t)size, 8);
        c->pagesize = (uint32_t)(c->size <= SLAB_SMALL_CHUNK_MAX ?
                                 SLAB_SMALL_PAGE : SLAB_PAGE_SIZE);
        c->perpage = (uint32_t)((c->pagesize - SLAB_HDR) / c->size);
        next = round_up((size_t)(c->size * st->cfg.growth_factor), 8);
        size = (double)(next > c->size + 8 ? next : c->size + 8);
    }
    st->nclasses = id - 1;
    return 0;
}

/* Smallest class whose chunk holds TOTAL bytes; 0 = large. */
static unsigned
class_for(const struct store *st, size_t total)
{
    unsigned lo = 1, hi = st->nclasses;

    if (total > st->classes[hi].size) {
        return SLAB_LARGE;
    }
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (st->classes[mid].size >= total) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/*
 * Reserve N bytes of budget, first from *HELD: budget a thread freed for
 * itself by emptying pages (so that threads taking small pages cannot
 * keep a class needing a big one from ever collecting enough).
 */
static bool
pool_reserve_held(struct store *st, size_t n, size_t *held)
{
    size_t own = *held < n ? *held : n;
    bool ok = true;

    if (own < n) {
        pthread_mutex_lock(&st->pool.lock);
        ok = st->pool.used + (n - own) <= st->pool.limit;
        if (ok) {
            st->pool.used += n - own;
        }
        pthread_mutex_unlock(&st->pool.lock);
    }
    if (ok) {
        *held -= own;
    }
    return ok;
}

static void
pool_unreserve(struct store *st, size_t n)
{
    if (n == 0) {
        return;
    }
    pthread_mutex_lock(&st->pool.lock);
    st->pool.used -= n;
    pthread_mutex_unlock(&st->pool.lock);
}

/* Map SLAB_PAGE_SIZE bytes aligned to their size (chunk -> page: mask). */
static char *
map_aligned(void)
{
    size_t len = 2 * SLAB_PAGE_SIZE;
    char *p, *a;

    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    a = (char *)round_up((uintptr_t)p, SLAB_PAGE_SIZE);
    if (a > p) {
        munmap(p, (size_t)(a - p));
    }
    if (a + SLAB_PAGE_SIZE < p + len) {
        munmap(a + SLAB_PAGE_SIZE, (size_t)(p + len - a - SLAB_PAGE_SIZE));
    }
    return a;
}

/* A free small page: from the free list, or cut from a new arena. */
static struct slab_page *
small_page_pop(struct store *st)
{
    struct slab_pool *pool = &st->pool;
    size_t per = SLAB_PAGE_SIZE / SLAB_SMALL_PAGE, k;
    struct slab_page *pg = NULL;
    char *a;

    pthread_mutex_lock(&pool->lock);
    if (pool->nsmall_free > 0) {
        pg = pool->small_free[--pool->nsmall_free];
    }
    pthread_mutex_unlock(&pool->lock);
    if (pg != NULL || (a = map_aligned()) == NULL) {
        return pg;
    }
    pthread_mutex_lock(&pool->lock);
    if (pool->narenas == pool->arenacap ||
        pool->small_cap < (pool->narenas + 1) * per) {
        size_t cap = pool->arenacap ? pool->arenacap * 2 : 16;
        char **ar = realloc(pool->arenas, cap * sizeof(*ar));
        struct slab_page **fr = ar ? realloc(pool->small_free,
                                             cap * per * sizeof(*fr)) : NULL;

        if (ar != NULL) {
            pool->arenas = ar;
            pool->arenacap = cap;
        }
        if (fr == NULL) {
            pthread_mutex_unlock(&pool->lock);
            munmap(a, SLAB_PAGE_SIZE);
            return NULL;
        }
        pool->small_free = fr;
        pool->small_cap = cap * per;
    }
    pool->arenas[pool->narenas++] = a;
    for (k = per - 1; k > 0; k--) {
        pool->small_free[pool->nsmall_free++] =
            (struct slab_page *)(a + k * SLAB_SMALL_PAGE);
    }
    pthread_mutex_unlock(&pool->lock);
    return (struct slab_page *)a;
}

/* Budget (from *HELD first) and memory for a page of SIZE, or NULL. */
static struct slab_page *
page_get(struct store *st, size_t size, size_t *held)
{
    struct slab_page *pg;

    if (!pool_reserve_held(st, size, held)) {
        return NULL;
    }
    pg = size == SLAB_PAGE_SIZE ? (struct slab_page *)map_aligned()
                                : small_page_pop(st);
    if (pg == NULL) {
        pool_unreserve(st, size);
        return NULL;
    }
    pg->st = st;
    pg->carved = 0;
    pg->clsid = 0;
    return pg;
}

/* Give the memory of a page of SIZE bytes back (RSS to the system). */
static void
page_free_memory(struct store *st, struct slab_page *pg, size_t size)
{
    if (size == SLAB_PAGE_SIZE) {
        munmap(pg, size);
    } else {
        madvise(pg, size, MADV_DONTNEED);
        pthread_mutex_lock(&st->pool.lock);
        st->pool.small_free[st->pool.nsmall_free++] = pg;
        pthread_mutex_unlock(&st->pool.lock);
    }
}

/* Give a page back: memory and budget. */
static void
page_put(struct store *st, struct slab_page *pg, size_t size)
{
    page_free_memory(st, pg, size);
    pool_unreserve(st, size);
}

static void
chunk_put_locked(struct slab_class *c, struct item *it)
{
    atomic_store_explicit(&it->bits, ITEM_FREE, memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 0, memory_order_relaxed);
    it->next = c->free;
    c->free = it;
    c->nfree++;
}

static bool
class_add_page_locked(struct slab_class *c, unsigned id,
                      struct slab_page *pg)
{
    size_t n = atomic_load(&c->npages);

    if (n == c->pagecap) {
        size_t cap = c->pagecap ? c->pagecap * 2 : 16;
        struct slab_page **pages = realloc(c->pages, cap * sizeof(*pages));

        if (pages == NULL) {
            return false;
        }
        c->pages = pages;
        c->pagecap = cap;
    }
    pg->carved = 0;
    pg->clsid = id;
    c->pages[n] = pg;
    if (n > 0 && c->pages[n - 1]->carved < c->perpage) {
        uint32_t i;

        /* another thread added one meanwhile: keep carving that one and
         * put all of this one on the free list at once */
        c->pages[n] = c->pages[n - 1];
        c->pages[n - 1] = pg;
        for (i = 0; i < c->perpage; i++) {
            chunk_put_locked(c, (struct item *)((char *)pg + SLAB_HDR +
                                                (size_t)i * c->size));
        }
        pg->carved = c->perpage;
    }
    atomic_store(&c->npages, n + 1);
    return true;
}

/* Next chunk from the free list, or carved from the newest page. */
static struct item *
chunk_take_locked(struct slab_class *c)
{
    struct item *it = c->free;
    size_t n = atomic_load(&c->npages);
    struct slab_page *pg;

    if (it != NULL) {
        c->free = it->next;
        c->nfree--;
    } else {
        if (n == 0) {
            return NULL;
        }
        pg = c->pages[n - 1];
        if (pg->carved >= c->perpage) {
            return NULL;
        }
        it = (struct item *)((char *)pg + SLAB_HDR +
                             (size_t)pg->carved * c->size);
        pg->carved++;
    }
    /* not FREE any more before the lock drops: page scans must skip it */
    atomic_store_explicit(&it->bits, 0, memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    c->used++;
    return it;
}


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
        if (c->tail != NULL) {
            c->tail->next = it;
        }
        c->tail = it;
        lru_tail_changed_locked(c);
        return;
    }
    it->prev = NULL;
    it->next = c->head;
    c->head->prev = it;
    c->head = it;
}

static void
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
    changes_record_locked(st, s, it);
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
 * progress. Returns the freed chunk or NULL. Caller holds C's lock.
 */
static struct item *
lru_evict_locked(struct store *st, struct slab_class *c)
{
    uint32_t now = store_now(st);
    unsigned pass, steps;

    for (pass = 0; pass < 2; pass++) {
        struct item *it = c->tail;

        for (steps = 0; it != NULL && steps < LRU_WALK_MAX; steps++) {
            struct item *prev = it->prev;

            if (atomic_load(&it->refcount) != 1) {
                it = prev;
                continue;
            }
            if (pass == 0 && (atomic_load(&it->bits) & ITEM_ACTIVE) &&
                !store_item_dead(st, it, now)) {
                atomic_fetch_and(&it->bits, (uint8_t)~ITEM_ACTIVE);
                lru_remove_locked(c, it);
                lru_add_locked(c, it, false);
            } else if (evict_item_locked(st, c, it)) {
                return it;
            }
            it = prev;
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
 * Empty page PG of class C: evict every item on it. Items it cannot evict
 * (referenced, or stripe busy) keep the page where it is; what it did
 * evict goes to the free list. Caller holds C's lock.
 */
static bool
page_evacuate_locked(struct store *st, struct slab_class *c,
                     struct slab_page *pg)
{
    bool busy = false;
    uint32_t i;

    for (i = 0; i < pg->carved; i++) {
        struct item *it = (struct item *)((char *)pg + SLAB_HDR +
                                          (size_t)i * c->size);
        uint8_t bits = atomic_load(&it->bits);

        if (bits & ITEM_FREE) {
            continue;
        }
        if (!(bits & ITEM_LINKED) || !evict_item_locked(st, c, it)) {
            busy = true;
            continue;
        }
        c->used--;
        chunk_put_locked(c, it);
    }
    if (busy) {
        return false;
    }
    free_list_drop_page_locked(c, pg);
    return true;
}

/* Take one whole page from class ID, or NULL. */
static struct slab_page *
class_give_page(struct store *st, unsigned id)
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
static unsigned
rebalance_victim(struct store *st, unsigned id)
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
static struct slab_page *
reassign_page(struct store *st, unsigned except, unsigned *from)
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
        pg = class_give_page(st, best);
        if (pg != NULL) {
            *from = best;
            return pg;
        }
    }
    return NULL;
}

static void
large_unmap(struct store *st, struct item *it)
{
    struct slab_large *lg = (struct slab_large *)((char *)it - SLAB_HDR);
    size_t size = lg->mapsize;

    munmap(lg, size);
    pool_unreserve(st, size);
}

/* Evict the LRU tail of the large class; true if memory was returned. */
static bool
large_evict_one(struct store *st)
{
    struct slab_class *c = &st->classes[SLAB_LARGE];
    struct item *it;

    pthread_mutex_lock(&c->lock);
    it = lru_evict_locked(st, c);
    if (it != NULL) {
        c->used--;
        c->large_bytes -= it->chunk;
    }
    pthread_mutex_unlock(&c->lock);
    if (it == NULL) {
        return false;
    }
    large_unmap(st, it);
    return true;
}

static struct item *
large_map(struct store *st, size_t size)
{
    struct slab_class *c = &st->classes[SLAB_LARGE];
    struct slab_large *lg;

    lg = mmap(NULL, size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (lg == MAP_FAILED) {
        return NULL;
    }
    lg->st = st;
    lg->mapsize = size;
    pthread_mutex_lock(&c->lock);
    c->used++;
    c->large_bytes += size;
    pthread_mutex_unlock(&c->lock);
    return (struct item *)((char *)lg + SLAB_HDR);
}

static struct item *
large_alloc(struct store *st, size_t total, int *rc)
{
    size_t size = round_up(total + SLAB_HDR, 4096);
    struct item *it;
    struct slab_page *pg;
    unsigned tries, victim;
    bool rebalance = true;
    size_t held = 0;

    for (tries = 0; size <= st->pool.limit && tries < 4096; tries++) {
        if (pool_reserve_held(st, size, &held)) {
            it = large_map(st, size);
            if (it == NULL) {
                pool_unreserve(st, size);
                break;
            }
            it->clsid = SLAB_LARGE;
            it->chunk = (uint32_t)size;
            pool_unreserve(st, held);
            return it;
        }
        if (!may_evict(st)) {
            break;
        }
        victim = rebalance ? rebalance_victim(st, SLAB_LARGE) : 0;
        if (victim != 0 && (pg = class_give_page(st, victim)) != NULL) {
            page_free_memory(st, pg, st->classes[victim].pagesize);
            held += st->classes[victim].pagesize;
            continue;   /* maybe more: a large item needs many pages */
        }
        rebalance = false;
        if (large_evict_one(st)) {
            continue;
        }
        pg = reassign_page(st, SLAB_LARGE, &victim);
        if (pg == NULL) {
            break;
        }
        page_free_memory(st, pg, st->classes[victim].pagesize);
        held += st->classes[victim].pagesize;
    }
    pool_unreserve(st, held);
    pthread_mutex_lock(&st->classes[SLAB_LARGE].lock);
    st->classes[SLAB_LARGE].outofmemory++;
    pthread_mutex_unlock(&st->classes[SLAB_LARGE].lock);
    *rc = STORE_ENOMEM;
    return NULL;
}

/*
 * A chunk of class C: free list, new page, or own LRU. When REBALANCE and
 * another class should give a page instead (rebalance_victim), returns
 * NULL with *victim set. Caller holds C's lock.
 */
static struct item *
class_alloc_locked(struct store *st, struct slab_class *c, unsigned id,
                   bool rebalance, unsigned *victim, size_t *held)
{
    struct item *it = chunk_take_locked(c);
    struct slab_page *pg;

    *victim = 0;
    if (it == NULL && (pg = page_get(st, c->pagesize, held)) != NULL) {
        if (class_add_page_locked(c, id, pg)) {
            it = chunk_take_locked(c);
        } else {
            page_put(st, pg, c->pagesize);
        }
    }
    if (it == NULL && may_evict(st)) {
        if (rebalance && (*victim = rebalance_victim(st, id)) != 0) {
            return NULL;
        }
        it = lru_evict_locked(st, c);
        if (it != NULL) {
            /* the chunk stays "used": it changes owner */
            atomic_store_explicit(&it->bits, 0, memory_order_relaxed);
            atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
        }
    }
    return it;
}

/*
 * Hand page PG of class FROM to class ID: directly when the page sizes
 * match, else through the pool (ID then gets memory of its own size).
 */
static void
class_take_page(struct store *st, unsigned id, struct slab_page *pg,
                unsigned from, size_t *held)
{
    struct slab_class *c = &st->classes[id];
    size_t size = st->classes[from].pagesize;

    if (size != c->pagesize) {
        page_free_memory(st, pg, size);
        *held += size;      /* ours until we take a page of our size */
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (!class_add_page_locked(c, id, pg)) {
        pthread_mutex_unlock(&c->lock);
        page_put(st, pg, size);
        return;
    }
    pthread_mutex_unlock(&c->lock);
}

struct item *
slab_alloc(struct store *st, size_t total, int *rc)
{
    unsigned id = class_for(st, total), tries, victim, from;
    struct slab_class *c = &st->classes[id];
    bool rebalance = true;
    size_t held = 0;
    struct item *it = NULL;
    struct slab_page *pg;

    if (id == SLAB_LARGE) {
        return large_alloc(st, total, rc);
    }
    for (tries = 0; tries < ALLOC_TRIES; tries++) {
        pthread_mutex_lock(&c->lock);
        it = class_alloc_locked(st, c, id, rebalance, &victim, &held);
        if (it != NULL) {
            pthread_mutex_unlock(&c->lock);
            pool_unreserve(st, held);
            it->clsid = (uint8_t)id;
            it->chunk = c->size;
            return it;
        }
        pthread_mutex_unlock(&c->lock);
        if (victim != 0) {
            /* again next round only if that worked and pages differ in
             * size (a 1 MiB page may take 16 small ones) */
            rebalance = false;
            if ((pg = class_give_page(st, victim)) != NULL) {
                rebalance = st->classes[victim].pagesize < c->pagesize;
                class_take_page(st, id, pg, victim, &held);
            }
            continue;
        }
        if (!may_evict(st)) {
            break;
        }
        if ((pg = reassign_page(st, id, &from)) != NULL) {
            class_take_page(st, id, pg, from, &held);
        } else if (!large_evict_one(st)) {
            /* what pins pages now (items in flight, busy stripes) passes */
            sched_yield();
        }
    }
    pool_unreserve(st, held);
    pthread_mutex_lock(&c->lock);
    c->outofmemory++;
    pthread_mutex_unlock(&c->lock);
    *rc = STORE_ENOMEM;
    return NULL;
}

void
slab_free(struct store *st, struct item *it)
{
    struct slab_class *c = &st->classes[it->clsid];

    pthread_mutex_lock(&c->lock);
    c->used--;
    if (it->clsid == SLAB_LARGE) {
        c->large_bytes -= it->chunk;
        pthread_mutex_unlock(&c->lock);
        large_unmap(st, it);
        return;
    }
    chunk_put_locked(c, it);
    pthread_mutex_unlock(&c->lock);
}

void
slab_lru_link(struct store *st, struct item *it, bool at_tail)
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
slab_lru_unlink(struct store *st, struct item *it, bool expired)
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

struct store *
slab_store_of(const struct item *it)
{
    if (it->clsid == SLAB_LARGE) {
        return ((const struct slab_large *)((const char *)it - SLAB_HDR))->st;
    }
    /* the page size follows from the chunk size (see slab_init) */
    uintptr_t mask = it->chunk <= SLAB_SMALL_CHUNK_MAX ? SLAB_SMALL_PAGE - 1
                                                       : SLAB_PAGE_SIZE - 1;

    return ((const struct slab_page *)((uintptr_t)it & ~mask))->st;
}

void
slab_release(struct store *st)
{
    struct slab_class *large = &st->classes[SLAB_LARGE];
    unsigned id;
    size_t i;

    while (large->head != NULL) {
        struct item *it = large->head;

        lru_remove_locked(large, it);
        large_unmap(st, it);
    }
    for (id = 1; id <= st->nclasses; id++) {
        struct slab_class *c = &st->classes[id];

        for (i = 0; c->pagesize == SLAB_PAGE_SIZE &&
                    i < atomic_load(&c->npages); i++) {
            munmap(c->pages[i], SLAB_PAGE_SIZE);
        }
        free(c->pages);
    }
    for (i = 0; i < st->pool.narenas; i++) {
        munmap(st->pool.arenas[i], SLAB_PAGE_SIZE);    /* small pages */
    }
    free(st->pool.arenas);
    free(st->pool.small_free);
    for (id = 0; id < SLAB_MAX_CLASSES; id++) {
        pthread_mutex_destroy(&st->classes[id].lock);
    }
    pthread_mutex_destroy(&st->pool.lock);
}
