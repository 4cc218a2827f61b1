/*
 * check_exec_meta.c -- the meta commands end to end without sockets:
 * the real parser, daemon/exec_meta.c and storage/meta.c on a real store
 * with a frozen clock, text in, reply bytes out. Expected bytes are
 * memcached 1.6.18's where it supports the flag (tests/integration/
 * test_meta.py compares the two live), else the current protocol.txt.
 * The fixture is check_exec.c's.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#include "daemon/exec.h"
#include "daemon/exec_meta.h"
#include "daemon/log.h"
#include "daemon/proto.h"
#include "daemon/reply.h"
#include "daemon/settings.h"
#include "daemon/stats.h"
#include "storage/store.h"

#include "tests/exec_fixture.h"

#define ADVANCE(s) store_clock_set(fx.st, store_now(fx.st) + (s))

/* ---- core ------------------------------------------------------------ */

START_TEST(test_mg_flags)
{
    CHECK_RUN("ms a 2 T0 F5\r\nhi\r\n", "HD\r\n");
    CHECK_RUN("mg a v t f s c k h l O123\r\n",
              "VA 2 t-1 f5 s2 c1 ka h0 l0 O123\r\nhi\r\n");
    CHECK_RUN("mg a h l\r\n", "HD h1 l0\r\n");
    ADVANCE(5);
    /* u: no bump, so the access time stays; h and l show the state
     * from before this command */
    CHECK_RUN("mg a l u\r\n", "HD l5\r\n");
    CHECK_RUN("mg a l\r\n", "HD l5\r\n");
    CHECK_RUN("mg a l\r\n", "HD l0\r\n");
    CHECK_RUN("mg a vv\r\n", "VA 2\r\nhi\r\n");
    CHECK_RUN("mg a\r\n", "HD\r\n");
    CHECK_RUN("mg a O\r\n", "HD O\r\n");
    /* a miss echoes only O and k */
    CHECK_RUN("mg b v\r\n", "EN\r\n");
    CHECK_RUN("mg b O7 k v c\r\n", "EN O7 kb\r\n");
    CHECK_RUN("mg b q v\r\nmg a q s\r\nmn\r\n", "HD s2\r\nMN\r\n");
    ck_assert_uint_eq(stat_of("get_hits"), 9);
    ck_assert_uint_eq(stat_of("get_misses"), 3);
    ck_assert_uint_eq(stat_of("cmd_get"), 12);
}
END_TEST

START_TEST(test_mg_touch)
{
    CHECK_RUN("ms a 1 T100\r\nx\r\n", "HD\r\n");
    /* t before T shows the TTL before it, after T the new one */
    CHECK_RUN("mg a t T200\r\n", "HD t100\r\n");
    CHECK_RUN("mg a t\r\n", "HD t200\r\n");
    CHECK_RUN("mg a T300 t\r\n", "HD t300\r\n");
    CHECK_RUN("mg a T-1\r\nmg a v\r\n", "HD\r\nEN\r\n");
    CHECK_RUN("mg b T10 t\r\n", "EN\r\n");
    /* as 1.6.18: a hit with T is a touch, not a get; a miss is a get */
    ck_assert_uint_eq(stat_of("touch_hits"), 3);
    ck_assert_uint_eq(stat_of("cmd_touch"), 3);
    ck_assert_uint_eq(stat_of("touch_misses"), 0);
    ck_assert_uint_eq(stat_of("get_hits"), 1);
    ck_assert_uint_eq(stat_of("get_misses"), 2);
}
END_TEST

START_TEST(test_vivify_win)
{
    CHECK_RUN("mg v N30 v c t\r\n", "VA 0 c1 t30 W\r\n\r\n");
    CHECK_RUN("mg v N30 v c t\r\n", "VA 0 c1 t30 Z\r\n\r\n");
    CHECK_RUN("mg v\r\n", "HD Z\r\n");
    CHECK_RUN("ms v 1\r\nx\r\n", "HD\r\n");
    CHECK_RUN("mg v v\r\nmg v N30 v\r\n", "VA 1\r\nx\r\nVA 1\r\nx\r\n");
    /* the vivified item expires with N's TTL */
    CHECK_RUN("mg w N10 s t\r\n", "HD s0 t10 W\r\n");
    ADVANCE(11);
    CHECK_RUN("mg w N10 t\r\n", "HD t10 W\r\n");
}
END_TEST

