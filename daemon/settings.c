/*
 * settings.c -- memcached-compatible option parsing for emberd.
 *
 * Every value is checked here, once, with a message naming the option, so
 * that a typo in a unit file fails at start with exit 64 rather than
 * running with a surprising value.
 *
 * Everything is driven by one table, `options` below: getopt_long's short
 * string and long array, the defaults, validation and its messages, the
 * -h text and the `stats settings` lines. To add an option, add its field
 * to struct settings and one entry here (settings.h says what each member
 * means); tests/check_settings.c then asks for its bounds.
 */
#include "config.h"

#include "daemon/settings.h"

#include "util/util.h"

#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/*
 * offsetof(struct settings, FIELD), refused at compile time unless FIELD
 * has type T: the kind of an entry decides how its field is written.
 */
#define AT(field, T)                                                      \
    (offsetof(struct settings, field) +                                   \
     0 * sizeof(char[_Generic(((struct settings *)0)->field, T: 1,        \
                              default: -1)]))

/* A long-only option's getopt value: past every character. */
#define LONG_ONLY_BASE 256

static const char *const on_corrupt_words[] = { "fail", "cold", NULL };
static const char *const on_off_words[] = { "on", "off", NULL };
/* in enum snap_fsync's order (snapshot/snapshot.h) */
static const char *const fsync_words[] = { "everysec", "always", "no",
                                           NULL };
/* How `stats settings` shows a flag: [false], [true]. */
static const char *const yes_when_set[] = { "no", "yes", NULL };
static const char *const no_when_set[] = { "yes", "no", NULL };
static const char *const off_when_set[] = { "on", "off", NULL };

/*
 * The table, in -h order. STAT_POS orders `stats settings` as memcached
 * 1.6.18 does, so that exporters find every field where they expect it.
 * The -o help text names the -o words by hand: keep it in step.
 */
