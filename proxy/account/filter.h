/*
 * filter.h - pcre2 statement filters and redaction, compiled once at start (JIT where
 * available): --include/--exclude decide which statements are logged and explained;
 * --redact replaces matching string and number literals with `?` in everything slowtap shows;
 * --redact-all shows fingerprints only.
 *
 * Thread-safe after filter_new: each calling thread uses its own match data (thread-local).
 */
#ifndef SLOWTAP_FILTER_H
#define SLOWTAP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/conf.h"

struct filter;

/* Compiles the patterns of `c`. On a bad pattern prints one line naming the pattern and the
 * offset where pcre2 failed to `err` and returns NULL with *bad = true. With no patterns and
 * no --redact-all returns NULL with *bad = false (a NULL filter passes everything). */
struct filter *filter_new(const struct conf *c, FILE *err, bool *bad);
void filter_free(struct filter *f);

/* True when the statement is to be logged and explained: matches some --include (or there is
 * none) and no --exclude. NULL filter: true. */
bool filter_wants(const struct filter *f, const char *sql, size_t len);

/* True when redaction is configured (so callers know whether to call filter_redact). */
bool filter_redacts(const struct filter *f);

/*
 * Writes `sql` with every literal whose content matches a --redact pattern replaced by `?`
 * into out (capacity cap, NUL-terminated, cut to fit); with --redact-all writes the
 * statement's fingerprint. Returns the length written (0 when cap is 0). NULL filter: copies.
 *
 * Literals are those of protocol/proto_redact.h (the one SQL lexer): '...' and "..." strings,
 * N'..', _charset'..' (introducer kept), X'..', B'..', 0x.., 0b.. and numbers (123, 1.5, .5,
 * 1e-3) not glued to an identifier, also inside executable comments and optimizer hints. A
 * pattern is matched (unanchored) against the literal's raw content (between the quotes,
 * escapes not decoded; the whole number); the whole literal becomes `?`. Backquoted
 * identifiers and ordinary comments are copied unchanged. The text is lexed with sql_mode 0.
 */
size_t filter_redact(const struct filter *f, const char *sql, size_t len, char *out, size_t cap);

/* True when a value that is not SQL text (a comment tag's value) must be hidden: --redact-all,
 * or a --redact pattern matches it. NULL filter: false. */
bool filter_hides_value(const struct filter *f, const char *s, size_t len);

/* filter_redact for text lexed under the session's `sqlmode` (PROTO_SQLMODE_*). */
size_t filter_redact_mode(const struct filter *f, const char *sql, size_t len, unsigned sqlmode,
                          char *out, size_t cap);

/*
 * What the server says (an error message, a warning's text, an EXPLAIN error) with --redact
 * applied, into out (capacity cap, NUL-terminated, cut to fit); returns the length written.
 * Server messages are not SQL: every quoted part ('...', "...") whose content a --redact
 * pattern matches becomes `?` (as a literal in a statement would), and then every match of a
 * pattern anywhere in the text becomes `?` (a SIGNAL's MESSAGE_TEXT carries no quotes). With
 * --redact-all every quoted part and every number becomes `?`. NULL filter, or no redaction:
 * copies.
 */
size_t filter_redact_message(const struct filter *f, const char *msg, size_t len, char *out,
                             size_t cap);

#endif
