/*
 * leg_walk.h - the packet walk of leg_relay (the contract is leg.h's), as an always-inline
 * function. A caller that passes a constant struct leg_ops (session.c's sess_leg_ops) gets
 * its callbacks resolved and inlined by the compiler: the walk costs what it cost when it was
 * written inside the session, and stays a separate, separately fuzzed piece (fuzz_leg.c).
 * leg_relay (leg.c) is the same walk through src->ops, for any other caller.
 */
#ifndef SLOWTAP_LEG_WALK_H
#define SLOWTAP_LEG_WALK_H

#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "net/net_io.h"
#include "protocol/proto_capture.h"
#include "protocol/proto_resp.h"
#include "protocol/proto_wire.h"
#include "proxy/relay/leg.h"

#define LEG_CUR_VECS  4  /* input pieces the walk's cursor looks at per evbuffer_peek */
#define LEG_PEEK_VECS 16 /* input pieces leg_send_from writes with one writev */

/*
 * A forward walk over the contiguous pieces of the input (evbuffer_peek), so that each
 * packet's header and first bytes are read where they lie, instead of seeking from the
 * buffer's start (evbuffer_ptr_set) and copying them out, per packet. Valid while the buffer is
 * unchanged (leg_poke's in-place writes aside): after draining it, leg_cur_reset.
 */
struct leg_cur {
    struct evbuffer *buf;
    struct evbuffer_iovec v[LEG_CUR_VECS];
    int n;     /* pieces in v; 0: look again */
    int i;     /* the piece holding the last offset asked for */
    size_t at; /* offset of v[i] in buf */
};

/* Helpers of the walk, in leg.c. */
const uint8_t *leg_cur_get_slow(struct leg_cur *c, size_t off, size_t n, uint8_t *tmp);
uint64_t leg_cur_hash_slow(struct leg_cur *c, size_t off, size_t n, uint64_t h);
void leg_poke(struct evbuffer *in, size_t off, uint8_t v);
int leg_z_inflow(struct leg *src, bool pass, struct leg_err *err);
int leg_z_outflow(struct leg *dst, struct evbuffer *in, size_t n);

/* ---- sending: inline, as they run for every packet ---- */

static inline size_t
leg_pending_out(const struct leg *l)
{
    return l->bev ? evbuffer_get_length(bufferevent_get_output(l->bev)) : 0;
}
static inline void
leg_push(struct leg *l)
{
    if (!l->bev || !l->sock || !l->connected || (bufferevent_get_enabled(l->bev) & EV_WRITE)) {
        return;
    }
    struct evbuffer *out = bufferevent_get_output(l->bev);
    /* A socket bufferevent keeps the start of its output frozen outside its own write
     * callback; do as that callback does. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, l->fd);
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0) {
        /* The rest, or the error, is libevent's: it reports failures through the event cb. */
        bufferevent_enable(l->bev, EV_WRITE);
    }
}
/*
 * Relays the first n bytes of `in` to dst. When dst is a plain socket with nothing waiting in
 * its output (the usual case: a statement, its response), they go straight from the input's
 * pieces to the socket with one writev and are drained from `in`; only what the kernel does
 * not take moves to dst's output, for leg_push or libevent's write event to finish. This saves
 * moving the chains into the output, its callbacks and a second drain per packet. Otherwise
 * the chains move (evbuffer_remove_buffer) and leg_push sends them.
 */
