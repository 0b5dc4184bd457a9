/*
 * counters.h - proxy-wide counters for /metrics. Each worker owns one struct counters and is
 * its only writer (relaxed atomic stores: no lock, no contended cache line); readers sum over
 * the workers.
 */
#ifndef SLOWTAP_COUNTERS_H
#define SLOWTAP_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "proxy/account/histogram.h"

struct counters {
    _Atomic uint64_t connections_total;   /* client connections accepted */
    _Atomic uint64_t connections_active;  /* open now (owner increments and decrements) */
    _Atomic uint64_t connections_refused; /* over --max-connections */
    _Atomic uint64_t backend_errors;      /* backend connect failures or losses */
    _Atomic uint64_t protocol_errors;     /* malformed packets (client or server) */
    _Atomic uint64_t sessions_untracked;  /* sessions that went on relaying blindly (fail open) */
    _Atomic uint64_t statements;          /* commands completed */
    _Atomic uint64_t statement_errors;    /* completed with an ERR */
    _Atomic uint64_t slow_statements;     /* at or over --long-query-time */
    _Atomic uint64_t bytes_from_client;
    _Atomic uint64_t bytes_to_client;
    _Atomic uint64_t query_us_total; /* sum of Query_time */
    struct hist latency;             /* every statement; written by the owner only */

    /* Transactions (SERVER_STATUS_IN_TRANS followed in every OK/EOF). */
    _Atomic uint64_t transactions;      /* ended (committed, rolled back, or connection gone) */
    _Atomic uint64_t trx_us_total;      /* their total duration */
    _Atomic uint64_t trx_idle_us_total; /* of which idle between statements */
    _Atomic uint64_t trx_open;          /* sessions inside a transaction now */
    _Atomic int64_t trx_oldest_wall_us; /* start of the oldest open one (0: none); per tick */
    struct hist trx_duration;           /* per ended transaction */
    struct hist trx_idle;               /* per ended transaction: time idle inside it */

    /* Limits (proxy/relay/worker.h, session.c). */
    _Atomic uint64_t accept_errors;      /* accepting failed: descriptors or memory ran out */
    _Atomic uint64_t connections_shed;   /* closed with ERR 1040 for lack of descriptors */
    _Atomic uint64_t handshakes_pending; /* not yet authenticated, now (owner inc/dec) */
    _Atomic uint64_t handshakes_evicted; /* stalled ones closed to make room for a new client */
    _Atomic uint64_t handshakes_refused; /* ERR 1040 at --max-pending-handshakes */
};

/* Adds v to a counter the calling thread owns (a plain load and store, never a locked op). */
#define COUNTER_ADD(c, field, v)                                                                   \
    atomic_store_explicit(&(c)->field,                                                             \
                          atomic_load_explicit(&(c)->field, memory_order_relaxed) + (v),           \
                          memory_order_relaxed)
#define COUNTER_GET(c, field) atomic_load_explicit(&(c)->field, memory_order_relaxed)

#endif
