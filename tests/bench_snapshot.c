/*
 * bench_snapshot.c -- measures the snapshot layer on its own (no sockets):
 * full snapshot, incremental snapshot after 1% changed, size on disk
 * against raw key+value bytes, and warm-restart load time.
 *
 *   tests/bench_snapshot [ITEMS [DIR [LEVEL [full|load|resp [THREADS]]]]]
 *   defaults: 1000000 /tmp/bench_snapshot 1 full 2
 * "resp" prints the same data set as Redis SET commands on stdout.
 * BENCH_RECORD=FILE in the environment notes every item stored, in write
 * order, as "KEY FLAGS EXPTIME BYTES\nVALUE\n" (the tests' record of
 * what the writer wrote).
 * HP=N in the environment sets the store's initial hash power (21).
 *
 * Values are JSON-like, 100-500 bytes, as in issue 3. Not part of `make
 * check` (it takes seconds and memory); see docs/BENCHMARKS.md.
 */
#include "config.h"

#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/store_short.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A JSON-like value of 100..500 bytes. */
static size_t
json_value(uint64_t *seed, uint64_t id, char *out, size_t cap)
{
    static const char *names[] = { "alice", "bob", "carol", "dave", "erin",
                                   "frank", "grace", "heidi" };
    static const char *tags[] = { "admin", "beta", "paid", "trial", "eu",
                                  "us", "mobile", "web" };
    size_t n = 0, target = 100 + rnd(seed) % 401;
    unsigned i = 0;

    n += (size_t)snprintf(out, cap,
                          "{\"id\":%llu,\"user\":\"%s%llu\",\"email\":\"%s."
                          "%llu@example.com\",\"active\":%s,\"score\":%llu,"
                          "\"events\":[",
                          (unsigned long long)id, names[rnd(seed) % 8],
                          (unsigned long long)(rnd(seed) % 100000),
                          names[rnd(seed) % 8],
                          (unsigned long long)(rnd(seed) % 1000),
                          rnd(seed) % 2 ? "true" : "false",
                          (unsigned long long)(rnd(seed) % 100000));
    while (n + 60 < target) {
        n += (size_t)snprintf(out + n, cap - n,
                              "%s{\"t\":%llu,\"tag\":\"%s\"}", i++ ? "," : "",
                              (unsigned long long)(1700000000 +
                                                   rnd(seed) % 10000000),
                              tags[rnd(seed) % 8]);
    }
    n += (size_t)snprintf(out + n, cap - n, "]}");
    return n;
}

/* Where fill() notes each item it stores ($BENCH_RECORD), or NULL. */
static FILE *record;

static uint64_t
fill(struct store *st, unsigned long items, unsigned long stride,
     uint64_t seed)
{
    char key[32], val[600];
    uint64_t raw = 0;
    int rc;

    for (unsigned long i = 0; i < items; i += stride) {
        int nk = snprintf(key, sizeof(key), "user:%08lu", i);
        size_t nv = json_value(&seed, i, val, sizeof(val));
        struct item *it = store_alloc(st, key, (size_t)nk, 0, 0, nv, false, &rc);

        if (it == NULL) {
            fprintf(stderr, "store_alloc: %s\n", store_strerror(rc));
            exit(1);
        }
        if (record != NULL) {   /* "KEY FLAGS EXPTIME BYTES\nVALUE\n" */
            fprintf(record, "%s 0 0 %zu\n", key, nv);
            fwrite(val, 1, nv, record);
            fputc('\n', record);
        }
        memcpy(item_value_mut(it), val, nv);
        t_store(st, it, STORE_SET, 0, NULL);
        item_unref(it);
        raw += (uint64_t)nk + nv;
    }
    return raw;
}

