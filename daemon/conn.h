/*
 * conn.h -- one client connection: read, parse, execute, write.
 *
 * Layer: daemon-private; libevent, daemon/proto.h, daemon/exec.h. A
 * connection belongs to one worker thread and is only touched by it
 * (except the list fields `stats conns` reads under env->lock).
 *
 * The cycle, per readable event:
 *   one read() into the read buffer -> parse + execute every complete
 *   request in order (replies gathered in c->out) -> one writev().
 * Pipelined requests therefore cost one read and one write per batch.
 * After -R requests from one event the connection yields (conn_yields):
 * its replies so far are written and the rest of its buffer waits for the
 * next loop iteration, so one deep pipeline cannot starve the others.
 *
 * Invariants
 *  - The read buffer never exceeds env->rbuf_max (item_size_max plus the
 *    longest request line); a request that cannot fit is refused by the
 *    parser first.
 *  - While pending output exceeds env->out_cap the connection stops
 *    reading and executing, so a client that never reads cannot make the
 *    server buffer without bound.
 *  - A connection holds a read buffer only while it has unparsed bytes
 *    and reply buffers only while it has output pending: an idle
 *    connection costs its struct, not 22 KiB.
 *  - A read event is registered only while the connection may read, a
 *    write event only while output is pending: the common request costs
 *    no epoll_ctl.
 *  - With a journal, no reply leaves before the changes it acknowledges
 *    (and every change made before it by this worker) are written to the
 *    journal: see conn_env_end_pass().
 */
#ifndef EMBER_CONN_H
#define EMBER_CONN_H

#include "daemon/exec.h"
#include "daemon/proto.h"
#include "daemon/reply.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONN_RBUF_CACHE 64

struct event_base;
struct event;
struct snap_jchan;
struct conn;

/* Per-worker state shared by that worker's connections. */
struct conn_env {
    struct event_base *base;        /* the worker's, borrowed */
    struct exec_ctx cx;             /* borrowed pointers, set by worker */
    struct proto_limits lim;
    size_t rbuf_initial;            /* bytes, first read buffer */
    size_t rbuf_max;                /* bytes, hard cap of a read buffer */
    /* Idle connections hold no read buffer: an emptied rbuf_initial
     * buffer goes back here and the next read takes one (a pointer
     * pop, not a malloc). At most CONN_RBUF_CACHE are kept. */
    char *rbuf_cache[CONN_RBUF_CACHE];
    unsigned nrbuf_cache;
    struct reply_pool replies;      /* likewise for reply buffers */
    size_t out_cap;                 /* reply weight that pauses a conn */
    size_t out_budget;              /* bytes: all replies' mem (replies.
                                     * held) past which a connection
                                     * holding OUT_FLOOR or more waits */
    unsigned idle_timeout;          /* seconds, 0 = never */
    unsigned reqs_per_event;        /* -R: then yield to other clients */
    bool stopping;                  /* draining for shutdown */
    struct snap_jchan *jch;         /* this worker's journal, or NULL */
    struct conn *deferred;          /* replies waiting for its commit */
    struct event *retry_ev;         /* wakes the loop to retry it */
    long long failing_since;        /* unix time the commit began to */
                                    /* fail, 0 while it works */
    unsigned nconns;                /* guarded by: lock (written by owner) */
    struct conn *head;              /* guarded by: lock */
    pthread_mutex_t lock;           /* list membership, for stats conns */
};

/*
 * Fill ENV's limits from CX->set (rbuf_max, out_cap, parser limits).
 * Returns 0 or an errno value (mutex init). Thread: the worker's, or
 * before it starts.
 */
int conn_env_init(struct conn_env *env, struct event_base *base,
                  const struct exec_ctx *cx);

/*
 * After each event-loop pass: write the worker's journal channel once,
 * then send the replies that waited for it (connections whose requests
 * changed something). While the journal cannot be written they keep
 * waiting (a timer retries); after a while they are closed unanswered.
 * Thread: ENV's worker. Blocks: the journal write (and fsync, always).
 */
void conn_env_end_pass(struct conn_env *env);

/* Close every connection without flushing. Thread: ENV's worker. */
void conn_env_close_all(struct conn_env *env);

/* conn_env_close_all(), then free ENV's lock. */
void conn_env_release(struct conn_env *env);

/*
 * Adopt accepted socket FD (already non-blocking): set TCP_NODELAY,
 * allocate the connection and start reading. On failure the caller still
 * owns FD. Returns 0 or an errno value.
 * Thread: ENV's worker. Blocks: never.
 */
int conn_create(struct conn_env *env, int fd);

/*
 * Close connections idle for idle_timeout seconds as of NOW (store
 * time). Thread: ENV's worker.
 */
void conn_env_sweep_idle(struct conn_env *env, uint32_t now);

/*
 * Begin shutdown: stop reading everywhere; connections with output
 * pending keep writing it and close when done, the others close now.
 * Returns the number of connections still draining; when the last one
 * closes, ENV's event base loop is broken (the worker then exits).
 */
unsigned conn_env_drain(struct conn_env *env);

/*
 * Append "STAT <fd>:addr ..." lines for ENV's connections to R.
 * Thread: any. Locks: env->lock.
 */
void conn_env_describe(struct conn_env *env, struct reply *r);

#endif /* EMBER_CONN_H */
