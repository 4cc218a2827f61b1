/*
 * main.c -- emberd: options, start-up in dependency order, the main loop
 * (listener + signals), and teardown in reverse.
 *
 *   settings -> log (file), notify -> listening sockets bound -> detach,
 *   pid file, drop root -> store -> snapshot open + warm-restart load
 *   -> stats -> workers -> listen + accept, control socket, READY=1 ...
 *   SIGTERM (or handed over) ... stop accepting -> drain workers -> final
 *   snapshot (none once handed over) -> store -> pid file
 *
 * --takeover (daemon/takeover.h): no bind; after dropping root, HELLO to
 * the emberd serving the directory -> store -> snapshot loaded shared
 * -> stats, workers (idle) -> its journal caught up -> its sockets and
 * the rest of the journal -> MAINPID=, DONE/BYE -> the directory is ours
 * (pid file, snapshots) -> accept, READY=1; the time no process accepted
 * is logged and kept for `stats`.
 *
 * Only this file (and tools/) may exit the process.
 */
#include "config.h"

#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "daemon/takeover.h"
#include "daemon/worker.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* How long shutdown waits for pending replies to be written. */
#define DRAIN_MS 5000u
/* Change log bound with persistence: a fraction of -m, at least 4 MiB. */
#define CHANGELOG_MIN ((size_t)4 << 20)
#define CHANGELOG_SHARE 64
/* Largest hash table pre-sized from a snapshot's item count. */
#define HASHPOWER_LOAD_MAX 27
/* --takeover: catch up with the journal while the old emberd serves, at
 * most this often, until a round applies fewer changes than this. */
#define CATCH_UP_ROUNDS 4
#define CATCH_UP_FEW 2000

struct server {
    struct settings set;
    struct logger log;
    struct notify notify;           /* systemd's NOTIFY_SOCKET, or off */
    atomic_bool ready;              /* listening: READY=1 was sent */
    struct listener *ls;
    struct store *st;
    struct snap *snap;
    struct stats_hub hub;
    bool hub_live;
    struct worker_pool *pool;
    struct event_base *base;
    struct event *sig_term;
    struct event *sig_int;
    struct event *sig_usr1;
    struct event *sig_hup;
    struct takeover_owner *owner;   /* the control socket, with a DIR */
    struct takeover_new *tk;        /* --takeover: the emberd replaced */
    struct takeover_gap tk_gap;     /* its pause, as it told */
    bool tk_adopted;                /* we got its sockets */
    uint64_t tk_handed_wall;        /* when (CLOCK_REALTIME, us) */
    uint64_t tk_applied, tk_apply_us;   /* its journal's tail, applied */
    int ready_fd;                   /* -d: tells the parent we serve */
    const char *pidfile;            /* absolute once -d changed to "/" */
    char pidfile_abs[4096];
    struct daemon_pidfile pid;      /* -P: written, removed at exit */
    char err[SNAP_ERR_MAX + 64];
};

static const char *
signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
    }
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *sv = arg;

    (void)what;
    log_msg(&sv->log, LOG_LVL_NOTICE, "%s: shutting down (no new "
            "connections, requests in flight finish%s)",
            signal_name((int)sig), sv->snap != NULL ? ", final snapshot" : "");
    notify_send(&sv->notify, "STOPPING=1\nSTATUS=shutting down");
    event_base_loopbreak(sv->base);
}

