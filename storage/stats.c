/*
 * stats.c -- store_stats() and store_class_stats(): per-class counters
 * summed under each class lock in turn, global ones read atomically.
 */
#include "config.h"

#include <string.h>

#include "storage/store_int.h"

void
store_stats(struct store *st, struct store_stats *out)
{
    unsigned id;

    memset(out, 0, sizeof(*out));
    for (id = 0; id <= st->nclasses; id++) {
        struct slab_class *c = &st->classes[id];

        pthread_mutex_lock(&c->lock);
        out->bytes += c->bytes;
        out->evictions += c->evicted;
        out->reclaimed += c->reclaimed;
        out->expired_unfetched += c->expired_unfetched;
        out->evicted_unfetched += c->evicted_unfetched;
        out->slab_reassigns += c->reassigned;
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_lock(&st->pool.lock);
    out->mem_pages = st->pool.used;
    pthread_mutex_unlock(&st->pool.lock);
    out->curr_items = atomic_load(&st->curr_items);
    out->total_items = atomic_load(&st->total_items);
    out->limit_maxbytes = st->cfg.mem_limit;
    out->item_size_max = st->cfg.item_size_max;
    out->hash_power = atomic_load(
        &st->hash.power[atomic_load(&st->hash.gen) & 1]);
    out->hash_bytes = hash_bytes(&st->hash);
    out->hash_is_expanding = atomic_load(&st->hash.expanding);
}

void
store_stats_reset(struct store *st)
{
    unsigned id;

    for (id = 0; id <= st->nclasses; id++) {
        struct slab_class *c = &st->classes[id];

        pthread_mutex_lock(&c->lock);
        c->evicted = 0;
        c->evicted_nonzero = 0;
        c->evicted_unfetched = 0;
        c->expired_unfetched = 0;
        c->reclaimed = 0;
        c->outofmemory = 0;
        c->reassigned = 0;
        pthread_mutex_unlock(&c->lock);
    }
    atomic_store(&st->total_items, 0);
}

void
store_class_stats(struct store *st, store_class_fn fn, void *arg)
{
    uint32_t now = store_now(st);
    unsigned id;

    for (id = 1; id <= st->nclasses; id++) {
        struct slab_class *c = &st->classes[id];
        struct store_class_stats cs;

        if (atomic_load(&c->npages) == 0) {
            continue;
        }
        memset(&cs, 0, sizeof(cs));
        pthread_mutex_lock(&c->lock);
        cs.id = id;
        cs.chunk_size = c->size;
        cs.page_size = c->pagesize;
        cs.chunks_per_page = c->perpage;
        cs.total_pages = atomic_load(&c->npages);
        cs.used_chunks = c->used;
        cs.free_chunks = cs.total_pages * c->perpage - c->used;
        cs.number = c->nitems;
        if (c->tail != NULL && atomic_load(&c->tail->atime) < now) {
            cs.age = now - atomic_load(&c->tail->atime);
        }
        cs.evicted = c->evicted;
        cs.evicted_nonzero = c->evicted_nonzero;
        cs.expired_unfetched = c->expired_unfetched;
        cs.evicted_unfetched = c->evicted_unfetched;
        cs.outofmemory = c->outofmemory;
        cs.reclaimed = c->reclaimed;
        cs.mem_requested = c->requested;
        pthread_mutex_unlock(&c->lock);
        fn(arg, &cs);
    }
}
