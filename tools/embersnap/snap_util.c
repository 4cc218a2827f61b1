/*
 * snap_util.c -- embersnap's small helpers: expiry arithmetic, memcached
 * key rules, JSON strings, base64, numbers and messages (embersnap.h).
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool
es_expired(uint32_t exptime, int64_t now)
{
    return exptime != 0 && (int64_t)exptime <= now;
}

int64_t
es_wire_exptime(uint32_t exptime, int64_t now)
{
    int64_t left;

    if (exptime == 0) {
        return 0;
    }
    left = (int64_t)exptime - now;
    if (left <= 0) {
        return -1;
    }
    /* memcached reads up to 30 days as relative, more as unix time. */
    return left <= ES_REALTIME_MAXDELTA ? left : (int64_t)exptime;
}

const char *
es_ttl_text(uint32_t exptime, int64_t now, char *buf, size_t cap)
{
    if (exptime == 0) {
        return "never";
    }
    if (es_expired(exptime, now)) {
        return "expired";
    }
    snprintf(buf, cap, "%lld", (long long)((int64_t)exptime - now));
    return buf;
}

bool
es_key_len_ok(size_t nkey)
{
    return nkey > 0 && nkey <= ES_MEMCACHED_KEY_MAX;
}

bool
es_key_ok(const void *key, size_t nkey)
{
    const unsigned char *k = key;

    if (!es_key_len_ok(nkey)) {
        return false;
    }
    for (size_t i = 0; i < nkey; i++) {
        if (k[i] <= ' ' || k[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Length of the UTF-8 sequence at P (N bytes left), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

bool
es_utf8_ok(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0, len;

    while (i < n) {
        len = utf8_seq(s + i, n - i);
        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

bool
es_text_ok(const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        if ((s[i] < ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') ||
            s[i] == 0x7f) {
            return false;
        }
    }
    return es_utf8_ok(p, n);
}

/* JSON escape of byte C into OUT (at most 7 bytes); its length. */
static size_t
json_escape(unsigned char c, char *out)
{
    switch (c) {
    case '"': memcpy(out, "\\\"", 2); return 2;
    case '\\': memcpy(out, "\\\\", 2); return 2;
    case '\n': memcpy(out, "\\n", 2); return 2;
    case '\r': memcpy(out, "\\r", 2); return 2;
    case '\t': memcpy(out, "\\t", 2); return 2;
    default:
        if (c < 0x20 || c == 0x7f) {
            return (size_t)snprintf(out, 8, "\\u%04x", c);
        }
        out[0] = (char)c;
        return 1;
    }
}

void
es_json_str(FILE *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    char buf[4096];
    size_t o = 0;

    /* Buffered: values can be megabytes, and stdio locks per call. */
    buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (o + 8 > sizeof(buf)) {
            fwrite(buf, 1, o, f);
            o = 0;
        }
        o += json_escape(s[i], buf + o);
    }
    buf[o++] = '"';
    fwrite(buf, 1, o, f);
}

size_t
es_base64_buf(const void *p, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

void
es_base64(FILE *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    char out[4096];
    size_t chunk;

    /* 3072 bytes in, 4096 out: whole groups, so padding only at the end */
    for (size_t i = 0; i < n; i += chunk) {
        chunk = n - i < 3072 ? n - i : 3072;
        fwrite(out, 1, es_base64_buf(s + i, chunk, out), f);
    }
}

const char *
es_human_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    unsigned u = 0;

    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void
es_warn(const struct es_cli *cli, const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(cli->err, "embersnap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(cli->err, fmt, ap);
    va_end(ap);
    putc('\n', cli->err);
}

void
es_warn_walk(const struct es_cli *cli, const char *cmd, const char *err)
{
    if (err[0] != '\0') {
        es_warn(cli, cmd, "%s", err);
    }
}

int
es_usage_error(const struct es_cli *cli, const char *cmd, const char *fmt,
               ...)
{
    va_list ap;

    fprintf(cli->err, "embersnap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(cli->err, fmt, ap);
    va_end(ap);
    fprintf(cli->err, " (see embersnap %s --help)\n", cmd);
    return ES_EXIT_USAGE;
}
