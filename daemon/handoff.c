/*
 * handoff.c -- the control socket in the snapshot directory: binding it
 * owner-only, connecting, checking the peer, one message with
 * descriptors at a time (see handoff.h).
 */
#include "config.h"

#include "daemon/handoff.h"

#include "snapshot/format.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- where the socket is ---------------------------------------------- */

/*
 * The address of NAME in DIR: DIR/NAME when it fits a sockaddr_un, else
 * /proc/self/fd/<DIRFD>/NAME with *DIRFD opened here (close it after the
 * bind or connect). Returns 0 or an errno value.
 */
static int
addr_of(const char *dir, const char *name, struct sockaddr_un *sa,
        int *dirfd)
{
    *dirfd = -1;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir,
                         name) < sizeof(sa->sun_path)) {
        return 0;
    }
    *dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0) {
        return errno;
    }
    if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path),
                         "/proc/self/fd/%d/%s", *dirfd, name) >=
        sizeof(sa->sun_path)) {
        return ENAMETOOLONG;
    }
    return 0;
}

static void
close_dirfd(int *dirfd)
{
    if (*dirfd >= 0) {
        close(*dirfd);
        *dirfd = -1;
    }
}

/* ---- the owner's listening socket ------------------------------------- */

/* Bind FD at DIR/TMP, make it 0600, rename it to the control name. */
static int
bind_private(int fd, const char *dir, const char *tmp, char *errbuf,
             size_t errlen)
{
    char from[4200], to[4200];
    struct sockaddr_un sa;
    int dirfd, e;

    snprintf(from, sizeof(from), "%s/%s", dir, tmp);
    snprintf(to, sizeof(to), "%s/" SNAPFMT_CONTROL_FILE, dir);
    (void)unlink(from);             /* left by a crash with our pid */
    e = addr_of(dir, tmp, &sa, &dirfd);
    if (e == 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        e = errno;
    }
    close_dirfd(&dirfd);
    if (e == 0 && (chmod(from, 0600) != 0 || rename(from, to) != 0)) {
        e = errno;
        (void)unlink(from);
    }
    if (e != 0) {
        snprintf(errbuf, errlen, "control socket %s: %s", to, strerror(e));
    }
    return e;
}

int
handoff_listen(const char *dir, int *fd, unsigned long long *ino,
               char *errbuf, size_t errlen)
{
    char tmp[64], path[4200];
    struct stat sb;
    int e;

    *fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        e = errno;
        snprintf(errbuf, errlen, "control socket: %s", strerror(e));
        return e;
    }
    snprintf(tmp, sizeof(tmp), ".%s.%ld", SNAPFMT_CONTROL_FILE,
             (long)getpid());
    e = bind_private(*fd, dir, tmp, errbuf, errlen);
    if (e == 0 && listen(*fd, 4) != 0) {
        e = errno;
        snprintf(errbuf, errlen, "control socket in %s: listen: %s", dir,
                 strerror(e));
    }
    snprintf(path, sizeof(path), "%s/" SNAPFMT_CONTROL_FILE, dir);
    *ino = e == 0 && lstat(path, &sb) == 0 ? (unsigned long long)sb.st_ino
                                           : 0;
    if (e != 0) {
        close(*fd);
        *fd = -1;
    }
    return e;
}

void
handoff_unlink(const char *dir, unsigned long long ino)
{
    char path[4200];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/" SNAPFMT_CONTROL_FILE, dir);
    if (ino != 0 && lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
        (unsigned long long)sb.st_ino == ino) {
        (void)unlink(path);
    }
}

/* ---- connections -------------------------------------------------------- */

int
handoff_connect(const char *dir, int *fd, char *errbuf, size_t errlen)
{
    struct sockaddr_un sa;
    int dirfd, e;

    *fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        e = errno;
        snprintf(errbuf, errlen, "control socket: %s", strerror(e));
        return e;
    }
    e = addr_of(dir, SNAPFMT_CONTROL_FILE, &sa, &dirfd);
    if (e == 0 && connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        e = errno;
    }
    close_dirfd(&dirfd);
    if (e != 0) {
        snprintf(errbuf, errlen, "%s/" SNAPFMT_CONTROL_FILE ": %s", dir,
                 strerror(e));
        close(*fd);
        *fd = -1;
    }
    return e;
}

int
handoff_peer(int fd, pid_t *pid, char *errbuf, size_t errlen)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        snprintf(errbuf, errlen, "control socket: peer: %s",
                 strerror(errno));
        return errno;
    }
    *pid = cred.pid;
    if (cred.uid != geteuid() && cred.uid != 0 && geteuid() != 0) {
        snprintf(errbuf, errlen, "control socket: pid %ld runs as uid %lu, "
                 "not as us (%lu) or root: refused", (long)cred.pid,
                 (unsigned long)cred.uid, (unsigned long)geteuid());
        return EPERM;
    }
    return 0;
}

