/*
 * proto_redact.c - literal redaction (see proto_redact.h): walks the lexer's tokens, copies
 * each one, and writes `?` for the literals the predicate accepts. Optimizer hints are
 * redacted inside too, since they can carry literals (SET_VAR(x='..')): a hint's body is lexed
 * on its own, and a hint opened inside a hint can only run to the end, so one level of
 * recursion plus restarting the cursor covers every nesting without a stack.
 */
#include "protocol/proto_redact.h"

#include <string.h>

#include "protocol/proto_sqllex.h"

struct rd_out {
    char *buf;
    size_t cap, len;
};

static void
rd_put(struct rd_out *o, const unsigned char *s, size_t n)
{
    if (o->cap == 0) {
        return;
    }
    if (n > o->cap - 1 - o->len) {
        n = o->cap - 1 - o->len;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

struct rd_ctx {
    const unsigned char *s;
    unsigned mode;
    proto_redact_pred pred;
    void *pctx;
    struct rd_out *o;
};

static void
rd_literal(const struct rd_ctx *c, const struct proto_sqltok *t)
{
    const unsigned char *s = c->s;
    if (!c->pred(c->pctx, (const char *)s + t->body_start, t->body_end - t->body_start)) {
        rd_put(c->o, s + t->start, t->end - t->start);
        return;
    }
    if (t->open == PROTO_TOK_STRING && t->prefix_len > 0 && s[t->start] == '_') {
        rd_put(c->o, s + t->start, t->prefix_len); /* _utf8mb4'x' -> _utf8mb4? */
    }
    rd_put(c->o, (const unsigned char *)"?", 1);
}

/* Redacts s[start..end). `top`: the whole statement (a hint found here gets its own call). */
static void
rd_range(const struct rd_ctx *c, size_t start, size_t end, bool top)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, (const char *)c->s + start, end - start, c->mode);
    size_t base = start;
    for (;;) {
        proto_sqllex_next(&lx, &t);
        if (t.kind == PROTO_TOK_END) {
            return;
        }
        t.start += base;
        t.end += base;
        t.body_start += base;
        t.body_end += base;
        if (proto_sqltok_literal(&t)) {
            rd_literal(c, &t);
        } else if (t.open == PROTO_TOK_HINT) {
            rd_put(c->o, c->s + t.start, t.body_start - t.start);
            if (t.kind == PROTO_TOK_HINT && top) {
                rd_range(c, t.body_start, t.body_end, false);
                rd_put(c->o, c->s + t.body_end, t.end - t.body_end);
            } else {
                /* Unterminated: its body runs to `end`, lexed from scratch. */
                base = t.body_start;
                proto_sqllex_init(&lx, (const char *)c->s + base, end - base, c->mode);
            }
        } else {
            rd_put(c->o, c->s + t.start, t.end - t.start);
        }
    }
}

size_t
proto_redact(const char *sql, size_t len, unsigned sqlmode, proto_redact_pred pred, void *ctx,
             char *out, size_t cap)
{
    struct rd_out o = {out, cap, 0};
    if (cap > 0) {
        out[0] = '\0';
    }
    if (!sql || len == 0) {
        return 0;
    }
    struct rd_ctx c = {(const unsigned char *)sql, sqlmode, pred, ctx, &o};
    rd_range(&c, 0, len, true);
    return o.len;
}
