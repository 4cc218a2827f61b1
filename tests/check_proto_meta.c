/*
 * check_proto_meta.c -- the meta protocol parser (mg ms md ma mn me).
 *
 * The error each malformed line expects was observed on memcached 1.6.18
 * (flags probed letter by letter); E and md x are newer and follow the
 * current protocol.txt. Inputs are copied into exact-size heap buffers so
 * that the sanitizer build catches any read past the end.
 */
#include "config.h"

#include "daemon/proto.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEM_MAX 1024

static struct proto_limits lim;
static char *held;

static void
setup(void)
{
    lim.item_size_max = ITEM_MAX;
    lim.line_max = 2048;
    lim.get_line_max = 65536;
    held = NULL;
}

static void
teardown(void)
{
    free(held);
    held = NULL;
}

static int
parse_n(const char *in, size_t len, struct request *req, size_t *consumed)
{
    free(held);
    held = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(held);
    memcpy(held, in, len);
    return proto_text_parse(&lim, held, len, req, consumed);
}

static int
parse_s(const char *in, struct request *req, size_t *consumed)
{
    return parse_n(in, strlen(in), req, consumed);
}

/* ---- core: every flag lands in its field ------------------------------ */

START_TEST(test_mg_flags)
{
    struct request req;
    size_t used;
    const char *in = "mg Zm9v b c f h k l Oab12 q s t u v E77 N30 R-5 T100 "
                     "C9\r\n";

    ck_assert_int_eq(parse_s(in, &req, &used), PROTO_OK);
    ck_assert_uint_eq(used, strlen(in));
    ck_assert_int_eq(req.cmd, PROTO_CMD_MG);
    ck_assert_uint_eq(req.nkey, 4);
    ck_assert(memcmp(req.key, "Zm9v", 4) == 0);   /* not decoded */
    ck_assert(req.meta.key_is_b64);
    ck_assert(req.meta.flags & PROTO_MF('v'));
    ck_assert(req.meta.flags & PROTO_MF('u'));
    ck_assert(!(req.meta.flags & PROTO_MF('x')));
    ck_assert_uint_eq(req.meta.nopaque, 4);
    ck_assert(memcmp(req.meta.opaque, "ab12", 4) == 0);
    ck_assert_uint_eq(req.meta.new_cas, 77);
    ck_assert_int_eq(req.meta.vivify, 30);
    ck_assert_int_eq(req.meta.recache, -5);
    ck_assert_int_eq(req.meta.ttl, 100);
    ck_assert_uint_eq(req.meta.cas, 9);
    /* the flag tokens, in order, for echoing return flags */
    ck_assert_uint_eq(req.meta.tokens_len, strlen(in) - 2 - 8);
    ck_assert(memcmp(req.meta.tokens, "b c f", 5) == 0);
    ck_assert(!req.noreply);
}
END_TEST

START_TEST(test_ms_fields)
{
    struct request req;
    size_t used;
    const char *in = "ms a2V5 5 F4294967297 T-1 MA I C12 N7 c k s b q\r\n"
                     "hello\r\n";

    ck_assert_int_eq(parse_s(in, &req, &used), PROTO_OK);
    ck_assert_uint_eq(used, strlen(in));
    ck_assert_int_eq(req.cmd, PROTO_CMD_MS);
    ck_assert_uint_eq(req.vlen, 5);
    ck_assert(memcmp(req.value, "hello", 5) == 0);
    ck_assert_uint_eq(req.meta.client_flags, 1);   /* low 32 bits */
    ck_assert_int_eq(req.meta.ttl, -1);
    ck_assert_int_eq(req.meta.mode, 'A');
    ck_assert_uint_eq(req.meta.cas, 12);
    ck_assert_int_eq(req.meta.vivify, 7);
    ck_assert(req.meta.flags & PROTO_MF('I'));
    ck_assert(req.meta.flags & PROTO_MF('q'));
    ck_assert(req.meta.key_is_b64);
}
END_TEST

