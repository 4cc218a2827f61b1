/*
 * store_int.h -- the store's private state and the calls its files make
 * into each other (storage/ only).
 *
 * Files: store.c (lifetime, accessors, clock, counters, flush, alloc),
 * mutate.c (the one path every change of a key takes: link, unlink,
 * touch, mark; change log and sink), key.c (locking and looking up a
 * key), get.c, set.c, delete.c, arith.c (the verbs), restore.c (changes
 * read back from disk), slab.c (pages, size classes, free lists, large
 * items), lru.c (LRU, eviction, page moves between classes), hash.c
 * (striped table and its growth), changes.c (change log take), foreach.c
 * (iteration), maint.c (maintenance thread, expiry sweep), stats.c.
 *
 * Lock order (also in store.h):
 *   grow lock -> stripe lock -> class lock -> pool lock.
 * At most one stripe lock is held with blocking; eviction holds a class
 * lock and only *tries* stripe locks. At most one class lock at a time.
 */
#ifndef EMBER_STORE_INT_H
#define EMBER_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/item.h"
#include "storage/store.h"

#define SLAB_PAGE_SIZE ((size_t)1 << 20) /* big page: 1 MiB */
#define SLAB_SMALL_PAGE ((size_t)1 << 16) /* small page: 64 KiB */
#define SLAB_SMALL_CHUNK_MAX 2048        /* classes up to this: small pages */
#define SLAB_MIN_CHUNK 80                /* header + tiny key/value */
#define SLAB_MAX_CLASSES 256             /* ids 1..n; 0 = large items */
#define SLAB_LARGE 0
#define HASH_STRIPE_BITS 10
#define HASH_NSTRIPES (1u << HASH_STRIPE_BITS)
#define HASH_MIN_POWER HASH_STRIPE_BITS  /* >= log2(HASH_NSTRIPES) */
#define HASH_MAX_POWER 32

#define SLAB_HDR 64                      /* page / large-map header */

/*
 * Header of a page, aligned to its size; chunks follow it. Classes of
 * chunks up to SLAB_SMALL_CHUNK_MAX use 64 KiB pages, cut from 1 MiB
 * "arenas", so a class with few items holds 64 KiB rather than 1 MiB;
 * bigger chunks use 1 MiB pages, where the slack at a page's end is small.
 */
struct slab_page {
    struct store *st;
    uint32_t carved;   /* chunks handed out so far (lazy carving); */
                       /* guarded by: class lock */
    uint32_t clsid;
    char pad[SLAB_HDR - 16];
};

/* Header in front of a large item in its own mapping. */
struct slab_large {
    struct store *st;
    size_t mapsize;
    char pad[SLAB_HDR - 16];
};

/* A size class, or (id 0) the class of large items. */
struct slab_class {
    pthread_mutex_t lock;
    uint32_t size;              /* chunk bytes; 0 for large */
    uint32_t pagesize;          /* SLAB_PAGE_SIZE or SLAB_SMALL_PAGE */
    uint32_t perpage;           /* chunks per page; 0 for large */
    /* guarded by: lock */
    struct item *free;          /* free chunks linked by ->next */
    uint64_t nfree;
    struct slab_page **pages;   /* pages[npages-1] is the carving page */
    size_t pagecap;
    _Atomic size_t npages;      /* read unlocked to choose a victim */
    size_t reassign_cursor;
    uint32_t rebalance_tick;    /* evictions since the last rebalance look */
    _Atomic uint64_t tail_cas;  /* CAS of the LRU tail (0: empty), read */
                                /* unlocked to compare class ages */
    struct item *head;          /* LRU: most recent */
    struct item *tail;          /* LRU: next victim */
    uint64_t used;              /* chunks holding an item (any state) */
    uint64_t nitems;            /* linked */
    uint64_t bytes;             /* item_total_size of linked items */
    uint64_t requested;         /* item_need of linked items */
    uint64_t large_bytes;       /* large only: mapped bytes */
    uint64_t evicted;
    uint64_t evicted_nonzero;
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed;
    uint64_t outofmemory;
    uint64_t reassigned;        /* pages taken from this class */
};

