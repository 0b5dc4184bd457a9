/*
 * test_tmptab.c - tests of protocol/proto_tmptab.c: the names CREATE TEMPORARY TABLE adds and
 * DROP TABLE removes, and which statements name one of a session's temporary tables.
 */
#include "check.h"
#include "protocol/proto_sqlmode.h"
#include "protocol/proto_tmptab.h"

#define AQ PROTO_SQLMODE_ANSI_QUOTES

struct pcase {
    const char *sql;
    unsigned mode;
    enum proto_tmptab_op op;
    const char *names; /* comma-separated, as parsed */
    bool more;
};

static const struct pcase pcases[] = {
    {"CREATE TEMPORARY TABLE t (id INT)", 0, PROTO_TMPTAB_CREATE, "t", false},
    {"create temporary table if not exists `shop`.`tmp orders` like orders", 0, PROTO_TMPTAB_CREATE,
     "tmp orders", false},
    {"CREATE OR REPLACE TEMPORARY TABLE x SELECT 1", 0, PROTO_TMPTAB_CREATE, "x", false},
    {"/* app */ CREATE /*!32302 TEMPORARY */ TABLE `a``b` (i INT)", 0, PROTO_TMPTAB_CREATE, "a`b",
     false},
    {"CREATE TEMPORARY TABLE \"q\" (i INT)", AQ, PROTO_TMPTAB_CREATE, "q", false},
    {"CREATE TEMPORARY TABLE \"q\" (i INT)", 0, PROTO_TMPTAB_NONE, "", false}, /* a string */
    {"CREATE TABLE t (id INT)", 0, PROTO_TMPTAB_NONE, "", false},
    {"CREATE TEMPORARY TABLE", 0, PROTO_TMPTAB_NONE, "", false},
    {"CREATE TEMPORARY TABLE IF NOT EXISTS", 0, PROTO_TMPTAB_NONE, "", false},
    {"CREATE TEMPORARY TABLE "
     "a234567890123456789012345678901234567890123456789012345678901234 (i INT)",
     0, PROTO_TMPTAB_CREATE, "a234567890123456789012345678901234567890123456789012345678901234",
     false},
    {"CREATE TEMPORARY TABLE "
     "a2345678901234567890123456789012345678901234567890123456789012345 (i INT)",
     0, PROTO_TMPTAB_NONE, "", false},
    {"DROP TEMPORARY TABLE t", 0, PROTO_TMPTAB_DROP, "t", false},
    {"drop table if exists a, db.b ,`c`", 0, PROTO_TMPTAB_DROP, "a,b,c", false},
    {"DROP TABLES a, b RESTRICT", 0, PROTO_TMPTAB_DROP, "a,b", false},
    {"DROP TABLE a,b,c,d,e,f,g,h,i", 0, PROTO_TMPTAB_DROP, "a,b,c,d,e,f,g,h", true},
    {"DROP TABLE", 0, PROTO_TMPTAB_NONE, "", false},
    {"DROP DATABASE t", 0, PROTO_TMPTAB_NONE, "", false},
    {"DROP INDEX i ON t", 0, PROTO_TMPTAB_NONE, "", false},
    {"SELECT * FROM t", 0, PROTO_TMPTAB_NONE, "", false},
    {"", 0, PROTO_TMPTAB_NONE, "", false},
    {"CREATE TEMPORARY TABLE `unterminated", 0, PROTO_TMPTAB_NONE, "", false},
};

static void
join(const struct proto_tmptab_stmt *s, char *out, size_t cap)
{
    out[0] = '\0';
    for (unsigned i = 0; i < s->n; i++) {
        if (i) {
            strncat(out, ",", cap - strlen(out) - 1);
        }
        strncat(out, s->names[i], cap - strlen(out) - 1);
    }
}

struct ncase {
    const char *sql;
    unsigned mode;
    unsigned want; /* index + 1 into names[], 0: none */
};

static const char names[][PROTO_TMPTAB_NAME_MAX + 1] = {"tmp_orders", "Scratch", "a`b"};

static const struct ncase ncases[] = {
    {"SELECT * FROM tmp_orders WHERE id = 5", 0, 1},
    {"select count(*) from SHOP.TMP_ORDERS o join scratch s on s.id = o.id", 0, 1},
    {"SELECT * FROM orders WHERE note = 'tmp_orders'", 0, 0}, /* a string */
    {"SELECT * FROM orders /* tmp_orders */", 0, 0},          /* a comment */
    {"SELECT tmp_orders.id FROM orders", 0, 0},               /* only as a qualifier */
    {"SELECT tmp_orders . id FROM tmp_orders", 0, 1},
    {"UPDATE `scratch` SET v = 1", 0, 2},
    {"DELETE FROM x WHERE id IN (SELECT id FROM `a``b`)", 0, 3},
    {"SELECT * FROM \"Scratch\"", AQ, 2},
    {"SELECT * FROM \"Scratch\"", 0, 0},
    {"SELECT * FROM tmp_orders2", 0, 0},
    {"", 0, 0},
};

int
main(void)
{
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        const struct pcase *c = &pcases[i];
        struct proto_tmptab_stmt s;
        char got[sizeof s.names];
        proto_tmptab_parse(c->sql, strlen(c->sql), c->mode, &s);
        join(&s, got, sizeof got);
        if (s.op != c->op || strcmp(got, c->names) != 0 || s.more != c->more) {
            fprintf(stderr, "  parse case %zu (%s): op %d names \"%s\" more %d\n", i, c->sql,
                    (int)s.op, got, s.more);
        }
        CHECK_EQ_U(s.op, c->op);
        CHECK_STR(got, c->names);
        CHECK(s.more == c->more);
    }
    for (size_t i = 0; i < sizeof ncases / sizeof ncases[0]; i++) {
        const struct ncase *c = &ncases[i];
        unsigned got = proto_tmptab_named(c->sql, strlen(c->sql), c->mode, names, 3);
        if (got != c->want) {
            fprintf(stderr, "  named case %zu (%s): %u\n", i, c->sql, got);
        }
        CHECK_EQ_U(got, c->want);
    }
    /* a NUL inside a quoted name: no identifier (the server refuses it) */
    static const char nul_create[] = "CREATE TEMPORARY TABLE `a\0b` (i INT)";
    static const char nul_drop[] = "DROP TABLE x, `a\0b`";
    struct proto_tmptab_stmt s;
    proto_tmptab_parse(nul_create, sizeof nul_create - 1, 0, &s);
    CHECK_EQ_U(s.op, PROTO_TMPTAB_NONE);
    proto_tmptab_parse(nul_drop, sizeof nul_drop - 1, 0, &s);
    CHECK_EQ_U(s.op, PROTO_TMPTAB_DROP);
    CHECK_EQ_U(s.n, 1);
    CHECK(s.more); /* dropped, but which one the caller cannot know */
    CHECK_EQ_U(proto_tmptab_named("SELECT * FROM tmp_orders", 24, 0, names, 0), 0);
    /* a NUL is a blank, as the server reads it; the text ends where len says */
    CHECK_EQ_U(proto_tmptab_named("SELECT * FROM x\0tmp_orders", 26, 0, names, 1), 1);
    CHECK_EQ_U(proto_tmptab_named("SELECT * FROM tmp_orders", 20, 0, names, 1), 0);
    return check_exit();
}
