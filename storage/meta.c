/*
 * meta.c -- the store operations behind the meta protocol: mg with its
 * one-winner recache logic, ms with invalidation and explicit CAS, md
 * that marks stale instead of deleting, ma with vivify and TTL update.
 *
 * Items stay immutable once linked: a command that changes a value or a
 * CAS (md I, md x, ma) links a fresh copy under the key's stripe lock, as
 * ops.c does. Only exptime, atime and the state bits change in place,
 * and those are atomics.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "storage/store_int.h"

_Static_assert((unsigned)STORE_META_FETCHED == (unsigned)ITEM_FETCHED,
               "bit mirror");
_Static_assert((unsigned)STORE_META_STALE == (unsigned)ITEM_STALE,
               "bit mirror");
_Static_assert((unsigned)STORE_META_WON == (unsigned)ITEM_WON, "bit mirror");
_Static_assert((unsigned)STORE_META_KEY_BINARY == (unsigned)ITEM_KEY_BINARY,
               "bit mirror");

#define META_BITS (ITEM_FETCHED | ITEM_STALE | ITEM_WON | ITEM_KEY_BINARY)
#define DIGITS_MAX 20

unsigned
item_meta_bits(const struct item *it)
{
    return atomic_load_explicit(&it->bits, memory_order_relaxed)
           & META_BITS;
}

void
item_meta_restore(struct item *it, unsigned bits)
{
    if (!(atomic_load(&it->bits) & ITEM_LINKED)) {
        atomic_fetch_or(&it->bits, (uint8_t)(bits & META_BITS));
    }
}

uint8_t
store_arith_bits(const struct item *old, size_t nvalue)
{
    uint8_t bits = atomic_load(&old->bits);

    if (nvalue > old->nvalue) {
        return bits & ITEM_KEY_BINARY;      /* a new item */
    }
    if (bits & ITEM_WON) {
        return bits & (ITEM_FETCHED | ITEM_KEY_BINARY);
    }
    return bits & (ITEM_FETCHED | ITEM_STALE | ITEM_KEY_BINARY);
}

bool
item_cas_explicit(const struct item *it)
{
    return (atomic_load_explicit(&it->bits, memory_order_relaxed)
            & ITEM_CAS_EXPLICIT) != 0;
}

unsigned
item_class_id(const struct item *it)
{
    return it->clsid;
}

/*
 * An item whose CAS may be a client's (E): ITEM_CAS_SLACK more bytes
 * after the value's "\r\n" hold the counter value that orders it against
 * flush_all, which judges items by CAS (item_order_cas()).
 */
static struct item *
meta_alloc(struct store *st, const char *key, size_t nkey, uint32_t flags,
           uint32_t exptime, size_t nvalue, bool explicit_cas, int *rc)
{
    size_t slack = explicit_cas ? ITEM_CAS_SLACK : 0;
    struct item *it;

    if (nvalue > UINT32_MAX - 2 - slack) {
        *rc = STORE_ETOOLARGE;
        return NULL;
    }
    it = store_alloc(st, key, nkey, flags, exptime, nvalue + slack, rc);
    if (it != NULL && explicit_cas) {
        it->nvalue = (uint32_t)nvalue;
        item_valp(it)[nvalue] = '\r';
        item_valp(it)[nvalue + 1] = '\n';
        atomic_fetch_or(&it->bits, ITEM_CAS_EXPLICIT);
    }
    return it;
}

/* Give IT (not linked, stripe lock held) its CAS: the client's or the
 * counter's; an explicit one also records the counter for flush_all. */
void
store_meta_set_cas(struct store *st, struct item *it, uint64_t explicit_cas)
{
    uint64_t order = store_next_cas(st);

    if (explicit_cas != 0
        && (atomic_load(&it->bits) & ITEM_CAS_EXPLICIT)) {
        memcpy(item_valp(it) + it->nvalue + 2, &order, sizeof(order));
        it->cas = explicit_cas;
    } else {
        atomic_fetch_and(&it->bits, (uint8_t)~ITEM_CAS_EXPLICIT);
        it->cas = order;
    }
}

struct item *
store_meta_alloc(struct store *st, const char *key, size_t nkey,
                 uint32_t flags, uint32_t exptime, size_t nvalue,
                 bool explicit_cas, int *rc)
{
    return meta_alloc(st, key, nkey, flags, exptime, nvalue, explicit_cas,
                      rc);
}

/* What store.c's reads do: atime now, "fetched", LRU second chance. */
static void
meta_access(struct store *st, struct item *it)
{
    atomic_fetch_or_explicit(&it->bits, ITEM_ACTIVE | ITEM_FETCHED,
                             memory_order_relaxed);
    atomic_store_explicit(&it->atime, store_now(st), memory_order_relaxed);
}

