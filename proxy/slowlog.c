/*
 * slowlog.c - formats a statement record (struct rec) as one slow-log entry into a per-thread
 * log buffer: MariaDB's slow-log text format, or one JSON object per line.
 *
 * The text path writes straight into the log buffer with hand-rolled number formatting (no
 * allocation beyond the reused buffer); redaction uses per-thread scratch buffers that grow
 * to the largest statement seen and are then reused.
 */
#include "slowlog.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../protocol/proto.h"

/* The command's name, or its number in decimal for commands without one. */
static const char *
slowlog_cmd_label(uint8_t cmd, char buf[4])
{
    const char *name = proto_com_name(cmd);
    if (name) {
        return name;
    }
    int i = 0;
    if (cmd >= 100) {
        buf[i++] = (char)('0' + cmd / 100);
    }
    if (cmd >= 10) {
        buf[i++] = (char)('0' + cmd / 10 % 10);
    }
    buf[i++] = (char)('0' + cmd % 10);
    buf[i] = '\0';
    return buf;
}

/* ---- redaction scratch (per thread, reused) ---- */

struct slowlog_scratch {
    char *buf;
    size_t cap;
};

static _Thread_local struct slowlog_scratch slowlog_scratch[4];

/* Runs s[0..n) through filter_redact into scratch slot `slot`; *out_len gets the length. */
static const char *
slowlog_redact(const struct filter *f, int slot, const char *s, size_t n, size_t *out_len)
{
    struct slowlog_scratch *sc = &slowlog_scratch[slot];
    size_t want = 2 * n + 256;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (sc->cap < want) {
            char *nb = realloc(sc->buf, want);
            if (!nb) {
                break;
            }
            sc->buf = nb;
            sc->cap = want;
        }
        size_t got = filter_redact(f, s, n, sc->buf, sc->cap);
        if (got + 1 < sc->cap) {
            *out_len = got;
            return sc->buf;
        }
        want = sc->cap * 2; /* possibly cut: retry bigger */
    }
    /* Out of memory: never log the unredacted text. */
    *out_len = 1;
    return "?";
}

/* ---- text format ---- */

static void
put(struct logbuf *b, const char *s)
{
    logbuf_add(b, s, strlen(s));
}

static void
put_u64(struct logbuf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    logbuf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/* Microseconds as seconds with six decimals. */
static void
put_secs(struct logbuf *b, uint64_t us)
{
    char frac[7];
    uint64_t f = us % 1000000;
    put_u64(b, us / 1000000);
    frac[0] = '.';
    for (int i = 6; i >= 1; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    logbuf_add(b, frac, 7);
}

/*
 * A value inside a "# ..." header line: '\n' and '\r' are written as the two characters "\n"
 * and "\r" (and, with `tabs`, a tab as "\t"), other control characters as '?', so a value can
 * never end its line.
 */
static void
put_field(struct logbuf *b, const char *s, size_t n, bool tabs)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 || (c == '\t' && !tabs)) {
            continue;
        }
        logbuf_add(b, s + start, i - start);
        if (c == '\n') {
            logbuf_add(b, "\\n", 2);
        } else if (c == '\r') {
            logbuf_add(b, "\\r", 2);
        } else if (c == '\t') {
            logbuf_add(b, "\\t", 2);
        } else {
            logbuf_add(b, "?", 1);
        }
        start = i + 1;
    }
    logbuf_add(b, s + start, n - start);
}

static void
put_fields(struct logbuf *b, const char *s)
{
    put_field(b, s, strnlen(s, 256), false);
}

