/*
 * format.h -- ember's on-disk snapshot format: record codec, checksums,
 * zstd compression with trained dictionaries, and the LMDB environment
 * (open read-only or read-write, transactions, meta keys, dictionaries,
 * record cursor).
 *
 * Layer: libsnapfmt.a. Depends on libc, LMDB, zstd and libxxhash only: no
 * storage/, no threads of its own. Used by snapshot/ (writer, loader) and
 * by tools/embersnap/, which may include nothing else of ours. LMDB stays
 * behind this header: the environment and transactions are opaque, and
 * LMDB's errors arrive as enum snapfmt_rc with LMDB's words in the message,
 * so no user includes <lmdb.h>.
 *
 * Invariants
 *  - Every record is self-checking: its header carries a checksum over
 *    header, key and payload, and an XXH3-64 of the raw value, which is
 *    checked after decompression. Nothing read from disk is trusted
 *    before that; bad bytes give SNAPFMT_ECORRUPT with a message naming
 *    the key and the field, never a crash.
 *  - Decompression never writes more than the record's raw length, which
 *    is the cap of the caller's buffer.
 *  - A format version this build does not know is refused
 *    (SNAPFMT_EVERSION), both per environment (meta key format_version)
 *    and per record.
 *
 * Record layout (LMDB database "items": key = the cache key bytes, value =
 * this record; all integers little-endian; docs/SNAPSHOT-FORMAT.md):
 *
 *    0      1      2      3      4             8            12
 *   +------+------+------+------+-------------+------------+------------+
 *   |magic |vers. |codec |rflags| dict id u32 | flags u32  | expiry u32 |
 *   +------+------+------+------+-------------+------------+------------+
 *   16                          24            28           32
 *   +---------------------------+-------------+------------+------------+
 *   | CAS u64                   | atime u32   | raw len    | payload len|
 *   +---------------------------+-------------+------------+------------+
 *   36            40                          48
 *   +-------------+---------------------------+---------------------...
 *   | rcheck u32  | vcheck u64 = XXH3(raw)    | payload (payload len)
 *   +-------------+---------------------------+---------------------...
 *
 *   rcheck = low 32 bits of XXH3_64bits_withSeed(payload, payload len,
 *              XXH3_64bits_withSeed(key, nkey, XXH3_64bits(bytes 0..35)))
 */
#ifndef EMBER_SNAPFMT_H
#define EMBER_SNAPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPFMT_MAGIC 0xEBu
#define SNAPFMT_VERSION 3u      /* format version written by this build */
#define SNAPFMT_VERSION_MIN 1u  /* oldest version this build still reads */
#define SNAPFMT_REC_VERSION 2u  /* newest version of records in "items" */
                                /* (formats 1 and 2; format 3 keeps its */
                                /* items in "blocks") */
#define SNAPFMT_HDR_SIZE 48u    /* fixed record header */
#define SNAPFMT_ERR_MAX 256     /* enough for any message of this module */
#define SNAPFMT_DICT_MAX (1u << 20) /* the largest dictionary read (bytes) */
#define SNAPFMT_WRITER_MAX 32   /* bytes of writer_version, incl. NUL */

enum snapfmt_rc {
    SNAPFMT_OK = 0,
    SNAPFMT_END = 1,          /* cursor: no more records (result) */
    SNAPFMT_ECORRUPT = -1,    /* bad record, meta or file; see message */
    SNAPFMT_EVERSION = -2,    /* format version unknown to this build */
    SNAPFMT_ENODICT = -3,     /* record names a dictionary not present */
    SNAPFMT_ENOSPC = -4,      /* caller's buffer too small */
    SNAPFMT_EFOREIGN = -5,    /* directory holds something not ours */
    SNAPFMT_ENOENT = -6,      /* no snapshot there (read-only open) */
    SNAPFMT_EMAPFULL = -7,    /* LMDB map full: grow it and retry */
    SNAPFMT_ELMDB = -8,       /* other LMDB or system error; see message */
    SNAPFMT_ENOMEM = -9,
    SNAPFMT_EINVAL = -10,     /* bad argument */
    SNAPFMT_EZSTD = -11,      /* compression or dictionary training */
};

enum snapfmt_codec_id {
    SNAPFMT_RAW = 0,          /* payload is the value */
    SNAPFMT_ZSTD = 1,         /* payload is one zstd frame */
    SNAPFMT_ZSTD_DICT = 2,    /* zstd frame made with dictionary dict_id */
};

/*
 * Record flags (header byte 3, "rflags"; version 2 on, 0 in version 1):
 * item state a warm restart keeps. The meta protocol's state bits, and
 * whether the CAS is one a client chose (meta E) rather than a value of
 * the writer's counter: such a CAS says nothing about the counter, so a
 * reader must not start its counter above it (it is not in cas_max).
 */
enum snapfmt_rflag {
    SNAPFMT_RF_FETCHED = 1u << 0,     /* read at least once */
    SNAPFMT_RF_STALE = 1u << 1,       /* invalidated (meta I) */
    SNAPFMT_RF_WON = 1u << 2,         /* a client was told to recache */
    SNAPFMT_RF_KEY_BINARY = 1u << 3,  /* stored under a base64 (b) key */
    SNAPFMT_RF_CAS_EXPLICIT = 1u << 4,/* cas chosen by a client (E) */
    SNAPFMT_RF_ALL = 0x1fu,           /* the rest are reserved, 0 */
};

/* Text for an enum snapfmt_rc. Never NULL, static storage. */
const char *snapfmt_strerror(int rc);

/* ---- records ---------------------------------------------------------- */

/* One cache item to encode. All pointers borrowed for the call. */
struct snapfmt_item {
    const void *key;
    size_t nkey;
    const void *value;
    uint32_t nvalue;
    uint32_t flags;           /* client flags */
    uint32_t exptime;         /* absolute unix seconds, 0 = never */
    uint32_t atime;           /* last access, unix seconds */
    uint64_t cas;
    unsigned rflags;          /* enum snapfmt_rflag */
};

/* A parsed, header-verified record. */
struct snapfmt_rec {
    unsigned version;
    unsigned rflags;          /* enum snapfmt_rflag; 0 in version 1 */
    unsigned codec;           /* enum snapfmt_codec_id */
    uint32_t dict_id;         /* 0 unless codec == SNAPFMT_ZSTD_DICT */
    uint32_t flags;
    uint32_t exptime;
    uint32_t atime;
    uint64_t cas;
    uint32_t raw_len;
    uint32_t payload_len;
    uint64_t vcheck;          /* XXH3-64 of the raw value */
    const void *payload;      /* borrowed: points into the record bytes */
};

/* Largest record snapfmt_encode() can produce for NVALUE bytes. */
size_t snapfmt_encode_bound(size_t nvalue);

struct snapfmt_codec;
struct snapfmt_dict;
struct snapfmt_dicts;

/*
 * Create a (de)compression context. LEVEL 0 stores every value raw;
 * 1..19 is the zstd level. Returns NULL when out of memory.
 * Ownership: caller frees with snapfmt_codec_destroy().
 * Thread: a codec is used by one thread at a time (one per thread).
 */
struct snapfmt_codec *snapfmt_codec_create(int level);

/* Free *CP and set it to NULL. No-op on NULL. */
void snapfmt_codec_destroy(struct snapfmt_codec **cp);

/*
 * Compress with DICT from now on (NULL: plain zstd). DICT is borrowed and
 * must outlive its use by C. Returns SNAPFMT_OK or SNAPFMT_EZSTD.
 */
int snapfmt_codec_set_dict(struct snapfmt_codec *c,
                           const struct snapfmt_dict *dict);

