/*
 * store_short.h -- short forms of the store's verbs for the storage and
 * snapshot tests: each runs one command in a session without a sink (a
 * pure cache), with the classic options. Tests that exercise options or
 * sinks call the verbs themselves.
 */
#ifndef EMBER_TESTS_STORE_SHORT_H
#define EMBER_TESTS_STORE_SHORT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "storage/store.h"

/* The classic cas command as a mode: set with a CAS to compare. */
#define T_CAS ((enum store_mode)100)

static inline struct store_session
t_ses(struct store *st)
{
    struct store_session ses;

    store_session_init(&ses, st, NULL, NULL);
    return ses;
}

/* get: *OUT a new reference on a hit (NULL on a miss). */
static inline int
t_get(struct store *st, const char *key, size_t nkey, struct item **out,
      bool *expired)
{
    struct store_session ses = t_ses(st);
    struct store_get_res res;
    int rc = store_get(&ses, key, nkey, NULL, &res);

    *out = res.it;
    if (expired != NULL) {
        *expired = res.expired;
    }
    return rc;
}

/* touch (OUT NULL) or gat (OUT gets a new reference). */
static inline int
t_touch(struct store *st, const char *key, size_t nkey, uint32_t exptime,
        struct item **out)
{
    struct store_session ses = t_ses(st);
    struct store_get_opt opt = { .touch = true, .exptime = exptime };
    struct store_get_res res;
    int rc = store_get(&ses, key, nkey, &opt, &res);

    if (out != NULL) {
        *out = res.it;
    } else {
        item_unref(res.it);
    }
    return rc;
}

/* delete; a non-zero CAS_IN must match. */
static inline int
t_delete(struct store *st, const char *key, size_t nkey, uint64_t cas_in)
{
    struct store_session ses = t_ses(st);
    struct store_del_opt opt = { .has_cas = cas_in != 0, .cas = cas_in };

    return store_delete(&ses, key, nkey, &opt);
}

/*
 * set/add/replace/append/prepend, or T_CAS; a non-zero CAS_IN must match
 * for every mode but add. *CAS_OUT (may be NULL) gets the new CAS.
 */
static inline int
t_store(struct store *st, struct item *it, enum store_mode mode,
        uint64_t cas_in, uint64_t *cas_out)
{
    struct store_session ses = t_ses(st);
    struct store_set_opt opt = { .mode = mode };
    struct store_set_res res;
    int rc;

    if (mode == T_CAS) {
        opt.mode = STORE_SET;
        opt.has_cas = true;
    } else {
        opt.has_cas = cas_in != 0 && mode != STORE_ADD;
    }
    opt.cas = cas_in;
    rc = store_set(&ses, it, &opt, &res);
    if (rc == STORE_OK && cas_out != NULL) {
        *cas_out = res.cas;
    }
    return rc;
}

/* incr (INCR) or decr by DELTA; *VALUE the new number. */
static inline int
t_arith(struct store *st, const char *key, size_t nkey, bool incr,
        uint64_t delta, uint64_t *value)
{
    struct store_session ses = t_ses(st);
    struct store_arith_opt opt = { .decr = !incr, .delta = delta };
    struct store_arith_res res;
    int rc = store_arith(&ses, key, nkey, &opt, &res);

    *value = res.value;
    return rc;
}

static inline void
t_flush(struct store *st, uint32_t when)
{
    struct store_session ses = t_ses(st);

    store_flush(&ses, when);
}

/* What a snapshot loader does: link IT with CAS and ATIME, LRU tail. */
static inline int
t_load(struct store *st, struct item *it, uint64_t cas, uint32_t atime)
{
    struct store_restore r;

    memset(&r, 0, sizeof(r));
    r.kind = STORE_CHANGE_LINK;
    r.it = it;
    r.cas = cas;
    r.atime = atime;
    r.lru_tail = true;
    return store_restore(st, &r);
}

#endif /* EMBER_TESTS_STORE_SHORT_H */
