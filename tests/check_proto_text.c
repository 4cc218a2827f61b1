/*
 * check_proto_text.c -- the text protocol parser against memcached 1.6.18.
 *
 * Every expected error below was observed on the real memcached binary
 * (the reply it sends is compose_proto_err()'s, pinned in
 * tests/check_compose.c); the few places where
 * ember deliberately differs say so. Inputs are copied into exact-size
 * heap buffers, so under --enable-sanitizers any read past the end of
 * the input is caught.
 */
#include "config.h"

#include "daemon/proto.h"
#include "tests/check_proto_text.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct proto_limits lim;
static char *held;              /* the last parsed copy; req points in */

void
default_limits(void)
{
    lim.item_size_max = ITEM_MAX;
    lim.line_max = LINE_MAX_;
    lim.get_line_max = GET_LINE_MAX;
    lim.line_whole_max = 0;     /* tests that want it set it */
    lim.get_piece_min = 0;      /* likewise: pieces */
}

void
setup(void)
{
    default_limits();
    held = NULL;
}

void
teardown(void)
{
    free(held);
    held = NULL;
}

int
parse_n(const char *in, size_t len, struct request *req, size_t *consumed)
{
    free(held);
    held = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(held);
    memcpy(held, in, len);
    return proto_text_parse(&lim, held, len, req, consumed);
}

const char *
last_copy(void)
{
    return held;
}

int
parse_s(const char *in, struct request *req, size_t *consumed)
{
    return parse_n(in, strlen(in), req, consumed);
}

static ptrdiff_t
off(const char *p)
{
    return p == NULL ? -1 : p - held;
}

struct view
view_of(const char *in, size_t len)
{
    struct view v;

    v.rc = parse_n(in, len, &v.req, &v.consumed);
    v.key = off(v.req.key);
    v.keys = off(v.req.keys);
    v.value = off(v.req.value);
    v.arg = off(v.req.arg);
    return v;
}

void
assert_same(const struct view *a, const struct view *b)
{
    ck_assert_int_eq(a->rc, b->rc);
    ck_assert_int_eq(a->req.cmd, b->req.cmd);
    ck_assert_int_eq(a->req.err, b->req.err);
    ck_assert_int_eq(a->req.noreply, b->req.noreply);
    ck_assert_uint_eq(a->consumed, b->consumed);
    ck_assert_int_eq(a->key, b->key);
    ck_assert_uint_eq(a->req.nkey, b->req.nkey);
    ck_assert_int_eq(a->keys, b->keys);
    ck_assert_uint_eq(a->req.keys_len, b->req.keys_len);
    ck_assert_int_eq(a->value, b->value);
    ck_assert_uint_eq(a->req.vlen, b->req.vlen);
    ck_assert_uint_eq(a->req.flags, b->req.flags);
    ck_assert(a->req.exptime == b->req.exptime);
    ck_assert(a->req.cas == b->req.cas);
    ck_assert(a->req.delta == b->req.delta);
    ck_assert(a->req.num == b->req.num);
    ck_assert_int_eq(a->req.has_num, b->req.has_num);
    ck_assert_int_eq(a->req.graceful, b->req.graceful);
    ck_assert_int_eq(a->arg, b->arg);
    ck_assert_uint_eq(a->req.narg, b->req.narg);
}

void
assert_prefixes_need_more(const char *in, size_t len, size_t total)
{
    size_t i;

    for (i = 0; i < len; i++) {
        struct request req;
        size_t consumed = 99;
        int rc = parse_n(in, i, &req, &consumed);

        ck_assert_msg(rc == PROTO_NEED_MORE, "prefix %zu of %.*s: rc %d",
                      i, (int)len, in, rc);
        ck_assert_uint_eq(consumed, 0);
        ck_assert(req.need == 0 || req.need == total);
    }
}

/* Compare a string field of the request with EXPECT (NULL: unset). */
static void
assert_field(const char *got, size_t n, const char *expect,
             const char *what)
{
    if (expect == NULL) {
        ck_assert_msg(got == NULL && n == 0, "%s should be unset", what);
        return;
    }
    ck_assert_msg(got != NULL, "%s is unset", what);
    ck_assert_msg(n == strlen(expect) && memcmp(got, expect, n) == 0,
                  "%s: got '%.*s', want '%s'", what, (int)n, got, expect);
}

