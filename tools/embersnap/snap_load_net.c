/*
 * snap_load_net.c -- `embersnap load HOST:PORT DIR`: replays the live
 * records into a memcached-protocol server over one TCP connection with
 * pipelining (up to --window commands in flight), keeping flags and the
 * remaining TTL. A progress line on a terminal, a summary at the end.
 *
 * Memory: the send buffer holds about WINDOW_BYTES (or one command, if a
 * value is larger) and the key of each command in flight.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_opts.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_BYTES ((size_t)1 << 20)
#define SEND_BATCH ((size_t)64 << 10)
#define IN_CAP 65536
#define LINE_MAX_LEN 2048

struct inflight {
    unsigned char nkey;
    char key[ES_MEMCACHED_KEY_MAX];
};

struct load {
    const struct es_cli *cli;
    const char *target;
    int fd;
    int timeout_ms;
    unsigned window;
    struct inflight *ring;    /* window entries, oldest at head */
    unsigned head, pending;
    unsigned char *out;       /* commands not yet sent: [off, len) */
    size_t off, len, cap;
    char in[IN_CAP];
    size_t inlen;
    uint64_t total, sent, stored, failed, expired, problems;
    double start, last_progress;
    bool broken;              /* connection failed: stop */
    bool snaponly;            /* --snapshot-only */
};

static const char load_usage[] =
    "usage: embersnap load [OPTIONS] HOST:PORT DIR\n"
    "\n"
    "Replays every live item into a running memcached-protocol server\n"
    "(memcached, emberd) with `set`, pipelined, keeping the flags and the\n"
    "time left to live (sent relative when at most 30 days, else as\n"
    "absolute unix time). Expired records are skipped. This is how a new\n"
    "node is warmed from an old node's snapshot. CAS values are not kept:\n"
    "the server assigns new ones.\n"
    "\n"
    "  --prefix=P       only keys starting with P\n"
    "  --window=N       commands in flight (default 1024)\n"
    "  --timeout=SECS   give up when the server makes no progress for this\n"
    "                   long (default 10)\n"
    "  -h, --help       this text\n"
    ES_JOURNAL_HELP
    "\n"
    "The summary goes to standard output; a progress line to standard\n"
    "error when that is a terminal. The snapshot's read transaction stays\n"
    "open for the whole load, so a running emberd cannot reuse the pages\n"
    "it frees meanwhile (data.mdb grows by up to one snapshot).\n"
    "\n"
    "HOST may be a name, an IPv4 address or [IPv6]. exit status: 0 every\n"
    "record stored, 1 some were refused or unreadable, 2 bad usage,\n"
    "unreadable snapshot, or the connection failed.\n";

static double
mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connect to HOST:PORT (HOST may be [v6]); -1 with a message. */
static int
net_connect(const struct es_cli *cli, const char *target)
{
    char host[256];
    const char *colon = strrchr(target, ':'), *h = target;
    struct addrinfo hints = { 0 }, *ai, *p;
    size_t n;
    int fd = -1, rc;

    if (colon == NULL || colon[1] == '\0') {
        es_warn(cli, "load", "'%s' is not HOST:PORT", target);
        return -1;
    }
    n = (size_t)(colon - target);
    if (n >= 2 && target[0] == '[' && target[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(host)) {
        es_warn(cli, "load", "'%s' is not HOST:PORT", target);
        return -1;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        es_warn(cli, "load", "%s: %s", target, gai_strerror(rc));
        return -1;
    }
    for (p = ai; p != NULL && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
                    p->ai_protocol);
        if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
            rc = errno;
            close(fd);
            fd = -1;
            errno = rc;
        }
    }
    if (fd < 0) {
        es_warn(cli, "load", "cannot connect to %s: %s", target,
                strerror(errno));
    }
    freeaddrinfo(ai);
    return fd;
}

/* One reply line for the oldest command in flight. */
static void
on_reply(struct load *l, const char *line, size_t n)
{
    struct inflight *f = &l->ring[l->head];
    char kbuf[ES_KEY_TEXT_MAX];

    if (l->pending == 0) {
        es_warn(l->cli, "load", "unexpected reply '%.*s'", (int)n, line);
        l->broken = true;
        return;
    }
    if ((n == 6 && memcmp(line, "STORED", 6) == 0) ||
        (n == 2 && memcmp(line, "HD", 2) == 0)) {
        l->stored++;
    } else {
        l->failed++;
        if (l->failed <= 10) {
            snapfmt_key_print(f->key, f->nkey, kbuf, sizeof(kbuf));
            es_warn(l->cli, "load", "%s: %.*s", kbuf, (int)n, line);
        }
    }
    l->head = (l->head + 1) % l->window;
    l->pending--;
}

