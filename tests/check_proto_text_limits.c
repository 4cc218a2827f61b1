/*
 * check_proto_text_limits.c -- the parser at its limits (key length,
 * item size, line lengths, huge key lists) and under deterministic fuzzing
 * (a few hundred thousand generated and mutated inputs, each checked
 * against the contract in proto.h). Part of check_proto_text.
 */
#include "config.h"

#include "daemon/proto.h"
#include "tests/check_proto_text.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A heap buffer of N bytes of C. */
static char *
filled(char c, size_t n)
{
    char *p = malloc(n + 1);

    ck_assert_ptr_nonnull(p);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

/* The request formats taking one key, at 250 (fine) and 251 bytes. */
START_TEST(test_key_length)
{
    static const char *const fmts[][2] = {
        {"set ", " 0 0 1\r\nx\r\n"}, {"cas ", " 0 0 1 1\r\nx\r\n"},
        {"get ", "\r\n"},              {"get a ", " b\r\n"},
        {"gets ", "\r\n"},             {"gat 1 ", "\r\n"},
        {"delete ", "\r\n"},           {"incr ", " 1\r\n"},
        {"touch ", " 1\r\n"},          {"set ", " 0 0 1 noreply\r\nx\r\n"},
    };
    char *key = filled('k', KEY_MAX + 1);
    char line[600];
    size_t i;

    for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        struct request req;
        size_t consumed;

        key[KEY_MAX] = '\0';
        snprintf(line, sizeof(line), "%s%s%s", fmts[i][0], key, fmts[i][1]);
        ck_assert_msg(parse_s(line, &req, &consumed) == PROTO_OK,
                      "250 bytes refused: %s", fmts[i][0]);
        ck_assert(req.nkey == KEY_MAX || req.keys_len >= KEY_MAX);
        key[KEY_MAX] = 'k';
        snprintf(line, sizeof(line), "%s%s%s", fmts[i][0], key, fmts[i][1]);
        ck_assert_int_eq(parse_s(line, &req, &consumed), PROTO_EINVALID);
        ck_assert_msg(req.err == PROTO_ERR_FORMAT, "251: %s", fmts[i][0]);
        ck_assert_int_eq(req.noreply,
                         strstr(fmts[i][1], "noreply") != NULL);
        /* no swallow: memcached reads the data block as a command */
        ck_assert_uint_eq(req.swallow, 0);
        ck_assert_uint_eq(consumed, strchr(line, '\n') - line + 1);
    }
    free(key);
}
END_TEST

/* "set k 0 0 <vlen>[ noreply]\r\n" + vlen bytes + "\r\n" in a heap
 * buffer; *LINE gets the command line's length. */
static char *
storage_req(size_t vlen, bool noreply, size_t *len, size_t *line)
{
    char head[64];
    char *buf;

    *line = (size_t)snprintf(head, sizeof(head), "set k 0 0 %zu%s\r\n", vlen,
                             noreply ? " noreply" : "");
    *len = *line + vlen + 2;
    buf = filled('v', *len);
    memcpy(buf, head, *line);
    memcpy(buf + *len - 2, "\r\n", 2);
    return buf;
}

START_TEST(test_item_size_exact)
{
    size_t len;
    size_t line;
    char *buf = storage_req(ITEM_MAX, false, &len, &line);
    struct request req;
    size_t consumed;

    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert_uint_eq(req.vlen, ITEM_MAX);
    ck_assert_int_eq(req.value[0], 'v');
    ck_assert_int_eq(req.value[ITEM_MAX - 1], 'v');
    /* once the line is in, the full size is announced */
    ck_assert_int_eq(parse_n(buf, line, &req, &consumed), PROTO_NEED_MORE);
    ck_assert_uint_eq(req.need, len);
    ck_assert_int_eq(parse_n(buf, len - 1, &req, &consumed),
                     PROTO_NEED_MORE);
    ck_assert_uint_eq(req.need, len);
    free(buf);
}
END_TEST

