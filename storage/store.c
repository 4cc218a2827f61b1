/*
 * store.c -- the store's lifetime, item accessors, clock, CAS counter,
 * flush, and the basic commands (alloc, store, get, touch, delete).
 * Commands that build a new item from an old one (append, prepend,
 * incr/decr) live in ops.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/store_int.h"

#define ITEM_SIZE_MAX_MAX ((size_t)1 << 30)  /* as memcached's -I cap */

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
    pthread_cond_destroy(&st->maint_cond);
    free(st);
    *stp = NULL;
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

static void
atomic_max_u64(_Atomic uint64_t *a, uint64_t v)
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
    atomic_max_u64(&st->cas, floor);
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

void
store_flush_due(struct store *st, uint32_t now)
{
    uint32_t when = atomic_load(&st->flush_when);

    if (when != 0 && when <= now &&
        atomic_compare_exchange_strong(&st->flush_when, &when, 0)) {
        atomic_max_u64(&st->flush_cas, atomic_load(&st->cas));
        atomic_store(&st->changes_overflow, true);
    }
}

void
store_flush(struct store *st, uint32_t when)
{
    uint32_t now = store_now(st);

    if (when == 0 || when <= now) {
        atomic_store(&st->flush_when, 0);
        atomic_max_u64(&st->flush_cas, atomic_load(&st->cas));
        atomic_store(&st->changes_overflow, true);
        return;
    }
    atomic_store(&st->flush_when, when);
}

bool
store_item_dead(struct store *st, const struct item *it, uint32_t now)
{
    uint32_t exp = atomic_load_explicit(&it->exptime, memory_order_relaxed);

    if (exp != 0 && exp <= now) {
        return true;
    }
    if (atomic_load_explicit(&st->flush_when, memory_order_relaxed) != 0) {
        store_flush_due(st, now);
    }
    return item_order_cas(it) <= atomic_load_explicit(&st->flush_cas,
                                                      memory_order_acquire);
}

/* ---- linking ---- */

void
store_unlink_locked(struct store *st, struct stripe *s, struct item **slot,
                    struct item *it, bool expired)
{
    *slot = it->hnext;
    it->hnext = NULL;
    atomic_fetch_and(&it->bits, (uint8_t)~ITEM_LINKED);
    slab_lru_unlink(st, it, expired);
    atomic_fetch_sub(&st->curr_items, 1);
    changes_record_locked(st, s, it);
    item_unref(it);
}

struct item *
store_lookup_locked(struct store *st, struct stripe *s, uint64_t hv,
                    const char *key, size_t nkey, struct item ***slotp,
                    bool *expired)
{
    struct item **slot = hash_find_locked(&st->hash, s, hv, key, nkey);
    struct item *it = *slot;

    if (it != NULL && store_item_dead(st, it, store_now(st))) {
        store_unlink_locked(st, s, slot, it, true);
        if (expired != NULL) {
            *expired = true;
        }
        return NULL;
    }
    *slotp = slot;
    return it;
}

