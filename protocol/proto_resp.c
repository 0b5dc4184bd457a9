/*
 * proto_resp.c - the response state machine: where the server's answer to each command ends,
 * and what it said (rows, affected rows, status flags, error).
 *
 * One transition function, proto_resp_feed, dispatches on the state; every state names what
 * it expects next. The 0xFE ambiguity is resolved in one place, is_end_packet().
 */
#include <stddef.h>
#include <string.h>

#include "protocol/proto_packet.h"
#include "protocol/proto_resp.h"
#include "protocol/proto_wire.h"

#define PROGRESS_CODE 0xFFFF

static bool
deprecate_eof(const struct proto_resp *r)
{
    return (r->caps & PROTO_CAP_DEPRECATE_EOF) != 0;
}

/*
 * Is this 0xFE packet the end of a block (EOF, or the OK that replaces it under
 * DEPRECATE_EOF) rather than a row whose first value has an 8-byte length? An EOF is shorter
 * than 9 bytes; the OK that replaces it is shorter than a full physical packet, while such a
 * row is at least 2^24 bytes long.
 */
static bool
is_end_packet(const struct proto_resp *r, const uint8_t *p, size_t avail, size_t len)
{
    if (avail < 1 || p[0] != PROTO_EOF_HDR) {
        return false;
    }
    return deprecate_eof(r) ? len < PROTO_MAX_PAYLOAD : len < 9;
}

const char *
proto_com_name(uint8_t cmd)
{
    switch (cmd) {
    case PROTO_COM_SLEEP:
        return "Sleep";
    case PROTO_COM_QUIT:
        return "Quit";
    case PROTO_COM_INIT_DB:
        return "Init DB";
    case PROTO_COM_QUERY:
        return "Query";
    case PROTO_COM_FIELD_LIST:
        return "Field List";
    case PROTO_COM_CREATE_DB:
        return "Create DB";
    case PROTO_COM_DROP_DB:
        return "Drop DB";
    case PROTO_COM_REFRESH:
        return "Refresh";
    case PROTO_COM_SHUTDOWN:
        return "Shutdown";
    case PROTO_COM_STATISTICS:
        return "Statistics";
    case PROTO_COM_PROCESS_INFO:
        return "Processlist";
    case PROTO_COM_CONNECT:
        return "Connect";
    case PROTO_COM_PROCESS_KILL:
        return "Kill";
    case PROTO_COM_DEBUG:
        return "Debug";
    case PROTO_COM_PING:
        return "Ping";
    case PROTO_COM_TIME:
        return "Time";
    case PROTO_COM_DELAYED_INSERT:
        return "Delayed insert";
    case PROTO_COM_CHANGE_USER:
        return "Change user";
    case PROTO_COM_BINLOG_DUMP:
        return "Binlog Dump";
    case PROTO_COM_TABLE_DUMP:
        return "Table Dump";
    case PROTO_COM_CONNECT_OUT:
        return "Connect Out";
    case PROTO_COM_REGISTER_SLAVE:
        return "Register Slave";
    case PROTO_COM_STMT_PREPARE:
        return "Prepare";
    case PROTO_COM_STMT_EXECUTE:
        return "Execute";
    case PROTO_COM_STMT_SEND_LONG_DATA:
        return "Long Data";
    case PROTO_COM_STMT_CLOSE:
        return "Close stmt";
    case PROTO_COM_STMT_RESET:
        return "Reset stmt";
    case PROTO_COM_SET_OPTION:
        return "Set option";
    case PROTO_COM_STMT_FETCH:
        return "Fetch";
    case PROTO_COM_DAEMON:
        return "Daemon";
    case PROTO_COM_BINLOG_DUMP_GTID:
        return "Binlog Dump GTID";
    case PROTO_COM_RESET_CONNECTION:
        return "Reset connection";
    case PROTO_COM_STMT_BULK_EXECUTE:
        return "Bulk_execute";
    default:
        return NULL;
    }
}

