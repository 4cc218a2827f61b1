/*
 * check_snapshot.h -- shared by the files of check_snapshot:
 * check_snapshot.c (fixture, writer, loader, limits),
 * check_snapshot_damage.c (damaged snapshots at start: the corrupt
 * policy) and check_snapshot_mem.c (the writer's memory bound).
 * Test-only.
 */
#ifndef EMBER_CHECK_SNAPSHOT_H
#define EMBER_CHECK_SNAPSHOT_H

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define T0 1800000000u

/* The fixture's state; reset by setup() for every test. */
struct fx {
    char root[64];
    char dir[400];            /* root/snap: the snapshot directory */
    struct store *st;
    struct snap *sn;
    struct snap_settings cfg; /* dir, interval 0, log into log */
    char log[8192];
};

extern struct fx fx;

/* A store of MEM bytes, change log CHANGELOG, its clock at NOW. */
struct store *new_store(size_t mem, size_t changelog, uint32_t now);

/* Store KEY = VAL (N bytes) with FLAGS and EXPTIME in ST. */
void put(struct store *st, const char *key, const char *val, size_t n,
         uint32_t flags, uint32_t exptime);

/* Store "key:%06u" of I with N bytes derived from I, flags I. */
void put_num(struct store *st, unsigned i, size_t n);

/* Has KEY with exactly VAL; *CAS (may be NULL) gets its CAS. */
bool has(struct store *st, const char *key, const char *val, uint64_t *cas);
bool exists(struct store *st, const char *key);

/* snap_open() + snap_load() of fx.cfg into fx.st; both must succeed. */
void open_snap(void);
/* A snapshot now (snap_request); must succeed. */
void snapshot(void);
/* Graceful restart: final snapshot, new store at NOW with MEM bytes. */
void restart(size_t mem, uint32_t now);

/* Meta of the snapshot in fx.dir (read-only), and into *LAST_RUN (may
 * be NULL) the run of its last block, 0 when none: past meta's run_end
 * when an unfinished snapshot left blocks behind. */
void disk_meta(struct snapfmt_meta *m, uint64_t *last_run);

/* Paths fx.dir + SUFFIX (a glob, e.g. ".corrupt-*"): moved-aside copies. */
unsigned count_glob(const char *suffix);

/* NEEDLE is in ERR exactly once. (check_snapshot_damage.c) */
void said_once(const char *err, const char *needle);

/* Register the tests of check_snapshot_damage.c in ERRORS. */
void add_damage_tests(TCase *errors);

/* Register the tests of check_snapshot_mem.c (the writer's memory
 * bound) in LIMITS. */
void add_mem_tests(TCase *limits);

#endif /* EMBER_CHECK_SNAPSHOT_H */
