/*
 * snap_stats.c -- `embersnap stats`: histograms of value size, TTL left
 * and compression ratio, and the top key prefixes by bytes, as an aligned
 * text table or JSON. One pass; memory is constant: the prefix table
 * holds at most ES_PREFIX_MAX prefixes (pointing into the LMDB map, valid
 * for the read transaction) and counts the rest as "other".
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_opts.h"

#include <stdlib.h>
#include <string.h>

#define NSIZE 16
#define NTTL 10
#define NRATIO 7
#define SLOTS (2 * ES_PREFIX_MAX)   /* open addressing, at most half full */

struct bucket {
    uint64_t count;
    uint64_t bytes;       /* key + value bytes */
};

struct prefix {
    unsigned char *p;         /* owned copy; NULL: keys without the */
                              /* separator (a walk's keys do not last) */
    uint32_t n;
    bool used;
    struct bucket b;
};

struct stats {
    const struct es_cli *cli;
    const char *sep;
    size_t nsep;
    unsigned top;
    uint64_t records, unreadable, bytes;
    struct bucket size[NSIZE], ttl[NTTL], ratio[NRATIO];
    struct prefix *slots;
    size_t nprefix;
    struct bucket other;  /* records whose prefix found the table full */
};

static const char *const size_label[NSIZE] = {
    "< 64 B", "64-127 B", "128-255 B", "256-511 B", "512-1023 B",
    "1-2 KiB", "2-4 KiB", "4-8 KiB", "8-16 KiB", "16-32 KiB", "32-64 KiB",
    "64-128 KiB", "128-256 KiB", "256-512 KiB", "512 KiB-1 MiB", ">= 1 MiB",
};
static const char *const ttl_label[NTTL] = {
    "expired", "< 1 min", "1-10 min", "10-60 min", "1-6 h", "6-24 h",
    "1-7 d", "7-30 d", ">= 30 d", "never",
};
static const int64_t ttl_edge[NTTL - 3] = {
    60, 600, 3600, 21600, 86400, 604800, ES_REALTIME_MAXDELTA,
};
static const char *const ratio_label[NRATIO] = {
    "stored raw", "< 1.5x", "1.5-2x", "2-3x", "3-5x", "5-10x", ">= 10x",
};
static const double ratio_edge[NRATIO - 2] = { 1.5, 2, 3, 5, 10 };

static const char stats_usage[] =
    "usage: embersnap stats [--sep=S] [--top=N] [--json] [--snapshot-only]"
    " DIR\n"
    "\n"
    "Histograms of value size, TTL left and compression ratio (value bytes\n"
    "over stored bytes), and the top key prefixes by bytes (key + value).\n"
    "A key's prefix runs to its first separator, included; keys without\n"
    "one count as (none). All records count, expired ones too. The text\n"
    "tables show the range of non-empty buckets; JSON shows every bucket.\n"
    "Values written since the snapshot are in the journal, stored raw.\n"
    "\n"
    "  --sep=S     prefix separator (default \":\")\n"
    "  --top=N     prefixes to show (default 10)\n"
    "  --json      one JSON object instead of text tables\n"
    "  -h, --help  this text\n"
    ES_JOURNAL_HELP;

static unsigned
size_bucket(uint32_t n)
{
    unsigned b = 0;

    for (uint64_t edge = 64; b < NSIZE - 1 && n >= edge; edge *= 2) {
        b++;
    }
    return b;
}

static unsigned
ttl_bucket(uint32_t exptime, int64_t now)
{
    unsigned b = 1;

    if (exptime == 0) {
        return NTTL - 1;
    }
    if (es_expired(exptime, now)) {
        return 0;
    }
    while (b < NTTL - 2 && (int64_t)exptime - now >= ttl_edge[b - 1]) {
        b++;
    }
    return b;
}

static unsigned
ratio_bucket(const struct snapfmt_rec *r)
{
    double x;
    unsigned b = 1;

    if (r->codec == SNAPFMT_RAW) {
        return 0;
    }
    x = r->payload_len ? (double)r->raw_len / r->payload_len : 0;
    while (b < NRATIO - 1 && x >= ratio_edge[b - 1]) {
        b++;
    }
    return b;
}

