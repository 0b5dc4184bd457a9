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

#define LOCKWAIT_CANDS 8 /* candidate blockers kept when the choice is ambiguous */

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
    bool inferred;         /* blocked_by (or cands) inferred, not reported by the server:
                              a MariaDB metadata-lock wait without performance_schema */
    unsigned ncands;       /* inferred and ambiguous: the likely blockers (blocked_by 0) */
    uint32_t cands[LOCKWAIT_CANDS];
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

/*
 * Metadata-lock blockers on MariaDB, which reports only the waiter's state. After
 * lockwait_add_row, lockwait_mdl_wanted says whether to ask once more: then
 * lockwait_mdl_query's rows (folded by lockwait_mdl_add_row) give the waiter's statement and
 * schema, the granted owners of the table's metadata locks from performance_schema (when
 * `pfs`: performance_schema is ON; its MDL instrument may still be off, giving no rows), and
 * as candidates the other threads with an open InnoDB transaction and the idle ones. The
 * caller fills each candidate's `touch` from what the proxy knows of that session, then
 * lockwait_mdl_choose names the blocker:
 *   1. a performance_schema owner: the server's word (not inferred);
 *   2. else, among the candidates that can hold it (an InnoDB transaction older than the wait,
 *      or an idle session the proxy knows is inside a transaction): the only one the proxy saw
 *      touch the table in its transaction (TOUCH_YES); else the only one not known to have
 *      left the table alone (not TOUCH_NO); else the only one. blocked_by is that one, with
 *      inferred set;
 *   3. else (several, none preferred) blocked_by stays 0 and cands lists up to 8 of them,
 *      oldest transaction first (inferred set), or nothing when there is no candidate.
 */
enum lockwait_touch {
    LOCKWAIT_TOUCH_UNKNOWN = 0, /* not a session the proxy knows */
    LOCKWAIT_TOUCH_NO_TRX,      /* a session of the proxy with no open transaction */
    LOCKWAIT_TOUCH_MAYBE,       /* in a transaction: no statement kept names the table, but
                                   not all of them are kept (or some were cut) */
    LOCKWAIT_TOUCH_NO,          /* in a transaction none of whose statements names the table */
    LOCKWAIT_TOUCH_YES,         /* in a transaction one of whose statements names the table */
};

#define LOCKWAIT_MDL_MAX 32

struct lockwait_cand {
    uint32_t id;
    bool owner;                /* holds a GRANTED metadata lock on the table (performance_schema) */
    bool innodb_trx;           /* has an open InnoDB transaction */
    int64_t trx_age_us;        /* age of that transaction (an upper bound), -1 when unknown */
    enum lockwait_touch touch; /* set by the caller */
};

struct lockwait_mdl {
    uint32_t waiter;
    int64_t run_us; /* how long the waiter's statement has run, -1 when unknown */
    char db[65];    /* the waited-for table: from performance_schema, else from the */
    char table[65]; /* waiter's statement (qualified, or in its current schema); "" unknown */
    unsigned n;
    struct lockwait_cand c[LOCKWAIT_MDL_MAX];
};

/* A MariaDB wait for a metadata lock whose blocker is not known yet. */
bool lockwait_mdl_wanted(const struct lockwait *lw);

/* The query for waiter `thread_id` (see above); its length, 0 when it does not fit. */
size_t lockwait_mdl_query(bool pfs, uint32_t thread_id, char *out, size_t cap);

/* Folds one row of it into *m (zeroed before the first row). */
void lockwait_mdl_add_row(struct lockwait_mdl *m, const char *const *names, const char *const *vals,
                          unsigned n);

/* Fills lw->blocked_by / cands / inferred (and lw->table when empty) from *m (rule above). */
void lockwait_mdl_choose(struct lockwait *lw, const struct lockwait_mdl *m);

/* Does statement text[0..len) name table `table` (unqualified, or qualified by `db`)? Case is
 * ignored. The proxy's session registry uses it for LOCKWAIT_TOUCH_YES. */
bool lockwait_text_names(const char *text, size_t len, const char *db, const char *table);

#endif
