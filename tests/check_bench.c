/*
 * check_bench.c -- emberbench's building blocks: the latency histogram
 * and one connection (request bytes out, reply parsing and checking in),
 * driven over a socketpair so every reply can be scripted byte by byte.
 */
#include "config.h"

#include "tools/bench/bench_conn.h"
#include "tools/bench/bench_hist.h"
#include "tools/bench/bench_opts.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PATTERN_MAX 2048u

struct fx {
    struct bench_workload wl;
    char pattern[PATTERN_MAX + BENCH_PATTERN_SPAN];
    struct bench_conn *conn;
    int peer;                   /* the "server" end of the socketpair */
    struct bench_stats st;
};

static struct fx fx;

static int
fcntl_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A fresh connection whose gets may return up to REPLY_MAX bytes. */
static void
open_conn_max(size_t size_min, size_t size_max, unsigned depth,
              size_t reply_max)
{
    int sv[2];
    size_t i;

    bench_conn_destroy(&fx.conn);
    if (fx.peer >= 0) {
        close(fx.peer);
    }
    fx.wl.prefix = "key:";
    fx.wl.nprefix = 4;
    fx.wl.nkeys = 1000;
    fx.wl.size_min = size_min;
    fx.wl.size_max = size_max;
    fx.wl.reply_max = reply_max;
    for (i = 0; i < sizeof(fx.pattern); i++) {
        fx.pattern[i] = (char)('a' + (i * 7u + i / 26u) % 26u);
    }
    fx.wl.pattern = fx.pattern;
    fx.wl.depth = depth;
    fx.wl.verify = true;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(fcntl_nonblock(sv[0]), 0);
    ck_assert_int_eq(bench_conn_create(&fx.conn, sv[0], &fx.wl), BENCH_OK);
    fx.peer = sv[1];
    memset(&fx.st, 0, sizeof(fx.st));
}

static void
open_conn(size_t size_min, size_t size_max, unsigned depth)
{
    open_conn_max(size_min, size_max, depth, size_max);
}

static void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.peer = -1;
    open_conn(16, 16, 8);
}

static void
teardown(void)
{
    bench_conn_destroy(&fx.conn);
    ck_assert_ptr_null(fx.conn);
    if (fx.peer >= 0) {
        close(fx.peer);
    }
}

static void
peer_send(const char *p, size_t n)
{
    ck_assert_int_eq(write(fx.peer, p, n), (ssize_t)n);
}

