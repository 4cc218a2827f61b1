/*
 * snapshot.h -- ember's persistence: the snapshot writer thread and the
 * warm-restart loader, on top of the format in format.h.
 *
 * Layer: libsnapshot.a. Uses storage only through storage/store.h and the
 * disk only through snapshot/format.h (LMDB, zstd). daemon/ drives it.
 *
 * Life cycle, as emberd's main() calls it:
 *
 *   snap_settings_default(&cfg); ...options...
 *   snap_open(&cfg, store, &sn, err, sizeof(err))   refuse/cold/stale
 *   snap_load(sn, err, sizeof(err))                  before listening
 *   snap_start(sn)                                   the writer thread
 *   ... serve; `snapshot` command -> snap_request_async() (the
 *       connection waits for the callback, its worker does not: see
 *       daemon/snapcmd.c); stats -> snap_stats()
 *   snap_close(&sn, err, sizeof(err))                final snapshot
 *   store_destroy(&store)
 *
 * Invariants
 *  - The snapshot on disk changes only by committing one LMDB write
 *    transaction per snapshot (records, deletions and meta together), so a
 *    crash at any instant leaves the previous snapshot whole.
 *  - Values are compressed outside every store lock: the writer holds item
 *    references (store_changes_take / store_foreach hand them out), never
 *    a lock, while it encodes; and at most 2 x 8192 items or 1/32 of the
 *    store's memory at a time (one batch walked, one compressed), because
 *    a referenced item cannot be evicted. Encoded records wait for the
 *    commit in an unnamed temporary file in DIR, not in RAM.
 *  - No CAS value above meta cas_reserved is handed out while the store's
 *    reservation hook is ours: the store is told a limit half a step
 *    (cas_step / 2, 8M by default) below what is durable, and asks for
 *    more from there. (The one gap: a worker does not wait for a running
 *    snapshot transaction to persist a reservation; more than half a step
 *    of CAS values during one snapshot would run ahead of the disk.) So
 *    after a crash the loader puts the counter above every CAS a client
 *    may hold.
 *  - Failures while writing (disk full, I/O errors) are counted and
 *    logged, the data stays in RAM, and the next snapshot is a full
 *    rewrite. Serving never stops for the snapshot.
 *  - Nothing on disk is overwritten or removed silently: a corrupt,
 *    too-new or stale snapshot is refused or moved aside under a name that
 *    says why (DIR.corrupt-YYYYmmddTHHMMSS, DIR.stale-...).
 *
 * Store configuration this module expects: store_config.changelog_max > 0
 * (e.g. 1-5% of mem_limit; 0 makes every snapshot a full rewrite).
 */
#ifndef EMBER_SNAPSHOT_H
#define EMBER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/store.h"

#define SNAP_ERR_MAX 512      /* enough for any message of this module */

enum snap_rc {
    SNAP_OK = 0,
    SNAP_ECORRUPT = -1,       /* snapshot damaged (policy fail) */
    SNAP_EVERSION = -2,       /* newer format (policy fail) */
    SNAP_EFOREIGN = -3,       /* DIR holds something that is not ours */
    SNAP_ESYS = -4,           /* mkdir, rename, thread, LMDB open... */
    SNAP_ENOMEM = -5,
    SNAP_EWRITE = -6,         /* a snapshot could not be committed */
    SNAP_ECLOSED = -7,        /* a request during shutdown */
    SNAP_EINVAL = -8,         /* bad settings */
};

/* Text for an enum snap_rc. Never NULL, static storage. */
const char *snap_strerror(int rc);

enum snap_on_corrupt {
    SNAP_CORRUPT_FAIL = 0,    /* refuse to start (the library's default) */
    SNAP_CORRUPT_COLD = 1,    /* move DIR aside, start empty */
    SNAP_CORRUPT_SALVAGE = 2, /* load what verifies, skip and count the */
                              /* rest (never a superseded value), move */
                              /* the damaged files aside; where nothing */
                              /* can be trusted (meta, tree): as cold */
};

/*
 * What a line is, most severe first. NOTICE is for what an operator
 * wants to see at the default level: the load (what it loads, progress
 * at most every snap_settings.progress_ms while it runs, what was loaded
 * and skipped and why), snapshots failing again after a success and
 * working again after failures, the final snapshot. A snapshot that
 * fails after one that did not is an ERROR; the same failure again is
 * INFO (counted in snap_stats), so a full disk logs one error, not one
 * per interval. Each committed snapshot is INFO.
 */