static void
read_replies(struct load *l)
{
    ssize_t r = recv(l->fd, l->in + l->inlen, IN_CAP - l->inlen, 0);
    char *nl, *p = l->in;

    if (r <= 0) {
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            return;
        }
        es_warn(l->cli, "load", "%s closed the connection%s%s", l->target,
                r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
        l->broken = true;
        return;
    }
    l->inlen += (size_t)r;
    while ((nl = memchr(p, '\n', l->inlen - (size_t)(p - l->in))) != NULL) {
        size_t n = (size_t)(nl - p);

        on_reply(l, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
        p = nl + 1;
    }
    l->inlen -= (size_t)(p - l->in);
    memmove(l->in, p, l->inlen);
    if (l->inlen > LINE_MAX_LEN) {
        es_warn(l->cli, "load", "%s sent a reply line longer than %d bytes",
                l->target, LINE_MAX_LEN);
        l->broken = true;
    }
}

static void
progress(struct load *l, bool last)
{
    double t = mono_now();

    if (!l->cli->err_tty || (!last && t - l->last_progress < 0.25)) {
        return;
    }
    l->last_progress = t;
    fprintf(l->cli->err, "\rload: %llu/%llu records sent, %llu stored, "
            "%llu failed%s", (unsigned long long)l->sent,
            (unsigned long long)l->total, (unsigned long long)l->stored,
            (unsigned long long)l->failed, last ? "\n" : "");
    fflush(l->cli->err);
}

/*
 * One round of I/O: wait up to TIMEOUT_MS for the socket, then read the
 * replies there are and send what the socket takes. Returns false when
 * nothing happened within the timeout.
 */
static bool
pump_once(struct load *l, int timeout_ms)
{
    struct pollfd pfd = { .fd = l->fd };
    ssize_t w;
    int rc;

    pfd.events = (short)((l->pending > 0 ? POLLIN : 0) |
                         (l->off < l->len ? POLLOUT : 0));
    rc = poll(&pfd, 1, timeout_ms);
    if (l->cli->stop != NULL && *l->cli->stop) {
        es_warn(l->cli, "load", "interrupted");
        l->broken = true;
        return true;
    }
    if (rc < 0 && errno != EINTR) {
        es_warn(l->cli, "load", "poll: %s", strerror(errno));
        l->broken = true;
    }
    if (rc <= 0) {
        return rc < 0;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        read_replies(l);
    }
    if (!l->broken && (pfd.revents & POLLOUT)) {
        w = send(l->fd, l->out + l->off, l->len - l->off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            es_warn(l->cli, "load", "sending to %s: %s", l->target,
                    strerror(errno));
            l->broken = true;
        } else if (w > 0) {
            l->off += (size_t)w;
        }
    }
    return true;
}

/*
 * Keep both ends busy: a round without waiting whenever SEND_BATCH bytes
 * are queued (a syscall per command would cost more than it gains), then
 * wait while the window is full (or, DRAIN, until all is answered).
 */
static void
pump(struct load *l, bool drain)
{
    bool must;

    if (!drain && l->len - l->off >= SEND_BATCH) {
        pump_once(l, 0);
    }
    for (;;) {
        must = drain ? (l->off < l->len || l->pending > 0)
                     : (l->len - l->off > WINDOW_BYTES ||
                        l->pending == l->window);
        if (l->broken || !must) {
            break;
        }
        if (!pump_once(l, l->timeout_ms)) {
            es_warn(l->cli, "load", "%s made no progress for %d ms",
                    l->target, l->timeout_ms);
            l->broken = true;
        }
        progress(l, false);
    }
    if (l->off == l->len) {
        l->off = 0;
        l->len = 0;
    }
}

/* Append one `set` to the send buffer; false when out of memory. */
static bool
queue_set(struct load *l, const struct es_rec *rec,
          const unsigned char *val, int64_t exptime)
{
    char head[ES_REPLAY_HEAD_MAX];
    size_t nh = es_replay_head(rec, exptime, head);
    size_t need = nh + rec->r.raw_len + 2;
    struct inflight *f;
    unsigned char *p;

    if (l->off > 0 && l->len + need > l->cap) {
        memmove(l->out, l->out + l->off, l->len - l->off);
        l->len -= l->off;
        l->off = 0;
    }
    if (l->len + need > l->cap) {
        p = realloc(l->out, l->len + need);
        if (p == NULL) {
            return false;
        }
        l->out = p;
        l->cap = l->len + need;
    }
    p = l->out + l->len;
    memcpy(p, head, nh);
    memcpy(p + nh, val, rec->r.raw_len);
    memcpy(p + nh + rec->r.raw_len, "\r\n", 2);
    l->len += need;
    f = &l->ring[(l->head + l->pending) % l->window];
    f->nkey = (unsigned char)rec->nkey;
    memcpy(f->key, rec->key, rec->nkey);
    l->pending++;
    l->sent++;
    return true;
}

static int
load_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct load *l = arg;
    const unsigned char *val;
    char msg[SNAPFMT_ERR_MAX];
    int64_t exptime;
    int rc;

    rc = es_replay_prepare(s, l->cli, rec, &val, &exptime, msg, sizeof(msg));
    if (rc > 0) {
        l->expired++;
        return 0;
    }
    if (rc < 0) {
        es_warn(l->cli, "load", "%s", msg);
        l->problems++;
        return 0;
    }
    if (!queue_set(l, rec, val, exptime)) {
        es_warn(l->cli, "load", "out of memory");
        l->broken = true;
        return 1;
    }
    pump(l, false);
    return l->broken ? 1 : 0;
}

