/*
 * proto_sqllex.c - the SQL tokenizer every statement reader shares (see proto_sqllex.h).
 *
 * The rules follow the server's lexer (sql_lex.cc) where it matters for finding where a token
 * ends: strings close at their quote unless it is doubled or (outside NO_BACKSLASH_ESCAPES)
 * escaped by a backslash; identifiers in backticks never take backslash escapes; X'..' and
 * B'..' close at the next quote; `--` starts a comment only before whitespace, a control byte
 * or the end; executable comments are code, with their marker and closing star-slash as
 * tokens of their own. Where the server would report a syntax error, the lexer still yields
 * tokens (a WORD, an OP), so readers never fail.
 */
#include "protocol/proto_sqllex.h"

#include <string.h>

/* Byte classes, one table lookup per byte instead of a chain of comparisons: the lexer reads
 * every byte of every statement. */
#define LEX_SPACE 1u /* ' ' \t \n \r \f \v and NUL */
#define LEX_DIGIT 2u
#define LEX_HEX   4u  /* 0-9 a-f A-F */
#define LEX_IDENT 8u  /* a-z A-Z 0-9 _ $ and every byte >= 0x80 */
#define LEX_OPENS 16u /* # - / *: may start a comment or an executable comment's end */

/* The class of byte c, as a constant expression; the table holds it for c = 0..255. */
#define LEX_IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define LEX_CLASS(c)                                                                               \
    ((((c) == 0 || (c) == ' ' || LEX_IN(c, '\t', '\r')) ? LEX_SPACE : 0u) |                        \
     (LEX_IN(c, '0', '9') ? LEX_DIGIT : 0u) |                                                      \
     ((LEX_IN(c, '0', '9') || LEX_IN(c, 'a', 'f') || LEX_IN(c, 'A', 'F')) ? LEX_HEX : 0u) |        \
     ((LEX_IN(c, '0', '9') || LEX_IN(c, 'a', 'z') || LEX_IN(c, 'A', 'Z') || (c) == '_' ||          \
       (c) == '$' || (c) >= 0x80)                                                                  \
          ? LEX_IDENT                                                                              \
          : 0u) |                                                                                  \
     (((c) == '#' || (c) == '-' || (c) == '/' || (c) == '*') ? LEX_OPENS : 0u))
#define LEX_C4(c)  LEX_CLASS(c), LEX_CLASS((c) + 1), LEX_CLASS((c) + 2), LEX_CLASS((c) + 3)
#define LEX_C16(c) LEX_C4(c), LEX_C4((c) + 4), LEX_C4((c) + 8), LEX_C4((c) + 12)
#define LEX_C64(c) LEX_C16(c), LEX_C16((c) + 16), LEX_C16((c) + 32), LEX_C16((c) + 48)
static const unsigned char lex_class[256] = {LEX_C64(0), LEX_C64(64), LEX_C64(128), LEX_C64(192)};
#undef LEX_C64
#undef LEX_C16
#undef LEX_C4
#undef LEX_CLASS
#undef LEX_IN

static inline bool
lex_space(unsigned char c)
{
    return lex_class[c] & LEX_SPACE;
}

static inline bool
lex_digit(unsigned char c)
{
    return lex_class[c] & LEX_DIGIT;
}

static inline bool
lex_hex(unsigned char c)
{
    return lex_class[c] & LEX_HEX;
}

static inline bool
lex_ident(unsigned char c)
{
    return lex_class[c] & LEX_IDENT;
}

static unsigned char
lex_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Byte i, or 0 past the end (callers check i < len wherever 0 could be mistaken). */
static unsigned char
lex_at(const struct proto_sqllex *lx, size_t i)
{
    return i < lx->len ? lx->s[i] : 0;
}

void
proto_sqllex_init(struct proto_sqllex *lx, const char *sql, size_t len, unsigned sqlmode)
{
    lx->s = (const unsigned char *)sql;
    lx->len = sql ? len : 0;
    lx->pos = 0;
    lx->mode = sqlmode;
    lx->in_exec = false;
    lx->after_name = false;
}

