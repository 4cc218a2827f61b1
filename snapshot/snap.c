/*
 * snap.c -- the snapshot object's life cycle: open with the corrupt and
 * stale policies, the writer thread and on-demand requests, stats and
 * the final snapshot at close. The durable CAS reservation: snap_cas.c.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"
#include "util/util.h"

const char *
snap_strerror(int rc)
{
    switch (rc) {
    case SNAP_OK: return "ok";
    case SNAP_ECORRUPT: return "snapshot is corrupt";
    case SNAP_EVERSION: return "snapshot format is newer than this emberd";
    case SNAP_EFOREIGN: return "snapshot directory holds foreign data";
    case SNAP_ESYS: return "system error";
    case SNAP_ENOMEM: return "out of memory";
    case SNAP_EWRITE: return "snapshot write failed";
    case SNAP_ECLOSED: return "snapshots are shutting down";
    case SNAP_EINVAL: return "invalid snapshot settings";
    default: return "unknown snapshot error";
    }
}

void
snap_settings_default(struct snap_settings *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->interval = 60;
    cfg->compression = 1;
    cfg->on_corrupt = SNAP_CORRUPT_FAIL;
    cfg->cas_step = SNAP_CAS_STEP_DEFAULT;
    cfg->load_threads = 2;
    /* one applier on a 2-CPU machine: 1 M overwrites of 100 B replayed
     * at 1.6-1.85 M records/s with one, 1.47-1.56 M/s with two, which
     * wait on each other's size-class locks (docs/BENCHMARKS.md) */
    cfg->replay_threads = sysconf(_SC_NPROCESSORS_ONLN) <= 2 ? 1 : 2;
    cfg->thread_nice = 5;
    cfg->load_precheck = true;
    cfg->child_stall_s = SNAP_CHILD_STALL_S;
}

