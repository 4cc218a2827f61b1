/*
 * bench_report.h -- what emberbench measured, and how it is printed.
 *
 * Layer: tools/bench/ (emberbench only). libc and /proc only.
 *
 * Figures: ops/s = replies parsed during the measured window / its
 * length. Latency percentiles come from the merged histogram (within 3%).
 * CPU per op = CPU seconds (utime + stime) the process(es) used during the
 * window / ops in the window; the driver's own figure shows how much of
 * the shared machine the load generator took.
 */
#ifndef EMBER_BENCH_REPORT_H
#define EMBER_BENCH_REPORT_H

#include "tools/bench/bench_conn.h"
#include "tools/bench/bench_opts.h"

struct bench_result {
    struct bench_stats total;   /* merged counters of the window */
    double window_s;            /* length of the measured window */
    double prefill_s;           /* slowest worker's prefill */
    double server_cpu_s;        /* -1 without --pid */
    double server_user_s;       /* its user-space part */
    double driver_cpu_s;
    double machine_busy_s;      /* all CPUs, every process; -1: unknown */
    double machine_steal_s;     /* time the hypervisor took from us */
    uint64_t conn_ops_min;      /* fewest replies one connection got in */
    uint64_t conn_ops_max;      /* the window, and most: fairness */
};

/*
 * Print R in O's format on stdout and flush. Both are borrowed.
 * Thread: main. Blocks: on stdout.
 */
void
bench_report_print(const struct bench_options *o,
                   const struct bench_result *r);

struct bench_cpu {
    double user_s;
    double sys_s;
};

/*
 * Sum the utime and stime, in seconds, of the comma-separated pids in LIST
 * (borrowed), read from /proc/PID/stat, into *OUT.
 * Returns 0, or -1 if any pid is malformed or unreadable.
 * Thread: any. Blocks: on /proc reads (short).
 */
int
bench_proc_cpu(const char *list, struct bench_cpu *out);

struct bench_machine {
    double busy_s;              /* user+nice+system+irq+softirq, all CPUs */
    double steal_s;
};

/*
 * Read the machine-wide CPU totals from /proc/stat into *OUT.
 * Returns 0, or -1 if /proc/stat is unreadable. Thread: any.
 * Blocks: on a short /proc read.
 */
int
bench_machine_cpu(struct bench_machine *out);

/* CPU seconds this process used so far (all threads). Thread: any. */
double
bench_self_cpu_s(void);

#endif /* EMBER_BENCH_REPORT_H */
