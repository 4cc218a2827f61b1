/*
 * snap_opts.c -- embersnap's per-command option parsing (see snap_opts.h).
 */
#include "config.h"

#include "tools/embersnap/snap_opts.h"

#include "util/util.h"

#include <getopt.h>
#include <string.h>

/* "--NAME wants WANTS, not 'VALUE'", WANTS generated when not given. */
static int
bad_value(const struct es_cli *cli, const char *cmd, const struct es_opt *o,
          const char *value)
{
    char wants[160];
    size_t i, n = 0;

    if (o->wants != NULL) {
        snprintf(wants, sizeof(wants), "%s", o->wants);
    } else if (o->kind == ES_OPT_UINT) {
        snprintf(wants, sizeof(wants), "%llu..%llu%s",
                 (unsigned long long)o->min, (unsigned long long)o->max,
                 o->unit != NULL ? o->unit : "");
    } else {
        wants[0] = '\0';
        for (i = 0; o->words[i] != NULL && n < sizeof(wants); i++) {
            const char *sep = i == 0 ? ""
                              : o->words[i + 1] == NULL ? " or " : ", ";

            n += (size_t)snprintf(wants + n, sizeof(wants) - n, "%s%s", sep,
                                  o->words[i]);
        }
    }
    return es_usage_error(cli, cmd, "--%s wants %s, not '%s'", o->name,
                          wants, value);
}

/* Store VALUE of O; -1, or ES_EXIT_USAGE after a message. */
static int
apply(const struct es_cli *cli, const char *cmd, const struct es_opt *o,
      const char *value)
{
    size_t i;

    switch (o->kind) {
    case ES_OPT_TRUE:
    case ES_OPT_FALSE:
        *(bool *)o->dst = o->kind == ES_OPT_TRUE;
        return -1;
    case ES_OPT_TEXT:
        *(const char **)o->dst = value;
        return -1;
    case ES_OPT_UINT:
        if (!util_parse_u64(value, o->min, o->max, o->dst)) {
            return bad_value(cli, cmd, o, value);
        }
        return -1;
    default:
        for (i = 0; o->words[i] != NULL; i++) {
            if (strcmp(value, o->words[i]) == 0) {
                *(int *)o->dst = (int)i;
                return -1;
            }
        }
        return bad_value(cli, cmd, o, value);
    }
}

/* The message for a getopt '?' result at ARGV[OPTIND-1]. */
static int
bad_option(const struct es_cli *cli, const char *cmd, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";

    if (optopt != 0 && optopt != '?') {
        return es_usage_error(cli, cmd, "option -%c is unknown or needs a "
                              "value", optopt);
    }
    return es_usage_error(cli, cmd, "option %s is unknown or needs a value",
                          arg);
}

static const struct es_opt *
find_val(const struct es_opt *opts, size_t n, int val)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (opts[i].val == val) {
            return &opts[i];
        }
    }
    return NULL;
}

int
es_options(const struct es_cli *cli, const struct es_cmdline *cl, int argc,
           char **argv)
{
    struct option longs[ES_OPTS_MAX + 2];
    char shorts[2 * ES_OPTS_MAX + 2] = "h";
    const struct es_opt *o;
    size_t i, ns = 1;
    int c, rc = -1;

    memset(longs, 0, sizeof(longs));
    for (i = 0; i < cl->nopts && i < ES_OPTS_MAX; i++) {
        o = &cl->opts[i];
        longs[i].name = o->name;
        longs[i].has_arg = o->kind == ES_OPT_TRUE || o->kind == ES_OPT_FALSE
                               ? no_argument
                               : required_argument;
        longs[i].val = o->val;
        if (o->short_too) {
            shorts[ns++] = (char)o->val;
            if (longs[i].has_arg == required_argument) {
                shorts[ns++] = ':';
            }
        }
    }
    longs[i].name = "help";
    longs[i].val = 'h';
    optind = 0;
    opterr = 0;
    while (rc < 0 && (c = getopt_long(argc, argv, shorts, longs, NULL)) !=
                         -1) {
        if (c == 'h') {
            fputs(cl->usage, cli->out);
            return ES_EXIT_OK;
        }
        o = find_val(cl->opts, cl->nopts, c);
        rc = o != NULL ? apply(cli, cl->cmd, o, optarg)
                       : bad_option(cli, cl->cmd, argv);
    }
    return rc;
}

int
es_operands(const struct es_cli *cli, const struct es_cmdline *cl, int argc)
{
    if (optind + cl->noperands != argc) {
        return es_usage_error(cli, cl->cmd, "%s", cl->operands);
    }
    return -1;
}

int
es_command_line(const struct es_cli *cli, const struct es_cmdline *cl,
                int argc, char **argv)
{
    int rc = es_options(cli, cl, argc, argv);

    return rc >= 0 ? rc : es_operands(cli, cl, argc);
}
