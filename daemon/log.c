/*
 * log.c -- leveled messages to stderr (see log.h).
 */
#include "config.h"

#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>

void
log_init(struct logger *lg, int level)
{
    atomic_init(&lg->level, level);
}

void
log_set_level(struct logger *lg, int level)
{
    atomic_store_explicit(&lg->level, level, memory_order_relaxed);
}

int
log_enabled(const struct logger *lg, enum log_level level)
{
    return (int)level <= atomic_load_explicit(&lg->level,
                                              memory_order_relaxed);
}

void
log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (!log_enabled(lg, level)) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    /* One fprintf per line: stdio locks the stream around it. */
    fprintf(stderr, "emberd: %s%s\n", level == LOG_LVL_WARN ? "warning: " :
            level == LOG_LVL_ERR ? "error: " : "", line);
}
