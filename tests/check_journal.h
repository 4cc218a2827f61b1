/*
 * check_journal.h -- the two halves of tests/check_journal: the format
 * (check_journal.c) and the writer and replay through the snapshot layer
 * (check_journal_io.c), which adds its tests to the same TCases.
 */
#ifndef EMBER_CHECK_JOURNAL_H
#define EMBER_CHECK_JOURNAL_H

#include <check.h>

#define STORE_KEY_MAX_T 250     /* storage's key limit, without store.h */

void journal_test_core(TCase *tc);
void journal_test_limits(TCase *tc);
void journal_test_errors(TCase *tc);

#endif /* EMBER_CHECK_JOURNAL_H */
