/*
 * slowlog.c - formats a statement record (struct rec) as one slow-log entry into a per-thread
 * log buffer: MariaDB's slow-log text format, or one JSON object per line.
 *
 * The text path writes straight into the log buffer with hand-rolled number formatting (no
 * allocation beyond the reused buffer); redaction uses per-thread scratch buffers that grow
 * to the largest statement seen and are then reused.
 */
#include "proxy/output/slowlog.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/account/sessreg.h"
#include "proxy/output/chsink.h"
#include <time.h>

#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
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

/* What the server said (an EXPLAIN's error: its text can quote the statement's literals),
 * through --redact when redacting (filter_redact_message). Per-thread buffer, valid until the
 * next call. */
static const char *
slowlog_server_words(const struct filter *f, bool redact, const char *s)
{
    static _Thread_local char buf[1024];
    if (!redact || !s || !s[0]) {
        return s;
    }
    filter_redact_message(f, s, strlen(s), buf, sizeof buf);
    return buf;
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
        "Rows_examined_known",
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
        "Lock_candidates",
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

/* "  Name: value" when value is not empty (value as put_word writes it). */
static void
put_attr(struct logbuf *b, const char *name, const char *value)
{
    if (value[0]) {
        put(b, "  ");
        put(b, name);
        put(b, ": ");
        put_word(b, value);
    }
}

/*
 * What the statement waited for, and who held it:
 *   # Lock_wait: 2.310000  Lock_type: row  Lock_table: `shop`.`accounts`  Lock_index: PRIMARY
 *     Lock_mode: X  Lock_state: Updating  Blocked_by: 1742   (one line)
 *   (a MariaDB metadata-lock blocker slowtap inferred: "Blocked_by: 1742 (inferred)", or when
 *   several sessions could hold it, "Lock_candidates: 1742,1750" and no Blocked_by)
 *   # Blocker: 1742  Blocker_user: app@10.0.0.7  In_transaction: 5.004000  Idle: 4.870000
 *     Trx_statements: 3   (one line)
 *   # blocker: +0.000000 0.000412 UPDATE accounts SET balance = balance - 10 WHERE id = 7
 * The lowercase "# blocker:" lines (the blocker's statements in its open transaction, oldest
 * first: offset from the transaction's start, duration, text) are no attribute for log readers.
 */
static void
slowlog_text_lock(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    const struct lockwait *lw = &r->explain.lock;
    const char *kind = lockwait_kind_name(lw->kind);
    put(b, "# Lock_wait: ");
    put_secs(b, lw->wait_us);
    put(b, "  Lock_type: ");
    put(b, kind ? kind : "none");
    put_attr(b, "Lock_table", lw->table);
    put_attr(b, "Lock_index", lw->index);
    put_attr(b, "Lock_mode", lw->mode);
    put_attr(b, "Lock_state", lw->state);
    if (lw->blocked_by) {
        put(b, "  Blocked_by: ");
        put_u64(b, lw->blocked_by);
        if (lw->inferred) {
            put(b, " (inferred)");
        }
    }
    for (unsigned i = 0; i < lw->ncands && i < LOCKWAIT_CANDS; i++) {
        put(b, i ? "," : "  Lock_candidates: ");
        put_u64(b, lw->cands[i]);
    }
    put(b, "\n");
    const struct sessreg_view *v = r->explain.blocker;
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

/* Lock_time: the larger of the server's (performance_schema) and the wait slowtap saw. */
static uint64_t
slowlog_lock_us(const struct rec *r)
{
    uint64_t seen = r->explain.has_lock_wait ? r->explain.lock.wait_us : 0;
    return r->explain.has_pfs && r->explain.pfs.lock_us > seen ? r->explain.pfs.lock_us : seen;
}

/* MariaDB's log_slow_verbosity=query_plan figures, as the server measured them. */
static void
slowlog_text_pfs(struct logbuf *b, const struct rec *r)
{
    put(b, "# Tmp_tables: ");
    put_u64(b, r->explain.pfs.tmp_tables);
    put(b, "  Tmp_disk_tables: ");
    put_u64(b, r->explain.pfs.tmp_disk_tables);
    put(b, r->explain.pfs.tmp_disk_tables ? "  Tmp_table_on_disk: Yes" : "  Tmp_table_on_disk: No");
    put(b, r->explain.pfs.merge_passes ? "  Filesort_on_disk: Yes" : "  Filesort_on_disk: No");
    put(b, "  Merge_passes: ");
    put_u64(b, r->explain.pfs.merge_passes);
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

/* The entry's first lines, Time to No_good_index_used, formatted straight into the buffer in
 * one pass (one reservation instead of some thirty appends): the same bytes as put, put_u64,
 * put_secs and put_field (without `tabs`) would write. */
static char *
w_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define W_LIT(p, lit) w_mem((p), (lit), sizeof(lit) - 1)

/* "00" to "99": numbers are written two digits at a time */
static const char w_digits2[201] = "0001020304050607080910111213141516171819"
                                   "2021222324252627282930313233343536373839"
                                   "4041424344454647484950515253545556575859"
                                   "6061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";

static char *
w_2digits(char *p, unsigned v)
{
    memcpy(p, w_digits2 + 2 * v, 2);
    return p + 2;
}

static char *
w_u64(char *p, uint64_t v)
{
    if (v < 10) { /* most counts of a point statement: 0 or 1 */
        *p++ = (char)('0' + v);
        return p;
    }
    char tmp[24];
    char *end = tmp + sizeof tmp, *q = end;
    while (v >= 100) {
        q -= 2;
        w_2digits(q, (unsigned)(v % 100));
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        w_2digits(q, (unsigned)v);
    } else {
        *--q = (char)('0' + v);
    }
    return w_mem(p, q, (size_t)(end - q));
}

/* MariaDB's own "# Time:" form, "261124 21:48:00.123456" (UTC), into out[23]: the one
 * mariadb-dumpslow reads (it skips ISO times); pt-query-digest reads both. Each thread keeps
 * the last second's "261124 21:48:00." (from timefmt_iso_utc), so an entry writes only its
 * microseconds. */
static void
slowlog_mariadb_time(int64_t wall_us, char out[23])
{
    static _Thread_local int64_t cached_sec = -1;
    static _Thread_local char cached[16];
    if (wall_us < 0) {
        wall_us = 0; /* as timefmt_iso_utc writes it */
    }
    int64_t sec = wall_us / 1000000;
    if (sec != cached_sec) {
        char iso[TIMEFMT_ISO_LEN + 1];
        timefmt_iso_utc(wall_us, iso); /* 2026-11-24T21:48:00.123456Z */
        memcpy(cached, iso + 2, 2);
        memcpy(cached + 2, iso + 5, 2);
        memcpy(cached + 4, iso + 8, 2);
        cached[6] = ' ';
        memcpy(cached + 7, iso + 11, 9); /* "21:48:00." */
        cached_sec = sec;
    }
    memcpy(out, cached, sizeof cached);
    unsigned f = (unsigned)(wall_us % 1000000);
    w_2digits(out + 16, f / 10000);
    w_2digits(out + 18, f / 100 % 100);
    w_2digits(out + 20, f % 100);
    out[22] = '\0';
}

static char *
w_secs(char *p, uint64_t us)
{
    unsigned f = (unsigned)(us % 1000000);
    p = w_u64(p, us / 1000000);
    *p++ = '.';
    p = w_2digits(p, f / 10000);
    p = w_2digits(p, f / 100 % 100);
    return w_2digits(p, f % 100);
}

/* Some byte of the eight in x is below 0x20 (a control byte; exact for the question whether
 * one is). */
static bool
w_has_control(uint64_t x)
{
    return ((x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull) != 0;
}

/* put_field(..., false): at most two bytes out per byte in; eight at a time while none of
 * them is a control byte */
static char *
w_field(char *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (!w_has_control(x)) {
                memcpy(p, &x, 8);
                p += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i++];
        if (c >= 0x20 || c == '\t') {
            *p++ = (char)c;
        } else if (c == '\n' || c == '\r') {
            *p++ = '\\';
            *p++ = c == '\n' ? 'n' : 'r';
        } else {
            *p++ = '?';
        }
    }
    return p;
}

/* The lines of an entry that are the same for every entry of a session (until its user or
 * schema changes): "# User@Host:", "# Thread_id: ... QC_hit: No" and "use schema;", formatted
 * once and kept per worker thread with the values they were formatted from, reused while the
 * next entry has the same thread id, user, host and schema. */
struct slowlog_sess_lines {
    bool valid;
    uint32_t thread_id;
    uint8_t ulen, hlen, slen;
    char user[sizeof(((struct rec *)0)->user)];
    char host[sizeof(((struct rec *)0)->host)];
    char schema[sizeof(((struct rec *)0)->schema)];
    size_t head_len, use_len;
    char head[4 * 64 + 2 * 64 + 2 * 64 + 128]; /* w_field: at most 2 bytes out per byte in */
    char use[2 * 64 + 16];
};

static _Thread_local struct slowlog_sess_lines slowlog_sess = {.valid = false};

static const struct slowlog_sess_lines *
slowlog_sess_lines(const struct rec *r)
{
    struct slowlog_sess_lines *c = &slowlog_sess;
    size_t ulen = strnlen(r->user, sizeof(r->user));
    size_t hlen = strnlen(r->host, sizeof(r->host));
    size_t slen = strnlen(r->schema, sizeof(r->schema));
    if (c->valid && c->thread_id == r->thread_id && c->ulen == ulen && c->hlen == hlen &&
        c->slen == slen && memcmp(c->user, r->user, ulen) == 0 &&
        memcmp(c->host, r->host, hlen) == 0 && memcmp(c->schema, r->schema, slen) == 0) {
        return c;
    }
    c->thread_id = r->thread_id;
    c->ulen = (uint8_t)ulen;
    c->hlen = (uint8_t)hlen;
    c->slen = (uint8_t)slen;
    memcpy(c->user, r->user, ulen);
    memcpy(c->host, r->host, hlen);
    memcpy(c->schema, r->schema, slen);
    char *p = W_LIT(c->head, "# User@Host: ");
    p = w_field(p, r->user, ulen);
    p = W_LIT(p, "[");
    p = w_field(p, r->user, ulen);
    if (hlen) {
        p = W_LIT(p, "] @  [");
        p = w_field(p, r->host, hlen);
        p = W_LIT(p, "]\n");
    } else {
        p = W_LIT(p, "] @ localhost []\n");
    }
    p = W_LIT(p, "# Thread_id: ");
    p = w_u64(p, r->thread_id);
    p = W_LIT(p, "  Schema: ");
    p = w_field(p, r->schema, slen);
    p = W_LIT(p, "  QC_hit: No\n");
    c->head_len = (size_t)(p - c->head);
    p = c->use;
    if (slen) {
        p = W_LIT(p, "use ");
        p = w_field(p, r->schema, slen);
        p = W_LIT(p, ";\n");
    }
    c->use_len = (size_t)(p - c->use);
    c->valid = true;
    return c;
}

static void
text_head(struct logbuf *b, const struct rec *r, const struct slowlog_sess_lines *sl,
          const char *tbuf)
{
    char *start = logbuf_reserve(b, 512 + sl->head_len);
    if (!start) {
        return; /* out of memory: the entry is dropped */
    }
    char *p = W_LIT(start, "# Time: ");
    p = w_mem(p, tbuf, 22);
    p = W_LIT(p, "\n");
    p = w_mem(p, sl->head, sl->head_len);
    p = W_LIT(p, "# Query_time: ");
    p = w_secs(p, r->query_us);
    p = W_LIT(p, "  Lock_time: ");
    p = w_secs(p, slowlog_lock_us(r));
    p = W_LIT(p, "  Rows_sent: ");
    p = w_u64(p, r->rows_sent);
    p = W_LIT(p, "  Rows_examined: ");
    p = w_u64(p, r->explain.has_pfs ? r->explain.pfs.rows_examined : 0);
    p = W_LIT(p, "\n# Rows_affected: ");
    p = w_u64(p, r->rows_affected);
    p = W_LIT(p, "  Bytes_sent: ");
    p = w_u64(p, r->bytes_sent);
    /* on this line: mariadb-dumpslow takes the rest of the Rows_affected line as its own,
     * pt-query-digest any `Name: value` pair of a header line */
    p = W_LIT(p, "  Queue_time: ");
    p = w_secs(p, r->queue_us);
    if (!r->explain.has_pfs) { /* the 0 above is for the tools: slowtap did not learn it */
        p = W_LIT(p, "  Rows_examined_known: No");
    }
    p = (r->status & 0x20) ? W_LIT(p, "\n# No_index_used: Yes") : W_LIT(p, "\n# No_index_used: No");
    p = (r->status & 0x10) ? W_LIT(p, "  No_good_index_used: Yes\n")
                           : W_LIT(p, "  No_good_index_used: No\n");
    logbuf_commit(b, (size_t)(p - start));
}

/*
 * The statement, framed so that it cannot be read as anything but this entry's statement:
 * trailing whitespace is removed, every line that begins with '#' (the first line included)
 * is written with one space before the '#', and ";\n" ends it (";" is not doubled when the
 * statement already ends with one). At most 2 * n + 2 bytes out.
 */
static char *
w_statement(char *p, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' ||
                     s[n - 1] == '\f' || s[n - 1] == '\v')) {
        n--;
    }
    size_t start = 0;
    /* line starts: 0, and after each '\n' (found with memchr: most statements have none) */
    for (size_t i = 0; i < n;) {
        if (s[i] == '#') {
            p = w_mem(p, s + start, i - start);
            *p++ = ' ';
            start = i;
        }
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) {
            break;
        }
        i = (size_t)(nl - s) + 1;
    }
    p = w_mem(p, s + start, n - start);
    if (n == 0 || s[n - 1] != ';') {
        *p++ = ';';
    }
    *p++ = '\n';
    return p;
}

