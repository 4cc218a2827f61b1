/*
 * check_embersnap_damage.c -- the errors and limits of check_embersnap:
 * verify catching each kind of damage (flipped byte in a value, truncated
 * record, missing dictionary, wrong meta totals, bad keys, CAS, future
 * versions), unreadable snapshots, bad usage, load failures, and many
 * records, a full prefix table and a large value.
 */
#include "config.h"

#include "tests/check_embersnap.h"
#include "tests/fmt_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>


/* ---- errors: damage that verify must catch, bad input, bad usage ----- */

static void
flip_last(unsigned char *rec, size_t *n)
{
    rec[*n - 1] ^= 0x20;
}

static void
flip_last_resealed(unsigned char *rec, size_t *n)
{
    rec[*n - 1] ^= 0x01;
    fmt_fixture_reseal("plain", rec, *n);
}

static void
cut_ten(unsigned char *rec, size_t *n)
{
    (void)rec;
    *n -= 10;
}

static void
cut_ten_resealed(unsigned char *rec, size_t *n)
{
    *n -= 10;
    fmt_fixture_put32(rec + 32, (uint32_t)(*n - SNAPFMT_HDR_SIZE));
    fmt_fixture_reseal("doc:2", rec, *n);
}

static void
future_version(unsigned char *rec, size_t *n)
{
    rec[1] = SNAPFMT_VERSION + 1;
    fmt_fixture_reseal("user:1", rec, *n);
}

START_TEST(test_verify_flipped_value)
{
    edit_record("user:2", flip_last);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.out, "corrupt: record 'user:2': record checksum");
    HAS(fx.out, "1 problem, corrupt 1\n");
    /* what each policy keeps: the other 8 live items under salvage */
    HAS(fx.out, "verify: on start: fail: refuses to start; cold: 0 items; "
                "salvage: 8 live items of the 10 in meta (1 record skipped"
                ": first: record 'user:2': record checksum");
    /* the other commands go on, reporting the bad record */
    ck_assert_int_eq(run("ls", "-H", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_uint_eq(count_lines(fx.out), 8);
    HAS(fx.err, "record 'user:2'");
    ck_assert_int_eq(run("get", "user:2", "@", NULL), ES_EXIT_USAGE);
    ck_assert_uint_eq(fx.nout, 0);
    ck_assert_int_eq(run("dump", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_uint_eq(count_lines(fx.out), 8);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "8 live, 1 expired, 1 unreadable (run verify)");
    /* damage behind a valid record checksum: the value checksum */
    edit_record("plain", flip_last_resealed);
    ck_assert_int_eq(run("verify", "-q", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_uint_eq(count_lines(fx.out), 2);  /* summary, policies */
    HAS(fx.out, "salvage: 7 live items of the 10 in meta (2 records "
                "skipped");
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.out, "corrupt: record 'plain': value checksum");
    HAS(fx.out, "2 problems, corrupt 2\n");
}
END_TEST

START_TEST(test_verify_truncated)
{
    edit_record("doc:2", cut_ten);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    /* found from the header before the checksum reads what is missing */
    HAS(fx.out, "corrupt: record 'doc:2': payload length 80 at byte 32, "
                "but 70 bytes follow the header (truncated or damaged)");
    HAS(fx.out, "meta stored_bytes is");
    edit_record("doc:2", cut_ten_resealed);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    /* behind a valid checksum: the zstd frame is cut, seen from its
     * block headers before anything is decompressed */
    HAS(fx.out, "corrupt: record 'doc:2': payload of 60 bytes is not one "
                "zstd frame");
}
END_TEST

START_TEST(test_verify_missing_dict)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);

    ck_assert_int_eq(snapfmt_dict_del(txn, 1), SNAPFMT_OK);
    done(&e, txn);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.out, "missing-dict: record 'doc:0': dictionary 1 is not in the "
                "snapshot\n");
    HAS(fx.out, "missing-dict: record 'doc:4'");
    HAS(fx.out, "dicts: meta dict_id 1 names a dictionary that is not in "
                "dicts\n");
    HAS(fx.out, "6 problems, missing-dict 5, dicts 1\n");
    ck_assert_int_eq(run("get", "doc:0", "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "dictionary 1 is not in the snapshot");
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_OK);
}
END_TEST

START_TEST(test_verify_wrong_totals)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);

    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "items", 11), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "bytes",
                                          fx.meta.bytes + 1), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "cas_max", 23),
                     SNAPFMT_OK);
    done(&e, txn);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.out, "meta: meta items is 11, the records add up to 10\n");
    HAS(fx.out, "meta: meta bytes is 2045, the records add up to 2044\n");
    HAS(fx.out, "meta: meta cas_max is 23, the records add up to 24\n");
    HAS(fx.out, "3 problems, meta 3\n");
}
END_TEST

