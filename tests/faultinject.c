/*
 * faultinject.c -- an LD_PRELOAD shim that makes the Nth call of a chosen
 * family of file system calls fail, for the fault sweep
 * (tests/integration/test_faults.py, `make faults`). Built by `make
 * check` as tests/faultinject.so; never linked into emberd.
 *
 * Families (the PLAN's calls= names; a family name or one function):
 *   writes  write pwrite pwrite64 writev pwritev pwritev64
 *   syncs   fsync fdatasync
 *   truncs  ftruncate ftruncate64 fallocate fallocate64 posix_fallocate
 *           posix_fallocate64
 *   maps    mmap mmap64 (file mappings only: LMDB's map, and its growth
 *           by mdb_env_set_mapsize; journal segments at replay)
 * An LMDB commit is pwrite/writev of the pages, a pwrite or write of the
 * meta page and fdatasync/fsync: "writes,syncs" covers it.
 *
 * Environment:
 *   EMBER_FI_CTL   the control file: its first line is the PLAN, read
 *                  again whenever the file changes (a new or changed plan
 *                  starts counting from 0; an empty or missing file turns
 *                  injection off). So a test arms and clears faults in a
 *                  running process, or before it starts.
 *   EMBER_FI_PATH  only calls on a file descriptor whose path (readlink of
 *                  /proc/self/fd/N) starts with this prefix count, so that
 *                  client sockets and other files are never hit.
 *   EMBER_FI_LOG   each injected fault appends one line here:
 *                  "inject CALL #N PATH ERR".
 *
 * PLAN: space-separated key=value tokens
 *   calls=LIST  comma-separated families or functions (required)
 *   nth=N       the first call to fail, counting matching calls from 1
 *   count=C     how many matching calls fail from the Nth on (1 default;
 *               0: every one from then on, a disk that stays full)
 *   every=E     fail calls N, N+E, N+2E, ... instead (0: off)
 *   err=E       ENOSPC (default), EIO, EDQUOT, ENOMEM, or "short": a
 *               write family call writes about half of what it was given
 *               and returns that count (for the other calls: EIO)
 *   trace=1     also log every matching call ("call CALL #N PATH"), to
 *               learn how many calls an operation makes (nth=0 with
 *               trace=1 counts without failing anything)
 *
 * Thread: any; the counter is atomic and the plan is swapped under a
 * mutex. The real functions are found with dlsym(RTLD_NEXT), so the shim
 * also works behind AddressSanitizer's interceptors (LD_PRELOAD="libasan
 * faultinject.so").
 */
#define _GNU_SOURCE 1

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum fi_call {
    FI_WRITE, FI_PWRITE, FI_WRITEV, FI_PWRITEV,
    FI_FSYNC, FI_FDATASYNC,
    FI_FTRUNCATE, FI_FALLOCATE, FI_POSIX_FALLOCATE,
    FI_MMAP,
    FI_NCALLS
};

static const char *const call_name[FI_NCALLS] = {
    "write", "pwrite", "writev", "pwritev", "fsync", "fdatasync",
    "ftruncate", "fallocate", "posix_fallocate", "mmap",
};

#define FAM_WRITES ((1u << FI_WRITE) | (1u << FI_PWRITE) | \
                    (1u << FI_WRITEV) | (1u << FI_PWRITEV))
#define FAM_SYNCS ((1u << FI_FSYNC) | (1u << FI_FDATASYNC))
#define FAM_TRUNCS ((1u << FI_FTRUNCATE) | (1u << FI_FALLOCATE) | \
                    (1u << FI_POSIX_FALLOCATE))
#define FAM_MAPS (1u << FI_MMAP)

#define ERR_SHORT (-1)

struct plan {
    unsigned calls;             /* bit set of enum fi_call; 0: off */
    uint64_t nth;
    uint64_t count;
    uint64_t every;
    int err;                    /* errno value, or ERR_SHORT */
    bool trace;                 /* log every matching call */
};

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plan cur;         /* guarded by: plan_lock */
static struct stat ctl_seen;    /* guarded by: plan_lock */
static bool ctl_present;        /* guarded by: plan_lock */
static atomic_uint_fast64_t seen;   /* matching calls under this plan */
static __thread int busy;       /* inside the shim: pass everything */

/* ---- the real functions ----------------------------------------------- */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static void
resolve(void)
{
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fallocate = dlsym(RTLD_NEXT, "fallocate");
    real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
    real_mmap = dlsym(RTLD_NEXT, "mmap");
}

static pthread_once_t resolved = PTHREAD_ONCE_INIT;

__attribute__((constructor)) static void
faultinject_init(void)
{
    pthread_once(&resolved, resolve);
}

