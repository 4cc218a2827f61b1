/*
 * fmt_fixture.h -- test-only helpers on the snapshot format API, shared
 * by check_snapfmt and check_snapshot (both link libsnapfmt.a).
 */
#ifndef EMBER_FMT_FIXTURE_H
#define EMBER_FMT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Find, by experiment, the map size at which a new snapshot environment
 * in DIR has room for the put of its first meta key (cas_reserved) but
 * not for the pages the commit itself allocates (LMDB's main database
 * and free list): a write transaction there gets SNAPFMT_EMAPFULL from
 * the commit, not from the put. Tries maps of 2..64 pages, each in a
 * fresh environment, and fails the test when none behaves so. DIR holds
 * no snapshot afterwards. Uses Check macros.
 */
size_t fmt_fixture_commit_full_map(const char *dir);

/*
 * Replace the record of KEY in the snapshot in DIR by what EDIT makes of
 * a copy of it (EDIT may shorten it through *N), in one committed write
 * transaction. The format layer does not check records on put, so this
 * is how tests damage one. Uses Check macros.
 */
void fmt_fixture_edit_record(const char *dir, const char *key,
                             void (*edit)(unsigned char *rec, size_t *n));

/* Store V little-endian in P[0..4). */
void fmt_fixture_put32(unsigned char *p, uint32_t v);

/*
 * Recompute the record checksum (rcheck, bytes 36..39) of record REC (N
 * bytes) under KEY as the spec defines it (docs/SNAPSHOT-FORMAT.md), so
 * that a test can damage what lies behind it and still get past it.
 */
void fmt_fixture_reseal(const char *key, unsigned char *rec, size_t n);

/* Remove PATH and everything under it (absent is fine). */
void fmt_fixture_rmtree(const char *path);

/* Remove DIR/data.mdb and DIR/lock.mdb (absent is fine). */
void fmt_fixture_remove(const char *dir);

#endif /* EMBER_FMT_FIXTURE_H */
