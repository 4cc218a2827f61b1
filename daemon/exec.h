/*
 * exec.h -- run one parsed request against the store, append its reply.
 *
 * Layer: daemon-private. exec.c is the only file that joins the protocol
 * (daemon/proto.h) and the store (storage/store.h), as Pelikan's
 * process.c. It does no I/O: replies go into a struct reply, so the whole
 * command set is testable without sockets (tests/check_exec.c).
 *
 * Invariants
 *  - Reply bytes are memcached 1.6.18's, including its error lines and
 *    its noreply rules (checked against the real memcached).
 *  - A request's pointers (into the connection's read buffer) are only
 *    used during the call; values are copied into new items, and values
 *    sent back are referenced from their items, never copied.
 *  - Per-worker counters in ctx->ts are bumped as memcached counts them.
 */
#ifndef EMBER_EXEC_H
#define EMBER_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_session;
struct snap;
struct settings;
struct stats_hub;
struct stats_thread;
struct logger;
struct request;
struct reply;

/* What the connection must do after a request. */
enum exec_action {
    EXEC_CONTINUE = 0,
    EXEC_CLOSE = 1,         /* send what is pending, then close (quit...) */
    EXEC_CLOSE_NOW = 2,     /* close without sending more (HTTP) */
    EXEC_SHUTDOWN = 3,      /* `shutdown` allowed by -A: stop the server */
    EXEC_SNAPSHOT = 4,      /* `snapshot`: park until durable, then reply */
    EXEC_RESUME = 5,        /* a multi-get stopped at its reply's limit:
                             * send, and exec_resume() once drained */
};

struct exec_dump;

/*
 * What is left of a request that stopped because its reply was full
 * (reply_full()): a multi-get (get, gets, gat, gats), whose rest of the
 * key list stays in the caller's buffer, untouched, until exec_resume()
 * has finished it; or an `lru_crawler metadump` (dump, exec_dump.h).
 * Owned by the connection; exec_resume_active() false: nothing left.
 */
struct exec_resume {
    const char *pos;            /* next key (borrowed); NULL: none */
    const char *end;
    uint32_t exptime;           /* gat, gats: absolute, computed once */
    int cmd;                    /* enum proto_cmd */
    bool more;                  /* the line goes on: END comes later */
    struct exec_dump *dump;     /* owned: a metadump's walk, or NULL */
};

/* Whether RS holds a request to go on with. */
static inline bool
exec_resume_active(const struct exec_resume *rs)
{
    return rs->pos != NULL || rs->dump != NULL;
}

/*
 * Drop what RS holds (a connection closing in the middle of a metadump).
 * Thread: the owner's.
 */
void exec_resume_release(struct exec_resume *rs);

/*
 * Everything a worker's executor uses; all borrowed, set up once by
 * worker.c from what main.c created before it (store, snapshot, stats).
 */
struct exec_ctx {
    struct store *st;
    struct store_session *ses;  /* this worker's: where its changes go */
    struct snap *snap;          /* NULL without --snapshot-dir */
    const struct settings *set;
    struct stats_hub *hub;      /* counters only */
    struct stats_thread *ts;    /* this worker's counters */
    struct logger *log;
};

/*
 * Execute REQ (a PROTO_OK result) and append its reply to R.
 * Returns an enum exec_action. Never fails: store errors become
 * memcached's error lines; allocation failures set R->oom.
 * With RS, a multi-get answers at least one key and stops once R is
 * full with keys left: they go to *RS and EXEC_RESUME is returned; so
 * does a metadump with items left. Without RS (NULL) they run to their
 * end whatever R's limit.
 * A piece of a get line (req->more) ends without END.
 * Thread: the worker owning R and CX->ts. Locks: store stripe/class
 * locks, inside store calls. Blocks: never for long.
 */
int exec_request(const struct exec_ctx *cx, const struct request *req,
                 struct reply *r, struct exec_resume *rs);

/*
 * Go on with the request RS holds: a multi-get answers at least one more
 * key, a metadump one more step; each stops again when R is full
 * (EXEC_RESUME, RS updated) or finishes (END, unless a get line goes
 * on; RS inactive; EXEC_CONTINUE).
 * Thread, locks, blocking: as exec_request().
 */
int exec_resume(const struct exec_ctx *cx, struct exec_resume *rs,
                struct reply *r);

/*
 * Answer a PROTO_EINVALID result: the error line memcached sends for
 * REQ->err (none for HTTP), removing the key's old value on
 * PROTO_ERR_TOO_LARGE as memcached does for set. BUF/LEN are the bytes
 * the parser looked at (for the binary protocol refusal, which echoes
 * the request's opcode and opaque). Returns an enum exec_action.
 * Thread, locks: as exec_request().
 */
int exec_invalid(const struct exec_ctx *cx, const struct request *req,
                 const char *buf, size_t len, struct reply *r);

#endif /* EMBER_EXEC_H */
