/*
 * conn.c -- a client connection's read/parse/execute/write cycle
 * (see conn.h).
 */
#include "config.h"

#include "daemon/conn_int.h"

#include "daemon/compose.h"
#include "daemon/log.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/snapcmd.h"
#include "daemon/stats.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF_INITIAL (16u * 1024u)
#define OUT_CAP (4u * 1024u * 1024u)
#define LINE_MAX_BYTES 2048u
/* get key lists may be long (memcached streams them); bound them by -I */
#define GET_LINE_MIN (64u * 1024u)
/*
 * Output memory. A connection always may run while its reply weighs
 * (reply_weight: bytes to write + heap held) less than OUT_FLOOR; past
 * that, only while the worker's replies together hold less than its
 * share of OUT_BUDGET, and never past out_cap. A multi-get produces at
 * most OUT_CHUNK more before its reply is written.
 */
#define OUT_FLOOR (8u * 1024u)
#define OUT_BUDGET ((size_t)16 << 20)
#define OUT_CHUNK (256u * 1024u)


int
conn_env_init(struct conn_env *env, struct event_base *base,
              const struct exec_ctx *cx)
{
    const struct settings *set = cx->set;
    /* a storage request: its line, "\r\n", the value and its "\r\n" */
    size_t data_max = LINE_MAX_BYTES + 2 + set->item_size_max + 2;
    size_t get_max = set->item_size_max > GET_LINE_MIN ? set->item_size_max
                                                       : GET_LINE_MIN;

    memset(env, 0, sizeof(*env));
    env->base = base;
    env->cx = *cx;
    env->lim.item_size_max = set->item_size_max;
    env->lim.line_max = LINE_MAX_BYTES;
    env->lim.line_whole_max = RBUF_INITIAL;
    env->lim.get_line_max = get_max;
    env->lim.get_piece_min = RBUF_INITIAL;  /* never a bigger buffer */
    env->rbuf_initial = RBUF_INITIAL;
    env->rbuf_max = data_max > get_max + 2 ? data_max : get_max + 2;
    env->out_cap = OUT_CAP;
    env->out_budget = OUT_BUDGET / (set->threads > 0 ? set->threads : 1);
    env->idle_timeout = set->idle_timeout;
    env->reqs_per_event = set->reqs_per_event;
    env->retry_ev = evtimer_new(base, conn_on_retry, env);
    if (env->retry_ev == NULL) {
        return ENOMEM;
    }
    return pthread_mutex_init(&env->lock, NULL);
}

/* ---- lifecycle ------------------------------------------------------- */

void
conn_set_reading(struct conn *c, bool on)
{
    if (on != c->reading) {
        if (on) {
            event_add(&c->rev, NULL);
        } else {
            event_del(&c->rev);
        }
        c->reading = on;
    }
}

static void
set_writing(struct conn *c, bool on)
{
    if (on != c->writing) {
        if (on) {
            event_add(&c->wev, NULL);
        } else {
            event_del(&c->wev);
        }
        c->writing = on;
    }
}

/* Give an empty read buffer back (cache the common size, free others). */
static void
rbuf_put(struct conn *c)
{
    struct conn_env *env = c->env;

    if (c->rbuf == NULL) {
        return;
    }
    if (c->rcap == env->rbuf_initial && env->nrbuf_cache < CONN_RBUF_CACHE) {
        env->rbuf_cache[env->nrbuf_cache++] = c->rbuf;
    } else {
        free(c->rbuf);
    }
    c->rbuf = NULL;
    c->rcap = 0;
    c->rlen = 0;
    c->rpos = 0;
}

static bool
rbuf_get(struct conn *c)
{
    struct conn_env *env = c->env;

    if (env->nrbuf_cache > 0) {
        c->rbuf = env->rbuf_cache[--env->nrbuf_cache];
    } else if ((c->rbuf = malloc(env->rbuf_initial)) == NULL) {
        return false;
    }
    c->rcap = env->rbuf_initial;
    return true;
}

