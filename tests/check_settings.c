/*
 * check_settings.c -- daemon/settings.c: memcached's flags, defaults,
 * bounds, -o words, and refusal (never a crash) of bad values. Every entry
 * of the option table must have a case here (test_table_covered), checked
 * at each bound, short and long, through its `stats settings` line.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/settings.h"

static struct settings s;
static FILE *out;
static FILE *err;

static void
setup(void)
{
    settings_default(&s);
    out = tmpfile();
    err = tmpfile();
    ck_assert(out != NULL && err != NULL);
}

static void
teardown(void)
{
    settings_release(&s);
    fclose(out);
    fclose(err);
}

/* Parse a NULL-terminated list of arguments after "emberd". */
static int
parse(const char *first, ...)
{
    char *argv[48];
    int argc = 0;
    const char *a;
    va_list ap;

    argv[argc++] = (char *)"emberd";
    va_start(ap, first);
    for (a = first; a != NULL && argc < 47; a = va_arg(ap, const char *)) {
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    settings_release(&s);
    settings_default(&s);
    return settings_parse(&s, argc, argv, out, err);
}

/* What was written to ERR so far. */
static const char *
err_text(void)
{
    static char buf[2048];
    size_t n;

    fflush(err);
    rewind(err);
    n = fread(buf, 1, sizeof(buf) - 1, err);
    buf[n] = '\0';
    return buf;
}

/* ---- the option table ------------------------------------------------ */

/* What settings_stats() said for S, as "name value\n" lines. */
struct stat_text {
    char buf[4096];
    size_t n;
};

static void
collect_stat(void *arg, const char *name, const char *value)
{
    struct stat_text *t = arg;
    int w = snprintf(t->buf + t->n, sizeof(t->buf) - t->n, "%s %s\n", name,
                     value);

    ck_assert(w > 0 && (size_t)w < sizeof(t->buf) - t->n);
    t->n += (size_t)w;
}

static const char *
stats_text(const struct settings *set)
{
    static struct stat_text t;

    t.n = 0;
    t.buf[0] = '\0';
    settings_stats(set, collect_stat, &t);
    return t.buf;
}

/* The value of `stats settings` line NAME for s, or NULL. */
static const char *
stat_of(const char *name)
{
    static char value[256];
    const char *text = stats_text(&s);
    size_t n = strlen(name);
    const char *p;

    for (p = text; *p != '\0'; p = strchr(p, '\n') + 1) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            size_t len = (size_t)(strchr(p, '\n') - (p + n + 1));

            ck_assert(len < sizeof(value));
            memcpy(value, p + n + 1, len);
            value[len] = '\0';
            return value;
        }
    }
    return NULL;
}

/*
 * Every option that takes a value, written out here independently of the
 * table: its lowest and highest valid value, the first invalid one on
 * each side (NULL: none exists), a malformed one, and the `stats
 * settings` line it shows up in (NULL: none) with the text expected for
 * the lowest and highest value. PRE is put before (for cross checks).
 */
struct value_case {
    const char *opt;        /* "-p", "--snapshot-dir", "-o hashpower" */
    const char *lng;        /* its long form, NULL: none */
    const char *pre[3];
    const char *lo, *hi, *below, *above, *junk;
    const char *stat, *stat_lo, *stat_hi;
};