/*
 * Encode IN as a record into OUT (CAP bytes); *OUTLEN gets its length.
 * Compresses with C's level and dictionary; stores raw when compression
 * is off or does not make the value smaller. Returns SNAPFMT_OK,
 * SNAPFMT_ENOSPC (CAP too small even for the raw record; CAP >=
 * snapfmt_encode_bound() always suffices), SNAPFMT_EINVAL (empty key,
 * rflags outside SNAPFMT_RF_ALL).
 * Blocks: never; CPU bound. Allocates: never.
 */
int snapfmt_encode(struct snapfmt_codec *c, const struct snapfmt_item *in,
                   void *out, size_t cap, size_t *outlen);

/*
 * Verify record REC (NREC bytes) stored under KEY: magic, that the
 * payload length in the header is what follows it (checked before any
 * byte past the header is read, so a wrong NREC is caught, not read
 * past), the record checksum (header, key, payload), version, reserved
 * bits, codec and lengths; a zstd payload must be exactly one frame,
 * and a frame that states its content size must state the raw length.
 * Versions SNAPFMT_VERSION_MIN .. SNAPFMT_REC_VERSION are read; a
 * version 1 record has rflags 0, later ones only SNAPFMT_RF_ALL bits.
 * Fills OUT (OUT->payload points into REC). Does not decompress.
 * Returns SNAPFMT_OK, SNAPFMT_ECORRUPT or SNAPFMT_EVERSION (a record with
 * a valid checksum and a newer version), with a message in ERR (ERRLEN
 * bytes, may be 0) naming the key and what is wrong.
 */
int snapfmt_rec_parse(const void *key, size_t nkey, const void *rec,
                      size_t nrec, struct snapfmt_rec *out, char *err,
                      size_t errlen);

/*
 * Decode the value of parsed record R (stored under KEY) into OUT, which
 * has CAP >= R->raw_len bytes; writes exactly R->raw_len bytes and checks
 * the raw checksum. DICTS may be NULL when no dictionary is loaded.
 * Returns SNAPFMT_OK, SNAPFMT_ENOSPC, SNAPFMT_ENODICT, SNAPFMT_ECORRUPT,
 * with a message in ERR. Thread: as C. Allocates: never.
 */
int snapfmt_rec_value(struct snapfmt_codec *c,
                      const struct snapfmt_dicts *dicts,
                      const struct snapfmt_rec *r, const void *key,
                      size_t nkey, void *out, size_t cap, char *err,
                      size_t errlen);

/*
 * Read expiry, last access, CAS and raw length of record REC WITHOUT
 * verifying it (only size, magic and that the payload length in the
 * header is what follows it: the header's own framing), to order records
 * before a verified
 * decode. *CAS is the counter value the record holds, or 0 when its CAS
 * is a client's (SNAPFMT_RF_CAS_EXPLICIT): what cas_max is made of.
 * The caller must still snapfmt_rec_parse() every record it uses or
 * skips. Returns SNAPFMT_OK or SNAPFMT_ECORRUPT.
 */
int snapfmt_rec_peek(const void *rec, size_t nrec, uint32_t *exptime,
                     uint32_t *atime, uint64_t *cas, uint32_t *raw_len);

/* snapfmt_rec_parse() then snapfmt_rec_value(); same results. */
int snapfmt_decode(struct snapfmt_codec *c, const struct snapfmt_dicts *dicts,
                   const void *key, size_t nkey, const void *rec,
                   size_t nrec, struct snapfmt_rec *out, void *value,
                   size_t cap, char *err, size_t errlen);

/*
 * Write KEY into DST (CAP bytes, NUL terminated) for messages: printable
 * ASCII as is, anything else as \xHH, cut with "..." when too long.
 */
void snapfmt_key_print(const void *key, size_t nkey, char *dst, size_t cap);

/* ---- dictionaries ----------------------------------------------------- */

/*
 * Build dictionary ID (non-zero) from DATA (N bytes, copied) for LEVEL
 * (1..19). Returns SNAPFMT_OK and *OUT, or SNAPFMT_EZSTD / SNAPFMT_EINVAL
 * / SNAPFMT_ENOMEM with a message. Ownership: caller frees with
 * snapfmt_dict_destroy() (or hands it to snapfmt_dicts_add()).
 * Thread: a dictionary is read-only once built; any number of codecs in
 * any threads may use it at once.
 */
int snapfmt_dict_create(uint32_t id, const void *data, size_t n, int level,
                        struct snapfmt_dict **out, char *err, size_t errlen);

/*
 * Train a dictionary of at most CAPACITY bytes from NSAMPLES samples
 * stored back to back in SAMPLES with their lengths in SIZES (zstd's
 * ZDICT_trainFromBuffer), then snapfmt_dict_create(ID, ..., LEVEL).
 * Needs a few hundred samples of the kind of data to compress; too few
 * gives SNAPFMT_EZSTD. Blocks: CPU, ~0.1 s per MiB of samples.
 */
int snapfmt_dict_train(const void *samples, const size_t *sizes,
                       unsigned nsamples, size_t capacity, uint32_t id,
                       int level, struct snapfmt_dict **out, char *err,
                       size_t errlen);

void snapfmt_dict_destroy(struct snapfmt_dict **dp);
uint32_t snapfmt_dict_id(const struct snapfmt_dict *d);
/* The dictionary bytes (borrowed, valid while D lives). */
const void *snapfmt_dict_data(const struct snapfmt_dict *d, size_t *n);

/* A set of dictionaries by id, for decoding. NULL on ENOMEM. */
struct snapfmt_dicts *snapfmt_dicts_create(void);
void snapfmt_dicts_destroy(struct snapfmt_dicts **sp);
/* Add D (ownership passes to the set). SNAPFMT_EINVAL on a duplicate id
 * (D is then destroyed), SNAPFMT_ENOMEM. */
int snapfmt_dicts_add(struct snapfmt_dicts *s, struct snapfmt_dict *d);
/* Borrowed dictionary ID, or NULL. Thread: any, once filled. */
const struct snapfmt_dict *snapfmt_dicts_get(const struct snapfmt_dicts *s,
                                             uint32_t id);
/* Number of dictionaries and the highest id (0 when empty). */
unsigned snapfmt_dicts_count(const struct snapfmt_dicts *s);
uint32_t snapfmt_dicts_max_id(const struct snapfmt_dicts *s);

/* ---- the LMDB environment -------------------------------------------- */

/*
 * An open snapshot environment: DIR/data.mdb and DIR/lock.mdb with the
 * named databases items, meta and dicts. Opaque: everything is done
 * through the functions below, in transactions (struct snapfmt_txn).
 */
struct snapfmt_env;

enum snapfmt_open_flags {
    SNAPFMT_RDONLY = 1,       /* MDB_RDONLY; safe beside a running writer */
};

/*
 * Open the snapshot in DIR.
 *  - SNAPFMT_RDONLY: DIR/data.mdb must exist (else SNAPFMT_ENOENT); opened
 *    read-only with reader locks, so it can be read while emberd writes.
 *  - read-write: DIR is created 0700 if missing; a new environment (files
 *    0600) gets meta format_version; an existing one is checked. A DIR
 *    holding other files but no data.mdb is SNAPFMT_EFOREIGN: nothing of
 *    anyone else's is ever written over.
 * MAPSIZE is the initial map size for read-write opens (0: 64 MiB; at
 * least twice the file, room for a full rewrite; a new environment whose
 * first transaction does not fit in MAPSIZE grows it). Checks: not LMDB
 * or damaged -> ECORRUPT; no meta/format_version -> EFOREIGN; newer
 * format -> EVERSION. ERR gets a message naming DIR.
 * Ownership: caller closes with snapfmt_env_close().
 * Thread: the env may be shared; transactions follow LMDB's rules (one
 * write transaction at a time, each transaction used by one thread).
 */
int snapfmt_env_open(const char *dir, unsigned flags, size_t mapsize,
                     struct snapfmt_env **out, char *err, size_t errlen);

