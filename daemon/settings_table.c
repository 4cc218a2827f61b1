/*
 * settings_table.c -- the option table of emberd (settings.h explains
 * each member of an entry); settings.c derives getopt_long's arrays,
 * -h, validation, defaults and `stats settings` from it. Data only.
 */
#include "config.h"

#include "daemon/settings.h"
#include "daemon/settings_int.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/*
 * offsetof(struct settings, FIELD), refused at compile time unless FIELD
 * has type T: the kind of an entry decides how its field is written.
 */
#define AT(field, T)                                                      \
    (offsetof(struct settings, field) +                                   \
     0 * sizeof(char[_Generic(((struct settings *)0)->field, T: 1,        \
                              default: -1)]))

static const char *const on_corrupt_words[] = { "fail", "cold", "salvage",
                                                 NULL };
static const char *const on_off_words[] = { "on", "off", NULL };
/* in enum snap_fsync's order (snapshot/snapshot.h) */
static const char *const fsync_words[] = { "everysec", "always", "no",
                                           NULL };
/* How `stats settings` shows a flag: [false], [true]. */
static const char *const yes_when_set[] = { "no", "yes", NULL };
static const char *const no_when_set[] = { "yes", "no", NULL };
static const char *const off_when_set[] = { "on", "off", NULL };

/*
 * The table, in -h order. STAT_POS orders `stats settings` as memcached
 * 1.6.18 does, so that exporters find every field where they expect it.
 * The -o help text names the -o words by hand: keep it in step.
 */
