/*
 * snap_int.h -- private to snapshot/: the snap object shared by snap.c
 * (life cycle, thread, CAS hook, stats), snap_write.c (one snapshot) and
 * snap_load.c (warm restart). Not a public header.
 */
#ifndef EMBER_SNAP_INT_H
#define EMBER_SNAP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "snapshot/format.h"
#include "snapshot/snapshot.h"

#define SNAP_CAS_STEP_DEFAULT ((uint64_t)1 << 24)

#define SNAP_ENCODERS 2            /* threads compressing during a snapshot */
#define SNAP_RUNS_MAX 32           /* runs before a full snapshot is due */
#define SNAP_SALVAGE_WHY_N 3       /* reasons a salvage load keeps */

/* A pending snap_request_async(): called once snapshot SEQ is done. */
struct snap_waiter {
    struct snap_waiter *next;
    uint64_t seq;
    snap_done_fn fn;
    void *arg;
};

struct snap {
    struct snap_settings cfg;      /* copied; cfg.dir points at dir */
    char dir[4096];
    struct store *st;              /* borrowed */
    struct jrn *jrn;               /* the journal, NULL when off */
    struct jrn_replay *replay;     /* its changes, between scan and load */
    bool unclean;                  /* the last emberd on DIR crashed */
    bool shared;                   /* another emberd owns DIR (takeover, */
                                   /* until snap_takeover_own()) */
    bool handed_over;              /* DIR is another emberd's now */
    bool rw_early;                 /* shared, DIR already opened read- */
                                   /* write (snap_takeover_prepare()) */
    uint32_t load_now;             /* store time the load began: what had */
                                   /* expired by then is not loaded */
    uint64_t precheck_us;          /* snap_open()'s precheck took */
    struct snapfmt_env *env;
    int lock_fd;                   /* flock on DIR/data.mdb, or -1 */

    /* writer state: guarded by run_lock (one snapshot at a time) */
    pthread_mutex_t run_lock;
    struct snapfmt_codec *codecs[SNAP_ENCODERS]; /* compressor threads */
    struct snapfmt_dicts *dicts;   /* dictionaries on disk (format 2) */
    const struct snapfmt_dict *dict; /* meta dict_id's, in dicts */
    bool need_full;                /* last snapshot failed: rewrite all */
    bool refused;                  /* load failed (damage, EIO): never write */
    bool loaded;                   /* snap_load() ran: RAM may be written */
    bool final;                    /* snap_close()'s snapshot: its caller */
                                   /* reports a failure */
    unsigned fail_streak;          /* snapshots failed since the last ok */
    uint32_t fail_since;           /* store time of the first of them */

    /* guarded by txn_lock: LMDB write transactions, map resizes, meta */
    pthread_mutex_t txn_lock;
    struct snapfmt_meta meta;      /* as last committed */
    atomic_bool writing;           /* a snapshot transaction is open */
    atomic_bool loading;           /* snap_load() holds a read txn */
    _Atomic uint64_t cas_reserved; /* durable in meta (or the journal) */
    _Atomic uint64_t reserve_retry_us; /* a failed reservation: not again */
                                   /* before this (monotonic us), 0 ok */

    /* writer thread and requests: guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* requests in, results out */
    pthread_t thread;
    bool running;
    bool stop;
    bool held;                     /* snap_hold(): no snapshot for now */
    struct snap_waiter *waiters;   /* snap_request_async() callers */
    uint64_t req_seq;              /* requests made */
    uint64_t done_seq;             /* requests served */
    int done_rc;
    char done_err[SNAP_ERR_MAX];

    pthread_mutex_t stats_lock;
    struct snap_stats stats;       /* guarded by: stats_lock */
    uint64_t changes_base;         /* guarded by: stats_lock; the change */
                                   /* sequence the last snapshot covers */
    uint32_t opened_at;            /* store time at snap_open() */

    /* salvage (snap_salvage.c): set by the thread in snap_load(); the
     * counters and why[] also by its decode threads, under stats_lock */
    bool salvaging;                /* skip what does not verify */
    bool salvaged;                 /* the load skipped damage */
    struct {
        struct snapfmt_salvage *scan; /* format 3's damaged ranges */
        uint64_t records;          /* records skipped */
        uint64_t blocks;           /* damaged blocks (format 3) */
        char why[SNAP_SALVAGE_WHY_N][SNAP_ERR_MAX]; /* the first */
        unsigned nwhy;
    } salv;

