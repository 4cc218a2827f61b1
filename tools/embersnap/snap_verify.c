/*
 * snap_verify.c -- `embersnap verify`: every record (magic, checksum,
 * version, codec, lengths, decompression, value checksum, dictionary
 * present, memcached key rules), the dictionaries, the meta totals
 * against what the records add up to, and every journal segment (header,
 * each record's framing and checksum). Each problem is one line naming
 * its key or its file and offset; exit 1 when there is any. A torn
 * journal tail is reported but is no problem: it was never acknowledged.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_journal.h"
#include "tools/embersnap/snap_opts.h"

#include <stdarg.h>
#include <string.h>

enum kind {
    K_CORRUPT,            /* header, checksum, lengths, value */
    K_VERSION,            /* record of a newer format */
    K_NODICT,             /* dictionary missing */
    K_KEY,                /* not a valid memcached key */
    K_CAS,                /* CAS above the reserved high-water mark */
    K_META,               /* meta totals disagree with the records */
    K_DICTS,              /* the dictionary table itself */
    K_JOURNAL,            /* a damaged or unreadable journal segment */
    K_COUNT
};

static const char *const kind_name[K_COUNT] = {
    "corrupt", "version", "missing-dict", "bad-key", "cas", "meta", "dicts",
    "journal",
};

struct verify {
    const struct es_cli *cli;
    bool quiet;
    uint64_t records, live, expired, readable;
    uint64_t bytes, stored, cas_max;
    uint64_t blocks, items, base_records;   /* format 3 */
    bool merged;              /* format 3: the runs merged, items counted */
    uint64_t problems[K_COUNT];
    uint64_t skipped;         /* records a salvage load skips (format 2) */
    uint64_t live_skipped;    /* ... of them counted live */
    char first_why[SNAPFMT_ERR_MAX]; /* the first damaged record's */
};

static const char verify_usage[] =
    "usage: embersnap verify [-q] DIR\n"
    "\n"
    "Checks every record: header, format version, record checksum (header,\n"
    "key, payload), codec and lengths, decompression, value checksum, that\n"
    "its dictionary is present, and memcached's key length; then the meta\n"
    "totals (items, bytes, stored_bytes, cas_max) against the records.\n"
    "Format 3: every block of the snapshot's runs (framing, block checksum,\n"
    "decompression, raw checksum, every record's fields and order) and its\n"
    "records as above, counted as stored (a key a newer run replaced or\n"
    "deleted counts in each run) against meta blocks, records,\n"
    "base_records and stored_bytes; then, when every block was sound, the\n"
    "runs merged as a warm restart loads them (live and expired items)\n"
    "against meta items and bytes.\n"
    "Then every journal segment (DIR/journal-*.ejl): its header and each\n"
    "record's framing and checksum. A bad record in bytes that a SYNCED\n"
    "note says were on disk is damage (a problem, named by file and\n"
    "offset); one past them is a torn tail, a write the crash interrupted\n"
    "or pages a power cut lost: reported as \"torn:\", not a problem, and\n"
    "cut at the next start with any good records after it.\n"
    "Prints each problem on one line with its key or file, then a summary,\n"
    "then what a start would keep under each --snapshot-on-corrupt policy\n"
    "(fail: refuses; cold: 0 items; salvage: the live items of the records\n"
    "and blocks that verify, without the hash ranges a damaged block may\n"
    "have superseded, as emberd's salvage load counts them).\n"
    "\n"
    "  -q, --quiet  only the summary\n"
    "  -h, --help   this text\n"
    "\n"
    "exit status: 0 sound, 1 problems found, 2 bad usage or unreadable\n"
    "snapshot.\n";

