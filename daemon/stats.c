/*
 * stats.c -- counters and the `stats` command family (see stats.h).
 *
 * Not a hot path: a monitoring scrape every few seconds. Field names and
 * order follow memcached 1.6.18 so that memcached_exporter and friends
 * find every number they read. This file gathers the numbers; the bytes
 * of each line are compose.c's.
 */
#include "config.h"

#include "daemon/stats.h"

#include "daemon/compose.h"
#include "daemon/settings.h"
#include "snapshot/snapshot.h"
#include "storage/store.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int
stats_hub_init(struct stats_hub *hub, size_t nthreads)
{
    memset(hub, 0, sizeof(*hub));
    hub->threads = calloc(nthreads, sizeof(*hub->threads));
    if (hub->threads == NULL) {
        return STATS_ENOMEM;
    }
    if (pthread_mutex_init(&hub->lock, NULL) != 0) {
        free(hub->threads);
        hub->threads = NULL;
        return STATS_ENOMEM;
    }
    hub->nthreads = nthreads;
    hub->started = time(NULL);
    atomic_init(&hub->curr_connections, 0);
    atomic_init(&hub->total_connections, 0);
    atomic_init(&hub->rejected_connections, 0);
    atomic_init(&hub->connection_structures, 0);
    atomic_init(&hub->accepting_conns, 0);
    atomic_init(&hub->takeover_accept_gap_us, 0);
    return STATS_OK;
}

void
stats_hub_release(struct stats_hub *hub)
{
    if (hub->threads == NULL) {
        return;
    }
    pthread_mutex_destroy(&hub->lock);
    free(hub->threads);
    hub->threads = NULL;
}

void
stats_attach(struct stats_hub *hub, size_t idx, struct stats_thread *ts)
{
    hub->threads[idx] = ts;
}

static void
sum_raw(const struct stats_hub *hub, struct stats_sums *out)
{
    size_t i;
    const struct stats_thread *ts;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < hub->nthreads; i++) {
        ts = hub->threads[i];
        if (ts == NULL) {
            continue;
        }
#define SUM_FIELD(f) \
        out->f += atomic_load_explicit(&ts->f, memory_order_relaxed);
        STATS_THREAD_FIELDS(SUM_FIELD)
#undef SUM_FIELD
    }
}

void
stats_sum(struct stats_hub *hub, struct stats_sums *out)
{
    sum_raw(hub, out);
    pthread_mutex_lock(&hub->lock);
#define SUB_FIELD(f) out->f -= hub->base.f;
    STATS_THREAD_FIELDS(SUB_FIELD)
#undef SUB_FIELD
    pthread_mutex_unlock(&hub->lock);
}

static void
stats_reset(struct stats_hub *hub, struct store *st)
{
    struct stats_sums now;

    sum_raw(hub, &now);
    pthread_mutex_lock(&hub->lock);
    hub->base = now;
    pthread_mutex_unlock(&hub->lock);
    atomic_store(&hub->total_connections, 0);
    atomic_store(&hub->rejected_connections, 0);
    store_stats_reset(st);
}

/* ---- line helpers ---------------------------------------------------- */

/* Short names for the lines every section uses. */
static void
stat_u64(struct reply *r, const char *name, uint64_t v)
{
    compose_stat_u64(r, name, v);
}

static void
stat_str(struct reply *r, const char *name, const char *v)
{
    compose_stat(r, name, v);
}

/* "STAT <prefix><id>:<name> <v>" for items/slabs. */
static void
stat_class(struct reply *r, const char *prefix, unsigned id,
           const char *name, uint64_t v)
{
    compose_stat_id_u64(r, prefix, id, name, v);
}

static void
stat_rusage(struct reply *r)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        memset(&ru, 0, sizeof(ru));
    }
    compose_stat_timeval(r, "rusage_user", (long)ru.ru_utime.tv_sec,
                         (long)ru.ru_utime.tv_usec);
    compose_stat_timeval(r, "rusage_system", (long)ru.ru_stime.tv_sec,
                         (long)ru.ru_stime.tv_usec);
}

/* ---- stats (general) ------------------------------------------------- */

