/*
 * test_compress.c - unit tests of protocol/proto_compress.c: frame headers, zlib and zstd
 * round trips (stored below the 50-byte threshold and when compression does not shrink),
 * frames built by zlib's compress() and ZSTD_compress() the way servers build them, input in
 * pieces, a stream of MySQL packets cut into frames at arbitrary places and decoded with every
 * frame split at every byte, a 16 MiB+ logical packet, and corrupt, truncated, oversized and
 * lying frames (a clean error, no write past the declared length, no read past the input).
 */
#include <stdlib.h>

#include <zlib.h>
#include <zstd.h>

#include "check.h"
#include "protocol/proto_compress.h"
#include "protocol/proto_packet.h"
#include "protocol/proto_wire.h"

static struct proto_zctx ctx;

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13; /* xorshift32 */
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Text-like bytes (compressible) or random bytes (incompressible). */
static void
fill(uint8_t *p, size_t n, bool random)
{
    static const char words[] = "select id, ";
    for (size_t i = 0; i < n; i++) {
        p[i] = random ? (uint8_t)rng() : (uint8_t)words[i % (sizeof words - 1)];
    }
}

static const enum proto_zalg algs[] = {PROTO_ZALG_ZLIB, PROTO_ZALG_ZSTD};

static void
test_hdr(void)
{
    uint8_t b[PROTO_ZHDR_LEN];
    struct proto_zhdr h;
    proto_zhdr_write(b, 0x123456, 9, 0xabcdef);
    for (size_t avail = 0; avail < PROTO_ZHDR_LEN; avail++) {
        CHECK(proto_zhdr_parse(b, avail, PROTO_ZMAX_LEN, &h) == PROTO_AGAIN);
    }
    CHECK(proto_zhdr_parse(b, sizeof b, PROTO_ZMAX_LEN, &h) == PROTO_OK);
    CHECK_EQ_U(h.clen, 0x123456);
    CHECK_EQ_U(h.seq, 9);
    CHECK_EQ_U(h.ulen, 0xabcdef);
    CHECK_EQ_U(proto_zhdr_plain_len(&h), 0xabcdef);
    /* over the caller's bound */
    CHECK(proto_zhdr_parse(b, sizeof b, 0xabcdee, &h) == PROTO_ERROR);
    /* stored: the plain length is the compressed length */
    proto_zhdr_write(b, 40, 0, 0);
    CHECK(proto_zhdr_parse(b, sizeof b, 40, &h) == PROTO_OK);
    CHECK_EQ_U(proto_zhdr_plain_len(&h), 40);
    CHECK(proto_zhdr_parse(b, sizeof b, 39, &h) == PROTO_ERROR);
    /* a compressed payload cannot be empty */
    proto_zhdr_write(b, 0, 0, 10);
    CHECK(proto_zhdr_parse(b, sizeof b, PROTO_ZMAX_LEN, &h) == PROTO_ERROR);
    /* an empty stored frame is valid */
    proto_zhdr_write(b, 0, 3, 0);
    CHECK(proto_zhdr_parse(b, sizeof b, PROTO_ZMAX_LEN, &h) == PROTO_OK);

    CHECK_EQ_U(proto_zstd_level((const uint8_t *)"\x01\x02\x07", 3), 7);
    CHECK_EQ_U(proto_zstd_level((const uint8_t *)"\x01\x02\x00", 3), PROTO_ZSTD_LEVEL_DEF);
    CHECK_EQ_U(proto_zstd_level((const uint8_t *)"\x01\x02\x17", 3), PROTO_ZSTD_LEVEL_DEF);
    CHECK_EQ_U(proto_zstd_level(NULL, 0), PROTO_ZSTD_LEVEL_DEF);
}