static void
problem(struct verify *v, enum kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct verify *v, enum kind k, const char *fmt, ...)
{
    va_list ap;

    v->problems[k]++;
    if (v->first_why[0] == '\0' &&
        (k == K_CORRUPT || k == K_VERSION || k == K_NODICT)) {
        va_start(ap, fmt);
        vsnprintf(v->first_why, sizeof(v->first_why), fmt, ap);
        va_end(ap);
    }
    if (v->quiet) {
        return;
    }
    fprintf(v->cli->out, "%s: ", kind_name[k]);
    va_start(ap, fmt);
    vfprintf(v->cli->out, fmt, ap);
    va_end(ap);
    fputc('\n', v->cli->out);
}

static int
verify_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct verify *v = arg;
    const unsigned char *val;
    char kbuf[ES_KEY_TEXT_MAX];
    bool explicit_cas;
    int rc;

    v->records++;
    v->stored += rec->nkey + rec->nrec;
    if (rec->parse_rc != SNAPFMT_OK) {
        problem(v, rec->parse_rc == SNAPFMT_EVERSION ? K_VERSION : K_CORRUPT,
                "%s", rec->msg);
        v->skipped++;
        return 0;
    }
    v->readable++;
    v->bytes += rec->nkey + rec->r.raw_len;
    /* a client's CAS (ms E) is no counter value: not in cas_max, and it
     * may be anything, above cas_reserved too */
    explicit_cas = (rec->r.rflags & SNAPFMT_RF_CAS_EXPLICIT) != 0;
    if (!explicit_cas && rec->r.cas > v->cas_max) {
        v->cas_max = rec->r.cas;
    }
    if (es_expired(rec->r.exptime, v->cli->now)) {
        v->expired++;
    } else {
        v->live++;
    }
    if (!es_key_len_ok(rec->nkey)) {
        snapfmt_key_print(rec->key, rec->nkey, kbuf, sizeof(kbuf));
        problem(v, K_KEY, "record '%s': key of %zu bytes, memcached keys "
                "have 1-%d", kbuf, rec->nkey, ES_MEMCACHED_KEY_MAX);
    }
    if (!explicit_cas && s->meta.cas_reserved != 0 &&
        rec->r.cas > s->meta.cas_reserved) {
        snapfmt_key_print(rec->key, rec->nkey, kbuf, sizeof(kbuf));
        problem(v, K_CAS, "record '%s': cas %llu above meta cas_reserved "
                "%llu", kbuf, (unsigned long long)rec->r.cas,
                (unsigned long long)s->meta.cas_reserved);
    }
    rc = es_snap_value(s, rec, &val, rec->msg, sizeof(rec->msg));
    if (rc == SNAPFMT_ENODICT) {
        problem(v, K_NODICT, "%s", rec->msg);
    } else if (rc != SNAPFMT_OK) {
        problem(v, K_CORRUPT, "%s", rec->msg);
    }
    if (rc != SNAPFMT_OK) {
        v->skipped++;
        v->live_skipped += !es_expired(rec->r.exptime, v->cli->now);
    }
    return 0;
}

/* ---- format 3: every block of every run, record by record ---------- */

/* The checks of one record of a block (KEY, CAS) and its counts. */
static void
verify_brec(struct verify *v, const struct es_snap *s,
            const struct snapfmt_brec *b)
{
    char kbuf[ES_KEY_TEXT_MAX];
    bool explicit_cas = (b->rflags & SNAPFMT_RF_CAS_EXPLICIT) != 0;

    v->records++;
    v->readable++;
    if (!es_key_len_ok(b->nkey)) {
        snapfmt_key_print(b->key, b->nkey, kbuf, sizeof(kbuf));
        problem(v, K_KEY, "record '%s': key of %zu bytes, memcached keys "
                "have 1-%d", kbuf, b->nkey, ES_MEMCACHED_KEY_MAX);
    }
    if (b->type == SNAPFMT_B_TOMB) {
        return;
    }
    if (!explicit_cas && b->cas > v->cas_max) {
        v->cas_max = b->cas;
    }
    if (!explicit_cas && s->meta.cas_reserved != 0 &&
        b->cas > s->meta.cas_reserved) {
        snapfmt_key_print(b->key, b->nkey, kbuf, sizeof(kbuf));
        problem(v, K_CAS, "record '%s': cas %llu above meta cas_reserved "
                "%llu", kbuf, (unsigned long long)b->cas,
                (unsigned long long)s->meta.cas_reserved);
    }
}

