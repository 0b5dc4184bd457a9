/*
 * fuzz_stmt.c - libFuzzer target for protocol/proto_stmt.c. Input layout:
 *   byte 0: nparams (mod 41); byte 1: options (bit 0: odd parameters come as long data,
 *   bits 1-2: max_value 0/1/4/300, bit 3: keep the payload's first byte, else force the
 *   command byte, bits 4-5: the sql_mode flags PROTO_SQLMODE_NO_BACKSLASH_ESCAPES and
 *   _ANSI_QUOTES for rendering and substitution); then nparams type bytes (index into the
 *   type table, 0x80 = unsigned);
 *   the rest: the payload, decoded as COM_STMT_EXECUTE and COM_STMT_BULK_EXECUTE, and also
 *   fed to the PREPARE OK, SEND_LONG_DATA and statement-id parsers, to proto_sql_quote and,
 *   as SQL text, to proto_substitute with the decoded literals.
 * Invariants checked (abort on failure): parameters are reported in order, once each, as
 * non-empty NUL-terminated literals, quoted literals are closed, and the length-only and
 * writing forms of proto_sql_quote / proto_substitute agree.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_stmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAXP 40

static const uint8_t fuzz_types[] = {
    PROTO_TYPE_DECIMAL,
    PROTO_TYPE_TINY,
    PROTO_TYPE_SHORT,
    PROTO_TYPE_LONG,
    PROTO_TYPE_FLOAT,
    PROTO_TYPE_DOUBLE,
    PROTO_TYPE_NULL,
    PROTO_TYPE_TIMESTAMP,
    PROTO_TYPE_LONGLONG,
    PROTO_TYPE_INT24,
    PROTO_TYPE_DATE,
    PROTO_TYPE_TIME,
    PROTO_TYPE_DATETIME,
    PROTO_TYPE_YEAR,
    PROTO_TYPE_NEWDATE,
    PROTO_TYPE_VARCHAR,
    PROTO_TYPE_BIT,
    PROTO_TYPE_JSON,
    PROTO_TYPE_NEWDECIMAL,
    PROTO_TYPE_ENUM,
    PROTO_TYPE_SET,
    PROTO_TYPE_TINY_BLOB,
    PROTO_TYPE_MEDIUM_BLOB,
    PROTO_TYPE_LONG_BLOB,
    PROTO_TYPE_BLOB,
    PROTO_TYPE_VAR_STRING,
    PROTO_TYPE_STRING,
    PROTO_TYPE_GEOMETRY,
    PROTO_TYPE_TIME2,
    20,
    242,
};

struct fuzz_ctx {
    unsigned next;
    unsigned nparams;
    char *lit[FUZZ_MAXP];
    size_t len[FUZZ_MAXP];
};

static void
fuzz_param(void *vctx, unsigned idx, const char *lit, size_t len, bool truncated)
{
    struct fuzz_ctx *c = vctx;
    (void)truncated;
    if (idx != c->next || idx >= c->nparams || len == 0 || lit[len] != '\0') {
        abort();
    }
    if ((lit[0] == '\'' || (lit[0] == 'X' && len > 1 && lit[1] == '\'')) &&
        (len < 2 || lit[len - 1] != '\'')) {
        abort();
    }
    c->next++;
    c->lit[idx] = malloc(len + 1);
    if (c->lit[idx]) {
        memcpy(c->lit[idx], lit, len + 1);
        c->len[idx] = len;
    }
}

static void
fuzz_ctx_free(struct fuzz_ctx *c)
{
    for (unsigned i = 0; i < FUZZ_MAXP; i++) {
        free(c->lit[i]);
    }
}

static void
fuzz_text(const uint8_t *p, size_t len, struct fuzz_ctx *c, unsigned mode)
{
    /* Quoting: the length-only form matches, the literal is closed (a quoted string, or X'..'
     * under NO_BACKSLASH_ESCAPES), nothing past cap. */
    size_t need = proto_sql_quote(p, len, mode, NULL, 0);
    char *out = malloc(need + 1);
    if (!out) {
        return;
    }
    size_t n = proto_sql_quote(p, len, mode, out, need + 1);
    bool hex = (mode & PROTO_SQLMODE_NO_BACKSLASH_ESCAPES) && out[0] == 'X' && out[1] == '\'';
    if (n != need || (out[0] != '\'' && !hex) || out[n - 1] != '\'' || out[n] != '\0') {
        abort();
    }
    for (size_t cap = 0; cap < 8 && cap <= need; cap++) {
        if (proto_sql_quote(p, len, mode, out, cap) > cap) {
            abort();
        }
    }
    free(out);

    /* Substitution with the literals decoded so far. */
    const char *lits[FUZZ_MAXP];
    for (unsigned i = 0; i < FUZZ_MAXP; i++) {
        lits[i] = c->lit[i];
    }
    size_t total = proto_substitute((const char *)p, len, mode, lits, c->len, c->next, NULL, 0);
    char small[16];
    if (proto_substitute((const char *)p, len, mode, lits, c->len, c->next, small, sizeof small) !=
        total) {
        abort();
    }
    char *full = malloc(total + 1);
    if (full) {
        if (proto_substitute((const char *)p, len, mode, lits, c->len, c->next, full, total + 1) !=
                total ||
            full[total] != '\0' || memcmp(full, small, total < 15 ? total : 15) != 0) {
            abort();
        }
        /* The placeholders found once (at PREPARE) substitute to the same bytes. */
        unsigned nph = proto_placeholders((const char *)p, len, mode, NULL, 0);
        uint32_t *offs = malloc((nph ? nph : 1) * sizeof *offs);
        char *at = malloc(total + 1);
        if (offs && at) {
            if (proto_placeholders((const char *)p, len, mode, offs, nph) != nph ||
                proto_substitute_at((const char *)p, len, offs, nph, lits, c->len, c->next, at,
                                    total + 1) != total ||
                memcmp(at, full, total + 1) != 0 ||
                proto_substitute_at((const char *)p, len, offs, nph, lits, c->len, c->next, small,
                                    sizeof small) != total ||
                memcmp(small, full, total < 15 ? total : 15) != 0) {
                abort();
            }
        }
        free(offs);
        free(at);
        free(full);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_values[] = {0, 1, 4, 300};
    if (size < 2) {
        return 0;
    }
    uint16_t nparams = data[0] % (FUZZ_MAXP + 1);
    uint8_t opt = data[1];
    data += 2;
    size -= 2;
    if (size < nparams) {
        return 0;
    }
    struct proto_param_type types[FUZZ_MAXP];
    struct proto_long_data ld[FUZZ_MAXP];
    memset(ld, 0, sizeof ld);
    for (unsigned i = 0; i < nparams; i++) {
        types[i].type = fuzz_types[(data[i] & 0x7f) % sizeof fuzz_types];
        types[i].is_unsigned = (data[i] & 0x80) != 0;
    }
    data += nparams;
    size -= nparams;

    uint8_t *payload = malloc(size ? size : 1);
    if (!payload) {
        return 0;
    }
    memcpy(payload, data, size);
    for (unsigned i = 1; (opt & 1) && i < nparams; i += 2) {
        ld[i].present = true;
        ld[i].data = data;
        ld[i].len = size / 2;
        ld[i].total = size;
    }
    unsigned mode = (opt >> 4) & 3; /* PROTO_SQLMODE_NO_BACKSLASH_ESCAPES, _ANSI_QUOTES */
    struct proto_param_sink sink = {fuzz_param, NULL, max_values[(opt >> 1) & 3], mode};

    /* COM_STMT_EXECUTE */
    struct fuzz_ctx ctx = {0, nparams, {0}, {0}};
    sink.ctx = &ctx;
    if (size && !(opt & 8)) {
        payload[0] = PROTO_COM_STMT_EXECUTE;
    }
    struct proto_param_type t2[FUZZ_MAXP];
    memcpy(t2, types, sizeof t2);
    enum proto_rc rc = proto_execute_params(payload, size, nparams, t2, ld, &sink);
    if (rc == PROTO_OK && ctx.next != nparams) {
        abort();
    }
    memcpy(t2, types, sizeof t2);
    if (proto_execute_params(payload, size, nparams, t2, ld, NULL) != rc) {
        abort();
    }
    fuzz_text(data, size, &ctx, mode);
    fuzz_ctx_free(&ctx);

    /* COM_STMT_BULK_EXECUTE */
    struct fuzz_ctx bctx = {0, nparams, {0}, {0}};
    sink.ctx = &bctx;
    if (size && !(opt & 8)) {
        payload[0] = PROTO_COM_STMT_BULK_EXECUTE;
    }
    uint32_t rows = 0;
    memcpy(t2, types, sizeof t2);
    rc = proto_bulk_execute_params(payload, size, nparams, t2, &sink, &rows);
    if (rc == PROTO_OK && rows > 0 && bctx.next != nparams) {
        abort();
    }
    fuzz_ctx_free(&bctx);

    /* The small parsers. */
    uint32_t id;
    uint16_t cols, params, param;
    const uint8_t *chunk;
    size_t chunk_len;
    (void)proto_prepare_ok_parse(data, size, &id, &cols, &params);
    (void)proto_stmt_id_parse(data, size, &id);
    if (size && !(opt & 8)) {
        payload[0] = PROTO_COM_STMT_SEND_LONG_DATA;
    }
    if (proto_long_data_parse(payload, size, &id, &param, &chunk, &chunk_len) == PROTO_OK &&
        chunk + chunk_len != payload + size) {
        abort();
    }
    free(payload);
    return 0;
}
