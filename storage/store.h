/*
 * store.h -- ember's in-RAM item store: the only public header of storage/.
 *
 * Layer: storage depends on libc, pthreads and <stdatomic.h> only. It knows
 * nothing of sockets, protocols, libevent, LMDB or zstd. daemon/ and
 * snapshot/ call it; it never calls them (the one exception is the CAS
 * reservation hook below, which is a plain function pointer).
 *
 * Invariants
 *  - An item is immutable once linked, except for its expiry time, its
 *    access time and its state bits, which are atomics. Writers build a new
 *    item and swap it in under the key's stripe lock.
 *  - Every item returned to a caller carries one reference; the caller
 *    drops it with item_unref(). Memory is reclaimed when an item is both
 *    unlinked and unreferenced, so a value can be sent straight from the
 *    item while another thread replaces or deletes its key.
 *  - All memory for items (headers, keys, values, the CRLF after each
 *    value and the slack of its size class) comes from mmap'ed pages
 *    counted against store_config.mem_limit: 64 KiB pages for chunks up
 *    to 2 KiB, 1 MiB pages above, own mappings for items over half a MiB.
 *    The hash table, locks and change log are bookkeeping outside that
 *    limit, as in memcached.
 *  - Eviction is per size class: an approximate LRU where a read sets a
 *    bit (no lock) that buys the item a second pass. Pages move between
 *    classes when a class has nothing to evict or another class's LRU
 *    tail is much cheaper to drop (age x size).
 *  - CAS values come from one 64-bit counter that only goes up, also
 *    across restarts (store_cas_floor()).
 *  - Times are absolute unix seconds (uint32_t; valid until 2106), taken
 *    from the store's clock, which ticks once a second unless frozen by
 *    store_clock_set() for tests.
 *
 * Item memory layout (one chunk of a size class):
 *
 *   +----------------------+---------------+--------------------+------+
 *   | header (64 bytes)    | key (nkey)    | value (nvalue)     | \r\n |
 *   +----------------------+---------------+--------------------+------+
 *                                          ^ item_value()
 *   item_value() points at nvalue bytes followed by "\r\n", so a text
 *   protocol reply can send value and terminator as one iovec.
 *
 * Locks, in the order they may be taken:
 *   table-growth lock -> stripe lock (1024 stripes of hash buckets; guards
 *   chains and the change log of that stripe) -> class lock (one per size
 *   class; guards its free list, pages and LRU) -> page-pool lock.
 *   A thread holds at most one stripe and one class lock. Eviction walks
 *   an LRU holding a class lock and only *tries* stripe locks, so it never
 *   waits against the order. No lock is held while calling FN callbacks.
 */
#ifndef EMBER_STORE_H
#define EMBER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_MAX 250              /* bytes, as memcached */
#define STORE_REL_EXPTIME_MAX 2592000  /* 30 days: larger is absolute */

enum store_rc {
    STORE_OK = 0,        /* done / hit */
    STORE_MISS = 1,      /* no such live key (result, not an error) */
    STORE_EXISTS = 2,    /* CAS mismatch (result) */
    STORE_NOT_STORED = 3,/* add on present key, replace/append on absent */
    STORE_NON_NUMERIC = 4, /* incr/decr on a value that is not a u64 */
    STORE_ENOMEM = -1,   /* nothing evictable, or -M and full */
    STORE_ETOOLARGE = -2,/* item larger than item_size_max */
    STORE_EINVAL = -3,   /* bad argument (key length, ...) */
};

/* Human-readable text for an enum store_rc. Never NULL, static storage. */
const char *store_strerror(int rc);

/*
 * Default size class factor: finer than memcached's 1.25, so less of each
 * chunk is slack (measured, 50 B-10 KB values written 3 x -m: 1.08 holds
 * 8-9% more items than 1.25). -f overrides it.
 */
#define STORE_GROWTH_FACTOR_DEFAULT 1.08

