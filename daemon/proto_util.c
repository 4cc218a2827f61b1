/*
 * proto_util.c -- token, key and number scanning for the parsers, plus
 * the small public helper of proto.h that does not belong to one parser
 * (proto_next_key). Numbers are read by util_scan_signed() (util/util.h);
 * the ranges that memcached applies to them are here. Reply text is
 * compose.c's, not the parser's.
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

bool
proto_scan_keys(const char *p, const char *end, size_t *nkeys)
{
    size_t n = 0;
    size_t run = 0;

    *nkeys = 0;
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == ' ') {
            n += run > 0;
            run = 0;
        } else if (c < 0x20 || c == 0x7f || ++run > PROTO_KEY_MAX) {
            return false;
        }
    }
    *nkeys = n + (run > 0);
    return true;
}

void
proto_set_keys(struct request *req, const char *p, const char *end)
{
    while (p < end && *p == ' ') {
        p++;
    }
    while (end > p && end[-1] == ' ') {
        end--;
    }
    req->keys = p;
    req->keys_len = (size_t)(end - p);
}

size_t
proto_piece_keys(struct proto_more *m, const char *p, size_t n,
                 struct request *req)
{
    const char *last = n > 0 ? memrchr(p, ' ', n) : NULL;
    size_t nkeys;

    if (m->err == PROTO_ERR_NONE) {
        if (last == NULL && n <= PROTO_KEY_MAX) {
            return 0;
        }
        if (last != NULL && proto_scan_keys(p, last, &nkeys)) {
            proto_set_keys(req, p, last);
            m->any_key = m->any_key || nkeys > 0;
            return (size_t)(last - p) + 1;
        }
        m->err = PROTO_ERR_FORMAT;
    }
    return n;
}