static void
render_process(struct stats_hub *hub, const struct settings *set,
               struct reply *r)
{
    time_t now = time(NULL);

    stat_u64(r, "pid", (uint64_t)getpid());
    stat_u64(r, "uptime", (uint64_t)(now - hub->started));
    stat_u64(r, "time", (uint64_t)now);
    stat_str(r, "version", COMPOSE_PROTO_VERSION "-ember-" PACKAGE_VERSION);
    stat_str(r, "ember_version", PACKAGE_VERSION);
    stat_str(r, "libevent", event_get_version());
    stat_u64(r, "pointer_size", (uint64_t)(8 * sizeof(void *)));
    stat_rusage(r);
    stat_u64(r, "max_connections", set->max_conns);
    stat_u64(r, "curr_connections", atomic_load(&hub->curr_connections));
    stat_u64(r, "total_connections", atomic_load(&hub->total_connections));
    stat_u64(r, "rejected_connections",
             atomic_load(&hub->rejected_connections));
    stat_u64(r, "connection_structures",
             atomic_load(&hub->connection_structures));
    stat_u64(r, "takeover_accept_gap_us",
             atomic_load(&hub->takeover_accept_gap_us));
}

/* IDLE: -o idle_timeout is set (memcached shows idle_kicks only then). */
static void
render_commands(const struct stats_sums *s, bool idle, struct reply *r)
{
    stat_u64(r, "cmd_get", s->cmd_get);
    stat_u64(r, "cmd_set", s->cmd_set);
    stat_u64(r, "cmd_flush", s->cmd_flush);
    stat_u64(r, "cmd_touch", s->cmd_touch);
    stat_u64(r, "cmd_meta", 0);
    stat_u64(r, "get_hits", s->get_hits);
    stat_u64(r, "get_misses", s->get_misses);
    stat_u64(r, "get_expired", s->get_expired);
    stat_u64(r, "get_flushed", s->get_flushed);
    stat_u64(r, "delete_misses", s->delete_misses);
    stat_u64(r, "delete_hits", s->delete_hits);
    stat_u64(r, "incr_misses", s->incr_misses);
    stat_u64(r, "incr_hits", s->incr_hits);
    stat_u64(r, "decr_misses", s->decr_misses);
    stat_u64(r, "decr_hits", s->decr_hits);
    stat_u64(r, "cas_misses", s->cas_misses);
    stat_u64(r, "cas_hits", s->cas_hits);
    stat_u64(r, "cas_badval", s->cas_badval);
    stat_u64(r, "touch_hits", s->touch_hits);
    stat_u64(r, "touch_misses", s->touch_misses);
    stat_u64(r, "store_too_large", s->store_too_large);
    stat_u64(r, "store_no_memory", s->store_no_memory);
    stat_u64(r, "auth_cmds", 0);
    stat_u64(r, "auth_errors", 0);
    if (idle) {
        stat_u64(r, "idle_kicks", s->idle_kicks);
    }
    stat_u64(r, "bytes_read", s->bytes_read);
    stat_u64(r, "bytes_written", s->bytes_written);
}

/*
 * memcached 1.6's segmented-LRU and crawler counters. ember has one LRU
 * per class and a sweep instead, so these are honestly zero; they are
 * printed because memcached_exporter marks a server down when one is
 * missing.
 */
static void
render_lru_zeros(struct reply *r)
{
    static const char *const names[] = {
        "lru_crawler_starts", "crawler_reclaimed", "crawler_items_checked",
        "lrutail_reflocked", "moves_to_cold", "moves_to_warm",
        "moves_within_lru", "direct_reclaims", "lru_bumps_dropped",
        NULL,
    };
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        stat_u64(r, names[i], 0);
    }
}

