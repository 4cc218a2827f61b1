/*
 * snap_takeover.c -- a new emberd takes DIR over from a running one
 * (snapshot.h, "takeover"): the owner's side (hold snapshots, make the
 * journal durable and give up the directory) and the new one's (follow
 * the owner's journal while it serves, then apply the rest and make the
 * directory its own).
 *
 * Why a change can wait: every change gets its number from one counter
 * under its key's lock, but each worker writes its own segment when it
 * replies, so number 7 may be on disk while 6 is still in another
 * worker's buffer. The new emberd applies changes only up to the first
 * gap in the numbers (journal_replay.c, complete_upto()); whatever is
 * above waits until the owner has stopped and synced, when nothing is
 * missing any more.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"
#include "util/util.h"

/* How long a dead owner's lock may take to go. */
#define LOCK_WAIT_MS 5000u

/* ---- the owner ---------------------------------------------------------- */

bool
snap_is_held(struct snap *sn)
{
    bool held;

    pthread_mutex_lock(&sn->lock);
    held = sn->held;
    pthread_mutex_unlock(&sn->lock);
    return held;
}

void
snap_hold(struct snap *sn, bool on)
{
    /* run_lock first: a snapshot in progress finishes, and the writer
     * looks at HELD again under it before it starts the next one */
    pthread_mutex_lock(&sn->run_lock);
    pthread_mutex_lock(&sn->lock);
    sn->held = on || sn->handed_over;   /* handed over: for good */
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
    pthread_mutex_unlock(&sn->run_lock);
    snap_log(sn, SNAP_LOG_INFO, on ? "takeover: snapshots of %s held"
                                   : "takeover: snapshots of %s resumed",
             sn->dir);
}

void
snap_handover_presync(struct snap *sn)
{
    if (sn->jrn != NULL) {
        jrn_sync_ahead(sn->jrn);
    }
}

int
snap_handover(struct snap *sn, int *lock_fd, char *err, size_t errlen)
{
    if (sn->jrn == NULL || sn->lock_fd < 0) {
        return util_errf(SNAP_EINVAL, err, errlen, "%s: no journal to hand "
                         "over (--journal=off)", sn->dir);
    }
    /* a delayed flush_all coming due from now on is the new owner's */
    store_set_background_sink(sn->st, NULL, NULL);
    if (jrn_handover(sn->jrn, err, errlen) != 0) {
        return SNAP_EWRITE;
    }
    *lock_fd = sn->lock_fd;
    return SNAP_OK;
}

void
snap_handover_undo(struct snap *sn)
{
    if (sn->jrn != NULL) {
        store_set_background_sink(sn->st, jrn_background_sink, sn->jrn);
    }
}

void
snap_handed_over(struct snap *sn)
{
    pthread_mutex_lock(&sn->run_lock);
    pthread_mutex_lock(&sn->lock);
    sn->handed_over = true;
    sn->held = true;
    pthread_mutex_unlock(&sn->lock);
    pthread_mutex_unlock(&sn->run_lock);
    /* a `snapshot` waiting for us gets its answer now, not at close */
    snap_waiters_fail(sn, SNAP_ECLOSED, "this emberd handed its data over "
                      "to a new one");
    snap_log(sn, SNAP_LOG_INFO, "takeover: %s belongs to the new emberd",
             sn->dir);
}

/* ---- the new emberd ----------------------------------------------------- */

static int
rc_of(int frc)
{
    switch (frc) {
    case SNAPFMT_OK: return SNAP_OK;
    case SNAPFMT_ENOMEM: return SNAP_ENOMEM;
    case SNAPFMT_ECORRUPT: return SNAP_ECORRUPT;
    case SNAPFMT_EVERSION: return SNAP_EVERSION;
    default: return SNAP_ESYS;
    }
}

int
snap_catch_up(struct snap *sn, uint64_t *applied, char *err, size_t errlen)
{
    int frc;

    *applied = 0;
    if (!sn->shared || sn->replay == NULL) {
        return util_errf(SNAP_EINVAL, err, errlen, "snap_catch_up() "
                         "without a shared snap_load()");
    }
    frc = jrn_replay_follow(sn->replay, true, err, errlen);
    if (frc == SNAPFMT_OK) {
        *applied = jrn_replay_apply_complete(sn->replay);
    }
    return rc_of(frc);
}

