/*
 * snap_info.c -- `embersnap info`: meta, live and expired counts, raw and
 * stored bytes, compression overall and per codec / dictionary, CAS
 * high-water mark, LMDB map size and use, and the journal beside the
 * snapshot (segments, records, seq range, torn tails, damage). One pass
 * over record headers and one over the journal's.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_journal.h"
#include "tools/embersnap/snap_opts.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_GROUPS 64     /* raw, zstd, missing dict, then dictionaries */

/* Records of one codec (or one dictionary). */
struct group {
    const char *codec;    /* "raw", "zstd", "dict", "missing-dict" */
    uint32_t dict_id;
    size_t dict_bytes;
    uint64_t records;
    uint64_t raw;         /* value bytes */
    uint64_t payload;     /* stored value bytes */
};

struct info {
    uint64_t records, live, expired, unreadable;
    uint64_t key_bytes, raw, payload, rec_bytes;
    uint64_t cas_max;
    struct group g[MAX_GROUPS];
    unsigned ng;
    int64_t now;
};

static const char info_usage[] =
    "usage: embersnap info [--json] DIR\n"
    "\n"
    "What the snapshot holds: format and writer version, time and age of\n"
    "the last committed snapshot, item count (live and already expired),\n"
    "raw and stored bytes, the value compression ratio (raw values over\n"
    "their compressed payloads) overall and per codec and dictionary, the\n"
    "raw/stored ratio (keys + raw values over keys + records as stored:\n"
    "emberd's stats snapshot_raw_to_stored_ratio), CAS high-water mark,\n"
    "LMDB map size and use. Reads every\n"
    "record header once (values are not decompressed: see verify).\n"
    "Then the journal: the meta journal_seq (changes up to it are in the\n"
    "snapshot) and flush_pending, and per segment its size, records (and\n"
    "how many are above journal_seq: a restart replays those), seq range,\n"
    "torn tail (from the first bad byte past what a SYNCED note says was\n"
    "on disk: a write cut by a crash, or pages a power cut lost; a start\n"
    "cuts it and drops the good records after it) or damage.\n"
    "\n"
    "  --json      one JSON object instead of text\n"
    "  -h, --help  this text\n";

static struct group *
group_for(struct info *in, const struct es_snap *s, const struct snapfmt_rec *r)
{
    const char *codec = r->codec == SNAPFMT_RAW    ? "raw"
                        : r->codec == SNAPFMT_ZSTD ? "zstd"
                        : snapfmt_dicts_get(s->dicts, r->dict_id) != NULL
                            ? "dict"
                            : "missing-dict";
    uint32_t id = r->codec == SNAPFMT_ZSTD_DICT ? r->dict_id : 0;

    for (unsigned i = 0; i < in->ng; i++) {
        if (in->g[i].dict_id == id && strcmp(in->g[i].codec, codec) == 0) {
            return &in->g[i];
        }
    }
    if (in->ng == MAX_GROUPS) {
        return &in->g[MAX_GROUPS - 1];   /* absurd: lump the rest */
    }
    in->g[in->ng].codec = codec;
    in->g[in->ng].dict_id = id;
    return &in->g[in->ng++];
}

static int
info_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct info *in = arg;
    struct group *g;
    const struct snapfmt_dict *d;

    in->records++;
    in->key_bytes += rec->nkey;
    in->rec_bytes += rec->nrec;
    if (rec->parse_rc != SNAPFMT_OK) {
        in->unreadable++;
        return 0;
    }
    if (es_expired(rec->r.exptime, in->now)) {
        in->expired++;
    } else {
        in->live++;
    }
    in->raw += rec->r.raw_len;
    in->payload += rec->r.payload_len;
    /* as meta cas_max: a client's CAS (ms E) is no counter value */
    if (!(rec->r.rflags & SNAPFMT_RF_CAS_EXPLICIT) &&
        rec->r.cas > in->cas_max) {
        in->cas_max = rec->r.cas;
    }
    g = group_for(in, s, &rec->r);
    if (g->dict_bytes == 0 && g->dict_id != 0 &&
        (d = snapfmt_dicts_get(s->dicts, g->dict_id)) != NULL) {
        snapfmt_dict_data(d, &g->dict_bytes);
    }
    g->records++;
    g->raw += rec->r.raw_len;
    g->payload += rec->r.payload_len;
    return 0;
}