/* The journal: what is written since the last snapshot, its health. */
static void
render_journal(const struct snap_stats *ss, struct reply *r)
{
    stat_u64(r, "journal_enabled", ss->journal_enabled);
    stat_u64(r, "journal_ok", ss->journal_ok);
    stat_u64(r, "journal_bytes", ss->journal_bytes);
    stat_u64(r, "journal_records", ss->journal_records);
    stat_u64(r, "journal_segments", ss->journal_segments);
    stat_u64(r, "journal_disk_bytes", ss->journal_disk_bytes);
    stat_u64(r, "journal_fsyncs", ss->journal_fsyncs);
    stat_u64(r, "journal_fsync_last_us", ss->journal_fsync_last_us);
    stat_u64(r, "journal_write_errors", ss->journal_write_errors);
    stat_u64(r, "journal_replayed_records", ss->journal_replayed_records);
    stat_u64(r, "journal_replayed_segments", ss->journal_replayed_segments);
    stat_u64(r, "journal_replay_torn_bytes", ss->journal_replay_torn_bytes);
    stat_u64(r, "journal_replay_us", ss->journal_replay_us);
}

/* snapshot_last_status's words, by enum snap_status. */
static const char *
status_word(enum snap_status st)
{
    switch (st) {
    case SNAP_STATUS_OK: return "ok";
    case SNAP_STATUS_FAILED: return "failed";
    default: return "none";
    }
}

/*
 * The last error as one STAT value: "none", or the text with every space
 * and control character made '_': memcached's STAT values are one word,
 * and clients (libmemcached, exporters) cut or refuse a line with more.
 * The log has the text as it is.
 */
static void
stat_error(struct reply *r, const char *name, const char *err)
{
    char clean[SNAP_ERR_MAX];
    size_t i;

    for (i = 0; err[i] != '\0' && i < sizeof(clean) - 1; i++) {
        clean[i] = (unsigned char)err[i] <= 0x20 || err[i] == 0x7f ? '_'
                                                                   : err[i];
    }
    clean[i] = '\0';
    stat_str(r, name, i > 0 ? clean : "none");
}

/* How the last snapshot went, and what is on disk (docs/STATS.md). */
static void
render_snapshot_health(const struct snap_stats *ss, struct reply *r)
{
    stat_str(r, "snapshot_last_status",
             status_word(ss->snapshot_last_status));
    stat_error(r, "snapshot_last_error", ss->snapshot_last_error);
    stat_u64(r, "snapshot_changes_since_last",
             ss->snapshot_changes_since_last);
    stat_u64(r, "snapshot_last_duration_us", ss->snapshot_last_duration_us);
    stat_u64(r, "snapshot_last_items_written",
             ss->snapshot_last_items_written);
    stat_u64(r, "snapshot_last_keys_removed", ss->snapshot_last_keys_removed);
    stat_u64(r, "snapshot_last_bytes", ss->snapshot_last_bytes);
    stat_u64(r, "snapshot_last_time", ss->snapshot_last_time);
    stat_u64(r, "snapshot_last_full", ss->snapshot_last_full);
    stat_u64(r, "snapshot_last_commits", ss->snapshot_last_commits);
    stat_u64(r, "snapshot_last_txn_max_bytes",
             ss->snapshot_last_txn_max_bytes);
    stat_u64(r, "snapshot_bytes_on_disk", ss->snapshot_bytes_on_disk);
    stat_u64(r, "snapshot_map_size", ss->snapshot_map_size);
    stat_u64(r, "snapshot_items", ss->snapshot_items);
    stat_u64(r, "snapshot_raw_bytes", ss->snapshot_raw_bytes);
    stat_u64(r, "snapshot_stored_bytes", ss->snapshot_stored_bytes);
    compose_stat_double(r, "snapshot_raw_to_stored_ratio",
                        ss->snapshot_raw_to_stored_ratio, 3);
    stat_u64(r, "snapshot_age", ss->snapshot_age);
}

/*
 * Persistence counters. Printed (as zeros, status "none") without
 * --snapshot-dir too, so that dashboards see the same fields on every
 * node.
 */
