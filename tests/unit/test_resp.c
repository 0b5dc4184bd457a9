/*
 * test_resp.c - table-driven tests of the response state machine (protocol/proto_resp.c): for
 * each command a sequence of server ('S') and client ('C') packets, the expected result of each
 * proto_resp_feed call, and the fields collected at the end.
 *
 * Most sequences are real: recorded by tests/tools/capture.py between PyMySQL 1.0.2 / the
 * mariadb CLI (libmariadb 3.3) / PHP 8.2 mysqlnd and MariaDB 10.11.19, and turned into these
 * tables with tests/tools/cap2c.py (each block names its capture file and command). The rest is
 * synthesized where a server cannot easily be made to send it (0xFE rows of 16 MiB, ERR in the
 * middle of rows, MariaDB's metadata_follows = 0, progress reports before a result set).
 */
#include <stdlib.h>

#include "check.h"
#include "protocol/proto_resp.h"

#define AG PROTO_AGAIN
#define OK PROTO_OK
#define ER PROTO_ERROR

/* Capabilities of the captured sessions (client caps & server caps). */
#define CAPS_41                                                                                    \
    (PROTO_CAP_LONG_FLAG | PROTO_CAP_CONNECT_WITH_DB | PROTO_CAP_LOCAL_FILES |                     \
     PROTO_CAP_PROTOCOL_41 | PROTO_CAP_TRANSACTIONS | PROTO_CAP_SECURE_CONNECTION |                \
     PROTO_CAP_MULTI_STATEMENTS | PROTO_CAP_MULTI_RESULTS | PROTO_CAP_PS_MULTI_RESULTS |           \
     PROTO_CAP_PLUGIN_AUTH | PROTO_CAP_CONNECT_ATTRS | PROTO_CAP_PLUGIN_AUTH_LENENC_DATA |         \
     PROTO_CAP_SESSION_TRACK)
#define CAPS_PY  (CAPS_41 | PROTO_CAP_MYSQL)
#define CAPS_EOF (CAPS_PY | PROTO_CAP_DEPRECATE_EOF)
/* libmariadb: MariaDB extended caps, no DEPRECATE_EOF, cached metadata: column counts carry a
 * metadata_follows byte */
#define CAPS_CLI                                                                                   \
    (CAPS_41 | PROTO_CAP_MARIADB_PROGRESS | PROTO_CAP_MARIADB_STMT_BULK |                          \
     PROTO_CAP_MARIADB_EXTENDED_METADATA | PROTO_CAP_MARIADB_CACHE_METADATA)
#define CAPS_CLI_EOF (CAPS_CLI | PROTO_CAP_DEPRECATE_EOF)

struct rstep {
    char dir;        /* 'S' server packet, 'B' server packet of 0xFFFFFF bytes (the hex is its
                      * start), 'C' client packet, 0 end */
    const char *hex; /* first bytes of the payload */
    int rc;          /* expected proto_resp_feed result for 'S' and 'B' */
};

/* Expected fields: -1 (or NULL) is not checked. */
struct rexpect {
    long long rows_sent, rows_affected, status, status_or_mask, results, err_code, infile, cursor,
        prepared, stmt_id, stmt_cols, stmt_params, warnings, insert_id;
    const char *err_msg, *err_sqlstate, *infile_name;
};

#define X_NONE                                                                                     \
    .rows_sent = -1, .rows_affected = -1, .status = -1, .status_or_mask = -1, .results = -1,       \
    .err_code = -1, .infile = -1, .cursor = -1, .prepared = -1, .stmt_id = -1, .stmt_cols = -1,    \
    .stmt_params = -1, .warnings = -1, .insert_id = -1

struct rcase {
    const char *name;
    uint8_t cmd;
    uint64_t caps;
    struct rstep steps[40];
    struct rexpect x;
    bool cursor_req; /* the execute's flags asked for a cursor */
};