/* SIGHUP: reopen --log-file (logrotate); otherwise nothing, as memcached. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct server *sv = arg;
    char err[256];

    (void)sig;
    (void)what;
    if (sv->log.path == NULL) {
        return;
    }
    if (log_reopen(&sv->log, err, sizeof(err)) != 0) {
        log_msg(&sv->log, LOG_LVL_ERR, "SIGHUP: %s; still logging to the "
                "file open before", err);
        return;
    }
    log_msg(&sv->log, LOG_LVL_NOTICE, "SIGHUP: reopened log file %s",
            sv->log.path);
}

/* One NOTICE line with what this emberd was started with. */
static void
log_start(const struct server *sv)
{
    static const char *const fsync[] = { "everysec", "always", "no" };
    static const char *const corrupt_words[] = {
        "refuses to start on", "starts cold on", "salvages",
    };
    const struct settings *set = &sv->set;
    char persist[4400], every[64];

    if (set->snapshot_dir == NULL) {
        snprintf(persist, sizeof(persist), "off (no --snapshot-dir: a "
                 "pure cache)");
    } else {
        if (set->snapshot_interval != 0) {
            snprintf(every, sizeof(every), "every %u s",
                     set->snapshot_interval);
        } else {
            snprintf(every, sizeof(every), "on demand and at shutdown");
        }
        snprintf(persist, sizeof(persist), "--snapshot-dir=%s, snapshots "
                 "%s, journal %s%s, %s a damaged snapshot",
                 set->snapshot_dir, every, set->journal_off ? "off" : "on, "
                 "fsync ", set->journal_off ? "" : fsync[set->journal_fsync],
                 corrupt_words[set->snapshot_on_corrupt]);
    }
    log_msg(&sv->log, LOG_LVL_NOTICE, "version %s starting: -m %zu MB, -c "
            "%u, -t %u, -I %zu bytes; persistence: %s", PACKAGE_VERSION,
            set->mem_limit >> 20, set->max_conns, set->threads,
            set->item_size_max, persist);
}

/* Binding, detaching, pid file, privileges: the process-level part. */
static int
setup_process(struct server *sv)
{
    const struct settings *set = &sv->set;

    if (set->udp_port != 0) {
        log_msg(&sv->log, LOG_LVL_WARN, "-U %u: UDP is not supported; "
                "serving TCP only", set->udp_port);
    }
    if (set->ext_ignored > 0) {
        log_msg(&sv->log, LOG_LVL_INFO, "%u memcached -o tuning word(s) "
                "accepted and ignored (ember uses idle_timeout and "
                "hashpower)", set->ext_ignored);
    }
    daemon_raise_fd_limit(set->max_conns, &sv->log);
    if (set->max_core) {
        daemon_raise_core_limit(&sv->log);
    }
    /* --takeover: the sockets come from the emberd we replace */
    sv->ls = listener_create(set, &sv->log, !set->takeover, sv->err,
                             sizeof(sv->err));
    if (sv->ls == NULL) {
        return EX_OSERR;
    }
    sv->pidfile = set->pidfile;
    if (sv->pidfile != NULL && sv->pidfile[0] != '/' &&
        daemon_absolute_path(sv->pidfile, sv->pidfile_abs,
                             sizeof(sv->pidfile_abs)) == 0) {
        sv->pidfile = sv->pidfile_abs;  /* -d moves us to "/" */
    }
    if (set->daemonize &&
        daemon_detach(&sv->ready_fd, sv->err, sizeof(sv->err)) != 0) {
        return EX_OSERR;
    }
    log_start(sv);      /* after -d: with the pid that serves */
    /* --takeover: written once the takeover happened */
    if (sv->pidfile != NULL && !set->takeover &&
        daemon_pidfile_write(&sv->pid, sv->pidfile, sv->err,
                             sizeof(sv->err)) != DAEMON_OK) {
        return EX_CANTCREAT;
    }
    switch (daemon_drop_privileges(set->user, &sv->log, sv->err,
                                   sizeof(sv->err))) {
    case DAEMON_OK:
        daemon_pidfile_check(&sv->pid, &sv->log);
        return 0;
    case DAEMON_EUSER: return EX_NOUSER;
    default: return EX_OSERR;
    }
}

