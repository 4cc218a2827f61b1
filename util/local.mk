# util/: the bottom library (error messages, number scanning). libc only;
# every module may use it, so every link line lists $(UTIL_LIBS) after the
# libraries that use it.
noinst_LIBRARIES += util/libutil.a
util_libutil_a_SOURCES = util/util.h util/util.c
UTIL_LIBS = util/libutil.a

check_PROGRAMS += tests/check_util
tests_check_util_SOURCES = tests/check_util.c
tests_check_util_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_util_LDADD = $(UTIL_LIBS) $(CHECK_LIBS)
