/*
 * test_advice.c - unit tests of explain/advice.c: a table of statements with their plans over
 * a school and a shop schema (columns and indexes as information_schema gives them), and the
 * advice or the reason expected for each; the table list; the noise threshold.
 */
#include "check.h"

#include <stdlib.h>

#include "explain/advice.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const names[PLAN_NCOLS] = {
    "id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra",
};

/* Rows separated by ';', columns by '|' (id|select_type|table|type|key|rows|Extra). */
static struct plan *
mkplan(const char *spec)
{
    struct plan *p = plan_new();
    char *s = strdup(spec), *save = NULL;
    for (char *row = strtok_r(s, ";", &save); row; row = strtok_r(NULL, ";", &save)) {
        char *f[7] = {0};
        int k = 0;
        for (char *q = row; k < 7; k++) {
            f[k] = q;
            char *bar = strchr(q, '|');
            if (!bar) {
                k++;
                break;
            }
            *bar = '\0';
            q = bar + 1;
        }
        const char *v[PLAN_NCOLS] = {f[0], f[1], f[2], f[3], NULL, f[4], NULL, NULL, f[5], f[6]};
        CHECK(plan_add_row(p, names, v, PLAN_NCOLS));
    }
    free(s);
    plan_analyze(p);
    return p;
}

static struct advice_table *meta[8];
static size_t nmeta;

