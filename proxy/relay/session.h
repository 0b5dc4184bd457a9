/*
 * session.h - one client connection and its backend connection: the pair's state machine, the
 * relay of bytes in both directions and the queue of commands awaiting their responses. A
 * completed command goes to the accounting (proxy/account/account.h); the record it may give
 * back goes on from here to auto-EXPLAIN or the slow log. sess_end() is the one teardown.
 *
 * The data path is drawn at the top of session.c.
 */
#ifndef SLOWTAP_SESSION_H
#define SLOWTAP_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

struct worker;
struct sess;

/* Takes an accepted client socket: connects to the backend and starts relaying. The client
 * gets ERR 1040 "Too many connections" instead, and no backend connection is made: over
 * --max-connections; when no descriptor is left for the backend connection (accepting then
 * pauses: worker_accept_pause); at the worker's share of --max-pending-handshakes when none
 * of its pending clients is stalled (else the oldest stalled one is closed to make room: see
 * "Pending handshakes" in session.c). */
void sess_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen);

/* Called by the worker's tick: handshake timeout, live-plan requests, shutdown draining. */
void sess_tick(struct sess *s, int64_t now_us);

/* How sess_end() closes the two legs. */
enum sess_end_how {
    SESS_END_NOW,   /* both at once */
    SESS_END_FLUSH, /* the backend at once, the client once everything relayed to it (and the
                       ERR, if any) is written, or after --handshake-timeout if it does not read;
                       the session is CLOSING meanwhile */
};

/*
 * The one way a session ends. With `why` non-NULL it is logged on stderr ("closing: why"),
 * and with `code` non-zero too the client gets an ERR packet: `code` (protocol/proto.h), its
 * SQLSTATE, `why` as the message; sequence id one after the last packet relayed, or 0 before
 * the greeting. A command still awaiting its response is recorded as unfinished and an open
 * transaction ends (proxy/account/account.h); then both legs close and the session is freed.
 * May free the session before returning: callers must not touch it afterwards.
 */
void sess_end(struct sess *s, enum sess_end_how how, uint16_t code, const char *why);

/* True when no command is awaiting a response (the session may be closed without loss). */
int sess_idle(const struct sess *s);

/* Realtime us at which the session's open transaction began; 0 when none is open. */
int64_t sess_trx_wall_start(const struct sess *s);

/* The next session in the worker's list (for iteration that may close the current one). */
struct sess *sess_next(const struct sess *s);

/* Releases the worker's pool of recycled command records. */
void sess_pool_free(struct worker *w);

#endif
