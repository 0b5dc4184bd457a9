/*
 * pfs.c - performance_schema queries and rows, SHOW ANALYZE FORMAT=JSON as lines; see pfs.h.
 * The history query selects the table's own column names (so a row recorded from a plain
 * SELECT * of events_statements_history parses the same) plus NOW_TIMER.
 */
#include "explain/pfs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char pfs_detect_query[] =
    "SELECT @@performance_schema, (SELECT ENABLED FROM performance_schema.setup_consumers "
    "WHERE NAME = 'events_statements_history')";

bool
pfs_detect_row(const char *const *vals, unsigned n)
{
    return n >= 2 && vals[0] && vals[1] && strcmp(vals[0], "1") == 0 &&
           strcasecmp(vals[1], "YES") == 0;
}

/* NOW_TIMER: the TIMER_START of the side connection's own running statement (this query),
 * the server's "now" on the clock of TIMER_END. */
static const char history_q[] =
    "SELECT h.EVENT_ID, h.TIMER_END, h.TIMER_WAIT, h.LOCK_TIME, h.ROWS_EXAMINED, h.ROWS_SENT, "
    "h.CREATED_TMP_TABLES, h.CREATED_TMP_DISK_TABLES, h.SORT_MERGE_PASSES, h.SORT_ROWS, "
    "h.SELECT_SCAN, h.SELECT_FULL_JOIN, h.NO_INDEX_USED, h.SQL_TEXT, "
    "(SELECT c.TIMER_START FROM performance_schema.events_statements_current c "
    "JOIN performance_schema.threads ct ON ct.THREAD_ID = c.THREAD_ID "
    "WHERE ct.PROCESSLIST_ID = CONNECTION_ID() ORDER BY c.EVENT_ID DESC LIMIT 1) AS NOW_TIMER "
    "FROM performance_schema.events_statements_history h "
    "JOIN performance_schema.threads t ON t.THREAD_ID = h.THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u AND h.TIMER_END IS NOT NULL ORDER BY h.EVENT_ID DESC";