void
conn_close(struct conn *c)
{
    struct conn_env *env = c->env;

    conn_set_reading(c, false);
    set_writing(c, false);
    if (c->deferred) {
        conn_defer_remove(c);
    }
    if (c->wake_set) {
        snapcmd_cancel(&c->snapjob);
        event_del(&c->wake);
    }
    pthread_mutex_lock(&env->lock);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        env->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    env->nconns--;
    pthread_mutex_unlock(&env->lock);
    log_msg(env->cx.log, LOG_LVL_DEBUG, "<%d connection closed (%s)", c->fd,
            c->peer);
    exec_resume_release(&c->resume);    /* a metadump's walk */
    reply_release(&c->out);
    rbuf_put(c);
    close(c->fd);
    atomic_fetch_sub(&env->cx.hub->curr_connections, 1);
    atomic_fetch_sub(&env->cx.hub->connection_structures, 1);
    free(c);
    if (env->stopping && env->nconns == 0) {
        event_base_loopbreak(env->base);
    }
}

/* A -s client: "unix:<the socket's path>" (the client has no name). */
static void
describe_unix(struct conn *c)
{
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);

    memset(&sun, 0, sizeof(sun));
    if (getsockname(c->fd, (struct sockaddr *)&sun, &len) != 0) {
        sun.sun_path[0] = '\0';
    }
    sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
    snprintf(c->peer, sizeof(c->peer), "unix:%.58s", sun.sun_path);
}

static void
describe_peer(struct conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;

            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        } else if (ss.ss_family == AF_UNIX) {
            describe_unix(c);
            return;
        }
    }
    snprintf(c->peer, sizeof(c->peer), "tcp:%s:%u", host, port);
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

int
conn_create(struct conn_env *env, int fd)
{
    struct conn *c;
    int one = 1;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ENOMEM;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->env = env;
    c->fd = fd;
    reply_init(&c->out);
    reply_set_pool(&c->out, &env->replies);
    atomic_init(&c->last_active, store_now(env->cx.st));
    describe_peer(c);
    event_assign(&c->rev, env->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wev, env->base, fd, EV_WRITE | EV_PERSIST, on_write,
                 c);
    pthread_mutex_lock(&env->lock);
    c->next = env->head;
    if (env->head != NULL) {
        env->head->prev = c;
    }
    env->head = c;
    env->nconns++;
    pthread_mutex_unlock(&env->lock);
    atomic_fetch_add(&env->cx.hub->connection_structures, 1);
    log_msg(env->cx.log, LOG_LVL_DEBUG, "<%d new client connection from "
            "%s", fd, c->peer);
    conn_set_reading(c, !env->paused);
    return 0;
}

/* ---- reading and executing ------------------------------------------- */

/*
 * Make room for the next read: compact parsed bytes away, give back a
 * buffer a big value inflated, grow toward what the parser asked for.
 * Returns false when the request cannot fit (the connection must close).
 */
static bool
prepare_rbuf(struct conn *c)
{
    struct conn_env *env = c->env;
    size_t want;
    char *p;

    if (c->rbuf == NULL && !rbuf_get(c)) {
        return false;
    }
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen < c->rcap && c->need <= c->rcap) {
        return true;
    }
    want = c->need > c->rcap ? c->need : c->rcap * 2;
    if (want > env->rbuf_max) {
        want = env->rbuf_max;
    }
    if (want <= c->rlen) {
        return false;
    }
    p = realloc(c->rbuf, want);
    if (p == NULL) {
        return false;
    }
    c->rbuf = p;
    c->rcap = want;
    return true;
}

/*
 * How much C's reply may weigh (reply_weight) and still execute: its
 * cap, as far as the worker's budget has room, never less than
 * OUT_FLOOR, so that every connection makes progress however much the
 * others hold.
 */
static size_t
out_allowance(const struct conn *c)
{
    const struct conn_env *env = c->env;
    size_t own = reply_weight(&c->out);
    size_t held = env->replies.held;
    size_t room = held < env->out_budget ? env->out_budget - held : 0;
    size_t allow = own + room < env->out_cap ? own + room : env->out_cap;

    return allow > OUT_FLOOR ? allow : OUT_FLOOR;
}

/* Whether C may execute now; sets the limit a multi-get stops at. */
static bool
may_run(struct conn *c)
{
    size_t allow = out_allowance(c);
    size_t own = reply_weight(&c->out);

    if (own >= allow) {
        return false;
    }
    c->out.limit = allow - own > OUT_CHUNK ? own + OUT_CHUNK : allow;
    return true;
}

/* process(): no complete request buffered (a sentinel, not an action) */
#define RUN_WAIT (-1)

