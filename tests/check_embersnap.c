/*
 * check_embersnap.c -- embersnap's commands (es_main) over snapshots the
 * fixture writes with format.h's writer-side API: the fixture, the tiny
 * server for `load`, and exact output on the known data set (core).
 * Damage, bad input and limits are in check_embersnap_damage.c.
 */
#include "config.h"

#include "tests/check_embersnap.h"
#include "tests/fmt_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSAMPLES 600

struct fx fx;

/* ---- fixture ---------------------------------------------------------- */

uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A JSON-like value, as a cache holds; dictionaries are trained on them. */
static size_t
json_value(uint64_t *seed, char *out, size_t cap)
{
    static const char *names[] = { "alice", "bob", "carol", "dave" };
    size_t n = 0, target = 100 + rnd(seed) % 300;

    n += (size_t)snprintf(out, cap, "{\"id\":%llu,\"name\":\"%s\",\"tags\":[",
                          (unsigned long long)(rnd(seed) % 100000),
                          names[rnd(seed) % 4]);
    while (n + 30 < target) {
        n += (size_t)snprintf(out + n, cap - n, "\"t%llu\",",
                              (unsigned long long)(rnd(seed) % 50));
    }
    n += (size_t)snprintf(out + n, cap - n, "\"end\"]}");
    return n;
}

/*
 * Encode and put one item, adding it to the fixture's meta totals.
 * Uses no Check macro, so a child process that is killed may call it: a
 * Check macro (even a passing one) writes into Check's message stream,
 * and a SIGKILL in the middle of that write corrupts it for the suite.
 */
bool
try_put_item(struct snapfmt_txn *txn, struct snapfmt_codec *c,
             const char *key, const void *val, size_t n, uint32_t flags,
             uint32_t exptime, uint64_t cas)
{
    struct snapfmt_item it = { key, strlen(key), val, (uint32_t)n, flags,
                               exptime, NOW - 5, cas, 0 };
    size_t cap = snapfmt_encode_bound(n), len;
    void *rec = malloc(cap);
    bool ok = rec != NULL &&
              snapfmt_encode(c, &it, rec, cap, &len) == SNAPFMT_OK &&
              snapfmt_put(txn, key, it.nkey, rec, len, false) ==
                  SNAPFMT_OK;

    if (ok) {
        fx.meta.items++;
        fx.meta.bytes += it.nkey + n;
        fx.meta.stored_bytes += it.nkey + len;
        if (cas > fx.meta.cas_max) {
            fx.meta.cas_max = cas;
        }
    }
    free(rec);
    return ok;
}

void
put_item(struct snapfmt_txn *txn, struct snapfmt_codec *c,
         const char *key, const void *val, size_t n, uint32_t flags,
         uint32_t exptime, uint64_t cas)
{
    ck_assert(try_put_item(txn, c, key, val, n, flags, exptime, cas));
}

static struct snapfmt_dict *
train_dict(void)
{
    char *samples = malloc(NSAMPLES * 512), err[SNAPFMT_ERR_MAX];
    size_t sizes[NSAMPLES], off = 0;
    struct snapfmt_dict *d = NULL;
    uint64_t seed = 7;

    ck_assert_ptr_nonnull(samples);
    for (unsigned i = 0; i < NSAMPLES; i++) {
        sizes[i] = json_value(&seed, samples + off, 512);
        off += sizes[i];
    }
    ck_assert_int_eq(snapfmt_dict_train(samples, sizes, NSAMPLES, 8192, 1, 3,
                                        &d, err, sizeof(err)), SNAPFMT_OK);
    free(samples);
    return d;
}

