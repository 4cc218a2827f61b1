/*
 * embersnap.h -- the offline snapshot tool's internal interface: the
 * command-line context, the opened snapshot (one read transaction, so
 * every pass of a command sees the same snapshot), record helpers and
 * the commands themselves.
 *
 * Layer: tools/embersnap/. Includes only snapshot/format.h (and util.h) of
 * ember's headers and links only libsnapfmt.a; the format is never
 * re-implemented here.
 *
 * Invariants
 *  - The snapshot is opened read-only (MDB_RDONLY with LMDB's reader
 *    table, never MDB_NOLOCK) and read inside one read transaction, which
 *    never blocks emberd's writer and never writes a byte of the data.
 *  - Every record a command uses is verified by snapfmt_rec_parse() (and
 *    its value by snapfmt_rec_value()) before it is trusted.
 *  - Nothing on disk is trusted before it is checked: data.mdb must hold
 *    every page its last snapshot uses (snapfmt_env_check_file) before
 *    LMDB maps it; keys and records LMDB hands out are size-checked by
 *    format.h and records as above; an LMDB page that is garbage -- LMDB
 *    asserts, or faults (SIGSEGV, SIGBUS) -- ends the program with one
 *    line naming DIR on stderr and exit 2, never a core dump
 *    (snap_fault.c; output written so far stays, cut short).
 *  - A stop request (Ctrl-C, SIGTERM, a closed pipe) ends the walk and
 *    aborts the read transaction before the process exits.
 *  - Commands return an exit status and print through struct es_cli's
 *    streams; only main() in embersnap_main.c calls exit.
 *  - Memory is constant in the number of records, except `ls --sort`
 *    (ES_SORT_ENTRY_BYTES per listed record, or per --limit), the
 *    prefix table of `stats` (at most ES_PREFIX_MAX prefixes) and the
 *    journal's overlay (one entry per key changed since the snapshot,
 *    bounded by the journal's size: snap_journal.h).
 *  - The commands that show items (get, ls, dump, stats, load) show by
 *    default the state after the journal: the snapshot with the changes
 *    made since it (DIR/journal-*.ejl) applied in order, what emberd would
 *    serve after a restart. --snapshot-only shows the snapshot alone.
 */
#ifndef EMBER_EMBERSNAP_H
#define EMBER_EMBERSNAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snapshot/format.h"

/* Exit statuses, as documented in `embersnap --help`. */
enum es_exit {
    ES_EXIT_OK = 0,
    ES_EXIT_PROBLEMS = 1,     /* problems found (verify), key missing... */
    ES_EXIT_USAGE = 2,        /* bad usage or unreadable snapshot */
};

#define ES_VALUE_MAX ((uint32_t)1 << 30)  /* largest value decoded (1 GiB) */
#define ES_KEY_TEXT_MAX 2100              /* snapfmt_key_print of 511 bytes */
#define ES_PREFIX_MAX 65536               /* distinct prefixes in stats */
#define ES_SORT_ENTRY_BYTES 32            /* memory per record for --sort */
#define ES_MEMCACHED_KEY_MAX 250
#define ES_REALTIME_MAXDELTA 2592000      /* 30 days: memcached's limit */

/* How the tool was called: streams and the clock. */
struct es_cli {
    FILE *out;
    FILE *err;
    int64_t now;              /* unix seconds used for TTLs (--now) */
    bool err_tty;             /* stderr is a terminal: progress lines */
    /* Set (by a signal handler) when the user asks to stop: the walk
     * ends and the read transaction is aborted, so that no stale reader
     * slot pins emberd's old pages. NULL: never. */
    const volatile sig_atomic_t *stop;
};

struct es_journal;

/* How much of the journal es_snap_open() reads. */
enum es_jmode {
    ES_JOURNAL_NONE,          /* the snapshot alone (--snapshot-only) */
    ES_JOURNAL_SCAN,          /* every segment scanned: counts, damage */
    ES_JOURNAL_APPLY,         /* scanned and folded: walks and lookups
                               * show the state after the journal */
};

/* An opened snapshot. Embedded; es_snap_open() / es_snap_release(). */
struct es_snap {
    const char *dir;          /* borrowed from argv */
    struct snapfmt_env *env;
    struct snapfmt_txn *txn;  /* the one read transaction */
    struct snapfmt_meta meta;
    struct snapfmt_dicts *dicts;         /* empty set if dicts are bad */
    char dict_err[SNAPFMT_ERR_MAX];      /* why dicts did not load, or "" */
    struct snapfmt_codec *codec;
    unsigned char *vbuf;      /* decoded value, grown up to ES_VALUE_MAX */
    size_t vcap;
    FILE *out;                /* walks stop when writing it fails */
    const volatile sig_atomic_t *stop;   /* walks stop when set */
    struct es_journal *jrn;   /* NULL with ES_JOURNAL_NONE */
    bool overlay;             /* ES_JOURNAL_APPLY: jrn is folded */
};

