/*
 * proto_stmt.c - prepared statements on the wire: COM_STMT_PREPARE OK, statement-id heads,
 * COM_STMT_SEND_LONG_DATA, the binary-protocol parameters of COM_STMT_EXECUTE and MariaDB's
 * COM_STMT_BULK_EXECUTE rendered as SQL literals, and `?` substitution into the statement text.
 *
 * Value encodings follow the binary protocol (MySQL page_protocol_binary_resultset, MariaDB
 * "Binary protocol"): fixed little-endian integers and IEEE floats, length-encoded strings,
 * and a length byte followed by the fields for temporal values.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_sqllex.h"
#include "protocol/proto_stmt.h"
#include "protocol/proto_wire.h"

#define STMT_UNSIGNED_FLAG 0x80
#define LIT_STACK          256

enum proto_rc
proto_prepare_ok_parse(const uint8_t *p, size_t len, uint32_t *stmt_id, uint16_t *cols,
                       uint16_t *params)
{
    if (len < 12 || p[0] != PROTO_OK_HDR) {
        return PROTO_ERROR;
    }
    *stmt_id = proto_le32(p + 1);
    *cols = proto_le16(p + 5);
    *params = proto_le16(p + 7);
    return PROTO_OK;
}

enum proto_rc
proto_stmt_id_parse(const uint8_t *p, size_t len, uint32_t *stmt_id)
{
    if (len < 5) {
        return PROTO_ERROR;
    }
    switch (p[0]) {
    case PROTO_COM_STMT_EXECUTE:
    case PROTO_COM_STMT_SEND_LONG_DATA:
    case PROTO_COM_STMT_CLOSE:
    case PROTO_COM_STMT_RESET:
    case PROTO_COM_STMT_FETCH:
    case PROTO_COM_STMT_BULK_EXECUTE:
        break;
    default:
        return PROTO_ERROR;
    }
    *stmt_id = proto_le32(p + 1);
    return PROTO_OK;
}

enum proto_rc
proto_long_data_parse(const uint8_t *p, size_t len, uint32_t *stmt_id, uint16_t *param,
                      const uint8_t **data, size_t *data_len)
{
    if (len < 7 || p[0] != PROTO_COM_STMT_SEND_LONG_DATA) {
        return PROTO_ERROR;
    }
    *stmt_id = proto_le32(p + 1);
    *param = proto_le16(p + 5);
    *data = p + 7;
    *data_len = len - 7;
    return PROTO_OK;
}

/* Length of one backslash escape of byte c (1 when c needs none) and its second char. */
static size_t
quote_esc(uint8_t c, char *esc)
{
    switch (c) {
    case 0:
        *esc = '0';
        return 2;
    case '\n':
        *esc = 'n';
        return 2;
    case '\r':
        *esc = 'r';
        return 2;
    case 0x1a:
        *esc = 'Z';
        return 2;
    case '\'':
    case '"':
    case '\\':
        *esc = (char)c;
        return 2;
    default:
        return 1;
    }
}

static const char quote_hex[] = "0123456789abcdef";

/* Under NO_BACKSLASH_ESCAPES: true when s[0..n) holds a byte that cannot be written without a
 * backslash (NUL, ^Z), so the value is written as X'hex'. */
static bool
quote_needs_hex(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0 || s[i] == 0x1a) {
            return true;
        }
    }
    return false;
}

/* X'hex' of s[0..n), cut to whole bytes; 0 when cap < 3 (out NULL: the length needed). */
static size_t
quote_hex_lit(const uint8_t *s, size_t n, char *out, size_t cap)
{
    if (!out) {
        return 3 + 2 * n;
    }
    if (cap < 3) {
        return 0;
    }
    size_t pos = 0;
    out[pos++] = 'X';
    out[pos++] = '\'';
    for (size_t i = 0; i < n && pos + 3 <= cap; i++) {
        out[pos++] = quote_hex[s[i] >> 4];
        out[pos++] = quote_hex[s[i] & 0xf];
    }
    out[pos++] = '\'';
    if (pos < cap) {
        out[pos] = '\0';
    }
    return pos;
}

