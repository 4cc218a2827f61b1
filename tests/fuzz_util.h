/*
 * fuzz_util.h -- helpers shared by the libFuzzer harnesses that read
 * journal segments (tests/fuzz_journal.c, tests/fuzz_snap_load.c).
 * Test code only: linked into those harnesses, never into emberd.
 */
#ifndef EMBER_FUZZ_UTIL_H
#define EMBER_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Little-endian integers at P (the journal's byte order). */
uint32_t fuzz_get32(const unsigned char *p);
uint64_t fuzz_get64(const unsigned char *p);

/*
 * Recompute the checksum of segment SEG's header (LEN bytes; nothing when
 * shorter than a header) and of every record its length fields frame,
 * from the first on, until one does not fit: so that a fuzzer's
 * mutations reach the fields behind the checksums. Writes into SEG.
 */
void fuzz_jseg_reseal(unsigned char *seg, size_t len);

#endif /* EMBER_FUZZ_UTIL_H */