void
snap_log(struct snap *sn, enum snap_log_level level, const char *fmt, ...)
{
    char line[SNAP_ERR_MAX + 128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (sn->cfg.log != NULL) {
        sn->cfg.log(sn->cfg.log_arg, level, line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

uint64_t
snap_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Error paths format into the caller's buffer with util/'s helper. */
#define errf util_errf

void
snap_env_recover(struct snap *sn)
{
    char err[SNAP_ERR_MAX];
    bool reopened;

    if (snapfmt_env_recover(sn->env, &reopened, err, sizeof(err)) !=
        SNAPFMT_OK) {
        snap_log(sn, SNAP_LOG_WARN, "cannot reopen the snapshot in %s "
                 "after a failed commit (trying again at the next): %s",
                 sn->dir, err);
    } else if (reopened) {
        snap_log(sn, SNAP_LOG_WARN, "reopened the snapshot in %s: LMDB "
                 "refuses a file after a failed commit until it is opened "
                 "again", sn->dir);
    }
}

/* ---- opening --------------------------------------------------------- */

/*
 * When DIR itself cannot be renamed (a mount point, a parent directory
 * emberd may not write, a name too long), move the files inside it:
 * DIR/data.mdb.<why>-<time> and DIR/lock.mdb.<why>-<time>. format_env.c
 * accepts such names next to a new snapshot.
 */
static int
move_files_aside(struct snap *sn, const char *suffix, char *err,
                 size_t errlen)
{
    static const char *files[] = { "data.mdb", "lock.mdb" };
    char from[sizeof(sn->dir) + 16], to[sizeof(sn->dir) + 80];

    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/%s", sn->dir, files[i]);
        snprintf(to, sizeof(to), "%s/%s.%s", sn->dir, files[i], suffix);
        if (rename(from, to) != 0 && errno != ENOENT) {
            return errf(SNAP_ESYS, err, errlen,
                        "cannot move %s aside to %s: %s", from, to,
                        strerror(errno));
        }
    }
    snap_log(sn, SNAP_LOG_WARN, "moved %s/data.mdb aside to "
             "%s/data.mdb.%s", sn->dir, sn->dir, suffix);
    return SNAP_OK;
}

/* Rename DIR to DIR.<why>-<time> (or its files); the name is logged. */
static int
move_aside(struct snap *sn, const char *why, char *err, size_t errlen)
{
    char to[sizeof(sn->dir) + 64], stamp[32], suffix[64];
    time_t now = time(NULL);
    struct tm tm;
    struct stat st;
    int n = 0;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(suffix, sizeof(suffix), "%s-%s", why, stamp);
    snprintf(to, sizeof(to), "%s.%s", sn->dir, suffix);
    while (stat(to, &st) == 0 && n < 100) {
        snprintf(suffix, sizeof(suffix), "%s-%s.%d", why, stamp, ++n);
        snprintf(to, sizeof(to), "%s.%s", sn->dir, suffix);
    }
    if (rename(sn->dir, to) != 0) {
        snap_log(sn, SNAP_LOG_WARN, "cannot rename %s to %s (%s); "
                 "moving its files instead", sn->dir, to, strerror(errno));
        return move_files_aside(sn, suffix, err, errlen);
    }
    snap_log(sn, SNAP_LOG_WARN, "moved %s aside to %s (%s)",
             sn->dir, to, why);
    return SNAP_OK;
}

static int
rc_from_fmt(int frc)
{
    switch (frc) {
    case SNAPFMT_ECORRUPT: return SNAP_ECORRUPT;
    case SNAPFMT_EVERSION: return SNAP_EVERSION;
    case SNAPFMT_EFOREIGN: return SNAP_EFOREIGN;
    case SNAPFMT_ENOMEM: return SNAP_ENOMEM;
    default: return SNAP_ESYS;
    }
}

/* Open DIR, applying the corrupt policy once. */
static int
env_open_policy(struct snap *sn, char *err, size_t errlen)
{
    char why[SNAPFMT_ERR_MAX];
    int frc, rc;

    /* a truncated data.mdb would raise SIGBUS once mapped: check first
     * (no file, or an empty one, is a new snapshot: fine) */
    frc = snapfmt_env_check_file(sn->dir, why, sizeof(why));
    if (frc == SNAPFMT_OK || frc == SNAPFMT_ENOENT) {
        /* shared: another emberd owns DIR; we only read it */
        frc = snapfmt_env_open(sn->dir, sn->shared ? SNAPFMT_RDONLY : 0,
                               sn->cfg.map_initial, &sn->env, why,
                               sizeof(why));
    }
    if (frc == SNAPFMT_OK) {
        return SNAP_OK;
    }
    rc = rc_from_fmt(frc);
    if ((rc != SNAP_ECORRUPT && rc != SNAP_EVERSION) ||
        sn->cfg.on_corrupt == SNAP_CORRUPT_FAIL || sn->shared) {
        /* snap_open() adds what to do */
        return errf(rc, err, errlen, "%s", why);
    }
    snap_log(sn, SNAP_LOG_WARN, "%s", why);
    rc = move_aside(sn, rc == SNAP_EVERSION ? "newer" : "corrupt", err,
                    errlen);
    if (rc != SNAP_OK) {
        return rc;
    }
    snap_history_lost(sn, "starting empty");
    frc = snapfmt_env_open(sn->dir, 0, sn->cfg.map_initial, &sn->env, err,
                           errlen);
    return frc == SNAPFMT_OK ? SNAP_OK : rc_from_fmt(frc);
}

/*
 * One emberd per snapshot directory: LMDB would let two processes take
 * turns writing, each believing its RAM is the truth. An flock on
 * data.mdb (LMDB itself uses fcntl locks on lock.mdb, which do not
 * conflict) is released by the kernel when the process dies (and, as
 * it belongs to the open file, not before every process it was passed
 * to has closed it: a takeover hands it over that way).
 */
int
snap_dir_lock(struct snap *sn, unsigned wait_ms, char *err, size_t errlen)
{
    char path[sizeof(sn->dir) + 16];
    unsigned waited = 0;

    if (sn->lock_fd >= 0) {
        close(sn->lock_fd);
    }
    snprintf(path, sizeof(path), "%s/data.mdb", sn->dir);
    sn->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (sn->lock_fd < 0) {
        return errf(SNAP_ESYS, err, errlen, "%s: %s", path, strerror(errno));
    }
    while (flock(sn->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || waited >= wait_ms) {
            return errf(SNAP_ESYS, err, errlen,
                        "%s is in use by another emberd (%s)", sn->dir,
                        strerror(errno));
        }
        usleep(20000);
        waited += 20;
    }
    return SNAP_OK;
}

/* Read meta and dictionaries; move a stale snapshot aside. */
static int
open_contents(struct snap *sn, char *err, size_t errlen)
{
    uint64_t now = store_now(sn->st);
    int frc;

    /* shared: the owner holds the lock, and what it serves is not
     * stale for us to move aside */
    if (!sn->shared && snap_dir_lock(sn, 0, err, errlen) != SNAP_OK) {
        return SNAP_ESYS;
    }
    frc = snapfmt_meta_read(sn->env, NULL, &sn->meta, err, errlen);
    if (frc == SNAPFMT_OK && !sn->shared && sn->cfg.max_age != 0 &&
        sn->meta.sequence > 0 &&
        now > sn->meta.last_commit + sn->cfg.max_age) {
        snap_log(sn, SNAP_LOG_WARN,
                 "last commit %llu s ago is older than "
                 "--snapshot-max-age=%llu: starting cold",
                 (unsigned long long)(now - sn->meta.last_commit),
                 (unsigned long long)sn->cfg.max_age);
        snapfmt_env_close(&sn->env);
        if (move_aside(sn, "stale", err, errlen) != SNAP_OK) {
            return SNAP_ESYS;
        }
        snap_history_lost(sn, "starting cold");
        frc = snapfmt_env_open(sn->dir, 0, sn->cfg.map_initial, &sn->env,
                               err, errlen);
        if (frc == SNAPFMT_OK &&
            snap_dir_lock(sn, 0, err, errlen) != SNAP_OK) {
            return SNAP_ESYS;
        }
        if (frc == SNAPFMT_OK) {
            frc = snapfmt_meta_read(sn->env, NULL, &sn->meta, err, errlen);
        }
    }
    if (frc == SNAPFMT_OK) {
        frc = snapfmt_dicts_load(sn->env, NULL, sn->cfg.compression, &sn->dicts,
                                 err, errlen);
    }
    if (frc != SNAPFMT_OK) {
        return rc_from_fmt(frc);
    }
    atomic_store(&sn->cas_reserved, sn->meta.cas_reserved);
    sn->dict = sn->meta.dict_id ? snapfmt_dicts_get(sn->dicts,
                                                    sn->meta.dict_id)
                                : NULL;
    if (sn->meta.dict_id != 0 && sn->dict == NULL) {
        return errf(SNAP_ECORRUPT, err, errlen,
                    "%s: meta names dictionary %u, which is missing",
                    sn->dir, (unsigned)sn->meta.dict_id);
    }
    /* a snapshot written before this process must be rewritten whole:
     * the store's change log only knows what happened since it started */
    sn->need_full = true;
    return SNAP_OK;
}

int
snap_restart_cold(struct snap *sn, const char *why, char *err, size_t errlen)
{
    int rc;

    snapfmt_env_close(&sn->env);
    snapfmt_dicts_destroy(&sn->dicts);
    sn->dict = NULL;
    rc = move_aside(sn, why, err, errlen);
    if (rc == SNAP_OK) {
        rc = snapfmt_env_open(sn->dir, 0, sn->cfg.map_initial, &sn->env, err,
                              errlen) == SNAPFMT_OK ? SNAP_OK : SNAP_ESYS;
    }
    if (rc == SNAP_OK) {
        rc = open_contents(sn, err, errlen);
    }
    if (rc == SNAP_OK) {
        snap_history_lost(sn, "starting empty");
        rc = snap_journal_reopen(sn, err, errlen);
    }
    if (rc == SNAP_OK) {
        rc = snap_cas_install(sn, err, errlen);
    }
    return rc;
}

static struct snap *
snap_alloc(const struct snap_settings *cfg, struct store *st)
{
    struct snap *sn = calloc(1, sizeof(*sn));

    if (sn == NULL) {
        return NULL;
    }
    sn->cfg = *cfg;
    snprintf(sn->dir, sizeof(sn->dir), "%s", cfg->dir);
    /* "DIR/" would be moved aside into itself */
    for (size_t n = strlen(sn->dir); n > 1 && sn->dir[n - 1] == '/'; n--) {
        sn->dir[n - 1] = '\0';
    }
    sn->cfg.dir = sn->dir;
    if (sn->cfg.cas_step < 2) {
        sn->cfg.cas_step = SNAP_CAS_STEP_DEFAULT;
    }
    if (sn->cfg.load_threads == 0 || sn->cfg.load_threads > 8) {
        sn->cfg.load_threads = 2;
    }
    if (sn->cfg.child_stall_s == 0) {
        sn->cfg.child_stall_s = SNAP_CHILD_STALL_S;
    }
    if (sn->cfg.replay_threads == 0 || sn->cfg.replay_threads > 8) {
        sn->cfg.replay_threads = 2;
    }
    sn->st = st;
    sn->shared = cfg->shared;
    sn->lock_fd = -1;
    pthread_mutex_init(&sn->run_lock, NULL);
    pthread_mutex_init(&sn->txn_lock, NULL);
    pthread_mutex_init(&sn->lock, NULL);
    pthread_mutex_init(&sn->stats_lock, NULL);
    pthread_cond_init(&sn->cond, NULL);
    atomic_init(&sn->writing, false);
    atomic_init(&sn->loading, false);
    atomic_init(&sn->cas_reserved, 0);
    atomic_init(&sn->reserve_retry_us, 0);
    return sn;
}

static void
snap_free(struct snap *sn)
{
    if (sn->lock_fd >= 0) {
        close(sn->lock_fd);
    }
    snapfmt_env_close(&sn->env);
    snapfmt_dicts_destroy(&sn->dicts);
    snap_write_release(sn);
    pthread_mutex_destroy(&sn->run_lock);
    pthread_mutex_destroy(&sn->txn_lock);
    pthread_mutex_destroy(&sn->lock);
    pthread_mutex_destroy(&sn->stats_lock);
    pthread_cond_destroy(&sn->cond);
    free(sn);
}

/* snap_in_child() body of snap_peek_items(): meta items, or 0. */
static uint64_t
peek_items_child(const char *dir, _Atomic uint64_t *progress)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_meta m;

    if (snapfmt_env_check_file(dir, NULL, 0) != SNAPFMT_OK ||
        snapfmt_env_open(dir, SNAPFMT_RDONLY, 0, &e, NULL, 0) !=
            SNAPFMT_OK ||
        snapfmt_meta_read(e, NULL, &m, NULL, 0) != SNAPFMT_OK) {
        return 0;
    }
    atomic_fetch_add(progress, 1);
    return m.items;
}

uint64_t
snap_peek_items(const char *dir)
{
    uint64_t n = 0;
    int sig;

    /* opening reads LMDB's pages, and a damaged one can fault: in a
     * child, so that snap_open() reports it (emberd has no policy yet) */
    if (dir == NULL ||
        snap_in_child(NULL, dir, peek_items_child, &n, &sig) !=
            SNAP_CHILD_OK) {
        return 0;
    }
    return n;
}

/*
 * An empty data.mdb, or none beside journal segments, is a snapshot that
 * was lost (a full disk while it was created, an operator's rm): what the
 * CAS counter had reached is unknown.
 */
static void
data_mdb_check(struct snap *sn)
{
    char path[sizeof(sn->dir) + 16];
    uint64_t *segs = NULL;
    size_t nsegs = 0;
    struct stat st;

    snprintf(path, sizeof(path), "%s/data.mdb", sn->dir);
    if (stat(path, &st) == 0) {
        if (st.st_size == 0) {
            snap_log(sn, SNAP_LOG_WARN, "%s is empty (0 bytes): "
                     "starting with an empty snapshot", path);
            snap_history_lost(sn, "empty data.mdb");
        }
        return;
    }
    if (snapfmt_jseg_list(sn->dir, &segs, &nsegs, NULL, 0) == SNAPFMT_OK &&
        nsegs > 0) {
        snap_log(sn, SNAP_LOG_WARN, "%s is missing but %zu "
                 "journal segment(s) are there: only their changes come "
                 "back", path, nsegs);
        snap_history_lost(sn, "data.mdb missing");
    }
    free(segs);
}

int
snap_open(const struct snap_settings *cfg, struct store *st,
          struct snap **out, char *err, size_t errlen)
{
    struct snap *sn;
    int rc;

    if (cfg->dir == NULL || cfg->dir[0] == '\0' ||
        strlen(cfg->dir) >= sizeof(sn->dir) - 64 || cfg->compression < 0 ||
        cfg->compression > 19) {
        return errf(SNAP_EINVAL, err, errlen,
                    "snapshot: bad directory or compression level");
    }
    if (cfg->shared && !cfg->journal) {
        return errf(SNAP_EINVAL, err, errlen, "a takeover needs the "
                    "journal: the owner's changes come over through it");
    }
    sn = snap_alloc(cfg, st);
    if (sn == NULL) {
        return errf(SNAP_ENOMEM, err, errlen, "out of memory");
    }
    sn->load_t0 = snap_now_us();
    sn->opened_at = store_now(st);
    data_mdb_check(sn);
    rc = SNAP_OK;
    /* before this process reads a byte of it (opening reads the meta and
     * main database pages): a damaged page must get the corrupt policy,
     * not a signal */
    if (sn->cfg.load_precheck) {
        uint64_t t0 = snap_now_us();

        if (snap_precheck(sn, err, errlen) != SNAPFMT_OK) {
            rc = SNAP_ECORRUPT;
        }
        sn->precheck_us = snap_now_us() - t0;
    }
    if (rc == SNAP_OK) {
        rc = env_open_policy(sn, err, errlen);
    }
    if (rc == SNAP_OK) {
        rc = open_contents(sn, err, errlen);
    }
    if (rc == SNAP_ECORRUPT && sn->cfg.on_corrupt != SNAP_CORRUPT_FAIL &&
        !sn->shared) {
        /* meta, dictionaries, pages: as the files; nothing to salvage */
        snap_log(sn, SNAP_LOG_WARN, "%s (nothing to salvage: cold)", err);
        rc = snap_restart_cold(sn, "corrupt", err, errlen);
    } else if (rc == SNAP_OK) {
        /* nothing is written before snap_load() accepted the snapshot (a
         * damaged one must stay as it is): raise the counter now, reserve
         * durably and install the hook once loaded */
        store_cas_floor(sn->st, sn->meta.cas_max > sn->meta.cas_reserved
                                    ? sn->meta.cas_max
                                    : sn->meta.cas_reserved);
    } else if (rc == SNAP_ECORRUPT || rc == SNAP_EVERSION) {
        size_t n = strlen(err);
        errf(rc, err + n, errlen - n, "; start with --snapshot-on-corrupt="
             "cold to move it aside and start empty");
    }
    if (rc == SNAP_OK) {
        rc = snap_journal_open(sn, err, errlen);
    }
    if (rc != SNAP_OK) {
        snap_journal_close(sn, false);
        snap_free(sn);
        return rc;
    }
    *out = sn;
    return SNAP_OK;
}

/* ---- the writer thread ------------------------------------------------ */

static void
deadline_after(struct timespec *ts, unsigned seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += seconds;
}

/* Detach the waiters served by snapshot DONE. Caller holds lock. */
static struct snap_waiter *
waiters_take_locked(struct snap *sn, uint64_t done)
{
    struct snap_waiter *served = NULL, **pp = &sn->waiters;

    while (*pp != NULL) {
        struct snap_waiter *w = *pp;
        if (w->seq <= done) {
            *pp = w->next;
            w->next = served;
            served = w;
        } else {
            pp = &w->next;
        }
    }
    return served;
}

/* Call and free a detached list of waiters. No lock held. */
static void
waiters_call(struct snap_waiter *w, int rc, const char *err)
{
    while (w != NULL) {
        struct snap_waiter *next = w->next;
        w->fn(w->arg, rc, err);
        free(w);
        w = next;
    }
}

void
snap_waiters_fail(struct snap *sn, int rc, const char *err)
{
    struct snap_waiter *served;

    pthread_mutex_lock(&sn->lock);
    served = waiters_take_locked(sn, UINT64_MAX);
    pthread_mutex_unlock(&sn->lock);
    waiters_call(served, rc, err);
}

static void *
writer_main(void *arg)
{
    struct snap *sn = arg;
    struct snap_waiter *served;
    struct timespec next;
    char err[SNAP_ERR_MAX];
    uint64_t target;
    int rc;

    /* Linux nice is per thread, and the compressors this thread starts
     * inherit it. It holds no store lock while it works (references
     * only), so being preempted does not make workers wait. */
    if (sn->cfg.thread_nice != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                    sn->cfg.thread_nice) != 0) {
        snap_log(sn, SNAP_LOG_WARN, "cannot set nice %d: %s",
                 sn->cfg.thread_nice, strerror(errno));
    }
    deadline_after(&next, sn->cfg.interval);
    pthread_mutex_lock(&sn->lock);
    while (!sn->stop) {
        if (sn->held || sn->req_seq == sn->done_seq) {
            int w = sn->cfg.interval && !sn->held
                        ? pthread_cond_timedwait(&sn->cond, &sn->lock, &next)
                        : pthread_cond_wait(&sn->cond, &sn->lock);
            if (sn->stop || sn->held ||
                (w != ETIMEDOUT && sn->req_seq == sn->done_seq)) {
                continue;
            }
        }
        target = sn->req_seq;
        pthread_mutex_unlock(&sn->lock);
        pthread_mutex_lock(&sn->run_lock);
        if (snap_is_held(sn)) {
            /* held since we looked (snap_hold() waits for run_lock) */
            pthread_mutex_unlock(&sn->run_lock);
            pthread_mutex_lock(&sn->lock);
            continue;
        }
        err[0] = '\0';
        rc = snap_write_locked(sn, err, sizeof(err));
        pthread_mutex_unlock(&sn->run_lock);
        deadline_after(&next, sn->cfg.interval);
        pthread_mutex_lock(&sn->lock);
        sn->done_seq = target;
        sn->done_rc = rc;
        snprintf(sn->done_err, sizeof(sn->done_err), "%s", err);
        pthread_cond_broadcast(&sn->cond);
        served = waiters_take_locked(sn, target);
        pthread_mutex_unlock(&sn->lock);
        waiters_call(served, rc, err);
        pthread_mutex_lock(&sn->lock);
    }
    pthread_mutex_unlock(&sn->lock);
    return NULL;
}

int
snap_start(struct snap *sn)
{
    pthread_condattr_t attr;
    int rc;

    pthread_mutex_lock(&sn->lock);
    if (sn->running) {
        pthread_mutex_unlock(&sn->lock);
        return SNAP_OK;
    }
    /* the writer waits on a monotonic clock: wall-clock jumps do not
     * bunch or stall snapshots */
    pthread_cond_destroy(&sn->cond);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sn->cond, &attr);
    pthread_condattr_destroy(&attr);
    sn->stop = false;
    rc = pthread_create(&sn->thread, NULL, writer_main, sn);
    sn->running = rc == 0;
    pthread_mutex_unlock(&sn->lock);
    if (rc == 0 && sn->jrn != NULL && jrn_start(sn->jrn) != 0) {
        rc = -1;
    }
    return rc == 0 ? SNAP_OK : SNAP_ESYS;
}

