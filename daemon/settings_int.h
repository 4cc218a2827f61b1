/*
 * settings_int.h -- what settings.c and settings_table.c share (daemon/
 * settings*.c only; the rest of the daemon uses settings.h).
 */
#ifndef EMBER_SETTINGS_INT_H
#define EMBER_SETTINGS_INT_H

#include <stddef.h>

#include "daemon/settings.h"

/* Most entries the table may have (one bit each in ignored_seen). */
#define SETTINGS_OPT_MAX 64

/* The table, in -h order; settings_noptions entries. */
extern const struct settings_opt settings_options[];
extern const size_t settings_noptions;

/*
 * memcached -o words that only tune machinery ember does differently (or
 * not at all): accepted and ignored. NULL-ended.
 */
extern const char *const settings_ignored_words[];

#endif /* EMBER_SETTINGS_INT_H */
