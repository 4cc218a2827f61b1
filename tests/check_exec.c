/*
 * check_exec.c -- daemon/exec.c (with reply.c and stats.c) against a real
 * store and the real parser, without sockets: text in, reply bytes out.
 * Expected bytes are memcached 1.6.18's, checked against /usr/bin/memcached.
 * The last TCase drives reply_flush() over a socketpair (partial writes).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/exec.h"
#include "daemon/log.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#include "tests/exec_fixture.h"

/* ---- core ------------------------------------------------------------ */

START_TEST(test_set_get_gets)
{
    CHECK_RUN("set a 5 0 2\r\nhi\r\n", "STORED\r\n");
    CHECK_RUN("get a\r\n", "VALUE a 5 2\r\nhi\r\nEND\r\n");
    CHECK_RUN("get nope a nope\r\n", "VALUE a 5 2\r\nhi\r\nEND\r\n");
    run("gets a\r\n");
    ck_assert(strncmp(fx.out, "VALUE a 5 2 ", 12) == 0);
    ck_assert_uint_ne(strtoull(fx.out + 12, NULL, 10), 0);
    CHECK_RUN("set empty 0 0 0\r\n\r\nget empty\r\n",
              "STORED\r\nVALUE empty 0 0\r\n\r\nEND\r\n");
}
END_TEST

