/*
 * arith.c -- the arithmetic verb: incr, decr and ma are one call. Under
 * the key's stripe lock the old value is read, the new number computed
 * and a new item linked in its place, so reading and replacing are one
 * step (items are immutable once linked).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "storage/store_int.h"
#include "util/util.h"

#define DIGITS_MAX 20       /* digits of UINT64_MAX */

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

/* Link KEY = NUM, space padded to the old length as memcached's in-place
 * rewrite leaves a shrinking number. */
static int
link_number_locked(struct keyref *k, struct item **oldp, const char *key,
                   size_t nkey, uint64_t num, uint32_t exptime,
                   const struct store_arith_opt *o, uint64_t *cas_out)
{
    struct item *old = *oldp;
    char buf[DIGITS_MAX + 1];
    int len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)num);
    size_t pad = old != NULL ? old->nvalue : 0;
    size_t nvalue = (size_t)len > pad ? (size_t)len : pad;
    struct item *it;
    int rc;

    it = store_alloc(k->st, key, nkey, old != NULL ? old->flags : 0, exptime,
                     nvalue, o->new_cas != 0, &rc);
    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), buf, (size_t)len);
    memset(item_value_mut(it) + len, ' ', nvalue - (size_t)len);
    store_assign_cas(k->st, it, o->new_cas);
    if (old != NULL) {
        atomic_fetch_or(&it->bits, store_arith_bits(old, nvalue));
    }
    *oldp = mut_link_locked(k, old, it, false);
    *cas_out = it->cas;
    item_unref(it);     /* the table keeps its own reference */
    return STORE_OK;
}

/* On STORE_OK *OLDP is the replaced item, to unref after unlocking. */
static int
arith_locked(struct keyref *k, struct item **oldp, const char *key,
             size_t nkey, const struct store_arith_opt *o,
             struct store_arith_res *res)
{
    struct item *old = *oldp;
    uint64_t num;
    uint32_t exp;

    if (old == NULL) {
        if (!o->vivify) {
            return STORE_MISS;
        }
        res->value = o->initial;
        res->exptime = o->vivify_exptime;
        res->vivified = true;
        return link_number_locked(k, oldp, key, nkey, o->initial,
                                  o->vivify_exptime, o, &res->cas);
    }
    /* an empty value is refused before the CAS is compared (1.6.18) */
    if (old->nvalue == 0) {
        return STORE_NON_NUMERIC;
    }
    if (o->has_cas && old->cas != o->cas) {
        return STORE_EXISTS;
    }
    if (!util_scan_u64(item_value(old), old->nvalue, &num)) {
        return STORE_NON_NUMERIC;
    }
    if (!o->decr) {
        num += o->delta;            /* wraps modulo 2^64, as memcached */
    } else {
        num = o->delta > num ? 0 : num - o->delta;
    }
    exp = atomic_load(&old->exptime);
    res->value = num;
    res->exptime_before = exp;
    res->exptime = o->touch ? o->exptime : exp;
    return link_number_locked(k, oldp, key, nkey, num, res->exptime, o,
                              &res->cas);
}

int
store_arith(struct store_session *ses, const char *key, size_t nkey,
            const struct store_arith_opt *opt, struct store_arith_res *res)
{
    struct store *st = ses->st;
    struct item *old;
    struct keyref k;
    int rc;

    memset(res, 0, sizeof(*res));
    if (!key_valid(key, nkey)) {
        return STORE_EINVAL;
    }
    store_flush_due(st, ses, store_now(st));
    old = key_lock_lookup(&k, st, ses, MUT_CLIENT, key, nkey, NULL);
    rc = arith_locked(&k, &old, key, nkey, opt, res);
    key_unlock(&k);
    if (rc == STORE_OK) {
        item_unref(old);
        store_after_write(st);
    }
    return rc;
}
