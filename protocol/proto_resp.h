/*
 * proto_resp.h - the response state machine: knows where the server's response to each
 * command ends, and collects what the slow log needs from it (rows sent, rows affected, status
 * flags, the error).
 *
 * It is fed logical packets one at a time (the framer in proto_packet.h finds them): the first
 * bytes of the payload and the length of the first physical packet. Continuation packets of a
 * payload of 16 MiB or more are not fed. It also hears of the client's packets while a response
 * is in progress (LOCAL INFILE data, authentication data of COM_CHANGE_USER).
 */
#ifndef SLOWTAP_PROTO_RESP_H
#define SLOWTAP_PROTO_RESP_H

#include "protocol/proto.h"

/*
 * Rules: a packet type or status flag is trusted only where the command that was sent gives it
 * a meaning.
 * - SERVER_STATUS_CURSOR_EXISTS ends a response after the column definitions only when the
 *   command was a COM_STMT_EXECUTE whose flags asked for a cursor
 *   (proto_resp_cursor_requested), in its first result set, without MORE_RESULTS_EXISTS. The
 *   server also sets it on result sets that a stored procedure's own cursor loop sends (text
 *   protocol and prepared CALL alike); there it is ignored.
 * - SERVER_MORE_RESULTS_EXISTS on an OK or end-of-rows packet means another result follows; an
 *   ERR always ends the response (the server stops a multi-statement or CALL at its first error).
 * - SERVER_PS_OUT_PARAMS marks the result set of a CALL's OUT parameters: an ordinary binary
 *   result set for this machine, followed by the CALL's final OK.
 * - SERVER_STATUS_LAST_ROW_SENT is informational: a COM_STMT_FETCH response always ends with its
 *   EOF/OK, whether or not the cursor is exhausted.
 * - Progress reports (ERR header with code 0xFFFF) are skipped only when the client negotiated
 *   MARIADB_CLIENT_PROGRESS; otherwise such a packet is an ordinary ERR.
 * - 0xFE starts an end packet only when shorter than 9 bytes (an EOF) or, with DEPRECATE_EOF,
 *   when shorter than a full 16 MiB physical packet (the OK that replaces the EOF); otherwise it
 *   is a row whose first value has an 8-byte length.
 * - 0xFB (LOCAL INFILE request) is valid as the first packet of the answer to COM_QUERY and to
 *   COM_STMT_EXECUTE (a prepared LOAD DATA LOCAL INFILE).
 * - MARIADB_CLIENT_CACHE_METADATA / OPTIONAL_RESULTSET_METADATA: a column count may be followed
 *   by metadata_follows = 0: then no column definitions come (the EOF after them still does
 *   unless DEPRECATE_EOF); the prepare OK may carry the same byte.
 */

/* The cursor bits of COM_STMT_EXECUTE's flags byte (CURSOR_TYPE_READ_ONLY, FOR_UPDATE,
 * SCROLLABLE). */
#define PROTO_CURSOR_TYPE_MASK 0x07u

/* How many payload bytes a caller must offer for each fed packet (fewer only when the packet
 * is shorter): enough for OK, EOF, column counts, the prepare OK, ERR messages, and the file
 * name of a LOCAL INFILE request. */
#define PROTO_RESP_PEEK 512u

enum proto_resp_state {
    PROTO_RS_FIRST,       /* expecting the first packet of a (next) result */
    PROTO_RS_COLDEFS,     /* column definitions of a result set */
    PROTO_RS_COLDEFS_EOF, /* the EOF after column definitions */
    PROTO_RS_ROWS,        /* rows until EOF/OK or ERR */
    PROTO_RS_PREP_PARAMS, /* COM_STMT_PREPARE: parameter definitions */
    PROTO_RS_PREP_PARAMS_EOF,
    PROTO_RS_PREP_COLS, /* COM_STMT_PREPARE: column definitions */
    PROTO_RS_PREP_COLS_EOF,
    PROTO_RS_FIELDS,        /* COM_FIELD_LIST: column definitions until EOF */
    PROTO_RS_INFILE_DATA,   /* LOCAL INFILE: the client is sending the file */
    PROTO_RS_INFILE_RESULT, /* LOCAL INFILE: file sent, expecting OK or ERR */
    PROTO_RS_AUTH,          /* COM_CHANGE_USER: authentication exchange until OK or ERR */
    PROTO_RS_DONE,
};

