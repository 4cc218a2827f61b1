/*
 * check_journal_takeover.c -- a takeover through the snapshot layer
 * (snapshot.h, "takeover"): a child process is the owner, serving from
 * the directory with two workers' channels; the test process is the new
 * emberd, which opens the same directory shared, loads it while the
 * owner goes on, follows its journal, and takes the directory over once
 * the owner has handed it over (here: made its journal durable and
 * died, the case where no lock descriptor comes over).
 *
 * The case the journal makes hard: worker 1 changes key y (number 2)
 * and has not written it yet when worker 0 changes y again (number 3)
 * and writes it. The new emberd must not apply 3 before 2 has come.
 * Children use no Check macro; they report by exit status, and the two
 * sides take turns through pipes.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/check_journal.h"
#include "tests/store_short.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T0 1800000000u

/* One emberd's view: its store, its snapshot, two workers' channels. */
struct side {
    struct store *st;
    struct snap *sn;
    struct snap_jchan *ch[2];
    struct store_session ses[2];
    uint64_t cas_max;               /* highest CAS handed out */
};

static int
side_open(struct side *s, bool shared)
{
    struct snap_settings cfg = *jfix_settings();
    struct store_config c;
    char err[SNAP_ERR_MAX];
    int e = 0, rc;

    memset(s, 0, sizeof(*s));
    store_config_default(&c);
    c.mem_limit = (size_t)16 << 20;
    c.changelog_max = (size_t)1 << 20;
    s->st = store_create(&c, &e);
    if (s->st == NULL) {
        return -100;
    }
    store_clock_set(s->st, T0);
    cfg.shared = shared;
    rc = snap_open(&cfg, s->st, &s->sn, err, sizeof(err));
    if (rc == SNAP_OK) {
        rc = snap_load(s->sn, err, sizeof(err));
    }
    if (rc != SNAP_OK) {
        fprintf(stderr, "side_open: %s\n", err);
    }
    return rc;
}

/* The workers' channels and sessions (an owner's; a new one's once the
 * directory is its own). */
static int
side_channels(struct side *s)
{
    for (int i = 0; i < 2; i++) {
        if (snap_jchan_open(s->sn, &s->ch[i]) != SNAP_OK) {
            return -1;
        }
        store_session_init(&s->ses[i], s->st, snap_jchan_sink, s->ch[i]);
    }
    return 0;
}

static void
side_close(struct side *s)
{
    char err[SNAP_ERR_MAX];

    snap_jchan_close(&s->ch[0]);
    snap_jchan_close(&s->ch[1]);
    snap_close(&s->sn, err, sizeof(err));
    store_destroy(&s->st);
}

/* set KEY VAL through worker W's session, not yet committed. */
static int
side_set(struct side *s, int w, const char *key, const char *val)
{
    size_t n = strlen(val);
    struct store_set_res res;
    int rc;
    struct item *it = store_alloc(s->st, key, strlen(key), 0, 0, n, false,
                                  &rc);

    if (it == NULL) {
        return rc;
    }
    memcpy(item_value_mut(it), val, n);
    rc = store_set(&s->ses[w], it, NULL, &res);
    item_unref(it);
    if (rc == STORE_OK && res.cas > s->cas_max) {
        s->cas_max = res.cas;
    }
    return rc;
}

static int
side_commit(struct side *s, int w)
{
    char err[SNAP_ERR_MAX];

    return snap_jchan_commit(s->ch[w], err, sizeof(err));
}

/* KEY holds VAL; with VAL NULL: KEY is absent. */
static bool
side_has(struct side *s, const char *key, const char *val)
{
    struct item *it = NULL;
    bool ok;

    if (t_get(s->st, key, strlen(key), &it, NULL) != STORE_OK) {
        return val == NULL;
    }
    ok = val != NULL && item_nvalue(it) == strlen(val) &&
         memcmp(item_value(it), val, strlen(val)) == 0;
    item_unref(it);
    return ok;
}

/* ---- turns between the two processes ---------------------------------- */

