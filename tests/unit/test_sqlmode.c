/*
 * test_sqlmode.c - tests of protocol/proto_sqlmode.c: which SET statements turn ANSI_QUOTES on
 * or off for the session, and which leave the mode unknown (unchanged).
 */
#include "check.h"
#include "protocol/proto_sqlmode.h"

#define AQ  PROTO_SQLMODE_ANSI_QUOTES
#define NBE PROTO_SQLMODE_NO_BACKSLASH_ESCAPES

struct mcase {
    const char *sql;
    unsigned before;
    bool changed;
    unsigned after; /* when changed */
};

static const struct mcase cases[] = {
    {"SET sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"set SESSION sql_mode='STRICT_TRANS_TABLES,ansi_quotes'", 0, true, AQ},
    {"SET @@sql_mode = 'ANSI'", 0, true, AQ},
    {"SET @@SESSION.sql_mode = \"ORACLE\"", 0, true, AQ},
    {"SET sql_mode = 'POSTGRESQL'", 0, true, AQ},
    {"SET sql_mode = 'STRICT_ALL_TABLES'", AQ, true, 0},
    {"SET sql_mode = ''", AQ | NBE, true, NBE},
    {"SET sql_mode := DEFAULT", AQ, true, 0},
    {"SET LOCAL sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET NAMES utf8mb4, sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET autocommit = 1, @x = (SELECT 1), sql_mode = 'ANSI_QUOTES', time_zone = '+00:00'", 0, true,
     AQ},
    {"SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", 0, true, AQ},
    {"SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')", AQ, true, AQ},
    {"SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')", 0, true, 0},
    {"/* c */ SET /* d */ sql_mode = 'ANSI_QUOTES' -- e\n", 0, true, AQ},
    {"SET sql_mode = 'ANSI_QUOTESX'", 0, true, 0},
    /* the name in any case (a text without "sql_mode" is not lexed at all) */
    {"SET SQL_MODE = 'ANSI_QUOTES'", 0, true, AQ},
    {"set Sql_Mode='ANSI'", 0, true, AQ},
    {"SET sql_modes = 'ANSI_QUOTES'", 0, false, 0},
    /* quoted names and blanks around the dot, as MariaDB accepts them */
    {"SET `sql_mode` = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET SESSION `SQL_MODE`='ANSI'", 0, true, AQ},
    {"SET @@`sql_mode` = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET @@session.`sql_mode` = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET @@session . sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET @@session /* c */ . /* d */ sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET \"sql_mode\" = ''", AQ, true, 0},            /* an identifier under ANSI_QUOTES */
    {"SET \"sql_mode\" = 'ANSI_QUOTES'", 0, false, 0}, /* a string otherwise: no SET of it */
    {"SET `sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET @@global.`sql_mode` = 'ANSI_QUOTES'", 0, false, 0},
    {"SET `sql``mode` = 'ANSI_QUOTES'", 0, false, 0},
    {"SET sql_mode = CONCAT(@@session . `sql_mode`, ',ANSI_QUOTES')", 0, true, AQ},
    /* unknown values: the mode is left as it was */
    {"SET sql_mode = REPLACE(@@sql_mode, 'ANSI_QUOTES', '')", AQ, false, 0},
    {"SET sql_mode = @saved", AQ, false, 0},
    {"SET sql_mode = 'AN\\SI'", 0, false, 0},
    /* not the session's */
    {"SET GLOBAL sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET @@global.sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET @sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET NAMES utf8mb4", 0, false, 0},
    {"SELECT 'SET sql_mode = ANSI_QUOTES'", 0, false, 0},
    /* the first character decides before any lexing: blanks, comments and case */
    {" \t\r\n SET sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"# c\nSET sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"-- c\nset sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"\fSET sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"XSET sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"1SET sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SETX sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET_ sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SELECT sql_mode = 'ANSI_QUOTES'", 0, false, 0},
    {"SET/**/sql_mode = 'ANSI_QUOTES'", 0, true, AQ},
    {"SET`sql_mode` = 'ANSI_QUOTES'", 0, true, AQ},
    {"   ", 0, false, 0},
    {"SET sql_mode = 'ANSI_QUOTES", 0, false, 0},
    {"SET", 0, false, 0},
    {"", 0, false, 0},
};

int
main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct mcase *c = &cases[i];
        struct proto_sqlmode m = {.flags = c->before};
        bool changed = proto_sqlmode_from_set(c->sql, strlen(c->sql), &m);
        if (changed != c->changed || m.flags != (c->changed ? c->after : c->before)) {
            fprintf(stderr, "  case %zu (%s): changed %d mode %u\n", i, c->sql, changed, m.flags);
        }
        CHECK(changed == c->changed);
        CHECK(m.changed == c->changed);
        CHECK_EQ_U(m.flags, c->changed ? c->after : c->before);
    }
    /* the mode list as assigned, for the auto-EXPLAIN connection */
    struct proto_sqlmode m = {0};
    CHECK(proto_sqlmode_from_set("SET sql_mode='ANSI_QUOTES,STRICT_ALL_TABLES'", 44, &m));
    CHECK(m.text_known);
    CHECK_STR(m.text, "ANSI_QUOTES,STRICT_ALL_TABLES");
    CHECK(proto_sqlmode_from_set("SET sql_mode=CONCAT(@@sql_mode, ',NO_ZERO_DATE')", 48, &m));
    CHECK(!m.text_known);
    CHECK(m.flags == AQ);
    CHECK(proto_sqlmode_from_set("SET sql_mode=DEFAULT", 20, &m));
    CHECK(m.text_known);
    CHECK_STR(m.text, "");
    CHECK(m.flags == 0);
    /* a NUL in the list: no mode list (the server refuses it), the mode stays unknown */
    m.flags = 0;
    CHECK(!proto_sqlmode_from_set("SET sql_mode='ANSI\0x,ANSI_QUOTES'", 33, &m));
    CHECK(m.flags == 0);
    CHECK(proto_sqlmode_list_has_ansi_quotes("STRICT_TRANS_TABLES,ANSI", 24));
    CHECK(!proto_sqlmode_list_has_ansi_quotes("ANSI_QUOTE", 10));
    return check_exit();
}
