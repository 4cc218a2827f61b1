/*
 * check_exec_dump.c -- the key listings end to end without sockets: the
 * real parser, daemon/exec_dump.c and the store's walks, text in, reply
 * bytes out. Formats and errors are memcached 1.6.18's
 * (tests/integration/test_operator.py compares them with the real
 * daemon); the chunking is ember's (a metadump answered as the socket
 * drains). The fixture is check_exec.c's.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "storage/store.h"

#include "tests/exec_fixture.h"

/* Store KEY with a value of N bytes and EXPTIME (absolute or relative). */
static void
put(const char *key, size_t n, long exptime)
{
    static char cmd[70000];
    int len = snprintf(cmd, sizeof(cmd), "set %s 0 %ld %zu noreply\r\n",
                       key, exptime, n);

    ck_assert(len > 0 && (size_t)len + n + 2 < sizeof(cmd));
    memset(cmd + len, 'v', n);
    memcpy(cmd + len + n, "\r\n", 3);
    CHECK_RUN(cmd, "");
}

/* The class and chunk size of KEY, from the store. */
static void
class_of(const char *key, unsigned *cls, size_t *size)
{
    struct store_get_res res;
    struct store_get_opt peek = { .peek = true };

    ck_assert_int_eq(store_get(&fx.ses, key, strlen(key), &peek, &res),
                     STORE_OK);
    *cls = item_class_id(res.it);
    *size = item_total_size(res.it);
    item_unref(res.it);
}

/* ---- metadump -------------------------------------------------------- */

START_TEST(test_metadump_line)
{
    char want[512];
    unsigned cls;
    size_t size;

    put("a:b/c%d~e_f-g.h", 1, 0);
    class_of("a:b/c%d~e_f-g.h", &cls, &size);
    snprintf(want, sizeof(want), "key=a%%3Ab%%2Fc%%25d~e_f-g.h exp=-1 "
             "la=%u cas=1 fetch=no cls=%u size=%zu\nEND\r\n", T0, cls,
             size);
    CHECK_RUN("lru_crawler metadump all\r\n", want);
    /* read: fetch=yes; a TTL: exp is its unix time; the same via hash */
    CHECK_RUN("get a:b/c%d~e_f-g.h\r\n",
              "VALUE a:b/c%d~e_f-g.h 0 1\r\nv\r\nEND\r\n");
    CHECK_RUN("touch a:b/c%d~e_f-g.h 100\r\n", "TOUCHED\r\n");
    snprintf(want, sizeof(want), "key=a%%3Ab%%2Fc%%25d~e_f-g.h exp=%u "
             "la=%u cas=1 fetch=yes cls=%u size=%zu\nEND\r\n", T0 + 100,
             T0, cls, size);
    CHECK_RUN("lru_crawler metadump hash\r\n", want);
    /* -C: cas=0 */
    fx.set.cas_disabled = true;
    snprintf(want, sizeof(want), "key=a%%3Ab%%2Fc%%25d~e_f-g.h exp=%u "
             "la=%u cas=0 fetch=yes cls=%u size=%zu\nEND\r\n", T0 + 100,
             T0, cls, size);
    CHECK_RUN("lru_crawler metadump all\r\n", want);
}
END_TEST

START_TEST(test_metadump_binary_key_and_classes)
{
    char cmd[64], want[256];
    unsigned big_cls;
    size_t big_size;

    /* a binary key (meta b) is URI-encoded like any other */
    CHECK_RUN("ms Zm9vAGJhcg== 2 b\r\nhi\r\n", "HD\r\n");
    put("big", 60000, 0);
    class_of("big", &big_cls, &big_size);
    /* a class list picks classes; empty items are skipped */
    snprintf(cmd, sizeof(cmd), "lru_crawler metadump ,%u,\r\n", big_cls);
    snprintf(want, sizeof(want), "key=big exp=-1 la=%u cas=2 fetch=no "
             "cls=%u size=%zu\nEND\r\n", T0, big_cls, big_size);
    CHECK_RUN(cmd, want);
    ck_assert(strstr(run("lru_crawler metadump all\r\n"),
                     "key=foo%00bar exp=-1 ") != NULL);
    /* a class with nothing: END alone */
    CHECK_RUN("lru_crawler metadump 255\r\n", "END\r\n");
}
END_TEST