enum snap_log_level {
    SNAP_LOG_ERROR = 0,
    SNAP_LOG_WARN = 1,
    SNAP_LOG_NOTICE = 2,
    SNAP_LOG_INFO = 3,
};

/*
 * Log sink: MSG is one line without newline, borrowed for the call.
 * Called from the thread that calls snap_* (during snap_load(), the
 * loader's progress lines too) or from the writer thread.
 */
typedef void (*snap_log_fn)(void *arg, enum snap_log_level level,
                            const char *msg);

/* --journal-fsync: when the journal's writes reach the disk itself. */
enum snap_fsync {
    SNAP_FSYNC_EVERYSEC = 0,  /* fdatasync once a second (default) */
    SNAP_FSYNC_ALWAYS = 1,    /* before the reply: a group commit per */
                              /* worker and event-loop pass */
    SNAP_FSYNC_NO = 2,        /* never: the kernel writes back */
};

/*
 * The system calls the journal makes, replaceable by tests to inject
 * faults (ENOSPC, EIO, short writes). NULL members are the real calls.
 */
struct snap_jio {
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
};

struct snap_settings {
    const char *dir;          /* --snapshot-dir; borrowed during snap_open */
    unsigned interval;        /* --snapshot-interval seconds; 0 = only on
                               * demand (snap_request*) and at close */
    int compression;          /* --snapshot-compression 0..19; 0 = raw */
    uint64_t max_age;         /* --snapshot-max-age seconds; 0 = no limit */
    enum snap_on_corrupt on_corrupt; /* --snapshot-on-corrupt */
    size_t map_initial;       /* first LMDB map size; 0 = 64 MiB */
    size_t map_max;           /* the map never grows beyond; 0 = no limit */
    uint64_t cas_step;        /* CAS values reserved per meta write */
    unsigned load_threads;    /* loader decode threads, 1..8 (default 2) */
    unsigned replay_threads;  /* journal appliers, 1..8 (default 1 on a
                               * machine of 2 CPUs or fewer, else 2:
                               * appliers meet on size-class locks) */
    bool load_precheck;       /* walk the map in a child before loading
                               * (default true; ~0.1 s per million) */
    unsigned child_stall_s;   /* such a child counting no progress this
                               * long is killed (default 10; a fuzzer
                               * sets 1 so that a looping input costs 1 s) */
    int thread_nice;          /* nice of the writer and its compressors
                               * (default 5: workers win the CPU; 0 =
                               * as the workers) */
    bool journal;             /* --journal: changes between snapshots */
                              /* survive a crash (default true) */
    enum snap_fsync journal_fsync; /* --journal-fsync */
    uint64_t journal_max;     /* journal bytes that start a snapshot */
                              /* early; 0 = max(64 MiB, -m / 2) */
    const struct snap_jio *journal_io; /* tests only; NULL: real calls */
    unsigned progress_ms;     /* load progress lines at most this often */
                              /* (NOTICE); 0 = every 2 s */
    bool shared;              /* --takeover: another emberd owns DIR and */
                              /* serves from it (see "takeover" below) */
    snap_log_fn log;          /* NULL: lines go to stderr */
    void *log_arg;
};

/*
 * Defaults: interval 60, compression 1, no max age, fail, 2 threads,
 * load precheck on, writer nice 5.
 * Level 1 because with a trained dictionary higher levels gained < 1% on
 * 100-500 byte JSON values while compressing 1.5-2x slower (measured).
 */
void snap_settings_default(struct snap_settings *cfg);

struct snap;

/*
 * Records in the snapshot in DIR according to its meta, or 0 when there
 * is none or it cannot be read (nothing is reported: snap_open() does).
 * For main() to size the store's hash table (store_config.hash_power)
 * before creating it: growing the table while loading millions of items
 * costs about a third more CPU. Opens read-only, writes nothing, and
 * reads in a forked child: a damaged page that faults kills the child,
 * not emberd (0 then; snap_open()'s precheck reports the damage).
 * Thread: main, before snap_open(). Blocks: file I/O, fork.
 */
uint64_t snap_peek_items(const char *dir);

