/*
 * check_compose.c -- daemon/compose.c: every reply text byte for byte,
 * the longest meta line, replies far beyond the first buffer, and what
 * happens when the reply cannot grow.
 *
 * Allocation failures are injected by linking this suite with
 * -Wl,--wrap=realloc (reply.c grows its buffers with realloc only):
 * fail_realloc_in(N) makes the Nth realloc from now return NULL.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/compose.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "storage/store.h"

/* ---- realloc failure injection --------------------------------------- */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static unsigned realloc_countdown;  /* 0: off; 1: fail the next call */

void *
__wrap_realloc(void *p, size_t n)
{
    if (realloc_countdown > 0 && --realloc_countdown == 0) {
        return NULL;
    }
    return __real_realloc(p, n);
}

static void
fail_realloc_in(unsigned n)
{
    realloc_countdown = n;
}

/* ---- fixture ---------------------------------------------------------- */

static struct store *st;
static struct reply r;
static char *flat;          /* flattened reply, NUL-terminated */
static size_t nflat;

static void
setup(void)
{
    struct store_config cfg;
    int err = 0;

    store_config_default(&cfg);
    cfg.mem_limit = (size_t)8 << 20;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    reply_init(&r);
    flat = NULL;
    nflat = 0;
    realloc_countdown = 0;
}

static void
teardown(void)
{
    realloc_countdown = 0;
    reply_release(&r);
    free(flat);
    store_destroy(&st);
}

/* Every unsent byte of R (text and item values) in order. */
static const char *
out(void)
{
    size_t i;
    const struct reply_seg *s;

    free(flat);
    flat = malloc(r.pending + 1);
    ck_assert_ptr_nonnull(flat);
    nflat = 0;
    for (i = r.sent_seg; i < r.nsegs; i++) {
        s = &r.segs[i];
        memcpy(flat + nflat, s->it != NULL ? s->base : r.text + s->off,
               s->len);
        nflat += s->len;
    }
    ck_assert_uint_eq(nflat, r.pending);
    flat[nflat] = '\0';
    return flat;
}

/* OUT() == WANT, then empty R for the next check. */
#define CHECK_OUT(want)                                                  \
    do {                                                                 \
        ck_assert_str_eq(out(), (want));                                 \
        reply_release(&r);                                               \
    } while (0)

static struct item *
new_item(const char *key, size_t nkey, uint32_t flags, const char *value)
{
    size_t nvalue = strlen(value);
    int rc = 0;
    struct item *it = store_alloc(st, key, nkey, flags, 0,
                                  (uint32_t)nvalue, false, &rc);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value_mut(it), value, nvalue);
    return it;
}

static void
add_used(void *arg, const struct store_class_stats *cs)
{
    *(uint64_t *)arg += cs->used_chunks;
}

/* Chunks handed out: an item allocated and not yet unreferenced. */
static uint64_t
used_chunks(void)
{
    uint64_t n = 0;

    store_class_stats(st, add_used, &n);
    return n;
}

/* ---- core ------------------------------------------------------------ */

