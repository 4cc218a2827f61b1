/*
 * proto_text.c -- the memcached text protocol parser.
 *
 * One request per call: find the line (one bounded memchr), split it on
 * spaces, dispatch on the command name, check the fields, and for the
 * storage commands wait for the whole data block. The reply memcached
 * 1.6.18 gives to each malformed request was taken from the real binary;
 * see proto.h for the rules and the few deliberate differences.
 */
#include "config.h"

#include "daemon/proto.h"
#include "daemon/proto_util.h"

#include <string.h>

/* More tokens than any command but the get family may carry (cas: 7). */
#define TOK_MAX 8

/* Everything one call works on; lives on the caller's stack. */
struct parse {
    const struct proto_limits *lim;
    const char *buf;
    size_t len;                 /* bytes available in buf */
    size_t content;             /* the line without "\r\n" / "\n" */
    size_t line_len;            /* the line with its terminator */
    struct proto_tok tok[TOK_MAX];
    size_t ntok;                /* tokens kept; TOK_MAX means "or more" */
    struct request *req;
    size_t *consumed;
};

struct cmd_def {
    const char *name;
    size_t len;
    enum proto_cmd cmd;
    int (*parse)(struct parse *ps);
};

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t
sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Refuse the request; the line is dropped and nothing is swallowed. */
static int
fail(struct parse *ps, enum proto_err err)
{
    ps->req->err = err;
    *ps->consumed = ps->line_len;
    return PROTO_EINVALID;
}

/* memcached's noreply: the last token of the line is exactly "noreply". */
static bool
last_is_noreply(const struct parse *ps)
{
    const struct proto_tok *last;

    if (ps->ntok < 2 || ps->ntok >= TOK_MAX) {
        return false;
    }
    last = &ps->tok[ps->ntok - 1];
    return proto_tok_is(last, "noreply");
}

/* Take tok[1] as the request's key; false when it is not a valid key. */
static bool
take_key(struct parse *ps)
{
    ps->req->key = ps->tok[1].p;
    ps->req->nkey = ps->tok[1].n;
    return proto_key_ok(ps->tok[1].p, ps->tok[1].n);
}

/*
 * The value block of a storage command: exactly vlen bytes and "\r\n".
 * memcached reads vlen + 2 bytes whatever they are, so a wrong ending is
 * detected only once they are all here, and they are all dropped.
 */
static int
parse_data_block(struct parse *ps)
{
    struct request *req = ps->req;
    size_t block = (size_t)req->vlen + 2;
    size_t total = ps->line_len + block;
    const char *value = ps->buf + ps->line_len;

    if (req->vlen > ps->lim->item_size_max) {
        size_t have = min_size(ps->len - ps->line_len, block);

        req->err = PROTO_ERR_TOO_LARGE;
        req->swallow = block - have;
        *ps->consumed = ps->line_len + have;
        return PROTO_EINVALID;
    }
    if (ps->len < total) {
        req->need = total;
        return PROTO_NEED_MORE;
    }
    *ps->consumed = total;
    if (value[req->vlen] != '\r' || value[req->vlen + 1] != '\n') {
        req->err = PROTO_ERR_BAD_CHUNK;
        return PROTO_EINVALID;
    }
    req->value = value;
    return PROTO_OK;
}

/* set/add/replace/append/prepend <key> <flags> <exptime> <bytes>
 * [noreply], and cas with <cas unique> before [noreply]. A sixth (cas:
 * seventh) token other than "noreply" is ignored, as memcached does. */