START_TEST(test_recache)
{
    CHECK_RUN("ms r 1 T10\r\nx\r\n", "HD\r\n");
    CHECK_RUN("mg r R30 v t\r\n", "VA 1 t10 W\r\nx\r\n");
    CHECK_RUN("mg r R30 v\r\nmg r v\r\n", "VA 1 Z\r\nx\r\nVA 1 Z\r\nx\r\n");
    CHECK_RUN("ms s 1 T100\r\nx\r\n", "HD\r\n");
    CHECK_RUN("mg s R30 v\r\n", "VA 1\r\nx\r\n");
    ADVANCE(75);
    CHECK_RUN("mg s R30 v\r\n", "VA 1 W\r\nx\r\n");
}
END_TEST

START_TEST(test_stale)
{
    CHECK_RUN("ms k 1\r\nx\r\n", "HD\r\n");
    CHECK_RUN("md k I T30\r\n", "HD\r\n");
    /* invalidation bumps the CAS and keeps the value */
    CHECK_RUN("mg k v t c\r\n", "VA 1 t30 c2 X W\r\nx\r\n");
    CHECK_RUN("mg k v\r\n", "VA 1 Z X\r\nx\r\n");
    CHECK_RUN("mg k c\r\n", "HD c2 Z X\r\n");
    CHECK_RUN("ms k 1\r\ny\r\nmg k v\r\n", "HD\r\nVA 1\r\ny\r\n");
    CHECK_RUN("md k I q\r\nmn\r\nmg k\r\n", "MN\r\nHD X W\r\n");
    CHECK_RUN("md nope I\r\n", "NF\r\n");
}
END_TEST

START_TEST(test_ms_invalidate_cas)
{
    CHECK_RUN("ms k 1 c\r\nx\r\nms k 1 c\r\nx\r\n",
              "HD c1\r\nHD c2\r\n");
    /* C older than the item's CAS with I: stored, but stale; never C0 */
    CHECK_RUN("ms k 1 C0 I c\r\ny\r\n", "EX c0\r\n");
    CHECK_RUN("ms k 1 C1 I c\r\ny\r\n", "HD c3\r\n");
    CHECK_RUN("mg k v c\r\n", "VA 1 c3 X W\r\ny\r\n");
    CHECK_RUN("ms k 1 C99 I\r\nz\r\n", "EX\r\n");
    CHECK_RUN("ms nope 1 C5 I\r\nz\r\n", "NF\r\n");
    /* plain C: equal stores (fresh, not stale), else EX; C0 compares */
    CHECK_RUN("ms k 1 C3 c\r\nw\r\nmg k v\r\n",
              "HD c4\r\nVA 1\r\nw\r\n");
    CHECK_RUN("ms k 1 C0\r\nw\r\n", "EX\r\n");
    CHECK_RUN("ms k 1 C1 c k O1\r\nw\r\n", "EX c0 kk O1\r\n");
    CHECK_RUN("ms nope 1 C5 O3 k\r\nz\r\n", "NF O3 knope\r\n");
    ck_assert_uint_eq(stat_of("cas_hits"), 2);
    ck_assert_uint_eq(stat_of("cas_badval"), 4);
    ck_assert_uint_eq(stat_of("cas_misses"), 2);
}
END_TEST

START_TEST(test_ms_modes)
{
    CHECK_RUN("ms k 2 MR\r\nhi\r\nms k 2 MA\r\nhi\r\nms k 2 MP\r\nhi\r\n",
              "NS\r\nNS\r\nNS\r\n");
    CHECK_RUN("ms k 2 ME\r\nhi\r\n", "HD\r\n");
    CHECK_RUN("ms k 2 ME c k O1\r\nho\r\n", "NS c0 kk O1\r\n");
    CHECK_RUN("ms k 2 MA\r\nzz\r\nms k 2 MP F9\r\naa\r\n", "HD\r\nHD\r\n");
    /* append/prepend keep the old flags */
    CHECK_RUN("mg k v f\r\n", "VA 6 f0\r\naahizz\r\n");
    CHECK_RUN("ms k 1 MR F3\r\n!\r\nmg k v f\r\n", "HD\r\nVA 1 f3\r\n!\r\n");
    CHECK_RUN("ms k 1 MS T0\r\n.\r\nmg k v\r\n", "HD\r\nVA 1\r\n.\r\n");
    CHECK_RUN("ms k 2 q\r\nhi\r\nms k 2 q ME\r\nhi\r\nmn\r\n",
              "NS\r\nMN\r\n");
}
END_TEST

/*
 * 1.6.18: a stale store (I with an older C) takes the new value and
 * flags but keeps the old item's expiry, so an invalidated item cannot
 * be made to live longer by a late writer; append/prepend compare the
 * CAS exactly, I or not.
 */