/* One byte over: refused with the key (the executor drops its old
 * value) and the data block swallowed, however much of it is here. */
START_TEST(test_item_size_over)
{
    size_t len;
    size_t line;
    char *buf = storage_req(ITEM_MAX + 1, true, &len, &line);
    struct request req;
    size_t consumed;

    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_TOO_LARGE);
    ck_assert_int_eq(req.cmd, PROTO_CMD_SET);
    ck_assert(req.noreply);
    ck_assert(req.nkey == 1 && req.key[0] == 'k');
    ck_assert_uint_eq(consumed, len);
    ck_assert_uint_eq(req.swallow, 0);
    ck_assert_int_eq(parse_n(buf, line, &req, &consumed), PROTO_EINVALID);
    ck_assert_uint_eq(consumed, line);
    ck_assert_uint_eq(req.swallow, ITEM_MAX + 3);
    ck_assert_int_eq(parse_n(buf, line + 10, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_uint_eq(consumed, line + 10);
    ck_assert_uint_eq(req.swallow, ITEM_MAX + 3 - 10);
    free(buf);
}
END_TEST

/* With a small item limit, every split of an oversized set: NEED_MORE
 * until the line is in, then consumed + swallow is always the request. */
START_TEST(test_item_size_split)
{
    size_t len;
    size_t line;
    char *buf;
    size_t i;

    lim.item_size_max = 16;
    buf = storage_req(17, false, &len, &line);
    for (i = 0; i <= len; i++) {
        struct request req;
        size_t consumed;
        int rc = parse_n(buf, i, &req, &consumed);

        if (i < line) {
            ck_assert_int_eq(rc, PROTO_NEED_MORE);
            continue;
        }
        ck_assert_int_eq(rc, PROTO_EINVALID);
        ck_assert_int_eq(req.err, PROTO_ERR_TOO_LARGE);
        ck_assert_uint_eq(consumed, i);
        ck_assert_uint_eq(consumed + req.swallow, len);
    }
    free(buf);
    buf = storage_req(16, false, &len, &line);
    assert_prefixes_need_more(buf, len, len);
    free(buf);
}
END_TEST

/* memcached keeps vlen + 2 in an int: beyond that it is a format error
 * (no swallow), below it a too-large one (swallowed). */
START_TEST(test_vlen_extremes)
{
    struct request req;
    size_t consumed;

    ck_assert_int_eq(parse_s("set k 0 0 2147483645\r\n", &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_TOO_LARGE);
    ck_assert_uint_eq(req.swallow, 2147483647u);
    ck_assert_int_eq(parse_s("set k 0 0 2147483646\r\n", &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_FORMAT);
    ck_assert_uint_eq(req.swallow, 0);
}
END_TEST

/* "stats aaa..." whose line holds exactly N bytes before "\r\n". */
static char *
stats_line(size_t n, size_t *len)
{
    char *buf = filled('a', n + 2);

    memcpy(buf, "stats ", 6);
    memcpy(buf + n, "\r\n", 2);
    *len = n + 2;
    return buf;
}

START_TEST(test_line_max)
{
    struct request req;
    size_t consumed;
    size_t len;
    char *buf = stats_line(LINE_MAX_, &len);

    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_OK);
    ck_assert_uint_eq(req.narg, LINE_MAX_ - 6);
    assert_prefixes_need_more(buf, len, len);
    free(buf);

    buf = stats_line(LINE_MAX_ + 1, &len);
    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    /* bare "\n" terminator */
    buf[len - 2] = '\n';
    ck_assert_int_eq(parse_n(buf, len - 1, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    free(buf);
    /* no newline yet: refused as soon as it cannot fit any more */
    buf = filled('a', LINE_MAX_ + 2);
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 1, &req, &consumed),
                     PROTO_NEED_MORE);
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 2, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    free(buf);
}
END_TEST

/*
 * With line_whole_max set (as emberd sets it), a long line whose newline
 * is already buffered is parsed like memcached does with a line that one
 * read brought in whole; an unfinished one is still refused past line_max.
 */
START_TEST(test_line_whole_max)
{
    struct request req;
    size_t consumed;
    size_t len;
    char *buf = stats_line(3000, &len);

    lim.line_whole_max = 4096;
    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_STATS);
    ck_assert_uint_eq(consumed, len);
    /* the same bytes without their newline yet: closed as memcached */
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 2, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    free(buf);
    /* an unknown command of 3000 bytes, complete: memcached's ERROR */
    buf = filled('x', 3002);
    memcpy(buf + 3000, "\r\n", 2);
    ck_assert_int_eq(parse_n(buf, 3002, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_UNKNOWN);
    ck_assert_uint_eq(consumed, 3002);
    free(buf);
    /* complete but past line_whole_max: refused */
    buf = stats_line(4097, &len);
    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    free(buf);
    buf = stats_line(4096, &len);
    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_OK);
    free(buf);
}
END_TEST

/* "get k k k ..." with exactly N bytes before "\r\n". */
static char *
get_line(const char *cmd, size_t n, size_t *len)
{
    char *buf = filled(' ', n + 2);
    size_t i;

    memcpy(buf, cmd, strlen(cmd));
    for (i = strlen(cmd) + 1; i < n; i += 2) {
        buf[i] = 'k';
    }
    memcpy(buf + n, "\r\n", 2);
    *len = n + 2;
    return buf;
}

START_TEST(test_get_line_max)
{
    static const char *const cmds[] = {"get", "gets", "gat 0", "gats 1",
                                       "bget", "   get"};
    struct request req;
    size_t consumed;
    size_t len;
    size_t i;

    lim.get_line_max = 8192;
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *buf = get_line(cmds[i], 8192, &len);

        ck_assert_msg(parse_n(buf, len, &req, &consumed) == PROTO_OK,
                      "%s", cmds[i]);
        ck_assert_uint_eq(consumed, len);
        ck_assert_int_eq(parse_n(buf, len - 1, &req, &consumed),
                         PROTO_NEED_MORE);
        free(buf);
        buf = get_line(cmds[i], 8193, &len);
        ck_assert_int_eq(parse_n(buf, len, &req, &consumed),
                         PROTO_EINVALID);
        ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
        /* no "\n" yet: 8193 bytes may still be 8192 and "\r" */
        ck_assert_int_eq(parse_n(buf, 8193, &req, &consumed),
                         PROTO_NEED_MORE);
        ck_assert_int_eq(parse_n(buf, 8194, &req, &consumed),
                         PROTO_EINVALID);
        ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
        free(buf);
    }
}
END_TEST