struct item *
store_link_locked(struct store *st, struct stripe *s, uint64_t hv,
                  struct item **slot, struct item *old, struct item *it,
                  bool at_tail)
{
    if (old != NULL) {
        it->hnext = old->hnext;
        *slot = it;
        old->hnext = NULL;
        it->epoch = old->epoch;
        atomic_fetch_and(&old->bits, (uint8_t)~ITEM_LINKED);
        slab_lru_unlink(st, old, false);
        atomic_fetch_sub(&st->curr_items, 1);
    } else {
        hash_insert_locked(&st->hash, s, hv, it);
    }
    atomic_fetch_or(&it->bits, ITEM_LINKED);
    atomic_fetch_add(&it->refcount, 1);     /* the table's reference */
    slab_lru_link(st, it, at_tail);
    atomic_fetch_add(&st->curr_items, 1);
    atomic_fetch_add(&st->total_items, 1);
    return old;
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

/* ---- commands ---- */

struct item *
store_alloc(struct store *st, const char *key, size_t nkey, uint32_t flags,
            uint32_t exptime, size_t nvalue, int *rc)
{
    struct item *it;
    char *v;

    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        *rc = STORE_EINVAL;
        return NULL;
    }
    if (nvalue > UINT32_MAX - 2 ||
        item_need(nkey, nvalue) > st->cfg.item_size_max) {
        *rc = STORE_ETOOLARGE;
        return NULL;
    }
    it = slab_alloc(st, item_need(nkey, nvalue), rc);
    if (it == NULL) {
        return NULL;
    }
    it->hnext = it->prev = it->next = NULL;
    it->cas = 0;
    atomic_store_explicit(&it->exptime, exptime, memory_order_relaxed);
    atomic_store_explicit(&it->atime, store_now(st), memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    atomic_store_explicit(&it->bits, 0, memory_order_relaxed);
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

/* Whether MODE may link over OLD (NULL = absent). */
static int
store_check_mode(enum store_mode mode, const struct item *old,
                 uint64_t cas_in)
{
    switch (mode) {
    case STORE_ADD:
        return old != NULL ? STORE_NOT_STORED : STORE_OK;
    case STORE_REPLACE:
        if (old == NULL) {
            return STORE_NOT_STORED;
        }
        break;
    case STORE_CAS:
        if (old == NULL) {
            return STORE_MISS;
        }
        return old->cas == cas_in ? STORE_OK : STORE_EXISTS;
    default:
        break;
    }
    if (cas_in != 0) {
        if (old == NULL) {
            return STORE_MISS;
        }
        return old->cas == cas_in ? STORE_OK : STORE_EXISTS;
    }
    return STORE_OK;
}

int
store_store(struct store *st, struct item *it, enum store_mode mode,
            uint64_t cas_in, uint64_t *cas_out)
{
    uint64_t hv;
    struct stripe *s;
    struct item *old, **slot = NULL;
    int rc;

    if (it == NULL || (atomic_load(&it->bits) & ITEM_LINKED)) {
        return STORE_EINVAL;
    }
    if (mode == STORE_APPEND || mode == STORE_PREPEND) {
        return store_concat(st, it, mode == STORE_APPEND, cas_in, cas_out);
    }
    hv = hash_key(it->data, it->nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    old = store_lookup_locked(st, s, hv, it->data, it->nkey, &slot, NULL);
    rc = store_check_mode(mode, old, cas_in);
    if (rc == STORE_OK) {
        it->cas = store_next_cas(st);
        old = store_link_locked(st, s, hv, slot, old, it, false);
        changes_record_locked(st, s, it);
        if (cas_out != NULL) {
            *cas_out = it->cas;
        }
    } else {
        old = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(old);
    if (rc == STORE_OK) {
        store_after_write(st);
    }
    return rc;
}

/* Record a read: access time and the LRU's second-chance bit. */
static void
mark_access(struct store *st, struct item *it)
{
    uint8_t want = ITEM_ACTIVE | ITEM_FETCHED;
    uint32_t now = store_now(st);

    if ((atomic_load_explicit(&it->bits, memory_order_relaxed) & want) !=
        want) {
        atomic_fetch_or_explicit(&it->bits, want, memory_order_relaxed);
    }
    if (atomic_load_explicit(&it->atime, memory_order_relaxed) != now) {
        atomic_store_explicit(&it->atime, now, memory_order_relaxed);
    }
}

int
store_get(struct store *st, const char *key, size_t nkey, struct item **out,
          bool *expired)
{
    uint64_t hv;
    struct stripe *s;
    struct item *it, **slot;

    if (expired != NULL) {
        *expired = false;
    }
    *out = NULL;
    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_MISS;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    it = store_lookup_locked(st, s, hv, key, nkey, &slot, expired);
    if (it != NULL) {
        atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    if (it == NULL) {
        return STORE_MISS;
    }
    mark_access(st, it);
    *out = it;
    return STORE_OK;
}

int
store_touch(struct store *st, const char *key, size_t nkey,
            uint32_t exptime, struct item **out)
{
    uint64_t hv;
    struct stripe *s;
    struct item *it, **slot;

    if (out != NULL) {
        *out = NULL;
    }
    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_MISS;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    it = store_lookup_locked(st, s, hv, key, nkey, &slot, NULL);
    if (it != NULL) {
        atomic_store(&it->exptime, exptime);
        changes_record_locked(st, s, it);
        if (out != NULL) {
            atomic_fetch_add(&it->refcount, 1);
            *out = it;
        }
        mark_access(st, it);
    }
    pthread_mutex_unlock(&s->lock);
    return it != NULL ? STORE_OK : STORE_MISS;
}

int
store_delete(struct store *st, const char *key, size_t nkey, uint64_t cas_in)
{
    uint64_t hv;
    struct stripe *s;
    struct item *it, **slot;
    int rc = STORE_OK;

    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_MISS;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    it = store_lookup_locked(st, s, hv, key, nkey, &slot, NULL);
    if (it == NULL) {
        rc = STORE_MISS;
    } else if (cas_in != 0 && it->cas != cas_in) {
        rc = STORE_EXISTS;
    } else {
        store_unlink_locked(st, s, slot, it, false);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
