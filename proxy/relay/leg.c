/*
 * leg.c - one side of a session: its connection, reads and writes, packet walking, compressed
 * framing and backpressure. The contract with the session is in leg.h; what the packets mean
 * is session.c's.
 *
 * A packet's way through a leg:
 *
 *   socket -> leg_own_read (readv into the input's reserved space) -> ops->readable
 *     -> session: leg_walk (leg_walk.h; leg_relay for other callers)
 *          [compressed leg: leg_z_inflow decodes whole frames into zplain; frames that go on
 *           unchanged are moved to the peer as they are]
 *          walk: header + first bytes (cursor over the input's pieces) -> ops->packet
 *                rows of a result set counted in a run (ops->rows), body bytes -> ops->copy
 *                a whole logical packet -> ops->end
 *     -> peer: leg_send_from (one writev from the input's pieces), or leg_z_outflow (frames
 *              built for a compressed peer), or the peer's output buffer and libevent's write event
 *     -> backpressure: over LEG_HIGH_WATER waiting at the peer, src stops reading
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/sockios.h>
#include <openssl/err.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "protocol/proto_capture.h"
#include "protocol/proto_wire.h"
#include "proxy/relay/leg.h"
#include "proxy/relay/leg_walk.h"

#define LEG_READ_MAX    (256u << 10) /* bytes leg_own_read takes per wake-up at most */
#define LEG_ZCHUNK      (1u << 20)   /* plain bytes per compressed frame slowtap builds */
#define LEG_ZVEC        16           /* evbuffer pieces handed to zlib/zstd at once */
#define LEG_ZMAX_FRAMED (16u << 20)  /* largest compressed frame waited for whole */
/* Bytes leg_own_read reserves for its first readv of a wake-up (a statement, a small result)
 * and for each further one (a large result), less room for libevent's chain header so that
 * the chain's allocation stays at 16 or 64 KiB (below malloc's mmap threshold). */
#define LEG_READ_CHUNK ((16u << 10) - 128u)
#define LEG_READ_BIG   ((64u << 10) - 128u)

/* ---- the connection ---- */

static void
leg_on_read(struct bufferevent *bev, void *arg)
{
    struct leg *l = arg;
    (void)bev;
    l->ops->readable(l->owner, l);
}

static void
leg_on_write(struct bufferevent *bev, void *arg)
{
    struct leg *l = arg;
    (void)bev;
    l->ops->written(l->owner, l);
}

static void
leg_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct leg *l = arg;
    (void)bev;
    l->ops->event(l->owner, l, what);
}

static void
leg_tune(struct leg *l)
{
    bufferevent_setcb(l->bev, leg_on_read, leg_on_write, leg_on_event, l);
    bufferevent_setwatermark(l->bev, EV_WRITE, LEG_LOW_WATER, 0);
    bufferevent_set_max_single_read(l->bev, 256 << 10);
    bufferevent_set_max_single_write(l->bev, 256 << 10);
}

