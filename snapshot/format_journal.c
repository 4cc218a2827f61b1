/*
 * format_journal.c -- the journal's on-disk format (format.h): record
 * codec and checksum, segment headers, scanning a segment for its good
 * records and telling a torn tail from damage, listing and mapping
 * segment files. No storage, no threads, no LMDB.
 */
#include "config.h"

#include "snapshot/format.h"
#include "snapshot/fmt_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

static const char seg_magic[8] = { 'E', 'M', 'B', 'E', 'R', 'J', 'N', 'L' };

enum {
    J_LEN = 0, J_KIND = 4, J_NKEY = 5, J_RFLAGS = 6, J_MAGIC = 7,
    J_SEQ = 8, J_CAS = 16, J_ORDER = 24, J_FLAGS = 32, J_EXPTIME = 36,
    J_NVALUE = 40, J_TIME = 44, J_CHECK = 48,
};

size_t
snapfmt_jrec_size(size_t nkey, size_t nvalue)
{
    return (SNAPFMT_JREC_HDR + nkey + nvalue + 7) & ~(size_t)7;
}

size_t
snapfmt_jrec_put(const struct snapfmt_jrec *r, void *out)
{
    unsigned char *p = out;
    size_t len = snapfmt_jrec_size(r->nkey, r->nvalue);
    size_t body = SNAPFMT_JREC_HDR + r->nkey + r->nvalue;

    fmt_put32(p + J_LEN, (uint32_t)len);
    p[J_KIND] = (unsigned char)r->kind;
    p[J_NKEY] = (unsigned char)r->nkey;
    p[J_RFLAGS] = (unsigned char)r->rflags;
    p[J_MAGIC] = SNAPFMT_JREC_MAGIC;
    fmt_put64(p + J_SEQ, r->seq);
    fmt_put64(p + J_CAS, r->cas);
    fmt_put64(p + J_ORDER, r->order);
    fmt_put32(p + J_FLAGS, r->flags);
    fmt_put32(p + J_EXPTIME, r->exptime);
    fmt_put32(p + J_NVALUE, r->nvalue);
    fmt_put32(p + J_TIME, r->time);
    fmt_put64(p + J_CHECK, 0);
    if (r->nkey > 0) {
        memcpy(p + SNAPFMT_JREC_HDR, r->key, r->nkey);
    }
    if (r->nvalue > 0) {
        memcpy(p + SNAPFMT_JREC_HDR + r->nkey, r->value, r->nvalue);
    }
    memset(p + body, 0, len - body);
    return len;
}

static uint64_t
jrec_check(const unsigned char *p, size_t nkey, size_t nvalue)
{
    XXH64_hash_t h = XXH3_64bits(p, J_CHECK);

    h = XXH3_64bits_withSeed(p + SNAPFMT_JREC_HDR, nkey, h);
    return XXH3_64bits_withSeed(p + SNAPFMT_JREC_HDR + nkey, nvalue, h);
}

void
snapfmt_jrec_seal(void *rec)
{
    unsigned char *p = rec;

    fmt_put64(p + J_CHECK, jrec_check(p, p[J_NKEY], fmt_get32(p + J_NVALUE)));
}

/* Whether KIND carries a key, and whether it may carry a value. */
static bool
kind_has_key(unsigned kind)
{
    return kind >= SNAPFMT_J_LINK && kind <= SNAPFMT_J_MARK;
}

int
snapfmt_jrec_parse(const void *buf, size_t avail, struct snapfmt_jrec *out,
                   size_t *len, char *err, size_t errlen)
{
    const unsigned char *p = buf;
    uint32_t n, nvalue;
    unsigned nkey;

    if (avail < SNAPFMT_JREC_HDR) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "record header cut short (%zu bytes)", avail);
    }
    n = fmt_get32(p + J_LEN);
    nkey = p[J_NKEY];
    nvalue = fmt_get32(p + J_NVALUE);
    if (p[J_MAGIC] != SNAPFMT_JREC_MAGIC || n % 8 != 0 || n > avail ||
        (uint64_t)SNAPFMT_JREC_HDR + nkey + nvalue > n ||
        n - (SNAPFMT_JREC_HDR + nkey + (uint64_t)nvalue) >= 8) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "bad record framing (length %" PRIu32 ")", n);
    }
    if (fmt_get64(p + J_CHECK) != jrec_check(p, nkey, nvalue)) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "record checksum mismatch");
    }
    for (size_t i = SNAPFMT_JREC_HDR + nkey + nvalue; i < n; i++) {
        if (p[i] != 0) {    /* the padding is not in the checksum */
            return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                                "record padding not zero");
        }
    }
    if (p[J_KIND] < SNAPFMT_J_LINK || p[J_KIND] > SNAPFMT_J_KIND_MAX) {
        return snapfmt_fail(SNAPFMT_EVERSION, err, errlen,
                            "record kind %u unknown to this build",
                            p[J_KIND]);
    }
    if (kind_has_key(p[J_KIND]) != (nkey > 0) ||
        (nvalue > 0 && p[J_KIND] != SNAPFMT_J_LINK) ||
        (p[J_RFLAGS] & ~SNAPFMT_RF_ALL) != 0) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "record of kind %u with bad fields", p[J_KIND]);
    }
    snapfmt_jrec_decode(p, out);
    *len = n;
    return SNAPFMT_OK;
}