/* X_NONE sets every field to "not checked"; a case then overrides the ones it checks.
 * cursor_req, last, is given only by the cases that need it. */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winitializer-overrides"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#else
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
static const struct rcase cases[] = {
    /* ---- COM_QUERY ---- */
    {"query ok (py_session: SET AUTOCOMMIT = 0)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "00000000000000", OK}},
     {X_NONE, .rows_sent = 0, .rows_affected = 0, .status = 0, .results = 1, .err_code = 0,
      .infile = 0}},
    {"query ok DELETE 2 rows (py_session)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "00020001000000", OK}},
     {X_NONE, .rows_affected = 2, .status = 1, .err_code = 0}},
    {"query ok with insert id and warnings",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "0001fc2c0122000300", OK}},
     {X_NONE, .rows_affected = 1, .insert_id = 300, .status = 0x22, .status_or_mask = 0x20,
      .warnings = 3}},
    {"query err (py_session: missing table)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S',
       "ff7a042334325330325461626c65202761707064622e6e6f737563687461626c652720646f65736e277420"
       "6578697374",
       OK}},
     {X_NONE, .err_code = 1146, .rows_sent = 0,
      .err_msg = "Table 'appdb.nosuchtable' doesn't exist", .err_sqlstate = "42S02"}},
    {"query err without SQL state marker",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S',
       "ff1504"
       "4163636573732064656e696564",
       OK}},
     {X_NONE, .err_code = 1045, .err_msg = "Access denied", .err_sqlstate = ""}},
    {"text result set (py_session: SELECT id, name, v FROM t)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_session.cap command 1: b'\x03SELECT id, name, v FROM t ORDER BY id' */
         {'S', "03", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "fe00002100", AG},
         {'S', "0131036f6e6503312e35", AG},
         {'S', "01320374776ffb", AG},
         {'S', "013305746872656504332e3235", AG},
         {'S', "fe00002100", OK},
     },
     {X_NONE, .rows_sent = 3, .status = 0x21, .results = 1, .err_code = 0}},
    {"text result set, no index used (py_session)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_session.cap command 2: b'\x03SELECT name FROM t WHERE v > 1' */
         {'S', "01", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "fe00002100", AG},
         {'S', "036f6e65", AG},
         {'S', "057468726565", AG},
         {'S', "fe00002100", OK},
     },
     {X_NONE, .rows_sent = 2, .status = 0x21, .status_or_mask = 0x20, .err_code = 0}},
    {"text result set, libmariadb metadata_follows + extended metadata (cli_select)",
     PROTO_COM_QUERY,
     CAPS_CLI,
     {
         /* cli_select.cap command 0: b'\x03SELECT id, name, v FROM t WHERE id < 3' */
         {'S', "0301", AG},
         {'S', "0364656605617070646201740174026964026964000c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d65000c21003c000000fd0000000000", AG},
         {'S', "036465660561707064620174017401760176000c3f00160000000500001f0000", AG},
         {'S', "fe00000200", AG},
         {'S', "0131036f6e6503312e35", AG},
         {'S', "01320374776ffb", AG},
         {'S', "fe00000200", OK},
     },
     {X_NONE, .rows_sent = 2, .status = 2, .results = 1, .err_code = 0}},
    {"text result set with DEPRECATE_EOF (synthesized from py_session)",
     PROTO_COM_QUERY,
     CAPS_EOF,
     {{'S', "03", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
      {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
      {'S', "0131036f6e6503312e35", AG},
      {'S', "01320374776ffb", AG},
      {'S', "013305746872656504332e3235", AG},
      {'S', "fe000022000000", OK}},
     {X_NONE, .rows_sent = 3, .status = 0x22, .status_or_mask = 0x20, .err_code = 0}},
    {"metadata_follows = 0 with DEPRECATE_EOF: rows follow the column count",
     PROTO_COM_QUERY,
     CAPS_CLI_EOF,
     {{'S', "0200", AG},
      {'S', "0131036f6e65", AG},
      {'S', "01320374776f", AG},
      {'S', "fe000002000000", OK}},
     {X_NONE, .rows_sent = 2, .status = 2, .err_code = 0}},
    {"metadata_follows = 0 without DEPRECATE_EOF: column count, EOF, rows",
     PROTO_COM_QUERY,
     CAPS_CLI,
     {{'S', "0200", AG},
      {'S', "fe00000200", AG},
      {'S', "0131036f6e65", AG},
      {'S', "fe00000200", OK}},
     {X_NONE, .rows_sent = 1, .status = 2, .err_code = 0}},
    {"row starting with 0xFE of 16 MiB is not an EOF",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "036465660000000161000c3f0001000000038100000000", AG},
      {'S', "fe00000200", AG},
      {'B', "fe0000000100000000", AG},
      {'S', "fe0a0000000000000000", AG},
      {'S', "fe00000200", OK}},
     {X_NONE, .rows_sent = 2, .err_code = 0}},
    {"row starting with 0xFE under DEPRECATE_EOF is not the final OK",
     PROTO_COM_QUERY,
     CAPS_EOF,
     {{'S', "01", AG},
      {'S', "036465660000000161000c3f0001000000038100000000", AG},
      {'B', "fe0000000100000000", AG},
      {'S', "0131", AG},
      {'S', "fe000002000000", OK}},
     {X_NONE, .rows_sent = 2, .err_code = 0}},
    {"ERR in the middle of rows",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "036465660000000161000c3f0001000000038100000000", AG},
      {'S', "fe00000200", AG},
      {'S', "0131", AG},
      {'S', "0132", AG},
      {'S',
       "ff2605233232303033"
       "4f7574206f662072616e6765",
       OK}},
     {X_NONE, .rows_sent = 2, .err_code = 1318, .err_sqlstate = "22003",
      .err_msg = "Out of range"}},
    {"multi-statement chain ending in OK (py_raw)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_raw.cap command 17: b'\x03SELECT 1 AS a; SELECT name FROM t WHERE' */
         {'S', "01", AG},
         {'S', "036465660000000161000c3f0001000000038100000000", AG},
         {'S', "fe00000a00", AG},
         {'S', "0131", AG},
         {'S', "fe00000a00", AG},
         {'S', "01", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "fe00002a00", AG},
         {'S', "fe00002a00", AG},
         {'S', "00000002000000", OK},
     },
     {X_NONE, .rows_sent = 1, .results = 3, .status = 2, .status_or_mask = 0x2a, .err_code = 0}},
    {"multi-statement chain with DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_QUERY,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 17: b'\x03SELECT 1 AS a; SELECT name FROM t WHERE' */
         {'S', "01", AG},
         {'S', "036465660000000161000c3f0001000000038100000000", AG},
         {'S', "0131", AG},
         {'S', "fe00000a000000", AG},
         {'S', "01", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "fe00002a000000", AG},
         {'S', "00000002000000", OK},
     },
     {X_NONE, .rows_sent = 1, .results = 3, .status = 2, .status_or_mask = 0x2a, .err_code = 0}},
    {"multi-statement chain ended by ERR (py_raw)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_raw.cap command 18: b'\x03SELECT 1; SELECT * FROM nosuchtable; SE' */
         {'S', "01", AG},
         {'S', "036465660000000131000c3f0001000000038100000000", AG},
         {'S', "fe00000a00", AG},
         {'S', "0131", AG},
         {'S', "fe00000a00", AG},
         {'S',
          "ff7a042334325330325461626c65202761707064622e6e6f737563687461626c652720646f65736e27742065"
          "78697374",
          OK},
     },
     {X_NONE, .rows_sent = 1, .err_code = 1146}},
    {"CALL: two result sets and the final OK (py_session)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_session.cap command 4: b'\x03CALL p2()' */
         {'S', "01", AG},
         {'S', "036465660000000161000c3f0001000000038100000000", AG},
         {'S', "fe00000900", AG},
         {'S', "0131", AG},
         {'S', "fe00000900", AG},
         {'S', "02", AG},
         {'S', "036465660000000162000c2d0004000000fd0100270000", AG},
         {'S', "036465660000000163000c3f0001000000038100000000", AG},
         {'S', "fe00000900", AG},
         {'S', "01780132", AG},
         {'S', "fe00000900", AG},
         {'S', "00000001000000", OK},
     },
     {X_NONE, .rows_sent = 2, .results = 3, .status = 1, .status_or_mask = 0x08, .err_code = 0}},
    {"CALL via libmariadb (cli_call)",
     PROTO_COM_QUERY,
     CAPS_CLI,
     {
         /* cli_call.cap command 0: b'\x03CALL p2()' */
         {'S', "0101", AG},
         {'S', "03646566000000016100000c3f0001000000038100000000", AG},
         {'S', "fe00000a00", AG},
         {'S', "0131", AG},
         {'S', "fe00000a00", AG},
         {'S', "0201", AG},
         {'S', "03646566000000016200000c210003000000fd0100270000", AG},
         {'S', "03646566000000016300000c3f0001000000038100000000", AG},
         {'S', "fe00000a00", AG},
         {'S', "01780132", AG},
         {'S', "fe00000a00", AG},
         {'S', "00000002000000", OK},
     },
     {X_NONE, .rows_sent = 2, .results = 3, .status = 2, .err_code = 0}},
    {"LOCAL INFILE (py_session)",
     PROTO_COM_QUERY,
     CAPS_PY,
     {
         /* py_session.cap command 5: b"\x03LOAD DATA LOCAL INFILE '/tmp/tmpxwj85nn" */
         {'S', "fb2f746d702f746d7078776a38356e6e352e747376", AG},
         {'C', "3230097477656e74790932302e350a3231097477656e74796f6e65095c4e0a", 0},
         {'C', "", 0},
         {'S',
          "000200010000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a20302020"
          "5761726e696e67733a2030",
          OK},
     },
     {X_NONE, .infile = 1, .rows_affected = 2, .err_code = 0,
      .infile_name = "/tmp/tmpxwj85nn5.tsv"}},
    {"LOCAL INFILE with a progress report before the OK (cli_infile)",
     PROTO_COM_QUERY,
     CAPS_CLI,
     {
         /* cli_infile.cap command 0: b"\x03LOAD DATA LOCAL INFILE '/tmp/tmpbpjerpv" */
         {'S', "fb2f746d702f746d7062706a65727076692e747376", AG},
         {'C', "31300974656e0931302e350a313109656c6576656e095c4e0a", 0},
         {'C', "", 0},
         {'S', "ffffff0102020000000f456e642062756c6b20696e73657274", AG},
         {'S',
          "000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a20302020"
          "5761726e696e67733a2030",
          OK},
     },
     {X_NONE, .infile = 1, .rows_affected = 2, .err_code = 0,
      .infile_name = "/tmp/tmpbpjerpvi.tsv"}},
    {"LOCAL INFILE refused by the server after the data",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "fb2f746d702f78", AG},
      {'C', "310a", 0},
      {'C', "", 0},
      {'S',
       "ff4c0f233432303030"
       "6e6f",
       OK}},
     {X_NONE, .infile = 1, .err_code = 3916, .infile_name = "/tmp/x"}},
    {"progress reports before a result set",
     PROTO_COM_QUERY,
     CAPS_CLI,
     {{'S', "ffffff0103000100000f416c746572207461626c65", AG},
      {'S', "ffffff0203001000000f416c746572207461626c65", AG},
      {'S', "000000020000000a0a", OK}},
     {X_NONE, .err_code = 0, .results = 1}},
    /* ---- CURSOR_EXISTS where no cursor was asked for (stored procedures' own cursor
     * loops), and LOCAL INFILE after an execute ---- */
    {"query: CALL whose loop result sets carry CURSOR_EXISTS",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "fe00004200", AG},
      {'S', "0161", AG},
      {'S', "fe00004a00", AG},
      {'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "fe00004200", AG},
      {'S', "0162", AG},
      {'S', "fe00004a00", AG},
      {'S', "00000002000000", OK}},
     {X_NONE, .rows_sent = 2, .cursor = 0, .results = 3, .err_code = 0, .status = 2}},
    {"query: CALL with CURSOR_EXISTS, DEPRECATE_EOF",
     PROTO_COM_QUERY,
     CAPS_EOF,
     {{'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "0161", AG},
      {'S', "fe00004a000000", AG},
      {'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "0162", AG},
      {'S', "fe00004a000000", AG},
      {'S', "00000002000000", OK}},
     {X_NONE, .rows_sent = 2, .cursor = 0, .results = 3, .err_code = 0}},
    {"query: anonymous block FOR loop, single result set flagged CURSOR_EXISTS",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "fe00004200", AG},
      {'S', "0161", AG},
      {'S', "fe00004200", OK}},
     {X_NONE, .rows_sent = 1, .cursor = 0, .results = 1, .err_code = 0}},
    {"execute: prepared CALL, CURSOR_EXISTS with MORE_RESULTS, no cursor asked",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "fe00004a00", AG},
      {'S', "0000000161", AG},
      {'S', "fe00004a00", AG},
      {'S', "00000002000000", OK}},
     {X_NONE, .rows_sent = 1, .cursor = 0, .results = 2, .err_code = 0}},
    {"execute: cursor asked, but CALL answers with MORE_RESULTS: no cursor",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
      {'S', "fe00004a00", AG},
      {'S', "0000000161", AG},
      {'S', "fe00004a00", AG},
      {'S', "00000002000000", OK}},
     {X_NONE, .rows_sent = 1, .cursor = 0, .results = 2, .err_code = 0},
     true},
    {"execute: prepared LOAD DATA LOCAL INFILE",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {{'S', "fb2f746d702f78", AG}, {'C', "310a", 0}, {'C', "", 0}, {'S', "00010002000000", OK}},
     {X_NONE, .infile = 1, .rows_affected = 1, .err_code = 0, .infile_name = "/tmp/x"}},
    {"progress-shaped ERR to a client that did not ask for progress reports",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "ffffff0103000100000f416c746572207461626c65", OK}},
     {X_NONE, .err_code = 0xFFFF}},
    /* ---- prepared statements ---- */
    {"prepare: 1 param, 3 columns (py_raw)",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {
         /* py_raw.cap command 4: b'\x16SELECT id, name, v FROM t WHERE id > ?' */
         {'S', "000700000003000100000000", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", AG},
         {'S', "fe00000200", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "fe00000200", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 7, .stmt_cols = 3, .stmt_params = 1, .err_code = 0}},
    {"prepare: 1 param, 3 columns, DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_STMT_PREPARE,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 4: b'\x16SELECT id, name, v FROM t WHERE id > ?' */
         {'S', "000a00000003000100000000", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 10, .stmt_cols = 3, .stmt_params = 1}},
    {"prepare under CACHE_METADATA: MariaDB's prepare OK has no metadata_follows byte",
     PROTO_COM_STMT_PREPARE,
     CAPS_CLI_EOF,
     {
         /* py_raw_deprecate_eof.cap command 4: b'\x16SELECT id, name, v FROM t WHERE id > ?' */
         {'S', "000a00000003000100000000", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 10, .stmt_cols = 3, .stmt_params = 1}},
    /* MySQL 8 under CLIENT_OPTIONAL_RESULTSET_METADATA: the prepare OK's 13th byte says
     * whether parameter and column definitions follow (none under resultset_metadata=NONE).
     * Written from the protocol documentation: no MySQL server runs here. */
    {"prepare: MySQL 8 metadata_follows = 0, no definitions follow",
     PROTO_COM_STMT_PREPARE,
     CAPS_EOF | PROTO_CAP_OPTIONAL_RESULTSET_META,
     {{'S', "000a0000000300010000000000", OK}},
     {X_NONE, .prepared = 1, .stmt_id = 10, .stmt_cols = 3, .stmt_params = 1}},
    {"prepare: MySQL 8 metadata_follows = 1, definitions follow",
     PROTO_COM_STMT_PREPARE,
     CAPS_EOF | PROTO_CAP_OPTIONAL_RESULTSET_META,
     {
         {'S', "000a0000000300010000000001", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 10, .stmt_cols = 3, .stmt_params = 1}},
    {"prepare: 0 params, 0 columns (py_raw)",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {
         /* py_raw.cap command 12: b'\x16DO 1' */
         {'S', "000800000000000000000000", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 8, .stmt_cols = 0, .stmt_params = 0}},
    {"prepare: params, no columns (py_raw)",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {
         /* py_raw.cap command 14: b'\x16UPDATE t SET v = v WHERE name = ?' */
         {'S', "000900000000000100000000", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", AG},
         {'S', "fe00000200", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 9, .stmt_cols = 0, .stmt_params = 1}},
    {"prepare: params, no columns, DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_STMT_PREPARE,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 14: b'\x16UPDATE t SET v = v WHERE name = ?' */
         {'S', "000c00000000000100000000", AG},
         {'S', "03646566000000013f000c3f0000000000068000000000", OK},
     },
     {X_NONE, .prepared = 1, .stmt_id = 12, .stmt_cols = 0, .stmt_params = 1}},
    {"prepare: no params, columns",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {{'S', "000500000001000000000000", AG},
      {'S', "036465660000000161000c3f0001000000038100000000", AG},
      {'S', "fe00000200", OK}},
     {X_NONE, .prepared = 1, .stmt_id = 5, .stmt_cols = 1, .stmt_params = 0}},
    {"prepare: ERR",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {{'S',
       "ff2804233432303030"
       "73796e746178",
       OK}},
     {X_NONE, .prepared = 0, .err_code = 1064, .err_msg = "syntax"}},
    {"execute: binary rows (py_raw)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {
         /* py_raw.cap command 5:
            b'\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00'
          */
         {'S', "03", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "fe00000200", AG},
         {'S', "000001000000036f6e65000000000000f83f", AG},
         {'S', "0010020000000374776f", AG},
         {'S', "0000030000000574687265650000000000000a40", AG},
         {'S', "fe00000200", OK},
     },
     {X_NONE, .rows_sent = 3, .cursor = 0, .err_code = 0, .status = 2}},
    {"execute: binary rows, DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 5:
            b'\x17\n\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00'
          */
         {'S', "03", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030350000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "000001000000036f6e65000000000000f83f", AG},
         {'S', "0010020000000374776f", AG},
         {'S', "0000030000000574687265650000000000000a40", AG},
         {'S', "fe000002000000", OK},
     },
     {X_NONE, .rows_sent = 3, .cursor = 0, .err_code = 0, .status = 2}},
    {"execute: read-only cursor, columns then EOF with CURSOR_EXISTS, no rows (py_raw)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {
         /* py_raw.cap command 6:
            b'\x17\x07\x00\x00\x00\x01\x01\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00'
          */
         {'S', "03", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030110000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "fe00004200", OK},
     },
     {X_NONE, .rows_sent = 0, .cursor = 1, .status = 0x42, .err_code = 0},
     true},
    {"execute: read-only cursor, DEPRECATE_EOF: columns then 0xFE OK with CURSOR_EXISTS "
     "(py_raw_deprecate_eof)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 6:
            b'\x17\n\x00\x00\x00\x01\x01\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00'
          */
         {'S', "03", AG},
         {'S', "03646566056170706462017401740269640269640c3f000b000000030110000000", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000", AG},
         {'S', "fe000042000000", OK},
     },
     {X_NONE, .rows_sent = 0, .cursor = 1, .status = 0x42, .err_code = 0},
     true},
    {"execute: metadata_follows = 0, DEPRECATE_EOF",
     PROTO_COM_STMT_EXECUTE,
     CAPS_CLI_EOF,
     {{'S', "0100", AG},
      {'S', "000001000000", AG},
      {'S', "000002000000", AG},
      {'S', "fe000002000000", OK}},
     {X_NONE, .rows_sent = 2, .err_code = 0}},
    {"execute: OK (py_raw: DO 1)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {
         /* py_raw.cap command 13: b'\x17\x08\x00\x00\x00\x00\x01\x00\x00\x00' */
         {'S', "00000002000000", OK},
     },
     {X_NONE, .rows_sent = 0, .results = 1, .status = 2, .err_code = 0}},
    {"execute: UPDATE without index (py_raw)",
     PROTO_COM_STMT_EXECUTE,
     CAPS_PY,
     {
         /* py_raw.cap command 15: b'\x17\t\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfe\x00\x03two'
          */
         {'S',
          "0000002200000028526f7773206d6174636865643a203120204368616e6765643a203020205761726e696e67"
          "733a2030",
          OK},
     },
     {X_NONE, .rows_affected = 0, .status = 0x22, .status_or_mask = 0x20}},
    {"fetch: 2 rows, EOF with CURSOR_EXISTS (py_raw)",
     PROTO_COM_STMT_FETCH,
     CAPS_PY,
     {
         /* py_raw.cap command 7: b'\x1c\x07\x00\x00\x00\x02\x00\x00\x00' */
         {'S', "000001000000036f6e65000000000000f83f", AG},
         {'S', "0010020000000374776f", AG},
         {'S', "fe00004200", OK},
     },
     {X_NONE, .rows_sent = 2, .status = 0x42, .err_code = 0}},
    {"fetch: last row, EOF with LAST_ROW_SENT (py_raw)",
     PROTO_COM_STMT_FETCH,
     CAPS_PY,
     {
         /* py_raw.cap command 8: b'\x1c\x07\x00\x00\x00\x02\x00\x00\x00' */
         {'S', "0000030000000574687265650000000000000a40", AG},
         {'S', "fe00008200", OK},
     },
     {X_NONE, .rows_sent = 1, .status = 0x82, .status_or_mask = 0x80, .err_code = 0}},
    {"fetch: DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_STMT_FETCH,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 7: b'\x1c\n\x00\x00\x00\x02\x00\x00\x00' */
         {'S', "000001000000036f6e65000000000000f83f", AG},
         {'S', "0010020000000374776f", AG},
         {'S', "fe000042000000", OK},
     },
     {X_NONE, .rows_sent = 2, .status = 0x42, .err_code = 0}},
    {"fetch: last row, DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_STMT_FETCH,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 8: b'\x1c\n\x00\x00\x00\x02\x00\x00\x00' */
         {'S', "0000030000000574687265650000000000000a40", AG},
         {'S', "fe000082000000", OK},
     },
     {X_NONE, .rows_sent = 1, .status = 0x82, .err_code = 0}},
    {"fetch: ERR (no cursor)",
     PROTO_COM_STMT_FETCH,
     CAPS_PY,
     {{'S',
       "ff1b07233430303030"
       "6e6f",
       OK}},
     {X_NONE, .err_code = 1819}},
    {"stmt reset: OK",
     PROTO_COM_STMT_RESET,
     CAPS_PY,
     {{'S', "00000002000000", OK}},
     {X_NONE, .err_code = 0}},
    /* ---- other commands ---- */
    {"field list (py_raw)",
     PROTO_COM_FIELD_LIST,
     CAPS_PY,
     {
         /* py_raw.cap command 0: b'\x04t\x00' */
         {'S', "03646566056170706462017401740269640269640c3f000b0000000303500000000130", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000fb", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000fb", AG},
         {'S', "fe00000200", OK},
     },
     {X_NONE, .rows_sent = 0, .err_code = 0}},
    {"field list, DEPRECATE_EOF: ends with a 0xFE OK (py_raw_deprecate_eof)",
     PROTO_COM_FIELD_LIST,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 0: b'\x04t\x00' */
         {'S', "03646566056170706462017401740269640269640c3f000b0000000303500000000130", AG},
         {'S', "0364656605617070646201740174046e616d65046e616d650c2d0050000000fd0000000000fb", AG},
         {'S', "0364656605617070646201740174017601760c3f00160000000500001f0000fb", AG},
         {'S', "fe000002000000", OK},
     },
     {X_NONE, .rows_sent = 0, .err_code = 0}},
    {"field list: ERR",
     PROTO_COM_FIELD_LIST,
     CAPS_PY,
     {{'S', "ff7a042334325330326e6f", OK}},
     {X_NONE, .err_code = 1146}},
    {"statistics: one raw string (py_raw)",
     PROTO_COM_STATISTICS,
     CAPS_PY,
     {
         /* py_raw.cap command 1: b'\t' */
         {'S',
          "557074696d653a203130342020546872656164733a203120205175657374696f6e733a203130322020536c6f"
          "7720717565726965733a203020204f70656e733a20323320204f70656e207461626c65733a20313620205175"
          "657269657320706572207365636f6e64206176673a20302e393830",
          OK},
     },
     {X_NONE, .err_code = 0, .rows_sent = 0}},
    {"statistics: a string starting with 0xFE-like bytes is still the answer",
     PROTO_COM_STATISTICS,
     CAPS_PY,
     {{'S', "fe", OK}},
     {X_NONE, .err_code = 0}},
    {"ping: OK", PROTO_COM_PING, CAPS_PY, {{'S', "00000002000000", OK}}, {X_NONE, .err_code = 0}},
    {"init db: OK",
     PROTO_COM_INIT_DB,
     CAPS_PY,
     {{'S', "00000002000000", OK}},
     {X_NONE, .err_code = 0}},
    {"init db: ERR",
     PROTO_COM_INIT_DB,
     CAPS_PY,
     {{'S',
       "ff19042334324530303"
       "0556e6b6e6f776e",
       OK}},
     {X_NONE, .err_code = 1049}},
    {"reset connection: OK",
     PROTO_COM_RESET_CONNECTION,
     CAPS_PY,
     {{'S', "00000002000000", OK}},
     {X_NONE, .err_code = 0}},
    {"set option: EOF (py_raw)",
     PROTO_COM_SET_OPTION,
     CAPS_PY,
     {
         /* py_raw.cap command 16: b'\x1b\x00\x00' */
         {'S', "fe00000200", OK},
     },
     {X_NONE, .err_code = 0, .status = 2}},
    {"set option: 0xFE OK under DEPRECATE_EOF (py_raw_deprecate_eof)",
     PROTO_COM_SET_OPTION,
     CAPS_EOF,
     {
         /* py_raw_deprecate_eof.cap command 16: b'\x1b\x00\x00' */
         {'S', "fe000002000000", OK},
     },
     {X_NONE, .err_code = 0, .status = 2}},
    {"change user with auth switch (py_raw)",
     PROTO_COM_CHANGE_USER,
     CAPS_PY,
     {
         /* py_raw.cap command 20:
            b'\x11app\x00\x00appdb\x00-\x00caching_sha2_password\x00\x15\x0c_c' */
         {'S',
          "fe6d7973716c5f6e61746976655f70617373776f7264004f6c523657323553224b38735a4c4a717a307c440"
          "0",
          AG},
         {'C', "0ec6917e5a185aad0e727395be55d13c9c193271", 0},
         {'S', "00000002000000", OK},
     },
     {X_NONE, .err_code = 0}},
    {"change user with auth switch (php mysqlnd)",
     PROTO_COM_CHANGE_USER,
     CAPS_PY,
     {
         /* php_change_user.cap command 0:
            b'\x11app\x00\x14k\x85\xcd\x11i\x86\x1d\xc2c\xc1\xa7A\xbb\xa3\x8b\xae\xf0\x0flLappdb\x00\x08\x00mysql_'
          */
         {'S',
          "fe6d7973716c5f6e61746976655f70617373776f7264003551782c6e684044743d724a5652767d327c3d5b0"
          "0",
          AG},
         {'C', "6b85cd1169861dc263c1a741bba38baef00f6c4c", 0},
         {'S', "00000002000000", OK},
     },
     {X_NONE, .err_code = 0}},
    {"change user: switch, then more auth data, then ERR",
     PROTO_COM_CHANGE_USER,
     CAPS_PY,
     {{'S', "fe636c69656e745f656432353531390001020304", AG},
      {'C', "0102030405060708", 0},
      {'S', "ff15042332383030304163636573732064656e696564", OK}},
     {X_NONE, .err_code = 1045, .err_sqlstate = "28000", .err_msg = "Access denied"}},
    {"change user: OK at once",
     PROTO_COM_CHANGE_USER,
     CAPS_PY,
     {{'S', "00000002000000", OK}},
     {X_NONE, .err_code = 0}},
    {"process info (COM_PROCESS_INFO) answers with a text result set",
     PROTO_COM_PROCESS_INFO,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "036465660000000249640269640c3f0015000000080100000000", AG},
      {'S', "fe00000200", AG},
      {'S', "023237", AG},
      {'S', "fe00000200", OK}},
     {X_NONE, .rows_sent = 1, .err_code = 0}},
    /* ---- packets that cannot occur ---- */
    {"ping answered with a column count", PROTO_COM_PING, CAPS_PY, {{'S', "01", ER}}, {X_NONE}},
    {"query: empty first packet", PROTO_COM_QUERY, CAPS_PY, {{'S', "", ER}}, {X_NONE}},
    {"query: EOF as first packet", PROTO_COM_QUERY, CAPS_PY, {{'S', "fe00000200", ER}}, {X_NONE}},
    {"query: truncated OK", PROTO_COM_QUERY, CAPS_PY, {{'S', "0000", ER}}, {X_NONE}},
    {"query: row where the column EOF belongs",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "01", AG},
      {'S', "036465660000000161000c3f0001000000038100000000", AG},
      {'S', "0131", ER}},
     {X_NONE}},
    {"prepare: a column count instead of the prepare OK",
     PROTO_COM_STMT_PREPARE,
     CAPS_PY,
     {{'S', "01", ER}},
     {X_NONE}},
    {"infile: a row instead of OK after the data",
     PROTO_COM_QUERY,
     CAPS_PY,
     {{'S', "fb2f78", AG}, {'C', "", 0}, {'S', "0131", ER}},
     {X_NONE}},
};

