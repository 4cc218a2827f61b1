/*
 * emberbench.c -- closed-loop load generator for the memcached text
 * protocol (get/set), used to compare emberd with memcached; with --redis
 * it speaks RESP (SET/GET) so Redis gets the very same load.
 *
 * Threads: the main thread parses options, opens every connection, starts
 * -T workers and keeps time; it moves the shared phase from WARMUP to
 * MEASURE to STOP. Each worker owns its connections, one epoll set, its
 * own counters and latency histogram; nothing is shared but the phase and
 * two counters, so workers never contend. Counters are merged after join.
 *
 * A request counts when its reply is parsed while the phase is MEASURE;
 * ops/s divides that count by the length of the MEASURE window.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench_conn.h"
#include "tools/bench/bench_opts.h"
#include "tools/bench/bench_report.h"

#define PREFILL_DEPTH 16u
#define MAX_EVENTS 256

enum phase {
    PHASE_WARMUP = 0,
    PHASE_MEASURE,
    PHASE_STOP,
};

struct run {
    const struct bench_options *opt;
    struct bench_workload wl;
    _Atomic int phase;          /* enum phase, set by main only */
    _Atomic unsigned prefilled; /* workers done with their prefill share */
    _Atomic int failed;         /* a worker stopped on an error */
    char *pattern;              /* owned; wl.pattern borrows it */
};

struct worker {
    pthread_t tid;
    unsigned id;
    struct run *run;
    struct bench_conn **conns;
    unsigned nconns;
    int epfd;
    uint64_t rng;
    uint64_t fill_next;         /* prefill cursor over [fill_next, fill_end) */
    uint64_t fill_end;
    double prefill_s;
    struct bench_stats stats;   /* the MEASURE window */
    struct bench_stats scratch; /* prefill and warm-up, discarded */
    char err[320];
};

/* xorshift64*: per-worker, so no shared state on the hot path */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}


static void
worker_fail(struct worker *w, unsigned ci, int rc, const char *detail)
{
    snprintf(w->err, sizeof(w->err), "worker %u conn %u: %s: %s", w->id, ci,
             bench_strerror(rc), detail);
    atomic_store(&w->run->failed, 1);
}

static int
arm(struct worker *w, unsigned ci, int op, bool want_write)
{
    struct epoll_event ev;

    ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
    ev.data.u64 = ci;
    return epoll_ctl(w->epfd, op, w->conns[ci]->fd, &ev);
}

/* Fill OPS with the next batch for one connection; returns its length. */
static unsigned
pick_ops(struct worker *w, struct bench_pending *ops, int phase)
{
    const struct bench_options *o = w->run->opt;
    unsigned total = o->ratio_set + o->ratio_get;
    unsigned n = 0;

    if (w->fill_next < w->fill_end) {
        while (n < PREFILL_DEPTH && w->fill_next < w->fill_end) {
            ops[n].op = BENCH_OP_SET;
            ops[n++].key = w->fill_next++;
        }
        return n;
    }
    if (phase == PHASE_STOP || o->duration == 0.0) {
        return 0;
    }
    for (n = 0; n < o->depth; n++) {
        ops[n].op = rng_next(&w->rng) % total < o->ratio_set ? BENCH_OP_SET
                                                             : BENCH_OP_GET;
        ops[n].key = rng_next(&w->rng) % o->keys;
    }
    return n;
}

/* Start the next batch on connection CI if there is one to start. */
static int
kick(struct worker *w, unsigned ci, int phase, struct bench_stats *st)
{
    struct bench_pending ops[BENCH_MAX_DEPTH];
    struct bench_conn *c = w->conns[ci];
    unsigned n = pick_ops(w, ops, phase);
    int rc;

    if (n == 0) {
        return BENCH_OK;
    }
    rc = bench_conn_send(c, ops, n, bench_now_ns(), st);
    if (rc != BENCH_OK) {
        worker_fail(w, ci, rc, c->err);
        return rc;
    }
    if (c->want_write && arm(w, ci, EPOLL_CTL_MOD, true) < 0) {
        worker_fail(w, ci, BENCH_EIO, strerror(errno));
        return BENCH_EIO;
    }
    return BENCH_OK;
}

static unsigned
busy_conns(const struct worker *w)
{
    unsigned i;
    unsigned busy = 0;

    for (i = 0; i < w->nconns; i++) {
        busy += w->conns[i]->ninflight > 0;
    }
    return busy;
}