void
snapfmt_jrec_decode(const void *rec, struct snapfmt_jrec *out)
{
    const unsigned char *p = rec;

    out->kind = p[J_KIND];
    out->rflags = p[J_RFLAGS];
    out->seq = fmt_get64(p + J_SEQ);
    out->cas = fmt_get64(p + J_CAS);
    out->order = fmt_get64(p + J_ORDER);
    out->flags = fmt_get32(p + J_FLAGS);
    out->exptime = fmt_get32(p + J_EXPTIME);
    out->time = fmt_get32(p + J_TIME);
    out->nkey = p[J_NKEY];
    out->key = p + SNAPFMT_JREC_HDR;
    out->nvalue = fmt_get32(p + J_NVALUE);
    out->value = p + SNAPFMT_JREC_HDR + out->nkey;
}

/* ---- segments --------------------------------------------------------- */

void
snapfmt_jseg_header(void *out, uint64_t segno, uint32_t created)
{
    unsigned char *p = out;

    memset(p, 0, SNAPFMT_JSEG_HDR);
    memcpy(p, seg_magic, sizeof(seg_magic));
    fmt_put32(p + 8, SNAPFMT_JOURNAL_VERSION);
    fmt_put32(p + 12, created);
    fmt_put64(p + 16, segno);
    fmt_put64(p + 56, XXH3_64bits(p, 56));
}

int
snapfmt_jseg_check(const void *buf, size_t len, uint64_t *segno, char *err,
                   size_t errlen)
{
    const unsigned char *p = buf;

    if (len < SNAPFMT_JSEG_HDR || memcmp(p, seg_magic, 8) != 0) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "not a journal segment (%zu bytes)", len);
    }
    if (fmt_get64(p + 56) != XXH3_64bits(p, 56)) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "segment header checksum mismatch");
    }
    if (fmt_get32(p + 8) != SNAPFMT_JOURNAL_VERSION) {
        return snapfmt_fail(SNAPFMT_EVERSION, err, errlen,
                            "journal version %" PRIu32 " (this build "
                            "reads %u)", fmt_get32(p + 8),
                            SNAPFMT_JOURNAL_VERSION);
    }
    *segno = fmt_get64(p + 16);
    return SNAPFMT_OK;
}

/*
 * After a bad record at OFF: count the good records further on (*after)
 * and the highest SYNCED offset among them (*synced), looking at every
 * 8-byte boundary (the bad record's length cannot be trusted).
 */
static void
scan_after(const unsigned char *map, size_t len, size_t off,
           uint64_t *after, uint64_t *synced)
{
    struct snapfmt_jrec r;
    size_t n;

    for (off = (off + 8) & ~(size_t)7; off + SNAPFMT_JREC_HDR <= len;) {
        if (map[off + J_MAGIC] == SNAPFMT_JREC_MAGIC &&
            snapfmt_jrec_parse(map + off, len - off, &r, &n, NULL, 0) ==
                SNAPFMT_OK) {
            (*after)++;
            if (r.kind == SNAPFMT_J_SYNCED && r.cas > *synced) {
                *synced = r.cas;
            }
            off += n;
        } else {
            off += 8;
        }
    }
}

/* A bad record at OFF: damage (ECORRUPT) or a tail to cut (OK). */
static int
bad_record(const unsigned char *map, size_t len, size_t off,
           const char *name, const char *why, struct snapfmt_jscan *out,
           char *err, size_t errlen)
{
    scan_after(map, len, off, &out->dropped, &out->synced);
    if (off < out->synced) {
        return snapfmt_fail(SNAPFMT_ECORRUPT, err, errlen,
                            "%s: damaged record at offset %zu (%s) in "
                            "bytes that were on disk (synced to %" PRIu64
                            ")", name, off, why, out->synced);
    }
    out->torn_bytes = len - off;
    return SNAPFMT_OK;
}

int
snapfmt_jseg_scan(const void *map, size_t len, const char *name,
                  snapfmt_jrec_fn fn, void *arg, struct snapfmt_jscan *out,
                  char *err, size_t errlen)
{
    out->synced = 0;
    return snapfmt_jseg_scan_from(map, len, SNAPFMT_JSEG_HDR, name, fn, arg,
                                  out, err, errlen);
}