/* One record of a walk: raw bytes borrowed from the map, parsed header. */
struct es_rec {
    const void *key;
    size_t nkey;
    const void *rec;
    size_t nrec;
    struct snapfmt_rec r;     /* valid when parse_rc == SNAPFMT_OK */
    int parse_rc;
    char msg[SNAPFMT_ERR_MAX];           /* parse error message */
    const void *value;        /* non-NULL: the raw value (r.raw_len bytes)
                               * is in the journal; REC is the journal's
                               * record */
    uint64_t jseq;            /* 0: as the snapshot holds it; else the seq
                               * of the key's last change in the journal */
};

/* Called for each record; return 0 to go on, anything else to stop. */
typedef int (*es_walk_fn)(struct es_snap *s, struct es_rec *rec, void *arg);

/*
 * Open DIR read-only, begin the read transaction, read meta, the journal
 * as MODE says, and the dictionaries. The journal is read against the
 * snapshot its transaction sees: when emberd commits a snapshot while
 * the journal is read (it may retire segments), the transaction and the
 * journal are read again. On failure prints one line "embersnap:
 * MESSAGE" on CLI->err and returns ES_EXIT_USAGE (S is then released);
 * else ES_EXIT_OK. A damaged dictionary table does not fail the open: it
 * is recorded in S->dict_err for verify and info to report; nor does a
 * damaged journal with ES_JOURNAL_SCAN (see S->jrn); with
 * ES_JOURNAL_APPLY it does (what emberd would serve is then undefined).
 */
int es_snap_open(struct es_snap *s, const struct es_cli *cli,
                 const char *dir, enum es_jmode mode);

/* End the transaction and free everything S holds. Idempotent. */
void es_snap_release(struct es_snap *s);

/*
 * Walk the records whose key starts with PREFIX (NPREFIX 0: all) in key
 * order, parsing each header (parse errors are handed to FN in
 * REC->parse_rc, not skipped). With the overlay (ES_JOURNAL_APPLY), the
 * snapshot's records and the journal's are merged in key order: a key
 * the journal changed is delivered as changed (REC->jseq), a deleted or
 * flushed one not at all. Returns 0, FN's non-zero result, or a
 * negative value: ES_WALK_STOPPED when S->stop was set or writing S->out
 * failed (a closed pipe; ERR empty: say nothing more), else a snapfmt_rc
 * when LMDB cannot walk the tree (message in ERR).
 */
#define ES_WALK_STOPPED (-1000)
int es_walk(struct es_snap *s, const void *prefix, size_t nprefix,
            es_walk_fn fn, void *arg, char *err, size_t errlen);

/*
 * Look KEY (NKEY bytes, borrowed into REC) up as a walk would deliver it.
 * Returns SNAPFMT_OK with REC filled (check REC->parse_rc), SNAPFMT_END
 * when it is absent, with why in REC->msg ("not in the snapshot",
 * "deleted after the snapshot (journal seq N)", "flushed ..."), or an
 * LMDB error with a message in ERR.
 */
int es_lookup(struct es_snap *s, const void *key, size_t nkey,
              struct es_rec *rec, char *err, size_t errlen);

/*
 * Decode the value of parsed record REC into S->vbuf (a value in the
 * journal is not copied); *VAL borrowed until the next call. Returns a
 * snapfmt_rc with a message in MSG.
 */
int es_snap_value(struct es_snap *s, const struct es_rec *rec,
                  const unsigned char **val, char *msg, size_t msglen);

/*
 * Prepare parsed record REC for replay at CLI->now: checks that it
 * parsed, has not expired, has a key memcached can hold, and decodes.
 * Returns 0 with *VAL (borrowed until the next decode) and *EXPTIME
 * (es_wire_exptime()), 1 when expired (skip quietly), or -1 with a
 * message in MSG (skip and report). (snap_dump.c)
 */
int es_replay_prepare(struct es_snap *s, const struct es_cli *cli,
                      struct es_rec *rec, const unsigned char **val,
                      int64_t *exptime, char *msg, size_t msglen);

#define ES_REPLAY_HEAD_MAX 512

