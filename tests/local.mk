# tests/: one Check suite per module, plus layering and end-to-end tests.

# The fault injection shim (LD_PRELOAD) of the fault sweep
# (tests/integration/test_faults.py). A shared object, built without the
# sanitizers whatever the configuration: the test preloads ASan's runtime
# before it when emberd is sanitized. make check samples N; `make faults`
# runs the whole sweep (every N; tens of minutes).
check_DATA = tests/faultinject.so
EXTRA_DIST += tests/faultinject.c
CLEANFILES += tests/faultinject.so
tests/faultinject.so: $(top_srcdir)/tests/faultinject.c
	@$(MKDIR_P) tests
	$(AM_V_CC)$(CC) -shared -fPIC -O1 -g $(WARN_CFLAGS) \
	    -o $@ $(top_srcdir)/tests/faultinject.c -ldl -lpthread

faults: $(bin_PROGRAMS) tests/faultinject.so
	$(AM_TESTS_ENVIRONMENT) EMBER_FAULTS_FULL=1 \
	    /usr/bin/python3 $(srcdir)/tests/integration/test_faults.py
.PHONY: faults
