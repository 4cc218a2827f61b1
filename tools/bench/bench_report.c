/*
 * bench_report.c -- CPU readings and the three output formats of
 * emberbench (see bench_report.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/bench/bench_report.h"

/* One pid's utime and stime in clock ticks; false if unreadable. */
static bool
pid_ticks(long pid, unsigned long long *ut, unsigned long long *st)
{
    char path[64];
    char buf[1024];
    FILE *f;
    char *rp;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces and ')'; the fields resume after the last ')' */
    rp = strrchr(buf, ')');
    return rp != NULL && sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u"
                                " %*u %*u %*u %llu %llu", ut, st) == 2;
}

int
bench_proc_cpu(const char *list, struct bench_cpu *out)
{
    unsigned long long ut;
    unsigned long long st;
    double hz = (double)sysconf(_SC_CLK_TCK);
    const char *p = list;
    char *end;
    long pid;

    out->user_s = 0.0;
    out->sys_s = 0.0;
    while (*p != '\0') {
        pid = strtol(p, &end, 10);
        if (end == p || pid <= 0 || (*end != ',' && *end != '\0')
            || !pid_ticks(pid, &ut, &st)) {
            return -1;
        }
        out->user_s += (double)ut / hz;
        out->sys_s += (double)st / hz;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int
bench_machine_cpu(struct bench_machine *out)
{
    unsigned long long v[8];
    double hz = (double)sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/stat", "r");
    int n;

    if (f == NULL) {
        return -1;
    }
    /* cpu  user nice system idle iowait irq softirq steal ... */
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8) {
        return -1;
    }
    out->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    out->steal_s = (double)v[7] / hz;
    return 0;
}

double
bench_self_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Every figure, computed once, printed by each format. */
struct figures {
    uint64_t ops;
    double ops_s;
    double hit_ratio;
    double p50, p90, p99, p999, max, mean;   /* microseconds */
    double srv_us_op;                        /* -1: not measured */
    double srv_user_us_op;                   /* its user-space part */
    double drv_us_op;
};

static void
compute(const struct bench_result *r, struct figures *f)
{
    const struct bench_hist *h = &r->total.lat;
    uint64_t gets = r->total.gets;

    f->ops = r->total.gets + r->total.sets;
    f->ops_s = r->window_s > 0.0 ? (double)f->ops / r->window_s : 0.0;
    f->hit_ratio = gets > 0 ? (double)r->total.hits / (double)gets : 0.0;
    f->p50 = (double)bench_hist_quantile(h, 0.50) / 1e3;
    f->p90 = (double)bench_hist_quantile(h, 0.90) / 1e3;
    f->p99 = (double)bench_hist_quantile(h, 0.99) / 1e3;
    f->p999 = (double)bench_hist_quantile(h, 0.999) / 1e3;
    f->max = (double)h->max / 1e3;
    f->mean = h->n > 0 ? (double)h->sum / (double)h->n / 1e3 : 0.0;
    f->srv_us_op = -1.0;
    f->srv_user_us_op = -1.0;
    if (r->server_cpu_s >= 0.0 && f->ops > 0) {
        f->srv_us_op = r->server_cpu_s * 1e6 / (double)f->ops;
        f->srv_user_us_op = r->server_user_s * 1e6 / (double)f->ops;
    }
    f->drv_us_op = f->ops > 0 ? r->driver_cpu_s * 1e6 / (double)f->ops : 0.0;
}

static void
print_text(const struct bench_options *o, const struct bench_result *r,
           const struct figures *f)
{
    printf("emberbench %s:%s conns=%u threads=%u pipeline=%u ratio=%u:%u "
           "keys=%" PRIu64 " size=%zu-%zu\n", o->host, o->port, o->conns,
           o->threads, o->depth, o->ratio_set, o->ratio_get, o->keys,
           o->size_min, o->size_max);
    if (o->prefill) {
        printf("prefill   %" PRIu64 " keys in %.2f s\n", o->keys,
               r->prefill_s);
    }
    if (o->duration == 0.0) {
        return;
    }
    printf("window    %.2f s after %.1f s warm-up\n", r->window_s, o->warmup);
    printf("ops/s     %.0f  (%" PRIu64 " gets, %" PRIu64 " sets)\n",
           f->ops_s, r->total.gets, r->total.sets);
    printf("gets      %" PRIu64 " hits, %" PRIu64 " misses (%.1f%% hits)\n",
           r->total.hits, r->total.misses, f->hit_ratio * 100.0);
    printf("errors    %" PRIu64 " SERVER_ERROR replies\n",
           r->total.server_errors);
    printf("latency   us: p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f  "
           "max %.1f  mean %.1f\n", f->p50, f->p90, f->p99, f->p999, f->max,
           f->mean);
    if (f->srv_us_op >= 0.0) {
        printf("server    %.2f s CPU, %.2f us/op (%.2f in user space)\n",
               r->server_cpu_s, f->srv_us_op, f->srv_user_us_op);
    }
    printf("driver    %.2f s CPU, %.2f us/op\n", r->driver_cpu_s,
           f->drv_us_op);
    if (r->machine_busy_s >= 0.0) {
        printf("machine   %.2f cores busy in all, %.2f stolen by the "
               "hypervisor\n", r->machine_busy_s / r->window_s,
               r->machine_steal_s / r->window_s);
    }
    printf("fairness  %" PRIu64 " .. %" PRIu64 " replies per connection\n",
           r->conn_ops_min, r->conn_ops_max);
}

/* One line of name=value pairs (--kv) or one JSON object (--json). */
static void
print_pairs(const struct bench_options *o, const struct bench_result *r,
            const struct figures *f, bool json)
{
    const char *q = json ? "\"" : "";
    const char *sep = json ? ":" : "=";
    const char *gap = json ? "," : " ";

    printf("%s%sserver%s%s%s%s:%s%s", json ? "{" : "", q, q, sep, q, o->host,
           o->port, q);
#define NUM(name, fmt, v) printf("%s%s%s%s%s" fmt, gap, q, name, q, sep, v)
    NUM("conns", "%u", o->conns);
    NUM("threads", "%u", o->threads);
    NUM("pipeline", "%u", o->depth);
    NUM("ratio_set", "%u", o->ratio_set);
    NUM("ratio_get", "%u", o->ratio_get);
    NUM("keys", "%" PRIu64, o->keys);
    NUM("size_min", "%zu", o->size_min);
    NUM("size_max", "%zu", o->size_max);
    NUM("prefill_s", "%.3f", r->prefill_s);
    NUM("window_s", "%.3f", r->window_s);
    NUM("ops", "%" PRIu64, f->ops);
    NUM("ops_per_sec", "%.0f", f->ops_s);
    NUM("gets", "%" PRIu64, r->total.gets);
    NUM("sets", "%" PRIu64, r->total.sets);
    NUM("hits", "%" PRIu64, r->total.hits);
    NUM("misses", "%" PRIu64, r->total.misses);
    NUM("server_errors", "%" PRIu64, r->total.server_errors);
    NUM("p50_us", "%.1f", f->p50);
    NUM("p90_us", "%.1f", f->p90);
    NUM("p99_us", "%.1f", f->p99);
    NUM("p999_us", "%.1f", f->p999);
    NUM("max_us", "%.1f", f->max);
    NUM("mean_us", "%.1f", f->mean);
    NUM("server_cpu_s", "%.2f", r->server_cpu_s);
    NUM("server_cpu_us_per_op", "%.3f", f->srv_us_op);
    NUM("server_user_us_per_op", "%.3f", f->srv_user_us_op);
    NUM("driver_cpu_s", "%.2f", r->driver_cpu_s);
    NUM("driver_cpu_us_per_op", "%.3f", f->drv_us_op);
    NUM("machine_busy_cores", "%.2f", r->window_s > 0.0
        ? r->machine_busy_s / r->window_s : -1.0);
    NUM("machine_steal_cores", "%.2f", r->window_s > 0.0
        ? r->machine_steal_s / r->window_s : -1.0);
    NUM("conn_ops_min", "%" PRIu64, r->conn_ops_min);
    NUM("conn_ops_max", "%" PRIu64, r->conn_ops_max);
#undef NUM
    printf("%s\n", json ? "}" : "");
}

void
bench_report_print(const struct bench_options *o, const struct bench_result *r)
{
    struct figures f;

    compute(r, &f);
    if (o->format == BENCH_OUT_TEXT) {
        print_text(o, r, &f);
    } else {
        print_pairs(o, r, &f, o->format == BENCH_OUT_JSON);
    }
    fflush(stdout);
}
