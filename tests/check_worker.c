/*
 * check_worker.c -- daemon/worker.c with real threads: fd hand-off,
 * round-robin, stats conns across workers, drain on stop, and what
 * happens to fds handed over late or already dead.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "daemon/worker.h"
#include "storage/store.h"

#define NCLI 200

static struct settings set;
static struct logger lg;
static struct store *st;
static struct stats_hub hub;
static struct worker_pool *pool;

static void
setup(void)
{
    struct store_config cfg;
    int err = 0;

    signal(SIGPIPE, SIG_IGN);
    settings_default(&set);
    set.threads = 3;
    log_init(&lg, 0);
    store_config_default(&cfg);
    cfg.mem_limit = (size_t)8 << 20;
    st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(stats_hub_init(&hub, set.threads), STATS_OK);
    pool = worker_pool_create(&set, st, NULL, &hub, &lg, &err);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(worker_pool_start(pool), 0);
}

static void
teardown(void)
{
    worker_pool_destroy(&pool);
    ck_assert_ptr_null(pool);
    stats_hub_release(&hub);
    store_destroy(&st);
}

/* A connected pair; the server end goes to the pool, as after accept. */
static int
hand_over(void)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    atomic_fetch_add(&hub.curr_connections, 1);
    ck_assert_int_eq(worker_pool_dispatch(pool, sv[0]), 0);
    return sv[1];
}

/* Read until WANT bytes or EOF, for at most two seconds. */
static size_t
read_reply(int fd, char *buf, size_t cap, size_t want)
{
    struct pollfd p = { fd, POLLIN, 0 };
    size_t n = 0;
    ssize_t k;

    while (n < want && poll(&p, 1, 2000) == 1) {
        k = read(fd, buf + n, cap - n);
        if (k <= 0) {
            break;
        }
        n += (size_t)k;
    }
    return n;
}

static void
ask(int fd, const char *req, const char *want)
{
    char buf[4096];
    size_t n;

    ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    n = read_reply(fd, buf, sizeof(buf) - 1, strlen(want));
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

static bool
sees_eof(int fd)
{
    char buf[256];
    struct pollfd p = { fd, POLLIN, 0 };

    while (poll(&p, 1, 3000) == 1) {
        if (read(fd, buf, sizeof(buf)) <= 0) {
            return true;
        }
    }
    return false;
}

/* Whether FD gets a byte within MS milliseconds. */
static bool
answered_within(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, ms) == 1;
}

/* ---- core ------------------------------------------------------------ */

START_TEST(test_handoff_and_shared_store)
{
    int a = hand_over();
    int b = hand_over();        /* another worker (round-robin) */

    ask(a, "set k 0 0 2\r\nhi\r\n", "STORED\r\n");
    ask(b, "get k\r\n", "VALUE k 0 2\r\nhi\r\nEND\r\n");
    close(a);
    close(b);
}
END_TEST

START_TEST(test_stats_conns_and_counters)
{
    int c[3];
    struct reply r;
    struct stats_view view = { &set, st, NULL };
    struct stats_sums sums;
    char buf[64];
    size_t i;
    size_t n;

    for (i = 0; i < 3; i++) {
        c[i] = hand_over();
        ask(c[i], "get nothing\r\n", "END\r\n");
    }
    reply_init(&r);
    ck_assert_int_eq(stats_render(&hub, &view, "conns", 5, &r), STATS_OK);
    for (n = 0, i = 0; i < r.text_len; i++) {
        n += r.text[i] == '\n';
    }
    ck_assert_uint_eq(n, 3 * 3 + 1);    /* three lines per conn + END */
    reply_release(&r);
    stats_sum(&hub, &sums);
    ck_assert_uint_eq(sums.get_misses, 3);  /* summed over workers */
    ck_assert_uint_eq(sums.cmd_get, 3);
    snprintf(buf, sizeof(buf), "%llu",
             (unsigned long long)atomic_load(&hub.curr_connections));
    ck_assert_str_eq(buf, "3");
    for (i = 0; i < 3; i++) {
        close(c[i]);
    }
}
END_TEST

START_TEST(test_stop_drains_and_closes)
{
    int a = hand_over();
    int b = hand_over();

    ask(a, "version\r\n", "VERSION 1.6.18-ember-" PACKAGE_VERSION "\r\n");
    worker_pool_stop(pool, 1000);
    ck_assert(sees_eof(a));
    ck_assert(sees_eof(b));
    ck_assert_uint_eq(atomic_load(&hub.curr_connections), 0);
    close(a);
    close(b);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_many_clients)
{
    static int c[NCLI];
    size_t i;

    for (i = 0; i < NCLI; i++) {
        c[i] = hand_over();
    }
    for (i = 0; i < NCLI; i++) {
        ask(c[i], "incr nope 1\r\n", "NOT_FOUND\r\n");
    }
    ck_assert_uint_eq(atomic_load(&hub.curr_connections), NCLI);
    for (i = 0; i < NCLI; i++) {
        close(c[i]);
    }
    for (i = 0; i < 200 && atomic_load(&hub.curr_connections) > 0; i++) {
        usleep(10000);
    }
    ck_assert_uint_eq(atomic_load(&hub.curr_connections), 0);
    ck_assert_uint_eq(atomic_load(&hub.connection_structures), 0);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_dead_fd_released)
{
    int a = hand_over();
    int i;

    close(a);   /* the client is gone before the worker looked */
    for (i = 0; i < 200 && atomic_load(&hub.curr_connections) > 0; i++) {
        usleep(10000);
    }
    ck_assert_uint_eq(atomic_load(&hub.curr_connections), 0);
}
END_TEST

