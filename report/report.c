/*
 * report.c - `slowtap report`: reads slow logs (slowtap's text and JSON-lines formats, and
 * MySQL/MariaDB server slow logs, old and new style), groups the entries by statement shape
 * (proto_fingerprint) and prints the shapes ranked by total time, as a table or JSON; with
 * --group-by ATTR it ranks the values of an attribute (a tag such as route, the user, host or
 * schema) instead, each with its costliest shapes. A file with text but no entry (nor a server
 * banner) is "not a slow log" (exit status 2); an empty file is an empty log.
 *
 * Text logs are read line by line: "# " lines are an entry's header (a header line after
 * statement lines starts the next entry), "use db;" and "SET timestamp=N;" before the
 * statement are metadata, other lines are the statement. Server start-up banners
 * ("mariadbd, Version: ... started with:", "Tcp port:", "Time Id Command Argument") are
 * skipped wherever they appear (each FLUSH LOGS or restart repeats them).
 */
#include "report/report.h"
#include "report/report_ch.h"

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

#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "explain/advice.h"
#include "explain/plan.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_shapename.h"

#define REPORT_FP_CAP    4096 /* fingerprint text kept per shape (the digest covers it all) */
#define REPORT_WIDTH     100  /* table lines fit this many columns */
#define REPORT_FP_MIN    24   /* narrowest fingerprint column, unless one flag is wider */
#define REPORT_FP_LINES  6    /* fingerprint lines per shape in the table, at most */
#define REPORT_NO_TIME   (-1.0)
#define REPORT_NO_INDEX  0x100 /* with the PLAN_* bits: the server reported no index used */
#define REPORT_TMP_DISK  0x200 /* the server: a temporary table went to disk */
#define REPORT_SORT_DISK 0x400 /* the server: a filesort went to disk (merge passes) */
#define REPORT_EXPL_COLS 32
#define REPORT_LOCK_STMT 1024 /* of the blocker's last statement, kept per lock wait */

/* A lock wait as an entry's `# Lock_wait:`, `# Blocker:` and `# blocker:` lines (or its JSON
 * lock_wait object) tell it: what the statement waited for and, when slowtap knew the
 * blocking session, what that session was doing. */
struct report_lock {
    double time; /* the entry's, REPORT_NO_TIME when unknown */
    double wait_s;
    char type[16];   /* row, table, metadata, ... (lockwait_kind_name) */
    char table[256]; /* `db`.`t`, "" when unknown */
    char index[128];
    uint64_t blocked_by; /* the blocking thread, 0 when unknown */
    bool inferred;       /* a metadata-lock blocker slowtap inferred */
    char cands[128];     /* "1742,1750": the sessions that could hold it, "" when none */
    bool has_blocker;    /* the blocker was a session through slowtap: */
    uint64_t thread_id;
    char user[128], host[128];
    double trx_s, idle_s;        /* its open transaction's age and its idle time, < 0 unknown */
    char last[REPORT_LOCK_STMT]; /* its last statement in that transaction, as logged */
    bool last_cut;               /* that statement was cut in the log */
};

/* The shape slowtap's statistics give a prepare (its entry holds the prepared text). */
#define REPORT_PREPARE "administrator command: Prepare"

/* One slow-log entry as read from a file. */
struct report_entry {
    double time; /* epoch seconds, REPORT_NO_TIME when unknown */
    double query_time, lock_time;
    uint64_t rows_sent, rows_examined, rows_affected;
    bool error;     /* "# Error:" or a JSON error_code */
    unsigned flags; /* PLAN_* from the flags line or the plan, and REPORT_NO_INDEX/_DISK */
    uint64_t tmp_disk_tables, merge_passes; /* "# Tmp_tables:" line, JSON alike */
    bool has_plan;                          /* a flags line or a plan was seen */
    char *stmt;                             /* heap, grows as lines arrive */
    size_t stmt_len, stmt_cap;
    bool in_stmt;      /* statement lines have started */
    bool after_ts;     /* SET timestamp= seen: every further line is statement */
    bool has_header;   /* some "# " line seen */
    bool has_user;     /* "# User@Host:" seen */
    bool real;         /* a Query_time, Time or User@Host line: a slow-log entry, not "# text" */
    bool exam_seen;    /* a Rows_examined field was read */
    bool exam_unknown; /* "Rows_examined_known: No": slowtap did not learn them */
    /* --group-by: the entry's value of the attribute, "" when it has none */
    char group[256];
    bool has_group;
    bool prepare; /* "# Prepare: Yes" / JSON prepare: the statement was prepared, not run;
                          the entry counts as the shape "administrator command: Prepare" */
    /* the `# explain:` lines: the header's column names, then the rows, analyzed at the end */
    char expl_hdr[1024];
    const char *expl_names[REPORT_EXPL_COLS];
    int expl_ncols;
    struct plan *plan;
    char advice[1024];  /* "# Index_advice:" / JSON index_advice, "" when none */
    uint64_t scan_rows; /* the plan's largest scanned table's row estimate (advice_scan_rows) */
    bool scan_known;    /* a plan with rows was seen */
    /* "# N_plus_one: child=<digest> count=N total=S parent=<digest>" (findings.h) */
    bool n1;
    uint64_t n1_child, n1_parent;
    unsigned n1_count;
    bool has_lock; /* a lock wait was logged: */
    struct report_lock lock;
};

/* One statement shape. */
struct report_shape {
    uint64_t digest;
    char *fingerprint;
    char name[PROTO_SHAPE_NAME_MAX]; /* its short name (proto_shapename.h); "" for a group */
    double *samples;                 /* query times in seconds */
    size_t n, cap;
    double total, lock_total;
    uint64_t rows_sent, rows_examined, rows_affected, errors;
    uint64_t full_scans, full_joins, tmp_tables, filesorts, no_index;
    uint64_t tmp_disk, sort_disk;           /* entries with a tmp table, a sort on disk */
    uint64_t tmp_disk_tables, merge_passes; /* their sums */
    uint64_t plans;                         /* entries with a flags line or a plan */
    uint64_t exam_known; /* entries whose rows examined the log knew (rows_examined sums them) */
    bool used;
    bool none;         /* a --group-by group of the entries without the attribute */
    struct plan *plan; /* the last plan read (a reference), NULL when none */
    /* a --group-by group's shapes: digest -> count and time (open addressing) */
    struct report_sub *subs;
    size_t nsubs, subcap;
    char *advice;       /* the last entry's index advice (heap), NULL when none */
    uint64_t scan_rows; /* largest scanned-table estimate of its plans */
    bool scan_known;
    uint64_t lock_waits; /* entries with a lock wait, their total and longest wait, */
    double lock_wait_total, lock_wait_max;
    struct report_lock *lock_longest; /* and the longest one (heap), NULL when none */
};

/* One shape inside a --group-by group. */
struct report_sub {
    uint64_t digest;
    double total;
    size_t n;
    bool used;
};

/* An N+1 (parent, child) pair seen in `# N_plus_one:` lines. */
#define REPORT_N1_MAX 64
struct report_n1 {
    uint64_t child, parent;
    unsigned max_count;
    uint64_t entries;
};

struct report {
    struct report_n1 n1[REPORT_N1_MAX];
    size_t nn1;
    struct report_shape *slots; /* open addressing on the digest */
    size_t nslots, nshapes;
    /* --group-by ATTR: the groups, keyed by a hash of the value (fingerprint holds it) */
    const char *group_by; /* NULL without --group-by */
    struct report_shape *groups;
    size_t ngslots, ngroups;
    uint64_t entries, skipped;
    uint64_t exam_unknown; /* entries whose rows examined the log did not know */
    uint64_t banners;      /* server start-up banner lines read: a slow log, even without entries */
    /* the file being read: entries (and --since skips) before it; JSON lines skipped before its
     * first entry are held (count, first line and why) until it has one */
    uint64_t file_start;
    size_t held, held_line;
    char held_why[160];
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
report_grow(struct report_shape **slotsp, size_t *nslotsp)
{
    size_t n = *nslotsp ? *nslotsp * 2 : 256;
    struct report_shape *slots = calloc(n, sizeof(*slots));
    if (!slots) {
        return false;
    }
    for (size_t i = 0; i < *nslotsp; i++) {
        if ((*slotsp)[i].used) {
            *report_slot(slots, n, (*slotsp)[i].digest) = (*slotsp)[i];
        }
    }
    free(*slotsp);
    *slotsp = slots;
    *nslotsp = n;
    return true;
}

/* Counts one entry of shape `digest` in group g's shapes; false when out of memory. */
static bool
report_sub_add(struct report_shape *g, uint64_t digest, double query_time)
{
    if ((g->nsubs + 1) * 2 > g->subcap) {
        size_t cap = g->subcap ? g->subcap * 2 : 16;
        struct report_sub *subs = calloc(cap, sizeof(*subs));
        if (!subs) {
            return false;
        }
        for (size_t i = 0; i < g->subcap; i++) {
            if (g->subs[i].used) {
                size_t k = (size_t)(g->subs[i].digest ^ (g->subs[i].digest >> 29)) & (cap - 1);
                while (subs[k].used) {
                    k = (k + 1) & (cap - 1);
                }
                subs[k] = g->subs[i];
            }
        }
        free(g->subs);
        g->subs = subs;
        g->subcap = cap;
    }
    size_t k = (size_t)(digest ^ (digest >> 29)) & (g->subcap - 1);
    while (g->subs[k].used && g->subs[k].digest != digest) {
        k = (k + 1) & (g->subcap - 1);
    }
    if (!g->subs[k].used) {
        g->subs[k] = (struct report_sub){.digest = digest, .used = true};
        g->nsubs++;
    }
    g->subs[k].n++;
    g->subs[k].total += query_time;
    return true;
}

/* FNV-1a of a --group-by value; "(none)" is kept apart by its own key. */
static uint64_t
report_group_key(const struct report_entry *e)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    if (!e->has_group) {
        return 0;
    }
    for (const char *p = e->group; *p; p++) {
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    }
    return h ? h : 1;
}

