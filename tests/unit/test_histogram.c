/*
 * test_histogram.c - the log-linear histogram: buckets contiguous and monotone, index/lo/hi
 * consistent around every power of two, quantiles of known distributions within the stated
 * 6.25% error, merging.
 */
#include <stdlib.h>

#include "check.h"
#include "proxy/account/histogram.h"

static void
test_boundaries(void)
{
    CHECK_EQ_U(hist_bucket_lo(0), 0);
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        uint64_t lo = hist_bucket_lo(i), hi = hist_bucket_hi(i);
        CHECK(lo <= hi);
        CHECK_EQ_U(hist_index(lo), i);
        CHECK_EQ_U(hist_index(hi), i);
        if (i + 1 < HIST_BUCKETS) {
            CHECK_EQ_U(hi + 1, hist_bucket_lo(i + 1)); /* contiguous */
            CHECK(hist_bucket_lo(i + 1) > lo);         /* monotone */
            /* width bound behind the error bound: w <= lo / 8 past the exact range */
            if (i >= HIST_EXACT) {
                CHECK((hi - lo + 1) * HIST_SUB <= lo);
            } else {
                CHECK_EQ_U(lo, hi);
            }
        }
    }
    CHECK_EQ_U(hist_bucket_hi(HIST_BUCKETS - 1), UINT64_MAX);
    CHECK_EQ_U(hist_bucket_lo(HIST_BUCKETS - 1), (uint64_t)15 << (HIST_MAX_POW - 4));
}

static void
test_powers_of_two(void)
{
    for (unsigned p = 0; p < 64; p++) {
        uint64_t v = (uint64_t)1 << p;
        uint64_t cand[] = {v - 1, v, v + 1, v + (v >> 3), v + (v >> 3) - 1, 2 * v - 1};
        for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++) {
            uint64_t x = cand[k];
            unsigned i = hist_index(x);
            CHECK(i < HIST_BUCKETS);
            CHECK(hist_bucket_lo(i) <= x);
            CHECK(x <= hist_bucket_hi(i));
            if (x > 0) {
                CHECK(hist_index(x - 1) <= i); /* monotone in the value */
            }
        }
    }
    CHECK_EQ_U(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
    CHECK_EQ_U(hist_index(((uint64_t)1 << HIST_MAX_POW) - 1), HIST_BUCKETS - 1);
    CHECK_EQ_U(hist_index(15), 15);
    CHECK_EQ_U(hist_index(16), 16);
    CHECK_EQ_U(hist_index(17), 16); /* [16,18) */
    CHECK_EQ_U(hist_index(18), 17);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* True value at quantile q of sorted v[0..n): the ceil(q*n)-th smallest. */
static uint64_t
true_quantile(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999999);
    if (rank < 1) {
        rank = 1;
    }
    return v[rank - 1];
}

static void
check_dist(uint64_t *v, size_t n)
{
    struct hist h = {0};
    for (size_t i = 0; i < n; i++) {
        hist_add(&h, v[i]);
    }
    CHECK_EQ_U(hist_count(&h), n);
    qsort(v, n, sizeof v[0], cmp_u64);
    const double qs[] = {0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        double t = (double)true_quantile(v, n, qs[k]);
        double got = (double)hist_quantile(&h, qs[k]);
        double err = got > t ? got - t : t - got;
        if (err > t * 0.0625) {
            fprintf(stderr, "q=%g true=%.0f got=%.0f\n", qs[k], t, got);
        }
        CHECK(err <= t * 0.0625);
    }
}

static uint64_t rng = 88172645463325252ull;

static uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void
test_quantiles(void)
{
    enum { N = 100000 };
    static uint64_t v[N];

    /* constant */
    for (size_t i = 0; i < N; i++) {
        v[i] = 1234;
    }
    check_dist(v, N);
    /* uniform 0..1e6 us */
    for (size_t i = 0; i < N; i++) {
        v[i] = xorshift() % 1000000;
    }
    check_dist(v, N);
    /* log-uniform 1 us .. 2^30 us */
    for (size_t i = 0; i < N; i++) {
        unsigned p = (unsigned)(xorshift() % 30);
        v[i] = ((uint64_t)1 << p) + xorshift() % ((uint64_t)1 << p);
    }
    check_dist(v, N);
    /* bimodal: 99% fast (~200 us), 1% slow (~2 s) */
    for (size_t i = 0; i < N; i++) {
        v[i] = (i % 100 == 0) ? 2000000 + xorshift() % 100000 : 150 + xorshift() % 100;
    }
    check_dist(v, N);
    /* tiny n */
    v[0] = 5;
    check_dist(v, 1);

    /* exact values below 16 us */
    struct hist h = {0};
    for (uint64_t x = 1; x <= 10; x++) {
        hist_add(&h, x);
    }
    CHECK_EQ_U(hist_quantile(&h, 0.5), 5);
    CHECK_EQ_U(hist_quantile(&h, 1.0), 10);
    CHECK_EQ_U(hist_quantile(&h, 0.1), 1);

    struct hist empty = {0};
    CHECK_EQ_U(hist_quantile(&empty, 0.5), 0);
}

static void
test_merge(void)
{
    struct hist a = {0}, b = {0};
    for (uint64_t x = 0; x < 1000; x++) {
        hist_add(&a, x);
        hist_add(&b, x * 1000);
    }
    hist_merge(&a, &b);
    CHECK_EQ_U(hist_count(&a), 2000);
    CHECK_EQ_U(a.b[hist_index(999000)], b.b[hist_index(999000)]);
    /* the median of the merged set is between 999 and 1000 */
    uint64_t med = hist_quantile(&a, 0.5);
    CHECK(med >= 936 && med <= 1063);
}

int
main(void)
{
    test_boundaries();
    test_powers_of_two();
    test_quantiles();
    test_merge();
    return check_exit();
}