static struct bucket *
prefix_bucket(struct stats *st, const unsigned char *key, size_t nkey)
{
    const unsigned char *end = memmem(key, nkey, st->sep, st->nsep);
    uint32_t n = end ? (uint32_t)(end - key + st->nsep) : 0;
    uint64_t h = 1469598103934665603ull;
    struct prefix *e;

    for (uint32_t i = 0; i < n; i++) {
        h = (h ^ key[i]) * 1099511628211ull;
    }
    for (size_t i = (size_t)h % SLOTS;; i = (i + 1) % SLOTS) {
        e = &st->slots[i];
        if (!e->used) {
            if (st->nprefix == ES_PREFIX_MAX ||
                (end != NULL && (e->p = malloc(n)) == NULL)) {
                return &st->other;
            }
            if (end != NULL) {
                memcpy(e->p, key, n);
            }
            e->used = true;
            e->n = n;
            st->nprefix++;
            return &e->b;
        }
        if (e->n == n && (n == 0 || memcmp(e->p, key, n) == 0) &&
            (e->p == NULL) == (end == NULL)) {
            return &e->b;
        }
    }
}

static void
add(struct bucket *b, uint64_t bytes)
{
    b->count++;
    b->bytes += bytes;
}

static int
stats_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct stats *st = arg;
    uint64_t bytes;

    (void)s;
    if (rec->parse_rc != SNAPFMT_OK) {
        st->unreadable++;
        return 0;
    }
    bytes = rec->nkey + rec->r.raw_len;
    st->records++;
    st->bytes += bytes;
    add(&st->size[size_bucket(rec->r.raw_len)], bytes);
    add(&st->ttl[ttl_bucket(rec->r.exptime, st->cli->now)], bytes);
    add(&st->ratio[ratio_bucket(&rec->r)], bytes);
    add(prefix_bucket(st, rec->key, rec->nkey), bytes);
    return 0;
}

