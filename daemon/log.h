/*
 * log.h -- leveled messages to stderr.
 *
 * Layer: daemon-private; libc only. A logger is a tiny struct owned by the
 * server and passed by pointer; there is no global logger. Its level is an
 * atomic so the `verbosity` command can change it while workers log.
 *
 * Levels: LOG_LVL_ERR and LOG_LVL_WARN always print; LOG_LVL_INFO needs
 * -v, LOG_LVL_DEBUG needs -vv. Each message is one line, written with one
 * stdio call so lines from different threads do not interleave.
 */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdatomic.h>

enum log_level {
    LOG_LVL_ERR = -2,
    LOG_LVL_WARN = -1,
    LOG_LVL_INFO = 1,
    LOG_LVL_DEBUG = 2,
};

struct logger {
    atomic_int level;   /* 0 (quiet) .. 2 (-vv) */
};

/* Set up LG with LEVEL (the -v count). */
void log_init(struct logger *lg, int level);

/* Change the level (verbosity command). Thread: any. */
void log_set_level(struct logger *lg, int level);

/* True when a message at LEVEL would print; lets callers skip work. */
int log_enabled(const struct logger *lg, enum log_level level);

/*
 * Print "emberd: <message>\n" to stderr when LEVEL is enabled.
 * Thread: any. Blocks: on stderr.
 */
void log_msg(const struct logger *lg, enum log_level level, const char *fmt,
             ...) __attribute__((format(printf, 3, 4)));

#endif /* EMBER_LOG_H */