START_TEST(test_modes)
{
    CHECK_RUN("add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\n",
              "STORED\r\nNOT_STORED\r\n");
    CHECK_RUN("replace b 0 0 1\r\nx\r\nreplace a 0 0 1\r\nz\r\n",
              "NOT_STORED\r\nSTORED\r\n");
    CHECK_RUN("append a 0 0 2\r\n12\r\nprepend a 0 0 2\r\n00\r\n",
              "STORED\r\nSTORED\r\n");
    CHECK_RUN("get a\r\n", "VALUE a 0 5\r\n00z12\r\nEND\r\n");
    CHECK_RUN("append nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
}
END_TEST

START_TEST(test_cas)
{
    char line[128];
    uint64_t cas;

    run("set a 0 0 1\r\nx\r\ngets a\r\n");
    cas = strtoull(fx.out + strlen("STORED\r\nVALUE a 0 1 "), NULL, 10);
    ck_assert_uint_ne(cas, 0);
    snprintf(line, sizeof(line), "cas a 0 0 1 %llu\r\ny\r\n",
             (unsigned long long)cas);
    CHECK_RUN(line, "STORED\r\n");
    CHECK_RUN(line, "EXISTS\r\n");      /* the CAS moved on */
    CHECK_RUN("cas zz 0 0 1 5\r\nx\r\n", "NOT_FOUND\r\n");
    ck_assert_uint_eq(stat_of("cas_hits"), 1);
    ck_assert_uint_eq(stat_of("cas_badval"), 1);
    ck_assert_uint_eq(stat_of("cas_misses"), 1);
}
END_TEST

START_TEST(test_arith)
{
    CHECK_RUN("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n",
              "STORED\r\n15\r\n0\r\n");
    CHECK_RUN("set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n",
              "STORED\r\n1\r\n");
    CHECK_RUN("incr zz 1\r\n", "NOT_FOUND\r\n");
    CHECK_RUN("set s 0 0 2\r\nhi\r\nincr s 1\r\n",
              "STORED\r\nCLIENT_ERROR cannot increment or decrement "
              "non-numeric value\r\n");
    ck_assert_uint_eq(stat_of("incr_hits"), 2);
    ck_assert_uint_eq(stat_of("decr_hits"), 1);
    ck_assert_uint_eq(stat_of("incr_misses"), 1);
}
END_TEST

START_TEST(test_delete_touch_gat)
{
    CHECK_RUN("set a 3 0 1\r\nx\r\ndelete a\r\ndelete a\r\n",
              "STORED\r\nDELETED\r\nNOT_FOUND\r\n");
    CHECK_RUN("set a 3 0 1\r\nx\r\ntouch a 10\r\ntouch b 10\r\n",
              "STORED\r\nTOUCHED\r\nNOT_FOUND\r\n");
    CHECK_RUN("gat 100 a b\r\n", "VALUE a 3 1\r\nx\r\nEND\r\n");
    run("gats 100 a\r\n");
    ck_assert(strncmp(fx.out, "VALUE a 3 1 ", 12) == 0);
    /* gat 1 then two seconds later: gone */
    CHECK_RUN("gat 1 a\r\n", "VALUE a 3 1\r\nx\r\nEND\r\n");
    store_clock_set(fx.st, T0 + 3);
    CHECK_RUN("get a\r\n", "END\r\n");
    ck_assert_uint_eq(stat_of("touch_hits"), 4);
    ck_assert_uint_eq(stat_of("touch_misses"), 2);
    ck_assert_uint_eq(stat_of("cmd_touch"), 6);
    ck_assert_uint_eq(stat_of("cmd_get"), 1);   /* gat is not a get */
    ck_assert_uint_eq(stat_of("get_expired"), 1);
}
END_TEST

START_TEST(test_noreply)
{
    CHECK_RUN("set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\n"
              "incr a 1 noreply\r\ndelete a noreply\r\ndelete a noreply\r\n"
              "touch a 1 noreply\r\nflush_all noreply\r\n"
              "verbosity 1 noreply\r\nget a\r\n", "END\r\n");
    CHECK_RUN("set n 0 0 1 noreply\r\n5\r\nincr n 2 noreply\r\nget n\r\n",
              "VALUE n 0 1\r\n7\r\nEND\r\n");
}
END_TEST

START_TEST(test_flush_all)
{
    CHECK_RUN("set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\n",
              "STORED\r\nOK\r\nEND\r\n");
    /* delayed: still there until the time comes */
    CHECK_RUN("set b 0 0 1\r\nx\r\nflush_all 10\r\nget b\r\n",
              "STORED\r\nOK\r\nVALUE b 0 1\r\nx\r\nEND\r\n");
    store_clock_set(fx.st, T0 + 11);
    CHECK_RUN("get b\r\n", "END\r\n");
    ck_assert_uint_eq(stat_of("cmd_flush"), 2);
}
END_TEST

START_TEST(test_version_verbosity_quit)
{
    CHECK_RUN("version\r\n", "VERSION 1.6.18-ember-" PACKAGE_VERSION "\r\n");
    CHECK_RUN("verbosity 2\r\n", "OK\r\n");
    ck_assert_int_eq(atomic_load(&fx.log.level), 2);
    CHECK_RUN("quit\r\nversion\r\n", "");
    ck_assert_int_eq(fx.last_action, EXEC_CLOSE);
}
END_TEST

/* A value is sent from its item: a delete or overwrite afterwards must
 * not change the bytes of a reply already gathered. */
START_TEST(test_value_referenced_not_copied)
{
    struct request req;
    size_t consumed;
    const char *get = "get k\r\n";
    size_t i;
    bool found = false;

    run("set k 0 0 5\r\nfirst\r\n");
    ck_assert_int_eq(proto_text_parse(&fx.lim, get, strlen(get), &req,
                                      &consumed), PROTO_OK);
    exec_request(&fx.cx, &req, &fx.r, NULL);
    for (i = 0; i < fx.r.nsegs; i++) {
        found |= fx.r.segs[i].it != NULL;
    }
    ck_assert_msg(found, "the value is not an item segment");
    run_n("delete k\r\nset k 0 0 5\r\nOTHER\r\n", 30);
    /* run_n appended to the same reply: flatten shows all of it */
    ck_assert_str_eq(fx.out, "VALUE k 0 5\r\nfirst\r\nEND\r\nDELETED\r\n"
                     "STORED\r\n");
    CHECK_RUN("get k\r\n", "VALUE k 0 5\r\nOTHER\r\nEND\r\n");
}
END_TEST

START_TEST(test_stats_general)
{
    static const char *const fields[] = {
        "pid", "uptime", "time", "pointer_size", "max_connections",
        "curr_connections", "total_connections", "rejected_connections",
        "connection_structures", "cmd_get", "cmd_set", "cmd_flush",
        "cmd_touch", "get_hits", "get_misses", "get_expired",
        "get_flushed", "delete_misses", "delete_hits", "incr_misses",
        "incr_hits", "decr_misses", "decr_hits", "cas_misses", "cas_hits",
        "cas_badval", "touch_hits", "touch_misses", "bytes_read",
        "bytes_written", "limit_maxbytes", "accepting_conns", "threads",
        "conn_yields", "hash_power_level", "hash_bytes",
        "hash_is_expanding", "expired_unfetched", "evicted_unfetched",
        "evictions", "reclaimed", "curr_items", "total_items", "bytes",
        /* memcached_exporter marks the server down without these */
        "listen_disabled_num", "store_too_large", "store_no_memory",
        "lru_crawler_starts", "direct_reclaims", "crawler_items_checked",
        "crawler_reclaimed", "moves_to_cold", "moves_to_warm",
        "moves_within_lru",
        NULL,
    };
    size_t i;

    run("set a 0 0 1\r\nx\r\nget a\r\nget b\r\n");
    for (i = 0; fields[i] != NULL; i++) {
        (void)stat_of(fields[i]);   /* present and numeric */
    }
    ck_assert(strstr(fx.out, "STAT version 1.6.18-ember-") != NULL);
    ck_assert(strstr(fx.out, "STAT rusage_user ") != NULL);
    ck_assert_uint_eq(stat_of("get_hits"), 1);
    ck_assert_uint_eq(stat_of("get_misses"), 1);
    ck_assert_uint_eq(stat_of("cmd_get"), 2);
    ck_assert_uint_eq(stat_of("cmd_set"), 1);
    ck_assert_uint_eq(stat_of("curr_items"), 1);
    ck_assert_uint_eq(stat_of("limit_maxbytes"), (uint64_t)8 << 20);
    ck_assert(fx.nout > 5 &&
              strcmp(fx.out + fx.nout - 5, "END\r\n") == 0);
}
END_TEST

START_TEST(test_stats_variants)
{
    run("set a 0 0 1\r\nx\r\nstats settings\r\n");
    ck_assert(strstr(fx.out, "STAT item_size_max 65536\r\n") != NULL);
    ck_assert(strstr(fx.out, "STAT cas_enabled yes\r\n") != NULL);
    ck_assert(strstr(fx.out, "STAT maxconns 1024\r\n") != NULL);
    run("stats items\r\n");
    ck_assert(strstr(fx.out, ":number 1\r\n") != NULL);
    ck_assert(strstr(fx.out, ":age ") != NULL);
    ck_assert(strstr(fx.out, ":hits_to_temp 0\r\n") != NULL);
    run("stats slabs\r\n");
    ck_assert(strstr(fx.out, "STAT active_slabs 1\r\n") != NULL);
    ck_assert(strstr(fx.out, "STAT total_malloced ") != NULL);
    ck_assert(strstr(fx.out, ":free_chunks_end ") != NULL);
    ck_assert(strstr(fx.out, ":used_chunks 1\r\n") != NULL);
    CHECK_RUN("get a\r\nstats reset\r\n",
              "VALUE a 0 1\r\nx\r\nEND\r\nRESET\r\n");
    ck_assert_uint_eq(stat_of("get_hits"), 0);
    ck_assert_uint_eq(stat_of("cmd_set"), 0);
    CHECK_RUN("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
    ck_assert_uint_eq(stat_of("get_hits"), 1);
    CHECK_RUN("stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n");
    /* only the first word counts, as in memcached */
    CHECK_RUN("stats sizes extra words\r\n",
              "STAT sizes_status disabled\r\nEND\r\n");
    CHECK_RUN("stats conns\r\n", "END\r\n");
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_too_large_removes_old)
{
    size_t n = 70 * 1024;
    char *buf = malloc(n + 64);
    int len;

    ck_assert_ptr_nonnull(buf);
    CHECK_RUN("set a 0 0 3\r\nold\r\n", "STORED\r\n");
    len = snprintf(buf, 64, "set a 0 0 %zu\r\n", n);
    memset(buf + len, 'v', n);
    memcpy(buf + len + n, "\r\nget a\r\n", 9);
    ck_assert_str_eq(run_n(buf, (size_t)len + n + 9),
                     "SERVER_ERROR object too large for cache\r\nEND\r\n");
    ck_assert_uint_eq(stat_of("store_too_large"), 1);
    ck_assert_uint_eq(stat_of("cmd_set"), 1);  /* memcached: not counted */
    /* noreply: silent, but the old value still goes */
    CHECK_RUN("set b 0 0 3\r\nold\r\n", "STORED\r\n");
    len = snprintf(buf, 64, "set b 0 0 %zu noreply\r\n", n);
    memset(buf + len, 'v', n);
    memcpy(buf + len + n, "\r\nget b\r\n", 9);
    ck_assert_str_eq(run_n(buf, (size_t)len + n + 9), "END\r\n");
    free(buf);
}
END_TEST

/* An append whose result would exceed -I: NOT_STORED, old value kept. */
START_TEST(test_append_too_large)
{
    size_t n = 40 * 1024;
    char *buf = malloc(n + 64);
    int len;
    int round;

    ck_assert_ptr_nonnull(buf);
    for (round = 0; round < 2; round++) {
        len = snprintf(buf, 64, "%s a 0 0 %zu\r\n",
                       round == 0 ? "set" : "append", n);
        memset(buf + len, round == 0 ? 'a' : 'b', n);
        memcpy(buf + len + n, "\r\n", 2);
        ck_assert_str_eq(run_n(buf, (size_t)len + n + 2),
                         round == 0 ? "STORED\r\n" : "NOT_STORED\r\n");
    }
    run("get a\r\n");
    ck_assert_uint_eq(fx.nout, strlen("VALUE a 0 40960\r\n") + n + 7);
    free(buf);
}
END_TEST

START_TEST(test_item_size_edge)
{
    size_t n = 60 * 1024;   /* under -I with room for the header */
    char *buf = malloc(n + 64);
    int len;

    ck_assert_ptr_nonnull(buf);
    len = snprintf(buf, 64, "set big 0 0 %zu\r\n", n);
    memset(buf + len, 'v', n);
    memcpy(buf + len + n, "\r\n", 2);
    ck_assert_str_eq(run_n(buf, (size_t)len + n + 2), "STORED\r\n");
    run("get big\r\n");
    ck_assert_uint_eq(fx.nout, strlen("VALUE big 0 61440\r\n") + n + 7);
    free(buf);
}
END_TEST

START_TEST(test_no_evict_out_of_memory)
{
    size_t n = 16 * 1024;
    char *req = malloc(n + 64);
    int i;
    int len;
    bool oom = false;

    ck_assert_ptr_nonnull(req);
    make_store((size_t)2 << 20, true);
    for (i = 0; i < 400 && !oom; i++) {
        len = snprintf(req, 64, "set k%d 0 0 %zu\r\n", i, n);
        memset(req + len, 'x', n);
        memcpy(req + len + n, "\r\n", 2);
        run_n(req, (size_t)len + n + 2);
        oom = strcmp(fx.out, "SERVER_ERROR out of memory storing "
                     "object\r\n") == 0;
        ck_assert_msg(oom || strcmp(fx.out, "STORED\r\n") == 0,
                      "unexpected reply %s", fx.out);
    }
    ck_assert_msg(oom, "2 MB with -M never ran out of memory");
    ck_assert_uint_eq(stat_of("store_no_memory"), 1);
    ck_assert_uint_eq(stat_of("evictions"), 0);
    run("get k0\r\n");    /* the first item was not evicted */
    ck_assert_msg(strncmp(fx.out, "VALUE k0 0 16384\r\n", 18) == 0,
                  "k0 is gone: %.40s", fx.out);
    free(req);
}
END_TEST

START_TEST(test_cas_disabled)
{
    fx.set.cas_disabled = true;
    CHECK_RUN("set a 0 0 1\r\nx\r\ngets a\r\n",
              "STORED\r\nVALUE a 0 1 0\r\nx\r\nEND\r\n");
    CHECK_RUN("cas a 0 0 1 0\r\ny\r\n", "EXISTS\r\n");
    CHECK_RUN("cas b 0 0 1 0\r\ny\r\n", "NOT_FOUND\r\n");
}
END_TEST

START_TEST(test_flush_disabled)
{
    fx.set.flush_disabled = true;
    CHECK_RUN("set a 0 0 1\r\nx\r\nflush_all\r\nflush_all noreply\r\n"
              "get a\r\n",
              "STORED\r\nCLIENT_ERROR flush_all not allowed\r\n"
              "VALUE a 0 1\r\nx\r\nEND\r\n");
}
END_TEST

START_TEST(test_many_keys)
{
    char req[8192];
    size_t n = 4;
    int i;

    memcpy(req, "get ", 4);
    for (i = 0; i < 500; i++) {
        n += (size_t)snprintf(req + n, sizeof(req) - n, "k%d ", i);
    }
    memcpy(req + n, "\r\n", 3);
    CHECK_RUN("set k7 0 0 1\r\n7\r\nset k499 0 0 1\r\n9\r\n",
              "STORED\r\nSTORED\r\n");
    CHECK_RUN(req, "VALUE k7 0 1\r\n7\r\nVALUE k499 0 1\r\n9\r\nEND\r\n");
    ck_assert_uint_eq(stat_of("get_misses"), 498);
}
END_TEST

/*
 * With a resume state, a multi-get stops whenever its reply is full --
 * after one key at least -- and exec_resume() goes on from that key:
 * the chunks add up to the reply it gets in one go. Without one it runs
 * to its end whatever the limit; a piece of a line (more) has no END.
 */
START_TEST(test_multiget_resumes)
{
    static char whole[64 * 1024];
    static char chunks[64 * 1024];
    char line[8192];
    struct exec_resume rs = { 0 };
    struct request req;
    size_t n = 5, got = 0, consumed;
    unsigned steps = 1;
    int action, i;

    memcpy(line, "gets ", 5);
    for (i = 0; i < 300; i++) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, " k%d", i);
        if (i % 3 != 1) {
            char set[64];

            snprintf(set, sizeof(set), "set k%d 0 0 2 noreply\r\nv%d\r\n",
                     i, i % 10);
            run(set);
        }
    }
    memcpy(line + n, "\r\n", 3);
    snprintf(whole, sizeof(whole), "%s", run(line));
    ck_assert_int_eq(proto_text_parse(&fx.lim, line, n + 2, &req,
                                      &consumed), PROTO_OK);
    fx.r.limit = 1;
    action = exec_request(&fx.cx, &req, &fx.r, &rs);
    while (action == EXEC_RESUME) {
        ck_assert_ptr_nonnull(rs.pos);
        flatten(&fx.r);
        memcpy(chunks + got, fx.out, fx.nout);
        got += fx.nout;
        reply_release(&fx.r);
        fx.r.limit = 1;
        action = exec_resume(&fx.cx, &rs, &fx.r);
        steps++;
    }
    ck_assert_int_eq(action, EXEC_CONTINUE);
    ck_assert_ptr_null(rs.pos);
    flatten(&fx.r);
    memcpy(chunks + got, fx.out, fx.nout + 1);
    reply_release(&fx.r);
    ck_assert_str_eq(chunks, whole);
    ck_assert_uint_eq(steps, 200);      /* one hit per chunk */
    /* no resume state: one go, whatever the limit */
    fx.r.limit = 1;
    ck_assert_int_eq(exec_request(&fx.cx, &req, &fx.r, NULL),
                     EXEC_CONTINUE);
    flatten(&fx.r);
    ck_assert_str_eq(fx.out, whole);
    reply_release(&fx.r);
    req.more = true;
    exec_request(&fx.cx, &req, &fx.r, NULL);
    flatten(&fx.r);
    ck_assert_uint_eq(fx.nout, strlen(whole) - 5);  /* without END */
    reply_release(&fx.r);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_client_errors)
{
    CHECK_RUN("bogus\r\n", "ERROR\r\n");
    /* memcached drops the block's length plus 2, then reads "z\r\n" as
     * a command line */
    CHECK_RUN("set a 0 0 1\r\nxyz\r\n",
              "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    CHECK_RUN("set a 0 0\r\n", "ERROR\r\n");  /* memcached: too few */
    CHECK_RUN("set a 0 0 x\r\n",
              "CLIENT_ERROR bad command line format\r\n");
    CHECK_RUN("incr a x\r\n",
              "CLIENT_ERROR invalid numeric delta argument\r\n");
    CHECK_RUN("stats nonsense\r\n", "ERROR\r\n");
    CHECK_RUN("slabs reassign 1 2\r\n",
              "SERVER_ERROR slabs reassign not supported by ember\r\n");
    CHECK_RUN("slabs automove 1\r\n",
              "SERVER_ERROR slabs automove not supported by ember\r\n");
    CHECK_RUN("slabs automove x\r\nslabs automove 9\r\n",
              "CLIENT_ERROR bad command line format\r\nERROR\r\n");
}
END_TEST

START_TEST(test_shutdown)
{
    CHECK_RUN("shutdown\r\n", "ERROR: shutdown not enabled\r\n");
    ck_assert_int_eq(fx.last_action, EXEC_CONTINUE);
    fx.set.allow_shutdown = true;
    CHECK_RUN("shutdown\r\n", "");
    ck_assert_int_eq(fx.last_action, EXEC_SHUTDOWN);
}
END_TEST

/*
 * `snapshot` asks the handle the executor was given (exec_ctx.snap):
 * without one it is refused; with one the connection parks
 * (EXEC_SNAPSHOT) and replies later, so nothing is appended now.
 */
START_TEST(test_snapshot_handle)
{
    int stand_in;

    CHECK_RUN("snapshot\r\n", "SERVER_ERROR snapshots are not enabled "
              "(start emberd with --snapshot-dir)\r\n");
    ck_assert_int_eq(fx.last_action, EXEC_CONTINUE);
    /* exec only looks at whether there is one; conn.c uses it */
    fx.cx.snap = (struct snap *)&stand_in;
    CHECK_RUN("snapshot\r\n", "");
    ck_assert_int_eq(fx.last_action, EXEC_SNAPSHOT);
    fx.cx.snap = NULL;
}
END_TEST

START_TEST(test_http_and_binary)
{
    static const unsigned char bin[24] = {
        0x80, 0x0c, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef,
    };
    const unsigned char *o;

    CHECK_RUN("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "");
    ck_assert_int_eq(fx.last_action, EXEC_CLOSE_NOW);
    run_n((const char *)bin, sizeof(bin));
    ck_assert_int_eq(fx.last_action, EXEC_CLOSE);
    o = (const unsigned char *)fx.out;
    ck_assert_uint_eq(fx.nout, 24 + 29);
    ck_assert_uint_eq(o[0], 0x81);
    ck_assert_uint_eq(o[1], 0x0c);          /* opcode echoed */
    ck_assert_uint_eq(o[6] * 256 + o[7], 0x0081);
    ck_assert_uint_eq(o[11], 29);           /* body length */
    ck_assert(memcmp(o + 12, "\xde\xad\xbe\xef", 4) == 0); /* opaque */
    ck_assert(memcmp(o + 24, "binary protocol not supported", 29) == 0);
}
END_TEST

START_TEST(test_line_too_long_closes)
{
    char line[4000];

    memset(line, 'x', sizeof(line) - 3);
    memcpy(line + sizeof(line) - 3, "\r\n", 3);
    CHECK_RUN(line, "");
    ck_assert_int_eq(fx.last_action, EXEC_CLOSE);
}
END_TEST

/* reply_flush() over a socket that takes little at a time. */
START_TEST(test_reply_partial_writes)
{
    int sv[2];
    size_t n = 60 * 1024;
    char *buf = malloc(n + 64);
    char *got = malloc(4 * n);
    size_t written;
    size_t total = 0;
    size_t expect;
    int sys_err = 0;
    int rc;
    int len;
    int sndbuf = 4096;
    ssize_t k;
    struct request req;
    size_t consumed;
    const char *get = "get v v v\r\n";

    ck_assert(buf != NULL && got != NULL);
    len = snprintf(buf, 64, "set v 0 0 %zu\r\n", n);
    memset(buf + len, 'q', n);
    memcpy(buf + len + n, "\r\n", 2);
    run_n(buf, (size_t)len + n + 2);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    ck_assert_int_eq(proto_text_parse(&fx.lim, get, strlen(get), &req,
                                      &consumed), PROTO_OK);
    exec_request(&fx.cx, &req, &fx.r, NULL);
    expect = reply_pending(&fx.r);
    ck_assert_uint_eq(expect, 3 * (strlen("VALUE v 0 61440\r\n") + n + 2) + 5);
    rc = reply_flush(&fx.r, sv[0], &written, &sys_err);
    ck_assert_int_eq(rc, REPLY_AGAIN);      /* the socket is small */
    while (rc == REPLY_AGAIN || total < expect) {
        k = read(sv[1], got + total, 4 * n - total);
        ck_assert_int_gt(k, 0);
        total += (size_t)k;
        if (rc == REPLY_AGAIN) {
            rc = reply_flush(&fx.r, sv[0], &written, &sys_err);
        }
    }
    ck_assert_int_eq(rc, REPLY_OK);
    ck_assert_uint_eq(total, expect);
    ck_assert_uint_eq(reply_pending(&fx.r), 0);
    ck_assert(memcmp(got + total - 5, "END\r\n", 5) == 0);
    ck_assert(memcmp(got, "VALUE v 0 61440\r\nqqq", 20) == 0);
    close(sv[0]);
    close(sv[1]);
    free(buf);
    free(got);
}
END_TEST

static Suite *
exec_suite(void)
{
    Suite *s = suite_create("exec");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_set_get_gets);
    tcase_add_test(core, test_modes);
    tcase_add_test(core, test_cas);
    tcase_add_test(core, test_arith);
    tcase_add_test(core, test_delete_touch_gat);
    tcase_add_test(core, test_noreply);
    tcase_add_test(core, test_flush_all);
    tcase_add_test(core, test_version_verbosity_quit);
    tcase_add_test(core, test_value_referenced_not_copied);
    tcase_add_test(core, test_stats_general);
    tcase_add_test(core, test_stats_variants);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_too_large_removes_old);
    tcase_add_test(limits, test_item_size_edge);
    tcase_add_test(limits, test_append_too_large);
    tcase_add_test(limits, test_no_evict_out_of_memory);
    tcase_add_test(limits, test_cas_disabled);
    tcase_add_test(limits, test_flush_disabled);
    tcase_add_test(limits, test_many_keys);
    tcase_add_test(limits, test_multiget_resumes);
    tcase_add_test(limits, test_reply_partial_writes);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_client_errors);
    tcase_add_test(errors, test_shutdown);
    tcase_add_test(errors, test_snapshot_handle);
    tcase_add_test(errors, test_http_and_binary);
    tcase_add_test(errors, test_line_too_long_closes);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(exec_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
