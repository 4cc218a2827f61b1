/*
 * log.c -- leveled messages to stderr, the journal or a file (see log.h).
 */
#include "config.h"

#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A line: prefix, message (cut), newline. */
#define LINE_MAX_BYTES 2048

/*
 * systemd sets JOURNAL_STREAM to "DEV:INO" (decimal) of the stream it
 * connected stdout and stderr to; stderr is the journal when fstat()
 * of fd 2 gives the same pair (it may have been redirected since).
 */
static bool
stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char tail;

    if (js == NULL ||
        sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
        fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void
log_init(struct logger *lg, int level)
{
    atomic_init(&lg->level, level);
    lg->fd = STDERR_FILENO;
    lg->path = NULL;
    lg->journal = stderr_is_journal();
    tzset();    /* localtime_r() in the file's timestamps */
}

static int
open_log(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
                            O_NOCTTY, 0640);

    if (fd < 0) {
        snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
    }
    return fd;
}

int
log_open_file(struct logger *lg, const char *path, char *err, size_t errlen)
{
    int fd = open_log(path, err, errlen);

    if (fd < 0) {
        return -1;
    }
    /* keep it off 0-2: -d points those at /dev/null */
    if (fd <= STDERR_FILENO) {
        int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

        close(fd);
        if (high < 0) {
            snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
            return -1;
        }
        fd = high;
    }
    lg->fd = fd;
    lg->path = path;
    lg->journal = false;
    return 0;
}

int
log_reopen(struct logger *lg, char *err, size_t errlen)
{
    int fd;

    if (lg->path == NULL) {
        return 0;
    }
    fd = open_log(lg->path, err, errlen);
    if (fd < 0) {
        return -1;
    }
    /* atomic: a writer meanwhile writes to the old file or the new */
    if (dup2(fd, lg->fd) < 0) {
        snprintf(err, errlen, "log file %s: %s", lg->path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

void
log_release(struct logger *lg)
{
    if (lg->path != NULL && lg->fd > STDERR_FILENO) {
        close(lg->fd);
    }
    lg->fd = STDERR_FILENO;
    lg->path = NULL;
}

void
log_set_level(struct logger *lg, int level)
{
    atomic_store_explicit(&lg->level, level, memory_order_relaxed);
}

bool
log_enabled(const struct logger *lg, enum log_level level)
{
    return (int)level <= atomic_load_explicit(&lg->level,
                                              memory_order_relaxed);
}

static const char *
level_word(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERR: return "error: ";
    case LOG_LVL_WARN: return "warning: ";
    default: return "";
    }
}

/* syslog priorities: err 3, warning 4, notice 5, info 6, debug 7. */
static int
level_priority(enum log_level level)
{
    return 5 + (int)level;
}

/* The line's prefix into BUF; returns its length. */
static size_t
prefix(const struct logger *lg, enum log_level level, char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    size_t n;
    int k;

    if (lg->path == NULL) {
        k = lg->journal ? snprintf(buf, cap, "<%d>%s", level_priority(level),
                                   level_word(level))
                        : snprintf(buf, cap, "emberd: %s", level_word(level));
        return k > 0 ? (size_t)k : 0;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(buf + n, cap - n, ".%03ld", ts.tv_nsec / 1000000);
    n += k > 0 ? (size_t)k : 0;
    n += strftime(buf + n, cap - n, "%z", &tm);
    k = snprintf(buf + n, cap - n, " emberd[%ld]: %s", (long)getpid(),
                 level_word(level));
    return n + (k > 0 ? (size_t)k : 0);
}

void
log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    size_t n, end;
    va_list ap;
    int k;

    if (!log_enabled(lg, level)) {
        return;
    }
    n = prefix(lg, level, line, sizeof(line) - 1);
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
    va_end(ap);
    if (k < 0) {
        return;
    }
    end = n + (size_t)k < sizeof(line) - 1 ? n + (size_t)k
                                           : sizeof(line) - 2;
    for (size_t i = n; i < end; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';  /* one message, one line */
        }
    }
    line[end] = '\n';
    /* one write per line: lines of different threads never interleave */
    (void)!write(lg->fd, line, end + 1);
}