static void
render_snapshot(struct snap *snap, struct reply *r)
{
    struct snap_stats ss;

    memset(&ss, 0, sizeof(ss));
    if (snap != NULL) {
        snap_stats(snap, &ss);
    }
    stat_u64(r, "snapshot_count", ss.snapshot_count);
    stat_u64(r, "snapshot_failures", ss.snapshot_failures);
    stat_u64(r, "snapshot_in_progress", ss.snapshot_in_progress);
    render_snapshot_health(&ss, r);
    stat_u64(r, "warm_restart_items_loaded", ss.warm_restart_items_loaded);
    stat_u64(r, "warm_restart_items_expired",
             ss.warm_restart_items_expired);
    stat_u64(r, "warm_restart_items_dropped",
             ss.warm_restart_items_dropped);
    stat_u64(r, "warm_restart_items_too_large",
             ss.warm_restart_items_too_large);
    stat_u64(r, "warm_restart_duration_us", ss.warm_restart_duration_us);
    stat_u64(r, "warm_restart_snapshot_age", ss.warm_restart_snapshot_age);
    stat_u64(r, "warm_restart_salvaged", ss.warm_restart_salvaged);
    stat_u64(r, "warm_restart_records_damaged",
             ss.warm_restart_records_damaged);
    stat_u64(r, "warm_restart_blocks_damaged",
             ss.warm_restart_blocks_damaged);
    render_journal(&ss, r);
}

static void
render_general(struct stats_hub *hub, const struct stats_view *v,
               struct reply *r)
{
    struct stats_sums s;
    struct store_stats ss;

    stats_sum(hub, &s);
    store_stats(v->st, &ss);
    render_process(hub, v->set, r);
    render_commands(&s, v->set->idle_timeout != 0, r);
    stat_u64(r, "limit_maxbytes", ss.limit_maxbytes);
    stat_u64(r, "accepting_conns",
             (uint64_t)atomic_load(&hub->accepting_conns));
    stat_u64(r, "listen_disabled_num", 0);
    stat_u64(r, "threads", hub->nthreads);
    stat_u64(r, "conn_yields", s.conn_yields);
    stat_u64(r, "journal_refused", s.journal_refused);
    stat_u64(r, "hash_power_level", ss.hash_power);
    stat_u64(r, "hash_bytes", ss.hash_bytes);
    stat_u64(r, "hash_is_expanding", ss.hash_is_expanding);
    stat_u64(r, "slabs_moved", ss.slab_reassigns);
    stat_u64(r, "bytes", ss.bytes);
    stat_u64(r, "curr_items", ss.curr_items);
    stat_u64(r, "total_items", ss.total_items);
    stat_u64(r, "expired_unfetched", ss.expired_unfetched);
    stat_u64(r, "evicted_unfetched", ss.evicted_unfetched);
    stat_u64(r, "evictions", ss.evictions);
    stat_u64(r, "reclaimed", ss.reclaimed);
    render_lru_zeros(r);
    stat_u64(r, "ember_mem_pages_bytes", ss.mem_pages);
    stat_u64(r, "ember_changelog_bytes", store_changes_bytes(v->st));
    render_snapshot(v->snap, r);
    compose_line(r, COMPOSE_END);
}

/* ---- stats settings -------------------------------------------------- */

/* One line from settings_stats(): the table in settings.c decides which
 * lines there are, their order and their text. */
static void
settings_line(void *arg, const char *name, const char *value)
{
    stat_str(arg, name, value);
}

static void
render_settings(const struct settings *set, struct reply *r)
{
    settings_stats(set, settings_line, r);
    compose_line(r, COMPOSE_END);
}

/* ---- stats items / slabs --------------------------------------------- */

struct class_walk {
    struct reply *r;
    uint64_t active;
};

static void
item_class_cb(void *arg, const struct store_class_stats *cs)
{
    struct reply *r = ((struct class_walk *)arg)->r;
    static const char p[] = "items:";

    if (cs->number == 0) {
        return;
    }
    stat_class(r, p, cs->id, "number", cs->number);
    stat_class(r, p, cs->id, "age", cs->age);
    stat_class(r, p, cs->id, "mem_requested", cs->mem_requested);
    stat_class(r, p, cs->id, "evicted", cs->evicted);
    stat_class(r, p, cs->id, "evicted_nonzero", cs->evicted_nonzero);
    stat_class(r, p, cs->id, "outofmemory", cs->outofmemory);
    stat_class(r, p, cs->id, "reclaimed", cs->reclaimed);
    stat_class(r, p, cs->id, "expired_unfetched", cs->expired_unfetched);
    stat_class(r, p, cs->id, "evicted_unfetched", cs->evicted_unfetched);
    /* one LRU per class: everything is "cold"; no per-LRU hit counts */
    stat_class(r, p, cs->id, "number_hot", 0);
    stat_class(r, p, cs->id, "number_warm", 0);
    stat_class(r, p, cs->id, "number_cold", cs->number);
    stat_class(r, p, cs->id, "age_hot", 0);
    stat_class(r, p, cs->id, "age_warm", 0);
    stat_class(r, p, cs->id, "hits_to_hot", 0);
    stat_class(r, p, cs->id, "hits_to_warm", 0);
    stat_class(r, p, cs->id, "hits_to_cold", 0);
    stat_class(r, p, cs->id, "hits_to_temp", 0);
}

