/*
 * exec_meta.c -- the meta commands against the store (see exec_meta.h).
 *
 * Each command: decode the key (base64 with b), call the store verb
 * (store_get, store_set, store_delete, store_arith) with the options the
 * flags ask for, which does the whole operation under the key's stripe
 * lock,
 * then answer (compose.c writes the bytes) with the return flags in the
 * order the client sent them. Observed memcached 1.6.18 behaviour kept here:
 *  - mg echoes O and k on EN; ms echoes O, k and c (0) on NS/EX/NF;
 *  - q hides EN for mg, HD for ms and md, HD/VA for ma (but not the
 *    reply of a vivifying ma), never an error;
 *  - t shows the TTL as the N or T flags before it on the line left it;
 *    an item vivified by N gets the TTL of the last of N and T. (ma's T
 *    on a hit: 1.6.18 loses it when it rebuilds the number rather than
 *    changing it in place; ember always applies it.)
 *  - R judges the TTL a T before it on the line set, else the old one;
 *  - the client that vivifies with mg counts as having fetched the item;
 *  - ma's C0 compares nothing (md's and ms's do);
 *  - ma checks its opaque's length (31 bytes at most) only after the
 *    arithmetic, answering the error instead of the line, q or not
 *    (mg, ms and md are refused by the parser first);
 *  - a key stored with b is echoed base64 with " b" after it.
 * Deliberate differences: base64 keys are decoded strictly (memcached
 * skips bad characters); me's exp is the TTL left (1.6.18 prints its
 * negative; later versions fixed that); flags of 1.6.19+ (E, md x,
 * ms N, ms s) work as the current protocol.txt says, where 1.6.18
 * refuses or ignores them.
 */
#include "config.h"

#include "daemon/exec_meta.h"

#include "daemon/compose.h"
#include "daemon/exec.h"
#include "daemon/proto.h"
#include "daemon/proto_util.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define HAS(req, c) (((req)->meta.flags & PROTO_MF(c)) != 0)

/* ---- keys ----------------------------------------------------------- */

struct mkey {
    const char *p;
    size_t n;
    char buf[STORE_KEY_MAX];
};

/* The key to look up: the token itself, or its base64 decoding. */
static bool
key_of(const struct request *req, struct mkey *k)
{
    if (!req->meta.key_is_b64) {
        k->p = req->key;
        k->n = req->nkey;
        return true;
    }
    k->p = k->buf;
    return proto_b64_decode(req->key, req->nkey, k->buf, sizeof(k->buf),
                            &k->n);
}

/* O and k, which every meta reply echoes; true when FLAG was one. */
static bool
echo_common(struct reply *r, const struct request *req, char flag,
            const struct mkey *k, bool binary)
{
    if (flag == 'O') {
        compose_meta_text(r, 'O', req->meta.opaque, req->meta.nopaque);
        return true;
    }
    if (flag == 'k') {
        compose_meta_key(r, k->p, k->n, binary);
        return true;
    }
    return false;
}

static int64_t
ttl_of(uint32_t exptime, uint32_t now)
{
    return exptime == 0 ? -1 : (int64_t)exptime - (int64_t)now;
}

/* Whether flag A comes after flag B on the line (both present). */
static bool
flag_after(const struct request *req, char a, char b)
{
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    const char *t;
    size_t n;
    bool a_last = false;

    while (proto_next_key(&pos, end, &t, &n)) {
        if (t[0] == a || t[0] == b) {
            a_last = t[0] == a;
        }
    }
    return a_last;
}

/*
 * The TTL an item created by N gets: N's, unless a T comes after the N
 * on the line (1.6.18 keeps one TTL per request, the last one wins).
 */
static uint32_t
vivify_exptime(const struct exec_ctx *cx, const struct request *req)
{
    bool t_last = HAS(req, 'T') && flag_after(req, 'T', 'N');

    return store_exptime(cx->st, t_last ? req->meta.ttl : req->meta.vivify);
}

/* What a t after flag FLAG (N or T) shows: its own TTL (N's only when
 * it vivified the item), as 1.6.18 walks the line. */
