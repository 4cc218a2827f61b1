/*
 * bench_hist.c -- log-linear latency histogram (see bench_hist.h).
 */
#include "config.h"

#include <string.h>

#include "tools/bench/bench_hist.h"

static unsigned
bucket_of(uint64_t v)
{
    unsigned msb;
    unsigned shift;

    if (v < BENCH_HIST_SUB) {
        return (unsigned)v;
    }
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - BENCH_HIST_SUB_BITS;
    /* the top SUB_BITS+1 bits select the bucket; the leading 1 is implied */
    return (shift + 1u) * BENCH_HIST_SUB
           + (unsigned)((v >> shift) & (BENCH_HIST_SUB - 1u));
}

/* Largest value that falls in bucket B. */
static uint64_t
bucket_hi(unsigned b)
{
    unsigned shift;
    uint64_t sub;

    if (b < BENCH_HIST_SUB) {
        return b;
    }
    shift = b / BENCH_HIST_SUB - 1u;
    sub = (uint64_t)(b % BENCH_HIST_SUB) | BENCH_HIST_SUB;
    if (shift + BENCH_HIST_SUB_BITS >= 63u && sub == 2u * BENCH_HIST_SUB - 1u) {
        return UINT64_MAX;
    }
    return ((sub + 1u) << shift) - 1u;
}

void
bench_hist_add(struct bench_hist *h, uint64_t v)
{
    h->count[bucket_of(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max) {
        h->max = v;
    }
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
    unsigned i;

    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        dst->count[i] += src->count[i];
    }
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
    uint64_t rank;
    uint64_t seen = 0;
    unsigned i;

    if (h->n == 0) {
        return 0;
    }
    if (q <= 0.0) {
        q = 0.0;
    }
    rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank == 0) {
        rank = 1;
    }
    if (rank > h->n) {
        rank = h->n;
    }
    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t hi = bucket_hi(i);

            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}