/* A get line past line_max, split at every byte: only the whole is OK.
 * Other commands' long lines are refused before their newline. */
START_TEST(test_get_line_split)
{
    struct request req;
    size_t consumed;
    size_t len;
    char *buf = get_line("gets", 3001, &len);
    struct view whole = view_of(buf, len);

    ck_assert_int_eq(whole.rc, PROTO_OK);
    ck_assert_int_eq(whole.req.cmd, PROTO_CMD_GETS);
    assert_prefixes_need_more(buf, len, len);
    memcpy(buf, "getx", 4);
    ck_assert_int_eq(parse_n(buf, len, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 2, &req, &consumed),
                     PROTO_EINVALID);
    free(buf);
    /* a first token still growing may yet become "gets" */
    buf = filled(' ', LINE_MAX_ + 10);
    memcpy(buf + LINE_MAX_ + 6, "get", 3);
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 9, &req, &consumed),
                     PROTO_NEED_MORE);
    buf[LINE_MAX_ + 9] = 'x';
    ck_assert_int_eq(parse_n(buf, LINE_MAX_ + 10, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_LINE_TOO_LONG);
    free(buf);
}
END_TEST

/* Tens of thousands of keys in one get, each walked back in order. */
START_TEST(test_many_keys)
{
    enum { NKEYS = 50000 };
    size_t cap = 8 + NKEYS * 8 + KEY_MAX + 4;
    char *buf = malloc(cap);
    size_t len = 4;
    const char *pos;
    const char *key;
    size_t nkey;
    size_t n = 0;
    struct request req;
    size_t consumed;

    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "get ", 4);
    for (n = 0; n < NKEYS; n++) {
        len += (size_t)snprintf(buf + len, cap - len, "k%05zu ", n);
    }
    memcpy(buf + len, "\r\n", 2);
    ck_assert_int_eq(parse_n(buf, len + 2, &req, &consumed), PROTO_OK);
    pos = req.keys;
    for (n = 0; proto_next_key(&pos, req.keys + req.keys_len, &key, &nkey);
         n++) {
        char want[16];

        snprintf(want, sizeof(want), "k%05zu", n);
        if (nkey != 6 || memcmp(key, want, 6) != 0) {
            ck_abort_msg("key %zu is %.*s", n, (int)nkey, key);
        }
    }
    ck_assert_uint_eq(n, NKEYS);
    /* one bad key anywhere refuses the whole line */
    memset(buf + len, 'z', KEY_MAX + 1);
    memcpy(buf + len + KEY_MAX + 1, "\r\n", 2);
    ck_assert_int_eq(parse_n(buf, len + KEY_MAX + 3, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_FORMAT);
    free(buf);
}
END_TEST

