/*
 * check_proto_text_pieces.c -- a get line handed out in pieces
 * (get_piece_min, proto_text_parse_more): fed to the parser the way
 * conn.c feeds it, through a read buffer of a fixed size that is never
 * grown, in reads of many sizes, it yields the keys the whole line
 * holds, in order, and the same verdict. Part of check_proto_text.
 */
#include "config.h"

#include "daemon/proto.h"
#include "tests/check_proto_text.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE 16384                 /* conn.c: the read buffer's size */
#define OUT_MAX (1u << 20)

/* What a line came to: its keys, one space apart, and the verdict. */
struct outcome {
    char *keys;                     /* OUT_MAX bytes */
    size_t nkeys_bytes;
    int rc;                         /* PROTO_OK or PROTO_EINVALID */
    enum proto_err err;
    enum proto_cmd cmd;
    int64_t exptime;
    unsigned pieces;
};

static void
outcome_init(struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->keys = malloc(OUT_MAX);
    ck_assert_ptr_nonnull(o->keys);
}

/* Append the keys of REQ, each followed by one space. */
static void
take_keys(struct outcome *o, const struct request *req)
{
    const char *pos = req->keys;
    const char *end = req->keys + req->keys_len;
    const char *key;
    size_t nkey;

    while (proto_next_key(&pos, end, &key, &nkey)) {
        ck_assert_uint_lt(o->nkeys_bytes + nkey + 1, OUT_MAX);
        memcpy(o->keys + o->nkeys_bytes, key, nkey);
        o->nkeys_bytes += nkey;
        o->keys[o->nkeys_bytes++] = ' ';
    }
}

/* The whole line at once, as the parser took it before pieces. */
static void
whole(const char *in, size_t len, struct outcome *o)
{
    struct request req;
    size_t consumed;

    outcome_init(o);
    lim.get_piece_min = 0;
    o->rc = parse_n(in, len, &req, &consumed);
    o->err = req.err;
    o->cmd = req.cmd;
    o->exptime = req.exptime;
    if (o->rc == PROTO_OK) {
        ck_assert_uint_eq(consumed, len);
        take_keys(o, &req);
    }
    lim.get_piece_min = PIECE;
}

/* One pass of the parser over what is buffered; true when done. */
static bool
parse_buffered(struct proto_more *more, char *buf, size_t *len,
               struct outcome *o)
{
    struct request req;
    size_t consumed;
    int rc;

    while (*len > 0) {
        rc = more->cmd != PROTO_CMD_NONE
                 ? proto_text_parse_more(&lim, more, buf, *len, &req,
                                         &consumed)
                 : proto_text_parse(&lim, buf, *len, &req, &consumed);
        if (rc == PROTO_NEED_MORE) {
            ck_assert_uint_eq(consumed, 0);
            return false;
        }
        o->pieces++;
        o->cmd = req.cmd;
        o->exptime = req.exptime;
        if (rc != PROTO_OK) {
            o->rc = rc;
            o->err = req.err;
            return true;
        }
        ck_assert_uint_gt(consumed, 0);
        ck_assert(req.keys == NULL ||
                  (req.keys >= buf && req.keys + req.keys_len <= buf + *len));
        if (req.more && more->cmd == PROTO_CMD_NONE) {
            proto_more_begin(more, &req, consumed);
        }
        take_keys(o, &req);
        if (!req.more) {
            o->rc = PROTO_OK;
            return true;
        }
        memmove(buf, buf + consumed, *len - consumed);
        *len -= consumed;
    }
    return false;
}

/*
 * Feed IN[0..LEN) in reads of at most STEP bytes into a PIECE-byte
 * buffer, as conn.c does. The buffer must never be full with the parser
 * still asking for more: a get line is never buffered whole.
 */
static void
streamed(const char *in, size_t len, size_t step, struct outcome *o)
{
    char *buf = malloc(PIECE);
    struct proto_more more = { .cmd = PROTO_CMD_NONE };
    size_t blen = 0;
    size_t fed = 0;
    size_t n;

    ck_assert_ptr_nonnull(buf);
    outcome_init(o);
    o->rc = PROTO_NEED_MORE;
    lim.get_piece_min = PIECE;
    while (!parse_buffered(&more, buf, &blen, o)) {
        ck_assert_msg(blen < PIECE, "a full buffer and no piece");
        if (fed == len) {
            break;
        }
        n = PIECE - blen;
        n = n < step ? n : step;
        n = n < len - fed ? n : len - fed;
        memcpy(buf + blen, in + fed, n);
        blen += n;
        fed += n;
    }
    free(buf);
}

