# tests/fuzz.mk: continuous fuzzing (issue 11). Every libFuzzer target is
# built with clang (FUZZ_CC; clang and libclang-rt-14-dev, which
# `sh build.sh fuzz` installs) under ASan and UBSan, never by `make check`:
#   make fuzz-build        build them all
#   make fuzz              build, then run each for FUZZ_SECONDS (60) on
#                          its committed seeds, tests/fuzz/NAME/, plus
#                          what earlier runs found (tests/fuzz-out/NAME/);
#                          a crash fails it with the reproducer printed
#   make fuzz-NAME         one target (the older fuzz-proto, fuzz-snapfmt
#                          keep their own corpus in the build tree)
# .ci/run runs `sh build.sh fuzz` with FUZZ_SECONDS=30. tests/fuzz/run.sh
# drives the runs and reports per target in the tally .ci/run reads.
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
# gcc's -Werror build is the judge of warnings; clang's own must not stop
# a fuzzing run
FUZZ_WARN = $(WARN_CFLAGS) -Wno-error
FUZZ_TARGETS = tests/fuzz_proto_text tests/fuzz_proto_meta \
	tests/fuzz_snapfmt_record tests/fuzz_journal tests/fuzz_snap_load
EXTRA_DIST += tests/fuzz_proto_meta.c tests/fuzz_journal.c \
	tests/fuzz_snap_load.c tests/fuzz_util.c tests/fuzz_util.h tests/fuzz/run.sh tests/fuzz/make_seeds.py \
	tests/fuzz/README.md tests/fuzz/proto_text tests/fuzz/proto_meta \
	tests/fuzz/snapfmt_record tests/fuzz/journal tests/fuzz/snap_load
CLEANFILES += tests/fuzz_proto_meta tests/fuzz_journal tests/fuzz_snap_load

FUZZ_META_SRC = $(top_srcdir)/tests/fuzz_proto_meta.c \
	$(top_srcdir)/daemon/proto_text.c $(top_srcdir)/daemon/proto_meta.c \
	$(top_srcdir)/daemon/proto_admin.c \
	$(top_srcdir)/daemon/proto_util.c $(top_srcdir)/util/util.c
tests/fuzz_proto_meta: $(FUZZ_META_SRC) $(top_srcdir)/daemon/proto.h \
		$(top_srcdir)/daemon/proto_util.h
	@$(MKDIR_P) tests
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_WARN) -I$(top_srcdir) \
	    -I$(top_builddir) $(FUZZ_META_SRC) -o $@

# The journal decoder, with the rest of libsnapfmt (errors, LMDB glue).
FUZZ_SNAPFMT_LIB_SRC = $(top_srcdir)/snapshot/format.c \
	$(top_srcdir)/snapshot/format_env.c \
	$(top_srcdir)/snapshot/format_txn.c \
	$(top_srcdir)/snapshot/format_read.c \
	$(top_srcdir)/snapshot/format_journal.c \
	$(top_srcdir)/snapshot/format_runs.c $(top_srcdir)/util/util.c
FUZZ_LIBS = $(LMDB_LIBS) $(ZSTD_LIBS) $(XXHASH_LIBS) -lpthread
FUZZ_INC = -I$(top_srcdir) -I$(top_builddir) $(LMDB_CFLAGS) \
	$(ZSTD_CFLAGS) $(XXHASH_CFLAGS)
FUZZ_UTIL = $(top_srcdir)/tests/fuzz_util.c
tests/fuzz_journal: $(top_srcdir)/tests/fuzz_journal.c $(FUZZ_UTIL) \
		$(top_srcdir)/tests/fuzz_util.h \
		$(snapshot_libsnapfmt_a_SOURCES) $(util_libutil_a_SOURCES)
	@$(MKDIR_P) tests
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_WARN) $(FUZZ_INC) \
	    $(top_srcdir)/tests/fuzz_journal.c $(FUZZ_UTIL) \
	    $(FUZZ_SNAPFMT_LIB_SRC) $(FUZZ_LIBS) -o $@

# emberd's start-up path: libsnapfmt, libsnapshot, libstorage, util.
tests/fuzz_snap_load: $(top_srcdir)/tests/fuzz_snap_load.c $(FUZZ_UTIL) \
		$(top_srcdir)/tests/fuzz_util.h \
		$(snapshot_libsnapfmt_a_SOURCES) \
		$(snapshot_libsnapshot_a_SOURCES) \
		$(storage_libstorage_a_SOURCES) $(util_libutil_a_SOURCES)
	@$(MKDIR_P) tests
	$(AM_V_CC)srcs=; \
	for f in $(snapshot_libsnapfmt_a_SOURCES) \
	    $(snapshot_libsnapshot_a_SOURCES) \
	    $(storage_libstorage_a_SOURCES) $(util_libutil_a_SOURCES); do \
	    case $$f in *.c) srcs="$$srcs $(top_srcdir)/$$f" ;; esac; \
	done; \
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_WARN) $(FUZZ_INC) \
	    $(top_srcdir)/tests/fuzz_snap_load.c $(FUZZ_UTIL) $$srcs \
	    $(FUZZ_LIBS) -o $@

fuzz-build: $(FUZZ_TARGETS)

FUZZ_RUN = FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) \
	$(top_srcdir)/tests/fuzz/run.sh $(top_srcdir)/tests

fuzz: fuzz-build
	$(FUZZ_RUN) proto_text proto_meta snapfmt_record journal snap_load

fuzz-meta: tests/fuzz_proto_meta
	$(FUZZ_RUN) proto_meta
fuzz-journal: tests/fuzz_journal
	$(FUZZ_RUN) journal
fuzz-load: tests/fuzz_snap_load
	$(FUZZ_RUN) snap_load
.PHONY: fuzz fuzz-build fuzz-meta fuzz-journal fuzz-load
