/*
 * maint.c -- the maintenance thread: ticks the clock, brings a delayed
 * flush due (reported to the background sink), sweeps expired and
 * flushed items a few stripes per tick, and grows the hash table a batch
 * of stripes per tick. Each step takes one stripe lock at a time, so
 * workers never wait for a whole pass.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "storage/store_int.h"

#define MAINT_TICK_MS 100
#define SWEEP_STRIPES 16      /* per tick: a full pass every ~6.4 s */
#define GROW_STRIPES HASH_NSTRIPES  /* a doubling per tick, lock by lock */

void
maint_sweep_stripe(struct store *st, struct stripe *s)
{
    uint32_t now = store_now(st);
    size_t b, nb;

    pthread_mutex_lock(&s->lock);
    nb = hash_stripe_nbuckets(&st->hash, s);
    for (b = 0; b < nb; b++) {
        struct item **slot = hash_stripe_bucket(&st->hash, s, b);

        while (*slot != NULL) {
            struct item *it = *slot;

            if (store_item_dead(st, it, now)) {
                mut_sweep_locked(st, s, slot, it);
            } else {
                slot = &it->hnext;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void
maint_tick(struct store *st)
{
    unsigned i;

    atomic_store(&st->clock_now, (uint32_t)time(NULL));
    store_flush_due(st, NULL, store_now(st));
    for (i = 0; i < SWEEP_STRIPES; i++) {
        maint_sweep_stripe(st, &st->hash.stripes[st->sweep_next]);
        st->sweep_next = (st->sweep_next + 1) % HASH_NSTRIPES;
    }
    hash_maybe_grow(&st->hash, atomic_load(&st->curr_items), GROW_STRIPES);
}

static void *
maint_main(void *arg)
{
    struct store *st = arg;
    struct timespec ts;

    pthread_mutex_lock(&st->maint_lock);
    while (!st->maint_stop) {
        pthread_mutex_unlock(&st->maint_lock);
        maint_tick(st);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += MAINT_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&st->maint_lock);
        if (!st->maint_stop) {
            pthread_cond_timedwait(&st->maint_cond, &st->maint_lock, &ts);
        }
    }
    pthread_mutex_unlock(&st->maint_lock);
    return NULL;
}

int
store_maintenance_start(struct store *st)
{
    int err = 0;

    pthread_mutex_lock(&st->maint_lock);
    if (!st->maint_running) {
        st->maint_stop = false;
        atomic_store(&st->clock_now, (uint32_t)time(NULL));
        atomic_store(&st->clock_ticking, true);
        err = pthread_create(&st->maint_thread, NULL, maint_main, st);
        if (err == 0) {
            st->maint_running = true;
        } else {
            atomic_store(&st->clock_ticking, false);
        }
    }
    pthread_mutex_unlock(&st->maint_lock);
    return err;
}

void
store_maintenance_stop(struct store *st)
{
    pthread_mutex_lock(&st->maint_lock);
    if (!st->maint_running) {
        pthread_mutex_unlock(&st->maint_lock);
        return;
    }
    st->maint_stop = true;
    pthread_cond_signal(&st->maint_cond);
    pthread_mutex_unlock(&st->maint_lock);
    pthread_join(st->maint_thread, NULL);
    pthread_mutex_lock(&st->maint_lock);
    st->maint_running = false;
    atomic_store(&st->clock_ticking, false);
    pthread_mutex_unlock(&st->maint_lock);
}
