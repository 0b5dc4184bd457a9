/*
 * test_wire.c - unit tests of the bounds-checked readers in protocol/proto_wire.c: fixed
 * integers, length-encoded integers at every prefix edge (0xfa..0xff), length-encoded and
 * NUL-terminated strings, and the sticky error after a truncated read.
 */
#include "check.h"
#include "protocol/proto_wire.h"

static void
test_fixed_ints(void)
{
    static const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0xff, 0xee};
    struct proto_rd r;
    proto_rd_init(&r, b, sizeof b);
    CHECK_EQ_U(proto_rd_u8(&r), 0x01);
    CHECK_EQ_U(proto_rd_u16(&r), 0x0302);
    CHECK_EQ_U(proto_rd_u24(&r), 0x060504);
    CHECK_EQ_U(proto_rd_u32(&r), 0x0a090807);
    CHECK_EQ_U(proto_rd_u64(&r), 0x1211100f0e0d0c0bull);
    CHECK(!r.err);
    CHECK_EQ_U(proto_rd_left(&r), 3);
    CHECK_EQ_U(proto_rd_u16(&r), 0xff13);
    CHECK_EQ_U(proto_rd_left(&r), 1);
    /* 2 bytes wanted, 1 left: error, nothing consumed, sticky */
    CHECK_EQ_U(proto_rd_u16(&r), 0);
    CHECK(r.err);
    CHECK_EQ_U(proto_rd_left(&r), 0);
    CHECK_EQ_U(proto_rd_u8(&r), 0); /* the byte is there, but err is sticky */
    CHECK(r.err);
}

static void
test_truncated_each_width(void)
{
    static const uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (size_t len = 0; len < 8; len++) {
        struct proto_rd r;
        proto_rd_init(&r, b, len);
        CHECK_EQ_U(proto_rd_u64(&r), 0);
        CHECK(r.err);
        proto_rd_init(&r, b, len);
        uint32_t v = proto_rd_u32(&r);
        CHECK(r.err == (len < 4));
        CHECK_EQ_U(v, len < 4 ? 0 : 0x04030201u);
        proto_rd_init(&r, b, len);
        v = proto_rd_u24(&r);
        CHECK(r.err == (len < 3));
        CHECK_EQ_U(v, len < 3 ? 0 : 0x030201u);
    }
}

struct lenenc_case {
    uint8_t bytes[10];
    size_t len;
    uint64_t value;
    bool is_null;
    bool err;        /* error from proto_rd_lenenc_null */
    bool err_plain;  /* error from proto_rd_lenenc */
    size_t consumed; /* by proto_rd_lenenc_null when no error */
};

static const struct lenenc_case lenenc_cases[] = {
    {{0x00}, 1, 0, false, false, false, 1},
    {{0xfa}, 1, 250, false, false, false, 1},
    {{0xfb}, 1, 0, true, false, true, 1},
    {{0xfc, 0xfb, 0x00}, 3, 251, false, false, false, 3},
    {{0xfc, 0xff, 0xff}, 3, 0xffff, false, false, false, 3},
    {{0xfc, 0x01}, 2, 0, false, true, true, 0},
    {{0xfd, 0x00, 0x00, 0x01}, 4, 0x10000, false, false, false, 4},
    {{0xfd, 0xff, 0xff, 0xff}, 4, 0xffffff, false, false, false, 4},
    {{0xfd, 0xff, 0xff}, 3, 0, false, true, true, 0},
    {{0xfe, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}, 9, 0x1000000, false, false, false, 9},
    {{0xfe, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88},
     9,
     0x8807060504030201ull,
     false,
     false,
     false,
     9},
    {{0xfe, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}, 8, 0, false, true, true, 0},
    {{0xfe}, 1, 0, false, true, true, 0},
    {{0xff}, 1, 0, false, true, true, 0},
    {{0xff, 0x00, 0x00}, 3, 0, false, true, true, 0},
    {{0}, 0, 0, false, true, true, 0},
};