START_TEST(test_ms_modes)
{
    static const char *const in[] = {"ms k 0 MS\r\n\r\n", "ms k 0 ME\r\n\r\n",
                                     "ms k 0 MA\r\n\r\n", "ms k 0 MP\r\n\r\n",
                                     "ms k 0 MR\r\n\r\n", "ms k 0\r\n\r\n"};
    static const char want[] = "SEAPRS";
    struct request req;
    size_t used;
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ck_assert_int_eq(parse_s(in[i], &req, &used), PROTO_OK);
        ck_assert_int_eq(req.meta.mode, want[i]);
        ck_assert_uint_eq(req.vlen, 0);
    }
}
END_TEST

START_TEST(test_ma_fields)
{
    static const char *const in[] = {"ma n\r\n", "ma n MD D5\r\n",
                                     "ma n M- J9 N0\r\n", "ma n M+ D0\r\n",
                                     "ma n MI\r\n", "ma n MD\r\n"};
    static const char modes[] = "IDDIID";
    static const uint64_t deltas[] = {1, 5, 1, 0, 1, 1};
    struct request req;
    size_t used;
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ck_assert_int_eq(parse_s(in[i], &req, &used), PROTO_OK);
        ck_assert_int_eq(req.cmd, PROTO_CMD_MA);
        ck_assert_int_eq(req.meta.mode, modes[i]);
        ck_assert_uint_eq(req.meta.delta, deltas[i]);
    }
    ck_assert_uint_eq(parse_s("ma n J18446744073709551615 N5\r\n", &req,
                              &used), PROTO_OK);
    ck_assert_uint_eq(req.meta.initial, UINT64_MAX);
    ck_assert_int_eq(req.meta.vivify, 5);
}
END_TEST

START_TEST(test_md_mn_me)
{
    struct request req;
    size_t used;

    ck_assert_int_eq(parse_s("md k I T30 x q C5 E6\r\n", &req, &used),
                     PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_MD);
    ck_assert(req.meta.flags & PROTO_MF('x'));
    ck_assert(req.meta.flags & PROTO_MF('I'));
    ck_assert_int_eq(req.meta.ttl, 30);
    ck_assert_uint_eq(req.meta.new_cas, 6);
    /* mn ignores whatever follows, like memcached */
    ck_assert_int_eq(parse_s("mn foo bar\r\n", &req, &used), PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_MN);
    ck_assert_int_eq(parse_s("mn\n", &req, &used), PROTO_OK);
    ck_assert_uint_eq(used, 3);
    ck_assert_int_eq(parse_s("me Zm9v b\r\n", &req, &used), PROTO_OK);
    ck_assert_int_eq(req.cmd, PROTO_CMD_ME);
    ck_assert(req.meta.key_is_b64);
    ck_assert_int_eq(parse_s("me foo x y\r\n", &req, &used), PROTO_OK);
    ck_assert(!req.meta.key_is_b64);
    /* spaces around tokens, "\n" alone, a token after a plain flag */
    ck_assert_int_eq(parse_s("mg   foo   vv  \n", &req, &used), PROTO_OK);
    ck_assert_uint_eq(req.nkey, 3);
    ck_assert(req.meta.flags & PROTO_MF('v'));
    ck_assert_uint_eq(req.meta.tokens_len, 2);
    /* an empty opaque is echoed as "O" */
    ck_assert_int_eq(parse_s("mg foo O\r\n", &req, &used), PROTO_OK);
    ck_assert(req.meta.flags & PROTO_MF('O'));
    ck_assert_uint_eq(req.meta.nopaque, 0);
}
END_TEST

/* Every request, split at every byte: NEED_MORE until it is whole. */
static const char *const split_inputs[] = {
    "mg foo v c t Oxy\r\n",
    "ms foo 5 T10 F3 c\r\nhello\r\n",
    "ms foo 0\r\n\r\n",
    "md foo I T5 q\r\n",
    "ma foo N0 J3 MD v\r\n",
    "mn\r\n",
    "me foo\r\n",
    "ms foo 2 zz\r\nhi\r\n",       /* error: swallows the block */
    "mg foo zz\r\n",
};