/* NO_BACKSLASH_ESCAPES: a quote is doubled, every other byte is itself. */
static size_t
quote_nbe(const uint8_t *s, size_t n, char *out, size_t cap)
{
    if (!out) {
        size_t need = 2;
        for (size_t i = 0; i < n; i++) {
            need += s[i] == '\'' ? 2 : 1;
        }
        return need;
    }
    if (cap < 2) {
        return 0;
    }
    size_t pos = 0;
    out[pos++] = '\'';
    for (size_t i = 0; i < n; i++) {
        size_t e = s[i] == '\'' ? 2 : 1;
        if (pos + e + 1 > cap) {
            break;
        }
        out[pos++] = (char)s[i];
        if (e == 2) {
            out[pos++] = '\'';
        }
    }
    out[pos++] = '\'';
    if (pos < cap) {
        out[pos] = '\0';
    }
    return pos;
}

size_t
proto_sql_quote(const uint8_t *s, size_t n, unsigned sqlmode, char *out, size_t cap)
{
    char esc;
    if (sqlmode & PROTO_SQLMODE_NO_BACKSLASH_ESCAPES) {
        return quote_needs_hex(s, n) ? quote_hex_lit(s, n, out, cap) : quote_nbe(s, n, out, cap);
    }
    if (!out) {
        size_t need = 2;
        for (size_t i = 0; i < n; i++) {
            need += quote_esc(s[i], &esc);
        }
        return need;
    }
    if (cap < 2) {
        return 0;
    }
    size_t pos = 0;
    out[pos++] = '\'';
    for (size_t i = 0; i < n; i++) {
        size_t e = quote_esc(s[i], &esc);
        if (pos + e + 1 > cap) {
            break;
        }
        if (e == 2) {
            out[pos++] = '\\';
            out[pos++] = esc;
        } else {
            out[pos++] = (char)s[i];
        }
    }
    out[pos++] = '\'';
    if (pos < cap) {
        out[pos] = '\0';
    }
    return pos;
}

/* Length of the UTF-8 sequence starting at s[0..n), 0 if invalid, or SIZE_MAX when it is a
 * valid but incomplete prefix cut by the end of the buffer. */
static size_t
utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    uint32_t cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if (i >= n) {
            return SIZE_MAX;
        }
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/*
 * Whether s[0..*n) is text fit for a quoted literal: valid UTF-8 without control bytes other
 * than tab, LF and CR. When `cut` (the value continues past n), a sequence cut by the end is
 * dropped from *n.
 */
static bool
is_text(const uint8_t *s, size_t *n, bool cut)
{
    size_t i = 0;
    while (i < *n) {
        uint8_t c = s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            return false;
        }
        size_t l = utf8_seq(s + i, *n - i);
        if (l == SIZE_MAX && cut) {
            *n = i;
            return true;
        }
        if (l == 0 || l == SIZE_MAX) {
            return false;
        }
        i += l;
    }
    return true;
}

/* DECIMAL text as the server would accept it unquoted: [-+]digits[.digits][e[-+]digits]. */
static bool
is_decimal_text(const uint8_t *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) {
            i++;
        }
        size_t exp = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0) {
            return false;
        }
    }
    return i == n;
}

static void
emit(const struct proto_param_sink *sink, unsigned idx, const char *lit, size_t len, bool cut)
{
    if (sink && sink->param) {
        sink->param(sink->ctx, idx, lit, len, cut);
    }
}

/*
 * Renders raw bytes as a literal: `n` bytes available of a value `total` bytes long. DECIMAL
 * types stay unquoted when numeric and whole.
 */
