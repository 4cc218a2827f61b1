/*
 * fuzz_journal.c -- libFuzzer harness for the journal's decoder
 * (snapshot/format_journal.c): what a warm restart runs over every
 * segment file it finds (docs/SNAPSHOT-FORMAT.md, "The journal"). Built
 * by `make fuzz-build`, run by `make fuzz` (tests/fuzz.mk).
 *
 * Input: byte 0 picks how the rest is used, the rest is a segment file.
 *  - bit 0: reseal: the segment header's checksum and every record's
 *    (walking the length fields) are recomputed, so that the fields
 *    behind the checksums are reached, not just the checksum test;
 *  - bit 1: put a valid header in front of the bytes.
 * The segment (an exact-size heap copy, so ASan sees a read past its end)
 * goes through snapfmt_jseg_check() and snapfmt_jseg_scan(), whose every
 * answer is checked: records handed out in file order, back to back from
 * the header, inside the file, each one parsing and decoding to the same
 * fields again; the totals adding up to the file. Then a record built
 * from the same bytes must round-trip through snapfmt_jrec_put/seal/parse,
 * and with any one bit flipped must be refused.
 * A violation traps; libFuzzer reports it with the input.
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/fuzz_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_journal: %s:%d: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            __builtin_trap();                                              \
        }                                                                  \
    } while (0)

static bool
same_rec(const struct snapfmt_jrec *a, const struct snapfmt_jrec *b)
{
    return a->kind == b->kind && a->rflags == b->rflags &&
           a->seq == b->seq && a->cas == b->cas && a->order == b->order &&
           a->flags == b->flags && a->exptime == b->exptime &&
           a->time == b->time && a->nkey == b->nkey &&
           a->nvalue == b->nvalue && a->key == b->key &&
           a->value == b->value;
}

struct walk {
    const unsigned char *seg;
    size_t len;
    size_t next;              /* where the next record must start */
    uint64_t calls;
    uint64_t synced;
};

static int
on_record(void *arg, const struct snapfmt_jrec *r, const void *rec,
          size_t len)
{
    struct walk *w = arg;
    const unsigned char *p = rec;
    struct snapfmt_jrec again, dec;
    size_t n;

    CHECK(p == w->seg + w->next);
    CHECK(len >= SNAPFMT_JREC_HDR && len % 8 == 0 && len <= w->len - w->next);
    CHECK(r->kind >= SNAPFMT_J_LINK && r->kind <= SNAPFMT_J_KIND_MAX);
    CHECK((const unsigned char *)r->key == p + SNAPFMT_JREC_HDR);
    CHECK((const unsigned char *)r->value == p + SNAPFMT_JREC_HDR + r->nkey);
    CHECK(SNAPFMT_JREC_HDR + r->nkey + (size_t)r->nvalue <= len);
    CHECK((r->rflags & ~(unsigned)SNAPFMT_RF_ALL) == 0);
    CHECK(snapfmt_jrec_parse(p, len, &again, &n, NULL, 0) == SNAPFMT_OK);
    CHECK(n == len && same_rec(r, &again));
    snapfmt_jrec_decode(p, &dec);
    CHECK(same_rec(r, &dec));
    if (r->kind == SNAPFMT_J_SYNCED && r->cas > w->synced) {
        w->synced = r->cas;
    }
    w->next += len;
    w->calls++;
    return 0;
}

