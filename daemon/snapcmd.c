/*
 * snapcmd.c -- run snap_request() off the worker thread (see snapcmd.h).
 */
#include "config.h"

#include "daemon/snapcmd.h"

#include "snapshot/snapshot.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct snapcmd {
    pthread_mutex_t lock;
    struct snap *sn;
    struct event *wake;         /* guarded by: lock; NULL once cancelled */
    unsigned holders;           /* guarded by: lock; thread + connection */
    int rc;                     /* written by the thread before wake */
    char err[SNAP_ERR_MAX];
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

static void *
snapcmd_main(void *arg)
{
    struct snapcmd *job = arg;
    char err[SNAP_ERR_MAX] = "";
    int rc = snap_request(job->sn, err, sizeof(err));

    pthread_mutex_lock(&job->lock);
    job->rc = rc;
    memcpy(job->err, err, sizeof(err));
    if (job->wake != NULL) {
        event_active(job->wake, EV_TIMEOUT, 0);
    }
    release_locked(job);
    return NULL;
}

struct snapcmd *
snapcmd_start(struct snap *sn, struct event *wake, int *sys_err)
{
    struct snapcmd *job = calloc(1, sizeof(*job));
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    if (job == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    job->sn = sn;
    job->wake = wake;
    job->holders = 2;
    pthread_mutex_init(&job->lock, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, snapcmd_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&job->lock);
        free(job);
        *sys_err = rc;
        return NULL;
    }
    return job;
}

int
snapcmd_finish(struct snapcmd **jobp, char *err, size_t errlen)
{
    struct snapcmd *job = *jobp;
    int rc;

    pthread_mutex_lock(&job->lock);
    rc = job->rc;
    if (errlen > 0) {
        size_t n = strnlen(job->err, sizeof(job->err));

        n = n < errlen - 1 ? n : errlen - 1;
        memcpy(err, job->err, n);
        err[n] = '\0';
    }
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
