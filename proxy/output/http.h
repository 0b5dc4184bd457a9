/*
 * http.h - the HTTP endpoint (libevent evhttp, a thread and event_base of its own). GET/HEAD
 * only; every response carries Cache-Control: no-store.
 *
 *   /metrics                 Prometheus text format 0.0.4 (text/plain; version=0.0.4): the
 *                            summed worker counters, log and explain counters, evictions, the
 *                            histogram slowtap_statement_duration_seconds (le = 2^k us,
 *                            k = 6..26, plus +Inf) and slowtap_digest_* series for the top
 *                            --metrics-top shapes by total time (fingerprint label cut to 100
 *                            bytes, escaped).
 *   /api/summary             JSON object: statements, errors, slow, connections_active,
 *                            connections_total, evicted, p99 (s), now (unix s) - the
 *                            dashboard's header.
 *   /api/digests?sort=total|p99|count&limit=N   JSON array of shapes (default total, 100):
 *                            digest, fingerprint, example (redacted when the filter redacts),
 *                            count, errors, total/avg/min/max/p50/p95/p99 (seconds), rows,
 *                            rows_affected, no_index, first_seen/last_seen (ISO 8601 UTC),
 *                            flags {full_scan, full_join, tmp_table, filesort, no_index_used},
 *                            plan (array of row objects keyed by column name, or null),
 *                            index_advice, scan_rows, scan_weight ("none", "small",
 *                            "notable": advice_scan_weight, how loudly to show a scan flag),
 *                            server (null, or what performance_schema measured for the
 *                            shape's slow statements: measured (statements), sums of
 *                            rows_examined, tmp_tables, tmp_disk_tables, merge_passes, and
 *                            tmp_table_on_disk / filesort_on_disk: statements that did).
 *                            full_scan is the plan's flag, or without a plan "the server
 *                            reported no index used". 400 on a bad sort/limit.
 *   /api/digests/<16 hex>    one shape plus "histogram": [{lo_us, hi_us, count}] (non-empty
 *                            buckets); 404 {"error": ...} when unknown.
 *   / and /index.html        the embedded dashboard (proxy/dashboard.html).
 *
 * Auth: with --http-auth-file every endpoint needs `Authorization: Bearer <token>` (file holds
 * a token; Basic with any user and the token as the password too, for browsers) or HTTP Basic
 * (file holds user:password); else 401 with WWW-Authenticate (Basic first).
 *
 * Before auth, the Host check (DNS rebinding): Host, and an absolute request URI's host, must
 * name this server (an address of --http, any IP when it is a wildcard, a loopback address,
 * localhost, --http's host name, a --http-allow-host name; any port), else 403. HTTP/1.0
 * without Host is served; HTTP/1.1 without Host gets 400.
 *
 * Limits: at most --http-max-connections connections (the oldest one not being answered is
 * closed to make room; if every one is being answered the new one is closed), and each
 * request must be in within --http-header-timeout of accept or of the previous reply on its
 * connection (bytes trickling in do not extend it). HTTPS with --http-tls-cert/--http-tls-key
 * (bufferevent_openssl).
 *
 * Reads the workers' struct counters with relaxed loads; their latency histograms are read
 * racily while the owners write them (each bucket a relaxed 32-bit load: never torn, at worst a
 * statement behind). Requires evthread_use_pthreads() before any event_base exists (main does
 * it; http_start repeats it, which is harmless).
 */
#ifndef SLOWTAP_HTTP_H
#define SLOWTAP_HTTP_H

#include "conf/conf.h"

struct http;
struct stats;
struct counters;
struct explain;
struct logfile;
struct filter;

/* What the HTTP thread reads. counters[i] for i < n_counters are the workers' counters. */
struct http_sources {
    struct stats *stats;
    struct routes *routes;           /* may be NULL */
    struct findings_table *findings; /* may be NULL */
    struct counters *const *counters;
    int n_counters;
    struct explain *explain;     /* may be NULL */
    struct logfile *slow_log;    /* for dropped-entry counts */
    struct logfile *explain_log; /* may be NULL */
    const struct filter *filter; /* redaction of examples; may be NULL */
    struct capture *capture;     /* POST/GET /api/capture and its metrics; may be NULL */
    uint64_t capture_max_bytes;  /* a POST's bounds when it names none (--capture-max-bytes, */
    uint64_t capture_seconds;    /* --capture-seconds) */
};

/* Binds every address c->http (HOST:PORT, [IPV6]:PORT or PORT) resolves to (listener.h) and
 * starts the thread. Returns NULL and prints one
 * line naming the address on failure - the caller exits 2. That includes a startup refusal:
 * when the address is not loopback (every address the host resolves to is in 127.0.0.0/8 or
 * ::1) and --http-auth-file or --http-tls-cert is missing, statistics are not served (the line
 * names what is missing). Also fails on an unreadable or empty auth file, or an unloadable
 * certificate or key. Warns (one line) when the auth file is readable by group or others.
 * Not called when --http off.
 * Exception: when the address is the default one (!c->http_given) and is already in use, the
 * line printed says HTTP is off and NULL comes back with errno EADDRINUSE: the caller then goes
 * on without HTTP (one slowtap per application on a host is the normal way to run it). */
struct http *http_start(const struct conf *c, const struct http_sources *src);
void http_stop(struct http *h);
/* SIGHUP (main thread): reloads --http-tls-cert/--http-tls-key and swaps the context in; new
 * connections get it, open ones keep theirs. On failure prints why and keeps the old one.
 * Nothing without HTTPS; h may be NULL. */
void http_reload(struct http *h, const struct conf *c);

#endif
