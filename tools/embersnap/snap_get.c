/*
 * snap_get.c -- `embersnap get KEY DIR`: the value exactly as a client
 * would get it after a restart (the snapshot's record, verified against
 * its checksum, or the journal's newer one), or with --meta its header.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_opts.h"

#include <string.h>
#include <time.h>

static const char get_usage[] =
    "usage: embersnap get [--meta] [--expired] [--snapshot-only] KEY DIR\n"
    "\n"
    "Writes the value of KEY to standard output, byte for byte, as a\n"
    "client would get it. An expired record counts as missing.\n"
    "\n"
    "  --meta      print the record's header instead of the value\n"
    "  --expired   return the record even if it has expired\n"
    "  -h, --help  this text\n"
    ES_JOURNAL_HELP
    "\n"
    "exit status: 0 found, 1 missing or expired, 2 bad usage, unreadable\n"
    "snapshot or journal, or a record that fails its checks.\n";

static const char *
codec_name(unsigned codec)
{
    switch (codec) {
    case SNAPFMT_RAW: return "raw";
    case SNAPFMT_ZSTD: return "zstd";
    case SNAPFMT_ZSTD_DICT: return "zstd+dict";
    default: return "unknown";
    }
}

/* enum snapfmt_rflag, bit by bit */
static const char *const rflag_names[] = {
    "fetched", "stale", "won", "key-binary", "cas-explicit",
};

static void
print_meta(const struct es_cli *cli, const struct es_rec *rec)
{
    const struct snapfmt_rec *r = &rec->r;
    char kbuf[ES_KEY_TEXT_MAX], tbuf[24];

    snapfmt_key_print(rec->key, rec->nkey, kbuf, sizeof(kbuf));
    fprintf(cli->out,
            "key:       %s\n"
            "size:      %u\n"
            "flags:     %u\n"
            "exptime:   %u\n"
            "ttl:       %s\n"
            "cas:       %llu\n"
            "atime:     %u\n"
            "codec:     %s\n"
            "dict:      %u\n"
            "stored:    %zu\n"
            "version:   %u\n",
            kbuf, (unsigned)r->raw_len, (unsigned)r->flags,
            (unsigned)r->exptime,
            es_ttl_text(r->exptime, cli->now, tbuf, sizeof(tbuf)),
            (unsigned long long)r->cas, (unsigned)r->atime,
            codec_name(r->codec), (unsigned)r->dict_id, rec->nrec,
            r->version);
    fprintf(cli->out, "state:    ");
    for (unsigned i = 0; i < sizeof(rflag_names) / sizeof(rflag_names[0]);
         i++) {
        if (r->rflags & (1u << i)) {
            fprintf(cli->out, " %s", rflag_names[i]);
        }
    }
    fprintf(cli->out, "%s\n", r->rflags == 0 ? " -" : "");
    if (rec->jseq == 0) {
        fprintf(cli->out, "source:    snapshot\n");
    } else {
        fprintf(cli->out, "source:    %s, journal seq %llu\n",
                rec->value != NULL ? "journal record"
                                   : "snapshot record changed in the journal",
                (unsigned long long)rec->jseq);
    }
}

/* Look KEY up and print it; S is open. */
static int
get_key(const struct es_cli *cli, struct es_snap *s, const char *key,
        bool meta, bool expired)
{
    const unsigned char *val;
    char err[SNAPFMT_ERR_MAX];
    struct es_rec rec;
    int rc;

    rc = es_lookup(s, key, strlen(key), &rec, err, sizeof(err));
    if (rc == SNAPFMT_END) {
        es_warn(cli, "get", "%s: %s", key, rec.msg);
        return ES_EXIT_PROBLEMS;
    }
    if (rc != SNAPFMT_OK) {
        es_warn(cli, "get", "%s", err);
        return ES_EXIT_USAGE;
    }
    if (rec.parse_rc != SNAPFMT_OK) {
        es_warn(cli, "get", "%s", rec.msg);
        return ES_EXIT_USAGE;
    }
    if (!expired && es_expired(rec.r.exptime, cli->now)) {
        es_warn(cli, "get", "%s: expired %lld s ago (--expired shows it)",
                key, (long long)(cli->now - (int64_t)rec.r.exptime));
        return ES_EXIT_PROBLEMS;
    }
    if (meta) {
        print_meta(cli, &rec);
        return ES_EXIT_OK;
    }
    rc = es_snap_value(s, &rec, &val, rec.msg, sizeof(rec.msg));
    if (rc != SNAPFMT_OK) {
        es_warn(cli, "get", "%s", rec.msg);
        return ES_EXIT_USAGE;
    }
    fwrite(val, 1, rec.r.raw_len, cli->out);
    return ES_EXIT_OK;
}

int
es_cmd_get(const struct es_cli *cli, int argc, char **argv)
{
    bool meta = false, expired = false, snaponly = false;
    const struct es_opt opts[] = {
        { .name = "meta", .val = 'm', .kind = ES_OPT_TRUE, .dst = &meta },
        { .name = "expired", .val = 'e', .kind = ES_OPT_TRUE, .dst = &expired },
        ES_OPT_SNAPSHOT_ONLY(&snaponly),
    };
    const struct es_cmdline cl = { "get", get_usage, opts, ES_NOPTS(opts), 2,
                                   "wants KEY and DIR" };
    struct es_snap s;
    int rc;

    rc = es_command_line(cli, &cl, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    if (argv[optind][0] == '\0') {
        return es_usage_error(cli, "get", "empty KEY");
    }
    if (es_snap_open(&s, cli, argv[optind + 1],
                     snaponly ? ES_JOURNAL_NONE : ES_JOURNAL_APPLY) !=
        ES_EXIT_OK) {
        return ES_EXIT_USAGE;
    }
    rc = get_key(cli, &s, argv[optind], meta, expired);
    es_snap_release(&s);
    return rc;
}