static void
test_lenenc(void)
{
    for (size_t i = 0; i < sizeof lenenc_cases / sizeof lenenc_cases[0]; i++) {
        const struct lenenc_case *c = &lenenc_cases[i];
        struct proto_rd r;
        bool is_null = !c->is_null;
        proto_rd_init(&r, c->bytes, c->len);
        uint64_t v = proto_rd_lenenc_null(&r, &is_null);
        if (r.err != c->err) {
            fprintf(stderr, "lenenc case %zu: err %d\n", i, r.err);
        }
        CHECK(r.err == c->err);
        if (!c->err) {
            CHECK_EQ_U(v, c->value);
            CHECK(is_null == c->is_null);
            CHECK_EQ_U(r.pos, c->consumed);
        } else {
            CHECK_EQ_U(v, 0);
        }
        proto_rd_init(&r, c->bytes, c->len);
        v = proto_rd_lenenc(&r);
        CHECK(r.err == c->err_plain);
        CHECK_EQ_U(v, c->err_plain ? 0 : c->value);
        if (c->len > 0) {
            size_t sz = proto_lenenc_size(c->bytes[0]);
            uint8_t f = c->bytes[0];
            CHECK_EQ_U(sz, f < 0xfb ? 1 : f == 0xfc ? 3 : f == 0xfd ? 4 : f == 0xfe ? 9 : 0);
        }
    }
    CHECK_EQ_U(proto_lenenc_size(0xfb), 0);
    CHECK_EQ_U(proto_lenenc_size(0xff), 0);
    CHECK_EQ_U(proto_lenenc_size(0xfa), 1);
}

