/*
 * snap_opts.h -- the option parsing every embersnap command shares: each
 * command declares its options once, as a table of struct es_opt, and
 * es_options() does the rest (getopt_long's arrays, -h/--help, values
 * read and checked, the messages for bad ones).
 *
 * Layer: tools/embersnap/ (embersnap only). libc and util/util.h.
 *
 * Messages (all end with " (see embersnap CMD --help)" and exit 2):
 *   a bad value         "embersnap CMD: --NAME wants WANTS, not 'VALUE'"
 *   unknown or missing  "embersnap CMD: option -V is unknown or needs a
 *                        value" (V = the entry's val) or "... option ARG
 *                        is unknown or needs a value"
 *   operands            "embersnap CMD: WHAT" (es_operands)
 */
#ifndef EMBER_SNAP_OPTS_H
#define EMBER_SNAP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/embersnap/embersnap.h"

/* What an option's value is and where it goes (DST's type). */
enum es_opt_kind {
    ES_OPT_TRUE,    /* no value: *(bool *)DST = true */
    ES_OPT_FALSE,   /* no value: *(bool *)DST = false */
    ES_OPT_TEXT,    /* *(const char **)DST = the value (borrows argv) */
    ES_OPT_UINT,    /* decimal in [MIN, MAX]: *(uint64_t *)DST */
    ES_OPT_WORD,    /* one of WORDS: *(int *)DST = its index */
};

/* One option of a command. */
struct es_opt {
    const char *name;       /* --NAME */
    int val;                /* a letter: getopt_long's value for it, named
                             * in "option -V is unknown or needs a value" */
    bool short_too;         /* -VAL is accepted as well */
    enum es_opt_kind kind;
    void *dst;              /* borrowed; written when the option is seen */
    uint64_t min, max;      /* ES_OPT_UINT */
    const char *const *words;   /* ES_OPT_WORD: the values, NULL-ended */
    const char *wants;      /* what a bad value is told it wants; NULL:
                             * "MIN..MAX" (UINT) or "A, B or C" (WORD) */
    const char *unit;       /* appended to a generated WANTS (" seconds") */
};

/* The most options one command may declare (plus --help). */
#define ES_OPTS_MAX 15

/* A command's whole command line. All borrowed. */
struct es_cmdline {
    const char *cmd;            /* "ls": named in every message */
    const char *usage;          /* what --help prints on CLI->out */
    const struct es_opt *opts;
    size_t nopts;               /* <= ES_OPTS_MAX */
    int noperands;              /* exactly this many after the options */
    const char *operands;       /* the message otherwise ("wants ...") */
};

#define ES_NOPTS(opts) (sizeof(opts) / sizeof((opts)[0]))

/*
 * --snapshot-only, shared by the commands that show items (get, ls, dump,
 * stats, load): WHERE is a bool, true for the snapshot alone. Their usage
 * texts end with ES_JOURNAL_HELP, which says what the default is.
 */
#define ES_OPT_SNAPSHOT_ONLY(where)                                     \
    { .name = "snapshot-only", .val = 'S', .kind = ES_OPT_TRUE,         \
      .dst = (where) }

#define ES_JOURNAL_HELP                                                 \
    "  --snapshot-only  the snapshot alone, without the journal\n"      \
    "\n"                                                                \
    "By default this shows what emberd would serve after a restart: the\n" \
    "snapshot with the journal's changes since it (DIR/journal-*.ejl)\n"  \
    "applied in order, so deleted and flushed keys are gone, replaced\n"  \
    "values new, touched TTLs new, and a pending delayed flush_all that\n" \
    "is due by now applied. Memory: one entry per key changed in the\n"   \
    "journal (bounded by the journal's size, which emberd bounds); the\n" \
    "segments are mapped, not copied. A damaged journal is an error\n"    \
    "(exit 2; see verify, or use --snapshot-only).\n"

/*
 * Parse the options of ARGV (ARGV[0] is CL->cmd) against CL->opts, plus
 * -h/--help. On return optind is the first operand. Returns -1 when the
 * options are fine, ES_EXIT_OK after --help, or ES_EXIT_USAGE after a
 * message on CLI->err (the first bad option stops the parse).
 * Not reentrant (getopt_long). Blocks: never.
 */
int es_options(const struct es_cli *cli, const struct es_cmdline *cl,
               int argc, char **argv);

/*
 * -1 when exactly CL->noperands operands follow the options (from
 * optind), else "embersnap CMD: OPERANDS" and ES_EXIT_USAGE.
 */
int es_operands(const struct es_cli *cli, const struct es_cmdline *cl,
                int argc);

/* es_options(), then es_operands() when the options were fine: for a
 * command with no check between the two. */
int es_command_line(const struct es_cli *cli, const struct es_cmdline *cl,
                    int argc, char **argv);

#endif /* EMBER_SNAP_OPTS_H */
