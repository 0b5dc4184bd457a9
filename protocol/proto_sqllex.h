/*
 * proto_sqllex.h - the one SQL tokenizer of slowtap. Every reader of statement text (the
 * fingerprint and digest, statement classification, the USE tracker, `?` substitution of
 * prepared statements, redaction) walks the tokens this lexer yields; no other code knows
 * SQL's lexical rules.
 *
 * Pure and allocation-free: a cursor over a byte range; never reads outside it (NUL bytes
 * included), never fails: text that ends inside a string, identifier, comment or hint yields
 * one PROTO_TOK_UNTERMINATED token to the end.
 */
#ifndef SLOWTAP_PROTO_SQLLEX_H
#define SLOWTAP_PROTO_SQLLEX_H

#include "protocol/proto.h"

enum proto_tok {
    PROTO_TOK_END = 0,
    PROTO_TOK_SPACE,        /* a run of whitespace; NUL and \v \f count as whitespace */
    PROTO_TOK_COMMENT,      /* `-- ` (dashes then a byte <= ' ' or the end), `#`, slash-star:
                               to the end of the line (newline excluded) or the star-slash */
    PROTO_TOK_HINT,         /* optimizer hint slash-star-plus ... star-slash */
    PROTO_TOK_EXEC_OPEN,    /* slash-star-! or slash-star-M-! and its version digits: what
                               follows up to the closing star-slash is code, as the server
                               runs it (no nesting: inside, slash-star opens a comment) */
    PROTO_TOK_EXEC_CLOSE,   /* the star-slash that closes an executable comment */
    PROTO_TOK_WORD,         /* keyword or bare identifier: [A-Za-z0-9_$] and bytes >= 0x80,
                               also digit-led ones such as 1abc or 0x1g */
    PROTO_TOK_QIDENT,       /* `identifier` (doubled backtick, no backslash escape); "ident"
                               under PROTO_SQLMODE_ANSI_QUOTES (doubled ") */
    PROTO_TOK_STRING,       /* '..' and ".." (unless ANSI_QUOTES): doubled quotes, backslash
                               escapes unless NO_BACKSLASH_ESCAPES; with an N or _charset
                               introducer glued to it (N'x', _utf8mb4'x') */
    PROTO_TOK_NUMBER,       /* 1, 1.5, .5, 1e-3, 1.e5 (no sign: a sign is an operator) */
    PROTO_TOK_HEX,          /* 0x1F, X'1F' (the quoted form ends at the next quote) */
    PROTO_TOK_BIT,          /* 0b01, B'01' */
    PROTO_TOK_PARAM,        /* ? placeholder */
    PROTO_TOK_NAMED_PARAM,  /* :name placeholder (a colon glued to identifier characters,
                               the first not a digit: `:1` is `:` and a number) */
    PROTO_TOK_OP,           /* operator or punctuation: <=> <= >= <> != := || && << >> ->
                               ->> or any other single byte */
    PROTO_TOK_UNTERMINATED, /* a STRING, QIDENT, HEX, BIT, COMMENT or HINT running to the end
                               of the text without its closing delimiter (see `open`) */
};

struct proto_sqltok {
    enum proto_tok kind;
    enum proto_tok open; /* UNTERMINATED: the kind the token would have had; else == kind */
    size_t start, end;   /* the token is text[start..end) */
    /* The content: between the quotes of STRING/QIDENT/HEX/BIT (quoted forms), between
     * the delimiters of COMMENT/HINT, the name after the colon of NAMED_PARAM, the whole
     * token otherwise. Unterminated: from after the opening delimiter to the end. */
    size_t body_start, body_end;
    size_t prefix_len; /* STRING: bytes of the introducer before the quote (N, _utf8mb4); HEX
                          and BIT quoted forms: 1 (the X or B) */
};

struct proto_sqllex {
    const unsigned char *s;
    size_t len;
    size_t pos;
    unsigned mode;   /* PROTO_SQLMODE_* */
    bool in_exec;    /* inside an executable comment: the next star-slash closes it */
    bool after_name; /* the last token was a name, a literal or `)`: a `.` is no number */
};

/* Starts a cursor over sql[0..len) (sql may be NULL when len is 0) lexed under `sqlmode`
 * (PROTO_SQLMODE_NO_BACKSLASH_ESCAPES, PROTO_SQLMODE_ANSI_QUOTES). */
void proto_sqllex_init(struct proto_sqllex *lx, const char *sql, size_t len, unsigned sqlmode);

/* Reads the next token into *t and advances; at the end of the text returns PROTO_TOK_END
 * (start == end == len) forever. Every byte of the text belongs to exactly one token. A copy
 * of the cursor (struct assignment) reads on independently: that is how readers look ahead. */
enum proto_tok proto_sqllex_next(struct proto_sqllex *lx, struct proto_sqltok *t);

/* Whitespace, comments, hints and executable-comment markers (terminated or not): what
 * separates tokens and means nothing to a statement's shape. */
bool proto_sqltok_blank(const struct proto_sqltok *t);

/* String, number, hex and bit literals, terminated or not (not placeholders). */
bool proto_sqltok_literal(const struct proto_sqltok *t);

/* True when t is a WORD equal to `w` (lowercase ASCII) ignoring case. */
bool proto_sqltok_word_is(const struct proto_sqllex *lx, const struct proto_sqltok *t,
                          const char *w);

/* True when t is an OP whose text is exactly `op`. */
bool proto_sqltok_op_is(const struct proto_sqllex *lx, const struct proto_sqltok *t,
                        const char *op);

#endif