/* "# Digest:" and, for an execute, "# Params:" (already redacted when asked), in one pass. */
static void
text_digest(struct logbuf *b, const struct rec *r, const char *params, size_t plen)
{
    char *start = logbuf_reserve(b, 64 + 2 * plen);
    if (!start) {
        return;
    }
    char *p = W_LIT(start, "# Digest: ");
    hexfmt_u64(r->digest, p);
    p += HEXFMT_U64_LEN;
    *p++ = '\n';
    if (params) {
        p = W_LIT(p, "# Params: ");
        p = w_field(p, params, plen);
        *p++ = '\n';
    }
    logbuf_commit(b, (size_t)(p - start));
}

/* The entry's last lines: "use", "SET timestamp" and the statement s[0..n) (already redacted
 * when asked), or the administrator command of a command without text, in one pass. */
static void
text_tail(struct logbuf *b, const struct rec *r, const struct slowlog_sess_lines *sl, const char *s,
          size_t n, bool admin)
{
    char num[4];
    char *start = logbuf_reserve(b, 128 + sl->use_len + 2 * n);
    if (!start) {
        return;
    }
    char *p = start;
    p = w_mem(p, sl->use, sl->use_len);
    /* the same for every entry of a second: formatted once per second per worker */
    static _Thread_local uint64_t ts_sec = UINT64_MAX;
    static _Thread_local char ts_line[48];
    static _Thread_local size_t ts_len;
    uint64_t sec = (uint64_t)(r->start_wall_us < 0 ? 0 : r->start_wall_us / 1000000);
    if (sec != ts_sec) {
        char *q = W_LIT(ts_line, "SET timestamp=");
        q = w_u64(q, sec);
        q = W_LIT(q, ";\n");
        ts_len = (size_t)(q - ts_line);
        ts_sec = sec;
    }
    p = w_mem(p, ts_line, ts_len);
    if (admin) {
        const char *label = slowlog_cmd_label(r->cmd, num);
        p = W_LIT(p, "# administrator command: ");
        p = w_mem(p, label, strnlen(label, 32));
        p = W_LIT(p, ";\n");
    } else {
        p = w_statement(p, s, n);
    }
    logbuf_commit(b, (size_t)(p - start));
}

