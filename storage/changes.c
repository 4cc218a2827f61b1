/*
 * changes.c -- the change log: the keys changed since the snapshot
 * writer's last take (dirty keys and tombstones). Only mutate.c records
 * into it.
 *
 * Each stripe keeps a log of keys, guarded by its lock, and an epoch
 * number. A key is appended when an item of it changes and its epoch
 * differs from the stripe's: the item then takes the stripe's epoch, and
 * an item replacing it inherits the epoch, so a key rewritten a thousand
 * times between two snapshots is logged once. (A key deleted and then
 * re-added in one epoch is logged twice; takers see its current state
 * both times, which is harmless.) The logs share one byte budget,
 * changelog_max; past it, logging stops and the next take reports an
 * overflow so the writer does a full rewrite instead.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "storage/store_int.h"

void
changes_record_locked(struct store *st, struct stripe *s, struct item *it)
{
    struct changelog *log = &s->log;
    size_t need = 1 + (size_t)it->nkey;

    if (st->cfg.changelog_max == 0 || it->epoch == s->epoch ||
        atomic_load_explicit(&st->changes_overflow, memory_order_relaxed)) {
        return;
    }
    if (atomic_fetch_add(&st->changes_bytes, need) + need >
        st->cfg.changelog_max) {
        atomic_fetch_sub(&st->changes_bytes, need);
        atomic_store(&st->changes_overflow, true);
        return;
    }
    if (log->len + need > log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 256;
        char *buf;

        while (cap < log->len + need) {
            cap *= 2;
        }
        buf = realloc(log->buf, cap);
        if (buf == NULL) {
            atomic_fetch_sub(&st->changes_bytes, need);
            atomic_store(&st->changes_overflow, true);
            return;
        }
        log->buf = buf;
        log->cap = cap;
    }
    log->buf[log->len] = (char)it->nkey;
    memcpy(log->buf + log->len + 1, it->data, it->nkey);
    log->len += need;
    it->epoch = s->epoch;
}

void
changes_release(struct store *st)
{
    unsigned i;

    for (i = 0; i < HASH_NSTRIPES; i++) {
        free(st->hash.stripes[i].log.buf);
        st->hash.stripes[i].log.buf = NULL;
    }
}

size_t
store_changes_bytes(const struct store *st)
{
    return atomic_load(&st->changes_bytes);
}

/* Call FN for each key in LOG with its current live item. */
static int
changes_replay(struct store *st, struct stripe *s, const struct changelog *log,
               store_change_fn fn, void *arg)
{
    size_t off = 0;
    int rc = 0;

    while (rc == 0 && off < log->len) {
        size_t nkey = (unsigned char)log->buf[off];
        const char *key = log->buf + off + 1;
        uint64_t hv = hash_key(key, nkey);
        struct item *it;

        pthread_mutex_lock(&s->lock);
        it = *hash_find_locked(&st->hash, s, hv, key, nkey);
        if (it != NULL && store_item_dead(st, it, store_now(st))) {
            it = NULL;
        }
        if (it != NULL) {
            item_ref(it);
        }
        pthread_mutex_unlock(&s->lock);
        rc = fn(arg, key, nkey, it);
        item_unref(it);
        off += 1 + nkey;
    }
    return rc;
}

int
store_changes_take(struct store *st, store_change_fn fn, void *arg)
{
    bool overflow;
    unsigned i;
    int rc = 0;

    if (st->cfg.changelog_max == 0) {
        return 1;           /* nothing is tracked: always rewrite */
    }
    overflow = atomic_exchange(&st->changes_overflow, false);
    for (i = 0; i < HASH_NSTRIPES; i++) {
        struct stripe *s = &st->hash.stripes[i];
        struct changelog log;

        pthread_mutex_lock(&s->lock);
        log = s->log;
        memset(&s->log, 0, sizeof(s->log));
        if (++s->epoch == 0) {
            s->epoch = 1;   /* 0 is the epoch of never-logged items */
        }
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_sub(&st->changes_bytes, log.len);
        if (!overflow && rc == 0) {
            rc = changes_replay(st, s, &log, fn, arg);
            if (rc != 0) {
                /* the rest of this epoch is lost: force a full rewrite */
                atomic_store(&st->changes_overflow, true);
            }
        }
        free(log.buf);
    }
    return overflow ? 1 : rc;
}