/*
 * A metadump with a resume state stops whenever its reply is full and
 * exec_resume() goes on: every key exactly once over all the chunks,
 * END once at the end, and the walk freed.
 */
START_TEST(test_metadump_resumes)
{
    static char seen[4000];
    struct exec_resume rs = { 0 };
    struct request req;
    const char *line = "lru_crawler metadump all\r\n";
    size_t consumed;
    char key[32];
    const char *p;
    int action, i, chunks = 0, ends = 0;

    for (i = 0; i < 4000; i++) {
        snprintf(key, sizeof(key), "m%d", i);
        put(key, 5, 0);
    }
    ck_assert_int_eq(proto_text_parse(&fx.lim, line, strlen(line), &req,
                                      &consumed), PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_METADUMP);
    fx.r.limit = 4096;
    action = exec_request(&fx.cx, &req, &fx.r, &rs);
    for (;;) {
        flatten(&fx.r);
        chunks++;
        for (p = fx.out; (p = strstr(p, "key=m")) != NULL; p++) {
            i = atoi(p + 5);
            ck_assert_int_lt(i, 4000);
            seen[i]++;
        }
        ends += strstr(fx.out, "END\r\n") != NULL;
        reply_release(&fx.r);
        if (action != EXEC_RESUME) {
            break;
        }
        ck_assert(exec_resume_active(&rs));
        fx.r.limit = 4096;
        action = exec_resume(&fx.cx, &rs, &fx.r);
    }
    ck_assert_int_eq(action, EXEC_CONTINUE);
    ck_assert(!exec_resume_active(&rs));
    ck_assert_int_eq(ends, 1);
    ck_assert_int_ge(chunks, 4000 / 256);   /* a walk step at least */
    for (i = 0; i < 4000; i++) {
        ck_assert_msg(seen[i] == 1, "m%d seen %d times", i, seen[i]);
    }
    /* a connection closing mid-dump frees the walk (ASan checks) */
    fx.r.limit = 4096;
    ck_assert_int_eq(exec_request(&fx.cx, &req, &fx.r, &rs), EXEC_RESUME);
    exec_resume_release(&rs);
    ck_assert(!exec_resume_active(&rs));
}
END_TEST

START_TEST(test_metadump_errors)
{
    CHECK_RUN("lru_crawler metadump\r\n", "ERROR\r\n");
    CHECK_RUN("lru_crawler metadump all noreply\r\n", "ERROR\r\n");
    CHECK_RUN("lru_crawler\r\nlru_crawler foo\r\n", "ERROR\r\nERROR\r\n");
    CHECK_RUN("lru_crawler mgdump all\r\n", "ERROR\r\n");
    CHECK_RUN("lru_crawler metadump foo\r\n", "BADCLASS invalid class id\r\n");
    CHECK_RUN("lru_crawler metadump 1,x\r\n",
              "BADCLASS invalid class id\r\n");
    CHECK_RUN("lru_crawler metadump 256\r\n",
              "BADCLASS invalid class id\r\n");
    CHECK_RUN("lru_crawler metadump -1\r\n",
              "BADCLASS invalid class id\r\n");
    CHECK_RUN("lru_crawler metadump ALL\r\n",
              "BADCLASS invalid class id\r\n");
    CHECK_RUN("lru_crawler metadump ,\r\n",
              "NOTSTARTED no items to crawl\r\n");
    CHECK_RUN("lru_crawler metadump 01,+2\r\n", "END\r\n");
    /* the crawler's other verbs tune what ember does not have */
    CHECK_RUN("lru_crawler crawl all\r\n",
              "SERVER_ERROR lru_crawler crawl not supported by ember\r\n");
    CHECK_RUN("lru_crawler disable\r\n",
              "SERVER_ERROR lru_crawler disable not supported by ember\r\n");
    /* -X: refused before the class list is read, as memcached */
    fx.set.dump_disabled = true;
    CHECK_RUN("lru_crawler metadump all\r\n",
              "ERROR metadump not allowed\r\n");
    CHECK_RUN("lru_crawler metadump x\r\n",
              "ERROR metadump not allowed\r\n");
    CHECK_RUN("lru_crawler metadump\r\n", "ERROR\r\n");
}
END_TEST