/*
 * The command line that stores REC (prepared) with EXPTIME, into HEAD
 * (ES_REPLAY_HEAD_MAX bytes); its length. `set KEY FLAGS EXPTIME BYTES`
 * when the key can travel in the text protocol, else the meta command
 * `ms BASE64KEY BYTES b F<flags> T<exptime>`, which memcached >= 1.6 and
 * emberd answer with HD. The value and "\r\n" follow it.
 */
size_t es_replay_head(const struct es_rec *rec, int64_t exptime, char *head);

/* ---- damage that takes liblmdb down (snap_fault.c) ------------------ */

/*
 * From now on a fault signal (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL)
 * and an LMDB assertion failure end the process with one line on stderr
 * -- "embersnap: DIR: ..." (es_fault_dir()) saying the snapshot is most
 * likely damaged -- and exit status ES_EXIT_USAGE, instead of a core
 * dump. Nothing is resumed after it (see snap_fault.c). For main() only,
 * once, before anything is opened: it sets process-wide dispositions
 * (and snapfmt_set_assert_handler()).
 */
void es_fault_install(void);

/* The directory the fault line names (copied; es_snap_open() sets it
 * before it reads a byte). Not signal-safe: call outside handlers. */
void es_fault_dir(const char *dir);

/* ---- small helpers (snap_util.c) ------------------------------------ */

/* True when EXPTIME (absolute, 0 = never) is at or before NOW. */
bool es_expired(uint32_t exptime, int64_t now);

/*
 * The exptime to send in a memcached `set` for absolute EXPTIME at NOW:
 * 0 for never, seconds left when at most 30 days, else EXPTIME itself
 * (memcached reads larger numbers as unix time). -1 when already expired.
 */
int64_t es_wire_exptime(uint32_t exptime, int64_t now);

/* TTL column text: "never", "expired" or seconds left. BUF >= 24. */
const char *es_ttl_text(uint32_t exptime, int64_t now, char *buf,
                        size_t cap);

/* True when a key of NKEY bytes fits memcached (1..250 bytes). Any bytes
 * may be in it: the meta protocol's base64 (b) keys are stored decoded. */
bool es_key_len_ok(size_t nkey);

/* True when KEY can be sent as is in the text protocol: es_key_len_ok()
 * and no control characters, spaces or DEL. */
bool es_key_ok(const void *key, size_t nkey);

/* Write the bytes as a JSON string (quotes included); caller checked
 * es_utf8_ok(). */
void es_json_str(FILE *f, const void *p, size_t n);

/* True when P is valid UTF-8 (no overlongs, no surrogates). */
bool es_utf8_ok(const void *p, size_t n);

/* True when P is valid UTF-8 without control characters other than
 * tab, newline and carriage return: what `dump --text` shows as text. */
bool es_text_ok(const void *p, size_t n);

/* Write P base64-encoded (RFC 4648, padded) to F. */
void es_base64(FILE *f, const void *p, size_t n);

/* Encode P into OUT (at least 4 * ((N + 2) / 3) bytes); its length. */
size_t es_base64_buf(const void *p, size_t n, char *out);

/* Human size ("512 B", "1.5 KiB", ...) into BUF. */
const char *es_human_bytes(uint64_t n, char *buf, size_t cap);

/* Print "embersnap CMD: " + message + newline on CLI->err. */
void es_warn(const struct es_cli *cli, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* es_warn() of ERR unless it is empty (a stopped walk). */
void es_warn_walk(const struct es_cli *cli, const char *cmd, const char *err);

/* es_warn() plus "(see embersnap CMD --help)"; returns ES_EXIT_USAGE. */
int es_usage_error(const struct es_cli *cli, const char *cmd,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- commands: each parses its own ARGV (ARGV[0] = command name) and
 * returns an enum es_exit. ---------------------------------------------- */

int es_cmd_info(const struct es_cli *cli, int argc, char **argv);
int es_cmd_ls(const struct es_cli *cli, int argc, char **argv);
int es_cmd_get(const struct es_cli *cli, int argc, char **argv);
int es_cmd_stats(const struct es_cli *cli, int argc, char **argv);
int es_cmd_verify(const struct es_cli *cli, int argc, char **argv);
int es_cmd_dump(const struct es_cli *cli, int argc, char **argv);
int es_cmd_load(const struct es_cli *cli, int argc, char **argv);

/*
 * The whole command line: global options, command, its options. Returns
 * an enum es_exit. NOW < 0: use the clock (or --now). STOP: see struct
 * es_cli (may be NULL). Used by main() and by tests/check_embersnap.c.
 * Not reentrant (getopt).
 */
int es_main(int argc, char **argv, FILE *out, FILE *err, int64_t now,
            const volatile sig_atomic_t *stop);

#endif /* EMBER_EMBERSNAP_H */
