/*
 * conf.c - slowtap's configuration: defaults, the INI config file (inih) and the command line
 * (getopt_long). One table describes every option once; the command line and the file both
 * go through conf_set(), so validation and error lines are the same for both.
 */
#include "conf/conf.h"
#include "common/churl.h"
#include "net/net_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SLOWTAP_VERSION
#define SLOWTAP_VERSION "unknown"
#endif

enum conf_kind {
    K_STR,   /* plain string (path, user) */
    K_ADDR,  /* HOST:PORT, [IPv6]:PORT or /unix/path */
    K_HTTP,  /* like K_ADDR, or "off" -> NULL */
    K_DUR,   /* duration in seconds -> microseconds */
    K_INT,   /* integer in [min, max] */
    K_BOOL,  /* 1/0/yes/no/true/false/on/off */
    K_FLAG,  /* on|off like K_BOOL, but the argument is required (--tls off) */
    K_FMT,   /* text|json */
    K_BTLS,  /* off|mirror|preferred|required|verify-ca|verify-identity */
    K_BCOMP, /* on|off (unset: as the client asked) */
    K_LIST,  /* repeatable pattern */
    K_HOSTS, /* repeatable and/or comma list of names, kept comma-joined in one string */
    K_CLI,   /* command line only: --config, --help, --version */
    K_BYTES, /* a byte count, with an optional K, M or G suffix (powers of 1024) -> int64_t */
};

enum conf_id {
    O_CONFIG = 256,
    O_LISTEN,
    O_BACKEND,
    O_LONG_QUERY_TIME,
    O_SLOW_LOG,
    O_LOG_FORMAT,
    O_EXPLAIN_USER,
    O_EXPLAIN_PASSWORD,
    O_EXPLAIN_PASSWORD_FILE,
    O_EXPLAIN_THRESHOLD,
    O_EXPLAIN_INTERVAL,
    O_EXPLAIN_TIMEOUT,
    O_EXPLAIN_MAX_INFLIGHT,
    O_EXPLAIN_RATE,
    O_EXPLAIN_TOP,
    O_EXPLAIN_TOP_INTERVAL,
    O_EXPLAIN_LOG,
    O_CAPTURE,
    O_CAPTURE_MAX_BYTES,
    O_CAPTURE_SECONDS,
    O_MAX_DIGESTS,
    O_STATE_DIR,
    O_MAX_ROUTES,
    O_REQUEST_GAP,
    O_N_PLUS_ONE_MIN,
    O_REQUESTS_KEEP,
    O_REQUESTS_STATEMENTS,
    O_HTTP,
    O_METRICS_TOP,
    O_HTTP_AUTH_FILE,
    O_HTTP_MAX_CONNECTIONS,
    O_HTTP_HEADER_TIMEOUT,
    O_HTTP_ALLOW_HOST,
    O_HTTP_TLS_CERT,
    O_HTTP_TLS_KEY,
    O_INCLUDE,
    O_EXCLUDE,
    O_REDACT,
    O_REDACT_ALL,
    O_THREADS,
    O_MAX_CONNECTIONS,
    O_HANDSHAKE_TIMEOUT,
    O_MAX_PENDING_HANDSHAKES,
    O_SHUTDOWN_TIMEOUT,
    O_LONG_TRANSACTION_TIME,
    O_TLS,
    O_TLS_GENERATED_CERT,
    O_TLS_CERT,
    O_TLS_KEY,
    O_TLS_CA,
    O_TLS_REQUIRE,
    O_BACKEND_TLS,
    O_BACKEND_TLS_CA,
    O_BACKEND_COMPRESS,
    O_SINK,
    O_SINK_PASSWORD_FILE,
    O_INSTANCE,
    O_SINK_BUFFER,
    O_SINK_INTERVAL,
    O_SINK_CREATE,
    O_SINK_TTL_DAYS,
    O_HELP,
    O_VERSION,
};

struct conf_opt {
    const char *name;
    enum conf_id id;
    enum conf_kind kind;
    size_t off;       /* offsetof the field in struct conf */
    long min, max;    /* K_INT range; K_DUR: min 1 = must be > 0 */
    const char *arg;  /* argument name for --help */
    const char *help; /* --help text, including the default */
};

#define OFF(field) offsetof(struct conf, field)

