/*
 * advice.h - index advice for the scans an EXPLAIN plan shows: from the statement's tokens,
 * the plan rows and the scanned tables' columns and indexes (as information_schema describes
 * them), a candidate index per scanned table, or the reason why no index helps.
 *
 * Pure: no I/O. The explain thread reads the metadata and calls advice_compute().
 */
#ifndef SLOWTAP_ADVICE_H
#define SLOWTAP_ADVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain/plan.h"

#define ADVICE_NAME_MAX   65   /* identifier length (64) + NUL */
#define ADVICE_MAX_TABLES 16   /* tables of one statement considered */
#define ADVICE_MIN_ROWS   1000 /* plan rows estimated below this get no advice */
#define ADVICE_INDEX_COLS 16

struct advice_tname {
    char db[ADVICE_NAME_MAX];
    char name[ADVICE_NAME_MAX];
};

struct advice_col {
    char name[ADVICE_NAME_MAX];
    char type[32];                   /* information_schema.COLUMNS.DATA_TYPE, lowercase */
    char collation[ADVICE_NAME_MAX]; /* COLLATION_NAME, "" when none (numbers, dates) */
};

struct advice_index {
    char name[ADVICE_NAME_MAX];
    size_t ncols;
    char cols[ADVICE_INDEX_COLS][ADVICE_NAME_MAX]; /* in SEQ_IN_INDEX order */
};

/* What information_schema says about one table. */
struct advice_table {
    struct advice_tname t;
    struct advice_col *cols;
    size_t ncols;
    struct advice_index *idx;
    size_t nidx;
};

/* A new, empty description of db.name; NULL when out of memory. */
struct advice_table *advice_table_new(const char *db, const char *name);
/* Appends a column (type and collation may be NULL). False when out of memory. */
bool advice_table_add_column(struct advice_table *t, const char *name, const char *type,
                             const char *collation);
/* Puts `column` at position seq (1-based SEQ_IN_INDEX) of index `index`, creating the index
 * on first sight. Positions beyond ADVICE_INDEX_COLS are ignored. False when out of memory. */
bool advice_table_add_index_column(struct advice_table *t, const char *index, unsigned seq,
                                   const char *column);
/* Frees t (NULL is fine). */
void advice_table_free(struct advice_table *t);

/* True when some row of the plan is a scan advice is given for: type ALL, or type index or
 * ALL with "Using filesort"/"Using temporary", on a table estimated at >= ADVICE_MIN_ROWS. */
bool advice_wanted(const struct plan *p);

/*
 * The base tables the statement names (FROM, JOIN, UPDATE, DELETE ... FROM), qualified with
 * default_db when unqualified ("" default: such tables are left out), without repeats, at most
 * cap. sqlmode is PROTO_SQLMODE_* (ANSI_QUOTES changes what "x" is). Returns the count.
 */
size_t advice_tables(const char *sql, size_t len, unsigned sqlmode, const char *default_db,
                     struct advice_tname *out, size_t cap);

/*
 * The advice for every scanned row of `p` (see advice_wanted): per table either
 *   ALTER TABLE `db`.`t` ADD INDEX `ix_t_c1_c2` (`c1`, `c2`)
 * or
 *   none (`t`: <reason>)
 * joined with "; " in plan order. meta[0..nmeta) describe the tables (advice_tables); a table
 * without a description gets "none (`t`: columns unknown)". Returns a heap string, or NULL when
 * no row wants advice (or out of memory).
 */
char *advice_compute(const char *sql, size_t len, unsigned sqlmode, const char *default_db,
                     const struct plan *p, const struct advice_table *const *meta, size_t nmeta);

/* The estimated rows of the largest scanned table of p (0 when none): what the report and the
 * dashboard weigh a full-scan flag by. */
uint64_t advice_scan_rows(const struct plan *p);

/*
 * Noise: how loudly a shape's scan flag (Full_scan / Full_join, or the server's "no index
 * used" where no plan says more) is shown. The one rule the dashboard (through /api/digests)
 * and `slowtap report` both follow:
 *   - a flag on a table estimated at ADVICE_MIN_ROWS rows or more, or whose size is unknown
 *     (no plan with rows): NOTABLE;
 *   - else, on a small table, NOTABLE still when the shape's statements took much time in all:
 *     ADVICE_NOTABLE_US, or ADVICE_NOTABLE_PCT percent of all statements' time (all_us, 0 when
 *     unknown) and at least ADVICE_NOTABLE_MIN_US;
 *   - else SMALL: a lookup table scanned cheaply, shown grey and never advised.
 * Shapes are ranked by total time anyway, so a NOTABLE flag on a cheap shape sits low.
 */
#define ADVICE_NOTABLE_US     1000000ULL /* 1 s of total time */
#define ADVICE_NOTABLE_PCT    5          /* of all statements' time ... */
#define ADVICE_NOTABLE_MIN_US 100000ULL  /* ... and 100 ms at least */

enum advice_weight {
    ADVICE_WEIGHT_NONE = 0, /* no scan flag */
    ADVICE_WEIGHT_SMALL,
    ADVICE_WEIGHT_NOTABLE,
};

enum advice_weight advice_scan_weight(bool flagged, bool rows_known, uint64_t scan_rows,
                                      uint64_t total_us, uint64_t all_us);

/* "none", "small", "notable". */
const char *advice_weight_name(enum advice_weight w);

#endif
