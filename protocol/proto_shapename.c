/*
 * proto_shapename.c - a shape's short name (see proto_shapename.h).
 *
 * One pass of proto_sqllex with a small clause state machine per query level: the select list,
 * VALUES and join conditions are skipped, tables are collected from FROM/JOIN/INTO/UPDATE, and
 * WHERE/GROUP BY/ORDER BY are rendered compactly. A parenthesised SELECT is named by the same
 * machine one level down (at most NM_DEPTH levels; deeper ones are "(…)"). Output is bounded:
 * once it is full the pass stops.
 */
#include "protocol/proto_shapename.h"

#include <string.h>

#include "protocol/proto_sqllex.h"
#include "protocol/proto_tags.h"

#define NM_DEPTH 6  /* query levels named; deeper subqueries are "(…)" */
#define NM_SEEN  16 /* tables remembered per level to name each once */
#define NM_OTHER 12 /* tokens shown of a statement that is no query */

struct nm {
    struct proto_sqllex lx;
    char *out;
    size_t n, lim; /* bytes written, bytes allowed (NUL excluded) */
    bool full;     /* something did not fit: the name is cut */
    bool glue;     /* the next item follows without a space */
};

enum nm_verb { NM_NONE = 0, NM_SELECT, NM_INSERT, NM_UPDATE, NM_DELETE };

enum nm_state {
    NM_SKIP,      /* select list, VALUES, LIMIT, join conditions ... */
    NM_TABLES,    /* a table is expected */
    NM_ALIAS,     /* after a table: an alias, a comma, a join */
    NM_COND,      /* WHERE, GROUP BY, ORDER BY: rendered */
    NM_SET,       /* UPDATE ... SET: a column is expected */
    NM_SETEXPR,   /* its value */
    NM_DELTARGET, /* DELETE's modifiers and targets before FROM */
    NM_INTO,      /* INSERT's modifiers before its table */
    NM_JOINCOND,  /* a join's ON or USING: skipped up to a comma or the next clause */
};

/* A condition being rendered. */
struct nm_cond {
    unsigned pd;   /* its open parentheses */
    bool after_in; /* the last word was IN: a list follows */
    bool operand;  /* the last item was a value or column (a sign after it is an operator) */
};

/* Words that end a clause, a table list or an alias position. */
static const char *const nm_clause_words[] = {
    "from",      "where",     "join",          "inner",  "left",      "right",  "outer",
    "cross",     "natural",   "straight_join", "on",     "using",     "group",  "order",
    "having",    "limit",     "union",         "except", "intersect", "for",    "lock",
    "set",       "use",       "force",         "ignore", "window",    "into",   "procedure",
    "partition", "returning", "values",        "value",  "select",    "offset", NULL,
};

/* Words shown in capitals inside a condition. */
static const char *const nm_cond_words[] = {
    "and",  "or",       "not",    "is",   "null",  "like",   "between", "in",  "exists",
    "xor",  "regexp",   "rlike",  "true", "false", "escape", "div",     "mod", "interval",
    "case", "when",     "then",   "else", "end",   "binary", "collate", "any", "all",
    "some", "distinct", "sounds", "desc", "with",  "rollup", "unknown", "as",  NULL,
};

/* Statements that are no query whose second word is shown in capitals too. */
static const char *const nm_two_words[] = {
    "show",   "create", "drop",  "alter", "truncate", "set",     "start",
    "lock",   "unlock", "flush", "grant", "revoke",   "analyze", "optimize",
    "rename", "load",   "kill",  "xa",    NULL,
};

static bool
nm_in(const char *w, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(w, *list) == 0) {
            return true;
        }
    }
    return false;
}

static unsigned char
nm_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ---- output ----------------------------------------------------------------------------- */