/* Close *EP (all transactions must be over) and set it NULL. */
void snapfmt_env_close(struct snapfmt_env **ep);

/*
 * LMDB trusts its pages. It checks some of its own invariants while it
 * reads (a leaf where a leaf must be, ...), and when a damaged page
 * breaks one it prints the assertion and calls abort(): SIGABRT, a core
 * dump. FN, when set, is called instead, with the directory of the
 * environment (DIR) and LMDB's text (WHAT, e.g. "mdb.c:5921: Assertion
 * 'IS_LEAF(mp)' failed in mdb_cursor_next()"), both borrowed for the
 * call. FN must not return: it ends the process (exit status, message);
 * the transaction it was called from is in an undefined state and must
 * not be used again. If FN returns, LMDB prints and aborts as without
 * it. NULL (the default) keeps LMDB's behaviour, which emberd's precheck
 * child relies on.
 * Applies to every environment opened afterwards (snapfmt_env_open,
 * snapfmt_env_check_file). Process-wide, as a signal disposition is:
 * call it once at start, before any open and before threads. Only
 * failures LMDB detects go here; a page that sends it through a wild
 * pointer still raises SIGSEGV or SIGBUS (see embersnap_main.c and
 * snap_precheck() for the two ways ember handles those).
 */
typedef void (*snapfmt_assert_fn)(const char *dir, const char *what);
void snapfmt_set_assert_handler(snapfmt_assert_fn fn);

/*
 * Double the map size (up to MAX_BYTES; 0 = no limit), after an
 * SNAPFMT_EMAPFULL. No transaction of this process may be open.
 * Returns SNAPFMT_OK, SNAPFMT_EMAPFULL at the limit, SNAPFMT_ELMDB.
 */
int snapfmt_env_grow(struct snapfmt_env *e, size_t max_bytes);

/*
 * Grow the map (doubling) to at least NEED bytes, capped at MAX_BYTES
 * (0 = no cap), so that a large transaction does not fail half way.
 * Same rules as snapfmt_env_grow(). Returns SNAPFMT_OK or SNAPFMT_ELMDB.
 */
int snapfmt_env_reserve(struct snapfmt_env *e, uint64_t need,
                        size_t max_bytes);

/*
 * After a write transaction failed: when LMDB could not write its meta
 * page (ENOSPC, EIO at commit) it marks the environment unusable and
 * every later transaction fails with MDB_PANIC until it is opened again.
 * If E is in that state, close and reopen it (same directory and map
 * size; the pages on disk are the last committed snapshot). *REOPENED
 * says whether it did. No transaction of this process may be open.
 * Returns SNAPFMT_OK (usable now) or the error of the reopen, which a
 * later call tries again; until then transactions fail with ELMDB.
 */
int snapfmt_env_recover(struct snapfmt_env *e, bool *reopened, char *err,
                        size_t errlen);

/* Bytes of data.mdb in use (last page + 1) and the map size. */
void snapfmt_env_sizes(struct snapfmt_env *e, uint64_t *used,
                       uint64_t *mapsize);

/* ---- transactions (format_txn.c) -------------------------------------- */

/*
 * A transaction on an environment: a read transaction sees one committed
 * snapshot for its whole life, even while a writer commits; a write
 * transaction's changes are all or nothing at its commit. Opaque.
 * Thread: used by the thread that began it. One write transaction per
 * environment at a time (a second begin waits for the first to end).
 * Borrowed pointers a transaction hands out (records, keys) stay valid
 * until it ends, or for a write transaction until its next write.
 */
struct snapfmt_txn;

/*
 * Begin a transaction on E (read-only when RDONLY; E must be read-write
 * otherwise), adopting a map grown by another process. A write
 * transaction first clears reader slots of dead processes (see
 * snapfmt_env_clear_stale_readers()). Returns SNAPFMT_OK and *OUT, or an
 * rc of the LMDB mapping (SNAPFMT_ELMDB, ...) with LMDB's words in ERR.
 * Ownership: end it with snapfmt_txn_commit() or snapfmt_txn_abort().
 * Blocks: a write begin waits for another process's write transaction.
 */
int snapfmt_txn_begin(struct snapfmt_env *e, bool rdonly,
                      struct snapfmt_txn **out, char *err, size_t errlen);

/*
 * Commit *TP and set it NULL; the transaction is over whatever the
 * result (a failed commit is an abort). Returns SNAPFMT_OK,
 * SNAPFMT_EMAPFULL (the commit's own page allocations did not fit: grow
 * the map and run the whole transaction again, or use snapfmt_txn_run()),
 * or SNAPFMT_ELMDB / SNAPFMT_ECORRUPT, with LMDB's words in ERR.
 * Blocks: writes and fsyncs data.mdb (read-only: never).
 */
int snapfmt_txn_commit(struct snapfmt_txn **tp, char *err, size_t errlen);

/* Abandon *TP (nothing it wrote stays) and set it NULL. No-op on NULL. */
void snapfmt_txn_abort(struct snapfmt_txn **tp);

/*
 * The message of the last operation of T that failed (the key or name,
 * the operation and what LMDB said), or "" when none did. Borrowed,
 * valid until T ends.
 */
const char *snapfmt_txn_error(const struct snapfmt_txn *t);

/*
 * Fill one write transaction: called by snapfmt_txn_run() with a fresh
 * transaction, possibly several times (each call must start its work
 * over: nothing of an earlier call was kept). Returns SNAPFMT_OK to
 * commit; anything else aborts and is returned by snapfmt_txn_run(),
 * except SNAPFMT_EMAPFULL, which grows the map and calls again. A
 * message may go to ERR; when it leaves ERR empty the transaction's
 * (snapfmt_txn_error()) is used.
 */
typedef int (*snapfmt_fill_fn)(struct snapfmt_txn *txn, void *arg,
                               char *err, size_t errlen);

/*
 * Run write transaction FILL(ARG) to its commit. A map-full anywhere in
 * it -- a put inside FILL or the commit's own page allocations -- aborts
 * it, doubles the map (up to MAP_MAX bytes; 0 = no limit) and runs it
 * again, up to 16 times. Returns SNAPFMT_OK once committed; FILL's
 * error; SNAPFMT_EMAPFULL when the map is full at MAP_MAX, with a message
 * naming the limit and LMDB's words; or a begin/commit error, each with
 * a message in ERR. Thread: the caller's; no other transaction of this
 * process may be open (the map is resized between tries).
 * Blocks: as snapfmt_txn_begin() and snapfmt_txn_commit().
 */
int snapfmt_txn_run(struct snapfmt_env *e, size_t map_max,
                    snapfmt_fill_fn fill, void *arg, char *err,
                    size_t errlen);

/* ---- meta ------------------------------------------------------------- */

/*
 * Contents of the meta database. Keys are ASCII names; numbers are u64
 * little-endian (format_version and dict_id u32), writer_version is text.
 */
struct snapfmt_meta {
    uint32_t format_version;
    char writer_version[SNAPFMT_WRITER_MAX];
    uint64_t sequence;        /* committed snapshots, 1 = first */
    uint64_t last_commit;     /* unix seconds of the last commit */
    uint64_t items;           /* records in items */
    uint64_t bytes;           /* sum of key + raw value bytes */
    uint64_t stored_bytes;    /* sum of key + record bytes */
    uint64_t cas_max;         /* highest CAS stored in items */
    uint64_t cas_reserved;    /* no CAS above this was handed out */
    uint32_t dict_id;         /* dictionary used for new records, 0 none */
    uint64_t journal_seq;     /* every journal change with a seq up to */
                              /* this is in the snapshot (0: none) */
    uint64_t flush_pending;   /* a delayed flush_all due at this unix */
                              /* time (0: none) */
    /* format 3 (0 in formats 1 and 2): the runs of blocks that make up */
    /* the snapshot are base_run .. run_end - 1 (none when equal) */
    uint64_t base_run;        /* the run of the last full snapshot */
    uint64_t run_end;         /* one past the newest run */
    uint64_t blocks;          /* blocks in those runs */
    uint64_t records;         /* records in them, tombstones included */
    uint64_t base_records;    /* records of base_run */
};

