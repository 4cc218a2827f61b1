/*
 * fuzz_proto_meta.c -- libFuzzer harness for the meta protocol parser
 * (daemon/proto_meta.c, through proto_text_parse as a connection calls
 * it). Built by `make fuzz-build`, run by `make fuzz` (tests/fuzz.mk).
 *
 * tests/fuzz_proto_text.c feeds the parser raw bytes and checks the
 * contract of every answer; that seldom builds a meta line with several
 * well-formed flags. This harness reads its input as choices instead: a
 * command, a key (plain or base64), up to 16 flags with tokens (numbers,
 * opaque, mode), an ms data block; writes the request memcached's meta
 * protocol describes, then
 *  - a valid request must parse to exactly what was written: command,
 *    key, every flag's bit and value, opaque, mode, data, the flag text,
 *    and consume the whole request; every shorter prefix must be
 *    PROTO_NEED_MORE;
 *  - with one defect injected (unknown or duplicate flag, bad number, too
 *    long an opaque or key, a bad mode, too many tokens, bad base64, a
 *    bad data block) it must be refused with the error memcached 1.6.18
 *    answers (proto.h), and consume the line (and an ms block) only.
 * A violation traps; libFuzzer reports it with the input.
 */
#include "config.h"

#include "daemon/proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_proto_meta: %s:%d: %s\nrequest: %.*s\n", \
                    __FILE__, __LINE__, #cond, (int)g.len, g.buf);         \
            __builtin_trap();                                              \
        }                                                                  \
    } while (0)

#define REQ_MAX 8192
#define FLAGS_MAX 16
#define VALUE_MAX 1024

/* Input bytes, consumed front to back; 0 once they run out. */
struct src {
    const uint8_t *p;
    size_t n;
};

static unsigned
take(struct src *s)
{
    if (s->n == 0) {
        return 0;
    }
    s->n--;
    return *s->p++;
}

static uint64_t
take_u64(struct src *s, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | take(s);
    }
    return v;
}

enum defect {
    D_NONE, D_UNKNOWN_FLAG, D_DUP_FLAG, D_BAD_NUMBER, D_LONG_OPAQUE,
    D_BAD_MODE, D_MODE_LEN, D_LONG_KEY, D_TOO_MANY, D_BAD_B64,
    D_BAD_CHUNK, D_BAD_VLEN, D_COUNT
};

/* What was generated: the request and what it must parse to. */
static struct gen {
    char buf[REQ_MAX];
    size_t len;
    size_t line_len;
    enum proto_cmd cmd;
    enum defect defect;
    size_t key_off, nkey;
    bool b64;
    uint64_t flags;
    size_t tokens_off, tokens_len;
    int64_t ttl, vivify, recache;
    uint64_t cas, new_cas, delta, initial;
    uint32_t client_flags;
    char mode;
    size_t opaque_off, nopaque;
    uint32_t vlen;
    size_t value_off;
} g;

static void
put(const void *p, size_t n)
{
    if (g.len + n <= sizeof(g.buf)) {
        memcpy(g.buf + g.len, p, n);
    }
    g.len += n;
}

/* V in decimal, after a space when SPACE. */
static void
put_u64(uint64_t v, bool space)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%s%llu", space ? " " : "",
                     (unsigned long long)v);

    put(tmp, (size_t)n);
}

static void
put_i64(int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);

    put(tmp, (size_t)n);
}

/* A key byte: anything but a control character or a space. */
static char
key_byte(unsigned b)
{
    unsigned c = 0x21 + b % 0xde;

    return (char)(c == 0x7f ? 0x7e : c);
}

static void
put_b64(struct src *s, size_t raw)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
                              "uvwxyz0123456789+/";
    unsigned char in[3];

    for (size_t i = 0; i < raw; i += 3) {
        size_t k = raw - i < 3 ? raw - i : 3;
        char out[4];

        memset(in, 0, sizeof(in));
        for (size_t j = 0; j < k; j++) {
            in[j] = (unsigned char)take(s);
        }
        out[0] = abc[in[0] >> 2];
        out[1] = abc[(in[0] & 3) << 4 | in[1] >> 4];
        out[2] = k > 1 ? abc[(in[1] & 15) << 2 | in[2] >> 6] : '=';
        out[3] = k > 2 ? abc[in[2] & 63] : '=';
        put(out, 4);
    }
}

static void
gen_key(struct src *s)
{
    size_t n;

    g.key_off = g.len;
    if (g.b64) {
        put_b64(s, 1 + take(s) % 186);          /* <= 248 characters */
        if (g.defect == D_BAD_B64) {
            g.buf[g.key_off] = '*';
        }
    } else {
        n = 1 + take(s) % 250;
        if (g.defect == D_LONG_KEY) {
            n = 251 + take(s) % 50;
        }
        for (size_t i = 0; i < n; i++) {
            char c = key_byte(take(s));

            put(&c, 1);
        }
    }
    g.nkey = g.len - g.key_off;
}

