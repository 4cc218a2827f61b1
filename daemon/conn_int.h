/*
 * conn_int.h -- what conn.c and conn_journal.c share: the connection
 * and the steps of its cycle. Private to daemon/conn*.c; the rest of
 * emberd uses conn.h.
 */
#ifndef EMBER_DAEMON_CONN_INT_H
#define EMBER_DAEMON_CONN_INT_H

#include "daemon/conn.h"

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

struct conn {
    struct conn_env *env;
    int fd;
    struct event rev;
    struct event wev;
    bool reading;               /* rev is registered */
    bool writing;               /* wev is registered */
    bool closing;               /* close once output is written */
    bool blocked;               /* output over out_cap: not executing */
    bool yielded;               /* -R reached: resume without a read */
    bool wake_set;              /* wake has been assigned */
    struct event wake;          /* fired when snapjob completes */
    struct snapcmd *snapjob;    /* `snapshot` in flight: parked until done */
    bool deferred;              /* replies wait for the journal commit */
    struct conn *defer_next;    /* env->deferred list */
    bool snap_quiet;            /* `snapshot noreply`: answer nothing */

    struct proto_more more;     /* a get line arriving in pieces */
    struct exec_resume resume;  /* a multi-get stopped at its limit; its
                                 * keys pin rbuf: no read, no compaction */
    size_t resume_len;          /* its request's bytes, consumed at end */

    char *rbuf;                 /* owned or NULL (idle); rlen <= rcap */
    size_t rpos;                /* parsed up to here */
    size_t rlen;
    size_t rcap;
    size_t need;                /* parser's total for the current request */
    size_t swallow;             /* refused data block bytes still to drop */

    struct reply out;
    _Atomic uint32_t last_active;   /* store time; read by stats conns */
    char peer[64];              /* "tcp:addr:port", for stats conns */

    struct conn *prev;          /* guarded by: env->lock */
    struct conn *next;
};

/* ---- conn.c ---- */

/* Close C (output unsent is dropped) and free it. */
void conn_close(struct conn *c);
/* Register or unregister C's read event. */
void conn_set_reading(struct conn *c, bool on);
/* Write what C's reply holds; false when C was closed (and freed). */
bool conn_flush_out(struct conn *c);
/* Execute what is buffered and write the replies (or defer them); false
 * when C was closed (and freed). */
bool conn_drive(struct conn *c);
/* After a pass: buffers back, reading on or off, a yielded rest. */
void conn_settle(struct conn *c);

/* ---- conn_journal.c: replies wait for the journal ---- */

/* Whether ENV's journal channel holds changes not yet written. */
bool conn_journal_pending(const struct conn_env *env);
/* Write them now if that keeps the order and the fsync policy allows;
 * true when written (or nothing was pending). */
bool conn_commit_now(struct conn_env *env);
/* Park C until the worker's next commit; conn_defer_remove() unparks. */
void conn_defer(struct conn *c);
void conn_defer_remove(struct conn *c);
/* The changes C's replies acknowledge are journaled: send them. */
void conn_resume(struct conn *c);
/* ENV's retry timer: a wake-up for the pass's end to commit again. */
void conn_on_retry(evutil_socket_t fd, short what, void *arg);

#endif
