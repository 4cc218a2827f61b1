/*
 * listener.h -- the listening sockets and the accept loop.
 *
 * Layer: daemon-private. The listener runs on the main thread's event
 * base (which also handles signals): it accepts, enforces -c, and hands
 * each socket to a worker (worker_pool_dispatch). It never reads a byte.
 *
 * Two steps, so start-up errors show before -d detaches and a warm
 * restart can load before clients get in: listener_create() binds every
 * -l address (an address in use fails here, on the terminal);
 * listener_start() calls listen() once the store is ready -- until then
 * a client's connect is refused rather than left hanging.
 */
#ifndef EMBER_LISTENER_H
#define EMBER_LISTENER_H

#include <stddef.h>

struct event_base;
struct settings;
struct logger;
struct stats_hub;
struct worker_pool;
struct listener;

/*
 * Create and bind one socket per address in SET->listen (comma-
 * separated; "host", "host:port", "[v6]" or "[v6]:port"; the port
 * defaults to -p) -- or, with -s, only the unix socket SET->unix_socket
 * (mode -a; a stale socket file nobody listens on is replaced, a live
 * one is "address in use"). Returns NULL with a message in ERRBUF on
 * failure.
 * Ownership: free with listener_destroy(). SET and LOG are borrowed.
 * Thread: main. Blocks: on name resolution of -l hosts.
 */
struct listener *listener_create(const struct settings *set,
                                 struct logger *log, char *errbuf,
                                 size_t errlen);

/*
 * listen() on every socket and accept from BASE's loop, dispatching to
 * POOL and counting in HUB (all borrowed). Returns 0 or an errno value.
 */
int listener_start(struct listener *ls, struct event_base *base,
                   struct worker_pool *pool, struct stats_hub *hub);

/*
 * What the sockets are bound to, as the kernel says (getsockname):
 * "127.0.0.1:11211, [::1]:11211", into BUF (CAP bytes, cut when longer).
 * Thread: main. Blocks: never (numeric, no name lookup).
 */
void listener_describe(const struct listener *ls, char *buf, size_t cap);

/* Stop accepting and close the listening sockets (idempotent). */
void listener_stop(struct listener *ls);

/*
 * listener_stop(), remove the -s socket file if it is still the one
 * listener_create() made, free, and set *lsp to NULL. No-op on NULL.
 */
void listener_destroy(struct listener **lsp);

#endif /* EMBER_LISTENER_H */