    /* load progress (the thread in snap_open()/snap_load() only) */
    uint64_t load_t0;              /* snap_now_us() at snap_open() */
    uint64_t progress_next;        /* no progress line before this */
};

/* Log a formatted line through cfg.log. */
void snap_log(struct snap *sn, enum snap_log_level level, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

/* Microseconds of a monotonic clock. */
uint64_t snap_now_us(void);

/*
 * Load progress: when cfg.progress_ms passed since the last line, log
 * NOTICE "loading DIR: WHAT DONE of TOTAL (P%), S s" (TOTAL 0: no count
 * and no share). Cheap enough for every few thousand records (reads the
 * clock). Thread: the one loading, in snap_open() and snap_load().
 */
void snap_progress(struct snap *sn, const char *what, uint64_t done,
                   uint64_t total);

/*
 * The stats of the snapshot on disk from meta and the file: items, raw
 * and stored bytes, their ratio, bytes on disk, map size, last commit
 * time; and COVERED, the change sequence it holds every change up to
 * (snapshot_changes_since_last counts from there). Takes stats_lock.
 * (snap.c)
 */
void snap_stats_disk(struct snap *sn, uint64_t covered);

/*
 * After each snapshot attempt (caller holds run_lock): the first failure
 * after a success is logged ERROR, the next ones INFO; the first success
 * after failures NOTICE. A failure of snap_close()'s snapshot (final) is
 * not logged: its caller reports it. (snap_status.c)
 */
void snap_note_result(struct snap *sn, bool ok, const char *err);

/*
 * Take one snapshot (incremental or full) and commit it. Caller holds
 * run_lock. Returns SNAP_OK or SNAP_EWRITE with ERR filled. (snap_write.c)
 */
int snap_write_locked(struct snap *sn, char *err, size_t errlen);

/*
 * The block pipeline of one snapshot (snap_bpipe.c): records added in
 * snapshot order are copied into blocks; full blocks are sealed by
 * SNAP_ENCODERS threads (with the codecs in sn->codecs, at the
 * configured level) while more are added, and handed to SINK in order,
 * on the adding thread: KEY/NKEY the block's LMDB key, VAL/NVAL its
 * value, NREC records, RAW_LEN raw bytes, all borrowed for the call. A
 * non-zero SINK result stops the pipeline and is returned by later
 * calls. Used by the writer thread (run_lock held).
 */
typedef int (*bpipe_sink_fn)(void *arg, const void *key, size_t nkey,
                             const void *val, size_t nval, uint32_t nrec,
                             size_t raw_len);
struct bpipe;
/* Start a pipeline for run RUN. SNAPFMT_OK or SNAPFMT_ENOMEM. */
int bpipe_open(struct snap *sn, uint64_t run, bpipe_sink_fn sink, void *arg,
               struct bpipe **out);
/* Add R (copied; R->hash set), after every record added before it. */
int bpipe_add(struct bpipe *p, const struct snapfmt_brec *r);
/* Seal what is left and hand every block to the sink. */
int bpipe_finish(struct bpipe *p);
/* Stop the threads and free *PP (what was not finished is dropped). */
void bpipe_close(struct bpipe **pp);

/*
 * The sealed blocks of one snapshot, spilled to an unnamed file in the
 * snapshot directory with a 16-byte index entry each in memory
 * (snap_spill.c). Used by the writer thread only.
 */
struct spill_entry {
    uint64_t off;                  /* key at map + off, value after it */
    uint32_t nkey;
    uint32_t nrec;                 /* the value's bytes */
};

struct spill {
    int fd;
    int sys_err;                   /* first write error */
    unsigned char *buf;            /* write buffer */
    size_t len;
    uint64_t size;                 /* bytes in the file, buffered included */
    struct spill_entry *v;         /* the index, in the order added */
    size_t n;
    size_t cap;
    const unsigned char *map;      /* after spill_finish() */
    size_t maplen;
};

/* Create the unnamed file in DIR. On failure nothing is left open. */
int spill_open(struct spill *sp, const char *dir, char *err, size_t errlen);
/* Append KEY and value REC. 0 or -1 (sys_err). */
int spill_add(struct spill *sp, const void *key, size_t nkey, const void *rec,
              size_t nrec);
/* Forget everything spilled so far (unmapped, the file emptied). */
void spill_reset(struct spill *sp);
/* Flush and map the file: the entries' bytes are at map + off. */
int spill_finish(struct spill *sp, char *err, size_t errlen);
/* Unmap, close (the file vanishes) and free. */
void spill_close(struct spill *sp);

/* Free the writer's buffers. (snap_write.c) */
void snap_write_release(struct snap *sn);

/*
 * Persist cas_reserved = LIMIT in a transaction of its own, if higher,
 * growing the map (up to cfg.map_max) when the put or the commit finds
 * it full. Caller holds txn_lock. Returns SNAP_OK, or SNAP_EWRITE with
 * what went wrong (LMDB's words) in ERR. (snap.c)
 */
int snap_reserve_locked(struct snap *sn, uint64_t limit, char *err,
                        size_t errlen);

/*
 * Raise the store's CAS counter above meta's cas_max and cas_reserved,
 * reserve the next range durably and install the store's hook (also when
 * the reservation failed: the next write retries it). Returns SNAP_OK or
 * SNAP_EWRITE with a message in ERR.
 * Thread: main; no LMDB transaction of this thread may be open. (snap.c)
 */
int snap_cas_install(struct snap *sn, char *err, size_t errlen);

/*
 * Close the environment, rename DIR to DIR.WHY-<time>, and open a new
 * empty snapshot in DIR. Caller holds no transaction. (snap.c)
 */
int snap_restart_cold(struct snap *sn, const char *why, char *err,
                      size_t errlen);

/*
 * After a failed write transaction: reopen the environment if LMDB has
 * marked it unusable (a failed meta-page write), logging what happened.
 * Caller holds txn_lock (no transaction of this process is open). (snap.c)
 */
void snap_env_recover(struct snap *sn);

/*
 * LMDB trusts its pages: on some damage a reader faults (SIGSEGV, SIGBUS)
 * or aborts instead of returning an error. Open the snapshot as emberd
 * will and walk meta, dictionaries and every record in a forked child
 * first; SNAPFMT_ECORRUPT (with why in ERR) when it died of a signal,
 * else SNAPFMT_OK (errors that are not faults are left to the real
 * open). Call before this process reads a byte of DIR/data.mdb.
 * Blocks: a read pass over the file. (snap_precheck.c)
 */
int snap_precheck(struct snap *sn, char *err, size_t errlen);

enum snap_child_rc {
    SNAP_CHILD_OK = 0,        /* FN returned: its value in *OUT */
    SNAP_CHILD_SIGNALED = 1,  /* the child died of signal *SIG */
    SNAP_CHILD_STALLED = 2,   /* no progress for child_stall_s: killed */
    SNAP_CHILD_FAILED = -1,   /* no child (fork, pipe) or it failed */
};

/* Seconds a child may go without counting progress (a damaged page can
 * also send LMDB round a loop). Reading one record never takes this.
 * The default of snap_settings.child_stall_s. */
#define SNAP_CHILD_STALL_S 10

/*
 * Run FN(DIR, PROGRESS) in a forked child that dies of any fault signal
 * (default dispositions, no core file) and hand its result back through
 * a pipe: the way to read a snapshot that may be damaged without risking
 * this process. FN bumps *PROGRESS (shared with the parent) as it goes;
 * a child that leaves it unchanged for cfg.child_stall_s is killed. FN
 * must only read (the child _exit()s; nothing it changes reaches the
 * parent). Returns an enum snap_child_rc. Thread: any; the child runs
 * only FN (fork of a threaded process: FN may use malloc and LMDB, not
 * locks held by other threads). Blocks until the child ends or is
 * killed; with SN (NULL: quiet) a long wait logs load progress
 * (snap_progress()). (snap_precheck.c)
 */
typedef uint64_t (*snap_child_fn)(const char *dir,
                                  _Atomic uint64_t *progress);
int snap_in_child(struct snap *sn, const char *dir, snap_child_fn fn,
                  uint64_t *out, int *sig);

/* ---- warm restart ---- */

/* What a load did. */
struct snap_loadres {
    uint64_t loaded;
    uint64_t expired;
    uint64_t dropped;              /* did not fit in memory (-m) */
    uint64_t too_large;            /* larger than this emberd's -I */
    uint64_t cas_max;              /* over every record read */
    uint64_t damaged;              /* format 3 salvage: records skipped */
};

/*
 * Load a format 3 snapshot's items into the store (snap_load3.c), in
 * cfg.load_threads threads; when it may not fit in memory, the most
 * recently accessed. Returns a snapfmt rc with a message in ERR.
 * Thread: main, in snap_load().
 */
int snap_load_blocks(struct snap *sn, struct snap_loadres *res, char *err,
                     size_t errlen);

/*
 * Formats 1 and 2: load the records of "items" into the store
 * (snap_load.c); with sn->salvaging, damaged records are skipped
 * (snap_salvage_note()) and only the tree's own damage (keys out of
 * order, a count other than meta's, the cursor failing) fails.
 */
int snap_load_items(struct snap *sn, struct snap_loadres *res, char *err,
                    size_t errlen);

/* ---- salvage (snap_salvage.c) ---- */

/* Whether the load's failure FRC is damage that policy salvage takes. */
bool snap_salvage_applies(const struct snap *sn, int frc);
/*
 * After the strict load failed with ERR (kept as the first reason):
 * take back what it linked and load again skipping what does not
 * verify. SNAPFMT_OK (sn->salvaged set), or the error that leaves
 * nothing to trust (the store emptied again; cold is the way out).
 * Thread: main, in snap_load().
 */
int snap_salvage_load(struct snap *sn, struct snap_loadres *res, char *err,
                      size_t errlen);
/* One record skipped, WHY among the first few reasons. Locks:
 * stats_lock. Thread: any loader. */
void snap_salvage_note(struct snap *sn, const char *why);
/* Stats and the WARN lines of a salvage load (one summary, a few why). */
void snap_salvage_report(struct snap *sn, const struct snap_loadres *res);
/*
 * After the journal was applied: move the damaged snapshot aside, open a
 * fresh one and ask for a full snapshot as soon as the writer starts.
 * Failing to move it: logged, nothing is ever written (sn->refused), and
 * still SNAP_OK: the salvaged items are served. Thread: main.
 */
int snap_salvage_settle(struct snap *sn, char *err, size_t errlen);

/* ---- item state in records (snap_write.c) ---- */

/* The record flags (SNAPFMT_RF_*) of STORE_STATE_* bits, and back. */
unsigned snap_rflags(unsigned state_bits, bool explicit_cas);
unsigned snap_state_bits(unsigned rflags);

/* ---- the journal's lifecycle (snap_journal.c) ---- */

/* Detect an unclean stop; create the journal when cfg.journal. */
int snap_journal_open(struct snap *sn, char *err, size_t errlen);
/* Before the snapshot loads: read the journal's changes beyond it.
 * Returns a snapfmt rc (damage: the corrupt policy applies). */
int snap_journal_scan(struct snap *sn, char *err, size_t errlen);
/* Whether a scanned change gives KEY more time (touch, gat): its record
 * is loaded even if it has expired by now. */
bool snap_journal_touches(const struct snap *sn, const void *key,
                          size_t nkey);
/* After the snapshot loaded: pending flush, the scanned changes, the
 * marker. Returns a snapfmt rc. */
int snap_journal_load(struct snap *sn, char *err, size_t errlen);
/* Close the journal; CLEAN (the final snapshot committed): remove the
 * marker, so the next start knows the stop was clean. */
void snap_journal_close(struct snap *sn, bool clean);
/* DIR was moved aside: a new journal in the new DIR. */
int snap_journal_reopen(struct snap *sn, char *err, size_t errlen);
/* The state CAS values were counted in is gone (damage, a lost or empty
 * data.mdb, a crash without journal): raise the counter above anything
 * handed out before, from the clock, and log why. */
void snap_history_lost(struct snap *sn, const char *why);
/* Ask the writer thread for a snapshot (the journal is getting long). */
void snap_nudge(struct snap *sn);
/* Create DIR/emberd.running with our pid: a crash is detected from now. */
void snap_marker_create(struct snap *sn);
/* What follows the replay: a flush_all that came due while no emberd
 * served, and (when we own DIR) the marker. */
void snap_journal_settle(struct snap *sn);

/* ---- ownership of DIR (snap.c, snap_takeover.c) ---- */

/*
 * Take the flock on DIR/data.mdb (into sn->lock_fd), trying for up to
 * WAIT_MS milliseconds (a dead owner's lock goes when the kernel has
 * reaped it). SNAP_OK, or SNAP_ESYS ("in use by another emberd").
 */
int snap_dir_lock(struct snap *sn, unsigned wait_ms, char *err,
                  size_t errlen);
/* Answer every waiting snap_request_async() now with RC and ERR (no
 * snapshot will come). Locks: sn->lock, briefly; calls them unlocked. */
void snap_waiters_fail(struct snap *sn, int rc, const char *err);
/* Whether snap_hold() holds snapshots. Locks: sn->lock. */
bool snap_is_held(struct snap *sn);

#endif /* EMBER_SNAP_INT_H */
