/*
 * proto_fingerprint.c - statement fingerprints, their FNV-1a 64 digest, statement
 * classification and USE-schema extraction, all driven by one small SQL lexer.
 *
 * The fingerprint reproduces what pt-query-digest's QueryRewriter::fingerprint prints with
 * --preserve-embedded-numbers (identifiers such as t1 or col_2 are kept), computed in one pass
 * over the text instead of a chain of regexes. Same as pt-query-digest:
 *   - numbers (ints, decimals, exponents, 0x.., 0b..), quoted strings, X'..', B'..', N'..'
 *     become `?`; a sign directly before a number becomes part of it when the sign cannot be a
 *     binary operator (after an operator, `(`, `,`, a keyword such as WHERE or at the start);
 *   - `IN (..)`, `VALUES (..),(..)` and `VALUE (..)` whose lists hold only literals become
 *     `in(?+)`, `values(?+)`, `value(?+)`; an INSERT/REPLACE whose VALUES rows hold other
 *     expressions keeps its first row only;
 *   - `LIMIT a`, `LIMIT a, b` and `LIMIT a OFFSET b` all become `limit ?`;
 *   - after ORDER BY, the word ASC is dropped;
 *   - `USE db` becomes `use ?`; `CALL proc(...)` becomes `call proc` (also with whitespace
 *     before the `(`, where pt keeps the arguments);
 *   - whitespace runs collapse to one space, leading/trailing whitespace goes, case is folded.
 * Deliberate differences from pt-query-digest 3.2.1:
 *   - NULL, TRUE and FALSE stay words (pt folds them to `?`); inside an IN/VALUES list they
 *     count as literals, so the list still collapses;
 *   - backtick identifiers keep their case (pt lowercases them): table names are case-sensitive;
 *   - comments are removed and act as whitespace; executable comments `/<star>! ... <star>/`
 *     and `/<star>M! ... <star>/` are unwrapped: their marker, version number and closing
 *     `<star>/` act as whitespace and their content is fingerprinted as ordinary SQL, since the
 *     server runs it (pt keeps `/<star>!` text and drops `/<star>M!` text);
 *   - doubled quotes ('it''s') and backslash escapes stay inside one literal (pt makes `??`);
 *     the server's NO_BACKSLASH_ESCAPES mode is not known here, backslash always escapes;
 *   - an unterminated string becomes `?` to the end, an unterminated comment is dropped;
 *   - trailing `;` (with any whitespace/comments around it) is removed;
 *   - `a+1`, `a-1` stay `a+?`, `a-?` (pt eats the operator), 0x1F is `?` (pt: `?f`);
 *   - a multi-row INSERT keeps what follows its rows (ON DUPLICATE KEY UPDATE ...);
 *   - pt's UNION de-duplication (`/<star>repeat union<star>/`) and its mysqldump /
 *     percona-toolkit special cases are not reproduced.
 * NUL bytes are whitespace outside literals and `?` inside backtick identifiers, so the
 * fingerprint never contains a NUL.
 */
#include "proto_fingerprint.h"

#include <string.h>

#define FP_FNV_OFFSET 0xcbf29ce484222325ull
#define FP_FNV_PRIME  0x100000001b3ull
#define FP_MAX_NEST   4 /* nesting of row tuples inside an IN/VALUES list */

enum fp_kind {
    FP_END = 0,
    FP_WS,    /* whitespace, comments, executable-comment markers */
    FP_WORD,  /* keyword or bare identifier */
    FP_NUM,   /* numeric literal */
    FP_STR,   /* quoted string or X'..' / B'..' / N'..' literal */
    FP_QID,   /* `backtick identifier` */
    FP_PARAM, /* ? placeholder */
    FP_PUNCT, /* any other single byte */
};

struct fp_lex {
    const unsigned char *s;
    size_t len;
    size_t pos;
    bool in_exec;    /* inside an executable comment: the next star-slash closes it */
    bool after_name; /* last token: a name, a literal or `)` (a . is no number) */
};

struct fp_tok {
    enum fp_kind kind;
    size_t start;
    size_t end;
};

static bool
fp_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0;
}

