/*
 * conf.h - slowtap's configuration: one struct with every setting, its defaults, the INI
 * config file (read with inih) and the command line (getopt_long); the command line overrides
 * the file.
 *
 * Errors (unknown option or key, bad value, unreadable file) are reported as one line on
 * stderr that names the option, key or file; the caller exits with status 2.
 */
#ifndef SLOWTAP_CONF_H
#define SLOWTAP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_MAX_PATTERNS 32

enum conf_log_format { CONF_LOG_TEXT = 0, CONF_LOG_JSON };

enum conf_backend_tls {
    CONF_BTLS_OFF = 0,
    CONF_BTLS_MIRROR, /* the default: TLS to the backend when the client's leg is TLS and the
                         backend offers it (verified against --backend-tls-ca when given) */
    CONF_BTLS_PREFERRED,
    CONF_BTLS_REQUIRED,
    CONF_BTLS_VERIFY_CA,
    CONF_BTLS_VERIFY_IDENTITY,
};

enum conf_backend_compress {
    CONF_BCOMP_AUTO = 0, /* compress the backend leg when the client compresses its own */
    CONF_BCOMP_ON,
    CONF_BCOMP_OFF,
};

/* Durations are kept in microseconds; strings are heap copies owned by the struct. */
struct conf {
    char *config_file;               /* --config FILE */
    char *listen;                    /* --listen ADDR, default 127.0.0.1:6033 */
    char *backend;                   /* --backend ADDR, default 127.0.0.1:3306 */
    int64_t long_query_us;           /* --long-query-time SECONDS, default 1 s; 0 logs everything */
    char *slow_log;                  /* --slow-log PATH, default slowtap-slow.log; "-" = stdout */
    enum conf_log_format log_format; /* --log-format text|json */

    /* auto-EXPLAIN (off unless explain_user is set) */
    char *explain_user;           /* --explain-user */
    char *explain_password;       /* from --explain-password-file, $SLOWTAP_EXPLAIN_PASSWORD,
                                     or --explain-password (tests only) */
    char *explain_password_file;  /* --explain-password-file PATH */
    int64_t explain_threshold_us; /* --explain-threshold, default: long_query_us (-1 = unset) */
    int64_t explain_interval_us;  /* --explain-interval, default 60 s */
    int64_t explain_timeout_us;   /* --explain-timeout, default 2 s */
    int explain_max_inflight;     /* --explain-max-inflight, default 2 */
    int explain_rate;             /* --explain-rate N: EXPLAINs started per second, all shapes
                                     together (burst: one second's worth); 0 = no limit;
                                     default 10 */
    int explain_top;              /* --explain-top N: shapes by total time explained, 0 = off */
    int64_t explain_top_every_us; /* --explain-top-interval, default 60 s */
    char *explain_log;            /* --explain-log PATH (JSON lines), NULL = none */

    /* capture (docs/capture-format.md) */
    char *capture;             /* --capture FILE: capture from start-up, NULL = none */
    int64_t capture_max_bytes; /* --capture-max-bytes BYTES, 0 = no bound; default 1 GiB */
    int64_t capture_us;        /* --capture-seconds, 0 = no bound (default) */

    /* statistics and HTTP */
    int max_digests;      /* --max-digests N, default 10000 */
    char *http;           /* --http ADDR, default 127.0.0.1:9033; NULL when "off" */
    bool http_given;      /* --http (or the http key) was set; else a busy default is skipped */
    int metrics_top;      /* --metrics-top N, default 20 */
    char *http_auth_file; /* --http-auth-file PATH: a token or user:password */

    /* the HTTP server's limits, Host check and HTTPS */
    int http_max_connections;       /* --http-max-connections N, default 64 */
    int64_t http_header_timeout_us; /* --http-header-timeout SECONDS, default 30: a request's
                                       header, counted from accept / the last reply */
    char *http_allow_host;          /* --http-allow-host NAME (repeatable or a comma list):
                                       extra Host names, comma-joined; NULL = none */
    char *http_tls_cert;            /* --http-tls-cert FILE: serve HTTPS */
    char *http_tls_key;             /* --http-tls-key FILE */

    /* routes and findings (proxy/account/routes.h, proxy/account/findings.h) */
    int max_routes;         /* --max-routes N, default 1000 */
    int64_t request_gap_us; /* --request-gap SECONDS, default 0.05 */
    int n_plus_one_min;     /* --n-plus-one-min N, default 5 */