static int
setup_store(struct server *sv)
{
    struct store_config cfg;
    int sys_err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = sv->set.mem_limit;
    cfg.item_size_max = sv->set.item_size_max;
    cfg.growth_factor = sv->set.growth_factor;
    cfg.no_evict = sv->set.no_evict;
    cfg.hash_power = sv->set.hash_power;
    if (cfg.hash_power == 0 && sv->set.snapshot_dir != NULL) {
        /* size the table for the snapshot: growing it while loading
         * millions of items costs about a third more CPU */
        uint64_t n = snap_peek_items(sv->set.snapshot_dir);

        while (n > 0 && cfg.hash_power < HASHPOWER_LOAD_MAX &&
               ((uint64_t)1 << cfg.hash_power) < n) {
            cfg.hash_power = cfg.hash_power == 0 ? 16 : cfg.hash_power + 1;
        }
    }
    if (sv->set.snapshot_dir != NULL) {
        cfg.changelog_max = sv->set.mem_limit / CHANGELOG_SHARE;
        if (cfg.changelog_max < CHANGELOG_MIN) {
            cfg.changelog_max = CHANGELOG_MIN;
        }
    }
    sv->st = store_create(&cfg, &sys_err);
    if (sv->st == NULL) {
        snprintf(sv->err, sizeof(sv->err), "cannot create the store: %s",
                 strerror(sys_err));
        return EX_SOFTWARE;
    }
    /* --takeover: not before the directory is ours (a delayed flush_all
     * coming due is the old emberd's to apply until then) */
    sys_err = sv->set.takeover ? 0 : store_maintenance_start(sv->st);
    if (sys_err != 0) {
        snprintf(sv->err, sizeof(sv->err), "store maintenance thread: %s",
                 strerror(sys_err));
        return EX_OSERR;
    }
    return 0;
}

/*
 * The snapshot module's lines. Until emberd serves, those an operator
 * sees by default (the load, its progress, what it loaded) are also the
 * service's status for systemd (`systemctl status emberd`).
 */
static void
snap_log_line(void *arg, enum snap_log_level level, const char *msg)
{
    static const enum log_level map[] = {
        [SNAP_LOG_ERROR] = LOG_LVL_ERR,
        [SNAP_LOG_WARN] = LOG_LVL_WARN,
        [SNAP_LOG_NOTICE] = LOG_LVL_NOTICE,
        [SNAP_LOG_INFO] = LOG_LVL_INFO,
    };
    struct server *sv = arg;

    log_msg(&sv->log, map[level], "snapshot: %s", msg);
    if (level <= SNAP_LOG_NOTICE && !atomic_load(&sv->ready)) {
        notify_status(&sv->notify, msg);
    }
}

/*
 * Open the snapshot and load it into the store, before any client can
 * connect; then start the writer thread.
 */
static int
setup_snapshot(struct server *sv)
{
    const struct settings *set = &sv->set;
    struct snap_settings cfg;
    char err[SNAP_ERR_MAX];
    int rc;

    if (set->snapshot_dir == NULL) {
        return 0;
    }
    snap_settings_default(&cfg);
    cfg.dir = set->snapshot_dir;
    cfg.interval = set->snapshot_interval;
    cfg.compression = set->snapshot_compression;
    cfg.max_age = set->snapshot_max_age;
    cfg.journal = set->journal_off == 0;
    cfg.journal_fsync = (enum snap_fsync)set->journal_fsync;
    cfg.journal_max = set->journal_max;
    cfg.on_corrupt = set->snapshot_on_corrupt == SETTINGS_CORRUPT_COLD
                         ? SNAP_CORRUPT_COLD
                     : set->snapshot_on_corrupt == SETTINGS_CORRUPT_SALVAGE
                         ? SNAP_CORRUPT_SALVAGE
                         : SNAP_CORRUPT_FAIL;
    cfg.log = snap_log_line;
    cfg.log_arg = sv;
    cfg.shared = set->takeover;     /* read only until it is ours */
    rc = snap_open(&cfg, sv->st, &sv->snap, err, sizeof(err));
    if (rc == SNAP_OK) {
        rc = snap_load(sv->snap, err, sizeof(err));
    }
    if (rc == SNAP_OK && !set->takeover) {
        rc = snap_start(sv->snap);
        if (rc != SNAP_OK) {
            snprintf(err, sizeof(err), "cannot start the snapshot thread");
        }
    }
    if (rc != SNAP_OK) {
        snprintf(sv->err, sizeof(sv->err), "%s", err);
        return rc == SNAP_ESYS || rc == SNAP_ENOMEM ? EX_OSERR : EX_DATAERR;
    }
    return 0;
}

/*
 * --takeover, loaded: catch up with the old emberd's journal and open
 * its snapshot read-write while it serves, then take its sockets and
 * lock (or, if it died, bind and lock ourselves) and the rest of its
 * journal.
 */