/* Counts an entry's `# N_plus_one:` line per (parent, child); pairs past REPORT_N1_MAX are
 * not listed. */
static void
report_n1_add(struct report *r, const struct report_entry *e)
{
    if (!e->n1) {
        return;
    }
    size_t i = 0;
    while (i < r->nn1 && !(r->n1[i].child == e->n1_child && r->n1[i].parent == e->n1_parent)) {
        i++;
    }
    if (i == r->nn1) {
        if (r->nn1 == REPORT_N1_MAX) {
            return;
        }
        r->n1[r->nn1++] = (struct report_n1){.child = e->n1_child, .parent = e->n1_parent};
    }
    r->n1[i].entries++;
    if (e->n1_count > r->n1[i].max_count) {
        r->n1[i].max_count = e->n1_count;
    }
}

/* Adds an entry's figures to s (a shape or a group); false when out of memory. */
static bool
report_acc(struct report_shape *s, const struct report_entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        double *samples = realloc(s->samples, cap * sizeof(*samples));
        if (!samples) {
            return false;
        }
        s->samples = samples;
        s->cap = cap;
    }
    s->samples[s->n++] = e->query_time;
    s->total += e->query_time;
    s->lock_total += e->lock_time;
    s->rows_sent += e->rows_sent;
    s->rows_examined += e->exam_seen && !e->exam_unknown ? e->rows_examined : 0;
    s->exam_known += e->exam_seen && !e->exam_unknown;
    s->rows_affected += e->rows_affected;
    s->errors += e->error;
    s->full_scans += (e->flags & PLAN_FULL_SCAN) != 0;
    s->full_joins += (e->flags & PLAN_FULL_JOIN) != 0;
    s->tmp_tables += (e->flags & PLAN_TMP_TABLE) != 0;
    s->filesorts += (e->flags & PLAN_FILESORT) != 0;
    s->no_index += (e->flags & REPORT_NO_INDEX) != 0;
    s->tmp_disk += (e->flags & REPORT_TMP_DISK) != 0;
    /* MariaDB can write "Filesort_on_disk: No" with "Merge_passes: 1": merges spill too */
    bool sort_disk = (e->flags & REPORT_SORT_DISK) || e->merge_passes > 0;
    s->sort_disk += sort_disk;
    s->tmp_disk_tables += e->tmp_disk_tables;
    s->merge_passes += e->merge_passes;
    s->plans += e->has_plan || e->plan;
    if (e->scan_known) {
        s->scan_rows = e->scan_rows > s->scan_rows ? e->scan_rows : s->scan_rows;
        s->scan_known = true;
    }
    if (e->plan) { /* the last plan read: a reference */
        plan_free(s->plan);
        s->plan = plan_ref(e->plan);
    }
    if (e->advice[0]) {
        char *a = strdup(e->advice);
        if (a) {
            free(s->advice);
            s->advice = a;
        }
    }
    if (e->has_lock) {
        s->lock_waits++;
        s->lock_wait_total += e->lock.wait_s;
        s->lock_wait_max = e->lock.wait_s > s->lock_wait_max ? e->lock.wait_s : s->lock_wait_max;
        if (!s->lock_longest) {
            s->lock_longest = malloc(sizeof(*s->lock_longest));
            if (!s->lock_longest) {
                return false;
            }
            *s->lock_longest = e->lock;
            s->lock_longest->time = e->time;
        } else if (e->lock.wait_s >= s->lock_longest->wait_s) { /* equal: the later read */
            *s->lock_longest = e->lock;
            s->lock_longest->time = e->time;
        }
    }
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
    if ((r->nshapes + 1) * 2 > r->nslots && !report_grow(&r->slots, &r->nslots)) {
        r->oom = true;
        free(fp);
        return;
    }
    s = report_slot(r->slots, r->nslots, digest);
    if (!s->used) {
        s->used = true;
        s->digest = digest;
        s->fingerprint = fp;
        proto_shape_name(text, len, 0, s->name, sizeof s->name);
        r->nshapes++;
    } else {
        free(fp);
    }
    if (!report_acc(s, e)) {
        r->oom = true;
        return;
    }
    if (r->group_by) {
        uint64_t key = report_group_key(e);
        if ((r->ngroups + 1) * 2 > r->ngslots && !report_grow(&r->groups, &r->ngslots)) {
            r->oom = true;
            return;
        }
        struct report_shape *g = report_slot(r->groups, r->ngslots, key);
        if (!g->used) {
            g->fingerprint = strdup(e->has_group ? e->group : "(none)");
            if (!g->fingerprint) {
                r->oom = true;
                return;
            }
            g->used = true;
            g->digest = key;
            g->none = !e->has_group;
            r->ngroups++;
        }
        if (!report_acc(g, e) || !report_sub_add(g, digest, e->query_time)) {
            r->oom = true;
            return;
        }
    }
    report_n1_add(r, e);
    r->exam_unknown += !(e->exam_seen && !e->exam_unknown);
    r->entries++;
    r->total += e->query_time;
}

static void
report_free_table(struct report_shape *slots, size_t nslots)
{
    for (size_t i = 0; i < nslots; i++) {
        free(slots[i].fingerprint);
        free(slots[i].samples);
        free(slots[i].advice);
        free(slots[i].lock_longest);
        free(slots[i].subs);
        plan_free(slots[i].plan);
    }
    free(slots);
}

