/*
 * test_jsonw.c - the shared formatters of common/: the JSON writer's exact output bytes
 * (structure, the escaping rule for quotes, control bytes, NULs, U+2028, invalid UTF-8, long
 * strings through the staging buffer, numbers, pretty and ASCII modes), ISO-8601 times and
 * the 16-hex-digit digest form. Outputs are also read back with jansson where it applies.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "common/strcopy.h"
#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "check.h"

/* One string value written alone. */
static char *
json_of(const char *s, size_t n, unsigned flags)
{
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, flags);
    jsonw_stringn(&w, s, n);
    jsonw_flush(&w);
    CHECK(!m.failed);
    return m.data;
}

static void
check_str(const char *in, size_t n, unsigned flags, const char *want)
{
    char *got = json_of(in, n, flags);
    CHECK_STR(got, want);
    free(got);
}

static void
test_escaping(void)
{
    static const struct {
        const char *name, *in;
        size_t n;
        unsigned flags;
        const char *want;
    } cases[] = {
        {"plain", "select 1", 8, 0, "\"select 1\""},
        {"empty", "", 0, 0, "\"\""},
        {"quotes and backslash", "a\"b\\c/d", 7, 0, "\"a\\\"b\\\\c/d\""},
        {"short escapes", "\b\f\n\r\t", 5, 0, "\"\\b\\f\\n\\r\\t\""},
        {"other control bytes", "\x01\x1f\x7f", 3, 0, "\"\\u0001\\u001f\x7f\""},
        {"NUL inside", "a\0b", 3, 0, "\"a\\u0000b\""},
        {"valid UTF-8 raw", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 0,
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"U+2028 U+2029",
         "a\xe2\x80\xa8"
         "b\xe2\x80\xa9",
         8, 0, "\"a\\u2028b\\u2029\""},
        {"latin-1 byte", "caf\xe9", 4, 0, "\"caf\\u00e9\""},
        {"lone continuation", "\x80", 1, 0, "\"\\u0080\""},
        {"0xff", "x\xffy", 3, 0, "\"x\\u00ffy\""},
        {"overlong slash", "\xc0\xaf", 2, 0, "\"\\u00c0\\u00af\""},
        {"overlong 3-byte", "\xe0\x80\xaf", 3, 0, "\"\\u00e0\\u0080\\u00af\""},
        {"surrogate bytes", "\xed\xa0\x80", 3, 0, "\"\\u00ed\\u00a0\\u0080\""},
        {"past U+10FFFF", "\xf4\x90\x80\x80", 4, 0, "\"\\u00f4\\u0090\\u0080\\u0080\""},
        {"cut sequence at end", "ab\xe2\x82", 4, 0, "\"ab\\u00e2\\u0082\""},
        {"cut sequence then ASCII", "\xe2\x82z", 3, 0, "\"\\u00e2\\u0082z\""},
        {"ascii: BMP", "caf\xc3\xa9\xe2\x82\xac", 8, JSONW_ASCII, "\"caf\\u00e9\\u20ac\""},
        {"ascii: astral pair", "\xf0\x9f\x98\x80", 4, JSONW_ASCII, "\"\\ud83d\\ude00\""},
        {"ascii: invalid byte", "\xe9", 1, JSONW_ASCII, "\"\\u00e9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = json_of(cases[i].in, cases[i].n, cases[i].flags);
        if (!got || strcmp(got, cases[i].want) != 0) {
            fprintf(stderr, "escaping case '%s':\n", cases[i].name);
        }
        CHECK_STR(got, cases[i].want);
        /* jansson reads it back (a strict parser); valid input comes back unchanged */
        json_error_t err;
        json_t *j = got ? json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
        CHECK(json_is_string(j));
        if (strcmp(cases[i].name, "valid UTF-8 raw") == 0 ||
            strcmp(cases[i].name, "NUL inside") == 0 ||
            strcmp(cases[i].name, "short escapes") == 0) {
            CHECK_EQ_U(json_string_length(j), cases[i].n);
            CHECK(json_string_length(j) == cases[i].n &&
                  memcmp(json_string_value(j), cases[i].in, cases[i].n) == 0);
        }
        json_decref(j);
        free(got);
    }
    check_str(NULL, 0, 0, "null");
}

/* Every single byte value alone: the output parses, and invalid bytes map to U+00XX. */
static void
test_every_byte(void)
{
    for (unsigned b = 0; b < 256; b++) {
        char in = (char)b;
        char *got = json_of(&in, 1, 0);
        json_error_t err;
        json_t *j = got ? json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
        CHECK(json_is_string(j));
        const unsigned char *v = j ? (const unsigned char *)json_string_value(j) : NULL;
        if (b < 0x80) {
            CHECK(v && json_string_length(j) == 1 && v[0] == b);
        } else { /* U+00XX in UTF-8 */
            CHECK(v && json_string_length(j) == 2 && v[0] == (0xc0 | b >> 6) &&
                  v[1] == (0x80 | (b & 0x3f)));
        }
        json_decref(j);
        free(got);
    }
}

/* Every byte at every place of runs of 1 to 19 plain letters (the writer looks at plain bytes
 * eight or four at a time): the output is the letters around the byte's own one-byte escape. */
static void
test_every_byte_every_place(void)
{
    for (unsigned b = 0; b < 256; b++) {
        char one = (char)b;
        char *alone = json_of(&one, 1, 0); /* "X": the byte's escape between quotes */
        size_t al = alone ? strlen(alone) : 0;
        CHECK(al >= 3);
        for (size_t len = 1; len <= 19 && al >= 3; len++) {
            for (size_t at = 0; at < len; at++) {
                char in[19], want[64];
                memset(in, 'a', sizeof in);
                in[at] = (char)b;
                size_t k = 0;
                want[k++] = '"';
                memset(want + k, 'a', at);
                k += at;
                memcpy(want + k, alone + 1, al - 2);
                k += al - 2;
                memset(want + k, 'a', len - at - 1);
                k += len - at - 1;
                want[k++] = '"';
                want[k] = 0;
                check_str(in, len, 0, want);
            }
        }
        free(alone);
    }
}

/* Random byte strings (mostly high bytes, so many near-UTF-8 sequences): the output always
 * parses, the ASCII mode is 7-bit, and both modes read back as the same string. */
static void
test_random(void)
{
    uint32_t x = 12345;
    for (int t = 0; t < 5000; t++) {
        char in[48];
        size_t n = (size_t)(t % 48);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            unsigned v = x >> 16 & 0xff;
            in[i] = (char)(v < 64 ? v % 0x80 : 0x80 | (v & 0x7f));
        }
        char *raw = json_of(in, n, 0), *asc = json_of(in, n, JSONW_ASCII);
        json_error_t err;
        json_t *a = raw ? json_loads(raw, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
        json_t *b = asc ? json_loads(asc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
        CHECK(json_is_string(a) && json_is_string(b));
        CHECK(a && b && json_equal(a, b));
        bool seven = asc != NULL;
        for (const char *c = asc; c && *c; c++) {
            seven = seven && (unsigned char)*c < 0x80;
        }
        CHECK(seven);
        json_decref(a);
        json_decref(b);
        free(raw);
        free(asc);
    }
}

/* Strings longer than the staging buffer, with escapes on both sides of its edges. */
static void
test_long(void)
{
    size_t n = 5 * JSONW_STAGE + 37;
    char *in = malloc(n);
    CHECK(in != NULL);
    if (!in) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = (char)(i % 97 == 0 ? '"' : i % 89 == 0 ? '\xff' : 'a' + (int)(i % 26));
    }
    char *got = json_of(in, n, 0);
    /* the expected bytes, built the slow way */
    char *want = malloc(6 * n + 3), *q = want;
    CHECK(want != NULL);
    if (got && want) {
        *q++ = '"';
        for (size_t i = 0; i < n; i++) {
            if (in[i] == '"') {
                q += sprintf(q, "\\\"");
            } else if (in[i] == '\xff') {
                q += sprintf(q, "\\u00ff");
            } else {
                *q++ = in[i];
            }
        }
        *q++ = '"';
        *q = '\0';
        CHECK_EQ_U(strlen(got), strlen(want));
        CHECK(strcmp(got, want) == 0);
    }
    free(want);
    free(got);

    /* 1 MiB of plain text passes through whole */
    size_t big = 1 << 20;
    char *b = malloc(big);
    if (b) {
        memset(b, 'x', big);
        got = json_of(b, big, 0);
        CHECK(got && strlen(got) == big + 2 && got[0] == '"' && got[big + 1] == '"' &&
              got[big / 2] == 'x');
        free(got);
        free(b);
    }
    free(in);
}

static char *
doc(unsigned flags)
{
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, flags);
    jsonw_object_begin(&w);
    jsonw_kstr(&w, "s", "v");
    jsonw_kint(&w, "i", -42);
    jsonw_kuint(&w, "u", UINT64_MAX);
    jsonw_kdouble(&w, "d", 0.1);
    jsonw_kbool(&w, "t", true);
    jsonw_knull(&w, "n");
    jsonw_key(&w, "a");
    jsonw_array_begin(&w);
    jsonw_int(&w, 1);
    jsonw_array_begin(&w);
    jsonw_array_end(&w);
    jsonw_object_begin(&w);
    jsonw_object_end(&w);
    jsonw_string(&w, NULL);
    jsonw_array_end(&w);
    jsonw_keyn(&w, "k\xff\0", 3);
    jsonw_raw(&w, "{\"x\":1}", 7);
    jsonw_object_end(&w);
    jsonw_flush(&w);
    CHECK(!m.failed);
    return m.data;
}

