/*
 * takeover_owner.c -- the running emberd's side of a takeover (see
 * takeover.h): the control socket on the main loop, the checks of a
 * new emberd's HELLO, and the handover itself -- sync the journal while
 * still serving (on a thread of its own, so that the loop goes on
 * accepting), then stop accepting, pause the workers, make the rest of
 * the journal durable, pass the sockets and the lock, then either leave
 * (BYE) or resume as if nothing happened.
 */
#include "config.h"

#include "daemon/takeover.h"

#include "daemon/handoff.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/settings.h"
#include "daemon/worker.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Workers have this long to write their journal and say they stopped. */
#define PAUSE_WORKERS_MS 3000u

struct takeover_owner {
    struct takeover_env env;
    const char *dir;
    int lfd;                        /* the control socket */
    unsigned long long ino;
    struct event *accept_ev;
    int sfd;                        /* the session, or -1 */
    struct event *session_ev;
    long peer;                      /* its pid */
    bool held;                      /* our snapshots wait for it */
    bool handed_over;
    struct event *synced_ev;        /* the presync thread is done */
    pthread_t sync_tid;
    bool syncing;                   /* it runs */
    bool ready;                     /* the session's READY waits for it */
    uint64_t sync_t0, sync_us;      /* how long it took */
};

static void
reply(struct takeover_owner *o, const char *msg)
{
    char err[256];

    if (handoff_send(o->sfd, msg, NULL, 0, err, sizeof(err)) != 0) {
        log_msg(o->env.log, LOG_LVL_WARN, "takeover: %s", err);
    }
}

static void
end_session(struct takeover_owner *o, const char *why)
{
    if (o->sfd < 0) {
        return;
    }
    if (o->held && !o->handed_over) {
        snap_hold(o->env.snap, false);
    }
    o->held = false;
    o->ready = false;
    if (o->session_ev != NULL) {
        event_free(o->session_ev);
        o->session_ev = NULL;
    }
    close(o->sfd);
    o->sfd = -1;
    log_msg(o->env.log, o->handed_over ? LOG_LVL_INFO : LOG_LVL_WARN,
            "takeover by pid %ld: %s", o->peer, why);
}

/* Send "NO why=WHY" and end the session. */
static void
refuse(struct takeover_owner *o, const char *why)
{
    char msg[HANDOFF_MSG_MAX] = "NO";

    if (!handoff_put(msg, sizeof(msg), "why", why)) {
        (void)handoff_put(msg, sizeof(msg), "why", "refused");
    }
    reply(o, msg);
    end_session(o, why);
}

/* ---- HELLO -------------------------------------------------------------- */

/* The directory's real path, or DIR itself when it cannot be resolved. */
static void
real_dir(const char *dir, char *out, size_t cap)
{
    char buf[PATH_MAX];

    snprintf(out, cap, "%s", realpath(dir, buf) != NULL ? buf : dir);
}

/* Why the new emberd's options do not fit ours, or NULL when they do. */
static const char *
hello_mismatch(struct takeover_owner *o, const char *msg, char *why,
               size_t cap)
{
    const struct settings *set = o->env.set;
    char listen[1024], dir[PATH_MAX], ours[PATH_MAX];
    unsigned long long v = 0, port = 0, imax = 0;

    if (!handoff_field_u64(msg, "v", &v) || v != 1) {
        return "unknown takeover protocol (a newer emberd?)";
    }
    if (!handoff_field(msg, "listen", listen, sizeof(listen)) ||
        !handoff_field_u64(msg, "port", &port) ||
        !handoff_field_u64(msg, "item_max", &imax) ||
        !handoff_field(msg, "dir", dir, sizeof(dir))) {
        return "malformed HELLO";
    }
    real_dir(o->dir, ours, sizeof(ours));
    if (strcmp(dir, ours) != 0) {
        snprintf(why, cap, "different snapshot directory: %.200s is "
                 "served from %.200s", dir, ours);
    } else if (strcmp(listen, set->listen) != 0 || port != set->port) {
        snprintf(why, cap, "different sockets: the running emberd listens "
                 "on -l %.200s -p %u, the new one asks for -l %.200s -p "
                 "%llu", set->listen, set->port, listen, port);
    } else if (imax < set->item_size_max) {
        snprintf(why, cap, "-I %llu is smaller than the running emberd's "
                 "%zu: larger items would be lost", imax,
                 set->item_size_max);
    } else if (set->journal_off) {
        snprintf(why, cap, "the running emberd has --journal=off: its "
                 "changes cannot come over");
    } else {
        return NULL;
    }
    return why;
}

