/*
 * takeover.h -- `emberd --takeover`: a new emberd takes the listening
 * sockets and the data over from the one serving the same
 * --snapshot-dir, with no moment when a connect is refused.
 *
 * Layer: daemon-private. The talk goes over DIR's control socket
 * (handoff.h), one line a message:
 *
 *   new                                 running emberd (the owner)
 *   HELLO pid= listen= port= item_max=  -> checks the options match,
 *                                          holds its snapshots
 *                                       <- OK pid= mem= hash= items=
 *                                          (or NO reason)
 *   loads the snapshot and the journal
 *   while the owner serves
 *   READY                               -> stops accepting, pauses its
 *                                          workers (requests in flight
 *                                          finish), journal durable
 *                                       <- HANDOVER n= stop= drain_us=
 *                                          durable_us= + the listening
 *                                          sockets and the directory
 *                                          lock (SCM_RIGHTS)
 *   the rest of the journal; workers
 *   DONE                                -> <- BYE: it closes each client
 *                                          connection once its replies
 *                                          are written, and exits 0
 *   accepts on the inherited sockets
 *
 * Connects that arrive meanwhile wait in the sockets' queues: the
 * sockets stay open and listening throughout, with the owner's backlog
 * (-b) until the new one's listener_start() sets its own. How long no
 * process accepts -- from the owner's stop (stop=, CLOCK_REALTIME, so
 * that both processes agree) to the new one's loop waiting on the
 * sockets -- the new one logs and shows in `stats`
 * (takeover_accept_gap_us); the owner logs its part. On READY the owner
 * first syncs its journal on a thread while it still serves, so that
 * only the last moment's changes are synced during the pause. Failure at
 * any step leaves one emberd serving with nothing lost: until BYE the
 * owner resumes (its workers read again, it accepts again, its
 * snapshots go on) when the new one sends ABORT, closes or dies, or
 * takes longer than TAKEOVER_PAUSE_MS after READY; the new one then
 * exits non-zero with the reason. If the owner dies, the new one goes on
 * as after a crash (binds the sockets itself, replays all the journal).
 * A second takeover while one runs is refused.
 */
#ifndef EMBER_TAKEOVER_H
#define EMBER_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct listener;
struct logger;
struct settings;
struct snap;
struct store;
struct worker_pool;

/* How long the owner stays paused for the new one after READY. */
#define TAKEOVER_PAUSE_MS 10000u

/* ---- the running emberd ------------------------------------------------ */

/* What the owner's side works with (all borrowed, outliving it). */
struct takeover_env {
    const struct settings *set;
    struct logger *log;
    struct event_base *base;    /* the main loop: control socket events */
    struct listener *ls;
    struct worker_pool *pool;
    struct store *st;
    struct snap *snap;
};

struct takeover_owner;

/*
 * Listen on DIR's control socket (set->snapshot_dir; replacing a stale
 * one) from ENV->base's loop. Once a new emberd has taken over, the loop
 * is broken and takeover_owner_handed_over() is true: the caller then
 * stops as at SIGTERM, and snap_close() writes nothing. Returns 0, or -1
 * with ERRBUF (emberd serves on; takeovers are refused).
 * Ownership: takeover_owner_destroy(). Thread: main.
 */
int takeover_owner_create(const struct takeover_env *env,
                          struct takeover_owner **out, char *errbuf,
                          size_t errlen);

/* Whether the directory and the sockets belong to another emberd now. */
bool takeover_owner_handed_over(const struct takeover_owner *o);

/*
 * Refuse any takeover from now on (telling one in progress WHY), release
 * held snapshots, close the control socket and remove it (not after a
 * handover: the new owner puts its own there); free *OP and set it
 * NULL. No-op on NULL.
 */
void takeover_owner_destroy(struct takeover_owner **op, const char *why);

/* ---- the new emberd ----------------------------------------------------- */

struct takeover_new;

/*
 * Find the emberd serving SET->snapshot_dir and ask: HELLO, then check
 * there is memory for a second copy (MemAvailable, -m). Returns 0, or an
 * exit status (sysexits.h) with the reason in ERRBUF: EX_UNAVAILABLE
 * nobody serves DIR, EX_CONFIG options that do not match, EX_OSERR not
 * enough memory or a refused/failed exchange. Ownership:
 * takeover_new_close(). Thread: main, before loading.
 */
int takeover_new_hello(const struct settings *set, struct logger *log,
                       struct takeover_new **out, char *errbuf,
                       size_t errlen);

/*
 * Loaded: READY, and receive the listening sockets (*NFDS into FDS, up
 * to MAX) and the directory lock (*LOCK_FD), owned by the caller from
 * here on. When the owner has died meanwhile: 0 with *NFDS 0 and
 * *LOCK_FD -1 (bind the sockets, take the lock: as after a crash).
 * Returns 0, or an exit status with ERRBUF (the owner refused: it
 * serves on).
 */
int takeover_new_request(struct takeover_new *tn, int *fds, size_t max,
                         size_t *nfds, int *lock_fd, char *errbuf,
                         size_t errlen);

/*
 * Ready to serve (workers up, before accepting): DONE, and wait for the
 * owner's BYE (or its death). After 0 the directory and the sockets are
 * ours; otherwise (the owner gave up waiting and serves on) an exit
 * status with ERRBUF: write nothing, exit.
 */
int takeover_new_commit(struct takeover_new *tn, char *errbuf,
                        size_t errlen);

/* Tell the owner we give up (WHY), so that it resumes at once. */
void takeover_new_abort(struct takeover_new *tn, const char *why);

/*
 * The MemAvailable line of MEMINFO (the text of /proc/meminfo) in bytes,
 * or UINT64_MAX when there is none (then the check is skipped). Pure.
 */
uint64_t takeover_mem_available(const char *meminfo);

/* The owner's pause, as its HANDOVER told (zeros: an owner too old to
 * tell, or none: the owner had died). */
struct takeover_gap {
    uint64_t stop_wall_us;      /* it stopped accepting (CLOCK_REALTIME) */
    uint64_t drain_us;          /* its requests in flight took this long */
    uint64_t durable_us;        /* then its journal's write and fdatasync */
};

/* What the owner said in its HANDOVER, into *OUT. */
void takeover_new_gap(const struct takeover_new *tn,
                      struct takeover_gap *out);

/*
 * The new emberd is about to wait on the inherited sockets: log at the
 * default level how long no process accepted, from G (copied before
 * takeover_new_close()) and what we did meanwhile: APPLIED changes of
 * the journal's tail applied in APPLY_US, HANDED_WALL_US (CLOCK_REALTIME)
 * when the sockets arrived. Returns the gap in microseconds (0 when the
 * owner did not say when it stopped). Thread: main.
 */
uint64_t takeover_gap_report(struct logger *log,
                             const struct takeover_gap *g,
                             uint64_t handed_wall_us, uint64_t applied,
                             uint64_t apply_us);

/* Microseconds of CLOCK_REALTIME (WALL: the one two processes share) or
 * of CLOCK_MONOTONIC. Thread: any. */
uint64_t takeover_now_us(bool wall);

/* The owner's pid (from its OK). */
long takeover_new_owner_pid(const struct takeover_new *tn);

/* Close the control connection, free *TNP, set it NULL. No-op on NULL. */
void takeover_new_close(struct takeover_new **tnp);

#endif /* EMBER_TAKEOVER_H */