static inline void
leg_send_from(struct evbuffer *in, size_t n, struct leg *dst)
{
    struct evbuffer *out = bufferevent_get_output(dst->bev);
    if (dst->sock && dst->connected && !(bufferevent_get_enabled(dst->bev) & EV_WRITE) &&
        evbuffer_get_length(out) == 0) {
        struct evbuffer_iovec v[LEG_PEEK_VECS];
        struct iovec iov[LEG_PEEK_VECS];
        int nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, LEG_PEEK_VECS);
        if (nv > LEG_PEEK_VECS) {
            nv = LEG_PEEK_VECS; /* the rest goes the other way */
        }
        size_t want = 0;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = want + v[i].iov_len > n ? n - want : v[i].iov_len;
            want += iov[i].iov_len;
        }
        ssize_t r = nv > 0 ? net_writev(dst->fd, iov, nv) : 0;
        size_t sent = r > 0 ? (size_t)r : 0;
        evbuffer_drain(in, sent);
        n -= sent;
        if (n == 0) {
            return;
        }
        if (sent < want) {
            /* The kernel is full (or the write failed): libevent's write event takes the rest
             * and reports an error through the event callback. */
            evbuffer_remove_buffer(in, out, n);
            bufferevent_enable(dst->bev, EV_WRITE);
            return;
        }
    }
    evbuffer_remove_buffer(in, out, n);
    leg_push(dst);
}
/* leg_send_from for bytes in memory (flat, leg.h): one send when dst is a plain socket with
 * nothing waiting, what the kernel does not take (or all of it otherwise) to dst's output.
 * True when the send took them all (dst's output is as empty as it was). */
static inline bool
leg_send_flat(const uint8_t *p, size_t n, struct leg *dst)
{
    struct evbuffer *out = bufferevent_get_output(dst->bev);
    if (dst->sock && dst->connected && !(bufferevent_get_enabled(dst->bev) & EV_WRITE) &&
        evbuffer_get_length(out) == 0) {
        ssize_t r = net_send(dst->fd, p, n, MSG_NOSIGNAL);
        size_t sent = r > 0 ? (size_t)r : 0;
        if (sent == n) {
            return true;
        }
        /* The kernel is full (or the send failed): libevent's write event takes the rest and
         * reports an error through the event callback. */
        evbuffer_add(out, p + sent, n - sent);
        bufferevent_enable(dst->bev, EV_WRITE);
        return false;
    }
    evbuffer_add(out, p, n);
    leg_push(dst);
    return false;
}

/* The bytes walked so far go on to the peer (see the contract). Returns -1 when out of
 * memory. */
static inline int
leg_pass_on(struct leg *src, struct evbuffer *in, size_t n, bool zpass, bool zdst)
{
    struct leg *dst = src->peer;
    if (!dst->bev) {
        evbuffer_drain(in, n); /* the peer is gone: the session reads to the end and drops */
        return 0;
    }
    if (zpass) {
        evbuffer_drain(in, n); /* its frames were relayed as they came */
    } else if (zdst) {
        if (leg_z_outflow(dst, in, n) < 0) {
            return -1;
        }
    } else {
        leg_send_from(in, n, dst);
    }
    if (zpass || zdst) {
        leg_push(dst);
    }
    if (leg_pending_out(dst) > LEG_HIGH_WATER) {
        leg_reading(src, false);
        src->paused = true;
    }
    return 0;
}

/* Every field that is read set: leg_cur_get's fast path reads i and at. */
static inline void
leg_cur_reset(struct leg_cur *c, struct evbuffer *buf)
{
    c->buf = buf;
    c->n = 0;
    c->i = 0;
    c->at = 0;
}

/* The n bytes at offset off (all inside the buffer): a pointer into the buffer when they lie
 * in one piece, else a copy in tmp (of at least n bytes). */
static inline const uint8_t *
leg_cur_get(struct leg_cur *c, size_t off, size_t n, uint8_t *tmp)
{
    if (c->i < c->n && off >= c->at) {
        const struct evbuffer_iovec *v = &c->v[c->i];
        size_t skip = off - c->at;
        if (skip < v->iov_len && v->iov_len - skip >= n) {
            return (const uint8_t *)v->iov_base + skip;
        }
    }
    return leg_cur_get_slow(c, off, n, tmp);
}

/* FNV-1a 64 continued from h over the n bytes at offset off (all inside the buffer). */
static inline uint64_t
leg_cur_hash(struct leg_cur *c, size_t off, size_t n, uint64_t h)
{
    if (c->i < c->n && off >= c->at) {
        const struct evbuffer_iovec *v = &c->v[c->i];
        size_t skip = off - c->at;
        if (skip < v->iov_len && v->iov_len - skip >= n) {
            return proto_cap_fnv(h, (const uint8_t *)v->iov_base + skip, n);
        }
    }
    return leg_cur_hash_slow(c, off, n, h);
}

