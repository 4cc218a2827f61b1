# tools/: embersnap and the benchmark driver.

# emberbench: memcached text-protocol load generator (not installed).
# It speaks to servers over sockets only, so of ember it uses only util/
# (option values) and links libc, pthreads and util/libutil.a.
noinst_PROGRAMS += tools/emberbench
tools_emberbench_SOURCES = \
	tools/emberbench.c \
	tools/bench_conn.c tools/bench_conn.h \
	tools/bench_hist.c tools/bench_hist.h \
	tools/bench_opts.c tools/bench_opts.h \
	tools/bench_report.c tools/bench_report.h
tools_emberbench_LDADD = $(UTIL_LIBS)

EXTRA_DIST += tools/bench-compare.sh tools/bench-memory.sh tools/bench-persist.sh

# The driver's histogram, options and connection parser (over a
# socketpair).
check_PROGRAMS += tests/check_bench
tests_check_bench_SOURCES = tests/check_bench.c \
	tools/bench_conn.c tools/bench_hist.c tools/bench_opts.c
tests_check_bench_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_bench_LDADD = $(UTIL_LIBS) $(CHECK_LIBS)

# embersnap: the offline snapshot inspector. It may include only
# snapshot/format.h of ember's headers and links only libsnapfmt.a. Its
# commands live in tools/libembersnap.a so tests/check_embersnap can call
# es_main() without main().
bin_PROGRAMS += tools/embersnap
noinst_LIBRARIES += tools/libembersnap.a
tools_libembersnap_a_SOURCES = \
	tools/embersnap.h \
	tools/embersnap.c \
	tools/snap_open.c \
	tools/snap_opts.c tools/snap_opts.h \
	tools/snap_util.c \
	tools/snap_info.c \
	tools/snap_ls.c \
	tools/snap_get.c \
	tools/snap_stats.c \
	tools/snap_verify.c \
	tools/snap_dump.c \
	tools/snap_load_net.c
tools_libembersnap_a_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS)
EMBERSNAP_LIBS = tools/libembersnap.a $(SNAPFMT_LIBS)
tools_embersnap_SOURCES = tools/embersnap_main.c
tools_embersnap_CFLAGS = $(AM_CFLAGS)
tools_embersnap_LDADD = $(EMBERSNAP_LIBS)

check_PROGRAMS += tests/check_embersnap
tests_check_embersnap_SOURCES = tests/check_embersnap.h \
	tests/check_embersnap.c tests/check_embersnap_damage.c \
	tests/fmt_fixture.h tests/fmt_fixture.c
tests_check_embersnap_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(XXHASH_CFLAGS)
tests_check_embersnap_LDADD = $(EMBERSNAP_LIBS) $(CHECK_LIBS) -lpthread

# libFuzzer harness for the record decoder: not part of `make check`.
# `make fuzz-snapfmt` builds it with clang and runs it for FUZZ_SECONDS
# (0: build only) on a corpus kept in the build tree.
FUZZ_SNAPFMT_SRC = \
	$(top_srcdir)/tests/fuzz_snapfmt_record.c \
	$(top_srcdir)/snapshot/format.c \
	$(top_srcdir)/tools/snap_util.c \
	$(top_srcdir)/util/util.c
EXTRA_DIST += tests/fuzz_snapfmt_record.c
CLEANFILES += tests/fuzz_snapfmt_record

tests/fuzz_snapfmt_record: $(FUZZ_SNAPFMT_SRC) $(top_srcdir)/snapshot/format.h \
		$(top_srcdir)/tools/embersnap.h $(top_srcdir)/util/util.h
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

# deployment tools (issue 6). `make soak` runs hours of mixed load on one
# emberd and fails when RSS, fds or the snapshot grow without bound
# (SOAK_HOURS, default 2; CI runs the 75 s version,
# tests/integration/test_soak_short.py).
EXTRA_DIST += tools/rolling-restart.sh tools/rolling-restart.py \
	tools/plot-rolling.sh tools/soak.sh
SOAK_HOURS = 2
soak: daemon/emberd
	EMBERD=$(abs_top_builddir)/daemon/emberd \
	    $(SHELL) $(top_srcdir)/tools/soak.sh $(SOAK_HOURS)
.PHONY: soak