static void
emit_bytes(const struct proto_param_sink *sink, unsigned idx, uint8_t type, const uint8_t *s,
           size_t n, size_t total)
{
    if (!sink || !sink->param) {
        return;
    }
    size_t shown = n;
    if (sink->max_value && shown > sink->max_value) {
        shown = sink->max_value;
    }
    bool cut = shown < total;
    char stack[LIT_STACK];
    char *buf = stack;
    size_t cap = sizeof stack;
    size_t need = 3 + 2 * shown + 1; /* X'..' or '..' with every byte escaped, and a NUL */
    if (need > cap) {
        buf = malloc(need);
        if (buf) {
            cap = need;
        } else {
            buf = stack;
            shown = (cap - 4) / 2;
            cut = true;
        }
    }
    size_t len;
    if (!cut && (type == PROTO_TYPE_DECIMAL || type == PROTO_TYPE_NEWDECIMAL) &&
        is_decimal_text(s, shown)) {
        memcpy(buf, s, shown);
        len = shown;
        buf[len] = '\0';
    } else if (is_text(s, &shown, cut)) {
        len = proto_sql_quote(s, shown, sink->sql_mode, buf, cap);
    } else {
        len = quote_hex_lit(s, shown, buf, cap);
    }
    emit(sink, idx, buf, len, cut);
    if (buf != stack) {
        free(buf);
    }
}

/* Shortest %g form that reads back as the same double (or float when `single`). */
static int
fmt_real(char *out, size_t cap, double v, bool single)
{
    if (isnan(v)) {
        return snprintf(out, cap, "'nan'");
    }
    if (isinf(v)) {
        return snprintf(out, cap, v < 0 ? "'-inf'" : "'inf'");
    }
    int maxp = single ? 9 : 17;
    int n = 0;
    for (int prec = 1; prec <= maxp; prec++) {
        n = snprintf(out, cap, "%.*g", prec, v);
        if (single ? strtof(out, NULL) == (float)v : strtod(out, NULL) == v) {
            break;
        }
    }
    return n;
}

static bool
is_string_type(uint8_t t)
{
    switch (t) {
    case PROTO_TYPE_DECIMAL:
    case PROTO_TYPE_NEWDECIMAL:
    case PROTO_TYPE_VARCHAR:
    case PROTO_TYPE_BIT:
    case PROTO_TYPE_JSON:
    case PROTO_TYPE_ENUM:
    case PROTO_TYPE_SET:
    case PROTO_TYPE_TINY_BLOB:
    case PROTO_TYPE_MEDIUM_BLOB:
    case PROTO_TYPE_LONG_BLOB:
    case PROTO_TYPE_BLOB:
    case PROTO_TYPE_VAR_STRING:
    case PROTO_TYPE_STRING:
    case PROTO_TYPE_GEOMETRY:
        return true;
    default:
        return false;
    }
}

/* DATE/DATETIME/TIMESTAMP: length byte (0, 4, 7, 11), year (2), month, day, hour, minute,
 * second, microseconds (4). Like the server, fields past the length are zero. */
static int
fmt_datetime(char *out, size_t cap, const uint8_t *v, size_t n, bool date_only)
{
    unsigned year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
    uint32_t usec = 0;
    if (n >= 4) {
        year = proto_le16(v);
        mon = v[2];
        day = v[3];
    }
    if (n >= 7) {
        hour = v[4];
        min = v[5];
        sec = v[6];
    }
    if (n >= 11) {
        usec = proto_le32(v + 7);
    }
    if (date_only) {
        return snprintf(out, cap, "'%04u-%02u-%02u'", year, mon, day);
    }
    if (n >= 11) {
        return snprintf(out, cap, "'%04u-%02u-%02u %02u:%02u:%02u.%06" PRIu32 "'", year, mon, day,
                        hour, min, sec, usec);
    }
    return snprintf(out, cap, "'%04u-%02u-%02u %02u:%02u:%02u'", year, mon, day, hour, min, sec);
}