/* Link NIT in place of OLD (may be NULL); returns what to unref. */
static struct item *
meta_link_locked(struct store *st, struct stripe *s, uint64_t hv,
                 struct item **slot, struct item *old, struct item *nit)
{
    old = store_link_locked(st, s, hv, old != NULL ? slot : NULL, old, nit,
                            false);
    changes_record_locked(st, s, nit);
    return old;
}

/* The one-winner logic of a hit (stripe lock held). */
static void
meta_win_locked(struct store *st, struct item *it,
                const struct store_mget *req, struct store_mget_res *res)
{
    uint8_t bits = atomic_load(&it->bits);
    uint32_t exp = atomic_load(&it->exptime);
    uint32_t now = store_now(st);
    bool win = false;

    res->stale = (bits & ITEM_STALE) != 0;
    if (bits & ITEM_WON) {
        res->already_won = true;
        return;
    }
    if (res->stale) {
        win = true;
    } else if (req->recache && exp != 0 && exp > now
               && exp - now < req->recache_below) {
        win = true;
    }
    if (win) {
        atomic_fetch_or(&it->bits, ITEM_WON);
        res->won = true;
    }
}

static int
meta_vivify_locked(struct store *st, struct stripe *s, uint64_t hv,
                   const char *key, size_t nkey, const struct store_mget *req,
                   struct store_mget_res *res)
{
    struct item *it;
    int rc;

    it = meta_alloc(st, key, nkey, 0, req->vivify_exptime, 0,
                    req->new_cas != 0, &rc);
    if (it == NULL) {
        return rc;
    }
    store_meta_set_cas(st, it, req->new_cas);
    /* the creator counts as a fetch (unless u): the next mg sees h1;
     * the key is not marked binary, so k echoes it raw (as 1.6.18) */
    atomic_fetch_or(&it->bits, ITEM_WON | (req->no_bump ? 0 : ITEM_FETCHED));
    (void)meta_link_locked(st, s, hv, NULL, NULL, it);
    res->it = it;       /* the caller's reference; the table has its own */
    res->won = true;
    res->vivified = true;
    res->atime_before = store_now(st);
    res->exptime_before = 0;        /* no TTL before N created it */
    return STORE_OK;
}

int
store_meta_get(struct store *st, const char *key, size_t nkey,
               const struct store_mget *req, struct store_mget_res *res)
{
    uint64_t hv;
    struct stripe *s;
    struct item *it, **slot = NULL;
    int rc = STORE_OK;

    memset(res, 0, sizeof(*res));
    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_MISS;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    it = store_lookup_locked(st, s, hv, key, nkey, &slot, NULL);
    if (it == NULL) {
        rc = req->vivify ? meta_vivify_locked(st, s, hv, key, nkey, req, res)
                         : STORE_MISS;
        pthread_mutex_unlock(&s->lock);
        if (rc == STORE_OK) {
            store_after_write(st);
        }
        return rc;
    }
    atomic_fetch_add(&it->refcount, 1);
    res->it = it;
    res->fetched_before = (atomic_load(&it->bits) & ITEM_FETCHED) != 0;
    res->atime_before = atomic_load(&it->atime);
    res->exptime_before = atomic_load(&it->exptime);
    if (!req->recache_after_touch) {
        meta_win_locked(st, it, req, res);
    }
    if (req->touch) {
        atomic_store(&it->exptime, req->exptime);
        changes_record_locked(st, s, it);
    }
    if (req->recache_after_touch) {
        meta_win_locked(st, it, req, res);
    }
    if (res->won) {
        /* a restart must not hand out a second win: snapshot the item
         * (the first fetch, like atime, is saved only with a write) */
        changes_record_locked(st, s, it);
    }
    if (!req->no_bump) {
        meta_access(st, it);
    }
    pthread_mutex_unlock(&s->lock);
    return STORE_OK;
}

/* C (with I) against OLD's CAS; *stale when I accepts an older one. */
static int
mset_cas(const struct store_mset *req, const struct item *old, bool *stale)
{
    if (!req->has_cas) {
        return STORE_OK;
    }
    if (old == NULL) {
        return STORE_MISS;
    }
    if (old->cas != req->cas) {
        /* I takes an older CAS, but never 0 (1.6.18) */
        if (!req->invalidate || req->cas == 0 || req->cas > old->cas) {
            return STORE_EXISTS;
        }
        *stale = true;
    }
    return STORE_OK;
}