static const struct conf_opt conf_opts[] = {
    {"config", O_CONFIG, K_CLI, 0, 0, 0, "FILE", "read settings from an INI file first"},
    {"listen", O_LISTEN, K_ADDR, OFF(listen), 0, 0, "ADDR",
     "address clients connect to; all a name resolves to (default 127.0.0.1:6033)"},
    {"backend", O_BACKEND, K_ADDR, OFF(backend), 0, 0, "ADDR",
     "MariaDB/MySQL server; its addresses tried in order (default 127.0.0.1:3306)"},
    {"long-query-time", O_LONG_QUERY_TIME, K_DUR, OFF(long_query_us), 0, 0, "SECONDS",
     "log statements slower than this; 0 logs all (default 1)"},
    {"slow-log", O_SLOW_LOG, K_STR, OFF(slow_log), 0, 0, "PATH",
     "slow log file, - for stdout (default slowtap-slow.log)"},
    {"log-format", O_LOG_FORMAT, K_FMT, OFF(log_format), 0, 0, "FMT",
     "slow log format: text or json (default text)"},
    {"explain-user", O_EXPLAIN_USER, K_STR, OFF(explain_user), 0, 0, "USER",
     "user for auto-EXPLAIN side connections (default: none, EXPLAIN off)"},
    {"explain-password", O_EXPLAIN_PASSWORD, K_STR, OFF(explain_password), 0, 0, "PASS",
     "its password (tests only; prefer the file or $SLOWTAP_EXPLAIN_PASSWORD)"},
    {"explain-password-file", O_EXPLAIN_PASSWORD_FILE, K_STR, OFF(explain_password_file), 0, 0,
     "PATH", "read the EXPLAIN password from the first line of PATH (default: none)"},
    {"explain-threshold", O_EXPLAIN_THRESHOLD, K_DUR, OFF(explain_threshold_us), 0, 0, "SECONDS",
     "EXPLAIN statements slower than this (default: --long-query-time)"},
    {"explain-interval", O_EXPLAIN_INTERVAL, K_DUR, OFF(explain_interval_us), 0, 0, "SECONDS",
     "re-EXPLAIN a statement shape at most this often (default 60)"},
    {"explain-timeout", O_EXPLAIN_TIMEOUT, K_DUR, OFF(explain_timeout_us), 1, 0, "SECONDS",
     "give up on an EXPLAIN after this long, > 0 (default 2)"},
    {"explain-max-inflight", O_EXPLAIN_MAX_INFLIGHT, K_INT, OFF(explain_max_inflight), 1, 1024, "N",
     "concurrent EXPLAIN connections, 1..1024 (default 2)"},
    {"explain-rate", O_EXPLAIN_RATE, K_INT, OFF(explain_rate), 0, 1000000, "N",
     "EXPLAINs started per second, all shapes together; 0 = no limit (default 10)"},
    {"explain-top", O_EXPLAIN_TOP, K_INT, OFF(explain_top), 0, 1000, "N",
     "also EXPLAIN the N shapes with most total time, however fast each statement; 0 = off "
     "(default 20)"},
    {"explain-top-interval", O_EXPLAIN_TOP_INTERVAL, K_DUR, OFF(explain_top_every_us), 1, 0,
     "SECONDS", "how often those shapes are explained again, > 0 (default 60)"},
    {"capture", O_CAPTURE, K_STR, OFF(capture), 0, 0, "FILE",
     "capture every session's commands into FILE (mode 0600; real values) (default: none)"},
    {"capture-max-bytes", O_CAPTURE_MAX_BYTES, K_BYTES, OFF(capture_max_bytes), 0, 0, "BYTES",
     "stop a capture when its file would pass this size, 0 = no bound (default 1G)"},
    {"capture-seconds", O_CAPTURE_SECONDS, K_DUR, OFF(capture_us), 0, 0, "SECONDS",
     "stop a capture after this long (whole seconds, rounded up), 0 = no bound (default 0)"},
    {"explain-log", O_EXPLAIN_LOG, K_STR, OFF(explain_log), 0, 0, "PATH",
     "also write plans as JSON lines to PATH (default: none)"},
    {"state-dir", O_STATE_DIR, K_STR, OFF(state_dir), 0, 0, "DIR",
     "keep statistics, series, findings and DDL markers in DIR/slowtap.state across restarts "
     "(saved every minute and at stop; needs --http; default: none)"},
    {"max-digests", O_MAX_DIGESTS, K_INT, OFF(max_digests), 1, 10000000, "N",
     "statement shapes kept in statistics, 1..10000000 (default 10000)"},
    {"max-routes", O_MAX_ROUTES, K_INT, OFF(max_routes), 1, 1000000, "N",
     "routes (from statement tags) kept in statistics, 1..1000000 (default 1000)"},
    {"request-gap", O_REQUEST_GAP, K_DUR, OFF(request_gap_us), 0, 0, "SECONDS",
     "idle time that ends an untagged request outside a transaction (default 0.05)"},
    {"n-plus-one-min", O_N_PLUS_ONE_MIN, K_INT, OFF(n_plus_one_min), 2, 1000000, "N",
     "repeats of one shape after a parent that make an N+1 finding (default 5)"},
    {"requests-keep", O_REQUESTS_KEEP, K_INT, OFF(requests_keep), 0, 1000, "K",
     "recent requests kept per route with their statements: the K slowest and the K latest, "
     "0..1000; 0 = none (default 20)"},
    {"requests-statements", O_REQUESTS_STATEMENTS, K_INT, OFF(requests_stmts), 1, 100000, "N",
     "statements kept per request, the rest only counted, 1..100000 (default 1000)"},
    {"http", O_HTTP, K_HTTP, OFF(http), 0, 0, "ADDR|off",
     "metrics and dashboard address (default 127.0.0.1:9033)"},
    {"metrics-top", O_METRICS_TOP, K_INT, OFF(metrics_top), 0, 100000, "N",
     "statement shapes exported as metrics, 0..100000 (default 20)"},
    {"http-auth-file", O_HTTP_AUTH_FILE, K_STR, OFF(http_auth_file), 0, 0, "PATH",
     "file with a bearer token or user:password for HTTP (default: no auth)"},
    {"http-max-connections", O_HTTP_MAX_CONNECTIONS, K_INT, OFF(http_max_connections), 1, 65536,
     "N", "HTTP connections at once, 1..65536; the oldest idle one makes room (default 64)"},
    {"http-header-timeout", O_HTTP_HEADER_TIMEOUT, K_DUR, OFF(http_header_timeout_us), 1, 0,
     "SECONDS", "close an HTTP client whose request is not in by then, > 0 (default 30)"},
    {"http-allow-host", O_HTTP_ALLOW_HOST, K_HOSTS, OFF(http_allow_host), 0, 0, "NAME",
     "also accept Host NAME, * any (repeatable, commas; default: --http's, localhost)"},
    {"http-tls-cert", O_HTTP_TLS_CERT, K_STR, OFF(http_tls_cert), 0, 0, "FILE",
     "serve HTTPS with this certificate chain (default: plain HTTP)"},
    {"http-tls-key", O_HTTP_TLS_KEY, K_STR, OFF(http_tls_key), 0, 0, "FILE",
     "private key of --http-tls-cert (default: none)"},
    {"include", O_INCLUDE, K_LIST, OFF(include), 0, 0, "REGEX",
     "log only statements matching (repeatable; default: all)"},
    {"exclude", O_EXCLUDE, K_LIST, OFF(exclude), 0, 0, "REGEX",
     "do not log statements matching (repeatable; default: none)"},
    {"redact", O_REDACT, K_LIST, OFF(redact), 0, 0, "REGEX",
     "replace literals matching with ? (repeatable; default: none)"},
    {"redact-all", O_REDACT_ALL, K_BOOL, OFF(redact_all), 0, 0, NULL,
     "log statement fingerprints only (default off)"},
    {"threads", O_THREADS, K_INT, OFF(threads), 1, 256, "N",
     "worker threads, 1..256 (default: number of cores)"},
    {"max-connections", O_MAX_CONNECTIONS, K_INT, OFF(max_connections), 1, 1000000, "N",
     "client connections at once, 1..1000000 (default 10000)"},
    {"handshake-timeout", O_HANDSHAKE_TIMEOUT, K_DUR, OFF(handshake_timeout_us), 1, 0, "SECONDS",
     "close clients that do not finish the handshake, > 0 (default 10)"},
    {"max-pending-handshakes", O_MAX_PENDING_HANDSHAKES, K_INT, OFF(max_pending_handshakes), 1,
     1000000, "N", "clients not yet logged in at once, 1..1000000 (default 128)"},
    {"shutdown-timeout", O_SHUTDOWN_TIMEOUT, K_DUR, OFF(shutdown_timeout_us), 0, 0, "SECONDS",
     "on SIGTERM wait this long for sessions to finish (default 10)"},
    {"long-transaction-time", O_LONG_TRANSACTION_TIME, K_DUR, OFF(long_transaction_us), 0, 0,
     "SECONDS", "log the statement ending a transaction longer than this (default 5)"},
    {"tls", O_TLS, K_FLAG, OFF(tls), 0, 0, "on|off",
     "offer TLS to clients, with a generated certificate if no --tls-cert (default on)"},
    {"tls-generated-cert", O_TLS_GENERATED_CERT, K_STR, OFF(tls_generated_cert), 0, 0, "FILE",
     "write the generated certificate (not its key) to FILE for clients (default: none)"},
    {"tls-cert", O_TLS_CERT, K_STR, OFF(tls_cert), 0, 0, "FILE",
     "offer TLS to clients with this certificate (default: a generated one)"},
    {"tls-key", O_TLS_KEY, K_STR, OFF(tls_key), 0, 0, "FILE",
     "private key of --tls-cert (default: none)"},
    {"tls-ca", O_TLS_CA, K_STR, OFF(tls_ca), 0, 0, "FILE",
     "CA bundle for client certificates (default: none)"},
    {"tls-require", O_TLS_REQUIRE, K_BOOL, OFF(tls_require), 0, 0, NULL,
     "refuse clients without TLS (default off)"},
    {"backend-tls", O_BACKEND_TLS, K_BTLS, OFF(backend_tls), 0, 0, "MODE",
     "off|mirror|preferred|required|verify-ca|verify-identity (default mirror: TLS when the "
     "client's leg is TLS and the backend offers it)"},
    {"backend-tls-ca", O_BACKEND_TLS_CA, K_STR, OFF(backend_tls_ca), 0, 0, "FILE",
     "CA bundle to verify the backend (needed by verify-ca and verify-identity)"},
    {"backend-compress", O_BACKEND_COMPRESS, K_BCOMP, OFF(backend_compress), 0, 0, "on|off",
     "compressed protocol to the backend (default: as the client asked)"},
    {"sink", O_SINK, K_STR, OFF(sink), 0, 0, "URL",
     "also ship logged statements to clickhouse://[USER@]HOST:PORT/DB (default: none)"},
    {"sink-password-file", O_SINK_PASSWORD_FILE, K_STR, OFF(sink_password_file), 0, 0, "PATH",
     "read the --sink password from the first line of PATH (default: none)"},
    {"instance", O_INSTANCE, K_STR, OFF(instance), 0, 0, "NAME",
     "this slowtap's name in --sink rows (default: the host name)"},
    {"sink-buffer", O_SINK_BUFFER, K_INT, OFF(sink_buffer), 4096, 1073741824, "BYTES",
     "rows kept for --sink while ClickHouse is away; the oldest go first (default 67108864)"},
    {"sink-interval", O_SINK_INTERVAL, K_DUR, OFF(sink_interval_us), 1, 0, "SECONDS",
     "send --sink rows at least this often, > 0 (default 1)"},
    {"sink-create", O_SINK_CREATE, K_BOOL, OFF(sink_create), 0, 0, NULL,
     "create the --sink database, table and aggregate when missing (default off)"},
    {"sink-ttl-days", O_SINK_TTL_DAYS, K_INT, OFF(sink_ttl_days), 0, 36500, "N",
     "drop --sink days (partitions) older than N days, hourly; 0 keeps all (default 0)"},
    {"help", O_HELP, K_CLI, 0, 0, 0, NULL, "print this help and exit"},
    {"version", O_VERSION, K_CLI, 0, 0, 0, NULL, "print the version and exit"},
};