/* Once this worker's share of the prefill is answered, start the load. */
static int
maybe_end_prefill(struct worker *w, uint64_t t_start, int phase,
                  struct bench_stats *st)
{
    unsigned i;

    if (w->prefill_s >= 0.0 || w->fill_next < w->fill_end
        || busy_conns(w) > 0) {
        return BENCH_OK;
    }
    w->prefill_s = (double)(bench_now_ns() - t_start) / 1e9;
    atomic_fetch_add(&w->run->prefilled, 1u);
    for (i = 0; i < w->nconns; i++) {
        if (kick(w, i, phase, st) != BENCH_OK) {
            return BENCH_EIO;
        }
    }
    return BENCH_OK;
}

static int
on_event(struct worker *w, unsigned ci, uint32_t events, int phase,
         struct bench_stats *st)
{
    struct bench_conn *c = w->conns[ci];
    int rc = 0;

    if (events & EPOLLOUT) {
        rc = bench_conn_flush(c, st);
        if (rc == BENCH_OK && !c->want_write
            && arm(w, ci, EPOLL_CTL_MOD, false) < 0) {
            rc = BENCH_EIO;
            snprintf(c->err, sizeof(c->err), "epoll: %s", strerror(errno));
        }
    }
    if (rc == BENCH_OK && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        rc = bench_conn_on_readable(c, st);
    }
    if (rc < 0) {
        worker_fail(w, ci, rc, c->err);
        return rc;
    }
    if (rc == 1 && phase == PHASE_MEASURE) {
        c->window_ops += c->nops;
    }
    /* during the prefill an idle connection waits for the others, so
     * that the load starts from a complete key space */
    if (rc == 1 && (w->prefill_s >= 0.0 || w->fill_next < w->fill_end)) {
        return kick(w, ci, phase, st);
    }
    return BENCH_OK;
}

static int
check_timeouts(struct worker *w, uint64_t now)
{
    uint64_t limit = (uint64_t)(w->run->opt->timeout * 1e9);
    unsigned i;
    char msg[96];

    for (i = 0; i < w->nconns; i++) {
        const struct bench_conn *c = w->conns[i];

        if (c->ninflight > 0 && now - c->batch_start_ns > limit) {
            snprintf(msg, sizeof(msg), "%u of %u requests unanswered "
                     "after %.1f s", c->ninflight, c->nops,
                     w->run->opt->timeout);
            worker_fail(w, i, BENCH_ETIMEDOUT, msg);
            return BENCH_ETIMEDOUT;
        }
    }
    return BENCH_OK;
}

