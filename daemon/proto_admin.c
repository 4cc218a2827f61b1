/*
 * proto_admin.c -- memcached's operator commands with arguments that
 * ember checks the way memcached 1.6.18 does: `slabs`, `lru_crawler`
 * and the class list of `lru_crawler metadump`. Pure functions over the
 * tokens proto_text.c found (no I/O, no allocation).
 *
 * What ember serves of them is `lru_crawler metadump`; the other valid
 * forms (slabs automove/reassign, lru_crawler crawl/enable/...) tune
 * machinery ember does not have and are answered "not supported", but
 * a malformed one gets memcached's own error first, so a script that
 * checks its arguments against memcached sees the same answer.
 */
#include "config.h"

#include "daemon/proto.h"
#include "daemon/proto_util.h"

#include <string.h>

/* REQ names the operator command of TOK[0..N) (for "not supported"). */
static int
unsupported(const struct proto_tok *tok, size_t n, struct request *req)
{
    req->cmd = PROTO_CMD_UNSUPPORTED;
    req->arg = tok[0].p;
    req->narg = (size_t)(tok[n - 1].p + tok[n - 1].n - tok[0].p);
    return PROTO_OK;
}

static int
refuse(struct request *req, enum proto_err err)
{
    req->err = err;
    return PROTO_EINVALID;
}

/* memcached's safe_strtol: a number that fits 32 bits, signed. */
static bool
scan_i32(const struct proto_tok *t)
{
    int64_t v;

    return proto_scan_i64(t->p, t->n, &v) && v >= INT32_MIN &&
           v <= INT32_MAX;
}

int
proto_admin_slabs(const struct proto_tok *tok, size_t ntok,
                  struct request *req)
{
    uint64_t level;

    if (ntok == 4 && proto_tok_is(&tok[1], "reassign")) {
        if (!scan_i32(&tok[2]) || !scan_i32(&tok[3])) {
            return refuse(req, PROTO_ERR_FORMAT);
        }
        return unsupported(tok, 2, req);
    }
    if (ntok >= 3 && proto_tok_is(&tok[1], "automove")) {
        /* memcached reads the level with safe_strtoul: a bad number is
         * a format error, a number other than 0, 1, 2 is "ERROR" */
        if (!proto_scan_u64(tok[2].p, tok[2].n, UINT64_MAX, &level)) {
            return refuse(req, PROTO_ERR_FORMAT);
        }
        if (level > 2) {
            return refuse(req, PROTO_ERR_UNKNOWN);
        }
        return unsupported(tok, 2, req);
    }
    return refuse(req, PROTO_ERR_UNKNOWN);
}

int
proto_admin_lru_crawler(const struct proto_tok *tok, size_t ntok,
                        struct request *req)
{
    static const char *const with_arg[] = { "crawl", "tocrawl", "sleep",
                                            NULL };
    size_t i;
    int rc;

    if (ntok == 3 && proto_tok_is(&tok[1], "metadump")) {
        req->cmd = PROTO_CMD_METADUMP;
        rc = proto_dump_classes(tok[2].p, tok[2].n, NULL);
        if (rc != PROTO_OK) {
            return refuse(req, rc == PROTO_DUMP_NONE ? PROTO_ERR_NOTSTARTED
                                                     : PROTO_ERR_BADCLASS);
        }
        req->arg = tok[2].p;
        req->narg = tok[2].n;
        return PROTO_OK;
    }
    for (i = 0; ntok == 3 && with_arg[i] != NULL; i++) {
        if (proto_tok_is(&tok[1], with_arg[i])) {
            return unsupported(tok, 2, req);
        }
    }
    if (ntok == 2 && (proto_tok_is(&tok[1], "enable") ||
                      proto_tok_is(&tok[1], "disable"))) {
        return unsupported(tok, 2, req);
    }
    return refuse(req, PROTO_ERR_UNKNOWN);
}

/* Mark class ID in CLASSES (a PROTO_DUMP_CLASSES-bit map), if given. */
static void
mark(uint8_t *classes, uint64_t id)
{
    if (classes != NULL) {
        classes[id / 8] |= (uint8_t)(1u << (id % 8));
    }
}

int
proto_dump_classes(const char *p, size_t n, uint8_t *classes)
{
    const char *end = p + n;
    const char *comma;
    uint64_t id;
    bool any = false;

    if (classes != NULL) {
        memset(classes, 0, PROTO_DUMP_CLASSES / 8);
    }
    if ((n == 3 && memcmp(p, "all", 3) == 0) ||
        (n == 4 && memcmp(p, "hash", 4) == 0)) {
        for (id = 0; id < PROTO_DUMP_CLASSES; id++) {
            mark(classes, id);
        }
        return PROTO_OK;
    }
    /* "1,2,5": empty items are skipped, as strtok does */
    while (p < end) {
        comma = memchr(p, ',', (size_t)(end - p));
        if (comma == NULL) {
            comma = end;
        }
        if (comma > p) {
            if (!proto_scan_u64(p, (size_t)(comma - p),
                                PROTO_DUMP_CLASSES - 1, &id)) {
                return PROTO_DUMP_BADCLASS;
            }
            mark(classes, id);
            any = true;
        }
        p = comma + 1;
    }
    return any ? PROTO_OK : PROTO_DUMP_NONE;
}