/* TIME: length byte (0, 8, 12), is_negative, days (4), hour, minute, second, microseconds. */
static int
fmt_time(char *out, size_t cap, const uint8_t *v, size_t n)
{
    bool neg = false;
    uint64_t hours = 0;
    unsigned min = 0, sec = 0;
    uint32_t usec = 0;
    if (n >= 8) {
        neg = v[0] != 0;
        hours = (uint64_t)proto_le32(v + 1) * 24 + v[5];
        min = v[6];
        sec = v[7];
    }
    if (n >= 12) {
        usec = proto_le32(v + 8);
        return snprintf(out, cap, "'%s%02" PRIu64 ":%02u:%02u.%06" PRIu32 "'", neg ? "-" : "",
                        hours, min, sec, usec);
    }
    return snprintf(out, cap, "'%s%02" PRIu64 ":%02u:%02u'", neg ? "-" : "", hours, min, sec);
}

/* Reads one binary-protocol value of type t from r and renders it. false when malformed. */
/* Writes v in decimal into out (at least 21 bytes) and a NUL; returns its length. snprintf's
 * "%" PRIu64 costs ten times as much, and every integer parameter passes here. */
static int
fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
    return n;
}

static int
fmt_i64(char *out, int64_t v)
{
    if (v >= 0) {
        return fmt_u64(out, (uint64_t)v);
    }
    out[0] = '-';
    return 1 + fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
}

static bool
decode_value(struct proto_rd *r, struct proto_param_type t, unsigned idx,
             const struct proto_param_sink *sink)
{
    char num[96];
    int n;
    const uint8_t *v;
    size_t vlen;
    switch (t.type) {
    case PROTO_TYPE_NULL:
        emit(sink, idx, "NULL", 4, false);
        return true;
    case PROTO_TYPE_TINY: {
        uint8_t x = proto_rd_u8(r);
        n = t.is_unsigned ? fmt_u64(num, x) : fmt_i64(num, (int8_t)x);
        break;
    }
    case PROTO_TYPE_SHORT:
    case PROTO_TYPE_YEAR: {
        uint16_t x = proto_rd_u16(r);
        n = t.is_unsigned ? fmt_u64(num, x) : fmt_i64(num, (int16_t)x);
        break;
    }
    case PROTO_TYPE_INT24:
    case PROTO_TYPE_LONG: {
        uint32_t x = proto_rd_u32(r);
        n = t.is_unsigned ? fmt_u64(num, x) : fmt_i64(num, (int32_t)x);
        break;
    }
    case PROTO_TYPE_LONGLONG: {
        uint64_t x = proto_rd_u64(r);
        n = t.is_unsigned ? fmt_u64(num, x) : fmt_i64(num, (int64_t)x);
        break;
    }
    case PROTO_TYPE_FLOAT: {
        uint32_t x = proto_rd_u32(r);
        float f;
        memcpy(&f, &x, sizeof f);
        n = fmt_real(num, sizeof num, f, true);
        break;
    }
    case PROTO_TYPE_DOUBLE: {
        uint64_t x = proto_rd_u64(r);
        double d;
        memcpy(&d, &x, sizeof d);
        n = fmt_real(num, sizeof num, d, false);
        break;
    }
    case PROTO_TYPE_DATE:
    case PROTO_TYPE_NEWDATE:
    case PROTO_TYPE_DATETIME:
    case PROTO_TYPE_TIMESTAMP:
        vlen = proto_rd_u8(r);
        v = proto_rd_bytes(r, vlen);
        if (r->err) {
            return false;
        }
        n = fmt_datetime(num, sizeof num, v, vlen,
                         t.type == PROTO_TYPE_DATE || t.type == PROTO_TYPE_NEWDATE);
        break;
    case PROTO_TYPE_TIME:
        vlen = proto_rd_u8(r);
        v = proto_rd_bytes(r, vlen);
        if (r->err) {
            return false;
        }
        n = fmt_time(num, sizeof num, v, vlen);
        break;
    default:
        if (!is_string_type(t.type)) {
            return false;
        }
        v = proto_rd_lenenc_str(r, &vlen);
        if (r->err) {
            return false;
        }
        emit_bytes(sink, idx, t.type, v, vlen, vlen);
        return true;
    }
    if (r->err) {
        return false;
    }
    emit(sink, idx, num, (size_t)n, false);
    return true;
}

