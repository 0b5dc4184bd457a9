/*
 * routes.h - per-route statistics beside the per-shape ones (stats.h): for each route named
 * by the statements' tags (sqlcommenter route, else marginalia controller#action), the DB
 * time, statements, errors, a latency histogram (p50/p95/p99), the costliest shapes, and the
 * requests (units of work, findings.h) with the statements they ran.
 *
 * Same design as stats.h: each worker records into a table of its own (struct routes_local:
 * fixed slots allocated up front, no lock, no allocation per statement) and merges it into
 * the shared table (one mutex) from its timer, once a second. The shared table holds at most
 * --max-routes routes; when full, the least costly (smallest total time) is evicted for a
 * newcomer, and counted. A local table that is full merges at once when the mutex is free (trylock), else
 * counts the statement into the pseudo-route "(other routes)".
 */
#ifndef SLOWTAP_ROUTES_H
#define SLOWTAP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/account/histogram.h"

#define ROUTES_NAME_MAX   128 /* bytes of a route name kept, NUL included */
#define ROUTES_TOP_SHAPES 8   /* shapes kept per route (the costliest, approximately) */
#define ROUTES_OTHER      "(other routes)"

struct routes;
struct routes_local;
struct proto_tags;

struct routes_shape {
    uint64_t digest, count, total_us;
};

/* A copy of one route, for readers. */
struct routes_entry {
    char route[ROUTES_NAME_MAX];
    uint64_t count, errors, total_us;
    uint64_t requests, request_stmts; /* units of work tagged with this route, their stmts */
    int64_t last_seen_us;
    struct hist hist;
    struct routes_shape top[ROUTES_TOP_SHAPES]; /* by total time, descending */
    unsigned ntop;
};

struct routes_snapshot {
    struct routes_entry *r; /* by total time, descending */
    size_t n;
    uint64_t evicted;
};

/* The route a statement's tags name into out[ROUTES_NAME_MAX]: the sqlcommenter `route`, else
 * marginalia's `controller` (with `#action` when there is one). False (out "") when none. */
bool routes_name(const struct proto_tags *t, char *out);

struct routes *routes_new(int max_routes);
void routes_free(struct routes *r);
uint64_t routes_evicted(struct routes *r);

struct routes_local *routes_local_new(struct routes *r, size_t slots);
void routes_local_free(struct routes_local *l); /* merges first */
/* One statement of `route` (a NUL-terminated name, cut to ROUTES_NAME_MAX - 1). */
void routes_local_record(struct routes_local *l, const char *route, uint64_t digest,
                         uint64_t query_us, bool error, int64_t wall_us);
/* One request (unit of work) of `route` that ran `stmts` statements. */
void routes_local_request(struct routes_local *l, const char *route, uint32_t stmts);
void routes_local_merge(struct routes_local *l);

/* Puts back a route's figures saved in a state file (added to what it has). */
void routes_put(struct routes *r, const struct routes_entry *e);

/* Copies at most `limit` routes (0 = all) by total time. False when out of memory. */
bool routes_snapshot(struct routes *r, size_t limit, struct routes_snapshot *out);
void routes_snapshot_free(struct routes_snapshot *s);

#endif