static int
worker_loop(struct worker *w, uint64_t t_start)
{
    struct epoll_event ev[MAX_EVENTS];
    struct bench_stats *st;
    uint64_t last_scan = bench_now_ns();
    uint64_t now;
    int phase;
    int n;
    int i;

    for (;;) {
        phase = atomic_load_explicit(&w->run->phase, memory_order_relaxed);
        if (phase == PHASE_STOP && busy_conns(w) == 0) {
            return BENCH_OK;
        }
        n = epoll_wait(w->epfd, ev, MAX_EVENTS, 50);
        if (n < 0 && errno != EINTR) {
            worker_fail(w, 0, BENCH_EIO, strerror(errno));
            return BENCH_EIO;
        }
        st = phase == PHASE_MEASURE ? &w->stats : &w->scratch;
        for (i = 0; i < n; i++) {
            if (on_event(w, (unsigned)ev[i].data.u64, ev[i].events, phase,
                         st) != BENCH_OK) {
                return BENCH_EIO;
            }
        }
        if (maybe_end_prefill(w, t_start, phase, st) != BENCH_OK) {
            return BENCH_EIO;
        }
        if (w->prefill_s >= 0.0 && w->run->opt->duration == 0.0) {
            return BENCH_OK;
        }
        now = bench_now_ns();
        if (now - last_scan > 100000000u) {
            last_scan = now;
            if (check_timeouts(w, now) != BENCH_OK) {
                return BENCH_EIO;
            }
        }
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t t_start = bench_now_ns();
    unsigned i;

    /* without --prefill the share is empty and the load starts at once */
    for (i = 0; i < w->nconns && w->fill_next < w->fill_end; i++) {
        if (kick(w, i, PHASE_WARMUP, &w->scratch) != BENCH_OK) {
            return NULL;
        }
    }
    (void)worker_loop(w, t_start);
    return NULL;
}


static void
die_if_failed(struct run *run, struct worker *ws, unsigned nw)
{
    unsigned i;

    if (atomic_load(&run->failed) == 0) {
        return;
    }
    for (i = 0; i < nw; i++) {
        if (ws[i].err[0] != '\0') {
            fprintf(stderr, "emberbench: %s\n", ws[i].err);
        }
    }
    exit(1);
}

/* Sleep SECS in short slices, leaving at once if a worker failed. */
static void
sleep_watching(struct run *run, struct worker *ws, unsigned nw, double secs)
{
    uint64_t end = bench_now_ns() + (uint64_t)(secs * 1e9);
    struct timespec slice = { 0, 20000000 };

    while (bench_now_ns() < end) {
        die_if_failed(run, ws, nw);
        nanosleep(&slice, NULL);
    }
    die_if_failed(run, ws, nw);
}

/* Printable value bytes: any server stores them, and a dump reads well. */
static char *
make_pattern(const struct bench_options *o)
{
    size_t n = o->size_max + BENCH_PATTERN_SPAN;
    uint64_t s = o->seed * 2654435761u + 88172645463325252ULL;
    char *p = malloc(n);
    size_t i;

    if (p == NULL) {
        fprintf(stderr, "emberbench: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) {
        p[i] = (char)('a' + rng_next(&s) % 26u);
    }
    return p;
}

static void
setup_workload(struct run *run, const struct bench_options *o)
{
    memset(run, 0, sizeof(*run));
    run->opt = o;
    run->wl.prefix = o->prefix;
    run->wl.nprefix = strlen(o->prefix);
    run->wl.nkeys = o->keys;
    run->wl.size_min = o->size_min;
    run->wl.size_max = o->size_max;
    run->wl.reply_max = o->value_max > o->size_max ? o->value_max
                                                   : o->size_max;
    run->pattern = make_pattern(o);
    run->wl.pattern = run->pattern;
    run->wl.depth = o->depth > PREFILL_DEPTH ? o->depth : PREFILL_DEPTH;
    run->wl.verify = o->verify;
    run->wl.resp = o->redis;
    atomic_init(&run->phase, PHASE_WARMUP);
    atomic_init(&run->prefilled, 0u);
    atomic_init(&run->failed, 0);
}

/* Open connection J of worker W and add it to W's epoll set. */
static void
open_conn(struct worker *w, unsigned j)
{
    const struct bench_options *o = w->run->opt;
    char err[256];
    int fd;

    fd = bench_connect(o->host, o->port, (int)(o->timeout * 1000), err,
                       sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "emberbench: %s\n", err);
        exit(1);
    }
    if (bench_conn_create(&w->conns[j], fd, &w->run->wl) != BENCH_OK) {
        fprintf(stderr, "emberbench: out of memory\n");
        exit(1);
    }
    if (arm(w, j, EPOLL_CTL_ADD, false) < 0) {
        fprintf(stderr, "emberbench: epoll_ctl: %s\n", strerror(errno));
        exit(1);
    }
}

static struct worker *
setup_workers(struct run *run)
{
    const struct bench_options *o = run->opt;
    struct worker *ws = calloc(o->threads, sizeof(*ws));
    unsigned i;
    unsigned j;

    if (ws == NULL) {
        fprintf(stderr, "emberbench: out of memory\n");
        exit(1);
    }
    for (i = 0; i < o->threads; i++) {
        struct worker *w = &ws[i];

        w->id = i;
        w->run = run;
        w->rng = (o->seed + 1u) * 0x9e3779b97f4a7c15ULL + i * 7919u + 1u;
        w->prefill_s = -1.0;
        w->nconns = o->conns / o->threads + (i < o->conns % o->threads);
        w->conns = calloc(w->nconns, sizeof(*w->conns));
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->conns == NULL || w->epfd < 0) {
            fprintf(stderr, "emberbench: cannot set up worker %u\n", i);
            exit(1);
        }
        if (o->prefill) {
            w->fill_next = o->keys * i / o->threads;
            w->fill_end = o->keys * (i + 1u) / o->threads;
        }
        for (j = 0; j < w->nconns; j++) {
            open_conn(w, j);
        }
    }
    return ws;
}

static void
teardown_workers(struct worker **wsp, unsigned nw)
{
    struct worker *ws = *wsp;
    unsigned i;
    unsigned j;

    for (i = 0; i < nw; i++) {
        for (j = 0; j < ws[i].nconns; j++) {
            bench_conn_destroy(&ws[i].conns[j]);
        }
        free(ws[i].conns);
        close(ws[i].epfd);
    }
    free(ws);
    *wsp = NULL;
}

