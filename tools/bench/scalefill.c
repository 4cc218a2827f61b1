/*
 * scalefill.c -- fills a memcached-protocol server (emberd) or Redis with
 * N items fast, or checks them, for tools/bench/bench-scale.sh.
 *
 * Keys are PREFIX + decimal index, the same names emberbench uses, so an
 * emberbench load over -k N --prefix PREFIX hits the filled items. The
 * indices are FIRST, FIRST+STEP, ... below N (STEP 100 = 1 % of them).
 * Values come from scale_corpus.h: a function of (seed, index, --gen), so
 * a check, or the fill of another server, needs no stored copy.
 *
 * Threads: one per connection, each with a blocking socket. Connection k
 * takes the k-th, (k+C)-th, ... key of the sequence and sends them in
 * batches of -P requests, one write per batch, then reads the batch's
 * replies (memcached text or RESP). A batch's replies are at most -P x
 * (SCALE_VALUE_MAX + 300) bytes, so neither side can block the other
 * for long: the depth cap keeps them inside the socket buffers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tools/bench/bench_conn.h"
#include "tools/bench/scale_corpus.h"
#include "util/util.h"

#define DEPTH_MAX 128u
#define CONNS_MAX 64u
#define RBUF_CAP (DEPTH_MAX * (SCALE_VALUE_MAX + 320u))
#define IO_TIMEOUT_S 120

enum mode {
    MODE_FILL = 0,
    MODE_CHECK,
    MODE_DRY,                   /* no server: only count the bytes */
};

struct fill_opts {
    char host[256];
    char port[16];
    bool redis;
    bool kv;
    enum mode mode;
    enum scale_kind kind;
    size_t size;
    uint64_t n, first, step, gen, seed;
    unsigned conns, depth;
    const char *prefix;         /* borrowed from argv */
    const char *words;          /* borrowed from argv; NULL: default */
};

struct filler {
    pthread_t tid;
    const struct fill_opts *o;
    const struct scale_corpus *c;
    unsigned id;
    int fd;
    uint64_t items, key_bytes, value_bytes;
    uint64_t server_errors, misses, mismatches;
    uint64_t idx[DEPTH_MAX];
    char *wbuf;                 /* owned: one batch of requests */
    char *rbuf;                 /* owned: replies in [rpos, rlen) */
    size_t rpos, rlen;
    char expect[SCALE_VALUE_MAX];
    char err[320];
};

/* ---- requests ------------------------------------------------------ */

static size_t
put_key(char *p, const struct fill_opts *o, uint64_t i)
{
    return (size_t)sprintf(p, "%s%llu", o->prefix, (unsigned long long)i);
}

