/*
 * snap_encode.c -- compress a snapshot's records in parallel. Encoder
 * threads take chunks of the sorted batch in turn and fill a small ring
 * of chunk buffers; the writer thread hands the records to LMDB in key
 * order as chunks become ready. Compression is most of a snapshot's CPU
 * and LMDB allows one writer, so this is where a second core helps.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "snapshot/snap_int.h"

#define CHUNK 512                 /* entries per chunk, at most */
#define CHUNK_BYTES (1u << 20)    /* value bytes per chunk, unless one is
                                   * larger: caps the ring's memory */
#define RING 8                    /* chunk buffers in flight */

struct chunk {
    unsigned char *buf;
    size_t cap;
    uint32_t len[CHUNK];          /* record lengths, 0 for tombstones */
    size_t id;                    /* chunk number held, when ready */
    bool ready;
    int rc;
};

struct encoder {
    struct snap *sn;
    const struct wentry *v;
    size_t n;
    size_t nchunks;
    size_t *start;                /* chunk i is v[start[i] .. start[i+1]) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t next;                  /* next chunk to claim; guarded by lock */
    size_t consumed;              /* chunks written; guarded by lock */
    bool abort;                   /* guarded by lock */
    struct chunk ring[RING];
};

struct worker {
    struct encoder *e;
    struct snapfmt_codec *codec;
};

/* The record flags of an item's state (snapfmt knows nothing of items). */
unsigned
snap_rflags(unsigned state_bits, bool explicit_cas)
{
    unsigned rf = 0;

    rf |= (state_bits & STORE_STATE_FETCHED) ? SNAPFMT_RF_FETCHED : 0;
    rf |= (state_bits & STORE_STATE_STALE) ? SNAPFMT_RF_STALE : 0;
    rf |= (state_bits & STORE_STATE_WON) ? SNAPFMT_RF_WON : 0;
    rf |= (state_bits & STORE_STATE_KEY_BINARY) ? SNAPFMT_RF_KEY_BINARY : 0;
    rf |= explicit_cas ? SNAPFMT_RF_CAS_EXPLICIT : 0;
    return rf;
}

unsigned
snap_state_bits(unsigned rf)
{
    unsigned bits = 0;

    bits |= (rf & SNAPFMT_RF_FETCHED) ? STORE_STATE_FETCHED : 0;
    bits |= (rf & SNAPFMT_RF_STALE) ? STORE_STATE_STALE : 0;
    bits |= (rf & SNAPFMT_RF_WON) ? STORE_STATE_WON : 0;
    bits |= (rf & SNAPFMT_RF_KEY_BINARY) ? STORE_STATE_KEY_BINARY : 0;
    return bits;
}

/* Encode chunk ID into C. Only this thread touches C until it is ready. */
static int
encode_chunk(struct encoder *e, struct snapfmt_codec *codec,
             struct chunk *c, size_t id)
{
    size_t first = e->start[id], last = e->start[id + 1], need = 0, off = 0;

    for (size_t i = first; i < last; i++) {
        if (e->v[i].it != NULL) {
            need += snapfmt_encode_bound(item_nvalue(e->v[i].it));
        }
    }
    if (need > c->cap) {
        unsigned char *p = realloc(c->buf, need);
        if (p == NULL) {
            return SNAPFMT_ENOMEM;
        }
        c->buf = p;
        c->cap = need;
    }
    for (size_t i = first; i < last; i++) {
        struct item *it = e->v[i].it;
        struct snapfmt_item in;
        size_t n = 0;
        int rc;

        c->len[i - first] = 0;
        if (it == NULL) {
            continue;
        }
        in = (struct snapfmt_item){
            .key = e->v[i].key, .nkey = e->v[i].nkey,
            .value = item_value(it), .nvalue = item_nvalue(it),
            .flags = item_flags(it), .exptime = item_exptime(it),
            .atime = item_atime(it), .cas = item_cas(it),
            .rflags = snap_rflags(item_state_bits(it),
                                  item_cas_explicit(it)),
        };
        rc = snapfmt_encode(codec, &in, c->buf + off, c->cap - off, &n);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        c->len[i - first] = (uint32_t)n;
        off += n;
    }
    return SNAPFMT_OK;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct encoder *e = w->e;
    struct chunk *c;
    size_t id;
    int rc;

