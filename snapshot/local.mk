# snapshot/: on-disk format (libsnapfmt.a) and writer/loader (libsnapshot.a).
# libsnapfmt.a: record codec, zstd + dictionaries, LMDB env; no storage,
# no threads. tools/embersnap links it alone.
noinst_LIBRARIES += snapshot/libsnapfmt.a
snapshot_libsnapfmt_a_SOURCES = \
	snapshot/format.h \
	snapshot/format.c \
	snapshot/format_env.c
snapshot_libsnapfmt_a_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(ZSTD_CFLAGS) \
	$(XXHASH_CFLAGS)
SNAPFMT_LIBS = snapshot/libsnapfmt.a $(LMDB_LIBS) $(ZSTD_LIBS) $(XXHASH_LIBS)

check_PROGRAMS += tests/check_snapfmt
tests_check_snapfmt_SOURCES = tests/check_snapfmt.c
tests_check_snapfmt_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LMDB_CFLAGS) \
	$(XXHASH_CFLAGS)
tests_check_snapfmt_LDADD = $(SNAPFMT_LIBS) $(CHECK_LIBS)
