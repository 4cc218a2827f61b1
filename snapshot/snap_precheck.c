/*
 * snap_precheck.c -- reading a snapshot in a forked child before emberd
 * reads it itself. LMDB trusts its pages: a damaged one can send a
 * reader through a wild pointer (SIGSEGV), past the end of the file
 * (SIGBUS) or into one of LMDB's own assertions (SIGABRT). In a child
 * that is a dead child and a message; in emberd it would be a crash at
 * every start (the unit restarts it: a crash loop). Nothing of the
 * child's is trusted but its exit: it writes one number into a pipe.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot/snap_int.h"

/* The child's side: default fault signals, no core file, FN's answer
 * into FD, then _exit (no atexit handler of emberd's runs twice). */
static void
child_main(const char *dir, uint64_t (*fn)(const char *dir), int fd)
{
    static const int faults[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
                                  SIGILL };
    struct rlimit nocore = { 0, 0 };
    uint64_t v;

    /* a fault must kill this process, whatever the parent installed
     * (a sanitizer's handler would exit 1 instead: not a signal) */
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        signal(faults[i], SIG_DFL);
    }
    /* its death is expected and reported; a core file is not wanted */
    (void)setrlimit(RLIMIT_CORE, &nocore);
    v = fn(dir);
    if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        _exit(1);
    }
    _exit(0);
}

int
snap_in_child(const char *dir, uint64_t (*fn)(const char *dir),
              uint64_t *out, int *sig)
{
    uint64_t v = 0;
    ssize_t got = 0, n;
    int fds[2], status;
    pid_t pid;

    *sig = 0;
    if (pipe(fds) != 0) {
        return SNAP_CHILD_FAILED;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(dir, fn, fds[1]);
    }
    close(fds[1]);
    while (pid > 0 && (size_t)got < sizeof(v)) {
        n = read(fds[0], (char *)&v + got, sizeof(v) - (size_t)got);
        if (n > 0) {
            got += n;
        } else if (n == 0 || errno != EINTR) {
            break;  /* the child died before it wrote (or cannot) */
        }
    }
    close(fds[0]);
    if (pid < 0) {
        return SNAP_CHILD_FAILED;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return SNAP_CHILD_FAILED;
        }
    }
    if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
        return SNAP_CHILD_SIGNALED;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        (size_t)got != sizeof(v)) {
        return SNAP_CHILD_FAILED;
    }
    *out = v;
    return SNAP_CHILD_OK;
}

/*
 * The precheck child: open as emberd will (meta, main database), walk
 * every record touching every page of it, load the dictionaries. Any
 * error is not a page fault: the real open reports it. A file shorter
 * than its last snapshot is left to that open too, which says so (a
 * walk would die of SIGBUS and say less).
 */
static uint64_t
precheck_walk(const char *dir)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_iter *it = NULL;
    struct snapfmt_dicts *ds = NULL;
    const unsigned char *key, *rec;
    size_t nkey, nrec;
    volatile unsigned char sink = 0;

    if (snapfmt_env_check_file(dir, NULL, 0) != SNAPFMT_OK ||
        snapfmt_env_open(dir, SNAPFMT_RDONLY, 0, &e, NULL, 0) != SNAPFMT_OK ||
        snapfmt_iter_open(e, NULL, &it, NULL, 0) != SNAPFMT_OK) {
        return 0;
    }
    while (snapfmt_iter_next(it, (const void **)&key, &nkey,
                             (const void **)&rec, &nrec) == SNAPFMT_OK) {
        if (nkey > 0) {
            sink ^= key[0] ^ key[nkey - 1];
        }
        for (size_t i = 0; i < nrec; i += 2048) {
            sink ^= rec[i];
        }
        if (nrec > 0) {
            sink ^= rec[nrec - 1];
        }
    }
    (void)snapfmt_dicts_load(e, snapfmt_iter_txn(it), 1, &ds, NULL, 0);
    return 0;   /* the process ends here: nothing to free */
}

int
snap_precheck(struct snap *sn, char *err, size_t errlen)
{
    uint64_t unused;
    int sig;

    if (snap_in_child(sn->dir, precheck_walk, &unused, &sig) ==
        SNAP_CHILD_SIGNALED) {
        snprintf(err, errlen, "%s/data.mdb: LMDB pages are damaged (a "
                 "reader died of signal %d: %s)", sn->dir, sig,
                 strsignal(sig));
        return SNAPFMT_ECORRUPT;
    }
    return SNAPFMT_OK;  /* read, or could not check: load as usual */
}
