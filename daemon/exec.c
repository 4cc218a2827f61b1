/*
 * exec.c -- the one file joining protocol and storage (see exec.h).
 *
 * Each command is a short function: call the store, count, and say which
 * reply memcached would send (compose.c writes its bytes). The replies
 * and counters follow memcached 1.6.18 as observed (doc/protocol.txt plus
 * the real daemon).
 */
#include "config.h"

#include "daemon/exec.h"
#include "daemon/exec_dump.h"
#include "daemon/exec_meta.h"

#include "daemon/compose.h"
#include "daemon/log.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- retrieval ------------------------------------------------------- */

/* One key of a multi-get: a VALUE block on a hit, counted as memcached
 * counts it (gat/gats as touches only, not gets). */
static void
retrieve_one(const struct exec_ctx *cx, const char *key, size_t nkey,
             const struct store_get_opt *opt, bool with_cas,
             struct reply *r)
{
    struct store_get_res res;

    if (opt->touch) {
        STATS_INCR(cx->ts, cmd_touch);
    } else {
        STATS_INCR(cx->ts, cmd_get);
    }
    if (store_get(cx->ses, key, nkey, opt->touch ? opt : NULL, &res) !=
        STORE_OK) {
        if (opt->touch) {
            STATS_INCR(cx->ts, touch_misses);
        } else {
            STATS_INCR(cx->ts, get_misses);
            STATS_ADD(cx->ts, get_expired, res.expired);
        }
        return;
    }
    if (opt->touch) {
        STATS_INCR(cx->ts, touch_hits);
    } else {
        STATS_INCR(cx->ts, get_hits);
    }
    /* the reference now belongs to the reply */
    compose_value(r, res.it, with_cas,
                  cx->set->cas_disabled ? 0 : item_cas(res.it));
}

/*
 * The keys of RS from rs->pos on. With STOP, once R is full (and at
 * least one key was answered) the rest waits in RS: EXEC_RESUME. At
 * the end, END unless the line goes on.
 */
static int
retrieve_keys(const struct exec_ctx *cx, struct exec_resume *rs, bool stop,
              struct reply *r)
{
    bool touch = rs->cmd == PROTO_CMD_GAT || rs->cmd == PROTO_CMD_GATS;
    bool with_cas = rs->cmd == PROTO_CMD_GETS || rs->cmd == PROTO_CMD_GATS;
    struct store_get_opt opt = { .touch = touch, .exptime = rs->exptime };
    const char *key;
    size_t nkey;
    bool first = true;

    while (proto_next_key(&rs->pos, rs->end, &key, &nkey)) {
        if (stop && !first && reply_full(r)) {
            rs->pos = key;
            return EXEC_RESUME;
        }
        first = false;
        retrieve_one(cx, key, nkey, &opt, with_cas, r);
    }
    rs->pos = NULL;
    if (!rs->more) {
        compose_line(r, COMPOSE_END);
    }
    return EXEC_CONTINUE;
}

/* get, gets, gat, gats: one VALUE block per hit, then END. */
static int
exec_retrieve(const struct exec_ctx *cx, const struct request *req,
              struct reply *r, struct exec_resume *rs)
{
    struct exec_resume left = {
        .pos = req->keys, .end = req->keys + req->keys_len,
        .cmd = req->cmd, .more = req->more };
    int action;

    if (req->cmd == PROTO_CMD_GAT || req->cmd == PROTO_CMD_GATS) {
        left.exptime = store_exptime(cx->st, req->exptime);
    }
    action = retrieve_keys(cx, &left, rs != NULL, r);
    if (action == EXEC_RESUME) {
        *rs = left;
    }
    return action;
}

int
exec_resume(const struct exec_ctx *cx, struct exec_resume *rs,
            struct reply *r)
{
    if (rs->dump != NULL) {
        return exec_metadump_resume(cx, rs, r);
    }
    return retrieve_keys(cx, rs, true, r);
}

void
exec_resume_release(struct exec_resume *rs)
{
    exec_dump_free(&rs->dump);
    memset(rs, 0, sizeof(*rs));
}

/* ---- storage commands ------------------------------------------------ */

static enum store_mode
store_mode_of(enum proto_cmd cmd)
{
    switch (cmd) {
    case PROTO_CMD_ADD: return STORE_ADD;
    case PROTO_CMD_REPLACE: return STORE_REPLACE;
    case PROTO_CMD_APPEND: return STORE_APPEND;
    case PROTO_CMD_PREPEND: return STORE_PREPEND;
    default: return STORE_SET;      /* set, and cas (set with a CAS) */
    }
}

/*
 * A set that cannot be stored must not leave the old value behind: the
 * client believes it replaced it (memcached unlinks it too).
 */
