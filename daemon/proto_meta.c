/*
 * proto_meta.c -- the meta protocol parser: mg, ms, md, ma, mn, me.
 *
 * proto_text_parse() finds the line and the command name, then hands a
 * meta command over here. A meta line is "<cmd> <key> [<datalen>]
 * <flag>*": each flag is one letter, optionally followed by its token
 * ("T30", "Oabc"). Everything is checked here, so the executor only acts;
 * the replies to malformed lines are memcached 1.6.18's (probed against
 * the binary, see proto.h), plus the flags that came after it (E, md x).
 */
#include "config.h"

#include "daemon/proto.h"
#include "daemon/proto_util.h"

#include <string.h>

/* memcached refuses a meta line of more than 19 tokens */
#define META_TOK_MAX 19

/* Flags memcached 1.6.18 knows for every meta command (it accepts and
 * ignores those a command does not use), plus E (1.6.19+). */
#define KNOWN_LOWER "bcfhklqstuv"
#define KNOWN_UPPER "CDEFIJLMNOPRT"

struct meta_parse {
    const struct proto_limits *lim;
    const char *buf;
    size_t len;
    size_t content;
    size_t line_len;
    struct proto_tok tok[META_TOK_MAX + 1];
    size_t ntok;
    struct request *req;
    size_t *consumed;
};

static uint64_t
letters(const char *s)
{
    uint64_t m = 0;

    for (; *s != '\0'; s++) {
        m |= PROTO_MF(*s);
    }
    return m;
}

static uint64_t
known_flags(enum proto_cmd cmd)
{
    uint64_t m = letters(KNOWN_LOWER) | letters(KNOWN_UPPER);

    if (cmd == PROTO_CMD_MD) {
        m |= PROTO_MF('x');
    }
    return m;
}

/*
 * md and ma report most flag problems with one message in 1.6.18; mg and
 * ms say which. (A test pins each mapping to the binary's answer.)
 */
static enum proto_err
flag_err(const struct meta_parse *mp, enum proto_err err)
{
    enum proto_cmd cmd = mp->req->cmd;

    if (err == PROTO_ERR_META_MA_MODE || err == PROTO_ERR_META_OPAQUE) {
        return err;
    }
    if (cmd == PROTO_CMD_MD || cmd == PROTO_CMD_MA) {
        return PROTO_ERR_META_FLAG_OR_DUP;
    }
    return err;
}

/* Refuse the line; nothing beyond it is dropped. */
static int
fail_line(struct meta_parse *mp, enum proto_err err)
{
    mp->req->err = err;
    *mp->consumed = mp->line_len;
    return PROTO_EINVALID;
}

/*
 * Refuse an ms whose data length was read: memcached drops its data block
 * unread, so the line and vlen + 2 bytes go, whatever has arrived yet.
 */
static int
fail_block(struct meta_parse *mp, enum proto_err err)
{
    struct request *req = mp->req;
    size_t block = (size_t)req->vlen + 2;
    size_t avail = mp->len - mp->line_len;
    size_t have = avail < block ? avail : block;

    if (req->cmd != PROTO_CMD_MS) {
        return fail_line(mp, err);
    }
    req->err = err;
    req->swallow = block - have;
    *mp->consumed = mp->line_len + have;
    return PROTO_EINVALID;
}

/* A TTL-like token: memcached reads it as a 32-bit signed number. */
static bool
scan_ttl(const struct proto_tok *t, int64_t *out)
{
    int64_t v;

    if (!proto_scan_i64(t->p + 1, t->n - 1, &v) || v < INT32_MIN
        || v > INT32_MAX) {
        return false;
    }
    *out = v;
    return true;
}

static bool
scan_u64(const struct proto_tok *t, uint64_t *out)
{
    return proto_scan_u64(t->p + 1, t->n - 1, UINT64_MAX, out);
}

/* M's mode, once the key is known good: ms and ma check theirs. */
static enum proto_err
take_mode(struct meta_parse *mp, char c)
{
    struct proto_meta *m = &mp->req->meta;

    if (mp->req->cmd == PROTO_CMD_MS) {
        if (memchr("SEAPR", c, 5) == NULL) {
            return PROTO_ERR_META_MS_MODE;
        }
        m->mode = c;
    } else if (mp->req->cmd == PROTO_CMD_MA) {
        if (c == 'I' || c == '+') {
            m->mode = 'I';
        } else if (c == 'D' || c == '-') {
            m->mode = 'D';
        } else {
            return PROTO_ERR_META_MA_MODE;
        }
    }
    return PROTO_ERR_NONE;
}

