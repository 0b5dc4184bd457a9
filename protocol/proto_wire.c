/*
 * proto_wire.c - bounds-checked readers for the protocol's integer and string encodings.
 */
#include <string.h>

#include "protocol/proto_wire.h"

static inline bool
need(struct proto_rd *r, size_t n)
{
    if (r->err || r->len - r->pos < n) {
        r->err = true;
        return false;
    }
    return true;
}

uint8_t
proto_rd_u8(struct proto_rd *r)
{
    if (!need(r, 1)) {
        return 0;
    }
    return r->p[r->pos++];
}

uint16_t
proto_rd_u16(struct proto_rd *r)
{
    if (!need(r, 2)) {
        return 0;
    }
    uint16_t v = proto_le16(r->p + r->pos);
    r->pos += 2;
    return v;
}

uint32_t
proto_rd_u24(struct proto_rd *r)
{
    if (!need(r, 3)) {
        return 0;
    }
    uint32_t v = proto_le24(r->p + r->pos);
    r->pos += 3;
    return v;
}

uint32_t
proto_rd_u32(struct proto_rd *r)
{
    if (!need(r, 4)) {
        return 0;
    }
    uint32_t v = proto_le32(r->p + r->pos);
    r->pos += 4;
    return v;
}

uint64_t
proto_rd_u64(struct proto_rd *r)
{
    if (!need(r, 8)) {
        return 0;
    }
    uint64_t lo = proto_le32(r->p + r->pos);
    uint64_t hi = proto_le32(r->p + r->pos + 4);
    r->pos += 8;
    return lo | (hi << 32);
}

size_t
proto_lenenc_size(uint8_t first)
{
    if (first < 0xfb) {
        return 1;
    }
    switch (first) {
    case 0xfc:
        return 3;
    case 0xfd:
        return 4;
    case 0xfe:
        return 9;
    default:
        return 0;
    }
}

uint64_t
proto_rd_lenenc_null(struct proto_rd *r, bool *is_null)
{
    *is_null = false;
    uint8_t first = proto_rd_u8(r);
    if (r->err) {
        return 0;
    }
    if (first < 0xfb) {
        return first;
    }
    switch (first) {
    case 0xfb:
        *is_null = true;
        return 0;
    case 0xfc:
        return proto_rd_u16(r);
    case 0xfd:
        return proto_rd_u24(r);
    case 0xfe:
        return proto_rd_u64(r);
    default:
        r->err = true;
        return 0;
    }
}

uint64_t
proto_rd_lenenc(struct proto_rd *r)
{
    bool is_null;
    uint64_t v = proto_rd_lenenc_null(r, &is_null);
    if (is_null) {
        r->err = true;
        return 0;
    }
    return v;
}

const uint8_t *
proto_rd_bytes(struct proto_rd *r, size_t n)
{
    if (!need(r, n)) {
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

const uint8_t *
proto_rd_lenenc_str(struct proto_rd *r, size_t *n)
{
    uint64_t len = proto_rd_lenenc(r);
    *n = 0;
    if (r->err || len > r->len - r->pos) {
        r->err = true;
        return NULL;
    }
    *n = (size_t)len;
    return proto_rd_bytes(r, (size_t)len);
}

const uint8_t *
proto_rd_nul_str(struct proto_rd *r, size_t *n)
{
    *n = 0;
    if (r->err) {
        return NULL;
    }
    const uint8_t *start = r->p + r->pos;
    const uint8_t *nul = memchr(start, 0, r->len - r->pos);
    if (!nul) {
        r->err = true;
        return NULL;
    }
    *n = (size_t)(nul - start);
    r->pos += *n + 1;
    return start;
}

void
proto_rd_skip(struct proto_rd *r, size_t n)
{
    if (need(r, n)) {
        r->pos += n;
    }
}

size_t
proto_put_lenenc(uint8_t *p, uint64_t v)
{
    size_t n;
    if (v < 251) {
        p[0] = (uint8_t)v;
        return 1;
    } else if (v < 0x10000) {
        p[0] = 0xfc;
        n = 2;
    } else if (v < 0x1000000) {
        p[0] = 0xfd;
        n = 3;
    } else {
        p[0] = 0xfe;
        n = 8;
    }
    for (size_t k = 0; k < n; k++) {
        p[1 + k] = (uint8_t)(v >> (8 * k));
    }
    return 1 + n;
}
