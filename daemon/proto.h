/*
 * proto.h -- memcached protocol parsers: bytes in, one request out.
 *
 * Layer: daemon-private. The parsers are pure functions over a byte
 * buffer: no I/O, no allocation, no storage, no libevent, no connection.
 * They can be fed any split of any input (fuzzable). exec.c is the only
 * file that turns a request into store calls and reply bytes.
 *
 * Invariants
 *  - Every pointer in a struct request points into the caller's buffer and
 *    is borrowed until the caller discards or moves those bytes.
 *  - On PROTO_OK, *consumed is the whole request (line and, for storage
 *    commands, the data block with its "\r\n").
 *  - On PROTO_NEED_MORE nothing is consumed; req->need, when non-zero, is
 *    the total number of bytes the request will occupy (so the caller can
 *    size its buffer once), else the line is not complete yet.
 *  - On PROTO_EINVALID, req->err says which reply memcached gives, and
 *    *consumed bytes must be dropped, then req->swallow more bytes that
 *    have not arrived yet (a data block that is refused unread).
 *    req->cmd is the command when it was recognised (else PROTO_CMD_NONE)
 *    and req->noreply is set when memcached would stay silent: it does so
 *    for every CLIENT_ERROR/SERVER_ERROR of a command whose last token is
 *    "noreply", never for "ERROR" or the closing errors.
 *  - The outcome never depends on how the bytes were split: a prefix of
 *    a request gives PROTO_NEED_MORE or the same error as the whole.
 *
 * Line rules (memcached 1.6.18 compatible, checked against the binary):
 *  - A command line ends at "\n"; one "\r" before it is dropped. Tokens
 *    are separated by one or more spaces (only 0x20).
 *  - The line without its terminator may hold at most line_max bytes, or
 *    get_line_max for get/gets/gat/gats (and memcached's alias bget);
 *    longer, with or without its "\n": PROTO_ERR_LINE_TOO_LONG.
 *  - Keys are 1..250 bytes without control characters (< 0x20, 0x7f).
 *  - Numbers are decimal with an optional sign and, like strtoul, may
 *    carry leading and trailing whitespace inside their token.
 */
#ifndef EMBER_PROTO_H
#define EMBER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum proto_rc {
    PROTO_OK = 0,
    PROTO_NEED_MORE = 1,
    PROTO_EINVALID = -1,
};

enum proto_cmd {
    PROTO_CMD_NONE = 0,
    PROTO_CMD_GET,
    PROTO_CMD_GETS,
    PROTO_CMD_GAT,
    PROTO_CMD_GATS,
    PROTO_CMD_SET,
    PROTO_CMD_ADD,
    PROTO_CMD_REPLACE,
    PROTO_CMD_APPEND,
    PROTO_CMD_PREPEND,
    PROTO_CMD_CAS,
    PROTO_CMD_INCR,
    PROTO_CMD_DECR,
    PROTO_CMD_DELETE,
    PROTO_CMD_TOUCH,
    PROTO_CMD_FLUSH_ALL,
    PROTO_CMD_VERSION,
    PROTO_CMD_VERBOSITY,
    PROTO_CMD_STATS,
    PROTO_CMD_QUIT,
    PROTO_CMD_SHUTDOWN,
    PROTO_CMD_SNAPSHOT,
    /* a memcached operator command ember does not implement (lru_crawler,
     * slabs, watch, ...): req->arg names it */
    PROTO_CMD_UNSUPPORTED,
};

/* What a PROTO_EINVALID request must be answered with. */
enum proto_err {
    PROTO_ERR_NONE = 0,
    PROTO_ERR_UNKNOWN,      /* "ERROR" */
    PROTO_ERR_FORMAT,       /* "CLIENT_ERROR bad command line format" */
    PROTO_ERR_BAD_CHUNK,    /* "CLIENT_ERROR bad data chunk" */
    PROTO_ERR_TOO_LARGE,    /* "SERVER_ERROR object too large for cache";
                             * req->key is set: its old value is removed.
                             * (memcached queues the reply until the block
                             * is swallowed; clients cannot tell.) */
    PROTO_ERR_LINE_TOO_LONG,/* close the connection (memcached: silently) */
    PROTO_ERR_HTTP,         /* close the connection without a reply */
    PROTO_ERR_BINARY,       /* binary protocol: refuse and close */
    PROTO_ERR_DELTA,        /* "CLIENT_ERROR invalid numeric delta argument" */
    PROTO_ERR_EXPTIME,      /* "CLIENT_ERROR invalid exptime argument"
                             * (touch, gat, gats, flush_all; with -F,
                             * flush_all answers its refusal first) */
    PROTO_ERR_DELETE_USAGE, /* "CLIENT_ERROR bad command line format.  "
                             * "Usage: delete <key> [noreply]" (2 spaces) */
    PROTO_ERR_SHUTDOWN_MODE,/* "CLIENT_ERROR invalid shutdown mode"; without
                             * -A, "ERROR: shutdown not enabled" instead */
};

