/*
 * ops.c -- commands that build a new item from the one they replace:
 * append, prepend, incr and decr. Each runs entirely under the key's
 * stripe lock so that the read of the old value and the link of the new
 * item are one step; allocating there is allowed by the lock order
 * (stripe -> class -> pool), and eviction only tries stripe locks.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "storage/store_int.h"

#define ARITH_DIGITS_MAX 20     /* digits of UINT64_MAX */

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

/*
 * Parse a value as memcached does (strtoull + its checks): optional
 * leading white space, at least one digit, no overflow, then the end of
 * the value or white space (the rest is ignored). So "9 " (what decr
 * leaves when the number shrinks) and "0012" are numbers; "", "-1",
 * "5a" and 2^64 are not.
 */
static bool
parse_u64(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    size_t digits = 0;

    while (i < n && is_space(p[i])) {
        i++;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        uint64_t d = (uint64_t)(p[i] - '0');

        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (digits == 0 || (i < n && !is_space(p[i]))) {
        return false;
    }
    *out = v;
    return true;
}

/* Build and link KEY = NUM (padded with spaces to PAD bytes). */
static int
arith_link_locked(struct store *st, struct stripe *s, uint64_t hv,
                  struct item **slot, struct item **old, const char *key,
                  size_t nkey, uint64_t num, uint32_t flags, uint32_t exptime,
                  size_t pad, uint64_t *cas_out)
{
    char buf[ARITH_DIGITS_MAX + 1];
    int len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)num);
    size_t nvalue = (size_t)len > pad ? (size_t)len : pad;
    struct item *it;
    int rc;

    it = store_alloc(st, key, nkey, flags, exptime, nvalue, &rc);
    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), buf, (size_t)len);
    memset(item_value_mut(it) + len, ' ', nvalue - (size_t)len);
    if (*old != NULL) {
        atomic_fetch_or(&it->bits, store_arith_bits(*old, nvalue));
    }
    it->cas = store_next_cas(st);
    *old = store_link_locked(st, s, hv, slot, *old, it, false);
    changes_record_locked(st, s, it);
    if (cas_out != NULL) {
        *cas_out = it->cas;
    }
    item_unref(it);     /* the table keeps its own reference */
    return STORE_OK;
}

int
store_arith(struct store *st, const char *key, size_t nkey,
            const struct store_arith *req, uint64_t *value, uint64_t *cas_out)
{
    uint64_t hv, num;
    struct stripe *s;
    struct item *old, **slot = NULL;
    int rc;

    if (key == NULL || nkey == 0 || nkey > STORE_KEY_MAX) {
        return STORE_EINVAL;
    }
    hv = hash_key(key, nkey);
    s = hash_stripe(&st->hash, hv);
    pthread_mutex_lock(&s->lock);
    old = store_lookup_locked(st, s, hv, key, nkey, &slot, NULL);
    if (old == NULL) {
        rc = STORE_MISS;
        if (req->vivify) {
            num = req->initial;
            slot = NULL;
            rc = arith_link_locked(st, s, hv, slot, &old, key, nkey, num, 0,
                                   req->vivify_exptime, 0, cas_out);
        }
    } else if (req->cas_in != 0 && old->cas != req->cas_in) {
        rc = STORE_EXISTS;
        old = NULL;
    } else if (!parse_u64(item_value(old), old->nvalue, &num)) {
        rc = STORE_NON_NUMERIC;
        old = NULL;
    } else {
        if (req->incr) {
            num += req->delta;      /* wraps modulo 2^64, as memcached */
        } else {
            num = req->delta > num ? 0 : num - req->delta;
        }
        /* memcached rewrites a shrinking number in place, space padded */
        rc = arith_link_locked(st, s, hv, slot, &old, key, nkey, num,
                               old->flags, atomic_load(&old->exptime),
                               old->nvalue, cas_out);
        if (rc != STORE_OK) {
            old = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(old);
    if (rc == STORE_OK) {
        *value = num;
        store_after_write(st);
    }
    return rc;
}

int
store_concat(struct store *st, struct item *it, bool append,
             uint64_t cas_in, uint64_t *cas_out)
{
    uint64_t hv = hash_key(it->data, it->nkey);
    struct stripe *s = hash_stripe(&st->hash, hv);
    struct item *old, *nit = NULL, **slot = NULL;
    int rc = STORE_OK;

    pthread_mutex_lock(&s->lock);
    old = store_lookup_locked(st, s, hv, it->data, it->nkey, &slot, NULL);
    if (old == NULL) {
        rc = STORE_NOT_STORED;
    } else if (cas_in != 0 && old->cas != cas_in) {
        rc = STORE_EXISTS;
    } else {
        nit = store_alloc(st, it->data, it->nkey, old->flags,
                          atomic_load(&old->exptime),
                          (size_t)old->nvalue + it->nvalue, &rc);
    }
    if (nit != NULL) {
        const struct item *first = append ? old : it;
        const struct item *second = append ? it : old;

        memcpy(item_value_mut(nit), item_value(first), first->nvalue);
        memcpy(item_value_mut(nit) + first->nvalue, item_value(second),
               second->nvalue);
        nit->cas = store_next_cas(st);
        old = store_link_locked(st, s, hv, slot, old, nit, false);
        changes_record_locked(st, s, nit);
        if (cas_out != NULL) {
            *cas_out = nit->cas;
        }
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