static void
leg_nodelay(struct leg *l)
{
    int one = 1;
    setsockopt(bufferevent_getfd(l->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void
leg_init(struct leg *l, struct leg *peer, const struct leg_ops *ops, void *owner,
         struct proto_zctx *zctx)
{
    *l = (struct leg){
        .bev = NULL,
        .rd = NULL,
        .fd = -1,
        .flat = NULL,
        .flat_len = 0,
        .big = false,
        .peer = peer,
        .ops = ops,
        .owner = owner,
        .fr = {.body_left = 0, .continues = false, .next_continues = false, .seq = 0},
        .zalg = PROTO_ZALG_NONE,
        .zctx = zctx,
        .zplain = NULL,
        .rowsum = NULL,
    };
}

bool
leg_attach(struct leg *l, struct event_base *base, evutil_socket_t fd, bool nodelay)
{
    l->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev) {
        close(fd);
        return false;
    }
    l->sock = true;
    l->fd = fd;
    l->connected = true;
    leg_tune(l);
    if (nodelay) {
        leg_nodelay(l);
    }
    bufferevent_disable(l->bev, EV_WRITE); /* on by default; leg_push writes */
    return true;
}

void
leg_attach_bev(struct leg *l, struct bufferevent *bev)
{
    l->bev = bev;
    l->sock = false;
    l->connected = true;
    leg_tune(l);
}

int
leg_connect_start(struct leg *l, int64_t timeout_us)
{
    l->connected = false;
    struct timeval tv = {(time_t)(timeout_us / 1000000), (suseconds_t)(timeout_us % 1000000)};
    bufferevent_set_timeouts(l->bev, NULL, &tv);    /* bounds the connect (its write wait) */
    bufferevent_enable(l->bev, EV_READ | EV_WRITE); /* EV_WRITE: to see the connect finish */
    if (bufferevent_socket_connect(l->bev, NULL, 0) < 0) {
        errno = EVUTIL_SOCKET_ERROR();
        return -1;
    }
    return 0;
}

void
leg_connect_done(struct leg *l, bool nodelay)
{
    l->connected = true;
    bufferevent_set_timeouts(l->bev, NULL, NULL);
    bufferevent_disable(l->bev, EV_WRITE); /* leg_push writes */
    if (nodelay) {
        leg_nodelay(l);
    }
}

/* Under TLS: queues the close_notify alert (once) on the socket below the filter. */
static void
leg_tls_close_notify(struct leg *l)
{
    SSL *ssl = bufferevent_openssl_get_ssl(l->bev);
    if (!ssl || !SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        return;
    }
    /* The filter's BIO writes the alert into the socket bufferevent's output; that
     * bufferevent sends it on its own (its write event), or leg_tls_flush_now does. */
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

/* Under TLS: hands the kernel what the socket below the filter holds, without waiting
 * (before that socket is closed). */
static void
leg_tls_flush_now(struct leg *l)
{
    struct bufferevent *u = bufferevent_get_underlying(l->bev);
    if (!u) {
        return;
    }
    struct evbuffer *out = bufferevent_get_output(u);
    evbuffer_unfreeze(out, 1); /* as the socket bufferevent's own write callback does */
    for (int i = 0; i < 4 && evbuffer_get_length(out) > 0; i++) {
        if (evbuffer_write(out, bufferevent_getfd(u)) <= 0) {
            break;
        }
    }
    evbuffer_freeze(out, 1);
}

size_t
leg_unsent(const struct leg *l, bool with_kernel)
{
    if (!l->bev) {
        return 0;
    }
    size_t n = evbuffer_get_length(bufferevent_get_output(l->bev));
    if (l->tls) {
        struct bufferevent *u = bufferevent_get_underlying(l->bev);
        n += u ? evbuffer_get_length(bufferevent_get_output(u)) : 0;
    }
#ifdef SIOCOUTQ
    int q = 0;
    if (with_kernel && ioctl(bufferevent_getfd(l->bev), SIOCOUTQ, &q) == 0 && q > 0) {
        n += (size_t)q;
    }
#endif
    return n;
}

bool
leg_flushed(struct leg *l, bool reset)
{
    if (!l->bev || evbuffer_get_length(bufferevent_get_output(l->bev)) > 0) {
        return !l->bev;
    }
    if (l->tls && !reset) {
        leg_tls_close_notify(l); /* follows what was sent */
    }
    return leg_unsent(l, reset) == 0;
}

void
leg_close(struct leg *l, bool reset)
{
    if (l->rd) {
        event_free(l->rd); /* before the bufferevent closes the socket */
        l->rd = NULL;
    }
    if (l->bev) {
        if (reset) {
            struct linger lg = {1, 0}; /* close with a TCP reset */
            setsockopt(bufferevent_getfd(l->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        } else if (l->tls) {
            /* a TLS close, as a server closes: close_notify, then the socket's FIN */
            leg_tls_close_notify(l);
            leg_tls_flush_now(l);
        }
        bufferevent_free(l->bev);
        l->bev = NULL;
    }
    l->tls = false;
    l->sock = false;
    l->fd = -1;
    l->flat = NULL;
    l->flat_len = 0;
    l->big = false;
    l->paused = false;
    l->copy = false;
}

void
leg_shutdown_write(struct leg *l)
{
    if (l->bev) {
        shutdown(bufferevent_getfd(l->bev), SHUT_WR);
    }
}

void
leg_flush_out(struct leg *l)
{
    if (l->rd) {
        event_free(l->rd);
        l->rd = NULL;
    }
    bufferevent_disable(l->bev, EV_READ);
    bufferevent_setwatermark(l->bev, EV_WRITE, 0, 0);
    bufferevent_enable(l->bev, EV_WRITE);
}

void
leg_free(struct leg *l)
{
    if (l->zplain) {
        evbuffer_free(l->zplain);
        l->zplain = NULL;
    }
}

bool
leg_tls_start(struct leg *l, struct event_base *base, SSL *ssl, bool accepting)
{
    struct bufferevent *f =
        ssl ? bufferevent_openssl_filter_new(base, l->bev, ssl,
                                             accepting ? BUFFEREVENT_SSL_ACCEPTING
                                                       : BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (!f) {
        if (ssl) {
            SSL_free(ssl);
        }
        return false;
    }
    l->bev = f;
    l->tls = true;
    l->sock = false;
    leg_tune(l);
    bufferevent_enable(f, EV_READ | EV_WRITE);
    return true;
}

/* ---- reading ---- */

void
leg_reading(struct leg *l, bool on)
{
    if (l->rd) {
        if (on) {
            event_add(l->rd, NULL);
        } else {
            event_del(l->rd);
        }
    } else if (l->bev) {
        if (on) {
            bufferevent_enable(l->bev, EV_READ);
        } else {
            bufferevent_disable(l->bev, EV_READ);
        }
    }
}

/*
 * Reads what the socket has into `in`'s reserved space (evbuffer_reserve_space, readv,
 * evbuffer_commit_space), LEG_READ_CHUNK, then LEG_READ_BIG at a time, until a read comes up
 * short or LEG_READ_MAX arrived. Returns the bytes read; 0 at EOF and -1 on an error (errno
 * set) when nothing was read; -2 when nothing is there (EAGAIN). An EOF or error after some
 * bytes waits for the next wake-up, as with libevent's own reads.
 */
static long
leg_read_fd(evutil_socket_t fd, struct evbuffer *in)
{
    size_t got = 0;
    while (got < LEG_READ_MAX) {
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(in, got ? LEG_READ_BIG : LEG_READ_CHUNK, v, 2);
        if (nv <= 0) {
            errno = ENOMEM;
            return got ? (long)got : -1;
        }
        struct iovec iov[2];
        size_t room = 0;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
            room += v[i].iov_len;
        }
        ssize_t r = net_readv(fd, iov, nv);
        if (r <= 0) {
            int err = errno;
            evbuffer_commit_space(in, v, 0);
            errno = err;
            if (got) {
                return (long)got;
            }
            if (r == 0) {
                return 0;
            }
            return err == EAGAIN || err == EWOULDBLOCK || err == EINTR ? -2 : -1;
        }
        size_t left = (size_t)r;
        int used = 0;
        for (; used < nv && left > 0; used++) {
            if (v[used].iov_len > left) {
                v[used].iov_len = left;
            }
            left -= v[used].iov_len;
        }
        evbuffer_commit_space(in, v, used);
        got += (size_t)r;
        if ((size_t)r < room) {
            break;
        }
    }
    return (long)got;
}

/* The one read of a wake-up with an empty input (leg.h: flat), per worker thread: a statement,
 * a small result, or the first part of a large one. */
#define LEG_FLAT_SIZE (64u << 10)
static _Thread_local uint8_t leg_flat_buf[LEG_FLAT_SIZE];

/* The socket is readable: read into the per-thread buffer (flat, see below), else into the
 * bufferevent's input; then tell the session as the bufferevent would have (readable, or an
 * end-of-file or error event). */
static void
leg_own_read(evutil_socket_t fd, short what, void *arg)
{
    struct leg *l = arg;
    (void)what;
    struct evbuffer *in = bufferevent_get_input(l->bev);
    long r;
    const struct leg *p = l->peer;
    /* in place only where it saves work: not in a large transfer (big: there the input's
     * pieces move to the peer's output without a copy when it must wait), nothing kept in
     * the input, no compression, and a peer that is a plain socket (or gone) */
    if (!l->big && !l->zon && !p->zon && (!p->bev || p->sock) && evbuffer_get_length(in) == 0) {
        ssize_t got = net_recv(fd, leg_flat_buf, sizeof leg_flat_buf, 0);
        if (got > 0) {
            /* a full buffer: a large transfer, which the input's larger reads and moves of
             * pieces serve better from the next read on */
            l->big = (size_t)got == sizeof leg_flat_buf;
            l->flat = leg_flat_buf;
            l->flat_len = (size_t)got;
            l->ops->readable(l->owner, l); /* walks it or leg_unflat's it; l may be gone */
            return;
        }
        r = got == 0 ? 0 : errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -2 : -1;
    } else {
        evbuffer_unfreeze(in, 0); /* as the socket bufferevent does around its reads */
        r = leg_read_fd(fd, in);
        evbuffer_freeze(in, 0);
        if (r >= 0 && (size_t)r < LEG_FLAT_SIZE) {
            l->big = false; /* the large transfer is over */
        }
    }
    if (r == -2) {
        return;
    }
    if (r > 0) {
        l->ops->readable(l->owner, l);
        return;
    }
    int err = errno;
    event_del(l->rd);
    errno = err;
    l->ops->event(l->owner, l, BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

void
leg_own_reads(struct leg *l, struct event_base *base)
{
    if (!l->bev || l->tls || l->rd || !l->sock) {
        return;
    }
    l->rd = event_new(base, bufferevent_getfd(l->bev), EV_READ | EV_PERSIST, leg_own_read, l);
    if (!l->rd) {
        return; /* the bufferevent reads on */
    }
    if (bufferevent_get_enabled(l->bev) & EV_READ) {
        bufferevent_disable(l->bev, EV_READ);
        event_add(l->rd, NULL);
    }
}

struct evbuffer *
leg_input(const struct leg *l)
{
    return bufferevent_get_input(l->bev);
}

bool
leg_unflat(struct leg *l)
{
    if (!l->flat) {
        return true;
    }
    bool ok = true;
    if (l->bev) {
        struct evbuffer *in = bufferevent_get_input(l->bev);
        evbuffer_unfreeze(in, 0);
        ok = evbuffer_add(in, l->flat, l->flat_len) == 0;
        evbuffer_freeze(in, 0);
    }
    l->flat = NULL;
    l->flat_len = 0;
    return ok;
}

bool
leg_nothing_read(const struct leg *l)
{
    if (evbuffer_get_length(bufferevent_get_input(l->bev)) > 0) {
        return false;
    }
    uint8_t b;
    ssize_t n = recv(bufferevent_getfd(l->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n <= 0; /* nothing there (EAGAIN), or the peer is gone */
}

/* ---- writing ---- */

void
leg_append(struct leg *l, const void *p, size_t n)
{
    bufferevent_write(l->bev, p, n);
}

void
leg_append_packet(struct leg *l, const uint8_t *pkt, size_t n)
{
    if (l->zon && l->zalg != PROTO_ZALG_NONE) {
        uint8_t zh[PROTO_ZHDR_LEN];
        proto_zhdr_write(zh, (uint32_t)n, l->zseq++, 0);
        bufferevent_write(l->bev, zh, sizeof zh);
    }
    bufferevent_write(l->bev, pkt, n);
}

void
leg_send(struct leg *src, size_t n)
{
    leg_send_from(leg_input(src), n, src->peer);
}

/* A peer paused for l's output reads again once it is below the low water. */
static void
resume_peer(struct leg *l)
{
    struct leg *p = l->peer;
    if (p->paused && l->bev && leg_pending_out(l) <= LEG_LOW_WATER) {
        p->paused = false;
        leg_reading(p, true);
    }
}

void
leg_written(struct leg *l)
{
    if (!l->tls && l->bev && evbuffer_get_length(bufferevent_get_output(l->bev)) == 0) {
        bufferevent_disable(l->bev, EV_WRITE);
    }
    resume_peer(l);
    resume_peer(l->peer);
}

/* ---- the compressed protocol ---- */

void
leg_compress_on(struct leg *a, struct leg *b)
{
    bool on = a->zalg != PROTO_ZALG_NONE || b->zalg != PROTO_ZALG_NONE;
    a->zon = on;
    b->zon = on;
}

bool
leg_zplain_new(struct leg *l)
{
    if (!l->zplain) {
        l->zplain = evbuffer_new();
    }
    return l->zplain != NULL;
}

/* Up to LEG_ZVEC pieces of the first `n` bytes at `off` in `buf`; returns the count and sets
 * *got to the bytes they cover (less than n when more pieces would be needed). */
static int
z_pieces(struct evbuffer *buf, size_t off, size_t n, struct proto_zbuf *zb, size_t *got)
{
    struct evbuffer_iovec v[LEG_ZVEC];
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET);
    int nv = n ? evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, LEG_ZVEC) : 0;
    if (nv > LEG_ZVEC) {
        nv = LEG_ZVEC;
    }
    size_t have = 0;
    for (int i = 0; i < nv; i++) {
        size_t take = v[i].iov_len < n - have ? v[i].iov_len : n - have;
        zb[i].p = v[i].iov_base;
        zb[i].n = take;
        have += take;
    }
    *got = have;
    return nv;
}

/*
 * Decodes every whole frame in src's input into src->zplain (leg_walk.h); with `pass`, the frame itself
 * goes on to the peer unchanged (or is dropped when the peer has no connection). A frame is
 * decoded once all of it has arrived: at most 16 MiB wait in the input. Returns -1 (err set)
 * when a frame does not decode or memory ran out.
 */
int
leg_z_inflow(struct leg *src, bool pass, struct leg_err *err)
{
    struct evbuffer *raw = leg_input(src);
    struct leg *dst = src->peer;
    for (;;) {
        uint8_t hb[PROTO_ZHDR_LEN];
        struct proto_zhdr h = {0};
        if (evbuffer_copyout(raw, hb, sizeof hb) < (ev_ssize_t)sizeof hb) {
            return 0;
        }
        enum proto_rc rc = proto_zhdr_parse(hb, sizeof hb, PROTO_ZMAX_LEN, &h);
        size_t flen = PROTO_ZHDR_LEN + (size_t)h.clen;
        if (rc == PROTO_OK && evbuffer_get_length(raw) < flen) {
            return 0;
        }
        uint32_t n = rc == PROTO_OK ? proto_zhdr_plain_len(&h) : 0;
        if (rc == PROTO_OK && n > 0) {
            struct proto_zbuf zb[LEG_ZVEC];
            size_t got;
            int nz = z_pieces(raw, PROTO_ZHDR_LEN, h.clen, zb, &got);
            if (got < h.clen) {
                /* spread over many chains: make it one */
                if (!evbuffer_pullup(raw, (ev_ssize_t)flen)) {
                    err->kind = LEG_FAIL_NOMEM;
                    return -1;
                }
                nz = z_pieces(raw, PROTO_ZHDR_LEN, h.clen, zb, &got);
            }
            struct evbuffer_iovec out;
            if (evbuffer_reserve_space(src->zplain, n, &out, 1) < 1) {
                err->kind = LEG_FAIL_NOMEM;
                return -1;
            }
            rc = proto_zdecode(src->zctx, (enum proto_zalg)src->zalg, &h, zb, nz, out.iov_base);
            if (rc == PROTO_OK) {
                out.iov_len = n;
                evbuffer_commit_space(src->zplain, &out, 1);
            }
        }
        if (rc != PROTO_OK) {
            *err = (struct leg_err){.kind = LEG_FAIL_ZFRAME, .clen = h.clen, .ulen = h.ulen};
            return -1;
        }
        uint8_t next = (uint8_t)(h.seq + 1);
        src->zseq = next;
        if (pass) {
            dst->zseq = next;
        }
        if (pass && dst->bev) {
            evbuffer_remove_buffer(raw, bufferevent_get_output(dst->bev), flen);
        } else {
            evbuffer_drain(raw, flen);
        }
    }
}

/* Frames the first `n` plain bytes of `in` for dst (compressed above the threshold, stored
 * below it, at most LEG_ZCHUNK bytes a frame) and drains them. Returns -1 when out of
 * memory. */
int
leg_z_outflow(struct leg *dst, struct evbuffer *in, size_t n)
{
    struct evbuffer *out = bufferevent_get_output(dst->bev);
    while (n > 0) {
        struct proto_zbuf zb[LEG_ZVEC];
        size_t chunk;
        int nz = z_pieces(in, 0, n < LEG_ZCHUNK ? n : LEG_ZCHUNK, zb, &chunk);
        size_t cap = proto_zencode_bound((enum proto_zalg)dst->zalg, chunk);
        struct evbuffer_iovec o;
        size_t fl = 0;
        if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &o, 1) >= 1) {
            fl = proto_zencode(dst->zctx, (enum proto_zalg)dst->zalg, dst->zlevel, dst->zseq, zb,
                               nz, chunk, o.iov_base, cap);
        }
        if (!fl) {
            return -1;
        }
        dst->zseq++;
        o.iov_len = fl;
        evbuffer_commit_space(out, &o, 1);
        evbuffer_drain(in, chunk);
        n -= chunk;
    }
    return 0;
}

/* ---- the walk's helpers (leg_walk.h) ---- */

/* Overwrites one byte in place (a sequence id in a header that is about to be relayed). */
void
leg_poke(struct evbuffer *in, size_t off, uint8_t v)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec vec;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    if (evbuffer_peek(in, 1, &pos, &vec, 1) >= 1 && vec.iov_len >= 1) {
        *(uint8_t *)vec.iov_base = v;
    }
}

/* Moves to the piece holding offset off (inside the buffer); false when there is none. */
static bool
cur_seek(struct leg_cur *c, size_t off)
{
    if (c->n > 0 && off >= c->at) {
        while (c->i < c->n && off - c->at >= c->v[c->i].iov_len) {
            c->at += c->v[c->i].iov_len;
            c->i++;
        }
        if (c->i < c->n) {
            return true;
        }
    }
    struct evbuffer_ptr pos; /* before the pieces seen, or past them: look again from off */
    if (off > 0 && evbuffer_ptr_set(c->buf, &pos, off, EVBUFFER_PTR_SET) < 0) {
        c->n = 0;
        c->i = 0;
        return false;
    }
    /* from the start (a walk's first packet): no position to set */
    int n = evbuffer_peek(c->buf, -1, off > 0 ? &pos : NULL, c->v, LEG_CUR_VECS);
    c->n = n < LEG_CUR_VECS ? n : LEG_CUR_VECS;
    c->i = 0;
    c->at = off;
    while (c->i < c->n && c->v[c->i].iov_len == 0) {
        c->i++;
    }
    return c->i < c->n;
}

static void
peek(struct evbuffer *in, size_t off, uint8_t *out, size_t n)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, out, n);
}

/* cur_get when the bytes are not all in the piece of the last call. */
const uint8_t *
leg_cur_get_slow(struct leg_cur *c, size_t off, size_t n, uint8_t *tmp)
{
    if (cur_seek(c, off)) {
        size_t skip = off - c->at;
        const struct evbuffer_iovec *v = &c->v[c->i];
        if (v->iov_len - skip >= n) {
            return (const uint8_t *)v->iov_base + skip;
        }
        size_t got = 0;
        for (int i = c->i; i < c->n && got < n; i++, skip = 0) {
            size_t k = c->v[i].iov_len - skip < n - got ? c->v[i].iov_len - skip : n - got;
            memcpy(tmp + got, (const uint8_t *)c->v[i].iov_base + skip, k);
            got += k;
        }
        if (got == n) {
            return tmp;
        }
    }
    peek(c->buf, off, tmp, n);
    return tmp;
}

long
leg_relay(struct leg *src, struct leg_err *err)
{
    return leg_walk(src, src->ops, err);
}

uint64_t
leg_hash(struct evbuffer *in, size_t off, size_t n, uint64_t h)
{
    struct evbuffer_ptr pos;
    if (n == 0 || evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET) < 0) {
        return h;
    }
    struct evbuffer_iovec v[LEG_PEEK_VECS];
    while (n > 0) {
        int nv = evbuffer_peek(in, (ev_ssize_t)n, &pos, v, LEG_PEEK_VECS);
        if (nv <= 0) {
            break;
        }
        int m = nv < LEG_PEEK_VECS ? nv : LEG_PEEK_VECS;
        size_t done = 0;
        for (int i = 0; i < m && n > 0; i++) {
            size_t k = v[i].iov_len < n ? v[i].iov_len : n;
            h = proto_cap_fnv(h, v[i].iov_base, k);
            n -= k;
            done += k;
        }
        if (n == 0 || evbuffer_ptr_set(in, &pos, done, EVBUFFER_PTR_ADD) < 0) {
            break;
        }
    }
    return h;
}

uint64_t
leg_cur_hash_slow(struct leg_cur *c, size_t off, size_t n, uint64_t h)
{
    if (cur_seek(c, off)) {
        size_t skip = off - c->at;
        for (int i = c->i; i < c->n && n > 0; i++, skip = 0) {
            size_t k = c->v[i].iov_len - skip < n ? c->v[i].iov_len - skip : n;
            h = proto_cap_fnv(h, (const uint8_t *)c->v[i].iov_base + skip, k);
            n -= k;
            off += k;
        }
    }
    return n ? leg_hash(c->buf, off, n, h) : h;
}
