/*
 * jsonw.c - the JSON writer (jsonw.h): structure (commas, colons, indentation), the one string
 * escaping rule, and number formatting, staged in a small buffer in front of the sink.
 */
#include "common/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- staging ---- */

void
jsonw_flush(struct jsonw *w)
{
    if (w->len) {
        w->sink(w->ctx, w->buf, w->len);
        w->len = 0;
    }
}

static void
jw_put(struct jsonw *w, const char *s, size_t n)
{
    if (n > sizeof w->buf - w->len) {
        jsonw_flush(w);
        if (n >= sizeof w->buf) {
            w->sink(w->ctx, s, n);
            return;
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void
jw_putc(struct jsonw *w, char c)
{
    if (w->len == sizeof w->buf) {
        jsonw_flush(w);
    }
    w->buf[w->len++] = c;
}

void
jsonw_init(struct jsonw *w, jsonw_sink_fn *sink, void *ctx, unsigned flags)
{
    w->sink = sink;
    w->ctx = ctx;
    w->flags = flags;
    w->depth = 0;
    w->nonempty = 0;
    w->after_key = false;
    w->len = 0;
}

/* ---- structure ---- */

static uint64_t
jw_bit(unsigned depth)
{
    return (uint64_t)1 << (depth < JSONW_MAX_DEPTH ? depth : JSONW_MAX_DEPTH - 1);
}

static void
jw_newline(struct jsonw *w, unsigned depth)
{
    jw_putc(w, '\n');
    for (unsigned i = 0; i < depth; i++) {
        jw_put(w, "  ", 2);
    }
}

/* Before a value or a key: the comma and indentation its place needs. */
static void
jw_pre(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) {
        return;
    }
    if (w->nonempty & jw_bit(w->depth)) {
        jw_putc(w, ',');
    }
    w->nonempty |= jw_bit(w->depth);
    if (w->flags & JSONW_PRETTY) {
        jw_newline(w, w->depth);
    }
}

static void
jw_open(struct jsonw *w, char c)
{
    jw_pre(w);
    jw_putc(w, c);
    w->depth++;
    w->nonempty &= ~jw_bit(w->depth);
}

static void
jw_close(struct jsonw *w, char c)
{
    if (w->depth == 0) {
        return; /* unbalanced: ignored rather than writing past the top */
    }
    bool any = (w->nonempty & jw_bit(w->depth)) != 0;
    w->nonempty &= ~jw_bit(w->depth);
    w->depth--;
    if (any && (w->flags & JSONW_PRETTY)) {
        jw_newline(w, w->depth);
    }
    jw_putc(w, c);
}

void
jsonw_object_begin(struct jsonw *w)
{
    jw_open(w, '{');
}

void
jsonw_object_end(struct jsonw *w)
{
    jw_close(w, '}');
}

void
jsonw_array_begin(struct jsonw *w)
{
    jw_open(w, '[');
}

void
jsonw_array_end(struct jsonw *w)
{
    jw_close(w, ']');
}

/* ---- strings ---- */

/* Length of the valid UTF-8 sequence at s[0..n) (its code point in *cp), 0 when invalid:
 * overlong forms, surrogates, past U+10FFFF, cut short. s[0] >= 0x80. */
static size_t
jw_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *cp = v;
    return len;
}

static void
jw_u16(struct jsonw *w, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char e[6] = {
        '\\',           'u', digits[v >> 12 & 0xf], digits[v >> 8 & 0xf], digits[v >> 4 & 0xf],
        digits[v & 0xf]};
    jw_put(w, e, sizeof e);
}

/* The escaping rule of jsonw.h, between quotes. */
/* None of the eight bytes in x is a control byte, '"', '\\' or above 0x7f: all are copied as
 * they are. A borrow only carries out of a byte that is itself one of those, so a set high bit
 * never hides one; it may only flag a plain byte above a flagged one (then the loop looks). */
static bool
jw_plain8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t t = (x - 0x20 * ones) | ((x ^ ('"' * ones)) - ones) | ((x ^ ('\\' * ones)) - ones) | x;
    return (t & 0x80 * ones) == 0;
}

