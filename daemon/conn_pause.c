/*
 * conn_pause.c -- a takeover's pause of one worker's connections (see
 * conn.h): nothing is read or executed while paused; replies already
 * made still go out once their journal commit is written.
 */
#include "config.h"

#include "daemon/conn_int.h"

void
conn_env_pause(struct conn_env *env)
{
    env->paused = true;     /* process() and conn_settle() look at it */
    for (struct conn *c = env->head; c != NULL; c = c->next) {
        conn_set_reading(c, false);
    }
}

bool
conn_env_quiet(const struct conn_env *env)
{
    return env->deferred == NULL && !conn_journal_pending(env);
}

void
conn_env_unpause(struct conn_env *env)
{
    struct conn *c = env->head;
    struct conn *next;

    env->paused = false;
    while (c != NULL) {
        next = c->next;
        if (c->deferred || c->snapjob != NULL) {
            /* the journal commit or the snapshot resumes them */
        } else if (c->writing) {
            conn_settle(c);         /* on_write drives what waits */
        } else {
            (void)conn_drive(c);    /* what waited, then read again */
        }
        c = next;
    }
}
