/*
 * fuzz_proto_text.c -- libFuzzer harness for the text protocol parser.
 *
 * Built and run only by `make fuzz-proto` (clang -fsanitize=fuzzer). The
 * first input byte picks tight or default limits, the rest is a byte
 * stream fed to the parser the way a connection would: parse, drop what
 * was consumed, skip what must be swallowed, repeat. Every result is
 * checked against the contract in proto.h; a violation traps.
 */
#include "config.h"

#include "daemon/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            __builtin_trap();                                              \
        }                                                                  \
    } while (0)

static bool
inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p == NULL || (p >= buf && p + n <= buf + len);
}

static void
check_result(int rc, const struct request *req, size_t consumed,
             const char *buf, size_t len)
{
    CHECK(rc == PROTO_OK || rc == PROTO_NEED_MORE || rc == PROTO_EINVALID);
    CHECK(consumed <= len);
    CHECK(inside(req->key, req->nkey, buf, len));
    CHECK(inside(req->keys, req->keys_len, buf, len));
    CHECK(inside(req->arg, req->narg, buf, len));
    CHECK(inside(req->value, req->vlen, buf, len));
    CHECK(inside(req->meta.tokens, req->meta.tokens_len, buf, len));
    CHECK(inside(req->meta.opaque, req->meta.nopaque, buf, len));
    if (rc == PROTO_OK) {
        CHECK(consumed > 0 && req->cmd != PROTO_CMD_NONE);
        CHECK(req->err == PROTO_ERR_NONE && req->swallow == 0);
    } else if (rc == PROTO_NEED_MORE) {
        CHECK(consumed == 0 && (req->need == 0 || req->need > len));
    } else {
        CHECK(req->err != PROTO_ERR_NONE);
        /* a refused data block: too large, or an ms with bad flags */
        CHECK(req->swallow == 0 || req->err == PROTO_ERR_TOO_LARGE
              || req->cmd == PROTO_CMD_MS);
    }
}

/* Exact-size heap copy, so ASan sees any read past the end. */
static int
parse_copy(const struct proto_limits *lim, const uint8_t *data, size_t len,
           struct request *req, size_t *consumed)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    CHECK(copy != NULL);
    memcpy(copy, data, len);
    rc = proto_text_parse(lim, copy, len, req, consumed);
    check_result(rc, req, *consumed, copy, len);
    free(copy);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct proto_limits tight = {
        .item_size_max = 64, .line_max = 64, .line_whole_max = 256,
        .get_line_max = 256,
    };
    static const struct proto_limits wide = {
        .item_size_max = 1024 * 1024, .line_max = 2048,
        .line_whole_max = 16384, .get_line_max = 1 << 20,
    };
    const struct proto_limits *lim;
    struct request req;
    struct request first;
    size_t consumed;
    size_t first_consumed;
    size_t pos;
    int rc;

    if (size == 0) {
        return 0;
    }
    lim = (data[0] & 1) ? &tight : &wide;
    data++;
    size--;

    /* A prefix never gives a different answer from the whole, except
     * that an unfinished line longer than line_max is refused while the
     * same line complete may run to line_whole_max (proto.h). */
    rc = parse_copy(lim, data, size, &first, &first_consumed);
    for (pos = 0; pos < size && pos < 300; pos++) {
        int prc = parse_copy(lim, data, pos, &req, &consumed);

        if (prc == PROTO_NEED_MORE ||
            (prc == PROTO_EINVALID && req.err == PROTO_ERR_LINE_TOO_LONG &&
             pos >= lim->line_max && memchr(data, '\n', pos) == NULL)) {
            continue;
        }
        CHECK(prc == rc && req.err == first.err && req.cmd == first.cmd);
        CHECK(consumed + req.swallow == first_consumed + first.swallow);
    }

    /* Drive it as a stream: every step must make progress or stop. */
    pos = 0;
    while (pos < size) {
        rc = parse_copy(lim, data + pos, size - pos, &req, &consumed);
        if (rc == PROTO_NEED_MORE) {
            break;
        }
        if (rc == PROTO_EINVALID
            && (req.err == PROTO_ERR_LINE_TOO_LONG
                || req.err == PROTO_ERR_HTTP
                || req.err == PROTO_ERR_BINARY)) {
            break;
        }
        CHECK(consumed > 0);
        pos += consumed;
        if (req.swallow >= size - pos) {
            break;
        }
        pos += req.swallow;
    }
    return 0;
}
