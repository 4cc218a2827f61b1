/*
 * fmt_int.h -- helpers shared by the files of libsnapfmt (snapshot/format*.c
 * only; not part of format.h).
 */
#ifndef EMBER_FMT_INT_H
#define EMBER_FMT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/*
 * Format a message into ERR (when not NULL and ERRLEN > 0) and return RC,
 * so an error path is one statement: `return snapfmt_fail(rc, err, ...)`.
 * It is util_errf() (util/util.h) under the name libsnapfmt's files use.
 */
#define snapfmt_fail util_errf

/* Little-endian fields of the on-disk formats. */
static inline void
fmt_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void
fmt_put64(unsigned char *p, uint64_t v)
{
    fmt_put32(p, (uint32_t)v);
    fmt_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
fmt_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t
fmt_get64(const unsigned char *p)
{
    return (uint64_t)fmt_get32(p) | (uint64_t)fmt_get32(p + 4) << 32;
}

#endif /* EMBER_FMT_INT_H */