/* "2026-11-24T21:48:00.123456Z" (27 characters) into out[28]. */
static void
slowlog_iso_time(int64_t wall_us, char out[28])
{
    if (wall_us < 0) {
        wall_us = 0;
    }
    time_t secs = (time_t)(wall_us / 1000000);
    long us = (long)(wall_us % 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900;
    if (year > 9999) {
        year = 9999;
    }
    int vals[6] = {year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    char *p = out;
    static const char seps[6] = {'-', '-', 'T', ':', ':', '.'};
    for (int i = 0; i < 6; i++) {
        int v = vals[i];
        if (i == 0) {
            *p++ = (char)('0' + v / 1000);
            *p++ = (char)('0' + v / 100 % 10);
        }
        *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = seps[i];
    }
    for (int i = 5; i >= 0; i--) {
        p[i] = (char)('0' + us % 10);
        us /= 10;
    }
    p += 6;
    *p++ = 'Z';
    *p = '\0';
}

static void
slowlog_hex(uint64_t v, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[16] = '\0';
}

/*
 * The statement, framed so that it cannot be read as anything but this entry's statement:
 * trailing whitespace is removed, every line that begins with '#' (the first line included)
 * is written with one space before the '#', and ";\n" ends it (";" is not doubled when the
 * statement already ends with one).
 */
static void
put_statement(struct logbuf *b, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
                     s[n - 1] == '\f' || s[n - 1] == '\v')) {
        n--;
    }
    size_t start = 0;
    bool line_start = true;
    for (size_t i = 0; i < n; i++) {
        if (line_start && s[i] == '#') {
            logbuf_add(b, s + start, i - start);
            logbuf_add(b, " ", 1);
            start = i;
        }
        line_start = s[i] == '\n';
    }
    logbuf_add(b, s + start, n - start);
    if (n == 0 || s[n - 1] != ';') {
        logbuf_add(b, ";", 1);
    }
    logbuf_add(b, "\n", 1);
}

/* MariaDB's own "# Time:" form, "261124 21:48:00.123456" (UTC), into out[23]: the one
 * mariadb-dumpslow reads (it skips ISO times); pt-query-digest reads both. */
static void
slowlog_mariadb_time(int64_t wall_us, char out[23])
{
    char iso[28];
    slowlog_iso_time(wall_us, iso); /* 2026-11-24T21:48:00.123456Z */
    memcpy(out, iso + 2, 2);
    memcpy(out + 2, iso + 5, 2);
    memcpy(out + 4, iso + 8, 2);
    out[6] = ' ';
    memcpy(out + 7, iso + 11, 15);
    out[22] = '\0';
}

