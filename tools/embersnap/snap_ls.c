/*
 * snap_ls.c -- `embersnap ls`: keys with value size, flags, TTL left and
 * CAS. Streams in key order in constant memory; --sort=size|ttl keeps one
 * small entry per record (or only the best --limit in a heap). Entries
 * point into the LMDB map or the journal's, valid while the snapshot is
 * open. A format 3 snapshot is stored in hash order: its keys are kept
 * and sorted like --sort's (each key copied: a walk reuses its buffers).
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_journal.h"
#include "tools/embersnap/snap_opts.h"

#include <stdlib.h>
#include <string.h>

enum sort_by { SORT_KEY, SORT_SIZE, SORT_TTL };

/* What a line shows (ES_SORT_ENTRY_BYTES). */
struct entry {
    const void *key;
    uint32_t nkey;
    uint32_t raw_len;
    uint32_t flags;
    uint32_t exptime;
    uint64_t cas;
};
_Static_assert(sizeof(struct entry) == ES_SORT_ENTRY_BYTES,
               "ls --sort's memory per record is documented");

struct ls {
    const struct es_cli *cli;
    enum sort_by sort;
    uint64_t limit;       /* 0: no limit */
    bool expired;         /* list expired records too */
    bool snaponly;        /* --snapshot-only */
    bool header;
    uint64_t shown;
    uint64_t bad;
    struct entry *v;      /* --sort: heap (with limit) or array */
    size_t n, cap;
    bool oom;
    bool own_keys;        /* format 3: each kept key is a malloc'd copy */
};

static const char ls_usage[] =
    "usage: embersnap ls [OPTIONS] DIR\n"
    "\n"
    "One line per key: value size, client flags, TTL left in seconds\n"
    "(\"never\" or \"expired\"), CAS, key (non-printable bytes as \\xHH).\n"
    "Streams in key order in constant memory (beyond the journal's); a\n"
    "format 3 snapshot (stored in hash order) is sorted in memory: 32\n"
    "bytes and the key per listed record.\n"
    "\n"
    "  --prefix=P        only keys starting with P (seeks, no full scan)\n"
    "  --limit=N         stop after N keys\n"
    "  --expired         also list records that have already expired\n"
    "  --sort=key|size|ttl  key order (default), largest value first, or\n"
    "                    soonest expiry first (never last). size and ttl\n"
    "                    keep 32 bytes per listed record in memory, or\n"
    "                    only 32 x N with --limit=N\n"
    "  -H, --no-header   no column header\n"
    "  -h, --help        this text\n"
    ES_JOURNAL_HELP;

/* What E sorts by: its size, or its expiry with never last. */
static uint64_t
sort_value(const struct entry *e, enum sort_by sort)
{
    if (sort == SORT_KEY) {
        return 0;
    }
    if (sort == SORT_SIZE) {
        return e->raw_len;
    }
    return e->exptime == 0 ? UINT64_MAX : e->exptime;
}

/* Negative when A lists before B. */
static int
entry_cmp(const struct entry *a, const struct entry *b, enum sort_by sort)
{
    uint64_t va = sort_value(a, sort), vb = sort_value(b, sort);

    if (va != vb) {
        if (sort == SORT_SIZE) {
            return va > vb ? -1 : 1;
        }
        return va < vb ? -1 : 1;
    }
    return es_key_cmp(a->key, a->nkey, b->key, b->nkey);
}

static void
print_line(struct ls *l, const struct entry *e)
{
    char kbuf[ES_KEY_TEXT_MAX], tbuf[24];

    snapfmt_key_print(e->key, e->nkey, kbuf, sizeof(kbuf));
    fprintf(l->cli->out, "%10u %10u %10s %20llu  %s\n", (unsigned)e->raw_len,
            (unsigned)e->flags,
            es_ttl_text(e->exptime, l->cli->now, tbuf, sizeof(tbuf)),
            (unsigned long long)e->cas, kbuf);
    l->shown++;
}

static void
swap(struct entry *a, struct entry *b)
{
    struct entry t = *a;

    *a = *b;
    *b = t;
}

/* Heap of the best LIMIT entries, the worst at the root. */
static void
heap_down(struct ls *l, size_t i)
{
    size_t c;

    for (;;) {
        c = 2 * i + 1;
        if (c >= l->n) {
            return;
        }
        if (c + 1 < l->n && entry_cmp(&l->v[c + 1], &l->v[c], l->sort) > 0) {
            c++;
        }
        if (entry_cmp(&l->v[c], &l->v[i], l->sort) <= 0) {
            return;
        }
        swap(&l->v[i], &l->v[c]);
        i = c;
    }
}

