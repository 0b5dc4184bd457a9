/*
 * fuzz_handshake.c - libFuzzer target for the connection-phase parsers. The first byte picks
 * the parser: 0 greeting (then set_caps on a copy and a re-parse must give the new caps),
 * 1 handshake response / SSL request, 2 COM_CHANGE_USER (with caps from the next byte), 3 an
 * auth switch request, others all four. The payload is copied to an exact-size buffer so ASan
 * sees any over-read.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An auth switch request: a NUL-terminated name, at most 32 data bytes, all from p. */
static void
fuzz_auth_switch(const uint8_t *p, size_t n)
{
    char plugin[64];
    uint8_t data[32];
    size_t dn = 0;
    if (proto_auth_switch_parse(p, n, plugin, data, &dn) != PROTO_OK) {
        return;
    }
    if (memchr(plugin, 0, sizeof plugin) == NULL || dn > sizeof data || dn > n ||
        (dn && memmem(p, n, data, dn) == NULL)) {
        abort();
    }
}

static void
fuzz_greeting(const uint8_t *p, size_t n)
{
    struct proto_greeting g, g2;
    if (proto_greeting_parse(p, n, &g) != PROTO_OK) {
        return;
    }
    if (memchr(g.server_version, 0, sizeof g.server_version) == NULL ||
        memchr(g.auth_plugin, 0, sizeof g.auth_plugin) == NULL ||
        g.scramble_len > sizeof g.scramble) {
        abort();
    }
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    uint64_t caps = g.caps & ~PROTO_CAPS_HIDDEN;
    proto_greeting_set_caps(c, n, &g, caps);
    if (proto_greeting_parse(c, n, &g2) != PROTO_OK) {
        abort();
    }
    /* the low 16 bits always; the upper 16 and the extended caps when present */
    uint64_t mask = 0xffff;
    if (g.caps_hi_off) {
        mask |= 0xffff0000ull;
    }
    if (g.ext_caps_off) {
        mask |= 0xffffffff00000000ull;
    }
    if ((g2.caps & mask) != (caps & mask)) {
        abort();
    }
    /* only the cap bytes changed */
    for (size_t i = 0; i < n; i++) {
        bool capbyte = (i >= g.caps_lo_off && i < g.caps_lo_off + 2) ||
                       (g.caps_hi_off && i >= g.caps_hi_off && i < g.caps_hi_off + 2) ||
                       (g.ext_caps_off && i >= g.ext_caps_off && i < g.ext_caps_off + 4);
        if (!capbyte && c[i] != p[i]) {
            abort();
        }
    }
    free(c);
}

static void
fuzz_hsresp(const uint8_t *p, size_t n)
{
    struct proto_hsresp r;
    if (proto_hsresp_parse(p, n, &r) == PROTO_OK) {
        if (memchr(r.user, 0, sizeof r.user) == NULL || memchr(r.db, 0, sizeof r.db) == NULL ||
            memchr(r.plugin, 0, sizeof r.plugin) == NULL) {
            abort();
        }
        if (r.ssl_request && (n != 32 || r.user[0])) {
            abort();
        }
    }
}

static void
fuzz_chuser(const uint8_t *p, size_t n, uint64_t caps)
{
    char user[16], db[8];
    if (proto_change_user_parse(p, n, caps, user, sizeof user, db, sizeof db) == PROTO_OK) {
        if (memchr(user, 0, sizeof user) == NULL || memchr(db, 0, sizeof db) == NULL) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + 1, n);
    switch (data[0]) {
    case 0:
        fuzz_greeting(p, n);
        break;
    case 1:
        fuzz_hsresp(p, n);
        break;
    case 2:
        fuzz_chuser(p, n,
                    PROTO_CAP_PROTOCOL_41 | PROTO_CAP_SECURE_CONNECTION | PROTO_CAP_PLUGIN_AUTH |
                        PROTO_CAP_CONNECT_ATTRS);
        fuzz_chuser(p, n, PROTO_CAP_PROTOCOL_41);
        break;
    case 3:
        fuzz_auth_switch(p, n);
        break;
    default:
        fuzz_greeting(p, n);
        fuzz_hsresp(p, n);
        fuzz_auth_switch(p, n);
        fuzz_chuser(p, n, (uint64_t)data[0] << 8);
        break;
    }
    free(p);
    return 0;
}
