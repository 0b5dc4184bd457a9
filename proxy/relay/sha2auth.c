/*
 * sha2auth.c - the password of a caching_sha2_password full authentication, kept between the
 * client's cleartext packet and the server's public key, and encrypted for it (OpenSSL); see
 * sha2auth.h.
 */
#include "proxy/relay/sha2auth.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "protocol/proto_handshake.h"

bool
sha2auth_keep(struct sha2auth *a, const uint8_t *p, size_t n)
{
    sha2auth_wipe(a);
    if (!(a->pw = malloc(n ? n : 1))) {
        return false;
    }
    memcpy(a->pw, p, n);
    a->pw_len = n;
    return true;
}

void
sha2auth_wipe(struct sha2auth *a)
{
    if (a->pw) {
        explicit_bzero(a->pw, a->pw_len);
        free(a->pw);
    }
    a->pw = NULL;
    a->pw_len = 0;
    a->state = SHA2AUTH_IDLE;
}

bool
sha2auth_encrypt(struct sha2auth *a, const uint8_t *pem, size_t pem_len, uint8_t **out,
                 size_t *out_len)
{
    bool ok = false;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    BIO *bio = pem_len <= (size_t)INT32_MAX ? BIO_new_mem_buf(pem, (int)pem_len) : NULL;
    if (!bio || !a->pw || !(key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))) {
        goto out;
    }
    proto_sha2_xor(a->pw, a->pw_len, a->nonce, a->nonce_len);
    if (!(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_encrypt_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_encrypt(ctx, NULL, &n, a->pw, a->pw_len) <= 0 || !(buf = malloc(n)) ||
        EVP_PKEY_encrypt(ctx, buf, &n, a->pw, a->pw_len) <= 0) {
        free(buf);
        goto out;
    }
    *out = buf;
    *out_len = n;
    ok = true;
out:
    sha2auth_wipe(a);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok;
}
