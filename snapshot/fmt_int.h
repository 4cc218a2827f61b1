/*
 * fmt_int.h -- helpers shared by the files of libsnapfmt (snapshot/format*.c
 * only; not part of format.h).
 */
#ifndef EMBER_FMT_INT_H
#define EMBER_FMT_INT_H

#include <stddef.h>

/*
 * Format a message into ERR (when not NULL and ERRLEN > 0) and return RC,
 * so an error path is one statement: `return snapfmt_fail(rc, err, ...)`.
 */
int snapfmt_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* EMBER_FMT_INT_H */