static int
prefix_cmp(const void *a, const void *b)
{
    const struct prefix *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c;

    if (x->b.bytes != y->b.bytes) {
        return x->b.bytes > y->b.bytes ? -1 : 1;
    }
    c = n ? memcmp(x->p, y->p, n) : 0;
    return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

/* Move the used prefixes to the front of the table, best first. */
static size_t
prefix_sort(struct stats *st)
{
    size_t n = 0;

    for (size_t i = 0; i < SLOTS; i++) {
        if (st->slots[i].used && n++ != i) {
            st->slots[n - 1] = st->slots[i];
            st->slots[i].p = NULL;      /* moved: one owner */
            st->slots[i].used = false;
        }
    }
    qsort(st->slots, n, sizeof(*st->slots), prefix_cmp);
    return n;
}

static void
table(FILE *f, const char *title, const char *const *label,
      const struct bucket *b, unsigned n, uint64_t total)
{
    unsigned lo = 0, hi = n;

    /* Text shows the span of non-empty buckets; JSON has them all. */
    while (lo < n && b[lo].count == 0) {
        lo++;
    }
    while (hi > lo && b[hi - 1].count == 0) {
        hi--;
    }
    fprintf(f, "%s\n  %-16s %12s %7s %16s\n", title, "bucket", "records",
            "%", "bytes");
    for (unsigned i = lo; i < hi; i++) {
        fprintf(f, "  %-16s %12llu %6.2f%% %16llu\n", label[i],
                (unsigned long long)b[i].count,
                total ? 100.0 * (double)b[i].count / (double)total : 0.0,
                (unsigned long long)b[i].bytes);
    }
    fputc('\n', f);
}

static void
stats_text(struct stats *st, size_t np)
{
    FILE *f = st->cli->out;
    char kbuf[ES_KEY_TEXT_MAX];

    fprintf(f, "records: %llu, bytes: %llu (keys + values), unreadable: "
            "%llu\n\n", (unsigned long long)st->records,
            (unsigned long long)st->bytes,
            (unsigned long long)st->unreadable);
    table(f, "value size", size_label, st->size, NSIZE, st->records);
    table(f, "ttl left", ttl_label, st->ttl, NTTL, st->records);
    table(f, "compression", ratio_label, st->ratio, NRATIO, st->records);
    fprintf(f, "top prefixes by bytes (separator \"%s\", %zu prefixes)\n"
            "  %-24s %12s %16s %7s\n", st->sep, np, "prefix", "records",
            "bytes", "%");
    for (size_t i = 0; i < np && i < st->top; i++) {
        const struct prefix *p = &st->slots[i];

        if (p->p == NULL) {
            snprintf(kbuf, sizeof(kbuf), "(none)");
        } else {
            snapfmt_key_print(p->p, p->n, kbuf, sizeof(kbuf));
        }
        fprintf(f, "  %-24s %12llu %16llu %6.2f%%\n", kbuf,
                (unsigned long long)p->b.count,
                (unsigned long long)p->b.bytes,
                st->bytes ? 100.0 * (double)p->b.bytes / (double)st->bytes
                          : 0.0);
    }
    if (st->other.count > 0) {
        fprintf(f, "  %-24s %12llu %16llu\n", "(other: table full)",
                (unsigned long long)st->other.count,
                (unsigned long long)st->other.bytes);
    }
}

static void
json_hist(FILE *f, const char *name, const char *const *label,
          const struct bucket *b, unsigned n)
{
    fprintf(f, ",\"%s\":[", name);
    for (unsigned i = 0; i < n; i++) {
        fprintf(f, "%s{\"bucket\":\"%s\",\"count\":%llu,\"bytes\":%llu}",
                i ? "," : "", label[i], (unsigned long long)b[i].count,
                (unsigned long long)b[i].bytes);
    }
    fputc(']', f);
}

static void
stats_json(struct stats *st, size_t np)
{
    FILE *f = st->cli->out;

    fprintf(f, "{\"records\":%llu,\"bytes\":%llu,\"unreadable\":%llu,"
            "\"separator\":", (unsigned long long)st->records,
            (unsigned long long)st->bytes,
            (unsigned long long)st->unreadable);
    es_json_str(f, st->sep, st->nsep);
    json_hist(f, "size", size_label, st->size, NSIZE);
    json_hist(f, "ttl", ttl_label, st->ttl, NTTL);
    json_hist(f, "ratio", ratio_label, st->ratio, NRATIO);
    fprintf(f, ",\"prefix_count\":%zu,\"prefixes\":[", np);
    for (size_t i = 0; i < np && i < st->top; i++) {
        const struct prefix *p = &st->slots[i];

        fprintf(f, "%s{\"prefix\":", i ? "," : "");
        if (p->p == NULL) {
            fputs("null", f);
        } else if (es_utf8_ok(p->p, p->n)) {
            es_json_str(f, p->p, p->n);
        } else {
            fputc('"', f);
            es_base64(f, p->p, p->n);
            fputs("\",\"base64\":true", f);
        }
        fprintf(f, ",\"count\":%llu,\"bytes\":%llu}",
                (unsigned long long)p->b.count,
                (unsigned long long)p->b.bytes);
    }
    fprintf(f, "],\"other\":{\"count\":%llu,\"bytes\":%llu}}\n",
            (unsigned long long)st->other.count,
            (unsigned long long)st->other.bytes);
}

static int
stats_options(struct stats *st, int argc, char **argv, bool *json,
              bool *snaponly)
{
    uint64_t top = st->top;
    const struct es_opt opts[] = {
        { .name = "sep", .val = 's', .kind = ES_OPT_TEXT, .dst = &st->sep },
        { .name = "top", .val = 't', .kind = ES_OPT_UINT, .dst = &top, .min = 0,
          .max = ES_PREFIX_MAX },
        { .name = "json", .val = 'j', .kind = ES_OPT_TRUE, .dst = json },
        ES_OPT_SNAPSHOT_ONLY(snaponly),
    };
    const struct es_cmdline cl = { "stats", stats_usage, opts,
                                   ES_NOPTS(opts), 1,
                                   "wants exactly one DIR" };
    int rc = es_options(st->cli, &cl, argc, argv);

    if (rc >= 0) {
        return rc;
    }
    st->top = (unsigned)top;
    st->nsep = strlen(st->sep);
    if (st->nsep == 0) {
        return es_usage_error(st->cli, "stats", "--sep must not be empty");
    }
    return es_operands(st->cli, &cl, argc);
}

int
es_cmd_stats(const struct es_cli *cli, int argc, char **argv)
{
    struct stats *st = calloc(1, sizeof(*st));
    char err[SNAPFMT_ERR_MAX];
    struct es_snap s;
    bool json = false, snaponly = false;
    int rc;

    if (st == NULL || (st->slots = calloc(SLOTS, sizeof(*st->slots))) ==
                          NULL) {
        free(st);
        es_warn(cli, "stats", "out of memory");
        return ES_EXIT_USAGE;
    }
    st->cli = cli;
    st->sep = ":";
    st->top = 10;
    rc = stats_options(st, argc, argv, &json, &snaponly);
    if (rc >= 0 ||
        (rc = es_snap_open(&s, cli, argv[optind],
                           snaponly ? ES_JOURNAL_NONE : ES_JOURNAL_APPLY)) !=
            ES_EXIT_OK) {
        goto out;
    }
    if (es_walk(&s, NULL, 0, stats_rec, st, err, sizeof(err)) < 0) {
        es_warn_walk(cli, "stats", err);
        rc = ES_EXIT_USAGE;
    } else {
        size_t np = prefix_sort(st);

        (json ? stats_json : stats_text)(st, np);
        rc = st->unreadable > 0 ? ES_EXIT_PROBLEMS : ES_EXIT_OK;
    }
    es_snap_release(&s);
out:
    for (size_t i = 0; i < SLOTS; i++) {
        free(st->slots[i].p);
    }
    free(st->slots);
    free(st);
    return rc;
}