/* -vv: the longest part of a request or reply line logged. */
#define TRACE_MAX 200

/* Copy the first line of SRC (N bytes) into DST, printable: "\xNN" for
 * other bytes, cut at TRACE_MAX. */
static void
trace_line(char *dst, size_t cap, const char *src, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && i < TRACE_MAX && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];

        if (ch == '\n' || (ch == '\r' && i + 1 < n && src[i + 1] == '\n')) {
            break;
        }
        o += (size_t)snprintf(dst + o, cap - o, ch >= 0x20 && ch < 0x7f
                              ? "%c" : "\\x%02x", ch);
    }
    dst[o] = '\0';
}

/*
 * -vv, as memcached's: "<FD request line" for each request and ">FD
 * reply line" for the first line of its reply (none with noreply). M is
 * where the reply stood before the request.
 */
static void
trace_request(const struct conn *c, const char *p, size_t avail,
              const struct reply_mark *m)
{
    char line[4 * TRACE_MAX + 8];

    trace_line(line, sizeof(line), p, avail);
    log_msg(c->env->cx.log, LOG_LVL_DEBUG, "<%d %s", c->fd, line);
    if (c->out.text_len > m->text_len) {
        trace_line(line, sizeof(line), c->out.text + m->text_len,
                   c->out.text_len - m->text_len);
        log_msg(c->env->cx.log, LOG_LVL_DEBUG, ">%d %s", c->fd, line);
    }
}

/* Parse and execute the next request in the buffer. */
static int
run_one(struct conn *c)
{
    struct conn_env *env = c->env;
    const char *p = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    struct request req;
    struct reply_mark m;
    bool trace = log_enabled(env->cx.log, LOG_LVL_DEBUG);
    size_t consumed = 0;
    int rc;
    int action;

    rc = c->more.cmd != PROTO_CMD_NONE
             ? proto_text_parse_more(&env->lim, &c->more, p, avail, &req,
                                     &consumed)
             : proto_text_parse(&env->lim, p, avail, &req, &consumed);
    if (rc == PROTO_NEED_MORE) {
        c->need = req.need;
        return RUN_WAIT;
    }
    c->need = 0;
    consumed = consumed > avail ? avail : consumed;
    if (trace) {
        reply_mark(&c->out, &m);
    }
    if (rc == PROTO_OK) {
        if (req.more && c->more.cmd == PROTO_CMD_NONE) {
            proto_more_begin(&c->more, &req, consumed);
        }
        c->snap_quiet = req.noreply;
        action = exec_request(&env->cx, &req, &c->out, &c->resume);
    } else {
        action = exec_invalid(&env->cx, &req, p, avail, &c->out);
        c->swallow = req.swallow;
    }
    if (trace) {
        trace_request(c, p, avail, &m);
    }
    if (action == EXEC_RESUME) {
        c->resume_len = consumed;   /* the keys stay where they are */
    } else {
        c->rpos += consumed;
    }
    return action;
}

/* Go on with the multi-get that stopped at its limit. */
static int
resume_one(struct conn *c)
{
    int action = exec_resume(&c->env->cx, &c->resume, &c->out);

    if (action != EXEC_RESUME) {
        c->rpos += c->resume_len;
        c->resume_len = 0;
    }
    return action;
}

/*
 * Execute what is buffered, in order: first the rest of a multi-get
 * that stopped at its limit, then every complete request. *BUDGET
 * counts down the -R requests (and multi-get chunks) of this event.
 */
static int
process(struct conn *c, unsigned *budget)
{
    struct conn_env *env = c->env;
    size_t avail;
    size_t n;
    int action = EXEC_CONTINUE;

    while (action == EXEC_CONTINUE && c->snapjob == NULL && !env->paused) {
        avail = c->rlen - c->rpos;
        if (!exec_resume_active(&c->resume)) {
            if (avail == 0 || c->need > avail) {
                break;  /* a data block still arriving: nothing to parse */
            }
            if (c->swallow > 0) {
                n = avail < c->swallow ? avail : c->swallow;
                c->swallow -= n;
                c->rpos += n;
                continue;
            }
        }
        if (!may_run(c)) {
            c->blocked = true;
            break;
        }
        if ((*budget)-- == 0 && !env->stopping) {
            c->yielded = true;
            STATS_INCR(env->cx.ts, conn_yields);
            break;
        }
        action = exec_resume_active(&c->resume) ? resume_one(c)
                                                : run_one(c);
    }
    if (action == RUN_WAIT) {
        action = EXEC_CONTINUE;
    } else if (action == EXEC_RESUME) {
        c->blocked = true;      /* write it, go on once it drained */
        action = EXEC_CONTINUE;
    }
    return action;
}

