/*
 * bench_common - what qwq-bench and qwq-bench-kernels share: the clock,
 * medians and ranges, the seeded generator, and the memory-read loop of
 * their bandwidth probes (one definition, so both measure the same thing).
 *
 * The probe loop is a plain streaming read: eight independent 16-byte accumulators (so the
 * loop is never bound by an add chain) and a non-temporal software prefetch
 * 4 KiB ahead, as the decode kernels do; on the development VM the
 * prefetch adds 3-5% to the plain loop. The probe is meant as an upper
 * bound of what a streaming kernel can read, so it gets every help the
 * kernels get (bench/README.md).
 */
#ifndef QWQ_BENCH_COMMON_H
#define QWQ_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double med, min, max;
    int n;
} stats;

/* median and range of v[0..n) (v is left sorted) */
static inline stats summarize(double *v, int n) {
    stats s = {0, 0, 0, n};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef uint64_t bench_v2u64 __attribute__((vector_size(16)));

/* Reads [p, end) (64-byte multiples) and returns a checksum of it, which the
 * caller must keep so that the reads are not optimised away. */
static inline uint64_t bench_read_stream(const uint8_t *p, const uint8_t *end) {
    bench_v2u64 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (const bench_v2u64 *v = (const bench_v2u64 *)p; v < (const bench_v2u64 *)end; v += 8) {
        /* a prefetch past the end is harmless: it never faults */
        __builtin_prefetch((const char *)v + 4096, 0, 0);
        __builtin_prefetch((const char *)v + 4096 + 64, 0, 0);
        a0 += v[0];
        a1 += v[1];
        a2 += v[2];
        a3 += v[3];
        a4 += v[4];
        a5 += v[5];
        a6 += v[6];
        a7 += v[7];
    }
    bench_v2u64 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return s[0] ^ s[1];
}

#endif