static const struct {
    enum compose_line line;
    const char *text;
} line_texts[] = {
    {COMPOSE_END, "END\r\n"},
    {COMPOSE_STORED, "STORED\r\n"},
    {COMPOSE_NOT_STORED, "NOT_STORED\r\n"},
    {COMPOSE_EXISTS, "EXISTS\r\n"},
    {COMPOSE_NOT_FOUND, "NOT_FOUND\r\n"},
    {COMPOSE_DELETED, "DELETED\r\n"},
    {COMPOSE_TOUCHED, "TOUCHED\r\n"},
    {COMPOSE_OK, "OK\r\n"},
    {COMPOSE_RESET, "RESET\r\n"},
    {COMPOSE_ERROR, "ERROR\r\n"},
    {COMPOSE_VERSION, "VERSION 1.6.18-ember-" PACKAGE_VERSION "\r\n"},
    {COMPOSE_MN, "MN\r\n"},
    {COMPOSE_EN, "EN\r\n"},
    {COMPOSE_SHUTDOWN_DISABLED, "ERROR: shutdown not enabled\r\n"},
    {COMPOSE_FORMAT, "CLIENT_ERROR bad command line format\r\n"},
    {COMPOSE_BAD_CHUNK, "CLIENT_ERROR bad data chunk\r\n"},
    {COMPOSE_NON_NUMERIC, "CLIENT_ERROR cannot increment or decrement "
                          "non-numeric value\r\n"},
    {COMPOSE_DELTA, "CLIENT_ERROR invalid numeric delta argument\r\n"},
    {COMPOSE_EXPTIME, "CLIENT_ERROR invalid exptime argument\r\n"},
    {COMPOSE_DELETE_USAGE, "CLIENT_ERROR bad command line format.  "
                           "Usage: delete <key> [noreply]\r\n"},
    {COMPOSE_SHUTDOWN_MODE, "CLIENT_ERROR invalid shutdown mode\r\n"},
    {COMPOSE_FLUSH_DISABLED, "CLIENT_ERROR flush_all not allowed\r\n"},
    {COMPOSE_META_FLAG, "CLIENT_ERROR invalid flag\r\n"},
    {COMPOSE_META_DUP, "CLIENT_ERROR duplicate flag\r\n"},
    {COMPOSE_META_FLAG_OR_DUP, "CLIENT_ERROR invalid or duplicate flag\r\n"},
    {COMPOSE_META_TOKEN, "CLIENT_ERROR bad token in command line "
                         "format\r\n"},
    {COMPOSE_META_DELTA, "CLIENT_ERROR invalid numeric delta value\r\n"},
    {COMPOSE_META_INITIAL, "CLIENT_ERROR invalid numeric initial value\r\n"},
    {COMPOSE_META_OPAQUE, "CLIENT_ERROR opaque token too long\r\n"},
    {COMPOSE_META_MG_TOO_MANY, "CLIENT_ERROR options flags are too "
                               "long\r\n"},
    {COMPOSE_META_TOO_MANY, "CLIENT_ERROR options flags too long\r\n"},
    {COMPOSE_META_M_LEN, "CLIENT_ERROR incorrect length for M token\r\n"},
    {COMPOSE_META_MS_MODE, "CLIENT_ERROR invalid mode for ms M token\r\n"},
    {COMPOSE_META_MA_MODE, "CLIENT_ERROR invalid mode for ma M token\r\n"},
    {COMPOSE_META_KEY, "CLIENT_ERROR error decoding key\r\n"},
    {COMPOSE_TOO_LARGE, "SERVER_ERROR object too large for cache\r\n"},
    {COMPOSE_STORE_NO_MEMORY, "SERVER_ERROR out of memory storing "
                              "object\r\n"},
    {COMPOSE_NO_MEMORY, "SERVER_ERROR out of memory\r\n"},
    {COMPOSE_SNAPSHOT_DISABLED, "SERVER_ERROR snapshots are not enabled "
                                "(start emberd with --snapshot-dir)\r\n"},
    {COMPOSE_BADCLASS, "BADCLASS invalid class id\r\n"},
    {COMPOSE_NOTSTARTED, "NOTSTARTED no items to crawl\r\n"},
    {COMPOSE_METADUMP_DISABLED, "ERROR metadump not allowed\r\n"},
    {COMPOSE_CACHEDUMP_DISABLED, "CLIENT_ERROR stats cachedump not "
                                 "allowed\r\n"},
    {COMPOSE_BAD_LINE, "CLIENT_ERROR bad command line\r\n"},
    {COMPOSE_ILLEGAL_SLAB, "CLIENT_ERROR Illegal slab id\r\n"},
};

START_TEST(test_lines)
{
    size_t i;

    ck_assert_uint_eq(sizeof(line_texts) / sizeof(line_texts[0]),
                      COMPOSE_LINE_COUNT);
    for (i = 0; i < COMPOSE_LINE_COUNT; i++) {
        ck_assert_int_eq(line_texts[i].line, (int)i);
        compose_line(&r, line_texts[i].line);
        CHECK_OUT(line_texts[i].text);
    }
}
END_TEST

