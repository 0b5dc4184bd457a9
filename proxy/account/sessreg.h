/*
 * sessreg.h - what slowtap knows of every session that came through it, readable from any
 * thread by the backend connection id: the thread that asks "who blocks me?" (auto-EXPLAIN's
 * lock-wait capture) learns the blocker's user, host, open transaction and its last
 * statements without stopping the worker that owns the session.
 *
 * Each session that opens a transaction gets one entry (allocated on its first transaction,
 * freed with the session). The owning worker publishes into it with a sequence counter
 * (seqlock: two relaxed atomic increments and a copy, no lock, no allocation per statement);
 * readers copy it out and retry when the counter moved. The registry's mutex is taken only to
 * add or remove an entry and by readers, never on the statement path.
 */
#ifndef SLOWTAP_SESSREG_H
#define SLOWTAP_SESSREG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSREG_STMTS    10  /* statements of the open transaction kept */
#define SESSREG_TEXT_MAX 160 /* bytes of each statement's text kept */

struct sessreg_stmt {
    int64_t wall_start; /* realtime us */
    uint64_t dur_us;
    uint16_t len;
    bool cut;
    char text[SESSREG_TEXT_MAX];
};

/* A copy of one session's published state. */
struct sessreg_view {
    uint32_t thread_id;
    char user[64];
    char host[64];
    int64_t trx_wall_start; /* 0: no transaction open */
    int64_t last_end_wall;  /* when its last statement ended (realtime us) */
    uint32_t trx_stmts;     /* statements in the open transaction */
    unsigned nstmts;        /* entries in stmts[], oldest first */
    int64_t snapshot_wall;  /* when this copy was taken (realtime us): idle = this - last_end */
    struct sessreg_stmt stmts[SESSREG_STMTS];
};

struct sessreg_entry;

/* Registers session `thread_id`; NULL when out of memory (the session then just is not
 * described to others). Owner thread only. */
struct sessreg_entry *sessreg_add(uint32_t thread_id, const char *user, const char *host);

/* Removes and frees the entry (NULL is fine). Owner thread only. */
void sessreg_remove(struct sessreg_entry *e);

/* The owner publishes: a transaction began at wall_start (clears the statement list). */
void sessreg_trx_begin(struct sessreg_entry *e, int64_t wall_start);

/* ... a statement of it completed (text cut to SESSREG_TEXT_MAX). */
void sessreg_stmt(struct sessreg_entry *e, const char *text, size_t len, int64_t wall_start,
                  uint64_t dur_us);

/* ... the transaction ended. */
void sessreg_trx_end(struct sessreg_entry *e, int64_t last_end_wall);

/* Any thread: copies the state of the session with backend connection id `thread_id` into
 * *out; false when slowtap has no such session (or it never opened a transaction). */
bool sessreg_lookup(uint32_t thread_id, struct sessreg_view *out);

/* The same as a heap copy (free() it), NULL when unknown; `arg` is unused. main hands it to
 * auto-EXPLAIN as the blocker hook (explain_blocker_fn), so a record's explain.blocker is one. */
struct sessreg_view *sessreg_snapshot(void *arg, uint32_t thread_id);

/* For a MariaDB metadata-lock wait (explain_touch_fn, main's touch hook): an enum
 * lockwait_touch for the session `v` (a sessreg_snapshot copy, NULL: not a session of this
 * slowtap): in a transaction or not, and whether one of its statements kept names `table`
 * (unqualified or in `db`); with statements not kept (over SESSREG_STMTS, or cut) a session
 * that names it nowhere is LOCKWAIT_TOUCH_MAYBE, not NO. */
int sessreg_touches(const struct sessreg_view *v, const char *db, const char *table);

#endif
