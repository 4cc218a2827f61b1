/*
 * journal.c -- writing the journal: its lifetime, the channels (the
 * sinks, the commit, group commit and fsync policy), the state where it
 * cannot be written, CAS reservations, stats (see journal_int.h,
 * snapshot.h). Its files are journal_segments.c's.
 *
 * A worker's sink only copies a change into its channel's buffer, under
 * the key's stripe lock; the checksums and the write() happen in
 * snap_jchan_commit(), outside store locks.
 * A failed or short write is undone (the segment is cut back to where it
 * was), so a segment only ever ends in a torn record when the process
 * died inside write(); the buffer is kept and the commit retried.
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

#define JOURNAL_MAX_MIN ((uint64_t)64 << 20)
#define BUF_INITIAL 4096

/* ---- the real calls, or a test's ------------------------------------- */

static ssize_t
real_write(int fd, const void *buf, size_t n)
{
    return write(fd, buf, n);
}

static void
io_init(struct snap_jio *io, const struct snap_jio *over)
{
    io->write = over && over->write ? over->write : real_write;
    io->fdatasync = over && over->fdatasync ? over->fdatasync : fdatasync;
    io->ftruncate = over && over->ftruncate ? over->ftruncate : ftruncate;
}

/* ---- lifetime ---------------------------------------------------------- */

static uint64_t
threshold(struct snap *sn)
{
    struct store_stats ss;
    uint64_t t;

    if (sn->cfg.journal_max != 0) {
        return sn->cfg.journal_max;
    }
    store_stats(sn->st, &ss);
    t = ss.limit_maxbytes / 2;
    return t > JOURNAL_MAX_MIN ? t : JOURNAL_MAX_MIN;
}

static struct snap_jchan *
chan_new(struct jrn *j, bool shared)
{
    struct snap_jchan *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->j = j;
    c->shared = shared;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_lock(&j->chans_lock);
    c->next = j->chans;
    j->chans = c;
    pthread_mutex_unlock(&j->chans_lock);
    return c;
}

struct jrn *
jrn_create(struct snap *sn, int *sys_err)
{
    struct jrn *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    j->sn = sn;
    atomic_init(&j->next_segno, 1);
    j->dir_fd = open(sn->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0) {
        *sys_err = errno;
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->chans_lock, NULL);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    io_init(&j->io, sn->cfg.journal_io);
    j->max_bytes = threshold(sn);
    j->bg = chan_new(j, true);
    if (j->bg == NULL) {
        jrn_destroy(&j);
        *sys_err = ENOMEM;
        return NULL;
    }
    return j;
}


static void
chan_free(struct snap_jchan *c)
{
    pthread_mutex_destroy(&c->lock);
    free(c->buf);
    free(c);
}

void
jrn_destroy(struct jrn **jp)
{
    struct jrn *j = *jp;

    if (j == NULL) {
        return;
    }
    if (j->syncer_running) {
        pthread_mutex_lock(&j->lock);
        j->stop = true;
        pthread_cond_signal(&j->cond);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->syncer, NULL);
    }
    while (j->chans != NULL) {
        struct snap_jchan *c = j->chans;

        j->chans = c->next;
        chan_free(c);
    }
    while (j->files != NULL) {
        struct jfile *f = j->files;

        j->files = f->next;
        jseg_close(f);
        free(f);
    }
    close(j->dir_fd);
    pthread_mutex_destroy(&j->chans_lock);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j);
    *jp = NULL;
}

const char *
jrn_dir(const struct jrn *j)
{
    return j->sn->dir;
}

struct store *
jrn_store(const struct jrn *j)
{
    return j->sn->st;
}

struct snap *
jrn_snap(const struct jrn *j)
{
    return j->sn;
}

/* ---- channels ---------------------------------------------------------- */

int
snap_jchan_open(struct snap *sn, struct snap_jchan **out)
{
    *out = NULL;
    if (sn == NULL || sn->jrn == NULL) {
        return SNAP_EINVAL;
    }
    *out = chan_new(sn->jrn, false);
    return *out != NULL ? SNAP_OK : SNAP_ENOMEM;
}

bool
snap_jchan_group_commit(const struct snap_jchan *ch)
{
    return ch != NULL && ch->j->sn->cfg.journal_fsync == SNAP_FSYNC_ALWAYS;
}

