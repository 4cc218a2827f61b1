/*
 * store.c -- the store's lifetime, item accessors, clock, the CAS and
 * change counters, flush_all, and allocating an item. The commands live
 * in get.c, set.c, delete.c and arith.c; every change they make goes
 * through mutate.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/store_int.h"

#define ITEM_SIZE_MAX_MAX ((size_t)1 << 30)  /* as memcached's -I cap */

_Static_assert((unsigned)STORE_STATE_FETCHED == (unsigned)ITEM_FETCHED,
               "bit mirror");
_Static_assert((unsigned)STORE_STATE_STALE == (unsigned)ITEM_STALE,
               "bit mirror");
_Static_assert((unsigned)STORE_STATE_WON == (unsigned)ITEM_WON, "bit mirror");
_Static_assert((unsigned)STORE_STATE_KEY_BINARY == (unsigned)ITEM_KEY_BINARY,
               "bit mirror");

const char *
store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK:
        return "ok";
    case STORE_MISS:
        return "not found";
    case STORE_EXISTS:
        return "exists (cas mismatch)";
    case STORE_NOT_STORED:
        return "not stored";
    case STORE_NON_NUMERIC:
        return "cannot increment or decrement non-numeric value";
    case STORE_ENOMEM:
        return "out of memory storing object";
    case STORE_ETOOLARGE:
        return "object too large for cache";
    case STORE_EINVAL:
        return "invalid argument";
    default:
        return "unknown store error";
    }
}

void
store_config_default(struct store_config *cfg)
{
    cfg->mem_limit = (size_t)64 << 20;
    cfg->item_size_max = (size_t)1 << 20;
    cfg->growth_factor = STORE_GROWTH_FACTOR_DEFAULT;
    cfg->no_evict = false;
    cfg->hash_power = 0;
    cfg->changelog_max = 0;
}

static bool
config_valid(const struct store_config *cfg)
{
    return cfg->mem_limit >= SLAB_PAGE_SIZE &&
           cfg->item_size_max >= 1024 &&
           cfg->item_size_max <= ITEM_SIZE_MAX_MAX &&
           cfg->item_size_max <= cfg->mem_limit &&
           cfg->growth_factor > 1.0 && cfg->growth_factor <= 10.0 &&
           cfg->hash_power <= HASH_MAX_POWER - 1;
}

struct store *
store_create(const struct store_config *cfg, int *sys_err)
{
    struct store *st;
    int err;

    if (!config_valid(cfg)) {
        *sys_err = EINVAL;
        return NULL;
    }
    st = aligned_alloc(64, sizeof(*st));    /* cache-line groups */
    if (st == NULL) {
        *sys_err = ENOMEM;
        return NULL;
    }
    memset(st, 0, sizeof(*st));
    st->cfg = *cfg;
    err = hash_init(&st->hash, cfg->hash_power);
    if (err != 0) {
        free(st);
        *sys_err = err;
        return NULL;
    }
    slab_init(st);
    atomic_init(&st->cas, 0);
    atomic_init(&st->flush_cas, 0);
    atomic_init(&st->flush_when, 0);
    atomic_init(&st->clock_now, (uint32_t)time(NULL));
    atomic_init(&st->clock_frozen, 0);
    atomic_init(&st->clock_ticking, false);
    atomic_init(&st->reserve_limit, UINT64_MAX);
    atomic_init(&st->seq, 0);
    pthread_mutex_init(&st->bg_lock, NULL);
    store_session_init(&st->bg, st, NULL, NULL);
    pthread_mutex_init(&st->maint_lock, NULL);
    pthread_cond_init(&st->maint_cond, NULL);
    return st;
}

void
store_destroy(struct store **stp)
{
    struct store *st;

    if (stp == NULL || *stp == NULL) {
        return;
    }
    st = *stp;
    store_maintenance_stop(st);
    changes_release(st);
    slab_release(st);
    hash_release(&st->hash);
    pthread_mutex_destroy(&st->maint_lock);
    pthread_mutex_destroy(&st->bg_lock);
    pthread_cond_destroy(&st->maint_cond);
    free(st);
    *stp = NULL;
}

void
store_session_init(struct store_session *ses, struct store *st,
                   store_sink_fn sink, void *sink_arg)
{
    ses->st = st;
    ses->sink = sink;
    ses->sink_arg = sink_arg;
}

void
store_set_background_sink(struct store *st, store_sink_fn sink, void *arg)
{
    /* under the lock the maintenance thread reports with: once this
     * returns, the old sink is neither running nor about to run */
    pthread_mutex_lock(&st->bg_lock);
    store_session_init(&st->bg, st, sink, arg);
    pthread_mutex_unlock(&st->bg_lock);
}

/* ---- accessors ---- */

const char *
item_key(const struct item *it)
{
    return it->data;
}

uint8_t
item_nkey(const struct item *it)
{
    return it->nkey;
}

const char *
item_value(const struct item *it)
{
    return it->data + it->nkey;
}