static void
on_hello(struct takeover_owner *o, const char *msg)
{
    struct store_stats ss;
    char why[600], ok[256];
    const char *bad = o->held ? "HELLO twice"
                              : hello_mismatch(o, msg, why, sizeof(why));

    if (bad != NULL) {
        refuse(o, bad);
        return;
    }
    /* the files stay as the new emberd reads them: no snapshot commits,
     * no journal segment is retired */
    snap_hold(o->env.snap, true);
    o->held = true;
    store_stats(o->env.st, &ss);
    snprintf(ok, sizeof(ok), "OK pid=%ld mem=%llu hash=%llu items=%llu",
             (long)getpid(), (unsigned long long)ss.mem_pages,
             (unsigned long long)ss.hash_bytes,
             (unsigned long long)ss.curr_items);
    reply(o, ok);
    log_msg(o->env.log, LOG_LVL_INFO, "takeover: pid %ld loads %s; "
            "snapshots held meanwhile", o->peer, o->dir);
}

/* ---- READY: the handover ------------------------------------------------ */

/* The new emberd failed or went away: serve on as before. */
static void
resume(struct takeover_owner *o, const char *why)
{
    snap_handover_undo(o->env.snap);
    (void)store_maintenance_start(o->env.st);
    worker_pool_resume(o->env.pool);
    listener_resume(o->env.ls);
    end_session(o, why);
    log_msg(o->env.log, LOG_LVL_WARN, "takeover failed; serving on");
}

/* When the handover's steps happened (takeover_now_us()). */
struct pause_times {
    uint64_t stop_wall;             /* stopped accepting (CLOCK_REALTIME) */
    uint64_t stop, drained, durable, handed;    /* CLOCK_MONOTONIC */
};

/* Stop changing anything and make it durable; the descriptors to pass
 * (the listening sockets, then the lock) into FDS. 0 or -1 (WHY). */
static int
quiesce(struct takeover_owner *o, struct pause_times *t, int *fds,
        size_t *n, char *why, size_t cap)
{
    int lock_fd = -1;

    t->stop_wall = takeover_now_us(true);
    t->stop = takeover_now_us(false);
    listener_pause(o->env.ls);  /* connects wait in the queues */
    if (worker_pool_pause(o->env.pool, PAUSE_WORKERS_MS) != 0) {
        snprintf(why, cap, "workers did not stop within %u ms (is the "
                 "journal failing?)", PAUSE_WORKERS_MS);
        return -1;
    }
    t->drained = takeover_now_us(false);
    /* a delayed flush_all coming due is the new owner's from here on */
    store_maintenance_stop(o->env.st);
    if (snap_handover(o->env.snap, &lock_fd, why, cap) != SNAP_OK) {
        return -1;
    }
    t->durable = takeover_now_us(false);
    *n = listener_fds(o->env.ls, fds, HANDOFF_FDS_MAX - 1);
    fds[(*n)++] = lock_fd;
    return 0;
}

/* "HANDOVER n= stop= drain_us= durable_us=": the new emberd reports
 * from them how long no process accepted (takeover_gap_report()). */
