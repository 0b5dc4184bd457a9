/*
 * proto.h - constants of the MySQL/MariaDB client/server protocol shared by every parser in
 * protocol/, and the ok/again/error result every parser returns.
 *
 * Everything in protocol/ is pure: functions over byte buffers, no sockets, no libevent, no
 * allocation unless a function says so. The proxy, the unit tests and the fuzzers use it alike.
 */
#ifndef SLOWTAP_PROTO_H
#define SLOWTAP_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Result of every resumable parser: done, need more input, or the input cannot be valid. */
enum proto_rc {
    PROTO_ERROR = -1,
    PROTO_OK = 0,
    PROTO_AGAIN = 1,
};

/* Framing */
#define PROTO_HDR_LEN     4u
#define PROTO_MAX_PAYLOAD 0xFFFFFFu

/* Capability flags (low 32 bits: MySQL; bits 32..63: MariaDB extended capabilities). */
#define PROTO_CAP_MYSQL                      (1ull << 0) /* MariaDB: clear = extended caps present */
#define PROTO_CAP_FOUND_ROWS                 (1ull << 1)
#define PROTO_CAP_LONG_FLAG                  (1ull << 2)
#define PROTO_CAP_CONNECT_WITH_DB            (1ull << 3)
#define PROTO_CAP_NO_SCHEMA                  (1ull << 4)
#define PROTO_CAP_COMPRESS                   (1ull << 5)
#define PROTO_CAP_ODBC                       (1ull << 6)
#define PROTO_CAP_LOCAL_FILES                (1ull << 7)
#define PROTO_CAP_IGNORE_SPACE               (1ull << 8)
#define PROTO_CAP_PROTOCOL_41                (1ull << 9)
#define PROTO_CAP_INTERACTIVE                (1ull << 10)
#define PROTO_CAP_SSL                        (1ull << 11)
#define PROTO_CAP_IGNORE_SIGPIPE             (1ull << 12)
#define PROTO_CAP_TRANSACTIONS               (1ull << 13)
#define PROTO_CAP_RESERVED                   (1ull << 14)
#define PROTO_CAP_SECURE_CONNECTION          (1ull << 15)
#define PROTO_CAP_MULTI_STATEMENTS           (1ull << 16)
#define PROTO_CAP_MULTI_RESULTS              (1ull << 17)
#define PROTO_CAP_PS_MULTI_RESULTS           (1ull << 18)
#define PROTO_CAP_PLUGIN_AUTH                (1ull << 19)
#define PROTO_CAP_CONNECT_ATTRS              (1ull << 20)
#define PROTO_CAP_PLUGIN_AUTH_LENENC_DATA    (1ull << 21)
#define PROTO_CAP_CAN_HANDLE_EXPIRED_PASSWDS (1ull << 22)
#define PROTO_CAP_SESSION_TRACK              (1ull << 23)
#define PROTO_CAP_DEPRECATE_EOF              (1ull << 24)
#define PROTO_CAP_OPTIONAL_RESULTSET_META    (1ull << 25)
#define PROTO_CAP_ZSTD_COMPRESSION           (1ull << 26)
#define PROTO_CAP_QUERY_ATTRIBUTES           (1ull << 27)
#define PROTO_CAP_MULTI_FACTOR_AUTH          (1ull << 28)
#define PROTO_CAP_SSL_VERIFY_SERVER_CERT     (1ull << 30)
#define PROTO_CAP_REMEMBER_OPTIONS           (1ull << 31)
/* MariaDB extended capabilities, stored shifted into the high 32 bits. */
#define PROTO_CAP_MARIADB_PROGRESS          (1ull << 32)
#define PROTO_CAP_MARIADB_COM_MULTI         (1ull << 33)
#define PROTO_CAP_MARIADB_STMT_BULK         (1ull << 34)
#define PROTO_CAP_MARIADB_EXTENDED_METADATA (1ull << 35)
#define PROTO_CAP_MARIADB_CACHE_METADATA    (1ull << 36)

/* Server status flags carried by OK and EOF packets. */
#define PROTO_SERVER_STATUS_IN_TRANS       0x0001
#define PROTO_SERVER_STATUS_AUTOCOMMIT     0x0002
#define PROTO_SERVER_MORE_RESULTS_EXISTS   0x0008
#define PROTO_SERVER_QUERY_NO_GOOD_INDEX   0x0010
#define PROTO_SERVER_QUERY_NO_INDEX        0x0020
#define PROTO_SERVER_STATUS_CURSOR_EXISTS  0x0040
#define PROTO_SERVER_STATUS_LAST_ROW_SENT  0x0080
#define PROTO_SERVER_STATUS_DB_DROPPED     0x0100
#define PROTO_SERVER_NO_BACKSLASH_ESCAPES  0x0200
#define PROTO_SERVER_PS_OUT_PARAMS         0x1000
#define PROTO_SERVER_SESSION_STATE_CHANGED 0x4000

/* The parts of a session's sql_mode that change how statement text is lexed and how literals
 * are written. NO_BACKSLASH_ESCAPES is also reported in every OK/EOF status
 * (PROTO_SERVER_NO_BACKSLASH_ESCAPES); ANSI_QUOTES is learned from SET statements. */
#define PROTO_SQLMODE_NO_BACKSLASH_ESCAPES 0x1u /* '\' is an ordinary character in strings */
#define PROTO_SQLMODE_ANSI_QUOTES          0x2u /* "x" is an identifier, not a string */

