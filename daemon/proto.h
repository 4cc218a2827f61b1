/*
 * proto.h -- memcached protocol parsers: bytes in, one request out.
 *
 * Layer: daemon-private. The parsers are pure functions over a byte
 * buffer: no I/O, no allocation, no storage, no libevent, no connection.
 * They can be fed any split of any input (fuzzable). exec.c is the only
 * file that turns a request into store calls; compose.c writes the reply
 * bytes.
 *
 * Invariants
 *  - Every pointer in a struct request points into the caller's buffer and
 *    is borrowed until the caller discards or moves those bytes.
 *  - On PROTO_OK, *consumed is the whole request (line and, for storage
 *    commands, the data block with its "\r\n").
 *  - On PROTO_NEED_MORE nothing is consumed; req->need, when non-zero, is
 *    the total number of bytes the request will occupy (so the caller can
 *    size its buffer once), else the line is not complete yet.
 *  - On PROTO_EINVALID, req->err says which reply memcached gives (the
 *    bytes are compose.c's: compose_proto_err()), and
 *    *consumed bytes must be dropped, then req->swallow more bytes that
 *    have not arrived yet (a data block that is refused unread).
 *    req->cmd is the command when it was recognised (else PROTO_CMD_NONE)
 *    and req->noreply is set when memcached would stay silent: it does so
 *    for every CLIENT_ERROR/SERVER_ERROR of a command whose last token is
 *    "noreply", never for "ERROR" or the closing errors.
 *  - The outcome never depends on how the bytes were split: a prefix of
 *    a request gives PROTO_NEED_MORE or the same error as the whole.
 *    (One exception, with get_piece_min: a get line longer than that
 *    which arrives in pieces; see struct proto_more.)
 *
 * Line rules (memcached 1.6.18 compatible, checked against the binary):
 *  - A command line ends at "\n"; one "\r" before it is dropped. Tokens
 *    are separated by one or more spaces (only 0x20).
 *  - A line whose "\n" has not arrived is refused (PROTO_ERR_LINE_TOO_LONG)
 *    once more than line_max bytes of it are buffered, unless it is a
 *    get/gets/gat/gats (or memcached's alias bget) line, which may run to
 *    get_line_max (handed out in pieces from get_piece_min bytes, if
 *    set). A line whose "\n" is already buffered may hold up to
 *    line_whole_max bytes (memcached answers a long line that arrived in
 *    one read); longer: PROTO_ERR_LINE_TOO_LONG. So, as with memcached,
 *    a long line's fate may depend on how its bytes arrived.
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
    /* lru_crawler metadump <classes|all|hash>: req->arg is the class
     * list (proto_dump_classes() reads it) */
    PROTO_CMD_METADUMP,
    /* a memcached operator command ember does not implement (lru_crawler,
     * slabs, watch, ...): req->arg names it */
    PROTO_CMD_UNSUPPORTED,
    /* the meta protocol (proto_meta.c): req->meta holds the flags */
    PROTO_CMD_MG,
    PROTO_CMD_MS,
    PROTO_CMD_MD,
    PROTO_CMD_MA,
    PROTO_CMD_MN,
    PROTO_CMD_ME,
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
    /* meta commands; md and ma answer every flag error with
     * PROTO_ERR_META_FLAG_OR_DUP, as memcached 1.6.18 does */
    PROTO_ERR_META_FLAG,    /* "CLIENT_ERROR invalid flag" */
    PROTO_ERR_META_DUP,     /* "CLIENT_ERROR duplicate flag" */
    PROTO_ERR_META_FLAG_OR_DUP, /* "CLIENT_ERROR invalid or duplicate flag" */
    PROTO_ERR_META_TOKEN,   /* "CLIENT_ERROR bad token in command line
                             * format" (C E N R T) */
    PROTO_ERR_META_DELTA,   /* "CLIENT_ERROR invalid numeric delta value" */
    PROTO_ERR_META_INITIAL, /* "CLIENT_ERROR invalid numeric initial value" */
    PROTO_ERR_META_OPAQUE,  /* "CLIENT_ERROR opaque token too long" */
    PROTO_ERR_META_MG_TOO_MANY, /* mg: "CLIENT_ERROR options flags are too
                                 * long" (more than 17 flags) */
    PROTO_ERR_META_TOO_MANY,/* others: "CLIENT_ERROR options flags too long" */
    PROTO_ERR_META_M_LEN,   /* "CLIENT_ERROR incorrect length for M token" */
    PROTO_ERR_META_MS_MODE, /* "CLIENT_ERROR invalid mode for ms M token" */
    PROTO_ERR_META_MA_MODE, /* "CLIENT_ERROR invalid mode for ma M token" */
    PROTO_ERR_META_KEY,     /* "CLIENT_ERROR error decoding key" (b) */
    PROTO_ERR_BADCLASS,     /* metadump: "BADCLASS invalid class id" */
    PROTO_ERR_NOTSTARTED,   /* metadump of no class ("," alone):
                             * "NOTSTARTED no items to crawl" */
};

