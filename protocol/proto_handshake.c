/*
 * proto_handshake.c - the connection phase: server greeting, handshake response, SSL request,
 * COM_CHANGE_USER, and the greeting's capability rewrite.
 */
#include <string.h>

#include "protocol/proto_handshake.h"
#include "protocol/proto_wire.h"

/* Copies a string of n bytes into a fixed buffer, cut to fit, NUL-terminated. */
static void
copy_cut(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    if (cap == 0) {
        return;
    }
    if (n >= cap) {
        n = cap - 1;
    }
    if (n) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

enum proto_rc
proto_greeting_parse(const uint8_t *p, size_t len, struct proto_greeting *g)
{
    struct proto_rd r;
    size_t n;
    const uint8_t *s;

    memset(g, 0, sizeof *g);
    proto_rd_init(&r, p, len);
    g->protocol_version = proto_rd_u8(&r);
    if (r.err || g->protocol_version != 10) {
        return PROTO_ERROR;
    }
    s = proto_rd_nul_str(&r, &n);
    if (!s) {
        return PROTO_ERROR;
    }
    copy_cut(g->server_version, sizeof g->server_version, s, n);
    g->conn_id = proto_rd_u32(&r);
    const uint8_t *part1 = proto_rd_bytes(&r, 8); /* auth-plugin-data-part-1 */
    proto_rd_skip(&r, 1);                         /* filler */
    if (part1) {
        memcpy(g->scramble, part1, 8);
        g->scramble_len = 8;
    }
    g->caps_lo_off = r.pos;
    g->caps = proto_rd_u16(&r);
    if (r.err) {
        return PROTO_ERROR;
    }
    if (proto_rd_left(&r) == 0) {
        g->mariadb = false;
        return PROTO_OK; /* a pre-4.1 style greeting ends here */
    }
    g->charset = proto_rd_u8(&r);
    g->status = proto_rd_u16(&r);
    g->caps_hi_off = r.pos;
    g->caps |= (uint64_t)proto_rd_u16(&r) << 16;
    uint8_t auth_len = proto_rd_u8(&r);
    proto_rd_skip(&r, 6);
    size_t ext_off = r.pos;
    uint32_t ext = proto_rd_u32(&r);
    if (r.err) {
        return PROTO_ERROR;
    }
    if (!(g->caps & PROTO_CAP_MYSQL)) {
        g->mariadb = true;
        g->ext_caps_off = ext_off;
        g->caps |= (uint64_t)ext << 32;
    }
    if (g->caps & PROTO_CAP_SECURE_CONNECTION) {
        size_t part2 = auth_len > 8 ? (size_t)auth_len - 8 : 0;
        if (part2 < 13) {
            part2 = 13;
        }
        const uint8_t *rest = proto_rd_bytes(&r, part2);
        if (r.err) {
            return PROTO_ERROR;
        }
        /* the scramble's second part, without the NUL that ends it */
        size_t take = part2 > sizeof g->scramble - 8 ? sizeof g->scramble - 8 : part2;
        while (take > 0 && rest[take - 1] == 0) {
            take--;
        }
        memcpy(g->scramble + 8, rest, take);
        g->scramble_len = 8 + take;
    }
    if (g->caps & PROTO_CAP_PLUGIN_AUTH) {
        /* Some servers omit the final NUL: take the rest of the payload then. */
        size_t left = proto_rd_left(&r);
        const uint8_t *rest = r.p + r.pos;
        const uint8_t *nul = memchr(rest, 0, left);
        copy_cut(g->auth_plugin, sizeof g->auth_plugin, rest, nul ? (size_t)(nul - rest) : left);
    }
    return PROTO_OK;
}

void
proto_greeting_set_caps(uint8_t *p, size_t len, const struct proto_greeting *g, uint64_t caps)
{
    if (g->caps_lo_off + 2 <= len) {
        proto_put_le16(p + g->caps_lo_off, (uint16_t)caps);
    }
    if (g->caps_hi_off && g->caps_hi_off + 2 <= len) {
        proto_put_le16(p + g->caps_hi_off, (uint16_t)(caps >> 16));
    }
    if (g->ext_caps_off && g->ext_caps_off + 4 <= len) {
        proto_put_le32(p + g->ext_caps_off, (uint32_t)(caps >> 32));
    }
}

enum proto_rc
proto_hsresp_parse(const uint8_t *p, size_t len, struct proto_hsresp *out)
{
    struct proto_rd r;
    size_t n;
    const uint8_t *s;

    memset(out, 0, sizeof *out);
    proto_rd_init(&r, p, len);
    out->caps = proto_rd_u32(&r);
    out->max_packet = proto_rd_u32(&r);
    out->charset = proto_rd_u8(&r);
    proto_rd_skip(&r, 19);
    uint32_t ext = proto_rd_u32(&r);
    if (r.err || !(out->caps & PROTO_CAP_PROTOCOL_41)) {
        return PROTO_ERROR;
    }
    if (!(out->caps & PROTO_CAP_MYSQL)) {
        out->caps |= (uint64_t)ext << 32;
    }
    if (len == 32) {
        if (!(out->caps & PROTO_CAP_SSL)) {
            return PROTO_ERROR;
        }
        out->ssl_request = true;
        return PROTO_OK;
    }
    s = proto_rd_nul_str(&r, &n);
    if (!s) {
        return PROTO_ERROR;
    }
    copy_cut(out->user, sizeof out->user, s, n);
    if (out->caps & PROTO_CAP_PLUGIN_AUTH_LENENC_DATA) {
        proto_rd_lenenc_str(&r, &n);
    } else if (out->caps & PROTO_CAP_SECURE_CONNECTION) {
        proto_rd_skip(&r, proto_rd_u8(&r));
    } else {
        proto_rd_nul_str(&r, &n);
    }
    if (r.err) {
        return PROTO_ERROR;
    }
    if ((out->caps & PROTO_CAP_CONNECT_WITH_DB) && proto_rd_left(&r) > 0) {
        s = proto_rd_nul_str(&r, &n);
        if (!s) {
            return PROTO_ERROR;
        }
        copy_cut(out->db, sizeof out->db, s, n);
    }
    if ((out->caps & PROTO_CAP_PLUGIN_AUTH) && proto_rd_left(&r) > 0) {
        s = proto_rd_nul_str(&r, &n);
        if (!s) {
            return PROTO_ERROR;
        }
        copy_cut(out->plugin, sizeof out->plugin, s, n);
    }
    /* Connection attributes follow; slowtap does not need them. */
    return PROTO_OK;
}

enum proto_rc
proto_change_user_parse(const uint8_t *p, size_t len, uint64_t caps, char *user, size_t user_cap,
                        char *db, size_t db_cap)
{
    struct proto_rd r;
    size_t n;
    const uint8_t *s;

    proto_rd_init(&r, p, len);
    if (proto_rd_u8(&r) != PROTO_COM_CHANGE_USER) {
        return PROTO_ERROR;
    }
    s = proto_rd_nul_str(&r, &n);
    if (!s) {
        return PROTO_ERROR;
    }
    copy_cut(user, user_cap, s, n);
    if (caps & PROTO_CAP_SECURE_CONNECTION) {
        proto_rd_skip(&r, proto_rd_u8(&r));
    } else {
        proto_rd_nul_str(&r, &n);
    }
    s = proto_rd_nul_str(&r, &n);
    if (r.err || !s) {
        return PROTO_ERROR;
    }
    copy_cut(db, db_cap, s, n);
    return PROTO_OK;
}

enum proto_rc
proto_auth_switch_parse(const uint8_t *p, size_t len, char plugin[64], uint8_t data[32],
                        size_t *data_len)
{
    if (len < 2 || p[0] != PROTO_EOF_HDR) {
        return PROTO_ERROR;
    }
    const uint8_t *name = p + 1, *nul = memchr(name, 0, len - 1);
    if (!nul) {
        return PROTO_ERROR;
    }
    copy_cut(plugin, 64, name, (size_t)(nul - name));
    size_t n = len - (size_t)(nul + 1 - p);
    if (n > 0 && nul[n] == 0) {
        n--; /* the NUL that ends the data */
    }
    if (n > 32) {
        n = 32;
    }
    memcpy(data, nul + 1, n);
    *data_len = n;
    return PROTO_OK;
}

bool
proto_sha2_full_auth(const uint8_t *p, size_t len)
{
    return len == 2 && p[0] == PROTO_SHA2_MORE_DATA && p[1] == PROTO_SHA2_FULL_AUTH;
}

void
proto_sha2_xor(uint8_t *buf, size_t n, const uint8_t *nonce, size_t nonce_len)
{
    for (size_t i = 0; nonce_len > 0 && i < n; i++) {
        buf[i] ^= nonce[i % nonce_len];
    }
}