struct store_config {
    size_t mem_limit;       /* bytes for item pages (-m), >= 1 MiB */
    size_t item_size_max;   /* largest item incl. header (-I), >= 1 KiB, */
                            /* <= mem_limit and <= 1 GiB */
    double growth_factor;   /* size class factor (-f), > 1.0, <= 10.0 */
    bool no_evict;          /* -M: ENOMEM instead of evicting */
    unsigned hash_power;    /* initial table = 2^hash_power buckets; 0 = 16 */
    size_t changelog_max;   /* bytes of change log before overflow; 0 = */
                            /* off (every take says "rewrite all"): set */
                            /* it with snapshots, e.g. max(4 MiB, m/64) */
};

/*
 * Fills CFG with defaults: 64 MiB, 1 MiB items, factor
 * STORE_GROWTH_FACTOR_DEFAULT, evicting, change log off (0).
 */
void store_config_default(struct store_config *cfg);

struct store;
struct item;

/*
 * Create a store. Allocates no item pages yet (pages come on demand) and
 * starts no thread. Returns NULL with *sys_err set on failure or when CFG
 * is inconsistent (*sys_err = EINVAL).
 * Ownership: caller owns the store; free with store_destroy().
 */
struct store *store_create(const struct store_config *cfg, int *sys_err);

/*
 * Stop the maintenance thread if running, free every item, page and table,
 * and set *stp to NULL. No-op when STP or *stp is NULL. References still
 * held by callers dangle afterwards: release them first.
 */
void store_destroy(struct store **stp);

/*
 * Start / stop the background maintenance thread: clock tick, expiry sweep
 * (reclaims expired and flushed items a stripe at a time) and incremental
 * hash table growth. Without it the store still works (lazy expiry; the
 * table grows in steps taken by writers). Returns 0 or an errno value.
 */
int store_maintenance_start(struct store *st);
void store_maintenance_stop(struct store *st);

/* ---- clock and expiry ------------------------------------------------ */

/* Current store time, unix seconds. Thread: any. Blocks: never. */
uint32_t store_now(const struct store *st);

/* Freeze the clock at NOW (tests, the loader). 0 unfreezes it. */
void store_clock_set(struct store *st, uint32_t now);

/*
 * Convert a protocol exptime to an absolute expiry: 0 -> 0 (never),
 * 1..2592000 (30 days, inclusive) -> now + n, larger -> that unix time
 * (expired at once if past), negative -> 1 (already expired); clamped to
 * UINT32_MAX. An item is dead from its expiry second on. Thread: any.
 */
uint32_t store_exptime(const struct store *st, int64_t exptime);

/* ---- item access ---------------------------------------------------- */

const char *item_key(const struct item *it);
uint8_t item_nkey(const struct item *it);
/* The value; nvalue bytes followed by "\r\n". */
const char *item_value(const struct item *it);
/* Writable value of an item not yet linked (see store_alloc). */
char *item_value_mut(struct item *it);
uint32_t item_nvalue(const struct item *it);
uint32_t item_flags(const struct item *it);
uint32_t item_exptime(const struct item *it);   /* absolute, 0 = never */
uint32_t item_atime(const struct item *it);     /* last access */
uint64_t item_cas(const struct item *it);
/* Bytes of store memory this item occupies (its size-class chunk). */
size_t item_total_size(const struct item *it);

/* Take another reference. Thread: any. Blocks: never. */
void item_ref(struct item *it);
/*
 * Drop a reference; frees the chunk when it was the last one and the item
 * is unlinked. Takes the item's class lock only in that case.
 */
void item_unref(struct item *it);

/* ---- commands -------------------------------------------------------- */

/*
 * Allocate an unlinked item for KEY with room for NVALUE bytes of value
 * (the store writes the trailing "\r\n"). May evict (LRU tail of its size
 * class, or a whole page of another class) to make room; an item in use
 * (referenced, or allocated and not yet stored) is never evicted.
 * Returns the item with one reference, or NULL and *rc = STORE_ETOOLARGE
 * (item would exceed item_size_max) / STORE_ENOMEM / STORE_EINVAL (key
 * empty or longer than STORE_KEY_MAX).
 * Ownership: caller fills item_value_mut(), then passes it to
 * store_store() or drops it with item_unref().
 * Locks: class lock, tries stripe locks while evicting. Blocks: briefly.
 */
