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

#endif