/*
 * Open (creating when absent) the snapshot in CFG->dir for store ST and
 * raise the store's CAS counter above what meta records. Writes nothing
 * to an existing snapshot (snap_load() reserves CAS values and installs
 * the store's hook, store_cas_set_reserve(), once the data is accepted).
 * Before this process reads a byte of DIR/data.mdb -- opening reads its
 * meta and main database pages -- (CFG->load_precheck) a forked child
 * opens it the same way and walks the map, because LMDB faults
 * (SIGSEGV/SIGBUS) or aborts on some damaged pages instead of returning
 * an error: a child that dies of a signal makes the snapshot damaged.
 *  - unknown format version or damaged files: SNAP_EVERSION /
 *    SNAP_ECORRUPT with a message naming the directory and what to do,
 *    or, with SNAP_CORRUPT_COLD, DIR is renamed DIR.corrupt-<time> (or,
 *    when DIR cannot be renamed, its files DIR/data.mdb.corrupt-<time>
 *    ...), a new empty snapshot is created and SNAP_OK is returned
 *    (logged WARN);
 *  - a directory that is not ours (other files, an LMDB without ember's
 *    meta): SNAP_EFOREIGN whatever the policy; it is not touched;
 *  - a directory another live emberd has open: SNAP_ESYS ("in use");
 *  - last commit older than CFG->max_age (by the store's clock): DIR is
 *    renamed DIR.stale-<time>, start empty, logged WARN.
 * ST is borrowed and must outlive the snap. Ownership: snap_close().
 * Thread: main, before serving. Blocks: file system.
 */
int snap_open(const struct snap_settings *cfg, struct store *st,
              struct snap **out, char *err, size_t errlen);

/*
 * Warm restart: load every unexpired record into the store, most recently
 * used first; when memory runs out the rest (the least recently used) is
 * dropped. Decodes in CFG->load_threads threads. Every record is
 * verified by its checksums (the map was walked by snap_open()'s
 * precheck) and the count checked against meta. Sets the store's CAS
 * counter above every CAS stored or reserved, then reserves the next
 * range durably. Call once, after snap_open() and before serving; the
 * store must be empty and should not be used meanwhile.
 * Returns SNAP_OK (also for an empty snapshot), SNAP_ECORRUPT or
 * SNAP_EVERSION (policy fail; the store then holds a partial load and
 * must not serve; nothing on disk was changed), or with
 * SNAP_CORRUPT_COLD: SNAP_OK after flushing what was loaded and moving
 * the damaged snapshot aside; with SNAP_CORRUPT_SALVAGE: SNAP_OK after
 * loading again what verifies (format 2: each record; format 3: each
 * block, dropping in every run the hash range a damaged block may have
 * covered, so no superseded value returns), applying the journal,
 * moving the damaged snapshot aside (DIR.damaged-<time>) and opening a
 * fresh one whose first snapshot (requested at once) is full; damage it
 * cannot salvage safely (the tree, meta) goes as with COLD. Skips are
 * logged WARN (one summary and a few reasons) and in snap_stats'
 * warm_restart_salvaged and *_damaged. SNAP_ENOMEM; SNAP_EWRITE when the CAS
 * reservation cannot be written. Progress and result are logged INFO.
 * Thread: main. Blocks: disk, CPU (seconds for tens of millions of items).
 */
int snap_load(struct snap *sn, char *err, size_t errlen);

/*
 * Start the writer thread: a snapshot every CFG->interval seconds and on
 * each request (snap_request_async(), snap_request()). Returns SNAP_OK or
 * SNAP_ESYS. Snapshots (here, on requests and in snap_close()) are
 * refused with SNAP_EINVAL until snap_load() succeeded: writing a store
 * that was not loaded would erase the snapshot on disk.
 */
int snap_start(struct snap *sn);

/*
 * Take a snapshot now and wait until it is durable (committed and
 * synced). With the thread running, the request is handed to it, and
 * concurrent requests share one snapshot that starts after the call.
 * Without the thread, the caller writes it. Returns SNAP_OK, or
 * SNAP_EWRITE / SNAP_ECLOSED with a reason in ERR.
 * Thread: one that may wait that long (tests, benchmarks); never an
 * event-loop worker, whose other clients would stall: emberd's `snapshot`
 * command uses snap_request_async(). Blocks: until the snapshot is
 * committed (milliseconds incremental, about a second for a full rewrite
 * of a million items).
 */
int snap_request(struct snap *sn, char *err, size_t errlen);

/*
 * Called once the snapshot asked for is committed (RC SNAP_OK) or failed
 * (RC < 0, ERR says why; ERR is borrowed for the call). Runs on the
 * writer thread: it must be short and must not call snap_* functions
 * (e.g. wake the worker's event loop and reply there).
 */
typedef void (*snap_done_fn)(void *arg, int rc, const char *err);

