/*
 * bench_opts.c -- emberbench's command line (see bench_opts.h).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/bench_opts.h"
#include "util/util.h"

/* memcached -I tops out at 1 GB; 64 MB is plenty for a benchmark */
#define VALUE_MAX (64u << 20)

static void
usage(FILE *f)
{
    fprintf(f,
"usage: emberbench [options] [host:port]\n"
"  -S, --server HOST:PORT   target (default 127.0.0.1:11211)\n"
"  -c, --conns N            connections (default 4)\n"
"  -T, --threads N          worker threads (default 1)\n"
"  -P, --pipeline N         requests per batch, sent in one write (1)\n"
"  -r, --ratio S:G          S sets per G gets (default 1:10)\n"
"  -k, --keys N             key space (default 100000)\n"
"  -s, --size N             value bytes (default 100)\n"
"      --size-range A-B     value bytes uniform in [A,B] (fixed per key)\n"
"  -d, --duration SEC       measured seconds (default 10; 0: prefill only)\n"
"  -w, --warmup SEC         unmeasured seconds first (default 2)\n"
"      --prefill            set every key once before the warm-up\n"
"      --prefix STR         key prefix (default \"key:\")\n"
"      --no-verify          do not check hit values byte for byte\n"
"      --value-max N        largest value a get may return (default: the\n"
"                           largest this run sets; for values that\n"
"                           another program wrote, with --no-verify)\n"
"      --redis              speak Redis's RESP (SET/GET) instead of the\n"
"                           memcached text protocol\n"
"      --timeout SEC        a batch unanswered this long fails (5)\n"
"      --pid PID[,PID..]    report these processes' CPU time per op\n"
"      --seed N             random seed (default 1)\n"
"      --kv | --json        one machine-readable line instead of text\n"
"  -h, --help\n"
"Exit status: 0 ok, 1 run failed (connect, protocol, check, timeout),\n"
"2 bad usage.\n");
}

static bool
parse_secs(const char *s, double *out)
{
    double v;

    if (!util_parse_double(s, &v) || !(v >= 0.0) || v > 86400.0) {
        return false;
    }
    *out = v;
    return true;
}

static bool
parse_pair(const char *s, char sep, uint64_t max, uint64_t *a, uint64_t *b)
{
    char buf[64];
    char *mid;

    if (strlen(s) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, s);
    mid = strchr(buf, sep);
    if (mid == NULL) {
        return false;
    }
    *mid++ = '\0';
    return util_parse_u64(buf, 0, max, a) && util_parse_u64(mid, 0, max, b);
}

static bool
parse_server(struct bench_options *o, const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t nhost;

    if (colon == NULL || colon[1] == '\0'
        || strlen(colon + 1) >= sizeof(o->port)) {
        return false;
    }
    nhost = (size_t)(colon - s);
    if (nhost == 0 || nhost >= sizeof(o->host)) {
        return false;
    }
    memcpy(o->host, s, nhost);
    o->host[nhost] = '\0';
    strcpy(o->port, colon + 1);
    return true;
}

enum long_only {
    OPT_SIZE_RANGE = 256,
    OPT_PREFILL,
    OPT_PREFIX,
    OPT_NO_VERIFY,
    OPT_TIMEOUT,
    OPT_PID,
    OPT_SEED,
    OPT_KV,
    OPT_JSON,
    OPT_REDIS,
    OPT_VALUE_MAX,
};

static const struct option long_opts[] = {
    { "server", required_argument, NULL, 'S' },
    { "conns", required_argument, NULL, 'c' },
    { "threads", required_argument, NULL, 'T' },
    { "pipeline", required_argument, NULL, 'P' },
    { "ratio", required_argument, NULL, 'r' },
    { "keys", required_argument, NULL, 'k' },
    { "size", required_argument, NULL, 's' },
    { "size-range", required_argument, NULL, OPT_SIZE_RANGE },
    { "duration", required_argument, NULL, 'd' },
    { "warmup", required_argument, NULL, 'w' },
    { "prefill", no_argument, NULL, OPT_PREFILL },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "no-verify", no_argument, NULL, OPT_NO_VERIFY },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "pid", required_argument, NULL, OPT_PID },
    { "seed", required_argument, NULL, OPT_SEED },
    { "kv", no_argument, NULL, OPT_KV },
    { "json", no_argument, NULL, OPT_JSON },
    { "redis", no_argument, NULL, OPT_REDIS },
    { "value-max", required_argument, NULL, OPT_VALUE_MAX },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static void
