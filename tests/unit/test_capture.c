/*
 * test_capture.c - unit tests of protocol/proto_capture.c: FNV-1a 64 against its published
 * vectors; every record type encoded and decoded with edge values (0 and the largest integers,
 * negative times, empty and binary strings, NULL and non-NULL parameters); an encoder given too
 * little room refuses and leaves the length alone; every truncation of a record and corrupt
 * bodies (lying lengths, overlong varints, out-of-range fields, too many parameters) are
 * refused; an unknown record type and fields appended by a later version are skipped; the file
 * header; blocks sealed and opened, and refused when a byte, the checksum or a length is wrong.
 * With `--write-corpus DIR` it writes the fuzz seed corpus (tests/fuzz/corpus/capture).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "check.h"
#include "protocol/proto_capture.h"
#include "protocol/proto_stmt.h"

#define MAXP 8

static const struct proto_cap_param params[] = {
    {.type = 8,
     .is_unsigned = true,
     .is_null = false,
     .value = (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff",
     .value_len = 8},
    {.type = 6, .is_unsigned = false, .is_null = true, .value = NULL, .value_len = 0},
    {.type = 253,
     .is_unsigned = false,
     .is_null = false,
     .value = (const uint8_t *)"a\0b",
     .value_len = 3},
    {.type = 252,
     .is_unsigned = false,
     .is_null = false,
     .long_data = true,
     .cut = true,
     .value = (const uint8_t *)"",
     .value_len = 0},
};

static const struct proto_cap_session sess_edge = {
    .session = UINT64_MAX,
    .t_us = -1,
    .thread_id = UINT32_MAX,
    .client_caps = 0xffffffffu,
    .charset = 255,
    .alive = true,
    .user = "root",
    .user_len = 4,
    .schema = "",
    .schema_len = 0,
    .host = "127.0.0.1:5",
    .host_len = 11,
    .sql_mode = "ANSI_QUOTES",
    .sql_mode_len = 11,
    .sql_mode_set = true,
};

static const struct proto_cap_command cmd_edge = {
    .session = 7,
    .seq = UINT64_MAX,
    .t_start_us = 1765000000000000,
    .t_end_us = 1764999999999999,
    .cmd = 0x17,
    .text = "",
    .text_len = 0,
    .schema = "s\xc3\xa9",
    .schema_len = 3,
    .stmt_id = UINT32_MAX,
    .prepare_id = 0,
    .n_params = 4,
    .params = params,
    .err = 65535,
    .rows = UINT64_MAX,
    .affected = 0,
    .insert_id = UINT64_MAX,
    .warnings = 65535,
    .status = 0x4002,
    .checksum = 0x0123456789abcdefULL,
    .interrupted = true,
    .cut = true,
};

static const struct proto_cap_command cmd_query = {
    .session = 1,
    .seq = 1,
    .t_start_us = 0,
    .t_end_us = 0,
    .cmd = 3,
    .text = "SELECT 1",
    .text_len = 8,
    .schema = "",
    .schema_len = 0,
    .stmt_id = 0,
    .prepare_id = 0,
    .n_params = 0,
    .params = NULL,
    .err = 0,
    .rows = 1,
    .affected = 0,
    .insert_id = 0,
    .warnings = 0,
    .status = 2,
    .checksum = 0,
    .interrupted = false,
    .cut = false,
};

static const struct proto_cap_file file_edge = {
    .session = 3,
    .seq = 9,
    .data = (const uint8_t *)"1\t\0x\n",
    .len = 5,
};

static const struct proto_cap_end end_edge = {.session = 0, .t_us = INT64_MIN};

static bool
eq(const void *a, size_t al, const void *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static void
test_fnv(void)
{
    CHECK_EQ_U(proto_cap_fnv(PROTO_CAP_FNV_INIT, "", 0), 0xcbf29ce484222325ULL);
    CHECK_EQ_U(proto_cap_fnv(PROTO_CAP_FNV_INIT, "a", 1), 0xaf63dc4c8601ec8cULL);
    CHECK_EQ_U(proto_cap_fnv(PROTO_CAP_FNV_INIT, "foobar", 6), 0x85944171f73967e8ULL);
    /* continued over pieces = over the whole */
    CHECK_EQ_U(proto_cap_fnv(proto_cap_fnv(PROTO_CAP_FNV_INIT, "foo", 3), "bar", 3),
               0x85944171f73967e8ULL);
}