START_TEST(test_ms_invalidate_keeps_ttl)
{
    CHECK_RUN("ms k 1 T100 c\r\nx\r\nms k 1 T100 c\r\nx\r\n",
              "HD c1\r\nHD c2\r\n");
    ADVANCE(10);
    CHECK_RUN("ms k 2 I C1 T1000 F7\r\nyy\r\n", "HD\r\n");
    CHECK_RUN("mg k v t f\r\n", "VA 2 t90 f7 X W\r\nyy\r\n");
    /* T0 (never) does not make it immortal either */
    CHECK_RUN("ms k 2 I C1 T0\r\nzz\r\nmg k v t\r\n",
              "HD\r\nVA 2 t90 Z X\r\nzz\r\n");
    CHECK_RUN("ms n 1 T0\r\nx\r\nms n 1\r\nx\r\n", "HD\r\nHD\r\n");
    CHECK_RUN("ms n 1 I C5 T50\r\ny\r\nmg n t\r\n",
              "HD\r\nHD t-1 X W\r\n");
    CHECK_RUN("ms a 1 T50\r\nx\r\nms a 1 I C1 MA\r\ny\r\n",
              "HD\r\nEX\r\n");
    CHECK_RUN("ms a 1 I C1 MP\r\ny\r\nmg a v t\r\n",
              "EX\r\nVA 1 t50\r\nx\r\n");
    /* replace mode is a set: the stale store applies */
    CHECK_RUN("ms a 1 I C1 MR T500\r\nz\r\nmg a v t\r\n",
              "HD\r\nVA 1 t50 X W\r\nz\r\n");
}
END_TEST

/* 1.6.19+: ms s returns the stored size, ms N vivifies an append, E. */
START_TEST(test_ms_new_flags)
{
    CHECK_RUN("ms k 2 s\r\nhi\r\n", "HD s2\r\n");
    CHECK_RUN("ms k 3 MA s\r\nabc\r\n", "HD s5\r\n");
    CHECK_RUN("ms k 3 ME s\r\nabc\r\n", "NS\r\n");
    CHECK_RUN("ms n 2 MA N60 s\r\nhi\r\n", "HD s2\r\n");
    CHECK_RUN("mg n t v\r\n", "VA 2 t60\r\nhi\r\n");
    CHECK_RUN("ms n 2 MP N60 s\r\nyo\r\n", "HD s4\r\n");
    CHECK_RUN("ms m 2 MA\r\nhi\r\n", "NS\r\n");
    CHECK_RUN("ms e 1 E500 c\r\nx\r\nmg e c\r\n", "HD c500\r\nHD c500\r\n");
    CHECK_RUN("ms e 1 C500 E501 c\r\ny\r\n", "HD c501\r\n");
    /* E does not raise the counter; each item still takes one value
     * (it orders the item against flush_all) */
    CHECK_RUN("ms f 1 c\r\nz\r\n", "HD c7\r\n");
    /* explicit CAS values, low or high, die with flush_all and only
     * with a flush that comes after them */
    CHECK_RUN("ms g 1 E1\r\nx\r\nms h 1 E99999\r\nx\r\nflush_all\r\n"
              "mg g\r\nmg h\r\n", "HD\r\nHD\r\nOK\r\nEN\r\nEN\r\n");
    CHECK_RUN("ms g 1 E1 c\r\ny\r\nmg g v c\r\nmd g I E2\r\nmg g c\r\n"
              "ma j N0 E3 c\r\nmg j c\r\n",
              "HD c1\r\nVA 1 c1\r\ny\r\nHD\r\nHD c2 X W\r\nHD c3\r\n"
              "HD c3\r\n");
    CHECK_RUN("ms g 1 MA E4 c s\r\nz\r\nmg g v c\r\n",
              "HD c4 s2\r\nVA 2 c4\r\nyz\r\n");
}
END_TEST

START_TEST(test_md)
{
    CHECK_RUN("ms k 1\r\nx\r\n", "HD\r\n");
    CHECK_RUN("md k O4 k c\r\n", "HD O4 kk\r\n");
    CHECK_RUN("md k O5 k\r\n", "NF O5 kk\r\n");
    CHECK_RUN("ms k 1 c\r\nx\r\n", "HD c2\r\n");
    CHECK_RUN("md k C1\r\n", "EX\r\n");
    CHECK_RUN("md k C2 q\r\nmn\r\nmg k\r\n", "MN\r\nEN\r\n");
    CHECK_RUN("md k q\r\n", "NF\r\n");
    /* T without I or x does nothing */
    CHECK_RUN("ms k 1\r\nx\r\nmd k T30\r\nmg k\r\n", "HD\r\nHD\r\nEN\r\n");
    ck_assert_uint_eq(stat_of("delete_hits"), 3);
    ck_assert_uint_eq(stat_of("delete_misses"), 3);   /* EX counts */
}
END_TEST