/* One block: framing, checksums, decoding, every record. */
static void
verify_block(struct verify *v, struct es_snap *s, const void *key,
             size_t nkey, const void *val, size_t nval, uint64_t run)
{
    struct snapfmt_block b;
    struct snapfmt_bwalk w;
    struct snapfmt_brec r;
    char msg[SNAPFMT_ERR_MAX];
    int rc;

    v->blocks++;
    v->stored += nkey + nval;
    rc = snapfmt_block_parse(key, nkey, val, nval, &b, msg, sizeof(msg));
    if (rc == SNAPFMT_OK && b.run != run) {
        rc = SNAPFMT_ECORRUPT;
        snprintf(msg, sizeof(msg), "a block of run %llu among run %llu's",
                 (unsigned long long)b.run, (unsigned long long)run);
    }
    if (rc == SNAPFMT_OK) {
        rc = es_block_decode(s, &b, msg, sizeof(msg));
    }
    if (rc == SNAPFMT_OK) {
        snapfmt_bwalk_init(&w, &b, s->lbuf);
        while ((rc = snapfmt_bwalk_next(&w, &r, msg, sizeof(msg))) ==
               SNAPFMT_OK) {
            verify_brec(v, s, &r);
            v->base_records += run == s->meta.base_run;
        }
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
    }
    if (rc != SNAPFMT_OK) {
        problem(v, rc == SNAPFMT_EVERSION ? K_VERSION : K_CORRUPT, "%s",
                msg);
    }
}

/* The snapshot as a loader sees it (each key as its newest run has it,
 * tombstones out): items, their bytes, live and expired, for meta. */
static void
verify_merged(struct verify *v, struct es_snap *s)
{
    struct snapfmt_merge_cfg cfg = {
        .txn = s->txn, .first = s->meta.base_run, .end = s->meta.run_end,
        .lo = 0, .hi = UINT64_MAX, .raw_cap = SNAPFMT_BLOCK_MAX,
    };
    struct snapfmt_merge *m = NULL;
    struct snapfmt_brec b;
    char msg[SNAPFMT_ERR_MAX];
    uint64_t run;
    int rc;

    rc = snapfmt_merge_open(&cfg, &m, msg, sizeof(msg));
    while (rc == SNAPFMT_OK &&
           (rc = snapfmt_merge_next(m, &b, &run, msg, sizeof(msg))) ==
               SNAPFMT_OK) {
        if (b.type == SNAPFMT_B_TOMB) {
            continue;
        }
        v->items++;
        v->bytes += b.nkey + b.nvalue;
        if (es_expired(b.exptime, v->cli->now)) {
            v->expired++;
        } else {
            v->live++;
        }
    }
    snapfmt_merge_close(&m);
    v->merged = rc == SNAPFMT_END;
    if (rc != SNAPFMT_END) {
        problem(v, rc == SNAPFMT_EVERSION ? K_VERSION : K_CORRUPT,
                "merging the runs: %s", msg);
    }
}

