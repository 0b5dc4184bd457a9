/*
 * proto_compress.h - the compressed protocol (CLIENT_COMPRESS with zlib, MySQL 8's
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM with zstd): parsing, decoding and building compressed
 * frames.
 *
 * Once negotiated (right after the server's OK that ends authentication), each direction is a
 * sequence of frames: a 7-byte header (3-byte compressed length, 1-byte compressed sequence id,
 * 3-byte uncompressed length) and the payload. An uncompressed length of 0 means the payload is
 * stored as is. Inside, the decoded payloads of consecutive frames are an ordinary stream of
 * MySQL packets: a packet may span several frames and a frame may hold several packets, so the
 * decoded bytes go through proto_framer like an uncompressed stream. Every frame is compressed
 * on its own (a complete zlib or zstd stream): no state carries from one frame to the next.
 *
 * The compressed sequence id restarts at 0 with each command and counts the frames of both
 * directions of that command (the client's frames, then the server's, continuing).
 *
 * Pure: no I/O. The zlib/zstd state lives in a struct proto_zctx that the caller owns; one
 * context may serve any number of streams, one frame at a time.
 */
#ifndef SLOWTAP_PROTO_COMPRESS_H
#define SLOWTAP_PROTO_COMPRESS_H

#include "protocol/proto.h"

#define PROTO_ZHDR_LEN       7u
#define PROTO_ZMAX_LEN       0xFFFFFFu /* largest compressed or uncompressed frame length */
#define PROTO_ZMIN_COMPRESS  50u       /* below this, frames are stored (as the server does) */
#define PROTO_ZSTD_LEVEL_DEF 3         /* zstd level when the client named none */

enum proto_zalg {
    PROTO_ZALG_NONE = 0, /* the leg is not compressed */
    PROTO_ZALG_ZLIB,     /* CLIENT_COMPRESS */
    PROTO_ZALG_ZSTD,     /* CLIENT_ZSTD_COMPRESSION_ALGORITHM */
};

struct proto_zhdr {
    uint32_t clen; /* payload bytes on the wire after the header */
    uint8_t seq;   /* compressed sequence id */
    uint32_t ulen; /* uncompressed length; 0: the payload is stored (clen bytes as they are) */
};

/* The decoded length of a frame: ulen, or clen for a stored frame. */
static inline uint32_t
proto_zhdr_plain_len(const struct proto_zhdr *h)
{
    return h->ulen ? h->ulen : h->clen;
}

/* Parses a frame header from the first `avail` bytes: PROTO_AGAIN when fewer than 7 are there.
 * PROTO_ERROR for a header no peer writes: a compressed payload that is empty, or that claims
 * to decode to more than `max_plain` bytes (the caller's bound on one frame's output). */
enum proto_rc proto_zhdr_parse(const uint8_t *buf, size_t avail, uint32_t max_plain,
                               struct proto_zhdr *h);
void proto_zhdr_write(uint8_t out[PROTO_ZHDR_LEN], uint32_t clen, uint8_t seq, uint32_t ulen);

/* A piece of input that may be split (the chains of an evbuffer). */
struct proto_zbuf {
    const uint8_t *p;
    size_t n;
};

/* Compression state, allocated lazily by the functions below, kept for reuse, freed by
 * proto_zctx_free. Zero-initialise before first use. */
struct proto_zctx {
    void *zin, *zout; /* z_stream for inflate / deflate */
    void *zsd, *zsc;  /* ZSTD_DCtx / ZSTD_CCtx */
};

void proto_zctx_free(struct proto_zctx *c);

/*
 * Decodes the payload of one frame (h->clen bytes, given as `nin` pieces) into
 * out[0 .. proto_zhdr_plain_len(h)). PROTO_OK only when the payload is one complete zlib/zstd
 * stream that decodes to exactly that many bytes with no input left over. PROTO_ERROR
 * otherwise (corrupt data, a wrong length, an algorithm of NONE with ulen != 0, out of memory).
 * Never writes past the declared length nor reads past the pieces.
 */
enum proto_rc proto_zdecode(struct proto_zctx *c, enum proto_zalg alg, const struct proto_zhdr *h,
                            const struct proto_zbuf *in, int nin, uint8_t *out);

/* The largest frame (header included) proto_zencode may write for `n` plain bytes. */
size_t proto_zencode_bound(enum proto_zalg alg, size_t n);

/*
 * Builds one frame, header included, of the `n` plain bytes (n <= PROTO_ZMAX_LEN) given as
 * pieces, into out (cap >= proto_zencode_bound(alg, n)): compressed with `alg` at `level` (zstd
 * only; zlib uses its default level, as the server does) when n >= PROTO_ZMIN_COMPRESS and
 * compression makes it smaller, stored otherwise. Returns the bytes written, 0 when cap is too
 * small or the library fails.
 */
size_t proto_zencode(struct proto_zctx *c, enum proto_zalg alg, int level, uint8_t seq,
                     const struct proto_zbuf *in, int nin, size_t n, uint8_t *out, size_t cap);

/*
 * Decodes the frame at the start of a contiguous stream buf[0..avail): PROTO_AGAIN when the
 * whole frame has not arrived (nothing consumed), PROTO_ERROR when it is invalid or its decoded
 * length exceeds `cap`, PROTO_OK with *consumed = header + payload and *produced decoded bytes
 * in out. *h receives the header whenever one was parsed.
 */
enum proto_rc proto_zframe_decode(struct proto_zctx *c, enum proto_zalg alg, const uint8_t *buf,
                                  size_t avail, uint8_t *out, size_t cap, struct proto_zhdr *h,
                                  size_t *consumed, size_t *produced);

/* The zstd level a handshake response asks for: its last byte when it carries
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8 appends it after the connection attributes),
 * PROTO_ZSTD_LEVEL_DEF when that byte is not a valid level (1..22). */
int proto_zstd_level(const uint8_t *resp, size_t len);

#endif
