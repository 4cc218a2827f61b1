# tools/: embersnap and the benchmark driver.

# emberbench: memcached text-protocol load generator (not installed).
# It speaks to servers over sockets only, so it includes no ember header
# and links only libc and pthreads.
noinst_PROGRAMS += tools/emberbench
tools_emberbench_SOURCES = \
	tools/emberbench.c \
	tools/bench_conn.c tools/bench_conn.h \
	tools/bench_hist.c tools/bench_hist.h \
	tools/bench_opts.c tools/bench_opts.h \
	tools/bench_report.c tools/bench_report.h

EXTRA_DIST += tools/bench-compare.sh tools/bench-memory.sh

# The driver's histogram and connection parser, over a socketpair.
check_PROGRAMS += tests/check_bench
tests_check_bench_SOURCES = tests/check_bench.c \
	tools/bench_conn.c tools/bench_hist.c
tests_check_bench_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_bench_LDADD = $(CHECK_LIBS)