/*
 * Like snap_request() without blocking the caller: FN(ARG, ...) is
 * called when a snapshot that started after this call is durable, or
 * failed; if snap_close() comes first, its final snapshot serves the
 * request (FN then runs on snap_close()'s thread). Without the writer
 * thread, the snapshot is taken and FN called before this returns.
 * Returns SNAP_OK (FN will be called exactly once), or SNAP_ECLOSED /
 * SNAP_ENOMEM (FN will not be called).
 * Thread: any. Locks: the snap's request lock, briefly. Blocks: never
 * (with the thread running; without it, for the whole snapshot). What
 * emberd's `snapshot` command uses (daemon/snapcmd.c): FN wakes the
 * worker, which answers OK or "SERVER_ERROR ..." from RC and ERR.
 */
int snap_request_async(struct snap *sn, snap_done_fn fn, void *arg);

/* The outcome of the last snapshot this process attempted. */
enum snap_status {
    SNAP_STATUS_NONE = 0,     /* none attempted yet */
    SNAP_STATUS_OK = 1,       /* committed */
    SNAP_STATUS_FAILED = 2,   /* failed: see snapshot_last_error */
};

struct snap_stats {
    uint64_t snapshot_count;              /* committed since start */
    uint64_t snapshot_failures;
    enum snap_status snapshot_last_status;
    char snapshot_last_error[SNAP_ERR_MAX]; /* why the last one failed; */
                                          /* "" unless FAILED */
    uint64_t snapshot_changes_since_last; /* client changes (sets, */
                                          /* deletes, touches, ...) made */
                                          /* since the last snapshot began */
    uint64_t snapshot_in_progress;        /* 0 or 1 */
    uint64_t snapshot_last_duration_us;
    uint64_t snapshot_last_items_written;
    uint64_t snapshot_last_keys_removed;
    uint64_t snapshot_last_bytes;         /* record bytes written */
    uint64_t snapshot_last_time;          /* unix time of the last commit */
    uint64_t snapshot_last_full;          /* 1 when it was a full rewrite */
    uint64_t snapshot_last_commits;       /* LMDB transactions it took */
    uint64_t snapshot_last_txn_max_bytes; /* block bytes of its largest */
                                          /* transaction: about what LMDB */
                                          /* held in malloc'd dirty pages */
    uint64_t snapshot_bytes_on_disk;      /* data.mdb up to its last used
                                           * page (reusable free pages
                                           * inside it included) */
    uint64_t snapshot_map_size;
    uint64_t snapshot_items;              /* records on disk */
    uint64_t snapshot_raw_bytes;          /* keys + values, uncompressed */
    uint64_t snapshot_stored_bytes;       /* keys + records as stored */
    double snapshot_raw_to_stored_ratio;  /* raw / stored (1 when empty) */
    uint64_t snapshot_age;                /* seconds since the last commit, */
                                          /* or since snap_open() when */
                                          /* none was ever committed */
    uint64_t warm_restart_items_loaded;
    uint64_t warm_restart_items_expired;
    uint64_t warm_restart_items_dropped;  /* did not fit in memory */
    uint64_t warm_restart_items_too_large; /* larger than -I now */
    uint64_t warm_restart_duration_us;
    uint64_t warm_restart_snapshot_age;   /* age of the loaded snapshot */
    uint64_t warm_restart_salvaged;       /* 1: the load skipped damage */
    uint64_t warm_restart_records_damaged; /* records it skipped: damaged, */
                                          /* or in a range a damaged block */
                                          /* may have superseded */
    uint64_t warm_restart_blocks_damaged; /* format 3 blocks it skipped */
    uint64_t journal_enabled;             /* 0 or 1 */
    uint64_t journal_ok;                  /* 0 while it cannot be written */
    uint64_t journal_bytes;               /* written since the last */
    uint64_t journal_records;             /* snapshot started */
    uint64_t journal_segments;            /* files on disk */
    uint64_t journal_disk_bytes;          /* their total size */
    uint64_t journal_fsyncs;
    uint64_t journal_fsync_last_us;
    uint64_t journal_write_errors;        /* failed writes (each retry) */
    uint64_t journal_replayed_records;    /* at start */
    uint64_t journal_replayed_segments;
    uint64_t journal_replay_torn_bytes;   /* cut from torn tails */
    uint64_t journal_replay_us;
};

/*
 * Fill OUT. The snapshot_* figures of the snapshot on disk (items,
 * bytes, ratio, sizes, last time) are those of the snapshot loaded until
 * this process commits one. Thread: any. Locks: the snap's stats lock.
 * Blocks: never.
 */