START_TEST(test_verify_keys_cas_version)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);
    struct srv s = { .refuse = NULL };
    char longkey[300], target[32], want[96];

    memset(longkey, 'k', 251);
    longkey[251] = '\0';
    put_item(txn, c, "bad key", "v", 1, 0, 0, 30);
    put_item(txn, c, longkey, "v", 1, 0, 0, 31);
    longkey[250] = '\0';
    put_item(txn, c, longkey, "v", 1, 0, 0, 5000);
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    done(&e, txn);
    snapfmt_codec_destroy(&c);
    edit_record("user:1", future_version);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    /* any bytes may be in a key (meta protocol base64 keys); only the
     * length is memcached's rule */
    HASNT(fx.out, "bad\\x20key");
    HAS(fx.out, "bad-key: record 'kkkk");
    HAS(fx.out, "key of 251 bytes, memcached keys have 1-250\n");
    HASNT(fx.out, "key of 250 bytes");
    HAS(fx.out, "cas: record 'kkkk");
    HAS(fx.out, "cas 5000 above meta cas_reserved 1000");
    snprintf(want, sizeof(want), "version: record 'user:1': record "
             "format version %u, this build reads 1 to %u",
             SNAPFMT_VERSION + 1, SNAPFMT_REC_VERSION);
    HAS(fx.out, want);
    HAS(fx.out, "meta: meta cas_max 5000 is above cas_reserved 1000");
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=bad", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "ms YmFkIGtleQ== 1 b F0 T0\r\nv\r\n");
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=kkkk", "@",
                         NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "a key of 251 bytes is longer than memcached allows (250)");
    ck_assert_uint_eq(count_lines(fx.out), 2);
    /* load sends the same meta command and counts its HD as stored */
    srv_start(&s);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    ck_assert_int_eq(run("load", "--prefix=bad", target, "@", NULL),
                     ES_EXIT_OK);
    srv_stop(&s);
    ck_assert_uint_eq(s.ngot, 30);
    ck_assert(memcmp(s.got, "ms YmFkIGtleQ== 1 b F0 T0\r\nv\r\n", 30) == 0);
    free(s.got);
    HAS(fx.out, "1 sent, 1 stored, 0 not stored");
}
END_TEST

START_TEST(test_unreadable_snapshots)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    char path[128];
    FILE *f;

    txn = begin_rw(&e);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "format_version",
                                          SNAPFMT_VERSION + 1), SNAPFMT_OK);
    done(&e, txn);
    ck_assert_int_eq(run("ls", "@", NULL), ES_EXIT_USAGE);
    ck_assert_str_eq(fx.out, "");
    snprintf(path, sizeof(path), "snapshot format version %u is newer than "
             "this build reads", SNAPFMT_VERSION + 1);
    HAS(fx.err, path);
    ck_assert_uint_eq(count_lines(fx.err), 1);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_USAGE);
    /* garbage instead of an LMDB file */
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 20000; i++) {
        fputc(i * 7, f);
    }
    fclose(f);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_USAGE);
    ck_assert_uint_eq(count_lines(fx.err), 1);
    HAS(fx.err, "embersnap: ");
    /* no snapshot at all */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "no data.mdb");
    ck_assert_int_eq(run("verify", "/nonexistent/dir", NULL), ES_EXIT_USAGE);
    ck_assert_uint_eq(count_lines(fx.err), 1);
}
END_TEST