static int
parse_storage(struct parse *ps)
{
    struct request *req = ps->req;
    size_t want = req->cmd == PROTO_CMD_CAS ? 6 : 5;
    uint64_t flags;
    int64_t vlen;

    if (ps->ntok != want && ps->ntok != want + 1) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    req->noreply = last_is_noreply(ps);
    if (!take_key(ps)
        || !proto_scan_u64(ps->tok[2].p, ps->tok[2].n, UINT32_MAX, &flags)
        || !proto_scan_i64(ps->tok[3].p, ps->tok[3].n, &req->exptime)
        || !proto_scan_i64(ps->tok[4].p, ps->tok[4].n, &vlen)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    if (req->cmd == PROTO_CMD_CAS
        && !proto_scan_u64(ps->tok[5].p, ps->tok[5].n, UINT64_MAX,
                           &req->cas)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    /* memcached keeps vlen + 2 in an int */
    if (vlen < 0 || vlen > INT32_MAX - 2) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    req->flags = (uint32_t)flags;
    req->vlen = (uint32_t)vlen;
    return parse_data_block(ps);
}

/* incr/decr <key> <delta> [noreply] */
static int
parse_arith(struct parse *ps)
{
    struct request *req = ps->req;

    if (ps->ntok != 3 && ps->ntok != 4) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    req->noreply = last_is_noreply(ps);
    if (!take_key(ps)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    if (!proto_scan_u64(ps->tok[2].p, ps->tok[2].n, UINT64_MAX,
                        &req->delta)) {
        return fail(ps, PROTO_ERR_DELTA);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* delete <key> [0] [noreply]: the old hold time is accepted only as 0. */
static int
parse_delete(struct parse *ps)
{
    struct request *req = ps->req;

    if (ps->ntok < 2 || ps->ntok > 4) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    if (ps->ntok > 2) {
        bool zero = proto_tok_is(&ps->tok[2], "0");

        req->noreply = last_is_noreply(ps);
        if (!((ps->ntok == 3 && (zero || req->noreply))
              || (ps->ntok == 4 && zero && req->noreply))) {
            return fail(ps, PROTO_ERR_DELETE_USAGE);
        }
    }
    if (!take_key(ps)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* touch <key> <exptime> [noreply] */
static int
parse_touch(struct parse *ps)
{
    struct request *req = ps->req;

    if (ps->ntok != 3 && ps->ntok != 4) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    req->noreply = last_is_noreply(ps);
    if (!take_key(ps)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    if (!proto_scan_i64(ps->tok[2].p, ps->tok[2].n, &req->exptime)) {
        return fail(ps, PROTO_ERR_EXPTIME);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/*
 * get/gets <key>*, gat/gats <exptime> <key>*. The key list may be long
 * (get_line_max), so it is walked here, not tokenised into an array.
 * memcached answers a gat without keys with a bare "END": so do we.
 */
static int
parse_get(struct parse *ps)
{
    struct request *req = ps->req;
    const char *pos = ps->tok[0].p + ps->tok[0].n;
    const char *end = ps->buf + ps->content;
    const char *key;
    size_t nkey;
    size_t nkeys = 0;
    bool gat = req->cmd == PROTO_CMD_GAT || req->cmd == PROTO_CMD_GATS;

    if (gat) {
        if (!proto_next_key(&pos, end, &key, &nkey)) {
            return fail(ps, PROTO_ERR_UNKNOWN);
        }
        if (!proto_scan_i64(key, nkey, &req->exptime)) {
            return fail(ps, PROTO_ERR_EXPTIME);
        }
    }
    while (pos < end && *pos == ' ') {
        pos++;
    }
    while (end > pos && end[-1] == ' ') {
        end--;
    }
    req->keys = pos;
    req->keys_len = (size_t)(end - pos);
    if (!proto_scan_keys(pos, end, &nkeys)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    if (nkeys == 0 && !gat) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* ---- a get line in pieces (struct proto_more) ------------------------ */

/*
 * The first piece of a get-family line too long to wait for: its
 * command, gat's exptime, then its complete keys. The exptime must be
 * in this piece (a gat line that starts with kilobytes of spaces is
 * refused with ERROR).
 */
static int
parse_get_head(struct parse *ps)
{
    struct request *req = ps->req;
    const char *pos = ps->tok[0].p + ps->tok[0].n;
    const char *end = ps->buf + ps->len;
    struct proto_more m = { .cmd = req->cmd };
    const char *tok;
    size_t ntok;

    if (req->cmd == PROTO_CMD_GAT || req->cmd == PROTO_CMD_GATS) {
        if (!proto_next_key(&pos, end, &tok, &ntok)) {
            m.err = PROTO_ERR_UNKNOWN;
        } else if (tok + ntok == end ||
                   !proto_scan_i64(tok, ntok, &req->exptime)) {
            m.err = PROTO_ERR_EXPTIME;
        }
    }
    *ps->consumed = (size_t)(pos - ps->buf) +
                    proto_piece_keys(&m, pos, (size_t)(end - pos), req);
    req->more = true;
    req->more_err = m.err;
    return PROTO_OK;
}

void
proto_more_begin(struct proto_more *more, const struct request *req,
                 size_t consumed)
{
    more->cmd = req->cmd;
    more->exptime = req->exptime;
    more->seen = consumed;
    more->any_key = req->keys_len > 0;
    more->err = req->more_err;
}

/* The last piece of the line: P[0..CONTENT) before its terminator. */
static int
last_piece(struct proto_more *more, const char *p, size_t content,
           struct request *req)
{
    bool gat = more->cmd == PROTO_CMD_GAT || more->cmd == PROTO_CMD_GATS;
    size_t nkeys = 0;

    more->cmd = PROTO_CMD_NONE;
    if (more->err == PROTO_ERR_NONE &&
        !proto_scan_keys(p, p + content, &nkeys)) {
        more->err = PROTO_ERR_FORMAT;
    }
    if (more->err == PROTO_ERR_NONE && nkeys == 0 && !more->any_key &&
        !gat) {
        more->err = PROTO_ERR_UNKNOWN;
    }
    if (more->err != PROTO_ERR_NONE) {
        req->err = more->err;
        return PROTO_EINVALID;
    }
    proto_set_keys(req, p, p + content);
    return PROTO_OK;
}

int
proto_text_parse_more(const struct proto_limits *lim,
                      struct proto_more *more, const char *buf, size_t len,
                      struct request *req, size_t *consumed)
{
    size_t get_max = lim->get_line_max > lim->line_max ? lim->get_line_max
                                                         : lim->line_max;
    size_t left = sat_add(get_max, 2);
    const char *nl;
    size_t c;

    memset(req, 0, sizeof(*req));
    *consumed = 0;
    req->cmd = more->cmd;
    req->exptime = more->exptime;
    if (len == 0) {
        return PROTO_NEED_MORE;
    }
    left = more->seen < left ? left - more->seen : 0;
    nl = memchr(buf, '\n', min_size(len, left));
    if (nl == NULL) {
        if (len >= left) {
            more->cmd = PROTO_CMD_NONE;
            req->err = PROTO_ERR_LINE_TOO_LONG;
            return PROTO_EINVALID;
        }
        *consumed = proto_piece_keys(more, buf, len, req);
        more->seen += *consumed;
        req->more = *consumed > 0;
        return *consumed > 0 ? PROTO_OK : PROTO_NEED_MORE;
    }
    c = (size_t)(nl - buf);
    *consumed = c + 1;
    if (c > 0 && buf[c - 1] == '\r') {
        c--;
    }
    if (sat_add(more->seen, c) > get_max) {
        more->cmd = PROTO_CMD_NONE;
        req->err = PROTO_ERR_LINE_TOO_LONG;
        return PROTO_EINVALID;
    }
    return last_piece(more, buf, c, req);
}

/* flush_all [delay] [noreply] */
static int
parse_flush_all(struct parse *ps)
{
    struct request *req = ps->req;

    if (ps->ntok > 3) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    req->noreply = last_is_noreply(ps);
    if (ps->ntok != (req->noreply ? 2u : 1u)) {
        if (!proto_scan_i64(ps->tok[1].p, ps->tok[1].n, &req->num)) {
            return fail(ps, PROTO_ERR_EXPTIME);
        }
        req->has_num = true;
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* verbosity <level> [noreply]; a third token is ignored like memcached.
 * Any 64-bit level is taken (memcached clamps it), so num saturates. */
static int
parse_verbosity(struct parse *ps)
{
    struct request *req = ps->req;
    uint64_t level;

    if (ps->ntok != 2 && ps->ntok != 3) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    req->noreply = last_is_noreply(ps);
    if (!proto_scan_u64(ps->tok[1].p, ps->tok[1].n, UINT64_MAX, &level)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    req->num = level > INT64_MAX ? INT64_MAX : (int64_t)level;
    req->has_num = true;
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* version, quit: memcached ignores any further tokens. */
static int
parse_bare(struct parse *ps)
{
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* shutdown [graceful] */
static int
parse_shutdown(struct parse *ps)
{
    if (ps->ntok == 2 && proto_tok_is(&ps->tok[1], "graceful")) {
        ps->req->graceful = true;
    } else if (ps->ntok != 1) {
        return fail(ps, PROTO_ERR_SHUTDOWN_MODE);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* snapshot [noreply] (ember's own) */
static int
parse_snapshot(struct parse *ps)
{
    ps->req->noreply = last_is_noreply(ps);
    if (ps->ntok != (ps->req->noreply ? 2u : 1u)) {
        return fail(ps, PROTO_ERR_FORMAT);
    }
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* stats [args...]: the executor decides which arguments it knows. */
static int
parse_stats(struct parse *ps)
{
    const char *pos = ps->tok[0].p + ps->tok[0].n;
    const char *end = ps->buf + ps->content;

    while (pos < end && *pos == ' ') {
        pos++;
    }
    while (end > pos && end[-1] == ' ') {
        end--;
    }
    ps->req->arg = pos;
    ps->req->narg = (size_t)(end - pos);
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* A memcached operator command ember does not implement. */
static int
parse_unsupported(struct parse *ps)
{
    ps->req->arg = ps->tok[0].p;
    ps->req->narg = ps->tok[0].n;
    *ps->consumed = ps->line_len;
    return PROTO_OK;
}

/* slabs, lru_crawler: memcached's checks (proto_admin.c) */
static int
parse_admin(struct parse *ps)
{
    *ps->consumed = ps->line_len;
    return ps->tok[0].p[0] == 's'
               ? proto_admin_slabs(ps->tok, ps->ntok, ps->req)
               : proto_admin_lru_crawler(ps->tok, ps->ntok, ps->req);
}

#define CMD(name, cmd, fn) {name, sizeof(name) - 1, cmd, fn}

/* Most frequent first. Meta commands (mg, ms, ...) go to proto_meta.c. */
static const struct cmd_def cmd_defs[] = {
    CMD("get", PROTO_CMD_GET, parse_get),
    CMD("set", PROTO_CMD_SET, parse_storage),
    CMD("gets", PROTO_CMD_GETS, parse_get),
    CMD("delete", PROTO_CMD_DELETE, parse_delete),
    CMD("incr", PROTO_CMD_INCR, parse_arith),
    CMD("decr", PROTO_CMD_DECR, parse_arith),
    CMD("add", PROTO_CMD_ADD, parse_storage),
    CMD("cas", PROTO_CMD_CAS, parse_storage),
    CMD("touch", PROTO_CMD_TOUCH, parse_touch),
    CMD("gat", PROTO_CMD_GAT, parse_get),
    CMD("gats", PROTO_CMD_GATS, parse_get),
    CMD("replace", PROTO_CMD_REPLACE, parse_storage),
    CMD("append", PROTO_CMD_APPEND, parse_storage),
    CMD("prepend", PROTO_CMD_PREPEND, parse_storage),
    CMD("bget", PROTO_CMD_GET, parse_get),
    CMD("version", PROTO_CMD_VERSION, parse_bare),
    CMD("stats", PROTO_CMD_STATS, parse_stats),
    CMD("quit", PROTO_CMD_QUIT, parse_bare),
    CMD("flush_all", PROTO_CMD_FLUSH_ALL, parse_flush_all),
    CMD("verbosity", PROTO_CMD_VERBOSITY, parse_verbosity),
    CMD("snapshot", PROTO_CMD_SNAPSHOT, parse_snapshot),
    CMD("shutdown", PROTO_CMD_SHUTDOWN, parse_shutdown),
    CMD("cache_memlimit", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("debugtime", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("extstore", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("lru", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("lru_crawler", PROTO_CMD_UNSUPPORTED, parse_admin),
    CMD("misbehave", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("refresh_certs", PROTO_CMD_UNSUPPORTED, parse_unsupported),
    CMD("slabs", PROTO_CMD_UNSUPPORTED, parse_admin),
    CMD("watch", PROTO_CMD_UNSUPPORTED, parse_unsupported),
};

static const struct cmd_def mcp_def =
    CMD("mcp", PROTO_CMD_UNSUPPORTED, parse_unsupported);

static const struct cmd_def *
find_cmd(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof(cmd_defs) / sizeof(cmd_defs[0]); i++) {
        if (cmd_defs[i].len == n && memcmp(cmd_defs[i].name, p, n) == 0) {
            return &cmd_defs[i];
        }
    }
    /* the proxy's mcp* commands */
    if (n >= 3 && memcmp(p, "mcp", 3) == 0) {
        return &mcp_def;
    }
    return NULL;
}

/*
 * Whether the line in P[0..N) may run to get_line_max. PARTIAL: the line
 * is not complete, so a first token reaching N may still grow; it counts
 * while it is a prefix of a get-family name (more bytes will decide).
 */
static bool
is_get_line(const char *p, size_t n, bool partial)
{
    static const char *const names[] = {"get", "gets", "gat", "gats",
                                        "bget"};
    size_t i = 0;
    size_t start;
    size_t k;
    bool open;

    while (i < n && p[i] == ' ') {
        i++;
    }
    start = i;
    while (i < n && p[i] != ' ') {
        i++;
    }
    open = partial && i == n;
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t len = strlen(names[k]);
        size_t got = i - start;

        if ((got == len || (open && got < len))
            && memcmp(p + start, names[k], got) == 0) {
            return true;
        }
    }
    return false;
}

/* find_line(): an unfinished get line to hand out in pieces. */
#define LINE_PIECE 2

/* Where pieces begin (0: never): get_piece_min, but past line_max. */
static size_t
piece_min(const struct proto_limits *lim)
{
    if (lim->get_piece_min == 0) {
        return 0;
    }
    return lim->get_piece_min > sat_add(lim->line_max, 2)
               ? lim->get_piece_min
               : sat_add(lim->line_max, 2);
}

/*
 * Locate the command line. Sets ps->content and ps->line_len and returns
 * PROTO_OK, or PROTO_NEED_MORE, or PROTO_EINVALID for a line that is (or
 * will be) longer than its limit, or LINE_PIECE for an unfinished get
 * line of get_piece_min bytes or more. The scan never passes the limit, so a
 * client cannot make us search megabytes for a newline.
 */
static int
find_line(struct parse *ps)
{
    const struct proto_limits *lim = ps->lim;
    size_t get_max = lim->get_line_max > lim->line_max ? lim->get_line_max
                                                         : lim->line_max;
    size_t whole_max = lim->line_whole_max > lim->line_max
                           ? lim->line_whole_max
                           : lim->line_max;
    size_t short_scan = min_size(ps->len, sat_add(whole_max, 2));
    const char *nl = memchr(ps->buf, '\n', short_scan);
    size_t c;

    /* Without its "\n", a line of LEN bytes holds at least LEN - 1
     * (a "\r" may still be its terminator): too long from max + 2. */
    if (nl == NULL) {
        size_t long_scan = min_size(ps->len, sat_add(get_max, 2));

        if (ps->len < sat_add(lim->line_max, 2)) {
            return PROTO_NEED_MORE;
        }
        if (!is_get_line(ps->buf, ps->len, true)) {
            return fail(ps, PROTO_ERR_LINE_TOO_LONG);
        }
        nl = memchr(ps->buf + short_scan, '\n', long_scan - short_scan);
        if (nl == NULL) {
            if (ps->len >= sat_add(get_max, 2)) {
                return fail(ps, PROTO_ERR_LINE_TOO_LONG);
            }
            return piece_min(lim) != 0 && ps->len >= piece_min(lim)
                       ? LINE_PIECE
                       : PROTO_NEED_MORE;
        }
    }
    c = (size_t)(nl - ps->buf);
    ps->line_len = c + 1;
    if (c > 0 && ps->buf[c - 1] == '\r') {
        c--;
    }
    ps->content = c;
    if (c > whole_max
        && (c > get_max || !is_get_line(ps->buf, c, false))) {
        ps->line_len = 0;
        return fail(ps, PROTO_ERR_LINE_TOO_LONG);
    }
    return PROTO_OK;
}

/*
 * An unknown command: a browser's request line ("GET / HTTP/1.1") is
 * closed on silently. memcached looks for the "HTTP/" last token only
 * after its dispatch on the first letter failed, so a one-byte command
 * or one starting like a known command (g s a c i d t, or a two-byte m.)
 * gets "ERROR" instead; so does it here.
 */
static int
parse_unknown(struct parse *ps)
{
    const char *end = ps->buf + ps->content;
    const char *last;
    const struct proto_tok *cmd = &ps->tok[0];

    if (cmd->n < 2 || memchr("gsacidt", cmd->p[0], 7) != NULL
        || (cmd->p[0] == 'm' && cmd->n == 2)) {
        return fail(ps, PROTO_ERR_UNKNOWN);
    }
    while (end > ps->buf && end[-1] == ' ') {
        end--;
    }
    last = end;
    while (last > ps->buf && last[-1] != ' ') {
        last--;
    }
    if (end - last >= 5 && memcmp(last, "HTTP/", 5) == 0) {
        return fail(ps, PROTO_ERR_HTTP);
    }
    return fail(ps, PROTO_ERR_UNKNOWN);
}

int
proto_text_parse(const struct proto_limits *lim, const char *buf,
                 size_t len, struct request *req, size_t *consumed)
{
    struct parse ps;
    const struct cmd_def *def;
    enum proto_cmd meta;
    int rc;

    memset(req, 0, sizeof(*req));
    *consumed = 0;
    if (len == 0) {
        return PROTO_NEED_MORE;
    }
    ps.lim = lim;
    ps.buf = buf;
    ps.len = len;
    ps.line_len = 0;
    ps.req = req;
    ps.consumed = consumed;
    if ((unsigned char)buf[0] == 0x80) {
        return fail(&ps, PROTO_ERR_BINARY);
    }
    rc = find_line(&ps);
    if (rc == LINE_PIECE) {
        /* a get line (is_get_line): its command is whole by now */
        (void)proto_tokenize(buf, len, ps.tok, 1);
        def = find_cmd(ps.tok[0].p, ps.tok[0].n);
        if (def == NULL || def->parse != parse_get) {
            return fail(&ps, PROTO_ERR_LINE_TOO_LONG);
        }
        req->cmd = def->cmd;
        return parse_get_head(&ps);
    }
    if (rc != PROTO_OK) {
        return rc;
    }
    /* the command first: a get's key list is walked once, by parse_get */
    ps.ntok = proto_tokenize(buf, ps.content, ps.tok, 1);
    if (ps.ntok == 0) {
        return fail(&ps, PROTO_ERR_UNKNOWN);
    }
    meta = proto_meta_cmd(ps.tok[0].p, ps.tok[0].n);
    if (meta != PROTO_CMD_NONE) {
        return proto_meta_parse(lim, buf, len, ps.content, ps.line_len, meta,
                                req, consumed);
    }
    def = find_cmd(ps.tok[0].p, ps.tok[0].n);
    if (def == NULL) {
        return parse_unknown(&ps);
    }
    req->cmd = def->cmd;
    if (def->parse != parse_get) {
        size_t done = (size_t)(ps.tok[0].p + ps.tok[0].n - buf);

        ps.ntok += proto_tokenize(buf + done, ps.content - done, ps.tok + 1,
                                  TOK_MAX - 1);
    }
    return def->parse(&ps);
}