static void
test_structure(void)
{
    char *got = doc(0);
    CHECK_STR(got, "{\"s\":\"v\",\"i\":-42,\"u\":18446744073709551615,\"d\":0.1,\"t\":true,"
                   "\"n\":null,\"a\":[1,[],{},null],\"k\\u00ff\\u0000\":{\"x\":1}}");
    free(got);
    got = doc(JSONW_PRETTY);
    CHECK_STR(got, "{\n  \"s\": \"v\",\n  \"i\": -42,\n  \"u\": 18446744073709551615,\n"
                   "  \"d\": 0.1,\n  \"t\": true,\n  \"n\": null,\n  \"a\": [\n    1,\n    [],\n"
                   "    {},\n    null\n  ],\n  \"k\\u00ff\\u0000\": {\"x\":1}\n}");
    free(got);

    /* no key is ever dropped: a key that is not UTF-8 is in the output (jansson would have
     * refused it and lost the member) */
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, 0);
    jsonw_object_begin(&w);
    jsonw_kstr(&w, "route\xe9", "/caf\xe9");
    jsonw_kstr(&w, "after", "x");
    jsonw_object_end(&w);
    jsonw_flush(&w);
    CHECK_STR(m.data, "{\"route\\u00e9\":\"/caf\\u00e9\",\"after\":\"x\"}");
    json_error_t err;
    json_t *j = json_loads(m.data, 0, &err);
    CHECK_EQ_U(json_object_size(j), 2);
    CHECK_STR(json_string_value(json_object_get(j, "route\xc3\xa9")), "/caf\xc3\xa9");
    json_decref(j);
    jsonw_mem_free(&m);
}