/* One request for key I at P: set/get (memcached) or SET/GET (RESP). */
static size_t
build(struct filler *f, char *p, uint64_t i)
{
    char key[300];
    char val[SCALE_VALUE_MAX];
    size_t nk = put_key(key, f->o, i);
    bool set = f->o->mode != MODE_CHECK;    /* a dry run counts sets */
    size_t nv = 0;
    int n;

    f->key_bytes += nk;
    if (set) {
        nv = scale_value(f->c, i, f->o->gen, val);
        f->value_bytes += nv;
    }
    if (f->o->redis) {
        n = set
            ? sprintf(p, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", nk, key,
                      nv)
            : sprintf(p, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", nk, key);
    } else {
        n = set
            ? sprintf(p, "set %s 0 0 %zu\r\n", key, nv)
            : sprintf(p, "get %s\r\n", key);
    }
    if (!set) {
        return (size_t)n;
    }
    memcpy(p + n, val, nv);
    memcpy(p + (size_t)n + nv, "\r\n", 2);
    return (size_t)n + nv + 2;
}

static int
write_all(struct filler *f, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(f->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            snprintf(f->err, sizeof(f->err), "send: %s", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- replies ------------------------------------------------------- */

/* Make N unread bytes available at f->rbuf + f->rpos; -1 on EOF/error. */
static int
need(struct filler *f, size_t n)
{
    ssize_t r;

    if (f->rpos > 0 && f->rlen - f->rpos < n) {
        memmove(f->rbuf, f->rbuf + f->rpos, f->rlen - f->rpos);
        f->rlen -= f->rpos;
        f->rpos = 0;
    }
    while (f->rlen - f->rpos < n) {
        r = recv(f->fd, f->rbuf + f->rlen, RBUF_CAP - f->rlen, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            snprintf(f->err, sizeof(f->err), "recv: %s", r == 0
                     ? "server closed the connection" : strerror(errno));
            return -1;
        }
        f->rlen += (size_t)r;
    }
    return 0;
}

/* The next reply line without its CRLF, NUL-terminated; NULL on error.
 * It stays valid until the next need(). */
static char *
line(struct filler *f)
{
    char *l;
    char *nl;
    size_t avail;

    for (;;) {
        avail = f->rlen - f->rpos;
        nl = memchr(f->rbuf + f->rpos, '\n', avail);
        if (nl != NULL) {
            break;
        }
        if (avail > 1024) {
            snprintf(f->err, sizeof(f->err), "reply line too long");
            return NULL;
        }
        if (need(f, avail + 1) != 0) {
            return NULL;
        }
    }
    l = f->rbuf + f->rpos;
    if (nl == l || nl[-1] != '\r') {
        snprintf(f->err, sizeof(f->err), "reply line without CR");
        return NULL;
    }
    nl[-1] = '\0';
    f->rpos = (size_t)(nl - f->rbuf) + 1;
    return l;
}

static int
fail_reply(struct filler *f, const char *what, const char *l)
{
    snprintf(f->err, sizeof(f->err), "unexpected reply to %s: \"%.60s\"",
             what, l);
    return -1;
}

/* Read LEN value bytes and CRLF for key I; count a mismatch. */
static int
take_value(struct filler *f, uint64_t i, size_t len)
{
    size_t want = scale_value(f->c, i, f->o->gen, f->expect);

    if (len > SCALE_VALUE_MAX + 256u || need(f, len + 2) != 0) {
        return len > SCALE_VALUE_MAX + 256u ? fail_reply(f, "get", "huge")
                                            : -1;
    }
    if (len != want || memcmp(f->rbuf + f->rpos, f->expect, len) != 0) {
        if (f->mismatches++ == 0) {
            snprintf(f->err, sizeof(f->err), "key %s%llu: %zu bytes that "
                     "are not the value written (%zu bytes)", f->o->prefix,
                     (unsigned long long)i, len, want);
        }
    }
    f->value_bytes += len;
    f->rpos += len + 2;
    return 0;
}

static int
reply_set(struct filler *f)
{
    char *l = line(f);

    if (l == NULL) {
        return -1;
    }
    if (strcmp(l, f->o->redis ? "+OK" : "STORED") == 0) {
        return 0;
    }
    if (strncmp(l, f->o->redis ? "-" : "SERVER_ERROR", f->o->redis ? 1 : 12)
        == 0) {
        if (f->server_errors++ == 0) {
            snprintf(f->err, sizeof(f->err), "server error: %.200s", l);
        }
        return 0;
    }
    return fail_reply(f, "set", l);
}

static int
reply_get(struct filler *f, uint64_t i)
{
    char *l = line(f);
    char key[300];
    uint64_t len;
    const char *p;

    if (l == NULL) {
        return -1;
    }
    if (strcmp(l, f->o->redis ? "$-1" : "END") == 0) {
        f->misses++;
        return 0;
    }
    if (f->o->redis) {
        if (l[0] != '$' || !util_parse_u64(l + 1, 0, 1 << 20, &len)) {
            return fail_reply(f, "GET", l);
        }
        return take_value(f, i, (size_t)len);
    }
    put_key(key, f->o, i);
    p = strrchr(l, ' ');
    if (strncmp(l, "VALUE ", 6) != 0 || strncmp(l + 6, key, strlen(key)) != 0
        || p == NULL || !util_parse_u64(p + 1, 0, 1 << 20, &len)) {
        return fail_reply(f, "get", l);
    }
    if (take_value(f, i, (size_t)len) != 0 || (l = line(f)) == NULL) {
        return -1;
    }
    return strcmp(l, "END") == 0 ? 0 : fail_reply(f, "get (END)", l);
}

/* ---- the run ------------------------------------------------------- */

/* Keys in the sequence FIRST, FIRST+STEP, ... below N. */
static uint64_t
key_count(const struct fill_opts *o)
{
    return o->first >= o->n ? 0 : (o->n - o->first - 1) / o->step + 1;
}

/* Send one batch starting at sequence position *J; read its replies. */
static int
batch(struct filler *f, uint64_t *j, uint64_t count)
{
    const struct fill_opts *o = f->o;
    size_t wlen = 0;
    unsigned nb = 0;
    unsigned b;

    while (nb < o->depth && *j < count) {
        f->idx[nb] = o->first + *j * o->step;
        wlen += build(f, f->wbuf + wlen, f->idx[nb++]);
        *j += o->conns;
    }
    f->items += nb;
    if (o->mode == MODE_DRY) {
        return 0;
    }
    if (write_all(f, f->wbuf, wlen) != 0) {
        return -1;
    }
    for (b = 0; b < nb; b++) {
        if ((o->mode == MODE_FILL ? reply_set(f) : reply_get(f, f->idx[b]))
            != 0) {
            return -1;
        }
    }
    return 0;
}

static void *
filler_main(void *arg)
{
    struct filler *f = arg;
    uint64_t count = key_count(f->o);
    uint64_t j = f->id;

    while (j < count) {
        if (batch(f, &j, count) != 0) {
            return f;
        }
    }
    return NULL;
}

/* Connect F (blocking socket with I/O timeouts) and allocate its buffers. */
static int
filler_open(struct filler *f)
{
    struct timeval tv = { IO_TIMEOUT_S, 0 };
    int fl;

    f->fd = -1;
    f->wbuf = malloc(DEPTH_MAX * (SCALE_VALUE_MAX + 400u));
    f->rbuf = malloc(RBUF_CAP);
    if (f->wbuf == NULL || f->rbuf == NULL) {
        snprintf(f->err, sizeof(f->err), "out of memory");
        return -1;
    }
    if (f->o->mode == MODE_DRY) {
        return 0;
    }
    f->fd = bench_connect(f->o->host, f->o->port, 5000, f->err,
                          sizeof(f->err));
    if (f->fd < 0) {
        return -1;
    }
    fl = fcntl(f->fd, F_GETFL);
    if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK) < 0
        || setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0
        || setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        snprintf(f->err, sizeof(f->err), "socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void
filler_close(struct filler *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->wbuf);
    free(f->rbuf);
}

/* ---- options and report -------------------------------------------- */

static void
usage(FILE *out)
{
    fprintf(out,
"usage: scalefill [options]\n"
"Fill a server with N items fast (pipelined, several connections), or\n"
"check them, for bench-scale.sh. Keys: PREFIX + index, the indices\n"
"FIRST, FIRST+STEP, ... below N (emberbench's key names).\n"
"  -S, --server HOST:PORT   target (default 127.0.0.1:11211)\n"
"      --redis              speak RESP (SET/GET) instead of memcached text\n"
"  -n, --items N            key indices below N (default 1000)\n"
"      --first I            first index (default 0)\n"
"      --step K             every K-th index (default 1; 100 = 1 %%)\n"
"  -V, --values KIND        fixed (random letters, -s bytes) or corpus\n"
"                           (JSON-like records from a word list)\n"
"  -s, --size N             fixed value bytes (default 200)\n"
"      --words FILE         word list (default %s)\n"
"      --seed N             values and word order (default 1)\n"
"      --gen G              value generation: 0 first fill, 1, 2... updates\n"
"  -c, --conns N            connections, one thread each (default 4)\n"
"  -P, --pipeline N         requests per write, 1..%u (default 64)\n"
"      --check              get every key and compare with generation G\n"
"      --dry                no server: only generate and count the bytes\n"
"      --kv                 one line of name=value pairs\n"
"Exit status: 0 ok; 1 connect, protocol or server error, a miss or a\n"
"wrong value in --check; 2 bad usage or word list.\n",
            SCALE_WORDS_DEFAULT, DEPTH_MAX);
}

enum { OPT_REDIS = 256, OPT_FIRST, OPT_STEP, OPT_WORDS, OPT_SEED, OPT_GEN,
       OPT_CHECK, OPT_DRY, OPT_KV, OPT_PREFIX };

static const struct option long_opts[] = {
    { "server", required_argument, NULL, 'S' },
    { "redis", no_argument, NULL, OPT_REDIS },
    { "items", required_argument, NULL, 'n' },
    { "first", required_argument, NULL, OPT_FIRST },
    { "step", required_argument, NULL, OPT_STEP },
    { "values", required_argument, NULL, 'V' },
    { "size", required_argument, NULL, 's' },
    { "words", required_argument, NULL, OPT_WORDS },
    { "seed", required_argument, NULL, OPT_SEED },
    { "gen", required_argument, NULL, OPT_GEN },
    { "conns", required_argument, NULL, 'c' },
    { "pipeline", required_argument, NULL, 'P' },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "check", no_argument, NULL, OPT_CHECK },
    { "dry", no_argument, NULL, OPT_DRY },
    { "kv", no_argument, NULL, OPT_KV },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static bool
parse_server(struct fill_opts *o, const char *s)
{
    const char *colon = strrchr(s, ':');

    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(o->host)
        || colon[1] == '\0' || strlen(colon + 1) >= sizeof(o->port)) {
        return false;
    }
    memcpy(o->host, s, (size_t)(colon - s));
    o->host[colon - s] = '\0';
    strcpy(o->port, colon + 1);
    return true;
}

/* Options that take a number; false if ARG is bad for CH. */
static bool
apply_num_opt(struct fill_opts *o, int ch, const char *arg)
{
    uint64_t v = 0;
    bool ok;

    switch (ch) {
    case 'n':
        return util_parse_u64(arg, 1, 1ULL << 40, &o->n);
    case OPT_FIRST:
        return util_parse_u64(arg, 0, 1ULL << 40, &o->first);
    case OPT_STEP:
        return util_parse_u64(arg, 1, 1ULL << 40, &o->step);
    case OPT_SEED:
        return util_parse_u64(arg, 0, UINT64_MAX, &o->seed);
    case OPT_GEN:
        return util_parse_u64(arg, 0, 1ULL << 40, &o->gen);
    case 's':
        ok = util_parse_u64(arg, 1, SCALE_VALUE_MAX, &v);
        o->size = (size_t)v;
        return ok;
    case 'c':
        ok = util_parse_u64(arg, 1, CONNS_MAX, &v);
        o->conns = (unsigned)v;
        return ok;
    case 'P':
        ok = util_parse_u64(arg, 1, DEPTH_MAX, &v);
        o->depth = (unsigned)v;
        return ok;
    default:
        return false;
    }
}

/* Every other option; false if ARG is bad for CH. */
static bool
apply_opt(struct fill_opts *o, int ch, const char *arg)
{
    switch (ch) {
    case 'S':
        return parse_server(o, arg);
    case 'V':
        o->kind = strcmp(arg, "corpus") == 0 ? SCALE_CORPUS : SCALE_FIXED;
        return strcmp(arg, "corpus") == 0 || strcmp(arg, "fixed") == 0;
    case OPT_PREFIX:
        o->prefix = arg;
        return strlen(arg) <= 200 && strpbrk(arg, " \t\r\n") == NULL;
    case OPT_WORDS:
        o->words = arg;
        return true;
    case OPT_REDIS:
        o->redis = true;
        return true;
    case OPT_CHECK:
        o->mode = MODE_CHECK;
        return true;
    case OPT_DRY:
        o->mode = MODE_DRY;
        return true;
    case OPT_KV:
        o->kv = true;
        return true;
    default:
        return apply_num_opt(o, ch, arg);
    }
}

static void
parse_opts(struct fill_opts *o, int argc, char **argv)
{
    int ch;

    memset(o, 0, sizeof(*o));
    strcpy(o->host, "127.0.0.1");
    strcpy(o->port, "11211");
    o->n = 1000;
    o->step = 1;
    o->size = 200;
    o->seed = 1;
    o->conns = 4;
    o->depth = 64;
    o->prefix = "key:";
    while ((ch = getopt_long(argc, argv, "S:n:V:s:c:P:h", long_opts, NULL))
           != -1) {
        if (ch == 'h') {
            usage(stdout);
            exit(0);
        }
        if (ch == '?' || !apply_opt(o, ch, optarg)) {
            if (ch != '?') {
                fprintf(stderr, "scalefill: bad value \"%s\"\n", optarg);
            }
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "scalefill: unexpected argument %s\n", argv[optind]);
        exit(2);
    }
}

static void
report(const struct fill_opts *o, struct filler *fs, double secs)
{
    struct filler t = { 0 };
    unsigned k;

    for (k = 0; k < o->conns; k++) {
        t.items += fs[k].items;
        t.key_bytes += fs[k].key_bytes;
        t.value_bytes += fs[k].value_bytes;
        t.server_errors += fs[k].server_errors;
        t.misses += fs[k].misses;
        t.mismatches += fs[k].mismatches;
    }
    printf(o->kv ? "items=%llu key_bytes=%llu value_bytes=%llu "
           "raw_bytes=%llu seconds=%.3f items_per_sec=%.0f "
           "server_errors=%llu misses=%llu mismatches=%llu\n"
           : "%llu items, %llu key bytes, %llu value bytes (raw %llu) in "
           "%.3f s: %.0f items/s; %llu server errors, %llu misses, "
           "%llu wrong values\n",
           (unsigned long long)t.items, (unsigned long long)t.key_bytes,
           (unsigned long long)t.value_bytes,
           (unsigned long long)(t.key_bytes + t.value_bytes), secs,
           secs > 0 ? (double)t.items / secs : 0.0,
           (unsigned long long)t.server_errors,
           (unsigned long long)t.misses, (unsigned long long)t.mismatches);
}

/* Start one filler per connection, join them; 0 when all went well. */
static int
run(const struct fill_opts *o, const struct scale_corpus *c,
    struct filler *fs)
{
    unsigned k;
    int failed = 0;

    for (k = 0; k < o->conns; k++) {
        fs[k] = (struct filler){ .o = o, .c = c, .id = k, .fd = -1 };
        if (filler_open(&fs[k]) != 0
            || pthread_create(&fs[k].tid, NULL, filler_main, &fs[k]) != 0) {
            fprintf(stderr, "scalefill: connection %u: %s\n", k,
                    fs[k].err[0] != '\0' ? fs[k].err : "no thread");
            exit(1);
        }
    }
    for (k = 0; k < o->conns; k++) {
        void *bad = NULL;

        pthread_join(fs[k].tid, &bad);
        if (bad != NULL || fs[k].server_errors > 0 || fs[k].misses > 0
            || fs[k].mismatches > 0) {
            fprintf(stderr, "scalefill: connection %u: %s%s\n", k,
                    fs[k].err, fs[k].misses > 0 && fs[k].err[0] == '\0'
                    ? "keys missing" : "");
            failed = 1;
        }
    }
    return failed;
}

int
main(int argc, char **argv)
{
    struct fill_opts o;
    struct scale_corpus c;
    struct filler fs[CONNS_MAX];
    char err[512];
    uint64_t t0;
    unsigned k;
    int failed;

    parse_opts(&o, argc, argv);
    if (scale_corpus_load(&c, o.kind, o.size, o.seed, o.words, err,
                          sizeof(err)) != 0) {
        fprintf(stderr, "scalefill: %s\n", err);
        scale_corpus_release(&c);
        return 2;
    }
    t0 = bench_now_ns();
    failed = run(&o, &c, fs);
    report(&o, fs, (double)(bench_now_ns() - t0) / 1e9);
    for (k = 0; k < o.conns; k++) {
        filler_close(&fs[k]);
    }
    scale_corpus_release(&c);
    return failed;
}
