/*
 * pstmt.h - a client connection's prepared statements: statement id -> SQL text, digest,
 * parameter count, the parameter types bound last (for executes with new_params_bound = 0) and
 * the long data sent with COM_STMT_SEND_LONG_DATA since the last execute.
 *
 * Owned by one session; forgotten on COM_STMT_CLOSE, COM_CHANGE_USER and
 * COM_RESET_CONNECTION.
 */
#ifndef SLOWTAP_PSTMT_H
#define SLOWTAP_PSTMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/proto_stmt.h"
#include "protocol/proto_tags.h"

/* Bytes of each parameter's long data kept for the log (the total is still counted). */
#define PSTMT_LONG_DATA_KEEP 1024

struct pstmt {
    uint32_t id;
    char *sql; /* as prepared, with ? placeholders */
    size_t sql_len;
    uint64_t digest; /* of its fingerprint */
    char *fingerprint;
    char *route;             /* the route its PREPARE text's tags name (routes.h), NULL when none */
    struct proto_tags *tags; /* its PREPARE text's tags (every execute's), NULL when none */
    uint32_t *ph_offs;       /* the offsets of its `?` placeholders, found once at PREPARE */
    unsigned nph;            /* entries in ph_offs */
    bool explainable;
    uint16_t nparams;
    uint16_t ncols;
    struct proto_param_type *types;    /* nparams entries: the types bound last */
    struct proto_long_data *long_data; /* nparams entries, data owned (heap) */
    struct pstmt *next;                /* hash chain */
};

struct pstmt_table {
    struct pstmt **buckets;
    size_t nbuckets;
    size_t count;
    uint32_t last_id; /* the statement prepared last (MariaDB's id 0xFFFFFFFF) */
};

/* Adds a statement (copies sql, lexed under the session's `sqlmode` for its fingerprint).
 * Replaces one with the same id. NULL when out of memory. */
struct pstmt *pstmt_add(struct pstmt_table *t, uint32_t id, const char *sql, size_t len,
                        unsigned sqlmode, uint16_t nparams, uint16_t ncols);
/* Finds a statement; id 0xFFFFFFFF means the statement prepared last. */
struct pstmt *pstmt_find(struct pstmt_table *t, uint32_t id);
void pstmt_remove(struct pstmt_table *t, uint32_t id);
/* Forgets every statement and frees the table's memory. */
void pstmt_clear(struct pstmt_table *t);

/* Appends a COM_STMT_SEND_LONG_DATA chunk (keeps the first PSTMT_LONG_DATA_KEEP bytes). */
void pstmt_long_data(struct pstmt *st, uint16_t param, const uint8_t *data, size_t len);
/* Drops the long data (after an execute, and on COM_STMT_RESET). */
void pstmt_long_data_reset(struct pstmt *st);

/*
 * Records the parameter types an execute payload binds (when its new_params_bound flag is 1),
 * so that later executes with new_params_bound = 0 decode. Cheap: no values are decoded.
 */
void pstmt_note_types(struct pstmt *st, const uint8_t *p, size_t len);

#endif
