/*
 * window.h - statistics over a time window: the last 5 minutes, the last hour, and since the
 * last reset (or start), for statement shapes and routes, computed from their cumulative
 * figures, so that nothing on the data path changes.
 *
 * The HTTP thread feeds the cumulative figures of every key (a shape's digest, a route's
 * hash) about once a minute; the difference from the previous feed goes into the minute of
 * that previous feed, in a ring of WINDOW_MINUTES minutes. Only keys whose figures moved are
 * stored, their histograms sparse (the non-empty buckets), so memory follows what ran. A
 * reset keeps the figures of that moment as the baseline of "since reset". A window is read
 * from the figures of now: the whole minutes of the ring in the window, plus what the keys
 * added since the last feed. Single-threaded (the HTTP thread): no lock.
 *
 * A window of M minutes covers the M whole minutes before the current one and the current
 * one so far. Per window: count, errors, no-index, total and queue time, rows, requests and
 * a latency histogram (percentiles within 6.25%, histogram.h); no exact min and max.
 */
#ifndef SLOWTAP_WINDOW_H
#define SLOWTAP_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/account/histogram.h"

#define WINDOW_MINUTES 60 /* the longest window */

enum window_val {
    WINDOW_COUNT = 0,
    WINDOW_ERRORS,
    WINDOW_NO_INDEX,
    WINDOW_TOTAL_US,
    WINDOW_QUEUE_US,
    WINDOW_ROWS_SENT,
    WINDOW_ROWS_AFFECTED,
    WINDOW_REQUESTS,      /* routes: units of work */
    WINDOW_REQUEST_STMTS, /* routes: their statements */
    WINDOW_NVAL
};

/* One key's additive figures: cumulative when fed, a window's when read. */
struct window_fig {
    uint64_t key;
    uint64_t v[WINDOW_NVAL];
    struct hist hist;
};

struct window;

struct window *window_new(void);
void window_free(struct window *w);

/* Feeds the cumulative figures of every key at wall_us (realtime us), cum[0..n) sorted by key
 * (ascending, unique). A key whose count went down since the last feed (evicted and back)
 * counts from 0. The first feed counts all of cum in its minute (figures since start), unless
 * window_base came first. False when out of memory (the feed is then lost). */
bool window_feed(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n);

/* Sets the figures the next feed counts from, without counting them in any minute (figures
 * restored from a state file, whose minutes are restored on their own). */
void window_base(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n);

/* Starts "since reset" at wall_us: feeds cum (as window_feed) and keeps it as the baseline. */
bool window_reset(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n);

/* Realtime us of the last reset; 0 when never reset. */
int64_t window_reset_at(const struct window *w);

/* The figures of each of cum[0..n) (sorted by key, the figures of now) over the last
 * `minutes` minutes (1..WINDOW_MINUTES), or since the last reset when `minutes` is 0, into
 * out[0..n) (same order and keys). */
void window_sum(const struct window *w, int64_t wall_us, unsigned minutes,
                const struct window_fig *cum, size_t n, struct window_fig *out);

/* The state file (proxy/output/state.h): the ring, the last feed and the reset as a jansson
 * object {"fed_us", "reset_us", "prev", "base", "minutes": [{"minute", "set"}]}, a set being
 * [[key (16 hex), [values], [[bucket, count], ...]], ...]; NULL when out of memory. Load puts
 * them back into a new window (what runs from now_us counts in the minute of now_us); false
 * (the window left empty) when the object is malformed. */
struct json_t;
struct json_t *window_save(const struct window *w);
bool window_load(struct window *w, const struct json_t *o, int64_t now_us);

/* Sorts figs[0..n) by key, ascending. */
void window_sort(struct window_fig *figs, size_t n);

/* A 64-bit key for a string (a route): FNV-1a. */
uint64_t window_key(const char *s);

#endif
