/*
 * proto_capture.h - the capture file's records: encoding and decoding, no I/O.
 *
 * A capture (`slowtap --capture FILE`, `POST /api/capture`) holds what `slowtap replay` needs to
 * play an application's sessions again: each session's connect, every command it sent in order
 * (text, or prepared statement id and decoded parameters), when it started and ended, and a
 * summary of the server's answer (rows, affected rows, insert id, warnings, error, a checksum of
 * the result rows). docs/capture-format.md documents the format; this header is its contract.
 *
 * File:   "SLOWTAPCAP\n" (11 bytes), u16 version (PROTO_CAP_VERSION), u16 flags (0), u64
 *         created (realtime us), then blocks.
 * Block:  u32 raw_len, u32 zstd_len, u64 reserved (0), then
 *         zstd_len bytes: one zstd frame with its content checksum (XXH64, which zstd
 *         verifies) that inflates to raw_len bytes of whole records. A
 *         block is written with one write(): a file cut short ends at the last whole block, and
 *         the reader stops there (whole or absent, as the slow log).
 * Record: u8 type, varint body_len, body. Integers in bodies are little-endian varints
 *         (LEB128) unless said otherwise; signed ones (times) zigzag-encoded; strings are varint
 *         length + bytes (no NUL). A reader skips a record type it does not know (body_len says
 *         how far), and bytes at the end of a body after the fields it knows (a later version
 *         appends fields there). The body layouts: docs/capture-format.md.
 *
 * Session ids are slowtap's own (unique within a capture); a command record names its session.
 */
#ifndef SLOWTAP_PROTO_CAPTURE_H
#define SLOWTAP_PROTO_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_CAP_MAGIC            "SLOWTAPCAP\n"
#define PROTO_CAP_MAGIC_LEN        11
#define PROTO_CAP_VERSION          1
#define PROTO_CAP_HEADER_LEN       (PROTO_CAP_MAGIC_LEN + 2 + 2 + 8)
#define PROTO_CAP_BLOCK_HEADER_LEN 16
#define PROTO_CAP_BLOCK_MAX        (4u << 20) /* raw bytes in one block, at most */

enum proto_cap_type {
    PROTO_CAP_SESSION = 1, /* a session began (or was alive when the capture began) */
    PROTO_CAP_COMMAND = 2, /* one command and the summary of its answer */
    PROTO_CAP_END = 3,     /* a session ended */
    PROTO_CAP_FILE = 4,    /* LOAD DATA LOCAL: the file's content the client sent */
};

/* A session's connect. `alive` = it was already open when the capture began: its schema,
 * character set and sql_mode are what slowtap knew at that moment. */
struct proto_cap_session {
    uint64_t session;   /* slowtap's id */
    int64_t t_us;       /* realtime us of the connect (or of the capture's start) */
    uint32_t thread_id; /* the server's connection id on the captured server */
    uint32_t client_caps;
    uint8_t charset; /* the handshake response's collation id */
    bool alive;
    const char *user;
    size_t user_len;
    const char *schema;
    size_t schema_len; /* "" when none */
    const char *host;
    size_t host_len; /* client address */
    const char *sql_mode;
    size_t sql_mode_len; /* the sql_mode the session set, "" if none */
    bool sql_mode_set;
};

/* A parameter of a COM_STMT_EXECUTE / COM_STMT_BULK_EXECUTE (first row) as the client sent
 * it: its MYSQL_TYPE_* (u8), unsigned flag, NULL flag and its binary-protocol value bytes (for
 * strings, blobs and decimals the bytes without their length prefix). */
struct proto_cap_param {
    uint8_t type;
    bool is_unsigned;
    bool is_null;
    bool long_data; /* sent with COM_STMT_SEND_LONG_DATA: value is what the client sent */
    bool cut;       /* value holds only the first value_len bytes of a longer one (long data
                       past what slowtap keeps of it) */
    const uint8_t *value;
    size_t value_len;
};

/* One command. cmd is the command byte. For COM_QUERY and COM_STMT_PREPARE `text` is the
 * statement; for COM_INIT_DB the schema; for COM_STMT_EXECUTE / _CLOSE / _RESET /
 * _SEND_LONG_DATA `stmt_id` is the id the captured server gave (the replay maps it to its own
 * prepare) and for an execute `params`; for COM_CHANGE_USER `text` is the new user and
 * `schema` the new schema (never the password). Other commands: cmd alone.
 * The answer: err (0 = success), rows (rows sent), affected, insert_id, warnings, status (the
 * server status flags of the last OK/EOF), checksum (FNV-1a 64 over the result set's row
 * packets' payloads in order, 0 when there were none), t_start_us / t_end_us (realtime us: the
 * command's first byte from the client, the answer's last byte). prepare_id: for a successful
 * COM_STMT_PREPARE, the statement id the server returned. `interrupted`: the answer never
 * ended (the client went away, the backend was lost). */
