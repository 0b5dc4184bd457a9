/*
 * http.c - the HTTP endpoint: an evhttp server on a thread and event_base of its own serving
 * /metrics (Prometheus text format 0.0.4), /api/summary, /api/digests, /api/digests/<digest>
 * (JSON, written with common/jsonw.h) and the embedded dashboard at /.
 *
 * It only reads: the shared stats table (under its mutex, through stats_snapshot/stats_get),
 * the workers' counters (relaxed atomic loads) and their latency histograms (read racily with
 * relaxed loads while the owning worker increments them: a scrape may see a bucket one
 * statement behind another, never a torn value), the explain and log counters.
 *
 * Its own guards, all on the HTTP thread: every accepted connection is tracked from evhttp's
 * bevcb (which also makes the bufferevent_openssl for HTTPS) to evhttp's close callback, for
 * the connection cap and a header deadline that bytes trickling in do not move; closing one
 * is evhttp's own read-timeout path (a timeout event on its bufferevent). Then the Host check,
 * then auth, then the endpoint.
 */
#include "proxy/output/http.h"
#include "proxy/output/chsink.h"
#include "proxy/output/state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "explain/explain.h"
#include "explain/advice.h"
#include "explain/plan.h"
#include "proxy/account/counters.h"
#include "proxy/account/filter.h"
#include "proxy/account/histogram.h"
#include "net/net_addr.h"
#include "proxy/account/ddl.h"
#include "proxy/account/findings.h"
#include "protocol/proto_tmptab.h"
#include "protocol/proto_shapename.h"
#include "proxy/output/capture.h"
#include "proxy/output/logfile.h"
#include "proxy/account/history.h"
#include "proxy/account/autoplan.h"
#include "proxy/account/requests.h"
#include "proxy/account/routes.h"
#include "proxy/account/stats.h"
#include "proxy/account/window.h"

extern const char dashboard_html[];
extern const size_t dashboard_html_len;
extern const char dygraph_js[]; /* Debian's libjs-dygraphs, embedded (meson.build) */
extern const size_t dygraph_js_len;

#define HTTP_DEFAULT_LIMIT    100
#define HTTP_MAX_LIMIT        10000
#define HTTP_FP_LABEL_MAX     100 /* bytes of fingerprint in a metric label */
#define HTTP_HIST_NOMINAL_MAX (((uint64_t)1 << HIST_MAX_POW) - 1)

struct http {
    struct event_base *base;
    struct evhttp *eh;
    pthread_t thread;
    struct http_sources src;
    int metrics_top;
    char *auth_expect; /* the whole expected Authorization header value, or NULL */
    char *auth_token;  /* a token file's token (also taken as a Basic password), or NULL */

    struct history *series;  /* the dashboard's time series (HTTP thread only) */
    struct event *series_ev; /* its timer */
    /* windows (window.h), HTTP thread only: fed at the first series tick of each minute */
    struct window *win_digests, *win_routes;
    int64_t win_minute;     /* realtime minute of the last feed */
    struct event *reset_ev; /* made active by http_request_reset (any thread) */
    char *state_dir;        /* --state-dir (state.h), NULL without */
    bool state_failing;     /* the last save failed (said once until one succeeds) */
    bool auth_basic;

    SSL_CTX *ssl_ctx;         /* --http-tls-cert: HTTPS; NULL: plain HTTP */
    pthread_mutex_t ssl_lock; /* guards ssl_ctx's swap (http_reload, main thread) */

    /* Connections (HTTP thread only): every one from accept to its close, oldest first.
     * `doomed` ones are being closed and no longer count against the cap. */
    struct http_conn *conn_head, *conn_tail;
    int conns_live;           /* in the list and not doomed */
    int max_conns;            /* --http-max-connections */
    struct timeval header_tv; /* --http-header-timeout */
    uint64_t conns_accepted, closed_cap, closed_refused, closed_timeout, host_refused;

    /* Host check (DNS rebinding): names compared case-insensitively, addresses as bytes. */
    char **allow_names; /* localhost, --http's host name, --http-allow-host entries */
    int n_allow_names;
    bool allow_any_host;   /* --http-allow-host '*' */
    bool allow_any_ip;     /* --http listens on a wildcard address: every IP literal is ours */
    struct net_addr *addr; /* what --http resolved to (static storage in http_start) */

    /* POST /api/explain: a token bucket of --explain-rate a second (HTTP thread only) */
    int explain_rate;
    double explain_tokens, explain_last;
};

/* One accepted connection, from evhttp's bevcb (accept) to its close callback (evhttp frees
 * the connection, whatever the reason). Its evhttp_connection is found once, on the first
 * run of `deadline` (made active at accept): the bufferevent's callback argument. */
struct http_conn {
    struct http *h;
    struct bufferevent *bev;         /* evhttp owns it */
    struct evhttp_connection *evcon; /* NULL until bound */
    struct event *deadline;          /* --http-header-timeout from accept / the last reply */
    struct http_conn *prev, *next;
    bool answering; /* a request was read and its reply is not yet written */
    bool doomed;    /* being closed (cap, timeout) */
};

/* ---- address and auth ------------------------------------------------------------------ */

/* Listens on every address c->http resolved to (`addr`), plain binds (one HTTP thread).
 * Returns false with errno set after printing nothing; *what gets the failing address's
 * message. */
static bool
http_bind(struct http *h, const struct net_addr *addr, char *what, size_t wcap)
{
    for (int i = 0; i < addr->n; i++) {
        bool in_use = false;
        int fd = net_listen(&addr->a[i], NET_LISTEN_PLAIN, addr->n > 1, what, wcap, &in_use);
        if (fd < 0) {
            errno = in_use ? EADDRINUSE : EINVAL;
            return false;
        }
        if (!evhttp_accept_socket_with_handle(h->eh, fd)) {
            close(fd);
            snprintf(what, wcap, "%s: cannot accept connections", addr->a[i].text);
            errno = ENOMEM;
            return false;
        }
    }
    return true;
}

