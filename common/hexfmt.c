/*
 * hexfmt.c - a 64-bit digest as 16 lowercase hex digits, and back (hexfmt.h).
 */
#include "common/hexfmt.h"

void
hexfmt_u64(uint64_t v, char out[HEXFMT_U64_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = HEXFMT_U64_LEN - 2; i >= 0; i -= 2) { /* a byte (two digits) at a time */
        unsigned b = (unsigned)(v & 0xff);
        out[i] = digits[b >> 4];
        out[i + 1] = digits[b & 0xf];
        v >>= 8;
    }
    out[HEXFMT_U64_LEN] = '\0';
}

int
hexfmt_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool
hexfmt_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < HEXFMT_U64_LEN; i++) {
        int d = hexfmt_digit((unsigned char)s[i]);
        if (d < 0) {
            return false; /* also the NUL of a shorter string */
        }
        v = v << 4 | (unsigned)d;
    }
    if (s[HEXFMT_U64_LEN] != '\0') {
        return false;
    }
    *out = v;
    return true;
}
