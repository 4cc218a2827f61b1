/*
 * compose.h -- reply bytes: every byte emberd sends a client is built here.
 *
 * Layer: daemon-private; daemon/reply.h (the output buffer), daemon/proto.h
 * (enum proto_err), storage/store.h (items whose values are sent). As
 * Pelikan's compose layer: the executor (exec.c, exec_meta.c) and stats.c
 * decide what to answer and call compose_*; this module turns that into
 * memcached's bytes; conn.c only moves them. Nothing else writes protocol
 * text.
 *
 *   exec.c / exec_meta.c / stats.c --result--> compose_* --bytes--> reply
 *                                                                    |
 *   conn.c <------------------------------------ writev() -----------'
 *
 * Invariants
 *  - Bytes are memcached 1.6.18's (tests/check_compose.c pins them; the
 *    integration tests compare whole sessions with the real daemon).
 *  - There is no intermediate fixed buffer: each call reserves room in
 *    the reply's own (growable) text buffer for the longest text it can
 *    write, writes there and commits what it wrote. A single call appends
 *    its text whole or not at all.
 *  - When the reply cannot grow (allocation failure) it is marked
 *    (r->oom), this and every later append are refused, and the
 *    connection is closed with a log line (conn.c) rather than sent a
 *    shortened reply. A meta line is built by several calls; if one of
 *    them fails the line is incomplete, but then the reply is never sent.
 *  - get/set and the meta line are composed without snprintf and without
 *    allocation beyond the reply's recycled buffers.
 *
 * Thread: a reply belongs to one worker; compose keeps no state.
 * Blocks: never. Allocates: only when the reply's buffers grow.
 */
#ifndef EMBER_COMPOSE_H
#define EMBER_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/proto.h"

struct item;
struct reply;

/* The fixed lines (each sent with "\r\n"). */
enum compose_line {
    COMPOSE_END = 0,            /* "END" */
    COMPOSE_STORED,             /* "STORED" */
    COMPOSE_NOT_STORED,         /* "NOT_STORED" */
    COMPOSE_EXISTS,             /* "EXISTS" */
    COMPOSE_NOT_FOUND,          /* "NOT_FOUND" */
    COMPOSE_DELETED,            /* "DELETED" */
    COMPOSE_TOUCHED,            /* "TOUCHED" */
    COMPOSE_OK,                 /* "OK" */
    COMPOSE_RESET,              /* "RESET" (stats reset) */
    COMPOSE_ERROR,              /* "ERROR" */
    COMPOSE_VERSION,            /* "VERSION 1.6.18-ember-<version>" */
    COMPOSE_MN,                 /* "MN" */
    COMPOSE_EN,                 /* "EN" */
    COMPOSE_SHUTDOWN_DISABLED,  /* "ERROR: shutdown not enabled" */
    COMPOSE_FORMAT,             /* "CLIENT_ERROR bad command line format" */
    COMPOSE_BAD_CHUNK,          /* "CLIENT_ERROR bad data chunk" */
    COMPOSE_NON_NUMERIC,        /* "CLIENT_ERROR cannot increment or
                                 * decrement non-numeric value" */
    COMPOSE_DELTA,              /* "...invalid numeric delta argument" */
    COMPOSE_EXPTIME,            /* "...invalid exptime argument" */
    COMPOSE_DELETE_USAGE,       /* "...bad command line format.  Usage:
                                 * delete <key> [noreply]" */
    COMPOSE_SHUTDOWN_MODE,      /* "...invalid shutdown mode" */
    COMPOSE_FLUSH_DISABLED,     /* "CLIENT_ERROR flush_all not allowed" */
    COMPOSE_META_FLAG,          /* "CLIENT_ERROR invalid flag" */
    COMPOSE_META_DUP,           /* "CLIENT_ERROR duplicate flag" */
    COMPOSE_META_FLAG_OR_DUP,   /* "CLIENT_ERROR invalid or duplicate flag" */
    COMPOSE_META_TOKEN,         /* "...bad token in command line format" */
    COMPOSE_META_DELTA,         /* "...invalid numeric delta value" */
    COMPOSE_META_INITIAL,       /* "...invalid numeric initial value" */
    COMPOSE_META_OPAQUE,        /* "CLIENT_ERROR opaque token too long" */
    COMPOSE_META_MG_TOO_MANY,   /* "...options flags are too long" */
    COMPOSE_META_TOO_MANY,      /* "...options flags too long" */
    COMPOSE_META_M_LEN,         /* "...incorrect length for M token" */
    COMPOSE_META_MS_MODE,       /* "...invalid mode for ms M token" */
    COMPOSE_META_MA_MODE,       /* "...invalid mode for ma M token" */
    COMPOSE_META_KEY,           /* "CLIENT_ERROR error decoding key" */
    COMPOSE_TOO_LARGE,          /* "SERVER_ERROR object too large for
                                 * cache" */
    COMPOSE_STORE_NO_MEMORY,    /* "SERVER_ERROR out of memory storing
                                 * object" */
    COMPOSE_NO_MEMORY,          /* "SERVER_ERROR out of memory" */
    COMPOSE_SNAPSHOT_DISABLED,  /* "SERVER_ERROR snapshots are not enabled
                                 * (start emberd with --snapshot-dir)" */
    COMPOSE_BADCLASS,           /* "BADCLASS invalid class id" */
    COMPOSE_NOTSTARTED,         /* "NOTSTARTED no items to crawl" */
    COMPOSE_METADUMP_DISABLED,  /* "ERROR metadump not allowed" (-X) */
    COMPOSE_CACHEDUMP_DISABLED, /* "CLIENT_ERROR stats cachedump not
                                 * allowed" (-X) */
    COMPOSE_BAD_LINE,           /* "CLIENT_ERROR bad command line" */
    COMPOSE_ILLEGAL_SLAB,       /* "CLIENT_ERROR Illegal slab id" */
    COMPOSE_LINE_COUNT
};

