/*
 * store.h -- ember's in-RAM item store: the only public header of storage/.
 *
 * Layer: storage depends on libc, pthreads and <stdatomic.h> only. It knows
 * nothing of sockets, protocols, libevent, LMDB or zstd. daemon/ and
 * snapshot/ call it; it never calls them, except through the plain
 * function pointers they hand it (a session's change sink, the CAS
 * reservation hook).
 *
 * Invariants
 *  - An item is immutable once linked, except for its expiry time, its
 *    access time and its state bits, which are atomics. Writers build a new
 *    item and swap it in under the key's stripe lock.
 *  - Every item returned to a caller carries one reference; the caller
 *    drops it with item_unref(). Memory is reclaimed when an item is both
 *    unlinked and unreferenced, so a value can be sent straight from the
 *    item while another thread replaces or deletes its key.
 *  - One mutation path: every change to what a key holds -- an item
 *    linked, a key unlinked (by a client, expiry, eviction or flush), an
 *    expiry or state bit changed in place -- goes through one internal
 *    function (storage/mutate.c), which records it in the change log (for
 *    incremental snapshots) and, for the changes a client asked for,
 *    reports it to the calling session's sink (the journal) with a
 *    sequence number, under the key's stripe lock, before the call
 *    returns. No verb records anything itself, so none can forget to.
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
 *    across restarts (store_cas_floor()). A flush_all that takes effect
 *    uses one value of it, as memcached does.
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
 *   waits against the order. No store lock is held while calling FN
 *   callbacks, except a sink's, as documented there.
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
 * Start / stop the background maintenance thread: clock tick, delayed
 * flush_all coming due, expiry sweep (reclaims expired and flushed items
 * a stripe at a time) and incremental hash table growth. Without it the
 * store still works (lazy expiry; a delayed flush is noticed by the next
 * command; the table grows in steps taken by writers). Returns 0 or an
 * errno value.
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
/* IT's size class id (1-based, 0 for a large item), as memcached's cls. */
unsigned item_class_id(const struct item *it);

/* Item state kept with an item and across restarts (item_state_bits). */
enum store_state_bit {
    STORE_STATE_FETCHED = 1u << 2,   /* read at least once */
    STORE_STATE_STALE = 1u << 4,     /* invalidated (meta I): clients see X */
    STORE_STATE_WON = 1u << 5,       /* one client was told W (others: Z) */
    STORE_STATE_KEY_BINARY = 1u << 6,/* stored under a base64 (b) key */
};

/* The STORE_STATE_* bits of IT. Thread: any. Blocks: never. */
unsigned item_state_bits(const struct item *it);

/*
 * True when IT's CAS is one a client chose (meta E, store_alloc with
 * EXPLICIT_CAS) rather than a value of the counter. Such an item also
 * keeps a counter value, its order, which places it against flush_all.
 */
bool item_cas_explicit(const struct item *it);

/* The counter value that places IT against flush_all: item_cas(), or
 * for an explicit CAS the value taken when it was linked. */
uint64_t item_cas_order(const struct item *it);

/* Take another reference. Thread: any. Blocks: never. */
void item_ref(struct item *it);
/*
 * Drop a reference; frees the chunk when it was the last one and the item
 * is unlinked. Takes the item's class lock only in that case. NULL: no-op.
 */
void item_unref(struct item *it);

/* ---- sessions: who is told of each change --------------------------- */

enum store_change_kind {
    STORE_CHANGE_LINK = 1,   /* IT is linked under its key (new or over */
                             /* the old item) */
    STORE_CHANGE_UNLINK = 2, /* a client deleted IT's key */
    STORE_CHANGE_TOUCH = 3,  /* IT's expiry was set to EXPTIME in place */
    STORE_CHANGE_MARK = 4,   /* IT's state bits are now BITS (in place) */
    STORE_CHANGE_FLUSH = 5,  /* flush_all took effect: items whose CAS */
                             /* order is <= CAS are dead */
    STORE_CHANGE_FLUSH_AT = 6, /* a delayed flush_all is pending for WHEN */
                             /* (replacing any earlier one) */
};

/*
 * One change, as reported to a sink. SEQ comes from one counter
 * (store_seq_current()) and is taken when the change is made, under the
 * key's stripe lock: sorting every change by SEQ puts the changes of
 * each key in the order they happened. FLUSH and FLUSH_AT are ordered
 * against the others by SEQ too.
 */
