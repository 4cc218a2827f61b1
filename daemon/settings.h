/*
 * settings.h -- emberd's command line, parsed once in main().
 *
 * Layer: daemon-private; depends on libc and util/ only. The rest of the
 * daemon gets a `const struct settings *` and never changes it.
 *
 * Invariants
 *  - After settings_parse() returned SETTINGS_OK every field is within the
 *    bounds documented beside it; no caller re-validates.
 *  - String fields are borrowed from argv (valid for the whole process),
 *    from the --config file's words (valid until settings_release()) or
 *    point at string literals.
 *  - The option letters and meanings are memcached's, so an existing
 *    memcached unit file starts emberd unchanged, and so does Debian's
 *    /etc/memcached.conf through --config (daemon/conffile.h).
 *  - One table (settings_table.c, settings_table()) describes every
 *    option:
 *    getopt_long's arrays, the -h text, each value's validation and
 *    message, the defaults and the `stats settings` lines are all derived
 *    from it. Adding an option is one table entry plus its field below.
 */
#ifndef EMBER_SETTINGS_H
#define EMBER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct settings_conf;

enum settings_rc {
    SETTINGS_OK = 0,
    SETTINGS_EXIT = 1,      /* -h or -V printed; exit 0 */
    SETTINGS_EUSAGE = -1,   /* bad option or value; message printed */
};

/* The shortest -I emberd accepts, and the largest (as memcached). */
#define SETTINGS_ITEM_SIZE_MIN 1024u
#define SETTINGS_ITEM_SIZE_MAX (1024u * 1024u * 1024u)

enum settings_on_corrupt {
    SETTINGS_CORRUPT_FAIL = 0,    /* refuse to start */
    SETTINGS_CORRUPT_COLD,        /* move aside, start empty */
    SETTINGS_CORRUPT_SALVAGE,     /* load what verifies (default) */
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
    const char *unix_socket;    /* -s, 1..107 bytes: listen there and
                                 * not on TCP (as memcached); NULL: TCP */
    unsigned unix_mask;         /* -a, 0..0777: the socket's mode */

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
    bool dump_disabled;         /* -X: no cachedump, no metadump */

    /* process */
    bool daemonize;             /* -d */
    const char *log_file;       /* --log-file, NULL = stderr */
    const char *pidfile;        /* -P, NULL = none */
    const char *user;           /* -u, NULL = stay who we are */
    bool max_core;              /* -r: raise RLIMIT_CORE to its maximum */
    const char *config_file;    /* --config, NULL = none */
    unsigned long long ignored_seen;  /* bit per table entry: a
                                 * SETTINGS_IGNORE option was warned of */
    struct settings_conf *conf; /* owned: --config's words (strings
                                 * above may point there); freed by
                                 * settings_release() */

    /* persistence (snapshot/snapshot.h) */
    const char *snapshot_dir;   /* --snapshot-dir, NULL = pure cache */
    unsigned snapshot_interval; /* --snapshot-interval seconds, 0 = only
                                 * on demand and at shutdown */
    int snapshot_compression;   /* --snapshot-compression zstd level */
    unsigned snapshot_max_age;  /* --snapshot-max-age seconds, 0 = any */
    int snapshot_on_corrupt;    /* --snapshot-on-corrupt, an enum
                                 * settings_on_corrupt */
    int journal_off;            /* --journal: 0 on (default), 1 off */
    int journal_fsync;          /* --journal-fsync, an enum snap_fsync */
    size_t journal_max;         /* --journal-max bytes, 0 = derived */
    bool takeover;              /* --takeover: from the emberd serving */
                                /* snapshot_dir (which is then set) */
};

/*
 * What an option's value is, and so how it is read, checked, stored and
 * shown. MIN and MAX are struct settings_opt's bounds; the field type is
 * the one named (the table checks it at compile time).
 */