/*
 * The memcached version clients see first in `version` and `stats`
 * ("1.6.18-ember-<ember's version>"), so that those that parse
 * major.minor.micro treat ember as memcached 1.6.18.
 */
#define COMPOSE_PROTO_VERSION "1.6.18"

/* ---- lines ---------------------------------------------------------- */

/* Append LINE and "\r\n". LINE must be a valid enum compose_line. */
void compose_line(struct reply *r, enum compose_line line);

/*
 * Append the line memcached answers the parser's error ERR with.
 * Returns false, appending nothing, for the errors that close the
 * connection instead (LINE_TOO_LONG, HTTP, BINARY) and PROTO_ERR_NONE.
 */
bool compose_proto_err(struct reply *r, enum proto_err err);

/*
 * "SERVER_ERROR <what><detail>\r\n"; DETAIL may be NULL. Both are
 * NUL-terminated and borrowed for the call.
 */
void compose_server_error(struct reply *r, const char *what,
                          const char *detail);

/*
 * "SERVER_ERROR <prefix><name> not supported by ember\r\n" for an
 * operator command ember does not implement; NAME[0..NNAME) is
 * borrowed (the request's bytes), PREFIX is "" or e.g. "stats ".
 */
void compose_unsupported(struct reply *r, const char *prefix,
                         const char *name, size_t nname);

/*
 * The answer to `snapshot` once it is over: "OK" when ERR is NULL, else
 * "SERVER_ERROR <err>" ("snapshot failed" when ERR is empty).
 */
void compose_snapshot_done(struct reply *r, const char *err);

/* `snapshot` could not even start: SERVER_ERROR with strerror(SYS_ERR). */
void compose_snapshot_refused(struct reply *r, int sys_err);

/*
 * The binary protocol's refusal: one binary response (magic 0x81, the
 * request's opcode and opaque from BUF[0..LEN), status 0x0081 "unknown
 * command", body "binary protocol not supported").
 */
void compose_binary_refusal(struct reply *r, const char *buf, size_t len);

/* ---- values ---------------------------------------------------------- */

/*
 * "VALUE <key> <flags> <bytes>[ <cas>]\r\n" then IT's value and "\r\n".
 * Takes over the caller's reference to IT (dropped once written, or at
 * once when the reply cannot grow). CAS is printed when WITH_CAS.
 */
void compose_value(struct reply *r, struct item *it, bool with_cas,
                   uint64_t cas);

/* IT's value and "\r\n" (after a meta VA line); takes the reference. */
void compose_item(struct reply *r, struct item *it);

/* "<v>\r\n": incr/decr's answer, ma's value. */
void compose_number(struct reply *r, uint64_t v);

