/*
 * check_embersnap_pages.c -- damaged LMDB pages read by the real
 * embersnap binary ($EMBERSNAP; the in-process es_main() of the other
 * files has no fault handling, which is main()'s). LMDB trusts its pages:
 * on a damaged one it may assert (abort), follow a wild pointer (SIGSEGV)
 * or read past the end of the file (SIGBUS). Whatever the damage, every
 * command ends with exit status 0, 1 or 2 and a few lines on stderr,
 * never a signal or a core dump. Part of check_embersnap.
 */
#include "config.h"

#include "tests/check_embersnap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define RUN_SECONDS 20        /* a run that takes longer has hung */

/* The built binary: $EMBERSNAP (make check sets it), else the build
 * tree's, seen from the build directory. */
static const char *
binary(void)
{
    const char *p = getenv("EMBERSNAP");

    if (p == NULL || p[0] == '\0') {
        p = "tools/embersnap/embersnap";
    }
    ck_assert_msg(access(p, X_OK) == 0, "no embersnap binary at %s (set "
                  "EMBERSNAP)", p);
    return p;
}

/* What one run of the binary did. */
struct outcome {
    int status;               /* waitpid()'s */
    char err[4096];           /* the start of its stderr */
    unsigned err_lines;       /* lines on stderr, all of them */
};

/* Count the lines of FD's file and keep its start in O->err. */
static void
read_err(int fd, struct outcome *o)
{
    char buf[4096];
    size_t kept = 0;
    ssize_t n;

    o->err_lines = 0;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            o->err_lines += buf[i] == '\n';
            if (kept + 1 < sizeof(o->err)) {
                o->err[kept++] = buf[i];
            }
        }
    }
    o->err[kept] = '\0';
}

/* Wait for PID, killing it after RUN_SECONDS (a hang fails the test). */
static int
wait_run(pid_t pid)
{
    struct timespec nap = { 0, 2000000 };
    time_t end = time(NULL) + RUN_SECONDS;
    int status;
    pid_t got;

    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && time(NULL) < end) {
        nanosleep(&nap, NULL);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_abort_msg("embersnap ran more than %d s", RUN_SECONDS);
    }
    ck_assert_int_eq(got, pid);
    return status;
}

/* Run `embersnap ARGV...` (NULL-terminated), stdout to /dev/null. */
static void
run_binary(struct outcome *o, char *const argv[])
{
    char path[] = "/tmp/check_embersnap_err.XXXXXX";
    int efd = mkstemp(path), nfd = open("/dev/null", O_WRONLY);
    pid_t pid;

    ck_assert(efd >= 0 && nfd >= 0);
    unlink(path);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        dup2(nfd, STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    o->status = wait_run(pid);
    read_err(efd, o);
    close(efd);
    close(nfd);
}

/* The run ended by itself with 0, 1 or 2 and at most MAX_LINES lines on
 * stderr, each starting "embersnap"; WHAT names the case. */
static void
assert_no_crash(const struct outcome *o, const char *what,
                unsigned max_lines)
{
    ck_assert_msg(WIFEXITED(o->status), "%s: killed by signal %d: %s", what,
                  WIFSIGNALED(o->status) ? WTERMSIG(o->status) : -1,
                  o->err);
    ck_assert_msg(WEXITSTATUS(o->status) <= ES_EXIT_USAGE,
                  "%s: exit %d: %s", what, WEXITSTATUS(o->status), o->err);
    ck_assert_msg(o->err_lines <= max_lines, "%s: %u lines on stderr:\n%s",
                  what, o->err_lines, o->err);
    ck_assert_msg(o->err[0] == '\0' || strncmp(o->err, "embersnap", 9) == 0,
                  "%s: stderr: %s", what, o->err);
}

/* ---- one zeroed leaf, every command ---------------------------------- */

/* Zero every page of DIR/data.mdb that holds the bytes NEEDLE. */
static unsigned
zero_pages_with(const char *dir, const char *needle)
{
    static const unsigned char zeros[PAGE];
    unsigned char page[PAGE];
    char path[256];
    unsigned hits = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    for (off_t at = 0; pread(fd, page, PAGE, at) == PAGE; at += PAGE) {
        if (memmem(page, PAGE, needle, strlen(needle)) != NULL) {
            ck_assert_int_eq(pwrite(fd, zeros, PAGE, at), PAGE);
            hits++;
        }
    }
    close(fd);
    return hits;
}

/* Add N raw records PREFIX + i (5 digits) of NVAL bytes to the fixture,
 * and, when NBIG > 0, NBIG records "big:" + i of 9000 bytes (on LMDB
 * overflow pages), in one transaction. */
static void
add_records(const char *prefix, unsigned n, size_t nval, unsigned nbig)
{
    struct snapfmt_codec *raw = snapfmt_codec_create(0);
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);
    char key[64], *val = malloc(9000);

    ck_assert(val != NULL && nval <= 9000);
    for (size_t i = 0; i < 9000; i++) {
        val[i] = (char)('a' + i % 26);
    }
    for (unsigned i = 0; i < n + nbig; i++) {
        snprintf(key, sizeof(key), "%s%05u", i < n ? prefix : "big:", i);
        put_item(txn, raw, key, val, i < n ? nval : 9000, i, 0, 100 + i);
    }
    ck_assert_int_eq(snapfmt_meta_write(txn, &fx.meta), SNAPFMT_OK);
    done(&e, txn);
    snapfmt_codec_destroy(&raw);
    free(val);
}

