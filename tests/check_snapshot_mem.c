/*
 * check_snapshot_mem.c -- the snapshot writer's memory bound (issue 12):
 * LMDB keeps every page a write transaction dirties in malloc'd memory
 * until its commit, so a snapshot, full or incremental, must be written
 * in transactions of a bounded size (1/64 of -m, at least 1 MiB), its run
 * invisible until the last one; and a crash between two of them must
 * leave the previous snapshot as it was. Part of check_snapshot (fixture
 * in check_snapshot.c). Test-only.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/check_snapshot.h"
#include "tests/store_short.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEM_LIMIT ((size_t)64 << 20)  /* -m of these tests */
#define BATCH ((uint64_t)1 << 20)     /* the writer's batch at that -m */
#define NITEMS 12000u
#define VLEN 1000u                    /* 12 MB of values: 12 batches */

/* Value of item I at generation GEN (VLEN bytes into V). */
static void
mem_value(unsigned i, unsigned gen, char *v)
{
    int n = snprintf(v, VLEN, "gen %u key %u ", gen, i);

    for (unsigned j = (unsigned)n; j < VLEN; j++) {
        v[j] = (char)('a' + (i * 7 + j * 13 + gen) % 26);
    }
}

/* Set every STEP-th item of NITEMS to generation GEN, without Check's
 * macros (a child killed in one would break Check's stream). */
static bool
mem_fill(struct store *st, unsigned step, unsigned gen)
{
    char key[32], v[VLEN];
    struct item *it;
    int rc;

    for (unsigned i = 0; i < NITEMS; i += step) {
        snprintf(key, sizeof(key), "m:%06u", i);
        mem_value(i, gen, v);
        it = store_alloc(st, key, strlen(key), gen, 0, VLEN, false, &rc);
        if (it == NULL) {
            return false;
        }
        memcpy(item_value_mut(it), v, VLEN);
        rc = t_store(st, it, STORE_SET, 0, NULL);
        item_unref(it);
        if (rc != STORE_OK) {
            return false;
        }
    }
    return true;
}

/* Every item is there, at generation GEN when I % STEP == 0, else 1. */
static void
mem_check(unsigned step, unsigned gen)
{
    char key[32], v[VLEN + 1];

    for (unsigned i = 0; i < NITEMS; i++) {
        unsigned g = i % step == 0 ? gen : 1;

        snprintf(key, sizeof(key), "m:%06u", i);
        mem_value(i, g, v);
        v[VLEN] = '\0';
        ck_assert_msg(has(fx.st, key, v, NULL), "%s: not generation %u",
                      key, g);
    }
}

/* A store of -m MEM_LIMIT, raw records (sizes do not depend on zstd),
 * no journal: the disk holds only what snapshots wrote. A small map, so
 * that it grows between the transactions of a snapshot. */
static void
mem_setup(void)
{
    store_destroy(&fx.st);
    fx.st = new_store(MEM_LIMIT, 1 << 20, T0);
    fx.cfg.compression = 0;
    fx.cfg.journal = false;
    fx.cfg.map_initial = 4 << 20;
}

/* The last snapshot took at least MIN transactions, none over a batch
 * and one block, and none over 5 % of -m. */
static void
assert_bounded(uint64_t min)
{
    struct snap_stats s;

    snap_stats(fx.sn, &s);
    ck_assert_uint_ge(s.snapshot_last_commits, min);
    ck_assert_uint_gt(s.snapshot_last_txn_max_bytes, 0);
    ck_assert_uint_le(s.snapshot_last_txn_max_bytes,
                      BATCH + 2 * SNAPFMT_BLOCK_TARGET);
    ck_assert_uint_le(s.snapshot_last_txn_max_bytes * 20, MEM_LIMIT);
}

START_TEST(test_snapshot_transactions_bounded)
{
    struct snap_stats s;

    mem_setup();
    open_snap();
    ck_assert(mem_fill(fx.st, 1, 1));
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    ck_assert_uint_eq(s.snapshot_last_items_written, NITEMS);
    assert_bounded(NITEMS * (uint64_t)VLEN / BATCH);
    /* half the items change: an incremental of 6 MB, bounded too */
    ck_assert(mem_fill(fx.st, 2, 2));
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 0);
    ck_assert_uint_eq(s.snapshot_last_items_written, NITEMS / 2);
    assert_bounded(NITEMS / 2 * (uint64_t)VLEN / BATCH);
    /* the run written in parts loads whole */
    restart(MEM_LIMIT, T0 + 1);
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, NITEMS);
    mem_check(2, 2);
}
END_TEST

/* The run of the last block on disk and meta's run_end. */
static void
disk_runs(uint64_t *last, uint64_t *run_end)
{
    struct snapfmt_meta m;

    disk_meta(&m, last);
    *run_end = m.run_end;
}

/*
 * Child: a full snapshot of generation 1, then half the items at
 * generation 2 and an incremental snapshot of them (6 batches), during
 * which data.mdb may grow by only 4.5 batches. A commit first lengthens
 * the file by about twice what it writes (format_txn.c), so the kernel
 * kills the child (SIGXFSZ) as the third of the incremental's
 * transactions starts to commit, two of them committed. Exits 0 only if
 * the incremental was not stopped.
 */
static void
mem_crash_child(void)
{
    char err[SNAP_ERR_MAX], path[600];
    struct rlimit rl;
    struct stat sb;

    if (snap_open(&fx.cfg, fx.st, &fx.sn, err, sizeof(err)) != SNAP_OK ||
        snap_load(fx.sn, err, sizeof(err)) != SNAP_OK ||
        !mem_fill(fx.st, 1, 1) ||
        snap_request(fx.sn, err, sizeof(err)) != SNAP_OK ||
        !mem_fill(fx.st, 2, 2)) {
        _exit(2);
    }
    snprintf(path, sizeof(path), "%s/data.mdb", fx.dir);
    if (stat(path, &sb) != 0) {
        _exit(3);
    }
    rl.rlim_cur = rl.rlim_max = (rlim_t)sb.st_size + BATCH * 9 / 2;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
        _exit(4);
    }
    /* a write cut short at the limit fails the commit (EIO) instead:
     * the same disk, the process gone as after a kill */
    _exit(snap_request(fx.sn, err, sizeof(err)) == SNAP_OK ? 0 : 5);
}

START_TEST(test_kill_between_incremental_transactions)
{
    uint64_t last, run_end;
    struct snap_stats s;
    int status;
    pid_t pid;

    mem_setup();
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        mem_crash_child();
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) == 5),
                  "child not stopped in its incremental (status %d)",
                  status);
    /* blocks of the unfinished run are on disk, past meta's runs */
    disk_runs(&last, &run_end);
    ck_assert_uint_ge(last, run_end);
    /* the previous snapshot, whole: no value of the unfinished run */
    open_snap();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.warm_restart_items_loaded, NITEMS);
    mem_check(2, 1);
    /* the next snapshot is full and removes the unfinished run */
    snapshot();
    snap_stats(fx.sn, &s);
    ck_assert_uint_eq(s.snapshot_last_full, 1);
    disk_runs(&last, &run_end);
    ck_assert_uint_eq(last + 1, run_end);
    restart(MEM_LIMIT, T0 + 1);
    mem_check(2, 1);
}
END_TEST

void
add_mem_tests(TCase *limits)
{
    tcase_add_test(limits, test_snapshot_transactions_bounded);
    tcase_add_test(limits, test_kill_between_incremental_transactions);
}
