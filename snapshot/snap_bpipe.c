/*
 * snap_bpipe.c -- the writer's block pipeline (snap_int.h): records come
 * in snapshot order from the store's walk, are copied into the raw bytes
 * of the block being filled, and each full block is sealed (compressed)
 * by one of SNAP_ENCODERS threads while the walk goes on; sealed blocks
 * are handed to the sink in order, on the walker's thread.
 *
 * Memory: a ring of BP_SLOTS blocks, each its raw bytes and its sealed
 * value; the walker waits when the blocks in flight hold more than
 * BP_INFLIGHT raw bytes, so a run of huge values cannot pile up. Buffers
 * grown for a huge value are given back once it is delivered.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_int.h"

#define BP_SLOTS 8
#define BP_INFLIGHT (8u << 20)       /* raw bytes submitted, not delivered */
#define BP_KEEP (4u * SNAPFMT_BLOCK_TARGET) /* buffer bytes kept for reuse */

enum { SLOT_FILLING, SLOT_READY, SLOT_DONE };

struct bslot {
    unsigned char *raw;
    size_t rawcap;
    size_t raw_len;
    unsigned char *out;       /* the sealed value */
    size_t outcap;
    size_t outlen;
    unsigned char key[SNAPFMT_BKEY_MAX];
    size_t nkey;
    uint32_t nrec;
    uint64_t first_hash;
    uint64_t last_hash;
    size_t last_off;          /* the last record's key, in raw */
    size_t last_nkey;
    int state;                /* guarded by: the pipe's lock */
    int rc;
};

struct bpipe;

struct bworker {
    struct bpipe *p;
    struct snapfmt_codec *codec;
    pthread_t tid;
};

struct bpipe {
    struct snap *sn;
    uint64_t run;
    bpipe_sink_fn sink;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct bslot slot[BP_SLOTS];
    /* guarded by: lock */
    uint64_t claim;           /* next block a compressor takes */
    uint64_t ready;           /* blocks below this are submitted */
    uint64_t sealed;          /* blocks the compressors finished */
    size_t inflight;          /* raw bytes submitted, not delivered */
    bool stop;
    /* the walker's own */
    uint64_t fill;            /* block being filled */
    uint64_t delivered;       /* blocks below this went to the sink */
    int rc;
    struct bworker w[SNAP_ENCODERS];
    unsigned nthreads;
};

/* The codecs of the compressor threads (kept by the snap). */
static int
codecs_ready(struct snap *sn)
{
    for (unsigned i = 0; i < SNAP_ENCODERS; i++) {
        if (sn->codecs[i] == NULL) {
            sn->codecs[i] = snapfmt_codec_create(sn->cfg.compression);
            if (sn->codecs[i] == NULL) {
                return SNAPFMT_ENOMEM;
            }
        }
    }
    return SNAPFMT_OK;
}

/* Seal block S of run RUN with codec C. */
static int
slot_seal(struct bslot *s, uint64_t run, struct snapfmt_codec *c)
{
    struct snapfmt_bseal bs = {
        .run = run, .raw = s->raw, .raw_len = s->raw_len, .nrec = s->nrec,
        .first_hash = s->first_hash, .last_hash = s->last_hash,
        .last_key = s->raw + s->last_off, .last_nkey = s->last_nkey,
    };
    size_t need = snapfmt_block_bound(s->raw_len);

    if (need > s->outcap) {
        unsigned char *p = realloc(s->out, need);

        if (p == NULL) {
            return SNAPFMT_ENOMEM;
        }
        s->out = p;
        s->outcap = need;
    }
    return snapfmt_block_seal(c, &bs, s->out, s->outcap, &s->outlen, s->key,
                              &s->nkey);
}

static void *
compressor_main(void *arg)
{
    struct bworker *w = arg;
    struct bpipe *p = w->p;
    struct bslot *s;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->claim == p->ready) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        s = &p->slot[p->claim++ % BP_SLOTS];
        pthread_mutex_unlock(&p->lock);
        s->rc = slot_seal(s, p->run, w->codec);
        pthread_mutex_lock(&p->lock);
        s->state = SLOT_DONE;
        p->sealed++;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int
bpipe_open(struct snap *sn, uint64_t run, bpipe_sink_fn sink, void *arg,
           struct bpipe **out)
{
    struct bpipe *p = calloc(1, sizeof(*p));

    if (p == NULL || codecs_ready(sn) != SNAPFMT_OK) {
        free(p);
        return SNAPFMT_ENOMEM;
    }
    p->sn = sn;
    p->run = run;
    p->sink = sink;
    p->arg = arg;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->slot[0].state = SLOT_FILLING;
    for (unsigned i = 0; i < SNAP_ENCODERS; i++) {
        p->w[i] = (struct bworker){ .p = p, .codec = sn->codecs[i] };
        if (pthread_create(&p->w[i].tid, NULL, compressor_main, &p->w[i]) !=
            0) {
            break;      /* fewer threads; none: the walker seals */
        }
        p->nthreads++;
    }
    *out = p;
    return SNAPFMT_OK;
}