struct item *store_alloc(struct store *st, const char *key, size_t nkey,
                         uint32_t flags, uint32_t exptime, size_t nvalue,
                         int *rc);

enum store_mode {
    STORE_SET,
    STORE_ADD,      /* only if absent */
    STORE_REPLACE,  /* only if present */
    STORE_CAS,      /* only if present with cas == cas_in */
    STORE_APPEND,   /* existing value + new value; keeps flags/exptime */
    STORE_PREPEND,  /* new value + existing value */
};

/*
 * Link IT under its key according to MODE. For STORE_CAS, CAS_IN must
 * match the current item's CAS; for other modes but ADD a non-zero CAS_IN
 * also requires a match (meta protocol). APPEND/PREPEND build a new combined
 * item (allocating, possibly evicting) and link that instead of IT.
 * On STORE_OK *cas_out (if not NULL) receives the new item's CAS.
 * Returns STORE_OK, STORE_NOT_STORED, STORE_EXISTS, STORE_MISS (cas on an
 * absent key), STORE_ENOMEM or STORE_ETOOLARGE (append result too big).
 * Ownership: IT stays the caller's reference either way; unref it after.
 * Locks: the key's stripe lock; class locks for APPEND/PREPEND.
 */
int store_store(struct store *st, struct item *it, enum store_mode mode,
                uint64_t cas_in, uint64_t *cas_out);

/*
 * Look KEY up. On STORE_OK *out is a new reference the caller must unref;
 * otherwise *out = NULL. Expired or flushed items are unlinked and
 * reported as STORE_MISS with *expired = true (when EXPIRED is not NULL;
 * false on other misses). Marks the item as accessed (access time, LRU
 * second chance) without taking a class lock. A bad key length is a miss.
 * Thread: any. Locks: the key's stripe lock. Blocks: never for long.
 */
int store_get(struct store *st, const char *key, size_t nkey,
              struct item **out, bool *expired);

/*
 * Like store_get(), then set the item's expiry to EXPTIME (absolute) in
 * place. OUT may be NULL (touch). Returns STORE_OK or STORE_MISS.
 */
int store_touch(struct store *st, const char *key, size_t nkey,
                uint32_t exptime, struct item **out);

/*
 * Delete KEY. CAS_IN non-zero must match (else STORE_EXISTS).
 * Returns STORE_OK, STORE_MISS or STORE_EXISTS.
 */
int store_delete(struct store *st, const char *key, size_t nkey,
                 uint64_t cas_in);

struct store_arith {
    bool incr;             /* true: incr (wraps at 2^64); false: decr (>=0) */
    uint64_t delta;
    uint64_t cas_in;       /* non-zero: must match */
    bool vivify;           /* create with INITIAL on a miss (meta N flag) */
    uint64_t initial;
    uint32_t vivify_exptime;
};

/*
 * incr/decr the decimal u64 value of KEY, as memcached 1.6: the value is
 * a number if it has optional leading white space, at least one digit
 * (leading zeros allowed), no overflow, then its end or white space (the
 * rest is ignored); else STORE_NON_NUMERIC. incr wraps at 2^64, decr
 * stops at 0. A result shorter than the old value is padded with spaces
 * to the old length (decr "10" by 1 -> "9 "). The new item keeps flags
 * and exptime. On a miss with VIVIFY the item is created holding INITIAL
 * (flags 0, VIVIFY_EXPTIME) and *value = INITIAL. On STORE_OK *value is
 * the new number and *cas_out (if not NULL) the new CAS.
 * Returns STORE_OK, STORE_MISS, STORE_NON_NUMERIC, STORE_EXISTS,
 * STORE_ENOMEM or STORE_EINVAL (key length). Locks: stripe, class.
 */
int store_arith(struct store *st, const char *key, size_t nkey,
                const struct store_arith *req, uint64_t *value,
                uint64_t *cas_out);

/*
 * Invalidate every item stored before store time WHEN (0 or a past time:
 * now), as memcached's flush_all [delay]. Precise within the second: when
 * the flush takes effect, items whose CAS is at most the counter at that
 * instant are dead, items stored after it live. A later call replaces a
 * pending delayed one. Lazy: items are reclaimed on access or by the
 * sweep. When it takes effect the change log is marked overflowed, so the
 * next snapshot is a full rewrite. Thread: any. Blocks: never.
 */