/* The piece holding offset off, from off on: its bytes' start, and their count in *avail;
 * NULL when the cursor finds no piece there. */
static inline const uint8_t *
leg_cur_at(struct leg_cur *c, size_t off, size_t *avail)
{
    if (!(c->i < c->n && off >= c->at && off - c->at < c->v[c->i].iov_len)) {
        uint8_t one;
        if (leg_cur_get_slow(c, off, 1, &one) == &one) {
            return NULL; /* (a piece of one byte is never a copy) */
        }
    }
    const struct evbuffer_iovec *v = &c->v[c->i];
    size_t skip = off - c->at;
    *avail = v->iov_len - skip;
    return (const uint8_t *)v->iov_base + skip;
}

/* The n bytes at offset off when they lie in one piece of the input, else NULL. */
static inline const uint8_t *
leg_cur_span(struct leg_cur *c, size_t off, size_t n)
{
    size_t avail = 0;
    const uint8_t *p = leg_cur_at(c, off, &avail);
    return p && avail >= n ? p : NULL;
}

/*
 * The whole rows (of `binary` rows or not) at the start of the n bytes at p (one piece of the
 * input), added to *rows and, with `hash`, hashed into *rowsum (`binary` and `hash` are
 * constants at each call, so each call is a loop of its own). Returns where they end; *stop
 * is set when the run of rows ends there (a packet that is not a row), else the next row is
 * not all in these bytes; *last is the last row's header (unchanged when there is none).
 */
static inline __attribute__((always_inline)) const uint8_t *
leg_rows_here(const uint8_t *p, size_t n, bool binary, bool hash, uint64_t *rowsum, uint64_t *rows,
              const uint8_t **last, bool *stop)
{
    const uint8_t *h = p, *prev = NULL;
    size_t rem = n;
    uint64_t k = 0;
    while (rem > PROTO_HDR_LEN) {
        uint32_t len = proto_le32(h) & 0xffffffu; /* (the top byte is the sequence id) */
        size_t step = PROTO_HDR_LEN + (size_t)len;
        if (rem < step) {
            break; /* the row goes on in the next piece (or is not all here) */
        }
        /* (len - 1 wraps for 0: an empty packet and a 16 MiB one end the run alike) */
        if (len - 1u >= PROTO_MAX_PAYLOAD - 1u ||
            !proto_row_for_certain(binary, h[PROTO_HDR_LEN], len)) {
            *stop = true;
            break;
        }
        if (hash) {
            *rowsum = proto_cap_fnv(*rowsum, h + PROTO_HDR_LEN, len);
        }
        prev = h;
        k++;
        h += step;
        rem -= step;
    }
    if (prev) {
        *last = prev;
    }
    *rows += k;
    return h;
}

/*
 * The rows of a result set, from offset off of the input (ops->rows said which: `kind`):
 * each whole row packet is counted from its header and first byte and passed over, with the
 * framer left as the packet-by-packet path leaves it. Stops before anything else (an end or
 * error packet, a 16 MiB row, a row not all here). Returns the bytes passed over.
 * The rows that lie whole in one piece of the input (all of them when it is read in place)
 * are read there by a loop of a few instructions per row (leg_rows_here); a row across
 * pieces takes the cursor's general path.
 */
