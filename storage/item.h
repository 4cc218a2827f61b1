/*
 * item.h -- private layout of an item (storage/ only; see store.h for the
 * public accessors).
 *
 * Invariants
 *  - key, value and cas are written before an item is linked and never
 *    after; exptime, atime and bits are atomics and may change while it
 *    is linked (touch, reads, LRU passes).
 *  - refcount counts holders; a linked item holds one reference for the
 *    hash table. Whoever drops the count to 0 frees the chunk, which can
 *    only happen once the item is unlinked.
 *  - New references to a linked item are taken only under its stripe
 *    lock (lookups, foreach) or from an existing reference (item_ref), so
 *    "refcount == 1 under the stripe lock" means nobody else can see it:
 *    eviction relies on that.
 *  - ITEM_LINKED changes only under the stripe lock; the item is on its
 *    class LRU exactly while it is linked (LRU edits under the class lock,
 *    inside that stripe-locked section).
 *
 * Layout of one chunk (64-byte header, 8-byte aligned chunk). 8 bytes
 * more than memcached's 56: the change-log epoch and the chunk size (so
 * item_total_size() and item_unref() need no store pointer); the finer
 * size classes more than make up for it (see docs/STORAGE.md).
 *
 *    0       8       16      24      32      40      48      56   64
 *   +-------+-------+-------+-------+---+---+---+---+---+---+-+-+-+---+
 *   | hnext | prev  | next  |  cas  |exp|at |ref|nv |flg|ep |chk|bkcp|
 *   +-------+-------+-------+-------+---+---+---+---+---+---+---+----+
 *   | key (nkey) | value (nvalue) | \r\n | class slack ...             |
 *   +------------+----------------+------+-----------------------------+
 *
 *   chk = chunk bytes, b = bits, k = nkey, c = clsid (0 = large item in
 *   its own mapping), p = pad. A free chunk reuses `next` as the
 *   free-list link and has ITEM_FREE.
 *
 *   The store an item belongs to is found from its address, so that
 *   item_unref() needs no store argument: a slab chunk lives in a 1 MiB
 *   page aligned to 1 MiB whose first 64 bytes are a struct slab_page;
 *   a large item is preceded by a 64-byte struct slab_large in its own
 *   mapping.
 */
#ifndef EMBER_ITEM_H
#define EMBER_ITEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum item_bit {
    ITEM_LINKED = 1u << 0,  /* in the hash table and its class LRU */
    ITEM_ACTIVE = 1u << 1,  /* read since the last LRU pass: 2nd chance */
    ITEM_FETCHED = 1u << 2, /* read at least once (stats *_unfetched) */
    ITEM_FREE = 1u << 3,    /* chunk sits on its class free list */
    /* meta protocol state; mirrored as STORE_STATE_* in store.h */
    ITEM_STALE = 1u << 4,   /* invalidated (md I, ms I): served as stale */
    ITEM_WON = 1u << 5,     /* a client was sent the recache win flag */
    ITEM_KEY_BINARY = 1u << 6, /* stored with a base64 (b) key */
    /* cas is a client's (meta E): the counter value that orders the item
     * against flush_all is kept in ITEM_CAS_SLACK bytes after the value's
     * "\r\n" (store_assign_cas()); see item_order_cas() */
    ITEM_CAS_EXPLICIT = 1u << 7,
};

/* The bits kept with an item across restarts (store.h STORE_STATE_*). */
#define ITEM_STATE_BITS (ITEM_FETCHED | ITEM_STALE | ITEM_WON | ITEM_KEY_BINARY)

#define ITEM_CAS_SLACK 8u

struct item {
    struct item *hnext;       /* hash chain; guarded by: stripe lock */
    struct item *prev;        /* LRU; guarded by: class lock */
    struct item *next;        /* LRU or free list; guarded by: class lock */
    uint64_t cas;             /* immutable once linked */
    _Atomic uint32_t exptime; /* absolute, 0 = never (touch edits it) */
    _Atomic uint32_t atime;   /* last access, store clock */
    _Atomic uint32_t refcount;
    uint32_t nvalue;          /* value bytes, without the "\r\n" */
    uint32_t flags;           /* client flags */
    uint32_t epoch;           /* change-log epoch; guarded by: stripe lock */
    uint32_t chunk;           /* bytes of memory this item occupies */
    _Atomic uint8_t bits;     /* enum item_bit */
    uint8_t nkey;
    uint8_t clsid;            /* size class; 0 = large */
    uint8_t pad;
    char data[];              /* key, value, "\r\n" */
};

_Static_assert(sizeof(struct item) == 64, "item header must stay small");

/* Bytes an item of NKEY/NVALUE needs before class rounding. */
static inline size_t
item_need(size_t nkey, size_t nvalue)
{
    return sizeof(struct item) + nkey + nvalue + 2;
}

static inline char *
item_keyp(struct item *it)
{
    return it->data;
}

static inline char *
item_valp(struct item *it)
{
    return it->data + it->nkey;
}

/* The CAS that places IT in time (flush_all): cas, or for an explicit
 * CAS the counter value taken when it was linked. */
static inline uint64_t
item_order_cas(const struct item *it)
{
    uint64_t order = it->cas;

    if (atomic_load_explicit(&it->bits, memory_order_relaxed)
        & ITEM_CAS_EXPLICIT) {
        memcpy(&order, it->data + it->nkey + it->nvalue + 2, sizeof(order));
    }
    return order;
}

#endif /* EMBER_ITEM_H */
