/*
 * proto_handshake.h - the connection phase: the server greeting (HandshakeV10), the client's
 * handshake response (HandshakeResponse41) and the SSL request, plus the capability rewrite
 * slowtap applies to the greeting.
 */
#ifndef SLOWTAP_PROTO_HANDSHAKE_H
#define SLOWTAP_PROTO_HANDSHAKE_H

#include "protocol/proto.h"

struct proto_greeting {
    uint8_t protocol_version; /* 10 */
    char server_version[64];  /* NUL-terminated, cut to fit */
    uint32_t conn_id;         /* the server's thread id (SHOW PROCESSLIST Id) */
    uint64_t caps;            /* low 32 bits MySQL, high 32 bits MariaDB extended */
    uint8_t charset;
    uint16_t status;
    bool mariadb; /* CLIENT_MYSQL clear: extended capabilities present */
    char auth_plugin[64];
    uint8_t scramble[20]; /* auth-plugin-data (the nonce), both parts, without its NUL */
    size_t scramble_len;
    /* Offsets in the payload, for the in-place rewrite. */
    size_t caps_lo_off, caps_hi_off, ext_caps_off; /* ext_caps_off 0 when absent */
};

/* Parses a greeting payload. PROTO_ERROR when it is not a valid protocol-10 greeting (an ERR
 * packet, 0xFF, is also PROTO_ERROR: the caller relays it and closes). */
enum proto_rc proto_greeting_parse(const uint8_t *p, size_t len, struct proto_greeting *g);
/* Rewrites the capability fields of a parsed greeting payload in place. */
void proto_greeting_set_caps(uint8_t *p, size_t len, const struct proto_greeting *g, uint64_t caps);

/* Capabilities slowtap removes from the greeting so the stream stays readable: TLS,
 * compression and MySQL 8 query attributes. */
#define PROTO_CAPS_HIDDEN                                                                          \
    (PROTO_CAP_SSL | PROTO_CAP_COMPRESS | PROTO_CAP_ZSTD_COMPRESSION | PROTO_CAP_QUERY_ATTRIBUTES)

struct proto_hsresp {
    uint64_t caps; /* low 32 bits MySQL, high 32 bits MariaDB extended (when CLIENT_MYSQL clear) */
    uint32_t max_packet;
    uint8_t charset;
    bool ssl_request; /* a 32-byte SSL request: TLS starts after it; no user follows */
    char user[256];   /* NUL-terminated, cut to fit */
    char db[256];     /* "" without CLIENT_CONNECT_WITH_DB */
    char plugin[64];
    /* The auth response is skipped: slowtap never keeps authentication data. */
};

/* Parses a handshake response or SSL request payload. PROTO_ERROR when malformed. */
enum proto_rc proto_hsresp_parse(const uint8_t *p, size_t len, struct proto_hsresp *r);

/* COM_CHANGE_USER payload (after the command byte is included: p[0] == 0x11): user and
 * schema; the auth data is skipped. `caps` are the session's negotiated capabilities. */
enum proto_rc proto_change_user_parse(const uint8_t *p, size_t len, uint64_t caps, char *user,
                                      size_t user_cap, char *db, size_t db_cap);

/* An auth switch request in the authentication exchange (0xFE, plugin name, NUL, the new
 * plugin's data): the name (cut to fit) and the first 32 bytes of the data, without the NUL
 * that ends it. PROTO_ERROR when it is none (a 1-byte 0xFE is the old-password request). */
enum proto_rc proto_auth_switch_parse(const uint8_t *p, size_t len, char plugin[64],
                                      uint8_t data[32], size_t *data_len);

/*
 * caching_sha2_password (MySQL 8). After the scramble the server sends "more data" packets:
 * 01 03 fast authentication succeeded (an OK follows), 01 04 full authentication: the client
 * sends the password in cleartext (NUL-terminated) over TLS, or else asks for the server's
 * RSA public key (02; answered 01 + PEM) and sends the password + NUL XORed with the nonce
 * (repeated) and encrypted with that key (RSA PKCS#1 OAEP).
 */
#define PROTO_SHA2_PLUGIN      "caching_sha2_password"
#define PROTO_SHA2_MORE_DATA   0x01
#define PROTO_SHA2_FAST_OK     0x03
#define PROTO_SHA2_FULL_AUTH   0x04
#define PROTO_SHA2_REQUEST_KEY 0x02

/* True when the payload p[0..len) is the server's 01 04 (perform full authentication). */
bool proto_sha2_full_auth(const uint8_t *p, size_t len);

/* XORs buf[0..n) with the nonce repeated, in place (the step before RSA encryption). */
void proto_sha2_xor(uint8_t *buf, size_t n, const uint8_t *nonce, size_t nonce_len);

#endif