/* The token of one flag; PROTO_ERR_NONE when it is acceptable. */
static enum proto_err
take_token(struct meta_parse *mp, const struct proto_tok *t)
{
    struct proto_meta *m = &mp->req->meta;
    uint64_t v;

    switch (t->p[0]) {
    case 'C':
        return scan_u64(t, &m->cas) ? PROTO_ERR_NONE : PROTO_ERR_META_TOKEN;
    case 'E':
        return scan_u64(t, &m->new_cas) ? PROTO_ERR_NONE
                                        : PROTO_ERR_META_TOKEN;
    case 'N':
        return scan_ttl(t, &m->vivify) ? PROTO_ERR_NONE : PROTO_ERR_META_TOKEN;
    case 'R':
        return scan_ttl(t, &m->recache) ? PROTO_ERR_NONE
                                        : PROTO_ERR_META_TOKEN;
    case 'T':
        return scan_ttl(t, &m->ttl) ? PROTO_ERR_NONE : PROTO_ERR_META_TOKEN;
    case 'D':
        return scan_u64(t, &m->delta) ? PROTO_ERR_NONE : PROTO_ERR_META_DELTA;
    case 'J':
        return scan_u64(t, &m->initial) ? PROTO_ERR_NONE
                                        : PROTO_ERR_META_INITIAL;
    case 'F':
        if (!scan_u64(t, &v)) {
            return PROTO_ERR_FORMAT;
        }
        m->client_flags = (uint32_t)v;  /* 1.6.18 keeps the low 32 bits */
        return PROTO_ERR_NONE;
    case 'M':
        return t->n == 2 ? PROTO_ERR_NONE : PROTO_ERR_META_M_LEN;
    case 'O':
        m->opaque = t->p + 1;
        m->nopaque = t->n - 1;
        return PROTO_ERR_NONE;
    default:
        return PROTO_ERR_NONE;  /* a token after a plain flag is ignored */
    }
}

/* After the key: the M mode and the opaque's length. */
static enum proto_err
take_late(struct meta_parse *mp, size_t first)
{
    struct proto_meta *m = &mp->req->meta;
    enum proto_err err;
    size_t i;

    for (i = first; i < mp->ntok; i++) {
        if (mp->tok[i].p[0] == 'M') {
            err = take_mode(mp, mp->tok[i].p[1]);
            if (err != PROTO_ERR_NONE) {
                return flag_err(mp, err);
            }
        }
    }
    /* 1.6.18 measures ma's opaque only after the arithmetic, when it
     * echoes it: exec_meta.c answers the error then */
    if (m->nopaque > PROTO_META_OPAQUE_MAX && mp->req->cmd != PROTO_CMD_MA) {
        return flag_err(mp, PROTO_ERR_META_OPAQUE);
    }
    if (first < mp->ntok) {
        const struct proto_tok *last = &mp->tok[mp->ntok - 1];

        m->tokens = mp->tok[first].p;
        m->tokens_len = (size_t)(last->p + last->n - m->tokens);
    }
    return PROTO_ERR_NONE;
}

/*
 * Walk the flags from tok[FIRST] as memcached 1.6.18 does: first every
 * letter (unknown, duplicate: "T 5" is an invalid flag "5", not a bad T
 * token), then every token, then a base64 key, then the M mode and the
 * opaque's length. The first problem is the answer.
 */
static enum proto_err
take_flags(struct meta_parse *mp, size_t first)
{
    struct proto_meta *m = &mp->req->meta;
    uint64_t known = known_flags(mp->req->cmd);
    enum proto_err err;
    size_t i, n;

    for (i = first; i < mp->ntok; i++) {
        uint64_t bit = PROTO_MF(mp->tok[i].p[0]);

        if ((bit & known) == 0) {
            return flag_err(mp, PROTO_ERR_META_FLAG);
        }
        if (m->flags & bit) {
            return flag_err(mp, PROTO_ERR_META_DUP);
        }
        m->flags |= bit;
    }
    for (i = first; i < mp->ntok; i++) {
        err = take_token(mp, &mp->tok[i]);
        if (err != PROTO_ERR_NONE) {
            return flag_err(mp, err);
        }
    }
    m->key_is_b64 = (m->flags & PROTO_MF('b')) != 0;
    if (m->key_is_b64 && !proto_b64_decode(mp->req->key, mp->req->nkey,
                                           NULL, PROTO_KEY_MAX, &n)) {
        return flag_err(mp, PROTO_ERR_META_KEY);
    }
    return take_late(mp, first);
}

