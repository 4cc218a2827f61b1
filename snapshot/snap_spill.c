/*
 * snap_spill.c -- the records of one snapshot between encoding and the
 * LMDB transaction. Encoded records go to an unnamed temporary file in
 * the snapshot directory, and only a 32-byte index entry per record stays
 * in memory; the index is then sorted by key and the transaction appends
 * the records in that order, reading them from the file's mapping.
 *
 * Why: sorted keys let LMDB append (fast, full pages), but sorting needs
 * every record at once. Holding the store's items until then would pin
 * them (an item with a reference cannot be evicted, so a full cache would
 * refuse writes for the whole snapshot), and holding the encoded records
 * in RAM would cost a third of the cache. The file costs page cache only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot/snap_int.h"

#define SPILL_BUF (1u << 20)     /* write buffer */
#define PAR_SORT_MIN 65536       /* entries before sorting on two cores */

static uint64_t
prefix8(const unsigned char *key, size_t nkey, size_t from)
{
    uint64_t p = 0;

    for (size_t i = from; i < from + 8; i++) {
        p = p << 8 | (i < nkey ? key[i] : 0);
    }
    return p;
}

int
spill_open(struct spill *sp, const char *dir, char *err, size_t errlen)
{
    char path[4200];

    memset(sp, 0, sizeof(*sp));
    sp->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        /* no O_TMPFILE here: a named file, unlinked at once */
        snprintf(path, sizeof(path), "%s/spill.XXXXXX", dir);
        sp->fd = mkstemp(path);
        if (sp->fd >= 0) {
            unlink(path);
        }
    }
    sp->buf = malloc(SPILL_BUF);
    if (sp->fd < 0 || sp->buf == NULL) {
        snprintf(err, errlen, "%s: temporary file: %s", dir,
                 sp->fd < 0 ? strerror(errno) : "out of memory");
        spill_close(sp);
        return SNAPFMT_ELMDB;
    }
    return SNAPFMT_OK;
}

static int
write_all(struct spill *sp, const unsigned char *p, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(sp->fd, p + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            sp->sys_err = n < 0 ? errno : EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
spill_flush(struct spill *sp)
{
    int rc = write_all(sp, sp->buf, sp->len);

    sp->len = 0;
    return rc;
}

static int
spill_write(struct spill *sp, const void *p, size_t n)
{
    if (sp->len + n > SPILL_BUF && spill_flush(sp) != 0) {
        return -1;
    }
    sp->size += n;
    if (n > SPILL_BUF) {
        /* larger than the buffer: straight to the file */
        return write_all(sp, p, n);
    }
    memcpy(sp->buf + sp->len, p, n);
    sp->len += n;
    return 0;
}

int
spill_add(struct spill *sp, const void *key, size_t nkey, const void *rec,
          size_t nrec)
{
    struct spill_entry *e;

    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 4096;
        e = realloc(sp->v, cap * sizeof(*e));
        if (e == NULL) {
            sp->sys_err = ENOMEM;
            return -1;
        }
        sp->v = e;
        sp->cap = cap;
    }
    e = &sp->v[sp->n];
    e->prefix[0] = prefix8(key, nkey, 0);
    e->prefix[1] = prefix8(key, nkey, 8);
    e->off = sp->size;
    e->nkey = (uint32_t)nkey;
    e->nrec = rec ? (uint32_t)nrec : 0;
    if (spill_write(sp, key, nkey) != 0 ||
        (rec != NULL && spill_write(sp, rec, nrec) != 0)) {
        return -1;
    }
    sp->n++;
    return 0;
}

void
spill_reset(struct spill *sp)
{
    sp->n = 0;
    sp->len = 0;
    sp->size = 0;
    if (ftruncate(sp->fd, 0) != 0 || lseek(sp->fd, 0, SEEK_SET) != 0) {
        sp->sys_err = errno;
    }
}

/* LMDB's order: bytes, then the shorter key first. ARG is the map. */
static int
entry_cmp(const void *pa, const void *pb, void *arg)
{
    const struct spill_entry *a = pa, *b = pb;
    const unsigned char *map = arg;
    size_t n;
    int c = 0;

    for (int i = 0; i < 2; i++) {
        if (a->prefix[i] != b->prefix[i]) {
            return a->prefix[i] < b->prefix[i] ? -1 : 1;
        }
    }
    n = a->nkey < b->nkey ? a->nkey : b->nkey;
    if (n > 16) {
        c = memcmp(map + a->off + 16, map + b->off + 16, n - 16);
    }
    if (c != 0) {
        return c;
    }
    return a->nkey < b->nkey ? -1 : (a->nkey > b->nkey);
}

int
spill_cmp(const struct spill *sp, const struct spill_entry *a,
          const struct spill_entry *b)
{
    return entry_cmp(a, b, (void *)sp->map);
}

struct half {
    struct spill_entry *v;
    size_t n;
    const unsigned char *map;
};

static void *
half_main(void *arg)
{
    struct half *h = arg;

    qsort_r(h->v, h->n, sizeof(h->v[0]), entry_cmp, (void *)h->map);
    return NULL;
}

/* Sort the index on two cores: halves by qsort, then one merge. */
static void
spill_sort(struct spill *sp)
{
    size_t mid = sp->n / 2, i = 0, j = mid, k = 0;
    struct half h = { sp->v + mid, sp->n - mid, sp->map };
    struct spill_entry *out = NULL;
    pthread_t tid;

    if (sp->n < PAR_SORT_MIN ||
        (out = malloc(sp->n * sizeof(*out))) == NULL ||
        pthread_create(&tid, NULL, half_main, &h) != 0) {
        free(out);
        qsort_r(sp->v, sp->n, sizeof(sp->v[0]), entry_cmp, (void *)sp->map);
        return;
    }
    qsort_r(sp->v, mid, sizeof(sp->v[0]), entry_cmp, (void *)sp->map);
    pthread_join(tid, NULL);
    while (i < mid && j < sp->n) {
        out[k++] = entry_cmp(&sp->v[i], &sp->v[j], (void *)sp->map) <= 0
                       ? sp->v[i++]
                       : sp->v[j++];
    }
    while (i < mid) {
        out[k++] = sp->v[i++];
    }
    while (j < sp->n) {
        out[k++] = sp->v[j++];
    }
    free(sp->v);
    sp->v = out;
    sp->cap = sp->n;
}

int
spill_finish(struct spill *sp, char *err, size_t errlen)
{
    if (sp->sys_err != 0 || spill_flush(sp) != 0) {
        snprintf(err, errlen, "temporary file: %s", strerror(sp->sys_err));
        return SNAPFMT_ELMDB;
    }
    if (sp->size > 0) {
        void *m = mmap(NULL, sp->size, PROT_READ, MAP_SHARED, sp->fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "temporary file: mmap: %s",
                     strerror(errno));
            return SNAPFMT_ELMDB;
        }
        sp->map = m;
        sp->maplen = sp->size;
    }
    if (sp->n > 1) {
        spill_sort(sp);
    }
    return SNAPFMT_OK;
}

void
spill_close(struct spill *sp)
{
    if (sp->map != NULL) {
        munmap((void *)sp->map, sp->maplen);
    }
    if (sp->fd >= 0) {
        close(sp->fd);
    }
    free(sp->buf);
    free(sp->v);
    memset(sp, 0, sizeof(*sp));
    sp->fd = -1;
}
