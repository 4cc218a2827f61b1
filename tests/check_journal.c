/*
 * check_journal.c -- the journal: its record and segment format (every
 * byte flipped, every cut), and (journal_test_*) writing, rotating,
 * retiring and replaying it through the snapshot layer, with faults
 * injected into its system calls.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "snapshot/format.h"
#include "tests/check_journal.h"

static void
le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* ---- building segments in memory -------------------------------------- */

struct seg {
    unsigned char *buf;
    size_t len;
    size_t cap;
    size_t off[64];         /* where each record starts */
    unsigned n;
};

static void
seg_init(struct seg *sg)
{
    memset(sg, 0, sizeof(*sg));
    sg->cap = 1 << 20;
    sg->buf = calloc(1, sg->cap);
    ck_assert_ptr_nonnull(sg->buf);
    snapfmt_jseg_header(sg->buf, 7, 1700000000u);
    sg->len = SNAPFMT_JSEG_HDR;
}

static void
seg_add(struct seg *sg, const struct snapfmt_jrec *r)
{
    size_t n = snapfmt_jrec_size(r->nkey, r->nvalue);

    ck_assert_uint_le(sg->len + n, sg->cap);
    sg->off[sg->n++] = sg->len;
    ck_assert_uint_eq(snapfmt_jrec_put(r, sg->buf + sg->len), n);
    snapfmt_jrec_seal(sg->buf + sg->len);
    sg->len += n;
}

static struct snapfmt_jrec
link_rec(uint64_t seq, const char *key, const char *val)
{
    struct snapfmt_jrec r;

    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_LINK;
    r.seq = seq;
    r.cas = seq * 10;
    r.flags = 5;
    r.exptime = 1700000100u;
    r.time = 1700000000u;
    r.key = key;
    r.nkey = strlen(key);
    r.value = val;
    r.nvalue = (uint32_t)strlen(val);
    return r;
}

/* A segment of seven records of every kind. */
static void
seg_sample(struct seg *sg)
{
    struct snapfmt_jrec r = link_rec(1, "alpha", "one");

    seg_init(sg);
    seg_add(sg, &r);
    r = link_rec(2, "beta", "a value that spans some bytes");
    r.rflags = SNAPFMT_RF_STALE | SNAPFMT_RF_CAS_EXPLICIT;
    r.order = 99;
    seg_add(sg, &r);
    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_UNLINK;
    r.seq = 3;
    r.key = "alpha";
    r.nkey = 5;
    r.cas = 10;
    seg_add(sg, &r);
    r.kind = SNAPFMT_J_TOUCH;
    r.seq = 4;
    r.key = "beta";
    r.nkey = 4;
    r.exptime = 7;
    seg_add(sg, &r);
    r.kind = SNAPFMT_J_MARK;
    r.seq = 5;
    r.rflags = SNAPFMT_RF_WON;
    seg_add(sg, &r);
    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_FLUSH;
    r.seq = 6;
    r.cas = 1234;
    seg_add(sg, &r);
    r.kind = SNAPFMT_J_FLUSH_AT;
    r.seq = 7;
    r.exptime = 1700000500u;
    seg_add(sg, &r);
}

struct seen {
    unsigned n;
    uint64_t seq[64];
    unsigned kind[64];
};

