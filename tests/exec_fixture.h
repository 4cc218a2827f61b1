/*
 * exec_fixture.h -- the Check fixture shared by check_exec and
 * check_exec_meta: daemon/exec.c with reply.c and stats.c against a real
 * store and the real parser, without sockets (text in, reply bytes out).
 */
#ifndef EMBER_EXEC_FIXTURE_H
#define EMBER_EXEC_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/exec.h"
#include "daemon/log.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#define T0 1700000000u

struct fixture {
    struct settings set;
    struct logger log;
    struct store *st;
    struct store_session ses;
    struct stats_hub hub;
    struct stats_thread ts;
    struct exec_ctx cx;
    struct proto_limits lim;
    struct reply r;
    char out[1 << 20];      /* flattened reply of the last run() */
    size_t nout;
    int last_action;
};

extern struct fixture fx;

/* Replace fx's store with one of MEM bytes (-M when NO_EVICT). */
void make_store(size_t mem, bool no_evict);

/* Check fixture: defaults, an 8 MiB store, stats hub, exec context. */
void setup(void);
void teardown(void);

/*
 * Parse and execute all of IN as one connection would; returns the
 * flattened reply (in fx.out, valid until the next run).
 */
const char *run_n(const char *in, size_t len);
const char *run(const char *in);

/* Copy every unsent segment of R (text and item values) into fx.out. */
void flatten(struct reply *r);

/* The value of `stats` line NAME. */
uint64_t stat_of(const char *name);

#define CHECK_RUN(in, want) ck_assert_str_eq(run(in), (want))

#endif /* EMBER_EXEC_FIXTURE_H */
