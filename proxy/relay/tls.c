/*
 * tls.c - OpenSSL contexts for client-side TLS termination and backend TLS, with reload, and
 * the self-signed certificate generated at start when clients get TLS without --tls-cert.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "net/net_addr.h"
#include "proxy/relay/tls.h"

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *server_ctx; /* guarded by tls_lock; each SSL holds its own reference */
static SSL_CTX *backend_ctx;
static char backend_host[256];
static enum conf_backend_tls backend_mode;
/* The generated certificate and its key (made once by tls_init, kept for reloads, freed by
 * tls_shutdown); the key exists in this process's memory only. */
static X509 *gen_cert;
static EVP_PKEY *gen_key;
static char client_summary[4096 + 512]; /* tls_client_summary(), set by tls_init */

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
    if ((c->tls_cert && !file_readable("--tls-cert", c->tls_cert, err)) ||
        (c->tls_key && !file_readable("--tls-key", c->tls_key, err)) ||
        (c->tls_ca && !file_readable("--tls-ca", c->tls_ca, err))) {
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fprintf(err, "slowtap: cannot create a TLS context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!c->tls_cert) {
        if (SSL_CTX_use_certificate(ctx, gen_cert) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, gen_key) != 1) {
            tls_error_text(0, msg, sizeof msg);
            fprintf(err, "slowtap: the generated TLS certificate: %s\n", msg);
            goto fail;
        }
    } else if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
        tls_error_text(0, msg, sizeof msg);
        fprintf(err, "slowtap: --tls-cert %s: %s\n", c->tls_cert, msg);
        goto fail;
    }
    if (c->tls_cert && SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1) {
        tls_error_text(0, msg, sizeof msg);
        fprintf(err, "slowtap: --tls-key %s: %s\n", c->tls_key, msg);
        goto fail;
    }
    if (c->tls_cert && SSL_CTX_check_private_key(ctx) != 1) {
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
    } else if (c->backend_tls == CONF_BTLS_MIRROR && c->backend_tls_ca) {
        /* the mirrored leg is verified when a CA is given: the chain, not the name */
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

/* The host part of an address option (for SNI and identity checks), as the address module
 * parses it (listener.h: a bare PORT is 127.0.0.1); "" for a unix socket. */
static void
backend_host_of(const char *addr, char *out, size_t cap)
{
    struct net_addr a; /* only its host part is used */
    const char *why;
    out[0] = '\0';
    if (net_addr_parse(addr, &a, &why) && strlen(a.host) < cap) {
        memcpy(out, a.host, strlen(a.host) + 1);
    }
}

/* A host name usable as a DNS subjectAltName (and safe inside an OpenSSL extension string). */
static bool
dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.') {
            return false;
        }
    }
    return true;
}

static bool
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    bool ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* "DNS:host,DNS:localhost,IP:127.0.0.1,IP:::1" plus the --listen host when it is a specific
 * address or name other than those. */
static void
subject_alt_names(const char *host, const char *listen, char *out, size_t cap)
{
    char lh[256];
    struct in6_addr a6;
    struct in_addr a4;
    size_t n = 0;
    out[0] = '\0';
    if (dns_name_ok(host) && strcmp(host, "localhost") != 0) {
        n += (size_t)snprintf(out, cap, "DNS:%s,", host);
    }
    snprintf(out + n, cap - n, "DNS:localhost,IP:127.0.0.1,IP:::1");
    backend_host_of(listen, lh, sizeof lh);
    if (!lh[0] || strcmp(lh, host) == 0 || strcmp(lh, "localhost") == 0) {
        return;
    }
    n = strlen(out);
    if (inet_pton(AF_INET, lh, &a4) == 1) {
        if (a4.s_addr != htonl(INADDR_ANY) && a4.s_addr != htonl(INADDR_LOOPBACK)) {
            snprintf(out + n, cap - n, ",IP:%s", lh);
        }
    } else if (inet_pton(AF_INET6, lh, &a6) == 1) {
        if (!IN6_IS_ADDR_UNSPECIFIED(&a6) && !IN6_IS_ADDR_LOOPBACK(&a6)) {
            snprintf(out + n, cap - n, ",IP:%s", lh);
        }
    } else if (dns_name_ok(lh)) {
        snprintf(out + n, cap - n, ",DNS:%s", lh);
    }
}

/* Makes gen_cert/gen_key: an EC P-256 key and a self-signed certificate for CN = this host's
 * name, valid from an hour ago for ten years. */
