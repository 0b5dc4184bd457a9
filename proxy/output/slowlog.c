/*
 * slowlog.c - formats a statement record (struct rec) as one slow-log entry into a per-thread
 * log buffer: MariaDB's slow-log text format, or one JSON object per line.
 *
 * The text path writes straight into the log buffer with hand-rolled number formatting (no
 * allocation beyond the reused buffer); redaction uses per-thread scratch buffers that grow
 * to the largest statement seen and are then reused.
 */
#include "proxy/output/slowlog.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/account/sessreg.h"
#include <time.h>

#include "protocol/proto.h"

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
/* The sql_mode of the record being written: redaction lexes its text the same way. */
static _Thread_local unsigned slowlog_lex_mode;

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
        size_t got = filter_redact_mode(f, s, n, slowlog_lex_mode, sc->buf, sc->cap);
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
    /* "2026-11-24T21:48:00." changes once a second: each thread keeps the last one it
     * formatted (gmtime_r was a tenth of the cost of writing an entry) */
    static _Thread_local time_t cached_secs = -1;
    static _Thread_local char cached[20];
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        int year = tm.tm_year + 1900;
        if (year > 9999) {
            year = 9999;
        }
        int vals[6] = {year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
        char *q = cached;
        static const char seps[6] = {'-', '-', 'T', ':', ':', '.'};
        for (int i = 0; i < 6; i++) {
            int v = vals[i];
            if (i == 0) {
                *q++ = (char)('0' + v / 1000);
                *q++ = (char)('0' + v / 100 % 10);
            }
            *q++ = (char)('0' + v / 10 % 10);
            *q++ = (char)('0' + v % 10);
            *q++ = seps[i];
        }
        cached_secs = secs;
    }
    memcpy(out, cached, sizeof cached);
    char *p = out + sizeof cached;
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

static json_t *slowlog_jstr(const char *s, size_t n);
static json_t *slowlog_jstr0(const char *s, size_t cap);

/* A header value that must be one word: spaces become '_' (and control bytes escaped). */
static void
put_word(struct logbuf *b, const char *s)
{
    size_t n = strnlen(s, 256), start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            put_field(b, s + start, i - start, false);
            logbuf_add(b, "_", 1);
            start = i + 1;
        }
    }
    put_field(b, s + start, n - start, false);
}

/* Attribute names a tag must not take: the slow log's own (a tag "query_time" would change
 * what pt-query-digest reads as Query_time). Such a tag is written as Tag_<name>. */
