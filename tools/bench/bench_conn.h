/*
 * bench_conn.h -- one emberbench client connection: it builds a batch of
 * memcached text requests, sends it in one write, and parses and checks
 * the replies as they arrive.
 *
 * Layer: tools/bench/ (emberbench only). libc and POSIX sockets only;
 * no ember header (tools may include only snapshot/format.h).
 *
 * Model: closed loop. A connection holds at most one batch in flight; a
 * batch is 1..depth requests written with one write(2). A reply completes
 * the oldest outstanding request, and its latency is measured from the
 * moment the batch was handed to the kernel to the read(2) that completed
 * the reply. With depth 1 this is plain request latency; with depth N it
 * includes the queueing of the requests ahead of it in the batch.
 *
 * Value contract (what lets the driver check every hit): the value of key
 * i is a slice of the workload's pattern whose offset and length depend
 * only on i, and its flags are i mod 65536. Every set writes exactly that,
 * so every hit must read it back byte for byte.
 *
 * Protocols: memcached text ("set"/"get", replies STORED, VALUE..END,
 * SERVER_ERROR) or, with wl->resp, Redis's RESP ("SET"/"GET" as arrays of
 * bulk strings, replies +OK, $len / $-1, and -ERR..., which counts as a
 * server error), so that one driver loads both with the same closed loop
 * and the same latency measurement.
 *
 * Invariants
 *  - rbuf holds unparsed reply bytes in [rpos, rlen); rlen <= rcap, and
 *    rcap is fixed at create time from depth and the largest value, so a
 *    well-formed batch of replies always fits (hard cap, never grows).
 *  - wbuf holds the batch being sent in [wpos, wlen).
 *  - ninflight == number of ops[] entries not yet answered, from ophead.
 */
#ifndef EMBER_BENCH_CONN_H
#define EMBER_BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/bench/bench_hist.h"

enum bench_rc {
    BENCH_OK = 0,
    BENCH_EPROTO = -1,      /* reply we cannot parse or did not expect */
    BENCH_EVERIFY = -2,     /* a hit returned the wrong key/flags/value */
    BENCH_ECLOSED = -3,     /* server closed the connection */
    BENCH_EIO = -4,         /* socket call failed; see sys_err */
    BENCH_ENOMEM = -5,
    BENCH_ETIMEDOUT = -6,   /* a batch went unanswered for too long */
};

enum bench_op {
    BENCH_OP_GET = 0,
    BENCH_OP_SET = 1,
};

/* What all connections share; read-only once workers start. */
struct bench_workload {
    const char *prefix;         /* key prefix; borrowed for the run */
    size_t nprefix;
    uint64_t nkeys;             /* keys are prefix + 0 .. nkeys-1 */
    size_t size_min;            /* value length range, inclusive */
    size_t size_max;
    size_t reply_max;           /* largest value a get may return, >=
                                 * size_max (another writer's values) */
    const char *pattern;        /* size_max + BENCH_PATTERN_SPAN bytes */
    unsigned depth;             /* max requests per batch */
    bool verify;                /* compare every hit with the contract */
    bool resp;                  /* speak Redis's RESP (SET/GET), not
                                 * memcached text; values carry no flags */
};

#define BENCH_PATTERN_SPAN 4096u
#define BENCH_KEY_MAX 250u

/* Counters for one measurement window; owned by one worker. */
struct bench_stats {
    uint64_t gets;
    uint64_t sets;
    uint64_t hits;
    uint64_t misses;
    uint64_t server_errors;     /* SERVER_ERROR replies (e.g. out of memory) */
    uint64_t bytes_out;
    uint64_t bytes_in;
    struct bench_hist lat;      /* per-request latency, ns */
};

struct bench_pending {
    uint64_t key;
    enum bench_op op;
};

struct bench_conn {
    int fd;
    const struct bench_workload *wl;
    uint64_t batch_start_ns;    /* when the current batch was written */
    struct bench_pending *ops;  /* depth entries */
    unsigned nops;              /* requests in the current batch */
    unsigned ophead;            /* oldest unanswered */
    unsigned ninflight;
    char *wbuf;
    size_t wcap, wpos, wlen;
    char *rbuf;
    size_t rcap, rpos, rlen;
    bool want_write;            /* EPOLLOUT armed */
    uint64_t window_ops;        /* replies in the measured window; kept by
                                 * the owner (fairness across connections) */
    char err[256];              /* last error, for the report */
};

/*
 * Connect to HOST:PORT (numeric or name) within TIMEOUT_MS; the socket is
 * non-blocking, close-on-exec, with TCP_NODELAY.
 * Returns the fd (owned by the caller) or -1 with a message in ERR
 * (ERRLEN bytes).
 * Thread: any. Blocks: on name resolution and up to TIMEOUT_MS in connect.
 */
int
bench_connect(const char *host, const char *port, int timeout_ms, char *err,
              size_t errlen);

/*
 * Wrap the connected non-blocking socket FD (ownership passes to the
 * connection, even on failure) and allocate buffers sized for WL. WL is
 * borrowed and must outlive the connection.
 * Returns BENCH_OK and *out (owned; free with bench_conn_destroy), or
 * BENCH_ENOMEM (FD closed).
 * Thread: any. Blocks: never.
 */
int
bench_conn_create(struct bench_conn **out, int fd,
                  const struct bench_workload *wl);

/*
 * Close the socket, free the buffers and set *cp to NULL. No-op on NULL.
 * Thread: the owner. Blocks: never.
 */
void
bench_conn_destroy(struct bench_conn **cp);

/*
 * Build one batch from OPS[0..n-1] (1 <= n <= wl->depth; OPS is copied)
 * and try to write it all now. Must only be called with ninflight == 0.
 * On a short write the rest stays in wbuf and want_write is set: call
 * bench_conn_flush() when the socket is writable.
 * Returns BENCH_OK or BENCH_EIO/BENCH_ECLOSED (message in c->err).
 * Thread: the owner. Blocks: never (non-blocking socket).
 */
int
bench_conn_send(struct bench_conn *c, const struct bench_pending *ops,
                unsigned n, uint64_t now_ns, struct bench_stats *st);

/*
 * Write what is left of the current batch. Clears want_write when done.
 * Returns BENCH_OK or BENCH_EIO/BENCH_ECLOSED (message in c->err).
 * Thread: the owner. Blocks: never.
 */
int
bench_conn_flush(struct bench_conn *c, struct bench_stats *st);

/*
 * Read once and consume every complete reply, counting it in ST and
 * recording its latency up to the moment the read returned.
 * Returns 1 when this read completed the batch (ninflight is now 0), 0
 * when it did not (EAGAIN, a partial reply, or some of the batch still
 * due), or a negative bench_rc with a message in c->err: bytes arriving
 * while no request is outstanding are a protocol error.
 * Thread: the owner. Blocks: never.
 */
int
bench_conn_on_readable(struct bench_conn *c, struct bench_stats *st);

/*
 * Length of key I's value and its first byte in wl->pattern, per the
 * value contract above. Thread: any. Blocks: never.
 */
size_t
bench_value_len(const struct bench_workload *wl, uint64_t i);
const char *
bench_value_ptr(const struct bench_workload *wl, uint64_t i);

/* Static description of RC. Thread: any. */
const char *
bench_strerror(int rc);

/* Monotonic clock in nanoseconds. Thread: any. Blocks: never. */
uint64_t
bench_now_ns(void);

#endif /* EMBER_BENCH_CONN_H */