static void
slowlog_write_text(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    char tbuf[28];

    logbuf_begin(b);
    slowlog_mariadb_time(r->start_wall_us, tbuf);
    const struct slowlog_sess_lines *sl = slowlog_sess_lines(r);
    text_head(b, r, sl, tbuf);
    if (r->explain.has_pfs) {
        slowlog_text_pfs(b, r);
    }
    const char *params = r->params;
    size_t plen = params ? strlen(params) : 0;
    if (params && redact) {
        params = slowlog_redact(f, 1, params, plen, &plen);
    }
    text_digest(b, r, params, plen);
    if (r->cmd == PROTO_COM_STMT_PREPARE && r->sql && r->sql_len) {
        put(b, "# Prepare: Yes\n"); /* the statement below was prepared, not run */
    }
    if (r->unknown_stmt) {
        put(b, "# Unknown_statement_id: "); /* an execute of no statement the session has */
        put_u64(b, r->stmt_id);
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
        hexfmt_u64(r->n_plus_one.child, ch);
        hexfmt_u64(r->n_plus_one.parent, pa);
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
    if (r->explain.has_lock_wait) {
        slowlog_text_lock(b, f, redact, r);
    }
    if (r->trx_ended) {
        char started[28];
        timefmt_iso_utc(r->trx_wall_start, started);
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
        } else if (r->untracked) {
            put(b, "# Untracked: Yes  Untracked_reason: "); /* slowtap lost track (fail open) */
            put(b, r->untracked);
            put(b, "\n");
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
    if (r->explain.plan) {
        char flags[128];
        plan_flags_format(r->explain.plan->flags, flags, sizeof(flags));
        put(b, "# ");
        put_fields(b, flags);
        put(b, "\n");
        const char *src = explain_source_name(r->explain.source);
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
        for (size_t i = 0; i < r->explain.plan->nrows; i++) {
            put(b, "# explain:");
            for (int c = 0; c < PLAN_NCOLS; c++) {
                const char *v = r->explain.plan->rows[i].col[c];
                put(b, c ? "\t" : " ");
                if (!v) {
                    v = "NULL";
                }
                put_field(b, v, strlen(v), true);
            }
            put(b, "\n");
        }
    }
    if (r->explain.analyze) {
        slowlog_text_analyze(b, r->explain.analyze);
    }
    if (r->explain.error[0]) {
        put(b, "# Explain_error: ");
        put_fields(b, slowlog_server_words(f, redact, r->explain.error));
        put(b, "\n");
    }
    if (r->explain.index_advice) { /* names and reasons only, never a literal of the statement */
        put(b, "# Index_advice: ");
        put_field(b, r->explain.index_advice, strlen(r->explain.index_advice), false);
        put(b, "\n");
    }

    bool admin = r->cmd != PROTO_COM_QUERY && (!r->sql || r->sql_len == 0);
    const char *stmt = r->sql ? r->sql : "";
    size_t n = r->sql ? r->sql_len : 0;
    if (!admin && redact) {
        stmt = slowlog_redact(f, 0, stmt, n, &n);
    }
    text_tail(b, r, sl, stmt, n, admin);
    logbuf_end(b);
}

/* ---- JSON (common/jsonw.h: its one escaping rule, no member ever dropped) ---- */

static void
slowlog_json_sink(void *ctx, const char *s, size_t n)
{
    logbuf_add(ctx, s, n);
}

/* A member from a fixed-size field (up to its NUL). */
static void
slowlog_jstr0(struct jsonw *w, const char *k, const char *s, size_t cap)
{
    jsonw_kstrn(w, k, s, strnlen(s, cap));
}

/* The same, null when the field is empty. */
static void
slowlog_jopt0(struct jsonw *w, const char *k, const char *s, size_t cap)
{
    if (s[0]) {
        slowlog_jstr0(w, k, s, cap);
    } else {
        jsonw_knull(w, k);
    }
}

/* A text member (null for NULL), through redaction scratch slot `slot` when redacting. */
static void
slowlog_jtext(struct jsonw *w, const char *k, const struct filter *f, bool redact, int slot,
              const char *s)
{
    if (!s) {
        jsonw_knull(w, k);
        return;
    }
    size_t n = strlen(s);
    if (redact) {
        s = slowlog_redact(f, slot, s, n, &n);
    }
    jsonw_kstrn(w, k, s, n);
}

static void
slowlog_jhex(struct jsonw *w, const char *k, uint64_t v)
{
    char hex[HEXFMT_U64_LEN + 1];
    hexfmt_u64(v, hex);
    jsonw_kstrn(w, k, hex, HEXFMT_U64_LEN);
}

static void
slowlog_jtime(struct jsonw *w, const char *k, int64_t wall_us)
{
    char iso[TIMEFMT_ISO_LEN + 1];
    timefmt_iso_utc(wall_us, iso);
    jsonw_kstrn(w, k, iso, TIMEFMT_ISO_LEN);
}

/* The blocking session of a lock wait (sessreg.h), with its open transaction's statements. */
static void
slowlog_json_blocker(struct jsonw *w, const struct filter *f, bool redact,
                     const struct sessreg_view *v)
{
    int64_t now = v->snapshot_wall;
    jsonw_object_begin(w);
    jsonw_kuint(w, "thread_id", v->thread_id);
    slowlog_jstr0(w, "user", v->user, sizeof v->user);
    slowlog_jstr0(w, "host", v->host, sizeof v->host);
    if (v->trx_wall_start && now > v->trx_wall_start) {
        jsonw_ksecs(w, "in_transaction", now - v->trx_wall_start);
    } else {
        jsonw_knull(w, "in_transaction");
    }
    if (now > v->last_end_wall && v->last_end_wall) {
        jsonw_ksecs(w, "idle", now - v->last_end_wall);
    } else {
        jsonw_knull(w, "idle");
    }
    jsonw_key(w, "statements");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < v->nstmts; i++) {
        const struct sessreg_stmt *st = &v->stmts[i];
        const char *t = st->text;
        size_t n = st->len;
        if (redact) {
            t = slowlog_redact(f, 1, t, n, &n);
        }
        jsonw_object_begin(w);
        slowlog_jtime(w, "start", st->wall_start);
        jsonw_ksecs(w, "duration", (int64_t)st->dur_us);
        jsonw_kstrn(w, "statement", t, n);
        jsonw_kbool(w, "truncated", st->cut);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
}

/* The "# Tmp_tables:" line's figures in JSON (what the server measured), null without them. */
static void
slowlog_json_tmp(struct jsonw *w, const struct rec *r)
{
    static const char *const keys[] = {"tmp_tables", "tmp_disk_tables", "tmp_table_on_disk",
                                       "filesort_on_disk", "merge_passes"};
    if (!r->explain.has_pfs) {
        for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            jsonw_knull(w, keys[i]);
        }
        return;
    }
    const struct pfs_stmt *ps = &r->explain.pfs;
    jsonw_kuint(w, keys[0], ps->tmp_tables);
    jsonw_kuint(w, keys[1], ps->tmp_disk_tables);
    jsonw_kbool(w, keys[2], ps->tmp_disk_tables > 0);
    jsonw_kbool(w, keys[3], ps->merge_passes > 0);
    jsonw_kuint(w, keys[4], ps->merge_passes);
}

/* The lock wait in JSON; null when the statement waited for no lock. */
static void
slowlog_json_lock(struct jsonw *w, const struct filter *f, bool redact, const struct rec *r)
{
    jsonw_key(w, "lock_wait");
    if (!r->explain.has_lock_wait) {
        jsonw_null(w);
        return;
    }
    const struct lockwait *lw = &r->explain.lock;
    jsonw_object_begin(w);
    jsonw_ksecs(w, "seconds", (int64_t)lw->wait_us);
    jsonw_kstr(w, "type", lockwait_kind_name(lw->kind));
    slowlog_jopt0(w, "table", lw->table, sizeof lw->table);
    slowlog_jopt0(w, "index", lw->index, sizeof lw->index);
    slowlog_jopt0(w, "mode", lw->mode, sizeof lw->mode);
    slowlog_jopt0(w, "state", lw->state, sizeof lw->state);
    if (lw->blocked_by) {
        jsonw_kuint(w, "blocked_by", lw->blocked_by);
    } else {
        jsonw_knull(w, "blocked_by");
    }
    jsonw_kbool(w, "blocked_by_inferred", lw->inferred);
    jsonw_key(w, "candidates");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < lw->ncands && i < LOCKWAIT_CANDS; i++) {
        jsonw_uint(w, lw->cands[i]);
    }
    jsonw_array_end(w);
    jsonw_key(w, "blocker");
    if (r->explain.blocker) {
        slowlog_json_blocker(w, f, redact, r->explain.blocker);
    } else {
        jsonw_null(w);
    }
    jsonw_object_end(w);
}

