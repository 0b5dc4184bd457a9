/*
 * fuzz_sqllex.c - libFuzzer target (and property test, linked into tests/unit/test_sqllex.c)
 * for protocol/proto_sqllex and the readers built on it. Input: byte 0 selects the sql_mode
 * (bit 0 NO_BACKSLASH_ESCAPES, bit 1 ANSI_QUOTES) and the literals used for substitution; the
 * rest is the statement. Invariants (abort on failure; fuzz_sqllex_check reports instead):
 *   - the tokens cover the text exactly, in order, each inside it, bodies inside tokens;
 *   - (a) redaction with a predicate that matches every literal leaves no literal in the
 *     output (re-lexed, hint bodies included), and the output is never longer;
 *   - (b) the fingerprint of a redacted statement (every literal, or every other one) equals
 *     the statement's fingerprint, and so do its kind and digest;
 *   - (c) substituting well-formed literals for N placeholders yields a statement whose
 *     fingerprint is the prepared statement's, when every placeholder stands apart from its
 *     neighbours (a separator or whitespace on each side: `a?` would glue into one word);
 *   - proto_stmt_analyze agrees with the separate functions;
 *   - (d) proto_sqlmode_from_set leaves the mode untouched when it returns false; when true,
 *     a known mode list is a NUL-terminated piece of the statement and ANSI_QUOTES is set
 *     exactly when that list names it;
 *   - (e) a variant with some digit runs rewritten (other digits, other lengths) that has the
 *     same proto_fp_skeleton as the statement has the same fingerprint, digest and kind, and
 *     a statement's skeleton is its skeleton's too;
 *   - (f) proto_tmptab_parse reports NONE with no names, or 1..PROTO_TMPTAB_STMT_MAX names of
 *     1..PROTO_TMPTAB_NAME_MAX bytes, and proto_tmptab_named finds each in the statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"
#include "protocol/proto_redact.h"
#include "protocol/proto_sqllex.h"
#include "protocol/proto_sqlmode.h"
#include "protocol/proto_stmt.h"
#include "protocol/proto_tmptab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_sqllex_check(const char *sql, size_t len, unsigned mode, unsigned pick);

#define SQLLEX_MAX_PARAMS 64

static bool
pred_all(void *ctx, const char *content, size_t len)
{
    (void)ctx;
    (void)content;
    (void)len;
    return true;
}

static bool
pred_every_other(void *ctx, const char *content, size_t len)
{
    unsigned *n = ctx;
    (void)content;
    (void)len;
    return (*n)++ % 2 == 0;
}

/* (f): the temporary-table names of a CREATE or DROP, and that they are found again. */
static const char *
check_tmptab(const char *sql, size_t len, unsigned mode)
{
    struct proto_tmptab_stmt st;
    proto_tmptab_parse(sql, len, mode, &st);
    if (st.op == PROTO_TMPTAB_NONE) {
        return st.n || st.more ? "(f) names reported for no CREATE or DROP" : NULL;
    }
    if (st.n > PROTO_TMPTAB_STMT_MAX || (st.op == PROTO_TMPTAB_CREATE && st.n != 1)) {
        return "(f) wrong number of names";
    }
    for (unsigned i = 0; i < st.n; i++) {
        size_t n = strnlen(st.names[i], sizeof st.names[i]);
        if (n == 0 || n > PROTO_TMPTAB_NAME_MAX) {
            return "(f) a name empty or too long";
        }
        const char(*one)[PROTO_TMPTAB_NAME_MAX + 1] =
            (const char(*)[PROTO_TMPTAB_NAME_MAX + 1]) st.names[i];
        if (proto_tmptab_named(sql, len, mode, one, 1) != 1) {
            return "(f) a name the statement creates or drops is not found in it";
        }
    }
    return NULL;
}

/* (e): equal skeletons, equal analyses (proto_fingerprint.h). `pick` chooses which digit
 * runs change and into what. */