/* The known data set (10 records; session:abc has expired). */
static void
write_dataset(void)
{
    struct snapfmt_codec *z = snapfmt_codec_create(3);
    struct snapfmt_dict *d = train_dict();
    struct snapfmt_env *e = NULL;
    char err[SNAPFMT_ERR_MAX], a[1000], key[16];
    uint64_t seed = 99;
    struct snapfmt_txn *txn = NULL;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, &e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    memset(a, 'a', sizeof(a));
    put_item(txn, z, "user:1", "hello", 5, 7, 0, 11);
    put_item(txn, z, "user:2", a, sizeof(a), 0, NOW + 3600, 12);
    put_item(txn, z, "user:3", "", 0, 0, NOW + 100, 13);
    put_item(txn, z, "session:abc", "s1", 2, 1, NOW - 10, 14);
    put_item(txn, z, "plain", "no separator", 12, 2, NOW + 40 * DAY, 15);
    ck_assert_int_eq(snapfmt_dict_put(txn, d), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_codec_set_dict(z, d), SNAPFMT_OK);
    for (unsigned i = 0; i < NDOCS; i++) {
        snprintf(key, sizeof(key), "doc:%u", i);
        fx.ndoc[i] = json_value(&seed, fx.docs[i], sizeof(fx.docs[i]));
        put_item(txn, z, key, fx.docs[i], fx.ndoc[i], 0, 0, 20 + i);
    }
    fx.meta.format_version = 2; /* records in "items": a format 2 snapshot */
    snprintf(fx.meta.writer_version, sizeof(fx.meta.writer_version),
             "ember test");
    fx.meta.sequence = 3;
    fx.meta.last_commit = NOW - 30;
    fx.meta.cas_reserved = 1000;
    fx.meta.dict_id = 1;
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_commit(&txn, NULL, 0), SNAPFMT_OK);
    snapfmt_env_close(&e);
    snapfmt_codec_destroy(&z);
    snapfmt_dict_destroy(&d);
}

void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/check_embersnap.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    write_dataset();
}

void
teardown(void)
{
    free(fx.out);
    free(fx.err);
    fmt_fixture_rmtree(fx.dir);
}