static const struct settings_opt options[] = {
    { .letter = 'p', .name = "port", .kind = SETTINGS_UINT,
      .off = AT(port, unsigned), .max = 65535, .def = "11211",
      .why = "expected a port 0..65535", .arg = "PORT",
      .help = "TCP port (default %D)", .stat = "tcpport", .stat_pos = 3 },
    { .letter = 'U', .name = "udp-port", .kind = SETTINGS_UINT,
      .off = AT(udp_port, unsigned), .max = 65535,
      .why = "expected a port 0..65535", .arg = "PORT",
      .help = "accepted; UDP is not served (0 = off)" },
    { .letter = 'l', .name = "listen", .kind = SETTINGS_STR,
      .off = AT(listen, const char *), .min = 1, .def = "127.0.0.1",
      .why = "empty address", .arg = "ADDR[,ADDR]",
      .help = "addresses to listen on (default %D)", .stat = "inter",
      .stat_pos = 5 },
    { .letter = 'm', .name = "memory-limit", .kind = SETTINGS_MB,
      .off = AT(mem_limit, size_t), .min = 1, .max = SIZE_MAX >> 20,
      .def = "64", .why = "expected megabytes >= 1", .arg = "MB",
      .help = "item memory in megabytes (default %D)", .stat = "maxbytes",
      .stat_pos = 1 },
    { .letter = 'c', .name = "conn-limit", .kind = SETTINGS_UINT,
      .off = AT(max_conns, unsigned), .min = 1, .max = 1u << 20,
      .def = "1024", .why = "expected 1..1048576", .arg = "N",
      .help = "max simultaneous connections (default %D)",
      .stat = "maxconns", .stat_pos = 2 },
    { .letter = 't', .name = "threads", .kind = SETTINGS_UINT,
      .off = AT(threads, unsigned), .min = 1, .max = 256, .def = "4",
      .why = "expected 1..256 threads", .arg = "N",
      .help = "worker threads (default %D)", .stat = "num_threads",
      .stat_pos = 12 },
    { .letter = 'I', .name = "max-item-size", .kind = SETTINGS_SIZE,
      .off = AT(item_size_max, size_t), .min = SETTINGS_ITEM_SIZE_MIN,
      .max = SETTINGS_ITEM_SIZE_MAX, .def = "1m", .why = "expected 1k..1g",
      .arg = "SIZE", .help = "largest item, k/m suffix (default %D)",
      .stat = "item_size_max", .stat_pos = 18 },
    /* finer than memcached's 1.25: less slack */
    { .letter = 'f', .name = "slab-growth-factor", .kind = SETTINGS_FACTOR,
      .off = AT(growth_factor, double), .min = 1, .max = 10, .def = "1.08",
      .why = "expected a factor > 1.0", .arg = "F",
      .help = "size class factor (default %D)", .stat = "growth_factor",
      .stat_pos = 11 },
    { .letter = 'b', .name = "listen-backlog", .kind = SETTINGS_UINT,
      .off = AT(backlog, unsigned), .min = 1, .max = INT_MAX, .def = "1024",
      .why = "expected a backlog >= 1", .arg = "N",
      .help = "listen backlog (default %D)", .stat = "tcp_backlog",
      .stat_pos = 15 },
    { .letter = 'R', .name = "max-reqs-per-event", .kind = SETTINGS_UINT,
      .off = AT(reqs_per_event, unsigned), .min = 1, .max = INT_MAX,
      .def = "20", .why = "expected a number >= 1", .arg = "N",
      .help = "requests per connection before yielding\n"
              "to others (default %D)",
      .stat = "reqs_per_event", .stat_pos = 13 },
    { .letter = 'v', .name = "verbose", .kind = SETTINGS_COUNT,
      .off = AT(verbosity, int), .max = 2,
      .help = "log more: -v each snapshot and more,\n"
              "-vv also every connection and command",
      .stat = "verbosity",
      .stat_pos = 6 },
    { .letter = 'd', .name = "daemon", .kind = SETTINGS_FLAG,
      .off = AT(daemonize, bool), .help = "run in the background" },
    { .name = "log-file", .kind = SETTINGS_STR,
      .off = AT(log_file, const char *), .min = 1, .why = "empty path",
      .arg = "FILE", .help = "log to FILE (appended; reopened on SIGHUP)\n"
                             "instead of stderr" },
    { .letter = 'P', .name = "pidfile", .kind = SETTINGS_STR,
      .off = AT(pidfile, const char *), .arg = "FILE",
      .help = "write the process id to FILE" },
    { .letter = 'u', .name = "user", .kind = SETTINGS_STR,
      .off = AT(user, const char *), .arg = "USER",
      .help = "drop root privileges to USER" },
    { .letter = 'A', .name = "enable-shutdown", .kind = SETTINGS_FLAG,
      .off = AT(allow_shutdown, bool), .words = yes_when_set,
      .help = "allow the 'shutdown' command", .stat = "shutdown_command",
      .stat_pos = 10 },
    { .letter = 'F', .name = "disable-flush-all", .kind = SETTINGS_FLAG,
      .off = AT(flush_disabled, bool), .words = no_when_set,
      .help = "refuse 'flush_all'", .stat = "flush_enabled",
      .stat_pos = 20 },
    { .letter = 'C', .name = "disable-cas", .kind = SETTINGS_FLAG,
      .off = AT(cas_disabled, bool), .words = no_when_set,
      .help = "do not use CAS values", .stat = "cas_enabled",
      .stat_pos = 14 },
    { .letter = 'M', .name = "disable-evictions", .kind = SETTINGS_FLAG,
      .off = AT(no_evict, bool), .words = off_when_set,
      .help = "reply an error when full, do not evict", .stat = "evictions",
      .stat_pos = 8 },
    { .letter = 'o', .name = "extended", .kind = SETTINGS_EXT,
      .arg = "OPT[,OPT]",
      .help = "idle_timeout=N, hashpower=N; memcached's\n"
              "other tuning words are accepted, ignored" },
    { .name = "idle_timeout", .ext = true, .kind = SETTINGS_UINT,
      .off = AT(idle_timeout, unsigned), .max = UINT_MAX,
      .why = "expected seconds", .stat = "idle_timeout", .stat_pos = 21 },
    { .name = "hashpower", .ext = true, .kind = SETTINGS_UINT,
      .off = AT(hash_power, unsigned), .min = 12, .max = 32,
      .why = "expected 12..32", .stat = "hashpower_init", .stat_pos = 19 },
    { .name = "snapshot-dir", .kind = SETTINGS_STR,
      .off = AT(snapshot_dir, const char *), .min = 1, .why = "empty path",
      .arg = "DIR", .help = "persist to an LMDB snapshot in DIR and\n"
                            "reload it before serving (default: off)",
      .stat = "snapshot_dir", .stat_pos = 22 },
    { .name = "snapshot-interval", .kind = SETTINGS_UINT,
      .off = AT(snapshot_interval, unsigned), .max = 86400 * 7, .def = "60",
      .why = "expected 0..604800 seconds", .arg = "SECS",
      .help = "seconds between snapshots (default %D;\n"
              "0 = only on 'snapshot' and at shutdown)",
      .stat = "snapshot_interval", .stat_pos = 23 },
    { .name = "snapshot-compression", .kind = SETTINGS_INT,
      .off = AT(snapshot_compression, int), .max = 19, .def = "1",
      .why = "expected a zstd level 0..19", .arg = "N",
      .help = "zstd level 0..19, 0 = off (default %D)",
      .stat = "snapshot_compression", .stat_pos = 24 },
    { .name = "snapshot-max-age", .kind = SETTINGS_UINT,
      .off = AT(snapshot_max_age, unsigned), .max = UINT_MAX,
      .why = "expected seconds", .arg = "SECS",
      .help = "start cold (old snapshot kept aside) when\n"
              "the last snapshot is older (default: any)",
      .stat = "snapshot_max_age", .stat_pos = 25 },
    { .name = "snapshot-on-corrupt", .kind = SETTINGS_WORD,
      .off = AT(snapshot_on_corrupt, int), .words = on_corrupt_words,
      .def = "fail", .why = "expected fail or cold", .arg = "fail|cold",
      .help = "refuse to start on a damaged\n"
              "snapshot, or move it aside and start empty",
      .stat = "snapshot_on_corrupt", .stat_pos = 26 },
    { .name = "journal", .kind = SETTINGS_WORD,
      .off = AT(journal_off, int), .words = on_off_words, .def = "on",
      .why = "expected on or off", .arg = "on|off",
      .help = "journal every change between snapshots,\n"
              "so a crash loses nothing acknowledged\n"
              "(default %D)",
      .stat = "journal", .stat_pos = 27 },
    { .name = "journal-fsync", .kind = SETTINGS_WORD,
      .off = AT(journal_fsync, int), .words = fsync_words,
      .def = "everysec", .why = "expected always, everysec or no",
      .arg = "always|everysec|no",
      .help = "fsync the journal:\n"
              "before each reply, once a second (default),\n"
              "or never (the kernel writes it back)",
      .stat = "journal_fsync", .stat_pos = 28 },
    { .name = "journal-max", .kind = SETTINGS_SIZE,
      .off = AT(journal_max, size_t), .max = (size_t)1 << 40,
      .why = "expected a size up to 1024g", .arg = "SIZE",
      .help = "journal size that starts a snapshot early\n"
              "(default: max(64m, -m / 2))",
      .stat = "journal_max", .stat_pos = 29 },
    { .name = "takeover", .kind = SETTINGS_FLAG,
      .off = AT(takeover, bool),
      .help = "take the listening sockets and the data\n"
              "over from the emberd serving --snapshot-dir,\n"
              "with no moment without a listener" },
    { .letter = 'h', .name = "help", .kind = SETTINGS_HELP,
      .help = "this text" },
    { .letter = 'V', .name = "version", .kind = SETTINGS_VERSION,
      .help = "print the version" },
    /* memcached's fields that have one value in ember */
    { .kind = SETTINGS_STAT, .def = "0", .stat = "udpport", .stat_pos = 4 },
    { .kind = SETTINGS_STAT, .def = "0", .stat = "oldest", .stat_pos = 7 },
    { .kind = SETTINGS_STAT, .def = "NULL", .stat = "domain_socket",
      .stat_pos = 9 },
    { .kind = SETTINGS_STAT, .def = "ascii", .stat = "binding_protocol",
      .stat_pos = 16 },
    { .kind = SETTINGS_STAT, .def = "no", .stat = "auth_enabled_sasl",
      .stat_pos = 17 },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

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

static const char usage_head[] =
    "Usage: emberd [options]\n"
    "memcached-compatible cache daemon with warm restarts.\n"
    "\n";

/* -h: where the help text starts, and the option column's width. */
#define HELP_COLUMN 29
#define HELP_SPEC_WIDTH 27

const struct settings_opt *
settings_table(size_t *n)
{
    *n = NOPTIONS;
    return options;
}

static void *
field(struct settings *s, const struct settings_opt *o)
{
    return (char *)s + o->off;
}

static const void *
cfield(const struct settings *s, const struct settings_opt *o)
{
    return (const char *)s + o->off;
}

/* True when the option is given on the command line with a value. */
static bool
takes_value(const struct settings_opt *o)
{
    switch (o->kind) {
    case SETTINGS_FLAG: case SETTINGS_COUNT: case SETTINGS_HELP:
    case SETTINGS_VERSION: case SETTINGS_STAT:
        return false;
    default:
        return true;
    }
}

const char *
settings_opt_label(const struct settings_opt *o, char *buf, size_t cap)
{
    if (o->ext) {
        snprintf(buf, cap, "-o %s", o->name);
    } else if (o->letter != 0) {
        snprintf(buf, cap, "-%c", o->letter);
    } else {
        snprintf(buf, cap, "--%s", o->name);
    }
    return buf;
}

static int
bad_value(FILE *err, const char *opt, const char *value, const char *why)
{
    if (err != NULL) {
        fprintf(err, "emberd: invalid value '%s' for %s: %s\n",
                value != NULL ? value : "", opt, why);
    }
    return SETTINGS_EUSAGE;
}

static int
bad_option_value(FILE *err, const struct settings_opt *o, const char *value)
{
    char label[64];

    return bad_value(err, settings_opt_label(o, label, sizeof(label)), value,
                     o->why);
}

/* Read a number-like VALUE of O into the field; false when it is bad. */
static bool
store_number(struct settings *s, const struct settings_opt *o,
             const char *value)
{
    uint64_t v;
    size_t bytes;
    double d;

    switch (o->kind) {
    case SETTINGS_SIZE:
        if (!util_parse_size(value, &bytes) || bytes < o->min ||
            bytes > o->max) {
            return false;
        }
        *(size_t *)field(s, o) = bytes;
        return true;
    case SETTINGS_FACTOR:
        if (!util_parse_double(value, &d) || !(d > (double)o->min) ||
            !(d <= (double)o->max)) {
            return false;
        }
        *(double *)field(s, o) = d;
        return true;
    default:
        break;
    }
    if (!util_parse_u64(value, o->min, o->max, &v)) {
        return false;
    }
    if (o->kind == SETTINGS_MB) {
        *(size_t *)field(s, o) = (size_t)v << 20;
    } else if (o->kind == SETTINGS_INT) {
        *(int *)field(s, o) = (int)v;
    } else {
        *(unsigned *)field(s, o) = (unsigned)v;
    }
    return true;
}

/* SETTINGS_STR and SETTINGS_WORD; false when VALUE is bad. */
static bool
store_text(struct settings *s, const struct settings_opt *o,
           const char *value)
{
    int i;

    if (value == NULL) {
        return false;
    }
    if (o->kind == SETTINGS_STR) {
        if (strlen(value) < o->min) {
            return false;
        }
        *(const char **)field(s, o) = value;
        return true;
    }
    for (i = 0; o->words[i] != NULL; i++) {
        if (strcmp(value, o->words[i]) == 0) {
            *(int *)field(s, o) = i;
            return true;
        }
    }
    return false;
}

/* Store VALUE (NULL for options without one) of O; messages to ERR. */
static int
apply_value(struct settings *s, const struct settings_opt *o,
            const char *value, FILE *err)
{
    int *count;
    bool ok;

    switch (o->kind) {
    case SETTINGS_FLAG:
        *(bool *)field(s, o) = true;
        return SETTINGS_OK;
    case SETTINGS_COUNT:
        count = field(s, o);
        *count += *count < (int)o->max;
        return SETTINGS_OK;
    case SETTINGS_STR: case SETTINGS_WORD:
        ok = store_text(s, o, value);
        break;
    default:
        ok = store_number(s, o, value);
        break;
    }
    return ok ? SETTINGS_OK : bad_option_value(err, o, value);
}

void
settings_default(struct settings *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < NOPTIONS; i++) {
        if (options[i].def != NULL && options[i].kind != SETTINGS_STAT) {
            /* a default that does not parse is caught by check_settings */
            (void)apply_value(s, &options[i], options[i].def, NULL);
        }
    }
}

