/*
 * notify.h -- readiness and status for systemd (Type=notify), without
 * libsystemd.
 *
 * Layer: daemon-private; libc only. The protocol is sd_notify(3)'s, as
 * systemd documents it: each message is one datagram of "VAR=VALUE"
 * lines sent to the AF_UNIX socket named by the NOTIFY_SOCKET
 * environment variable -- a path, or, when it starts with '@', a name in
 * the abstract namespace (the '@' stands for the leading NUL byte).
 * emberd sends "STATUS=..." while it loads its snapshot, "READY=1" once
 * it listens, "STOPPING=1" when it begins to shut down.
 *
 * Without NOTIFY_SOCKET (not started by systemd, or Type=simple) every
 * call is a no-op. Sending never blocks and its failure is ignored, as
 * sd_notify's is: readiness is a courtesy to the service manager, never
 * a reason to stop serving.
 */
#ifndef EMBER_NOTIFY_H
#define EMBER_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct notify {
    int fd;                     /* datagram socket, -1: off */
    struct sockaddr_un addr;    /* NOTIFY_SOCKET */
    socklen_t addrlen;
};

/*
 * Read NOTIFY_SOCKET and open a socket for it. Returns 0 (also when the
 * variable is unset: N is then off), or -1 with the reason in ERR (a
 * name that is too long or not a path or '@' name, no socket): N is off
 * and the caller may warn. Thread: main. Blocks: never.
 */
int notify_init(struct notify *n, char *err, size_t errlen);

/*
 * Send MSG ("READY=1", "STATUS=loading...\n", several lines allowed) as
 * one datagram. A no-op when N is off. Thread: any (one sendto()).
 * Blocks: never (MSG_DONTWAIT).
 */
void notify_send(const struct notify *n, const char *msg);

/* "STATUS=" + TEXT (one line: '\n' in TEXT becomes ' '). As
 * notify_send(). TEXT is cut at 1 KB. */
void notify_status(const struct notify *n, const char *text);

/* Whether N sends anywhere. */
bool notify_on(const struct notify *n);

/* Close the socket; N is off. */
void notify_release(struct notify *n);

#endif /* EMBER_NOTIFY_H */
