/*
 * snap_journal.h -- embersnap's reading of the journal beside a snapshot
 * (DIR/journal-<segno>.ejl, snapshot/format.h "the journal"): every
 * segment scanned (good records, torn tail, damage), and the overlay, the
 * changes above the snapshot's journal_seq folded per key in seq order,
 * so that the commands show what emberd would serve after a restart.
 *
 * Layer: tools/embersnap/. Includes only snapshot/format.h of ember's
 * headers (through embersnap.h); the journal format is read only through
 * its snapfmt_jseg_* / snapfmt_jrec_* functions.
 *
 * What the overlay applies (as snapshot/journal_replay.c does on a start):
 *  - LINK: the key holds the journal's item (value, flags, exptime, CAS);
 *  - UNLINK: the key is gone;
 *  - TOUCH, MARK: the key's item gets the new exptime / state bits, only
 *    if its CAS is the record's (the item as it was changed);
 *  - FLUSH: every item whose CAS order is at or below the record's CAS is
 *    dead; a snapshot record's order is its CAS, or older than any flush
 *    when the CAS is a client's (SNAPFMT_RF_CAS_EXPLICIT: it was stored
 *    before the snapshot, so before any flush the journal holds);
 *  - FLUSH_AT: a delayed flush_all pending (replacing meta flush_pending
 *    and any earlier one; a FLUSH clears it); still pending at the end
 *    and due at NOW, it kills every item;
 *  - CAS_RESERVE: counted, nothing to show; SYNCED: a note on the file.
 * A segment is used up to its first bad byte, as emberd's start does
 * (snapfmt_jseg_scan): the rest is a torn tail and the good records after
 * it are dropped (scan.dropped), unless a SYNCED note says those bytes
 * were on disk: then it is damage.
 *
 * Memory: the segments are mapped read-only, not copied, for the life of
 * the journal object (keys and values point into them). Building the
 * overlay takes one 32-byte entry per change above journal_seq, freed
 * once folded; the overlay keeps one entry per key changed (about 80
 * bytes). Both are bounded by the journal's size, which emberd bounds
 * (a snapshot starts early when the journal passes its threshold).
 */
#ifndef EMBER_SNAP_JOURNAL_H
#define EMBER_SNAP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/embersnap/embersnap.h"

/* One segment file as scanned. */
struct es_jseg {
    uint64_t segno;           /* from the file name */
    uint64_t bytes;           /* file size when mapped */
    struct snapfmt_jscan scan;/* good records, torn bytes, seq range */
    uint64_t above;           /* good records with seq > journal_seq */
    bool headerless;          /* shorter than a header: all of it torn */
    bool vanished;            /* removed (retired) after it was listed */
    int rc;                   /* SNAPFMT_OK, or why it cannot be read */
    char msg[SNAPFMT_ERR_MAX];/* rc's message, naming file and offset */
};

/* What the overlay holds for one key. */
enum es_jstate {
    ES_J_GONE = 1,            /* deleted (UNLINK) */
    ES_J_LINKED,              /* the journal's item (LINK), maybe touched */
    ES_J_CHANGED,             /* the snapshot's item, touched or marked */
};

/* One key changed in the journal. Pointers borrowed from the maps (and,
 * for ES_J_CHANGED, from the read transaction the overlay was built in). */
struct es_jent {
    const void *key;
    uint64_t hash;            /* snapfmt_key_hash(key) */
    const void *value;        /* ES_J_LINKED: the raw value; CHANGED in */
                              /* format 3: own, a copy of the snapshot's */
    const void *rec;          /* LINKED: journal record; CHANGED: snapshot */
                              /* (formats 1, 2) */
    void *own;                /* what this entry allocated (value), or NULL */
    uint32_t nrec;
    uint32_t nvalue;
    uint8_t nkey;
    uint8_t state;            /* enum es_jstate */
    uint8_t rflags;           /* enum snapfmt_rflag, after MARKs */
    uint32_t flags;
    uint32_t exptime;         /* after TOUCHes */
    uint32_t time;            /* LINKED: when it was linked (its atime) */
    uint64_t cas;
    uint64_t order;           /* CAS order, what a FLUSH compares */
    uint64_t seq;             /* the key's last change */
};