enum settings_kind {
    SETTINGS_FLAG,      /* no value; bool field becomes true */
    SETTINGS_COUNT,     /* no value; int field counts up to MAX (-v -v) */
    SETTINGS_UINT,      /* decimal in [MIN, MAX]; unsigned field */
    SETTINGS_INT,       /* decimal in [MIN, MAX]; int field */
    SETTINGS_MB,        /* megabytes in [MIN, MAX]; size_t field, bytes */
    SETTINGS_SIZE,      /* bytes, k/m/g suffix, in [MIN, MAX]; size_t */
    SETTINGS_FACTOR,    /* real number, MIN < x <= MAX; double field */
    SETTINGS_STR,       /* text of MIN..MAX bytes (MAX 0: no limit);
                         * const char * */
    SETTINGS_OCTAL,     /* octal digits, at most MAX; unsigned field */
    SETTINGS_IGNORE,    /* memcached's option ember does not use: taken
                         * (with a value when ARG is set), one warning
                         * "WHY; ignored" to ERR, nothing stored */
    SETTINGS_WORD,      /* one of WORDS; int field = its index */
    SETTINGS_EXT,       /* -o: comma-separated NAME[=VALUE] words, each an
                         * entry with EXT set (or an ignored memcached
                         * word) */
    SETTINGS_HELP,      /* print the -h text; SETTINGS_EXIT */
    SETTINGS_VERSION,   /* print the version; SETTINGS_EXIT */
    SETTINGS_STAT,      /* no option: a `stats settings` line whose value
                         * is DEF (memcached's fields ember has no use for) */
};

/*
 * One row of the option table. Strings are literals. Only the members a
 * kind uses are set; the rest are zero.
 */
struct settings_opt {
    int letter;             /* short option letter; 0: long only */
    const char *name;       /* long option (--NAME), or the -o word when
                             * EXT; NULL for SETTINGS_STAT */
    bool ext;               /* an -o NAME=VALUE word, not a flag */
    enum settings_kind kind;
    size_t off;             /* offsetof(struct settings, its field) */
    unsigned long long min, max;
    const char *def;        /* default as it would be typed ("1m"), or the
                             * constant of SETTINGS_STAT; NULL: zero */
    const char *const *words;   /* SETTINGS_WORD: the values (NULL-ended);
                             * SETTINGS_FLAG: how `stats settings` shows
                             * false and true */
    const char *why;        /* what a bad value gets: "emberd: invalid value
                             * 'V' for -p: WHY" */
    const char *arg;        /* the value's name in -h; NULL: no value */
    const char *help;       /* -h text; each "\n" starts an indented line,
                             * "%D" stands for DEF; NULL: not listed */
    const char *stat;       /* `stats settings` name; NULL: not shown */
    unsigned stat_pos;      /* its line there, from 1 (memcached's order) */
};

/*
 * The option table: *N entries, in -h order. Static; valid for the whole
 * process. Thread: any. Blocks: never.
 */
const struct settings_opt *settings_table(size_t *n);

/*
 * How messages name option O: "-p", "--snapshot-dir" or "-o hashpower",
 * into BUF (CAP bytes); returns BUF. Thread: any. Blocks: never.
 */
const char *settings_opt_label(const struct settings_opt *o, char *buf,
                               size_t cap);

/*
 * Fill S with the defaults of the table (memcached's: port 11211, 64 MB,
 * 1024 connections, ...). Thread: any. Blocks: never.
 */
void settings_default(struct settings *s);

/*
 * Parse ARGV into S (which must hold the defaults first). With
 * --config=FILE, FILE's options (daemon/conffile.h) come first and the
 * command line's after them, so the command line wins. Messages for
 * -h/-V go to OUT; errors (naming the file and line of a bad option
 * from FILE) and one warning per memcached option ember ignores, to ERR.
 * Returns SETTINGS_OK, SETTINGS_EXIT (help/version shown) or
 * SETTINGS_EUSAGE (a one-line reason was printed to ERR; exit 64).
 * Never exits, never aborts, whatever ARGV holds.
 * Ownership: strings in S borrow from ARGV and the file (see
 * settings_release()). Thread: main, before threads exist (getopt_long
 * keeps global state). Blocks: reads FILE.
 */
int settings_parse(struct settings *s, int argc, char **argv, FILE *out,
                   FILE *err);

/*
 * Free what settings_parse() allocated for --config (S's strings that
 * came from the file dangle afterwards). No-op without it.
 * Thread: main. Blocks: never.
 */
void settings_release(struct settings *s);

/* Receives one `stats settings` line: NAME and VALUE are borrowed for the
 * call only. */
typedef void (*settings_stat_fn)(void *arg, const char *name,
                                 const char *value);

/*
 * Call FN once per `stats settings` line of S, in memcached's order
 * (struct settings_opt.stat_pos), without the final END.
 * Thread: any (S is read only). Blocks: never.
 */
void settings_stats(const struct settings *s, settings_stat_fn fn,
                    void *arg);

#endif /* EMBER_SETTINGS_H */