struct store_change {
    enum store_change_kind kind;
    uint64_t seq;
    struct item *it;        /* LINK, UNLINK, TOUCH, MARK; borrowed for */
                            /* the call (item_ref() it to keep it). Its */
                            /* expiry and bits may change after the call */
    uint64_t cas;           /* FLUSH: the threshold (a fresh CAS value) */
    uint32_t exptime;       /* TOUCH: the new expiry */
    unsigned bits;          /* MARK: STORE_STATE_* bits now set */
    uint32_t when;          /* FLUSH_AT: unix time it takes effect */
};

/*
 * A sink: told of every change a session makes, when it is made. LINK,
 * UNLINK, TOUCH and MARK are reported under the key's stripe lock: the
 * sink must be quick, must not block and must not call the store. FLUSH
 * and FLUSH_AT are reported under no lock, and a FLUSH takes effect only
 * once the sink has returned, so a sink that must make it durable before
 * anyone can see its effect may block (e.g. write it) in that call.
 */
typedef void (*store_sink_fn)(void *arg, const struct store_change *ch);

/*
 * A thread's handle for commands: the store and where its changes go.
 * Set up with store_session_init(); used by one thread at a time (each
 * worker has its own). A NULL sink reports nothing (a pure cache).
 */
struct store_session {
    struct store *st;
    store_sink_fn sink;
    void *sink_arg;
};

void store_session_init(struct store_session *ses, struct store *st,
                        store_sink_fn sink, void *sink_arg);

/*
 * The sink for changes the store makes on its own: a delayed flush_all
 * coming due in the maintenance thread (reported as FLUSH, under the
 * store's background lock only). NULL reports nothing. May be called any
 * time: when it returns, the previous sink is not running and will not
 * be called again (so its ARG may be freed). Locks: the background lock.
 */
void store_set_background_sink(struct store *st, store_sink_fn sink,
                               void *arg);

/* ---- commands -------------------------------------------------------- */

/*
 * Allocate an unlinked item for KEY with room for NVALUE bytes of value
 * (the store writes the trailing "\r\n"). EXPLICIT_CAS: the item may get
 * a client's CAS (store_set_opt.new_cas), so it also keeps room for its
 * order (8 bytes). May evict (LRU tail of its size class, or a whole page
 * of another class) to make room; an item in use (referenced, or
 * allocated and not yet stored) is never evicted.
 * Returns the item with one reference, or NULL and *rc = STORE_ETOOLARGE
 * (item would exceed item_size_max) / STORE_ENOMEM / STORE_EINVAL (key
 * empty or longer than STORE_KEY_MAX).
 * Ownership: caller fills item_value_mut(), then passes it to store_set()
 * or store_restore(), or drops it with item_unref().
 * Locks: class lock, tries stripe locks while evicting. Blocks: briefly.
 */
struct item *store_alloc(struct store *st, const char *key, size_t nkey,
                         uint32_t flags, uint32_t exptime, size_t nvalue,
                         bool explicit_cas, int *rc);

/*
 * get, gets, gat, gats, touch, mg, me: look KEY up and, atomically under
 * its stripe lock, apply OPT (NULL or all zero: a plain get). A hit marks
 * the item accessed (access time, "fetched", LRU second chance) unless
 * NO_BUMP. Expired or flushed items are unlinked and count as a miss
 * (RES->expired). A bad key length is a miss.
 */
struct store_get_opt {
    bool peek;              /* me: change nothing (no bump, no win, no */
                            /* touch), only report */
    bool no_bump;           /* leave atime, LRU and "fetched" alone */
    bool touch;             /* set the expiry to EXPTIME (TOUCH change) */
    uint32_t exptime;       /* absolute, with touch */
    bool recache;           /* win when 0 < remaining TTL < RECACHE_BELOW */
    uint32_t recache_below;
    bool recache_after_touch; /* judge the TTL the touch set */
    bool vivify;            /* on a miss, link an empty item and win */
    uint32_t vivify_exptime;
    uint64_t new_cas;       /* CAS of a vivified item (0: the counter) */
};

struct store_get_res {
    struct item *it;        /* new reference (caller unrefs), or NULL */
    bool expired;           /* the miss found an expired/flushed item */
    bool fetched_before;    /* fetched before this access */
    uint32_t atime_before;  /* last access before this one */
    uint32_t exptime_before;/* expiry before a touch (0 if vivified) */
    bool won;               /* this client recaches (W; MARK change) */
    bool already_won;       /* another client was told W (Z) */
    bool stale;             /* the item is stale (X) */
    bool vivified;          /* the item was created by this call (LINK) */
};

/*
 * Returns STORE_OK (RES->it set) or STORE_MISS; STORE_ENOMEM /
 * STORE_ETOOLARGE when vivifying failed. RES is always filled.
 * Thread: the session's. Locks: the key's stripe lock (class lock to
 * vivify). Blocks: never for long.
 */