const struct settings_opt settings_options[] = {
    { .letter = 'p', .name = "port", .kind = SETTINGS_UINT,
      .off = AT(port, unsigned), .max = 65535, .def = "11211",
      .why = "expected a port 0..65535", .arg = "PORT",
      .help = "TCP port (default %D)", .stat = "tcpport", .stat_pos = 3 },
    { .letter = 'U', .name = "udp-port", .kind = SETTINGS_UINT,
      .off = AT(udp_port, unsigned), .max = 65535,
      .why = "expected a port 0..65535", .arg = "PORT",
      .help = "accepted; UDP is not served (0 = off)" },
    { .letter = 'l', .name = "listen", .kind = SETTINGS_STR,
      .off = AT(listen, const char *), .min = 1, .def = "127.0.0.1",
      .why = "empty address", .arg = "ADDR[,ADDR]",
      .help = "addresses to listen on (default %D)", .stat = "inter",
      .stat_pos = 5 },
    { .letter = 'm', .name = "memory-limit", .kind = SETTINGS_MB,
      .off = AT(mem_limit, size_t), .min = 1, .max = SIZE_MAX >> 20,
      .def = "64", .why = "expected megabytes >= 1", .arg = "MB",
      .help = "item memory in megabytes (default %D)", .stat = "maxbytes",
      .stat_pos = 1 },
    { .letter = 'c', .name = "conn-limit", .kind = SETTINGS_UINT,
      .off = AT(max_conns, unsigned), .min = 1, .max = 1u << 20,
      .def = "1024", .why = "expected 1..1048576", .arg = "N",
      .help = "max simultaneous connections (default %D)",
      .stat = "maxconns", .stat_pos = 2 },
    { .letter = 't', .name = "threads", .kind = SETTINGS_UINT,
      .off = AT(threads, unsigned), .min = 1, .max = 256, .def = "4",
      .why = "expected 1..256 threads", .arg = "N",
      .help = "worker threads (default %D)", .stat = "num_threads",
      .stat_pos = 13 },
    { .letter = 'I', .name = "max-item-size", .kind = SETTINGS_SIZE,
      .off = AT(item_size_max, size_t), .min = SETTINGS_ITEM_SIZE_MIN,
      .max = SETTINGS_ITEM_SIZE_MAX, .def = "1m", .why = "expected 1k..1g",
      .arg = "SIZE", .help = "largest item, k/m suffix (default %D)",
      .stat = "item_size_max", .stat_pos = 19 },
    /* finer than memcached's 1.25: less slack */
    { .letter = 'f', .name = "slab-growth-factor", .kind = SETTINGS_FACTOR,
      .off = AT(growth_factor, double), .min = 1, .max = 10, .def = "1.08",
      .why = "expected a factor > 1.0", .arg = "F",
      .help = "size class factor (default %D)", .stat = "growth_factor",
      .stat_pos = 12 },
    { .letter = 'b', .name = "listen-backlog", .kind = SETTINGS_UINT,
      .off = AT(backlog, unsigned), .min = 1, .max = INT_MAX, .def = "1024",
      .why = "expected a backlog >= 1", .arg = "N",
      .help = "listen backlog (default %D)", .stat = "tcp_backlog",
      .stat_pos = 16 },
    { .letter = 'R', .name = "max-reqs-per-event", .kind = SETTINGS_UINT,
      .off = AT(reqs_per_event, unsigned), .min = 1, .max = INT_MAX,
      .def = "20", .why = "expected a number >= 1", .arg = "N",
      .help = "requests per connection before yielding\n"
              "to others (default %D)",
      .stat = "reqs_per_event", .stat_pos = 14 },
    { .letter = 'v', .name = "verbose", .kind = SETTINGS_COUNT,
      .off = AT(verbosity, int), .max = 2,
      .help = "log more: -v each snapshot and more,\n"
              "-vv also every connection and command",
      .stat = "verbosity",
      .stat_pos = 6 },
    { .letter = 'd', .name = "daemon", .kind = SETTINGS_FLAG,
      .off = AT(daemonize, bool), .help = "run in the background" },
    { .name = "log-file", .kind = SETTINGS_STR,
      .off = AT(log_file, const char *), .min = 1, .why = "empty path",
      .arg = "FILE", .help = "log to FILE (appended; reopened on SIGHUP)\n"
                             "instead of stderr" },
    { .letter = 'P', .name = "pidfile", .kind = SETTINGS_STR,
      .off = AT(pidfile, const char *), .arg = "FILE",
      .help = "write the process id to FILE" },
    { .letter = 'u', .name = "user", .kind = SETTINGS_STR,
      .off = AT(user, const char *), .arg = "USER",
      .help = "drop root privileges to USER" },
    { .letter = 's', .name = "unix-socket", .kind = SETTINGS_STR,
      .off = AT(unix_socket, const char *), .min = 1, .max = 107,
      .why = "expected a socket path of 1..107 bytes", .arg = "PATH",
      .help = "listen on this unix socket instead of\n"
              "TCP (as memcached, -p and -l are unused)",
      .stat = "domain_socket", .stat_pos = 9 },
    { .letter = 'a', .name = "unix-mask", .kind = SETTINGS_OCTAL,
      .off = AT(unix_mask, unsigned), .max = 0777, .def = "0700",
      .why = "expected an octal mode 0..0777", .arg = "MODE",
      .help = "permissions of the -s socket (default %D)",
      .stat = "umask", .stat_pos = 10 },
    { .letter = 'r', .name = "enable-coredumps", .kind = SETTINGS_FLAG,
      .off = AT(max_core, bool),
      .help = "raise the core file size limit to its\n"
              "maximum" },
    /* memcached's, accepted so a memcached.conf starts; one warning */
    { .letter = 'k', .name = "lock-memory", .kind = SETTINGS_IGNORE,
      .why = "not supported (locking would pin the snapshot's LMDB map "
             "too)",
      .help = "accepted for memcached, ignored" },
    { .letter = 'L', .name = "enable-largepages", .kind = SETTINGS_IGNORE,
      .why = "large pages are not used",
      .help = "accepted for memcached, ignored" },
    { .letter = 'e', .name = "memory-file", .kind = SETTINGS_IGNORE,
      .arg = "FILE",
      .why = "memcached's restartable memory file is not used (ember "
             "persists with --snapshot-dir)",
      .help = "accepted for memcached, ignored" },
    { .name = "config", .kind = SETTINGS_STR,
      .off = AT(config_file, const char *), .min = 1, .arg = "FILE",
      .why = "expected a readable file",
      .help = "read options from FILE first, in Debian's\n"
              "/etc/memcached.conf format (the command\n"
              "line overrides it)" },
    { .letter = 'A', .name = "enable-shutdown", .kind = SETTINGS_FLAG,
      .off = AT(allow_shutdown, bool), .words = yes_when_set,
      .help = "allow the 'shutdown' command", .stat = "shutdown_command",
      .stat_pos = 11 },
    { .letter = 'F', .name = "disable-flush-all", .kind = SETTINGS_FLAG,
      .off = AT(flush_disabled, bool), .words = no_when_set,
      .help = "refuse 'flush_all'", .stat = "flush_enabled",
      .stat_pos = 21 },
    { .letter = 'X', .name = "disable-dumping", .kind = SETTINGS_FLAG,
      .off = AT(dump_disabled, bool), .words = no_when_set,
      .help = "refuse 'stats cachedump' and\n"
              "'lru_crawler metadump' (key listings)",
      .stat = "dump_enabled", .stat_pos = 22 },
    { .letter = 'C', .name = "disable-cas", .kind = SETTINGS_FLAG,
      .off = AT(cas_disabled, bool), .words = no_when_set,
      .help = "do not use CAS values", .stat = "cas_enabled",
      .stat_pos = 15 },
    { .letter = 'M', .name = "disable-evictions", .kind = SETTINGS_FLAG,
      .off = AT(no_evict, bool), .words = off_when_set,
      .help = "reply an error when full, do not evict", .stat = "evictions",
      .stat_pos = 8 },
    { .letter = 'o', .name = "extended", .kind = SETTINGS_EXT,
      .arg = "OPT[,OPT]",
      .help = "idle_timeout=N, hashpower=N; memcached's\n"
              "other tuning words are accepted, ignored" },
    { .name = "idle_timeout", .ext = true, .kind = SETTINGS_UINT,
      .off = AT(idle_timeout, unsigned), .max = UINT_MAX,
      .why = "expected seconds", .stat = "idle_timeout", .stat_pos = 23 },
    { .name = "hashpower", .ext = true, .kind = SETTINGS_UINT,
      .off = AT(hash_power, unsigned), .min = 12, .max = 32,
      .why = "expected 12..32", .stat = "hashpower_init", .stat_pos = 20 },
    { .name = "snapshot-dir", .kind = SETTINGS_STR,
      .off = AT(snapshot_dir, const char *), .min = 1, .why = "empty path",
      .arg = "DIR", .help = "persist to an LMDB snapshot in DIR and\n"
                            "reload it before serving (default: off)",
      .stat = "snapshot_dir", .stat_pos = 24 },
    { .name = "snapshot-interval", .kind = SETTINGS_UINT,
      .off = AT(snapshot_interval, unsigned), .max = 86400 * 7, .def = "60",
      .why = "expected 0..604800 seconds", .arg = "SECS",
      .help = "seconds between snapshots (default %D;\n"
              "0 = only on 'snapshot' and at shutdown)",
      .stat = "snapshot_interval", .stat_pos = 25 },
    { .name = "snapshot-compression", .kind = SETTINGS_INT,
      .off = AT(snapshot_compression, int), .max = 19, .def = "1",
      .why = "expected a zstd level 0..19", .arg = "N",
      .help = "zstd level 0..19, 0 = off (default %D)",
      .stat = "snapshot_compression", .stat_pos = 26 },
    { .name = "snapshot-max-age", .kind = SETTINGS_UINT,
      .off = AT(snapshot_max_age, unsigned), .max = UINT_MAX,
      .why = "expected seconds", .arg = "SECS",
      .help = "start cold (old snapshot kept aside) when\n"
              "the last snapshot is older (default: any)",
      .stat = "snapshot_max_age", .stat_pos = 27 },
    { .name = "snapshot-on-corrupt", .kind = SETTINGS_WORD,
      .off = AT(snapshot_on_corrupt, int), .words = on_corrupt_words,
      .def = "salvage", .why = "expected fail, cold or salvage",
      .arg = "fail|cold|salvage",
      .help = "on a damaged snapshot: refuse to\n"
              "start, move it aside and start empty, or\n"
              "load what verifies and move it aside\n"
              "(default %D)",
      .stat = "snapshot_on_corrupt", .stat_pos = 28 },
    { .name = "journal", .kind = SETTINGS_WORD,
      .off = AT(journal_off, int), .words = on_off_words, .def = "on",
      .why = "expected on or off", .arg = "on|off",
      .help = "journal every change between snapshots,\n"
              "so a crash loses nothing acknowledged\n"
              "(default %D)",
      .stat = "journal", .stat_pos = 29 },
    { .name = "journal-fsync", .kind = SETTINGS_WORD,
      .off = AT(journal_fsync, int), .words = fsync_words,
      .def = "everysec", .why = "expected always, everysec or no",
      .arg = "always|everysec|no",
      .help = "fsync the journal:\n"
              "before each reply, once a second (default),\n"
              "or never (the kernel writes it back)",
      .stat = "journal_fsync", .stat_pos = 30 },
    { .name = "journal-max", .kind = SETTINGS_SIZE,
      .off = AT(journal_max, size_t), .max = (size_t)1 << 40,
      .why = "expected a size up to 1024g", .arg = "SIZE",
      .help = "journal size that starts a snapshot early\n"
              "(default: max(64m, -m / 2))",
      .stat = "journal_max", .stat_pos = 31 },
    { .name = "takeover", .kind = SETTINGS_FLAG,
      .off = AT(takeover, bool),
      .help = "take the listening sockets and the data\n"
              "over from the emberd serving --snapshot-dir,\n"
              "with no moment without a listener" },
    { .letter = 'h', .name = "help", .kind = SETTINGS_HELP,
      .help = "this text" },
    { .letter = 'V', .name = "version", .kind = SETTINGS_VERSION,
      .help = "print the version" },
    /* memcached's fields that have one value in ember */
    { .kind = SETTINGS_STAT, .def = "0", .stat = "udpport", .stat_pos = 4 },
    { .kind = SETTINGS_STAT, .def = "0", .stat = "oldest", .stat_pos = 7 },
    { .kind = SETTINGS_STAT, .def = "ascii", .stat = "binding_protocol",
      .stat_pos = 17 },
    { .kind = SETTINGS_STAT, .def = "no", .stat = "auth_enabled_sasl",
      .stat_pos = 18 },
};

