/*
 * scale_corpus.h -- the values scalefill writes: deterministic functions
 * of (seed, key index, generation), so that a fill, a later check and the
 * same fill of another server (Redis) all agree byte for byte without
 * storing anything.
 *
 * Layer: tools/bench/ (scalefill only). libc only; no ember header.
 *
 * Two kinds of value:
 *  - SCALE_FIXED: SIZE random lower-case letters. Every value is drawn
 *    independently, so nothing is shared between values (unlike
 *    emberbench's slices of one 4 KB pattern, which a zstd dictionary
 *    shrinks to almost nothing): about 4.7 bits of entropy per byte.
 *  - SCALE_CORPUS: a JSON-like user record,
 *      {"id":I,"name":"Ab Cd","email":"ab.cd42@ef.com","age":N,
 *       "tags":["w",...],"bio":"<10-30 words>","created":"<date>",
 *       "active":true}
 *    built from a word list (Debian's wamerican, /usr/share/dict/words:
 *    words of ASCII letters only), shuffled by the seed, and picked with
 *    a Zipf-like law (rank r with probability ~ 1/r, as in real text), so
 *    that compression ratios mean something. Typically 250-450 bytes.
 *
 * Invariants
 *  - A value depends only on (seed, kind, size, word list, index, gen);
 *    it never exceeds SCALE_VALUE_MAX bytes.
 *  - The corpus is read-only after scale_corpus_load(): any thread may
 *    call scale_value() on it concurrently.
 */
#ifndef EMBER_SCALE_CORPUS_H
#define EMBER_SCALE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#define SCALE_VALUE_MAX 4096u
#define SCALE_WORDS_DEFAULT "/usr/share/dict/words"

enum scale_kind {
    SCALE_FIXED = 0,
    SCALE_CORPUS = 1,
};

struct scale_corpus {
    enum scale_kind kind;
    size_t size;                /* SCALE_FIXED: value bytes */
    uint64_t seed;
    char *text;                 /* owned: the words, each NUL-terminated */
    uint32_t *word;             /* owned: offsets into text, shuffled */
    uint8_t *wlen;              /* owned: word lengths (<= 32) */
    uint32_t nwords;
    double log_n;               /* ln(nwords + 1), for the Zipf draw */
};

/*
 * Set C up for KIND. For SCALE_CORPUS read the word list PATH (NULL: the
 * default) and shuffle it by SEED; for SCALE_FIXED, SIZE (1 ..
 * SCALE_VALUE_MAX) is the value length and no file is read.
 * Returns 0, or -1 with a message in ERR (ERRLEN bytes): the file is
 * missing or unreadable, holds fewer than 1,000 usable words, or SIZE is
 * out of range. Release with scale_corpus_release() either way.
 * Thread: main, before workers start. Blocks: reads PATH.
 */
int
scale_corpus_load(struct scale_corpus *c, enum scale_kind kind, size_t size,
                  uint64_t seed, const char *path, char *err, size_t errlen);

/* Free what scale_corpus_load() allocated; C may be reused. */
void
scale_corpus_release(struct scale_corpus *c);

/*
 * Write the value of key index I, generation GEN (0 for the first fill;
 * an update writes GEN 1, 2... so that it differs) into BUF, which holds
 * at least SCALE_VALUE_MAX bytes. Returns its length (> 0).
 * Thread: any (C is read-only). Blocks: never.
 */
size_t
scale_value(const struct scale_corpus *c, uint64_t i, uint64_t gen,
            char *buf);

#endif /* EMBER_SCALE_CORPUS_H */
