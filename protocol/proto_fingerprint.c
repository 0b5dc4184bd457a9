/*
 * proto_fingerprint.c - statement fingerprints, their FNV-1a 64 digest, statement
 * classification and USE-schema extraction, all reading the tokens of the one SQL lexer
 * (proto_sqllex); proto_stmt_analyze does all of it in one pass, the classifier being fed
 * every token the fingerprint reads (see the tap below). proto_fp_skeleton tells, without
 * lexing, when two texts differ only in numbers and so share all of that.
 *
 * The fingerprint reproduces what pt-query-digest's QueryRewriter::fingerprint prints with
 * --preserve-embedded-numbers (identifiers such as t1 or col_2 are kept), computed in one pass
 * over the text instead of a chain of regexes. Same as pt-query-digest:
 *   - numbers (ints, decimals, exponents, 0x.., 0b..), quoted strings, X'..', B'..', N'..'
 *     become `?`; a sign directly before a number becomes part of it when the sign cannot be a
 *     binary operator (after an operator, `(`, `,`, a keyword such as WHERE or at the start);
 *     slowtap also folds signs glued together (`--5`) and a sign before a string or a `?`
 *     placeholder (`-?`), so that a redacted or a substituted statement keeps its shape;
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
 *     under NO_BACKSLASH_ESCAPES (proto_fingerprint_mode) a backslash is an ordinary byte,
 *     under ANSI_QUOTES "x" is an identifier kept as written; X'..' and B'..' end at the next
 *     quote, as in the server;
 *   - _charset'x' keeps its introducer (`_utf8mb4?`, as pt); :name placeholders are kept;
 *   - an unterminated string becomes `?` to the end, an unterminated comment is dropped;
 *   - trailing `;` (with any whitespace/comments around it) is removed;
 *   - `a+1`, `a-1` stay `a+?`, `a-?` (pt eats the operator), 0x1F is `?` (pt: `?f`);
 *   - a multi-row INSERT keeps what follows its rows (ON DUPLICATE KEY UPDATE ...);
 *   - pt's UNION de-duplication (`/<star>repeat union<star>/`) and its mysqldump /
 *     percona-toolkit special cases are not reproduced.
 * NUL bytes are whitespace outside literals and `?` inside backtick identifiers, so the
 * fingerprint never contains a NUL.
 */
#include "protocol/proto_fingerprint.h"

#include <string.h>

#include "common/hexfmt.h"
#include "protocol/proto_sqllex.h"

#define FP_FNV_OFFSET 0xcbf29ce484222325ull
#define FP_FNV_PRIME  0x100000001b3ull
#define FP_MAX_NEST   4 /* nesting of row tuples inside an IN/VALUES list */

/* The lexer's tokens as the readers here see them: blanks merged into one FP_WS. */
enum fp_kind {
    FP_END = 0,
    FP_WS,    /* whitespace, comments, hints, executable-comment markers */
    FP_WORD,  /* keyword or bare identifier */
    FP_NUM,   /* number, 0x.., 0b.. */
    FP_STR,   /* quoted string, N'..', X'..', B'..' */
    FP_ISTR,  /* _charset'..': the introducer is kept, the string becomes ? */
    FP_QID,   /* `quoted identifier` ("..." under ANSI_QUOTES) */
    FP_PARAM, /* ? placeholder */
    FP_NAMED, /* :name placeholder, kept as written (lowercased) */
    FP_PUNCT, /* operator or punctuation */
};

/* The keywords the readers here look for, recognised once per word (fp_keyword), so that a
 * reader compares numbers, never text. */
enum fp_kw {
    FP_KW_NONE = 0, /* any other word, or not a word */
    /* after these, a sign starts a number (fp_is_unary_keyword) */
    FP_KW_SELECT,
    FP_KW_WHERE,
    FP_KW_AND,
    FP_KW_OR,
    FP_KW_NOT,
    FP_KW_XOR,
    FP_KW_WHEN,
    FP_KW_THEN,
    FP_KW_ELSE,
    FP_KW_BY,
    FP_KW_SET,
    FP_KW_VALUES,
    FP_KW_VALUE,
    FP_KW_IN,
    FP_KW_LIKE,
    FP_KW_BETWEEN,
    FP_KW_IS,
    FP_KW_RETURN,
    FP_KW_LIMIT,
    FP_KW_OFFSET,
    FP_KW_ON,
    FP_KW_HAVING,
    FP_KW_DIV,
    FP_KW_MOD,
    FP_KW_INTERVAL,
    FP_KW_CASE, /* the last unary one */
    FP_KW_NULL,
    FP_KW_TRUE,
    FP_KW_FALSE,
    FP_KW_INSERT,
    FP_KW_REPLACE,
    FP_KW_UPDATE,
    FP_KW_DELETE,
    FP_KW_USE,
    FP_KW_CALL,
    FP_KW_WITH,
    FP_KW_TABLE,
    FP_KW_ORDER,
    FP_KW_ASC,
    FP_KW_INTO,
    FP_KW_OUTFILE,
    FP_KW_DUMPFILE,
};