#if defined(__clang__)
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#endif

#define XCHECK(field, got)                                                                         \
    do {                                                                                           \
        if (c->x.field >= 0 && (unsigned long long)(got) != (unsigned long long)c->x.field) {      \
            fprintf(stderr, "  %s: %s = %llu, expected %lld\n", c->name, #field,                   \
                    (unsigned long long)(got), c->x.field);                                        \
        }                                                                                          \
        CHECK_EQ_U(c->x.field >= 0 ? (unsigned long long)(got) : 0,                                \
                   c->x.field >= 0 ? (unsigned long long)c->x.field : 0);                          \
    } while (0)

static unsigned long fast_rows; /* packets proto_resp_row took in the cases */

static void
run_case(const struct rcase *c)
{
    static uint8_t buf[PROTO_RESP_PEEK + 64];
    struct proto_resp r;
    proto_resp_begin(&r, c->cmd, c->caps);
    if (c->cursor_req) {
        proto_resp_cursor_requested(&r);
    }
    /* COM_CHANGE_USER: during authentication either side may speak next, so only "the client
     * may send now" is checked there; LOCAL INFILE is checked both ways. */
    bool loose = c->cmd == PROTO_COM_CHANGE_USER;
    CHECK(loose || !proto_resp_wants_client(&r));
    size_t nsteps = 0;
    while (nsteps < sizeof c->steps / sizeof c->steps[0] && c->steps[nsteps].dir) {
        nsteps++;
    }
    for (size_t i = 0; i < nsteps; i++) {
        const struct rstep *s = &c->steps[i];
        memset(buf, 0, sizeof buf);
        size_t n = unhex(s->hex, buf, sizeof buf);
        size_t len = s->dir == 'B' ? PROTO_MAX_PAYLOAD : n;
        if (s->dir == 'C') {
            if (!proto_resp_wants_client(&r)) {
                fprintf(stderr, "  %s: step %zu: client packet not wanted\n", c->name, i);
            }
            CHECK(proto_resp_wants_client(&r));
            proto_resp_client_packet(&r, len);
            continue;
        }
        size_t avail = len < PROTO_RESP_PEEK ? len : PROTO_RESP_PEEK;
        /* an exact-size copy, so ASan sees a read past what was offered */
        uint8_t *p = malloc(avail ? avail : 1);
        memcpy(p, buf, avail);
        /* the rows fast path (proto_resp_row) agrees with the full feed wherever it takes a
         * packet */
        struct proto_resp fast = r;
        bool took = avail > 0 && proto_resp_row(&fast, p[0], len);
        enum proto_rc rc = proto_resp_feed(&r, p, avail, len);
        free(p);
        if (took) {
            fast_rows++;
            CHECK_EQ_U((int)rc + 1, PROTO_AGAIN + 1);
            CHECK(memcmp(&fast, &r, sizeof r) == 0);
        }
        if ((int)rc != s->rc) {
            fprintf(stderr, "  %s: step %zu (%.16s, len %zu): rc %d, expected %d (state %d)\n",
                    c->name, i, s->hex, len, (int)rc, s->rc, (int)r.state);
        }
        CHECK_EQ_U((int)rc + 1, s->rc + 1);
        if ((int)rc != s->rc) {
            return;
        }
        if (rc == PROTO_AGAIN) {
            bool want = i + 1 < nsteps && c->steps[i + 1].dir == 'C';
            if (proto_resp_wants_client(&r) != want && (want || !loose)) {
                fprintf(stderr, "  %s: step %zu: wants_client %d\n", c->name, i, !want);
            }
            CHECK(proto_resp_wants_client(&r) == want || (loose && !want));
        } else {
            CHECK(i == nsteps - 1);
            CHECK(!proto_resp_wants_client(&r));
        }
    }
    XCHECK(rows_sent, r.rows_sent);
    XCHECK(rows_affected, r.rows_affected);
    XCHECK(insert_id, r.insert_id);
    XCHECK(status, r.status);
    XCHECK(warnings, r.warnings);
    XCHECK(results, r.results);
    XCHECK(err_code, r.err_code);
    XCHECK(infile, r.infile);
    XCHECK(cursor, r.cursor);
    XCHECK(prepared, r.prepared);
    XCHECK(stmt_id, r.stmt_id);
    XCHECK(stmt_cols, r.stmt_cols);
    XCHECK(stmt_params, r.stmt_params);
    if (c->x.status_or_mask >= 0) {
        CHECK_EQ_U(r.status_or & c->x.status_or_mask, c->x.status_or_mask);
    }
    if (c->x.err_msg) {
        CHECK_STR(r.err_msg, c->x.err_msg);
    }
    if (c->x.err_sqlstate) {
        CHECK_STR(r.err_sqlstate, c->x.err_sqlstate);
    }
    if (c->x.infile_name) {
        CHECK_STR(r.infile_name, c->x.infile_name);
    }
}