/* Every block of the snapshot's runs. <0: LMDB cannot walk (ERR). */
static int
verify_blocks(struct verify *v, struct es_snap *s, char *err,
              size_t errlen)
{
    struct snapfmt_bcur *c = NULL;
    const void *key, *val;
    size_t nkey, nval;
    int rc = SNAPFMT_OK;

    for (uint64_t run = s->meta.base_run;
         rc == SNAPFMT_OK && run < s->meta.run_end; run++) {
        rc = snapfmt_bcur_open(s->txn, run, 0, NULL, 0, &c, err, errlen);
        while (rc == SNAPFMT_OK &&
               (rc = snapfmt_bcur_next(c, &key, &nkey, &val, &nval)) ==
                   SNAPFMT_OK) {
            verify_block(v, s, key, nkey, val, nval, run);
            if ((s->stop != NULL && *s->stop) || ferror(s->out)) {
                rc = ES_WALK_STOPPED;
            }
        }
        if (rc == SNAPFMT_ECORRUPT || rc == SNAPFMT_ELMDB) {
            snprintf(err, errlen, "walking blocks: %s",
                     snapfmt_txn_error(s->txn));
        }
        rc = rc == SNAPFMT_END ? SNAPFMT_OK : rc;
        snapfmt_bcur_close(&c);
    }
    if (rc == ES_WALK_STOPPED) {
        err[0] = '\0';
    }
    if (rc == SNAPFMT_OK && v->problems[K_CORRUPT] == 0 &&
        v->problems[K_VERSION] == 0) {
        verify_merged(v, s);
    }
    return rc == SNAPFMT_OK ? 0 : (rc < 0 ? rc : -rc);
}

static void
check_total(struct verify *v, const char *name, uint64_t meta,
            uint64_t counted)
{
    if (meta != counted) {
        problem(v, K_META, "meta %s is %llu, the records add up to %llu",
                name, (unsigned long long)meta,
                (unsigned long long)counted);
    }
}

/* Meta and dictionary checks after the walk. */
static void
verify_totals(struct verify *v, const struct es_snap *s)
{
    const struct snapfmt_meta *m = &s->meta;

    if (s->dict_err[0] != '\0') {
        problem(v, K_DICTS, "%s", s->dict_err);
    }
    if (m->dict_id != 0 && snapfmt_dicts_get(s->dicts, m->dict_id) == NULL) {
        problem(v, K_DICTS, "meta dict_id %u names a dictionary that is not "
                "in dicts", (unsigned)m->dict_id);
    }
    check_total(v, "stored_bytes", m->stored_bytes, v->stored);
    if (s->blocks) {
        /* a damaged block's records are not counted: no totals then */
        check_total(v, "blocks", m->blocks, v->blocks);
        if (v->merged) {
            check_total(v, "records", m->records, v->records);
            check_total(v, "base_records", m->base_records,
                        v->base_records);
            check_total(v, "items", m->items, v->items);
            check_total(v, "bytes", m->bytes, v->bytes);
            check_total(v, "cas_max", m->cas_max, v->cas_max);
        }
    } else {
        check_total(v, "items", m->items, v->records);
        if (v->readable == v->records) {
            /* Unreadable records have no trustworthy raw length or CAS. */
            check_total(v, "bytes", m->bytes, v->bytes);
            check_total(v, "cas_max", m->cas_max, v->cas_max);
        }
    }
    if (m->cas_reserved != 0 && m->cas_max > m->cas_reserved) {
        problem(v, K_META, "meta cas_max %llu is above cas_reserved %llu",
                (unsigned long long)m->cas_max,
                (unsigned long long)m->cas_reserved);
    }
}

/* Every journal segment: damage is a problem, a torn tail a note. */
static void
verify_journal(struct verify *v, const struct es_snap *s)
{
    const struct es_journal *j = s->jrn;
    char path[4200];

    for (size_t i = 0; i < j->nsegs; i++) {
        const struct es_jseg *sg = &j->segs[i];

        if (sg->rc != SNAPFMT_OK) {
            problem(v, K_JOURNAL, "%s", sg->msg);
            continue;
        }
        if (sg->scan.torn_bytes == 0 || v->quiet) {
            continue;
        }
        snapfmt_jseg_path(s->dir, sg->segno, path, sizeof(path));
        fprintf(v->cli->out, "torn: %s: %llu bytes from offset %llu, %llu "
                "good records after them (a write the crash interrupted, or "
                "pages a power cut lost; a start cuts them)\n", path,
                (unsigned long long)sg->scan.torn_bytes,
                (unsigned long long)(sg->bytes - sg->scan.torn_bytes),
                (unsigned long long)sg->scan.dropped);
    }
}

