/*
 * proto_ddl.c - the tables of a DDL statement (ALTER/CREATE INDEX/DROP/TRUNCATE/RENAME); see
 * proto_ddl.h. Reads the tokens of proto_sqllex, blanks skipped.
 */
#include "protocol/proto_ddl.h"

#include "protocol/proto_sqllex.h"

#include <string.h>

/* The next token that is not a blank (END at the end). */
static enum proto_tok
dd_next(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    while (proto_sqllex_next(lx, t) != PROTO_TOK_END && proto_sqltok_blank(t)) {
    }
    return t->kind;
}

/* Copies the identifier t into out, unquoted; false when t is no identifier or the name is
 * empty, holds a NUL or is longer than PROTO_DDL_NAME_MAX bytes. */
static bool
dd_name(const struct proto_sqllex *lx, const struct proto_sqltok *t,
        char out[PROTO_DDL_NAME_MAX + 1])
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
        if (n == PROTO_DDL_NAME_MAX || s[i] == '\0') {
            return false;
        }
        out[n++] = (char)s[i];
    }
    out[n] = '\0';
    return n > 0;
}

/* Reads `t` or `db.t` at *t into *out; on return *t is the token after it. */
static bool
dd_table(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl_table *out)
{
    out->schema[0] = '\0';
    if (!dd_name(lx, t, out->table)) {
        return false;
    }
    dd_next(lx, t);
    if (proto_sqltok_op_is(lx, t, ".")) {
        memcpy(out->schema, out->table, sizeof out->schema);
        dd_next(lx, t);
        if (!dd_name(lx, t, out->table)) {
            return false;
        }
        dd_next(lx, t);
    }
    return !proto_sqltok_op_is(lx, t, ".");
}

/* Skips the words of `seq` (all of them, in order) when the text continues with them. */
static bool
dd_words(struct proto_sqllex *lx, struct proto_sqltok *t, const char *const *seq)
{
    struct proto_sqllex save = *lx;
    struct proto_sqltok first = *t;
    for (; *seq; seq++) {
        if (!proto_sqltok_word_is(lx, t, *seq)) {
            *lx = save;
            *t = first;
            return false;
        }
        dd_next(lx, t);
    }
    return true;
}

/* Skips one word of `any` when the text continues with it. */
static bool
dd_any(struct proto_sqllex *lx, struct proto_sqltok *t, const char *const *any)
{
    for (; *any; any++) {
        if (proto_sqltok_word_is(lx, t, *any)) {
            dd_next(lx, t);
            return true;
        }
    }
    return false;
}

/* Adds a table; false when it is no name. */
static bool
dd_add(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl *out)
{
    struct proto_ddl_table tab;
    if (!dd_table(lx, t, &tab)) {
        return false;
    }
    if (out->n < PROTO_DDL_TABLES) {
        out->t[out->n++] = tab;
    }
    return true;
}

static const char *const if_exists[] = {"if", "exists", NULL};
static const char *const if_not_exists[] = {"if", "not", "exists", NULL};

/* After ALTER TABLE t: an ADD [CONSTRAINT [x]] [UNIQUE|FULLTEXT|SPATIAL|PRIMARY] INDEX/KEY
 * clause anywhere at depth 0 of the statement. */
static bool
dd_adds_index(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    static const char *const mods[] = {"unique", "fulltext", "spatial", "primary", NULL};
    int depth = 0;
    for (; t->kind != PROTO_TOK_END; dd_next(lx, t)) {
        if (proto_sqltok_op_is(lx, t, "(")) {
            depth++;
        } else if (proto_sqltok_op_is(lx, t, ")")) {
            depth--;
        } else if (proto_sqltok_op_is(lx, t, ";") && depth == 0) {
            return false;
        } else if (depth == 0 && proto_sqltok_word_is(lx, t, "add")) {
            dd_next(lx, t);
            if (proto_sqltok_word_is(lx, t, "constraint")) {
                dd_next(lx, t);
                if (!dd_any(lx, t, mods)) {
                    dd_next(lx, t); /* the constraint's name */
                }
            }
            dd_any(lx, t, mods);
            if (proto_sqltok_word_is(lx, t, "index") || proto_sqltok_word_is(lx, t, "key")) {
                return true;
            }
            if (t->kind == PROTO_TOK_END) {
                return false;
            }
        }
    }
    return false;
}

static void
dd_alter(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl *out)
{
    static const char *const mods[] = {"online", "ignore", NULL};
    while (dd_any(lx, t, mods)) {
    }
    if (!proto_sqltok_word_is(lx, t, "table")) {
        return;
    }
    dd_next(lx, t);
    dd_words(lx, t, if_exists);
    if (dd_add(lx, t, out)) {
        out->kind = PROTO_DDL_ALTER_TABLE;
        out->add_index = dd_adds_index(lx, t);
    }
}

