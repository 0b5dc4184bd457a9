/*
 * proto_compress.c - compressed-protocol frames: header parsing, zlib/zstd decoding into a
 * bounded buffer, and frame building (stored below the threshold or when compression does not
 * shrink the payload). See proto_compress.h.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "protocol/proto_compress.h"
#include "protocol/proto_wire.h"

/* zstd windows larger than this are refused: a frame decodes to at most 16 MiB, and a peer
 * must not make slowtap allocate more than that for one. */
#define ZSTD_WINDOW_LOG_MAX 25

enum proto_rc
proto_zhdr_parse(const uint8_t *buf, size_t avail, uint32_t max_plain, struct proto_zhdr *h)
{
    if (avail < PROTO_ZHDR_LEN) {
        return PROTO_AGAIN;
    }
    h->clen = proto_le24(buf);
    h->seq = buf[3];
    h->ulen = proto_le24(buf + 4);
    if (h->ulen != 0 && h->clen == 0) {
        return PROTO_ERROR;
    }
    if (proto_zhdr_plain_len(h) > max_plain) {
        return PROTO_ERROR;
    }
    return PROTO_OK;
}

void
proto_zhdr_write(uint8_t out[PROTO_ZHDR_LEN], uint32_t clen, uint8_t seq, uint32_t ulen)
{
    proto_put_le24(out, clen);
    out[3] = seq;
    proto_put_le24(out + 4, ulen);
}

void
proto_zctx_free(struct proto_zctx *c)
{
    if (c->zin) {
        inflateEnd(c->zin);
        free(c->zin);
    }
    if (c->zout) {
        deflateEnd(c->zout);
        free(c->zout);
    }
    ZSTD_freeDCtx(c->zsd);
    ZSTD_freeCCtx(c->zsc);
    memset(c, 0, sizeof *c);
}

/* ---- decoding ---- */

static z_stream *
zin_get(struct proto_zctx *c)
{
    z_stream *z = c->zin;
    if (z) {
        return inflateReset(z) == Z_OK ? z : NULL;
    }
    z = calloc(1, sizeof *z);
    if (!z || inflateInit(z) != Z_OK) {
        free(z);
        return NULL;
    }
    c->zin = z;
    return z;
}

static enum proto_rc
zlib_decode(struct proto_zctx *c, const struct proto_zbuf *in, int nin, uint8_t *out, size_t olen)
{
    z_stream *z = zin_get(c);
    if (!z) {
        return PROTO_ERROR;
    }
    z->next_out = out;
    z->avail_out = (uInt)olen;
    int rc = Z_OK;
    for (int i = 0; i < nin; i++) {
        z->next_in = (Bytef *)(uintptr_t)in[i].p;
        z->avail_in = (uInt)in[i].n;
        while (z->avail_in > 0) {
            if (rc == Z_STREAM_END) {
                return PROTO_ERROR; /* bytes after the end of the stream */
            }
            rc = inflate(z, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END) {
                return PROTO_ERROR; /* corrupt, or more output than declared (Z_BUF_ERROR) */
            }
        }
    }
    if (rc != Z_STREAM_END) {
        /* all input taken: the end may still be pending (output exactly full) */
        z->next_in = NULL;
        z->avail_in = 0;
        rc = inflate(z, Z_FINISH);
    }
    return rc == Z_STREAM_END && z->avail_out == 0 ? PROTO_OK : PROTO_ERROR;
}

