/*
 * snap_open.c -- opening a snapshot for embersnap: read-only environment,
 * one read transaction for a consistent view, meta, the journal read
 * against that snapshot (snap_journal.h), dictionaries; the record walk,
 * which merges the snapshot's records with the journal's overlay in key
 * order, single-key lookups, and value decoding (embersnap.h).
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"
#include "tools/embersnap/snap_journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The dictionaries and the codec, once the transaction is final. */
static int
snap_tools(struct es_snap *s, const struct es_cli *cli)
{
    if (snapfmt_dicts_load(s->env, s->txn, 1, &s->dicts, s->dict_err,
                           sizeof(s->dict_err)) != SNAPFMT_OK) {
        if (s->dict_err[0] == '\0') {
            snprintf(s->dict_err, sizeof(s->dict_err),
                     "dictionaries do not load");
        }
        s->dicts = snapfmt_dicts_create();
    }
    s->codec = snapfmt_codec_create(0);
    if (s->dicts == NULL || s->codec == NULL) {
        fprintf(cli->err, "embersnap: out of memory\n");
        es_snap_release(s);
        return ES_EXIT_USAGE;
    }
    return ES_EXIT_OK;
}

/* Fold the scanned journal into the overlay. A damaged segment is an
 * error here: what emberd would serve is then up to its corrupt policy. */
static int
journal_apply(struct es_snap *s, const struct es_cli *cli, char *err,
              size_t errlen)
{
    const struct es_journal *j = s->jrn;
    int rc;

    for (size_t i = 0; i < j->nsegs; i++) {
        if (j->segs[i].rc != SNAPFMT_OK) {
            snprintf(err, errlen, "journal unreadable: %s (embersnap verify "
                     "lists the damage; --snapshot-only reads the snapshot "
                     "alone)", j->segs[i].msg);
            return j->segs[i].rc;
        }
    }
    rc = es_journal_fold(s->jrn, s->txn, s->meta.flush_pending, cli->now,
                         err, errlen);
    s->overlay = rc == SNAPFMT_OK;
    return rc;
}

/* Retries of the journal read while emberd keeps committing snapshots. */
#define JOURNAL_TRIES 8

/*
 * Read the journal against the snapshot S->txn sees. A snapshot that
 * emberd commits meanwhile may retire segments before they are listed:
 * after the scan a fresh transaction must still see the same snapshot
 * (sequence and journal_seq), or it all starts again with the new one.
 * The fold then reads the snapshot in that fresh transaction.
 */
static int
journal_open(struct es_snap *s, const struct es_cli *cli,
             enum es_jmode mode, char *err, size_t errlen)
{
    struct snapfmt_meta m;
    int rc;

    for (int t = 0; t < JOURNAL_TRIES; t++) {
        rc = es_journal_scan(s->dir, s->meta.journal_seq,
                             mode == ES_JOURNAL_APPLY, &s->jrn, err, errlen);
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        snapfmt_txn_abort(&s->txn);
        rc = snapfmt_txn_begin(s->env, true, &s->txn, err, errlen);
        if (rc == SNAPFMT_OK) {
            rc = snapfmt_meta_read(s->env, s->txn, &m, err, errlen);
        }
        if (rc != SNAPFMT_OK) {
            return rc;
        }
        if (m.sequence == s->meta.sequence &&
            m.journal_seq == s->meta.journal_seq) {
            s->meta = m;
            return mode == ES_JOURNAL_APPLY ? journal_apply(s, cli, err,
                                                            errlen)
                                            : SNAPFMT_OK;
        }
        s->meta = m;
        es_journal_free(&s->jrn);
    }
    snprintf(err, errlen, "%s: emberd committed %d snapshots while the "
             "journal was being read; try again", s->dir, JOURNAL_TRIES);
    return SNAPFMT_ECORRUPT;
}

int
es_snap_open(struct es_snap *s, const struct es_cli *cli, const char *dir,
             enum es_jmode mode)
{
    char err[2 * SNAPFMT_ERR_MAX] = "";   /* a segment's message and more */
    int rc;

    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->out = cli->out;
    s->stop = cli->stop;
    es_fault_dir(dir);      /* before LMDB reads a byte of it */
    /* SNAPFMT_RDONLY is MDB_RDONLY with LMDB's lock file: our read
     * transaction registers in the reader table, so emberd's writer will
     * not reuse the pages we read, and it never waits for us. */
    rc = snapfmt_env_check_file(dir, err, sizeof(err));
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_env_open(dir, SNAPFMT_RDONLY, 0, &s->env, err,
                              sizeof(err));
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_txn_begin(s->env, true, &s->txn, err, sizeof(err));
    }
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_meta_read(s->env, s->txn, &s->meta, err, sizeof(err));
    }
    if (rc == SNAPFMT_OK && mode != ES_JOURNAL_NONE) {
        rc = journal_open(s, cli, mode, err, sizeof(err));
    }
    if (rc != SNAPFMT_OK) {
        fprintf(cli->err, "embersnap: %s%s\n",
                err[0] ? err : snapfmt_strerror(rc),
                strstr(err, "ermission") ? " (reading needs write access "
                "to lock.mdb, LMDB's reader table)" : "");
        es_snap_release(s);
        return ES_EXIT_USAGE;
    }
    return snap_tools(s, cli);
}