static void
slowlog_json_tags(struct jsonw *w, const struct filter *f, bool redact, const struct rec *r)
{
    jsonw_key(w, "tags");
    if (!r->tags || !r->tags->n) {
        jsonw_null(w);
        return;
    }
    jsonw_object_begin(w);
    for (unsigned i = 0; i < r->tags->n; i++) {
        const char *v = r->tags->tag[i].value;
        size_t vn = strlen(v);
        if (redact && filter_hides_value(f, v, vn)) {
            v = "?";
            vn = 1;
        }
        jsonw_kstrn(w, r->tags->tag[i].key, v, vn);
    }
    jsonw_object_end(w);
}

static void
slowlog_json_plan(struct jsonw *w, const struct filter *f, bool redact, const struct rec *r)
{
    const struct plan *p = r->explain.plan;
    jsonw_key(w, "flags");
    if (!p) {
        jsonw_null(w);
    } else {
        jsonw_object_begin(w);
        jsonw_kbool(w, "full_scan", p->flags & PLAN_FULL_SCAN);
        jsonw_kbool(w, "full_join", p->flags & PLAN_FULL_JOIN);
        jsonw_kbool(w, "tmp_table", p->flags & PLAN_TMP_TABLE);
        jsonw_kbool(w, "filesort", p->flags & PLAN_FILESORT);
        jsonw_object_end(w);
    }
    jsonw_kstr(w, "explain_source", explain_source_name(r->explain.source));
    slowlog_jopt0(w, "explain_error", slowlog_server_words(f, redact, r->explain.error),
                  sizeof r->explain.error);
    plan_write_json(w, p);
    jsonw_kstr(w, "index_advice", r->explain.index_advice);
}

