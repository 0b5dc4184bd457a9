/*
 * hexfmt.c - a 64-bit digest as 16 lowercase hex digits, and back (hexfmt.h).
 */
#include "common/hexfmt.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The 8 hex digits of x as the 8 bytes of a little-endian word, the first digit in its lowest
 * byte: each nibble spread to a byte of its own (nibble i in byte i), turned into '0'..'9' or
 * 'a'..'f' in all bytes at once, and the byte order reversed. */
static uint64_t
hexfmt_word(uint32_t x)
{
    uint64_t v = x;
    v = (v | (v << 16)) & 0x0000ffff0000ffffull;
    v = (v | (v << 8)) & 0x00ff00ff00ff00ffull;
    v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0full;
    /* 1 in each byte whose nibble is 10 or more (no byte carries into the next) */
    uint64_t letters = ((v + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    v += 0x3030303030303030ull + letters * (uint64_t)('a' - '0' - 10);
    return __builtin_bswap64(v);
}

void
hexfmt_u64(uint64_t v, char out[HEXFMT_U64_LEN + 1])
{
    uint64_t hi = hexfmt_word((uint32_t)(v >> 32)), lo = hexfmt_word((uint32_t)v);
    memcpy(out, &hi, 8);
    memcpy(out + 8, &lo, 8);
    out[HEXFMT_U64_LEN] = '\0';
}
#else
/* "00" to "ff": a byte's two digits */
static const char hexfmt_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void
hexfmt_u64(uint64_t v, char out[HEXFMT_U64_LEN + 1])
{
    for (int i = HEXFMT_U64_LEN - 2; i >= 0; i -= 2) { /* a byte (two digits) at a time */
        memcpy(out + i, hexfmt_pairs + 2 * (v & 0xff), 2);
        v >>= 8;
    }
    out[HEXFMT_U64_LEN] = '\0';
}
#endif

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