static void
handover_message(const struct pause_times *t, size_t nsock, char *msg,
                 size_t cap)
{
    snprintf(msg, cap, "HANDOVER n=%zu stop=%" PRIu64 " drain_us=%" PRIu64
             " durable_us=%" PRIu64, nsock, t->stop_wall,
             t->drained - t->stop, t->durable - t->drained);
}

static void
on_ready(struct takeover_owner *o)
{
    char why[SNAP_ERR_MAX], msg[HANDOFF_MSG_MAX], err[256];
    int fds[HANDOFF_FDS_MAX];
    struct pause_times t;
    size_t n = 0;
    int e;

    if (!o->held) {
        refuse(o, "READY before HELLO");
        return;
    }
    if (quiesce(o, &t, fds, &n, why, sizeof(why)) != 0) {
        refuse(o, why);         /* tells it why, before we resume */
        resume(o, why);
        return;
    }
    handover_message(&t, n - 1, msg, sizeof(msg));
    e = handoff_send(o->sfd, msg, fds, n, err, sizeof(err));
    t.handed = takeover_now_us(false);
    log_msg(o->env.log, LOG_LVL_NOTICE, "takeover: journal synced in "
            "%.1f ms while serving, then stopped accepting for pid %ld; "
            "requests in flight done in %.1f ms, journal durable in %.1f "
            "ms, sockets handed over %.1f ms after the stop",
            (double)o->sync_us / 1000.0, o->peer,
            (double)(t.drained - t.stop) / 1000.0,
            (double)(t.durable - t.drained) / 1000.0,
            (double)(t.handed - t.stop) / 1000.0);
    if (e == 0) {
        e = handoff_recv(o->sfd, (int)TAKEOVER_PAUSE_MS, msg, sizeof(msg),
                         NULL, NULL, err, sizeof(err));
    }
    if (e == 0 && strcmp(msg, "DONE") == 0) {
        reply(o, "BYE");
        snap_handed_over(o->env.snap);
        o->handed_over = true;
        end_session(o, "it serves now; closing our connections");
        event_base_loopbreak(o->env.base);
        return;
    }
    if (e == ETIMEDOUT) {
        refuse(o, "no DONE in time: the running emberd serves on");
    }
    resume(o, e != 0 ? err : msg);
}

/* ---- READY: first the journal, while we serve --------------------------- */

static void *
presync_main(void *arg)
{
    struct takeover_owner *o = arg;

    snap_handover_presync(o->env.snap);
    event_active(o->synced_ev, EV_READ, 0);     /* the main loop goes on */
    return NULL;
}

/* The presync is done: hand over, unless the new emberd went meanwhile
 * (the session ended and released our snapshots: nothing to undo). A
 * READY of a later session that came meanwhile goes on from here too:
 * the presync only shortens snap_handover()'s sync. */
static void
on_synced(evutil_socket_t fd, short what, void *arg)
{
    struct takeover_owner *o = arg;

    (void)fd;
    (void)what;
    pthread_join(o->sync_tid, NULL);
    o->syncing = false;
    o->sync_us = takeover_now_us(false) - o->sync_t0;
    if (o->sfd >= 0 && o->ready) {
        o->ready = false;
        on_ready(o);
    }
}

/*
 * READY: what the journal holds now is synced on a thread while we go on
 * serving, so that during the pause only the last moment's changes are
 * written and synced (snap_handover()); without a thread, at once.
 */
static void
presync(struct takeover_owner *o)
{
    if (!o->held) {
        refuse(o, "READY before HELLO");
        return;
    }
    o->ready = true;
    if (o->syncing) {
        return;                 /* on_synced() goes on */
    }
    o->sync_t0 = takeover_now_us(false);
    o->sync_us = 0;
    if (pthread_create(&o->sync_tid, NULL, presync_main, o) != 0) {
        o->ready = false;
        on_ready(o);
        return;
    }
    o->syncing = true;
}

/* ---- events ------------------------------------------------------------- */