const size_t settings_noptions =
    sizeof(settings_options) / sizeof(settings_options[0]);

/* settings.ignored_seen has one bit per entry; getopt arrays are sized */
_Static_assert(sizeof(settings_options) / sizeof(settings_options[0]) <=
                   SETTINGS_OPT_MAX,
               "raise SETTINGS_OPT_MAX (at most 64: ignored_seen)");

/*
 * memcached -o words that only tune machinery ember does differently (or
 * not at all). They are accepted so existing configs keep working.
 */
const char *const settings_ignored_words[] = {
    "modern", "no_modern", "slab_reassign", "no_slab_reassign",
    "slab_automove", "slab_automove_ratio", "slab_automove_window",
    "slab_chunk_max", "lru_crawler", "no_lru_crawler", "lru_crawler_sleep",
    "lru_crawler_tocrawl", "lru_maintainer", "no_lru_maintainer",
    "hot_lru_pct", "warm_lru_pct", "hot_max_factor", "warm_max_factor",
    "temporary_ttl", "tail_repair_time", "maxconns_fast", "no_maxconns_fast",
    "hash_algorithm", "watcher_logbuf_size", "worker_logbuf_size",
    "track_sizes", "no_inline_ascii_resp", "inline_ascii_resp",
    "resp_obj_mem_limit", "read_buf_mem_limit", "no_hashexpand",
    "drop_privileges", "no_drop_privileges", "lru_segmented",
    "no_lru_segmented", "slab_sizes", "bind_port_reuse",
    NULL,
};

const struct settings_opt *
settings_table(size_t *n)
{
    *n = settings_noptions;
    return settings_options;
}
