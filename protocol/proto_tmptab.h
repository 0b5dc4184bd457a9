/*
 * proto_tmptab.h - a session's temporary tables as its statements show them: the names a
 * CREATE TEMPORARY TABLE adds and a DROP TABLE removes, and whether a statement names one.
 *
 * A temporary table exists only in the connection that created it, so an EXPLAIN on another
 * connection sees no such table, or the permanent table of the same name that it hides: a
 * plan of another table. The proxy keeps the names to know which statements not to EXPLAIN
 * after the fact. Pure; no allocation.
 */
#ifndef SLOWTAP_PROTO_TMPTAB_H
#define SLOWTAP_PROTO_TMPTAB_H

#include "protocol/proto.h"

#define PROTO_TMPTAB_NAME_MAX 64 /* bytes of a table name (MariaDB's limit is 64 characters) */
#define PROTO_TMPTAB_STMT_MAX 8  /* names one DROP statement reports */

enum proto_tmptab_op {
    PROTO_TMPTAB_NONE = 0,
    PROTO_TMPTAB_CREATE, /* CREATE [OR REPLACE] TEMPORARY TABLE [IF NOT EXISTS] [db.]name */
    PROTO_TMPTAB_DROP,   /* DROP [TEMPORARY] TABLE[S] [IF EXISTS] name [, name ...]: a DROP
                            TABLE drops the session's temporary table of that name first */
};

struct proto_tmptab_stmt {
    enum proto_tmptab_op op;
    unsigned n;                                                   /* names[0..n) */
    char names[PROTO_TMPTAB_STMT_MAX][PROTO_TMPTAB_NAME_MAX + 1]; /* unquoted, unqualified */
    bool more; /* a DROP named more than PROTO_TMPTAB_STMT_MAX tables, or a longer name */
};

/*
 * Reads what statement sql[0..len), lexed under `sqlmode` (PROTO_SQLMODE_*), does to the
 * session's temporary tables into *out: op NONE for any other statement (also a CREATE whose
 * name is missing or longer than PROTO_TMPTAB_NAME_MAX bytes). Executable comments count as
 * code (CREATE slash-star-!32302 TEMPORARY star-slash TABLE, as mysqldump writes). Only the
 * first statement of a multi-statement text is read.
 */
void proto_tmptab_parse(const char *sql, size_t len, unsigned sqlmode,
                        struct proto_tmptab_stmt *out);

/*
 * The index + 1 of the first of names[0..n) (NUL-terminated) that statement sql[0..len)
 * names as a table, 0 when none: a bare or quoted identifier equal to it, ignoring ASCII
 * case, that is not a qualifier (not followed by `.`); `db.name` counts whatever db is. A
 * column of that name counts too: the reader wants "may touch", and a false yes only costs
 * an EXPLAIN.
 */
unsigned proto_tmptab_named(const char *sql, size_t len, unsigned sqlmode,
                            const char (*names)[PROTO_TMPTAB_NAME_MAX + 1], unsigned n);

#endif