/* Plain flags and flags with a token, as proto_meta.c knows them. */
static const char plain_flags[] = "cfhklqstuvILP";
static const char token_flags[] = "CDEFJMNORT";

/* The token after flag C; records what it must parse to. */
static void
gen_token(struct src *s, char c)
{
    static const char ms_modes[] = "SEAPR", ma_modes[] = "ID+-";
    uint64_t v = take_u64(s, 1 + take(s) % 8);
    int64_t t = (int32_t)(uint32_t)take_u64(s, 4);
    char m;

    switch (c) {
    case 'C': g.cas = v; put_u64(v, false); break;
    case 'E': g.new_cas = v; put_u64(v, false); break;
    case 'D': g.delta = v; put_u64(v, false); break;
    case 'J': g.initial = v; put_u64(v, false); break;
    case 'F': g.client_flags = (uint32_t)v; put_u64(v, false); break;
    case 'N': g.vivify = t; put_i64(t); break;
    case 'R': g.recache = t; put_i64(t); break;
    case 'T': g.ttl = t; put_i64(t); break;
    case 'M':
        if (g.cmd == PROTO_CMD_MS) {
            m = ms_modes[v % 5];
            g.mode = m;
        } else if (g.cmd == PROTO_CMD_MA) {
            m = ma_modes[v % 4];
            g.mode = m == 'I' || m == '+' ? 'I' : 'D';
        } else {
            m = key_byte((unsigned)v);
        }
        put(&m, 1);
        break;
    default: /* 'O' */
        g.opaque_off = g.len;
        g.nopaque = v % (PROTO_META_OPAQUE_MAX + 1);
        for (size_t i = 0; i < g.nopaque; i++) {
            char o = key_byte(take(s));

            put(&o, 1);
        }
        break;
    }
}

/* Tokens of the request so far (they are separated by single spaces). */
static unsigned
tokens_so_far(void)
{
    unsigned n = 1;

    for (size_t i = 0; i < g.len && i < sizeof(g.buf); i++) {
        n += g.buf[i] == ' ';
    }
    return n;
}

/* Distinct flags with their tokens, up to memcached's 19 tokens a line. */
static void
gen_flags(struct src *s)
{
    unsigned n = take(s) % (FLAGS_MAX + 1), room;

    if (g.b64) {
        put(" b", 2);
        g.flags |= PROTO_MF('b');
    }
    room = 19 - (tokens_so_far() < 19 ? tokens_so_far() : 19);
    n = n < room ? n : room;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = take(s);
        char c = (k & 1) ? token_flags[(k >> 1) % (sizeof(token_flags) - 1)]
                         : plain_flags[(k >> 1) % (sizeof(plain_flags) - 1)];

        if (g.flags & PROTO_MF(c)) {
            continue;
        }
        g.flags |= PROTO_MF(c);
        put(" ", 1);
        put(&c, 1);
        if (strchr(token_flags, c) != NULL) {
            gen_token(s, c);
        }
    }
}

/* The defect's flag text, before the regular flags (which then skip its
 * letter, so that it stays the only defect). */
static void
gen_defect_flag(struct src *s)
{
    static const char unknown[] = "adegijmnoprwyzABGHKQSUVWXYZ0!";
    char c;
    size_t i;

    switch (g.defect) {
    case D_UNKNOWN_FLAG:
        c = unknown[take(s) % (sizeof(unknown) - 1)];
        put(" ", 1);
        put(&c, 1);
        break;
    case D_DUP_FLAG:
        put(" q q", 4);
        g.flags |= PROTO_MF('q');
        break;
    case D_BAD_NUMBER:
        if (take(s) & 1) {
            put(" T99999999999", 13);   /* above INT32_MAX */
            g.flags |= PROTO_MF('T');
        } else {
            put(" C1x", 4);             /* not a number */
            g.flags |= PROTO_MF('C');
        }
        break;
    case D_LONG_OPAQUE:
        put(" O", 2);
        g.flags |= PROTO_MF('O');
        g.opaque_off = g.len;
        g.nopaque = 32 + take(s) % 32;
        for (i = 0; i < g.nopaque; i++) {
            put("o", 1);
        }
        break;
    case D_BAD_MODE:
        put(" MZ", 3);
        g.flags |= PROTO_MF('M');
        break;
    case D_MODE_LEN:
        put(" MSS", 4);
        g.flags |= PROTO_MF('M');
        break;
    case D_TOO_MANY:
        for (i = 0; i < 20; i++) {
            put(" k", 2);
        }
        g.flags |= PROTO_MF('k');
        break;
    default:
        break;
    }
}