static const struct value_case value_cases[] = {
    { "-p", "--port", { NULL }, "1", "65535", NULL, "65536", "abc",
      "tcpport", "1", "65535" },
    /* accepted and ignored: stats shows 0 whatever was given */
    { "-U", "--udp-port", { NULL }, "0", "65535", NULL, "65536", "x",
      "udpport", "0", "0" },
    { "-l", "--listen", { NULL }, "a", "127.0.0.1,::1", "", NULL, "",
      "inter", "a", "127.0.0.1,::1" },
    { "-m", "--memory-limit", { "-I", "1k", NULL }, "1", "17592186044415",
      "0", "17592186044416", "12x", "maxbytes", "1048576",
      "18446744073708503040" },
    { "-c", "--conn-limit", { NULL }, "1", "1048576", "0", "1048577", "1x",
      "maxconns", "1", "1048576" },
    { "-t", "--threads", { NULL }, "1", "256", "0", "257", "four",
      "num_threads", "1", "256" },
    { "-I", "--max-item-size", { "-m", "4096", NULL }, "1k", "1g", "1023",
      "1025m", "1kb", "item_size_max", "1024", "1073741824" },
    { "-f", "--slab-growth-factor", { NULL }, "1.001", "10", "1", "10.001",
      "abc", "growth_factor", "1.00", "10.00" },
    { "-b", "--listen-backlog", { NULL }, "1", "2147483647", "0",
      "2147483648", "-5", "tcp_backlog", "1", "2147483647" },
    { "-R", "--max-reqs-per-event", { NULL }, "1", "2147483647", "0",
      "2147483648", "+1", "reqs_per_event", "1", "2147483647" },
    { "-P", "--pidfile", { NULL }, "", "/run/ember.pid", NULL, NULL, NULL,
      NULL, NULL, NULL },
    { "-u", "--user", { NULL }, "", "memcache", NULL, NULL, NULL, NULL,
      NULL, NULL },
    /* sun_path holds 107 bytes and a NUL */
    { "-s", "--unix-socket", { NULL }, "s",
      "/run/memcached/a-socket-path-of-107-bytes-which-is-"
      "the-longest-that-a-sockaddr_un-can-hold------------.sock", "",
      "/run/memcached/a-socket-path-of-107-bytes-which-is-"
      "the-longest-that-a-sockaddr_un-can-hold------------x.sock", NULL,
      "domain_socket", "s",
      "/run/memcached/a-socket-path-of-107-bytes-which-is-"
      "the-longest-that-a-sockaddr_un-can-hold------------.sock" },
    { "-a", "--unix-mask", { NULL }, "0", "0777", NULL, "1000", "0778",
      "umask", "0", "777" },
    /* accepted for memcached, one warning, nothing kept */
    { "-e", "--memory-file", { NULL }, "f", "/dev/shm/memcached", NULL,
      NULL, NULL, NULL, NULL, NULL },
    /* an empty file holds no option; a missing one is refused */
    { "--config", "--config", { NULL }, "/dev/null", "/dev/null", "",
      NULL, "/nonexistent/memcached.conf", NULL, NULL, NULL },
    { "--log-file", "--log-file", { NULL }, "f", "/var/log/emberd.log", "",
      NULL, "", NULL, NULL, NULL },
    { "-o idle_timeout", NULL, { NULL }, "0", "4294967295", NULL,
      "4294967296", "1s", "idle_timeout", "0", "4294967295" },
    { "-o hashpower", NULL, { NULL }, "12", "32", "11", "33", "x",
      "hashpower_init", "12", "32" },
    { "--snapshot-dir", "--snapshot-dir", { NULL }, "d", "/var/lib/ember",
      "", NULL, "", "snapshot_dir", "d", "/var/lib/ember" },
    { "--snapshot-interval", "--snapshot-interval", { NULL }, "0",
      "604800", NULL, "604801", "-1", "snapshot_interval", "0", "604800" },
    { "--snapshot-compression", "--snapshot-compression", { NULL }, "0",
      "19", NULL, "20", "-1", "snapshot_compression", "0", "19" },
    { "--snapshot-max-age", "--snapshot-max-age", { NULL }, "0",
      "4294967295", NULL, "4294967296", "1h", "snapshot_max_age", "0",
      "4294967295" },
    { "--snapshot-on-corrupt", "--snapshot-on-corrupt", { NULL },
      "salvage", "cold", NULL, NULL, "FAIL", "snapshot_on_corrupt",
      "salvage", "cold" },
    { "--journal", "--journal", { NULL }, "on", "off", NULL, NULL, "yes",
      "journal", "on", "off" },
    { "--journal-fsync", "--journal-fsync", { NULL }, "everysec", "no",
      NULL, NULL, "sometimes", "journal_fsync", "everysec", "no" },
    { "--journal-max", "--journal-max", { NULL }, "0", "1024g", NULL, "1025g",
      "64q", "journal_max", "0", "1099511627776" },
};

#define NVALUE_CASES (sizeof(value_cases) / sizeof(value_cases[0]))

/* The options without a value: the stats line and its two texts. */
struct flag_case {
    const char *opt, *lng, *stat, *unset, *set;
};

static const struct flag_case flag_cases[] = {
    { "-A", "--enable-shutdown", "shutdown_command", "no", "yes" },
    { "-F", "--disable-flush-all", "flush_enabled", "yes", "no" },
    { "-C", "--disable-cas", "cas_enabled", "yes", "no" },
    { "-M", "--disable-evictions", "evictions", "on", "off" },
    { "-v", "--verbose", "verbosity", "0", "1" },
    { "-X", "--disable-dumping", "dump_enabled", "yes", "no" },
    { "-r", "--enable-coredumps", NULL, NULL, NULL },
    { "-k", "--lock-memory", NULL, NULL, NULL },
    { "-L", "--enable-largepages", NULL, NULL, NULL },
    { "-d", "--daemon", NULL, NULL, NULL },
    { "-h", "--help", NULL, NULL, NULL },
    { "-V", "--version", NULL, NULL, NULL },
    { "-o", "--extended", NULL, NULL, NULL },
    { "--takeover", "--takeover", NULL, NULL, NULL },
};