#define CONF_N_OPTS (sizeof(conf_opts) / sizeof(conf_opts[0]))

static const struct conf_opt *
conf_opt_by_id(int id)
{
    for (size_t i = 0; i < CONF_N_OPTS; i++) {
        if ((int)conf_opts[i].id == id) {
            return &conf_opts[i];
        }
    }
    return NULL;
}

/* Finds an option by a key spelled with dashes or underscores. */
static const struct conf_opt *
conf_opt_by_key(const char *key)
{
    char norm[64];
    size_t n = strlen(key);
    if (n >= sizeof(norm)) {
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        norm[i] = key[i] == '_' ? '-' : key[i];
    }
    for (size_t i = 0; i < CONF_N_OPTS; i++) {
        if (strcmp(conf_opts[i].name, norm) == 0) {
            return &conf_opts[i];
        }
    }
    return NULL;
}

static void conf_errf(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
conf_errf(FILE *err, const char *fmt, ...)
{
    va_list ap;
    fputs("slowtap: ", err);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
}

bool
conf_parse_seconds(const char *s, int64_t *us)
{
    int64_t whole = 0, frac = 0;
    int nfrac = 0;
    const char *p = s;

    if (!s || !(*p >= '0' && *p <= '9')) {
        return false;
    }
    while (*p >= '0' && *p <= '9') {
        if (whole > (INT64_MAX / 1000000 - 9) / 10) {
            return false;
        }
        whole = whole * 10 + (*p - '0');
        p++;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            if (++nfrac > 6) {
                return false;
            }
            frac = frac * 10 + (*p - '0');
            p++;
        }
    }
    if (*p != '\0') {
        return false;
    }
    for (int i = nfrac; i < 6; i++) {
        frac *= 10;
    }
    *us = whole * 1000000 + frac;
    return true;
}

