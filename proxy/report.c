/*
 * report.c - `slowtap report`: reads slow logs (slowtap's text and JSON-lines formats, and
 * MySQL/MariaDB server slow logs, old and new style), groups the entries by statement shape
 * (proto_fingerprint) and prints the shapes ranked by total time, as a table or JSON.
 *
 * Text logs are read line by line: "# " lines are an entry's header (a header line after
 * statement lines starts the next entry), "use db;" and "SET timestamp=N;" before the
 * statement are metadata, other lines are the statement. Server start-up banners
 * ("mariadbd, Version: ... started with:", "Tcp port:", "Time Id Command Argument") are
 * skipped wherever they appear (each FLUSH LOGS or restart repeats them).
 */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "protocol/proto_fingerprint.h"

#define REPORT_FP_CAP  4096 /* fingerprint text kept per shape (the digest covers it all) */
#define REPORT_WIDTH   120  /* table lines are cut to this many columns */
#define REPORT_NO_TIME (-1.0)

/* One slow-log entry as read from a file. */
struct report_entry {
    double time; /* epoch seconds, REPORT_NO_TIME when unknown */
    double query_time;
    uint64_t rows_sent, rows_examined;
    bool full_scan;
    char *stmt; /* heap, grows as lines arrive */
    size_t stmt_len, stmt_cap;
    bool in_stmt;         /* statement lines have started */
    bool after_ts;        /* SET timestamp= seen: every further line is statement */
    bool has_header;      /* some "# " line seen */
    bool has_user;        /* "# User@Host:" seen */
    int explain_type_col; /* index of "type" in the `# explain:` header, -1 before it */
    bool explain_row_seen;
};

/* One statement shape. */
struct report_shape {
    uint64_t digest;
    char *fingerprint;
    double *samples; /* query times in seconds */
    size_t n, cap;
    double total;
    uint64_t rows_sent, rows_examined, full_scans;
    bool used;
};

struct report {
    struct report_shape *slots; /* open addressing on the digest */
    size_t nslots, nshapes;
    uint64_t entries, skipped;
    double total;
    double since; /* REPORT_NO_TIME = no --since */
    FILE *err;
    bool oom;
};

/* ---- shapes ---- */

static struct report_shape *
report_slot(struct report_shape *slots, size_t nslots, uint64_t digest)
{
    size_t i = (size_t)(digest ^ (digest >> 29)) & (nslots - 1);
    while (slots[i].used && slots[i].digest != digest) {
        i = (i + 1) & (nslots - 1);
    }
    return &slots[i];
}

static bool
report_grow(struct report *r)
{
    size_t n = r->nslots ? r->nslots * 2 : 256;
    struct report_shape *slots = calloc(n, sizeof(*slots));
    if (!slots) {
        return false;
    }
    for (size_t i = 0; i < r->nslots; i++) {
        if (r->slots[i].used) {
            *report_slot(slots, n, r->slots[i].digest) = r->slots[i];
        }
    }
    free(r->slots);
    r->slots = slots;
    r->nslots = n;
    return true;
}

static void
report_add(struct report *r, const struct report_entry *e, const char *text, size_t len)
{
    char *fp = malloc(REPORT_FP_CAP);
    uint64_t digest;
    struct report_shape *s;

    if (!fp) {
        r->oom = true;
        return;
    }
    if (r->since != REPORT_NO_TIME && (e->time == REPORT_NO_TIME || e->time < r->since)) {
        r->skipped++;
        free(fp);
        return;
    }
    digest = proto_fingerprint(text, len, fp, REPORT_FP_CAP);
    if ((r->nshapes + 1) * 2 > r->nslots && !report_grow(r)) {
        r->oom = true;
        free(fp);
        return;
    }
    s = report_slot(r->slots, r->nslots, digest);
    if (!s->used) {
        s->used = true;
        s->digest = digest;
        s->fingerprint = fp;
        r->nshapes++;
    } else {
        free(fp);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        double *samples = realloc(s->samples, cap * sizeof(*samples));
        if (!samples) {
            r->oom = true;
            return;
        }
        s->samples = samples;
        s->cap = cap;
    }
    s->samples[s->n++] = e->query_time;
    s->total += e->query_time;
    s->rows_sent += e->rows_sent;
    s->rows_examined += e->rows_examined;
    s->full_scans += e->full_scan;
    r->entries++;
    r->total += e->query_time;
}

