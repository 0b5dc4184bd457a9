/*
 * proto_capture.c - the capture file's codec (proto_capture.h): records encoded as LEB128
 * varints and length-prefixed strings, the file header, blocks sealed with zstd and an FNV-1a
 * 64 checksum, and the record decoder. Pure: no I/O. docs/capture-format.md is the format's
 * description; the body layouts below follow it field by field.
 */
#include "protocol/proto_capture.h"

#include "protocol/proto_stmt.h"
#include "protocol/proto_wire.h"

#include <stdint.h>
#include <string.h>

#include <zstd.h>

/* The largest zstd window a block may ask for: a block inflates to at most 4 MiB. */
#define CAP_WINDOW_LOG_MAX 23

enum {
    CAP_SESS_ALIVE = 1,
    CAP_SESS_SQL_MODE_SET = 2,
    CAP_CMD_INTERRUPTED = 1,
    CAP_CMD_CUT = 2,
    CAP_PARAM_UNSIGNED = 1,
    CAP_PARAM_NULL = 2,
    CAP_PARAM_LONG_DATA = 4,
    CAP_PARAM_CUT = 8,
    CAP_VARINT_MAX = 10,
};

uint64_t
proto_cap_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    const uint64_t prime = 0x100000001b3ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* the same bytes in the same order, fewer loop branches */
        h = (h ^ b[i]) * prime;
        h = (h ^ b[i + 1]) * prime;
        h = (h ^ b[i + 2]) * prime;
        h = (h ^ b[i + 3]) * prime;
        h = (h ^ b[i + 4]) * prime;
        h = (h ^ b[i + 5]) * prime;
        h = (h ^ b[i + 6]) * prime;
        h = (h ^ b[i + 7]) * prime;
    }
    for (; i < n; i++) {
        h = (h ^ b[i]) * prime;
    }
    return h;
}

/* ---- encoding ---- */

/* A writer over out[0..cap): `ok` turns false at the first byte that does not fit. */
struct cap_w {
    uint8_t *out;
    size_t cap;
    size_t len;
    bool ok;
};

static inline __attribute__((always_inline)) void
w_u8(struct cap_w *w, uint8_t v)
{
    if (!w->ok || w->len >= w->cap) {
        w->ok = false;
        return;
    }
    if (w->out) {
        w->out[w->len] = v;
    }
    w->len++;
}