/* A takeover's pause: a request already sent and one sent while paused
 * wait, a new connection waits too; after resume all are answered, in
 * order, and a set made before the pause stays. A pause while paused
 * (a new takeover) is acknowledged again. */
START_TEST(test_pause_and_resume)
{
    int a = hand_over(), b;

    ask(a, "set k 0 0 1\r\nv\r\n", "STORED\r\n");
    ck_assert_int_eq(worker_pool_pause(pool, 2000), 0);
    ck_assert_int_eq(write(a, "get k\r\n", 7), 7);
    b = hand_over();
    ck_assert_int_eq(write(b, "version\r\n", 9), 9);
    ck_assert(!answered_within(a, 300));
    ck_assert(!answered_within(b, 10));
    ck_assert_int_eq(worker_pool_pause(pool, 2000), 0);
    worker_pool_resume(pool);
    ck_assert(answered_within(a, 2000));
    ask(a, "", "VALUE k 0 1\r\nv\r\nEND\r\n");
    ck_assert(answered_within(b, 2000));
    close(a);
    close(b);
}
END_TEST

/* Count "END\r\n" in what FD sends within MS ms of silence. */
static unsigned
count_ends(int fd, int ms, size_t *tail)
{
    static const char end[] = "END\r\n";
    char buf[65536];
    unsigned ends = 0;
    ssize_t k;

    while (answered_within(fd, ms) && (k = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < k; i++) {
            *tail = buf[i] == end[*tail] ? *tail + 1
                                         : (buf[i] == 'E' ? 1 : 0);
            if (*tail == 5) {
                ends++;
                *tail = 0;
            }
        }
    }
    return ends;
}

/* A pipeline already read but waiting for its client to read the big
 * replies: paused, its rest does not run as the output drains; after
 * resume it does. */
START_TEST(test_pause_stops_a_read_pipeline)
{
    enum { GETS = 40, BIG = 500 * 1024 };
    char *cmd = malloc(BIG + 64), req[GETS * 9 + 1] = "";
    int a = hand_over();
    size_t tail = 0, n;
    unsigned before;

    ck_assert_ptr_nonnull(cmd);
    n = (size_t)snprintf(cmd, 64, "set big 0 0 %d\r\n", BIG);
    memset(cmd + n, 'b', BIG);
    memcpy(cmd + n + BIG, "\r\n", 2);
    ck_assert_int_eq(write(a, cmd, n + BIG + 2), (ssize_t)(n + BIG + 2));
    ck_assert(answered_within(a, 2000));
    ck_assert_int_eq(read(a, cmd, 64), 8);      /* STORED */
    for (int i = 0; i < GETS; i++) {
        strcat(req, "get big\r\n");
    }
    ck_assert_int_eq(write(a, req, strlen(req)), (ssize_t)strlen(req));
    usleep(200 * 1000);         /* read, executed up to the output cap */
    ck_assert_int_eq(worker_pool_pause(pool, 2000), 0);
    before = count_ends(a, 300, &tail);
    ck_assert_uint_lt(before, GETS);
    worker_pool_resume(pool);
    ck_assert_uint_eq(before + count_ends(a, 1000, &tail), GETS);
    free(cmd);
    close(a);
}
END_TEST

/* Stopping a paused pool (the handover done) closes every connection
 * without running what waited: a set sent while paused is not made. */
START_TEST(test_stop_while_paused_runs_nothing)
{
    int a = hand_over();
    struct store_session ses;
    struct store_get_res res;

    ask(a, "set k 0 0 1\r\nv\r\n", "STORED\r\n");
    ck_assert_int_eq(worker_pool_pause(pool, 2000), 0);
    ck_assert_int_eq(write(a, "set late 0 0 1\r\nx\r\n", 19), 19);
    ck_assert(!answered_within(a, 200));
    worker_pool_stop(pool, 1000);
    ck_assert(sees_eof(a));
    store_session_init(&ses, st, NULL, NULL);
    ck_assert_int_eq(store_get(&ses, "late", 4, NULL, &res), STORE_MISS);
    close(a);
}
END_TEST

START_TEST(test_dispatch_after_stop_refused)
{
    int sv[2];

    worker_pool_stop(pool, 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(worker_pool_dispatch(pool, sv[0]), ESHUTDOWN);
    close(sv[0]);   /* still the caller's */
    close(sv[1]);
}
END_TEST

static Suite *
worker_suite(void)
{
    Suite *s = suite_create("worker");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_handoff_and_shared_store);
    tcase_add_test(core, test_stats_conns_and_counters);
    tcase_add_test(core, test_stop_drains_and_closes);
    tcase_add_test(core, test_pause_and_resume);
    tcase_add_test(core, test_stop_while_paused_runs_nothing);
    tcase_add_test(core, test_pause_stops_a_read_pipeline);
    suite_add_tcase(s, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_many_clients);
    suite_add_tcase(s, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_dead_fd_released);
    tcase_add_test(errors, test_dispatch_after_stop_refused);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(worker_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
