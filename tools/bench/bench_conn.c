/*
 * bench_conn.c -- one emberbench connection: batch out, replies in, every
 * reply checked (see bench_conn.h for the model and the value contract).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench_conn.h"

/* Room for a request line or reply line besides key and value. */
#define LINE_SLACK 96u
/* A reply line without "\n" after this many bytes is garbage. */
#define REPLY_LINE_MAX 1024u

static uint64_t
mix64(uint64_t x)
{
    /* splitmix64 finaliser: a cheap, well-spread hash of the key index */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

size_t
bench_value_len(const struct bench_workload *wl, uint64_t i)
{
    size_t span = wl->size_max - wl->size_min + 1;

    if (span == 1) {
        return wl->size_min;
    }
    return wl->size_min + (size_t)(mix64(i) % span);
}

const char *
bench_value_ptr(const struct bench_workload *wl, uint64_t i)
{
    return wl->pattern + (size_t)(mix64(i ^ 0x5bd1e995u)
                                  % BENCH_PATTERN_SPAN);
}

uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *
bench_strerror(int rc)
{
    switch (rc) {
    case BENCH_OK:
        return "ok";
    case BENCH_EPROTO:
        return "protocol error";
    case BENCH_EVERIFY:
        return "value check failed";
    case BENCH_ECLOSED:
        return "connection closed by server";
    case BENCH_EIO:
        return "socket error";
    case BENCH_ENOMEM:
        return "out of memory";
    case BENCH_ETIMEDOUT:
        return "timed out";
    default:
        return "unknown error";
    }
}

/* Decimal digits of V at P (no NUL); returns the length. */
static size_t
put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    size_t i;

    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}

static size_t
put_key(char *p, const struct bench_workload *wl, uint64_t i)
{
    memcpy(p, wl->prefix, wl->nprefix);
    return wl->nprefix + put_u64(p + wl->nprefix, i);
}

static int
connect_timeout(int fd, const struct addrinfo *ai, int timeout_ms,
                int *sys_err)
{
    struct pollfd pfd;
    socklen_t len = sizeof(*sys_err);
    int rc;

    *sys_err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS) {
        *sys_err = errno;
        return -1;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        *sys_err = ETIMEDOUT;
        return -1;
    }
    if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, sys_err, &len) < 0) {
        *sys_err = errno;
        return -1;
    }
    return *sys_err == 0 ? 0 : -1;
}

int
bench_connect(const char *host, const char *port, int timeout_ms, char *err,
              size_t errlen)
{
    struct addrinfo hints = { 0 };
    struct addrinfo *res;
    int one = 1;
    int fd;
    int gai;
    int sys_err;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "%s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK
                | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    if (connect_timeout(fd, res, timeout_ms, &sys_err) < 0) {
        snprintf(err, errlen, "connect %s:%s: %s", host, port,
                 strerror(sys_err));
        freeaddrinfo(res);
        close(fd);
        return -1;
    }
    freeaddrinfo(res);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int
bench_conn_create(struct bench_conn **out, int fd,
                  const struct bench_workload *wl)
{
    struct bench_conn *c;
    size_t per_op = wl->reply_max + wl->nprefix + 20u + LINE_SLACK;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return BENCH_ENOMEM;
    }
    c->fd = fd;
    c->wl = wl;
    c->wcap = wl->depth * per_op;
    c->rcap = wl->depth * per_op + REPLY_LINE_MAX;
    c->wbuf = malloc(c->wcap);
    c->rbuf = malloc(c->rcap);
    c->ops = calloc(wl->depth, sizeof(*c->ops));
    if (c->wbuf == NULL || c->rbuf == NULL || c->ops == NULL) {
        bench_conn_destroy(&c);
        return BENCH_ENOMEM;
    }
    *out = c;
    return BENCH_OK;
}

void
bench_conn_destroy(struct bench_conn **cp)
{
    struct bench_conn *c = *cp;

    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->wbuf);
    free(c->rbuf);
    free(c->ops);
    free(c);
    *cp = NULL;
}