/*
 * Read meta of E in TXN (NULL: a read transaction of its own). Missing
 * numbers read as 0. Returns SNAPFMT_OK, SNAPFMT_EFOREIGN (no
 * format_version), SNAPFMT_EVERSION, SNAPFMT_ECORRUPT (a value of the
 * wrong size), ELMDB.
 */
int snapfmt_meta_read(struct snapfmt_env *e, struct snapfmt_txn *txn,
                      struct snapfmt_meta *out, char *err, size_t errlen);

/*
 * Write every field of M in write transaction TXN. Returns SNAPFMT_OK,
 * EMAPFULL or ELMDB (message: snapfmt_txn_error()).
 */
int snapfmt_meta_write(struct snapfmt_txn *txn, const struct snapfmt_meta *m);

/* Write one u64 meta key NAME in TXN (e.g. "cas_reserved"). As above. */
int snapfmt_meta_put_u64(struct snapfmt_txn *txn, const char *name,
                         uint64_t v);

/* ---- items and dictionaries in a transaction ------------------------- */

/*
 * Every write below takes a write transaction and on failure records a
 * message naming the key and what LMDB said (snapfmt_txn_error()). A
 * failed write leaves the transaction fit only for snapfmt_txn_abort().
 */

/*
 * Put record REC under KEY in write transaction TXN. APPEND: KEY sorts
 * after every key in items (MDB_APPEND; much faster for sorted loads).
 * Returns SNAPFMT_OK, SNAPFMT_EMAPFULL, SNAPFMT_ELMDB, SNAPFMT_EINVAL (key
 * empty or longer than LMDB's key limit, 511 bytes; an APPEND out of
 * order).
 */
int snapfmt_put(struct snapfmt_txn *txn, const void *key, size_t nkey,
                const void *rec, size_t nrec, bool append);

/* Delete KEY from items (absent is fine). OK, EMAPFULL, ELMDB. */
int snapfmt_del(struct snapfmt_txn *txn, const void *key, size_t nkey);

/* What snapfmt_update() replaced or deleted. */
struct snapfmt_prev {
    bool found;               /* KEY had a record */
    size_t nrec;              /* its size in bytes */
    bool peeked;              /* its header read (snapfmt_rec_peek) */
    uint32_t raw_len;         /* when peeked: its value's raw length */
};

/*
 * Replace KEY's record by REC (NREC bytes), or delete it when REC is
 * NULL, in one descent of the tree, and describe the record that was
 * there in *PREV (for totals). Returns as snapfmt_put().
 */
int snapfmt_update(struct snapfmt_txn *txn, const void *key, size_t nkey,
                   const void *rec, size_t nrec, struct snapfmt_prev *prev);

/*
 * Look KEY up in TXN: *REC, *NREC borrowed until TXN ends or writes.
 * Returns SNAPFMT_OK, SNAPFMT_END (absent), SNAPFMT_ECORRUPT (LMDB
 * found damage, or, in a read transaction, a record larger than the file
 * in use), ELMDB; the message in snapfmt_txn_error().
 */
int snapfmt_get(struct snapfmt_txn *txn, const void *key, size_t nkey,
                const void **rec, size_t *nrec);

/* Empty items (kept as a database) in TXN. OK, EMAPFULL, ELMDB. */
int snapfmt_items_clear(struct snapfmt_txn *txn);

/* Store dictionary D under its id in dicts (write TXN). As snapfmt_put. */
int snapfmt_dict_put(struct snapfmt_txn *txn, const struct snapfmt_dict *d);

/* Delete dictionary ID from dicts (absent is fine). OK, EMAPFULL, ELMDB. */
int snapfmt_dict_del(struct snapfmt_txn *txn, uint32_t id);

/*
 * Load every dictionary in dicts of E (TXN, or NULL for an own read
 * transaction), built for compression LEVEL (1..19), into a new set
 * *OUT. Returns SNAPFMT_OK, SNAPFMT_ECORRUPT (bad id or data), ENOMEM.
 */
int snapfmt_dicts_load(struct snapfmt_env *e, struct snapfmt_txn *txn,
                       int level, struct snapfmt_dicts **out, char *err,
                       size_t errlen);

/* ---- cursor over records --------------------------------------------- */

struct snapfmt_iter;

/*
 * Start a cursor over items in key order, in read transaction TXN (NULL:
 * the cursor opens its own read transaction, which sees one consistent
 * snapshot even while a writer commits). Ownership: snapfmt_iter_close().
 */
int snapfmt_iter_open(struct snapfmt_env *e, struct snapfmt_txn *txn,
                      struct snapfmt_iter **out, char *err, size_t errlen);

/*
 * Next record: *KEY, *NKEY and *REC, *NREC point into the map and stay
 * valid until snapfmt_iter_close() (read transactions do not move data).
 * Returns SNAPFMT_OK, SNAPFMT_END, SNAPFMT_ECORRUPT or SNAPFMT_ELMDB.
 * Records are not verified here: call snapfmt_rec_parse(). Their sizes
 * are: a key of 1..511 bytes, a record no larger than the file in use,
 * else SNAPFMT_ECORRUPT with why in snapfmt_txn_error() of the cursor's
 * transaction (a damaged LMDB node; reading it could run off the map).
 */
int snapfmt_iter_next(struct snapfmt_iter *it, const void **key,
                      size_t *nkey, const void **rec, size_t *nrec);

/* The cursor's read transaction (borrowed; e.g. for meta/dicts). */
struct snapfmt_txn *snapfmt_iter_txn(struct snapfmt_iter *it);

/* Close the cursor, and its transaction if it opened it; NULL *ITP. */
void snapfmt_iter_close(struct snapfmt_iter **itp);

/* ---- read side: prefix ranges, database statistics (format_read.c) -- */

struct snapfmt_range;

/*
 * Start a cursor over the records whose key begins with PREFIX (NPREFIX
 * bytes; 0 = every record), in key order, inside read transaction TXN,
 * which must not be NULL: callers such as embersnap make several passes
 * and all must see the same snapshot. Seeks to the first matching key
 * (MDB_SET_RANGE) and stops after the last, so a prefix costs O(log n +
 * matches), not a full scan. PREFIX is copied.
 * Returns SNAPFMT_OK, SNAPFMT_EINVAL (TXN NULL), SNAPFMT_ENOMEM or
 * SNAPFMT_ELMDB, with a message in ERR.
 * Ownership: caller frees with snapfmt_range_close(), before TXN ends.
 * Thread: the thread that owns TXN. Blocks: never (reads the map).
 */
int snapfmt_range_open(struct snapfmt_txn *txn, const void *prefix,
                       size_t nprefix, struct snapfmt_range **out,
                       char *err, size_t errlen);

/*
 * Next record of the range: *KEY, *NKEY, *REC, *NREC point into the map
 * and stay valid until TXN ends. Returns SNAPFMT_OK, SNAPFMT_END, or
 * SNAPFMT_ECORRUPT / SNAPFMT_ELMDB when LMDB cannot walk the tree (the
 * range is then over). Records are not verified: snapfmt_rec_parse();
 * their sizes are, as by snapfmt_iter_next() (why in
 * snapfmt_txn_error(TXN)).
 */
int snapfmt_range_next(struct snapfmt_range *r, const void **key,
                       size_t *nkey, const void **rec, size_t *nrec);

/* Close the range's cursor (not TXN) and set *RP NULL. No-op on NULL. */
void snapfmt_range_close(struct snapfmt_range **rp);