struct turns {
    int to_child[2];
    int to_parent[2];
};

static void
turns_open(struct turns *t)
{
    ck_assert_int_eq(pipe(t->to_child), 0);
    ck_assert_int_eq(pipe(t->to_parent), 0);
}

/* Give the other side turn N (a byte); wait for it to give one back. */
static void
give(int fd, char n)
{
    if (write(fd, &n, 1) != 1) {
        _exit(120);
    }
}

static char
await(int fd)
{
    char n = 0;

    if (read(fd, &n, 1) != 1) {
        return 0;
    }
    return n;
}

/* ---- the owner -------------------------------------------------------- */

/* Wait for the parent's turn N; an unexpected one fails the child. */
static void
child_await(struct turns *t, char n)
{
    CHILD_CHECK(await(t->to_child[0]) == n, 110 + n);
}

/*
 * The owner: x (1), y by worker 1 not written (2), y by worker 0 (3),
 * z (4) -- turn 1 -- then worker 1 writes 2, deletes x (5) -- turn 2 --
 * then hands over (journal durable) and dies -- turn 3.
 */
static void
owner_main(struct turns *t)
{
    struct side o;
    int lock_fd = -1;
    char err[SNAP_ERR_MAX];

    CHILD_CHECK(side_open(&o, false) == SNAP_OK, 1);
    CHILD_CHECK(side_channels(&o) == 0, 2);
    snap_hold(o.sn, true);
    CHILD_CHECK(side_set(&o, 0, "x", "a1") == STORE_OK, 3);
    CHILD_CHECK(side_commit(&o, 0) == SNAP_OK, 4);
    CHILD_CHECK(side_set(&o, 1, "y", "b") == STORE_OK, 5);
    CHILD_CHECK(side_set(&o, 0, "y", "a") == STORE_OK, 6);
    CHILD_CHECK(side_set(&o, 0, "z", "z1") == STORE_OK, 7);
    CHILD_CHECK(side_commit(&o, 0) == SNAP_OK, 8);
    give(t->to_parent[1], 1);
    child_await(t, 1);
    CHILD_CHECK(side_commit(&o, 1) == SNAP_OK, 9);
    CHILD_CHECK(store_delete(&o.ses[1], "x", 1, NULL) == STORE_OK, 10);
    CHILD_CHECK(side_commit(&o, 1) == SNAP_OK, 11);
    give(t->to_parent[1], 2);
    child_await(t, 2);
    CHILD_CHECK(side_set(&o, 1, "late", "v") == STORE_OK, 12);
    CHILD_CHECK(side_commit(&o, 1) == SNAP_OK, 13);
    CHILD_CHECK(snap_handover(o.sn, &lock_fd, err, sizeof(err)) ==
                    SNAP_OK && lock_fd >= 0, 14);
    /* the CAS values handed out, for the parent to stay above */
    CHILD_CHECK(write(t->to_parent[1], &o.cas_max, sizeof(o.cas_max)) ==
                    (ssize_t)sizeof(o.cas_max), 15);
    _exit(0);       /* dies holding the lock: the kernel releases it */
}

static pid_t
owner_start(struct turns *t)
{
    pid_t pid;

    turns_open(t);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        owner_main(t);
    }
    return pid;
}

static void
owner_done(pid_t pid)
{
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "owner failed at step %d", WEXITSTATUS(status));
}

/* Names, sizes and modification times of DIR's files, one line each,
 * into BUF; not LMDB's lock file, where readers take their slots. */
static void
dir_listing(char *buf, size_t cap)
{
    const char *dir = jfix_settings()->dir;
    char path[600];
    struct dirent *de;
    struct stat sb;
    DIR *d = opendir(dir);
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    buf[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ck_assert_int_eq(lstat(path, &sb), 0);
        if (S_ISREG(sb.st_mode) && strcmp(de->d_name, "lock.mdb") != 0) {
            n += (size_t)snprintf(buf + n, cap - n, "%s %lld %lld\n",
                                  de->d_name, (long long)sb.st_size,
                                  (long long)sb.st_mtim.tv_nsec);
        }
    }
    closedir(d);
}

