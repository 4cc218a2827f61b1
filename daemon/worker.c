/*
 * worker.c -- worker threads, fd hand-off and drain (see worker.h).
 */
#include "config.h"

#include "daemon/worker.h"

#include "daemon/conn.h"
#include "daemon/exec.h"
#include "daemon/log.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct worker {
    struct worker_pool *pool;
    pthread_t tid;
    bool started;
    struct event_base *base;
    int efd;                    /* eventfd poked by dispatch and stop */
    struct event notify_ev;
    struct event tick_ev;       /* 1 s: idle sweep */
    struct event drain_ev;      /* shutdown deadline */
    bool env_live;              /* env initialised, not yet released */

    pthread_mutex_t qlock;
    int *q;                     /* guarded by: qlock; ring of fds */
    size_t qhead;               /* guarded by: qlock */
    size_t qlen;                /* guarded by: qlock */
    size_t qcap;                /* guarded by: qlock */
    bool stop;                  /* guarded by: qlock */
    unsigned drain_ms;          /* guarded by: qlock */
    uint64_t pause_gen;         /* guarded by: qlock; a takeover's pause */
                                /* asked for (0: run) */
    uint64_t paused_gen;        /* worker only: the pause it is in */
    uint64_t acked_gen;         /* guarded by: pool->plock */

    struct stats_thread stats;  /* written by this worker only */
    struct store_session ses;   /* this worker's changes go to its sink */
    struct snap_jchan *jch;     /* its journal channel, NULL without */
    struct conn_env env;        /* owned by this worker's thread */
};

struct worker_pool {
    const struct settings *set;
    struct store *st;
    struct snap *snap;          /* NULL without persistence */
    struct stats_hub *hub;
    struct logger *log;
    struct worker **w;
    size_t n;
    size_t next;                /* round-robin; listener thread only */
    bool running;
    pthread_mutex_t plock;      /* pause acknowledgements */
    pthread_cond_t pcond;
    uint64_t gen;               /* pauses asked for; main thread only */
};

/* ---- queue ----------------------------------------------------------- */

static int
queue_push_locked(struct worker *w, int fd)
{
    int *p;
    size_t cap;
    size_t i;

    if (w->qlen == w->qcap) {
        cap = w->qcap != 0 ? w->qcap * 2 : 64;
        p = malloc(cap * sizeof(*p));
        if (p == NULL) {
            return ENOMEM;
        }
        for (i = 0; i < w->qlen; i++) {
            p[i] = w->q[(w->qhead + i) % w->qcap];
        }
        free(w->q);
        w->q = p;
        w->qcap = cap;
        w->qhead = 0;
    }
    w->q[(w->qhead + w->qlen) % w->qcap] = fd;
    w->qlen++;
    return 0;
}