static uint64_t
summary(const struct verify *v, const struct es_snap *s)
{
    FILE *f = v->cli->out;
    uint64_t total = 0;

    for (int k = 0; k < K_COUNT; k++) {
        total += v->problems[k];
    }
    /* format 3: the records of the snapshot, as loaded, and then how
     * many its runs store (replaced keys and tombstones included) */
    fprintf(f, "verify: %s: %llu records (%llu live, %llu expired), ",
            s->dir, (unsigned long long)(s->blocks ? v->items : v->records),
            (unsigned long long)v->live, (unsigned long long)v->expired);
    if (s->blocks) {
        fprintf(f, "%llu stored in %llu blocks of %llu runs, ",
                (unsigned long long)v->records,
                (unsigned long long)v->blocks,
                (unsigned long long)(s->meta.run_end - s->meta.base_run));
    }
    fprintf(f, "%llu problem%s", (unsigned long long)total,
            total == 1 ? "" : "s");
    for (int k = 0; k < K_COUNT; k++) {
        if (v->problems[k] > 0) {
            fprintf(f, ", %s %llu", kind_name[k],
                    (unsigned long long)v->problems[k]);
        }
    }
    fputc('\n', f);
    if (s->jrn->nsegs > 0) {
        fprintf(f, "verify: journal: %zu segment%s, %llu records (%llu "
                "above journal_seq %llu), %llu torn bytes (%llu records "
                "after them), %u damaged\n",
                s->jrn->nsegs, s->jrn->nsegs == 1 ? "" : "s",
                (unsigned long long)s->jrn->records,
                (unsigned long long)s->jrn->above,
                (unsigned long long)s->meta.journal_seq,
                (unsigned long long)s->jrn->torn,
                (unsigned long long)s->jrn->dropped, s->jrn->damaged);
    }
    return total;
}

/* ---- what each --snapshot-on-corrupt policy would keep ------------- */

/* What a salvage load keeps. */
struct keep {
    uint64_t live;            /* unexpired items loaded */
    uint64_t skipped;         /* records skipped */
    uint64_t bad_blocks;      /* format 3 */
    char why[SNAPFMT_ERR_MAX];
};

/* Format 3: the salvage scan, then the runs merged as emberd's salvage
 * load merges them. Returns a snapfmt rc: not OK, salvage goes cold. */
static int
keep_blocks(const struct verify *v, struct es_snap *s, struct keep *k)
{
    struct snapfmt_salvage *sv = NULL;
    struct snapfmt_merge *m = NULL;
    struct snapfmt_merge_stats st;
    struct snapfmt_brec b;
    uint64_t run;
    int rc;

    rc = snapfmt_salvage_scan(s->txn, &s->meta, &sv, k->why,
                              sizeof(k->why));
    if (rc == SNAPFMT_OK) {
        struct snapfmt_merge_cfg cfg = {
            .txn = s->txn, .first = s->meta.base_run,
            .end = s->meta.run_end, .lo = 0, .hi = UINT64_MAX,
            .raw_cap = SNAPFMT_BLOCK_MAX, .salvage = sv,
        };

        rc = snapfmt_merge_open(&cfg, &m, k->why, sizeof(k->why));
    }
    while (rc == SNAPFMT_OK &&
           (rc = snapfmt_merge_next(m, &b, &run, k->why, sizeof(k->why))) ==
               SNAPFMT_OK) {
        k->live += b.type != SNAPFMT_B_TOMB &&
                   !es_expired(b.exptime, v->cli->now);
    }
    if (m != NULL) {
        snapfmt_merge_stats(m, &st);
        k->skipped = sv->bad_records + st.dropped;
        k->bad_blocks = sv->bad_blocks;
        snprintf(k->why, sizeof(k->why), "%s", sv->nwhy ? sv->why[0] : "");
    }
    snapfmt_merge_close(&m);
    snapfmt_salvage_free(&sv);
    return rc == SNAPFMT_END ? SNAPFMT_OK : rc;
}

