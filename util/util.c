/*
 * util.c -- error messages and number scanning (see util.h).
 */
#include "config.h"

#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int
util_verrf(int rc, char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err != NULL && errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
    }
    return rc;
}

int
util_errf(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    util_verrf(rc, err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* isspace() in the C locale, without the locale lookup. */
static bool
is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* *V = *V * 10 + D unless that overflows 64 bits. */
static bool
add_digit(uint64_t *v, char c)
{
    uint64_t d = (uint64_t)(c - '0');

    if (*v > (UINT64_MAX - d) / 10) {
        return false;
    }
    *v = *v * 10 + d;
    return true;
}

/*
 * The one reader behind util_scan_u64 and util_scan_signed: white space,
 * a sign when SIGNED, the digits, then the end or white space.
 */
static bool
scan(const char *p, size_t n, bool allow_sign, bool *neg, uint64_t *mag)
{
    size_t i = 0;
    size_t digits = 0;
    uint64_t v = 0;
    bool minus = false;

    while (i < n && is_space(p[i])) {
        i++;
    }
    if (allow_sign && i < n && (p[i] == '+' || p[i] == '-')) {
        minus = p[i] == '-';
        i++;
    }
    for (; i < n && is_digit(p[i]); i++, digits++) {
        if (!add_digit(&v, p[i])) {
            return false;
        }
    }
    if (digits == 0 || (i < n && !is_space(p[i]))) {
        return false;
    }
    *neg = minus;
    *mag = v;
    return true;
}

bool
util_scan_u64(const char *p, size_t n, uint64_t *out)
{
    bool neg;

    return scan(p, n, false, &neg, out);
}

bool
util_scan_signed(const char *p, size_t n, bool *neg, uint64_t *mag)
{
    return scan(p, n, true, neg, mag);
}

/* Leading digits of TEXT into *V; *END after them. False: none/overflow. */
static bool
parse_digits(const char *text, uint64_t *v, const char **end)
{
    const char *p = text;

    *v = 0;
    if (text == NULL || !is_digit(*p)) {
        return false;
    }
    for (; is_digit(*p); p++) {
        if (!add_digit(v, *p)) {
            return false;
        }
    }
    *end = p;
    return true;
}

bool
util_parse_u64(const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *end;
    uint64_t v;

    if (!parse_digits(text, &v, &end) || *end != '\0' || v < lo ||
        v > hi) {
        return false;
    }
    *out = v;
    return true;
}

bool
util_parse_size(const char *text, size_t *bytes)
{
    const char *end;
    uint64_t v;
    unsigned shift = 0;

    if (!parse_digits(text, &v, &end)) {
        return false;
    }
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
        if (end[1] != '\0') {
            return false;
        }
    }
    if (v > (SIZE_MAX >> shift)) {
        return false;
    }
    *bytes = (size_t)(v << shift);
    return true;
}

bool
util_parse_double(const char *text, double *out)
{
    char *end;
    double v;

    if (text == NULL) {
        return false;
    }
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}
