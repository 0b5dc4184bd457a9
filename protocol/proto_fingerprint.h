/*
 * proto_fingerprint.h - statement shapes: the fingerprint of a SQL statement (the form
 * pt-query-digest calls a fingerprint: literals, numbers, quoted strings, IN-lists and
 * VALUES-lists folded to `?`, comments removed, whitespace collapsed, case folded), its 64-bit
 * digest, and the classification of statements (explainable? a USE?).
 *
 * Pure functions over the statement text; no allocation.
 */
#ifndef SLOWTAP_PROTO_FINGERPRINT_H
#define SLOWTAP_PROTO_FINGERPRINT_H

#include "protocol/proto.h"

/*
 * Writes the fingerprint of `sql[0..len)` into `out` (capacity `cap`, always NUL-terminated
 * when cap > 0; a fingerprint longer than cap-1 is cut, the digest still covers all of it).
 * Returns the 64-bit digest of the whole fingerprint (FNV-1a 64 of its bytes). Statements that
 * differ only in literal values, comments, whitespace or keyword case have the same
 * fingerprint and digest. `out` may be NULL to compute the digest alone.
 * Examples:
 *   "SELECT * FROM t WHERE id = 42"          -> "select * from t where id = ?"
 *   "select a from t where b in (1, 2, 3)"   -> "select a from t where b in(?+)"
 *   "INSERT INTO t VALUES (1,'a'),(2,'b')"    -> "insert into t values(?+)"
 *   "SELECT /x comment x/ 1" (C comment)     -> "select ?"
 *   "SELECT a FROM `T1` LIMIT 10, 20;"       -> "select a from `T1` limit ?"
 *   "select * from t where a is null"        -> "select * from t where a is null"
 * Follows pt-query-digest's fingerprint (with --preserve-embedded-numbers) except where
 * proto_fingerprint.c documents otherwise: NULL/TRUE/FALSE stay words, backtick identifiers
 * keep their case, executable comments (/x! ... x/, /xM! ... x/) are unwrapped and their
 * content fingerprinted, a trailing `;` is dropped, unterminated strings become `?`.
 * Never reads outside sql[0..len) (NUL bytes included); sql may be NULL when len is 0.
 * The text is lexed by proto_sqllex with sql_mode 0 (backslash escapes, "x" a string).
 */
uint64_t proto_fingerprint(const char *sql, size_t len, char *out, size_t cap);

/* proto_fingerprint for text lexed under the session's `sqlmode` (PROTO_SQLMODE_*): with
 * NO_BACKSLASH_ESCAPES '\' does not escape in strings, with ANSI_QUOTES "x" is an identifier
 * (kept as written, like `x`). Mode 0 gives exactly proto_fingerprint. */
uint64_t proto_fingerprint_mode(const char *sql, size_t len, unsigned sqlmode, char *out,
                                size_t cap);

/* Digest as 16 lowercase hex digits plus NUL: common/hexfmt.h's hexfmt_u64, the one format. */
void proto_digest_hex(uint64_t digest, char out[17]);

enum proto_stmt_kind {
    PROTO_STMT_OTHER = 0,
    PROTO_STMT_SELECT, /* SELECT, WITH ... SELECT, (SELECT ...) UNION ..., TABLE, VALUES */
    PROTO_STMT_INSERT, /* INSERT ... VALUES / SELECT / SET */
    PROTO_STMT_REPLACE,
    PROTO_STMT_UPDATE,
    PROTO_STMT_DELETE,
    PROTO_STMT_USE, /* USE db */
};

/*
 * Classifies a statement by its first keyword after leading whitespace, comments and opening
 * parentheses. Statements with more than one statement in them (a `;` followed by anything but
 * whitespace/comments outside quotes) are PROTO_STMT_OTHER, as are EXPLAIN, ANALYZE, SELECT ...
 * INTO OUTFILE/DUMPFILE, and a WITH whose main statement is not a SELECT.
 */
enum proto_stmt_kind proto_stmt_classify(const char *sql, size_t len);

/* True for the kinds auto-EXPLAIN may run EXPLAIN on (SELECT, INSERT, REPLACE, UPDATE, DELETE
 * as classified above). */
bool proto_stmt_explainable(enum proto_stmt_kind kind);

/* For a USE statement, copies the schema name (unquoted, backticks removed, doubled backticks
 * made single, case kept) into `db` (capacity `cap`) and returns true. Returns false, leaving
 * `db` unspecified, when the text is not a single USE statement, the name is missing, empty,
 * unterminated or contains a NUL, or the name and its NUL do not fit in `cap`. */
bool proto_stmt_use_schema(const char *sql, size_t len, char *db, size_t cap);

/* The two above for text lexed under `sqlmode` (PROTO_SQLMODE_*); ANSI_QUOTES also lets
 * `USE "db"` name a schema. */
enum proto_stmt_kind proto_stmt_classify_mode(const char *sql, size_t len, unsigned sqlmode);
bool proto_stmt_use_schema_mode(const char *sql, size_t len, unsigned sqlmode, char *db,
                                size_t cap);

/* What one pass over a statement yields. */
struct proto_stmt_info {
    uint64_t digest;           /* == proto_fingerprint_mode(sql, len, sqlmode, ...) */
    enum proto_stmt_kind kind; /* == proto_stmt_classify_mode(sql, len, sqlmode) */
    bool schema_changed;       /* == proto_stmt_use_schema_mode(...): `schema` holds the name */
};

/*
 * Fingerprint, digest, kind and USE schema of sql[0..len) in one pass of the lexer: the
 * results equal those of the separate functions above. `fp` (capacity fp_cap) and `schema`
 * (capacity schema_cap) may be NULL with a capacity of 0 when not wanted; `schema` is written
 * only when info->schema_changed. Allocation-free.
 */
void proto_stmt_analyze(const char *sql, size_t len, unsigned sqlmode, char *fp, size_t fp_cap,
                        char *schema, size_t schema_cap, struct proto_stmt_info *info);

/*
 * The statement's skeleton: its text with every digit run that is a whole number token
 * whatever its digits (between blanks, operators, parentheses, commas or quotes: `id = 42`,
 * `IN (1,2)`, `'7'`) replaced by one '0', into out[0..cap). Two statements with equal
 * skeletons under the same sqlmode have the same fingerprint, digest and kind (their texts
 * differ only in such numbers, and numbers become `?`), so a caller may reuse the last
 * analysis. A run glued to anything else (t1, 1e5, 0x1F, 1.5, @1, :1) is copied as it is.
 * Returns the skeleton's length, or PROTO_FP_SKELETON_NONE when the text has a backtick (or a
 * double quote under ANSI_QUOTES: digits inside an identifier are kept) or does not fit.
 */
#define PROTO_FP_SKELETON_NONE ((size_t)-1)
size_t proto_fp_skeleton(const char *sql, size_t len, unsigned sqlmode, char *out, size_t cap);

#endif