static enum proto_rc
zstd_decode(struct proto_zctx *c, const struct proto_zbuf *in, int nin, uint8_t *out, size_t olen)
{
    ZSTD_DCtx *d = c->zsd;
    if (!d) {
        d = ZSTD_createDCtx();
        if (!d ||
            ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
            ZSTD_freeDCtx(d);
            return PROTO_ERROR;
        }
        c->zsd = d;
    } else if (ZSTD_isError(ZSTD_DCtx_reset(d, ZSTD_reset_session_only))) {
        return PROTO_ERROR;
    }
    ZSTD_outBuffer ob = {out, olen, 0};
    size_t r = 1; /* 0 once a frame is complete */
    for (int i = 0; i < nin; i++) {
        ZSTD_inBuffer ib = {in[i].p, in[i].n, 0};
        while (ib.pos < ib.size) {
            if (r == 0) {
                return PROTO_ERROR; /* a second frame, or trailing bytes */
            }
            size_t ipos = ib.pos, opos = ob.pos;
            r = ZSTD_decompressStream(d, &ob, &ib);
            if (ZSTD_isError(r) || (ib.pos == ipos && ob.pos == opos)) {
                return PROTO_ERROR; /* corrupt, or no room for more output */
            }
        }
    }
    while (r != 0) {
        /* input exhausted: output may still be held inside; no progress means truncated */
        ZSTD_inBuffer ib = {NULL, 0, 0};
        size_t opos = ob.pos;
        r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r) || (r != 0 && ob.pos == opos)) {
            return PROTO_ERROR;
        }
    }
    return ob.pos == olen ? PROTO_OK : PROTO_ERROR;
}

enum proto_rc
proto_zdecode(struct proto_zctx *c, enum proto_zalg alg, const struct proto_zhdr *h,
              const struct proto_zbuf *in, int nin, uint8_t *out)
{
    size_t have = 0;
    for (int i = 0; i < nin; i++) {
        have += in[i].n;
    }
    if (have != h->clen) {
        return PROTO_ERROR;
    }
    if (h->ulen == 0) {
        size_t o = 0;
        for (int i = 0; i < nin; i++) {
            if (in[i].n) {
                memcpy(out + o, in[i].p, in[i].n);
                o += in[i].n;
            }
        }
        return PROTO_OK;
    }
    switch (alg) {
    case PROTO_ZALG_ZLIB:
        return zlib_decode(c, in, nin, out, h->ulen);
    case PROTO_ZALG_ZSTD:
        return zstd_decode(c, in, nin, out, h->ulen);
    default:
        return PROTO_ERROR;
    }
}

/* ---- building ---- */

size_t
proto_zencode_bound(enum proto_zalg alg, size_t n)
{
    (void)alg;
    return PROTO_ZHDR_LEN + n; /* a compressed payload is kept only when shorter than n */
}

static z_stream *
zout_get(struct proto_zctx *c)
{
    z_stream *z = c->zout;
    if (z) {
        return deflateReset(z) == Z_OK ? z : NULL;
    }
    z = calloc(1, sizeof *z);
    if (!z || deflateInit(z, Z_DEFAULT_COMPRESSION) != Z_OK) {
        free(z);
        return NULL;
    }
    c->zout = z;
    return z;
}

/* Compresses into out[0..cap); returns the length, or 0 when it does not fit (or fails). */
static size_t
zlib_encode(struct proto_zctx *c, const struct proto_zbuf *in, int nin, size_t n, uint8_t *out,
            size_t cap)
{
    z_stream *z = zout_get(c);
    if (!z) {
        return 0;
    }
    z->next_out = out;
    z->avail_out = (uInt)cap;
    size_t left = n;
    int rc = Z_OK;
    for (int i = 0; i <= nin; i++) {
        size_t pn = i < nin ? (in[i].n < left ? in[i].n : left) : 0;
        left -= pn;
        bool last = i == nin || left == 0;
        z->next_in = pn ? (Bytef *)(uintptr_t)in[i].p : NULL;
        z->avail_in = (uInt)pn;
        int flush = last ? Z_FINISH : Z_NO_FLUSH;
        for (;;) {
            rc = deflate(z, flush);
            if (rc == Z_STREAM_END) {
                return cap - z->avail_out;
            }
            if (rc != Z_OK || z->avail_out == 0) {
                return 0; /* Z_BUF_ERROR: no room; anything else: failure */
            }
            if (!last && z->avail_in == 0) {
                break;
            }
        }
        if (last) {
            break;
        }
    }
    return 0;
}