/* What memcached 1.6.18 answers each parser error with (observed). */
START_TEST(test_proto_errors)
{
    static const struct {
        enum proto_err err;
        const char *text;       /* NULL: the connection is closed */
    } cases[] = {
        {PROTO_ERR_NONE, NULL},
        {PROTO_ERR_UNKNOWN, "ERROR\r\n"},
        {PROTO_ERR_FORMAT, "CLIENT_ERROR bad command line format\r\n"},
        {PROTO_ERR_BAD_CHUNK, "CLIENT_ERROR bad data chunk\r\n"},
        {PROTO_ERR_TOO_LARGE, "SERVER_ERROR object too large for "
                              "cache\r\n"},
        {PROTO_ERR_LINE_TOO_LONG, NULL},
        {PROTO_ERR_HTTP, NULL},
        {PROTO_ERR_BINARY, NULL},
        {PROTO_ERR_DELTA, "CLIENT_ERROR invalid numeric delta "
                          "argument\r\n"},
        {PROTO_ERR_EXPTIME, "CLIENT_ERROR invalid exptime argument\r\n"},
        {PROTO_ERR_DELETE_USAGE, "CLIENT_ERROR bad command line format.  "
                                 "Usage: delete <key> [noreply]\r\n"},
        {PROTO_ERR_SHUTDOWN_MODE, "CLIENT_ERROR invalid shutdown mode\r\n"},
        {PROTO_ERR_META_FLAG, "CLIENT_ERROR invalid flag\r\n"},
        {PROTO_ERR_META_DUP, "CLIENT_ERROR duplicate flag\r\n"},
        {PROTO_ERR_META_FLAG_OR_DUP, "CLIENT_ERROR invalid or duplicate "
                                     "flag\r\n"},
        {PROTO_ERR_META_TOKEN, "CLIENT_ERROR bad token in command line "
                               "format\r\n"},
        {PROTO_ERR_META_DELTA, "CLIENT_ERROR invalid numeric delta "
                               "value\r\n"},
        {PROTO_ERR_META_INITIAL, "CLIENT_ERROR invalid numeric initial "
                                 "value\r\n"},
        {PROTO_ERR_META_OPAQUE, "CLIENT_ERROR opaque token too long\r\n"},
        {PROTO_ERR_META_MG_TOO_MANY, "CLIENT_ERROR options flags are too "
                                     "long\r\n"},
        {PROTO_ERR_META_TOO_MANY, "CLIENT_ERROR options flags too "
                                  "long\r\n"},
        {PROTO_ERR_META_M_LEN, "CLIENT_ERROR incorrect length for M "
                               "token\r\n"},
        {PROTO_ERR_META_MS_MODE, "CLIENT_ERROR invalid mode for ms M "
                                 "token\r\n"},
        {PROTO_ERR_META_MA_MODE, "CLIENT_ERROR invalid mode for ma M "
                                 "token\r\n"},
        {PROTO_ERR_META_KEY, "CLIENT_ERROR error decoding key\r\n"},
    };
    size_t i;

    /* every enum proto_err value is listed, in order */
    ck_assert_int_eq(cases[sizeof(cases) / sizeof(cases[0]) - 1].err,
                     PROTO_ERR_META_KEY);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(cases[i].err, (int)i);
        ck_assert(compose_proto_err(&r, cases[i].err) ==
                  (cases[i].text != NULL));
        CHECK_OUT(cases[i].text != NULL ? cases[i].text : "");
    }
}
END_TEST