_Static_assert(offsetof(struct proto_resp, err_msg) < offsetof(struct proto_resp, infile) &&
                   offsetof(struct proto_resp, infile) < offsetof(struct proto_resp, infile_name) &&
                   offsetof(struct proto_resp, infile_name) < offsetof(struct proto_resp, cursor),
               "proto_resp_begin's zeroed ranges are in this order");

void
proto_resp_begin(struct proto_resp *r, uint8_t cmd, uint64_t caps)
{
    /* zeroed but for the two message buffers, which get an empty string: ~520 of the
     * structure's ~600 bytes, written only with an ERR or a LOCAL INFILE request */
    memset(r, 0, offsetof(struct proto_resp, err_msg));
    r->err_msg[0] = '\0';
    memset(&r->infile, 0, sizeof r->infile);
    r->infile_name[0] = '\0';
    memset(&r->cursor, 0, sizeof *r - offsetof(struct proto_resp, cursor));
    r->cmd = cmd;
    r->caps = caps;
    r->binary = cmd == PROTO_COM_STMT_EXECUTE || cmd == PROTO_COM_STMT_FETCH ||
                cmd == PROTO_COM_STMT_BULK_EXECUTE;
    switch (cmd) {
    case PROTO_COM_FIELD_LIST:
        r->state = PROTO_RS_FIELDS;
        break;
    case PROTO_COM_CHANGE_USER:
        r->state = PROTO_RS_AUTH;
        break;
    case PROTO_COM_STMT_FETCH:
        r->state = PROTO_RS_ROWS;
        break;
    default:
        r->state = PROTO_RS_FIRST;
        break;
    }
}

void
proto_resp_cursor_requested(struct proto_resp *r)
{
    r->cursor_requested = r->cmd == PROTO_COM_STMT_EXECUTE;
}

bool
proto_execute_asks_cursor(const uint8_t *p, size_t len)
{
    return len >= 6 && p[0] == PROTO_COM_STMT_EXECUTE && (p[5] & PROTO_CURSOR_TYPE_MASK) != 0;
}

bool
proto_com_has_response(uint8_t cmd)
{
    return cmd != PROTO_COM_QUIT && cmd != PROTO_COM_STMT_CLOSE &&
           cmd != PROTO_COM_STMT_SEND_LONG_DATA;
}

bool
proto_resp_wants_client(const struct proto_resp *r)
{
    return r->state == PROTO_RS_INFILE_DATA || r->state == PROTO_RS_AUTH;
}

void
proto_resp_client_packet(struct proto_resp *r, size_t len)
{
    if (r->state == PROTO_RS_INFILE_DATA && len == 0) {
        r->state = PROTO_RS_INFILE_RESULT;
    }
}

static enum proto_rc
finish(struct proto_resp *r)
{
    r->state = PROTO_RS_DONE;
    return PROTO_OK;
}

static enum proto_rc
on_err(struct proto_resp *r, const uint8_t *p, size_t avail)
{
    struct proto_err e;
    if (proto_err_parse(p, avail, &e) != PROTO_OK) {
        r->err_code = 0xFFFF;
        strcpy(r->err_msg, "malformed ERR packet");
        return finish(r);
    }
    r->err_code = e.code;
    memcpy(r->err_sqlstate, e.sqlstate, sizeof r->err_sqlstate);
    size_t n = e.msg_len < sizeof r->err_msg - 1 ? e.msg_len : sizeof r->err_msg - 1;
    memcpy(r->err_msg, e.msg, n);
    r->err_msg[n] = '\0';
    return finish(r);
}

static void
note_status(struct proto_resp *r, uint16_t status, uint16_t warnings)
{
    r->status = status;
    r->status_or |= status;
    r->status_seen = true;
    r->warnings = warnings;
}

/* An OK packet (0x00, or 0xFE under DEPRECATE_EOF): ends the response unless more results
 * follow. */
static enum proto_rc
on_ok(struct proto_resp *r, const uint8_t *p, size_t avail)
{
    struct proto_ok ok;
    if (proto_ok_parse(p, avail, &ok) != PROTO_OK) {
        return PROTO_ERROR;
    }
    r->rows_affected += ok.affected_rows;
    r->insert_id = ok.insert_id;
    r->results++;
    note_status(r, ok.status, ok.warnings);
    if (ok.status & PROTO_SERVER_MORE_RESULTS_EXISTS) {
        r->state = PROTO_RS_FIRST;
        return PROTO_AGAIN;
    }
    return finish(r);
}

