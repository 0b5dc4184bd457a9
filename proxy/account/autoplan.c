/*
 * autoplan.c - auto-EXPLAIN by impact (autoplan.h): new no-index shapes once, the shapes that
 * lead by total time every --explain-top-interval, from the statistics' examples.
 */
#include "proxy/account/autoplan.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strcopy.h"
#include "explain/explain.h"
#include "protocol/proto.h"
#include "proxy/account/record.h"
#include "proxy/account/stats.h"

struct autoplan {
    struct stats *stats;
    struct explain *explain;
    size_t top;           /* --explain-top */
    int64_t top_every_us; /* --explain-top-interval */
    int64_t next_top_us;  /* monotonic: the next top pass */
    size_t per_tick;      /* submissions per tick, at most */
    /* shapes taken and not submitted yet (the per-tick budget): pend[0..npend) */
    struct stats_explainable *pend;
    size_t npend, cap;
};

struct autoplan *
autoplan_new(const struct conf *c, struct stats *s, struct explain *e, int64_t now_us)
{
    if (!e || !s) {
        return NULL;
    }
    struct autoplan *a = calloc(1, sizeof *a);
    if (!a) {
        return NULL;
    }
    a->stats = s;
    a->explain = e;
    a->top = c->explain_top > 0 ? (size_t)c->explain_top : 0;
    a->top_every_us = c->explain_top_every_us > 0 ? c->explain_top_every_us : 1000000;
    a->next_top_us = now_us + (a->top_every_us < AUTOPLAN_FIRST_TOP_US ? a->top_every_us
                                                                       : AUTOPLAN_FIRST_TOP_US);
    a->per_tick = c->explain_rate > 1 ? (size_t)c->explain_rate / 2 : 1;
    if (c->explain_rate == 0) {
        a->per_tick = (size_t)-1; /* no limit */
    }
    a->cap = a->top + STATS_NOINDEX_QUEUE;
    a->pend = calloc(a->cap, sizeof *a->pend);
    if (!a->pend) {
        free(a);
        return NULL;
    }
    return a;
}

void
autoplan_free(struct autoplan *a)
{
    if (a) {
        free(a->pend);
        free(a);
    }
}

/* One shape to the explain thread as a record of its own; false when it was not taken. */
bool
autoplan_explain(struct explain *e, const struct stats_explainable *x)
{
    struct rec *r = rec_new();
    if (!r) {
        return false;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->start_wall_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    r->cmd = PROTO_COM_QUERY; /* the example is a text statement */
    strcopy(r->schema, sizeof r->schema, x->schema, strlen(x->schema));
    r->digest = x->digest;
    r->query_us = x->query_us; /* the explain log's query_time: the example's own */
    r->explainable = true;
    r->fingerprint = strdup(x->fingerprint); /* owned (not lent): rec_free frees it */
    if (!r->fingerprint || !rec_set_sql(r, x->example, strlen(x->example))) {
        rec_free(r);
        return false;
    }
    r->explain.log = false; /* a plan for the shape: nothing for the slow log */
    r->explain.fresh = x->fresh;
    if (!explain_submit(e, rec_explain_job(r))) {
        rec_free(r);
        return false;
    }
    return true;
}

void
autoplan_tick(struct autoplan *a, int64_t now_us)
{
    if (!a) {
        return;
    }
    /* new no-index shapes first: they wait at most a tick; then the top pass when due */
    size_t room = a->cap - a->npend;
    if (room > 0) {
        size_t want = room < STATS_NOINDEX_QUEUE ? room : STATS_NOINDEX_QUEUE;
        a->npend += stats_take_noindex(a->stats, a->pend + a->npend, want);
    }
    if (a->top > 0 && now_us >= a->next_top_us) {
        a->next_top_us = now_us + a->top_every_us;
        if (a->npend + a->top <= a->cap) {
            size_t n = stats_top_explainable(a->stats, a->pend + a->npend, a->top);
            for (size_t i = 0; i < n; i++) {
                a->pend[a->npend + i].fresh = true; /* re-checked: a new index shows */
            }
            a->npend += n;
        } /* else the last pass has not been submitted yet: skip this one */
    }
    size_t done = 0;
    while (done < a->npend && done < a->per_tick) {
        autoplan_explain(a->explain,
                         &a->pend[done]); /* refused (queue full): dropped, counted there */
        done++;
    }
    if (done) {
        memmove(a->pend, a->pend + done, (a->npend - done) * sizeof *a->pend);
        a->npend -= done;
    }
}
