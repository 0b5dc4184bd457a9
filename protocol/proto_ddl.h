/*
 * proto_ddl.h - what a DDL statement does to which tables: ALTER TABLE (ADD INDEX and every
 * other change), CREATE INDEX, DROP INDEX, DROP TABLE, TRUNCATE TABLE, RENAME TABLE. The
 * proxy marks such a statement, when it succeeded, on the time series of the shapes that
 * touch its tables (proxy/account/ddl.h): before and after an index read at a glance.
 *
 * Pure and allocation-free; reads the tokens of proto_sqllex.
 */
#ifndef SLOWTAP_PROTO_DDL_H
#define SLOWTAP_PROTO_DDL_H

#include "protocol/proto.h"

#define PROTO_DDL_NAME_MAX 64 /* bytes of a table or schema name (MariaDB: 64 characters) */
#define PROTO_DDL_TABLES   4  /* tables one statement reports */

enum proto_ddl_kind {
    PROTO_DDL_NONE = 0,
    PROTO_DDL_ALTER_TABLE,  /* ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] t ... */
    PROTO_DDL_CREATE_INDEX, /* CREATE [OR REPLACE] [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL]
                               INDEX [IF NOT EXISTS] i [USING x] ON t */
    PROTO_DDL_DROP_INDEX,   /* DROP INDEX [IF EXISTS] i ON t */
    PROTO_DDL_DROP_TABLE,   /* DROP [TEMPORARY] TABLE[S] [IF EXISTS] t [, t ...] */
    PROTO_DDL_TRUNCATE,     /* TRUNCATE [TABLE] t */
    PROTO_DDL_RENAME_TABLE, /* RENAME TABLE[S] a TO b [, c TO d ...]: both names reported */
};

struct proto_ddl_table {
    char schema[PROTO_DDL_NAME_MAX + 1]; /* "" when the statement names none */
    char table[PROTO_DDL_NAME_MAX + 1];  /* unquoted (a doubled quote is one) */
};

struct proto_ddl {
    enum proto_ddl_kind kind;
    bool add_index; /* ALTER TABLE with an ADD [UNIQUE|FULLTEXT|SPATIAL] INDEX/KEY clause */
    unsigned n;     /* t[0..n) */
    struct proto_ddl_table t[PROTO_DDL_TABLES];
};

/*
 * Reads the DDL statement sql[0..len), lexed under `sqlmode` (PROTO_SQLMODE_*), into *out;
 * false (kind NONE, n 0) for any other statement, and for one whose first table name is
 * missing, empty or longer than PROTO_DDL_NAME_MAX bytes. Leading comments and executable
 * comments are skipped; only the first statement of a multi-statement text is read. A DROP or
 * RENAME naming more than PROTO_DDL_TABLES tables reports the first ones.
 */
bool proto_ddl_parse(const char *sql, size_t len, unsigned sqlmode, struct proto_ddl *out);

/* "alter_table", "create_index", "drop_index", "drop_table", "truncate", "rename_table";
 * "none". */
const char *proto_ddl_kind_name(enum proto_ddl_kind kind);

#endif
