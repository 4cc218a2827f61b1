/*
 * stats.h -- counters and the `stats` command family.
 *
 * Layer: daemon-private; uses storage/store.h for store-side numbers and
 * snapshot/snapshot.h for persistence numbers, through a struct
 * stats_view handed to stats_render() by its caller: the hub holds
 * counters (and the hook that lists connections), not the services
 * whose numbers it prints.
 *
 * Invariants
 *  - Per-worker counters (struct stats_thread) have exactly one writer,
 *    the worker that owns them. It bumps them with relaxed atomic loads and
 *    stores (plain moves on x86: no lock prefix; each worker's counters
 *    live in its own allocation); readers sum all workers with relaxed
 *    loads. So the hot path takes no lock, and a reader sees each counter
 *    whole.
 *  - Process-wide counters (connections) are atomics in struct stats_hub,
 *    touched once per connection, never per request.
 *  - `stats reset` never writes another thread's counters: it records the
 *    current sums as a baseline (under hub->lock) that later reads
 *    subtract.
 */
#ifndef EMBER_STATS_H
#define EMBER_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct settings;
struct store;
struct snap;
struct reply;

/* Per-worker counters, in the order `stats` prints them. */
#define STATS_THREAD_FIELDS(X) \
    X(cmd_get) X(cmd_set) X(cmd_flush) X(cmd_touch) X(get_hits)          \
    X(get_misses) X(get_expired) X(get_flushed) X(delete_misses)         \
    X(delete_hits) X(incr_misses) X(incr_hits) X(decr_misses)            \
    X(decr_hits) X(cas_misses) X(cas_hits) X(cas_badval) X(touch_hits)   \
    X(touch_misses) X(store_too_large) X(store_no_memory) X(bytes_read)  \
    X(bytes_written) X(conn_yields) X(journal_refused) X(idle_kicks)

#define STATS_DECLARE_ATOMIC(f) _Atomic uint64_t f;
#define STATS_DECLARE_PLAIN(f) uint64_t f;

struct stats_thread {
    STATS_THREAD_FIELDS(STATS_DECLARE_ATOMIC)
};

/* A plain copy of the per-worker counters (sums and baselines). */
struct stats_sums {
    STATS_THREAD_FIELDS(STATS_DECLARE_PLAIN)
};

/* Single-writer increments; only the owning worker may use these. */
#define STATS_ADD(ts, field, n)                                           \
    atomic_store_explicit(&(ts)->field,                                   \
        atomic_load_explicit(&(ts)->field, memory_order_relaxed) + (n),   \
        memory_order_relaxed)
#define STATS_INCR(ts, field) STATS_ADD(ts, field, 1)

/*
 * `stats conns` asks the server for its connections through this hook so
 * that stats.c need not know workers; FN appends "STAT ..." lines to R.
 */
typedef void (*stats_conns_fn)(void *arg, struct reply *r);

struct stats_hub {
    time_t started;                 /* process start, unix seconds */
    struct stats_thread **threads;  /* owned array, set by stats_attach */
    size_t nthreads;

    atomic_uint_fast64_t curr_connections;
    atomic_uint_fast64_t total_connections;
    atomic_uint_fast64_t rejected_connections;
    atomic_uint_fast64_t connection_structures;
    atomic_int accepting_conns;
    /* --takeover: how long no process accepted (0: not taken over) */
    atomic_uint_fast64_t takeover_accept_gap_us;

    stats_conns_fn conns_fn;
    void *conns_arg;

    pthread_mutex_t lock;           /* guards base */
    struct stats_sums base;         /* guarded by: lock */
};

/* What `stats` reads besides the counters; all borrowed for the call. */
struct stats_view {
    const struct settings *set;
    struct store *st;
    struct snap *snap;              /* NULL without persistence */
};

enum stats_rc {
    STATS_OK = 0,
    STATS_EUNKNOWN = -1,    /* unknown `stats` argument: reply ERROR */
    STATS_ENOMEM = -2,
};

/*
 * Set up HUB for NTHREADS workers (slots filled by stats_attach).
 * Returns STATS_OK or STATS_ENOMEM. Thread: main, before workers start.
 */
int stats_hub_init(struct stats_hub *hub, size_t nthreads);

/* Free what stats_hub_init allocated. Workers must be gone. */
void stats_hub_release(struct stats_hub *hub);

/* Register worker IDX's counters (borrowed; must outlive HUB's use). */
void stats_attach(struct stats_hub *hub, size_t idx, struct stats_thread *ts);

/* Sum all workers' counters into OUT, minus the reset baseline. */
void stats_sum(struct stats_hub *hub, struct stats_sums *out);

/*
 * Answer `stats [ARG]`: "" (general), settings, items, slabs, sizes,
 * conns, reset, with HUB's counters and what VIEW points to (settings,
 * store, snapshot). Appends the whole reply, "END\r\n" (or "RESET\r\n")
 * included, to R; the bytes are compose.c's. Returns STATS_EUNKNOWN
 * (nothing appended) for an argument memcached would answer with ERROR.
 * Ownership: VIEW and ARG are borrowed for the call.
 * Thread: any worker. Locks: store class locks in turn; hub->lock for
 * reset. Blocks: briefly.
 */
int stats_render(struct stats_hub *hub, const struct stats_view *view,
                 const char *arg, size_t narg, struct reply *r);

#endif /* EMBER_STATS_H */
