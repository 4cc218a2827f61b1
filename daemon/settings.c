/*
 * settings.c -- memcached-compatible option parsing for emberd.
 *
 * Every value is checked here, once, with a message naming the option, so
 * that a typo in a unit file fails at start with exit 64 rather than
 * running with a surprising value.
 *
 * Everything is driven by one table, settings_options in
 * settings_table.c: getopt_long's short string and long array, the
 * defaults, validation and its messages, the -h text and the `stats
 * settings` lines. To add an option, add its field to struct settings
 * and one entry there (settings.h says what each member means);
 * tests/check_settings.c then asks for its bounds.
 */
#include "config.h"

#include "daemon/settings.h"

#include "daemon/conffile.h"
#include "daemon/settings_int.h"
#include "util/util.h"

#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A long-only option's getopt value: past every character. */
#define LONG_ONLY_BASE 256

/* The table (settings_table.c), by a short name. */
#define OPT settings_options

static const char usage_head[] =
    "Usage: emberd [options]\n"
    "memcached-compatible cache daemon with warm restarts.\n"
    "\n";

/* -h: where the help text starts, and the option column's width. */
#define HELP_COLUMN 29
#define HELP_SPEC_WIDTH 27


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
    case SETTINGS_IGNORE:
        return o->arg != NULL;
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