/* Encodes n bytes as one frame (input cut into `pieces` pieces), decodes it back. */
static void
roundtrip(enum proto_zalg alg, size_t n, bool random, int pieces, bool expect_stored)
{
    uint8_t *src = malloc(n ? n : 1);
    size_t cap = proto_zencode_bound(alg, n);
    uint8_t *frame = malloc(cap);
    uint8_t *back = malloc(n ? n : 1);
    fill(src, n, random);
    struct proto_zbuf in[8];
    size_t o = 0;
    for (int i = 0; i < pieces; i++) {
        size_t pn = i == pieces - 1 ? n - o : n / (size_t)pieces;
        in[i].p = src + o;
        in[i].n = pn;
        o += pn;
    }
    size_t len = proto_zencode(&ctx, alg, 3, 5, in, pieces, n, frame, cap);
    CHECK(len >= PROTO_ZHDR_LEN && len <= cap);
    struct proto_zhdr h;
    CHECK(proto_zhdr_parse(frame, len, PROTO_ZMAX_LEN, &h) == PROTO_OK);
    CHECK_EQ_U(h.seq, 5);
    CHECK_EQ_U(h.clen, len - PROTO_ZHDR_LEN);
    CHECK_EQ_U(h.ulen == 0, expect_stored);
    if (!expect_stored) {
        CHECK(h.clen < n);
        CHECK_EQ_U(h.ulen, n);
    }
    /* decode from the frame cut into 3 pieces as well */
    const uint8_t *pay = frame + PROTO_ZHDR_LEN;
    struct proto_zbuf din[3] = {{pay, h.clen / 3}, {pay + h.clen / 3, h.clen / 3}, {NULL, 0}};
    din[2].p = pay + 2 * (h.clen / 3);
    din[2].n = h.clen - 2 * (h.clen / 3);
    memset(back, 0xAA, n ? n : 1);
    CHECK(proto_zdecode(&ctx, alg, &h, din, 3, back) == PROTO_OK);
    CHECK(n == 0 || memcmp(src, back, n) == 0);
    /* and contiguous, through the stream helper */
    size_t consumed = 0, produced = 0;
    CHECK(proto_zframe_decode(&ctx, alg, frame, len, back, n, &h, &consumed, &produced) ==
          PROTO_OK);
    CHECK_EQ_U(consumed, len);
    CHECK_EQ_U(produced, n);
    free(src);
    free(frame);
    free(back);
}

static void
test_roundtrip(void)
{
    for (size_t a = 0; a < 2; a++) {
        enum proto_zalg alg = algs[a];
        roundtrip(alg, 0, false, 1, true);
        roundtrip(alg, 1, false, 1, true);
        roundtrip(alg, 49, false, 1, true); /* below the threshold: stored */
        roundtrip(alg, 50, false, 1, false);
        roundtrip(alg, 51, false, 2, false);
        roundtrip(alg, 1000, true, 1, true); /* does not shrink: stored */
        roundtrip(alg, 100000, false, 5, false);
        roundtrip(alg, 100000, true, 7, true);
        roundtrip(alg, PROTO_ZMAX_LEN, false, 3, false);
    }
    /* NONE cannot decode a compressed frame */
    struct proto_zhdr h = {4, 0, 10};
    struct proto_zbuf in = {(const uint8_t *)"abcd", 4};
    uint8_t out[10];
    CHECK(proto_zdecode(&ctx, PROTO_ZALG_NONE, &h, &in, 1, out) == PROTO_ERROR);
    /* pieces that hold fewer bytes than announced */
    uint8_t fr[64];
    CHECK_EQ_U(proto_zencode(&ctx, PROTO_ZALG_ZLIB, 0, 0, &in, 1, 5, fr, sizeof fr), 0);
    /* too little room */
    CHECK_EQ_U(proto_zencode(&ctx, PROTO_ZALG_ZLIB, 0, 0, &in, 1, 4, fr, 10), 0);
}

/* Frames written the way servers write them: compress() / ZSTD_compress() of the whole
 * payload. */