/* Limits the parser enforces; set once from the settings. */
struct proto_limits {
    size_t item_size_max;   /* value bytes above this: PROTO_ERR_TOO_LARGE */
    size_t line_max;        /* 2048: a longer unfinished line is refused */
    size_t line_whole_max;  /* a line already complete may run this long
                             * (one read's worth, 16 KiB); <= line_max:
                             * line_max applies to complete lines too */
    size_t get_line_max;    /* get/gets/gat/gats lines may run this long */
    size_t get_piece_min;   /* an unfinished get-family line is handed
                             * out in pieces once this many bytes of it
                             * are buffered (at least line_max + 2);
                             * 0: never, the line is awaited whole */
};

/*
 * Meta flags as a bit set: PROTO_MF('v') is the bit of flag v. Letters
 * only (a-z then A-Z); any other byte maps to 0.
 */
static inline uint64_t
proto_mf(char c)
{
    if (c >= 'a' && c <= 'z') {
        return (uint64_t)1 << (c - 'a');
    }
    if (c >= 'A' && c <= 'Z') {
        return (uint64_t)1 << (26 + (c - 'A'));
    }
    return 0;
}
#define PROTO_MF(c) proto_mf(c)

/* Longest opaque (O) token memcached accepts. */
#define PROTO_META_OPAQUE_MAX 31

/*
 * The meta part of a request (mg ms md ma me). Every flag token has been
 * checked: exec only acts on it. Flags a command does not use (memcached
 * accepts and ignores them) are in `flags` too. Absent token flags leave
 * their field 0, except delta (1) and mode ('S' for ms, 'I' for ma).
 */
struct proto_meta {
    uint64_t flags;             /* PROTO_MF(letter) of each flag sent */
    /* the flag tokens in request order (space separated, trimmed), to
     * echo return flags in that order: walk with proto_next_key() */
    const char *tokens;
    size_t tokens_len;
    /* b: req->key is base64 text, checked but NOT decoded (the parser
     * does not allocate): exec decodes it into its own buffer */
    bool key_is_b64;
    const char *opaque;         /* O: borrowed, 0..31 bytes (ma: any
                                 * length; exec refuses > 31 after
                                 * the arithmetic, as 1.6.18) */
    size_t nopaque;
    int64_t ttl;                /* T */
    int64_t vivify;             /* N: TTL of the vivified item */
    int64_t recache;            /* R: win when remaining TTL is below */
    uint64_t cas;               /* C: compare */
    uint64_t new_cas;           /* E: explicit new CAS */
    uint64_t delta;             /* ma D (default 1) */
    uint64_t initial;           /* ma J */
    uint32_t client_flags;      /* ms F (truncated to 32 bits, as 1.6.18) */
    char mode;                  /* ms M: S E A P R; ma M: I or D */
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

    /* mg ms md ma me: key, vlen and value above, the rest here */
    struct proto_meta meta;

