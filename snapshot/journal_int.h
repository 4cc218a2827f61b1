/*
 * journal_int.h -- private to snapshot/: the journal object that snap.c,
 * snap_write.c and snap_load.c drive (journal.c: channels and commits;
 * journal_segments.c: files; journal_replay.c: replay). Not a public
 * header; the daemon's view is the snap_jchan_* part of
 * snapshot.h.
 *
 * Files on disk: DIR/journal-<segno>.ejl (format.h). Each channel (one
 * per worker thread, plus one for the store's own changes) appends to a
 * segment of its own, so a crash can only tear a segment's last record.
 * A snapshot first rotates every channel to a new segment, then reads
 * the change sequence P; once it commits (with journal_seq = P in meta)
 * the segments closed by that rotation hold only changes it covers and
 * are deleted.
 *
 * Locks, in order: the channel list lock -> a channel's lock (its current
 * segment and the write into it: the owner thread, the snapshot thread
 * rotating) -> the segment list lock. The syncer holds no lock while it
 * waits in fdatasync().
 */
#ifndef EMBER_JOURNAL_INT_H
#define EMBER_JOURNAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot/snapshot.h"

struct jrn;

/* Create the journal for SN (nothing is opened on disk yet). */
struct jrn *jrn_create(struct snap *sn, int *sys_err);

/* Stop the syncer, close every segment (keeping the files), free. */
void jrn_destroy(struct jrn **jp);

/* Start the everysec syncer thread (no-op for other policies). */
int jrn_start(struct jrn *j);

/*
 * A warm restart's journal, in two steps around the snapshot load
 * (journal_replay.c):
 *
 * jrn_replay_scan() maps and reads every segment in the directory and
 * keeps the changes whose seq is above FROM_SEQ, in seq order. Returns
 * SNAPFMT_OK, SNAPFMT_ECORRUPT / SNAPFMT_EVERSION (damage in the middle
 * of a segment, a newer journal), SNAPFMT_ENOMEM, SNAPFMT_ELMDB (cannot
 * read), with a message in ERR. The segments are kept (closed) until a
 * snapshot covers them. LIVE: another emberd is still writing them (a
 * takeover): the record at the end of a segment may be half written
 * (not logged, not counted as torn), and the changes are complete only
 * up to the first gap in their numbers (jrn_replay_apply_complete()).
 *
 * jrn_replay_touches(): whether a scanned change TOUCHes KEY (so its
 * snapshot record must be loaded even if it has expired by now).
 *
 * jrn_replay_apply() applies the changes onto the store, raises the
 * store's change sequence and CAS counter above everything the journal
 * holds, and frees *RP; jrn_replay_free() frees it unapplied.
 *
 * A takeover's journal is read while its writer goes on (LIVE):
 * jrn_replay_apply_complete() applies the changes up to the first gap
 * in their numbers and keeps the rest; jrn_replay_follow() collects what
 * was written since (the new part of each segment, new segments) --
 * LIVE again to catch up while the writer still works, or not once it
 * has stopped and made them durable (or died), before jrn_replay_apply()
 * applies everything left. Returns as jrn_replay_scan().
 */
struct jrn_replay;
int jrn_replay_scan(struct jrn *j, uint64_t from_seq, bool live,
                    struct jrn_replay **rp, char *err, size_t errlen);
bool jrn_replay_touches(const struct jrn_replay *rp, const void *key,
                        size_t nkey);
int jrn_replay_apply(struct jrn_replay **rp);
void jrn_replay_free(struct jrn_replay **rp);
uint64_t jrn_replay_apply_complete(struct jrn_replay *rp);
/* How many changes RP has applied so far. */
uint64_t jrn_replay_applied(const struct jrn_replay *rp);
int jrn_replay_follow(struct jrn_replay *rp, bool live, char *err,
                      size_t errlen);

/*
 * Before a snapshot reads the change sequence: every channel moves to a
 * new segment, and the ones it leaves are closed. Thread: the snapshot
 * writer.
 */
void jrn_rotate(struct jrn *j);

/*
 * After a snapshot covering every change up to COVERED committed: delete
 * the closed segments whose changes all have seq <= COVERED.
 */
void jrn_retire(struct jrn *j, uint64_t covered);

/* Whether the journal passed its size threshold since the last rotation. */
bool jrn_over_threshold(struct jrn *j);

/*
 * Append a CAS reservation (no CAS above LIMIT may be handed out) through
 * the background channel and make it durable as the fsync policy says.
 * Returns 0 or -1 (the journal cannot be written now).
 */
int jrn_reserve_cas(struct jrn *j, uint64_t limit);

/*
 * A takeover's handover: commit the store's own channel, check that no
 * worker's channel holds anything (their owners stopped), and fdatasync
 * every open segment. 0, or -1 with the reason in ERR. Thread: main,
 * workers stopped. Locks: the channel list, each channel, the segments.
 */