/* All four records, one after the other, into buf; returns the length. */
static size_t
encode_all(uint8_t *buf, size_t cap)
{
    size_t len = 0;
    CHECK(proto_cap_put_session(buf, cap, &len, &sess_edge));
    CHECK(proto_cap_put_command(buf, cap, &len, &cmd_edge));
    CHECK(proto_cap_put_command(buf, cap, &len, &cmd_query));
    CHECK(proto_cap_put_file(buf, cap, &len, &file_edge));
    CHECK(proto_cap_put_end(buf, cap, &len, &end_edge));
    return len;
}

static void
check_session(const struct proto_cap_session *y, const struct proto_cap_session *x)
{
    CHECK_EQ_U(y->session, x->session);
    CHECK(y->t_us == x->t_us);
    CHECK_EQ_U(y->thread_id, x->thread_id);
    CHECK_EQ_U(y->client_caps, x->client_caps);
    CHECK_EQ_U(y->charset, x->charset);
    CHECK(y->alive == x->alive);
    CHECK(y->sql_mode_set == x->sql_mode_set);
    CHECK(eq(y->user, y->user_len, x->user, x->user_len));
    CHECK(eq(y->schema, y->schema_len, x->schema, x->schema_len));
    CHECK(eq(y->host, y->host_len, x->host, x->host_len));
    CHECK(eq(y->sql_mode, y->sql_mode_len, x->sql_mode, x->sql_mode_len));
}

static void
check_command(const struct proto_cap_command *y, const struct proto_cap_command *x)
{
    CHECK_EQ_U(y->session, x->session);
    CHECK_EQ_U(y->seq, x->seq);
    CHECK(y->t_start_us == x->t_start_us);
    CHECK(y->t_end_us == x->t_end_us);
    CHECK_EQ_U(y->cmd, x->cmd);
    CHECK(eq(y->text, y->text_len, x->text, x->text_len));
    CHECK(eq(y->schema, y->schema_len, x->schema, x->schema_len));
    CHECK_EQ_U(y->stmt_id, x->stmt_id);
    CHECK_EQ_U(y->prepare_id, x->prepare_id);
    CHECK_EQ_U(y->n_params, x->n_params);
    for (uint16_t i = 0; i < x->n_params && i < y->n_params; i++) {
        CHECK_EQ_U(y->params[i].type, x->params[i].type);
        CHECK(y->params[i].is_unsigned == x->params[i].is_unsigned);
        CHECK(y->params[i].is_null == x->params[i].is_null);
        CHECK(y->params[i].long_data == x->params[i].long_data);
        CHECK(y->params[i].cut == x->params[i].cut);
        CHECK(eq(y->params[i].value, y->params[i].value_len, x->params[i].value,
                 x->params[i].value_len));
    }
    CHECK_EQ_U(y->err, x->err);
    CHECK_EQ_U(y->rows, x->rows);
    CHECK_EQ_U(y->affected, x->affected);
    CHECK_EQ_U(y->insert_id, x->insert_id);
    CHECK_EQ_U(y->warnings, x->warnings);
    CHECK_EQ_U(y->status, x->status);
    CHECK_EQ_U(y->checksum, x->checksum);
    CHECK(y->interrupted == x->interrupted);
    CHECK(y->cut == x->cut);
}