int store_get(struct store_session *ses, const char *key, size_t nkey,
              const struct store_get_opt *opt, struct store_get_res *res);

enum store_mode {
    STORE_SET = 0,
    STORE_ADD,      /* only if absent; ignores has_cas */
    STORE_REPLACE,  /* only if present (or has_cas: compared) */
    STORE_APPEND,   /* existing value + new value; keeps flags/exptime */
    STORE_PREPEND,  /* new value + existing value */
};

/*
 * set, add, replace, append, prepend, cas, ms. All zero: set.
 * The classic cas command is STORE_SET with has_cas.
 */
struct store_set_opt {
    enum store_mode mode;
    bool has_cas;           /* compare with CAS, even 0 (a miss: MISS) */
    uint64_t cas;
    bool invalidate;        /* with has_cas, set/replace: an older CAS */
                            /* stores the value stale, keeping the old */
                            /* item's expiry (1.6.18) */
    uint64_t new_cas;       /* explicit CAS (0: the counter); IT must come */
                            /* from store_alloc(.., explicit_cas) */
    bool key_binary;        /* the key was sent base64 (STATE_KEY_BINARY) */
    bool vivify;            /* append/prepend on a miss store IT as is */
    uint32_t vivify_exptime;
};

struct store_set_res {
    uint64_t cas;           /* the new item's CAS */
    uint32_t size;          /* the stored value's length */
};

/*
 * Link IT (unlinked, from store_alloc) under its key as OPT says (NULL:
 * set). APPEND/PREPEND build a new combined item (allocating, possibly
 * evicting) and link that. Order of checks (memcached 1.6.18): add
 * ignores the CAS; append/prepend are NOT_STORED on a miss before the
 * CAS is compared; replace is NOT_STORED on a miss without has_cas.
 * Returns STORE_OK (RES filled when not NULL), STORE_NOT_STORED,
 * STORE_EXISTS, STORE_MISS (has_cas on an absent key), STORE_ENOMEM or
 * STORE_ETOOLARGE (append result), STORE_EINVAL (IT linked or NULL).
 * Ownership: IT stays the caller's reference either way; unref it after.
 * Locks: the key's stripe lock; class locks for APPEND/PREPEND.
 */
int store_set(struct store_session *ses, struct item *it,
              const struct store_set_opt *opt, struct store_set_res *res);

/* delete, md. All zero: delete. */
struct store_del_opt {
    bool has_cas;           /* must match (else EXISTS) */
    uint64_t cas;
    bool invalidate;        /* keep the item, stale, under a new CAS */
    bool strip;             /* keep the item with an empty value */
    bool touch;             /* with invalidate/strip: new expiry */
    uint32_t exptime;
    uint64_t new_cas;       /* with invalidate/strip (0: the counter) */
};

/*
 * Delete KEY (UNLINK change), or with invalidate/strip replace it by a
 * copy that is stale and/or empty under a new CAS (LINK change).
 * Returns STORE_OK, STORE_MISS, STORE_EXISTS or STORE_ENOMEM.
 * Locks: stripe lock, class lock. Blocks: briefly.
 */
int store_delete(struct store_session *ses, const char *key, size_t nkey,
                 const struct store_del_opt *opt);

/* incr, decr, ma. All zero but DELTA: incr. */
struct store_arith_opt {
    bool decr;              /* decr stops at 0; incr wraps at 2^64 */
    uint64_t delta;
    bool has_cas;           /* must match (else EXISTS) */
    uint64_t cas;
    uint64_t new_cas;       /* explicit CAS of the result (0: counter) */
    bool vivify;            /* create INITIAL on a miss */
    uint64_t initial;
    uint32_t vivify_exptime;
    bool touch;             /* new expiry on success */
    uint32_t exptime;
};

struct store_arith_res {
    uint64_t value;         /* the new number */
    uint64_t cas;
    uint32_t exptime;       /* absolute, 0 = never */
    uint32_t exptime_before;/* before a touch (0 if vivified) */
    bool vivified;
};

/*
 * incr/decr the decimal u64 value of KEY, as memcached 1.6: an empty
 * value is NON_NUMERIC before the CAS is compared; the value is a number
 * if it has optional leading white space, at least one digit (leading
 * zeros allowed), no overflow, then its end or white space (the rest is
 * ignored). A result shorter than the old value is padded with spaces to
 * the old length (decr "10" by 1 -> "9 "). The new item keeps flags and
 * exptime (unless touch). On a miss with vivify the item is created
 * holding INITIAL (flags 0, VIVIFY_EXPTIME).
 * Returns STORE_OK, STORE_MISS, STORE_NON_NUMERIC, STORE_EXISTS,
 * STORE_ENOMEM or STORE_EINVAL (key length). Locks: stripe, class.
 */
