/*
 * history.h - time series over the last hour for the dashboard: statements per second, p99
 * and DB time per second, for the whole proxy, per route and per statement shape, one point
 * per sampling interval.
 *
 * The HTTP thread feeds it the cumulative state of each series (counts, total time, latency
 * histogram) from a timer; a point is the difference from the previous feed. Fixed memory:
 * `keys` series of `points` points each, allocated up front; a new series takes a free slot or
 * the one fed least recently. Single-threaded (the HTTP thread only): no lock.
 */
#ifndef SLOWTAP_HISTORY_H
#define SLOWTAP_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/account/histogram.h"

#define HISTORY_KEY_MAX 128

enum history_kind { HISTORY_ALL = 0, HISTORY_ROUTE = 1, HISTORY_DIGEST = 2 };

struct history_point {
    int64_t wall_us; /* end of the interval */
    double per_s;    /* statements per second */
    double p99_s;    /* p99 of the interval's statements, 0 when none */
    double db_per_s; /* DB time per second (seconds of statement time per second) */
};

struct history;

struct history *history_new(size_t keys, size_t points);
void history_free(struct history *h);
/* Feeds the cumulative state of series (kind, key) at wall_us. The first feed of a series
 * only sets its base; each later one appends a point. `cum` may be NULL (p99 then 0). */
void history_feed(struct history *h, enum history_kind kind, const char *key, int64_t wall_us,
                  uint64_t count, uint64_t total_us, const struct hist *cum);
/* Copies the points of (kind, key), oldest first, into out[0..cap); returns how many. */
size_t history_get(const struct history *h, enum history_kind kind, const char *key,
                   struct history_point *out, size_t cap);

/* The series it holds, for a state file: the kind and key of series i (i < keys given to
 * history_new); false when slot i is unused. */
bool history_series(const struct history *h, size_t i, enum history_kind *kind, char *key,
                    size_t cap);
/* Puts back the points of a series saved in a state file (oldest first; the newest `points`
 * kept), before any feed of it. */
void history_put(struct history *h, enum history_kind kind, const char *key,
                 const struct history_point *p, size_t n);

#endif
