/*
 * exec_meta.c -- the meta commands against the store (see exec_meta.h).
 *
 * Each command: decode the key (base64 with b), call the store verb
 * (store_get, store_set, store_delete, store_arith) with the options the
 * flags ask for, which does the whole operation under the key's stripe
 * lock,
 * then write the reply line with the return flags in the order the
 * client sent them. Observed memcached 1.6.18 behaviour kept here:
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
 *  - a key stored with b is echoed base64 with " b" after it.
 * Deliberate differences: base64 keys are decoded strictly (memcached
 * skips bad characters); me's exp is the TTL left (1.6.18 prints its
 * negative; later versions fixed that); flags of 1.6.19+ (E, md x,
 * ms N, ms s) work as the current protocol.txt says, where 1.6.18
 * refuses or ignores them.
 */
#include "config.h"

#include "daemon/exec_meta.h"

#include "daemon/exec.h"
#include "daemon/proto.h"
#include "daemon/proto_util.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define LIT(r, s) reply_text((r), (s), sizeof(s) - 1)
#define HAS(req, c) (((req)->meta.flags & PROTO_MF(c)) != 0)

/* A reply line: longest is a base64 key (336) + opaque + numbers. */
struct mline {
    char buf[768];
    size_t n;
};

static void
put(struct mline *l, const char *s, size_t n)
{
    if (n <= sizeof(l->buf) - l->n) {
        memcpy(l->buf + l->n, s, n);
        l->n += n;
    }
}

static void
put_flag_u64(struct mline *l, char flag, uint64_t v)
{
    char num[2 + 21];

    num[0] = ' ';
    num[1] = flag;
    put(l, num, 2 + reply_u64toa(v, num + 2));
}

static void
put_flag_i64(struct mline *l, char flag, int64_t v)
{
    char num[3 + 21];
    size_t n = 2;

    num[0] = ' ';
    num[1] = flag;
    if (v < 0) {
        num[n++] = '-';
        n += reply_u64toa((uint64_t)0 - (uint64_t)v, num + n);
    } else {
        n += reply_u64toa((uint64_t)v, num + n);
    }
    put(l, num, n);
}

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

/* KEY as text: base64 when it is binary. */
static void
put_keytext(struct mline *l, const char *key, size_t nkey, bool binary)
{
    char enc[(STORE_KEY_MAX + 2) / 3 * 4];

    if (binary) {
        put(l, enc, proto_b64_encode(key, nkey, enc));
    } else {
        put(l, key, nkey);
    }
}

/* " k<key>", base64 with " b" after it when the key is binary. */
static void
put_key(struct mline *l, const char *key, size_t nkey, bool binary)
{
    put(l, " k", 2);
    put_keytext(l, key, nkey, binary);
    if (binary) {
        put(l, " b", 2);
    }
}

/* O and k, which every meta reply echoes; true when FLAG was one. */
static bool
put_common(struct mline *l, const struct request *req, char flag,
           const struct mkey *k, bool binary)
{
    if (flag == 'O') {
        put(l, " O", 2);
        put(l, req->meta.opaque, req->meta.nopaque);
        return true;
    }
    if (flag == 'k') {
        put_key(l, k->p, k->n, binary);
        return true;
    }
    return false;
}

/* The reply: CODE, flags, "\r\n"; the value of IT after it when given. */
static void
send_line(struct reply *r, const char *code, const struct mline *l)
{
    reply_text(r, code, 2);
    reply_text(r, l->buf, l->n);
    LIT(r, "\r\n");
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
         struct mline *l)
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
        if (put_common(l, req, t[0], k, binary)) {
            continue;
        }
        switch (t[0]) {
        case 'c': put_flag_u64(l, 'c', shown_cas(cx, item_cas(it))); break;
        case 'f': put_flag_u64(l, 'f', item_flags(it)); break;
        case 'h': put_flag_u64(l, 'h', res->fetched_before); break;
        case 'l': put_flag_u64(l, 'l', now - res->atime_before); break;
        case 's': put_flag_u64(l, 's', item_nvalue(it)); break;
        case 't': put_flag_i64(l, 't', ttl_of(exp, now)); break;
        case 'N': case 'T':
            exp = line_ttl(cx, req, t[0], res->vivified, exp);
            break;
        default: break;
        }
    }
    if (res->won) {
        put(l, res->stale ? " X W" : " W", res->stale ? 4 : 2);
    } else if (res->already_won) {
        put(l, res->stale ? " Z X" : " Z", res->stale ? 4 : 2);
    } else if (res->stale) {
        put(l, " X", 2);
    }
}

/* O and k on a miss (1.6.18 echoes them on EN). */
static void
miss_flags(const struct request *req, const struct mkey *k,
           struct mline *l)
{
    const char *pos = req->meta.tokens;
    const char *end = pos + req->meta.tokens_len;
    const char *t;
    size_t n;

    while (proto_next_key(&pos, end, &t, &n)) {
        (void)put_common(l, req, t[0], k, req->meta.key_is_b64);
    }
}

