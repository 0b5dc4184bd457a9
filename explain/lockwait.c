/*
 * lockwait.c - lock-wait queries and the parsing of their rows; see lockwait.h. Column names
 * are the contract between the two: both queries alias their columns to the same names.
 */
#include "explain/lockwait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
lockwait_kind_name(enum lockwait_kind k)
{
    switch (k) {
    case LOCKWAIT_ROW:
        return "row";
    case LOCKWAIT_TABLE:
        return "table";
    case LOCKWAIT_METADATA:
        return "metadata";
    default:
        return NULL;
    }
}

/*
 * MariaDB: the waiting thread's state from PROCESSLIST, and when its transaction waits for an
 * InnoDB lock, the blocking transaction's thread and the requested lock. TIME_MS is how long
 * the statement has run, wait_us how long the lock wait lasts (trx_wait_started has whole
 * seconds only, so the statement's time bounds it).
 */
static const char mariadb_q[] =
    "SELECT p.STATE AS state, p.TIME_MS * 1000 AS run_us, "
    "LEAST(TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)), p.TIME_MS * 1000) AS wait_us, "
    "b.trx_mysql_thread_id AS blocked_by, l.lock_table AS lock_table, "
    "l.lock_index AS lock_index, l.lock_mode AS lock_mode, l.lock_type AS lock_type "
    "FROM information_schema.PROCESSLIST p "
    "LEFT JOIN information_schema.INNODB_TRX r ON r.trx_mysql_thread_id = p.ID "
    "LEFT JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id "
    "LEFT JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id "
    "LEFT JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id "
    "WHERE p.ID = %u";

/*
 * MySQL 8: performance_schema maps connection ids to thread ids; data_lock_waits names the
 * blocking engine transaction's thread, data_locks the table, index and mode; a metadata lock
 * wait shows as a PENDING row of metadata_locks (whose GRANTED owner is the blocker).
 */
static const char mysql_q[] =
    "SELECT t.PROCESSLIST_STATE AS state, t.PROCESSLIST_TIME * 1000000 AS run_us, "
    "NULL AS wait_us, bt.PROCESSLIST_ID AS blocked_by, "
    "CONCAT('`', l.OBJECT_SCHEMA, '`.`', l.OBJECT_NAME, '`') AS lock_table, "
    "l.INDEX_NAME AS lock_index, l.LOCK_MODE AS lock_mode, l.LOCK_TYPE AS lock_type "
    "FROM performance_schema.threads t "
    "LEFT JOIN performance_schema.data_lock_waits w ON w.REQUESTING_THREAD_ID = t.THREAD_ID "
    "LEFT JOIN performance_schema.data_locks l ON l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID "
    "LEFT JOIN performance_schema.threads bt ON bt.THREAD_ID = w.BLOCKING_THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u "
    "UNION ALL "
    "SELECT t.PROCESSLIST_STATE, NULL, NULL, gt.PROCESSLIST_ID, "
    "CONCAT('`', m.OBJECT_SCHEMA, '`.`', m.OBJECT_NAME, '`'), NULL, m.LOCK_TYPE, 'METADATA' "
    "FROM performance_schema.threads t "
    "JOIN performance_schema.metadata_locks m ON m.OWNER_THREAD_ID = t.THREAD_ID "
    "AND m.LOCK_STATUS = 'PENDING' "
    "LEFT JOIN performance_schema.metadata_locks g ON g.OBJECT_TYPE = m.OBJECT_TYPE "
    "AND g.OBJECT_SCHEMA <=> m.OBJECT_SCHEMA AND g.OBJECT_NAME <=> m.OBJECT_NAME "
    "AND g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> t.THREAD_ID "
    "LEFT JOIN performance_schema.threads gt ON gt.THREAD_ID = g.OWNER_THREAD_ID "
    "WHERE t.PROCESSLIST_ID = %u";

size_t
lockwait_query(bool mariadb, uint32_t thread_id, char *out, size_t cap)
{
    int n = mariadb ? snprintf(out, cap, mariadb_q, thread_id)
                    : snprintf(out, cap, mysql_q, thread_id, thread_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void
copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *
col(const char *const *names, const char *const *vals, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++) {
        if (names[i] && strcasecmp(names[i], name) == 0) {
            return vals[i];
        }
    }
    return NULL;
}

uint64_t
lockwait_total_us(const struct lockwait *lw, int64_t start_wall_us, uint64_t query_us)
{
    int64_t end = start_wall_us + (int64_t)query_us;
    int64_t began = lw->asked_wall_us - (int64_t)lw->wait_us;
    if (!lw->asked_wall_us || began < start_wall_us) {
        began = start_wall_us;
    }
    return end > began ? (uint64_t)(end - began) : lw->wait_us;
}

void
lockwait_add_row(struct lockwait *lw, const char *const *names, const char *const *vals, unsigned n)
{
    const char *state = col(names, vals, n, "state");
    const char *type = col(names, vals, n, "lock_type");
    const char *by = col(names, vals, n, "blocked_by");
    const char *wait = col(names, vals, n, "wait_us");
    const char *run = col(names, vals, n, "run_us");
    const char *table = col(names, vals, n, "lock_table");

    if (state && !lw->state[0]) {
        copy(lw->state, sizeof lw->state, state);
    }
    enum lockwait_kind kind = LOCKWAIT_NONE;
    if (type && strcasecmp(type, "METADATA") == 0) {
        kind = LOCKWAIT_METADATA;
    } else if (type && strcasecmp(type, "TABLE") == 0) {
        kind = LOCKWAIT_TABLE;
    } else if (type && strcasecmp(type, "RECORD") == 0) {
        kind = LOCKWAIT_ROW;
    } else if (by) {
        kind = LOCKWAIT_ROW; /* a blocker without lock details (INNODB_LOCKS may lag) */
    } else if (state && strstr(state, "metadata lock")) {
        kind = LOCKWAIT_METADATA; /* MariaDB: the state says it, the blocker is unknown */
    }
    if (kind == LOCKWAIT_NONE || (lw->kind != LOCKWAIT_NONE && lw->blocked_by)) {
        return; /* the first row that names a wait (and its blocker) wins */
    }
    lw->kind = kind;
    if (by) {
        lw->blocked_by = (uint32_t)strtoul(by, NULL, 10);
    }
    const char *us = wait ? wait : run;
    if (us) {
        double v = strtod(us, NULL);
        lw->wait_us = v > 0 ? (uint64_t)v : 0;
    }
    copy(lw->table, sizeof lw->table, table);
    copy(lw->index, sizeof lw->index, col(names, vals, n, "lock_index"));
    copy(lw->mode, sizeof lw->mode, col(names, vals, n, "lock_mode"));
}
