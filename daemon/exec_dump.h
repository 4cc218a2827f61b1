/*
 * exec_dump.h -- the key listings: `lru_crawler metadump` and `stats
 * cachedump`, as memcached 1.6.18 answers them, so that memcached-tool's
 * dump and libmemcached's memcdump work.
 *
 * Layer: daemon-private; called only by exec.c, with the contract of
 * exec_request() (exec.h). Joins the protocol and the store as exec.c
 * does.
 *
 * A metadump is answered as the socket drains: it walks the store a few
 * buckets at a time (store_walk_step(): one stripe lock at a time, held
 * for a few hundred items), stops once the reply is full (reply_full())
 * and goes on from the connection's exec_resume when it has drained. So
 * its memory is one chunk of output whatever the key count, no lock is
 * held between chunks, and the worker serves its other clients between
 * them. A cachedump walks one class's LRU under its lock, at most 2 MB
 * of lines, as memcached does.
 */
#ifndef EMBER_EXEC_DUMP_H
#define EMBER_EXEC_DUMP_H

#include <stddef.h>

struct exec_ctx;
struct exec_dump;
struct exec_resume;
struct request;
struct reply;

/*
 * `lru_crawler metadump <classes|all|hash>` (REQ a PROTO_CMD_METADUMP
 * result): one line per live item of those classes, then END. With RS,
 * stops when R is full and leaves the rest in rs->dump (owned by RS):
 * EXEC_RESUME; without RS it runs to the end. -X: "ERROR metadump not
 * allowed". Returns an enum exec_action.
 * Thread, locks, blocking: as exec_request().
 */
int exec_metadump(const struct exec_ctx *cx, const struct request *req,
                  struct reply *r, struct exec_resume *rs);

/*
 * Go on with the metadump in rs->dump: EXEC_RESUME again when R is
 * full, else END, rs->dump freed, EXEC_CONTINUE.
 */
int exec_metadump_resume(const struct exec_ctx *cx, struct exec_resume *rs,
                         struct reply *r);

/* Free a metadump in progress and set *DP to NULL. No-op on NULL. */
void exec_dump_free(struct exec_dump **dp);

/*
 * `stats cachedump <class> <limit>`: ARG[0..NARG) is what follows
 * "stats " ("cachedump 1 0"). "ITEM <key> [<bytes> b; <exp> s]" for the
 * live items of the class, most recent first, at most LIMIT (0: no
 * limit) and 2 MB, then END; memcached's errors for a missing or bad
 * argument, an id past the last class, and -X.
 * Locks: the class's lock while its lines are written.
 */
void exec_cachedump(const struct exec_ctx *cx, const char *arg, size_t narg,
                    struct reply *r);

#endif /* EMBER_EXEC_DUMP_H */
