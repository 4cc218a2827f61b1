/*
 * check_handoff.c -- daemon/handoff.c, the control socket a takeover
 * talks over: fields escaped and read back, messages with descriptors,
 * the socket bound owner-only (also where the directory's path is too
 * long for a sockaddr_un), removed only while it is ours, and the
 * replies to a peer that closed, sent too much, or says nothing; and
 * takeover_mem_available() over /proc/meminfo texts.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/handoff.h"
#include "daemon/takeover.h"
#include "snapshot/format.h"
#include "tests/fmt_fixture.h"

static char root[64];
static char err[256];

static void
setup(void)
{
    snprintf(root, sizeof(root), "/tmp/check_handoff.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void
teardown(void)
{
    fmt_fixture_rmtree(root);
}

static void
pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
                                sv), 0);
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_fields_round_trip)
{
    static const char *values[] = { "127.0.0.1,[::1]:11211", "a b%c",
                                    "/dir with space/x", "", "%%41" };
    char msg[HANDOFF_MSG_MAX], out[256];
    unsigned long long v = 0;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(msg, sizeof(msg), "HELLO v=1");
        ck_assert(handoff_put(msg, sizeof(msg), "x", values[i]));
        ck_assert(handoff_put(msg, sizeof(msg), "port", "11211"));
        ck_assert_ptr_null(strchr(msg + 6, '\n'));
        ck_assert(handoff_field(msg, "x", out, sizeof(out)));
        ck_assert_str_eq(out, values[i]);
        ck_assert(handoff_field_u64(msg, "port", &v));
        ck_assert_uint_eq(v, 11211);
    }
    ck_assert(!handoff_field(msg, "nope", out, sizeof(out)));
    ck_assert(!handoff_field(msg, "por", out, sizeof(out)));
    ck_assert(!handoff_field_u64("OK n=12x", "n", &v));
    ck_assert(!handoff_field_u64("OK n=-1", "n", &v));
    ck_assert(!handoff_field("OK x=%4", "x", out, sizeof(out)));
}
END_TEST

START_TEST(test_message_with_descriptors)
{
    int sv[2], fds[3], got[HANDOFF_FDS_MAX], p[2];
    size_t n = 0;
    char msg[HANDOFF_MSG_MAX], byte = 0;

    pair(sv);
    ck_assert_int_eq(pipe(p), 0);
    fds[0] = p[1];
    fds[1] = p[1];
    fds[2] = p[0];
    ck_assert_int_eq(handoff_send(sv[0], "HANDOVER n=2", fds, 3, err,
                                  sizeof(err)), 0);
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), got, &n,
                                  err, sizeof(err)), 0);
    ck_assert_str_eq(msg, "HANDOVER n=2");
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(write(got[1], "!", 1), 1);   /* copies of the pipe */
    ck_assert_int_eq(read(got[2], &byte, 1), 1);
    ck_assert_int_eq(byte, '!');
    ck_assert_int_eq(fcntl(got[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    for (size_t i = 0; i < n; i++) {
        close(got[i]);
    }
    /* descriptors nobody wants are closed, not leaked */
    ck_assert_int_eq(handoff_send(sv[0], "X", fds, 1, err, sizeof(err)), 0);
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), 0);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Bind in a directory whose path does not fit a sockaddr_un: reached
 * through /proc/self/fd; the file is a socket, mode 0600. */
START_TEST(test_listen_connect_long_path)
{
    char dir[512], path[600], msg[HANDOFF_MSG_MAX];
    unsigned long long ino = 0;
    struct stat sb;
    int lfd, cfd, sfd;
    pid_t pid = 0;

    snprintf(dir, sizeof(dir), "%s/%0150d", root, 7);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(handoff_listen(dir, &lfd, &ino, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/" SNAPFMT_CONTROL_FILE, dir);
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(handoff_connect(dir, &cfd, err, sizeof(err)), 0);
    ck_assert_int_eq(handoff_accept(lfd, &sfd, &pid, err, sizeof(err)), 0);
    ck_assert_int_eq(pid, getpid());
    ck_assert_int_eq(handoff_send(cfd, "HELLO", NULL, 0, err, sizeof(err)),
                     0);
    ck_assert_int_eq(handoff_recv(sfd, 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), 0);
    ck_assert_str_eq(msg, "HELLO");
    ck_assert_int_eq(handoff_accept(lfd, &sfd, &pid, err, sizeof(err)),
                     EAGAIN);
    close(cfd);
    handoff_unlink(dir, ino);
    ck_assert_int_ne(lstat(path, &sb), 0);
    close(lfd);
}
END_TEST

/* A new owner's socket replaced ours: ours is not removed over it. */
START_TEST(test_unlink_only_our_own)
{
    unsigned long long ino1 = 0, ino2 = 0;
    char path[128];
    struct stat sb;
    int l1, l2, c;

    ck_assert_int_eq(handoff_listen(root, &l1, &ino1, err, sizeof(err)), 0);
    ck_assert_int_eq(handoff_listen(root, &l2, &ino2, err, sizeof(err)), 0);
    ck_assert_uint_ne(ino1, ino2);
    handoff_unlink(root, ino1);
    snprintf(path, sizeof(path), "%s/" SNAPFMT_CONTROL_FILE, root);
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert_int_eq(handoff_connect(root, &c, err, sizeof(err)), 0);
    close(c);
    handoff_unlink(root, ino2);
    ck_assert_int_ne(lstat(path, &sb), 0);
    close(l1);
    close(l2);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(test_nobody_listens)
{
    unsigned long long ino = 0;
    int fd = 0, l;

    ck_assert_int_eq(handoff_connect(root, &fd, err, sizeof(err)), ENOENT);
    ck_assert_int_eq(fd, -1);
    /* a socket file left by a dead emberd: refused, not a hang */
    ck_assert_int_eq(handoff_listen(root, &l, &ino, err, sizeof(err)), 0);
    close(l);
    ck_assert_int_eq(handoff_connect(root, &fd, err, sizeof(err)),
                     ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(err, SNAPFMT_CONTROL_FILE));
}
END_TEST

START_TEST(test_closed_silent_and_oversized)
{
    char msg[16], big[200];
    int sv[2];

    pair(sv);
    ck_assert_int_eq(handoff_recv(sv[1], 50, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), ETIMEDOUT);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(handoff_send(sv[0], big, NULL, 0, err, sizeof(err)),
                     0);
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), EBADMSG);
    /* a last word before closing is still read, then the close */
    ck_assert_int_eq(handoff_send(sv[0], "NO why=x", NULL, 0, err,
                                  sizeof(err)), 0);
    close(sv[0]);
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), 0);
    ck_assert_str_eq(msg, "NO why=x");
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), EPIPE);
    ck_assert_int_eq(handoff_send(sv[1], "DONE", NULL, 0, err, sizeof(err)),
                     EPIPE);
    close(sv[1]);
}
END_TEST