static int
seen_fn(void *arg, const struct snapfmt_jrec *r, const void *rec, size_t len)
{
    struct seen *s = arg;

    (void)rec;
    ck_assert_uint_eq(len, snapfmt_jrec_size(r->nkey, r->nvalue));
    s->seq[s->n] = r->seq;
    s->kind[s->n++] = r->kind;
    return 0;
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_record_roundtrip)
{
    struct seg sg;
    struct snapfmt_jrec r;
    char err[SNAPFMT_ERR_MAX];
    size_t len;

    seg_sample(&sg);
    ck_assert_int_eq(snapfmt_jrec_parse(sg.buf + sg.off[1],
                                        sg.len - sg.off[1], &r, &len, err,
                                        sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(r.kind, SNAPFMT_J_LINK);
    ck_assert_uint_eq(r.seq, 2);
    ck_assert_uint_eq(r.cas, 20);
    ck_assert_uint_eq(r.order, 99);
    ck_assert_uint_eq(r.flags, 5);
    ck_assert_uint_eq(r.exptime, 1700000100u);
    ck_assert_uint_eq(r.rflags, SNAPFMT_RF_STALE | SNAPFMT_RF_CAS_EXPLICIT);
    ck_assert_uint_eq(r.nkey, 4);
    ck_assert_mem_eq(r.key, "beta", 4);
    ck_assert_uint_eq(r.nvalue, 29);
    ck_assert_mem_eq(r.value, "a value that spans some bytes", 29);
    ck_assert_uint_eq(len, sg.off[2] - sg.off[1]);
    ck_assert_uint_eq(len % 8, 0);
    free(sg.buf);
}
END_TEST

START_TEST(test_segment_scan)
{
    struct seg sg;
    struct seen s = { 0 };
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX];

    seg_sample(&sg);
    ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", seen_fn, &s,
                                       &sc, err, sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(s.n, 7);
    for (unsigned i = 0; i < 7; i++) {
        ck_assert_uint_eq(s.seq[i], i + 1);
    }
    ck_assert_uint_eq(s.kind[6], SNAPFMT_J_FLUSH_AT);
    ck_assert_uint_eq(sc.segno, 7);
    ck_assert_uint_eq(sc.records, 7);
    ck_assert_uint_eq(sc.min_seq, 1);
    ck_assert_uint_eq(sc.max_seq, 7);
    ck_assert_uint_eq(sc.good_bytes, sg.len);
    ck_assert_uint_eq(sc.torn_bytes, 0);
    free(sg.buf);
}
END_TEST

START_TEST(test_segment_files)
{
    char dir[] = "/tmp/ember-jseg-XXXXXX", path[256];
    uint64_t *v = NULL;
    size_t n = 0, len;
    const void *map;
    struct seg sg;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    seg_sample(&sg);
    for (uint64_t segno = 3; segno > 0; segno--) {
        snapfmt_jseg_path(dir, segno * 16, path, sizeof(path));
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(sg.buf, 1, sg.len, f), sg.len);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/journal-zz.ejl", dir);
    fclose(fopen(path, "w"));           /* not a segment name */
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    fclose(fopen(path, "w"));
    ck_assert_int_eq(snapfmt_jseg_list(dir, &v, &n, NULL, 0), SNAPFMT_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(v[0], 16);
    ck_assert_uint_eq(v[2], 48);
    snapfmt_jseg_path(dir, 32, path, sizeof(path));
    ck_assert_str_eq(strrchr(path, '/'), "/journal-0000000000000020.ejl");
    ck_assert_int_eq(snapfmt_jseg_map(path, &map, &len, NULL, 0),
                     SNAPFMT_OK);
    ck_assert_uint_eq(len, sg.len);
    ck_assert_mem_eq(map, sg.buf, len);
    snapfmt_jseg_unmap(map, len);
    free(v);
    free(sg.buf);
    ck_assert_int_eq(system("rm -rf /tmp/ember-jseg-*"), 0);
}
END_TEST

/* ---- limits: torn tails ----------------------------------------------- */

/* Cut the segment at every byte of its last three records: the scan keeps
 * exactly the records that are whole and reports the rest as torn. */
START_TEST(test_torn_tail_every_offset)
{
    struct seg sg;
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX];

    seg_sample(&sg);
    for (size_t cut = sg.off[4]; cut <= sg.len; cut++) {
        struct seen s = { 0 };
        unsigned whole = 0;

        while (whole < sg.n && (whole + 1 < sg.n ? sg.off[whole + 1]
                                                 : sg.len) <= cut) {
            whole++;
        }
        ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, cut, "seg", seen_fn, &s,
                                           &sc, err, sizeof(err)),
                         SNAPFMT_OK);
        ck_assert_uint_eq(s.n, whole);
        ck_assert_uint_eq(sc.records, whole);
        ck_assert_uint_eq(sc.good_bytes + sc.torn_bytes, cut);
        ck_assert_uint_eq(sc.good_bytes,
                          whole < sg.n ? sg.off[whole] : sg.len);
    }
    free(sg.buf);
}
END_TEST

