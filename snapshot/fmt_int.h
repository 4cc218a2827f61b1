/*
 * fmt_int.h -- private to libsnapfmt (snapshot/format*.c only; not part
 * of format.h): the definitions behind format.h's opaque environment and
 * transaction, the one mapping from LMDB's return codes to enum
 * snapfmt_rc, and the error-formatting helpers the files share.
 *
 * Invariant: this header and snapshot/format*.c are the only places of
 * ember that include <lmdb.h> or call mdb_* (tests/check_layering.sh).
 */
#ifndef EMBER_FMT_INT_H
#define EMBER_FMT_INT_H

#include <lmdb.h>
#include <zstd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#include "snapshot/format.h"

#define LMDB_KEY_MAX 511      /* mdb_env_get_maxkeysize(), default build */

/* An open environment (format.h). Fields are set by snapfmt_env_open()
 * and read-only afterwards. */
struct snapfmt_env {
    MDB_env *env;
    MDB_dbi items;
    MDB_dbi meta;
    MDB_dbi dicts;
    MDB_dbi blocks;           /* when has_blocks (format 3) */
    bool has_blocks;          /* set by open, or by the commit of the */
                              /* write transaction that created it */
    bool rdonly;
    char dir[4096];
};

/* A transaction (format.h): LMDB's, the environment it belongs to, an
 * items cursor for snapfmt_update() (opened on first use, closed with
 * the transaction) and the message of its last failed operation. */
struct snapfmt_txn {
    struct snapfmt_env *env;  /* borrowed */
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_dbi blocks;           /* "blocks" as this transaction sees it */
    bool has_blocks;          /* ... opened or created in it */
    bool rdonly;
    uint64_t wops;            /* writes in it (puts, deletes) */
    uint64_t wbytes;          /* ... and the key + value bytes put */
    uint64_t used;            /* read: bytes of data.mdb in use when it */
                              /* began (no value it sees is larger); */
                              /* write: 0, not checked */
    char err[SNAPFMT_ERR_MAX];
};

/*
 * Format a message into ERR (when not NULL and ERRLEN > 0) and return RC,
 * so an error path is one statement: `return snapfmt_fail(rc, err, ...)`.
 * It is util_errf() (util/util.h) under the name libsnapfmt's files use.
 */
#define snapfmt_fail util_errf

/* Count a write of N key + value bytes in T (the commit sizes the file
 * it runs over by them: format_txn.c). */
static inline void
fmt_txn_wrote(struct snapfmt_txn *t, size_t n)
{
    t->wops++;
    t->wbytes += n;
}

/* Big-endian u64: format 3's block keys, which LMDB sorts byte-wise. */
static inline void
fmt_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static inline uint64_t
fmt_get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Little-endian fields of the on-disk formats. */
static inline void
fmt_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void
fmt_put64(unsigned char *p, uint64_t v)
{
    fmt_put32(p, (uint32_t)v);
    fmt_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
fmt_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t
fmt_get64(const unsigned char *p)
{
    return (uint64_t)fmt_get32(p) | (uint64_t)fmt_get32(p + 4) << 32;
}

/*
 * The one mapping from an LMDB return code (MDB_* or an errno value) to
 * enum snapfmt_rc: MDB_SUCCESS -> OK, MDB_NOTFOUND -> END, MDB_MAP_FULL ->
 * EMAPFULL, damage (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID,
 * MDB_INCOMPATIBLE, MDB_PAGE_FULL) -> ECORRUPT, MDB_VERSION_MISMATCH ->
 * EVERSION, ENOMEM -> ENOMEM, MDB_BAD_VALSIZE / MDB_KEYEXIST (a caller's
 * bad key or an APPEND out of order) -> EINVAL, anything else (ENOSPC,
 * EIO, EACCES, MDB_READERS_FULL, ...) -> ELMDB.
 */
int snapfmt_lmdb_rc(int mrc);

/*
 * snapfmt_fail(snapfmt_lmdb_rc(MRC), ...) with what LMDB said appended:
 * "<FMT...>: <mdb_strerror(MRC)>", so ENOSPC ("No space left on
 * device"), EIO and MDB_MAP_FULL stay distinguishable in the message.
 */
int snapfmt_lmdb_fail(int mrc, char *err, size_t errlen, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/*
 * Record a failed LMDB call of an operation in T's message (T->err) and
 * return its snapfmt rc; MDB_SUCCESS returns SNAPFMT_OK and records
 * nothing. For the transaction's own operations (format_txn.c).
 */
int snapfmt_txn_fail(struct snapfmt_txn *t, int mrc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Set up a new LMDB environment of directory DIR (borrowed: it must
 * outlive ENV) before mdb_env_open(): LMDB's assertion failures go to
 * the handler of snapfmt_set_assert_handler(), naming DIR.
 */
void fmt_env_hooks(MDB_env *env, const char *dir);

/*
 * Check a key and value read in read transaction T from database WHAT
 * ("items", "dicts", ...) before anyone reads their bytes: LMDB hands out
 * the sizes its nodes hold without checking them, and a damaged size
 * would send a reader past the page, or past the end of the map (SIGBUS,
 * SIGSEGV). The key (K may be NULL) must be 1..LMDB_KEY_MAX bytes, the
 * value no larger than the bytes of the file in use. Returns SNAPFMT_OK
 * or SNAPFMT_ECORRUPT with a message in T's error (snapfmt_txn_error()).
 * A write transaction is not checked (its values may be in dirty pages).
 */
int fmt_val_check(struct snapfmt_txn *t, const char *what, const MDB_val *k,
                  const MDB_val *d);

/*
 * The "blocks" database in T: *DBI and SNAPFMT_OK; SNAPFMT_END when it
 * does not exist (an environment of format 1 or 2) and CREATE is false
 * (or T is read-only); with CREATE in a write transaction it is created
 * (the environment adopts it when T commits). Else an LMDB error, with a
 * message in T's error.
 */
int fmt_blocks_dbi(struct snapfmt_txn *t, bool create, MDB_dbi *dbi);

/*
 * A codec's zstd contexts, for the block codec (format_block.c): the
 * compression context (NULL at level 0) with the codec's parameters,
 * the decompression context, and whether a dictionary is set (blocks
 * are compressed without one).
 */
ZSTD_CCtx *fmt_codec_cctx(struct snapfmt_codec *c);
ZSTD_DCtx *fmt_codec_dctx(struct snapfmt_codec *c);
bool fmt_codec_has_dict(const struct snapfmt_codec *c);

/*
 * Whether PAYLOAD[0..N) is one zstd frame, all of the payload, whose
 * stated content size is RAW bytes (a frame that states none passes
 * unless REQUIRE_SIZE) -- checked before a reader allocates RAW bytes for
 * it; reads frame and block headers only. 0, or -1 with the reason in
 * WHY. Thread: any.
 */
int fmt_zstd_frame_check(const void *payload, size_t n, uint32_t raw,
                         bool require_size, char *why, size_t whylen);

#endif /* EMBER_FMT_INT_H */
