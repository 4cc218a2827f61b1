/*
 * embersnap.c -- command dispatch and usage of embersnap, the offline
 * snapshot inspector: `embersnap [--now=T] COMMAND [OPTIONS] DIR`.
 * main() is in embersnap_main.c so that tests can call es_main().
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "util/util.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct es_command {
    const char *name;
    int (*run)(const struct es_cli *cli, int argc, char **argv);
    const char *summary;
} commands[] = {
    { "info", es_cmd_info, "snapshot and journal: meta, counts, sizes, "
                           "compression, map" },
    { "ls", es_cmd_ls, "list keys with size, flags, TTL left and CAS" },
    { "get", es_cmd_get, "print one value exactly as a client gets it" },
    { "stats", es_cmd_stats, "histograms of size, TTL, compression; top "
                             "key prefixes" },
    { "verify", es_cmd_verify, "check every record, the meta totals and "
                               "the journal" },
    { "dump", es_cmd_dump, "live records as JSON lines or memcached set "
                           "commands" },
    { "load", es_cmd_load, "replay live records into a memcached-protocol "
                           "server" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: embersnap [--now=UNIXTIME] COMMAND [OPTIONS] DIR\n"
            "\n"
            "Reads an emberd snapshot directory (--snapshot-dir) offline.\n"
            "Safe beside a running emberd: read-only, one LMDB read\n"
            "transaction (a consistent view), never writes, never blocks\n"
            "the daemon's writer.\n"
            "\n"
            "get, ls, dump, stats and load show by default what emberd\n"
            "would serve after a restart: the snapshot with the journal's\n"
            "changes since it (DIR/journal-*.ejl) applied in order;\n"
            "--snapshot-only shows the snapshot alone. info and verify\n"
            "report both.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f,
            "\n"
            "global options:\n"
            "  --now=UNIXTIME  compute TTLs and expiry at this time instead\n"
            "                  of the clock (reproducible output)\n"
            "  -h, --help      this text; COMMAND --help for each command\n"
            "  -V, --version   print the version\n"
            "\n"
            "exit status: 0 ok, 1 problems found (verify, a missing key,\n"
            "records that could not be used), 2 bad usage or unreadable\n"
            "snapshot or journal (missing, corrupt, unknown format\n"
            "version; a damaged LMDB page that makes liblmdb assert or\n"
            "fault ends any command with one line naming DIR, no core).\n");
}

/* Parse the global options before COMMAND; *I is the first unused one.
 * Returns -1 to go on, or an exit status. */
static int
global_options(struct es_cli *cli, int argc, char **argv, int *i)
{
    const char *v;
    uint64_t t;

    for (*i = 1; *i < argc && argv[*i][0] == '-'; (*i)++) {
        v = NULL;
        if (strcmp(argv[*i], "-h") == 0 || strcmp(argv[*i], "--help") == 0) {
            usage(cli->out);
            return ES_EXIT_OK;
        }
        if (strcmp(argv[*i], "-V") == 0 ||
            strcmp(argv[*i], "--version") == 0) {
            fprintf(cli->out, "embersnap (%s) %s, snapshot format %u\n",
                    PACKAGE_NAME, PACKAGE_VERSION, SNAPFMT_VERSION);
            return ES_EXIT_OK;
        }
        if (strncmp(argv[*i], "--now=", 6) == 0) {
            v = argv[*i] + 6;
        } else if (strcmp(argv[*i], "--now") == 0 && *i + 1 < argc) {
            v = argv[++*i];
        }
        if (v == NULL) {
            fprintf(cli->err, "embersnap: unknown option %s (see embersnap "
                    "--help)\n", argv[*i]);
            return ES_EXIT_USAGE;
        }
        if (!util_parse_u64(v, 0, UINT32_MAX, &t)) {
            fprintf(cli->err, "embersnap: --now wants unix seconds, not "
                    "'%s'\n", v);
            return ES_EXIT_USAGE;
        }
        cli->now = (int64_t)t;
    }
    return -1;
}

int
es_main(int argc, char **argv, FILE *out, FILE *err, int64_t now,
        const volatile sig_atomic_t *stop)
{
    struct es_cli cli = { out, err, now, false, stop };
    int i, rc;

    cli.err_tty = err == stderr && isatty(STDERR_FILENO);
    rc = global_options(&cli, argc, argv, &i);
    if (rc >= 0) {
        return rc;
    }
    if (cli.now < 0) {
        cli.now = (int64_t)time(NULL);
    }
    if (i >= argc) {
        usage(err);
        return ES_EXIT_USAGE;
    }
    for (size_t c = 0; c < NCOMMANDS; c++) {
        if (strcmp(argv[i], commands[c].name) == 0) {
            return commands[c].run(&cli, argc - i, argv + i);
        }
    }
    fprintf(err, "embersnap: unknown command '%s' (see embersnap --help)\n",
            argv[i]);
    return ES_EXIT_USAGE;
}
