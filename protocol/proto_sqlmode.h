/*
 * proto_sqlmode.h - what a statement does to the parts of sql_mode that change lexing and
 * literal syntax (PROTO_SQLMODE_* in proto.h): `SET [SESSION|@@SESSION.|@@]sql_mode = ...`.
 *
 * NO_BACKSLASH_ESCAPES needs no help from here: the server reports it in every OK/EOF status
 * (PROTO_SERVER_NO_BACKSLASH_ESCAPES). ANSI_QUOTES is reported nowhere, so a session learns it
 * from the SET statements it sees. Pure; no allocation.
 */
#ifndef SLOWTAP_PROTO_SQLMODE_H
#define SLOWTAP_PROTO_SQLMODE_H

#include "protocol/proto.h"

/* What a session's SET statements have told about its sql_mode. */
#define PROTO_SQLMODE_TEXT_MAX 256
struct proto_sqlmode {
    unsigned flags;  /* PROTO_SQLMODE_*: ANSI_QUOTES from SET statements (NO_BACKSLASH_ESCAPES
                       is kept by the caller from the status flags) */
    bool changed;    /* the session assigned its sql_mode at least once */
    bool text_known; /* text holds the mode list the session set ("" = DEFAULT); false when
                        the last assignment was an expression (CONCAT) */
    char text[PROTO_SQLMODE_TEXT_MAX]; /* the list as assigned, when text_known */
};

/*
 * If `sql[0..len)` is a SET statement that assigns the session's sql_mode (also as one of
 * several comma-separated assignments), updates *m from the assigned value and returns true.
 * The value is understood when it is a quoted list of modes (ANSI_QUOTES, or a combination
 * mode that includes it: ANSI, DB2, MAXDB, MSSQL, ORACLE, POSTGRESQL), DEFAULT, or an
 * expression that appends to @@sql_mode with CONCAT (`CONCAT(@@sql_mode, ',ANSI_QUOTES')`;
 * then the flags are known but not the text). Anything else (REPLACE(), a user variable, a
 * subquery) returns false and leaves *m as it was. `SET GLOBAL sql_mode` does not change the
 * session and returns false. The statement is lexed under m->flags.
 */
bool proto_sqlmode_from_set(const char *sql, size_t len, struct proto_sqlmode *m);

/* True when the comma-separated list of modes `s[0..n)` (any case, spaces allowed) includes
 * ANSI_QUOTES directly or through a combination mode. */
bool proto_sqlmode_list_has_ansi_quotes(const char *s, size_t n);

#endif
