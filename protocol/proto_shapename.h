/*
 * proto_shapename.h - a statement shape's short name, one a person can tell apart from its
 * neighbours in a table: the verb, the tables, and the columns its WHERE, GROUP BY and ORDER BY
 * use, e.g. `SELECT students WHERE student_id = ?` for an ORM's
 * `select students.id as students_id, ... from students where students.student_id = %s`.
 *
 * Pure and allocation-free, lexed by proto_sqllex; works on a statement or its fingerprint
 * alike and gives both the same name (literals and placeholders are `?`, IN lists `IN (…)`,
 * bare words lowercased as the fingerprint does, quoted identifiers kept as written without
 * their quotes, comments ignored).
 */
#ifndef SLOWTAP_PROTO_SHAPENAME_H
#define SLOWTAP_PROTO_SHAPENAME_H

#include "protocol/proto.h"

/* Bytes a name takes at most, NUL included. */
#define PROTO_SHAPE_NAME_MAX 160

/*
 * Writes the short name of sql[0..len) (lexed under `sqlmode`, PROTO_SQLMODE_*) into out
 * (capacity cap; always NUL-terminated when cap > 0) and returns its length (< cap).
 *  - SELECT, INSERT, REPLACE, UPDATE, DELETE (also after WITH and leading parentheses): the
 *    verb in capitals, the tables (FROM, JOINs, INTO, UPDATE; aliases dropped, each table once,
 *    `db.table` as written), then ` SET a, b` (UPDATE's columns), ` WHERE ...` (the condition
 *    with values as `?`, IN lists as `IN (…)`, subqueries named the same way in parentheses),
 *    ` GROUP BY ...`, ` ORDER BY ...` (with DESC), ` FOR UPDATE`, ` ON DUPLICATE KEY UPDATE`,
 *    ` UNION SELECT ...`. Columns lose their table qualifier when the query reads one table.
 *    A SELECT without FROM shows its select list (`SELECT last_insert_id()`).
 *  - anything else: its first words, literals as `?` ("SET names ?", "COMMIT"); slowtap's
 *    "administrator command: X" as it is.
 * A name longer than cap-1 (or than PROTO_SHAPE_NAME_MAX-1) is cut at a UTF-8 character
 * boundary and ends with "…". The name holds no NUL and no control byte (such bytes of a
 * quoted identifier become '?'). Never reads outside sql[0..len); sql may be NULL when len is 0.
 */
size_t proto_shape_name(const char *sql, size_t len, unsigned sqlmode, char *out, size_t cap);

/* The ORM that sent a statement, as its sqlcommenter/marginalia tags or its style say. */
enum proto_orm { PROTO_ORM_UNKNOWN = 0, PROTO_ORM_SQLALCHEMY, PROTO_ORM_DJANGO, PROTO_ORM_RAILS };

/*
 * Guesses the ORM of sql[0..len) (lexed under `sqlmode`): first from a tag framework='...'
 * (sqlalchemy..., django..., rails.../activerecord...), then from the statement's style:
 * SQLAlchemy aliases columns `t.c AS t_c`, Django quotes `\`t\`.\`c\``, Rails selects
 * `\`t\`.*`. PROTO_ORM_UNKNOWN when nothing says.
 */
enum proto_orm proto_orm_guess(const char *sql, size_t len, unsigned sqlmode);

/* The fix for an N+1 loop sent by `orm`: eager loading in its words (selectinload/joinedload,
 * select_related/prefetch_related, includes), or for PROTO_ORM_UNKNOWN the generic rewrite
 * (one statement with `WHERE x IN (…)` for all the parent rows). A static string. */
const char *proto_orm_fix(enum proto_orm orm);

/* "sqlalchemy", "django", "rails" or NULL for PROTO_ORM_UNKNOWN. */
const char *proto_orm_name(enum proto_orm orm);

#endif