struct fp_tap;

struct fp_lex {
    struct proto_sqllex sl;
    struct fp_tap *tap; /* NULL, or the classifier that sees every token once (analyze) */
    /* Merging blanks reads one token past them: that token, handed out by the next fp_next
     * (so every token is lexed once, however the cursor is copied). sl.pos is then after it. */
    bool has_next;
    struct proto_sqltok next;
};

struct fp_tok {
    enum fp_kind kind;
    enum fp_kw kw;   /* FP_WORD: which keyword, if one of fp_kw's */
    unsigned char c; /* FP_PUNCT of one byte: that byte; else 0 */
    size_t start;
    size_t end;
    size_t prefix_len; /* FP_ISTR: bytes of the introducer */
};

static unsigned char
fp_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static void
fp_lex_init(struct fp_lex *lx, const char *sql, size_t len, unsigned sqlmode)
{
    proto_sqllex_init(&lx->sl, sql, len, sqlmode);
    lx->tap = NULL;
    lx->has_next = false;
}

/* Where the cursor's next token starts. */
static size_t
fp_pos(const struct fp_lex *lx)
{
    return lx->has_next ? lx->next.start : lx->sl.pos;
}

/* The lowercase bytes of a word of at most 8 bytes packed into a number, byte i at bits
 * 8i..8i+7; a constant expression for a literal (FP_PACK("select")). */
#define FP_PACK_AT(w, i) ((sizeof(w) > (i) + 1 ? (uint64_t)(unsigned char)(w)[i] : 0) << (8 * (i)))
#define FP_PACK(w)                                                                                 \
    (FP_PACK_AT(w, 0) | FP_PACK_AT(w, 1) | FP_PACK_AT(w, 2) | FP_PACK_AT(w, 3) |                   \
     FP_PACK_AT(w, 4) | FP_PACK_AT(w, 5) | FP_PACK_AT(w, 6) | FP_PACK_AT(w, 7))

/* Which fp_kw the word s[0..n) is (ASCII case ignored). */
static enum fp_kw
fp_keyword(const unsigned char *s, size_t n)
{
    if (n > 8) {
        return FP_KW_NONE;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) {
        w |= (uint64_t)fp_lower(s[i]) << (8 * i);
    }
    switch (n) { /* a handful of comparisons of numbers per word */
    case 2:
        if (w == FP_PACK("or")) {
            return FP_KW_OR;
        }
        if (w == FP_PACK("by")) {
            return FP_KW_BY;
        }
        if (w == FP_PACK("in")) {
            return FP_KW_IN;
        }
        if (w == FP_PACK("is")) {
            return FP_KW_IS;
        }
        if (w == FP_PACK("on")) {
            return FP_KW_ON;
        }
        break;
    case 3:
        if (w == FP_PACK("and")) {
            return FP_KW_AND;
        }
        if (w == FP_PACK("not")) {
            return FP_KW_NOT;
        }
        if (w == FP_PACK("xor")) {
            return FP_KW_XOR;
        }
        if (w == FP_PACK("set")) {
            return FP_KW_SET;
        }
        if (w == FP_PACK("div")) {
            return FP_KW_DIV;
        }
        if (w == FP_PACK("mod")) {
            return FP_KW_MOD;
        }
        if (w == FP_PACK("use")) {
            return FP_KW_USE;
        }
        if (w == FP_PACK("asc")) {
            return FP_KW_ASC;
        }
        break;
    case 4:
        if (w == FP_PACK("when")) {
            return FP_KW_WHEN;
        }
        if (w == FP_PACK("then")) {
            return FP_KW_THEN;
        }
        if (w == FP_PACK("else")) {
            return FP_KW_ELSE;
        }
        if (w == FP_PACK("like")) {
            return FP_KW_LIKE;
        }
        if (w == FP_PACK("case")) {
            return FP_KW_CASE;
        }
        if (w == FP_PACK("null")) {
            return FP_KW_NULL;
        }
        if (w == FP_PACK("true")) {
            return FP_KW_TRUE;
        }
        if (w == FP_PACK("call")) {
            return FP_KW_CALL;
        }
        if (w == FP_PACK("with")) {
            return FP_KW_WITH;
        }
        if (w == FP_PACK("into")) {
            return FP_KW_INTO;
        }
        break;
    case 5:
        if (w == FP_PACK("where")) {
            return FP_KW_WHERE;
        }
        if (w == FP_PACK("value")) {
            return FP_KW_VALUE;
        }
        if (w == FP_PACK("limit")) {
            return FP_KW_LIMIT;
        }
        if (w == FP_PACK("false")) {
            return FP_KW_FALSE;
        }
        if (w == FP_PACK("table")) {
            return FP_KW_TABLE;
        }
        if (w == FP_PACK("order")) {
            return FP_KW_ORDER;
        }
        break;
    case 6:
        if (w == FP_PACK("select")) {
            return FP_KW_SELECT;
        }
        if (w == FP_PACK("values")) {
            return FP_KW_VALUES;
        }
        if (w == FP_PACK("return")) {
            return FP_KW_RETURN;
        }
        if (w == FP_PACK("offset")) {
            return FP_KW_OFFSET;
        }
        if (w == FP_PACK("having")) {
            return FP_KW_HAVING;
        }
        if (w == FP_PACK("insert")) {
            return FP_KW_INSERT;
        }
        if (w == FP_PACK("update")) {
            return FP_KW_UPDATE;
        }
        if (w == FP_PACK("delete")) {
            return FP_KW_DELETE;
        }
        break;
    case 7:
        if (w == FP_PACK("between")) {
            return FP_KW_BETWEEN;
        }
        if (w == FP_PACK("replace")) {
            return FP_KW_REPLACE;
        }
        if (w == FP_PACK("outfile")) {
            return FP_KW_OUTFILE;
        }
        break;
    case 8:
        if (w == FP_PACK("interval")) {
            return FP_KW_INTERVAL;
        }
        if (w == FP_PACK("dumpfile")) {
            return FP_KW_DUMPFILE;
        }
        break;
    default:
        break;
    }
    return FP_KW_NONE;
}

