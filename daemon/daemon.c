/*
 * daemon.c -- -d, -P, -u and the fd limit (see daemon.h).
 */
#include "config.h"

#include "daemon/daemon.h"

#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Descriptors besides clients: listeners, eventfds, epoll, logs. */
#define FD_RESERVE 64u

/* Parent side of -d: wait for "ready" or for the child's exit status. */
static void
wait_for_child(pid_t pid, int rfd)
{
    char byte;
    ssize_t n;
    int status = 0;

    do {
        n = read(rfd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) {
        _exit(0);
    }
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
        _exit(WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
    }
    _exit(1);
}

int
daemon_detach(int *ready_fd, char *errbuf, size_t errlen)
{
    int p[2];
    pid_t pid;
    int fd;

    if (pipe(p) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        return DAEMON_ESYS;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(errbuf, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return DAEMON_ESYS;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_child(pid, p[0]);
    }
    close(p[0]);
    (void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
    *ready_fd = p[1];
    if (setsid() < 0 || chdir("/") != 0) {
        snprintf(errbuf, errlen, "setsid/chdir: %s", strerror(errno));
        return DAEMON_ESYS;
    }
    fd = open("/dev/null", O_RDWR);
    if (fd < 0) {
        snprintf(errbuf, errlen, "/dev/null: %s", strerror(errno));
        return DAEMON_ESYS;
    }
    (void)dup2(fd, STDIN_FILENO);
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    return DAEMON_OK;
}

void
daemon_ready(int ready_fd, bool keep_output)
{
    int fd;
    ssize_t n;

    if (ready_fd < 0) {
        return;
    }
    fd = keep_output ? -1 : open("/dev/null", O_RDWR);
    if (fd >= 0) {
        (void)dup2(fd, STDOUT_FILENO);
        (void)dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    do {
        n = write(ready_fd, "1", 1);
    } while (n < 0 && errno == EINTR);
    close(ready_fd);
}

int
daemon_absolute_path(const char *rel, char *out, size_t outlen)
{
    size_t n;

    if (getcwd(out, outlen) == NULL) {
        return -1;
    }
    n = strlen(out);
    if (n + 1 + strlen(rel) + 1 > outlen) {
        return -1;
    }
    out[n] = '/';
    strcpy(out + n + 1, rel);
    return 0;
}

/* ---- the pid file ---------------------------------------------------- */

void
daemon_pidfile_init(struct daemon_pidfile *pf)
{
    memset(pf, 0, sizeof(*pf));
    pf->dirfd = -1;
}

/*
 * Open directory component COMP under CUR: never through a symlink,
 * unless root owns it (as /var/run -> /run). Returns the fd or -1.
 */
static int
open_component(int cur, const char *comp, const char *path, char *errbuf,
               size_t errlen)
{
    struct stat st;
    int fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                   O_CLOEXEC);

    if (fd < 0 && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
        if (st.st_uid != 0) {
            snprintf(errbuf, errlen, "pid file %s: %s is a symbolic link "
                     "owned by uid %lu, not root; refusing to follow it",
                     path, comp, (unsigned long)st.st_uid);
            return -1;
        }
        fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(errbuf, errlen, "pid file %s: directory %s: %s", path,
                 comp, strerror(errno));
    }
    return fd;
}

/* Open the directory of PATH component by component; its last component
 * goes to NAME. Returns the directory's fd or -1. */
static int
open_parent(const char *path, char *name, size_t namelen, char *errbuf,
            size_t errlen)
{
    char buf[4096];
    const char *slash = strrchr(path, '/');
    const char *last = slash != NULL ? slash + 1 : path;
    char *comp;
    char *save = NULL;
    int cur;
    int fd;

    if (strlen(path) >= sizeof(buf) || strlen(last) >= namelen) {
        snprintf(errbuf, errlen, "pid file %s: name too long", path);
        return -1;
    }
    memcpy(name, last, strlen(last) + 1);
    if (name[0] == '\0' || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        snprintf(errbuf, errlen, "pid file %s: not a file name", path);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%.*s", slash ? (int)(slash - path) : 0,
             path);
    cur = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY |
                                               O_CLOEXEC);
    for (comp = strtok_r(buf, "/", &save); comp != NULL && cur >= 0;
         comp = strtok_r(NULL, "/", &save)) {
        fd = open_component(cur, comp, path, errbuf, errlen);
        close(cur);
        cur = fd;
    }
    if (cur < 0 && errbuf[0] == '\0') {
        snprintf(errbuf, errlen, "pid file %s: %s", path, strerror(errno));
    }
    return cur;
}

/* PF's name must be absent or a regular file, never a symlink. */
static int
check_target(const struct daemon_pidfile *pf, char *errbuf, size_t errlen)
{
    struct stat st;

    if (fstatat(pf->dirfd, pf->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return DAEMON_OK;
        }
        snprintf(errbuf, errlen, "pid file %s: %s", pf->path,
                 strerror(errno));
        return DAEMON_ESYS;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(errbuf, errlen, "pid file %s is a symbolic link; refusing "
                 "to write through it (remove it, or name another file)",
                 pf->path);
        return DAEMON_ESYS;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "pid file %s exists and is not a regular "
                 "file", pf->path);
        return DAEMON_ESYS;
    }
    return DAEMON_OK;
}

/* Create TMP in PF's directory (O_EXCL: never an existing file or link;
 * one left by a crashed run with our pid is removed first). */
static int
create_temp(const struct daemon_pidfile *pf, const char *tmp)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(pf->dirfd, tmp, flags, 0644);

    if (fd < 0 && errno == EEXIST && unlinkat(pf->dirfd, tmp, 0) == 0) {
        fd = openat(pf->dirfd, tmp, flags, 0644);
    }
    return fd;
}