size_t
pfs_query(uint32_t thread_id, char *out, size_t cap)
{
    int n = snprintf(out, cap, history_q, thread_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bool
to_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) {
        return false;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' && *end != '.') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* Does the server's text name this statement? Exact, or a cut text that begins it. */
static bool
text_matches(const char *text, const char *sql, size_t sql_len)
{
    if (!sql) {
        return false;
    }
    size_t n = strlen(text);
    if (n == sql_len && memcmp(text, sql, n) == 0) {
        return true;
    }
    if (n >= 3 && memcmp(text + n - 3, "...", 3) == 0) {
        n -= 3;
    }
    return n >= 256 && n < sql_len && memcmp(text, sql, n) == 0;
}

void
pfs_add_row(struct pfs_pick *p, const struct pfs_target *t, const char *const *names,
            const char *const *vals, unsigned n)
{
    struct pfs_stmt st = {0};
    const char *text = NULL;
    uint64_t end_ps = 0, now_ps = 0, wait_ps = 0, lock_ps = 0, v;
    bool has_end = false, has_now = false, has_rows = false;
    for (unsigned i = 0; i < n; i++) {
        const char *k = names[i], *s = vals[i];
        if (!k || !s) {
            continue;
        }
        if (strcasecmp(k, "SQL_TEXT") == 0) {
            text = s;
        } else if (strcasecmp(k, "TIMER_END") == 0) {
            has_end = to_u64(s, &end_ps);
        } else if (strcasecmp(k, "NOW_TIMER") == 0) {
            has_now = to_u64(s, &now_ps);
        } else if (strcasecmp(k, "ROWS_EXAMINED") == 0) {
            has_rows = to_u64(s, &st.rows_examined);
        } else if (!to_u64(s, &v)) {
            continue;
        } else if (strcasecmp(k, "EVENT_ID") == 0) {
            st.event_id = v;
        } else if (strcasecmp(k, "TIMER_WAIT") == 0) {
            wait_ps = v;
        } else if (strcasecmp(k, "LOCK_TIME") == 0) {
            lock_ps = v;
        } else if (strcasecmp(k, "ROWS_SENT") == 0) {
            st.rows_sent = v;
        } else if (strcasecmp(k, "CREATED_TMP_TABLES") == 0) {
            st.tmp_tables = v;
        } else if (strcasecmp(k, "CREATED_TMP_DISK_TABLES") == 0) {
            st.tmp_disk_tables = v;
        } else if (strcasecmp(k, "SORT_MERGE_PASSES") == 0) {
            st.merge_passes = v;
        } else if (strcasecmp(k, "SORT_ROWS") == 0) {
            st.sort_rows = v;
        } else if (strcasecmp(k, "SELECT_SCAN") == 0) {
            st.select_scan = v;
        } else if (strcasecmp(k, "SELECT_FULL_JOIN") == 0) {
            st.select_full_join = v;
        } else if (strcasecmp(k, "NO_INDEX_USED") == 0) {
            st.no_index_used = v != 0;
        }
    }
    if (!text || !has_end || !has_rows) {
        return;
    }
    if (!text_matches(text, t->sql, t->sql_len) &&
        !(t->prepared_sql && text_matches(text, t->prepared_sql, strlen(t->prepared_sql)))) {
        return;
    }
    st.server_us = wait_ps / 1000000;
    st.lock_us = lock_ps / 1000000;
    uint64_t diff = 0;
    if (has_now && t->age_us >= 0) {
        int64_t age = now_ps >= end_ps ? (int64_t)((now_ps - end_ps) / 1000000) : 0;
        int64_t d = age - t->age_us;
        diff = (uint64_t)(d < 0 ? -d : d);
        if (diff > PFS_MATCH_SLACK_US) {
            return; /* another run of the same text */
        }
        if (p->found && diff >= p->diff_us) {
            return;
        }
    } else if (p->found && st.event_id <= p->st.event_id) {
        return; /* without the server's now: the newest match */
    }
    p->found = true;
    p->diff_us = diff;
    p->st = st;
}

/* ---- SHOW ANALYZE FORMAT=JSON ---- */

struct abuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void
ab_add(struct abuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

/* " name=value" for a number or string member that is present. */
static void
ab_member(struct abuf *b, json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    char num[64];
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, " %s=%lld", name, (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, " %s=%.6g", name, json_real_value(v));
    } else if (json_is_string(v) && strlen(json_string_value(v)) < 32 &&
               !strpbrk(json_string_value(v), " \t\r\n")) {
        snprintf(num, sizeof num, " %s=%s", name, json_string_value(v));
    } else {
        return;
    }
    ab_add(b, num);
}

static void
walk(struct abuf *b, json_t *j, int depth, unsigned *ntables)
{
    if (depth > 64) {
        return;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            walk(b, v, depth + 1, ntables);
        }
        return;
    }
    if (!json_is_object(j)) {
        return;
    }
    json_t *name = json_object_get(j, "table_name");
    if (json_is_string(name)) {
        static const char *const members[] = {
            "access_type",
            "key",
            "rows",
            "r_loops",
            "r_rows",
            "r_filtered",
            "r_total_time_ms",
            "r_table_time_ms",
            "r_other_time_ms",
        };
        char nm[80];
        snprintf(nm, sizeof nm, "%.64s", json_string_value(name));
        for (char *c = nm; *c; c++) {
            if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n') {
                *c = '_';
            }
        }
        ab_add(b, nm);
        for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
            ab_member(b, j, members[i]);
        }
        ab_add(b, "\n");
        (*ntables)++;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (json_is_object(v) || json_is_array(v)) {
            walk(b, v, depth + 1, ntables);
        }
    }
}

char *
pfs_analyze_lines(const char *json, size_t len)
{
    json_error_t err;
    json_t *doc = json_loadb(json, len, 0, &err);
    if (!doc) {
        return NULL;
    }
    struct abuf b = {0};
    unsigned ntables = 0;
    json_t *inprog = json_object_get(doc, "r_query_time_in_progress_ms");
    if (json_is_number(inprog)) {
        char num[64];
        snprintf(num, sizeof num, "r_query_time_in_progress_ms=%.6g\n", json_number_value(inprog));
        ab_add(&b, num);
    }
    walk(&b, doc, 0, &ntables);
    json_decref(doc);
    if (b.oom || ntables == 0) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
