/*
 * plan.h - an EXPLAIN plan as rows of the traditional tabular format, and what it says about
 * the statement: full scan, full join, temporary table, filesort.
 *
 * Pure: builds from strings, no database access (the explain connection fills it).
 */
#ifndef SLOWTAP_PLAN_H
#define SLOWTAP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ten columns MariaDB's log_slow_verbosity=explain writes, in order. */
enum plan_col {
    PLAN_ID = 0,
    PLAN_SELECT_TYPE,
    PLAN_TABLE,
    PLAN_TYPE,
    PLAN_POSSIBLE_KEYS,
    PLAN_KEY,
    PLAN_KEY_LEN,
    PLAN_REF,
    PLAN_ROWS,
    PLAN_EXTRA,
    PLAN_NCOLS
};

struct plan_row {
    char *col[PLAN_NCOLS]; /* heap strings; "NULL" for SQL NULL */
};

#define PLAN_FULL_SCAN 0x01 /* type ALL on the first table read */
#define PLAN_FULL_JOIN 0x02 /* type ALL on a later table of a join */
#define PLAN_TMP_TABLE 0x04 /* Extra: Using temporary */
#define PLAN_FILESORT  0x08 /* Extra: Using filesort */

/* A plan is built once (plan_new, plan_add_row, plan_analyze) and then only read, so threads
 * share it by reference: plan_ref adds a reference, plan_free drops one. */
struct plan {
    struct plan_row *rows;
    size_t nrows;
    unsigned flags;        /* PLAN_* computed by plan_analyze */
    _Atomic unsigned refs; /* references; the last plan_free frees */
};

/* Allocates an empty plan; NULL when out of memory. */
struct plan *plan_new(void);
/*
 * Appends a row. `names[i]`/`vals[i]` for i < n are the result's column names and values
 * (values may be NULL for SQL NULL). Columns are matched by name, case-insensitively, so the
 * MySQL extras (partitions, filtered) and MariaDB's SHOW EXPLAIN layout both fit; missing
 * columns become "NULL". False when out of memory.
 */
bool plan_add_row(struct plan *p, const char *const *names, const char *const *vals, size_t n);
/* Computes p->flags from the rows (see PLAN_*). */
void plan_analyze(struct plan *p);
/* Another reference to a finished plan (NULL is fine); cheaper than plan_dup. */
struct plan *plan_ref(struct plan *p);
/* Deep copy; NULL when out of memory. */
struct plan *plan_dup(const struct plan *p);
/* Drops a reference; frees the plan with the last one. NULL is fine. */
void plan_free(struct plan *p);

/* Column header names in log order ("id", "select_type", ..., "Extra"). */
extern const char *const plan_col_names[PLAN_NCOLS];

struct jsonw;
/* The one JSON form of a plan, for the JSON log and the report: "plan": null without one,
 * else an array of objects keyed by plan_col_names, SQL NULL as the string "NULL". */
void plan_write_json(struct jsonw *w, const struct plan *p);

/*
 * Writes the flags line content "Full_scan: Yes  Full_join: No  Tmp_table: No  Filesort: No"
 * into out (NUL-terminated). Returns its length.
 */
size_t plan_flags_format(unsigned flags, char *out, size_t cap);

#endif