static int
exec_mg(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    struct store_get_opt q;
    struct store_get_res res;
    struct mkey k;
    struct mline l;
    int rc;

    if (!key_of(req, &k)) {
        LIT(r, "CLIENT_ERROR error decoding key\r\n");
        return EXEC_CONTINUE;
    }
    mg_req(cx, req, &q);
    rc = store_get(cx->ses, k.p, k.n, &q, &res);
    l.n = 0;
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
            miss_flags(req, &k, &l);
            send_line(r, "EN", &l);
        }
        return EXEC_CONTINUE;
    }
    mg_flags(cx, req, &k, &res, &l);
    if (HAS(req, 'v')) {
        char num[2 + 21];

        memcpy(num, "VA ", 3);
        reply_text(r, num, 3 + reply_u64toa(item_nvalue(res.it), num + 3));
        reply_text(r, l.buf, l.n);
        LIT(r, "\r\n");
        reply_item(r, res.it);  /* the reference now belongs to the reply */
    } else {
        send_line(r, "HD", &l);
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
        LIT(r, "SERVER_ERROR object too large for cache\r\n");
    } else {
        STATS_INCR(cx->ts, store_no_memory);
        LIT(r, "SERVER_ERROR out of memory storing object\r\n");
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
    struct mline l;
    struct store_set_res res = { 0, 0 };
    const char *t;
    size_t n;
    int rc;

    if (!key_of(req, &k)) {
        LIT(r, "CLIENT_ERROR error decoding key\r\n");
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
    l.n = 0;
    while (proto_next_key(&pos, end, &t, &n)) {
        if (put_common(&l, req, t[0], &k, req->meta.key_is_b64)) {
            continue;
        }
        if (t[0] == 'c') {
            put_flag_u64(&l, 'c', rc == STORE_OK ? shown_cas(cx, res.cas)
                                                 : 0);
        } else if (t[0] == 's' && rc == STORE_OK) {
            put_flag_u64(&l, 's', res.size);
        }
    }
    send_line(r, codes[rc], &l);
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
    struct mline l;
    int rc;

    if (!key_of(req, &k)) {
        LIT(r, "CLIENT_ERROR invalid or duplicate flag\r\n");
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
        LIT(r, "SERVER_ERROR out of memory\r\n");
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
    l.n = 0;
    miss_flags(req, &k, &l);
    send_line(r, codes[rc == STORE_EXISTS ? 2 : rc], &l);
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
    char num[4 + 21];
    struct mline l;
    const char *t;
    size_t n, nnum;
    uint32_t exp = res->exptime_before;   /* as in mg_flags */

    l.n = 0;
    while (proto_next_key(&pos, end, &t, &n)) {
        if (put_common(&l, req, t[0], k, req->meta.key_is_b64)) {
            continue;
        }
        if (t[0] == 'c') {
            put_flag_u64(&l, 'c', shown_cas(cx, res->cas));
        } else if (t[0] == 't') {
            put_flag_i64(&l, 't', ttl_of(exp, store_now(cx->st)));
        } else if (t[0] == 'T' || t[0] == 'N') {
            exp = line_ttl(cx, req, t[0], res->vivified, exp);
        }
    }
    if (!HAS(req, 'v')) {
        send_line(r, "HD", &l);
        return;
    }
    nnum = reply_u64toa(res->value, num);
    LIT(r, "VA ");
    reply_u64(r, nnum);
    reply_text(r, l.buf, l.n);
    LIT(r, "\r\n");
    reply_text(r, num, nnum);
    LIT(r, "\r\n");
}

static int
exec_ma(const struct exec_ctx *cx, const struct request *req,
        struct reply *r)
{
    struct store_arith_opt q;
    struct store_arith_res res;
    struct mkey k;
    struct mline l;
    int rc;

    if (!key_of(req, &k)) {
        LIT(r, "CLIENT_ERROR invalid or duplicate flag\r\n");
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
    l.n = 0;
    switch (rc) {
    case STORE_OK:
        if (!HAS(req, 'q') || res.vivified) {
            ma_reply(cx, req, &k, &res, r);
        }
        break;
    case STORE_MISS:
    case STORE_EXISTS:
        miss_flags(req, &k, &l);
        send_line(r, rc == STORE_MISS ? "NF" : "EX", &l);
        break;
    case STORE_NON_NUMERIC:
        LIT(r, "CLIENT_ERROR cannot increment or decrement non-numeric "
               "value\r\n");
        break;
    default:
        if (q.vivify) {
            miss_flags(req, &k, &l);
            send_line(r, "NS", &l);
        } else {
            STATS_INCR(cx->ts, store_no_memory);
            LIT(r, "SERVER_ERROR out of memory\r\n");
        }
        break;
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
    struct mkey k;
    struct mline l;
    const struct item *it;
    uint32_t now = store_now(cx->st);

    if (!key_of(req, &k)) {
        LIT(r, "CLIENT_ERROR bad command line format\r\n");
        return EXEC_CONTINUE;
    }
    memset(&q, 0, sizeof(q));
    q.no_bump = true;
    if (store_get(cx->ses, k.p, k.n, &q, &res) != STORE_OK) {
        LIT(r, "EN\r\n");
        return EXEC_CONTINUE;
    }
    it = res.it;
    l.n = 0;
    put_keytext(&l, item_key(it), item_nkey(it),
                (item_state_bits(it) & STORE_STATE_KEY_BINARY) != 0);
    LIT(r, "ME ");
    reply_text(r, l.buf, l.n);
    if (item_exptime(it) == 0) {
        LIT(r, " exp=-1");
    } else {
        LIT(r, " exp=");
        reply_u64(r, item_exptime(it) > now ? item_exptime(it) - now : 0);
    }
    LIT(r, " la=");
    reply_u64(r, now - res.atime_before);
    LIT(r, " cas=");
    reply_u64(r, shown_cas(cx, item_cas(it)));
    reply_str(r, res.fetched_before ? " fetch=yes" : " fetch=no");
    LIT(r, " cls=");
    reply_u64(r, item_class_id(it));
    LIT(r, " size=");
    reply_u64(r, item_total_size(it));
    LIT(r, "\r\n");
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
        LIT(r, "MN\r\n");
        return EXEC_CONTINUE;
    }
}
