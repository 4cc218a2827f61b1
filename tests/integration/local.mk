# tests/integration/: end-to-end tests against the real emberd binary.
# Each file is one automake test (exit 0 when every case passed, 1 fail, 77
# when a case was skipped) that reports per case (ember.run_tests); run any
# of them against Debian's memcached with EMBER_TEST_SERVER=memcached.
INTEGRATION_TESTS += \
	%reldir%/test_text_protocol.py \
	%reldir%/test_differential.py \
	%reldir%/test_fuzz_differential.py \
	%reldir%/test_meta.py \
	%reldir%/test_meta_new_flags.py \
	%reldir%/test_limits.py \
	%reldir%/test_concurrency.py \
	%reldir%/test_memory.py \
	%reldir%/test_expiry.py \
	%reldir%/test_pymemcache.py \
	%reldir%/test_pylibmc.py \
	%reldir%/test_memccapable.sh \
	%reldir%/test_signals.py \
	%reldir%/test_flags.py \
	%reldir%/test_warm_restart.py \
	%reldir%/test_meta_restart.py \
	%reldir%/test_embersnap.py \
	%reldir%/test_salvage.py
EXTRA_DIST += %reldir%/ember.py %reldir%/README.md
INTEGRATION_TESTS += %reldir%/test_nutcracker.py
INTEGRATION_TESTS += %reldir%/test_client_hashing.py
INTEGRATION_TESTS += %reldir%/test_warm_start_race.py
INTEGRATION_TESTS += %reldir%/test_soak_short.py
INTEGRATION_TESTS += %reldir%/test_crash_torture.py
INTEGRATION_TESTS += %reldir%/test_fixtures.py
INTEGRATION_TESTS += %reldir%/test_races.py
# issue 12: scalefill and bench-scale.sh at 3,000 items (~25 s)
INTEGRATION_TESTS += %reldir%/test_bench_scale.py
INTEGRATION_TESTS += %reldir%/test_operator.py
INTEGRATION_TESTS += %reldir%/test_config.py
INTEGRATION_TESTS += %reldir%/test_readme.py
INTEGRATION_TESTS += %reldir%/test_examples.py
# issue 10: fails until the mutation journal exists (stale values after
# kill -9, a delayed flush_all forgotten across restarts)
INTEGRATION_TESTS += %reldir%/test_crash_consistency.py
# issue 11: the fault sweep (tests/faultinject.so preloaded); make check
# samples N, `make faults` tries every N
INTEGRATION_TESTS += %reldir%/test_faults.py
# issue 13: emberd --takeover (sockets and data from a running emberd)
INTEGRATION_TESTS += %reldir%/test_takeover.py
EXTRA_DIST += tests/fixtures/README.md tests/fixtures/make_fixture.py \
	tests/fixtures/format1/data.mdb tests/fixtures/format1/expected.jsonl \
	tests/fixtures/format2/data.mdb tests/fixtures/format2/expected.jsonl
INTEGRATION_TESTS += %reldir%/test_operations.py