static void
dd_create(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl *out)
{
    static const char *const or_replace[] = {"or", "replace", NULL};
    static const char *const mods[] = {"online", "offline", "unique", "fulltext", "spatial", NULL};
    dd_words(lx, t, or_replace);
    while (dd_any(lx, t, mods)) {
    }
    if (!proto_sqltok_word_is(lx, t, "index")) {
        return;
    }
    dd_next(lx, t);
    dd_words(lx, t, if_not_exists);
    char idx[PROTO_DDL_NAME_MAX + 1];
    if (!dd_name(lx, t, idx)) {
        return;
    }
    dd_next(lx, t);
    if (proto_sqltok_word_is(lx, t, "using")) { /* USING BTREE|HASH before ON */
        dd_next(lx, t);
        dd_next(lx, t);
    }
    if (!proto_sqltok_word_is(lx, t, "on")) {
        return;
    }
    dd_next(lx, t);
    if (dd_add(lx, t, out)) {
        out->kind = PROTO_DDL_CREATE_INDEX;
    }
}

static void
dd_drop(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl *out)
{
    static const char *const temporary[] = {"temporary", NULL};
    static const char *const online[] = {"online", "offline", NULL};
    dd_any(lx, t, online);
    if (proto_sqltok_word_is(lx, t, "index")) {
        dd_next(lx, t);
        dd_words(lx, t, if_exists);
        char idx[PROTO_DDL_NAME_MAX + 1];
        if (!dd_name(lx, t, idx)) {
            return;
        }
        dd_next(lx, t);
        if (!proto_sqltok_word_is(lx, t, "on")) {
            return;
        }
        dd_next(lx, t);
        if (dd_add(lx, t, out)) {
            out->kind = PROTO_DDL_DROP_INDEX;
        }
        return;
    }
    dd_any(lx, t, temporary);
    if (!proto_sqltok_word_is(lx, t, "table") && !proto_sqltok_word_is(lx, t, "tables")) {
        return;
    }
    dd_next(lx, t);
    dd_words(lx, t, if_exists);
    while (dd_add(lx, t, out) && proto_sqltok_op_is(lx, t, ",")) {
        dd_next(lx, t);
    }
    if (out->n) {
        out->kind = PROTO_DDL_DROP_TABLE;
    }
}

static void
dd_rename(struct proto_sqllex *lx, struct proto_sqltok *t, struct proto_ddl *out)
{
    if (!proto_sqltok_word_is(lx, t, "table") && !proto_sqltok_word_is(lx, t, "tables")) {
        return;
    }
    dd_next(lx, t);
    dd_words(lx, t, if_exists);
    for (;;) {
        if (!dd_add(lx, t, out)) {
            break;
        }
        static const char *const wait[] = {"wait", NULL};
        static const char *const nowait[] = {"nowait", NULL};
        if (dd_any(lx, t, wait)) {
            dd_next(lx, t); /* WAIT n */
        }
        dd_any(lx, t, nowait);
        if (!proto_sqltok_word_is(lx, t, "to")) {
            break;
        }
        dd_next(lx, t);
        if (!dd_add(lx, t, out) || !proto_sqltok_op_is(lx, t, ",")) {
            break;
        }
        dd_next(lx, t);
    }
    if (out->n) {
        out->kind = PROTO_DDL_RENAME_TABLE;
    }
}

bool
proto_ddl_parse(const char *sql, size_t len, unsigned sqlmode, struct proto_ddl *out)
{
    *out = (struct proto_ddl){.kind = PROTO_DDL_NONE};
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    dd_next(&lx, &t);
    if (proto_sqltok_word_is(&lx, &t, "alter")) {
        dd_next(&lx, &t);
        dd_alter(&lx, &t, out);
    } else if (proto_sqltok_word_is(&lx, &t, "create")) {
        dd_next(&lx, &t);
        dd_create(&lx, &t, out);
    } else if (proto_sqltok_word_is(&lx, &t, "drop")) {
        dd_next(&lx, &t);
        dd_drop(&lx, &t, out);
    } else if (proto_sqltok_word_is(&lx, &t, "truncate")) {
        dd_next(&lx, &t);
        if (proto_sqltok_word_is(&lx, &t, "table")) {
            dd_next(&lx, &t);
        }
        if (dd_add(&lx, &t, out)) {
            out->kind = PROTO_DDL_TRUNCATE;
        }
    } else if (proto_sqltok_word_is(&lx, &t, "rename")) {
        dd_next(&lx, &t);
        dd_rename(&lx, &t, out);
    }
    if (out->kind == PROTO_DDL_NONE) {
        *out = (struct proto_ddl){.kind = PROTO_DDL_NONE};
        return false;
    }
    return true;
}

const char *
proto_ddl_kind_name(enum proto_ddl_kind kind)
{
    switch (kind) {
    case PROTO_DDL_ALTER_TABLE:
        return "alter_table";
    case PROTO_DDL_CREATE_INDEX:
        return "create_index";
    case PROTO_DDL_DROP_INDEX:
        return "drop_index";
    case PROTO_DDL_DROP_TABLE:
        return "drop_table";
    case PROTO_DDL_TRUNCATE:
        return "truncate";
    case PROTO_DDL_RENAME_TABLE:
        return "rename_table";
    case PROTO_DDL_NONE:
        break;
    }
    return "none";
}