static void
report_free(struct report *r)
{
    for (size_t i = 0; i < r->nslots; i++) {
        free(r->slots[i].fingerprint);
        free(r->slots[i].samples);
    }
    free(r->slots);
}

/* ---- time ---- */

/* Parses "2026-11-24T21:48:00[.123456][Z]" (also with a space for T, or a date alone) and
 * the old server style "261124 21:48:00" / "261124  1:02:03". No zone = local time. */
static bool
report_parse_time(const char *s, double *out)
{
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                       "%Y-%m-%d %H:%M",    "%y%m%d %H:%M:%S",   "%Y-%m-%d"};
    while (*s == ' ') {
        s++;
    }
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        struct tm tm;
        const char *end;
        double frac = 0;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, fmts[i], &tm);
        if (!end) {
            continue;
        }
        if (i == 4 && (s[6] != ' ')) {
            continue; /* yymmdd must be 6 digits */
        }
        if (*end == '.') {
            char *fend;
            frac = strtod(end, &fend);
            end = fend;
        }
        if (*end == 'Z' && end[1] == '\0') {
            t = timegm(&tm);
        } else if (*end == '\0' || *end == '\n' || *end == '\r') {
            tm.tm_isdst = -1;
            t = mktime(&tm);
        } else if ((*end == '+' || *end == '-') && strlen(end) == 6 && end[3] == ':') {
            int sign = *end == '-' ? -1 : 1;
            int hh = atoi(end + 1), mm = atoi(end + 4);
            t = timegm(&tm) - sign * (hh * 3600 + mm * 60);
        } else {
            continue;
        }
        if (t == (time_t)-1) {
            continue;
        }
        *out = (double)t + frac;
        return true;
    }
    return false;
}

/* --since: an absolute time (see report_parse_time) or a relative 30s/30m/2h/1d/1w. */
static bool
report_parse_since(const char *s, double *out)
{
    char *end;
    double v;

    if (report_parse_time(s, out)) {
        return true;
    }
    if (!(*s >= '0' && *s <= '9')) {
        return false;
    }
    v = strtod(s, &end);
    if (end == s || end[0] == '\0' || end[1] != '\0') {
        return false;
    }
    switch (*end) {
    case 's':
        break;
    case 'm':
        v *= 60;
        break;
    case 'h':
        v *= 3600;
        break;
    case 'd':
        v *= 86400;
        break;
    case 'w':
        v *= 7 * 86400;
        break;
    default:
        return false;
    }
    *out = (double)time(NULL) - v;
    return true;
}

/* ---- text logs ---- */

static void
report_entry_reset(struct report_entry *e)
{
    char *stmt = e->stmt;
    size_t cap = e->stmt_cap;
    memset(e, 0, sizeof(*e));
    e->stmt = stmt;
    e->stmt_cap = cap;
    e->time = REPORT_NO_TIME;
    e->explain_type_col = -1;
}

static bool
report_stmt_append(struct report_entry *e, const char *s, size_t n)
{
    if (e->stmt_len + n + 2 > e->stmt_cap) {
        size_t cap = (e->stmt_len + n + 2) * 2;
        char *p = realloc(e->stmt, cap);
        if (!p) {
            return false;
        }
        e->stmt = p;
        e->stmt_cap = cap;
    }
    if (e->stmt_len) {
        e->stmt[e->stmt_len++] = '\n';
    }
    memcpy(e->stmt + e->stmt_len, s, n);
    e->stmt_len += n;
    e->stmt[e->stmt_len] = '\0';
    return true;
}

