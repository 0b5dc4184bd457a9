/*
 * test_lockwait.c - tests of explain/lockwait.c: the queries name the right tables, and rows
 * as MariaDB 10.11 and MySQL 8 return them (recorded by hand from their documentation's
 * column lists and a real MariaDB wait) fold into the right struct lockwait.
 */
#include "check.h"
#include "explain/lockwait.h"

static const char *const names[] = {"state",      "run_us",     "wait_us",   "blocked_by",
                                    "lock_table", "lock_index", "lock_mode", "lock_type"};
#define NCOL 8

static void
test_queries(void)
{
    char q[4096];
    size_t n = lockwait_query(true, 1524, q, sizeof q);
    CHECK(n > 0 && n == strlen(q));
    CHECK(strstr(q, "information_schema.INNODB_LOCK_WAITS") != NULL);
    CHECK(strstr(q, "WHERE p.ID = 1524") != NULL);
    n = lockwait_query(false, 77, q, sizeof q);
    CHECK(n > 0);
    CHECK(strstr(q, "performance_schema.data_lock_waits") != NULL);
    CHECK(strstr(q, "performance_schema.metadata_locks") != NULL);
    CHECK(strstr(q, "t.PROCESSLIST_ID = 77") != NULL);
    CHECK_EQ_U(lockwait_query(true, 1, q, 10), 0); /* does not fit */
    /* reads only */
    lockwait_query(false, 77, q, sizeof q);
    CHECK(strncmp(q, "SELECT ", 7) == 0);
    lockwait_query(true, 77, q, sizeof q);
    CHECK(strncmp(q, "SELECT ", 7) == 0);
}

static void
test_mariadb_row_wait(void)
{
    /* a real wait on MariaDB 10.11: UPDATE behind another transaction's X lock */
    const char *row[NCOL] = {"Updating", "758889",  "758889", "1523",
                             "`lk`.`a`", "PRIMARY", "X",      "RECORD"};
    struct lockwait lw = {0};
    lockwait_add_row(&lw, names, row, NCOL);
    CHECK(lw.kind == LOCKWAIT_ROW);
    CHECK_EQ_U(lw.blocked_by, 1523);
    CHECK_EQ_U(lw.wait_us, 758889);
    CHECK_STR(lw.table, "`lk`.`a`");
    CHECK_STR(lw.index, "PRIMARY");
    CHECK_STR(lw.mode, "X");
    CHECK_STR(lw.state, "Updating");
    CHECK_STR(lockwait_kind_name(lw.kind), "row");
}

static void
test_mariadb_no_wait_and_mdl(void)
{
    const char *none[NCOL] = {"User sleep", "1305528", NULL, NULL, NULL, NULL, NULL, NULL};
    struct lockwait lw = {0};
    lockwait_add_row(&lw, names, none, NCOL);
    CHECK(lw.kind == LOCKWAIT_NONE);
    CHECK(lockwait_kind_name(lw.kind) == NULL);

    const char *mdl[NCOL] = {
        "Waiting for table metadata lock", "2100000.5", NULL, NULL, NULL, NULL, NULL, NULL};
    struct lockwait m = {0};
    lockwait_add_row(&m, names, mdl, NCOL);
    CHECK(m.kind == LOCKWAIT_METADATA);
    CHECK_EQ_U(m.blocked_by, 0);
    CHECK_EQ_U(m.wait_us, 2100000); /* the statement's run time bounds the wait */
    CHECK_STR(m.state, "Waiting for table metadata lock");
}

