/*
 * check_settings.c -- daemon/settings.c: memcached's flags, defaults,
 * bounds, -o words, and refusal (never a crash) of bad values.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* 0: snapshots only on demand and at shutdown */
    ck_assert_int_eq(parse("--snapshot-interval=0", NULL), SETTINGS_OK);
    ck_assert_uint_eq(s.snapshot_interval, 0);
}
END_TEST

START_TEST(test_help_version)
{
    ck_assert_int_eq(parse("-h", NULL), SETTINGS_EXIT);
    ck_assert_int_eq(parse("-V", NULL), SETTINGS_EXIT);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_size_suffixes)
{
    size_t v;

    ck_assert(settings_parse_size("1024", &v) && v == 1024);
    ck_assert(settings_parse_size("512k", &v) && v == 512 * 1024);
    ck_assert(settings_parse_size("1M", &v) && v == 1 << 20);
    ck_assert(settings_parse_size("1g", &v) && v == (size_t)1 << 30);
    ck_assert(!settings_parse_size("", &v));
    ck_assert(!settings_parse_size("1kb", &v));
    ck_assert(!settings_parse_size("-1", &v));
    ck_assert(!settings_parse_size("99999999999999999999999", &v));
    ck_assert(!settings_parse_size("18014398509481984k", &v));
}
END_TEST

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

START_TEST(test_unknown_and_stray)
{
    ck_assert_int_eq(parse("-Z", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("--no-such-thing", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-p", NULL), SETTINGS_EUSAGE); /* no value */
    ck_assert_int_eq(parse("stray", NULL), SETTINGS_EUSAGE);
    ck_assert_int_eq(parse("-p", "0", NULL), SETTINGS_EUSAGE);
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
    suite_add_tcase(su, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_size_suffixes);
    tcase_add_test(limits, test_bounds);
    suite_add_tcase(su, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_bad_values);
    tcase_add_test(errors, test_unknown_and_stray);
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