/* Everything the connection has sent so far, NUL-terminated. */
static size_t
peer_recv(char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;

    while (n + 1 < cap) {
        r = recv(fx.peer, buf + n, cap - 1 - n, MSG_DONTWAIT);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void
send_batch(const struct bench_pending *ops, unsigned n)
{
    char sink[65536];

    ck_assert_int_eq(bench_conn_send(fx.conn, ops, n, bench_now_ns(),
                                     &fx.st), BENCH_OK);
    ck_assert(!fx.conn->want_write);
    ck_assert_uint_eq(fx.conn->ninflight, n);
    (void)peer_recv(sink, sizeof(sink));
}

/* memcached's reply to "get key:I" when it holds the contract's value. */
static size_t
value_reply(char *out, uint64_t i, unsigned flags)
{
    size_t vlen = bench_value_len(&fx.wl, i);
    int n = sprintf(out, "VALUE key:%llu %u %zu\r\n", (unsigned long long)i,
                    flags, vlen);

    memcpy(out + n, bench_value_ptr(&fx.wl, i), vlen);
    memcpy(out + (size_t)n + vlen, "\r\nEND\r\n", 7);
    return (size_t)n + vlen + 7;
}

static int
reply(const char *p, size_t n)
{
    peer_send(p, n);
    return bench_conn_on_readable(fx.conn, &fx.st);
}

static const struct bench_pending set5_get5_get7[] = {
    { 5, BENCH_OP_SET }, { 5, BENCH_OP_GET }, { 7, BENCH_OP_GET },
};

/* Switch the fixture's connection to RESP (Redis), depth 8, 16 B values. */
static void
open_resp_conn(void)
{
    open_conn(16, 16, 8);
    fx.wl.resp = true;
}

/* Redis's reply to "GET key:I" when it holds the contract's value. */
static size_t
resp_value_reply(char *out, uint64_t i)
{
    size_t vlen = bench_value_len(&fx.wl, i);
    int n = sprintf(out, "$%zu\r\n", vlen);

    memcpy(out + n, bench_value_ptr(&fx.wl, i), vlen);
    memcpy(out + (size_t)n + vlen, "\r\n", 2);
    return (size_t)n + vlen + 2;
}

/* --- core ------------------------------------------------------------ */

START_TEST(test_hist_quantiles)
{
    static struct bench_hist h;
    static struct bench_hist h2;
    uint64_t v;

    ck_assert_uint_eq(bench_hist_quantile(&h, 0.5), 0);
    for (v = 1; v <= 10000; v++) {
        bench_hist_add(v % 2 ? &h : &h2, v);
    }
    bench_hist_merge(&h, &h2);
    ck_assert_uint_eq(h.n, 10000);
    ck_assert_uint_eq(h.max, 10000);
    ck_assert_uint_eq(h.sum, 10000u * 10001u / 2u);
    v = bench_hist_quantile(&h, 0.5);
    ck_assert(v >= 5000 && v <= 5000 * 33 / 32);
    v = bench_hist_quantile(&h, 0.99);
    ck_assert(v >= 9900 && v <= 9900 * 33 / 32);
    v = bench_hist_quantile(&h, 0.999);
    ck_assert(v >= 9990 && v <= 10000);
    ck_assert_uint_eq(bench_hist_quantile(&h, 1.0), 10000);
    ck_assert_uint_eq(bench_hist_quantile(&h, 0.0), 1);
}
END_TEST

START_TEST(test_hist_small_values_exact)
{
    static struct bench_hist h;

    bench_hist_add(&h, 3);
    bench_hist_add(&h, 3);
    bench_hist_add(&h, 7);
    bench_hist_add(&h, 0);
    ck_assert_uint_eq(bench_hist_quantile(&h, 0.25), 0);
    ck_assert_uint_eq(bench_hist_quantile(&h, 0.5), 3);
    ck_assert_uint_eq(bench_hist_quantile(&h, 0.75), 3);
    ck_assert_uint_eq(bench_hist_quantile(&h, 1.0), 7);
}
END_TEST

START_TEST(test_request_bytes)
{
    char got[4096];
    char want[4096];
    size_t n;

    ck_assert_int_eq(bench_conn_send(fx.conn, set5_get5_get7, 3,
                                     bench_now_ns(), &fx.st), BENCH_OK);
    n = (size_t)sprintf(want, "set key:5 5 0 16\r\n");
    memcpy(want + n, bench_value_ptr(&fx.wl, 5), 16);
    n += 16;
    n += (size_t)sprintf(want + n, "\r\nget key:5\r\nget key:7\r\n");
    ck_assert_uint_eq(peer_recv(got, sizeof(got)), n);
    ck_assert_mem_eq(got, want, n);
    ck_assert_uint_eq(fx.st.bytes_out, n);
}
END_TEST

/* The N reply bytes R to set5_get5_get7 (a hit, then a miss), delivered
 * in two parts split at every byte: none completes the batch early, and
 * the second part completes it with every count right. */
static void
replies_split_at_every_byte(const char *r, size_t n, bool resp)
{
    size_t k;

    for (k = 1; k < n; k++) {
        open_conn(16, 16, 8);
        fx.wl.resp = resp;
        send_batch(set5_get5_get7, 3);
        ck_assert_int_eq(reply(r, k), 0);
        ck_assert_int_eq(reply(r + k, n - k), 1);
        ck_assert_uint_eq(fx.st.sets, 1);
        ck_assert_uint_eq(fx.st.gets, 2);
        ck_assert_uint_eq(fx.st.hits, 1);
        ck_assert_uint_eq(fx.st.misses, 1);
        ck_assert_uint_eq(fx.st.lat.n, 3);
        ck_assert_uint_eq(fx.st.bytes_in, n);
        ck_assert_uint_eq(fx.conn->ninflight, 0);
    }
}

START_TEST(test_replies_split_at_every_byte)
{
    char r[512];
    size_t n;

    memcpy(r, "STORED\r\n", 8);
    n = 8 + value_reply(r + 8, 5, 5);
    memcpy(r + n, "END\r\n", 5);
    replies_split_at_every_byte(r, n + 5, false);
}
END_TEST

START_TEST(test_server_error_counted)
{
    static const char r[] = "SERVER_ERROR out of memory storing object\r\n";
    struct bench_pending op = { 1, BENCH_OP_SET };

    send_batch(&op, 1);
    ck_assert_int_eq(reply(r, sizeof(r) - 1), 1);
    ck_assert_uint_eq(fx.st.server_errors, 1);
    ck_assert_uint_eq(fx.st.sets, 1);
}
END_TEST

START_TEST(test_value_line_with_cas)
{
    struct bench_pending op = { 9, BENCH_OP_GET };
    char r[256];
    int n;

    n = sprintf(r, "VALUE key:9 9 16 12345\r\n");
    memcpy(r + n, bench_value_ptr(&fx.wl, 9), 16);
    memcpy(r + n + 16, "\r\nEND\r\n", 7);
    send_batch(&op, 1);
    ck_assert_int_eq(reply(r, (size_t)n + 23), 1);
    ck_assert_uint_eq(fx.st.hits, 1);
}
END_TEST

START_TEST(test_resp_request_bytes)
{
    char got[4096];
    char want[4096];
    size_t n;

    open_resp_conn();
    ck_assert_int_eq(bench_conn_send(fx.conn, set5_get5_get7, 3,
                                     bench_now_ns(), &fx.st), BENCH_OK);
    n = (size_t)sprintf(want, "*3\r\n$3\r\nSET\r\n$5\r\nkey:5\r\n$16\r\n");
    memcpy(want + n, bench_value_ptr(&fx.wl, 5), 16);
    n += 16;
    n += (size_t)sprintf(want + n, "\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:5\r\n"
                         "*2\r\n$3\r\nGET\r\n$5\r\nkey:7\r\n");
    ck_assert_uint_eq(peer_recv(got, sizeof(got)), n);
    ck_assert_mem_eq(got, want, n);
}
END_TEST

START_TEST(test_resp_replies_split_at_every_byte)
{
    char r[512];
    size_t n;

    memcpy(r, "+OK\r\n", 5);
    fx.wl.resp = true;
    n = 5 + resp_value_reply(r + 5, 5);
    memcpy(r + n, "$-1\r\n", 5);
    replies_split_at_every_byte(r, n + 5, true);
}
END_TEST

START_TEST(test_resp_error_counted)
{
    static const char r[] = "-OOM command not allowed\r\n";
    struct bench_pending op = { 1, BENCH_OP_SET };

    open_resp_conn();
    send_batch(&op, 1);
    ck_assert_int_eq(reply(r, sizeof(r) - 1), 1);
    ck_assert_uint_eq(fx.st.server_errors, 1);
}
END_TEST

START_TEST(test_resp_bad_replies)
{
    static const struct {
        const char *bytes;
        enum bench_op op;
        int rc;
    } bad[] = {
        { "STORED\r\n", BENCH_OP_SET, BENCH_EPROTO },   /* memcached's */
        { "+OK\r\n", BENCH_OP_GET, BENCH_EPROTO },
        { "$16\r\n0123456789abcdef\r\n", BENCH_OP_GET, BENCH_EVERIFY },
        { "$15\r\n", BENCH_OP_GET, BENCH_EVERIFY },      /* length */
        { "$99999\r\n", BENCH_OP_GET, BENCH_EPROTO },    /* > size_max */
        { "$1x\r\n", BENCH_OP_GET, BENCH_EPROTO },
    };
    struct bench_pending op = { 3, BENCH_OP_GET };
    char r[64];
    size_t i;
    size_t n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        open_resp_conn();
        op.op = bad[i].op;
        send_batch(&op, 1);
        n = strlen(bad[i].bytes);
        memcpy(r, bad[i].bytes, n);
        if (bad[i].rc == BENCH_EVERIFY && n < 10) {
            memset(r + n, 'a', 17);     /* 15 bytes + CRLF stand-in */
            memcpy(r + n + 15, "\r\n", 2);
            n += 17;
        }
        ck_assert_int_eq(reply(r, n), bad[i].rc);
    }
}
END_TEST

/* --- limits ---------------------------------------------------------- */

START_TEST(test_size_range_values)
{
    struct bench_pending ops[4];
    char r[4 * 2200];
    size_t n = 0;
    size_t lo = SIZE_MAX;
    size_t hi = 0;
    uint64_t i;

    open_conn(1, 2000, 4);
    for (i = 0; i < 1000; i++) {
        size_t l = bench_value_len(&fx.wl, i);

        ck_assert(l >= 1 && l <= 2000);
        ck_assert_uint_eq(l, bench_value_len(&fx.wl, i));
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    ck_assert(lo < 100 && hi > 1900);
    for (i = 0; i < 4; i++) {
        ops[i].key = i;
        ops[i].op = BENCH_OP_GET;
        n += value_reply(r + n, i, (unsigned)i);
    }
    send_batch(ops, 4);
    ck_assert_int_eq(reply(r, n), 1);
    ck_assert_uint_eq(fx.st.hits, 4);
}
END_TEST

START_TEST(test_full_depth_of_misses)
{
    struct bench_pending ops[8];
    unsigned i;

    for (i = 0; i < 8; i++) {
        ops[i].key = 100 + i;
        ops[i].op = BENCH_OP_GET;
    }
    send_batch(ops, 8);
    ck_assert_int_eq(reply("END\r\nEND\r\nEND\r\nEND\r\n", 20), 0);
    ck_assert_int_eq(reply("END\r\nEND\r\nEND\r\nEND\r\n", 20), 1);
    ck_assert_uint_eq(fx.st.misses, 8);
}
END_TEST

START_TEST(test_reply_line_too_long)
{
    char junk[1100];
    struct bench_pending op = { 1, BENCH_OP_GET };

    memset(junk, 'x', sizeof(junk));
    send_batch(&op, 1);
    ck_assert_int_eq(reply(junk, sizeof(junk)), BENCH_EPROTO);
}
END_TEST

START_TEST(test_value_longer_than_any_we_set)
{
    struct bench_pending op = { 5, BENCH_OP_GET };

    send_batch(&op, 1);
    ck_assert_int_eq(reply("VALUE key:5 5 5000\r\n", 20), BENCH_EVERIFY);
}
END_TEST

/* --- errors ---------------------------------------------------------- */

START_TEST(test_unsolicited_reply)
{
    ck_assert_int_eq(reply("STORED\r\n", 8), BENCH_EPROTO);
    ck_assert_msg(strstr(fx.conn->err, "nobody asked") != NULL, "err: %s",
                  fx.conn->err);
}
END_TEST

START_TEST(test_extra_reply_after_batch)
{
    struct bench_pending op = { 7, BENCH_OP_GET };

    send_batch(&op, 1);
    ck_assert_int_eq(reply("END\r\nEND\r\n", 10), BENCH_EPROTO);
}
END_TEST

START_TEST(test_wrong_value_byte)
{
    struct bench_pending op = { 5, BENCH_OP_GET };
    char r[256];
    size_t n = value_reply(r, 5, 5);
    size_t k;

    /* flip each value byte in turn: every one must be caught */
    for (k = n - 7 - 16; k < n - 7; k++) {
        open_conn(16, 16, 8);
        send_batch(&op, 1);
        r[k] ^= 0x01;
        ck_assert_int_eq(reply(r, n), BENCH_EVERIFY);
        r[k] ^= 0x01;
    }
}
END_TEST

START_TEST(test_wrong_flags_key_or_length)
{
    struct bench_pending op = { 5, BENCH_OP_GET };
    static const char *const bad[] = {
        "VALUE key:5 6 16\r\n", "VALUE key:6 5 16\r\n",
        "VALUE key:55 5 16\r\n", "VALUE key:5 5 15\r\n",
        "VALUE key:5 5 x\r\n", "VALUE key:5  5 16\r\n",
    };
    char r[256];
    size_t i;
    size_t n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        open_conn(16, 16, 8);
        n = strlen(bad[i]);
        memcpy(r, bad[i], n);
        memset(r + n, 'a', 16);
        memcpy(r + n + 16, "\r\nEND\r\n", 7);
        send_batch(&op, 1);
        ck_assert_int_eq(reply(r, n + 23), BENCH_EVERIFY);
    }
}
END_TEST

/* --value-max: another writer's longer values, read back unverified */
START_TEST(test_reply_max_admits_longer_values)
{
    static const struct bench_pending op = { 5, BENCH_OP_GET };
    static const char *const tail[2] = { "\r\nEND\r\n", "\r\n" };
    static const int too_long[2] = { BENCH_EVERIFY, BENCH_EPROTO };
    char r[800];
    int resp;
    int len;
    int n;

    for (resp = 0; resp < 2; resp++) {
        for (len = 600; len <= 601; len++) {
            open_conn_max(16, 16, 8, 600);
            fx.wl.resp = resp == 1;
            fx.wl.verify = false;
            send_batch(&op, 1);
            n = resp == 1 ? sprintf(r, "$%d\r\n", len)
                          : sprintf(r, "VALUE key:5 0 %d\r\n", len);
            memset(r + n, 'x', (size_t)len);
            strcpy(r + n + len, tail[resp]);
            ck_assert_int_eq(reply(r, strlen(r)),
                             len == 600 ? 1 : too_long[resp]);
        }
    }
}
END_TEST

START_TEST(test_verify_off_accepts_any_value)
{
    struct bench_pending op = { 5, BENCH_OP_GET };
    char r[256];
    size_t n = value_reply(r, 5, 77);

    fx.wl.verify = false;
    r[n - 8] ^= 0x01;
    send_batch(&op, 1);
    ck_assert_int_eq(reply(r, n), 1);
    ck_assert_uint_eq(fx.st.hits, 1);
}
END_TEST

START_TEST(test_error_replies_are_fatal)
{
    struct bench_pending get = { 5, BENCH_OP_GET };
    struct bench_pending set = { 5, BENCH_OP_SET };

    send_batch(&get, 1);
    ck_assert_int_eq(reply("ERROR\r\n", 7), BENCH_EPROTO);
    open_conn(16, 16, 8);
    send_batch(&set, 1);
    ck_assert_int_eq(reply("CLIENT_ERROR bad data chunk\r\n", 29),
                     BENCH_EPROTO);
    open_conn(16, 16, 8);
    send_batch(&set, 1);
    ck_assert_int_eq(reply("NOT_STORED\r\n", 12), BENCH_EPROTO);
    open_conn(16, 16, 8);
    send_batch(&set, 1);
    ck_assert_int_eq(reply("STORED\n", 7), BENCH_EPROTO);
}
END_TEST

START_TEST(test_value_without_end)
{
    struct bench_pending op = { 5, BENCH_OP_GET };
    char r[256];
    size_t n = value_reply(r, 5, 5);

    memcpy(r + n - 5, "ENX\r\n", 5);
    send_batch(&op, 1);
    ck_assert_int_eq(reply(r, n), BENCH_EPROTO);
}
END_TEST

START_TEST(test_server_closes)
{
    struct bench_pending op = { 5, BENCH_OP_GET };

    send_batch(&op, 1);
    close(fx.peer);
    fx.peer = -1;
    ck_assert_int_eq(bench_conn_on_readable(fx.conn, &fx.st), BENCH_ECLOSED);
    ck_assert_str_eq(bench_strerror(BENCH_ECLOSED),
                     "connection closed by server");
}
END_TEST

/* --- options ---------------------------------------------------------- */

static void
parse(struct bench_options *o, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"emberbench";
    while (*args != NULL) {
        argv[argc++] = (char *)*args++;
    }
    argv[argc] = NULL;
    optind = 1;
    bench_opts_parse(o, argc, argv);
}

START_TEST(test_opts_defaults_and_values)
{
    static const char *const none[] = { NULL };
    static const char *const all[] = {
        "-S", "::1:22122", "-c", "50", "-T", "8", "-P", "16", "--ratio",
        "0:1", "-k", "5", "--size-range", "50-10240", "-d", "0", "-w",
        "0.5", "--prefill", "--no-verify", "--json", "--prefix", "x:",
        "--redis", "--value-max", "4096", NULL,
    };
    struct bench_options o;

    parse(&o, none);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_str_eq(o.port, "11211");
    ck_assert_uint_eq(o.conns, 4);
    ck_assert_uint_eq(o.depth, 1);
    ck_assert_uint_eq(o.ratio_set, 1);
    ck_assert_uint_eq(o.ratio_get, 10);
    ck_assert_uint_eq(o.keys, 100000);
    ck_assert(o.verify && !o.prefill && o.format == BENCH_OUT_TEXT);
    ck_assert(!o.redis);
    parse(&o, all);
    ck_assert_str_eq(o.host, "::1");
    ck_assert_str_eq(o.port, "22122");
    ck_assert_uint_eq(o.conns, 50);
    ck_assert_uint_eq(o.threads, 8);
    ck_assert_uint_eq(o.depth, 16);
    ck_assert_uint_eq(o.ratio_set, 0);
    ck_assert_uint_eq(o.ratio_get, 1);
    ck_assert_uint_eq(o.keys, 5);
    ck_assert_uint_eq(o.size_min, 50);
    ck_assert_uint_eq(o.size_max, 10240);
    ck_assert(o.duration == 0.0 && o.warmup == 0.5);
    ck_assert(o.prefill && !o.verify && o.format == BENCH_OUT_JSON);
    ck_assert_str_eq(o.prefix, "x:");
    ck_assert(o.redis);
    ck_assert_uint_eq(o.value_max, 4096);
}
END_TEST

START_TEST(test_opts_threads_capped_by_conns)
{
    static const char *const args[] = { "-c", "2", "-T", "8", NULL };
    struct bench_options o;

    parse(&o, args);
    ck_assert_uint_eq(o.threads, 2);
}
END_TEST

static const char *const bad_args[][3] = {
    { "-c", "0", NULL }, { "-c", "x", NULL }, { "-T", "0", NULL },
    { "-P", "0", NULL }, { "-P", "4097", NULL }, { "--ratio", "1", NULL },
    { "--ratio", "0:0", NULL }, { "-k", "0", NULL }, { "-s", "-1", NULL },
    { "--size-range", "9-8", NULL }, { "-d", "-1", NULL },
    { "-w", "nan", NULL }, { "--timeout", "0", NULL }, { "-S", "nohost", NULL },
    { "-S", ":11211", NULL }, { "--prefix", "a b", NULL },
    { "--bogus", NULL, NULL }, { "a:1", "b:2", NULL },
    /* digits only, as every ember option (strtoull took these) */
    { "-c", " 5", NULL }, { "-c", "+5", NULL }, { "--seed", " -5", NULL },
};

START_TEST(test_opts_bad_values_exit_2)
{
    struct bench_options o;

    /* CK_FORK: this child exits; keep its usage text out of the log */
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
    parse(&o, bad_args[_i]);
}
END_TEST

static Suite *
bench_suite(void)
{
    Suite *s = suite_create("bench");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_hist_quantiles);
    tcase_add_test(core, test_hist_small_values_exact);
    tcase_add_test(core, test_request_bytes);
    tcase_add_test(core, test_replies_split_at_every_byte);
    tcase_add_test(core, test_server_error_counted);
    tcase_add_test(core, test_value_line_with_cas);
    tcase_add_test(core, test_opts_defaults_and_values);
    tcase_add_test(core, test_resp_request_bytes);
    tcase_add_test(core, test_resp_replies_split_at_every_byte);
    suite_add_tcase(s, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_size_range_values);
    tcase_add_test(limits, test_full_depth_of_misses);
    tcase_add_test(limits, test_reply_line_too_long);
    tcase_add_test(limits, test_value_longer_than_any_we_set);
    tcase_add_test(limits, test_opts_threads_capped_by_conns);
    suite_add_tcase(s, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_unsolicited_reply);
    tcase_add_test(errors, test_extra_reply_after_batch);
    tcase_add_test(errors, test_wrong_value_byte);
    tcase_add_test(errors, test_wrong_flags_key_or_length);
    tcase_add_test(errors, test_verify_off_accepts_any_value);
    tcase_add_test(errors, test_reply_max_admits_longer_values);
    tcase_add_test(errors, test_error_replies_are_fatal);
    tcase_add_test(errors, test_value_without_end);
    tcase_add_test(errors, test_server_closes);
    tcase_add_test(errors, test_resp_error_counted);
    tcase_add_test(errors, test_resp_bad_replies);
    tcase_add_loop_exit_test(errors, test_opts_bad_values_exit_2, 2, 0,
                             (int)(sizeof(bad_args) / sizeof(bad_args[0])));
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(bench_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