/* What a crash can leave besides a cut record: a file extended with
 * zeros (the size reached the disk, the data did not), or garbage. */
START_TEST(test_torn_tail_zeros_and_garbage)
{
    struct seg sg;
    struct seen s = { 0 };
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX];
    size_t end;

    seg_sample(&sg);
    end = sg.len;
    memset(sg.buf + end, 0, 4096);
    ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, end + 4096, "seg", seen_fn,
                                       &s, &sc, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(s.n, 7);
    ck_assert_uint_eq(sc.torn_bytes, 4096);
    for (size_t i = 0; i < 4096; i++) {
        sg.buf[end + i] = (unsigned char)(i * 131 + 7);
    }
    s.n = 0;
    ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, end + 4096, "seg", seen_fn,
                                       &s, &sc, err, sizeof(err)),
                     SNAPFMT_OK);
    ck_assert_uint_eq(s.n, 7);
    ck_assert_uint_eq(sc.torn_bytes, 4096);
    free(sg.buf);
}
END_TEST

START_TEST(test_largest_record)
{
    char key[STORE_KEY_MAX_T + 1];
    struct snapfmt_jrec r, out;
    size_t nvalue = 1 << 20, len;
    char *value = malloc(nvalue);
    unsigned char *buf;

    ck_assert_ptr_nonnull(value);
    memset(key, 'k', STORE_KEY_MAX_T);
    key[STORE_KEY_MAX_T] = '\0';
    memset(value, 'v', nvalue);
    r = link_rec(9, key, "");
    r.value = value;
    r.nvalue = (uint32_t)nvalue;
    buf = malloc(snapfmt_jrec_size(r.nkey, nvalue));
    ck_assert_ptr_nonnull(buf);
    len = snapfmt_jrec_put(&r, buf);
    snapfmt_jrec_seal(buf);
    ck_assert_int_eq(snapfmt_jrec_parse(buf, len, &out, &len, NULL, 0),
                     SNAPFMT_OK);
    ck_assert_uint_eq(out.nkey, STORE_KEY_MAX_T);
    ck_assert_uint_eq(out.nvalue, nvalue);
    /* one byte short of the whole record: cut, not misread */
    ck_assert_int_eq(snapfmt_jrec_parse(buf, len - 1, &out, &len, NULL, 0),
                     SNAPFMT_ECORRUPT);
    free(buf);
    free(value);
}
END_TEST

/* ---- errors: damage ---------------------------------------------------- */

/* A note that the bytes before OFF were on disk. */
static void
seg_synced(struct seg *sg, uint64_t off)
{
    struct snapfmt_jrec r;

    memset(&r, 0, sizeof(r));
    r.kind = SNAPFMT_J_SYNCED;
    r.cas = off;
    seg_add(sg, &r);
}

/* Every byte of a record in the middle of bytes known to have been on
 * disk, flipped: the scan refuses the segment, naming the offset. */
START_TEST(test_every_byte_of_a_middle_record)
{
    struct seg sg;
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX], want[64];

    seg_sample(&sg);
    seg_synced(&sg, sg.off[5]);
    snprintf(want, sizeof(want), "offset %zu", sg.off[2]);
    for (size_t i = sg.off[2]; i < sg.off[3]; i++) {
        sg.buf[i] ^= 0x40;
        ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", NULL, NULL,
                                           &sc, err, sizeof(err)),
                         SNAPFMT_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(err, want));
        sg.buf[i] ^= 0x40;
    }
    free(sg.buf);
}
END_TEST

/* Damage past the last SYNCED note (or with none): what a power cut
 * leaves of writes not yet on disk, pages missing before later ones. The
 * scan cuts at the first bad byte and counts the whole records after. */
START_TEST(test_hole_after_the_synced_bytes_is_cut)
{
    struct seg sg;
    struct seen s;
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX];

    seg_sample(&sg);
    seg_synced(&sg, sg.off[2]);         /* records 0, 1 were on disk */
    memset(sg.buf + sg.off[3], 0, sg.off[5] - sg.off[3]);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", seen_fn, &s,
                                       &sc, err, sizeof(err)), SNAPFMT_OK);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(sc.good_bytes, sg.off[3]);
    ck_assert_uint_eq(sc.torn_bytes, sg.len - sg.off[3]);
    ck_assert_uint_eq(sc.dropped, 3);   /* 5, 6 and the note */
    ck_assert_uint_eq(sc.synced, sg.off[2]);
    /* the same hole inside the synced bytes is damage */
    seg_synced(&sg, sg.off[4]);
    ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", NULL, NULL,
                                       &sc, err, sizeof(err)),
                     SNAPFMT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "on disk"));
    free(sg.buf);
}
END_TEST

