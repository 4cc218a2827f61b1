/*
 * conn_journal.c -- a connection's replies wait for the journal.
 *
 * With a journal, a pass's replies must not leave before the changes
 * they acknowledge are written: a connection whose requests left changes
 * in the worker's journal channel is put on env->deferred instead of
 * writing, and conn_env_end_pass() -- after every event-loop pass --
 * commits the channel once and lets them all write. So pipelined and
 * concurrent requests of one worker share one journal write. While the
 * journal cannot be written, deferred connections wait (reading nothing
 * more); after CONN_JOURNAL_WAIT_S they are closed without their replies:
 * their changes were never acknowledged.
 */
#include "config.h"

#include "daemon/conn_int.h"

#include "daemon/log.h"
#include "snapshot/snapshot.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <time.h>

#define CONN_JOURNAL_WAIT_S 2
#define CONN_JOURNAL_RETRY_MS 100

bool
conn_journal_pending(const struct conn_env *env)
{
    return env->jch != NULL && snap_jchan_pending(env->jch);
}

void
conn_defer(struct conn *c)
{
    struct conn_env *env = c->env;

    conn_set_reading(c, false);
    if (!c->deferred) {
        c->deferred = true;
        c->defer_next = env->deferred;
        env->deferred = c;
    }
}

void
conn_defer_remove(struct conn *c)
{
    struct conn **pp = &c->env->deferred;

    while (*pp != NULL && *pp != c) {
        pp = &(*pp)->defer_next;
    }
    if (*pp == c) {
        *pp = c->defer_next;
    }
    c->deferred = false;
    c->defer_next = NULL;
}

/*
 * Without fsync per commit, a write() costs about a microsecond: write
 * this connection's changes now and answer at once, rather than make it
 * wait for the rest of the pass. With fsync (SNAP_FSYNC_ALWAYS) one
 * group commit per pass is what makes it affordable. Returns true when
 * the changes are written (or nothing was pending).
 */
bool
conn_commit_now(struct conn_env *env)
{
    char err[SNAP_ERR_MAX];

    if (snap_jchan_group_commit(env->jch) || env->deferred != NULL) {
        return false;       /* keep the order: after those who wait */
    }
    return snap_jchan_commit(env->jch, err, sizeof(err)) == SNAP_OK;
}

void
conn_resume(struct conn *c)
{
    c->deferred = false;
    if (!conn_flush_out(c)) {
        return;
    }
    if (c->blocked && !c->writing) {
        (void)conn_drive(c);    /* may defer again: the caller loops */
        return;
    }
    conn_settle(c);
    if (c->env->stopping && !c->writing && c->snapjob == NULL) {
        conn_close(c);          /* drained for shutdown */
    }
}

/* The journal stays unwritable: give up on the deferred connections. */
static void
close_deferred(struct conn_env *env, const char *err)
{
    unsigned n = 0;

    while (env->deferred != NULL) {
        conn_close(env->deferred);
        n++;
    }
    log_msg(env->cx.log, LOG_LVL_ERR, "closed %u connection(s) whose "
            "changes could not be journaled for %us (%s); they were not "
            "acknowledged", n, CONN_JOURNAL_WAIT_S, err);
}

void
conn_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;      /* a wake-up: the pass's end retries the commit */
}

void
conn_env_end_pass(struct conn_env *env)
{
    struct timeval retry = { 0, CONN_JOURNAL_RETRY_MS * 1000 };
    char err[SNAP_ERR_MAX];
    struct conn *list;
    time_t now;

    while (env->deferred != NULL || conn_journal_pending(env)) {
        if (snap_jchan_commit(env->jch, err, sizeof(err)) != SNAP_OK) {
            now = time(NULL);
            if (env->failing_since == 0) {
                env->failing_since = now;
            } else if (now - env->failing_since >= CONN_JOURNAL_WAIT_S &&
                       env->deferred != NULL) {
                close_deferred(env, err);
            }
            evtimer_add(env->retry_ev, &retry);
            return;
        }
        env->failing_since = 0;
        list = env->deferred;
        env->deferred = NULL;
        while (list != NULL) {
            struct conn *c = list;

            list = c->defer_next;
            c->defer_next = NULL;
            conn_resume(c);
        }
    }
}