static void fp_tap_see(struct fp_lex *lx, const struct fp_tok *t);

/* Reads the next token. Consecutive whitespace and comments form one FP_WS token. */
static void
fp_next(struct fp_lex *lx, struct fp_tok *t)
{
    struct proto_sqltok st;
    if (lx->has_next) {
        st = lx->next;
        lx->has_next = false;
    } else {
        proto_sqllex_next(&lx->sl, &st);
    }
    t->start = st.start;
    t->end = st.end;
    t->prefix_len = 0;
    t->kw = FP_KW_NONE;
    t->c = 0;
    if (proto_sqltok_blank(&st)) {
        for (;;) {
            proto_sqllex_next(&lx->sl, &lx->next);
            if (!proto_sqltok_blank(&lx->next)) {
                lx->has_next = true;
                break;
            }
            t->end = lx->next.end;
        }
        t->kind = FP_WS;
        fp_tap_see(lx, t);
        return;
    }
    switch (st.open) {
    case PROTO_TOK_END:
        t->kind = FP_END;
        break;
    case PROTO_TOK_WORD:
        t->kind = FP_WORD;
        t->kw = fp_keyword(lx->sl.s + st.start, st.end - st.start);
        break;
    case PROTO_TOK_NUMBER:
        t->kind = FP_NUM;
        break;
    case PROTO_TOK_HEX:
    case PROTO_TOK_BIT:
        t->kind = st.prefix_len ? FP_STR : FP_NUM;
        break;
    case PROTO_TOK_STRING:
        t->kind = st.prefix_len && lx->sl.s[st.start] == '_' ? FP_ISTR : FP_STR;
        t->prefix_len = st.prefix_len;
        break;
    case PROTO_TOK_QIDENT:
        t->kind = FP_QID;
        break;
    case PROTO_TOK_PARAM:
        t->kind = FP_PARAM;
        break;
    case PROTO_TOK_NAMED_PARAM:
        t->kind = FP_NAMED;
        break;
    default:
        t->kind = FP_PUNCT;
        if (st.end == st.start + 1) {
            t->c = lx->sl.s[st.start];
        }
        break;
    }
    fp_tap_see(lx, t);
}

/* Next token that is not whitespace. */
static void
fp_next_sig(struct fp_lex *lx, struct fp_tok *t)
{
    do {
        fp_next(lx, t);
    } while (t->kind == FP_WS);
}

/* True when t is the keyword kw (a word, case ignored). */
static inline bool
fp_kw_is(const struct fp_tok *t, enum fp_kw kw)
{
    return t->kw == kw;
}

/* True when t is the one-byte operator or punctuation c. */
static inline bool
fp_punct_is(const struct fp_tok *t, char c)
{
    return t->c == (unsigned char)c;
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
        if (t.kind != FP_WS && !fp_punct_is(&t, ';')) {
            *sig = t.start;
            return false;
        }
    }
}