static uint32_t
line_ttl(const struct exec_ctx *cx, const struct request *req, char flag,
         bool vivified, uint32_t exp)
{
    if (flag == 'T') {
        return store_exptime(cx->st, req->meta.ttl);
    }
    return vivified ? store_exptime(cx->st, req->meta.vivify) : exp;
}

static uint64_t
shown_cas(const struct exec_ctx *cx, uint64_t cas)
{
    return cx->set->cas_disabled ? 0 : cas;
}

/* ---- mg --------------------------------------------------------------- */

static void
mg_req(const struct exec_ctx *cx, const struct request *req,
       struct store_get_opt *q)
{
    memset(q, 0, sizeof(*q));
    q->no_bump = HAS(req, 'u');
    q->touch = HAS(req, 'T');
    q->exptime = store_exptime(cx->st, req->meta.ttl);
    q->recache = HAS(req, 'R');
    q->recache_below = req->meta.recache > 0 ? (uint32_t)req->meta.recache
                                             : 0;
    q->recache_after_touch = q->touch && q->recache
                             && flag_after(req, 'R', 'T');
    q->vivify = HAS(req, 'N');
    q->vivify_exptime = vivify_exptime(cx, req);
    q->new_cas = req->meta.new_cas;
}

/* mg's return flags, in request order; then W, X, Z. */
static void
mg_flags(const struct exec_ctx *cx, const struct request *req,
         const struct mkey *k, const struct store_get_res *res,
         struct reply *r)
{
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    const struct item *it = res->it;
    uint32_t now = store_now(cx->st);
    bool binary = (item_state_bits(it) & STORE_STATE_KEY_BINARY) != 0;
    /* t shows the TTL as the flags before it left it (1.6.18 applies
     * N and T in line order) */
    uint32_t exp = res->exptime_before;
    const char *t;
    size_t n;

    while (proto_next_key(&pos, end, &t, &n)) {
        if (echo_common(r, req, t[0], k, binary)) {
            continue;
        }
        switch (t[0]) {
        case 'c': compose_meta_u64(r, 'c', shown_cas(cx, item_cas(it)));
            break;
        case 'f': compose_meta_u64(r, 'f', item_flags(it)); break;
        case 'h': compose_meta_u64(r, 'h', res->fetched_before); break;
        case 'l': compose_meta_u64(r, 'l', now - res->atime_before); break;
        case 's': compose_meta_u64(r, 's', item_nvalue(it)); break;
        case 't': compose_meta_i64(r, 't', ttl_of(exp, now)); break;
        case 'N': case 'T':
            exp = line_ttl(cx, req, t[0], res->vivified, exp);
            break;
        default: break;
        }
    }
    if (res->won) {
        compose_meta_flag(r, res->stale ? 'X' : 'W');
        if (res->stale) {
            compose_meta_flag(r, 'W');
        }
    } else if (res->already_won) {
        compose_meta_flag(r, 'Z');
        if (res->stale) {
            compose_meta_flag(r, 'X');
        }
    } else if (res->stale) {
        compose_meta_flag(r, 'X');
    }
}

/* CODE and only O and k: a miss, NF, EX, NS (1.6.18 echoes them). */
static void
miss_line(const struct request *req, const struct mkey *k, const char *code,
          struct reply *r)
{
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    const char *t;
    size_t n;

    compose_meta_begin(r, code);
    while (proto_next_key(&pos, end, &t, &n)) {
        (void)echo_common(r, req, t[0], k, req->meta.key_is_b64);
    }
    compose_meta_end(r);
}