static void
test_server_frames(void)
{
    uint8_t src[5000], comp[6000], back[5000];
    fill(src, sizeof src, false);
    uLongf clen = sizeof comp - PROTO_ZHDR_LEN;
    CHECK(compress(comp + PROTO_ZHDR_LEN, &clen, src, sizeof src) == Z_OK);
    proto_zhdr_write(comp, (uint32_t)clen, 1, sizeof src);
    struct proto_zhdr h;
    size_t consumed = 0, produced = 0;
    CHECK(proto_zframe_decode(&ctx, PROTO_ZALG_ZLIB, comp, PROTO_ZHDR_LEN + clen, back, sizeof back,
                              &h, &consumed, &produced) == PROTO_OK);
    CHECK_EQ_U(produced, sizeof src);
    CHECK(memcmp(src, back, sizeof src) == 0);

    size_t zl =
        ZSTD_compress(comp + PROTO_ZHDR_LEN, sizeof comp - PROTO_ZHDR_LEN, src, sizeof src, 3);
    CHECK(!ZSTD_isError(zl));
    proto_zhdr_write(comp, (uint32_t)zl, 1, sizeof src);
    memset(back, 0, sizeof back);
    CHECK(proto_zframe_decode(&ctx, PROTO_ZALG_ZSTD, comp, PROTO_ZHDR_LEN + zl, back, sizeof back,
                              &h, &consumed, &produced) == PROTO_OK);
    CHECK(memcmp(src, back, sizeof src) == 0);
    /* zlib data labelled zstd, and the reverse, are errors */
    CHECK(proto_zframe_decode(&ctx, PROTO_ZALG_ZLIB, comp, PROTO_ZHDR_LEN + zl, back, sizeof back,
                              &h, &consumed, &produced) == PROTO_ERROR);
}

/* A stream of MySQL packets (one larger than 16 MiB among them), cut into frames at arbitrary
 * places, decoded frame by frame with each frame offered one more byte at a time, then read
 * with the packet framer. */
static void
test_stream(enum proto_zalg alg, bool big)
{
    static const size_t lens[] = {1, 0, 5, 60, 300, 4000, 70000, 17, 0xFFFFFF + 100, 2};
    size_t npk = big ? sizeof lens / sizeof lens[0] : sizeof lens / sizeof lens[0] - 2;
    size_t plain_len = 0;
    for (size_t i = 0; i < npk; i++) {
        plain_len += PROTO_HDR_LEN + lens[i] + (lens[i] >= PROTO_MAX_PAYLOAD ? PROTO_HDR_LEN : 0);
    }
    uint8_t *plain = malloc(plain_len);
    size_t o = 0;
    for (size_t i = 0; i < npk; i++) {
        size_t left = lens[i];
        uint8_t seq = (uint8_t)i;
        for (;;) {
            size_t part = left < PROTO_MAX_PAYLOAD ? left : PROTO_MAX_PAYLOAD;
            proto_hdr_write(plain + o, (uint32_t)part, seq++);
            o += PROTO_HDR_LEN;
            fill(plain + o, part, i % 2 == 1);
            if (part) {
                plain[o] = (uint8_t)i; /* mark each packet */
            }
            o += part;
            left -= part;
            if (part < PROTO_MAX_PAYLOAD) {
                break;
            }
        }
    }
    CHECK_EQ_U(o, plain_len);

    /* cut into frames: small, odd, and (for the big packet) up to the 16 MiB maximum */
    size_t wire_cap = plain_len + plain_len / 16 + 4096 * PROTO_ZHDR_LEN;
    uint8_t *wire = malloc(wire_cap);
    size_t w = 0, nframes = 0;
    uint8_t seq = 0;
    for (o = 0; o < plain_len;) {
        size_t cut = (size_t[]){1, 7, 49, 50, 333, 4096, 20000, PROTO_ZMAX_LEN}[rng() % 8];
        if (!big && cut > 20000) {
            cut = 4096;
        }
        if (cut > plain_len - o) {
            cut = plain_len - o;
        }
        struct proto_zbuf in = {plain + o, cut};
        size_t fl = proto_zencode(&ctx, alg, 1, seq++, &in, 1, cut, wire + w, wire_cap - w);
        CHECK(fl > 0);
        if (!fl) {
            break;
        }
        w += fl;
        o += cut;
        nframes++;
    }
    CHECK(nframes > 4);

    uint8_t *back = malloc(plain_len);
    size_t pos = 0, b = 0, frames_seen = 0;
    bool ok = true;
    while (pos < w && ok) {
        struct proto_zhdr h;
        size_t consumed = 0, produced = 0;
        /* every split of this frame is "need more"; for big frames, a sample of splits */
        size_t flen = PROTO_ZHDR_LEN + proto_le24(wire + pos);
        size_t step = flen > 5000 ? flen / 997 + 1 : 1;
        for (size_t avail = 0; avail < flen && ok; avail += step) {
            if (proto_zframe_decode(&ctx, alg, wire + pos, avail, back + b, plain_len - b, &h,
                                    &consumed, &produced) != PROTO_AGAIN) {
                ok = false;
            }
        }
        if (proto_zframe_decode(&ctx, alg, wire + pos, w - pos, back + b, plain_len - b, &h,
                                &consumed, &produced) != PROTO_OK) {
            ok = false;
            break;
        }
        if (h.seq != (uint8_t)frames_seen) {
            ok = false;
        }
        frames_seen++;
        pos += consumed;
        b += produced;
    }
    CHECK(ok);
    CHECK_EQ_U(pos, w);
    CHECK_EQ_U(frames_seen, nframes);
    CHECK_EQ_U(b, plain_len);
    CHECK(memcmp(plain, back, plain_len) == 0);

    /* the decoded stream reads as the original logical packets */
    struct proto_framer f;
    memset(&f, 0, sizeof f);
    size_t at = 0, npackets = 0;
    uint64_t cur = 0;
    bool lens_ok = true;
    while (at < b) {
        struct proto_frame_step st;
        if (proto_framer_step(&f, back + at, b - at, &st) != PROTO_OK) {
            break;
        }
        if (st.kind == PROTO_FRAME_START) {
            if (back[at + PROTO_HDR_LEN] != (uint8_t)npackets && st.hdr.len > 0) {
                lens_ok = false;
            }
            cur = st.hdr.len;
        } else if (st.kind == PROTO_FRAME_CONTINUATION) {
            cur += st.hdr.len;
        }
        at += st.consumed;
        if (f.body_left == 0 && !f.next_continues) {
            if (npackets >= npk || cur != lens[npackets]) {
                lens_ok = false;
            }
            npackets++;
        }
    }
    CHECK(lens_ok);
    CHECK_EQ_U(npackets, npk);
    free(plain);
    free(wire);
    free(back);
}