/* Commands (first payload byte of a packet with sequence id 0 in the command phase). */
enum proto_com {
    PROTO_COM_SLEEP = 0x00,
    PROTO_COM_QUIT = 0x01,
    PROTO_COM_INIT_DB = 0x02,
    PROTO_COM_QUERY = 0x03,
    PROTO_COM_FIELD_LIST = 0x04,
    PROTO_COM_CREATE_DB = 0x05,
    PROTO_COM_DROP_DB = 0x06,
    PROTO_COM_REFRESH = 0x07,
    PROTO_COM_SHUTDOWN = 0x08,
    PROTO_COM_STATISTICS = 0x09,
    PROTO_COM_PROCESS_INFO = 0x0a,
    PROTO_COM_CONNECT = 0x0b,
    PROTO_COM_PROCESS_KILL = 0x0c,
    PROTO_COM_DEBUG = 0x0d,
    PROTO_COM_PING = 0x0e,
    PROTO_COM_TIME = 0x0f,
    PROTO_COM_DELAYED_INSERT = 0x10,
    PROTO_COM_CHANGE_USER = 0x11,
    PROTO_COM_BINLOG_DUMP = 0x12,
    PROTO_COM_TABLE_DUMP = 0x13,
    PROTO_COM_CONNECT_OUT = 0x14,
    PROTO_COM_REGISTER_SLAVE = 0x15,
    PROTO_COM_STMT_PREPARE = 0x16,
    PROTO_COM_STMT_EXECUTE = 0x17,
    PROTO_COM_STMT_SEND_LONG_DATA = 0x18,
    PROTO_COM_STMT_CLOSE = 0x19,
    PROTO_COM_STMT_RESET = 0x1a,
    PROTO_COM_SET_OPTION = 0x1b,
    PROTO_COM_STMT_FETCH = 0x1c,
    PROTO_COM_DAEMON = 0x1d,
    PROTO_COM_BINLOG_DUMP_GTID = 0x1e,
    PROTO_COM_RESET_CONNECTION = 0x1f,
    PROTO_COM_STMT_BULK_EXECUTE = 0xfa,
};

/* The command's name as MariaDB's slow log writes it for administrator commands ("Ping",
 * "Init DB", "Change user", ...); NULL for a code slowtap does not know. */
const char *proto_com_name(uint8_t cmd);

/* Packet headers (first payload byte) */
#define PROTO_OK_HDR       0x00
#define PROTO_AUTHMORE_HDR 0x01
#define PROTO_INFILE_HDR   0xfb
#define PROTO_EOF_HDR      0xfe
#define PROTO_ERR_HDR      0xff

/* Error codes slowtap itself sends in ERR packets (the server's own numbers), each with the
 * SQLSTATE the server sends with it (proto_err_sqlstate). */
#define PROTO_ER_OUT_OF_RESOURCES               1037 /* "Out of memory" */
#define PROTO_ER_OUT_OF_RESOURCES_STATE         "HY001"
#define PROTO_ER_CON_COUNT_ERROR                1040 /* "Too many connections" */
#define PROTO_ER_CON_COUNT_ERROR_STATE          "08004"
#define PROTO_ER_HANDSHAKE_ERROR                1043 /* "Bad handshake" */
#define PROTO_ER_HANDSHAKE_ERROR_STATE          "08S01"
#define PROTO_ER_UNKNOWN_COM_ERROR              1047 /* "Unknown command" */
#define PROTO_ER_UNKNOWN_COM_ERROR_STATE        "08S01"
#define PROTO_ER_NET_PACKETS_OUT_OF_ORDER       1156 /* "Got packets out of order" */
#define PROTO_ER_NET_PACKETS_OUT_OF_ORDER_STATE "08S01"
/* Errors about the backend itself use ER_UNKNOWN_ERROR: codes 2000-2999 are the client
 * library's own, and libmariadb reports a "malformed packet" when a server sends one. */
#define PROTO_ER_UNKNOWN_ERROR                   1105 /* "Unknown error" */
#define PROTO_ER_UNKNOWN_ERROR_STATE             "HY000"
#define PROTO_ER_SECURE_TRANSPORT_REQUIRED       3159 /* insecure transport, --tls-require */
#define PROTO_ER_SECURE_TRANSPORT_REQUIRED_STATE "08004"

/* The SQLSTATE of one of the codes above; "HY000" (general error) for any other. */
static inline const char *
proto_err_sqlstate(uint16_t code)
{
    switch (code) {
    case PROTO_ER_OUT_OF_RESOURCES:
        return PROTO_ER_OUT_OF_RESOURCES_STATE;
    case PROTO_ER_CON_COUNT_ERROR:
        return PROTO_ER_CON_COUNT_ERROR_STATE;
    case PROTO_ER_HANDSHAKE_ERROR:
        return PROTO_ER_HANDSHAKE_ERROR_STATE;
    case PROTO_ER_UNKNOWN_COM_ERROR:
        return PROTO_ER_UNKNOWN_COM_ERROR_STATE;
    case PROTO_ER_NET_PACKETS_OUT_OF_ORDER:
        return PROTO_ER_NET_PACKETS_OUT_OF_ORDER_STATE;
    case PROTO_ER_SECURE_TRANSPORT_REQUIRED:
        return PROTO_ER_SECURE_TRANSPORT_REQUIRED_STATE;
    default:
        return PROTO_ER_UNKNOWN_ERROR_STATE;
    }
}

#endif
