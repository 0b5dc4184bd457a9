/*
 * jsonw.h - the one JSON writer: every JSON that slowtap writes (the JSON slow log, the explain
 * log, the HTTP API, `slowtap report --format json`) goes through it, so all of them escape
 * strings the same way. Pure code, no I/O, no allocation: the writer stages its output in a
 * JSONW_STAGE-byte buffer and hands it to a sink function (append to a log buffer, to memory,
 * to a FILE) when that fills up and at jsonw_flush; a long run of a string that needs no
 * escaping goes to the sink directly.
 *
 * Usage (a value is a string, number, boolean, null, raw JSON, or a whole object/array):
 *
 *   struct jsonw w;
 *   jsonw_init(&w, sink, ctx, 0);
 *   jsonw_object_begin(&w);
 *   jsonw_kstr(&w, "user", user);         // key + value; a NULL string is written as null
 *   jsonw_key(&w, "plan");                // key, then any value
 *   jsonw_array_begin(&w); ... jsonw_array_end(&w);
 *   jsonw_object_end(&w);
 *   jsonw_flush(&w);                      // hands the last staged bytes to the sink
 *
 * The writer puts the commas, colons and (with JSONW_PRETTY) newlines and indentation; the
 * caller only keeps the calls balanced (key before each value inside an object, none inside an
 * array, at most JSONW_MAX_DEPTH levels). Keys and values are never dropped: every byte string
 * can be written.
 *
 * The escaping rule, for keys and strings alike (byte strings of any content, NULs included):
 * - '"' and '\' as \" and \\; \b \f \n \r \t as themselves; every other byte below 0x20 as
 *   \u00XX (lowercase hex). 0x7f and everything else printable ASCII as is.
 * - A valid UTF-8 sequence (shortest form, no surrogates, at most U+10FFFF) as is, except U+2028
 *   and U+2029 as \u2028 and \u2029 (a JSON line then stays one line for JavaScript and for
 *   line-splitting readers). With JSONW_ASCII every non-ASCII character is written \uXXXX (a
 *   surrogate pair above U+FFFF), so the output is pure ASCII.
 * - Each byte that is not part of a valid UTF-8 sequence as \u00XX, its own value: a reader
 *   sees the code point U+00XX, i.e. the byte read as Latin-1. Nothing is lost or replaced:
 *   text that was Latin-1 comes out right, and a reader can map U+0080..U+00FF back to bytes
 *   (valid UTF-8 characters in that range are written raw, so they stay distinguishable in
 *   the JSON text).
 *
 * Numbers: integers exactly; doubles in the shortest form that reads back as the same double,
 * always with a '.' or an exponent (1.0, not 1), NaN and infinities as null; jsonw_secs writes
 * a count of microseconds as seconds with up to six decimals, exactly ("0.002179").
 */
#ifndef SLOWTAP_JSONW_H
#define SLOWTAP_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives the output, n > 0 bytes at a time, in order. */
typedef void jsonw_sink_fn(void *ctx, const char *s, size_t n);

enum jsonw_flags {
    JSONW_ASCII = 1,  /* non-ASCII characters as \uXXXX: the output is 7-bit */
    JSONW_PRETTY = 2, /* a newline and two spaces per level before each member; ": " */
};

#define JSONW_MAX_DEPTH 64
#define JSONW_STAGE     256

struct jsonw {
    jsonw_sink_fn *sink;
    void *ctx;
    unsigned flags;
    unsigned depth;
    uint64_t nonempty; /* bit d: the container at depth d holds a member already */
    bool after_key;
    size_t len; /* staged bytes in buf */
    char buf[JSONW_STAGE];
};

void jsonw_init(struct jsonw *w, jsonw_sink_fn *sink, void *ctx, unsigned flags);
/* Hands whatever is staged to the sink. Call once at the end (more often is harmless). */
void jsonw_flush(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);

/* A member's key (escaped like a string); the next call writes its value. */
void jsonw_key(struct jsonw *w, const char *k);
void jsonw_keyn(struct jsonw *w, const char *k, size_t n);

/* Values. A NULL s is written as null. */
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_stringn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_secs(struct jsonw *w, int64_t us); /* microseconds as seconds: 2179 -> 0.002179 */
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* n bytes that already are one JSON value, written as they are (not checked). */
void jsonw_raw(struct jsonw *w, const char *s, size_t n);

/* Key and value in one call. */
void jsonw_kstr(struct jsonw *w, const char *k, const char *s);
void jsonw_kstrn(struct jsonw *w, const char *k, const char *s, size_t n);
void jsonw_kint(struct jsonw *w, const char *k, int64_t v);
void jsonw_kuint(struct jsonw *w, const char *k, uint64_t v);
void jsonw_kdouble(struct jsonw *w, const char *k, double v);
void jsonw_ksecs(struct jsonw *w, const char *k, int64_t us);
void jsonw_kbool(struct jsonw *w, const char *k, bool v);
void jsonw_knull(struct jsonw *w, const char *k);

/* A sink that collects the output in memory: data is NUL-terminated (when not NULL), failed
 * says an allocation failed (the output is then incomplete). Start from {0}; free with
 * jsonw_mem_free. */
struct jsonw_mem {
    char *data;
    size_t len, cap;
    bool failed;
};
void jsonw_mem_sink(void *ctx, const char *s, size_t n); /* ctx: struct jsonw_mem * */
void jsonw_mem_free(struct jsonw_mem *m);

#endif