/* Checks ADDR syntax with the address module's parser (net/net_addr.h): HOST:PORT,
 * [IPv6]:PORT, a bare PORT or an absolute unix socket path. On failure stores a short reason
 * in *why. */
bool
conf_valid_addr(const char *s, const char **why)
{
    struct net_addr a;
    return net_addr_parse(s, &a, why);
}

static bool
conf_parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v = false;
            return true;
        }
    }
    return false;
}

static bool
conf_parse_long(const char *s, long *v)
{
    char *end;
    if (!*s || !((*s >= '0' && *s <= '9') || *s == '-' || *s == '+')) {
        return false;
    }
    errno = 0;
    *v = strtol(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool
conf_set_str(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        return false;
    }
    free(*slot);
    *slot = copy;
    return true;
}

/*
 * Applies one setting. `where` names it in error lines ("--listen" or "config file F line 3:
 * listen"). Returns false after printing one error line.
 */
static bool
conf_set(struct conf *c, const struct conf_opt *o, const char *value, const char *where, FILE *err)
{
    char *base = (char *)c;
    const char *why;

    switch (o->kind) {
    case K_STR:
        if (!conf_set_str((char **)(base + o->off), value)) {
            conf_errf(err, "%s: out of memory", where);
            return false;
        }
        return true;
    case K_HTTP:
        c->http_given = true;
        if (strcmp(value, "off") == 0) {
            free(c->http);
            c->http = NULL;
            return true;
        }
        /* fall through */
    case K_ADDR:
        if (!conf_valid_addr(value, &why)) {
            conf_errf(err, "%s: invalid address '%s' (%s)", where, value, why);
            return false;
        }
        if (!conf_set_str((char **)(base + o->off), value)) {
            conf_errf(err, "%s: out of memory", where);
            return false;
        }
        return true;
    case K_DUR: {
        int64_t us;
        if (!conf_parse_seconds(value, &us)) {
            conf_errf(err, "%s: invalid duration '%s'", where, value);
            return false;
        }
        if (o->min > 0 && us == 0) {
            conf_errf(err, "%s: invalid duration '%s' (must be greater than 0)", where, value);
            return false;
        }
        *(int64_t *)(base + o->off) = us;
        return true;
    }
    case K_INT: {
        long v;
        if (!conf_parse_long(value, &v)) {
            conf_errf(err, "%s: invalid number '%s'", where, value);
            return false;
        }
        if (v < o->min || v > o->max) {
            conf_errf(err, "%s: %s out of range (%ld..%ld)", where, value, o->min, o->max);
            return false;
        }
        *(int *)(base + o->off) = (int)v;
        return true;
    }
    case K_BYTES: {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        unsigned shift = 0;
        if (end && (*end == 'K' || *end == 'k')) {
            shift = 10;
        } else if (end && (*end == 'M' || *end == 'm')) {
            shift = 20;
        } else if (end && (*end == 'G' || *end == 'g')) {
            shift = 30;
        }
        if (shift) {
            end++;
        }
        if (errno || end == value || *end || value[0] == '-' ||
            v > ((unsigned long long)INT64_MAX >> shift)) {
            conf_errf(err, "%s: invalid size '%s'", where, value);
            return false;
        }
        *(int64_t *)(base + o->off) = (int64_t)(v << shift);
        return true;
    }
    case K_BOOL: {
        bool v;
        if (!conf_parse_bool(value, &v)) {
            conf_errf(err, "%s: invalid boolean '%s' (expected yes/no, on/off, true/false, 1/0)",
                      where, value);
            return false;
        }
        *(bool *)(base + o->off) = v;
        return true;
    }
    case K_FLAG: {
        bool v;
        if (!conf_parse_bool(value, &v)) {
            conf_errf(err, "%s: invalid value '%s' (expected on or off)", where, value);
            return false;
        }
        *(bool *)(base + o->off) = v;
        return true;
    }
    case K_FMT:
        if (strcmp(value, "text") == 0) {
            c->log_format = CONF_LOG_TEXT;
        } else if (strcmp(value, "json") == 0) {
            c->log_format = CONF_LOG_JSON;
        } else {
            conf_errf(err, "%s: invalid value '%s' (expected text or json)", where, value);
            return false;
        }
        return true;
    case K_BTLS: {
        static const char *const modes[] = {"off",      "mirror",    "preferred",
                                            "required", "verify-ca", "verify-identity"};
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
            if (strcmp(value, modes[i]) == 0) {
                c->backend_tls = (enum conf_backend_tls)i;
                return true;
            }
        }
        conf_errf(err,
                  "%s: invalid value '%s' (expected off, mirror, preferred, required, "
                  "verify-ca or verify-identity)",
                  where, value);
        return false;
    }
    case K_BCOMP: {
        bool v;
        if (!conf_parse_bool(value, &v)) {
            conf_errf(err, "%s: invalid value '%s' (expected on or off)", where, value);
            return false;
        }
        c->backend_compress = v ? CONF_BCOMP_ON : CONF_BCOMP_OFF;
        return true;
    }
    case K_LIST: {
        char **list = (char **)(base + o->off);
        int *n = o->id == O_INCLUDE   ? &c->n_include
                 : o->id == O_EXCLUDE ? &c->n_exclude
                                      : &c->n_redact;
        if (*value == '\0') {
            conf_errf(err, "%s: empty pattern", where);
            return false;
        }
        if (*n >= CONF_MAX_PATTERNS) {
            conf_errf(err, "%s: more than %d patterns", where, CONF_MAX_PATTERNS);
            return false;
        }
        list[*n] = strdup(value);
        if (!list[*n]) {
            conf_errf(err, "%s: out of memory", where);
            return false;
        }
        (*n)++;
        return true;
    }
    case K_HOSTS: {
        char **slot = (char **)(base + o->off);
        size_t have = *slot ? strlen(*slot) : 0, add = strlen(value);
        if (add == 0 || value[0] == ',' || value[add - 1] == ',' || strstr(value, ",,") ||
            strpbrk(value, " \t/@")) {
            conf_errf(err, "%s: invalid host list '%s' (expected NAME[,NAME...])", where, value);
            return false;
        }
        char *joined = malloc(have + 1 + add + 1);
        if (!joined) {
            conf_errf(err, "%s: out of memory", where);
            return false;
        }
        snprintf(joined, have + 1 + add + 1, "%s%s%s", have ? *slot : "", have ? "," : "", value);
        free(*slot);
        *slot = joined;
        return true;
    }
    case K_CLI:
        break;
    }
    conf_errf(err, "%s: not allowed here", where);
    return false;
}