/*
 * ms: whether REQ may replace OLD. The order is memcached 1.6.18's: add
 * ignores C; append/prepend answer NS on a miss before looking at C.
 */
static int
mset_check(const struct store_mset *req, const struct item *old,
           bool *stale)
{
    *stale = false;
    switch (req->mode) {
    case STORE_ADD:
        return old != NULL ? STORE_NOT_STORED : STORE_OK;
    case STORE_APPEND:
    case STORE_PREPEND:
        if (old == NULL) {
            return req->vivify ? STORE_OK : STORE_NOT_STORED;
        }
        return mset_cas(req, old, stale);
    case STORE_REPLACE:
        if (old == NULL && !req->has_cas) {
            return STORE_NOT_STORED;
        }
        return mset_cas(req, old, stale);
    default:
        return mset_cas(req, old, stale);
    }
}

/* append/prepend: a new item holding OLD's value and IT's. */
static struct item *
mset_concat(struct store *st, const struct item *old, const struct item *it,
            bool append, bool explicit_cas, int *rc)
{
    const struct item *first = append ? old : it;
    const struct item *second = append ? it : old;
    struct item *nit;

    nit = meta_alloc(st, it->data, it->nkey, old->flags,
                     atomic_load(&old->exptime),
                     (size_t)old->nvalue + it->nvalue, explicit_cas, rc);
    if (nit != NULL) {
        memcpy(item_value_mut(nit), item_value(first), first->nvalue);
        memcpy(item_value_mut(nit) + first->nvalue, item_value(second),
               second->nvalue);
    }
    return nit;
}

int
store_meta_store(struct store *st, struct item *it,
                 const struct store_mset *req, uint64_t *cas_out,
                 uint32_t *size_out)
{
    uint64_t hv;
    struct stripe *s;
    struct item *old, *nit = NULL, *target, **slot = NULL;
    bool stale;
    int rc;

    if (it == NULL || (atomic_load(&it->bits) & ITEM_LINKED)) {
        return STORE_EINVAL;
    }
    hv = hash_key(it->data, it->nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    old = store_lookup_locked(st, s, hv, it->data, it->nkey, &slot, NULL);
    rc = mset_check(req, old, &stale);
    if (rc == STORE_OK && old != NULL
        && (req->mode == STORE_APPEND || req->mode == STORE_PREPEND)) {
        nit = mset_concat(st, old, it, req->mode == STORE_APPEND,
                          req->new_cas != 0, &rc);
    } else if (rc == STORE_OK && old == NULL && req->vivify
               && (req->mode == STORE_APPEND || req->mode == STORE_PREPEND)) {
        atomic_store(&it->exptime, req->vivify_exptime);
    }
    if (rc == STORE_OK) {
        target = nit != NULL ? nit : it;
        store_meta_set_cas(st, target, req->new_cas);
        /* a stale store keeps the old item's win token (1.6.18) */
        atomic_fetch_or(&target->bits,
                        (stale ? ITEM_STALE | (atomic_load(&old->bits)
                                               & ITEM_WON) : 0)
                            | (req->key_binary ? ITEM_KEY_BINARY : 0));
        old = meta_link_locked(st, s, hv, slot, old, target);
        *cas_out = target->cas;
        *size_out = target->nvalue;
    } else {
        old = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(old);
    item_unref(nit);
    if (rc == STORE_OK) {
        store_after_write(st);
    }
    return rc;
}

/* md I / md x: a copy of OLD, stale and/or empty, under a new CAS. */
static int
mdel_replace_locked(struct store *st, struct stripe *s, uint64_t hv,
                    struct item **slot, struct item **oldp,
                    const struct store_mdel *req)
{
    struct item *old = *oldp;
    uint32_t exp = req->touch ? req->exptime : atomic_load(&old->exptime);
    size_t nvalue = req->strip ? 0 : old->nvalue;
    struct item *nit;
    int rc;

    nit = meta_alloc(st, old->data, old->nkey, old->flags, exp, nvalue,
                     req->new_cas != 0, &rc);
    if (nit == NULL) {
        return rc;
    }
    memcpy(item_value_mut(nit), item_value(old), nvalue);
    store_meta_set_cas(st, nit, req->new_cas);
    /* memcached marks in place: fetched stays, the win is open again */
    atomic_fetch_or(&nit->bits,
                    (atomic_load(&old->bits)
                     & (ITEM_FETCHED | ITEM_KEY_BINARY))
                        | (req->invalidate ? ITEM_STALE : 0));
    *oldp = meta_link_locked(st, s, hv, slot, old, nit);
    item_unref(nit);    /* the table keeps its own reference */
    return STORE_OK;
}

int
store_meta_delete(struct store *st, const char *key, size_t nkey,
                  const struct store_mdel *req)
{
    uint64_t hv;
    struct stripe *s;
    struct item *it, *old = NULL, **slot = NULL;
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
    } else if (req->has_cas && it->cas != req->cas) {
        rc = STORE_EXISTS;
    } else if (req->invalidate || req->strip) {
        old = it;
        rc = mdel_replace_locked(st, s, hv, slot, &old, req);
        if (rc != STORE_OK) {
            old = NULL;
        }
    } else {
        store_unlink_locked(st, s, slot, it, false);
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(old);
    if (rc == STORE_OK) {
        store_after_write(st);
    }
    return rc;
}

/* A stored number as memcached's strtoull reads it (see ops.c). */
static bool
marith_parse(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    size_t digits = 0;
    uint64_t v = 0;

    while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'))) {
        i++;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        uint64_t d = (uint64_t)(p[i] - '0');

        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (digits == 0 || (i < n && p[i] != ' ' && !(p[i] >= '\t'
                                                  && p[i] <= '\r'))) {
        return false;
    }
    *out = v;
    return true;
}

/* Link KEY = NUM, space padded to PAD bytes as memcached's in-place
 * rewrite leaves a shrinking number. */
static int
marith_link_locked(struct store *st, struct stripe *s, uint64_t hv,
                   struct item **slot, struct item **oldp, const char *key,
                   size_t nkey, uint64_t num, uint32_t exptime,
                   const struct store_marith *req, uint64_t *cas_out)
{
    struct item *old = *oldp;
    char buf[DIGITS_MAX + 1];
    int len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)num);
    size_t pad = old != NULL ? old->nvalue : 0;
    size_t nvalue = (size_t)len > pad ? (size_t)len : pad;
    struct item *it;
    int rc;

    it = meta_alloc(st, key, nkey, old != NULL ? old->flags : 0, exptime,
                    nvalue, req->new_cas != 0, &rc);
    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), buf, (size_t)len);
    memset(item_value_mut(it) + len, ' ', nvalue - (size_t)len);
    store_meta_set_cas(st, it, req->new_cas);
    if (old != NULL) {
        atomic_fetch_or(&it->bits, store_arith_bits(old, nvalue));
    }
    *oldp = meta_link_locked(st, s, hv, slot, old, it);
    *cas_out = it->cas;
    item_unref(it);     /* the table keeps its own reference */
    return STORE_OK;
}