START_TEST(test_split)
{
    const char *in = split_inputs[_i];
    size_t len = strlen(in);
    struct request whole, part;
    size_t used_whole, used_part, cut;
    int rc_whole, rc;

    rc_whole = parse_n(in, len, &whole, &used_whole);
    ck_assert_int_ne(rc_whole, PROTO_NEED_MORE);
    for (cut = 0; cut < len; cut++) {
        rc = parse_n(in, cut, &part, &used_part);
        if (rc == PROTO_NEED_MORE) {
            ck_assert_uint_eq(used_part, 0);
            continue;
        }
        /* only an ms error may answer early: same error, same total */
        ck_assert_int_eq(rc, PROTO_EINVALID);
        ck_assert_int_eq(rc_whole, PROTO_EINVALID);
        ck_assert_int_eq(part.err, whole.err);
        ck_assert_uint_eq(used_part + part.swallow,
                          used_whole + whole.swallow);
    }
}
END_TEST

START_TEST(test_pipeline)
{
    const char *in = "mg a v q\r\nms b 3 q\r\nxyz\r\nmd c q\r\nma d q\r\n"
                     "mn\r\nget e\r\n";
    static const enum proto_cmd want[] = {PROTO_CMD_MG, PROTO_CMD_MS,
                                          PROTO_CMD_MD, PROTO_CMD_MA,
                                          PROTO_CMD_MN, PROTO_CMD_GET};
    size_t len = strlen(in);
    size_t pos = 0;
    size_t i;
    struct request req;
    size_t used;
    char *copy = malloc(len);

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, in, len);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_int_eq(proto_text_parse(&lim, copy + pos, len - pos, &req,
                                          &used), PROTO_OK);
        ck_assert_int_eq(req.cmd, want[i]);
        pos += used;
    }
    ck_assert_uint_eq(pos, len);
    free(copy);
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