/*
 * The page budget: bytes of pages in classes and of large mappings vs.
 * mem_limit. Free small pages stay mapped (their arena is) but are
 * madvise(MADV_DONTNEED)ed, so they cost neither budget nor RSS.
 */
struct slab_pool {
    pthread_mutex_t lock;
    size_t limit;
    size_t used;                /* guarded by: lock */
    struct slab_page **small_free; /* guarded by: lock */
    size_t nsmall_free;
    size_t small_cap;           /* >= 16 * narenas: pushes never fail */
    char **arenas;              /* guarded by: lock */
    size_t narenas;
    size_t arenacap;
};

/* A bounded log of keys (1 length byte + key) of one stripe. */
struct changelog {
    char *buf;
    size_t len;
    size_t cap;
};

struct stripe {
    pthread_mutex_t lock;
    uint32_t gen;               /* table generation; guarded by: lock */
    uint32_t epoch;             /* change epoch; guarded by: lock */
    struct changelog log;       /* guarded by: lock */
} __attribute__((aligned(64)));

struct hash {
    struct stripe *stripes;     /* HASH_NSTRIPES */
    /* tables[gen & 1]: a stripe reads its table after taking its lock */
    struct item **_Atomic tables[2];
    _Atomic uint32_t power[2];  /* log2 buckets of tables[i] */
    _Atomic uint32_t gen;       /* newest generation */
    pthread_mutex_t grow_lock;  /* guards migrate_next */
    uint32_t migrate_next;      /* next stripe to move; NSTRIPES = idle */
    _Atomic bool expanding;
};

/*
 * The store. Fields are grouped by cache line: what every lookup reads
 * and almost nobody writes stays apart from what every write bumps, so
 * reads on one core do not miss because of sets on another.
 */
struct store {
    struct store_config cfg;
    unsigned nclasses;                   /* highest slab class id */
    struct slab_class classes[SLAB_MAX_CLASSES];
    struct slab_pool pool;
    struct hash hash;

    /* read by every lookup, written rarely */
    _Alignas(64) _Atomic uint64_t flush_cas; /* items with cas <= are dead */
    _Atomic uint32_t flush_when;         /* pending delayed flush, 0 none */
    _Atomic uint32_t clock_now;          /* ticked by maintenance */
    _Atomic uint32_t clock_frozen;       /* non-zero: frozen at this */
    _Atomic bool clock_ticking;          /* maintenance keeps clock_now */
    _Atomic bool loading;
    _Atomic bool changes_overflow;
    store_cas_reserve_fn reserve_fn;     /* set before workers start */
    void *reserve_arg;
    uint64_t reserve_step;
    pthread_mutex_t bg_lock;             /* held while reporting to bg */
    struct store_session bg;             /* the store's own changes; */
                                         /* guarded by: bg_lock */

    /* written by every write */
    _Alignas(64) _Atomic uint64_t cas;   /* last CAS handed out */
    _Atomic uint64_t reserve_limit;
    _Atomic bool reserving;
    _Alignas(64) _Atomic uint64_t seq;   /* last change sequence number */
    _Alignas(64) _Atomic uint64_t curr_items;
    _Atomic uint64_t total_items;
    _Alignas(64) _Atomic size_t changes_bytes;

    _Alignas(64) pthread_mutex_t maint_lock;
    pthread_cond_t maint_cond;
    pthread_t maint_thread;
    bool maint_running;                  /* guarded by: maint_lock */
    bool maint_stop;                     /* guarded by: maint_lock */
    uint32_t sweep_next;                 /* maintenance thread only */
};

/* ---- slab.c ---- */
/* Whether allocations may evict (not -M, not loading). */
bool slab_may_evict(struct store *st);
/* Put a chunk on C's free list. Caller holds C's lock. */
void slab_chunk_put_locked(struct slab_class *c, struct item *it);
int slab_init(struct store *st);
void slab_release(struct store *st);
/* A chunk for TOTAL bytes (refcount 1, clsid set), or NULL and *rc. */
struct item *slab_alloc(struct store *st, size_t total, int *rc);
/* Return a chunk whose refcount reached 0. Takes its class lock. */
void slab_free(struct store *st, struct item *it);
/* The store an item belongs to (from its page or mapping header). */
struct store *slab_store_of(const struct item *it);