START_TEST(test_values)
{
    compose_value(&r, new_item("k", 1, 5, "hi"), true, 77);
    compose_value(&r, new_item("key2", 4, 4294967295u, ""), false, 1);
    compose_line(&r, COMPOSE_END);
    CHECK_OUT("VALUE k 5 2 77\r\nhi\r\nVALUE key2 4294967295 0\r\n\r\n"
              "END\r\n");
    compose_number(&r, 0);
    compose_number(&r, UINT64_MAX);
    CHECK_OUT("0\r\n18446744073709551615\r\n");
    ck_assert_uint_eq(compose_u64_len(0), 1);
    ck_assert_uint_eq(compose_u64_len(9), 1);
    ck_assert_uint_eq(compose_u64_len(10), 2);
    ck_assert_uint_eq(compose_u64_len(UINT64_MAX), 20);
    /* every reference went with the reply; an item taken counts */
    ck_assert_uint_eq(used_chunks(), 0);
    compose_item(&r, new_item("k", 1, 0, "v"));
    ck_assert_uint_eq(used_chunks(), 1);
    reply_release(&r);
    ck_assert_uint_eq(used_chunks(), 0);
}
END_TEST

START_TEST(test_meta_lines)
{
    compose_meta_begin(&r, "HD");
    compose_meta_end(&r);
    compose_meta_va(&r, 2);
    compose_meta_u64(&r, 'c', 9);
    compose_meta_i64(&r, 't', -1);
    compose_meta_text(&r, 'O', "abc", 3);
    compose_meta_text(&r, 'O', "", 0);
    compose_meta_key(&r, "foo", 3, false);
    compose_meta_key(&r, "bin\0\xff", 5, true);
    compose_meta_flag(&r, 'W');
    compose_meta_end(&r);
    compose_item(&r, new_item("k", 1, 0, "hi"));
    CHECK_OUT("HD\r\nVA 2 c9 t-1 Oabc O kfoo kYmluAP8= b W\r\nhi\r\n");
    compose_meta_begin(&r, "EN");
    compose_meta_i64(&r, 't', INT64_MIN);
    compose_meta_key(&r, "a", 1, true);
    compose_meta_key(&r, "ab", 2, true);
    compose_meta_end(&r);
    CHECK_OUT("EN t-9223372036854775808 kYQ== b kYWI= b\r\n");
}
END_TEST

START_TEST(test_me)
{
    struct compose_me me = {
        .key = "k", .nkey = 1, .binary = false, .exp = -1, .la = 3,
        .cas = 1, .fetched = false, .cls = 2, .size = 64,
    };

    compose_me(&r, &me);
    me.key = "bin\0\xff";
    me.nkey = 5;
    me.binary = true;
    me.exp = 97;
    me.fetched = true;
    compose_me(&r, &me);
    CHECK_OUT("ME k exp=-1 la=3 cas=1 fetch=no cls=2 size=64\r\n"
              "ME YmluAP8= exp=97 la=3 cas=1 fetch=yes cls=2 size=64\r\n");
}
END_TEST

/* memcached 1.6.18's metadump and cachedump lines, bytes as observed */
START_TEST(test_dump_lines)
{
    static const char key[] = "a:b/c%d~e_f-g.h\0 \xff";
    struct compose_me d = {
        .key = key, .nkey = sizeof(key) - 1, .exp = -1, .la = 1796415787,
        .cas = 1, .fetched = false, .cls = 1, .size = 79,
    };
    char big[251];

    compose_metadump(&r, &d);
    d.key = "t";
    d.nkey = 1;
    d.exp = 2000000000;
    d.fetched = true;
    d.cas = UINT64_MAX;
    compose_metadump(&r, &d);
    CHECK_OUT("key=a%3Ab%2Fc%25d~e_f-g.h%00%20%FF exp=-1 la=1796415787 "
              "cas=1 fetch=no cls=1 size=79\n"
              "key=t exp=2000000000 la=1796415787 cas=18446744073709551615 "
              "fetch=yes cls=1 size=79\n");
    /* the longest: 250 bytes, each encoded */
    memset(big, '/', 250);
    d.key = big;
    d.nkey = 250;
    compose_metadump(&r, &d);
    ck_assert_uint_eq(reply_pending(&r), 4 + 750 + strlen(" exp=2000000000 "
                      "la=1796415787 cas=18446744073709551615 fetch=yes "
                      "cls=1 size=79\n"));
    reply_release(&r);
    compose_cachedump(&r, "bb", 2, 2, 1796415674);
    compose_cachedump(&r, "a", 1, 0, 0);
    ck_assert_uint_eq(compose_cachedump_len(2, 2, 1796415674),
                      strlen("ITEM bb [2 b; 1796415674 s]\r\n"));
    CHECK_OUT("ITEM bb [2 b; 1796415674 s]\r\nITEM a [0 b; 0 s]\r\n");
}
END_TEST