static void
report_free(struct report *r)
{
    report_free_table(r->slots, r->nslots);
    report_free_table(r->groups, r->ngslots);
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
    plan_free(e->plan);
    memset(e, 0, sizeof(*e));
    e->stmt = stmt;
    e->stmt_cap = cap;
    e->time = REPORT_NO_TIME;
    e->lock.trx_s = e->lock.idle_s = -1;
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
    if (e->plan) {
        plan_analyze(e->plan);
        e->flags |= e->plan->flags;
        e->scan_rows = advice_scan_rows(e->plan);
        e->scan_known = true;
    }
    if (e->in_stmt && e->real) {
        size_t n = e->stmt_len;
        while (n > 0 && (e->stmt[n - 1] == ' ' || e->stmt[n - 1] == '\t' ||
                         e->stmt[n - 1] == '\n' || e->stmt[n - 1] == '\r')) {
            n--;
        }
        if (n > 0 && e->stmt[n - 1] == ';') {
            n--;
        }
        if (e->prepare) {
            report_add(r, e, REPORT_PREPARE, strlen(REPORT_PREPARE));
        } else {
            report_add(r, e, e->stmt ? e->stmt : "", n);
        }
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

/* Copies s[0..n) into out[cap] as a string, cut to fit; true when it was cut. */
static bool
report_copy(char *out, size_t cap, const char *s, size_t n)
{
    bool cut = n >= cap;
    n = cut ? cap - 1 : n;
    memcpy(out, s, n);
    out[n] = '\0';
    return cut;
}

/* The word (up to a blank) after "key" in a header line into out[cap]; "" when absent. */
static void
report_word(const char *line, const char *key, char *out, size_t cap)
{
    const char *v = report_field(line, key);
    report_copy(out, cap, v ? v : "", v ? strcspn(v, " \t") : 0);
}

/* "# Lock_wait: 2.310000  Lock_type: row  Lock_table: `shop`.`accounts`  Lock_index: PRIMARY
 *  Lock_mode: X  Lock_state: Updating  Blocked_by: 1742 [(inferred)]  [Lock_candidates: a,b]" */
static void
report_lock_line(struct report_entry *e, const char *line)
{
    struct report_lock *l = &e->lock;
    const char *v;
    e->has_lock = true;
    l->wait_s = strtod(line + 12, NULL);
    report_word(line, "Lock_type:", l->type, sizeof l->type);
    if (strcmp(l->type, "none") == 0) {
        l->type[0] = '\0';
    }
    report_word(line, "Lock_table:", l->table, sizeof l->table);
    report_word(line, "Lock_index:", l->index, sizeof l->index);
    if ((v = report_field(line, "Blocked_by:"))) {
        l->blocked_by = report_u64(v);
        l->inferred = strncmp(v + strspn(v, "0123456789"), " (inferred)", 11) == 0;
    }
    report_word(line, "Lock_candidates:", l->cands, sizeof l->cands);
}

/* "# Blocker: 1742  Blocker_user: app@10.0.0.7  [In_transaction: 5.004000  Idle: 4.870000
 *  Trx_statements: 3]": the blocking session, as slowtap knew it. */
static void
report_blocker_line(struct report_entry *e, const char *line)
{
    struct report_lock *l = &e->lock;
    char uh[sizeof l->user + sizeof l->host];
    const char *v;
    l->has_blocker = true;
    l->thread_id = report_u64(line + 10);
    report_word(line, "Blocker_user:", uh, sizeof uh);
    char *at = strrchr(uh, '@');
    if (at) {
        *at = '\0';
        report_copy(l->host, sizeof l->host, at + 1, strlen(at + 1));
    }
    report_copy(l->user, sizeof l->user, uh, strcmp(uh, "-") == 0 ? 0 : strlen(uh));
    if ((v = report_field(line, "In_transaction:"))) {
        l->trx_s = strtod(v, NULL);
    }
    if ((v = report_field(line, "Idle:"))) {
        l->idle_s = strtod(v, NULL);
    }
}

/* "# blocker: +OFFSET DURATION TEXT": one of the blocker's statements in its open transaction,
 * oldest first; the last one read is kept. A cut text ends with "...", which is dropped. */
static void
report_blocker_stmt(struct report_entry *e, const char *rest)
{
    struct report_lock *l = &e->lock;
    const char *p = rest + strspn(rest, " ");
    for (int field = 0; field < 2; field++) { /* the offset and the duration */
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    size_t n = strlen(p);
    bool cut = n >= 3 && strcmp(p + n - 3, "...") == 0;
    l->last_cut = report_copy(l->last, sizeof l->last, p, cut ? n - 3 : n) || cut;
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

/* A `# explain:` line: the header names the columns, each later line is a row of the plan
 * (explain/plan.c says what the rows mean: one home for the flags). */
static bool
report_explain_line(struct report_entry *e, const char *row)
{
    char buf[1024], *f[REPORT_EXPL_COLS];
    int n;
    snprintf(buf, sizeof(buf), "%s", row + strspn(row, " "));
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strncmp(buf, "id", 2) == 0 && (buf[2] == '\t' || buf[2] == ' ')) {
        char *h[REPORT_EXPL_COLS];
        memcpy(e->expl_hdr, buf, sizeof(buf));
        e->expl_ncols = report_split(e->expl_hdr, h, REPORT_EXPL_COLS);
        for (int i = 0; i < e->expl_ncols; i++) {
            e->expl_names[i] = h[i];
        }
        return true;
    }
    n = report_split(buf, f, REPORT_EXPL_COLS);
    if (n == 0 || e->expl_ncols == 0) {
        return true;
    }
    if (!e->plan && !(e->plan = plan_new())) {
        return false;
    }
    return plan_add_row(e->plan, e->expl_names, (const char *const *)f,
                        (size_t)(n < e->expl_ncols ? n : e->expl_ncols));
}

/* A "Name: Yes" flag of a header line. */
static bool
report_yes(const char *line, const char *key)
{
    const char *v = report_field(line, key);
    return v && strncmp(v, "Yes", 3) == 0;
}

/* A --group-by value into e->group: cut to fit, "%20" read as the space slowtap's tags write
 * it as; an empty value is no value. */
static void
report_set_group(struct report_entry *e, const char *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof e->group; i++) {
        if (v[i] == '%' && i + 2 < n && v[i + 1] == '2' && v[i + 2] == '0') {
            e->group[k++] = ' ';
            i += 2;
        } else {
            e->group[k++] = v[i];
        }
    }
    e->group[k] = '\0';
    e->has_group = k > 0;
}

/* True when --group-by asks for the session's schema (pt-query-digest calls it db). */
static bool
report_by_schema(const char *name)
{
    return strcasecmp(name, "db") == 0 || strcasecmp(name, "schema") == 0;
}

/* The "Name: value" pairs of a header line ("# Thread_id: 7  Schema: shop  QC_hit: No",
 * "# Route: /roster  Controller: roster"): the value of the one named `name` (any case; "db"
 * also matches Schema) into the entry's group, when it has none yet. Values end at two
 * blanks or the line's end. */
static void
report_attr_line(struct report_entry *e, const char *line, const char *name)
{
    const char *p = line + 2;
    while (*p && !e->has_group) {
        p += strspn(p, " ");
        size_t k = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
        const char *v = p + k, *end;
        bool pair = k > 0 && v[0] == ':';
        bool match =
            pair && ((strlen(name) == k && strncasecmp(p, name, k) == 0) ||
                     (report_by_schema(name) && k == 6 && strncasecmp(p, "Schema", 6) == 0));
        if (pair) {
            v++;
            if (!(v[0] == ' ' && v[1] != ' ' && v[1] != '\0')) {
                /* "Schema:   QC_hit: No": an empty value, then the next pair */
                if (match) {
                    return;
                }
                p = v;
                continue;
            }
            v++;
        }
        end = strstr(v, "  ");
        end = end ? end : v + strlen(v);
        if (match) {
            size_t n = (size_t)(end - v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\r' || v[n - 1] == '\n')) {
                n--;
            }
            report_set_group(e, v, n);
            return;
        }
        p = end;
    }
}

/* "# User@Host: app[app] @  [127.0.0.1]" or "root[root] @ localhost []  Id: 5": the user
 * (the name before the brackets, else the one in them) or the host (the name after "@", else
 * the address in brackets), as pt-query-digest reads them, into the entry's group. */
static void
report_user_host(struct report_entry *e, const char *line, bool user)
{
    const char *p = line + 12, *at, *br;
    p += strspn(p, " ");
    at = strchr(p, '@');
    if (!at) {
        return;
    }
    if (user) {
        size_t n = strcspn(p, "[ @");
        if (n == 0 && p[0] == '[') {
            report_set_group(e, p + 1, strcspn(p + 1, "]"));
        } else {
            report_set_group(e, p, n);
        }
        return;
    }
    p = at + 1 + strspn(at + 1, " ");
    br = p[0] == '[' ? p : NULL;
    if (!br) {
        size_t n = strcspn(p, " [");
        report_set_group(e, p, n);
        if (e->has_group) {
            return;
        }
        br = strchr(p, '[');
    }
    if (br) {
        report_set_group(e, br + 1, strcspn(br + 1, "]"));
    }
}

static bool
report_header_line(const struct report *r, struct report_entry *e, const char *line)
{
    const char *v;
    e->has_header = true;
    /* the lock-wait lines hold names and statement text: no other field is read from them */
    if (strncmp(line, "# Lock_wait:", 12) == 0) {
        report_lock_line(e, line);
        return true;
    }
    if (strncmp(line, "# Blocker:", 10) == 0) {
        report_blocker_line(e, line);
        return true;
    }
    if (strncmp(line, "# blocker:", 10) == 0) {
        report_blocker_stmt(e, line + 10);
        return true;
    }
    if (strncmp(line, "# N_plus_one:", 13) == 0) {
        unsigned long long ch, pa;
        unsigned cnt;
        if (sscanf(line + 13, " child=%16llx count=%u total=%*s parent=%16llx", &ch, &cnt, &pa) ==
            3) {
            e->n1 = true;
            e->n1_child = ch;
            e->n1_parent = pa;
            e->n1_count = cnt;
        }
        return true;
    }
    if (strcmp(line, "# Prepare: Yes") == 0) {
        e->prepare = true;
        return true;
    }
    if (strncmp(line, "# Time:", 7) == 0) {
        double t;
        e->real = true;
        if (e->time == REPORT_NO_TIME && report_parse_time(line + 7, &t)) {
            e->time = t;
        }
        return true;
    }
    if (strncmp(line, "# User@Host:", 12) == 0) {
        e->has_user = true;
        e->real = true;
        if (r->group_by && !e->has_group &&
            (strcasecmp(r->group_by, "user") == 0 || strcasecmp(r->group_by, "host") == 0)) {
            report_user_host(e, line, strcasecmp(r->group_by, "user") == 0);
        }
        return true;
    }
    if (strncmp(line, "# explain:", 10) == 0) {
        return report_explain_line(e, line + 10);
    }
    if (strncmp(line, "# Index_advice: ", 16) == 0) { /* free text */
        snprintf(e->advice, sizeof(e->advice), "%s", line + 16);
        return true;
    }
    if (strncmp(line, "# Error:", 8) == 0 || strncmp(line, "# Explain_error:", 16) == 0 ||
        strncmp(line, "# Params:", 9) == 0) {
        e->error |= line[2] == 'E' && line[3] == 'r'; /* free text: no other field in it */
        return true;
    }
    if (r->group_by && !e->has_group) {
        report_attr_line(e, line, r->group_by);
    }
    if ((v = report_field(line, "Query_time:"))) {
        e->query_time = strtod(v, NULL);
        e->real = true;
    }
    if ((v = report_field(line, "Lock_time:"))) {
        e->lock_time = strtod(v, NULL);
    }
    if ((v = report_field(line, "Rows_sent:"))) {
        e->rows_sent = report_u64(v);
    }
    if ((v = report_field(line, "Rows_examined:"))) {
        e->rows_examined = report_u64(v);
        e->exam_seen = true;
    }
    /* slowtap's mark of a Rows_examined it could not learn (written as 0 for the tools) */
    if ((v = report_field(line, "Rows_examined_known:")) && strncmp(v, "No", 2) == 0) {
        e->exam_unknown = true;
    }
    if ((v = report_field(line, "Rows_affected:"))) {
        e->rows_affected = report_u64(v);
    }
    /* slowtap's flags line and MariaDB's log_slow_verbosity=query_plan lines use these names
     * ("Tmp_table_on_disk:" and "Filesort_on_disk:" do not match: no colon after the name) */
    e->has_plan |= report_field(line, "Full_scan:") != NULL;
    e->flags |= report_yes(line, "Full_scan:") ? PLAN_FULL_SCAN : 0;
    e->flags |= report_yes(line, "Full_join:") ? PLAN_FULL_JOIN : 0;
    e->flags |= report_yes(line, "Tmp_table:") ? PLAN_TMP_TABLE : 0;
    e->flags |= report_yes(line, "Filesort:") ? PLAN_FILESORT : 0;
    e->flags |= report_yes(line, "No_index_used:") ? REPORT_NO_INDEX : 0;
    /* the "# Tmp_tables:" line of MariaDB's log_slow_verbosity=query_plan (slowtap writes it
     * from performance_schema) */
    e->flags |= report_yes(line, "Tmp_table_on_disk:") ? REPORT_TMP_DISK : 0;
    e->flags |= report_yes(line, "Filesort_on_disk:") ? REPORT_SORT_DISK : 0;
    if ((v = report_field(line, "Tmp_disk_tables:"))) {
        e->tmp_disk_tables = report_u64(v);
    }
    if ((v = report_field(line, "Merge_passes:"))) {
        e->merge_passes = report_u64(v);
    }
    return true;
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
        if (!report_header_line(r, e, line)) {
            r->oom = true;
        }
        return;
    }
    if (report_banner(line)) {
        r->banners++;
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
            if (r->group_by && !e->has_group && report_by_schema(r->group_by)) {
                const char *db = line + 4 + strspn(line + 4, " ");
                size_t n = (size_t)(line + len - 1 - db);
                if (n >= 2 && db[0] == '`' && db[n - 1] == '`') {
                    db++;
                    n -= 2;
                }
                report_set_group(e, db, n);
            }
            return; /* the schema */
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

/* A JSON string into out[cap] (cut to fit); "" when v is no string. */
static void
report_jcopy(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        report_copy(out, cap, json_string_value(v), json_string_length(v));
    } else {
        out[0] = '\0';
    }
}

/* A JSON entry's lock_wait object (slowtap's JSON-lines log). */
static void
report_json_lock(struct report_entry *e, json_t *o)
{
    struct report_lock *l = &e->lock;
    json_t *v, *b, *stmts;
    e->has_lock = true;
    l->wait_s = report_jnum(json_object_get(o, "seconds"));
    report_jcopy(json_object_get(o, "type"), l->type, sizeof l->type);
    report_jcopy(json_object_get(o, "table"), l->table, sizeof l->table);
    report_jcopy(json_object_get(o, "index"), l->index, sizeof l->index);
    l->blocked_by = (uint64_t)report_jnum(json_object_get(o, "blocked_by"));
    l->inferred = json_is_true(json_object_get(o, "blocked_by_inferred"));
    v = json_object_get(o, "candidates");
    for (size_t i = 0, len = 0; json_is_array(v) && i < json_array_size(v); i++) {
        int k = snprintf(l->cands + len, sizeof l->cands - len, "%s%llu", i ? "," : "",
                         (unsigned long long)report_jnum(json_array_get(v, i)));
        if (k < 0 || (size_t)k >= sizeof l->cands - len) {
            l->cands[len] = '\0'; /* the whole ids that fit */
            break;
        }
        len += (size_t)k;
    }
    b = json_object_get(o, "blocker");
    if (!json_is_object(b)) {
        return;
    }
    l->has_blocker = true;
    l->thread_id = (uint64_t)report_jnum(json_object_get(b, "thread_id"));
    report_jcopy(json_object_get(b, "user"), l->user, sizeof l->user);
    report_jcopy(json_object_get(b, "host"), l->host, sizeof l->host);
    if (json_is_number(v = json_object_get(b, "in_transaction"))) {
        l->trx_s = json_number_value(v);
    }
    if (json_is_number(v = json_object_get(b, "idle"))) {
        l->idle_s = json_number_value(v);
    }
    stmts = json_object_get(b, "statements");
    if (json_is_array(stmts) && json_array_size(stmts) > 0) {
        json_t *last = json_array_get(stmts, json_array_size(stmts) - 1);
        v = json_object_get(last, "statement");
        l->last_cut = json_is_string(v) && report_copy(l->last, sizeof l->last,
                                                       json_string_value(v), json_string_length(v));
        l->last_cut |= json_is_true(json_object_get(last, "truncated"));
    }
}

/* The flags of a JSON entry's plan (an array of objects keyed by column name). */
static bool
report_json_plan(struct report_entry *e, json_t *plan)
{
    struct plan *p = plan_new();
    size_t i;
    json_t *row;
    if (!p) {
        return false;
    }
    for (i = 0; i < json_array_size(plan); i++) {
        const char *names[REPORT_EXPL_COLS], *vals[REPORT_EXPL_COLS];
        char num[REPORT_EXPL_COLS][24];
        size_t n = 0;
        row = json_array_get(plan, i);
        for (void *it = json_object_iter(row); it && n < REPORT_EXPL_COLS;
             it = json_object_iter_next(row, it)) {
            const char *k = json_object_iter_key(it);
            json_t *v = json_object_iter_value(it);
            if (json_is_string(v)) {
                vals[n] = json_string_value(v);
            } else if (json_is_integer(v)) {
                snprintf(num[n], sizeof(num[n]), "%lld", (long long)json_integer_value(v));
                vals[n] = num[n];
            } else {
                continue; /* null: plan_add_row writes "NULL" for a missing column */
            }
            names[n++] = k;
        }
        if (!plan_add_row(p, names, vals, n)) {
            plan_free(p);
            return false;
        }
    }
    plan_analyze(p);
    e->flags |= p->flags;
    e->has_plan = true;
    e->scan_rows = advice_scan_rows(p);
    e->scan_known = true;
    e->plan = p; /* the shape keeps the last one */
    return true;
}

/* A JSON entry's --group-by value: user, host or schema (db) from the entry's own fields,
 * else a tag of that name (any case), else a top-level string or number of that name. */
static void
report_json_group(struct report_entry *e, json_t *o, const char *name)
{
    json_t *v = NULL, *tags = json_object_get(o, "tags");
    const char *k;
    json_t *tv;
    if (report_by_schema(name)) {
        v = json_object_get(o, "schema");
    } else if (strcasecmp(name, "user") == 0 || strcasecmp(name, "host") == 0) {
        v = json_object_get(o, strcasecmp(name, "user") == 0 ? "user" : "host");
    }
    if (!v && json_is_object(tags)) {
        json_object_foreach(tags, k, tv)
        {
            if (strcasecmp(k, name) == 0) {
                v = tv;
                break;
            }
        }
    }
    if (!v) {
        json_object_foreach(o, k, tv)
        {
            if (strcasecmp(k, name) == 0) {
                v = tv;
                break;
            }
        }
    }
    if (json_is_string(v)) {
        report_copy(e->group, sizeof e->group, json_string_value(v), json_string_length(v));
        e->has_group = e->group[0] != '\0';
    } else if (json_is_integer(v)) {
        snprintf(e->group, sizeof e->group, "%lld", (long long)json_integer_value(v));
        e->has_group = true;
    } else if (json_is_real(v)) {
        snprintf(e->group, sizeof e->group, "%g", json_real_value(v));
        e->has_group = true;
    } else if (json_is_boolean(v)) {
        snprintf(e->group, sizeof e->group, "%s", json_is_true(v) ? "true" : "false");
        e->has_group = true;
    }
}

static void
report_json_line(struct report *r, const char *line, size_t lineno, const char *path)
{
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr), *v, *flags, *plan;
    struct report_entry e;
    const char *text = NULL;

    if (!json_is_object(o)) {
        if (r->entries + r->skipped > r->file_start) {
            fprintf(r->err, "slowtap report: %s line %zu: skipped: not a JSON object (%s)\n", path,
                    lineno, jerr.text);
        } else if (r->held++ == 0) { /* maybe not a slow log at all: one line says so */
            r->held_line = lineno;
            snprintf(r->held_why, sizeof r->held_why, "not a JSON object (%.100s)", jerr.text);
        }
        json_decref(o);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.time = REPORT_NO_TIME;
    e.lock.trx_s = e.lock.idle_s = -1;
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
    e.lock_time = report_jnum(json_object_get(o, "lock_time"));
    e.rows_sent = (uint64_t)report_jnum(json_object_get(o, "rows_sent"));
    /* null: slowtap did not learn them (the protocol does not carry them) */
    v = json_object_get(o, "rows_examined");
    e.exam_seen = json_is_number(v) || json_is_string(v);
    e.rows_examined = (uint64_t)report_jnum(v);
    if (r->group_by) {
        report_json_group(&e, o, r->group_by);
    }
    e.rows_affected = (uint64_t)report_jnum(json_object_get(o, "rows_affected"));
    e.error = report_jnum(json_object_get(o, "error_code")) != 0;
    if (json_is_true(json_object_get(o, "no_index_used"))) {
        e.flags |= REPORT_NO_INDEX;
    }
    e.flags |= json_is_true(json_object_get(o, "tmp_table_on_disk")) ? REPORT_TMP_DISK : 0;
    e.flags |= json_is_true(json_object_get(o, "filesort_on_disk")) ? REPORT_SORT_DISK : 0;
    e.tmp_disk_tables = (uint64_t)report_jnum(json_object_get(o, "tmp_disk_tables"));
    e.merge_passes = (uint64_t)report_jnum(json_object_get(o, "merge_passes"));
    flags = json_object_get(o, "flags");
    if (json_is_object(flags)) {
        e.has_plan = true;
        e.flags |= json_is_true(json_object_get(flags, "full_scan")) ? PLAN_FULL_SCAN : 0;
        e.flags |= json_is_true(json_object_get(flags, "full_join")) ? PLAN_FULL_JOIN : 0;
        e.flags |= json_is_true(json_object_get(flags, "tmp_table")) ? PLAN_TMP_TABLE : 0;
        e.flags |= json_is_true(json_object_get(flags, "filesort")) ? PLAN_FILESORT : 0;
    }
    if (json_is_string(v = json_object_get(o, "index_advice"))) {
        snprintf(e.advice, sizeof(e.advice), "%s", json_string_value(v));
    }
    if (json_is_object(v = json_object_get(o, "lock_wait"))) {
        report_json_lock(&e, v);
    }
    plan = json_object_get(o, "plan");
    if (json_is_array(plan) && json_array_size(plan) > 0 && !report_json_plan(&e, plan)) {
        r->oom = true;
    }
    if (json_is_true(json_object_get(o, "prepare"))) {
        text = REPORT_PREPARE; /* see struct report_entry */
        v = NULL;              /* its length is strlen's */
    } else if (json_is_string(v = json_object_get(o, "statement"))) {
        text = json_string_value(v);
    } else if (json_is_string(v = json_object_get(o, "fingerprint"))) {
        text = json_string_value(v);
    } else if (json_is_string(v = json_object_get(o, "command"))) {
        text = json_string_value(v);
    }
    if (text) {
        report_add(r, &e, text, json_is_string(v) ? json_string_length(v) : strlen(text));
    }
    if (r->held && r->entries + r->skipped > r->file_start) { /* a log after all: say so now */
        fprintf(r->err,
                "slowtap report: %s: %zu line%s skipped before the first entry (line %zu: %s)\n",
                path, r->held, r->held == 1 ? "" : "s", r->held_line, r->held_why);
        r->held = 0;
    }
    plan_free(e.plan);
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
    /* decided by the first line that starts with '{' (JSON lines) or '#' or is a server banner
     * (text); lines before it (the cut end of a rotated line) go to the text reader, which
     * skips text outside entries, and count as skipped lines if the file is JSON */
    int json = -1;
    bool content = false; /* a line that is not blank */
    size_t undecided = 0, undecided_line = 0;
    struct report_entry e;

    if (!fp) {
        fprintf(r->err, "slowtap report: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    memset(&e, 0, sizeof(e));
    report_entry_reset(&e);
    r->file_start = r->entries + r->skipped;
    r->held = 0;
    uint64_t banners = r->banners;
    errno = 0;
    while ((n = getline(&line, &cap, fp)) >= 0 && !r->oom) {
        lineno++;
        const char *p = line + strspn(line, " \t\r\n");
        content |= *p != '\0';
        if (json < 0 && *p) {
            if (*p == '{') {
                json = 1;
                if (undecided) {
                    r->held = undecided;
                    r->held_line = undecided_line;
                    snprintf(r->held_why, sizeof r->held_why, "not a JSON object");
                }
            } else if (*p == '#' || report_banner(line)) {
                json = 0;
            } else if (undecided++ == 0) {
                undecided_line = lineno;
            }
        }
        if (json > 0) {
            if (*p) {
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
        plan_free(e.plan);
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
    /* something in it, yet no entry and no server banner: not a slow log. An empty (or blank)
     * file is an empty log. */
    if (content && r->entries + r->skipped == r->file_start && r->banners == banners) {
        if (r->held) {
            fprintf(r->err,
                    "slowtap report: %s: not a slow log (no entry could be read; line %zu: "
                    "%s)\n",
                    path, r->held_line, r->held_why);
        } else {
            fprintf(r->err, "slowtap report: %s: not a slow log (no entry could be read from it)\n",
                    path);
        }
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

/* A time in milliseconds in 7 columns or fewer, keeping about four significant digits. */
static void
report_fmt_ms(char *out, size_t cap, double ms)
{
    int prec = ms < 10 ? 3 : ms < 100 ? 2 : ms < 1000 ? 1 : 0;
    snprintf(out, cap, "%.*f", prec, ms);
}

/* A count in 7 columns: as it is up to 9999999, then in millions (M) or billions (G).
 * Returns a static buffer (one of four, so a line's cells can share a printf). */
static const char *
report_fmt_count(uint64_t v)
{
    static char buf[4][16];
    static unsigned next;
    char *b = buf[next++ % 4];
    if (v < 10000000) {
        snprintf(b, sizeof(buf[0]), "%llu", (unsigned long long)v);
    } else if (v < 10000000000ULL) {
        snprintf(b, sizeof(buf[0]), "%.1fM", (double)v / 1e6);
    } else {
        snprintf(b, sizeof(buf[0]), "%.1fG", (double)v / 1e9);
    }
    return b;
}

/* How loudly a shape's scan flag shows: by its row estimate and its share of all_s, the
 * log's total time (advice_scan_weight: the same rule as the dashboard's). */
static enum advice_weight
report_scan_weight(const struct report_shape *s, double all_s)
{
    bool flagged = s->full_scans || s->full_joins || (s->no_index && !s->plans);
    return advice_scan_weight(flagged, s->scan_known, s->scan_rows, (uint64_t)(s->total * 1e6),
                              (uint64_t)(all_s * 1e6));
}

/* The flags column: the flags of a shape's entries, "scan" when every entry had it, "scan:2"
 * when only 2 of them did; "-" for none. Scans not worth attention (report_scan_weight) are
 * in parentheses: "(scan,join),tmp". */
static void
report_fmt_flags(char *out, size_t cap, const struct report_shape *s, double all_s)
{
    /* small implies a plan (an unknown size is notable), so scan or join is there to enclose */
    bool small = report_scan_weight(s, all_s) == ADVICE_WEIGHT_SMALL;
    const struct {
        const char *name;
        uint64_t n;
    } f[] = {{"scan", s->full_scans},
             {"join", s->full_joins},
             {"tmp", s->tmp_tables},
             {"sort", s->filesorts},
             {"noidx", s->no_index}};
    size_t len = 0;
    out[0] = '\0';
    if (small && cap > 2) {
        out[len++] = '(';
        out[len] = '\0';
    }
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && len < cap; i++) {
        int k;
        if (small && i == 2 && len + 1 < cap) {
            out[len++] = ')';
            out[len] = '\0';
            small = false;
        }
        if (f[i].n == 0 || (i == 4 && s->plans > 0)) {
            continue; /* the server's "no index used" only where no plan says more */
        }
        const char *sep = len && out[len - 1] != '(' ? "," : "";
        if (f[i].n == s->n) {
            k = snprintf(out + len, cap - len, "%s%s", sep, f[i].name);
        } else {
            k = snprintf(out + len, cap - len, "%s%s:%llu", sep, f[i].name,
                         (unsigned long long)f[i].n);
        }
        if (k < 0) {
            break;
        }
        len += (size_t)k;
    }
    if (len == 0) {
        snprintf(out, cap, "-");
    }
}

/* One line of wrapped text: text[start..stop), followed by " ..." when `more`. */
struct report_line {
    size_t start, stop;
    bool more;
};

/*
 * Wraps `text` to `width` columns at blanks (a word wider than the column is split, nothing
 * else is; newlines and tabs count as blanks) into lines[REPORT_FP_LINES]; after
 * REPORT_FP_LINES lines the rest is left out and the last line is marked `more` (" ..." fits
 * after it, at a word boundary too). Returns the number of lines, 0 for a blank text.
 */
static size_t
report_wrap(const char *text, int width, struct report_line *lines)
{
    size_t n = strlen(text), pos = 0, nl = 0;
    while (nl < REPORT_FP_LINES) {
        size_t end, brk;
        while (pos < n && strchr(" \t\r\n", text[pos])) {
            pos++;
        }
        if (pos >= n) {
            break;
        }
        end = pos + (size_t)width < n ? pos + (size_t)width : n;
        brk = end;
        if (end < n && !strchr(" \t\r\n", text[end])) {
            while (brk > pos && !strchr(" \t\r\n", text[brk - 1])) {
                brk--;
            }
            if (brk == pos) {
                brk = end; /* one word wider than the column */
            }
        }
        bool last = nl == REPORT_FP_LINES - 1 && brk < n;
        if (last) {
            /* the last line shown: room for " ..." */
            while (brk > pos && brk - pos + 4 > (size_t)width) {
                brk--;
                while (brk > pos && !strchr(" \t\r\n", text[brk - 1])) {
                    brk--;
                }
            }
        }
        size_t stop = brk;
        while (stop > pos && strchr(" \t\r\n", text[stop - 1])) {
            stop--; /* no trailing blanks */
        }
        if (last && stop == pos && nl > 0 &&
            lines[nl - 1].stop - lines[nl - 1].start + 4 <= (size_t)width) {
            lines[nl - 1].more = true; /* no word fits before " ...": it ends the line above */
            break;
        }
        lines[nl++] = (struct report_line){.start = pos, .stop = stop, .more = last};
        pos = brk;
    }
    return nl;
}

/* Writes one line of report_wrap()'s, newlines and tabs as spaces. */
static void
report_put_line(FILE *out, const char *text, const struct report_line *l)
{
    for (size_t k = l->start; k < l->stop; k++) {
        char ch = text[k];
        fputc(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch, out);
    }
    if (l->more) {
        fputs(" ...", out);
    }
}

/* Writes `fp` from column `col` on, wrapped (report_wrap) to REPORT_WIDTH (at least
 * REPORT_FP_MIN columns), continuation lines indented to `col`, then a newline. */
static void
report_print_fp(FILE *out, const char *fp, int col)
{
    int width = REPORT_WIDTH - col > REPORT_FP_MIN ? REPORT_WIDTH - col : REPORT_FP_MIN;
    struct report_line lines[REPORT_FP_LINES];
    size_t nl = report_wrap(fp, width, lines);
    for (size_t i = 0; i < nl; i++) {
        if (i > 0) {
            fprintf(out, "\n%*s", col, "");
        }
        report_put_line(out, fp, &lines[i]);
    }
    fputc('\n', out);
}

/* Splits a flags text into lines of at most `width` columns after commas (a flag wider than
 * that gets a line of its own); returns the number of lines, at most `max`, at least 1. */
static size_t
report_wrap_flags(const char *flags, int width, struct report_line *lines, size_t max)
{
    size_t n = strlen(flags), pos = 0, nl = 0;
    while (pos < n && nl < max) {
        size_t stop = pos, next;
        for (size_t k = pos; k < n; k = next) {
            const char *comma = strchr(flags + k, ',');
            next = comma ? (size_t)(comma - flags) + 1 : n;
            if (stop > pos && next - pos > (size_t)width) {
                break;
            }
            stop = next;
        }
        if (nl == max - 1) {
            stop = n; /* the last line takes the rest */
        }
        lines[nl++] = (struct report_line){.start = pos, .stop = stop, .more = false};
        pos = stop;
    }
    if (nl == 0) {
        lines[nl++] = (struct report_line){.start = 0, .stop = n, .more = false};
    }
    return nl;
}

/* Below the table: the index advice of the ranked shapes that have one, by rank. Scans of
 * tables under ADVICE_MIN_ROWS estimated rows never get advice, so they are not listed. */
static void
report_print_advice(FILE *out, struct report_shape **v, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        if (!s->advice || (s->scan_known && s->scan_rows < ADVICE_MIN_ROWS)) {
            continue;
        }
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        if (!any) {
            fprintf(out, "\n# index advice (rank digest: advice)\n");
            any = true;
        }
        fprintf(out, "%4zu %-8s %s\n", i + 1, hex, s->advice);
    }
}

/* The N+1 pairs the log's `# N_plus_one:` lines name, with the shapes' fingerprints. */
static void
report_print_n1(FILE *out, const struct report *r)
{
    if (!r->nn1) {
        return;
    }
    fprintf(out, "\n# N+1 findings: a shape repeated with other parameters after a parent\n");
    for (size_t i = 0; i < r->nn1; i++) {
        const struct report_n1 *f = &r->n1[i];
        const struct report_shape *c = report_slot(r->slots, r->nslots, f->child);
        const struct report_shape *p = report_slot(r->slots, r->nslots, f->parent);
        char ch[17], pa[17];
        hexfmt_u64(f->child, ch);
        hexfmt_u64(f->parent, pa);
        fprintf(out, "n_plus_one child=%s count=%u entries=%llu parent=%s\n", ch, f->max_count,
                (unsigned long long)f->entries, pa);
        fprintf(out, "  child:  %s\n", c->used ? c->fingerprint : "(not in the log)");
        fprintf(out, "  parent: %s\n", p->used ? p->fingerprint : "(not in the log)");
    }
}

/* "longest: 2.310 s for a row lock on `db`.`t` (index PRIMARY), blocked by 1742; blocker 1742
 * app@10.0.0.7: idle for 4.870 s in a transaction open for 5.004 s; its last statement: ...":
 * what a wait was for, who held the lock and what that session was doing, into out[cap]. */
static void
report_fmt_lock(char *out, size_t cap, const struct report_lock *l)
{
    size_t k = 0;
    const char *kind = l->type[0] ? l->type : "(unknown kind)";
#define REPORT_PUT(...)                                                                            \
    do {                                                                                           \
        int w_ = snprintf(out + k, cap - k, __VA_ARGS__);                                          \
        k = w_ < 0 ? k : (size_t)w_ >= cap - k ? cap - 1 : k + (size_t)w_;                         \
    } while (0)
    REPORT_PUT("longest: %.3f s for a %s lock", l->wait_s, kind);
    if (l->table[0]) {
        REPORT_PUT(" on %s", l->table);
    }
    if (l->index[0]) {
        REPORT_PUT(" (index %s)", l->index);
    }
    if (l->blocked_by) {
        REPORT_PUT(", blocked by %llu%s", (unsigned long long)l->blocked_by,
                   l->inferred ? " (inferred)" : "");
    } else if (l->cands[0]) {
        REPORT_PUT(", held by one of %s", l->cands);
    } else {
        REPORT_PUT(", blocker unknown");
    }
    if (!l->has_blocker) {
        return;
    }
    REPORT_PUT("; blocker %llu %s@%s: ", (unsigned long long)l->thread_id,
               l->user[0] ? l->user : "-", l->host[0] ? l->host : "localhost");
    if (l->trx_s < 0) {
        REPORT_PUT("no open transaction seen");
    } else if (l->idle_s >= 0) {
        REPORT_PUT("idle for %.3f s in a transaction open for %.3f s", l->idle_s, l->trx_s);
    } else {
        REPORT_PUT("in a transaction open for %.3f s", l->trx_s);
    }
    if (l->last[0]) {
        REPORT_PUT("; its last statement: %s%s", l->last, l->last_cut ? "..." : "");
    }
#undef REPORT_PUT
}

/* Below the table: the ranked shapes that waited for locks, by rank, with the longest wait and
 * what the blocking session was doing then (the log's `# Lock_wait:`, `# Blocker:` and
 * `# blocker:` lines, or lock_wait in JSON), wrapped like fingerprints. */
static void
report_print_locks(FILE *out, struct report_shape **v, size_t n)
{
    bool any = false;
    char text[REPORT_LOCK_STMT + 1024];
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        if (!s->lock_waits) {
            continue;
        }
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        if (!any) {
            fprintf(out, "\n# lock waits (rank digest: waits, time waited; the longest wait and "
                         "who held the lock)\n");
            any = true;
        }
        fprintf(out, "%4zu %-8s %llu wait%s, %.3f s in all, longest %.3f s\n", i + 1, hex,
                (unsigned long long)s->lock_waits, s->lock_waits == 1 ? "" : "s",
                s->lock_wait_total, s->lock_wait_max);
        report_fmt_lock(text, sizeof text, s->lock_longest);
        fprintf(out, "%*s", 14, "");
        report_print_fp(out, text, 14);
    }
}

/* Below the table: the ranked shapes whose temporary tables or sorts went to disk, as the
 * server said in the "# Tmp_tables:" and "# Filesort:" lines of log_slow_verbosity=query_plan
 * (slowtap writes the same from performance_schema), by rank. */
static void
report_print_disk(FILE *out, struct report_shape **v, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        if (!s->tmp_disk && !s->sort_disk) {
            continue;
        }
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        if (!any) {
            fprintf(out, "\n# to disk (rank digest: entries whose temporary tables or sorts the "
                         "server wrote to disk)\n");
            any = true;
        }
        fprintf(out, "%4zu %-8s", i + 1, hex);
        if (s->tmp_disk) {
            fprintf(out, " temporary table on disk in %llu of %zu (%llu table%s)",
                    (unsigned long long)s->tmp_disk, s->n, (unsigned long long)s->tmp_disk_tables,
                    s->tmp_disk_tables == 1 ? "" : "s");
        }
        if (s->sort_disk) {
            fprintf(out, "%s sort merged on disk in %llu of %zu (%llu merge pass%s)",
                    s->tmp_disk ? ";" : "", (unsigned long long)s->sort_disk, s->n,
                    (unsigned long long)s->merge_passes, s->merge_passes == 1 ? "" : "es");
        }
        fputc('\n', out);
    }
}

/* A plan row as "students: ALL, key none (of idx_a), 10000 rows, Using where" into out. */
static void
report_fmt_plan_row(char *out, size_t cap, const struct plan_row *row)
{
    const char *key = row->col[PLAN_KEY], *pk = row->col[PLAN_POSSIBLE_KEYS];
    const char *extra = row->col[PLAN_EXTRA];
    bool nokey = !key || strcmp(key, "NULL") == 0 || !key[0];
    bool nopk = !pk || strcmp(pk, "NULL") == 0 || !pk[0];
    int k = snprintf(out, cap, "%s: %s, key %s", row->col[PLAN_TABLE] ? row->col[PLAN_TABLE] : "?",
                     row->col[PLAN_TYPE] ? row->col[PLAN_TYPE] : "?", nokey ? "none" : key);
    if (k >= 0 && (size_t)k < cap && nokey && !nopk) {
        k += snprintf(out + k, cap - (size_t)k, " (possible: %s)", pk);
    }
    if (k >= 0 && (size_t)k < cap && row->col[PLAN_ROWS] && strcmp(row->col[PLAN_ROWS], "NULL")) {
        k += snprintf(out + k, cap - (size_t)k, ", %s rows", row->col[PLAN_ROWS]);
    }
    if (k >= 0 && (size_t)k < cap && extra && extra[0] && strcmp(extra, "NULL")) {
        snprintf(out + k, cap - (size_t)k, ", %s", extra);
    }
}

/* Below the table: each ranked shape's short name (proto_shapename.h: verb, tables, the
 * WHERE/ORDER columns), which tells apart shapes whose fingerprints begin alike. */
static void
report_print_names(FILE *out, struct report_shape **v, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        if (!s->name[0]) {
            continue;
        }
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        if (!any) {
            fprintf(out, "\n# names (rank digest: the shape's short name)\n");
            any = true;
        }
        fprintf(out, "%4zu %-8s ", i + 1, hex);
        report_print_fp(out, s->name, 14);
    }
}

/* Below the table: the last plan read of each ranked shape that has one, by rank, one line
 * per table read (wrapped like fingerprints). */
static void
report_print_plans(FILE *out, struct report_shape **v, size_t n)
{
    bool any = false;
    char text[1024];
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        if (!s->plan || !s->plan->nrows) {
            continue;
        }
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        if (!any) {
            fprintf(out, "\n# plans (rank digest: the shape's last EXPLAIN, a line per table: "
                         "type, key, rows, Extra)\n");
            any = true;
        }
        for (size_t k = 0; k < s->plan->nrows; k++) {
            report_fmt_plan_row(text, sizeof text, &s->plan->rows[k]);
            if (k == 0) {
                fprintf(out, "%4zu %-8s ", i + 1, hex);
            } else {
                fprintf(out, "%*s", 14, "");
            }
            report_print_fp(out, text, 14);
        }
    }
}

/* True when sub a costs more than sub b (ties: the smaller digest first). */
static bool
report_sub_before(const struct report_sub *a, const struct report_sub *b)
{
    return a->total > b->total || (a->total == b->total && a->digest < b->digest);
}

/* A group's costliest shapes, costliest first, into idx[cap] (indexes into g->subs); the
 * count. */
static size_t
report_group_top(const struct report_shape *g, size_t *idx, size_t cap)
{
    size_t n = 0, k;
    for (size_t i = 0; i < g->subcap; i++) {
        if (!g->subs[i].used) {
            continue;
        }
        if (n < cap) {
            k = n++;
        } else if (report_sub_before(&g->subs[i], &g->subs[idx[cap - 1]])) {
            k = cap - 1;
        } else {
            continue;
        }
        idx[k] = i;
        for (; k > 0 && report_sub_before(&g->subs[idx[k]], &g->subs[idx[k - 1]]); k--) {
            size_t t = idx[k - 1];
            idx[k - 1] = idx[k];
            idx[k] = t;
        }
    }
    return n;
}

#define REPORT_GROUP_TOP 3 /* shapes listed per group */

/* Below a --group-by table: each group's costliest shapes, by rank. */
static void
report_print_group_shapes(FILE *out, const struct report *r, struct report_shape **v, size_t n)
{
    fprintf(out, "\n# costliest shapes per %s (rank: digest, count, total_s, fingerprint)\n",
            r->group_by);
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *g = v[i];
        size_t idx[REPORT_GROUP_TOP];
        size_t k = report_group_top(g, idx, REPORT_GROUP_TOP);
        fprintf(out, "%4zu ", i + 1);
        report_print_fp(out, g->fingerprint, 5);
        for (size_t j = 0; j < k; j++) {
            const struct report_sub *sub = &g->subs[idx[j]];
            const struct report_shape *s = report_slot(r->slots, r->nslots, sub->digest);
            char hex[17];
            hexfmt_u64(sub->digest, hex);
            hex[8] = '\0';
            fprintf(out, "     %-8s %6zu %8.3f ", hex, sub->n, sub->total);
            report_print_fp(out, s->used ? s->fingerprint : "?", 29);
        }
        if (g->nsubs > k) {
            fprintf(out, "     (%zu more shape%s)\n", g->nsubs - k, g->nsubs - k == 1 ? "" : "s");
        }
    }
}

/* The rows-examined cell: the sum when the log knew them for every entry, "?" when for none
 * (slowtap could not learn them), "N+?" when for some. Returns a static buffer. */
static const char *
report_fmt_exam(const struct report_shape *s)
{
    static char buf[16];
    if (s->exam_known == 0) {
        return "?";
    }
    if (s->exam_known == s->n) {
        return report_fmt_count(s->rows_examined);
    }
    const char *c = report_fmt_count(s->rows_examined);
    snprintf(buf, sizeof buf, "%.5s+?", c);
    return buf;
}

/* The ranked table. With --group-by the rows are groups: the digest column gives way to the
 * number of shapes in the group and the last column holds the attribute's value. */
static void
report_print_table(FILE *out, const struct report *r, struct report_shape **v, size_t n)
{
    char flags[64], avg[16], p95[16];
    int fw = 5, piece = 0, col;
    bool exam = false, errs = false, any_flag = false, exam_unknown = false;
    const bool groups = r->group_by != NULL;

    for (size_t i = 0; i < n; i++) {
        int k;
        report_fmt_flags(flags, sizeof(flags), v[i], r->total);
        k = (int)strlen(flags);
        fw = k > fw ? k : fw;
        for (const char *p = flags; *p;) { /* the widest flag with its comma */
            int w = (int)strcspn(p, ",") + (p[strcspn(p, ",")] == ',');
            piece = w > piece ? w : piece;
            p += w;
        }
        any_flag |= strcmp(flags, "-") != 0;
        exam |= v[i]->rows_examined > 0;
        exam_unknown |= v[i]->exam_known < v[i]->n;
        errs |= v[i]->errors > 0;
    }
    if (groups) {
        fprintf(out,
                "# %llu entries, %zu shapes, %.3f s total; %zu groups by %s, top %zu by total "
                "time%s\n",
                (unsigned long long)r->entries, r->nshapes, r->total, r->ngroups, r->group_by, n,
                r->skipped ? " (entries before --since skipped)" : "");
    } else {
        fprintf(out, "# %llu entries, %zu shapes, %.3f s total; top %zu by total time%s\n",
                (unsigned long long)r->entries, r->nshapes, r->total, n,
                r->skipped ? " (entries before --since skipped)" : "");
    }
    if (exam && exam_unknown) {
        fprintf(out, "# exam: rows examined; ? = unknown: the client protocol does not carry "
                     "them and the\n#       server's performance_schema did not say (+? = "
                     "for some of the entries)\n");
    } else if (r->exam_unknown) { /* no column: one line says why */
        fprintf(out,
                "# rows examined: unknown for %llu of %llu entries (the client protocol does "
                "not carry them)\n",
                (unsigned long long)r->exam_unknown, (unsigned long long)r->entries);
    }
    if (any_flag) {
        fprintf(out, "# flags: scan = full scan, join = full join, tmp = temporary table, "
                     "sort = filesort,\n#        noidx = server said no index used; "
                     "scan:2 = in 2 of the entries;\n#        (scan) = of a table under "
                     "1000 rows, by a shape under 1 s and 5%% of the total time\n");
    }
    /* rank digest count total_s avg_ms p95_ms rows [exam] [errs] flags fingerprint: 53 to 66
     * columns before the flags; p50 and p99 are in --format json. Flags wider than leaves the
     * fingerprint REPORT_FP_MIN columns wrap after a comma (report_wrap_flags). */
    col = snprintf(NULL, 0, "%4s %-8s %6s %8s %7s %7s %7s", "", "", "", "", "", "", "") +
          (exam ? 8 : 0) + (errs ? 5 : 0);
    fw = fw < REPORT_WIDTH - REPORT_FP_MIN - col - 2 ? fw : REPORT_WIDTH - REPORT_FP_MIN - col - 2;
    fw = fw > piece ? fw : piece; /* one flag per line at worst */
    fw = fw > 5 ? fw : 5;
    fprintf(out, "%4s %-8s %6s %8s %7s %7s %7s", "rank", groups ? "shapes" : "digest", "count",
            "total_s", "avg_ms", "p95_ms", "rows");
    if (exam) {
        fprintf(out, " %7s", "exam");
    }
    if (errs) {
        fprintf(out, " %4s", "errs");
    }
    fprintf(out, " %-*s %s\n", fw, "flags", groups ? r->group_by : "fingerprint");
    int fp_col = col + 1 + fw + 1;
    int fp_width = REPORT_WIDTH - fp_col > 10 ? REPORT_WIDTH - fp_col : 10;
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        struct report_line fl[REPORT_FP_LINES], fpl[REPORT_FP_LINES];
        char hex[17];
        hexfmt_u64(s->digest, hex);
        hex[8] = '\0';
        report_fmt_ms(avg, sizeof(avg), s->total * 1000.0 / (double)s->n);
        report_fmt_ms(p95, sizeof(p95), report_pct_ms(s, 95));
        report_fmt_flags(flags, sizeof(flags), s, r->total);
        size_t nfl = report_wrap_flags(flags, fw, fl, REPORT_FP_LINES);
        size_t nfp = report_wrap(s->fingerprint, fp_width, fpl);
        if (groups) {
            snprintf(hex, sizeof hex, "%zu", s->nsubs);
        }
        fprintf(out, "%4zu %-8s %6zu %8.3f %7s %7s %7s", i + 1, hex, s->n, s->total, avg, p95,
                report_fmt_count(s->rows_sent));
        if (exam) {
            fprintf(out, " %7s", report_fmt_exam(s));
        }
        if (errs) {
            fprintf(out, " %4s", s->errors ? report_fmt_count(s->errors) : "-");
        }
        for (size_t l = 0; l < nfl || l < nfp; l++) {
            if (l > 0) {
                fprintf(out, "%*s", col, "");
            }
            int w = l < nfl ? (int)(fl[l].stop - fl[l].start) : 0;
            if (w) {
                fprintf(out, " %.*s", w, flags + fl[l].start);
            }
            if (l < nfp) {
                fprintf(out, "%*s", fw - w + (w ? 1 : 2), "");
                report_put_line(out, s->fingerprint, &fpl[l]);
            }
            fputc('\n', out);
        }
    }
    if (groups) {
        report_print_group_shapes(out, r, v, n);
    } else {
        report_print_names(out, v, n);
        report_print_plans(out, v, n);
        report_print_advice(out, v, n);
        report_print_disk(out, v, n);
        report_print_locks(out, v, n);
    }
    report_print_n1(out, r);
}

static void
report_json_sink(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, ctx);
}

