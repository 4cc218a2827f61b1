# daemon/proto_*.c: the pure protocol parsers and their Check suites.
# daemon/libproto.a depends on libc and util/ only; emberd links it with
# libdaemon.a.
noinst_LIBRARIES += daemon/libproto.a
daemon_libproto_a_SOURCES = \
	daemon/proto.h \
	daemon/proto_util.h \
	daemon/proto_util.c \
	daemon/proto_text.c \
	daemon/proto_admin.c \
	daemon/proto_meta.c

check_PROGRAMS += tests/check_proto_text
tests_check_proto_text_SOURCES = tests/check_proto_text.h \
	tests/check_proto_text.c tests/check_proto_text_limits.c \
	tests/check_proto_text_pieces.c
tests_check_proto_text_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_proto_text_LDADD = daemon/libproto.a $(UTIL_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/check_proto_meta
tests_check_proto_meta_SOURCES = tests/check_proto_meta.c
tests_check_proto_meta_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_proto_meta_LDADD = daemon/libproto.a $(UTIL_LIBS) $(CHECK_LIBS)

# libFuzzer harness: not part of `make check`. `make fuzz-proto` builds it
# with clang and runs it for FUZZ_SECONDS (0: build only) on a corpus kept
# in the build tree.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_PROTO_SRC = \
	$(top_srcdir)/tests/fuzz_proto_text.c \
	$(top_srcdir)/daemon/proto_text.c \
	$(top_srcdir)/daemon/proto_meta.c \
	$(top_srcdir)/daemon/proto_admin.c \
	$(top_srcdir)/daemon/proto_util.c \
	$(top_srcdir)/util/util.c
EXTRA_DIST += tests/fuzz_proto_text.c tests/fuzz_proto_text.dict
CLEANFILES += tests/fuzz_proto_text

tests/fuzz_proto_text: $(FUZZ_PROTO_SRC) $(top_srcdir)/daemon/proto.h \
		$(top_srcdir)/daemon/proto_util.h $(top_srcdir)/util/util.h
	@$(MKDIR_P) tests
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(WARN_CFLAGS) \
	    -I$(top_srcdir) -I$(top_builddir) $(FUZZ_PROTO_SRC) -o $@

fuzz-proto: tests/fuzz_proto_text
	@$(MKDIR_P) tests/fuzz_proto_corpus
	if test "$(FUZZ_SECONDS)" -gt 0; then \
	    ./tests/fuzz_proto_text -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=4096 -dict=$(top_srcdir)/tests/fuzz_proto_text.dict \
	        tests/fuzz_proto_corpus; \
	fi
.PHONY: fuzz-proto