static bool
slowlog_reserved_attr(const char *name)
{
    static const char *const own[] = {
        "Time",
        "User",
        "Thread_id",
        "Schema",
        "QC_hit",
        "Query_time",
        "Lock_time",
        "Rows_sent",
        "Rows_examined",
        "Rows_affected",
        "Bytes_sent",
        "No_index_used",
        "No_good_index_used",
        "Digest",
        "Params",
        "Bulk_rows",
        "Truncated",
        "Error",
        "Explain",
        "Explain_error",
        "Full_scan",
        "Full_join",
        "Tmp_table",
        "Filesort",
        "Client_gone",
        "Interrupted",
        "Transaction",
        "Statements",
        "Idle",
        "Started",
        "Lock_wait",
        "Lock_type",
        "Lock_table",
        "Lock_index",
        "Lock_mode",
        "Lock_state",
        "Blocked_by",
        "Blocker",
        "Blocker_user",
        "In_transaction",
        "Trx_statements",
        "Trace_id",
        "Span_id",
        "Index_advice",
        "Id",
        "Killed",
        "Last_errno",
        "Affected_rows",
        "Full_scan_on_disk",
        "Tmp_table_on_disk",
        "Merge_passes",
        "Tmp_tables",
        "Tmp_disk_tables",
        "Filesort_on_disk",
        "N_plus_one",
    };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        if (strcasecmp(name, own[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Tags as attributes pt-query-digest can group by (`--group-by Route`):
 *   # Route: /roster  Controller: roster  Framework: flask:2.2
 *   # Trace_id: 0af7651916cd43dd8448eb211c80319c  Span_id: b7ad6b7169203331
 * A name is the key with its first letter upper-cased and every byte but [A-Za-z0-9_] as '_';
 * a value is one word (spaces as %20, control bytes escaped). traceparent and tracestate are
 * written as Trace_id/Span_id only. Redaction applies to values.
 */
static void
slowlog_text_tags(struct logbuf *b, const struct filter *f, bool redact, const struct proto_tags *t)
{
    bool any = false;
    for (unsigned i = 0; i < t->n; i++) {
        const char *k = t->tag[i].key;
        if (strcmp(k, "traceparent") == 0 || strcmp(k, "tracestate") == 0) {
            continue;
        }
        char name[72];
        size_t n = 0;
        for (const char *c = k; *c && n + 1 < sizeof name; c++) {
            bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '_';
            name[n++] = ok ? *c : '_';
        }
        name[n] = '\0';
        if (n == 0) {
            continue;
        }
        if (name[0] >= 'a' && name[0] <= 'z') {
            name[0] = (char)(name[0] - 'a' + 'A');
        }
        if (!(name[0] >= 'A' && name[0] <= 'Z')) {
            continue; /* pt-query-digest takes only names that start with a capital */
        }
        put(b, any ? "  " : "# ");
        if (slowlog_reserved_attr(name)) {
            put(b, "Tag_");
        }
        put(b, name);
        put(b, ": ");
        const char *v = t->tag[i].value;
        size_t vn = strlen(v);
        if (redact && filter_hides_value(f, v, vn)) {
            v = "?";
            vn = 1;
        }
        size_t start = 0;
        for (size_t j = 0; j < vn; j++) {
            if (v[j] == ' ') {
                put_field(b, v + start, j - start, true);
                put(b, "%20");
                start = j + 1;
            }
        }
        put_field(b, v + start, vn - start, true);
        any = true;
    }
    if (any) {
        put(b, "\n");
    }
    if (t->trace_id[0]) {
        put(b, "# Trace_id: ");
        put(b, t->trace_id);
        put(b, "  Span_id: ");
        put(b, t->span_id);
        put(b, "\n");
    }
}

/*
 * What the statement waited for, and who held it:
 *   # Lock_wait: 2.310000  Lock_type: row  Lock_table: `shop`.`accounts`  Lock_index: PRIMARY
 *     Lock_mode: X  Lock_state: Updating  Blocked_by: 1742   (one line)
 *   # Blocker: 1742  Blocker_user: app@10.0.0.7  In_transaction: 5.004000  Idle: 4.870000
 *     Trx_statements: 3   (one line)
 *   # blocker: +0.000000 0.000412 UPDATE accounts SET balance = balance - 10 WHERE id = 7
 * The lowercase "# blocker:" lines (the blocker's statements in its open transaction, oldest
 * first: offset from the transaction's start, duration, text) are no attribute for log readers.
 */
static void
slowlog_text_lock(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    const struct lockwait *lw = &r->lock;
    const char *kind = lockwait_kind_name(lw->kind);
    put(b, "# Lock_wait: ");
    put_secs(b, lw->wait_us);
    put(b, "  Lock_type: ");
    put(b, kind ? kind : "none");
    if (lw->table[0]) {
        put(b, "  Lock_table: ");
        put_word(b, lw->table);
    }
    if (lw->index[0]) {
        put(b, "  Lock_index: ");
        put_word(b, lw->index);
    }
    if (lw->mode[0]) {
        put(b, "  Lock_mode: ");
        put_word(b, lw->mode);
    }
    if (lw->state[0]) {
        put(b, "  Lock_state: ");
        put_word(b, lw->state);
    }
    if (lw->blocked_by) {
        put(b, "  Blocked_by: ");
        put_u64(b, lw->blocked_by);
    }
    put(b, "\n");
    const struct sessreg_view *v = r->blocker;
    if (!v) {
        return;
    }
    put(b, "# Blocker: ");
    put_u64(b, v->thread_id);
    put(b, "  Blocker_user: ");
    put_word(b, v->user[0] ? v->user : "-");
    put(b, "@");
    put_word(b, v->host[0] ? v->host : "localhost");
    if (v->trx_wall_start) {
        int64_t now = v->snapshot_wall;
        put(b, "  In_transaction: ");
        put_secs(b, now > v->trx_wall_start ? (uint64_t)(now - v->trx_wall_start) : 0);
        put(b, "  Idle: ");
        put_secs(b, now > v->last_end_wall ? (uint64_t)(now - v->last_end_wall) : 0);
        put(b, "  Trx_statements: ");
        put_u64(b, v->trx_stmts);
    }
    put(b, "\n");
    for (unsigned i = 0; i < v->nstmts; i++) {
        const struct sessreg_stmt *st = &v->stmts[i];
        const char *t = st->text;
        size_t n = st->len;
        if (redact) {
            t = slowlog_redact(f, 1, t, n, &n);
        }
        put(b, "# blocker: +");
        put_secs(b, st->wall_start > v->trx_wall_start && v->trx_wall_start
                        ? (uint64_t)(st->wall_start - v->trx_wall_start)
                        : 0);
        put(b, " ");
        put_secs(b, st->dur_us);
        put(b, " ");
        put_field(b, t, n, true);
        if (st->cut) {
            put(b, "...");
        }
        put(b, "\n");
    }
}

/* The same in JSON; null when the statement waited for no lock. */
static json_t *
slowlog_json_lock(const struct filter *f, bool redact, const struct rec *r)
{
    if (!r->has_lock_wait) {
        return json_null();
    }
    const struct lockwait *lw = &r->lock;
    const char *kind = lockwait_kind_name(lw->kind);
    json_t *o = json_object();
    if (!o) {
        return json_null();
    }
    json_object_set_new(o, "seconds", json_real((double)lw->wait_us / 1e6));
    json_object_set_new(o, "type", kind ? json_string(kind) : json_null());
    json_object_set_new(o, "table",
                        lw->table[0] ? slowlog_jstr0(lw->table, sizeof lw->table) : json_null());
    json_object_set_new(o, "index",
                        lw->index[0] ? slowlog_jstr0(lw->index, sizeof lw->index) : json_null());
    json_object_set_new(o, "mode",
                        lw->mode[0] ? slowlog_jstr0(lw->mode, sizeof lw->mode) : json_null());
    json_object_set_new(o, "state",
                        lw->state[0] ? slowlog_jstr0(lw->state, sizeof lw->state) : json_null());
    json_object_set_new(o, "blocked_by",
                        lw->blocked_by ? json_integer(lw->blocked_by) : json_null());
    const struct sessreg_view *v = r->blocker;
    json_t *bl = json_null();
    if (v) {
        int64_t now = v->snapshot_wall;
        bl = json_object();
        json_t *stmts = json_array();
        for (unsigned i = 0; bl && stmts && i < v->nstmts; i++) {
            const struct sessreg_stmt *st = &v->stmts[i];
            const char *t = st->text;
            size_t n = st->len;
            if (redact) {
                t = slowlog_redact(f, 1, t, n, &n);
            }
            char iso[28];
            slowlog_iso_time(st->wall_start, iso);
            json_array_append_new(stmts, json_pack("{s:s, s:f, s:o, s:b}", "start", iso, "duration",
                                                   (double)st->dur_us / 1e6, "statement",
                                                   slowlog_jstr(t, n), "truncated", (int)st->cut));
        }
        if (bl) {
            json_object_set_new(bl, "thread_id", json_integer(v->thread_id));
            json_object_set_new(bl, "user", slowlog_jstr0(v->user, sizeof v->user));
            json_object_set_new(bl, "host", slowlog_jstr0(v->host, sizeof v->host));
            json_object_set_new(bl, "in_transaction",
                                v->trx_wall_start && now > v->trx_wall_start
                                    ? json_real((double)(now - v->trx_wall_start) / 1e6)
                                    : json_null());
            json_object_set_new(bl, "idle",
                                now > v->last_end_wall && v->last_end_wall
                                    ? json_real((double)(now - v->last_end_wall) / 1e6)
                                    : json_null());
            json_object_set_new(bl, "statements", stmts ? stmts : json_null());
        } else {
            json_decref(stmts);
            bl = json_null();
        }
    }
    json_object_set_new(o, "blocker", bl);
    return o;
}

/* Lock_time: the larger of the server's (performance_schema) and the wait slowtap saw. */
static uint64_t
slowlog_lock_us(const struct rec *r)
{
    uint64_t seen = r->has_lock_wait ? r->lock.wait_us : 0;
    return r->has_pfs && r->pfs.lock_us > seen ? r->pfs.lock_us : seen;
}

/* MariaDB's log_slow_verbosity=query_plan figures, as the server measured them. */
static void
slowlog_text_pfs(struct logbuf *b, const struct rec *r)
{
    put(b, "# Tmp_tables: ");
    put_u64(b, r->pfs.tmp_tables);
    put(b, "  Tmp_disk_tables: ");
    put_u64(b, r->pfs.tmp_disk_tables);
    put(b, r->pfs.tmp_disk_tables ? "  Tmp_table_on_disk: Yes" : "  Tmp_table_on_disk: No");
    put(b, r->pfs.merge_passes ? "  Filesort_on_disk: Yes" : "  Filesort_on_disk: No");
    put(b, "  Merge_passes: ");
    put_u64(b, r->pfs.merge_passes);
    put(b, "\n");
}

/* "# analyze: <line>" per line of the live SHOW ANALYZE (lowercase like "# explain:"). */
static void
slowlog_text_analyze(struct logbuf *b, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        put(b, "# analyze: ");
        put_field(b, s, n, true);
        put(b, "\n");
        s += n + (nl ? 1 : 0);
    }
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
    put(b, "  Lock_time: ");
    put_secs(b, slowlog_lock_us(r));
    put(b, "  Rows_sent: ");
    put_u64(b, r->rows_sent);
    put(b, "  Rows_examined: ");
    put_u64(b, r->has_pfs ? r->pfs.rows_examined : 0);
    put(b, "\n# Rows_affected: ");
    put_u64(b, r->rows_affected);
    put(b, "  Bytes_sent: ");
    put_u64(b, r->bytes_sent);
    put(b, (r->status & 0x20) ? "\n# No_index_used: Yes" : "\n# No_index_used: No");
    put(b, (r->status & 0x10) ? "  No_good_index_used: Yes\n" : "  No_good_index_used: No\n");
    if (r->has_pfs) {
        slowlog_text_pfs(b, r);
    }
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
    if (r->tags) {
        slowlog_text_tags(b, f, redact, r->tags);
    }
    if (r->n_plus_one.n_plus_one) { /* findings.h: this statement repeats an N+1 run */
        char ch[17], pa[17];
        slowlog_hex(r->n_plus_one.child, ch);
        slowlog_hex(r->n_plus_one.parent, pa);
        put(b, "# N_plus_one: child=");
        put(b, ch);
        put(b, " count=");
        put_u64(b, r->n_plus_one.count);
        put(b, " total=");
        put_secs(b, r->n_plus_one.total_us);
        put(b, " parent=");
        put(b, pa);
        put(b, "\n");
    }
    if (r->has_lock_wait) {
        slowlog_text_lock(b, f, redact, r);
    }
    if (r->trx_ended) {
        char started[28];
        slowlog_iso_time(r->trx_wall_start, started);
        put(b, "# Transaction: ");
        put_secs(b, r->trx_us);
        put(b, "  Statements: ");
        put_u64(b, r->trx_stmts);
        put(b, "  Idle: ");
        put_secs(b, r->trx_idle_us);
        put(b, "  Started: ");
        put(b, started);
        put(b, "\n");
    }
    if (r->interrupted) {
        if (strcmp(r->interrupted, "client_gone") == 0) {
            put(b, "# Client_gone: Yes\n"); /* the client left while the server ran it */
        } else {
            put(b, "# Interrupted: ");
            put(b, r->interrupted);
            put(b, "\n");
        }
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
    if (r->analyze) {
        slowlog_text_analyze(b, r->analyze);
    }
    if (r->explain_error[0]) {
        put(b, "# Explain_error: ");
        put_fields(b, r->explain_error);
        put(b, "\n");
    }
    if (r->index_advice) { /* names and reasons only, never a literal of the statement */
        put(b, "# Index_advice: ");
        put_field(b, r->index_advice, strlen(r->index_advice), false);
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
    json_object_set_new(o, "lock_time", json_real((double)slowlog_lock_us(r) / 1e6));
    json_object_set_new(o, "lock_wait", slowlog_json_lock(f, redact, r));
    json_object_set_new(o, "rows_sent", json_integer((json_int_t)r->rows_sent));
    json_object_set_new(o, "rows_examined",
                        json_integer(r->has_pfs ? (json_int_t)r->pfs.rows_examined : 0));
    json_object_set_new(o, "rows_affected", json_integer((json_int_t)r->rows_affected));
    json_object_set_new(o, "bytes_sent", json_integer((json_int_t)r->bytes_sent));
    json_t *trx = json_null();
    if (r->trx_ended) {
        char started[28];
        slowlog_iso_time(r->trx_wall_start, started);
        trx = json_pack("{s:f, s:i, s:f, s:s}", "duration", (double)r->trx_us / 1e6, "statements",
                        (json_int_t)r->trx_stmts, "idle", (double)r->trx_idle_us / 1e6, "started",
                        started);
    }
    json_object_set_new(o, "transaction", trx ? trx : json_null());
    json_t *tags = json_null();
    if (r->tags && r->tags->n) {
        tags = json_object();
        for (unsigned i = 0; tags && i < r->tags->n; i++) {
            const char *v = r->tags->tag[i].value;
            size_t vn = strlen(v);
            if (redact && filter_hides_value(f, v, vn)) {
                v = "?";
                vn = 1;
            }
            json_object_set_new(tags, r->tags->tag[i].key, slowlog_jstr(v, vn));
        }
    }
    json_object_set_new(o, "tags", tags ? tags : json_null());
    json_t *np1 = json_null();
    if (r->n_plus_one.n_plus_one) {
        char ch[17], pa[17];
        slowlog_hex(r->n_plus_one.child, ch);
        slowlog_hex(r->n_plus_one.parent, pa);
        np1 =
            json_pack("{s:s, s:i, s:f, s:s}", "child", ch, "count", (json_int_t)r->n_plus_one.count,
                      "total", (double)r->n_plus_one.total_us / 1e6, "parent", pa);
    }
    json_object_set_new(o, "n_plus_one", np1 ? np1 : json_null());
    json_object_set_new(o, "trace_id",
                        r->tags && r->tags->trace_id[0] ? json_string(r->tags->trace_id)
                                                        : json_null());
    json_object_set_new(
        o, "span_id", r->tags && r->tags->span_id[0] ? json_string(r->tags->span_id) : json_null());
    json_object_set_new(o, "client_gone",
                        json_boolean(r->interrupted && strcmp(r->interrupted, "client_gone") == 0));
    json_object_set_new(o, "interrupted",
                        r->interrupted ? json_string(r->interrupted) : json_null());
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
    json_object_set_new(o, "index_advice",
                        r->index_advice ? json_string(r->index_advice) : json_null());
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
    slowlog_lex_mode = r->lex_mode;
    if (format == CONF_LOG_JSON) {
        slowlog_write_json(b, f, redact, r);
    } else {
        slowlog_write_text(b, f, redact, r);
    }
}