/* "lock_waits" of a shape: null, or the count, total and longest wait, and the longest wait
 * with its blocker (in the names /api/digests uses for its latest one, "last"). */
static void
report_json_locks(struct jsonw *w, const struct report_shape *s)
{
    const struct report_lock *l = s->lock_longest;
    jsonw_key(w, "lock_waits");
    if (!s->lock_waits || !l) {
        jsonw_null(w);
        return;
    }
    jsonw_object_begin(w);
    jsonw_kuint(w, "count", s->lock_waits);
    jsonw_kdouble(w, "total_s", s->lock_wait_total);
    jsonw_kdouble(w, "max_s", s->lock_wait_max);
    jsonw_key(w, "longest");
    jsonw_object_begin(w);
    if (l->time != REPORT_NO_TIME) {
        char iso[TIMEFMT_ISO_LEN + 1];
        timefmt_iso_utc((int64_t)llround(l->time * 1e6), iso);
        jsonw_kstr(w, "time", iso);
    } else {
        jsonw_knull(w, "time");
    }
    jsonw_kdouble(w, "wait_s", l->wait_s);
    if (l->type[0]) {
        jsonw_kstr(w, "type", l->type);
    } else {
        jsonw_knull(w, "type");
    }
    if (l->table[0]) {
        jsonw_kstr(w, "table", l->table);
    } else {
        jsonw_knull(w, "table");
    }
    if (l->index[0]) {
        jsonw_kstr(w, "index", l->index);
    } else {
        jsonw_knull(w, "index");
    }
    if (l->blocked_by) {
        jsonw_kuint(w, "blocked_by", l->blocked_by);
    } else {
        jsonw_knull(w, "blocked_by");
    }
    jsonw_kbool(w, "inferred", l->inferred);
    jsonw_key(w, "candidates");
    jsonw_array_begin(w);
    for (const char *p = l->cands; *p; p += strspn(p, ",")) {
        char *end;
        unsigned long long id = strtoull(p, &end, 10);
        if (end == p) {
            break;
        }
        jsonw_uint(w, id);
        p = end;
    }
    jsonw_array_end(w);
    jsonw_key(w, "blocker");
    if (l->has_blocker) {
        jsonw_object_begin(w);
        jsonw_kuint(w, "thread_id", l->thread_id);
        jsonw_kstr(w, "user", l->user);
        jsonw_kstr(w, "host", l->host);
        if (l->trx_s >= 0) {
            jsonw_kdouble(w, "trx_s", l->trx_s);
        } else {
            jsonw_knull(w, "trx_s");
        }
        if (l->idle_s >= 0) {
            jsonw_kdouble(w, "idle_s", l->idle_s);
        } else {
            jsonw_knull(w, "idle_s");
        }
        if (l->last[0]) {
            jsonw_kstr(w, "last_statement", l->last);
        } else {
            jsonw_knull(w, "last_statement");
        }
        jsonw_kbool(w, "last_statement_truncated", l->last_cut);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* A group's costliest shapes (--group-by). */
static void
report_json_top_shapes(struct jsonw *w, const struct report *r, const struct report_shape *g)
{
    size_t idx[REPORT_GROUP_TOP];
    size_t k = report_group_top(g, idx, REPORT_GROUP_TOP);
    jsonw_key(w, "top_shapes");
    jsonw_array_begin(w);
    for (size_t j = 0; j < k; j++) {
        const struct report_sub *sub = &g->subs[idx[j]];
        const struct report_shape *s = report_slot(r->slots, r->nslots, sub->digest);
        char hex[HEXFMT_U64_LEN + 1];
        hexfmt_u64(sub->digest, hex);
        jsonw_object_begin(w);
        jsonw_kstr(w, "digest", hex);
        jsonw_kstr(w, "fingerprint", s->used ? s->fingerprint : NULL);
        jsonw_kuint(w, "count", sub->n);
        jsonw_kdouble(w, "total_s", sub->total);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

/* The shapes (or, with --group-by, the groups) as one JSON array (common/jsonw.h, indented);
 * false on a write error. */
static bool
report_print_json(FILE *out, const struct report *r, struct report_shape **v, size_t n)
{
    struct jsonw w;
    const bool groups = r->group_by != NULL;
    jsonw_init(&w, report_json_sink, out, JSONW_PRETTY);
    jsonw_array_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct report_shape *s = v[i];
        char hex[HEXFMT_U64_LEN + 1];
        hexfmt_u64(s->digest, hex);
        jsonw_object_begin(&w);
        jsonw_kuint(&w, "rank", i + 1);
        if (groups) {
            jsonw_kstr(&w, "group_by", r->group_by);
            jsonw_kstr(&w, "value", s->none ? NULL : s->fingerprint);
            jsonw_kuint(&w, "shapes", s->nsubs);
        } else {
            jsonw_kstr(&w, "digest", hex);
        }
        jsonw_kuint(&w, "count", s->n);
        jsonw_kdouble(&w, "total_s", s->total);
        jsonw_kdouble(&w, "avg_ms", s->total * 1000.0 / (double)s->n);
        jsonw_kdouble(&w, "min_ms", s->samples[0] * 1000.0);
        jsonw_kdouble(&w, "max_ms", s->samples[s->n - 1] * 1000.0);
        jsonw_kdouble(&w, "p50_ms", report_pct_ms(s, 50));
        jsonw_kdouble(&w, "p95_ms", report_pct_ms(s, 95));
        jsonw_kdouble(&w, "p99_ms", report_pct_ms(s, 99));
        jsonw_kdouble(&w, "lock_s", s->lock_total);
        jsonw_kuint(&w, "rows_sent", s->rows_sent);
        /* over the entries whose rows examined the log knew; null when it knew none */
        if (s->exam_known) {
            jsonw_kuint(&w, "rows_examined", s->rows_examined);
        } else {
            jsonw_knull(&w, "rows_examined");
        }
        jsonw_kuint(&w, "rows_examined_known", s->exam_known);
        jsonw_kuint(&w, "rows_affected", s->rows_affected);
        jsonw_kuint(&w, "errors", s->errors);
        jsonw_kuint(&w, "full_scans", s->full_scans);
        jsonw_kuint(&w, "full_joins", s->full_joins);
        jsonw_kuint(&w, "tmp_tables", s->tmp_tables);
        jsonw_kuint(&w, "filesorts", s->filesorts);
        jsonw_kuint(&w, "no_index", s->no_index);
        jsonw_kuint(&w, "tmp_on_disk", s->tmp_disk);
        jsonw_kuint(&w, "tmp_disk_tables", s->tmp_disk_tables);
        jsonw_kuint(&w, "filesorts_on_disk", s->sort_disk);
        jsonw_kuint(&w, "merge_passes", s->merge_passes);
        jsonw_kuint(&w, "plans", s->plans);
        if (groups) {
            report_json_top_shapes(&w, r, s);
            jsonw_object_end(&w);
            continue;
        }
        jsonw_kstr(&w, "name", s->name);
        jsonw_kstr(&w, "fingerprint", s->fingerprint);
        /* the last plan, index advice, and the scanned row estimate its flags weigh by */
        plan_write_json(&w, s->plan && s->plan->nrows ? s->plan : NULL);
        jsonw_kstr(&w, "index_advice", s->advice);
        if (s->scan_known) {
            jsonw_kuint(&w, "scan_rows", s->scan_rows);
        } else {
            jsonw_knull(&w, "scan_rows");
        }
        jsonw_kstr(&w, "scan_weight", advice_weight_name(report_scan_weight(s, r->total)));
        report_json_locks(&w, s);
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    jsonw_flush(&w);
    fputc('\n', out);
    return !ferror(out);
}

/* A --group-by attribute: a slow-log attribute or tag name (letters, digits, '_', '-'). */
static bool
report_attr_name(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
    return n > 0 && n < 64 && s[n] == '\0';
}

static void
report_usage(FILE *out)
{
    fprintf(out, "Usage: slowtap report [OPTION]... FILE...\n"
                 "Reads slow logs (slowtap's text or JSON-lines logs, MySQL/MariaDB server slow\n"
                 "logs; - for stdin) and prints statement shapes ranked by total time.\n"
                 "\n"
                 "  --top N               shapes to show, 0 for all (default 10)\n"
                 "  --since TIME          only entries at or after TIME: 2026-11-24T21:00:00\n"
                 "                        (local time; add Z for UTC) or relative 45s, 30m, 2h,\n"
                 "                        1d, 1w (default: all)\n"
                 "  --format table|json   output format (default table)\n"
                 "  --group-by ATTR       rank the values of an attribute instead of shapes,\n"
                 "                        as pt-query-digest: route, controller (any tag),\n"
                 "                        user, host, db (schema), or any Name of a header\n"
                 "                        line; entries without it are the group (none);\n"
                 "                        fingerprint: the shapes (the default)\n"
                 "  --help                print this help and exit\n"
                 "\n"
                 "Table columns: rank, digest (first 8 hex digits), count, total seconds, average\n"
                 "and p95 milliseconds (exact), rows sent, rows examined (when the log has them:\n"
                 "server slow logs, or slowtap's from performance_schema; ? = unknown, as\n"
                 "slowtap writes Rows_examined_known: No when the protocol did not tell it),\n"
                 "errors (when any), flags, and the fingerprint wrapped\n"
                 "at word boundaries. Flags, from the Full_scan/Full_join/Tmp_table/Filesort and\n"
                 "No_index_used lines or the EXPLAIN rows: scan (type ALL on the first table),\n"
                 "join (ALL on a later table of a join), tmp (Using temporary), sort (Using\n"
                 "filesort), noidx (the server said no index used; only for shapes without a\n"
                 "plan); scan:2 = in 2 of the shape's entries; (scan,join) in parentheses: of a\n"
                 "table estimated under 1000 rows, by a shape that took under 1 s and under 5%%\n"
                 "of the log's total time (not worth attention). --format json has every number:\n"
                 "also p50, min, max, lock time, rows affected, the count of each flag and of\n"
                 "the entries with a plan, and the last plan itself.\n"
                 "\n"
                 "Below the table: each shape's last plan (a line per table) and its index\n"
                 "advice; what went to disk (temporary tables and sort\n"
                 "merges the server wrote to disk, from its Tmp_table_on_disk, Filesort_on_disk\n"
                 "and Merge_passes figures); lock waits (the shapes whose statements waited for a\n"
                 "lock: waits, time waited, and the longest wait with the session that held the\n"
                 "lock and what it was doing); N+1 findings. All from the log's own lines.\n"
                 "With --group-by the rows are the attribute's values (the digest column gives\n"
                 "the number of shapes), and below the table each value's costliest shapes.\n"
                 "A file with text in it but no entry is not a slow log: exit status 2.\n");
}

int
report_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option lo[] = {
        {"top", required_argument, NULL, 't'},    {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"group-by", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct report r;
    long top = 10;
    bool json = false;
    int rc, status = 0;
    struct report_shape **v;
    size_t n = 0;

    if (report_ch_wanted(argc, argv)) { /* a fleet in ClickHouse (--sink): report_ch.c */
        return report_ch_main(argc, argv, out, err);
    }
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
        case 'g':
            if (!report_attr_name(optarg)) {
                fprintf(err,
                        "slowtap report: --group-by: invalid attribute '%s' (expected a name "
                        "such as route, controller, user, host, db or a tag's name)\n",
                        optarg);
                return 2;
            }
            /* pt-query-digest's default: the shapes themselves */
            r.group_by = strcasecmp(optarg, "fingerprint") == 0 ? NULL : optarg;
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

    /* the rows: the shapes, or with --group-by the groups */
    struct report_shape *rows = r.group_by ? r.groups : r.slots;
    size_t nrows = r.group_by ? r.ngslots : r.nslots;
    v = calloc(r.nshapes > r.ngroups ? r.nshapes + 1 : r.ngroups + 1, sizeof(*v));
    if (!v) {
        fprintf(err, "slowtap report: out of memory\n");
        report_free(&r);
        return 2;
    }
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].used) {
            qsort(rows[i].samples, rows[i].n, sizeof(double), report_cmp_double);
            v[n++] = &rows[i];
        }
    }
    qsort(v, n, sizeof(*v), report_cmp_shape);
    if (top > 0 && (size_t)top < n) {
        n = (size_t)top;
    }
    if (json) {
        if (!report_print_json(out, &r, v, n)) {
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