/* Run `embersnap ARGS... ` (NULL-terminated) at NOW; "@" is fx.dir. */
int
run(const char *a0, ...)
{
    char *argv[32];
    FILE *out, *err;
    va_list ap;
    int argc = 0, rc;

    free(fx.out);
    free(fx.err);
    out = open_memstream(&fx.out, &fx.nout);
    err = open_memstream(&fx.err, &fx.nerr);
    ck_assert(out != NULL && err != NULL);
    argv[argc++] = (char *)"embersnap";
    va_start(ap, a0);
    for (const char *a = a0; a != NULL && argc < 31; a = va_arg(ap, char *)) {
        argv[argc++] = strcmp(a, "@") == 0 ? fx.dir : (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    rc = es_main(argc, argv, out, err, NOW, NULL);
    fclose(out);
    fclose(err);
    return rc;
}

unsigned
count_lines(const char *s)
{
    unsigned n = 0;

    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Replace the record of KEY by what EDIT makes of a copy of it. */
void
edit_record(const char *key, void (*edit)(unsigned char *rec, size_t *n))
{
    fmt_fixture_edit_record(fx.dir, key, edit);
}

/* Open the fixture read-write for a raw change; commit with done(). */
struct snapfmt_txn *
begin_rw(struct snapfmt_env **e)
{
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_txn *txn = NULL;

    ck_assert_int_eq(snapfmt_env_open(fx.dir, 0, 0, e, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_txn_begin(*e, false, &txn, err, sizeof(err)),
                     SNAPFMT_OK);
    return txn;
}

void
done(struct snapfmt_env **e, struct snapfmt_txn *txn)
{
    char err[SNAPFMT_ERR_MAX];

    ck_assert_int_eq(snapfmt_txn_commit(&txn, err, sizeof(err)), SNAPFMT_OK);
    snapfmt_env_close(e);
}


/* ---- a tiny memcached-protocol server for `load` ---------------------- */

/* Answer each complete `set` or `ms` in S->got from *DONE on; false on
 * garbage. */
static bool
srv_answer(struct srv *s, int fd, size_t *done)
{
    char key[512], *eol;
    unsigned flags, n;
    long long exp;
    const char *reply;
    bool meta;

    while ((eol = memmem(s->got + *done, s->ngot - *done, "\r\n", 2))) {
        meta = strncmp(s->got + *done, "ms ", 3) == 0;
        if (meta ? sscanf(s->got + *done, "ms %511s %u", key, &n) != 2
                 : sscanf(s->got + *done, "set %255s %u %lld %u", key,
                          &flags, &exp, &n) != 4) {
            return false;
        }
        if ((size_t)(eol + 2 - s->got) + n + 2 > s->ngot) {
            return true;      /* value not all here yet */
        }
        *done = (size_t)(eol + 2 - s->got) + n + 2;
        if (s->silent) {
            continue;
        }
        if (s->refuse && strcmp(key, s->refuse) == 0) {
            reply = meta ? "NS\r\n" : "NOT_STORED\r\n";
        } else {
            reply = meta ? "HD\r\n" : "STORED\r\n";
        }
        if (write(fd, reply, strlen(reply)) < 0) {
            return false;
        }
    }
    return true;
}

static void *
srv_main(void *arg)
{
    struct srv *s = arg;
    size_t cap = 0, done = 0;
    char buf[4096];
    ssize_t r;
    int fd = accept(s->lfd, NULL, NULL);

    while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0) {
        if (s->ngot + (size_t)r > cap) {
            cap = (s->ngot + (size_t)r) * 2;
            s->got = realloc(s->got, cap + 1);
        }
        memcpy(s->got + s->ngot, buf, (size_t)r);
        s->ngot += (size_t)r;
        s->got[s->ngot] = '\0';
        if (!srv_answer(s, fd, &done)) {
            break;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

void
srv_start(struct srv *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

/* Wait for the client to hang up; S->got stays for the caller to free. */
void
srv_stop(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* ---- core: exact output on the known data set ------------------------ */

static const char ls_header[] =
    "      SIZE      FLAGS        TTL                  CAS  KEY\n";

START_TEST(test_ls_exact)
{
    ck_assert_int_eq(run("ls", "--prefix=user:", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out,
        "      SIZE      FLAGS        TTL                  CAS  KEY\n"
        "         5          7      never                   11  user:1\n"
        "      1000          0       3600                   12  user:2\n"
        "         0          0        100                   13  user:3\n");
    ck_assert_str_eq(fx.err, "");
    /* all live keys in key order; the expired one is hidden */
    ck_assert_int_eq(run("ls", "-H", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 9);
    ck_assert(strncmp(fx.out, "        84          0      never           "
                              "        20  doc:0\n", 60) == 0);
    HAS(fx.out, "        12          2    3456000                   15  "
                "plain\n");
    HASNT(fx.out, "session:abc");
    ck_assert_int_eq(run("ls", "--expired", "--prefix=session", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "         2          1    expired                   14  "
                "session:abc\n");
    ck_assert_int_eq(run("ls", "--limit=2", "-H", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 2);
    HAS(fx.out, "doc:1\n");
    ck_assert_int_eq(run("ls", "--prefix=nothing", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, ls_header);
}
END_TEST

START_TEST(test_ls_sort)
{
    ck_assert_int_eq(run("ls", "--sort=size", "--limit=3", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_str_eq(fx.out,
        "      1000          0       3600                   12  user:2\n"
        "       292          0      never                   22  doc:2\n"
        "       258          0      never                   24  doc:4\n");
    ck_assert_int_eq(run("ls", "--sort=ttl", "--expired", "-H", "@", NULL),
                     ES_EXIT_OK);
    /* soonest first, expired before live, never last in key order */
    ck_assert(strstr(fx.out, "session:abc") < strstr(fx.out, "user:3"));
    ck_assert(strstr(fx.out, "user:3") < strstr(fx.out, "user:2"));
    ck_assert(strstr(fx.out, "user:2") < strstr(fx.out, "plain"));
    ck_assert(strstr(fx.out, "plain") < strstr(fx.out, "doc:0"));
    ck_assert(strstr(fx.out, "doc:4") < strstr(fx.out, "user:1"));
    ck_assert_uint_eq(count_lines(fx.out), 10);
    ck_assert_int_eq(run("ls", "--sort=key", "--limit=1", "-H", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "doc:0\n");
    ck_assert_uint_eq(count_lines(fx.out), 1);
}
END_TEST

START_TEST(test_get)
{
    char big[1000];

    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 5);
    ck_assert(memcmp(fx.out, "hello", 5) == 0);
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(run("get", "user:2", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, sizeof(big));
    ck_assert(memcmp(fx.out, big, sizeof(big)) == 0);
    ck_assert_int_eq(run("get", "doc:3", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, fx.ndoc[3]);
    ck_assert(memcmp(fx.out, fx.docs[3], fx.ndoc[3]) == 0);
    ck_assert_int_eq(run("get", "user:3", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 0);
    ck_assert_int_eq(run("get", "--meta", "user:2", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "key:       user:2\nsize:      1000\nflags:     0\n"
                "exptime:   1700003600\nttl:       3600\ncas:       12\n");
    HAS(fx.out, "codec:     zstd\n");
    ck_assert_int_eq(run("get", "nope", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_uint_eq(fx.nout, 0);
    HAS(fx.err, "nope: not in the snapshot");
    ck_assert_int_eq(run("get", "session:abc", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "expired 10 s ago");
    ck_assert_int_eq(run("get", "--expired", "session:abc", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "s1");
}
END_TEST

START_TEST(test_info)
{
    char want[64];

    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    snprintf(want, sizeof(want), "format:        %u (written by ember test)\n",
             fx.meta.format_version);
    HAS(fx.out, want);
    HAS(fx.out, "sequence:      3\n");
    HAS(fx.out, "last commit:   2023-11-14 22:12:50 UTC (30 s ago)\n");
    HAS(fx.out, "items:         10 (meta 10): 9 live, 1 expired\n");
    HAS(fx.out, "  zstd           1 records, 1000 -> 19 bytes, 52.63x\n");
    HAS(fx.out, "  raw            4 records, 19 -> 19 bytes, 1.00x\n");
    HAS(fx.out, "  dict 1         5 records, ");
    HAS(fx.out, "(dictionary of 8192 bytes)\n");
    HAS(fx.out, "cas:           max 24 (meta 24), reserved 1000\n");
    HAS(fx.out, "lmdb map:      ");
    ck_assert_int_eq(run("info", "--json", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "\"records\":10,\"live\":9,\"expired\":1,\"unreadable\":0,");
    HAS(fx.out, "\"sequence\":3,\"last_commit\":1699999970,\"age\":30,");
    HAS(fx.out, "{\"codec\":\"zstd\",\"dict_id\":0,\"dict_bytes\":0,"
                "\"records\":1,\"raw\":1000,\"stored\":19}");
    ck_assert_uint_eq(count_lines(fx.out), 1);
}
END_TEST

START_TEST(test_stats)
{
    ck_assert_int_eq(run("stats", "--json", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "{\"records\":10,\"bytes\":2044,\"unreadable\":0,");
    HAS(fx.out, "{\"bucket\":\"< 64 B\",\"count\":4,\"bytes\":47}");
    HAS(fx.out, "{\"bucket\":\"512-1023 B\",\"count\":1,\"bytes\":1006}");
    HAS(fx.out, "{\"bucket\":\"expired\",\"count\":1,\"bytes\":13}");
    HAS(fx.out, "{\"bucket\":\"1-10 min\",\"count\":1,\"bytes\":6}");
    HAS(fx.out, "{\"bucket\":\"1-6 h\",\"count\":1,\"bytes\":1006}");
    HAS(fx.out, "{\"bucket\":\">= 30 d\",\"count\":1,\"bytes\":17}");
    HAS(fx.out, "{\"bucket\":\"never\",\"count\":6,\"bytes\":1002}");
    HAS(fx.out, "{\"bucket\":\"stored raw\",\"count\":4,\"bytes\":47}");
    HAS(fx.out, "{\"bucket\":\">= 10x\",\"count\":1,\"bytes\":1006}");
    HAS(fx.out, "\"prefixes\":[{\"prefix\":\"user:\",\"count\":3,"
                "\"bytes\":1023},{\"prefix\":\"doc:\",\"count\":5,");
    HAS(fx.out, "{\"prefix\":null,\"count\":1,\"bytes\":17},"
                "{\"prefix\":\"session:\",\"count\":1,\"bytes\":13}]");
    ck_assert_int_eq(run("stats", "--top=1", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "  expired                     1  10.00%               13\n");
    /* text: empty buckets inside the range stay, those outside go */
    HAS(fx.out, "  < 1 min                     0   0.00%                0\n");
    HASNT(fx.out, "1-2 KiB");
    HAS(fx.out, "  user:                               3             1023  "
                "50.05%\n");
    HASNT(fx.out, "doc:");
    ck_assert_int_eq(run("stats", "--sep=_", "--json", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "\"prefix_count\":1,\"prefixes\":[{\"prefix\":null,"
                "\"count\":10,\"bytes\":2044}]");
}
END_TEST

START_TEST(test_dump_json)
{
    ck_assert_int_eq(run("dump", "--prefix=user:", "@", NULL), ES_EXIT_OK);
    ck_assert(strncmp(fx.out, "{\"key\":\"user:1\",\"flags\":7,\"exptime\":0,"
                      "\"cas\":11,\"value\":\"aGVsbG8=\"}\n"
                      "{\"key\":\"user:2\",\"flags\":0,\"exptime\":1700003600,"
                      "\"cas\":12,\"value\":\"YWFh", 114) == 0);
    HAS(fx.out, "{\"key\":\"user:3\",\"flags\":0,\"exptime\":1700000100,"
                "\"cas\":13,\"value\":\"\"}\n");
    ck_assert_uint_eq(count_lines(fx.out), 3);
    ck_assert_int_eq(run("dump", "--text", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "{\"key\":\"plain\",\"flags\":2,\"exptime\":1703456000,"
                "\"cas\":15,\"text\":\"no separator\"}\n");
    HAS(fx.out, "\"cas\":20,\"text\":\"{\\\"id\\\":");
    ck_assert_uint_eq(count_lines(fx.out), 9);
    ck_assert_int_eq(run("dump", "--expired", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "{\"key\":\"session:abc\",\"flags\":1,\"exptime\":1699999990,"
                "\"cas\":14,\"value\":\"czE=\"}\n");
}
END_TEST

START_TEST(test_dump_escaping)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);

    put_item(txn, c, "t:text", "l1\n\"q\"\\\t/", 9, 0, 0, 40);
    put_item(txn, c, "t:ctl", "a\001b", 3, 0, 0, 41);
    put_item(txn, c, "t:\xd0\xba\xd0\xbb", "\xd1\x8e", 2, 0, 0, 42);
    put_item(txn, c, "t:\xff\xfe", "bad utf-8 \xc0\xaf", 12, 0, 0, 43);
    done(&e, txn);
    snapfmt_codec_destroy(&c);
    ck_assert_int_eq(run("dump", "--text", "--prefix=t:", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_str_eq(fx.out,
        "{\"key\":\"t:ctl\",\"flags\":0,\"exptime\":0,\"cas\":41,"
        "\"value\":\"YQFi\"}\n"
        "{\"key\":\"t:text\",\"flags\":0,\"exptime\":0,\"cas\":40,"
        "\"text\":\"l1\\n\\\"q\\\"\\\\\\t/\"}\n"
        "{\"key\":\"t:\xd0\xba\xd0\xbb\",\"flags\":0,\"exptime\":0,"
        "\"cas\":42,\"text\":\"\xd1\x8e\"}\n"
        "{\"key_base64\":\"dDr//g==\",\"flags\":0,\"exptime\":0,"
        "\"cas\":43,\"value\":\"YmFkIHV0Zi04IMCv\"}\n");
    /* ls and messages show non-printable key bytes as \xHH */
    ck_assert_int_eq(run("ls", "-H", "--prefix=t:\xff", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "  t:\\xff\\xfe\n");
}
END_TEST

START_TEST(test_dump_memcached)
{
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=u", "@",
                         NULL), ES_EXIT_OK);
    ck_assert(strncmp(fx.out, "set user:1 7 0 5\r\nhello\r\n"
                              "set user:2 0 3600 1000\r\naaaa", 50) == 0);
    ck_assert(fx.nout > 28);
    ck_assert_str_eq(fx.out + fx.nout - 28,
                     "aaaa\r\nset user:3 0 100 0\r\n\r\n");
    /* > 30 days left: absolute unix time, as memcached reads it */
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=plain", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "set plain 2 1703456000 12\r\nno separator\r\n");
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=session",
                         "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "");
}
END_TEST

START_TEST(test_verify_clean)
{
    char want[256];

    snprintf(want, sizeof(want), "verify: %s: 10 records (9 live, 1 "
             "expired), 0 problems\nverify: on start: every policy loads "
             "the 9 live items\n", fx.dir);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, want);
    ck_assert_str_eq(fx.err, "");
}
END_TEST

/* `load --window=2` into the tiny server sends the commands of `dump
 * --format=memcached`, byte for byte; its summary is left in fx.out. */
void
load_matches_dump(void)
{
    struct srv s = { .refuse = NULL };
    char target[32], dump[8192];
    size_t ndump;

    ck_assert_int_eq(run("dump", "--format=memcached", "@", NULL),
                     ES_EXIT_OK);
    ck_assert(fx.nout < sizeof(dump));
    memcpy(dump, fx.out, fx.nout);
    ndump = fx.nout;
    srv_start(&s);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    ck_assert_int_eq(run("load", "--window=2", target, "@", NULL),
                     ES_EXIT_OK);
    srv_stop(&s);
    ck_assert_uint_eq(s.ngot, ndump);
    ck_assert(memcmp(s.got, dump, ndump) == 0);
    free(s.got);
}

START_TEST(test_load)
{
    load_matches_dump();
    HAS(fx.out, "9 sent, 9 stored, 0 not stored, 1 expired skipped, "
                "0 unreadable skipped");
}
END_TEST

static Suite *
embersnap_suite(void)
{
    Suite *s = suite_create("embersnap");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");
    TCase *fmt3 = tcase_create("format3");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(limits, 120);
    tcase_add_test(core, test_ls_exact);
    tcase_add_test(core, test_ls_sort);
    tcase_add_test(core, test_get);
    tcase_add_test(core, test_info);
    tcase_add_test(core, test_stats);
    tcase_add_test(core, test_dump_json);
    tcase_add_test(core, test_dump_escaping);
    tcase_add_test(core, test_dump_memcached);
    tcase_add_test(core, test_verify_clean);
    tcase_add_test(core, test_load);
    add_error_tests(errors);
    add_limit_tests(limits);
    add_page_tests(errors, limits);
    add_journal_tests(core, errors);
    /* the commands whose output does not depend on the format, and the
     * format's own views, over the data set in format 3 */
    tcase_add_checked_fixture(fmt3, setup3, teardown);
    tcase_add_test(fmt3, test_ls_exact);
    tcase_add_test(fmt3, test_ls_sort);
    tcase_add_test(fmt3, test_load);
    add_format3_tests(fmt3);
    suite_add_tcase(s, core);
    suite_add_tcase(s, fmt3);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(embersnap_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
