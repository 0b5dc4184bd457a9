/*
 * test_ddl.c - tests of protocol/proto_ddl.c: which DDL statements mark which tables.
 */
#include "check.h"
#include "protocol/proto_ddl.h"
#include "protocol/proto_sqlmode.h"

#define AQ PROTO_SQLMODE_ANSI_QUOTES

struct dcase {
    const char *sql;
    unsigned mode;
    enum proto_ddl_kind kind;
    const char *tables; /* comma-separated, "schema.table" when qualified */
    bool add_index;
};

static const struct dcase cases[] = {
    {"ALTER TABLE students ADD INDEX (student_id)", 0, PROTO_DDL_ALTER_TABLE, "students", true},
    {"alter table `shop`.`order items` add key ix_a (a), algorithm=inplace", 0,
     PROTO_DDL_ALTER_TABLE, "shop.order items", true},
    {"ALTER ONLINE IGNORE TABLE IF EXISTS t ADD UNIQUE KEY u (a)", 0, PROTO_DDL_ALTER_TABLE, "t",
     true},
    {"ALTER TABLE t ADD CONSTRAINT c UNIQUE INDEX (a)", 0, PROTO_DDL_ALTER_TABLE, "t", true},
    {"ALTER TABLE t ADD COLUMN c INT, DROP INDEX ix", 0, PROTO_DDL_ALTER_TABLE, "t", false},
    {"ALTER TABLE t ADD COLUMN `index` INT", 0, PROTO_DDL_ALTER_TABLE, "t", false},
    {"ALTER TABLE t COMMENT 'add index'", 0, PROTO_DDL_ALTER_TABLE, "t", false},
    {"/* app */ ALTER TABLE \"q\" ADD INDEX (a)", AQ, PROTO_DDL_ALTER_TABLE, "q", true},
    {"ALTER TABLE \"q\" ADD INDEX (a)", 0, PROTO_DDL_NONE, "", false}, /* a string */
    {"ALTER DATABASE d CHARACTER SET utf8mb4", 0, PROTO_DDL_NONE, "", false},
    {"ALTER TABLE", 0, PROTO_DDL_NONE, "", false},
    {"CREATE INDEX ix ON students (student_id)", 0, PROTO_DDL_CREATE_INDEX, "students", false},
    {"create or replace unique index if not exists `i``x` using btree on db.t (a)", 0,
     PROTO_DDL_CREATE_INDEX, "db.t", false},
    {"CREATE ONLINE FULLTEXT INDEX f ON t (body)", 0, PROTO_DDL_CREATE_INDEX, "t", false},
    {"CREATE TABLE t (id INT)", 0, PROTO_DDL_NONE, "", false},
    {"CREATE INDEX ix", 0, PROTO_DDL_NONE, "", false},
    {"DROP INDEX ix ON students", 0, PROTO_DDL_DROP_INDEX, "students", false},
    {"DROP INDEX IF EXISTS `ix` ON `db`.`t`", 0, PROTO_DDL_DROP_INDEX, "db.t", false},
    {"DROP INDEX ix", 0, PROTO_DDL_NONE, "", false},
    {"drop temporary table if exists a, db.b ,`c`", 0, PROTO_DDL_DROP_TABLE, "a,db.b,c", false},
    {"DROP TABLES a,b,c,d,e,f", 0, PROTO_DDL_DROP_TABLE, "a,b,c,d", false},
    {"DROP DATABASE t", 0, PROTO_DDL_NONE, "", false},
    {"DROP TABLE", 0, PROTO_DDL_NONE, "", false},
    {"TRUNCATE TABLE log", 0, PROTO_DDL_TRUNCATE, "log", false},
    {"truncate s.log", 0, PROTO_DDL_TRUNCATE, "s.log", false},
    {"RENAME TABLE a TO b, c TO d", 0, PROTO_DDL_RENAME_TABLE, "a,b,c,d", false},
    {"RENAME TABLE a WAIT 5 TO db.b", 0, PROTO_DDL_RENAME_TABLE, "a,db.b", false},
    {"SELECT * FROM t", 0, PROTO_DDL_NONE, "", false},
    {"ALTER TABLE a.b.c ADD INDEX (x)", 0, PROTO_DDL_NONE, "", false},
    {"ALTER TABLE `unterminated", 0, PROTO_DDL_NONE, "", false},
    {"ALTER TABLE "
     "a2345678901234567890123456789012345678901234567890123456789012345 ADD INDEX (a)",
     0, PROTO_DDL_NONE, "", false},
    {"", 0, PROTO_DDL_NONE, "", false},
};

static void
join(const struct proto_ddl *d, char *out, size_t cap)
{
    out[0] = '\0';
    for (unsigned i = 0; i < d->n; i++) {
        if (i) {
            strncat(out, ",", cap - strlen(out) - 1);
        }
        if (d->t[i].schema[0]) {
            strncat(out, d->t[i].schema, cap - strlen(out) - 1);
            strncat(out, ".", cap - strlen(out) - 1);
        }
        strncat(out, d->t[i].table, cap - strlen(out) - 1);
    }
}

int
main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct dcase *c = &cases[i];
        struct proto_ddl d;
        char got[1024];
        bool ok = proto_ddl_parse(c->sql, strlen(c->sql), c->mode, &d);
        join(&d, got, sizeof got);
        if (d.kind != c->kind || strcmp(got, c->tables) != 0 || d.add_index != c->add_index) {
            fprintf(stderr, "  case %zu (%s): kind %s tables \"%s\" add_index %d\n", i, c->sql,
                    proto_ddl_kind_name(d.kind), got, d.add_index);
        }
        CHECK(ok == (c->kind != PROTO_DDL_NONE));
        CHECK_EQ_U(d.kind, c->kind);
        CHECK_STR(got, c->tables);
        CHECK(d.add_index == c->add_index);
    }
    /* the text ends where len says; a NUL in a quoted name is no name */
    struct proto_ddl d;
    CHECK(!proto_ddl_parse("TRUNCATE TABLE log", 14, 0, &d));
    static const char nul[] = "ALTER TABLE `a\0b` ADD INDEX (x)";
    CHECK(!proto_ddl_parse(nul, sizeof nul - 1, 0, &d));
    CHECK_STR(proto_ddl_kind_name(PROTO_DDL_CREATE_INDEX), "create_index");
    CHECK_STR(proto_ddl_kind_name(PROTO_DDL_NONE), "none");
    return check_exit();
}