/* A defect this command can have; D_NONE for a valid request. */
static enum defect
pick_defect(unsigned b)
{
    enum defect d = (enum defect)(b % D_COUNT);

    if (b < 128) {
        return D_NONE;              /* half the inputs are valid */
    }
    if (g.cmd == PROTO_CMD_MN || g.cmd == PROTO_CMD_ME) {
        return g.cmd == PROTO_CMD_ME && d == D_BAD_B64 && g.b64 ? d
                                                                : D_NONE;
    }
    if ((d == D_BAD_CHUNK || d == D_BAD_VLEN) && g.cmd != PROTO_CMD_MS) {
        return D_NONE;
    }
    if ((d == D_BAD_B64 && !g.b64) || (d == D_LONG_KEY && g.b64)) {
        return D_NONE;
    }
    return d;
}

/* The ms data block, after the line. */
static void
gen_block(struct src *s)
{
    g.value_off = g.len;
    for (uint32_t i = 0; i < g.vlen; i++) {
        char c = (char)take(s);

        put(&c, 1);
    }
    put(g.defect == D_BAD_CHUNK ? "\r\r" : "\r\n", 2);
}

/* Build the request for the choices in S. */
static void
generate(struct src *s)
{
    static const enum proto_cmd cmds[] = {
        PROTO_CMD_MG, PROTO_CMD_MS, PROTO_CMD_MD, PROTO_CMD_MA,
        PROTO_CMD_MN, PROTO_CMD_ME,
    };
    static const char *const names[] = { "mg", "ms", "md", "ma", "mn",
                                         "me" };
    unsigned c = take(s) % 6, opt = take(s);

    memset(&g, 0, sizeof(g));
    g.cmd = cmds[c];
    g.b64 = (opt & 1) && g.cmd != PROTO_CMD_MN;
    g.defect = pick_defect(take(s));
    g.delta = 1;
    g.mode = g.cmd == PROTO_CMD_MA ? 'I' : 'S';
    put(names[c], 2);
    if (g.cmd != PROTO_CMD_MN) {
        put(" ", 1);
        gen_key(s);
    }
    if (g.cmd == PROTO_CMD_ME) {
        if (g.b64) {
            put(" b", 2);
        }
    } else if (g.cmd == PROTO_CMD_MS) {
        g.vlen = (uint32_t)(take_u64(s, 2) % (VALUE_MAX + 1));
        if (g.defect == D_BAD_VLEN) {
            put(" 1a2", 4);
        } else {
            put_u64(g.vlen, true);
        }
    }
    if (g.cmd != PROTO_CMD_MN && g.cmd != PROTO_CMD_ME) {
        size_t mark = g.len;

        gen_defect_flag(s);
        gen_flags(s);
        g.tokens_off = mark + 1;
        g.tokens_len = g.len > mark ? g.len - mark - 1 : 0;
    }
    put((opt & 2) ? "\n" : "\r\n", (opt & 2) ? 1 : 2);
    g.line_len = g.len;
    if (g.cmd == PROTO_CMD_MS && g.defect != D_BAD_VLEN) {
        gen_block(s);
    }
}

/* ---- checking ------------------------------------------------------ */

/* Exact-size heap copy, so ASan sees any read past the end. */
static int
parse_copy(const struct proto_limits *lim, size_t len, struct request *req,
           size_t *consumed, const char **base)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    CHECK(copy != NULL);
    memcpy(copy, g.buf, len);
    memset(req, 0, sizeof(*req));
    *consumed = 0;
    rc = proto_text_parse(lim, copy, len, req, consumed);
    *base = copy;
    return rc;
}

static bool
same(const char *p, size_t n, const char *base, size_t off, size_t len)
{
    return n == len && (len == 0 || p == base + off);
}

/* A valid request parsed: everything must be what was generated. */
static void
check_valid(const struct request *req, size_t consumed, const char *b)
{
    const struct proto_meta *m = &req->meta;

    CHECK(req->cmd == g.cmd);
    CHECK(consumed == g.len);
    if (g.cmd == PROTO_CMD_MN) {
        return;
    }
    CHECK(same(req->key, req->nkey, b, g.key_off, g.nkey));
    CHECK(m->key_is_b64 == g.b64);
    if (g.cmd == PROTO_CMD_ME) {
        return;
    }
    CHECK(m->flags == g.flags);
    CHECK(same(m->tokens, m->tokens_len, b, g.tokens_off, g.tokens_len));
    CHECK(m->ttl == g.ttl && m->vivify == g.vivify &&
          m->recache == g.recache);
    CHECK(m->cas == g.cas && m->new_cas == g.new_cas);
    CHECK(m->delta == ((g.flags & PROTO_MF('D')) ? g.delta : 1));
    CHECK(m->initial == g.initial && m->client_flags == g.client_flags);
    CHECK(m->mode == g.mode);
    if (g.flags & PROTO_MF('O')) {
        CHECK(same(m->opaque, m->nopaque, b, g.opaque_off, g.nopaque));
    } else {
        CHECK(m->nopaque == 0);
    }
    if (g.cmd == PROTO_CMD_MS) {
        CHECK(req->vlen == g.vlen);
        CHECK(req->value == b + g.value_off);
    }
}

