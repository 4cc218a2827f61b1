/*
 * settings.h -- emberd's command line, parsed once in main().
 *
 * Layer: daemon-private; depends on libc only. The rest of the daemon gets
 * a `const struct settings *` and never changes it.
 *
 * Invariants
 *  - After settings_parse() returned SETTINGS_OK every field is within the
 *    bounds documented beside it; no caller re-validates.
 *  - String fields are borrowed from argv (valid for the whole process) or
 *    point at string literals; nothing here is freed.
 *  - The option letters and meanings are memcached's, so an existing
 *    memcached unit file or /etc/memcached.conf starts emberd unchanged.
 */
#ifndef EMBER_SETTINGS_H
#define EMBER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum settings_rc {
    SETTINGS_OK = 0,
    SETTINGS_EXIT = 1,      /* -h or -V printed; exit 0 */
    SETTINGS_EUSAGE = -1,   /* bad option or value; message printed */
};

/* The shortest -I emberd accepts, and the largest (as memcached). */
#define SETTINGS_ITEM_SIZE_MIN 1024u
#define SETTINGS_ITEM_SIZE_MAX (1024u * 1024u * 1024u)

enum settings_on_corrupt {
    SETTINGS_CORRUPT_FAIL = 0,    /* refuse to start (default) */
    SETTINGS_CORRUPT_COLD,        /* move aside, start empty */
};

struct settings {
    /* network */
    unsigned port;              /* -p, 1..65535 (0: no TCP) */
    unsigned udp_port;          /* -U, accepted; UDP is not served */
    const char *listen;         /* -l, comma-separated addresses */
    unsigned max_conns;         /* -c, >= 1 */
    unsigned backlog;           /* -b, >= 1 */
    unsigned reqs_per_event;    /* -R, >= 1: requests per connection per
                                 * event before yielding (fairness) */
    unsigned idle_timeout;      /* -o idle_timeout=N seconds, 0 = never */

    /* threads and memory */
    unsigned threads;           /* -t, 1..256 */
    size_t mem_limit;           /* -m, bytes */
    size_t item_size_max;       /* -I, bytes, within the bounds above */
    double growth_factor;       /* -f, > 1.0 */
    unsigned hash_power;        /* -o hashpower=N, 0 = store default */
    unsigned ext_ignored;       /* memcached -o words accepted, ignored */

    /* behaviour */
    int verbosity;              /* -v count, 0..2 */
    bool allow_shutdown;        /* -A */
    bool flush_disabled;        /* -F */
    bool cas_disabled;          /* -C */
    bool no_evict;              /* -M */

    /* process */
    bool daemonize;             /* -d */
    const char *pidfile;        /* -P, NULL = none */
    const char *user;           /* -u, NULL = stay who we are */

    /* persistence (snapshot/snapshot.h) */
    const char *snapshot_dir;   /* --snapshot-dir, NULL = pure cache */
    unsigned snapshot_interval; /* --snapshot-interval seconds, 0 = only
                                 * on demand and at shutdown */
    int snapshot_compression;   /* --snapshot-compression zstd level */
    unsigned snapshot_max_age;  /* --snapshot-max-age seconds, 0 = any */
    enum settings_on_corrupt snapshot_on_corrupt;
};

/* Fill S with memcached's defaults (port 11211, 64 MB, 1024 conns, ...). */
void settings_default(struct settings *s);

/*
 * Parse ARGV into S (which must hold the defaults first). Messages for
 * -h/-V go to OUT, errors and -v notes about ignored options to ERR.
 * Returns SETTINGS_OK, SETTINGS_EXIT (help/version shown) or
 * SETTINGS_EUSAGE (a one-line reason was printed to ERR; exit 64).
 * Never exits, never aborts, whatever ARGV holds.
 * Ownership: strings in S borrow from ARGV. Thread: main, before threads
 * exist (getopt_long keeps global state). Blocks: never.
 */
int settings_parse(struct settings *s, int argc, char **argv, FILE *out,
                   FILE *err);

/*
 * Parse a size with an optional k/m/g suffix (case-insensitive) into
 * *bytes. Returns true on success, false on junk or overflow.
 */
bool settings_parse_size(const char *text, size_t *bytes);

#endif /* EMBER_SETTINGS_H */
