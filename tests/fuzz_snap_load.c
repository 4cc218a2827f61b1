/*
 * fuzz_snap_load.c -- libFuzzer harness for emberd's start-up path over a
 * damaged snapshot directory: the real snap_open() and snap_load() of
 * snapshot/snapshot.h (LMDB open and checks, meta, the dictionaries'
 * bytes straight from disk into snapfmt_dict_create, the forked page
 * precheck, every record through snapfmt_rec_parse/snapfmt_rec_value,
 * the journal's replay), then snap_close() (a final snapshot when the
 * load was accepted). Built by `make fuzz-build`, run by `make fuzz`
 * (tests/fuzz.mk).
 *
 * The docs promise that a damaged snapshot or journal gets the
 * --snapshot-on-corrupt policy, never a signal: so anything but an error
 * code here (a crash, a sanitizer report, a leak) is a bug. LMDB itself
 * trusts its pages; emberd walks them in a forked child first
 * (load_precheck), and that child may die: it is the parent that must
 * survive.
 *
 * Input: byte 0 = mode, bytes 1..4 = N (little-endian), then N bytes of
 * data.mdb, then a journal segment (journal-0000000000000001.ejl) when
 * anything is left.
 *  mode bit 0: reseal the segment (header and record checksums
 *              recomputed, so the replay sees the fields behind them)
 *  mode bit 1: --snapshot-on-corrupt=cold (else fail, or with bit 3)
 *  mode bit 3: --snapshot-on-corrupt=salvage (its scan, a load again
 *              skipping what does not verify, the move aside and the
 *              fresh environment the final snapshot goes to)
 *  mode bit 2: compression 0 (else 1: dictionaries built for level 1)
 * Seeds (tests/fuzz/snap_load/) are small real snapshots made by emberd.
 * Files go to a directory under $TMPDIR (/dev/shm when it exists: the
 * final snapshot's fdatasync is free there), emptied after each input.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"
#include "tests/fuzz_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[256];          /* the harness's own temporary directory */
static char dir[300];           /* the snapshot directory inside it */

static void
quiet(void *arg, enum snap_log_level level, const char *msg)
{
    (void)arg;
    (void)level;
    (void)msg;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    if (ftw->level > 0) {
        remove(path);
    }
    return 0;
}

/* Empty BASE: the snapshot directory and whatever was moved aside. */
static void
clean(void)
{
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
harness_init(void)
{
    const char *tmp = getenv("TMPDIR");

    if (tmp == NULL) {
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    }
    snprintf(base, sizeof(base), "%s/ember-fuzz-load-XXXXXX", tmp);
    if (mkdtemp(base) == NULL) {
        perror(base);
        abort();
    }
    snprintf(dir, sizeof(dir), "%s/snap", base);
    atexit(clean);
}

static void
write_file(const char *name, const void *p, size_t n)
{
    char path[400];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n) {
        perror(path);
        abort();
    }
    close(fd);
}

/* Lay the input out as a snapshot directory. */
static void
lay_out(unsigned mode, const uint8_t *data, size_t size)
{
    uint32_t n = fuzz_get32(data);
    unsigned char *seg;

    data += 4;
    size -= 4;
    n = n < size ? n : (uint32_t)size;
    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        abort();
    }
    if (n > 0) {
        write_file("data.mdb", data, n);
    }
    if (size > n) {
        seg = malloc(size - n);
        if (seg == NULL) {
            abort();
        }
        memcpy(seg, data + n, size - n);
        if (mode & 1) {
            fuzz_jseg_reseal(seg, size - n);
        }
        write_file("journal-0000000000000001.ejl", seg, size - n);
        free(seg);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_config sc;
    struct snap_settings cfg;
    struct store *st;
    struct snap *sn = NULL;
    char err[SNAP_ERR_MAX];
    int sys_err = 0, rc;

    if (base[0] == '\0') {
        harness_init();
    }
    if (size < 5) {
        return 0;
    }
    lay_out(data[0], data + 1, size - 1);
    store_config_default(&sc);
    sc.mem_limit = 16u << 20;
    sc.changelog_max = 1u << 20;
    st = store_create(&sc, &sys_err);
    if (st == NULL) {
        abort();
    }
    snap_settings_default(&cfg);
    cfg.dir = dir;
    cfg.interval = 0;
    cfg.on_corrupt = (data[0] & 8)   ? SNAP_CORRUPT_SALVAGE
                     : (data[0] & 2) ? SNAP_CORRUPT_COLD
                                     : SNAP_CORRUPT_FAIL;
    cfg.compression = (data[0] & 4) ? 0 : 1;
    cfg.load_threads = 2;
    cfg.child_stall_s = 1;      /* a looping input costs 1 s, not 10 */
    cfg.journal_fsync = SNAP_FSYNC_NO;
    cfg.log = quiet;
    (void)snap_peek_items(dir);     /* main() sizes the hash table first */
    rc = snap_open(&cfg, st, &sn, err, sizeof(err));
    if (rc == SNAP_OK) {
        (void)snap_load(sn, err, sizeof(err));
        (void)snap_close(&sn, err, sizeof(err));
    }
    store_destroy(&st);
    clean();
    return 0;
}