/* The packet that ends a block: EOF (short 0xFE) or, under DEPRECATE_EOF, an OK with 0xFE. */
static enum proto_rc
read_end(struct proto_resp *r, const uint8_t *p, size_t avail, size_t len, uint16_t *status)
{
    uint16_t warnings = 0;
    if (len < 9) {
        if (proto_eof_parse(p, avail, &warnings, status) != PROTO_OK) {
            return PROTO_ERROR;
        }
    } else {
        struct proto_ok ok;
        if (proto_ok_parse(p, avail, &ok) != PROTO_OK) {
            return PROTO_ERROR;
        }
        *status = ok.status;
        warnings = ok.warnings;
        r->rows_affected += ok.affected_rows;
    }
    note_status(r, *status, warnings);
    return PROTO_OK;
}

/*
 * Does this end-of-block status mean that COM_STMT_EXECUTE opened a cursor (the rows then come
 * with COM_STMT_FETCH)? Only when the execute asked for one and this is the first and only
 * result set: the server also sets CURSOR_EXISTS for cursors of its own (result sets sent
 * from inside a stored procedure's cursor loop, over either protocol), and there it means
 * nothing to the client.
 */
static bool
opens_cursor(const struct proto_resp *r, uint16_t status)
{
    return r->cursor_requested && r->results == 0 &&
           (status & PROTO_SERVER_STATUS_CURSOR_EXISTS) != 0 &&
           !(status & PROTO_SERVER_MORE_RESULTS_EXISTS);
}

/* End of a result set's rows: the response ends unless more results follow. */
static enum proto_rc
end_of_rows(struct proto_resp *r, const uint8_t *p, size_t avail, size_t len)
{
    uint16_t status;
    if (read_end(r, p, avail, len, &status) != PROTO_OK) {
        return PROTO_ERROR;
    }
    bool cursor = opens_cursor(r, status);
    r->results++;
    if (status & PROTO_SERVER_MORE_RESULTS_EXISTS) {
        r->state = PROTO_RS_FIRST;
        return PROTO_AGAIN;
    }
    r->cursor = cursor;
    return finish(r);
}

/* Column count packet: lenenc count, then (MariaDB CACHE_METADATA, MySQL
 * OPTIONAL_RESULTSET_METADATA) a byte saying whether the column definitions follow. */
static enum proto_rc
on_column_count(struct proto_resp *r, const uint8_t *p, size_t avail)
{
    struct proto_rd rd;
    proto_rd_init(&rd, p, avail);
    uint64_t cols = proto_rd_lenenc(&rd);
    if (rd.err || cols == 0) {
        return PROTO_ERROR;
    }
    bool metadata = true;
    if (proto_rd_left(&rd) >= 1 &&
        (r->caps & (PROTO_CAP_MARIADB_CACHE_METADATA | PROTO_CAP_OPTIONAL_RESULTSET_META))) {
        metadata = proto_rd_u8(&rd) != 0;
    }
    r->result_cols = cols;
    if (metadata) {
        r->cols_left = cols;
        r->state = PROTO_RS_COLDEFS;
    } else {
        r->state = deprecate_eof(r) ? PROTO_RS_ROWS : PROTO_RS_COLDEFS_EOF;
    }
    return PROTO_AGAIN;
}

/* COM_STMT_PREPARE OK: 0x00, id(4), columns(2), params(2), filler(1), warnings(2),
 * optionally metadata_follows(1). */
static enum proto_rc
on_prepare_ok(struct proto_resp *r, const uint8_t *p, size_t avail)
{
    if (avail < 12) {
        return PROTO_ERROR;
    }
    r->stmt_id = proto_le32(p + 1);
    r->stmt_cols = proto_le16(p + 5);
    r->stmt_params = proto_le16(p + 7);
    r->warnings = proto_le16(p + 10);
    r->prepared = true;
    r->results++;
    bool metadata = avail < 13 || p[12] != 0;
    if (!metadata) {
        return finish(r);
    }
    if (r->stmt_params) {
        r->cols_left = r->stmt_params;
        r->state = PROTO_RS_PREP_PARAMS;
        return PROTO_AGAIN;
    }
    if (r->stmt_cols) {
        r->cols_left = r->stmt_cols;
        r->state = PROTO_RS_PREP_COLS;
        return PROTO_AGAIN;
    }
    return finish(r);
}

