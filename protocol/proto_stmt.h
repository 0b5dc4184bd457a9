/*
 * proto_stmt.h - prepared statements on the wire: the COM_STMT_PREPARE OK, the parameters of
 * COM_STMT_EXECUTE (binary protocol values of every type, the NULL bitmap, new_params_bound=0
 * reusing earlier types, values sent by COM_STMT_SEND_LONG_DATA), and rendering the values as
 * SQL literals so a statement can be logged with its parameters substituted.
 */
#ifndef SLOWTAP_PROTO_STMT_H
#define SLOWTAP_PROTO_STMT_H

#include "protocol/proto.h"

/* Column/parameter types (MYSQL_TYPE_*). */
enum proto_type {
    PROTO_TYPE_DECIMAL = 0,
    PROTO_TYPE_TINY = 1,
    PROTO_TYPE_SHORT = 2,
    PROTO_TYPE_LONG = 3,
    PROTO_TYPE_FLOAT = 4,
    PROTO_TYPE_DOUBLE = 5,
    PROTO_TYPE_NULL = 6,
    PROTO_TYPE_TIMESTAMP = 7,
    PROTO_TYPE_LONGLONG = 8,
    PROTO_TYPE_INT24 = 9,
    PROTO_TYPE_DATE = 10,
    PROTO_TYPE_TIME = 11,
    PROTO_TYPE_DATETIME = 12,
    PROTO_TYPE_YEAR = 13,
    PROTO_TYPE_NEWDATE = 14,
    PROTO_TYPE_VARCHAR = 15,
    PROTO_TYPE_BIT = 16,
    PROTO_TYPE_TIMESTAMP2 = 17,
    PROTO_TYPE_DATETIME2 = 18,
    PROTO_TYPE_TIME2 = 19,
    PROTO_TYPE_JSON = 245,
    PROTO_TYPE_NEWDECIMAL = 246,
    PROTO_TYPE_ENUM = 247,
    PROTO_TYPE_SET = 248,
    PROTO_TYPE_TINY_BLOB = 249,
    PROTO_TYPE_MEDIUM_BLOB = 250,
    PROTO_TYPE_LONG_BLOB = 251,
    PROTO_TYPE_BLOB = 252,
    PROTO_TYPE_VAR_STRING = 253,
    PROTO_TYPE_STRING = 254,
    PROTO_TYPE_GEOMETRY = 255,
};

/* Parameter type as sent in COM_STMT_EXECUTE: type byte and the unsigned flag (0x80 of the
 * second byte). */
struct proto_param_type {
    uint8_t type;
    bool is_unsigned;
};

/* Parses a COM_STMT_PREPARE OK payload: 0x00, stmt id (4), column count (2), parameter count
 * (2), filler (1), warning count (2), and optionally MariaDB's metadata_follows byte. Returns
 * PROTO_ERROR when the first byte is not 0x00 or the payload is shorter than 12 bytes. */
enum proto_rc proto_prepare_ok_parse(const uint8_t *p, size_t len, uint32_t *stmt_id,
                                     uint16_t *cols, uint16_t *params);

/* Fixed head of COM_STMT_EXECUTE / COM_STMT_FETCH / COM_STMT_RESET / COM_STMT_CLOSE /
 * COM_STMT_SEND_LONG_DATA / COM_STMT_BULK_EXECUTE: the statement id after the command byte.
 * PROTO_ERROR for any other command byte or fewer than 5 bytes. MariaDB's 0xFFFFFFFF ("the
 * statement just prepared") is returned as is; resolving it is the caller's job. */
enum proto_rc proto_stmt_id_parse(const uint8_t *p, size_t len, uint32_t *stmt_id);

/* COM_STMT_SEND_LONG_DATA (p[0] == 0x18): statement id, parameter index and the data chunk
 * (pointer into p, may be empty). The server never answers this command. */
enum proto_rc proto_long_data_parse(const uint8_t *p, size_t len, uint32_t *stmt_id,
                                    uint16_t *param, const uint8_t **data, size_t *data_len);