struct proto_cap_command {
    uint64_t session;
    uint64_t seq; /* the command's number within its session, from 1 */
    int64_t t_start_us;
    int64_t t_end_us;
    uint8_t cmd;
    const char *text;
    size_t text_len;
    const char *schema;
    size_t schema_len;
    uint32_t stmt_id;
    uint32_t prepare_id;
    uint16_t n_params;
    const struct proto_cap_param *params; /* n_params of them */
    uint16_t err;
    uint64_t rows;
    uint64_t affected;
    uint64_t insert_id;
    uint16_t warnings;
    uint16_t status;
    uint64_t checksum;
    bool interrupted;
    bool cut; /* the command is not whole in the record: its text (COM_QUERY/COM_STMT_PREPARE)
                 is the first text_len bytes of a longer one, or an execute's payload or one
                 of its parameters (param.cut) was cut; a replay cannot send it as sent */
};

/* A LOAD DATA LOCAL's file content, sent by the client after command `seq`. A file larger
 * than a block comes as several FILE records with the same session and seq, in order: the
 * content is their concatenation. */
struct proto_cap_file {
    uint64_t session;
    uint64_t seq;
    const uint8_t *data;
    size_t len;
};

struct proto_cap_end {
    uint64_t session;
    int64_t t_us;
};

/* A decoded record: `type` says which member is valid. Pointers point into the decoded
 * block (valid until the reader moves to the next block); params into `param_store`. */
struct proto_cap_record {
    enum proto_cap_type type;
    union {
        struct proto_cap_session session;
        struct proto_cap_command command;
        struct proto_cap_file file;
        struct proto_cap_end end;
    } u;
};

struct proto_param_type;
struct proto_long_data;
/* The parameters of a COM_STMT_EXECUTE payload (p[0] == 0x17) as a capture keeps them, into
 * out[0..nparams): each one's type, flags and binary-protocol value bytes (pointers into p, or
 * into long_data). `prev`: the types bound by the previous execute (used when new_params_bound
 * is 0; NULL when there were none). `long_data`: NULL or nparams entries; a present entry is
 * the parameter's value (long_data set), as the server takes it. False when the payload is
 * malformed or cut short. */
bool proto_cap_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                              const struct proto_param_type *prev,
                              const struct proto_long_data *long_data, struct proto_cap_param *out);

/* FNV-1a 64, continued from h (start with PROTO_CAP_FNV_INIT): the row checksum. */
#define PROTO_CAP_FNV_INIT 0xcbf29ce484222325ULL
uint64_t proto_cap_fnv(uint64_t h, const void *p, size_t n);

/* Encoders: append one whole record to out (capacity cap, used *len). False (and *len
 * unchanged) when it does not fit. proto_cap_*_size gives the bytes a record needs, at most. */
size_t proto_cap_session_size(const struct proto_cap_session *s);
bool proto_cap_put_session(uint8_t *out, size_t cap, size_t *len,
                           const struct proto_cap_session *s);
size_t proto_cap_command_size(const struct proto_cap_command *c);
bool proto_cap_put_command(uint8_t *out, size_t cap, size_t *len,
                           const struct proto_cap_command *c);
size_t proto_cap_file_size(const struct proto_cap_file *f);
bool proto_cap_put_file(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_file *f);
bool proto_cap_put_end(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_end *e);

/* The file header into out[PROTO_CAP_HEADER_LEN]; checks one (false: not a capture, or a
 * version this build cannot read; *version gets the file's). */
void proto_cap_put_header(uint8_t *out, int64_t created_us);
bool proto_cap_check_header(const uint8_t *in, size_t n, uint16_t *version, int64_t *created_us);

/* A block: compresses raw[0..raw_len) into out (capacity cap, which must be at least
 * proto_cap_block_bound(raw_len)) with its header. Returns the block's length, 0 on failure. */
size_t proto_cap_block_bound(size_t raw_len);
size_t proto_cap_block_seal(const uint8_t *raw, size_t raw_len, uint8_t *out, size_t cap,
                            int level);
/* The same with a compression context the caller keeps (ZSTD_CCtx, reused from block to
 * block: no tables allocated and cleared per block); NULL is proto_cap_block_seal. */
struct ZSTD_CCtx_s;
size_t proto_cap_block_seal_ctx(struct ZSTD_CCtx_s *cctx, const uint8_t *raw, size_t raw_len,
                                uint8_t *out, size_t cap, int level);
/* Reads a block header (16 bytes): false when it is not one (lengths out of bounds); *sum
 * gets the reserved field. */
bool proto_cap_block_header(const uint8_t *in, uint32_t *raw_len, uint32_t *zstd_len,
                            uint64_t *sum);
/* Inflates a block's zstd bytes into raw (capacity raw_len): false unless they are one zstd
 * frame with a content checksum that verifies and inflates to raw_len bytes (sum: ignored). */
bool proto_cap_block_open(const uint8_t *z, size_t zstd_len, uint8_t *raw, size_t raw_len,
                          uint64_t sum);

/* Decodes the record at in[*off..n): true and *off advanced past it, or false at the end
 * or on a malformed record. A record of an unknown type is skipped (the function goes on to
 * the next one). On false *off is left at the malformed record (past any unknown ones skipped
 * before it), or at n at the end: *off < n after false means the block is malformed there. param_store holds up to max_params decoded params; a
 * command with more is malformed. */
bool proto_cap_next(const uint8_t *in, size_t n, size_t *off, struct proto_cap_record *r,
                    struct proto_cap_param *param_store, size_t max_params);

#endif