/* ---- cachedump ------------------------------------------------------- */

START_TEST(test_cachedump)
{
    char want[512], cmd[64];
    unsigned cls;
    size_t size;

    put("a", 3, 0);
    put("bb", 2, T0 + 50);
    put("gone", 2, -1);             /* expired at once: not listed */
    CHECK_RUN("ms Zm9v 2 b\r\nhi\r\n", "HD\r\n");   /* binary: skipped */
    class_of("a", &cls, &size);
    /* most recently stored first; exp a unix time, 0 for never */
    snprintf(cmd, sizeof(cmd), "stats cachedump %u 0\r\n", cls);
    snprintf(want, sizeof(want), "ITEM bb [2 b; %u s]\r\nITEM a [3 b; 0 s]"
             "\r\nEND\r\n", T0 + 50);
    CHECK_RUN(cmd, want);
    snprintf(cmd, sizeof(cmd), "stats cachedump %u 1 extra\r\n", cls);
    snprintf(want, sizeof(want), "ITEM bb [2 b; %u s]\r\nEND\r\n", T0 + 50);
    CHECK_RUN(cmd, want);
    CHECK_RUN("stats cachedump 0 0\r\nstats cachedump 255 5\r\n",
              "END\r\nEND\r\n");
}
END_TEST

START_TEST(test_cachedump_errors)
{
    CHECK_RUN("stats cachedump\r\n", "CLIENT_ERROR bad command line\r\n");
    CHECK_RUN("stats cachedump 1\r\n", "CLIENT_ERROR bad command line\r\n");
    CHECK_RUN("stats cachedump x 1\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    CHECK_RUN("stats cachedump 1 -1\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    CHECK_RUN("stats cachedump 256 1\r\n", "CLIENT_ERROR Illegal slab id\r\n");
    CHECK_RUN("stats cachedumps 1 1\r\n", "ERROR\r\n");
    fx.set.dump_disabled = true;
    CHECK_RUN("stats cachedump\r\n",
              "CLIENT_ERROR stats cachedump not allowed\r\n");
    CHECK_RUN("stats cachedump 1 0\r\n",
              "CLIENT_ERROR stats cachedump not allowed\r\n");
}
END_TEST

/* As memcached: one reply holds at most 2 MB, END included. */
START_TEST(test_cachedump_2mb)
{
    char key[251], line[64];
    struct request req;
    size_t consumed;
    unsigned cls;
    size_t size;
    int i;
    const struct reply_seg *last;

    make_store((size_t)64 << 20, false);
    memset(key, 'k', 240);
    for (i = 0; i < 9000; i++) {
        snprintf(key + 240, sizeof(key) - 240, "%05d", i);
        put(key, 1, 0);
    }
    class_of(key, &cls, &size);
    snprintf(line, sizeof(line), "stats cachedump %u 0\r\n", cls);
    ck_assert_int_eq(proto_text_parse(&fx.lim, line, strlen(line), &req,
                                      &consumed), PROTO_OK);
    exec_request(&fx.cx, &req, &fx.r, NULL);
    ck_assert_uint_le(reply_pending(&fx.r), (size_t)2 << 20);
    /* "ITEM <245 bytes> [1 b; 0 s]\r\n" is 263 bytes: 7973 fit with
     * the 6 bytes memcached keeps for "END\r\n" and a NUL */
    ck_assert_uint_eq(reply_pending(&fx.r), 7973u * 263 + 5);
    last = &fx.r.segs[fx.r.nsegs - 1];
    ck_assert(memcmp(fx.r.text + last->off + last->len - 5, "END\r\n",
                     5) == 0);
}
END_TEST

static Suite *
dump_suite(void)
{
    Suite *su = suite_create("exec_dump");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_metadump_line);
    tcase_add_test(core, test_metadump_binary_key_and_classes);
    tcase_add_test(core, test_cachedump);
    suite_add_tcase(su, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_metadump_resumes);
    tcase_add_test(limits, test_cachedump_2mb);
    suite_add_tcase(su, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_metadump_errors);
    tcase_add_test(errors, test_cachedump_errors);
    suite_add_tcase(su, errors);
    return su;
}

int
main(void)
{
    SRunner *sr = srunner_create(dump_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