/* Ends the current entry: adds it when it has a statement. */
static void
report_entry_finish(struct report *r, struct report_entry *e)
{
    if (e->in_stmt) {
        size_t n = e->stmt_len;
        while (n > 0 && (e->stmt[n - 1] == ' ' || e->stmt[n - 1] == '\t' ||
                         e->stmt[n - 1] == '\n' || e->stmt[n - 1] == '\r')) {
            n--;
        }
        if (n > 0 && e->stmt[n - 1] == ';') {
            n--;
        }
        report_add(r, e, e->stmt ? e->stmt : "", n);
    }
    report_entry_reset(e);
}

/* Value after "key" in a header line ("Query_time: 0.5  Lock_time: ..."), or NULL. */
static const char *
report_field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (!p) {
        return NULL;
    }
    p += strlen(key);
    while (*p == ' ') {
        p++;
    }
    return p;
}

static uint64_t
report_u64(const char *s)
{
    return s ? strtoull(s, NULL, 10) : 0;
}

/* Splits a `# explain:` row into fields: tabs, or runs of spaces when there is no tab. */
static int
report_split(char *s, char **fields, int max)
{
    int n = 0;
    bool tabs = strchr(s, '\t') != NULL;
    char *p = s;
    while (n < max) {
        if (!tabs) {
            while (*p == ' ') {
                p++;
            }
            if (!*p) {
                break;
            }
        }
        fields[n++] = p;
        p += strcspn(p, tabs ? "\t" : " ");
        if (!*p) {
            break;
        }
        *p++ = '\0';
    }
    return n;
}

static void
report_explain_line(struct report_entry *e, const char *row)
{
    char buf[1024], *f[32];
    int n;
    snprintf(buf, sizeof(buf), "%s", row + strspn(row, " "));
    buf[strcspn(buf, "\r\n")] = '\0';
    n = report_split(buf, f, 32);
    if (n == 0) {
        return;
    }
    if (strcmp(f[0], "id") == 0) {
        e->explain_type_col = -1;
        for (int i = 0; i < n; i++) {
            if (strcmp(f[i], "type") == 0) {
                e->explain_type_col = i;
            }
        }
        e->explain_row_seen = false;
        return;
    }
    if (!e->explain_row_seen) {
        e->explain_row_seen = true;
        if (e->explain_type_col >= 0 && e->explain_type_col < n &&
            strcmp(f[e->explain_type_col], "ALL") == 0) {
            e->full_scan = true;
        }
    }
}

static void
report_header_line(struct report_entry *e, const char *line)
{
    const char *v;
    e->has_header = true;
    if (strncmp(line, "# Time:", 7) == 0) {
        double t;
        if (e->time == REPORT_NO_TIME && report_parse_time(line + 7, &t)) {
            e->time = t;
        }
        return;
    }
    if (strncmp(line, "# User@Host:", 12) == 0) {
        e->has_user = true;
        return;
    }
    if (strncmp(line, "# explain:", 10) == 0) {
        report_explain_line(e, line + 10);
        return;
    }
    if ((v = report_field(line, "Query_time:"))) {
        e->query_time = strtod(v, NULL);
    }
    if ((v = report_field(line, "Rows_sent:"))) {
        e->rows_sent = report_u64(v);
    }
    if ((v = report_field(line, "Rows_examined:"))) {
        e->rows_examined = report_u64(v);
    }
    if ((v = report_field(line, "Full_scan:")) && strncmp(v, "Yes", 3) == 0) {
        e->full_scan = true;
    }
}

/* Server start-up banner lines. */
static bool
report_banner(const char *line)
{
    if (strstr(line, ", Version: ") && strstr(line, "started with:")) {
        return true;
    }
    if (strncmp(line, "Tcp port:", 9) == 0) {
        return true;
    }
    if (strncmp(line, "Time", 4) == 0 && strstr(line, "Id Command") && strstr(line, "Argument")) {
        return true;
    }
    return false;
}

