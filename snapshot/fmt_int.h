/*
 * fmt_int.h -- helpers shared by the files of libsnapfmt (snapshot/format*.c
 * only; not part of format.h).
 */
#ifndef EMBER_FMT_INT_H
#define EMBER_FMT_INT_H

#include "util/util.h"

/*
 * Format a message into ERR (when not NULL and ERRLEN > 0) and return RC,
 * so an error path is one statement: `return snapfmt_fail(rc, err, ...)`.
 * It is util_errf() (util/util.h) under the name libsnapfmt's files use.
 */
#define snapfmt_fail util_errf

#endif /* EMBER_FMT_INT_H */
