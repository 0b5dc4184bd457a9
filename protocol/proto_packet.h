/*
 * proto_packet.h - packet framing (3-byte length + sequence id, payloads split at 0xFFFFFF)
 * and the generic OK, ERR and EOF packets.
 */
#ifndef SLOWTAP_PROTO_PACKET_H
#define SLOWTAP_PROTO_PACKET_H

#include "protocol/proto.h"
#include "protocol/proto_wire.h"

struct proto_hdr {
    uint32_t len; /* payload length of this physical packet, 0..0xFFFFFF */
    uint8_t seq;
};

/* Parses a header from the first `avail` bytes: PROTO_AGAIN when fewer than 4 are there. */
enum proto_rc proto_hdr_parse(const uint8_t *buf, size_t avail, struct proto_hdr *h);
void proto_hdr_write(uint8_t out[PROTO_HDR_LEN], uint32_t len, uint8_t seq);

/*
 * Resumable framing over a byte stream that arrives in pieces. Tracks where the current
 * physical packet ends and whether the next one continues the same logical packet (the
 * previous one was exactly 0xFFFFFF bytes long; a logical payload that is a multiple of
 * 0xFFFFFF ends with an empty packet).
 */
struct proto_framer {
    uint64_t body_left;  /* bytes of the current packet's payload not yet consumed */
    bool continues;      /* the packet being read continues the previous logical packet */
    bool next_continues; /* the packet after this one continues this logical packet */
    uint8_t seq;         /* sequence id of the current packet */
};

enum proto_frame_kind {
    PROTO_FRAME_START,        /* header of a packet that starts a logical packet */
    PROTO_FRAME_CONTINUATION, /* header of a packet that continues a logical packet */
    PROTO_FRAME_BODY,         /* payload bytes */
};

struct proto_frame_step {
    enum proto_frame_kind kind;
    size_t consumed;      /* bytes of the input this step covers */
    struct proto_hdr hdr; /* for START and CONTINUATION */
};

/*
 * Consumes the next piece of the stream from `buf[0..avail)`: a whole header (4 bytes) or as
 * many payload bytes as are available of the current packet. Returns PROTO_AGAIN when a header
 * is incomplete (nothing consumed), PROTO_OK otherwise. Never fails: any 4 bytes are a header.
 */
enum proto_rc proto_framer_step(struct proto_framer *f, const uint8_t *buf, size_t avail,
                                struct proto_frame_step *out);

/* proto_framer_step for a whole header at h when no payload byte of the current packet is
 * left (f->body_left == 0): what proto_framer_step does then, inline (the relay's walk calls
 * it for every packet). */
static inline void
proto_framer_header(struct proto_framer *f, const uint8_t *h, struct proto_frame_step *out)
{
    out->hdr.len = proto_le24(h);
    out->hdr.seq = h[3];
    f->continues = f->next_continues;
    f->next_continues = out->hdr.len == PROTO_MAX_PAYLOAD;
    f->body_left = out->hdr.len;
    f->seq = out->hdr.seq;
    out->kind = f->continues ? PROTO_FRAME_CONTINUATION : PROTO_FRAME_START;
    out->consumed = PROTO_HDR_LEN;
}

struct proto_ok {
    uint64_t affected_rows;
    uint64_t insert_id;
    uint16_t status;
    uint16_t warnings;
};

struct proto_err {
    uint16_t code;
    char sqlstate[6];   /* NUL-terminated, "" when the packet had no SQL state marker */
    const uint8_t *msg; /* points into the parsed payload */
    size_t msg_len;
};

/* OK packet (header 0x00, or 0xFE when it ends a result set under DEPRECATE_EOF). Parses the
 * fixed fields; ignores the info and session-state tail. PROTO_ERROR when too short. */
enum proto_rc proto_ok_parse(const uint8_t *p, size_t len, struct proto_ok *ok);
/* ERR packet: PROTO_ERROR unless p[0] is 0xFF and the code is present. */
enum proto_rc proto_err_parse(const uint8_t *p, size_t len, struct proto_err *err);
/* EOF packet (0xFE, payload shorter than 9): warnings and status. */
enum proto_rc proto_eof_parse(const uint8_t *p, size_t len, uint16_t *warnings, uint16_t *status);

/*
 * Builds a whole ERR packet (header included) into `out` (at most `cap` bytes; the message is
 * cut to fit). Returns the number of bytes written. `sqlstate` is 5 characters.
 */
size_t proto_err_build(uint8_t *out, size_t cap, uint8_t seq, uint16_t code, const char *sqlstate,
                       const char *msg);

#endif
