/*
 * ddl.h - the DDL seen through slowtap (ALTER TABLE ... ADD INDEX, CREATE/DROP INDEX,
 * DROP/TRUNCATE/RENAME TABLE, protocol/proto_ddl.h) and the resets of the statistics: markers
 * with their time, kind and tables, which the dashboard draws on the time series of the shapes
 * that touch those tables.
 *
 * A ring of the last DDL_LOG_MAX markers under a mutex: a worker adds one after a DDL
 * statement succeeded (rare: the mutex costs nothing on the per-statement path, which never
 * takes it), the HTTP thread copies them. Fixed memory, allocated up front.
 */
#ifndef SLOWTAP_DDL_H
#define SLOWTAP_DDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/proto_ddl.h"

#define DDL_LOG_MAX  256 /* markers kept, the newest */
#define DDL_TEXT_MAX 256 /* bytes of the statement's fingerprint kept */

struct ddl_marker {
    int64_t wall_us;          /* when the statement ended (realtime us) */
    enum proto_ddl_kind kind; /* PROTO_DDL_NONE: a reset of the statistics */
    bool add_index;
    unsigned n; /* t[0..n) */
    struct proto_ddl_table t[PROTO_DDL_TABLES];
    char text[DDL_TEXT_MAX]; /* the fingerprint (no literals), cut at a UTF-8 boundary */
};

struct ddl_log;

struct ddl_log *ddl_log_new(void);
void ddl_log_free(struct ddl_log *l);
/* Adds a marker; `text` (len bytes) is copied, cut to fit. */
void ddl_log_add(struct ddl_log *l, int64_t wall_us, const struct proto_ddl *d, const char *text,
                 size_t len);
/* Adds a marker of a reset. */
void ddl_log_add_reset(struct ddl_log *l, int64_t wall_us);
/* Copies the markers, oldest first, into out[0..cap); returns how many. */
size_t ddl_log_get(struct ddl_log *l, struct ddl_marker *out, size_t cap);
/* Puts back a marker read from the state file (in time order, before any other is added). */
void ddl_log_put(struct ddl_log *l, const struct ddl_marker *m);

#endif