/* "$<len>\r\n<bytes>\r\n" at P: one RESP bulk string; returns its size. */
static size_t
put_bulk(char *p, const char *bytes, size_t len)
{
    size_t n = 1;

    p[0] = '$';
    n += put_u64(p + n, len);
    memcpy(p + n, "\r\n", 2);
    n += 2;
    memcpy(p + n, bytes, len);
    n += len;
    memcpy(p + n, "\r\n", 2);
    return n + 2;
}

/* OP as a RESP array: GET key, or SET key value. */
static size_t
build_resp_request(char *p, const struct bench_workload *wl,
                   const struct bench_pending *op)
{
    char key[BENCH_KEY_MAX + 32];
    size_t nkey = put_key(key, wl, op->key);
    size_t n;

    if (op->op == BENCH_OP_GET) {
        memcpy(p, "*2\r\n$3\r\nGET\r\n", 13);
        return 13 + put_bulk(p + 13, key, nkey);
    }
    memcpy(p, "*3\r\n$3\r\nSET\r\n", 13);
    n = 13 + put_bulk(p + 13, key, nkey);
    return n + put_bulk(p + n, bench_value_ptr(wl, op->key),
                        bench_value_len(wl, op->key));
}

static size_t
build_request(char *p, const struct bench_workload *wl,
              const struct bench_pending *op)
{
    size_t n = 0;
    size_t vlen;

    if (wl->resp) {
        return build_resp_request(p, wl, op);
    }
    if (op->op == BENCH_OP_GET) {
        memcpy(p, "get ", 4);
        n = 4 + put_key(p + 4, wl, op->key);
        memcpy(p + n, "\r\n", 2);
        return n + 2;
    }
    vlen = bench_value_len(wl, op->key);
    memcpy(p, "set ", 4);
    n = 4 + put_key(p + 4, wl, op->key);
    p[n++] = ' ';
    n += put_u64(p + n, op->key & 0xffffu);
    memcpy(p + n, " 0 ", 3);
    n += 3;
    n += put_u64(p + n, vlen);
    memcpy(p + n, "\r\n", 2);
    n += 2;
    memcpy(p + n, bench_value_ptr(wl, op->key), vlen);
    n += vlen;
    memcpy(p + n, "\r\n", 2);
    return n + 2;
}

int
bench_conn_send(struct bench_conn *c, const struct bench_pending *ops,
                unsigned n, uint64_t now_ns, struct bench_stats *st)
{
    unsigned i;

    c->wlen = 0;
    c->wpos = 0;
    for (i = 0; i < n; i++) {
        c->ops[i] = ops[i];
        c->wlen += build_request(c->wbuf + c->wlen, c->wl, &ops[i]);
    }
    c->nops = n;
    c->ophead = 0;
    c->ninflight = n;
    c->batch_start_ns = now_ns;
    return bench_conn_flush(c, st);
}

int
bench_conn_flush(struct bench_conn *c, struct bench_stats *st)
{
    ssize_t w;

    while (c->wpos < c->wlen) {
        w = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->want_write = true;
                return BENCH_OK;
            }
            snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
            return errno == EPIPE || errno == ECONNRESET ? BENCH_ECLOSED
                                                         : BENCH_EIO;
        }
        c->wpos += (size_t)w;
        st->bytes_out += (uint64_t)w;
    }
    c->want_write = false;
    return BENCH_OK;
}

/* Quote up to 40 bytes of a bad reply into c->err, escaping control bytes. */
static int
proto_fail(struct bench_conn *c, int rc, const char *why, const char *p,
           size_t n)
{
    char shown[40 * 4 + 1];
    size_t i;
    size_t o = 0;

    for (i = 0; i < n && i < 40; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch >= 0x20 && ch < 0x7f) {
            shown[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(shown + o, sizeof(shown) - o, "\\x%02x", ch);
        }
    }
    shown[o] = '\0';
    snprintf(c->err, sizeof(c->err), "%s: \"%s\"", why, shown);
    return rc;
}

/* Strict decimal parse of [*pp, end) up to a space or '\r'. */
static bool
parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;

    if (p >= end || *p < '0' || *p > '9') {
        return false;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9u) / 10u) {
            return false;
        }
        v = v * 10u + (uint64_t)(*p - '0');
        p++;
    }
    *pp = p;
    *out = v;
    return true;
}

