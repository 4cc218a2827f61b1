/*
 * check_embersnap_journal.c -- embersnap over a snapshot with a journal
 * beside it, written here record by record with format.h's journal
 * writer functions: the state after the journal (deletes, replaced
 * values, touches, marks, flushes immediate and delayed, changes spread
 * over segments out of seq order, changes the snapshot already covers),
 * --snapshot-only, info and verify on torn tails and damage. What each
 * test expects follows from the records it wrote, not from embersnap.
 */
#include "config.h"

#include "tests/check_embersnap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSEQ 100              /* the snapshot's journal_seq */

/* A segment being written. */
struct jw {
    unsigned char buf[16384];
    size_t len;
    size_t off[32];           /* where each record starts */
    unsigned n;
};

static void
jw_begin(struct jw *w, uint64_t segno)
{
    memset(w, 0, sizeof(*w));
    snapfmt_jseg_header(w->buf, segno, NOW - 20);
    w->len = SNAPFMT_JSEG_HDR;
}

/* Append one record: KIND, SEQ, KEY (NULL: none), VALUE (NULL: none),
 * CAS, and EXPTIME or RFLAGS as the kind wants. */
static void
jw_add(struct jw *w, unsigned kind, uint64_t seq, const char *key,
       const char *value, uint64_t cas, uint32_t exptime, unsigned rflags)
{
    struct snapfmt_jrec r = { .kind = kind, .rflags = rflags, .seq = seq,
                              .cas = cas, .exptime = exptime,
                              .time = NOW - 10, .key = key,
                              .nkey = key ? strlen(key) : 0,
                              .value = value,
                              .nvalue = value ? (uint32_t)strlen(value) : 0 };

    if (kind == SNAPFMT_J_LINK) {
        r.flags = 9;
    }
    ck_assert_uint_le(w->len + snapfmt_jrec_size(r.nkey, r.nvalue),
                      sizeof(w->buf));
    w->off[w->n++] = w->len;
    w->len += snapfmt_jrec_put(&r, w->buf + w->len);
    snapfmt_jrec_seal(w->buf + w->off[w->n - 1]);
}

/* Write the first LEN bytes of W as segment SEGNO of the fixture. */
static void
jw_write(const struct jw *w, uint64_t segno, size_t len)
{
    char path[256];
    FILE *f;

    snapfmt_jseg_path(fx.dir, segno, path, sizeof(path));
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(w->buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The snapshot's meta: journal_seq JSEQ and FLUSH_PENDING. */
static void
set_meta(uint64_t flush_pending)
{
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);

    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "journal_seq", JSEQ),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_meta_put_u64(txn, "flush_pending",
                                          flush_pending), SNAPFMT_OK);
    done(&e, txn);
}

/*
 * The changes of the core test, over two segments out of seq order (each
 * worker writes its own segment). On the fixture (user:1..3 cas 11..13,
 * plain cas 15, doc:0..4 cas 20..24) they leave: user:1 gone (linked at
 * 107, deleted at 108), user:2 "new2", user:3 with 500 s left, plain
 * untouched (a TOUCH of another CAS), doc:0 marked stale, new:1 added;
 * the changes at or below journal_seq (doc:1 deleted) are in the snapshot
 * already, and so are not applied again.
 */
