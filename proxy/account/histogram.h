/*
 * histogram.h - a log-linear latency histogram of fixed size: exact buckets below 16 us, then
 * 8 linear sub-buckets per power of two up to 2^37 us (about 38 hours). A percentile read from
 * it is within 6.25% of the true value (the bucket midpoint is reported), whatever the number
 * of samples. No allocation; merging is adding.
 */
#ifndef SLOWTAP_HISTOGRAM_H
#define SLOWTAP_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB      (1u << HIST_SUB_BITS) /* sub-buckets per power of two */
#define HIST_EXACT    16u                   /* values below this have a bucket each */
#define HIST_MAX_POW  37u
#define HIST_BUCKETS  (HIST_EXACT + (HIST_MAX_POW - 4u) * HIST_SUB)

struct hist {
    uint32_t b[HIST_BUCKETS];
};

/* Index of the bucket for value `us` (values past the range go to the last bucket). */
unsigned hist_index(uint64_t us);
/* Smallest and largest value (inclusive) that land in bucket i. */
uint64_t hist_bucket_lo(unsigned i);
uint64_t hist_bucket_hi(unsigned i);

static inline void
hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
}

void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_count(const struct hist *h);
/* Value at quantile q (0 < q <= 1): the midpoint of the bucket holding it; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