void store_flush(struct store *st, uint32_t when);

/* ---- CAS counter ----------------------------------------------------- */

/* Highest CAS handed out so far. */
uint64_t store_cas_current(const struct store *st);

/* Raise the counter so that the next CAS is > FLOOR (never lowers it). */
void store_cas_floor(struct store *st, uint64_t floor);

/*
 * Durable CAS reservation hook for the snapshot layer. After a write whose
 * CAS passed LIMIT, the writing thread calls FN(ARG, cas + STEP) with no
 * store lock held and takes the returned value as the new limit (one
 * caller at a time; others go on). The store keeps handing out CAS values
 * regardless, so a failing hook only weakens the guarantee. NULL FN
 * disables it. Call before worker threads use the store.
 */
typedef uint64_t (*store_cas_reserve_fn)(void *arg, uint64_t want_limit);
void store_cas_set_reserve(struct store *st, store_cas_reserve_fn fn,
                           void *arg, uint64_t limit, uint64_t step);

/* ---- snapshot hooks: iteration and change tracking ------------------- */

/*
 * Call FN(ARG, it) for every live item, a stripe at a time: the stripe's
 * items are referenced under its lock, the lock is dropped, FN runs, the
 * references are dropped. Writers wait at most one stripe's copy.
 * FN must not keep IT beyond the call (item_ref it to do so). Returning
 * non-zero from FN stops the walk and is returned.
 * Thread: any except a worker needing low latency. Blocks: briefly.
 */
typedef int (*store_item_fn)(void *arg, struct item *it);
int store_foreach(struct store *st, store_item_fn fn, void *arg);

/*
 * Change tracking (only when changelog_max > 0). Every link, touch,
 * delete, expiry, eviction and arithmetic records its key once per epoch
 * in its stripe's change log (a key deleted and re-added within an epoch
 * may be recorded twice; FN sees its current state both times).
 * store_changes_take() starts a new epoch and hands over what the old one
 * recorded: for each recorded key, FN(ARG, key, nkey, it) is called with
 * the key's current live item (a borrowed reference, valid during the
 * call) or NULL when the key is gone (a tombstone).
 * Returns 1 when the log overflowed changelog_max (or a flush happened)
 * since the last take, or tracking is off: the caller must then rewrite
 * everything from store_foreach() instead (FN is not called). Returns 0
 * otherwise, or FN's non-zero result (which stops the walk and makes the
 * next take return 1). Only one taker at a time (the snapshot thread).
 * Locks: each stripe lock in turn, briefly. Blocks: briefly.
 */
typedef int (*store_change_fn)(void *arg, const char *key, size_t nkey,
                               struct item *it);
int store_changes_take(struct store *st, store_change_fn fn, void *arg);

/* Bytes currently used by change logs (for stats). */
size_t store_changes_bytes(const struct store *st);

/*
 * Insert a loaded item (warm restart): like STORE_SET but keeps CAS
 * (raising the counter to it; 0 = assign a new one) and ATIME, appends
 * the item at the *tail* of its LRU (callers load most recently used
 * first) and does not record a change. An item from store_meta_alloc(..,
 * true) with a non-zero CAS keeps it as a client's explicit CAS: the
 * counter is not raised, and the item is ordered against flush_all by a
 * new counter value (as after ms E). Memory comes from store_alloc(),
 * which returns STORE_ENOMEM in loading mode when its size class cannot
 * get memory (the caller may go on with smaller items or stop).
 * Returns STORE_OK, or STORE_EINVAL when IT is already linked.
 */
int store_load(struct store *st, struct item *it, uint64_t cas,
               uint32_t atime);

/*
 * Loading mode: while ON, store_alloc() never evicts (it returns
 * STORE_ENOMEM when memory is full) so that a warm restart keeps the most
 * recently used items it loaded first. Call with false before serving.
 */
void store_set_loading(struct store *st, bool on);

/* ---- statistics ------------------------------------------------------ */

