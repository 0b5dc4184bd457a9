/*
 * state.c - the state file: save and restore with jansson, written atomically (state.h).
 */
#include "proxy/output/state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hexfmt.h"
#include "proxy/account/ddl.h"
#include "proxy/account/findings.h"
#include "proxy/account/history.h"
#include "proxy/account/routes.h"
#include "proxy/account/stats.h"
#include "proxy/account/window.h"

/* ---- save ---- */

static json_t *
state_hist(const struct hist *h)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < HIST_BUCKETS; i++) {
        if (h->b[i]) {
            json_array_append_new(a, json_pack("[iI]", (int)i, (json_int_t)h->b[i]));
        }
    }
    return a;
}

static json_t *
state_hex(uint64_t v)
{
    char hex[HEXFMT_U64_LEN + 1];
    hexfmt_u64(v, hex);
    return json_string(hex);
}

static json_t *
state_shapes(struct stats *s)
{
    json_t *a = json_array();
    struct stats_snapshot snap = {0};
    if (!a || !s || !stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap)) {
        return a;
    }
    for (size_t i = 0; i < snap.n; i++) {
        const struct stats_digest *d = &snap.d[i];
        json_t *o = json_object();
        json_object_set_new(o, "digest", state_hex(d->digest));
        json_object_set_new(o, "fingerprint", json_string(d->fingerprint));
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "example", json_string(d->example));
        json_object_set_new(o, "schema", json_string(d->schema));
        json_object_set_new(o, "explainable", json_boolean(d->example_explainable));
        static const char *const k[] = {"count",  "errors",   "no_index",  "total_us",     "min_us",
                                        "max_us", "queue_us", "rows_sent", "rows_affected"};
        const uint64_t v[] = {d->count,  d->errors,   d->no_index,  d->total_us,     d->min_us,
                              d->max_us, d->queue_us, d->rows_sent, d->rows_affected};
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) {
            json_object_set_new(o, k[j], json_integer((json_int_t)v[j]));
        }
        json_object_set_new(o, "first_seen_us", json_integer(d->first_seen_us));
        json_object_set_new(o, "last_seen_us", json_integer(d->last_seen_us));
        json_object_set_new(o, "hist", state_hist(&d->hist));
        json_array_append_new(a, o);
    }
    stats_snapshot_free(&snap);
    return a;
}

static json_t *
state_routes(struct routes *r)
{
    json_t *a = json_array();
    struct routes_snapshot snap = {0};
    if (!a || !r || !routes_snapshot(r, 0, &snap)) {
        return a;
    }
    for (size_t i = 0; i < snap.n; i++) {
        const struct routes_entry *e = &snap.r[i];
        json_t *top = json_array();
        for (unsigned t = 0; top && t < e->ntop; t++) {
            json_array_append_new(top, json_pack("[oII]", state_hex(e->top[t].digest),
                                                 (json_int_t)e->top[t].count,
                                                 (json_int_t)e->top[t].total_us));
        }
        json_array_append_new(
            a, json_pack("{sssIsIsIsIsIsIsoso}", "route", e->route, "count", (json_int_t)e->count,
                         "errors", (json_int_t)e->errors, "total_us", (json_int_t)e->total_us,
                         "requests", (json_int_t)e->requests, "request_stmts",
                         (json_int_t)e->request_stmts, "last_seen_us", (json_int_t)e->last_seen_us,
                         "hist", state_hist(&e->hist), "top", top));
    }
    routes_snapshot_free(&snap);
    return a;
}

static json_t *
state_findings(struct findings_table *t)
{
    json_t *a = json_array();
    struct findings_entry *e = NULL;
    uint64_t found[2] = {0, 0};
    size_t n = a && t ? findings_table_snapshot(t, 0, &e, found) : 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            a, json_pack("{sisososssIsIsIsIsIsIsI}", "kind", (int)e[i].kind, "parent",
                         state_hex(e[i].parent), "child", state_hex(e[i].child), "route",
                         e[i].route, "occurrences", (json_int_t)e[i].occurrences, "executions",
                         (json_int_t)e[i].executions, "max_count", (json_int_t)e[i].max_count,
                         "last_count", (json_int_t)e[i].last_count, "total_us",
                         (json_int_t)e[i].total_us, "first_seen_us", (json_int_t)e[i].first_seen_us,
                         "last_seen_us", (json_int_t)e[i].last_seen_us));
    }
    free(e);
    return a;
}