static bool
fp_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
fp_is_hex(unsigned char c)
{
    return fp_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
fp_is_ident(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || fp_is_digit(c) || c == '_' ||
           c == '$' || c >= 0x80;
}

static unsigned char
fp_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static unsigned char
fp_at(const struct fp_lex *lx, size_t i)
{
    return i < lx->len ? lx->s[i] : 0;
}

static void
fp_lex_init(struct fp_lex *lx, const char *sql, size_t len)
{
    lx->s = (const unsigned char *)sql;
    lx->len = sql ? len : 0;
    lx->pos = 0;
    lx->in_exec = false;
    lx->after_name = false;
}

/* Skips one comment or executable-comment marker at lx->pos; false if there is none. */
static bool
fp_skip_comment(struct fp_lex *lx)
{
    size_t p = lx->pos;
    unsigned char c = fp_at(lx, p);
    if (c == '#' ||
        (c == '-' && fp_at(lx, p + 1) == '-' && (p + 2 >= lx->len || lx->s[p + 2] <= ' '))) {
        while (p < lx->len && lx->s[p] != '\n') {
            p++;
        }
        lx->pos = p;
        return true;
    }
    if (c == '*' && lx->in_exec && fp_at(lx, p + 1) == '/' && p + 1 < lx->len) {
        lx->in_exec = false;
        lx->pos = p + 2;
        return true;
    }
    if (c != '/' || fp_at(lx, p + 1) != '*' || p + 1 >= lx->len) {
        return false;
    }
    p += 2;
    if (!lx->in_exec && p < lx->len &&
        (lx->s[p] == '!' || (lx->s[p] == 'M' && fp_at(lx, p + 1) == '!' && p + 1 < lx->len))) {
        p += lx->s[p] == '!' ? 1 : 2;
        while (p < lx->len && fp_is_digit(lx->s[p])) {
            p++;
        }
        lx->in_exec = true;
        lx->pos = p;
        return true;
    }
    while (p + 1 < lx->len && !(lx->s[p] == '*' && lx->s[p + 1] == '/')) {
        p++;
    }
    lx->pos = p + 1 < lx->len ? p + 2 : lx->len;
    return true;
}

/* End of a quoted run opened by lx->s[p] (quote char q), honouring backslash and doubling. */
static size_t
fp_quoted_end(const struct fp_lex *lx, size_t p, unsigned char q, bool backslash)
{
    p++;
    while (p < lx->len) {
        unsigned char c = lx->s[p];
        if (backslash && c == '\\') {
            p += 2;
            continue;
        }
        if (c == q) {
            if (p + 1 < lx->len && lx->s[p + 1] == q) {
                p += 2;
                continue;
            }
            return p + 1;
        }
        p++;
    }
    return lx->len;
}

/* Scans a token starting with a digit (or '.' digit). Numbers become FP_NUM; a digit-led run
 * of identifier characters without '.' or exponent (1abc, 123_tmp) is an identifier. */
static void
fp_scan_number(const struct fp_lex *lx, struct fp_tok *t)
{
    size_t p = t->start;
    const unsigned char *s = lx->s;
    size_t n = lx->len;
    if (s[p] == '0' && p + 2 < n && (s[p + 1] == 'x' || s[p + 1] == 'X') && fp_is_hex(s[p + 2])) {
        size_t q = p + 2;
        while (q < n && fp_is_hex(s[q])) {
            q++;
        }
        if (q >= n || !fp_is_ident(s[q])) {
            t->kind = FP_NUM;
            t->end = q;
            return;
        }
    } else if (s[p] == '0' && p + 2 < n && (s[p + 1] == 'b' || s[p + 1] == 'B') &&
               (s[p + 2] == '0' || s[p + 2] == '1')) {
        size_t q = p + 2;
        while (q < n && (s[q] == '0' || s[q] == '1')) {
            q++;
        }
        if (q >= n || !fp_is_ident(s[q])) {
            t->kind = FP_NUM;
            t->end = q;
            return;
        }
    }
    size_t q = p;
    bool plain = true;
    while (q < n && fp_is_digit(s[q])) {
        q++;
    }
    if (q < n && s[q] == '.') {
        plain = false;
        q++;
        while (q < n && fp_is_digit(s[q])) {
            q++;
        }
    }
    if (q < n && (s[q] == 'e' || s[q] == 'E')) {
        size_t e = q + 1;
        if (e < n && (s[e] == '+' || s[e] == '-')) {
            e++;
        }
        if (e < n && fp_is_digit(s[e])) {
            plain = false;
            q = e;
            while (q < n && fp_is_digit(s[q])) {
                q++;
            }
        }
    }
    if (plain && q < n && fp_is_ident(s[q])) {
        while (q < n && fp_is_ident(s[q])) {
            q++;
        }
        t->kind = FP_WORD;
    } else {
        t->kind = FP_NUM;
    }
    t->end = q;
}

/* Reads the next token. Consecutive whitespace and comments form one FP_WS token. */
static void
fp_next(struct fp_lex *lx, struct fp_tok *t)
{
    size_t p = lx->pos;
    t->start = p;
    if (p >= lx->len) {
        t->kind = FP_END;
        t->end = p;
        return;
    }
    if (fp_is_space(lx->s[p]) || fp_skip_comment(lx)) {
        for (;;) {
            while (lx->pos < lx->len && fp_is_space(lx->s[lx->pos])) {
                lx->pos++;
            }
            if (lx->pos >= lx->len || !fp_skip_comment(lx)) {
                break;
            }
        }
        t->kind = FP_WS;
        t->end = lx->pos;
        lx->after_name = false;
        return;
    }
    unsigned char c = lx->s[p];
    if (c == '\'' || c == '"') {
        t->kind = FP_STR;
        t->end = fp_quoted_end(lx, p, c, true);
    } else if (c == '`') {
        t->kind = FP_QID;
        t->end = fp_quoted_end(lx, p, c, false);
    } else if (fp_is_digit(c) ||
               (c == '.' && fp_is_digit(fp_at(lx, p + 1)) && p + 1 < lx->len && !lx->after_name)) {
        fp_scan_number(lx, t);
    } else if (fp_is_ident(c)) {
        unsigned char l = fp_lower(c);
        if ((l == 'x' || l == 'b' || l == 'n') && fp_at(lx, p + 1) == '\'' && p + 1 < lx->len) {
            t->kind = FP_STR;
            t->end = fp_quoted_end(lx, p + 1, '\'', l == 'n');
        } else {
            size_t q = p;
            while (q < lx->len && fp_is_ident(lx->s[q])) {
                q++;
            }
            t->kind = FP_WORD;
            t->end = q;
        }
    } else if (c == '?') {
        t->kind = FP_PARAM;
        t->end = p + 1;
    } else {
        t->kind = FP_PUNCT;
        t->end = p + 1;
    }
    lx->pos = t->end;
    lx->after_name = t->kind != FP_PUNCT || c == ')';
}

/* Next token that is not whitespace. */
static void
fp_next_sig(struct fp_lex *lx, struct fp_tok *t)
{
    do {
        fp_next(lx, t);
    } while (t->kind == FP_WS);
}

static bool
fp_word_is(const struct fp_lex *lx, const struct fp_tok *t, const char *w)
{
    size_t n = strlen(w);
    if (t->kind != FP_WORD || t->end - t->start != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (fp_lower(lx->s[t->start + i]) != (unsigned char)w[i]) {
            return false;
        }
    }
    return true;
}

static bool
fp_punct_is(const struct fp_lex *lx, const struct fp_tok *t, char c)
{
    return t->kind == FP_PUNCT && lx->s[t->start] == (unsigned char)c;
}

/* True when nothing but whitespace, comments and `;` follows lx->pos. Otherwise *sig is the
 * start of the next significant token. */
static bool
fp_only_trailing(const struct fp_lex *lx, size_t *sig)
{
    struct fp_lex c = *lx;
    struct fp_tok t;
    for (;;) {
        fp_next(&c, &t);
        if (t.kind == FP_END) {
            return true;
        }
        if (t.kind != FP_WS && !fp_punct_is(&c, &t, ';')) {
            *sig = t.start;
            return false;
        }
    }
}

/* A literal as far as list folding goes: number, string, placeholder, NULL/TRUE/FALSE. */
static bool
fp_is_literal(const struct fp_lex *lx, const struct fp_tok *t)
{
    return t->kind == FP_NUM || t->kind == FP_STR || t->kind == FP_PARAM ||
           fp_word_is(lx, t, "null") || fp_word_is(lx, t, "true") || fp_word_is(lx, t, "false");
}

/* Scans the body of a parenthesised list after its '(' up to and including the matching ')'.
 * True when it holds only literals, signs before numbers, commas and (nested) literal tuples. */
static bool
fp_scan_literal_group(struct fp_lex *lx, int nest)
{
    struct fp_tok t;
    for (;;) {
        fp_next_sig(lx, &t);
        if (t.kind == FP_END) {
            return false;
        }
        if (fp_punct_is(lx, &t, ')')) {
            return true;
        }
        if (fp_punct_is(lx, &t, ',') || fp_is_literal(lx, &t)) {
            continue;
        }
        if (fp_punct_is(lx, &t, '-') || fp_punct_is(lx, &t, '+')) {
            struct fp_tok n;
            fp_next(lx, &n);
            if (n.kind != FP_NUM) {
                return false;
            }
            continue;
        }
        if (fp_punct_is(lx, &t, '(') && nest < FP_MAX_NEST && fp_scan_literal_group(lx, nest + 1)) {
            continue;
        }
        return false;
    }
}

/* After IN / VALUES / VALUE: one or more literal groups separated by whitespace and commas.
 * Returns true and the position after the last group when there is at least one. */
static bool
fp_scan_literal_lists(const struct fp_lex *lx, struct fp_lex *after)
{
    struct fp_lex c = *lx;
    struct fp_tok t;
    int groups = 0;
    for (;;) {
        do {
            fp_next(&c, &t);
        } while (t.kind == FP_WS || (groups > 0 && fp_punct_is(&c, &t, ',')));
        if (!fp_punct_is(&c, &t, '(') || !fp_scan_literal_group(&c, 0)) {
            break;
        }
        groups++;
        *after = c;
    }
    return groups > 0;
}

/* A LIMIT operand at c->pos: optional whitespace, then a signed number, a placeholder or a
 * string (pt-query-digest folds strings first, so `LIMIT '1'` is `limit ?` there too). */
static bool
fp_scan_limit_operand(struct fp_lex *c)
{
    struct fp_tok t;
    fp_next_sig(c, &t);
    if (fp_punct_is(c, &t, '-') || fp_punct_is(c, &t, '+')) {
        fp_next(c, &t);
        return t.kind == FP_NUM;
    }
    return t.kind == FP_NUM || t.kind == FP_PARAM || t.kind == FP_STR;
}

/* After LIMIT: `a`, `a, b` or `a OFFSET b` with number/placeholder operands. */
static bool
fp_scan_limit(const struct fp_lex *lx, struct fp_lex *after)
{
    struct fp_lex c = *lx;
    struct fp_tok t;
    fp_next(&c, &t);
    if (t.kind != FP_WS) {
        return false; /* LIMIT must be followed by whitespace or a comment */
    }
    if (!fp_scan_limit_operand(&c)) {
        return false;
    }
    /* Further `, b` / `OFFSET b` (only one is valid SQL; absorbing all keeps the fingerprint
     * of a fingerprint unchanged). */
    do {
        *after = c;
        fp_next_sig(&c, &t);
    } while ((fp_punct_is(&c, &t, ',') || fp_word_is(&c, &t, "offset")) &&
             fp_scan_limit_operand(&c));
    return true;
}

/* Skips a balanced parenthesised group whose '(' was just read. */
static void
fp_skip_group(struct fp_lex *lx)
{
    size_t depth = 1;
    struct fp_tok t;
    while (depth > 0) {
        fp_next(lx, &t);
        if (t.kind == FP_END) {
            return;
        }
        if (fp_punct_is(lx, &t, '(')) {
            depth++;
        } else if (fp_punct_is(lx, &t, ')')) {
            depth--;
        }
    }
}

/* INSERT ... VALUES (...), (...): like pt-query-digest, only the first row counts. Skips
 * every further `, (...)` row after the one just read. */
static void
fp_skip_rows(struct fp_lex *lx)
{
    for (;;) {
        struct fp_lex peek = *lx;
        struct fp_tok n;
        fp_next_sig(&peek, &n);
        if (!fp_punct_is(&peek, &n, ',')) {
            return;
        }
        fp_next_sig(&peek, &n);
        if (!fp_punct_is(&peek, &n, '(')) {
            return;
        }
        fp_skip_group(&peek);
        *lx = peek;
    }
}

/* Keywords after which a sign starts a number rather than subtracting. */
static bool
fp_is_unary_keyword(const struct fp_lex *lx, const struct fp_tok *t)
{
    static const char *const kw[] = {
        "select", "where",  "and",    "or",     "not", "xor",  "when",     "then", "else",
        "by",     "set",    "values", "value",  "in",  "like", "between",  "is",   "return",
        "limit",  "offset", "on",     "having", "div", "mod",  "interval", "case"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        if (fp_word_is(lx, t, kw[i])) {
            return true;
        }
    }
    return false;
}

struct fp_out {
    char *buf;
    size_t cap;
    size_t n; /* bytes of the whole fingerprint so far */
    uint64_t h;
    bool space; /* a separator is owed before the next byte */
};

static void
fp_put(struct fp_out *o, unsigned char c)
{
    if (o->space) {
        o->space = false;
        fp_put(o, ' ');
    }
    o->h ^= c;
    o->h *= FP_FNV_PRIME;
    if (o->buf && o->n + 1 < o->cap) {
        o->buf[o->n] = (char)c;
    }
    o->n++;
}

static void
fp_puts(struct fp_out *o, const char *s)
{
    while (*s) {
        fp_put(o, (unsigned char)*s++);
    }
}

static void
fp_put_lower(struct fp_out *o, const struct fp_lex *lx, const struct fp_tok *t)
{
    for (size_t i = t->start; i < t->end; i++) {
        fp_put(o, fp_lower(lx->s[i]));
    }
}

static void
fp_put_raw(struct fp_out *o, const struct fp_lex *lx, const struct fp_tok *t)
{
    for (size_t i = t->start; i < t->end; i++) {
        fp_put(o, lx->s[i] ? lx->s[i] : '?');
    }
}

/* `USE db` -> `use ?`, `CALL proc(` -> `call proc`. True when handled. */
static bool
fp_special(const struct fp_lex *start, const struct fp_tok *first, struct fp_out *o)
{
    struct fp_lex c = *start;
    struct fp_tok t;
    if (fp_word_is(&c, first, "use")) {
        fp_next(&c, &t);
        if (t.kind != FP_WS) {
            return false;
        }
        fp_next(&c, &t);
        size_t sig;
        if ((t.kind != FP_WORD && t.kind != FP_QID) || !fp_only_trailing(&c, &sig)) {
            return false;
        }
        fp_puts(o, "use ?");
        return true;
    }
    if (fp_word_is(&c, first, "call")) {
        fp_next(&c, &t);
        if (t.kind != FP_WS) {
            return false;
        }
        struct fp_lex name = c;
        size_t name_end = c.pos;
        for (;;) {
            fp_next(&c, &t);
            if (t.kind != FP_WORD && t.kind != FP_QID && !fp_punct_is(&c, &t, '.')) {
                break;
            }
            name_end = t.end;
        }
        if (t.kind == FP_WS) {
            fp_next(&c, &t);
        }
        if (!fp_punct_is(&c, &t, '(') || name_end == name.pos) {
            return false;
        }
        fp_puts(o, "call ");
        struct fp_lex n = name;
        while (n.pos < name_end) {
            struct fp_tok w;
            fp_next(&n, &w);
            if (w.kind == FP_QID) {
                fp_put_raw(o, &n, &w);
            } else {
                fp_put_lower(o, &n, &w);
            }
        }
        return true;
    }
    return false;
}

uint64_t
proto_fingerprint(const char *sql, size_t len, char *out, size_t cap)
{
    struct fp_out o = {.buf = out, .cap = cap, .n = 0, .h = FP_FNV_OFFSET, .space = false};
    struct fp_lex lx;
    struct fp_tok t;
    fp_lex_init(&lx, sql, len);

    struct fp_lex first_lx = lx;
    struct fp_tok first;
    fp_next_sig(&first_lx, &first);
    bool is_insert =
        fp_word_is(&first_lx, &first, "insert") || fp_word_is(&first_lx, &first, "replace");
    if (first.kind == FP_WORD && fp_special(&first_lx, &first, &o)) {
        goto done;
    }

    bool operand = false;    /* the previous significant token ends an operand */
    bool prev_order = false; /* the previous significant token is the word ORDER */
    bool order_by = false;   /* ORDER BY seen: ASC is dropped */
    bool values_open = false, values_done = false;
    size_t depth = 0, values_depth = 0;
    size_t nontrail = 0; /* `;` before this position are known not to be trailing */

    for (;;) {
        fp_next(&lx, &t);
        if (t.kind == FP_END) {
            break;
        }
        if (t.kind == FP_WS) {
            o.space = o.n > 0;
            continue;
        }
        bool was_order = prev_order;
        prev_order = false;
        if (values_open && !fp_punct_is(&lx, &t, '(')) {
            values_open = false;
        }
        switch (t.kind) {
        case FP_WORD: {
            struct fp_lex end;
            bool is_list = fp_word_is(&lx, &t, "in") || fp_word_is(&lx, &t, "values") ||
                           fp_word_is(&lx, &t, "value");
            if (is_list && fp_scan_literal_lists(&lx, &end)) {
                fp_put_lower(&o, &lx, &t);
                fp_puts(&o, "(?+)");
                lx = end;
                if (is_insert && !fp_word_is(&lx, &t, "in")) {
                    values_done = true;
                    fp_skip_rows(&lx);
                }
                operand = true;
                break;
            }
            if (fp_word_is(&lx, &t, "limit") && fp_scan_limit(&lx, &end)) {
                fp_puts(&o, "limit ?");
                lx = end;
                operand = true;
                break;
            }
            if (order_by && fp_word_is(&lx, &t, "asc")) {
                o.space = false;
                break;
            }
            if (was_order && fp_word_is(&lx, &t, "by")) {
                order_by = true;
            }
            prev_order = fp_word_is(&lx, &t, "order");
            if (is_list && is_insert && !values_done && !fp_word_is(&lx, &t, "in")) {
                values_open = true;
            }
            fp_put_lower(&o, &lx, &t);
            operand = !fp_is_unary_keyword(&lx, &t);
            break;
        }
        case FP_NUM:
        case FP_STR:
        case FP_PARAM:
            fp_put(&o, '?');
            operand = true;
            break;
        case FP_QID:
            fp_put_raw(&o, &lx, &t);
            operand = true;
            break;
        default: {
            unsigned char c = lx.s[t.start];
            if ((c == '-' || c == '+') && !operand) {
                struct fp_lex peek = lx;
                struct fp_tok n;
                fp_next(&peek, &n);
                if (n.kind == FP_NUM) {
                    lx = peek;
                    fp_put(&o, '?');
                    operand = true;
                    break;
                }
            }
            if (c == ';' && t.start >= nontrail) {
                if (fp_only_trailing(&lx, &nontrail)) {
                    goto done;
                }
            }
            fp_put(&o, c);
            operand = c == ')';
            if (c == ';') {
                order_by = false; /* a new statement starts */
            }
            if (c == '(') {
                depth++;
                if (values_open) {
                    values_open = false;
                    values_depth = depth;
                }
            } else if (c == ')' && depth > 0) {
                if (depth == values_depth) {
                    /* INSERT ... VALUES (expr, ...), (...): keep the first row only. */
                    values_depth = 0;
                    values_done = true;
                    fp_skip_rows(&lx);
                }
                depth--;
            }
            break;
        }
        }
    }
done:
    if (out && cap > 0) {
        out[o.n < cap ? o.n : cap - 1] = '\0';
    }
    return o.h;
}

void
proto_digest_hex(uint64_t digest, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[digest & 0xf];
        digest >>= 4;
    }
    out[16] = '\0';
}