static const char *
check_skeleton(const char *sql, size_t len, unsigned mode, unsigned pick)
{
    static const char *const repl[] = {"7", "0", "12345", "99", "3000000000", "1"};
    const char *why = NULL;
    size_t cap = 2 * len + 16;
    char *var = malloc(len * 10 + 16), *sk1 = malloc(cap), *sk2 = malloc(cap);
    char *fp1 = malloc(len * 2 + 16), *fp2 = malloc(len * 2 + 16);
    size_t n = 0, run = 0;
    for (size_t i = 0; i < len;) {
        if (sql[i] >= '0' && sql[i] <= '9') {
            size_t j = i;
            while (j < len && sql[j] >= '0' && sql[j] <= '9') {
                j++;
            }
            unsigned p = (pick >> (run % 8)) + (unsigned)run;
            if (p & 1) {
                const char *r = repl[(p >> 1) % (sizeof repl / sizeof repl[0])];
                memcpy(var + n, r, strlen(r));
                n += strlen(r);
            } else {
                memcpy(var + n, sql + i, j - i);
                n += j - i;
            }
            run++;
            i = j;
        } else {
            var[n++] = sql[i++];
        }
    }
    size_t k1 = proto_fp_skeleton(sql, len, mode, sk1, cap);
    size_t k2 = proto_fp_skeleton(var, n, mode, sk2, cap);
    if (k1 != PROTO_FP_SKELETON_NONE) {
        char *sk3 = malloc(cap);
        size_t k3 = proto_fp_skeleton(sk1, k1, mode, sk3, cap);
        if (k3 != k1 || memcmp(sk1, sk3, k1) != 0) {
            why = "(e) a skeleton is not its own skeleton";
        }
        free(sk3);
    }
    if (!why && k1 != PROTO_FP_SKELETON_NONE && k1 == k2 && memcmp(sk1, sk2, k1) == 0) {
        struct proto_stmt_info a, b;
        char db1[64], db2[64];
        proto_stmt_analyze(sql, len, mode, fp1, len * 2 + 16, db1, sizeof db1, &a);
        proto_stmt_analyze(var, n, mode, fp2, len * 2 + 16, db2, sizeof db2, &b);
        if (a.digest != b.digest || a.kind != b.kind || strcmp(fp1, fp2) != 0 ||
            a.schema_changed != b.schema_changed) {
            why = "(e) equal skeletons, different fingerprints";
        }
    }
    free(var);
    free(sk1);
    free(sk2);
    free(fp1);
    free(fp2);
    return why;
}

/* (d): what a SET of sql_mode tells (proto_sqlmode.h). */
static const char *
check_sqlmode(const char *sql, size_t len, unsigned mode)
{
    struct proto_sqlmode m, before;
    memset(&m, 0x5a, sizeof m);
    m.flags = mode;
    before = m;
    if (!proto_sqlmode_from_set(sql, len, &m)) {
        return memcmp(&m, &before, sizeof m) == 0 ? NULL : "(d) sqlmode changed on false";
    }
    if (!m.changed || (m.flags & ~(unsigned)PROTO_SQLMODE_ANSI_QUOTES) !=
                          (mode & ~(unsigned)PROTO_SQLMODE_ANSI_QUOTES)) {
        return "(d) sqlmode: changed unset or other flags touched";
    }
    size_t n = strnlen(m.text, sizeof m.text);
    if (n == sizeof m.text || (!m.text_known && n)) {
        return "(d) sqlmode text not terminated, or set while unknown";
    }
    if (m.text_known && n && !memmem(sql, len, m.text, n)) {
        return "(d) sqlmode text is not from the statement";
    }
    if (m.text_known &&
        proto_sqlmode_list_has_ansi_quotes(m.text, n) != !!(m.flags & PROTO_SQLMODE_ANSI_QUOTES)) {
        return "(d) sqlmode ANSI_QUOTES disagrees with the list";
    }
    return NULL;
}