#define NFLAG_CASES (sizeof(flag_cases) / sizeof(flag_cases[0]))

/* Parse PRE, then OPT given VALUE: "-o NAME=V", "--NAME=V" or "-X V". */
static int
parse_value(const struct value_case *c, const char *opt, const char *value)
{
    char *argv[16];
    static char word[256];      /* S may point into it */
    int argc = 0;
    int i;

    argv[argc++] = (char *)"emberd";
    for (i = 0; c->pre[i] != NULL; i++) {
        argv[argc++] = (char *)c->pre[i];
    }
    if (strncmp(opt, "-o ", 3) == 0) {
        snprintf(word, sizeof(word), "%s=%s", opt + 3, value);
        argv[argc++] = (char *)"-o";
        argv[argc++] = word;
    } else if (opt[1] == '-') {
        snprintf(word, sizeof(word), "%s=%s", opt, value);
        argv[argc++] = word;
    } else {
        argv[argc++] = (char *)opt;
        argv[argc++] = (char *)value;
    }
    argv[argc] = NULL;
    settings_release(&s);
    settings_default(&s);
    return settings_parse(&s, argc, argv, out, err);
}

static bool
has_case(const char *label, const char *lng)
{
    size_t i;

    for (i = 0; i < NVALUE_CASES; i++) {
        if (strcmp(value_cases[i].opt, label) == 0) {
            return lng == NULL ? value_cases[i].lng == NULL
                               : value_cases[i].lng != NULL &&
                                     strcmp(value_cases[i].lng, lng) == 0;
        }
    }
    for (i = 0; i < NFLAG_CASES; i++) {
        if (strcmp(flag_cases[i].opt, label) == 0) {
            return lng != NULL && strcmp(flag_cases[i].lng, lng) == 0;
        }
    }
    return false;
}