void
add_limit_tests(TCase *tc)
{
    tcase_add_test(tc, test_key_length);
    tcase_add_test(tc, test_item_size_exact);
    tcase_add_test(tc, test_item_size_over);
    tcase_add_test(tc, test_item_size_split);
    tcase_add_test(tc, test_vlen_extremes);
    tcase_add_test(tc, test_line_max);
    tcase_add_test(tc, test_line_whole_max);
    tcase_add_test(tc, test_get_line_max);
    tcase_add_test(tc, test_get_line_split);
    tcase_add_test(tc, test_many_keys);
}

/* ------------------------------------------------------------------ */
/* Deterministic fuzzing                                              */

struct rng {
    uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static size_t
rng_below(struct rng *r, size_t n)
{
    return (size_t)(rng_next(r) % n);
}

static bool
inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p == NULL || (p >= buf && p + n <= buf + len);
}

/* The contract of proto.h for one result; cheap enough for a hot loop
 * (ck_assert would write to the fork pipe on every pass). */
static void
check_contract(int rc, const struct request *req, size_t consumed,
               const char *buf, size_t len)
{
    bool ok = consumed <= len && inside(req->key, req->nkey, buf, len)
              && inside(req->keys, req->keys_len, buf, len)
              && inside(req->arg, req->narg, buf, len)
              && inside(req->value, req->vlen, buf, len);

    if (rc == PROTO_OK) {
        ok = ok && consumed > 0 && req->cmd != PROTO_CMD_NONE
             && req->err == PROTO_ERR_NONE && req->swallow == 0;
    } else if (rc == PROTO_NEED_MORE) {
        ok = ok && consumed == 0 && (req->need == 0 || req->need > len);
    } else if (rc == PROTO_EINVALID) {
        ok = ok && req->err != PROTO_ERR_NONE
             && (req->swallow == 0 || req->err == PROTO_ERR_TOO_LARGE);
    } else {
        ok = false;
    }
    if (!ok) {
        ck_abort_msg("contract broken: rc %d err %d consumed %zu on "
                     "%zu bytes: %.*s", rc, req->err, consumed, len,
                     (int)len, buf);
    }
}

/* Feed IN as a connection would; every prefix of its first request
 * must agree with the whole when CHECK_SPLITS. */
