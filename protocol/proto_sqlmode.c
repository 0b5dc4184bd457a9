/*
 * proto_sqlmode.c - the session's ANSI_QUOTES mode as SET statements change it, read through
 * the one SQL tokenizer (proto_sqllex); see proto_sqlmode.h for what is understood.
 */
#include <string.h>
#include <strings.h>

#include "protocol/proto_sqllex.h"
#include "protocol/proto_sqlmode.h"

/* A cursor that skips blanks (whitespace, comments; executable-comment markers too, since
 * their content is code). */
struct rd {
    struct proto_sqllex lx;
    struct proto_sqltok t; /* the current token */
};

static void
rd_next(struct rd *r)
{
    do {
        proto_sqllex_next(&r->lx, &r->t);
    } while (proto_sqltok_blank(&r->t));
}

/* Appends the current token to out[*n..cap) when it is one part of a name: a word or a
 * quoted identifier (`sql_mode`, and "sql_mode" under ANSI_QUOTES), lowercased, without its
 * quotes; false otherwise. Does not advance. */
static bool
rd_part(struct rd *r, char *out, size_t cap, size_t *n)
{
    size_t a = r->t.start, b = r->t.end;
    if (r->t.kind == PROTO_TOK_QIDENT) {
        a = r->t.body_start;
        b = r->t.body_end;
    } else if (r->t.kind != PROTO_TOK_WORD) {
        return false;
    }
    if (a == b || b - a >= cap - *n) {
        return false;
    }
    for (size_t i = a; i < b; i++) {
        char c = (char)r->lx.s[i];
        out[(*n)++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return true;
}

/* Reads a variable name into out, lowercased and without quotes: `@` or `@@` glued to the
 * first part, then parts joined by `.`, which may have blanks around it as the server allows
 * (sql_mode, `sql_mode`, @@sql_mode, @@SESSION . `sql_mode`); false when it is no such name
 * or too long. Leaves the cursor on the token after the name. */
static bool
rd_name(struct rd *r, char *out, size_t cap)
{
    size_t n = 0;
    while (proto_sqltok_op_is(&r->lx, &r->t, "@")) {
        if (n + 2 >= cap) {
            return false;
        }
        out[n++] = '@';
        proto_sqllex_next(&r->lx, &r->t); /* no blanks between @, @ and the name */
    }
    if (!rd_part(r, out, cap, &n)) {
        return false;
    }
    rd_next(r);
    while (proto_sqltok_op_is(&r->lx, &r->t, ".")) {
        if (n + 2 >= cap) {
            return false;
        }
        out[n++] = '.';
        rd_next(r);
        if (!rd_part(r, out, cap, &n)) {
            return false;
        }
        rd_next(r);
    }
    out[n] = '\0';
    return true;
}

bool
proto_sqlmode_list_has_ansi_quotes(const char *s, size_t n)
{
    static const char *const modes[] = {"ANSI_QUOTES", "ANSI",       "DB2",   "MAXDB",
                                        "MSSQL",       "POSTGRESQL", "ORACLE"};
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == ',')) {
            i++;
        }
        size_t a = i;
        while (i < n && s[i] != ',' && s[i] != ' ') {
            i++;
        }
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            if (i - a == strlen(modes[m]) && strncasecmp(s + a, modes[m], i - a) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* The value being assigned: what is known of it. */
struct val {
    bool ansi;
    bool text_known;
    size_t text_start, text_len; /* into the statement, when text_known */
};

/* The current token is a plain string literal: does its list name ANSI_QUOTES? */
static bool
rd_string_list(struct rd *r, bool *ansi, size_t *start, size_t *len)
{
    if (r->t.kind != PROTO_TOK_STRING || r->t.prefix_len) {
        return false;
    }
    for (size_t i = r->t.body_start; i < r->t.body_end; i++) {
        if (r->lx.s[i] == '\\' || r->lx.s[i] == r->lx.s[r->t.start] || r->lx.s[i] == '\0') {
            return false; /* mode names never need an escape, nor hold a NUL */
        }
    }
    *start = r->t.body_start;
    *len = r->t.body_end - r->t.body_start;
    *ansi = proto_sqlmode_list_has_ansi_quotes((const char *)r->lx.s + *start, *len);
    rd_next(r);
    return true;
}

/* The value of one sql_mode assignment: true with *v filled when understood; v->ansi holds
 * the flag before the assignment on entry. */
static bool
rd_value(struct rd *r, struct val *v)
{
    char name[32];
    size_t a, n;
    if (r->t.kind == PROTO_TOK_STRING) {
        v->text_known = rd_string_list(r, &v->ansi, &v->text_start, &v->text_len);
        return v->text_known;
    }
    if (proto_sqltok_word_is(&r->lx, &r->t, "default")) {
        v->ansi = false; /* the global default: taken to be without ANSI_QUOTES */
        v->text_known = true;
        v->text_len = 0;
        rd_next(r);
        return true;
    }
    if (!proto_sqltok_word_is(&r->lx, &r->t, "concat")) {
        return false;
    }
    /* CONCAT(@@sql_mode, 'LIST'...): the old modes stay and a list may add ANSI_QUOTES */
    rd_next(r);
    if (!proto_sqltok_op_is(&r->lx, &r->t, "(")) {
        return false;
    }
    rd_next(r);
    if (!rd_name(r, name, sizeof name) ||
        (strcmp(name, "@@sql_mode") != 0 && strcmp(name, "@@session.sql_mode") != 0)) {
        return false;
    }
    bool add = false;
    while (proto_sqltok_op_is(&r->lx, &r->t, ",")) {
        rd_next(r);
        bool x = false;
        if (!rd_string_list(r, &x, &a, &n)) {
            return false;
        }
        add = add || x;
    }
    if (!proto_sqltok_op_is(&r->lx, &r->t, ")")) {
        return false;
    }
    rd_next(r);
    v->ansi = v->ansi || add;
    v->text_known = false;
    return true;
}

/* Skips the value of an assignment to another variable: up to a `,` outside parentheses. */
static void
rd_skip_value(struct rd *r)
{
    int depth = 0;
    while (r->t.kind != PROTO_TOK_END) {
        if (depth == 0 &&
            (proto_sqltok_op_is(&r->lx, &r->t, ",") || proto_sqltok_op_is(&r->lx, &r->t, ";"))) {
            return;
        }
        if (proto_sqltok_op_is(&r->lx, &r->t, "(")) {
            depth++;
        } else if (proto_sqltok_op_is(&r->lx, &r->t, ")")) {
            depth--;
        }
        rd_next(r);
    }
}

/* The text holds "sql_mode" in any case: a SET of it must (the name has no other spelling).
 * Not inlined: its registers would make every statement's call save and restore them. */
static __attribute__((noinline)) bool
mentions_sql_mode(const char *s, size_t len)
{
    if (len < 8) {
        return false;
    }
    const char *end = s + len;
    for (const char *p = s + 3; p < end - 4 && (p = memchr(p, '_', (size_t)(end - 4 - p))); p++) {
        if (strncasecmp(p - 3, "sql_mode", 8) == 0) {
            return true;
        }
    }
    return false;
}

/* A character of an unquoted word: a letter, a digit, '_', '$' or a byte of a multi-byte one. */
static bool
word_char(unsigned char c)
{
    unsigned char l = c | 0x20; /* ASCII letters to lower case */
    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

/* False when the text cannot be a SET: after spaces and tabs it starts with a word that is not
 * "set" (SELECT, INSERT, ...). Anything else (a comment, other blanks) is left to the lexer. */
static bool
may_be_set(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    if (i == len) {
        return false;
    }
    if (!word_char((unsigned char)s[i])) {
        return true;
    }
    return len - i >= 3 && (s[i] | 0x20) == 's' && (s[i + 1] | 0x20) == 'e' &&
           (s[i + 2] | 0x20) == 't' && (len - i == 3 || !word_char((unsigned char)s[i + 3]));
}

static bool from_set(const char *sql, size_t len, struct proto_sqlmode *m)
    __attribute__((noinline)); /* the lexer's frame only for the few that get there */

bool
proto_sqlmode_from_set(const char *sql, size_t len, struct proto_sqlmode *m)
{
    /* every statement passes here: most leave without being lexed */
    return may_be_set(sql, len) && mentions_sql_mode(sql, len) && from_set(sql, len, m);
}

static bool
from_set(const char *sql, size_t len, struct proto_sqlmode *m)
{
    struct rd r;
    char name[32];
    proto_sqllex_init(&r.lx, sql, len, m->flags);
    rd_next(&r);
    if (!proto_sqltok_word_is(&r.lx, &r.t, "set")) {
        return false;
    }
    rd_next(&r);
    bool changed = false;
    struct val v = {.ansi = (m->flags & PROTO_SQLMODE_ANSI_QUOTES) != 0};
    for (;;) {
        bool global = false;
        if (proto_sqltok_word_is(&r.lx, &r.t, "session") ||
            proto_sqltok_word_is(&r.lx, &r.t, "local")) {
            rd_next(&r);
        } else if (proto_sqltok_word_is(&r.lx, &r.t, "global")) {
            global = true;
            rd_next(&r);
        }
        if (proto_sqltok_word_is(&r.lx, &r.t, "names") ||
            proto_sqltok_word_is(&r.lx, &r.t, "charset") ||
            proto_sqltok_word_is(&r.lx, &r.t, "character")) {
            rd_skip_value(&r); /* SET NAMES x [COLLATE y], SET CHARACTER SET x: no '=' */
            if (!proto_sqltok_op_is(&r.lx, &r.t, ",")) {
                break;
            }
            rd_next(&r);
            continue;
        }
        if (!rd_name(&r, name, sizeof name)) {
            return false;
        }
        bool is_mode = strcmp(name, "sql_mode") == 0 || strcmp(name, "@@sql_mode") == 0 ||
                       strcmp(name, "@@session.sql_mode") == 0 ||
                       strcmp(name, "@@local.sql_mode") == 0;
        global = global || strcmp(name, "@@global.sql_mode") == 0;
        if (!proto_sqltok_op_is(&r.lx, &r.t, "=") && !proto_sqltok_op_is(&r.lx, &r.t, ":=")) {
            return false;
        }
        rd_next(&r);
        if (is_mode && !global) {
            if (!rd_value(&r, &v)) {
                return false;
            }
            changed = true;
        } else {
            rd_skip_value(&r);
        }
        if (!proto_sqltok_op_is(&r.lx, &r.t, ",")) {
            break;
        }
        rd_next(&r);
    }
    if (!changed) {
        return false;
    }
    m->flags =
        v.ansi ? m->flags | PROTO_SQLMODE_ANSI_QUOTES : m->flags & ~PROTO_SQLMODE_ANSI_QUOTES;
    m->changed = true;
    m->text_known = v.text_known && v.text_len < sizeof m->text;
    if (m->text_known) {
        memcpy(m->text, sql + v.text_start, v.text_len);
        m->text[v.text_len] = '\0';
    } else {
        m->text[0] = '\0';
    }
    return true;
}