    /* get family with get_piece_min: the line goes on past *consumed
     * (keys are its complete keys so far, maybe none); the caller passes
     * the request to proto_more_begin() and parses the rest of the line
     * with proto_text_parse_more(). END belongs after the last piece. */
    bool more;
    /* with `more`: the line is already known to be refused with this
     * error (its pieces carry no keys; the error comes at its end) */
    enum proto_err more_err;
};

/*
 * A get-family line handed out in pieces, so that a key list of a
 * megabyte is never buffered whole: each piece holds the keys that are
 * complete (followed by a space), and the line's last piece, with its
 * "\n", closes it. Lives in the caller's connection between calls.
 *
 * The answer is the one the whole line gets (VALUE blocks of every key
 * in order, then END), except for a line with a bad key (or a bad gat
 * exptime) past its first piece: the keys before it were already
 * answered, so the error line (CLIENT_ERROR ...) comes after their
 * VALUE blocks, in place of END, where memcached sends it alone. A line
 * whose "\n" is in the buffer is parsed whole, never in pieces.
 */
struct proto_more {
    enum proto_cmd cmd;         /* the open line's; NONE: no line open */
    int64_t exptime;            /* gat, gats */
    size_t seen;                /* bytes of the line consumed so far */
    bool any_key;               /* a key was handed out */
    enum proto_err err;         /* refused: answered at the line's end */
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
 * Open MORE for the rest of the line of REQ, a PROTO_OK result with
 * req->more set, of which CONSUMED bytes were used. Thread: any.
 */
void proto_more_begin(struct proto_more *more, const struct request *req,
                      size_t consumed);

/*
 * Parse the next piece of the line MORE holds open, from BUF[0..LEN)
 * (what follows the previous piece). Same contract as
 * proto_text_parse(), and:
 *  - PROTO_OK: req->cmd and req->exptime are the line's, req->keys its
 *    complete keys in BUF (maybe none), req->more whether the line goes
 *    on; when it does not, MORE is closed (more->cmd = PROTO_CMD_NONE).
 *  - PROTO_NEED_MORE: no complete key yet (req->need is 0).
 *  - PROTO_EINVALID: the line ended and is refused (req->err; MORE is
 *    closed), or it ran past get_line_max (PROTO_ERR_LINE_TOO_LONG:
 *    close the connection).
 * Ownership, thread, blocking: as proto_text_parse(); MORE is the
 * caller's, updated in place.
 */
int proto_text_parse_more(const struct proto_limits *lim,
                          struct proto_more *more, const char *buf,
                          size_t len, struct request *req,
                          size_t *consumed);

/*
 * Size class ids a metadump may name: 0 (ember's large items, in their
 * own mappings) to PROTO_DUMP_CLASSES - 1, as ember's store numbers
 * them (memcached's 1..63 are a subset).
 */
#define PROTO_DUMP_CLASSES 256

enum proto_dump_rc {
    PROTO_DUMP_BADCLASS = -1,   /* a word that is not a class id */
    PROTO_DUMP_NONE = -2,       /* a list of nothing but commas */
};

/*
 * Read a metadump class list P[0..N): "all" or "hash" (every class), or
 * comma-separated class ids (empty items skipped; each id as memcached's
 * strtoul reader takes it, below PROTO_DUMP_CLASSES). When CLASSES is
 * not NULL it gets the bit map of the classes named (PROTO_DUMP_CLASSES
 * bits, bit I of byte I / 8 for class I). Returns PROTO_OK or an enum
 * proto_dump_rc. Thread: any; reentrant. Blocks: never.
 */
int proto_dump_classes(const char *p, size_t n, uint8_t *classes);

/*
 * Step through a key list: on entry *pos .. end is what is left; returns
 * true with KEY/NKEY set to the next space-separated token (advancing
 * *POS past it), false at the end. KEY borrows from the list's buffer.
 * Thread: any; reentrant. Blocks: never.
 */
bool proto_next_key(const char **pos, const char *end, const char **key,
                    size_t *nkey);

#endif /* EMBER_PROTO_H */