/* Reads the auth file: "user:password" (HTTP Basic) or a bearer token. */
static bool
http_load_auth(struct http *h, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "slowtap: --http-auth-file %s: %s\n", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0) {
        conf_warn_readable(stderr, st.st_mode, "--http-auth-file %s", path);
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    if (nl) {
        *nl = '\0';
    }
    n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        buf[--n] = '\0';
    }
    if (n == 0) {
        fprintf(stderr, "slowtap: --http-auth-file %s: empty\n", path);
        return false;
    }
    if (strchr(buf, ':')) {
        size_t cap = 6 + 4 * ((n + 2) / 3) + 1;
        h->auth_expect = malloc(cap);
        if (!h->auth_expect) {
            return false;
        }
        memcpy(h->auth_expect, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)h->auth_expect + 6, (const unsigned char *)buf, (int)n);
        h->auth_basic = true;
    } else {
        h->auth_expect = malloc(7 + n + 1);
        if (!h->auth_expect) {
            return false;
        }
        memcpy(h->auth_expect, "Bearer ", 7);
        memcpy(h->auth_expect + 7, buf, n + 1);
        h->auth_token = strdup(buf);
        if (!h->auth_token) {
            OPENSSL_cleanse(buf, sizeof buf);
            return false;
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

static bool
http_authorized(const struct http *h, struct evhttp_request *req)
{
    if (!h->auth_expect) {
        return true;
    }
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!got) {
        return false;
    }
    size_t n = strlen(h->auth_expect);
    if (h->auth_token && strncasecmp(got, "Basic ", 6) == 0) {
        /* a browser's login with a token file: any user name, the token as the password */
        unsigned char dec[1024];
        size_t in = strlen(got + 6);
        bool ok = false;
        if (in > 0 && in % 4 == 0 && in / 4 * 3 < sizeof dec) {
            int dn = EVP_DecodeBlock(dec, (const unsigned char *)got + 6, (int)in);
            if (dn > 0) {
                dn -= (got[6 + in - 1] == '=') + (got[6 + in - 2] == '=');
                dec[dn] = '\0';
                const char *colon = memchr(dec, ':', (size_t)dn);
                size_t tn = strlen(h->auth_token);
                ok = colon && (size_t)dn - (size_t)((const unsigned char *)colon + 1 - dec) == tn &&
                     CRYPTO_memcmp(colon + 1, h->auth_token, tn) == 0;
            }
            OPENSSL_cleanse(dec, sizeof dec);
        }
        return ok;
    }
    /* the scheme is case-insensitive; compare the credentials in constant time */
    size_t scheme = h->auth_basic ? 6 : 7;
    if (strlen(got) != n || strncasecmp(got, h->auth_expect, scheme) != 0) {
        return false;
    }
    return CRYPTO_memcmp(got + scheme, h->auth_expect + scheme, n - scheme) == 0;
}

/* ---- connections: the cap and the header deadline ------------------------------------- */

/* Ends a bound connection the way evhttp's own read timeout does (a reading timeout event on
 * its bufferevent): evhttp frees it at once, without a reply, and http_conn_gone frees hc.
 * Not for one being answered. hc must not be used after this. */
static void
http_conn_close(struct http_conn *hc)
{
    if (!hc->doomed) {
        hc->doomed = true;
        hc->h->conns_live--;
    }
    event_del(hc->deadline);
    bufferevent_trigger_event(hc->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

/* evhttp's close callback: the connection is being freed. */
static void
http_conn_gone(struct evhttp_connection *evcon, void *arg)
{
    struct http_conn *hc = arg;
    struct http *h = hc->h;
    (void)evcon;
    if (!hc->doomed) {
        h->conns_live--;
    }
    *(hc->prev ? &hc->prev->next : &h->conn_head) = hc->next;
    *(hc->next ? &hc->next->prev : &h->conn_tail) = hc->prev;
    event_free(hc->deadline);
    free(hc);
}

/* Binds hc to its evhttp_connection (the callback argument evhttp gave its bufferevent) and
 * registers the close callback. Only once evhttp has set the connection up: after the bevcb
 * that made hc returned (evhttp does it synchronously, before the next accept). False when
 * there is none (not with libevent 2.1's evhttp); hc is then freed, untracked. */
static bool
http_conn_bind(struct http_conn *hc)
{
    if (hc->evcon) {
        return true;
    }
    bufferevent_data_cb rd, wr;
    bufferevent_event_cb ev;
    void *cbarg = NULL;
    bufferevent_getcb(hc->bev, &rd, &wr, &ev, &cbarg);
    hc->evcon = cbarg;
    if (!hc->evcon) {
        struct http *h = hc->h;
        if (!hc->doomed) {
            h->conns_live--;
        }
        *(hc->prev ? &hc->prev->next : &h->conn_head) = hc->next;
        *(hc->next ? &hc->next->prev : &h->conn_tail) = hc->prev;
        event_free(hc->deadline);
        free(hc);
        return false;
    }
    evhttp_connection_set_closecb(hc->evcon, http_conn_gone, hc);
    return true;
}

/* First run (made active at accept, so it runs before evhttp reads anything from the
 * connection: the connection is still there): binds hc, starts the header deadline, or closes
 * a connection refused at the cap. Later runs: the header deadline passed. */
static void
http_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *hc = arg;
    (void)fd;
    (void)what;
    if (!hc->evcon) {
        if (!http_conn_bind(hc)) {
            return;
        }
        if (!hc->doomed) {
            event_add(hc->deadline, &hc->h->header_tv);
            return;
        }
        hc->h->closed_refused++; /* refused at accept: close it now that it is set up */
        http_conn_close(hc);
        return;
    }
    if (hc->answering || hc->doomed) {
        return; /* the request came in; its reply is evhttp's (its own write timeout) */
    }
    hc->h->closed_timeout++;
    http_conn_close(hc);
}

/* Finds the connection of a request evhttp hands us (a short list: at most the cap). */
static struct http_conn *
http_conn_of(struct http *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    for (struct http_conn *hc = h->conn_tail; evcon && hc; hc = hc->prev) {
        if (hc->evcon == evcon) {
            return hc;
        }
    }
    return NULL;
}

/* The reply is written: the next request's header has --http-header-timeout from now. */
static void
http_conn_replied(struct evhttp_request *req, void *arg)
{
    struct http_conn *hc = arg;
    (void)req;
    hc->answering = false;
    if (!hc->doomed) {
        event_add(hc->deadline, &hc->h->header_tv);
    }
}

/* evhttp's bevcb: called for every accepted connection before evhttp sets its socket. Makes
 * room at the cap by closing the oldest connection not being answered; when every one is
 * being answered, the new one is closed as soon as it is bound. Returns NULL (evhttp then
 * makes a plain bufferevent of its own, untracked) only when out of memory. */
static struct bufferevent *
http_conn_new(struct event_base *base, void *arg)
{
    struct http *h = arg;
    struct http_conn *hc = calloc(1, sizeof *hc);
    if (!hc) {
        return NULL;
    }
    *hc = (struct http_conn){.h = h};
    if (h->ssl_ctx) { /* set at start, never unset: only swapped by http_reload */
        pthread_mutex_lock(&h->ssl_lock);
        SSL *ssl = SSL_new(h->ssl_ctx);
        pthread_mutex_unlock(&h->ssl_lock);
        hc->bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                       BEV_OPT_CLOSE_ON_FREE)
                      : NULL;
        if (!hc->bev && ssl) {
            SSL_free(ssl);
        }
    } else {
        hc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    hc->deadline = hc->bev ? event_new(base, -1, 0, http_conn_deadline, hc) : NULL;
    if (!hc->deadline) {
        if (hc->bev) {
            bufferevent_free(hc->bev);
        }
        free(hc);
        return NULL;
    }
    h->conns_accepted++;
    while (h->conns_live >= h->max_conns) {
        /* every connection in the list is set up (evhttp did it before this accept), so an
         * unbound one can be bound and closed here */
        struct http_conn *victim = h->conn_head;
        while (victim && (victim->doomed || victim->answering)) {
            victim = victim->next;
        }
        if (!victim) {
            hc->doomed = true;
            break;
        }
        if (http_conn_bind(victim)) {
            h->closed_cap++;
            http_conn_close(victim);
        }
    }
    if (!hc->doomed) {
        h->conns_live++;
    }
    hc->prev = h->conn_tail;
    *(h->conn_tail ? &h->conn_tail->next : &h->conn_head) = hc;
    h->conn_tail = hc;
    event_active(hc->deadline, EV_TIMEOUT, 1);
    return hc->bev;
}

/* ---- Host (DNS rebinding) ---------------------------------------------------------------- */

/* True when `host` (a Host header or a request URI's authority: name, IPv4, [IPv6], each with
 * an optional :port, which is not checked) names this server: an address --http listens on
 * (any IP literal when that is a wildcard), a loopback address, localhost, the host name given
 * to --http, or a --http-allow-host name. */
static bool
http_host_allowed(const struct http *h, const char *host)
{
    char name[256];
    size_t n;
    if (h->allow_any_host) {
        return true;
    }
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close || (close[1] != '\0' && close[1] != ':')) {
            return false;
        }
        n = (size_t)(close - host - 1);
        host++;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (n == 0 || n >= sizeof name) {
        return false;
    }
    memcpy(name, host, n);
    name[n] = '\0';
    if (name[n - 1] == '.') { /* a fully qualified "localhost." */
        name[--n] = '\0';
    }
    unsigned char ip[16];
    int fam = inet_pton(AF_INET, name, ip) == 1    ? AF_INET
              : inet_pton(AF_INET6, name, ip) == 1 ? AF_INET6
                                                   : 0;
    if (fam) {
        if (h->allow_any_ip) {
            return true;
        }
        static const unsigned char v6_lo[16] = {[15] = 1};
        if ((fam == AF_INET && ip[0] == 127) || (fam == AF_INET6 && memcmp(ip, v6_lo, 16) == 0)) {
            return true;
        }
        for (int i = 0; i < h->addr->n; i++) {
            const struct sockaddr *sa = (const struct sockaddr *)&h->addr->a[i].sa;
            if (fam == AF_INET && sa->sa_family == AF_INET &&
                memcmp(&((const struct sockaddr_in *)sa)->sin_addr, ip, 4) == 0) {
                return true;
            }
            if (fam == AF_INET6 && sa->sa_family == AF_INET6 &&
                memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, ip, 16) == 0) {
                return true;
            }
        }
        return false;
    }
    for (int i = 0; i < h->n_allow_names; i++) {
        if (strcasecmp(name, h->allow_names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The request's Host header and, in an absolute-form request line, the URI's host must both
 * name this server. HTTP/1.0 without Host is allowed (no browser sends that); HTTP/1.1
 * without Host is refused (RFC 9112 3.2: 400). Sets *code (403 or 400) on refusal. */
static bool
http_request_host_ok(const struct http *h, struct evhttp_request *req, int *code)
{
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *uhost = uri ? evhttp_uri_get_host(uri) : NULL;
    *code = 403;
    if (!host) {
        if (req->major == 1 && req->minor == 0 && !uhost) {
            return true;
        }
        if (!uhost) {
            *code = 400;
            return false;
        }
    } else if (!http_host_allowed(h, host)) {
        return false;
    }
    return !uhost || http_host_allowed(h, uhost);
}

/* Splits --http-allow-host, adds localhost and --http's host name when it is a name. */
static bool
http_load_hosts(struct http *h, const struct conf *c)
{
    const char *extra = c->http_allow_host ? c->http_allow_host : "";
    int cap = 2;
    for (const char *p = extra; *p; p++) {
        cap += *p == ',';
    }
    cap += *extra != '\0';
    h->allow_names = calloc((size_t)cap, sizeof *h->allow_names);
    if (!h->allow_names) {
        return false;
    }
    h->allow_names[h->n_allow_names++] = strdup("localhost");
    unsigned char ip[16];
    if (h->addr->host[0] && inet_pton(AF_INET, h->addr->host, ip) != 1 &&
        inet_pton(AF_INET6, h->addr->host, ip) != 1) {
        h->allow_names[h->n_allow_names++] = strdup(h->addr->host);
    }
    for (const char *p = extra; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 1 && *p == '*') {
            h->allow_any_host = true;
        } else if (n > 0) {
            h->allow_names[h->n_allow_names++] = strndup(p, n);
        }
        p += n + (p[n] == ',');
    }
    for (int i = 0; i < h->n_allow_names; i++) {
        if (!h->allow_names[i]) {
            return false;
        }
    }
    for (int i = 0; i < h->addr->n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&h->addr->a[i].sa;
        static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
        if ((sa->sa_family == AF_INET &&
             ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
            (sa->sa_family == AF_INET6 &&
             memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &any6, 16) == 0)) {
            h->allow_any_ip = true;
        }
    }
    return true;
}

/* ---- HTTPS ------------------------------------------------------------------------------- */

/* A server context from --http-tls-cert/--http-tls-key, or NULL after one line naming the file
 * (or the mismatch) on stderr. */
static SSL_CTX *
http_tls_ctx(const struct conf *c)
{
    char msg[256] = "";
    const char *opt = "--http-tls-cert", *file = c->http_tls_cert;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fprintf(stderr, "slowtap: --http-tls-cert: cannot create a TLS context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    errno = 0;
    bool ok = SSL_CTX_use_certificate_chain_file(ctx, c->http_tls_cert) == 1;
    if (ok) {
        opt = "--http-tls-key";
        file = c->http_tls_key;
        ok = SSL_CTX_use_PrivateKey_file(ctx, c->http_tls_key, SSL_FILETYPE_PEM) == 1;
    }
    if (!ok) {
        unsigned long e = ERR_get_error();
        if (e) {
            ERR_error_string_n(e, msg, sizeof msg);
        }
        ERR_clear_error();
        fprintf(stderr, "slowtap: %s %s: %s\n", opt, file, msg[0] ? msg : "cannot load");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        fprintf(stderr, "slowtap: --http-tls-key %s does not match --http-tls-cert %s\n",
                c->http_tls_key, c->http_tls_cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void
http_reload(struct http *h, const struct conf *c)
{
    if (!h || !h->ssl_ctx || !c->http_tls_cert) {
        return;
    }
    SSL_CTX *ctx = http_tls_ctx(c);
    if (!ctx) {
        fprintf(stderr, "slowtap: HTTPS keeps its previous certificate\n");
        return;
    }
    pthread_mutex_lock(&h->ssl_lock);
    SSL_CTX *old = h->ssl_ctx;
    h->ssl_ctx = ctx;
    pthread_mutex_unlock(&h->ssl_lock);
    SSL_CTX_free(old); /* connections made with it hold their own references */
}

/* ---- responses -------------------------------------------------------------------------- */

static void
http_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
           struct evbuffer *body)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", ctype);
    evhttp_add_header(oh, "Cache-Control", "no-store");
    evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply(req, code, reason, body);
}

/* A JSON response being built: the one writer (common/jsonw.h) into memory. */
struct http_json {
    struct jsonw w;
    struct jsonw_mem m;
};

static void
http_json_begin(struct http_json *j)
{
    memset(&j->m, 0, sizeof j->m);
    jsonw_init(&j->w, jsonw_mem_sink, &j->m, 0);
}

/* Sends j's document (and a newline) and frees it. */
static void
http_reply_json(struct evhttp_request *req, int code, const char *reason, struct http_json *j)
{
    jsonw_flush(&j->w);
    struct evbuffer *b = j->m.failed || !j->m.data ? NULL : evbuffer_new();
    if (!b || evbuffer_add(b, j->m.data, j->m.len) != 0 || evbuffer_add(b, "\n", 1) != 0) {
        if (b) {
            evbuffer_free(b);
        }
        jsonw_mem_free(&j->m);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    jsonw_mem_free(&j->m);
    http_reply(req, code, reason, "application/json", b);
    evbuffer_free(b);
}

static void
http_reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    struct http_json j;
    http_json_begin(&j);
    jsonw_object_begin(&j.w);
    jsonw_kstr(&j.w, "error", msg);
    jsonw_object_end(&j.w);
    http_reply_json(req, code, reason, &j);
}

/* ---- the numbers ------------------------------------------------------------------------ */

struct http_totals {
    uint64_t conn_total, conn_active, conn_refused, backend_errors, protocol_errors;
    uint64_t sessions_untracked;
    uint64_t accept_errors, conn_shed, hs_pending, hs_evicted, hs_refused; /* limits */
    uint64_t statements, statement_errors, slow, bytes_in, bytes_out, query_us;
    struct hist latency;
    uint64_t trx, trx_us, trx_idle_us, trx_open;
    int64_t trx_oldest_wall_us; /* 0: no transaction open */
    struct hist trx_duration, trx_idle;
};

static void
http_sum_counters(const struct http *h, struct http_totals *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < h->src.n_counters; i++) {
        struct counters *c = h->src.counters[i];
        if (!c) {
            continue;
        }
        t->conn_total += COUNTER_GET(c, connections_total);
        t->conn_active += COUNTER_GET(c, connections_active);
        t->conn_refused += COUNTER_GET(c, connections_refused);
        t->accept_errors += COUNTER_GET(c, accept_errors);
        t->conn_shed += COUNTER_GET(c, connections_shed);
        t->hs_pending += COUNTER_GET(c, handshakes_pending);
        t->hs_evicted += COUNTER_GET(c, handshakes_evicted);
        t->hs_refused += COUNTER_GET(c, handshakes_refused);
        t->backend_errors += COUNTER_GET(c, backend_errors);
        t->protocol_errors += COUNTER_GET(c, protocol_errors);
        t->sessions_untracked += COUNTER_GET(c, sessions_untracked);
        t->statements += COUNTER_GET(c, statements);
        t->statement_errors += COUNTER_GET(c, statement_errors);
        t->slow += COUNTER_GET(c, slow_statements);
        t->bytes_in += COUNTER_GET(c, bytes_from_client);
        t->bytes_out += COUNTER_GET(c, bytes_to_client);
        t->query_us += COUNTER_GET(c, query_us_total);
        t->trx += COUNTER_GET(c, transactions);
        t->trx_us += COUNTER_GET(c, trx_us_total);
        t->trx_idle_us += COUNTER_GET(c, trx_idle_us_total);
        t->trx_open += COUNTER_GET(c, trx_open);
        int64_t oldest = atomic_load_explicit(&c->trx_oldest_wall_us, memory_order_relaxed);
        if (oldest && (!t->trx_oldest_wall_us || oldest < t->trx_oldest_wall_us)) {
            t->trx_oldest_wall_us = oldest;
        }
        for (unsigned b = 0; b < HIST_BUCKETS; b++) {
            /* racy by design (see the top of the file): a relaxed load, never torn */
            t->latency.b[b] += __atomic_load_n(&c->latency.b[b], __ATOMIC_RELAXED);
            t->trx_duration.b[b] += __atomic_load_n(&c->trx_duration.b[b], __ATOMIC_RELAXED);
            t->trx_idle.b[b] += __atomic_load_n(&c->trx_idle.b[b], __ATOMIC_RELAXED);
        }
    }
}

/* full_scan: the plan says so or, without a plan, the server flagged "no index used". */
static bool
http_full_scan(const struct stats_digest *d)
{
    return d->has_plan ? (d->plan_flags & PLAN_FULL_SCAN) != 0 : d->no_index > 0;
}

/* A time member: ISO 8601 UTC with microseconds (common/timefmt.h), "" for a time never set. */
static void
http_jtime(struct jsonw *w, const char *k, int64_t us)
{
    char iso[TIMEFMT_ISO_LEN + 1] = "";
    if (us > 0) {
        timefmt_iso_utc(us, iso);
    }
    jsonw_kstr(w, k, iso);
}

static void
http_jhex(struct jsonw *w, const char *k, uint64_t v)
{
    char hex[HEXFMT_U64_LEN + 1];
    hexfmt_u64(v, hex);
    jsonw_kstr(w, k, hex);
}

/* ---- /metrics --------------------------------------------------------------------------- */

static void
http_family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
http_metric_u(struct evbuffer *b, const char *name, const char *type, const char *help, uint64_t v)
{
    http_family(b, name, type, help);
    evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A histogram family in seconds from a struct hist of microseconds, with le bounds at every
 * power of two from 2^k_lo to 2^k_hi us (bucket edges, so the counts are exact). */
static void
http_hist_family(struct evbuffer *b, const char *name, const char *help, const struct hist *h,
                 uint64_t sum_us, unsigned k_lo, unsigned k_hi)
{
    http_family(b, name, "histogram", help);
    uint64_t cum = 0, total = hist_count(h);
    unsigned bi = 0;
    for (unsigned k = k_lo; k <= k_hi; k++) {
        uint64_t edge = (uint64_t)1 << k;
        while (bi < HIST_BUCKETS && hist_bucket_hi(bi) < edge) {
            cum += h->b[bi++];
        }
        evbuffer_add_printf(b, "%s_bucket{le=\"%.6f\"} %llu\n", name, (double)edge / 1e6,
                            (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
    evbuffer_add_printf(b, "%s_sum %.6f\n", name, (double)sum_us / 1e6);
    evbuffer_add_printf(b, "%s_count %llu\n", name, (unsigned long long)total);
}

/* Transactions: ended ones as histograms, open ones as gauges. */
static void
http_trx_metrics(struct evbuffer *b, const struct http_totals *t)
{
    http_hist_family(b, "slowtap_transaction_duration_seconds",
                     "Durations of ended transactions (first command to COMMIT/ROLLBACK).",
                     &t->trx_duration, t->trx_us, 10, 30);
    http_hist_family(b, "slowtap_transaction_idle_seconds",
                     "Time ended transactions spent idle between their statements.", &t->trx_idle,
                     t->trx_idle_us, 10, 30);
    http_metric_u(b, "slowtap_transactions_open", "gauge", "Sessions inside a transaction now.",
                  t->trx_open);
    http_family(b, "slowtap_transaction_oldest_open_seconds", "gauge",
                "Age of the oldest open transaction (0 when none).");
    double age = 0;
    if (t->trx_oldest_wall_us) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        age = now > t->trx_oldest_wall_us ? (double)(now - t->trx_oldest_wall_us) / 1e6 : 0;
    }
    evbuffer_add_printf(b, "slowtap_transaction_oldest_open_seconds %.6f\n", age);
}

/* Appends s cut to at most `max` bytes (not splitting UTF-8), escaped for a label value. */
static void
http_label_value(struct evbuffer *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\\':
            evbuffer_add(b, "\\\\", 2);
            break;
        case '"':
            evbuffer_add(b, "\\\"", 2);
            break;
        case '\n':
            evbuffer_add(b, "\\n", 2);
            break;
        default:
            evbuffer_add(b, &s[i], 1);
        }
    }
}

static void
http_digest_labels(struct evbuffer *b, const struct stats_digest *d)
{
    char hex[HEXFMT_U64_LEN + 1];
    hexfmt_u64(d->digest, hex);
    evbuffer_add_printf(b, "{digest=\"%s\",fingerprint=\"", hex);
    http_label_value(b, d->fingerprint, HTTP_FP_LABEL_MAX);
    evbuffer_add(b, "\"}", 2);
}

/* The per-shape latency histogram's upper bounds, in microseconds: every other power of two
 * from 128 us to 33.5 s. Each is a bucket edge of struct hist, so the cumulative counts are
 * exact, and they are a subset of slowtap_statement_duration_seconds' bounds. A small fixed
 * set: --metrics-top shapes times 12 series, and the same le values on every instance, so
 * Prometheus can sum the buckets across instances before histogram_quantile. */
static const unsigned http_digest_le_pow[] = {7, 9, 11, 13, 15, 17, 19, 21, 23, 25};

/* Writes one shape's slowtap_digest_duration_seconds series: _bucket per bound, +Inf, _sum and
 * _count (the count is the shape's, which equals its histogram's total). */
static void
http_digest_histogram(struct evbuffer *b, const struct stats_digest *d)
{
    static const char name[] = "slowtap_digest_duration_seconds";
    uint64_t cum = 0;
    unsigned bi = 0;
    char hex[HEXFMT_U64_LEN + 1];
    hexfmt_u64(d->digest, hex);
    for (size_t k = 0; k < sizeof http_digest_le_pow / sizeof http_digest_le_pow[0]; k++) {
        uint64_t edge = (uint64_t)1 << http_digest_le_pow[k];
        while (bi < HIST_BUCKETS && hist_bucket_hi(bi) < edge) {
            cum += d->hist.b[bi++];
        }
        evbuffer_add_printf(b, "%s_bucket{digest=\"%s\",fingerprint=\"", name, hex);
        http_label_value(b, d->fingerprint, HTTP_FP_LABEL_MAX);
        evbuffer_add_printf(b, "\",le=\"%.6f\"} %llu\n", (double)edge / 1e6,
                            (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_bucket{digest=\"%s\",fingerprint=\"", name, hex);
    http_label_value(b, d->fingerprint, HTTP_FP_LABEL_MAX);
    evbuffer_add_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)d->count);
    evbuffer_add_printf(b, "%s_sum", name);
    http_digest_labels(b, d);
    evbuffer_add_printf(b, " %.6f\n%s_count", (double)d->total_us / 1e6, name);
    http_digest_labels(b, d);
    evbuffer_add_printf(b, " %llu\n", (unsigned long long)d->count);
}

static void http_routes_metrics(struct http *h, struct evbuffer *b);

/* The HTTP server's own limits (HTTP thread: plain reads). */
static void
http_server_metrics(const struct http *h, struct evbuffer *b)
{
    http_metric_u(b, "slowtap_http_connections_open", "gauge",
                  "HTTP connections open now (at most --http-max-connections).",
                  (uint64_t)(h->conns_live > 0 ? h->conns_live : 0));
    http_metric_u(b, "slowtap_http_connections_total", "counter", "HTTP connections accepted.",
                  h->conns_accepted);
    http_family(b, "slowtap_http_connections_closed_total", "counter",
                "HTTP connections slowtap closed: max_connections (the oldest idle one, to make "
                "room), refused (a new one at the cap, all busy), header_timeout "
                "(--http-header-timeout).");
    evbuffer_add_printf(b,
                        "slowtap_http_connections_closed_total{reason=\"max_connections\"} %llu\n"
                        "slowtap_http_connections_closed_total{reason=\"refused\"} %llu\n"
                        "slowtap_http_connections_closed_total{reason=\"header_timeout\"} %llu\n",
                        (unsigned long long)h->closed_cap, (unsigned long long)h->closed_refused,
                        (unsigned long long)h->closed_timeout);
    http_metric_u(b, "slowtap_http_requests_forbidden_total", "counter",
                  "HTTP requests refused for their Host header (403; 400 without Host).",
                  h->host_refused);
}

static void
http_metrics(struct http *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    struct http_totals t;
    http_sum_counters(h, &t);

    http_metric_u(b, "slowtap_connections_total", "counter", "Client connections accepted.",
                  t.conn_total);
    http_metric_u(b, "slowtap_connections_active", "gauge", "Client connections open now.",
                  t.conn_active);
    http_metric_u(b, "slowtap_connections_refused_total", "counter",
                  "Client connections refused over --max-connections.", t.conn_refused);
    http_metric_u(b, "slowtap_accept_errors_total", "counter",
                  "Accepting failed for lack of descriptors or memory (accepting pauses).",
                  t.accept_errors);
    http_metric_u(b, "slowtap_connections_shed_total", "counter",
                  "Clients closed with ERR 1040 for lack of file descriptors.", t.conn_shed);
    http_metric_u(b, "slowtap_handshakes_pending", "gauge",
                  "Client connections not yet authenticated.", t.hs_pending);
    http_metric_u(b, "slowtap_handshakes_evicted_total", "counter",
                  "Stalled handshakes closed to make room (--max-pending-handshakes).",
                  t.hs_evicted);
    http_metric_u(b, "slowtap_handshakes_refused_total", "counter",
                  "Clients refused with ERR 1040 at --max-pending-handshakes.", t.hs_refused);
    http_metric_u(b, "slowtap_backend_errors_total", "counter",
                  "Backend connection failures and losses.", t.backend_errors);
    http_metric_u(b, "slowtap_protocol_errors_total", "counter",
                  "Malformed packets from the client or the server.", t.protocol_errors);
    http_metric_u(b, "slowtap_sessions_untracked_total", "counter",
                  "Sessions that met a packet slowtap could not place and went on relaying it "
                  "unexamined (fail open).",
                  t.sessions_untracked);
    http_metric_u(b, "slowtap_statements_total", "counter", "Commands completed.", t.statements);
    http_metric_u(b, "slowtap_statement_errors_total", "counter",
                  "Commands completed with an error.", t.statement_errors);
    http_metric_u(b, "slowtap_slow_statements_total", "counter",
                  "Commands at or over --long-query-time.", t.slow);
    http_metric_u(b, "slowtap_bytes_received_total", "counter", "Bytes received from clients.",
                  t.bytes_in);
    http_metric_u(b, "slowtap_bytes_sent_total", "counter", "Bytes sent to clients.", t.bytes_out);

    http_metric_u(b, "slowtap_log_entries_written_total", "counter",
                  "Entries written to the slow log.",
                  h->src.slow_log ? logfile_entries_written(h->src.slow_log) : 0);
    http_family(b, "slowtap_log_entries_dropped_total", "counter",
                "Log entries dropped because the writer fell behind.");
    evbuffer_add_printf(
        b, "slowtap_log_entries_dropped_total{log=\"slow\"} %llu\n",
        (unsigned long long)(h->src.slow_log ? logfile_entries_dropped(h->src.slow_log) : 0));
    evbuffer_add_printf(
        b, "slowtap_log_entries_dropped_total{log=\"explain\"} %llu\n",
        (unsigned long long)(h->src.explain_log ? logfile_entries_dropped(h->src.explain_log) : 0));

    http_metric_u(b, "slowtap_capture_records_total", "counter",
                  "Records written to capture files (every capture since start-up).",
                  capture_records_total(h->src.capture));
    http_metric_u(b, "slowtap_capture_bytes_total", "counter",
                  "Bytes of blocks written to capture files.", capture_bytes_total(h->src.capture));
    http_metric_u(b, "slowtap_capture_dropped_total", "counter",
                  "Capture records dropped (the writer fell behind, a bound, an error).",
                  capture_dropped_total(h->src.capture));

    struct explain_counters ec = {0};
    if (h->src.explain) {
        explain_get_counters(h->src.explain, &ec);
    }
    http_family(b, "slowtap_explains_total", "counter",
                "Auto-EXPLAIN outcomes (zero when auto-EXPLAIN is off).");
    const struct {
        const char *name;
        uint64_t v;
    } ex[] = {{"run", ec.run},
              {"failed", ec.failed},
              {"dropped", ec.dropped},
              {"cached", ec.cached},
              {"live", ec.live}};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        evbuffer_add_printf(b, "slowtap_explains_total{result=\"%s\"} %llu\n", ex[i].name,
                            (unsigned long long)ex[i].v);
    }
    /* over --explain-rate (explain.h) */
    evbuffer_add_printf(b, "slowtap_explains_total{result=\"rate_limited\"} %llu\n",
                        (unsigned long long)ec.rate_limited);

    http_metric_u(b, "slowtap_digests_evicted_total", "counter",
                  "Statement shapes evicted from the statistics table (--max-digests).",
                  h->src.stats ? stats_evicted(h->src.stats) : 0);

    struct chsink_stats sk;
    if (chsink_get_stats(&sk)) { /* --sink (chsink.h) */
        http_metric_u(b, "slowtap_sink_sent_total", "counter", "Rows ClickHouse accepted.",
                      sk.sent);
        http_metric_u(b, "slowtap_sink_dropped_total", "counter",
                      "Rows dropped: --sink-buffer full, refused as bad data, unsent at stop.",
                      sk.dropped);
        http_metric_u(b, "slowtap_sink_errors_total", "counter",
                      "Requests to ClickHouse that failed.", sk.errors);
        http_metric_u(b, "slowtap_sink_queued_rows", "gauge", "Rows waiting to be sent.",
                      sk.queued);
    }

    http_trx_metrics(b, &t);
    http_routes_metrics(h, b);
    http_server_metrics(h, b);

    /* Statement durations. Durations are whole microseconds (truncated), so "under 2^k us"
     * is exactly "at most 2^k us" of the real duration: every le bound is a bucket edge. */
    http_family(b, "slowtap_statement_duration_seconds", "histogram",
                "Statement durations (all statements).");
    uint64_t cum = 0, total = hist_count(&t.latency);
    unsigned bi = 0;
    for (unsigned k = 6; k <= 26; k++) {
        uint64_t edge = (uint64_t)1 << k;
        while (bi < HIST_BUCKETS && hist_bucket_hi(bi) < edge) {
            cum += t.latency.b[bi++];
        }
        evbuffer_add_printf(b, "slowtap_statement_duration_seconds_bucket{le=\"%.6f\"} %llu\n",
                            (double)edge / 1e6, (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "slowtap_statement_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                        (unsigned long long)total);
    evbuffer_add_printf(b, "slowtap_statement_duration_seconds_sum %.6f\n",
                        (double)t.query_us / 1e6);
    evbuffer_add_printf(b, "slowtap_statement_duration_seconds_count %llu\n",
                        (unsigned long long)total);

    /* per-shape series: the top --metrics-top shapes by total time */
    struct stats_snapshot snap = {0};
    if (h->src.stats && h->metrics_top > 0) {
        stats_snapshot(h->src.stats, STATS_SORT_TOTAL, (size_t)h->metrics_top, &snap);
    }
    static const char *const fam[][3] = {
        {"slowtap_digest_calls_total", "counter", "Executions of the statement shape."},
        {"slowtap_digest_seconds_total", "counter", "Total time of the statement shape."},
        {"slowtap_digest_errors_total", "counter", "Executions of the shape that failed."},
        {"slowtap_digest_rows_sent_total", "counter", "Rows sent by the statement shape."},
        {"slowtap_digest_full_scan", "gauge", "1 when the shape's plan reads a whole table."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        http_family(b, fam[f][0], fam[f][1], fam[f][2]);
        for (size_t i = 0; i < snap.n; i++) {
            const struct stats_digest *d = &snap.d[i];
            evbuffer_add_printf(b, "%s", fam[f][0]);
            http_digest_labels(b, d);
            switch (f) {
            case 0:
                evbuffer_add_printf(b, " %llu\n", (unsigned long long)d->count);
                break;
            case 1:
                evbuffer_add_printf(b, " %.6f\n", (double)d->total_us / 1e6);
                break;
            case 2:
                evbuffer_add_printf(b, " %llu\n", (unsigned long long)d->errors);
                break;
            case 3:
                evbuffer_add_printf(b, " %llu\n", (unsigned long long)d->rows_sent);
                break;
            default:
                evbuffer_add_printf(b, " %d\n", http_full_scan(d) ? 1 : 0);
            }
        }
    }
    http_family(b, "slowtap_digest_duration_seconds", "histogram",
                "Durations of the statement shape (top --metrics-top shapes).");
    for (size_t i = 0; i < snap.n; i++) {
        http_digest_histogram(b, &snap.d[i]);
    }
    stats_snapshot_free(&snap);
    http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

/* ---- JSON API (common/jsonw.h: one escaping rule, no member ever dropped) --------------- */

static void http_redacted_text(struct jsonw *w, const struct http *h, const char *k, const char *s,
                               size_t n, char *buf, size_t cap);

static void
http_plan_json(struct jsonw *w, const struct plan *p)
{
    if (!p) {
        jsonw_null(w);
        return;
    }
    jsonw_array_begin(w);
    for (size_t r = 0; r < p->nrows; r++) {
        jsonw_object_begin(w);
        for (int c = 0; c < PLAN_NCOLS; c++) {
            const char *v = p->rows[r].col[c];
            jsonw_kstr(w, plan_col_names[c], !v || strcmp(v, "NULL") == 0 ? NULL : v);
        }
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

/* A percentile in microseconds: the histogram's, brought inside [min, max] (the true value
 * is). */
static int64_t
http_quantile_us(const struct stats_digest *d, double q)
{
    uint64_t v = hist_quantile(&d->hist, q);
    v = v < d->min_us ? d->min_us : v > d->max_us ? d->max_us : v;
    return (int64_t)v;
}

/* All statements' time so far (the workers' counters): what a shape's share is taken of. */
static uint64_t
http_all_query_us(const struct http *h)
{
    uint64_t us = 0;
    for (int i = 0; i < h->src.n_counters; i++) {
        if (h->src.counters[i]) {
            us += COUNTER_GET(h->src.counters[i], query_us_total);
        }
    }
    return us;
}

/* "lock_waits": the lock waits of a shape's slow statements and the last one with its blocker
 * (stats_lockwait; the blocker's statement was redacted when recorded), null when none. */
static void
http_lockwait_json(struct jsonw *w, const struct stats_lockwait *lk)
{
    jsonw_key(w, "lock_waits");
    if (!lk->count) {
        jsonw_null(w);
        return;
    }
    jsonw_object_begin(w);
    jsonw_kuint(w, "count", lk->count);
    jsonw_ksecs(w, "total_s", (int64_t)lk->total_us);
    jsonw_ksecs(w, "max_s", (int64_t)lk->max_us);
    jsonw_key(w, "last");
    jsonw_object_begin(w);
    http_jtime(w, "time", lk->last_wall_us);
    jsonw_ksecs(w, "wait_s", (int64_t)lk->wait_us);
    jsonw_kstr(w, "type", lockwait_kind_name(lk->kind));
    if (lk->table[0]) {
        jsonw_kstr(w, "table", lk->table);
    } else {
        jsonw_knull(w, "table");
    }
    if (lk->blocked_by) {
        jsonw_kuint(w, "blocked_by", lk->blocked_by);
    } else {
        jsonw_knull(w, "blocked_by");
    }
    jsonw_kbool(w, "inferred", lk->inferred);
    jsonw_key(w, "candidates");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < lk->ncands && i < LOCKWAIT_CANDS; i++) {
        jsonw_uint(w, lk->cands[i]);
    }
    jsonw_array_end(w);
    jsonw_key(w, "blocker");
    if (lk->has_blocker) {
        jsonw_object_begin(w);
        jsonw_kuint(w, "thread_id", lk->blocked_by);
        jsonw_kstr(w, "user", lk->user);
        jsonw_kstr(w, "host", lk->host);
        if (lk->trx_us >= 0) {
            jsonw_ksecs(w, "trx_s", lk->trx_us);
        } else {
            jsonw_knull(w, "trx_s");
        }
        if (lk->idle_us >= 0) {
            jsonw_ksecs(w, "idle_s", lk->idle_us);
        } else {
            jsonw_knull(w, "idle_s");
        }
        if (lk->last_statement[0]) {
            jsonw_kstr(w, "last_statement", lk->last_statement);
        } else {
            jsonw_knull(w, "last_statement");
        }
        jsonw_kbool(w, "last_statement_truncated", lk->last_cut);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* The members of a statement shape's object (the caller opens and closes it). */
static void
http_digest_members(struct jsonw *w, const struct http *h, const struct stats_digest *d)
{
    const char *example = d->example;
    char *red = NULL;
    if (filter_redacts(h->src.filter)) {
        size_t cap = sizeof d->example + 64;
        red = malloc(cap);
        if (red) {
            filter_redact(h->src.filter, d->example, strlen(d->example), red, cap);
            example = red;
        } else {
            example = d->fingerprint;
        }
    }
    double n = d->count ? (double)d->count : 1.0;
    http_jhex(w, "digest", d->digest);
    jsonw_kstr(w, "name", d->name[0] ? d->name : d->fingerprint);
    jsonw_kstr(w, "fingerprint", d->fingerprint);
    jsonw_kstr(w, "example", example);
    jsonw_kuint(w, "count", d->count);
    jsonw_kuint(w, "errors", d->errors);
    jsonw_ksecs(w, "total", (int64_t)d->total_us);
    jsonw_ksecs(w, "queue_total", (int64_t)d->queue_us);
    jsonw_kdouble(w, "avg", (double)d->total_us / n / 1e6);
    jsonw_ksecs(w, "min", (int64_t)d->min_us);
    jsonw_ksecs(w, "max", (int64_t)d->max_us);
    jsonw_ksecs(w, "p50", http_quantile_us(d, 0.50));
    jsonw_ksecs(w, "p95", http_quantile_us(d, 0.95));
    jsonw_ksecs(w, "p99", http_quantile_us(d, 0.99));
    jsonw_kuint(w, "rows", d->rows_sent);
    jsonw_kuint(w, "rows_affected", d->rows_affected);
    jsonw_kuint(w, "no_index", d->no_index);
    http_jtime(w, "first_seen", d->first_seen_us);
    http_jtime(w, "last_seen", d->last_seen_us);
    jsonw_key(w, "flags");
    jsonw_object_begin(w);
    jsonw_kbool(w, "full_scan", http_full_scan(d));
    jsonw_kbool(w, "full_join", (d->plan_flags & PLAN_FULL_JOIN) != 0);
    jsonw_kbool(w, "tmp_table", (d->plan_flags & PLAN_TMP_TABLE) != 0);
    jsonw_kbool(w, "filesort", (d->plan_flags & PLAN_FILESORT) != 0);
    jsonw_kbool(w, "no_index_used", d->no_index > 0);
    jsonw_object_end(w);
    jsonw_key(w, "plan");
    http_plan_json(w, d->plan);
    /* without a plan: why, and what would bring one (the dashboard shows it) */
    if (d->plan) {
        jsonw_knull(w, "no_plan_reason");
    } else if (!h->src.explain) {
        jsonw_kstr(w, "no_plan_reason",
                   "auto-EXPLAIN is off: start slowtap with --explain-user USER (its password in "
                   "--explain-password-file or $SLOWTAP_EXPLAIN_PASSWORD) to capture plans");
    } else {
        jsonw_kstr(w, "no_plan_reason",
                   "not explained yet: a shape gets its plan when a statement of it runs past "
                   "--explain-threshold, when the server flags it as using no index, or when it "
                   "is among the --explain-top shapes by total time (text statements of a kind "
                   "EXPLAIN takes)");
    }
    /* index advice, and the largest scanned table's row estimate: what a scan flag weighs */
    jsonw_kstr(w, "index_advice", d->index_advice);
    if (d->plan) {
        jsonw_kuint(w, "scan_rows", advice_scan_rows(d->plan));
    } else {
        jsonw_knull(w, "scan_rows");
    }
    /* how loudly to show the scan flag: row estimate and total time (advice.h, noise) */
    bool flagged = http_full_scan(d) || (d->plan_flags & PLAN_FULL_JOIN) != 0;
    jsonw_kstr(w, "scan_weight",
               advice_weight_name(advice_scan_weight(flagged, d->plan != NULL,
                                                     d->plan ? advice_scan_rows(d->plan) : 0,
                                                     d->total_us, http_all_query_us(h))));
    /* what the server measured (performance_schema) for its slow statements, null when none */
    const struct stats_server *sv = &d->server;
    jsonw_key(w, "server");
    if (sv->measured) {
        jsonw_object_begin(w);
        jsonw_kuint(w, "measured", sv->measured);
        jsonw_kuint(w, "rows_examined", sv->rows_examined);
        jsonw_kuint(w, "tmp_tables", sv->tmp_tables);
        jsonw_kuint(w, "tmp_disk_tables", sv->tmp_disk_tables);
        jsonw_kuint(w, "tmp_table_on_disk", sv->tmp_table_on_disk);
        jsonw_kuint(w, "filesort_on_disk", sv->filesort_on_disk);
        jsonw_kuint(w, "merge_passes", sv->merge_passes);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    http_lockwait_json(w, &d->lock);
    free(red);
}

/* ---- windows (window.h) and reset ------------------------------------------------------ */

static int64_t
http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ?window=5m|1h|all (also Nm for N in 1..60): minutes, 0 for "since reset"; false when bad.
 * *name gets the canonical name. Without the parameter: all. */
static bool
http_window_arg(const char *v, unsigned *minutes, const char **name)
{
    *minutes = 0;
    *name = "all";
    if (!v || strcmp(v, "all") == 0) {
        return true;
    }
    if (strcmp(v, "1h") == 0 || strcmp(v, "60m") == 0) {
        *minutes = 60;
        *name = "1h";
        return true;
    }
    if (strcmp(v, "5m") == 0) {
        *minutes = 5;
        *name = "5m";
        return true;
    }
    char *end;
    long m = strtol(v, &end, 10);
    if (end == v || strcmp(end, "m") != 0 || m < 1 || m > WINDOW_MINUTES) {
        return false;
    }
    *minutes = (unsigned)m;
    *name = v;
    return true;
}

/* The routes' cumulative figures, sorted by key (window_key of the route): malloc'ed. */
static size_t
http_route_figs(const struct routes_snapshot *rs, struct window_fig **out)
{
    *out = rs->n ? malloc(rs->n * sizeof **out) : NULL;
    if (!*out) {
        return 0;
    }
    for (size_t i = 0; i < rs->n; i++) {
        const struct routes_entry *e = &rs->r[i];
        struct window_fig *f = &(*out)[i];
        *f = (struct window_fig){.key = window_key(e->route), .hist = e->hist};
        f->v[WINDOW_COUNT] = e->count;
        f->v[WINDOW_ERRORS] = e->errors;
        f->v[WINDOW_TOTAL_US] = e->total_us;
        f->v[WINDOW_REQUESTS] = e->requests;
        f->v[WINDOW_REQUEST_STMTS] = e->request_stmts;
    }
    window_sort(*out, rs->n);
    return rs->n;
}

/* Feeds (or, with `reset`, resets) the windows with the figures of now. */
static void
http_window_feed(struct http *h, int64_t now, bool reset)
{
    struct window_fig *f = NULL;
    size_t n = h->src.stats ? stats_figures(h->src.stats, &f) : 0;
    if (h->win_digests) {
        (reset ? window_reset : window_feed)(h->win_digests, now, f, n);
    }
    free(f);
    struct routes_snapshot rs = {0};
    if (h->win_routes && h->src.routes && routes_snapshot(h->src.routes, 0, &rs)) {
        n = http_route_figs(&rs, &f);
        (reset ? window_reset : window_feed)(h->win_routes, now, f, n);
        free(f);
        routes_snapshot_free(&rs);
    }
    h->win_minute = now / 60000000;
}

/* A reset (POST /api/reset, SIGUSR1): "since reset" starts now; a marker on every series. */
static void
http_reset(struct http *h)
{
    int64_t now = http_now_us();
    http_window_feed(h, now, true);
    ddl_log_add_reset(h->src.ddl, now);
}

static void
http_reset_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_reset(arg);
}

void
http_request_reset(struct http *h)
{
    if (h && h->reset_ev) {
        event_active(h->reset_ev, EV_TIMEOUT, 0);
    }
}

/* Realtime us where "since reset" starts: the last reset, or 0. */
static int64_t
http_reset_at(const struct http *h)
{
    return h->win_digests ? window_reset_at(h->win_digests) : 0;
}

/* A shape's figures replaced by a window's (min and max: the histogram's bounds, within the
 * shape's own). */
static void
http_digest_window(struct stats_digest *d, const struct window_fig *f)
{
    d->count = f->v[WINDOW_COUNT];
    d->errors = f->v[WINDOW_ERRORS];
    d->no_index = f->v[WINDOW_NO_INDEX];
    d->total_us = f->v[WINDOW_TOTAL_US];
    d->queue_us = f->v[WINDOW_QUEUE_US];
    d->rows_sent = f->v[WINDOW_ROWS_SENT];
    d->rows_affected = f->v[WINDOW_ROWS_AFFECTED];
    d->hist = f->hist;
    unsigned lo = HIST_BUCKETS, hi = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (f->hist.b[i]) {
            lo = lo == HIST_BUCKETS ? i : lo;
            hi = i;
        }
    }
    if (lo == HIST_BUCKETS) {
        d->min_us = d->max_us = 0; /* nothing ran in the window */
    } else {
        uint64_t mn = hist_bucket_lo(lo), mx = hist_bucket_hi(hi);
        d->min_us = mn > d->min_us ? mn : d->min_us;
        d->max_us = mx < d->max_us ? mx : d->max_us;
    }
}

struct http_wkey {
    uint64_t key;
    uint64_t digest;
    size_t idx;
};

static int
http_wkey_cmp(const void *a, const void *b)
{
    const struct http_wkey *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? 1 : -1;
    }
    return x->digest < y->digest ? -1 : x->digest > y->digest;
}

static void
http_api_summary(struct http *h, struct evhttp_request *req)
{
    struct http_totals t;
    http_sum_counters(h, &t);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    jsonw_kuint(w, "statements", t.statements);
    jsonw_kuint(w, "errors", t.statement_errors);
    jsonw_kuint(w, "slow", t.slow);
    jsonw_kuint(w, "connections_active", t.conn_active);
    jsonw_kuint(w, "connections_total", t.conn_total);
    jsonw_kuint(w, "evicted", h->src.stats ? stats_evicted(h->src.stats) : 0);
    jsonw_kbool(w, "auto_explain", h->src.explain != NULL);
    jsonw_ksecs(w, "p99", (int64_t)hist_quantile(&t.latency, 0.99));
    jsonw_ksecs(w, "now", (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000);
    if (http_reset_at(h) > 0) {
        http_jtime(w, "reset_at", http_reset_at(h));
    } else {
        jsonw_knull(w, "reset_at"); /* never reset */
    }
    jsonw_object_end(w);
    http_reply_json(req, 200, "OK", &j);
}

/* The route where a shape cost the most time: of the routes that list it among their
 * ROUTES_TOP_SHAPES costliest shapes, the one with the largest total; NULL when none does. */
static const char *
http_top_route(const struct routes_snapshot *rs, uint64_t digest)
{
    const char *best = NULL;
    uint64_t best_us = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const struct routes_entry *r = &rs->r[i];
        for (unsigned k = 0; k < r->ntop; k++) {
            if (r->top[k].digest == digest && (!best || r->top[k].total_us > best_us)) {
                best = r->route;
                best_us = r->top[k].total_us;
            }
        }
    }
    return best;
}

/* /api/digests over a window (or since a reset): the shapes that ran in it, by its figures. */
static void
http_api_digests_window(struct http *h, struct evhttp_request *req, enum stats_sort sort,
                        size_t limit, unsigned minutes, const char *wname)
{
    struct window_fig *cum = NULL;
    size_t n = h->src.stats ? stats_figures(h->src.stats, &cum) : 0;
    struct window_fig *wf = n ? malloc(n * sizeof *wf) : NULL;
    struct http_wkey *keys = n ? malloc(n * sizeof *keys) : NULL;
    if (n && (!wf || !keys)) {
        free(cum);
        free(wf);
        free(keys);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (n && h->win_digests) {
        window_sum(h->win_digests, http_now_us(), minutes, cum, n, wf);
    } else if (n) {
        memcpy(wf, cum, n * sizeof *wf);
    }
    free(cum);
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wf[i].v[WINDOW_COUNT]) {
            continue;
        }
        uint64_t key = sort == STATS_SORT_COUNT ? wf[i].v[WINDOW_COUNT]
                       : sort == STATS_SORT_P99 ? hist_quantile(&wf[i].hist, 0.99)
                                                : wf[i].v[WINDOW_TOTAL_US];
        keys[nk++] = (struct http_wkey){.key = key, .digest = wf[i].key, .idx = i};
    }
    if (nk) {
        qsort(keys, nk, sizeof *keys, http_wkey_cmp);
    }
    struct routes_snapshot rs = {0};
    if (h->src.routes) {
        routes_snapshot(h->src.routes, 0, &rs);
    }
    struct stats_digest *d = malloc(sizeof *d);
    struct http_json j;
    http_json_begin(&j);
    jsonw_array_begin(&j.w);
    for (size_t k = 0, shown = 0; d && k < nk && shown < limit; k++) {
        if (!stats_get(h->src.stats, keys[k].digest, d)) {
            continue; /* evicted meanwhile */
        }
        http_digest_window(d, &wf[keys[k].idx]);
        jsonw_object_begin(&j.w);
        http_digest_members(&j.w, h, d);
        jsonw_kstr(&j.w, "route", http_top_route(&rs, d->digest));
        jsonw_kstr(&j.w, "window", wname);
        jsonw_object_end(&j.w);
        stats_digest_free(d);
        shown++;
    }
    jsonw_array_end(&j.w);
    free(d);
    routes_snapshot_free(&rs);
    free(wf);
    free(keys);
    http_reply_json(req, 200, "OK", &j);
}

static void
http_api_digests(struct http *h, struct evhttp_request *req, const char *query)
{
    enum stats_sort sort = STATS_SORT_TOTAL;
    long limit = HTTP_DEFAULT_LIMIT;
    struct evkeyvalq q = {0}; /* an empty list (evhttp_parse_query_str initialises it too) */
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *sv = evhttp_find_header(&q, "sort");
    const char *lv = evhttp_find_header(&q, "limit");
    unsigned minutes;
    const char *wname;
    bool bad = !http_window_arg(evhttp_find_header(&q, "window"), &minutes, &wname);
    if (sv) {
        if (strcmp(sv, "total") == 0) {
            sort = STATS_SORT_TOTAL;
        } else if (strcmp(sv, "p99") == 0) {
            sort = STATS_SORT_P99;
        } else if (strcmp(sv, "count") == 0) {
            sort = STATS_SORT_COUNT;
        } else {
            bad = true;
        }
    }
    if (lv) {
        char *end;
        limit = strtol(lv, &end, 10);
        if (*lv == '\0' || *end != '\0' || limit < 1) {
            bad = true;
        }
        if (limit > HTTP_MAX_LIMIT) {
            limit = HTTP_MAX_LIMIT;
        }
    }
    if (bad) {
        evhttp_clear_headers(&q);
        http_reply_error(req, 400, "Bad Request",
                         "sort=total|p99|count, limit=N (N >= 1), window=5m|1h|all");
        return;
    }
    evhttp_clear_headers(&q);
    if (minutes > 0 || http_reset_at(h) > 0) {
        http_api_digests_window(h, req, sort, (size_t)limit, minutes, wname);
        return;
    }
    struct stats_snapshot snap = {0};
    if (h->src.stats && !stats_snapshot(h->src.stats, sort, (size_t)limit, &snap)) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    struct routes_snapshot rs = {0}; /* for each shape's route (empty when out of memory) */
    if (h->src.routes) {
        routes_snapshot(h->src.routes, 0, &rs);
    }
    struct http_json j;
    http_json_begin(&j);
    jsonw_array_begin(&j.w);
    for (size_t i = 0; i < snap.n; i++) {
        jsonw_object_begin(&j.w);
        http_digest_members(&j.w, h, &snap.d[i]);
        jsonw_kstr(&j.w, "route", http_top_route(&rs, snap.d[i].digest));
        jsonw_kstr(&j.w, "window", "all");
        jsonw_object_end(&j.w);
    }
    jsonw_array_end(&j.w);
    routes_snapshot_free(&rs);
    stats_snapshot_free(&snap);
    http_reply_json(req, 200, "OK", &j);
}

static void
http_api_digest(struct http *h, struct evhttp_request *req, const char *hex, const char *query)
{
    uint64_t digest = 0;
    bool ok = hexfmt_parse_u64(hex, &digest);
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    unsigned minutes;
    const char *wname;
    bool wok = http_window_arg(evhttp_find_header(&q, "window"), &minutes, &wname);
    if (!wok) {
        evhttp_clear_headers(&q);
        http_reply_error(req, 400, "Bad Request", "window=5m|1h|all");
        return;
    }
    struct stats_digest *d = malloc(sizeof *d);
    if (!d) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (!ok || !h->src.stats || !stats_get(h->src.stats, digest, d)) {
        free(d);
        evhttp_clear_headers(&q);
        http_reply_error(req, 404, "Not Found", "unknown digest");
        return;
    }
    if ((minutes > 0 || http_reset_at(h) > 0) && h->win_digests) {
        /* the shape's figures in the window: its own cumulative ones against the ring */
        struct window_fig *f = malloc(2 * sizeof *f);
        if (f) {
            f[0] = (struct window_fig){.key = d->digest, .hist = d->hist};
            f[0].v[WINDOW_COUNT] = d->count;
            f[0].v[WINDOW_ERRORS] = d->errors;
            f[0].v[WINDOW_NO_INDEX] = d->no_index;
            f[0].v[WINDOW_TOTAL_US] = d->total_us;
            f[0].v[WINDOW_QUEUE_US] = d->queue_us;
            f[0].v[WINDOW_ROWS_SENT] = d->rows_sent;
            f[0].v[WINDOW_ROWS_AFFECTED] = d->rows_affected;
            window_sum(h->win_digests, http_now_us(), minutes, &f[0], 1, &f[1]);
            http_digest_window(d, &f[1]);
            free(f);
        }
    }
    evhttp_clear_headers(&q);
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    http_digest_members(w, h, d);
    jsonw_kstr(w, "window", wname);
    jsonw_key(w, "histogram");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (!d->hist.b[i]) {
            continue;
        }
        uint64_t hi = hist_bucket_hi(i);
        if (hi > HTTP_HIST_NOMINAL_MAX) {
            hi = HTTP_HIST_NOMINAL_MAX; /* the last bucket also holds anything longer */
        }
        jsonw_object_begin(w);
        jsonw_kuint(w, "lo_us", hist_bucket_lo(i));
        jsonw_kuint(w, "hi_us", hi);
        jsonw_kuint(w, "count", d->hist.b[i]);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
    stats_digest_free(d);
    free(d);
    http_reply_json(req, 200, "OK", &j);
}

/* ---- dispatch --------------------------------------------------------------------------- */

/* ---- routes and findings (routes.h, findings.h) ---------------------------------------- */

/* A statement shape by digest: its fingerprint and example (redacted as /api/digests does),
 * and with `count` its execution count. Members only: the caller opens and closes the object. */
static void
http_shape_members(struct jsonw *w, const struct http *h, uint64_t digest, bool count)
{
    http_jhex(w, "digest", digest);
    struct stats_digest *d = malloc(sizeof *d);
    if (d && h->src.stats && stats_get(h->src.stats, digest, d)) {
        const char *example = d->example;
        char *red = NULL;
        if (filter_redacts(h->src.filter)) {
            size_t cap = sizeof d->example + 64;
            red = malloc(cap);
            if (red) {
                filter_redact(h->src.filter, d->example, strlen(d->example), red, cap);
                example = red;
            } else {
                example = d->fingerprint;
            }
        }
        jsonw_kstr(w, "name", d->name[0] ? d->name : d->fingerprint);
        jsonw_kstr(w, "fingerprint", d->fingerprint);
        jsonw_kstr(w, "example", example);
        if (count) {
            jsonw_kuint(w, "count", d->count);
        }
        free(red);
        stats_digest_free(d);
    } else {
        jsonw_knull(w, "name");
        jsonw_knull(w, "fingerprint");
        jsonw_knull(w, "example");
    }
    free(d);
}

/* A finding's parent or child: its shape, and "statement", the finding's own statement of that
 * shape (from a request that had it, redacted as examples are), null when none was kept. */
static void
http_finding_shape(struct jsonw *w, const struct http *h, uint64_t digest, const char *own)
{
    jsonw_object_begin(w);
    http_shape_members(w, h, digest, true);
    if (own[0]) {
        char buf[FINDINGS_EXAMPLE_MAX + 64];
        http_redacted_text(w, h, "statement", own, strlen(own), buf, sizeof buf);
    } else {
        jsonw_knull(w, "statement");
    }
    jsonw_object_end(w);
}

static int64_t
http_route_q(const struct routes_entry *e, double q)
{
    return (int64_t)hist_quantile(&e->hist, q);
}

static void
http_route_json(struct jsonw *w, const struct http *h, const struct routes_entry *e)
{
    jsonw_object_begin(w);
    jsonw_kstr(w, "route", e->route);
    jsonw_kuint(w, "count", e->count);
    jsonw_kuint(w, "errors", e->errors);
    jsonw_ksecs(w, "total", (int64_t)e->total_us);
    jsonw_kdouble(w, "avg", e->count ? (double)e->total_us / (double)e->count / 1e6 : 0.0);
    jsonw_ksecs(w, "p50", http_route_q(e, 0.50));
    jsonw_ksecs(w, "p95", http_route_q(e, 0.95));
    jsonw_ksecs(w, "p99", http_route_q(e, 0.99));
    jsonw_kuint(w, "requests", e->requests);
    if (e->requests) {
        jsonw_kdouble(w, "statements_per_request", (double)e->request_stmts / (double)e->requests);
    } else {
        jsonw_knull(w, "statements_per_request");
    }
    http_jtime(w, "last_seen", e->last_seen_us);
    jsonw_key(w, "top_shapes");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < e->ntop && i < 5; i++) {
        jsonw_object_begin(w);
        http_shape_members(w, h, e->top[i].digest, false); /* count: the route's, below */
        jsonw_kuint(w, "count", e->top[i].count);
        jsonw_ksecs(w, "total", (int64_t)e->top[i].total_us);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
}

static int
http_route_total_cmp(const void *a, const void *b)
{
    const struct routes_entry *x = a, *y = b;
    if (x->total_us != y->total_us) {
        return x->total_us < y->total_us ? 1 : -1;
    }
    return strcmp(x->route, y->route);
}

/* The routes' figures replaced by a window's; those that did not run in it dropped; sorted by
 * total time and cut to `limit`. */
static void
http_routes_window(struct http *h, struct routes_snapshot *rs, unsigned minutes, size_t limit)
{
    struct window_fig *cum = NULL;
    size_t n = http_route_figs(rs, &cum);
    struct window_fig *wf = n ? malloc(n * sizeof *wf) : NULL;
    if (!wf) {
        free(cum);
        rs->n = 0;
        return;
    }
    window_sum(h->win_routes, http_now_us(), minutes, cum, n, wf);
    size_t kept = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct routes_entry *e = &rs->r[i];
        uint64_t key = window_key(e->route);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (wf[mid].key < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo == n || wf[lo].key != key || !wf[lo].v[WINDOW_COUNT]) {
            continue;
        }
        e->count = wf[lo].v[WINDOW_COUNT];
        e->errors = wf[lo].v[WINDOW_ERRORS];
        e->total_us = wf[lo].v[WINDOW_TOTAL_US];
        e->requests = wf[lo].v[WINDOW_REQUESTS];
        e->request_stmts = wf[lo].v[WINDOW_REQUEST_STMTS];
        e->hist = wf[lo].hist;
        if (kept != i) {
            rs->r[kept] = *e;
        }
        kept++;
    }
    rs->n = kept;
    qsort(rs->r, rs->n, sizeof *rs->r, http_route_total_cmp);
    if (limit && rs->n > limit) {
        rs->n = limit;
    }
    free(cum);
    free(wf);
}

/* /api/routes?limit=N&window=W: the routes by total time. */
static void
http_api_routes(struct http *h, struct evhttp_request *req, const char *query)
{
    long limit = HTTP_DEFAULT_LIMIT;
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *lv = evhttp_find_header(&q, "limit");
    unsigned minutes;
    const char *wname;
    bool bad = !http_window_arg(evhttp_find_header(&q, "window"), &minutes, &wname);
    if (lv) {
        char *end;
        limit = strtol(lv, &end, 10);
        bad = bad || *lv == '\0' || *end != '\0' || limit < 1;
        if (limit > HTTP_MAX_LIMIT) {
            limit = HTTP_MAX_LIMIT;
        }
    }
    evhttp_clear_headers(&q);
    if (bad) {
        http_reply_error(req, 400, "Bad Request", "limit=N (N >= 1), window=5m|1h|all");
        return;
    }
    bool windowed = minutes > 0 || http_reset_at(h) > 0;
    struct routes_snapshot snap = {0};
    if (h->src.routes && !routes_snapshot(h->src.routes, windowed ? 0 : (size_t)limit, &snap)) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (windowed) {
        http_routes_window(h, &snap, minutes, (size_t)limit);
    }
    struct http_json j;
    http_json_begin(&j);
    jsonw_array_begin(&j.w);
    for (size_t i = 0; i < snap.n; i++) {
        http_route_json(&j.w, h, &snap.r[i]);
    }
    jsonw_array_end(&j.w);
    routes_snapshot_free(&snap);
    http_reply_json(req, 200, "OK", &j);
}

/* /api/findings: N+1 and duplicate findings by total time, with their shapes' examples. */
static void
http_api_findings(struct http *h, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    unsigned minutes;
    const char *wname;
    bool ok = http_window_arg(evhttp_find_header(&q, "window"), &minutes, &wname);
    evhttp_clear_headers(&q);
    if (!ok) {
        http_reply_error(req, 400, "Bad Request", "window=5m|1h|all");
        return;
    }
    /* a window shows the findings seen in it (their figures stay the totals) */
    int64_t since = minutes ? http_now_us() - (int64_t)minutes * 60000000 : http_reset_at(h);
    struct findings_entry *e = NULL;
    uint64_t found[2] = {0, 0};
    size_t n = h->src.findings
                   ? findings_table_snapshot(h->src.findings, HTTP_DEFAULT_LIMIT, &e, found)
                   : 0;
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        if (e[i].last_seen_us < since) {
            continue;
        }
        jsonw_object_begin(w);
        jsonw_kstr(w, "kind", e[i].kind == FINDINGS_N_PLUS_ONE ? "n_plus_one" : "duplicate");
        jsonw_key(w, "parent");
        if (e[i].parent) {
            http_finding_shape(w, h, e[i].parent, e[i].parent_example);
        } else {
            jsonw_null(w);
        }
        jsonw_key(w, "child");
        http_finding_shape(w, h, e[i].child, e[i].child_example);
        if (e[i].kind == FINDINGS_N_PLUS_ONE) {
            /* the fix in the words of the ORM that sent the child (its tags or its style):
             * its own statement's, else its shape's example */
            enum proto_orm orm = PROTO_ORM_UNKNOWN;
            if (e[i].child_example[0]) {
                orm = proto_orm_guess(e[i].child_example, strlen(e[i].child_example), 0);
            } else {
                struct stats_digest *cd = malloc(sizeof *cd);
                if (cd && h->src.stats && stats_get(h->src.stats, e[i].child, cd)) {
                    orm = proto_orm_guess(cd->example, strlen(cd->example), 0);
                    stats_digest_free(cd);
                }
                free(cd);
            }
            jsonw_kstr(w, "orm", proto_orm_name(orm));
            jsonw_kstr(w, "fix", proto_orm_fix(orm));
            jsonw_kstr(w, "generic_fix", proto_orm_fix(PROTO_ORM_UNKNOWN));
            jsonw_kstr(w, "example_route", e[i].example_route[0] ? e[i].example_route : NULL);
        }
        jsonw_kuint(w, "count", e[i].last_count);
        jsonw_kuint(w, "max_count", e[i].max_count);
        jsonw_kuint(w, "occurrences", e[i].occurrences);
        jsonw_kuint(w, "executions", e[i].executions);
        jsonw_ksecs(w, "total", (int64_t)e[i].total_us);
        jsonw_kstr(w, "route", e[i].route[0] ? e[i].route : NULL);
        http_jtime(w, "first_seen", e[i].first_seen_us);
        http_jtime(w, "last_seen", e[i].last_seen_us);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    free(e);
    http_reply_json(req, 200, "OK", &j);
}

/* ---- requests (requests.h) and EXPLAIN on demand --------------------------------------- */

/* A request statement's text, redacted as examples are; `buf` (cap bytes) holds the copy. */
static void
http_redacted_text(struct jsonw *w, const struct http *h, const char *k, const char *s, size_t n,
                   char *buf, size_t cap)
{
    if (filter_redacts(h->src.filter)) {
        size_t m = filter_redact(h->src.filter, s, n, buf, cap);
        jsonw_kstrn(w, k, buf, m < cap ? m : cap - 1);
    } else {
        jsonw_kstrn(w, k, s, n);
    }
}

static void
http_request_summary(struct jsonw *w, const struct requests_summary *r)
{
    jsonw_kuint(w, "id", r->id);
    jsonw_kstr(w, "route", r->route);
    jsonw_kstr(w, "trace_id", r->trace_id[0] ? r->trace_id : NULL);
    http_jtime(w, "start", r->start_wall_us);
    jsonw_ksecs(w, "duration", (int64_t)r->duration_us);
    jsonw_ksecs(w, "db_time", (int64_t)r->db_us);
    jsonw_kuint(w, "statement_count", r->nstmts);
    jsonw_kuint(w, "statements_kept", r->nkept);
    jsonw_kuint(w, "statements_cut", r->nstmts - r->nkept);
    jsonw_kuint(w, "n_plus_one", r->n_plus_one);
    jsonw_kuint(w, "duplicates", r->duplicates);
    jsonw_kbool(w, "slowest", r->slowest);
    jsonw_kbool(w, "latest", r->latest);
}

/* /api/requests[?route=R]: per route (the one with the slowest request first), its kept
 * requests, the slowest first. */
static void
http_api_requests(struct http *h, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *route = evhttp_find_header(&q, "route");
    const char *lv = evhttp_find_header(&q, "limit");
    long limit = HTTP_DEFAULT_LIMIT;
    if (lv) {
        char *end;
        limit = strtol(lv, &end, 10);
        if (*lv == '\0' || *end != '\0' || limit < 1) {
            evhttp_clear_headers(&q);
            http_reply_error(req, 400, "Bad Request", "limit=N (N >= 1 routes)");
            return;
        }
    }
    struct requests_listing l = {0};
    if (h->src.requests && !requests_list(h->src.requests, route, &l)) {
        evhttp_clear_headers(&q);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evhttp_clear_headers(&q);
    size_t nroutes = l.n < (size_t)limit ? l.n : (size_t)limit;
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    jsonw_kuint(w, "keep", l.keep);
    jsonw_kuint(w, "recorded", l.recorded);
    jsonw_kuint(w, "evicted", l.evicted);
    jsonw_kuint(w, "dropped", l.dropped);
    jsonw_key(w, "routes");
    jsonw_array_begin(w);
    for (size_t i = 0; i < nroutes; i++) {
        jsonw_object_begin(w);
        jsonw_kstr(w, "route", l.routes[i].route);
        jsonw_key(w, "requests");
        jsonw_array_begin(w);
        for (size_t k = 0; k < l.routes[i].n; k++) {
            jsonw_object_begin(w);
            http_request_summary(w, &l.routes[i].r[k]);
            jsonw_object_end(w);
        }
        jsonw_array_end(w);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
    requests_listing_free(&l);
    http_reply_json(req, 200, "OK", &j);
}

static int
http_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A shape as a request's statements refer to it: name, fingerprint, plan, advice, flags. */
static void
http_request_shape(struct jsonw *w, const struct http *h, uint64_t digest)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)digest);
    jsonw_key(w, hex);
    struct stats_digest *d = malloc(sizeof *d);
    if (!d || !h->src.stats || !stats_get(h->src.stats, digest, d)) {
        free(d);
        jsonw_null(w);
        return;
    }
    jsonw_object_begin(w);
    jsonw_kstr(w, "name", d->name[0] ? d->name : d->fingerprint);
    jsonw_kstr(w, "fingerprint", d->fingerprint);
    jsonw_kuint(w, "count", d->count);
    jsonw_ksecs(w, "total", (int64_t)d->total_us);
    jsonw_kbool(w, "full_scan", http_full_scan(d));
    jsonw_key(w, "plan");
    http_plan_json(w, d->plan);
    jsonw_kstr(w, "index_advice", d->index_advice);
    if (d->plan) {
        jsonw_knull(w, "no_plan_reason");
    } else if (!h->src.explain) {
        jsonw_kstr(w, "no_plan_reason",
                   "auto-EXPLAIN is off: start slowtap with --explain-user USER to capture plans");
    } else {
        jsonw_kstr(w, "no_plan_reason", "not explained yet: press EXPLAIN");
    }
    jsonw_object_end(w);
    stats_digest_free(d);
    free(d);
}

/* /api/requests/<id>: one request with its statements in order, its N+1 and duplicate groups
 * and its shapes' plans and advice. */
static void
http_api_request(struct http *h, struct evhttp_request *req, const char *idstr)
{
    char *end;
    unsigned long long id = strtoull(idstr, &end, 10);
    struct requests_req *r = NULL;
    if (*idstr && !*end && h->src.requests) {
        r = requests_get(h->src.requests, id);
    }
    if (!r) {
        http_reply_error(req, 404, "Not Found",
                         "unknown request (only the slowest and latest "
                         "--requests-keep per route are kept)");
        return;
    }
    char *buf = malloc(REQUESTS_TEXT_MAX * 2 + 64);
    uint64_t *dg = malloc(((size_t)r->nkept + 1) * sizeof *dg);
    if (!buf || !dg) {
        free(buf);
        free(dg);
        requests_req_free(r);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    struct requests_summary sm = {.id = r->id,
                                  .start_wall_us = r->start_wall_us,
                                  .duration_us = requests_duration_us(r),
                                  .db_us = r->db_us,
                                  .nstmts = r->nstmts,
                                  .nkept = r->nkept};
    snprintf(sm.route, sizeof sm.route, "%s", r->route[0] ? r->route : REQUESTS_NO_ROUTE);
    snprintf(sm.trace_id, sizeof sm.trace_id, "%s", r->trace_id);
    for (uint32_t g = 0; g < r->ngroups; g++) {
        if (r->groups[g].kind == REQUESTS_N_PLUS_ONE) {
            sm.n_plus_one++;
        } else {
            sm.duplicates++;
        }
    }
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    http_request_summary(w, &sm);
    jsonw_kstr(w, "schema", r->schema);
    jsonw_key(w, "statements");
    jsonw_array_begin(w);
    for (uint32_t i = 0; i < r->nkept; i++) {
        const struct requests_stmt *s = &r->stmts[i];
        jsonw_object_begin(w);
        jsonw_kuint(w, "index", i);
        jsonw_ksecs(w, "offset", s->offset_us);
        jsonw_ksecs(w, "time", (int64_t)s->query_us);
        jsonw_kuint(w, "rows", s->rows_sent);
        jsonw_kuint(w, "rows_affected", s->rows_affected);
        jsonw_kbool(w, "error", s->error);
        http_jhex(w, "digest", s->digest);
        http_redacted_text(w, h, "text", r->text + s->text_off, s->text_len, buf,
                           REQUESTS_TEXT_MAX * 2 + 64);
        jsonw_kbool(w, "text_cut", s->text_cut);
        jsonw_kbool(w, "prepared", s->prepared);
        jsonw_object_end(w);
        dg[i] = s->digest;
    }
    jsonw_array_end(w);
    jsonw_key(w, "groups");
    jsonw_array_begin(w);
    for (uint32_t g = 0; g < r->ngroups; g++) {
        const struct requests_group *gr = &r->groups[g];
        const struct requests_stmt *c = &r->stmts[gr->first_idx];
        jsonw_object_begin(w);
        jsonw_kstr(w, "kind", gr->kind == REQUESTS_N_PLUS_ONE ? "n_plus_one" : "duplicate");
        if (gr->kind == REQUESTS_N_PLUS_ONE) {
            http_jhex(w, "parent", gr->parent);
        } else {
            jsonw_knull(w, "parent");
        }
        http_jhex(w, "child", gr->child);
        jsonw_kuint(w, "parent_index", gr->parent_idx);
        jsonw_kuint(w, "first_index", gr->first_idx);
        jsonw_kuint(w, "count", gr->count);
        jsonw_ksecs(w, "total", (int64_t)gr->total_us);
        if (gr->kind == REQUESTS_N_PLUS_ONE) {
            enum proto_orm orm = proto_orm_guess(r->text + c->text_off, c->text_len, 0);
            jsonw_kstr(w, "orm", proto_orm_name(orm));
            jsonw_kstr(w, "fix", proto_orm_fix(orm));
            jsonw_kstr(w, "generic_fix", proto_orm_fix(PROTO_ORM_UNKNOWN));
        }
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_kuint(w, "groups_cut", r->groups_cut);
    /* each distinct shape once */
    if (r->nkept) {
        qsort(dg, r->nkept, sizeof *dg, http_u64_cmp);
    }
    jsonw_key(w, "shapes");
    jsonw_object_begin(w);
    for (uint32_t i = 0; i < r->nkept; i++) {
        if (i && dg[i] == dg[i - 1]) {
            continue;
        }
        http_request_shape(w, h, dg[i]);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
    free(buf);
    free(dg);
    requests_req_free(r);
    http_reply_json(req, 200, "OK", &j);
}

/* Room for one more EXPLAIN asked for over HTTP: at most --explain-rate a second (at least
 * one; --explain-rate 0: 10), as a token bucket with a second's burst. HTTP thread only. */
static bool
http_explain_allowed(struct http *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    double rate = h->explain_rate > 0 ? (double)h->explain_rate : 10.0;
    h->explain_tokens += (now - h->explain_last) * rate;
    if (h->explain_tokens > rate) {
        h->explain_tokens = rate;
    }
    h->explain_last = now;
    if (h->explain_tokens < 1.0) {
        return false;
    }
    h->explain_tokens -= 1.0;
    return true;
}

/*
 * POST /api/explain?digest=HEX or ?request=ID&statement=N (header X-Requested-With: slowtap,
 * which a cross-site form cannot send): EXPLAIN on the side connection, as auto-EXPLAIN runs
 * it (read-only: EXPLAIN of a data statement; the explain thread's --explain-rate and
 * --explain-interval apply), of the shape's example or the request's statement. The plan and
 * advice land on the shape: 202 with the digest to poll (/api/digests/<digest>), and the plan
 * the shape has now (null when none). 409 when auto-EXPLAIN is off, 422 when the statement
 * cannot be explained as it is, 429 over the rate.
 */
static void
http_api_explain(struct http *h, struct evhttp_request *req, const char *query)
{
    const char *xrw = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Requested-With");
    if (!xrw || strcmp(xrw, "slowtap") != 0) {
        http_reply_error(req, 403, "Forbidden", "send header X-Requested-With: slowtap");
        return;
    }
    if (!h->src.explain || !h->src.stats) {
        http_reply_error(req, 409, "Conflict",
                         "auto-EXPLAIN is off: start slowtap with --explain-user USER");
        return;
    }
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *dv = evhttp_find_header(&q, "digest");
    const char *rv = evhttp_find_header(&q, "request");
    const char *sv = evhttp_find_header(&q, "statement");
    struct stats_explainable *x = calloc(1, sizeof *x);
    const char *why = NULL;
    int code = 422;
    if (!x) {
        why = "out of memory";
        code = 500;
    } else if (dv) {
        uint64_t digest = 0;
        if (!hexfmt_parse_u64(dv, &digest)) {
            why = "digest=HEX";
            code = 400;
        } else if (!stats_get_explainable(h->src.stats, digest, x)) {
            why = "no explainable example of this shape (unknown, not a text data statement, "
                  "or cut)";
        }
    } else if (rv && sv && h->src.requests) {
        char *e1, *e2;
        unsigned long long id = strtoull(rv, &e1, 10);
        unsigned long n = strtoul(sv, &e2, 10);
        struct requests_req *r =
            *rv && !*e1 && *sv && !*e2 ? requests_get(h->src.requests, id) : NULL;
        if (!r) {
            why = "unknown request";
            code = 404;
        } else if (n >= r->nkept) {
            why = "no such statement in the request";
            code = 404;
        } else {
            const struct requests_stmt *s = &r->stmts[n];
            if (!s->explainable || s->text_cut) {
                /* its shape's example, when that can be explained */
                if (!stats_get_explainable(h->src.stats, s->digest, x)) {
                    why = "this statement cannot be explained as it is (not a text data "
                          "statement, or cut)";
                }
            } else {
                struct stats_explainable ex = {0};
                bool known = stats_get_explainable(h->src.stats, s->digest, &ex);
                x->digest = s->digest;
                x->query_us = s->query_us;
                snprintf(x->fingerprint, sizeof x->fingerprint, "%s", known ? ex.fingerprint : "");
                snprintf(x->example, sizeof x->example, "%.*s", (int)s->text_len,
                         r->text + s->text_off);
                snprintf(x->schema, sizeof x->schema, "%s", r->schema);
            }
        }
        requests_req_free(r);
    } else {
        why = "digest=HEX, or request=ID&statement=N";
        code = 400;
    }
    evhttp_clear_headers(&q);
    if (why) {
        free(x);
        http_reply_error(req, code,
                         code == 400   ? "Bad Request"
                         : code == 404 ? "Not Found"
                         : code == 500 ? "Internal Server Error"
                                       : "Unprocessable Entity",
                         why);
        return;
    }
    if (!http_explain_allowed(h)) {
        free(x);
        http_reply_error(req, 429, "Too Many Requests", "over --explain-rate: try again");
        return;
    }
    x->fresh = true; /* a person asked: not the plan cached before, say, a new index */
    bool taken = autoplan_explain(h->src.explain, x);
    struct stats_digest *d = malloc(sizeof *d);
    bool have = d && stats_get(h->src.stats, x->digest, d);
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    jsonw_kbool(w, "submitted", taken);
    http_jhex(w, "digest", x->digest);
    char poll[64];
    snprintf(poll, sizeof poll, "/api/digests/%016llx", (unsigned long long)x->digest);
    jsonw_kstr(w, "poll", poll);
    jsonw_key(w, "plan");
    http_plan_json(w, have ? d->plan : NULL);
    jsonw_kstr(w, "index_advice", have ? d->index_advice : NULL);
    jsonw_object_end(w);
    if (have) {
        stats_digest_free(d);
    }
    free(d);
    free(x);
    http_reply_json(req, taken ? 202 : 503, taken ? "Accepted" : "Service Unavailable", &j);
}

/* Route and finding series for /metrics: the top --metrics-top routes only (a route label,
 * never a trace id). */
static void
http_routes_metrics(struct http *h, struct evbuffer *b)
{
    struct findings_entry *fe = NULL;
    uint64_t found[2] = {0, 0};
    if (h->src.findings) {
        findings_table_snapshot(h->src.findings, 1, &fe, found);
        free(fe);
    }
    http_family(b, "slowtap_findings_total", "counter",
                "Units of work with an N+1 run or a duplicated statement.");
    evbuffer_add_printf(b, "slowtap_findings_total{kind=\"n_plus_one\"} %llu\n",
                        (unsigned long long)found[FINDINGS_N_PLUS_ONE]);
    evbuffer_add_printf(b, "slowtap_findings_total{kind=\"duplicate\"} %llu\n",
                        (unsigned long long)found[FINDINGS_DUPLICATE]);
    struct routes_snapshot snap = {0};
    if (h->src.routes) {
        http_metric_u(b, "slowtap_routes_evicted_total", "counter",
                      "Routes evicted from the statistics table (--max-routes).",
                      routes_evicted(h->src.routes));
        if (h->metrics_top > 0) {
            routes_snapshot(h->src.routes, (size_t)h->metrics_top, &snap);
        }
    }
    static const char *const fam[][3] = {
        {"slowtap_route_calls_total", "counter", "Statements tagged with the route."},
        {"slowtap_route_seconds_total", "counter", "Total time of the route's statements."},
        {"slowtap_route_errors_total", "counter", "The route's statements that failed."},
        {"slowtap_route_requests_total", "counter", "Units of work (requests) of the route."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        http_family(b, fam[f][0], fam[f][1], fam[f][2]);
        for (size_t i = 0; i < snap.n; i++) {
            const struct routes_entry *e = &snap.r[i];
            evbuffer_add_printf(b, "%s{route=\"", fam[f][0]);
            http_label_value(b, e->route, HTTP_FP_LABEL_MAX);
            if (f == 1) {
                evbuffer_add_printf(b, "\"} %.6f\n", (double)e->total_us / 1e6);
            } else {
                uint64_t v = f == 0 ? e->count : f == 2 ? e->errors : e->requests;
                evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)v);
            }
        }
    }
    routes_snapshot_free(&snap);
}

/* ---- time series for the dashboard (history.h) ------------------------------------------ */

#define HTTP_SERIES_EVERY_S 2    /* seconds between points */
#define HTTP_SERIES_POINTS  1800 /* an hour of them */
#define HTTP_SERIES_TOP     10   /* routes and shapes followed (the costliest) */

static struct state_parts
http_state_parts(struct http *h)
{
    return (struct state_parts){
        .stats = h->src.stats,
        .routes = h->src.routes,
        .findings = h->src.findings,
        .ddl = h->src.ddl,
        .series = h->series,
        .series_keys = 1 + 2 * HTTP_SERIES_TOP,
        .win_digests = h->win_digests,
        .win_routes = h->win_routes,
    };
}

/* Writes the state file (HTTP thread, or the main thread once the HTTP thread has ended). */
static void
http_state_save(struct http *h)
{
    if (!h->state_dir) {
        return;
    }
    struct state_parts p = http_state_parts(h);
    char err[512];
    if (state_save(h->state_dir, &p, err, sizeof err)) {
        h->state_failing = false;
    } else if (!h->state_failing) {
        h->state_failing = true;
        fprintf(stderr, "slowtap: --state-dir: cannot save the state: %s (trying every minute)\n",
                err);
    }
}

/* Feeds the history: the whole proxy, the top routes, the top shapes (HTTP thread timer). */
static void
http_series_tick(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    (void)fd;
    (void)what;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    struct http_totals t;
    http_sum_counters(h, &t);
    history_feed(h->series, HISTORY_ALL, "", now, t.statements, t.query_us, &t.latency);
    struct routes_snapshot rs = {0};
    if (h->src.routes && routes_snapshot(h->src.routes, HTTP_SERIES_TOP, &rs)) {
        for (size_t i = 0; i < rs.n; i++) {
            history_feed(h->series, HISTORY_ROUTE, rs.r[i].route, now, rs.r[i].count,
                         rs.r[i].total_us, &rs.r[i].hist);
        }
        routes_snapshot_free(&rs);
    }
    struct stats_snapshot ss = {0};
    if (h->src.stats && stats_snapshot(h->src.stats, STATS_SORT_TOTAL, HTTP_SERIES_TOP, &ss)) {
        for (size_t i = 0; i < ss.n; i++) {
            char hex[HEXFMT_U64_LEN + 1];
            hexfmt_u64(ss.d[i].digest, hex);
            history_feed(h->series, HISTORY_DIGEST, hex, now, ss.d[i].count, ss.d[i].total_us,
                         &ss.d[i].hist);
        }
        stats_snapshot_free(&ss);
    }
    if (now / 60000000 != h->win_minute) {
        http_window_feed(h, now, false);
        http_state_save(h);
    }
}

/* Whether a DDL marker's tables are named by a shape's statement text. */
static bool
http_marker_touches(const struct ddl_marker *m, const char *text)
{
    char names[PROTO_DDL_TABLES][PROTO_TMPTAB_NAME_MAX + 1];
    for (unsigned i = 0; i < m->n; i++) {
        memcpy(names[i], m->t[i].table, sizeof names[i]);
    }
    return m->n && proto_tmptab_named(text, strlen(text), 0,
                                      (const char(*)[PROTO_TMPTAB_NAME_MAX + 1]) names, m->n) != 0;
}

static void
http_marker_json(struct jsonw *w, const struct ddl_marker *m)
{
    jsonw_object_begin(w);
    jsonw_kint(w, "time", m->wall_us / 1000);
    http_jtime(w, "at", m->wall_us);
    jsonw_kstr(w, "kind", m->kind == PROTO_DDL_NONE ? "reset" : proto_ddl_kind_name(m->kind));
    jsonw_kbool(w, "add_index", m->add_index);
    jsonw_key(w, "tables");
    jsonw_array_begin(w);
    for (unsigned i = 0; i < m->n; i++) {
        char t[2 * PROTO_DDL_NAME_MAX + 2];
        snprintf(t, sizeof t, "%s%s%s", m->t[i].schema, m->t[i].schema[0] ? "." : "",
                 m->t[i].table);
        jsonw_string(w, t);
    }
    jsonw_array_end(w);
    jsonw_kstr(w, "text", m->text);
    jsonw_object_end(w);
}

/* /api/ddl: the DDL and reset markers, oldest first. */
static void
http_api_ddl(struct http *h, struct evhttp_request *req)
{
    struct ddl_marker *m = malloc(DDL_LOG_MAX * sizeof *m);
    size_t n = m ? ddl_log_get(h->src.ddl, m, DDL_LOG_MAX) : 0;
    struct http_json j;
    http_json_begin(&j);
    jsonw_array_begin(&j.w);
    for (size_t i = 0; i < n; i++) {
        http_marker_json(&j.w, &m[i]);
    }
    jsonw_array_end(&j.w);
    free(m);
    http_reply_json(req, 200, "OK", &j);
}

/* The markers of a series: every one for the whole proxy; for a shape, the resets and the DDL
 * on the tables its statement names; for a route, those of its costliest shapes. */
static void
http_series_markers(struct jsonw *w, struct http *h, enum history_kind kind, const char *key)
{
    struct ddl_marker *m = malloc(DDL_LOG_MAX * sizeof *m);
    size_t n = m ? ddl_log_get(h->src.ddl, m, DDL_LOG_MAX) : 0;
    /* the statement texts that decide */
    size_t nt = 0;
    char **texts = calloc(ROUTES_TOP_SHAPES + 1, sizeof *texts);
    uint64_t digests[ROUTES_TOP_SHAPES + 1];
    size_t nd = 0;
    if (kind == HISTORY_DIGEST && hexfmt_parse_u64(key, &digests[0])) {
        nd = 1;
    } else if (kind == HISTORY_ROUTE && h->src.routes) {
        struct routes_snapshot rs = {0};
        if (routes_snapshot(h->src.routes, 0, &rs)) {
            for (size_t i = 0; i < rs.n; i++) {
                if (strcmp(rs.r[i].route, key) != 0) {
                    continue;
                }
                for (unsigned k = 0; k < rs.r[i].ntop && nd < ROUTES_TOP_SHAPES; k++) {
                    digests[nd++] = rs.r[i].top[k].digest;
                }
            }
            routes_snapshot_free(&rs);
        }
    }
    struct stats_digest *d = malloc(sizeof *d);
    for (size_t i = 0; texts && d && i < nd; i++) {
        if (h->src.stats && stats_get(h->src.stats, digests[i], d)) {
            texts[nt++] = strdup(d->fingerprint);
            stats_digest_free(d);
        }
    }
    free(d);
    jsonw_key(w, "markers");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        bool show = kind == HISTORY_ALL || m[i].kind == PROTO_DDL_NONE;
        for (size_t k = 0; !show && k < nt; k++) {
            show = texts[k] && http_marker_touches(&m[i], texts[k]);
        }
        if (show) {
            http_marker_json(w, &m[i]);
        }
    }
    jsonw_array_end(w);
    for (size_t k = 0; k < nt; k++) {
        free(texts[k]);
    }
    free(texts);
    free(m);
}

/* /api/series[?route=R|?digest=HEX]: points [time ms, statements/s, p99 s, DB time s/s]. */
static void
http_api_series(struct http *h, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *route = evhttp_find_header(&q, "route");
    const char *digest = evhttp_find_header(&q, "digest");
    enum history_kind kind = route ? HISTORY_ROUTE : digest ? HISTORY_DIGEST : HISTORY_ALL;
    const char *key = route ? route : digest ? digest : "";
    struct history_point *p = malloc(HTTP_SERIES_POINTS * sizeof *p);
    size_t n = p && h->series ? history_get(h->series, kind, key, p, HTTP_SERIES_POINTS) : 0;
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    jsonw_kint(w, "interval", HTTP_SERIES_EVERY_S);
    jsonw_kstr(w, "kind",
               kind == HISTORY_ROUTE    ? "route"
               : kind == HISTORY_DIGEST ? "digest"
                                        : "all");
    jsonw_kstr(w, "key", key);
    jsonw_key(w, "points");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_array_begin(w);
        jsonw_int(w, p[i].wall_us / 1000);
        jsonw_double(w, p[i].per_s);
        jsonw_double(w, p[i].p99_s);
        jsonw_double(w, p[i].db_per_s);
        jsonw_array_end(w);
    }
    jsonw_array_end(w);
    http_series_markers(w, h, kind, key);
    jsonw_object_end(w);
    evhttp_clear_headers(&q);
    free(p);
    http_reply_json(req, 200, "OK", &j);
}

/* A POST that a browser sent from a page of this server, or no browser at all: no Origin, or
 * an Origin whose host[:port] is the request's Host (a cross-site form cannot reset). */
static bool
http_same_origin(struct evhttp_request *req)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *origin = evhttp_find_header(in, "Origin");
    if (!origin) {
        return true;
    }
    const char *host = evhttp_find_header(in, "Host");
    const char *p = strstr(origin, "://");
    return host && p && strcasecmp(p + 3, host) == 0;
}

/* The capture's state as JSON (GET /api/capture, and the answer to a POST). */
static void
http_capture_reply(struct http *h, struct evhttp_request *req, int code, const char *reason)
{
    struct capture_status st;
    capture_status(h->src.capture, &st);
    struct http_json j;
    http_json_begin(&j);
    struct jsonw *w = &j.w;
    jsonw_object_begin(w);
    jsonw_kbool(w, "running", st.running);
    jsonw_kstr(w, "file", st.path);
    jsonw_kint(w, "started_us", st.started_us);
    jsonw_kint(w, "max_bytes", (int64_t)st.max_bytes);
    jsonw_kint(w, "seconds", (int64_t)st.seconds);
    jsonw_kint(w, "records", (int64_t)st.records);
    jsonw_kint(w, "bytes", (int64_t)st.bytes);
    jsonw_kint(w, "dropped", (int64_t)st.dropped);
    jsonw_kstr(w, "stopped", st.stopped_why);
    jsonw_object_end(w);
    http_reply_json(req, code, reason, &j);
}

/* A non-negative integer argument; false when malformed. */
static bool
http_capture_u64(const char *s, uint64_t *v)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        return false;
    }
    *v = x;
    return true;
}

/*
 * GET /api/capture: the capture's state. POST /api/capture starts one: file, seconds,
 * max_bytes from the query string or a JSON object body ({"file": ..., "seconds": N,
 * "max_bytes": N}; the body wins); {"stop": true} (or ?stop=1) stops the running one. A POST
 * must say Content-Type: application/json (a browser form cannot, so no other site can start
 * a capture with the user's credentials). 409 when one runs already.
 */
static void
http_api_capture(struct http *h, struct evhttp_request *req, const char *query)
{
    if (!h->src.capture) {
        http_reply_error(req, 404, "Not Found", "no capture in this process");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        http_capture_reply(h, req, 200, "OK");
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        http_reply_error(req, 415, "Unsupported Media Type",
                         "POST /api/capture needs Content-Type: application/json");
        return;
    }
    struct evkeyvalq q = {0};
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        http_reply_error(req, 400, "Bad Request", "malformed query string");
        return;
    }
    char file[CAPTURE_PATH_MAX] = "";
    uint64_t seconds = h->src.capture_seconds, max_bytes = h->src.capture_max_bytes;
    bool stop = false, bad = false;
    const char *v;
    if ((v = evhttp_find_header(&q, "file"))) {
        snprintf(file, sizeof file, "%s", v);
    }
    if ((v = evhttp_find_header(&q, "seconds")) && !http_capture_u64(v, &seconds)) {
        bad = true;
    }
    if ((v = evhttp_find_header(&q, "max_bytes")) && !http_capture_u64(v, &max_bytes)) {
        bad = true;
    }
    if ((v = evhttp_find_header(&q, "stop"))) {
        stop = strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
    }
    evhttp_clear_headers(&q);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = in ? evbuffer_get_length(in) : 0;
    if (blen > 4096) {
        http_reply_error(req, 413, "Payload Too Large", "the body is over 4096 bytes");
        return;
    }
    if (blen > 0) {
        char body[4097];
        evbuffer_copyout(in, body, blen);
        body[blen] = '\0';
        json_error_t je;
        json_t *o = json_loads(body, 0, &je);
        if (!o || !json_is_object(o)) {
            bad = true;
        } else {
            json_t *x;
            if ((x = json_object_get(o, "file"))) {
                if (json_is_string(x)) {
                    snprintf(file, sizeof file, "%s", json_string_value(x));
                } else {
                    bad = true;
                }
            }
            if ((x = json_object_get(o, "seconds"))) {
                if (json_is_integer(x) && json_integer_value(x) >= 0) {
                    seconds = (uint64_t)json_integer_value(x);
                } else {
                    bad = true;
                }
            }
            if ((x = json_object_get(o, "max_bytes"))) {
                if (json_is_integer(x) && json_integer_value(x) >= 0) {
                    max_bytes = (uint64_t)json_integer_value(x);
                } else {
                    bad = true;
                }
            }
            if ((x = json_object_get(o, "stop"))) {
                stop = json_is_true(x);
            }
        }
        json_decref(o);
    }
    if (bad) {
        http_reply_error(req, 400, "Bad Request",
                         "file (string), seconds and max_bytes (non-negative integers) expected");
        return;
    }
    if (stop) {
        capture_stop(h->src.capture, "stopped by POST /api/capture");
        http_capture_reply(h, req, 200, "OK");
        return;
    }
    char err[CAPTURE_PATH_MAX + 100];
    bool busy = false;
    if (capture_start(h->src.capture, file, max_bytes, seconds, &busy, err, sizeof err) != 0) {
        http_reply_error(req, busy ? 409 : 400, busy ? "Conflict" : "Bad Request", err);
        return;
    }
    http_capture_reply(h, req, 200, "OK");
}

static void
http_dispatch(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    struct http_conn *hc = http_conn_of(h, req);
    if (hc) {
        /* the request is in: no header deadline while it is answered (see http_conn_replied) */
        hc->answering = true;
        event_del(hc->deadline);
        evhttp_request_set_on_complete_cb(req, http_conn_replied, hc);
    }
    int code;
    if (!http_request_host_ok(h, req, &code)) {
        h->host_refused++;
        if (code == 400) {
            http_reply_error(req, 400, "Bad Request", "HTTP/1.1 request without Host");
        } else {
            http_reply_error(req, 403, "Forbidden",
                             "Host not allowed (give --http-allow-host NAME to allow it)");
        }
        return;
    }
    if (!http_authorized(h, req)) {
        /* Basic first, so that a browser asks for a user and password (with a token file:
         * any user name, the token as the password) */
        struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
        evhttp_add_header(oh, "WWW-Authenticate", "Basic realm=\"slowtap\", charset=\"UTF-8\"");
        if (!h->auth_basic) {
            evhttp_add_header(oh, "WWW-Authenticate", "Bearer realm=\"slowtap\"");
        }
        http_reply_error(req, 401, "Unauthorized", "authorization required");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!path || !*path) {
        path = "/";
    }
    /* POST is for /api/reset, /api/explain and /api/capture (which also answers GET); the rest
     * is GET. */
    bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    bool is_reset = strcmp(path, "/api/reset") == 0;
    bool is_capture = strcmp(path, "/api/capture") == 0;
    bool is_explain = strcmp(path, "/api/explain") == 0;
    if ((post && !is_reset && !is_capture && !is_explain) || (!post && (is_reset || is_explain))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          is_reset || is_explain ? "POST" : "GET, HEAD");
        http_reply_error(req, 405, "Method Not Allowed",
                         is_reset ? "/api/reset takes POST"
                         : is_explain
                             ? "/api/explain takes POST"
                             : "POST is for /api/reset, /api/capture and /api/explain only");
        return;
    }
    if (post && !http_same_origin(req)) {
        http_reply_error(req, 403, "Forbidden", "cross-origin POST refused");
        return;
    }
    if (is_explain) {
        http_api_explain(h, req, query);
        return;
    }
    if (is_reset) {
        http_reset(h);
        struct http_json j;
        http_json_begin(&j);
        jsonw_object_begin(&j.w);
        http_jtime(&j.w, "reset_at", http_reset_at(h));
        jsonw_object_end(&j.w);
        http_reply_json(req, 200, "OK", &j);
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, "out of memory");
            return;
        }
        evbuffer_add_reference(b, dashboard_html, dashboard_html_len, NULL, NULL);
        http_reply(req, 200, "OK", "text/html; charset=utf-8", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/metrics") == 0) {
        http_metrics(h, req);
    } else if (strcmp(path, "/api/summary") == 0) {
        http_api_summary(h, req);
    } else if (strcmp(path, "/api/digests") == 0 || strcmp(path, "/api/digests/") == 0) {
        http_api_digests(h, req, query);
    } else if (strncmp(path, "/api/digests/", 13) == 0) {
        http_api_digest(h, req, path + 13, query);
    } else if (strcmp(path, "/api/routes") == 0) {
        http_api_routes(h, req, query);
    } else if (strcmp(path, "/api/findings") == 0) {
        http_api_findings(h, req, query);
    } else if (strcmp(path, "/api/ddl") == 0) {
        http_api_ddl(h, req);
    } else if (strcmp(path, "/api/requests") == 0 || strcmp(path, "/api/requests/") == 0) {
        http_api_requests(h, req, query);
    } else if (strncmp(path, "/api/requests/", 14) == 0) {
        http_api_request(h, req, path + 14);
    } else if (strcmp(path, "/api/series") == 0) {
        http_api_series(h, req, query);
    } else if (strcmp(path, "/api/capture") == 0) {
        http_api_capture(h, req, query);
    } else if (strcmp(path, "/dygraph.min.js") == 0) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, "out of memory");
            return;
        }
        evbuffer_add_reference(b, dygraph_js, dygraph_js_len, NULL, NULL);
        http_reply(req, 200, "OK", "text/javascript; charset=utf-8", b);
        evbuffer_free(b);
    } else {
        http_reply_error(req, 404, "Not Found", "no such endpoint");
    }
}

