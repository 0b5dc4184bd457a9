/*
 * test_pfs.c - tests of explain/pfs.c: the performance_schema queries, the matching of a slow
 * statement with its events_statements_history row (rows recorded from MariaDB 10.11 and one
 * written from MySQL 8's documented column list), and SHOW ANALYZE FORMAT=JSON as lines
 * (a document recorded from MariaDB 10.11).
 */
#include "check.h"
#include "explain/pfs.h"

#include <stdlib.h>

/* the columns of pfs_query(), in its order */
static const char *const qnames[] = {
    "EVENT_ID",          "TIMER_END", "TIMER_WAIT",         "LOCK_TIME",
    "ROWS_EXAMINED",     "ROWS_SENT", "CREATED_TMP_TABLES", "CREATED_TMP_DISK_TABLES",
    "SORT_MERGE_PASSES", "SORT_ROWS", "SELECT_SCAN",        "SELECT_FULL_JOIN",
    "NO_INDEX_USED",     "SQL_TEXT",  "NOW_TIMER"};
#define QN 15

static const char gsql[] = "SELECT v, COUNT(*) FROM a GROUP BY v ORDER BY 2 DESC";

static void
test_queries(void)
{
    char q[4096];
    size_t n = pfs_query(42, q, sizeof q);
    CHECK(n > 0 && n == strlen(q));
    CHECK(strncmp(q, "SELECT ", 7) == 0); /* reads only */
    CHECK(strstr(q, "FROM performance_schema.events_statements_history h") != NULL);
    CHECK(strstr(q, "t.PROCESSLIST_ID = 42 ") != NULL);
    CHECK(strstr(q, "CONNECTION_ID()") != NULL);
    CHECK(strstr(q, "ORDER BY h.EVENT_ID DESC") != NULL);
    CHECK_EQ_U(pfs_query(42, q, 100), 0);
    CHECK(strstr(pfs_detect_query, "@@performance_schema") != NULL);
    CHECK(strstr(pfs_detect_query, "'events_statements_history'") != NULL);

    const char *on[] = {"1", "YES"}, *off[] = {"0", NULL}, *nocons[] = {"1", "NO"};
    CHECK(pfs_detect_row(on, 2));
    CHECK(!pfs_detect_row(off, 2));
    CHECK(!pfs_detect_row(nocons, 2));
    CHECK(!pfs_detect_row(on, 1));
}

/* Three rows of one connection as MariaDB 10.11 returned them to pfs_query() (newest first). */
static void
test_mariadb_rows(void)
{
    const char *r3[QN] = {
        "3", "2969101892000",          "1587535000",   "0", "0", "1", "0", "0", "0", "0", "0", "0",
        "0", "SELECT CONNECTION_ID()", "2987493681000"};
    const char *r2[QN] = {"2",
                          "2963037485000",
                          "3614107000",
                          "153000000",
                          "10014",
                          "7",
                          "1",
                          "0",
                          "0",
                          "7",
                          "1",
                          "0",
                          "1",
                          gsql,
                          "2987493681000"};
    const char *r1[QN] = {
        "1", "2958933604000",      "356189000",    "0", "0", "0", "0", "0", "0", "0", "0", "0",
        "0", "SET AUTOCOMMIT = 0", "2987493681000"};
    /* ended 24.456 ms before the server's now; slowtap measured 20 ms */
    struct pfs_target t = {gsql, strlen(gsql), NULL, 20000};
    struct pfs_pick p = {0};
    pfs_add_row(&p, &t, qnames, r3, QN);
    CHECK(!p.found);
    pfs_add_row(&p, &t, qnames, r2, QN);
    pfs_add_row(&p, &t, qnames, r1, QN);
    CHECK(p.found);
    CHECK_EQ_U(p.st.event_id, 2);
    CHECK_EQ_U(p.st.rows_examined, 10014);
    CHECK_EQ_U(p.st.rows_sent, 7);
    CHECK_EQ_U(p.st.lock_us, 153);
    CHECK_EQ_U(p.st.server_us, 3614);
    CHECK_EQ_U(p.st.tmp_tables, 1);
    CHECK_EQ_U(p.st.tmp_disk_tables, 0);
    CHECK_EQ_U(p.st.merge_passes, 0);
    CHECK_EQ_U(p.st.select_scan, 1);
    CHECK(p.st.no_index_used);
    CHECK_EQ_U(p.diff_us, 4456);

    /* slowtap says it ended 3 s ago: that row is another run, no match */
    struct pfs_target far = {gsql, strlen(gsql), NULL, 3000000};
    struct pfs_pick q = {0};
    pfs_add_row(&q, &far, qnames, r2, QN);
    CHECK(!q.found);

    /* the same text twice: the run whose end is nearer to slowtap's wins */
    const char *older[QN] = {
        "1",  "2493812681000", "1000000000", "0", "500", "1", "0", "0", "0", "0", "1", "0", "1",
        gsql, "2987493681000"};
    struct pfs_target near_old = {gsql, strlen(gsql), NULL, 490000};
    struct pfs_pick w = {0};
    pfs_add_row(&w, &near_old, qnames, r2, QN);
    pfs_add_row(&w, &near_old, qnames, older, QN);
    CHECK(w.found);
    CHECK_EQ_U(w.st.event_id, 1);
    CHECK_EQ_U(w.st.rows_examined, 500);
    struct pfs_target near_new = {gsql, strlen(gsql), NULL, 25000};
    struct pfs_pick w2 = {0};
    pfs_add_row(&w2, &near_new, qnames, older, QN);
    pfs_add_row(&w2, &near_new, qnames, r2, QN);
    CHECK_EQ_U(w2.st.event_id, 2);
}

