/*
 * listener.c -- listening sockets and the accept loop (see listener.h).
 */
#include "config.h"

#include "daemon/listener.h"

#include "daemon/log.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "daemon/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_MAX LISTENER_SOCKETS_MAX
/* Accepts per listener wakeup, so one burst cannot hog the loop. */
#define ACCEPT_BATCH 64u
/* After EMFILE, wait this long before accepting again. */
#define ACCEPT_PAUSE_MS 100

struct listen_sock {
    int fd;
    struct event ev;
    bool added;
    struct listener *ls;
};

struct listener {
    const struct settings *set;
    const char *unix_path;          /* -s: the socket file we made */
    dev_t unix_dev;                 /* ... and its identity, so that */
    ino_t unix_ino;                 /* only ours is removed at the end */
    struct logger *log;
    struct worker_pool *pool;
    struct stats_hub *hub;
    struct event_base *base;
    struct listen_sock socks[LISTEN_MAX];
    size_t n;
    struct event pause_ev;
    bool pause_assigned;
    bool held;                  /* listener_pause(): no accept until */
                                /* listener_resume() */
};

static const char too_many[] = "ERROR Too many open connections\r\n";

/* Split one -l word into host and port (defaults to -p). */
static bool
split_addr(const char *word, char *host, size_t hostlen, char *port,
           size_t portlen, unsigned default_port)
{
    const char *colon;
    const char *end;
    size_t n;

    snprintf(port, portlen, "%u", default_port);
    if (word[0] == '[') {
        end = strchr(word, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return false;
        }
        n = (size_t)(end - word - 1);
        if (end[1] == ':') {
            snprintf(port, portlen, "%s", end + 2);
        }
        word++;
    } else {
        colon = strchr(word, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            n = (size_t)(colon - word);
            snprintf(port, portlen, "%s", colon + 1);
        } else {
            n = strlen(word);   /* a host name, IPv4, or bare IPv6 */
        }
    }
    if (n == 0 || n >= hostlen || port[0] == '\0') {
        return false;
    }
    memcpy(host, word, n);
    host[n] = '\0';
    return true;
}

static int
bind_one(struct listener *ls, const struct addrinfo *ai, char *errbuf,
         size_t errlen, const char *what)
{
    int fd;
    int one = 1;

    if (ls->n == LISTEN_MAX) {
        snprintf(errbuf, errlen, "too many listen addresses (max %d)",
                 LISTEN_MAX);
        return -1;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(errbuf, errlen, "socket for %s: %s", what, strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(errbuf, errlen, "bind %s: %s", what, strerror(errno));
        close(fd);
        return -1;
    }
    ls->socks[ls->n].fd = fd;
    ls->socks[ls->n].ls = ls;
    ls->n++;
    return 0;
}

static int
bind_word(struct listener *ls, const char *word, char *errbuf, size_t errlen)
{
    char host[256];
    char port[16];
    char what[300];
    struct addrinfo hints;
    struct addrinfo *res;
    struct addrinfo *ai;
    int rc;

    if (!split_addr(word, host, sizeof(host), port, sizeof(port),
                    ls->set->port)) {
        snprintf(errbuf, errlen, "bad listen address '%s'", word);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "listen address '%s': %s", word,
                 gai_strerror(rc));
        return -1;
    }
    rc = 0;
    /* messages name the port bound, whether -l or -p gave it */
    snprintf(what, sizeof(what), strchr(host, ':') != NULL ? "[%s]:%s"
                                                           : "%s:%s",
             host, port);
    for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
        rc = bind_one(ls, ai, errbuf, errlen, what);
    }
    freeaddrinfo(res);
    return rc;
}

/*
 * PATH exists: a socket nobody listens on (left by a crash) is removed;
 * a live one, or anything else, is an error.
 */
