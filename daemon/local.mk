# daemon/: emberd. Parsers are pure; exec.c joins protocol and storage.
# Everything but main.c lives in libdaemon.a so that tests/check_exec can
# link it with the real store and no sockets.
noinst_LIBRARIES += daemon/libdaemon.a
daemon_libdaemon_a_SOURCES = \
	daemon/compose.c daemon/compose.h \
	daemon/conffile.c daemon/conffile.h \
	daemon/conn.c daemon/conn.h daemon/conn_int.h daemon/conn_journal.c \
	daemon/conn_pause.c \
	daemon/daemon.c daemon/daemon.h \
	daemon/exec.c daemon/exec.h \
	daemon/exec_dump.c daemon/exec_dump.h \
	daemon/exec_meta.c daemon/exec_meta.h \
	daemon/handoff.c daemon/handoff.h \
	daemon/listener.c daemon/listener.h \
	daemon/log.c daemon/log.h \
	daemon/notify.c daemon/notify.h \
	daemon/reply.c daemon/reply.h \
	daemon/settings.c daemon/settings.h \
	daemon/settings_table.c daemon/settings_int.h \
	daemon/snapcmd.c daemon/snapcmd.h \
	daemon/stats.c daemon/stats.h \
	daemon/takeover.h daemon/takeover_owner.c daemon/takeover_new.c \
	daemon/worker.c daemon/worker.h
daemon_libdaemon_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS) $(LMDB_CFLAGS)

bin_PROGRAMS += daemon/emberd
daemon_emberd_SOURCES = daemon/main.c
daemon_emberd_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
daemon_emberd_LDADD = daemon/libdaemon.a daemon/libproto.a \
	$(SNAPSHOT_LIBS) storage/libstorage.a $(LIBEVENT_LIBS) $(LMDB_LIBS) $(ZSTD_LIBS) \
	$(XXHASH_LIBS) $(UTIL_LIBS) -lpthread

# exec with a real store and the real parser, no sockets: check_exec (the
# classic commands), check_exec_meta (the meta commands with
# storage/meta.c), check_exec_dump (the key listings: metadump resumed in
# chunks, cachedump), all on tests/exec_fixture.c.
EXEC_FIXTURE_LDADD = daemon/libdaemon.a daemon/libproto.a \
	$(SNAPSHOT_LIBS) storage/libstorage.a $(LIBEVENT_LIBS) $(UTIL_LIBS) \
	$(CHECK_LIBS) -lpthread
check_PROGRAMS += tests/check_exec tests/check_exec_meta tests/check_exec_dump
tests_check_exec_SOURCES = tests/check_exec.c tests/exec_fixture.c \
	tests/exec_fixture.h
tests_check_exec_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_exec_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_exec_LDADD = $(EXEC_FIXTURE_LDADD)
tests_check_exec_meta_SOURCES = tests/check_exec_meta.c \
	tests/exec_fixture.c tests/exec_fixture.h
tests_check_exec_meta_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_exec_meta_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_exec_meta_LDADD = $(EXEC_FIXTURE_LDADD)
tests_check_exec_dump_SOURCES = tests/check_exec_dump.c \
	tests/exec_fixture.c tests/exec_fixture.h
tests_check_exec_dump_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_exec_dump_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_exec_dump_LDADD = $(EXEC_FIXTURE_LDADD)

# the reply composer; realloc is wrapped to inject allocation failures.
check_PROGRAMS += tests/check_compose
tests_check_compose_SOURCES = tests/check_compose.c
tests_check_compose_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_compose_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=realloc
tests_check_compose_LDADD = daemon/libdaemon.a storage/libstorage.a \
	$(XXHASH_LIBS) $(UTIL_LIBS) $(CHECK_LIBS) -lpthread

check_PROGRAMS += tests/check_settings
tests_check_settings_SOURCES = tests/check_settings.c
tests_check_settings_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_settings_LDADD = daemon/libdaemon.a $(UTIL_LIBS) $(CHECK_LIBS)

# conn.c over a socketpair with a libevent base in the test thread.
check_PROGRAMS += tests/check_conn
tests_check_conn_SOURCES = tests/check_conn.c
tests_check_conn_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_conn_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_conn_LDADD = daemon/libdaemon.a daemon/libproto.a \
	$(SNAPSHOT_LIBS) storage/libstorage.a $(LIBEVENT_LIBS) $(UTIL_LIBS) \
	$(CHECK_LIBS) -lpthread

# worker threads, fd hand-off and drain, with real threads.
check_PROGRAMS += tests/check_worker
tests_check_worker_SOURCES = tests/check_worker.c
tests_check_worker_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_worker_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_worker_LDADD = daemon/libdaemon.a daemon/libproto.a \
	$(SNAPSHOT_LIBS) storage/libstorage.a $(LIBEVENT_LIBS) $(UTIL_LIBS) \
	$(CHECK_LIBS) -lpthread

# the takeover's control socket (handoff.c) and its memory check.
check_PROGRAMS += tests/check_handoff
tests_check_handoff_SOURCES = tests/check_handoff.c tests/fmt_fixture.h \
	tests/fmt_fixture.c
tests_check_handoff_CPPFLAGS = $(AM_CPPFLAGS) $(LIBEVENT_CFLAGS)
tests_check_handoff_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_handoff_LDADD = daemon/libdaemon.a $(SNAPSHOT_LIBS) \
	storage/libstorage.a $(LIBEVENT_LIBS) $(UTIL_LIBS) $(CHECK_LIBS) \
	-lpthread
