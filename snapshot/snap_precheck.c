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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot/snap_int.h"

/* The child's side: default fault signals, no core file, FN's answer
 * into FD, then _exit (no atexit handler of emberd's runs twice). */
static void
child_main(const char *dir, snap_child_fn fn, _Atomic uint64_t *progress,
           int fd)
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
    v = fn(dir, progress);
    if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        _exit(1);
    }
    _exit(0);
}

/* A long check says how far it is (through SN's log, when SN). */
static void
tell_progress(struct snap *sn, uint64_t records)
{
    char what[96];

    if (sn != NULL) {
        snprintf(what, sizeof(what), "checking the pages of data.mdb, "
                 "%llu records read", (unsigned long long)records);
        snap_progress(sn, what, 0, 0);
    }
}

/*
 * Read the child's answer from FD, watching PROGRESS: a child that counts
 * nothing for SN's child_stall_s (without SN: SNAP_CHILD_STALL_S) is
 * killed (*STALLED). Returns the bytes
 * read into *V (sizeof(*V) when it answered).
 */
static ssize_t
await_answer(struct snap *sn, pid_t pid, int fd, _Atomic uint64_t *progress,
             uint64_t *v, bool *stalled)
{
    uint64_t seen = atomic_load(progress);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    unsigned quiet_s = 0;
    unsigned stall_s = sn != NULL ? sn->cfg.child_stall_s : SNAP_CHILD_STALL_S;
    ssize_t got = 0, n;

    *stalled = false;
    while ((size_t)got < sizeof(*v)) {
        n = poll(&pfd, 1, 1000);
        if (n == 0) {
            uint64_t now = atomic_load(progress);

            tell_progress(sn, now);
            quiet_s = now == seen ? quiet_s + 1 : 0;
            seen = now;
            if (quiet_s >= stall_s) {
                kill(pid, SIGKILL);
                *stalled = true;
                break;
            }
            continue;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        n = read(fd, (char *)v + got, sizeof(*v) - (size_t)got);
        if (n > 0) {
            got += n;
        } else if (n == 0 || errno != EINTR) {
            break;  /* the child died before it wrote (or cannot) */
        }
    }
    return got;
}

int
snap_in_child(struct snap *sn, const char *dir, snap_child_fn fn,
              uint64_t *out, int *sig)
{
    _Atomic uint64_t *progress;
    uint64_t v = 0;
    ssize_t got = 0;
    bool stalled = false;
    int fds[2], status;
    pid_t pid;

    *sig = 0;
    progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (progress == MAP_FAILED) {
        return SNAP_CHILD_FAILED;
    }
    atomic_init(progress, 0);
    if (pipe(fds) != 0) {
        munmap((void *)progress, sizeof(*progress));
        return SNAP_CHILD_FAILED;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(dir, fn, progress, fds[1]);
    }
    close(fds[1]);
    if (pid > 0) {
        got = await_answer(sn, pid, fds[0], progress, &v, &stalled);
    }
    close(fds[0]);
    munmap((void *)progress, sizeof(*progress));
    if (pid < 0) {
        return SNAP_CHILD_FAILED;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return SNAP_CHILD_FAILED;
        }
    }
    if (stalled) {
        return SNAP_CHILD_STALLED;
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

/* Read every page LMDB hands out for every block of every run, the way
 * the loader and the writer's deletions will walk them, counting
 * PROGRESS. Returns what it read folded into a byte. */
static unsigned char
touch_blocks(struct snapfmt_txn *txn, _Atomic uint64_t *progress)
{
    struct snapfmt_bcur *c = NULL;
    const unsigned char *key, *val;
    size_t nkey, nval;
    volatile unsigned char sink = 0;

    if (snapfmt_bcur_open(txn, SNAPFMT_RUN_ALL, 0, NULL, 0, &c, NULL, 0) !=
        SNAPFMT_OK) {
        return 0;
    }
    while (snapfmt_bcur_next(c, (const void **)&key, &nkey,
                             (const void **)&val, &nval) == SNAPFMT_OK) {
        atomic_fetch_add_explicit(progress, 1, memory_order_relaxed);
        sink ^= key[0] ^ key[nkey - 1];
        for (size_t i = 0; i < nval; i += 2048) {
            sink ^= val[i];
        }
        if (nval > 0) {
            sink ^= val[nval - 1];
        }
    }
    return sink;    /* the process ends soon: the cursor is not closed */
}

/*
 * The precheck child: open as emberd will (meta, main database), walk
 * every record (format 2) and block (format 3) touching every page of
 * it, load the dictionaries. Any
 * error is not a page fault: the real open reports it. A file shorter
 * than its last snapshot is left to that open too, which says so (a
 * walk would die of SIGBUS and say less).
 */
static uint64_t
precheck_walk(const char *dir, _Atomic uint64_t *progress)
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
    atomic_fetch_add(progress, 1);
    while (snapfmt_iter_next(it, (const void **)&key, &nkey,
                             (const void **)&rec, &nrec) == SNAPFMT_OK) {
        atomic_fetch_add_explicit(progress, 1, memory_order_relaxed);
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
    sink ^= touch_blocks(snapfmt_iter_txn(it), progress);
    return sink & 0;    /* the process ends here: nothing to free */
}

int
snap_precheck(struct snap *sn, char *err, size_t errlen)
{
    uint64_t unused;
    int sig;

    switch (snap_in_child(sn, sn->dir, precheck_walk, &unused, &sig)) {
    case SNAP_CHILD_SIGNALED:
        snprintf(err, errlen, "%s/data.mdb: LMDB pages are damaged (a "
                 "reader died of signal %d: %s)", sn->dir, sig,
                 strsignal(sig));
        return SNAPFMT_ECORRUPT;
    case SNAP_CHILD_STALLED:
        snprintf(err, errlen, "%s/data.mdb: LMDB pages are damaged (a "
                 "reader made no progress for %u s: a loop in its pages)",
                 sn->dir, sn->cfg.child_stall_s);
        return SNAPFMT_ECORRUPT;
    default:
        return SNAPFMT_OK;  /* read, or could not check: load as usual */
    }
}