void snap_stats(struct snap *sn, struct snap_stats *out);

/*
 * Stop the writer thread, write a final snapshot (its result is returned
 * and, on failure, described in ERR and not logged: the caller says what
 * it means; a success is logged NOTICE), remove the CAS hook, close the
 * environment, free *SNP and set it NULL. No-op on NULL. When
 * snap_load() did not succeed (a damaged snapshot refused, a failed
 * start) no snapshot is written: the store never held the snapshot, and
 * SNAP_OK is returned.
 * Thread: main, after the workers stopped writing. Blocks: one snapshot.
 */
int snap_close(struct snap **snp, char *err, size_t errlen);

/* ---- takeover: a new emberd takes DIR over from a running one ---------
 *
 * The running emberd (the owner) and the new one (cfg.shared) call, in
 * this order:
 *
 *   owner                          new
 *   snap_hold(sn, true)            snap_open(), snap_load()   read only
 *                                  snap_catch_up() ...        read only
 *                                  snap_takeover_prepare()    opens RW
 *   snap_handover_presync()                                   serving
 *   (workers stop changing the store and commit their channels)
 *   snap_handover() -> lock fd  -> snap_takeover_load(lock fd) read only
 *   (either: the new one serves)
 *   snap_handed_over()             snap_takeover_own(), snap_start()
 *   snap_close(): writes nothing
 *   (or: the new one failed)
 *   snap_handover_undo()           snap_close(): writes nothing
 *   snap_hold(sn, false)
 *
 * Until snap_takeover_own() the new one writes nothing into DIR and takes
 * no lock: the snapshot is opened read-only, the journal is read while
 * the owner still appends to it, and only its changes whose every
 * predecessor is on disk are applied. The owner takes no snapshot while
 * held, so the snapshot the new one loaded stays the last one and no
 * journal segment is retired under it. The new one's first snapshot is
 * a full rewrite, and retires the owner's segments.
 */

/*
 * Owner: ON stops snapshots (waiting for one that is running) so that
 * the files stay as a new emberd reads them; requests and the interval
 * wait. OFF resumes. Thread: any but the writer. Blocks: ON, until a
 * running snapshot is committed.
 */
void snap_hold(struct snap *sn, bool on);

/*
 * Owner, held, still serving, before it stops: fdatasync what the
 * journal holds so far, so that snap_handover() during the pause has
 * only what came since to write. Writers go on meanwhile. Best effort:
 * a failure is logged and counted, and snap_handover() syncs again and
 * reports. Optional. Thread: any but the journal's. Blocks: fdatasync.
 */
void snap_handover_presync(struct snap *sn);

/*
 * Owner, held, once every worker stopped changing the store and its
 * channel is committed: stop journaling the store's own changes, write
 * what waits in the journal and fdatasync every segment, and return in
 * *LOCK_FD the descriptor that holds the directory's lock (borrowed: it
 * stays ours; pass a copy over). SNAP_OK, or SNAP_EWRITE (ERR says why:
 * nothing may be handed over; call snap_handover_undo()), SNAP_EINVAL
 * without a journal. Thread: main. Blocks: fdatasync.
 */
int snap_handover(struct snap *sn, int *lock_fd, char *err, size_t errlen);

/* Owner: the new emberd failed; journal the store's changes again. */
void snap_handover_undo(struct snap *sn);

/*
 * Owner: the new emberd owns DIR now. The writer takes no snapshot any
 * more, snap_close() writes nothing (no final snapshot, the marker and
 * the journal stay for the new owner) and requests waiting for a
 * snapshot fail with SNAP_ECLOSED.
 */
void snap_handed_over(struct snap *sn);

/*
 * New, after snap_load(): apply the changes the owner journaled since,
 * as far as every change before them is on disk (a change whose
 * predecessor still waits in another worker's buffer waits too).
 * *APPLIED: how many. Called while the owner serves, it shortens the
 * moment when neither serves. SNAP_OK, SNAP_ECORRUPT (damage in bytes
 * that were on disk), SNAP_ENOMEM. Thread: main. Blocks: disk, CPU.
 */
int snap_catch_up(struct snap *sn, uint64_t *applied, char *err,
                  size_t errlen);

/*
 * New, loaded and caught up, before asking for the handover: open DIR's
 * snapshot read-write already (the owner takes no snapshot while held,
 * so it is the one loaded; snap_takeover_load() checks that it still
 * is), so that the moment when neither emberd serves does not include
 * it. Writes nothing. Optional: without it snap_takeover_load() opens.
 * SNAP_OK, or as snap_open() (ERR says why). Thread: main. Blocks: disk.
 */