/* ---- -h ----------------------------------------------------------------- */

/* Write TEXT with "%D" replaced by DEF and each "\n" indented. */
static void
help_text(FILE *out, const char *text, const char *def)
{
    const char *p;

    for (p = text; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'D') {
            fputs(def != NULL ? def : "", out);
            p++;
        } else if (*p == '\n') {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
        } else {
            fputc(*p, out);
        }
    }
    fputc('\n', out);
}

static void
print_help(FILE *out)
{
    char spec[80];
    size_t i;
    int n;

    fputs(usage_head, out);
    for (i = 0; i < NOPTIONS; i++) {
        const struct settings_opt *o = &options[i];

        if (o->help == NULL) {
            continue;
        }
        n = o->letter != 0
                ? snprintf(spec, sizeof(spec), "-%c, --%s", o->letter,
                           o->name)
                : snprintf(spec, sizeof(spec), "--%s", o->name);
        if (o->arg != NULL && n >= 0 && (size_t)n < sizeof(spec)) {
            snprintf(spec + n, sizeof(spec) - (size_t)n, "=%s", o->arg);
        }
        n = (int)strlen(spec);
        fprintf(out, "  %-*s", n < HELP_SPEC_WIDTH ? HELP_SPEC_WIDTH : n + 2,
                spec);
        help_text(out, o->help, o->def);
    }
}