void
snap_nudge(struct snap *sn)
{
    pthread_mutex_lock(&sn->lock);
    if (!sn->stop && sn->running && sn->req_seq == sn->done_seq) {
        sn->req_seq++;
        pthread_cond_broadcast(&sn->cond);
    }
    pthread_mutex_unlock(&sn->lock);
}

int
snap_request(struct snap *sn, char *err, size_t errlen)
{
    uint64_t mine;
    int rc;

    pthread_mutex_lock(&sn->lock);
    if (sn->stop) {
        pthread_mutex_unlock(&sn->lock);
        return errf(SNAP_ECLOSED, err, errlen, "shutting down");
    }
    if (!sn->running) {
        pthread_mutex_unlock(&sn->lock);
        pthread_mutex_lock(&sn->run_lock);
        rc = snap_write_locked(sn, err, errlen);
        pthread_mutex_unlock(&sn->run_lock);
        return rc;
    }
    mine = ++sn->req_seq;
    pthread_cond_broadcast(&sn->cond);
    while (sn->done_seq < mine && !sn->stop) {
        pthread_cond_wait(&sn->cond, &sn->lock);
    }
    if (sn->done_seq < mine) {
        rc = errf(SNAP_ECLOSED, err, errlen, "shutting down");
    } else {
        rc = sn->done_rc;
        if (rc != SNAP_OK) {
            errf(rc, err, errlen, "%s", sn->done_err);
        }
    }
    pthread_mutex_unlock(&sn->lock);
    return rc;
}