static int
queue_pop(struct worker *w, bool *stop, unsigned *drain_ms)
{
    int fd = -1;

    pthread_mutex_lock(&w->qlock);
    if (w->qlen > 0) {
        fd = w->q[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
    }
    *stop = w->stop;
    *drain_ms = w->drain_ms;
    pthread_mutex_unlock(&w->qlock);
    return fd;
}

/* The takeover pause asked of W (0: none). */
static uint64_t
pause_wanted(struct worker *w)
{
    uint64_t gen;

    pthread_mutex_lock(&w->qlock);
    gen = w->pause_gen;
    pthread_mutex_unlock(&w->qlock);
    return gen;
}

static void
poke(struct worker *w)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(w->efd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

/* ---- worker thread --------------------------------------------------- */

static void
on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    log_msg(w->pool->log, LOG_LVL_INFO, "shutdown: %u connection(s) did "
            "not drain in time", w->env.nconns);
    event_base_loopbreak(w->base);
}

static void
begin_stop(struct worker *w, unsigned drain_ms)
{
    struct timeval tv;

    if (w->env.stopping) {
        return;
    }
    event_del(&w->tick_ev);
    if (conn_env_drain(&w->env) == 0) {
        event_base_loopbreak(w->base);
        return;
    }
    tv.tv_sec = drain_ms / 1000;
    tv.tv_usec = (drain_ms % 1000) * 1000;
    evtimer_assign(&w->drain_ev, w->base, on_drain_deadline, w);
    evtimer_add(&w->drain_ev, &tv);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t count, pause = 0;
    bool stop = false;
    unsigned drain_ms = 0;
    int cfd;
    int err;

    (void)what;
    if (read(fd, &count, sizeof(count)) < 0) {
        /* EAGAIN: a spurious wakeup; the queue decides */
    }
    pause = pause_wanted(w);
    if (pause != 0 && !w->env.paused) {
        conn_env_pause(&w->env);    /* before any new connection */
    } else if (pause == 0 && w->env.paused) {
        conn_env_unpause(&w->env);
    }
    w->paused_gen = pause;
    while ((cfd = queue_pop(w, &stop, &drain_ms)) >= 0) {
        if (stop) {
            close(cfd);
            atomic_fetch_sub(&w->pool->hub->curr_connections, 1);
            continue;
        }
        err = conn_create(&w->env, cfd);
        if (err != 0) {
            log_msg(w->pool->log, LOG_LVL_WARN, "cannot set up a "
                    "connection: %s", strerror(err));
            close(cfd);
            atomic_fetch_sub(&w->pool->hub->curr_connections, 1);
        }
    }
    if (stop) {
        begin_stop(w, drain_ms);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    conn_env_sweep_idle(&w->env, store_now(w->pool->st));
}

/* Paused, and everything changed is in the journal: say so (once). */
static void
ack_pause(struct worker *w)
{
    struct worker_pool *pool = w->pool;

    if (w->paused_gen == 0 || !conn_env_quiet(&w->env)) {
        return;
    }
    pthread_mutex_lock(&pool->plock);
    if (w->acked_gen != w->paused_gen) {
        w->acked_gen = w->paused_gen;
        pthread_cond_broadcast(&pool->pcond);
    }
    pthread_mutex_unlock(&pool->plock);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    int rc;

    /* one pass of the loop at a time: after each, the journal is written
     * once for everything the pass changed, then the replies go */
    do {
        rc = event_base_loop(w->base, EVLOOP_ONCE);
        conn_env_end_pass(&w->env);
        ack_pause(w);
    } while (rc == 0 && !event_base_got_break(w->base) &&
             !event_base_got_exit(w->base));
    /* whatever did not drain by the deadline is closed here */
    conn_env_close_all(&w->env);
    return NULL;
}

/* ---- pool ------------------------------------------------------------ */

static void
worker_free(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    if (w->env_live) {
        conn_env_release(&w->env);
    }
    snap_jchan_close(&w->jch);      /* writes what is still pending */
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    if (w->efd >= 0) {
        close(w->efd);
    }
    pthread_mutex_destroy(&w->qlock);
    free(w->q);
    free(w);
}

static struct worker *
worker_new(struct worker_pool *pool, size_t idx, int *sys_err)
{
    struct worker *w = calloc(1, sizeof(*w));
    struct exec_ctx cx;
    struct timeval one_sec = { 1, 0 };

    if (w == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    w->pool = pool;
    w->efd = -1;
    pthread_mutex_init(&w->qlock, NULL);
    w->base = event_base_new();
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->base == NULL || w->efd < 0) {
        *sys_err = w->efd < 0 ? errno : ENOMEM;
        goto fail;
    }
    /* with a journal, the worker's changes go to its own channel */
    if (pool->snap != NULL && snap_jchan_open(pool->snap, &w->jch) ==
                                  SNAP_ENOMEM) {
        *sys_err = ENOMEM;
        goto fail;
    }
    store_session_init(&w->ses, pool->st,
                       w->jch != NULL ? snap_jchan_sink : NULL, w->jch);
    cx.st = pool->st;
    cx.ses = &w->ses;
    cx.snap = pool->snap;
    cx.set = pool->set;
    cx.hub = pool->hub;
    cx.ts = &w->stats;
    cx.log = pool->log;
    if ((*sys_err = conn_env_init(&w->env, w->base, &cx)) != 0) {
        goto fail;
    }
    w->env.jch = w->jch;
    w->env_live = true;
    event_assign(&w->notify_ev, w->base, w->efd, EV_READ | EV_PERSIST,
                 on_notify, w);
    event_add(&w->notify_ev, NULL);
    event_assign(&w->tick_ev, w->base, -1, EV_PERSIST, on_tick, w);
    if (pool->set->idle_timeout > 0) {
        event_add(&w->tick_ev, &one_sec);
    }
    stats_attach(pool->hub, idx, &w->stats);
    return w;
fail:
    worker_free(w);
    return NULL;
}

/* stats conns: every worker's connections (hub hook). */
static void
describe_all(void *arg, struct reply *r)
{
    struct worker_pool *pool = arg;
    size_t i;

    for (i = 0; i < pool->n; i++) {
        if (pool->w[i]->env_live) {
            conn_env_describe(&pool->w[i]->env, r);
        }
    }
}

struct worker_pool *
worker_pool_create(const struct settings *set, struct store *st,
                   struct snap *snap, struct stats_hub *hub,
                   struct logger *log, int *sys_err)
{
    struct worker_pool *pool = calloc(1, sizeof(*pool));

    if (pool == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    pool->set = set;
    pool->st = st;
    pool->snap = snap;
    pool->hub = hub;
    pool->log = log;
    pthread_mutex_init(&pool->plock, NULL);
    pthread_cond_init(&pool->pcond, NULL);
    pool->w = calloc(set->threads, sizeof(*pool->w));
    if (pool->w == NULL) {
        *sys_err = ENOMEM;
        pthread_mutex_destroy(&pool->plock);
        pthread_cond_destroy(&pool->pcond);
        free(pool);
        return NULL;
    }
    for (pool->n = 0; pool->n < set->threads; pool->n++) {
        pool->w[pool->n] = worker_new(pool, pool->n, sys_err);
        if (pool->w[pool->n] == NULL) {
            worker_pool_destroy(&pool);
            return NULL;
        }
    }
    hub->conns_fn = describe_all;
    hub->conns_arg = pool;
    return pool;
}

int
worker_pool_start(struct worker_pool *pool)
{
    sigset_t all;
    sigset_t old;
    size_t i;
    int err = 0;

    /* Workers inherit a full mask: signals go to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < pool->n && err == 0; i++) {
        err = pthread_create(&pool->w[i]->tid, NULL, worker_main,
                             pool->w[i]);
        pool->w[i]->started = err == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pool->running = true;
    if (err != 0) {
        worker_pool_stop(pool, 0);
    }
    return err;
}

int
worker_pool_dispatch(struct worker_pool *pool, int fd)
{
    struct worker *w = pool->w[pool->next];
    int err;

    pool->next = (pool->next + 1) % pool->n;
    pthread_mutex_lock(&w->qlock);
    err = w->stop ? ESHUTDOWN : queue_push_locked(w, fd);
    pthread_mutex_unlock(&w->qlock);
    if (err == 0) {
        poke(w);
    }
    return err;
}

void
worker_pool_stop(struct worker_pool *pool, unsigned drain_ms)
{
    size_t i;
    struct worker *w;

    if (!pool->running) {
        return;
    }
    for (i = 0; i < pool->n; i++) {
        w = pool->w[i];
        pthread_mutex_lock(&w->qlock);
        w->stop = true;
        w->drain_ms = drain_ms;
        pthread_mutex_unlock(&w->qlock);
        poke(w);
    }
    for (i = 0; i < pool->n; i++) {
        if (pool->w[i]->started) {
            pthread_join(pool->w[i]->tid, NULL);
            pool->w[i]->started = false;
        }
    }
    pool->running = false;
}

void
worker_pool_destroy(struct worker_pool **poolp)
{
    struct worker_pool *pool = *poolp;
    size_t i;

    if (pool == NULL) {
        return;
    }
    worker_pool_stop(pool, 0);
    if (pool->hub->conns_arg == pool) {
        pool->hub->conns_fn = NULL;
        pool->hub->conns_arg = NULL;
    }
    for (i = 0; i < pool->n; i++) {
        worker_free(pool->w[i]);
    }
    free(pool->w);
    pthread_mutex_destroy(&pool->plock);
    pthread_cond_destroy(&pool->pcond);
    free(pool);
    *poolp = NULL;
}

/* Ask every worker for pause GEN (0: run again). */
static void
ask_pause(struct worker_pool *pool, uint64_t gen)
{
    for (size_t i = 0; i < pool->n; i++) {
        struct worker *w = pool->w[i];

        pthread_mutex_lock(&w->qlock);
        w->pause_gen = gen;
        pthread_mutex_unlock(&w->qlock);
        poke(w);
    }
}

int
worker_pool_pause(struct worker_pool *pool, unsigned timeout_ms)
{
    struct timespec until;
    size_t acked = 0;
    int rc = 0;

    pool->gen++;
    ask_pause(pool, pool->gen);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->plock);
    while (rc == 0) {
        acked = 0;
        for (size_t i = 0; i < pool->n; i++) {
            acked += pool->w[i]->acked_gen == pool->gen;
        }
        if (acked == pool->n) {
            break;
        }
        rc = pthread_cond_timedwait(&pool->pcond, &pool->plock, &until);
    }
    pthread_mutex_unlock(&pool->plock);
    return acked == pool->n ? 0 : ETIMEDOUT;
}

void
worker_pool_resume(struct worker_pool *pool)
{
    ask_pause(pool, 0);
}