static int
exec_mg(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    struct store_get_opt q;
    struct store_get_res res;
    struct mkey k;
    int rc;

    if (!key_of(req, &k)) {
        compose_line(r, COMPOSE_META_KEY);
        return EXEC_CONTINUE;
    }
    mg_req(cx, req, &q);
    rc = store_get(cx->ses, k.p, k.n, &q, &res);
    /* 1.6.18 counts a hit with T as a touch only, a miss as a get */
    if (rc == STORE_OK && q.touch) {
        STATS_INCR(cx->ts, cmd_touch);
        STATS_INCR(cx->ts, touch_hits);
    } else {
        STATS_INCR(cx->ts, cmd_get);
        STATS_ADD(cx->ts, get_hits, rc == STORE_OK);
        STATS_ADD(cx->ts, get_misses, rc != STORE_OK);
    }
    if (rc != STORE_OK) {
        if (!HAS(req, 'q')) {
            miss_line(req, &k, "EN", r);
        }
        return EXEC_CONTINUE;
    }
    if (HAS(req, 'v')) {
        compose_meta_va(r, item_nvalue(res.it));
    } else {
        compose_meta_begin(r, "HD");
    }
    mg_flags(cx, req, &k, &res, r);
    compose_meta_end(r);
    if (HAS(req, 'v')) {
        compose_item(r, res.it);    /* the reference now belongs to r */
    } else {
        item_unref(res.it);
    }
    return EXEC_CONTINUE;
}

/* ---- ms --------------------------------------------------------------- */

static enum store_mode
ms_mode(char m)
{
    switch (m) {
    case 'E': return STORE_ADD;
    case 'A': return STORE_APPEND;
    case 'P': return STORE_PREPEND;
    case 'R': return STORE_REPLACE;
    default: return STORE_SET;
    }
}

static void
ms_failed(const struct exec_ctx *cx, int rc, struct reply *r)
{
    if (rc == STORE_ETOOLARGE) {
        STATS_INCR(cx->ts, store_too_large);
        compose_line(r, COMPOSE_TOO_LARGE);
    } else {
        STATS_INCR(cx->ts, store_no_memory);
        compose_line(r, COMPOSE_STORE_NO_MEMORY);
    }
}

static int
ms_store(const struct exec_ctx *cx, const struct request *req,
         const struct mkey *k, struct store_set_res *res)
{
    struct store_set_opt q;
    struct item *it;
    int rc;

    it = store_alloc(cx->st, k->p, k->n, req->meta.client_flags,
                     store_exptime(cx->st, req->meta.ttl), req->vlen,
                     req->meta.new_cas != 0, &rc);
    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), req->value, req->vlen);
    memset(&q, 0, sizeof(q));
    q.mode = ms_mode(req->meta.mode);
    q.has_cas = HAS(req, 'C');
    q.cas = req->meta.cas;
    q.invalidate = HAS(req, 'I');
    q.new_cas = req->meta.new_cas;
    q.key_binary = req->meta.key_is_b64;
    q.vivify = HAS(req, 'N');
    q.vivify_exptime = store_exptime(cx->st, req->meta.vivify);
    rc = store_set(cx->ses, it, &q, res);
    item_unref(it);
    if (rc < 0 && (q.mode == STORE_APPEND || q.mode == STORE_PREPEND)) {
        rc = STORE_NOT_STORED;  /* as the classic append */
    }
    return rc;
}

static void
ms_count_cas(const struct exec_ctx *cx, int rc)
{
    if (rc == STORE_OK) {
        STATS_INCR(cx->ts, cas_hits);
    } else if (rc == STORE_EXISTS) {
        STATS_INCR(cx->ts, cas_badval);
    } else if (rc == STORE_MISS) {
        STATS_INCR(cx->ts, cas_misses);
    }
}

static int
exec_ms(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    static const char *const codes[] = {"HD", "NF", "EX", "NS"};
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    struct mkey k;
    struct store_set_res res = { 0, 0 };
    const char *t;
    size_t n;
    int rc;

    if (!key_of(req, &k)) {
        compose_line(r, COMPOSE_META_KEY);
        return EXEC_CONTINUE;
    }
    STATS_INCR(cx->ts, cmd_set);
    rc = ms_store(cx, req, &k, &res);
    if (HAS(req, 'C')) {
        ms_count_cas(cx, rc);
    }
    if (rc < 0) {
        ms_failed(cx, rc, r);
        return EXEC_CONTINUE;
    }
    if (rc == STORE_OK && HAS(req, 'q')) {
        return EXEC_CONTINUE;
    }
    compose_meta_begin(r, codes[rc]);
    while (proto_next_key(&pos, end, &t, &n)) {
        if (echo_common(r, req, t[0], &k, req->meta.key_is_b64)) {
            continue;
        }
        if (t[0] == 'c') {
            compose_meta_u64(r, 'c', rc == STORE_OK ? shown_cas(cx, res.cas)
                                                    : 0);
        } else if (t[0] == 's' && rc == STORE_OK) {
            compose_meta_u64(r, 's', res.size);
        }
    }
    compose_meta_end(r);
    return EXEC_CONTINUE;
}