START_TEST(test_truncated_file)
{
    char path[128];

    /* cut short: refused before LMDB maps the missing pages (SIGBUS) */
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    ck_assert_int_eq(truncate(path, 3 * 4096), 0);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "data.mdb is truncated: 12288 bytes, its last snapshot uses");
    ck_assert_uint_eq(count_lines(fx.err), 1);
    ck_assert_str_eq(fx.out, "");
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(run("ls", "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "data.mdb is empty");
}
END_TEST

START_TEST(test_stop_and_write_errors)
{
    volatile sig_atomic_t stop = 1;
    char *argv[] = { (char *)"embersnap", (char *)"verify", fx.dir, NULL };
    FILE *out = tmpfile(), *err = tmpfile(), *full;

    /* a stop request (Ctrl-C): nothing more is printed, exit 2 */
    ck_assert(out != NULL && err != NULL);
    ck_assert_int_eq(es_main(3, argv, out, err, NOW, &stop), ES_EXIT_USAGE);
    ck_assert_int_eq(ftell(out), 0);
    ck_assert_int_eq(ftell(err), 0);
    /* output that cannot be written ends the walk early */
    full = fopen("/dev/full", "w");
    ck_assert_ptr_nonnull(full);
    setvbuf(full, NULL, _IONBF, 0);
    argv[1] = (char *)"dump";
    ck_assert_int_eq(es_main(3, argv, full, err, NOW, NULL), ES_EXIT_USAGE);
    fclose(full);
    fclose(out);
    fclose(err);
}
END_TEST

/* Fork a process that opens the snapshot and then, HOLD: keeps it open
 * (a daemon) until killed; else dies inside a read transaction. */
/* A child that opens the snapshot; returns once it has it open. */
static pid_t
reader_process(bool hold)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = NULL;
    int ready[2];
    char c = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(ready), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid != 0) {
        close(ready[1]);
        /* the byte, or EOF when the child failed before sending it */
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        return pid;
    }
    close(ready[0]);
    if (snapfmt_env_open(fx.dir, SNAPFMT_RDONLY, 0, &e, NULL, 0) != 0) {
        _exit(1);
    }
    if (write(ready[1], &c, 1) != 1) {
        _exit(1);
    }
    if (hold) {
        for (;;) {
            pause();
        }
    }
    if (snapfmt_txn_begin(e, true, &txn, NULL, 0) != 0) {
        _exit(1);
    }
    _exit(0);
}

START_TEST(test_stale_reader)
{
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];
    pid_t holder, dier;
    int st, dead = -1;

    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "lmdb readers:  1 active (this one included)\n");
    /* with the environment held open elsewhere (as emberd does), a
     * process that dies inside a read transaction leaves its slot */
    holder = reader_process(true);
    dier = reader_process(false);
    ck_assert_int_eq(waitpid(dier, &st, 0), dier);
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, ", 1 STALE: dead pid ");
    ck_assert_int_eq(run("info", "--json", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "\"readers_active\":1,\"readers_stale\":1,");
    /* a writer frees such slots before each write transaction: opening
     * for writing (which begins one) already clears it */
    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HASNT(fx.out, "STALE");
    ck_assert_int_eq(snapfmt_env_clear_stale_readers(e, &dead), SNAPFMT_OK);
    ck_assert_int_eq(dead, 0);
    snapfmt_env_close(&e);
    kill(holder, SIGKILL);
    ck_assert_int_eq(waitpid(holder, &st, 0), holder);
}
END_TEST