static void
report_text_line(struct report *r, struct report_entry *e, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    if (strncmp(line, "# administrator command: ", 25) == 0 && e->has_header) {
        e->in_stmt = true;
        e->after_ts = true;
        if (!report_stmt_append(e, line + 2, len - 2)) {
            r->oom = true;
        }
        return;
    }
    if (strncmp(line, "# ", 2) == 0 || strcmp(line, "#") == 0) {
        bool starts = strncmp(line, "# Time:", 7) == 0;
        bool user = strncmp(line, "# User@Host:", 12) == 0;
        if (e->in_stmt || (starts && e->has_header) || (user && e->has_user)) {
            report_entry_finish(r, e);
        }
        report_header_line(e, line);
        return;
    }
    if (report_banner(line)) {
        if (e->in_stmt) {
            report_entry_finish(r, e);
        }
        report_entry_reset(e);
        return;
    }
    if (!e->has_header) {
        return; /* text outside any entry */
    }
    if (!e->after_ts && !e->in_stmt) {
        if (strncmp(line, "SET timestamp=", 14) == 0) {
            e->time = strtod(line + 14, NULL);
            e->after_ts = true;
            return;
        }
        if (strncasecmp(line, "use ", 4) == 0 && len > 0 && line[len - 1] == ';') {
            return; /* the schema: not needed for shapes */
        }
    }
    e->in_stmt = true;
    if (!report_stmt_append(e, line, len)) {
        r->oom = true;
    }
}

/* ---- JSON lines ---- */

static double
report_jnum(json_t *v)
{
    if (json_is_number(v)) {
        return json_number_value(v);
    }
    if (json_is_string(v)) {
        return strtod(json_string_value(v), NULL);
    }
    return 0;
}

static void
report_json_line(struct report *r, const char *line, size_t lineno, const char *path)
{
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr), *v, *flags, *plan;
    struct report_entry e;
    const char *text = NULL;

    if (!json_is_object(o)) {
        fprintf(r->err, "slowtap report: %s line %zu: skipped: not a JSON object (%s)\n", path,
                lineno, jerr.text);
        json_decref(o);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.time = REPORT_NO_TIME;
    v = json_object_get(o, "ts");
    if (json_is_number(v)) {
        e.time = json_number_value(v);
    } else if (json_is_string(v = json_object_get(o, "time"))) {
        double t;
        if (report_parse_time(json_string_value(v), &t)) {
            e.time = t;
        }
    } else if (json_is_number(v)) {
        e.time = json_number_value(v);
    }
    e.query_time = report_jnum(json_object_get(o, "query_time"));
    e.rows_sent = (uint64_t)report_jnum(json_object_get(o, "rows_sent"));
    e.rows_examined = (uint64_t)report_jnum(json_object_get(o, "rows_examined"));
    flags = json_object_get(o, "flags");
    if (json_is_object(flags) && json_is_true(json_object_get(flags, "full_scan"))) {
        e.full_scan = true;
    }
    plan = json_object_get(o, "plan");
    if (json_is_array(plan) && json_array_size(plan) > 0) {
        json_t *type = json_object_get(json_array_get(plan, 0), "type");
        if (json_is_string(type) && strcmp(json_string_value(type), "ALL") == 0) {
            e.full_scan = true;
        }
    }
    if (json_is_string(v = json_object_get(o, "statement"))) {
        text = json_string_value(v);
    } else if (json_is_string(v = json_object_get(o, "fingerprint"))) {
        text = json_string_value(v);
    } else if (json_is_string(v = json_object_get(o, "command"))) {
        text = json_string_value(v);
    }
    if (text) {
        report_add(r, &e, text, json_is_string(v) ? json_string_length(v) : strlen(text));
    }
    json_decref(o);
}

/* ---- files ---- */

