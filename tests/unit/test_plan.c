/*
 * test_plan.c - unit tests of explain/plan.c: rows from the MariaDB EXPLAIN, MySQL EXPLAIN
 * (partitions, filtered) and SHOW EXPLAIN layouts, the flags, the flags line, dup and free.
 */
#include "check.h"

#include "explain/plan.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const mariadb_names[] = {
    "id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra",
};

static const char *const mysql_names[] = {
    "id",  "select_type", "table", "partitions", "type",     "possible_keys",
    "key", "key_len",     "ref",   "rows",       "filtered", "Extra",
};

static void
test_mariadb_layout(void)
{
    struct plan *p = plan_new();
    CHECK(p != NULL);
    const char *v[] = {"1",  "SIMPLE", "students", "ALL",  NULL,
                       NULL, NULL,     NULL,       "1000", "Using where"};
    CHECK(plan_add_row(p, mariadb_names, v, N(v)));
    CHECK_EQ_U(p->nrows, 1);
    CHECK_STR(p->rows[0].col[PLAN_ID], "1");
    CHECK_STR(p->rows[0].col[PLAN_TABLE], "students");
    CHECK_STR(p->rows[0].col[PLAN_TYPE], "ALL");
    CHECK_STR(p->rows[0].col[PLAN_POSSIBLE_KEYS], "NULL");
    CHECK_STR(p->rows[0].col[PLAN_ROWS], "1000");
    CHECK_STR(p->rows[0].col[PLAN_EXTRA], "Using where");
    plan_analyze(p);
    CHECK_EQ_U(p->flags, PLAN_FULL_SCAN);
    char buf[128];
    size_t n = plan_flags_format(p->flags, buf, sizeof(buf));
    CHECK_STR(buf, "Full_scan: Yes  Full_join: No  Tmp_table: No  Filesort: No");
    CHECK_EQ_U(n, strlen(buf));
    plan_free(p);
}

static void
test_mysql_layout(void)
{
    struct plan *p = plan_new();
    const char *v1[] = {"1",  "SIMPLE", "c",  NULL, "ALL",    NULL,
                        NULL, NULL,     NULL, "10", "100.00", "Using temporary; Using filesort"};
    const char *v2[] = {"1", "SIMPLE",       "s", "p1,p2", "eq_ref", "PRIMARY", "PRIMARY",
                        "4", "school.c.sid", "1", "50.00", NULL};
    CHECK(plan_add_row(p, mysql_names, v1, N(v1)));
    CHECK(plan_add_row(p, mysql_names, v2, N(v2)));
    CHECK_EQ_U(p->nrows, 2);
    /* partitions and filtered are dropped, the rest lands in its column */
    CHECK_STR(p->rows[0].col[PLAN_TYPE], "ALL");
    CHECK_STR(p->rows[0].col[PLAN_ROWS], "10");
    CHECK_STR(p->rows[0].col[PLAN_EXTRA], "Using temporary; Using filesort");
    CHECK_STR(p->rows[1].col[PLAN_TYPE], "eq_ref");
    CHECK_STR(p->rows[1].col[PLAN_KEY], "PRIMARY");
    CHECK_STR(p->rows[1].col[PLAN_REF], "school.c.sid");
    CHECK_STR(p->rows[1].col[PLAN_ROWS], "1");
    CHECK_STR(p->rows[1].col[PLAN_EXTRA], "NULL");
    plan_analyze(p);
    CHECK_EQ_U(p->flags, PLAN_FULL_SCAN | PLAN_TMP_TABLE | PLAN_FILESORT);
    char buf[128];
    plan_flags_format(p->flags, buf, sizeof(buf));
    CHECK_STR(buf, "Full_scan: Yes  Full_join: No  Tmp_table: Yes  Filesort: Yes");
    plan_free(p);
}

/* SHOW EXPLAIN: the same columns, but names in another case and order, one missing. */
static void
test_show_explain_layout(void)
{
    static const char *const names[] = {"ID",  "SELECT_TYPE", "TABLE", "TYPE", "POSSIBLE_KEYS",
                                        "KEY", "KEY_LEN",     "REF",   "ROWS", "EXTRA"};
    const char *v[] = {"1",        "SIMPLE", "students", "range", "idx_name",
                       "idx_name", "82",     NULL,       "3",     "Using index condition"};
    struct plan *p = plan_new();
    CHECK(plan_add_row(p, names, v, N(v)));
    CHECK_STR(p->rows[0].col[PLAN_TYPE], "range");
    CHECK_STR(p->rows[0].col[PLAN_KEY_LEN], "82");
    CHECK_STR(p->rows[0].col[PLAN_REF], "NULL");
    CHECK_STR(p->rows[0].col[PLAN_EXTRA], "Using index condition");

    /* reordered and incomplete: missing columns become "NULL" */
    static const char *const names2[] = {"Extra", "table", "id", "type"};
    const char *v2[] = {"Using where; Using join buffer (flat, BNL join)", "classes", "1", "ALL"};
    CHECK(plan_add_row(p, names2, v2, N(v2)));
    CHECK_STR(p->rows[1].col[PLAN_TABLE], "classes");
    CHECK_STR(p->rows[1].col[PLAN_SELECT_TYPE], "NULL");
    CHECK_STR(p->rows[1].col[PLAN_KEY], "NULL");
    plan_analyze(p);
    /* first table uses an index; the second table of id 1 is a full join */
    CHECK_EQ_U(p->flags, PLAN_FULL_JOIN);
    char buf[128];
    plan_flags_format(p->flags, buf, sizeof(buf));
    CHECK_STR(buf, "Full_scan: No  Full_join: Yes  Tmp_table: No  Filesort: No");
    plan_free(p);
}