    pthread_mutex_lock(&e->lock);
    while (!e->abort && e->next < e->nchunks) {
        id = e->next;
        if (id - e->consumed >= RING) {
            /* the writer is behind: wait for a free buffer */
            pthread_cond_wait(&e->cond, &e->lock);
            continue;
        }
        e->next++;
        c = &e->ring[id % RING];
        pthread_mutex_unlock(&e->lock);
        rc = encode_chunk(e, w->codec, c, id);
        pthread_mutex_lock(&e->lock);
        c->rc = rc;
        c->id = id;
        c->ready = true;
        pthread_cond_broadcast(&e->cond);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* Hand chunk ID's records to PUT, in order. */
static int
put_chunk(struct encoder *e, const struct chunk *c, size_t id,
          snap_put_fn put, void *arg)
{
    size_t first = e->start[id], last = e->start[id + 1], off = 0;
    int rc = 0;

    for (size_t i = first; rc == 0 && i < last; i++) {
        size_t n = c->len[i - first];
        rc = put(arg, i, n ? c->buf + off : NULL, n);
        off += n;
    }
    return rc;
}

/* The writer's side: consume chunks in order. */
static int
consume(struct encoder *e, snap_put_fn put, void *arg)
{
    int rc = 0;

    for (size_t id = 0; rc == 0 && id < e->nchunks; id++) {
        struct chunk *c = &e->ring[id % RING];

        pthread_mutex_lock(&e->lock);
        while (!(c->ready && c->id == id)) {
            pthread_cond_wait(&e->cond, &e->lock);
        }
        pthread_mutex_unlock(&e->lock);
        rc = c->rc != SNAPFMT_OK ? c->rc : put_chunk(e, c, id, put, arg);
        pthread_mutex_lock(&e->lock);
        c->ready = false;
        e->consumed++;
        e->abort = e->abort || rc != 0;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
    }
    return rc;
}

static int
codecs_ready(struct snap *sn, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (sn->codecs[i] == NULL) {
            sn->codecs[i] = snapfmt_codec_create(sn->cfg.compression);
            if (sn->codecs[i] == NULL) {
                return SNAPFMT_ENOMEM;
            }
        }
        snapfmt_codec_set_dict(sn->codecs[i], sn->dict);
    }
    return SNAPFMT_OK;
}

/* Few entries: no threads, one chunk at a time in this thread. */
static int
run_inline(struct encoder *e, snap_put_fn put, void *arg)
{
    int rc = 0;

    for (size_t id = 0; rc == 0 && id < e->nchunks; id++) {
        rc = encode_chunk(e, e->sn->codec, &e->ring[0], id);
        if (rc == 0) {
            rc = put_chunk(e, &e->ring[0], id, put, arg);
        }
    }
    return rc;
}

/*
 * Cut V into chunks of at most CHUNK entries and about CHUNK_BYTES; with
 * START NULL only count them. Returns the number of chunks.
 */
static size_t
chunks_cut(const struct encoder *e, size_t *start)
{
    size_t bytes = 0, count = 0, k = 0;

    for (size_t i = 0; i < e->n; i++) {
        size_t sz = e->v[i].it ? item_nvalue(e->v[i].it) : 0;

        if (i == 0 || count == CHUNK || bytes + sz > CHUNK_BYTES) {
            if (start != NULL) {
                start[k] = i;
            }
            k++;
            bytes = count = 0;
        }
        bytes += sz;
        count++;
    }
    if (start != NULL) {
        start[k] = e->n;
    }
    return k;
}

static int
chunks_plan(struct encoder *e)
{
    e->nchunks = chunks_cut(e, NULL);
    e->start = malloc((e->nchunks + 1) * sizeof(*e->start));
    if (e->start == NULL) {
        return SNAPFMT_ENOMEM;
    }
    chunks_cut(e, e->start);
    return SNAPFMT_OK;
}

int
snap_encode_run(struct snap *sn, const struct wentry *v, size_t n,
                snap_put_fn put, void *arg)
{
    struct encoder *e = calloc(1, sizeof(*e));
    struct worker w[SNAP_ENCODERS];
    pthread_t tid[SNAP_ENCODERS];
    unsigned started = 0;
    int rc;

    if (e == NULL) {
        return SNAPFMT_ENOMEM;
    }
    *e = (struct encoder){ .sn = sn, .v = v, .n = n };
    if (chunks_plan(e) != SNAPFMT_OK) {
        free(e);
        return SNAPFMT_ENOMEM;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    if (e->nchunks < 4 || codecs_ready(sn, SNAP_ENCODERS) != SNAPFMT_OK) {
        rc = run_inline(e, put, arg);
    } else {
        for (unsigned i = 0; i < SNAP_ENCODERS; i++) {
            w[i] = (struct worker){ .e = e, .codec = sn->codecs[i] };
            if (pthread_create(&tid[started], NULL, worker_main, &w[i]) ==
                0) {
                started++;
            }
        }
        rc = started ? consume(e, put, arg) : run_inline(e, put, arg);
        pthread_mutex_lock(&e->lock);
        e->abort = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        for (unsigned i = 0; i < started; i++) {
            pthread_join(tid[i], NULL);
        }
    }
    for (unsigned i = 0; i < RING; i++) {
        free(e->ring[i].buf);
    }
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e->start);
    free(e);
    return rc;
}

void
snap_encode_release(struct snap *sn)
{
    for (unsigned i = 0; i < SNAP_ENCODERS; i++) {
        snapfmt_codec_destroy(&sn->codecs[i]);
    }
}
