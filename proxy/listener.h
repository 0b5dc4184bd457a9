/*
 * listener.h - addresses and sockets: parsing HOST:PORT, [IPv6]:PORT and /unix/socket/path,
 * resolving them once at start (never on an event loop), and opening listening sockets
 * (SO_REUSEPORT for TCP so each worker thread can have its own).
 */
#ifndef SLOWTAP_LISTENER_H
#define SLOWTAP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct net_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[300]; /* as the user wrote it: "127.0.0.1:3306", "/run/mysqld/mysqld.sock" */
};

/*
 * Parses and resolves `s` (getaddrinfo: call only at start). On error writes a message into
 * err (e.g. "invalid port", "cannot resolve host 'x': ...") and returns false.
 */
bool net_addr_resolve(const char *s, struct net_addr *out, char *err, size_t errcap);

/* True for a unix socket address. */
bool net_addr_is_unix(const struct net_addr *a);

/*
 * Opens a non-blocking listening socket on `a` (SO_REUSEADDR; SO_REUSEPORT when `reuseport`;
 * a unix socket path is unlinked first when it is a stale socket). Returns the fd or -1 with
 * a message in err.
 */
int net_listen(const struct net_addr *a, bool reuseport, char *err, size_t errcap);

/* Formats the peer address of an accepted connection ("127.0.0.1", "::1"; "" for unix). */
void net_peer_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);

#endif
