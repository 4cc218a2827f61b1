/*
 * snap_salvage.c -- --snapshot-on-corrupt=salvage: when the strict load
 * finds damage, load again keeping every record (format 2) or block
 * (format 3) that verifies, count and log what was skipped, and once
 * the journal is applied move the damaged snapshot aside and start a
 * fresh environment, whose first snapshot is a full one.
 *
 * What may never come back: a value a client deleted, replaced or
 * flushed. Format 2 keeps one record per key (an incremental snapshot
 * overwrites or deletes it in place): skipping a damaged record loses
 * that key only, provided the tree itself is sound (keys in order, the
 * count meta states). Format 3 keeps older versions in older runs: the
 * hash range a damaged block may have covered is dropped in every run
 * (snapfmt_salvage_scan()). Damaged meta or dictionaries, LMDB pages
 * that fault, a tree that hides or repeats records: nothing can be
 * trusted, the load falls back to cold (snap_restart_cold(), which
 * seeds the CAS counter from the clock).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

bool
snap_salvage_applies(const struct snap *sn, int frc)
{
    return sn->cfg.on_corrupt == SNAP_CORRUPT_SALVAGE && !sn->shared &&
           (frc == SNAPFMT_ECORRUPT || frc == SNAPFMT_ENODICT ||
            frc == SNAPFMT_EVERSION);
}

void
snap_salvage_note(struct snap *sn, const char *why)
{
    pthread_mutex_lock(&sn->stats_lock);
    if (sn->salv.nwhy < SNAP_SALVAGE_WHY_N) {
        snprintf(sn->salv.why[sn->salv.nwhy++], sizeof(sn->salv.why[0]),
                 "%s", why);
    }
    sn->salv.records++;
    pthread_mutex_unlock(&sn->stats_lock);
}

/* store_walk_step() callback: unlink IT, as if it was never loaded. */
static int
unlink_one(void *arg, struct item *it)
{
    struct store_restore rs = {
        .kind = STORE_CHANGE_UNLINK, .key = item_key(it),
        .nkey = item_nkey(it),
    };

    store_restore(arg, &rs);
    return 0;
}

/*
 * Take back what the strict load linked before it met the damage: no
 * flush (that would also reach items restored after it), each unlinked.
 */
static int
store_clear(struct snap *sn)
{
    struct store_walk w;
    int rc = 0;

    store_walk_init(&w);
    while (rc == 0 && !store_walk_done(&w)) {
        rc = store_walk_step(sn->st, &w, 4096, unlink_one, sn->st);
    }
    store_walk_release(&w);
    return rc;
}

/* Format 3: which blocks verify, which hash ranges to drop. */
static int
scan_blocks(struct snap *sn, char *err, size_t errlen)
{
    struct snapfmt_txn *txn = NULL;
    int rc;

    rc = snapfmt_txn_begin(sn->env, true, &txn, err, errlen);
    if (rc == SNAPFMT_OK) {
        rc = snapfmt_salvage_scan(txn, &sn->meta, &sn->salv.scan, err,
                                  errlen);
    }
    snapfmt_txn_abort(&txn);
    if (rc != SNAPFMT_OK) {
        return rc;
    }
    for (unsigned i = 0; i < sn->salv.scan->nwhy && i < SNAP_SALVAGE_WHY_N;
         i++) {
        snprintf(sn->salv.why[i], sizeof(sn->salv.why[0]), "%s",
                 sn->salv.scan->why[i]);
    }
    sn->salv.nwhy = sn->salv.scan->nwhy < SNAP_SALVAGE_WHY_N
                        ? sn->salv.scan->nwhy : SNAP_SALVAGE_WHY_N;
    sn->salv.blocks = sn->salv.scan->bad_blocks;
    return SNAPFMT_OK;
}

