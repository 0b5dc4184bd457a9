/*
 * hexfmt.h - the one way slowtap writes and reads a statement digest (or any 64-bit id) as
 * text: exactly 16 lowercase hex digits, zero-padded ("5d1c0e3f2a9b8c7d"). Used by the slow
 * log, the explain log, the HTTP API, /metrics and the report. Pure code, no I/O.
 */
#ifndef SLOWTAP_HEXFMT_H
#define SLOWTAP_HEXFMT_H

#include <stdbool.h>
#include <stdint.h>

#define HEXFMT_U64_LEN 16 /* digits, without the NUL */

/* The value of one hex digit (either case), or -1 when c is none. */
int hexfmt_digit(int c);

/* Writes v as 16 lowercase hex digits and a NUL into out. */
void hexfmt_u64(uint64_t v, char out[HEXFMT_U64_LEN + 1]);

/* Reads exactly 16 hex digits (either case) ending at a NUL; false (and *out untouched) for
 * anything else: shorter, longer, a sign, spaces, "0x". */
bool hexfmt_parse_u64(const char *s, uint64_t *out);

#endif
