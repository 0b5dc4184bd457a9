/*
 * findings.c - N+1 and duplicate detection per unit of work (the rule is in findings.h), and
 * the shared table the findings are counted in.
 */
#include "proxy/account/findings.h"

#include <stdlib.h>
#include <string.h>

struct findings_table {
    pthread_mutex_t mu;
    struct findings_entry e[FINDINGS_MAX];
    size_t n;
    uint64_t found[2];
};

static void
findings_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
    }
    if (n) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

bool
findings_has_comment(const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *p = memchr(s, '/', (size_t)(end - s));
        if (!p || p + 1 >= end) {
            return false;
        }
        if (p[1] == '*') {
            return true;
        }
        s = p + 1;
    }
    return false;
}

uint64_t
findings_hash(const void *p, size_t n, bool skip_comments)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n;
    if (!skip_comments) {
        while (n >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
            h ^= h >> 29;
            s += 8;
            n -= 8;
        }
        while (n--) {
            h = (h ^ *s++) * 0x100000001b3ULL;
        }
        return h;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < n && !(s[j] == '*' && s[j + 1] == '/')) {
                j++;
            }
            i = j + 1; /* past the closing slash (or the end) */
            continue;
        }
        h = (h ^ s[i]) * 0x100000001b3ULL;
    }
    return h;
}

void
findings_sess_init(struct findings_sess *fs, const struct findings_conf *conf)
{
    memset(fs, 0, sizeof *fs);
    fs->conf = conf;
}

static void
findings_run_close(struct findings_sess *fs, int64_t wall_us)
{
    const struct findings_conf *c = fs->conf;
    if (fs->run_count >= c->n_plus_one_min && fs->run_parent && c->table) {
        findings_table_add(c->table, FINDINGS_N_PLUS_ONE, fs->run_parent, fs->run_digest,
                           fs->run_count, fs->run_total, fs->route, wall_us);
    }
    fs->run_digest = 0;
    fs->run_count = 0;
    fs->run_total = 0;
}

static void
findings_dup_emit(struct findings_sess *fs, struct findings_dup *d, int64_t wall_us)
{
    if (d->unit == fs->unit && d->n >= 2 && fs->conf->table) {
        findings_table_add(fs->conf->table, FINDINGS_DUPLICATE, 0, d->digest, d->n, d->total_us,
                           fs->route, wall_us);
    }
    d->unit = 0;
}

static void
findings_unit_close(struct findings_sess *fs, int64_t wall_us)
{
    if (!fs->open) {
        return;
    }
    findings_run_close(fs, wall_us);
    for (unsigned i = 0; i < FINDINGS_DUP_SLOTS; i++) {
        findings_dup_emit(fs, &fs->dup[i], wall_us);
    }
    if (fs->stmts && fs->conf->unit_end) {
        fs->conf->unit_end(fs->conf->unit_arg, fs->route, fs->stmts);
    }
    fs->open = false;
    fs->end_after = false;
    fs->stmts = 0;
    fs->trace_id[0] = '\0';
    fs->route[0] = '\0';
    fs->prev_digest = 0;
}

static void
findings_unit_open(struct findings_sess *fs, const char *trace_id)
{
    fs->open = true;
    fs->end_after = false;
    if (++fs->unit == 0) {
        fs->unit = 1; /* 0 marks a free dup slot */
    }
    findings_copy(fs->trace_id, sizeof fs->trace_id, trace_id);
}

/* Does this statement begin a new unit? */
static bool
findings_new_unit(const struct findings_sess *fs, const struct findings_stmt *st, bool traced)
{
    if (!fs->open) {
        return true;
    }
    if (traced) {
        return strcmp(fs->trace_id, st->trace_id) != 0;
    }
    if (fs->trace_id[0]) {
        return true; /* the traced unit is over */
    }
    if (st->trx_before) {
        return false; /* inside one transaction */
    }
    if (fs->end_after) {
        return true;
    }
    if (st->trx_after) {
        return true; /* a transaction begins */
    }
    return st->start_us - fs->last_end >= fs->conf->request_gap_us;
}

static void
findings_dup_note(struct findings_sess *fs, const struct findings_stmt *st)
{
    uint64_t k = st->digest ^ (st->params * 0x9E3779B97F4A7C15ULL);
    struct findings_dup *d = &fs->dup[(k >> 32) % FINDINGS_DUP_SLOTS];
    if (d->unit == fs->unit && d->digest == st->digest && d->params == st->params) {
        d->n++;
        d->total_us += st->query_us;
        return;
    }
    findings_dup_emit(fs, d, st->wall_us); /* a pair pushed out reports what it had */
    *d = (struct findings_dup){.digest = st->digest,
                               .params = st->params,
                               .total_us = st->query_us,
                               .n = 1,
                               .unit = fs->unit};
}