static void
test_strings(void)
{
    /* "def" lenenc, "ab" NUL, 3 raw bytes */
    static const uint8_t b[] = {0x03, 'd', 'e', 'f', 'a', 'b', 0x00, 'x', 'y', 'z'};
    struct proto_rd r;
    size_t n = 99;
    proto_rd_init(&r, b, sizeof b);
    const uint8_t *s = proto_rd_lenenc_str(&r, &n);
    CHECK(s == b + 1);
    CHECK_EQ_U(n, 3);
    s = proto_rd_nul_str(&r, &n);
    CHECK(s == b + 4);
    CHECK_EQ_U(n, 2);
    CHECK_EQ_U(r.pos, 7);
    s = proto_rd_bytes(&r, 3);
    CHECK(s == b + 7);
    CHECK_EQ_U(proto_rd_left(&r), 0);
    CHECK(!r.err);
    /* zero-length reads at the end are fine */
    CHECK(proto_rd_bytes(&r, 0) != NULL);
    CHECK(!r.err);
    s = proto_rd_bytes(&r, 1);
    CHECK(s == NULL);
    CHECK(r.err);

    /* empty NUL string */
    static const uint8_t e[] = {0x00};
    proto_rd_init(&r, e, 1);
    s = proto_rd_nul_str(&r, &n);
    CHECK(s == e);
    CHECK_EQ_U(n, 0);
    CHECK(!r.err);
    CHECK_EQ_U(proto_rd_left(&r), 0);

    /* missing NUL: error, n = 0 */
    static const uint8_t nonul[] = {'a', 'b', 'c'};
    proto_rd_init(&r, nonul, sizeof nonul);
    n = 7;
    CHECK(proto_rd_nul_str(&r, &n) == NULL);
    CHECK(r.err);
    CHECK_EQ_U(n, 0);
    /* NUL past the buffer's end is not seen */
    static const uint8_t past[] = {'a', 'b', 0x00};
    proto_rd_init(&r, past, 2);
    CHECK(proto_rd_nul_str(&r, &n) == NULL);
    CHECK(r.err);

    /* lenenc string longer than the buffer */
    static const uint8_t lng[] = {0x05, 'a', 'b'};
    proto_rd_init(&r, lng, sizeof lng);
    n = 7;
    CHECK(proto_rd_lenenc_str(&r, &n) == NULL);
    CHECK(r.err);
    CHECK_EQ_U(n, 0);
    /* lenenc string with a 64-bit length that would overflow a pointer addition */
    static const uint8_t huge[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a'};
    proto_rd_init(&r, huge, sizeof huge);
    CHECK(proto_rd_lenenc_str(&r, &n) == NULL);
    CHECK(r.err);
    /* NULL (0xfb) is not a string length */
    static const uint8_t nul[] = {0xfb, 'a'};
    proto_rd_init(&r, nul, sizeof nul);
    CHECK(proto_rd_lenenc_str(&r, &n) == NULL);
    CHECK(r.err);
    /* empty lenenc string */
    static const uint8_t empty[] = {0x00};
    proto_rd_init(&r, empty, 1);
    s = proto_rd_lenenc_str(&r, &n);
    CHECK(!r.err);
    CHECK_EQ_U(n, 0);
    CHECK_EQ_U(proto_rd_left(&r), 0);
}

static void
test_skip_and_sticky(void)
{
    static const uint8_t b[] = {1, 2, 3, 4};
    struct proto_rd r;
    proto_rd_init(&r, b, sizeof b);
    proto_rd_skip(&r, 3);
    CHECK(!r.err);
    CHECK_EQ_U(proto_rd_left(&r), 1);
    proto_rd_skip(&r, 2);
    CHECK(r.err);
    /* every reader returns 0/NULL after the error */
    size_t n = 5;
    bool is_null = true;
    CHECK_EQ_U(proto_rd_u8(&r), 0);
    CHECK_EQ_U(proto_rd_u16(&r), 0);
    CHECK_EQ_U(proto_rd_lenenc(&r), 0);
    CHECK_EQ_U(proto_rd_lenenc_null(&r, &is_null), 0);
    CHECK(!is_null);
    CHECK(proto_rd_bytes(&r, 0) == NULL);
    CHECK(proto_rd_lenenc_str(&r, &n) == NULL);
    CHECK(proto_rd_nul_str(&r, &n) == NULL);
    CHECK_EQ_U(n, 0);
    CHECK(r.err);

    /* skipping exactly to the end is fine */
    proto_rd_init(&r, b, sizeof b);
    proto_rd_skip(&r, 4);
    CHECK(!r.err);
    proto_rd_skip(&r, SIZE_MAX);
    CHECK(r.err);
}

static void
test_le_helpers(void)
{
    uint8_t b[4];
    proto_put_le16(b, 0xbeef);
    CHECK_EQ_U(proto_le16(b), 0xbeef);
    proto_put_le24(b, 0xfedcba);
    CHECK_EQ_U(proto_le24(b), 0xfedcba);
    CHECK_EQ_U(b[0], 0xba);
    proto_put_le32(b, 0xdeadbeef);
    CHECK_EQ_U(proto_le32(b), 0xdeadbeef);
    CHECK_EQ_U(b[3], 0xde);
}

/* proto_put_lenenc writes each width at its bounds; proto_rd_lenenc reads back the value. */
static void
test_put_lenenc(void)
{
    static const struct {
        uint64_t v;
        size_t n;
    } cases[] = {{0, 1},       {250, 1},      {251, 3},       {0xffff, 3},
                 {0x10000, 4}, {0xffffff, 4}, {0x1000000, 9}, {UINT64_MAX, 9}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[9];
        size_t n = proto_put_lenenc(b, cases[i].v);
        CHECK_EQ_U(n, cases[i].n);
        CHECK_EQ_U(proto_lenenc_size(b[0]), n);
        struct proto_rd r;
        proto_rd_init(&r, b, n);
        CHECK_EQ_U(proto_rd_lenenc(&r), cases[i].v);
        CHECK(!r.err);
        CHECK_EQ_U(r.pos, n);
    }
}

int
main(void)
{
    test_fixed_ints();
    test_truncated_each_width();
    test_lenenc();
    test_strings();
    test_skip_and_sticky();
    test_le_helpers();
    test_put_lenenc();
    return check_exit();
}