int jrn_handover(struct jrn *j, char *err, size_t errlen);

/* fdatasync every open segment with unsynced bytes: 0 or -1 (ERR). */
int jrn_sync_all(struct jrn *j, char *err, size_t errlen);
/* The syncer's pass, now, from the caller's thread: fdatasync what was
 * written so far, not holding the journal's lock meanwhile (writers go
 * on); failures are logged and counted. */
void jrn_sync_ahead(struct jrn *j);

/* The sink for the store's own changes (store_set_background_sink). */
void jrn_background_sink(void *arg, const struct store_change *ch);

/* Copy the journal's counters into OUT's journal_* fields. */
void jrn_stats(struct jrn *j, struct snap_stats *out);

/* ---- shared by journal.c and journal_replay.c ---- */

/* A segment file the journal knows (written now, or found at start). */
struct jfile {
    struct jfile *next;
    uint64_t segno;
    int fd;                 /* -1 once closed or when found on disk */
    bool closed;            /* no more appends (rotated, or old) */
    bool dir_synced;        /* its directory entry is durable */
    _Atomic uint64_t size;  /* bytes in the file (written under the */
                            /* lock of the channel writing it) */
    _Atomic uint64_t synced;/* bytes known durable */
    uint64_t marked;        /* the last SYNCED offset written into it */
                            /* (under the writing channel's lock) */
    uint64_t max_seq;       /* highest change in it */
    unsigned busy;          /* the syncer is syncing it; guarded by: */
                            /* the segment list lock */
};

struct snap_jchan;

/* The journal: shared by journal.c and journal_segments.c only. */
struct snap_jchan {
    struct jrn *j;
    struct snap_jchan *next;        /* guarded by: j->lock */
    pthread_mutex_t lock;           /* file and writes into it */
    struct jfile *file;             /* current segment, NULL until needed */
    unsigned char *buf;             /* changes not yet written */
    size_t len;
    size_t cap;
    size_t sealed;                  /* bytes of buf already checksummed */
    uint64_t nrec;                  /* records in buf */
    uint64_t max_seq;               /* highest seq in buf */
    bool failing;                   /* the last commit failed */
    bool shared;                    /* the background channel: any thread */
};

struct jrn {
    struct snap *sn;
    pthread_mutex_t chans_lock;     /* the channel list; outermost */
    struct snap_jchan *chans;
    pthread_mutex_t lock;           /* the segment list, why; innermost */
    struct jfile *files;
    _Atomic uint64_t next_segno;
    int dir_fd;                     /* for fsync of new directory entries */
    struct snap_jchan *bg;          /* the store's own changes, CAS */
    uint64_t max_bytes;             /* threshold for an early snapshot */
    struct snap_jio io;

    _Atomic unsigned failing;       /* channels whose commit failed */
    char why[256];                  /* guarded by: lock; last failure */

    pthread_t syncer;
    bool syncer_running;
    bool stop;                      /* guarded by: lock */
    pthread_cond_t cond;

    _Atomic uint64_t bytes;         /* since the last rotation */
    _Atomic bool asked;             /* an early snapshot was asked for */
    _Atomic uint64_t records;
    _Atomic uint64_t fsyncs;
    _Atomic uint64_t fsync_last_us;
    _Atomic uint64_t write_errors;
    uint64_t replayed, replayed_segments, torn, replay_us;
};

/* ---- journal_segments.c ---- */

/* Close F's descriptor; it takes no more appends. */
void jseg_close(struct jfile *f);
/*
 * Create the next segment (its header written) on J's list. NULL with
 * *SYS_ERR and a message in ERR. Caller holds the writing channel's lock.
 */
struct jfile *jseg_create(struct jrn *j, int *sys_err, char *err,
                          size_t errlen);
/* Append all of BUF to F, or cut F back to where it was: 0 or an errno
 * value (ERR says more). Caller holds the writing channel's lock. */
int jseg_write(struct jrn *j, struct jfile *f, const unsigned char *buf,
               size_t len, char *err, size_t errlen);
/* fdatasync F (and its directory entry once), up to UPTO: 0 or -1. */
int jseg_sync(struct jrn *j, struct jfile *f, int fd, uint64_t upto);

/* Add a segment found on disk to the list (closed), for jrn_retire(), or
 * update its size and highest change when it is there already. */
int jrn_adopt(struct jrn *j, uint64_t segno, uint64_t size,
              uint64_t max_seq);

/* The directory, the store, and the log of the snap. */
const char *jrn_dir(const struct jrn *j);
struct store *jrn_store(const struct jrn *j);
struct snap *jrn_snap(const struct jrn *j);

/* Record what a replay did, for stats. */
void jrn_replayed(struct jrn *j, uint64_t records, uint64_t segments,
                  uint64_t torn, uint64_t us);

#endif /* EMBER_JOURNAL_INT_H */
