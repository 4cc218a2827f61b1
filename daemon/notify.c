/*
 * notify.c -- sd_notify(3) for Type=notify units (see notify.h).
 */
#include "config.h"

#include "daemon/notify.h"

#include "daemon/log.h"

#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static void
send_state(struct logger *log, const char *state)
{
    int rc = sd_notify(0, state);

    if (rc < 0) {
        log_msg(log, LOG_LVL_WARN, "sd_notify(%s): %s", state,
                strerror(-rc));
    } else if (rc > 0) {
        log_msg(log, LOG_LVL_INFO, "told systemd: %s", state);
    }
}

void
notify_ready(struct logger *log, bool takeover)
{
    if (takeover) {
        int rc = sd_notifyf(0, "MAINPID=%ld\nREADY=1", (long)getpid());

        if (rc < 0) {
            log_msg(log, LOG_LVL_WARN, "sd_notify(MAINPID): %s",
                    strerror(-rc));
        } else if (rc > 0) {
            log_msg(log, LOG_LVL_INFO, "told systemd: MAINPID=%ld, READY=1",
                    (long)getpid());
        }
        return;
    }
    send_state(log, "READY=1");
}

void
notify_stopping(struct logger *log)
{
    send_state(log, "STOPPING=1");
}

#else /* !HAVE_LIBSYSTEMD */

void
notify_ready(struct logger *log, bool takeover)
{
    (void)log;
    (void)takeover;
}

void
notify_stopping(struct logger *log)
{
    (void)log;
}

#endif
