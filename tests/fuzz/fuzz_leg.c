/*
 * fuzz_leg.c - libFuzzer target for the relay's packet walk (proxy/relay/leg.c, leg_relay)
 * over arbitrary piece boundaries. The same bytes are relayed three ways:
 *   - as one contiguous piece, walked once (the reference);
 *   - as many pieces (evbuffer chains of 1 byte, or of sizes taken from the input, so that
 *     headers and first bytes are split across chains), all there before one walk;
 *   - as those pieces arriving one at a time, with a walk after each, as reads deliver them.
 * A session-like owner follows a server's responses with proto_resp (the row fast path
 * included, as session.c does), asks for more first bytes of ERR packets (ops->want), copies
 * body bytes when asked, and in one mode rewrites every packet's sequence id (poke) with the
 * row fast path off, as during authentication. With mode bit 4, a piece that arrives at an
 * empty input is handed over in place (leg.h: flat), as the leg's own reads do.
 * Invariants: the three runs see the same packets (a hash of every non-row packet's header
 * and first bytes, and of every response's end with its count of rows), count the same rows,
 * copy the same body bytes, relay the same bytes to the peer (the input with its rewritten ids), and
 * leave the same bytes unrelayed. The first input byte picks the mode, the second the split.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "protocol/proto_resp.h"
#include "proxy/relay/leg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX (64u << 10)

struct owner {
    struct proto_resp resp;
    bool tracking; /* false after a packet proto_resp refuses: relayed blindly */
    bool resp_done;
    bool rewrite; /* rewrite sequence ids (no row fast path) */
    uint64_t trace, copied, responses;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h = (*h ^ b[i]) * 1099511628211ull;
    }
}

static void
mix_u64(uint64_t *h, uint64_t v)
{
    mix(h, &v, sizeof v);
}

/* A row seen packet by packet (o_packet): counted at once, as session.c's server_packet.
 * Rows are not mixed into the trace one by one (the walk's runs pass them over unseen): each
 * response's count is, at its end (o_end). */
static bool
o_row(void *ow, uint8_t first, uint32_t len)
{
    struct owner *o = ow;
    return o->tracking && proto_resp_row(&o->resp, first, len);
}

static size_t
o_want(void *ow, const struct leg *src, uint8_t first)
{
    (void)ow;
    (void)src;
    return first == PROTO_ERR_HDR ? LEG_PEEK_MORE : LEG_PEEK;
}

static enum leg_verdict
o_packet(void *ow, struct leg *src, struct leg_pkt *pkt)
{
    struct owner *o = ow;
    (void)src;
    const uint8_t *p = pkt->first;
    uint32_t len = pkt->step.hdr.len;
    if (o->rewrite) {
        pkt->seq = (uint8_t)(pkt->step.hdr.seq + 7);
    }
    if (pkt->step.kind == PROTO_FRAME_CONTINUATION) {
        mix_u64(&o->trace, 0x20000000ull | len);
        return LEG_PASS;
    }
    if (pkt->avail && o_row(o, p[0], len)) {
        return LEG_PASS; /* as session.c's server_packet: rows counted first */
    }
    mix_u64(&o->trace, 0x30000000ull | pkt->step.hdr.seq);
    mix_u64(&o->trace, len);
    mix(&o->trace, p, pkt->avail);
    if (o->tracking) {
        enum proto_rc rc = proto_resp_feed(&o->resp, p, pkt->avail, len);
        if (rc == PROTO_ERROR) {
            o->tracking = false;
        } else if (rc == PROTO_OK) {
            o->resp_done = true;
        }
    }
    return LEG_PASS;
}

static void
o_end(void *ow, struct leg *src)
{
    struct owner *o = ow;
    (void)src;
    if (o->resp_done) {
        o->resp_done = false;
        o->responses++;
        mix_u64(&o->trace, o->resp.rows_sent); /* the rows counted, by either path */
        proto_resp_begin(&o->resp, PROTO_COM_QUERY, PROTO_CAP_PROTOCOL_41);
    }
}