START_TEST(test_token_count)
{
    struct request req;
    size_t used;

    /* 17 flags after "mg key" parse; 18 are refused (probed: 19 tokens
     * is memcached's limit for every meta command) */
    ck_assert_int_eq(parse_s("mg aw== b c f h k l q s t u v O C1 E1 N1 R1 T1"
                             "\r\n", &req, &used), PROTO_OK);
    ck_assert_int_eq(parse_s("mg aw== b c f h k l q s t u v O C1 E1 N1 R1 T1 I"
                             "\r\n", &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_MG_TOO_MANY);
    ck_assert_int_eq(parse_s("md k z z z z z z z z z z z z z z z z z z\r\n",
                             &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_TOO_MANY);
    ck_assert_int_eq(parse_s("md k z z z z z z z z z z z z z z z z z\r\n",
                             &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_FLAG_OR_DUP);
    /* ms: too many tokens is found before the length: nothing swallowed */
    ck_assert_int_eq(parse_s("ms k 1 z z z z z z z z z z z z z z z z z\r\n"
                             "x\r\n", &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_TOO_MANY);
    ck_assert_uint_eq(used, strlen("ms k 1 z z z z z z z z z z z z z z z z "
                                   "z\r\n"));
    ck_assert_uint_eq(req.swallow, 0);
}
END_TEST

START_TEST(test_key_and_opaque_limits)
{
    char line[400];
    struct request req;
    size_t used;

    memset(line, 'a', sizeof(line));
    memcpy(line, "mg ", 3);
    memcpy(line + 3 + 250, " v\r\n", 4);
    ck_assert_int_eq(parse_n(line, 3 + 250 + 4, &req, &used), PROTO_OK);
    memset(line, 'a', sizeof(line));
    memcpy(line, "mg ", 3);
    memcpy(line + 3 + 251, " v\r\n", 4);
    ck_assert_int_eq(parse_n(line, 3 + 251 + 4, &req, &used),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_FORMAT);
    ck_assert_int_eq(parse_s("mg k O1234567890123456789012345678901\r\n",
                             &req, &used), PROTO_OK);
    ck_assert_uint_eq(req.meta.nopaque, 31);
    ck_assert_int_eq(parse_s("mg k O12345678901234567890123456789012\r\n",
                             &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_OPAQUE);
    /* ma's is refused after the arithmetic (check_exec_meta) */
    ck_assert_int_eq(parse_s("ma k O12345678901234567890123456789012\r\n",
                             &req, &used), PROTO_OK);
}
END_TEST

START_TEST(test_ms_too_large)
{
    char line[64];
    struct request req;
    size_t used;
    int n = snprintf(line, sizeof(line), "ms k %d T1\r\nab", ITEM_MAX + 1);

    ck_assert_int_eq(parse_n(line, (size_t)n, &req, &used), PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_TOO_LARGE);
    ck_assert_int_eq(req.cmd, PROTO_CMD_MS);
    ck_assert_uint_eq(used + req.swallow, (size_t)n - 2 + ITEM_MAX + 3);
    n = snprintf(line, sizeof(line), "ms k %d\r\n", ITEM_MAX);
    ck_assert_int_eq(parse_n(line, (size_t)n, &req, &used),
                     PROTO_NEED_MORE);
    ck_assert_uint_eq(req.need, (size_t)n + ITEM_MAX + 2);
}
END_TEST

/* ---- errors: memcached 1.6.18's answer to each bad line --------------- */

struct err_case {
    const char *in;
    enum proto_err err;
    size_t swallow_left;    /* bytes of input left unconsumed after it */
};

static const struct err_case err_cases[] = {
    {"mg\r\n", PROTO_ERR_UNKNOWN, 0},
    {"mg \r\n", PROTO_ERR_UNKNOWN, 0},
    {"ms\r\n", PROTO_ERR_UNKNOWN, 0},
    {"md\r\n", PROTO_ERR_UNKNOWN, 0},
    {"ma\r\n", PROTO_ERR_UNKNOWN, 0},
    {"mx foo\r\n", PROTO_ERR_UNKNOWN, 0},
    {"me\r\n", PROTO_ERR_FORMAT, 0},
    {"mg foo zz\r\n", PROTO_ERR_META_FLAG, 0},
    {"mg foo 1\r\n", PROTO_ERR_META_FLAG, 0},
    {"mg foo -\r\n", PROTO_ERR_META_FLAG, 0},
    {"mg foo x\r\n", PROTO_ERR_META_FLAG, 0},
    {"mg foo v v\r\n", PROTO_ERR_META_DUP, 0},
    {"mg foo O1 O2\r\n", PROTO_ERR_META_DUP, 0},
    {"mg foo Tabc\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo T\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo N\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo R\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo C\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo E\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg foo D\r\n", PROTO_ERR_META_DELTA, 0},
    {"mg foo J\r\n", PROTO_ERR_META_INITIAL, 0},
    {"mg foo F\r\n", PROTO_ERR_FORMAT, 0},
    {"mg foo M\r\n", PROTO_ERR_META_M_LEN, 0},
    {"ms foo\r\n", PROTO_ERR_FORMAT, 0},
    {"ms foo abc\r\nxx\r\n", PROTO_ERR_FORMAT, 4},
    {"ms foo -1\r\n", PROTO_ERR_FORMAT, 0},
    {"ms foo 1x\r\nx\r\n", PROTO_ERR_FORMAT, 3},
    {"ms foo 2 zz\r\nhi\r\n", PROTO_ERR_META_FLAG, 0},
    {"ms foo 2 T\r\nhi\r\n", PROTO_ERR_META_TOKEN, 0},
    {"ms foo 2 T1x\r\nhi\r\n", PROTO_ERR_META_TOKEN, 0},
    {"ms foo 2 T 5\r\nhi\r\n", PROTO_ERR_META_FLAG, 0},
    {"ms foo 2 Cx\r\nhi\r\n", PROTO_ERR_META_TOKEN, 0},
    {"ms foo 2 F\r\nhi\r\n", PROTO_ERR_FORMAT, 0},
    {"ms foo 2 F-1\r\nhi\r\n", PROTO_ERR_FORMAT, 0},
    {"ms foo 2 MX\r\nhi\r\n", PROTO_ERR_META_MS_MODE, 0},
    {"ms foo 2 M\r\nhi\r\n", PROTO_ERR_META_M_LEN, 0},
    {"ms foo 2 MEE\r\nhi\r\n", PROTO_ERR_META_M_LEN, 0},
    {"ms foo 2 T1 T2\r\nhi\r\n", PROTO_ERR_META_DUP, 0},
    {"ms foo 2 S5\r\nhi\r\n", PROTO_ERR_META_FLAG, 0},
    {"ms foo 2 x\r\nhi\r\n", PROTO_ERR_META_FLAG, 0},
    {"ms foo 2\r\nhix\r\n", PROTO_ERR_BAD_CHUNK, 1},
    {"md foo zz\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"md foo Cx\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"md foo T\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"md foo q q\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"md foo O12345678901234567890123456789012\r\n",
     PROTO_ERR_META_OPAQUE, 0},
    {"ma foo D-1\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo Dx\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo J\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo N\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo 1\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo M\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma foo Mx\r\n", PROTO_ERR_META_MA_MODE, 0},
    {"ma foo Md\r\n", PROTO_ERR_META_MA_MODE, 0},
    {"ms foo 1 Ms\r\nx\r\n", PROTO_ERR_META_MS_MODE, 0},
    {"ma foo x\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    /* a base64 key is checked after the flag tokens, before M's mode
     * and the opaque's length; strictly (memcached skips bad bytes) */
    {"mg a b zz\r\n", PROTO_ERR_META_FLAG, 0},
    {"mg a b Tx\r\n", PROTO_ERR_META_TOKEN, 0},
    {"mg a b M\r\n", PROTO_ERR_META_M_LEN, 0},
    {"mg a b\r\n", PROTO_ERR_META_KEY, 0},
    {"mg Zm9*v b\r\n", PROTO_ERR_META_KEY, 0},
    {"mg Zm9v= b\r\n", PROTO_ERR_META_KEY, 0},
    {"mg Zg=v b\r\n", PROTO_ERR_META_KEY, 0},
    {"mg a b O12345678901234567890123456789012\r\n", PROTO_ERR_META_KEY,
     0},
    {"ms a 1 b MX\r\nx\r\n", PROTO_ERR_META_KEY, 0},
    {"ms a 1 b Tx\r\nx\r\n", PROTO_ERR_META_TOKEN, 0},
    {"md a b MX\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"ma a b MX\r\n", PROTO_ERR_META_FLAG_OR_DUP, 0},
    {"me foo b\r\n", PROTO_ERR_FORMAT, 0},
};

#define N_ERR (sizeof(err_cases) / sizeof(err_cases[0]))

START_TEST(test_errors)
{
    const struct err_case *c = &err_cases[_i];
    size_t len = strlen(c->in);
    struct request req;
    size_t used;

    ck_assert_int_eq(parse_n(c->in, len, &req, &used), PROTO_EINVALID);
    ck_assert_msg(req.err == c->err, "%s: err %d, want %d", c->in, req.err,
                  c->err);
    ck_assert_uint_eq(req.swallow, 0);
    ck_assert_uint_eq(len - used, c->swallow_left);
    ck_assert(!req.noreply);    /* meta errors are always answered */
    /* each answered with a line (compose_proto_err) */
    ck_assert(req.err != PROTO_ERR_NONE && req.err != PROTO_ERR_HTTP);
    ck_assert(req.err != PROTO_ERR_LINE_TOO_LONG);
    ck_assert(req.err != PROTO_ERR_BINARY);
}
END_TEST

START_TEST(test_ms_error_swallows_late_block)
{
    struct request req;
    size_t used;

    /* the block has not arrived: the error comes at once and the rest of
     * the block (3 + 2 bytes) is swallowed when it does */
    ck_assert_int_eq(parse_s("ms foo 3 zz\r\n", &req, &used),
                     PROTO_EINVALID);
    ck_assert_int_eq(req.err, PROTO_ERR_META_FLAG);
    ck_assert_uint_eq(used, strlen("ms foo 3 zz\r\n"));
    ck_assert_uint_eq(req.swallow, 5);
    ck_assert_int_eq(parse_s("ms foo 3 zz\r\nab", &req, &used),
                     PROTO_EINVALID);
    ck_assert_uint_eq(req.swallow, 3);
}
END_TEST

static Suite *
proto_meta_suite(void)
{
    Suite *s = suite_create("proto_meta");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_mg_flags);
    tcase_add_test(core, test_ms_fields);
    tcase_add_test(core, test_ms_modes);
    tcase_add_test(core, test_ma_fields);
    tcase_add_test(core, test_md_mn_me);
    tcase_add_loop_test(core, test_split, 0,
                        sizeof(split_inputs) / sizeof(split_inputs[0]));
    tcase_add_test(core, test_pipeline);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_token_count);
    tcase_add_test(limits, test_key_and_opaque_limits);
    tcase_add_test(limits, test_ms_too_large);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_loop_test(errors, test_errors, 0, N_ERR);
    tcase_add_test(errors, test_ms_error_swallows_late_block);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(proto_meta_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
