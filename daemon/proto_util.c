/*
 * proto_util.c -- token, key and number scanning for the parsers, plus
 * the small public helpers of proto.h that do not belong to one parser.
 * Numbers are read by util_scan_signed() (util/util.h); the ranges that
 * memcached applies to them are here.
 */
#include "config.h"

#include "daemon/proto.h"
#include "daemon/proto_util.h"
#include "util/util.h"

#include <string.h>

size_t
proto_tokenize(const char *line, size_t len, struct proto_tok *tok,
               size_t max)
{
    size_t i = 0;
    size_t ntok = 0;

    while (i < len && ntok < max) {
        size_t start;

        if (line[i] == ' ') {
            i++;
            continue;
        }
        start = i;
        while (i < len && line[i] != ' ') {
            i++;
        }
        tok[ntok].p = line + start;
        tok[ntok].n = i - start;
        ntok++;
    }
    return ntok;
}

bool
proto_tok_is(const struct proto_tok *tok, const char *word)
{
    size_t n = strlen(word);

    return tok->n == n && memcmp(tok->p, word, n) == 0;
}

bool
proto_key_ok(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > PROTO_KEY_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

bool
proto_scan_u64(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    bool neg;
    uint64_t v;

    if (!util_scan_signed(p, n, &neg, &v) || (neg && v != 0) || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool
proto_scan_i64(const char *p, size_t n, int64_t *out)
{
    bool neg;
    uint64_t v;

    if (!util_scan_signed(p, n, &neg, &v)) {
        return false;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        /* -(INT64_MAX + 1) without signed overflow */
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
        *out = (int64_t)v;
    }
    return true;
}

bool
proto_next_key(const char **pos, const char *end, const char **key,
               size_t *nkey)
{
    const char *p = *pos;
    const char *start;

    while (p < end && *p == ' ') {
        p++;
    }
    if (p >= end) {
        *pos = end;
        return false;
    }
    start = p;
    while (p < end && *p != ' ') {
        p++;
    }
    *key = start;
    *nkey = (size_t)(p - start);
    *pos = p;
    return true;
}

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The 3 - PAD bytes of one group of 4 sextets. */
static void
b64_put(char *out, const int v[4], size_t pad)
{
    out[0] = (char)((v[0] << 2) | (v[1] >> 4));
    if (pad < 2) {
        out[1] = (char)(((v[1] & 15) << 4) | (v[2] >> 2));
    }
    if (pad < 1) {
        out[2] = (char)(((v[2] & 3) << 6) | v[3]);
    }
}

bool
proto_b64_decode(const char *in, size_t n, char *out, size_t cap,
                 size_t *nout)
{
    size_t i, o = 0;

    if (n == 0 || n % 4 != 0) {
        return false;
    }
    for (i = 0; i < n; i += 4) {
        int v[4];
        size_t k, pad = 0;

        for (k = 0; k < 4; k++) {
            v[k] = b64_value((unsigned char)in[i + k]);
            if (v[k] < 0) {
                if (in[i + k] != '=' || i + 4 != n || k < 2) {
                    return false;
                }
                pad++;
                v[k] = 0;
            } else if (pad > 0) {
                return false;
            }
        }
        if (o + 3 - pad > cap) {
            return false;
        }
        if (out != NULL) {
            b64_put(out + o, v, pad);
        }
        o += 3 - pad;
    }
    *nout = o;
    return o > 0;
}

size_t
proto_b64_encode(const char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789+/";
    size_t i, o = 0;

    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;

        if (i + 1 < n) {
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (unsigned char)in[i + 2];
        }
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    return o;
}

const char *
proto_err_reply(enum proto_err err)
{
    switch (err) {
    case PROTO_ERR_UNKNOWN:
        return "ERROR";
    case PROTO_ERR_FORMAT:
        return "CLIENT_ERROR bad command line format";
    case PROTO_ERR_BAD_CHUNK:
        return "CLIENT_ERROR bad data chunk";
    case PROTO_ERR_TOO_LARGE:
        return "SERVER_ERROR object too large for cache";
    case PROTO_ERR_DELTA:
        return "CLIENT_ERROR invalid numeric delta argument";
    case PROTO_ERR_EXPTIME:
        return "CLIENT_ERROR invalid exptime argument";
    case PROTO_ERR_DELETE_USAGE:
        return "CLIENT_ERROR bad command line format.  "
               "Usage: delete <key> [noreply]";
    case PROTO_ERR_SHUTDOWN_MODE:
        return "CLIENT_ERROR invalid shutdown mode";
    case PROTO_ERR_META_FLAG:
        return "CLIENT_ERROR invalid flag";
    case PROTO_ERR_META_DUP:
        return "CLIENT_ERROR duplicate flag";
    case PROTO_ERR_META_FLAG_OR_DUP:
        return "CLIENT_ERROR invalid or duplicate flag";
    case PROTO_ERR_META_TOKEN:
        return "CLIENT_ERROR bad token in command line format";
    case PROTO_ERR_META_DELTA:
        return "CLIENT_ERROR invalid numeric delta value";
    case PROTO_ERR_META_INITIAL:
        return "CLIENT_ERROR invalid numeric initial value";
    case PROTO_ERR_META_OPAQUE:
        return "CLIENT_ERROR opaque token too long";
    case PROTO_ERR_META_MG_TOO_MANY:
        return "CLIENT_ERROR options flags are too long";
    case PROTO_ERR_META_TOO_MANY:
        return "CLIENT_ERROR options flags too long";
    case PROTO_ERR_META_M_LEN:
        return "CLIENT_ERROR incorrect length for M token";
    case PROTO_ERR_META_MS_MODE:
        return "CLIENT_ERROR invalid mode for ms M token";
    case PROTO_ERR_META_MA_MODE:
        return "CLIENT_ERROR invalid mode for ma M token";
    case PROTO_ERR_META_KEY:
        return "CLIENT_ERROR error decoding key";
    case PROTO_ERR_NONE:
    case PROTO_ERR_LINE_TOO_LONG:
    case PROTO_ERR_HTTP:
    case PROTO_ERR_BINARY:
        break;
    }
    return NULL;
}
