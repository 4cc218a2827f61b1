/*
 * slab.c -- item memory: pages from mmap (1 MiB, or 64 KiB cut from 1 MiB
 * arenas for chunks <= SLAB_SMALL_CHUNK_MAX), size classes, free lists,
 * and large items (> half a page) in their own mappings.
 *
 * Every byte of a page or large mapping counts against pool.limit, so the
 * class slack (allocator waste) is inside -m. Pages are carved lazily so
 * untouched parts of a page cost no RSS; freed small pages are
 * madvise(MADV_DONTNEED)ed. Never glibc malloc for pages: its heap would
 * not give memory back when pages move to large items.
 *
 * When a class is out of chunks and the budget is spent: take a page from
 * a class whose LRU tail is much cheaper to drop (lru_rebalance_victim),
 * else evict from its own LRU tail, else take a page from the class
 * holding the most (nothing evictable here). Budget freed by emptying a
 * page is held by the thread that freed it until it maps its own page,
 * so a class needing 1 MiB can collect it while others take 64 KiB ones.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "storage/store_int.h"

#define ALLOC_TRIES 64       /* a 1 MiB page may need 16 small ones */
#define REBALANCE_EVERY 16   /* evictions per look at other classes */

static size_t
round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

bool
slab_may_evict(struct store *st)
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

void
slab_chunk_put_locked(struct slab_class *c, struct item *it)
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
            slab_chunk_put_locked(c, (struct item *)((char *)pg + SLAB_HDR +
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
    it = lru_evict_locked(st, c, !slab_may_evict(st));
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
        victim = rebalance && slab_may_evict(st) ?
                 lru_rebalance_victim(st, SLAB_LARGE) : 0;
        if (victim != 0 && (pg = lru_give_page(st, victim)) != NULL) {
            page_free_memory(st, pg, st->classes[victim].pagesize);
            held += st->classes[victim].pagesize;
            continue;   /* maybe more: a large item needs many pages */
        }
        rebalance = false;
        if (large_evict_one(st)) {
            continue;
        }
        pg = lru_reassign_page(st, SLAB_LARGE, &victim);
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
 * another class should give a page instead (lru_rebalance_victim), returns
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
    if (it == NULL) {
        /* looking costs a cache miss per class: 1 eviction in 16 */
        if (slab_may_evict(st) && rebalance &&
            c->rebalance_tick++ % REBALANCE_EVERY == 0 &&
            (*victim = lru_rebalance_victim(st, id)) != 0) {
            return NULL;
        }
        /* -M and loading still reuse expired and flushed items */
        it = lru_evict_locked(st, c, !slab_may_evict(st));
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
            if ((pg = lru_give_page(st, victim)) != NULL) {
                rebalance = st->classes[victim].pagesize < c->pagesize;
                class_take_page(st, id, pg, victim, &held);
            }
            continue;
        }
        /* with -M or while loading these only take dead items */
        if ((pg = lru_reassign_page(st, id, &from)) != NULL) {
            class_take_page(st, id, pg, from, &held);
        } else if (!large_evict_one(st)) {
            if (!slab_may_evict(st)) {
                break;
            }
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
    slab_chunk_put_locked(c, it);
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