/* Lexer invariants; the number of top-level `?` placeholders in *nparams. */
static const char *
check_tokens(const char *sql, size_t len, unsigned mode, size_t *nparams)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, mode);
    size_t pos = 0;
    *nparams = 0;
    for (;;) {
        proto_sqllex_next(&lx, &t);
        if (t.start != pos) {
            return "token does not start where the last one ended";
        }
        if (t.kind == PROTO_TOK_END) {
            return t.start == len ? NULL : "END before the end";
        }
        if (t.end <= t.start || t.end > len) {
            return "empty token or token past the end";
        }
        if (t.body_start < t.start || t.body_end > t.end || t.body_start > t.body_end) {
            return "body outside its token";
        }
        if ((t.kind == PROTO_TOK_UNTERMINATED) != (t.open != t.kind) || t.end - t.start > len) {
            return "open/kind mismatch";
        }
        if (t.kind == PROTO_TOK_UNTERMINATED && t.end != len) {
            return "unterminated token before the end";
        }
        *nparams += t.kind == PROTO_TOK_PARAM;
        pos = t.end;
    }
}

/* A literal token left in s[0..len) (hint bodies lexed too)? */
static bool
has_literal(const char *s, size_t len, unsigned mode, int depth)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, s, len, mode);
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
        if (proto_sqltok_literal(&t)) {
            return true;
        }
        if (t.open == PROTO_TOK_HINT && depth < 8 &&
            has_literal(s + t.body_start, t.body_end - t.body_start, mode, depth + 1)) {
            return true;
        }
    }
    return false;
}

static bool
is_sep(unsigned char c, bool before)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        return true;
    }
    /* Not '!' before (slash-star-! takes digits), not '.', quotes or identifier bytes. */
    return strchr(before ? "(,=<>+-*/%|&^~;" : "),;=<>+-*/%|&^~!", c) != NULL && c != 0;
}

/* (c): every placeholder apart from its neighbours -> the substituted text keeps the
 * prepared statement's fingerprint. */
static const char *
check_substitute(const char *sql, size_t len, unsigned mode, unsigned pick, size_t nparams,
                 uint64_t digest)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    /* A negative literal after an operand would read as a subtraction (`a ?` -> `a -5`):
     * such placeholders get a positive one. */
    bool after_op[SQLLEX_MAX_PARAMS];
    bool operand = false;
    size_t k = 0;
    if (nparams > SQLLEX_MAX_PARAMS) {
        return NULL;
    }
    proto_sqllex_init(&lx, sql, len, mode);
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
        if (t.kind == PROTO_TOK_PARAM &&
            ((t.start > 0 && !is_sep((unsigned char)sql[t.start - 1], true)) ||
             (t.end < len && !is_sep((unsigned char)sql[t.end], false)) ||
             /* `1e-?` with 5 reads as the number 1e-5 */
             (t.start > 1 && (sql[t.start - 1] == '-' || sql[t.start - 1] == '+') &&
              !is_sep((unsigned char)sql[t.start - 2], true)))) {
            return NULL; /* glued: the property does not apply */
        }
        if (t.kind == PROTO_TOK_PARAM) {
            after_op[k++] = !operand;
        }
        if (!proto_sqltok_blank(&t)) {
            operand = t.kind != PROTO_TOK_OP || proto_sqltok_op_is(&lx, &t, ")");
        }
    }
    static const uint8_t raw[][8] = {"it's", "a\\b\"", "x", ""};
    static const size_t raw_len[] = {4, 4, 1, 0};
    static const char *const fixed[] = {"1", "-5", "1.5e-3", "0x1F", "X'00ff'", ".5"};
    char store[SQLLEX_MAX_PARAMS][24];
    const char *lits[SQLLEX_MAX_PARAMS];
    size_t lens[SQLLEX_MAX_PARAMS];
    for (size_t i = 0; i < nparams; i++) {
        k = (pick + (unsigned)i * 7u) % 10u;
        if (k == 1 && !after_op[i]) {
            k = 0;
        }
        if (k < 6) {
            lits[i] = fixed[k];
            lens[i] = strlen(fixed[k]);
        } else {
            lens[i] = proto_sql_quote(raw[k - 6], raw_len[k - 6], mode, store[i], sizeof store[i]);
            lits[i] = store[i];
        }
    }
    size_t need = proto_substitute(sql, len, mode, lits, lens, (unsigned)nparams, NULL, 0);
    char *sub = malloc(need + 1);
    if (!sub) {
        return NULL;
    }
    proto_substitute(sql, len, mode, lits, lens, (unsigned)nparams, sub, need + 1);
    uint64_t d = proto_fingerprint_mode(sub, need, mode, NULL, 0);
    free(sub);
    return d == digest ? NULL : "(c) substitution changed the fingerprint";
}