static bool
returns_result_sets(uint8_t cmd)
{
    return cmd == PROTO_COM_QUERY || cmd == PROTO_COM_STMT_EXECUTE ||
           cmd == PROTO_COM_STMT_BULK_EXECUTE || cmd == PROTO_COM_PROCESS_INFO;
}

/* Commands answered by OK, ERR or EOF only. */
static bool
returns_status_only(uint8_t cmd)
{
    switch (cmd) {
    case PROTO_COM_INIT_DB:
    case PROTO_COM_CREATE_DB:
    case PROTO_COM_DROP_DB:
    case PROTO_COM_REFRESH:
    case PROTO_COM_SHUTDOWN:
    case PROTO_COM_PROCESS_KILL:
    case PROTO_COM_DEBUG:
    case PROTO_COM_PING:
    case PROTO_COM_STMT_PREPARE:
    case PROTO_COM_STMT_RESET:
    case PROTO_COM_SET_OPTION:
    case PROTO_COM_RESET_CONNECTION:
        return true;
    default:
        return false;
    }
}

static enum proto_rc
on_first(struct proto_resp *r, const uint8_t *p, size_t avail, size_t len)
{
    if (r->cmd == PROTO_COM_STATISTICS) {
        return finish(r); /* a single string packet */
    }
    if (avail == 0) {
        return PROTO_ERROR;
    }
    switch (p[0]) {
    case PROTO_ERR_HDR:
        return on_err(r, p, avail);
    case PROTO_OK_HDR:
        if (r->cmd == PROTO_COM_STMT_PREPARE) {
            return on_prepare_ok(r, p, avail);
        }
        return on_ok(r, p, avail);
    case PROTO_EOF_HDR:
        if (returns_result_sets(r->cmd) || r->cmd == PROTO_COM_STMT_PREPARE) {
            return PROTO_ERROR; /* a 0xFE packet only ends a result set */
        }
        if (len < 9) {
            /* An EOF answers COM_SET_OPTION and the like. */
            uint16_t warnings, status;
            if (proto_eof_parse(p, avail, &warnings, &status) != PROTO_OK) {
                return PROTO_ERROR;
            }
            note_status(r, status, warnings);
            return finish(r);
        }
        return on_ok(r, p, avail);
    case PROTO_INFILE_HDR:
        /* LOAD DATA LOCAL INFILE, as a query or as a prepared statement. */
        if (r->cmd != PROTO_COM_QUERY && r->cmd != PROTO_COM_STMT_EXECUTE) {
            return PROTO_ERROR;
        }
        r->infile = true;
        {
            size_t n =
                avail - 1 < sizeof r->infile_name - 1 ? avail - 1 : sizeof r->infile_name - 1;
            memcpy(r->infile_name, p + 1, n);
            r->infile_name[n] = '\0';
        }
        r->state = PROTO_RS_INFILE_DATA;
        return PROTO_AGAIN;
    default:
        if (returns_result_sets(r->cmd)) {
            return on_column_count(r, p, avail);
        }
        if (returns_status_only(r->cmd)) {
            return PROTO_ERROR;
        }
        /* A command slowtap does not know: its answer is taken to be one packet. */
        return finish(r);
    }
}

