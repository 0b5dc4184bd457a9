/*
 * histogram.c - the log-linear latency histogram: one bucket per value below 16 us, then 8
 * equal-width sub-buckets per power of two. Bucket i >= 16 covers [lo, lo + w) with
 * w = lo / (8 + sub) <= lo / 8, so the midpoint is within w / 2 <= lo / 16 (6.25%) of any value
 * in the bucket.
 */
#include "proxy/account/histogram.h"

#include <math.h>

unsigned
hist_index(uint64_t us)
{
    if (us < HIST_EXACT) {
        return (unsigned)us;
    }
    unsigned p = 63u - (unsigned)__builtin_clzll(us); /* 2^p <= us < 2^(p+1), p >= 4 */
    if (p >= HIST_MAX_POW) {
        return HIST_BUCKETS - 1;
    }
    unsigned sub = (unsigned)(us >> (p - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return HIST_EXACT + (p - 4u) * HIST_SUB + sub;
}

uint64_t
hist_bucket_lo(unsigned i)
{
    if (i < HIST_EXACT) {
        return i;
    }
    if (i >= HIST_BUCKETS) {
        i = HIST_BUCKETS - 1;
    }
    unsigned p = 4u + (i - HIST_EXACT) / HIST_SUB;
    unsigned sub = (i - HIST_EXACT) % HIST_SUB;
    return (uint64_t)(HIST_SUB + sub) << (p - HIST_SUB_BITS);
}

/* The last bucket also takes every value past 2^37 us; its upper bound is then UINT64_MAX. */
uint64_t
hist_bucket_hi(unsigned i)
{
    if (i + 1 >= HIST_BUCKETS) {
        return UINT64_MAX;
    }
    return hist_bucket_lo(i + 1) - 1;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        dst->b[i] += src->b[i];
    }
}

uint64_t
hist_count(const struct hist *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        n += h->b[i];
    }
    return n;
}

/* Midpoint of bucket i; the last bucket reports the midpoint of its nominal range. */
static uint64_t
hist_mid(unsigned i)
{
    uint64_t lo = hist_bucket_lo(i);
    uint64_t hi = i + 1 >= HIST_BUCKETS ? ((uint64_t)1 << HIST_MAX_POW) - 1 : hist_bucket_hi(i);
    return lo + (hi - lo) / 2;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
    uint64_t n = hist_count(h);
    if (n == 0) {
        return 0;
    }
    if (!(q > 0.0)) {
        q = 0.0;
    }
    if (q > 1.0) {
        q = 1.0;
    }
    /* The rank of the sample holding the quantile: the ceil(q * n)-th smallest, at least 1. */
    uint64_t rank = (uint64_t)ceil(q * (double)n);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            return hist_mid(i);
        }
    }
    return hist_mid(HIST_BUCKETS - 1);
}
