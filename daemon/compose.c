/*
 * compose.c -- reply bytes (see compose.h).
 *
 * Every function reserves the longest text it can write in the reply's
 * own buffer (reply_reserve), writes it there and commits the length it
 * wrote; numbers are printed by hand, not with snprintf, except the two
 * floating-point stats lines.
 */
#include "config.h"

#include "daemon/compose.h"

#include "daemon/reply.h"
#include "storage/store.h"

#include <stdio.h>
#include <string.h>

#define U64_DIGITS 20       /* UINT64_MAX */
#define B64_LEN(n) (((n) + 2) / 3 * 4)

struct text {
    const char *s;
    size_t n;
};

#define TEXT(s) { s, sizeof(s) - 1 }
#define LINE(s) TEXT(s "\r\n")

static const struct text lines[COMPOSE_LINE_COUNT] = {
    [COMPOSE_END] = LINE("END"),
    [COMPOSE_STORED] = LINE("STORED"),
    [COMPOSE_NOT_STORED] = LINE("NOT_STORED"),
    [COMPOSE_EXISTS] = LINE("EXISTS"),
    [COMPOSE_NOT_FOUND] = LINE("NOT_FOUND"),
    [COMPOSE_DELETED] = LINE("DELETED"),
    [COMPOSE_TOUCHED] = LINE("TOUCHED"),
    [COMPOSE_OK] = LINE("OK"),
    [COMPOSE_RESET] = LINE("RESET"),
    [COMPOSE_ERROR] = LINE("ERROR"),
    [COMPOSE_VERSION] = LINE("VERSION " COMPOSE_PROTO_VERSION "-ember-"
                             PACKAGE_VERSION),
    [COMPOSE_MN] = LINE("MN"),
    [COMPOSE_EN] = LINE("EN"),
    [COMPOSE_SHUTDOWN_DISABLED] = LINE("ERROR: shutdown not enabled"),
    [COMPOSE_FORMAT] = LINE("CLIENT_ERROR bad command line format"),
    [COMPOSE_BAD_CHUNK] = LINE("CLIENT_ERROR bad data chunk"),
    [COMPOSE_NON_NUMERIC] = LINE("CLIENT_ERROR cannot increment or "
                                 "decrement non-numeric value"),
    [COMPOSE_DELTA] = LINE("CLIENT_ERROR invalid numeric delta argument"),
    [COMPOSE_EXPTIME] = LINE("CLIENT_ERROR invalid exptime argument"),
    [COMPOSE_DELETE_USAGE] = LINE("CLIENT_ERROR bad command line format.  "
                                  "Usage: delete <key> [noreply]"),
    [COMPOSE_SHUTDOWN_MODE] = LINE("CLIENT_ERROR invalid shutdown mode"),
    [COMPOSE_FLUSH_DISABLED] = LINE("CLIENT_ERROR flush_all not allowed"),
    [COMPOSE_META_FLAG] = LINE("CLIENT_ERROR invalid flag"),
    [COMPOSE_META_DUP] = LINE("CLIENT_ERROR duplicate flag"),
    [COMPOSE_META_FLAG_OR_DUP] =
        LINE("CLIENT_ERROR invalid or duplicate flag"),
    [COMPOSE_META_TOKEN] =
        LINE("CLIENT_ERROR bad token in command line format"),
    [COMPOSE_META_DELTA] = LINE("CLIENT_ERROR invalid numeric delta value"),
    [COMPOSE_META_INITIAL] =
        LINE("CLIENT_ERROR invalid numeric initial value"),
    [COMPOSE_META_OPAQUE] = LINE("CLIENT_ERROR opaque token too long"),
    [COMPOSE_META_MG_TOO_MANY] =
        LINE("CLIENT_ERROR options flags are too long"),
    [COMPOSE_META_TOO_MANY] = LINE("CLIENT_ERROR options flags too long"),
    [COMPOSE_META_M_LEN] = LINE("CLIENT_ERROR incorrect length for M token"),
    [COMPOSE_META_MS_MODE] = LINE("CLIENT_ERROR invalid mode for ms M token"),
    [COMPOSE_META_MA_MODE] = LINE("CLIENT_ERROR invalid mode for ma M token"),
    [COMPOSE_META_KEY] = LINE("CLIENT_ERROR error decoding key"),
    [COMPOSE_TOO_LARGE] = LINE("SERVER_ERROR object too large for cache"),
    [COMPOSE_STORE_NO_MEMORY] =
        LINE("SERVER_ERROR out of memory storing object"),
    [COMPOSE_NO_MEMORY] = LINE("SERVER_ERROR out of memory"),
    [COMPOSE_SNAPSHOT_DISABLED] = LINE("SERVER_ERROR snapshots are not "
                                       "enabled (start emberd with "
                                       "--snapshot-dir)"),
    [COMPOSE_BADCLASS] = LINE("BADCLASS invalid class id"),
    [COMPOSE_NOTSTARTED] = LINE("NOTSTARTED no items to crawl"),
    [COMPOSE_METADUMP_DISABLED] = LINE("ERROR metadump not allowed"),
    [COMPOSE_CACHEDUMP_DISABLED] =
        LINE("CLIENT_ERROR stats cachedump not allowed"),
    [COMPOSE_BAD_LINE] = LINE("CLIENT_ERROR bad command line"),
    [COMPOSE_ILLEGAL_SLAB] = LINE("CLIENT_ERROR Illegal slab id"),
};

