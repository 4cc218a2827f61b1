/*
 * worker.h -- the pool of worker threads that own client connections.
 *
 * Layer: daemon-private. Each worker runs its own libevent base in its
 * own thread and owns its connections outright: no other thread touches
 * a connection, so request handling takes no daemon lock (only the
 * store's stripe lock, inside the store).
 *
 * Hand-off: the listener thread accepts, then worker_pool_dispatch()
 * pushes the fd onto the next worker's queue (round-robin) under that
 * worker's queue lock and pokes its eventfd. The worker drains the queue
 * from its event loop.
 *
 * Shutdown: worker_pool_stop() asks every worker to drain (stop reading,
 * finish writing pending replies, close), waits up to a deadline, then
 * joins the threads.
 */
#ifndef EMBER_WORKER_H
#define EMBER_WORKER_H

#include <stddef.h>

struct settings;
struct store;
struct snap;
struct stats_hub;
struct logger;
struct worker_pool;

/*
 * Create NTHREADS (settings->threads) workers with their event bases,
 * eventfds and counters, registered with HUB. Each worker's executor
 * gets ST, SNAP (NULL without persistence: `snapshot` is refused) and
 * HUB. Starts no thread. Returns NULL with *sys_err set on failure.
 * Ownership: caller frees with worker_pool_destroy(); SET, ST, SNAP, HUB
 * and LOG are borrowed and must outlive the pool.
 */
struct worker_pool *worker_pool_create(const struct settings *set,
                                       struct store *st, struct snap *snap,
                                       struct stats_hub *hub,
                                       struct logger *log, int *sys_err);

/* Start the threads. Returns 0 or an errno value (then none run). */
int worker_pool_start(struct worker_pool *pool);

/*
 * Give accepted socket FD (non-blocking) to the next worker. On failure
 * (queue allocation) returns an errno value and the caller still owns FD.
 * Thread: the listener. Locks: that worker's queue lock, briefly.
 */
int worker_pool_dispatch(struct worker_pool *pool, int fd);

/*
 * Drain and join every worker: pending replies are written for at most
 * DRAIN_MS milliseconds, then remaining connections are closed.
 * Thread: main. Blocks: until the threads exit.
 */
void worker_pool_stop(struct worker_pool *pool, unsigned drain_ms);

/*
 * A takeover: every worker stops reading and executing requests (those
 * already read wait), writes the journal of what it changed, and says
 * so; replies already made still go out. Returns 0 once all have, or
 * ETIMEDOUT after TIMEOUT_MS (some could not write their journal): call
 * worker_pool_resume() either way when the takeover does not happen.
 * Thread: main. Blocks: up to TIMEOUT_MS.
 */
int worker_pool_pause(struct worker_pool *pool, unsigned timeout_ms);

/* Run again: execute what waited, read again. Thread: main. */
void worker_pool_resume(struct worker_pool *pool);

/* Free the pool (stopping it first if needed); NULLs *poolp. */
void worker_pool_destroy(struct worker_pool **poolp);

#endif /* EMBER_WORKER_H */