static json_t *
state_ddl(struct ddl_log *l)
{
    json_t *a = json_array();
    struct ddl_marker *m = malloc(DDL_LOG_MAX * sizeof *m);
    size_t n = a && m && l ? ddl_log_get(l, m, DDL_LOG_MAX) : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *tabs = json_array();
        for (unsigned t = 0; tabs && t < m[i].n; t++) {
            json_array_append_new(tabs, json_pack("[ss]", m[i].t[t].schema, m[i].t[t].table));
        }
        json_array_append_new(a, json_pack("{sIsisbsoss}", "wall_us", (json_int_t)m[i].wall_us,
                                           "kind", (int)m[i].kind, "add_index", m[i].add_index,
                                           "tables", tabs, "text", m[i].text));
    }
    free(m);
    return a;
}

static json_t *
state_series(struct history *h, size_t keys)
{
    json_t *a = json_array();
    struct history_point *p = a && h ? malloc(4096 * sizeof *p) : NULL;
    for (size_t i = 0; p && i < keys; i++) {
        enum history_kind kind;
        char key[HISTORY_KEY_MAX];
        if (!history_series(h, i, &kind, key, sizeof key)) {
            continue;
        }
        size_t n = history_get(h, kind, key, p, 4096);
        json_t *pts = json_array();
        for (size_t j = 0; pts && j < n; j++) {
            json_array_append_new(pts, json_pack("[Ifff]", (json_int_t)p[j].wall_us, p[j].per_s,
                                                 p[j].p99_s, p[j].db_per_s));
        }
        json_array_append_new(a,
                              json_pack("{sissso}", "kind", (int)kind, "key", key, "points", pts));
    }
    free(p);
    return a;
}

static int64_t
state_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool
state_save(const char *dir, const struct state_parts *p, char *err, size_t cap)
{
    json_t *o = json_object();
    if (!o) {
        snprintf(err, cap, "out of memory");
        return false;
    }
    json_object_set_new(o, "slowtap_state", json_integer(STATE_VERSION));
    json_object_set_new(o, "saved_at", json_integer(state_now_us()));
    json_object_set_new(o, "shapes", state_shapes(p->stats));
    json_object_set_new(o, "routes", state_routes(p->routes));
    json_object_set_new(o, "findings", state_findings(p->findings));
    json_object_set_new(o, "ddl", state_ddl(p->ddl));
    json_object_set_new(o, "series", state_series(p->series, p->series_keys));
    if (p->win_digests) {
        json_object_set_new(o, "window_digests", window_save(p->win_digests));
    }
    if (p->win_routes) {
        json_object_set_new(o, "window_routes", window_save(p->win_routes));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) {
        snprintf(err, cap, "out of memory");
        return false;
    }
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, STATE_FILE);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    size_t off = 0;
    while (ok && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    free(text);
    if (!ok) {
        snprintf(err, cap, "%s: %s", fd < 0 ? tmp : path, strerror(e));
        unlink(tmp);
        return false;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* the rename itself on disk */
        close(dfd);
    }
    return true;
}

/* ---- load ---- */

static uint64_t
state_u64(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static uint64_t
state_digest(const json_t *v)
{
    uint64_t d = 0;
    const char *s = json_string_value(v);
    return s && hexfmt_parse_u64(s, &d) ? d : 0;
}

static void
state_str(char *dst, size_t cap, const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    size_t n = s ? strlen(s) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--; /* not inside a UTF-8 sequence */
        }
    }
    if (n) {
        memcpy(dst, s, n);
    }
    dst[n] = '\0';
}