int
handoff_accept(int lfd, int *fd, pid_t *pid, char *errbuf, size_t errlen)
{
    int e;

    *fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (*fd < 0) {
        e = errno == EWOULDBLOCK ? EAGAIN : errno;
        snprintf(errbuf, errlen, "control socket: accept: %s", strerror(e));
        return e;
    }
    e = handoff_peer(*fd, pid, errbuf, errlen);
    if (e != 0) {
        close(*fd);
        *fd = -1;
    }
    return e;
}

/* ---- messages ----------------------------------------------------------- */

int
handoff_send(int fd, const char *msg, const int *fds, size_t nfds,
             char *errbuf, size_t errlen)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * HANDOFF_FDS_MAX)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { (void *)msg, strlen(msg) };
    struct msghdr mh;
    struct cmsghdr *cm;
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds > HANDOFF_FDS_MAX || iov.iov_len >= HANDOFF_MSG_MAX) {
        snprintf(errbuf, errlen, "control message too large");
        return EMSGSIZE;
    }
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;

        snprintf(errbuf, errlen, "control socket: send: %s", strerror(e));
        return e;
    }
    return 0;
}

/* Wait until FD is readable: 0, ETIMEDOUT or an errno value. */
static int
wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;

    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno;
    }
    return n == 0 ? ETIMEDOUT : 0;
}

/* The descriptors in MH's control data: into FDS (or closed). */
static size_t
take_fds(struct msghdr *mh, int *fds, size_t *nfds)
{
    struct cmsghdr *cm;
    size_t got = 0, n;
    int fd;

    for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (fds != NULL && got < HANDOFF_FDS_MAX) {
                fds[got++] = fd;
            } else {
                close(fd);
            }
        }
    }
    if (nfds != NULL) {
        *nfds = got;
    }
    return got;
}

int
handoff_recv(int fd, int timeout_ms, char *msg, size_t cap, int *fds,
             size_t *nfds, char *errbuf, size_t errlen)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * HANDOFF_FDS_MAX)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { msg, cap - 1 };
    struct msghdr mh;
    ssize_t n;
    int e;

    if (nfds != NULL) {
        *nfds = 0;
    }
    e = wait_readable(fd, timeout_ms);
    if (e != 0) {
        snprintf(errbuf, errlen, "control socket: %s", e == ETIMEDOUT
                 ? "no answer in time" : strerror(e));
        return e;
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET) {
        /* the peer closed with a message of ours unread: Linux reports
         * that before the messages it sent last, which are still queued */
        mh.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            errno = ECONNRESET;
        }
    }
    if (n < 0) {
        e = errno == ECONNRESET ? EPIPE : errno;
        snprintf(errbuf, errlen, "control socket: %s", strerror(errno));
        return e;
    }
    (void)take_fds(&mh, fds, nfds);
    if (n == 0) {
        snprintf(errbuf, errlen, "control socket: the other emberd closed "
                 "it (or died)");
        return EPIPE;
    }
    msg[n] = '\0';
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        strlen(msg) != (size_t)n) {
        snprintf(errbuf, errlen, "control socket: malformed message");
        return EBADMSG;
    }
    return 0;
}

/* ---- fields ------------------------------------------------------------- */

bool
handoff_put(char *buf, size_t cap, const char *name, const char *value)
{
    size_t n = strlen(buf), start = n;
    int w = snprintf(buf + n, cap - n, " %s=", name);

    if (w < 0 || (size_t)w >= cap - n) {
        buf[start] = '\0';
        return false;
    }
    n += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = *p > ' ' && *p != '%' && *p != 0x7f;

        w = plain ? snprintf(buf + n, cap - n, "%c", *p)
                  : snprintf(buf + n, cap - n, "%%%02X", *p);
        if (w < 0 || (size_t)w >= cap - n) {
            buf[start] = '\0';
            return false;
        }
        n += (size_t)w;
    }
    return true;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

bool
handoff_field(const char *msg, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), n = 0;
    const char *p = msg;

    while ((p = strchr(p, ' ')) != NULL) {
        p++;
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            break;
        }
    }
    if (p == NULL || cap == 0) {
        return false;
    }
    for (p += nl + 1; *p != '\0' && *p != ' '; p++) {
        int c = (unsigned char)*p;

        if (c == '%') {
            if (hexval(p[1]) < 0 || hexval(p[2]) < 0) {
                return false;
            }
            c = hexval(p[1]) * 16 + hexval(p[2]);
            p += 2;
        }
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

bool
handoff_field_u64(const char *msg, const char *name,
                  unsigned long long *out)
{
    char v[32], *end;

    if (!handoff_field(msg, name, v, sizeof(v)) || v[0] < '0' ||
        v[0] > '9') {
        return false;
    }
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno == 0 && *end == '\0';
}
