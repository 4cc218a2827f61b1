/*
 * bench_hist.h -- log-linear latency histogram for emberbench.
 *
 * Layer: tools/bench/ (emberbench only). libc only.
 *
 * Invariants
 *  - A value v lands in the bucket whose range [lo, hi] holds it; buckets
 *    are exact below 2^BENCH_HIST_SUB_BITS and then split each power of two
 *    into 2^BENCH_HIST_SUB_BITS equal parts, so any reported quantile is
 *    within 1/32 (about 3%) of the true sample above 32 ns.
 *  - A histogram is plain data: zero it with memset, copy it, merge it.
 *    Each worker thread owns one; the main thread merges them after join.
 */
#ifndef EMBER_BENCH_HIST_H
#define EMBER_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
/* 64 powers of two x 32 sub-buckets covers every uint64_t */
#define BENCH_HIST_BUCKETS (64u * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t n;                 /* samples recorded */
    uint64_t max;               /* largest sample */
    uint64_t sum;               /* for the mean; wraps after ~584 years */
    uint64_t count[BENCH_HIST_BUCKETS];
};

/*
 * Record one sample V (nanoseconds, but any unit works).
 * Thread: the owner of H only. Blocks: never.
 */
void
bench_hist_add(struct bench_hist *h, uint64_t v);

/*
 * Add every sample of SRC into DST. SRC is borrowed and not changed.
 * Thread: caller must own both. Blocks: never.
 */
void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/*
 * Return the value at quantile Q (0.0 .. 1.0): the upper bound of the
 * bucket holding the ceil(Q * n)-th smallest sample, capped at max. An
 * empty histogram returns 0.
 * Thread: any reader while nobody adds. Blocks: never.
 */
uint64_t
bench_hist_quantile(const struct bench_hist *h, double q);

#endif /* EMBER_BENCH_HIST_H */