static int
takeover_load(struct server *sv)
{
    int fds[LISTENER_SOCKETS_MAX], lock_fd = -1, rc = SNAP_OK;
    char err[SNAP_ERR_MAX];
    uint64_t got = CATCH_UP_FEW, t0;
    size_t n = 0;

    for (int i = 0; i < CATCH_UP_ROUNDS && got >= CATCH_UP_FEW &&
                    rc == SNAP_OK; i++) {
        rc = snap_catch_up(sv->snap, &got, err, sizeof(err));
    }
    if (rc == SNAP_OK) {
        rc = snap_takeover_prepare(sv->snap, err, sizeof(err));
    }
    if (rc == SNAP_OK &&
        (rc = takeover_new_request(sv->tk, fds, LISTENER_SOCKETS_MAX, &n,
                                   &lock_fd, sv->err, sizeof(sv->err)))) {
        return rc;
    }
    sv->tk_handed_wall = takeover_now_us(true);
    sv->tk_adopted = n > 0;
    t0 = takeover_now_us(false);
    if (rc == SNAP_OK && (n > 0 ? listener_adopt(sv->ls, fds, n, err,
                                                 sizeof(err))
                                : listener_bind(sv->ls, err, sizeof(err)))) {
        for (size_t i = 0; i < n; i++) {
            close(fds[i]);
        }
        rc = SNAP_ESYS;
    }
    if (rc == SNAP_OK) {
        rc = snap_takeover_load(sv->snap, lock_fd, &sv->tk_applied, err,
                                sizeof(err));
        lock_fd = -1;               /* the snap's now, either way */
        sv->tk_apply_us = takeover_now_us(false) - t0;
    }
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    if (rc != SNAP_OK) {
        snprintf(sv->err, sizeof(sv->err), "takeover: %s", err);
        return rc == SNAP_ESYS ? EX_OSERR : EX_DATAERR;
    }
    return 0;
}

/*
 * --takeover, workers ready: DONE; once the old emberd said BYE the
 * directory is ours: its marker, our pid file, snapshots, maintenance.
 * systemd hears MAINPID= before DONE: the old emberd may exit as soon as
 * it said BYE, and systemd must not take that for the service's end.
 */
static int
takeover_commit(struct server *sv)
{
    int code;

    notify_mainpid(&sv->notify, (long)getpid());
    code = takeover_new_commit(sv->tk, sv->err, sizeof(sv->err));
    if (code != 0) {
        /* it took back and serves on: it is the main process again */
        notify_mainpid(&sv->notify, takeover_new_owner_pid(sv->tk));
        return code;
    }
    takeover_new_gap(sv->tk, &sv->tk_gap);
    takeover_new_close(&sv->tk);
    snap_takeover_own(sv->snap);
    if (store_maintenance_start(sv->st) != 0 || snap_start(sv->snap) !=
                                                    SNAP_OK) {
        log_msg(&sv->log, LOG_LVL_ERR, "takeover: cannot start the store "
                "maintenance or snapshot thread; serving without");
    }
    if (sv->pidfile != NULL &&
        daemon_pidfile_write(&sv->pid, sv->pidfile, sv->err,
                             sizeof(sv->err)) != DAEMON_OK) {
        log_msg(&sv->log, LOG_LVL_ERR, "takeover: %s", sv->err);
    }
    return 0;
}

/*
 * Workers (idle until the listener hands them connections) and the main
 * event base. With --takeover this is done before the handover, so that
 * the moment when no process accepts does not include it.
 */
static int
setup_workers(struct server *sv)
{
    int sys_err = 0;

    if (sv->base != NULL) {
        return 0;                   /* done before the takeover */
    }
    if (stats_hub_init(&sv->hub, sv->set.threads) != 0) {
        snprintf(sv->err, sizeof(sv->err), "out of memory");
        return EX_OSERR;
    }
    sv->hub_live = true;
    /* the workers get what was set up before them: store, snapshot */
    sv->pool = worker_pool_create(&sv->set, sv->st, sv->snap, &sv->hub,
                                  &sv->log, &sys_err);
    if (sv->pool == NULL || (sys_err = worker_pool_start(sv->pool)) != 0) {
        snprintf(sv->err, sizeof(sv->err), "worker threads: %s",
                 strerror(sys_err));
        return EX_OSERR;
    }
    sv->base = event_base_new();
    if (sv->base == NULL) {
        snprintf(sv->err, sizeof(sv->err), "event base: out of memory");
        return EX_OSERR;
    }
    return 0;
}

