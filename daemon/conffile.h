/*
 * conffile.h -- options from a file in Debian's /etc/memcached.conf
 * format, for `emberd --config=FILE`.
 *
 * Layer: daemon-private; libc only. settings.c calls it; nothing else.
 *
 * The format, as Debian's memcached package reads it (start-memcached,
 * systemd-memcached-wrapper):
 *  - Everything from '#' to the end of a line is a comment ("\#" is a
 *    literal '#'). Blank lines are skipped.
 *  - A line starting with '-' holds options exactly as they would be
 *    typed after `emberd`, split on white space (no quoting: a value
 *    cannot contain a space); an option and its value share a line.
 *  - A line starting with "-d" or "-h" is skipped with a warning, as
 *    Debian's wrappers skip it: a service manager runs the daemon in the
 *    foreground, and help text is not an option. (-d on the command
 *    line still detaches.)
 *  - Any other line is "DIRECTIVE VALUE". The one Debian knows,
 *    `logfile PATH` (Debian's wrapper sends memcached's output there),
 *    becomes the two words "--log-file" PATH; an unknown directive is
 *    an error naming the file and line.
 *
 * Invariants
 *  - After conffile_load() succeeded, words[0..nwords) point into the
 *    buffers the conffile owns (text, log_file_opt), NUL-terminated,
 *    valid until conffile_release(); line[i] is the line words[i] came
 *    from.
 */
#ifndef EMBER_CONFFILE_H
#define EMBER_CONFFILE_H

#include <stddef.h>
#include <stdio.h>

/* Largest configuration file read (a memcached.conf is about 1.5 KB). */
#define CONFFILE_MAX_BYTES (1u << 20)

struct conffile {
    const char *path;       /* borrowed from the caller */
    char *text;             /* owned: the file, cut into words in place */
    char **words;           /* owned array; the strings are in text */
    unsigned *line;         /* owned: the line of each word, from 1 */
    size_t nwords;
    char log_file_opt[16];  /* "--log-file", the word `logfile` becomes */
};

enum conffile_rc {
    CONFFILE_OK = 0,
    CONFFILE_EIO = -1,      /* cannot open or read it (message says why) */
    CONFFILE_EFORMAT = -2,  /* an unknown directive, a directive without
                             * a value, a file too large */
};

/*
 * Read PATH into CF (zeroed first). Warnings (skipped -d/-h lines) and
 * the error message, each one line starting with
 * "emberd: ", go to ERR. Returns an enum conffile_rc; on error CF holds
 * nothing to release. Ownership: PATH is borrowed and must outlive CF.
 * Thread: main, at start. Blocks: reads the file.
 */
int conffile_load(struct conffile *cf, const char *path, FILE *err);

/* Free what conffile_load() allocated; CF is zeroed. No-op when empty. */
void conffile_release(struct conffile *cf);

#endif /* EMBER_CONFFILE_H */
