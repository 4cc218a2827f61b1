/*
 * snapcmd.h -- the `snapshot` text command without blocking a worker.
 *
 * Layer: daemon-private; snapshot/snapshot.h and libevent.
 *
 * snap_request() blocks until a snapshot is durable (milliseconds for an
 * incremental one, about a second for a full rewrite of a million items).
 * A worker must not wait that long: its other clients would stall. So the
 * connection that sent `snapshot` parks itself and asks with
 * snap_request_async(); when the snapshot is durable (or failed) the
 * writer thread records the result and activates an event on the
 * worker's base; the worker then appends OK / SERVER_ERROR (composed by
 * compose.c) and resumes the connection's pipeline in order.
 *
 * Invariants
 *  - The job is shared by the connection and the snapshot layer's callback
 *    and freed by whichever lets go last; after snapcmd_cancel() the
 *    callback never touches the connection or its event again.
 *  - The snapshot layer calls the callback exactly once, at the latest
 *    from snap_close()'s final snapshot, so no job outlives the snap.
 *  - At most one job per connection (it reads nothing while it waits);
 *    concurrent requests share one snapshot.
 *
 * Requires evthread_use_pthreads() before the worker bases were created
 * (event_active from another thread).
 */
#ifndef EMBER_SNAPCMD_H
#define EMBER_SNAPCMD_H

struct snap;
struct event;
struct reply;
struct snapcmd;

/*
 * Ask SN for a snapshot; when it is durable or failed, WAKE (an event on
 * the caller's worker base, borrowed until snapcmd_finish() or
 * snapcmd_cancel()) is activated. Returns the job, or NULL with *sys_err
 * set (ENOMEM, or ESHUTDOWN when the snap is closing).
 * Thread: a worker. Blocks: never.
 */
struct snapcmd *snapcmd_start(struct snap *sn, struct event *wake,
                              int *sys_err);

/*
 * After WAKE fired: append the answer to R ("OK", or SERVER_ERROR with
 * the snapshot layer's message; compose_snapshot_done()), free the job
 * and NULL *jobp. Returns 0 on success, else the snap_rc.
 * Thread: the worker that started the job (R is its connection's).
 */
int snapcmd_finish(struct snapcmd **jobp, struct reply *r);

/*
 * The connection goes away before WAKE fired: detach from the job (the
 * callback frees it when it runs), NULL *jobp. The caller must
 * event_del(WAKE) afterwards. No-op on NULL.
 * Thread: the worker that started the job.
 */
void snapcmd_cancel(struct snapcmd **jobp);

#endif /* EMBER_SNAPCMD_H */
