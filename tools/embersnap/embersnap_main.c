/*
 * embersnap_main.c -- main() of embersnap: everything else is es_main()
 * (embersnap.c), which the Check suite calls directly.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ES_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ES_ASAN 1
#endif

#ifndef ES_ASAN
/*
 * LMDB reads data.mdb through a memory map and trusts its pages: a page
 * of garbage (a disk scare, a bad copy) can make it follow a wild pointer
 * (SIGSEGV), and a file cut short after the truncation check raises
 * SIGBUS. Both mean the file is damaged, and an operator gets a one-line
 * answer and exit 2 instead of a core dump. (A journal segment is mapped
 * too: emberd cuts one back only after a failed write, and a read of the
 * cut bytes also raises SIGBUS; running again reads the new length.)
 * Async-signal-safe: write(2) and _exit(2) only.
 */
static void
on_fault(int sig)
{
    static const char msg[] =
        "embersnap: fatal signal while reading the snapshot: data.mdb is "
        "most likely damaged (an invalid LMDB page); check it with "
        "mdb_stat, restore a good copy or let emberd start cold (or, "
        "beside an emberd whose disk is full, a journal segment was cut "
        "back while being read: run again)\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        _exit(ES_EXIT_USAGE);
    }
    _exit(ES_EXIT_USAGE);
}
#endif

/* Written by on_stop(), read by the walks through es_cli.stop. */
static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
    stop_signal = sig;
}

/*
 * Ctrl-C, SIGTERM, SIGHUP and a closed pipe end the walk cleanly so the
 * read transaction is aborted: a reader slot left in lock.mdb by a dead
 * process would keep emberd from reusing pages until it is cleared.
 * No SA_RESTART: a write blocked on a slow pipe returns EINTR.
 */
static void
signal_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
#ifndef ES_ASAN
    /* Under AddressSanitizer its own report is worth more. */
    sa.sa_handler = on_fault;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
#endif
}

int
main(int argc, char **argv)
{
    int rc, sig;

    signal_handlers();
    rc = es_main(argc, argv, stdout, stderr, -1, &stop_signal);
    sig = stop_signal;
    if (sig != 0) {
        /* cleaned up: now die of the signal, as the shell expects */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    /* A full disk must not pass for a complete listing; a reader that
     * closed the pipe early (| head) wanted no more. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE) {
            fprintf(stderr, "embersnap: writing output: %s\n",
                    strerror(errno));
        }
        exit(ES_EXIT_USAGE);
    }
    exit(rc);
}