struct proto_resp {
    uint8_t cmd;   /* the command being answered */
    uint64_t caps; /* capabilities negotiated by client and server */
    enum proto_resp_state state;
    uint64_t cols_left;   /* definitions still to come in the current block */
    uint64_t result_cols; /* columns of the current result set */
    bool binary;          /* rows use the binary protocol (COM_STMT_EXECUTE/FETCH) */

    /* What the response said, accumulated over a multi-result chain. */
    uint64_t rows_sent;     /* rows of every result set */
    uint64_t rows_affected; /* sum of affected_rows of the OK packets */
    uint64_t insert_id;     /* of the last OK packet */
    uint16_t status;        /* status flags of the last OK/EOF */
    bool status_seen;       /* an OK/EOF with status flags was seen (else status is 0) */
    uint16_t status_or;     /* all status flags seen in OK/EOF packets, OR'ed */
    uint16_t warnings;      /* of the last OK/EOF */
    uint32_t results;       /* result sets and OKs in the chain */
    uint16_t err_code;      /* 0, or the ERR that ended the response */
    char err_sqlstate[6];
    char err_msg[256];     /* NUL-terminated, cut to fit */
    bool infile;           /* the server asked for a LOCAL INFILE */
    char infile_name[256]; /* file name the server asked for */
    bool cursor;           /* COM_STMT_EXECUTE opened a cursor (no rows in this response) */
    bool cursor_requested; /* the execute's flags asked for a cursor */

    /* COM_STMT_PREPARE OK */
    uint32_t stmt_id;
    uint16_t stmt_cols;
    uint16_t stmt_params;
    bool prepared; /* a prepare OK was received */
};

/* Starts tracking the response to command `cmd` under the negotiated capabilities `caps`. */
void proto_resp_begin(struct proto_resp *r, uint8_t cmd, uint64_t caps);

/* The COM_STMT_EXECUTE being answered asked for a cursor: call after proto_resp_begin. Without
 * it, SERVER_STATUS_CURSOR_EXISTS never ends a response early. */
void proto_resp_cursor_requested(struct proto_resp *r);

/* True when the COM_STMT_EXECUTE payload `p[0..len)` (command byte first) asks for a cursor. */
bool proto_execute_asks_cursor(const uint8_t *p, size_t len);

/* True when the command gets no response at all (COM_QUIT, COM_STMT_CLOSE,
 * COM_STMT_SEND_LONG_DATA). */
bool proto_com_has_response(uint8_t cmd);

/*
 * Feeds the next logical packet from the server: `p` holds the first `avail` bytes of the
 * payload, `len` is the length of its first physical packet (avail >= min(len,
 * PROTO_RESP_PEEK)). Returns PROTO_OK when this packet ends the response, PROTO_AGAIN when more
 * packets follow (from the server, or from the client: see proto_resp_wants_client), and
 * PROTO_ERROR when the packet cannot occur at this point.
 */
enum proto_rc proto_resp_feed(struct proto_resp *r, const uint8_t *p, size_t avail, size_t len);

/*
 * The fast path of proto_resp_feed for the rows of a result set: a packet whose payload starts
 * with `first` and whose first physical packet has `len` (> 0) bytes. Returns true, having
 * counted the row exactly as proto_resp_feed would, when the packet is a row for certain (not
 * an ERR, EOF/OK or progress report candidate: no 0xFF or 0xFE first byte; 0x00 in binary
 * rows); false when the caller must call proto_resp_feed. Needs no payload byte but the first.
 */
/*
 * Whether a packet of a result set's rows (text rows, or binary rows with `binary`) whose
 * payload starts with `first` and whose first physical packet has `len` bytes is a row for
 * certain: not empty, no 0xFF (ERR) or 0xFE (EOF/OK, or a row proto_resp_feed must look at)
 * first byte, 0x00 first for binary rows.
 */
static inline bool
proto_row_for_certain(bool binary, uint8_t first, size_t len)
{
    return len != 0 && (binary ? first == 0x00 : first != PROTO_ERR_HDR && first != PROTO_EOF_HDR);
}

static inline bool
proto_resp_row(struct proto_resp *r, uint8_t first, size_t len)
{
    if (r->state != PROTO_RS_ROWS || !proto_row_for_certain(r->binary, first, len)) {
        return false;
    }
    r->rows_sent++;
    return true;
}

/* True when the next packets come from the client as part of this response: LOCAL INFILE data
 * or authentication data of COM_CHANGE_USER. */
bool proto_resp_wants_client(const struct proto_resp *r);

/* Feeds one logical packet the client sent while proto_resp_wants_client() was true; `len` is
 * its length (0 ends a LOCAL INFILE transfer). */
void proto_resp_client_packet(struct proto_resp *r, size_t len);

#endif