static void
store_failed(const struct exec_ctx *cx, enum proto_cmd cmd, const char *key,
             size_t nkey, int rc, struct reply *r)
{
    if (cmd == PROTO_CMD_SET && key != NULL && nkey > 0) {
        (void)store_delete(cx->ses, key, nkey, NULL);
    }
    if (rc == STORE_ETOOLARGE) {
        STATS_INCR(cx->ts, store_too_large);
        compose_line(r, COMPOSE_TOO_LARGE);
    } else if (rc == STORE_ENOMEM) {
        STATS_INCR(cx->ts, store_no_memory);
        compose_line(r, COMPOSE_STORE_NO_MEMORY);
    } else {
        compose_line(r, COMPOSE_FORMAT);
    }
}

static void
store_result(const struct exec_ctx *cx, bool is_cas, int rc,
             struct reply *r)
{
    switch (rc) {
    case STORE_OK:
        if (is_cas) {
            STATS_INCR(cx->ts, cas_hits);
        }
        compose_line(r, COMPOSE_STORED);
        break;
    case STORE_EXISTS:
        STATS_INCR(cx->ts, cas_badval);
        compose_line(r, COMPOSE_EXISTS);
        break;
    case STORE_MISS:
        STATS_INCR(cx->ts, cas_misses);
        compose_line(r, COMPOSE_NOT_FOUND);
        break;
    default: /* STORE_NOT_STORED */
        compose_line(r, COMPOSE_NOT_STORED);
        break;
    }
}

static int
exec_update(const struct exec_ctx *cx, const struct request *req,
            struct reply *r)
{
    struct store_set_opt opt = { .mode = store_mode_of(req->cmd) };
    bool concat = opt.mode == STORE_APPEND || opt.mode == STORE_PREPEND;
    struct item *it;
    int rc;

    it = store_alloc(cx->st, req->key, req->nkey, req->flags,
                     store_exptime(cx->st, req->exptime), req->vlen, false,
                     &rc);
    if (it == NULL) {
        /* memcached counts cmd_set once the value has a home */
        store_failed(cx, req->cmd, req->key, req->nkey, rc, r);
        return EXEC_CONTINUE;
    }
    STATS_INCR(cx->ts, cmd_set);
    memcpy(item_value_mut(it), req->value, req->vlen);
    if (req->cmd == PROTO_CMD_CAS) {
        /* -C: clients saw CAS 0 and no real CAS can match it */
        opt.has_cas = true;
        opt.cas = cx->set->cas_disabled ? 0 : req->cas;
    }
    rc = store_set(cx->ses, it, &opt, NULL);
    item_unref(it);
    if (rc < 0 && concat) {
        /* memcached: a combined value it cannot allocate is NOT_STORED */
        rc = STORE_NOT_STORED;
    }
    if (rc < 0) {
        store_failed(cx, req->cmd, req->key, req->nkey, rc, r);
    } else {
        store_result(cx, req->cmd == PROTO_CMD_CAS, rc, r);
    }
    return EXEC_CONTINUE;
}

/* ---- other key commands --------------------------------------------- */

static int
exec_arith(const struct exec_ctx *cx, const struct request *req,
           struct reply *r)
{
    bool incr = req->cmd == PROTO_CMD_INCR;
    struct store_arith_opt opt = { .decr = !incr, .delta = req->delta };
    struct store_arith_res res;
    uint64_t value;
    int rc;

    rc = store_arith(cx->ses, req->key, req->nkey, &opt, &res);
    value = res.value;
    switch (rc) {
    case STORE_OK:
        if (incr) {
            STATS_INCR(cx->ts, incr_hits);
        } else {
            STATS_INCR(cx->ts, decr_hits);
        }
        compose_number(r, value);
        break;
    case STORE_MISS:
        if (incr) {
            STATS_INCR(cx->ts, incr_misses);
        } else {
            STATS_INCR(cx->ts, decr_misses);
        }
        compose_line(r, COMPOSE_NOT_FOUND);
        break;
    case STORE_NON_NUMERIC:
        compose_line(r, COMPOSE_NON_NUMERIC);
        break;
    case STORE_ENOMEM:
        STATS_INCR(cx->ts, store_no_memory);
        compose_line(r, COMPOSE_NO_MEMORY);
        break;
    default:
        compose_server_error(r, store_strerror(rc), NULL);
        break;
    }
    return EXEC_CONTINUE;
}

static int
exec_delete(const struct exec_ctx *cx, const struct request *req,
            struct reply *r)
{
    if (store_delete(cx->ses, req->key, req->nkey, NULL) == STORE_OK) {
        STATS_INCR(cx->ts, delete_hits);
        compose_line(r, COMPOSE_DELETED);
    } else {
        STATS_INCR(cx->ts, delete_misses);
        compose_line(r, COMPOSE_NOT_FOUND);
    }
    return EXEC_CONTINUE;
}