static bool
starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);

    return n >= l && memcmp(p, lit, l) == 0;
}

/*
 * Parse "VALUE <key> <flags> <bytes>[ <cas>]\r\n" of LEN bytes at P and
 * check key and flags against OP. Returns the value length or -1.
 */
static int64_t
parse_value_line(struct bench_conn *c, const char *p, size_t len,
                 const struct bench_pending *op)
{
    char key[BENCH_KEY_MAX + 32];
    size_t nkey = put_key(key, c->wl, op->key);
    const char *end = p + len - 2;  /* at "\r\n" */
    const char *q = p + 6;          /* after "VALUE " */
    uint64_t flags;
    uint64_t bytes;

    if ((size_t)(end - q) < nkey + 1 || memcmp(q, key, nkey) != 0
        || q[nkey] != ' ') {
        return -1;
    }
    q += nkey + 1;
    if (!parse_u64(&q, end, &flags) || q >= end || *q != ' ') {
        return -1;
    }
    q++;
    if (!parse_u64(&q, end, &bytes) || (q != end && *q != ' ')) {
        return -1;
    }
    if (c->wl->verify && (flags != (op->key & 0xffffu)
                          || bytes != bench_value_len(c->wl, op->key))) {
        return -1;
    }
    if (bytes > c->wl->reply_max) {
        return -1;
    }
    return (int64_t)bytes;
}

/*
 * Consume the reply to a get at the head of rbuf. Returns 1 when consumed,
 * 0 when more bytes are needed, or a negative bench_rc.
 */
static int
parse_get_reply(struct bench_conn *c, const struct bench_pending *op,
                size_t linelen, struct bench_stats *st)
{
    const char *p = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    const char *data;
    int64_t vlen;
    size_t total;

    if (linelen == 5 && memcmp(p, "END\r\n", 5) == 0) {
        st->misses++;
        c->rpos += 5;
        return 1;
    }
    if (!starts(p, linelen, "VALUE ")) {
        return proto_fail(c, BENCH_EPROTO, "unexpected reply to get", p,
                          linelen);
    }
    vlen = parse_value_line(c, p, linelen, op);
    if (vlen < 0) {
        return proto_fail(c, BENCH_EVERIFY, "bad VALUE line", p, linelen);
    }
    total = linelen + (size_t)vlen + 2 + 5;
    if (avail < total) {
        return 0;
    }
    data = p + linelen;
    if (memcmp(data + vlen, "\r\nEND\r\n", 7) != 0) {
        return proto_fail(c, BENCH_EPROTO, "value not followed by END",
                          data + vlen, 7);
    }
    if (c->wl->verify
        && memcmp(data, bench_value_ptr(c->wl, op->key), (size_t)vlen) != 0) {
        return proto_fail(c, BENCH_EVERIFY, "wrong value for", p, linelen);
    }
    st->hits++;
    c->rpos += total;
    return 1;
}

/*
 * Consume the RESP reply of LINELEN line bytes at the head of rbuf to OP:
 * +OK to a SET, a bulk string or the null bulk $-1 to a GET, -ERR... to
 * either (a server error). Returns 1, 0 (need more) or a negative bench_rc.
 */
static int
parse_resp_reply(struct bench_conn *c, const struct bench_pending *op,
                 size_t linelen, struct bench_stats *st)
{
    const char *p = c->rbuf + c->rpos;
    const char *q = p + 1;
    uint64_t vlen;

    if (p[0] == '-') {
        st->server_errors++;
        c->rpos += linelen;
        return 1;
    }
    if (op->op == BENCH_OP_SET) {
        if (linelen != 5 || memcmp(p, "+OK\r\n", 5) != 0) {
            return proto_fail(c, BENCH_EPROTO, "unexpected reply to SET", p,
                              linelen);
        }
        c->rpos += linelen;
        return 1;
    }
    if (linelen == 5 && memcmp(p, "$-1\r\n", 5) == 0) {
        st->misses++;
        c->rpos += 5;
        return 1;
    }
    if (p[0] != '$' || !parse_u64(&q, p + linelen, &vlen)
        || q != p + linelen - 2 || vlen > c->wl->reply_max) {
        return proto_fail(c, BENCH_EPROTO, "unexpected reply to GET", p,
                          linelen);
    }
    if (c->rlen - c->rpos < linelen + vlen + 2) {
        return 0;
    }
    if (memcmp(p + linelen + vlen, "\r\n", 2) != 0) {
        return proto_fail(c, BENCH_EPROTO, "bulk string without CRLF",
                          p + linelen + vlen, 2);
    }
    if (c->wl->verify && (vlen != bench_value_len(c->wl, op->key)
                          || memcmp(p + linelen, bench_value_ptr(c->wl,
                                    op->key), (size_t)vlen) != 0)) {
        return proto_fail(c, BENCH_EVERIFY, "wrong value", p, linelen);
    }
    st->hits++;
    c->rpos += linelen + (size_t)vlen + 2;
    return 1;
}