int
snapfmt_jseg_scan_from(const void *map, size_t len, size_t from,
                       const char *name, snapfmt_jrec_fn fn, void *arg,
                       struct snapfmt_jscan *out, char *err, size_t errlen)
{
    const unsigned char *p = map;
    char why[SNAPFMT_ERR_MAX];
    struct snapfmt_jrec r;
    uint64_t synced = out->synced;
    size_t off = from < SNAPFMT_JSEG_HDR ? SNAPFMT_JSEG_HDR : from, n;
    int rc;

    memset(out, 0, sizeof(*out));
    out->synced = synced;
    rc = snapfmt_jseg_check(map, len, &out->segno, why, sizeof(why));
    if (rc != SNAPFMT_OK) {
        return snapfmt_fail(rc, err, errlen, "%s: %s", name, why);
    }
    while (off < len) {
        rc = snapfmt_jrec_parse(p + off, len - off, &r, &n, why,
                                sizeof(why));
        if (rc == SNAPFMT_EVERSION) {
            return snapfmt_fail(rc, err, errlen, "%s at offset %zu: %s",
                                name, off, why);
        }
        if (rc != SNAPFMT_OK) {
            rc = bad_record(p, len, off, name, why, out, err, errlen);
            break;
        }
        if (r.kind == SNAPFMT_J_SYNCED) {
            out->synced = r.cas > out->synced ? r.cas : out->synced;
        } else {
            if (out->records == 0 || r.seq < out->min_seq) {
                out->min_seq = r.seq;
            }
            if (r.seq > out->max_seq) {
                out->max_seq = r.seq;
            }
        }
        out->records++;
        if (fn != NULL && (rc = fn(arg, &r, p + off, n)) != 0) {
            return rc;
        }
        off += n;
    }
    out->good_bytes = off;
    return rc;
}

void
snapfmt_jseg_path(const char *dir, uint64_t segno, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s/" SNAPFMT_JSEG_PREFIX "%016" PRIx64
             SNAPFMT_JSEG_SUFFIX, dir, segno);
}

/* The segment number in file name NAME, or false when it is not one. */
static bool
segno_of(const char *name, uint64_t *segno)
{
    size_t np = strlen(SNAPFMT_JSEG_PREFIX), ns = strlen(SNAPFMT_JSEG_SUFFIX);
    uint64_t v = 0;

    if (strlen(name) != np + 16 + ns ||
        strncmp(name, SNAPFMT_JSEG_PREFIX, np) != 0 ||
        strcmp(name + np + 16, SNAPFMT_JSEG_SUFFIX) != 0) {
        return false;
    }
    for (size_t i = np; i < np + 16; i++) {
        char c = name[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16u;

        if (d > 15) {
            return false;
        }
        v = v << 4 | d;
    }
    *segno = v;
    return true;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int
snapfmt_jseg_list(const char *dir, uint64_t **out, size_t *n, char *err,
                  size_t errlen)
{
    uint64_t *v = NULL, segno;
    size_t cap = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    *out = NULL;
    *n = 0;
    if (d == NULL) {
        return errno == ENOENT ? SNAPFMT_OK
                               : snapfmt_fail(SNAPFMT_ELMDB, err, errlen,
                                              "%s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (!segno_of(de->d_name, &segno)) {
            continue;
        }
        if (*n == cap) {
            uint64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

            if (nv == NULL) {
                free(v);
                closedir(d);
                return snapfmt_fail(SNAPFMT_ENOMEM, err, errlen,
                                    "out of memory listing %s", dir);
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[(*n)++] = segno;
    }
    closedir(d);
    if (*n > 1) {
        qsort(v, *n, sizeof(*v), cmp_u64);
    }
    *out = v;
    return SNAPFMT_OK;
}

int
snapfmt_jseg_map(const char *path, const void **map, size_t *len, char *err,
                 size_t errlen)
{
    struct stat sb;
    void *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *map = NULL;
    *len = 0;
    if (fd < 0) {
        return snapfmt_fail(errno == ENOENT ? SNAPFMT_ENOENT : SNAPFMT_ELMDB,
                            err, errlen, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &sb) != 0) {
        int e = errno;

        close(fd);
        return snapfmt_fail(SNAPFMT_ELMDB, err, errlen, "%s: %s", path,
                            strerror(e));
    }
    if (sb.st_size > 0) {
        /* MAP_PRIVATE: a file cut shorter later would raise SIGBUS only
         * past its end; callers read within the length seen here */
        /* populated: a replay reads all of it, faulting page by page
         * would cost more than the reading */
        m = mmap(NULL, (size_t)sb.st_size, PROT_READ,
                 MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;

            close(fd);
            return snapfmt_fail(SNAPFMT_ELMDB, err, errlen, "%s: mmap: %s",
                                path, strerror(e));
        }
        *map = m;
        *len = (size_t)sb.st_size;
    }
    close(fd);
    return SNAPFMT_OK;
}

void
snapfmt_jseg_unmap(const void *map, size_t len)
{
    if (map != NULL) {
        munmap((void *)map, len);
    }
}
