/*
 * proto_tmptab.c - CREATE TEMPORARY TABLE / DROP TABLE names, and whether a statement names
 * one of them; see proto_tmptab.h. Reads the tokens of proto_sqllex, blanks skipped.
 */
#include "protocol/proto_tmptab.h"

#include "protocol/proto_sqllex.h"

#include <string.h>
#include <strings.h>

/* The next token that is not a blank (END at the end). */
static enum proto_tok
tt_next(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    while (proto_sqllex_next(lx, t) != PROTO_TOK_END && proto_sqltok_blank(t)) {
    }
    return t->kind;
}

/* Copies the identifier t names into out (unquoted: a doubled quote is one); false when t is
 * no identifier or the name is empty, holds a NUL or is longer than PROTO_TMPTAB_NAME_MAX
 * bytes. */
static bool
tt_name(const struct proto_sqllex *lx, const struct proto_sqltok *t,
        char out[PROTO_TMPTAB_NAME_MAX + 1])
{
    if (t->kind != PROTO_TOK_WORD && t->kind != PROTO_TOK_QIDENT) {
        return false;
    }
    const unsigned char *s = lx->s;
    size_t n = 0;
    for (size_t i = t->body_start; i < t->body_end; i++) {
        if (t->kind == PROTO_TOK_QIDENT && s[i] == s[t->start] && i + 1 < t->body_end) {
            i++; /* `a``b`: the second of a doubled quote */
        }
        if (n == PROTO_TMPTAB_NAME_MAX || s[i] == '\0') {
            return false; /* too long, or a NUL: no identifier may hold one */
        }
        out[n++] = (char)s[i];
    }
    out[n] = '\0';
    return n > 0;
}

/* Reads `name` or `db.name` starting at *t into out (the last part); on return *t is the
 * token after it. `a.b.c` is no table name. */
static bool
tt_table(struct proto_sqllex *lx, struct proto_sqltok *t, char out[PROTO_TMPTAB_NAME_MAX + 1])
{
    if (!tt_name(lx, t, out)) {
        return false;
    }
    tt_next(lx, t);
    if (proto_sqltok_op_is(lx, t, ".")) {
        tt_next(lx, t);
        if (!tt_name(lx, t, out)) {
            return false;
        }
        tt_next(lx, t);
    }
    return !proto_sqltok_op_is(lx, t, ".");
}

/* Skips the words of `seq` (all of them, in order) when the text continues with them. */
static bool
tt_words(struct proto_sqllex *lx, struct proto_sqltok *t, const char *const *seq)
{
    struct proto_sqllex save = *lx;
    struct proto_sqltok first = *t;
    for (; *seq; seq++) {
        if (!proto_sqltok_word_is(lx, t, *seq)) {
            *lx = save;
            *t = first;
            return false;
        }
        tt_next(lx, t);
    }
    return true;
}

static void
tt_create(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_tmptab_stmt *out)
{
    static const char *const or_replace[] = {"or", "replace", NULL};
    static const char *const temporary_table[] = {"temporary", "table", NULL};
    static const char *const if_not_exists[] = {"if", "not", "exists", NULL};
    tt_words(lx, t, or_replace);
    if (!tt_words(lx, t, temporary_table)) {
        return;
    }
    tt_words(lx, t, if_not_exists);
    if (tt_table(lx, t, out->names[0])) {
        out->op = PROTO_TMPTAB_CREATE;
        out->n = 1;
    }
}

static void
tt_drop(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_tmptab_stmt *out)
{
    static const char *const temporary[] = {"temporary", NULL};
    static const char *const if_exists[] = {"if", "exists", NULL};
    tt_words(lx, t, temporary);
    if (!proto_sqltok_word_is(lx, t, "table") && !proto_sqltok_word_is(lx, t, "tables")) {
        return;
    }
    tt_next(lx, t);
    tt_words(lx, t, if_exists);
    out->op = PROTO_TMPTAB_DROP;
    for (;;) {
        char name[PROTO_TMPTAB_NAME_MAX + 1];
        if (!tt_table(lx, t, name)) {
            /* a name too long to keep is still dropped: the caller cannot know which */
            out->more = out->more || t->kind == PROTO_TOK_WORD || t->kind == PROTO_TOK_QIDENT;
            break;
        }
        if (out->n < PROTO_TMPTAB_STMT_MAX) {
            memcpy(out->names[out->n++], name, strlen(name) + 1);
        } else {
            out->more = true;
        }
        if (!proto_sqltok_op_is(lx, t, ",")) {
            break;
        }
        tt_next(lx, t);
    }
}

void
proto_tmptab_parse(const char *sql, size_t len, unsigned sqlmode, struct proto_tmptab_stmt *out)
{
    out->op = PROTO_TMPTAB_NONE;
    out->n = 0;
    out->more = false;
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    tt_next(&lx, &t);
    bool create = proto_sqltok_word_is(&lx, &t, "create");
    if (!create && !proto_sqltok_word_is(&lx, &t, "drop")) {
        return;
    }
    tt_next(&lx, &t);
    if (create) {
        tt_create(&lx, &t, out);
    } else {
        tt_drop(&lx, &t, out);
    }
    if (out->op == PROTO_TMPTAB_DROP && out->n == 0 && !out->more) {
        out->op = PROTO_TMPTAB_NONE;
    }
}

unsigned
proto_tmptab_named(const char *sql, size_t len, unsigned sqlmode,
                   const char (*names)[PROTO_TMPTAB_NAME_MAX + 1], unsigned n)
{
    if (n == 0) {
        return 0;
    }
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    while (tt_next(&lx, &t) != PROTO_TOK_END) {
        char name[PROTO_TMPTAB_NAME_MAX + 1];
        if (!tt_name(&lx, &t, name)) {
            continue;
        }
        unsigned hit = 0;
        for (unsigned i = 0; i < n && !hit; i++) {
            if (strcasecmp(name, names[i]) == 0) {
                hit = i + 1;
            }
        }
        if (!hit) {
            continue;
        }
        struct proto_sqllex ahead = lx;
        struct proto_sqltok next;
        tt_next(&ahead, &next);
        if (!proto_sqltok_op_is(&ahead, &next, ".")) {
            return hit; /* a qualifier (a schema, or a table before its column) is not it */
        }
    }
    return 0;
}
