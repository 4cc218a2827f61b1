# storage/: the in-RAM store (owner: storage). Depends on libc + pthreads
# (+ libxxhash, header-only use via XXH_INLINE_ALL).
noinst_LIBRARIES += storage/libstorage.a
storage_libstorage_a_SOURCES = \
	storage/store.h \
	storage/store_int.h \
	storage/item.h \
	storage/store.c \
	storage/key.c \
	storage/mutate.c \
	storage/get.c \
	storage/set.c \
	storage/delete.c \
	storage/arith.c \
	storage/restore.c \
	storage/slab.c \
	storage/lru.c \
	storage/hash.c \
	storage/changes.c \
	storage/foreach.c \
	storage/maint.c \
	storage/stats.c
storage_libstorage_a_CPPFLAGS = $(AM_CPPFLAGS) $(XXHASH_CFLAGS)

check_PROGRAMS += tests/check_store tests/check_lru tests/check_changes \
	tests/check_walk
tests_check_store_SOURCES = tests/check_store.c tests/store_short.h
tests_check_store_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_store_LDADD = storage/libstorage.a $(UTIL_LIBS) $(CHECK_LIBS) -lpthread
tests_check_lru_SOURCES = tests/check_lru.c tests/store_short.h
tests_check_lru_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_lru_LDADD = storage/libstorage.a $(UTIL_LIBS) $(CHECK_LIBS) -lpthread
tests_check_walk_SOURCES = tests/check_walk.c tests/store_short.h
tests_check_walk_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_walk_LDADD = storage/libstorage.a $(UTIL_LIBS) $(CHECK_LIBS) \
	-lpthread
tests_check_changes_SOURCES = tests/check_changes.c
tests_check_changes_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_changes_LDADD = storage/libstorage.a $(UTIL_LIBS) $(CHECK_LIBS) -lpthread