static void
heap_up(struct ls *l, size_t i)
{
    while (i > 0 && entry_cmp(&l->v[i], &l->v[(i - 1) / 2], l->sort) > 0) {
        swap(&l->v[i], &l->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static int
keep(struct ls *l, const struct entry *e)
{
    struct entry *nv;
    size_t cap;

    if (l->limit > 0 && l->n == l->limit) {
        if (entry_cmp(e, &l->v[0], l->sort) < 0) {
            if (l->own_keys) {
                free((void *)l->v[0].key);
            }
            l->v[0] = *e;
            heap_down(l, 0);
        } else if (l->own_keys) {
            free((void *)e->key);
        }
        return 0;
    }
    if (l->n == l->cap) {
        cap = l->cap ? l->cap * 2 : 1024;
        if (l->limit > 0 && cap > l->limit) {
            cap = (size_t)l->limit;
        }
        nv = realloc(l->v, cap * sizeof(*nv));
        if (nv == NULL) {
            if (l->own_keys) {
                free((void *)e->key);
            }
            l->oom = true;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    if (l->limit > 0) {
        heap_up(l, l->n - 1);
    }
    return 0;
}

static int
ls_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct ls *l = arg;
    struct entry e;

    (void)s;
    if (rec->parse_rc != SNAPFMT_OK) {
        es_warn(l->cli, "ls", "%s", rec->msg);
        l->bad++;
        return 0;
    }
    if (!l->expired && es_expired(rec->r.exptime, l->cli->now)) {
        return 0;
    }
    e.key = rec->key;
    e.nkey = (uint32_t)rec->nkey;
    e.raw_len = rec->r.raw_len;
    e.flags = rec->r.flags;
    e.exptime = rec->r.exptime;
    e.cas = rec->r.cas;
    if (l->sort == SORT_KEY && !l->own_keys) {
        print_line(l, &e);
        return l->limit > 0 && l->shown >= l->limit;
    }
    if (l->own_keys) {
        void *copy = malloc(e.nkey);

        if (copy == NULL) {
            l->oom = true;
            return 1;
        }
        memcpy(copy, e.key, e.nkey);
        e.key = copy;
    }
    return keep(l, &e);
}

/* qsort has no context argument: one comparison per order. */
static int
cmp_key(const void *a, const void *b)
{
    return entry_cmp(a, b, SORT_KEY);
}

static int
cmp_size(const void *a, const void *b)
{
    return entry_cmp(a, b, SORT_SIZE);
}

static int
cmp_ttl(const void *a, const void *b)
{
    return entry_cmp(a, b, SORT_TTL);
}

static void
print_sorted(struct ls *l)
{
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof(*l->v), l->sort == SORT_SIZE ? cmp_size
                                         : l->sort == SORT_KEY ? cmp_key
                                                               : cmp_ttl);
    }
    for (size_t i = 0; i < l->n; i++) {
        print_line(l, &l->v[i]);
    }
}

static int
ls_options(struct ls *l, int argc, char **argv, const char **prefix)
{
    /* in enum sort_by's order */
    static const char *const sorts[] = { "key", "size", "ttl", NULL };
    int sort = (int)l->sort;
    const struct es_opt opts[] = {
        { .name = "prefix", .val = 'p', .kind = ES_OPT_TEXT, .dst = prefix },
        { .name = "limit", .val = 'l', .kind = ES_OPT_UINT, .dst = &l->limit,
          .min = 1, .max = SIZE_MAX / sizeof(struct entry),
          .wants = "a positive number" },
        { .name = "expired", .val = 'e', .kind = ES_OPT_TRUE,
          .dst = &l->expired },
        { .name = "sort", .val = 's', .kind = ES_OPT_WORD, .dst = &sort,
          .words = sorts },
        { .name = "no-header", .val = 'H', .short_too = true,
          .kind = ES_OPT_FALSE, .dst = &l->header },
        ES_OPT_SNAPSHOT_ONLY(&l->snaponly),
    };
    const struct es_cmdline cl = { "ls", ls_usage, opts, ES_NOPTS(opts), 1,
                                   "wants exactly one DIR" };
    int rc = es_command_line(l->cli, &cl, argc, argv);

    l->sort = (enum sort_by)sort;
    return rc;
}

int
es_cmd_ls(const struct es_cli *cli, int argc, char **argv)
{
    struct ls l = { .cli = cli, .header = true };
    char err[SNAPFMT_ERR_MAX];
    const char *prefix = NULL;
    struct es_snap s;
    int rc;

    rc = ls_options(&l, argc, argv, &prefix);
    if (rc >= 0) {
        return rc;
    }
    if (es_snap_open(&s, cli, argv[optind],
                     l.snaponly ? ES_JOURNAL_NONE : ES_JOURNAL_APPLY) !=
        ES_EXIT_OK) {
        return ES_EXIT_USAGE;
    }
    if (l.header) {
        fprintf(cli->out, "%10s %10s %10s %20s  %s\n", "SIZE", "FLAGS", "TTL",
                "CAS", "KEY");
    }
    l.own_keys = s.blocks;
    rc = es_walk(&s, prefix, prefix ? strlen(prefix) : 0, ls_rec, &l, err,
                 sizeof(err));
    if (rc < 0) {
        es_warn_walk(cli, "ls", err);
    } else if (l.oom) {
        es_warn(cli, "ls", "out of memory sorting %zu records: use --limit",
                l.n);
    } else if (l.sort != SORT_KEY || l.own_keys) {
        print_sorted(&l);
    }
    for (size_t i = 0; l.own_keys && i < l.n; i++) {
        free((void *)l.v[i].key);
    }
    free(l.v);
    es_snap_release(&s);
    if (rc < 0 || l.oom) {
        return ES_EXIT_USAGE;
    }
    return l.bad > 0 ? ES_EXIT_PROBLEMS : ES_EXIT_OK;
}
