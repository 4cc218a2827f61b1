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
daemon_ready(int ready_fd)
{
    int fd;
    ssize_t n;

    if (ready_fd < 0) {
        return;
    }
    fd = open("/dev/null", O_RDWR);
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
daemon_write_pidfile(const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        snprintf(errbuf, errlen, "pid file %s: %s", path, strerror(errno));
        return DAEMON_ESYS;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0) {
        snprintf(errbuf, errlen, "pid file %s: %s", path, strerror(errno));
        return DAEMON_ESYS;
    }
    return DAEMON_OK;
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

void
daemon_remove_pidfile(const char *path)
{
    FILE *f;
    long pid = 0;

    if (path == NULL || (f = fopen(path, "r")) == NULL) {
        return;
    }
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    if (pid == (long)getpid()) {
        (void)unlink(path);
    }
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