set_defaults(struct bench_options *o)
{
    memset(o, 0, sizeof(*o));
    strcpy(o->host, "127.0.0.1");
    strcpy(o->port, "11211");
    o->conns = 4;
    o->threads = 1;
    o->depth = 1;
    o->ratio_set = 1;
    o->ratio_get = 10;
    o->keys = 100000;
    o->size_min = 100;
    o->size_max = 100;
    o->duration = 10.0;
    o->warmup = 2.0;
    o->timeout = 5.0;
    o->verify = true;
    o->prefix = "key:";
    o->seed = 1;
}

/* Load-shape options; false if ARG is bad for CH. */
static bool
apply_shape_opt(struct bench_options *o, int ch, const char *arg)
{
    uint64_t a = 0;
    uint64_t b = 0;
    bool ok;

    switch (ch) {
    case 'c':
        ok = util_parse_u64(arg, 1, 100000, &a);
        o->conns = (unsigned)a;
        return ok;
    case 'T':
        ok = util_parse_u64(arg, 1, 256, &a);
        o->threads = (unsigned)a;
        return ok;
    case 'P':
        ok = util_parse_u64(arg, 1, BENCH_MAX_DEPTH, &a);
        o->depth = (unsigned)a;
        return ok;
    case 'r':
        ok = parse_pair(arg, ':', 1000000, &a, &b) && a + b > 0;
        o->ratio_set = (unsigned)a;
        o->ratio_get = (unsigned)b;
        return ok;
    case 'k':
        return util_parse_u64(arg, 1, 1ULL << 40, &o->keys);
    case 's':
        ok = util_parse_u64(arg, 0, VALUE_MAX, &a);
        o->size_min = (size_t)a;
        o->size_max = (size_t)a;
        return ok;
    case OPT_SIZE_RANGE:
        ok = parse_pair(arg, '-', VALUE_MAX, &a, &b) && a <= b;
        o->size_min = (size_t)a;
        o->size_max = (size_t)b;
        return ok;
    case OPT_VALUE_MAX:
        ok = util_parse_u64(arg, 0, VALUE_MAX, &a);
        o->value_max = (size_t)a;
        return ok;
    default:
        return false;
    }
}

/* Every option but the load shape; false if ARG is bad for CH. */
static bool
apply_opt(struct bench_options *o, int ch, const char *arg)
{
    switch (ch) {
    case 'S':
        return parse_server(o, arg);
    case 'd':
        return parse_secs(arg, &o->duration);
    case 'w':
        return parse_secs(arg, &o->warmup);
    case OPT_TIMEOUT:
        return parse_secs(arg, &o->timeout) && o->timeout > 0.0;
    case OPT_PREFILL:
        o->prefill = true;
        return true;
    case OPT_PREFIX:
        o->prefix = arg;
        return strlen(arg) <= 200 && strpbrk(arg, " \t\r\n") == NULL;
    case OPT_NO_VERIFY:
        o->verify = false;
        return true;
    case OPT_PID:
        o->pids = arg;
        return true;
    case OPT_SEED:
        return util_parse_u64(arg, 0, UINT64_MAX, &o->seed);
    case OPT_KV:
        o->format = BENCH_OUT_KV;
        return true;
    case OPT_JSON:
        o->format = BENCH_OUT_JSON;
        return true;
    case OPT_REDIS:
        o->redis = true;
        return true;
    default:
        return apply_shape_opt(o, ch, arg);
    }
}

static const char *
option_name(int ch)
{
    unsigned i;

    for (i = 0; long_opts[i].name != NULL; i++) {
        if (long_opts[i].val == ch) {
            return long_opts[i].name;
        }
    }
    return "?";
}

void
bench_opts_parse(struct bench_options *o, int argc, char **argv)
{
    int ch;

    set_defaults(o);
    while ((ch = getopt_long(argc, argv, "S:c:T:P:r:k:s:d:w:h", long_opts,
                             NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            exit(0);
        }
        if (ch == '?') {
            usage(stderr);
            exit(2);
        }
        if (!apply_opt(o, ch, optarg)) {
            fprintf(stderr, "emberbench: bad value \"%s\" for option %s "
                    "(see --help)\n", optarg, option_name(ch));
            exit(2);
        }
    }
    if (optind < argc && !parse_server(o, argv[optind++])) {
        fprintf(stderr, "emberbench: bad HOST:PORT %s\n", argv[optind - 1]);
        exit(2);
    }
    if (optind < argc) {
        fprintf(stderr, "emberbench: unexpected argument %s\n", argv[optind]);
        exit(2);
    }
    if (o->threads > o->conns) {
        o->threads = o->conns;
    }
}
