/*
 * proto_stmt.h - prepared statements on the wire: the COM_STMT_PREPARE OK, the parameters of
 * COM_STMT_EXECUTE (binary protocol values of every type, the NULL bitmap, new_params_bound=0
 * reusing earlier types, values sent by COM_STMT_SEND_LONG_DATA), and rendering the values as
 * SQL literals so a statement can be logged with its parameters substituted.
 */
#ifndef SLOWTAP_PROTO_STMT_H
#define SLOWTAP_PROTO_STMT_H

#include "proto.h"

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

/* Parses a COM_STMT_PREPARE OK payload (first byte 0x00). */
enum proto_rc proto_prepare_ok_parse(const uint8_t *p, size_t len, uint32_t *stmt_id,
                                     uint16_t *cols, uint16_t *params);

/* Fixed head of COM_STMT_EXECUTE / COM_STMT_FETCH / COM_STMT_RESET / COM_STMT_CLOSE /
 * COM_STMT_SEND_LONG_DATA: the statement id after the command byte. */
enum proto_rc proto_stmt_id_parse(const uint8_t *p, size_t len, uint32_t *stmt_id);

/* COM_STMT_SEND_LONG_DATA: statement id, parameter index and the data chunk (pointer into p). */
enum proto_rc proto_long_data_parse(const uint8_t *p, size_t len, uint32_t *stmt_id,
                                    uint16_t *param, const uint8_t **data, size_t *data_len);

/* A decoded parameter value, rendered as an SQL literal. */
struct proto_param_sink {
    /*
     * Called once per parameter in order with the literal text (e.g. `42`, `-1.5`,
     * `'O\'Reilly'`, `NULL`, `'2026-11-24 21:48:00.123456'`, `X'00ff'` for binary data). The
     * text is valid until the callback returns. When the raw value is longer than max_value
     * bytes, only its first max_value bytes are rendered (still a well-formed literal) and
     * `truncated` is true; the caller adds its own marker.
     */
    void (*param)(void *ctx, unsigned idx, const char *literal, size_t len, bool truncated);
    void *ctx;
    size_t max_value; /* longest value rendered in full (bytes of the raw value), e.g. 1024 */
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
 * execute (used when new_params_bound is 0), on output the types in force. `long_data` may be
 * NULL or hold nparams entries. Calls sink->param once per parameter, in order.
 * Returns PROTO_ERROR when the payload is malformed (then some parameters may have been
 * reported already).
 */
enum proto_rc proto_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                                   struct proto_param_type *types,
                                   const struct proto_long_data *long_data,
                                   const struct proto_param_sink *sink);

/*
 * Writes `sql` with each `?` placeholder (outside quotes, backticks and comments) replaced by
 * literals[i] into `out` (capacity cap, NUL-terminated, cut to fit). Returns the length it
 * would have had uncut. Placeholders beyond nlit are kept as `?`.
 */
size_t proto_substitute(const char *sql, size_t sql_len, const char *const *literals,
                        const size_t *lit_lens, unsigned nlit, char *out, size_t cap);

/*
 * Escapes `s[0..n)` as a single-quoted SQL string literal (backslash escapes for ', \, NUL,
 * \n, \r, \x1a, as mysql_real_escape_string does) into out; returns bytes written (cut to
 * fit, always closed with a quote when cap >= 2) or the needed length if out is NULL.
 */
size_t proto_sql_quote(const uint8_t *s, size_t n, char *out, size_t cap);

#endif