/* A MySQL 8.0 row of SELECT * FROM performance_schema.events_statements_history, the columns
 * in the order the MySQL 8.0 reference manual lists them for events_statements_current
 * (8.0.31 and later: up to EXECUTION_ENGINE); no NOW_TIMER. */
static void
test_mysql8_row(void)
{
    static const char *const names[] = {"THREAD_ID",
                                        "EVENT_ID",
                                        "END_EVENT_ID",
                                        "EVENT_NAME",
                                        "SOURCE",
                                        "TIMER_START",
                                        "TIMER_END",
                                        "TIMER_WAIT",
                                        "LOCK_TIME",
                                        "SQL_TEXT",
                                        "DIGEST",
                                        "DIGEST_TEXT",
                                        "CURRENT_SCHEMA",
                                        "OBJECT_TYPE",
                                        "OBJECT_SCHEMA",
                                        "OBJECT_NAME",
                                        "OBJECT_INSTANCE_BEGIN",
                                        "MYSQL_ERRNO",
                                        "RETURNED_SQLSTATE",
                                        "MESSAGE_TEXT",
                                        "ERRORS",
                                        "WARNINGS",
                                        "ROWS_AFFECTED",
                                        "ROWS_SENT",
                                        "ROWS_EXAMINED",
                                        "CREATED_TMP_DISK_TABLES",
                                        "CREATED_TMP_TABLES",
                                        "SELECT_FULL_JOIN",
                                        "SELECT_FULL_RANGE_JOIN",
                                        "SELECT_RANGE",
                                        "SELECT_RANGE_CHECK",
                                        "SELECT_SCAN",
                                        "SORT_MERGE_PASSES",
                                        "SORT_RANGE",
                                        "SORT_ROWS",
                                        "SORT_SCAN",
                                        "NO_INDEX_USED",
                                        "NO_GOOD_INDEX_USED",
                                        "NESTING_EVENT_ID",
                                        "NESTING_EVENT_TYPE",
                                        "NESTING_EVENT_LEVEL",
                                        "STATEMENT_ID",
                                        "CPU_TIME",
                                        "MAX_CONTROLLED_MEMORY",
                                        "MAX_TOTAL_MEMORY",
                                        "EXECUTION_ENGINE"};
    const char *sql = "SELECT * FROM shop.orders ORDER BY note";
    const char *row[] = {"48",
                         "31",
                         "31",
                         "statement/sql/select",
                         "init_net_server_extension.cc:97",
                         "2125004300000000",
                         "2125009012345000",
                         "4712345000",
                         "2000000",
                         sql,
                         "6a1d0f4c5e",
                         "SELECT * FROM `shop` . `orders` ORDER BY `note`",
                         "shop",
                         NULL,
                         NULL,
                         NULL,
                         NULL,
                         "0",
                         "00000",
                         NULL,
                         "0",
                         "0",
                         "0",
                         "20000",
                         "40000",
                         "1",
                         "1",
                         "0",
                         "0",
                         "0",
                         "0",
                         "1",
                         "3",
                         "0",
                         "20000",
                         "1",
                         "1",
                         "0",
                         NULL,
                         NULL,
                         "0",
                         "118",
                         "4200000000",
                         "1049600",
                         "1245280",
                         "PRIMARY"};
    unsigned n = sizeof names / sizeof names[0];
    CHECK_EQ_U(n, sizeof row / sizeof row[0]);
    struct pfs_target t = {sql, strlen(sql), NULL, 1000};
    struct pfs_pick p = {0};
    pfs_add_row(&p, &t, names, row, n);
    CHECK(p.found);
    CHECK_EQ_U(p.st.event_id, 31);
    CHECK_EQ_U(p.st.rows_examined, 40000);
    CHECK_EQ_U(p.st.rows_sent, 20000);
    CHECK_EQ_U(p.st.lock_us, 2);
    CHECK_EQ_U(p.st.server_us, 4712);
    CHECK_EQ_U(p.st.tmp_tables, 1);
    CHECK_EQ_U(p.st.tmp_disk_tables, 1);
    CHECK_EQ_U(p.st.merge_passes, 3);
    CHECK_EQ_U(p.st.sort_rows, 20000);
    CHECK(p.st.no_index_used);
    /* without the server's now, the newest matching row wins */
    const char *newer[sizeof row / sizeof row[0]];
    memcpy(newer, row, sizeof row);
    newer[1] = "33";
    newer[24] = "7";
    pfs_add_row(&p, &t, names, newer, n);
    CHECK_EQ_U(p.st.event_id, 33);
    CHECK_EQ_U(p.st.rows_examined, 7);
    pfs_add_row(&p, &t, names, row, n);
    CHECK_EQ_U(p.st.event_id, 33);
}