/* The data block of ms: as the classic storage commands. */
static int
take_block(struct meta_parse *mp)
{
    struct request *req = mp->req;
    size_t total = mp->line_len + (size_t)req->vlen + 2;
    const char *value = mp->buf + mp->line_len;

    if (req->vlen > mp->lim->item_size_max) {
        return fail_block(mp, PROTO_ERR_TOO_LARGE);
    }
    if (mp->len < total) {
        req->need = total;
        return PROTO_NEED_MORE;
    }
    *mp->consumed = total;
    if (value[req->vlen] != '\r' || value[req->vlen + 1] != '\n') {
        req->err = PROTO_ERR_BAD_CHUNK;
        return PROTO_EINVALID;
    }
    req->value = value;
    return PROTO_OK;
}

/* me <key> [b]: anything after the key but a "b" is ignored. */
static int
parse_me(struct meta_parse *mp)
{
    struct request *req = mp->req;
    size_t n;

    if (mp->ntok < 2 || !proto_key_ok(mp->tok[1].p, mp->tok[1].n)) {
        return fail_line(mp, PROTO_ERR_FORMAT);
    }
    req->key = mp->tok[1].p;
    req->nkey = mp->tok[1].n;
    req->meta.key_is_b64 = mp->ntok > 2 && proto_tok_is(&mp->tok[2], "b");
    if (req->meta.key_is_b64
        && !proto_b64_decode(req->key, req->nkey, NULL, PROTO_KEY_MAX, &n)) {
        return fail_line(mp, PROTO_ERR_FORMAT);
    }
    *mp->consumed = mp->line_len;
    return PROTO_OK;
}

static int
parse_meta(struct meta_parse *mp)
{
    struct request *req = mp->req;
    size_t first = req->cmd == PROTO_CMD_MS ? 3 : 2;
    enum proto_err err;
    uint64_t vlen;

    if (mp->ntok < 2) {
        return fail_line(mp, PROTO_ERR_UNKNOWN);
    }
    if (mp->ntok > META_TOK_MAX) {
        return fail_line(mp, req->cmd == PROTO_CMD_MG
                                 ? PROTO_ERR_META_MG_TOO_MANY
                                 : PROTO_ERR_META_TOO_MANY);
    }
    req->key = mp->tok[1].p;
    req->nkey = mp->tok[1].n;
    if (!proto_key_ok(req->key, req->nkey)) {
        return fail_line(mp, PROTO_ERR_FORMAT);
    }
    req->meta.delta = 1;
    req->meta.mode = req->cmd == PROTO_CMD_MA ? 'I' : 'S';
    if (req->cmd == PROTO_CMD_MS) {
        /* memcached keeps vlen + 2 in an int */
        if (mp->ntok < 3
            || !proto_scan_u64(mp->tok[2].p, mp->tok[2].n, INT32_MAX - 2,
                               &vlen)) {
            return fail_line(mp, PROTO_ERR_FORMAT);
        }
        req->vlen = (uint32_t)vlen;
    }
    err = take_flags(mp, first);
    if (err != PROTO_ERR_NONE) {
        return fail_block(mp, err);
    }
    if (req->cmd == PROTO_CMD_MS) {
        return take_block(mp);
    }
    *mp->consumed = mp->line_len;
    return PROTO_OK;
}

enum proto_cmd
proto_meta_cmd(const char *p, size_t n)
{
    static const struct {
        char c;
        enum proto_cmd cmd;
    } cmds[] = {
        {'g', PROTO_CMD_MG}, {'s', PROTO_CMD_MS}, {'d', PROTO_CMD_MD},
        {'a', PROTO_CMD_MA}, {'n', PROTO_CMD_MN}, {'e', PROTO_CMD_ME},
    };
    size_t i;

    if (n != 2 || p[0] != 'm') {
        return PROTO_CMD_NONE;
    }
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (p[1] == cmds[i].c) {
            return cmds[i].cmd;
        }
    }
    return PROTO_CMD_NONE;
}

int
proto_meta_parse(const struct proto_limits *lim, const char *buf,
                 size_t len, size_t content, size_t line_len,
                 enum proto_cmd cmd, struct request *req, size_t *consumed)
{
    struct meta_parse mp;

    mp.lim = lim;
    mp.buf = buf;
    mp.len = len;
    mp.content = content;
    mp.line_len = line_len;
    mp.req = req;
    mp.consumed = consumed;
    req->cmd = cmd;
    mp.ntok = proto_tokenize(buf, content, mp.tok, META_TOK_MAX + 1);
    switch (cmd) {
    case PROTO_CMD_MN:
        *consumed = line_len;   /* memcached ignores any tokens */
        return PROTO_OK;
    case PROTO_CMD_ME:
        return parse_me(&mp);
    default:
        return parse_meta(&mp);
    }
}