static size_t
zstd_encode(struct proto_zctx *c, int level, const struct proto_zbuf *in, int nin, size_t n,
            uint8_t *out, size_t cap)
{
    ZSTD_CCtx *cc = c->zsc;
    if (!cc) {
        cc = ZSTD_createCCtx();
        if (!cc) {
            return 0;
        }
        c->zsc = cc;
    }
    if (ZSTD_isError(ZSTD_CCtx_reset(cc, ZSTD_reset_session_only)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, n))) {
        return 0;
    }
    ZSTD_outBuffer ob = {out, cap, 0};
    size_t left = n;
    for (int i = 0; i <= nin; i++) {
        size_t pn = i < nin ? (in[i].n < left ? in[i].n : left) : 0;
        left -= pn;
        bool last = i == nin || left == 0;
        ZSTD_inBuffer ib = {pn ? in[i].p : NULL, pn, 0};
        for (;;) {
            size_t ipos = ib.pos, opos = ob.pos;
            size_t r = ZSTD_compressStream2(cc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(r)) {
                return 0;
            }
            if (last && r == 0) {
                return ob.pos;
            }
            if (!last && ib.pos == ib.size) {
                break;
            }
            if (ib.pos == ipos && ob.pos == opos) {
                return 0; /* output full: it does not shrink */
            }
        }
        if (last) {
            break;
        }
    }
    return 0;
}

size_t
proto_zencode(struct proto_zctx *c, enum proto_zalg alg, int level, uint8_t seq,
              const struct proto_zbuf *in, int nin, size_t n, uint8_t *out, size_t cap)
{
    size_t have = 0;
    for (int i = 0; i < nin; i++) {
        have += in[i].n;
    }
    if (n > PROTO_ZMAX_LEN || have < n || cap < proto_zencode_bound(alg, n)) {
        return 0;
    }
    size_t clen = 0;
    if (n >= PROTO_ZMIN_COMPRESS) {
        /* room for less than n bytes only: a payload that does not shrink is stored */
        if (alg == PROTO_ZALG_ZLIB) {
            clen = zlib_encode(c, in, nin, n, out + PROTO_ZHDR_LEN, n - 1);
        } else if (alg == PROTO_ZALG_ZSTD) {
            clen = zstd_encode(c, level, in, nin, n, out + PROTO_ZHDR_LEN, n - 1);
        }
    }
    if (clen) {
        proto_zhdr_write(out, (uint32_t)clen, seq, (uint32_t)n);
        return PROTO_ZHDR_LEN + clen;
    }
    size_t o = PROTO_ZHDR_LEN, left = n;
    for (int i = 0; i < nin && left; i++) {
        size_t pn = in[i].n < left ? in[i].n : left;
        if (pn) {
            memcpy(out + o, in[i].p, pn);
        }
        o += pn;
        left -= pn;
    }
    proto_zhdr_write(out, (uint32_t)n, seq, 0);
    return o;
}

enum proto_rc
proto_zframe_decode(struct proto_zctx *c, enum proto_zalg alg, const uint8_t *buf, size_t avail,
                    uint8_t *out, size_t cap, struct proto_zhdr *h, size_t *consumed,
                    size_t *produced)
{
    uint32_t max = cap < PROTO_ZMAX_LEN ? (uint32_t)cap : PROTO_ZMAX_LEN;
    enum proto_rc rc = proto_zhdr_parse(buf, avail, max, h);
    if (rc != PROTO_OK) {
        return rc;
    }
    if (avail - PROTO_ZHDR_LEN < h->clen) {
        return PROTO_AGAIN;
    }
    struct proto_zbuf piece = {buf + PROTO_ZHDR_LEN, h->clen};
    if (proto_zdecode(c, alg, h, &piece, 1, out) != PROTO_OK) {
        return PROTO_ERROR;
    }
    *consumed = PROTO_ZHDR_LEN + h->clen;
    *produced = proto_zhdr_plain_len(h);
    return PROTO_OK;
}

int
proto_zstd_level(const uint8_t *resp, size_t len)
{
    if (len == 0 || resp[len - 1] < 1 || resp[len - 1] > 22) {
        return PROTO_ZSTD_LEVEL_DEF;
    }
    return resp[len - 1];
}
