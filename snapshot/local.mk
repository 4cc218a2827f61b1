# snapshot/: on-disk format (libsnapfmt.a) and writer/loader (libsnapshot.a).
# libsnapfmt.a: record codec, zstd + dictionaries, LMDB env and
# transactions; no storage, no threads. tools/embersnap/ links it alone.
# Only its files (format*.c, fmt_int.h) see LMDB: nothing else gets
# LMDB_CFLAGS, and tests/check_layering.sh refuses <lmdb.h> elsewhere.
noinst_LIBRARIES += snapshot/libsnapfmt.a
snapshot_libsnapfmt_a_SOURCES = \
	snapshot/format.h \
	snapshot/format.c \
	snapshot/fmt_int.h \
	snapshot/format_env.c \
	snapshot/format_txn.c \
	snapshot/format_read.c \
	snapshot/format_journal.c \
	snapshot/format_block.c \
	snapshot/format_runs.c \
	snapshot/format_merge.c \
	snapshot/format_probe.c \
	snapshot/format_salvage.c
snapshot_libsnapfmt_a_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(ZSTD_CFLAGS) \
	$(XXHASH_CFLAGS)
SNAPFMT_LIBS = snapshot/libsnapfmt.a $(LMDB_LIBS) $(ZSTD_LIBS) $(XXHASH_LIBS) \
	$(UTIL_LIBS)

check_PROGRAMS += tests/check_snapfmt
tests_check_snapfmt_SOURCES = tests/check_snapfmt.c tests/check_snapfmt.h \
	tests/check_snapfmt_damage.c tests/check_snapfmt_block.c \
	tests/fmt_fixture.h tests/fmt_fixture.c
tests_check_snapfmt_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(XXHASH_CFLAGS)
tests_check_snapfmt_LDADD = $(SNAPFMT_LIBS) $(CHECK_LIBS)

# libsnapshot.a: the writer thread and the warm-restart loader; talks to
# storage only through storage/store.h.
noinst_LIBRARIES += snapshot/libsnapshot.a
snapshot_libsnapshot_a_SOURCES = \
	snapshot/snapshot.h \
	snapshot/snap_int.h \
	snapshot/snap.c \
	snapshot/snap_cas.c \
	snapshot/snap_status.c \
	snapshot/snap_write.c \
	snapshot/snap_bpipe.c \
	snapshot/snap_spill.c \
	snapshot/snap_load.c \
	snapshot/snap_load3.c \
	snapshot/snap_salvage.c \
	snapshot/snap_precheck.c \
	snapshot/journal_int.h \
	snapshot/journal.c \
	snapshot/journal_segments.c \
	snapshot/journal_replay.c \
	snapshot/snap_journal.c \
	snapshot/snap_takeover.c
snapshot_libsnapshot_a_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS)
SNAPSHOT_LIBS = snapshot/libsnapshot.a $(SNAPFMT_LIBS)

check_PROGRAMS += tests/check_snapshot
tests_check_snapshot_SOURCES = tests/check_snapshot.c tests/check_snapshot.h \
	tests/check_snapshot_damage.c tests/check_snapshot_mem.c \
	tests/fmt_fixture.h tests/fmt_fixture.c
tests_check_snapshot_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_snapshot_LDADD = $(SNAPSHOT_LIBS) storage/libstorage.a \
	$(UTIL_LIBS) $(CHECK_LIBS) -lpthread

# What the snapshot layer tells an operator: health stats, log lines and
# their levels, load progress.
check_PROGRAMS += tests/check_snap_status
tests_check_snap_status_SOURCES = tests/check_snap_status.c \
	tests/fmt_fixture.h tests/fmt_fixture.c tests/store_short.h
tests_check_snap_status_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_snap_status_LDADD = $(SNAPSHOT_LIBS) storage/libstorage.a \
	$(UTIL_LIBS) $(CHECK_LIBS) -lpthread

# The journal: its format (every byte, every cut) and, through the
# snapshot layer, writing, retiring and replaying it with injected faults.
check_PROGRAMS += tests/check_journal
tests_check_journal_SOURCES = tests/check_journal.c tests/check_journal_io.c \
	tests/check_journal_takeover.c \
	tests/fmt_fixture.h tests/fmt_fixture.c \
	tests/check_journal.h tests/store_short.h
tests_check_journal_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(XXHASH_CFLAGS)
tests_check_journal_LDADD = $(SNAPSHOT_LIBS) storage/libstorage.a \
	$(UTIL_LIBS) $(CHECK_LIBS) -lpthread

# Benchmark of the snapshot layer alone (not run by make check).
noinst_PROGRAMS += tests/bench_snapshot
tests_bench_snapshot_SOURCES = tests/bench_snapshot.c
tests_bench_snapshot_LDADD = $(SNAPSHOT_LIBS) storage/libstorage.a \
	$(UTIL_LIBS) -lpthread

# The kill -9 tortures at length (make check runs a few dozen rounds):
# the snapshot layer's writer process, then the real emberd under client
# writes, killed at random moments ROUNDS times each; every record and
# every acknowledged item is checked after each kill.
TORTURE_ROUNDS = 500
torture: tests/check_snapshot daemon/emberd tools/embersnap/embersnap
	EMBER_TORTURE_ROUNDS=$(TORTURE_ROUNDS) CK_RUN_CASE=limits \
	    ./tests/check_snapshot
	EMBER_TORTURE_ROUNDS=$(TORTURE_ROUNDS) \
	    EMBERD=$(abs_top_builddir)/daemon/emberd \
	    EMBERSNAP=$(abs_top_builddir)/tools/embersnap/embersnap \
	    /usr/bin/python3 $(srcdir)/tests/integration/test_crash_torture.py
.PHONY: torture