static void
test_round_trip(void)
{
    uint8_t buf[1024];
    size_t len = encode_all(buf, sizeof buf);
    CHECK(len <= proto_cap_session_size(&sess_edge) + proto_cap_command_size(&cmd_edge) +
                     proto_cap_command_size(&cmd_query) + proto_cap_file_size(&file_edge) + 32);
    struct proto_cap_param ps[MAXP];
    struct proto_cap_record r;
    size_t off = 0;
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_SESSION);
    check_session(&r.u.session, &sess_edge);
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_COMMAND);
    check_command(&r.u.command, &cmd_edge);
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_COMMAND);
    check_command(&r.u.command, &cmd_query);
    CHECK(r.u.command.params == NULL);
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_FILE);
    CHECK_EQ_U(r.u.file.session, 3);
    CHECK_EQ_U(r.u.file.seq, 9);
    CHECK(eq(r.u.file.data, r.u.file.len, file_edge.data, file_edge.len));
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_END);
    CHECK_EQ_U(r.u.end.session, 0);
    CHECK(r.u.end.t_us == INT64_MIN);
    CHECK_EQ_U(off, len);
    CHECK(!proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(off, len);

    /* The simple query's exact bytes (docs/capture-format.md's example). */
    uint8_t q[64];
    size_t ql = 0;
    CHECK(proto_cap_put_command(q, sizeof q, &ql, &cmd_query));
    uint8_t want[64];
    size_t wl = unhex("02 21 01 01 00 00 03 00 08 53454c4543542031 00 00 00 00"
                      " 00 01 00 00 00 02 0000000000000000",
                      want, sizeof want);
    CHECK(eq(q, ql, want, wl));

    /* A big body: its length takes more than one varint byte. */
    static char big[70000];
    memset(big, 'x', sizeof big);
    struct proto_cap_command c = cmd_query;
    c.text = big;
    c.text_len = sizeof big;
    size_t need = proto_cap_command_size(&c);
    uint8_t *bb = malloc(need);
    size_t bl = 0;
    CHECK(bb && proto_cap_put_command(bb, need, &bl, &c));
    off = 0;
    CHECK(proto_cap_next(bb, bl, &off, &r, ps, MAXP));
    check_command(&r.u.command, &c);
    free(bb);
}

static void
test_no_room(void)
{
    uint8_t buf[1024];
    size_t full = 0;
    CHECK(proto_cap_put_command(buf, sizeof buf, &full, &cmd_edge));
    CHECK(full <= proto_cap_command_size(&cmd_edge));
    /* the fast path (room for the bound) and the checked one (exactly the room needed) write
     * the same bytes */
    uint8_t exact[1024];
    size_t el = 0;
    CHECK(full < proto_cap_command_size(&cmd_edge));
    CHECK(proto_cap_put_command(exact, full, &el, &cmd_edge));
    CHECK(eq(exact, el, buf, full));
    static uint8_t big[80000];
    static char bigtext[70000];
    memset(bigtext, 'q', sizeof bigtext);
    struct proto_cap_command bc = cmd_edge;
    bc.text = bigtext;
    bc.text_len = sizeof bigtext;
    size_t fl = 0, sl = 0;
    static uint8_t fast[80000];
    CHECK(proto_cap_put_command(fast, sizeof fast, &fl, &bc));
    CHECK(fl <= sizeof big && proto_cap_put_command(big, fl, &sl, &bc));
    CHECK(eq(fast, fl, big, sl));
    for (size_t cap = 0; cap < full; cap++) {
        size_t len = 0;
        CHECK(!proto_cap_put_command(buf, cap, &len, &cmd_edge));
        CHECK_EQ_U(len, 0);
    }
    size_t len = 5;
    CHECK(!proto_cap_put_session(buf, 4, &len, &sess_edge)); /* len > cap */
    CHECK_EQ_U(len, 5);
    len = 0;
    CHECK(!proto_cap_put_end(buf, 2, &len, &end_edge));
    CHECK_EQ_U(len, 0);
}

