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
                             * req->key is set: its old value is removed */
    PROTO_ERR_LINE_TOO_LONG,/* close the connection */
    PROTO_ERR_HTTP,         /* close the connection without a reply */
    PROTO_ERR_BINARY,       /* binary protocol: refuse and close */
};

/* Limits the parser enforces; set once from the settings. */
struct proto_limits {
    size_t item_size_max;   /* value bytes above this: PROTO_ERR_TOO_LARGE */
    size_t line_max;        /* 2048: longer line without "\n" is refused */
    size_t get_line_max;    /* get/gets/gat/gats key lists may run this long */
};

struct request {
    enum proto_cmd cmd;
    enum proto_err err;         /* with PROTO_EINVALID */
    bool noreply;

    const char *key;            /* single-key commands; also TOO_LARGE */
    size_t nkey;
    /* get/gets/gat/gats: the space-separated key list, already checked
     * (each key 1..250 bytes, no control characters); walk it with
     * proto_next_key(). */
    const char *keys;
    size_t keys_len;

    uint32_t flags;
    int64_t exptime;            /* as sent; also gat/touch */
    uint32_t vlen;              /* value bytes, without "\r\n" */
    const char *value;          /* vlen bytes, followed by "\r\n" */
    uint64_t cas;               /* cas command */
    uint64_t delta;             /* incr/decr */
    int64_t num;                /* flush_all delay, verbosity level */
    bool has_num;

    const char *arg;            /* stats argument(s) / unsupported name */
    size_t narg;

    size_t swallow;             /* PROTO_EINVALID: bytes still to drop */
    size_t need;                /* PROTO_NEED_MORE: total bytes, if known */
};

/*
 * Parse one text-protocol request from BUF[0..LEN).
 * Returns PROTO_OK (request in *REQ, *CONSUMED bytes used),
 * PROTO_NEED_MORE (nothing consumed) or PROTO_EINVALID (see invariants).
 * Thread: any; reentrant. Blocks: never. Allocates: never.
 */
int proto_text_parse(const struct proto_limits *lim, const char *buf,
                     size_t len, struct request *req, size_t *consumed);

/*
 * Step through a key list: on entry *pos .. end is what is left; returns
 * true with KEY/NKEY set to the next key, false at the end.
 */
bool proto_next_key(const char **pos, const char *end, const char **key,
                    size_t *nkey);

#endif /* EMBER_PROTO_H */