static inline __attribute__((always_inline)) size_t
leg_walk_rows(struct leg *src, const struct leg_ops *ops, enum leg_rows kind, struct leg_cur *c,
              size_t off, size_t total)
{
    size_t start = off;
    uint8_t seq = 0;
    uint64_t rows = 0;
    bool binary = kind == LEG_ROWS_BINARY;
    uint64_t *rowsum = src->rowsum;
    while (total - off > PROTO_HDR_LEN) {
        size_t avail = 0;
        const uint8_t *p = leg_cur_at(c, off, &avail);
        if (p) {
            const uint8_t *last = NULL, *h;
            bool stop = false;
            size_t n = avail < total - off ? avail : total - off;
            if (rowsum) {
                h = leg_rows_here(p, n, binary, true, rowsum, &rows, &last, &stop);
            } else if (binary) {
                h = leg_rows_here(p, n, true, false, NULL, &rows, &last, &stop);
            } else {
                h = leg_rows_here(p, n, false, false, NULL, &rows, &last, &stop);
            }
            if (last) {
                seq = last[3];
            }
            off += (size_t)(h - p);
            if (stop || total - off <= PROTO_HDR_LEN) {
                break;
            }
        }
        /* one row across pieces, through the cursor */
        uint8_t tmp[PROTO_HDR_LEN + 1];
        const uint8_t *h = leg_cur_get(c, off, PROTO_HDR_LEN + 1, tmp);
        uint32_t len = proto_le24(h);
        if (len >= PROTO_MAX_PAYLOAD || total - off - PROTO_HDR_LEN < len ||
            !proto_row_for_certain(binary, h[PROTO_HDR_LEN], len)) {
            break;
        }
        seq = h[3];
        rows++;
        if (rowsum) {
            *rowsum = leg_cur_hash(c, off + PROTO_HDR_LEN, len, *rowsum);
        }
        off += PROTO_HDR_LEN + len;
    }
    if (off > start) {
        src->fr.continues = false;
        src->fr.next_continues = false;
        src->fr.seq = seq;
        ops->rows_done(src->owner, rows, off - start, seq);
    }
    return off - start;
}