/* Our pid into a temporary file, renamed over PF's name. */
static int
write_renamed(struct daemon_pidfile *pf, char *errbuf, size_t errlen)
{
    char tmp[300];
    char line[32];
    struct stat st;
    int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    int fd;
    int ok;

    snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", pf->name, (long)getpid());
    fd = create_temp(pf, tmp);
    if (fd < 0) {
        snprintf(errbuf, errlen, "pid file %s: cannot create %s beside it: "
                 "%s", pf->path, tmp, strerror(errno));
        return DAEMON_ESYS;
    }
    ok = fchmod(fd, 0644) == 0 && write(fd, line, (size_t)n) == n &&
         fstat(fd, &st) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(pf->dirfd, tmp, pf->dirfd, pf->name) != 0) {
        snprintf(errbuf, errlen, "pid file %s: %s", pf->path,
                 strerror(errno));
        (void)unlinkat(pf->dirfd, tmp, 0);
        return DAEMON_ESYS;
    }
    pf->dev = (unsigned long long)st.st_dev;
    pf->ino = (unsigned long long)st.st_ino;
    return DAEMON_OK;
}

int
daemon_pidfile_write(struct daemon_pidfile *pf, const char *path,
                     char *errbuf, size_t errlen)
{
    errbuf[0] = '\0';
    pf->path = path;
    pf->dirfd = open_parent(path, pf->name, sizeof(pf->name), errbuf,
                            errlen);
    if (pf->dirfd < 0) {
        return DAEMON_ESYS;
    }
    if (check_target(pf, errbuf, errlen) != DAEMON_OK ||
        write_renamed(pf, errbuf, errlen) != DAEMON_OK) {
        close(pf->dirfd);
        pf->dirfd = -1;
        return DAEMON_ESYS;
    }
    return DAEMON_OK;
}

/* Whether we may unlink PF's file: a writable directory, and when it is
 * sticky, one or the file that is ours. */
static bool
removable(const struct daemon_pidfile *pf)
{
    struct stat dir;

    if (geteuid() == 0) {
        return true;
    }
    if (faccessat(pf->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0 ||
        fstat(pf->dirfd, &dir) != 0) {
        return false;
    }
    /* the file is root's (written before -u): a sticky directory keeps
     * it from anyone but root and the directory's owner */
    return !(dir.st_mode & S_ISVTX) || dir.st_uid == geteuid();
}

void
daemon_pidfile_check(const struct daemon_pidfile *pf, struct logger *log)
{
    if (pf->dirfd >= 0 && !removable(pf)) {
        log_msg(log, LOG_LVL_WARN, "pid file %s: uid %lu may not remove "
                "it from its directory, so it will be left behind at "
                "exit; give -P a directory that user may write",
                pf->path, (unsigned long)geteuid());
    }
}

void
daemon_pidfile_remove(struct daemon_pidfile *pf, struct logger *log)
{
    struct stat st;

    if (pf->dirfd < 0) {
        return;
    }
    if (fstatat(pf->dirfd, pf->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            log_msg(log, LOG_LVL_INFO, "pid file %s was already removed",
                    pf->path);
        } else {
            log_msg(log, LOG_LVL_WARN, "pid file %s left behind: cannot "
                    "look at it as uid %lu: %s", pf->path,
                    (unsigned long)geteuid(), strerror(errno));
        }
    } else if ((unsigned long long)st.st_dev != pf->dev ||
               (unsigned long long)st.st_ino != pf->ino) {
        log_msg(log, LOG_LVL_INFO, "pid file %s was replaced by another "
                "file; left alone", pf->path);
    } else if (unlinkat(pf->dirfd, pf->name, 0) != 0) {
        log_msg(log, LOG_LVL_WARN, "pid file %s left behind: cannot remove "
                "it as uid %lu: %s (give -P a directory that user may "
                "write)", pf->path, (unsigned long)geteuid(),
                strerror(errno));
    }
    close(pf->dirfd);
    pf->dirfd = -1;
}

int
daemon_drop_privileges(const char *user, struct logger *log, char *errbuf,
                       size_t errlen)
{
    struct passwd *pw;

    if (geteuid() != 0) {
        if (user != NULL) {
            log_msg(log, LOG_LVL_INFO, "not root: -u %s has nothing to "
                    "drop", user);
        }
        return DAEMON_OK;
    }
    if (user == NULL) {
        log_msg(log, LOG_LVL_WARN, "running as root; consider -u USER");
        return DAEMON_OK;
    }
    pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(errbuf, errlen, "-u %s: no such user", user);
        return DAEMON_EUSER;
    }
    if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(errbuf, errlen, "dropping privileges to %s: %s", user,
                 strerror(errno));
        return DAEMON_ESYS;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        snprintf(errbuf, errlen, "dropping privileges to %s: root could be "
                 "regained", user);
        return DAEMON_ESYS;
    }
    return DAEMON_OK;
}

void
daemon_raise_fd_limit(unsigned max_conns, struct logger *log)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_conns + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
        return;
    }
    if (rl.rlim_max < want && geteuid() == 0) {
        rl.rlim_max = want;
    }
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
        log_msg(log, LOG_LVL_WARN, "open file limit %lu is below -c %u + "
                "%u; some connections may be refused",
                (unsigned long)rl.rlim_cur, max_conns, FD_RESERVE);
    }
}

void
daemon_raise_core_limit(struct logger *log)
{
    struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

    if (setrlimit(RLIMIT_CORE, &rl) != 0 && getrlimit(RLIMIT_CORE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_CORE, &rl);
    }
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0) {
        log_msg(log, LOG_LVL_WARN, "-r: the core file size limit stays 0 "
                "(its hard limit); a crash leaves no core file");
    }
}