bool
snap_jchan_pending(const struct snap_jchan *ch)
{
    return ch != NULL && ch->len > 0;
}

/* Room for N more bytes in C's buffer. */
static bool
buf_reserve(struct snap_jchan *c, size_t n)
{
    size_t cap = c->cap ? c->cap : BUF_INITIAL;
    unsigned char *p;

    if (c->len + n <= c->cap) {
        return true;
    }
    while (cap < c->len + n) {
        cap *= 2;
    }
    p = realloc(c->buf, cap);
    if (p == NULL) {
        return false;
    }
    c->buf = p;
    c->cap = cap;
    return true;
}

/* The journal record of change CH. */
static void
record_of(const struct store_change *ch, uint32_t now, struct snapfmt_jrec *r)
{
    const struct item *it = ch->it;

    memset(r, 0, sizeof(*r));
    r->seq = ch->seq;
    r->time = now;
    if (it != NULL) {
        r->key = item_key(it);
        r->nkey = item_nkey(it);
        r->cas = item_cas(it);
    }
    switch (ch->kind) {
    case STORE_CHANGE_LINK:
        r->kind = SNAPFMT_J_LINK;
        r->rflags = snap_rflags(item_state_bits(it), item_cas_explicit(it));
        r->order = item_cas_order(it);
        r->flags = item_flags(it);
        r->exptime = item_exptime(it);
        r->value = item_value(it);
        r->nvalue = item_nvalue(it);
        break;
    case STORE_CHANGE_UNLINK:
        r->kind = SNAPFMT_J_UNLINK;
        break;
    case STORE_CHANGE_TOUCH:
        r->kind = SNAPFMT_J_TOUCH;
        r->exptime = ch->exptime;
        break;
    case STORE_CHANGE_MARK:
        r->kind = SNAPFMT_J_MARK;
        r->rflags = snap_rflags(ch->bits, false);
        break;
    case STORE_CHANGE_FLUSH:
        r->kind = SNAPFMT_J_FLUSH;
        r->cas = ch->cas;
        break;
    default:
        r->kind = SNAPFMT_J_FLUSH_AT;
        r->exptime = ch->when;
        break;
    }
}

/* Copy R into C's buffer; false when out of memory (the change is lost
 * to the journal: the channel then fails its next commit). */
static bool
chan_append(struct snap_jchan *c, const struct snapfmt_jrec *r)
{
    size_t n = snapfmt_jrec_size(r->nkey, r->nvalue);

    if (!buf_reserve(c, n)) {
        return false;
    }
    c->len += snapfmt_jrec_put(r, c->buf + c->len);
    c->nrec++;
    if (r->seq > c->max_seq) {
        c->max_seq = r->seq;
    }
    return true;
}

static void chan_fail(struct snap_jchan *c, int sys_err, const char *detail);
static int chan_commit_locked(struct snap_jchan *c, char *err, size_t errlen);

void
snap_jchan_sink(void *arg, const struct store_change *ch)
{
    struct snap_jchan *c = arg;
    struct snapfmt_jrec r;
    char err[SNAP_ERR_MAX];

    if (ch->kind == STORE_CHANGE_MARK &&
        atomic_load_explicit(&c->j->failing, memory_order_relaxed) > 0) {
        /* a recache win while nothing can be written: reads go on, and
         * a restart may hand the win out once more */
        return;
    }
    record_of(ch, store_now(c->j->sn->st), &r);
    if (c->shared) {
        pthread_mutex_lock(&c->lock);
    }
    if (!chan_append(c, &r)) {
        chan_fail(c, ENOMEM, "out of memory for the journal buffer");
    } else if (ch->kind == STORE_CHANGE_FLUSH ||
               ch->kind == STORE_CHANGE_FLUSH_AT) {
        /* on disk before anyone can see it act (store.h, sinks) */
        if (!c->shared) {
            pthread_mutex_lock(&c->lock);
        }
        (void)chan_commit_locked(c, err, sizeof(err));
        if (!c->shared) {
            pthread_mutex_unlock(&c->lock);
        }
    }
    if (c->shared) {
        pthread_mutex_unlock(&c->lock);
    }
}

void
jrn_background_sink(void *arg, const struct store_change *ch)
{
    struct jrn *j = arg;

    snap_jchan_sink(j->bg, ch);
}