static bool
generate_cert(const struct conf *c, FILE *err)
{
    char host[256] = "", cn[65], san[1024], msg[256];
    unsigned char serial[16];
    if (gethostname(host, sizeof host - 1) != 0 || !dns_name_ok(host)) {
        snprintf(host, sizeof host, "slowtap");
    }
    snprintf(cn, sizeof cn, "%s", host); /* a CN has at most 64 characters */
    subject_alt_names(host, c->listen, san, sizeof san);

    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    bool ok = key && x && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* a positive serial number */
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        X509_NAME *name = X509_get_subject_name(x);
        X509V3_CTX v3;
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_set_version(x, 2) == 1 && X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600) &&
             X509_set_pubkey(x, key) == 1 &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                        (const unsigned char *)"slowtap (generated)", -1, -1,
                                        0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(x, name) == 1;
        if (ok) {
            X509V3_set_ctx_nodb(&v3);
            X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
            ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
                 add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") &&
                 add_ext(x, &v3, NID_ext_key_usage, "serverAuth") &&
                 add_ext(x, &v3, NID_subject_key_identifier, "hash") &&
                 add_ext(x, &v3, NID_subject_alt_name, san) && X509_sign(x, key, EVP_sha256()) > 0;
        }
    }
    BN_free(bn);
    if (!ok) {
        tls_error_text(0, msg, sizeof msg);
        fprintf(err, "slowtap: cannot generate a TLS certificate: %s\n", msg);
        X509_free(x);
        EVP_PKEY_free(key);
        return false;
    }
    gen_cert = x;
    gen_key = key;
    return true;
}

/* Writes the generated certificate (PEM; public, so mode 0644) to `path`: a temporary file
 * renamed over it, so that a client never reads half a certificate. */
static bool
write_generated_cert(const char *path, FILE *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(err, "slowtap: --tls-generated-cert %s: path too long\n", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(err, "slowtap: --tls-generated-cert %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return false;
    }
    bool ok = PEM_write_X509(f, gen_cert) == 1;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        fprintf(err, "slowtap: --tls-generated-cert %s: %s\n", path, strerror(saved));
    }
    return ok;
}

/* "AB:CD:..." of the generated certificate's SHA-256 digest. */
static void
generated_fingerprint(char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t n = 0;
    out[0] = '\0';
    if (X509_digest(gen_cert, EVP_sha256(), md, &len) != 1) {
        return;
    }
    for (unsigned int i = 0; i < len && n + 4 <= cap; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%02X", i ? ":" : "", md[i]);
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
    } else if (c->tls && gen_cert) {
        *srv = load_server_ctx(c, err);
        if (!*srv) {
            return false;
        }
    } else if (c->tls_require) {
        fprintf(err, "slowtap: --tls-require: needs client TLS (not --tls off)\n");
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
    bool generate = c->tls && !c->tls_cert && !gen_cert;
    if (generate && !generate_cert(c, err)) {
        return false;
    }
    if (!load(c, err, &srv, &be)) {
        goto fail;
    }
    if (generate && c->tls_generated_cert && !write_generated_cert(c->tls_generated_cert, err)) {
        SSL_CTX_free(srv);
        SSL_CTX_free(be);
        goto fail;
    }
    pthread_mutex_lock(&tls_lock);
    server_ctx = srv;
    backend_ctx = be;
    backend_mode = c->backend_tls;
    backend_host_of(c->backend, backend_host, sizeof backend_host);
    pthread_mutex_unlock(&tls_lock);
    if (!c->tls) {
        snprintf(client_summary, sizeof client_summary, "off");
    } else if (c->tls_cert) {
        snprintf(client_summary, sizeof client_summary, "%s", c->tls_cert);
    } else {
        char fp[3 * EVP_MAX_MD_SIZE + 1], cn[256] = "";
        generated_fingerprint(fp, sizeof fp);
        X509_NAME_get_text_by_NID(X509_get_subject_name(gen_cert), NID_commonName, cn, sizeof cn);
        snprintf(client_summary, sizeof client_summary,
                 "generated self-signed certificate CN=%s, SHA-256 fingerprint %s%s%s", cn, fp,
                 c->tls_generated_cert ? ", written to " : "",
                 c->tls_generated_cert ? c->tls_generated_cert : "");
    }
    return true;
fail:
    if (generate) {
        X509_free(gen_cert);
        EVP_PKEY_free(gen_key);
        gen_cert = NULL;
        gen_key = NULL;
    }
    return false;
}

const char *
tls_client_summary(void)
{
    return client_summary;
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
    if (srv && c->tls_cert) {
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
    X509_free(gen_cert);
    EVP_PKEY_free(gen_key);
    gen_cert = NULL;
    gen_key = NULL;
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
    /* OpenSSL checks the peer's chain and records the result even under SSL_VERIFY_NONE
     * (--backend-tls preferred/required), where it did not fail the handshake: name it only
     * when verification was asked for. */
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) ? SSL_get_verify_result(ssl)
                                                                  : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(out, cap, "certificate verify failed: %s%s%s", X509_verify_cert_error_string(vr),
                 lib[0] ? "; " : "", lib);
    } else {
        snprintf(out, cap, "%s", lib[0] ? lib : "the TLS handshake failed");
    }
}