static void
test_text_rule(void)
{
    const char *names[] = {"EVENT_ID", "TIMER_END", "ROWS_EXAMINED", "SQL_TEXT"};
    /* a prefix is not the statement */
    const char *r[] = {"5", "100", "9", "SELECT 1"};
    struct pfs_target t = {"SELECT 10", 9, NULL, -1};
    struct pfs_pick p = {0};
    pfs_add_row(&p, &t, names, r, 4);
    CHECK(!p.found);
    /* the prepared text of an execute */
    const char *rp[] = {"6", "100", "12", "SELECT * FROM t WHERE id = ?"};
    struct pfs_target tp = {"SELECT * FROM t WHERE id = 4", 28, "SELECT * FROM t WHERE id = ?", -1};
    pfs_add_row(&p, &tp, names, rp, 4);
    CHECK(p.found);
    CHECK_EQ_U(p.st.rows_examined, 12);
    /* a text cut by performance_schema_max_sql_text_length */
    char *big = malloc(3000), *cut = malloc(1100);
    memset(big, 'x', 3000);
    memcpy(big, "SELECT '", 8);
    memcpy(cut, big, 1021);
    memcpy(cut + 1021, "...", 4);
    const char *rc[] = {"7", "100", "3", cut};
    struct pfs_target tc = {big, 3000, NULL, -1};
    struct pfs_pick pc = {0};
    pfs_add_row(&pc, &tc, names, rc, 4);
    CHECK(pc.found);
    /* no ROWS_EXAMINED or no TIMER_END (still running): never a match */
    const char *rn[] = {"8", NULL, "3", "SELECT 10"};
    struct pfs_pick pn = {0};
    pfs_add_row(&pn, &t, names, rn, 4);
    CHECK(!pn.found);
    free(big);
    free(cut);
}

/* recorded from MariaDB 10.11: SHOW ANALYZE FORMAT=JSON FOR a join with SLEEP() running */
static const char analyze_doc[] =
    "{\n  \"r_query_time_in_progress_ms\": 605,\n  \"query_optimization\": {\n"
    "    \"r_total_time_ms\": 0.176057882\n  },\n  \"query_block\": {\n    \"select_id\": 1,\n"
    "    \"r_loops\": 1,\n    \"nested_loop\": [\n      {\n        \"table\": {\n"
    "          \"table_name\": \"b\",\n          \"access_type\": \"ALL\",\n"
    "          \"possible_keys\": [\"PRIMARY\"],\n          \"r_loops\": 1,\n"
    "          \"rows\": 5,\n          \"r_rows\": 5,\n          \"filtered\": 100,\n"
    "          \"r_filtered\": 60,\n          \"attached_condition\": \"b.w < 4\"\n        }\n"
    "      },\n      {\n        \"block-nl-join\": {\n          \"table\": {\n"
    "            \"table_name\": \"a\",\n            \"access_type\": \"ALL\",\n"
    "            \"r_loops\": 1,\n            \"rows\": 10000,\n            \"r_rows\": 2,\n"
    "            \"filtered\": 100,\n            \"r_filtered\": 100\n          },\n"
    "          \"buffer_type\": \"flat\",\n          \"buffer_size\": \"119\",\n"
    "          \"join_type\": \"BNL\",\n"
    "          \"attached_condition\": \"a.v = b.`id` and sleep(0.3) = 0\",\n"
    "          \"r_loops\": 3,\n          \"r_filtered\": 20,\n"
    "          \"r_unpack_time_ms\": 0,\n          \"r_other_time_ms\": 0,\n"
    "          \"r_effective_rows\": 1.666666667\n        }\n      }\n    ]\n  }\n}";

static void
test_analyze(void)
{
    char *s = pfs_analyze_lines(analyze_doc, strlen(analyze_doc));
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s, "r_query_time_in_progress_ms=605\n"
                     "b access_type=ALL rows=5 r_loops=1 r_rows=5 r_filtered=60\n"
                     "a access_type=ALL rows=10000 r_loops=1 r_rows=2 r_filtered=100\n");
    }
    free(s);
    const char *timed = "{\"query_block\":{\"table\":{\"table_name\":\"my t\",\"r_rows\":1.5,"
                        "\"r_total_time_ms\":12.25}}}";
    s = pfs_analyze_lines(timed, strlen(timed));
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s, "my_t r_rows=1.5 r_total_time_ms=12.25\n");
    }
    free(s);
    CHECK(pfs_analyze_lines("{\"query_block\":{}}", 18) == NULL);
    CHECK(pfs_analyze_lines("not json", 8) == NULL);
}

int
main(void)
{
    test_queries();
    test_mariadb_rows();
    test_mysql8_row();
    test_text_rule();
    test_analyze();
    return check_exit();
}
