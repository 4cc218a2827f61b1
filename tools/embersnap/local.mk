# tools/embersnap/: the offline snapshot inspector. It may include only
# snapshot/format.h (and util/util.h) of ember's headers and links only
# libsnapfmt.a. Its commands live in libembersnap.a so tests/check_embersnap
# can call es_main() without main().
bin_PROGRAMS += %reldir%/embersnap
noinst_LIBRARIES += %reldir%/libembersnap.a
%canon_reldir%_libembersnap_a_SOURCES = \
	%reldir%/embersnap.h \
	%reldir%/embersnap.c \
	%reldir%/snap_open.c \
	%reldir%/snap_fault.c \
	%reldir%/snap_journal.c %reldir%/snap_journal.h \
	%reldir%/snap_opts.c %reldir%/snap_opts.h \
	%reldir%/snap_util.c \
	%reldir%/snap_info.c \
	%reldir%/snap_ls.c \
	%reldir%/snap_get.c \
	%reldir%/snap_stats.c \
	%reldir%/snap_verify.c \
	%reldir%/snap_dump.c \
	%reldir%/snap_load_net.c
%canon_reldir%_libembersnap_a_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS)
EMBERSNAP_LIBS = %reldir%/libembersnap.a $(SNAPFMT_LIBS)
%canon_reldir%_embersnap_SOURCES = %reldir%/embersnap_main.c
%canon_reldir%_embersnap_CFLAGS = $(AM_CFLAGS)
%canon_reldir%_embersnap_LDADD = $(EMBERSNAP_LIBS)

check_PROGRAMS += tests/check_embersnap
tests_check_embersnap_SOURCES = tests/check_embersnap.h \
	tests/check_embersnap.c tests/check_embersnap_damage.c \
	tests/check_embersnap_pages.c \
	tests/check_embersnap_journal.c \
	tests/fmt_fixture.h tests/fmt_fixture.c
tests_check_embersnap_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(XXHASH_CFLAGS)
tests_check_embersnap_LDADD = $(EMBERSNAP_LIBS) $(CHECK_LIBS) -lpthread

# libFuzzer harness for the record decoder: not part of `make check`.
# `make fuzz-snapfmt` builds it with clang and runs it for FUZZ_SECONDS
# (0: build only) on a corpus kept in the build tree.
FUZZ_SNAPFMT_SRC = \
	$(top_srcdir)/tests/fuzz_snapfmt_record.c \
	$(top_srcdir)/snapshot/format.c \
	$(top_srcdir)/%reldir%/snap_util.c \
	$(top_srcdir)/util/util.c
EXTRA_DIST += tests/fuzz_snapfmt_record.c
CLEANFILES += tests/fuzz_snapfmt_record

tests/fuzz_snapfmt_record: $(FUZZ_SNAPFMT_SRC) $(top_srcdir)/snapshot/format.h \
		$(top_srcdir)/%reldir%/embersnap.h $(top_srcdir)/util/util.h
	@$(MKDIR_P) tests
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(WARN_CFLAGS) \
	    -I$(top_srcdir) -I$(top_builddir) $(ZSTD_CFLAGS) \
	    $(XXHASH_CFLAGS) $(FUZZ_SNAPFMT_SRC) $(ZSTD_LIBS) $(XXHASH_LIBS) \
	    -o $@

fuzz-snapfmt: tests/fuzz_snapfmt_record
	@$(MKDIR_P) tests/fuzz_snapfmt_corpus
	if test "$(FUZZ_SECONDS)" -gt 0; then \
	    ./tests/fuzz_snapfmt_record -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=65536 tests/fuzz_snapfmt_corpus; \
	fi
.PHONY: fuzz-snapfmt