/* A decoded parameter value, rendered as an SQL literal. */
struct proto_param_sink {
    /*
     * Called once per parameter in order with the literal text (e.g. `42`, `-1.5`,
     * `'O\'Reilly'`, `NULL`, `'2026-11-24 21:48:00.123456'`, `X'00ff'` for binary data). The
     * text is NUL-terminated and valid until the callback returns. When the raw value is longer
     * than max_value bytes, only its first max_value bytes are rendered (still a well-formed
     * literal) and `truncated` is true; the caller adds its own marker.
     */
    void (*param)(void *ctx, unsigned idx, const char *literal, size_t len, bool truncated);
    void *ctx;
    size_t max_value;  /* longest value rendered in full (bytes of the raw value), e.g. 1024;
                         0 = no limit */
    unsigned sql_mode; /* PROTO_SQLMODE_* of the session: strings are quoted as
                          proto_sql_quote does under it */
};

/* Long data a client sent for one parameter with COM_STMT_SEND_LONG_DATA (the first bytes, up
 * to what the caller kept, and the total length). */
struct proto_long_data {
    const uint8_t *data;
    size_t len;   /* bytes available in data */
    size_t total; /* bytes the client sent in all */
    bool present; /* this parameter was sent as long data */
};

/*
 * Decodes the parameters of a COM_STMT_EXECUTE payload (p[0] == 0x17) for a statement with
 * `nparams` parameters. `types` holds nparams entries: on input the types bound by the previous
 * execute (used when new_params_bound is 0), on output the types in force (written only when
 * the whole type block is present). `long_data` may be NULL or hold nparams entries: a present
 * entry is rendered instead of reading the parameter from the payload (as the server does, it
 * wins over the NULL bitmap), truncated when total > len. Calls sink->param once per
 * parameter, in order; `sink` may be NULL to only validate.
 *
 * Layout: 0x17, stmt id (4), flags (1), iteration count (4); when nparams > 0 the NULL bitmap
 * ((nparams+7)/8 bytes, bit i%8 of byte i/8), new_params_bound (1), 2 bytes per parameter when
 * it is 1 (type, flags with 0x80 = unsigned), then the values of the non-NULL parameters in the
 * binary protocol encoding. A new_params_bound other than 0 and 1 is PROTO_ERROR with `types`
 * untouched: MariaDB refuses it with ER_MALFORMED_PACKET and keeps the types it had
 * (stmt_execute_packet_sanity_check in sql/sql_prepare.cc; MySQL reads any non-zero value as 1,
 * but no client sends one). MySQL 8's CLIENT_QUERY_ATTRIBUTES changes this layout (parameter
 * count and names); slowtap clears that capability in the greeting, so it never appears.
 *
 * Literals: integers in decimal (unsigned flag honoured), FLOAT/DOUBLE with the fewest digits
 * that read back to the same value (at most %.9g / %.17g; NaN and infinities as 'nan', 'inf',
 * '-inf'), DECIMAL/NEWDECIMAL as sent when numeric, DATE as 'YYYY-MM-DD', DATETIME/TIMESTAMP as
 * 'YYYY-MM-DD HH:MM:SS[.ffffff]' (0, 4, 7, 11 byte forms), TIME as '[-]H:MM:SS[.ffffff]' with
 * days folded into the hours (0, 8, 12 byte forms), PROTO_TYPE_NULL and NULL bits as NULL.
 * Strings, blobs, JSON, ENUM, SET, BIT and GEOMETRY are quoted with proto_sql_quote under
 * sink->sql_mode when they are valid UTF-8 without control bytes other than tab, CR and LF,
 * and written as X'hex' otherwise. A sink->max_value of 0 means no limit. Rendering a value longer than 256 bytes
 * allocates a temporary buffer (malloc); if that fails the value is cut shorter and reported
 * as truncated.
 *
 * Returns PROTO_ERROR when the payload is malformed or a type is not a parameter type (then
 * some parameters may have been reported already), PROTO_OK otherwise. Never PROTO_AGAIN: the
 * payload must be complete.
 */
enum proto_rc proto_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                                   struct proto_param_type *types,
                                   const struct proto_long_data *long_data,
                                   const struct proto_param_sink *sink);