/* leg_relay's walk (leg.h), with `ops` for src->ops. */
static inline __attribute__((always_inline)) long
leg_walk(struct leg *src, const struct leg_ops *ops, struct leg_err *err)
{
    *err = (struct leg_err){.kind = LEG_FAIL_NONE, .clen = 0, .ulen = 0};
    struct leg *dst = src->peer;
    struct proto_framer *fr = &src->fr;
    long relayed = 0;
    /* Compressed legs: the walk reads the decoded bytes (leg_z_inflow); `zpass`: the frames
     * themselves went on already. `zlater`: compression starts inside this input, which is
     * then walked again as frames. */
    for (;;) {
        struct evbuffer *in = leg_input(src);
        bool zsrc = src->zon && src->zalg != PROTO_ZALG_NONE;
        bool zdst = dst->zon && dst->zalg != PROTO_ZALG_NONE;
        bool zpass = zsrc && zdst && src->zalg == dst->zalg;
        bool zlater = false;
        /* bytes just read, walked in place (leg.h: flat); compressed sides read the input */
        uint8_t *flat = NULL;
        if (src->flat && (zsrc || zdst || evbuffer_get_length(in) > 0)) {
            if (!leg_unflat(src)) {
                err->kind = LEG_FAIL_NOMEM;
                return -1;
            }
        } else if (src->flat) {
            flat = src->flat;
            src->flat = NULL;
        }
        if (zsrc) {
            if (leg_z_inflow(src, zpass, err) < 0) {
                return -1;
            }
            in = src->zplain;
        }
        size_t total = flat ? src->flat_len : evbuffer_get_length(in), off = 0;
        uint8_t hb[PROTO_HDR_LEN + LEG_PEEK_MORE];
        struct leg_cur cur = {.buf = in, .n = 0, .i = 0, .at = 0};
        if (flat) { /* one piece: every leg_cur_get is the fast path */
            cur.v[0].iov_base = flat;
            cur.v[0].iov_len = total;
            cur.n = 1;
        }

        while (off < total) {
            if (fr->body_left > 0) {
                size_t n = total - off < fr->body_left ? total - off : (size_t)fr->body_left;
                if (src->copy) {
                    ops->copy(src->owner, src, in, off, n, leg_cur_span(&cur, off, n));
                }
                fr->body_left -= n;
                off += n;
            } else {
                enum leg_rows kind =
                    src->zon || fr->next_continues ? LEG_ROWS_NONE : ops->rows(src->owner, src);
                if (kind != LEG_ROWS_NONE) {
                    size_t rows = leg_walk_rows(src, ops, kind, &cur, off, total);
                    if (rows) {
                        off += rows;
                        continue;
                    }
                }
                size_t left = total - off;
                if (left < PROTO_HDR_LEN) {
                    break;
                }
                /* h: the header and the first `want` payload bytes, in place or copied */
                size_t first = PROTO_HDR_LEN + LEG_PEEK;
                const uint8_t *h = leg_cur_get(&cur, off, left < first ? left : first, hb);
                uint32_t len = proto_le24(h);
                size_t want = len < LEG_PEEK ? len : LEG_PEEK;
                if (left - PROTO_HDR_LEN < want) {
                    break;
                }
                if (want == LEG_PEEK && len > LEG_PEEK) {
                    size_t more = ops->want(src->owner, src, h[PROTO_HDR_LEN]);
                    if (more > LEG_PEEK) {
                        want = len < more ? len : more;
                        if (left - PROTO_HDR_LEN < want) {
                            break; /* wait for them */
                        }
                        h = leg_cur_get(&cur, off, PROTO_HDR_LEN + want, hb);
                    }
                }
                struct leg_pkt pkt = {.first = h + PROTO_HDR_LEN, .avail = want, .new_cmd = false};
                proto_framer_header(fr, h, &pkt.step); /* (no body left: a header) */
                pkt.seq = pkt.step.hdr.seq;
                if (ops->packet(src->owner, src, &pkt) == LEG_GONE) {
                    return -1;
                }
                if (pkt.seq != h[3]) {
                    if (flat) {
                        flat[off + 3] = pkt.seq;
                    } else {
                        leg_poke(in, off + 3, pkt.seq);
                    }
                }
                off += PROTO_HDR_LEN;
                if (pkt.new_cmd && zdst && !zpass) {
                    /* The peer's compressed sequence restarts at 0, after what came before
                     * this command has gone out. */
                    size_t pre = off - PROTO_HDR_LEN;
                    if (pre) {
                        relayed += (long)pre;
                        if (dst->bev && leg_z_outflow(dst, in, pre) < 0) {
                            err->kind = LEG_FAIL_NOMEM;
                            return -1;
                        }
                        if (!dst->bev) {
                            evbuffer_drain(in, pre);
                        }
                        off -= pre;
                        total -= pre;
                        leg_cur_reset(&cur, in); /* drained */
                    }
                    dst->zseq = 0;
                }
            }
            if (fr->body_left == 0 && !fr->next_continues) {
                ops->end(src->owner, src);
                if (!zsrc && !zdst && src->zon) {
                    zlater = true; /* the OK that ends authentication: frames follow */
                    break;
                }
            }
        }
        if (flat) {
            /* what was walked goes on; what was not (a packet's start) waits in the input */
            relayed += (long)off;
            if (off && dst->bev) {
                if (!leg_send_flat(flat, off, dst) && leg_pending_out(dst) > LEG_HIGH_WATER) {
                    leg_reading(src, false);
                    src->paused = true;
                }
            }
            if (off < total && src->bev) {
                src->flat = flat + off;
                src->flat_len = total - off;
                if (!leg_unflat(src)) {
                    err->kind = LEG_FAIL_NOMEM;
                    return -1;
                }
            }
            src->flat_len = 0;
            if (!zlater || !src->bev || evbuffer_get_length(leg_input(src)) == 0) {
                return relayed;
            }
            continue;
        }
        if (off || zpass) {
            relayed += (long)off;
            if (leg_pass_on(src, in, off, zpass, zdst) < 0) {
                err->kind = LEG_FAIL_NOMEM;
                return -1;
            }
        }
        if (!zlater || !src->bev || evbuffer_get_length(leg_input(src)) == 0) {
            return relayed;
        }
    }
}

#endif