/* The entry's object without its closing '}' (the sink adds members there: chsink.h). */
static void
slowlog_json_members(struct jsonw *w, const struct filter *f, bool redact, const struct rec *r)
{
    char num[4];
    jsonw_object_begin(w);
    slowlog_jtime(w, "time", r->start_wall_us);
    jsonw_ksecs(w, "ts", r->start_wall_us);
    jsonw_kuint(w, "thread_id", r->thread_id);
    slowlog_jstr0(w, "user", r->user, sizeof(r->user));
    slowlog_jstr0(w, "host", r->host, sizeof(r->host));
    slowlog_jstr0(w, "schema", r->schema, sizeof(r->schema));
    jsonw_kstr(w, "command", slowlog_cmd_label(r->cmd, num));
    if (r->cmd != PROTO_COM_QUERY && (!r->sql || r->sql_len == 0)) {
        jsonw_knull(w, "statement");
    } else {
        const char *s = r->sql ? r->sql : "";
        size_t n = r->sql ? r->sql_len : 0;
        if (redact) {
            s = slowlog_redact(f, 0, s, n, &n);
        }
        jsonw_kstrn(w, "statement", s, n);
    }
    jsonw_kbool(w, "truncated", r->sql_truncated);
    jsonw_kbool(w, "prepare", r->cmd == PROTO_COM_STMT_PREPARE);
    jsonw_key(w, "unknown_statement_id");
    if (r->unknown_stmt) {
        jsonw_uint(w, r->stmt_id);
    } else {
        jsonw_null(w);
    }
    if (r->bulk_rows) {
        jsonw_kuint(w, "bulk_rows", r->bulk_rows);
    } else {
        jsonw_knull(w, "bulk_rows");
    }
    slowlog_jtext(w, "params", f, redact, 1, r->params);
    slowlog_jtext(w, "prepared_statement", f, redact, 2, r->prepared_sql);
    jsonw_ksecs(w, "query_time", (int64_t)r->query_us);
    jsonw_ksecs(w, "queue_time", (int64_t)r->queue_us);
    jsonw_ksecs(w, "lock_time", (int64_t)slowlog_lock_us(r));
    slowlog_json_lock(w, f, redact, r);
    jsonw_kuint(w, "rows_sent", r->rows_sent);
    if (r->explain.has_pfs) { /* null: slowtap did not learn it (the protocol does not carry it) */
        jsonw_kuint(w, "rows_examined", r->explain.pfs.rows_examined);
    } else {
        jsonw_knull(w, "rows_examined");
    }
    jsonw_kuint(w, "rows_affected", r->rows_affected);
    jsonw_kuint(w, "bytes_sent", r->bytes_sent);
    slowlog_json_tmp(w, r);
    jsonw_key(w, "transaction");
    if (r->trx_ended) {
        jsonw_object_begin(w);
        jsonw_ksecs(w, "duration", (int64_t)r->trx_us);
        jsonw_kuint(w, "statements", r->trx_stmts);
        jsonw_ksecs(w, "idle", (int64_t)r->trx_idle_us);
        slowlog_jtime(w, "started", r->trx_wall_start);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    slowlog_json_tags(w, f, redact, r);
    jsonw_key(w, "n_plus_one");
    if (r->n_plus_one.n_plus_one) {
        jsonw_object_begin(w);
        slowlog_jhex(w, "child", r->n_plus_one.child);
        jsonw_kuint(w, "count", r->n_plus_one.count);
        jsonw_ksecs(w, "total", (int64_t)r->n_plus_one.total_us);
        slowlog_jhex(w, "parent", r->n_plus_one.parent);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    jsonw_kstr(w, "trace_id", r->tags && r->tags->trace_id[0] ? r->tags->trace_id : NULL);
    jsonw_kstr(w, "span_id", r->tags && r->tags->span_id[0] ? r->tags->span_id : NULL);
    jsonw_kbool(w, "client_gone", r->interrupted && strcmp(r->interrupted, "client_gone") == 0);
    jsonw_kstr(w, "interrupted", r->interrupted);
    jsonw_kstr(w, "untracked", r->untracked);
    jsonw_kuint(w, "error_code", r->err_code);
    if (r->err_code) {
        slowlog_jstr0(w, "error", r->err_msg, sizeof(r->err_msg));
    } else {
        jsonw_knull(w, "error");
    }
    slowlog_jhex(w, "digest", r->digest);
    slowlog_jtext(w, "fingerprint", f, redact, 3, r->fingerprint);
    jsonw_kbool(w, "no_index_used", r->status & 0x20);
    jsonw_kbool(w, "no_good_index_used", r->status & 0x10);
    slowlog_json_plan(w, f, redact, r);
}

static void
slowlog_json_object(struct jsonw *w, const struct filter *f, bool redact, const struct rec *r)
{
    slowlog_json_members(w, f, redact, r);
    jsonw_object_end(w);
}

/* One line; written straight into the log buffer (no allocation). If the buffer cannot grow,
 * logbuf_end drops the entry and counts it. */
static void
slowlog_write_json(struct logbuf *b, const struct filter *f, bool redact, const struct rec *r)
{
    struct jsonw w;
    logbuf_begin(b);
    jsonw_init(&w, slowlog_json_sink, b, 0);
    slowlog_json_object(&w, f, redact, r);
    jsonw_flush(&w);
    logbuf_add(b, "\n", 1);
    logbuf_end(b);
}

/* With a sink (chsink.h): the JSON object is serialized once, into this buffer, and both the
 * JSON log and the sink take its bytes. */
static _Thread_local struct jsonw_mem slowlog_jrow;

static void
slowlog_write_shared(struct logbuf *b, enum conf_log_format format, const struct filter *f,
                     bool redact, const struct rec *r)
{
    struct jsonw w;
    slowlog_jrow.len = 0;
    slowlog_jrow.failed = false;
    jsonw_init(&w, jsonw_mem_sink, &slowlog_jrow, 0);
    slowlog_json_members(&w, f, redact, r);
    jsonw_flush(&w);
    bool ok = !slowlog_jrow.failed && slowlog_jrow.data;
    if (format == CONF_LOG_JSON) {
        logbuf_begin(b);
        if (!ok) {
            logbuf_abandon(b);
        } else {
            logbuf_add(b, slowlog_jrow.data, slowlog_jrow.len);
            logbuf_add(b, "}\n", 2);
            logbuf_end(b);
        }
    } else {
        slowlog_write_text(b, f, redact, r);
    }
    if (ok) {
        chsink_write(slowlog_jrow.data, slowlog_jrow.len, f, redact, r);
    }
}

void
slowlog_thread_cleanup(void)
{
    jsonw_mem_free(&slowlog_jrow);
    chsink_thread_end();
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
    if (chsink_on()) {
        slowlog_write_shared(b, format, f, redact, r);
        return;
    }
    if (format == CONF_LOG_JSON) {
        slowlog_write_json(b, f, redact, r);
    } else {
        slowlog_write_text(b, f, redact, r);
    }
}
