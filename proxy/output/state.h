/*
 * state.h - the state file (--state-dir DIR): what slowtap learned survives a restart. The
 * statement shapes' figures (not their plans, which auto-EXPLAIN captures again), the routes,
 * the N+1 and duplicate findings, the DDL and reset markers, the dashboard's time series and
 * the windows (window.h) go to DIR/slowtap.state, a JSON object (jansson):
 *
 *   {"slowtap_state": 1, "saved_at": us, "shapes": [...], "routes": [...], "findings": [...],
 *    "ddl": [...], "series": [...], "window_digests": {...}, "window_routes": {...}}
 *
 * (times in realtime microseconds, digests as 16 hex digits, histograms as
 * [[bucket, count], ...] of their non-empty buckets). It is written atomically: to
 * DIR/slowtap.state.tmp, fsync'ed, renamed over the old one, and DIR fsync'ed; by the HTTP
 * thread (never a worker's event loop) every minute and once more at stop. Read once at start,
 * before any worker runs. A file of another version, or one that is unreadable or not such
 * JSON, is ignored: the caller says so in one line and starts empty.
 */
#ifndef SLOWTAP_STATE_H
#define SLOWTAP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_VERSION 1
#define STATE_FILE    "slowtap.state"

struct stats;
struct routes;
struct findings_table;
struct ddl_log;
struct history;
struct window;

/* What is saved and restored; any part may be NULL. */
struct state_parts {
    struct stats *stats;
    struct routes *routes;
    struct findings_table *findings;
    struct ddl_log *ddl;
    struct history *series;
    size_t series_keys; /* the `keys` history_new was given */
    struct window *win_digests, *win_routes;
};

/* Writes the state file atomically. False with the reason in err (cap bytes). */
bool state_save(const char *dir, const struct state_parts *p, char *err, size_t cap);

enum state_load_result { STATE_NONE = 0, STATE_LOADED, STATE_IGNORED };

/* Reads DIR/slowtap.state into the parts (which are empty: nothing runs yet). STATE_NONE when
 * there is no file, STATE_IGNORED (why in err) when it cannot be read or is not a state file
 * of this version: nothing is then put back. `now_us`: realtime us of the start. */
enum state_load_result state_load(const char *dir, const struct state_parts *p, int64_t now_us,
                                  char *err, size_t cap);

#endif