char *
item_value_mut(struct item *it)
{
    return it->data + it->nkey;
}

uint32_t
item_nvalue(const struct item *it)
{
    return it->nvalue;
}

uint32_t
item_flags(const struct item *it)
{
    return it->flags;
}

uint32_t
item_exptime(const struct item *it)
{
    return atomic_load_explicit(&it->exptime, memory_order_relaxed);
}

uint32_t
item_atime(const struct item *it)
{
    return atomic_load_explicit(&it->atime, memory_order_relaxed);
}

uint64_t
item_cas(const struct item *it)
{
    return it->cas;
}

size_t
item_total_size(const struct item *it)
{
    return it->chunk;
}

unsigned
item_class_id(const struct item *it)
{
    return it->clsid;
}

unsigned
item_state_bits(const struct item *it)
{
    return atomic_load_explicit(&it->bits, memory_order_relaxed)
           & ITEM_STATE_BITS;
}

bool
item_cas_explicit(const struct item *it)
{
    return (atomic_load_explicit(&it->bits, memory_order_relaxed)
            & ITEM_CAS_EXPLICIT) != 0;
}

uint64_t
item_cas_order(const struct item *it)
{
    return item_order_cas(it);
}

void
item_ref(struct item *it)
{
    atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
}

void
item_unref(struct item *it)
{
    if (it == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&it->refcount, 1,
                                  memory_order_acq_rel) == 1) {
        slab_free(slab_store_of(it), it);
    }
}

/* ---- clock ---- */

uint32_t
store_now(const struct store *st)
{
    uint32_t frozen = atomic_load_explicit(&st->clock_frozen,
                                           memory_order_relaxed);

    if (frozen != 0) {
        return frozen;
    }
    if (atomic_load_explicit(&st->clock_ticking, memory_order_relaxed)) {
        return atomic_load_explicit(&st->clock_now, memory_order_relaxed);
    }
    return (uint32_t)time(NULL);
}

void
store_clock_set(struct store *st, uint32_t now)
{
    atomic_store(&st->clock_frozen, now);
}

uint32_t
store_exptime(const struct store *st, int64_t exptime)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        return 1;       /* in the past: already expired */
    }
    if (exptime <= STORE_REL_EXPTIME_MAX) {
        uint64_t t = (uint64_t)store_now(st) + (uint64_t)exptime;

        return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
    }
    return exptime > UINT32_MAX ? UINT32_MAX : (uint32_t)exptime;
}

/* ---- CAS and flush ---- */