/* 1.6.19+: md x empties the value, keeps the item; E sets the CAS. */
START_TEST(test_md_new_flags)
{
    CHECK_RUN("ms x 2 F3 T100\r\nhi\r\n", "HD\r\n");
    CHECK_RUN("md x x\r\n", "HD\r\n");
    CHECK_RUN("mg x v f t s\r\n", "VA 0 f3 t100 s0\r\n\r\n");
    CHECK_RUN("md x x I T5\r\nmg x v t\r\n", "HD\r\nVA 0 t5 X W\r\n\r\n");
    CHECK_RUN("ms y 1\r\nz\r\nmd y I E700\r\nmg y c v\r\n",
              "HD\r\nHD\r\nVA 1 c700 X W\r\nz\r\n");
    CHECK_RUN("md y C700 E701\r\nmg y\r\n", "HD\r\nEN\r\n");
    /* only the real delete counts */
    ck_assert_uint_eq(stat_of("delete_hits"), 1);
}
END_TEST

START_TEST(test_ma)
{
    CHECK_RUN("ma n\r\n", "NF\r\n");
    CHECK_RUN("ma n N0 J5 v t c\r\n", "VA 1 t-1 c1\r\n5\r\n");
    CHECK_RUN("ma n v\r\n", "VA 1\r\n6\r\n");
    CHECK_RUN("ma n MD D10 v\r\nma n M- v\r\n", "VA 1\r\n0\r\nVA 1\r\n0\r\n");
    CHECK_RUN("ma n M+ D3 v\r\nma n MI v\r\n", "VA 1\r\n3\r\nVA 1\r\n4\r\n");
    CHECK_RUN("ma n T30 t v\r\n", "VA 1 t30\r\n5\r\n");
    CHECK_RUN("ma n t T60 v\r\nmg n t\r\n", "VA 1 t30\r\n6\r\nHD t60\r\n");
    CHECK_RUN("ma n O1 k c\r\n", "HD O1 kn c9\r\n");
    CHECK_RUN("ma n C1 O3 k\r\nma nope O2 k c t v\r\n",
              "EX O3 kn\r\nNF O2 knope\r\n");
    CHECK_RUN("ma n q\r\nma n q v\r\nmn\r\nmg n v\r\n",
              "MN\r\nVA 1\r\n9\r\n");
    /* quiet does not hide the reply of a vivifying ma (1.6.18) */
    CHECK_RUN("ma z N0 q\r\nma z q\r\nmn\r\n", "HD\r\nMN\r\n");
    CHECK_RUN("ma e N0 J5 E900 c\r\nma e E901 c v\r\n",
              "HD c900\r\nVA 1 c901\r\n6\r\n");
    ck_assert_uint_eq(stat_of("incr_hits"), 10);
    ck_assert_uint_eq(stat_of("decr_hits"), 2);
    ck_assert_uint_eq(stat_of("incr_misses"), 2);   /* not the vivifies */
}
END_TEST

START_TEST(test_me_mn)
{
    CHECK_RUN("me k\r\n", "EN\r\n");
    CHECK_RUN("ms k 1 T100\r\nx\r\n", "HD\r\n");
    ADVANCE(3);
    run("me k\r\n");
    ck_assert_msg(strncmp(fx.out, "ME k exp=97 la=3 cas=1 fetch=no cls=",
                          36) == 0, "%s", fx.out);
    ck_assert_ptr_nonnull(strstr(fx.out, " size="));
    /* me itself is not an access; mg is */
    run("me k\r\n");
    ck_assert_ptr_nonnull(strstr(fx.out, "la=3 cas=1 fetch=no"));
    run("mg k v\r\nme k\r\n");
    ck_assert_ptr_nonnull(strstr(fx.out, "la=0 cas=1 fetch=yes"));
    CHECK_RUN("mn\r\nmn foo bar\r\n", "MN\r\nMN\r\n");
    CHECK_RUN("me\r\n", "CLIENT_ERROR bad command line format\r\n");
}
END_TEST

