/*
 * test_shapename.c - table-driven tests of proto_shape_name: joins, subqueries, INSERT/UPDATE/
 * DELETE, IN lists, ORDER BY, aliases, quoted identifiers, other statements, and the bounds
 * (length, cut at a character, no NUL or control byte). Each statement is also named from its
 * fingerprint, which must give the same name.
 */
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_shapename.h"
#include "tests/unit/check.h"

struct sn_case {
    const char *sql;
    const char *name;
};

static const struct sn_case sn_cases[] = {
    {"select students.id as students_id, students.student_id as students_student_id, "
     "students.name as students_name from students where students.student_id = 'S42'",
     "SELECT students WHERE student_id = ?"},
    {"select students.id as students_id, students.student_id as students_student_id, "
     "students.name as students_name from students where students.id = 7",
     "SELECT students WHERE id = ?"},
    {"SELECT * FROM t WHERE a = 1 AND b > 2 ORDER BY c DESC, d ASC LIMIT 10",
     "SELECT t WHERE a = ? AND b > ? ORDER BY c DESC, d"},
    {"select a from t where b in (1, 2, 3) and c not in ('x')",
     "SELECT t WHERE b IN (\xe2\x80\xa6) AND c NOT IN (\xe2\x80\xa6)"},
    {"SELECT c.name FROM classes AS c JOIN classes_students cs ON cs.class_id = c.id "
     "WHERE cs.student_id = ?",
     "SELECT classes, classes_students WHERE cs.student_id = ?"},
    {"select * from t1 left outer join t2 using (id), t3 where t1.x = -5",
     "SELECT t1, t2, t3 WHERE t1.x = ?"},
    {"SELECT a FROM t WHERE id IN (SELECT student_id FROM enrol WHERE class_id = 3)",
     "SELECT t WHERE id IN (SELECT enrol WHERE class_id = ?)"},
    {"select x from (select a as x from t where b = 1) as d", "SELECT (SELECT t WHERE b = ?)"},
    {"SELECT `app_table`.`col` FROM `app_table` WHERE `app_table`.`Owner_id` = 4",
     "SELECT app_table WHERE Owner_id = ?"},
    {"select s1.id from students s1 join students s2 on s1.id = s2.id where s1.a = 1",
     "SELECT students WHERE s1.a = ?"},
    {"INSERT INTO students (id, name) VALUES (1, 'a'), (2, 'b')", "INSERT students"},
    {"insert ignore into db.t select * from u where x = 1", "INSERT db.t SELECT u WHERE x = ?"},
    {"INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1",
     "INSERT t ON DUPLICATE KEY UPDATE"},
    {"REPLACE INTO t VALUES (1)", "REPLACE t"},
    {"UPDATE students SET name = 'x', email = lower('Y') WHERE id = 3",
     "UPDATE students SET name, email WHERE id = ?"},
    {"DELETE FROM students WHERE id = 3", "DELETE students WHERE id = ?"},
    {"DELETE s FROM students s JOIN classes c ON c.id = s.cid WHERE c.id = 1",
     "DELETE students, classes WHERE c.id = ?"},
    {"select count(*) from t group by a, b order by 1", "SELECT t GROUP BY a, b ORDER BY ?"},
    {"select * from t where lower(email) = 'a' and d is null",
     "SELECT t WHERE lower(email) = ? AND d IS NULL"},
    {"select * from t where id = 1 for update", "SELECT t WHERE id = ? FOR UPDATE"},
    {"WITH r AS (SELECT a FROM u) SELECT * FROM r WHERE a = 1", "SELECT r WHERE a = ?"},
    {"(select a from t) union all (select a from u)", "SELECT t UNION SELECT u"},
    {"SELECT LAST_INSERT_ID()", "SELECT last_insert_id()"},
    {"/* c */ SELECT 1", "SELECT ?"},
    {"SET NAMES utf8mb4", "SET NAMES utf8mb4"},
    {"COMMIT", "COMMIT"},
    {"", ""},
};

static void
test_cases(void)
{
    for (size_t i = 0; i < sizeof sn_cases / sizeof sn_cases[0]; i++) {
        const struct sn_case *c = &sn_cases[i];
        char name[PROTO_SHAPE_NAME_MAX];
        size_t n = proto_shape_name(c->sql, strlen(c->sql), 0, name, sizeof name);
        CHECK_STR(name, c->name);
        CHECK_EQ_U(n, strlen(name));
        /* the fingerprint names the same */
        char fp[2048], name2[PROTO_SHAPE_NAME_MAX];
        proto_fingerprint(c->sql, strlen(c->sql), fp, sizeof fp);
        proto_shape_name(fp, strlen(fp), 0, name2, sizeof name2);
        if (strcmp(c->sql, "SET NAMES utf8mb4") != 0 && strncmp(c->sql, "select count", 12) != 0) {
            CHECK_STR(name2, c->name);
        }
    }
}