/* A scanned journal and, once folded, its overlay. Read-only after
 * es_journal_fold(); owned by the struct es_snap that opened it. */
struct es_journal {
    struct es_jseg *segs;     /* ascending segno */
    size_t nsegs;
    uint64_t from_seq;        /* the snapshot's journal_seq */
    uint64_t records, above, bytes, torn, dropped;
    uint64_t min_seq, max_seq;/* over every change used (0, 0: none) */
    unsigned damaged;         /* segments with rc != SNAPFMT_OK */
    /* the overlay (es_journal_fold) */
    struct es_jent *ents;     /* in the snapshot's order: by key (as */
                              /* LMDB orders keys), or (format 3) by */
                              /* hash, then key */
    bool hash_order;          /* format 3's order */
    size_t nents;
    bool flushed;             /* a FLUSH above journal_seq */
    uint64_t flush_cas;       /* the highest such FLUSH's CAS */
    uint32_t flush_when;      /* pending delayed flush at the end, 0 none */
    bool flush_due;           /* ... and due at NOW: every item is dead */
    /* private */
    const void **maps;
    size_t *lens;
    struct es_jpend *pend;    /* changes above from_seq, until folded */
    size_t npend, cappend;
};

/*
 * List and scan every segment in DIR, counting records above FROM_SEQ;
 * with COLLECT, keep those changes for es_journal_fold(). A segment
 * that is damaged (a bad record with good ones after it, a bad header)
 * or of a newer version is recorded in its es_jseg (rc, msg) and counted
 * in damaged, not returned: info and verify report it. A segment that
 * vanishes between listing and mapping is marked vanished (emberd
 * retired it after a snapshot). Returns SNAPFMT_OK and *OUT, or
 * SNAPFMT_ENOMEM / SNAPFMT_ELMDB (DIR unreadable) with a message.
 * Ownership: es_journal_free(). Blocks: maps and reads every segment.
 */
int es_journal_scan(const char *dir, uint64_t from_seq, bool collect,
                    struct es_journal **out, char *err, size_t errlen);

/*
 * Fold the collected changes into the overlay (see the top of this file):
 * FLUSH_PENDING is the snapshot's meta flush_pending, NOW the time a due
 * flush is judged at, S the open snapshot the changes apply to (TOUCH and
 * MARK of a snapshot item read it in S's transaction; its format gives
 * the overlay's order). Frees the collected changes. Returns SNAPFMT_OK,
 * SNAPFMT_ENOMEM, or an error reading the snapshot, with a message. Call
 * once, after a scan with COLLECT and no damage.
 */
int es_journal_fold(struct es_journal *j, struct es_snap *s,
                    uint64_t flush_pending, int64_t now, char *err,
                    size_t errlen);

/* Unmap and free *JP, set it NULL. No-op on NULL. */
void es_journal_free(struct es_journal **jp);

/* Index of the first overlay entry whose key is >= KEY (NKEY bytes; 0:
 * the first entry), in the overlay's order. */
size_t es_journal_lower(const struct es_journal *j, const void *key,
                        size_t nkey);

/* The overlay entry of KEY, or NULL when the journal did not change it. */
const struct es_jent *es_journal_find(const struct es_journal *j,
                                      const void *key, size_t nkey);

/* LMDB's key order: bytes compared, then the shorter first. */
int es_key_cmp(const void *a, size_t na, const void *b, size_t nb);

/* Whether an item of CAS order ORDER is dead by a flush of the journal. */
bool es_journal_flushes(const struct es_journal *j, uint64_t order);

/* The CAS order of a snapshot record R, as es_journal_flushes() wants. */
uint64_t es_snap_order(const struct snapfmt_rec *r);

/*
 * Fill REC with overlay entry E (not ES_J_GONE) as a walk delivers it:
 * LINKED as a raw record whose value is in the journal (REC->value),
 * CHANGED as the snapshot record parsed (REC->parse_rc) with the new
 * exptime and state bits.
 */
void es_journal_rec(const struct es_jent *e, struct es_rec *rec);

#endif /* EMBER_SNAP_JOURNAL_H */