/* Every byte of u[0..n) is copied as it is (jw_plain8's question, for any length). */
static bool
jw_plain(const unsigned char *u, size_t n)
{
    uint64_t x;
    if (n >= 8) { /* eight at a time, the last eight overlapping the ones before */
        for (size_t i = 0; n - i > 8; i += 8) {
            memcpy(&x, u + i, 8);
            if (!jw_plain8(x)) {
                return false;
            }
        }
        memcpy(&x, u + n - 8, 8);
        return jw_plain8(x);
    }
    if (n >= 4) { /* two four-byte halves, overlapping */
        uint32_t lo, hi;
        memcpy(&lo, u, 4);
        memcpy(&hi, u + n - 4, 4);
        return jw_plain8(lo | (uint64_t)hi << 32);
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)(u[i] - 0x20) >= 0x60 || u[i] == '"' || u[i] == '\\') {
            return false;
        }
    }
    return true;
}

static void
jw_str(struct jsonw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n + 2 <= sizeof w->buf - w->len && jw_plain(u, n)) { /* most keys and values */
        char *p = w->buf + w->len;
        *p = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        w->len += n + 2;
        return;
    }
    bool ascii = (w->flags & JSONW_ASCII) != 0;
    size_t start = 0, i = 0;
    jw_putc(w, '"');
    while (i < n) {
        if (n - i >= 8) { /* eight bytes at a time while none needs a look */
            uint64_t x;
            memcpy(&x, u + i, 8);
            if (jw_plain8(x)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            uint32_t cp = 0;
            size_t l = jw_utf8_seq(u + i, n - i, &cp);
            if (l && !ascii && cp != 0x2028 && cp != 0x2029) {
                i += l;
                continue;
            }
            jw_put(w, s + start, i - start);
            if (!l) {
                jw_u16(w, c); /* not UTF-8: the byte as U+00XX */
                i++;
            } else if (cp >= 0x10000) {
                jw_u16(w, 0xd800 + ((cp - 0x10000) >> 10));
                jw_u16(w, 0xdc00 + ((cp - 0x10000) & 0x3ff));
                i += l;
            } else {
                jw_u16(w, cp);
                i += l;
            }
            start = i;
            continue;
        }
        jw_put(w, s + start, i - start);
        char esc = c == '"'    ? '"'
                   : c == '\\' ? '\\'
                   : c == '\b' ? 'b'
                   : c == '\f' ? 'f'
                   : c == '\n' ? 'n'
                   : c == '\r' ? 'r'
                   : c == '\t' ? 't'
                               : 0;
        if (esc) {
            char e[2] = {'\\', esc};
            jw_put(w, e, 2);
        } else {
            jw_u16(w, c);
        }
        i++;
        start = i;
    }
    jw_put(w, s + start, n - start);
    jw_putc(w, '"');
}

void
jsonw_keyn(struct jsonw *w, const char *k, size_t n)
{
    jw_pre(w);
    jw_str(w, k ? k : "", k ? n : 0);
    if (w->flags & JSONW_PRETTY) {
        jw_put(w, ": ", 2);
    } else {
        jw_putc(w, ':');
    }
    w->after_key = true;
}

void
jsonw_key(struct jsonw *w, const char *k)
{
    jsonw_keyn(w, k, k ? strlen(k) : 0);
}

void
jsonw_stringn(struct jsonw *w, const char *s, size_t n)
{
    if (!s) {
        jsonw_null(w);
        return;
    }
    jw_pre(w);
    jw_str(w, s, n);
}

void
jsonw_string(struct jsonw *w, const char *s)
{
    jsonw_stringn(w, s, s ? strlen(s) : 0);
}

/* ---- numbers and the rest ---- */