static void
write_changes(void)
{
    struct jw a, b;

    set_meta(0);
    jw_begin(&a, 3);
    jw_add(&a, SNAPFMT_J_LINK, 60, "user:2", "covered", 9, 0, 0);
    jw_add(&a, SNAPFMT_J_UNLINK, 61, "doc:1", NULL, 21, 0, 0);
    jw_add(&a, SNAPFMT_J_UNLINK, 101, "user:1", NULL, 11, 0, 0);
    jw_add(&a, SNAPFMT_J_TOUCH, 103, "user:3", NULL, 13, NOW + 500, 0);
    jw_add(&a, SNAPFMT_J_MARK, 106, "doc:0", NULL, 20, 0,
           SNAPFMT_RF_STALE);
    jw_add(&a, SNAPFMT_J_UNLINK, 108, "user:1", NULL, 107, 0, 0);
    jw_write(&a, 3, a.len);
    jw_begin(&b, 4);
    jw_add(&b, SNAPFMT_J_LINK, 102, "user:2", "new2", 102, 0, 0);
    jw_add(&b, SNAPFMT_J_TOUCH, 104, "plain", NULL, 999, NOW + 5, 0);
    jw_add(&b, SNAPFMT_J_LINK, 105, "new:1", "fresh", 105, 0, 0);
    jw_add(&b, SNAPFMT_J_CAS_RESERVE, 105, NULL, NULL, 5000, 0, 0);
    jw_add(&b, SNAPFMT_J_LINK, 107, "user:1", "back", 107, 0, 0);
    jw_write(&b, 4, b.len);
}