static void
conf_clear_list(struct conf *c, enum conf_id id)
{
    char **list = id == O_INCLUDE ? c->include : id == O_EXCLUDE ? c->exclude : c->redact;
    int *n = id == O_INCLUDE ? &c->n_include : id == O_EXCLUDE ? &c->n_exclude : &c->n_redact;
    for (int i = 0; i < *n; i++) {
        free(list[i]);
        list[i] = NULL;
    }
    *n = 0;
}

static int
conf_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) {
        return 1;
    }
    return n > 256 ? 256 : (int)n;
}

static bool
conf_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = strdup("127.0.0.1:6033");
    c->backend = strdup("127.0.0.1:3306");
    c->slow_log = strdup("slowtap-slow.log");
    c->http = strdup("127.0.0.1:9033");
    c->long_query_us = 1000000;
    c->log_format = CONF_LOG_TEXT;
    c->explain_threshold_us = -1;
    c->explain_interval_us = 60 * 1000000LL;
    c->explain_timeout_us = 2 * 1000000LL;
    c->explain_max_inflight = 2;
    c->explain_rate = 10;
    c->explain_top = 20;
    c->explain_top_every_us = 60 * 1000000LL;
    c->max_digests = 10000;
    c->max_routes = 1000;
    c->request_gap_us = 50000;
    c->n_plus_one_min = 5;
    c->requests_keep = 20;
    c->requests_stmts = 1000;
    c->metrics_top = 20;
    c->http_max_connections = 64;
    c->http_header_timeout_us = 30 * 1000000LL;
    c->threads = conf_default_threads();
    c->max_connections = 10000;
    c->handshake_timeout_us = 10 * 1000000LL;
    c->max_pending_handshakes = 128;
    c->shutdown_timeout_us = 10 * 1000000LL;
    c->long_transaction_us = 5 * 1000000LL;
    c->backend_tls = CONF_BTLS_MIRROR;
    c->tls = true;
    c->sink_buffer = 64 << 20;
    c->capture_max_bytes = (int64_t)1 << 30;
    c->sink_interval_us = 1000000;
    return c->listen && c->backend && c->slow_log && c->http;
}