START_TEST(test_stats_lines)
{
    compose_stat(&r, "libevent", "2.1.12-stable");
    compose_stat_u64(&r, "curr_items", 0);
    compose_stat_id_u64(&r, "items:", 3, "number", 12);
    compose_stat_id_u64(&r, "", 42, "chunk_size", 96);
    compose_stat_id(&r, "", 7, "addr", "tcp:127.0.0.1:5000");
    compose_stat_double(&r, "snapshot_compression_ratio", 2.5, 3);
    compose_stat_double(&r, "growth_factor", 1.08, 2);
    compose_stat_timeval(&r, "rusage_user", 12, 42);
    compose_stat_timeval(&r, "rusage_system", 0, 999999);
    CHECK_OUT("STAT libevent 2.1.12-stable\r\nSTAT curr_items 0\r\n"
              "STAT items:3:number 12\r\nSTAT 42:chunk_size 96\r\n"
              "STAT 7:addr tcp:127.0.0.1:5000\r\n"
              "STAT snapshot_compression_ratio 2.500\r\n"
              "STAT growth_factor 1.08\r\n"
              "STAT rusage_user 12.000042\r\n"
              "STAT rusage_system 0.999999\r\n");
}
END_TEST

START_TEST(test_server_errors)
{
    compose_server_error(&r, "out of memory", NULL);
    compose_server_error(&r, "cannot start: ", "why");
    compose_unsupported(&r, "", "lru_crawler", 11);
    compose_unsupported(&r, "stats ", "detail on", 6);
    compose_snapshot_done(&r, NULL);
    compose_snapshot_done(&r, "");
    compose_snapshot_done(&r, "disk full");
    compose_snapshot_refused(&r, ESHUTDOWN);
    CHECK_OUT("SERVER_ERROR out of memory\r\n"
              "SERVER_ERROR cannot start: why\r\n"
              "SERVER_ERROR lru_crawler not supported by ember\r\n"
              "SERVER_ERROR stats detail not supported by ember\r\n"
              "OK\r\nSERVER_ERROR snapshot failed\r\n"
              "SERVER_ERROR disk full\r\n"
              "SERVER_ERROR cannot start the snapshot: Cannot send after "
              "transport endpoint shutdown\r\n");
}
END_TEST