static bool
report_read(struct report *r, const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int json = -1; /* decided by the first non-empty line */
    struct report_entry e;

    if (!fp) {
        fprintf(r->err, "slowtap report: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    memset(&e, 0, sizeof(e));
    report_entry_reset(&e);
    errno = 0;
    while ((n = getline(&line, &cap, fp)) >= 0 && !r->oom) {
        lineno++;
        if (json < 0) {
            const char *p = line + strspn(line, " \t\r\n");
            if (!*p) {
                continue;
            }
            json = *p == '{';
        }
        if (json) {
            if (line[strspn(line, " \t\r\n")] != '\0') {
                report_json_line(r, line, lineno, path);
            }
        } else {
            report_text_line(r, &e, line, (size_t)n);
        }
    }
    if (ferror(fp)) {
        fprintf(r->err, "slowtap report: cannot read %s: %s\n", path, strerror(errno));
        free(line);
        free(e.stmt);
        if (fp != stdin) {
            fclose(fp);
        }
        return false;
    }
    report_entry_finish(r, &e);
    free(line);
    free(e.stmt);
    if (fp != stdin) {
        fclose(fp);
    }
    if (r->oom) {
        fprintf(r->err, "slowtap report: %s: out of memory\n", path);
        return false;
    }
    return true;
}

/* ---- output ---- */

static int
report_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
report_cmp_shape(const void *a, const void *b)
{
    const struct report_shape *x = *(const struct report_shape *const *)a;
    const struct report_shape *y = *(const struct report_shape *const *)b;
    if (x->total != y->total) {
        return x->total > y->total ? -1 : 1;
    }
    if (x->n != y->n) {
        return x->n > y->n ? -1 : 1;
    }
    return x->digest < y->digest ? -1 : x->digest > y->digest;
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double
report_pct_ms(const struct report_shape *s, double p)
{
    size_t idx = (size_t)ceil(p / 100.0 * (double)s->n);
    if (idx < 1) {
        idx = 1;
    }
    if (idx > s->n) {
        idx = s->n;
    }
    return s->samples[idx - 1] * 1000.0;
}

static void
report_print_table(FILE *out, const struct report *r, struct report_shape **v, size_t n)
{
    char line[REPORT_WIDTH * 4];
    fprintf(out, "# %llu entries, %zu shapes, %.3f s total; top %zu by total time%s\n",
            (unsigned long long)r->entries, r->nshapes, r->total, n,
            r->skipped ? " (entries before --since skipped)" : "");
    snprintf(line, sizeof(line), "%3s %-8s %6s %8s %8s %8s %8s %8s %9s %9s %5s %s", "rank",
             "digest", "count", "total_s", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "rows_sent",
             "rows_exam", "fscan", "fingerprint");
    fprintf(out, "%s\n", line);
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        char hex[17];
        int len;
        proto_digest_hex(s->digest, hex);
        hex[8] = '\0';
        len = snprintf(line, sizeof(line),
                       "%3zu %-8s %6zu %8.3f %8.3f %8.3f %8.3f %8.3f %9llu %9llu %5llu ", i + 1,
                       hex, s->n, s->total, s->total * 1000.0 / (double)s->n, report_pct_ms(s, 50),
                       report_pct_ms(s, 95), report_pct_ms(s, 99), (unsigned long long)s->rows_sent,
                       (unsigned long long)s->rows_examined, (unsigned long long)s->full_scans);
        if (len < 0) {
            continue;
        }
        fputs(line, out);
        if (len < REPORT_WIDTH) {
            /* the fingerprint on one line: newlines and tabs as spaces, cut to the width */
            for (int k = 0; s->fingerprint[k] && len < REPORT_WIDTH; k++, len++) {
                char ch = s->fingerprint[k];
                fputc(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch, out);
            }
        }
        fputc('\n', out);
    }
}

static bool
report_print_json(FILE *out, struct report_shape **v, size_t n)
{
    json_t *arr = json_array();
    bool ok;
    if (!arr) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        char hex[17];
        json_t *o;
        proto_digest_hex(s->digest, hex);
        o = json_pack("{s:I, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:s}",
                      "rank", (json_int_t)(i + 1), "digest", hex, "count", (json_int_t)s->n,
                      "total_s", s->total, "avg_ms", s->total * 1000.0 / (double)s->n, "min_ms",
                      s->samples[0] * 1000.0, "max_ms", s->samples[s->n - 1] * 1000.0, "p50_ms",
                      report_pct_ms(s, 50), "p95_ms", report_pct_ms(s, 95), "p99_ms",
                      report_pct_ms(s, 99), "rows_sent", (json_int_t)s->rows_sent, "rows_examined",
                      (json_int_t)s->rows_examined, "full_scans", (json_int_t)s->full_scans,
                      "fingerprint", s->fingerprint);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return false;
        }
    }
    ok = json_dumpf(arr, out, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) == 0;
    fputc('\n', out);
    json_decref(arr);
    return ok;
}