static void
test_truncated_corrupt(void)
{
    uint8_t buf[1024];
    size_t len = encode_all(buf, sizeof buf);
    struct proto_cap_param ps[MAXP];
    struct proto_cap_record r;
    /* Every prefix of the first two records decodes nothing past the last whole record. */
    size_t s_len = 0, c_len = 0;
    uint8_t one[512];
    CHECK(proto_cap_put_session(one, sizeof one, &s_len, &sess_edge));
    c_len = s_len;
    CHECK(proto_cap_put_command(one, sizeof one, &c_len, &cmd_edge));
    for (size_t n = 0; n < c_len; n++) {
        size_t off = 0;
        bool first = proto_cap_next(one, n, &off, &r, ps, MAXP);
        CHECK(first == (n >= s_len));
        CHECK_EQ_U(off, first ? s_len : 0);
        if (first) {
            size_t before = off;
            CHECK(!proto_cap_next(one, n, &off, &r, ps, MAXP));
            CHECK_EQ_U(off, before);
        }
    }
    /* A body length past the end. */
    uint8_t lie[] = {PROTO_CAP_END, 0x05, 0x01, 0x02};
    size_t off = 0;
    CHECK(!proto_cap_next(lie, sizeof lie, &off, &r, ps, MAXP));
    CHECK_EQ_U(off, 0);
    /* A body too short for its fields: END with a session and no time. */
    uint8_t shortb[] = {PROTO_CAP_END, 0x01, 0x01};
    CHECK(!proto_cap_next(shortb, sizeof shortb, &off, &r, ps, MAXP));
    /* Overlong varints: 11 continuation bytes, and a 10th byte over 64 bits. */
    uint8_t ovl[] = {PROTO_CAP_END, 0x0c, 0x80, 0x80, 0x80, 0x80, 0x80,
                     0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK(!proto_cap_next(ovl, sizeof ovl, &off, &r, ps, MAXP));
    uint8_t ovl2[] = {PROTO_CAP_END, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff,
                      0xff,          0xff, 0xff, 0xff, 0x02, 0x00};
    CHECK(!proto_cap_next(ovl2, sizeof ovl2, &off, &r, ps, MAXP));
    uint8_t max64[] = {PROTO_CAP_END, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff,          0xff, 0xff, 0xff, 0x01, 0x00};
    CHECK(proto_cap_next(max64, sizeof max64, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.u.end.session, UINT64_MAX);
    /* A thread id over 32 bits. */
    struct proto_cap_session s = sess_edge;
    uint8_t sb[256];
    size_t sl = 0;
    CHECK(proto_cap_put_session(sb, sizeof sb, &sl, &s));
    /* thread_id is the third field: session (10 bytes for UINT64_MAX) and t_us (zigzag -1 =
     * 1: 1 byte) come first after type and length (2 bytes). */
    CHECK_EQ_U(sb[2 + 10 + 1], 0xff);
    sb[2 + 10 + 1 + 4] = 0x1f; /* 0xffffffff's last byte 0x0f -> 0x1f: 36 bits */
    off = 0;
    CHECK(!proto_cap_next(sb, sl, &off, &r, ps, MAXP));
    /* More parameters than the store holds. */
    off = 0;
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP)); /* session */
    size_t at = off;
    CHECK(!proto_cap_next(buf, len, &off, &r, ps, 3));
    CHECK_EQ_U(off, at);
    CHECK(proto_cap_next(buf, len, &off, &r, ps, 4));
}