/* ---- lru.c ---- */
/* Add a newly linked item (class lock taken inside). */
void lru_link(struct store *st, struct item *it, bool at_tail);
/* Remove an item being unlinked (class lock taken inside). */
void lru_unlink(struct store *st, struct item *it, bool expired);
void lru_remove_locked(struct slab_class *c, struct item *it);
/*
 * A victim from C's LRU, evicted (only a dead one if DEAD_ONLY); the chunk
 * is the caller's. Caller holds C's lock.
 */
struct item *lru_evict_locked(struct store *st, struct slab_class *c,
                              bool dead_only);
/* Empty one page of class ID and take it out of the class, or NULL. */
struct slab_page *lru_give_page(struct store *st, unsigned id);
/* A class that should give class ID a page rather than ID evict, or 0. */
unsigned lru_rebalance_victim(struct store *st, unsigned id);
/* Any page from the class holding the most, not EXCEPT; *from = class. */
struct slab_page *lru_reassign_page(struct store *st, unsigned except,
                                    unsigned *from);

/* ---- hash.c ---- */
int hash_init(struct hash *h, unsigned power);
void hash_release(struct hash *h);
uint64_t hash_key(const char *key, size_t nkey);
struct stripe *hash_stripe(struct hash *h, uint64_t hv);
/* Slot pointing at KEY's item (or at the chain's NULL end). */
struct item **hash_find_locked(struct hash *h, struct stripe *s,
                               uint64_t hv, const char *key, size_t nkey);
/* Insert IT at the head of its chain; returns the slot pointing at it. */
struct item **hash_insert_locked(struct hash *h, struct stripe *s,
                                 uint64_t hv, struct item *it);
/* Remove IT (which must be in S's chain for HV). */
void hash_remove_locked(struct hash *h, struct stripe *s, uint64_t hv,
                        struct item *it);
/* Start loading HV's bucket (in the newest table) into the cache; with
 * CHAIN, the first item of its chain instead (its bucket should be in
 * cache by then: prefetched earlier). */
void hash_prefetch(struct hash *h, uint64_t hv, bool chain);
/* Number of buckets of stripe S, and the head slot of its I-th one. */
size_t hash_stripe_nbuckets(struct hash *h, struct stripe *s);
struct item **hash_stripe_bucket(struct hash *h, struct stripe *s,
                                 size_t i);
/* Whether NITEMS items exceed the load factor (1.5) of the table. */
bool hash_needs_growth(struct hash *h, uint64_t nitems);
/* Begin growth if the load factor says so; move up to N stripes. */
void hash_maybe_grow(struct hash *h, uint64_t nitems, unsigned n);
size_t hash_bytes(struct hash *h);

/* ---- foreach.c ---- */
/*
 * The order of keys in snapshots (store.h, store_foreach): by hash HA/HB
 * (hash_key()), then bytes, then the shorter first. <0, 0, >0.
 */
int store_key_order(uint64_t ha, const void *a, size_t na, uint64_t hb,
                    const void *b, size_t nb);

/* ---- store.c ---- */
/* Raise *A to V if it is lower (never lowers it). */
void store_atomic_max(_Atomic uint64_t *a, uint64_t v);
/* Dead: expired at NOW, or flushed (CAS order at or below flush_cas). */
bool store_item_dead(struct store *st, const struct item *it, uint32_t now);
uint64_t store_next_cas(struct store *st);
/* After a write, without locks: hash growth, CAS reservation. */
void store_after_write(struct store *st);
/*
 * Bring a delayed flush_all due at NOW into effect, reporting it to SES's
 * sink (NULL: the background sink). Called with no lock held, at the
 * start of every command and by the maintenance thread.
 */