void
conf_free(struct conf *c)
{
    char **strs[] = {&c->config_file,
                     &c->listen,
                     &c->backend,
                     &c->slow_log,
                     &c->explain_user,
                     &c->explain_password,
                     &c->explain_password_file,
                     &c->explain_log,
                     &c->state_dir,
                     &c->capture,
                     &c->http,
                     &c->http_auth_file,
                     &c->http_allow_host,
                     &c->http_tls_cert,
                     &c->http_tls_key,
                     &c->tls_cert,
                     &c->tls_key,
                     &c->tls_ca,
                     &c->tls_generated_cert,
                     &c->backend_tls_ca,
                     &c->sink,
                     &c->sink_password,
                     &c->sink_password_file,
                     &c->instance};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    conf_clear_list(c, O_INCLUDE);
    conf_clear_list(c, O_EXCLUDE);
    conf_clear_list(c, O_REDACT);
}

/* ---- config file ---- */

void
conf_warn_readable(FILE *err, unsigned mode, const char *fmt, ...)
{
    if (!(mode & (S_IRGRP | S_IROTH))) {
        return;
    }
    char what[PATH_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(err, "slowtap: warning: %s is readable by group or others (chmod 600 it)\n", what);
}

struct conf_file_ctx {
    struct conf *c;
    FILE *fp;
    FILE *err;
    const char *path;
    int line;          /* number of the line inih is processing */
    bool failed;       /* an error line was printed */
    bool has_password; /* the file sets explain-password */
    char *buf;         /* getline buffer */
    size_t bufcap;
};

/* ini_reader: counts lines, rejects unknown sections and lines inih cannot hold. */
static char *
conf_file_reader(char *str, int num, void *stream)
{
    struct conf_file_ctx *x = stream;
    ssize_t n;
    const char *p;

    if (x->failed) {
        return NULL;
    }
    n = getline(&x->buf, &x->bufcap, x->fp);
    if (n < 0) {
        return NULL;
    }
    x->line++;
    if (n + 1 > num) {
        conf_errf(x->err, "config file %s line %d: line too long (max %d characters)", x->path,
                  x->line, num - 3);
        x->failed = true;
        return NULL;
    }
    p = x->buf;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '[') {
        const char *close = strchr(p, ']');
        size_t len = close ? (size_t)(close - p - 1) : strcspn(p + 1, "\r\n");
        if (!close || len != 7 || strncmp(p + 1, "slowtap", 7) != 0) {
            conf_errf(x->err, "config file %s line %d: unknown section '%.*s'", x->path, x->line,
                      (int)len, p + 1);
            x->failed = true;
            return NULL;
        }
    }
    memcpy(str, x->buf, (size_t)n + 1);
    return str;
}

static int
conf_file_handler(void *user, const char *section, const char *name, const char *value)
{
    struct conf_file_ctx *x = user;
    const struct conf_opt *o;
    char where[PATH_MAX + 64];

    if (x->failed) {
        return 0;
    }
    if (section[0] && strcmp(section, "slowtap") != 0) {
        conf_errf(x->err, "config file %s line %d: unknown section '%s'", x->path, x->line,
                  section);
        x->failed = true;
        return 0;
    }
    o = conf_opt_by_key(name);
    if (!o || o->kind == K_CLI) {
        conf_errf(x->err, "config file %s line %d: unknown key '%s'", x->path, x->line, name);
        x->failed = true;
        return 0;
    }
    snprintf(where, sizeof(where), "config file %s line %d: %s", x->path, x->line, o->name);
    if (!conf_set(x->c, o, value, where, x->err)) {
        x->failed = true;
        return 0;
    }
    if (o->id == O_EXPLAIN_PASSWORD) {
        x->has_password = true;
    }
    return 1;
}

