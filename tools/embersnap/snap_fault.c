/*
 * snap_fault.c -- how embersnap ends when liblmdb cannot read a damaged
 * snapshot (embersnap.h): one line naming the directory, exit status 2,
 * never a core dump.
 *
 * LMDB trusts its pages. A damaged one either breaks an invariant LMDB
 * checks (an assertion: it would print it and abort()) or sends it
 * through a wild pointer (SIGSEGV) or past the end of the file (SIGBUS).
 * Nothing is resumed after either: the cursor and the transaction are in
 * an undefined state, and a fault may have hit with a lock held (stdio,
 * malloc). So:
 *  - an assertion goes to es_lmdb_assert() (snapfmt_set_assert_handler):
 *    a plain function call, not a signal, which prints the message and
 *    _exit()s before LMDB prints or aborts;
 *  - a fault signal goes to on_fault(), which write()s a line built
 *    before the snapshot was opened and _exit()s: async-signal-safe.
 * Both leave this process's LMDB reader slot behind; emberd's writer
 * clears such slots before each snapshot (and `embersnap info` lists
 * them as stale until then). A running emberd writes only pages our
 * read transaction does not see, so reading beside it changes nothing
 * here: what faults is damage in the snapshot we read (or a journal
 * segment emberd cut back after a failed write, while it was mapped).
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ES_FAULT_MSG_MAX 4800

static const char fault_advice[] =
    " while reading the snapshot: data.mdb is most likely damaged (an "
    "invalid LMDB page); restore a good copy, or let emberd move it aside "
    "(--snapshot-on-corrupt=cold); beside an emberd whose disk is full, a "
    "journal segment cut back while being read does this too: run again\n";

/* "embersnap: DIR: " while a snapshot is open, else "embersnap: ".
 * Written before the snapshot is read, read by the handler. */
static char fault_prefix[ES_FAULT_MSG_MAX];
static volatile sig_atomic_t fault_prefix_len;

static char fault_stack[64 * 1024];   /* a fault on a full stack too */

void
es_fault_dir(const char *dir)
{
    int n;

    fault_prefix_len = 0;
    n = snprintf(fault_prefix, sizeof(fault_prefix), "embersnap: %s: ",
                 dir != NULL ? dir : "");
    if (n > 0 && (size_t)n < sizeof(fault_prefix)) {
        fault_prefix_len = n;
    }
}

/* Append N bytes of S to BUF (at *AT, CAP bytes). Signal-safe. */
static void
put(char *buf, size_t cap, size_t *at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *at < cap; i++) {
        buf[(*at)++] = s[i];
    }
}

static const char *
signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    default: return "SIGILL";
    }
}

/* Async-signal-safe: a local buffer, write(2) and _exit(2) only. */
static void
on_fault(int sig)
{
    char line[ES_FAULT_MSG_MAX + sizeof(fault_advice) + 16];
    const char *name = signal_name(sig);
    size_t at = 0, np = (size_t)fault_prefix_len;

    if (np == 0) {
        put(line, sizeof(line), &at, "embersnap: ", 11);
    } else {
        put(line, sizeof(line), &at, fault_prefix, np);
    }
    put(line, sizeof(line), &at, name, strlen(name));
    put(line, sizeof(line), &at, fault_advice, sizeof(fault_advice) - 1);
    if (write(STDERR_FILENO, line, at) < 0) {
        _exit(ES_EXIT_USAGE);
    }
    _exit(ES_EXIT_USAGE);
}

/* snapfmt_assert_fn: LMDB found its own page broken. Not a signal. */
static void
es_lmdb_assert(const char *dir, const char *what)
{
    fprintf(stderr, "embersnap: %s: data.mdb is damaged: LMDB found a "
            "broken page (%s); restore a good copy, or let emberd move it "
            "aside (--snapshot-on-corrupt=cold)\n", dir, what);
    _exit(ES_EXIT_USAGE);
}

void
es_fault_install(void)
{
    static const int faults[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
                                  SIGILL };
    stack_t ss;
    struct sigaction sa;

    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = fault_stack;
    ss.ss_size = sizeof(fault_stack);
    (void)sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_fault;
    /* once: a fault inside the handler ends the process as it would */
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        sigaction(faults[i], &sa, NULL);
    }
    snapfmt_set_assert_handler(es_lmdb_assert);
}
