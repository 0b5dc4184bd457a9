/*
 * plan.c - EXPLAIN plans in the traditional tabular layout: rows matched to the ten MariaDB
 * columns by name, and the flags the slow log reports (full scan, full join, temporary table,
 * filesort). Pure: no database access.
 */
#include "explain/plan.h"

#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jsonw.h"

const char *const plan_col_names[PLAN_NCOLS] = {
    "id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra",
};

struct plan *
plan_new(void)
{
    struct plan *p = calloc(1, sizeof(struct plan));
    if (p) {
        atomic_init(&p->refs, 1);
    }
    return p;
}

struct plan *
plan_ref(struct plan *p)
{
    if (p) {
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    }
    return p;
}

static void
plan_row_clear(struct plan_row *r)
{
    for (int i = 0; i < PLAN_NCOLS; i++) {
        free(r->col[i]);
        r->col[i] = NULL;
    }
}

static int
plan_col_lookup(const char *name)
{
    if (!name) {
        return -1;
    }
    for (int i = 0; i < PLAN_NCOLS; i++) {
        if (strcasecmp(name, plan_col_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

bool
plan_add_row(struct plan *p, const char *const *names, const char *const *vals, size_t n)
{
    struct plan_row row;
    memset(&row, 0, sizeof(row));
    for (size_t i = 0; i < n; i++) {
        int c = plan_col_lookup(names[i]);
        if (c < 0 || row.col[c]) {
            continue; /* unknown column (partitions, filtered, ...) or a repeat */
        }
        row.col[c] = strdup(vals[i] ? vals[i] : "NULL");
        if (!row.col[c]) {
            goto fail;
        }
    }
    for (int c = 0; c < PLAN_NCOLS; c++) {
        if (!row.col[c]) {
            row.col[c] = strdup("NULL");
            if (!row.col[c]) {
                goto fail;
            }
        }
    }
    struct plan_row *rows = realloc(p->rows, (p->nrows + 1) * sizeof(*rows));
    if (!rows) {
        goto fail;
    }
    p->rows = rows;
    p->rows[p->nrows++] = row;
    return true;
fail:
    plan_row_clear(&row);
    return false;
}

void
plan_analyze(struct plan *p)
{
    unsigned flags = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        const struct plan_row *r = &p->rows[i];
        if (strcasecmp(r->col[PLAN_TYPE], "ALL") == 0) {
            /* A later table of the same SELECT id (a join) or the first one read. */
            bool earlier_same_id = false;
            for (size_t j = 0; j < i; j++) {
                if (strcmp(p->rows[j].col[PLAN_ID], r->col[PLAN_ID]) == 0) {
                    earlier_same_id = true;
                    break;
                }
            }
            flags |= earlier_same_id ? PLAN_FULL_JOIN : PLAN_FULL_SCAN;
        }
        if (strstr(r->col[PLAN_EXTRA], "Using temporary")) {
            flags |= PLAN_TMP_TABLE;
        }
        if (strstr(r->col[PLAN_EXTRA], "Using filesort")) {
            flags |= PLAN_FILESORT;
        }
    }
    p->flags = flags;
}

struct plan *
plan_dup(const struct plan *p)
{
    struct plan *d = plan_new();
    if (!d) {
        return NULL;
    }
    d->flags = p->flags;
    if (p->nrows == 0) {
        return d;
    }
    d->rows = calloc(p->nrows, sizeof(*d->rows));
    if (!d->rows) {
        free(d);
        return NULL;
    }
    d->nrows = p->nrows;
    for (size_t i = 0; i < p->nrows; i++) {
        for (int c = 0; c < PLAN_NCOLS; c++) {
            d->rows[i].col[c] = strdup(p->rows[i].col[c] ? p->rows[i].col[c] : "NULL");
            if (!d->rows[i].col[c]) {
                plan_free(d);
                return NULL;
            }
        }
    }
    return d;
}

void
plan_free(struct plan *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) > 1) {
        return;
    }
    for (size_t i = 0; i < p->nrows; i++) {
        plan_row_clear(&p->rows[i]);
    }
    free(p->rows);
    free(p);
}

size_t
plan_flags_format(unsigned flags, char *out, size_t cap)
{
    int n =
        snprintf(out, cap, "Full_scan: %s  Full_join: %s  Tmp_table: %s  Filesort: %s",
                 (flags & PLAN_FULL_SCAN) ? "Yes" : "No", (flags & PLAN_FULL_JOIN) ? "Yes" : "No",
                 (flags & PLAN_TMP_TABLE) ? "Yes" : "No", (flags & PLAN_FILESORT) ? "Yes" : "No");
    if (n < 0) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    if ((size_t)n >= cap) {
        return cap > 0 ? cap - 1 : 0;
    }
    return (size_t)n;
}

void
plan_write_json(struct jsonw *w, const struct plan *p)
{
    jsonw_key(w, "plan");
    if (!p) {
        jsonw_null(w);
        return;
    }
    jsonw_array_begin(w);
    for (size_t i = 0; i < p->nrows; i++) {
        jsonw_object_begin(w);
        for (int c = 0; c < PLAN_NCOLS; c++) {
            const char *v = p->rows[i].col[c];
            jsonw_kstr(w, plan_col_names[c], v ? v : "NULL");
        }
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}