/* One binary response: magic, opcode and opaque echoed, status 0x81. */
START_TEST(test_binary_refusal)
{
    static const unsigned char req[24] = {
        0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
    };
    static const unsigned char want[24] = {
        0x81, 0x0a, 0, 0, 0, 0, 0, 0x81, 0, 0, 0, 29, 0xde, 0xad, 0xbe,
        0xef,
    };

    compose_binary_refusal(&r, (const char *)req, sizeof(req));
    out();
    ck_assert_uint_eq(nflat, 24 + 29);
    ck_assert_mem_eq(flat, want, 24);
    ck_assert_mem_eq(flat + 24, "binary protocol not supported", 29);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

/*
 * A meta line longer than any a client can get (memcached takes key
 * tokens of at most 250 bytes, so a base64 key decodes to 186 bytes;
 * check_exec_meta sends that one): a 250-byte binary key (336 bytes of
 * base64, echoed with k and " b"), the longest opaque memcached accepts
 * (31 bytes) and every return flag at its widest. Nothing is cut.
 */
START_TEST(test_longest_meta_line)
{
    char key[STORE_KEY_MAX];
    char opaque[31];
    char want[1024];
    char b64[(STORE_KEY_MAX + 2) / 3 * 4 + 1];
    size_t i;
    int n;

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (char)(0xff - i);
    }
    memset(opaque, 'o', sizeof(opaque));
    /* the base64 of KEY, written out independently of compose.c */
    for (i = 0; i < sizeof(key); i += 3) {
        static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                                  "nopqrstuvwxyz0123456789+/";
        unsigned v = (unsigned)(unsigned char)key[i] << 16;
        size_t left = sizeof(key) - i;

        v |= left > 1 ? (unsigned)(unsigned char)key[i + 1] << 8 : 0;
        v |= left > 2 ? (unsigned)(unsigned char)key[i + 2] : 0;
        b64[i / 3 * 4] = abc[v >> 18 & 63];
        b64[i / 3 * 4 + 1] = abc[v >> 12 & 63];
        b64[i / 3 * 4 + 2] = left > 1 ? abc[v >> 6 & 63] : '=';
        b64[i / 3 * 4 + 3] = left > 2 ? abc[v & 63] : '=';
    }
    b64[sizeof(b64) - 1] = '\0';
    ck_assert_uint_eq(strlen(b64), 336);
    n = snprintf(want, sizeof(want),
                 "VA 4294967295 O%.31s k%s b c18446744073709551615 "
                 "f4294967295 h1 l4294967295 s4294967295 "
                 "t-9223372036854775808 X W\r\n", opaque, b64);
    /* 13 + 33 + 340 + 22 + 12 + 3 + 24 + 22 + 4 + 2 */
    ck_assert_int_eq(n, 475);
    compose_meta_va(&r, UINT32_MAX);
    compose_meta_text(&r, 'O', opaque, sizeof(opaque));
    compose_meta_key(&r, key, sizeof(key), true);
    compose_meta_u64(&r, 'c', UINT64_MAX);
    compose_meta_u64(&r, 'f', UINT32_MAX);
    compose_meta_u64(&r, 'h', 1);
    compose_meta_u64(&r, 'l', UINT32_MAX);
    compose_meta_u64(&r, 's', UINT32_MAX);
    compose_meta_i64(&r, 't', INT64_MIN);
    compose_meta_flag(&r, 'X');
    compose_meta_flag(&r, 'W');
    compose_meta_end(&r);
    ck_assert(!r.oom);
    CHECK_OUT(want);
}
END_TEST

/* Texts far beyond the first buffer and many lines: nothing is cut. */
START_TEST(test_big_replies)
{
    enum { NAME = 100000, LINES = 20000 };
    char *name = malloc(NAME + 1);
    char line[64];
    size_t i, at;

    ck_assert_ptr_nonnull(name);
    memset(name, 'n', NAME);
    name[NAME] = '\0';
    compose_unsupported(&r, "stats ", name, NAME);
    compose_meta_begin(&r, "HD");
    compose_meta_text(&r, 'O', name, NAME);
    compose_meta_end(&r);
    out();
    ck_assert_uint_eq(nflat, 13 + 6 + NAME + 25 + 2 + 2 + NAME + 2);
    ck_assert_mem_eq(flat + 19 + NAME, " not supported by ember\r\nHD On",
                     30);
    reply_release(&r);
    for (i = 0; i < LINES; i++) {
        compose_stat_id_u64(&r, "items:", i, "number", i);
    }
    out();
    for (i = 0, at = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof(line), "STAT items:%zu:number %zu\r\n",
                         i, i);

        ck_assert_mem_eq(flat + at, line, (size_t)n);
        at += (size_t)n;
    }
    ck_assert_uint_eq(at, nflat);
    free(name);
}
END_TEST