/* The error memcached 1.6.18 answers for the defect, or PROTO_ERR_NONE
 * when this command accepts it. */
static enum proto_err
expected_err(void)
{
    bool dm = g.cmd == PROTO_CMD_MD || g.cmd == PROTO_CMD_MA;

    switch (g.defect) {
    case D_UNKNOWN_FLAG:
        return dm ? PROTO_ERR_META_FLAG_OR_DUP : PROTO_ERR_META_FLAG;
    case D_DUP_FLAG:
        return dm ? PROTO_ERR_META_FLAG_OR_DUP : PROTO_ERR_META_DUP;
    case D_BAD_NUMBER:
        return dm ? PROTO_ERR_META_FLAG_OR_DUP : PROTO_ERR_META_TOKEN;
    case D_LONG_OPAQUE:
        /* ma: measured after the arithmetic, by exec (proto.h) */
        return g.cmd == PROTO_CMD_MA ? PROTO_ERR_NONE
                                     : PROTO_ERR_META_OPAQUE;
    case D_BAD_MODE:
        return g.cmd == PROTO_CMD_MS ? PROTO_ERR_META_MS_MODE
               : g.cmd == PROTO_CMD_MA ? PROTO_ERR_META_MA_MODE
                                       : PROTO_ERR_NONE;
    case D_MODE_LEN:
        return dm ? PROTO_ERR_META_FLAG_OR_DUP : PROTO_ERR_META_M_LEN;
    case D_LONG_KEY:
    case D_BAD_VLEN:
        return PROTO_ERR_FORMAT;
    case D_TOO_MANY:
        return g.cmd == PROTO_CMD_MG ? PROTO_ERR_META_MG_TOO_MANY
                                     : PROTO_ERR_META_TOO_MANY;
    case D_BAD_B64:
        return g.cmd == PROTO_CMD_ME ? PROTO_ERR_FORMAT
               : dm ? PROTO_ERR_META_FLAG_OR_DUP : PROTO_ERR_META_KEY;
    case D_BAD_CHUNK:
        return PROTO_ERR_BAD_CHUNK;
    default:
        return PROTO_ERR_NONE;
    }
}

/* How much a refused request consumes: the line, and an ms data block
 * once its length was read (memcached drops it unread). */
static size_t
expected_consumed(void)
{
    bool line_only = g.defect == D_LONG_KEY || g.defect == D_TOO_MANY ||
                     g.defect == D_BAD_VLEN;

    return g.cmd == PROTO_CMD_MS && !line_only ? g.len : g.line_len;
}

/* Every cut before the request ends must ask for more. */
static void
check_prefixes(const struct proto_limits *lim, enum proto_err want)
{
    size_t stop = want == PROTO_ERR_NONE || want == PROTO_ERR_BAD_CHUNK
                      ? g.len : g.line_len;
    size_t step = stop > 400 ? stop / 200 : 1;
    struct request req;
    const char *b;
    size_t consumed;
    int rc;

    for (size_t cut = 0; cut < stop; cut += step) {
        rc = parse_copy(lim, cut, &req, &consumed, &b);
        free((void *)b);
        if (cut >= g.line_len && want == PROTO_ERR_BAD_CHUNK &&
            cut + 2 > g.len) {
            continue;   /* the bad terminator may show before the end */
        }
        CHECK(rc == PROTO_NEED_MORE && consumed == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct proto_limits lim = {
        .item_size_max = 1024 * 1024, .line_max = 2048,
        .line_whole_max = 16384, .get_line_max = 65536,
    };
    struct src s = { data, size };
    struct request req;
    enum proto_err want;
    const char *b;
    size_t consumed;
    int rc;

    generate(&s);
    CHECK(g.len <= sizeof(g.buf));
    want = expected_err();
    rc = parse_copy(&lim, g.len, &req, &consumed, &b);
    if (want == PROTO_ERR_NONE) {
        CHECK(rc == PROTO_OK);
        check_valid(&req, consumed, b);
    } else {
        CHECK(rc == PROTO_EINVALID);
        CHECK(req.err == want);
        CHECK(consumed + req.swallow == expected_consumed());
    }
    free((void *)b);
    check_prefixes(&lim, want);
    return 0;
}