START_TEST(test_usage)
{
    static const char *const cmds[] = { "info", "ls", "get", "stats",
                                        "verify", "dump", "load" };

    ck_assert_int_eq(run(NULL), ES_EXIT_USAGE);
    HAS(fx.err, "usage: embersnap");
    ck_assert_int_eq(run("--help", NULL), ES_EXIT_OK);
    HAS(fx.out, "exit status: 0 ok, 1 problems found");
    ck_assert_int_eq(run("frobnicate", "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "unknown command 'frobnicate'");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        ck_assert_int_eq(run(cmds[i], "--help", NULL), ES_EXIT_OK);
        HAS(fx.out, "usage: embersnap ");
        HAS(fx.out, cmds[i]);
        ck_assert_int_eq(run(cmds[i], NULL), ES_EXIT_USAGE);
        ck_assert_int_eq(run(cmds[i], "--bogus", "@", NULL), ES_EXIT_USAGE);
        HAS(fx.err, "--bogus");
    }
    ck_assert_int_eq(run("ls", "--sort=age", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("ls", "--limit=-1", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("ls", "--limit=0", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("ls", "@", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("stats", "--sep=", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("dump", "--format=xml", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("dump", "--format=memcached", "--text", "@", NULL),
                     ES_EXIT_USAGE);
    ck_assert_int_eq(run("--now=soon", "ls", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("get", "", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("load", "nocolon", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("load", "--window=0", "127.0.0.1:1", "@", NULL),
                     ES_EXIT_USAGE);
    ck_assert_str_eq(fx.out, "");
    /* --now moves the clock: at NOW + 200 user:3 has expired too */
    ck_assert_int_eq(run("--now=1700000200", "ls", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 8);
}
END_TEST

/* The messages of the shared option parser (tools/embersnap/snap_opts.c):
 * a value out of range names the option, what it wants and what it got. */
START_TEST(test_option_messages)
{
    static const struct {
        const char *args[4];
        const char *msg;
    } cases[] = {
        { { "ls", "--limit=0", "@" }, "embersnap ls: --limit wants a "
          "positive number, not '0' (see embersnap ls --help)\n" },
        { { "ls", "--sort=age", "@" }, "embersnap ls: --sort wants key, "
          "size or ttl, not 'age' (see embersnap ls --help)\n" },
        { { "stats", "--top=65537", "@" }, "embersnap stats: --top wants "
          "0..65536, not '65537' (see embersnap stats --help)\n" },
        { { "load", "--window=65537", "h:1", "@" }, "embersnap load: "
          "--window wants 1..65536, not '65537' (see embersnap load "
          "--help)\n" },
        { { "load", "--timeout=0", "h:1", "@" }, "embersnap load: --timeout "
          "wants 1..86400 seconds, not '0' (see embersnap load --help)\n" },
        { { "dump", "--format=xml", "@" }, "embersnap dump: --format wants "
          "json or memcached, not 'xml' (see embersnap dump --help)\n" },
        { { "verify", "-x", "@" }, "embersnap verify: option -x is unknown "
          "or needs a value (see embersnap verify --help)\n" },
        { { "ls", "--limit" }, "embersnap ls: option -l is unknown or "
          "needs a value (see embersnap ls --help)\n" },
        { { "info", "--json", "@", "@" }, "embersnap info: wants exactly "
          "one DIR (see embersnap info --help)\n" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *a = cases[i].args;

        ck_assert_int_eq(run(a[0], a[1], a[2], a[3], NULL), ES_EXIT_USAGE);
        ck_assert_str_eq(fx.err, cases[i].msg);
        ck_assert_str_eq(fx.out, "");
    }
    /* the highest value is accepted: the walk runs */
    ck_assert_int_eq(run("stats", "--top=65536", "--sep=:", "--json", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_int_eq(run("verify", "-q", "--quiet", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "0 problems");
}
END_TEST

START_TEST(test_load_errors)
{
    struct srv s = { .refuse = "user:3" };
    char target[32];
    int fd, port;
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);

    /* refused items are counted and named; exit 1 */
    srv_start(&s);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    ck_assert_int_eq(run("load", target, "@", NULL), ES_EXIT_PROBLEMS);
    srv_stop(&s);
    free(s.got);
    HAS(fx.err, "user:3: NOT_STORED");
    HAS(fx.out, "9 sent, 8 stored, 1 not stored");
    /* a server that never answers: give up after --timeout, exit 2 */
    s = (struct srv){ .silent = true };
    srv_start(&s);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    ck_assert_int_eq(run("load", "--timeout=1", target, "@", NULL),
                     ES_EXIT_USAGE);
    srv_stop(&s);
    free(s.got);
    HAS(fx.err, "made no progress for 1000 ms");
    HAS(fx.out, "9 sent, 0 stored");
    /* nobody listening: a port that was just free */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    snprintf(target, sizeof(target), "[127.0.0.1]:%d", port);
    ck_assert_int_eq(run("load", target, "@", NULL), ES_EXIT_USAGE);
    HAS(fx.err, "cannot connect to");
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

/* N records "k%06u" (PREFIXED: "p%06u:x") with values of (i * 37) % 3000
 * bytes and TTLs spread over 500 s. */
static void
write_many(unsigned n, bool prefixed)
{
    struct snapfmt_codec *c = snapfmt_codec_create(1);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);
    char key[32], *val = malloc(3000);

    ck_assert_ptr_nonnull(val);
    memset(val, 'v', 3000);
    ck_assert_int_eq(snapfmt_items_clear(txn), SNAPFMT_OK);
    memset(&fx.meta, 0, sizeof(fx.meta));
    for (unsigned i = 0; i < n; i++) {
        if (prefixed) {
            snprintf(key, sizeof(key), "p%06u:x", i);
        } else {
            snprintf(key, sizeof(key), "k%06u", i);
        }
        put_item(txn, c, key, val, (i * 37) % 3000, i, NOW + 1 + i % 500,
                 i + 1);
    }
    fx.meta.format_version = 2;
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    done(&e, txn);
    snapfmt_codec_destroy(&c);
    free(val);
}

START_TEST(test_many_records)
{
    char want[128];

    write_many(20000, false);
    ck_assert_int_eq(run("verify", "-q", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, ": 20000 records (20000 live, 0 expired), 0 problems\n");
    ck_assert_int_eq(run("ls", "-H", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 20000);
    ck_assert_int_eq(run("dump", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 20000);
    /* the largest values: (i * 37) % 3000 == 2999 first, key order on ties */
    ck_assert_int_eq(run("ls", "--sort=size", "--limit=3", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 3);
    ck_assert(strncmp(fx.out, "      2999", 10) == 0);
    ck_assert_int_eq(run("ls", "--sort=ttl", "--limit=2", "-H", "@", NULL),
                     ES_EXIT_OK);
    snprintf(want, sizeof(want), "%10u %10u %10s %20u  k000000\n"
             "%10u %10u %10s %20u  k000500\n", 0u, 0u, "1", 1u,
             (500u * 37) % 3000, 500u, "1", 501u);
    ck_assert_str_eq(fx.out, want);
    ck_assert_int_eq(run("stats", "--json", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "{\"records\":20000,");
    HAS(fx.out, "\"prefix_count\":1,\"prefixes\":[{\"prefix\":null,"
                "\"count\":20000,");
    ck_assert_int_eq(run("ls", "--prefix=k0199", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 100);
}
END_TEST

/* One generation of a writer: every record rewritten and meta totals to
 * match, in one transaction, as emberd's writer commits a snapshot. */
static void
write_generation(struct snapfmt_env *e, struct snapfmt_codec *c, unsigned g)
{
    char key[16], val[64];
    struct snapfmt_txn *txn = NULL;

    if (snapfmt_txn_begin(e, false, &txn, NULL, 0) != SNAPFMT_OK ||
        snapfmt_items_clear(txn) != SNAPFMT_OK) {
        _exit(3);
    }
    memset(&fx.meta, 0, sizeof(fx.meta));
    memset(val, 'a' + (int)(g % 26), sizeof(val));
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "w%04u", i);
        /* no Check macro here: the writer child is killed (see
         * try_put_item) */
        if (!try_put_item(txn, c, key, val, (g + i) % sizeof(val), g, 0,
                          (uint64_t)g * 1000 + i + 1)) {
            _exit(5);
        }
    }
    fx.meta.format_version = 2;
    fx.meta.sequence = g;
    if (snapfmt_meta_write(txn, &fx.meta) != SNAPFMT_OK ||
        snapfmt_txn_commit(&txn, NULL, 0) != SNAPFMT_OK) {
        _exit(4);
    }
}

/* Whether the snapshot's meta shows no commit of the writer child yet. */
static bool
writer_not_committed(void)
{
    ck_assert_int_eq(run("info", "--json", "@", NULL), ES_EXIT_OK);
    return strstr(fx.out, "\"sequence\":0,") != NULL;
}

START_TEST(test_verify_beside_writer)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX];
    unsigned runs = 0;
    pid_t pid;
    int st;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    write_generation(e, c, 0);
    snapfmt_env_close(&e);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* a writer committing new snapshots until killed */
        if (snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)) != 0) {
            _exit(2);
        }
        for (unsigned g = 1;; g++) {
            write_generation(e, c, g);
        }
    }
    /* at least 30 rounds, and on until the writer committed (a loaded
     * machine may not have run it yet): a minute at most */
    for (runs = 0; runs < 30 || writer_not_committed(); runs++) {
        ck_assert_uint_lt(runs, 3000);
        ck_assert_int_eq(run("verify", "-q", "@", NULL), ES_EXIT_OK);
        HAS(fx.out, ": 1000 records (1000 live, 0 expired), 0 problems\n");
        ck_assert_int_eq(run("ls", "-H", "--prefix=w0", "@", NULL),
                         ES_EXIT_OK);
        ck_assert_uint_eq(count_lines(fx.out), 1000);
    }
    ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(run("info", "--json", "@", NULL), ES_EXIT_OK);
    HASNT(fx.out, "\"sequence\":0,");
    snapfmt_codec_destroy(&c);
}
END_TEST

START_TEST(test_prefix_table_full)
{
    write_many(ES_PREFIX_MAX + 100, true);
    ck_assert_int_eq(run("stats", "--json", "--top=0", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "\"prefix_count\":65536,\"prefixes\":[],"
                "\"other\":{\"count\":100,");
}
END_TEST

START_TEST(test_large_value)
{
    struct snapfmt_codec *c = snapfmt_codec_create(3);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);
    size_t n = 3 << 20;
    unsigned char *v = malloc(n);
    uint64_t seed = 5;

    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = (unsigned char)(i % 251 == 0 ? rnd(&seed) : i);
    }
    put_item(txn, c, "big", v, n, 0, 0, 99);
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    done(&e, txn);
    ck_assert_int_eq(run("get", "big", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, n);
    ck_assert(memcmp(fx.out, v, n) == 0);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_OK);
    ck_assert_int_eq(run("ls", "--sort=size", "--limit=1", "-H", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "   3145728          0      never                   99  "
                "big\n");
    free(v);
    snapfmt_codec_destroy(&c);
}
END_TEST

void
add_error_tests(TCase *tc)
{
    tcase_add_test(tc, test_verify_flipped_value);
    tcase_add_test(tc, test_verify_truncated);
    tcase_add_test(tc, test_verify_missing_dict);
    tcase_add_test(tc, test_verify_wrong_totals);
    tcase_add_test(tc, test_verify_keys_cas_version);
    tcase_add_test(tc, test_unreadable_snapshots);
    tcase_add_test(tc, test_truncated_file);
    tcase_add_test(tc, test_stop_and_write_errors);
    tcase_add_test(tc, test_stale_reader);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_option_messages);
    tcase_add_test(tc, test_load_errors);
}

void
add_limit_tests(TCase *tc)
{
    tcase_add_test(tc, test_many_records);
    tcase_add_test(tc, test_prefix_table_full);
    tcase_add_test(tc, test_verify_beside_writer);
    tcase_add_test(tc, test_large_value);
}