/* ---- the plan ---------------------------------------------------------- */

static unsigned
call_bits(const char *name, size_t n)
{
    static const struct { const char *name; unsigned bits; } fam[] = {
        { "writes", FAM_WRITES }, { "syncs", FAM_SYNCS },
        { "truncs", FAM_TRUNCS }, { "maps", FAM_MAPS },
    };

    for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
        if (strlen(fam[i].name) == n && memcmp(fam[i].name, name, n) == 0) {
            return fam[i].bits;
        }
    }
    for (unsigned i = 0; i < FI_NCALLS; i++) {
        if (strlen(call_name[i]) == n && memcmp(call_name[i], name, n) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

static int
err_of(const char *v)
{
    static const struct { const char *name; int err; } errs[] = {
        { "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EDQUOT", EDQUOT },
        { "ENOMEM", ENOMEM }, { "short", ERR_SHORT },
    };

    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        if (strcmp(errs[i].name, v) == 0) {
            return errs[i].err;
        }
    }
    return EIO;
}

/* Parse LINE into P; an unusable plan is off (calls 0). */
static void
plan_parse(char *line, struct plan *p)
{
    char *save = NULL;

    memset(p, 0, sizeof(*p));
    p->nth = 1;
    p->count = 1;
    p->err = ENOSPC;
    for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        char *v = strchr(t, '=');

        if (v == NULL) {
            continue;
        }
        *v++ = '\0';
        if (strcmp(t, "calls") == 0) {
            for (char *c = v; *c != '\0';) {
                size_t n = strcspn(c, ",");

                p->calls |= call_bits(c, n);
                c += n + (c[n] == ',');
            }
        } else if (strcmp(t, "nth") == 0) {
            p->nth = strtoull(v, NULL, 10);
        } else if (strcmp(t, "count") == 0) {
            p->count = strtoull(v, NULL, 10);
        } else if (strcmp(t, "every") == 0) {
            p->every = strtoull(v, NULL, 10);
        } else if (strcmp(t, "err") == 0) {
            p->err = err_of(v);
        } else if (strcmp(t, "trace") == 0) {
            p->trace = strcmp(v, "1") == 0;
        }
    }
    if (p->nth == 0 && !p->trace) {
        p->calls = 0;
    }
}

/* Read the control file again when it changed. Caller holds plan_lock. */
static void
plan_refresh_locked(void)
{
    const char *ctl = getenv("EMBER_FI_CTL");
    struct stat st;
    char line[512];
    ssize_t n;
    int fd;

    if (ctl == NULL || stat(ctl, &st) != 0) {
        if (ctl_present) {
            memset(&cur, 0, sizeof(cur));
            ctl_present = false;
        }
        return;
    }
    if (ctl_present && st.st_ino == ctl_seen.st_ino &&
        st.st_size == ctl_seen.st_size &&
        st.st_mtim.tv_sec == ctl_seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == ctl_seen.st_mtim.tv_nsec) {
        return;
    }
    ctl_seen = st;
    ctl_present = true;
    atomic_store(&seen, 0);
    memset(&cur, 0, sizeof(cur));
    fd = open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n > 0) {
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        plan_parse(line, &cur);
    }
}

/* Whether FD's path starts with EMBER_FI_PATH; PATH gets it. */
static bool
path_matches(int fd, char *path, size_t cap)
{
    const char *prefix = getenv("EMBER_FI_PATH");
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, cap - 1);
    if (n < 0) {
        return false;
    }
    path[n] = '\0';
    return prefix == NULL || strncmp(path, prefix, strlen(prefix)) == 0;
}

/* One line to EMBER_FI_LOG: an injected fault (ERR), or a traced call. */
static void
log_call(enum fi_call call, uint64_t k, const char *path, bool hit, int err)
{
    const char *log = getenv("EMBER_FI_LOG");
    char line[4400];
    int fd, n;

    if (log == NULL) {
        return;
    }
    n = snprintf(line, sizeof(line), "%s %s #%llu %s %s\n",
                 hit ? "inject" : "call", call_name[call],
                 (unsigned long long)k, path,
                 !hit ? "-" : err == ERR_SHORT ? "short"
                                               : strerrorname_np(err));
    fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (n > (int)sizeof(line) - 1) {
            n = (int)sizeof(line) - 1;
        }
        (void)real_write(fd, line, (size_t)n);
        close(fd);
    }
}

/*
 * Whether this CALL on FD is to fail: 0 (no), an errno value, or
 * ERR_SHORT. Counts it when it matches the plan.
 */