/* Every byte of the last record flipped: a damaged tail, cut. */
START_TEST(test_every_byte_of_the_last_record)
{
    struct seg sg;
    struct seen s;
    struct snapfmt_jscan sc;

    seg_sample(&sg);
    for (size_t i = sg.off[6]; i < sg.len; i++) {
        memset(&s, 0, sizeof(s));
        sg.buf[i] ^= 0x01;
        ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", seen_fn,
                                           &s, &sc, NULL, 0), SNAPFMT_OK);
        ck_assert_uint_eq(s.n, 6);
        ck_assert_uint_eq(sc.torn_bytes, sg.len - sg.off[6]);
        sg.buf[i] ^= 0x01;
    }
    free(sg.buf);
}
END_TEST

START_TEST(test_bad_segment_header)
{
    struct seg sg;
    struct snapfmt_jscan sc;
    char err[SNAPFMT_ERR_MAX];
    uint64_t segno;

    seg_sample(&sg);
    for (size_t i = 0; i < SNAPFMT_JSEG_HDR; i++) {
        sg.buf[i] ^= 0x10;
        ck_assert_int_eq(snapfmt_jseg_scan(sg.buf, sg.len, "seg", NULL, NULL,
                                           &sc, err, sizeof(err)),
                         SNAPFMT_ECORRUPT);
        sg.buf[i] ^= 0x10;
    }
    ck_assert_int_eq(snapfmt_jseg_check(sg.buf, 63, &segno, NULL, 0),
                     SNAPFMT_ECORRUPT);
    free(sg.buf);
}
END_TEST

/* A journal or record newer than this build: refused as a version. */
START_TEST(test_newer_versions)
{
    struct seg sg;
    struct snapfmt_jrec r = link_rec(1, "k", "v");
    unsigned char rec[128];
    uint64_t segno;
    size_t len;
    char err[SNAPFMT_ERR_MAX];

    seg_init(&sg);
    sg.buf[8] = SNAPFMT_JOURNAL_VERSION + 1;
    /* sealed as a newer writer would seal it */
    le64(sg.buf + 56, XXH3_64bits(sg.buf, 56));
    ck_assert_int_eq(snapfmt_jseg_check(sg.buf, sg.len, &segno, err,
                                        sizeof(err)), SNAPFMT_EVERSION);
    r.kind = SNAPFMT_J_KIND_MAX + 1;
    r.nkey = 0;
    r.nvalue = 0;
    snapfmt_jrec_put(&r, rec);
    snapfmt_jrec_seal(rec);
    ck_assert_int_eq(snapfmt_jrec_parse(rec, sizeof(rec), &r, &len, err,
                                        sizeof(err)), SNAPFMT_EVERSION);
    free(sg.buf);
}
END_TEST

static Suite *
journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, test_record_roundtrip);
    tcase_add_test(core, test_segment_scan);
    tcase_add_test(core, test_segment_files);
    journal_test_core(core);
    journal_test_takeover(core);
    suite_add_tcase(s, core);
    tcase_add_test(limits, test_torn_tail_every_offset);
    tcase_add_test(limits, test_torn_tail_zeros_and_garbage);
    tcase_add_test(limits, test_largest_record);
    journal_test_limits(limits);
    tcase_set_timeout(limits, 120);
    suite_add_tcase(s, limits);
    tcase_add_test(errors, test_every_byte_of_a_middle_record);
    tcase_add_test(errors, test_every_byte_of_the_last_record);
    tcase_add_test(errors, test_hole_after_the_synced_bytes_is_cut);
    tcase_add_test(errors, test_bad_segment_header);
    tcase_add_test(errors, test_newer_versions);
    journal_test_errors(errors);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(journal_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