void
es_snap_release(struct es_snap *s)
{
    snapfmt_txn_abort(&s->txn);
    snapfmt_dicts_destroy(&s->dicts);
    snapfmt_codec_destroy(&s->codec);
    snapfmt_env_close(&s->env);
    es_journal_free(&s->jrn);
    free(s->vbuf);
    s->vbuf = NULL;
    s->vcap = 0;
}

/* ---- walks: the snapshot's records, merged with the overlay ---------- */

struct walk {
    struct es_snap *s;
    struct snapfmt_range *range;
    const void *prefix;
    size_t nprefix;
    const void *key, *rec;    /* the snapshot's next record */
    size_t nkey, nrec;
    bool has_snap;
    int snap_rc;              /* SNAPFMT_END, or why the range ended */
    size_t ent;               /* the overlay's next entry */
};

static void
walk_next_snap(struct walk *w)
{
    w->snap_rc = snapfmt_range_next(w->range, &w->key, &w->nkey, &w->rec,
                                    &w->nrec);
    w->has_snap = w->snap_rc == SNAPFMT_OK;
}

/* The overlay's next entry within the prefix, or NULL. */
static const struct es_jent *
walk_ent(const struct walk *w)
{
    const struct es_journal *j = w->s->jrn;
    const struct es_jent *e;

    if (!w->s->overlay || w->ent >= j->nents) {
        return NULL;
    }
    e = &j->ents[w->ent];
    if (e->nkey < w->nprefix ||
        (w->nprefix > 0 && memcmp(e->key, w->prefix, w->nprefix) != 0)) {
        return NULL;
    }
    return e;
}

/* The next record to deliver into *OUT; false when the walk is over.
 * Deleted and flushed keys are passed over. */
static bool
walk_step(struct walk *w, struct es_rec *out)
{
    const struct es_jent *e;
    int c;

    for (;;) {
        e = walk_ent(w);
        if (!w->has_snap && e == NULL) {
            return false;
        }
        c = e == NULL ? -1 : !w->has_snap ? 1
            : es_key_cmp(w->key, w->nkey, e->key, e->nkey);
        if (c < 0) {
            out->key = w->key;
            out->nkey = w->nkey;
            out->rec = w->rec;
            out->nrec = w->nrec;
            walk_next_snap(w);
            out->value = NULL;
            out->jseq = 0;
            out->msg[0] = '\0';
            out->parse_rc = snapfmt_rec_parse(out->key, out->nkey, out->rec,
                                              out->nrec, &out->r, out->msg,
                                              sizeof(out->msg));
            if (out->parse_rc != SNAPFMT_OK || !w->s->overlay ||
                !es_journal_flushes(w->s->jrn, es_snap_order(&out->r))) {
                return true;
            }
            continue;
        }
        if (c == 0) {
            walk_next_snap(w);     /* the journal's version replaces it */
        }
        w->ent++;
        if (e->state != ES_J_GONE &&
            !es_journal_flushes(w->s->jrn, e->order)) {
            es_journal_rec(e, out);
            return true;
        }
    }
}

/* Why the walk of S's items ended with RC, into ERR: what LMDB or the
 * format's checks said, and that the dictionaries had failed in the same
 * transaction (after an LMDB error there, LMDB refuses the rest). */
static void
walk_error(const struct es_snap *s, int rc, char *err, size_t errlen)
{
    const char *why = snapfmt_txn_error(s->txn);   /* names DIR */
    size_t n;

    if (why[0] != '\0') {
        snprintf(err, errlen, "walking items: %s", why);
    } else {
        snprintf(err, errlen, "%s: walking items: %s", s->dir,
                 snapfmt_strerror(rc));
    }
    n = strlen(err);
    if (s->dict_err[0] != '\0' && n < errlen) {
        snprintf(err + n, errlen - n, " (after the dictionaries failed: "
                 "%s)", s->dict_err);
    }
}

