/*
 * snap_journal.c -- the snapshot object's side of the journal: opening
 * it with the snapshot, replaying it after the snapshot is loaded, the
 * marker that tells a clean stop from a crash, and the CAS counter when
 * the history it was counting from is gone.
 *
 * DIR/emberd.running exists while an emberd serves from DIR. Found at
 * start, it means the last one did not stop cleanly: with the journal
 * that is routine (the journal is replayed); without it, the changes
 * made since the last snapshot are rolled back, and we say so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

static void
marker_path(const struct snap *sn, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s/" SNAPFMT_RUNNING_FILE, sn->dir);
}

void
snap_history_lost(struct snap *sn, const char *why)
{
    /* CAS values of the lost state may be in clients' hands: start above
     * anything a process could have handed out since any earlier start
     * (fewer than 2^32 a second, until 2106) */
    uint64_t seed = (uint64_t)time(NULL) << 32;

    if (store_cas_current(sn->st) < seed) {
        store_cas_floor(sn->st, seed);
        snap_log(sn, SNAP_LOG_WARN, "%s: CAS values start above "
                 "%" PRIu64 " (from the clock) so none handed out before "
                 "is handed out again", why, seed);
    }
}

int
snap_journal_open(struct snap *sn, char *err, size_t errlen)
{
    char path[sizeof(sn->dir) + 32];
    struct stat st;
    int sys_err = 0;

    marker_path(sn, path, sizeof(path));
    /* shared: the marker is the owner's, which is running */
    sn->unclean = !sn->shared && stat(path, &st) == 0;
    if (!sn->cfg.journal) {
        if (sn->unclean) {
            snap_log(sn, SNAP_LOG_WARN, "the last emberd on %s "
                     "did not stop cleanly and the journal is off "
                     "(--journal=off): changes made after its last snapshot "
                     "may have been rolled back", sn->dir);
            snap_history_lost(sn, "unclean stop without a journal");
        }
        return SNAP_OK;
    }
    sn->jrn = jrn_create(sn, &sys_err);
    if (sn->jrn == NULL) {
        snprintf(err, errlen, "journal in %s: %s", sn->dir,
                 strerror(sys_err));
        return sys_err == ENOMEM ? SNAP_ENOMEM : SNAP_ESYS;
    }
    if (!sn->shared) {
        /* shared: the journal is the owner's until the takeover */
        store_set_background_sink(sn->st, jrn_background_sink, sn->jrn);
    }
    return SNAP_OK;
}

void
snap_marker_create(struct snap *sn)
{
    char path[sizeof(sn->dir) + 32], pid[32];
    int fd, n;

    marker_path(sn, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0) {
        snap_log(sn, SNAP_LOG_WARN, "cannot create %s: %s", path,
                 strerror(errno));
        return;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (write(fd, pid, (size_t)n) != n) {
        snap_log(sn, SNAP_LOG_WARN, "cannot write %s: %s", path,
                 strerror(errno));
    }
    close(fd);
}

int
snap_journal_scan(struct snap *sn, char *err, size_t errlen)
{
    jrn_replay_free(&sn->replay);
    if (sn->jrn == NULL) {
        return SNAPFMT_OK;
    }
    if (sn->unclean) {
        snap_log(sn, SNAP_LOG_INFO, "the last emberd on %s did not stop "
                 "cleanly: replaying its journal", sn->dir);
    }
    return jrn_replay_scan(sn->jrn, sn->meta.journal_seq, sn->shared,
                           &sn->replay, err, errlen);
}

bool
snap_journal_touches(const struct snap *sn, const void *key, size_t nkey)
{
    return jrn_replay_touches(sn->replay, key, nkey);
}

/* The delayed flush_all the snapshot recorded, then the journal's
 * changes on top (shared: as far as they are complete, the rest at the
 * takeover). */
int
snap_journal_load(struct snap *sn, char *err, size_t errlen)
{
    struct store_restore rs = { .kind = STORE_CHANGE_FLUSH_AT };

    (void)err;
    (void)errlen;
    /* the changes the snapshot holds are numbered up to journal_seq: new
     * ones must come above, journal or not (a clean stop leaves none), or
     * the next replay would take them for covered and skip them */
    store_seq_floor(sn->st, sn->meta.journal_seq);
    rs.when = (uint32_t)sn->meta.flush_pending;
    (void)store_restore(sn->st, &rs);
    if (sn->shared) {
        /* the owner still serves: a flush coming due is its to apply
         * (and to journal); we see it at the takeover */
        if (sn->replay != NULL) {
            (void)jrn_replay_apply_complete(sn->replay);
        }
        return SNAPFMT_OK;
    }
    (void)jrn_replay_apply(&sn->replay);
    snap_journal_settle(sn);
    return SNAPFMT_OK;
}

/* A flush that came due while emberd was down acts now (everything
 * loaded was stored before it). */
void
snap_journal_settle(struct snap *sn)
{
    struct store_session quiet;
    uint32_t when = store_flush_pending(sn->st);

    if (when != 0 && when <= store_now(sn->st)) {
        store_session_init(&quiet, sn->st, NULL, NULL);
        store_flush(&quiet, 0);
        snap_log(sn, SNAP_LOG_INFO, "a flush_all due at %" PRIu32
                 " came due while emberd was down: applied", when);
    }
    if (!sn->shared && !sn->salvaged) {
        /* salvaged: not in the damaged DIR, which goes aside as it is;
         * snap_salvage_settle() creates it in the fresh one */
        snap_marker_create(sn);
    }
}

void
snap_journal_close(struct snap *sn, bool clean)
{
    char path[sizeof(sn->dir) + 32];

    jrn_replay_free(&sn->replay);
    if (sn->jrn != NULL) {
        store_set_background_sink(sn->st, NULL, NULL);
        jrn_destroy(&sn->jrn);
    }
    if (clean && sn->loaded && !sn->refused) {
        marker_path(sn, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            snap_log(sn, SNAP_LOG_WARN, "cannot remove %s: %s",
                     path, strerror(errno));
        }
    }
}

int
snap_journal_reopen(struct snap *sn, char *err, size_t errlen)
{
    if (sn->jrn == NULL) {
        return SNAP_OK;
    }
    jrn_replay_free(&sn->replay);   /* it maps the old DIR's files */
    store_set_background_sink(sn->st, NULL, NULL);
    jrn_destroy(&sn->jrn);
    return snap_journal_open(sn, err, errlen);
}