int store_arith(struct store_session *ses, const char *key, size_t nkey,
                const struct store_arith_opt *opt,
                struct store_arith_res *res);

/*
 * Invalidate every item stored before store time WHEN (0 or a past time:
 * now), as memcached's flush_all [delay]. When the flush takes effect it
 * takes a fresh CAS value: items whose CAS order is below it are dead,
 * items stored after it live (FLUSH change). A later call replaces a
 * pending delayed one (FLUSH_AT change). Lazy: items are reclaimed on
 * access or by the sweep; the next snapshot is a full rewrite.
 * Thread: the session's. Locks: none. Blocks: only in the sink.
 */
void store_flush(struct store_session *ses, uint32_t when);

/* ---- counters -------------------------------------------------------- */

/* Highest CAS handed out so far. */
uint64_t store_cas_current(const struct store *st);

/* Raise the counter so that the next CAS is > FLOOR (never lowers it). */
void store_cas_floor(struct store *st, uint64_t floor);

/*
 * Highest change sequence number handed out (store_change.seq). Every
 * change a client makes takes the next one when its session has a sink
 * or the change log is on (changelog_max > 0), so the difference of two
 * readings counts the client changes between them.
 */
uint64_t store_seq_current(const struct store *st);

/* Raise the change sequence so that the next one is > FLOOR. */
void store_seq_floor(struct store *st, uint64_t floor);

/* A pending delayed flush_all (unix time), or 0. */
uint32_t store_flush_pending(const struct store *st);

/*
 * Durable CAS reservation hook for the persistence layer. After a write
 * whose CAS passed LIMIT, the writing thread calls FN(ARG, cas + STEP)
 * with no store lock held and takes the returned value as the new limit
 * (one caller at a time; others go on). The store keeps handing out CAS
 * values regardless, so a failing hook only weakens the guarantee. NULL
 * FN disables it. Call before worker threads use the store.
 */
typedef uint64_t (*store_cas_reserve_fn)(void *arg, uint64_t want_limit);
void store_cas_set_reserve(struct store *st, store_cas_reserve_fn fn,
                           void *arg, uint64_t limit, uint64_t step);

/* ---- snapshot hooks: iteration, change log, restore ----------------- */

/*
 * The hash that places KEY in the table, and orders keys in snapshots:
 * XXH3-64 (seed 0) of its NKEY bytes, the same function as
 * snapshot/format.h's snapfmt_key_hash(). Buckets and lock stripes are
 * taken from its top bits, so threads that split the keys into
 * contiguous ranges of this hash (loaders, journal appliers) rarely meet
 * on a lock or a cache line. Thread: any. Blocks: never.
 */
uint64_t store_key_hash(const char *key, size_t nkey);

/*
 * Call FN(ARG, it) for every live item in ascending key order: by
 * store_key_hash(), then the key's bytes (memcmp), then the shorter key
 * first (the order of format 3 snapshots). It is store_walk_step()'s walk
 * in steps of a few hundred items: each step's whole buckets are
 * referenced under their stripe's lock, the lock is dropped, they are
 * sorted, FN runs, the references are dropped. Writers wait at most one
 * step's copy. Each item live throughout the walk is visited exactly
 * once, across table growth; one linked or unlinked meanwhile may or may
 * not be (the change log has it).
 * FN must not keep IT beyond the call (item_ref it to do so). Returning
 * non-zero from FN stops the walk and is returned.
 * Thread: any except a worker needing low latency. Blocks: briefly.
 */
typedef int (*store_item_fn)(void *arg, struct item *it);
int store_foreach(struct store *st, store_item_fn fn, void *arg);

/*
 * A resumable walk over every live item, for listings that must not
 * stall other clients however many keys there are (lru_crawler
 * metadump): each step references a few items under one stripe lock at
 * a time, then calls FN with no lock held. The walk goes in hash order
 * and remembers a position in the hash space, not a bucket number, so it
 * survives the table growing between steps: an item linked for the
 * whole walk is visited exactly once; one linked or unlinked meanwhile
 * may or may not be. Expired and flushed items are skipped.
 * Initialise with store_walk_init(); free with store_walk_release().
 */