static void
test_no_response(void)
{
    CHECK(!proto_com_has_response(PROTO_COM_QUIT));
    CHECK(!proto_com_has_response(PROTO_COM_STMT_CLOSE));
    CHECK(!proto_com_has_response(PROTO_COM_STMT_SEND_LONG_DATA));
    static const uint8_t with[] = {PROTO_COM_QUERY,        PROTO_COM_PING,
                                   PROTO_COM_INIT_DB,      PROTO_COM_FIELD_LIST,
                                   PROTO_COM_STATISTICS,   PROTO_COM_STMT_PREPARE,
                                   PROTO_COM_STMT_EXECUTE, PROTO_COM_STMT_RESET,
                                   PROTO_COM_STMT_FETCH,   PROTO_COM_SET_OPTION,
                                   PROTO_COM_CHANGE_USER,  PROTO_COM_RESET_CONNECTION,
                                   PROTO_COM_PROCESS_KILL, PROTO_COM_STMT_BULK_EXECUTE};
    for (size_t i = 0; i < sizeof with; i++) {
        CHECK(proto_com_has_response(with[i]));
    }
}

/* The same state can be reused: begin() resets everything collected before. */
static void
test_begin_resets(void)
{
    struct proto_resp r;
    uint8_t err[] = {0xff, 0x7a, 0x04, '#', '4', '2', 'S', '0', '2', 'x'};
    proto_resp_begin(&r, PROTO_COM_QUERY, CAPS_PY);
    CHECK(proto_resp_feed(&r, err, sizeof err, sizeof err) == PROTO_OK);
    CHECK_EQ_U(r.err_code, 1146);
    proto_resp_begin(&r, PROTO_COM_PING, CAPS_PY);
    CHECK_EQ_U(r.err_code, 0);
    CHECK_EQ_U(r.rows_sent, 0);
    CHECK_EQ_U(r.results, 0);
    CHECK_STR(r.err_msg, "");
    CHECK(!r.infile);
    CHECK(!r.prepared);
    uint8_t ok[] = {0, 0, 0, 2, 0, 0, 0};
    CHECK(proto_resp_feed(&r, ok, sizeof ok, sizeof ok) == PROTO_OK);
}

