/*
 * scale_corpus.c -- scalefill's deterministic values (see scale_corpus.h).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/scale_corpus.h"

#define WORD_MAX 32u            /* longer words are skipped */
#define WORDS_MIN 1000u
#define LIST_MAX (64u << 20)    /* a word list larger than this is refused */

/* splitmix64: state advances by the golden ratio, output is mixed */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t
rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static bool
usable_word(const char *w, size_t n)
{
    size_t i;

    if (n == 0 || n > WORD_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char ch = w[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) {
            return false;
        }
    }
    return true;
}

/* Read PATH whole into a NUL-terminated buffer; NULL with ERR on failure. */
static char *
slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s (Debian: apt-get install wamerican)",
                 path, strerror(errno));
        return NULL;
    }
    buf = malloc(LIST_MAX + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        fclose(f);
        return NULL;
    }
    *len = fread(buf, 1, LIST_MAX + 1, f);
    if (ferror(f) || *len > LIST_MAX) {
        snprintf(err, errlen, "%s: %s", path, ferror(f) ? "read error"
                 : "larger than 64 MB: not a word list");
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* Index the usable words of C->text (one per line), NUL-terminating them. */
static int
index_words(struct scale_corpus *c, size_t len, char *err, size_t errlen)
{
    size_t pos = 0;
    size_t cap = len / 2 + 1;

    c->word = malloc(cap * sizeof(*c->word));
    c->wlen = malloc(cap);
    if (c->word == NULL || c->wlen == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (pos < len) {
        char *nl = memchr(c->text + pos, '\n', len - pos);
        size_t n = (nl != NULL ? (size_t)(nl - c->text) : len) - pos;

        if (n > 0 && c->text[pos + n - 1] == '\r') {
            n--;
        }
        if (usable_word(c->text + pos, n) && c->nwords < cap) {
            c->text[pos + n] = '\0';
            c->word[c->nwords] = (uint32_t)pos;
            c->wlen[c->nwords++] = (uint8_t)n;
        }
        pos = nl != NULL ? (size_t)(nl - c->text) + 1 : len;
    }
    if (c->nwords < WORDS_MIN) {
        snprintf(err, errlen, "%u usable words (ASCII letters only, at most "
                 "%u long); a word list needs at least %u", c->nwords,
                 WORD_MAX, WORDS_MIN);
        return -1;
    }
    return 0;
}

/* Fisher-Yates by the seed: which words are frequent depends on it. */
static void
shuffle_words(struct scale_corpus *c)
{
    uint64_t s = c->seed ^ 0x6a09e667f3bcc909ULL;
    uint32_t i;

    for (i = c->nwords - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(&s, (uint64_t)i + 1);
        uint32_t w = c->word[i];
        uint8_t l = c->wlen[i];

        c->word[i] = c->word[j];
        c->wlen[i] = c->wlen[j];
        c->word[j] = w;
        c->wlen[j] = l;
    }
}

int
scale_corpus_load(struct scale_corpus *c, enum scale_kind kind, size_t size,
                  uint64_t seed, const char *path, char *err, size_t errlen)
{
    size_t len = 0;

    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->size = size;
    c->seed = seed;
    if (kind == SCALE_FIXED) {
        if (size == 0 || size > SCALE_VALUE_MAX) {
            snprintf(err, errlen, "value size %zu: must be 1..%u", size,
                     SCALE_VALUE_MAX);
            return -1;
        }
        return 0;
    }
    c->text = slurp(path != NULL ? path : SCALE_WORDS_DEFAULT, &len, err,
                    errlen);
    if (c->text == NULL || index_words(c, len, err, errlen) != 0) {
        return -1;
    }
    shuffle_words(c);
    c->log_n = log((double)c->nwords + 1.0);
    return 0;
}

void
scale_corpus_release(struct scale_corpus *c)
{
    free(c->text);
    free(c->word);
    free(c->wlen);
    c->text = NULL;
    c->word = NULL;
    c->wlen = NULL;
    c->nwords = 0;
}

/* Rank r in [0, nwords) with probability ~ 1/(r+1) (Zipf, s = 1). */
static uint32_t
zipf_rank(const struct scale_corpus *c, uint64_t *s)
{
    double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    double r = exp(u * c->log_n) - 1.0;
    uint32_t k = (uint32_t)r;

    return k < c->nwords ? k : c->nwords - 1;
}

struct out {
    char *p;
    size_t n;
};

static void
put(struct out *o, const char *s, size_t n)
{
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void
put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A Zipf-picked word; CAP: capitalised, else as listed but lower-cased. */
static void
put_word(struct out *o, const struct scale_corpus *c, uint64_t *s, bool cap)
{
    uint32_t k = zipf_rank(c, s);
    const char *w = c->text + c->word[k];
    size_t i;

    for (i = 0; i < c->wlen[k]; i++) {
        char ch = w[i];

        if (i == 0 && cap && ch >= 'a' && ch <= 'z') {
            ch = (char)(ch - 'a' + 'A');
        } else if ((i > 0 || !cap) && ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        }
        o->p[o->n++] = ch;
    }
}

static void
put_num(struct out *o, uint64_t v)
{
    o->n += (size_t)sprintf(o->p + o->n, "%llu", (unsigned long long)v);
}

/* "name":"First Last","email":"first.last42@word.com" from one seed */
static void
put_person(struct out *o, const struct scale_corpus *c, uint64_t *s)
{
    uint64_t names = *s;
    uint64_t n2;

    put_str(o, ",\"name\":\"");
    put_word(o, c, s, true);
    put(o, " ", 1);
    put_word(o, c, s, true);
    put_str(o, "\",\"email\":\"");
    n2 = *s;
    *s = names;                 /* the same two words, lower case */
    put_word(o, c, s, false);
    put(o, ".", 1);
    put_word(o, c, s, false);
    *s = n2;
    put_num(o, rng_below(s, 100));
    put(o, "@", 1);
    put_word(o, c, s, false);
    put_str(o, ".com\"");
}

static size_t
corpus_value(const struct scale_corpus *c, uint64_t i, uint64_t *s,
             char *buf)
{
    struct out o = { buf, 0 };
    uint64_t k;
    uint64_t n;

    put_str(&o, "{\"id\":");
    put_num(&o, i);
    put_person(&o, c, s);
    put_str(&o, ",\"age\":");
    put_num(&o, 18 + rng_below(s, 70));
    put_str(&o, ",\"tags\":[");
    n = 1 + rng_below(s, 5);
    for (k = 0; k < n; k++) {
        put_str(&o, k > 0 ? ",\"" : "\"");
        put_word(&o, c, s, false);
        put(&o, "\"", 1);
    }
    put_str(&o, "],\"bio\":\"");
    n = 10 + rng_below(s, 21);
    for (k = 0; k < n; k++) {
        if (k > 0) {
            put(&o, " ", 1);
        }
        put_word(&o, c, s, k == 0);
    }
    o.n += (size_t)sprintf(o.p + o.n, ".\",\"created\":\"20%02u-%02u-%02uT"
                           "%02u:%02u:%02uZ\",\"active\":%s}",
                           (unsigned)(15 + rng_below(s, 11)),
                           (unsigned)(1 + rng_below(s, 12)),
                           (unsigned)(1 + rng_below(s, 28)),
                           (unsigned)rng_below(s, 24),
                           (unsigned)rng_below(s, 60),
                           (unsigned)rng_below(s, 60),
                           rng_below(s, 4) != 0 ? "true" : "false");
    return o.n;
}

size_t
scale_value(const struct scale_corpus *c, uint64_t i, uint64_t gen,
            char *buf)
{
    uint64_t s = c->seed * 0xff51afd7ed558ccdULL
                 ^ i * 0xc4ceb9fe1a85ec53ULL ^ (gen + 1) * 0x9e3779b9ULL;
    uint64_t x = 0;
    size_t k;

    (void)rng_next(&s);
    if (c->kind == SCALE_CORPUS) {
        return corpus_value(c, i, &s, buf);
    }
    for (k = 0; k < c->size; k++) {
        /* eight letters per draw: (byte % 26) is close enough to uniform */
        if (k % 8 == 0) {
            x = rng_next(&s);
        }
        buf[k] = (char)('a' + (x & 0xff) % 26u);
        x >>= 8;
    }
    return c->size;
}
