/*
 * snap_cas.c -- the durable CAS reservation: the store asks (its reserve
 * hook) before it hands out a CAS value past what is reserved; a
 * reservation is a meta key in a small LMDB transaction, or a journal
 * record, so that no CAS value a client saw is handed out again after a
 * crash. When it cannot be written, the store is held at what is durable
 * and the failure is logged once per state change.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"
#include "util/util.h"

#define errf util_errf

/* The reservation's transaction: one meta key. ARG: the limit. */
static int
reserve_fill(struct snapfmt_txn *txn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return snapfmt_meta_put_u64(txn, "cas_reserved", *(uint64_t *)arg);
}

int
snap_reserve_locked(struct snap *sn, uint64_t limit, char *err,
                    size_t errlen)
{
    char why[SNAPFMT_ERR_MAX] = "";
    int rc;

    if (limit <= atomic_load(&sn->cas_reserved)) {
        return SNAP_OK;
    }
    if (sn->jrn != NULL) {
        /* durable as the journal is; the snapshot's meta catches up */
        if (jrn_reserve_cas(sn->jrn, limit) != 0) {
            return errf(SNAP_EWRITE, err, errlen, "cannot journal the CAS "
                        "reservation in %s", sn->dir);
        }
        atomic_store(&sn->cas_reserved, limit);
        return SNAP_OK;
    }
    /* a map-full in the put or in the commit grows the map and retries */
    rc = snapfmt_txn_run(sn->env, sn->cfg.map_max, reserve_fill, &limit,
                         why, sizeof(why));
    if (rc != SNAPFMT_OK) {
        snap_env_recover(sn);
        return errf(SNAP_EWRITE, err, errlen,
                    "cannot persist the CAS reservation: %s", why);
    }
    sn->meta.cas_reserved = limit;
    atomic_store(&sn->cas_reserved, limit);
    return SNAP_OK;
}

/*
 * The limit we tell the store: half a step below what is durable, so the
 * store asks for more while half a step of headroom is still on disk and
 * no CAS it hands out meanwhile passes the durable reservation.
 */
static uint64_t
store_limit(const struct snap *sn, uint64_t durable)
{
    return durable > sn->cfg.cas_step / 2 ? durable - sn->cfg.cas_step / 2
                                          : 0;
}

/*
 * The store's hook, called from a worker when the CAS counter passes the
 * limit. With the journal the reservation is a journal record. Without
 * it, it is an LMDB transaction: while a snapshot transaction is open the
 * hook does not wait for it (that could take seconds), it answers 0, the
 * store asks again at its next write, and the snapshot reserves ahead
 * when it commits. A failing reservation is retried at most once a
 * second and logged once, not at every write: with the journal, writes
 * are refused meanwhile (the journal cannot be written either).
 */
static uint64_t
cas_hook(void *arg, uint64_t want)
{
    struct snap *sn = arg;
    uint64_t have = atomic_load(&sn->cas_reserved), now = snap_now_us();
    bool locked = false;
    char why[SNAP_ERR_MAX];

    if (store_limit(sn, have) >= want) {
        return store_limit(sn, have);
    }
    if (now < atomic_load(&sn->reserve_retry_us)) {
        return have >= want ? have : 0;
    }
    if (sn->jrn == NULL) {
        if (atomic_load(&sn->writing) || atomic_load(&sn->loading) ||
            pthread_mutex_trylock(&sn->txn_lock)) {
            return have >= want ? have : 0;
        }
        locked = true;
    }
    if (snap_reserve_locked(sn, want + sn->cfg.cas_step, why,
                            sizeof(why)) != SNAP_OK) {
        if (atomic_exchange(&sn->reserve_retry_us, now + 1000000) == 0) {
            snap_log(sn, SNAP_LOG_ERROR, "%s", why);
        }
    } else if (atomic_exchange(&sn->reserve_retry_us, 0) != 0) {
        snap_log(sn, SNAP_LOG_WARN, "CAS reservations are "
                 "durable again in %s", sn->dir);
    }
    have = atomic_load(&sn->cas_reserved);
    if (locked) {
        pthread_mutex_unlock(&sn->txn_lock);
    }
    if (store_limit(sn, have) >= want) {
        return store_limit(sn, have);
    }
    return have >= want ? have : 0;
}

int
snap_cas_install(struct snap *sn, char *err, size_t errlen)
{
    uint64_t floor = sn->meta.cas_max, limit;
    int rc;

    if (floor < atomic_load(&sn->cas_reserved)) {
        floor = atomic_load(&sn->cas_reserved);
    }
    store_cas_floor(sn->st, floor);
    limit = store_cas_current(sn->st) + sn->cfg.cas_step;
    pthread_mutex_lock(&sn->txn_lock);
    rc = snap_reserve_locked(sn, limit, err, errlen);
    pthread_mutex_unlock(&sn->txn_lock);
    /* also when it failed: the first write then asks the hook again */
    store_cas_set_reserve(sn->st, cas_hook, sn,
                          store_limit(sn, atomic_load(&sn->cas_reserved)),
                          sn->cfg.cas_step);
    return rc;
}
