/*
 * proto_packet.c - packet framing and the generic OK, ERR and EOF packets.
 */
#include <string.h>

#include "protocol/proto_packet.h"
#include "protocol/proto_wire.h"

enum proto_rc
proto_hdr_parse(const uint8_t *buf, size_t avail, struct proto_hdr *h)
{
    if (avail < PROTO_HDR_LEN) {
        return PROTO_AGAIN;
    }
    h->len = proto_le24(buf);
    h->seq = buf[3];
    return PROTO_OK;
}

void
proto_hdr_write(uint8_t out[PROTO_HDR_LEN], uint32_t len, uint8_t seq)
{
    proto_put_le24(out, len);
    out[3] = seq;
}

enum proto_rc
proto_framer_step(struct proto_framer *f, const uint8_t *buf, size_t avail,
                  struct proto_frame_step *out)
{
    if (f->body_left > 0) {
        if (avail == 0) {
            return PROTO_AGAIN;
        }
        size_t n = avail < f->body_left ? avail : (size_t)f->body_left;
        f->body_left -= n;
        out->kind = PROTO_FRAME_BODY;
        out->consumed = n;
        return PROTO_OK;
    }
    if (avail < PROTO_HDR_LEN) {
        return PROTO_AGAIN;
    }
    proto_framer_header(f, buf, out);
    return PROTO_OK;
}

enum proto_rc
proto_ok_parse(const uint8_t *p, size_t len, struct proto_ok *ok)
{
    struct proto_rd r;
    proto_rd_init(&r, p, len);
    uint8_t hdr = proto_rd_u8(&r);
    if (hdr != PROTO_OK_HDR && hdr != PROTO_EOF_HDR) {
        return PROTO_ERROR;
    }
    ok->affected_rows = proto_rd_lenenc(&r);
    ok->insert_id = proto_rd_lenenc(&r);
    ok->status = proto_rd_u16(&r);
    ok->warnings = proto_rd_u16(&r);
    return r.err ? PROTO_ERROR : PROTO_OK;
}

enum proto_rc
proto_err_parse(const uint8_t *p, size_t len, struct proto_err *err)
{
    struct proto_rd r;
    proto_rd_init(&r, p, len);
    if (proto_rd_u8(&r) != PROTO_ERR_HDR) {
        return PROTO_ERROR;
    }
    err->code = proto_rd_u16(&r);
    if (r.err) {
        return PROTO_ERROR;
    }
    err->sqlstate[0] = '\0';
    if (proto_rd_left(&r) >= 6 && r.p[r.pos] == '#') {
        memcpy(err->sqlstate, r.p + r.pos + 1, 5);
        err->sqlstate[5] = '\0';
        r.pos += 6;
    }
    err->msg = r.p + r.pos;
    err->msg_len = r.len - r.pos;
    return PROTO_OK;
}

enum proto_rc
proto_eof_parse(const uint8_t *p, size_t len, uint16_t *warnings, uint16_t *status)
{
    if (len < 1 || len >= 9 || p[0] != PROTO_EOF_HDR) {
        return PROTO_ERROR;
    }
    *warnings = len >= 3 ? proto_le16(p + 1) : 0;
    *status = len >= 5 ? proto_le16(p + 3) : 0;
    return PROTO_OK;
}

size_t
proto_err_build(uint8_t *out, size_t cap, uint8_t seq, uint16_t code, const char *sqlstate,
                const char *msg)
{
    const size_t fixed = PROTO_HDR_LEN + 1 + 2 + 1 + 5;
    if (cap < fixed) {
        return 0;
    }
    size_t mlen = strlen(msg);
    if (mlen > cap - fixed) {
        mlen = cap - fixed;
    }
    uint8_t *p = out + PROTO_HDR_LEN;
    *p++ = PROTO_ERR_HDR;
    proto_put_le16(p, code);
    p += 2;
    *p++ = '#';
    memcpy(p, sqlstate, 5);
    p += 5;
    memcpy(p, msg, mlen);
    p += mlen;
    size_t total = (size_t)(p - out);
    proto_hdr_write(out, (uint32_t)(total - PROTO_HDR_LEN), seq);
    return total;
}