static int
clear_stale_socket(const char *path, const struct sockaddr_un *sun,
                   char *errbuf, size_t errlen)
{
    struct stat st;
    int fd;
    int busy;

    if (lstat(path, &st) != 0) {
        return 0;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(errbuf, errlen, "-s %s: exists and is not a socket", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    busy = fd >= 0 &&
           connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    if (busy) {
        snprintf(errbuf, errlen, "bind unix socket %s: %s (a server "
                 "listens there)", path, strerror(EADDRINUSE));
        return -1;
    }
    (void)unlink(path);
    return 0;
}

/* -s PATH with -a's mode: the one socket, instead of TCP (memcached). */
static int
bind_unix(struct listener *ls, char *errbuf, size_t errlen)
{
    const char *path = ls->set->unix_socket;
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(errbuf, errlen, "-s %s: path too long", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    if (clear_stale_socket(path, &sun, errbuf, errlen) != 0) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        snprintf(errbuf, errlen, "bind unix socket %s: %s", path,
                 strerror(errno));
        goto fail_fd;
    }
    /* nobody can connect before listen(): chmod before it is in time */
    if (chmod(path, ls->set->unix_mask) != 0 || lstat(path, &st) != 0) {
        snprintf(errbuf, errlen, "unix socket %s: %s", path,
                 strerror(errno));
        (void)unlink(path);
        goto fail_fd;
    }
    ls->unix_path = path;
    ls->unix_dev = st.st_dev;
    ls->unix_ino = st.st_ino;
    ls->socks[0].fd = fd;
    ls->socks[0].ls = ls;
    ls->n = 1;
    return 0;

fail_fd:
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

/* Remove the -s socket file if it is still the one we made. */
static void
remove_unix(struct listener *ls)
{
    struct stat st;

    if (ls->unix_path != NULL && lstat(ls->unix_path, &st) == 0 &&
        st.st_dev == ls->unix_dev && st.st_ino == ls->unix_ino) {
        (void)unlink(ls->unix_path);
    }
    ls->unix_path = NULL;
}

struct listener *
listener_create(const struct settings *set, struct logger *log, bool bind,
                char *errbuf, size_t errlen)
{
    struct listener *ls = calloc(1, sizeof(*ls));

    if (ls == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    ls->set = set;
    ls->log = log;
    if (bind && listener_bind(ls, errbuf, errlen) != 0) {
        listener_destroy(&ls);
    }
    return ls;
}

int
listener_bind(struct listener *ls, char *errbuf, size_t errlen)
{
    char list[1024];
    char *save = NULL;
    char *word;

    if (ls->set->unix_socket != NULL) {
        return bind_unix(ls, errbuf, errlen);
    }
    if (strlen(ls->set->listen) >= sizeof(list)) {
        snprintf(errbuf, errlen, "-l list too long");
        return -1;
    }
    strcpy(list, ls->set->listen);
    for (word = strtok_r(list, ",", &save); word != NULL;
         word = strtok_r(NULL, ",", &save)) {
        if (bind_word(ls, word, errbuf, errlen) != 0) {
            return -1;
        }
    }
    if (ls->n == 0) {
        snprintf(errbuf, errlen, "no listen address in '%s'",
                 ls->set->listen);
        return -1;
    }
    return 0;
}

/* Whether FD is a listening TCP socket. */
static bool
is_tcp_listener(int fd)
{
    int v = 0, dom = 0;
    socklen_t len = sizeof(v), dlen = sizeof(dom);

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 &&
           v == 1 && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) == 0 &&
           (dom == AF_INET || dom == AF_INET6);
}

int
listener_adopt(struct listener *ls, const int *fds, size_t n, char *errbuf,
               size_t errlen)
{
    if (ls->n + n > LISTEN_MAX || n == 0) {
        snprintf(errbuf, errlen, "%zu listening sockets handed over "
                 "(expected 1..%d)", n, LISTEN_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_tcp_listener(fds[i])) {
            snprintf(errbuf, errlen, "descriptor %d handed over is not a "
                     "listening TCP socket", fds[i]);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        (void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        ls->socks[ls->n].fd = fds[i];
        ls->socks[ls->n].ls = ls;
        ls->n++;
    }
    return 0;
}

size_t
listener_fds(const struct listener *ls, int *fds, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < ls->n && n < max; i++) {
        if (ls->socks[i].fd >= 0) {
            fds[n++] = ls->socks[i].fd;
        }
    }
    return n;
}

/* ---- accepting ------------------------------------------------------- */

static void
set_accepting(struct listener *ls, bool on)
{
    size_t i;

    for (i = 0; i < ls->n; i++) {
        if (ls->socks[i].fd < 0 || ls->socks[i].added == on) {
            continue;
        }
        if (on) {
            event_add(&ls->socks[i].ev, NULL);
        } else {
            event_del(&ls->socks[i].ev);
        }
        ls->socks[i].added = on;
    }
    atomic_store(&ls->hub->accepting_conns, on ? 1 : 0);
}

static void
on_pause_over(evutil_socket_t fd, short what, void *arg)
{
    struct listener *ls = arg;

    (void)fd;
    (void)what;
    if (!ls->held) {
        set_accepting(ls, true);
    }
}

void
listener_pause(struct listener *ls)
{
    ls->held = true;
    if (ls->hub != NULL) {
        set_accepting(ls, false);
    }
}

void
listener_resume(struct listener *ls)
{
    ls->held = false;
    if (ls->hub != NULL) {
        set_accepting(ls, true);
    }
}

/* Out of file descriptors: stop accepting for a moment, not spin. */
static void
pause_accepting(struct listener *ls)
{
    struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

    log_msg(ls->log, LOG_LVL_WARN, "accept: %s; pausing accepts",
            strerror(errno));
    set_accepting(ls, false);
    evtimer_add(&ls->pause_ev, &tv);
}

static void
admit(struct listener *ls, int fd)
{
    struct stats_hub *hub = ls->hub;
    ssize_t n;

    if (atomic_load(&hub->curr_connections) >= ls->set->max_conns) {
        n = write(fd, too_many, sizeof(too_many) - 1);
        (void)n;
        close(fd);
        atomic_fetch_add(&hub->rejected_connections, 1);
        return;
    }
    atomic_fetch_add(&hub->curr_connections, 1);
    atomic_fetch_add(&hub->total_connections, 1);
    if (worker_pool_dispatch(ls->pool, fd) != 0) {
        close(fd);
        atomic_fetch_sub(&hub->curr_connections, 1);
    }
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct listen_sock *s = arg;
    struct listener *ls = s->ls;
    unsigned i;
    int fd;

    (void)what;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(ls, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            pause_accepting(ls);
        }
        return; /* EAGAIN and the rest: wait for the next wakeup */
    }
}

int
listener_start(struct listener *ls, struct event_base *base,
               struct worker_pool *pool, struct stats_hub *hub)
{
    size_t i;

    ls->base = base;
    ls->pool = pool;
    ls->hub = hub;
    for (i = 0; i < ls->n; i++) {
        if (listen(ls->socks[i].fd, (int)ls->set->backlog) != 0) {
            return errno;
        }
        event_assign(&ls->socks[i].ev, base, ls->socks[i].fd,
                     EV_READ | EV_PERSIST, on_accept, &ls->socks[i]);
    }
    evtimer_assign(&ls->pause_ev, base, on_pause_over, ls);
    ls->pause_assigned = true;
    set_accepting(ls, true);
    return 0;
}

/* "HOST:PORT" ("[HOST]:PORT" for IPv6) of what FD is bound to. */
static void
describe_one(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, cap, "?");
        return;
    }
    snprintf(buf, cap, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
             host, port);
}

void
listener_describe(const struct listener *ls, char *buf, size_t cap)
{
    char one[NI_MAXHOST + NI_MAXSERV + 4];
    size_t used = 0;
    size_t i;
    int n;

    buf[0] = '\0';
    for (i = 0; i < ls->n && used < cap; i++) {
        if (ls->socks[i].fd < 0) {
            continue;
        }
        describe_one(ls->socks[i].fd, one, sizeof(one));
        n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", one);
        used += n > 0 ? (size_t)n : 0;
    }
}

void
listener_stop(struct listener *ls)
{
    size_t i;

    if (ls->hub != NULL) {
        set_accepting(ls, false);
    }
    if (ls->pause_assigned) {
        evtimer_del(&ls->pause_ev);
        ls->pause_assigned = false;
    }
    for (i = 0; i < ls->n; i++) {
        if (ls->socks[i].fd >= 0) {
            close(ls->socks[i].fd);
            ls->socks[i].fd = -1;
        }
    }
}

void
listener_destroy(struct listener **lsp)
{
    if (*lsp == NULL) {
        return;
    }
    listener_stop(*lsp);
    remove_unix(*lsp);
    free(*lsp);
    *lsp = NULL;
}