int
snap_request_async(struct snap *sn, snap_done_fn fn, void *arg)
{
    char err[SNAP_ERR_MAX] = "";
    struct snap_waiter *w;
    int rc;

    pthread_mutex_lock(&sn->lock);
    if (sn->stop) {
        pthread_mutex_unlock(&sn->lock);
        return SNAP_ECLOSED;
    }
    if (!sn->running) {
        pthread_mutex_unlock(&sn->lock);
        pthread_mutex_lock(&sn->run_lock);
        rc = snap_write_locked(sn, err, sizeof(err));
        pthread_mutex_unlock(&sn->run_lock);
        fn(arg, rc, err);
        return SNAP_OK;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        pthread_mutex_unlock(&sn->lock);
        return SNAP_ENOMEM;
    }
    *w = (struct snap_waiter){ sn->waiters, ++sn->req_seq, fn, arg };
    sn->waiters = w;
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
    return SNAP_OK;
}

/* snap_close()'s snapshot: written only over a store that was loaded. */
static int
final_snapshot(struct snap *sn, char *err, size_t errlen)
{
    uint64_t t0 = snap_now_us();
    int rc;

    if (!sn->loaded) {
        /* a refused or failed load: the disk keeps what it had */
        if (err != NULL && errlen > 0) {
            err[0] = '\0';
        }
        return SNAP_OK;
    }
    pthread_mutex_lock(&sn->run_lock);
    sn->final = true;
    rc = snap_write_locked(sn, err, errlen);
    pthread_mutex_unlock(&sn->run_lock);
    if (rc == SNAP_OK) {
        snap_log(sn, SNAP_LOG_NOTICE, "final snapshot %llu of %s "
                 "committed in %llu ms: %llu items on disk",
                 (unsigned long long)sn->meta.sequence, sn->dir,
                 (unsigned long long)(snap_now_us() - t0) / 1000,
                 (unsigned long long)sn->meta.items);
    }
    return rc;
}