static void
wait_prefill(struct run *run, struct worker *ws, unsigned nw)
{
    struct timespec slice = { 0, 5000000 };

    while (atomic_load(&run->prefilled) < nw) {
        die_if_failed(run, ws, nw);
        nanosleep(&slice, NULL);
    }
}

static void
join_workers(struct run *run, struct worker *ws, unsigned nw,
             struct bench_result *res)
{
    unsigned i;
    unsigned j;

    for (i = 0; i < nw; i++) {
        pthread_join(ws[i].tid, NULL);
    }
    die_if_failed(run, ws, nw);
    res->conn_ops_min = UINT64_MAX;
    for (i = 0; i < nw; i++) {
        struct bench_stats *s = &ws[i].stats;

        res->total.gets += s->gets;
        res->total.sets += s->sets;
        res->total.hits += s->hits;
        res->total.misses += s->misses;
        res->total.server_errors += s->server_errors;
        res->total.bytes_in += s->bytes_in;
        res->total.bytes_out += s->bytes_out;
        bench_hist_merge(&res->total.lat, &s->lat);
        for (j = 0; j < ws[i].nconns; j++) {
            uint64_t n = ws[i].conns[j]->window_ops;

            res->conn_ops_min = n < res->conn_ops_min ? n : res->conn_ops_min;
            res->conn_ops_max = n > res->conn_ops_max ? n : res->conn_ops_max;
        }
        if (ws[i].prefill_s > res->prefill_s) {
            res->prefill_s = ws[i].prefill_s;
        }
    }
}

/* Warm up, then time the MEASURE window and take CPU readings around it. */
static void
measure(struct run *run, struct worker *ws, struct bench_result *res)
{
    const struct bench_options *o = run->opt;
    struct bench_cpu srv0 = { 0.0, 0.0 };
    struct bench_cpu srv1 = { 0.0, 0.0 };
    struct bench_machine m0;
    struct bench_machine m1;
    int srv_rc = -1;
    int m_rc;
    double drv0;
    uint64_t t0;

    sleep_watching(run, ws, o->threads, o->warmup);
    if (o->pids != NULL) {
        srv_rc = bench_proc_cpu(o->pids, &srv0);
    }
    m_rc = bench_machine_cpu(&m0);
    drv0 = bench_self_cpu_s();
    t0 = bench_now_ns();
    atomic_store(&run->phase, PHASE_MEASURE);
    sleep_watching(run, ws, o->threads, o->duration);
    atomic_store(&run->phase, PHASE_STOP);
    res->window_s = (double)(bench_now_ns() - t0) / 1e9;
    res->driver_cpu_s = bench_self_cpu_s() - drv0;
    res->machine_busy_s = -1.0;
    res->machine_steal_s = -1.0;
    if (m_rc == 0 && bench_machine_cpu(&m1) == 0) {
        res->machine_busy_s = m1.busy_s - m0.busy_s;
        res->machine_steal_s = m1.steal_s - m0.steal_s;
    }
    res->server_cpu_s = -1.0;
    res->server_user_s = -1.0;
    if (srv_rc == 0 && bench_proc_cpu(o->pids, &srv1) == 0) {
        res->server_user_s = srv1.user_s - srv0.user_s;
        res->server_cpu_s = res->server_user_s + srv1.sys_s - srv0.sys_s;
    }
}

int
main(int argc, char **argv)
{
    static struct bench_result res; /* 16 KB histogram: off the stack */
    struct bench_options opt;
    struct bench_cpu cpu;
    struct run run;
    struct worker *ws;
    unsigned i;

    bench_opts_parse(&opt, argc, argv);
    if (opt.pids != NULL && bench_proc_cpu(opt.pids, &cpu) < 0) {
        fprintf(stderr, "emberbench: cannot read /proc/<pid>/stat for %s\n",
                opt.pids);
        return 2;
    }
    setup_workload(&run, &opt);
    ws = setup_workers(&run);
    for (i = 0; i < opt.threads; i++) {
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "emberbench: pthread_create failed\n");
            return 1;
        }
    }
    wait_prefill(&run, ws, opt.threads);
    if (opt.duration > 0.0) {
        measure(&run, ws, &res);
    } else {
        atomic_store(&run.phase, PHASE_STOP);
    }
    join_workers(&run, ws, opt.threads, &res);
    teardown_workers(&ws, opt.threads);
    free(run.pattern);
    bench_report_print(&opt, &res);
    return res.total.gets + res.total.sets > 0 || opt.duration == 0.0 ? 0 : 1;
}
