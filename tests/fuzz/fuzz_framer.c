/*
 * fuzz_framer.c - libFuzzer target for the framer (proto_framer_step): the input is fed as a
 * byte stream in pieces whose sizes come from the input itself, with unconsumed bytes kept
 * as the proxy keeps them. Invariants: the consumed bytes add up to the input length minus an
 * incomplete trailing header (or the missing rest of a packet body), body_left never
 * underflows, AGAIN only for an incomplete header, a 0xFFFFFF packet is always followed by a
 * continuation.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_framer f;
    memset(&f, 0, sizeof f);
    size_t have = 0, pos = 0, piece_i = 0;
    bool expect_cont = false;
    while (have < size) {
        /* piece size from the input: 1..64 */
        size_t piece = (size_t)(data[piece_i++ % size] % 64) + 1;
        have = have + piece > size ? size : have + piece;
        while (pos < have) {
            struct proto_frame_step st;
            uint64_t before = f.body_left;
            enum proto_rc rc = proto_framer_step(&f, data + pos, have - pos, &st);
            if (rc == PROTO_AGAIN) {
                if (before != 0 || have - pos >= PROTO_HDR_LEN) {
                    abort();
                }
                break;
            }
            if (rc != PROTO_OK || st.consumed == 0 || st.consumed > have - pos) {
                abort();
            }
            if (st.kind == PROTO_FRAME_BODY) {
                if (st.consumed > before || f.body_left != before - st.consumed) {
                    abort();
                }
            } else {
                if (before != 0 || st.consumed != PROTO_HDR_LEN || st.hdr.len > PROTO_MAX_PAYLOAD ||
                    f.body_left != st.hdr.len) {
                    abort();
                }
                if ((st.kind == PROTO_FRAME_CONTINUATION) != expect_cont) {
                    abort();
                }
                expect_cont = st.hdr.len == PROTO_MAX_PAYLOAD;
            }
            pos += st.consumed;
        }
    }
    /* everything consumed except an incomplete trailing header */
    if (f.body_left == 0 && size - pos >= PROTO_HDR_LEN) {
        abort();
    }
    if (f.body_left != 0 && pos != size) {
        abort();
    }
    return 0;
}
