/*
 * leg.h - one side of a session: the client's connection or the backend's. A leg owns its
 * socket and bufferevent (plain or TLS), its own read event, its input and output buffers, the
 * MySQL packet framer of what it reads, the compressed protocol's framing and backpressure.
 * It knows packets only as headers and first bytes; what they mean is the session's
 * (session.c, the MySQL state machine), which it tells through struct leg_ops. This is the
 * model of pgbouncer's sbuf.
 *
 * The contract, for leg_relay(src) (bytes read from src go to src->peer):
 *   For every packet header in src's input, once its first min(len, LEG_PEEK) payload bytes
 *   are there (for a longer packet, ops->want(owner, src, first byte) may ask for up to
 *   LEG_PEEK_MORE: an ERR's message), ops->packet(owner, src, pkt) is told the framer's step
 *   (header, kind) and those bytes. It answers:
 *     LEG_PASS   the packet goes on to the peer; its body is relayed as it arrives
 *     LEG_GONE   the session was torn down inside the callback: the leg returns at once
 *   and may set pkt->seq (the header's sequence id is rewritten in place when it differs) and
 *   pkt->new_cmd (a new command: toward a compressed peer whose algorithm differs, what came
 *   before this packet goes out first as frames of its own, and the peer's compressed
 *   sequence restarts at 0).
 *   While src->copy is set, every body byte relayed is also handed to ops->copy (the
 *   command's text for the log). When a logical packet (with its 16 MiB continuations) has
 *   been passed over completely, ops->end(owner, src) is called.
 *   When ops->rows says the next packets may be rows of a result set, the whole row packets
 *   (enum leg_rows) are passed over without a packet call each; ops->rows_done then gets
 *   their count, their bytes and the last one's sequence id.
 *   Passed bytes go to the peer in one writev from the input's pieces when the peer is a
 *   plain socket with nothing waiting (else through the peer's output buffer); when the peer
 *   has no connection (the client left) they are dropped.
 *   The leg's own reads (command phase, plain socket, neither side compressed) take what the
 *   socket has with one recv into a per-thread buffer, not the input, when the input is
 *   empty: `flat` is then set during ops->readable, and the walk reads it in place, sends what
 *   it passes over with one send, and leaves only what it did not walk (a packet's start) in
 *   the input. A readable callback that does not walk calls leg_unflat first. Over LEG_HIGH_WATER bytes waiting
 *   in the peer's output, src stops reading until it drains below LEG_LOW_WATER.
 *
 * Events: ops->readable when bytes arrived (leg_relay is the session's to call, so that it
 * can read greetings and handshakes whole first), ops->written when the output fell below
 * the low water (the session calls leg_written for the usual bookkeeping), ops->event for
 * libevent's BEV_EVENT_* (connected, end-of-file, error, timeout); the leg's own reads report
 * end-of-file and errors the same way.
 *
 * Every function here runs on the session's worker thread; none blocks.
 */
#ifndef SLOWTAP_LEG_H
#define SLOWTAP_LEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <event2/event.h>

#include "protocol/proto_compress.h"
#include "protocol/proto_packet.h"

struct bufferevent;
struct evbuffer;
struct leg;

#define LEG_PEEK       32u          /* first payload bytes shown for most packets */
#define LEG_PEEK_MORE  512u         /* ... at most, when ops->want asks (an ERR's message) */
#define LEG_HIGH_WATER (1u << 20)   /* stop the other side's reading above this */
#define LEG_LOW_WATER  (256u << 10) /* resume it below this */

/* What ops->packet answers. */
enum leg_verdict {
    LEG_PASS,
    LEG_GONE,
};

/* A packet header and its first bytes, as told to ops->packet. */
struct leg_pkt {
    struct proto_frame_step step; /* the framer's reading of the header */
    const uint8_t *first;         /* the first `avail` payload bytes */
    size_t avail;
    uint8_t seq;  /* in: the header's sequence id; out: the id it goes on with */
    bool new_cmd; /* out: a new command starts here (see the contract above) */
};

/* What ops->rows answers: whether the next packets may be rows of a result set, and of which
 * protocol. A packet is then a row when proto_row_for_certain says so (its length and first
 * byte); the run of rows ends before the first packet that is not one. */