START_TEST(test_defaults)
{
    ck_assert_int_eq(parse(NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.port, 11211);
    ck_assert_str_eq(s.listen, "127.0.0.1");
    ck_assert_uint_eq(s.mem_limit, (size_t)64 << 20);
    ck_assert_uint_eq(s.max_conns, 1024);
    ck_assert_uint_eq(s.threads, 4);
    ck_assert_uint_eq(s.item_size_max, 1 << 20);
    ck_assert(!s.allow_shutdown && !s.flush_disabled && !s.cas_disabled);
    ck_assert_ptr_null(s.snapshot_dir);
}
END_TEST

START_TEST(test_memcached_conf_flags)
{
    /* what Debian's /etc/memcached.conf and unit file pass */
    ck_assert_int_eq(parse("-m", "128", "-p", "11311", "-u", "memcache",
                           "-l", "127.0.0.1,::1", "-P",
                           "/run/memcached.pid", "-c", "2048", "-t", "8",
                           "-v", "-v", "-A", "-F", "-C", "-M", "-U", "0",
                           "-I", "2m", "-f", "1.5", "-b", "512", "-R", "50",
                           "-d", NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.mem_limit, (size_t)128 << 20);
    ck_assert_uint_eq(s.port, 11311);
    ck_assert_str_eq(s.user, "memcache");
    ck_assert_str_eq(s.listen, "127.0.0.1,::1");
    ck_assert_str_eq(s.pidfile, "/run/memcached.pid");
    ck_assert_uint_eq(s.max_conns, 2048);
    ck_assert_uint_eq(s.threads, 8);
    ck_assert_int_eq(s.verbosity, 2);
    ck_assert(s.allow_shutdown && s.flush_disabled && s.cas_disabled);
    ck_assert(s.no_evict && s.daemonize);
    ck_assert_uint_eq(s.item_size_max, 2 << 20);
    ck_assert(s.growth_factor > 1.49 && s.growth_factor < 1.51);
    ck_assert_uint_eq(s.backlog, 512);
    ck_assert_uint_eq(s.reqs_per_event, 50);
}
END_TEST

START_TEST(test_extended_words)
{
    ck_assert_int_eq(parse("-o", "modern,idle_timeout=30,hashpower=20,"
                           "slab_reassign,slab_automove=1,lru_crawler,"
                           "no_lru_crawler", NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.idle_timeout, 30);
    ck_assert_uint_eq(s.hash_power, 20);
    ck_assert_uint_eq(s.ext_ignored, 5);
    ck_assert_int_eq(parse("-o", "modern,frobnicate", NULL),
                     SETTINGS_EUSAGE);
    ck_assert(strstr(err_text(), "frobnicate") != NULL);
}
END_TEST

START_TEST(test_long_options)
{
    ck_assert_int_eq(parse("--port=1234", "--snapshot-dir=/var/lib/ember",
                           "--snapshot-interval=30",
                           "--snapshot-on-corrupt=cold", NULL),
                     SETTINGS_OK);
    ck_assert_uint_eq(s.port, 1234);
    ck_assert_str_eq(s.snapshot_dir, "/var/lib/ember");
    ck_assert_uint_eq(s.snapshot_interval, 30);
    ck_assert_int_eq(s.snapshot_on_corrupt, SETTINGS_CORRUPT_COLD);
    /* salvage is the default; fail and cold stay selectable */
    ck_assert_int_eq(parse(NULL), SETTINGS_OK);
    ck_assert_int_eq(s.snapshot_on_corrupt, SETTINGS_CORRUPT_SALVAGE);
    ck_assert_int_eq(parse("--snapshot-on-corrupt=fail", NULL), SETTINGS_OK);
    ck_assert_int_eq(s.snapshot_on_corrupt, SETTINGS_CORRUPT_FAIL);
    ck_assert_int_eq(parse("--snapshot-on-corrupt=salvage", NULL),
                     SETTINGS_OK);
    ck_assert_int_eq(s.snapshot_on_corrupt, SETTINGS_CORRUPT_SALVAGE);
    /* 0: snapshots only on demand and at shutdown */
    ck_assert_int_eq(parse("--snapshot-interval=0", NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.snapshot_interval, 0);
}
END_TEST

START_TEST(test_stats_defaults)
{
    /* memcached 1.6.18's order and names, then ember's snapshot lines */
    static const char want[] =
        "maxbytes 67108864\n" "maxconns 1024\n" "tcpport 11211\n"
        "udpport 0\n" "inter 127.0.0.1\n" "verbosity 0\n" "oldest 0\n"
        "evictions on\n" "domain_socket NULL\n" "umask 700\n"
        "shutdown_command no\n"
        "growth_factor 1.08\n" "num_threads 4\n" "reqs_per_event 20\n"
        "cas_enabled yes\n" "tcp_backlog 1024\n" "binding_protocol ascii\n"
        "auth_enabled_sasl no\n" "item_size_max 1048576\n"
        "hashpower_init 0\n" "flush_enabled yes\n" "dump_enabled yes\n"
        "idle_timeout 0\n"
        "snapshot_dir NULL\n" "snapshot_interval 60\n"
        "snapshot_compression 1\n" "snapshot_max_age 0\n"
        "snapshot_on_corrupt salvage\n" "journal on\n"
        "journal_fsync everysec\n" "journal_max 0\n";

    ck_assert_int_eq(parse(NULL), SETTINGS_OK);
    ck_assert_str_eq(stats_text(&s), want);
}
END_TEST

START_TEST(test_help_text)
{
    char text[8192];
    size_t n, i, count;
    const struct settings_opt *t = settings_table(&count);

    ck_assert_int_eq(parse("--help", NULL), SETTINGS_EXIT);
    fflush(out);
    rewind(out);
    n = fread(text, 1, sizeof(text) - 1, out);
    text[n] = '\0';
    ck_assert(strncmp(text, "Usage: emberd [options]\n", 24) == 0);
    /* the columns, a default from the table, a continued line */
    ck_assert(strstr(text, "\n  -p, --port=PORT            TCP port "
                           "(default 11211)\n") != NULL);
    ck_assert(strstr(text, "\n  -R, --max-reqs-per-event=N requests per "
                           "connection before yielding\n"
                           "                             to others "
                           "(default 20)\n") != NULL);
    ck_assert(strstr(text, "\n  --snapshot-on-corrupt=fail|cold|salvage  "
                           "on a damaged snapshot: refuse to\n") != NULL);
    ck_assert(strstr(text, "(default salvage)\n") != NULL);
    ck_assert(strstr(text, "\n  -V, --version              print the "
                           "version\n") != NULL);
    ck_assert(strstr(text, "%D") == NULL);
    /* every option of the command line is listed */
    for (i = 0; i < count; i++) {
        char want[80];

        if (t[i].kind == SETTINGS_STAT || t[i].ext) {
            continue;
        }
        snprintf(want, sizeof(want), "--%s", t[i].name);
        ck_assert_msg(strstr(text, want) != NULL, "%s not in -h", want);
    }
}
END_TEST

START_TEST(test_flags_and_long_forms)
{
    size_t i;

    for (i = 0; i < NFLAG_CASES; i++) {
        const struct flag_case *c = &flag_cases[i];

        if (c->stat == NULL) {
            continue;
        }
        ck_assert_int_eq(parse(NULL), SETTINGS_OK);
        ck_assert_str_eq(stat_of(c->stat), c->unset);
        ck_assert_int_eq(parse(c->opt, NULL), SETTINGS_OK);
        ck_assert_str_eq(stat_of(c->stat), c->set);
        ck_assert_int_eq(parse(c->lng, NULL), SETTINGS_OK);
        ck_assert_str_eq(stat_of(c->stat), c->set);
    }
    ck_assert_int_eq(parse("--daemon", NULL), SETTINGS_OK);
    ck_assert(s.daemonize);
    ck_assert_int_eq(parse("--extended=hashpower=16", NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.hash_power, 16);
    ck_assert_int_eq(parse("--pidfile=/p", "--user=nobody", NULL),
                     SETTINGS_OK);
    ck_assert_str_eq(s.pidfile, "/p");
    ck_assert_str_eq(s.user, "nobody");
}
END_TEST

START_TEST(test_help_version)
{
    ck_assert_int_eq(parse("-h", NULL), SETTINGS_EXIT);
    ck_assert_int_eq(parse("-V", NULL), SETTINGS_EXIT);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_bounds)
{
    ck_assert_int_eq(parse("-p", "65535", NULL), SETTINGS_OK);
    ck_assert_int_eq(parse("-p", "65536", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-t", "256", NULL), SETTINGS_OK);
    ck_assert_int_eq(parse("-t", "257", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-t", "0", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-I", "1k", NULL), SETTINGS_OK);
    ck_assert_int_eq(parse("-I", "1023", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-m", "2048", "-I", "1g", NULL), SETTINGS_OK);
    ck_assert_int_eq(parse("-m", "4096", "-I", "1025m", NULL),
                     SETTINGS_EUSAGE);
    /* -I may not exceed half of -m, as memcached */
    ck_assert_int_eq(parse("-m", "1", "-I", "1m", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-c", "0", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-f", "1.0", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-v", "-v", "-v", "-v", NULL), SETTINGS_OK);
    ck_assert_int_eq(s.verbosity, 2);
}
END_TEST

/* Each value option at its lowest and highest value, short and long. */
START_TEST(test_every_option_in_bounds)
{
    size_t i;

    for (i = 0; i < NVALUE_CASES; i++) {
        const struct value_case *c = &value_cases[i];
        const char *forms[2] = { c->opt, c->lng };
        size_t f;

        for (f = 0; f < 2 && forms[f] != NULL; f++) {
            ck_assert_msg(parse_value(c, forms[f], c->lo) == SETTINGS_OK,
                          "%s %s: %s", forms[f], c->lo, err_text());
            if (c->stat != NULL) {
                ck_assert_str_eq(stat_of(c->stat), c->stat_lo);
            }
            ck_assert_msg(parse_value(c, forms[f], c->hi) == SETTINGS_OK,
                          "%s %s: %s", forms[f], c->hi, err_text());
            if (c->stat != NULL) {
                ck_assert_str_eq(stat_of(c->stat), c->stat_hi);
            }
        }
    }
}
END_TEST

/* The first value past each bound, and a malformed one, are refused
 * with a message that names the option and repeats the value. */
START_TEST(test_every_option_out_of_bounds)
{
    size_t i, b;

    for (i = 0; i < NVALUE_CASES; i++) {
        const struct value_case *c = &value_cases[i];
        const char *bad[3] = { c->below, c->above, c->junk };

        for (b = 0; b < 3; b++) {
            char want[300];

            if (bad[b] == NULL) {
                continue;
            }
            teardown();
            setup();
            ck_assert_msg(parse_value(c, c->opt, bad[b]) == SETTINGS_EUSAGE,
                          "%s '%s' accepted", c->opt, bad[b]);
            snprintf(want, sizeof(want), "emberd: invalid value '%s' for "
                     "%s: expected", bad[b], c->opt);
            if (strcmp(c->opt, "-l") == 0 ||
                strcmp(c->opt, "--snapshot-dir") == 0 ||
                strcmp(c->opt, "--log-file") == 0) {
                snprintf(want, sizeof(want), "emberd: invalid value '' "
                         "for %s: empty", c->opt);
            }
            ck_assert_msg(strncmp(err_text(), want, strlen(want)) == 0,
                          "%s '%s': got \"%s\"", c->opt, bad[b],
                          err_text());
        }
    }
}
END_TEST

/* Every table entry has a case above, so a new option cannot go
 * untested; its default parses back to itself. */
START_TEST(test_table_covered)
{
    size_t n, i, j;
    const struct settings_opt *t = settings_table(&n);
    char label[64], lng[64], deflt[4096];

    for (i = 0; i < n; i++) {
        if (t[i].kind == SETTINGS_STAT) {
            continue;
        }
        settings_opt_label(&t[i], label, sizeof(label));
        snprintf(lng, sizeof(lng), "--%s", t[i].name);
        ck_assert_msg(has_case(label, t[i].ext ? NULL : lng),
                      "option %s (%s) has no case in check_settings.c",
                      label, lng);
        if (t[i].def == NULL || t[i].ext) {
            continue;
        }
        ck_assert_int_eq(parse(NULL), SETTINGS_OK);
        snprintf(deflt, sizeof(deflt), "%s", stats_text(&s));
        snprintf(lng, sizeof(lng), "--%s=%s", t[i].name, t[i].def);
        ck_assert_msg(parse(lng, NULL) == SETTINGS_OK, "%s", lng);
        ck_assert_str_eq(stats_text(&s), deflt);
    }
    /* stats lines: unique names, numbered 1..N without a gap */
    for (i = 1; i <= n; i++) {
        size_t found = 0;

        for (j = 0; j < n; j++) {
            found += t[j].stat != NULL && t[j].stat_pos == i;
        }
        ck_assert_uint_le(found, 1);
        if (found == 0) {
            for (j = 0; j < n; j++) {
                ck_assert_msg(t[j].stat == NULL || t[j].stat_pos < i,
                              "stat %s after a gap", t[j].stat);
            }
            break;
        }
    }
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_bad_values)
{
    ck_assert_int_eq(parse("-p", "abc", NULL), SETTINGS_EUSAGE);
    ck_assert(strstr(err_text(), "-p") != NULL);
    ck_assert_int_eq(parse("-p", "-1", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-m", "12x", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-m", "", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-f", "abc", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-o", "idle_timeout=", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-o", "idle_timeout", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-o", "hashpower=99", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-l", "", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--snapshot-interval=604801", NULL),
                     SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--snapshot-interval=-1", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--snapshot-on-corrupt=eat", NULL),
                     SETTINGS_EUSAGE);
}
END_TEST

/* --takeover finds the running emberd through --snapshot-dir and takes
 * its changes over through the journal: both are needed. */
START_TEST(test_takeover_needs_dir_and_journal)
{
    ck_assert_int_eq(parse("--takeover", NULL), SETTINGS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err_text(), "--takeover needs "
                                             "--snapshot-dir"));
    ck_assert_int_eq(parse("--takeover", "--snapshot-dir=/d",
                           "--journal=off", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--takeover", "--snapshot-dir=/d", NULL),
                     SETTINGS_OK);
    ck_assert(s.takeover);
    ck_assert_int_eq(parse("--snapshot-dir=/d", NULL), SETTINGS_OK);
    ck_assert(!s.takeover);
}
END_TEST

START_TEST(test_unknown_and_stray)
{
    ck_assert_int_eq(parse("-Z", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--no-such-thing", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-p", NULL), SETTINGS_EUSAGE); /* no value */
    ck_assert_int_eq(parse("stray", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-p", "0", NULL), SETTINGS_EUSAGE);
}
END_TEST

/* getopt's complaints, each as the whole of what ERR gets. */
START_TEST(test_option_messages)
{
    static const char try_help[] = "emberd: try 'emberd --help'\n";
    static const struct {
        const char *args[3];
        const char *first_line;
    } cases[] = {
        { { "-p" }, "emberd: option -p needs a value\n" },
        { { "--port" }, "emberd: option -p needs a value\n" },
        /* a long-only option is named as such (was "-\0" or garbage) */
        { { "--snapshot-dir" },
          "emberd: option --snapshot-dir needs a value\n" },
        { { "--verbose=3" }, "emberd: option --verbose takes no value\n" },
        { { "-Z" }, "emberd: unknown option -Z\n" },
        { { "-:" }, "emberd: unknown option -:\n" },
        { { "--snap=1" },
          "emberd: unknown option or missing value in '--snap=1'\n" },
    };
    char want[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        teardown();
        setup();
        ck_assert_int_eq(parse(cases[i].args[0], cases[i].args[1], NULL),
                         SETTINGS_EUSAGE);
        snprintf(want, sizeof(want), "%s%s", cases[i].first_line, try_help);
        ck_assert_str_eq(err_text(), want);
    }
    teardown();
    setup();
    ck_assert_int_eq(parse("-o", "nope", NULL), SETTINGS_EUSAGE);
    ck_assert_str_eq(err_text(), "emberd: unknown -o option 'nope' "
                     "(supported: idle_timeout=N, hashpower=N, and "
                     "memcached's tuning words, which are ignored)\n");
}
END_TEST

/* ---- --config: Debian's memcached.conf format ------------------------ */

static char conf_path[64];

/* Write TEXT to a fresh temporary file; its name in conf_path. */
static const char *
write_conf(const char *text)
{
    int fd;
    size_t n = strlen(text);

    snprintf(conf_path, sizeof(conf_path), "/tmp/check_settings.XXXXXX");
    fd = mkstemp(conf_path);
    ck_assert(fd >= 0);
    ck_assert(write(fd, text, n) == (ssize_t)n);
    close(fd);
    return conf_path;
}

/* How many times NEEDLE occurs in what ERR got. */
static unsigned
err_count(const char *needle)
{
    const char *p = err_text();
    unsigned n = 0;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Debian 12's /etc/memcached.conf (memcached 1.6.18-1), shortened
 * comments, same lines. */
static const char debian_conf[] =
    "# memcached default config file\n"
    "# 2003 - Jay Bonci <jaybonci@debian.org>\n"
    "\n"
    "# Run memcached as a daemon. This command is implied, and is not\n"
    "-d\n"
    "\n"
    "# Log memcached's output to /var/log/memcached\n"
    "logfile /var/log/memcached.log\n"
    "\n"
    "# Be verbose\n"
    "# -v\n"
    "-m 64\n"
    "\n"
    "# Default connection port is 11211\n"
    "-p 11211\n"
    "-u memcache\n"
    "-l 127.0.0.1\n"
    "# -c 1024\n"
    "# -k\n"
    "# Use a pidfile\n"
    "-P /var/run/memcached/memcached.pid\n";

START_TEST(test_config_debian)
{
    const char *path = write_conf(debian_conf);
    char opt[128];

    snprintf(opt, sizeof(opt), "--config=%s", path);
    /* the command line wins over the file, wherever it stands */
    ck_assert_int_eq(parse("-p", "11311", opt, "-m", "128", NULL),
                     SETTINGS_OK);
    ck_assert_uint_eq(s.port, 11311);
    ck_assert_uint_eq(s.mem_limit, (size_t)128 << 20);
    ck_assert_str_eq(s.user, "memcache");
    ck_assert_str_eq(s.listen, "127.0.0.1");
    ck_assert_str_eq(s.pidfile, "/var/run/memcached/memcached.pid");
    ck_assert_str_eq(s.config_file, path);
    ck_assert(!s.daemonize);    /* the -d line is skipped, as Debian's */
    /* logfile is --log-file, as Debian's wrapper sends output there */
    ck_assert_str_eq(s.log_file, "/var/log/memcached.log");
    /* one warning, for -d, naming file and line; none for logfile */
    ck_assert_uint_eq(err_count("warning"), 1);
    snprintf(opt, sizeof(opt), "%s:5: '-d' ignored", path);
    ck_assert_msg(strstr(err_text(), opt) != NULL, "%s", err_text());
    ck_assert_msg(strstr(err_text(), "logfile") == NULL, "%s", err_text());
    /* --log-file on the command line wins, before or after --config */
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse("--log-file=/tmp/e.log", opt, NULL),
                     SETTINGS_OK);
    ck_assert_str_eq(s.log_file, "/tmp/e.log");
    ck_assert_int_eq(parse(opt, "--log-file", "/tmp/f.log", NULL),
                     SETTINGS_OK);
    ck_assert_str_eq(s.log_file, "/tmp/f.log");
    unlink(path);
}
END_TEST

/* The last logfile line wins; without a path it is refused, by line. */
START_TEST(test_config_logfile)
{
    const char *path = write_conf("logfile /tmp/a.log\n-m 32\n"
                                  "logfile   /tmp/b.log  # later\n");
    char opt[128], want[160];

    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_OK);
    ck_assert_str_eq(s.log_file, "/tmp/b.log");
    ck_assert_uint_eq(s.mem_limit, (size_t)32 << 20);
    unlink(path);
    teardown();
    setup();
    path = write_conf("-m 32\nlogfile\n");
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_EUSAGE);
    snprintf(want, sizeof(want), "emberd: %s:2: unknown line 'logfile' "
             "(expected options starting with '-', or 'logfile PATH')\n",
             path);
    ck_assert_str_eq(err_text(), want);
    unlink(path);
}
END_TEST

START_TEST(test_config_lines)
{
    const char *path = write_conf("  -m   256   # two words, a comment\n"
                                  "-P /tmp/a\\#b -vv\n\n\t-t 2\r\n"
                                  "--snapshot-interval=5");
    char opt[128];

    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.mem_limit, (size_t)256 << 20);
    ck_assert_str_eq(s.pidfile, "/tmp/a#b");
    ck_assert_int_eq(s.verbosity, 2);
    ck_assert_uint_eq(s.threads, 2);
    ck_assert_uint_eq(s.snapshot_interval, 5);
    ck_assert_uint_eq(err_count("warning"), 0);
    /* a line starting -h is skipped whole, as Debian's wrapper does */
    ck_assert_int_eq(parse("--conf", path, NULL), SETTINGS_OK);
    unlink(path);
    path = write_conf("-h\n-m 32\n");
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.mem_limit, (size_t)32 << 20);
    ck_assert_uint_eq(err_count("warning"), 1);
    unlink(path);
}
END_TEST

START_TEST(test_config_errors)
{
    char opt[128], want[160];
    const char *path = write_conf("-m 64\n# ok\nmaxconns 10\n");

    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_EUSAGE);
    snprintf(want, sizeof(want), "emberd: %s:3: unknown line 'maxconns 10' "
             "(expected options starting with '-', or 'logfile PATH')\n",
             path);
    ck_assert_str_eq(err_text(), want);
    unlink(path);
    /* a bad value in the file: getopt's message, then where it was */
    teardown();
    setup();
    path = write_conf("-m 64\n\n-p 99999\n");
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_EUSAGE);
    snprintf(want, sizeof(want), "emberd: invalid value '99999' for -p: "
             "expected a port 0..65535\nemberd: (at %s line 3)\n", path);
    ck_assert_str_eq(err_text(), want);
    unlink(path);
    teardown();
    setup();
    path = write_conf("-m 64 stray\n");
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_EUSAGE);
    ck_assert(strstr(err_text(), "unexpected argument 'stray'") != NULL);
    ck_assert(strstr(err_text(), "line 1)") != NULL);
    unlink(path);
    path = write_conf("--config=/dev/null\n");
    snprintf(opt, sizeof(opt), "--config=%s", path);
    ck_assert_int_eq(parse(opt, NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--config=/dev/null", "--config=/dev/null",
                           NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--config=/tmp", NULL), SETTINGS_EUSAGE);
    ck_assert(strstr(err_text(), "Is a directory") != NULL);
    unlink(path);
}
END_TEST

/* memcached's options ember does not use: one warning each, however
 * often they are given, and the rest of the line still parsed. */
START_TEST(test_ignored_options)
{
    ck_assert_int_eq(parse("-k", "-L", "-k", "-e", "/dev/shm/mc", "-L",
                           "-m", "32", NULL), SETTINGS_OK);
    ck_assert_uint_eq(err_count("warning"), 3);
    ck_assert_uint_eq(err_count("-k: not supported"), 1);
    ck_assert_uint_eq(err_count("-L: large pages"), 1);
    ck_assert_uint_eq(err_count("-e: memcached's restartable"), 1);
    ck_assert_uint_eq(s.mem_limit, (size_t)32 << 20);
    /* -s makes -p 0 fine: no TCP is needed */
    ck_assert_int_eq(parse("-s", "/tmp/m.sock", "-p", "0", NULL),
                     SETTINGS_OK);
    ck_assert_int_eq(parse("-a", "8", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-r", NULL), SETTINGS_OK);
    ck_assert(s.max_core);
}
END_TEST

static Suite *
settings_suite(void)
{
    Suite *su = suite_create("settings");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_defaults);
    tcase_add_test(core, test_memcached_conf_flags);
    tcase_add_test(core, test_extended_words);
    tcase_add_test(core, test_long_options);
    tcase_add_test(core, test_help_version);
    tcase_add_test(core, test_stats_defaults);
    tcase_add_test(core, test_help_text);
    tcase_add_test(core, test_flags_and_long_forms);
    tcase_add_test(core, test_config_debian);
    tcase_add_test(core, test_config_lines);
    tcase_add_test(core, test_config_logfile);
    tcase_add_test(core, test_ignored_options);
    suite_add_tcase(su, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_bounds);
    tcase_add_test(limits, test_every_option_in_bounds);
    tcase_add_test(limits, test_every_option_out_of_bounds);
    tcase_add_test(limits, test_table_covered);
    suite_add_tcase(su, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_bad_values);
    tcase_add_test(errors, test_unknown_and_stray);
    tcase_add_test(errors, test_takeover_needs_dir_and_journal);
    tcase_add_test(errors, test_option_messages);
    tcase_add_test(errors, test_config_errors);
    suite_add_tcase(su, errors);
    return su;
}

int
main(void)
{
    SRunner *sr = srunner_create(settings_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