static void
state_hist_get(const json_t *a, struct hist *h)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_int_t b = json_integer_value(json_array_get(json_array_get(a, i), 0));
        json_int_t c = json_integer_value(json_array_get(json_array_get(a, i), 1));
        if (b >= 0 && b < (json_int_t)HIST_BUCKETS && c > 0 && c <= UINT32_MAX) {
            h->b[b] = (uint32_t)c;
        }
    }
}

static void
state_load_shapes(struct stats *s, const json_t *a)
{
    struct stats_digest *d = malloc(sizeof *d);
    for (size_t i = 0; d && s && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        memset(d, 0, sizeof *d);
        d->digest = state_digest(json_object_get(o, "digest"));
        state_str(d->fingerprint, sizeof d->fingerprint, o, "fingerprint");
        state_str(d->name, sizeof d->name, o, "name");
        state_str(d->example, sizeof d->example, o, "example");
        state_str(d->schema, sizeof d->schema, o, "schema");
        d->example_explainable = json_is_true(json_object_get(o, "explainable"));
        d->count = state_u64(o, "count");
        d->errors = state_u64(o, "errors");
        d->no_index = state_u64(o, "no_index");
        d->total_us = state_u64(o, "total_us");
        d->min_us = state_u64(o, "min_us");
        d->max_us = state_u64(o, "max_us");
        d->queue_us = state_u64(o, "queue_us");
        d->rows_sent = state_u64(o, "rows_sent");
        d->rows_affected = state_u64(o, "rows_affected");
        d->first_seen_us = (int64_t)state_u64(o, "first_seen_us");
        d->last_seen_us = (int64_t)state_u64(o, "last_seen_us");
        state_hist_get(json_object_get(o, "hist"), &d->hist);
        if (d->digest && d->fingerprint[0]) {
            stats_put(s, d);
        }
    }
    free(d);
}

static void
state_load_routes(struct routes *r, const json_t *a)
{
    struct routes_entry *e = malloc(sizeof *e);
    for (size_t i = 0; e && r && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        memset(e, 0, sizeof *e);
        state_str(e->route, sizeof e->route, o, "route");
        e->count = state_u64(o, "count");
        e->errors = state_u64(o, "errors");
        e->total_us = state_u64(o, "total_us");
        e->requests = state_u64(o, "requests");
        e->request_stmts = state_u64(o, "request_stmts");
        e->last_seen_us = (int64_t)state_u64(o, "last_seen_us");
        state_hist_get(json_object_get(o, "hist"), &e->hist);
        const json_t *top = json_object_get(o, "top");
        for (size_t t = 0; t < json_array_size(top) && e->ntop < ROUTES_TOP_SHAPES; t++) {
            const json_t *x = json_array_get(top, t);
            json_int_t c = json_integer_value(json_array_get(x, 1));
            json_int_t us = json_integer_value(json_array_get(x, 2));
            e->top[e->ntop++] =
                (struct routes_shape){state_digest(json_array_get(x, 0)), c > 0 ? (uint64_t)c : 0,
                                      us > 0 ? (uint64_t)us : 0};
        }
        if (e->route[0] && e->count) {
            routes_put(r, e);
        }
    }
    free(e);
}

static void
state_load_findings(struct findings_table *t, const json_t *a)
{
    for (size_t i = 0; t && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        struct findings_entry e = {
            .kind = (enum findings_kind)state_u64(o, "kind"),
            .parent = state_digest(json_object_get(o, "parent")),
            .child = state_digest(json_object_get(o, "child")),
            .occurrences = state_u64(o, "occurrences"),
            .executions = state_u64(o, "executions"),
            .max_count = (uint32_t)state_u64(o, "max_count"),
            .last_count = (uint32_t)state_u64(o, "last_count"),
            .total_us = state_u64(o, "total_us"),
            .first_seen_us = (int64_t)state_u64(o, "first_seen_us"),
            .last_seen_us = (int64_t)state_u64(o, "last_seen_us"),
        };
        state_str(e.route, sizeof e.route, o, "route");
        if (e.child && e.occurrences) {
            findings_table_put(t, &e);
        }
    }
}