int
snap_close(struct snap **snp, char *err, size_t errlen)
{
    struct snap_waiter *served;
    struct snap *sn;
    bool running;
    int rc;

    if (snp == NULL || *snp == NULL) {
        return SNAP_OK;
    }
    sn = *snp;
    pthread_mutex_lock(&sn->lock);
    running = sn->running;
    sn->stop = true;
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
    if (running) {
        pthread_join(sn->thread, NULL);
    }
    if (sn->shared || sn->handed_over) {
        /* DIR is (or stays) another emberd's: write nothing into it */
        rc = errf(SNAP_ECLOSED, err, errlen, "%s belongs to another "
                  "emberd", sn->dir);
    } else {
        rc = final_snapshot(sn, err, errlen);
    }
    /* asked for after the thread's last snapshot: the final one serves */
    pthread_mutex_lock(&sn->lock);
    served = waiters_take_locked(sn, UINT64_MAX);
    pthread_mutex_unlock(&sn->lock);
    waiters_call(served, rc, rc == SNAP_OK || err == NULL ? "" : err);
    store_cas_set_reserve(sn->st, NULL, NULL, 0, 0);
    /* the final snapshot covers the journal: nothing of it is left
     * (without a load, there was no final snapshot: keep what it says) */
    snap_journal_close(sn, rc == SNAP_OK && sn->loaded);
    if (rc == SNAP_ECLOSED) {
        rc = SNAP_OK;       /* nothing was ours to write */
    }
    snap_free(sn);
    *snp = NULL;
    return rc;
}
