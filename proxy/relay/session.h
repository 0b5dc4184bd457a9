/*
 * session.h - one client connection and its backend connection: the pair's state machine, the
 * relay of bytes in both directions, the queue of commands awaiting their responses, and the
 * records of completed statements.
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

/* Takes an accepted client socket: connects to the backend and starts relaying. Over
 * --max-connections the client gets the server's "Too many connections" error instead. */
void sess_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen);

/* Called by the worker's tick: handshake timeout, live-plan requests, shutdown draining. */
void sess_tick(struct sess *s, int64_t now_us);

/* Closes the backend now and the client once everything relayed to it has been written (or
 * after --handshake-timeout if it does not read). May free the session before returning. */
void sess_close_flushed(struct sess *s);

/* Closes the session at once (worker shutdown after the drain timeout). */
void sess_close(struct sess *s);

/* True when no command is awaiting a response (the session may be closed without loss). */
int sess_idle(const struct sess *s);

/* Realtime us at which the session's open transaction began; 0 when none is open. */
int64_t sess_trx_wall_start(const struct sess *s);

/* The next session in the worker's list (for iteration that may close the current one). */
struct sess *sess_next(const struct sess *s);

/* Releases the worker's pool of recycled command records. */
void sess_pool_free(struct worker *w);

#endif
