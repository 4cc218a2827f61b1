/*
 * util.h -- ember's bottom library: the small helpers that daemon/,
 * snapshot/, tools/ and storage/ would otherwise each write again: error
 * messages into a caller's buffer, and number scanning with the exact
 * rules each caller needs.
 *
 * Layer: below everything, storage included. Depends on libc only;
 * includes no other ember header, and every module may include this one.
 * Convenience library util/libutil.a; link it after every library that
 * uses it.
 *
 * Invariants
 *  - Pure functions: no allocation, no global state, no I/O, no locks;
 *    any thread, never blocks.
 *  - Nothing reads outside the bytes it is given: the util_scan_*
 *    functions take (P, N) and need no NUL; the util_parse_* functions
 *    take a NUL-terminated string (an argv word).
 *  - A failed scan or parse leaves its outputs untouched.
 *
 * Which number reader is which:
 *
 *   function            input          white space   sign     after
 *   util_scan_u64       bytes (P, N)   leading ok    none     end or ws
 *   util_scan_signed    bytes (P, N)   leading ok    + or -   end or ws
 *   util_parse_u64      C string       none          none     end
 *   util_parse_size     C string       none          none     k/m/g, end
 *   util_parse_double   C string       strtod's      strtod's end
 *
 * "ws" is C-locale isspace(): ' ', \t, \n, \v, \f, \r. Everything after
 * that white space is ignored by the util_scan_* readers (memcached reads
 * numbers with strtoull and checks only the byte after the digits).
 */
#ifndef EMBER_UTIL_H
#define EMBER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- error messages ------------------------------------------------- */

/*
 * Format FMT into ERR (ERRLEN bytes, always NUL-terminated, cut short if
 * need be) when ERR is not NULL and ERRLEN > 0, and return RC, so that an
 * error path is one statement: `return util_errf(X_EINVAL, err, errlen,
 * "bad %s", what);`. ERR may be NULL when the caller wants no message.
 * Ownership: ERR is the caller's; nothing is kept. Thread: any.
 * Blocks: never.
 */
int util_errf(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* util_errf() with a va_list (for wrappers that add a prefix first). */
int util_verrf(int rc, char *err, size_t errlen, const char *fmt,
               va_list ap) __attribute__((format(printf, 4, 0)));

/* ---- numbers in protocol bytes -------------------------------------- */

/*
 * Read a stored number the way memcached's incr/decr does (strtoull plus
 * its checks): optional leading white space, at least one digit, no
 * overflow of 64 bits, then the end of P[0..N) or white space (the rest
 * is ignored). So "9 " (what decr leaves when a number shrinks in place),
 * " 7" and "0012" are numbers; "", " ", "-1", "+1", "5a" and 2^64 are not.
 * Meant for incr/decr (storage's arithmetic on an item's value).
 * Returns true and sets *OUT, or false.
 */
bool util_scan_u64(const char *p, size_t n, uint64_t *out);

/*
 * As util_scan_u64, with one optional '+' or '-' between the white space
 * and the digits: the protocol parsers' number (memcached's strtol and
 * strtoull readers of a request token). Sets *NEG (a '-' was there) and
 * *MAG (the magnitude, at most UINT64_MAX); the caller applies its own
 * range ("-0" is a valid zero for memcached's unsigned readers).
 * Returns true, or false for a malformed number or a magnitude that does
 * not fit 64 bits.
 */
bool util_scan_signed(const char *p, size_t n, bool *neg, uint64_t *mag);

/* ---- numbers in option values (argv words) --------------------------- */

/*
 * Parse TEXT as an unsigned decimal in [LO, HI]: one or more digits and
 * nothing else (no white space, no sign, no suffix), no overflow.
 * TEXT may be NULL (false). Returns true and sets *OUT, or false.
 */
bool util_parse_u64(const char *text, uint64_t lo, uint64_t hi,
                     uint64_t *out);

/*
 * Parse TEXT as a byte count: digits, then optionally one of k, m, g
 * (either case: KiB, MiB, GiB) and nothing after it. False on junk, on a
 * missing number, or when the bytes do not fit size_t.
 */
bool util_parse_size(const char *text, size_t *bytes);

/*
 * Parse TEXT as a floating-point number with strtod() (its syntax, the
 * C locale's decimal point): the whole text must be read and the value
 * must be in range (no ERANGE). NaN and infinities are returned as such;
 * the caller's bounds check must reject them where it wants to.
 */
bool util_parse_double(const char *text, double *out);

#endif /* EMBER_UTIL_H */