static void
test_unknown_and_extension(void)
{
    uint8_t buf[512];
    size_t len = 0;
    /* unknown type 9 with a 3-byte body, then type 0, then an END, then unknown at the end */
    const uint8_t unk[] = {9, 3, 0xaa, 0xbb, 0xcc, 0, 0};
    memcpy(buf, unk, sizeof unk);
    len = sizeof unk;
    CHECK(
        proto_cap_put_end(buf, sizeof buf, &len, &(struct proto_cap_end){.session = 4, .t_us = 5}));
    size_t end_at = len;
    buf[len++] = 200;
    buf[len++] = 1;
    buf[len++] = 0x55;
    struct proto_cap_param ps[MAXP];
    struct proto_cap_record r;
    size_t off = 0;
    CHECK(proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.type, PROTO_CAP_END);
    CHECK_EQ_U(r.u.end.session, 4);
    CHECK_EQ_U(off, end_at);
    CHECK(!proto_cap_next(buf, len, &off, &r, ps, MAXP));
    CHECK_EQ_U(off, len); /* the trailing unknown record was skipped: the end, not an error */

    /* A later version's extra fields at a body's end are skipped. */
    uint8_t e[] = {PROTO_CAP_END, 0x04, 0x04, 0x0a, 0x77, 0x66, PROTO_CAP_END, 0x02, 0x01, 0x00};
    off = 0;
    CHECK(proto_cap_next(e, sizeof e, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.u.end.session, 4);
    CHECK(r.u.end.t_us == 5);
    CHECK_EQ_U(off, 6);
    CHECK(proto_cap_next(e, sizeof e, &off, &r, ps, MAXP));
    CHECK_EQ_U(r.u.end.session, 1);
}

static void
test_header(void)
{
    uint8_t h[PROTO_CAP_HEADER_LEN];
    proto_cap_put_header(h, 1765150000123456);
    uint16_t v = 0;
    int64_t t = 0;
    CHECK(proto_cap_check_header(h, sizeof h, &v, &t));
    CHECK_EQ_U(v, PROTO_CAP_VERSION);
    CHECK(t == 1765150000123456);
    CHECK(!memcmp(h, "SLOWTAPCAP\n\x01\x00\x00\x00", 15));
    CHECK(!proto_cap_check_header(h, sizeof h - 1, &v, &t));
    h[11] = 2; /* version 2 */
    CHECK(!proto_cap_check_header(h, sizeof h, &v, &t));
    CHECK_EQ_U(v, 2);
    h[11] = 1;
    h[0] = 's';
    CHECK(!proto_cap_check_header(h, sizeof h, &v, &t));
}

static void
test_blocks(void)
{
    uint8_t raw[1024];
    size_t len = encode_all(raw, sizeof raw);
    size_t cap = proto_cap_block_bound(len);
    uint8_t *blk = malloc(cap);
    CHECK(blk != NULL);
    CHECK_EQ_U(proto_cap_block_seal(raw, len, blk, cap - 1, 3), 0); /* below the bound */
    CHECK_EQ_U(proto_cap_block_seal(raw, 0, blk, cap, 3), 0);
    size_t bl = proto_cap_block_seal(raw, len, blk, cap, 3);
    CHECK(bl > PROTO_CAP_BLOCK_HEADER_LEN);
    uint32_t rl = 0, zl = 0;
    uint64_t sum = 0;
    CHECK(proto_cap_block_header(blk, &rl, &zl, &sum));
    CHECK_EQ_U(rl, len);
    CHECK_EQ_U(zl + PROTO_CAP_BLOCK_HEADER_LEN, bl);
    CHECK_EQ_U(sum, 0);        /* reserved */
    CHECK(blk[16 + 4] & 0x04); /* the frame carries its content checksum */
    uint8_t back[1024];
    CHECK(proto_cap_block_open(blk + 16, zl, back, rl, sum));
    CHECK(!memcmp(back, raw, len));
    /* a frame without a checksum is refused, even when it inflates */
    uint8_t *plain = malloc(cap);
    CHECK(plain != NULL);
    size_t pl = ZSTD_compress(plain, cap, raw, len, 3);
    CHECK(!ZSTD_isError(pl) && !(plain[4] & 0x04));
    CHECK(!proto_cap_block_open(plain, pl, back, rl, 0));
    free(plain);
    /* the checksum is checked: the frame's last 4 bytes are its XXH64's low half */
    blk[bl - 1] ^= 0x01;
    CHECK(!proto_cap_block_open(blk + 16, zl, back, rl, sum));
    blk[bl - 1] ^= 0x01;
    CHECK(!proto_cap_block_open(blk + 16, zl - 1, back, rl, sum)); /* cut */
    CHECK(!proto_cap_block_open(blk + 16, zl, back, rl - 1, sum)); /* lying raw length */
    CHECK(!proto_cap_block_open(blk + 16, zl, back, 0, sum));
    for (size_t i = 16; i < bl; i += 3) {
        blk[i] ^= 0x40;
        CHECK(!proto_cap_block_open(blk + 16, zl, back, rl, sum));
        blk[i] ^= 0x40;
    }
    uint8_t bad[16] = {0};
    CHECK(!proto_cap_block_header(bad, &rl, &zl, &sum)); /* zero lengths */
    memcpy(bad, blk, 16);
    bad[3] = 0x01; /* raw_len 16 MiB+ */
    CHECK(!proto_cap_block_header(bad, &rl, &zl, &sum));
    free(blk);
}

static void
test_execute_params(void)
{
    /* 0x17, id 7, flags 0, iterations 1; 5 params: NULL bitmap 0b00100 (param 2 NULL), bound 1,
     * types LONGLONG unsigned, VAR_STRING, LONG (NULL), DATETIME, DOUBLE; the values. */
    uint8_t p[128];
    size_t n = unhex("17 07000000 00 01000000 04 01"
                     " 0880 fd00 0300 0c00 0500"
                     " ffffffffffffffff"
                     " 03 616263"
                     " 07 ea07 0c 07 16 2d 00"
                     " 000000000000f83f",
                     p, sizeof p);
    struct proto_cap_param out[5];
    CHECK(proto_cap_execute_params(p, n, 5, NULL, NULL, out));
    CHECK_EQ_U(out[0].type, 8);
    CHECK(out[0].is_unsigned && !out[0].is_null);
    CHECK(eq(out[0].value, out[0].value_len, "\xff\xff\xff\xff\xff\xff\xff\xff", 8));
    CHECK_EQ_U(out[1].type, 253);
    CHECK(eq(out[1].value, out[1].value_len, "abc", 3));
    CHECK(out[2].is_null && out[2].value_len == 0);
    CHECK_EQ_U(out[3].type, 12);
    CHECK(eq(out[3].value, out[3].value_len, "\xea\x07\x0c\x07\x16\x2d\x00", 7));
    CHECK(eq(out[4].value, out[4].value_len, "\0\0\0\0\0\0\xf8\x3f", 8));
    /* every cut is refused */
    for (size_t k = 0; k < n; k++) {
        CHECK(!proto_cap_execute_params(p, k, 5, NULL, NULL, out));
    }
    /* new_params_bound 0: the previous types; without them, refused */
    struct proto_param_type prev[2] = {{.type = 3, .is_unsigned = false},
                                       {.type = 254, .is_unsigned = false}};
    uint8_t q[64];
    size_t qn = unhex("17 07000000 00 01000000 00 00 2a000000 0178", q, sizeof q);
    CHECK(!proto_cap_execute_params(q, qn, 2, NULL, NULL, out));
    CHECK(proto_cap_execute_params(q, qn, 2, prev, NULL, out));
    CHECK_EQ_U(out[0].type, 3);
    CHECK(eq(out[0].value, out[0].value_len, "\x2a\0\0\0", 4));
    CHECK(eq(out[1].value, out[1].value_len, "x", 1));
    /* long data wins over the payload (which then does not hold that value) */
    struct proto_long_data ld[2] = {
        {.data = NULL, .len = 0, .total = 0, .present = false},
        {.data = (const uint8_t *)"long", .len = 4, .total = 4, .present = true}};
    size_t q2 = unhex("17 07000000 00 01000000 00 00 2a000000", q, sizeof q);
    CHECK(proto_cap_execute_params(q, q2, 2, prev, ld, out));
    CHECK(out[1].long_data && eq(out[1].value, out[1].value_len, "long", 4));
    CHECK(!out[1].cut);
    /* long data the session kept only the first bytes of: cut */
    ld[1].total = 5000;
    CHECK(proto_cap_execute_params(q, q2, 2, prev, ld, out));
    CHECK(out[1].cut && out[1].value_len == 4);
    ld[1].total = 4;
    /* not an execute; a bad bound flag; an unknown type */
    q[0] = 0x16;
    CHECK(!proto_cap_execute_params(q, q2, 2, prev, ld, out));
    size_t q3 = unhex("17 07000000 00 01000000 00 02", q, sizeof q);
    CHECK(!proto_cap_execute_params(q, q3, 2, prev, NULL, out));
    size_t q4 = unhex("17 07000000 00 01000000 00 01 1400 00", q, sizeof q);
    CHECK(!proto_cap_execute_params(q, q4, 1, NULL, NULL, out));
    CHECK(proto_cap_execute_params(q, 10, 0, NULL, NULL, out)); /* no parameters */
}

/* The seed corpus: raw records, a file of one block, a file cut short. */
static int
write_corpus(const char *dir)
{
    uint8_t raw[1024];
    size_t len = encode_all(raw, sizeof raw);
    size_t cap = 1 + PROTO_CAP_HEADER_LEN + proto_cap_block_bound(len);
    uint8_t *f = malloc(cap);
    if (!f) {
        return 1;
    }
    f[0] = 0;
    memcpy(f + 1, raw, len);
    struct {
        const char *name;
        size_t n;
    } out[3] = {{"records", 1 + len}, {"file_one_block", 0}, {"file_cut", 0}};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, out[0].name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(f, 1, out[0].n, fp) != out[0].n || fclose(fp) != 0) {
        return 1;
    }
    f[0] = 1;
    proto_cap_put_header(f + 1, 1765150000000000);
    size_t bl = proto_cap_block_seal(raw, len, f + 1 + PROTO_CAP_HEADER_LEN,
                                     cap - 1 - PROTO_CAP_HEADER_LEN, 3);
    out[1].n = 1 + PROTO_CAP_HEADER_LEN + bl;
    out[2].n = out[1].n - 5;
    for (int i = 1; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, out[i].name);
        fp = fopen(path, "wb");
        if (!fp || fwrite(f, 1, out[i].n, fp) != out[i].n || fclose(fp) != 0) {
            return 1;
        }
    }
    free(f);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
        return write_corpus(argv[2]);
    }
    test_fnv();
    test_round_trip();
    test_no_room();
    test_truncated_corrupt();
    test_unknown_and_extension();
    test_header();
    test_blocks();
    test_execute_params();
    return check_exit();
}
