# tools/bench/: the benchmark driver (emberbench), the scale filler
# (scalefill) and the scripts that drive load: bench-compare/-memory/
# -persist/-journal/-scale, the rolling restart behind nutcracker and its
# plot, the soak run. Nothing here is installed.

# emberbench: memcached text-protocol load generator. It speaks to servers
# over sockets only, so of ember it uses only util/ (option values) and
# links libc, pthreads and util/libutil.a.
noinst_PROGRAMS += %reldir%/emberbench
%canon_reldir%_emberbench_SOURCES = \
	%reldir%/emberbench.c \
	%reldir%/bench_conn.c %reldir%/bench_conn.h \
	%reldir%/bench_hist.c %reldir%/bench_hist.h \
	%reldir%/bench_opts.c %reldir%/bench_opts.h \
	%reldir%/bench_report.c %reldir%/bench_report.h
%canon_reldir%_emberbench_LDADD = $(UTIL_LIBS)

# scalefill: fills emberd or Redis with N items fast, or checks them, for
# bench-scale.sh (issue 12). Values are generated (scale_corpus.c: random
# letters, or JSON-like records from a word list); it shares emberbench's
# connect and clock.
noinst_PROGRAMS += %reldir%/scalefill
%canon_reldir%_scalefill_SOURCES = \
	%reldir%/scalefill.c \
	%reldir%/scale_corpus.c %reldir%/scale_corpus.h \
	%reldir%/bench_conn.c %reldir%/bench_conn.h \
	%reldir%/bench_hist.c %reldir%/bench_hist.h
%canon_reldir%_scalefill_LDADD = $(UTIL_LIBS) -lm

EXTRA_DIST += %reldir%/bench-compare.sh %reldir%/bench-memory.sh \
	%reldir%/bench-persist.sh %reldir%/bench-journal.sh \
	%reldir%/bench-restart.sh %reldir%/bench-scale.sh \
	%reldir%/bench-warm.sh \
	%reldir%/bench-lib.sh

# The driver's histogram, options and connection parser (over a
# socketpair).
check_PROGRAMS += tests/check_bench
tests_check_bench_SOURCES = tests/check_bench.c \
	%reldir%/bench_conn.c %reldir%/bench_hist.c %reldir%/bench_opts.c
tests_check_bench_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_bench_LDADD = $(UTIL_LIBS) $(CHECK_LIBS)

# deployment tools (issue 6). `make soak` runs hours of mixed load on one
# emberd and fails when RSS, fds or the snapshot grow without bound
# (SOAK_HOURS, default 2; CI runs the 75 s version,
# tests/integration/test_soak_short.py).
EXTRA_DIST += %reldir%/rolling-restart.sh %reldir%/rolling-restart.py \
	%reldir%/plot-rolling.sh %reldir%/soak.sh \
	%reldir%/bench-takeover-gap.sh
SOAK_HOURS = 2
soak: daemon/emberd
	EMBERD=$(abs_top_builddir)/daemon/emberd \
	    $(SHELL) $(top_srcdir)/%reldir%/soak.sh $(SOAK_HOURS)
.PHONY: soak