/* As parse_get_reply, for the reply at the head of rbuf; checks its line. */
static int
parse_reply(struct bench_conn *c, struct bench_stats *st)
{
    const struct bench_pending *op = &c->ops[c->ophead];
    const char *p = c->rbuf + c->rpos;
    size_t avail = c->rlen - c->rpos;
    const char *nl = memchr(p, '\n', avail);
    size_t linelen;

    if (nl == NULL) {
        if (avail > REPLY_LINE_MAX) {
            return proto_fail(c, BENCH_EPROTO, "reply line too long", p, 60);
        }
        return 0;
    }
    linelen = (size_t)(nl - p) + 1;
    if (linelen < 2 || nl[-1] != '\r') {
        return proto_fail(c, BENCH_EPROTO, "reply line without CR", p,
                          linelen);
    }
    if (c->wl->resp) {
        return parse_resp_reply(c, op, linelen, st);
    }
    if (starts(p, linelen, "SERVER_ERROR")) {
        st->server_errors++;
        c->rpos += linelen;
        return 1;
    }
    if (op->op == BENCH_OP_GET) {
        return parse_get_reply(c, op, linelen, st);
    }
    if (linelen != 8 || memcmp(p, "STORED\r\n", 8) != 0) {
        return proto_fail(c, BENCH_EPROTO, "unexpected reply to set", p,
                          linelen);
    }
    c->rpos += linelen;
    return 1;
}

static int
read_some(struct bench_conn *c, struct bench_stats *st)
{
    ssize_t r;

    if (c->rpos > 0 && c->rpos == c->rlen) {
        c->rpos = 0;
        c->rlen = 0;
    } else if (c->rpos > 0 && c->rcap - c->rlen < c->rcap / 2) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == c->rcap) {
        return proto_fail(c, BENCH_EPROTO, "replies larger than expected",
                          c->rbuf + c->rpos, c->rlen - c->rpos);
    }
    do {
        r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        snprintf(c->err, sizeof(c->err), "server closed the connection");
        return BENCH_ECLOSED;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        snprintf(c->err, sizeof(c->err), "recv: %s", strerror(errno));
        return errno == ECONNRESET ? BENCH_ECLOSED : BENCH_EIO;
    }
    c->rlen += (size_t)r;
    st->bytes_in += (uint64_t)r;
    return 1;
}

int
bench_conn_on_readable(struct bench_conn *c, struct bench_stats *st)
{
    uint64_t now;
    int rc;

    rc = read_some(c, st);
    if (rc <= 0) {
        return rc;
    }
    if (c->ninflight == 0) {
        return proto_fail(c, BENCH_EPROTO, "reply nobody asked for",
                          c->rbuf + c->rpos, c->rlen - c->rpos);
    }
    now = bench_now_ns();
    while (c->ninflight > 0) {
        enum bench_op op = c->ops[c->ophead].op;

        rc = parse_reply(c, st);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            break;
        }
        if (op == BENCH_OP_GET) {
            st->gets++;
        } else {
            st->sets++;
        }
        bench_hist_add(&st->lat, now - c->batch_start_ns);
        c->ophead++;
        c->ninflight--;
    }
    if (c->ninflight > 0) {
        return 0;
    }
    if (c->rpos < c->rlen) {
        return proto_fail(c, BENCH_EPROTO, "reply nobody asked for",
                          c->rbuf + c->rpos, c->rlen - c->rpos);
    }
    return 1;
}