static void
slowlog_write_text(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    char tbuf[28], hex[17], num[4];

    logbuf_begin(b);
    slowlog_mariadb_time(r->start_wall_us, tbuf);
    put(b, "# Time: ");
    logbuf_add(b, tbuf, 22);

    put(b, "\n# User@Host: ");
    size_t ulen = strnlen(r->user, sizeof(r->user));
    put_field(b, r->user, ulen, false);
    put(b, "[");
    put_field(b, r->user, ulen, false);
    if (r->host[0]) {
        put(b, "] @  [");
        put_field(b, r->host, strnlen(r->host, sizeof(r->host)), false);
        put(b, "]\n");
    } else {
        put(b, "] @ localhost []\n");
    }

    put(b, "# Thread_id: ");
    put_u64(b, r->thread_id);
    put(b, "  Schema: ");
    put_field(b, r->schema, strnlen(r->schema, sizeof(r->schema)), false);
    put(b, "  QC_hit: No\n# Query_time: ");
    put_secs(b, r->query_us);
    put(b, "  Lock_time: 0.000000  Rows_sent: ");
    put_u64(b, r->rows_sent);
    put(b, "  Rows_examined: 0\n# Rows_affected: ");
    put_u64(b, r->rows_affected);
    put(b, "  Bytes_sent: ");
    put_u64(b, r->bytes_sent);
    put(b, (r->status & 0x20) ? "\n# No_index_used: Yes" : "\n# No_index_used: No");
    put(b, (r->status & 0x10) ? "  No_good_index_used: Yes\n" : "  No_good_index_used: No\n");
    slowlog_hex(r->digest, hex);
    put(b, "# Digest: ");
    logbuf_add(b, hex, 16);
    put(b, "\n");

    if (r->params) {
        const char *p = r->params;
        size_t plen = strlen(p);
        if (redact) {
            p = slowlog_redact(f, 1, p, plen, &plen);
        }
        put(b, "# Params: ");
        put_field(b, p, plen, false);
        put(b, "\n");
    }
    if (r->bulk_rows) {
        put(b, "# Bulk_rows: ");
        put_u64(b, r->bulk_rows);
        put(b, "\n");
    }
    if (r->sql_truncated) {
        put(b, "# Truncated: Yes\n"); /* the statement below is its first part */
    }
    if (r->err_code) {
        put(b, "# Error: ");
        put_u64(b, r->err_code);
        put(b, "  ");
        put_fields(b, r->err_msg);
        put(b, "\n");
    }
    if (r->plan) {
        char flags[128];
        plan_flags_format(r->plan->flags, flags, sizeof(flags));
        put(b, "# ");
        put_fields(b, flags);
        put(b, "\n");
        const char *src = rec_explain_source_name(r->explain_source);
        if (src) {
            put(b, "# Explain: ");
            put(b, src);
            put(b, "\n");
        }
        put(b, "# explain:");
        for (int c = 0; c < PLAN_NCOLS; c++) {
            put(b, c ? "\t" : " ");
            put(b, plan_col_names[c]);
        }
        put(b, "\n");
        for (size_t i = 0; i < r->plan->nrows; i++) {
            put(b, "# explain:");
            for (int c = 0; c < PLAN_NCOLS; c++) {
                const char *v = r->plan->rows[i].col[c];
                put(b, c ? "\t" : " ");
                if (!v) {
                    v = "NULL";
                }
                put_field(b, v, strlen(v), true);
            }
            put(b, "\n");
        }
    }
    if (r->explain_error[0]) {
        put(b, "# Explain_error: ");
        put_fields(b, r->explain_error);
        put(b, "\n");
    }

    if (r->schema[0]) {
        put(b, "use ");
        put_field(b, r->schema, strnlen(r->schema, sizeof(r->schema)), false);
        put(b, ";\n");
    }
    put(b, "SET timestamp=");
    put_u64(b, (uint64_t)(r->start_wall_us < 0 ? 0 : r->start_wall_us / 1000000));
    put(b, ";\n");

    if (r->cmd != PROTO_COM_QUERY && (!r->sql || r->sql_len == 0)) {
        put(b, "# administrator command: ");
        put(b, slowlog_cmd_label(r->cmd, num));
        put(b, ";\n");
    } else {
        const char *s = r->sql ? r->sql : "";
        size_t n = r->sql ? r->sql_len : 0;
        if (redact) {
            s = slowlog_redact(f, 0, s, n, &n);
        }
        put_statement(b, s, n);
    }
    logbuf_end(b);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s[0..n), 0 when invalid. */
static size_t
slowlog_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
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
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* A JSON string of s[0..n); bytes that are not valid UTF-8 become U+FFFD. */
static json_t *
slowlog_jstr(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = slowlog_utf8_seq(u + i, n - i);
        if (!l) {
            break;
        }
        i += l;
    }
    if (i == n) {
        return json_stringn(s, n);
    }
    char *clean = malloc(3 * n + 1);
    if (!clean) {
        return json_string("?");
    }
    size_t o = 0;
    memcpy(clean, s, i);
    o = i;
    while (i < n) {
        size_t l = slowlog_utf8_seq(u + i, n - i);
        if (l) {
            memcpy(clean + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

static json_t *
slowlog_jstr0(const char *s, size_t cap)
{
    return slowlog_jstr(s, strnlen(s, cap));
}

static json_t *
slowlog_jtext(const struct filter *f, bool redact, int slot, const char *s)
{
    if (!s) {
        return json_null();
    }
    size_t n = strlen(s);
    if (redact) {
        s = slowlog_redact(f, slot, s, n, &n);
    }
    return slowlog_jstr(s, n);
}

static json_t *
slowlog_json_object(const struct filter *f, bool redact, const struct rec *r)
{
    char tbuf[28], hex[17], num[4];
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    slowlog_iso_time(r->start_wall_us, tbuf);
    slowlog_hex(r->digest, hex);

    json_object_set_new(o, "time", json_string(tbuf));
    json_object_set_new(o, "ts", json_real((double)r->start_wall_us / 1e6));
    json_object_set_new(o, "thread_id", json_integer(r->thread_id));
    json_object_set_new(o, "user", slowlog_jstr0(r->user, sizeof(r->user)));
    json_object_set_new(o, "host", slowlog_jstr0(r->host, sizeof(r->host)));
    json_object_set_new(o, "schema", slowlog_jstr0(r->schema, sizeof(r->schema)));
    json_object_set_new(o, "command", json_string(slowlog_cmd_label(r->cmd, num)));

    json_t *stmt;
    if (r->cmd != PROTO_COM_QUERY && (!r->sql || r->sql_len == 0)) {
        stmt = json_null();
    } else {
        const char *s = r->sql ? r->sql : "";
        size_t n = r->sql ? r->sql_len : 0;
        if (redact) {
            s = slowlog_redact(f, 0, s, n, &n);
        }
        stmt = slowlog_jstr(s, n);
    }
    json_object_set_new(o, "statement", stmt);
    json_object_set_new(o, "truncated", json_boolean(r->sql_truncated));
    json_object_set_new(o, "bulk_rows", r->bulk_rows ? json_integer(r->bulk_rows) : json_null());
    json_object_set_new(o, "params", slowlog_jtext(f, redact, 1, r->params));
    json_object_set_new(o, "prepared_statement", slowlog_jtext(f, redact, 2, r->prepared_sql));
    json_object_set_new(o, "query_time", json_real((double)r->query_us / 1e6));
    json_object_set_new(o, "lock_time", json_real(0.0));
    json_object_set_new(o, "rows_sent", json_integer((json_int_t)r->rows_sent));
    json_object_set_new(o, "rows_examined", json_integer(0));
    json_object_set_new(o, "rows_affected", json_integer((json_int_t)r->rows_affected));
    json_object_set_new(o, "bytes_sent", json_integer((json_int_t)r->bytes_sent));
    json_object_set_new(o, "error_code", json_integer(r->err_code));
    json_object_set_new(o, "error",
                        r->err_code ? slowlog_jstr0(r->err_msg, sizeof(r->err_msg)) : json_null());
    json_object_set_new(o, "digest", json_string(hex));
    json_object_set_new(o, "fingerprint", slowlog_jtext(f, redact, 3, r->fingerprint));
    json_object_set_new(o, "no_index_used", json_boolean(r->status & 0x20));
    json_object_set_new(o, "no_good_index_used", json_boolean(r->status & 0x10));

    json_t *flags = json_null(), *plan = json_null();
    if (r->plan) {
        unsigned pf = r->plan->flags;
        flags = json_pack("{s:b, s:b, s:b, s:b}", "full_scan", (int)!!(pf & PLAN_FULL_SCAN),
                          "full_join", (int)!!(pf & PLAN_FULL_JOIN), "tmp_table",
                          (int)!!(pf & PLAN_TMP_TABLE), "filesort", (int)!!(pf & PLAN_FILESORT));
        plan = json_array();
        for (size_t i = 0; plan && i < r->plan->nrows; i++) {
            json_t *row = json_object();
            for (int c = 0; row && c < PLAN_NCOLS; c++) {
                const char *v = r->plan->rows[i].col[c];
                json_object_set_new(row, plan_col_names[c],
                                    slowlog_jtext(NULL, false, 0, v ? v : "NULL"));
            }
            json_array_append_new(plan, row);
        }
    }
    json_object_set_new(o, "flags", flags);
    const char *src = rec_explain_source_name(r->explain_source);
    json_object_set_new(o, "explain_source", src ? json_string(src) : json_null());
    json_object_set_new(o, "explain_error",
                        r->explain_error[0]
                            ? slowlog_jstr0(r->explain_error, sizeof(r->explain_error))
                            : json_null());
    json_object_set_new(o, "plan", plan);
    return o;
}

static void
slowlog_write_json(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    const size_t dump_flags = JSON_COMPACT | JSON_REAL_PRECISION(16);
    json_t *o = slowlog_json_object(f, redact, r);
    bool done = false;
    logbuf_begin(b);
    size_t room = 4096;
    for (int attempt = 0; o && attempt < 2 && !done; attempt++) {
        char *p = logbuf_reserve(b, room + 1);
        if (!p) {
            break;
        }
        size_t need = json_dumpb(o, p, room, dump_flags);
        if (need == 0) {
            break;
        }
        if (need <= room) {
            p[need] = '\n';
            logbuf_commit(b, need + 1);
            done = true;
        }
        room = need;
    }
    json_decref(o);
    if (done) {
        logbuf_end(b);
    } else {
        logbuf_abandon(b); /* out of memory: counted as dropped */
    }
}

void
slowlog_thread_cleanup(void)
{
    for (size_t i = 0; i < sizeof(slowlog_scratch) / sizeof(slowlog_scratch[0]); i++) {
        free(slowlog_scratch[i].buf);
        slowlog_scratch[i].buf = NULL;
        slowlog_scratch[i].cap = 0;
    }
}

void
slowlog_write(struct logbuf *b, enum conf_log_format format, const struct filter *f,
              const struct rec *r)
{
    bool redact = f && filter_redacts(f);
    if (format == CONF_LOG_JSON) {
        slowlog_write_json(b, f, redact, r);
    } else {
        slowlog_write_text(b, f, redact, r);
    }
}