enum snapfmt_db_id {
    SNAPFMT_DB_ITEMS = 0,
    SNAPFMT_DB_META = 1,
    SNAPFMT_DB_DICTS = 2,
    SNAPFMT_DB_BLOCKS = 3,    /* all zero when there is none (format < 3) */
};

/*
 * Check, before snapfmt_env_open(), that DIR/data.mdb holds every page its
 * newest snapshot uses. LMDB reads the file through a memory map, so a
 * page past the end of a truncated file (a copy cut short, a full disk)
 * raises SIGBUS instead of an error; this turns that into a message. Opens
 * the environment read-only on its own and reads only LMDB's two meta
 * pages (with pread). Returns SNAPFMT_OK, SNAPFMT_ENOENT (no data.mdb),
 * SNAPFMT_ECORRUPT (truncated or not LMDB) or SNAPFMT_ELMDB, with a
 * message naming DIR in ERR. Blocks: file I/O. Thread: any.
 */
int snapfmt_env_check_file(const char *dir, char *err, size_t errlen);

/*
 * Clear reader slots in DIR/lock.mdb left by processes that died inside
 * a read transaction (kill -9 of embersnap, a forked child that _exit()s
 * with a transaction open): until cleared, each pins the snapshot it was
 * reading, LMDB cannot reuse the pages freed since, and data.mdb grows by
 * a whole snapshot with every full rewrite (mdb_reader_check). A writer
 * should call it before each write transaction; it is cheap (a scan of
 * the reader table, one kill(pid, 0) per slot). *DEAD (may be NULL) gets
 * the number cleared. Returns SNAPFMT_OK or SNAPFMT_ELMDB.
 * Thread: any. Blocks: briefly on the reader table's lock.
 */
int snapfmt_env_clear_stale_readers(struct snapfmt_env *e, int *dead);

/* The reader table of lock.mdb, as LMDB lists it (mdb_reader_list). */
struct snapfmt_readers {
    unsigned active;          /* slots of live processes in a transaction */
    unsigned stale;           /* slots of dead processes in a transaction */
    uint64_t stale_txn;       /* oldest transaction a stale slot pins */
    int stale_pid;            /* one of the dead processes */
};

/*
 * Fill OUT without changing anything (a slot counts as stale when kill(pid,
 * 0) says ESRCH). Returns SNAPFMT_OK or SNAPFMT_ELMDB. Thread: any.
 */
int snapfmt_env_readers(struct snapfmt_env *e, struct snapfmt_readers *out);

/* LMDB's view of one named database (mdb_stat). */
struct snapfmt_db_stats {
    uint64_t entries;
    uint64_t branch_pages;
    uint64_t leaf_pages;
    uint64_t overflow_pages;  /* values larger than about half a page */
    unsigned depth;
    unsigned page_size;
};

/*
 * Fill OUT for database WHICH as seen by transaction TXN (not NULL).
 * Returns SNAPFMT_OK, SNAPFMT_EINVAL or SNAPFMT_ELMDB. Blocks: never.
 */
int snapfmt_db_stats(struct snapfmt_txn *txn, enum snapfmt_db_id which,
                     struct snapfmt_db_stats *out);

/* ---- format 3: records in compressed blocks (format_block.c) --------
 *
 * A format 3 snapshot keeps its items in the LMDB database "blocks"
 * ("items" stays empty). Records are in snapshot order: ascending
 * snapfmt_key_hash() of the key, then the key's bytes (memcmp), then the
 * shorter key first. A block holds consecutive records, compressed as
 * one zstd frame; blocks belong to runs. A full snapshot writes one run
 * holding every item; an incremental snapshot writes a run of what
 * changed since the last snapshot: items, and tombstones for keys that
 * are gone. The snapshot is the runs meta base_run .. run_end - 1 (the
 * first is a full snapshot's): for each key the record of the newest run
 * holding it counts, and a tombstone there means the key is absent.
 *
 * Block key (LMDB): run u64 BE | hash u64 BE | key of its last record,
 *   so blocks sort by run and then in snapshot order, and a key is found
 *   by one seek (the first block whose key is not below it).
 * Block value (little-endian):
 *    0 magic 0xEC   1 version 3   2 codec (0 raw, 1 zstd)   3 flags 0
 *    4 nrec u32 (>= 1)   8 raw_len u32   12 payload_len u32
 *   16 first_hash u64 (of its first record's key)
 *   24 rcheck u64 = XXH3_64(raw bytes)   32 8 zero bytes
 *   40 bcheck u64 = XXH3_64 of bytes 0..39, seeding the LMDB key's hash,
 *      seeding the payload's
 *   48 payload: the raw bytes, or one zstd frame stating raw_len
 * Record (in the raw bytes, back to back, no padding):
 *    0 type u8 (1 item, 2 tombstone)   1 rflags u8   2 nkey u8   3 zero
 *    4 flags u32   8 exptime u32   12 atime u32   16 cas u64
 *   24 nvalue u32   28 key (nkey), value (nvalue)
 * A block of two or more records holds at most SNAPFMT_BLOCK_MAX raw
 * bytes; a single record may be larger (one big value).
 */
#define SNAPFMT_BLOCK_MAGIC 0xECu
#define SNAPFMT_BLOCK_HDR 48u
#define SNAPFMT_BREC_HDR 28u
#define SNAPFMT_BLOCK_TARGET (64u << 10) /* raw bytes a writer aims for */
#define SNAPFMT_BLOCK_MAX (1u << 20)  /* raw bytes of a multi-record block */
#define SNAPFMT_BKEY_MIN 17u          /* block key: run, hash, >= 1 byte */
#define SNAPFMT_BKEY_MAX (16u + 255u)
#define SNAPFMT_BKEY_NMAX 255u        /* longest key in a block record */

enum snapfmt_btype {
    SNAPFMT_B_ITEM = 1,       /* the key holds this item */
    SNAPFMT_B_TOMB = 2,       /* the key is absent (older runs' records */
                              /* of it do not count) */
};

/*
 * The hash that orders keys in format 3: XXH3-64 (seed 0) of KEY's NKEY
 * bytes. (It is also how emberd's store places keys: store_key_hash().)
 */
uint64_t snapfmt_key_hash(const void *key, size_t nkey);

/*
 * Snapshot order of (HA, A) and (HB, B), HA/HB their snapfmt_key_hash():
 * by hash, then bytes, then the shorter first. <0, 0 (the same key), >0.
 */
int snapfmt_key_order(uint64_t ha, const void *a, size_t na, uint64_t hb,
                      const void *b, size_t nb);

/* One record of a block. Pointers borrowed (into a block's raw bytes). */
struct snapfmt_brec {
    unsigned type;            /* enum snapfmt_btype */
    unsigned rflags;          /* enum snapfmt_rflag; 0 for a tombstone */
    uint32_t flags;
    uint32_t exptime;         /* absolute unix seconds, 0 = never */
    uint32_t atime;
    uint64_t cas;
    uint64_t hash;            /* snapfmt_key_hash(key) */
    const void *key;
    size_t nkey;              /* 1..SNAPFMT_BKEY_NMAX */
    const void *value;        /* NULL when not decoded (see the merge) */
    uint32_t nvalue;          /* 0 for a tombstone */
};

/* Raw bytes record R takes in a block: SNAPFMT_BREC_HDR + keys + value. */
size_t snapfmt_brec_size(size_t nkey, size_t nvalue);

/*
 * Write R (type, rflags, flags, exptime, atime, cas, key, value) into
 * OUT, which has snapfmt_brec_size() bytes; returns that size. A
 * tombstone is written with zero fields and no value, whatever R holds.
 * The caller keeps records in snapshot order. Allocates, blocks: never.
 */
size_t snapfmt_brec_put(const struct snapfmt_brec *r, void *out);

/* Largest block value snapfmt_block_seal() makes of RAW_LEN raw bytes. */
size_t snapfmt_block_bound(size_t raw_len);