/* ---- commit ------------------------------------------------------------ */

/*
 * The journal cannot take C's changes (SYS_ERR, DETAIL for the log): log
 * the change of state once, not per request; clients are told
 * strerror(SYS_ERR).
 */
static void
chan_fail(struct snap_jchan *c, int sys_err, const char *detail)
{
    struct jrn *j = c->j;
    unsigned before;

    atomic_fetch_add(&j->write_errors, 1);
    if (c->failing) {
        return;
    }
    c->failing = true;
    before = atomic_fetch_add(&j->failing, 1);
    pthread_mutex_lock(&j->lock);
    snprintf(j->why, sizeof(j->why), "%s", strerror(sys_err));
    pthread_mutex_unlock(&j->lock);
    if (before == 0) {
        snap_log(j->sn, SNAP_LOG_ERROR, "journal: %s: refusing changes "
                 "until it can be written", detail);
    }
}

static void
chan_recover(struct snap_jchan *c)
{
    struct jrn *j = c->j;

    if (!c->failing) {
        return;
    }
    c->failing = false;
    if (atomic_fetch_sub(&j->failing, 1) == 1) {
        snap_log(j->sn, SNAP_LOG_NOTICE, "journal in %s is written again: "
                 "accepting changes", j->sn->dir);
    }
}