int
snap_salvage_load(struct snap *sn, struct snap_loadres *res, char *err,
                  size_t errlen)
{
    char first[SNAP_ERR_MAX];
    int rc;

    snprintf(first, sizeof(first), "%s", err);
    snap_log(sn, SNAP_LOG_WARN, "snapshot in %s is damaged: %s; "
             "salvaging what verifies (--snapshot-on-corrupt=salvage)",
             sn->dir, first);
    if (store_clear(sn) != 0) {
        snprintf(err, errlen, "out of memory");
        return SNAPFMT_ENOMEM;
    }
    memset(res, 0, sizeof(*res));
    sn->salvaging = true;
    if (sn->meta.format_version >= 3) {
        rc = scan_blocks(sn, err, errlen);
        if (rc == SNAPFMT_OK) {
            rc = snap_load_blocks(sn, res, err, errlen);
        }
        sn->salv.records = res->damaged;
    } else {
        rc = snap_load_items(sn, res, err, errlen);
    }
    if (rc != SNAPFMT_OK) {
        /* the tree itself: nothing loaded can be trusted */
        char why[SNAP_ERR_MAX];

        snprintf(why, sizeof(why), "%s", err);
        store_clear(sn);
        snprintf(err, errlen, "%s; cannot salvage: %s", first, why);
        return rc == SNAPFMT_ENOMEM ? rc : SNAPFMT_ECORRUPT;
    }
    sn->salvaged = true;
    return SNAPFMT_OK;
}

void
snap_salvage_report(struct snap *sn, const struct snap_loadres *res)
{
    /* what a reason is about: a block (format 3) or a record */
    uint64_t units = sn->meta.format_version >= 3 ? sn->salv.blocks
                                                  : sn->salv.records;

    pthread_mutex_lock(&sn->stats_lock);
    sn->stats.warm_restart_salvaged = 1;
    sn->stats.warm_restart_records_damaged = sn->salv.records;
    sn->stats.warm_restart_blocks_damaged = sn->salv.blocks;
    pthread_mutex_unlock(&sn->stats_lock);
    snap_log(sn, SNAP_LOG_WARN, "salvaged the damaged snapshot in %s: "
             "%llu items loaded, %llu records skipped (%llu damaged "
             "block%s); the damaged files are moved aside and the next "
             "snapshot is a full one",
             sn->dir, (unsigned long long)res->loaded,
             (unsigned long long)sn->salv.records,
             (unsigned long long)sn->salv.blocks,
             sn->salv.blocks == 1 ? "" : "s");
    for (unsigned i = 0; i < sn->salv.nwhy; i++) {
        snap_log(sn, SNAP_LOG_WARN, "salvage skipped: %s", sn->salv.why[i]);
    }
    if (units > sn->salv.nwhy && sn->salv.nwhy > 0) {
        snap_log(sn, SNAP_LOG_WARN, "salvage skipped: ... and %llu more",
                 (unsigned long long)(units - sn->salv.nwhy));
    }
}

int
snap_salvage_settle(struct snap *sn, char *err, size_t errlen)
{
    int rc;

    snapfmt_salvage_free(&sn->salv.scan);
    jrn_replay_free(&sn->replay);
    sn->salvaged = false;       /* the marker goes into the fresh DIR */
    /* never update the damaged file: it goes aside whole (a rename, no
     * copy: no disk space needed), a fresh environment takes its place */
    rc = snap_restart_cold(sn, "damaged", err, errlen);
    if (rc == SNAP_OK && snap_journal_load(sn, err, errlen) != SNAPFMT_OK) {
        rc = SNAP_ESYS;
    }
    if (rc != SNAP_OK) {
        /* serve what was salvaged, but write nothing over the damage */
        snap_log(sn, SNAP_LOG_ERROR, "cannot move the damaged snapshot in "
                 "%s aside: %s; serving the salvaged items without "
                 "snapshots until restarted", sn->dir, err);
        sn->refused = true;
        return SNAP_OK;
    }
    sn->need_full = true;
    snap_stats_disk(sn, 0);
    /* the first snapshot as soon as the writer starts: what was salvaged
     * is on disk again only then */
    pthread_mutex_lock(&sn->lock);
    sn->req_seq++;
    pthread_mutex_unlock(&sn->lock);
    return SNAP_OK;
}