/* Give the sink block S; shrink buffers a huge value grew. */
static int
slot_deliver(struct bpipe *p, struct bslot *s)
{
    int rc = s->rc;

    if (rc == SNAPFMT_OK) {
        rc = p->sink(p->arg, s->key, s->nkey, s->out, s->outlen, s->nrec,
                     s->raw_len);
    }
    if (s->rawcap > BP_KEEP) {
        free(s->raw);
        s->raw = NULL;
        s->rawcap = 0;
    }
    if (s->outcap > BP_KEEP) {
        free(s->out);
        s->out = NULL;
        s->outcap = 0;
    }
    pthread_mutex_lock(&p->lock);
    p->inflight -= s->raw_len;
    pthread_mutex_unlock(&p->lock);
    s->raw_len = 0;
    s->nrec = 0;
    s->state = SLOT_FILLING;
    return rc;
}

/* Deliver submitted blocks in order, waiting for each, until fewer than
 * KEEP remain undelivered and the bytes in flight are under the limit. */
static int
deliver_upto(struct bpipe *p, uint64_t keep)
{
    struct bslot *s;
    bool more;
    int rc = SNAPFMT_OK;

    while (rc == SNAPFMT_OK && p->delivered < p->fill) {
        s = &p->slot[p->delivered % BP_SLOTS];
        pthread_mutex_lock(&p->lock);
        more = p->fill - p->delivered > keep || p->inflight > BP_INFLIGHT ||
               s->state == SLOT_DONE;
        while (more && s->state != SLOT_DONE) {
            pthread_cond_wait(&p->cond, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        if (!more) {
            break;
        }
        rc = slot_deliver(p, s);
        p->delivered++;
    }
    return rc;
}

/* Hand the block being filled to the compressors; start the next. */
static int
submit(struct bpipe *p)
{
    struct bslot *s = &p->slot[p->fill % BP_SLOTS];

    if (p->nthreads == 0) {
        s->rc = slot_seal(s, p->run, p->sn->codecs[0]);
        s->state = SLOT_DONE;
    }
    pthread_mutex_lock(&p->lock);
    if (p->nthreads > 0) {
        s->state = SLOT_READY;
        p->ready = p->fill + 1;
    }
    p->inflight += s->raw_len;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    p->fill++;
    /* the next slot is free once its last block was delivered */
    return deliver_upto(p, BP_SLOTS - 1);
}

int
bpipe_add(struct bpipe *p, const struct snapfmt_brec *r)
{
    size_t need = snapfmt_brec_size(r->nkey, r->type == SNAPFMT_B_TOMB
                                                 ? 0 : r->nvalue);
    struct bslot *s = &p->slot[p->fill % BP_SLOTS];

    if (p->rc != SNAPFMT_OK) {
        return p->rc;
    }
    if (s->nrec > 0 && s->raw_len + need > SNAPFMT_BLOCK_TARGET) {
        p->rc = submit(p);
        s = &p->slot[p->fill % BP_SLOTS];
        if (p->rc != SNAPFMT_OK) {
            return p->rc;
        }
    }
    if (s->raw_len + need > s->rawcap) {
        size_t cap = s->rawcap ? s->rawcap : SNAPFMT_BLOCK_TARGET + 4096;
        unsigned char *q;

        while (cap < s->raw_len + need) {
            cap *= 2;
        }
        q = realloc(s->raw, cap);
        if (q == NULL) {
            return p->rc = SNAPFMT_ENOMEM;
        }
        s->raw = q;
        s->rawcap = cap;
    }
    if (s->nrec == 0) {
        s->first_hash = r->hash;
    }
    s->last_hash = r->hash;
    s->last_off = s->raw_len + SNAPFMT_BREC_HDR;
    s->last_nkey = r->nkey;
    s->raw_len += snapfmt_brec_put(r, s->raw + s->raw_len);
    s->nrec++;
    return SNAPFMT_OK;
}

int
bpipe_finish(struct bpipe *p)
{
    if (p->rc == SNAPFMT_OK && p->slot[p->fill % BP_SLOTS].nrec > 0) {
        p->rc = submit(p);
    }
    if (p->rc == SNAPFMT_OK) {
        p->rc = deliver_upto(p, 0);
    }
    return p->rc;
}

void
bpipe_close(struct bpipe **pp)
{
    struct bpipe *p;

    if (pp == NULL || *pp == NULL) {
        return;
    }
    p = *pp;
    pthread_mutex_lock(&p->lock);
    /* a failed walk may leave blocks submitted: let them finish */
    while (p->nthreads > 0 && p->sealed < p->ready) {
        pthread_cond_wait(&p->cond, &p->lock);
    }
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++) {
        pthread_join(p->w[i].tid, NULL);
    }
    for (unsigned i = 0; i < BP_SLOTS; i++) {
        free(p->slot[i].raw);
        free(p->slot[i].out);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    *pp = NULL;
}