/* Checksum the records appended since the last commit attempt. */
static void
chan_seal(struct snap_jchan *c)
{
    while (c->sealed < c->len) {
        unsigned char *rec = c->buf + c->sealed;
        uint32_t n = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 |
                     (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 24;

        snapfmt_jrec_seal(rec);
        c->sealed += n;
    }
}

/*
 * Note in F, with this commit, how much of it an fdatasync has made
 * durable since the last note: a replay after a power cut then tells a
 * torn tail (past it: cut) from damage (before it). Returns the offset
 * noted (the commit records it once written). Caller holds C's lock.
 */
static uint64_t
sync_mark(struct snap_jchan *c, struct jfile *f)
{
    uint64_t synced = atomic_load(&f->synced);
    struct snapfmt_jrec r;

    if (synced <= f->marked) {
        return f->marked;
    }
    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_SYNCED;
    r.cas = synced;
    r.time = store_now(c->j->sn->st);
    if (!buf_reserve(c, snapfmt_jrec_size(0, 0))) {
        return f->marked;   /* a note is not worth failing for */
    }
    c->len += snapfmt_jrec_put(&r, c->buf + c->len);
    return synced;
}

static int
chan_commit_locked(struct snap_jchan *c, char *err, size_t errlen)
{
    struct jrn *j = c->j;
    struct jfile *f = c->file;
    uint64_t before, mark;
    int e;

    if (c->len == 0) {
        return SNAP_OK;
    }
    if (f == NULL || f->closed) {
        f = c->file = jseg_create(j, &e, err, errlen);
        if (f == NULL) {
            chan_fail(c, e, err);
            return SNAP_EWRITE;
        }
    }
    mark = sync_mark(c, f);
    chan_seal(c);
    before = f->size;
    if ((e = jseg_write(j, f, c->buf, c->len, err, errlen)) != 0) {
        if (f->closed) {
            c->file = NULL;     /* it ends in a torn record: never again */
        }
        chan_fail(c, e, err);
        return SNAP_EWRITE;
    }
    if (j->sn->cfg.journal_fsync == SNAP_FSYNC_ALWAYS &&
        jseg_sync(j, f, f->fd, f->size) != 0) {
        e = errno;
        snprintf(err, errlen, "fdatasync of segment %" PRIu64 " in %s: %s",
                 f->segno, j->sn->dir, strerror(e));
        /* all or nothing: the retry appends the same changes again */
        if (j->io.ftruncate(f->fd, (off_t)before) == 0) {
            f->size = before;
        } else {
            f->closed = true;
            c->file = NULL;
        }
        chan_fail(c, e, err);
        return SNAP_EWRITE;
    }
    if (c->max_seq > f->max_seq) {
        f->max_seq = c->max_seq;
    }
    if (mark > f->marked) {
        f->marked = mark;
    }
    if (atomic_fetch_add(&j->bytes, c->len) + c->len > j->max_bytes &&
        !atomic_exchange(&j->asked, true)) {
        /* disk use follows the data, not the uptime */
        snap_nudge(j->sn);
    }
    atomic_fetch_add(&j->records, c->nrec);
    c->len = c->sealed = 0;
    c->nrec = 0;
    c->max_seq = 0;
    chan_recover(c);
    return SNAP_OK;
}

int
snap_jchan_commit(struct snap_jchan *ch, char *err, size_t errlen)
{
    int rc;

    if (ch == NULL || ch->len == 0) {
        return SNAP_OK;
    }
    pthread_mutex_lock(&ch->lock);
    rc = chan_commit_locked(ch, err, errlen);
    pthread_mutex_unlock(&ch->lock);
    return rc;
}

void
snap_jchan_close(struct snap_jchan **chp)
{
    struct snap_jchan *c = *chp, **pp;
    struct jrn *j;
    char err[SNAP_ERR_MAX];

    if (c == NULL) {
        return;
    }
    j = c->j;
    pthread_mutex_lock(&c->lock);
    if (chan_commit_locked(c, err, sizeof(err)) != SNAP_OK) {
        snap_log(j->sn, SNAP_LOG_ERROR, "journal: %llu change(s) of a "
                 "closing worker not written: %s",
                 (unsigned long long)c->nrec, err);
    }
    chan_recover(c);
    if (c->file != NULL) {
        c->file->closed = true;
        c->file = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&j->chans_lock);
    for (pp = &j->chans; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&j->chans_lock);
    chan_free(c);
    *chp = NULL;
}

bool
snap_journal_ok(struct snap *sn, char *why, size_t whylen)
{
    struct jrn *j = sn != NULL ? sn->jrn : NULL;

    if (j == NULL || atomic_load_explicit(&j->failing,
                                          memory_order_relaxed) == 0) {
        return true;
    }
    pthread_mutex_lock(&j->lock);
    snprintf(why, whylen, "%s", j->why);
    pthread_mutex_unlock(&j->lock);
    return false;
}

int
jrn_reserve_cas(struct jrn *j, uint64_t limit)
{
    struct snapfmt_jrec r;
    char err[SNAP_ERR_MAX];
    int rc = SNAP_EWRITE;

    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_CAS_RESERVE;
    r.cas = limit;
    r.time = store_now(j->sn->st);
    /* ordered after every change made so far */
    r.seq = store_seq_current(j->sn->st);
    pthread_mutex_lock(&j->bg->lock);
    if (chan_append(j->bg, &r)) {
        rc = chan_commit_locked(j->bg, err, sizeof(err));
        if (rc == SNAP_OK &&
            j->sn->cfg.journal_fsync != SNAP_FSYNC_ALWAYS &&
            j->bg->file != NULL &&
            jseg_sync(j, j->bg->file, j->bg->file->fd,
                         j->bg->file->size) != 0) {
            rc = SNAP_EWRITE;
        }
    }
    pthread_mutex_unlock(&j->bg->lock);
    return rc == SNAP_OK ? 0 : -1;
}

/* ---- stats ------------------------------------------------------------- */

void
jrn_replayed(struct jrn *j, uint64_t records, uint64_t segments,
             uint64_t torn, uint64_t us)
{
    j->replayed = records;
    j->replayed_segments = segments;
    j->torn = torn;
    j->replay_us = us;
}

void
jrn_stats(struct jrn *j, struct snap_stats *out)
{
    struct jfile *f;

    out->journal_enabled = 1;
    out->journal_ok = atomic_load(&j->failing) == 0;
    out->journal_bytes = atomic_load(&j->bytes);
    out->journal_records = atomic_load(&j->records);
    out->journal_fsyncs = atomic_load(&j->fsyncs);
    out->journal_fsync_last_us = atomic_load(&j->fsync_last_us);
    out->journal_write_errors = atomic_load(&j->write_errors);
    out->journal_replayed_records = j->replayed;
    out->journal_replayed_segments = j->replayed_segments;
    out->journal_replay_torn_bytes = j->torn;
    out->journal_replay_us = j->replay_us;
    pthread_mutex_lock(&j->lock);
    for (f = j->files; f != NULL; f = f->next) {
        out->journal_segments++;
        out->journal_disk_bytes += f->size;
    }
    pthread_mutex_unlock(&j->lock);
}