/* Open DIR read-write, as the owner will be. */
static int
reopen_rw(struct snap *sn, char *err, size_t errlen)
{
    snapfmt_env_close(&sn->env);
    return rc_of(snapfmt_env_open(sn->dir, 0, sn->cfg.map_initial,
                                  &sn->env, err, errlen));
}

int
snap_takeover_prepare(struct snap *sn, char *err, size_t errlen)
{
    int rc;

    if (!sn->shared || sn->replay == NULL || sn->rw_early) {
        return util_errf(SNAP_EINVAL, err, errlen, "snap_takeover_prepare()"
                         " without a shared snap_load(), or twice");
    }
    rc = reopen_rw(sn, err, errlen);
    sn->rw_early = rc == SNAP_OK;
    return rc;
}

/* The snapshot must be the one loaded (the owner took none while held). */
static int
same_snapshot(struct snap *sn, char *err, size_t errlen)
{
    struct snapfmt_meta m;
    int frc = snapfmt_meta_read(sn->env, NULL, &m, err, errlen);

    if (frc != SNAPFMT_OK) {
        return rc_of(frc);
    }
    if (m.sequence != sn->meta.sequence) {
        return util_errf(SNAP_ESYS, err, errlen, "the snapshot in %s "
                         "changed during the takeover (number %" PRIu64
                         " loaded, %" PRIu64 " now): start emberd without "
                         "--takeover", sn->dir, sn->meta.sequence,
                         m.sequence);
    }
    return SNAP_OK;
}

int
snap_takeover_load(struct snap *sn, int lock_fd, uint64_t *applied,
                   char *err, size_t errlen)
{
    uint64_t before;
    int rc, frc;

    *applied = 0;
    if (!sn->shared || sn->replay == NULL) {
        return util_errf(SNAP_EINVAL, err, errlen, "snap_takeover_load() "
                         "without a shared snap_load()");
    }
    before = jrn_replay_applied(sn->replay);
    /* the owner stopped and synced (or died): nothing is missing now */
    frc = jrn_replay_follow(sn->replay, false, err, errlen);
    if (frc != SNAPFMT_OK) {
        return rc_of(frc);
    }
    rc = sn->rw_early ? SNAP_OK : reopen_rw(sn, err, errlen);
    if (rc == SNAP_OK) {
        rc = same_snapshot(sn, err, errlen);
    }
    if (rc != SNAP_OK) {
        return rc;
    }
    if (lock_fd >= 0) {
        if (sn->lock_fd >= 0) {
            close(sn->lock_fd);
        }
        sn->lock_fd = lock_fd;      /* the owner's lock, passed over */
    } else if ((rc = snap_dir_lock(sn, LOCK_WAIT_MS, err, errlen)) !=
               SNAP_OK) {
        return rc;
    }
    (void)jrn_replay_apply(&sn->replay);
    /* the total is what the replay reports for stats */
    *applied = sn->jrn->replayed > before ? sn->jrn->replayed - before : 0;
    /* RAM is the snapshot and the journal: the first snapshot of ours
     * writes it whole, then retires the owner's segments */
    sn->need_full = true;
    return SNAP_OK;
}

void
snap_takeover_own(struct snap *sn)
{
    char err[SNAP_ERR_MAX];
    uint64_t seq = store_seq_current(sn->st);

    sn->shared = false;
    sn->loaded = true;
    /* the owner's journal counts as changes made since its snapshot */
    snap_stats_disk(sn, sn->meta.journal_seq < seq ? sn->meta.journal_seq
                                                   : seq);
    snap_journal_settle(sn);        /* a flush come due; the marker */
    store_set_background_sink(sn->st, jrn_background_sink, sn->jrn);
    if (snap_cas_install(sn, err, sizeof(err)) != SNAP_OK) {
        /* the counter is above everything the journal names; the hook
         * keeps trying to make the next range durable */
        snap_log(sn, SNAP_LOG_ERROR, "takeover: %s", err);
    }
    snap_log(sn, SNAP_LOG_INFO, "takeover: %s is ours", sn->dir);
}