/* What a writer knows of a block's records when it seals them. */
struct snapfmt_bseal {
    uint64_t run;
    const void *raw;          /* NREC records by snapfmt_brec_put() */
    size_t raw_len;
    uint32_t nrec;
    uint64_t first_hash;      /* of the first record's key */
    uint64_t last_hash;       /* of the last record's key, ... */
    const void *last_key;     /* ... and that key (borrowed) */
    size_t last_nkey;
};

/*
 * Seal S into a block: its LMDB value into OUT (CAP >= snapfmt_block_
 * bound(S->raw_len); *OUTLEN its length) and its LMDB key into KEY
 * (SNAPFMT_BKEY_MAX bytes; *NKEY its length). Compresses with C's level
 * (no dictionary), or stores raw when the level is 0 or zstd does not
 * make it smaller. Returns SNAPFMT_OK, SNAPFMT_EINVAL (no records, a
 * multi-record block over SNAPFMT_BLOCK_MAX, a bad last key),
 * SNAPFMT_ENOSPC. Thread: as C. Allocates: never.
 */
int snapfmt_block_seal(struct snapfmt_codec *c, const struct snapfmt_bseal *s,
                       void *out, size_t cap, size_t *outlen, void *key,
                       size_t *nkey);

/* A block whose framing and checksum were verified (snapfmt_block_parse).
 * Pointers borrowed from the LMDB key and value it was parsed from. */
struct snapfmt_block {
    uint64_t run;
    uint64_t first_hash;
    uint64_t last_hash;
    const void *last_key;     /* the last record's key, in the LMDB key */
    size_t last_nkey;
    unsigned codec;           /* SNAPFMT_RAW or SNAPFMT_ZSTD */
    uint32_t nrec;
    uint32_t raw_len;
    uint32_t payload_len;
    uint64_t rcheck;          /* XXH3-64 of the raw bytes */
    const void *payload;
};

/*
 * Verify the block VAL (NVAL bytes) stored under KEY (NKEY bytes): the
 * key's length, the value's framing (size, magic, that payload_len is
 * what follows the header: all before any byte past the header is
 * read), bcheck over header, key and payload, then version, codec,
 * flags, counts and lengths (nrec >= 1; a block of several records
 * holds at most SNAPFMT_BLOCK_MAX raw bytes; a raw payload is raw_len
 * bytes; a zstd payload is exactly one frame stating raw_len as its
 * content size). Fills OUT. Does not decompress.
 * Returns SNAPFMT_OK, SNAPFMT_ECORRUPT or SNAPFMT_EVERSION (a sound block
 * of a newer version), with a message naming the run and last key.
 * Allocates: never.
 */
int snapfmt_block_parse(const void *key, size_t nkey, const void *val,
                        size_t nval, struct snapfmt_block *out, char *err,
                        size_t errlen);

/*
 * Decode parsed block B into RAW, which has CAP >= B->raw_len bytes
 * (else SNAPFMT_ENOSPC: the caller's cap is the largest block it takes),
 * and check rcheck. Returns SNAPFMT_OK, SNAPFMT_ENOSPC, SNAPFMT_ECORRUPT.
 * Writes at most B->raw_len bytes. Thread: as C. Allocates: never.
 */
int snapfmt_block_decode(struct snapfmt_codec *c,
                         const struct snapfmt_block *b, void *raw,
                         size_t cap, char *err, size_t errlen);

/* A walk over a decoded block's records. Embedded; fields private. */
struct snapfmt_bwalk {
    const struct snapfmt_block *b;
    const unsigned char *raw;
    size_t off;
    uint32_t seen;
    uint64_t prev_hash;
    const void *prev_key;
    size_t prev_nkey;
};

/* Start a walk over B's raw bytes RAW (decoded; borrowed for the walk). */
void snapfmt_bwalk_init(struct snapfmt_bwalk *w,
                        const struct snapfmt_block *b, const void *raw);

/*
 * The next record into OUT (pointers into RAW). Every record is checked
 * against what is left of raw_len before its bytes are used: header,
 * type, reserved byte, rflags, key length 1..SNAPFMT_BKEY_NMAX, a
 * tombstone's zero fields and value, that it follows the previous one in
 * snapshot order (the first at first_hash); after the last: nrec records
 * in exactly raw_len bytes, ending at the block key's hash and key.
 * Returns SNAPFMT_OK, SNAPFMT_END, or SNAPFMT_ECORRUPT with a message
 * naming the block, the record's number and its offset.
 */
int snapfmt_bwalk_next(struct snapfmt_bwalk *w, struct snapfmt_brec *out,
                       char *err, size_t errlen);

/* ---- format 3: the blocks database (format_runs.c) -------------------- */

/*
 * Put block VAL (NVAL bytes) under KEY in write TXN, appended: KEY must
 * sort after every block there (MDB_APPEND). Returns SNAPFMT_OK,
 * SNAPFMT_EMAPFULL, SNAPFMT_EINVAL (out of order, bad key), ELMDB.
 */
int snapfmt_block_put(struct snapfmt_txn *txn, const void *key, size_t nkey,
                      const void *val, size_t nval);

/*
 * The run of the last block in "blocks" of TXN into *RUN (0: none).
 * Returns SNAPFMT_OK, SNAPFMT_ECORRUPT (a key shorter than a block key)
 * or ELMDB.
 */
int snapfmt_blocks_last_run(struct snapfmt_txn *txn, uint64_t *run);

/*
 * Delete every block of runs FIRST .. END - 1 in write TXN; *NDEL (may
 * be NULL) gets how many. Returns SNAPFMT_OK, EMAPFULL, ELMDB.
 */
int snapfmt_blocks_del_runs(struct snapfmt_txn *txn, uint64_t first,
                            uint64_t end, uint64_t *ndel);

struct snapfmt_bcur;

#define SNAPFMT_RUN_ALL UINT64_MAX

/*
 * A cursor over the blocks of run RUN in read or write TXN, from the
 * first block that may hold (HASH, KEY) on -- the first whose key is not
 * below run|HASH|KEY (KEY NULL with NKEY 0: the run's first block at or
 * after HASH). RUN SNAPFMT_RUN_ALL: every block of every run, from the
 * first (HASH and KEY ignored). Ownership: snapfmt_bcur_close() before
 * TXN ends.
 * Returns SNAPFMT_OK, SNAPFMT_ENOMEM, ELMDB.
 */
int snapfmt_bcur_open(struct snapfmt_txn *txn, uint64_t run, uint64_t hash,
                      const void *key, size_t nkey,
                      struct snapfmt_bcur **out, char *err, size_t errlen);

/*
 * The next block of the run: *KEY, *NKEY, *VAL, *NVAL borrowed until TXN
 * ends (read) or writes. Returns SNAPFMT_OK, SNAPFMT_END (the run is
 * over), SNAPFMT_ECORRUPT (sizes LMDB handed out that cannot be: why in
 * snapfmt_txn_error(TXN)) or ELMDB. Blocks are not verified here:
 * snapfmt_block_parse().
 */
int snapfmt_bcur_next(struct snapfmt_bcur *c, const void **key,
                      size_t *nkey, const void **val, size_t *nval);

/* Close the cursor (not its transaction), NULL *CP. No-op on NULL. */
void snapfmt_bcur_close(struct snapfmt_bcur **cp);

/* ---- format 3: the runs merged (format_merge.c) ---------------------- */

struct snapfmt_merge;

/*
 * What a merge reads: the runs FIRST .. END - 1 (meta base_run, run_end)
 * in read TXN, the records whose hash is in LO .. HI (inclusive; 0 and
 * UINT64_MAX: all). Blocks whose raw bytes exceed RAW_CAP (at least
 * SNAPFMT_BLOCK_MAX) are not decoded: a single record is handed over
 * with value NULL (too large for the caller), several are an error.
 */