static double
ratio(uint64_t raw, uint64_t stored)
{
    return stored == 0 ? 1.0 : (double)raw / (double)stored;
}

static void
text_groups(FILE *f, const struct info *in)
{
    char name[32];

    for (unsigned i = 0; i < in->ng; i++) {
        const struct group *g = &in->g[i];

        snprintf(name, sizeof(name), "%s %u", g->codec, (unsigned)g->dict_id);
        fprintf(f, "  %-14s %llu records, %llu -> %llu bytes, %.2fx",
                g->dict_id ? name : g->codec, (unsigned long long)g->records,
                (unsigned long long)g->raw, (unsigned long long)g->payload,
                ratio(g->raw, g->payload));
        if (g->dict_bytes > 0) {
            fprintf(f, " (dictionary of %zu bytes)", g->dict_bytes);
        }
        fputc('\n', f);
    }
}

/* Stale reader slots pin old pages: emberd's file then only grows. */
static void
text_readers(FILE *f, const struct es_snap *s)
{
    struct snapfmt_readers rd;

    if (snapfmt_env_readers(s->env, &rd) != SNAPFMT_OK) {
        return;
    }
    fprintf(f, "lmdb readers:  %u active (this one included)", rd.active);
    if (rd.stale > 0) {
        fprintf(f, ", %u STALE: dead pid %d pins transaction %llu, so the "
                "writer cannot reuse pages freed since (clear: mdb_stat "
                "-rr %s)", rd.stale, rd.stale_pid,
                (unsigned long long)rd.stale_txn, s->dir);
    }
    fputc('\n', f);
}

static void
text_lmdb(FILE *f, const struct es_snap *s, uint64_t used, uint64_t mapsize,
          uint64_t fsize)
{
    struct snapfmt_db_stats db;
    char b1[32], b2[32], b3[32];

    fprintf(f, "lmdb map:      %s used of %s (%.1f%%), data.mdb %s\n",
            es_human_bytes(used, b1, sizeof(b1)),
            es_human_bytes(mapsize, b2, sizeof(b2)),
            mapsize ? 100.0 * (double)used / (double)mapsize : 0.0,
            es_human_bytes(fsize, b3, sizeof(b3)));
    if (snapfmt_db_stats(s->txn, SNAPFMT_DB_ITEMS, &db) == SNAPFMT_OK) {
        fprintf(f, "lmdb items:    %llu entries, depth %u, %llu branch + "
                "%llu leaf + %llu overflow pages of %u bytes\n",
                (unsigned long long)db.entries, db.depth,
                (unsigned long long)db.branch_pages,
                (unsigned long long)db.leaf_pages,
                (unsigned long long)db.overflow_pages, db.page_size);
    }
    text_readers(f, s);
}

/* One segment's line: what it holds, or why it cannot be read. */
static void
text_segment(FILE *f, const struct es_snap *s, const struct es_jseg *sg)
{
    char path[4200];

    snapfmt_jseg_path(s->dir, sg->segno, path, sizeof(path));
    fprintf(f, "  %s: %llu bytes", path, (unsigned long long)sg->bytes);
    if (sg->vanished) {
        fprintf(f, ", removed while read (retired by a snapshot)\n");
        return;
    }
    if (sg->rc != SNAPFMT_OK) {
        fprintf(f, ", DAMAGED: %s\n", sg->msg);
        return;
    }
    fprintf(f, ", %llu records (%llu above journal_seq)",
            (unsigned long long)sg->scan.records,
            (unsigned long long)sg->above);
    if (sg->scan.max_seq > 0) {
        fprintf(f, ", seq %llu..%llu", (unsigned long long)sg->scan.min_seq,
                (unsigned long long)sg->scan.max_seq);
    }
    if (sg->scan.torn_bytes > 0) {
        fprintf(f, ", torn tail of %llu bytes at offset %llu",
                (unsigned long long)sg->scan.torn_bytes,
                (unsigned long long)(sg->bytes - sg->scan.torn_bytes));
    }
    if (sg->scan.dropped > 0) {
        fprintf(f, " (%llu good records after it dropped)",
                (unsigned long long)sg->scan.dropped);
    }
    fputc('\n', f);
}