static void *
http_thread(void *arg)
{
    struct http *h = arg;
    event_base_loop(h->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void
http_free(struct http *h)
{
    if (h->series_ev) {
        event_free(h->series_ev);
    }
    if (h->reset_ev) {
        event_free(h->reset_ev);
    }
    window_free(h->win_digests);
    window_free(h->win_routes);
    free(h->state_dir);
    history_free(h->series);
    if (h->eh) {
        evhttp_free(h->eh); /* closes every connection: http_conn_gone frees the bound ones */
    }
    while (h->conn_head) { /* accepted in the loop's last turn, never bound */
        struct http_conn *hc = h->conn_head;
        h->conn_head = hc->next;
        event_free(hc->deadline);
        free(hc);
    }
    if (h->base) {
        event_base_free(h->base);
    }
    if (h->auth_expect) {
        OPENSSL_cleanse(h->auth_expect, strlen(h->auth_expect));
        free(h->auth_expect);
    }
    if (h->auth_token) {
        OPENSSL_cleanse(h->auth_token, strlen(h->auth_token));
        free(h->auth_token);
    }
    for (int i = 0; i < h->n_allow_names; i++) {
        free(h->allow_names[i]);
    }
    free(h->allow_names);
    if (h->ssl_ctx) {
        SSL_CTX_free(h->ssl_ctx);
    }
    pthread_mutex_destroy(&h->ssl_lock);
    free(h);
}

struct http *
http_start(const struct conf *c, const struct http_sources *src)
{
    static struct net_addr addr; /* big; http_start runs once, on the main thread */
    char err[300];
    if (!c->http || !net_addr_resolve(c->http, &addr, err, sizeof err)) {
        fprintf(stderr, "slowtap: --http %s: %s\n", c->http ? c->http : "(null)",
                c->http ? err : "no address");
        return NULL;
    }
    if (net_addr_is_unix(&addr)) {
        fprintf(stderr, "slowtap: --http %s: expected HOST:PORT, [IPv6]:PORT or PORT\n", c->http);
        return NULL;
    }
    if ((!c->http_auth_file || !c->http_tls_cert) && !net_addr_all_loopback(&addr)) {
        fprintf(stderr,
                "slowtap: --http %s is not a loopback address: refusing to serve statistics "
                "without %s\n",
                c->http,
                !c->http_auth_file && !c->http_tls_cert
                    ? "--http-auth-file and --http-tls-cert/--http-tls-key (HTTPS)"
                : !c->http_auth_file ? "--http-auth-file"
                                     : "--http-tls-cert/--http-tls-key (HTTPS)");
        return NULL;
    }
    struct http *h = calloc(1, sizeof *h);
    if (!h) {
        fprintf(stderr, "slowtap: --http %s: out of memory\n", c->http);
        return NULL;
    }
    pthread_mutex_init(&h->ssl_lock, NULL);
    h->src = *src;
    h->metrics_top = c->metrics_top;
    h->explain_rate = c->explain_rate;
    h->explain_tokens = c->explain_rate > 0 ? (double)c->explain_rate : 10.0;
    h->addr = &addr;
    h->max_conns = c->http_max_connections > 0 ? c->http_max_connections : 64;
    h->header_tv = (struct timeval){
        .tv_sec = (time_t)(c->http_header_timeout_us / 1000000),
        .tv_usec = (suseconds_t)(c->http_header_timeout_us % 1000000),
    };
    if (c->http_header_timeout_us <= 0) {
        h->header_tv = (struct timeval){.tv_sec = 30};
    }
    if (!http_load_hosts(h, c)) {
        fprintf(stderr, "slowtap: --http-allow-host: out of memory\n");
        http_free(h);
        return NULL;
    }
    if ((c->http_auth_file && !http_load_auth(h, c->http_auth_file)) ||
        (c->http_tls_cert && !(h->ssl_ctx = http_tls_ctx(c)))) {
        http_free(h);
        return NULL;
    }
    evthread_use_pthreads(); /* main did already; repeating it is harmless */
    h->base = event_base_new();
    h->eh = h->base ? evhttp_new(h->base) : NULL;
    if (!h->eh) {
        fprintf(stderr, "slowtap: --http %s: cannot create the HTTP server\n", c->http);
        http_free(h);
        return NULL;
    }
    evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(h->eh, 16384);
    evhttp_set_max_body_size(h->eh, 4096);
    evhttp_set_timeout_tv(h->eh, &h->header_tv); /* idle, and a reader that stalls a reply */
    evhttp_set_bevcb(h->eh, http_conn_new, h);
    evhttp_set_gencb(h->eh, http_dispatch, h);
    if (!http_bind(h, &addr, err, sizeof err)) {
        int e = errno;
        if (e == EADDRINUSE && !c->http_given) {
            fprintf(stderr,
                    "slowtap: HTTP off: the default address %s is in use (another slowtap?); "
                    "give --http ADDR to serve metrics and the dashboard\n",
                    c->http);
        } else {
            fprintf(stderr, "slowtap: --http %s: cannot listen: %s\n", c->http, err);
        }
        http_free(h);
        errno = e;
        return NULL;
    }
    h->series = history_new(1 + 2 * HTTP_SERIES_TOP, HTTP_SERIES_POINTS);
    h->series_ev = event_new(h->base, -1, EV_PERSIST, http_series_tick, h);
    h->win_digests = window_new();
    h->win_routes = window_new();
    h->reset_ev = event_new(h->base, -1, 0, http_reset_cb, h);
    if (!h->series || !h->series_ev || !h->win_digests || !h->win_routes || !h->reset_ev) {
        fprintf(stderr, "slowtap: --http %s: out of memory\n", c->http);
        http_free(h);
        return NULL;
    }
    if (c->state_dir) {
        /* before any worker runs: the tables are empty and nobody else touches them */
        h->state_dir = strdup(c->state_dir);
        struct state_parts p = http_state_parts(h);
        char why[512];
        int64_t now = http_now_us();
        switch (state_load(c->state_dir, &p, now, why, sizeof why)) {
        case STATE_LOADED:
            fprintf(stderr, "slowtap: note: statistics restored from %s/%s\n", c->state_dir,
                    STATE_FILE);
            h->win_minute = now / 60000000;
            break;
        case STATE_IGNORED:
            fprintf(stderr, "slowtap: note: state file ignored, starting empty: %s\n", why);
            break;
        case STATE_NONE:
            break;
        }
    }
    struct timeval every = {HTTP_SERIES_EVERY_S, 0};
    event_add(h->series_ev, &every);
    if (pthread_create(&h->thread, NULL, http_thread, h) != 0) {
        fprintf(stderr, "slowtap: --http %s: cannot start the HTTP thread\n", c->http);
        http_free(h);
        return NULL;
    }
    return h;
}

void
http_stop(struct http *h)
{
    if (!h) {
        return;
    }
    event_base_loopbreak(h->base);
    pthread_join(h->thread, NULL);
    if (h->state_dir) {
        /* the workers have merged their last figures: into the windows, then the file */
        http_window_feed(h, http_now_us(), false);
        http_state_save(h);
    }
    http_free(h);
}
