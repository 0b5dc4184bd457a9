/*
 * test_ddl.c - tests of protocol/proto_ddl.c (which DDL statements mark which tables) and of
 * proxy/account/ddl.c (the ring of markers: the newest kept, texts cut at a UTF-8 boundary).
 */
#include "check.h"
#include "protocol/proto_ddl.h"
#include "proxy/account/ddl.h"

#include <stdlib.h>
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

    /* the ring: DDL_LOG_MAX + 44 markers, the newest DDL_LOG_MAX kept, oldest first */
    struct ddl_log *l = ddl_log_new();
    struct ddl_marker *m = calloc(DDL_LOG_MAX + 1, sizeof *m);
    CHECK(l != NULL && m != NULL);
    CHECK(proto_ddl_parse("ALTER TABLE s.t ADD INDEX (a)", 29, 0, &d));
    for (int i = 0; l && m && i < DDL_LOG_MAX + 44; i++) {
        if (i % 10 == 0) {
            ddl_log_add_reset(l, 1000 + i);
        } else {
            ddl_log_add(l, 1000 + i, &d, "alter table s.t add index (a)", 29);
        }
    }
    size_t n = l && m ? ddl_log_get(l, m, DDL_LOG_MAX + 1) : 0;
    CHECK_EQ_U(n, DDL_LOG_MAX);
    if (n == DDL_LOG_MAX) {
        CHECK_EQ_U(m[0].wall_us, 1044);
        CHECK_EQ_U(m[n - 1].wall_us, 1000 + DDL_LOG_MAX + 43);
        CHECK_EQ_U(m[6].kind, PROTO_DDL_NONE); /* 1050: a reset */
        CHECK_STR(m[6].text, "reset");
        CHECK_EQ_U(m[0].kind, PROTO_DDL_ALTER_TABLE);
        CHECK(m[0].add_index);
        CHECK_STR(m[0].t[0].schema, "s");
        CHECK_STR(m[0].t[0].table, "t");
        CHECK_STR(m[0].text, "alter table s.t add index (a)");
    }
    /* a long text is cut before a UTF-8 sequence, never inside it */
    char text[DDL_TEXT_MAX + 8];
    memset(text, 'a', sizeof text);
    memcpy(text + DDL_TEXT_MAX - 2, "\xc3\xa9\xc3\xa9", 4);
    ddl_log_add(l, 5000, &d, text, sizeof text);
    CHECK_EQ_U(ddl_log_get(l, m, 1), 1);
    CHECK_EQ_U(strlen(m[0].text), DDL_TEXT_MAX - 2);
    free(m);
    ddl_log_free(l);
    return check_exit();
}