static void
o_copy(void *ow, struct leg *src, struct evbuffer *in, size_t off, size_t n, const uint8_t *flat)
{
    struct owner *o = ow;
    uint8_t tmp[256];
    if (flat && evbuffer_get_length(in) < off + n) {
        mix(&o->copied, flat, n); /* read in place (leg.h: flat): not in the input */
        return;
    }
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    while (n > 0) {
        size_t k = n < sizeof tmp ? n : sizeof tmp;
        evbuffer_copyout_from(in, &pos, tmp, k);
        evbuffer_ptr_set(in, &pos, k, EVBUFFER_PTR_ADD);
        if (flat) { /* the walk's pointer holds the same bytes */
            if (memcmp(flat, tmp, k) != 0) {
                abort();
            }
            flat += k;
        }
        mix(&o->copied, tmp, k);
        n -= k;
    }
}

static enum leg_rows
o_rows(void *ow, const struct leg *src)
{
    const struct owner *o = ow;
    /* as in session.c: the row fast path is the backend leg's, copies the client leg's */
    if (o->rewrite || src->copy || !o->tracking || o->resp.state != PROTO_RS_ROWS) {
        return LEG_ROWS_NONE;
    }
    return o->resp.binary ? LEG_ROWS_BINARY : LEG_ROWS_TEXT;
}

static void
o_rows_done(void *ow, uint64_t rows, size_t bytes, uint8_t last_seq)
{
    struct owner *o = ow;
    (void)last_seq;
    if (rows == 0 || bytes < rows * (PROTO_HDR_LEN + 1)) {
        abort(); /* a run has rows, each a header and at least one byte */
    }
    o->resp.rows_sent += rows;
}

static void
o_never(void *ow, struct leg *l)
{
    (void)ow;
    (void)l;
    abort(); /* no event loop runs here */
}

static void
o_never_event(void *ow, struct leg *l, short what)
{
    (void)ow;
    (void)l;
    (void)what;
    abort();
}

static const struct leg_ops ops = {
    .want = o_want,
    .packet = o_packet,
    .end = o_end,
    .copy = o_copy,
    .rows = o_rows,
    .rows_done = o_rows_done,
    .readable = o_never,
    .written = o_never,
    .event = o_never_event,
};

struct result {
    struct owner o;
    uint64_t out_hash, left_hash;
    size_t out_len, left_len;
};

static void
hash_buf(struct evbuffer *b, uint64_t *h, size_t *len)
{
    *h = 14695981039346656037ull;
    *len = evbuffer_get_length(b);
    struct evbuffer_iovec v[64];
    struct evbuffer_ptr pos;
    size_t done = 0;
    while (done < *len) {
        evbuffer_ptr_set(b, &pos, done, EVBUFFER_PTR_SET);
        int n = evbuffer_peek(b, -1, &pos, v, 64);
        if (n > 64) {
            n = 64;
        }
        for (int i = 0; i < n; i++) {
            mix(h, v[i].iov_base, v[i].iov_len);
            done += v[i].iov_len;
        }
    }
}

/* Relays `body` (n bytes) split at the boundaries `cuts` (ncuts ascending offsets); walks once
 * at the end, or after every piece when `each`. */
