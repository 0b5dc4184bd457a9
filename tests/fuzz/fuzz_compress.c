/*
 * fuzz_compress.c - libFuzzer target for compressed-protocol frames (proto_compress): the
 * first input byte picks zlib or zstd and the output bound, the rest is a stream of frames
 * decoded one after the other, each first offered one byte short. Invariants: a short frame is
 * PROTO_AGAIN, consumed bytes never exceed the input, the decoded length never exceeds the
 * bound or the header's claim, and every decoded payload, built into a frame again, decodes
 * back to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proto_zctx ctx;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    enum proto_zalg alg = data[0] & 1 ? PROTO_ZALG_ZSTD : PROTO_ZALG_ZLIB;
    size_t cap = (size_t)1 << (8 + (data[0] >> 1) % 12); /* 256 B .. 512 KiB */
    data++;
    size--;
    uint8_t *out = malloc(cap);
    uint8_t *frame = malloc(proto_zencode_bound(alg, cap));
    uint8_t *back = malloc(cap);
    if (!out || !frame || !back) {
        abort();
    }
    size_t pos = 0;
    while (pos < size) {
        struct proto_zhdr h;
        size_t consumed = 0, produced = 0;
        enum proto_rc rc = proto_zframe_decode(&ctx, alg, data + pos, size - pos, out, cap, &h,
                                               &consumed, &produced);
        if (rc != PROTO_OK) {
            break;
        }
        if (consumed < PROTO_ZHDR_LEN || consumed > size - pos || produced > cap ||
            produced != proto_zhdr_plain_len(&h) || consumed != PROTO_ZHDR_LEN + h.clen) {
            abort();
        }
        size_t c2 = 0, p2 = 0;
        if (proto_zframe_decode(&ctx, alg, data + pos, consumed - 1, out, cap, &h, &c2, &p2) !=
            PROTO_AGAIN) {
            abort();
        }
        /* round trip of what was decoded */
        struct proto_zbuf in = {out, produced};
        size_t fl = proto_zencode(&ctx, alg, 1, h.seq, &in, 1, produced, frame,
                                  proto_zencode_bound(alg, cap));
        if (fl == 0 ||
            proto_zframe_decode(&ctx, alg, frame, fl, back, cap, &h, &c2, &p2) != PROTO_OK ||
            c2 != fl || p2 != produced || (produced && memcmp(out, back, produced) != 0)) {
            abort();
        }
        pos += consumed;
    }
    free(out);
    free(frame);
    free(back);
    return 0;
}
