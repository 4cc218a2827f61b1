/*
 * snap_spill.c -- the sealed blocks of a snapshot between the pipeline
 * and the LMDB transaction. Blocks go to an unnamed temporary file in the
 * snapshot directory, and only a small index entry per block stays in
 * memory; the transaction puts them in order from the file's mapping, and
 * can put them again when it must run again (the map grew).
 *
 * Why: a transaction that fails for want of map space runs again, and the
 * store's walk cannot be repeated (the change log was taken); and holding
 * the blocks in RAM would cost memory a cache wants. The file costs page
 * cache only, and a full snapshot commits and resets it every few tens of
 * MB (snap_write.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot/snap_int.h"

#define SPILL_BUF (1u << 20)     /* write buffer */

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
    if (sp->map != NULL) {
        munmap((void *)sp->map, sp->maplen);
        sp->map = NULL;
        sp->maplen = 0;
    }
    sp->n = 0;
    sp->len = 0;
    sp->size = 0;
    if (ftruncate(sp->fd, 0) != 0 || lseek(sp->fd, 0, SEEK_SET) != 0) {
        sp->sys_err = errno;
    }
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