static void
report_usage(FILE *out)
{
    fprintf(out,
            "Usage: slowtap report [OPTION]... FILE...\n"
            "Reads slow logs (slowtap's text or JSON-lines logs, MySQL/MariaDB server slow\n"
            "logs; - for stdin) and prints statement shapes ranked by total time.\n"
            "\n"
            "  --top N               shapes to show, 0 for all (default 10)\n"
            "  --since TIME          only entries at or after TIME: 2026-11-24T21:00:00\n"
            "                        (local time; add Z for UTC) or relative 45s, 30m, 2h,\n"
            "                        1d, 1w (default: all)\n"
            "  --format table|json   output format (default table)\n"
            "  --help                print this help and exit\n"
            "\n"
            "Columns: rank, digest (first 8 hex digits), count, total seconds, average and\n"
            "p50/p95/p99 milliseconds (exact), rows sent, rows examined, full scans (entries\n"
            "with Full_scan: Yes or an EXPLAIN of type ALL on the first table), fingerprint.\n");
}

int
report_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option lo[] = {
        {"top", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct report r;
    long top = 10;
    bool json = false;
    int rc, status = 0;
    struct report_shape **v;
    size_t n = 0;

    memset(&r, 0, sizeof(r));
    r.err = err;
    r.since = REPORT_NO_TIME;
    opterr = 0;
    optind = 0;
    while ((rc = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
        const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "?";
        char *end;
        switch (rc) {
        case 't':
            errno = 0;
            top = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || top < 0) {
                fprintf(err, "slowtap report: --top: invalid number '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!report_parse_since(optarg, &r.since)) {
                fprintf(err,
                        "slowtap report: --since: invalid time '%s' (expected "
                        "2026-11-24T21:00:00 or 30m/2h/1d)\n",
                        optarg);
                return 2;
            }
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                json = true;
            } else if (strcmp(optarg, "table") == 0) {
                json = false;
            } else {
                fprintf(err,
                        "slowtap report: --format: invalid value '%s' (expected table or json)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            report_usage(out);
            return 0;
        case ':':
            fprintf(err, "slowtap report: %.*s: missing argument\n", (int)strcspn(arg, "="), arg);
            return 2;
        default:
            fprintf(err, "slowtap report: unknown option '%.*s'\n", (int)strcspn(arg, "="), arg);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(err, "slowtap report: no slow-log file given (see slowtap report --help)\n");
        return 2;
    }
    for (int i = optind; i < argc; i++) {
        if (!report_read(&r, argv[i])) {
            report_free(&r);
            return 2;
        }
    }

    v = calloc(r.nshapes ? r.nshapes : 1, sizeof(*v));
    if (!v) {
        fprintf(err, "slowtap report: out of memory\n");
        report_free(&r);
        return 2;
    }
    for (size_t i = 0; i < r.nslots; i++) {
        if (r.slots[i].used) {
            qsort(r.slots[i].samples, r.slots[i].n, sizeof(double), report_cmp_double);
            v[n++] = &r.slots[i];
        }
    }
    qsort(v, n, sizeof(*v), report_cmp_shape);
    if (top > 0 && (size_t)top < n) {
        n = (size_t)top;
    }
    if (json) {
        if (!report_print_json(out, v, n)) {
            fprintf(err, "slowtap report: cannot write JSON output\n");
            status = 1;
        }
    } else {
        report_print_table(out, &r, v, n);
    }
    free(v);
    report_free(&r);
    return status;
}
