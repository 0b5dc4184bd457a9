/*
 * pfs.h - what the server measured: the performance_schema queries of auto-EXPLAIN's side
 * connection (is events_statements_history collected? the history rows of one backend
 * connection) and the parsing of their rows into one struct pfs_stmt; and the rendering of
 * MariaDB's SHOW ANALYZE FORMAT=JSON as `# analyze:` lines.
 *
 * Pure: query text in, rows (column names and values as libmariadb returns them, NULL for SQL
 * NULL) in, structs and strings out; no I/O. The explain thread runs the queries (reads only).
 *
 * Matching a slow statement with its history row (the history keeps the last 10 statements
 * per thread, newest first by EVENT_ID):
 *   - the row's SQL_TEXT equals the record's statement, or for a prepared statement the text
 *     it was prepared with; a SQL_TEXT cut by performance_schema_max_sql_text_length (the
 *     server's text is shorter and may end in "...") matches a statement it begins;
 *   - among rows whose text matches, the one whose end (TIMER_END, picoseconds, against the
 *     side connection's own current TIMER_START in the same query: the server's "now") lies
 *     nearest to the end slowtap measured wins, and it must lie within PFS_MATCH_SLACK_US of
 *     it; when the server's "now" is unknown, the newest matching row is taken;
 *   - no match: the record keeps slowtap's own figures (nothing is guessed).
 */
#ifndef SLOWTAP_PFS_H
#define SLOWTAP_PFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFS_MATCH_SLACK_US 1000000 /* a row ending further from slowtap's end is another run */

/* One statement as performance_schema measured it. */
struct pfs_stmt {
    uint64_t event_id;
    uint64_t server_us; /* TIMER_WAIT: the server's execution time */
    uint64_t lock_us;   /* LOCK_TIME */
    uint64_t rows_examined;
    uint64_t rows_sent;
    uint64_t tmp_tables;      /* CREATED_TMP_TABLES */
    uint64_t tmp_disk_tables; /* CREATED_TMP_DISK_TABLES */
    uint64_t merge_passes;    /* SORT_MERGE_PASSES (> 0: a filesort spilled to disk) */
    uint64_t sort_rows;
    uint64_t select_scan;      /* SELECT_SCAN: full scans of the first table */
    uint64_t select_full_join; /* SELECT_FULL_JOIN: joins without an index */
    bool no_index_used;
};

/* The first query of a connection: one row, (@@performance_schema, the events_statements_
 * history consumer's ENABLED). */
extern const char pfs_detect_query[];

/* True when that row says the history is collected (performance_schema 1 and consumer YES). */
bool pfs_detect_row(const char *const *vals, unsigned n);

/* Writes the history query for backend connection `thread_id` into out (NUL-terminated);
 * returns its length, 0 when it does not fit. Its columns are named as pfs_add_row reads. */
size_t pfs_query(uint32_t thread_id, char *out, size_t cap);

/* What slowtap knows of the statement to find. */
struct pfs_target {
    const char *sql; /* as sent (parameters substituted for an execute) */
    size_t sql_len;
    const char *prepared_sql; /* NULL, or the prepared text (with ?) */
    int64_t age_us;           /* how long before the query was sent the statement ended, as
                               * slowtap measured it; negative when unknown */
};

/* The best row so far. Zero it before the first row. */
struct pfs_pick {
    bool found;
    uint64_t diff_us; /* distance of its end from the expected one (0 when unknown) */
    struct pfs_stmt st;
};

/* Considers one history row for target t (see the matching rule above). Unknown columns are
 * ignored; rows without SQL_TEXT, TIMER_END or ROWS_EXAMINED never match. */
void pfs_add_row(struct pfs_pick *p, const struct pfs_target *t, const char *const *names,
                 const char *const *vals, unsigned n);

/*
 * SHOW ANALYZE FORMAT=JSON's document as lines (each ending in '\n', without the "# analyze:"
 * prefix): first "r_query_time_in_progress_ms=N" when present, then one line per table in
 * document order, "<table_name> access_type=ALL rows=5 r_loops=1 r_rows=5 r_filtered=60
 * r_total_time_ms=0.12" with the members the server gave. Returns a heap string, NULL when
 * the document has no table or does not parse.
 */
char *pfs_analyze_lines(const char *json, size_t len);

#endif
