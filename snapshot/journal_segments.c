/*
 * journal_segments.c -- the journal's files: creating a segment, writing
 * into it all or nothing, fdatasync, the everysec syncer, rotating every
 * channel to new segments before a snapshot and deleting the segments a
 * committed snapshot covers (see journal_int.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define SYNC_INTERVAL_MS 1000

void
jseg_close(struct jfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    f->closed = true;
}

/* ---- segments ---------------------------------------------------------- */

static void
store_atomic_max_segno(struct jrn *j, uint64_t v)
{
    uint64_t cur = atomic_load(&j->next_segno);

    while (cur < v && !atomic_compare_exchange_weak(&j->next_segno, &cur, v)) {
    }
}

int
jrn_adopt(struct jrn *j, uint64_t segno, uint64_t size, uint64_t max_seq)
{
    struct jfile *f;

    pthread_mutex_lock(&j->lock);
    for (f = j->files; f != NULL && f->segno != segno; f = f->next) {
    }
    if (f != NULL && f->fd < 0) {
        /* found again, grown: a takeover follows the old emberd's */
        atomic_store(&f->size, size);
        atomic_store(&f->synced, size);
        f->max_seq = max_seq > f->max_seq ? max_seq : f->max_seq;
    }
    pthread_mutex_unlock(&j->lock);
    if (f != NULL) {
        return 0;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    f->segno = segno;
    f->fd = -1;
    f->closed = true;
    f->dir_synced = true;
    atomic_init(&f->size, size);
    atomic_init(&f->synced, size);
    f->max_seq = max_seq;
    pthread_mutex_lock(&j->lock);
    f->next = j->files;
    j->files = f;
    pthread_mutex_unlock(&j->lock);
    store_atomic_max_segno(j, segno + 1);
    return 0;
}

/*
 * Write all of BUF to F at its end, or cut F back to where it was.
 * Returns 0, or the errno value of the failure (ERR says more).
 */
int
jseg_write(struct jrn *j, struct jfile *f, const unsigned char *buf,
          size_t len, char *err, size_t errlen)
{
    size_t done = 0;
    ssize_t n;
    int e;

    while (done < len) {
        n = j->io.write(f->fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            snprintf(err, errlen, "writing segment %" PRIu64 " in %s: %s",
                     f->segno, j->sn->dir, strerror(e));
            /* a half-written change must not stay at the end */
            if (done > 0 && j->io.ftruncate(f->fd, (off_t)f->size) != 0) {
                /* cannot cut it: never append to this segment again (a
                 * replay reads it as a torn tail) */
                f->closed = true;
            }
            return e;
        }
        done += (size_t)n;
    }
    f->size += len;
    return 0;
}

/* Create the next segment with its header. Caller holds the channel. */
struct jfile *
jseg_create(struct jrn *j, int *sys_err, char *err, size_t errlen)
{
    unsigned char hdr[SNAPFMT_JSEG_HDR];
    char path[sizeof(j->sn->dir) + 64];
    struct jfile *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        *sys_err = ENOMEM;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->segno = atomic_fetch_add(&j->next_segno, 1);
    snapfmt_jseg_path(j->sn->dir, f->segno, path, sizeof(path));
    f->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
                 0600);
    if (f->fd < 0) {
        *sys_err = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(f);
        return NULL;
    }
    snapfmt_jseg_header(hdr, f->segno, (uint32_t)time(NULL));
    f->size = 0;
    if ((*sys_err = jseg_write(j, f, hdr, sizeof(hdr), err, errlen)) != 0) {
        close(f->fd);
        unlink(path);
        free(f);
        return NULL;
    }
    pthread_mutex_lock(&j->lock);
    f->next = j->files;
    j->files = f;
    pthread_mutex_unlock(&j->lock);
    return f;
}

/* fdatasync F (and its directory entry, once); counts and times it. */
int
jseg_sync(struct jrn *j, struct jfile *f, int fd, uint64_t upto)
{
    uint64_t t0 = snap_now_us();

    if (j->io.fdatasync(fd) != 0) {
        return -1;
    }
    if (!f->dir_synced) {
        if (fsync(j->dir_fd) != 0) {
            return -1;
        }
        f->dir_synced = true;
    }
    if (upto > f->synced) {
        f->synced = upto;
    }
    atomic_fetch_add(&j->fsyncs, 1);
    atomic_store(&j->fsync_last_us, snap_now_us() - t0);
    return 0;
}

/* ---- rotation and retirement ------------------------------------------- */