/* Limits the parser enforces; set once from the settings. */
struct proto_limits {
    size_t item_size_max;   /* value bytes above this: PROTO_ERR_TOO_LARGE */
    size_t line_max;        /* 2048: a longer command line is refused */
    size_t get_line_max;    /* get/gets/gat/gats lines may run this long */
};

struct request {
    enum proto_cmd cmd;
    enum proto_err err;         /* with PROTO_EINVALID */
    bool noreply;

    const char *key;            /* single-key commands; also TOO_LARGE */
    size_t nkey;
    /* get/gets/gat/gats (and bget, parsed as get): the space-separated
     * key list, already checked (each key 1..250 bytes, no control
     * characters), trimmed; walk it with proto_next_key(). Never empty for
     * get/gets; may be empty for gat/gats (memcached answers "END"). */
    const char *keys;
    size_t keys_len;

    uint32_t flags;             /* > UINT32_MAX is PROTO_ERR_FORMAT */
    int64_t exptime;            /* as sent (not truncated to 32 bits as
                                 * memcached does); also gat/touch */
    uint32_t vlen;              /* value bytes, without "\r\n";
                                 * > INT32_MAX - 2 is PROTO_ERR_FORMAT */
    const char *value;          /* vlen bytes, followed by "\r\n" */
    uint64_t cas;               /* cas command */
    uint64_t delta;             /* incr/decr */
    int64_t num;                /* flush_all delay, verbosity level */
    bool has_num;

    bool graceful;              /* "shutdown graceful" */

    /* stats: everything after "stats", spaces trimmed at both ends (walk
     * it with proto_next_key()); unsupported: the command name */
    const char *arg;
    size_t narg;

    /* PROTO_ERR_TOO_LARGE: *consumed covers the line and the part of the
     * data block already in the buffer; swallow is the rest, so consumed
     * + swallow == line + vlen + 2 whatever the split. 0 otherwise. */
    size_t swallow;
    size_t need;                /* PROTO_NEED_MORE: total bytes, if known */
};

/*
 * Parse one text-protocol request from BUF[0..LEN).
 * Returns PROTO_OK (request in *REQ, *CONSUMED bytes used),
 * PROTO_NEED_MORE (nothing consumed) or PROTO_EINVALID (see invariants).
 * After LINE_TOO_LONG, HTTP or BINARY the connection is to be closed and
 * *CONSUMED means nothing. Reads no byte outside BUF[0..LEN), whatever
 * they hold; the scan for the end of a line stops at its limit.
 * Ownership: LIM and BUF are borrowed for the call; REQ's pointers borrow
 * from BUF (see invariants). Thread: any; reentrant. Blocks: never.
 * Allocates: never.
 */
int proto_text_parse(const struct proto_limits *lim, const char *buf,
                     size_t len, struct request *req, size_t *consumed);

/*
 * The reply line (without "\r\n") memcached sends for ERR, or NULL when
 * the connection is closed instead (LINE_TOO_LONG, HTTP, BINARY) or ERR is
 * PROTO_ERR_NONE. The string is static.
 * Thread: any. Blocks: never.
 */
const char *proto_err_reply(enum proto_err err);

/*
 * Step through a key list: on entry *pos .. end is what is left; returns
 * true with KEY/NKEY set to the next space-separated token (advancing
 * *POS past it), false at the end. KEY borrows from the list's buffer.
 * Thread: any; reentrant. Blocks: never.
 */
bool proto_next_key(const char **pos, const char *end, const char **key,
                    size_t *nkey);

#endif /* EMBER_PROTO_H */
