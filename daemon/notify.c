/*
 * notify.c -- sd_notify's protocol over a datagram socket (see notify.h).
 */
#include "config.h"

#include "daemon/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATUS_MAX 1024

int
notify_init(struct notify *n, char *err, size_t errlen)
{
    const char *name = getenv("NOTIFY_SOCKET");
    size_t len;

    memset(n, 0, sizeof(*n));
    n->fd = -1;
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') ||
        len >= sizeof(n->addr.sun_path)) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%s: expected an absolute path "
                 "or an @abstract name of at most %zu bytes; not telling "
                 "the service manager when ready", name,
                 sizeof(n->addr.sun_path) - 1);
        return -1;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, name, len);
    if (name[0] == '@') {
        n->addr.sun_path[0] = '\0';     /* the abstract namespace */
    }
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                             (name[0] == '/' ? 1 : 0));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

bool
notify_on(const struct notify *n)
{
    return n->fd >= 0;
}

void
notify_send(const struct notify *n, const char *msg)
{
    if (n->fd < 0) {
        return;
    }
    (void)sendto(n->fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
                 (const struct sockaddr *)&n->addr, n->addrlen);
}

void
notify_status(const struct notify *n, const char *text)
{
    char msg[STATUS_MAX + 8];

    if (n->fd < 0) {
        return;
    }
    snprintf(msg, sizeof(msg), "STATUS=%s", text);
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    notify_send(n, msg);
}

void
notify_release(struct notify *n)
{
    if (n->fd >= 0) {
        close(n->fd);
    }
    n->fd = -1;
}
