/*
 * takeover_new.c -- the new emberd's side of a takeover (see
 * takeover.h): find the running emberd through the control socket, ask
 * (HELLO) and check there is memory for a second copy, then READY for
 * the sockets and the lock, and DONE once ready to serve.
 */
#include "config.h"

#include "daemon/takeover.h"

#include "daemon/handoff.h"
#include "daemon/log.h"
#include "daemon/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* How long we wait for the owner's answer to HELLO, and to DONE. */
#define HELLO_WAIT_MS 10000
#define BYE_WAIT_MS ((int)TAKEOVER_PAUSE_MS + 10000)
/* Besides the copy of the owner's item memory: our own bookkeeping. */
#define MEM_MARGIN ((uint64_t)64 << 20)

struct takeover_new {
    int fd;
    long owner;                 /* its pid */
    struct logger *log;
    struct takeover_gap gap;    /* from its HANDOVER */
};

/* ---- time --------------------------------------------------------------- */

uint64_t
takeover_now_us(bool wall)
{
    struct timespec ts;

    clock_gettime(wall ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
takeover_new_gap(const struct takeover_new *tn, struct takeover_gap *out)
{
    *out = tn->gap;
}

uint64_t
takeover_gap_report(struct logger *log, const struct takeover_gap *g,
                    uint64_t handed_wall_us, uint64_t applied,
                    uint64_t apply_us)
{
    uint64_t now = takeover_now_us(true);
    uint64_t gap = g->stop_wall_us > 0 && now > g->stop_wall_us
                       ? now - g->stop_wall_us : 0;
    uint64_t pass = handed_wall_us > g->stop_wall_us + g->drain_us +
                    g->durable_us
                        ? handed_wall_us - g->stop_wall_us - g->drain_us -
                          g->durable_us : 0;

    if (g->stop_wall_us == 0) {
        log_msg(log, LOG_LVL_NOTICE, "takeover: the old emberd did not say "
                "when it stopped accepting; applied %" PRIu64 " change(s) "
                "of its journal in %.1f ms", applied,
                (double)apply_us / 1000.0);
        return 0;
    }
    log_msg(log, LOG_LVL_NOTICE, "takeover: no process accepted for %.1f "
            "ms: old drained %.1f ms, journal durable %.1f ms, sockets "
            "passed %.1f ms, new applied %" PRIu64 " change(s) in %.1f ms",
            (double)gap / 1000.0, (double)g->drain_us / 1000.0,
            (double)g->durable_us / 1000.0, (double)pass / 1000.0, applied,
            (double)apply_us / 1000.0);
    return gap;
}

/* ---- memory ------------------------------------------------------------ */

uint64_t
takeover_mem_available(const char *meminfo)
{
    const char *p = strstr(meminfo, "\nMemAvailable:");
    unsigned long long kb;

    if (p == NULL && strncmp(meminfo, "MemAvailable:", 13) == 0) {
        p = meminfo - 1;
    }
    if (p == NULL || sscanf(p + 14, "%llu kB", &kb) != 1) {
        return UINT64_MAX;      /* cannot tell: do not refuse */
    }
    return (uint64_t)kb * 1024u;
}

/* MemAvailable of this machine (UINT64_MAX when unknown). Tests name
 * another file in EMBERD_TAKEOVER_TEST_MEMINFO to stand for a machine
 * short of memory. */
static uint64_t
mem_available(void)
{
    const char *path = getenv("EMBERD_TAKEOVER_TEST_MEMINFO");
    char buf[8192];
    ssize_t n;
    int fd = open(path != NULL ? path : "/proc/meminfo",
                  O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return UINT64_MAX;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return UINT64_MAX;
    }
    buf[n] = '\0';
    return takeover_mem_available(buf);
}

/* The owner's OK: is there room for a second copy? 0 or an exit status. */
static int
check_memory(const struct settings *set, const char *ok, char *errbuf,
             size_t errlen)
{
    unsigned long long mem = 0, hash = 0;
    uint64_t need, avail = mem_available();

    if (!handoff_field_u64(ok, "mem", &mem) ||
        !handoff_field_u64(ok, "hash", &hash)) {
        snprintf(errbuf, errlen, "takeover: malformed answer '%s'", ok);
        return EX_PROTOCOL;
    }
    if (mem > set->mem_limit) {
        snprintf(errbuf, errlen, "takeover: -m %zu MB is less than the %llu "
                 "MB of items the running emberd holds: some would be "
                 "dropped; raise -m", set->mem_limit >> 20,
                 (mem + (1u << 20) - 1) >> 20);
        return EX_CONFIG;
    }
    need = (uint64_t)mem + hash + MEM_MARGIN;
    if (avail < need) {
        snprintf(errbuf, errlen, "takeover: not enough memory for a second "
                 "copy of the data while both run: need about %" PRIu64
                 " MB, MemAvailable is %" PRIu64 " MB", need >> 20,
                 avail >> 20);
        return EX_TEMPFAIL;
    }
    return 0;
}

/* ---- the exchange ------------------------------------------------------ */

static int
hello_message(const struct settings *set, char *msg, size_t cap)
{
    char dir[PATH_MAX], num[32];
    bool ok;

    if (realpath(set->snapshot_dir, dir) == NULL) {
        snprintf(dir, sizeof(dir), "%s", set->snapshot_dir);
    }
    snprintf(msg, cap, "HELLO v=1");
    snprintf(num, sizeof(num), "%ld", (long)getpid());
    ok = handoff_put(msg, cap, "pid", num) &&
         handoff_put(msg, cap, "listen", set->listen);
    snprintf(num, sizeof(num), "%u", set->port);
    ok = ok && handoff_put(msg, cap, "port", num);
    snprintf(num, sizeof(num), "%zu", set->item_size_max);
    ok = ok && handoff_put(msg, cap, "item_max", num) &&
         handoff_put(msg, cap, "dir", dir);
    return ok ? 0 : -1;
}

/*
 * Send SEND and wait up to TIMEOUT_MS for the answer (handoff_recv()'s
 * arguments and results). When the owner has closed already, its last
 * word (a NO sent before closing) is still read: only a close without
 * a word (EPIPE) means it died.
 */
static int
exchange(struct takeover_new *tn, const char *send, int timeout_ms,
         char *msg, size_t cap, int *fds, size_t *nfds, char *errbuf,
         size_t errlen)
{
    int e = handoff_send(tn->fd, send, NULL, 0, errbuf, errlen);

    if (e != 0 && e != EPIPE && e != ECONNRESET) {
        return e;
    }
    return handoff_recv(tn->fd, e == 0 ? timeout_ms : 0, msg, cap, fds,
                        nfds, errbuf, errlen);
}

/* A "NO why=..." answer into ERRBUF, prefixed by WHAT. */
static void
refused(const char *what, const char *msg, char *errbuf, size_t errlen)
{
    char why[HANDOFF_MSG_MAX];

    if (!handoff_field(msg, "why", why, sizeof(why))) {
        snprintf(why, sizeof(why), "%s", msg);
    }
    snprintf(errbuf, errlen, "%s: %s", what, why);
}

static int
ask(struct takeover_new *tn, const struct settings *set, char *errbuf,
    size_t errlen)
{
    char msg[HANDOFF_MSG_MAX];
    unsigned long long pid = 0;
    int rc;

    if (hello_message(set, msg, sizeof(msg)) != 0) {
        snprintf(errbuf, errlen, "takeover: -l or --snapshot-dir too long");
        return EX_USAGE;
    }
    if (exchange(tn, msg, HELLO_WAIT_MS, msg, sizeof(msg), NULL, NULL,
                 errbuf, errlen) != 0) {
        return EX_OSERR;
    }
    if (strncmp(msg, "OK ", 3) != 0) {
        refused("takeover refused by the running emberd", msg, errbuf,
                errlen);
        return EX_CONFIG;
    }
    if (handoff_field_u64(msg, "pid", &pid)) {
        tn->owner = (long)pid;
    }
    rc = check_memory(set, msg, errbuf, errlen);
    if (rc != 0) {
        takeover_new_abort(tn, errbuf);
    }
    return rc;
}

int
takeover_new_hello(const struct settings *set, struct logger *log,
                   struct takeover_new **out, char *errbuf, size_t errlen)
{
    struct takeover_new *tn = calloc(1, sizeof(*tn));
    char why[256];
    pid_t pid;
    int e, rc;

    *out = NULL;
    if (tn == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return EX_OSERR;
    }
    tn->log = log;
    e = handoff_connect(set->snapshot_dir, &tn->fd, why, sizeof(why));
    if (e == ENOENT || e == ECONNREFUSED) {
        snprintf(errbuf, errlen, "takeover: no emberd serves %s (%s): "
                 "start without --takeover", set->snapshot_dir, why);
        free(tn);
        return EX_UNAVAILABLE;
    }
    rc = e != 0 ? EX_OSERR : 0;
    if (rc == 0 && handoff_peer(tn->fd, &pid, why, sizeof(why)) != 0) {
        rc = EX_NOPERM;
    }
    if (rc != 0) {
        snprintf(errbuf, errlen, "takeover: %s", why);
    } else {
        tn->owner = (long)pid;
        rc = ask(tn, set, errbuf, errlen);
    }
    if (rc != 0) {
        takeover_new_close(&tn);
        return rc;
    }
    log_msg(log, LOG_LVL_INFO, "takeover: emberd pid %ld agreed; loading "
            "%s while it serves", tn->owner, set->snapshot_dir);
    *out = tn;
    return 0;
}

/*
 * Tests stop the new emberd at a point of the takeover to act meanwhile
 * (kill either side, wait out the owner's patience): with
 * EMBERD_TAKEOVER_TEST_STOP=loaded (before READY) or =handed (sockets
 * received, before the rest of the journal) it logs a line and stops
 * itself (SIGSTOP) there; SIGCONT goes on.
 */
static void
test_stop(struct takeover_new *tn, const char *point)
{
    const char *want = getenv("EMBERD_TAKEOVER_TEST_STOP");

    if (want != NULL && strcmp(want, point) == 0) {
        log_msg(tn->log, LOG_LVL_WARN, "takeover: stopped at %s "
                "(EMBERD_TAKEOVER_TEST_STOP)", point);
        (void)raise(SIGSTOP);
    }
}

/* The owner went away without a word: it died. */
static void
owner_died(struct takeover_new *tn, const char *when)
{
    log_msg(tn->log, LOG_LVL_WARN, "takeover: emberd pid %ld went away %s; "
            "going on as after a crash", tn->owner, when);
}

/* The owner's times from its HANDOVER (an older one says n= only: then
 * they stay 0, unknown). */
static void
read_gap(struct takeover_new *tn, const char *msg)
{
    unsigned long long stop = 0, drain = 0, durable = 0;

    if (handoff_field_u64(msg, "stop", &stop) &&
        handoff_field_u64(msg, "drain_us", &drain) &&
        handoff_field_u64(msg, "durable_us", &durable)) {
        tn->gap.stop_wall_us = stop;
        tn->gap.drain_us = drain;
        tn->gap.durable_us = durable;
    }
}

int
takeover_new_request(struct takeover_new *tn, int *fds, size_t max,
                     size_t *nfds, int *lock_fd, char *errbuf,
                     size_t errlen)
{
    char msg[HANDOFF_MSG_MAX];
    int got[HANDOFF_FDS_MAX];
    unsigned long long n = 0;
    size_t ngot = 0;
    int e;

    *nfds = 0;
    *lock_fd = -1;
    test_stop(tn, "loaded");
    e = exchange(tn, "READY", BYE_WAIT_MS, msg, sizeof(msg), got, &ngot,
                 errbuf, errlen);
    if (e == EPIPE) {
        owner_died(tn, "before handing over");
        return 0;
    }
    if (e == 0 && strncmp(msg, "NO", 2) == 0) {
        refused("the running emberd could not hand over", msg, errbuf,
                errlen);
        e = -1;
    } else if (e == 0 && (strncmp(msg, "HANDOVER ", 9) != 0 ||
                          !handoff_field_u64(msg, "n", &n) || n == 0 ||
                          n + 1 != ngot || n > max)) {
        snprintf(errbuf, errlen, "takeover: unexpected answer '%s' with "
                 "%zu descriptor(s)", msg, ngot);
        e = -1;
    }
    if (e != 0) {
        for (size_t i = 0; i < ngot; i++) {
            close(got[i]);
        }
        return EX_OSERR;
    }
    read_gap(tn, msg);
    memcpy(fds, got, n * sizeof(*fds));
    *nfds = n;
    *lock_fd = got[n];
    test_stop(tn, "handed");
    return 0;
}

int
takeover_new_commit(struct takeover_new *tn, char *errbuf, size_t errlen)
{
    char msg[HANDOFF_MSG_MAX];
    int e;

    e = exchange(tn, "DONE", BYE_WAIT_MS, msg, sizeof(msg), NULL, NULL,
                 errbuf, errlen);
    if (e == EPIPE) {
        owner_died(tn, "at the handover");
        return 0;
    }
    if (e == 0 && strcmp(msg, "BYE") == 0) {
        log_msg(tn->log, LOG_LVL_INFO, "takeover: emberd pid %ld handed "
                "over; it closes its connections and exits", tn->owner);
        return 0;
    }
    if (e == 0) {
        refused("the running emberd took back", msg, errbuf, errlen);
    }
    return EX_OSERR;
}

void
takeover_new_abort(struct takeover_new *tn, const char *why)
{
    char msg[HANDOFF_MSG_MAX] = "ABORT", err[128];

    if (tn == NULL || tn->fd < 0) {
        return;
    }
    (void)handoff_put(msg, sizeof(msg), "why", why);
    (void)handoff_send(tn->fd, msg, NULL, 0, err, sizeof(err));
}

long
takeover_new_owner_pid(const struct takeover_new *tn)
{
    return tn->owner;
}

void
takeover_new_close(struct takeover_new **tnp)
{
    struct takeover_new *tn = *tnp;

    if (tn == NULL) {
        return;
    }
    if (tn->fd >= 0) {
        close(tn->fd);
    }
    free(tn);
    *tnp = NULL;
}
