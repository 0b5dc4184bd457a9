/*
 * proto_redact.h - literal redaction over the one SQL lexer: every string, number, hex and bit
 * literal for which a caller's predicate says yes is written as `?`. The predicate (pcre2
 * patterns in proxy/account/filter.c, "everything" in the tests) is the caller's; the lexing is here.
 *
 * Pure, allocation-free.
 */
#ifndef SLOWTAP_PROTO_REDACT_H
#define SLOWTAP_PROTO_REDACT_H

#include "protocol/proto.h"

/* True when the literal whose content is content[0..len) is to be hidden. The content is the
 * raw text between the quotes ('it''s' gives `it''s`: escapes are not decoded; an
 * unterminated string gives everything after its quote), or the whole token for numbers and
 * 0x.. / 0b.. literals. */
typedef bool (*proto_redact_pred)(void *ctx, const char *content, size_t len);

/*
 * Writes sql[0..len), lexed under `sqlmode` (PROTO_SQLMODE_*), into out (capacity cap,
 * NUL-terminated when cap > 0, cut to fit) with each literal the predicate accepts replaced by
 * `?`. Returns the length written (< cap; 0 when cap is 0).
 *
 * Literals are the lexer's: '..' and ".." strings (not ".." under ANSI_QUOTES: an
 * identifier), N'..' (replaced with its N), _charset'..' (the introducer is kept:
 * `_utf8mb4?`), X'..', B'..', 0x.., 0b.. and numbers not glued to an identifier (t1 and 1abc
 * are names). A sign stays outside (`-5` gives `-?`). Literals inside executable comments are
 * code and redacted; so are literals inside optimizer hints. Identifiers (backticks included),
 * ordinary comments, placeholders and everything else are copied byte for byte, so the
 * output has the input's fingerprint (proto_fingerprint_mode with the same sqlmode).
 */
size_t proto_redact(const char *sql, size_t len, unsigned sqlmode, proto_redact_pred pred,
                    void *ctx, char *out, size_t cap);

#endif