enum proto_rc
proto_resp_feed(struct proto_resp *r, const uint8_t *p, size_t avail, size_t len)
{
    if (avail > len) {
        avail = len;
    }
    /* MariaDB progress reports (only to a client that asked for them) come before the real
     * response and are not errors. */
    if (avail >= 3 && p[0] == PROTO_ERR_HDR && proto_le16(p + 1) == PROGRESS_CODE &&
        (r->caps & PROTO_CAP_MARIADB_PROGRESS) && r->state != PROTO_RS_DONE) {
        return PROTO_AGAIN;
    }
    switch (r->state) {
    case PROTO_RS_FIRST:
        return on_first(r, p, avail, len);

    case PROTO_RS_COLDEFS:
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        if (--r->cols_left == 0) {
            r->state = deprecate_eof(r) ? PROTO_RS_ROWS : PROTO_RS_COLDEFS_EOF;
        }
        return PROTO_AGAIN;

    case PROTO_RS_COLDEFS_EOF: {
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        uint16_t status;
        if (!is_end_packet(r, p, avail, len) || read_end(r, p, avail, len, &status) != PROTO_OK) {
            return PROTO_ERROR;
        }
        if (opens_cursor(r, status)) {
            /* A cursor was opened: rows come with COM_STMT_FETCH. */
            r->cursor = true;
            r->results++;
            return finish(r);
        }
        r->state = PROTO_RS_ROWS;
        return PROTO_AGAIN;
    }

    case PROTO_RS_ROWS:
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        if (is_end_packet(r, p, avail, len)) {
            if (r->cmd == PROTO_COM_STMT_FETCH) {
                uint16_t status;
                if (read_end(r, p, avail, len, &status) != PROTO_OK) {
                    return PROTO_ERROR;
                }
                return finish(r);
            }
            return end_of_rows(r, p, avail, len);
        }
        if (r->binary && (avail == 0 || p[0] != 0x00)) {
            return PROTO_ERROR; /* binary rows start with 0x00 */
        }
        r->rows_sent++;
        return PROTO_AGAIN;

    case PROTO_RS_PREP_PARAMS:
        if (--r->cols_left == 0) {
            if (!deprecate_eof(r)) {
                r->state = PROTO_RS_PREP_PARAMS_EOF;
            } else if (r->stmt_cols) {
                r->cols_left = r->stmt_cols;
                r->state = PROTO_RS_PREP_COLS;
            } else {
                return finish(r);
            }
        }
        return PROTO_AGAIN;

    case PROTO_RS_PREP_PARAMS_EOF:
        if (!is_end_packet(r, p, avail, len)) {
            return PROTO_ERROR;
        }
        if (r->stmt_cols) {
            r->cols_left = r->stmt_cols;
            r->state = PROTO_RS_PREP_COLS;
            return PROTO_AGAIN;
        }
        return finish(r);

    case PROTO_RS_PREP_COLS:
        if (--r->cols_left == 0) {
            if (deprecate_eof(r)) {
                return finish(r);
            }
            r->state = PROTO_RS_PREP_COLS_EOF;
        }
        return PROTO_AGAIN;

    case PROTO_RS_PREP_COLS_EOF:
        if (!is_end_packet(r, p, avail, len)) {
            return PROTO_ERROR;
        }
        return finish(r);

    case PROTO_RS_FIELDS:
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        if (is_end_packet(r, p, avail, len)) {
            uint16_t status;
            if (read_end(r, p, avail, len, &status) != PROTO_OK) {
                return PROTO_ERROR;
            }
            return finish(r);
        }
        return PROTO_AGAIN;

    case PROTO_RS_INFILE_DATA:
        /* The server may refuse the transfer before it ends. */
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        return PROTO_ERROR;

    case PROTO_RS_INFILE_RESULT:
        if (avail && p[0] == PROTO_ERR_HDR) {
            return on_err(r, p, avail);
        }
        if (avail && p[0] == PROTO_OK_HDR) {
            return on_ok(r, p, avail);
        }
        return PROTO_ERROR;

    case PROTO_RS_AUTH:
        if (avail == 0) {
            return PROTO_ERROR;
        }
        switch (p[0]) {
        case PROTO_OK_HDR:
            return on_ok(r, p, avail);
        case PROTO_ERR_HDR:
            return on_err(r, p, avail);
        case PROTO_EOF_HDR:      /* auth switch request */
        case PROTO_AUTHMORE_HDR: /* more authentication data */
            return PROTO_AGAIN;
        default:
            return PROTO_ERROR;
        }

    case PROTO_RS_DONE:
    default:
        return PROTO_ERROR;
    }
}