/* The owner turns a second takeover away: its NO, then a close with the
 * HELLO it never read. Linux then reports the reset before the NO, which
 * is still queued: the NO is what the new emberd must read. */
START_TEST(test_last_word_after_a_reset)
{
    char msg[32];
    int sv[2];

    pair(sv);
    ck_assert_int_eq(handoff_send(sv[1], "HELLO v=1", NULL, 0, err,
                                  sizeof(err)), 0);
    ck_assert_int_eq(handoff_send(sv[0], "NO why=busy", NULL, 0, err,
                                  sizeof(err)), 0);
    close(sv[0]);               /* the HELLO unread: a reset */
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), 0);
    ck_assert_str_eq(msg, "NO why=busy");
    ck_assert_int_eq(handoff_recv(sv[1], 1000, msg, sizeof(msg), NULL, NULL,
                                  err, sizeof(err)), EPIPE);
    close(sv[1]);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

START_TEST(test_mem_available)
{
    ck_assert_uint_eq(takeover_mem_available(
                          "MemTotal:  100 kB\nMemFree: 5 kB\n"
                          "MemAvailable:    2048 kB\nBuffers: 1 kB\n"),
                      2048u * 1024u);
    ck_assert_uint_eq(takeover_mem_available("MemAvailable: 1 kB\n"), 1024);
    /* an old kernel without the line: unknown, the check is skipped */
    ck_assert_uint_eq(takeover_mem_available("MemTotal: 100 kB\n"),
                      UINT64_MAX);
    ck_assert_uint_eq(takeover_mem_available("MemAvailable: x kB\n"),
                      UINT64_MAX);
    ck_assert_uint_eq(takeover_mem_available(""), UINT64_MAX);
}
END_TEST

START_TEST(test_put_does_not_overflow)
{
    char msg[24] = "HELLO";

    ck_assert(!handoff_put(msg, sizeof(msg), "listen",
                           "a value that is far too long"));
    ck_assert_str_eq(msg, "HELLO");         /* unchanged */
    ck_assert(!handoff_put(msg, sizeof(msg), "v", "% % % % % % %"));
    ck_assert_str_eq(msg, "HELLO");
    ck_assert(handoff_put(msg, sizeof(msg), "v", "1"));
    ck_assert_str_eq(msg, "HELLO v=1");
}
END_TEST

static Suite *
handoff_suite(void)
{
    Suite *s = suite_create("handoff");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_fields_round_trip);
    tcase_add_test(core, test_message_with_descriptors);
    tcase_add_test(core, test_listen_connect_long_path);
    tcase_add_test(core, test_unlink_only_our_own);
    suite_add_tcase(s, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_mem_available);
    tcase_add_test(limits, test_put_does_not_overflow);
    suite_add_tcase(s, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_nobody_listens);
    tcase_add_test(errors, test_closed_silent_and_oversized);
    tcase_add_test(errors, test_last_word_after_a_reset);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(handoff_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
