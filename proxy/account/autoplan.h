/*
 * autoplan.h - auto-EXPLAIN by impact: the statement shapes worth a plan whatever one
 * statement cost, explained from the example the statistics keep (stats.h).
 *
 * Real applications are slow from many fast statements. Besides the statements over
 * --explain-threshold (explained on their own path, account.h), two kinds of shapes get a plan:
 *   - a new shape whose statements the server flagged as using no index or no good index
 *     (SERVER_QUERY_NO_INDEX_USED / NO_GOOD_INDEX_USED in their OK/EOF): explained once, at
 *     the first tick after the statistics merged it;
 *   - the --explain-top N shapes that lead by total time: explained again every
 *     --explain-top-interval (the first pass comes AUTOPLAN_FIRST_TOP_US after start, or
 *     after the interval when that is shorter).
 * Each submission is a record (record.h) holding the example, its schema, digest and
 * fingerprint, with explain.log false: the done hook stores the plan and its advice on the
 * shape, writes it to the explain log, and never to the slow log. The explain thread's rules
 * still hold: one EXPLAIN per shape per --explain-interval (else a cached plan, which changes
 * nothing), all within --explain-rate. To leave that rate room for the statements' own path,
 * a tick submits at most half of --explain-rate (at least one); the rest waits for later
 * ticks.
 *
 * Contract: autoplan_new/_tick/_free run on one thread (main's event loop, a tick a second);
 * a tick takes the statistics mutex briefly, allocates only the records it submits, and never
 * blocks (explain_submit does not). Only shapes whose example is explainable as it is
 * (stats_sample.example_explainable: text statements) are explained this way.
 */
#ifndef SLOWTAP_AUTOPLAN_H
#define SLOWTAP_AUTOPLAN_H

#include <stdint.h>

#include "conf/conf.h"

struct autoplan;
struct explain;
struct stats;

#define AUTOPLAN_FIRST_TOP_US (10 * 1000000LL) /* first --explain-top pass after start */

/* NULL when `e` is NULL (auto-EXPLAIN off) or out of memory. `now_us`: monotonic. */
struct autoplan *autoplan_new(const struct conf *c, struct stats *s, struct explain *e,
                              int64_t now_us);
/* Submits what is due at monotonic `now_us` (see above). NULL is fine. */
void autoplan_tick(struct autoplan *a, int64_t now_us);
void autoplan_free(struct autoplan *a);

struct stats_explainable;
/* One statement to the explain thread the way the ticks send theirs (a record with
 * explain.log false: its plan and advice land on shape x->digest), for an EXPLAIN asked for on
 * the dashboard (any thread; the caller rate-limits). False when not taken (out of memory, or
 * the explain queue refused it). */
bool autoplan_explain(struct explain *e, const struct stats_explainable *x);

#endif
