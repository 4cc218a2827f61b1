/*
 * check_journal.h -- the parts of tests/check_journal: the format
 * (check_journal.c), the writer and replay through the snapshot layer
 * (check_journal_io.c) and a takeover's journal (check_journal_takeover.c),
 * which add their tests to the same TCases.
 */
#ifndef EMBER_CHECK_JOURNAL_H
#define EMBER_CHECK_JOURNAL_H

#include <check.h>

#define STORE_KEY_MAX_T 250     /* storage's key limit, without store.h */

/* In a child process (no Check macro there): exit with a status that
 * names the failed step. */
#define CHILD_CHECK(cond, code) \
    do { \
        if (!(cond)) { \
            _exit(code); \
        } \
    } while (0)

void journal_test_core(TCase *tc);
void journal_test_takeover(TCase *tc);
void journal_test_limits(TCase *tc);
void journal_test_errors(TCase *tc);

/* check_journal_io.c's fixture, for check_journal_takeover.c: the
 * settings of a fresh snapshot directory per test (journal on, fsync no,
 * no precheck, interval 0, log captured) and what was logged. */
struct snap_settings;
const struct snap_settings *jfix_settings(void);
const char *jfix_log(void);

#endif /* EMBER_CHECK_JOURNAL_H */