struct store_stats {
    uint64_t curr_items;
    uint64_t total_items;     /* links since start */
    uint64_t bytes;           /* sum of item_total_size of linked items */
    uint64_t limit_maxbytes;
    uint64_t mem_pages;       /* page + large-item bytes; <= limit */
    uint64_t evictions;
    uint64_t reclaimed;       /* expired/flushed items freed by the store */
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t hash_power;
    uint64_t hash_bytes;
    uint64_t hash_is_expanding;
    uint64_t slab_reassigns;  /* pages moved between size classes */
};

/* Fill OUT. Sums per-class counters under each class lock in turn. */
void store_stats(struct store *st, struct store_stats *out);

/* Zero the resettable counters (total_items, evictions, reclaimed, ...). */
void store_stats_reset(struct store *st);

struct store_class_stats {
    unsigned id;              /* 1-based, as memcached */
    uint32_t chunk_size;
    uint32_t page_size;       /* 64 KiB for small chunks, else 1 MiB */
    uint32_t chunks_per_page;
    uint64_t total_pages;
    uint64_t used_chunks;
    uint64_t free_chunks;
    uint64_t number;          /* linked items */
    uint64_t age;             /* now - atime of the LRU tail */
    uint64_t evicted;
    uint64_t evicted_nonzero;
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t outofmemory;
    uint64_t reclaimed;
    uint64_t mem_requested;   /* bytes asked for by the items */
};

/*
 * Call FN(ARG, cs) for each size class that has pages, in id order.
 * Thread: any. Locks: each class lock in turn.
 */
typedef void (*store_class_fn)(void *arg, const struct store_class_stats *cs);
void store_class_stats(struct store *st, store_class_fn fn, void *arg);

/* ---- meta protocol (storage/meta.c) ----------------------------------- */

/* Item state the meta commands read (item_meta_bits). */
enum store_meta_bit {
    STORE_META_FETCHED = 1u << 2,   /* read at least once */
    STORE_META_STALE = 1u << 4,     /* invalidated: clients see X */
    STORE_META_WON = 1u << 5,       /* one client was told W (others: Z) */
    STORE_META_KEY_BINARY = 1u << 6,/* stored under a base64 (b) key */
};

/* The STORE_META_* bits of IT. Thread: any. Blocks: never. */
unsigned item_meta_bits(const struct item *it);

/*
 * Give IT, not linked yet (store_alloc, before store_load), the
 * STORE_META_* BITS it had when it was saved, so that a warm restart
 * keeps stale, won, fetched and binary-key state. Other bits are ignored.
 * Thread: the owner of IT. Blocks: never.
 */
void item_meta_restore(struct item *it, unsigned bits);

/*
 * True when IT's CAS is one a client chose (meta E on an item from
 * store_meta_alloc(.., true)) rather than a value of the counter: the
 * snapshot saves it as such so that a restart neither raises the counter
 * to it nor loses its order against flush_all. Thread: any. Blocks: never.
 */
bool item_cas_explicit(const struct item *it);

/* IT's size class id (1-based, 0 for a large item), as memcached's cls. */
unsigned item_class_id(const struct item *it);

struct store_mget {
    bool no_bump;           /* u: leave atime, LRU and "fetched" alone */
    bool touch;             /* T: set exptime */
    uint32_t exptime;       /* absolute, with touch */
    bool recache;           /* R: win when 0 < remaining TTL < below */
    uint32_t recache_below;
    bool recache_after_touch; /* R judges the TTL T set (T came first) */
    bool vivify;            /* N: on a miss, link an empty item and win */
    uint32_t vivify_exptime;
    uint64_t new_cas;       /* E: CAS of a vivified item (0: counter) */
};

struct store_mget_res {
    struct item *it;        /* new reference (caller unrefs), or NULL */
    bool fetched_before;    /* h: fetched before this access */
    uint32_t atime_before;  /* l: last access before this one */
    uint32_t exptime_before;/* expiry before this touch (0 if vivified) */
    bool won;               /* W: this client recaches */
    bool already_won;       /* Z: another client was told W */
    bool stale;             /* X */
    bool vivified;          /* the item was created by this call */
};

