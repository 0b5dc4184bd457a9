/*
 * tls.h - TLS contexts (OpenSSL): the server side that clients connect to (--tls-cert,
 * --tls-key, optional --tls-ca to verify client certificates) and the client side slowtap uses
 * towards the backend (--backend-tls, --backend-tls-ca). Sessions only ask for a new SSL
 * object; libevent's bufferevent_openssl does the rest, so the relay code never sees TLS.
 *
 * Clients are offered TLS by default (--tls on): without --tls-cert, tls_init generates an EC
 * P-256 key and a self-signed certificate (CN = the host name; subjectAltName the host name,
 * localhost, 127.0.0.1, ::1 and a specific --listen host), valid for ten years. The key stays
 * in memory; only the certificate is written, and only to --tls-generated-cert. It is made once
 * per process: a reload keeps it, so a client that pinned it keeps working.
 *
 * Reload (SIGHUP) builds new contexts and swaps them in; connections already open keep the
 * context they started with (each SSL holds a reference).
 */
#ifndef SLOWTAP_TLS_H
#define SLOWTAP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/ssl.h>

#include "conf/conf.h"

/*
 * Loads the contexts the configuration asks for, generating the certificate when needed. On a
 * missing, unreadable or mismatched certificate or key, or an unwritable --tls-generated-cert,
 * prints one line naming the file to `err` and returns false. Prints nothing on success.
 */
bool tls_init(const struct conf *c, FILE *err);
/* After tls_init: client TLS for the start-up line: "off", the --tls-cert path, or "generated
 * self-signed certificate CN=..., SHA-256 fingerprint AB:..[, written to FILE]". */
const char *tls_client_summary(void);
/* Reloads certificates and keys (SIGHUP). On failure keeps the old contexts, prints why. */
bool tls_reload(const struct conf *c, FILE *err);
void tls_shutdown(void);

/* True when clients may upgrade to TLS (not --tls off). */
bool tls_server_enabled(void);
/* A new SSL for an accepted client, or NULL (out of memory / not enabled). */
SSL *tls_server_ssl(void);
/* A new SSL for a backend connection (SNI and, for verify-identity, the host name set), or
 * NULL. */
SSL *tls_backend_ssl(void);

/* Text of the last OpenSSL error of this thread (or of `code` when non-zero). */
void tls_error_text(unsigned long code, char *out, size_t cap);

struct bufferevent;
/* Why TLS failed on a bufferevent_openssl: the first real OpenSSL error it queued (libevent
 * queues a generic code first), plus the certificate verification result when that failed
 * and verification was on (SSL_VERIFY_PEER; else the recorded result did not matter). */
void tls_bev_error_text(struct bufferevent *bev, char *out, size_t cap);

/*
 * Ending a connection under TLS as a server would: tls_bev_close_notify queues TLS's
 * close_notify (once) on a bufferevent_openssl's socket; tls_bev_unsent is what that socket's
 * output still holds (encrypted bytes the filter made and the kernel has not taken);
 * tls_bev_flush_now hands the kernel what it takes now without waiting (before the
 * bufferevent is freed). Not for a TLS connection that failed.
 */
void tls_bev_close_notify(struct bufferevent *bev);
size_t tls_bev_unsent(struct bufferevent *bev);
void tls_bev_flush_now(struct bufferevent *bev);

#endif