static void
outcome_free(struct outcome *o)
{
    free(o->keys);
}

struct rng {
    uint64_t s;
};

static unsigned
rnd(struct rng *r, unsigned n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (unsigned)(r->s % n);
}

/* A get-family line of about LEN bytes: keys of 1..250 printable bytes
 * separated by 1..3 spaces, ending in "\r\n" or "\n". */
static char *
random_line(struct rng *r, size_t len, size_t *out_len)
{
    static const char *const cmds[] = {"get", "gets", "gat 100",
                                       "gats -1", "bget", "  get"};
    char *buf = malloc(len + 600);
    size_t n;
    size_t k;
    size_t i;

    ck_assert_ptr_nonnull(buf);
    n = (size_t)sprintf(buf, "%s", cmds[rnd(r, 6)]);
    while (n < len) {
        for (i = 1 + rnd(r, 3); i > 0; i--) {
            buf[n++] = ' ';
        }
        k = rnd(r, 4) == 0 ? 1 + rnd(r, 250) : 1 + rnd(r, 12);
        for (i = 0; i < k; i++) {
            buf[n++] = (char)('!' + rnd(r, 94));
        }
    }
    if (rnd(r, 3) == 0) {
        buf[n++] = ' ';
    }
    if (rnd(r, 2) == 0) {
        buf[n++] = '\r';
    }
    buf[n++] = '\n';
    *out_len = n;
    return buf;
}

static const size_t steps[] = {97, 1000, 4096, 16384, 65536};

/* LINE in reads of STEP bytes: the keys, command, exptime and verdict
 * of the whole line, in more than one piece. */
static void
assert_pieces_match(const char *line, size_t len, size_t step)
{
    struct outcome a, b;

    whole(line, len, &a);
    ck_assert_int_eq(a.rc, PROTO_OK);
    streamed(line, len, step, &b);
    ck_assert_int_eq(b.rc, PROTO_OK);
    ck_assert_int_eq(b.cmd, a.cmd);
    ck_assert(b.exptime == a.exptime);
    ck_assert_uint_gt(b.pieces, 1);
    ck_assert_uint_eq(b.nkeys_bytes, a.nkeys_bytes);
    ck_assert(memcmp(a.keys, b.keys, a.nkeys_bytes) == 0);
    outcome_free(&a);
    outcome_free(&b);
}

/* Valid long lines, in reads of several sizes. */
START_TEST(test_pieces_match_whole_line)
{
    struct rng r = { 0x9e3779b97f4a7c15ull + (uint64_t)_i };
    size_t len;
    char *line = random_line(&r, 17000 + rnd(&r, 200000), &len);
    size_t s;

    for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        assert_pieces_match(line, len, steps[s]);
    }
    free(line);
}
END_TEST

/* Byte by byte over the threshold: the same. */
START_TEST(test_pieces_bytewise)
{
    struct rng r = { 77 };
    size_t len;
    char *line = random_line(&r, PIECE + 3000, &len);

    assert_pieces_match(line, len, 1);
    free(line);
}
END_TEST

/*
 * A bad key (251 bytes, or a control byte) anywhere: refused with
 * CLIENT_ERROR's format error as the whole line is; the keys handed out
 * before it are a prefix of the keys before it, none when it is in the
 * first piece.
 */
START_TEST(test_pieces_bad_key)
{
    struct rng r = { 1234 + (uint64_t)_i };
    struct outcome a, b, before;
    size_t len;
    char *line = random_line(&r, 40000 + rnd(&r, 60000), &len);
    size_t at = 10 + rnd(&r, (unsigned)len - 600);
    char *head;

    while (line[at] != ' ') {
        at++;
    }
    /* the keys before the bad one: the line cut there */
    head = malloc(at + 1);
    ck_assert_ptr_nonnull(head);
    memcpy(head, line, at);
    head[at] = '\n';
    whole(head, at + 1, &before);
    ck_assert_int_eq(before.rc, PROTO_OK);
    if (_i % 2 == 0) {
        memset(line + at + 1, 'z', KEY_MAX + 1);
        line[at + KEY_MAX + 2] = ' ';
    } else {
        line[at + 1] = '\x01';
    }
    whole(line, len, &a);
    ck_assert_int_eq(a.rc, PROTO_EINVALID);
    ck_assert_int_eq(a.err, PROTO_ERR_FORMAT);
    streamed(line, len, steps[_i % 5], &b);
    ck_assert_int_eq(b.rc, PROTO_EINVALID);
    ck_assert_int_eq(b.err, PROTO_ERR_FORMAT);
    ck_assert_uint_le(b.nkeys_bytes, before.nkeys_bytes);
    ck_assert(memcmp(before.keys, b.keys, b.nkeys_bytes) == 0);
    if (at + KEY_MAX + 3 < PIECE) {
        ck_assert_uint_eq(b.nkeys_bytes, 0);    /* as memcached */
    }
    outcome_free(&a);
    outcome_free(&b);
    outcome_free(&before);
    free(head);
    free(line);
}
END_TEST