/* Finishes a quoted token whose opening quote q is at s[q_at]: doubled quotes stay inside,
 * and a backslash escapes the next byte when `backslash`; `doubling` false closes at the
 * first quote (X'..', B'..'). */
static void
lex_quoted(const struct proto_sqllex *lx, struct proto_sqltok *t, size_t q_at, bool backslash,
           bool doubling)
{
    unsigned char q = lx->s[q_at];
    size_t p = q_at + 1;
    t->body_start = p;
    while (p < lx->len) {
        unsigned char c = lx->s[p];
        if (backslash && c == '\\') {
            p += 2;
            continue;
        }
        if (c == q) {
            if (doubling && p + 1 < lx->len && lx->s[p + 1] == q) {
                p += 2;
                continue;
            }
            t->body_end = p;
            t->end = p + 1;
            return;
        }
        p++;
    }
    t->open = t->kind;
    t->kind = PROTO_TOK_UNTERMINATED;
    t->body_end = lx->len;
    t->end = lx->len;
}

/* A token starting with a digit (or '.' digit): numbers, 0x.. / 0b.. literals, or a
 * digit-led identifier (1abc, 123_tmp, 0x1g) when no '.' or exponent makes it a number. */
static void
lex_number(const struct proto_sqllex *lx, struct proto_sqltok *t)
{
    size_t p = t->start;
    const unsigned char *s = lx->s;
    size_t n = lx->len;
    if (s[p] == '0' && p + 2 < n && (s[p + 1] == 'x' || s[p + 1] == 'X') && lex_hex(s[p + 2])) {
        size_t q = p + 2;
        while (q < n && lex_hex(s[q])) {
            q++;
        }
        if (q >= n || !lex_ident(s[q])) {
            t->kind = PROTO_TOK_HEX;
            t->end = q;
            return;
        }
    } else if (s[p] == '0' && p + 2 < n && (s[p + 1] == 'b' || s[p + 1] == 'B') &&
               (s[p + 2] == '0' || s[p + 2] == '1')) {
        size_t q = p + 2;
        while (q < n && (s[q] == '0' || s[q] == '1')) {
            q++;
        }
        if (q >= n || !lex_ident(s[q])) {
            t->kind = PROTO_TOK_BIT;
            t->end = q;
            return;
        }
    }
    size_t q = p;
    bool plain = true;
    while (q < n && lex_digit(s[q])) {
        q++;
    }
    if (q < n && s[q] == '.') {
        plain = false;
        q++;
        while (q < n && lex_digit(s[q])) {
            q++;
        }
    }
    if (q < n && (s[q] == 'e' || s[q] == 'E')) {
        size_t e = q + 1;
        if (e < n && (s[e] == '+' || s[e] == '-')) {
            e++;
        }
        if (e < n && lex_digit(s[e])) {
            plain = false;
            q = e;
            while (q < n && lex_digit(s[q])) {
                q++;
            }
        }
    }
    if (plain && q < n && lex_ident(s[q])) {
        while (q < n && lex_ident(s[q])) {
            q++;
        }
        t->kind = PROTO_TOK_WORD;
    } else {
        t->kind = PROTO_TOK_NUMBER;
    }
    t->end = q;
}