static struct advice_table *
table(const char *name, const char *cols)
{
    struct advice_table *t = advice_table_new("perf", name);
    char *s = strdup(cols), *save = NULL;
    /* "name:type[:collation] ..." */
    for (char *c = strtok_r(s, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        char *type = strchr(c, ':');
        *type++ = '\0';
        char *coll = strchr(type, ':');
        if (coll) {
            *coll++ = '\0';
        }
        CHECK(advice_table_add_column(t, c, type, coll));
    }
    free(s);
    meta[nmeta++] = t;
    return t;
}

static void
setup(void)
{
    struct advice_table *t;
    t = table("students", "id:int student_id:int name:varchar:utf8mb4_general_ci "
                          "email:varchar:utf8mb4_general_ci year:int born:date "
                          "code:varchar:utf8mb4_general_ci");
    CHECK(advice_table_add_index_column(t, "PRIMARY", 1, "id"));
    CHECK(advice_table_add_index_column(t, "ix_code", 1, "code"));
    CHECK(advice_table_add_index_column(t, "ix_name_year", 1, "name"));
    CHECK(advice_table_add_index_column(t, "ix_name_year", 2, "year"));
    t = table("classes", "id:int code:varchar:utf8mb4_general_ci title:varchar:utf8mb4_general_ci "
                         "teacher:varchar:utf8mb4_general_ci");
    CHECK(advice_table_add_index_column(t, "PRIMARY", 1, "id"));
    t = table("enrollments", "id:int student_id:int class_id:int grade:int enrolled_at:datetime");
    CHECK(advice_table_add_index_column(t, "PRIMARY", 1, "id"));
    t = table("customers", "id:int email:varchar:utf8mb4_general_ci country:char:latin1_swedish_ci "
                           "name:varchar:utf8mb4_general_ci created_at:datetime");
    CHECK(advice_table_add_index_column(t, "PRIMARY", 1, "id"));
    CHECK(advice_table_add_index_column(t, "ix_created", 1, "created_at"));
    t = table("orders", "id:int customer_id:int status:varchar:utf8mb4_general_ci total:decimal "
                        "created_at:datetime ref_code:varchar:latin1_swedish_ci");
    CHECK(advice_table_add_index_column(t, "PRIMARY", 1, "id"));
    t = table("tiny", "id:int v:int");
}

struct tcase {
    const char *sql;
    const char *plan;
    const char *want; /* exact, or a prefix when it ends with '*' */
};

#define S1 "1|SIMPLE|"
static const struct tcase cases[] = {
    /* 1 equality */
    {"SELECT * FROM students WHERE email = 'a@x'", S1 "students|ALL|NULL|5000|Using where",
     "ALTER TABLE `perf`.`students` ADD INDEX `ix_students_email` (`email`)"},
    /* 2 the seed style: an int column compared with a string stays usable */
    {"SELECT students.name FROM students WHERE students.student_id = '42'",
     S1 "students|ALL|NULL|5000|Using where",
     "ALTER TABLE `perf`.`students` ADD INDEX `ix_students_student_id` (`student_id`)"},
    /* 3 IN and a range: equality first, then the range column */
    {"SELECT * FROM orders WHERE status IN ('new', 'paid') AND created_at >= '2024-01-01'",
     S1 "orders|ALL|NULL|20000|Using where",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_status_created_at` (`status`, "
     "`created_at`)"},
    /* 4 BETWEEN is one range (its AND does not split) */
    {"SELECT id FROM enrollments WHERE grade BETWEEN 2 AND 3 AND class_id = 7",
     S1 "enrollments|ALL|NULL|9000|Using where",
     "ALTER TABLE `perf`.`enrollments` ADD INDEX `ix_enrollments_class_id_grade` (`class_id`, "
     "`grade`)"},
    /* 5 prefix LIKE is a range */
    {"SELECT * FROM customers WHERE name LIKE 'Ada%'", S1 "customers|ALL|NULL|3000|Using where",
     "ALTER TABLE `perf`.`customers` ADD INDEX `ix_customers_name` (`name`)"},
    /* 6 leading % */
    {"SELECT * FROM customers WHERE name LIKE '%son'", S1 "customers|ALL|NULL|3000|Using where",
     "none (`customers`: the LIKE pattern on `name` starts with a wildcard)"},
    /* 7 ORDER BY ... LIMIT */
    {"SELECT * FROM orders ORDER BY created_at DESC LIMIT 10",
     S1 "orders|ALL|NULL|20000|Using filesort",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_created_at` (`created_at`)"},
    /* 8 equality then ORDER BY */
    {"SELECT * FROM orders WHERE customer_id = 5 ORDER BY created_at LIMIT 5",
     S1 "orders|ALL|NULL|20000|Using where; Using filesort",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_customer_id_created_at` (`customer_id`, "
     "`created_at`)"},
    /* 9 a range then ORDER BY on another column: the sort cannot follow */
    {"SELECT * FROM orders WHERE total > 100 ORDER BY created_at LIMIT 5",
     S1 "orders|ALL|NULL|20000|Using where; Using filesort",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_total` (`total`)"},
    /* 10 join with aliases: the later table gets the join column */
    {"SELECT s.name, e.grade FROM students s JOIN enrollments e ON e.student_id = s.id WHERE "
     "s.id = 10",
     S1 "s|const|PRIMARY|1|;" S1 "e|ALL|NULL|9000|Using where",
     "ALTER TABLE `perf`.`enrollments` ADD INDEX `ix_enrollments_student_id` (`student_id`)"},
    /* 11 the same join in the other order, aliases with AS */
    {"SELECT e.grade FROM enrollments AS e INNER JOIN students AS s ON s.id = e.student_id "
     "WHERE s.email = 'a@x'",
     S1 "s|ALL|PRIMARY|5000|Using where;" S1 "e|ALL|NULL|9000|Using where; Using join buffer",
     "ALTER TABLE `perf`.`students` ADD INDEX `ix_students_email` (`email`); ALTER TABLE "
     "`perf`.`enrollments` ADD INDEX `ix_enrollments_student_id` (`student_id`)"},
    /* 12 comma join with qualified names */
    {"SELECT * FROM perf.classes c, perf.enrollments e WHERE e.class_id = c.id AND c.code = 'M1'",
     S1 "c|ALL|PRIMARY|2000|Using where;" S1 "e|ALL|NULL|9000|Using where; Using join buffer",
     "ALTER TABLE `perf`.`classes` ADD INDEX `ix_classes_code` (`code`); ALTER TABLE "
     "`perf`.`enrollments` ADD INDEX `ix_enrollments_class_id` (`class_id`)"},
    /* 13 JOIN ... USING */
    {"SELECT * FROM students JOIN enrollments USING (student_id) WHERE students.year = 3",
     S1 "students|ALL|NULL|5000|Using where;" S1 "enrollments|ALL|NULL|9000|Using where",
     "ALTER TABLE `perf`.`students` ADD INDEX `ix_students_year` (`year`); ALTER TABLE "
     "`perf`.`enrollments` ADD INDEX `ix_enrollments_student_id` (`student_id`)"},
    /* 14 a subquery's own WHERE: students.id IN (...) is served by its primary key once the
     * subquery's table is read first (the advice is not repeated for the second row) */
    {"SELECT name FROM students WHERE id IN (SELECT student_id FROM enrollments WHERE class_id = "
     "3)",
     "1|PRIMARY|students|ALL|NULL|5000|Using where;2|DEPENDENT SUBQUERY|enrollments|ALL|NULL|9000|"
     "Using where",
     "ALTER TABLE `perf`.`enrollments` ADD INDEX `ix_enrollments_class_id` (`class_id`)"},
    /* 15 UPDATE ... WHERE */
    {"UPDATE orders SET status = 'done' WHERE ref_code = 'R-17'",
     S1 "orders|ALL|NULL|20000|Using where",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_ref_code` (`ref_code`)"},
    /* 16 DELETE ... WHERE with a range */
    {"DELETE FROM enrollments WHERE enrolled_at < '2020-01-01'",
     S1 "enrollments|ALL|NULL|9000|Using where",
     "ALTER TABLE `perf`.`enrollments` ADD INDEX `ix_enrollments_enrolled_at` (`enrolled_at`)"},
    /* 17 a function around the column, with the existing index named */
    {"SELECT * FROM students WHERE LOWER(code) = 'x1'", S1 "students|ALL|NULL|5000|Using where",
     "none (`students`: `code` is inside LOWER(), so no index on it can be used (index "
     "`ix_code` exists but cannot be used))"},
    /* 18 an expression */
    {"SELECT * FROM students WHERE year + 1 = 4", S1 "students|ALL|NULL|5000|Using where",
     "none (`students`: `year` is inside an expression, so no index on it can be used (index "
     "`ix_name_year` has it, but not as its first column))"},
    /* 19 a VARCHAR column compared with a number */
    {"SELECT * FROM students WHERE code = 42", S1 "students|ALL|ix_code|5000|Using where",
     "none (`students`: `code` is varchar and compared with a number: quote the value to use an "
     "index (index `ix_code` exists but cannot be used))"},
    /* 20 CAST */
    {"SELECT * FROM orders WHERE CAST(created_at AS DATE) = '2024-05-01'",
     S1 "orders|ALL|NULL|20000|Using where",
     "none (`orders`: `created_at` is inside CAST(), so no index on it can be used)"},
    /* 21 OR across columns */
    {"SELECT * FROM customers WHERE email = 'a@x' OR name = 'Ada'",
     S1 "customers|ALL|NULL|3000|Using where",
     "none (`customers`: OR across columns `email`, `name`)"},
    /* 22 OR on one column is an IN */
    {"SELECT * FROM customers WHERE (email = 'a@x' OR email = 'b@x') AND country = 'FR'",
     S1 "customers|ALL|NULL|3000|Using where",
     "ALTER TABLE `perf`.`customers` ADD INDEX `ix_customers_email_country` (`email`, "
     "`country`)"},
    /* 23 COLLATE on the column */
    {"SELECT * FROM customers WHERE email COLLATE utf8mb4_bin = 'A@x'",
     S1 "customers|ALL|NULL|3000|Using where",
     "none (`customers`: `email` is compared under COLLATE utf8mb4_bin, not its own "
     "collation)"},
    /* 24 join columns of different collations */
    {"SELECT * FROM customers c JOIN orders o ON o.ref_code = c.email WHERE c.id = 3",
     S1 "c|const|PRIMARY|1|;" S1 "o|ALL|NULL|20000|Using where",
     "none (`o`: `o`.`ref_code` (latin1_swedish_ci) and `c`.`email` (utf8mb4_general_ci) differ "
     "in collation)"},
    /* 25 no WHERE at all */
    {"SELECT COUNT(*), status FROM orders GROUP BY status",
     S1 "orders|ALL|NULL|20000|Using "
        "temporary; Using filesort",
     "none (`orders`: the statement reads every row (no WHERE condition on it); an index could "
     "only save the sort)"},
    /* 26 a tiny table: no advice at all */
    {"SELECT * FROM tiny WHERE v = 1", S1 "tiny|ALL|NULL|5|Using where", NULL},
    /* 27 the index exists (name, year): the server chose the scan */
    {"SELECT * FROM students WHERE name = 'Ada'", S1 "students|ALL|ix_name_year|5000|Using where",
     "none (`students`: index `ix_name_year` already starts with these columns*"},
    /* 28 IS NULL and a parameter, backticks and comments */
    {"/* app */ SELECT `o`.`id` FROM `orders` `o` WHERE `o`.`customer_id` = ? AND o.status IS "
     "NULL",
     S1 "o|ALL|NULL|20000|Using where",
     "ALTER TABLE `perf`.`orders` ADD INDEX `ix_orders_customer_id_status` (`customer_id`, "
     "`status`)"},
    /* 29 the first table of a join restricted by nothing but the join */
    {"SELECT * FROM enrollments e JOIN classes c ON c.id = e.class_id",
     S1 "e|ALL|NULL|9000|;" S1 "c|eq_ref|PRIMARY|1|",
     "none (`e`: it is read first and nothing but the join restricts it*"},
    /* 30 a number compared with an int column, reversed operands */
    {"SELECT * FROM enrollments WHERE 5 = grade AND 3 < class_id",
     S1 "enrollments|ALL|NULL|9000|Using where",
     "ALTER TABLE `perf`.`enrollments` ADD INDEX `ix_enrollments_grade_class_id` (`grade`, "
     "`class_id`)"},
    /* 31 a derived table's own WHERE; the derived row itself is not a table */
    {"SELECT * FROM (SELECT * FROM orders WHERE customer_id = 9) AS x",
     "1|PRIMARY|<derived2>|ALL|NULL|20000|;2|DERIVED|orders|ALL|NULL|20000|Using where",
     "none (`<derived2>`: not a table of the statement's text); ALTER TABLE `perf`.`orders` ADD "
     "INDEX `ix_orders_customer_id` (`customer_id`)"},
    /* 32 read first, restricted only by the join; the partner has its own condition: index
     * the partner's condition (so it is read first) and the join column */
    {"SELECT e.grade FROM enrollments e JOIN students s ON s.id = e.student_id WHERE s.email = "
     "'a@x'",
     S1 "e|ALL|NULL|9000|;" S1 "s|eq_ref|PRIMARY|1|Using where",
     "ALTER TABLE `perf`.`students` ADD INDEX `ix_students_email` (`email`); ALTER TABLE "
     "`perf`.`enrollments` ADD INDEX `ix_enrollments_student_id` (`student_id`)"},
};

static void
test_cases(void)
{
    for (size_t i = 0; i < N(cases); i++) {
        const struct tcase *tc = &cases[i];
        struct plan *p = mkplan(tc->plan);
        char *got = advice_compute(tc->sql, strlen(tc->sql), 0, "perf", p,
                                   (const struct advice_table *const *)meta, nmeta);
        if (!tc->want) {
            CHECK(got == NULL);
            if (got) {
                fprintf(stderr, "case %zu: got \"%s\", expected none\n", i + 1, got);
            }
        } else {
            size_t wl = strlen(tc->want);
            bool prefix = tc->want[wl - 1] == '*';
            bool ok =
                got && (prefix ? strncmp(got, tc->want, wl - 1) == 0 : strcmp(got, tc->want) == 0);
            CHECK(ok);
            if (!ok) {
                fprintf(stderr, "case %zu: %s\n  got      \"%s\"\n  expected \"%s\"\n", i + 1,
                        tc->sql, got ? got : "(null)", tc->want);
            }
        }
        free(got);
        plan_free(p);
    }
}

static void
test_tables(void)
{
    struct advice_tname t[ADVICE_MAX_TABLES];
    const char *sql = "SELECT * FROM students s JOIN shop.orders o ON o.id = s.id, classes "
                      "WHERE s.id IN (SELECT student_id FROM enrollments) AND s.id = 1";
    size_t n = advice_tables(sql, strlen(sql), 0, "perf", t, ADVICE_MAX_TABLES);
    CHECK_EQ_U(n, 4);
    CHECK_STR(t[0].db, "perf");
    CHECK_STR(t[0].name, "students");
    CHECK_STR(t[1].db, "shop");
    CHECK_STR(t[1].name, "orders");
    CHECK_STR(t[2].name, "classes");
    CHECK_STR(t[3].name, "enrollments");
    /* no default schema: unqualified tables are left out */
    n = advice_tables(sql, strlen(sql), 0, "", t, ADVICE_MAX_TABLES);
    CHECK_EQ_U(n, 1);
    CHECK_STR(t[0].name, "orders");
    const char *upd = "UPDATE LOW_PRIORITY orders SET status = 'x' WHERE id = 1";
    n = advice_tables(upd, strlen(upd), 0, "perf", t, ADVICE_MAX_TABLES);
    CHECK_EQ_U(n, 1);
    CHECK_STR(t[0].name, "orders");
}

static void
test_wanted(void)
{
    struct plan *p = mkplan(S1 "tiny|ALL|NULL|999|");
    CHECK(!advice_wanted(p));
    CHECK_EQ_U(advice_scan_rows(p), 999);
    plan_free(p);
    p = mkplan(S1 "t|index|PRIMARY|5000|Using index");
    CHECK(!advice_wanted(p)); /* a full index scan without a sort: not flagged */
    plan_free(p);
    p = mkplan(S1 "t|index|PRIMARY|5000|Using temporary");
    CHECK(advice_wanted(p));
    plan_free(p);
    p = mkplan(S1 "t|index|PRIMARY|5000|Using where"); /* UPDATE walking the primary key */
    CHECK(advice_wanted(p));
    plan_free(p);
    p = mkplan(S1 "t|ref|ix|5000|Using where");
    CHECK(!advice_wanted(p));
    CHECK_EQ_U(advice_scan_rows(p), 0);
    plan_free(p);
}

/* Noise: the one rule that weighs a scan flag by row estimate and total time. */
static void
test_weight(void)
{
    /* no flag */
    CHECK(advice_scan_weight(false, true, 1000000, 9000000, 0) == ADVICE_WEIGHT_NONE);
    /* a 5-row lookup table scanned in 2 ms in all, of 10 s of statements: small */
    CHECK(advice_scan_weight(true, true, 5, 2000, 10000000) == ADVICE_WEIGHT_SMALL);
    /* a large table: notable however cheap */
    CHECK(advice_scan_weight(true, true, 1000, 10, 10000000) == ADVICE_WEIGHT_NOTABLE);
    CHECK(advice_scan_weight(true, true, 999, 10, 10000000) == ADVICE_WEIGHT_SMALL);
    /* the size unknown (no plan, only the server's flag): notable */
    CHECK(advice_scan_weight(true, false, 0, 10, 10000000) == ADVICE_WEIGHT_NOTABLE);
    /* a small table whose scans add up: 1 s in all ... */
    CHECK(advice_scan_weight(true, true, 5, 1000000, 0) == ADVICE_WEIGHT_NOTABLE);
    CHECK(advice_scan_weight(true, true, 5, 999999, 0) == ADVICE_WEIGHT_SMALL);
    /* ... or 5 % of all statements' time, 100 ms at least */
    CHECK(advice_scan_weight(true, true, 5, 200000, 4000000) == ADVICE_WEIGHT_NOTABLE);
    CHECK(advice_scan_weight(true, true, 5, 199999, 4000000) == ADVICE_WEIGHT_SMALL);
    CHECK(advice_scan_weight(true, true, 5, 99999, 100000) == ADVICE_WEIGHT_SMALL);
    CHECK(advice_scan_weight(true, true, 5, 100000, 100000) == ADVICE_WEIGHT_NOTABLE);
    CHECK(strcmp(advice_weight_name(ADVICE_WEIGHT_SMALL), "small") == 0);
    CHECK(strcmp(advice_weight_name(ADVICE_WEIGHT_NOTABLE), "notable") == 0);
    CHECK(strcmp(advice_weight_name(ADVICE_WEIGHT_NONE), "none") == 0);
}

int
main(void)
{
    setup();
    test_weight();
    test_cases();
    test_tables();
    test_wanted();
    for (size_t i = 0; i < nmeta; i++) {
        advice_table_free(meta[i]);
    }
    printf("advice: %d checks, %d failed (%zu statements)\n", check_count, check_failures,
           N(cases));
    return check_failures ? 1 : 0;
}