static int
load_options(struct load *l, int argc, char **argv, const char **prefix)
{
    uint64_t window = l->window;
    uint64_t timeout_s = (uint64_t)l->timeout_ms / 1000;
    const struct es_opt opts[] = {
        { .name = "prefix", .val = 'p', .kind = ES_OPT_TEXT, .dst = prefix },
        { .name = "window", .val = 'w', .kind = ES_OPT_UINT, .dst = &window,
          .min = 1, .max = 65536 },
        { .name = "timeout", .val = 't', .kind = ES_OPT_UINT, .dst = &timeout_s,
          .min = 1, .max = 86400, .unit = " seconds" },
        ES_OPT_SNAPSHOT_ONLY(&l->snaponly),
    };
    const struct es_cmdline cl = { "load", load_usage, opts, ES_NOPTS(opts),
                                   2, "wants HOST:PORT and DIR" };
    int rc = es_command_line(l->cli, &cl, argc, argv);

    l->window = (unsigned)window;
    l->timeout_ms = (int)timeout_s * 1000;
    return rc;
}

static int
summary(struct load *l)
{
    FILE *f = l->cli->out;
    double t = mono_now() - l->start;

    progress(l, true);
    fprintf(f, "load: %s: %llu sent, %llu stored, %llu not stored, %llu "
            "expired skipped, %llu unreadable skipped in %.2f s (%.0f/s)\n",
            l->target, (unsigned long long)l->sent,
            (unsigned long long)l->stored, (unsigned long long)l->failed,
            (unsigned long long)l->expired, (unsigned long long)l->problems,
            t, t > 0 ? (double)l->sent / t : 0.0);
    if (l->broken) {
        return ES_EXIT_USAGE;
    }
    return l->failed + l->problems > 0 ? ES_EXIT_PROBLEMS : ES_EXIT_OK;
}

int
es_cmd_load(const struct es_cli *cli, int argc, char **argv)
{
    struct load *l = calloc(1, sizeof(*l));
    char err[SNAPFMT_ERR_MAX];
    const char *prefix = NULL;
    struct es_snap s;
    int rc;

    if (l == NULL) {
        es_warn(cli, "load", "out of memory");
        return ES_EXIT_USAGE;
    }
    *l = (struct load){ .cli = cli, .fd = -1, .window = 1024,
                        .timeout_ms = 10000 };
    rc = load_options(l, argc, argv, &prefix);
    if (rc >= 0 ||
        (rc = es_snap_open(&s, cli, argv[optind + 1],
                           l->snaponly ? ES_JOURNAL_NONE
                                       : ES_JOURNAL_APPLY)) != ES_EXIT_OK) {
        goto fail_load;
    }
    l->target = argv[optind];
    l->total = s.meta.items;
    l->ring = calloc(l->window, sizeof(*l->ring));
    l->fd = l->ring ? net_connect(cli, l->target) : -1;
    if (l->fd < 0) {
        rc = ES_EXIT_USAGE;
        goto fail_snap;
    }
    l->start = mono_now();
    rc = es_walk(&s, prefix, prefix ? strlen(prefix) : 0, load_rec, l, err,
                 sizeof(err));
    if (rc < 0) {
        es_warn_walk(cli, "load", err);
        l->broken = true;
    }
    pump(l, true);
    rc = summary(l);
    close(l->fd);
fail_snap:
    es_snap_release(&s);
fail_load:
    free(l->ring);
    free(l->out);
    free(l);
    return rc;
}