static void
test_mysql_rows(void)
{
    /* MySQL 8: data_lock_waits joined to data_locks and threads (first row of the union), and
     * a pending metadata lock whose granted owner is connection 12 (second part) */
    const char *row[NCOL] = {"updating", "3000000",       NULL,    "12", "`shop`.`accounts`",
                             "PRIMARY",  "X,REC_NOT_GAP", "RECORD"};
    struct lockwait lw = {0};
    lockwait_add_row(&lw, names, row, NCOL);
    CHECK(lw.kind == LOCKWAIT_ROW);
    CHECK_EQ_U(lw.blocked_by, 12);
    CHECK_EQ_U(lw.wait_us, 3000000);
    CHECK_STR(lw.mode, "X,REC_NOT_GAP");

    const char *idle[NCOL] = {
        "Waiting for table metadata lock", "2000000", NULL, NULL, NULL, NULL, NULL, NULL};
    const char *pend[NCOL] = {"Waiting for table metadata lock",
                              NULL,
                              NULL,
                              "12",
                              "`shop`.`accounts`",
                              NULL,
                              "EXCLUSIVE",
                              "METADATA"};
    struct lockwait m = {0};
    lockwait_add_row(&m, names, idle, NCOL);
    CHECK(m.kind == LOCKWAIT_METADATA);
    CHECK_EQ_U(m.blocked_by, 0);
    lockwait_add_row(&m, names, pend, NCOL); /* a row naming the blocker wins */
    CHECK(m.kind == LOCKWAIT_METADATA);
    CHECK_EQ_U(m.blocked_by, 12);
    CHECK_STR(m.table, "`shop`.`accounts`");
    CHECK_STR(m.mode, "EXCLUSIVE");
    /* a later row does not replace a wait whose blocker is known */
    lockwait_add_row(&m, names, row, NCOL);
    CHECK(m.kind == LOCKWAIT_METADATA);
}

static void
test_columns_in_any_order(void)
{
    const char *n2[] = {"LOCK_TYPE", "BLOCKED_BY", "extra"};
    const char *v2[] = {"TABLE", "9", "x"};
    struct lockwait lw = {0};
    lockwait_add_row(&lw, n2, v2, 3);
    CHECK(lw.kind == LOCKWAIT_TABLE);
    CHECK_EQ_U(lw.blocked_by, 9);
    CHECK_EQ_U(lw.wait_us, 0);
}

/* ---- metadata-lock blockers on MariaDB (rows recorded from MariaDB 10.11: an ALTER TABLE
 * behind a transaction that read the table, performance_schema off) ---- */

static const char *const mnames[] = {"src",  "id",         "command", "state",       "db",
                                     "info", "trx_age_us", "run_us",  "lock_schema", "lock_name"};
#define MCOL 10

static void
test_mdl_query(void)
{
    char q[8192];
    size_t n = lockwait_mdl_query(false, 42, q, sizeof q);
    CHECK(n > 0 && n == strlen(q));
    CHECK(strncmp(q, "SELECT ", 7) == 0);
    CHECK(strstr(q, "information_schema.INNODB_TRX") != NULL);
    CHECK(strstr(q, "WHERE p.ID = 42") != NULL);
    CHECK(strstr(q, "performance_schema") == NULL); /* off: not even named */
    n = lockwait_mdl_query(true, 42, q, sizeof q);
    CHECK(n > 0 && n == strlen(q));
    CHECK(strstr(q, "performance_schema.metadata_locks") != NULL);
    CHECK(strstr(q, "t.PROCESSLIST_ID = 42") != NULL);
    CHECK(strstr(q, "'GRANTED'") != NULL && strstr(q, "'PENDING'") != NULL);
    CHECK_EQ_U(lockwait_mdl_query(true, 42, q, 600), 0);
    /* only for a metadata wait without a blocker */
    struct lockwait lw = {.kind = LOCKWAIT_METADATA};
    CHECK(lockwait_mdl_wanted(&lw));
    lw.blocked_by = 3;
    CHECK(!lockwait_mdl_wanted(&lw));
    struct lockwait rw = {.kind = LOCKWAIT_ROW};
    CHECK(!lockwait_mdl_wanted(&rw));
}

static void
mdl_fold(struct lockwait_mdl *m, const char *const (*rows)[MCOL], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        lockwait_mdl_add_row(m, mnames, rows[i], MCOL);
    }
}