/* Comments, hints and executable-comment markers at t->start; false if there is none. */
static bool
lex_comment(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    size_t p = t->start;
    unsigned char c = lx->s[p];
    if (c == '#' || (c == '-' && lex_at(lx, p + 1) == '-' && p + 1 < lx->len &&
                     (p + 2 >= lx->len || lx->s[p + 2] <= ' '))) {
        size_t q = p;
        while (q < lx->len && lx->s[q] != '\n') {
            q++;
        }
        t->kind = PROTO_TOK_COMMENT;
        t->body_start = p + (c == '#' ? 1 : 2);
        t->body_end = q;
        t->end = q;
        return true;
    }
    if (c == '*' && lx->in_exec && p + 1 < lx->len && lx->s[p + 1] == '/') {
        lx->in_exec = false;
        t->kind = PROTO_TOK_EXEC_CLOSE;
        t->end = p + 2;
        return true;
    }
    if (c != '/' || p + 1 >= lx->len || lx->s[p + 1] != '*') {
        return false;
    }
    size_t q = p + 2;
    if (!lx->in_exec && q < lx->len &&
        (lx->s[q] == '!' || (lx->s[q] == 'M' && q + 1 < lx->len && lx->s[q + 1] == '!'))) {
        q += lx->s[q] == '!' ? 1 : 2;
        while (q < lx->len && lex_digit(lx->s[q])) {
            q++;
        }
        lx->in_exec = true;
        t->kind = PROTO_TOK_EXEC_OPEN;
        t->end = q;
        return true;
    }
    t->kind = q < lx->len && lx->s[q] == '+' ? PROTO_TOK_HINT : PROTO_TOK_COMMENT;
    t->body_start = t->kind == PROTO_TOK_HINT ? q + 1 : q;
    while (q + 1 < lx->len && !(lx->s[q] == '*' && lx->s[q + 1] == '/')) {
        q++;
    }
    if (q + 1 < lx->len) {
        t->body_end = q;
        t->end = q + 2;
    } else {
        t->open = t->kind;
        t->kind = PROTO_TOK_UNTERMINATED;
        t->body_end = lx->len;
        t->end = lx->len;
    }
    if (t->body_start > t->body_end) {
        t->body_start = t->body_end; /* "/<star>+" cut right after the plus */
    }
    return true;
}

/* Length of the multi-byte operator at p (2 or 3), or 1: <=> ->> <= >= <> != := || && << >>
 * ->. */
static size_t
lex_op_len(const struct proto_sqllex *lx, size_t p)
{
    unsigned char c = lx->s[p];
    unsigned char d = lex_at(lx, p + 1);
    if (p + 1 >= lx->len) {
        return 1;
    }
    switch (c) {
    case '<':
        if (d == '=' && lex_at(lx, p + 2) == '>' && p + 2 < lx->len) {
            return 3;
        }
        return d == '=' || d == '>' || d == '<' ? 2 : 1;
    case '-':
        if (d == '>') {
            return lex_at(lx, p + 2) == '>' && p + 2 < lx->len ? 3 : 2;
        }
        return 1;
    case '>':
        return d == '=' || d == '>' ? 2 : 1;
    case '!':
    case ':':
        return d == '=' ? 2 : 1;
    case '|':
    case '&':
        return d == c ? 2 : 1;
    default:
        return 1;
    }
}

/* An introducer glued to a quote: N'..' or _charset'..' (also _charset".." outside
 * ANSI_QUOTES). Returns the prefix length (0: none) for the word s[p..q). */
static size_t
lex_introducer(const struct proto_sqllex *lx, size_t p, size_t q)
{
    if (q >= lx->len) {
        return 0;
    }
    unsigned char c = lx->s[q];
    if (q - p == 1 && lex_lower(lx->s[p]) == 'n' && c == '\'') {
        return 1;
    }
    if (q - p >= 2 && lx->s[p] == '_' &&
        (c == '\'' || (c == '"' && !(lx->mode & PROTO_SQLMODE_ANSI_QUOTES)))) {
        return q - p;
    }
    return 0;
}

/* proto_sqltok_blank's test on a kind, inlined into the lexer's loop. */
static inline bool
lex_blank_kind(enum proto_tok k)
{
    return k == PROTO_TOK_SPACE || k == PROTO_TOK_COMMENT || k == PROTO_TOK_HINT ||
           k == PROTO_TOK_EXEC_OPEN || k == PROTO_TOK_EXEC_CLOSE;
}