enum leg_rows {
    LEG_ROWS_NONE,
    LEG_ROWS_TEXT,
    LEG_ROWS_BINARY,
};

/* Why leg_relay gave up on a session (it must then end it). */
enum leg_fail {
    LEG_FAIL_NONE,   /* a callback tore the session down already */
    LEG_FAIL_ZFRAME, /* a compressed frame that does not decode: clen, ulen */
    LEG_FAIL_NOMEM,
};
struct leg_err {
    enum leg_fail kind;
    uint32_t clen, ulen;
};

struct leg_ops {
    /* First payload bytes wanted for a packet whose first byte is `first` (its length is at
     * least 1): LEG_PEEK .. LEG_PEEK_MORE. */
    size_t (*want)(void *owner, const struct leg *src, uint8_t first);
    enum leg_verdict (*packet)(void *owner, struct leg *src, struct leg_pkt *pkt);
    void (*end)(void *owner, struct leg *src);
    /* The n body bytes at offset off of in; `flat`: the same bytes when they lie in one piece
     * (read them there), else NULL. Bytes read in place (flat, below) are not in `in`: flat
     * is then always given. */
    void (*copy)(void *owner, struct leg *src, struct evbuffer *in, size_t off, size_t n,
                 const uint8_t *flat);
    /* Which packets are rows now (enum leg_rows); LEG_ROWS_NONE: no row fast path. */
    enum leg_rows (*rows)(void *owner, const struct leg *src);
    /* A run's end: the rows passed over, their bytes and the last one's sequence id. */
    void (*rows_done)(void *owner, uint64_t rows, size_t bytes, uint8_t last_seq);
    void (*readable)(void *owner, struct leg *l);
    void (*written)(void *owner, struct leg *l);
    void (*event)(void *owner, struct leg *l, short what); /* BEV_EVENT_* */
};

struct leg {
    struct bufferevent *bev; /* NULL: no connection (not yet, or closed) */
    struct event *rd;        /* the leg's own read event (plain socket, command phase) */
    struct leg *peer;
    const struct leg_ops *ops;
    void *owner;
    bool tls;           /* bev is a TLS filter */
    bool sock;          /* bev is a plain socket slowtap may writev to directly */
    evutil_socket_t fd; /* with sock: that socket (bufferevent_getfd, without the call) */
    bool connected;     /* the socket's connect finished */
    bool paused;        /* reading stopped by backpressure */
    bool copy;          /* body bytes go to ops->copy too */
    /* During ops->readable only: the bytes just read, in place of the input (the contract) */
    uint8_t *flat;
    size_t flat_len;
    bool big; /* the last read filled the flat buffer: read into the input until one does not */
    /* Non-NULL (a capture runs, capture.h): the payloads of the row packets passed over in
     * a run are hashed into *rowsum (FNV-1a 64, proto_cap_fnv) as they are passed over. */
    uint64_t *rowsum;
    struct proto_framer fr;
    /* The compressed protocol on this leg: the algorithm (from the handshake), in force from
     * leg_compress_on; the next compressed sequence id; the decoded bytes not yet relayed. */
    uint8_t zalg; /* enum proto_zalg */
    bool zon;
    uint8_t zseq;
    int zlevel; /* zstd level of the frames slowtap builds for this leg */
    struct proto_zctx *zctx;
    struct evbuffer *zplain;
};

/* Initialises a leg with no connection yet. */
void leg_init(struct leg *l, struct leg *peer, const struct leg_ops *ops, void *owner,
              struct proto_zctx *zctx);

/* Takes a socket as the leg's connection (TCP_NODELAY with `nodelay`); false when out of
 * memory (the socket is closed then). A plain socket's writes are the leg's own (push), so its
 * bufferevent's write event is off; reading is off until leg_reading. */
bool leg_attach(struct leg *l, struct event_base *base, evutil_socket_t fd, bool nodelay);
/* For tests: any bufferevent (a pair), written through its output buffer. */
void leg_attach_bev(struct leg *l, struct bufferevent *bev);