static void
fuzz_one(const char *in, size_t len, bool check_splits)
{
    struct view first = view_of(in, len);
    struct request req;
    size_t consumed;
    size_t pos;
    int rc;

    check_contract(first.rc, &first.req, first.consumed, last_copy(), len);
    for (pos = 0; check_splits && pos < len; pos++) {
        rc = parse_n(in, pos, &req, &consumed);
        if (rc != PROTO_NEED_MORE
            && (rc != first.rc || req.err != first.req.err
                || consumed + req.swallow
                       != first.consumed + first.req.swallow)) {
            ck_abort_msg("prefix %zu disagrees: %.*s", pos, (int)len, in);
        }
    }
    for (pos = 0; pos < len;) {
        rc = parse_n(in + pos, len - pos, &req, &consumed);
        check_contract(rc, &req, consumed, last_copy(), len - pos);
        if (rc == PROTO_NEED_MORE || req.err == PROTO_ERR_LINE_TOO_LONG
            || req.err == PROTO_ERR_HTTP || req.err == PROTO_ERR_BINARY) {
            break;
        }
        if (consumed == 0) {
            ck_abort_msg("no progress at %zu: %.*s", pos, (int)len, in);
        }
        pos += consumed + req.swallow;
    }
}

static const char *const soup[] = {
    "get", "gets", "gat", "gats", "set", "add", "cas", "append", "incr",
    "decr", "delete", "touch", "flush_all", "verbosity", "stats",
    "shutdown", "snapshot", "version", "noreply", "graceful", "k", "key",
    "0", "1", "5", "-1", "+3", "-0", "18446744073709551616", "4294967296",
    "2147483646", "9223372036854775808", " ", " ", " ", "  ", "\r\n",
    "\r\n", "\n", "\r", "\t", "HTTP/1.1", "abc", "\x80", "\x7f", "\x01",
};

#define SOUP_N (sizeof(soup) / sizeof(soup[0]))

/* Protocol-shaped random inputs, under tight and default limits. */
START_TEST(test_fuzz_soup)
{
    struct rng r = {0x9e3779b97f4a7c15ull};
    char buf[512];
    size_t iter;

    for (iter = 0; iter < 200000; iter++) {
        size_t len = 0;
        size_t parts = 1 + rng_below(&r, 16);

        while (parts-- > 0) {
            const char *t = soup[rng_below(&r, SOUP_N)];
            size_t n = strlen(t);

            if (rng_below(&r, 8) == 0) {
                buf[len++] = (char)rng_next(&r);
                continue;
            }
            memcpy(buf + len, t, n);
            len += n;
        }
        if (iter % 2 == 0) {
            lim.item_size_max = 8;
            lim.line_max = 24;
            lim.get_line_max = 40;
        } else {
            default_limits();
        }
        fuzz_one(buf, len, iter % 8 == 0);
    }
}
END_TEST

/* Byte flips, insertions, deletions and truncations of valid requests. */
START_TEST(test_fuzz_mutate)
{
    static const char *const seeds[] = {
        "set k 1 2 3\r\nabc\r\nget k\r\n",
        "cas key 0 0 1 77 noreply\r\nx\r\n",
        "gat 100 a b c\r\ngets a\r\n",
        "incr k 5\r\ndecr k 1 noreply\r\ndelete k 0\r\n",
        "touch k 1\r\nflush_all 0 noreply\r\nverbosity 1\r\nstats items\r\n",
        "shutdown graceful\r\nversion\r\nquit\r\n",
    };
    struct rng r = {0x2545f4914f6cdd1dull};
    char buf[256];
    size_t iter;

    for (iter = 0; iter < 120000; iter++) {
        const char *seed = seeds[iter % 6];
        size_t len = strlen(seed);
        size_t muts = 1 + rng_below(&r, 4);

        memcpy(buf, seed, len);
        while (muts-- > 0 && len > 0) {
            size_t at = rng_below(&r, len);

            switch (rng_below(&r, 4)) {
            case 0:
                buf[at] = (char)rng_next(&r);
                break;
            case 1:
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (char)rng_next(&r);
                len++;
                break;
            case 2:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            default:
                len = at;
                break;
            }
        }
        if (iter % 3 == 0) {
            lim.item_size_max = 2;
        } else {
            default_limits();
        }
        fuzz_one(buf, len, iter % 8 == 0);
    }
}
END_TEST

void
add_fuzz_tests(TCase *tc)
{
    tcase_add_test(tc, test_fuzz_soup);
    tcase_add_test(tc, test_fuzz_mutate);
}