static int
should_fail(enum fi_call call, int fd)
{
    char path[4096];
    struct plan p;
    uint64_t k;
    bool hit;

    if (busy || fd < 0) {
        return 0;
    }
    busy = 1;
    pthread_once(&resolved, resolve);
    pthread_mutex_lock(&plan_lock);
    plan_refresh_locked();
    p = cur;
    pthread_mutex_unlock(&plan_lock);
    if (!(p.calls & (1u << call)) || !path_matches(fd, path, sizeof(path))) {
        busy = 0;
        return 0;
    }
    k = atomic_fetch_add(&seen, 1) + 1;
    if (p.nth == 0) {
        hit = false;
    } else if (p.every > 0) {
        hit = k >= p.nth && (k - p.nth) % p.every == 0;
    } else {
        hit = k >= p.nth && (p.count == 0 || k < p.nth + p.count);
    }
    if (hit || p.trace) {
        log_call(call, k, path, hit, p.err);
    }
    busy = 0;
    if (!hit) {
        return 0;
    }
    return p.err == ERR_SHORT && call > FI_PWRITEV ? EIO : p.err;
}

/* A write of N bytes cut short: about half, at least one byte less. */
static size_t
short_len(size_t n)
{
    return n > 1 ? n / 2 : 0;
}

/* Whether CALL on FD fails now (errno set: the caller returns -1). */
static bool
fails(enum fi_call call, int fd)
{
    int e = should_fail(call, fd);

    if (e != 0) {
        errno = e;
        return true;
    }
    return false;
}

/*
 * A write family CALL of *N bytes on FD: false when it fails (errno
 * set), else true with *N cut short when the plan says "short".
 */
static bool
may_write(enum fi_call call, int fd, size_t *n)
{
    int e = should_fail(call, fd);

    if (e == ERR_SHORT) {
        *n = short_len(*n);
        return true;
    }
    if (e != 0) {
        errno = e;
        return false;
    }
    return true;
}

/* The first part of IOV (CNT entries), about half its bytes, in OUT. */
static int
iov_cut(const struct iovec *iov, int cnt, struct iovec *out, int cap)
{
    size_t total = 0, want;
    int i;

    for (i = 0; i < cnt; i++) {
        total += iov[i].iov_len;
    }
    want = short_len(total);
    for (i = 0; i < cnt && i < cap && want > 0; i++) {
        out[i] = iov[i];
        if (out[i].iov_len > want) {
            out[i].iov_len = want;
        }
        want -= out[i].iov_len;
    }
    return i;
}

/* ---- the interposed functions ----------------------------------------- */

ssize_t
write(int fd, const void *buf, size_t n)
{
    if (!may_write(FI_WRITE, fd, &n)) {
        return -1;
    }
    if (real_write == NULL) {
        return syscall(SYS_write, fd, buf, n);
    }
    return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return may_write(FI_PWRITE, fd, &n) ? real_pwrite(fd, buf, n, off) : -1;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
    __attribute__((alias("pwrite")));

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    struct iovec cut[64];
    size_t n = 1;

    if (!may_write(FI_WRITEV, fd, &n)) {
        return -1;
    }
    if (n == 0) {               /* "short": about half of the vector */
        cnt = iov_cut(iov, cnt, cut, 64);
        iov = cut;
    }
    return cnt == 0 ? 0 : real_writev(fd, iov, cnt);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    struct iovec cut[64];
    size_t n = 1;

    if (!may_write(FI_PWRITEV, fd, &n)) {
        return -1;
    }
    if (n == 0) {
        cnt = iov_cut(iov, cnt, cut, 64);
        iov = cut;
    }
    return cnt == 0 ? 0 : real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
    __attribute__((alias("pwritev")));

int
fsync(int fd)
{
    return fails(FI_FSYNC, fd) ? -1 : real_fsync(fd);
}

int
fdatasync(int fd)
{
    return fails(FI_FDATASYNC, fd) ? -1 : real_fdatasync(fd);
}

int
ftruncate(int fd, off_t len)
{
    return fails(FI_FTRUNCATE, fd) ? -1 : real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

int
fallocate(int fd, int mode, off_t off, off_t len)
{
    return fails(FI_FALLOCATE, fd) ? -1
                                   : real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
    __attribute__((alias("fallocate")));

int
posix_fallocate(int fd, off_t off, off_t len)
{
    int e = should_fail(FI_POSIX_FALLOCATE, fd);

    /* returns the error, does not set errno */
    return e != 0 ? e : real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
    __attribute__((alias("posix_fallocate")));

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    int e = (flags & MAP_ANONYMOUS) ? 0 : should_fail(FI_MMAP, fd);

    if (e != 0) {
        errno = e == ERR_SHORT ? ENOMEM : e;
        return MAP_FAILED;
    }
    if (real_mmap == NULL) {
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));
