/*
 * sha2auth.h - caching_sha2_password (MySQL 8) full authentication when only the client's leg
 * is TLS. The client sees TLS and answers the server's 01 04 with its password in cleartext;
 * passed on over the plaintext backend leg it would cross the network unencrypted, and the
 * server refuses it anyway (it wants the RSA form on an insecure connection). So the session
 * keeps that packet, asks the server for its public key itself (02), and sends the password
 * the way a client on a plaintext connection does (proto_handshake.h). The password lives only
 * between those two packets, and is wiped.
 */
#ifndef SLOWTAP_SHA2AUTH_H
#define SLOWTAP_SHA2AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sha2auth_state {
    SHA2AUTH_IDLE = 0,
    SHA2AUTH_CLEARTEXT_NEXT, /* the server sent 01 04: the client's next packet is the password */
    SHA2AUTH_KEY_NEXT,       /* we sent 02: the server's next packet is its public key */
};

struct sha2auth {
    enum sha2auth_state state;
    bool plugin;       /* the exchange's current plugin is caching_sha2_password */
    uint8_t nonce[32]; /* that plugin's data: the greeting's scramble or the auth switch's */
    size_t nonce_len;
    uint8_t *pw; /* heap, the password + NUL as the client sent it; NULL when none */
    size_t pw_len;
};

/* Keeps a copy of the client's cleartext packet (password + NUL); false when out of memory. */
bool sha2auth_keep(struct sha2auth *a, const uint8_t *p, size_t n);

/* Encrypts the kept password for the server's public key (PEM, pem[0..pem_len)): XOR with the
 * nonce, RSA PKCS#1 OAEP. On success *out is a heap buffer of *out_len bytes (the caller frees
 * it) and the password is wiped; false when the key cannot be read or used. */
bool sha2auth_encrypt(struct sha2auth *a, const uint8_t *pem, size_t pem_len, uint8_t **out,
                      size_t *out_len);

/* Wipes and frees the kept password; the state goes back to SHA2AUTH_IDLE. */
void sha2auth_wipe(struct sha2auth *a);

#endif