/* Main statement of a WITH: the first SELECT/TABLE/VALUES (or `(`) at depth 0 after a CTE
 * body, or a data-changing keyword at depth 0. */
static enum proto_stmt_kind
fp_classify_with(struct fp_lex *lx)
{
    struct fp_tok t;
    size_t depth = 0;
    bool after_body = false, main_paren = false;
    for (;;) {
        fp_next_sig(lx, &t);
        if (t.kind == FP_END) {
            return PROTO_STMT_OTHER;
        }
        if (main_paren && t.kind == FP_WORD) {
            return fp_word_is(lx, &t, "select") ? PROTO_STMT_SELECT : PROTO_STMT_OTHER;
        }
        if (fp_punct_is(lx, &t, '(')) {
            if (depth == 0 && after_body) {
                main_paren = true;
            }
            depth++;
            after_body = false;
            continue;
        }
        if (fp_punct_is(lx, &t, ')')) {
            if (depth > 0 && --depth == 0) {
                after_body = true;
            }
            continue;
        }
        if (depth == 0 && t.kind == FP_WORD) {
            if (fp_word_is(lx, &t, "insert") || fp_word_is(lx, &t, "update") ||
                fp_word_is(lx, &t, "delete") || fp_word_is(lx, &t, "replace")) {
                return PROTO_STMT_OTHER;
            }
            if (after_body && (fp_word_is(lx, &t, "select") || fp_word_is(lx, &t, "table") ||
                               fp_word_is(lx, &t, "values"))) {
                return PROTO_STMT_SELECT;
            }
        }
        if (fp_punct_is(lx, &t, ';')) {
            return PROTO_STMT_OTHER;
        }
        after_body = false;
    }
}

