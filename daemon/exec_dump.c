/*
 * exec_dump.c -- lru_crawler metadump and stats cachedump (see
 * exec_dump.h). Differences from memcached 1.6.18, on purpose: class ids
 * are ember's (0 to 255, 0 the large items; `cls=` says which), an item
 * that is expired or flushed is not listed by cachedump either, and
 * several metadumps may run at once (memcached answers BUSY).
 */
#include "config.h"

#include "daemon/exec_dump.h"

#include "daemon/compose.h"
#include "daemon/exec.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "storage/store.h"
#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PROTO_DUMP_CLASSES == STORE_CLASS_IDS,
               "the parser's class ids are the store's");

/* Items per walk step: a stripe lock is held while they are referenced. */
#define METADUMP_BATCH 256
/* memcached's bound on one cachedump reply, its END and a NUL included */
#define CACHEDUMP_MAX ((size_t)2 << 20)
#define CACHEDUMP_TAIL 6

struct exec_dump {
    struct store_walk walk;
    uint8_t classes[PROTO_DUMP_CLASSES / 8];
};

void
exec_dump_free(struct exec_dump **dp)
{
    if (*dp == NULL) {
        return;
    }
    store_walk_release(&(*dp)->walk);
    free(*dp);
    *dp = NULL;
}

/* ---- metadump ------------------------------------------------------- */

struct dump_step {
    const struct exec_ctx *cx;
    const struct exec_dump *d;
    struct reply *r;
};

static int
dump_item(void *arg, struct item *it)
{
    struct dump_step *ds = arg;
    unsigned cls = item_class_id(it);
    struct compose_me line;

    if ((ds->d->classes[cls / 8] & (1u << (cls % 8))) == 0) {
        return 0;
    }
    line.key = item_key(it);
    line.nkey = item_nkey(it);
    line.binary = false;
    line.exp = item_exptime(it) == 0 ? -1 : (int64_t)item_exptime(it);
    line.la = item_atime(it);
    line.cas = ds->cx->set->cas_disabled ? 0 : item_cas(it);
    line.fetched = (item_state_bits(it) & STORE_STATE_FETCHED) != 0;
    line.cls = cls;
    line.size = item_total_size(it);
    compose_metadump(ds->r, &line);
    return 0;
}

/*
 * Walk on until the end (END, EXEC_CONTINUE) or, with STOP, until R is
 * full (EXEC_RESUME).
 */
static int
metadump_run(const struct exec_ctx *cx, struct exec_dump *d,
             struct reply *r, bool stop)
{
    struct dump_step ds = { cx, d, r };

    while (!store_walk_done(&d->walk)) {
        if (store_walk_step(cx->st, &d->walk, METADUMP_BATCH, dump_item,
                            &ds) == STORE_ENOMEM) {
            compose_line(r, COMPOSE_NO_MEMORY);     /* instead of END */
            return EXEC_CONTINUE;
        }
        if (!store_walk_done(&d->walk) &&
            (r->oom || (stop && reply_full(r)))) {
            return EXEC_RESUME;
        }
    }
    compose_line(r, COMPOSE_END);
    return EXEC_CONTINUE;
}

int
exec_metadump(const struct exec_ctx *cx, const struct request *req,
              struct reply *r, struct exec_resume *rs)
{
    struct exec_dump *d;
    int action;

    if (cx->set->dump_disabled) {
        compose_line(r, COMPOSE_METADUMP_DISABLED);
        return EXEC_CONTINUE;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        compose_line(r, COMPOSE_NO_MEMORY);
        return EXEC_CONTINUE;
    }
    store_walk_init(&d->walk);
    /* the parser checked the list: this cannot fail */
    (void)proto_dump_classes(req->arg, req->narg, d->classes);
    action = metadump_run(cx, d, r, rs != NULL);
    if (action == EXEC_RESUME) {
        memset(rs, 0, sizeof(*rs));
        rs->dump = d;
        return EXEC_RESUME;
    }
    exec_dump_free(&d);
    return action;
}

int
exec_metadump_resume(const struct exec_ctx *cx, struct exec_resume *rs,
                     struct reply *r)
{
    int action = metadump_run(cx, rs->dump, r, true);

    if (action != EXEC_RESUME) {
        exec_dump_free(&rs->dump);
    }
    return action;
}

/* ---- cachedump ------------------------------------------------------ */

struct cachedump {
    struct reply *r;
    uint64_t limit;             /* 0: none */
    uint64_t shown;
    size_t bytes;
};

static int
cachedump_item(void *arg, const struct item *it)
{
    struct cachedump *cd = arg;
    uint64_t exp = item_exptime(it);
    size_t len = compose_cachedump_len(item_nkey(it), item_nvalue(it), exp);

    /* memcached does not print binary keys here */
    if (item_state_bits(it) & STORE_STATE_KEY_BINARY) {
        return 0;
    }
    if (cd->bytes + len + CACHEDUMP_TAIL > CACHEDUMP_MAX) {
        return 1;
    }
    compose_cachedump(cd->r, item_key(it), item_nkey(it), item_nvalue(it),
                      exp);
    cd->bytes += len;
    cd->shown++;
    return cd->limit != 0 && cd->shown >= cd->limit;
}

/* memcached's safe_strtoul: a number, a '-' only on 0. */
static bool
scan_u64(const char *p, size_t n, uint64_t *out)
{
    bool neg;
    uint64_t mag;

    if (!util_scan_signed(p, n, &neg, &mag) || (neg && mag != 0)) {
        return false;
    }
    *out = mag;
    return true;
}

void
exec_cachedump(const struct exec_ctx *cx, const char *arg, size_t narg,
               struct reply *r)
{
    const char *pos = arg, *end = arg + narg;
    const char *tok[3];
    size_t ntok[3];
    size_t n = 0;
    uint64_t id;
    struct cachedump cd = { r, 0, 0, 0 };

    if (cx->set->dump_disabled) {
        compose_line(r, COMPOSE_CACHEDUMP_DISABLED);
        return;
    }
    while (n < 3 && proto_next_key(&pos, end, &tok[n], &ntok[n])) {
        n++;
    }
    if (n < 3) {
        compose_line(r, COMPOSE_BAD_LINE);
        return;
    }
    if (!scan_u64(tok[1], ntok[1], &id) ||
        !scan_u64(tok[2], ntok[2], &cd.limit)) {
        compose_line(r, COMPOSE_FORMAT);
        return;
    }
    if (id >= STORE_CLASS_IDS) {
        compose_line(r, COMPOSE_ILLEGAL_SLAB);
        return;
    }
    (void)store_class_lru(cx->st, (unsigned)id, cachedump_item, &cd);
    compose_line(r, COMPOSE_END);
}
