/*
 * proto_util.h -- token, key and number scanning shared by the parsers.
 *
 * Layer: private to daemon/'s parsers (proto_text.c, later proto_meta.c).
 * Pure functions over borrowed bytes: no allocation, no I/O, no state.
 * Nothing here reads outside the [p, p + n) range it is given, and no
 * input is assumed to be NUL-terminated.
 *
 * A token is a run of bytes other than ' ' (0x20); memcached splits its
 * command lines on that byte alone, so a tab is part of a token.
 */
#ifndef EMBER_PROTO_UTIL_H
#define EMBER_PROTO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/proto.h"

/* Longest key memcached accepts (KEY_MAX_LENGTH). */
#define PROTO_KEY_MAX 250

/* One token of a command line; p borrows from the line. */
struct proto_tok {
    const char *p;
    size_t n;
};

/*
 * Split LINE[0..LEN) on spaces into TOK, stopping after MAX tokens so a
 * long line is not walked twice. Returns the number stored: MAX means
 * "MAX or more". Thread: any. Blocks: never.
 */
size_t proto_tokenize(const char *line, size_t len, struct proto_tok *tok,
                      size_t max);

/* True when TOK is exactly the NUL-terminated word WORD. */
bool proto_tok_is(const struct proto_tok *tok, const char *word);

/*
 * True when P[0..N) is a valid key: 1..PROTO_KEY_MAX bytes, none of them
 * a control character (< 0x20 or 0x7f). Bytes >= 0x80 are allowed.
 */
bool proto_key_ok(const char *p, size_t n);

/*
 * Check a key list P..END in one pass (the hot loop of a multi-get):
 * every space-separated key 1..PROTO_KEY_MAX bytes without control
 * characters. *NKEYS: how many. Thread: any. Blocks: never.
 */
bool proto_scan_keys(const char *p, const char *end, size_t *nkeys);

/* req->keys = P..END without the spaces at either end. */
void proto_set_keys(struct request *req, const char *p, const char *end);

/*
 * The complete keys of an unfinished get line in P[0..N): those followed
 * by a space. Sets req->keys (maybe empty) and returns the bytes used:
 * through the last space, or all N once the line is refused (M->err,
 * set here when a key is bad or a run without a space is already too
 * long to be one); 0 while no key is complete. Thread: any.
 */
size_t proto_piece_keys(struct proto_more *m, const char *p, size_t n,
                        struct request *req);

/*
 * Parse an unsigned decimal in P[0..N) the way memcached's strtoul-based
 * readers do: leading whitespace, an optional '+', digits, then the end
 * or whitespace (anything after that is ignored). A '-' is accepted only
 * for a zero value ("-0"), as memcached does. Values above MAX fail.
 * Returns true and sets *OUT, or false (and leaves *OUT alone).
 */
bool proto_scan_u64(const char *p, size_t n, uint64_t max, uint64_t *out);

/*
 * As proto_scan_u64 for a signed value in [INT64_MIN, INT64_MAX].
 */
bool proto_scan_i64(const char *p, size_t n, int64_t *out);

/*
 * Decode the base64 text IN[0..N) into OUT (CAP bytes), *NOUT bytes.
 * Strict: whole groups of 4 characters from A-Z a-z 0-9 + /, with '='
 * only as padding of the last group. OUT may be NULL to only check (a
 * parser must not write). Returns false for invalid text, an empty
 * result or more than CAP bytes. Thread: any. Blocks: never.
 */
bool proto_b64_decode(const char *in, size_t n, char *out, size_t cap,
                      size_t *nout);

/*
 * The meta command named by P[0..N) (mg ms md ma mn me), or
 * PROTO_CMD_NONE. Thread: any. Blocks: never.
 */
enum proto_cmd proto_meta_cmd(const char *p, size_t n);

/*
 * Parse the meta command CMD whose line proto_text_parse() has found:
 * BUF[0..CONTENT) without its terminator, LINE_LEN bytes with it, LEN
 * bytes available. Same contract as proto_text_parse() (proto.h).
 * Thread: any; reentrant. Blocks: never. Allocates: never.
 */
int proto_meta_parse(const struct proto_limits *lim, const char *buf,
                     size_t len, size_t content, size_t line_len,
                     enum proto_cmd cmd, struct request *req,
                     size_t *consumed);

/*
 * The operator commands `slabs` and `lru_crawler`, tokens TOK[0..NTOK)
 * of their line (TOK[0] is the command; NTOK as proto_tokenize() counts).
 * Sets REQ: PROTO_CMD_METADUMP with its class list in req->arg, or
 * PROTO_CMD_UNSUPPORTED naming a valid form ember does not serve, and
 * returns PROTO_OK; or sets req->err to the error memcached 1.6.18
 * gives (ERROR, CLIENT_ERROR bad command line format, BADCLASS,
 * NOTSTARTED) and returns PROTO_EINVALID. The caller consumes the line.
 * Thread: any; reentrant. Blocks: never.
 */
int proto_admin_slabs(const struct proto_tok *tok, size_t ntok,
                      struct request *req);
int proto_admin_lru_crawler(const struct proto_tok *tok, size_t ntok,
                            struct request *req);

#endif /* EMBER_PROTO_UTIL_H */