START_TEST(test_journal_overlay)
{
    write_changes();
    ck_assert_int_eq(run("ls", "-H", "@", NULL), ES_EXIT_OK);
    HASNT(fx.out, "user:1");
    HAS(fx.out, "         5          9      never                  105  "
                "new:1\n");
    HAS(fx.out, "         4          9      never                  102  "
                "user:2\n");
    HAS(fx.out, "         0          0        500                   13  "
                "user:3\n");
    HAS(fx.out, "        12          2    3456000                   15  "
                "plain\n");
    ck_assert_uint_eq(count_lines(fx.out), 9);
    /* key order holds across the merge: new:1 between doc:4 and plain */
    ck_assert(strstr(fx.out, "doc:4") < strstr(fx.out, "new:1"));
    ck_assert(strstr(fx.out, "new:1") < strstr(fx.out, "plain"));
    ck_assert_int_eq(run("get", "user:2", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 4);
    ck_assert(memcmp(fx.out, "new2", 4) == 0);
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "user:1: deleted after the snapshot (journal seq 108)");
    ck_assert_int_eq(run("get", "--meta", "user:3", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "ttl:       500\ncas:       13\n");
    HAS(fx.out, "stored:    48\n");   /* the snapshot's record */
    HAS(fx.out, "source:    snapshot record changed in the journal, "
                "journal seq 103\n");
    ck_assert_int_eq(run("get", "--meta", "doc:0", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "state:     stale\n");
    ck_assert_int_eq(run("get", "--meta", "--snapshot-only", "doc:0", "@",
                         NULL), ES_EXIT_OK);
    HAS(fx.out, "state:     -\nsource:    snapshot\n");
    ck_assert_int_eq(run("get", "--meta", "new:1", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "source:    journal record, journal seq 105\n");
    ck_assert_int_eq(run("dump", "--format=memcached", "--prefix=user:",
                         "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "set user:2 9 0 4\r\nnew2\r\n"
                             "set user:3 0 500 0\r\n\r\n");
    ck_assert_int_eq(run("dump", "--prefix=new", "@", NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "{\"key\":\"new:1\",\"flags\":9,\"exptime\":0,"
                             "\"cas\":105,\"value\":\"ZnJlc2g=\"}\n");
    ck_assert_int_eq(run("ls", "--sort=size", "--limit=2", "-H", "@", NULL),
                     ES_EXIT_OK);
    HASNT(fx.out, "user:2");      /* 1000 bytes before, 4 now */
    ck_assert_int_eq(run("stats", "--json", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "{\"records\":10,");  /* 10 - user:1 + new:1 */
    HAS(fx.out, "{\"prefix\":\"user:\",\"count\":2,\"bytes\":16}");
}
END_TEST

START_TEST(test_journal_snapshot_only)
{
    char big[1000];

    write_changes();
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(run("get", "--snapshot-only", "user:2", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, sizeof(big));
    ck_assert(memcmp(fx.out, big, sizeof(big)) == 0);
    ck_assert_int_eq(run("get", "--snapshot-only", "user:1", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "hello");
    ck_assert_int_eq(run("ls", "--snapshot-only", "--prefix=user:", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out,
        "      SIZE      FLAGS        TTL                  CAS  KEY\n"
        "         5          7      never                   11  user:1\n"
        "      1000          0       3600                   12  user:2\n"
        "         0          0        100                   13  user:3\n");
    ck_assert_int_eq(run("dump", "--snapshot-only", "--prefix=new", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "");
    ck_assert_int_eq(run("stats", "--snapshot-only", "--json", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "{\"records\":10,\"bytes\":2044,");
    ck_assert_int_eq(run("get", "--help", NULL), ES_EXIT_OK);
    HAS(fx.out, "--snapshot-only  the snapshot alone");
    HAS(fx.out, "By default this shows what emberd would serve after a");
    HAS(fx.out, "Memory: one entry per key changed in the\njournal");
}
END_TEST

START_TEST(test_journal_load)
{
    write_changes();
    ck_assert_int_eq(run("dump", "--format=memcached", "@", NULL),
                     ES_EXIT_OK);
    HAS(fx.out, "set new:1 9 0 5\r\nfresh\r\n");
    HAS(fx.out, "set user:2 9 0 4\r\nnew2\r\n");
    HASNT(fx.out, "set user:1 ");
    load_matches_dump();
    HAS(fx.out, "9 sent, 9 stored, 0 not stored, 1 expired skipped");
}
END_TEST

/* A snapshot record whose CAS a client chose (ms E): far above any flush
 * by number, yet stored before the snapshot. */
static void
put_explicit(const char *key, uint64_t cas)
{
    struct snapfmt_codec *c = snapfmt_codec_create(0);
    struct snapfmt_item it = { key, strlen(key), "E", 1, 0, 0, NOW - 5, cas,
                               SNAPFMT_RF_CAS_EXPLICIT };
    unsigned char rec[128];
    size_t len;
    struct snapfmt_env *e = NULL;
    struct snapfmt_txn *txn = begin_rw(&e);

    ck_assert_int_eq(snapfmt_encode(c, &it, rec, sizeof(rec), &len),
                     SNAPFMT_OK);
    ck_assert_int_eq(snapfmt_put(txn, key, it.nkey, rec, len, false),
                     SNAPFMT_OK);
    done(&e, txn);
    snapfmt_codec_destroy(&c);
}

START_TEST(test_journal_flush)
{
    struct jw w;

    put_explicit("ek", 1000000);
    set_meta(0);
    jw_begin(&w, 9);
    /* linked before the flush (CAS below it), then flushed */
    jw_add(&w, SNAPFMT_J_LINK, 101, "before", "x", 21, 0, 0);
    jw_add(&w, SNAPFMT_J_FLUSH, 102, NULL, NULL, 22, 0, 0);
    jw_add(&w, SNAPFMT_J_LINK, 103, "after", "y", 30, 0, 0);
    /* a TOUCH of a flushed item does not bring it back */
    jw_add(&w, SNAPFMT_J_TOUCH, 104, "doc:1", NULL, 21, NOW + 50, 0);
    jw_write(&w, 9, w.len);
    ck_assert_int_eq(run("ls", "-H", "--expired", "@", NULL), ES_EXIT_OK);
    /* CAS 23 and 24 were stored after the flush's CAS 22 */
    ck_assert_uint_eq(count_lines(fx.out), 3);
    ck_assert(strncmp(fx.out, "         1          9      never          "
                              "         30  after\n", 59) == 0);
    HAS(fx.out, "                   23  doc:3\n");
    HAS(fx.out, "       258          0      never                   24  "
                "doc:4\n");
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "user:1: flushed by a flush_all after the snapshot");
    ck_assert_int_eq(run("get", "ek", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_int_eq(run("get", "before", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_int_eq(run("ls", "--snapshot-only", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 10);
}
END_TEST

START_TEST(test_journal_flush_pending)
{
    struct jw w;

    /* the snapshot knew of a flush_all due at NOW + 100 (meta
     * flush_pending); the journal moved it to NOW + 200 */
    set_meta(NOW + 100);
    jw_begin(&w, 5);
    jw_add(&w, SNAPFMT_J_FLUSH_AT, 101, NULL, NULL, 0, NOW + 200, 0);
    jw_add(&w, SNAPFMT_J_LINK, 102, "late", "z", 40, 0, 0);
    jw_write(&w, 5, w.len);
    ck_assert_int_eq(run("ls", "-H", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 10);
    ck_assert_int_eq(run("--now=1700000150", "ls", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 9);   /* user:3 expired */
    ck_assert_int_eq(run("--now=1700000200", "ls", "-H", "--expired", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_str_eq(fx.out, "");
    ck_assert_int_eq(run("--now=1700000200", "get", "late", "@", NULL),
                     ES_EXIT_PROBLEMS);
    HAS(fx.err, "flushed by a flush_all after the snapshot");
    ck_assert_int_eq(run("--now=1700000200", "ls", "-H", "--snapshot-only",
                         "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 8);
    /* a FLUSH_AT of 0 cancels the snapshot's pending one */
    jw_begin(&w, 5);
    jw_add(&w, SNAPFMT_J_FLUSH_AT, 101, NULL, NULL, 0, 0, 0);
    jw_write(&w, 5, w.len);
    ck_assert_int_eq(run("--now=1700000100", "ls", "-H", "--expired", "@",
                         NULL), ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 10);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "flush pending: flush_all at 1700000100 (in 100 s)\n");
}
END_TEST

START_TEST(test_journal_torn_tail)
{
    char want[512];
    struct jw w, h;
    size_t cut;

    set_meta(0);
    /* a bad record with good ones after it, none of it noted as synced:
     * pages a power cut lost. Cut there; the good record after it
     * (user:3 deleted) is dropped, as emberd's start drops it */
    jw_begin(&w, 7);
    jw_add(&w, SNAPFMT_J_LINK, 99, "old", "covered", 9, 0, 0);
    jw_add(&w, SNAPFMT_J_UNLINK, 101, "user:1", NULL, 11, 0, 0);
    jw_add(&w, SNAPFMT_J_LINK, 102, "user:2", "torn away", 102, 0, 0);
    jw_add(&w, SNAPFMT_J_UNLINK, 103, "user:3", NULL, 13, 0, 0);
    w.buf[w.off[2] + SNAPFMT_JREC_HDR] ^= 0x01;
    jw_write(&w, 7, w.len);
    jw_write(&w, 8, 10);          /* a segment whose header never made it */
    /* the write the crash interrupted: its record cut half way */
    jw_begin(&h, 9);
    jw_add(&h, SNAPFMT_J_LINK, 104, "doc:0", "half", 104, 0, 0);
    cut = SNAPFMT_JSEG_HDR + (h.len - SNAPFMT_JSEG_HDR) / 2;
    jw_write(&h, 9, cut);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_OK);
    snprintf(want, sizeof(want), "torn: %s/journal-0000000000000007.ejl: "
             "%zu bytes from offset %zu, 1 good records after them",
             fx.dir, w.len - w.off[2], w.off[2]);
    HAS(fx.out, want);
    snprintf(want, sizeof(want), "torn: %s/journal-0000000000000009.ejl: "
             "%zu bytes from offset 64, 0 good records", fx.dir, cut - 64);
    HAS(fx.out, want);
    HAS(fx.out, "0 problems\n");
    HAS(fx.out, "verify: journal: 3 segments, 2 records (1 above journal_seq "
                "100), ");
    ck_assert_int_eq(run("get", "user:2", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 1000);  /* the torn change never happened */
    ck_assert_int_eq(run("get", "user:3", "@", NULL), ES_EXIT_OK);
    ck_assert_int_eq(run("get", "doc:0", "@", NULL), ES_EXIT_OK);
    ck_assert_uint_eq(fx.nout, 84);
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_PROBLEMS);
    ck_assert_int_eq(run("get", "old", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.err, "old: not in the snapshot");
    ck_assert_int_eq(run("info", "--json", "@", NULL), ES_EXIT_OK);
    snprintf(want, sizeof(want), "\"journal_seq\":100,\"flush_pending\":0,"
             "\"journal\":{\"segments\":3,\"bytes\":%zu,\"records\":2,"
             "\"records_above\":1,\"oldest_seq\":99,\"newest_seq\":101,"
             "\"torn_bytes\":%zu,\"dropped\":1,\"damaged\":0,", w.len + 10 +
             cut, w.len - w.off[2] + 10 + cut - 64);
    HAS(fx.out, want);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, "journal:       3 segments, ");
    HAS(fx.out, "journal-0000000000000008.ejl: 10 bytes, 0 records (0 above "
                "journal_seq), torn tail of 10 bytes at offset 0\n");
    HAS(fx.out, " (1 good records after it dropped)\n");
}
END_TEST

START_TEST(test_journal_damaged)
{
    char want[512];
    struct jw w;

    set_meta(0);
    jw_begin(&w, 6);
    jw_add(&w, SNAPFMT_J_UNLINK, 101, "user:1", NULL, 11, 0, 0);
    jw_add(&w, SNAPFMT_J_LINK, 102, "user:2", "middle", 102, 0, 0);
    jw_add(&w, SNAPFMT_J_UNLINK, 103, "user:3", NULL, 13, 0, 0);
    /* emberd's note that an fdatasync put everything before it on disk */
    jw_add(&w, SNAPFMT_J_SYNCED, 0, NULL, NULL, w.len, 0, 0);
    w.buf[w.off[1] + SNAPFMT_JREC_HDR + 2] ^= 0x01;  /* in its key */
    jw_write(&w, 6, w.len);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    snprintf(want, sizeof(want), "journal: %s/journal-0000000000000006.ejl: "
             "damaged record at offset %zu", fx.dir, w.off[1]);
    HAS(fx.out, want);
    HAS(fx.out, "1 problem, journal 1\n");
    ck_assert_int_eq(run("verify", "-q", "@", NULL), ES_EXIT_PROBLEMS);
    HASNT(fx.out, "damaged record");
    ck_assert_int_eq(run("ls", "@", NULL), ES_EXIT_USAGE);
    ck_assert_str_eq(fx.out, "");
    HAS(fx.err, "embersnap: journal unreadable: ");
    HAS(fx.err, "--snapshot-only reads the snapshot alone");
    ck_assert_int_eq(count_lines(fx.err), 1);
    ck_assert_int_eq(run("get", "user:1", "@", NULL), ES_EXIT_USAGE);
    ck_assert_int_eq(run("ls", "--snapshot-only", "-H", "@", NULL),
                     ES_EXIT_OK);
    ck_assert_uint_eq(count_lines(fx.out), 9);
    ck_assert_int_eq(run("info", "@", NULL), ES_EXIT_OK);
    HAS(fx.out, ", 1 DAMAGED (run verify)\n");
    snprintf(want, sizeof(want), "ejl: %zu bytes, DAMAGED: %s/journal-",
             w.len, fx.dir);
    HAS(fx.out, want);
    /* a segment header that is not one is damage too */
    w.buf[3] ^= 0xff;
    w.buf[w.off[1] + SNAPFMT_JREC_HDR + 2] ^= 0x01;
    jw_write(&w, 6, w.len);
    ck_assert_int_eq(run("verify", "@", NULL), ES_EXIT_PROBLEMS);
    HAS(fx.out, "not a journal segment");
}
END_TEST

void
add_journal_tests(TCase *core, TCase *errors)
{
    tcase_add_test(core, test_journal_overlay);
    tcase_add_test(core, test_journal_snapshot_only);
    tcase_add_test(core, test_journal_load);
    tcase_add_test(core, test_journal_flush);
    tcase_add_test(core, test_journal_flush_pending);
    tcase_add_test(errors, test_journal_torn_tail);
    tcase_add_test(errors, test_journal_damaged);
}
