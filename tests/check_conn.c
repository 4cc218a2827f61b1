/*
 * check_conn.c -- daemon/conn.c over a socketpair, driven by a libevent
 * base in the test thread: pipelining, quit, half-close, back-pressure,
 * -R yields, idle timeout, and the connections that must be closed.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conn.h"
#include "daemon/exec.h"
#include "daemon/log.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#define T0 1700000000u
#define GOT_MAX (8u << 20)

struct fixture {
    struct settings set;
    struct logger log;
    struct store *st;
    struct store_session ses;
    struct stats_hub hub;
    struct stats_thread ts;
    struct event_base *base;
    struct conn_env env;
    int cli;                /* the client's end of the socketpair */
    char *got;              /* bytes the client received */
    size_t ngot;
    bool eof;
};

static struct fixture fx;

static void
setup(void)
{
    struct store_config cfg;
    struct exec_ctx cx = { 0 };     /* snap NULL: no persistence */
    int err = 0;

    memset(&fx, 0, sizeof(fx));
    signal(SIGPIPE, SIG_IGN);   /* as emberd's main() */
    settings_default(&fx.set);
    log_init(&fx.log, 0);
    store_config_default(&cfg);
    cfg.mem_limit = (size_t)16 << 20;
    fx.st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(fx.st);
    store_clock_set(fx.st, T0);
    ck_assert_int_eq(stats_hub_init(&fx.hub, 1), STATS_OK);
    stats_attach(&fx.hub, 0, &fx.ts);
    fx.base = event_base_new();
    ck_assert_ptr_nonnull(fx.base);
    store_session_init(&fx.ses, fx.st, NULL, NULL);
    cx.st = fx.st;
    cx.ses = &fx.ses;
    cx.set = &fx.set;
    cx.hub = &fx.hub;
    cx.ts = &fx.ts;
    cx.log = &fx.log;
    ck_assert_int_eq(conn_env_init(&fx.env, fx.base, &cx), 0);
    fx.got = malloc(GOT_MAX);
    ck_assert_ptr_nonnull(fx.got);
    fx.cli = -1;
}

static void
teardown(void)
{
    conn_env_release(&fx.env);
    if (fx.cli >= 0) {
        close(fx.cli);
    }
    event_base_free(fx.base);
    stats_hub_release(&fx.hub);
    store_destroy(&fx.st);
    free(fx.got);
}

/* Connect a client through a socketpair, as the listener would;
 * returns the client's end. */
static int
new_client(void)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    atomic_fetch_add(&fx.hub.curr_connections, 1);
    ck_assert_int_eq(conn_create(&fx.env, sv[0]), 0);
    return sv[1];
}

/* The fixture's client, fx.cli. */
static void
connect_client(void)
{
    fx.cli = new_client();
    fx.ngot = 0;
    fx.eof = false;
}

