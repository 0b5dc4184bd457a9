/*
 * strcopy.c - bounded copies into fixed-size fields (see strcopy.h).
 */
#include "common/strcopy.h"

#include <string.h>

size_t
strcopy(char *dst, size_t cap, const char *src, size_t len)
{
    if (!src) {
        len = 0;
    }
    if (len > cap - 1) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80) {
            len--; /* src[len] continues a sequence: cut before its lead byte */
        }
    }
    if (len) {
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
    return len;
}

size_t
strcopy_z(char *dst, size_t cap, const char *src)
{
    return strcopy(dst, cap, src, src ? strnlen(src, cap) : 0);
}