static void
check_segment(const unsigned char *seg, size_t len)
{
    struct walk w = { seg, len, SNAPFMT_JSEG_HDR, 0, 0 };
    char err[SNAPFMT_ERR_MAX];
    struct snapfmt_jscan out;
    uint64_t segno = 0;
    int crc, rc;

    crc = snapfmt_jseg_check(seg, len, &segno, err, sizeof(err));
    CHECK(crc == SNAPFMT_OK || crc == SNAPFMT_ECORRUPT ||
          crc == SNAPFMT_EVERSION);
    CHECK(crc != SNAPFMT_OK || segno == fuzz_get64(seg + 16));
    rc = snapfmt_jseg_scan(seg, len, "fuzz", on_record, &w, &out, err,
                           sizeof(err));
    CHECK(rc == SNAPFMT_OK || rc == SNAPFMT_ECORRUPT ||
          rc == SNAPFMT_EVERSION);
    CHECK(crc == SNAPFMT_OK || (rc == crc && w.calls == 0));
    CHECK(strlen(err) < sizeof(err));
    if (rc != SNAPFMT_OK) {
        return;
    }
    CHECK(out.segno == segno && out.records == w.calls);
    CHECK(out.good_bytes == w.next);
    CHECK(out.good_bytes + out.torn_bytes == len);
    /* a cut is never made inside bytes a SYNCED record vouches for */
    CHECK(out.torn_bytes == 0 || out.synced <= out.good_bytes);
    CHECK(out.synced >= w.synced);
}

/* A record from the input's bytes: put, seal, parse back; flip a bit. */
static void
round_trip(const uint8_t *data, size_t size)
{
    static unsigned char rec[SNAPFMT_JREC_HDR + 255 + 4096 + 8];
    struct snapfmt_jrec r, back;
    size_t len, n, bit;
    uint64_t v = 0;

    if (size < 16) {
        return;
    }
    memcpy(&v, data + 1, 8);
    memset(&r, 0, sizeof(r));
    r.kind = 1 + data[0] % SNAPFMT_J_KIND_MAX;
    r.seq = v;
    r.cas = v * 31 + 7;
    r.order = v ^ 0x5555;
    r.flags = (uint32_t)v;
    r.exptime = (uint32_t)(v >> 32);
    r.time = (uint32_t)(v >> 16);
    if (r.kind >= SNAPFMT_J_LINK && r.kind <= SNAPFMT_J_MARK) {
        r.nkey = 1 + data[9] % 250;
        r.key = data;
        r.nkey = r.nkey < size ? r.nkey : size;
        r.rflags = data[10] & SNAPFMT_RF_ALL;
    }
    if (r.kind == SNAPFMT_J_LINK) {
        r.nvalue = (uint32_t)((size - 11) % 4097);
        r.value = data + 11;
    }
    len = snapfmt_jrec_put(&r, rec);
    CHECK(len == snapfmt_jrec_size(r.nkey, r.nvalue));
    snapfmt_jrec_seal(rec);
    CHECK(snapfmt_jrec_parse(rec, len, &back, &n, NULL, 0) == SNAPFMT_OK);
    CHECK(n == len && back.kind == r.kind && back.seq == r.seq &&
          back.cas == r.cas && back.order == r.order &&
          back.flags == r.flags && back.exptime == r.exptime &&
          back.time == r.time && back.rflags == r.rflags &&
          back.nkey == r.nkey && back.nvalue == r.nvalue &&
          (r.nkey == 0 || memcmp(back.key, r.key, r.nkey) == 0) &&
          (r.nvalue == 0 || memcmp(back.value, r.value, r.nvalue) == 0));
    /* every byte is covered: the checksum, or the zero padding check */
    bit = (data[11] | (size_t)data[12] << 8) % (len * 8);
    rec[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    CHECK(snapfmt_jrec_parse(rec, len, &back, &n, NULL, 0) != SNAPFMT_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *seg;
    size_t len;
    unsigned mode;

    if (size == 0) {
        return 0;
    }
    mode = data[0];
    data++;
    size--;
    len = size + ((mode & 2) ? SNAPFMT_JSEG_HDR : 0);
    seg = malloc(len ? len : 1);
    CHECK(seg != NULL);
    if (mode & 2) {
        snapfmt_jseg_header(seg, 7, 1800000000u);
    }
    memcpy(seg + len - size, data, size);
    if (mode & 1) {
        fuzz_jseg_reseal(seg, len);
    }
    check_segment(seg, len);
    free(seg);
    round_trip(data, size);
    return 0;
}