struct snapfmt_salvage;

struct snapfmt_merge_cfg {
    struct snapfmt_txn *txn;
    uint64_t first;
    uint64_t end;
    uint64_t lo;
    uint64_t hi;
    size_t raw_cap;
    /* NULL: the first damaged block ends the merge. Else (from
     * snapfmt_salvage_scan() over TXN, borrowed): damaged blocks are
     * skipped and every record whose hash it drops is left out. */
    const struct snapfmt_salvage *salvage;
};

/* Counts of what a merge read, for the caller to check against meta. */
struct snapfmt_merge_stats {
    uint64_t blocks;          /* decoded or passed, first record in range */
    uint64_t records;         /* records in range, every run */
    uint64_t superseded;      /* records a newer run replaced */
    uint64_t raw_bytes;       /* raw bytes of the blocks decoded */
    uint64_t skipped_blocks;  /* salvage: damaged blocks skipped */
    uint64_t dropped;         /* salvage: records left out (not in */
                              /* records) */
};

/*
 * Open a merge of CFG's runs: each key in snapshot order, once, as the
 * newest run holding it has it (tombstones included: the caller skips
 * them). Ownership: snapfmt_merge_close() before CFG->txn ends.
 * Thread: TXN's. Returns SNAPFMT_OK, SNAPFMT_ENOMEM, ELMDB.
 */
int snapfmt_merge_open(const struct snapfmt_merge_cfg *cfg,
                       struct snapfmt_merge **out, char *err,
                       size_t errlen);

/*
 * The next key into OUT (pointers valid until the next call) and the run
 * its record came from into *RUN. Each block is verified (parse, decode,
 * every record) before any of its records is handed over. Returns
 * SNAPFMT_OK, SNAPFMT_END, or an error (SNAPFMT_ECORRUPT, EVERSION,
 * ENOMEM, ELMDB) with a message in ERR; after an error the merge is over.
 */
int snapfmt_merge_next(struct snapfmt_merge *m, struct snapfmt_brec *out,
                       uint64_t *run, char *err, size_t errlen);

/* What M read so far into OUT. */
void snapfmt_merge_stats(const struct snapfmt_merge *m,
                         struct snapfmt_merge_stats *out);

/* Close *MP and NULL it. No-op on NULL. */
void snapfmt_merge_close(struct snapfmt_merge **mp);

/* ---- format 3: salvage of a damaged snapshot (format_salvage.c) ------ */

/* Hashes LO .. HI, inclusive. */
struct snapfmt_hrange {
    uint64_t lo;
    uint64_t hi;
};

#define SNAPFMT_SALVAGE_WHY 3     /* damaged blocks described in why[] */

/*
 * What snapfmt_salvage_scan() found. A damaged block may have held newer
 * versions or tombstones of keys that older runs hold, and its own key
 * may be what was damaged: the hash range between the intact blocks
 * around it (in its run; both ends of a run boundary; everything when a
 * whole run may be in the damaged stretch) is dropped in every run, so
 * no record it superseded comes back.
 */
struct snapfmt_salvage {
    char dir[4096];
    uint64_t blocks;              /* blocks walked (= meta blocks) */
    uint64_t bad_blocks;          /* damaged: skipped */
    uint64_t good_records;        /* records of the intact blocks */
    uint64_t bad_records;         /* meta records - good_records */
    struct snapfmt_hrange *drop;  /* sorted, disjoint */
    size_t ndrop;
    size_t capdrop;
    char why[SNAPFMT_SALVAGE_WHY][SNAPFMT_ERR_MAX]; /* the first ones */
    unsigned nwhy;
};

/*
 * Walk every block of read TXN (format 3, meta M) and verify each:
 * parse, decode, every record. Into *OUT (owned: snapfmt_salvage_free())
 * the damaged blocks and the hash ranges a salvage load must drop.
 * Returns SNAPFMT_OK (also with no damage), SNAPFMT_ENOMEM, or
 * SNAPFMT_ECORRUPT / ELMDB when the structure itself cannot be trusted
 * (the cursor fails, intact blocks out of order, a block count other
 * than M's): nothing can be salvaged safely. Blocks: a read pass and a
 * decode of every block. Thread: TXN's.
 */
int snapfmt_salvage_scan(struct snapfmt_txn *txn, const struct snapfmt_meta *m,
                         struct snapfmt_salvage **out, char *err,
                         size_t errlen);

/* Whether S drops records of HASH. Allocates, blocks: never. */
bool snapfmt_salvage_drops(const struct snapfmt_salvage *s, uint64_t hash);

/* Free *SP and NULL it. No-op on NULL. */
void snapfmt_salvage_free(struct snapfmt_salvage **sp);

/* ---- format 3: looking keys up in the runs (format_probe.c) ---------- */

struct snapfmt_probe;

/*
 * Open lookups in the runs FIRST .. END - 1 of read or write TXN (meta
 * base_run, run_end), for keys asked in ascending snapshot order (an
 * incremental writer asks for each changed key whether the snapshot
 * holds it). Memory: one decoded block per run.
 * Ownership: snapfmt_probe_close() before TXN ends. Thread: TXN's.
 * Returns SNAPFMT_OK or SNAPFMT_ENOMEM.
 */
int snapfmt_probe_open(struct snapfmt_txn *txn, uint64_t first, uint64_t end,
                       struct snapfmt_probe **out, char *err, size_t errlen);

/*
 * The record of KEY (NKEY bytes, HASH its snapfmt_key_hash()) in the
 * newest run holding it, into OUT (pointers valid until the next call;
 * a tombstone is handed over as is: the key is absent) and its run into
 * *RUN. A record too large to decode (one record over SNAPFMT_BLOCK_MAX)
 * comes with value NULL and its nvalue. Each block is verified (parse,
 * decode, its records up to KEY) before it is used. Returns SNAPFMT_OK,
 * SNAPFMT_END (no run holds KEY), SNAPFMT_EINVAL (a key not above the
 * previous one), or SNAPFMT_ECORRUPT / ENOMEM / ELMDB with a message.
 */
int snapfmt_probe_find(struct snapfmt_probe *p, uint64_t hash,
                       const void *key, size_t nkey, struct snapfmt_brec *out,
                       uint64_t *run, char *err, size_t errlen);

/* Close *PP and NULL it. No-op on NULL. */
void snapfmt_probe_close(struct snapfmt_probe **pp);

/* ---- the journal: segment files of changes (format_journal.c) -------- */

/*
 * Between two snapshots every change a client was told succeeded is
 * appended to a journal segment file in the snapshot directory,
 * DIR/journal-<segno as 16 hex digits>.ejl, before its reply is sent.
 * A segment is a 64-byte header followed by records, appended and never
 * rewritten; a crash can only leave a torn last record. Segments are
 * deleted once a committed snapshot covers them (meta journal_seq).
 *
 * Segment header (little-endian):
 *   0 "EMBERJNL"  8 version u32  12 created u32 (unix)  16 segno u64
 *   24..55 zero   56 XXH3_64 of bytes 0..55
 *
 * Record (8-byte aligned, little-endian; docs/SNAPSHOT-FORMAT.md):
 *    0 len u32 (whole record, padding included)  4 kind u8  5 nkey u8
 *    6 rflags u8  7 magic 0xE1   8 seq u64   16 cas u64   24 order u64
 *   32 flags u32  36 exptime u32 (FLUSH_AT: when)  40 nvalue u32
 *   44 time u32   48 check u64 = XXH3_64 over bytes 0..47, then key,
 *   then value (each hash seeding the next)   56 key, value, zero pad
 *
 * SEQ orders every change of every kind: replaying the records whose seq
 * is above the snapshot's journal_seq, sorted by seq, onto the snapshot
 * gives back the state the clients were told about.
 */