enum proto_stmt_kind
proto_stmt_classify(const char *sql, size_t len)
{
    struct fp_lex lx;
    struct fp_tok t;
    bool paren = false;
    fp_lex_init(&lx, sql, len);
    do {
        fp_next_sig(&lx, &t);
        paren |= fp_punct_is(&lx, &t, '(');
    } while (fp_punct_is(&lx, &t, '('));
    if (t.kind != FP_WORD) {
        return PROTO_STMT_OTHER;
    }

    enum proto_stmt_kind kind;
    if (fp_word_is(&lx, &t, "select") || fp_word_is(&lx, &t, "table") ||
        fp_word_is(&lx, &t, "values")) {
        kind = PROTO_STMT_SELECT;
    } else if (fp_word_is(&lx, &t, "with")) {
        struct fp_lex w = lx;
        kind = fp_classify_with(&w);
    } else if (paren) {
        return PROTO_STMT_OTHER;
    } else if (fp_word_is(&lx, &t, "insert")) {
        kind = PROTO_STMT_INSERT;
    } else if (fp_word_is(&lx, &t, "replace")) {
        kind = PROTO_STMT_REPLACE;
    } else if (fp_word_is(&lx, &t, "update")) {
        kind = PROTO_STMT_UPDATE;
    } else if (fp_word_is(&lx, &t, "delete")) {
        kind = PROTO_STMT_DELETE;
    } else if (fp_word_is(&lx, &t, "use")) {
        kind = PROTO_STMT_USE;
    } else {
        return PROTO_STMT_OTHER;
    }
    if (kind == PROTO_STMT_OTHER) {
        return kind;
    }

    /* Rest of the text: a second statement or INTO OUTFILE/DUMPFILE makes it OTHER. */
    bool prev_into = false;
    for (;;) {
        fp_next_sig(&lx, &t);
        if (t.kind == FP_END) {
            return kind;
        }
        if (fp_punct_is(&lx, &t, ';')) {
            size_t sig;
            return fp_only_trailing(&lx, &sig) ? kind : PROTO_STMT_OTHER;
        }
        if (prev_into && kind == PROTO_STMT_SELECT &&
            (fp_word_is(&lx, &t, "outfile") || fp_word_is(&lx, &t, "dumpfile"))) {
            return PROTO_STMT_OTHER;
        }
        prev_into = fp_word_is(&lx, &t, "into");
    }
}