static char *
num(void (*f)(struct jsonw *, double), double v)
{
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, 0);
    f(&w, v);
    jsonw_flush(&w);
    return m.data;
}

static char *
secs(int64_t us)
{
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, 0);
    jsonw_secs(&w, us);
    jsonw_flush(&w);
    return m.data;
}

static void
test_numbers(void)
{
    static const struct {
        double v;
        const char *want;
    } d[] = {
        {0.0, "0.0"},           {1.0, "1.0"},
        {-2.5, "-2.5"},         {0.1, "0.1"},
        {1e300, "1e+300"},      {1.0 / 3, "0.3333333333333333"},
        {0.002179, "0.002179"}, {1795556880.123456, "1795556880.123456"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        char *got = num(jsonw_double, d[i].v);
        CHECK_STR(got, d[i].want);
        CHECK(got && strtod(got, NULL) == d[i].v);
        free(got);
    }
    char *got = num(jsonw_double, NAN);
    CHECK_STR(got, "null");
    free(got);
    got = num(jsonw_double, INFINITY);
    CHECK_STR(got, "null");
    free(got);

    static const struct {
        int64_t us;
        const char *want;
    } s[] = {
        {0, "0.0"},           {2179, "0.002179"}, {1000000, "1.0"},
        {1500000, "1.5"},     {-500000, "-0.5"},  {1795556880123456, "1795556880.123456"},
        {999999, "0.999999"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        got = secs(s[i].us);
        CHECK_STR(got, s[i].want);
        CHECK(got && strtod(got, NULL) == (double)s[i].us / 1e6); /* what json_real gave */
        free(got);
    }
}

static void
test_time(void)
{
    char t[TIMEFMT_ISO_LEN + 1];
    timefmt_iso_utc(1795556880123456, t);
    CHECK_STR(t, "2026-11-24T21:48:00.123456Z");
    timefmt_iso_utc(1795556880000001, t); /* same second: the cached part */
    CHECK_STR(t, "2026-11-24T21:48:00.000001Z");
    timefmt_iso_utc(0, t);
    CHECK_STR(t, "1970-01-01T00:00:00.000000Z");
    timefmt_iso_utc(-5, t);
    CHECK_STR(t, "1970-01-01T00:00:00.000000Z");
    timefmt_iso_utc(951782400999999, t); /* 2000-02-29 */
    CHECK_STR(t, "2000-02-29T00:00:00.999999Z");
    CHECK_EQ_U(strlen(t), TIMEFMT_ISO_LEN);
}

static void
test_hex(void)
{
    char h[HEXFMT_U64_LEN + 1];
    hexfmt_u64(0, h);
    CHECK_STR(h, "0000000000000000");
    hexfmt_u64(0x5d1c0e3f2a9b8c7dull, h);
    CHECK_STR(h, "5d1c0e3f2a9b8c7d");
    hexfmt_u64(UINT64_MAX, h);
    CHECK_STR(h, "ffffffffffffffff");
    /* every digit value in every position, and a spread of values, against printf */
    uint64_t x = 0x0123456789abcdefull;
    for (int i = 0; i < 100000; i++) {
        char want[HEXFMT_U64_LEN + 1];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)x);
        hexfmt_u64(x, h);
        if (strcmp(h, want) != 0) {
            fprintf(stderr, "  hexfmt_u64(%s): %s\n", want, h);
        }
        CHECK_STR(h, want);
        x = i % 16 == 0 ? (x << 4 | x >> 60) : x * 6364136223846793005ull + 1442695040888963407ull;
    }
    uint64_t v = 7;
    CHECK(hexfmt_parse_u64("5D1C0E3F2A9B8C7d", &v) && v == 0x5d1c0e3f2a9b8c7dull);
    v = 7;
    CHECK(!hexfmt_parse_u64("5d1c0e3f2a9b8c7", &v) && v == 7);
    CHECK(!hexfmt_parse_u64("5d1c0e3f2a9b8c7d0", &v));
    CHECK(!hexfmt_parse_u64("0x1c0e3f2a9b8c7d", &v));
    CHECK(!hexfmt_parse_u64("5d1c0e3f 2a9b8c7", &v));
    CHECK(!hexfmt_parse_u64("", &v));
}