static void
nm_putc(struct nm *m, unsigned char c)
{
    if (m->full) {
        return;
    }
    if (m->n >= m->lim) {
        m->full = true;
        return;
    }
    m->out[m->n++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
}

static void
nm_puts(struct nm *m, const char *s)
{
    for (; *s && !m->full; s++) {
        nm_putc(m, (unsigned char)*s);
    }
}

/* A space before the next item unless it is glued or follows "(". */
static void
nm_sep(struct nm *m)
{
    if (m->glue) {
        m->glue = false;
        return;
    }
    if (m->n > 0 && m->out[m->n - 1] != '(' && m->out[m->n - 1] != ' ') {
        nm_putc(m, ' ');
    }
}

static void
nm_upper(struct nm *m, const char *w)
{
    for (; *w; w++) {
        unsigned char c = (unsigned char)*w;
        nm_putc(m, (c >= 'a' && c <= 'z') ? (unsigned char)(c - ('a' - 'A')) : c);
    }
}

/* ---- tokens ----------------------------------------------------------------------------- */

/* The next token that is not blank; false at the end. */
static bool
nm_next(struct nm *m, struct proto_sqltok *t)
{
    while (proto_sqllex_next(&m->lx, t) != PROTO_TOK_END) {
        if (!proto_sqltok_blank(t)) {
            return true;
        }
    }
    return false;
}

static bool
nm_peek(struct nm *m, struct proto_sqltok *t)
{
    struct proto_sqllex save = m->lx;
    bool r = nm_next(m, t);
    m->lx = save;
    return r;
}

/* t's word in lowercase into w (capacity 24), "" when t is no word or a longer one. */
static void
nm_word(const struct nm *m, const struct proto_sqltok *t, char w[24])
{
    size_t k = t->end - t->start;
    w[0] = '\0';
    if (t->kind != PROTO_TOK_WORD || k >= 24) {
        return;
    }
    for (size_t i = 0; i < k; i++) {
        w[i] = (char)nm_lower(m->lx.s[t->start + i]);
    }
    w[k] = '\0';
}

static bool
nm_op(const struct nm *m, const struct proto_sqltok *t, const char *op)
{
    return proto_sqltok_op_is(&m->lx, t, op);
}

static bool
nm_ident_tok(const struct proto_sqltok *t)
{
    return t->kind == PROTO_TOK_WORD || t->open == PROTO_TOK_QIDENT;
}

static bool
nm_value_tok(const struct proto_sqltok *t)
{
    return proto_sqltok_literal(t) || t->kind == PROTO_TOK_PARAM ||
           t->kind == PROTO_TOK_NAMED_PARAM;
}

/* True when the next token is the word `w`. */
static bool
nm_peek_word(struct nm *m, const char *w)
{
    struct proto_sqltok t;
    return nm_peek(m, &t) && proto_sqltok_word_is(&m->lx, &t, w);
}

/* True when the next token starts a query (a parenthesised subquery follows). */
static bool
nm_peek_query(struct nm *m)
{
    return nm_peek_word(m, "select") || nm_peek_word(m, "with");
}

/* Consumes tokens up to the `)` matching a `(` just read. */
static void
nm_skip(struct nm *m)
{
    struct proto_sqltok t;
    unsigned d = 1;
    while (nm_next(m, &t)) {
        if (nm_op(m, &t, "(")) {
            d++;
        } else if (nm_op(m, &t, ")") && --d == 0) {
            return;
        }
    }
}

/* A name and its qualifiers: a, a.b, `db`.`t`.`c` (the last four parts). */
struct nm_qname {
    struct proto_sqltok part[4];
    unsigned n;
};

static void
nm_qname_read(struct nm *m, const struct proto_sqltok *first, struct nm_qname *q)
{
    q->part[0] = *first;
    q->n = 1;
    for (;;) {
        struct proto_sqllex save = m->lx;
        struct proto_sqltok dot, nx;
        if (!nm_next(m, &dot) || !nm_op(m, &dot, ".") || !nm_next(m, &nx) || !nm_ident_tok(&nx)) {
            m->lx = save;
            return;
        }
        if (q->n < 4) {
            q->part[q->n++] = nx;
        } else {
            q->part[3] = nx;
        }
    }
}

/* One identifier: a bare word lowercased, a quoted one without its quotes. */
static void
nm_ident(struct nm *m, const struct proto_sqltok *t)
{
    const unsigned char *s = m->lx.s;
    if (t->kind == PROTO_TOK_WORD) {
        for (size_t i = t->start; i < t->end; i++) {
            nm_putc(m, nm_lower(s[i]));
        }
        return;
    }
    unsigned char q = s[t->start];
    for (size_t i = t->body_start; i < t->body_end; i++) {
        nm_putc(m, s[i]);
        if (s[i] == q && i + 1 < t->body_end && s[i + 1] == q) {
            i++;
        }
    }
}

/* The name, whole or (`last`) its last part only. */
static void
nm_qname_put(struct nm *m, const struct nm_qname *q, bool last)
{
    for (unsigned i = last ? q->n - 1 : 0; i < q->n; i++) {
        if (i > (last ? q->n - 1 : 0)) {
            nm_putc(m, '.');
        }
        nm_ident(m, &q->part[i]);
    }
}

/* FNV-1a of a name as it would be written (to name each table of a level once). */
static uint64_t
nm_qname_hash(const struct nm *m, const struct nm_qname *q)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < q->n; i++) {
        const struct proto_sqltok *t = &q->part[i];
        size_t a = t->kind == PROTO_TOK_WORD ? t->start : t->body_start;
        size_t b = t->kind == PROTO_TOK_WORD ? t->end : t->body_end;
        for (size_t j = a; j < b; j++) {
            h ^= nm_lower(m->lx.s[j]);
            h *= 0x100000001b3ull;
        }
        h ^= '.';
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- a query level ---------------------------------------------------------------------- */

struct nm_level {
    enum nm_verb verb;
    unsigned ntables; /* tables (and derived tables) named at this level */
    unsigned nrefs;   /* table references (a self-join counts twice) */
    unsigned nseen;
    uint64_t seen[NM_SEEN];
};

static void nm_query(struct nm *m, unsigned depth, bool sub);

/* A parenthesised subquery whose `(` was just read: "(SELECT ...)" or "(…)" too deep. */
static void
nm_subquery(struct nm *m, unsigned depth)
{
    if (depth + 1 >= NM_DEPTH) {
        nm_puts(m, "(\xe2\x80\xa6)");
        nm_skip(m);
        return;
    }
    nm_putc(m, '(');
    m->glue = true;
    nm_query(m, depth + 1, true);
    m->glue = false;
    nm_putc(m, ')');
}

/*
 * Renders token t of a condition or column list. Returns false, writing nothing, when t is no
 * part of it: a clause word or an unmatched `)` at its outer level, or the end.
 */
static bool
nm_cond_tok(struct nm *m, const struct proto_sqltok *t, struct nm_cond *c, unsigned depth,
            bool strip)
{
    char w[24];
    if (t->kind == PROTO_TOK_END) {
        return false;
    }
    if (nm_op(m, t, "(")) {
        bool in = c->after_in;
        c->after_in = false;
        if (nm_peek_query(m)) {
            nm_sep(m);
            nm_subquery(m, depth);
            c->operand = true;
        } else if (in) {
            nm_sep(m);
            nm_puts(m, "(\xe2\x80\xa6)");
            nm_skip(m);
            c->operand = true;
        } else {
            nm_sep(m);
            nm_putc(m, '(');
            m->glue = true;
            c->pd++;
            c->operand = false;
        }
        return true;
    }
    if (nm_op(m, t, ")")) {
        if (c->pd == 0) {
            return false;
        }
        c->pd--;
        m->glue = false;
        nm_putc(m, ')');
        c->operand = true;
        return true;
    }
    c->after_in = false;
    if (nm_value_tok(t)) {
        nm_sep(m);
        nm_putc(m, '?');
        c->operand = true;
        return true;
    }
    if (t->kind == PROTO_TOK_WORD) {
        nm_word(m, t, w);
        if (c->pd == 0 && nm_in(w, nm_clause_words)) {
            return false;
        }
        if (strcmp(w, "asc") == 0) {
            return true; /* the default order: the fingerprint drops it too */
        }
        if (nm_in(w, nm_cond_words)) {
            nm_sep(m);
            nm_upper(m, w);
            c->after_in = strcmp(w, "in") == 0;
            c->operand = strcmp(w, "null") == 0 || strcmp(w, "true") == 0 ||
                         strcmp(w, "false") == 0 || strcmp(w, "end") == 0 ||
                         strcmp(w, "unknown") == 0;
            return true;
        }
    }
    if (nm_ident_tok(t)) {
        struct nm_qname q;
        struct proto_sqltok nx;
        nm_qname_read(m, t, &q);
        bool call = nm_peek(m, &nx) && nm_op(m, &nx, "(");
        nm_sep(m);
        nm_qname_put(m, &q, strip && !call);
        m->glue = call;
        c->operand = !call;
        return true;
    }
    if (nm_op(m, t, ",")) {
        m->glue = false;
        nm_putc(m, ',');
        c->operand = false;
        return true;
    }
    if ((nm_op(m, t, "-") || nm_op(m, t, "+")) && !c->operand) {
        struct proto_sqltok nx;
        if (nm_peek(m, &nx) && nm_value_tok(&nx)) {
            return true; /* a sign: part of the value */
        }
    }
    nm_sep(m);
    for (size_t i = t->start; i < t->end; i++) {
        nm_putc(m, m->lx.s[i]);
    }
    m->glue = nm_op(m, t, "@") || nm_op(m, t, ".");
    c->operand = false;
    return true;
}

/* Renders the tokens from cursor `from` up to byte `end` (a SELECT's list when it has no FROM)
 * and puts the cursor back. */
static void
nm_render_range(struct nm *m, const struct proto_sqllex *from, size_t end, unsigned depth)
{
    struct proto_sqllex save = m->lx;
    struct nm_cond c = {.pd = 0, .after_in = false, .operand = false};
    struct proto_sqltok t;
    m->lx = *from;
    while (!m->full && nm_next(m, &t) && t.start < end) {
        if (!nm_cond_tok(m, &t, &c, depth, true) && t.kind == PROTO_TOK_WORD) {
            nm_sep(m);
            nm_ident(m, &t);
        }
    }
    m->lx = save;
}

/* A statement that is no query: its first words. */
static void
nm_other(struct nm *m, const struct proto_sqltok *first)
{
    char w[24];
    struct proto_sqltok t;
    nm_word(m, first, w);
    if (strcmp(w, "administrator") == 0) {
        for (size_t i = first->start; i < m->lx.len; i++) { /* slowtap's own shape */
            nm_putc(m, m->lx.s[i]);
        }
        return;
    }
    if (first->kind == PROTO_TOK_WORD) {
        nm_upper(m, w[0] ? w : "?");
    } else {
        struct nm_cond c0 = {.pd = 0, .after_in = false, .operand = false};
        nm_cond_tok(m, first, &c0, NM_DEPTH, false);
    }
    if (w[0] && nm_in(w, nm_two_words) && nm_peek(m, &t) && t.kind == PROTO_TOK_WORD) {
        char w2[24];
        nm_next(m, &t);
        nm_word(m, &t, w2);
        nm_sep(m);
        nm_upper(m, w2[0] ? w2 : "?");
    }
    struct nm_cond c = {.pd = 0, .after_in = false, .operand = false};
    for (unsigned k = 0; !m->full && nm_next(m, &t); k++) {
        if (k == NM_OTHER) {
            m->full = true;
            return;
        }
        if (!nm_cond_tok(m, &t, &c, NM_DEPTH, false)) {
            nm_sep(m);
            if (t.kind == PROTO_TOK_WORD) {
                nm_ident(m, &t);
            } else {
                nm_putc(m, ')');
            }
        }
    }
}

/* A table of the level, named once (a self-join shows it once). */
static void
nm_table(struct nm *m, struct nm_level *lv, const struct nm_qname *q)
{
    uint64_t h = nm_qname_hash(m, q);
    lv->nrefs++;
    for (unsigned i = 0; i < lv->nseen; i++) {
        if (lv->seen[i] == h) {
            return;
        }
    }
    if (lv->nseen < NM_SEEN) {
        lv->seen[lv->nseen++] = h;
    }
    if (lv->ntables++ > 0) {
        m->glue = false;
        nm_putc(m, ',');
    }
    nm_sep(m);
    nm_qname_put(m, q, false);
}

/* The verb that starts a level (after WITH's tables and leading parentheses), or false. */
static bool
nm_verb(struct nm *m, const struct proto_sqltok *t, struct nm_level *lv, enum nm_state *st)
{
    char w[24];
    nm_word(m, t, w);
    if (strcmp(w, "select") == 0) {
        lv->verb = NM_SELECT;
        *st = NM_SKIP;
    } else if (strcmp(w, "insert") == 0 || strcmp(w, "replace") == 0) {
        lv->verb = NM_INSERT;
        *st = NM_INTO;
    } else if (strcmp(w, "update") == 0) {
        lv->verb = NM_UPDATE;
        *st = NM_TABLES;
    } else if (strcmp(w, "delete") == 0) {
        lv->verb = NM_DELETE;
        *st = NM_DELTARGET;
    } else {
        return false;
    }
    nm_sep(m);
    nm_upper(m, w);
    return true;
}

/* WITH's common table expressions: skipped up to the statement they serve. */
static void
nm_skip_with(struct nm *m)
{
    struct proto_sqltok t;
    while (nm_peek(m, &t)) {
        if (nm_op(m, &t, "(")) {
            nm_next(m, &t);
            nm_skip(m);
            continue;
        }
        char w[24];
        nm_word(m, &t, w);
        if (strcmp(w, "select") == 0 || strcmp(w, "insert") == 0 || strcmp(w, "update") == 0 ||
            strcmp(w, "delete") == 0 || strcmp(w, "replace") == 0) {
            return;
        }
        nm_next(m, &t);
    }
}

/* Per-level bookkeeping of nm_query. */
struct nm_q {
    struct nm_level lv;
    enum nm_state st;
    struct nm_cond cond;
    unsigned lead, tpd; /* leading parentheses; parentheses inside a table list */
    bool list_open;     /* a SELECT's list not yet followed by FROM */
    struct proto_sqllex list_from;
};

/* A SELECT that ended without FROM shows its list (`SELECT last_insert_id()`). */
static void
nm_list_close(struct nm *m, struct nm_q *q, size_t end, unsigned depth)
{
    if (q->list_open) {
        q->list_open = false;
        nm_render_range(m, &q->list_from, end, depth);
    }
}

/* A clause word at the level's outer parentheses: moves the state. */
static void
nm_clause(struct nm *m, struct nm_q *q, const char *w, const struct proto_sqltok *t, unsigned depth)
{
    struct proto_sqltok nx;
    if (strcmp(w, "from") == 0) {
        q->list_open = false;
        q->st = NM_TABLES;
        return;
    }
    if (strcmp(w, "join") == 0 || strcmp(w, "straight_join") == 0) {
        q->st = NM_TABLES;
        return;
    }
    if (strcmp(w, "inner") == 0 || strcmp(w, "left") == 0 || strcmp(w, "right") == 0 ||
        strcmp(w, "outer") == 0 || strcmp(w, "cross") == 0 || strcmp(w, "natural") == 0) {
        return;
    }
    if (strcmp(w, "select") == 0) {
        if (q->lv.verb == NM_INSERT) { /* INSERT ... SELECT: the rest is named as a SELECT */
            memset(&q->lv, 0, sizeof q->lv);
            nm_verb(m, t, &q->lv, &q->st);
            q->list_open = true;
            q->list_from = m->lx;
        }
        return;
    }
    nm_list_close(m, q, t->start, depth);
    q->cond = (struct nm_cond){.pd = 0, .after_in = false, .operand = false};
    if (strcmp(w, "on") == 0 && nm_peek_word(m, "duplicate")) {
        nm_puts(m, " ON DUPLICATE KEY UPDATE");
        q->st = NM_SKIP;
        q->lv.verb = NM_SELECT; /* its SELECT words name nothing more */
        q->list_open = false;
    } else if (strcmp(w, "where") == 0) {
        nm_puts(m, " WHERE");
        q->st = NM_COND;
    } else if ((strcmp(w, "group") == 0 || strcmp(w, "order") == 0) && nm_peek_word(m, "by")) {
        nm_next(m, &nx);
        nm_puts(m, w[0] == 'g' ? " GROUP BY" : " ORDER BY");
        q->st = NM_COND;
    } else if (strcmp(w, "union") == 0 || strcmp(w, "except") == 0 || strcmp(w, "intersect") == 0) {
        nm_putc(m, ' ');
        nm_upper(m, w);
        if (nm_peek_word(m, "all") || nm_peek_word(m, "distinct")) {
            nm_next(m, &nx);
        }
        memset(&q->lv, 0, sizeof q->lv);
        q->st = NM_SKIP;
    } else if (strcmp(w, "set") == 0 && q->lv.verb == NM_UPDATE) {
        nm_puts(m, " SET");
        q->st = NM_SET;
    } else if (strcmp(w, "for") == 0 && nm_peek_word(m, "update")) {
        nm_puts(m, " FOR UPDATE");
        q->st = NM_SKIP;
    } else if (strcmp(w, "on") == 0 || strcmp(w, "using") == 0) {
        q->st = NM_JOINCOND;
    } else {
        q->st = NM_SKIP; /* LIMIT, HAVING, VALUES, ON (a join's condition), USING, INTO ... */
    }
}

/* Handles t in the table states; false when it is for nm_clause or the level's end. */
static bool
nm_tables_tok(struct nm *m, struct nm_q *q, const struct proto_sqltok *t, const char *w,
              unsigned depth)
{
    if (nm_op(m, t, "(")) {
        if (nm_peek_query(m)) {
            if (q->lv.ntables++ > 0) {
                m->glue = false;
                nm_putc(m, ',');
            }
            nm_sep(m);
            nm_subquery(m, depth);
            q->st = NM_ALIAS;
        } else if (q->st == NM_TABLES) {
            q->tpd++; /* FROM (a JOIN b) */
        } else {
            nm_skip(m); /* PARTITION (p), a table function's arguments */
        }
        return true;
    }
    if (nm_op(m, t, ")")) {
        if (q->tpd == 0) {
            return false;
        }
        q->tpd--;
        q->st = NM_ALIAS;
        return true;
    }
    if (nm_op(m, t, ",")) {
        q->st = NM_TABLES;
        return true;
    }
    if (q->st == NM_ALIAS &&
        (strcmp(w, "use") == 0 || strcmp(w, "force") == 0 || strcmp(w, "ignore") == 0)) {
        struct proto_sqltok u; /* an index hint: to the end of its parentheses */
        while (nm_next(m, &u) && !nm_op(m, &u, "(")) {
        }
        nm_skip(m);
        return true;
    }
    if (w[0] && nm_in(w, nm_clause_words)) {
        return false;
    }
    if (!nm_ident_tok(t)) {
        return true;
    }
    if (q->st == NM_ALIAS) {
        if (strcmp(w, "as") == 0) {
            struct proto_sqltok a;
            nm_next(m, &a);
        }
        return true; /* an alias */
    }
    struct nm_qname qn;
    nm_qname_read(m, t, &qn);
    if (!(qn.n == 1 && strcmp(w, "dual") == 0) && strcmp(w, "lateral") != 0) {
        nm_table(m, &q->lv, &qn);
    }
    q->st = strcmp(w, "lateral") == 0 ? NM_TABLES : NM_ALIAS;
    return true;
}

/* Handles t in the other states; false when it is for nm_clause or the level's end. */
static bool
nm_state_tok(struct nm *m, struct nm_q *q, const struct proto_sqltok *t, const char *w,
             unsigned depth)
{
    bool clause = w[0] && nm_in(w, nm_clause_words);
    switch (q->st) {
    case NM_TABLES:
    case NM_ALIAS:
        return nm_tables_tok(m, q, t, w, depth);
    case NM_COND:
        return nm_cond_tok(m, t, &q->cond, depth, q->lv.ntables <= 1 && q->lv.nrefs <= 1);
    case NM_INTO:
        if (strcmp(w, "into") == 0 || strcmp(w, "ignore") == 0 || strcmp(w, "low_priority") == 0 ||
            strcmp(w, "delayed") == 0 || strcmp(w, "high_priority") == 0) {
            return true;
        }
        if (nm_ident_tok(t) && !clause) {
            struct nm_qname qn;
            nm_qname_read(m, t, &qn);
            nm_table(m, &q->lv, &qn);
            q->st = NM_SKIP;
            return true;
        }
        break;
    case NM_DELTARGET:
        if (!clause || strcmp(w, "ignore") == 0) {
            if (nm_op(m, t, "(")) {
                nm_skip(m);
            }
            return !nm_op(m, t, ")");
        }
        break;
    case NM_SET:
        if (nm_ident_tok(t) && !clause) {
            struct nm_qname qn;
            nm_qname_read(m, t, &qn);
            if (m->n > 0 && m->out[m->n - 1] != 'T') { /* after " SET" no comma */
                m->glue = false;
                nm_putc(m, ',');
            }
            nm_sep(m);
            nm_qname_put(m, &qn, q->lv.ntables <= 1 && q->lv.nrefs <= 1);
            q->st = NM_SETEXPR;
            return true;
        }
        break;
    case NM_SETEXPR:
        if (nm_op(m, t, ",")) {
            q->st = NM_SET;
            return true;
        }
        break;
    case NM_JOINCOND:
        if (nm_op(m, t, ",")) {
            q->st = NM_TABLES;
            return true;
        }
        break;
    case NM_SKIP:
        break;
    }
    if (clause || nm_op(m, t, ")")) {
        return false;
    }
    if (nm_op(m, t, "(")) {
        nm_skip(m);
    }
    return true;
}

/*
 * Names one query level from the cursor: the whole statement (sub false) or a parenthesised
 * subquery whose `(` was read (sub true: its `)` is consumed).
 */
static void
nm_query(struct nm *m, unsigned depth, bool sub)
{
    struct nm_q q;
    memset(&q, 0, sizeof q);
    q.st = NM_SKIP;
    struct proto_sqltok t;
    for (;;) {
        if (m->full || !nm_next(m, &t)) {
            nm_list_close(m, &q, m->lx.len, depth);
            return;
        }
        char w[24];
        nm_word(m, &t, w);
        if (q.lv.verb == NM_NONE) {
            if (nm_op(m, &t, "(")) {
                q.lead++;
                continue;
            }
            if (nm_op(m, &t, ")") && q.lead > 0) {
                q.lead--;
                continue;
            }
            if (strcmp(w, "with") == 0) {
                nm_skip_with(m);
                continue;
            }
            if (nm_verb(m, &t, &q.lv, &q.st)) {
                if (q.lv.verb == NM_SELECT) {
                    q.list_open = true;
                    q.list_from = m->lx;
                }
                continue;
            }
            if (depth == 0 && !sub && m->n == 0) {
                nm_other(m, &t);
                return;
            }
            if (nm_op(m, &t, ")") && sub) {
                return;
            }
            if (nm_op(m, &t, "(")) {
                nm_skip(m);
            }
            continue;
        }
        if (nm_state_tok(m, &q, &t, w, depth)) {
            continue;
        }
        if (nm_op(m, &t, ")")) {
            if (q.lead > 0) {
                q.lead--;
                continue;
            }
            if (sub) {
                nm_list_close(m, &q, t.start, depth);
                return;
            }
            continue;
        }
        nm_clause(m, &q, w, &t, depth);
    }
}

size_t
proto_shape_name(const char *sql, size_t len, unsigned sqlmode, char *out, size_t cap)
{
    if (cap == 0) {
        return 0;
    }
    size_t lim = (cap < PROTO_SHAPE_NAME_MAX ? cap : PROTO_SHAPE_NAME_MAX) - 1;
    struct nm m = {.out = out, .n = 0, .lim = lim, .full = false, .glue = false};
    proto_sqllex_init(&m.lx, sql, len, sqlmode);
    nm_query(&m, 0, false);
    if (m.full) {
        size_t n = lim >= 4 ? (m.n < lim - 3 ? m.n : lim - 3) : m.n;
        while (n > 0 && n < m.n && ((unsigned char)out[n] & 0xc0) == 0x80) {
            n--; /* out[n] is the first byte cut: not inside a character */
        }
        while (n > 0 && out[n - 1] == ' ') {
            n--;
        }
        m.n = n;
        if (lim >= 4 && m.n + 3 <= lim) {
            memcpy(out + m.n, "\xe2\x80\xa6", 3);
            m.n += 3;
        }
    }
    while (m.n > 0 && out[m.n - 1] == ' ') {
        m.n--;
    }
    out[m.n] = '\0';
    return m.n;
}

/* ---- the ORM behind an N+1 --------------------------------------------------------------- */

static enum proto_orm
orm_from_framework(const char *v)
{
    char w[16];
    size_t i = 0;
    for (; v[i] && i < sizeof w - 1; i++) {
        w[i] = (char)nm_lower((unsigned char)v[i]);
    }
    w[i] = '\0';
    if (strncmp(w, "sqlalchemy", 10) == 0 || strncmp(w, "flask", 5) == 0) {
        return PROTO_ORM_SQLALCHEMY;
    }
    if (strncmp(w, "django", 6) == 0) {
        return PROTO_ORM_DJANGO;
    }
    if (strncmp(w, "rails", 5) == 0 || strncmp(w, "activerecord", 12) == 0) {
        return PROTO_ORM_RAILS;
    }
    return PROTO_ORM_UNKNOWN;
}

/* True when the bytes of t equal a_b, the parts of q joined by '_' (SQLAlchemy's label). */
static bool
orm_label_is(const struct nm *m, const struct proto_sqltok *t, const struct nm_qname *q)
{
    if (t->kind != PROTO_TOK_WORD || q->n != 2 || q->part[0].kind != PROTO_TOK_WORD ||
        q->part[1].kind != PROTO_TOK_WORD) {
        return false;
    }
    const unsigned char *s = m->lx.s;
    size_t a = q->part[0].end - q->part[0].start, b = q->part[1].end - q->part[1].start;
    if (t->end - t->start != a + 1 + b) {
        return false;
    }
    for (size_t i = 0; i < a; i++) {
        if (nm_lower(s[t->start + i]) != nm_lower(s[q->part[0].start + i])) {
            return false;
        }
    }
    if (s[t->start + a] != '_') {
        return false;
    }
    for (size_t i = 0; i < b; i++) {
        if (nm_lower(s[t->start + a + 1 + i]) != nm_lower(s[q->part[1].start + i])) {
            return false;
        }
    }
    return true;
}

enum proto_orm
proto_orm_guess(const char *sql, size_t len, unsigned sqlmode)
{
    struct proto_tags tags;
    if (proto_tags_parse(sql, len, sqlmode, &tags) > 0) {
        const char *fw = proto_tags_get(&tags, "framework");
        enum proto_orm o = fw ? orm_from_framework(fw) : PROTO_ORM_UNKNOWN;
        if (o != PROTO_ORM_UNKNOWN) {
            return o;
        }
    }
    struct nm m = {.out = NULL, .n = 0, .lim = 0, .full = true, .glue = false};
    proto_sqllex_init(&m.lx, sql, len, sqlmode);
    struct proto_sqltok t;
    while (nm_next(&m, &t)) {
        if (!nm_ident_tok(&t)) {
            continue;
        }
        struct proto_sqllex at = m.lx;
        struct proto_sqltok dot, nx;
        if (t.open == PROTO_TOK_QIDENT && nm_next(&m, &dot) && nm_op(&m, &dot, ".") &&
            nm_next(&m, &nx)) {
            if (nm_op(&m, &nx, "*")) {
                return PROTO_ORM_RAILS; /* `t`.* */
            }
            if (nx.open == PROTO_TOK_QIDENT) {
                return PROTO_ORM_DJANGO; /* `t`.`c` */
            }
        }
        m.lx = at;
        struct nm_qname q;
        nm_qname_read(&m, &t, &q);
        struct proto_sqltok as, label;
        struct proto_sqllex save = m.lx;
        if (q.n == 2 && nm_next(&m, &as) && proto_sqltok_word_is(&m.lx, &as, "as") &&
            nm_next(&m, &label) && orm_label_is(&m, &label, &q)) {
            return PROTO_ORM_SQLALCHEMY; /* t.c AS t_c */
        }
        m.lx = save;
    }
    return PROTO_ORM_UNKNOWN;
}

const char *
proto_orm_fix(enum proto_orm orm)
{
    switch (orm) {
    case PROTO_ORM_SQLALCHEMY:
        return "load the relationship with its parents: "
               ".options(selectinload(Parent.children)) (one more SELECT ... IN) or "
               "joinedload(Parent.children) (one JOIN), or lazy='selectin' on the relationship";
    case PROTO_ORM_DJANGO:
        return "load the relation with its parents: .select_related('parent') for a foreign "
               "key, .prefetch_related('children') for a many-to-many or reverse relation";
    case PROTO_ORM_RAILS:
        return "load the association with its parents: .includes(:children)";
    case PROTO_ORM_UNKNOWN:
        break;
    }
    return "fetch the children of all the parent rows in one statement, "
           "WHERE x IN (...) with the parent ids, instead of one statement per parent row";
}

const char *
proto_orm_name(enum proto_orm orm)
{
    return orm == PROTO_ORM_SQLALCHEMY ? "sqlalchemy"
           : orm == PROTO_ORM_DJANGO   ? "django"
           : orm == PROTO_ORM_RAILS    ? "rails"
                                       : NULL;
}