/* ---- md --------------------------------------------------------------- */

static int
exec_md(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    static const char *const codes[] = {"HD", "NF", "EX"};
    struct store_del_opt q;
    struct mkey k;
    int rc;

    if (!key_of(req, &k)) {
        compose_line(r, COMPOSE_META_FLAG_OR_DUP);
        return EXEC_CONTINUE;
    }
    memset(&q, 0, sizeof(q));
    q.has_cas = HAS(req, 'C');
    q.cas = req->meta.cas;
    q.invalidate = HAS(req, 'I');
    q.strip = HAS(req, 'x');
    q.touch = HAS(req, 'T') && (q.invalidate || q.strip);
    q.exptime = store_exptime(cx->st, req->meta.ttl);
    q.new_cas = req->meta.new_cas;
    rc = store_delete(cx->ses, k.p, k.n, &q);
    if (rc < 0) {
        STATS_INCR(cx->ts, store_no_memory);
        compose_line(r, COMPOSE_NO_MEMORY);
        return EXEC_CONTINUE;
    }
    /* 1.6.18 counts only real deletes as hits, and EX as a miss */
    if (rc == STORE_OK) {
        STATS_ADD(cx->ts, delete_hits, !q.invalidate && !q.strip);
        if (HAS(req, 'q')) {
            return EXEC_CONTINUE;
        }
    } else {
        STATS_INCR(cx->ts, delete_misses);
    }
    miss_line(req, &k, codes[rc == STORE_EXISTS ? 2 : rc], r);
    return EXEC_CONTINUE;
}

/* ---- ma --------------------------------------------------------------- */

static void
ma_count(const struct exec_ctx *cx, bool incr, bool hit)
{
    if (incr) {
        STATS_ADD(cx->ts, incr_hits, hit);
        STATS_ADD(cx->ts, incr_misses, !hit);
    } else {
        STATS_ADD(cx->ts, decr_hits, hit);
        STATS_ADD(cx->ts, decr_misses, !hit);
    }
}

static void
ma_reply(const struct exec_ctx *cx, const struct request *req,
         const struct mkey *k, const struct store_arith_res *res,
         struct reply *r)
{
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    const char *t;
    size_t n;
    uint32_t exp = res->exptime_before;   /* as in mg_flags */

    if (HAS(req, 'v')) {
        compose_meta_va(r, compose_u64_len(res->value));
    } else {
        compose_meta_begin(r, "HD");
    }
    while (proto_next_key(&pos, end, &t, &n)) {
        if (echo_common(r, req, t[0], k, req->meta.key_is_b64)) {
            continue;
        }
        if (t[0] == 'c') {
            compose_meta_u64(r, 'c', shown_cas(cx, res->cas));
        } else if (t[0] == 't') {
            compose_meta_i64(r, 't', ttl_of(exp, store_now(cx->st)));
        } else if (t[0] == 'T' || t[0] == 'N') {
            exp = line_ttl(cx, req, t[0], res->vivified, exp);
        }
    }
    compose_meta_end(r);
    if (HAS(req, 'v')) {
        compose_number(r, res->value);
    }
}

