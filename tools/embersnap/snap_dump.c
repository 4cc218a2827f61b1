/*
 * snap_dump.c -- `embersnap dump`: every live record as JSON lines, or as
 * memcached text-protocol `set` commands that nc or any client can replay
 * into memcached or emberd. Streams in constant memory.
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_opts.h"

#include <string.h>

struct dump {
    const struct es_cli *cli;
    bool memcached;       /* --format=memcached */
    bool text;            /* --text: printable values as JSON strings */
    bool expired;         /* JSON only: include expired records */
    bool snaponly;        /* --snapshot-only */
    uint64_t written, skipped_expired, problems;
};

static const char dump_usage[] =
    "usage: embersnap dump [OPTIONS] DIR\n"
    "\n"
    "Writes every live record, in key order:\n"
    "  json       one object per line: key, flags, exptime (absolute unix\n"
    "             seconds, 0 = never), cas, value (base64). A key that is\n"
    "             not UTF-8 is given as key_base64 instead.\n"
    "  memcached  `set KEY FLAGS EXPTIME BYTES` + value per record, to\n"
    "             replay with nc or any client. EXPTIME is the time left\n"
    "             when at most 30 days, else the absolute unix time (as\n"
    "             memcached reads it); never-expiring items get 0. A key\n"
    "             the text protocol cannot carry (spaces, control bytes:\n"
    "             stored through the meta protocol's base64 keys) is sent\n"
    "             as `ms BASE64KEY BYTES b F<flags> T<exptime>`.\n"
    "\n"
    "  --format=json|memcached  output format (default json)\n"
    "  --text        json: give printable UTF-8 values as \"text\" strings\n"
    "  --expired     json: include records that have already expired\n"
    "  --prefix=P    only keys starting with P\n"
    "  -h, --help    this text\n"
    ES_JOURNAL_HELP
    "\n"
    "Records that cannot be written (corrupt, or a key longer than 250\n"
    "bytes) are reported on stderr and skipped; the exit status is then 1.\n";

int
es_replay_prepare(struct es_snap *s, const struct es_cli *cli,
                  struct es_rec *rec, const unsigned char **val,
                  int64_t *exptime, char *msg, size_t msglen)
{
    char kbuf[80];            /* as format.c names keys: MSG is short */

    if (rec->parse_rc != SNAPFMT_OK) {
        snprintf(msg, msglen, "%s", rec->msg);
        return -1;
    }
    *exptime = es_wire_exptime(rec->r.exptime, cli->now);
    if (*exptime < 0) {
        return 1;
    }
    if (!es_key_len_ok(rec->nkey)) {
        snapfmt_key_print(rec->key, rec->nkey, kbuf, sizeof(kbuf));
        snprintf(msg, msglen, "record '%s': a key of %zu bytes is longer "
                 "than memcached allows (%d)", kbuf, rec->nkey,
                 ES_MEMCACHED_KEY_MAX);
        return -1;
    }
    if (es_snap_value(s, rec, val, msg, msglen) != SNAPFMT_OK) {
        return -1;
    }
    return 0;
}

size_t
es_replay_head(const struct es_rec *rec, int64_t exptime, char *head)
{
    size_t n;

    if (es_key_ok(rec->key, rec->nkey)) {
        memcpy(head, "set ", 4);
        memcpy(head + 4, rec->key, rec->nkey);
        n = 4 + rec->nkey;
        n += (size_t)snprintf(head + n, ES_REPLAY_HEAD_MAX - n,
                              " %u %lld %u\r\n", (unsigned)rec->r.flags,
                              (long long)exptime, (unsigned)rec->r.raw_len);
        return n;
    }
    /* 250 key bytes take 336 in base64: the head still fits */
    memcpy(head, "ms ", 3);
    n = 3 + es_base64_buf(rec->key, rec->nkey, head + 3);
    n += (size_t)snprintf(head + n, ES_REPLAY_HEAD_MAX - n,
                          " %u b F%u T%lld\r\n", (unsigned)rec->r.raw_len,
                          (unsigned)rec->r.flags, (long long)exptime);
    return n;
}

static void
json_line(struct dump *d, const struct es_rec *rec, const unsigned char *val)
{
    FILE *f = d->cli->out;

    if (es_utf8_ok(rec->key, rec->nkey)) {
        fputs("{\"key\":", f);
        es_json_str(f, rec->key, rec->nkey);
    } else {
        fputs("{\"key_base64\":\"", f);
        es_base64(f, rec->key, rec->nkey);
        fputc('"', f);
    }
    fprintf(f, ",\"flags\":%u,\"exptime\":%u,\"cas\":%llu,",
            (unsigned)rec->r.flags, (unsigned)rec->r.exptime,
            (unsigned long long)rec->r.cas);
    if (d->text && es_text_ok(val, rec->r.raw_len)) {
        fputs("\"text\":", f);
        es_json_str(f, val, rec->r.raw_len);
    } else {
        fputs("\"value\":\"", f);
        es_base64(f, val, rec->r.raw_len);
        fputc('"', f);
    }
    fputs("}\n", f);
}