static void on_snap_done(evutil_socket_t fd, short what, void *arg);

/* `snapshot`: park the connection until the snapshot is durable. */
static void
start_snapshot(struct conn *c)
{
    struct conn_env *env = c->env;
    int sys_err = 0;

    if (!c->wake_set) {
        event_assign(&c->wake, env->base, -1, 0, on_snap_done, c);
        c->wake_set = true;
    }
    c->snapjob = snapcmd_start(env->cx.snap, &c->wake, &sys_err);
    if (c->snapjob == NULL && !c->snap_quiet) {
        compose_snapshot_refused(&c->out, sys_err);
    }
}

/* The snapshot a parked connection asked for is durable (or failed). */
static void
on_snap_done(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct reply_mark m;

    (void)fd;
    (void)what;
    reply_mark(&c->out, &m);
    (void)snapcmd_finish(&c->snapjob, &c->out);
    if (c->snap_quiet) {
        reply_rollback(&c->out, &m);    /* `snapshot noreply` */
    }
    if (conn_drive(c) && c->env->stopping && !c->writing) {
        conn_close(c);
    }
}

/* Act on what the last request asked for; false when C is gone. */
static bool
apply_action(struct conn *c, int action)
{
    switch (action) {
    case EXEC_CONTINUE:
        return true;
    case EXEC_SNAPSHOT:
        start_snapshot(c);
        return true;
    case EXEC_CLOSE_NOW:
        conn_close(c);
        return false;
    case EXEC_SHUTDOWN:
        /* the same path as an operator's SIGTERM: drain and exit 0 */
        log_msg(c->env->cx.log, LOG_LVL_NOTICE, "shutdown requested by %s",
                c->peer);
        kill(getpid(), SIGTERM);
        c->closing = true;
        return true;
    default: /* EXEC_CLOSE */
        c->closing = true;
        return true;
    }
}

/* Write pending output; false when C was closed. */
bool
conn_flush_out(struct conn *c)
{
    size_t written = 0;
    int sys_err = 0;
    int rc;

    if (c->out.oom) {
        log_msg(c->env->cx.log, LOG_LVL_WARN, "out of memory replying to "
                "%s; closing it", c->peer);
        conn_close(c);
        return false;
    }
    rc = reply_flush(&c->out, c->fd, &written, &sys_err);
    STATS_ADD(c->env->cx.ts, bytes_written, written);
    if (rc == REPLY_EIO) {
        conn_close(c);
        return false;
    }
    if (rc == REPLY_OK && c->closing) {
        conn_close(c);
        return false;
    }
    set_writing(c, rc == REPLY_AGAIN);
    return true;
}

/* After a pass of executing: buffers back, reading on or off, the rest
 * of a yielded connection after the others had their turn. */
void
conn_settle(struct conn *c)
{
    if (c->rpos == c->rlen) {
        rbuf_put(c);    /* all parsed: an idle connection holds no buffer */
    }
    /* a stopped multi-get's keys are in rbuf: nothing may be read */
    conn_set_reading(c, !c->closing && !c->blocked && !c->env->stopping &&
                       !c->env->paused && c->snapjob == NULL &&
                       !exec_resume_active(&c->resume));
    if (c->yielded && !c->closing && !c->blocked) {
        event_active(&c->rev, EV_READ, 0);  /* on_read() goes on */
    }
}

/*
 * Execute what is buffered and write the replies; repeat while a paused
 * connection drained its output and still has requests buffered.
 * Returns false when C was closed (and freed).
 */
