/*
 * advice.c - index advice from a statement's tokens, its EXPLAIN plan and the scanned tables'
 * columns and indexes. Pure: no I/O.
 *
 * The statement is read through proto_sqllex into a flat token array with the paren depth and
 * the SELECT block (numbered as the server numbers SELECT ids) of each token. Table factors
 * follow FROM / JOIN / UPDATE and commas of a FROM list; WHERE and ON clauses are split into
 * conjuncts at AND; each conjunct becomes a predicate on a column (equality, range, or blocked
 * with a reason) or is skipped. Per scanned plan row, the candidate index is the equality
 * columns (compared with constants or columns of tables read earlier), then one range column,
 * then the ORDER BY / GROUP BY columns where they can follow.
 */
#include "explain/advice.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/proto_sqllex.h"

#define A_MAX_TOKS  8192
#define A_MAX_REFS  32
#define A_MAX_PREDS 256
#define A_MAX_DEPTH 64
#define A_OUT_MAX   4096

/* ---- metadata ---- */

static void
copy_name(char *dst, const char *src, size_t n)
{
    if (n >= ADVICE_NAME_MAX) {
        n = ADVICE_NAME_MAX - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* dst (ADVICE_NAME_MAX bytes) = src, cut to fit. */
static void
set_name(char *dst, const char *src)
{
    copy_name(dst, src, strlen(src));
}

struct advice_table *
advice_table_new(const char *db, const char *name)
{
    struct advice_table *t = calloc(1, sizeof(*t));
    if (t) {
        copy_name(t->t.db, db, strlen(db));
        copy_name(t->t.name, name, strlen(name));
    }
    return t;
}

bool
advice_table_add_column(struct advice_table *t, const char *name, const char *type,
                        const char *collation)
{
    struct advice_col *c = realloc(t->cols, (t->ncols + 1) * sizeof(*c));
    if (!c) {
        return false;
    }
    t->cols = c;
    c = &t->cols[t->ncols++];
    memset(c, 0, sizeof(*c));
    copy_name(c->name, name, strlen(name));
    snprintf(c->type, sizeof(c->type), "%s", type ? type : "");
    for (char *p = c->type; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    copy_name(c->collation, collation ? collation : "", collation ? strlen(collation) : 0);
    return true;
}

bool
advice_table_add_index_column(struct advice_table *t, const char *index, unsigned seq,
                              const char *column)
{
    struct advice_index *ix = NULL;
    for (size_t i = 0; i < t->nidx; i++) {
        if (strcasecmp(t->idx[i].name, index) == 0) {
            ix = &t->idx[i];
        }
    }
    if (!ix) {
        struct advice_index *n = realloc(t->idx, (t->nidx + 1) * sizeof(*n));
        if (!n) {
            return false;
        }
        t->idx = n;
        ix = &t->idx[t->nidx++];
        memset(ix, 0, sizeof(*ix));
        copy_name(ix->name, index, strlen(index));
    }
    if (seq < 1 || seq > ADVICE_INDEX_COLS) {
        return true;
    }
    copy_name(ix->cols[seq - 1], column, strlen(column));
    if (seq > ix->ncols) {
        ix->ncols = seq;
    }
    return true;
}

void
advice_table_free(struct advice_table *t)
{
    if (t) {
        free(t->cols);
        free(t->idx);
        free(t);
    }
}

static const struct advice_col *
meta_col(const struct advice_table *m, const char *name)
{
    for (size_t i = 0; m && i < m->ncols; i++) {
        if (strcasecmp(m->cols[i].name, name) == 0) {
            return &m->cols[i];
        }
    }
    return NULL;
}

static bool
type_is_string(const char *type)
{
    static const char *const s[] = {"char",     "varchar", "text", "tinytext", "mediumtext",
                                    "longtext", "enum",    "set",  NULL};
    for (int i = 0; s[i]; i++) {
        if (strcmp(type, s[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- plan rows ---- */

static uint64_t
row_rows(const struct plan_row *r)
{
    const char *s = r->col[PLAN_ROWS];
    return (s && *s >= '0' && *s <= '9') ? strtoull(s, NULL, 10) : 0;
}

static bool
row_scanned(const struct plan_row *r)
{
    if (row_rows(r) < ADVICE_MIN_ROWS) {
        return false;
    }
    const char *type = r->col[PLAN_TYPE], *extra = r->col[PLAN_EXTRA];
    if (strcasecmp(type, "ALL") == 0) {
        return true;
    }
    bool sorts = strstr(extra, "Using filesort") || strstr(extra, "Using temporary");
    /* type index without "Using index" reads the rows in index order: a table scan too (what
     * UPDATE/DELETE show when they walk the primary key) */
    return strcasecmp(type, "index") == 0 && (sorts || !strstr(extra, "Using index"));
}

bool
advice_wanted(const struct plan *p)
{
    for (size_t i = 0; p && i < p->nrows; i++) {
        if (row_scanned(&p->rows[i])) {
            return true;
        }
    }
    return false;
}

uint64_t
advice_scan_rows(const struct plan *p)
{
    uint64_t max = 0;
    for (size_t i = 0; p && i < p->nrows; i++) {
        const struct plan_row *r = &p->rows[i];
        const char *type = r->col[PLAN_TYPE];
        if (strcasecmp(type, "ALL") == 0 || strcasecmp(type, "index") == 0) {
            uint64_t n = row_rows(r);
            max = n > max ? n : max;
        }
    }
    return max;
}

enum advice_weight
advice_scan_weight(bool flagged, bool rows_known, uint64_t scan_rows, uint64_t total_us,
                   uint64_t all_us)
{
    if (!flagged) {
        return ADVICE_WEIGHT_NONE;
    }
    if (!rows_known || scan_rows >= ADVICE_MIN_ROWS || total_us >= ADVICE_NOTABLE_US) {
        return ADVICE_WEIGHT_NOTABLE;
    }
    if (all_us && total_us >= ADVICE_NOTABLE_MIN_US &&
        total_us * 100 >= all_us * (uint64_t)ADVICE_NOTABLE_PCT) {
        return ADVICE_WEIGHT_NOTABLE;
    }
    return ADVICE_WEIGHT_SMALL;
}

const char *
advice_weight_name(enum advice_weight w)
{
    return w == ADVICE_WEIGHT_NOTABLE ? "notable" : w == ADVICE_WEIGHT_SMALL ? "small" : "none";
}

/* ---- tokens ---- */

struct atok {
    enum proto_tok kind;
    const char *s; /* the token */
    size_t n;
    const char *b; /* its body (quoted forms: inside the quotes) */
    size_t bn;
    int depth; /* parens open before it (a '(' has the outer depth, its ')' too) */
    int block; /* SELECT block id, 1-based */
};

struct aref {
    char db[ADVICE_NAME_MAX], name[ADVICE_NAME_MAX], alias[ADVICE_NAME_MAX];
    int block;
    int plan_row; /* index of its plan row, -1 when not found */
    const struct advice_table *meta;
};

enum apred_kind { AP_EQ, AP_RANGE, AP_BLOCKED };

struct apred {
    enum apred_kind kind;
    int ref;   /* the table whose column it is */
    int other; /* AP_EQ with a column of another table: that table, else -1 */
    int block; /* the block whose WHERE/ON it is in */
    char col[ADVICE_NAME_MAX];
    char why[512]; /* AP_BLOCKED: the reason */
};

struct actx {
    struct atok *t;
    int nt;
    struct aref refs[A_MAX_REFS];
    int nrefs;
    struct apred preds[A_MAX_PREDS];
    int npreds;
    const char *default_db;
};

static bool
tok_word(const struct atok *t, const char *w)
{
    return t->kind == PROTO_TOK_WORD && strlen(w) == t->n && strncasecmp(t->s, w, t->n) == 0;
}

static bool
tok_op(const struct atok *t, const char *op)
{
    return t->kind == PROTO_TOK_OP && strlen(op) == t->n && memcmp(t->s, op, t->n) == 0;
}

/* Lexes sql into c->t (non-blank tokens) with depth and block. False when out of memory. */
static bool
lex_all(struct actx *c, const char *sql, size_t len, unsigned sqlmode)
{
    int cap = len < A_MAX_TOKS ? (int)len + 1 : A_MAX_TOKS; /* a token is at least a byte */
    c->t = malloc((size_t)cap * sizeof(*c->t));
    if (!c->t) {
        return false;
    }
    struct proto_sqllex lx;
    struct proto_sqltok tk;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    int depth = 0, nblocks = 1, seen_select = 0;
    int blk[A_MAX_DEPTH + 2];
    blk[0] = 1;
    while (c->nt < cap && proto_sqllex_next(&lx, &tk) != PROTO_TOK_END) {
        if (proto_sqltok_blank(&tk)) {
            continue;
        }
        struct atok *a = &c->t[c->nt++];
        a->kind = tk.kind;
        a->s = sql + tk.start;
        a->n = tk.end - tk.start;
        a->b = sql + tk.body_start;
        a->bn = tk.body_end - tk.body_start;
        int d = depth > A_MAX_DEPTH ? A_MAX_DEPTH : depth;
        if (tok_op(a, ")") && depth > 0) {
            depth--;
            d = depth > A_MAX_DEPTH ? A_MAX_DEPTH : depth;
        }
        if (tok_word(a, "select")) {
            if (seen_select++) {
                blk[d] = ++nblocks; /* a subquery or a UNION part: a SELECT id of its own */
            }
        }
        a->depth = depth;
        a->block = blk[d];
        if (tok_op(a, "(")) {
            depth++;
            if (depth <= A_MAX_DEPTH) {
                blk[depth] = blk[d];
            }
        }
        if (tok_op(a, ";")) {
            break;
        }
    }
    return true;
}

/* Words that end a table factor or a clause. */
static bool
is_clause_word(const struct atok *t)
{
    static const char *const w[] = {
        "where",   "on",     "using",     "group",  "order",     "limit",     "having",
        "set",     "join",   "left",      "right",  "inner",     "cross",     "straight_join",
        "natural", "full",   "outer",     "union",  "for",       "lock",      "into",
        "values",  "window", "force",     "use",    "ignore",    "partition", "returning",
        "select",  "from",   "procedure", "except", "intersect", "when",      "then",
        "as",      "with",   NULL};
    if (t->kind != PROTO_TOK_WORD) {
        return false;
    }
    for (int i = 0; w[i]; i++) {
        if (tok_word(t, w[i])) {
            return true;
        }
    }
    return false;
}

static bool
is_name(const struct atok *t)
{
    return t->kind == PROTO_TOK_QIDENT || (t->kind == PROTO_TOK_WORD && !is_clause_word(t));
}

static void
tok_name(const struct atok *t, char *out)
{
    if (t->kind == PROTO_TOK_QIDENT) {
        copy_name(out, t->b, t->bn);
    } else {
        copy_name(out, t->s, t->n);
    }
}

/* Reads a table factor at token i; returns the index after it. */
static int
parse_factor(struct actx *c, int i)
{
    if (i >= c->nt || !is_name(&c->t[i])) {
        return i;
    }
    struct aref r;
    memset(&r, 0, sizeof(r));
    r.plan_row = -1;
    r.block = c->t[i].block;
    char a[ADVICE_NAME_MAX], b[ADVICE_NAME_MAX];
    tok_name(&c->t[i], a);
    i++;
    if (i + 1 < c->nt && tok_op(&c->t[i], ".") && is_name(&c->t[i + 1])) {
        tok_name(&c->t[i + 1], b);
        set_name(r.db, a);
        set_name(r.name, b);
        i += 2;
    } else {
        set_name(r.db, c->default_db ? c->default_db : "");
        set_name(r.name, a);
    }
    if (i < c->nt && tok_op(&c->t[i], "(")) {
        return i; /* a function call (JSON_TABLE, ...), not a table */
    }
    if (i < c->nt && tok_word(&c->t[i], "as")) {
        i++;
    }
    if (i < c->nt && is_name(&c->t[i])) {
        tok_name(&c->t[i], r.alias);
        i++;
    } else {
        set_name(r.alias, r.name);
    }
    if (r.db[0] && c->nrefs < A_MAX_REFS) {
        c->refs[c->nrefs++] = r;
    }
    return i;
}

/* Finds the table factors: after FROM, JOIN, UPDATE, and commas of a FROM list. */
static void
find_refs(struct actx *c)
{
    bool in_from[A_MAX_DEPTH + 2] = {false};
    for (int i = 0; i < c->nt; i++) {
        struct atok *t = &c->t[i];
        int d = t->depth > A_MAX_DEPTH ? A_MAX_DEPTH : t->depth;
        if (tok_word(t, "from") || tok_word(t, "join") || tok_word(t, "straight_join") ||
            (tok_word(t, "update") && (i == 0 || c->t[i - 1].kind == PROTO_TOK_EXEC_CLOSE))) {
            in_from[d] = true;
            int j = i + 1;
            while (j < c->nt && (tok_word(&c->t[j], "low_priority") ||
                                 tok_word(&c->t[j], "ignore") || tok_word(&c->t[j], "only"))) {
                j++;
            }
            if (j < c->nt && tok_op(&c->t[j], "(")) {
                continue; /* a derived table or a parenthesized join: its own tokens follow */
            }
            i = parse_factor(c, j) - 1;
        } else if (tok_op(t, ",") && in_from[d]) {
            i = parse_factor(c, i + 1) - 1;
        } else if (t->kind == PROTO_TOK_WORD && is_clause_word(t) && !tok_word(t, "as") &&
                   !tok_word(t, "on")) { /* `a JOIN b ON x = y, c`: the list goes on */
            in_from[d] = false;
        } else if (tok_op(t, "(")) {
            if (d + 1 <= A_MAX_DEPTH) {
                in_from[d + 1] = false;
            }
        }
    }
}

/* ---- column references ---- */

/* Resolves the column reference at tokens [i, i+len) (1 to 3 names separated by dots) in
 * `block`; returns the ref index or -1, and the column name in col. */
static int
resolve_col(const struct actx *c, int i, int len, int block, char *col)
{
    char n[3][ADVICE_NAME_MAX];
    int k = 0;
    for (int j = i; j < i + len; j += 2) {
        tok_name(&c->t[j], n[k++]);
    }
    set_name(col, n[k - 1]);
    int found = -1, matches = 0;
    for (int r = 0; r < c->nrefs; r++) {
        const struct aref *a = &c->refs[r];
        if (k == 3 && (strcasecmp(a->db, n[0]) != 0 || strcasecmp(a->name, n[1]) != 0)) {
            continue;
        }
        if (k == 2 && strcasecmp(a->alias, n[0]) != 0) {
            continue;
        }
        if (k == 1 && !meta_col(a->meta, col)) {
            continue;
        }
        if (a->meta && !meta_col(a->meta, col)) {
            continue;
        }
        if (a->block == block) {
            if (found < 0 || c->refs[found].block != block) {
                found = r;
                matches = 0;
            }
            matches++;
        } else if (found < 0) {
            found = r; /* an outer (or other) block's table: a correlated reference */
            matches = 1;
        }
    }
    return matches == 1 ? found : -1;
}

/* Length of the dotted name at i (1, 3 or 5 tokens), 0 when none. */
static int
name_len(const struct actx *c, int i, int end)
{
    if (i >= end || !is_name(&c->t[i]) || (i + 1 < end && tok_op(&c->t[i + 1], "("))) {
        return 0;
    }
    int n = 1;
    while (n < 5 && i + n + 1 < end && tok_op(&c->t[i + n], ".") && is_name(&c->t[i + n + 1])) {
        n += 2;
    }
    return n;
}

enum side_kind { S_NONE, S_COL, S_CONST, S_EXPR, S_SUBQ };

struct side {
    enum side_kind kind;
    int ref;                       /* S_COL, or S_EXPR: a column of this table inside */
    char col[ADVICE_NAME_MAX];     /* S_COL / S_EXPR: the column */
    bool number;                   /* S_CONST: a bare number (or a list holding one) */
    char func[32];                 /* S_EXPR: the function around the column, "" for an operator */
    char collate[ADVICE_NAME_MAX]; /* a COLLATE clause on this side */
};

static bool
tok_const(const struct atok *t)
{
    return t->kind == PROTO_TOK_STRING || t->kind == PROTO_TOK_NUMBER || t->kind == PROTO_TOK_HEX ||
           t->kind == PROTO_TOK_BIT || t->kind == PROTO_TOK_PARAM ||
           t->kind == PROTO_TOK_NAMED_PARAM || tok_word(t, "null") || tok_word(t, "true") ||
           tok_word(t, "false");
}

/* Classifies tokens [s, e) of one side of a comparison. */
static void
classify(const struct actx *c, int s, int e, int block, struct side *out)
{
    memset(out, 0, sizeof(*out));
    out->ref = -1;
    if (s >= e) {
        return;
    }
    /* a trailing COLLATE name */
    if (e - s >= 3 && tok_word(&c->t[e - 2], "collate")) {
        tok_name(&c->t[e - 1], out->collate);
        e -= 2;
    }
    int n = name_len(c, s, e);
    if (n > 0 && s + n == e) {
        char col[ADVICE_NAME_MAX];
        int r = resolve_col(c, s, n, block, col);
        if (r >= 0) {
            out->kind = S_COL;
            out->ref = r;
            set_name(out->col, col);
            return;
        }
        out->kind = tok_const(&c->t[s]) ? S_CONST : S_NONE;
        return;
    }
    /* a constant, a signed number, a list of constants, or an expression */
    bool has_select = false;
    int col_ref = -1;
    char col[ADVICE_NAME_MAX] = "";
    for (int i = s; i < e; i++) {
        if (tok_word(&c->t[i], "select")) {
            has_select = true;
        }
        if (c->t[i].kind == PROTO_TOK_NUMBER) {
            out->number = true;
        }
        int m = name_len(c, i, e);
        if (m > 0 && col_ref < 0) {
            char cn[ADVICE_NAME_MAX];
            int r = resolve_col(c, i, m, block, cn);
            if (r >= 0 && c->refs[r].meta) {
                col_ref = r;
                set_name(col, cn);
            }
            i += m - 1;
        }
    }
    if (has_select) {
        out->kind = S_SUBQ;
        return;
    }
    if (col_ref >= 0) {
        out->kind = S_EXPR;
        out->ref = col_ref;
        set_name(out->col, col);
        if (c->t[s].kind == PROTO_TOK_WORD && s + 1 < e && tok_op(&c->t[s + 1], "(")) {
            size_t fn = c->t[s].n < sizeof(out->func) - 1 ? c->t[s].n : sizeof(out->func) - 1;
            for (size_t k = 0; k < fn; k++) {
                out->func[k] = (char)toupper((unsigned char)c->t[s].s[k]);
            }
            out->func[fn] = '\0';
        }
        return;
    }
    out->kind = S_CONST;
}

static void
add_pred(struct actx *c, enum apred_kind kind, int ref, int other, int block, const char *col,
         const char *why)
{
    if (c->npreds >= A_MAX_PREDS || ref < 0) {
        return;
    }
    struct apred *p = &c->preds[c->npreds++];
    p->kind = kind;
    p->ref = ref;
    p->other = other;
    p->block = block;
    set_name(p->col, col);
    snprintf(p->why, sizeof(p->why), "%s", why ? why : "");
}

static void
blocked_expr(struct actx *c, const struct side *x, int block)
{
    char why[512];
    if (x->func[0]) {
        snprintf(why, sizeof(why), "`%s` is inside %s(), so no index on it can be used", x->col,
                 x->func);
    } else if (x->collate[0]) {
        snprintf(why, sizeof(why), "`%s` is compared under COLLATE %s, not its own collation",
                 x->col, x->collate);
    } else {
        snprintf(why, sizeof(why), "`%s` is inside an expression, so no index on it can be used",
                 x->col);
    }
    add_pred(c, AP_BLOCKED, x->ref, -1, block, x->col, why);
}

/* A column compared with a constant: the kind of predicate, or blocked for a type/collation
 * mismatch. */
static void
col_vs_const(struct actx *c, const struct side *col, const struct side *val, enum apred_kind k,
             int block)
{
    if (col->collate[0]) {
        blocked_expr(c, col, block);
        return;
    }
    const struct advice_col *mc = meta_col(c->refs[col->ref].meta, col->col);
    char why[512];
    if (mc && type_is_string(mc->type) && val->number) {
        snprintf(why, sizeof(why),
                 "`%s` is %s and compared with a number: quote the value to use an index", col->col,
                 mc->type);
        add_pred(c, AP_BLOCKED, col->ref, -1, block, col->col, why);
        return;
    }
    if (mc && val->collate[0] && mc->collation[0] && strcasecmp(mc->collation, val->collate)) {
        snprintf(why, sizeof(why), "`%s` (%s) is compared under COLLATE %s", col->col,
                 mc->collation, val->collate);
        add_pred(c, AP_BLOCKED, col->ref, -1, block, col->col, why);
        return;
    }
    add_pred(c, k, col->ref, -1, block, col->col, NULL);
}

/* Column = column of two tables: an equality for each side (usable when the other side is
 * read earlier), unless their collations differ. */
static void
col_vs_col(struct actx *c, const struct side *a, const struct side *b, int block)
{
    if (a->ref == b->ref) {
        return;
    }
    const struct advice_col *ma = meta_col(c->refs[a->ref].meta, a->col);
    const struct advice_col *mb = meta_col(c->refs[b->ref].meta, b->col);
    if (ma && mb && ma->collation[0] && mb->collation[0] &&
        strcasecmp(ma->collation, mb->collation) != 0) {
        char why[512];
        snprintf(why, sizeof(why), "`%s`.`%s` (%s) and `%s`.`%s` (%s) differ in collation",
                 c->refs[a->ref].alias, a->col, ma->collation, c->refs[b->ref].alias, b->col,
                 mb->collation);
        add_pred(c, AP_BLOCKED, a->ref, b->ref, block, a->col, why);
        add_pred(c, AP_BLOCKED, b->ref, a->ref, block, b->col, why);
        return;
    }
    if (ma && mb && type_is_string(ma->type) != type_is_string(mb->type)) {
        char why[512];
        snprintf(why, sizeof(why), "`%s`.`%s` (%s) and `%s`.`%s` (%s) differ in type",
                 c->refs[a->ref].alias, a->col, ma->type, c->refs[b->ref].alias, b->col, mb->type);
        const struct side *s = type_is_string(ma->type) ? a : b;
        const struct side *o = s == a ? b : a;
        add_pred(c, AP_BLOCKED, s->ref, o->ref, block, s->col, why);
        add_pred(c, AP_EQ, o->ref, s->ref, block, o->col, NULL);
        return;
    }
    add_pred(c, AP_EQ, a->ref, b->ref, block, a->col, NULL);
    add_pred(c, AP_EQ, b->ref, a->ref, block, b->col, NULL);
}

/* One comparison [s, e) at paren depth d. */
static void
simple_pred(struct actx *c, int s, int e, int d, int block)
{
    if (s >= e || tok_word(&c->t[s], "not") || tok_word(&c->t[s], "exists")) {
        return;
    }
    static const char *const ops[] = {"=", "<=>", "<", ">", "<=", ">=", NULL};
    int op = -1;
    for (int i = s; i < e && op < 0; i++) {
        const struct atok *t = &c->t[i];
        if (t->depth != d) {
            continue;
        }
        for (int k = 0; ops[k]; k++) {
            if (tok_op(t, ops[k])) {
                op = i;
            }
        }
        if (tok_word(t, "in") || tok_word(t, "is") || tok_word(t, "between") ||
            tok_word(t, "like") || tok_word(t, "not") || tok_op(t, "!=") || tok_op(t, "<>")) {
            op = i;
        }
    }
    if (op < 0) {
        return;
    }
    const struct atok *o = &c->t[op];
    if (tok_word(o, "not") || tok_op(o, "!=") || tok_op(o, "<>")) {
        return; /* NOT IN, NOT LIKE, <>: no index range to speak of */
    }
    struct side l, r;
    int rend = e;
    if (tok_word(o, "between")) {
        for (int i = op + 1; i < e; i++) {
            if (c->t[i].depth == d && tok_word(&c->t[i], "and")) {
                rend = i;
                break;
            }
        }
    }
    classify(c, s, op, block, &l);
    if (tok_word(o, "is")) {
        bool is_null = op + 1 < e && tok_word(&c->t[op + 1], "null");
        if (l.kind == S_COL && is_null) {
            add_pred(c, AP_EQ, l.ref, -1, block, l.col, NULL);
        } else if (l.kind == S_EXPR && is_null) {
            blocked_expr(c, &l, block);
        }
        return;
    }
    if (tok_word(o, "in") && op + 1 < e && tok_op(&c->t[op + 1], "(")) {
        classify(c, op + 2, e - 1, block, &r);
        if (r.kind == S_SUBQ) {
            /* col IN (SELECT ...): equal to a column of the subquery's table */
            int sub = -1;
            for (int k = 0; op + 2 < e && k < c->nrefs && sub < 0; k++) {
                sub = c->refs[k].block == c->t[op + 2].block ? k : -1;
            }
            if (l.kind == S_COL && sub >= 0) {
                add_pred(c, AP_EQ, l.ref, sub, block, l.col, NULL);
            }
            return;
        }
    } else {
        classify(c, op + 1, rend, block, &r);
    }
    bool eq = tok_op(o, "=") || tok_op(o, "<=>") || tok_word(o, "in");
    if (tok_word(o, "like")) {
        if (l.kind == S_COL && op + 2 == e && c->t[op + 1].kind == PROTO_TOK_STRING) {
            const struct atok *v = &c->t[op + 1];
            if (v->bn > 0 && (v->b[0] == '%' || v->b[0] == '_')) {
                char why[512];
                /* no literal of the statement in the advice: it is not redacted */
                snprintf(why, sizeof(why), "the LIKE pattern on `%s` starts with a wildcard",
                         l.col);
                add_pred(c, AP_BLOCKED, l.ref, -1, block, l.col, why);
            } else {
                add_pred(c, AP_RANGE, l.ref, -1, block, l.col, NULL);
            }
        } else if (l.kind == S_EXPR) {
            blocked_expr(c, &l, block);
        }
        return;
    }
    if (l.kind == S_CONST && (r.kind == S_COL || r.kind == S_EXPR)) {
        struct side tmp = l;
        l = r;
        r = tmp;
    }
    enum apred_kind k = eq ? AP_EQ : AP_RANGE;
    if (l.kind == S_COL && r.kind == S_CONST) {
        col_vs_const(c, &l, &r, k, block);
    } else if (l.kind == S_COL && r.kind == S_COL) {
        if (eq) {
            col_vs_col(c, &l, &r, block);
        }
    } else if (l.kind == S_EXPR && (r.kind == S_CONST || r.kind == S_COL)) {
        blocked_expr(c, &l, block);
    } else if (l.kind == S_COL && r.kind == S_EXPR && r.ref != l.ref) {
        add_pred(c, eq ? AP_EQ : AP_RANGE, l.ref, r.ref, block, l.col, NULL);
        blocked_expr(c, &r, block);
    }
}

static void pred_clause(struct actx *c, int s, int e, int d, int block);

/* A disjunction [s, e) at depth d: the same column in every branch is an IN; else the OR
 * across columns blocks each. */
static void
or_clause(struct actx *c, int s, int e, int d, int block)
{
    int mark = c->npreds;
    int start = s;
    for (int i = s; i <= e; i++) {
        if (i == e ||
            (c->t[i].depth == d && (tok_word(&c->t[i], "or") || tok_op(&c->t[i], "||")))) {
            pred_clause(c, start, i, d, block);
            start = i + 1;
        }
    }
    bool same = c->npreds > mark;
    for (int i = mark; i < c->npreds; i++) {
        const struct apred *p = &c->preds[i];
        if (p->kind == AP_BLOCKED || p->other >= 0 || p->ref != c->preds[mark].ref ||
            strcasecmp(p->col, c->preds[mark].col) != 0) {
            same = false;
        }
    }
    if (same) {
        c->npreds = mark + 1;
        c->preds[mark].kind = AP_EQ;
        return;
    }
    /* the columns of each table named in the branches */
    struct apred found[A_MAX_PREDS];
    int nf = c->npreds - mark;
    memcpy(found, &c->preds[mark], (size_t)nf * sizeof(*found));
    c->npreds = mark;
    for (int i = 0; i < nf; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) {
            dup |= found[j].ref == found[i].ref;
        }
        if (dup) {
            continue;
        }
        char why[512];
        size_t n = (size_t)snprintf(why, sizeof(why), "OR across columns");
        int cols = 0;
        for (int j = i; j < nf && n < sizeof(why); j++) {
            if (found[j].ref == found[i].ref) {
                n += (size_t)snprintf(why + n, sizeof(why) - n, "%s `%s`", cols++ ? "," : "",
                                      found[j].col);
            }
        }
        if (nf > cols && n < sizeof(why)) {
            snprintf(why + n, sizeof(why) - n, " and of other tables");
        }
        add_pred(c, AP_BLOCKED, found[i].ref, -1, block, found[i].col, why);
    }
}

/* Is [s, e) one parenthesized condition (not a subquery)? */
static bool
wrapped(const struct actx *c, int s, int e, int d)
{
    if (e - s < 2 || !tok_op(&c->t[s], "(") || !tok_op(&c->t[e - 1], ")") ||
        c->t[e - 1].depth != d || tok_word(&c->t[s + 1], "select")) {
        return false;
    }
    for (int i = s + 1; i < e - 1; i++) {
        if (c->t[i].depth <= d) {
            return false;
        }
    }
    return true;
}

/* A condition [s, e) at depth d: conjuncts split at AND (not BETWEEN's). */
static void
pred_clause(struct actx *c, int s, int e, int d, int block)
{
    if (s >= e) {
        return;
    }
    if (wrapped(c, s, e, d)) { /* one level down */
        pred_clause(c, s + 1, e - 1, d + 1, block);
        return;
    }
    for (int i = s; i < e; i++) {
        if (c->t[i].depth == d && (tok_word(&c->t[i], "or") || tok_op(&c->t[i], "||"))) {
            /* OR binds weaker than AND: only when no AND at this level splits first */
            bool has_and = false;
            for (int j = s; j < e; j++) {
                has_and |=
                    c->t[j].depth == d && (tok_word(&c->t[j], "and") || tok_op(&c->t[j], "&&"));
            }
            if (!has_and) {
                or_clause(c, s, e, d, block);
                return;
            }
            break;
        }
    }
    int start = s;
    bool between = false, has_or = false;
    for (int i = s; i <= e; i++) {
        const struct atok *t = i < e ? &c->t[i] : NULL;
        if (t && t->depth == d && tok_word(t, "between")) {
            between = true;
            continue;
        }
        if (t && t->depth == d && (tok_word(t, "or") || tok_op(t, "||"))) {
            has_or = true;
        }
        bool split = !t || (t->depth == d && (tok_word(t, "and") || tok_op(t, "&&")));
        if (t && split && between) {
            between = false;
            continue;
        }
        if (split) {
            if (wrapped(c, start, i, d)) {
                pred_clause(c, start + 1, i - 1, d + 1, block);
            } else if (has_or) {
                or_clause(c, start, i, d, block);
            } else {
                simple_pred(c, start, i, d, block);
            }
            start = i + 1;
            has_or = false;
        }
    }
}

/* The WHERE and ON clauses, and USING lists. */
static void
find_preds(struct actx *c)
{
    for (int i = 0; i < c->nt; i++) {
        const struct atok *t = &c->t[i];
        if (tok_word(t, "using") && i + 1 < c->nt && tok_op(&c->t[i + 1], "(")) {
            /* USING (a, b): equal columns of this join's table and an earlier one */
            int right = -1;
            for (int r = 0; r < c->nrefs; r++) {
                if (c->refs[r].block == t->block) {
                    right = r; /* refs are in text order: the last one before USING */
                }
            }
            for (int j = i + 2; j < c->nt && c->t[j].depth > t->depth; j++) {
                if (!is_name(&c->t[j]) || right < 0) {
                    continue;
                }
                char col[ADVICE_NAME_MAX];
                tok_name(&c->t[j], col);
                for (int r = 0; r < right; r++) {
                    if (c->refs[r].block == t->block &&
                        (!c->refs[r].meta || meta_col(c->refs[r].meta, col))) {
                        add_pred(c, AP_EQ, right, r, t->block, col, NULL);
                        add_pred(c, AP_EQ, r, right, t->block, col, NULL);
                        break;
                    }
                }
            }
            continue;
        }
        if (!tok_word(t, "where") && !tok_word(t, "on")) {
            continue;
        }
        int d = t->depth, e = i + 1;
        while (e < c->nt && c->t[e].depth >= d) {
            const struct atok *u = &c->t[e];
            if (u->depth == d && (tok_op(u, ";") || (is_clause_word(u) && !tok_word(u, "select") &&
                                                     !tok_word(u, "as") && !tok_word(u, "when") &&
                                                     !tok_word(u, "then")))) {
                break;
            }
            e++;
        }
        pred_clause(c, i + 1, e, d, t->block); /* a subquery's own WHERE comes next */
    }
}

/* ---- ORDER BY / GROUP BY ---- */

/* The columns of `ref` listed after ORDER BY (or GROUP BY) in its block, in order; -1 when the
 * list has something else (an expression, another table's column). *limit: LIMIT follows. */
static int
sort_cols(const struct actx *c, int ref, const char *kw, char cols[][ADVICE_NAME_MAX], int cap,
          bool *limit)
{
    int block = c->refs[ref].block, n = 0, depth = -1;
    for (int i = 0; i + 1 < c->nt; i++) {
        const struct atok *t = &c->t[i];
        if (t->block == block && tok_word(t, "limit")) {
            *limit = true;
        }
        if (t->block != block || !tok_word(t, kw) || !tok_word(&c->t[i + 1], "by")) {
            continue;
        }
        depth = t->depth;
        int j = i + 2;
        while (j < c->nt) {
            int m = name_len(c, j, c->nt);
            char col[ADVICE_NAME_MAX];
            if (m == 0 || resolve_col(c, j, m, block, col) != ref) {
                return -1;
            }
            if (n < cap) {
                set_name(cols[n++], col);
            }
            j += m;
            if (j < c->nt && (tok_word(&c->t[j], "asc") || tok_word(&c->t[j], "desc"))) {
                j++;
            }
            if (j < c->nt && tok_op(&c->t[j], ",") && c->t[j].depth == depth) {
                j++;
                continue;
            }
            break;
        }
        for (; j < c->nt; j++) {
            if (c->t[j].block == block && tok_word(&c->t[j], "limit")) {
                *limit = true;
            }
        }
        return n;
    }
    return 0;
}

/* ---- advice per table ---- */

struct abuf {
    char s[A_OUT_MAX];
    size_t n;
};

__attribute__((format(printf, 2, 3))) static void
out_add(struct abuf *b, const char *fmt, ...)
{
    if (b->n < sizeof(b->s)) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
        va_end(ap);
        if (k > 0) {
            b->n += (size_t)k;
        }
        if (b->n >= sizeof(b->s)) {
            b->n = sizeof(b->s) - 1;
        }
    }
}

static bool
has_col(char cols[][ADVICE_NAME_MAX], int n, const char *col)
{
    for (int i = 0; i < n; i++) {
        if (strcasecmp(cols[i], col) == 0) {
            return true;
        }
    }
    return false;
}

/* The index of meta whose first ncols columns are exactly (as a set) cols, or NULL. */
static const struct advice_index *
covering_index(const struct advice_table *m, char cols[][ADVICE_NAME_MAX], int ncols)
{
    for (size_t i = 0; m && i < m->nidx; i++) {
        const struct advice_index *x = &m->idx[i];
        if ((int)x->ncols < ncols || ncols == 0) {
            continue;
        }
        bool all = true;
        for (int k = 0; k < ncols; k++) {
            all &= has_col(cols, ncols, x->cols[k]);
        }
        if (all) {
            return x;
        }
    }
    return NULL;
}

/* An existing index on `col` (as any column), for the "exists but cannot be used" note. */
static const struct advice_index *
index_on(const struct advice_table *m, const char *col, bool *first)
{
    for (size_t i = 0; m && i < m->nidx; i++) {
        for (size_t k = 0; k < m->idx[i].ncols; k++) {
            if (strcasecmp(m->idx[i].cols[k], col) == 0) {
                *first = k == 0;
                return &m->idx[i];
            }
        }
    }
    return NULL;
}

static void out_alter_text(struct abuf *b, const struct aref *r, char cols[][ADVICE_NAME_MAX],
                           int n);

/* Appends "ALTER TABLE `db`.`t` ADD INDEX `ix_t_c1_c2` (`c1`, `c2`)" to b (after "; " when b
 * has text), unless b or prev (the advice of earlier rows) already has it. */
static void
out_alter(struct abuf *b, const struct abuf *prev, const struct aref *r,
          char cols[][ADVICE_NAME_MAX], int n)
{
    struct abuf *t = malloc(sizeof(*t));
    if (!t) {
        return;
    }
    t->n = 0;
    t->s[0] = '\0';
    out_alter_text(t, r, cols, n);
    if (!strstr(b->s, t->s) && (!prev || !strstr(prev->s, t->s))) {
        if (b->n > 0) {
            out_add(b, "%s", "; ");
        }
        out_add(b, "%s", t->s);
    }
    free(t);
}

static void
out_alter_text(struct abuf *b, const struct aref *r, char cols[][ADVICE_NAME_MAX], int n)
{
    char name[ADVICE_NAME_MAX];
    int k = snprintf(name, sizeof(name), "ix_%s", r->name);
    for (int i = 0; i < n && k > 0 && (size_t)k < sizeof(name); i++) {
        k += snprintf(name + k, sizeof(name) - (size_t)k, "_%s", cols[i]);
    }
    for (size_t i = 0; r->meta && i < r->meta->nidx; i++) {
        if (strcasecmp(r->meta->idx[i].name, name) == 0) {
            size_t l = strlen(name);
            snprintf(name + (l > 60 ? 60 : l), sizeof(name) - (l > 60 ? 60 : l), "_2");
        }
    }
    out_add(b, "ALTER TABLE `%s`.`%s` ADD INDEX `%s` (", r->db, r->name, name);
    for (int i = 0; i < n; i++) {
        out_add(b, i ? ", `%s`" : "`%s`", cols[i]);
    }
    out_add(b, "%s", ")");
}

/*
 * `ref` is read first and only a join to a table read later restricts it: when that partner
 * has conditions of its own (constants), an index on them lets the server read the partner
 * first, and an index on the join column then serves `ref`. Writes both; false when the
 * partner has no such condition (or one of its indexes already covers it).
 */
static bool
advise_reorder(const struct actx *c, int ref, struct abuf *b, const struct abuf *prev)
{
    for (int i = 0; i < c->npreds; i++) {
        const struct apred *j = &c->preds[i];
        if (j->ref != ref || j->kind != AP_EQ || j->other < 0) {
            continue;
        }
        const struct aref *pr = &c->refs[j->other];
        char pc[ADVICE_INDEX_COLS][ADVICE_NAME_MAX];
        int n = 0;
        for (int k = 0; k < c->npreds && n < ADVICE_INDEX_COLS; k++) {
            const struct apred *q = &c->preds[k];
            if (q->ref == j->other && q->kind == AP_EQ && q->other < 0 && !has_col(pc, n, q->col)) {
                set_name(pc[n++], q->col);
            }
        }
        for (int k = 0; n == 0 && k < c->npreds; k++) {
            const struct apred *q = &c->preds[k];
            if (q->ref == j->other && q->kind == AP_RANGE && q->other < 0) {
                set_name(pc[n++], q->col);
            }
        }
        if (n == 0 || !pr->meta || covering_index(pr->meta, pc, n)) {
            continue;
        }
        char jc[1][ADVICE_NAME_MAX];
        set_name(jc[0], j->col);
        out_alter(b, prev, pr, pc, n);
        bool lead = false;
        if (!index_on(c->refs[ref].meta, j->col, &lead) || !lead) {
            out_alter(b, prev, &c->refs[ref], jc, 1); /* else the join column has its index */
        }
        return true;
    }
    return false;
}

static void
advise_none(struct abuf *b, const struct aref *r, const char *why)
{
    out_add(b, "none (`%s`: ", r->alias);
    out_add(b, "%s)", why);
}

/* The advice for plan row `row` into b (empty when earlier rows' advice already says it all);
 * prev holds the earlier rows' advice. */
static void
advise_row_into(struct actx *c, const struct plan *p, int row, struct abuf *b,
                const struct abuf *prev)
{
    const struct plan_row *pr = &p->rows[row];
    int ref = -1;
    for (int r = 0; r < c->nrefs; r++) {
        if (c->refs[r].plan_row == row) {
            ref = r;
        }
    }
    if (ref < 0) {
        out_add(b, "none (`%s`: not a table of the statement's text)", pr->col[PLAN_TABLE]);
        return;
    }
    const struct aref *r = &c->refs[ref];
    if (!r->meta || r->meta->ncols == 0) {
        advise_none(b, r, "its columns are unknown (information_schema shows none)");
        return;
    }
    char cols[ADVICE_INDEX_COLS][ADVICE_NAME_MAX];
    int n = 0;
    bool later_join = false;
    for (int i = 0; i < c->npreds && n < ADVICE_INDEX_COLS; i++) {
        const struct apred *q = &c->preds[i];
        if (q->ref != ref || q->kind != AP_EQ || has_col(cols, n, q->col)) {
            continue;
        }
        if (q->other >= 0 &&
            (c->refs[q->other].plan_row < 0 || c->refs[q->other].plan_row >= row)) {
            later_join = true; /* the other table is read after this one */
            continue;
        }
        set_name(cols[n++], q->col);
    }
    int neq = n;
    const char *range = NULL;
    for (int i = 0; i < c->npreds; i++) {
        const struct apred *q = &c->preds[i];
        if (q->ref == ref && q->kind == AP_RANGE && !has_col(cols, n, q->col) &&
            (q->other < 0 ||
             (c->refs[q->other].plan_row >= 0 && c->refs[q->other].plan_row < row))) {
            range = q->col;
            break;
        }
    }
    /* ORDER BY (else GROUP BY) columns, when this is the first table of its SELECT */
    bool first = true;
    for (int i = 0; i < row; i++) {
        first &= strcmp(p->rows[i].col[PLAN_ID], pr->col[PLAN_ID]) != 0;
    }
    char sc[ADVICE_INDEX_COLS][ADVICE_NAME_MAX];
    bool limit = false, group = false;
    int ns = first ? sort_cols(c, ref, "order", sc, ADVICE_INDEX_COLS, &limit) : -1;
    if (first && ns == 0) {
        ns = sort_cols(c, ref, "group", sc, ADVICE_INDEX_COLS, &limit);
        group = ns > 0;
    }
    bool sort_ok = ns > 0 && (n > 0 || range || (limit && !group));
    if (range && sort_ok && strcasecmp(sc[0], range) != 0) {
        sort_ok = false;
    }
    if (range && !(sort_ok && strcasecmp(sc[0], range) == 0) && n < ADVICE_INDEX_COLS) {
        set_name(cols[n++], range);
    }
    for (int i = 0; sort_ok && i < ns && n < ADVICE_INDEX_COLS; i++) {
        if (!has_col(cols, n, sc[i])) {
            set_name(cols[n++], sc[i]);
        }
    }
    if (n == 0) {
        char why[A_OUT_MAX / 2];
        size_t w = 0;
        why[0] = '\0';
        for (int i = 0; i < c->npreds && w < sizeof(why) - 1; i++) {
            const struct apred *q = &c->preds[i];
            if (q->ref != ref || q->kind != AP_BLOCKED || strstr(why, q->why)) {
                continue;
            }
            bool lead = false;
            const struct advice_index *x = index_on(r->meta, q->col, &lead);
            int k = snprintf(why + w, sizeof(why) - w, "%s%s", w ? "; " : "", q->why);
            if (k > 0) {
                w += (size_t)k;
            }
            if (x && w < sizeof(why) - 1) {
                k = snprintf(why + w, sizeof(why) - w,
                             lead ? " (index `%s` exists but cannot be used)"
                                  : " (index `%s` has it, but not as its first column)",
                             x->name);
                w += k > 0 ? (size_t)k : 0;
            }
        }
        if (w >= sizeof(why)) {
            w = sizeof(why) - 1;
        }
        if (w == 0 && later_join && advise_reorder(c, ref, b, prev)) {
            return;
        }
        if (w == 0 && later_join) {
            snprintf(why, sizeof(why),
                     "it is read first and nothing but the join restricts it; an index helps "
                     "the table read after it");
        } else if (w == 0 && ns > 0 && !limit) {
            snprintf(why, sizeof(why),
                     "the statement reads every row (no WHERE condition on it); an index could "
                     "only save the sort");
        } else if (w == 0) {
            snprintf(why, sizeof(why),
                     "no condition on it that an index can use: the statement reads every row");
        }
        advise_none(b, r, why);
        return;
    }
    const struct advice_index *have = covering_index(r->meta, cols, neq > 0 ? neq : n);
    if (have) {
        char why[300];
        snprintf(why, sizeof(why),
                 "index `%s` already starts with these columns; the server estimated a scan "
                 "cheaper (the condition matches many rows)",
                 have->name);
        advise_none(b, r, why);
        return;
    }
    out_alter(b, prev, r, cols, n);
}

static void
advise_row(struct actx *c, const struct plan *p, int row, struct abuf *b)
{
    struct abuf *one = malloc(sizeof(*one));
    if (!one) {
        return;
    }
    one->n = 0;
    one->s[0] = '\0';
    advise_row_into(c, p, row, one, b);
    if (one->n > 0) {
        if (b->n > 0) {
            out_add(b, "%s", "; ");
        }
        out_add(b, "%s", one->s);
    }
    free(one);
}

/* Matches plan rows to table refs: by alias in the SELECT of the row's id, else any. */
static void
match_plan(struct actx *c, const struct plan *p)
{
    for (size_t i = 0; i < p->nrows; i++) {
        const char *tbl = p->rows[i].col[PLAN_TABLE];
        long id = strtol(p->rows[i].col[PLAN_ID], NULL, 10);
        int best = -1;
        for (int r = 0; r < c->nrefs; r++) {
            if (c->refs[r].plan_row >= 0 || strcasecmp(c->refs[r].alias, tbl) != 0) {
                continue;
            }
            if (best < 0 || c->refs[r].block == id) {
                best = r;
            }
        }
        if (best >= 0) {
            c->refs[best].plan_row = (int)i;
        }
    }
}

static void
ctx_setup(struct actx *c, const char *default_db)
{
    memset(c, 0, sizeof(*c));
    c->default_db = default_db ? default_db : "";
}

size_t
advice_tables(const char *sql, size_t len, unsigned sqlmode, const char *default_db,
              struct advice_tname *out, size_t cap)
{
    struct actx *c = malloc(sizeof(*c));
    if (!c) {
        return 0;
    }
    ctx_setup(c, default_db);
    size_t n = 0;
    if (lex_all(c, sql, len, sqlmode)) {
        find_refs(c);
        for (int r = 0; r < c->nrefs && n < cap; r++) {
            bool dup = false;
            for (size_t k = 0; k < n; k++) {
                dup |= strcmp(out[k].db, c->refs[r].db) == 0 &&
                       strcmp(out[k].name, c->refs[r].name) == 0;
            }
            if (!dup) {
                set_name(out[n].db, c->refs[r].db);
                set_name(out[n].name, c->refs[r].name);
                n++;
            }
        }
    }
    free(c->t);
    free(c);
    return n;
}

char *
advice_compute(const char *sql, size_t len, unsigned sqlmode, const char *default_db,
               const struct plan *p, const struct advice_table *const *meta, size_t nmeta)
{
    if (!advice_wanted(p)) {
        return NULL;
    }
    struct actx *c = malloc(sizeof(*c));
    struct abuf *b = malloc(sizeof(*b));
    char *res = NULL;
    if (!c || !b) {
        goto out;
    }
    ctx_setup(c, default_db);
    b->n = 0;
    b->s[0] = '\0';
    if (!lex_all(c, sql, len, sqlmode)) {
        goto out;
    }
    find_refs(c);
    for (int r = 0; r < c->nrefs; r++) {
        for (size_t k = 0; k < nmeta; k++) {
            if (meta[k] && strcasecmp(meta[k]->t.db, c->refs[r].db) == 0 &&
                strcasecmp(meta[k]->t.name, c->refs[r].name) == 0) {
                c->refs[r].meta = meta[k];
            }
        }
    }
    match_plan(c, p);
    find_preds(c);
#ifdef ADVICE_DEBUG
    for (int i = 0; i < c->nrefs; i++)
        fprintf(stderr, "ref %d %s.%s %s blk %d row %d meta %p\n", i, c->refs[i].db,
                c->refs[i].name, c->refs[i].alias, c->refs[i].block, c->refs[i].plan_row,
                (const void *)c->refs[i].meta);
    for (int i = 0; i < c->npreds; i++)
        fprintf(stderr, "pred %d k%d ref %d other %d blk %d %s %s\n", i, c->preds[i].kind,
                c->preds[i].ref, c->preds[i].other, c->preds[i].block, c->preds[i].col,
                c->preds[i].why);
#endif
    for (size_t i = 0; i < p->nrows; i++) {
        if (row_scanned(&p->rows[i])) {
            advise_row(c, p, (int)i, b);
        }
    }
    res = strdup(b->s);
out:
    if (c) {
        free(c->t);
    }
    free(c);
    free(b);
    return res;
}