/*
 * The case of issue 11: a leaf page zeroed. Walking into it LMDB fails
 * its IS_LEAF assertion and calls abort() (it used to be a core dump).
 * Every command that walks says, in one line naming the directory, that
 * data.mdb is damaged, and exits 2; `get` of a key on that page gets
 * LMDB's own error, also one line and exit 2.
 */
START_TEST(test_zeroed_leaf_every_command)
{
    static const char *const cmds[][3] = {
        { "info" }, { "verify" }, { "ls" }, { "dump" }, { "stats" },
        { "dump", "--format=memcached" }, { "ls", "--sort=size" },
        { "load", NULL },
    };
    struct srv s = { .refuse = NULL };
    char target[32], *argv[8];
    struct outcome o;

    /* the load server answers a client that may have died */
    signal(SIGPIPE, SIG_IGN);
    add_records("z:", 600, 100, 0);
    ck_assert_uint_ge(zero_pages_with(fx.dir, "z:00599"), 1);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int argc = 0;

        argv[argc++] = (char *)binary();
        argv[argc++] = (char *)cmds[i][0];
        if (strcmp(cmds[i][0], "load") == 0) {
            srv_start(&s);
            snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
            argv[argc++] = target;
        } else if (cmds[i][1] != NULL) {
            argv[argc++] = (char *)cmds[i][1];
        }
        argv[argc++] = fx.dir;
        argv[argc] = NULL;
        run_binary(&o, argv);
        if (strcmp(cmds[i][0], "load") == 0) {
            srv_stop(&s);
            free(s.got);
        }
        assert_no_crash(&o, cmds[i][0], 1);
        ck_assert_msg(WEXITSTATUS(o.status) == ES_EXIT_USAGE, "%s: exit %d",
                      cmds[i][0], WEXITSTATUS(o.status));
        HAS(o.err, fx.dir);
        HAS(o.err, "data.mdb is damaged");
        HAS(o.err, "IS_LEAF");
    }
    /* a lookup descends to the page and LMDB says what it found */
    argv[0] = (char *)binary();
    argv[1] = (char *)"get";
    argv[2] = (char *)"z:00599";
    argv[3] = fx.dir;
    argv[4] = NULL;
    run_binary(&o, argv);
    assert_no_crash(&o, "get", 1);
    ck_assert_int_eq(WEXITSTATUS(o.status), ES_EXIT_USAGE);
    HAS(o.err, fx.dir);
    HAS(o.err, "MDB_CORRUPTED");
}
END_TEST