static inline __attribute__((always_inline)) void
w_var(struct cap_w *w, uint64_t v)
{
    if (w->ok && w->out && w->cap - w->len >= CAP_VARINT_MAX) {
        uint8_t *p = w->out + w->len, *start = p;
        while (v >= 0x80) {
            *p++ = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        *p++ = (uint8_t)v;
        w->len += (size_t)(p - start);
        return;
    }
    while (v >= 0x80) {
        w_u8(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    w_u8(w, (uint8_t)v);
}

/* Signed values (times, deltas) as zigzag varints. */
static inline __attribute__((always_inline)) void
w_svar(struct cap_w *w, int64_t v)
{
    w_var(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline __attribute__((always_inline)) void
w_bytes(struct cap_w *w, const void *p, size_t n)
{
    if (!w->ok || n > w->cap - w->len) {
        w->ok = false;
        return;
    }
    if (n && w->out) {
        memcpy(w->out + w->len, p, n);
    }
    w->len += n;
}

static inline __attribute__((always_inline)) void
w_str(struct cap_w *w, const void *p, size_t n)
{
    w_var(w, n);
    w_bytes(w, p, n);
}

static void
w_u64le(struct cap_w *w, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        w_u8(w, (uint8_t)(v >> (8 * i)));
    }
}

static size_t
var_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes the record's type, its body's length and its body. Fast path: the body is written
 * once after a length slot as wide as `bound` (the most the body can take) needs, then moved
 * up when its real length needs fewer bytes. When that does not fit (a buffer nearly full),
 * the body is measured first (a writer with no output counts only), then written in place. */
typedef void cap_body_fn(struct cap_w *w, const void *rec);

static bool
put_record(uint8_t *out, size_t cap, size_t *len, uint8_t type, cap_body_fn *body, const void *rec,
           size_t bound)
{
    if (*len > cap) {
        return false;
    }
    size_t room = cap - *len, slot = var_len(bound);
    uint8_t *at = out + *len;
    if (room > 1 + slot) {
        struct cap_w w = {.out = at + 1 + slot, .cap = room - 1 - slot, .len = 0, .ok = true};
        body(&w, rec);
        if (w.ok) {
            size_t need = var_len(w.len);
            struct cap_w h = {.out = at, .cap = 1 + need, .len = 0, .ok = true};
            w_u8(&h, type);
            w_var(&h, w.len);
            if (need < slot) {
                memmove(at + 1 + need, at + 1 + slot, w.len);
            }
            *len += 1 + need + w.len;
            return true;
        }
    }
    struct cap_w m = {.out = NULL, .cap = SIZE_MAX, .len = 0, .ok = true};
    body(&m, rec);
    size_t need = 1 + var_len(m.len);
    if (need > room || m.len > room - need) {
        return false;
    }
    struct cap_w w = {.out = at, .cap = need + m.len, .len = 0, .ok = true};
    w_u8(&w, type);
    w_var(&w, m.len);
    body(&w, rec);
    if (!w.ok || w.len != need + m.len) {
        return false;
    }
    *len += w.len;
    return true;
}

static void
body_session(struct cap_w *w, const void *rec)
{
    const struct proto_cap_session *s = rec;
    w_var(w, s->session);
    w_svar(w, s->t_us);
    w_var(w, s->thread_id);
    w_var(w, s->client_caps);
    w_u8(w, s->charset);
    w_u8(w, (uint8_t)((s->alive ? CAP_SESS_ALIVE : 0) |
                      (s->sql_mode_set ? CAP_SESS_SQL_MODE_SET : 0)));
    w_str(w, s->user, s->user_len);
    w_str(w, s->schema, s->schema_len);
    w_str(w, s->host, s->host_len);
    w_str(w, s->sql_mode, s->sql_mode_len);
}

static void
body_command(struct cap_w *w, const void *rec)
{
    const struct proto_cap_command *c = rec;
    w_var(w, c->session);
    w_var(w, c->seq);
    w_svar(w, c->t_start_us);
    w_svar(w, (int64_t)((uint64_t)c->t_end_us - (uint64_t)c->t_start_us));
    w_u8(w, c->cmd);
    w_u8(w, (uint8_t)((c->interrupted ? CAP_CMD_INTERRUPTED : 0) | (c->cut ? CAP_CMD_CUT : 0)));
    w_str(w, c->text, c->text_len);
    w_str(w, c->schema, c->schema_len);
    w_var(w, c->stmt_id);
    w_var(w, c->prepare_id);
    w_var(w, c->n_params);
    for (uint16_t i = 0; i < c->n_params; i++) {
        const struct proto_cap_param *p = &c->params[i];
        w_u8(w, p->type);
        w_u8(w, (uint8_t)((p->is_unsigned ? CAP_PARAM_UNSIGNED : 0) |
                          (p->is_null ? CAP_PARAM_NULL : 0) |
                          (p->long_data ? CAP_PARAM_LONG_DATA : 0) | (p->cut ? CAP_PARAM_CUT : 0)));
        if (p->is_null) {
            w_str(w, NULL, 0);
        } else {
            w_str(w, p->value, p->value_len);
        }
    }
    w_var(w, c->err);
    w_var(w, c->rows);
    w_var(w, c->affected);
    w_var(w, c->insert_id);
    w_var(w, c->warnings);
    w_var(w, c->status);
    w_u64le(w, c->checksum);
}

static void
body_file(struct cap_w *w, const void *rec)
{
    const struct proto_cap_file *f = rec;
    w_var(w, f->session);
    w_var(w, f->seq);
    w_str(w, f->data, f->len);
}

static void
body_end(struct cap_w *w, const void *rec)
{
    const struct proto_cap_end *e = rec;
    w_var(w, e->session);
    w_svar(w, e->t_us);
}

/* Type byte + the longest body-length varint. */
#define CAP_REC_OVERHEAD (1 + CAP_VARINT_MAX)

size_t
proto_cap_session_size(const struct proto_cap_session *s)
{
    return CAP_REC_OVERHEAD + 4 * CAP_VARINT_MAX + 2 + 4 * CAP_VARINT_MAX + s->user_len +
           s->schema_len + s->host_len + s->sql_mode_len;
}

bool
proto_cap_put_session(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_session *s)
{
    return put_record(out, cap, len, PROTO_CAP_SESSION, body_session, s, proto_cap_session_size(s));
}

size_t
proto_cap_command_size(const struct proto_cap_command *c)
{
    size_t n = CAP_REC_OVERHEAD + 4 * CAP_VARINT_MAX + 2 + 2 * CAP_VARINT_MAX + c->text_len +
               c->schema_len + 3 * CAP_VARINT_MAX + 6 * CAP_VARINT_MAX + 8;
    for (uint16_t i = 0; i < c->n_params; i++) {
        n += 2 + CAP_VARINT_MAX + (c->params[i].is_null ? 0 : c->params[i].value_len);
    }
    return n;
}

/* The unchecked writers of the fast path: the caller made sure there is room. */
static inline uint8_t *
fast_var(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *
fast_svar(uint8_t *p, int64_t v)
{
    return fast_var(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline uint8_t *
fast_str(uint8_t *p, const void *s, size_t n)
{
    p = fast_var(p, n);
    if (n) {
        memcpy(p, s, n);
    }
    return p + n;
}

/* body_command's bytes, unchecked (the one encoder per command: the same layout). */
static uint8_t *
fast_command(uint8_t *p, const struct proto_cap_command *c)
{
    p = fast_var(p, c->session);
    p = fast_var(p, c->seq);
    p = fast_svar(p, c->t_start_us);
    p = fast_svar(p, (int64_t)((uint64_t)c->t_end_us - (uint64_t)c->t_start_us));
    *p++ = c->cmd;
    *p++ = (uint8_t)((c->interrupted ? CAP_CMD_INTERRUPTED : 0) | (c->cut ? CAP_CMD_CUT : 0));
    p = fast_str(p, c->text, c->text_len);
    p = fast_str(p, c->schema, c->schema_len);
    p = fast_var(p, c->stmt_id);
    p = fast_var(p, c->prepare_id);
    p = fast_var(p, c->n_params);
    for (uint16_t i = 0; i < c->n_params; i++) {
        const struct proto_cap_param *q = &c->params[i];
        *p++ = q->type;
        *p++ = (uint8_t)((q->is_unsigned ? CAP_PARAM_UNSIGNED : 0) |
                         (q->is_null ? CAP_PARAM_NULL : 0) |
                         (q->long_data ? CAP_PARAM_LONG_DATA : 0) | (q->cut ? CAP_PARAM_CUT : 0));
        p = q->is_null ? fast_str(p, NULL, 0) : fast_str(p, q->value, q->value_len);
    }
    p = fast_var(p, c->err);
    p = fast_var(p, c->rows);
    p = fast_var(p, c->affected);
    p = fast_var(p, c->insert_id);
    p = fast_var(p, c->warnings);
    p = fast_var(p, c->status);
    for (int i = 0; i < 8; i++) {
        *p++ = (uint8_t)(c->checksum >> (8 * i));
    }
    return p;
}

bool
proto_cap_put_command(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_command *c)
{
    size_t bound = proto_cap_command_size(c);
    if (*len <= cap && cap - *len >= bound) {
        /* room for the most it can take: written once, unchecked */
        uint8_t *at = out + *len;
        size_t slot = var_len(bound);
        uint8_t *body = at + 1 + slot;
        size_t blen = (size_t)(fast_command(body, c) - body), need = var_len(blen);
        at[0] = PROTO_CAP_COMMAND;
        fast_var(at + 1, blen);
        if (need < slot) {
            memmove(at + 1 + need, body, blen);
        }
        *len += 1 + need + blen;
        return true;
    }
    return put_record(out, cap, len, PROTO_CAP_COMMAND, body_command, c, proto_cap_command_size(c));
}

size_t
proto_cap_file_size(const struct proto_cap_file *f)
{
    return CAP_REC_OVERHEAD + 3 * CAP_VARINT_MAX + f->len;
}

bool
proto_cap_put_file(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_file *f)
{
    return put_record(out, cap, len, PROTO_CAP_FILE, body_file, f, proto_cap_file_size(f));
}

bool
proto_cap_put_end(uint8_t *out, size_t cap, size_t *len, const struct proto_cap_end *e)
{
    return put_record(out, cap, len, PROTO_CAP_END, body_end, e, 64);
}

/* ---- the file header ---- */

static void
put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

void
proto_cap_put_header(uint8_t *out, int64_t created_us)
{
    memcpy(out, PROTO_CAP_MAGIC, PROTO_CAP_MAGIC_LEN);
    put_le(out + PROTO_CAP_MAGIC_LEN, PROTO_CAP_VERSION, 2);
    put_le(out + PROTO_CAP_MAGIC_LEN + 2, 0, 2);
    put_le(out + PROTO_CAP_MAGIC_LEN + 4, (uint64_t)created_us, 8);
}

bool
proto_cap_check_header(const uint8_t *in, size_t n, uint16_t *version, int64_t *created_us)
{
    if (n < PROTO_CAP_HEADER_LEN || memcmp(in, PROTO_CAP_MAGIC, PROTO_CAP_MAGIC_LEN) != 0) {
        return false;
    }
    uint16_t v = (uint16_t)get_le(in + PROTO_CAP_MAGIC_LEN, 2);
    if (version) {
        *version = v;
    }
    if (created_us) {
        *created_us = (int64_t)get_le(in + PROTO_CAP_MAGIC_LEN + 4, 8);
    }
    return v == PROTO_CAP_VERSION;
}

/* ---- blocks ---- */

size_t
proto_cap_block_bound(size_t raw_len)
{
    return PROTO_CAP_BLOCK_HEADER_LEN + ZSTD_compressBound(raw_len);
}

size_t
proto_cap_block_seal_ctx(struct ZSTD_CCtx_s *cctx, const uint8_t *raw, size_t raw_len, uint8_t *out,
                         size_t cap, int level)
{
    if (raw_len == 0 || raw_len > PROTO_CAP_BLOCK_MAX || cap < proto_cap_block_bound(raw_len)) {
        return 0;
    }
    ZSTD_CCtx *c = cctx ? cctx : ZSTD_createCCtx();
    if (!c) {
        return 0;
    }
    /* The frame carries its content checksum (XXH64): the block's integrity check, at a tenth
     * of what hashing the raw bytes ourselves cost. */
    size_t z = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(z)) {
        z = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    }
    if (!ZSTD_isError(z)) {
        z = ZSTD_compress2(c, out + PROTO_CAP_BLOCK_HEADER_LEN, cap - PROTO_CAP_BLOCK_HEADER_LEN,
                           raw, raw_len);
    }
    if (!cctx) {
        ZSTD_freeCCtx(c);
    }
    if (ZSTD_isError(z) || z > UINT32_MAX) {
        return 0;
    }
    put_le(out, raw_len, 4);
    put_le(out + 4, z, 4);
    put_le(out + 8, 0, 8); /* reserved */
    return PROTO_CAP_BLOCK_HEADER_LEN + z;
}

size_t
proto_cap_block_seal(const uint8_t *raw, size_t raw_len, uint8_t *out, size_t cap, int level)
{
    return proto_cap_block_seal_ctx(NULL, raw, raw_len, out, cap, level);
}

bool
proto_cap_block_header(const uint8_t *in, uint32_t *raw_len, uint32_t *zstd_len, uint64_t *sum)
{
    uint32_t r = (uint32_t)get_le(in, 4), z = (uint32_t)get_le(in + 4, 4);
    if (r == 0 || r > PROTO_CAP_BLOCK_MAX || z == 0 ||
        z > ZSTD_compressBound(PROTO_CAP_BLOCK_MAX)) {
        return false;
    }
    *raw_len = r;
    *zstd_len = z;
    *sum = get_le(in + 8, 8);
    return true;
}

bool
proto_cap_block_open(const uint8_t *z, size_t zstd_len, uint8_t *raw, size_t raw_len, uint64_t sum)
{
    (void)sum; /* reserved */
    if (raw_len == 0 || raw_len > PROTO_CAP_BLOCK_MAX || zstd_len == 0) {
        return false;
    }
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) {
        return false;
    }
    bool ok = false;
    /* A zstd frame (RFC 8878: the magic number, then the frame header descriptor, whose bit 2
     * is Content_Checksum_flag) that carries its checksum, which ZSTD_decompressDCtx then
     * verifies. */
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (zstd_len > 4 && memcmp(z, magic, 4) == 0 && (z[4] & 0x04) &&
        !ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, CAP_WINDOW_LOG_MAX))) {
        size_t n = ZSTD_decompressDCtx(d, raw, raw_len, z, zstd_len);
        ok = !ZSTD_isError(n) && n == raw_len;
    }
    ZSTD_freeDCtx(d);
    return ok;
}

/* ---- decoding ---- */

/* A reader over in[0..n): `ok` turns false at the first read past the end or bad varint. */
struct cap_r {
    const uint8_t *in;
    size_t n;
    size_t pos;
    bool ok;
};

static uint8_t
r_u8(struct cap_r *r)
{
    if (!r->ok || r->pos >= r->n) {
        r->ok = false;
        return 0;
    }
    return r->in[r->pos++];
}

static uint64_t
r_var(struct cap_r *r)
{
    uint64_t v = 0;
    for (int i = 0; i < CAP_VARINT_MAX; i++) {
        uint8_t b = r_u8(r);
        if (!r->ok) {
            return 0;
        }
        if (i == CAP_VARINT_MAX - 1 && b > 1) {
            break; /* more than 64 bits */
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            return v;
        }
    }
    r->ok = false;
    return 0;
}

/* A varint that must fit in `max`. */
static uint64_t
r_varmax(struct cap_r *r, uint64_t max)
{
    uint64_t v = r_var(r);
    if (v > max) {
        r->ok = false;
        return 0;
    }
    return v;
}

static int64_t
r_svar(struct cap_r *r)
{
    uint64_t v = r_var(r);
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

static const uint8_t *
r_str(struct cap_r *r, size_t *len)
{
    uint64_t l = r_var(r);
    if (!r->ok || l > r->n - r->pos) {
        r->ok = false;
        *len = 0;
        return (const uint8_t *)"";
    }
    const uint8_t *p = r->in + r->pos;
    r->pos += (size_t)l;
    *len = (size_t)l;
    return p;
}

static uint64_t
r_u64le(struct cap_r *r)
{
    if (!r->ok || r->n - r->pos < 8) {
        r->ok = false;
        return 0;
    }
    uint64_t v = get_le(r->in + r->pos, 8);
    r->pos += 8;
    return v;
}

static bool
dec_session(struct cap_r *r, struct proto_cap_session *s)
{
    *s = (struct proto_cap_session){.session = 0};
    s->session = r_var(r);
    s->t_us = r_svar(r);
    s->thread_id = (uint32_t)r_varmax(r, UINT32_MAX);
    s->client_caps = (uint32_t)r_varmax(r, UINT32_MAX);
    s->charset = r_u8(r);
    uint8_t fl = r_u8(r);
    s->alive = fl & CAP_SESS_ALIVE;
    s->sql_mode_set = fl & CAP_SESS_SQL_MODE_SET;
    s->user = (const char *)r_str(r, &s->user_len);
    s->schema = (const char *)r_str(r, &s->schema_len);
    s->host = (const char *)r_str(r, &s->host_len);
    s->sql_mode = (const char *)r_str(r, &s->sql_mode_len);
    return r->ok;
}

static bool
dec_command(struct cap_r *r, struct proto_cap_command *c, struct proto_cap_param *store,
            size_t max_params)
{
    *c = (struct proto_cap_command){.session = 0};
    c->session = r_var(r);
    c->seq = r_var(r);
    c->t_start_us = r_svar(r);
    c->t_end_us = (int64_t)((uint64_t)c->t_start_us + (uint64_t)r_svar(r));
    c->cmd = r_u8(r);
    uint8_t cfl = r_u8(r);
    c->interrupted = cfl & CAP_CMD_INTERRUPTED;
    c->cut = cfl & CAP_CMD_CUT;
    c->text = (const char *)r_str(r, &c->text_len);
    c->schema = (const char *)r_str(r, &c->schema_len);
    c->stmt_id = (uint32_t)r_varmax(r, UINT32_MAX);
    c->prepare_id = (uint32_t)r_varmax(r, UINT32_MAX);
    c->n_params = (uint16_t)r_varmax(r, UINT16_MAX);
    if (!r->ok || c->n_params > max_params) {
        return false;
    }
    for (uint16_t i = 0; i < c->n_params; i++) {
        struct proto_cap_param *p = &store[i];
        p->type = r_u8(r);
        uint8_t fl = r_u8(r);
        p->is_unsigned = fl & CAP_PARAM_UNSIGNED;
        p->is_null = fl & CAP_PARAM_NULL;
        p->long_data = fl & CAP_PARAM_LONG_DATA;
        p->cut = fl & CAP_PARAM_CUT;
        p->value = r_str(r, &p->value_len);
        if (!r->ok) {
            return false;
        }
    }
    c->params = c->n_params ? store : NULL;
    c->err = (uint16_t)r_varmax(r, UINT16_MAX);
    c->rows = r_var(r);
    c->affected = r_var(r);
    c->insert_id = r_var(r);
    c->warnings = (uint16_t)r_varmax(r, UINT16_MAX);
    c->status = (uint16_t)r_varmax(r, UINT16_MAX);
    c->checksum = r_u64le(r);
    return r->ok;
}

static bool
dec_file(struct cap_r *r, struct proto_cap_file *f)
{
    *f = (struct proto_cap_file){.session = 0};
    f->session = r_var(r);
    f->seq = r_var(r);
    f->data = r_str(r, &f->len);
    return r->ok;
}

static bool
dec_end(struct cap_r *r, struct proto_cap_end *e)
{
    *e = (struct proto_cap_end){.session = 0};
    e->session = r_var(r);
    e->t_us = r_svar(r);
    return r->ok;
}

bool
proto_cap_next(const uint8_t *in, size_t n, size_t *off, struct proto_cap_record *rec,
               struct proto_cap_param *param_store, size_t max_params)
{
    size_t pos = *off;
    while (pos < n) {
        struct cap_r h = {.in = in, .n = n, .pos = pos, .ok = true};
        uint8_t type = r_u8(&h);
        uint64_t body_len = r_var(&h);
        if (!h.ok || body_len > n - h.pos) {
            *off = pos;
            return false;
        }
        size_t next = h.pos + (size_t)body_len;
        /* Fields a later version appends to a body are skipped: the reader reads what it
         * knows and goes on at the body's end. */
        struct cap_r b = {.in = in, .n = next, .pos = h.pos, .ok = true};
        bool ok;
        switch (type) {
        case PROTO_CAP_SESSION:
            ok = dec_session(&b, &rec->u.session);
            break;
        case PROTO_CAP_COMMAND:
            ok = dec_command(&b, &rec->u.command, param_store, max_params);
            break;
        case PROTO_CAP_FILE:
            ok = dec_file(&b, &rec->u.file);
            break;
        case PROTO_CAP_END:
            ok = dec_end(&b, &rec->u.end);
            break;
        default:
            pos = next; /* a type this build does not know */
            continue;
        }
        if (!ok) {
            *off = pos;
            return false;
        }
        rec->type = (enum proto_cap_type)type;
        *off = next;
        return true;
    }
    *off = pos;
    return false;
}

/* ---- execute parameters ---- */

/* Reads one binary-protocol value of type t: the bytes after any length prefix. */
static bool
cap_value(struct proto_rd *r, uint8_t t, const uint8_t **v, size_t *n)
{
    size_t fixed = 0;
    switch (t) {
    case PROTO_TYPE_NULL:
        *v = NULL;
        *n = 0;
        return true;
    case PROTO_TYPE_TINY:
        fixed = 1;
        break;
    case PROTO_TYPE_SHORT:
    case PROTO_TYPE_YEAR:
        fixed = 2;
        break;
    case PROTO_TYPE_INT24:
    case PROTO_TYPE_LONG:
    case PROTO_TYPE_FLOAT:
        fixed = 4;
        break;
    case PROTO_TYPE_LONGLONG:
    case PROTO_TYPE_DOUBLE:
        fixed = 8;
        break;
    case PROTO_TYPE_DATE:
    case PROTO_TYPE_NEWDATE:
    case PROTO_TYPE_DATETIME:
    case PROTO_TYPE_TIMESTAMP:
    case PROTO_TYPE_TIME:
        fixed = proto_rd_u8(r);
        break;
    case PROTO_TYPE_DECIMAL:
    case PROTO_TYPE_NEWDECIMAL:
    case PROTO_TYPE_VARCHAR:
    case PROTO_TYPE_BIT:
    case PROTO_TYPE_JSON:
    case PROTO_TYPE_ENUM:
    case PROTO_TYPE_SET:
    case PROTO_TYPE_TINY_BLOB:
    case PROTO_TYPE_MEDIUM_BLOB:
    case PROTO_TYPE_LONG_BLOB:
    case PROTO_TYPE_BLOB:
    case PROTO_TYPE_VAR_STRING:
    case PROTO_TYPE_STRING:
    case PROTO_TYPE_GEOMETRY:
        *v = proto_rd_lenenc_str(r, n);
        return !r->err;
    default:
        return false;
    }
    *v = proto_rd_bytes(r, fixed);
    *n = fixed;
    return !r->err;
}

bool
proto_cap_execute_params(const uint8_t *p, size_t len, uint16_t nparams,
                         const struct proto_param_type *prev,
                         const struct proto_long_data *long_data, struct proto_cap_param *out)
{
    struct proto_rd r;
    proto_rd_init(&r, p, len);
    uint8_t cmd = proto_rd_u8(&r);
    proto_rd_skip(&r, 4 + 1 + 4); /* stmt id, cursor flags, iteration count */
    if (r.err || cmd != PROTO_COM_STMT_EXECUTE) {
        return false;
    }
    if (nparams == 0) {
        return true;
    }
    const uint8_t *nulls = proto_rd_bytes(&r, ((size_t)nparams + 7) / 8);
    uint8_t bound = proto_rd_u8(&r);
    if (r.err || !nulls || bound > 1) {
        return false;
    }
    const uint8_t *tb = NULL;
    if (bound) {
        tb = proto_rd_bytes(&r, (size_t)nparams * 2);
        if (!tb) {
            return false;
        }
    } else if (!prev) {
        return false;
    }
    for (uint16_t i = 0; i < nparams; i++) {
        struct proto_cap_param *o = &out[i];
        *o = (struct proto_cap_param){
            .type = tb ? tb[2 * i] : prev[i].type,
            .is_unsigned = tb ? (tb[2 * i + 1] & 0x80) != 0 : prev[i].is_unsigned,
            .is_null = false,
            .long_data = false,
            .cut = false,
            .value = NULL,
            .value_len = 0,
        };
        if (long_data && long_data[i].present) {
            o->long_data = true;
            o->value = long_data[i].data;
            o->value_len = long_data[i].data ? long_data[i].len : 0;
            o->cut = long_data[i].total > o->value_len;
            continue;
        }
        if (nulls[i / 8] & (1u << (i % 8)) || o->type == PROTO_TYPE_NULL) {
            o->is_null = true;
            continue;
        }
        if (!cap_value(&r, o->type, &o->value, &o->value_len)) {
            return false;
        }
    }
    return true;
}