int snap_takeover_prepare(struct snap *sn, char *err, size_t errlen);

/*
 * New, once the owner stopped and made its journal durable (it passed
 * LOCK_FD, adopted here: closed by snap_close()) or died (LOCK_FD -1:
 * its lock is taken here, waiting up to 5 s for the kernel to release
 * it): apply every change left in the journal and reopen DIR read-write
 * (unless snap_takeover_prepare() did); *APPLIED: how many changes that
 * was (those snap_load() and snap_catch_up() applied not counted).
 * Writes nothing yet. SNAP_OK; SNAP_ECORRUPT; SNAP_ESYS (the lock, the
 * reopen, or the snapshot changed since snap_load(): ERR says which).
 * Thread: main. Blocks: disk, CPU.
 */
int snap_takeover_load(struct snap *sn, int lock_fd, uint64_t *applied,
                       char *err, size_t errlen);

/*
 * New: DIR is ours. Create the running marker, journal the store's own
 * changes, raise the CAS counter above every value the owner may have
 * handed out and reserve the next range (a failure to write it is
 * logged and retried by the store's hook, not fatal: the owner is gone).
 * Then snap_start() as after a restart. Thread: main. Blocks: disk.
 */
void snap_takeover_own(struct snap *sn);

/* ---- the journal: changes between snapshots ---------------------------
 *
 * With cfg.journal, every change a client is told succeeded is appended
 * to a journal segment in DIR before its reply leaves, so a kill -9 or an
 * OOM kill loses nothing acknowledged and brings back nothing deleted,
 * replaced or flushed; snap_load() replays it after the snapshot. Each
 * worker thread owns a channel: the store reports the worker's changes
 * to snap_jchan_sink() (through its store_session), which only copies
 * them into the channel's buffer; before the worker writes the replies
 * of an event-loop pass it calls snap_jchan_commit() once, which writes
 * the buffer (one write) and, with SNAP_FSYNC_ALWAYS, fdatasyncs it.
 * While the journal cannot be written (disk full, I/O error) writes must
 * not be acknowledged: snap_journal_ok() says so, commits keep their
 * records and retry, and the journal recovers by itself.
 */
struct snap_jchan;

/*
 * A channel for one thread. Returns SNAP_OK and *OUT, or SNAP_EINVAL when
 * the journal is off (*OUT = NULL: run without one), SNAP_ENOMEM.
 * Ownership: snap_jchan_close() before snap_close(). Thread: any, once.
 */
int snap_jchan_open(struct snap *sn, struct snap_jchan **out);

/*
 * Commit what is pending (best effort), close the channel's segment
 * (kept until a snapshot covers it), free *CHP and set it NULL.
 */
void snap_jchan_close(struct snap_jchan **chp);

/*
 * The store_sink_fn of a worker's session: ARG is its channel. Copies the
 * change into the channel's buffer (a FLUSH or FLUSH_AT is committed at
 * once). Thread: the channel's owner. Blocks: only for FLUSH/FLUSH_AT.
 */
void snap_jchan_sink(void *arg, const struct store_change *ch);

/*
 * Whether commits of CH should be grouped (one per event-loop pass for
 * everything a worker did): true when each commit is fdatasync'ed
 * (SNAP_FSYNC_ALWAYS), where sharing it is what makes it affordable.
 * Otherwise a commit is one write() and may be made per connection.
 */
bool snap_jchan_group_commit(const struct snap_jchan *ch);

/* Whether changes wait in CH's buffer for snap_jchan_commit(). */
bool snap_jchan_pending(const struct snap_jchan *ch);

/*
 * Write CH's pending changes in one write (and fdatasync them with
 * SNAP_FSYNC_ALWAYS). Returns SNAP_OK (nothing pending, or written:
 * the replies may go) or SNAP_EWRITE (kept for a retry; ERR says why;
 * the replies must wait, or the connections be closed).
 * Thread: the channel's owner. Locks: the channel's. Blocks: disk I/O.
 */
int snap_jchan_commit(struct snap_jchan *ch, char *err, size_t errlen);

/*
 * Whether a change could be acknowledged now: false while some channel
 * cannot write its journal, with the reason in WHY. Always true when the
 * journal is off. Thread: any. Blocks: never.
 */
bool snap_journal_ok(struct snap *sn, char *why, size_t whylen);

#endif /* EMBER_SNAPSHOT_H */