static void
test_mdl_inferred_one(void)
{
    /* the waiter (42), the transaction that read the table (41), an idle pooled connection
     * (50) the proxy does not know, another ALTER queued behind (43) */
    const char *const rows[][MCOL] = {
        {"self", "42", "Query", "Waiting for table metadata lock", NULL,
         "ALTER TABLE i13t.m ADD COLUMN x INT", NULL, "510940.000", NULL, NULL},
        {"trx", "41", "Sleep", "", NULL, NULL, "1154026", NULL, NULL, NULL},
        {"trx", "43", "Query", "Waiting for table metadata lock", "i13t", NULL, "3000000", NULL,
         NULL, NULL},
        {"idle", "50", "Sleep", "", "shop", NULL, NULL, NULL, NULL, NULL},
    };
    struct lockwait_mdl m = {0};
    mdl_fold(&m, rows, 4);
    CHECK_EQ_U(m.waiter, 42);
    CHECK(m.run_us == 510940);
    CHECK_STR(m.db, "i13t");
    CHECK_STR(m.table, "m");
    CHECK_EQ_U(m.n, 2); /* 41 and 50; the other waiter is none */
    struct lockwait lw = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&lw, &m); /* 50 is not known to be in a transaction */
    CHECK_EQ_U(lw.blocked_by, 41);
    CHECK(lw.inferred);
    CHECK_EQ_U(lw.ncands, 0);
    CHECK_STR(lw.table, "`i13t`.`m`");
}

static void
test_mdl_registry_prefers(void)
{
    /* two open transactions older than the wait; the proxy saw 61 touch the table */
    const char *const rows[][MCOL] = {
        {"self", "70", "Query", "Waiting for table metadata lock", "shop",
         "alter table `accounts` add index (bal)", NULL, "2000000", NULL, NULL},
        {"trx", "60", "Sleep", "", NULL, NULL, "9000000", NULL, NULL, NULL},
        {"trx", "61", "Sleep", "", NULL, NULL, "5000000", NULL, NULL, NULL},
        {"trx", "62", "Sleep", "", NULL, NULL, "1000000", NULL, NULL, NULL}, /* after the wait */
    };
    struct lockwait_mdl m = {0};
    mdl_fold(&m, rows, 4);
    CHECK_STR(m.db, "shop");
    CHECK_STR(m.table, "accounts");
    struct lockwait amb = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&amb, &m); /* nothing known: ambiguous, oldest first, 62 left out */
    CHECK_EQ_U(amb.blocked_by, 0);
    CHECK(amb.inferred);
    CHECK_EQ_U(amb.ncands, 2);
    CHECK_EQ_U(amb.cands[0], 60);
    CHECK_EQ_U(amb.cands[1], 61);

    m.c[0].touch = LOCKWAIT_TOUCH_NO;
    m.c[1].touch = LOCKWAIT_TOUCH_YES;
    struct lockwait lw = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&lw, &m);
    CHECK_EQ_U(lw.blocked_by, 61);
    CHECK(lw.inferred);

    /* 60 known to have left the table alone, 61 not a session of the proxy: 61 */
    m.c[1].touch = LOCKWAIT_TOUCH_UNKNOWN;
    struct lockwait l2 = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&l2, &m);
    CHECK_EQ_U(l2.blocked_by, 61);
}

static void
test_mdl_idle_known_trx(void)
{
    /* a MyISAM-only transaction is not in INNODB_TRX: an idle session counts when the proxy
     * knows it is in a transaction */
    const char *const rows[][MCOL] = {
        {"self", "80", "Query", "Waiting for table metadata lock", "d", "TRUNCATE t1", NULL,
         "1500000", NULL, NULL},
        {"idle", "81", "Sleep", "", "d", NULL, NULL, NULL, NULL, NULL},
        {"idle", "82", "Sleep", "", "d", NULL, NULL, NULL, NULL, NULL},
    };
    struct lockwait_mdl m = {0};
    mdl_fold(&m, rows, 3);
    CHECK_STR(m.table, "t1");
    struct lockwait none = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&none, &m);
    CHECK_EQ_U(none.blocked_by, 0);
    CHECK_EQ_U(none.ncands, 0);
    CHECK(!none.inferred);
    m.c[0].touch = LOCKWAIT_TOUCH_NO_TRX;
    m.c[1].touch = LOCKWAIT_TOUCH_MAYBE;
    struct lockwait lw = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&lw, &m);
    CHECK_EQ_U(lw.blocked_by, 82);
    CHECK(lw.inferred);
}

