/*
 * log.h -- leveled messages to stderr, the systemd journal or a log file.
 *
 * Layer: daemon-private; libc only. A logger is a tiny struct owned by the
 * server and passed by pointer; there is no global logger. Its level is an
 * atomic so the `verbosity` command can change it while workers log.
 *
 * Levels, and the syslog priority each carries under journald:
 *
 *   LOG_LVL_ERR     always      <3>  "emberd: error: ..."
 *   LOG_LVL_WARN    always      <4>  "emberd: warning: ..."
 *   LOG_LVL_NOTICE  always      <5>  start-up, warm restart, snapshot
 *                                    state changes, shutdown
 *   LOG_LVL_INFO    -v          <6>  each snapshot, connections closed
 *                                    for cause, ...
 *   LOG_LVL_DEBUG   -vv         <7>  every connection and every command
 *
 * Where lines go:
 *  - stderr, as "emberd: [warning: |error: ]MESSAGE". When the
 *    JOURNAL_STREAM environment variable names stderr ("DEV:INO" in
 *    decimal, compared with fstat() of fd 2, as systemd documents it),
 *    each line starts with its priority instead ("<4>warning: ...") so
 *    that `journalctl -p err` and `-p warning` select by level;
 *  - or, with log_open_file() (--log-file), that file, opened O_APPEND,
 *    each line with a timestamp and the pid. log_reopen() (SIGHUP) opens
 *    the path again, so logrotate can rename the file away.
 *
 * Invariants
 *  - Each line is formatted into one buffer and written with one write()
 *    call (O_APPEND for the file): lines from different threads never
 *    interleave, and a line never contains '\n' or '\r' of its message.
 *  - The descriptor lines go to never changes number: log_reopen()
 *    dup2()s the new file onto it, which is atomic, so a thread writing
 *    meanwhile writes whole into the old file or the new one.
 */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LVL_ERR = -2,
    LOG_LVL_WARN = -1,
    LOG_LVL_NOTICE = 0,
    LOG_LVL_INFO = 1,
    LOG_LVL_DEBUG = 2,
};

struct logger {
    atomic_int level;   /* 0 (default) .. 2 (-vv) */
    bool journal;       /* stderr is the journal: <N> prefixes */
    int fd;             /* where lines go: stderr or the log file */
    const char *path;   /* the log file (borrowed), or NULL */
};

/*
 * Set up LG with LEVEL (the -v count), writing to stderr; decides from
 * JOURNAL_STREAM whether stderr is the journal. Thread: main, first.
 */
void log_init(struct logger *lg, int level);

/*
 * From now on write to PATH (created 0640 when absent, appended to)
 * instead of stderr. PATH is borrowed for LG's life. Returns 0, or -1
 * with the reason in ERR (nothing changed). Thread: main, before other
 * threads log. Blocks: file system.
 */
int log_open_file(struct logger *lg, const char *path, char *err,
                  size_t errlen);

/*
 * Open the log file's path again and write there from now on (after
 * logrotate renamed the old one). No-op returning 0 without a log file.
 * Returns 0, or -1 with the reason in ERR (lines keep going to the old
 * file). Thread: any; other threads may log meanwhile. Blocks: file
 * system.
 */
int log_reopen(struct logger *lg, char *err, size_t errlen);

/* Close the log file, if any; lines go to stderr again. Thread: main,
 * last. */
void log_release(struct logger *lg);

/* Change the level (verbosity command). Thread: any. */
void log_set_level(struct logger *lg, int level);

/* True when a message at LEVEL would print; lets callers skip work. */
bool log_enabled(const struct logger *lg, enum log_level level);

/*
 * Write one line for the message when LEVEL is enabled, as above.
 * Messages longer than about 2 KB are cut. Thread: any. Blocks: on the
 * write.
 */
void log_msg(const struct logger *lg, enum log_level level, const char *fmt,
             ...) __attribute__((format(printf, 3, 4)));

#endif /* EMBER_LOG_H */
