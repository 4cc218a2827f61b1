/*
 * check_snapfmt.h -- shared by the files of check_snapfmt: check_snapfmt.c
 * (fixture, codec, environment) and check_snapfmt_damage.c (damaged
 * bytes read from a snapshot). Test-only.
 */
#ifndef EMBER_CHECK_SNAPFMT_H
#define EMBER_CHECK_SNAPFMT_H

#include <check.h>

/* The fixture's directory: fresh and empty for every test. */
const char *snapfmt_fx_dir(void);

/* Register the tests of check_snapfmt_damage.c in ERRORS. */
void add_damage_tests(TCase *errors);

#endif /* EMBER_CHECK_SNAPFMT_H */