struct store_walk {
    unsigned stripe;        /* next stripe; done at the stripe count */
    uint64_t cursor;        /* next position in it (left aligned) */
    struct item **batch;    /* owned: references of one step */
    size_t cap;
};

void store_walk_init(struct store_walk *w);
void store_walk_release(struct store_walk *w);

/* Whether W has visited every stripe. */
bool store_walk_done(const struct store_walk *w);

/*
 * Visit about MAX (>= 1) more items from where W stopped: whole
 * buckets are referenced under their stripe's lock, then FN(ARG, it) is
 * called for each with no lock held (FN must not keep IT; returning
 * non-zero stops calling it for this step and is returned). Returns 0,
 * FN's non-zero result, or STORE_ENOMEM (W's batch could not grow; W
 * stays where it was). Thread: one at a time per W, any thread. Locks:
 * one stripe lock at a time, briefly. Blocks: briefly.
 */
int store_walk_step(struct store *st, struct store_walk *w, size_t max,
                    store_item_fn fn, void *arg);

/*
 * Call FN(ARG, it) for the live items of size class ID (0: the large
 * items), most recently used first, until FN returns non-zero (which is
 * returned) or the class ends (0). FN runs under the class lock, like a
 * sink: it must be quick, must not call the store and must not keep IT;
 * the caller bounds the walk by stopping (stats cachedump: 2 MB of
 * lines, as memcached). Returns STORE_EINVAL for an ID that is no class
 * (>= STORE_CLASS_IDS). Locks: the class lock, for the whole walk.
 */
typedef int (*store_lru_fn)(void *arg, const struct item *it);
int store_class_lru(struct store *st, unsigned id, store_lru_fn fn,
                    void *arg);

/* Size class ids: 0 (large items) to STORE_CLASS_IDS - 1. */
#define STORE_CLASS_IDS 256

/*
 * Change log (only when changelog_max > 0). Every change (see the
 * invariants) records its key once per epoch in its stripe's change log
 * (a key deleted and re-added within an epoch may be recorded twice).
 * store_changes_take() starts a new
 * epoch and hands over what the old one recorded: for each recorded key,
 * FN(ARG, key, nkey, it) is called with the key's current live item (a
 * borrowed reference, valid during the call) or NULL when the key is gone
 * (a tombstone). Keys come in store_foreach()'s order, each once (a
 * key the epoch recorded twice is handed over once).
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
 * A change read back from a snapshot or a journal (store_restore()).
 * LINK: IT from store_alloc(), value filled, not linked; CAS its CAS
 * (explicit when IT was allocated with explicit_cas, then ORDER is its
 * flush order; else the counter is raised to CAS); BITS its state;
 * ATIME its last access; LRU_TAIL adds it at the LRU tail (a loader
 * going from the most recent to the oldest). UNLINK, TOUCH, MARK name
 * KEY; TOUCH and MARK apply only to the item whose CAS is CAS. FLUSH:
 * CAS is the threshold. FLUSH_AT: WHEN (0: none pending).
 */
struct store_restore {
    enum store_change_kind kind;
    struct item *it;
    const char *key;
    size_t nkey;
    uint64_t cas;
    uint64_t order;
    unsigned bits;
    uint32_t exptime;
    uint32_t atime;
    uint32_t when;
    bool lru_tail;
};

/*
 * Apply R as it happened: the replaced or deleted item is unlinked, a
 * LINK flushed by an earlier FLUSH is not linked. Items are found and
 * linked whether or not they have expired since (a later TOUCH may apply
 * to them); expired ones are reclaimed as usual afterwards.
 * Reports nothing to any sink and records nothing in the change log: the
 * caller restores what is already on disk. Returns STORE_OK, STORE_MISS
 * (nothing to apply it to; a dead LINK), STORE_EINVAL (IT already
 * linked, bad key). IT stays the caller's reference.
 * Thread: one loader at a time per key. Locks: stripe, class.
 */
int store_restore(struct store *st, const struct store_restore *r);

/*
 * Hints for bulk loaders: the key whose store_key_hash() is HV is about
 * to be restored, so start loading its hash bucket into the CPU cache
 * (store_prefetch_bucket), and a few keys later the first item of that
 * bucket's chain (store_prefetch_item). Issued ahead of store_restore()
 * they overlap the two cache misses each lookup in a table of millions
 * of keys costs. Only HV's top 32 bits count. They change nothing; any
 * thread, no lock.
 */
void store_prefetch_bucket(struct store *st, uint64_t hv);
void store_prefetch_item(struct store *st, uint64_t hv);

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
    uint64_t item_size_max;   /* largest item (header, key, value), -I */
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

#endif /* EMBER_STORE_H */
