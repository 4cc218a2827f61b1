/*
 * fuzz_util.c -- helpers of the libFuzzer harnesses (fuzz_util.h).
 */
#include "config.h"

#include "snapshot/format.h"
#include "tests/fuzz_util.h"

#include <xxhash.h>

uint32_t
fuzz_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint64_t
fuzz_get64(const unsigned char *p)
{
    return (uint64_t)fuzz_get32(p) | (uint64_t)fuzz_get32(p + 4) << 32;
}

void
fuzz_jseg_reseal(unsigned char *seg, size_t len)
{
    size_t off = SNAPFMT_JSEG_HDR;
    uint64_t h;

    if (len < SNAPFMT_JSEG_HDR) {
        return;
    }
    h = XXH3_64bits(seg, 56);
    for (int i = 0; i < 8; i++) {
        seg[56 + i] = (unsigned char)(h >> (8 * i));
    }
    while (off + SNAPFMT_JREC_HDR <= len) {
        unsigned char *r = seg + off;
        uint32_t n = fuzz_get32(r);

        /* length, key and value sizes: bytes 0, 5 and 40 of a record */
        if (n < SNAPFMT_JREC_HDR || n % 8 != 0 || n > len - off ||
            (uint64_t)SNAPFMT_JREC_HDR + r[5] + fuzz_get32(r + 40) > n) {
            break;
        }
        snapfmt_jrec_seal(r);
        off += n;
    }
}
