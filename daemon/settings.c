/*
 * settings.c -- memcached-compatible option parsing for emberd.
 *
 * Every value is checked here, once, with a message naming the option, so
 * that a typo in a unit file fails at start with exit 64 rather than
 * running with a surprising value.
 */
#include "config.h"

#include "daemon/settings.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum long_only {
    OPT_SNAPSHOT_DIR = 256,
    OPT_SNAPSHOT_INTERVAL,
    OPT_SNAPSHOT_COMPRESSION,
    OPT_SNAPSHOT_MAX_AGE,
    OPT_SNAPSHOT_ON_CORRUPT,
};

static const char short_opts[] = "p:U:l:m:c:t:I:vdP:u:hVAFCMf:b:R:o:";

static const struct option long_opts[] = {
    { "port", required_argument, NULL, 'p' },
    { "udp-port", required_argument, NULL, 'U' },
    { "listen", required_argument, NULL, 'l' },
    { "memory-limit", required_argument, NULL, 'm' },
    { "conn-limit", required_argument, NULL, 'c' },
    { "threads", required_argument, NULL, 't' },
    { "max-item-size", required_argument, NULL, 'I' },
    { "verbose", no_argument, NULL, 'v' },
    { "daemon", no_argument, NULL, 'd' },
    { "pidfile", required_argument, NULL, 'P' },
    { "user", required_argument, NULL, 'u' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "enable-shutdown", no_argument, NULL, 'A' },
    { "disable-flush-all", no_argument, NULL, 'F' },
    { "disable-cas", no_argument, NULL, 'C' },
    { "disable-evictions", no_argument, NULL, 'M' },
    { "slab-growth-factor", required_argument, NULL, 'f' },
    { "listen-backlog", required_argument, NULL, 'b' },
    { "max-reqs-per-event", required_argument, NULL, 'R' },
    { "extended", required_argument, NULL, 'o' },
    { "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
    { "snapshot-interval", required_argument, NULL, OPT_SNAPSHOT_INTERVAL },
    { "snapshot-compression", required_argument, NULL,
      OPT_SNAPSHOT_COMPRESSION },
    { "snapshot-max-age", required_argument, NULL, OPT_SNAPSHOT_MAX_AGE },
    { "snapshot-on-corrupt", required_argument, NULL,
      OPT_SNAPSHOT_ON_CORRUPT },
    { NULL, 0, NULL, 0 },
};

/*
 * memcached -o words that only tune machinery ember does differently (or
 * not at all). They are accepted so existing configs keep working.
 */
static const char *const ignored_words[] = {
    "modern", "no_modern", "slab_reassign", "no_slab_reassign",
    "slab_automove", "slab_automove_ratio", "slab_automove_window",
    "slab_chunk_max", "lru_crawler", "no_lru_crawler", "lru_crawler_sleep",
    "lru_crawler_tocrawl", "lru_maintainer", "no_lru_maintainer",
    "hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor",
    "temporary_ttl", "tail_repair_time", "maxconns_fast", "no_maxconns_fast",
    "hash_algorithm", "watcher_logbuf_size", "worker_logbuf_size",
    "track_sizes", "no_inline_ascii_resp", "inline_ascii_resp",
    "resp_obj_mem_limit", "read_buf_mem_limit", "no_hashexpand",
    "drop_privileges", "no_drop_privileges", "lru_segmented",
    "no_lru_segmented", "slab_sizes", "bind_port_reuse",
    NULL,
};

static const char usage_text[] =
    "Usage: emberd [options]\n"
    "memcached-compatible cache daemon with warm restarts.\n"
    "\n"
    "  -p, --port=PORT            TCP port (default 11211)\n"
    "  -U, --udp-port=PORT        accepted; UDP is not served (0 = off)\n"
    "  -l, --listen=ADDR[,ADDR]   addresses to listen on (default 127.0.0.1)\n"
    "  -m, --memory-limit=MB      item memory in megabytes (default 64)\n"
    "  -c, --conn-limit=N         max simultaneous connections (default 1024)\n"
    "  -t, --threads=N            worker threads (default 4)\n"
    "  -I, --max-item-size=SIZE   largest item, k/m suffix (default 1m)\n"
    "  -f, --slab-growth-factor=F size class factor (default 1.08)\n"
    "  -b, --listen-backlog=N     listen backlog (default 1024)\n"
    "  -R, --max-reqs-per-event=N requests per connection before yielding\n"
    "                             to others (default 20)\n"
    "  -v, --verbose              log more (-vv: more still) to stderr\n"
    "  -d, --daemon               run in the background\n"
    "  -P, --pidfile=FILE         write the process id to FILE\n"
    "  -u, --user=USER            drop root privileges to USER\n"
    "  -A, --enable-shutdown      allow the 'shutdown' command\n"
    "  -F, --disable-flush-all    refuse 'flush_all'\n"
    "  -C, --disable-cas          do not use CAS values\n"
    "  -M, --disable-evictions    reply an error when full, do not evict\n"
    "  -o, --extended=OPT[,OPT]   idle_timeout=N, hashpower=N; memcached's\n"
    "                             other tuning words are accepted, ignored\n"
    "  --snapshot-dir=DIR         persist to an LMDB snapshot in DIR and\n"
    "                             reload it before serving (default: off)\n"
    "  --snapshot-interval=SECS   seconds between snapshots (default 60;\n"
    "                             0 = only on 'snapshot' and at shutdown)\n"
    "  --snapshot-compression=N   zstd level 0..19, 0 = off (default 1)\n"
    "  --snapshot-max-age=SECS    start cold (old snapshot kept aside) when\n"
    "                             the last snapshot is older (default: any)\n"
    "  --snapshot-on-corrupt=fail|cold  refuse to start on a damaged\n"
    "                             snapshot, or move it aside and start empty\n"
    "  -h, --help                 this text\n"
    "  -V, --version              print the version\n";

void
settings_default(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = 11211;
    s->listen = "127.0.0.1";
    s->max_conns = 1024;
    s->backlog = 1024;
    s->reqs_per_event = 20;
    s->threads = 4;
    s->mem_limit = (size_t)64 * 1024 * 1024;
    s->item_size_max = 1024 * 1024;
    s->growth_factor = 1.08;   /* finer than memcached's 1.25: less slack */
    s->snapshot_interval = 60;
    s->snapshot_compression = 1;
    s->snapshot_on_corrupt = SETTINGS_CORRUPT_FAIL;
}

/* Unsigned decimal in [lo, hi]; no sign, no junk, no overflow. */
static bool
parse_uint(const char *text, unsigned long long lo, unsigned long long hi,
           unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

bool
settings_parse_size(const char *text, size_t *bytes)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0) {
        return false;
    }
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
        if (end[1] != '\0') {
            return false;
        }
    }
    if (v > (SIZE_MAX >> shift)) {
        return false;
    }
    *bytes = (size_t)(v << shift);
    return true;
}

