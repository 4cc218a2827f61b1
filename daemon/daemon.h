/*
 * daemon.h -- process-level chores: -d, -P, -u, and the fd limit.
 *
 * Layer: daemon-private; libc only. Each call reports failure with a
 * message in ERRBUF and an enum daemon_rc; main() decides to exit.
 * All of these run on the main thread before any other thread exists
 * (fork() keeps only the calling thread).
 */
#ifndef EMBER_DAEMON_H
#define EMBER_DAEMON_H

#include <stddef.h>

struct logger;

enum daemon_rc {
    DAEMON_OK = 0,
    DAEMON_ESYS = -1,       /* a system call failed; see ERRBUF */
    DAEMON_EUSER = -2,      /* -u names no such user */
};

/*
 * Detach (-d): fork; start a new session, chdir("/"), stdin from
 * /dev/null. The parent does not exit at once: it waits until the child
 * calls daemon_ready() (then exits 0) or exits itself (then the parent
 * exits with the child's status). So `emberd -d` returns only once the
 * daemon serves -- what init systems expect of a forking service -- and
 * start-up errors still reach the terminal on stderr with their status.
 * Returns in the child only, with *READY_FD set for daemon_ready().
 * Thread: main, before threads.
 */
int daemon_detach(int *ready_fd, char *errbuf, size_t errlen);

/*
 * Tell the waiting parent we serve, and point stdout/stderr at
 * /dev/null (the terminal may go away). Closes READY_FD. No-op on -1.
 */
void daemon_ready(int ready_fd);

/* Write our pid and a newline to PATH (-P), mode 0644. */
int daemon_write_pidfile(const char *path, char *errbuf, size_t errlen);

/*
 * Write the current directory + "/" + REL into OUT (OUTLEN bytes), so a
 * relative -P survives -d's chdir("/"). Returns 0, or -1 when it does
 * not fit or getcwd fails (OUT is then unspecified).
 */
int daemon_absolute_path(const char *rel, char *out, size_t outlen);

/* Remove PATH if it still holds our pid (best effort; silent). */
void daemon_remove_pidfile(const char *path);

/*
 * Drop root to USER (-u): setgid, initgroups, setuid, in that order, and
 * check root cannot be regained. When running as root with USER NULL,
 * warn through LOG (memcached refuses; we only warn). Not root and USER
 * set: a note, nothing to drop.
 */
int daemon_drop_privileges(const char *user, struct logger *log,
                           char *errbuf, size_t errlen);

/*
 * Raise RLIMIT_NOFILE so MAX_CONNS clients plus our own descriptors
 * fit; warns through LOG when the hard limit is too low.
 */
void daemon_raise_fd_limit(unsigned max_conns, struct logger *log);

/*
 * -r: raise RLIMIT_CORE to unlimited (root may raise the hard limit),
 * else its soft limit to the hard one, so that a crash leaves a core
 * file; warns through LOG when it stays 0. Thread: main.
 */
void daemon_raise_core_limit(struct logger *log);

#endif /* EMBER_DAEMON_H */