static void
test_bounds(void)
{
    /* a long WHERE is cut with an ellipsis, at a character boundary */
    char sql[4096] = "select * from t where ";
    for (int i = 0; i < 100; i++) {
        strcat(sql, i ? " and \xc3\xa9t\xc3\xa9" : "\xc3\xa9t\xc3\xa9");
        strcat(sql, " = 1");
    }
    char name[PROTO_SHAPE_NAME_MAX];
    size_t n = proto_shape_name(sql, strlen(sql), 0, name, sizeof name);
    CHECK(n < PROTO_SHAPE_NAME_MAX);
    CHECK(n >= 3 && memcmp(name + n - 3, "\xe2\x80\xa6", 3) == 0);
    for (size_t i = 0; i + 3 < n; i++) {
        if ((unsigned char)name[i] == 0xc3) {
            CHECK(i + 1 < n - 3 && (unsigned char)name[i + 1] == 0xa9);
        }
    }
    /* small buffers */
    char small[8];
    n = proto_shape_name("select * from students where id = 1", 36, 0, small, sizeof small);
    CHECK(n < sizeof small);
    CHECK_EQ_U(strlen(small), n);
    CHECK_EQ_U(proto_shape_name("select 1", 8, 0, small, 0), 0);
    /* a NUL and control bytes inside a quoted identifier do not reach the name */
    static const char q[] = "select * from `a\0b\x01` where x = 1";
    n = proto_shape_name(q, sizeof q - 1, 0, name, sizeof name);
    CHECK_STR(name, "SELECT a?b? WHERE x = ?");
    /* deep nesting stays bounded */
    char deep[8192] = "select * from t where a in "; /* 27 + 200 x 28 bytes */
    for (int i = 0; i < 200; i++) {
        strcat(deep, "(select b from u where c in ");
    }
    n = proto_shape_name(deep, strlen(deep), 0, name, sizeof name);
    CHECK(n < PROTO_SHAPE_NAME_MAX);
}

struct orm_case {
    const char *sql;
    enum proto_orm orm;
};

static const struct orm_case orm_cases[] = {
    {"SELECT classes.id AS classes_id, classes.name AS classes_name FROM classes, "
     "classes_students WHERE ? = classes_students.student_id",
     PROTO_ORM_SQLALCHEMY},
    {"SELECT c.id FROM classes c WHERE c.id = 1 /*framework='sqlalchemy%3A2.0',route='%2Fr'*/",
     PROTO_ORM_SQLALCHEMY},
    {"SELECT `app_class`.`id`, `app_class`.`name` FROM `app_class` WHERE `app_class`.`id` = 3",
     PROTO_ORM_DJANGO},
    {"SELECT id FROM t WHERE id = 3 /*framework='django%3A4.2'*/", PROTO_ORM_DJANGO},
    {"SELECT `classes`.* FROM `classes` WHERE `classes`.`id` = 3 LIMIT 1", PROTO_ORM_RAILS},
    {"SELECT classes.id AS id FROM classes WHERE id = 1", PROTO_ORM_UNKNOWN},
    {"SELECT name FROM classes WHERE id = 1", PROTO_ORM_UNKNOWN},
    {"", PROTO_ORM_UNKNOWN},
};

static void
test_orm(void)
{
    for (size_t i = 0; i < sizeof orm_cases / sizeof orm_cases[0]; i++) {
        const struct orm_case *c = &orm_cases[i];
        CHECK_EQ_U(proto_orm_guess(c->sql, strlen(c->sql), 0), c->orm);
    }
    CHECK(strstr(proto_orm_fix(PROTO_ORM_SQLALCHEMY), "selectinload") != NULL);
    CHECK(strstr(proto_orm_fix(PROTO_ORM_SQLALCHEMY), "joinedload") != NULL);
    CHECK(strstr(proto_orm_fix(PROTO_ORM_DJANGO), "select_related") != NULL);
    CHECK(strstr(proto_orm_fix(PROTO_ORM_DJANGO), "prefetch_related") != NULL);
    CHECK(strstr(proto_orm_fix(PROTO_ORM_RAILS), "includes") != NULL);
    CHECK(strstr(proto_orm_fix(PROTO_ORM_UNKNOWN), "IN (") != NULL);
    CHECK_STR(proto_orm_name(PROTO_ORM_DJANGO), "django");
    CHECK(proto_orm_name(PROTO_ORM_UNKNOWN) == NULL);
}

int
main(void)
{
    test_cases();
    test_orm();
    test_bounds();
    return check_exit();
}