/* After a sign just read: further signs glued to it, then a number, a string or a placeholder
 * (so `-5`, `--5`, `-'5'` and `-?` are all one signed operand, and a literal redacted to `?`
 * keeps the statement's fingerprint). True, with lx after the operand, when so;
 * lx is left anywhere otherwise. */
static bool
fp_signed_operand(struct fp_lex *lx)
{
    struct fp_tok n;
    for (;;) {
        fp_next(lx, &n);
        if (!fp_punct_is(&n, '-') && !fp_punct_is(&n, '+')) {
            return n.kind == FP_NUM || n.kind == FP_PARAM || n.kind == FP_STR;
        }
    }
}

/* A literal as far as list folding goes: number, string, placeholder, NULL/TRUE/FALSE. */
static bool
fp_is_literal(const struct fp_tok *t)
{
    return t->kind == FP_NUM || t->kind == FP_STR || t->kind == FP_PARAM ||
           fp_kw_is(t, FP_KW_NULL) || fp_kw_is(t, FP_KW_TRUE) || fp_kw_is(t, FP_KW_FALSE);
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
        if (fp_punct_is(&t, ')')) {
            return true;
        }
        if (fp_punct_is(&t, ',') || fp_is_literal(&t)) {
            continue;
        }
        if (fp_punct_is(&t, '-') || fp_punct_is(&t, '+')) {
            if (!fp_signed_operand(lx)) {
                return false;
            }
            continue;
        }
        if (fp_punct_is(&t, '(') && nest < FP_MAX_NEST && fp_scan_literal_group(lx, nest + 1)) {
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
        } while (t.kind == FP_WS || (groups > 0 && fp_punct_is(&t, ',')));
        if (!fp_punct_is(&t, '(') || !fp_scan_literal_group(&c, 0)) {
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
    if (fp_punct_is(&t, '-') || fp_punct_is(&t, '+')) {
        return fp_signed_operand(c);
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
    } while ((fp_punct_is(&t, ',') || fp_kw_is(&t, FP_KW_OFFSET)) && fp_scan_limit_operand(&c));
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
        if (fp_punct_is(&t, '(')) {
            depth++;
        } else if (fp_punct_is(&t, ')')) {
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
        if (!fp_punct_is(&n, ',')) {
            return;
        }
        fp_next_sig(&peek, &n);
        if (!fp_punct_is(&n, '(')) {
            return;
        }
        fp_skip_group(&peek);
        *lx = peek;
    }
}

/* Keywords after which a sign starts a number rather than subtracting: SELECT .. CASE in
 * enum fp_kw. */
static bool
fp_is_unary_keyword(const struct fp_tok *t)
{
    return t->kw >= FP_KW_SELECT && t->kw <= FP_KW_CASE;
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

/* fp_put of each byte of t, lowercased: the owed separator first, then a tight loop. */
static void
fp_put_lower(struct fp_out *o, const struct fp_lex *lx, const struct fp_tok *t)
{
    if (t->start >= t->end) {
        return;
    }
    if (o->space) {
        o->space = false;
        fp_put(o, ' ');
    }
    const unsigned char *s = lx->sl.s;
    uint64_t h = o->h;
    size_t n = o->n;
    for (size_t i = t->start; i < t->end; i++, n++) {
        unsigned char c = fp_lower(s[i]);
        h = (h ^ c) * FP_FNV_PRIME;
        if (o->buf && n + 1 < o->cap) {
            o->buf[n] = (char)c;
        }
    }
    o->h = h;
    o->n = n;
}

static void
fp_put_raw(struct fp_out *o, const struct fp_lex *lx, const struct fp_tok *t)
{
    for (size_t i = t->start; i < t->end; i++) {
        fp_put(o, lx->sl.s[i] ? lx->sl.s[i] : '?');
    }
}

/* `USE db` -> `use ?`, `CALL proc(` -> `call proc`. True when handled. */
static bool
fp_special(const struct fp_lex *start, const struct fp_tok *first, struct fp_out *o)
{
    struct fp_lex c = *start;
    struct fp_tok t;
    if (fp_kw_is(first, FP_KW_USE)) {
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
    if (fp_kw_is(first, FP_KW_CALL)) {
        fp_next(&c, &t);
        if (t.kind != FP_WS) {
            return false;
        }
        struct fp_lex name = c;
        size_t name_end = fp_pos(&c);
        for (;;) {
            fp_next(&c, &t);
            if (t.kind != FP_WORD && t.kind != FP_QID && !fp_punct_is(&t, '.')) {
                break;
            }
            name_end = t.end;
        }
        if (t.kind == FP_WS) {
            fp_next(&c, &t);
        }
        if (!fp_punct_is(&t, '(') || name_end == fp_pos(&name)) {
            return false;
        }
        fp_puts(o, "call ");
        struct fp_lex n = name;
        while (fp_pos(&n) < name_end) {
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

/*
 * The classifier: statement kind and USE schema, fed every token once, in order, while the
 * fingerprint reads the text (or alone, by proto_stmt_classify). The fingerprint looks ahead
 * with copies of its cursor; the tap remembers how far tokens were seen, so each one reaches
 * the classifier exactly once whichever copy reads it first.
 */
enum fp_phase {
    FP_CLS_START, /* before the first keyword (leading blanks and parentheses) */
    FP_CLS_BODY,  /* after it */
    FP_CLS_DONE,  /* decided: OTHER */
};

struct fp_cls {
    enum fp_phase phase;
    enum proto_stmt_kind kind; /* by the first keyword */
    bool paren;                /* a `(` came before the first keyword */
    /* WITH: the main statement after the CTE bodies */
    bool with, with_done;
    enum proto_stmt_kind with_kind;
    size_t depth;
    bool after_body, main_paren;
    /* the rest: a second statement or INTO OUTFILE/DUMPFILE makes it OTHER */
    bool semi, second, prev_into, outfile;
    /* USE: 1 wants blanks, 2 wants the name, 3 name read (only `;` and blanks may follow),
     * -1 not a plain USE */
    int use;
    struct fp_tok name;
};

struct fp_tap {
    struct fp_cls cls;
    size_t seen;              /* tokens starting before this were fed */
    bool in_exec, after_name; /* the cursor's state at `seen` */
};

static void
fp_cls_with(struct fp_cls *k, const struct fp_tok *t)
{
    if (t->kind == FP_END || fp_punct_is(t, ';')) {
        k->with_done = true;
        k->with_kind = PROTO_STMT_OTHER;
        return;
    }
    if (k->main_paren && t->kind == FP_WORD) {
        k->with_done = true;
        k->with_kind = fp_kw_is(t, FP_KW_SELECT) ? PROTO_STMT_SELECT : PROTO_STMT_OTHER;
        return;
    }
    if (fp_punct_is(t, '(')) {
        if (k->depth == 0 && k->after_body) {
            k->main_paren = true;
        }
        k->depth++;
        k->after_body = false;
        return;
    }
    if (fp_punct_is(t, ')')) {
        if (k->depth > 0 && --k->depth == 0) {
            k->after_body = true;
        }
        return;
    }
    if (k->depth == 0 && t->kind == FP_WORD) {
        if (fp_kw_is(t, FP_KW_INSERT) || fp_kw_is(t, FP_KW_UPDATE) || fp_kw_is(t, FP_KW_DELETE) ||
            fp_kw_is(t, FP_KW_REPLACE)) {
            k->with_done = true;
            k->with_kind = PROTO_STMT_OTHER;
            return;
        }
        if (k->after_body &&
            (fp_kw_is(t, FP_KW_SELECT) || fp_kw_is(t, FP_KW_TABLE) || fp_kw_is(t, FP_KW_VALUES))) {
            k->with_done = true;
            k->with_kind = PROTO_STMT_SELECT;
            return;
        }
    }
    k->after_body = false;
}

/* The first keyword decides the candidate kind. */
static void
fp_cls_start(struct fp_cls *k, const struct fp_tok *t)
{
    if (t->kind == FP_WS) {
        return;
    }
    if (fp_punct_is(t, '(')) {
        k->paren = true;
        return;
    }
    k->phase = FP_CLS_DONE;
    if (t->kind != FP_WORD) {
        return;
    }
    if (fp_kw_is(t, FP_KW_SELECT) || fp_kw_is(t, FP_KW_TABLE) || fp_kw_is(t, FP_KW_VALUES)) {
        k->kind = PROTO_STMT_SELECT;
    } else if (fp_kw_is(t, FP_KW_WITH)) {
        k->with = true;
    } else if (k->paren) {
        return;
    } else if (fp_kw_is(t, FP_KW_INSERT)) {
        k->kind = PROTO_STMT_INSERT;
    } else if (fp_kw_is(t, FP_KW_REPLACE)) {
        k->kind = PROTO_STMT_REPLACE;
    } else if (fp_kw_is(t, FP_KW_UPDATE)) {
        k->kind = PROTO_STMT_UPDATE;
    } else if (fp_kw_is(t, FP_KW_DELETE)) {
        k->kind = PROTO_STMT_DELETE;
    } else if (fp_kw_is(t, FP_KW_USE)) {
        k->kind = PROTO_STMT_USE;
        k->use = 1;
    } else {
        return;
    }
    k->phase = FP_CLS_BODY;
}

static void
fp_cls_feed(struct fp_cls *k, const struct fp_tok *t)
{
    if (k->phase == FP_CLS_START) {
        fp_cls_start(k, t);
        return;
    }
    if (k->phase != FP_CLS_BODY) {
        return;
    }
    if (k->use > 0) {
        if (k->use == 1) {
            k->use = t->kind == FP_WS ? 2 : -1;
        } else if (k->use == 2) {
            k->use = t->kind == FP_WORD || t->kind == FP_QID ? 3 : -1;
            k->name = *t;
        } else if (t->kind != FP_WS && t->kind != FP_END && !fp_punct_is(t, ';')) {
            k->use = -1;
        }
    }
    if (t->kind == FP_WS) {
        return;
    }
    if (k->with && !k->with_done) {
        fp_cls_with(k, t);
    }
    if (k->semi) {
        k->second |= t->kind != FP_END && !fp_punct_is(t, ';');
    } else if (fp_punct_is(t, ';')) {
        k->semi = true;
    } else {
        k->outfile |= k->prev_into && (fp_kw_is(t, FP_KW_OUTFILE) || fp_kw_is(t, FP_KW_DUMPFILE));
        k->prev_into = fp_kw_is(t, FP_KW_INTO);
    }
    if (k->second) {
        k->phase = FP_CLS_DONE;
    }
}

/* The kind once the END token was fed. */
static enum proto_stmt_kind
fp_cls_kind(const struct fp_cls *k)
{
    if (k->phase != FP_CLS_BODY) {
        return PROTO_STMT_OTHER;
    }
    enum proto_stmt_kind kind = k->with ? k->with_kind : k->kind;
    if (kind == PROTO_STMT_SELECT && k->outfile) {
        return PROTO_STMT_OTHER;
    }
    return kind;
}

/* The schema of a plain USE: the name (unquoted, doubled quotes made single) into db. */
static bool
fp_cls_schema(const struct fp_cls *k, const struct fp_lex *lx, char *db, size_t cap)
{
    if (!db || cap == 0 || fp_cls_kind(k) != PROTO_STMT_USE || k->use != 3) {
        return false;
    }
    const unsigned char *s = lx->sl.s;
    const struct fp_tok *t = &k->name;
    size_t n = 0;
    if (t->kind == FP_WORD) {
        for (size_t i = t->start; i < t->end; i++) {
            if (n + 1 >= cap) {
                return false;
            }
            db[n++] = (char)s[i];
        }
    } else {
        /* `name` (or "name") with a doubled quote standing for one; it must be closed. */
        unsigned char q = s[t->start];
        size_t i = t->start + 1;
        for (;;) {
            if (i >= t->end) {
                return false;
            }
            unsigned char c = s[i];
            if (c == q && (i + 1 >= t->end || s[i + 1] != q)) {
                break;
            }
            if (c == '\0' || n + 1 >= cap) {
                return false;
            }
            db[n++] = (char)c;
            i += c == q ? 2 : 1;
        }
    }
    if (n == 0) {
        return false;
    }
    db[n] = '\0';
    return true;
}

static void
fp_tap_see(struct fp_lex *lx, const struct fp_tok *t)
{
    struct fp_tap *tap = lx->tap;
    if (!tap || t->kind == FP_END || t->start < tap->seen) {
        return;
    }
    fp_cls_feed(&tap->cls, t);
    tap->seen = t->end;
    tap->in_exec = lx->sl.in_exec; /* the token read ahead (a non-blank) did not change it */
    tap->after_name = lx->has_next ? false : lx->sl.after_name;
}

/* The fingerprint of sql into o; with a tap, every token also reaches its classifier. */
static void
fp_run(const char *sql, size_t len, unsigned sqlmode, struct fp_out *o, struct fp_tap *tap)
{
    struct fp_lex lx;
    struct fp_tok t;
    fp_lex_init(&lx, sql, len, sqlmode);
    lx.tap = tap;

    /* The first significant token (blanks before it put nothing out): the loop starts
     * with it. */
    fp_next_sig(&lx, &t);
    bool is_insert = fp_kw_is(&t, FP_KW_INSERT) || fp_kw_is(&t, FP_KW_REPLACE);
    if (t.kind == FP_WORD && fp_special(&lx, &t, o)) {
        return;
    }

    bool operand = false;    /* the previous significant token ends an operand */
    bool prev_order = false; /* the previous significant token is the word ORDER */
    bool order_by = false;   /* ORDER BY seen: ASC is dropped */
    bool values_open = false, values_done = false;
    size_t depth = 0, values_depth = 0;
    size_t nontrail = 0; /* `;` before this position are known not to be trailing */

    for (bool have = true;; have = false) {
        if (!have) {
            fp_next(&lx, &t);
        }
        if (t.kind == FP_END) {
            break;
        }
        if (t.kind == FP_WS) {
            o->space = o->n > 0;
            continue;
        }
        bool was_order = prev_order;
        prev_order = false;
        if (values_open && !fp_punct_is(&t, '(')) {
            values_open = false;
        }
        switch (t.kind) {
        case FP_WORD: {
            struct fp_lex end;
            bool is_list =
                fp_kw_is(&t, FP_KW_IN) || fp_kw_is(&t, FP_KW_VALUES) || fp_kw_is(&t, FP_KW_VALUE);
            if (is_list && fp_scan_literal_lists(&lx, &end)) {
                fp_put_lower(o, &lx, &t);
                fp_puts(o, "(?+)");
                lx = end;
                if (is_insert && !fp_kw_is(&t, FP_KW_IN)) {
                    values_done = true;
                    fp_skip_rows(&lx);
                }
                operand = true;
                break;
            }
            if (fp_kw_is(&t, FP_KW_LIMIT) && fp_scan_limit(&lx, &end)) {
                fp_puts(o, "limit ?");
                lx = end;
                operand = true;
                break;
            }
            if (order_by && fp_kw_is(&t, FP_KW_ASC)) {
                o->space = false;
                break;
            }
            if (was_order && fp_kw_is(&t, FP_KW_BY)) {
                order_by = true;
            }
            prev_order = fp_kw_is(&t, FP_KW_ORDER);
            if (is_list && is_insert && !values_done && !fp_kw_is(&t, FP_KW_IN)) {
                values_open = true;
            }
            fp_put_lower(o, &lx, &t);
            operand = !fp_is_unary_keyword(&t);
            break;
        }
        case FP_ISTR: {
            struct fp_tok intro = t;
            intro.end = t.start + t.prefix_len;
            fp_put_lower(o, &lx, &intro);
            fp_put(o, '?');
            operand = true;
            break;
        }
        case FP_NUM:
        case FP_STR:
        case FP_PARAM:
            fp_put(o, '?');
            operand = true;
            break;
        case FP_QID:
            fp_put_raw(o, &lx, &t);
            operand = true;
            break;
        case FP_NAMED:
            fp_put_lower(o, &lx, &t);
            operand = true;
            break;
        default: {
            if ((fp_punct_is(&t, '-') || fp_punct_is(&t, '+')) && !operand) {
                struct fp_lex peek = lx;
                if (fp_signed_operand(&peek)) {
                    lx = peek;
                    fp_put(o, '?');
                    operand = true;
                    break;
                }
            }
            if (fp_punct_is(&t, ';') && t.start >= nontrail) {
                if (fp_only_trailing(&lx, &nontrail)) {
                    return;
                }
            }
            fp_put_lower(o, &lx, &t);
            operand = fp_punct_is(&t, ')');
            if (fp_punct_is(&t, ';')) {
                order_by = false; /* a new statement starts */
            }
            if (fp_punct_is(&t, '(')) {
                depth++;
                if (values_open) {
                    values_open = false;
                    values_depth = depth;
                }
            } else if (fp_punct_is(&t, ')') && depth > 0) {
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
}

static void
fp_finish(struct fp_out *o, char *out, size_t cap)
{
    if (out && cap > 0) {
        out[o->n < cap ? o->n : cap - 1] = '\0';
    }
}

uint64_t
proto_fingerprint_mode(const char *sql, size_t len, unsigned sqlmode, char *out, size_t cap)
{
    struct fp_out o = {.buf = out, .cap = cap, .n = 0, .h = FP_FNV_OFFSET, .space = false};
    fp_run(sql, len, sqlmode, &o, NULL);
    fp_finish(&o, out, cap);
    return o.h;
}

uint64_t
proto_fingerprint(const char *sql, size_t len, char *out, size_t cap)
{
    return proto_fingerprint_mode(sql, len, 0, out, cap);
}

void
proto_stmt_analyze(const char *sql, size_t len, unsigned sqlmode, char *fp, size_t fp_cap,
                   char *schema, size_t schema_cap, struct proto_stmt_info *info)
{
    struct fp_out o = {.buf = fp, .cap = fp_cap, .n = 0, .h = FP_FNV_OFFSET, .space = false};
    struct fp_tap tap;
    memset(&tap, 0, sizeof tap);
    fp_run(sql, len, sqlmode, &o, &tap);
    fp_finish(&o, fp, fp_cap);
    /* The fingerprint may stop early (USE, CALL, a trailing `;`): the classifier reads on. */
    struct fp_lex rest;
    struct fp_tok t;
    fp_lex_init(&rest, sql, len, sqlmode);
    rest.tap = &tap;
    rest.sl.pos = tap.seen;
    rest.sl.in_exec = tap.in_exec;
    rest.sl.after_name = tap.after_name;
    do {
        fp_next(&rest, &t);
    } while (t.kind != FP_END && tap.cls.phase != FP_CLS_DONE);
    fp_cls_feed(&tap.cls, &t);
    info->digest = o.h;
    info->kind = fp_cls_kind(&tap.cls);
    info->schema_changed = fp_cls_schema(&tap.cls, &rest, schema, schema_cap);
}

/* A byte beside a digit run that makes the run a whole number token, or part of a string or
 * comment, whatever its digits (proto_fp_skeleton). */
static bool
fp_skel_edge(unsigned char c)
{
    switch (c) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '=':
    case '<':
    case '>':
    case '(':
    case ')':
    case ',':
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case ';':
    case '\'':
    case '"':
        return true;
    default:
        return false;
    }
}

/* Some byte of the eight in x is an ASCII digit (exact: the high bits are masked off before
 * the additions, so no carry crosses a byte, and a byte with its high bit set is no digit). */
static bool
fp_skel_has_digit(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t y = x & 0x7f * ones;
    return ((y + 0x50 * ones) & ~(y + 0x46 * ones) & ~x & 0x80 * ones) != 0;
}

size_t
proto_fp_skeleton(const char *sql, size_t len, unsigned sqlmode, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)sql;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= 8 && cap - n >= 8) { /* eight bytes without a digit are copied at once */
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (!fp_skel_has_digit(x)) {
                memcpy(out + n, &x, 8);
                n += 8;
                i += 8;
                continue;
            }
        }
        if (s[i] < '0' || s[i] > '9') {
            if (n == cap) {
                return PROTO_FP_SKELETON_NONE;
            }
            out[n++] = (char)s[i++];
            continue;
        }
        size_t j = i + 1;
        while (j < len && s[j] >= '0' && s[j] <= '9') {
            j++;
        }
        bool num = (i == 0 || fp_skel_edge(s[i - 1])) && (j == len || fp_skel_edge(s[j]));
        size_t k = num ? 1 : j - i;
        if (cap - n < k) {
            return PROTO_FP_SKELETON_NONE;
        }
        if (num) {
            out[n] = '0';
        } else {
            memcpy(out + n, s + i, k);
        }
        n += k;
        i = j;
    }
    /* last: a text too long for `out` has left already */
    if (len && (memchr(sql, '`', len) ||
                ((sqlmode & PROTO_SQLMODE_ANSI_QUOTES) && memchr(sql, '"', len)))) {
        return PROTO_FP_SKELETON_NONE;
    }
    return n;
}

/* Classifies (and with db, extracts a USE schema) without fingerprinting. */
static enum proto_stmt_kind
fp_classify(const char *sql, size_t len, unsigned sqlmode, char *db, size_t cap, bool *use_ok)
{
    struct fp_lex lx;
    struct fp_tok t;
    struct fp_cls k;
    memset(&k, 0, sizeof k);
    fp_lex_init(&lx, sql, len, sqlmode);
    do {
        fp_next(&lx, &t);
        fp_cls_feed(&k, &t);
    } while (t.kind != FP_END && k.phase != FP_CLS_DONE);
    if (use_ok) {
        *use_ok = fp_cls_schema(&k, &lx, db, cap);
    }
    return fp_cls_kind(&k);
}

enum proto_stmt_kind
proto_stmt_classify_mode(const char *sql, size_t len, unsigned sqlmode)
{
    return fp_classify(sql, len, sqlmode, NULL, 0, NULL);
}

enum proto_stmt_kind
proto_stmt_classify(const char *sql, size_t len)
{
    return fp_classify(sql, len, 0, NULL, 0, NULL);
}

bool
proto_stmt_explainable(enum proto_stmt_kind kind)
{
    return kind == PROTO_STMT_SELECT || kind == PROTO_STMT_INSERT || kind == PROTO_STMT_REPLACE ||
           kind == PROTO_STMT_UPDATE || kind == PROTO_STMT_DELETE;
}

bool
proto_stmt_use_schema_mode(const char *sql, size_t len, unsigned sqlmode, char *db, size_t cap)
{
    bool ok = false;
    (void)fp_classify(sql, len, sqlmode, db, cap, &ok);
    return ok;
}

bool
proto_stmt_use_schema(const char *sql, size_t len, char *db, size_t cap)
{
    return proto_stmt_use_schema_mode(sql, len, 0, db, cap);
}

void
proto_digest_hex(uint64_t digest, char out[17])
{
    hexfmt_u64(digest, out);
}
