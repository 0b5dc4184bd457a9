/*
 * http.h - the HTTP endpoint (libevent evhttp, a thread of its own): /metrics (Prometheus text
 * format), /api/digests and /api/digests/<digest> (JSON), / (the dashboard, embedded).
 */
#ifndef SLOWTAP_HTTP_H
#define SLOWTAP_HTTP_H

#include "../conf/conf.h"

struct http;
struct stats;
struct counters;
struct explain;
struct logfile;
struct filter;

/* What the HTTP thread reads. counters[i] for i < n_counters are the workers' counters. */
struct http_sources {
    struct stats *stats;
    struct counters *const *counters;
    int n_counters;
    struct explain *explain;   /* may be NULL */
    struct logfile *slow_log;  /* for dropped-entry counts */
    struct logfile *explain_log; /* may be NULL */
    const struct filter *filter; /* redaction of examples; may be NULL */
};

/* Binds c->http and starts the thread. Returns NULL and prints one line naming the address
 * on failure. Not called when --http off. */
struct http *http_start(const struct conf *c, const struct http_sources *src);
void http_stop(struct http *h);

#endif