/* Signals on the main loop: from here on SIGTERM waits for it (not
 * before: a load or a takeover stopped by SIGTERM ends at once). */
static int
setup_signals(struct server *sv)
{
    sv->sig_term = evsignal_new(sv->base, SIGTERM, on_stop_signal, sv);
    sv->sig_int = evsignal_new(sv->base, SIGINT, on_stop_signal, sv);
    /* memcached 1.6 stops gracefully on SIGUSR1 too */
    sv->sig_usr1 = evsignal_new(sv->base, SIGUSR1, on_stop_signal, sv);
    sv->sig_hup = evsignal_new(sv->base, SIGHUP, on_hup, sv);
    if (sv->sig_term == NULL || sv->sig_int == NULL ||
        sv->sig_usr1 == NULL || sv->sig_hup == NULL ||
        evsignal_add(sv->sig_term, NULL) != 0 ||
        evsignal_add(sv->sig_int, NULL) != 0 ||
        evsignal_add(sv->sig_usr1, NULL) != 0 ||
        evsignal_add(sv->sig_hup, NULL) != 0) {
        snprintf(sv->err, sizeof(sv->err), "signal handlers");
        return EX_OSERR;
    }
    return 0;
}

/* listen() (accept what waited in a takeover's queues), then the control
 * socket through which a later takeover finds us. */
static int
start_serving(struct server *sv)
{
    struct takeover_env env = { &sv->set, &sv->log, sv->base, sv->ls,
                                sv->pool, sv->st, sv->snap };
    char err[SNAP_ERR_MAX];
    int sys_err = listener_start(sv->ls, sv->base, sv->pool, &sv->hub);

    if (sys_err != 0) {
        snprintf(sv->err, sizeof(sv->err), "listen: %s", strerror(sys_err));
        return EX_OSERR;
    }
    if (sv->snap != NULL &&
        takeover_owner_create(&env, &sv->owner, err, sizeof(err)) != 0) {
        log_msg(&sv->log, LOG_LVL_WARN, "%s: no --takeover of this emberd",
                err);
    }
    return 0;
}

/* Returns 0, or EX_IOERR when the final snapshot could not be written. */
static int
teardown(struct server *sv)
{
    int rc = 0;

    /* a takeover in progress is told, and ours stop */
    takeover_owner_destroy(&sv->owner, "the running emberd is shutting "
                           "down");
    if (sv->tk != NULL) {
        takeover_new_abort(sv->tk, sv->err);
        takeover_new_close(&sv->tk);
    }
    /* a second SIGINT/SIGTERM while draining kills at once (libevent
     * restores the default action when a signal's last event goes) */
    if (sv->sig_term != NULL) {
        event_del(sv->sig_term);
    }
    if (sv->sig_int != NULL) {
        event_del(sv->sig_int);
    }
    if (sv->ls != NULL) {
        listener_stop(sv->ls);      /* no new clients from here on */
    }
    if (sv->pool != NULL) {
        worker_pool_stop(sv->pool, DRAIN_MS);
        worker_pool_destroy(&sv->pool);
    }
    if (sv->snap != NULL) {
        char err[SNAP_ERR_MAX];

        /* every acknowledged write is in the store: make it durable */
        if (snap_close(&sv->snap, err, sizeof(err)) != SNAP_OK) {
            log_msg(&sv->log, LOG_LVL_ERR, "final snapshot failed: %s; "
                    "the previous snapshot%s is kept; exiting with status "
                    "%d", err, sv->set.journal_off ? "" : " and the journal",
                    EX_IOERR);
            rc = EX_IOERR;
        }
    }
    if (sv->hub_live) {
        stats_hub_release(&sv->hub);
    }
    if (sv->sig_term != NULL) {
        event_free(sv->sig_term);
    }
    if (sv->sig_int != NULL) {
        event_free(sv->sig_int);
    }
    if (sv->sig_usr1 != NULL) {
        event_free(sv->sig_usr1);
    }
    if (sv->sig_hup != NULL) {
        event_free(sv->sig_hup);
    }
    if (sv->base != NULL) {
        event_base_free(sv->base);
    }
    if (sv->st != NULL) {
        store_maintenance_stop(sv->st);
        store_destroy(&sv->st);
    }
    daemon_pidfile_remove(&sv->pid, &sv->log);
    listener_destroy(&sv->ls);
    return rc;
}