static void
text_journal(FILE *f, const struct es_snap *s, int64_t now)
{
    const struct es_journal *j = s->jrn;
    uint64_t fp = s->meta.flush_pending;
    char b1[32];

    fprintf(f, "journal seq:   %llu (changes up to it are in the snapshot)\n"
            "flush pending: ", (unsigned long long)s->meta.journal_seq);
    if (fp == 0) {
        fprintf(f, "none\n");
    } else if ((int64_t)fp > now) {
        fprintf(f, "flush_all at %llu (in %lld s)\n", (unsigned long long)fp,
                (long long)((int64_t)fp - now));
    } else {
        fprintf(f, "flush_all at %llu (due %lld s ago: a start flushes "
                "everything)\n", (unsigned long long)fp,
                (long long)(now - (int64_t)fp));
    }
    if (j->nsegs == 0) {
        fprintf(f, "journal:       none\n");
        return;
    }
    fprintf(f, "journal:       %zu segment%s, %s, %llu records (%llu above "
            "journal_seq)", j->nsegs, j->nsegs == 1 ? "" : "s",
            es_human_bytes(j->bytes, b1, sizeof(b1)),
            (unsigned long long)j->records, (unsigned long long)j->above);
    if (j->max_seq > 0) {
        fprintf(f, ", seq %llu..%llu", (unsigned long long)j->min_seq,
                (unsigned long long)j->max_seq);
    }
    fprintf(f, ", %llu torn bytes", (unsigned long long)j->torn);
    if (j->dropped > 0) {
        fprintf(f, " (%llu records after them dropped)",
                (unsigned long long)j->dropped);
    }
    if (j->damaged > 0) {
        fprintf(f, ", %u DAMAGED (run verify)", j->damaged);
    }
    fputc('\n', f);
    for (size_t i = 0; i < j->nsegs; i++) {
        text_segment(f, s, &j->segs[i]);
    }
}

static void
json_journal(FILE *f, const struct es_snap *s)
{
    const struct es_journal *j = s->jrn;
    char path[4200];

    fprintf(f, ",\"journal_seq\":%llu,\"flush_pending\":%llu,\"journal\":"
            "{\"segments\":%zu,\"bytes\":%llu,\"records\":%llu,"
            "\"records_above\":%llu,\"oldest_seq\":%llu,\"newest_seq\":%llu,"
            "\"torn_bytes\":%llu,\"dropped\":%llu,\"damaged\":%u,"
            "\"files\":[",
            (unsigned long long)s->meta.journal_seq,
            (unsigned long long)s->meta.flush_pending, j->nsegs,
            (unsigned long long)j->bytes, (unsigned long long)j->records,
            (unsigned long long)j->above, (unsigned long long)j->min_seq,
            (unsigned long long)j->max_seq, (unsigned long long)j->torn,
            (unsigned long long)j->dropped, j->damaged);
    for (size_t i = 0; i < j->nsegs; i++) {
        const struct es_jseg *sg = &j->segs[i];

        snapfmt_jseg_path(s->dir, sg->segno, path, sizeof(path));
        fprintf(f, "%s{\"path\":", i ? "," : "");
        es_json_str(f, path, strlen(path));
        fprintf(f, ",\"segno\":%llu,\"bytes\":%llu,\"records\":%llu,"
                "\"above\":%llu,\"oldest_seq\":%llu,\"newest_seq\":%llu,"
                "\"torn_bytes\":%llu,\"dropped\":%llu,\"synced\":%llu,"
                "\"vanished\":%s,\"error\":",
                (unsigned long long)sg->segno, (unsigned long long)sg->bytes,
                (unsigned long long)sg->scan.records,
                (unsigned long long)sg->above,
                (unsigned long long)sg->scan.min_seq,
                (unsigned long long)sg->scan.max_seq,
                (unsigned long long)sg->scan.torn_bytes,
                (unsigned long long)sg->scan.dropped,
                (unsigned long long)sg->scan.synced,
                sg->vanished ? "true" : "false");
        if (sg->rc == SNAPFMT_OK) {
            fputs("null}", f);
        } else {
            es_json_str(f, sg->msg, strlen(sg->msg));
            fputc('}', f);
        }
    }
    fputs("]}", f);
}

