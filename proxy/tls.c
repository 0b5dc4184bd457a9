/*
 * tls.c - OpenSSL contexts for client-side TLS termination and backend TLS, with reload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *server_ctx; /* guarded by tls_lock; each SSL holds its own reference */
static SSL_CTX *backend_ctx;
static char backend_host[256];
static enum conf_backend_tls backend_mode;

void
tls_error_text(unsigned long code, char *out, size_t cap)
{
    if (!code) {
        code = ERR_get_error();
    }
    if (!code) {
        snprintf(out, cap, "unknown TLS error");
        return;
    }
    ERR_error_string_n(code, out, cap);
}

static bool
file_readable(const char *opt, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "slowtap: %s %s: %s\n", opt, path, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

static SSL_CTX *
load_server_ctx(const struct conf *c, FILE *err)
{
    char msg[256];
    if (!file_readable("--tls-cert", c->tls_cert, err) ||
        !file_readable("--tls-key", c->tls_key, err) ||
        (c->tls_ca && !file_readable("--tls-ca", c->tls_ca, err))) {
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fprintf(err, "slowtap: cannot create a TLS context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
        tls_error_text(0, msg, sizeof msg);
        fprintf(err, "slowtap: --tls-cert %s: %s\n", c->tls_cert, msg);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1) {
        tls_error_text(0, msg, sizeof msg);
        fprintf(err, "slowtap: --tls-key %s: %s\n", c->tls_key, msg);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(err, "slowtap: --tls-key %s does not match --tls-cert %s\n", c->tls_key,
                c->tls_cert);
        goto fail;
    }
    if (c->tls_ca) {
        if (SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL) != 1) {
            tls_error_text(0, msg, sizeof msg);
            fprintf(err, "slowtap: --tls-ca %s: %s\n", c->tls_ca, msg);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static SSL_CTX *
load_backend_ctx(const struct conf *c, FILE *err)
{
    char msg[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        fprintf(err, "slowtap: cannot create a TLS context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (c->backend_tls >= CONF_BTLS_VERIFY_CA) {
        if (!c->backend_tls_ca) {
            fprintf(err, "slowtap: --backend-tls %s needs --backend-tls-ca\n",
                    c->backend_tls == CONF_BTLS_VERIFY_CA ? "verify-ca" : "verify-identity");
            goto fail;
        }
        if (!file_readable("--backend-tls-ca", c->backend_tls_ca, err)) {
            goto fail;
        }
        if (SSL_CTX_load_verify_locations(ctx, c->backend_tls_ca, NULL) != 1) {
            tls_error_text(0, msg, sizeof msg);
            fprintf(err, "slowtap: --backend-tls-ca %s: %s\n", c->backend_tls_ca, msg);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The host part of --backend (for SNI and identity checks); "" for a unix socket. */
static void
backend_host_of(const char *addr, char *out, size_t cap)
{
    out[0] = '\0';
    if (addr[0] == '/') {
        return;
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        size_t n = close ? (size_t)(close - addr - 1) : 0;
        if (n < cap) {
            memcpy(out, addr + 1, n);
            out[n] = '\0';
        }
        return;
    }
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    if (n < cap) {
        memcpy(out, addr, n);
        out[n] = '\0';
    }
}

static bool
load(const struct conf *c, FILE *err, SSL_CTX **srv, SSL_CTX **be)
{
    *srv = NULL;
    *be = NULL;
    if (c->tls_cert || c->tls_key) {
        if (!c->tls_cert || !c->tls_key) {
            fprintf(err, "slowtap: %s: --tls-cert and --tls-key go together\n",
                    c->tls_cert ? "--tls-key" : "--tls-cert");
            return false;
        }
        *srv = load_server_ctx(c, err);
        if (!*srv) {
            return false;
        }
    } else if (c->tls_require) {
        fprintf(err, "slowtap: --tls-require: needs --tls-cert and --tls-key\n");
        return false;
    }
    if (c->backend_tls != CONF_BTLS_OFF) {
        *be = load_backend_ctx(c, err);
        if (!*be) {
            SSL_CTX_free(*srv);
            *srv = NULL;
            return false;
        }
    }
    return true;
}

bool
tls_init(const struct conf *c, FILE *err)
{
    SSL_CTX *srv, *be;
    if (!load(c, err, &srv, &be)) {
        return false;
    }
    pthread_mutex_lock(&tls_lock);
    server_ctx = srv;
    backend_ctx = be;
    backend_mode = c->backend_tls;
    backend_host_of(c->backend, backend_host, sizeof backend_host);
    pthread_mutex_unlock(&tls_lock);
    return true;
}

bool
tls_reload(const struct conf *c, FILE *err)
{
    SSL_CTX *srv, *be;
    if (!load(c, err, &srv, &be)) {
        fprintf(err, "slowtap: TLS reload failed; keeping the certificates in use\n");
        return false;
    }
    pthread_mutex_lock(&tls_lock);
    SSL_CTX *old_srv = server_ctx, *old_be = backend_ctx;
    server_ctx = srv;
    backend_ctx = be;
    pthread_mutex_unlock(&tls_lock);
    SSL_CTX_free(old_srv);
    SSL_CTX_free(old_be);
    if (srv) {
        fprintf(err, "slowtap: TLS certificate reloaded from %s\n", c->tls_cert);
    }
    return true;
}

void
tls_shutdown(void)
{
    pthread_mutex_lock(&tls_lock);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(backend_ctx);
    server_ctx = backend_ctx = NULL;
    pthread_mutex_unlock(&tls_lock);
}

bool
tls_server_enabled(void)
{
    pthread_mutex_lock(&tls_lock);
    bool on = server_ctx != NULL;
    pthread_mutex_unlock(&tls_lock);
    return on;
}

SSL *
tls_server_ssl(void)
{
    pthread_mutex_lock(&tls_lock);
    SSL *ssl = server_ctx ? SSL_new(server_ctx) : NULL;
    pthread_mutex_unlock(&tls_lock);
    return ssl;
}

SSL *
tls_backend_ssl(void)
{
    pthread_mutex_lock(&tls_lock);
    SSL *ssl = backend_ctx ? SSL_new(backend_ctx) : NULL;
    pthread_mutex_unlock(&tls_lock);
    if (!ssl || !backend_host[0]) {
        return ssl;
    }
    struct in6_addr tmp;
    bool is_ip =
        inet_pton(AF_INET, backend_host, &tmp) == 1 || inet_pton(AF_INET6, backend_host, &tmp) == 1;
    if (!is_ip) {
        SSL_set_tlsext_host_name(ssl, backend_host);
    }
    if (backend_mode == CONF_BTLS_VERIFY_IDENTITY) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(param, backend_host);
        } else {
            X509_VERIFY_PARAM_set1_host(param, backend_host, 0);
        }
    }
    return ssl;
}

void
tls_bev_error_text(struct bufferevent *bev, char *out, size_t cap)
{
    unsigned long code, real = 0;
    while ((code = bufferevent_get_openssl_error(bev)) != 0) {
        if (!real && ERR_GET_LIB(code) != 0) {
            real = code;
        }
    }
    char lib[200] = "";
    if (real) {
        ERR_error_string_n(real, lib, sizeof lib);
    }
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(out, cap, "certificate verify failed: %s%s%s", X509_verify_cert_error_string(vr),
                 lib[0] ? "; " : "", lib);
    } else {
        snprintf(out, cap, "%s", lib[0] ? lib : "the TLS handshake failed");
    }
}
