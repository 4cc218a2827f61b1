/*
 * exec_fixture.c -- see exec_fixture.h.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/exec_fixture.h"

struct fixture fx;

void
make_store(size_t mem, bool no_evict)
{
    struct store_config cfg;
    int err = 0;

    if (fx.st != NULL) {
        store_destroy(&fx.st);
    }
    store_config_default(&cfg);
    cfg.mem_limit = mem;
    cfg.item_size_max = fx.set.item_size_max;
    cfg.no_evict = no_evict;
    fx.st = store_create(&cfg, &err);
    ck_assert_ptr_nonnull(fx.st);
    store_clock_set(fx.st, T0);
    store_session_init(&fx.ses, fx.st, NULL, NULL);
    fx.cx.st = fx.st;
    fx.cx.ses = &fx.ses;
}

void
setup(void)
{
    memset(&fx, 0, sizeof(fx));
    settings_default(&fx.set);
    fx.set.item_size_max = 64 * 1024;
    log_init(&fx.log, 0);
    make_store((size_t)8 << 20, false);
    ck_assert_int_eq(stats_hub_init(&fx.hub, 1), STATS_OK);
    stats_attach(&fx.hub, 0, &fx.ts);
    fx.cx.set = &fx.set;
    fx.cx.hub = &fx.hub;
    fx.cx.ts = &fx.ts;
    fx.cx.log = &fx.log;
    fx.lim.item_size_max = fx.set.item_size_max;
    fx.lim.line_max = 2048;
    fx.lim.get_line_max = 64 * 1024;
    reply_init(&fx.r);
}

void
teardown(void)
{
    reply_release(&fx.r);
    stats_hub_release(&fx.hub);
    store_destroy(&fx.st);
}

void
flatten(struct reply *r)
{
    size_t i;
    const struct reply_seg *s;
    const char *p;

    fx.nout = 0;
    for (i = r->sent_seg; i < r->nsegs; i++) {
        s = &r->segs[i];
        p = s->it != NULL ? s->base : r->text + s->off;
        ck_assert_uint_le(fx.nout + s->len, sizeof(fx.out) - 1);
        memcpy(fx.out + fx.nout, p, s->len);
        fx.nout += s->len;
    }
    fx.out[fx.nout] = '\0';
}

/* Parse and execute all of IN (LEN bytes) as one connection would. */
const char *
run_n(const char *in, size_t len)
{
    struct request req;
    size_t pos = 0;
    size_t consumed;
    size_t swallow = 0;
    int rc;

    fx.last_action = EXEC_CONTINUE;
    while (pos < len && fx.last_action == EXEC_CONTINUE) {
        if (swallow > 0) {
            consumed = len - pos < swallow ? len - pos : swallow;
            swallow -= consumed;
            pos += consumed;
            continue;
        }
        consumed = 0;
        rc = proto_text_parse(&fx.lim, in + pos, len - pos, &req, &consumed);
        if (rc == PROTO_NEED_MORE) {
            break;
        }
        if (rc == PROTO_OK) {
            fx.last_action = exec_request(&fx.cx, &req, &fx.r,
                                          NULL);
        } else {
            fx.last_action = exec_invalid(&fx.cx, &req, in + pos, len - pos,
                                          &fx.r);
            swallow = req.swallow;
        }
        pos += consumed;
    }
    ck_assert(!fx.r.oom);
    flatten(&fx.r);
    reply_release(&fx.r);
    return fx.out;
}

const char *
run(const char *in)
{
    return run_n(in, strlen(in));
}


uint64_t
stat_of(const char *name)
{
    const char *p;
    char pat[96];

    snprintf(pat, sizeof(pat), "STAT %s ", name);
    run("stats\r\n");
    p = strstr(fx.out, pat);
    ck_assert_msg(p != NULL, "stats has no %s", name);
    return strtoull(p + strlen(pat), NULL, 10);
}