static void
on_session(evutil_socket_t fd, short what, void *arg)
{
    struct takeover_owner *o = arg;
    char msg[HANDOFF_MSG_MAX], err[256];

    (void)fd;
    (void)what;
    if (handoff_recv(o->sfd, 0, msg, sizeof(msg), NULL, NULL, err,
                     sizeof(err)) != 0) {
        end_session(o, err);
    } else if (strncmp(msg, "HELLO ", 6) == 0) {
        on_hello(o, msg);
    } else if (strcmp(msg, "READY") == 0) {
        presync(o);
    } else {
        end_session(o, msg);    /* ABORT why=..., or nonsense */
    }
}

/* Tell connection CFD that a takeover is in progress, and close it. */
static void
turn_away(struct takeover_owner *o, int cfd)
{
    char msg[HANDOFF_MSG_MAX] = "NO", why[96], err[256];

    snprintf(why, sizeof(why), o->handed_over
             ? "emberd pid %ld has taken over"
             : "a takeover by pid %ld is in progress", o->peer);
    (void)handoff_put(msg, sizeof(msg), "why", why);
    (void)handoff_send(cfd, msg, NULL, 0, err, sizeof(err));
    close(cfd);
}

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct takeover_owner *o = arg;
    char err[256];
    pid_t pid = 0;
    int cfd, e;

    (void)fd;
    (void)what;
    while ((e = handoff_accept(o->lfd, &cfd, &pid, err, sizeof(err))) !=
           EAGAIN) {
        if (e != 0) {
            log_msg(o->env.log, LOG_LVL_WARN, "takeover: %s", err);
            if (e == EPERM) {
                continue;
            }
            return;
        }
        if (o->sfd >= 0 || o->handed_over) {
            turn_away(o, cfd);
            continue;
        }
        o->sfd = cfd;
        o->peer = (long)pid;
        o->session_ev = event_new(o->env.base, cfd, EV_READ | EV_PERSIST,
                                  on_session, o);
        if (o->session_ev == NULL || event_add(o->session_ev, NULL) != 0) {
            end_session(o, "out of memory");
        }
    }
}

int
takeover_owner_create(const struct takeover_env *env,
                      struct takeover_owner **out, char *errbuf,
                      size_t errlen)
{
    struct takeover_owner *o = calloc(1, sizeof(*o));

    *out = NULL;
    if (o == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    o->env = *env;
    o->dir = env->set->snapshot_dir;
    o->sfd = -1;
    if (handoff_listen(o->dir, &o->lfd, &o->ino, errbuf, errlen) != 0) {
        free(o);
        return -1;
    }
    o->accept_ev = event_new(env->base, o->lfd, EV_READ | EV_PERSIST,
                             on_accept, o);
    o->synced_ev = event_new(env->base, -1, 0, on_synced, o);
    if (o->accept_ev == NULL || o->synced_ev == NULL ||
        event_add(o->accept_ev, NULL) != 0) {
        snprintf(errbuf, errlen, "control socket: out of memory");
        takeover_owner_destroy(&o, "out of memory");
        return -1;
    }
    *out = o;
    return 0;
}

bool
takeover_owner_handed_over(const struct takeover_owner *o)
{
    return o != NULL && o->handed_over;
}

void
takeover_owner_destroy(struct takeover_owner **op, const char *why)
{
    struct takeover_owner *o = *op;

    if (o == NULL) {
        return;
    }
    if (o->syncing) {
        pthread_join(o->sync_tid, NULL);    /* an fdatasync at most */
    }
    if (o->sfd >= 0) {
        refuse(o, why);
    }
    if (o->synced_ev != NULL) {
        event_free(o->synced_ev);
    }
    if (o->accept_ev != NULL) {
        event_free(o->accept_ev);
    }
    if (o->lfd >= 0) {
        close(o->lfd);
    }
    if (!o->handed_over) {
        /* handed over, the path is the new owner's to replace (a rename
         * over ours): removing it now could remove theirs */
        handoff_unlink(o->dir, o->ino);
    }
    free(o);
    *op = NULL;
}