void
findings_sess_stmt(struct findings_sess *fs, const struct findings_stmt *st,
                   struct findings_mark *mark)
{
    memset(mark, 0, sizeof *mark);
    bool traced = st->trace_id && st->trace_id[0];
    if (st->pool_marker && !st->trx_before && !traced) {
        findings_unit_close(fs, st->wall_us);
        fs->last_end = st->end_us;
        return;
    }
    if (findings_new_unit(fs, st, traced)) {
        findings_unit_close(fs, st->wall_us);
        findings_unit_open(fs, traced ? st->trace_id : "");
    }
    fs->stmts++;
    fs->last_end = st->end_us;
    fs->end_after = !traced && st->trx_before && !st->trx_after;
    if (!fs->route[0] && st->route && st->route[0]) {
        findings_copy(fs->route, sizeof fs->route, st->route);
    }
    if (!st->candidate) {
        return;
    }
    findings_dup_note(fs, st);
    if (st->digest == fs->run_digest && fs->run_count) {
        if (st->params != fs->run_params) {
            fs->run_count++;
            fs->run_total += st->query_us;
            fs->run_params = st->params;
        }
    } else {
        findings_run_close(fs, st->wall_us);
        fs->run_digest = st->digest;
        fs->run_parent = fs->prev_digest;
        fs->run_params = st->params;
        fs->run_count = 1;
        fs->run_total = st->query_us;
    }
    fs->prev_digest = st->digest;
    if (fs->run_parent && fs->run_count >= fs->conf->n_plus_one_min) {
        *mark = (struct findings_mark){.n_plus_one = true,
                                       .child = fs->run_digest,
                                       .parent = fs->run_parent,
                                       .count = fs->run_count,
                                       .total_us = fs->run_total};
    }
}

void
findings_sess_end(struct findings_sess *fs, int64_t wall_us)
{
    findings_unit_close(fs, wall_us);
}

/* ---- the shared table ---- */

struct findings_table *
findings_table_new(void)
{
    struct findings_table *t = calloc(1, sizeof *t);
    if (t && pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void
findings_table_free(struct findings_table *t)
{
    if (t) {
        pthread_mutex_destroy(&t->mu);
        free(t);
    }
}

void
findings_table_add(struct findings_table *t, enum findings_kind kind, uint64_t parent,
                   uint64_t child, uint32_t count, uint64_t total_us, const char *route,
                   int64_t wall_us)
{
    pthread_mutex_lock(&t->mu);
    t->found[kind]++;
    struct findings_entry *e = NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].kind == kind && t->e[i].parent == parent && t->e[i].child == child) {
            e = &t->e[i];
            break;
        }
    }
    if (!e) {
        if (t->n < FINDINGS_MAX) {
            e = &t->e[t->n++];
        } else { /* evict the least costly */
            e = &t->e[0];
            for (size_t i = 1; i < t->n; i++) {
                if (t->e[i].total_us < e->total_us) {
                    e = &t->e[i];
                }
            }
        }
        *e = (struct findings_entry){
            .kind = kind, .parent = parent, .child = child, .first_seen_us = wall_us};
    }
    e->occurrences++;
    e->executions += count;
    e->total_us += total_us;
    e->last_count = count;
    if (count > e->max_count) {
        e->max_count = count;
    }
    e->last_seen_us = wall_us;
    findings_copy(e->route, sizeof e->route, route);
    pthread_mutex_unlock(&t->mu);
}

static void
findings_copy_n(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
    }
    if (n) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

void
findings_table_examples(struct findings_table *t, uint64_t parent, uint64_t child,
                        const char *ptext, size_t plen, const char *ctext, size_t clen,
                        const char *route)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++) {
        struct findings_entry *e = &t->e[i];
        if (e->kind == FINDINGS_N_PLUS_ONE && e->parent == parent && e->child == child) {
            findings_copy_n(e->parent_example, sizeof e->parent_example, ptext, plen);
            findings_copy_n(e->child_example, sizeof e->child_example, ctext, clen);
            findings_copy(e->example_route, sizeof e->example_route, route);
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
}

void
findings_table_put(struct findings_table *t, const struct findings_entry *e)
{
    pthread_mutex_lock(&t->mu);
    if (t->n < FINDINGS_MAX && (e->kind == FINDINGS_N_PLUS_ONE || e->kind == FINDINGS_DUPLICATE)) {
        t->e[t->n] = *e;
        t->e[t->n].route[sizeof t->e[t->n].route - 1] = '\0';
        t->e[t->n].parent_example[FINDINGS_EXAMPLE_MAX - 1] = '\0';
        t->e[t->n].child_example[FINDINGS_EXAMPLE_MAX - 1] = '\0';
        t->e[t->n].example_route[FINDINGS_ROUTE_MAX - 1] = '\0';
        t->found[e->kind] += e->occurrences;
        t->n++;
    }
    pthread_mutex_unlock(&t->mu);
}

static int
findings_cmp(const void *a, const void *b)
{
    const struct findings_entry *x = a, *y = b;
    if (x->total_us != y->total_us) {
        return x->total_us < y->total_us ? 1 : -1;
    }
    return x->child < y->child ? -1 : x->child > y->child;
}

size_t
findings_table_snapshot(struct findings_table *t, size_t limit, struct findings_entry **out,
                        uint64_t total_found[2])
{
    *out = NULL;
    pthread_mutex_lock(&t->mu);
    total_found[0] = t->found[0];
    total_found[1] = t->found[1];
    size_t n = t->n;
    struct findings_entry *c = n ? malloc(n * sizeof *c) : NULL;
    if (c) {
        memcpy(c, t->e, n * sizeof *c);
    }
    pthread_mutex_unlock(&t->mu);
    if (!c) {
        return 0;
    }
    qsort(c, n, sizeof *c, findings_cmp);
    if (limit && n > limit) {
        n = limit;
    }
    *out = c;
    return n;
}