/* Starts the non-blocking connect of the attached socket, bounded by `timeout_us`; 0, or -1
 * with errno when it failed at once. */
int leg_connect_start(struct leg *l, int64_t timeout_us);
/* The connect finished: no timeout, no write event; TCP_NODELAY with `nodelay`. */
void leg_connect_done(struct leg *l, bool nodelay);

/* Bytes the connection has still to send before it may close: its output, under TLS the
 * encrypted bytes of the socket below, and with `with_kernel` what the kernel holds unacked
 * (a reset would drop it). */
size_t leg_unsent(const struct leg *l, bool with_kernel);
/* The output is all sent (leg_unsent, with the kernel's when `reset`); under TLS, once the
 * output is empty, the close_notify is queued after it (unless `reset`). */
bool leg_flushed(struct leg *l, bool reset);
/* Closes the connection: with a TCP reset when `reset`, else under TLS with a close_notify
 * sent first (as a server closes). The leg stays usable as "closed". */
void leg_close(struct leg *l, bool reset);
/* The write side only: the peer reads end-of-file once it has read the rest. */
void leg_shutdown_write(struct leg *l);
/* Stops reading and writes out what waits; ops->written is called once it is all out. */
void leg_flush_out(struct leg *l);
/* Frees what leg_close leaves (the decoded-bytes buffer). */
void leg_free(struct leg *l);

/* Puts TLS over the connection (a bufferevent_openssl filter that owns the socket's
 * bufferevent), taking `ssl`; false when out of memory (ssl is freed). */
bool leg_tls_start(struct leg *l, struct event_base *base, SSL *ssl, bool accepting);

/* Reading on or off (backpressure, shutdown, a state that expects nothing from this side). */
void leg_reading(struct leg *l, bool on);
/* From now on a plain socket is read by the leg's own event (readv into reserved space), not
 * by its bufferevent (which asks FIONREAD and reads 4 KiB per call). */
void leg_own_reads(struct leg *l, struct event_base *base);

struct evbuffer *leg_input(const struct leg *l);
/* Moves the bytes just read (flat, see the contract) to the end of the input, for a reader of
 * leg_input; nothing when there are none. False when out of memory: the bytes are lost, and
 * the stream's framing with them, so the caller must end the session. */
bool leg_unflat(struct leg *l);
/* True when nothing has come from the peer yet that is not consumed: the input is empty and
 * the socket has no byte waiting (or the peer is gone). */
bool leg_nothing_read(const struct leg *l);

/* Appends a packet slowtap made (an ERR) to the output, as a stored compressed frame when the
 * leg compresses; leg_push or libevent sends it. */
void leg_append_packet(struct leg *l, const uint8_t *pkt, size_t n);
/* Appends raw bytes to the output. */
void leg_append(struct leg *l, const void *p, size_t n);
/* Moves the first n bytes of src's input to src->peer and sends them (see the contract). */
void leg_send(struct leg *src, size_t n);
/* ops->written's bookkeeping: a plain socket's write event off once its output is empty, and
 * a peer paused for this output reads again below the low water. */
void leg_written(struct leg *l);

/* FNV-1a 64 (proto_cap_fnv) continued from h over in[off..off+n) (as far as it goes). */
uint64_t leg_hash(struct evbuffer *in, size_t off, size_t n, uint64_t h);

/* Compression in force on both legs (each with its own algorithm, possibly none). */
void leg_compress_on(struct leg *a, struct leg *b);
/* The leg's buffer for decoded bytes; false when out of memory. */
bool leg_zplain_new(struct leg *l);

/*
 * Walks and relays every packet available in src's input (see the contract). Returns the
 * bytes relayed (read from src), or -1 when the session was torn down by a callback
 * (err->kind LEG_FAIL_NONE) or must be ended by the caller (err says why).
 */
long leg_relay(struct leg *src, struct leg_err *err);

/* Inline (leg_walk.h): leg_pending_out, the bytes waiting in the output; leg_push, which sends
 * what waits in a plain socket's output now with one writev (what the kernel does not take is
 * left to libevent's write event; TLS bufferevents write by themselves). */
#include "proxy/relay/leg_walk.h"

#endif
