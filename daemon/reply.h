/*
 * reply.h -- a connection's pending output: small text plus item values.
 *
 * Layer: daemon-private; libc and storage/store.h (for item references).
 *
 * A reply is a list of segments sent in order with writev(). A text
 * segment is a range of the reply's own text buffer (reply lines: VALUE
 * headers, STORED, stats...). A value segment points straight into an
 * item -- the value and its "\r\n" -- and holds one reference to that
 * item until the bytes are written, so values are never copied. This is
 * the buffer only: which bytes go in is compose.c's business.
 *
 *   segs:  [text 0..23][item A value][text 23..41][item B value] ...
 *   text:  "VALUE a 0 5\r\n" "VALUE b 0 9\r\n" "END\r\n" ...
 *
 * Invariants
 *  - Text segments store offsets, not pointers: the text buffer may move
 *    when it grows. Consecutive text appends merge into one segment.
 *  - pending() counts bytes not yet written; mem counts the heap the
 *    reply holds (its text buffer and segment array, whatever their
 *    use). The caller stops executing a client whose pending + mem
 *    passes its cap, and sets `limit` so that a long multi-get stops
 *    part-way too (reply_full()): a reply never grows beyond its cap +
 *    one key's or one ordinary request's worth.
 *  - A pool's `held` is the sum of mem over the replies that use it:
 *    the output memory of one worker, which the caller bounds.
 *  - Buffers grow by doubling and are kept for reuse between batches (no
 *    allocation per request in steady state); oversized ones are dropped
 *    when the reply drains, so one huge stats reply does not pin memory.
 *
 * Thread: a reply belongs to one connection, used by its worker only.
 */
#ifndef EMBER_REPLY_H
#define EMBER_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct item;

struct reply_seg {
    struct item *it;        /* value segment: owned reference; else NULL */
    const char *base;       /* value bytes (it != NULL) */
    size_t off;             /* text segment: offset into text */
    size_t len;
};

/*
 * Spare standard-size buffers of one worker, so that idle connections
 * hold no reply buffers and busy ones still do not malloc per request.
 * Thread: the owning worker only.
 */
#define REPLY_POOL_MAX 64

struct reply_pool {
    size_t held;            /* bytes: mem of every reply using the pool */
    char *text[REPLY_POOL_MAX];
    unsigned ntext;
    struct reply_seg *segs[REPLY_POOL_MAX];
    unsigned nsegs;
};

struct reply {
    struct reply_pool *pool;    /* borrowed, may be NULL */
    char *text;             /* owned */
    size_t text_len;
    size_t text_cap;
    struct reply_seg *segs; /* owned */
    size_t nsegs;
    size_t segs_cap;
    size_t sent_seg;        /* first segment not fully written */
    size_t sent_off;        /* bytes of segs[sent_seg] already written */
    size_t pending;         /* bytes still to write */
    size_t mem;             /* bytes of heap held: text_cap + segments */
    size_t limit;           /* reply_full() from here; SIZE_MAX: never */
    bool oom;               /* an append failed; the reply is incomplete */
};

enum reply_rc {
    REPLY_OK = 0,
    REPLY_AGAIN = 1,        /* socket full: wait for writability */
    REPLY_ENOMEM = -1,
    REPLY_EIO = -2,         /* write failed (peer gone); see *sys_err */
};

/* Initialise an empty reply (allocates nothing, no limit), no pool. */
void reply_init(struct reply *r);

/*
 * Let R take its buffers from POOL and give them back whenever it has
 * drained (buffers that grew past the standard size are freed instead).
 * Without a pool a reply keeps its buffers until reply_release(). R's
 * mem counts in POOL's held from now on (and no longer in the old one's).
 */
void reply_set_pool(struct reply *r, struct reply_pool *pool);

/* Free every buffer POOL holds. */
void reply_pool_release(struct reply_pool *pool);

/* Drop every segment (unref'ing items) and free the buffers. */
void reply_release(struct reply *r);

/*
 * Room for N (>= 1) more bytes of text at the end of R, in one piece:
 * returns where to write them, or NULL when a buffer cannot grow (r->oom
 * is then set and R is unchanged). Write at most N bytes there, then
 * reply_commit() how many were written; nothing else may append to R in
 * between. So a line is either appended whole or not at all.
 * Thread: owner. Blocks: never. Allocates: only when growing.
 */
char *reply_reserve(struct reply *r, size_t n);

/* Append the first N bytes written after the last reply_reserve(). */
void reply_commit(struct reply *r, size_t n);

/*
 * Append text. On allocation failure r->oom is set and the append is
 * dropped, and so is every later one: the reply stream is no longer
 * whole, and its connection must be closed (conn.c does, with a log
 * line), never sent shortened.
 * Thread: owner. Blocks: never. Allocates: only when growing.
 */
void reply_text(struct reply *r, const char *s, size_t n);

/*
 * Append the value of IT (item_value(), nvalue + 2 bytes including the
 * "\r\n") as a segment. Takes over the caller's reference to IT, which
 * is dropped once written or on reply_release().
 */
void reply_item(struct reply *r, struct item *it);

/* A point in the reply to roll back to (noreply). */
struct reply_mark {
    size_t nsegs;
    size_t last_len;        /* length of segs[nsegs - 1] at mark time */
    size_t text_len;
    size_t pending;
};

/*
 * Remember the current end of R / drop everything appended since the
 * mark (unref'ing items), as if it had never been appended. Used to
 * honour noreply without threading a flag through every reply path.
 */
void reply_mark(const struct reply *r, struct reply_mark *m);
void reply_rollback(struct reply *r, const struct reply_mark *m);

/* Bytes appended but not yet written. */
static inline size_t
reply_pending(const struct reply *r)
{
    return r->pending;
}

/* What R weighs against a cap: bytes to write plus heap held. */
static inline size_t
reply_weight(const struct reply *r)
{
    return r->pending + r->mem;
}

/* Whether R reached its limit: a producer that can stop part-way (a
 * multi-get) stops here and goes on once R has drained. */
static inline bool
reply_full(const struct reply *r)
{
    return reply_weight(r) >= r->limit;
}

/*
 * Write as much pending output to FD as it takes, with writev() in
 * batches of at most IOV_MAX segments. Returns REPLY_OK when all was
 * written (buffers are reset for reuse), REPLY_AGAIN when the socket is
 * full, REPLY_EIO on a write error (*sys_err = errno). *written gets the
 * bytes written by this call.
 * Thread: owner. Blocks: never (FD must be non-blocking).
 */
int reply_flush(struct reply *r, int fd, size_t *written, int *sys_err);

#endif /* EMBER_REPLY_H */