/* Damage a salvage cannot take record by record: it starts cold. */
static bool
salvage_goes_cold(const struct verify *v)
{
    return v->problems[K_META] > 0 || v->problems[K_DICTS] > 0 ||
           v->problems[K_JOURNAL] > 0;
}

/*
 * One line: what a start would do under each policy. Sound snapshot:
 * every policy loads everything. Exit codes do not change.
 */
static void
policies(const struct verify *v, struct es_snap *s, uint64_t problems)
{
    FILE *f = v->cli->out;
    struct keep k;
    uint64_t total = s->blocks ? v->items : v->records;

    memset(&k, 0, sizeof(k));
    if (problems == 0 || (v->problems[K_CORRUPT] == 0 &&
                          v->problems[K_VERSION] == 0 &&
                          v->problems[K_NODICT] == 0 &&
                          !salvage_goes_cold(v))) {
        fprintf(f, "verify: on start: every policy loads the %llu live "
                "items\n", (unsigned long long)v->live);
        return;
    }
    fprintf(f, "verify: on start: fail: refuses to start; cold: 0 items; "
            "salvage: ");
    if (salvage_goes_cold(v) ||
        (s->blocks && keep_blocks(v, s, &k) != SNAPFMT_OK)) {
        fprintf(f, "0 items (damage it cannot salvage safely%s%s: as "
                "cold)\n", k.why[0] ? ": " : "", k.why);
        return;
    }
    if (!s->blocks) {
        k.live = v->live - v->live_skipped;
        k.skipped = v->skipped;
        snprintf(k.why, sizeof(k.why), "%s", v->first_why);
    }
    if (s->blocks) {
        total = s->meta.items;
    }
    fprintf(f, "%llu live items of the %llu in meta (%llu record%s skipped",
            (unsigned long long)k.live, (unsigned long long)total,
            (unsigned long long)k.skipped, k.skipped == 1 ? "" : "s");
    if (s->blocks) {
        fprintf(f, ", %llu damaged block%s", (unsigned long long)k.bad_blocks,
                k.bad_blocks == 1 ? "" : "s");
    }
    fprintf(f, "%s%s), before the journal's changes\n",
            k.why[0] ? ": first: " : "", k.why);
}

int
es_cmd_verify(const struct es_cli *cli, int argc, char **argv)
{
    struct verify v = { .cli = cli };
    const struct es_opt opts[] = {
        { .name = "quiet", .val = 'q', .short_too = true, .kind = ES_OPT_TRUE,
          .dst = &v.quiet },
    };
    const struct es_cmdline cl = { "verify", verify_usage, opts,
                                   ES_NOPTS(opts), 1,
                                   "wants exactly one DIR" };
    char err[SNAPFMT_ERR_MAX];
    struct es_snap s;
    uint64_t total;
    int rc;

    rc = es_command_line(cli, &cl, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    if (es_snap_open(&s, cli, argv[optind], ES_JOURNAL_SCAN) != ES_EXIT_OK) {
        return ES_EXIT_USAGE;
    }
    rc = s.blocks ? verify_blocks(&v, &s, err, sizeof(err))
                  : es_walk(&s, NULL, 0, verify_rec, &v, err, sizeof(err));
    if (rc < 0) {
        /* LMDB could not walk its own tree: the file is damaged. */
        es_warn_walk(cli, "verify", err);
        es_snap_release(&s);
        return ES_EXIT_USAGE;
    }
    verify_totals(&v, &s);
    verify_journal(&v, &s);
    total = summary(&v, &s);
    policies(&v, &s, total);
    rc = total > 0 ? ES_EXIT_PROBLEMS : ES_EXIT_OK;
    es_snap_release(&s);
    return rc;
}