void store_flush_due(struct store *st, const struct store_session *ses,
                     uint32_t now);
/* flush_all now: a fresh CAS is the threshold; reported before it acts. */
void store_flush_now(struct store *st, const struct store_session *ses);
/*
 * Give IT (not linked, stripe lock held) its CAS: EXPLICIT_CAS (a
 * client's, when non-zero and IT has room for it) with a new counter value
 * as its order, else a new counter value.
 */
void store_assign_cas(struct store *st, struct item *it,
                      uint64_t explicit_cas);

/* ---- key.c: a key's place while its stripe lock is held ---- */
/* How a change is recorded (mutate.c). */
enum mut_how {
    MUT_CLIENT = 0,   /* asked for by a client: change log + the sink */
    MUT_STORE = 1,    /* the store's own (expiry, eviction): change log */
    MUT_RESTORE = 2,  /* put back from disk: neither */
};

struct keyref {
    struct store *st;
    const struct store_session *ses;  /* whose changes (NULL: none) */
    enum mut_how how;       /* for links, touches and marks */
    struct stripe *s;
    uint64_t hv;
    struct item **slot;     /* chain slot of the live item, after lookup */
};

/*
 * Lock KEY's stripe and look it up. Returns its live item (no reference
 * taken; valid while the lock is held) or NULL; an expired or flushed one
 * is unlinked on the way (*expired = true when EXPIRED is not NULL),
 * except for MUT_RESTORE, which gets whatever item the key holds.
 * The caller must key_unlock(K). KEY must be 1..STORE_KEY_MAX bytes.
 */
struct item *key_lock_lookup(struct keyref *k, struct store *st,
                             const struct store_session *ses,
                             enum mut_how how, const char *key, size_t nkey,
                             bool *expired);
void key_unlock(struct keyref *k);
/* Whether KEY's length is one the store accepts. */
bool key_valid(const char *key, size_t nkey);

/* ---- mutate.c: the one path every change of a key takes ---- */
/*
 * Link IT (CAS set) in place of OLD (the item key_lock_lookup() found, or
 * NULL for a new key), onto its LRU head (tail if AT_TAIL); record and
 * report a LINK as K->how says. Returns OLD, whose table reference the
 * caller drops with item_unref() after key_unlock(). Afterwards K->slot
 * points at IT.
 */
struct item *mut_link_locked(struct keyref *k, struct item *old,
                             struct item *it, bool at_tail);
/* Unlink IT (the live item at K->slot); MUT_CLIENT reports an UNLINK. */
void mut_unlink_locked(struct keyref *k, struct item *it, enum mut_how how,
                       bool expired);
/* Set IT's expiry in place (a TOUCH). */
void mut_touch_locked(struct keyref *k, struct item *it, uint32_t exptime);
/* Set state BITS on IT in place (a MARK). */
void mut_mark_locked(struct keyref *k, struct item *it, uint8_t bits);
/* Eviction took IT out of S's chain (lru.c): record it for snapshots. */
void mut_evicted_locked(struct store *st, struct stripe *s, struct item *it);
/* Unlink IT at SLOT during a sweep of S (maint.c): expired or flushed. */
void mut_sweep_locked(struct store *st, struct stripe *s, struct item **slot,
                      struct item *it);

/* ---- arith.c ---- */
/*
 * The state bits a number rebuilt from OLD (incr, decr, ma) keeps, with
 * NVALUE bytes of value: as memcached 1.6.18, which changes a number that
 * does not grow in place (it stays fetched and stale, but a stale item
 * whose win was sent stops being stale) and makes a new item otherwise.
 */
uint8_t store_arith_bits(const struct item *old, size_t nvalue);

/* ---- changes.c ---- */
/* Log IT's key in S's change log once per epoch (mutate.c only). */
void changes_record_locked(struct store *st, struct stripe *s,
                           struct item *it);
void changes_release(struct store *st);

/* ---- maint.c ---- */
void maint_sweep_stripe(struct store *st, struct stripe *s);

#endif /* EMBER_STORE_INT_H */
