/*
 * exec_meta.h -- execute the meta commands (mg ms md ma mn me).
 *
 * Layer: daemon-private; called only by exec.c's dispatch, with the same
 * contract as exec_request() (exec.h). Replies are memcached 1.6.18's
 * for what it supports (probed against the binary), and follow the
 * current protocol.txt for the flags that came later (E, md x, ms N,
 * ms s). The few deliberate differences are listed in exec_meta.c.
 */
#ifndef EMBER_EXEC_META_H
#define EMBER_EXEC_META_H

struct exec_ctx;
struct request;
struct reply;

/*
 * Execute the meta request REQ (cmd PROTO_CMD_MG .. PROTO_CMD_ME, a
 * PROTO_OK result) and append its reply to R, honouring quiet mode (q)
 * as memcached does. Returns EXEC_CONTINUE.
 * Ownership: REQ and its pointers are borrowed for the call (a base64
 * key is decoded into a stack buffer). Thread: the worker owning R.
 * Locks: the key's stripe lock, inside store calls. Blocks: never long.
 */
int exec_meta(const struct exec_ctx *cx, const struct request *req,
              struct reply *r);

/*
 * Answer an ms refused as PROTO_ERR_TOO_LARGE: like memcached, drop the
 * key's old value whatever the mode (the client meant to replace it),
 * then "SERVER_ERROR object too large for cache". Thread, locks: as
 * exec_meta().
 */
void exec_meta_too_large(const struct exec_ctx *cx,
                         const struct request *req, struct reply *r);

#endif /* EMBER_EXEC_META_H */
