# storage/: the in-RAM store (owner: storage). Depends on libc + pthreads.
noinst_LIBRARIES += storage/libstorage.a
storage_libstorage_a_SOURCES = \
	storage/store.h