static int
exec_ma(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    struct store_arith_opt q;
    struct store_arith_res res;
    struct mkey k;
    int rc;

    if (!key_of(req, &k)) {
        compose_line(r, COMPOSE_META_FLAG_OR_DUP);
        return EXEC_CONTINUE;
    }
    memset(&q, 0, sizeof(q));
    q.decr = req->meta.mode == 'D';
    q.delta = req->meta.delta;
    q.has_cas = HAS(req, 'C') && req->meta.cas != 0;   /* ma: C0 is off */
    q.cas = req->meta.cas;
    q.new_cas = req->meta.new_cas;
    q.vivify = HAS(req, 'N');
    q.initial = req->meta.initial;
    q.vivify_exptime = vivify_exptime(cx, req);
    q.touch = HAS(req, 'T');
    q.exptime = store_exptime(cx->st, req->meta.ttl);
    rc = store_arith(cx->ses, k.p, k.n, &q, &res);
    /* counted: hits and plain misses; not a vivify, EX or non-numeric */
    if ((rc == STORE_OK && !res.vivified) || rc == STORE_MISS) {
        ma_count(cx, !q.decr, rc == STORE_OK);
    }
    switch (rc) {
    case STORE_OK:
    case STORE_MISS:
    case STORE_EXISTS:
        break;
    case STORE_NON_NUMERIC:
        compose_line(r, COMPOSE_NON_NUMERIC);
        return EXEC_CONTINUE;
    default:
        if (!q.vivify) {
            STATS_INCR(cx->ts, store_no_memory);
            compose_line(r, COMPOSE_NO_MEMORY);
            return EXEC_CONTINUE;
        }
        break;  /* the vivified item could not be stored: NS */
    }
    if (req->meta.nopaque > PROTO_META_OPAQUE_MAX) {
        /* 1.6.18 measures ma's opaque only as it echoes it, after the
         * arithmetic: the change stands, the answer is the error */
        compose_line(r, COMPOSE_META_OPAQUE);
    } else if (rc != STORE_OK) {
        miss_line(req, &k, rc == STORE_MISS     ? "NF"
                           : rc == STORE_EXISTS ? "EX"
                                                : "NS", r);
    } else if (!HAS(req, 'q') || res.vivified) {
        ma_reply(cx, req, &k, &res, r);
    }
    return EXEC_CONTINUE;
}

/* ---- me, mn ----------------------------------------------------------- */

static int
exec_me(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    struct store_get_opt q;
    struct store_get_res res;
    struct compose_me me;
    struct mkey k;
    const struct item *it;
    uint32_t now = store_now(cx->st);

    if (!key_of(req, &k)) {
        compose_line(r, COMPOSE_FORMAT);
        return EXEC_CONTINUE;
    }
    memset(&q, 0, sizeof(q));
    q.peek = true;
    if (store_get(cx->ses, k.p, k.n, &q, &res) != STORE_OK) {
        compose_line(r, COMPOSE_EN);
        return EXEC_CONTINUE;
    }
    it = res.it;
    me.key = item_key(it);
    me.nkey = item_nkey(it);
    me.binary = (item_state_bits(it) & STORE_STATE_KEY_BINARY) != 0;
    me.exp = item_exptime(it) == 0 ? -1
             : item_exptime(it) > now ? (int64_t)(item_exptime(it) - now)
                                      : 0;
    me.la = now - res.atime_before;
    me.cas = shown_cas(cx, item_cas(it));
    me.fetched = res.fetched_before;
    me.cls = item_class_id(it);
    me.size = item_total_size(it);
    compose_me(r, &me);
    item_unref(res.it);
    return EXEC_CONTINUE;
}
void
exec_meta_too_large(const struct exec_ctx *cx, const struct request *req,
                    struct reply *r)
{
    struct mkey k;

    STATS_INCR(cx->ts, cmd_set);
    if (key_of(req, &k)) {
        (void)store_delete(cx->ses, k.p, k.n, NULL);
    }
    ms_failed(cx, STORE_ETOOLARGE, r);
}

int
exec_meta(const struct exec_ctx *cx, const struct request *req,
          struct reply *r)
{
    switch (req->cmd) {
    case PROTO_CMD_MG:
        return exec_mg(cx, req, r);
    case PROTO_CMD_MS:
        return exec_ms(cx, req, r);
    case PROTO_CMD_MD:
        return exec_md(cx, req, r);
    case PROTO_CMD_MA:
        return exec_ma(cx, req, r);
    case PROTO_CMD_ME:
        return exec_me(cx, req, r);
    default:
        compose_line(r, COMPOSE_MN);
        return EXEC_CONTINUE;
    }
}