static void
run(struct event_base *base, const uint8_t *body, size_t n, const size_t *cuts, size_t ncuts,
    bool each, uint8_t mode, struct result *r)
{
    uint8_t *copy = malloc(n ? n : 1); /* poke writes into the pieces: the input is const */
    if (!copy) {
        abort();
    }
    memcpy(copy, body, n);
    struct leg src, dst;
    *r = (struct result){.o = {.tracking = true,
                               .rewrite = (mode & 1) != 0,
                               .trace = 14695981039346656037ull,
                               .copied = 14695981039346656037ull}};
    proto_resp_begin(&r->o.resp, PROTO_COM_QUERY, PROTO_CAP_PROTOCOL_41);
    leg_init(&src, &dst, &ops, &r->o, NULL);
    leg_init(&dst, &src, &ops, &r->o, NULL);
    leg_attach_bev(&src, bufferevent_socket_new(base, -1, 0));
    leg_attach_bev(&dst, bufferevent_socket_new(base, -1, 0));
    src.copy = (mode & 2) != 0;
    struct evbuffer *in = leg_input(&src);
    evbuffer_unfreeze(in, 0);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        bool walk = each || i == ncuts;
        if (end > at && walk && (mode & 4) && evbuffer_get_length(in) == 0) {
            /* as the leg's own read with an empty input: the bytes in place (leg.h: flat) */
            src.flat = copy + at;
            src.flat_len = end - at;
            at = end;
        } else if (end > at) {
            /* a reference makes a chain of its own: the piece boundaries are kept; the end is
             * unfrozen as around a read (leg_unflat freezes it again, as a socket's input) */
            evbuffer_unfreeze(in, 0);
            evbuffer_add_reference(in, copy + at, end - at, NULL, NULL);
            at = end;
        }
        if (walk) {
            struct leg_err err;
            if (leg_relay(&src, &err) < 0) {
                abort(); /* nothing here tears a session down */
            }
            if (src.flat) {
                abort(); /* the walk took the bytes read in place */
            }
        }
    }
    hash_buf(bufferevent_get_output(dst.bev), &r->out_hash, &r->out_len);
    hash_buf(in, &r->left_hash, &r->left_len);
    leg_close(&src, false);
    leg_close(&dst, false);
    leg_free(&src);
    leg_free(&dst);
    event_base_loop(base, EVLOOP_NONBLOCK); /* bufferevents are finalized by the loop */
    free(copy);
}

static void
same(const struct result *a, const struct result *b)
{
    if (getenv("FUZZ_LEG_DEBUG")) {
        fprintf(stderr,
                "trace %016llx/%016llx copied %016llx/%016llx responses %llu/%llu out %zu/%zu "
                "left %zu/%zu\n",
                (unsigned long long)a->o.trace, (unsigned long long)b->o.trace,
                (unsigned long long)a->o.copied, (unsigned long long)b->o.copied,
                (unsigned long long)a->o.responses, (unsigned long long)b->o.responses, a->out_len,
                b->out_len, a->left_len, b->left_len);
    }
    if (a->o.trace != b->o.trace || a->o.copied != b->o.copied ||
        a->o.resp.rows_sent != b->o.resp.rows_sent || a->o.responses != b->o.responses ||
        a->out_hash != b->out_hash || a->out_len != b->out_len || a->left_hash != b->left_hash ||
        a->left_len != b->left_len) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_MAX) {
        return 0;
    }
    uint8_t mode = data[0], split = data[1];
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    static struct event_base *base;
    if (!base) {
        struct event_config *cfg = event_config_new();
        event_config_avoid_method(cfg, "epoll"); /* no descriptors are watched here */
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        if (!base) {
            base = event_base_new();
        }
    }
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    if (!cuts) {
        abort();
    }
    size_t ncuts = 0;
    if (split & 1) {
        for (size_t i = 1; i < n; i++) {
            cuts[ncuts++] = i; /* chains of one byte */
        }
    } else {
        /* piece sizes from the input itself, 1..(split/2 + 1) */
        size_t at = 0, k = 0;
        while (n > 0) {
            at += (size_t)(body[k++ % n] % ((split >> 1) + 1u)) + 1;
            if (at >= n) {
                break;
            }
            cuts[ncuts++] = at;
        }
    }
    struct result ref, pieces, arriving;
    run(base, body, n, NULL, 0, false, mode, &ref);
    run(base, body, n, cuts, ncuts, false, mode, &pieces);
    run(base, body, n, cuts, ncuts, true, mode, &arriving);
    same(&ref, &pieces);
    same(&ref, &arriving);
    /* what was relayed and what is left add up to the input */
    if (ref.out_len + ref.left_len != n) {
        abort();
    }
    free(cuts);
    return 0;
}