/*
 * Per-class command counters: ember counts commands per worker, not per
 * size class (that would cost a class lookup on every hit). Zero, but
 * present, for the same exporter reason as render_lru_zeros().
 */
static void
slab_command_zeros(struct reply *r, unsigned id)
{
    static const char *const names[] = {
        "get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits",
        "cas_hits", "cas_badval", "touch_hits", NULL,
    };
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        stat_class(r, "", id, names[i], 0);
    }
}

static void
slab_class_cb(void *arg, const struct store_class_stats *cs)
{
    struct class_walk *w = arg;
    static const char p[] = "";

    w->active++;
    stat_class(w->r, p, cs->id, "chunk_size", cs->chunk_size);
    stat_class(w->r, p, cs->id, "chunks_per_page", cs->chunks_per_page);
    stat_class(w->r, p, cs->id, "total_pages", cs->total_pages);
    stat_class(w->r, p, cs->id, "total_chunks",
               cs->total_pages * cs->chunks_per_page);
    stat_class(w->r, p, cs->id, "used_chunks", cs->used_chunks);
    stat_class(w->r, p, cs->id, "free_chunks", cs->free_chunks);
    stat_class(w->r, p, cs->id, "free_chunks_end", 0);
    stat_class(w->r, p, cs->id, "mem_requested", cs->mem_requested);
    slab_command_zeros(w->r, cs->id);
}

static void
render_classes(struct store *st, struct reply *r, bool slabs)
{
    struct class_walk w = { r, 0 };
    struct store_stats ss;

    store_class_stats(st, slabs ? slab_class_cb : item_class_cb, &w);
    if (slabs) {
        store_stats(st, &ss);
        stat_u64(r, "active_slabs", w.active);
        stat_u64(r, "total_malloced", ss.mem_pages);
    }
    compose_line(r, COMPOSE_END);
}

/* ---- dispatch -------------------------------------------------------- */

static bool
arg_is(const char *arg, size_t narg, const char *word)
{
    size_t n = strlen(word);

    return narg == n && memcmp(arg, word, n) == 0;
}

int
stats_render(struct stats_hub *hub, const struct stats_view *view,
             const char *arg, size_t narg, struct reply *r)
{
    const char *space = narg > 0 ? memchr(arg, ' ', narg) : NULL;
    size_t full = narg;

    /* memcached looks at the first word only ("stats items x" = items) */
    if (space != NULL) {
        narg = (size_t)(space - arg);
    }
    if (narg == 0) {
        render_general(hub, view, r);
    } else if (arg_is(arg, narg, "settings")) {
        render_settings(view->set, r);
    } else if (arg_is(arg, narg, "items")) {
        render_classes(view->st, r, false);
    } else if (arg_is(arg, narg, "slabs")) {
        render_classes(view->st, r, true);
    } else if (arg_is(arg, narg, "sizes")) {
        stat_str(r, "sizes_status", "disabled");
        compose_line(r, COMPOSE_END);
    } else if (arg_is(arg, narg, "conns")) {
        if (hub->conns_fn != NULL) {
            hub->conns_fn(hub->conns_arg, r);
        }
        compose_line(r, COMPOSE_END);
    } else if (arg_is(arg, narg, "reset")) {
        stats_reset(hub, view->st);
        compose_line(r, COMPOSE_RESET);
    } else if ((arg_is(arg, narg, "detail") && full > narg) ||
               arg_is(arg, narg, "extstore")) {
        compose_unsupported(r, "stats ", arg, narg);
    } else {
        return STATS_EUNKNOWN;
    }
    return STATS_OK;
}
