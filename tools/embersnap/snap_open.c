/*
 * snap_open.c -- opening a snapshot for embersnap: read-only environment,
 * one read transaction for a consistent view, meta, dictionaries, the
 * record walk and value decoding (embersnap.h).
 */
#include "config.h"

#include "tools/embersnap/embersnap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
es_snap_open(struct es_snap *s, const struct es_cli *cli, const char *dir)
{
    char err[SNAPFMT_ERR_MAX] = "";
    int rc;

    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->out = cli->out;
    s->stop = cli->stop;
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
    if (rc != SNAPFMT_OK) {
        fprintf(cli->err, "embersnap: %s%s\n",
                err[0] ? err : snapfmt_strerror(rc),
                strstr(err, "ermission") ? " (reading needs write access "
                "to lock.mdb, LMDB's reader table)" : "");
        es_snap_release(s);
        return ES_EXIT_USAGE;
    }
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

void
es_snap_release(struct es_snap *s)
{
    snapfmt_txn_abort(&s->txn);
    snapfmt_dicts_destroy(&s->dicts);
    snapfmt_codec_destroy(&s->codec);
    snapfmt_env_close(&s->env);
    free(s->vbuf);
    s->vbuf = NULL;
    s->vcap = 0;
}

int
es_walk(struct es_snap *s, const void *prefix, size_t nprefix,
        es_walk_fn fn, void *arg, char *err, size_t errlen)
{
    struct snapfmt_range *range;
    struct es_rec rec;
    int rc, stop = 0;

    err[0] = '\0';
    rc = snapfmt_range_open(s->txn, prefix, nprefix, &range, err, errlen);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    while (stop == 0 && (rc = snapfmt_range_next(range, &rec.key, &rec.nkey,
                                                 &rec.rec, &rec.nrec)) ==
                            SNAPFMT_OK) {
        rec.msg[0] = '\0';
        rec.parse_rc = snapfmt_rec_parse(rec.key, rec.nkey, rec.rec,
                                         rec.nrec, &rec.r, rec.msg,
                                         sizeof(rec.msg));
        stop = fn(s, &rec, arg);
        if (stop == 0 && ((s->stop != NULL && *s->stop) || ferror(s->out))) {
            stop = ES_WALK_STOPPED;
        }
    }
    snapfmt_range_close(&range);
    if (stop != 0) {
        return stop;
    }
    if (s->stop != NULL && *s->stop) {
        return ES_WALK_STOPPED;
    }
    if (rc != SNAPFMT_END) {
        snprintf(err, errlen, "%s: walking items: %s", s->dir,
                 snapfmt_strerror(rc));
        return rc;
    }
    return 0;
}

int
es_snap_value(struct es_snap *s, const struct es_rec *rec,
              const unsigned char **val, char *msg, size_t msglen)
{
    size_t want = rec->r.raw_len;
    unsigned char *p;
    int rc;

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
