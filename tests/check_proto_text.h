/*
 * check_proto_text.h -- shared by the two files of check_proto_text:
 * check_proto_text.c (core, errors) and check_proto_text_limits.c
 * (limits, fuzzing). Test-only.
 */
#ifndef EMBER_CHECK_PROTO_TEXT_H
#define EMBER_CHECK_PROTO_TEXT_H

#include "daemon/proto.h"

#include <check.h>
#include <stddef.h>

#define KEY_MAX 250
#define ITEM_MAX (1024 * 1024)
#define LINE_MAX_ 2048
#define GET_LINE_MAX (2 * 1024 * 1024)

/* The limits every parse uses; the fixture resets them per test. */
extern struct proto_limits lim;

/* A request's fields with its pointers turned into offsets, so results
 * from different copies of the same bytes can be compared. */
struct view {
    int rc;
    struct request req;
    size_t consumed;
    ptrdiff_t key, keys, value, arg;
};

/* Fixture: default limits; frees the last parsed copy. */
void setup(void);
void teardown(void);

/* Put the default limits back (a test may tighten them). */
void default_limits(void);

/* Parse an exact-size heap copy of IN[0..LEN) (or of the string IN); the
 * copy lives until the next call, so REQ's pointers stay checkable. */
int parse_n(const char *in, size_t len, struct request *req,
            size_t *consumed);
int parse_s(const char *in, struct request *req, size_t *consumed);

/* The copy the last parse_n() worked on. */
const char *last_copy(void);

/* Parse IN[0..LEN) into a struct view. */
struct view view_of(const char *in, size_t len);

/* Every field of A and B is equal. */
void assert_same(const struct view *a, const struct view *b);

/* Every proper prefix of IN[0..LEN) gives NEED_MORE with nothing
 * consumed and need either 0 or TOTAL. */
void assert_prefixes_need_more(const char *in, size_t len, size_t total);

/* Register the limits tests and the fuzz tests on a TCase. */
void add_limit_tests(TCase *tc);
void add_fuzz_tests(TCase *tc);
void add_piece_tests(TCase *tc);

#endif /* EMBER_CHECK_PROTO_TEXT_H */
