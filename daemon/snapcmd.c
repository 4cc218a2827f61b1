/*
 * snapcmd.c -- the `snapshot` command without blocking a worker (see
 * snapcmd.h).
 */
#include "config.h"

#include "daemon/snapcmd.h"

#include "daemon/compose.h"
#include "snapshot/snapshot.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct snapcmd {
    pthread_mutex_t lock;
    struct event *wake;         /* guarded by: lock; NULL once cancelled */
    unsigned holders;           /* guarded by: lock; writer + connection */
    int rc;                     /* guarded by: lock; set before wake */
    char err[SNAP_ERR_MAX];     /* guarded by: lock */
};

/* Drop one holder; the last one frees the job. Called with lock held. */
static void
release_locked(struct snapcmd *job)
{
    bool last = --job->holders == 0;

    pthread_mutex_unlock(&job->lock);
    if (last) {
        pthread_mutex_destroy(&job->lock);
        free(job);
    }
}

/* snap_done_fn: runs on the snapshot writer thread, so it only records
 * the result and wakes the worker, which replies. */
static void
snapcmd_done(void *arg, int rc, const char *err)
{
    struct snapcmd *job = arg;

    pthread_mutex_lock(&job->lock);
    job->rc = rc;
    snprintf(job->err, sizeof(job->err), "%s", err != NULL ? err : "");
    if (job->wake != NULL) {
        event_active(job->wake, EV_TIMEOUT, 0);
    }
    release_locked(job);
}

struct snapcmd *
snapcmd_start(struct snap *sn, struct event *wake, int *sys_err)
{
    struct snapcmd *job = calloc(1, sizeof(*job));
    int rc;

    if (job == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    job->wake = wake;
    job->holders = 2;
    pthread_mutex_init(&job->lock, NULL);
    rc = snap_request_async(sn, snapcmd_done, job);
    if (rc != SNAP_OK) {
        pthread_mutex_destroy(&job->lock);
        free(job);
        *sys_err = rc == SNAP_ENOMEM ? ENOMEM : ESHUTDOWN;
        return NULL;
    }
    return job;
}

int
snapcmd_finish(struct snapcmd **jobp, struct reply *r)
{
    struct snapcmd *job = *jobp;
    int rc;

    pthread_mutex_lock(&job->lock);
    rc = job->rc;
    compose_snapshot_done(r, rc == SNAP_OK ? NULL : job->err);
    job->wake = NULL;
    release_locked(job);
    *jobp = NULL;
    return rc;
}

void
snapcmd_cancel(struct snapcmd **jobp)
{
    struct snapcmd *job = *jobp;

    if (job == NULL) {
        return;
    }
    pthread_mutex_lock(&job->lock);
    job->wake = NULL;
    release_locked(job);
    *jobp = NULL;
}