static int
dump_json(struct es_snap *s, struct dump *d, struct es_rec *rec)
{
    const unsigned char *val;

    if (rec->parse_rc != SNAPFMT_OK) {
        es_warn(d->cli, "dump", "%s", rec->msg);
        d->problems++;
        return 0;
    }
    if (!d->expired && es_expired(rec->r.exptime, d->cli->now)) {
        d->skipped_expired++;
        return 0;
    }
    if (es_snap_value(s, rec, &val, rec->msg, sizeof(rec->msg)) !=
        SNAPFMT_OK) {
        es_warn(d->cli, "dump", "%s", rec->msg);
        d->problems++;
        return 0;
    }
    json_line(d, rec, val);
    d->written++;
    return 0;
}

static int
dump_rec(struct es_snap *s, struct es_rec *rec, void *arg)
{
    struct dump *d = arg;
    const unsigned char *val;
    char msg[SNAPFMT_ERR_MAX], head[ES_REPLAY_HEAD_MAX];
    int64_t exptime;
    int rc;

    if (!d->memcached) {
        return dump_json(s, d, rec);
    }
    rc = es_replay_prepare(s, d->cli, rec, &val, &exptime, msg, sizeof(msg));
    if (rc < 0) {
        es_warn(d->cli, "dump", "%s", msg);
        d->problems++;
    } else if (rc > 0) {
        d->skipped_expired++;
    } else {
        fwrite(head, 1, es_replay_head(rec, exptime, head), d->cli->out);
        fwrite(val, 1, rec->r.raw_len, d->cli->out);
        fputs("\r\n", d->cli->out);
        d->written++;
    }
    return 0;
}

static int
dump_options(struct dump *d, int argc, char **argv, const char **prefix)
{
    static const char *const formats[] = { "json", "memcached", NULL };
    int format = 0;
    const struct es_opt opts[] = {
        { .name = "format", .val = 'f', .kind = ES_OPT_WORD, .dst = &format,
          .words = formats },
        { .name = "text", .val = 't', .kind = ES_OPT_TRUE, .dst = &d->text },
        { .name = "expired", .val = 'e', .kind = ES_OPT_TRUE,
          .dst = &d->expired },
        { .name = "prefix", .val = 'p', .kind = ES_OPT_TEXT, .dst = prefix },
        ES_OPT_SNAPSHOT_ONLY(&d->snaponly),
    };
    const struct es_cmdline cl = { "dump", dump_usage, opts,
                                   ES_NOPTS(opts), 1,
                                   "wants exactly one DIR" };
    int rc = es_options(d->cli, &cl, argc, argv);

    if (rc >= 0) {
        return rc;
    }
    d->memcached = format == 1;
    if (d->memcached && (d->text || d->expired)) {
        return es_usage_error(d->cli, "dump", "--text and --expired are "
                              "for --format=json");
    }
    return es_operands(d->cli, &cl, argc);
}

int
es_cmd_dump(const struct es_cli *cli, int argc, char **argv)
{
    struct dump d = { .cli = cli };
    char err[SNAPFMT_ERR_MAX];
    const char *prefix = NULL;
    struct es_snap s;
    int rc;

    rc = dump_options(&d, argc, argv, &prefix);
    if (rc >= 0) {
        return rc;
    }
    if (es_snap_open(&s, cli, argv[optind],
                     d.snaponly ? ES_JOURNAL_NONE : ES_JOURNAL_APPLY) !=
        ES_EXIT_OK) {
        return ES_EXIT_USAGE;
    }
    rc = es_walk(&s, prefix, prefix ? strlen(prefix) : 0, dump_rec, &d, err,
                 sizeof(err));
    es_snap_release(&s);
    if (rc < 0) {
        es_warn_walk(cli, "dump", err);
        return ES_EXIT_USAGE;
    }
    if (d.problems > 0) {
        es_warn(cli, "dump", "%llu records written, %llu skipped for the "
                "problems above", (unsigned long long)d.written,
                (unsigned long long)d.problems);
        return ES_EXIT_PROBLEMS;
    }
    return ES_EXIT_OK;
}
