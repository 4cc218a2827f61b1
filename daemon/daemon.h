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

#include <stdbool.h>
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
 * /dev/null (the terminal may go away) unless KEEP_OUTPUT: they are the
 * journal, which outlives the parent (`systemctl reload` runs
 * `emberd --takeover -d`, whose lines belong in the unit's journal).
 * Closes READY_FD. No-op on -1. Thread: main.
 */
void daemon_ready(int ready_fd, bool keep_output);

/*
 * The pid file (-P). Written by root, before privileges are dropped, so
 * that it may live in a directory only root can write (/run): a
 * temporary file created beside it (O_CREAT|O_EXCL|O_NOFOLLOW, 0644),
 * renamed over it -- atomic, and a rename replaces a symlink itself,
 * never its target. A symlink at PATH, or anything but a regular file,
 * is refused; so is a directory component that is a symlink owned by
 * anyone but root (/var/run -> /run is followed). The directory stays
 * open, so the removal at exit acts in the same directory whatever
 * becomes of the path meanwhile, and removes only the file written here.
 */
struct daemon_pidfile {
    int dirfd;                  /* owned; -1: no pid file */
    const char *path;           /* borrowed: -P as given, for messages */
    char name[256];             /* the last component of path */
    unsigned long long dev;     /* the file written: st_dev, st_ino */
    unsigned long long ino;
};

/* No pid file (dirfd -1). */
void daemon_pidfile_init(struct daemon_pidfile *pf);

/*
 * Write our pid and a newline to PATH as above; PF keeps what removal
 * needs. Returns DAEMON_OK, or DAEMON_ESYS with the reason (a symlink
 * refused, a system call failed) in ERRBUF. PATH is borrowed for PF's
 * life. Thread: main, before threads.
 */
int daemon_pidfile_write(struct daemon_pidfile *pf, const char *path,
                         char *errbuf, size_t errlen);

/*
 * After privileges were dropped: warn through LOG, naming PF's path,
 * when the process may not be able to remove the file at exit (its
 * directory is not writable by us, or sticky and not ours).
 */
void daemon_pidfile_check(const struct daemon_pidfile *pf,
                          struct logger *log);

/*
 * At a clean exit: remove the file daemon_pidfile_write() wrote, if it
 * is still that file; say through LOG why not when it cannot (e.g. the
 * user -u named may not write its directory). Closes the directory.
 * No-op without a pid file.
 */
void daemon_pidfile_remove(struct daemon_pidfile *pf, struct logger *log);

/*
 * Write the current directory + "/" + REL into OUT (OUTLEN bytes), so a
 * relative -P survives -d's chdir("/"). Returns 0, or -1 when it does
 * not fit or getcwd fails (OUT is then unspecified).
 */
int daemon_absolute_path(const char *rel, char *out, size_t outlen);

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