/* ---- helpers --------------------------------------------------------- */

/* V in decimal at P, no NUL; returns the number of digits. */
static size_t
put_u64(char *p, uint64_t v)
{
    char tmp[U64_DIGITS];
    size_t n = 0;
    size_t i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}

static size_t
put_i64(char *p, int64_t v)
{
    if (v < 0) {
        p[0] = '-';
        return 1 + put_u64(p + 1, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static size_t
put_mem(char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return n;
}

/* IN[0..N) as padded base64 at P (B64_LEN(N) bytes). */
static size_t
put_b64(char *p, const char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789+/";
    size_t i, o = 0;
    unsigned v;

    for (i = 0; i < n; i += 3) {
        v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (unsigned char)in[i + 2];
        }
        p[o++] = abc[(v >> 18) & 63];
        p[o++] = abc[(v >> 12) & 63];
        p[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        p[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    return o;
}

/* A key as a reply shows it: raw, or base64 when binary. */
static size_t
put_key(char *p, const char *key, size_t nkey, bool binary)
{
    return binary ? put_b64(p, key, nkey) : put_mem(p, key, nkey);
}

static size_t
put_crlf(char *p)
{
    p[0] = '\r';
    p[1] = '\n';
    return 2;
}

/* ---- lines ----------------------------------------------------------- */

void
compose_line(struct reply *r, enum compose_line line)
{
    reply_text(r, lines[line].s, lines[line].n);
}

/* The line for ERR, or COMPOSE_LINE_COUNT when there is none. */
static enum compose_line
proto_err_line(enum proto_err err)
{
    switch (err) {
    case PROTO_ERR_UNKNOWN: return COMPOSE_ERROR;
    case PROTO_ERR_FORMAT: return COMPOSE_FORMAT;
    case PROTO_ERR_BAD_CHUNK: return COMPOSE_BAD_CHUNK;
    case PROTO_ERR_TOO_LARGE: return COMPOSE_TOO_LARGE;
    case PROTO_ERR_DELTA: return COMPOSE_DELTA;
    case PROTO_ERR_EXPTIME: return COMPOSE_EXPTIME;
    case PROTO_ERR_DELETE_USAGE: return COMPOSE_DELETE_USAGE;
    case PROTO_ERR_SHUTDOWN_MODE: return COMPOSE_SHUTDOWN_MODE;
    case PROTO_ERR_META_FLAG: return COMPOSE_META_FLAG;
    case PROTO_ERR_META_DUP: return COMPOSE_META_DUP;
    case PROTO_ERR_META_FLAG_OR_DUP: return COMPOSE_META_FLAG_OR_DUP;
    case PROTO_ERR_META_TOKEN: return COMPOSE_META_TOKEN;
    case PROTO_ERR_META_DELTA: return COMPOSE_META_DELTA;
    case PROTO_ERR_META_INITIAL: return COMPOSE_META_INITIAL;
    case PROTO_ERR_META_OPAQUE: return COMPOSE_META_OPAQUE;
    case PROTO_ERR_META_MG_TOO_MANY: return COMPOSE_META_MG_TOO_MANY;
    case PROTO_ERR_META_TOO_MANY: return COMPOSE_META_TOO_MANY;
    case PROTO_ERR_META_M_LEN: return COMPOSE_META_M_LEN;
    case PROTO_ERR_META_MS_MODE: return COMPOSE_META_MS_MODE;
    case PROTO_ERR_META_MA_MODE: return COMPOSE_META_MA_MODE;
    case PROTO_ERR_META_KEY: return COMPOSE_META_KEY;
    case PROTO_ERR_BADCLASS: return COMPOSE_BADCLASS;
    case PROTO_ERR_NOTSTARTED: return COMPOSE_NOTSTARTED;
    case PROTO_ERR_NONE:
    case PROTO_ERR_LINE_TOO_LONG:
    case PROTO_ERR_HTTP:
    case PROTO_ERR_BINARY:
        break;
    }
    return COMPOSE_LINE_COUNT;
}

bool
compose_proto_err(struct reply *r, enum proto_err err)
{
    enum compose_line line = proto_err_line(err);

    if (line == COMPOSE_LINE_COUNT) {
        return false;
    }
    compose_line(r, line);
    return true;
}

/* "SERVER_ERROR " A B C "\r\n" in one piece. */
static void
server_error(struct reply *r, const struct text *a, const struct text *b,
             const struct text *c)
{
    char *p = reply_reserve(r, 13 + a->n + b->n + c->n + 2);
    size_t n;

    if (p == NULL) {
        return;
    }
    n = put_mem(p, "SERVER_ERROR ", 13);
    n += put_mem(p + n, a->s, a->n);
    n += put_mem(p + n, b->s, b->n);
    n += put_mem(p + n, c->s, c->n);
    n += put_crlf(p + n);
    reply_commit(r, n);
}

void
compose_server_error(struct reply *r, const char *what, const char *detail)
{
    const struct text a = { what, strlen(what) };
    const struct text b = { detail != NULL ? detail : "",
                            detail != NULL ? strlen(detail) : 0 };
    const struct text none = { "", 0 };

    server_error(r, &a, &b, &none);
}

void
compose_unsupported(struct reply *r, const char *prefix, const char *name,
                    size_t nname)
{
    static const struct text tail = TEXT(" not supported by ember");
    const struct text a = { prefix, strlen(prefix) };
    const struct text b = { name, nname };

    server_error(r, &a, &b, &tail);
}

void
compose_snapshot_done(struct reply *r, const char *err)
{
    if (err == NULL) {
        compose_line(r, COMPOSE_OK);
    } else {
        compose_server_error(r, err[0] != '\0' ? err : "snapshot failed",
                             NULL);
    }
}

void
compose_snapshot_refused(struct reply *r, int sys_err)
{
    compose_server_error(r, "cannot start the snapshot: ",
                         strerror(sys_err));
}

void
compose_binary_refusal(struct reply *r, const char *buf, size_t len)
{
    static const char body[] = "binary protocol not supported";
    size_t nbody = sizeof(body) - 1;
    unsigned char *hdr = (unsigned char *)reply_reserve(r, 24 + nbody);

    if (hdr == NULL) {
        return;
    }
    memset(hdr, 0, 24);
    hdr[0] = 0x81;
    hdr[1] = len > 1 ? (unsigned char)buf[1] : 0;
    hdr[7] = 0x81;
    hdr[8] = (unsigned char)(nbody >> 24);
    hdr[9] = (unsigned char)(nbody >> 16);
    hdr[10] = (unsigned char)(nbody >> 8);
    hdr[11] = (unsigned char)nbody;
    if (len >= 16) {
        memcpy(hdr + 12, buf + 12, 4);
    }
    memcpy(hdr + 24, body, nbody);
    reply_commit(r, 24 + nbody);
}

/* ---- values ---------------------------------------------------------- */

void
compose_value(struct reply *r, struct item *it, bool with_cas, uint64_t cas)
{
    size_t nkey = item_nkey(it);
    /* "VALUE " key, three numbers with their spaces, "\r\n" */
    char *p = reply_reserve(r, 6 + nkey + 3 * (1 + U64_DIGITS) + 2);
    size_t n;

    if (p == NULL) {
        item_unref(it);
        return;
    }
    n = put_mem(p, "VALUE ", 6);
    n += put_mem(p + n, item_key(it), nkey);
    p[n++] = ' ';
    n += put_u64(p + n, item_flags(it));
    p[n++] = ' ';
    n += put_u64(p + n, item_nvalue(it));
    if (with_cas) {
        p[n++] = ' ';
        n += put_u64(p + n, cas);
    }
    n += put_crlf(p + n);
    reply_commit(r, n);
    reply_item(r, it);
}

void
compose_item(struct reply *r, struct item *it)
{
    reply_item(r, it);
}

void
compose_number(struct reply *r, uint64_t v)
{
    char *p = reply_reserve(r, U64_DIGITS + 2);
    size_t n;

    if (p != NULL) {
        n = put_u64(p, v);
        n += put_crlf(p + n);
        reply_commit(r, n);
    }
}

size_t
compose_u64_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* ---- meta lines ------------------------------------------------------ */

void
compose_meta_begin(struct reply *r, const char *code)
{
    reply_text(r, code, 2);
}

void
compose_meta_va(struct reply *r, uint64_t size)
{
    char *p = reply_reserve(r, 3 + U64_DIGITS);

    if (p != NULL) {
        reply_commit(r, put_mem(p, "VA ", 3) + put_u64(p + 3, size));
    }
}

/* Reserve " <flag>" and N more bytes; returns where those N go. */
static char *
flag_reserve(struct reply *r, char flag, size_t n)
{
    char *p = reply_reserve(r, 2 + n);

    if (p == NULL) {
        return NULL;
    }
    p[0] = ' ';
    p[1] = flag;
    return p + 2;
}

void
compose_meta_u64(struct reply *r, char flag, uint64_t v)
{
    char *p = flag_reserve(r, flag, U64_DIGITS);

    if (p != NULL) {
        reply_commit(r, 2 + put_u64(p, v));
    }
}

void
compose_meta_i64(struct reply *r, char flag, int64_t v)
{
    char *p = flag_reserve(r, flag, 1 + U64_DIGITS);

    if (p != NULL) {
        reply_commit(r, 2 + put_i64(p, v));
    }
}

void
compose_meta_text(struct reply *r, char flag, const char *s, size_t n)
{
    char *p = flag_reserve(r, flag, n);

    if (p != NULL) {
        reply_commit(r, 2 + put_mem(p, s, n));
    }
}

void
compose_meta_flag(struct reply *r, char flag)
{
    if (flag_reserve(r, flag, 0) != NULL) {
        reply_commit(r, 2);
    }
}

void
compose_meta_key(struct reply *r, const char *key, size_t nkey, bool binary)
{
    char *p = reply_reserve(r, 2 + B64_LEN(nkey) + 2);
    size_t n;

    if (p == NULL) {
        return;
    }
    n = put_mem(p, " k", 2);
    n += put_key(p + n, key, nkey, binary);
    if (binary) {
        n += put_mem(p + n, " b", 2);
    }
    reply_commit(r, n);
}

void
compose_meta_end(struct reply *r)
{
    reply_text(r, "\r\n", 2);
}

/* " <name>=<v>" */
static size_t
put_field(char *p, const char *name, size_t nname, uint64_t v)
{
    size_t n = put_mem(p, name, nname);

    return n + put_u64(p + n, v);
}

#define FIELD(p, lit, v) put_field((p), (lit), sizeof(lit) - 1, (v))

/* " exp=.. la=.. cas=.. fetch=yes|no cls=.. size=.." of `me` and
 * metadump (at most 6 * (8 + U64_DIGITS) bytes). */
static size_t
put_item_fields(char *p, const struct compose_me *d)
{
    size_t n = put_mem(p, " exp=", 5);

    n += put_i64(p + n, d->exp);
    n += FIELD(p + n, " la=", d->la);
    n += FIELD(p + n, " cas=", d->cas);
    n += d->fetched ? put_mem(p + n, " fetch=yes", 10)
                    : put_mem(p + n, " fetch=no", 9);
    n += FIELD(p + n, " cls=", d->cls);
    n += FIELD(p + n, " size=", d->size);
    return n;
}

void
compose_me(struct reply *r, const struct compose_me *me)
{
    /* "ME " key, seven fields of at most 20 digits, "\r\n" */
    char *p = reply_reserve(r, 3 + B64_LEN(me->nkey) + 7 * (12 + U64_DIGITS)
                                   + 2);
    size_t n;

    if (p == NULL) {
        return;
    }
    n = put_mem(p, "ME ", 3);
    n += put_key(p + n, me->key, me->nkey, me->binary);
    n += put_item_fields(p + n, me);
    n += put_crlf(p + n);
    reply_commit(r, n);
}

/* ---- key listings ---------------------------------------------------- */

/* KEY URI-encoded at P (at most 3 bytes a byte): RFC 3986's unreserved
 * bytes as they are, any other as %XX, as memcached's metadump does. */
static size_t
put_uri(char *p, const char *key, size_t nkey)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, n = 0;

    for (i = 0; i < nkey; i++) {
        unsigned char c = (unsigned char)key[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            p[n++] = (char)c;
        } else {
            p[n++] = '%';
            p[n++] = hex[c >> 4];
            p[n++] = hex[c & 15];
        }
    }
    return n;
}

void
compose_metadump(struct reply *r, const struct compose_me *d)
{
    /* "key=" key, six fields of at most 20 digits, "\n" */
    char *p = reply_reserve(r, 4 + 3 * d->nkey + 6 * (8 + U64_DIGITS) + 1);
    size_t n;

    if (p == NULL) {
        return;
    }
    n = put_mem(p, "key=", 4);
    n += put_uri(p + n, d->key, d->nkey);
    n += put_item_fields(p + n, d);
    p[n++] = '\n';
    reply_commit(r, n);
}

size_t
compose_cachedump_len(size_t nkey, uint64_t nbytes, uint64_t exp)
{
    return 5 + nkey + 2 + compose_u64_len(nbytes) + 4 +
           compose_u64_len(exp) + 5;
}

void
compose_cachedump(struct reply *r, const char *key, size_t nkey,
                  uint64_t nbytes, uint64_t exp)
{
    char *p = reply_reserve(r, compose_cachedump_len(nkey, nbytes, exp));
    size_t n;

    if (p == NULL) {
        return;
    }
    n = put_mem(p, "ITEM ", 5);
    n += put_mem(p + n, key, nkey);
    n += put_mem(p + n, " [", 2);
    n += put_u64(p + n, nbytes);
    n += put_mem(p + n, " b; ", 4);
    n += put_u64(p + n, exp);
    n += put_mem(p + n, " s]\r\n", 5);
    reply_commit(r, n);
}

/* ---- stats ----------------------------------------------------------- */

/*
 * Reserve "STAT <prefix>[<id>:]<name> " plus NVALUE bytes and "\r\n",
 * write the part up to the value; *N gets its length. NULL when the
 * reply cannot grow. ID is NULL for a plain name.
 */
static char *
stat_begin(struct reply *r, const char *prefix, const unsigned long *id,
           const char *name, size_t nvalue, size_t *n)
{
    size_t nprefix = strlen(prefix);
    size_t nname = strlen(name);
    char *p = reply_reserve(r, 5 + nprefix + U64_DIGITS + 1 + nname + 1
                                   + nvalue + 2);

    if (p == NULL) {
        return NULL;
    }
    *n = put_mem(p, "STAT ", 5);
    *n += put_mem(p + *n, prefix, nprefix);
    if (id != NULL) {
        *n += put_u64(p + *n, *id);
        p[(*n)++] = ':';
    }
    *n += put_mem(p + *n, name, nname);
    p[(*n)++] = ' ';
    return p;
}

static void
stat_text(struct reply *r, const char *prefix, const unsigned long *id,
          const char *name, const char *value)
{
    size_t nvalue = strlen(value);
    size_t n;
    char *p = stat_begin(r, prefix, id, name, nvalue, &n);

    if (p != NULL) {
        n += put_mem(p + n, value, nvalue);
        reply_commit(r, n + put_crlf(p + n));
    }
}

static void
stat_number(struct reply *r, const char *prefix, const unsigned long *id,
            const char *name, uint64_t v)
{
    size_t n;
    char *p = stat_begin(r, prefix, id, name, U64_DIGITS, &n);

    if (p != NULL) {
        n += put_u64(p + n, v);
        reply_commit(r, n + put_crlf(p + n));
    }
}

void
compose_stat(struct reply *r, const char *name, const char *value)
{
    stat_text(r, "", NULL, name, value);
}

void
compose_stat_u64(struct reply *r, const char *name, uint64_t v)
{
    stat_number(r, "", NULL, name, v);
}

void
compose_stat_id_u64(struct reply *r, const char *prefix, unsigned long id,
                    const char *name, uint64_t v)
{
    stat_number(r, prefix, &id, name, v);
}

void
compose_stat_id(struct reply *r, const char *prefix, unsigned long id,
                const char *name, const char *value)
{
    stat_text(r, prefix, &id, name, value);
}

void
compose_stat_double(struct reply *r, const char *name, double v,
                    int decimals)
{
    /* the exact length first: no buffer of a guessed size */
    int len = snprintf(NULL, 0, "%.*f", decimals, v);
    size_t n;
    char *p;

    if (len < 0) {
        len = 0;    /* cannot happen for %f: then an empty value */
    }
    /* + 1: snprintf's NUL, overwritten by the "\r\n" */
    p = stat_begin(r, "", NULL, name, (size_t)len + 1, &n);
    if (p != NULL) {
        (void)snprintf(p + n, (size_t)len + 1, "%.*f", decimals, v);
        n += (size_t)len;
        reply_commit(r, n + put_crlf(p + n));
    }
}

void
compose_stat_timeval(struct reply *r, const char *name, long sec, long usec)
{
    /* "%ld.%06ld" of a struct timeval: usec is 0..999999 */
    unsigned long u = usec > 0 ? (unsigned long)usec % 1000000 : 0;
    size_t n;
    char *p = stat_begin(r, "", NULL, name, 1 + U64_DIGITS + 1 + 6, &n);
    int i;

    if (p == NULL) {
        return;
    }
    n += put_i64(p + n, sec);
    p[n++] = '.';
    for (i = 5; i >= 0; i--) {
        p[n + (size_t)i] = (char)('0' + u % 10);
        u /= 10;
    }
    n += 6;
    reply_commit(r, n + put_crlf(p + n));
}
