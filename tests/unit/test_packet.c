/*
 * test_packet.c - unit tests of protocol/proto_packet.c: header parse/write, the resumable
 * framer (packets split at every byte boundary, 0xFFFFFF payloads and their continuation and
 * empty terminating packets, several packets in one buffer), OK/ERR/EOF parsing (real packets
 * captured from MariaDB 10.11 by tests/tools/capture.py, plus synthesized edge cases) and
 * proto_err_build.
 */
#include <stdlib.h>

#include "check.h"
#include "protocol/proto_packet.h"
#include "protocol/proto_wire.h"

static void
test_hdr(void)
{
    uint8_t b[4];
    struct proto_hdr h = {0, 0};
    proto_hdr_write(b, 0x123456, 7);
    CHECK_EQ_U(b[0], 0x56);
    CHECK_EQ_U(b[1], 0x34);
    CHECK_EQ_U(b[2], 0x12);
    CHECK_EQ_U(b[3], 7);
    for (size_t avail = 0; avail < 4; avail++) {
        CHECK(proto_hdr_parse(b, avail, &h) == PROTO_AGAIN);
    }
    CHECK(proto_hdr_parse(b, 4, &h) == PROTO_OK);
    CHECK_EQ_U(h.len, 0x123456);
    CHECK_EQ_U(h.seq, 7);
    proto_hdr_write(b, PROTO_MAX_PAYLOAD, 255);
    CHECK(proto_hdr_parse(b, 4, &h) == PROTO_OK);
    CHECK_EQ_U(h.len, 0xffffff);
    CHECK_EQ_U(h.seq, 255);
    proto_hdr_write(b, 0, 0);
    CHECK(proto_hdr_parse(b, 4, &h) == PROTO_OK);
    CHECK_EQ_U(h.len, 0);
}

/* ---- framer ---- */

/* Builds a stream of packets with the given payload lengths (sequence ids counting from 0). */
static uint8_t *
build_stream(const uint32_t *lens, size_t n, size_t *total)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += 4 + lens[i];
    }
    uint8_t *s = malloc(t ? t : 1);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        proto_hdr_write(s + pos, lens[i], (uint8_t)i);
        memset(s + pos + 4, (int)(0x40 + i), lens[i]);
        pos += 4 + lens[i];
    }
    *total = t;
    return s;
}

/*
 * Runs the framer over `s` as the proxy would: input arrives in pieces of `piece` bytes (or
 * split once at `split` when piece is 0); unconsumed bytes stay buffered. Writes a trace of
 * the steps: "S<len>/<seq>" for a START header, "C<len>/<seq>" for a CONTINUATION, "b<n>" for
 * the body bytes of a packet (merged). Returns false if an invariant broke.
 */
static bool
run_framer(const uint8_t *s, size_t total, size_t piece, size_t split, char *trace, size_t cap)
{
    struct proto_framer f;
    memset(&f, 0, sizeof f);
    size_t have = 0, pos = 0, tlen = 0;
    uint64_t body = 0;
    bool ok = true;
    trace[0] = 0;
    while (pos < total) {
        /* more input */
        size_t more = piece ? piece : (have < split ? split - have : total - have);
        if (more == 0 || have + more > total) {
            more = total - have;
        }
        have += more;
        for (;;) {
            if (pos == have) {
                break;
            }
            struct proto_frame_step st;
            memset(&st, 0xaa, sizeof st);
            uint64_t before = f.body_left;
            enum proto_rc rc = proto_framer_step(&f, s + pos, have - pos, &st);
            if (rc == PROTO_AGAIN) {
                if (before != 0 || have - pos >= 4) {
                    ok = false; /* AGAIN only for an incomplete header */
                }
                break;
            }
            if (rc != PROTO_OK || st.consumed == 0 || st.consumed > have - pos) {
                return false;
            }
            pos += st.consumed;
            if (st.kind == PROTO_FRAME_BODY) {
                if (st.consumed > before || f.body_left != before - st.consumed) {
                    ok = false;
                }
                body += st.consumed;
                continue;
            }
            if (before != 0 || st.consumed != 4 || f.body_left != st.hdr.len ||
                f.seq != st.hdr.seq) {
                ok = false;
            }
            if (body) {
                tlen +=
                    (size_t)snprintf(trace + tlen, cap - tlen, "b%llu ", (unsigned long long)body);
                body = 0;
            }
            tlen += (size_t)snprintf(trace + tlen, cap - tlen, "%c%u/%u ",
                                     st.kind == PROTO_FRAME_START ? 'S' : 'C', (unsigned)st.hdr.len,
                                     (unsigned)st.hdr.seq);
        }
    }
    if (body) {
        tlen += (size_t)snprintf(trace + tlen, cap - tlen, "b%llu ", (unsigned long long)body);
    }
    if (f.body_left != 0) {
        ok = false;
    }
    return ok;
}

