/*
 * check_util.c -- util/: error messages and every number reader, at each
 * boundary (the last value that fits, the first that does not) and with
 * the inputs each caller's rules accept or refuse.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* A sentinel that no reader below produces, to see outputs untouched. */
#define UNTOUCHED 0xdeadbeefcafef00dull

static char err[64];
static uint64_t v;

static void
setup(void)
{
    memset(err, 'x', sizeof(err));
    v = UNTOUCHED;
}

static void
teardown(void)
{
}

/* util_scan_u64 over the bytes of a string literal (no NUL needed). */
static bool
scan(const char *s)
{
    return util_scan_u64(s, strlen(s), &v);
}

static bool
scan_signed(const char *s, bool *neg)
{
    return util_scan_signed(s, strlen(s), neg, &v);
}

static int
wrap(int rc, char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A wrapper in the shape of snapshot/format.c's rec_fail(). */
static int
wrap(int rc, char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int got;

    va_start(ap, fmt);
    got = util_verrf(rc, buf, cap, fmt, ap);
    va_end(ap);
    return got;
}

/* ---- core ------------------------------------------------------------ */

START_TEST(test_errf)
{
    ck_assert_int_eq(util_errf(-7, err, sizeof(err), "%s: %d", "disk", 5),
                     -7);
    ck_assert_str_eq(err, "disk: 5");
    ck_assert_int_eq(util_errf(0, err, sizeof(err), "ok"), 0);
    ck_assert_str_eq(err, "ok");
    ck_assert_int_eq(wrap(-3, err, sizeof(err), "%u items", 12u), -3);
    ck_assert_str_eq(err, "12 items");
}
END_TEST

START_TEST(test_scan_u64)
{
    ck_assert(scan("0") && v == 0);
    ck_assert(scan("42") && v == 42);
    ck_assert(scan("0012") && v == 12);
    /* what decr leaves when a number shrinks in place */
    ck_assert(scan("9 ") && v == 9);
    ck_assert(scan(" \t\n\v\f\r7") && v == 7);
    /* white space ends the number; the rest is not looked at */
    ck_assert(scan("5 junk") && v == 5);
    ck_assert(scan("6\r\n") && v == 6);
    ck_assert(scan("8\tx") && v == 8);
    /* P[0..N) only: the byte after N is not read */
    ck_assert(util_scan_u64("123x", 3, &v) && v == 123);
}
END_TEST

START_TEST(test_scan_signed)
{
    bool neg = true;

    ck_assert(scan_signed("15", &neg) && v == 15 && !neg);
    ck_assert(scan_signed("+15", &neg) && v == 15 && !neg);
    ck_assert(scan_signed("-15", &neg) && v == 15 && neg);
    ck_assert(scan_signed("-0", &neg) && v == 0 && neg);
    ck_assert(scan_signed("  -3 rest", &neg) && v == 3 && neg);
    ck_assert(scan_signed("\t+4\r", &neg) && v == 4 && !neg);
}
END_TEST

START_TEST(test_parse_u64)
{
    ck_assert(util_parse_u64("0", 0, 10, &v) && v == 0);
    ck_assert(util_parse_u64("10", 0, 10, &v) && v == 10);
    ck_assert(util_parse_u64("007", 0, 10, &v) && v == 7);
    ck_assert(util_parse_u64("65535", 0, 65535, &v) && v == 65535);
}
END_TEST

START_TEST(test_parse_size)
{
    size_t b = 1;

    ck_assert(util_parse_size("0", &b) && b == 0);
    ck_assert(util_parse_size("1024", &b) && b == 1024);
    ck_assert(util_parse_size("512k", &b) && b == 512 * 1024);
    ck_assert(util_parse_size("3K", &b) && b == 3 * 1024);
    ck_assert(util_parse_size("1M", &b) && b == 1 << 20);
    ck_assert(util_parse_size("2m", &b) && b == 2 << 20);
    ck_assert(util_parse_size("1g", &b) && b == (size_t)1 << 30);
    ck_assert(util_parse_size("4G", &b) && b == (size_t)4 << 30);
}
END_TEST

START_TEST(test_parse_double)
{
    double d = 0;

    ck_assert(util_parse_double("1.5", &d) && d == 1.5);
    ck_assert(util_parse_double("2", &d) && d == 2.0);
    ck_assert(util_parse_double("0", &d) && d == 0.0);
    ck_assert(util_parse_double("1e1", &d) && d == 10.0);
    /* strtod's syntax: leading white space and a sign */
    ck_assert(util_parse_double(" -0.25", &d) && d == -0.25);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_errf_truncates)
{
    char small[6];

    memset(small, 'x', sizeof(small));
    ck_assert_int_eq(util_errf(-1, small, sizeof(small), "%s", "abcdefgh"),
                     -1);
    ck_assert_str_eq(small, "abcde");
    /* one byte: only the terminator fits */
    small[0] = 'x';
    ck_assert_int_eq(util_errf(-2, small, 1, "long"), -2);
    ck_assert_int_eq(small[0], '\0');
    /* no room at all: nothing written, RC still returned */
    small[0] = 'x';
    ck_assert_int_eq(util_errf(-4, small, 0, "long"), -4);
    ck_assert_int_eq(small[0], 'x');
}
END_TEST

START_TEST(test_scan_u64_bounds)
{
    ck_assert(scan("18446744073709551615") && v == UINT64_MAX);
    ck_assert(scan("018446744073709551615") && v == UINT64_MAX);
    ck_assert(scan("18446744073709551614 ") && v == UINT64_MAX - 1);
    v = UNTOUCHED;
    ck_assert(!scan("18446744073709551616"));
    ck_assert(!scan("18446744073709551620"));
    ck_assert(!scan("99999999999999999999"));
    ck_assert(!scan("184467440737095516150"));
    ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_scan_signed_bounds)
{
    bool neg = false;

    ck_assert(scan_signed("-18446744073709551615", &neg));
    ck_assert(neg && v == UINT64_MAX);
    ck_assert(scan_signed("+18446744073709551615", &neg));
    ck_assert(!neg && v == UINT64_MAX);
    v = UNTOUCHED;
    neg = false;
    ck_assert(!scan_signed("-18446744073709551616", &neg));
    ck_assert(!scan_signed("18446744073709551616", &neg));
    ck_assert(v == UNTOUCHED && !neg);
}
END_TEST

START_TEST(test_parse_u64_bounds)
{
    ck_assert(util_parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert(util_parse_u64("1", 1, 1, &v) && v == 1);
    v = UNTOUCHED;
    ck_assert(!util_parse_u64("18446744073709551616", 0, UINT64_MAX, &v));
    ck_assert(!util_parse_u64("0", 1, 10, &v));       /* below LO */
    ck_assert(!util_parse_u64("11", 1, 10, &v));      /* above HI */
    ck_assert(!util_parse_u64("65536", 0, 65535, &v));
    ck_assert(!util_parse_u64("2", 1, 1, &v));
    ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_parse_size_bounds)
{
    size_t b = 1;
    size_t top_k = SIZE_MAX >> 10;
    char text[32];

    snprintf(text, sizeof(text), "%zuk", top_k);
    ck_assert(util_parse_size(text, &b) && b == top_k << 10);
    snprintf(text, sizeof(text), "%zuk", top_k + 1);
    ck_assert(!util_parse_size(text, &b));
    snprintf(text, sizeof(text), "%zum", (SIZE_MAX >> 20) + 1);
    ck_assert(!util_parse_size(text, &b));
    snprintf(text, sizeof(text), "%zug", (SIZE_MAX >> 30) + 1);
    ck_assert(!util_parse_size(text, &b));
    ck_assert(util_parse_size("18446744073709551615", &b));
    ck_assert(b == (size_t)UINT64_MAX);
    b = 1;
    ck_assert(!util_parse_size("18446744073709551616", &b));
    ck_assert(!util_parse_size("18014398509481984k", &b));
    ck_assert(!util_parse_size("99999999999999999999999", &b));
    ck_assert_uint_eq(b, 1);
}
END_TEST

START_TEST(test_parse_double_bounds)
{
    double d = 7.0;

    ck_assert(util_parse_double("1e308", &d) && d == 1e308);
    d = 7.0;
    ck_assert(!util_parse_double("1e400", &d));     /* ERANGE */
    ck_assert(!util_parse_double("-1e400", &d));
    ck_assert(d == 7.0);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_errf_no_buffer)
{
    /* a caller that wants no message passes NULL */
    ck_assert_int_eq(util_errf(-9, NULL, 0, "x %d", 1), -9);
    ck_assert_int_eq(util_errf(-9, NULL, 64, "x %d", 1), -9);
}
END_TEST

/* Readers over one C string, for refuse_all(); outputs go to v, neg,
 * size_out and d_out, which must stay untouched. */
static bool neg_out;
static size_t size_out;
static double d_out;

static bool
read_signed(const char *s)
{
    return util_scan_signed(s, strlen(s), &neg_out, &v);
}

static bool
read_u64(const char *s)
{
    return util_parse_u64(s, 0, UINT64_MAX, &v);
}

static bool
read_size(const char *s)
{
    return util_parse_size(s, &size_out);
}

static bool
read_double(const char *s)
{
    return util_parse_double(s, &d_out);
}

/* Every string of BAD (NULL-ended) is refused by READ; nothing written. */
static void
refuse_all(const char *const *bad, bool (*read)(const char *))
{
    size_t i;

    neg_out = false;
    size_out = 3;
    d_out = 7.0;
    for (i = 0; bad[i] != NULL; i++) {
        ck_assert_msg(!read(bad[i]), "accepted '%s'", bad[i]);
    }
    ck_assert_uint_eq(v, UNTOUCHED);
    ck_assert(!neg_out && size_out == 3 && d_out == 7.0);
}

START_TEST(test_scan_u64_refuses)
{
    static const char *const bad[] = {
        "", " ", "\t\r\n", "-1", "+1", "-0", "5a", "1.5", "x", "0x10",
        "1-", "12,", " -", "\x80" "1", NULL,
    };

    refuse_all(bad, scan);
    ck_assert(!util_scan_u64("7", 0, &v));            /* N == 0 */
    ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_scan_signed_refuses)
{
    static const char *const bad[] = {
        "", " ", "-", "+", "--1", "+-1", "- 1", "1-", "5a", "1.0", "x",
        "0x1", NULL,
    };

    refuse_all(bad, read_signed);
}
END_TEST

START_TEST(test_parse_u64_refuses)
{
    static const char *const bad[] = {
        "", " 1", "1 ", "+1", "-1", "-0", "1k", "0x1", "1.0", "one", NULL,
    };

    refuse_all(bad, read_u64);
    ck_assert(!util_parse_u64(NULL, 0, UINT64_MAX, &v));
    ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_parse_size_refuses)
{
    static const char *const bad[] = {
        "", "k", "1kb", "1kk", "1t", "1b", "-1", "+1", " 1", "1 ", "1.5m",
        "m1", NULL,
    };

    refuse_all(bad, read_size);
    ck_assert(!util_parse_size(NULL, &size_out));
    ck_assert_uint_eq(size_out, 3);
}
END_TEST

START_TEST(test_parse_double_refuses)
{
    static const char *const bad[] = { "", "abc", "1.5x", "1.5 ", "1,5",
                                       ".", "e5", NULL };

    refuse_all(bad, read_double);
    ck_assert(!util_parse_double(NULL, &d_out));
    ck_assert(d_out == 7.0);
}
END_TEST

static Suite *
util_suite(void)
{
    Suite *su = suite_create("util");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_errf);
    tcase_add_test(core, test_scan_u64);
    tcase_add_test(core, test_scan_signed);
    tcase_add_test(core, test_parse_u64);
    tcase_add_test(core, test_parse_size);
    tcase_add_test(core, test_parse_double);
    suite_add_tcase(su, core);
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_errf_truncates);
    tcase_add_test(limits, test_scan_u64_bounds);
    tcase_add_test(limits, test_scan_signed_bounds);
    tcase_add_test(limits, test_parse_u64_bounds);
    tcase_add_test(limits, test_parse_size_bounds);
    tcase_add_test(limits, test_parse_double_bounds);
    suite_add_tcase(su, limits);
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_errf_no_buffer);
    tcase_add_test(errors, test_scan_u64_refuses);
    tcase_add_test(errors, test_scan_signed_refuses);
    tcase_add_test(errors, test_parse_u64_refuses);
    tcase_add_test(errors, test_parse_size_refuses);
    tcase_add_test(errors, test_parse_double_refuses);
    suite_add_tcase(su, errors);
    return su;
}

int
main(void)
{
    SRunner *sr = srunner_create(util_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
