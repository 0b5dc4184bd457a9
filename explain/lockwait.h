/*
 * lockwait.h - what a running statement waits for, as the server tells a side connection:
 * the queries to ask (MariaDB: information_schema.PROCESSLIST, INNODB_TRX, INNODB_LOCK_WAITS,
 * INNODB_LOCKS; MySQL 8: performance_schema.threads, data_lock_waits, data_locks,
 * metadata_locks) and the parsing of their rows into one struct lockwait.
 *
 * Pure: query text in, rows (column names and values, as libmariadb returns them) in, a
 * struct out; no I/O. The explain thread runs the query on its connection (reads only).
 */
#ifndef SLOWTAP_LOCKWAIT_H
#define SLOWTAP_LOCKWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lockwait_kind {
    LOCKWAIT_NONE = 0, /* the thread waits for no lock (or is gone) */
    LOCKWAIT_ROW,      /* an InnoDB record or gap lock held by another transaction */
    LOCKWAIT_TABLE,    /* an InnoDB table lock */
    LOCKWAIT_METADATA, /* a metadata lock (DDL behind an open transaction, LOCK TABLES) */
};

struct lockwait {
    enum lockwait_kind kind;
    uint64_t wait_us;      /* how long it had waited when asked (0 when unknown) */
    uint32_t blocked_by;   /* connection id of the blocking session, 0 when unknown */
    char table[192];       /* `db`.`table` ("" when unknown) */
    char index[64];        /* InnoDB index ("" when unknown or a table lock) */
    char mode[32];         /* X, S, IX, ... ("" when unknown) */
    char state[64];        /* the waiting thread's PROCESSLIST state ("Updating", ...) */
    int64_t asked_wall_us; /* when the server was asked (realtime us), set by the caller */
};

/* The whole wait of a statement that started at start_wall_us and ran for query_us, given
 * what was seen while it ran: from the wait's start (asked - wait_us) to the statement's end
 * at the latest (the lock may have been granted earlier: an upper bound, exact when the
 * statement had nothing else to do). */
uint64_t lockwait_total_us(const struct lockwait *lw, int64_t start_wall_us, uint64_t query_us);

/* "row", "table", "metadata"; NULL for LOCKWAIT_NONE. */
const char *lockwait_kind_name(enum lockwait_kind k);

/* Writes the query that describes what connection `thread_id` waits for into out (NUL-
 * terminated); returns its length (0 when it does not fit). One query, one result set. */
size_t lockwait_query(bool mariadb, uint32_t thread_id, char *out, size_t cap);

/*
 * Folds one row of that query's result (n columns named names[i], values vals[i], NULL for
 * SQL NULL) into *lw. Call with lw zeroed before the first row. Unknown columns are ignored,
 * so the same parser reads both servers' results and rows recorded from either.
 */
void lockwait_add_row(struct lockwait *lw, const char *const *names, const char *const *vals,
                      unsigned n);

#endif