static bool
conf_load_file(struct conf *c, const char *path, FILE *err)
{
    struct conf_file_ctx x = {.c = c, .err = err, .path = path};
    struct stat st;
    int rc;

    x.fp = fopen(path, "r");
    if (!x.fp) {
        conf_errf(err, "config file %s: cannot open: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fileno(x.fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        conf_errf(err, "config file %s: cannot read: %s", path, strerror(EISDIR));
        fclose(x.fp);
        return false;
    }
    rc = ini_parse_stream(conf_file_reader, &x, conf_file_handler, &x);
    if (!x.failed && ferror(x.fp)) {
        conf_errf(err, "config file %s: cannot read: %s", path, strerror(errno));
        x.failed = true;
    }
    if (!x.failed && rc != 0) {
        conf_errf(err, "config file %s line %d: syntax error (expected key = value)", path, rc);
        x.failed = true;
    }
    if (!x.failed && x.has_password) {
        conf_warn_readable(err, st.st_mode, "config file %s contains explain-password and", path);
    }
    free(x.buf);
    fclose(x.fp);
    return !x.failed;
}

/* ---- command line ---- */

static void
conf_usage(FILE *out)
{
    fprintf(out, "Usage: slowtap [OPTION]...\n"
                 "       slowtap report [--top N] [--since TIME] [--format table|json] FILE...\n"
                 "       slowtap replay CAPTURE --target URI [--target URI2] [OPTION]...\n"
                 "       slowtap whatif CAPTURE --target URI (--ddl SQL | --advice) [OPTION]...\n"
                 "A MySQL/MariaDB proxy that logs every statement with its duration and plan.\n"
                 "\n"
                 "Options (each can also be a key in the [slowtap] section of the --config\n"
                 "file, with dashes or underscores; the command line overrides the file):\n");
    for (size_t i = 0; i < CONF_N_OPTS; i++) {
        const struct conf_opt *o = &conf_opts[i];
        char left[64];
        if (o->kind == K_BOOL) {
            snprintf(left, sizeof(left), "--%s[=BOOL]", o->name);
        } else if (o->arg) {
            snprintf(left, sizeof(left), "--%s %s", o->name, o->arg);
        } else {
            snprintf(left, sizeof(left), "--%s", o->name);
        }
        fprintf(out, "  %-32s %s\n", left, o->help);
    }
    fprintf(out, "\n"
                 "ADDR is HOST:PORT, [IPv6]:PORT or an absolute unix socket path. SECONDS are\n"
                 "decimal (0.000100 = 100 us). A repeatable option given on the command line\n"
                 "replaces the file's list. The EXPLAIN password is taken from\n"
                 "--explain-password-file, else $SLOWTAP_EXPLAIN_PASSWORD, else\n"
                 "--explain-password. The --sink password is taken from --sink-password-file,\n"
                 "else $SLOWTAP_SINK_PASSWORD, else the address. See `slowtap report --help`\n"
                 "for the report command, `slowtap replay --help` and `slowtap whatif --help`\n"
                 "for replaying a capture; `slowtap sink-schema clickhouse` prints the --sink\n"
                 "tables; `slowtap capture --help` starts a capture in a running slowtap or\n"
                 "reads one.\n");
}

static void
conf_build_longopts(struct option *lo)
{
    size_t i;
    for (i = 0; i < CONF_N_OPTS; i++) {
        const struct conf_opt *o = &conf_opts[i];
        lo[i].name = o->name;
        lo[i].has_arg = o->kind == K_BOOL                         ? optional_argument
                        : (o->id == O_HELP || o->id == O_VERSION) ? no_argument
                                                                  : required_argument;
        lo[i].flag = NULL;
        lo[i].val = (int)o->id;
    }
    memset(&lo[i], 0, sizeof(lo[i]));
}

/* Names the argv element getopt_long just rejected, without any "=value". */
static void
conf_report_bad_option(int argc, char **argv, int rc, FILE *err)
{
    const char *arg = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";
    size_t n = strcspn(arg, "=");

    if (rc == ':') {
        if (strncmp(arg, "--", 2) != 0 && optopt) {
            conf_errf(err, "-%c: missing argument", optopt);
        } else {
            conf_errf(err, "%.*s: missing argument", (int)n, arg);
        }
        return;
    }
    if (strncmp(arg, "--", 2) == 0) {
        const struct conf_opt *o = NULL;
        char name[64];
        if (n - 2 < sizeof(name)) {
            memcpy(name, arg + 2, n - 2);
            name[n - 2] = '\0';
            for (size_t i = 0; i < CONF_N_OPTS; i++) {
                if (strcmp(conf_opts[i].name, name) == 0) {
                    o = &conf_opts[i];
                }
            }
        }
        if (o && arg[n] == '=') {
            conf_errf(err, "--%s: takes no argument", o->name);
        } else {
            conf_errf(err, "unknown option '%.*s'", (int)n, arg);
        }
    } else if (optopt) {
        conf_errf(err, "unknown option '-%c'", optopt);
    } else {
        conf_errf(err, "unknown option '%s'", arg);
    }
}

static bool
conf_read_password_file(const char *opt, const char *path, char **slot, FILE *err)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (!fp) {
        conf_errf(err, "%s: cannot read %s: %s", opt, path, strerror(errno));
        return false;
    }
    errno = 0;
    n = getline(&line, &cap, fp);
    if (n < 0 && ferror(fp)) {
        conf_errf(err, "%s: cannot read %s: %s", opt, path, strerror(errno ? errno : EIO));
        free(line);
        fclose(fp);
        return false;
    }
    fclose(fp);
    if (n < 0) {
        n = 0;
        free(line);
        line = strdup("");
        if (!line) {
            conf_errf(err, "%s: out of memory", opt);
            return false;
        }
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    free(*slot);
    *slot = line;
    return true;
}

/* The --sink settings: a valid address, its password, the instance name. */
static bool
conf_finish_sink(struct conf *c, FILE *err)
{
    struct churl u;
    const char *why;
    const char *env = getenv("SLOWTAP_SINK_PASSWORD");
    if (!c->sink) {
        return true;
    }
    if (!churl_parse(c->sink, &u, &why)) {
        conf_errf(err, "--sink: %s", why); /* never the address: it may hold a password */
        return false;
    }
    if (c->sink_password_file) {
        if (!conf_read_password_file("--sink-password-file", c->sink_password_file,
                                     &c->sink_password, err)) {
            return false;
        }
    } else if (env && !conf_set_str(&c->sink_password, env)) {
        conf_errf(err, "SLOWTAP_SINK_PASSWORD: out of memory");
        return false;
    }
    if (!c->instance) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0]) {
            snprintf(host, sizeof host, "unknown");
        }
        if (!conf_set_str(&c->instance, host)) {
            conf_errf(err, "--instance: out of memory");
            return false;
        }
    }
    return true;
}