/* ---- -o ----------------------------------------------------------------- */

static bool
is_ignored_word(const char *name)
{
    size_t i;

    for (i = 0; ignored_words[i] != NULL; i++) {
        if (strcmp(ignored_words[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static int
unknown_ext_word(const char *word, FILE *err)
{
    size_t i;

    fprintf(err, "emberd: unknown -o option '%s' (supported: ", word);
    for (i = 0; i < NOPTIONS; i++) {
        if (options[i].ext) {
            fprintf(err, "%s=N, ", options[i].name);
        }
    }
    fputs("and memcached's tuning words, which are ignored)\n", err);
    return SETTINGS_EUSAGE;
}

/* One NAME[=VALUE] word of -o, NUL-terminated (a copy of the argument). */
static int
parse_ext_word(struct settings *s, char *word, FILE *err)
{
    char *value = strchr(word, '=');
    size_t i;

    if (value != NULL) {
        *value++ = '\0';
    }
    for (i = 0; i < NOPTIONS; i++) {
        if (options[i].ext && strcmp(options[i].name, word) == 0) {
            return apply_value(s, &options[i], value, err);
        }
    }
    if (word[0] != '\0' && is_ignored_word(word)) {
        s->ext_ignored++;   /* noted by main under -v, whatever the order */
        return SETTINGS_OK;
    }
    return unknown_ext_word(word, err);
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

/* ---- the command line --------------------------------------------------- */

/* The getopt value of option I: its letter, or past every character. */
static int
getopt_val(size_t i)
{
    return options[i].letter != 0 ? options[i].letter
                                  : LONG_ONLY_BASE + (int)i;
}

/* The entry getopt_long returned VAL for, or NULL. */
static const struct settings_opt *
find_val(int val)
{
    size_t i;

    for (i = 0; i < NOPTIONS; i++) {
        if (options[i].kind != SETTINGS_STAT && !options[i].ext &&
            getopt_val(i) == val) {
            return &options[i];
        }
    }
    return NULL;
}

/* getopt_long's arrays, derived from the table. */
struct getopt_arrays {
    char shorts[2 * NOPTIONS + 1];
    struct option longs[NOPTIONS + 1];
};

static void
build_getopt(struct getopt_arrays *g)
{
    size_t i;
    size_t ns = 0;
    size_t nl = 0;

    memset(g, 0, sizeof(*g));
    for (i = 0; i < NOPTIONS; i++) {
        const struct settings_opt *o = &options[i];
        int has_arg = takes_value(o) ? required_argument : no_argument;

        if (o->kind == SETTINGS_STAT || o->ext) {
            continue;
        }
        if (o->letter != 0) {
            g->shorts[ns++] = (char)o->letter;
            if (has_arg == required_argument) {
                g->shorts[ns++] = ':';
            }
        }
        g->longs[nl].name = o->name;
        g->longs[nl].has_arg = has_arg;
        g->longs[nl].val = getopt_val(i);
        nl++;
    }
}

static int
parse_one(struct settings *s, const struct settings_opt *o, const char *arg,
          FILE *out, FILE *err)
{
    switch (o->kind) {
    case SETTINGS_EXT:
        return parse_ext(s, arg, err);
    case SETTINGS_HELP:
        print_help(out);
        return SETTINGS_EXIT;
    case SETTINGS_VERSION:
        fprintf(out, "emberd %s (memcached protocol 1.6)\n", PACKAGE_VERSION);
        return SETTINGS_EXIT;
    default:
        return apply_value(s, o, arg, err);
    }
}

/* getopt_long found an unknown option or a missing value in WORD. */
static int
bad_option(const char *word, FILE *err)
{
    const struct settings_opt *o = optopt != 0 ? find_val(optopt) : NULL;
    char label[64];

    if (o != NULL) {
        /* known: a value missing, or one given to an option without */
        fprintf(err, takes_value(o) ? "emberd: option %s needs a value\n"
                                    : "emberd: option --%s takes no value\n",
                takes_value(o) ? settings_opt_label(o, label, sizeof(label))
                               : o->name);
    } else if (optopt != 0 && optopt < LONG_ONLY_BASE) {
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
    if (s->takeover && (s->snapshot_dir == NULL || s->journal_off)) {
        fputs("emberd: --takeover needs --snapshot-dir (where the running "
              "emberd is found) and the journal on (its changes come over "
              "through it)\n", err);
        return SETTINGS_EUSAGE;
    }
    return SETTINGS_OK;
}

int
settings_parse(struct settings *s, int argc, char **argv, FILE *out,
               FILE *err)
{
    struct getopt_arrays g;
    const struct settings_opt *o;
    int opt;
    int rc = SETTINGS_OK;

    build_getopt(&g);
    opterr = 0;     /* we print our own messages, to ERR */
#ifdef __GLIBC__
    optind = 0;     /* glibc: full re-initialisation (tests parse twice) */
#else
    optind = 1;
#endif
    while (rc == SETTINGS_OK &&
           (opt = getopt_long(argc, argv, g.shorts, g.longs, NULL)) != -1) {
        o = opt == '?' ? NULL : find_val(opt);
        rc = o == NULL ? bad_option(argv[optind - 1], err)
                       : parse_one(s, o, optarg, out, err);
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

/* ---- stats settings ----------------------------------------------------- */

/* The `stats settings` value of O in S, into BUF when it must be built. */
static const char *
stat_value(const struct settings *s, const struct settings_opt *o,
           char *buf, size_t cap)
{
    const char *text;

    switch (o->kind) {
    case SETTINGS_STAT:
        return o->def;
    case SETTINGS_FLAG:
        return o->words[*(const bool *)cfield(s, o) ? 1 : 0];
    case SETTINGS_STR:
        text = *(const char *const *)cfield(s, o);
        return text != NULL ? text : "NULL";
    case SETTINGS_WORD:
        return o->words[*(const int *)cfield(s, o)];
    case SETTINGS_FACTOR:
        snprintf(buf, cap, "%.2f", *(const double *)cfield(s, o));
        return buf;
    case SETTINGS_MB: case SETTINGS_SIZE:
        snprintf(buf, cap, "%zu", *(const size_t *)cfield(s, o));
        return buf;
    case SETTINGS_INT: case SETTINGS_COUNT:
        snprintf(buf, cap, "%d", *(const int *)cfield(s, o));
        return buf;
    default:
        snprintf(buf, cap, "%u", *(const unsigned *)cfield(s, o));
        return buf;
    }
}

void
settings_stats(const struct settings *s, settings_stat_fn fn, void *arg)
{
    char buf[32];
    unsigned pos;
    size_t i;
    bool found = true;

    for (pos = 1; found; pos++) {
        found = false;
        for (i = 0; i < NOPTIONS && !found; i++) {
            if (options[i].stat != NULL && options[i].stat_pos == pos) {
                fn(arg, options[i].stat,
                   stat_value(s, &options[i], buf, sizeof(buf)));
                found = true;
            }
        }
    }
}