struct framer_case {
    const char *name;
    uint32_t lens[6];
    size_t n;
    const char *trace;
};

static const struct framer_case framer_cases[] = {
    {"one packet", {5}, 1, "S5/0 b5 "},
    {"empty packet", {0}, 1, "S0/0 "},
    {"three in one buffer", {1, 7, 0}, 3, "S1/0 b1 S7/1 b7 S0/2 "},
    {"ok eof rows", {1, 23, 5, 2, 5}, 5, "S1/0 b1 S23/1 b23 S5/2 b5 S2/3 b2 S5/4 b5 "},
    {"exactly 0xFFFFFF then empty", {0xffffff, 0}, 2, "S16777215/0 b16777215 C0/1 "},
    {"0xFFFFFF + 0xFFFFFF + 5",
     {0xffffff, 0xffffff, 5},
     3,
     "S16777215/0 b16777215 C16777215/1 b16777215 C5/2 b5 "},
    {"big packet then a new one", {0xffffff, 3, 2}, 3, "S16777215/0 b16777215 C3/1 b3 S2/2 b2 "},
    {"0xFFFFFE is not continued", {0xfffffe, 1}, 2, "S16777214/0 b16777214 S1/1 b1 "},
};

static void
test_framer_table(void)
{
    char trace[512];
    for (size_t i = 0; i < sizeof framer_cases / sizeof framer_cases[0]; i++) {
        const struct framer_case *c = &framer_cases[i];
        size_t total;
        uint8_t *s = build_stream(c->lens, c->n, &total);
        bool big = total > 1000;
        /* whole buffer at once */
        bool ok = run_framer(s, total, total, 0, trace, sizeof trace);
        if (!ok || strcmp(trace, c->trace) != 0) {
            fprintf(stderr, "framer case '%s' (whole):\n", c->name);
        }
        CHECK(ok);
        CHECK_STR(trace, c->trace);
        if (!big) {
            /* split at every byte boundary, and one byte at a time */
            for (size_t k = 1; k < total; k++) {
                ok = run_framer(s, total, 0, k, trace, sizeof trace);
                if (!ok || strcmp(trace, c->trace) != 0) {
                    fprintf(stderr, "framer case '%s' split at %zu:\n", c->name, k);
                }
                CHECK(ok);
                CHECK_STR(trace, c->trace);
            }
            ok = run_framer(s, total, 1, 0, trace, sizeof trace);
            CHECK(ok);
            CHECK_STR(trace, c->trace);
        } else {
            /* split around the packet boundaries of the big packets, and odd-sized pieces */
            size_t splits[] = {1,
                               3,
                               4,
                               5,
                               0xffffff + 3,
                               0xffffff + 4,
                               0xffffff + 5,
                               0xffffff + 7,
                               0xffffff + 8,
                               0xffffff + 9,
                               total - 1};
            for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++) {
                if (splits[k] >= total) {
                    continue;
                }
                ok = run_framer(s, total, 0, splits[k], trace, sizeof trace);
                if (!ok || strcmp(trace, c->trace) != 0) {
                    fprintf(stderr, "framer case '%s' split at %zu:\n", c->name, splits[k]);
                }
                CHECK(ok);
                CHECK_STR(trace, c->trace);
            }
            ok = run_framer(s, total, 65537, 0, trace, sizeof trace);
            CHECK(ok);
            CHECK_STR(trace, c->trace);
        }
        free(s);
    }
}

static void
test_framer_real_stream(void)
{
    /* COM_QUERY response of PyMySQL's SELECT 1 (captured: py_raw.cap), as one buffer. */
    uint8_t b[128];
    size_t n = unhex("01000001 01"
                     "17000002 036465660000000131000c3f0001000000038100000000"
                     "05000003 fe00000200"
                     "02000004 0131"
                     "05000005 fe00000200",
                     b, sizeof b);
    char trace[256];
    CHECK(run_framer(b, n, n, 0, trace, sizeof trace));
    CHECK_STR(trace, "S1/1 b1 S23/2 b23 S5/3 b5 S2/4 b2 S5/5 b5 ");
    for (size_t k = 1; k < n; k++) {
        CHECK(run_framer(b, n, 0, k, trace, sizeof trace));
        CHECK_STR(trace, "S1/1 b1 S23/2 b23 S5/3 b5 S2/4 b2 S5/5 b5 ");
    }
}