/* Cross-option checks and derived values, after the file and the command line. */
static bool
conf_finish(struct conf *c, FILE *err)
{
    const char *env = getenv("SLOWTAP_EXPLAIN_PASSWORD");

    if (!conf_finish_sink(c, err)) {
        return false;
    }
    if (c->explain_password_file) {
        if (!conf_read_password_file("--explain-password-file", c->explain_password_file,
                                     &c->explain_password, err)) {
            return false;
        }
    } else if (env) {
        if (!conf_set_str(&c->explain_password, env)) {
            conf_errf(err, "SLOWTAP_EXPLAIN_PASSWORD: out of memory");
            return false;
        }
    }
    if (c->explain_threshold_us < 0) {
        c->explain_threshold_us = c->long_query_us;
    }
    if (c->http_tls_key && !c->http_tls_cert) {
        conf_errf(err, "--http-tls-key: needs --http-tls-cert");
        return false;
    }
    if (c->http_tls_cert && !c->http_tls_key) {
        conf_errf(err, "--http-tls-cert: needs --http-tls-key");
        return false;
    }
    if (c->tls_key && !c->tls_cert) {
        conf_errf(err, "--tls-key: needs --tls-cert");
        return false;
    }
    if (c->tls_cert && !c->tls_key) {
        conf_errf(err, "--tls-cert: needs --tls-key");
        return false;
    }
    if (!c->tls && (c->tls_cert || c->tls_ca || c->tls_require || c->tls_generated_cert)) {
        conf_errf(err, "%s: conflicts with --tls off",
                  c->tls_cert      ? "--tls-cert"
                  : c->tls_ca      ? "--tls-ca"
                  : c->tls_require ? "--tls-require"
                                   : "--tls-generated-cert");
        return false;
    }
    if (c->tls_generated_cert && c->tls_cert) {
        conf_errf(err, "--tls-generated-cert: nothing is generated with --tls-cert");
        return false;
    }
    return true;
}

enum conf_result
conf_load(struct conf *c, int argc, char **argv, FILE *out, FILE *err)
{
    struct option lo[CONF_N_OPTS + 1];
    bool help = false, version = false, cleared[3] = {false, false, false};
    bool hosts_cleared = false;
    const char *config = NULL;
    int rc;

    if (!conf_defaults(c)) {
        conf_errf(err, "out of memory");
        return CONF_EXIT_ERR;
    }
    conf_build_longopts(lo);

    /* Pass 1: syntax errors, --help, --version and --config. */
    opterr = 0;
    optind = 0;
    while ((rc = getopt_long(argc, argv, "+:c:hV", lo, NULL)) != -1) {
        if (rc == '?' || rc == ':') {
            conf_report_bad_option(argc, argv, rc, err);
            return CONF_EXIT_ERR;
        }
        if (rc == O_HELP || rc == 'h') {
            help = true;
        } else if (rc == O_VERSION || rc == 'V') {
            version = true;
        } else if (rc == O_CONFIG || rc == 'c') {
            config = optarg;
        }
    }
    if (optind < argc) {
        conf_errf(err, "unexpected argument '%s'", argv[optind]);
        return CONF_EXIT_ERR;
    }
    if (help) {
        conf_usage(out);
        return CONF_EXIT_OK;
    }
    if (version) {
        fprintf(out, "slowtap %s\n", SLOWTAP_VERSION);
        return CONF_EXIT_OK;
    }

    if (config) {
        if (!conf_set_str(&c->config_file, config)) {
            conf_errf(err, "--config: out of memory");
            return CONF_EXIT_ERR;
        }
        if (!conf_load_file(c, config, err)) {
            return CONF_EXIT_ERR;
        }
    }

    /* Pass 2: apply the command line over the file. */
    optind = 0;
    while ((rc = getopt_long(argc, argv, "+:c:hV", lo, NULL)) != -1) {
        const struct conf_opt *o = conf_opt_by_id(rc);
        char where[80];
        if (!o || o->kind == K_CLI) {
            continue;
        }
        if (o->kind == K_LIST) {
            int idx = o->id == O_INCLUDE ? 0 : o->id == O_EXCLUDE ? 1 : 2;
            if (!cleared[idx]) {
                conf_clear_list(c, o->id);
                cleared[idx] = true;
            }
        }
        if (o->kind == K_HOSTS && !hosts_cleared) {
            free(c->http_allow_host);
            c->http_allow_host = NULL;
            hosts_cleared = true;
        }
        snprintf(where, sizeof(where), "--%s", o->name);
        if (!conf_set(c, o, optarg ? optarg : "yes", where, err)) {
            return CONF_EXIT_ERR;
        }
    }
    return conf_finish(c, err) ? CONF_RUN : CONF_EXIT_ERR;
}