static void
state_load_ddl(struct ddl_log *l, const json_t *a)
{
    for (size_t i = 0; l && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        struct ddl_marker m = {
            .wall_us = (int64_t)state_u64(o, "wall_us"),
            .kind = (enum proto_ddl_kind)state_u64(o, "kind"),
            .add_index = json_is_true(json_object_get(o, "add_index")),
        };
        if (m.kind > PROTO_DDL_RENAME_TABLE || m.wall_us == 0) {
            continue;
        }
        const json_t *tabs = json_object_get(o, "tables");
        for (size_t t = 0; t < json_array_size(tabs) && m.n < PROTO_DDL_TABLES; t++) {
            const char *sch = json_string_value(json_array_get(json_array_get(tabs, t), 0));
            const char *tab = json_string_value(json_array_get(json_array_get(tabs, t), 1));
            if (!sch || !tab || strlen(sch) > PROTO_DDL_NAME_MAX || !tab[0] ||
                strlen(tab) > PROTO_DDL_NAME_MAX) {
                continue;
            }
            memcpy(m.t[m.n].schema, sch, strlen(sch) + 1);
            memcpy(m.t[m.n].table, tab, strlen(tab) + 1);
            m.n++;
        }
        state_str(m.text, sizeof m.text, o, "text");
        ddl_log_put(l, &m);
    }
}

static void
state_load_series(struct history *h, const json_t *a)
{
    for (size_t i = 0; h && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        const json_t *pts = json_object_get(o, "points");
        const char *key = json_string_value(json_object_get(o, "key"));
        uint64_t kind = state_u64(o, "kind");
        size_t n = json_array_size(pts);
        if (!key || kind > HISTORY_DIGEST || n == 0) {
            continue;
        }
        struct history_point *p = malloc(n * sizeof *p);
        if (!p) {
            return;
        }
        size_t k = 0;
        for (size_t j = 0; j < n; j++) {
            const json_t *x = json_array_get(pts, j);
            json_int_t wall = json_integer_value(json_array_get(x, 0));
            if (wall <= 0 || (k && wall <= p[k - 1].wall_us)) {
                continue; /* oldest first, each after the last */
            }
            p[k++] = (struct history_point){
                .wall_us = wall,
                .per_s = json_number_value(json_array_get(x, 1)),
                .p99_s = json_number_value(json_array_get(x, 2)),
                .db_per_s = json_number_value(json_array_get(x, 3)),
            };
        }
        history_put(h, (enum history_kind)kind, key, p, k);
        free(p);
    }
}

enum state_load_result
state_load(const char *dir, const struct state_parts *p, int64_t now_us, char *err, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        return STATE_NONE;
    }
    json_error_t je;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, cap, "%s: unreadable (%s, line %d)", path, je.text, je.line);
        return STATE_IGNORED;
    }
    json_int_t version = json_integer_value(json_object_get(o, "slowtap_state"));
    if (!json_is_object(o) || version != STATE_VERSION) {
        snprintf(err, cap, "%s: not a slowtap state file of version %d", path, STATE_VERSION);
        json_decref(o);
        return STATE_IGNORED;
    }
    state_load_shapes(p->stats, json_object_get(o, "shapes"));
    state_load_routes(p->routes, json_object_get(o, "routes"));
    state_load_findings(p->findings, json_object_get(o, "findings"));
    state_load_ddl(p->ddl, json_object_get(o, "ddl"));
    state_load_series(p->series, json_object_get(o, "series"));
    /* the windows: as saved, else counting from the restored figures */
    const json_t *wd = json_object_get(o, "window_digests");
    if (p->win_digests && !(wd && window_load(p->win_digests, wd, now_us)) && p->stats) {
        struct window_fig *f = NULL;
        size_t n = stats_figures(p->stats, &f);
        window_base(p->win_digests, now_us, f, n);
        free(f);
    }
    const json_t *wr = json_object_get(o, "window_routes");
    if (p->win_routes) {
        window_load(p->win_routes, wr, now_us);
    }
    json_decref(o);
    return STATE_LOADED;
}