/* Listening: say where, and tell systemd. */
static void
announce_ready(struct server *sv)
{
    char where[512], status[640];

    listener_describe(sv->ls, where, sizeof(where));
    log_msg(&sv->log, LOG_LVL_NOTICE, "serving on %s with %u threads%s",
            where, sv->set.threads,
            sv->set.takeover ? " (taken over)" : "");
    snprintf(status, sizeof(status), "READY=1\nSTATUS=serving on %s",
             where);
    atomic_store(&sv->ready, true);
    notify_send(&sv->notify, status);
}

/* The log file and systemd's socket, before anything is logged. */
static int
setup_logging(struct server *sv)
{
    char err[512];

    log_init(&sv->log, sv->set.verbosity);
    if (sv->set.log_file != NULL &&
        log_open_file(&sv->log, sv->set.log_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "emberd: error: %s\n", err);
        return EX_CANTCREAT;
    }
    if (notify_init(&sv->notify, err, sizeof(err)) != 0) {
        log_msg(&sv->log, LOG_LVL_WARN, "%s", err);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static struct server sv;
    int code;

    sv.ready_fd = -1;
    atomic_init(&sv.ready, false);
    daemon_pidfile_init(&sv.pid);
    settings_default(&sv.set);
    code = settings_parse(&sv.set, argc, argv, stdout, stderr);
    if (code != SETTINGS_OK) {
        settings_release(&sv.set);
        return code == SETTINGS_EXIT ? 0 : EX_USAGE;
    }
    code = setup_logging(&sv);
    if (code != 0) {
        log_release(&sv.log);
        settings_release(&sv.set);
        return code;
    }
    evthread_use_pthreads();    /* snapcmd wakes workers from a thread */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);    /* until the loop reopens the log on it */
    code = setup_process(&sv);
    if (code == 0 && sv.set.takeover) {
        code = takeover_new_hello(&sv.set, &sv.log, &sv.tk, sv.err,
                                  sizeof(sv.err));
    }
    if (code == 0) {
        code = setup_store(&sv);
    }
    if (code == 0) {
        code = setup_snapshot(&sv);
    }
    if (code == 0 && sv.tk != NULL) {
        code = setup_workers(&sv);  /* idle until the handover */
    }
    if (code == 0 && sv.tk != NULL) {
        code = takeover_load(&sv);
    }
    if (code == 0) {
        code = setup_workers(&sv);
    }
    if (code == 0) {
        code = setup_signals(&sv);
    }
    if (code == 0 && sv.tk != NULL) {
        code = takeover_commit(&sv);
    }
    if (code == 0) {
        code = start_serving(&sv);
    }
    if (code == 0) {
        announce_ready(&sv);
        daemon_ready(sv.ready_fd, sv.log.journal);
        if (sv.tk_adopted) {
            atomic_store(&sv.hub.takeover_accept_gap_us,
                         takeover_gap_report(&sv.log, &sv.tk_gap,
                                             sv.tk_handed_wall,
                                             sv.tk_applied,
                                             sv.tk_apply_us));
        }
        event_base_dispatch(sv.base);
    } else {
        log_msg(&sv.log, LOG_LVL_ERR, "%s", sv.err);
        if (sv.log.path != NULL) {
            /* the terminal or unit that started us sees why, too */
            fprintf(stderr, "emberd: error: %s\n", sv.err);
        }
    }
    if (takeover_owner_handed_over(sv.owner)) {
        log_msg(&sv.log, LOG_LVL_INFO, "handed over: closing each "
                "connection once its replies are written");
    }
    if (teardown(&sv) != 0 && code == 0) {
        code = EX_IOERR;
    }
    log_msg(&sv.log, LOG_LVL_NOTICE, "stopped (exit status %d)", code);
    notify_release(&sv.notify);
    log_release(&sv.log);       /* it borrowed the --log-file path */
    settings_release(&sv.set);
    return code;
}
