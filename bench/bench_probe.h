/*
 * bench_probe - the memory-read loop of the bandwidth probes of qwq-bench
 * and qwq-bench-kernels (one definition, so both measure the same thing).
 *
 * A plain streaming read: eight independent 16-byte accumulators (so the
 * loop is never bound by an add chain) and a non-temporal software prefetch
 * 4 KiB ahead, as the decode kernels do; on the development VM the
 * prefetch adds 3-5% to the plain loop. The probe is meant as an upper
 * bound of what a streaming kernel can read, so it gets every help the
 * kernels get (bench/README.md).
 */
#ifndef QWQ_BENCH_PROBE_H
#define QWQ_BENCH_PROBE_H

#include <stdint.h>

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