/* Full scan vs full join per SELECT id: a subquery's first table is a full scan of its own. */
static void
test_flags_per_select_id(void)
{
    struct plan *p = plan_new();
    const char *r1[] = {"1", "PRIMARY", "s", "const", "PRIMARY", "PRIMARY", "4", "const", "1", ""};
    const char *r2[] = {"2", "SUBQUERY", "e", "ALL", NULL, NULL, NULL, NULL, "50", "Using where"};
    const char *r3[] = {
        "2",  "SUBQUERY", "c",  "ALL", NULL,
        NULL, NULL,       NULL, "5",   "Using where; Using join buffer (flat, BNL join)"};
    CHECK(plan_add_row(p, mariadb_names, r1, N(r1)));
    plan_analyze(p);
    CHECK_EQ_U(p->flags, 0);
    CHECK(plan_add_row(p, mariadb_names, r2, N(r2)));
    plan_analyze(p);
    CHECK_EQ_U(p->flags, PLAN_FULL_SCAN);
    CHECK(plan_add_row(p, mariadb_names, r3, N(r3)));
    plan_analyze(p);
    CHECK_EQ_U(p->flags, PLAN_FULL_SCAN | PLAN_FULL_JOIN);

    /* a primary-key lookup: nothing flagged */
    struct plan *q = plan_new();
    const char *pk[] = {"1",       "SIMPLE", "students", "const", "PRIMARY",
                        "PRIMARY", "4",      "const",    "1",     ""};
    CHECK(plan_add_row(q, mariadb_names, pk, N(pk)));
    plan_analyze(q);
    CHECK_EQ_U(q->flags, 0);
    char buf[128];
    plan_flags_format(q->flags, buf, sizeof(buf));
    CHECK_STR(buf, "Full_scan: No  Full_join: No  Tmp_table: No  Filesort: No");

    /* an empty plan has no flags */
    struct plan *e = plan_new();
    plan_analyze(e);
    CHECK_EQ_U(e->flags, 0);
    plan_free(e);
    plan_free(q);
    plan_free(p);
}

static void
test_dup_free_format(void)
{
    struct plan *p = plan_new();
    const char *v[] = {"1", "SIMPLE", "t", "ALL", NULL, NULL, NULL, NULL, "7", "Using filesort"};
    CHECK(plan_add_row(p, mariadb_names, v, N(v)));
    CHECK(plan_add_row(p, mariadb_names, v, N(v)));
    plan_analyze(p);
    struct plan *d = plan_dup(p);
    CHECK(d != NULL);
    CHECK_EQ_U(d->nrows, 2);
    CHECK_EQ_U(d->flags, p->flags);
    CHECK(d->rows[0].col[PLAN_TABLE] != p->rows[0].col[PLAN_TABLE]);
    CHECK_STR(d->rows[1].col[PLAN_EXTRA], "Using filesort");
    plan_free(p); /* the copy stays valid */
    CHECK_STR(d->rows[0].col[PLAN_ROWS], "7");
    plan_free(d);
    plan_free(NULL);

    struct plan *e = plan_new();
    struct plan *ed = plan_dup(e);
    CHECK(ed != NULL && ed->nrows == 0 && ed->rows == NULL);
    plan_free(e);
    plan_free(ed);

    /* truncation: cut, NUL-terminated, length reported is what was written */
    char small[10];
    size_t n = plan_flags_format(PLAN_FULL_SCAN | PLAN_FULL_JOIN | PLAN_TMP_TABLE | PLAN_FILESORT,
                                 small, sizeof(small));
    CHECK_EQ_U(n, 9);
    CHECK_STR(small, "Full_scan");
    char big[128];
    plan_flags_format(PLAN_FULL_SCAN | PLAN_FULL_JOIN | PLAN_TMP_TABLE | PLAN_FILESORT, big,
                      sizeof(big));
    CHECK_STR(big, "Full_scan: Yes  Full_join: Yes  Tmp_table: Yes  Filesort: Yes");

    CHECK_STR(plan_col_names[0], "id");
    CHECK_STR(plan_col_names[PLAN_EXTRA], "Extra");
    CHECK_STR(plan_col_names[PLAN_KEY_LEN], "key_len");
}

int
main(void)
{
    test_mariadb_layout();
    test_mysql_layout();
    test_show_explain_layout();
    test_flags_per_select_id();
    test_dup_free_format();
    return check_exit();
}