static void
info_text(FILE *f, const struct es_snap *s, const struct info *in,
          uint64_t used, uint64_t mapsize, uint64_t fsize)
{
    const struct snapfmt_meta *m = &s->meta;
    char b1[32], when[64];
    time_t t = (time_t)m->last_commit;
    struct tm tm;

    if (m->last_commit == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(when, sizeof(when), "never");
    } else {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    fprintf(f, "snapshot:      %s\n", s->dir);
    fprintf(f, "format:        %u (written by %s)\n", m->format_version,
            m->writer_version[0] ? m->writer_version : "unknown");
    fprintf(f, "sequence:      %llu\n", (unsigned long long)m->sequence);
    fprintf(f, "last commit:   %s", when);
    if (m->last_commit != 0) {
        fprintf(f, " (%lld s ago)",
                (long long)(in->now - (int64_t)m->last_commit));
    }
    fprintf(f, "\nitems:         %llu (meta %llu): %llu live, %llu expired",
            (unsigned long long)in->records, (unsigned long long)m->items,
            (unsigned long long)in->live, (unsigned long long)in->expired);
    if (in->unreadable > 0) {
        fprintf(f, ", %llu unreadable (run verify)",
                (unsigned long long)in->unreadable);
    }
    fprintf(f, "\nraw bytes:     %llu (%s) keys + values\n",
            (unsigned long long)(in->key_bytes + in->raw),
            es_human_bytes(in->key_bytes + in->raw, b1, sizeof(b1)));
    fprintf(f, "stored bytes:  %llu (%s) keys + records\n",
            (unsigned long long)(in->key_bytes + in->rec_bytes),
            es_human_bytes(in->key_bytes + in->rec_bytes, b1, sizeof(b1)));
    /* two ratios, each named: the values alone, and everything stored
     * (emberd's stats snapshot_raw_to_stored_ratio) */
    fprintf(f, "value ratio:   %.2fx (raw values / their compressed "
            "payloads: %llu -> %llu bytes)\n", ratio(in->raw, in->payload),
            (unsigned long long)in->raw, (unsigned long long)in->payload);
    fprintf(f, "raw/stored:    %.2fx (keys + raw values / keys + "
            "records as stored; emberd's snapshot_raw_to_stored_ratio)\n",
            ratio(in->key_bytes + in->raw, in->key_bytes + in->rec_bytes));
    text_groups(f, in);
    fprintf(f, "dictionaries:  %u", snapfmt_dicts_count(s->dicts));
    if (m->dict_id != 0) {
        fprintf(f, ", new records use %u", (unsigned)m->dict_id);
    }
    fprintf(f, "%s%s\n", s->dict_err[0] ? "; damaged: " : "", s->dict_err);
    fprintf(f, "cas:           max %llu (meta %llu), reserved %llu\n",
            (unsigned long long)in->cas_max, (unsigned long long)m->cas_max,
            (unsigned long long)m->cas_reserved);
    text_lmdb(f, s, used, mapsize, fsize);
    text_journal(f, s, in->now);
}

static void
info_json(FILE *f, const struct es_snap *s, const struct info *in,
          uint64_t used, uint64_t mapsize, uint64_t fsize)
{
    struct snapfmt_readers rd;
    const struct snapfmt_meta *m = &s->meta;

    fprintf(f, "{\"dir\":");
    es_json_str(f, s->dir, strlen(s->dir));
    fprintf(f, ",\"format_version\":%u,\"writer_version\":",
            m->format_version);
    es_json_str(f, m->writer_version, strlen(m->writer_version));
    fprintf(f, ",\"sequence\":%llu,\"last_commit\":%llu,\"age\":%lld,"
            "\"meta_items\":%llu,\"records\":%llu,\"live\":%llu,"
            "\"expired\":%llu,\"unreadable\":%llu,\"raw_bytes\":%llu,"
            "\"stored_bytes\":%llu,\"meta_bytes\":%llu,"
            "\"meta_stored_bytes\":%llu,\"value_ratio\":%.4f,"
            "\"raw_to_stored_ratio\":%.4f,"
            "\"cas_max\":%llu,\"meta_cas_max\":%llu,\"cas_reserved\":%llu,"
            "\"dictionaries\":%u,\"dict_error\":",
            (unsigned long long)m->sequence,
            (unsigned long long)m->last_commit,
            m->last_commit ? (long long)(in->now - (int64_t)m->last_commit)
                           : -1LL,
            (unsigned long long)m->items, (unsigned long long)in->records,
            (unsigned long long)in->live, (unsigned long long)in->expired,
            (unsigned long long)in->unreadable,
            (unsigned long long)(in->key_bytes + in->raw),
            (unsigned long long)(in->key_bytes + in->rec_bytes),
            (unsigned long long)m->bytes, (unsigned long long)m->stored_bytes,
            ratio(in->raw, in->payload),
            ratio(in->key_bytes + in->raw, in->key_bytes + in->rec_bytes),
            (unsigned long long)in->cas_max,
            (unsigned long long)m->cas_max,
            (unsigned long long)m->cas_reserved,
            snapfmt_dicts_count(s->dicts));
    es_json_str(f, s->dict_err, strlen(s->dict_err));
    if (snapfmt_env_readers(s->env, &rd) != SNAPFMT_OK) {
        memset(&rd, 0, sizeof(rd));
    }
    fprintf(f, ",\"map_used\":%llu,\"map_size\":%llu,\"file_size\":%llu,"
            "\"readers_active\":%u,\"readers_stale\":%u,\"codecs\":[",
            (unsigned long long)used, (unsigned long long)mapsize,
            (unsigned long long)fsize, rd.active, rd.stale);
    for (unsigned i = 0; i < in->ng; i++) {
        fprintf(f, "%s{\"codec\":\"%s\",\"dict_id\":%u,\"dict_bytes\":%zu,"
                "\"records\":%llu,\"raw\":%llu,\"stored\":%llu}",
                i ? "," : "", in->g[i].codec, (unsigned)in->g[i].dict_id,
                in->g[i].dict_bytes, (unsigned long long)in->g[i].records,
                (unsigned long long)in->g[i].raw,
                (unsigned long long)in->g[i].payload);
    }
    fputc(']', f);
    json_journal(f, s);
    fprintf(f, "}\n");
}

int
es_cmd_info(const struct es_cli *cli, int argc, char **argv)
{
    bool json = false;
    const struct es_opt opts[] = {
        { .name = "json", .val = 'j', .kind = ES_OPT_TRUE, .dst = &json },
    };
    const struct es_cmdline cl = { "info", info_usage, opts, ES_NOPTS(opts), 1,
                                   "wants exactly one DIR" };
    char path[4200], err[SNAPFMT_ERR_MAX];
    struct es_snap s;
    struct info *in;
    uint64_t used, mapsize;
    struct stat st;
    int rc;

    rc = es_command_line(cli, &cl, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    if (es_snap_open(&s, cli, argv[optind], ES_JOURNAL_SCAN) != ES_EXIT_OK) {
        return ES_EXIT_USAGE;
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        es_snap_release(&s);
        es_warn(cli, "info", "out of memory");
        return ES_EXIT_USAGE;
    }
    in->now = cli->now;
    rc = es_walk(&s, NULL, 0, info_rec, in, err, sizeof(err));
    if (rc == 0) {
        snapfmt_env_sizes(s.env, &used, &mapsize);
        snprintf(path, sizeof(path), "%s/data.mdb", s.dir);
        (json ? info_json : info_text)(cli->out, &s, in, used, mapsize,
                                       stat(path, &st) == 0 ? (uint64_t)
                                       st.st_size : 0);
    } else {
        es_warn_walk(cli, "info", err);
    }
    free(in);
    es_snap_release(&s);
    return rc == 0 ? ES_EXIT_OK : ES_EXIT_USAGE;
}