/* COM_STMT_BULK_EXECUTE (MariaDB 10.2.7+, 0xFA) flags and per-value indicator bytes. */
#define PROTO_BULK_SEND_UNIT_RESULTS    64
#define PROTO_BULK_SEND_TYPES_TO_SERVER 128
#define PROTO_BULK_IND_NONE             0 /* a value follows */
#define PROTO_BULK_IND_NULL             1 /* NULL */
#define PROTO_BULK_IND_DEFAULT          2 /* column default */
#define PROTO_BULK_IND_IGNORE           3 /* default for INSERT, column left alone by UPDATE */

/*
 * Decodes a MariaDB COM_STMT_BULK_EXECUTE payload (p[0] == 0xFA): stmt id (4), bulk flags (2),
 * when flags & PROTO_BULK_SEND_TYPES_TO_SERVER 2 bytes per parameter (type, flags with 0x80 =
 * unsigned), then rows until the end of the payload, each nparams values made of an indicator
 * byte (PROTO_BULK_IND_*) followed by the binary value only when the indicator is NONE.
 * `types` works as in proto_execute_params (the types of the previous execute are used when the
 * flag is clear). Calls sink->param for the parameters of the FIRST row only (NULL for the NULL
 * indicator, DEFAULT for DEFAULT and IGNORE), validates every other row and stores the number
 * of rows in *rows (may be 0 when the payload ends after the head). `sink` may be NULL.
 * Returns PROTO_ERROR when the payload is malformed (including a row cut short) or nparams is
 * 0 while row bytes follow.
 */
enum proto_rc proto_bulk_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                                        struct proto_param_type *types,
                                        const struct proto_param_sink *sink, uint32_t *rows);

/*
 * Writes `sql` with each `?` placeholder token replaced by literals[i] into `out` (capacity
 * cap, NUL-terminated, cut to fit). Returns the length it would have had uncut. Placeholders
 * beyond nlit (or with a NULL literal) are kept as `?`. The text is lexed by proto_sqllex
 * under `sqlmode` (PROTO_SQLMODE_*, the session's): a `?` inside a string, an identifier or a
 * comment is no placeholder; inside an executable comment it is.
 * With cap == 0, out may be NULL and only the length is returned.
 */
size_t proto_substitute(const char *sql, size_t sql_len, unsigned sqlmode,
                        const char *const *literals, const size_t *lit_lens, unsigned nlit,
                        char *out, size_t cap);

/*
 * The byte offsets of the `?` placeholder tokens of `sql`, found as proto_substitute finds
 * them (lexed under `sqlmode`), written to offs (up to max of them). Returns how many there
 * are, which may exceed max. A prepared statement's text is lexed once, at PREPARE.
 */
unsigned proto_placeholders(const char *sql, size_t sql_len, unsigned sqlmode, uint32_t *offs,
                            unsigned max);

/*
 * proto_substitute for a text whose placeholders are known: offs holds the nph offsets
 * proto_placeholders returned for it. No lexing; the output is proto_substitute's, byte for
 * byte (a placeholder beyond nlit or with a NULL literal stays `?`).
 */
size_t proto_substitute_at(const char *sql, size_t sql_len, const uint32_t *offs, unsigned nph,
                           const char *const *literals, const size_t *lit_lens, unsigned nlit,
                           char *out, size_t cap);

/*
 * Writes `s[0..n)` as an SQL string literal the server reads back as those bytes under
 * `sqlmode` into out; returns bytes written (cut to fit, never inside an escape pair, always
 * closed with a quote when cap >= 2 (>= 3 for X'..'); else 0) or the needed length if out is
 * NULL. A NUL terminator is added when bytes written < cap, and is not counted: allocate the
 * needed length + 1.
 *  - sqlmode without PROTO_SQLMODE_NO_BACKSLASH_ESCAPES: single-quoted with backslash escapes
 *    for ', ", \, NUL, \n, \r, \x1a, as mysql_real_escape_string does.
 *  - with it: single-quoted, a ' doubled, every other byte as is (`' OR '1'='1` is written
 *    `''' OR ''1''=''1'`); a value holding NUL or \x1a is written X'hex' instead.
 */
size_t proto_sql_quote(const uint8_t *s, size_t n, unsigned sqlmode, char *out, size_t cap);

#endif