struct ok_case {
    const char *in;
    enum proto_cmd cmd;
    bool noreply;
    const char *key;
    const char *keys;
    uint32_t flags;
    int64_t exptime;
    const char *value;
    uint64_t cas;
    uint64_t delta;
    bool has_num;
    int64_t num;
    bool graceful;
    const char *arg;
};

static const struct ok_case ok_cases[] = {
    {.in = "get k\r\n", .cmd = PROTO_CMD_GET, .keys = "k"},
    {.in = "get a b c\r\n", .cmd = PROTO_CMD_GET, .keys = "a b c"},
    {.in = "  get  a   b \r\n", .cmd = PROTO_CMD_GET, .keys = "a   b"},
    {.in = "gets k\n", .cmd = PROTO_CMD_GETS, .keys = "k"},
    {.in = "bget k\r\n", .cmd = PROTO_CMD_GET, .keys = "k"},
    {.in = "get \xc3\xa9t\xc3\xa9\r\n", .cmd = PROTO_CMD_GET,
     .keys = "\xc3\xa9t\xc3\xa9"},
    {.in = "get noreply\r\n", .cmd = PROTO_CMD_GET, .keys = "noreply"},
    {.in = "gat 100 a b\r\n", .cmd = PROTO_CMD_GAT, .exptime = 100,
     .keys = "a b"},
    {.in = "gats -1 k\r\n", .cmd = PROTO_CMD_GATS, .exptime = -1,
     .keys = "k"},
    /* memcached answers a keyless gat with "END" */
    {.in = "gat 10\r\n", .cmd = PROTO_CMD_GAT, .exptime = 10, .keys = ""},
    {.in = "set k 5 100 3\r\nabc\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .flags = 5, .exptime = 100, .value = "abc"},
    {.in = "set k 5 100 3 noreply\r\nabc\r\n", .cmd = PROTO_CMD_SET,
     .noreply = true, .key = "k", .flags = 5, .exptime = 100,
     .value = "abc"},
    {.in = "add k 1 2 1\r\nx\r\n", .cmd = PROTO_CMD_ADD, .key = "k",
     .flags = 1, .exptime = 2, .value = "x"},
    {.in = "add k 1 2 1 noreply\r\nx\r\n", .cmd = PROTO_CMD_ADD,
     .noreply = true, .key = "k", .flags = 1, .exptime = 2, .value = "x"},
    {.in = "replace k 0 0 2\r\nxy\r\n", .cmd = PROTO_CMD_REPLACE,
     .key = "k", .value = "xy"},
    {.in = "replace k 0 0 2 noreply\r\nxy\r\n", .cmd = PROTO_CMD_REPLACE,
     .noreply = true, .key = "k", .value = "xy"},
    {.in = "append k 0 0 2\r\nxy\r\n", .cmd = PROTO_CMD_APPEND,
     .key = "k", .value = "xy"},
    {.in = "append k 0 0 2 noreply\r\nxy\r\n", .cmd = PROTO_CMD_APPEND,
     .noreply = true, .key = "k", .value = "xy"},
    {.in = "prepend k 0 0 2\r\nxy\r\n", .cmd = PROTO_CMD_PREPEND,
     .key = "k", .value = "xy"},
    {.in = "prepend k 0 0 2 noreply\r\nxy\r\n", .cmd = PROTO_CMD_PREPEND,
     .noreply = true, .key = "k", .value = "xy"},
    {.in = "cas k 1 2 3 99\r\nabc\r\n", .cmd = PROTO_CMD_CAS, .key = "k",
     .flags = 1, .exptime = 2, .value = "abc", .cas = 99},
    {.in = "cas k 1 2 3 18446744073709551615 noreply\r\nabc\r\n",
     .cmd = PROTO_CMD_CAS, .noreply = true, .key = "k", .flags = 1,
     .exptime = 2, .value = "abc", .cas = UINT64_MAX},
    /* memcached ignores a last token that is not "noreply" */
    {.in = "cas k 0 0 1 5 junk\r\nx\r\n", .cmd = PROTO_CMD_CAS, .key = "k",
     .value = "x", .cas = 5},
    {.in = "set k 0 0 1 junk\r\nx\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = "x"},
    {.in = "set k 0 0 0\r\n\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = ""},
    {.in = "set k 0 0 4\r\na\r\nb\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = "a\r\nb"},
    {.in = "set  k  0  0  1 \r\nx\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = "x"},
    {.in = "set k 0 0 1\nx\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = "x"},
    {.in = "set k 4294967295 -1 1\r\nx\r\n", .cmd = PROTO_CMD_SET,
     .key = "k", .flags = UINT32_MAX, .exptime = -1, .value = "x"},
    /* strtoul-style numbers, as memcached accepts them */
    {.in = "set k -0 +5 1\r\nx\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .exptime = 5, .value = "x"},
    {.in = "set k 0 0 1\t\r\nx\r\n", .cmd = PROTO_CMD_SET, .key = "k",
     .value = "x"},
    {.in = "set k 0 9223372036854775807 1\r\nx\r\n", .cmd = PROTO_CMD_SET,
     .key = "k", .exptime = INT64_MAX, .value = "x"},
    {.in = "set k 0 -9223372036854775808 1\r\nx\r\n", .cmd = PROTO_CMD_SET,
     .key = "k", .exptime = INT64_MIN, .value = "x"},
    {.in = "incr k 5\r\n", .cmd = PROTO_CMD_INCR, .key = "k", .delta = 5},
    {.in = "incr k 5 noreply\r\n", .cmd = PROTO_CMD_INCR, .noreply = true,
     .key = "k", .delta = 5},
    {.in = "incr k 1 junk\r\n", .cmd = PROTO_CMD_INCR, .key = "k",
     .delta = 1},
    {.in = "decr k 18446744073709551615\r\n", .cmd = PROTO_CMD_DECR,
     .key = "k", .delta = UINT64_MAX},
    {.in = "decr k 0 noreply\r\n", .cmd = PROTO_CMD_DECR, .noreply = true,
     .key = "k"},
    {.in = "delete k\r\n", .cmd = PROTO_CMD_DELETE, .key = "k"},
    {.in = "delete k noreply\r\n", .cmd = PROTO_CMD_DELETE, .noreply = true,
     .key = "k"},
    {.in = "delete k 0\r\n", .cmd = PROTO_CMD_DELETE, .key = "k"},
    {.in = "delete k 0 noreply\r\n", .cmd = PROTO_CMD_DELETE,
     .noreply = true, .key = "k"},
    {.in = "touch k 10\r\n", .cmd = PROTO_CMD_TOUCH, .key = "k",
     .exptime = 10},
    {.in = "touch k 10 noreply\r\n", .cmd = PROTO_CMD_TOUCH,
     .noreply = true, .key = "k", .exptime = 10},
    {.in = "touch k -1 junk\r\n", .cmd = PROTO_CMD_TOUCH, .key = "k",
     .exptime = -1},
    {.in = "flush_all\r\n", .cmd = PROTO_CMD_FLUSH_ALL},
    {.in = "flush_all noreply\r\n", .cmd = PROTO_CMD_FLUSH_ALL,
     .noreply = true},
    {.in = "flush_all 10\r\n", .cmd = PROTO_CMD_FLUSH_ALL, .has_num = true,
     .num = 10},
    {.in = "flush_all -1 noreply\r\n", .cmd = PROTO_CMD_FLUSH_ALL,
     .noreply = true, .has_num = true, .num = -1},
    {.in = "verbosity 1\r\n", .cmd = PROTO_CMD_VERBOSITY, .has_num = true,
     .num = 1},
    {.in = "verbosity 1 noreply\r\n", .cmd = PROTO_CMD_VERBOSITY,
     .noreply = true, .has_num = true, .num = 1},
    {.in = "verbosity 2 junk\r\n", .cmd = PROTO_CMD_VERBOSITY,
     .has_num = true, .num = 2},
    {.in = "verbosity 18446744073709551615\r\n", .cmd = PROTO_CMD_VERBOSITY,
     .has_num = true, .num = INT64_MAX},
    {.in = "version\r\n", .cmd = PROTO_CMD_VERSION},
    {.in = "version junk\r\n", .cmd = PROTO_CMD_VERSION},
    {.in = "quit\r\n", .cmd = PROTO_CMD_QUIT},
    {.in = "quit now\n", .cmd = PROTO_CMD_QUIT},
    {.in = "stats\r\n", .cmd = PROTO_CMD_STATS, .arg = ""},
    {.in = "stats  items \r\n", .cmd = PROTO_CMD_STATS, .arg = "items"},
    {.in = "stats cachedump 1 2\r\n", .cmd = PROTO_CMD_STATS,
     .arg = "cachedump 1 2"},
    {.in = "shutdown\r\n", .cmd = PROTO_CMD_SHUTDOWN},
    {.in = "shutdown graceful\r\n", .cmd = PROTO_CMD_SHUTDOWN,
     .graceful = true},
    {.in = "snapshot\r\n", .cmd = PROTO_CMD_SNAPSHOT},
    {.in = "snapshot noreply\r\n", .cmd = PROTO_CMD_SNAPSHOT,
     .noreply = true},
    {.in = "lru_crawler metadump all\r\n", .cmd = PROTO_CMD_METADUMP,
     .arg = "all"},
    {.in = "lru_crawler  metadump 1,,63 \r\n", .cmd = PROTO_CMD_METADUMP,
     .arg = "1,,63"},
    {.in = "lru_crawler crawl all\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "lru_crawler crawl"},
    {.in = "slabs reassign 1 2\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "slabs reassign"},
    {.in = "slabs reassign -1 +2\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "slabs reassign"},
    {.in = "slabs automove 0\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "slabs automove"},
    {.in = "slabs  automove 2 extra\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "slabs  automove"},
    {.in = "watch\r\n", .cmd = PROTO_CMD_UNSUPPORTED, .arg = "watch"},
    {.in = "lru mode flat\r\n", .cmd = PROTO_CMD_UNSUPPORTED, .arg = "lru"},
    {.in = "cache_memlimit 100\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "cache_memlimit"},
    {.in = "extstore x\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "extstore"},
    {.in = "mcp_config_routes\r\n", .cmd = PROTO_CMD_UNSUPPORTED,
     .arg = "mcp_config_routes"},
};

#define N_OK (sizeof(ok_cases) / sizeof(ok_cases[0]))

static void
assert_ok_case(const struct ok_case *c, const struct request *req)
{
    ck_assert_msg(req->cmd == c->cmd, "%s: cmd %d", c->in, req->cmd);
    ck_assert_int_eq(req->err, PROTO_ERR_NONE);
    ck_assert_int_eq(req->noreply, c->noreply);
    assert_field(req->key, req->nkey, c->key, "key");
    assert_field(req->keys, req->keys_len, c->keys, "keys");
    assert_field(req->value, req->vlen, c->value, "value");
    assert_field(req->arg, req->narg, c->arg, "arg");
    ck_assert_uint_eq(req->flags, c->flags);
    ck_assert_msg(req->exptime == c->exptime, "%s: exptime", c->in);
    ck_assert(req->cas == c->cas);
    ck_assert(req->delta == c->delta);
    ck_assert_int_eq(req->has_num, c->has_num);
    ck_assert(req->num == c->num);
    ck_assert_int_eq(req->graceful, c->graceful);
    ck_assert_uint_eq(req->swallow, 0);
}

/* Each valid request, whole: OK, every field as memcached reads it. */
START_TEST(test_ok_fields)
{
    const struct ok_case *c = &ok_cases[_i];
    struct request req;
    size_t consumed;
    size_t len = strlen(c->in);

    ck_assert_int_eq(parse_s(c->in, &req, &consumed), PROTO_OK);
    ck_assert_uint_eq(consumed, len);
    assert_ok_case(c, &req);
}
END_TEST

/* Each valid request split at every byte: NEED_MORE for every prefix,
 * and storage commands announce their full size once the line is in. */
START_TEST(test_ok_split)
{
    const struct ok_case *c = &ok_cases[_i];
    size_t len = strlen(c->in);
    struct view whole = view_of(c->in, len);
    struct view again;

    ck_assert_int_eq(whole.rc, PROTO_OK);
    assert_prefixes_need_more(c->in, len, len);
    if (c->value != NULL) {
        size_t line = len - strlen(c->value) - 2;
        struct request req;
        size_t consumed;

        ck_assert_int_eq(parse_n(c->in, line, &req, &consumed),
                         PROTO_NEED_MORE);
        ck_assert_uint_eq(req.need, len);
    }
    again = view_of(c->in, len);
    assert_same(&whole, &again);
}
END_TEST

/* All valid requests back to back, three times over, in one buffer. */
START_TEST(test_pipeline)
{
    size_t total = 0;
    size_t pos = 0;
    size_t n = 0;
    size_t i;
    char *buf;

    for (i = 0; i < N_OK; i++) {
        total += 3 * strlen(ok_cases[i].in);
    }
    buf = malloc(total);
    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < 3 * N_OK; i++) {
        const char *in = ok_cases[i % N_OK].in;

        memcpy(buf + pos, in, strlen(in));
        pos += strlen(in);
    }
    for (pos = 0; pos < total; n++) {
        struct request req;
        size_t consumed;
        int rc = proto_text_parse(&lim, buf + pos, total - pos, &req,
                                  &consumed);

        ck_assert_int_eq(rc, PROTO_OK);
        ck_assert_uint_eq(consumed, strlen(ok_cases[n % N_OK].in));
        assert_ok_case(&ok_cases[n % N_OK], &req);
        pos += consumed;
    }
    ck_assert_uint_eq(n, 3 * N_OK);
    free(buf);
}
END_TEST

/* get's key list walks with proto_next_key, in order, and only there. */
START_TEST(test_next_key)
{
    struct request req;
    size_t consumed;
    const char *pos;
    const char *end;
    const char *key;
    size_t nkey;

    ck_assert_int_eq(parse_s("get  alpha b   gamma \r\n", &req, &consumed),
                     PROTO_OK);
    pos = req.keys;
    end = req.keys + req.keys_len;
    ck_assert(proto_next_key(&pos, end, &key, &nkey));
    ck_assert(nkey == 5 && memcmp(key, "alpha", 5) == 0);
    ck_assert(proto_next_key(&pos, end, &key, &nkey));
    ck_assert(nkey == 1 && key[0] == 'b');
    ck_assert(proto_next_key(&pos, end, &key, &nkey));
    ck_assert(nkey == 5 && memcmp(key, "gamma", 5) == 0);
    ck_assert(!proto_next_key(&pos, end, &key, &nkey));
    ck_assert(!proto_next_key(&pos, end, &key, &nkey));
}
END_TEST

struct err_case {
    const char *in;
    enum proto_err err;
    enum proto_cmd cmd;
    bool noreply;
    size_t consumed;            /* 0: the whole input */
    size_t len;                 /* 0: strlen(in) */
};

static const struct err_case err_cases[] = {
    {"\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"\r\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {" \r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"a\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"GET k\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"Set k 0 0 1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"mget k\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"memlimit 10\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    /* meta commands are tested in check_proto_meta; these stay ERROR */
    {"mx k\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"mg\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_MG, false, 0, 0},
    {"ver\0sion\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 10},
    {"get\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_GET, false, 0, 0},
    {"get \r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_GET, false, 0, 0},
    {"gets\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_GETS, false, 0, 0},
    {"gat\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_GAT, false, 0, 0},
    {"gat abc k\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_GAT, false, 0, 0},
    /* lru_crawler: memcached 1.6.18's argument checks */
    {"lru_crawler\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED, false, 0,
     0},
    {"lru_crawler metadump\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"lru_crawler metadump all x\r\n", PROTO_ERR_UNKNOWN,
     PROTO_CMD_UNSUPPORTED, false, 0, 0},
    {"lru_crawler metadump 1,x\r\n", PROTO_ERR_BADCLASS,
     PROTO_CMD_METADUMP, false, 0, 0},
    {"lru_crawler metadump 256\r\n", PROTO_ERR_BADCLASS,
     PROTO_CMD_METADUMP, false, 0, 0},
    {"lru_crawler metadump ,,\r\n", PROTO_ERR_NOTSTARTED,
     PROTO_CMD_METADUMP, false, 0, 0},
    /* slabs: memcached 1.6.18's argument checks */
    {"slabs\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED, false, 0, 0},
    {"slabs foo\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED, false, 0,
     0},
    {"slabs automove\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED, false,
     0, 0},
    {"slabs automove 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs automove x\r\n", PROTO_ERR_FORMAT, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs automove -1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs automove 1x\r\n", PROTO_ERR_FORMAT, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs reassign\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED, false,
     0, 0},
    {"slabs reassign 1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs reassign x y\r\n", PROTO_ERR_FORMAT, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"slabs reassign 1 4294967296\r\n", PROTO_ERR_FORMAT,
     PROTO_CMD_UNSUPPORTED, false, 0, 0},
    {"slabs reassign 1 2 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_UNSUPPORTED,
     false, 0, 0},
    {"gats 1x k\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_GATS, false, 0, 0},
    {"set k 0 0\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 1 2 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 1 2 noreply\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_SET, false,
     0, 0},
    {"cas k 0 0 1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_CAS, false, 0, 0},
    {"cas k 0 0 1 5 a b\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_CAS, false, 0, 0},
    {"set k -1 0 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    /* memcached truncates this to 0; ember refuses it */
    {"set k 4294967296 0 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 5a 0 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 x 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 9223372036854775808 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET,
     false, 0, 0},
    {"set k 0 -9223372036854775809 1\r\n", PROTO_ERR_FORMAT,
     PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 -1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 abc\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 \t\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 2147483646\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0\t1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 noreply\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, true, 0, 0},
    {"set k -1 0 1 noreply\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, true, 0, 0},
    {"append k 0 0 x\r\n", PROTO_ERR_FORMAT, PROTO_CMD_APPEND, false, 0, 0},
    {"cas k 0 0 1 abc\r\n", PROTO_ERR_FORMAT, PROTO_CMD_CAS, false, 0, 0},
    {"cas k 0 0 1 -1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_CAS, false, 0, 0},
    {"cas k 0 0 1 18446744073709551616\r\n", PROTO_ERR_FORMAT,
     PROTO_CMD_CAS, false, 0, 0},
    {"set k 0 0 1 noreply\r\nab\r\n", PROTO_ERR_BAD_CHUNK, PROTO_CMD_SET,
     true, 24, 0},
    {"set k 0 0 1\r\nab\r\n", PROTO_ERR_BAD_CHUNK, PROTO_CMD_SET, false,
     16, 0},
    {"set k 0 0 1\r\na\nb", PROTO_ERR_BAD_CHUNK, PROTO_CMD_SET, false, 0, 0},
    {"set k 0 0 0\r\n\n\r\n", PROTO_ERR_BAD_CHUNK, PROTO_CMD_SET, false,
     15, 0},
    {"incr k abc\r\n", PROTO_ERR_DELTA, PROTO_CMD_INCR, false, 0, 0},
    {"incr k -1\r\n", PROTO_ERR_DELTA, PROTO_CMD_INCR, false, 0, 0},
    {"incr k 18446744073709551616\r\n", PROTO_ERR_DELTA, PROTO_CMD_INCR,
     false, 0, 0},
    {"decr k abc noreply\r\n", PROTO_ERR_DELTA, PROTO_CMD_DECR, true, 0, 0},
    {"incr k noreply\r\n", PROTO_ERR_DELTA, PROTO_CMD_INCR, true, 0, 0},
    {"incr k\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_INCR, false, 0, 0},
    {"decr k 1 2 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_DECR, false, 0, 0},
    {"decr k 1 2 noreply\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_DECR, false,
     0, 0},
    {"delete\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_DELETE, false, 0, 0},
    {"delete k 1\r\n", PROTO_ERR_DELETE_USAGE, PROTO_CMD_DELETE, false, 0, 0},
    {"delete k junk\r\n", PROTO_ERR_DELETE_USAGE, PROTO_CMD_DELETE, false,
     0, 0},
    {"delete k 0 0\r\n", PROTO_ERR_DELETE_USAGE, PROTO_CMD_DELETE, false,
     0, 0},
    {"delete k 1 noreply\r\n", PROTO_ERR_DELETE_USAGE, PROTO_CMD_DELETE,
     true, 0, 0},
    {"delete a b c d\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_DELETE, false, 0, 0},
    {"touch k\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_TOUCH, false, 0, 0},
    {"touch k abc\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_TOUCH, false, 0, 0},
    {"touch k abc noreply\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_TOUCH, true,
     0, 0},
    {"flush_all abc\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_FLUSH_ALL, false, 0, 0},
    {"flush_all noreply 10\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_FLUSH_ALL,
     false, 0, 0},
    {"flush_all abc noreply\r\n", PROTO_ERR_EXPTIME, PROTO_CMD_FLUSH_ALL,
     true, 0, 0},
    {"flush_all 1 2 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_FLUSH_ALL, false,
     0, 0},
    {"verbosity\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_VERBOSITY, false, 0, 0},
    {"verbosity abc\r\n", PROTO_ERR_FORMAT, PROTO_CMD_VERBOSITY, false, 0, 0},
    {"verbosity -1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_VERBOSITY, false, 0, 0},
    {"verbosity noreply\r\n", PROTO_ERR_FORMAT, PROTO_CMD_VERBOSITY, true,
     0, 0},
    {"verbosity 1 2 3\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_VERBOSITY, false,
     0, 0},
    {"shutdown junk\r\n", PROTO_ERR_SHUTDOWN_MODE, PROTO_CMD_SHUTDOWN,
     false, 0, 0},
    {"shutdown a b\r\n", PROTO_ERR_SHUTDOWN_MODE, PROTO_CMD_SHUTDOWN, false,
     0, 0},
    {"snapshot now\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SNAPSHOT, false, 0, 0},
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", PROTO_ERR_HTTP, PROTO_CMD_NONE,
     false, 16, 0},
    {"POST /x HTTP/1.0\r\n", PROTO_ERR_HTTP, PROTO_CMD_NONE, false, 0, 0},
    {"HTTP/1.1\r\n", PROTO_ERR_HTTP, PROTO_CMD_NONE, false, 0, 0},
    {"foo HTTP/2 \r\n", PROTO_ERR_HTTP, PROTO_CMD_NONE, false, 0, 0},
    {"foo HTTP\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"abc / HTTP/1.1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"0 HTTP/1.1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"mx HTTP/1.1\r\n", PROTO_ERR_UNKNOWN, PROTO_CMD_NONE, false, 0, 0},
    {"mxy HTTP/1.1\r\n", PROTO_ERR_HTTP, PROTO_CMD_NONE, false, 0, 0},
    /* keys with control characters: memcached takes them, ember not */
    {"get a\tb\r\n", PROTO_ERR_FORMAT, PROTO_CMD_GET, false, 0, 0},
    {"get a b\x01\r\n", PROTO_ERR_FORMAT, PROTO_CMD_GET, false, 0, 0},
    {"get a\x7f\r\n", PROTO_ERR_FORMAT, PROTO_CMD_GET, false, 0, 0},
    {"get a\rb\r\n", PROTO_ERR_FORMAT, PROTO_CMD_GET, false, 0, 0},
    {"get k\r\r\n", PROTO_ERR_FORMAT, PROTO_CMD_GET, false, 0, 0},
    {"set a\tb 0 0 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_SET, false, 0, 0},
    {"delete a\x1b\r\n", PROTO_ERR_FORMAT, PROTO_CMD_DELETE, false, 0, 0},
    {"incr a\x01 1 noreply\r\n", PROTO_ERR_FORMAT, PROTO_CMD_INCR, true, 0, 0},
    {"touch \x02 1\r\n", PROTO_ERR_FORMAT, PROTO_CMD_TOUCH, false, 0, 0},
};

#define N_ERR (sizeof(err_cases) / sizeof(err_cases[0]))

/* Each malformed request: the error memcached answers, who must stay
 * quiet, what is dropped; and no prefix ever gives another answer. */
START_TEST(test_errors)
{
    const struct err_case *c = &err_cases[_i];
    size_t len = c->len ? c->len : strlen(c->in);
    size_t want = c->consumed ? c->consumed : len;
    struct request req;
    size_t consumed;
    size_t i;

    ck_assert_msg(parse_n(c->in, len, &req, &consumed) == PROTO_EINVALID,
                  "%s: not refused", c->in);
    ck_assert_msg(req.err == c->err, "%s: err %d, want %d", c->in, req.err,
                  c->err);
    ck_assert_msg(req.cmd == c->cmd, "%s: cmd %d", c->in, req.cmd);
    ck_assert_msg(req.noreply == c->noreply, "%s: noreply", c->in);
    ck_assert_uint_eq(consumed, want);
    ck_assert_uint_eq(req.swallow, 0);
    /* answered with a line (compose_proto_err), or HTTP's silent close */
    ck_assert(req.err != PROTO_ERR_NONE);
    ck_assert(req.err != PROTO_ERR_LINE_TOO_LONG);
    ck_assert(req.err != PROTO_ERR_BINARY);
    for (i = 0; i < len; i++) {
        int rc = parse_n(c->in, i, &req, &consumed);

        ck_assert(rc == PROTO_NEED_MORE
                  || (rc == PROTO_EINVALID && req.err == c->err
                      && consumed == want));
    }
}
END_TEST

/* The data block is vlen + 2 bytes, whatever they hold; what follows is
 * the next command (memcached then answers the stray bytes "ERROR"). */
START_TEST(test_bad_chunk_resync)
{
    static const char in[] = "set k 0 0 1\r\nab\r\nget k\r\n";
    struct request req;
    size_t consumed;
    size_t pos;

    ck_assert_int_eq(parse_s(in, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_BAD_CHUNK);
    pos = consumed;
    ck_assert_int_eq(parse_s(in + pos, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_UNKNOWN);
    ck_assert_uint_eq(consumed, 1);
    pos += consumed;
    ck_assert_int_eq(parse_s(in + pos, &req, &consumed), PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_GET);
    ck_assert_uint_eq(pos + consumed, strlen(in));
}
END_TEST

/* A malformed storage line is not followed by a swallow: memcached
 * reads its data block as a command. */
START_TEST(test_format_no_swallow)
{
    static const char in[] = "set k 0 0 -1\r\nabc\r\n";
    struct request req;
    size_t consumed;

    ck_assert_int_eq(parse_s(in, &req, &consumed), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_FORMAT);
    ck_assert_uint_eq(consumed, 14);
    ck_assert_uint_eq(req.swallow, 0);
    ck_assert_int_eq(parse_s(in + consumed, &req, &consumed),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_UNKNOWN);
}
END_TEST

START_TEST(test_binary)
{
    static const char in[] = "\x80\x01\x00\x00";
    struct request req;
    size_t consumed;
    size_t n;

    for (n = 1; n <= 4; n++) {
        ck_assert_int_eq(parse_n(in, n, &req, &consumed), PROTO_EINVALID);
        ck_assert_int_eq(req.err, PROTO_ERR_BINARY);
    }
    ck_assert_int_eq(parse_n(in, 0, &req, &consumed), PROTO_NEED_MORE);
}
END_TEST

static Suite *
proto_text_suite(void)
{
    Suite *s = suite_create("proto_text");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_loop_test(core, test_ok_fields, 0, N_OK);
    tcase_add_loop_test(core, test_ok_split, 0, N_OK);
    tcase_add_test(core, test_pipeline);
    tcase_add_test(core, test_next_key);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 120);
    add_limit_tests(limits);
    add_piece_tests(limits);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(errors, 300);
    tcase_add_loop_test(errors, test_errors, 0, N_ERR);
    tcase_add_test(errors, test_bad_chunk_resync);
    tcase_add_test(errors, test_format_no_swallow);
    tcase_add_test(errors, test_binary);
    add_fuzz_tests(errors);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(proto_text_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
