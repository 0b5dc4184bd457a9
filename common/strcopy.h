/*
 * strcopy.h - the one bounded string copy into a fixed-size field (user names, hosts, schemas,
 * statement excerpts kept in tables): never more than cap-1 bytes, never a UTF-8 sequence cut
 * in half, always NUL-terminated. Pure code.
 */
#ifndef SLOWTAP_STRCOPY_H
#define SLOWTAP_STRCOPY_H

#include <stddef.h>

/* Copies at most cap-1 of the len bytes at src (src NULL: the empty string) into dst (cap > 0),
 * stepping back to the start of a UTF-8 sequence the limit would cut, and NUL-terminates.
 * Returns the bytes copied. */
size_t strcopy(char *dst, size_t cap, const char *src, size_t len);

/* The same for a NUL-terminated src. */
size_t strcopy_z(char *dst, size_t cap, const char *src);

#endif
