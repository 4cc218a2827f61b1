/*
 * reply.c -- pending output of a connection (see reply.h).
 */
#include "config.h"

#include "daemon/reply.h"

#include "storage/store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define TEXT_INITIAL 4096u
#define SEGS_INITIAL 64u
/* Buffers above these are freed when a reply drains (rare big replies). */
#define TEXT_KEEP (256u * 1024u)
#define SEGS_KEEP 4096u
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define IOV_BATCH (IOV_MAX < 1024 ? IOV_MAX : 1024)

void
reply_init(struct reply *r)
{
    memset(r, 0, sizeof(*r));
    r->limit = SIZE_MAX;
}

void
reply_set_pool(struct reply *r, struct reply_pool *pool)
{
    if (r->pool != NULL) {
        r->pool->held -= r->mem;
    }
    r->pool = pool;
    if (pool != NULL) {
        pool->held += r->mem;
    }
}

/* R's buffers took ADD more bytes and gave back SUB. */
static void
account(struct reply *r, size_t add, size_t sub)
{
    r->mem = r->mem + add - sub;
    if (r->pool != NULL) {
        r->pool->held = r->pool->held + add - sub;
    }
}

void
reply_pool_release(struct reply_pool *pool)
{
    while (pool->ntext > 0) {
        free(pool->text[--pool->ntext]);
    }
    while (pool->nsegs > 0) {
        free(pool->segs[--pool->nsegs]);
    }
}

static void
drop_segments(struct reply *r)
{
    size_t i;

    for (i = r->sent_seg; i < r->nsegs; i++) {
        if (r->segs[i].it != NULL) {
            item_unref(r->segs[i].it);
            r->segs[i].it = NULL;
        }
    }
    r->nsegs = 0;
    r->sent_seg = 0;
    r->sent_off = 0;
    r->text_len = 0;
    r->pending = 0;
}

void
reply_release(struct reply *r)
{
    struct reply_pool *pool = r->pool;

    drop_segments(r);
    account(r, 0, r->mem);
    free(r->text);
    free(r->segs);
    reply_init(r);
    r->pool = pool;
}

static bool
grow_text(struct reply *r, size_t need)
{
    size_t cap = r->text_cap != 0 ? r->text_cap : TEXT_INITIAL;
    char *p;

    if (r->text == NULL && need <= TEXT_INITIAL && r->pool != NULL &&
        r->pool->ntext > 0) {
        r->text = r->pool->text[--r->pool->ntext];
        r->text_cap = TEXT_INITIAL;
        account(r, TEXT_INITIAL, 0);
        return true;
    }

    while (cap - r->text_len < need) {
        if (cap > SIZE_MAX / 2) {
            return false;
        }
        cap *= 2;
    }
    p = realloc(r->text, cap);
    if (p == NULL) {
        return false;
    }
    account(r, cap, r->text_cap);
    r->text = p;
    r->text_cap = cap;
    return true;
}

/* Room for one more segment; false when the array cannot grow. */
static bool
ensure_seg(struct reply *r)
{
    struct reply_seg *p;
    size_t cap;

    if (r->segs == NULL && r->pool != NULL && r->pool->nsegs > 0) {
        r->segs = r->pool->segs[--r->pool->nsegs];
        r->segs_cap = SEGS_INITIAL;
        account(r, SEGS_INITIAL * sizeof(*p), 0);
    }
    if (r->nsegs == r->segs_cap) {
        cap = r->segs_cap != 0 ? r->segs_cap * 2 : SEGS_INITIAL;
        p = realloc(r->segs, cap * sizeof(*p));
        if (p == NULL) {
            return false;
        }
        account(r, cap * sizeof(*p), r->segs_cap * sizeof(*p));
        r->segs = p;
        r->segs_cap = cap;
    }
    return true;
}

char *
reply_reserve(struct reply *r, size_t n)
{
    if (r->oom) {
        return NULL;
    }
    if ((r->text_cap - r->text_len < n && !grow_text(r, n)) ||
        !ensure_seg(r)) {
        r->oom = true;
        return NULL;
    }
    return r->text + r->text_len;
}

void
reply_commit(struct reply *r, size_t n)
{
    struct reply_seg *last;

    if (n == 0 || r->oom) {
        return;
    }
    last = r->nsegs > r->sent_seg ? &r->segs[r->nsegs - 1] : NULL;
    if (last == NULL || last->it != NULL ||
        last->off + last->len != r->text_len) {
        last = &r->segs[r->nsegs++];    /* reply_reserve made room */
        last->it = NULL;
        last->base = NULL;
        last->off = r->text_len;
        last->len = 0;
    }
    r->text_len += n;
    last->len += n;
    r->pending += n;
}