/* A double whose text is longer than any guess (%.2f of 1e300). */
START_TEST(test_long_double)
{
    compose_stat_double(&r, "x", 1e300, 2);
    out();
    ck_assert_uint_eq(nflat, 5 + 2 + 301 + 3 + 2);
    ck_assert_mem_eq(flat, "STAT x 1", 8);
    ck_assert_mem_eq(flat + nflat - 5, ".00\r\n", 5);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

/* The first text buffer cannot be had: nothing appended, reply marked. */
START_TEST(test_no_buffer)
{
    fail_realloc_in(1);
    compose_line(&r, COMPOSE_STORED);
    ck_assert(r.oom);
    ck_assert_uint_eq(reply_pending(&r), 0);
    ck_assert_uint_eq(r.nsegs, 0);
}
END_TEST

/* Text buffer fine, segment array not: the line is not half there. */
START_TEST(test_no_segment)
{
    fail_realloc_in(2);
    compose_server_error(&r, "x", NULL);
    ck_assert(r.oom);
    ck_assert_uint_eq(reply_pending(&r), 0);
    ck_assert_uint_eq(r.nsegs, 0);
}
END_TEST

/*
 * A reply that cannot grow mid-way keeps exactly the whole lines before
 * it, refuses every later append (its connection is closed instead of
 * being sent a reply with a hole), and drops the item references it was
 * handed.
 */
START_TEST(test_growth_fails_midway)
{
    enum { BIG = 64 * 1024 };
    char *big = malloc(BIG);
    uint64_t used;

    ck_assert_ptr_nonnull(big);
    memset(big, 'b', BIG);
    compose_line(&r, COMPOSE_STORED);
    compose_meta_begin(&r, "HD");
    compose_meta_u64(&r, 'c', 1);
    compose_meta_end(&r);
    fail_realloc_in(1);
    compose_unsupported(&r, "", big, BIG);    /* needs a bigger buffer */
    ck_assert(r.oom);
    ck_assert_str_eq(out(), "STORED\r\nHD c1\r\n");
    used = used_chunks();
    compose_value(&r, new_item("k", 1, 0, "v"), false, 0);
    compose_item(&r, new_item("j", 1, 0, "w"));
    ck_assert_uint_eq(used_chunks(), used);    /* both unreferenced */
    compose_line(&r, COMPOSE_END);
    compose_meta_text(&r, 'O', "x", 1);
    compose_stat_u64(&r, "a", 1);
    ck_assert_str_eq(out(), "STORED\r\nHD c1\r\n");
    free(big);
}
END_TEST

/*
 * The VALUE header fits but the value's segment does not: the reply is
 * marked (so never sent with a header and no value) and the reference
 * is dropped.
 */
START_TEST(test_value_segment_fails)
{
    size_t i;
    uint64_t used;

    /* 63 of the first 64 segments, the last one a value */
    for (i = 0; i < 31; i++) {
        compose_value(&r, new_item("k", 1, 0, "v"), false, 0);
    }
    compose_item(&r, new_item("k", 1, 0, "v"));
    ck_assert(!r.oom);
    ck_assert_uint_eq(r.nsegs, 63);
    ck_assert_uint_eq(r.segs_cap, 64);
    used = used_chunks();
    fail_realloc_in(1);
    compose_value(&r, new_item("k", 1, 0, "v"), false, 0);
    ck_assert(r.oom);
    ck_assert_uint_eq(r.nsegs, 64);     /* the header went in */
    ck_assert_uint_eq(used_chunks(), used);
}
END_TEST

static Suite *
compose_suite(void)
{
    Suite *s = suite_create("compose");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_lines);
    tcase_add_test(core, test_proto_errors);
    tcase_add_test(core, test_values);
    tcase_add_test(core, test_meta_lines);
    tcase_add_test(core, test_me);
    tcase_add_test(core, test_dump_lines);
    tcase_add_test(core, test_stats_lines);
    tcase_add_test(core, test_server_errors);
    tcase_add_test(core, test_binary_refusal);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_longest_meta_line);
    tcase_add_test(limits, test_big_replies);
    tcase_add_test(limits, test_long_double);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_no_buffer);
    tcase_add_test(errors, test_no_segment);
    tcase_add_test(errors, test_growth_fails_midway);
    tcase_add_test(errors, test_value_segment_fails);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(compose_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
