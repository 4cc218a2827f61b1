/*
 * handoff.h -- the control socket in the snapshot directory, over which
 * a new emberd (--takeover) and the running one talk: a unix
 * SOCK_SEQPACKET socket at DIR/emberd.sock (SNAPFMT_CONTROL_FILE), mode
 * 0600 in a directory emberd keeps 0700, through which one message at a
 * time goes, with file descriptors beside it (SCM_RIGHTS).
 *
 * Layer: daemon-private; libc only. No protocol here (takeover_*.c say
 * what the messages mean): a message is one line of text up to
 * HANDOFF_MSG_MAX bytes, and up to HANDOFF_FDS_MAX descriptors.
 *
 * Who may talk: the peer's uid (SO_PEERCRED) must be ours, or root.
 * Paths longer than a sockaddr_un holds are reached through
 * /proc/self/fd/N/emberd.sock, N a descriptor of DIR.
 *
 * Errors: functions return 0 or an errno value and put a message in
 * ERRBUF; ENOENT/ECONNREFUSED from handoff_connect() mean nobody serves
 * DIR.
 */
#ifndef EMBER_HANDOFF_H
#define EMBER_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HANDOFF_MSG_MAX 1024
#define HANDOFF_FDS_MAX 24

/*
 * Create the control socket in DIR (replacing one a previous emberd left
 * there: whoever calls this owns DIR) and listen on it. *FD: the
 * listening socket (non-blocking, close-on-exec); *INO: the file's inode
 * (for handoff_unlink()). The file is bound under a temporary name, made
 * 0600, then renamed into place, so it is never reachable with looser
 * rights. Thread: main. Blocks: never.
 */
int handoff_listen(const char *dir, int *fd, unsigned long long *ino,
                   char *errbuf, size_t errlen);

/*
 * Remove DIR's control socket when it is still the file handoff_listen()
 * made (inode INO): after a takeover the new owner's is there.
 */
void handoff_unlink(const char *dir, unsigned long long ino);

/*
 * Connect to DIR's control socket. *FD: the connection (blocking,
 * close-on-exec). ENOENT or ECONNREFUSED: no emberd serves DIR.
 */
int handoff_connect(const char *dir, int *fd, char *errbuf, size_t errlen);

/*
 * Accept one connection on listening socket LFD and check its peer.
 * *FD: the connection (blocking, close-on-exec), *PID its process.
 * EAGAIN: none waiting. EPERM: another user's (closed).
 */
int handoff_accept(int lfd, int *fd, pid_t *pid, char *errbuf,
                   size_t errlen);

/* Check the peer of connection FD (uid ours or root); *PID its pid. */
int handoff_peer(int fd, pid_t *pid, char *errbuf, size_t errlen);

/*
 * Send MSG (a line without newline, < HANDOFF_MSG_MAX bytes) and the
 * NFDS descriptors FDS (borrowed: the peer gets copies).
 * Blocks: until the kernel takes it (a few KB: never in practice).
 */
int handoff_send(int fd, const char *msg, const int *fds, size_t nfds,
                 char *errbuf, size_t errlen);

/*
 * Wait up to TIMEOUT_MS (-1: no limit) for one message on FD: the text
 * into MSG (CAP bytes, NUL-terminated), descriptors that came with it
 * into FDS (up to HANDOFF_FDS_MAX; close-on-exec; owned by the caller),
 * their count into *NFDS (FDS and NFDS may be NULL: any are closed).
 * ETIMEDOUT; EPIPE: the peer closed (or died) without a message (what
 * it sent before closing is read first, also when its close reset the
 * connection); EBADMSG: too long, cut, or not text.
 */
int handoff_recv(int fd, int timeout_ms, char *msg, size_t cap, int *fds,
                 size_t *nfds, char *errbuf, size_t errlen);

/*
 * Append " NAME=VALUE" to the message in BUF (CAP bytes, NUL-terminated),
 * VALUE with space, '%' and control bytes written as %XX. False when it
 * does not fit (BUF is then unchanged).
 */
bool handoff_put(char *buf, size_t cap, const char *name, const char *value);

/*
 * The value of "NAME=" in message MSG ("WORD NAME=VALUE NAME=VALUE ...",
 * as handoff_put() writes it) decoded into OUT (CAP bytes), or false
 * when it is missing or does not fit.
 */
bool handoff_field(const char *msg, const char *name, char *out,
                   size_t cap);

/* The same as an unsigned 64-bit number; false when missing or bad. */
bool handoff_field_u64(const char *msg, const char *name,
                       unsigned long long *out);

#endif /* EMBER_HANDOFF_H */
