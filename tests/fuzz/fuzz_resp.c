/*
 * fuzz_resp.c - libFuzzer target for the response state machine. Byte 0 picks the command,
 * byte 1 the capabilities (bit 0 DEPRECATE_EOF, bit 1 MariaDB CACHE_METADATA, bit 2 progress,
 * bit 3 CLIENT_MYSQL). The rest is a stream of packets, framed with proto_framer_step as the
 * proxy frames them; a packet preceded by a 0xC0 byte is the client's (fed with
 * proto_resp_client_packet when the machine wants it). After PROTO_OK or PROTO_ERROR the next
 * packet starts a new response to the same command. Each payload is copied to an exact-size
 * buffer so ASan sees any read past what was offered.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_packet.h"
#include "protocol/proto_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_strings(const struct proto_resp *r)
{
    if (memchr(r->err_msg, 0, sizeof r->err_msg) == NULL ||
        memchr(r->err_sqlstate, 0, sizeof r->err_sqlstate) == NULL ||
        memchr(r->infile_name, 0, sizeof r->infile_name) == NULL) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint8_t cmd = data[0];
    uint64_t caps = PROTO_CAP_PROTOCOL_41 | PROTO_CAP_SECURE_CONNECTION | PROTO_CAP_MULTI_RESULTS |
                    PROTO_CAP_MULTI_STATEMENTS | PROTO_CAP_PS_MULTI_RESULTS | PROTO_CAP_LOCAL_FILES;
    if (data[1] & 1) {
        caps |= PROTO_CAP_DEPRECATE_EOF;
    }
    if (data[1] & 2) {
        caps |= PROTO_CAP_MARIADB_CACHE_METADATA;
    }
    if (data[1] & 4) {
        caps |= PROTO_CAP_MARIADB_PROGRESS;
    }
    if (data[1] & 8) {
        caps |= PROTO_CAP_MYSQL;
    }
    const uint8_t *s = data + 2;
    size_t n = size - 2, pos = 0;
    struct proto_resp r;
    struct proto_framer f;
    memset(&f, 0, sizeof f);
    bool cursor = (data[1] & 16) != 0;
    proto_resp_begin(&r, cmd, caps);
    if (cursor) {
        proto_resp_cursor_requested(&r);
    }
    bool active = proto_com_has_response(cmd);
    int rounds = 0;
    while (pos < n && rounds++ < 100000) {
        bool client = false;
        if (s[pos] == 0xc0) {
            client = true;
            pos++;
        }
        struct proto_frame_step st;
        if (proto_framer_step(&f, s + pos, n - pos, &st) != PROTO_OK) {
            break;
        }
        pos += st.consumed;
        enum proto_frame_kind kind = st.kind;
        /* the body of this physical packet: what is there of it */
        size_t len = st.hdr.len;
        size_t there = n - pos < len ? n - pos : len;
        size_t avail = there < PROTO_RESP_PEEK ? there : PROTO_RESP_PEEK;
        if (avail < len && avail < PROTO_RESP_PEEK) {
            break; /* the proxy would wait for more bytes */
        }
        uint8_t *p = malloc(avail ? avail : 1);
        memcpy(p, s + pos, avail);
        /* skip the body through the framer */
        while (f.body_left > 0 && pos < n) {
            if (proto_framer_step(&f, s + pos, n - pos, &st) != PROTO_OK) {
                break;
            }
            pos += st.consumed;
        }
        if (kind == PROTO_FRAME_CONTINUATION) {
            free(p);
            continue; /* continuations are not fed */
        }
        if (!active) {
            proto_resp_begin(&r, cmd, caps);
            if (cursor) {
                proto_resp_cursor_requested(&r);
            }
            active = true;
        }
        if (client) {
            if (proto_resp_wants_client(&r)) {
                proto_resp_client_packet(&r, len);
            }
            free(p);
            continue;
        }
        enum proto_rc rc = proto_resp_feed(&r, p, avail, len);
        free(p);
        check_strings(&r);
        if (rc != PROTO_AGAIN && rc != PROTO_OK && rc != PROTO_ERROR) {
            abort();
        }
        if (rc != PROTO_AGAIN) {
            active = false; /* next packet: a new command's response */
        }
    }
    return 0;
}