bool
proto_stmt_explainable(enum proto_stmt_kind kind)
{
    return kind == PROTO_STMT_SELECT || kind == PROTO_STMT_INSERT || kind == PROTO_STMT_REPLACE ||
           kind == PROTO_STMT_UPDATE || kind == PROTO_STMT_DELETE;
}

bool
proto_stmt_use_schema(const char *sql, size_t len, char *db, size_t cap)
{
    struct fp_lex lx;
    struct fp_tok t;
    if (!db || cap == 0 || proto_stmt_classify(sql, len) != PROTO_STMT_USE) {
        return false;
    }
    fp_lex_init(&lx, sql, len);
    fp_next_sig(&lx, &t); /* USE (classify saw no parenthesis before it) */
    fp_next(&lx, &t);
    if (t.kind != FP_WS) {
        return false;
    }
    fp_next(&lx, &t);
    size_t sig, n = 0;
    if ((t.kind != FP_WORD && t.kind != FP_QID) || !fp_only_trailing(&lx, &sig)) {
        return false;
    }
    if (t.kind == FP_WORD) {
        for (size_t i = t.start; i < t.end; i++) {
            if (n + 1 >= cap) {
                return false;
            }
            db[n++] = (char)lx.s[i];
        }
    } else {
        /* `name` with doubled backticks standing for one; it must be closed. */
        size_t i = t.start + 1;
        for (;;) {
            if (i >= t.end) {
                return false;
            }
            unsigned char c = lx.s[i];
            if (c == '`' && (i + 1 >= t.end || lx.s[i + 1] != '`')) {
                break;
            }
            if (c == '\0' || n + 1 >= cap) {
                return false;
            }
            db[n++] = (char)c;
            i += c == '`' ? 2 : 1;
        }
    }
    if (n == 0) {
        return false;
    }
    db[n] = '\0';
    return true;
}