static void
test_framer_again(void)
{
    struct proto_framer f;
    struct proto_frame_step st;
    memset(&f, 0, sizeof f);
    static const uint8_t b[] = {0x02, 0x00, 0x00, 0x09, 'h', 'i'};
    for (size_t a = 0; a < 4; a++) {
        CHECK(proto_framer_step(&f, b, a, &st) == PROTO_AGAIN);
        CHECK_EQ_U(f.body_left, 0);
    }
    CHECK(proto_framer_step(&f, b, 5, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_START);
    CHECK_EQ_U(st.consumed, 4);
    CHECK_EQ_U(st.hdr.len, 2);
    CHECK_EQ_U(st.hdr.seq, 9);
    CHECK_EQ_U(f.body_left, 2);
    CHECK(!f.next_continues);
    CHECK(proto_framer_step(&f, b + 4, 1, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_BODY);
    CHECK_EQ_U(st.consumed, 1);
    CHECK_EQ_U(f.body_left, 1);
    /* more bytes than the packet: only the packet's bytes are consumed */
    static const uint8_t rest[] = {'i', 0x00, 0x00, 0x00, 0x0a};
    CHECK(proto_framer_step(&f, rest, sizeof rest, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_BODY);
    CHECK_EQ_U(st.consumed, 1);
    CHECK_EQ_U(f.body_left, 0);
    CHECK(proto_framer_step(&f, rest + 1, 4, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_START);
    CHECK_EQ_U(st.hdr.len, 0);
    CHECK_EQ_U(st.hdr.seq, 10);

    /* 0xFFFFFF header sets next_continues; the next header is a continuation */
    memset(&f, 0, sizeof f);
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0x00};
    CHECK(proto_framer_step(&f, big, 4, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_START);
    CHECK(f.next_continues);
    CHECK(!f.continues);
    CHECK_EQ_U(f.body_left, 0xffffff);
    f.body_left = 0; /* pretend the body went by */
    static const uint8_t cont[] = {0x00, 0x00, 0x00, 0x01};
    CHECK(proto_framer_step(&f, cont, 4, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_CONTINUATION);
    CHECK(f.continues);
    CHECK(!f.next_continues);
    CHECK(proto_framer_step(&f, cont, 4, &st) == PROTO_OK);
    CHECK(st.kind == PROTO_FRAME_START);
    CHECK(!f.continues);
}

/* ---- OK / ERR / EOF ---- */

static void
test_ok(void)
{
    uint8_t b[256];
    struct proto_ok ok;
    size_t n;
    /* login OK with session tracking (cli_infile.cap) */
    n = unhex("0000000240000000080106056170706462", b, sizeof b);
    memset(&ok, 0xaa, sizeof ok);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.affected_rows, 0);
    CHECK_EQ_U(ok.insert_id, 0);
    CHECK_EQ_U(ok.status, 0x4002);
    CHECK_EQ_U(ok.warnings, 0);
    /* LOAD DATA OK: 2 rows, info string (cli_infile.cap) */
    n = unhex("000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a2030"
              "20205761726e696e67733a2030",
              b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.affected_rows, 2);
    CHECK_EQ_U(ok.status, 0x0002);
    /* UPDATE without an index: status 0x22 (py_raw.cap) */
    n = unhex("0000002200000028526f7773206d6174636865643a203120204368616e6765643a2030202057"
              "61726e696e67733a2030",
              b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.status, 0x22);
    CHECK(ok.status & PROTO_SERVER_QUERY_NO_INDEX);
    /* lenenc affected rows and insert id, warnings */
    n = unhex("00 fd010203 fe0102030405060708 0a00 0300", b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.affected_rows, 0x030201);
    CHECK_EQ_U(ok.insert_id, 0x0807060504030201ull);
    CHECK_EQ_U(ok.status, 0x000a);
    CHECK_EQ_U(ok.warnings, 3);
    /* 0xFE-headed OK ending a result set under DEPRECATE_EOF (py_raw_deprecate_eof.cap) */
    n = unhex("fe000042000000", b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.status, 0x0042);
    /* too short at every length */
    n = unhex("00 fc2c01 fd010203 0200 0100", b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_OK);
    CHECK_EQ_U(ok.affected_rows, 300);
    CHECK_EQ_U(ok.warnings, 1);
    for (size_t k = 0; k < n; k++) {
        CHECK(proto_ok_parse(b, k, &ok) == PROTO_ERROR);
    }
    /* 0xFF is not OK; NULL (0xfb) is not a valid affected-rows */
    n = unhex("ff0000020000", b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_ERROR);
    n = unhex("00fb00020000", b, sizeof b);
    CHECK(proto_ok_parse(b, n, &ok) == PROTO_ERROR);
}

static void
test_err(void)
{
    uint8_t b[256];
    struct proto_err e;
    size_t n;
    /* real ERR (py_raw.cap: SELECT * FROM nosuchtable) */
    n = unhex("ff7a042334325330325461626c65202761707064622e6e6f737563687461626c652720646f6573"
              "6e2774206578697374",
              b, sizeof b);
    memset(&e, 0, sizeof e);
    CHECK(proto_err_parse(b, n, &e) == PROTO_OK);
    CHECK_EQ_U(e.code, 1146);
    CHECK_STR(e.sqlstate, "42S02");
    CHECK_EQ_U(e.msg_len, strlen("Table 'appdb.nosuchtable' doesn't exist"));
    CHECK(e.msg && memcmp(e.msg, "Table 'appdb.nosuchtable' doesn't exist", e.msg_len) == 0);
    CHECK(e.msg == b + 9);
    /* without the SQL state marker: the whole rest is the message */
    n = unhex("ff1504"
              "4163636573732064656e696564",
              b, sizeof b);
    memset(&e, 0x55, sizeof e);
    CHECK(proto_err_parse(b, n, &e) == PROTO_OK);
    CHECK_EQ_U(e.code, 1045);
    CHECK_STR(e.sqlstate, "");
    CHECK_EQ_U(e.msg_len, 13);
    CHECK(e.msg && memcmp(e.msg, "Access denied", 13) == 0);
    /* code only */
    n = unhex("ff1504", b, sizeof b);
    CHECK(proto_err_parse(b, n, &e) == PROTO_OK);
    CHECK_EQ_U(e.code, 1045);
    CHECK_EQ_U(e.msg_len, 0);
    CHECK_STR(e.sqlstate, "");
    /* marker and state, empty message */
    n = unhex("ff1504233238303030", b, sizeof b);
    CHECK(proto_err_parse(b, n, &e) == PROTO_OK);
    CHECK_STR(e.sqlstate, "28000");
    CHECK_EQ_U(e.msg_len, 0);
    /* too short, or not an ERR */
    n = unhex("ff15", b, sizeof b);
    CHECK(proto_err_parse(b, n, &e) == PROTO_ERROR);
    CHECK(proto_err_parse(b, 1, &e) == PROTO_ERROR);
    CHECK(proto_err_parse(b, 0, &e) == PROTO_ERROR);
    n = unhex("001504233238303030", b, sizeof b);
    CHECK(proto_err_parse(b, n, &e) == PROTO_ERROR);
    /* a '#' marker with a cut state must not read past the end (either result is fine) */
    n = unhex("ff15042332", b, sizeof b);
    for (size_t k = 3; k <= n; k++) {
        memset(&e, 0, sizeof e);
        enum proto_rc rc = proto_err_parse(b, k, &e);
        CHECK(rc == PROTO_OK || rc == PROTO_ERROR);
        if (rc == PROTO_OK) {
            CHECK(e.msg_len <= k);
            CHECK(strlen(e.sqlstate) <= 5);
        }
    }
}

static void
test_eof(void)
{
    uint8_t b[16];
    uint16_t w = 99, st = 99;
    size_t n = unhex("fe00000200", b, sizeof b);
    CHECK(proto_eof_parse(b, n, &w, &st) == PROTO_OK);
    CHECK_EQ_U(w, 0);
    CHECK_EQ_U(st, 2);
    n = unhex("fe03002a00", b, sizeof b);
    CHECK(proto_eof_parse(b, n, &w, &st) == PROTO_OK);
    CHECK_EQ_U(w, 3);
    CHECK_EQ_U(st, 0x2a);
    CHECK(proto_eof_parse(b, 0, &w, &st) == PROTO_ERROR);
    /* shorter EOFs (the pre-4.1 one is the lone 0xFE) are accepted; missing fields read 0 */
    n = unhex("fe", b, sizeof b);
    CHECK(proto_eof_parse(b, n, &w, &st) == PROTO_OK);
    CHECK_EQ_U(w, 0);
    CHECK_EQ_U(st, 0);
    n = unhex("0000000200", b, sizeof b);
    CHECK(proto_eof_parse(b, n, &w, &st) == PROTO_ERROR);
    /* 9 bytes or more starting with 0xFE is a row (lenenc 8-byte length), not an EOF */
    n = unhex("fe0000020000000000", b, sizeof b);
    CHECK(proto_eof_parse(b, n, &w, &st) == PROTO_ERROR);
}

static void
test_err_build(void)
{
    uint8_t buf[300];
    const char *msg = "Too many connections";
    size_t n = proto_err_build(buf, sizeof buf, 2, PROTO_ER_CON_COUNT_ERROR, "08004", msg);
    CHECK_EQ_U(n, 4 + 1 + 2 + 1 + 5 + strlen(msg));
    struct proto_hdr h;
    CHECK(proto_hdr_parse(buf, n, &h) == PROTO_OK);
    CHECK_EQ_U(h.len, n - 4);
    CHECK_EQ_U(h.seq, 2);
    struct proto_err e;
    CHECK(proto_err_parse(buf + 4, n - 4, &e) == PROTO_OK);
    CHECK_EQ_U(e.code, 1040);
    CHECK_STR(e.sqlstate, "08004");
    CHECK_EQ_U(e.msg_len, strlen(msg));
    CHECK(memcmp(e.msg, msg, e.msg_len) == 0);

    /* cut to fit: every cap from the minimum up, the canary after cap untouched */
    for (size_t cap = 13; cap <= 4 + 9 + strlen(msg) + 2; cap++) {
        memset(buf, 0xcc, sizeof buf);
        n = proto_err_build(buf, cap, 1, 1043, "08S01", msg);
        CHECK(n <= cap);
        CHECK_EQ_U(buf[cap], 0xcc);
        size_t want = cap < 13 + strlen(msg) ? cap : 13 + strlen(msg);
        CHECK_EQ_U(n, want);
        CHECK(proto_hdr_parse(buf, n, &h) == PROTO_OK);
        CHECK_EQ_U(h.len, n - 4);
        CHECK(proto_err_parse(buf + 4, n - 4, &e) == PROTO_OK);
        CHECK_EQ_U(e.code, 1043);
        CHECK_STR(e.sqlstate, "08S01");
        CHECK_EQ_U(e.msg_len, n - 13);
        CHECK(memcmp(e.msg, msg, e.msg_len) == 0);
    }
    /* a cap below the fixed part writes nothing past cap */
    for (size_t cap = 0; cap < 13; cap++) {
        memset(buf, 0xcc, sizeof buf);
        n = proto_err_build(buf, cap, 1, 1043, "08S01", msg);
        CHECK(n <= cap);
        CHECK_EQ_U(buf[cap], 0xcc);
    }
    /* a message longer than a packet can say */
    static char longmsg[600];
    memset(longmsg, 'x', sizeof longmsg - 1);
    n = proto_err_build(buf, 200, 0, 1047, "08S01", longmsg);
    CHECK_EQ_U(n, 200);
    CHECK(proto_hdr_parse(buf, n, &h) == PROTO_OK);
    CHECK_EQ_U(h.len, 196);
}

/* The codes slowtap sends are the server's numbers, each with the server's SQLSTATE. */
static void
test_err_sqlstate(void)
{
    static const struct {
        unsigned code, number;
        const char *state;
    } cases[] = {
        {PROTO_ER_OUT_OF_RESOURCES, 1037, "HY001"},
        {PROTO_ER_CON_COUNT_ERROR, 1040, "08004"},
        {PROTO_ER_HANDSHAKE_ERROR, 1043, "08S01"},
        {PROTO_ER_UNKNOWN_COM_ERROR, 1047, "08S01"},
        {PROTO_ER_UNKNOWN_ERROR, 1105, "HY000"},
        {PROTO_ER_NET_PACKETS_OUT_OF_ORDER, 1156, "08S01"},
        {PROTO_ER_SECURE_TRANSPORT_REQUIRED, 3159, "08004"},
        {1146, 1146, "HY000"}, /* not one of them: a general error */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_U(cases[i].code, cases[i].number);
        CHECK_STR(proto_err_sqlstate((uint16_t)cases[i].code), cases[i].state);
        CHECK_EQ_U(strlen(proto_err_sqlstate((uint16_t)cases[i].code)), 5);
    }
}

int
main(void)
{
    test_hdr();
    test_framer_again();
    test_framer_table();
    test_framer_real_stream();
    test_ok();
    test_err();
    test_eof();
    test_err_build();
    test_err_sqlstate();
    return check_exit();
}