/* Reads nparams 2-byte types into `types` when all of them are present. */
static bool
read_types(struct proto_rd *r, uint16_t nparams, struct proto_param_type *types)
{
    const uint8_t *tb = proto_rd_bytes(r, (size_t)nparams * 2);
    if (!tb) {
        return false;
    }
    for (uint16_t i = 0; i < nparams; i++) {
        types[i].type = tb[2 * i];
        types[i].is_unsigned = (tb[2 * i + 1] & STMT_UNSIGNED_FLAG) != 0;
    }
    return true;
}

enum proto_rc
proto_execute_params(const uint8_t *p, size_t len, uint16_t nparams, struct proto_param_type *types,
                     const struct proto_long_data *long_data, const struct proto_param_sink *sink)
{
    struct proto_rd r;
    proto_rd_init(&r, p, len);
    uint8_t cmd = proto_rd_u8(&r);
    proto_rd_skip(&r, 4 + 1 + 4); /* stmt id, cursor flags, iteration count */
    if (r.err || cmd != PROTO_COM_STMT_EXECUTE) {
        return PROTO_ERROR;
    }
    if (nparams == 0) {
        return PROTO_OK;
    }
    const uint8_t *nulls = proto_rd_bytes(&r, ((size_t)nparams + 7) / 8);
    uint8_t bound = proto_rd_u8(&r);
    if (r.err || bound > 1) { /* MariaDB: ER_MALFORMED_PACKET, its types left as they were */
        return PROTO_ERROR;
    }
    if (bound && !read_types(&r, nparams, types)) {
        return PROTO_ERROR;
    }
    for (uint16_t i = 0; i < nparams; i++) {
        if (long_data && long_data[i].present) {
            const struct proto_long_data *ld = &long_data[i];
            size_t total = ld->total > ld->len ? ld->total : ld->len;
            emit_bytes(sink, i, types[i].type, ld->data, ld->data ? ld->len : 0, total);
            continue;
        }
        if (nulls[i / 8] & (1u << (i % 8))) {
            emit(sink, i, "NULL", 4, false);
            continue;
        }
        if (!decode_value(&r, types[i], i, sink)) {
            return PROTO_ERROR;
        }
    }
    return PROTO_OK;
}

enum proto_rc
proto_bulk_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                          struct proto_param_type *types, const struct proto_param_sink *sink,
                          uint32_t *rows)
{
    struct proto_rd r;
    proto_rd_init(&r, p, len);
    *rows = 0;
    uint8_t cmd = proto_rd_u8(&r);
    proto_rd_skip(&r, 4); /* stmt id */
    uint16_t flags = proto_rd_u16(&r);
    if (r.err || cmd != PROTO_COM_STMT_BULK_EXECUTE) {
        return PROTO_ERROR;
    }
    if ((flags & PROTO_BULK_SEND_TYPES_TO_SERVER) && !read_types(&r, nparams, types)) {
        return PROTO_ERROR;
    }
    if (nparams == 0) {
        return proto_rd_left(&r) == 0 ? PROTO_OK : PROTO_ERROR;
    }
    uint32_t n = 0;
    while (proto_rd_left(&r) > 0) {
        const struct proto_param_sink *row_sink = n == 0 ? sink : NULL;
        for (uint16_t i = 0; i < nparams; i++) {
            uint8_t ind = proto_rd_u8(&r);
            if (r.err) {
                return PROTO_ERROR;
            }
            switch (ind) {
            case PROTO_BULK_IND_NONE:
                if (!decode_value(&r, types[i], i, row_sink)) {
                    return PROTO_ERROR;
                }
                break;
            case PROTO_BULK_IND_NULL:
                emit(row_sink, i, "NULL", 4, false);
                break;
            case PROTO_BULK_IND_DEFAULT:
            case PROTO_BULK_IND_IGNORE:
                emit(row_sink, i, "DEFAULT", 7, false);
                break;
            default:
                return PROTO_ERROR;
            }
        }
        if (n == UINT32_MAX) {
            return PROTO_ERROR;
        }
        n++;
    }
    *rows = n;
    return PROTO_OK;
}