void
jrn_rotate(struct jrn *j)
{
    struct snap_jchan *c;

    pthread_mutex_lock(&j->chans_lock);
    for (c = j->chans; c != NULL; c = c->next) {
        /* under the channel's lock: no write into the old segment is in
         * flight, and every later one goes to a new segment, so the old
         * one holds only changes made before this point */
        pthread_mutex_lock(&c->lock);
        if (c->file != NULL) {
            c->file->closed = true;
            c->file = NULL;
        }
        pthread_mutex_unlock(&c->lock);
    }
    atomic_store(&j->bytes, 0);
    atomic_store(&j->records, 0);
    atomic_store(&j->asked, false);
    pthread_mutex_unlock(&j->chans_lock);
}

bool
jrn_over_threshold(struct jrn *j)
{
    return atomic_load(&j->bytes) > j->max_bytes;
}

void
jrn_retire(struct jrn *j, uint64_t covered)
{
    char path[sizeof(j->sn->dir) + 64];
    struct jfile **pp, *f;
    unsigned removed = 0;

    pthread_mutex_lock(&j->lock);
    for (pp = &j->files; (f = *pp) != NULL;) {
        if (!f->closed || f->busy > 0 || f->max_seq > covered) {
            pp = &f->next;
            continue;
        }
        snapfmt_jseg_path(j->sn->dir, f->segno, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            snap_log(j->sn, SNAP_LOG_WARN, "journal: cannot remove %s: %s",
                     path, strerror(errno));
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        jseg_close(f);
        free(f);
        removed++;
    }
    pthread_mutex_unlock(&j->lock);
    if (removed > 0 && j->sn->cfg.journal_fsync != SNAP_FSYNC_NO) {
        (void)fsync(j->dir_fd);
    }
}

/* ---- the everysec syncer ----------------------------------------------- */

#define SYNC_BATCH 64

/*
 * fdatasync the segments with unsynced bytes, each once per pass (a
 * segment written faster than it syncs is synced again next second, not
 * in a loop), holding no lock while it waits. A failed sync is logged
 * and counted; its bytes are not noted as durable.
 */
static void
sync_pass(struct jrn *j)
{
    struct jfile *todo[SYNC_BATCH];
    uint64_t upto[SYNC_BATCH];
    int fds[SYNC_BATCH];
    unsigned n = 0;
    struct jfile *f;

    pthread_mutex_lock(&j->lock);
    for (f = j->files; f != NULL && n < SYNC_BATCH; f = f->next) {
        if (f->fd >= 0 && (f->synced < f->size || !f->dir_synced)) {
            f->busy++;          /* kept alive while we sync it */
            todo[n] = f;
            fds[n] = f->fd;
            upto[n++] = f->size;
        }
    }
    pthread_mutex_unlock(&j->lock);
    for (unsigned i = 0; i < n; i++) {
        if (jseg_sync(j, todo[i], fds[i], upto[i]) != 0) {
            atomic_fetch_add(&j->write_errors, 1);
            snap_log(j->sn, SNAP_LOG_ERROR, "journal: fdatasync of segment "
                     "%" PRIu64 " in %s: %s", todo[i]->segno, j->sn->dir,
                     strerror(errno));
        }
    }
    pthread_mutex_lock(&j->lock);
    for (unsigned i = 0; i < n; i++) {
        todo[i]->busy--;
    }
    pthread_mutex_unlock(&j->lock);
}

void
jrn_sync_ahead(struct jrn *j)
{
    sync_pass(j);
}

int
jrn_sync_all(struct jrn *j, char *err, size_t errlen)
{
    struct jfile *f;
    int rc = 0;

    pthread_mutex_lock(&j->lock);
    for (f = j->files; f != NULL && rc == 0; f = f->next) {
        if (f->fd >= 0 && (f->synced < f->size || !f->dir_synced) &&
            jseg_sync(j, f, f->fd, f->size) != 0) {
            snprintf(err, errlen, "fdatasync of journal segment %" PRIu64
                     " in %s: %s", f->segno, j->sn->dir, strerror(errno));
            rc = -1;
        }
    }
    pthread_mutex_unlock(&j->lock);
    return rc;
}

static void *
syncer_main(void *arg)
{
    struct jrn *j = arg;
    struct timespec ts;

    pthread_mutex_lock(&j->lock);
    while (!j->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SYNC_INTERVAL_MS / 1000;
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        if (j->stop) {
            break;
        }
        pthread_mutex_unlock(&j->lock);
        sync_pass(j);
        pthread_mutex_lock(&j->lock);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

int
jrn_start(struct jrn *j)
{
    if (j->sn->cfg.journal_fsync != SNAP_FSYNC_EVERYSEC ||
        j->syncer_running) {
        return 0;
    }
    if (pthread_create(&j->syncer, NULL, syncer_main, j) != 0) {
        return -1;
    }
    j->syncer_running = true;
    return 0;
}

