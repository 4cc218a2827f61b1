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
 * a client's connect is refused rather than left hanging. With
 * --takeover the sockets come from the running emberd instead
 * (listener_adopt()), already listening: connects wait in their queue.
 */
#ifndef EMBER_LISTENER_H
#define EMBER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

/* Listening sockets at most (-l addresses, each maybe v4 and v6). */
#define LISTENER_SOCKETS_MAX 16

struct event_base;
struct settings;
struct logger;
struct stats_hub;
struct worker_pool;
struct listener;

/*
 * Create the listener and, with BIND, one socket per address in
 * SET->listen (comma-separated; "host", "host:port", "[v6]" or
 * "[v6]:port"; the port defaults to -p) -- or, with -s, only the unix
 * socket SET->unix_socket (mode -a; a stale socket file nobody listens on
 * is replaced, a live one is "address in use"). Returns NULL with a
 * message in ERRBUF on failure. Ownership: free with listener_destroy().
 * SET and LOG are borrowed. Thread: main. Blocks: on name resolution of
 * -l hosts.
 */
struct listener *listener_create(const struct settings *set,
                                 struct logger *log, bool bind,
                                 char *errbuf, size_t errlen);

/* Bind the sockets listener_create() did not (see there): 0 or -1. */
int listener_bind(struct listener *ls, char *errbuf, size_t errlen);

/*
 * --takeover: use the N listening sockets FDS the running emberd handed
 * over (owned from here on; they must be listening TCP sockets) instead
 * of binding. Connections waiting in their queues are accepted once
 * listener_start() runs. Returns 0, or -1 with ERRBUF (FDS stay the
 * caller's).
 */
int listener_adopt(struct listener *ls, const int *fds, size_t n,
                   char *errbuf, size_t errlen);

/* The listening sockets, to hand over (borrowed): up to MAX into FDS. */
size_t listener_fds(const struct listener *ls, int *fds, size_t max);

/*
 * A takeover: stop accepting, keeping the sockets (connects wait in
 * their queues, never refused), and accept again. Thread: the listener.
 */
void listener_pause(struct listener *ls);
void listener_resume(struct listener *ls);

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