/* Octal digits only (as memcached's -a), at most MAX. */
static bool
parse_octal(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p;

    if (text == NULL || *text == '\0') {
        return false;
    }
    for (p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '7' || v > max) {
            return false;
        }
        v = v * 8 + (uint64_t)(*p - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
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
    case SETTINGS_OCTAL:
        if (!parse_octal(value, o->max, &v)) {
            return false;
        }
        *(unsigned *)field(s, o) = (unsigned)v;
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
        if (strlen(value) < o->min ||
            (o->max != 0 && strlen(value) > o->max)) {
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

/* A memcached option ember does not use: one warning, however often. */
static void
warn_ignored(struct settings *s, const struct settings_opt *o, FILE *err)
{
    unsigned long long bit = 1ULL << (o - settings_options);
    char label[64];

    if ((s->ignored_seen & bit) == 0 && err != NULL) {
        fprintf(err, "emberd: warning: %s: %s; ignored\n",
                settings_opt_label(o, label, sizeof(label)), o->why);
    }
    s->ignored_seen |= bit;
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
    case SETTINGS_IGNORE:
        warn_ignored(s, o, err);
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
    for (i = 0; i < settings_noptions; i++) {
        if (OPT[i].def != NULL && OPT[i].kind != SETTINGS_STAT) {
            /* a default that does not parse is caught by check_settings */
            (void)apply_value(s, &OPT[i], OPT[i].def, NULL);
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
    for (i = 0; i < settings_noptions; i++) {
        const struct settings_opt *o = &OPT[i];

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

    for (i = 0; settings_ignored_words[i] != NULL; i++) {
        if (strcmp(settings_ignored_words[i], name) == 0) {
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
    for (i = 0; i < settings_noptions; i++) {
        if (OPT[i].ext) {
            fprintf(err, "%s=N, ", OPT[i].name);
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
    for (i = 0; i < settings_noptions; i++) {
        if (OPT[i].ext && strcmp(OPT[i].name, word) == 0) {
            return apply_value(s, &OPT[i], value, err);
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
    return OPT[i].letter != 0 ? OPT[i].letter
                                  : LONG_ONLY_BASE + (int)i;
}

/* The entry getopt_long returned VAL for, or NULL. */
static const struct settings_opt *
find_val(int val)
{
    size_t i;

    for (i = 0; i < settings_noptions; i++) {
        if (OPT[i].kind != SETTINGS_STAT && !OPT[i].ext &&
            getopt_val(i) == val) {
            return &OPT[i];
        }
    }
    return NULL;
}

/* getopt_long's arrays, derived from the table. */
struct getopt_arrays {
    char shorts[2 * SETTINGS_OPT_MAX + 2];
    struct option longs[SETTINGS_OPT_MAX + 1];
};

static void
build_getopt(struct getopt_arrays *g)
{
    size_t i;
    size_t ns = 0;
    size_t nl = 0;

    memset(g, 0, sizeof(*g));
    /* "+": stop at the first word that is no option (it is an error
     * anyway), so that argv keeps its order and a --config word's line
     * can be named */
    g->shorts[ns++] = '+';
    for (i = 0; i < settings_noptions; i++) {
        const struct settings_opt *o = &OPT[i];
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
    if (s->port == 0 && s->unix_socket == NULL) {
        fputs("emberd: -p 0: no TCP port to serve on\n", err);
        return SETTINGS_EUSAGE;
    }
    if (s->takeover && (s->snapshot_dir == NULL || s->journal_off)) {
        fputs("emberd: --takeover needs --snapshot-dir (where the running "
              "emberd is found) and the journal on (its changes come over "
              "through it)\n", err);
        return SETTINGS_EUSAGE;
    }
    if (s->takeover && s->unix_socket != NULL) {
        fputs("emberd: --takeover hands over TCP listening sockets; it "
              "cannot be used with -s\n", err);
        return SETTINGS_EUSAGE;
    }
    return SETTINGS_OK;
}

/* A fresh start for getopt_long (tests and the two passes parse twice). */
static void
reset_getopt(void)
{
    opterr = 0;     /* we print our own messages, to ERR */
#ifdef __GLIBC__
    optind = 0;     /* glibc: full re-initialisation */
#else
    optind = 1;
#endif
}

static bool
is_config(const struct settings_opt *o)
{
    return o != NULL && o->name != NULL && strcmp(o->name, "config") == 0;
}

/* What --config adds: the file's words, and argv with them in front. */
struct settings_conf {
    struct conffile cf;
    char **argv;
    int argc;
};

/*
 * Pass 1: find --config (getopt_long's own matching, so "--conf=F"
 * works as it would in pass 2) and read the file. Sets *CONF (NULL
 * without --config). Returns SETTINGS_OK or SETTINGS_EUSAGE.
 */
static int
load_config(int argc, char **argv, const struct getopt_arrays *g,
            struct settings_conf **conf, FILE *err)
{
    const char *path = NULL;
    struct settings_conf *c;
    int opt;

    *conf = NULL;
    reset_getopt();
    while ((opt = getopt_long(argc, argv, g->shorts, g->longs, NULL)) != -1) {
        if (opt == '?' || !is_config(find_val(opt))) {
            continue;
        }
        if (path != NULL) {
            fputs("emberd: --config may be given once\n", err);
            return SETTINGS_EUSAGE;
        }
        path = optarg;
    }
    if (path == NULL || path[0] == '\0') {
        return SETTINGS_OK;     /* an empty one is refused in pass 2 */
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || conffile_load(&c->cf, path, err) != CONFFILE_OK) {
        free(c);
        return SETTINGS_EUSAGE;
    }
    c->argv = calloc(c->cf.nwords + (size_t)argc + 1, sizeof(char *));
    if (c->argv == NULL) {
        conffile_release(&c->cf);
        free(c);
        return SETTINGS_EUSAGE;
    }
    /* the file's options first: the command line overrides them */
    c->argv[c->argc++] = argv[0];
    if (c->cf.nwords > 0) {     /* words is NULL for an empty file */
        memcpy(c->argv + 1, c->cf.words, c->cf.nwords * sizeof(char *));
    }
    c->argc += (int)c->cf.nwords;
    memcpy(c->argv + c->argc, argv + 1, (size_t)(argc - 1) * sizeof(char *));
    c->argc += argc - 1;
    *conf = c;
    return SETTINGS_OK;
}

/* After an error at argv word IDX: name the file and line it came from. */
static void
note_origin(const struct settings_conf *c, int idx, FILE *err)
{
    if (c != NULL && idx >= 1 && (size_t)idx <= c->cf.nwords) {
        fprintf(err, "emberd: (at %s line %u)\n", c->cf.path,
                c->cf.line[idx - 1]);
    }
}

/* Pass 2: every option, the file's first. */
static int
parse_all(struct settings *s, int argc, char **argv,
          const struct getopt_arrays *g, FILE *out, FILE *err)
{
    const struct settings_opt *o;
    unsigned configs = 0;
    int opt;
    int rc = SETTINGS_OK;

    reset_getopt();
    while (rc == SETTINGS_OK &&
           (opt = getopt_long(argc, argv, g->shorts, g->longs, NULL)) != -1) {
        o = opt == '?' ? NULL : find_val(opt);
        if (is_config(o) && ++configs > 1) {
            fputs("emberd: --config cannot be used inside a configuration "
                  "file\n", err);
            rc = SETTINGS_EUSAGE;
            break;
        }
        rc = o == NULL ? bad_option(argv[optind - 1], err)
                       : parse_one(s, o, optarg, out, err);
    }
    if (rc == SETTINGS_EUSAGE) {
        note_origin(s->conf, optind - 1, err);
        return rc;
    }
    if (rc == SETTINGS_OK && optind < argc) {
        fprintf(err, "emberd: unexpected argument '%s'\n", argv[optind]);
        note_origin(s->conf, optind, err);
        return SETTINGS_EUSAGE;
    }
    return rc;
}

int
settings_parse(struct settings *s, int argc, char **argv, FILE *out,
               FILE *err)
{
    struct getopt_arrays g;
    int rc;

    build_getopt(&g);
    rc = load_config(argc, argv, &g, &s->conf, err);
    if (rc != SETTINGS_OK) {
        return rc;
    }
    if (s->conf != NULL) {
        argc = s->conf->argc;
        argv = s->conf->argv;
    }
    rc = parse_all(s, argc, argv, &g, out, err);
    return rc == SETTINGS_OK ? check_combined(s, err) : rc;
}

void
settings_release(struct settings *s)
{
    if (s->conf == NULL) {
        return;
    }
    conffile_release(&s->conf->cf);
    free(s->conf->argv);
    free(s->conf);
    s->conf = NULL;
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
    case SETTINGS_OCTAL:
        snprintf(buf, cap, "%o", *(const unsigned *)cfield(s, o));
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
        for (i = 0; i < settings_noptions && !found; i++) {
            if (OPT[i].stat != NULL && OPT[i].stat_pos == pos) {
                fn(arg, OPT[i].stat,
                   stat_value(s, &OPT[i], buf, sizeof(buf)));
                found = true;
            }
        }
    }
}