static void
client_send(const char *p, size_t n)
{
    ssize_t k;

    while (n > 0) {
        k = write(fx.cli, p, n);
        if (k < 0 && errno == EAGAIN) {
            /* the socket is full: let the server read some */
            event_base_loop(fx.base, EVLOOP_NONBLOCK);
            continue;
        }
        ck_assert_msg(k > 0, "client write: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

static void
client_send_str(const char *s)
{
    client_send(s, strlen(s));
}

/* Read what the server wrote so far (non-blocking). */
static void
client_drain(void)
{
    ssize_t k;

    while (!fx.eof && fx.ngot < GOT_MAX) {
        k = read(fx.cli, fx.got + fx.ngot, GOT_MAX - fx.ngot);
        if (k > 0) {
            fx.ngot += (size_t)k;
        } else if (k == 0) {
            fx.eof = true;
        } else {
            break;
        }
    }
}

/* Run the server's loop, reading as the client does, until WANT bytes
 * arrived (0: until EOF) or about two seconds passed. */
static void
pump(size_t want, bool read_client)
{
    int i;
    struct timespec ms = { 0, 1000000 };

    /* without a reading client nothing changes after a while */
    for (i = 0; i < (read_client ? 2000 : 100); i++) {
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        if (read_client) {
            client_drain();
        }
        if ((want > 0 && fx.ngot >= want) || fx.eof) {
            return;
        }
        nanosleep(&ms, NULL);
    }
}

static bool
got_is(const char *s)
{
    return fx.ngot == strlen(s) && memcmp(fx.got, s, fx.ngot) == 0;
}

static void
store_value(const char *key, size_t n)
{
    char *buf = malloc(n + 64);
    int len;

    ck_assert_ptr_nonnull(buf);
    len = snprintf(buf, 64, "set %s 0 0 %zu\r\n", key, n);
    memset(buf + len, 'v', n);
    memcpy(buf + len + n, "\r\n", 2);
    client_send(buf, (size_t)len + n + 2);
    free(buf);
    pump(strlen("STORED\r\n"), true);
    ck_assert(got_is("STORED\r\n"));
    fx.ngot = 0;
}

/* ---- core ------------------------------------------------------------ */

START_TEST(test_pipelined_batch)
{
    char req[4096] = "set k 0 0 5\r\nhello\r\n";
    char want[4096] = "STORED\r\n";
    int i;

    connect_client();
    for (i = 0; i < 16; i++) {
        strcat(req, "get k\r\n");
        strcat(want, "VALUE k 0 5\r\nhello\r\nEND\r\n");
    }
    strcat(req, "version\r\n");
    strcat(want, "VERSION 1.6.18-ember-" PACKAGE_VERSION "\r\n");
    client_send_str(req);
    pump(strlen(want), true);
    ck_assert_msg(got_is(want), "got %.*s", (int)fx.ngot, fx.got);
    ck_assert_uint_eq(atomic_load(&fx.ts.get_hits), 16);
    ck_assert_uint_eq(atomic_load(&fx.ts.bytes_read), strlen(req));
    ck_assert_uint_eq(atomic_load(&fx.ts.bytes_written), strlen(want));
    /* idle again: its buffers went back to the worker's caches */
    ck_assert_uint_eq(fx.env.nrbuf_cache, 1);
    ck_assert_uint_eq(fx.env.replies.ntext, 1);
    ck_assert_uint_eq(fx.env.replies.nsegs, 1);
}
END_TEST

START_TEST(test_request_split_across_reads)
{
    const char *req = "set k 0 0 10\r\n0123456789\r\nget k\r\n";
    size_t i;

    connect_client();
    for (i = 0; req[i] != '\0'; i++) {
        client_send(req + i, 1);
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        client_drain();
    }
    pump(strlen("STORED\r\nVALUE k 0 10\r\n0123456789\r\nEND\r\n"), true);
    ck_assert(got_is("STORED\r\nVALUE k 0 10\r\n0123456789\r\nEND\r\n"));
}
END_TEST

START_TEST(test_quit_closes_after_replies)
{
    connect_client();
    client_send_str("version\r\nquit\r\nversion\r\n");
    pump(0, true);
    ck_assert(fx.eof);
    ck_assert(got_is("VERSION 1.6.18-ember-" PACKAGE_VERSION "\r\n"));
    ck_assert_uint_eq(fx.env.nconns, 0);
    ck_assert_uint_eq(atomic_load(&fx.hub.curr_connections), 0);
}
END_TEST

START_TEST(test_half_close_still_answered)
{
    connect_client();
    store_value("h", 200000);   /* bigger than the socket buffer */
    client_send_str("get h\r\n");
    shutdown(fx.cli, SHUT_WR);
    pump(0, true);
    ck_assert(fx.eof);
    ck_assert_uint_eq(fx.ngot, strlen("VALUE h 0 200000\r\n") + 200000 + 7);
    ck_assert_uint_eq(fx.env.nconns, 0);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

/* A client that does not read stops being served at out_cap, and gets
 * every byte once it reads. */
START_TEST(test_backpressure)
{
    char req[16 * 8];
    size_t one = strlen("VALUE b 0 50000\r\n") + 50000 + 7;
    int i;

    fx.env.out_cap = 100000;
    connect_client();
    store_value("b", 50000);
    req[0] = '\0';
    for (i = 0; i < 16; i++) {
        strcat(req, "get b\r\n");
    }
    client_send_str(req);
    pump(1, false);             /* the client reads nothing */
    ck_assert_uint_lt(atomic_load(&fx.ts.get_hits), 16);
    ck_assert_uint_gt(atomic_load(&fx.ts.get_hits), 0);
    pump(16 * one, true);
    ck_assert_uint_eq(fx.ngot, 16 * one);
    ck_assert_uint_eq(atomic_load(&fx.ts.get_hits), 16);
}
END_TEST

START_TEST(test_reqs_per_event_yields)
{
    char req[64 * 8];
    int i;

    fx.env.reqs_per_event = 3;
    connect_client();
    req[0] = '\0';
    for (i = 0; i < 40; i++) {
        strcat(req, "get x\r\n");
    }
    client_send_str(req);
    pump(40 * 5, true);
    ck_assert_uint_eq(fx.ngot, 40 * 5);     /* 40 x "END\r\n" */
    ck_assert_uint_ge(atomic_load(&fx.ts.conn_yields), 10);
}
END_TEST

START_TEST(test_idle_timeout)
{
    fx.env.idle_timeout = 5;
    connect_client();
    client_send_str("version\r\n");
    pump(10, true);
    conn_env_sweep_idle(&fx.env, T0 + 4);
    ck_assert_uint_eq(fx.env.nconns, 1);
    ck_assert_uint_eq(atomic_load(&fx.ts.idle_kicks), 0);
    conn_env_sweep_idle(&fx.env, T0 + 5);
    ck_assert_uint_eq(fx.env.nconns, 0);
    ck_assert_uint_eq(atomic_load(&fx.ts.idle_kicks), 1);  /* stats */
    pump(0, true);
    ck_assert(fx.eof);
}
END_TEST

START_TEST(test_large_value_roundtrip)
{
    size_t n = 1000 * 1000;
    size_t want = strlen("VALUE big 0 1000000\r\n") + n + 7;

    connect_client();
    store_value("big", n);
    client_send_str("get big\r\n");
    pump(want, true);
    ck_assert_uint_eq(fx.ngot, want);
    ck_assert(memcmp(fx.got + fx.ngot - 7, "\r\nEND\r\n", 7) == 0);
    /* the 1 MB buffer was freed, a standard one is cached */
    ck_assert_uint_eq(fx.env.nrbuf_cache, 1);
}
END_TEST

/* Send what FD takes of P[*off..N) now, without waiting. */
static void
send_some(int fd, const char *p, size_t n, size_t *off)
{
    ssize_t k;

    while (*off < n && (k = write(fd, p + *off, n - *off)) > 0) {
        *off += (size_t)k;
    }
}

/* Read what FD has into BUF[*n..CAP), without waiting. */
static void
read_some(int fd, char *buf, size_t cap, size_t *n)
{
    ssize_t k;

    while (*n < cap && (k = read(fd, buf + *n, cap - *n)) > 0) {
        *n += (size_t)k;
    }
}

/* "get K K ... K\r\n" with N keys; *LEN its length. */
static char *
multiget_line(const char *key, size_t n, size_t *len)
{
    size_t k = strlen(key);
    char *p = malloc(3 + n * (k + 1) + 2);
    size_t i;

    ck_assert_ptr_nonnull(p);
    memcpy(p, "get", 3);
    for (i = 0; i < n; i++) {
        p[3 + i * (k + 1)] = ' ';
        memcpy(p + 4 + i * (k + 1), key, k);
    }
    memcpy(p + 3 + n * (k + 1), "\r\n", 2);
    *len = 3 + n * (k + 1) + 2;
    return p;
}

/* N times "VALUE K 0 1\r\nv\r\n", then END: what that line gets. */
static char *
multiget_reply(const char *key, size_t n, size_t *len)
{
    char one[300];
    size_t k = (size_t)snprintf(one, sizeof(one), "VALUE %s 0 1\r\nv\r\n",
                                key);
    char *p = malloc(n * k + 5);
    size_t i;

    ck_assert_ptr_nonnull(p);
    for (i = 0; i < n; i++) {
        memcpy(p + i * k, one, k);
    }
    memcpy(p + n * k, "END\r\n", 5);
    *len = n * k + 5;
    return p;
}

/*
 * A client that sends a 1.2 MB get line (300,000 keys of a 1-byte
 * value, 4.8 MB of replies) and reads nothing: the server stops part-way
 * -- in the line and in its replies -- holding less than its budget
 * (the whole reply, built at once, held 25 MB); once the client reads,
 * every key is answered, in order.
 */
START_TEST(test_multiget_bounded_then_whole)
{
    size_t n = 300000;
    size_t len, rlen, off = 0;
    char *line = multiget_line("mm", n, &len);
    char *want = multiget_reply("mm", n, &rlen);
    size_t peak = 0;
    int i;

    fx.env.out_budget = 256 * 1024;
    connect_client();
    store_value("mm", 1);
    for (i = 0; i < 300; i++) {
        send_some(fx.cli, line, len, &off);
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        peak = fx.env.replies.held > peak ? fx.env.replies.held : peak;
    }
    ck_assert_uint_gt(atomic_load(&fx.ts.get_hits), 0);
    ck_assert_uint_lt(atomic_load(&fx.ts.get_hits), n / 4);
    ck_assert_uint_lt(off, len);        /* it stopped reading the line */
    ck_assert_uint_le(peak, 2 * fx.env.out_budget + 64 * 1024);
    for (i = 0; i < 200000 && fx.ngot < rlen; i++) {
        send_some(fx.cli, line, len, &off);
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        client_drain();
        peak = fx.env.replies.held > peak ? fx.env.replies.held : peak;
    }
    ck_assert_uint_eq(fx.ngot, rlen);
    ck_assert(memcmp(fx.got, want, rlen) == 0);
    ck_assert_uint_eq(atomic_load(&fx.ts.get_hits), n);
    ck_assert_uint_le(peak, 2 * fx.env.out_budget + 64 * 1024);
    ck_assert_uint_eq(fx.env.replies.held, 0);  /* all given back */
    free(line);
    free(want);
}
END_TEST

/*
 * Two clients that never read, each with a big multi-get, share one
 * worker's budget; a third is still answered (every connection may hold
 * a little), and the two get every byte once they read.
 */
START_TEST(test_output_budget_shared)
{
    size_t n = 100000;
    size_t len, rlen;
    char *line = multiget_line("k", n, &len);
    char *want = multiget_reply("k", n, &rlen);
    int fd[2];
    size_t off[2] = { 0, 0 };
    size_t got[2] = { 0, 0 };
    char *buf[2];
    size_t peak = 0;
    int i, j;

    fx.env.out_budget = 128 * 1024;
    connect_client();
    store_value("k", 1);
    for (j = 0; j < 2; j++) {
        fd[j] = new_client();
        buf[j] = malloc(rlen);
        ck_assert_ptr_nonnull(buf[j]);
    }
    for (i = 0; i < 300; i++) {
        for (j = 0; j < 2; j++) {
            send_some(fd[j], line, len, &off[j]);
        }
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
        peak = fx.env.replies.held > peak ? fx.env.replies.held : peak;
    }
    ck_assert_uint_le(peak, 2 * fx.env.out_budget + 2 * 64 * 1024);
    client_send_str("get k\r\n");
    pump(strlen("VALUE k 0 1\r\nv\r\nEND\r\n"), true);
    ck_assert(got_is("VALUE k 0 1\r\nv\r\nEND\r\n"));
    for (i = 0; i < 200000 && (got[0] < rlen || got[1] < rlen); i++) {
        for (j = 0; j < 2; j++) {
            send_some(fd[j], line, len, &off[j]);
            read_some(fd[j], buf[j], rlen, &got[j]);
        }
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    }
    for (j = 0; j < 2; j++) {
        ck_assert_uint_eq(got[j], rlen);
        ck_assert(memcmp(buf[j], want, rlen) == 0);
        close(fd[j]);
        free(buf[j]);
    }
    free(line);
    free(want);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_http_closed_silently)
{
    connect_client();
    client_send_str("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    pump(0, true);
    ck_assert(fx.eof);
    ck_assert_uint_eq(fx.ngot, 0);
    ck_assert_uint_eq(fx.env.nconns, 0);
}
END_TEST

START_TEST(test_line_too_long_closed)
{
    char line[5000];

    connect_client();
    memset(line, 'a', sizeof(line));
    client_send(line, sizeof(line));
    pump(0, true);
    ck_assert(fx.eof);
    ck_assert_uint_eq(fx.ngot, 0);      /* memcached: closed silently */
    ck_assert_uint_eq(fx.env.nconns, 0);
}
END_TEST

START_TEST(test_peer_vanishes_with_output_pending)
{
    char req[32 * 8];
    int i;

    connect_client();
    store_value("p", 300000);
    req[0] = '\0';
    for (i = 0; i < 30; i++) {
        strcat(req, "get p\r\n");
    }
    client_send_str(req);
    pump(1, false);
    close(fx.cli);              /* gone, megabytes still to send */
    fx.cli = -1;
    for (i = 0; i < 50 && fx.env.nconns > 0; i++) {
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(fx.env.nconns, 0);
    ck_assert_uint_eq(atomic_load(&fx.hub.curr_connections), 0);
}
END_TEST

START_TEST(test_drain_answers_received_requests)
{
    connect_client();
    fx.env.reqs_per_event = 1;
    client_send_str("get a\r\nget b\r\nget c\r\n");
    event_base_loop(fx.base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    conn_env_drain(&fx.env);
    pump(0, true);
    ck_assert(fx.eof);
    ck_assert(got_is("END\r\nEND\r\nEND\r\n"));
}
END_TEST

static Suite *
conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_pipelined_batch);
    tcase_add_test(core, test_request_split_across_reads);
    tcase_add_test(core, test_quit_closes_after_replies);
    tcase_add_test(core, test_half_close_still_answered);
    suite_add_tcase(s, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_backpressure);
    tcase_add_test(limits, test_reqs_per_event_yields);
    tcase_add_test(limits, test_idle_timeout);
    tcase_add_test(limits, test_large_value_roundtrip);
    tcase_add_test(limits, test_multiget_bounded_then_whole);
    tcase_add_test(limits, test_output_budget_shared);
    suite_add_tcase(s, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_http_closed_silently);
    tcase_add_test(errors, test_line_too_long_closed);
    tcase_add_test(errors, test_peer_vanishes_with_output_pending);
    tcase_add_test(errors, test_drain_answers_received_requests);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(conn_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