#define SNAPFMT_JOURNAL_VERSION 1u
#define SNAPFMT_JSEG_HDR 64u
#define SNAPFMT_JREC_HDR 56u
#define SNAPFMT_JREC_MAGIC 0xE1u
#define SNAPFMT_JSEG_PREFIX "journal-"
#define SNAPFMT_JSEG_SUFFIX ".ejl"
/* Present while an emberd serves from DIR: found at start, the last one
 * did not stop cleanly (it holds the pid as text). */
#define SNAPFMT_RUNNING_FILE "emberd.running"
/* The running emberd's control socket (a unix socket, owner only): a new
 * emberd started with --takeover asks it for the listening sockets. */
#define SNAPFMT_CONTROL_FILE "emberd.sock"

enum snapfmt_jkind {
    SNAPFMT_J_LINK = 1,       /* an item: key, value, flags, exptime, CAS */
    SNAPFMT_J_UNLINK = 2,     /* the key was deleted (CAS: of the item) */
    SNAPFMT_J_TOUCH = 3,      /* the item with CAS got EXPTIME */
    SNAPFMT_J_MARK = 4,       /* the item with CAS got the state RFLAGS */
    SNAPFMT_J_FLUSH = 5,      /* items whose CAS order <= CAS are dead */
    SNAPFMT_J_FLUSH_AT = 6,   /* delayed flush_all pending for EXPTIME */
                              /* (0: none), replacing an earlier one */
    SNAPFMT_J_CAS_RESERVE = 7,/* no CAS above CAS may have been handed out */
    SNAPFMT_J_SYNCED = 8,     /* the bytes of this segment before offset */
                              /* CAS were on disk (fdatasync) when this */
                              /* was written; seq 0, not a change */
    SNAPFMT_J_KIND_MAX = 8,
};

/* One journal record; pointers are borrowed (from the caller or the map). */
struct snapfmt_jrec {
    unsigned kind;            /* enum snapfmt_jkind */
    unsigned rflags;          /* LINK, MARK: enum snapfmt_rflag */
    uint64_t seq;
    uint64_t cas;
    uint64_t order;           /* LINK with SNAPFMT_RF_CAS_EXPLICIT */
    uint32_t flags;
    uint32_t exptime;
    uint32_t time;            /* unix seconds when it was recorded */
    const void *key;
    size_t nkey;              /* 1..250 for key kinds, else 0 */
    const void *value;
    uint32_t nvalue;          /* LINK only */
};

/* Bytes a record with NKEY and NVALUE takes (header and padding). */
size_t snapfmt_jrec_size(size_t nkey, size_t nvalue);

/*
 * Write R into OUT (snapfmt_jrec_size() bytes) without its checksum, so
 * that a writer can fill records under a lock and checksum them later.
 * Returns the record's length. Blocks, allocates: never.
 */
size_t snapfmt_jrec_put(const struct snapfmt_jrec *r, void *out);

/* Compute and store the checksum of the record at REC (from _put). */
void snapfmt_jrec_seal(void *rec);

/*
 * Parse and verify the record at BUF (AVAIL bytes available): length,
 * magic, kind, sizes, checksum. Fills OUT (key and value point into BUF)
 * and *LEN. Returns SNAPFMT_OK, SNAPFMT_ECORRUPT (with why in ERR) or
 * SNAPFMT_EVERSION (a valid record of a kind this build does not know).
 */
int snapfmt_jrec_parse(const void *buf, size_t avail, struct snapfmt_jrec *out,
                       size_t *len, char *err, size_t errlen);

/*
 * Fill OUT from the record at REC, which a scan (snapfmt_jseg_scan) or
 * snapfmt_jrec_parse() has verified: no check is repeated. Pointers point
 * into REC.
 */
void snapfmt_jrec_decode(const void *rec, struct snapfmt_jrec *out);

/* Write a segment header for SEGNO into OUT (SNAPFMT_JSEG_HDR bytes). */
void snapfmt_jseg_header(void *out, uint64_t segno, uint32_t created);

/*
 * Check a segment's header: SNAPFMT_OK (*SEGNO set), SNAPFMT_ECORRUPT
 * (not a header, or damaged) or SNAPFMT_EVERSION (a newer journal).
 */
int snapfmt_jseg_check(const void *buf, size_t len, uint64_t *segno,
                       char *err, size_t errlen);

/* What snapfmt_jseg_scan() found in one segment. */
struct snapfmt_jscan {
    uint64_t segno;
    uint64_t records;         /* good records used */
    uint64_t good_bytes;      /* header + good records, up to the cut */
    uint64_t torn_bytes;      /* from the first bad byte on: cut */
    uint64_t dropped;         /* good records after a cut, not used */
    uint64_t synced;          /* highest SYNCED offset found (0: none) */
    uint64_t min_seq;
    uint64_t max_seq;
};

typedef int (*snapfmt_jrec_fn)(void *arg, const struct snapfmt_jrec *r,
                               const void *rec, size_t len);

/*
 * Walk the segment in MAP (LEN bytes, the whole file) and call FN for each
 * good record up to the first bad byte, in file order (REC/LEN: its
 * bytes, borrowed for the map's life). Where a bad record is:
 *  - in bytes a SYNCED record (anywhere in the file) says were on disk:
 *    damage, SNAPFMT_ECORRUPT with NAME and the offset in ERR;
 *  - after them (or with no SYNCED record): a torn tail, the bytes the
 *    process or the machine did not finish writing -- a crash inside a
 *    write(), or, after a power cut, pages the kernel had not written
 *    back, which can leave a hole before later records. The scan cuts
 *    there: torn_bytes from the bad byte on, good records after it are
 *    counted in dropped and not passed to FN.
 * FN returning non-zero stops the scan and is returned. Returns
 * SNAPFMT_OK, SNAPFMT_ECORRUPT, SNAPFMT_EVERSION.
 */
int snapfmt_jseg_scan(const void *map, size_t len, const char *name,
                      snapfmt_jrec_fn fn, void *arg,
                      struct snapfmt_jscan *out, char *err, size_t errlen);

/*
 * snapfmt_jseg_scan() from byte FROM on: the segment was scanned before
 * up to FROM (that scan's good_bytes) and has grown since, as a segment
 * another process is still writing does. FN sees only the records from
 * FROM on. OUT->synced must hold, on entry, the highest SYNCED offset
 * of the bytes before FROM (the earlier scan's synced); every other
 * field of OUT describes the bytes from FROM on. A bad record at the
 * end is a torn tail as above: for a segment being written, the record
 * being written now.
 */
int snapfmt_jseg_scan_from(const void *map, size_t len, size_t from,
                           const char *name, snapfmt_jrec_fn fn, void *arg,
                           struct snapfmt_jscan *out, char *err,
                           size_t errlen);

/*
 * The segment numbers of the journal files in DIR, ascending, in a new
 * array *OUT (free() it) of *N. Other files are ignored. Returns
 * SNAPFMT_OK (also for none), SNAPFMT_ENOMEM or SNAPFMT_ELMDB (cannot
 * read DIR; errno in the message).
 */
int snapfmt_jseg_list(const char *dir, uint64_t **out, size_t *n, char *err,
                      size_t errlen);

/* DIR/journal-<SEGNO>.ejl into DST (CAP bytes). */
void snapfmt_jseg_path(const char *dir, uint64_t segno, char *dst,
                       size_t cap);

/*
 * Map segment PATH read-only: *MAP (NULL for an empty file) and *LEN.
 * Release with snapfmt_jseg_unmap(). SNAPFMT_OK, SNAPFMT_ENOENT,
 * SNAPFMT_ELMDB (open/mmap failed; errno in the message).
 */
int snapfmt_jseg_map(const char *path, const void **map, size_t *len,
                     char *err, size_t errlen);
void snapfmt_jseg_unmap(const void *map, size_t len);

#endif /* EMBER_SNAPFMT_H */