/*
 * mg: look KEY up and apply REQ atomically under the key's stripe lock:
 * touch, the one-winner recache logic (stale or R: the first client gets
 * won, later ones already_won) and vivify on a miss. Returns STORE_OK
 * (RES->it set) or STORE_MISS; STORE_ENOMEM/ETOOLARGE when vivifying
 * failed. Locks: stripe lock (class lock to vivify). Blocks: briefly.
 */
int store_meta_get(struct store *st, const char *key, size_t nkey,
                   const struct store_mget *req, struct store_mget_res *res);

struct store_mset {
    enum store_mode mode;   /* SET ADD REPLACE APPEND PREPEND (not CAS) */
    bool has_cas;           /* C: compare, even with 0 */
    uint64_t cas;
    bool invalidate;        /* I: a C older than the item's stores stale */
    uint64_t new_cas;       /* E: explicit CAS (0: counter); IT must
                             * then come from store_meta_alloc(.., true) */
    bool key_binary;
    bool vivify;            /* N: append/prepend on a miss store IT as is */
    uint32_t vivify_exptime;
};

/*
 * Allocate as store_alloc(), with room for an explicit CAS when
 * EXPLICIT_CAS: flush_all orders items by CAS, so an item whose CAS a
 * client chose (meta E) also keeps a counter value, after its value.
 * Pass such an item to store_meta_store() with new_cas set.
 * Ownership, locks: as store_alloc().
 */
struct item *store_meta_alloc(struct store *st, const char *key, size_t nkey,
                              uint32_t flags, uint32_t exptime,
                              size_t nvalue, bool explicit_cas, int *rc);

/*
 * ms: link IT (unlinked, from store_alloc) for KEY by REQ. Returns
 * STORE_OK (*cas_out: the new CAS, *size_out: the stored value's length),
 * STORE_NOT_STORED, STORE_EXISTS, STORE_MISS (C on an absent key),
 * STORE_ENOMEM or STORE_ETOOLARGE (append result). IT stays the caller's
 * reference. Locks: stripe lock, class lock. Blocks: briefly.
 */
int store_meta_store(struct store *st, struct item *it,
                     const struct store_mset *req, uint64_t *cas_out,
                     uint32_t *size_out);

struct store_mdel {
    bool has_cas;           /* C */
    uint64_t cas;
    bool invalidate;        /* I: keep the item, stale, with a new CAS */
    bool strip;             /* x: keep the item with an empty value */
    bool touch;             /* T (with I or x): new exptime */
    uint32_t exptime;
    uint64_t new_cas;       /* E (0: counter) */
};

/*
 * md: delete KEY, or with invalidate/strip replace it by a copy that is
 * stale and/or empty under a new CAS. Returns STORE_OK, STORE_MISS,
 * STORE_EXISTS or STORE_ENOMEM. Locks: stripe lock, class lock.
 */
int store_meta_delete(struct store *st, const char *key, size_t nkey,
                      const struct store_mdel *req);

struct store_marith {
    bool incr;
    uint64_t delta;
    bool has_cas;           /* C */
    uint64_t cas;
    uint64_t new_cas;       /* E (0: counter) */
    bool vivify;            /* N: create INITIAL on a miss */
    uint64_t initial;
    uint32_t vivify_exptime;
    bool touch;             /* T: exptime on success */
    uint32_t exptime;
};

struct store_marith_res {
    uint64_t value;
    uint64_t cas;
    uint32_t exptime;       /* absolute, 0 = never */
    uint32_t exptime_before;/* before T (0 if vivified) */
    bool vivified;
};

/*
 * ma: incr/decr KEY as store_arith() does, plus explicit CAS, TTL update
 * and the numbers a reply needs. Returns STORE_OK, STORE_MISS,
 * STORE_EXISTS, STORE_NON_NUMERIC or STORE_ENOMEM.
 * Locks: stripe lock, class lock. Blocks: briefly.
 */
int store_meta_arith(struct store *st, const char *key, size_t nkey,
                     const struct store_marith *req,
                     struct store_marith_res *res);

#endif /* EMBER_STORE_H */