/* On STORE_OK *OLDP is the replaced item, to unref after unlocking. */
static int
marith_locked(struct store *st, struct stripe *s, uint64_t hv,
              struct item **slot, struct item **oldp, const char *key,
              size_t nkey, const struct store_marith *req,
              struct store_marith_res *res)
{
    struct item *old = *oldp;
    uint64_t num;
    uint32_t exp;

    if (old == NULL) {
        if (!req->vivify) {
            return STORE_MISS;
        }
        res->value = req->initial;
        res->exptime = req->vivify_exptime;
        res->exptime_before = 0;    /* no TTL before N created it */
        res->vivified = true;
        return marith_link_locked(st, s, hv, slot, oldp, key, nkey,
                                  req->initial, res->exptime, req,
                                  &res->cas);
    }
    /* an empty value is refused before the CAS is compared (1.6.18) */
    if (old->nvalue == 0) {
        return STORE_NON_NUMERIC;
    }
    if (req->has_cas && old->cas != req->cas) {
        return STORE_EXISTS;
    }
    if (!marith_parse(item_value(old), old->nvalue, &num)) {
        return STORE_NON_NUMERIC;
    }
    if (req->incr) {
        num += req->delta;          /* wraps modulo 2^64, as memcached */
    } else {
        num = req->delta > num ? 0 : num - req->delta;
    }
    exp = atomic_load(&old->exptime);
    res->value = num;
    res->exptime_before = exp;
    res->exptime = req->touch ? req->exptime : exp;
    return marith_link_locked(st, s, hv, slot, oldp, key, nkey, num,
                              req->touch ? req->exptime : exp, req,
                              &res->cas);
}

int
store_meta_arith(struct store *st, const char *key, size_t nkey,
                 const struct store_marith *req,
                 struct store_marith_res *res)
{
    uint64_t hv;
    struct stripe *s;
    struct item *old, **slot = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_EINVAL;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    old = store_lookup_locked(st, s, hv, key, nkey, &slot, NULL);
    rc = marith_locked(st, s, hv, slot, &old, key, nkey, req, res);
    if (rc != STORE_OK) {
        old = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(old);
    if (rc == STORE_OK) {
        store_after_write(st);
    }
    return rc;
}