/* Decimal digits of V (what compose_number() prints before "\r\n"). */
size_t compose_u64_len(uint64_t v);

/* ---- meta lines ------------------------------------------------------ */
/*
 * A meta reply line: one begin call, return flags in the order the
 * client sent them, then compose_meta_end(). E.g.
 *   compose_meta_va(r, 2); compose_meta_u64(r, 'c', 9);
 *   compose_meta_end(r); compose_item(r, it);
 * gives "VA 2 c9\r\n" and the value.
 */

/* Begin with a two-letter CODE: "HD", "EN", "NF", "EX", "NS". */
void compose_meta_begin(struct reply *r, const char *code);

/* Begin a value line: "VA <size>". */
void compose_meta_va(struct reply *r, uint64_t size);

/* " <flag><v>", decimal. */
void compose_meta_u64(struct reply *r, char flag, uint64_t v);
void compose_meta_i64(struct reply *r, char flag, int64_t v);

/* " <flag><text>": the opaque O echoes the client's bytes. */
void compose_meta_text(struct reply *r, char flag, const char *p,
                       size_t n);

/* " <flag>" alone: W, X, Z. */
void compose_meta_flag(struct reply *r, char flag);

/*
 * " k<key>", or " k<base64 of key> b" when BINARY (the key as the client
 * wrote it with b). NKEY <= STORE_KEY_MAX.
 */
void compose_meta_key(struct reply *r, const char *key, size_t nkey,
                      bool binary);

/* End the line: "\r\n". */
void compose_meta_end(struct reply *r);

/* What `me` and `lru_crawler metadump` show of an item. */
struct compose_me {
    const char *key;            /* borrowed; base64-encoded when binary */
    size_t nkey;                /* <= STORE_KEY_MAX */
    bool binary;
    int64_t exp;                /* seconds left, -1 for never */
    uint64_t la;                /* seconds since last access */
    uint64_t cas;
    bool fetched;
    unsigned cls;               /* size class */
    uint64_t size;              /* bytes the item takes */
};

/* "ME <key> exp=.. la=.. cas=.. fetch=yes|no cls=.. size=..\r\n". */
void compose_me(struct reply *r, const struct compose_me *me);

/* ---- key listings ---------------------------------------------------- */

/*
 * One line of `lru_crawler metadump`, memcached 1.6.18's format:
 * "key=<key> exp=<exp> la=<la> cas=<cas> fetch=yes|no cls=<cls>
 * size=<size>\n" (LF alone, as memcached). The key is URI-encoded (bytes
 * other than A-Z a-z 0-9 - . _ ~ as %XX), whatever D->binary; EXP and LA
 * are as the caller gives them (metadump: unix times, EXP -1 for never).
 */
void compose_metadump(struct reply *r, const struct compose_me *d);

/*
 * One line of `stats cachedump`: "ITEM <key> [<nbytes> b; <exp> s]\r\n",
 * the key as it is (NKEY <= STORE_KEY_MAX), EXP a unix time or 0 (never),
 * as memcached 1.6.18. compose_cachedump_len() is its length, so that a
 * caller can stop before a bound.
 */
size_t compose_cachedump_len(size_t nkey, uint64_t nbytes, uint64_t exp);
void compose_cachedump(struct reply *r, const char *key, size_t nkey,
                       uint64_t nbytes, uint64_t exp);

/* ---- stats ----------------------------------------------------------- */

/* "STAT <name> <value>\r\n"; NAME and VALUE NUL-terminated, borrowed. */
void compose_stat(struct reply *r, const char *name, const char *value);
void compose_stat_u64(struct reply *r, const char *name, uint64_t v);

/*
 * "STAT <prefix><id>:<name> <v>\r\n": per class (prefix "items:" or "")
 * and per connection (prefix "", id the fd).
 */
void compose_stat_id_u64(struct reply *r, const char *prefix,
                         unsigned long id, const char *name, uint64_t v);
void compose_stat_id(struct reply *r, const char *prefix, unsigned long id,
                     const char *name, const char *value);

/* "STAT <name> <v>" with V printed with DECIMALS digits (0..9). */
void compose_stat_double(struct reply *r, const char *name, double v,
                         int decimals);

/* "STAT <name> <sec>.<usec, 6 digits>" (rusage). */
void compose_stat_timeval(struct reply *r, const char *name, long sec,
                          long usec);

#endif /* EMBER_COMPOSE_H */