void
reply_text(struct reply *r, const char *s, size_t n)
{
    char *p;

    if (n == 0 || (p = reply_reserve(r, n)) == NULL) {
        return;
    }
    memcpy(p, s, n);
    reply_commit(r, n);
}

void
reply_item(struct reply *r, struct item *it)
{
    struct reply_seg *seg;

    if (r->oom || !ensure_seg(r)) {
        r->oom = true;
        item_unref(it);
        return;
    }
    seg = &r->segs[r->nsegs++];
    seg->it = it;
    seg->base = item_value(it);
    seg->off = 0;
    seg->len = (size_t)item_nvalue(it) + 2;
    r->pending += seg->len;
}

void
reply_mark(const struct reply *r, struct reply_mark *m)
{
    m->nsegs = r->nsegs;
    m->last_len = r->nsegs > 0 ? r->segs[r->nsegs - 1].len : 0;
    m->text_len = r->text_len;
    m->pending = r->pending;
}

void
reply_rollback(struct reply *r, const struct reply_mark *m)
{
    size_t i;

    for (i = m->nsegs; i < r->nsegs; i++) {
        if (r->segs[i].it != NULL) {
            item_unref(r->segs[i].it);
            r->segs[i].it = NULL;
        }
    }
    r->nsegs = m->nsegs;
    if (m->nsegs > 0) {
        r->segs[m->nsegs - 1].len = m->last_len;
    }
    r->text_len = m->text_len;
    r->pending = m->pending;
}

/* Fill IOV from the unsent segments; returns how many were used. */
static int
fill_iov(const struct reply *r, struct iovec *iov)
{
    size_t i;
    int n = 0;
    const struct reply_seg *s;
    size_t skip;

    for (i = r->sent_seg; i < r->nsegs && n < IOV_BATCH; i++) {
        s = &r->segs[i];
        skip = i == r->sent_seg ? r->sent_off : 0;
        iov[n].iov_base = (char *)(s->it != NULL ? s->base
                                                 : r->text + s->off) + skip;
        iov[n].iov_len = s->len - skip;
        n++;
    }
    return n;
}

/* Mark N bytes written: advance the cursor, unref finished items. */
static void
advance(struct reply *r, size_t n)
{
    struct reply_seg *s;
    size_t left;

    r->pending -= n;
    while (n > 0) {
        s = &r->segs[r->sent_seg];
        left = s->len - r->sent_off;
        if (n < left) {
            r->sent_off += n;
            return;
        }
        n -= left;
        if (s->it != NULL) {
            item_unref(s->it);
            s->it = NULL;
        }
        r->sent_seg++;
        r->sent_off = 0;
    }
}

/* Pooled: standard buffers go back to the pool, grown ones are freed. */
static void
give_back(struct reply *r)
{
    struct reply_pool *pool = r->pool;

    account(r, 0, r->mem);      /* every buffer leaves the reply */
    if (r->text != NULL) {
        if (r->text_cap == TEXT_INITIAL && pool->ntext < REPLY_POOL_MAX) {
            pool->text[pool->ntext++] = r->text;
        } else {
            free(r->text);
        }
        r->text = NULL;
        r->text_cap = 0;
    }
    if (r->segs != NULL) {
        if (r->segs_cap == SEGS_INITIAL && pool->nsegs < REPLY_POOL_MAX) {
            pool->segs[pool->nsegs++] = r->segs;
        } else {
            free(r->segs);
        }
        r->segs = NULL;
        r->segs_cap = 0;
    }
}

/* All written: reset, and give back buffers a big reply inflated. */
static void
reset_drained(struct reply *r)
{
    drop_segments(r);
    if (r->pool != NULL) {
        give_back(r);
        return;
    }
    if (r->text_cap > TEXT_KEEP) {
        account(r, 0, r->text_cap);
        free(r->text);
        r->text = NULL;
        r->text_cap = 0;
    }
    if (r->segs_cap > SEGS_KEEP) {
        account(r, 0, r->segs_cap * sizeof(*r->segs));
        free(r->segs);
        r->segs = NULL;
        r->segs_cap = 0;
    }
}

int
reply_flush(struct reply *r, int fd, size_t *written, int *sys_err)
{
    struct iovec iov[IOV_BATCH];
    ssize_t n;
    int cnt;

    *written = 0;
    while (r->pending > 0) {
        cnt = fill_iov(r, iov);
        n = writev(fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return REPLY_AGAIN;
            }
            *sys_err = errno;
            return REPLY_EIO;
        }
        *written += (size_t)n;
        advance(r, (size_t)n);
    }
    reset_drained(r);
    return REPLY_OK;
}