/* Corrupt, truncated, lying and oversized frames: an error, never a write past the declared
 * output (canary bytes), never a read past the input (exact-size heap copies for ASan). */
static void
test_corrupt(enum proto_zalg alg)
{
    enum { N = 3000 };
    uint8_t src[N];
    fill(src, N, false);
    uint8_t frame[N + PROTO_ZHDR_LEN];
    struct proto_zbuf in = {src, N};
    size_t fl = proto_zencode(&ctx, alg, 3, 0, &in, 1, N, frame, sizeof frame);
    CHECK(fl > PROTO_ZHDR_LEN && fl < N);
    uint8_t *out = malloc(N + 16);
    struct proto_zhdr h;
    size_t consumed, produced;

    /* every truncation of the payload, with the header adjusted to the truncated length */
    int trunc_errors = 0;
    for (size_t cut = 1; cut < fl - PROTO_ZHDR_LEN; cut++) {
        uint8_t *copy = malloc(PROTO_ZHDR_LEN + cut);
        memcpy(copy, frame, PROTO_ZHDR_LEN + cut);
        proto_zhdr_write(copy, (uint32_t)cut, 0, N);
        memset(out, 0xC5, N + 16);
        if (proto_zframe_decode(&ctx, alg, copy, PROTO_ZHDR_LEN + cut, out, N, &h, &consumed,
                                &produced) == PROTO_ERROR) {
            trunc_errors++;
        }
        for (int k = 0; k < 16; k++) {
            CHECK(out[N + k] == 0xC5);
        }
        free(copy);
    }
    CHECK_EQ_U(trunc_errors, fl - PROTO_ZHDR_LEN - 1);

    /* every single-byte corruption of the payload: an error or some N bytes, never more */
    for (size_t i = PROTO_ZHDR_LEN; i < fl; i++) {
        uint8_t *copy = malloc(fl);
        memcpy(copy, frame, fl);
        copy[i] ^= 0x5a;
        memset(out, 0xC5, N + 16);
        enum proto_rc rc =
            proto_zframe_decode(&ctx, alg, copy, fl, out, N, &h, &consumed, &produced);
        CHECK(rc == PROTO_OK || rc == PROTO_ERROR);
        if (rc == PROTO_OK) {
            CHECK_EQ_U(produced, N);
        }
        for (int k = 0; k < 16; k++) {
            CHECK(out[N + k] == 0xC5);
        }
        free(copy);
    }

    /* a header that lies about the decoded length: smaller, larger */
    uint8_t lie[sizeof frame];
    memcpy(lie, frame, fl);
    proto_zhdr_write(lie, (uint32_t)(fl - PROTO_ZHDR_LEN), 0, N - 1);
    memset(out, 0xC5, N + 16);
    CHECK(proto_zframe_decode(&ctx, alg, lie, fl, out, N + 16, &h, &consumed, &produced) ==
          PROTO_ERROR);
    CHECK(out[N - 1] == 0xC5); /* nothing past the declared N-1 bytes */
    proto_zhdr_write(lie, (uint32_t)(fl - PROTO_ZHDR_LEN), 0, N + 1);
    CHECK(proto_zframe_decode(&ctx, alg, lie, fl, out, N + 16, &h, &consumed, &produced) ==
          PROTO_ERROR);
    /* larger than the caller's bound */
    proto_zhdr_write(lie, (uint32_t)(fl - PROTO_ZHDR_LEN), 0, N);
    CHECK(proto_zframe_decode(&ctx, alg, lie, fl, out, N - 1, &h, &consumed, &produced) ==
          PROTO_ERROR);
    /* trailing bytes after the compressed stream, inside the frame */
    uint8_t *tr = malloc(fl + 3);
    memcpy(tr, frame, fl);
    memcpy(tr + fl, "xyz", 3);
    proto_zhdr_write(tr, (uint32_t)(fl + 3 - PROTO_ZHDR_LEN), 0, N);
    CHECK(proto_zframe_decode(&ctx, alg, tr, fl + 3, out, N, &h, &consumed, &produced) ==
          PROTO_ERROR);
    free(tr);
    /* garbage payload */
    uint8_t garbage[200 + PROTO_ZHDR_LEN];
    fill(garbage + PROTO_ZHDR_LEN, 200, true);
    proto_zhdr_write(garbage, 200, 0, 1000);
    CHECK(proto_zframe_decode(&ctx, alg, garbage, sizeof garbage, out, N, &h, &consumed,
                              &produced) == PROTO_ERROR);

    /* a bomb: 16 MiB of zeros declared as 100 bytes */
    size_t big = PROTO_ZMAX_LEN;
    uint8_t *zeros = calloc(1, big);
    size_t bcap = ZSTD_compressBound(big) + compressBound(big) + PROTO_ZHDR_LEN;
    uint8_t *bomb = malloc(bcap);
    size_t bl = 0;
    if (alg == PROTO_ZALG_ZLIB) {
        uLongf cl = bcap - PROTO_ZHDR_LEN;
        CHECK(compress(bomb + PROTO_ZHDR_LEN, &cl, zeros, big) == Z_OK);
        bl = cl;
    } else {
        bl = ZSTD_compress(bomb + PROTO_ZHDR_LEN, bcap - PROTO_ZHDR_LEN, zeros, big, 1);
        CHECK(!ZSTD_isError(bl));
    }
    proto_zhdr_write(bomb, (uint32_t)bl, 0, 100);
    memset(out, 0xC5, N + 16);
    CHECK(proto_zframe_decode(&ctx, alg, bomb, PROTO_ZHDR_LEN + bl, out, N, &h, &consumed,
                              &produced) == PROTO_ERROR);
    CHECK(out[100] == 0xC5);
    free(zeros);
    free(bomb);
    free(out);
}

int
main(void)
{
    test_hdr();
    test_roundtrip();
    test_server_frames();
    for (size_t a = 0; a < 2; a++) {
        test_stream(algs[a], false);
        test_corrupt(algs[a]);
    }
    test_stream(PROTO_ZALG_ZLIB, true);
    test_stream(PROTO_ZALG_ZSTD, true);
    proto_zctx_free(&ctx);
    return check_exit();
}
