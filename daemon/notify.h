/*
 * notify.h -- telling systemd (Type=notify) that emberd serves, that a
 * takeover made another process the service's main one, or that it
 * stops: sd_notify(3) from libsystemd when emberd was built with it
 * (configure finds libsystemd), otherwise nothing.
 *
 * Layer: daemon-private. Without $NOTIFY_SOCKET (not under systemd)
 * every call does nothing. The unit needs NotifyAccess=all for a new
 * emberd started by `systemctl reload` (not systemd's child) to be
 * heard.
 */
#ifndef EMBER_NOTIFY_H
#define EMBER_NOTIFY_H

#include <stdbool.h>

struct logger;

/*
 * "READY=1" once emberd accepts; after a takeover (TAKEOVER) also
 * "MAINPID=<our pid>", so that systemd follows us and not the emberd we
 * replaced (which exits 0 soon after). Failures are logged at -v.
 * Thread: main. Blocks: one datagram.
 */
void notify_ready(struct logger *log, bool takeover);

/* "STOPPING=1" when a stop begins (not after a handover). */
void notify_stopping(struct logger *log);

#endif /* EMBER_NOTIFY_H */