const char *
fuzz_sqllex_check(const char *sql, size_t len, unsigned mode, unsigned pick)
{
    size_t nparams;
    const char *why = check_tokens(sql, len, mode, &nparams);
    if (why) {
        return why;
    }
    size_t cap = 2 * len + 16;
    char *fp = malloc(cap), *fp2 = malloc(cap), *red = malloc(len + 1), *db = malloc(len + 1);
    if (!fp || !fp2 || !red || !db) {
        free(fp);
        free(fp2);
        free(red);
        free(db);
        return NULL;
    }
    uint64_t digest = proto_fingerprint_mode(sql, len, mode, fp, cap);
    enum proto_stmt_kind kind = proto_stmt_classify_mode(sql, len, mode);

    /* analyze == the separate readers */
    struct proto_stmt_info info;
    proto_stmt_analyze(sql, len, mode, fp2, cap, db, len + 1, &info);
    char *db2 = red; /* reused as scratch */
    bool use = proto_stmt_use_schema_mode(sql, len, mode, db2, len + 1);
    if (info.digest != digest || info.kind != kind || strcmp(fp, fp2) != 0 ||
        info.schema_changed != use || (use && strcmp(db, db2) != 0)) {
        why = "proto_stmt_analyze disagrees with the separate functions";
        goto out;
    }

    /* (a) and (b) with every literal */
    size_t n = proto_redact(sql, len, mode, pred_all, NULL, red, len + 1);
    if (n > len || red[n] != '\0') {
        why = "redacted output longer than the input";
        goto out;
    }
    if (has_literal(red, n, mode, 0)) {
        why = "(a) a literal survived redaction";
        goto out;
    }
    if (proto_fingerprint_mode(red, n, mode, fp2, cap) != digest || strcmp(fp, fp2) != 0) {
        why = "(b) fingerprint(redacted) != fingerprint(original)";
        goto out;
    }
    if (proto_stmt_classify_mode(red, n, mode) != kind) {
        why = "(b) redaction changed the statement kind";
        goto out;
    }
    /* (b) with every other literal */
    unsigned count = 0;
    n = proto_redact(sql, len, mode, pred_every_other, &count, red, len + 1);
    if (proto_fingerprint_mode(red, n, mode, NULL, 0) != digest) {
        why = "(b) fingerprint(partly redacted) != fingerprint(original)";
        goto out;
    }
    why = check_sqlmode(sql, len, mode);
    if (!why) {
        why = check_skeleton(sql, len, mode, pick);
    }
    if (!why) {
        why = check_tmptab(sql, len, mode);
    }
    if (!why) {
        why = check_substitute(sql, len, mode, pick, nparams, digest);
    }
out:
    free(fp);
    free(fp2);
    free(red);
    free(db);
    return why;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *why =
        fuzz_sqllex_check((const char *)data + 1, size - 1, data[0] & 3, data[0] >> 2);
    if (why) {
        fprintf(stderr, "fuzz_sqllex: %s (mode %u): %.*s\n", why, data[0] & 3u, (int)(size - 1),
                (const char *)data + 1);
        abort();
    }
    return 0;
}