static void
test_mdl_pfs_owner(void)
{
    /* performance_schema (MariaDB >= 10.5 with the MDL instrument): the GRANTED owner wins
     * over inference, and names the table */
    const char *const rows[][MCOL] = {
        {"self", "90", "Query", "Waiting for table metadata lock", "x", "DROP TABLE IF EXISTS a",
         NULL, "900000", NULL, NULL},
        {"trx", "91", "Sleep", "", NULL, NULL, "8000000", NULL, NULL, NULL},
        {"trx", "92", "Sleep", "", NULL, NULL, "8000000", NULL, NULL, NULL},
        {"pfs", "92", NULL, NULL, NULL, NULL, NULL, NULL, "shop", "a"},
    };
    struct lockwait_mdl m = {0};
    mdl_fold(&m, rows, 4);
    CHECK_STR(m.db, "shop");
    CHECK_STR(m.table, "a");
    m.c[0].touch = LOCKWAIT_TOUCH_YES;
    struct lockwait lw = {.kind = LOCKWAIT_METADATA};
    lockwait_mdl_choose(&lw, &m);
    CHECK_EQ_U(lw.blocked_by, 92);
    CHECK(!lw.inferred);
    CHECK_STR(lw.table, "`shop`.`a`");
}

static void
test_stmt_tables(void)
{
    static const struct {
        const char *sql, *db, *table;
    } cases[] = {
        {"ALTER TABLE lkw.m ADD COLUMN x INT", "lkw", "m"},
        {"alter online ignore table `s`.`t t` engine=InnoDB", "s", "t t"},
        {"DROP TABLE IF EXISTS t2", "cur", "t2"},
        {"truncate table z", "cur", "z"},
        {"CREATE INDEX ix ON `orders` (a)", "cur", "orders"},
        {"RENAME TABLE a TO b", "cur", "a"},
        {"LOCK TABLES q.w WRITE", "q", "w"},
        {"UPDATE LOW_PRIORITY acc SET bal = 1", "cur", "acc"},
        {"/* c */ SELECT * FROM x.y JOIN z", "x", "y"},
        {"SELECT 1", "", ""},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *row[MCOL] = {"self", "5",          "Query", "Waiting for table metadata lock",
                                 "cur",  cases[i].sql, NULL,    "1",
                                 NULL,   NULL};
        struct lockwait_mdl m = {0};
        lockwait_mdl_add_row(&m, mnames, row, MCOL);
        CHECK_STR(m.table, cases[i].table);
        CHECK_STR(m.db, cases[i].table[0] ? cases[i].db : "");
    }
}

static void
test_text_names(void)
{
    const char *s = "SELECT * FROM lkw.m WHERE id = 1";
    CHECK(lockwait_text_names(s, strlen(s), "lkw", "m"));
    CHECK(!lockwait_text_names(s, strlen(s), "other", "m")); /* another schema's m */
    CHECK(!lockwait_text_names(s, strlen(s), "lkw", "lkw")); /* a qualifier only */
    s = "update `Accounts` set bal = bal - 1";
    CHECK(lockwait_text_names(s, strlen(s), "shop", "accounts"));
    s = "SELECT 'accounts' FROM t";
    CHECK(!lockwait_text_names(s, strlen(s), "shop", "accounts")); /* a string is no name */
    CHECK(!lockwait_text_names(s, strlen(s), "shop", ""));
}

int
main(void)
{
    test_queries();
    test_mariadb_row_wait();
    test_mariadb_no_wait_and_mdl();
    test_mysql_rows();
    test_columns_in_any_order();
    test_mdl_query();
    test_mdl_inferred_one();
    test_mdl_registry_prefers();
    test_mdl_idle_known_trx();
    test_mdl_pfs_owner();
    test_stmt_tables();
    test_text_names();
    return check_exit();
}
