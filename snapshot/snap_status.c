/*
 * snap_status.c -- what the snapshot layer tells the operator besides
 * errors: its stats (snap_stats()), the figures of the snapshot on disk
 * from the start, progress lines while a long load runs, and one line
 * per change of state when snapshots start failing or work again.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "snapshot/journal_int.h"
#include "snapshot/snap_int.h"

#define PROGRESS_MS_DEFAULT 2000u

void
snap_progress(struct snap *sn, const char *what, uint64_t done,
              uint64_t total)
{
    uint64_t now = snap_now_us();
    unsigned ms = sn->cfg.progress_ms ? sn->cfg.progress_ms
                                      : PROGRESS_MS_DEFAULT;

    if (sn->progress_next == 0) {
        sn->progress_next = sn->load_t0 + (uint64_t)ms * 1000u;
    }
    if (now < sn->progress_next) {
        return;
    }
    sn->progress_next = now + (uint64_t)ms * 1000u;
    if (total == 0) {
        snap_log(sn, SNAP_LOG_NOTICE, "loading %s: %s, %llu s", sn->dir,
                 what, (unsigned long long)(now - sn->load_t0) / 1000000u);
        return;
    }
    snap_log(sn, SNAP_LOG_NOTICE, "loading %s: %s %llu of %llu (%llu%%), "
             "%llu s", sn->dir, what, (unsigned long long)done,
             (unsigned long long)total,
             (unsigned long long)(done * 100 / total),
             (unsigned long long)(now - sn->load_t0) / 1000000u);
}

void
snap_stats_disk(struct snap *sn, uint64_t covered)
{
    const struct snapfmt_meta *m = &sn->meta;
    uint64_t used = 0, map = 0;

    if (sn->env != NULL) {
        snapfmt_env_sizes(sn->env, &used, &map);
    }
    pthread_mutex_lock(&sn->stats_lock);
    sn->stats.snapshot_items = m->items;
    sn->stats.snapshot_raw_bytes = m->bytes;
    sn->stats.snapshot_stored_bytes = m->stored_bytes;
    sn->stats.snapshot_raw_to_stored_ratio =
        m->stored_bytes ? (double)m->bytes / (double)m->stored_bytes : 1.0;
    sn->stats.snapshot_last_time = m->last_commit;
    sn->stats.snapshot_bytes_on_disk = used;
    sn->stats.snapshot_map_size = map;
    sn->changes_base = covered;
    pthread_mutex_unlock(&sn->stats_lock);
}

void
snap_note_result(struct snap *sn, bool ok, const char *err)
{
    uint32_t now = store_now(sn->st);

    if (!ok) {
        if (sn->fail_streak++ == 0) {
            sn->fail_since = now;
        }
        if (sn->final) {
            return;     /* snap_close()'s caller reports it */
        }
        if (sn->fail_streak == 1) {
            snap_log(sn, SNAP_LOG_ERROR, "snapshot to %s failed: %s (the "
                     "data stays in RAM and the next snapshot is a full "
                     "rewrite; until one succeeds, failures are counted "
                     "in stats snapshot_failures and logged at -v only)",
                     sn->dir, err);
        } else {
            snap_log(sn, SNAP_LOG_INFO, "snapshot to %s failed again (%u "
                     "in a row): %s", sn->dir, sn->fail_streak, err);
        }
        return;
    }
    if (sn->fail_streak > 0) {
        snap_log(sn, SNAP_LOG_NOTICE, "snapshot %llu of %s committed: "
                 "snapshots work again after %u failed attempt(s) over "
                 "%u s", (unsigned long long)sn->meta.sequence, sn->dir,
                 sn->fail_streak, now > sn->fail_since
                                      ? now - sn->fail_since : 0);
        sn->fail_streak = 0;
    }
}

void
snap_stats(struct snap *sn, struct snap_stats *out)
{
    uint64_t now = store_now(sn->st), seq = store_seq_current(sn->st);
    uint64_t since, base;

    pthread_mutex_lock(&sn->stats_lock);
    *out = sn->stats;
    base = sn->changes_base;
    pthread_mutex_unlock(&sn->stats_lock);
    if (sn->jrn != NULL) {
        jrn_stats(sn->jrn, out);
    }
    out->snapshot_changes_since_last = seq > base ? seq - base : 0;
    /* never committed: as old as this process's wait for one, so that
     * an alert on the age fires when no snapshot ever succeeds */
    since = out->snapshot_last_time ? out->snapshot_last_time
                                    : sn->opened_at;
    out->snapshot_age = now > since ? now - since : 0;
}