/* The first piece's own errors, answered once the line ends. */
START_TEST(test_pieces_head_errors)
{
    static const struct {
        const char *head;
        enum proto_err err;
    } cases[] = {
        {"gat abc k", PROTO_ERR_EXPTIME},
        {"gats", PROTO_ERR_UNKNOWN},        /* spaces, no exptime */
        {"get", PROTO_ERR_UNKNOWN},         /* spaces, no key at all */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *line = malloc(3 * PIECE);
        size_t n = strlen(cases[i].head);
        struct outcome a, b;

        memcpy(line, cases[i].head, n);
        memset(line + n, ' ', 3 * PIECE - n - 2);
        memcpy(line + 3 * PIECE - 2, "\r\n", 2);
        whole(line, 3 * PIECE, &a);
        streamed(line, 3 * PIECE, 5000, &b);
        ck_assert_int_eq(b.rc, PROTO_EINVALID);
        ck_assert_msg(b.err == cases[i].err, "%s: %d", cases[i].head,
                      (int)b.err);
        ck_assert_uint_eq(b.nkeys_bytes, 0);
        if (i == 0) {
            ck_assert_int_eq(a.err, cases[i].err);
        }
        outcome_free(&a);
        outcome_free(&b);
        free(line);
    }
}
END_TEST

/* Past get_line_max in pieces: closed, as the whole line would be. */
START_TEST(test_pieces_line_too_long)
{
    size_t len = 5 * PIECE;
    char *line = malloc(len + 2);
    struct outcome b;
    size_t i;

    lim.get_line_max = 3 * PIECE;
    memcpy(line, "get", 3);
    for (i = 3; i < len; i += 2) {
        line[i] = ' ';
        line[i + 1] = 'k';
    }
    memcpy(line + len, "\r\n", 2);
    streamed(line, len + 2, 4096, &b);
    ck_assert_int_eq(b.rc, PROTO_EINVALID);
    ck_assert_int_eq(b.err, PROTO_ERR_LINE_TOO_LONG);
    outcome_free(&b);
    /* exactly get_line_max bytes before "\r\n": fine */
    memcpy(line + 3 * PIECE, "\r\n", 2);
    line[3 * PIECE - 1] = 'k';
    streamed(line, 3 * PIECE + 2, 4096, &b);
    ck_assert_int_eq(b.rc, PROTO_OK);
    outcome_free(&b);
    free(line);
}
END_TEST

/* Below get_piece_min, or with "\n" in the buffer: never in pieces. */
START_TEST(test_pieces_only_when_needed)
{
    struct rng r = { 99 };
    struct request req;
    size_t consumed;
    size_t len;
    char *line = random_line(&r, PIECE + 5000, &len);

    lim.get_piece_min = PIECE;
    lim.line_whole_max = PIECE;
    ck_assert_int_eq(parse_n(line, PIECE - 1, &req, &consumed),
                     PROTO_NEED_MORE);
    ck_assert_int_eq(parse_n(line, PIECE, &req, &consumed), PROTO_OK);
    ck_assert(req.more);
    ck_assert_uint_lt(consumed, PIECE);
    ck_assert_int_eq(parse_n(line, len, &req, &consumed), PROTO_OK);
    ck_assert(!req.more);
    ck_assert_uint_eq(consumed, len);
    free(line);
}
END_TEST

void
add_piece_tests(TCase *tc)
{
    tcase_add_loop_test(tc, test_pieces_match_whole_line, 0, 24);
    tcase_add_test(tc, test_pieces_bytewise);
    tcase_add_loop_test(tc, test_pieces_bad_key, 0, 20);
    tcase_add_test(tc, test_pieces_head_errors);
    tcase_add_test(tc, test_pieces_line_too_long);
    tcase_add_test(tc, test_pieces_only_when_needed);
}