bool
conn_drive(struct conn *c)
{
    unsigned budget = c->env->reqs_per_event;
    bool again;

    do {
        again = false;
        c->blocked = false;
        c->yielded = false;
        if (!c->closing && !apply_action(c, process(c, &budget))) {
            return false;
        }
        if (conn_journal_pending(c->env) && !conn_commit_now(c->env)) {
            conn_defer(c);       /* conn_resume() after the journal commit */
            return true;
        }
        if (!conn_flush_out(c)) {
            return false;
        }
        if (c->blocked && !c->writing) {
            again = true;   /* drained at once: keep executing */
        }
    } while (again);
    conn_settle(c);
    return true;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    ssize_t n;

    (void)what;
    if (c->yielded || exec_resume_active(&c->resume)) {
        c->yielded = false;     /* the rest of what is buffered first */
        (void)conn_drive(c);
        return;
    }
    if (!prepare_rbuf(c)) {
        log_msg(c->env->cx.log, LOG_LVL_INFO, "%s: request does not fit "
                "the read buffer; closing", c->peer);
        conn_close(c);
        return;
    }
    n = read(fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                      errno == EINTR)) {
            return;
        }
        if (n == 0 && reply_pending(&c->out) > 0) {
            /* half-closed client: still deliver what it asked for */
            c->closing = true;
            conn_set_reading(c, false);
            return;
        }
        conn_close(c);
        return;
    }
    c->rlen += (size_t)n;
    STATS_ADD(c->env->cx.ts, bytes_read, (uint64_t)n);
    atomic_store_explicit(&c->last_active, store_now(c->env->cx.st),
                          memory_order_relaxed);
    (void)conn_drive(c);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->deferred) {
        /* new replies wait for the journal: conn_resume() writes all */
        set_writing(c, false);
        return;
    }
    if (!conn_flush_out(c) || c->writing) {
        return;
    }
    if (c->blocked && !conn_drive(c)) {
        return;                 /* drained: ran what waited; C closed */
    }
    if (!c->writing && c->env->stopping) {
        conn_close(c);
    }
}

/* ---- worker-wide operations ------------------------------------------ */

void
conn_env_sweep_idle(struct conn_env *env, uint32_t now)
{
    struct conn *c = env->head;
    struct conn *next;
    uint32_t last;

    if (env->idle_timeout == 0) {
        return;
    }
    while (c != NULL) {
        next = c->next;
        last = atomic_load_explicit(&c->last_active, memory_order_relaxed);
        if (now > last && now - last >= env->idle_timeout &&
            c->snapjob == NULL && !c->deferred) {
            log_msg(env->cx.log, LOG_LVL_INFO, "%s idle for %us; closing",
                    c->peer, now - last);
            STATS_INCR(env->cx.ts, idle_kicks);
            conn_close(c);
        }
        c = next;
    }
}

unsigned
conn_env_drain(struct conn_env *env)
{
    struct conn *c = env->head;
    struct conn *next;

    env->stopping = true;
    while (c != NULL) {
        next = c->next;
        conn_set_reading(c, false);
        /* requests already received are answered, not dropped */
        if (c->rpos < c->rlen && !conn_drive(c)) {
            c = next;
            continue;
        }
        if (reply_pending(&c->out) == 0 && c->snapjob == NULL &&
            !c->deferred) {
            conn_close(c);
        }
        c = next;
    }
    return env->nconns;
}

void
conn_env_close_all(struct conn_env *env)
{
    bool stopping = env->stopping;

    env->stopping = false;  /* no loopbreak from conn_close here */
    while (env->head != NULL) {
        conn_close(env->head);
    }
    env->stopping = stopping;
}

void
conn_env_release(struct conn_env *env)
{
    conn_env_close_all(env);
    while (env->nrbuf_cache > 0) {
        free(env->rbuf_cache[--env->nrbuf_cache]);
    }
    reply_pool_release(&env->replies);
    if (env->retry_ev != NULL) {
        event_free(env->retry_ev);
    }
    pthread_mutex_destroy(&env->lock);
}

void
conn_env_describe(struct conn_env *env, struct reply *r)
{
    struct conn *c;
    uint32_t now = store_now(env->cx.st);
    uint32_t last;
    unsigned long fd;

    pthread_mutex_lock(&env->lock);
    for (c = env->head; c != NULL; c = c->next) {
        last = atomic_load_explicit(&c->last_active, memory_order_relaxed);
        fd = (unsigned long)c->fd;
        compose_stat_id(r, "", fd, "addr", c->peer);
        compose_stat_id(r, "", fd, "state", "conn_parse_cmd");
        compose_stat_id_u64(r, "", fd, "secs_since_last_cmd",
                            now > last ? now - last : 0);
    }
    pthread_mutex_unlock(&env->lock);
}