/* Write the same data set as Redis commands (RESP) for redis-cli --pipe. */
static int
dump_resp(unsigned long items)
{
    char key[32], val[600];
    uint64_t seed = 1;

    for (unsigned long i = 0; i < items; i++) {
        int nk = snprintf(key, sizeof(key), "user:%08lu", i);
        size_t nv = json_value(&seed, i, val, sizeof(val));

        printf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n", nk, key,
               nv);
        fwrite(val, 1, nv, stdout);
        fputs("\r\n", stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static struct store *
mkstore(void)
{
    struct store_config c;
    struct store *st;
    int e;

    store_config_default(&c);
    c.mem_limit = (size_t)2 << 30;
    c.changelog_max = (size_t)64 << 20;
    c.hash_power = getenv("HP") ? (unsigned)atoi(getenv("HP")) : 21;
    st = store_create(&c, &e);
    if (st == NULL) {
        fprintf(stderr, "store_create failed\n");
        exit(1);
    }
    return st;
}

static void
check(int rc, const char *what, const char *err)
{
    if (rc != SNAP_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, snap_strerror(rc), err);
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    unsigned long items = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp/bench_snapshot";
    struct snap_settings cfg;
    struct snap_stats s;
    struct store *st = mkstore();
    struct snap *sn = NULL;
    char err[SNAP_ERR_MAX], cmd[300];
    uint64_t raw;
    double t;

    if (argc > 4 && strcmp(argv[4], "resp") == 0) {
        return dump_resp(items);
    }
    if (getenv("BENCH_RECORD") != NULL) {
        record = fopen(getenv("BENCH_RECORD"), "w");
        if (record == NULL) {
            perror(getenv("BENCH_RECORD"));
            return 1;
        }
    }
    snap_settings_default(&cfg);
    cfg.dir = dir;
    cfg.interval = 0;
    cfg.compression = argc > 3 ? atoi(argv[3]) : 1;
    cfg.load_threads = argc > 5 ? (unsigned)atoi(argv[5]) : 2;
    if (argc > 4 && strcmp(argv[4], "load") == 0) {
        goto load;  /* only time loading an existing snapshot */
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        return 1;
    }
    check(snap_open(&cfg, st, &sn, err, sizeof(err)), "open", err);
    check(snap_load(sn, err, sizeof(err)), "load", err);
    raw = fill(st, items, 1, 1);
    t = now_s();
    check(snap_request(sn, err, sizeof(err)), "full snapshot", err);
    snap_stats(sn, &s);
    printf("full snapshot: %lu items in %.3f s = %.0f items/s\n", items,
           now_s() - t, (double)items / (now_s() - t));
    printf("on disk: %.1f MB used of data.mdb, raw key+value %.1f MB, "
           "ratio %.3f (records: raw/stored %.2f)\n",
           (double)s.snapshot_bytes_on_disk / 1e6, (double)raw / 1e6,
           (double)s.snapshot_bytes_on_disk / (double)raw,
           s.snapshot_raw_to_stored_ratio);
    fill(st, items, 100, 2);
    t = now_s();
    check(snap_request(sn, err, sizeof(err)), "incremental", err);
    snap_stats(sn, &s);
    printf("incremental: %llu items written in %.1f ms (full=%llu)\n",
           (unsigned long long)s.snapshot_last_items_written,
           (now_s() - t) * 1000, (unsigned long long)s.snapshot_last_full);
    check(snap_close(&sn, err, sizeof(err)), "close", err);
    store_destroy(&st);
    if (record != NULL && fclose(record) != 0) {
        perror("BENCH_RECORD");
        return 1;
    }

load:
    st = mkstore();
    t = now_s();
    check(snap_open(&cfg, st, &sn, err, sizeof(err)), "reopen", err);
    check(snap_load(sn, err, sizeof(err)), "load", err);
    snap_stats(sn, &s);
    printf("warm restart: %llu items loaded in %.3f s (open+load)\n",
           (unsigned long long)s.warm_restart_items_loaded, now_s() - t);
    snap_close(&sn, err, sizeof(err));
    store_destroy(&st);
    return 0;
}
