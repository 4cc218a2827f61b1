# tests/integration/: end-to-end tests against the real emberd binary.
# Each file is one automake test (exit 0 pass, 1 fail, 77 skip); run any of
# them against Debian's memcached with EMBER_TEST_SERVER=memcached.
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
	%reldir%/test_embersnap.py
EXTRA_DIST += %reldir%/ember.py %reldir%/README.md
INTEGRATION_TESTS += %reldir%/test_nutcracker.py
INTEGRATION_TESTS += %reldir%/test_client_hashing.py
INTEGRATION_TESTS += %reldir%/test_warm_start_race.py
INTEGRATION_TESTS += %reldir%/test_soak_short.py
INTEGRATION_TESTS += %reldir%/test_crash_torture.py