/* ---- every page, damaged in several ways ------------------------------ */

enum { DMG_ZERO, DMG_FF, DMG_FLIP };

/* Where one byte is flipped: the page's flags, its node count (lower),
 * the first node offset, its last byte (a node's data, usually). */
static const unsigned flip_at[] = { 10, 12, 16, PAGE - 1 };

#define NVARIANTS (2 + sizeof(flip_at) / sizeof(flip_at[0]))

/* ORIG (N bytes) with page P damaged by variant V, into DIR/data.mdb
 * (and no lock.mdb left from the run before). */
static void
write_damaged(const char *dir, const unsigned char *orig, size_t n,
              size_t p, unsigned v)
{
    unsigned char *copy = malloc(n);
    unsigned char *pg = copy + p * PAGE;
    char path[256];
    FILE *f;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, orig, n);
    if (v == DMG_ZERO || v == DMG_FF) {
        memset(pg, v == DMG_ZERO ? 0 : 0xff, PAGE);
    } else {
        pg[flip_at[v - DMG_FLIP]] ^= 0xff;
    }
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(copy, 1, n, f), n);
    fclose(f);
    free(copy);
}

static unsigned char *
slurp_data(const char *dir, size_t *n)
{
    char path[256];
    struct stat st;
    unsigned char *buf;
    FILE *f;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    buf = malloc((size_t)st.st_size);
    f = fopen(path, "rb");
    ck_assert(buf != NULL && f != NULL);
    ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, f),
                      (size_t)st.st_size);
    fclose(f);
    *n = (size_t)st.st_size;
    return buf;
}

/*
 * A small real snapshot (the fixture's records with a trained dictionary,
 * 250 more under a branch page, values on overflow pages; 40 pages): for
 * every page of data.mdb, the meta pages too, zero it, fill it with
 * 0xff, or flip one byte at 4 offsets, and run `verify` and `ls` on the
 * copy. Each ends with 0, 1 or 2 and at most 3 lines on stderr; damage
 * is found (some runs end 1, some 2). ~480 runs: ~4 s, ~20 s under
 * sanitizers (each run starts a process).
 */
START_TEST(test_damage_every_page)
{
    static const char *const cmds[][2] = { { "verify", "-q" }, { "ls" } };
    unsigned seen[ES_EXIT_USAGE + 1] = { 0 };
    char copy[128], what[160], *argv[5];
    unsigned char *orig;
    struct outcome o;
    size_t n;

    add_records("page:", 250, 60, 3);
    orig = slurp_data(fx.dir, &n);
    ck_assert_uint_ge(n / PAGE, 20);
    snprintf(copy, sizeof(copy), "%s/copy", fx.dir);
    ck_assert_int_eq(mkdir(copy, 0700), 0);
    for (size_t p = 0; p < n / PAGE; p++) {
        for (unsigned v = 0; v < NVARIANTS; v++) {
            write_damaged(copy, orig, n, p, v);
            for (size_t c = 0; c < 2; c++) {
                argv[0] = (char *)binary();
                argv[1] = (char *)cmds[c][0];
                argv[2] = cmds[c][1] != NULL ? (char *)cmds[c][1] : copy;
                argv[3] = cmds[c][1] != NULL ? copy : NULL;
                argv[4] = NULL;
                run_binary(&o, argv);
                snprintf(what, sizeof(what), "%s, page %zu of %zu, damage "
                         "%u", cmds[c][0], p, n / PAGE, v);
                assert_no_crash(&o, what, 3);
                seen[WEXITSTATUS(o.status)]++;
            }
        }
    }
    free(orig);
    ck_assert_uint_gt(seen[ES_EXIT_PROBLEMS], 0);
    ck_assert_uint_gt(seen[ES_EXIT_USAGE], 0);
}
END_TEST

void
add_page_tests(TCase *errors, TCase *limits)
{
    tcase_add_test(errors, test_zeroed_leaf_every_command);
    tcase_add_test(limits, test_damage_every_page);
}