/* Appends n bytes to out (capacity cap, one byte kept for the NUL), counting them all. */
static void
sub_put(char *out, size_t cap, size_t *total, const char *s, size_t n)
{
    if (cap > 0 && *total < cap - 1) {
        size_t room = cap - 1 - *total;
        memcpy(out + *total, s, n < room ? n : room);
    }
    *total += n;
}

/* The offset of the next `?` placeholder token, SIZE_MAX when none is left. */
static size_t
next_param(struct proto_sqllex *lx)
{
    struct proto_sqltok t;
    while (proto_sqllex_next(lx, &t) != PROTO_TOK_END) {
        if (t.kind == PROTO_TOK_PARAM) {
            return t.start;
        }
    }
    return SIZE_MAX;
}

/* Placeholder k's literal, or `?` when it has none. */
static void
put_param(char *out, size_t cap, size_t *total, unsigned k, const char *const *literals,
          const size_t *lit_lens, unsigned nlit)
{
    if (k < nlit && literals[k]) {
        sub_put(out, cap, total, literals[k], lit_lens[k]);
    } else {
        sub_put(out, cap, total, "?", 1);
    }
}

static size_t
sub_end(char *out, size_t cap, size_t total)
{
    if (cap > 0) {
        out[total < cap - 1 ? total : cap - 1] = '\0';
    }
    return total;
}

size_t
proto_substitute(const char *sql, size_t sql_len, unsigned sqlmode, const char *const *literals,
                 const size_t *lit_lens, unsigned nlit, char *out, size_t cap)
{
    size_t total = 0, at = 0, p;
    struct proto_sqllex lx;
    proto_sqllex_init(&lx, sql, sql_len, sqlmode);
    for (unsigned k = 0; (p = next_param(&lx)) != SIZE_MAX; k++) {
        sub_put(out, cap, &total, sql + at, p - at);
        put_param(out, cap, &total, k, literals, lit_lens, nlit);
        at = p + 1;
    }
    sub_put(out, cap, &total, sql + at, sql_len - at);
    return sub_end(out, cap, total);
}

unsigned
proto_placeholders(const char *sql, size_t sql_len, unsigned sqlmode, uint32_t *offs, unsigned max)
{
    unsigned n = 0;
    size_t p;
    struct proto_sqllex lx;
    proto_sqllex_init(&lx, sql, sql_len, sqlmode);
    for (; (p = next_param(&lx)) != SIZE_MAX; n++) {
        if (n < max) {
            offs[n] = (uint32_t)p;
        }
    }
    return n;
}

size_t
proto_substitute_at(const char *sql, size_t sql_len, const uint32_t *offs, unsigned nph,
                    const char *const *literals, const size_t *lit_lens, unsigned nlit, char *out,
                    size_t cap)
{
    size_t total = 0, at = 0;
    for (unsigned k = 0; k < nph; k++) {
        sub_put(out, cap, &total, sql + at, offs[k] - at);
        put_param(out, cap, &total, k, literals, lit_lens, nlit);
        at = offs[k] + 1;
    }
    sub_put(out, cap, &total, sql + at, sql_len - at);
    return sub_end(out, cap, total);
}