START_TEST(test_base64_keys)
{
    CHECK_RUN("ms Zm9vYmFy 2 b k c\r\nhi\r\n", "HD kZm9vYmFy b c1\r\n");
    CHECK_RUN("get foobar\r\n", "VALUE foobar 0 2\r\nhi\r\nEND\r\n");
    /* a key stored as binary is echoed in base64 */
    CHECK_RUN("mg foobar v k\r\n", "VA 2 kZm9vYmFy b\r\nhi\r\n");
    run("me foobar\r\n");
    ck_assert(strncmp(fx.out, "ME Zm9vYmFy exp=-1 ", 19) == 0);
    CHECK_RUN("ms YmluAP8= 1 b\r\nx\r\nmg YmluAP8= b v s k\r\n",
              "HD\r\nVA 1 s1 kYmluAP8= b\r\nx\r\n");
    CHECK_RUN("get bin\r\n", "END\r\n");
    CHECK_RUN("ma Zm9v b N0 J1 v\r\nget foo\r\n",
              "VA 1\r\n1\r\nVALUE foo 0 1\r\n1\r\nEND\r\n");
    CHECK_RUN("md Zm9vYmFy b q\r\nmn\r\nmg foobar v\r\n", "MN\r\nEN\r\n");
}
END_TEST

START_TEST(test_pipeline_mixed)
{
    /* a classic incr keeps the item's state, as memcached's in place;
     * a won stale item stops being stale; a growing number starts over */
    CHECK_RUN("set n 0 0 1\r\n5\r\nget n\r\nincr n 1\r\nmg n h\r\n",
              "STORED\r\nVALUE n 0 1\r\n5\r\nEND\r\n6\r\nHD h1\r\n");
    CHECK_RUN("ms p 1\r\n5\r\nmd p I\r\nincr p 1\r\nmg p v\r\n",
              "HD\r\nHD\r\n6\r\nVA 1 X W\r\n6\r\n");
    CHECK_RUN("ms q 1\r\n5\r\nmd q I\r\nmg q\r\nincr q 1\r\nmg q v\r\n",
              "HD\r\nHD\r\nHD X W\r\n6\r\nVA 1\r\n6\r\n");
    CHECK_RUN("ms g 1\r\n9\r\nget g\r\nmd g I\r\nincr g 1\r\nmg g h\r\n",
              "HD\r\nVALUE g 0 1\r\n9\r\nEND\r\nHD\r\n10\r\nHD h0\r\n");
    CHECK_RUN("set a 0 0 1\r\n1\r\nmg a v O1 q\r\nmg b v O2 q\r\n"
              "ms b 1 q O3\r\n2\r\nget a b\r\nma a q\r\nincr a 5\r\n"
              "mg a v O4 k\r\nmd b q O5\r\ndelete b\r\nmg b O6 q k\r\n"
              "mn\r\n",
              "STORED\r\nVA 1 O1\r\n1\r\nVALUE a 0 1\r\n1\r\n"
              "VALUE b 0 1\r\n2\r\nEND\r\n7\r\nVA 1 O4 ka\r\n7\r\n"
              "NOT_FOUND\r\nMN\r\n");
}
END_TEST

/* me shows an item and changes nothing: the recache win of a stale item
 * stays for the next mg (memcached 1.6.18 answers that mg X W). */
START_TEST(test_me_leaves_the_win)
{
    CHECK_RUN("ms k 1\r\nx\r\nmd k I\r\n", "HD\r\nHD\r\n");
    ck_assert_int_eq(strncmp(run("me k\r\n"), "ME k ", 5), 0);
    CHECK_RUN("mg k\r\n", "HD X W\r\n");
    CHECK_RUN("mg k\r\n", "HD Z X\r\n");
}
END_TEST