    /* pcre2 filters (repeatable) */
    char *include[CONF_MAX_PATTERNS];
    int n_include;
    char *exclude[CONF_MAX_PATTERNS];
    int n_exclude;
    char *redact[CONF_MAX_PATTERNS];
    int n_redact;
    bool redact_all; /* --redact-all: log fingerprints only */

    /* performance and limits */
    int threads;                  /* --threads N, default: number of cores */
    int max_connections;          /* --max-connections N, default 10000 */
    int64_t handshake_timeout_us; /* --handshake-timeout SECONDS, default 10 */
    int max_pending_handshakes;   /* --max-pending-handshakes N: sessions not yet authenticated
                                     (each holds a backend connection), default 128 for the
                                     process, shared out between the workers */
    int64_t shutdown_timeout_us;  /* --shutdown-timeout SECONDS, default 10 */
    int64_t long_transaction_us;  /* --long-transaction-time SECONDS, default 5: the statement
                                     that ends a longer transaction is logged */

    /* TLS */
    bool tls;                          /* --tls on|off, default on: offer TLS to clients */
    char *tls_generated_cert;          /* --tls-generated-cert FILE: where the generated
                                          certificate (without --tls-cert) is written */
    char *tls_cert, *tls_key, *tls_ca; /* --tls-cert/--tls-key/--tls-ca */
    bool tls_require;                  /* --tls-require */
    enum conf_backend_tls backend_tls; /* --backend-tls off|mirror|preferred|required|verify-ca|
                             verify-identity (default mirror) */
    char *backend_tls_ca;              /* --backend-tls-ca FILE */
    enum conf_backend_compress
        backend_compress; /* --backend-compress on|off, default: as the client asked */

    /* the ClickHouse sink (proxy/output/chsink.h); off unless sink is set */
    char *sink;               /* --sink clickhouse://[user[:password]@]host:port/database */
    char *sink_password;      /* from --sink-password-file or $SLOWTAP_SINK_PASSWORD (else the
                                 address's own), NULL when none */
    char *sink_password_file; /* --sink-password-file PATH */
    char *instance;           /* --instance NAME, default: the host name */
    int sink_buffer;          /* --sink-buffer BYTES, default 64 MiB */
    int64_t sink_interval_us; /* --sink-interval SECONDS, default 1 */
    bool sink_create;         /* --sink-create: create the tables when missing */
    int sink_ttl_days;        /* --sink-ttl-days N: drop days older than N (0: keep all) */
};

enum conf_result {
    CONF_RUN = 0,  /* configuration complete: run the proxy */
    CONF_EXIT_OK,  /* --help or --version was printed: exit 0 */
    CONF_EXIT_ERR, /* an error line was printed: exit 2 */
};

/*
 * Fills `c` with defaults, reads --config FILE if given, then applies the command line.
 * Prints --help/--version output to `out` and errors to `err` (exactly one line per error,
 * `slowtap: <option, key or file>: <problem>`; a group/world-readable config file holding
 * explain-password adds one `slowtap: warning: ...` line). A repeatable option given on the
 * command line replaces the list from the file. After CONF_RUN, explain_threshold_us is never
 * -1 and explain_password is resolved (password file > $SLOWTAP_EXPLAIN_PASSWORD > option).
 * Whatever the result, the struct is in a state conf_free() accepts. Uses getopt_long's
 * global state (resets optind): not thread-safe.
 */
enum conf_result conf_load(struct conf *c, int argc, char **argv, FILE *out, FILE *err);

/* Frees every string the struct owns (the struct itself is the caller's). */
void conf_free(struct conf *c);

/* Prints `slowtap: warning: <fmt...> is readable by group or others (chmod 600 it)` to `err`
 * when `mode` (a struct stat's st_mode) lets group or others read the file; else nothing.
 * For files holding secrets: the config file with explain-password, --http-auth-file. */
void conf_warn_readable(FILE *err, unsigned mode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a duration in decimal seconds ("1", "0.5", "0.000100") into microseconds; false when
 * malformed or negative. */
bool conf_parse_seconds(const char *s, int64_t *us);

/* Checks ADDR syntax: HOST:PORT (no ':' in HOST), [IPv6]:PORT, a bare PORT (127.0.0.1) or an
 * absolute unix socket path; port 1..65535 (net_addr_parse). On false, *why is a short static
 * reason. */
bool conf_valid_addr(const char *s, const char **why);

#endif
