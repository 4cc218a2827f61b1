/*
 * bench_opts.h -- emberbench's command line, parsed once in main() and
 * read-only afterwards (handed down as const struct bench_options *).
 *
 * Layer: tools/bench/ (emberbench only). libc only.
 */
#ifndef EMBER_BENCH_OPTS_H
#define EMBER_BENCH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_DEPTH 4096u

enum bench_out_format {
    BENCH_OUT_TEXT = 0,
    BENCH_OUT_KV,               /* one line of name=value pairs */
    BENCH_OUT_JSON,             /* one JSON object */
};

struct bench_options {
    char host[256];
    char port[16];
    unsigned conns;
    unsigned threads;           /* <= conns */
    unsigned depth;             /* requests per batch, 1..BENCH_MAX_DEPTH */
    unsigned ratio_set;         /* ratio_set sets per ratio_get gets */
    unsigned ratio_get;
    uint64_t keys;
    size_t size_min;            /* value length, inclusive range */
    size_t size_max;
    size_t value_max;           /* largest value a get may return; 0: size_max */
    double duration;            /* measured seconds; 0: prefill only */
    double warmup;
    double timeout;             /* seconds a batch may stay unanswered */
    bool prefill;
    bool verify;
    bool redis;                 /* RESP SET/GET instead of memcached text */
    enum bench_out_format format;
    const char *prefix;         /* borrowed from argv */
    const char *pids;           /* borrowed from argv; NULL: none */
    uint64_t seed;
};

/*
 * Fill O from ARGV, starting from the defaults that --help lists.
 * Prints usage and exits 0 on --help; prints the problem and exits 2 on a
 * bad option (tools may exit). O keeps pointers into ARGV.
 * Thread: main, before any worker starts. Blocks: never.
 */
void
bench_opts_parse(struct bench_options *o, int argc, char **argv);

#endif /* EMBER_BENCH_OPTS_H */