static int
exec_touch(const struct exec_ctx *cx, const struct request *req,
           struct reply *r)
{
    struct store_get_opt opt = {
        .touch = true, .exptime = store_exptime(cx->st, req->exptime) };
    struct store_get_res res;

    STATS_INCR(cx->ts, cmd_touch);
    if (store_get(cx->ses, req->key, req->nkey, &opt, &res) == STORE_OK) {
        item_unref(res.it);
        STATS_INCR(cx->ts, touch_hits);
        compose_line(r, COMPOSE_TOUCHED);
    } else {
        STATS_INCR(cx->ts, touch_misses);
        compose_line(r, COMPOSE_NOT_FOUND);
    }
    return EXEC_CONTINUE;
}

/* ---- operator commands ----------------------------------------------- */

static int
exec_flush(const struct exec_ctx *cx, const struct request *req,
           struct reply *r)
{
    uint32_t when = 0;

    if (cx->set->flush_disabled) {
        compose_line(r, COMPOSE_FLUSH_DISABLED);
        return EXEC_CONTINUE;
    }
    STATS_INCR(cx->ts, cmd_flush);
    if (req->has_num && req->num > 0) {
        when = store_exptime(cx->st, req->num);
    }
    store_flush(cx->ses, when);
    compose_line(r, COMPOSE_OK);
    return EXEC_CONTINUE;
}

static int
exec_stats(const struct exec_ctx *cx, const struct request *req,
           struct reply *r)
{
    const struct stats_view view = { cx->set, cx->st, cx->snap };
    size_t n = req->arg != NULL ? req->narg : 0;

    /* stats cachedump <class> <limit>: the key listing (exec_dump.c) */
    if (n >= 9 && memcmp(req->arg, "cachedump", 9) == 0 &&
        (n == 9 || req->arg[9] == ' ')) {
        exec_cachedump(cx, req->arg, n, r);
        return EXEC_CONTINUE;
    }
    if (stats_render(cx->hub, &view, req->arg,
                     req->arg != NULL ? req->narg : 0, r) != STATS_OK) {
        compose_line(r, COMPOSE_ERROR);
    }
    return EXEC_CONTINUE;
}

static int
exec_admin(const struct exec_ctx *cx, const struct request *req,
           struct reply *r)
{
    switch (req->cmd) {
    case PROTO_CMD_VERSION:
        compose_line(r, COMPOSE_VERSION);
        return EXEC_CONTINUE;
    case PROTO_CMD_VERBOSITY:
        log_set_level(cx->log, req->has_num && req->num > 0
                                   ? (req->num > 2 ? 2 : (int)req->num)
                                   : 0);
        compose_line(r, COMPOSE_OK);
        return EXEC_CONTINUE;
    case PROTO_CMD_QUIT:
        return EXEC_CLOSE;
    case PROTO_CMD_SHUTDOWN:    /* plain or graceful: both drain */
        if (!cx->set->allow_shutdown) {
            compose_line(r, COMPOSE_SHUTDOWN_DISABLED);
            return EXEC_CONTINUE;
        }
        return EXEC_SHUTDOWN;
    case PROTO_CMD_SNAPSHOT:
        if (cx->snap == NULL) {
            compose_line(r, COMPOSE_SNAPSHOT_DISABLED);
            return EXEC_CONTINUE;
        }
        return EXEC_SNAPSHOT;   /* the connection replies when durable */
    default: /* PROTO_CMD_UNSUPPORTED */
        if (req->arg != NULL && req->narg > 0) {
            compose_unsupported(r, "", req->arg, req->narg);
        } else {
            compose_unsupported(r, "", "command", 7);
        }
        return EXEC_CONTINUE;
    }
}

static int
dispatch(const struct exec_ctx *cx, const struct request *req,
         struct reply *r, struct exec_resume *rs)
{
    switch (req->cmd) {
    case PROTO_CMD_GET: case PROTO_CMD_GETS:
    case PROTO_CMD_GAT: case PROTO_CMD_GATS:
        return exec_retrieve(cx, req, r, rs);
    case PROTO_CMD_SET: case PROTO_CMD_ADD: case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND: case PROTO_CMD_PREPEND: case PROTO_CMD_CAS:
        return exec_update(cx, req, r);
    case PROTO_CMD_INCR: case PROTO_CMD_DECR:
        return exec_arith(cx, req, r);
    case PROTO_CMD_DELETE:
        return exec_delete(cx, req, r);
    case PROTO_CMD_TOUCH:
        return exec_touch(cx, req, r);
    case PROTO_CMD_FLUSH_ALL:
        return exec_flush(cx, req, r);
    case PROTO_CMD_STATS:
        return exec_stats(cx, req, r);
    case PROTO_CMD_METADUMP:
        return exec_metadump(cx, req, r, rs);
    case PROTO_CMD_MG: case PROTO_CMD_MS: case PROTO_CMD_MD:
    case PROTO_CMD_MA: case PROTO_CMD_MN: case PROTO_CMD_ME:
        return exec_meta(cx, req, r);
    case PROTO_CMD_NONE:
        compose_line(r, COMPOSE_ERROR);
        return EXEC_CONTINUE;
    default:
        return exec_admin(cx, req, r);
    }
}