/* A long error message and a long infile name are cut, NUL-terminated. */
static void
test_long_strings(void)
{
    struct proto_resp r;
    uint8_t p[PROTO_RESP_PEEK];
    memset(p, 'm', sizeof p);
    memcpy(p, "\xff\x7a\x04#42S02", 9);
    proto_resp_begin(&r, PROTO_COM_QUERY, CAPS_PY);
    CHECK(proto_resp_feed(&r, p, sizeof p, 5000) == PROTO_OK);
    CHECK_EQ_U(strlen(r.err_msg), sizeof r.err_msg - 1);
    memset(p, 'f', sizeof p);
    p[0] = 0xfb;
    proto_resp_begin(&r, PROTO_COM_QUERY, CAPS_PY);
    CHECK(proto_resp_feed(&r, p, sizeof p, sizeof p) == PROTO_AGAIN);
    CHECK(r.infile);
    CHECK_EQ_U(strlen(r.infile_name), sizeof r.infile_name - 1);
    CHECK(proto_resp_wants_client(&r));
}

int
main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = check_failures;
        run_case(&cases[i]);
        if (check_failures != before) {
            fprintf(stderr, "FAILED case: %s\n", cases[i].name);
        }
    }
    CHECK(fast_rows > 0);
    test_no_response();
    test_begin_resets();
    test_long_strings();
    return check_exit();
}
