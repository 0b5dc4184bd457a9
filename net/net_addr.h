/*
 * net_addr.h - slowtap's one address module: every option that takes an address (--listen,
 * --backend, --http; auto-EXPLAIN gets --backend's list from main) parses it here, resolves
 * it here once at start (getaddrinfo: never on an event loop) to ALL the addresses it names,
 * and opens its sockets here (non-blocking connects, listening sockets).
 *
 * Accepted forms:
 *   HOST:PORT        a name or an IPv4 address; a name may resolve to several addresses
 *   [IPv6]:PORT      a literal IPv6 address
 *   PORT             a bare port: 127.0.0.1:PORT
 *   /path/to/socket  an absolute unix socket path (shorter than 108 bytes)
 */
#ifndef SLOWTAP_LISTENER_H
#define SLOWTAP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NET_ADDR_MAX 16 /* addresses kept per option; more resolved addresses are ignored */

/* One resolved address. */
struct net_sockaddr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[112]; /* numeric, for messages: "127.0.0.1:3306", "[::1]:3306", or the path */
};

/* An option's address: what the user wrote, its parts, and what it resolved to. */
struct net_addr {
    char text[300]; /* as the user wrote it: "localhost:3306", "/run/mysqld/mysqld.sock" */
    char host[256]; /* the host part as written (no brackets); "" for a unix path */
    unsigned port;  /* 0 for a unix path */
    bool is_unix;
    int n; /* resolved addresses in a[], in getaddrinfo's order, duplicates removed */
    struct net_sockaddr a[NET_ADDR_MAX];
};

/*
 * Pure syntax check and split (no resolution, no I/O): fills text, host, port and is_unix of
 * `out` (n = 0). On error returns false with a short reason in *why ("port must be 1..65535",
 * "an IPv6 address needs brackets: [ADDR]:PORT", ...) for a message naming the option.
 */
bool net_addr_parse(const char *s, struct net_addr *out, const char **why);

/*
 * Parses and resolves `s` to all its addresses (getaddrinfo, SOCK_STREAM, any family: call
 * only at start). On error writes a one-line reason into err ("invalid port ...", "cannot
 * resolve host 'x': ...") and returns false. A unix path resolves to itself (n = 1).
 */
bool net_addr_resolve(const char *s, struct net_addr *out, char *err, size_t errcap);

/* True for a unix socket path. */
bool net_addr_is_unix(const struct net_addr *a);

/* True when every resolved address is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
bool net_addr_all_loopback(const struct net_addr *a);

/* Writes the resolved addresses as "[::1]:3306, 127.0.0.1:3306" (cut to cap). */
void net_addr_list_text(const struct net_addr *a, char *out, size_t cap);

/*
 * Starts a non-blocking connect to `a` on a new non-blocking, close-on-exec socket. Returns
 * the fd when the connect is in progress or done (the caller waits for writability and reads
 * SO_ERROR, e.g. with bufferevent_socket_connect(bev, NULL, 0)); -1 with the errno in *err
 * when it failed at once (ECONNREFUSED on a unix socket, ENETUNREACH, ...).
 */
int net_connect_start(const struct net_sockaddr *a, int *err);

/*
 * How a listening socket is bound. An address another process already listens on must be a
 * start-up error, although every worker has its own SO_REUSEPORT socket on it:
 *   NET_LISTEN_PLAIN  bound without SO_REUSEPORT (the HTTP endpoint, a unix socket).
 *   NET_LISTEN_FIRST  the first socket of a group: bound without SO_REUSEPORT, so the bind
 *                     fails with EADDRINUSE when any other socket (SO_REUSEPORT or not, any
 *                     user) listens there; SO_REUSEPORT is set after the bind, so the other
 *                     workers can then join. No probe-then-bind window: the check is the bind.
 *   NET_LISTEN_JOIN   SO_REUSEPORT before the bind: the other workers' sockets.
 * For a unix path an existing socket file is unlinked only when nothing accepts on it (a
 * connect is refused): a live one is "already in use".
 * SO_REUSEADDR is always set for TCP (TIME_WAIT connections of a previous run do not block the
 * bind). `v6only` sets IPV6_V6ONLY on an IPv6 socket (when a name resolves to both families,
 * so [::] does not also take 0.0.0.0's port). Returns the fd, or -1 with a one-line message
 * in err (errno: the failing socket()/bind()'s, e.g. EADDRNOTAVAIL for an address this host
 * does not have); *in_use (may be NULL) is set when the address is taken by someone else.
 */
enum net_listen_mode { NET_LISTEN_PLAIN, NET_LISTEN_FIRST, NET_LISTEN_JOIN };
int net_listen(const struct net_sockaddr *a, enum net_listen_mode mode, bool v6only, char *err,
               size_t errcap, bool *in_use);

/* Formats the peer address of an accepted connection ("127.0.0.1", "::1"; "" for unix). */
void net_peer_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);

#endif