void
store_atomic_max(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load(a);

    while (cur < v && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

uint64_t
store_next_cas(struct store *st)
{
    return atomic_fetch_add(&st->cas, 1) + 1;
}

uint64_t
store_cas_current(const struct store *st)
{
    return atomic_load(&st->cas);
}

void
store_cas_floor(struct store *st, uint64_t floor)
{
    store_atomic_max(&st->cas, floor);
}

void
store_cas_set_reserve(struct store *st, store_cas_reserve_fn fn, void *arg,
                      uint64_t limit, uint64_t step)
{
    st->reserve_fn = fn;
    st->reserve_arg = arg;
    st->reserve_step = step ? step : 1;
    atomic_store(&st->reserve_limit, fn ? limit : UINT64_MAX);
}

/* Ask the hook for more CAS room once the counter passed the limit. */
static void
cas_reserve_check(struct store *st)
{
    uint64_t cur = atomic_load(&st->cas), lim;

    if (cur <= atomic_load(&st->reserve_limit) ||
        atomic_exchange(&st->reserving, true)) {
        return;
    }
    lim = atomic_load(&st->reserve_limit);
    cur = atomic_load(&st->cas);
    if (st->reserve_fn != NULL && cur > lim) {
        uint64_t got = st->reserve_fn(st->reserve_arg,
                                      cur + st->reserve_step);

        if (got > lim) {
            atomic_store(&st->reserve_limit, got);
        }
    }
    atomic_store(&st->reserving, false);
}

uint64_t
store_seq_current(const struct store *st)
{
    return atomic_load(&st->seq);
}

void
store_seq_floor(struct store *st, uint64_t floor)
{
    store_atomic_max(&st->seq, floor);
}

uint32_t
store_flush_pending(const struct store *st)
{
    return atomic_load(&st->flush_when);
}

/* Report a FLUSH or FLUSH_AT to SES's sink (NULL: the background one). */
static void
flush_report(struct store *st, const struct store_session *ses,
             struct store_change *ch)
{
    if (ses == NULL) {
        pthread_mutex_lock(&st->bg_lock);
        if (st->bg.sink != NULL) {
            ch->seq = atomic_fetch_add(&st->seq, 1) + 1;
            st->bg.sink(st->bg.sink_arg, ch);
        }
        pthread_mutex_unlock(&st->bg_lock);
        return;
    }
    if (ses->sink != NULL || st->cfg.changelog_max > 0) {
        ch->seq = atomic_fetch_add(&st->seq, 1) + 1;    /* as mutate.c */
    }
    if (ses->sink != NULL) {
        ses->sink(ses->sink_arg, ch);
    }
}

void
store_flush_now(struct store *st, const struct store_session *ses)
{
    /* memcached takes a CAS value for the flush: items linked before it
     * have a lower one and are dead, later ones live */
    struct store_change ch = { .kind = STORE_CHANGE_FLUSH,
                               .cas = store_next_cas(st) };

    atomic_store(&st->flush_when, 0);       /* replaces a pending one */
    flush_report(st, ses, &ch);             /* durable before it acts */
    store_atomic_max(&st->flush_cas, ch.cas);
    atomic_store(&st->changes_overflow, true);
}

void
store_flush_due(struct store *st, const struct store_session *ses,
                uint32_t now)
{
    uint32_t when = atomic_load_explicit(&st->flush_when,
                                         memory_order_relaxed);

    if (when != 0 && when <= now &&
        atomic_compare_exchange_strong(&st->flush_when, &when, 0)) {
        store_flush_now(st, ses);
    }
}

void
store_flush(struct store_session *ses, uint32_t when)
{
    struct store *st = ses->st;
    struct store_change ch = { .kind = STORE_CHANGE_FLUSH_AT,
                               .when = when };

    if (when == 0 || when <= store_now(st)) {
        store_flush_now(st, ses);
        return;
    }
    flush_report(st, ses, &ch);
    atomic_store(&st->flush_when, when);
}

bool
store_item_dead(struct store *st, const struct item *it, uint32_t now)
{
    uint32_t exp = atomic_load_explicit(&it->exptime, memory_order_relaxed);

    if (exp != 0 && exp <= now) {
        return true;
    }
    /* a delayed flush comes due in store_flush_due(), not here: this runs
     * under locks (eviction holds a class lock) where no sink may block */
    return item_order_cas(it) <= atomic_load_explicit(&st->flush_cas,
                                                      memory_order_acquire);
}

void
store_assign_cas(struct store *st, struct item *it, uint64_t explicit_cas)
{
    uint64_t order = store_next_cas(st);

    if (explicit_cas != 0
        && (atomic_load(&it->bits) & ITEM_CAS_EXPLICIT)) {
        memcpy(item_valp(it) + it->nvalue + 2, &order, sizeof(order));
        it->cas = explicit_cas;
        return;
    }
    if (atomic_load_explicit(&it->bits, memory_order_relaxed)
        & ITEM_CAS_EXPLICIT) {
        atomic_fetch_and(&it->bits, (uint8_t)~ITEM_CAS_EXPLICIT);
    }
    it->cas = order;
}

void
store_after_write(struct store *st)
{
    if (!atomic_load_explicit(&st->clock_ticking, memory_order_relaxed)) {
        /* no maintenance thread: writers grow the table in small steps */
        hash_maybe_grow(&st->hash, atomic_load(&st->curr_items), 1);
    } else if (!atomic_load_explicit(&st->hash.expanding,
                                     memory_order_relaxed) &&
               hash_needs_growth(&st->hash,
                                 atomic_load(&st->curr_items))) {
        /* wake the thread now rather than at its next tick */
        pthread_cond_signal(&st->maint_cond);
    }
    cas_reserve_check(st);
}

/* ---- allocation ---- */

struct item *
store_alloc(struct store *st, const char *key, size_t nkey, uint32_t flags,
            uint32_t exptime, size_t nvalue, bool explicit_cas, int *rc)
{
    /* an explicit CAS keeps its order in 8 bytes after the "\r\n" */
    size_t slack = explicit_cas ? ITEM_CAS_SLACK : 0;
    struct item *it;
    char *v;

    if (!key_valid(key, nkey)) {
        *rc = STORE_EINVAL;
        return NULL;
    }
    if (nvalue > UINT32_MAX - 2 - slack ||
        item_need(nkey, nvalue + slack) > st->cfg.item_size_max) {
        *rc = STORE_ETOOLARGE;
        return NULL;
    }
    it = slab_alloc(st, item_need(nkey, nvalue + slack), rc);
    if (it == NULL) {
        return NULL;
    }
    it->hnext = it->prev = it->next = NULL;
    it->cas = 0;
    atomic_store_explicit(&it->exptime, exptime, memory_order_relaxed);
    atomic_store_explicit(&it->atime, store_now(st), memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    atomic_store_explicit(&it->bits, explicit_cas ? ITEM_CAS_EXPLICIT : 0,
                          memory_order_relaxed);
    it->nvalue = (uint32_t)nvalue;
    it->flags = flags;
    it->epoch = 0;
    it->nkey = (uint8_t)nkey;
    memcpy(it->data, key, nkey);
    v = it->data + nkey;
    v[nvalue] = '\r';
    v[nvalue + 1] = '\n';
    *rc = STORE_OK;
    return it;
}