static void
jw_digits(struct jsonw *w, bool neg, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg) {
        tmp[--i] = '-';
    }
    jw_put(w, tmp + i, sizeof tmp - (size_t)i);
}

void
jsonw_int(struct jsonw *w, int64_t v)
{
    jw_pre(w);
    jw_digits(w, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void
jsonw_uint(struct jsonw *w, uint64_t v)
{
    jw_pre(w);
    jw_digits(w, false, v);
}

void
jsonw_double(struct jsonw *w, double v)
{
    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v);
        if (n < 0 || (size_t)n >= sizeof tmp - 2) {
            jsonw_null(w);
            return;
        }
        if (prec == 17 || strtod(tmp, NULL) == v) {
            break;
        }
    }
    bool real = false;
    for (int i = 0; i < n; i++) {
        if (tmp[i] == ',') {
            tmp[i] = '.'; /* a locale's decimal comma */
        }
        real = real || tmp[i] == '.' || tmp[i] == 'e';
    }
    if (!real) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    jw_pre(w);
    jw_put(w, tmp, (size_t)n);
}

void
jsonw_secs(struct jsonw *w, int64_t us)
{
    uint64_t a = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
    char frac[7];
    uint64_t f = a % 1000000;
    frac[0] = '.';
    for (int i = 6; i >= 1; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    size_t n = 7;
    while (n > 2 && frac[n - 1] == '0') {
        n--;
    }
    jw_pre(w);
    jw_digits(w, us < 0, a / 1000000);
    jw_put(w, frac, n);
}

void
jsonw_bool(struct jsonw *w, bool v)
{
    jw_pre(w);
    if (v) {
        jw_put(w, "true", 4);
    } else {
        jw_put(w, "false", 5);
    }
}

void
jsonw_null(struct jsonw *w)
{
    jw_pre(w);
    jw_put(w, "null", 4);
}

void
jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
    jw_pre(w);
    jw_put(w, s, n);
}

/* ---- key and value ---- */

void
jsonw_kstr(struct jsonw *w, const char *k, const char *s)
{
    jsonw_key(w, k);
    jsonw_string(w, s);
}

void
jsonw_kstrn(struct jsonw *w, const char *k, const char *s, size_t n)
{
    jsonw_key(w, k);
    jsonw_stringn(w, s, n);
}

void
jsonw_kint(struct jsonw *w, const char *k, int64_t v)
{
    jsonw_key(w, k);
    jsonw_int(w, v);
}

void
jsonw_kuint(struct jsonw *w, const char *k, uint64_t v)
{
    jsonw_key(w, k);
    jsonw_uint(w, v);
}

void
jsonw_kdouble(struct jsonw *w, const char *k, double v)
{
    jsonw_key(w, k);
    jsonw_double(w, v);
}

void
jsonw_ksecs(struct jsonw *w, const char *k, int64_t us)
{
    jsonw_key(w, k);
    jsonw_secs(w, us);
}

void
jsonw_kbool(struct jsonw *w, const char *k, bool v)
{
    jsonw_key(w, k);
    jsonw_bool(w, v);
}

void
jsonw_knull(struct jsonw *w, const char *k)
{
    jsonw_key(w, k);
    jsonw_null(w);
}

/* ---- the memory sink ---- */

void
jsonw_mem_sink(void *ctx, const char *s, size_t n)
{
    struct jsonw_mem *m = ctx;
    if (m->failed) {
        return;
    }
    if (m->cap - m->len < n + 1) {
        size_t cap = m->cap ? m->cap : 256;
        while (cap - m->len < n + 1) {
            cap *= 2;
        }
        char *p = realloc(m->data, cap);
        if (!p) {
            m->failed = true;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, s, n);
    m->len += n;
    m->data[m->len] = '\0';
}

void
jsonw_mem_free(struct jsonw_mem *m)
{
    free(m->data);
    m->data = NULL;
    m->len = m->cap = 0;
    m->failed = false;
}