enum proto_tok
proto_sqllex_next(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    size_t p = lx->pos;
    bool backslash = !(lx->mode & PROTO_SQLMODE_NO_BACKSLASH_ESCAPES);
    t->start = p;
    t->prefix_len = 0;
    if (p >= lx->len) {
        t->kind = t->open = PROTO_TOK_END;
        t->end = t->body_start = t->body_end = p;
        return t->kind;
    }
    unsigned char c = lx->s[p];
    t->kind = PROTO_TOK_OP;
    t->end = p + 1;
    if (lex_space(c)) {
        size_t q = p;
        while (q < lx->len && lex_space(lx->s[q])) {
            q++;
        }
        t->kind = PROTO_TOK_SPACE;
        t->end = q;
    } else if ((lex_class[c] & LEX_OPENS) && lex_comment(lx, t)) {
        /* kind and end set */
    } else if (c == '\'' || (c == '"' && !(lx->mode & PROTO_SQLMODE_ANSI_QUOTES))) {
        t->kind = PROTO_TOK_STRING;
        lex_quoted(lx, t, p, backslash, true);
    } else if (c == '`' || c == '"') {
        t->kind = PROTO_TOK_QIDENT;
        lex_quoted(lx, t, p, false, true);
    } else if (lex_digit(c) ||
               (c == '.' && p + 1 < lx->len && lex_digit(lx->s[p + 1]) && !lx->after_name)) {
        lex_number(lx, t);
    } else if (lex_ident(c)) {
        unsigned char l = lex_lower(c);
        size_t q = p;
        while (q < lx->len && lex_ident(lx->s[q])) {
            q++;
        }
        size_t intro = lex_introducer(lx, p, q);
        if ((l == 'x' || l == 'b') && p + 1 < lx->len && lx->s[p + 1] == '\'') {
            t->kind = l == 'x' ? PROTO_TOK_HEX : PROTO_TOK_BIT;
            t->prefix_len = 1;
            lex_quoted(lx, t, p + 1, false, false);
        } else if (intro > 0) {
            t->kind = PROTO_TOK_STRING;
            t->prefix_len = intro;
            lex_quoted(lx, t, q, backslash, true);
        } else {
            t->kind = PROTO_TOK_WORD;
            t->end = q;
        }
    } else if (c == '?') {
        t->kind = PROTO_TOK_PARAM;
    } else if (c == ':' && p + 1 < lx->len && lex_ident(lx->s[p + 1]) && !lex_digit(lx->s[p + 1])) {
        size_t q = p + 1;
        while (q < lx->len && lex_ident(lx->s[q])) {
            q++;
        }
        t->kind = PROTO_TOK_NAMED_PARAM;
        t->end = q;
        t->body_start = p + 1;
        t->body_end = q;
    } else {
        t->end = p + lex_op_len(lx, p);
    }
    if (t->kind != PROTO_TOK_UNTERMINATED) {
        t->open = t->kind;
    }
    switch (t->kind) {
    case PROTO_TOK_STRING:
    case PROTO_TOK_QIDENT:
    case PROTO_TOK_HEX:
    case PROTO_TOK_BIT:
    case PROTO_TOK_COMMENT:
    case PROTO_TOK_HINT:
    case PROTO_TOK_UNTERMINATED:
    case PROTO_TOK_NAMED_PARAM:
        if (t->kind == PROTO_TOK_HEX || t->kind == PROTO_TOK_BIT) {
            if (t->prefix_len == 0) {
                t->body_start = t->start;
                t->body_end = t->end;
            }
        }
        break;
    default:
        t->body_start = t->start;
        t->body_end = t->end;
        break;
    }
    lx->pos = t->end;
    lx->after_name = !lex_blank_kind(t->open) && (t->kind != PROTO_TOK_OP || c == ')');
    return t->kind;
}

bool
proto_sqltok_blank(const struct proto_sqltok *t)
{
    return lex_blank_kind(t->open);
}

bool
proto_sqltok_literal(const struct proto_sqltok *t)
{
    return t->open == PROTO_TOK_STRING || t->open == PROTO_TOK_NUMBER || t->open == PROTO_TOK_HEX ||
           t->open == PROTO_TOK_BIT;
}

bool
proto_sqltok_word_is(const struct proto_sqllex *lx, const struct proto_sqltok *t, const char *w)
{
    size_t n = strlen(w);
    if (t->kind != PROTO_TOK_WORD || t->end - t->start != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lex_lower(lx->s[t->start + i]) != (unsigned char)w[i]) {
            return false;
        }
    }
    return true;
}

bool
proto_sqltok_op_is(const struct proto_sqllex *lx, const struct proto_sqltok *t, const char *op)
{
    size_t n = strlen(op);
    return t->kind == PROTO_TOK_OP && t->end - t->start == n &&
           memcmp(lx->s + t->start, op, n) == 0;
}