/* What a warm restart does with the bits a snapshot saved. */
START_TEST(test_meta_bits_restore)
{
    struct store_get_res res;
    struct store_restore rs;
    struct item *it;
    int rc;

    CHECK_RUN("ms k 1\r\nx\r\nmd k I\r\nmg k\r\n",
              "HD\r\nHD\r\nHD X W\r\n");
    run("mg k\r\n");
    ck_assert_int_eq(store_get(&fx.ses, "k", 1, NULL, &res), STORE_OK);
    ck_assert_uint_eq(item_state_bits(res.it), STORE_STATE_STALE |
                      STORE_STATE_WON | STORE_STATE_FETCHED);
    item_unref(res.it);
    make_store((size_t)8 << 20, false);     /* "restart" */
    it = store_alloc(fx.st, "k", 1, 0, 0, 1, false, &rc);
    ck_assert_ptr_nonnull(it);
    item_value_mut(it)[0] = 'x';
    memset(&rs, 0, sizeof(rs));
    rs.kind = STORE_CHANGE_LINK;
    rs.it = it;
    rs.cas = 7;
    rs.bits = STORE_STATE_STALE | STORE_STATE_WON | 0x80u;
    rs.atime = T0;
    ck_assert_int_eq(store_restore(fx.st, &rs), STORE_OK);
    item_unref(it);
    CHECK_RUN("mg k v c\r\n", "VA 1 c7 Z X\r\nx\r\n");
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(test_recache_boundary)
{
    /* R looks at the TTL as a T before it on the line left it */
    CHECK_RUN("ms t 1\r\nx\r\nmg t R2000 T100\r\nmg t t\r\n",
              "HD\r\nHD\r\nHD t100\r\n");
    CHECK_RUN("mg t R2000 T5000\r\nmg t t\r\n",
              "HD W\r\nHD t5000 Z\r\n");
    CHECK_RUN("ms u 1\r\nx\r\nmg u T100 R2000\r\n", "HD\r\nHD W\r\n");
    CHECK_RUN("ms q 1 T30\r\nx\r\nmg q R30\r\n", "HD\r\nHD\r\n");
    CHECK_RUN("mg q R31\r\n", "HD W\r\n");
    CHECK_RUN("ms n 1\r\nx\r\nmg n R2000000\r\n", "HD\r\nHD\r\n");
    CHECK_RUN("mg n R0\r\nmg n R-5\r\n", "HD\r\nHD\r\n");
}
END_TEST

START_TEST(test_number_limits)
{
    CHECK_RUN("ms w 20\r\n18446744073709551615\r\nma w v\r\n",
              "HD\r\nVA 1\r\n0\r\n");
    /* a shrinking number keeps its length, space padded, as memcached */
    CHECK_RUN("ms p 2\r\n10\r\nma p MD v\r\nmg p v s\r\n",
              "HD\r\nVA 1\r\n9\r\nVA 2 s2\r\n9 \r\n");
    CHECK_RUN("ma p MD D18446744073709551615 v\r\n", "VA 1\r\n0\r\n");
    CHECK_RUN("ma m N0 J18446744073709551615 v\r\nma m v\r\n",
              "VA 20\r\n18446744073709551615\r\nVA 1\r\n0\r\n");
    CHECK_RUN("ms e 1 E18446744073709551615 c\r\nx\r\n",
              "HD c18446744073709551615\r\n");
}
END_TEST

START_TEST(test_key_limits)
{
    char line[600];
    char key[251];
    int n;

    /* 248 base64 characters decode to 186 bytes */
    memset(key, 'A', 248);
    key[248] = '\0';
    n = snprintf(line, sizeof(line), "ms %s 1 b\r\nx\r\nmg %s b v\r\n",
                 key, key);
    ck_assert_str_eq(run_n(line, (size_t)n), "HD\r\nVA 1\r\nx\r\n");
    CHECK_RUN("mg k O1234567890123456789012345678901 k\r\n",
              "EN O1234567890123456789012345678901 kk\r\n");
}
END_TEST

struct race {
    struct store_session ses;
    int won;
};

static void *
race_thread(void *arg)
{
    struct race *rc = arg;
    struct store_get_opt q;
    struct store_get_res res;
    int i;

    memset(&q, 0, sizeof(q));
    q.vivify = true;
    q.vivify_exptime = 0;
    for (i = 0; i < 2000; i++) {
        if (store_get(&rc->ses, "hot", 3, &q, &res) == STORE_OK) {
            rc->won += res.won;
            item_unref(res.it);
        }
    }
    return NULL;
}

/* Many clients asking at once: exactly one is told it won. */
/*
 * The longest meta line a client can get: memcached takes key tokens of
 * at most 250 bytes, so a base64 key has 248 characters (186 bytes);
 * with the longest opaque (31) and every mg return flag, W and X.
 */
START_TEST(test_longest_meta_line)
{
    char key[249];
    char in[1024];
    char want[1024];
    char o[32];
    int n;

    memset(key, 0, sizeof(key));
    for (n = 0; n < 62; n++) {
        memcpy(key + 4 * n, "////", 4);
    }
    memset(o, 'o', 31);
    o[31] = '\0';
    n = snprintf(in, sizeof(in), "ms %s 2 b T0\r\nhi\r\nmd %s b I T30\r\n",
                 key, key);
    ck_assert_int_lt(n, (int)sizeof(in));
    CHECK_RUN(in, "HD\r\nHD\r\n");
    n = snprintf(in, sizeof(in), "mg %s b v O%s k c f h l s t\r\n", key, o);
    ck_assert_int_lt(n, (int)sizeof(in));
    snprintf(want, sizeof(want), "VA 2 O%s k%s b c2 f0 h0 l0 s2 t30 X W\r\n"
             "hi\r\n", o, key);
    CHECK_RUN(in, want);
    ck_assert_uint_eq(strlen(want), 318);   /* line 314 + "hi\r\n" */
    snprintf(want, sizeof(want), "VA 2 O%s k%s b c2 f0 h1 l0 s2 t30 Z X\r\n"
             "hi\r\n", o, key);
    CHECK_RUN(in, want);
}
END_TEST

START_TEST(test_one_winner)
{
    pthread_t th[8];
    struct race rc[8];
    int i, total = 0;

    for (i = 0; i < 8; i++) {
        store_session_init(&rc[i].ses, fx.st, NULL, NULL);
        rc[i].won = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &rc[i]),
                         0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += rc[i].won;
    }
    ck_assert_int_eq(total, 1);
    /* after an invalidation, again exactly one */
    CHECK_RUN("md hot I\r\n", "HD\r\n");
    for (i = 0; i < 8; i++) {
        rc[i].won = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &rc[i]),
                         0);
    }
    for (total = 0, i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += rc[i].won;
    }
    ck_assert_int_eq(total, 1);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

