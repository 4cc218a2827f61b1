/*
 * check_embersnap.h -- shared by the files of check_embersnap:
 * check_embersnap.c (fixture, core), check_embersnap_damage.c (errors,
 * limits), check_embersnap_pages.c (damaged LMDB pages, the real binary)
 * and check_embersnap_journal.c (the journal). Test-only.
 */
#ifndef EMBER_CHECK_EMBERSNAP_H
#define EMBER_CHECK_EMBERSNAP_H

#include "tools/embersnap/embersnap.h"

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define NOW 1700000000
#define NDOCS 5
#define DAY 86400

/* The fixture's state; reset by setup() for every test. */
struct fx {
    char dir[64];
    char *out, *err;          /* output of the last run() */
    size_t nout, nerr;
    struct snapfmt_meta meta; /* what the fixture wrote */
    char docs[NDOCS][512];    /* values of doc:0..doc:4 */
    size_t ndoc[NDOCS];
};

extern struct fx fx;

/* Fixture: a fresh directory holding the known data set (10 records:
 * user:1..3, session:abc (expired), plain, doc:0..4 with a dictionary). */
void setup(void);
void teardown(void);

/* Run `embersnap ARGS...` (NULL-terminated) at NOW; "@" is fx.dir.
 * Output lands in fx.out / fx.err. Returns the exit status. */
int run(const char *a0, ...);

unsigned count_lines(const char *s);
uint64_t rnd(uint64_t *s);

/* Encode and put one item with codec C, adding it to fx.meta. */
void put_item(struct snapfmt_txn *txn, struct snapfmt_codec *c,
              const char *key, const void *val, size_t n, uint32_t flags,
              uint32_t exptime, uint64_t cas);

/* put_item() without Check macros, for a child that may be killed. */
bool try_put_item(struct snapfmt_txn *txn, struct snapfmt_codec *c,
                  const char *key, const void *val, size_t n, uint32_t flags,
                  uint32_t exptime, uint64_t cas);

/* Replace the record of KEY by what EDIT makes of a copy of it. */
void edit_record(const char *key,
                 void (*edit)(unsigned char *rec, size_t *n));

/* Open the fixture read-write for a raw change; commit with done(). */
struct snapfmt_txn *begin_rw(struct snapfmt_env **e);
void done(struct snapfmt_env **e, struct snapfmt_txn *txn);

/* A one-connection memcached-protocol server on a loopback port that
 * answers STORED to every set (NOT_STORED for key REFUSE). */
struct srv {
    int lfd;
    int port;
    pthread_t th;
    char *got;                /* every byte received; caller frees */
    size_t ngot;
    const char *refuse;
    bool silent;              /* read everything, answer nothing */
};

void srv_start(struct srv *s);
/* Wait for the client to hang up and close the listener. */
void srv_stop(struct srv *s);

/* `load` into a struct srv sends exactly what `dump --format=memcached`
 * writes; load's summary is left in fx.out. */
void load_matches_dump(void);

#define HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, \
                                  "missing '%s' in:\n%s", (sub), (s))
#define HASNT(s, sub) ck_assert_msg(strstr((s), (sub)) == NULL, \
                                    "unexpected '%s' in:\n%s", (sub), (s))

/* Register the errors and limits tests (check_embersnap_damage.c). */
void add_error_tests(TCase *tc);
void add_limit_tests(TCase *tc);
/* Damaged LMDB pages under the real binary (check_embersnap_pages.c). */
void add_page_tests(TCase *errors, TCase *limits);
/* The journal beside the snapshot (check_embersnap_journal.c). */
void add_journal_tests(TCase *core, TCase *errors);

#endif /* EMBER_CHECK_EMBERSNAP_H */
