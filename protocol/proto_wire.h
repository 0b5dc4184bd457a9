/*
 * proto_wire.h - bounds-checked readers and writers for the protocol's integer and string
 * encodings (fixed little-endian integers, length-encoded integers and strings, NUL-terminated
 * strings).
 *
 * Contract: a reader never reads past its buffer. The first failed read sets `err` and every
 * later read returns 0/NULL, so a parser may read a whole structure and check `err` once.
 */
#ifndef SLOWTAP_PROTO_WIRE_H
#define SLOWTAP_PROTO_WIRE_H

#include "protocol/proto.h"

struct proto_rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool err;
};

static inline void
proto_rd_init(struct proto_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = false;
}

static inline size_t
proto_rd_left(const struct proto_rd *r)
{
    return r->err ? 0 : r->len - r->pos;
}

uint8_t proto_rd_u8(struct proto_rd *r);
uint16_t proto_rd_u16(struct proto_rd *r);
uint32_t proto_rd_u24(struct proto_rd *r);
uint32_t proto_rd_u32(struct proto_rd *r);
uint64_t proto_rd_u64(struct proto_rd *r);
/* Length-encoded integer. 0xFB (NULL) and 0xFF are errors here; use proto_rd_lenenc_null. */
uint64_t proto_rd_lenenc(struct proto_rd *r);
/* Length-encoded integer that may be NULL (0xFB): *is_null set, returns 0. */
uint64_t proto_rd_lenenc_null(struct proto_rd *r, bool *is_null);
/* `n` bytes: returns a pointer into the buffer, or NULL (and err) when fewer remain. */
const uint8_t *proto_rd_bytes(struct proto_rd *r, size_t n);
/* Length-encoded string: pointer into the buffer and its length in *n. */
const uint8_t *proto_rd_lenenc_str(struct proto_rd *r, size_t *n);
/* NUL-terminated string: pointer into the buffer, length (without NUL) in *n; the NUL is
 * consumed. A missing NUL is an error. */
const uint8_t *proto_rd_nul_str(struct proto_rd *r, size_t *n);
void proto_rd_skip(struct proto_rd *r, size_t n);

/* Little-endian helpers on raw pointers (caller guarantees the bytes exist). */
static inline uint16_t
proto_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
proto_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

static inline uint32_t
proto_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void
proto_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
proto_put_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static inline void
proto_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Size of the length-encoded integer starting with byte `first` (1, 3, 4 or 9), 0 if invalid. */
size_t proto_lenenc_size(uint8_t first);
/* Writes v as a length-encoded integer into p[9]; returns its length (1, 3, 4 or 9). */
size_t proto_put_lenenc(uint8_t *p, uint64_t v);

#endif
