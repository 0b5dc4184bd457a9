/*
 * fuzz_capture.c - libFuzzer target for the capture file's decoder (proto_capture): the first
 * input byte picks raw records, a file (header, then blocks opened with
 * proto_cap_block_open), or an execute payload for proto_cap_execute_params (whose values must
 * lie inside the payload); the rest is decoded record by record. Invariants: the decoder's
 * offset only moves forward and never past the input, every decoded record fits the size its
 * encoder announces, is encoded again and decodes back to the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_capture.h"
#include "protocol/proto_stmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARAMS 64

static void
same_or_abort(bool same)
{
    if (!same) {
        abort();
    }
}

static bool
bytes_eq(const void *a, size_t al, const void *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Encodes r again, decodes it and compares. */
static void
round_trip(const struct proto_cap_record *r)
{
    size_t need = 0;
    switch (r->type) {
    case PROTO_CAP_SESSION:
        need = proto_cap_session_size(&r->u.session);
        break;
    case PROTO_CAP_COMMAND:
        need = proto_cap_command_size(&r->u.command);
        break;
    case PROTO_CAP_FILE:
        need = proto_cap_file_size(&r->u.file);
        break;
    case PROTO_CAP_END:
        need = 64;
        break;
    }
    uint8_t *buf = malloc(need);
    if (!buf) {
        abort();
    }
    size_t len = 0;
    bool ok = false;
    switch (r->type) {
    case PROTO_CAP_SESSION:
        ok = proto_cap_put_session(buf, need, &len, &r->u.session);
        break;
    case PROTO_CAP_COMMAND:
        ok = proto_cap_put_command(buf, need, &len, &r->u.command);
        break;
    case PROTO_CAP_FILE:
        ok = proto_cap_put_file(buf, need, &len, &r->u.file);
        break;
    case PROTO_CAP_END:
        ok = proto_cap_put_end(buf, need, &len, &r->u.end);
        break;
    }
    same_or_abort(ok && len <= need);
    struct proto_cap_param ps[MAX_PARAMS];
    struct proto_cap_record b;
    size_t off = 0;
    same_or_abort(proto_cap_next(buf, len, &off, &b, ps, MAX_PARAMS) && off == len &&
                  b.type == r->type);
    switch (r->type) {
    case PROTO_CAP_SESSION: {
        const struct proto_cap_session *x = &r->u.session, *y = &b.u.session;
        same_or_abort(x->session == y->session && x->t_us == y->t_us &&
                      x->thread_id == y->thread_id && x->client_caps == y->client_caps &&
                      x->charset == y->charset && x->alive == y->alive &&
                      x->sql_mode_set == y->sql_mode_set &&
                      bytes_eq(x->user, x->user_len, y->user, y->user_len) &&
                      bytes_eq(x->schema, x->schema_len, y->schema, y->schema_len) &&
                      bytes_eq(x->host, x->host_len, y->host, y->host_len) &&
                      bytes_eq(x->sql_mode, x->sql_mode_len, y->sql_mode, y->sql_mode_len));
        break;
    }
    case PROTO_CAP_COMMAND: {
        const struct proto_cap_command *x = &r->u.command, *y = &b.u.command;
        same_or_abort(
            x->session == y->session && x->seq == y->seq && x->t_start_us == y->t_start_us &&
            x->t_end_us == y->t_end_us && x->cmd == y->cmd && x->interrupted == y->interrupted &&
            bytes_eq(x->text, x->text_len, y->text, y->text_len) &&
            bytes_eq(x->schema, x->schema_len, y->schema, y->schema_len) &&
            x->stmt_id == y->stmt_id && x->prepare_id == y->prepare_id &&
            x->n_params == y->n_params && x->err == y->err && x->rows == y->rows &&
            x->affected == y->affected && x->insert_id == y->insert_id &&
            x->warnings == y->warnings && x->status == y->status && x->checksum == y->checksum);
        for (uint16_t i = 0; i < x->n_params; i++) {
            const struct proto_cap_param *p = &x->params[i], *q = &y->params[i];
            same_or_abort(p->type == q->type && p->is_unsigned == q->is_unsigned &&
                          p->long_data == q->long_data && p->is_null == q->is_null &&
                          (p->is_null || bytes_eq(p->value, p->value_len, q->value, q->value_len)));
        }
        break;
    }
    case PROTO_CAP_FILE:
        same_or_abort(r->u.file.session == b.u.file.session && r->u.file.seq == b.u.file.seq &&
                      bytes_eq(r->u.file.data, r->u.file.len, b.u.file.data, b.u.file.len));
        break;
    case PROTO_CAP_END:
        same_or_abort(r->u.end.session == b.u.end.session && r->u.end.t_us == b.u.end.t_us);
        break;
    }
    free(buf);
}

static void
records(const uint8_t *in, size_t n)
{
    struct proto_cap_param ps[MAX_PARAMS];
    struct proto_cap_record r;
    size_t off = 0;
    for (;;) {
        size_t before = off;
        bool ok = proto_cap_next(in, n, &off, &r, ps, MAX_PARAMS);
        same_or_abort(off >= before && off <= n);
        if (!ok) {
            break;
        }
        same_or_abort(off > before);
        round_trip(&r);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    bool file = data[0] & 1;
    bool exec = (data[0] & 6) == 6;
    data++;
    size--;
    if (exec && size >= 1) {
        /* an execute payload's parameters: every value inside the payload */
        uint16_t n = data[0];
        struct proto_cap_param out[256];
        struct proto_param_type prev[256];
        for (unsigned i = 0; i < 256; i++) {
            prev[i] = (struct proto_param_type){.type = (uint8_t)i, .is_unsigned = i & 1};
        }
        if (proto_cap_execute_params(data + 1, size - 1, n, file ? prev : NULL, NULL, out)) {
            for (uint16_t i = 0; i < n; i++) {
                if (out[i].value_len &&
                    (out[i].value < data + 1 || out[i].value + out[i].value_len > data + size)) {
                    abort();
                }
            }
        }
        return 0;
    }
    if (!file) {
        records(data, size);
        return 0;
    }
    uint16_t version = 0;
    int64_t created = 0;
    if (!proto_cap_check_header(data, size, &version, &created)) {
        return 0;
    }
    size_t pos = PROTO_CAP_HEADER_LEN;
    while (size - pos >= PROTO_CAP_BLOCK_HEADER_LEN) {
        uint32_t raw_len = 0, zlen = 0;
        uint64_t sum = 0;
        if (!proto_cap_block_header(data + pos, &raw_len, &zlen, &sum)) {
            break;
        }
        pos += PROTO_CAP_BLOCK_HEADER_LEN;
        if (zlen > size - pos) {
            break; /* cut short: the reader stops at the last whole block */
        }
        uint8_t *raw = malloc(raw_len);
        if (!raw) {
            abort();
        }
        bool ok = proto_cap_block_open(data + pos, zlen, raw, raw_len, sum);
        if (ok) {
            records(raw, raw_len);
        }
        free(raw);
        if (!ok) {
            break;
        }
        pos += zlen;
    }
    return 0;
}
