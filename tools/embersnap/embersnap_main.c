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
    /* a damaged page that takes liblmdb down: one line, exit 2 */
    es_fault_install();
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