/* The one bounded copy: never past cap-1, never half a UTF-8 sequence, always terminated. */
static void
test_strcopy(void)
{
    char d[6];
    CHECK(strcopy(d, sizeof d, "abc", 3) == 3);
    CHECK_STR(d, "abc");
    CHECK(strcopy(d, sizeof d, "abcdefgh", 8) == 5);
    CHECK_STR(d, "abcde");
    CHECK(strcopy(d, sizeof d, "abc\xc3\xa9x", 6) == 5); /* "abcé" fits */
    CHECK_STR(d, "abc\xc3\xa9");
    CHECK(strcopy(d, sizeof d, "abcd\xc3\xa9", 6) == 4); /* é would be cut: dropped whole */
    CHECK_STR(d, "abcd");
    CHECK(strcopy(d, sizeof d, "a\xe2\x82\xac\xe2\x82\xac", 7) == 4); /* one of two euros */
    CHECK_STR(d, "a\xe2\x82\xac");
    CHECK(strcopy(d, sizeof d, NULL, 9) == 0);
    CHECK_STR(d, "");
    CHECK(strcopy_z(d, sizeof d, "hello world") == 5);
    CHECK_STR(d, "hello");
    CHECK(strcopy_z(d, sizeof d, NULL) == 0);
    CHECK_STR(d, "");
    char one[1] = {'x'};
    CHECK(strcopy_z(one, sizeof one, "abc") == 0 && one[0] == '\0');
}

int
main(void)
{
    test_escaping();
    test_every_byte();
    test_every_byte_every_place();
    test_random();
    test_long();
    test_structure();
    test_numbers();
    test_time();
    test_hex();
    test_strcopy();
    return check_exit();
}