/* Whether REQ may change what a key holds, and so needs the journal. */
static bool
request_writes(const struct request *req)
{
    switch (req->cmd) {
    case PROTO_CMD_SET: case PROTO_CMD_ADD: case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND: case PROTO_CMD_PREPEND: case PROTO_CMD_CAS:
    case PROTO_CMD_INCR: case PROTO_CMD_DECR: case PROTO_CMD_DELETE:
    case PROTO_CMD_TOUCH: case PROTO_CMD_GAT: case PROTO_CMD_GATS:
    case PROTO_CMD_FLUSH_ALL: case PROTO_CMD_MS: case PROTO_CMD_MD:
    case PROTO_CMD_MA:
        return true;
    case PROTO_CMD_MG:
        return (req->meta.flags & (PROTO_MF('N') | PROTO_MF('T'))) != 0;
    default:
        return false;
    }
}

/*
 * A change that could not be journaled must not be acknowledged: while
 * the journal cannot be written (disk full, I/O error), writes are
 * refused up front and reads go on. Returns true when REQ was refused.
 * A gat line in pieces is answered once, at its last piece: the pieces
 * before it are dropped silently.
 */
static bool
refuse_unjournaled(const struct exec_ctx *cx, const struct request *req,
                   struct reply *r)
{
    char why[256];

    if (cx->snap == NULL || !request_writes(req) ||
        snap_journal_ok(cx->snap, why, sizeof(why))) {
        return false;
    }
    if (!req->more) {
        STATS_INCR(cx->ts, journal_refused);
        compose_server_error(r, "cannot write the journal: ", why);
    }
    return true;
}

int
exec_request(const struct exec_ctx *cx, const struct request *req,
             struct reply *r, struct exec_resume *rs)
{
    struct reply_mark m;
    int action = EXEC_CONTINUE;

    if (!req->noreply) {
        return refuse_unjournaled(cx, req, r) ? EXEC_CONTINUE
                                              : dispatch(cx, req, r, rs);
    }
    reply_mark(r, &m);
    if (!refuse_unjournaled(cx, req, r)) {
        action = dispatch(cx, req, r, NULL);
    }
    reply_rollback(r, &m);
    return action;
}

/* ---- protocol errors ------------------------------------------------- */

int
exec_invalid(const struct exec_ctx *cx, const struct request *req,
             const char *buf, size_t len, struct reply *r)
{
    struct reply_mark m;

    reply_mark(r, &m);
    switch (req->err) {
    case PROTO_ERR_HTTP:
        return EXEC_CLOSE_NOW;
    case PROTO_ERR_BINARY:
        /* one binary response, so a binary client fails clearly */
        compose_binary_refusal(r, buf, len);
        return EXEC_CLOSE;
    case PROTO_ERR_LINE_TOO_LONG:
        /* memcached closes silently; say why under -v at least */
        log_msg(cx->log, LOG_LVL_INFO, "request line too long; closing "
                "the connection");
        return EXEC_CLOSE;
    case PROTO_ERR_TOO_LARGE:
        if (req->cmd == PROTO_CMD_MS) {
            exec_meta_too_large(cx, req, r);
            break;
        }
        store_failed(cx, req->cmd, req->key, req->nkey, STORE_ETOOLARGE, r);
        break;
    case PROTO_ERR_BADCLASS:
    case PROTO_ERR_NOTSTARTED:
        /* memcached refuses a metadump under -X before reading classes */
        compose_line(r, cx->set->dump_disabled ? COMPOSE_METADUMP_DISABLED
                        : req->err == PROTO_ERR_BADCLASS ? COMPOSE_BADCLASS
                                                         : COMPOSE_NOTSTARTED);
        break;
    case PROTO_ERR_EXPTIME:
        if (req->cmd == PROTO_CMD_FLUSH_ALL && cx->set->flush_disabled) {
            compose_line(r, COMPOSE_FLUSH_DISABLED);
            break;
        }
        /* fall through */
    default:
        if (req->err == PROTO_ERR_SHUTDOWN_MODE &&
            !cx->set->allow_shutdown) {
            compose_line(r, COMPOSE_SHUTDOWN_DISABLED);
            break;
        }
        if (!compose_proto_err(r, req->err)) {
            compose_line(r, COMPOSE_ERROR);
        }
        break;
    }
    if (req->noreply) {
        reply_rollback(r, &m);
    }
    return EXEC_CONTINUE;
}