int
es_walk(struct es_snap *s, const void *prefix, size_t nprefix,
        es_walk_fn fn, void *arg, char *err, size_t errlen)
{
    struct walk w = { .s = s, .prefix = prefix, .nprefix = nprefix };
    struct es_rec rec;
    int rc, stop = 0;

    err[0] = '\0';
    rc = snapfmt_range_open(s->txn, prefix, nprefix, &w.range, err, errlen);
    if (rc != SNAPFMT_OK) {
        if (s->dict_err[0] != '\0') {
            size_t n = strlen(err);

            snprintf(err + n, errlen - n, " (after the dictionaries "
                     "failed: %s)", s->dict_err);
        }
        return rc;
    }
    if (s->overlay) {
        w.ent = es_journal_lower(s->jrn, prefix, nprefix);
    }
    walk_next_snap(&w);
    while (stop == 0 && walk_step(&w, &rec)) {
        stop = fn(s, &rec, arg);
        if (stop == 0 && ((s->stop != NULL && *s->stop) || ferror(s->out))) {
            stop = ES_WALK_STOPPED;
        }
    }
    snapfmt_range_close(&w.range);
    if (stop != 0) {
        return stop;
    }
    if (s->stop != NULL && *s->stop) {
        return ES_WALK_STOPPED;
    }
    if (w.snap_rc != SNAPFMT_END) {
        walk_error(s, w.snap_rc, err, errlen);
        return w.snap_rc;
    }
    return 0;
}

/* KEY as the overlay has it: 1 delivered into REC, 0 absent (why in
 * REC->msg), -1 not changed by the journal. */
static int
lookup_overlay(struct es_snap *s, struct es_rec *rec)
{
    const struct es_jent *e = es_journal_find(s->jrn, rec->key, rec->nkey);

    if (e == NULL) {
        return -1;
    }
    if (e->state == ES_J_GONE) {
        snprintf(rec->msg, sizeof(rec->msg), "deleted after the snapshot "
                 "(journal seq %llu)", (unsigned long long)e->seq);
        return 0;
    }
    if (es_journal_flushes(s->jrn, e->order)) {
        snprintf(rec->msg, sizeof(rec->msg), "flushed by a flush_all after "
                 "the snapshot (journal)");
        return 0;
    }
    es_journal_rec(e, rec);
    return 1;
}

int
es_lookup(struct es_snap *s, const void *key, size_t nkey,
          struct es_rec *rec, char *err, size_t errlen)
{
    int rc;

    memset(rec, 0, sizeof(*rec));
    rec->key = key;
    rec->nkey = nkey;
    if (s->overlay && (rc = lookup_overlay(s, rec)) >= 0) {
        return rc == 1 ? SNAPFMT_OK : SNAPFMT_END;
    }
    rc = snapfmt_get(s->txn, key, nkey, &rec->rec, &rec->nrec);
    if (rc == SNAPFMT_END) {
        snprintf(rec->msg, sizeof(rec->msg), "not in the snapshot");
        return rc;
    }
    if (rc != SNAPFMT_OK) {
        snprintf(err, errlen, "%s", snapfmt_txn_error(s->txn));
        return rc;
    }
    rec->parse_rc = snapfmt_rec_parse(key, nkey, rec->rec, rec->nrec, &rec->r,
                                      rec->msg, sizeof(rec->msg));
    if (rec->parse_rc == SNAPFMT_OK && s->overlay &&
        es_journal_flushes(s->jrn, es_snap_order(&rec->r))) {
        snprintf(rec->msg, sizeof(rec->msg), "flushed by a flush_all after "
                 "the snapshot (journal)");
        return SNAPFMT_END;
    }
    return SNAPFMT_OK;
}

int
es_snap_value(struct es_snap *s, const struct es_rec *rec,
              const unsigned char **val, char *msg, size_t msglen)
{
    size_t want = rec->r.raw_len;
    unsigned char *p;
    int rc;

    if (rec->value != NULL) {
        *val = rec->value;    /* the journal's checksum covered it */
        return SNAPFMT_OK;
    }

    if (want > ES_VALUE_MAX) {
        snprintf(msg, msglen, "value of %zu bytes is larger than embersnap "
                 "decodes (%u)", want, (unsigned)ES_VALUE_MAX);
        return SNAPFMT_ENOSPC;
    }
    if (want > s->vcap || s->vbuf == NULL) {
        size_t cap = s->vcap ? s->vcap : 4096;

        while (cap < want) {
            cap *= 2;
        }
        p = realloc(s->vbuf, cap);
        if (p == NULL) {
            snprintf(msg, msglen, "out of memory for a %zu byte value", want);
            return SNAPFMT_ENOMEM;
        }
        s->vbuf = p;
        s->vcap = cap;
    }
    rc = snapfmt_rec_value(s->codec, s->dicts, &rec->r, rec->key, rec->nkey,
                           s->vbuf, s->vcap, msg, msglen);
    *val = s->vbuf;
    return rc;
}