static int
bad_value(FILE *err, const char *opt, const char *value, const char *why)
{
    fprintf(err, "emberd: invalid value '%s' for %s: %s\n",
            value != NULL ? value : "", opt, why);
    return SETTINGS_EUSAGE;
}

static bool
is_ignored_word(const char *name, size_t len)
{
    size_t i;

    for (i = 0; ignored_words[i] != NULL; i++) {
        if (strlen(ignored_words[i]) == len &&
            memcmp(ignored_words[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* One NAME[=VALUE] word of -o, NUL-terminated (a copy of the argument). */
static int
parse_ext_word(struct settings *s, char *word, FILE *err)
{
    char *value = strchr(word, '=');
    unsigned long long v;
    size_t nlen;

    if (value != NULL) {
        *value++ = '\0';
    }
    nlen = strlen(word);
    if (strcmp(word, "idle_timeout") == 0) {
        if (!parse_uint(value, 0, UINT_MAX, &v)) {
            return bad_value(err, "-o idle_timeout", value,
                             "expected seconds");
        }
        s->idle_timeout = (unsigned)v;
    } else if (strcmp(word, "hashpower") == 0) {
        if (!parse_uint(value, 12, 32, &v)) {
            return bad_value(err, "-o hashpower", value,
                             "expected 12..32");
        }
        s->hash_power = (unsigned)v;
    } else if (nlen > 0 && is_ignored_word(word, nlen)) {
        s->ext_ignored++;   /* noted by main under -v, whatever the order */
    } else {
        fprintf(err, "emberd: unknown -o option '%s' (supported: "
                "idle_timeout=N, hashpower=N, and memcached's tuning "
                "words, which are ignored)\n", word);
        return SETTINGS_EUSAGE;
    }
    return SETTINGS_OK;
}

static int
parse_ext(struct settings *s, const char *arg, FILE *err)
{
    char buf[1024];
    char *save = NULL;
    char *word;
    int rc = SETTINGS_OK;

    if (strlen(arg) >= sizeof(buf)) {
        return bad_value(err, "-o", "...", "list too long");
    }
    strcpy(buf, arg);
    for (word = strtok_r(buf, ",", &save); word != NULL && rc == SETTINGS_OK;
         word = strtok_r(NULL, ",", &save)) {
        rc = parse_ext_word(s, word, err);
    }
    return rc;
}

static int
parse_snapshot_opt(struct settings *s, int opt, const char *arg, FILE *err)
{
    unsigned long long v;

    switch (opt) {
    case OPT_SNAPSHOT_DIR:
        if (*arg == '\0') {
            return bad_value(err, "--snapshot-dir", arg, "empty path");
        }
        s->snapshot_dir = arg;
        break;
    case OPT_SNAPSHOT_INTERVAL:
        if (!parse_uint(arg, 0, 86400 * 7, &v)) {
            return bad_value(err, "--snapshot-interval", arg,
                             "expected 0..604800 seconds");
        }
        s->snapshot_interval = (unsigned)v;
        break;
    case OPT_SNAPSHOT_COMPRESSION:
        if (!parse_uint(arg, 0, 19, &v)) {
            return bad_value(err, "--snapshot-compression", arg,
                             "expected a zstd level 0..19");
        }
        s->snapshot_compression = (int)v;
        break;
    case OPT_SNAPSHOT_MAX_AGE:
        if (!parse_uint(arg, 0, UINT_MAX, &v)) {
            return bad_value(err, "--snapshot-max-age", arg,
                             "expected seconds");
        }
        s->snapshot_max_age = (unsigned)v;
        break;
    default: /* OPT_SNAPSHOT_ON_CORRUPT */
        if (strcmp(arg, "fail") == 0) {
            s->snapshot_on_corrupt = SETTINGS_CORRUPT_FAIL;
        } else if (strcmp(arg, "cold") == 0) {
            s->snapshot_on_corrupt = SETTINGS_CORRUPT_COLD;
        } else {
            return bad_value(err, "--snapshot-on-corrupt", arg,
                             "expected fail or cold");
        }
        break;
    }
    return SETTINGS_OK;
}

/* -I (size with suffix) and -f (growth factor). */
static int
parse_size_opt(struct settings *s, int opt, const char *arg, FILE *err)
{
    char *end;

    if (opt == 'I') {
        if (!settings_parse_size(arg, &s->item_size_max) ||
            s->item_size_max < SETTINGS_ITEM_SIZE_MIN ||
            s->item_size_max > SETTINGS_ITEM_SIZE_MAX) {
            return bad_value(err, "-I", arg, "expected 1k..1g");
        }
        return SETTINGS_OK;
    }
    errno = 0;
    s->growth_factor = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' ||
        !(s->growth_factor > 1.0 && s->growth_factor <= 10.0)) {
        return bad_value(err, "-f", arg, "expected a factor > 1.0");
    }
    return SETTINGS_OK;
}

/* Options that take a number; returns SETTINGS_EUSAGE on a bad one. */
static int
parse_numeric_opt(struct settings *s, int opt, const char *arg, FILE *err)
{
    unsigned long long v;

    switch (opt) {
    case 'p':
        if (!parse_uint(arg, 0, 65535, &v)) {
            return bad_value(err, "-p", arg, "expected a port 0..65535");
        }
        s->port = (unsigned)v;
        break;
    case 'U':
        if (!parse_uint(arg, 0, 65535, &v)) {
            return bad_value(err, "-U", arg, "expected a port 0..65535");
        }
        s->udp_port = (unsigned)v;
        break;
    case 'm':
        if (!parse_uint(arg, 1, (SIZE_MAX >> 20), &v)) {
            return bad_value(err, "-m", arg, "expected megabytes >= 1");
        }
        s->mem_limit = (size_t)v << 20;
        break;
    case 'c':
        if (!parse_uint(arg, 1, 1u << 20, &v)) {
            return bad_value(err, "-c", arg, "expected 1..1048576");
        }
        s->max_conns = (unsigned)v;
        break;
    case 't':
        if (!parse_uint(arg, 1, 256, &v)) {
            return bad_value(err, "-t", arg, "expected 1..256 threads");
        }
        s->threads = (unsigned)v;
        break;
    case 'I': case 'f':
        return parse_size_opt(s, opt, arg, err);
    case 'b':
        if (!parse_uint(arg, 1, INT_MAX, &v)) {
            return bad_value(err, "-b", arg, "expected a backlog >= 1");
        }
        s->backlog = (unsigned)v;
        break;
    default: /* 'R' */
        if (!parse_uint(arg, 1, INT_MAX, &v)) {
            return bad_value(err, "-R", arg, "expected a number >= 1");
        }
        s->reqs_per_event = (unsigned)v;
        break;
    }
    return SETTINGS_OK;
}

static int
parse_one(struct settings *s, int opt, const char *arg, FILE *out,
          FILE *err)
{
    switch (opt) {
    case 'l':
        if (*arg == '\0') {
            return bad_value(err, "-l", arg, "empty address");
        }
        s->listen = arg;
        return SETTINGS_OK;
    case 'v':
        s->verbosity += s->verbosity < 2;
        return SETTINGS_OK;
    case 'd': s->daemonize = true; return SETTINGS_OK;
    case 'P': s->pidfile = arg; return SETTINGS_OK;
    case 'u': s->user = arg; return SETTINGS_OK;
    case 'A': s->allow_shutdown = true; return SETTINGS_OK;
    case 'F': s->flush_disabled = true; return SETTINGS_OK;
    case 'C': s->cas_disabled = true; return SETTINGS_OK;
    case 'M': s->no_evict = true; return SETTINGS_OK;
    case 'o': return parse_ext(s, arg, err);
    case 'h':
        fputs(usage_text, out);
        return SETTINGS_EXIT;
    case 'V':
        fprintf(out, "emberd %s (memcached protocol 1.6)\n", PACKAGE_VERSION);
        return SETTINGS_EXIT;
    case 'p': case 'U': case 'm': case 'c': case 't': case 'I': case 'f':
    case 'b': case 'R':
        return parse_numeric_opt(s, opt, arg, err);
    default:
        if (opt >= OPT_SNAPSHOT_DIR && opt <= OPT_SNAPSHOT_ON_CORRUPT) {
            return parse_snapshot_opt(s, opt, arg, err);
        }
        return SETTINGS_EUSAGE;
    }
}

/* getopt_long found an unknown option or a missing value in WORD. */
static int
bad_option(const char *word, FILE *err)
{
    if (optopt != 0 && strchr(short_opts, optopt) != NULL) {
        fprintf(err, "emberd: option -%c needs a value\n", optopt);
    } else if (optopt != 0) {
        fprintf(err, "emberd: unknown option -%c\n", optopt);
    } else {
        fprintf(err, "emberd: unknown option or missing value in '%s'\n",
                word);
    }
    fputs("emberd: try 'emberd --help'\n", err);
    return SETTINGS_EUSAGE;
}

/* Checks that involve more than one option. */
static int
check_combined(const struct settings *s, FILE *err)
{
    if (s->item_size_max > s->mem_limit / 2) {
        fprintf(err, "emberd: -I %zu is larger than half of -m (%zu "
                "bytes); raise -m or lower -I\n", s->item_size_max,
                s->mem_limit);
        return SETTINGS_EUSAGE;
    }
    if (s->port == 0) {
        fputs("emberd: -p 0: no TCP port to serve on\n", err);
        return SETTINGS_EUSAGE;
    }
    return SETTINGS_OK;
}

int
settings_parse(struct settings *s, int argc, char **argv, FILE *out,
               FILE *err)
{
    int opt;
    int rc = SETTINGS_OK;

    opterr = 0;     /* we print our own messages, to ERR */
#ifdef __GLIBC__
    optind = 0;     /* glibc: full re-initialisation (tests parse twice) */
#else
    optind = 1;
#endif
    while (rc == SETTINGS_OK &&
           (opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) !=
               -1) {
        rc = opt == '?' ? bad_option(argv[optind - 1], err)
                        : parse_one(s, opt, optarg, out, err);
    }
    if (rc != SETTINGS_OK) {
        return rc;
    }
    if (optind < argc) {
        fprintf(err, "emberd: unexpected argument '%s'\n", argv[optind]);
        return SETTINGS_EUSAGE;
    }
    return check_combined(s, err);
}