/* ---- the tests -------------------------------------------------------- */

START_TEST(test_takeover_follows_the_journal_in_order)
{
    struct turns t;
    struct side n;
    uint64_t applied, owner_cas = 0;
    char err[SNAP_ERR_MAX], before[4096], after[4096];
    pid_t pid = owner_start(&t);

    ck_assert_int_eq(await(t.to_parent[0]), 1);
    dir_listing(before, sizeof(before));
    ck_assert_int_eq(side_open(&n, true), SNAP_OK);
    /* 1 is complete; 3 and 4 wait for 2, which is not on disk */
    ck_assert(side_has(&n, "x", "a1"));
    ck_assert(side_has(&n, "y", NULL) && side_has(&n, "z", NULL));
    ck_assert_int_eq(snap_catch_up(n.sn, &applied, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_uint_eq(applied, 0);
    dir_listing(after, sizeof(after));
    ck_assert_str_eq(before, after);        /* we wrote nothing */
    give(t.to_child[1], 1);
    ck_assert_int_eq(await(t.to_parent[0]), 2);
    ck_assert_int_eq(snap_catch_up(n.sn, &applied, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_uint_eq(applied, 4);          /* 2, 3, 4, 5 */
    ck_assert(side_has(&n, "y", "a"));      /* 3 after 2 */
    ck_assert(side_has(&n, "z", "z1") && side_has(&n, "x", NULL));
    give(t.to_child[1], 2);
    ck_assert_int_eq(read(t.to_parent[0], &owner_cas, sizeof(owner_cas)),
                     (ssize_t)sizeof(owner_cas));
    owner_done(pid);
    /* the owner died after its handover: no lock comes over */
    ck_assert_int_eq(snap_takeover_load(n.sn, -1, &applied, err,
                                        sizeof(err)), SNAP_OK);
    ck_assert_uint_eq(applied, 1);          /* the tail: "late" alone */
    ck_assert(side_has(&n, "late", "v"));
    snap_takeover_own(n.sn);
    ck_assert_int_eq(side_channels(&n), 0);
    ck_assert_int_eq(side_set(&n, 0, "w", "mine"), STORE_OK);
    ck_assert_int_eq(side_commit(&n, 0), SNAP_OK);
    ck_assert(side_has(&n, "w", "mine"));
    ck_assert_uint_gt(n.cas_max, owner_cas);
    /* our first snapshot covers the owner's segments: they go */
    ck_assert_int_eq(snap_request(n.sn, err, sizeof(err)), SNAP_OK);
    side_close(&n);
    ck_assert_int_eq(side_open(&n, false), SNAP_OK);
    ck_assert(side_has(&n, "y", "a") && side_has(&n, "z", "z1"));
    ck_assert(side_has(&n, "w", "mine") && side_has(&n, "late", "v"));
    ck_assert(side_has(&n, "x", NULL));
    ck_assert_int_eq(side_channels(&n), 0);
    ck_assert_int_eq(side_set(&n, 0, "again", "1"), STORE_OK);
    ck_assert_uint_gt(n.cas_max, owner_cas);
    side_close(&n);
}
END_TEST

/* A new emberd that gives up (snap_close before snap_takeover_own) has
 * written nothing; the owner goes on and stops as usual. */
START_TEST(test_failed_takeover_leaves_the_owner_alone)
{
    struct turns t;
    struct side n;
    pid_t pid;
    char before[4096], after[4096];

    turns_open(&t);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct side o;
        char err[SNAP_ERR_MAX];

        CHILD_CHECK(side_open(&o, false) == SNAP_OK, 1);
        CHILD_CHECK(side_channels(&o) == 0, 2);
        CHILD_CHECK(side_set(&o, 0, "k", "v") == STORE_OK, 3);
        CHILD_CHECK(side_commit(&o, 0) == SNAP_OK, 4);
        snap_hold(o.sn, true);
        give(t.to_parent[1], 1);
        child_await(&t, 1);
        snap_hold(o.sn, false);
        CHILD_CHECK(side_set(&o, 1, "k2", "v2") == STORE_OK, 5);
        CHILD_CHECK(side_commit(&o, 1) == SNAP_OK, 6);
        snap_jchan_close(&o.ch[0]);
        snap_jchan_close(&o.ch[1]);
        CHILD_CHECK(snap_close(&o.sn, err, sizeof(err)) == SNAP_OK, 7);
        _exit(0);
    }
    ck_assert_int_eq(await(t.to_parent[0]), 1);
    dir_listing(before, sizeof(before));
    ck_assert_int_eq(side_open(&n, true), SNAP_OK);
    ck_assert(side_has(&n, "k", "v"));
    side_close(&n);                 /* gives up: writes nothing */
    dir_listing(after, sizeof(after));
    ck_assert_str_eq(before, after);
    give(t.to_child[1], 1);
    owner_done(pid);
    ck_assert_int_eq(side_open(&n, false), SNAP_OK);
    ck_assert(side_has(&n, "k", "v") && side_has(&n, "k2", "v2"));
    side_close(&n);
}
END_TEST

static void
note_done(void *arg, int rc, const char *err)
{
    (void)err;
    *(volatile int *)arg = rc == SNAP_OK ? 1 : 2;
}

static bool
wait_flag(volatile int *flag, int ms)
{
    struct timespec ts = { 0, 10 * 1000 * 1000 };

    for (int i = 0; i < ms / 10 && *flag == 0; i++) {
        nanosleep(&ts, NULL);
    }
    return *flag != 0;
}

/* Held: a requested snapshot waits; released: it is taken. Handed over:
 * a waiting request fails, and closing writes nothing. */
START_TEST(test_hold_and_handed_over)
{
    struct side s;
    volatile int done = 0, late = 0;
    int lock_fd = -1;
    char err[SNAP_ERR_MAX], before[4096], after[4096];

    ck_assert_int_eq(side_open(&s, false), SNAP_OK);
    ck_assert_int_eq(snap_start(s.sn), SNAP_OK);
    ck_assert_int_eq(side_channels(&s), 0);
    snap_hold(s.sn, true);
    ck_assert_int_eq(snap_request_async(s.sn, note_done, (void *)&done),
                     SNAP_OK);
    ck_assert(!wait_flag(&done, 300));
    snap_hold(s.sn, false);
    ck_assert(wait_flag(&done, 5000));
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(side_set(&s, 0, "k", "v"), STORE_OK);
    ck_assert_int_eq(side_commit(&s, 0), SNAP_OK);
    snap_hold(s.sn, true);
    ck_assert_int_eq(snap_handover(s.sn, &lock_fd, err, sizeof(err)),
                     SNAP_OK);
    ck_assert_int_ge(lock_fd, 0);
    snap_handed_over(s.sn);
    ck_assert_int_eq(snap_request_async(s.sn, note_done, (void *)&late),
                     SNAP_OK);
    snap_jchan_close(&s.ch[0]);
    snap_jchan_close(&s.ch[1]);
    dir_listing(before, sizeof(before));
    ck_assert_int_eq(snap_close(&s.sn, err, sizeof(err)), SNAP_OK);
    ck_assert_int_eq(late, 2);              /* failed, not taken */
    dir_listing(after, sizeof(after));
    ck_assert_str_eq(before, after);        /* marker, segments stay */
    ck_assert_ptr_nonnull(strstr(after, SNAPFMT_RUNNING_FILE));
    store_destroy(&s.st);
    /* the next emberd finds k in the journal the owner left */
    ck_assert_int_eq(side_open(&s, false), SNAP_OK);
    ck_assert(side_has(&s, "k", "v"));
    side_close(&s);
}
END_TEST

void
journal_test_takeover(TCase *tc)
{
    tcase_add_test(tc, test_takeover_follows_the_journal_in_order);
    tcase_add_test(tc, test_failed_takeover_leaves_the_owner_alone);
    tcase_add_test(tc, test_hold_and_handed_over);
}