START_TEST(test_decode_errors)
{
    /* strict base64 (memcached skips bad characters) */
    CHECK_RUN("mg Zm9*v b\r\n", "CLIENT_ERROR error decoding key\r\n");
    CHECK_RUN("mg Zm9v= b\r\n", "CLIENT_ERROR error decoding key\r\n");
    CHECK_RUN("mg Zg=v b\r\n", "CLIENT_ERROR error decoding key\r\n");
    CHECK_RUN("mg foo b\r\n", "CLIENT_ERROR error decoding key\r\n");
    /* the data block is consumed: the next command is read normally */
    CHECK_RUN("ms foo 1 b\r\nx\r\nmn\r\n",
              "CLIENT_ERROR error decoding key\r\nMN\r\n");
    CHECK_RUN("md foo b\r\nma foo b\r\n",
              "CLIENT_ERROR invalid or duplicate flag\r\n"
              "CLIENT_ERROR invalid or duplicate flag\r\n");
    CHECK_RUN("me foo b\r\n", "CLIENT_ERROR bad command line format\r\n");
}
END_TEST

START_TEST(test_parse_errors_answered)
{
    /* errors are answered even with q, and an ms block is swallowed */
    CHECK_RUN("mg k zz q\r\nms k 2 T q\r\nhi\r\nmn\r\n",
              "CLIENT_ERROR invalid flag\r\n"
              "CLIENT_ERROR bad token in command line format\r\nMN\r\n");
    CHECK_RUN("ms k abc\r\nmn\r\n",
              "CLIENT_ERROR bad command line format\r\nMN\r\n");
    CHECK_RUN("ma x D-1\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
}
END_TEST

START_TEST(test_non_numeric_and_expiry)
{
    CHECK_RUN("ms x 1\r\na\r\nma x v\r\nma x C99\r\n",
              "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric"
              " value\r\nEX\r\n");
    CHECK_RUN("ms t 1 T10\r\nx\r\n", "HD\r\n");
    ADVANCE(10);
    CHECK_RUN("mg t v\r\nma t\r\nmd t\r\nme t\r\n",
              "EN\r\nNF\r\nNF\r\nEN\r\n");
    CHECK_RUN("ms f 1\r\nx\r\nflush_all\r\nmg f v\r\n",
              "HD\r\nOK\r\nEN\r\n");
}
END_TEST

START_TEST(test_too_large_drops_old)
{
    char line[160];
    int n;

    /* memcached unlinks the old value whatever the mode, b64 decoded */
    CHECK_RUN("ms k 1\r\nx\r\nms Zm9v 1 b\r\nx\r\n", "HD\r\nHD\r\n");
    n = snprintf(line, sizeof(line), "ms k %zu MA\r\nms Zm9v %zu b\r\n",
                 fx.set.item_size_max + 1, fx.set.item_size_max + 1);
    ck_assert_int_gt(n, 0);
    /* the blocks never come: the run ends while swallowing the first */
    run_n(line, (size_t)n);
    ck_assert_str_eq(fx.out, "SERVER_ERROR object too large for cache\r\n");
    CHECK_RUN("mg k v\r\nmg foo v\r\n", "EN\r\nVA 1\r\nx\r\n");
    n = snprintf(line, sizeof(line), "ms Zm9v %zu b\r\n",
                 fx.set.item_size_max + 1);
    run_n(line, (size_t)n);
    CHECK_RUN("mg foo v\r\n", "EN\r\n");
}
END_TEST

START_TEST(test_out_of_memory)
{
    enum { VLEN = 60000 };
    char line[64];
    char *in = malloc(sizeof(line) + VLEN + 2);
    int i, n;

    ck_assert_ptr_nonnull(in);
    make_store((size_t)1 << 20, true);     /* -M: never evict */
    for (i = 0; i < 40; i++) {
        n = snprintf(line, sizeof(line), "ms k%d %d q\r\n", i, VLEN);
        memcpy(in, line, (size_t)n);
        memset(in + n, 'v', VLEN);
        memcpy(in + n + VLEN, "\r\n", 2);
        run_n(in, (size_t)n + VLEN + 2);
        if (fx.nout > 0) {
            break;
        }
    }
    free(in);
    ck_assert_str_eq(fx.out, "SERVER_ERROR out of memory storing object\r\n");
    CHECK_RUN("mg k0 s\r\n", "HD s60000\r\n");
}
END_TEST

/*
 * An opaque longer than 31 bytes: mg, ms and md refuse the line; ma, as
 * 1.6.18 does, applies the arithmetic first and then answers the error
 * instead of the reply it cannot echo (q does not hide it). Before the
 * composer this came back as a VA line with an empty O.
 */
START_TEST(test_ma_long_opaque)
{
    char line[1024];
    char opaque[801];
    int n;

    memset(opaque, 'y', 800);
    opaque[800] = '\0';
    CHECK_RUN("set n 0 0 1\r\n5\r\n", "STORED\r\n");
    n = snprintf(line, sizeof(line), "ma n O%s v\r\n", opaque);
    ck_assert_int_lt(n, (int)sizeof(line));
    CHECK_RUN(line, "CLIENT_ERROR opaque token too long\r\n");
    CHECK_RUN("get n\r\n", "VALUE n 0 1\r\n6\r\nEND\r\n");
    /* 31 bytes is the longest echoed, 32 the shortest refused */
    CHECK_RUN("ma n O1234567890123456789012345678901 v\r\n",
              "VA 1 O1234567890123456789012345678901\r\n7\r\n");
    CHECK_RUN("ma n O12345678901234567890123456789012 q\r\nmn\r\n",
              "CLIENT_ERROR opaque token too long\r\nMN\r\n");
    CHECK_RUN("ma n C1 O12345678901234567890123456789012\r\n"
              "ma none O12345678901234567890123456789012\r\n",
              "CLIENT_ERROR opaque token too long\r\n"
              "CLIENT_ERROR opaque token too long\r\n");
    CHECK_RUN("ma v O12345678901234567890123456789012 N0 J7 v\r\n"
              "get n v\r\n",
              "CLIENT_ERROR opaque token too long\r\n"
              "VALUE n 0 1\r\n8\r\nVALUE v 0 1\r\n7\r\nEND\r\n");
    ck_assert_uint_eq(stat_of("incr_hits"), 3);
    ck_assert_uint_eq(stat_of("incr_misses"), 1);
    /* the other meta commands refuse it before doing anything */
    n = snprintf(line, sizeof(line), "mg n O%s v\r\nmd n O%s\r\n",
                 opaque + 400, opaque + 400);
    ck_assert_int_lt(n, (int)sizeof(line));
    CHECK_RUN(line, "CLIENT_ERROR opaque token too long\r\n"
                    "CLIENT_ERROR opaque token too long\r\n");
    CHECK_RUN("mg n v\r\n", "VA 1\r\n8\r\n");
}
END_TEST

static Suite *
exec_meta_suite(void)
{
    Suite *s = suite_create("exec_meta");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_mg_flags);
    tcase_add_test(core, test_mg_touch);
    tcase_add_test(core, test_vivify_win);
    tcase_add_test(core, test_recache);
    tcase_add_test(core, test_stale);
    tcase_add_test(core, test_ms_invalidate_cas);
    tcase_add_test(core, test_ms_invalidate_keeps_ttl);
    tcase_add_test(core, test_ms_modes);
    tcase_add_test(core, test_ms_new_flags);
    tcase_add_test(core, test_md);
    tcase_add_test(core, test_md_new_flags);
    tcase_add_test(core, test_ma);
    tcase_add_test(core, test_me_mn);
    tcase_add_test(core, test_base64_keys);
    tcase_add_test(core, test_pipeline_mixed);
    tcase_add_test(core, test_meta_bits_restore);
    tcase_add_test(core, test_me_leaves_the_win);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_recache_boundary);
    tcase_add_test(limits, test_number_limits);
    tcase_add_test(limits, test_key_limits);
    tcase_add_test(limits, test_one_winner);
    tcase_add_test(limits, test_longest_meta_line);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_decode_errors);
    tcase_add_test(errors, test_parse_errors_answered);
    tcase_add_test(errors, test_non_numeric_and_expiry);
    tcase_add_test(errors, test_too_large_drops_old);
    tcase_add_test(errors, test_out_of_memory);
    tcase_add_test(errors, test_ma_long_opaque);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(exec_meta_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
